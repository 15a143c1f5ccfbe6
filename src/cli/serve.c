/*
 * serve.c - `mailpull serve`: the daemon in the foreground.
 *
 * Order of start-up: open the store and take the state directory's lock
 * file (a second serve on the same state refuses), bind the listener, then
 * drop privileges (--user), then start the workers: protocol parsing never
 * runs as root unless --allow-root says so.
 *
 * Signals are taken by one thread with sigwait(): SIGTERM/SIGINT stop
 * (passes finish the message in flight, commit, log out; bounded by
 * --stop-timeout; a second signal exits at once), SIGHUP re-reads the
 * settings and accounts and reopens the log.
 */
#include "common.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef MAILPULL_HAVE_API
#include "api/api.h"
#endif
#include "sched/sched.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#include "cli/cli.h"

#define SERVE_LOCK_FILE	"serve.lock"

static const char usage_serve[] =
"usage: mailpull serve [--listen ADDR:PORT] [--user NAME] [--allow-root]\n"
"         [--log-level error|warning|info|debug] [--no-syslog]\n"
"         [--interval DURATION] [--stop-timeout SECONDS]\n"
"         [--metrics-file PATH]\n"
"\n"
"Run the daemon in the foreground: check every enabled account on its\n"
"interval (config set interval; account --interval), at once when an\n"
"account is added, edited or enabled, and hold IMAP IDLE connections for\n"
"accounts with --idle. Logs go to stderr and syslog (facility mail).\n"
"  --listen A:P        admin API and /metrics (default 127.0.0.1:8025)\n"
"  --user NAME         drop to this user after opening the store and\n"
"                      binding (the state directory must belong to it)\n"
"  --allow-root        run passes as root without a warning\n"
"  --log-level L       error, warning (failed passes), info (default:\n"
"                      also one line per pass) or debug\n"
"  --no-syslog         log to stderr only\n"
"  --interval D        override the interval setting (e.g. 30s, 5m)\n"
"  --stop-timeout S    on SIGTERM, wait this long for passes (default 30)\n"
"  --metrics-file P    write Prometheus metrics to P every 10 s\n"
"Signals: TERM/INT stop gracefully, HUP reloads settings and logs.\n";

struct sigctx {
	struct sched *sched;
	sigset_t set;
	int dest, verbosity;
};

static void *
signal_main(void *arg)
{
	struct sigctx *sc = arg;
	int sig, stops = 0;

	for (;;) {
		if (sigwait(&sc->set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_init(sc->dest, sc->verbosity);
			log_info("SIGHUP: reloading settings and accounts");
			sched_reload(sc->sched);
			continue;
		}
		if (++stops > 1) {
			log_warnx("second %s: exiting now", strsignal(sig));
			_exit(1);
		}
		log_info("%s: finishing passes in flight", strsignal(sig));
		sched_stop(sc->sched);
	}
	return NULL;
}

/* Take STATE/serve.lock; -1 when another serve holds it. */
static int
lock_state(const char *dir, int *fd_r)
{
	char *path = xasprintf("%s/%s", dir, SERVE_LOCK_FILE);
	char buf[32];
	ssize_t n;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		fprintf(stderr, "mailpull: %s: %s\n", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		fprintf(stderr, "mailpull: another mailpull serve is running "
		    "on %s (pid %s); refusing to start a second one\n", dir,
		    buf[0] != '\0' ? buf : "unknown");
		close(fd);
		free(path);
		return -1;
	}
	if (ftruncate(fd, 0) == 0) {
		int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

		if (len > 0 && write(fd, buf, (size_t)len) != len)
			log_warn("%s", path);
	}
	free(path);
	*fd_r = fd;
	return 0;
}

static int
check_owner(const char *path, uid_t uid, const char *user)
{
	struct stat sb;

	if (stat(path, &sb) == -1)
		return errno == ENOENT ? 0 : -1;
	if (sb.st_uid != uid) {
		fprintf(stderr, "mailpull: %s belongs to uid %ld, not to %s; "
		    "run 'chown -R %s %s' first\n", path, (long)sb.st_uid,
		    user, user, path);
		return -1;
	}
	return 0;
}

/*
 * Effective ids only (reversible): temporarily to user (to_user), or back
 * to root. The state directory must exist and belong to user.
 */
static int
become_user(const char *user, const char *dir, bool to_user)
{
	struct passwd *pw;

	if (!to_user) {
		if (seteuid(0) == -1 || setegid(0) == -1) {
			fprintf(stderr, "mailpull: cannot regain root to bind: "
			    "%s\n", strerror(errno));
			return -1;
		}
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL) {
		fprintf(stderr, "mailpull: --user %s: no such user\n", user);
		return -1;
	}
	if (check_owner(dir, pw->pw_uid, user) == -1)
		return -1;
	if (setegid(pw->pw_gid) == -1 || seteuid(pw->pw_uid) == -1) {
		fprintf(stderr, "mailpull: switching to %s: %s\n", user,
		    strerror(errno));
		return -1;
	}
	return 0;
}

static int
drop_privileges(const char *user, const char *dir)
{
	struct passwd *pw;
	char *db;
	int rc;

	if ((pw = getpwnam(user)) == NULL) {
		fprintf(stderr, "mailpull: --user %s: no such user\n", user);
		return -1;
	}
	if (pw->pw_uid == 0) {
		fprintf(stderr, "mailpull: --user %s is root\n", user);
		return -1;
	}
	db = xasprintf("%s/mailpull.db", dir);
	rc = check_owner(dir, pw->pw_uid, user) == -1 ||
	    check_owner(db, pw->pw_uid, user) == -1 ? -1 : 0;
	free(db);
	if (rc == -1)
		return -1;
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return 0;
		fprintf(stderr, "mailpull: --user %s needs to start as root\n",
		    user);
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		fprintf(stderr, "mailpull: dropping privileges to %s: %s\n",
		    user, strerror(errno));
		return -1;
	}
	if (setuid(0) != -1) {
		fprintf(stderr, "mailpull: could regain root after dropping "
		    "privileges; refusing to run\n");
		return -1;
	}
	log_info("running as user %s (uid %ld)", user, (long)pw->pw_uid);
	return 0;
}

int
cmd_serve(int argc, char **argv)
{
	struct sched_opts so;
	struct sched *sched = NULL;
	struct sigctx sc;
	struct err e = { 0 };
	pthread_t sigthr;
	const char *listen = "127.0.0.1:8025", *user = NULL, *errstr;
	const char *level = "info";
	bool allow_root = false, use_syslog = true;
	int c, priority, lockfd = -1, rc = 1;
#ifdef MAILPULL_HAVE_API
	struct api *api = NULL;
	struct api_opts ao;
#endif
	enum {
		OPT_LISTEN = 256, OPT_USER, OPT_ALLOW_ROOT, OPT_LOG_LEVEL,
		OPT_NO_SYSLOG, OPT_INTERVAL, OPT_STOP_TIMEOUT,
		OPT_METRICS_FILE, OPT_HELP,
	};
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "user", required_argument, NULL, OPT_USER },
		{ "allow-root", no_argument, NULL, OPT_ALLOW_ROOT },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "no-syslog", no_argument, NULL, OPT_NO_SYSLOG },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
		{ "metrics-file", required_argument, NULL, OPT_METRICS_FILE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};

	memset(&so, 0, sizeof(so));
	so.stop_timeout = 30;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			listen = optarg;
			break;
		case OPT_USER:
			user = optarg;
			break;
		case OPT_ALLOW_ROOT:
			allow_root = true;
			break;
		case OPT_LOG_LEVEL:
			level = optarg;
			if (log_level_parse(level, &priority) == -1)
				usage_error("serve", "--log-level: expected "
				    "error, warning, info or debug");
			break;
		case OPT_NO_SYSLOG:
			use_syslog = false;
			break;
		case OPT_INTERVAL:
			so.interval = (int)strnum_duration(optarg, 1,
			    7 * 86400, &errstr);
			if (errstr != NULL)
				usage_error("serve", "--interval %s: %s",
				    optarg, errstr);
			break;
		case OPT_STOP_TIMEOUT:
			so.stop_timeout = (int)strnum(optarg, 1, 3600, &errstr);
			if (errstr != NULL)
				usage_error("serve", "--stop-timeout %s: %s",
				    optarg, errstr);
			break;
		case OPT_METRICS_FILE:
			so.metrics_file = optarg;
			break;
		case 'h':
		case OPT_HELP:
			fputs(usage_serve, stdout);
			return 0;
		case ':':
			usage_error("serve", "option %s needs a value",
			    argv[optind - 1]);
		default:
			usage_error("serve", "unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		usage_error("serve", "unexpected argument '%s'", argv[optind]);

	memset(&sc, 0, sizeof(sc));
	sc.dest = LOG_TO_STDERR | (use_syslog ? LOG_TO_SYSLOG : 0);
	sc.verbosity = strcmp(level, "debug") == 0 || cli_verbose > 0 ? 1 : 0;
	log_init(sc.dest, sc.verbosity);
	/* --log-level filters every line (stderr, syslog, pass summaries);
	 * -v without it still means debug. */
	if (log_level_parse(level, &priority) == 0 &&
	    (strcmp(level, "info") != 0 || cli_verbose == 0))
		log_level_set(priority);
	/* Signals go to the signal thread only: block them before any thread
	 * starts (threads inherit the mask). */
	sigemptyset(&sc.set);
	sigaddset(&sc.set, SIGTERM);
	sigaddset(&sc.set, SIGINT);
	sigaddset(&sc.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sc.set, NULL);

	so.state_dir = cli_state_dir;
	so.pass_lines = strcmp(level, "error") == 0 ? 0 :
	    strcmp(level, "warning") == 0 ? 1 : 2;
	so.verbose = cli_verbose;
	/* The store and the lock file are opened as --user already, so
	 * every file in the state directory keeps that owner; root comes
	 * back only to bind the listener, then goes for good. */
	if (user != NULL && geteuid() == 0 && become_user(user, cli_state_dir,
	    true) == -1)
		goto out;
	if (sched_create(&sched, &so, &e) == -1) {
		fprintf(stderr, "mailpull: %s: %s\n", cli_state_dir,
		    err_msg(&e));
		goto out;
	}
	if (lock_state(cli_state_dir, &lockfd) == -1)
		goto out;
	if (user != NULL && getuid() == 0 && become_user(NULL, NULL, false) ==
	    -1)
		goto out;
#ifdef MAILPULL_HAVE_API
	memset(&ao, 0, sizeof(ao));
	ao.listen = listen;
	ao.state_dir = cli_state_dir;
	ao.check_now = sched_check_now;
	ao.metrics = sched_metrics_hook;
	ao.arg = sched;
	if (api_start(&api, &ao, &e) == -1) {
		fprintf(stderr, "mailpull: --listen %s: %s\n", listen,
		    err_msg(&e));
		goto out;
	}
#else
	log_debug("admin API not built in; --listen %s unused (metrics: "
	    "--metrics-file)", listen);
#endif
	if (user != NULL) {
		if (drop_privileges(user, cli_state_dir) == -1)
			goto out;
	} else if (geteuid() == 0 && !allow_root)
		log_warnx("running passes as root: use --user NAME (e.g. the "
		    "mail server's vmail user), or --allow-root to silence "
		    "this warning");
	if (sched_account_count(sched) == 0)
		log_info("no enabled accounts in %s yet; add one with "
		    "'mailpull --state %s account add ID --protocol pop3|imap "
		    "--host HOST --user NAME' (serve picks it up at once)",
		    cli_state_dir, cli_state_dir);
	sc.sched = sched;
	if (pthread_create(&sigthr, NULL, signal_main, &sc) != 0) {
		fprintf(stderr, "mailpull: cannot start the signal thread\n");
		goto out;
	}
	pthread_detach(sigthr);
	log_info("serve: state %s, pid %ld", cli_state_dir, (long)getpid());
	if (sched_run(sched, &e) == -1) {
		log_warnx("stopping: %s; exiting anyway (nothing is lost: "
		    "unfinished messages are fetched again)", err_msg(&e));
		err_clear(&e);
		_exit(1);
	}
	log_info("serve: stopped");
	rc = 0;
out:
#ifdef MAILPULL_HAVE_API
	api_stop(&api);
#endif
	sched_free(&sched);
	if (lockfd != -1)
		close(lockfd);
	err_clear(&e);
	return rc;
}
