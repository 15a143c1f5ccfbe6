/*
 * main.c - the mailpull command: argument parsing and output only. The
 * work is in store/, fetch/ and deliver/.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "deliver/target.h"
#include "fetch/pass.h"
#include "store/account_valid.h"
#include "store/status.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#include "cli/account_check.h"
#include "cli/account_oauth.h"
#include "cli/account_route.h"
#include "cli/account_filter.h"
#include "cli/cli.h"

#define PASSWORD_MAX 4096

static const char usage_account[] =
"usage: mailpull account add ID --protocol pop3|imap --host HOST [--port N]\n"
"         [--security tls|starttls|none] [--no-verify] [--ca-file F]\n"
"         --user NAME (--password-file F | --password-env VAR |\n"
"         password on stdin)\n"
"         [--deliver-to LOCAL[,LOCAL...]|@GROUP] [--target URI]\n"
"         [--multidrop --domains D[,D...] [--envelope-header NAME]...\n"
"         [--rule 'PATTERN > DEST']... [--postmaster LOCAL]]\n"
"         [--reroute-unknown yes|no|default]\n"
"         [--delete | --keep | --keep-days N] [--max-per-pass N]\n"
"         [--timeout SECONDS] [--folder NAME]... [--only-unseen]\n"
"         [--mark-seen] [--disabled]\n"
ACCOUNT_OAUTH_USAGE
"       mailpull account edit ID [same options] [--password-stdin]\n"
"       mailpull account list [--json] | show ID | delete ID |\n"
"         enable ID | disable ID\n"
"       mailpull account authorize ID [--device] [--no-browser]\n"
"       mailpull account check [ID...]\n"
"\n"
"  --protocol P       pop3 or imap\n"
"  --host HOST        server host name or address\n"
"  --port N           default: 995 pop3/tls, 110 pop3, 993 imap/tls,\n"
"                     143 imap\n"
"  --security S       tls (default, implicit TLS), starttls (STLS/\n"
"                     STARTTLS, required), none (clear text)\n"
"  --no-verify        do not verify the server certificate (visible in\n"
"                     show and every run log); --verify turns it back on\n"
"  --ca-file F        trust the CA certificates in F (PEM) as well\n"
"  --user NAME        login name at the server\n"
"  --password-file F  read the password from F (first line)\n"
"  --password-env V   read the password from environment variable V\n"
"                     (default for add: read it from standard input)\n"
"  --deliver-to L     local recipients, comma-separated, or @GROUP; a bare\n"
"                     name takes the local-domain setting, else the\n"
"                     account's domain (default: the account ID)\n"
"  --multidrop        catch-all mailbox: recipients from the envelope\n"
"                     headers (else To/Cc/Bcc/Resent-*), kept when in an\n"
"                     accepted domain; --single turns it off\n"
"  --domains D,...    accepted domains (*.a.example: its subdomains)\n"
"  --envelope-header H  header naming the envelope recipient (repeatable;\n"
"                     replaces Delivered-To, X-Original-To, Envelope-To,\n"
"                     X-Envelope-To)\n"
"  --rule 'P > D'     sorting rule, first match wins (repeatable, ordered;\n"
"                     replaces the stored rules; --no-rules clears).\n"
"                     P: addr, *@domain, *@*.domain, *; D: local address,\n"
"                     *@domain (keeps the local part), @GROUP, postmaster,\n"
"                     drop. Unmatched accepted recipients get the message\n"
"                     themselves; mail for nobody accepted: the postmaster\n"
"  --postmaster L     this account's postmaster (default: the postmaster\n"
"                     setting; '' resets)\n"
"  --reroute-unknown V  yes: a recipient the target refuses permanently\n"
"                     (550 user unknown) goes to the postmaster; no: the\n"
"                     message is parked; default: the reroute-unknown\n"
"                     setting (yes)\n"
"  --target URI       maildir:PATH (with %u local part, %d domain, %a\n"
"                     address), lmtp:HOST:PORT, lmtp:unix:PATH,\n"
"                     smtp:HOST:PORT, mda:COMMAND\n"
"                     (default: maildir:STATE/mail/%u/Maildir)\n"
"  --delete           delete from the server after delivery (default)\n"
"  --keep             leave messages on the server\n"
"  --keep-days N      delete N days after first delivery\n"
"  --max-per-pass N   fetch at most N new messages per pass (0: no cap)\n"
"  --timeout S        seconds per network step (default 30)\n"
"  --folder NAME      IMAP folder to fetch (repeatable; default INBOX)\n"
"  --only-unseen      IMAP: fetch only messages without \\Seen\n"
"  --mark-seen        IMAP keep mode: set \\Seen after delivery\n"
"  --disabled         add the account disabled\n"
"  --interval D       serve: check every D (s, m, h; default: the\n"
"                     interval setting; 'default' resets)\n"
"  --idle, --no-idle  serve: IMAP IDLE for new mail at once (falls back to\n"
"                     polling when the server has no IDLE)\n"
ACCOUNT_FILTER_USAGE;

/* ---- account options ---- */

enum {
	OPT_PROTOCOL = 256, OPT_HOST, OPT_PORT, OPT_SECURITY, OPT_NO_VERIFY,
	OPT_VERIFY, OPT_CA_FILE, OPT_USER, OPT_PASSWORD_FILE, OPT_PASSWORD_ENV,
	OPT_PASSWORD_STDIN, OPT_DELIVER_TO, OPT_TARGET, OPT_DELETE, OPT_KEEP,
	OPT_KEEP_DAYS, OPT_MAX_PER_PASS, OPT_TIMEOUT, OPT_FOLDER,
	OPT_ONLY_UNSEEN, OPT_ALL_MESSAGES, OPT_MARK_SEEN, OPT_NO_MARK_SEEN,
	OPT_DISABLED, OPT_HELP, OPT_INTERVAL, OPT_IDLE, OPT_NO_IDLE,
};

static const struct option account_opts[] = {
	{ "protocol", required_argument, NULL, OPT_PROTOCOL },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "security", required_argument, NULL, OPT_SECURITY },
	{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "ca-file", required_argument, NULL, OPT_CA_FILE },
	{ "user", required_argument, NULL, OPT_USER },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "password-env", required_argument, NULL, OPT_PASSWORD_ENV },
	{ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
	{ "deliver-to", required_argument, NULL, OPT_DELIVER_TO },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "delete", no_argument, NULL, OPT_DELETE },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ "keep-days", required_argument, NULL, OPT_KEEP_DAYS },
	{ "max-per-pass", required_argument, NULL, OPT_MAX_PER_PASS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "folder", required_argument, NULL, OPT_FOLDER },
	{ "only-unseen", no_argument, NULL, OPT_ONLY_UNSEEN },
	{ "all-messages", no_argument, NULL, OPT_ALL_MESSAGES },
	{ "mark-seen", no_argument, NULL, OPT_MARK_SEEN },
	{ "no-mark-seen", no_argument, NULL, OPT_NO_MARK_SEEN },
	{ "disabled", no_argument, NULL, OPT_DISABLED },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "idle", no_argument, NULL, OPT_IDLE },
	{ "no-idle", no_argument, NULL, OPT_NO_IDLE },
	ACCOUNT_ROUTE_OPTIONS,
	ACCOUNT_OAUTH_OPTIONS,
	ACCOUNT_FILTER_OPTIONS,
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Numbers and their ranges come from the shared field rules
 * (store/account_valid.h), as every other option's checks do. */
static long long
num_opt(const char *name, const char *field, const char *v)
{
	const char *errstr;
	long long min = 0, max = 0, n;

	cli_account_field(name, field, v);
	if (account_valid_range(field, &min, &max) == -1)
		fatalx("account: %s is not a numeric field", field);
	n = strnum(v, min, max, &errstr);
	if (errstr != NULL)
		usage_error("account", "--%s: %s", name, errstr);
	return n;
}

static void
check_id(const char *id)
{
	char buf[ACCOUNT_VALID_MSG_MAX];
	const char *why = account_valid_field("id", id, buf, sizeof(buf));

	if (why != NULL)
		usage_error("account", "invalid account ID '%s': %s", id, why);
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL && v[0] != '\0' ? xstrdup(v) : NULL;
}

/* serve's schedule options (store/status.h): -1 when not given. */
static int opt_interval = -1, opt_idle = -1;

static int
interval_opt(const char *v)
{
	const char *errstr;
	long long n;

	cli_account_field("interval", "interval", v);
	if (strcmp(v, "default") == 0 || strcmp(v, "0") == 0)
		return 0;
	n = strnum_duration(v, 10, 7 * 86400, &errstr);
	if (errstr != NULL)
		usage_error("account", "--interval: %s", errstr);
	return (int)n;
}

/* Parse account add/edit options into a (which holds defaults or the stored
 * values). Returns the password (or NULL when none was given). */
static char *
account_parse(int argc, char **argv, struct account *a, bool add,
    const char *id, size_t *pwlen_r, bool *proto_set_r, bool *host_set_r,
    bool *user_set_r)
{
	char *pw = NULL, *real;
	const char *pw_src = NULL;
	bool folders_reset = false, pw_stdin = add;
	size_t nf = 0;
	int c;

	while (nf < ACCT_MAX_FOLDERS && a->folders[nf] != NULL)
		nf++;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", account_opts, NULL)) != -1) {
		switch (c) {
		case OPT_PROTOCOL:
			cli_account_field("protocol", "protocol", optarg);
			(void)account_proto_parse(optarg, &a->proto);
			*proto_set_r = true;
			break;
		case OPT_HOST:
			cli_account_field("host", "host", optarg);
			set_str(&a->host, optarg);
			*host_set_r = true;
			break;
		case OPT_PORT:
			a->port = (int)num_opt("port", "port", optarg);
			break;
		case OPT_SECURITY:
			cli_account_field("security", "security", optarg);
			(void)account_security_parse(optarg, &a->security);
			break;
		case OPT_NO_VERIFY:
			a->verify = false;
			break;
		case OPT_VERIFY:
			a->verify = true;
			break;
		case OPT_CA_FILE:
			cli_account_field("ca-file", "ca_file", optarg);
			if ((real = realpath(optarg, NULL)) == NULL)
				usage_error("account", "--ca-file %s: %s",
				    optarg, strerror(errno));
			set_str(&a->ca_file, real);
			free(real);
			break;
		case OPT_USER:
			cli_account_field("user", "user", optarg);
			set_str(&a->user, optarg);
			*user_set_r = true;
			break;
		case OPT_PASSWORD_FILE:
		case OPT_PASSWORD_ENV:
		case OPT_PASSWORD_STDIN:
			if (pw_src != NULL)
				usage_error("account", "give the password "
				    "only once");
			pw_src = argv[optind - 1];
			if (c == OPT_PASSWORD_FILE) {
				pw = cli_password_file(optarg, PASSWORD_MAX,
				    pwlen_r);
			} else if (c == OPT_PASSWORD_ENV) {
				pw = cli_password_env(optarg, PASSWORD_MAX,
				    pwlen_r);
			} else
				pw_stdin = true;
			break;
		case OPT_DELIVER_TO:
			cli_account_field("deliver-to", "deliver_to", optarg);
			set_str(&a->deliver_to, optarg);
			break;
		case OPT_TARGET: {
			cli_account_field("target", "target", optarg);
			set_str(&a->target, optarg);
			break;
		}
		case OPT_DELETE:
			a->policy = POLICY_DELETE;
			break;
		case OPT_KEEP:
			a->policy = POLICY_KEEP;
			break;
		case OPT_KEEP_DAYS:
			a->policy = POLICY_KEEP_DAYS;
			a->keep_days = (int)num_opt("keep-days", "keep_days",
			    optarg);
			break;
		case OPT_MAX_PER_PASS:
			a->max_per_pass = (int)num_opt("max-per-pass",
			    "max_per_pass", optarg);
			break;
		case OPT_TIMEOUT:
			a->timeout = (int)num_opt("timeout", "timeout", optarg);
			break;
		case OPT_FOLDER:
			if (!folders_reset) {
				size_t i;

				for (i = 0; i < nf; i++)
					xfree(&a->folders[i]);
				nf = 0;
				folders_reset = true;
			}
			if (nf + 1 >= ACCT_MAX_FOLDERS)
				usage_error("account", "too many --folder "
				    "options (at most %d)",
				    ACCT_MAX_FOLDERS - 1);
			cli_account_field("folder", "folder", optarg);
			a->folders[nf++] = xstrdup(optarg);
			a->folders[nf] = NULL;
			break;
		case OPT_ONLY_UNSEEN:
			a->only_unseen = true;
			break;
		case OPT_ALL_MESSAGES:
			a->only_unseen = false;
			break;
		case OPT_MARK_SEEN:
			a->mark_seen = true;
			break;
		case OPT_NO_MARK_SEEN:
			a->mark_seen = false;
			break;
		case OPT_DISABLED:
			a->enabled = false;
			break;
		case OPT_INTERVAL:
			opt_interval = interval_opt(optarg);
			break;
		case OPT_IDLE:
		case OPT_NO_IDLE:
			opt_idle = c == OPT_IDLE;
			break;
		case OPT_HELP:
			fputs(usage_account, stdout);
			exit(0);
		case ':':
			usage_error("account", "option %s needs a value",
			    argv[optind - 1]);
		default:
			if (ACCOUNT_ROUTE_OPT(c)) {
				account_route_opt(c, optarg);
				break;
			}
			if (ACCOUNT_OAUTH_OPT(c)) {
				account_oauth_opt(c, optarg);
				break;
			}
			if (ACCOUNT_FILTER_OPT(c)) {
				account_filter_opt(c, optarg);
				break;
			}
			usage_error("account", "unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		usage_error("account", optind >= argc ? "missing account ID" :
		    "unexpected argument '%s'", argv[optind + 1 < argc ?
		    optind + 1 : optind]);
	if (pw == NULL && pw_stdin && ((add &&
	    account_oauth_password_needed()) || pw_src != NULL))
		pw = cli_password_stdin(id, PASSWORD_MAX, pwlen_r);
	return pw;
}

static const char *
account_id_arg(int argc, char **argv)
{
	int i;

	/* The ID is the first non-option argument (options may follow). */
	for (i = 1; i < argc; i++) {
		const struct option *o;

		if (strcmp(argv[i], "--") == 0)
			return i + 1 < argc ? argv[i + 1] : NULL;
		if (argv[i][0] != '-')
			return argv[i];
		for (o = account_opts; o->name != NULL; o++) {
			size_t n = strlen(o->name);

			if (strncmp(argv[i] + 2, o->name, n) == 0 &&
			    argv[i][2 + n] == '\0' &&
			    o->has_arg == required_argument) {
				i++;
				break;
			}
		}
	}
	return NULL;
}

static int
cmd_account_add_edit(int argc, char **argv, bool add)
{
	struct store *st;
	struct account a;
	struct err e = { 0 };
	const char *id;
	char *pw;
	size_t pwlen = 0;
	bool proto_set = false, host_set = false, user_set = false;
	int rc = 1;

	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage_account, stdout);
		return 0;
	}
	id = account_id_arg(argc, argv);
	if (id == NULL)
		usage_error("account", "missing account ID");
	check_id(id);
	account_init(&a);
	st = cli_open_store();
	if (!add && store_account_get(st, id, &a, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		goto out;
	}
	account_route_load(st, id, add);
	account_oauth_load(st, id, add);
	account_filter_load(st, id, add);
	pw = account_parse(argc, argv, &a, add, id, &pwlen, &proto_set,
	    &host_set, &user_set);
	if (account_route_check(st, id, &a, &e) == -1 ||
	    account_oauth_check(id, &e) == -1)
		goto fail;
	if (add) {
		if (!proto_set)
			usage_error("account", "--protocol is required");
		if (!host_set)
			usage_error("account", "--host is required");
		if (!user_set)
			usage_error("account", "--user is required");
		if (pw == NULL && account_oauth_password_needed())
			usage_error("account", "a password is required");
		set_str(&a.id, id);
		if (store_account_add(st, &a, &e) == -1)
			goto fail;
	} else if (store_account_update(st, &a, &e) == -1)
		goto fail;
	if (pw != NULL && store_password_set(st, id, pw, pwlen, &e) == -1) {
		if (add) {
			struct err de = { 0 };

			(void)store_account_delete(st, id, &de);
			err_clear(&de);
		}
		goto fail;
	}
	if (account_route_save(st, id, &e) == -1 ||
	    account_oauth_save(st, id, &e) == -1)
		goto fail;
	if (account_filter_save(st, id, &e) == -1)
		goto fail;
	if (opt_interval >= 0 || opt_idle >= 0) {
		struct acct_status ss;

		if (store_status_get(st, id, &ss, &e) == -1)
			goto fail;
		if (store_status_set_schedule(st, id, opt_interval >= 0 ?
		    opt_interval : ss.interval, opt_idle >= 0 ? opt_idle == 1 :
		    ss.idle, &e) == -1) {
			status_clear(&ss);
			goto fail;
		}
		status_clear(&ss);
	}
	if (a.security == SEC_NONE)
		fprintf(stderr, "mailpull: warning: %s: security none sends the "
		    "password in clear text\n", id);
	if (!a.verify)
		fprintf(stderr, "mailpull: warning: %s: TLS certificate "
		    "verification is off\n", id);
	printf("%s %s\n", add ? "added" : "updated", id);
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "mailpull: %s: %s\n", id, err_msg(&e));
done:
	cli_password_free(pw);
out:
	account_clear(&a);
	store_close(&st);
	err_clear(&e);
	return rc;
}

static char *
last_run(struct store *st, const char *id, char *buf, size_t cap)
{
	struct run_rec *runs = NULL;
	size_t n = 0;
	char tb[64];

	buf[0] = '\0';
	if (store_run_list(st, id, 1, &runs, &n, NULL) == -1 || n == 0) {
		(void)snprintf(buf, cap, "never");
	} else {
		(void)snprintf(buf, cap, "%s %s: %s",
		    fmt_time(runs[0].finished, tb, sizeof(tb)),
		    runs[0].cls == ERR_NONE ? "ok" : "FAILED",
		    runs[0].summary != NULL ? runs[0].summary : "");
	}
	store_run_free(&runs, n);
	return buf;
}

/* serve's view of the account (store/status.h). */
static enum status_state
status_of(struct store *st, const struct account *a, struct acct_status *ss)
{
	if (store_status_get(st, a->id, ss, NULL) == -1)
		memset(ss, 0, sizeof(*ss));
	return a->enabled ? ss->state : STATUS_DISABLED;
}

static void
status_show(struct store *st, const struct account *a)
{
	struct acct_status ss;
	enum status_state state = status_of(st, a, &ss);
	char tb[64];

	if (ss.interval > 0)
		printf("interval:     %d s\n", ss.interval);
	else
		printf("interval:     default (config interval)\n");
	if (a->proto == ACCT_IMAP)
		printf("idle:         %s\n", ss.idle ? "yes" : "no");
	printf("status:       %s\n", status_state_name(state));
	if (ss.consecutive_failures > 0) {
		printf("failing since: %s (%d consecutive failures)\n",
		    fmt_time(ss.failing_since, tb, sizeof(tb)),
		    ss.consecutive_failures);
		printf("last error:   %s: %s\n", ss.last_class != NULL ?
		    ss.last_class : "?", ss.last_error != NULL ?
		    ss.last_error : "");
	}
	printf("last success: %s\n", ss.last_success != 0 ?
	    fmt_time(ss.last_success, tb, sizeof(tb)) : "never");
	if (ss.next_check != 0 && a->enabled)
		printf("next check:   %s\n", fmt_time(ss.next_check, tb,
		    sizeof(tb)));
	status_clear(&ss);
}

static int
cmd_account_list(int argc, char **argv)
{
	struct store *st;
	struct account *list = NULL;
	struct err e = { 0 };
	size_t n = 0, i, j;
	bool json = false;
	char lr[600], server[300];

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--help") == 0) {
			fputs(usage_account, stdout);
			return 0;
		} else
			usage_error("account", "account list: unexpected "
			    "argument '%s'", argv[i]);
	}
	st = cli_open_store();
	if (store_account_list(st, &list, &n, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		store_close(&st);
		err_clear(&e);
		return 1;
	}
	if (json) {
		fputs("[", stdout);
		for (i = 0; i < n; i++) {
			const struct account *a = &list[i];

			fputs(i > 0 ? ",\n {" : "\n {", stdout);
			fputs("\"id\": ", stdout);
			json_str(stdout, a->id);
			fputs(", \"protocol\": ", stdout);
			json_str(stdout, account_proto_name(a->proto));
			fputs(", \"host\": ", stdout);
			json_str(stdout, a->host);
			printf(", \"port\": %d, \"security\": ",
			    account_port(a));
			json_str(stdout, account_security_name(a->security));
			printf(", \"verify\": %s, \"ca_file\": ",
			    a->verify ? "true" : "false");
			json_str(stdout, a->ca_file);
			fputs(", \"user\": ", stdout);
			json_str(stdout, a->user);
			fputs(", \"deliver_to\": ", stdout);
			json_str(stdout, a->deliver_to);
			account_route_json(st, a, stdout);
			account_check_json(st, a->id, stdout);
			account_oauth_json(st, a, stdout);
			fputs(", \"target\": ", stdout);
			json_str(stdout, a->target);
			fputs(", \"policy\": ", stdout);
			json_str(stdout, account_policy_name(a->policy));
			printf(", \"keep_days\": %d, \"max_per_pass\": %d, "
			    "\"timeout\": %d, \"enabled\": %s, "
			    "\"has_password\": %s, \"folders\": [",
			    a->keep_days, a->max_per_pass, a->timeout,
			    a->enabled ? "true" : "false",
			    a->has_password ? "true" : "false");
			for (j = 0; j < ACCT_MAX_FOLDERS && a->folders[j];
			    j++) {
				if (j > 0)
					fputs(", ", stdout);
				json_str(stdout, a->folders[j]);
			}
			printf("], \"only_unseen\": %s, \"mark_seen\": %s, "
			    "\"last_run\": ",
			    a->only_unseen ? "true" : "false",
			    a->mark_seen ? "true" : "false");
			json_str(stdout, last_run(st, a->id, lr, sizeof(lr)));
			{
				struct acct_status ss;
				enum status_state sst = status_of(st, a, &ss);

				printf(", \"interval\": %d, \"idle\": %s, "
				    "\"status\": ", ss.interval,
				    ss.idle ? "true" : "false");
				json_str(stdout, status_state_name(sst));
				printf(", \"failing_since\": %lld, "
				    "\"consecutive_failures\": %d, "
				    "\"last_success\": %lld, "
				    "\"next_check\": %lld, \"last_error\": ",
				    (long long)ss.failing_since,
				    ss.consecutive_failures,
				    (long long)ss.last_success,
				    (long long)ss.next_check);
				json_str(stdout, ss.last_error);
				status_clear(&ss);
			}
			fputs("}", stdout);
		}
		fputs(n > 0 ? "\n]\n" : "]\n", stdout);
	} else if (n == 0) {
		printf("no accounts in %s; add one with 'mailpull account "
		    "add'\n", cli_state_dir);
	} else {
		printf("%-32s %-5s %-30s %-9s %-8s %-12s %s\n", "ID",
		    "PROTO", "SERVER", "POLICY", "ENABLED", "STATUS",
		    "LAST RUN");
		for (i = 0; i < n; i++) {
			const struct account *a = &list[i];
			struct acct_status ss;
			enum status_state sst = status_of(st, a, &ss);

			status_clear(&ss);
			(void)snprintf(server, sizeof(server), "%s:%d",
			    a->host, account_port(a));
			printf("%-32s %-5s %-30s %-9s %-8s %-12s %s\n", a->id,
			    account_proto_name(a->proto), server,
			    account_policy_name(a->policy),
			    a->enabled ? "yes" : "no", account_oauth_status(st,
			    a, status_state_name(sst)),
			    last_run(st, a->id, lr, sizeof(lr)));
		}
		for (i = 0; i < n; i++)
			account_check_list_line(st, list[i].id, stdout);
	}
	store_account_list_free(&list, n);
	store_close(&st);
	return 0;
}

static int
cmd_account_show(const char *id)
{
	struct store *st = cli_open_store();
	struct account a;
	struct err e = { 0 };
	char lr[600];
	size_t i;

	account_init(&a);
	if (store_account_get(st, id, &a, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		err_clear(&e);
		store_close(&st);
		return 1;
	}
	printf("id:           %s\n", a.id);
	printf("enabled:      %s\n", a.enabled ? "yes" : "no");
	printf("protocol:     %s\n", account_proto_name(a.proto));
	printf("host:         %s\n", a.host);
	printf("port:         %d%s\n", account_port(&a),
	    a.port == 0 ? " (default)" : "");
	printf("security:     %s%s\n", account_security_name(a.security),
	    a.security == SEC_NONE ? " (password sent in clear)" : "");
	printf("verify:       %s\n", a.verify ? "yes" :
	    "NO (certificate not verified)");
	printf("ca-file:      %s\n", a.ca_file != NULL ? a.ca_file : "-");
	printf("user:         %s\n", a.user);
	printf("password:     %s\n", a.has_password ? "set (encrypted)" :
	    "not set");
	account_oauth_show(st, &a, stdout);
	printf("deliver-to:   %s\n", a.deliver_to != NULL ? a.deliver_to :
	    a.id);
	account_route_show(st, &a, stdout);
	account_check_show(st, a.id, stdout);
	if (a.target != NULL)
		printf("target:       %s\n", a.target);
	else
		printf("target:       maildir:%s/mail/%%u/Maildir (default)\n",
		    cli_state_dir);
	if (a.policy == POLICY_KEEP_DAYS)
		printf("policy:       keep %d days\n", a.keep_days);
	else
		printf("policy:       %s\n", account_policy_name(a.policy));
	printf("max-per-pass: %d%s\n", a.max_per_pass,
	    a.max_per_pass == 0 ? " (no limit)" : "");
	printf("timeout:      %d s\n", a.timeout);
	if (a.proto == ACCT_IMAP) {
		printf("folders:     ");
		for (i = 0; i < ACCT_MAX_FOLDERS && a.folders[i] != NULL; i++)
			printf(" %s", a.folders[i]);
		printf("%s\n", i == 0 ? " INBOX" : "");
		printf("only-unseen:  %s\n", a.only_unseen ? "yes" : "no");
		printf("mark-seen:    %s\n", a.mark_seen ? "yes" : "no");
	}
	account_filter_show(st, a.id, stdout);
	printf("last run:     %s\n", last_run(st, a.id, lr, sizeof(lr)));
	status_show(st, &a);
	account_clear(&a);
	store_close(&st);
	return 0;
}

static int
cmd_account_simple(const char *verb, const char *id)
{
	struct store *st = cli_open_store();
	struct err e = { 0 };
	int r;

	if (strcmp(verb, "delete") == 0)
		r = store_account_delete(st, id, &e);
	else
		r = store_account_set_enabled(st, id,
		    strcmp(verb, "enable") == 0, &e);
	if (r == -1)
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
	else
		printf("%s %sd\n", id, strcmp(verb, "delete") == 0 ? "delete" :
		    verb);
	err_clear(&e);
	store_close(&st);
	return r == -1 ? 1 : 0;
}

int
cmd_account(int argc, char **argv)
{
	const char *sub;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage_account, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "add") == 0)
		return cmd_account_add_edit(argc - 1, argv + 1, true);
	if (strcmp(sub, "edit") == 0)
		return cmd_account_add_edit(argc - 1, argv + 1, false);
	if (strcmp(sub, "list") == 0)
		return cmd_account_list(argc - 1, argv + 1);
	if (strcmp(sub, "authorize") == 0)
		return cmd_account_authorize(argc - 1, argv + 1);
	if (strcmp(sub, "check") == 0)
		return cmd_account_check(argc - 1, argv + 1);
	if (strcmp(sub, "show") == 0 || strcmp(sub, "delete") == 0 ||
	    strcmp(sub, "enable") == 0 || strcmp(sub, "disable") == 0) {
		if (argc == 3 && strcmp(argv[2], "--help") == 0) {
			fputs(usage_account, stdout);
			return 0;
		}
		if (argc != 3)
			usage_error("account", "usage: mailpull account %s ID",
			    sub);
		if (strcmp(sub, "show") == 0)
			return cmd_account_show(argv[2]);
		return cmd_account_simple(sub, argv[2]);
	}
	usage_error("account", "unknown account command '%s'", sub);
	return EXIT_USAGE;
}

