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
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define EXIT_USAGE 2
#define PASSWORD_MAX 4096

static const char *state_dir;
static int verbose;

static const char usage_main[] =
"usage: mailpull [--state DIR] [-v] COMMAND [ARGS]\n"
"\n"
"Fetch mail from remote POP3 and IMAP accounts into local mailboxes.\n"
"\n"
"Commands:\n"
"  account add ID OPTIONS     add an account (ID is an email address)\n"
"  account edit ID OPTIONS    change an account\n"
"  account list [--json]      list accounts\n"
"  account show ID            show one account\n"
"  account delete ID          delete an account and its journal\n"
"  account enable ID          enable an account\n"
"  account disable ID         disable an account\n"
"  fetch [ID...]              one pass over the given (or all enabled)\n"
"                             accounts\n"
"  log ID [-n N]              the last run logs of an account\n"
"\n"
"Global options:\n"
"  --state DIR   state directory (default $MAILPULL_STATE, then\n"
"                /var/lib/mailpull): store, key file, default Maildirs\n"
"  -v, --verbose debug output; wire trace (passwords redacted) in run logs\n"
"  --version     print the version\n"
"  -h, --help    this help; COMMAND --help for a command's options\n"
"\n"
"Exit status: 0 success, 1 failure (fetch: any account failed),\n"
"2 usage error.\n";

static const char usage_account[] =
"usage: mailpull account add ID --protocol pop3|imap --host HOST [--port N]\n"
"         [--security tls|starttls|none] [--no-verify] [--ca-file F]\n"
"         --user NAME (--password-file F | --password-env VAR |\n"
"         password on stdin)\n"
"         [--deliver-to LOCAL[,LOCAL...]] [--target URI]\n"
"         [--delete | --keep | --keep-days N] [--max-per-pass N]\n"
"         [--timeout SECONDS] [--folder NAME]... [--only-unseen]\n"
"         [--mark-seen] [--disabled]\n"
"       mailpull account edit ID [same options] [--password-stdin]\n"
"       mailpull account list [--json] | show ID | delete ID |\n"
"         enable ID | disable ID\n"
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
"  --deliver-to L     local recipients, comma-separated; a bare name takes\n"
"                     the account's domain (default: the account ID)\n"
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
"  --disabled         add the account disabled\n";

static const char usage_fetch[] =
"usage: mailpull fetch [--no-wait] [ID...]\n"
"\n"
"Run one pass over the given accounts, or every enabled account.\n"
"On a terminal, progress is shown per account; otherwise one summary line\n"
"per account. Exit status 0 when every account succeeded, 1 otherwise.\n"
"  --no-wait   report an account busy in another pass instead of waiting\n";

static const char usage_log[] =
"usage: mailpull log ID [-n N]\n"
"\n"
"Print the last N run logs of an account, newest first (default 3; at\n"
"most 20 are kept).\n";

MP_NORETURN static void
usage_error(const char *usage, const char *fmt, ...) MP_PRINTF(2, 3);

static void
usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("mailpull: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	if (usage != NULL)
		fprintf(stderr, "Try 'mailpull %s --help'.\n", usage);
	exit(EXIT_USAGE);
}

static struct store *
open_store(void)
{
	struct store *st;
	struct err e = { 0 };

	if (store_open(&st, state_dir, &e) == -1) {
		fprintf(stderr, "mailpull: cannot open the state in %s: %s\n",
		    state_dir, err_msg(&e));
		exit(1);
	}
	return st;
}

/* ---- small output helpers ---- */

static void
json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static const char *
fmt_time(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0)
		return "never";
	localtime_r(&tt, &tm);
	if (strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return "?";
	return buf;
}

static const char *
fmt_bytes(uint64_t n, char *buf, size_t cap)
{
	if (n < 1024)
		(void)snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else if (n < 1024 * 1024)
		(void)snprintf(buf, cap, "%.1f KiB", n / 1024.0);
	else if (n < 1024ull * 1024 * 1024)
		(void)snprintf(buf, cap, "%.1f MiB", n / 1048576.0);
	else
		(void)snprintf(buf, cap, "%.2f GiB", n / 1073741824.0);
	return buf;
}

/* ---- passwords ---- */

static char *
password_check(char *pw, size_t len, const char *src, size_t *len_r)
{
	/* One trailing newline (or CRLF) ends the password. */
	if (len > 0 && pw[len - 1] == '\n')
		pw[--len] = '\0';
	if (len > 0 && pw[len - 1] == '\r')
		pw[--len] = '\0';
	if (len == 0)
		usage_error(NULL, "empty password from %s", src);
	if (memchr(pw, '\0', len) != NULL || memchr(pw, '\n', len) != NULL)
		usage_error(NULL, "the password from %s contains a NUL byte or "
		    "a line break", src);
	*len_r = len;
	return pw;
}

static char *
password_read_fd(int fd, const char *src, size_t *len_r)
{
	char *pw = sodium_malloc(PASSWORD_MAX + 2);
	size_t len = 0;
	ssize_t n;

	if (pw == NULL)
		fatalx("out of memory");
	while (len < PASSWORD_MAX + 1) {
		n = read(fd, pw + len, PASSWORD_MAX + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			usage_error(NULL, "cannot read the password from %s: %s",
			    src, strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		/* From a terminal or pipe, stop at the first line. */
		if (memchr(pw, '\n', len) != NULL)
			break;
	}
	pw[len] = '\0';
	{
		char *nl = memchr(pw, '\n', len);

		if (nl != NULL && (size_t)(nl - pw) + 1 < len)
			len = (size_t)(nl - pw) + 1;	/* first line only */
	}
	if (len > PASSWORD_MAX + 1 ||
	    (len == PASSWORD_MAX + 1 && pw[len - 1] != '\n'))
		usage_error(NULL, "the password from %s is longer than %d "
		    "bytes", src, PASSWORD_MAX);
	pw[len] = '\0';
	return password_check(pw, len, src, len_r);
}

static char *
password_from_stdin(const char *id, size_t *len_r)
{
	struct termios t, saved;
	bool tty = isatty(STDIN_FILENO);
	char *pw;

	if (tty) {
		fprintf(stderr, "Password for %s: ", id);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &t) == 0) {
			saved = t;
			t.c_lflag &= ~(tcflag_t)ECHO;
			(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
		} else
			tty = false;
	}
	pw = password_read_fd(STDIN_FILENO, "standard input", len_r);
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	return pw;
}

static void
password_free(char *pw)
{
	if (pw != NULL)
		sodium_free(pw);
}

/* ---- account options ---- */

enum {
	OPT_PROTOCOL = 256, OPT_HOST, OPT_PORT, OPT_SECURITY, OPT_NO_VERIFY,
	OPT_VERIFY, OPT_CA_FILE, OPT_USER, OPT_PASSWORD_FILE, OPT_PASSWORD_ENV,
	OPT_PASSWORD_STDIN, OPT_DELIVER_TO, OPT_TARGET, OPT_DELETE, OPT_KEEP,
	OPT_KEEP_DAYS, OPT_MAX_PER_PASS, OPT_TIMEOUT, OPT_FOLDER,
	OPT_ONLY_UNSEEN, OPT_ALL_MESSAGES, OPT_MARK_SEEN, OPT_NO_MARK_SEEN,
	OPT_DISABLED, OPT_HELP,
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
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static long long
num_opt(const char *name, const char *v, long long min, long long max)
{
	const char *errstr;
	long long n = strnum(v, min, max, &errstr);

	if (errstr != NULL)
		usage_error("account", "--%s %s: %s (expected %lld..%lld)",
		    name, v, errstr, min, max);
	return n;
}

static bool
valid_text(const char *s, size_t max, bool allow_space)
{
	const unsigned char *p;

	if (s[0] == '\0' || strlen(s) > max)
		return false;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || (!allow_space && *p == ' '))
			return false;
	return true;
}

static void
check_id(const char *id)
{
	const char *at = strrchr(id, '@');

	if (!valid_text(id, 254, false) || at == NULL || at == id ||
	    at[1] == '\0')
		usage_error("account", "invalid account ID '%s': expected an "
		    "email address such as alice@example.org", id);
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL && v[0] != '\0' ? xstrdup(v) : NULL;
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
			if (account_proto_parse(optarg, &a->proto) == -1)
				usage_error("account", "--protocol %s: "
				    "expected pop3 or imap", optarg);
			*proto_set_r = true;
			break;
		case OPT_HOST:
			if (!valid_text(optarg, 253, false))
				usage_error("account", "--host: invalid host "
				    "name '%s'", optarg);
			set_str(&a->host, optarg);
			*host_set_r = true;
			break;
		case OPT_PORT:
			a->port = (int)num_opt("port", optarg, 1, 65535);
			break;
		case OPT_SECURITY:
			if (account_security_parse(optarg, &a->security) == -1)
				usage_error("account", "--security %s: "
				    "expected tls, starttls or none", optarg);
			break;
		case OPT_NO_VERIFY:
			a->verify = false;
			break;
		case OPT_VERIFY:
			a->verify = true;
			break;
		case OPT_CA_FILE:
			if ((real = realpath(optarg, NULL)) == NULL ||
			    access(real, R_OK) == -1)
				usage_error("account", "--ca-file %s: %s",
				    optarg, strerror(errno));
			set_str(&a->ca_file, real);
			free(real);
			break;
		case OPT_USER:
			if (!valid_text(optarg, 512, true))
				usage_error("account", "--user: invalid user "
				    "name");
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
				int fd = open(optarg, O_RDONLY | O_CLOEXEC);

				if (fd == -1)
					usage_error(NULL, "--password-file "
					    "%s: %s", optarg, strerror(errno));
				pw = password_read_fd(fd, optarg, pwlen_r);
				close(fd);
			} else if (c == OPT_PASSWORD_ENV) {
				const char *v = getenv(optarg);
				size_t len;

				if (v == NULL)
					usage_error(NULL, "--password-env %s: "
					    "the variable is not set", optarg);
				len = strlen(v);
				if (len > PASSWORD_MAX)
					usage_error(NULL, "the password in %s "
					    "is longer than %d bytes", optarg,
					    PASSWORD_MAX);
				pw = sodium_malloc(len + 1);
				if (pw == NULL)
					fatalx("out of memory");
				memcpy(pw, v, len + 1);
				pw = password_check(pw, len, optarg, pwlen_r);
			} else
				pw_stdin = true;
			break;
		case OPT_DELIVER_TO:
			if (!valid_text(optarg, 4096, true))
				usage_error("account", "--deliver-to: invalid "
				    "list");
			set_str(&a->deliver_to, optarg);
			break;
		case OPT_TARGET: {
			struct target_uri u;
			struct err e = { 0 };

			if (target_uri_parse(optarg, &u, &e) == -1)
				usage_error("account", "--target: %s",
				    err_msg(&e));
			target_uri_clear(&u);
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
			a->keep_days = (int)num_opt("keep-days", optarg, 0,
			    36500);
			break;
		case OPT_MAX_PER_PASS:
			a->max_per_pass = (int)num_opt("max-per-pass", optarg,
			    0, 10000000);
			break;
		case OPT_TIMEOUT:
			a->timeout = (int)num_opt("timeout", optarg, 1, 3600);
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
			if (!valid_text(optarg, 1000, true))
				usage_error("account", "--folder: invalid "
				    "folder name");
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
		case OPT_HELP:
			fputs(usage_account, stdout);
			exit(0);
		case ':':
			usage_error("account", "option %s needs a value",
			    argv[optind - 1]);
		default:
			usage_error("account", "unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		usage_error("account", optind >= argc ? "missing account ID" :
		    "unexpected argument '%s'", argv[optind + 1 < argc ?
		    optind + 1 : optind]);
	if (pw == NULL && pw_stdin && (add || pw_src != NULL))
		pw = password_from_stdin(id, pwlen_r);
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
	st = open_store();
	if (!add && store_account_get(st, id, &a, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		goto out;
	}
	pw = account_parse(argc, argv, &a, add, id, &pwlen, &proto_set,
	    &host_set, &user_set);
	if (add) {
		if (!proto_set)
			usage_error("account", "--protocol is required");
		if (!host_set)
			usage_error("account", "--host is required");
		if (!user_set)
			usage_error("account", "--user is required");
		if (pw == NULL)
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
	password_free(pw);
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
	st = open_store();
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
			fputs("}", stdout);
		}
		fputs(n > 0 ? "\n]\n" : "]\n", stdout);
	} else if (n == 0) {
		printf("no accounts in %s; add one with 'mailpull account "
		    "add'\n", state_dir);
	} else {
		printf("%-32s %-5s %-30s %-9s %-8s %s\n", "ID", "PROTO",
		    "SERVER", "POLICY", "ENABLED", "LAST RUN");
		for (i = 0; i < n; i++) {
			const struct account *a = &list[i];

			(void)snprintf(server, sizeof(server), "%s:%d",
			    a->host, account_port(a));
			printf("%-32s %-5s %-30s %-9s %-8s %s\n", a->id,
			    account_proto_name(a->proto), server,
			    account_policy_name(a->policy),
			    a->enabled ? "yes" : "no",
			    last_run(st, a->id, lr, sizeof(lr)));
		}
	}
	store_account_list_free(&list, n);
	store_close(&st);
	return 0;
}

static int
cmd_account_show(const char *id)
{
	struct store *st = open_store();
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
	printf("deliver-to:   %s\n", a.deliver_to != NULL ? a.deliver_to :
	    a.id);
	if (a.target != NULL)
		printf("target:       %s\n", a.target);
	else
		printf("target:       maildir:%s/mail/%%u/Maildir (default)\n",
		    state_dir);
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
	printf("last run:     %s\n", last_run(st, a.id, lr, sizeof(lr)));
	account_clear(&a);
	store_close(&st);
	return 0;
}

static int
cmd_account_simple(const char *verb, const char *id)
{
	struct store *st = open_store();
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

static int
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

/* ---- fetch ---- */

struct progress_state {
	bool tty;
	bool shown;
};

static void
on_progress(void *arg, const struct pass_progress *p)
{
	struct progress_state *ps = arg;
	char b1[32], b2[32];

	if (!ps->tty)
		return;
	if (p->total > 0 || p->done > 0)
		fprintf(stdout, "\r\033[K%s: %s %lu/%lu messages, %s of %s",
		    p->account, p->phase, p->done, p->total,
		    fmt_bytes(p->bytes, b1, sizeof(b1)),
		    fmt_bytes(p->total_bytes, b2, sizeof(b2)));
	else
		fprintf(stdout, "\r\033[K%s: %s...", p->account, p->phase);
	fflush(stdout);
	ps->shown = true;
}

static int
cmd_fetch(int argc, char **argv)
{
	struct store *st;
	struct account *list = NULL, one;
	struct err e = { 0 };
	struct pass_opts po;
	struct pass_result res;
	struct progress_state ps = { 0 };
	size_t n = 0, i;
	int c, failed = 0, ran = 0;
	bool wait = true;
	static const struct option opts[] = {
		{ "no-wait", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			wait = false;
			break;
		case 'h':
			fputs(usage_fetch, stdout);
			return 0;
		default:
			usage_error("fetch", "unknown option %s",
			    argv[optind - 1]);
		}
	}
	st = open_store();
	memset(&po, 0, sizeof(po));
	ps.tty = isatty(STDOUT_FILENO);
	po.progress = on_progress;
	po.progress_arg = &ps;
	po.wait_lock = wait;
	po.verbose = verbose;
	if (optind < argc) {
		n = (size_t)(argc - optind);
		list = xcalloc(n, sizeof(*list));
		for (i = 0; i < n; i++) {
			account_init(&one);
			if (store_account_get(st, argv[optind + (int)i], &one,
			    &e) == -1) {
				fprintf(stderr, "mailpull: %s: config error: "
				    "%s\n", argv[optind + (int)i], err_msg(&e));
				failed++;
				account_clear(&one);
				continue;
			}
			list[i] = one;
		}
	} else {
		if (store_account_list(st, &list, &n, &e) == -1) {
			fprintf(stderr, "mailpull: %s\n", err_msg(&e));
			store_close(&st);
			return 1;
		}
	}
	for (i = 0; i < n; i++) {
		struct account *a = &list[i];
		char b[32];

		if (a->id == NULL)
			continue;
		if (optind >= argc && !a->enabled)
			continue;
		ran++;
		ps.shown = false;
		if (pass_run(st, a, &po, &res) == 0) {
			if (ps.shown)
				fputs("\r\033[K", stdout);
			printf("%s: %lu new messages delivered (%s), %lu "
			    "deleted, %lu kept on the server", a->id,
			    res.delivered, fmt_bytes(res.bytes, b, sizeof(b)),
			    res.deleted, res.kept);
			if (res.skipped > 0)
				printf(", %lu left for the next pass",
				    res.skipped);
			printf(" [%.1f s]\n", res.elapsed_ms / 1000.0);
		} else {
			if (ps.shown)
				fputs("\r\033[K", stdout);
			fflush(stdout);
			fprintf(stderr, "mailpull: %s: %s error: %s\n", a->id,
			    err_class_name(res.cls), res.msg != NULL ?
			    res.msg : "failed");
			if (res.delivered > 0)
				printf("%s: %lu new messages delivered before "
				    "the error\n", a->id, res.delivered);
			failed++;
		}
		fflush(stdout);
		pass_result_clear(&res);
	}
	if (optind >= argc && ran == 0 && failed == 0)
		printf("no enabled accounts in %s; add one with:\n"
		    "  mailpull --state %s account add you@example.org "
		    "--protocol pop3 --host pop.example.org --user you\n",
		    state_dir, state_dir);
	store_account_list_free(&list, n);
	store_close(&st);
	err_clear(&e);
	return failed > 0 ? 1 : 0;
}

/* ---- log ---- */

static int
cmd_log(int argc, char **argv)
{
	struct store *st;
	struct run_rec *runs = NULL;
	struct account a;
	struct err e = { 0 };
	size_t n = 0, i, max = 3;
	const char *id = NULL;
	char t1[64], t2[64];
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt(argc, argv, ":n:h")) != -1) {
		switch (c) {
		case 'n': {
			const char *errstr;

			max = (size_t)strnum(optarg, 1, 1000, &errstr);
			if (errstr != NULL)
				usage_error("log", "-n %s: %s", optarg, errstr);
			break;
		}
		case 'h':
			fputs(usage_log, stdout);
			return 0;
		default:
			usage_error("log", "unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		usage_error("log", "usage: mailpull log ID [-n N]");
	id = argv[optind];
	st = open_store();
	account_init(&a);
	if (store_account_get(st, id, &a, &e) == -1 ||
	    store_run_list(st, id, max, &runs, &n, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		err_clear(&e);
		account_clear(&a);
		store_close(&st);
		return 1;
	}
	if (n == 0)
		printf("%s: no runs yet\n", id);
	for (i = 0; i < n; i++) {
		printf("=== %s run %s .. %s: %s\n", id,
		    fmt_time(runs[i].started, t1, sizeof(t1)),
		    fmt_time(runs[i].finished, t2, sizeof(t2)),
		    runs[i].summary != NULL ? runs[i].summary : "");
		if (runs[i].log != NULL)
			fputs(runs[i].log, stdout);
		if (i + 1 < n)
			fputs("\n", stdout);
	}
	store_run_free(&runs, n);
	account_clear(&a);
	store_close(&st);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd;
	int i;

	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialise");
	log_init(LOG_TO_STDERR, 0);
	state_dir = getenv("MAILPULL_STATE");
	if (state_dir == NULL || state_dir[0] == '\0')
		state_dir = "/var/lib/mailpull";

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0) {
			if (i + 1 >= argc)
				usage_error(NULL, "--state needs a directory");
			state_dir = argv[++i];
		} else if (strncmp(argv[i], "--state=", 8) == 0)
			state_dir = argv[i] + 8;
		else if (strcmp(argv[i], "-v") == 0 ||
		    strcmp(argv[i], "--verbose") == 0)
			verbose++;
		else if (strcmp(argv[i], "--version") == 0) {
			printf("mailpull %s\n", MAILPULL_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "help") == 0) {
			fputs(usage_main, stdout);
			return 0;
		} else if (argv[i][0] == '-')
			usage_error(NULL, "unknown option %s (see mailpull "
			    "--help)", argv[i]);
		else
			break;
	}
	if (i >= argc) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	if (state_dir[0] == '\0')
		usage_error(NULL, "--state: empty directory name");
	log_init(LOG_TO_STDERR, verbose);
	cmd = argv[i];
	if (strcmp(cmd, "account") == 0)
		return cmd_account(argc - i, argv + i);
	if (strcmp(cmd, "fetch") == 0)
		return cmd_fetch(argc - i, argv + i);
	if (strcmp(cmd, "log") == 0)
		return cmd_log(argc - i, argv + i);
	usage_error(NULL, "unknown command '%s' (see mailpull --help)", cmd);
	return EXIT_USAGE;
}
