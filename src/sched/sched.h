/*
 * sched.h - the daemon's scheduler and worker pool (`mailpull serve`).
 *
 * Every enabled account is checked on its interval (the account's own or
 * the global setting "interval"). First checks after start are spread over
 * a window that grows with the number of accounts (at most SCHED_START_RATE
 * starts per second, never beyond one interval), later ones keep their
 * phase with a small jitter, so thousands of accounts never connect in the
 * same second. A pool of worker threads runs the passes, each worker with
 * its own store connection; at most "max-passes" run at once, and at most
 * "max-per-host" against one remote host. An account is never in two
 * passes at once (the scheduler's running flag; store_lock() guards across
 * processes).
 *
 * Failures back off exponentially per account: from the interval, doubling,
 * capped at max(interval, 1 h); authentication failures from 30 min to
 * 6 h (provider lockouts); a server's "try later" (IN-USE, LOGIN-DELAY,
 * SYS/TEMP: ERR_TEMP) waits at least the interval. An account busy in
 * another process is retried soon without counting as a failure. Status
 * (store/status.h) is written after every pass.
 *
 * The store's change counter is polled every second: an added, edited or
 * enabled account is checked at once; removed or disabled ones are
 * dropped. IMAP accounts with the idle option also hold an IDLE connection
 * in the watcher (idle.h); new mail there makes the account due at once.
 *
 * Threads: sched_run() is the scheduler loop (the caller's thread);
 * sched_stop(), sched_reload() and sched_check_now() may be called from any
 * thread (not from a signal handler).
 */
#ifndef MP_SCHED_H
#define MP_SCHED_H

#include "common.h"
#include "store/status.h"
#include "util/buf.h"
#include "util/err.h"

#define SCHED_START_RATE	50	/* first checks per second, at most */
#define SCHED_WORKERS_MAX	256

struct sched_opts {
	const char *state_dir;
	int interval;		/* seconds; 0: the "interval" setting */
	int stop_timeout;	/* seconds to let passes finish on stop */
	const char *metrics_file;	/* rewritten every 10 s, or NULL */
	int verbose;		/* wire traces in run logs */
	/* One stderr line per pass (the syslog line is pass_run()'s):
	 * 0 none, 1 failed passes, 2 every pass. */
	int pass_lines;
};

struct sched;

/* Open the scheduler's own store connection and read the settings. */
int sched_create(struct sched **, const struct sched_opts *, struct err *);
/*
 * Run until sched_stop(): start the workers (each opens its own store, so
 * call this after dropping privileges) and schedule. Returns 0 when every
 * pass finished within stop_timeout, -1 (err set) otherwise: the caller
 * should then exit without sched_free() (passes still hold the store).
 */
int sched_run(struct sched *, struct err *);
/* Ask passes to finish the message in flight, commit and log out. */
void sched_stop(struct sched *);
/* Re-read settings and accounts (SIGHUP). */
void sched_reload(struct sched *);
/* Check an account now (API hook: arg is the struct sched). */
void sched_check_now(void *arg, const char *account_id);
/* Prometheus text exposition (version 0.0.4). */
void sched_metrics(struct sched *, struct buf *out);
/* The same as an api_opts.metrics hook. */
void sched_metrics_hook(void *arg, struct buf *out);
void sched_free(struct sched **);

/* Number of enabled accounts known (for the "no accounts" hint). */
size_t sched_account_count(struct sched *);

/*
 * The scheduling arithmetic, exposed for unit tests. rnd is a uniformly
 * random 32-bit value.
 */
/* Delay in seconds before the next check after `failures` consecutive
 * failures (>= 1) of class cls, with interval ival; without jitter. */
int64_t sched_backoff(enum err_class cls, int failures, int64_t ival);
/* v +- v * pct / 100, spread by rnd. */
int64_t sched_jitter(int64_t v, int pct, uint32_t rnd);
/* Offset (ms) of the first check of account i of n after start. */
int64_t sched_start_offset(size_t n, int64_t ival, uint32_t rnd);
/* Is an account's recipient check (fetch/check.h) due after its pass?
 * Yes when never checked (checked_at 0), SCHED_CHECK_EVERY seconds or
 * more after the last one, or when the clock went back past it. */
#define SCHED_CHECK_EVERY	86400
bool sched_check_due(int64_t checked_at, int64_t now);

#endif
