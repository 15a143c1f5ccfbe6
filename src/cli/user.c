/*
 * user.c - `mailpull user add|list|delete|passwd|ensure-admin`: the users
 * of the admin web UI and API (store/users.h); and the hidden
 * `mailpull api-serve`, which runs the API and web UI alone (no
 * scheduler; "check now" runs `mailpull fetch ID` in a child).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "api/api.h"
#include "cli/cli.h"
#include "store/store.h"
#include "store/users.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

static const char usage_user[] =
"usage: mailpull user add NAME --role admin|domain-admin|user\n"
"         [--domains D[,D...]] [--address A]\n"
"         [--password-file F | --password-env VAR | --generate]\n"
"       mailpull user passwd NAME [--password-file F | --password-env VAR |\n"
"         --generate]\n"
"       mailpull user list [--json] | delete NAME | ensure-admin\n"
"\n"
"Users of the admin web UI and API (mailpull serve). Roles: admin (all\n"
"accounts, settings, users), domain-admin (accounts whose local\n"
"recipients are in --domains), user (accounts delivering to --address).\n"
"The password is read from standard input unless a file or variable is\n"
"given; --generate prints a random one-time password once.\n"
"ensure-admin creates the user 'admin' with a generated password when no\n"
"admin exists, and prints it (nothing happens otherwise).\n";

#define PW_MAX USER_PASSWORD_MAX

static char *
pw_generate(size_t *len_r)
{
	unsigned char b[16];
	char *pw = sodium_malloc(64);

	if (pw == NULL)
		fatalx("out of memory");
	randombytes_buf(b, sizeof(b));
	sodium_bin2base64(pw, 64, b, sizeof(b),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(b, sizeof(b));
	*len_r = strlen(pw);
	return pw;
}

/* The password from the options (file, env, generate) or stdin. */
static char *
pw_get(const char *file, const char *env, bool gen, const char *name,
    size_t *len_r)
{
	if ((file != NULL) + (env != NULL) + gen > 1)
		usage_error("user", "give the password only one way");
	if (gen)
		return pw_generate(len_r);
	if (file != NULL)
		return cli_password_file(file, PW_MAX, len_r);
	if (env != NULL)
		return cli_password_env(env, PW_MAX, len_r);
	return cli_password_stdin(name, PW_MAX, len_r);
}

enum {
	OPT_ROLE = 256, OPT_DOMAINS, OPT_ADDRESS, OPT_PWFILE, OPT_PWENV,
	OPT_GENERATE, OPT_JSON, OPT_HELP,
};

static const struct option user_opts[] = {
	{ "role", required_argument, NULL, OPT_ROLE },
	{ "domains", required_argument, NULL, OPT_DOMAINS },
	{ "address", required_argument, NULL, OPT_ADDRESS },
	{ "password-file", required_argument, NULL, OPT_PWFILE },
	{ "password-env", required_argument, NULL, OPT_PWENV },
	{ "generate", no_argument, NULL, OPT_GENERATE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct user_args {
	const char *name;
	const char *role;
	const char *domains;
	const char *address;
	const char *pwfile;
	const char *pwenv;
	bool generate;
	bool json;
};

static void
user_parse(int argc, char **argv, struct user_args *ua)
{
	int c;

	memset(ua, 0, sizeof(*ua));
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", user_opts, NULL)) != -1) {
		switch (c) {
		case OPT_ROLE:
			ua->role = optarg;
			break;
		case OPT_DOMAINS:
			ua->domains = optarg;
			break;
		case OPT_ADDRESS:
			ua->address = optarg;
			break;
		case OPT_PWFILE:
			ua->pwfile = optarg;
			break;
		case OPT_PWENV:
			ua->pwenv = optarg;
			break;
		case OPT_GENERATE:
			ua->generate = true;
			break;
		case OPT_JSON:
			ua->json = true;
			break;
		case OPT_HELP:
			fputs(usage_user, stdout);
			exit(0);
		case ':':
			usage_error("user", "option %s needs a value",
			    argv[optind - 1]);
		default:
			usage_error("user", "unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind < argc)
		ua->name = argv[optind++];
	if (optind < argc)
		usage_error("user", "unexpected argument '%s'", argv[optind]);
}

static int
user_add(struct user_args *ua)
{
	struct store *st;
	struct user u;
	struct err e = { 0 };
	const char *why;
	char *pw;
	size_t len = 0;
	int rc = 1;

	memset(&u, 0, sizeof(u));
	if (ua->name == NULL)
		usage_error("user", "missing user name");
	if ((why = user_name_check(ua->name)) != NULL)
		usage_error("user", "%s: %s", ua->name, why);
	if (ua->role == NULL)
		usage_error("user", "--role is required");
	if (user_role_parse(ua->role, &u.role) == -1)
		usage_error("user", "--role %s: expected admin, domain-admin "
		    "or user", ua->role);
	if (ua->domains != NULL && (u.domains = user_domains_canon(
	    ua->domains, &why)) == NULL)
		usage_error("user", "--domains: %s", why);
	if (ua->address != NULL && (u.address = user_address_canon(
	    ua->address, &why)) == NULL)
		usage_error("user", "--address: %s", why);
	if (u.role == ROLE_DOMAIN_ADMIN && u.domains == NULL)
		usage_error("user", "a domain-admin needs --domains");
	if (u.role == ROLE_USER && u.address == NULL)
		usage_error("user", "a user needs --address");
	u.name = xstrdup(ua->name);
	pw = pw_get(ua->pwfile, ua->pwenv, ua->generate, ua->name, &len);
	st = cli_open_store();
	if (store_user_add(st, &u, pw, len, &e) == -1)
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
	else {
		if (ua->generate)
			printf("added %s (%s); one-time password: %s\n",
			    u.name, user_role_name(u.role), pw);
		else
			printf("added %s (%s)\n", u.name,
			    user_role_name(u.role));
		rc = 0;
	}
	sodium_free(pw);
	store_close(&st);
	user_clear(&u);
	err_clear(&e);
	return rc;
}

static int
user_passwd(struct user_args *ua)
{
	struct store *st;
	struct err e = { 0 };
	char *pw;
	size_t len = 0;
	int rc = 1;

	if (ua->name == NULL)
		usage_error("user", "missing user name");
	pw = pw_get(ua->pwfile, ua->pwenv, ua->generate, ua->name, &len);
	st = cli_open_store();
	if (store_user_passwd(st, ua->name, pw, len, &e) == -1)
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
	else {
		if (ua->generate)
			printf("new password for %s: %s\n", ua->name, pw);
		else
			printf("password of %s changed; their sessions "
			    "ended\n", ua->name);
		rc = 0;
	}
	sodium_free(pw);
	store_close(&st);
	err_clear(&e);
	return rc;
}

static int
user_list(struct user_args *ua)
{
	struct store *st = cli_open_store();
	struct user *list = NULL;
	struct err e = { 0 };
	size_t n = 0, i;
	char tb[64];

	if (store_user_list(st, &list, &n, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		err_clear(&e);
		store_close(&st);
		return 1;
	}
	if (ua->json) {
		fputs("[", stdout);
		for (i = 0; i < n; i++) {
			fputs(i > 0 ? ",\n {\"name\": " : "\n {\"name\": ",
			    stdout);
			json_str(stdout, list[i].name);
			fputs(", \"role\": ", stdout);
			json_str(stdout, user_role_name(list[i].role));
			fputs(", \"domains\": ", stdout);
			json_str(stdout, list[i].domains);
			fputs(", \"address\": ", stdout);
			json_str(stdout, list[i].address);
			printf(", \"created\": %lld}",
			    (long long)list[i].created);
		}
		fputs(n > 0 ? "\n]\n" : "]\n", stdout);
	} else if (n == 0)
		printf("no users; add one with 'mailpull user add' or "
		    "'mailpull user ensure-admin'\n");
	else {
		printf("%-24s %-13s %-30s %s\n", "NAME", "ROLE", "SCOPE",
		    "CREATED");
		for (i = 0; i < n; i++)
			printf("%-24s %-13s %-30s %s\n", list[i].name,
			    user_role_name(list[i].role),
			    list[i].role == ROLE_ADMIN ? "all" :
			    list[i].role == ROLE_DOMAIN_ADMIN ?
			    list[i].domains : list[i].address,
			    fmt_time(list[i].created, tb, sizeof(tb)));
	}
	store_user_list_free(&list, n);
	store_close(&st);
	return 0;
}

static int
user_delete(struct user_args *ua)
{
	struct store *st;
	struct err e = { 0 };
	int rc = 0;

	if (ua->name == NULL)
		usage_error("user", "missing user name");
	st = cli_open_store();
	if (store_user_delete(st, ua->name, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		rc = 1;
	} else
		printf("deleted %s\n", ua->name);
	err_clear(&e);
	store_close(&st);
	return rc;
}

static int
user_ensure_admin(void)
{
	struct store *st = cli_open_store();
	struct user u;
	struct err e = { 0 };
	char *pw;
	size_t len;
	int n = 0, rc = 1;

	if (store_user_count_admins(st, &n, &e) == -1)
		goto out;
	if (n > 0) {
		rc = 0;
		goto out;
	}
	memset(&u, 0, sizeof(u));
	u.name = (char *)(uintptr_t)"admin";
	u.role = ROLE_ADMIN;
	pw = pw_generate(&len);
	if (store_user_add(st, &u, pw, len, &e) == 0) {
		printf("created the admin user 'admin'; one-time password: "
		    "%s\n", pw);
		rc = 0;
	}
	sodium_free(pw);
out:
	if (rc != 0)
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
	err_clear(&e);
	store_close(&st);
	return rc;
}

int
cmd_user(int argc, char **argv)
{
	struct user_args ua;
	const char *sub;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage_user, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	user_parse(argc - 1, argv + 1, &ua);
	if (strcmp(sub, "add") == 0)
		return user_add(&ua);
	if (strcmp(sub, "passwd") == 0)
		return user_passwd(&ua);
	if (strcmp(sub, "list") == 0)
		return user_list(&ua);
	if (strcmp(sub, "delete") == 0)
		return user_delete(&ua);
	if (strcmp(sub, "ensure-admin") == 0)
		return user_ensure_admin();
	usage_error("user", "unknown user command '%s'", sub);
}

/* ---- api-serve ---- */

static char self_exe[PATH_MAX];

/* "check now" without a scheduler: run `mailpull fetch ID` in a child
 * (SIGCHLD is ignored, so it is reaped by the kernel). */
static void
serve_check_now(void *arg, const char *id)
{
	char *argv[] = { self_exe, (char *)(uintptr_t)"--state",
	    (char *)(uintptr_t)cli_state_dir, (char *)(uintptr_t)"fetch",
	    (char *)(uintptr_t)id, NULL };
	posix_spawnattr_t at;
	sigset_t def;
	pid_t pid;
	int rc;

	posix_spawnattr_init(&at);
	sigemptyset(&def);
	sigaddset(&def, SIGCHLD);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	posix_spawnattr_setsigdefault(&at, &def);
	sigemptyset(&def);
	posix_spawnattr_setsigmask(&at, &def);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF |
	    POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawn(&pid, self_exe, NULL, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	if (rc != 0)
		log_warnx("api-serve: %s: cannot start a fetch: %s", id,
		    strerror(rc));
	else
		log_info("api-serve: %s: fetch started (pid %d)", id,
		    (int)pid);
}

static const char usage_api_serve[] =
"usage: mailpull api-serve [--listen ADDR:PORT] [--tls-cert F --tls-key F]\n"
"         [--trust-proxy]\n"
"\n"
"Run only the admin web UI and JSON API (no scheduler) until SIGTERM.\n"
"\"Check now\" runs 'mailpull fetch ID'. Default listen 127.0.0.1:8025.\n";

int
cmd_api_serve(int argc, char **argv)
{
	struct api_opts o;
	struct api *api = NULL;
	struct err e = { 0 };
	sigset_t set;
	ssize_t n;
	int i, sig;

	memset(&o, 0, sizeof(o));
	o.listen = "127.0.0.1:8025";
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--trust-proxy") == 0)
			o.trust_proxy = true;
		else if (strcmp(argv[i], "--help") == 0) {
			fputs(usage_api_serve, stdout);
			return 0;
		} else if (i + 1 < argc && strcmp(argv[i], "--listen") == 0)
			o.listen = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--tls-cert") == 0)
			o.tls_cert = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--tls-key") == 0)
			o.tls_key = argv[++i];
		else
			usage_error("api-serve", "unexpected argument '%s'",
			    argv[i]);
	}
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		fatal("readlink /proc/self/exe");
	self_exe[n] = '\0';
	o.state_dir = cli_state_dir;
	o.check_now = serve_check_now;
	/* Block the signals before the server's threads start, so they
	 * inherit the mask and only sigwait() below sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGCHLD, SIG_IGN);
	store_close(&(struct store *){ cli_open_store() });
	if (api_start(&api, &o, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		err_clear(&e);
		return 1;
	}
	printf("api-serve: listening on %s\n", o.listen);
	fflush(stdout);
	while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
		;
	log_info("api-serve: signal %d, stopping", sig);
	api_stop(&api);
	return 0;
}
