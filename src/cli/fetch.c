/*
 * fetch.c - `mailpull fetch` (one pass over some or all accounts, several
 * at once) and `mailpull log`. The pass itself is fetch/pass.c's.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
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

#include "cli/cli.h"
#include "store/settings.h"
#include "store/status.h"

static void record_status(struct store *, const char *,
    const struct pass_result *);

static const char usage_fetch[] =
"usage: mailpull fetch [--no-wait] [--parallel N] [--per-host N] [ID...]\n"
"\n"
"Run one pass over the given accounts, or every enabled account.\n"
"Passes of several accounts run at once: at most --parallel of them\n"
"(default: the max-passes setting, 8), and at most --per-host toward one\n"
"remote host (default: the max-per-host setting, 4). --parallel 1 runs\n"
"them one after another.\n"
"One summary line per account as its pass ends (failures on stderr). On a\n"
"terminal, progress is shown: per account when one pass runs at a time,\n"
"else one line for all (accounts done, messages, passes running).\n"
"SIGINT or SIGTERM: running passes finish the message in flight, commit\n"
"and log out, accounts not started are left; a second signal stops at\n"
"once. Exit status 0 when every account succeeded, 1 otherwise.\n"
"  --no-wait       report an account busy in another pass instead of\n"
"                  waiting\n"
"  --parallel N    passes at once, 1-256\n"
"  --per-host N    passes at once toward one remote host\n";

static const char usage_log[] =
"usage: mailpull log ID [-n N]\n"
"\n"
"Print the last N run logs of an account, newest first (default 3; at\n"
"most 20 are kept).\n";

/* ---- fetch ---- */

/*
 * Several accounts: a pool of worker threads, each with its own store
 * connection (as serve's workers), takes the accounts in list order within
 * two caps: passes at once, and passes at once toward one remote host
 * (lower-cased host name, as serve counts it). pass_run() is the same as
 * for one account; it keeps its state in its own context, and what it
 * shares across threads (the TLS contexts and sessions, GMime, the log)
 * is made for serve's threads.
 *
 * One mutex guards the queue, the counters and the output: a pass's
 * summary lines and the terminal's progress line are written under it, so
 * lines never interleave. Signals are taken by one thread with sigwait(),
 * so no pass sees EINTR.
 */

#define FETCH_PARALLEL_MAX	256	/* serve's SCHED_WORKERS_MAX */
#define FETCH_PER_HOST_MAX	100000	/* the max-per-host setting's bound */
#define FETCH_STACK_SIZE	(512 * 1024)	/* serve's worker stack */
#define FETCH_DRAW_MS		100	/* progress redraw, at most */
#define FETCH_NONE		SIZE_MAX

struct fetch_run;

struct fetch_job {
	struct fetch_run *run;
	const struct account *a;
	size_t host;		/* index in run->hosts */
	size_t next;		/* the next pending job toward that host */
	unsigned long done;	/* messages so far (progress) */
	uint64_t bytes;
};

struct fetch_host {
	char *name;		/* lower case */
	size_t head, tail;	/* pending jobs, in list order */
	int running;
};

enum fetch_show {
	SHOW_NONE,		/* not a terminal */
	SHOW_ACCOUNT,		/* one pass at a time: its own progress */
	SHOW_TOTAL,		/* passes at once: one line for all */
};

struct fetch_run {
	pthread_mutex_t mu;
	pthread_cond_t cond;	/* a pass ended, or cancelled */
	struct fetch_job *jobs;
	size_t njobs, pending;
	struct fetch_host *hosts;
	size_t nhosts;
	int per_host, running;
	/* what every pass gets */
	const char *state_dir;
	bool wait_lock;
	int verbose;
	volatile int cancel;	/* set under mu, atomically: pass_run()
				 * polls it without mu */
	enum fetch_show show;	/* set before the threads start */
	/* output and totals, under mu */
	bool shown;		/* a progress line is on the terminal */
	int64_t drawn_ms;
	size_t finished;
	int failed;
	unsigned long messages;	/* fetched by ended passes + running ones */
	uint64_t bytes;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under mu. */
static void
progress_clear(struct fetch_run *r)
{
	if (!r->shown)
		return;
	fputs("\r\033[K", stdout);
	fflush(stdout);
	r->shown = false;
}

/* The line for all passes: "12/200 accounts, 840 messages (7.1 MB), 3
 * running". Under mu. */
static void
progress_total(struct fetch_run *r, bool force)
{
	int64_t now = mono_ms();
	char b[32];

	if (r->show != SHOW_TOTAL || (!force && now - r->drawn_ms <
	    FETCH_DRAW_MS))
		return;
	r->drawn_ms = now;
	printf("\r\033[K%zu/%zu accounts", r->finished, r->njobs);
	if (r->failed > 0)
		printf(" (%d failed)", r->failed);
	printf(", %lu messages (%s), %d running", r->messages,
	    fmt_bytes(r->bytes, b, sizeof(b)), r->running);
	if (r->cancel)
		fputs(", stopping", stdout);
	fflush(stdout);
	r->shown = true;
}

static void
on_progress(void *arg, const struct pass_progress *p)
{
	struct fetch_job *j = arg;
	struct fetch_run *r = j->run;
	char b1[32], b2[32];

	pthread_mutex_lock(&r->mu);
	r->messages += p->done - j->done;
	r->bytes += p->bytes - j->bytes;
	j->done = p->done;
	j->bytes = p->bytes;
	if (r->show == SHOW_TOTAL) {
		progress_total(r, false);
	} else if (r->show == SHOW_ACCOUNT) {
		if (p->total > 0 || p->done > 0)
			printf("\r\033[K%s: %s %lu/%lu messages, %s of %s",
			    p->account, p->phase, p->done, p->total,
			    fmt_bytes(p->bytes, b1, sizeof(b1)),
			    fmt_bytes(p->total_bytes, b2, sizeof(b2)));
		else
			printf("\r\033[K%s: %s...", p->account, p->phase);
		fflush(stdout);
		r->shown = true;
	}
	pthread_mutex_unlock(&r->mu);
}

/* A pass's summary: built first, written whole under mu. */
static void
report(struct fetch_run *r, struct fetch_job *j, int rc,
    const struct pass_result *res)
{
	const char *id = j->a->id;
	struct buf out, err;
	char b[32];
	size_t k;

	buf_init(&out, 64 * 1024);
	buf_init(&err, 64 * 1024);
	if (rc == 0) {
		(void)buf_printf(&out, "%s: %lu new messages delivered (%s), "
		    "%lu deleted, %lu kept on the server", id, res->delivered,
		    fmt_bytes(res->bytes, b, sizeof(b)), res->deleted,
		    res->kept);
		if (res->skipped > 0)
			(void)buf_printf(&out, ", %lu left for the next pass",
			    res->skipped);
		(void)buf_printf(&out, " [%.1f s]\n",
		    res->elapsed_ms / 1000.0);
	} else {
		(void)buf_printf(&err, "mailpull: %s: %s error: %s\n", id,
		    err_class_name(res->cls), res->msg != NULL ? res->msg :
		    "failed");
		for (k = 0; k < res->nproblems; k++)
			(void)buf_printf(&err, "mailpull: %s: %s\n", id,
			    res->problems[k]);
		if (res->parked + res->deferred > res->nproblems)
			(void)buf_printf(&err, "mailpull: %s: (and %lu more "
			    "not delivered; see mailpull log %s)\n", id,
			    res->parked + res->deferred - res->nproblems, id);
		if (res->delivered > 0)
			(void)buf_printf(&out, "%s: %lu new messages delivered "
			    "before the error\n", id, res->delivered);
	}
	pthread_mutex_lock(&r->mu);
	progress_clear(r);
	if (err.len > 0) {
		fwrite(err.data, 1, err.len, stderr);
		fflush(stderr);
	}
	if (out.len > 0) {
		fwrite(out.data, 1, out.len, stdout);
		fflush(stdout);
	}
	r->messages += res->fetched - j->done;
	r->bytes += res->bytes - j->bytes;
	j->done = res->fetched;
	j->bytes = res->bytes;
	r->finished++;
	if (rc != 0)
		r->failed++;
	pthread_mutex_unlock(&r->mu);
	buf_free(&out);
	buf_free(&err);
}

static void
job_run(struct fetch_run *r, struct store *st, const char *why,
    struct fetch_job *j)
{
	struct pass_opts po;
	struct pass_result res;
	int rc;

	memset(&po, 0, sizeof(po));
	po.progress = r->show != SHOW_NONE ? on_progress : NULL;
	po.progress_arg = j;
	po.wait_lock = r->wait_lock;
	po.verbose = r->verbose;
	po.cancel = &r->cancel;
	if (st == NULL) {
		memset(&res, 0, sizeof(res));
		res.cls = ERR_LOCAL;
		res.msg = xasprintf("cannot open the state in %s: %s",
		    r->state_dir, why);
		rc = -1;
	} else
		rc = pass_run(st, j->a, &po, &res);
	report(r, j, rc, &res);
	/* Stopped by our own signal: not the account's failure (as serve). */
	if (st != NULL && !(res.cls == ERR_TEMP &&
	    __atomic_load_n(&r->cancel, __ATOMIC_RELAXED)))
		record_status(st, j->a->id, &res);
	pass_result_clear(&res);
}

/* The next job to start, under mu: the first pending one in list order
 * whose host is under its cap; NULL when none may start now. */
static struct fetch_job *
job_take(struct fetch_run *r)
{
	struct fetch_host *h, *best = NULL;
	struct fetch_job *j;
	size_t i;

	for (i = 0; i < r->nhosts; i++) {
		h = &r->hosts[i];
		if (h->head == FETCH_NONE || h->running >= r->per_host)
			continue;
		if (best == NULL || h->head < best->head)
			best = h;
	}
	if (best == NULL)
		return NULL;
	j = &r->jobs[best->head];
	best->head = j->next;
	if (best->head == FETCH_NONE)
		best->tail = FETCH_NONE;
	best->running++;
	r->pending--;
	r->running++;
	return j;
}

static void
jobs_work(struct fetch_run *r, struct store *st, const char *why)
{
	struct fetch_job *j;

	pthread_mutex_lock(&r->mu);
	while (!r->cancel && r->pending > 0) {
		if ((j = job_take(r)) == NULL) {
			pthread_cond_wait(&r->cond, &r->mu);
			continue;
		}
		progress_total(r, true);
		pthread_mutex_unlock(&r->mu);
		job_run(r, st, why, j);
		pthread_mutex_lock(&r->mu);
		r->hosts[j->host].running--;
		r->running--;
		progress_total(r, true);
		pthread_cond_broadcast(&r->cond);
	}
	pthread_mutex_unlock(&r->mu);
}

static void *
worker_main(void *arg)
{
	struct fetch_run *r = arg;
	struct store *st = NULL;
	struct err e = { 0 };

	/* Failing here fails the accounts this worker takes, with the
	 * reason, rather than leaving them to no one. */
	(void)store_open(&st, r->state_dir, &e);
	jobs_work(r, st, err_msg(&e));
	store_close(&st);
	err_clear(&e);
	return NULL;
}

static void *
signal_main(void *arg)
{
	struct fetch_run *r = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		pthread_mutex_lock(&r->mu);
		progress_clear(r);
		if (r->cancel) {
			/* The second one: stop at once, as without this
			 * thread. Nothing is lost: what was not recorded as
			 * delivered is fetched again. */
			fflush(stdout);
			signal(sig, SIG_DFL);
			pthread_sigmask(SIG_UNBLOCK, &set, NULL);
			raise(sig);
			_exit(128 + sig);
		}
		/* Atomic: pass_run() polls it without the lock. */
		__atomic_store_n(&r->cancel, 1, __ATOMIC_RELAXED);
		fprintf(stderr, "mailpull: %s: finishing the messages in "
		    "flight (%d passes); again to stop at once\n",
		    sig == SIGINT ? "SIGINT" : "SIGTERM", r->running);
		fflush(stderr);
		progress_total(r, true);
		pthread_cond_broadcast(&r->cond);
		pthread_mutex_unlock(&r->mu);
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	}
	return NULL;
}

/* A count setting (max-passes, max-per-host), clamped to max. */
static int
setting_count(struct store *st, const char *key, int def, int max)
{
	struct err e = { 0 };
	const char *errstr;
	char *v = NULL;
	long long n = def;

	if (store_setting_get(st, key, &v, &e) == 0 && v != NULL) {
		n = strnum(v, 1, FETCH_PER_HOST_MAX, &errstr);
		if (errstr != NULL) {
			log_warnx("setting %s %s: %s; using %d", key, v,
			    errstr, def);
			n = def;
		}
	}
	free(v);
	err_clear(&e);
	return (int)MP_MIN(n, max);
}

struct host_ref {
	char *name;
	size_t job;
};

static int
host_ref_cmp(const void *x, const void *y)
{
	const struct host_ref *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return a->job < b->job ? -1 : a->job > b->job;
}

/* The hosts of the jobs and each host's pending list, in list order. */
static void
hosts_build(struct fetch_run *r)
{
	struct host_ref *v;
	struct fetch_host *h;
	size_t i;
	char *p;

	if (r->njobs == 0)
		return;
	v = xcalloc(r->njobs, sizeof(*v));
	for (i = 0; i < r->njobs; i++) {
		v[i].name = xstrdup(r->jobs[i].a->host != NULL ?
		    r->jobs[i].a->host : "");
		for (p = v[i].name; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		v[i].job = i;
	}
	qsort(v, r->njobs, sizeof(*v), host_ref_cmp);
	r->hosts = xcalloc(r->njobs, sizeof(*r->hosts));
	for (i = 0; i < r->njobs; i++) {
		if (i == 0 || strcmp(v[i].name,
		    r->hosts[r->nhosts - 1].name) != 0) {
			h = &r->hosts[r->nhosts++];
			h->name = v[i].name;
			h->head = h->tail = FETCH_NONE;
		} else
			free(v[i].name);
		r->jobs[v[i].job].host = r->nhosts - 1;
	}
	free(v);
	for (i = 0; i < r->njobs; i++) {
		h = &r->hosts[r->jobs[i].host];
		r->jobs[i].next = FETCH_NONE;
		if (h->tail == FETCH_NONE)
			h->head = i;
		else
			r->jobs[h->tail].next = i;
		h->tail = i;
	}
	r->pending = r->njobs;
}

/* Workers worth starting: no more than the caps let run at once. */
static size_t
workers_wanted(const struct fetch_run *r, int parallel)
{
	size_t i, n = 0, per;
	size_t *count = xcalloc(r->nhosts + 1, sizeof(*count));

	for (i = 0; i < r->njobs; i++)
		count[r->jobs[i].host]++;
	for (i = 0; i < r->nhosts; i++) {
		per = MP_MIN(count[i], (size_t)r->per_host);
		n += per;
	}
	free(count);
	return MP_MIN(n, (size_t)parallel);
}

/* Run the jobs: in this thread with st when one worker is enough, else in
 * a pool. Signals are taken by their own thread either way. */
static void
jobs_run(struct fetch_run *r, struct store *st, int parallel)
{
	pthread_t *thr = NULL, sigthr;
	pthread_attr_t at;
	sigset_t set, old;
	size_t want, n = 0, i;
	bool sig_thread;

	want = workers_wanted(r, parallel);
	/* Before any thread starts: they read it. */
	if (r->show != SHOW_NONE)
		r->show = want > 1 ? SHOW_TOTAL : SHOW_ACCOUNT;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	sig_thread = pthread_create(&sigthr, NULL, signal_main, r) == 0;
	if (!sig_thread)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (want > 1) {
		thr = xcalloc(want, sizeof(*thr));
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, FETCH_STACK_SIZE);
		for (n = 0; n < want; n++)
			if (pthread_create(&thr[n], &at, worker_main, r) != 0) {
				log_warn("cannot start a worker thread");
				break;
			}
		pthread_attr_destroy(&at);
	}
	if (n == 0)
		jobs_work(r, st, NULL);
	for (i = 0; i < n; i++)
		pthread_join(thr[i], NULL);
	free(thr);
	if (sig_thread) {
		pthread_cancel(sigthr);
		pthread_join(sigthr, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_mutex_lock(&r->mu);
	progress_clear(r);
	pthread_mutex_unlock(&r->mu);
}

int
cmd_fetch(int argc, char **argv)
{
	struct store *st;
	struct account *list = NULL, one;
	struct fetch_run r;
	struct err e = { 0 };
	const char *errstr;
	size_t n = 0, i;
	int c, failed = 0, parallel = 0, per_host = 0;
	bool wait = true;
	enum { OPT_PARALLEL = 256, OPT_PER_HOST };
	static const struct option opts[] = {
		{ "no-wait", no_argument, NULL, 'n' },
		{ "parallel", required_argument, NULL, OPT_PARALLEL },
		{ "per-host", required_argument, NULL, OPT_PER_HOST },
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
		case OPT_PARALLEL:
			parallel = (int)strnum(optarg, 1, FETCH_PARALLEL_MAX,
			    &errstr);
			if (errstr != NULL)
				usage_error("fetch", "--parallel %s: %s (1-%d)",
				    optarg, errstr, FETCH_PARALLEL_MAX);
			break;
		case OPT_PER_HOST:
			per_host = (int)strnum(optarg, 1, FETCH_PER_HOST_MAX,
			    &errstr);
			if (errstr != NULL)
				usage_error("fetch", "--per-host %s: %s",
				    optarg, errstr);
			break;
		case 'h':
			fputs(usage_fetch, stdout);
			return 0;
		case ':':
			usage_error("fetch", "option %s needs a value",
			    argv[optind - 1]);
		default:
			usage_error("fetch", "unknown option %s",
			    argv[optind - 1]);
		}
	}
	st = cli_open_store();
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
	if (parallel == 0)
		parallel = setting_count(st, "max-passes", 8,
		    FETCH_PARALLEL_MAX);
	if (per_host == 0)
		per_host = setting_count(st, "max-per-host", 4,
		    FETCH_PER_HOST_MAX);

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cond, NULL);
	r.state_dir = cli_state_dir;
	r.wait_lock = wait;
	r.verbose = cli_verbose;
	r.per_host = per_host;
	r.show = isatty(STDOUT_FILENO) ? SHOW_ACCOUNT : SHOW_NONE;
	r.jobs = xcalloc(n + 1, sizeof(*r.jobs));
	for (i = 0; i < n; i++) {
		if (list[i].id == NULL)
			continue;
		if (optind >= argc && !list[i].enabled)
			continue;
		r.jobs[r.njobs].run = &r;
		r.jobs[r.njobs].a = &list[i];
		r.njobs++;
	}
	hosts_build(&r);
	if (r.njobs > 0)
		jobs_run(&r, st, parallel);
	failed += r.failed;
	if (r.pending > 0) {
		fprintf(stderr, "mailpull: interrupted: %zu of %zu accounts "
		    "not started\n", r.pending, r.njobs);
		failed++;
	}
	if (optind >= argc && r.njobs == 0 && failed == 0)
		printf("no enabled accounts in %s; add one with:\n"
		    "  mailpull --state %s account add you@example.org "
		    "--protocol pop3 --host pop.example.org --user you\n",
		    cli_state_dir, cli_state_dir);
	for (i = 0; i < r.nhosts; i++)
		free(r.hosts[i].name);
	free(r.hosts);
	free(r.jobs);
	pthread_cond_destroy(&r.cond);
	pthread_mutex_destroy(&r.mu);
	store_account_list_free(&list, n);
	store_close(&st);
	err_clear(&e);
	return failed > 0 ? 1 : 0;
}

/* A manual pass counts for the account's status as a scheduled one does
 * (state, last success, failures), so `account show` tells the truth. */
static void
record_status(struct store *st, const char *id, const struct pass_result *r)
{
	struct acct_status cur;
	struct err e = { 0 };
	int64_t now = time(NULL);

	if (r->cls == ERR_BUSY)
		return;
	memset(&cur, 0, sizeof(cur));
	if (store_status_get(st, id, &cur, &e) == -1)
		goto out;
	if (r->cls == ERR_NONE) {
		cur.state = STATUS_OK;
		cur.failing_since = 0;
		cur.consecutive_failures = 0;
		cur.last_success = now;
		free(cur.last_error);
		free(cur.last_class);
		cur.last_error = cur.last_class = NULL;
	} else {
		/* An OAuth2 account waiting for `account authorize` stays
		 * parked for serve; another auth failure changes nothing. */
		if (!(cur.state == STATUS_AUTH_NEEDED && r->cls == ERR_AUTH))
			cur.state = r->cls == ERR_AUTH ? STATUS_AUTH_FAILING :
			    STATUS_FAILING;
		if (cur.failing_since == 0)
			cur.failing_since = now;
		cur.consecutive_failures++;
		free(cur.last_error);
		free(cur.last_class);
		cur.last_error = xstrdup(r->msg != NULL ? r->msg : "failed");
		cur.last_class = xstrdup(err_class_name(r->cls));
	}
	cur.last_attempt = now;
	if (cur.account == NULL)
		cur.account = xstrdup(id);
	(void)store_status_record(st, &cur, &e);
out:
	if (e.msg != NULL)
		log_debug("%s: status not recorded: %s", id, err_msg(&e));
	status_clear(&cur);
	err_clear(&e);
}

/* ---- log ---- */

int
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
	st = cli_open_store();
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

