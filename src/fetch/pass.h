/*
 * pass.h - one account pass: connect, authenticate, list, fetch each new
 * message into the spool, deliver, commit, and only then delete.
 *
 * The no-loss invariant of DESIGN.md lives here and nowhere else: this is
 * the only code that issues destructive commands, and it does so only for
 * messages whose delivery is durable in the target and recorded durably in
 * the store.
 */
#ifndef MP_PASS_H
#define MP_PASS_H

#include "common.h"
#include "store/account.h"
#include "store/store.h"
#include "util/err.h"

/* Progress of a pass, for a terminal display. total_* are 0 until known. */
struct pass_progress {
	const char *account;
	const char *phase;	/* "connecting", "listing", "fetching", ... */
	unsigned long done, total;	/* messages */
	uint64_t bytes, total_bytes;
};
typedef void (*pass_progress_fn)(void *arg, const struct pass_progress *);

struct pass_opts {
	pass_progress_fn progress;	/* may be NULL */
	void *progress_arg;
	bool wait_lock;			/* wait for a busy account */
	int verbose;			/* 1: wire trace in the run log */
	/* When *cancel becomes non-zero (a signal, the daemon stopping), the
	 * pass finishes the message in flight, commits, says QUIT/LOGOUT and
	 * returns (ERR_TEMP "cancelled"). May be NULL. Read without a
	 * lock, so another thread sets it with __atomic_store_n(). */
	const volatile int *cancel;
};

#define PASS_PROBLEMS_MAX 100

struct pass_result {
	enum err_class cls;	/* ERR_NONE when the pass fully succeeded */
	char *msg;		/* first error, one line (NULL when ok) */
	unsigned long on_server;	/* messages listed */
	unsigned long fetched;		/* retrieved this pass */
	unsigned long delivered;	/* newly delivered */
	unsigned long deleted;		/* DELE/EXPUNGE confirmed */
	unsigned long kept;		/* left on the server on purpose */
	unsigned long failed;		/* not delivered (retry or parked) */
	unsigned long skipped;		/* left for a later pass (max-per-pass) */
	unsigned long parked;		/* refused permanently: kept, parked */
	unsigned long deferred;		/* temporary refusal: kept for retry */
	/* spam and virus checks (src/filter/; 0 when the account has none) */
	unsigned long scanned;		/* checked by a scanner */
	unsigned long spam;		/* judged spam */
	unsigned long infected;		/* a virus found */
	unsigned long quarantined;	/* kept in the quarantine */
	unsigned long unscanned;	/* scanner down: held or passed */
	char **problems;		/* one line per message not delivered */
	size_t nproblems;		/* (at most PASS_PROBLEMS_MAX) */
	uint64_t bytes;			/* message bytes fetched */
	int64_t elapsed_ms;
	bool lease_lost;	/* shared store: another node took the account
				 * over; nothing was deleted after that */
};

/*
 * Run one pass of account a (as stored; its password is read from st).
 * Always writes a run log to the store and a summary line to syslog.
 * Returns 0 when the pass succeeded, -1 otherwise; res is filled either way
 * and must be released with pass_result_clear().
 */
int pass_run(struct store *st, const struct account *a,
    const struct pass_opts *opts, struct pass_result *res);
void pass_result_clear(struct pass_result *);

#endif
