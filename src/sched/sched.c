/*
 * sched.c - the scheduler and worker pool (see sched.h).
 *
 * One mutex guards the account table, the job queue and the metrics. The
 * scheduler thread scans the table (O(accounts) per wake-up: cheap next to
 * a pass even at 10,000 accounts), dispatches due accounts to the queue
 * within the caps, and sleeps until the earliest due time, a worker's
 * completion, a check-now request or the next one-second tick (change
 * counter, metrics file).
 */
#include "common.h"

#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fetch/check.h"
#include "fetch/pass.h"
#include "sched/idle.h"
#include "sched/sched.h"
#include "store/oauth.h"
#include "store/checks.h"
#include "store/lease.h"
#include "store/settings.h"
#include "store/status.h"
#include "store/store.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define TICK_MS			1000
#define METRICS_EVERY_MS	10000
#define BUSY_RETRY_S		30
#define IDLE_RETRY_MIN_S	60
/* Shared store: claim due accounts at least this often. */
#define CLAIM_EVERY_MS		1000
/* "Authorization needed": not due until authorized again (or checked by
 * hand); far enough to never come, small enough to add to. */
#define AUTH_NEEDED_DUE		(INT64_MAX / 4)

static const double delay_buckets[] = {
	0.1, 0.5, 1, 5, 10, 30, 60, 300, 900,
};
#define NBUCKETS MP_ARRAY_LEN(delay_buckets)

enum job_kind { JOB_PASS, JOB_IDLE };

struct sacct {
	char *id;
	char *host;		/* lower case */
	int64_t updated;
	bool enabled;
	bool imap;
	bool want_idle;		/* account option */
	int interval;		/* override, 0: global */
	int64_t due_ms;		/* monotonic; next check */
	int64_t sched_ms;	/* when the queued pass was due */
	bool running;		/* queued or in a pass */
	bool rerun;		/* check now requested while running */
	bool gone;		/* deleted while running */
	/* shared store */
	bool claimed;		/* lease claimed, pass not finished */
	int64_t token;		/* its fencing token */
	bool kick;		/* check now: tell the other nodes */
	bool spread;		/* claimed "at once": spread the next check */
	/* status */
	enum status_state state;
	int failures;
	int64_t failing_since;
	int64_t last_success;
	/* IDLE */
	enum { IDLE_OFF, IDLE_WANTED, IDLE_SETUP, IDLE_ACTIVE, IDLE_NONE }
	    idle;
	int64_t idle_retry_ms;
	int idle_failures;
};

struct job {
	enum job_kind kind;
	struct sacct *a;
};

struct hostcount {
	char *host;
	int n;
};

struct metrics {
	uint64_t passes[ERR__COUNT];
	uint64_t messages, bytes, delivered, delivery_failures;
	uint64_t parked, deferred;
	uint64_t scanned, spam, infected, quarantined, unscanned;
	uint64_t delay_bucket[NBUCKETS];
	uint64_t delay_count;
	double delay_sum;
	uint64_t idle_wakeups;
};

struct sched {
	struct sched_opts opts;
	char *state_dir;
	char *metrics_file;
	struct store *st;		/* the scheduler's own connection */
	pthread_mutex_t mu;
	pthread_cond_t cond;		/* scheduler wake-up */
	pthread_cond_t wcond;		/* workers */
	/* settings */
	int64_t ival;			/* seconds */
	int max_passes, max_per_host;
	int64_t changes;
	bool reload;
	/* accounts sorted by id */
	struct sacct **acc;
	size_t nacc;
	bool started;			/* first load done */
	/* pool */
	pthread_t *threads;
	size_t nthreads;
	struct job *queue;
	size_t qhead, qlen, qcap;
	int running;
	struct hostcount *hosts;
	size_t nhosts;
	volatile int cancel;
	bool stopping;
	int workers_alive;
	struct metrics m;
	struct idle *idle;
	/* shared store (several nodes): the schedule lives in the leases */
	bool shared;
	int lease_s;
	int64_t next_claim, next_renew;
	int waiting;			/* claimed, not yet dispatched */
	bool kicks;			/* some sacct has kick set */
	uint64_t claims, leases_lost;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- settings ---- */

static int64_t
setting_num(struct store *st, const char *key, int64_t def, int64_t min,
    int64_t max)
{
	char *v = NULL;
	const char *errstr;
	int64_t n = def;

	if (store_setting_get(st, key, &v, NULL) == 0 && v != NULL) {
		n = strnum_duration(v, min, max, &errstr);
		if (errstr != NULL) {
			log_warnx("setting %s %s: %s; using %lld", key, v,
			    errstr, (long long)def);
			n = def;
		}
	}
	free(v);
	return n;
}

static void
settings_read(struct sched *s)
{
	s->ival = s->opts.interval > 0 ? s->opts.interval :
	    setting_num(s->st, "interval", 300, 1, 7 * 86400);
	s->max_passes = (int)setting_num(s->st, "max-passes", 8, 1,
	    SCHED_WORKERS_MAX);
	s->max_per_host = (int)setting_num(s->st, "max-per-host", 4, 1,
	    100000);
	s->lease_s = (int)setting_num(s->st, "lease", LEASE_DEFAULT_S,
	    LEASE_MIN_S, 3600);
}

/* ---- account table ---- */

static int
acc_cmp(const void *x, const void *y)
{
	const struct sacct *const *a = x, *const *b = y;

	return strcmp((*a)->id, (*b)->id);
}

static struct sacct *
acc_find(struct sched *s, const char *id)
{
	struct sacct key, *kp = &key, **r;

	if (s->nacc == 0)
		return NULL;
	key.id = (char *)(uintptr_t)id;
	r = bsearch(&kp, s->acc, s->nacc, sizeof(*s->acc), acc_cmp);
	return r != NULL ? *r : NULL;
}

static void
sacct_free(struct sacct *a)
{
	free(a->id);
	free(a->host);
	free(a);
}

static char *
host_key(const char *h)
{
	char *k = xstrdup(h != NULL ? h : "");
	char *p;

	for (p = k; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return k;
}

static int64_t
acct_ival(const struct sched *s, const struct sacct *a)
{
	return a->interval > 0 ? a->interval : s->ival;
}

/* An OAuth2 account that cannot get a token without `account authorize`
 * (its refresh token was refused, or it never was authorized)? */
static bool
oauth_needed(struct store *st, const char *id)
{
	struct oauth_acct o;
	struct err e = { 0 };
	bool needed;

	memset(&o, 0, sizeof(o));
	if (store_oauth_get(st, id, &o, &e) == -1) {
		err_clear(&e);
		return false;	/* unknown: the pass will tell */
	}
	needed = o.oauth2 && o.state != OAUTH_TS_AUTHORIZED;
	oauth_acct_clear(&o);
	return needed;
}

/*
 * Read accounts and their status (outside the lock), then merge into the
 * table under it. New, edited and re-enabled accounts are due now (first
 * load: spread); the rest keep their schedule.
 */
static int
sched_load(struct sched *s, struct err *e)
{
	struct account *list = NULL;
	struct acct_status *stv = NULL;
	size_t n = 0, nst = 0, i, j = 0, nn = 0, nenabled = 0;
	struct sacct **nv;
	bool *authorized;
	int64_t now = now_ms(), wall = (int64_t)time(NULL);
	/* shared store: edits to make due (id, updated; 0: at once) */
	struct {
		char *id;
		int64_t updated;
	} *due = NULL;
	size_t ndue = 0;

	if (store_account_list(s->st, &list, &n, e) == -1)
		return -1;
	if (store_status_list(s->st, &stv, &nst, e) == -1) {
		store_account_list_free(&list, n);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (list[i].enabled)
			nenabled++;
	/* Accounts parked in "authorization needed": authorized again (the
	 * change that brought us here may be `account authorize`)? Only
	 * those rows are looked at. */
	authorized = xcalloc(n + 1, sizeof(*authorized));
	for (i = 0, j = 0; i < n; i++) {
		while (j < nst && strcmp(stv[j].account, list[i].id) < 0)
			j++;
		if (j < nst && strcmp(stv[j].account, list[i].id) == 0 &&
		    stv[j].state == STATUS_AUTH_NEEDED)
			authorized[i] = !oauth_needed(s->st, list[i].id);
	}
	j = 0;
	nv = xcalloc(n + s->nacc + 1, sizeof(*nv));
	if (s->shared)
		due = xcalloc(n + 1, sizeof(*due));
	pthread_mutex_lock(&s->mu);
	settings_read(s);
	for (i = 0; i < n; i++) {
		const struct account *la = &list[i];
		const struct acct_status *ss = NULL;
		struct sacct *a;
		bool isnew = false, changed = false;

		while (j < nst && strcmp(stv[j].account, la->id) < 0)
			j++;
		if (j < nst && strcmp(stv[j].account, la->id) == 0)
			ss = &stv[j];
		a = acc_find(s, la->id);
		if (a == NULL) {
			a = xcalloc(1, sizeof(*a));
			a->id = xstrdup(la->id);
			isnew = true;
		} else {
			changed = a->updated != la->updated ||
			    a->enabled != la->enabled ||
			    (ss != NULL && (a->interval != ss->interval ||
			    a->want_idle != ss->idle));
		}
		free(a->host);
		a->host = host_key(la->host);
		a->updated = la->updated;
		a->enabled = la->enabled;
		a->imap = la->proto == ACCT_IMAP;
		a->interval = ss != NULL ? ss->interval : 0;
		a->want_idle = ss != NULL && ss->idle && a->imap;
		a->gone = false;
		if (isnew && !s->started) {
			/* Daemon start: spread, but keep a stored backoff. */
			a->due_ms = now + sched_start_offset(nenabled,
			    acct_ival(s, a), randombytes_random());
			if (ss != NULL) {
				a->state = ss->state;
				a->failures = ss->consecutive_failures;
				a->failing_since = ss->failing_since;
				a->last_success = ss->last_success;
				if (a->failures > 0 && ss->next_check > wall)
					a->due_ms = now + (ss->next_check -
					    wall) * 1000;
				if (a->state == STATUS_AUTH_NEEDED &&
				    !authorized[i])
					a->due_ms = AUTH_NEEDED_DUE;
			}
		} else if (isnew || changed) {
			/* Added or edited: check now, forget the backoff. */
			if (!isnew)
				log_info("%s: account changed, checking now",
				    a->id);
			if (s->shared && !isnew) {
				due[ndue].id = xstrdup(a->id);
				due[ndue++].updated = la->updated;
			}
			a->due_ms = now;
			a->failures = 0;
			if (a->running)
				a->rerun = true;
			if (ss != NULL && isnew) {
				a->state = ss->state;
				a->last_success = ss->last_success;
			}
		} else if (a->state == STATUS_AUTH_NEEDED && authorized[i] &&
		    a->due_ms >= AUTH_NEEDED_DUE) {
			log_info("%s: authorized again, checking now", a->id);
			a->due_ms = now;
			a->failures = 0;
			if (s->shared) {
				due[ndue].id = xstrdup(a->id);
				due[ndue++].updated = 0;
			}
		}
		if (a->want_idle && a->enabled) {
			if (a->idle == IDLE_OFF || (changed &&
			    a->idle == IDLE_NONE)) {
				a->idle = IDLE_WANTED;
				a->idle_retry_ms = a->due_ms;
			}
		} else if (a->idle != IDLE_OFF) {
			if (a->idle == IDLE_ACTIVE && s->idle != NULL)
				idle_forget(s->idle, a->id);
			if (a->idle != IDLE_SETUP)
				a->idle = IDLE_OFF;
		}
		nv[nn++] = a;
	}
	/* Accounts deleted: drop, or keep until their pass ends. */
	for (i = 0; i < s->nacc; i++) {
		struct sacct *a = s->acc[i];
		bool found = false;
		size_t lo = 0, hi = n;

		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = strcmp(list[mid].id, a->id);

			if (c == 0) {
				found = true;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (found)
			continue;
		if (a->idle == IDLE_ACTIVE && s->idle != NULL)
			idle_forget(s->idle, a->id);
		if (a->running || a->claimed || a->idle == IDLE_SETUP) {
			a->gone = true;
			a->enabled = false;
			nv[nn++] = a;
		} else
			sacct_free(a);
	}
	free(s->acc);
	s->acc = nv;
	s->nacc = nn;
	qsort(s->acc, s->nacc, sizeof(*s->acc), acc_cmp);
	s->started = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	store_account_list_free(&list, n);
	store_status_list_free(&stv, nst);
	free(authorized);
	if (s->shared) {
		/* New accounts get a lease row, due at once; edits are made
		 * due once, by whichever node notices first. */
		if (store_lease_sync(s->st, e) == -1)
			log_warnx("%s", err_msg(e));
		err_clear(e);
		for (i = 0; i < ndue; i++) {
			if (store_lease_due_now(s->st, due[i].id,
			    due[i].updated, e) == -1) {
				log_warnx("%s", err_msg(e));
				err_clear(e);
			}
			free(due[i].id);
		}
		free(due);
		pthread_mutex_lock(&s->mu);
		s->next_claim = 0;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->mu);
	}
	return 0;
}

size_t
sched_account_count(struct sched *s)
{
	size_t i, n = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nacc; i++)
		if (s->acc[i]->enabled)
			n++;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- host caps (under the lock) ---- */

static struct hostcount *
host_get(struct sched *s, const char *host)
{
	size_t i;

	for (i = 0; i < s->nhosts; i++)
		if (strcmp(s->hosts[i].host, host) == 0)
			return &s->hosts[i];
	return NULL;
}

static void
host_add(struct sched *s, const char *host, int d)
{
	struct hostcount *h = host_get(s, host);

	if (h == NULL) {
		if (d < 0)
			return;
		s->hosts = xreallocarray(s->hosts, s->nhosts + 1,
		    sizeof(*s->hosts));
		h = &s->hosts[s->nhosts++];
		h->host = xstrdup(host);
		h->n = 0;
	}
	h->n += d;
	if (h->n <= 0) {
		free(h->host);
		*h = s->hosts[--s->nhosts];
	}
}

/* ---- queue (under the lock) ---- */

static void
queue_push(struct sched *s, enum job_kind kind, struct sacct *a)
{
	if (s->qlen == s->qcap) {
		struct job *nq;
		size_t i, ncap = s->qcap == 0 ? 16 : s->qcap * 2;

		nq = xcalloc(ncap, sizeof(*nq));
		for (i = 0; i < s->qlen; i++)
			nq[i] = s->queue[(s->qhead + i) % s->qcap];
		free(s->queue);
		s->queue = nq;
		s->qcap = ncap;
		s->qhead = 0;
	}
	s->queue[(s->qhead + s->qlen) % s->qcap] = (struct job){ kind, a };
	s->qlen++;
	pthread_cond_signal(&s->wcond);
}

static bool
queue_pop(struct sched *s, struct job *j)
{
	if (s->qlen == 0)
		return false;
	*j = s->queue[s->qhead];
	s->qhead = (s->qhead + 1) % s->qcap;
	s->qlen--;
	return true;
}

/* ---- passes ---- */

static void
metrics_delay(struct sched *s, int64_t delay_ms)
{
	double d = (double)MP_MAX(delay_ms, 0) / 1000.0;
	size_t i;

	for (i = 0; i < NBUCKETS; i++)
		if (d <= delay_buckets[i])
			s->m.delay_bucket[i]++;
	s->m.delay_count++;
	s->m.delay_sum += d;
}

static enum status_state
state_for(enum err_class cls)
{
	if (cls == ERR_NONE)
		return STATUS_OK;
	if (cls == ERR_AUTH)
		return STATUS_AUTH_FAILING;
	return STATUS_FAILING;
}

/* `account check` for id when the last one is a day old (check.h). */
static void
run_check(struct store *st, const char *id)
{
	struct account_check c;
	struct check_result res;
	struct account a;
	struct err e = { 0 };

	if (store_check_get(st, id, &c, &e) == -1) {
		log_warnx("%s: recipient check: %s", id, err_msg(&e));
		err_clear(&e);
		return;
	}
	if (!sched_check_due(c.checked_at, (int64_t)time(NULL))) {
		account_check_clear(&c);
		return;
	}
	account_check_clear(&c);
	memset(&res, 0, sizeof(res));
	account_init(&a);
	if (store_account_get(st, id, &a, &e) == -1 ||
	    check_account_run(st, &a, &res, &e) == -1)
		log_warnx("%s: recipient check: %s", id, err_msg(&e));
	else if (res.ngone > 0)
		log_warnx("%s: recipient check: %zu of %zu local recipients "
		    "gone at %s ('mailpull account check %s')", id, res.ngone,
		    res.n, res.target, id);
	else
		log_info("%s: recipient check: %zu ok, %zu unknown", id,
		    res.n - res.nunknown, res.nunknown);
	check_result_clear(&res);
	account_clear(&a);
	err_clear(&e);
}

static void
run_pass(struct sched *s, struct store *st, struct sacct *sa)
{
	struct account a;
	struct pass_opts po;
	struct pass_result res;
	struct acct_status rec;
	struct err e = { 0 };
	int64_t start, end, ival, delay_s = 0, wall, next_ms = 0;
	char *id;
	bool counted = true, needed = false, shared;
	int64_t token = 0;

	pthread_mutex_lock(&s->mu);
	id = xstrdup(sa->id);
	start = now_ms();
	metrics_delay(s, start - sa->sched_ms);
	shared = s->shared;
	token = sa->token;
	pthread_mutex_unlock(&s->mu);
	if (shared) {
		/* Another node may have run the last passes: continue its
		 * backoff, not ours. */
		struct acct_status cur;

		memset(&cur, 0, sizeof(cur));
		if (store_status_get(st, id, &cur, &e) == 0) {
			pthread_mutex_lock(&s->mu);
			sa->state = cur.state;
			sa->failures = cur.consecutive_failures;
			sa->failing_since = cur.failing_since;
			sa->last_success = cur.last_success;
			pthread_mutex_unlock(&s->mu);
		}
		status_clear(&cur);
		err_clear(&e);
	}

	memset(&res, 0, sizeof(res));
	account_init(&a);
	if (store_account_get(st, id, &a, &e) == -1) {
		/* Deleted since: nothing to do. */
		res.cls = ERR_CONFIG;
		res.msg = xstrdup(err_msg(&e));
		counted = false;
	} else if (!a.enabled) {
		res.cls = ERR_NONE;
		counted = false;
	} else {
		memset(&po, 0, sizeof(po));
		po.wait_lock = false;
		po.verbose = s->opts.verbose;
		po.cancel = &s->cancel;
		(void)pass_run(st, &a, &po, &res);
	}
	err_clear(&e);
	account_clear(&a);
	/* Refused for good by the OAuth2 provider: park until authorized. */
	if (counted && res.cls == ERR_AUTH)
		needed = oauth_needed(st, id);
	end = now_ms();
	wall = (int64_t)time(NULL);

	memset(&rec, 0, sizeof(rec));
	pthread_mutex_lock(&s->mu);
	ival = acct_ival(s, sa);
	if (counted) {
		s->m.passes[res.cls < ERR__COUNT ? res.cls : ERR_INTERNAL]++;
		s->m.messages += res.fetched;
		s->m.bytes += res.bytes;
		s->m.delivered += res.delivered;
		s->m.delivery_failures += res.failed;
		s->m.parked += res.parked;
		s->m.deferred += res.deferred;
		s->m.scanned += res.scanned;
		s->m.spam += res.spam;
		s->m.infected += res.infected;
		s->m.quarantined += res.quarantined;
		s->m.unscanned += res.unscanned;
	}
	if (res.lease_lost)
		s->leases_lost++;
	if (!counted) {
		sa->due_ms = end + ival * 1000;
	} else if (res.cls == ERR_BUSY) {
		/* Another process (a manual fetch) has it: soon again. */
		sa->due_ms = end + MP_MIN(ival, BUSY_RETRY_S) * 1000;
		counted = false;
	} else if (s->stopping && res.cls == ERR_TEMP) {
		/* Cancelled by our own shutdown: not the server's fault. */
		counted = false;
	} else if (res.cls == ERR_NONE) {
		int64_t next = sa->sched_ms + sched_jitter(ival * 1000, 2,
		    randombytes_random());

		/*
		 * Shared store: accounts added in bulk are all due at once
		 * and would stay bunched (the single-node start spreads them
		 * instead); their next check is one to one and a half
		 * intervals later, so they spread without ever coming twice
		 * in one interval.
		 */
		if (shared && sa->spread)
			next = end + ival * 1000 + (int64_t)
			    randombytes_uniform((uint32_t)MP_MAX(ival * 500, 1));
		sa->spread = false;

		sa->failures = 0;
		sa->failing_since = 0;
		sa->last_success = wall;
		sa->state = STATUS_OK;
		sa->due_ms = MP_MAX(next, end + 1000);
	} else if (needed) {
		sa->failures++;
		if (sa->failing_since == 0)
			sa->failing_since = wall;
		if (sa->state != STATUS_AUTH_NEEDED)
			log_warnx("%s: OAuth2 authorization needed; not checked "
			    "again until 'mailpull account authorize %s'",
			    sa->id, sa->id);
		sa->state = STATUS_AUTH_NEEDED;
		sa->due_ms = AUTH_NEEDED_DUE;
	} else {
		sa->failures++;
		if (sa->failing_since == 0)
			sa->failing_since = wall;
		sa->state = state_for(res.cls);
		delay_s = sched_jitter(sched_backoff(res.cls, sa->failures,
		    ival), 10, randombytes_random());
		sa->due_ms = end + delay_s * 1000;
		if (s->opts.pass_lines >= 1)
			fprintf(stderr, "mailpull: %s: %s error: %s; failure "
			    "%d, next check in %llds\n", sa->id,
			    err_class_name(res.cls), res.msg != NULL ?
			    res.msg : "", sa->failures, (long long)delay_s);
	}
	if (counted && res.cls == ERR_NONE && s->opts.pass_lines >= 2)
		fprintf(stderr, "mailpull: %s: ok: %lu new, %lu delivered, "
		    "%llu bytes, %lu deleted in %lld ms (started %lld ms "
		    "late)\n", sa->id, res.fetched, res.delivered,
		    (unsigned long long)res.bytes, res.deleted,
		    (long long)(end - start),
		    (long long)MP_MAX(0, start - sa->sched_ms));
	if (sa->rerun) {
		sa->rerun = false;
		sa->due_ms = end;
	}
	if (shared) {
		/* The lease's due time is the schedule all nodes follow. */
		next_ms = sa->due_ms >= AUTH_NEEDED_DUE ?
		    (int64_t)365 * 86400 * 1000 : sa->due_ms - end;
	}
	if (counted) {
		rec.account = id;
		rec.state = sa->state;
		rec.failing_since = sa->failing_since;
		rec.consecutive_failures = sa->failures;
		rec.last_success = sa->last_success;
		rec.last_attempt = wall;
		rec.next_check = sa->due_ms >= AUTH_NEEDED_DUE ? 0 :
		    wall + (sa->due_ms - end + 999) / 1000;
		rec.last_error = res.cls != ERR_NONE ? res.msg : NULL;
		rec.last_class = res.cls != ERR_NONE ?
		    (char *)(uintptr_t)err_class_name(res.cls) : NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (counted && store_status_record(st, &rec, &e) == -1) {
		log_warnx("%s: cannot record the status: %s", id, err_msg(&e));
		err_clear(&e);
	}
	if (shared && store_lease_release(st, id, token, next_ms, &e) == -1) {
		/* It expires by itself; the next node runs it then. */
		log_warnx("%s", err_msg(&e));
		err_clear(&e);
	}
	/* Once a day per account: do its local recipients still exist? */
	if (counted)
		run_check(st, id);
	pass_result_clear(&res);
	free(id);
}

/* ---- IDLE ---- */

static void
on_idle_event(void *arg, const char *id, enum idle_event ev)
{
	struct sched *s = arg;
	struct sacct *a;
	int64_t now = now_ms();

	pthread_mutex_lock(&s->mu);
	if ((a = acc_find(s, id)) != NULL && !a->gone) {
		if (ev == IDLE_EV_NEWMAIL) {
			s->m.idle_wakeups++;
			log_debug("%s: IDLE: new mail, checking now", id);
			if (s->shared) {
				a->kick = true;
				s->kicks = true;
			} else if (a->running)
				a->rerun = true;
			else if (a->state != STATUS_AUTH_NEEDED &&
			    (a->failures == 0 || a->due_ms > now))
				a->due_ms = now;
		} else if (a->idle == IDLE_ACTIVE) {
			/* Connection lost: set it up again after a while. */
			a->idle = a->want_idle && a->enabled ? IDLE_WANTED :
			    IDLE_OFF;
			a->idle_retry_ms = now + IDLE_RETRY_MIN_S * 1000;
		}
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

static void
run_idle_setup(struct sched *s, struct store *st, struct sacct *sa)
{
	struct account a;
	struct err e = { 0 };
	char *id;
	int r;

	pthread_mutex_lock(&s->mu);
	id = xstrdup(sa->id);
	pthread_mutex_unlock(&s->mu);
	account_init(&a);
	if (store_account_get(st, id, &a, &e) == -1)
		r = -1;
	else if (s->shared && (r = store_lease_idle_claim(st, id, s->lease_s,
	    &e)) != 1)
		r = r == 0 ? 2 : -1;	/* 2: another node watches it */
	else
		r = idle_add(s->idle, st, &a, &e);
	pthread_mutex_lock(&s->mu);
	if (r == 2) {
		/* Watched by another node; take over if its lease ends. */
		sa->idle = IDLE_WANTED;
		sa->idle_retry_ms = now_ms() + (int64_t)s->lease_s * 1000 +
		    (int64_t)(randombytes_random() % 1000);
	} else if (r == 0) {
		sa->idle = IDLE_ACTIVE;
		sa->idle_failures = 0;
		log_info("%s: IDLE: watching for new mail", id);
	} else if (r == 1) {
		sa->idle = IDLE_NONE;
		log_info("%s: IDLE not offered by the server; polling every "
		    "%llds", id, (long long)acct_ival(s, sa));
	} else {
		int64_t d;

		sa->idle_failures++;
		d = sched_jitter(sched_backoff(e.cls, sa->idle_failures,
		    MP_MAX(acct_ival(s, sa), IDLE_RETRY_MIN_S)), 10,
		    randombytes_random());
		sa->idle = IDLE_WANTED;
		sa->idle_retry_ms = now_ms() + d * 1000;
		log_info("%s: IDLE setup failed (%s: %s); polling, next "
		    "attempt in %llds", id, err_class_name(e.cls), err_msg(&e),
		    (long long)d);
	}
	if (sa->gone || !sa->want_idle || !sa->enabled) {
		if (sa->idle == IDLE_ACTIVE)
			idle_forget(s->idle, id);
		sa->idle = IDLE_OFF;
	}
	pthread_mutex_unlock(&s->mu);
	account_clear(&a);
	err_clear(&e);
	free(id);
}

/* ---- workers ---- */

static void *
worker_main(void *arg)
{
	struct sched *s = arg;
	struct store *st = NULL;
	struct err e = { 0 };
	struct job j;

	if (store_open(&st, s->state_dir, &e) == -1) {
		log_warnx("worker: cannot open the store: %s", err_msg(&e));
		err_clear(&e);
	}
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->stopping && s->qlen == 0)
			pthread_cond_wait(&s->wcond, &s->mu);
		if (s->stopping)
			break;
		if (!queue_pop(s, &j))
			continue;
		pthread_mutex_unlock(&s->mu);
		if (st == NULL && store_open(&st, s->state_dir, &e) == -1) {
			log_warnx("worker: cannot open the store: %s",
			    err_msg(&e));
			err_clear(&e);
			sleep(1);
		} else if (j.kind == JOB_PASS)
			run_pass(s, st, j.a);
		else
			run_idle_setup(s, st, j.a);
		pthread_mutex_lock(&s->mu);
		if (j.kind == JOB_PASS) {
			j.a->running = false;
			j.a->claimed = false;
			s->running--;
			host_add(s, j.a->host, -1);
			s->next_claim = 0;	/* a slot is free */
		} else if (j.a->idle == IDLE_SETUP)
			j.a->idle = IDLE_WANTED;
		pthread_cond_broadcast(&s->cond);
	}
	s->workers_alive--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
	store_close(&st);
	return NULL;
}

static void
workers_grow(struct sched *s, size_t want)
{
	pthread_attr_t at;

	pthread_attr_init(&at);
	/* Passes need little stack; 10,000 accounts need few threads. */
	pthread_attr_setstacksize(&at, 512 * 1024);
	while (s->nthreads < want) {
		s->threads = xreallocarray(s->threads, s->nthreads + 1,
		    sizeof(*s->threads));
		if (pthread_create(&s->threads[s->nthreads], &at, worker_main,
		    s) != 0) {
			log_warn("cannot start a worker");
			break;
		}
		s->nthreads++;
		s->workers_alive++;
	}
	pthread_attr_destroy(&at);
}

/* ---- the scheduler loop ---- */

struct cand {
	int64_t due;
	struct sacct *a;
};

static int
cand_cmp(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;

	return a->due < b->due ? -1 : a->due > b->due;
}

/* Dispatch due accounts within the caps; returns the next wake-up. Under
 * the lock. */
static int64_t
dispatch(struct sched *s, int64_t now, int64_t wake)
{
	static struct cand *c;
	static size_t ccap;
	size_t i, nc = 0;
	int idle_setups = 0;

	if (ccap < s->nacc) {
		ccap = s->nacc;
		c = xreallocarray(c, ccap, sizeof(*c));
	}
	for (i = 0; i < s->nacc; i++) {
		struct sacct *a = s->acc[i];

		if (s->shared && a->claimed && !a->running) {
			/* Claimed: run it, even if disabled or deleted
			 * since (the pass sees that and gives it back). */
			c[nc++] = (struct cand){ a->sched_ms, a };
			continue;
		}
		if (!a->enabled || a->gone)
			continue;
		if (a->idle == IDLE_WANTED && s->idle != NULL) {
			if (a->idle_retry_ms <= now && idle_setups < 4) {
				/* Set-ups share the pool but not the caps:
				 * at most a few queued per round. */
				a->idle = IDLE_SETUP;
				idle_setups++;
				queue_push(s, JOB_IDLE, a);
			} else if (a->idle_retry_ms > now)
				wake = MP_MIN(wake, a->idle_retry_ms);
			else
				wake = MP_MIN(wake, now + 100);
		}
		if (a->running || s->shared)
			continue;
		if (a->due_ms <= now)
			c[nc++] = (struct cand){ a->due_ms, a };
		else
			wake = MP_MIN(wake, a->due_ms);
	}
	if (nc == 0)
		return wake;
	qsort(c, nc, sizeof(*c), cand_cmp);
	for (i = 0; i < nc && s->running < s->max_passes; i++) {
		struct sacct *a = c[i].a;
		struct hostcount *h = host_get(s, a->host);

		if (h != NULL && h->n >= s->max_per_host)
			continue;	/* woken when a pass ends */
		a->running = true;
		if (s->shared)
			s->waiting--;
		else
			a->sched_ms = a->due_ms;
		s->running++;
		host_add(s, a->host, 1);
		queue_push(s, JOB_PASS, a);
	}
	return wake;
}

/*
 * Shared store (under the lock, dropped for the database): pass on check-now
 * requests, renew our leases, and claim due accounts for the free slots.
 * Returns the next wake-up.
 */
static int64_t
shared_round(struct sched *s, int64_t now, int64_t wake)
{
	struct lease_claim *v = NULL;
	struct err e = { 0 };
	char **kick = NULL;
	struct lease_claim *back = NULL;
	size_t i, n = 0, nkick = 0, nback = 0, want = 0;
	bool renew, claim;
	int busy = s->running + s->waiting;

	if (s->kicks) {
		kick = xcalloc(s->nacc + 1, sizeof(*kick));
		for (i = 0; i < s->nacc; i++)
			if (s->acc[i]->kick) {
				s->acc[i]->kick = false;
				kick[nkick++] = xstrdup(s->acc[i]->id);
			}
		s->kicks = false;
	}
	renew = now >= s->next_renew;
	if (busy < s->max_passes)
		want = (size_t)(s->max_passes - busy);
	claim = !s->stopping && s->started && want > 0 &&
	    (now >= s->next_claim || nkick > 0);
	if (!renew && !claim && nkick == 0)
		return MP_MIN(wake, MP_MIN(s->next_renew, want > 0 ?
		    s->next_claim : s->next_renew));
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < nkick; i++) {
		if (store_lease_due_now(s->st, kick[i], 0, &e) == -1) {
			log_warnx("%s", err_msg(&e));
			err_clear(&e);
		}
		free(kick[i]);
	}
	free(kick);
	if (renew && store_lease_renew(s->st, s->lease_s, &e) == -1) {
		log_warnx("%s", err_msg(&e));
		err_clear(&e);
	}
	if (claim && store_lease_claim(s->st, want, s->lease_s, &v, &n,
	    &e) == -1) {
		log_warnx("%s", err_msg(&e));
		err_clear(&e);
	}
	pthread_mutex_lock(&s->mu);
	now = now_ms();
	if (renew)
		s->next_renew = now + (int64_t)s->lease_s * 1000 / 3;
	if (claim)
		s->next_claim = now + CLAIM_EVERY_MS;
	for (i = 0; i < n; i++) {
		struct sacct *a = acc_find(s, v[i].account);

		if (a == NULL || a->claimed || a->running) {
			/* Not loaded yet (added a moment ago): give it
			 * back due, and load. */
			if (back == NULL)
				back = xcalloc(n, sizeof(*back));
			back[nback].account = xstrdup(v[i].account);
			back[nback++].token = v[i].token;
			if (a == NULL)
				s->reload = true;
			continue;
		}
		a->claimed = true;
		a->token = v[i].token;
		a->sched_ms = now - MP_MAX(v[i].late_ms, 0);
		a->spread = v[i].late_ms < 0;
		s->waiting++;
		s->claims++;
	}
	store_lease_claims_free(&v, n);
	if (nback > 0) {
		pthread_mutex_unlock(&s->mu);
		for (i = 0; i < nback; i++)
			if (store_lease_release(s->st, back[i].account,
			    back[i].token, 0, &e) == -1) {
				log_warnx("%s", err_msg(&e));
				err_clear(&e);
			}
		store_lease_claims_free(&back, nback);
		pthread_mutex_lock(&s->mu);
	}
	return MP_MIN(wake, MP_MIN(s->next_renew, s->next_claim));
}

static void
metrics_file_write(struct sched *s)
{
	struct buf b;
	char *tmp;
	FILE *f;

	buf_init(&b, (size_t)256 << 20);
	sched_metrics(s, &b);
	tmp = xasprintf("%s.tmp", s->metrics_file);
	if ((f = fopen(tmp, "w")) == NULL) {
		log_warn("metrics file %s", tmp);
	} else {
		if (fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0)
			log_warn("writing the metrics file %s", tmp);
		else if (rename(tmp, s->metrics_file) == -1)
			log_warn("renaming %s", tmp);
	}
	free(tmp);
	buf_free(&b);
}

static void
cond_wait_until(struct sched *s, int64_t wake_ms)
{
	struct timespec ts;
	int64_t now = now_ms(), left;

	if (wake_ms <= now)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	left = wake_ms - now;
	ts.tv_sec += left / 1000;
	ts.tv_nsec += (left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	(void)pthread_cond_timedwait(&s->cond, &s->mu, &ts);
}

int
sched_run(struct sched *s, struct err *e)
{
	int64_t next_tick = 0, next_metrics = 0, now, wake, changes, limit;
	bool reload;
	struct err le = { 0 };

	if (idle_start(&s->idle, on_idle_event, s, e) == -1)
		return -1;
	pthread_mutex_lock(&s->mu);
	workers_grow(s, (size_t)s->max_passes + 2);
	while (!s->stopping) {
		now = now_ms();
		if (now >= next_tick) {
			reload = s->reload;
			s->reload = false;
			pthread_mutex_unlock(&s->mu);
			if (store_change_get(s->st, &changes, &le) == -1) {
				log_warnx("reading the change counter: %s",
				    err_msg(&le));
				err_clear(&le);
			} else if (reload || changes != s->changes) {
				s->changes = changes;
				if (sched_load(s, &le) == -1) {
					log_warnx("reloading accounts: %s",
					    err_msg(&le));
					err_clear(&le);
				}
			}
			pthread_mutex_lock(&s->mu);
			/* max-passes may have grown; idle set-ups need 2. */
			workers_grow(s, (size_t)s->max_passes + 2);
			now = now_ms();
			next_tick = now + TICK_MS;
		}
		if (s->metrics_file != NULL && now >= next_metrics) {
			pthread_mutex_unlock(&s->mu);
			metrics_file_write(s);
			pthread_mutex_lock(&s->mu);
			next_metrics = now + METRICS_EVERY_MS;
		}
		wake = MP_MIN(next_tick, s->metrics_file != NULL ?
		    next_metrics : next_tick);
		if (s->shared)
			wake = shared_round(s, now, wake);
		wake = dispatch(s, now_ms(), wake);
		if (!s->stopping)
			cond_wait_until(s, wake);
	}
	/* Stopping: drop queued work, let passes finish within the bound. */
	while (s->qlen > 0) {
		struct job j;

		(void)queue_pop(s, &j);
		if (j.kind == JOB_PASS) {
			j.a->running = false;
			s->running--;
			host_add(s, j.a->host, -1);
		}
	}
	pthread_cond_broadcast(&s->wcond);
	limit = now_ms() + (int64_t)s->opts.stop_timeout * 1000;
	if (s->running > 0)
		log_info("stopping: waiting for %d passes to finish",
		    s->running);
	while (s->workers_alive > 0 && now_ms() < limit)
		cond_wait_until(s, MP_MIN(limit, now_ms() + 200));
	if (s->workers_alive > 0) {
		pthread_mutex_unlock(&s->mu);
		return err_set(e, ERR_TIMEOUT, "%d passes did not finish "
		    "within %d s", s->running, s->opts.stop_timeout);
	}
	if (s->shared) {
		/* Claimed but not run: free for the other nodes now. */
		for (size_t i = 0; i < s->nacc; i++) {
			struct sacct *a = s->acc[i];

			if (!a->claimed || a->running)
				continue;
			a->claimed = false;
			if (store_lease_release(s->st, a->id, a->token, 0,
			    &le) == -1) {
				log_warnx("%s", err_msg(&le));
				err_clear(&le);
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	idle_stop(&s->idle);
	if (s->metrics_file != NULL)
		metrics_file_write(s);
	return 0;
}

void
sched_stop(struct sched *s)
{
	pthread_mutex_lock(&s->mu);
	__atomic_store_n(&s->cancel, 1, __ATOMIC_RELAXED);	/* pass.h */
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_cond_broadcast(&s->wcond);
	pthread_mutex_unlock(&s->mu);
}

void
sched_reload(struct sched *s)
{
	pthread_mutex_lock(&s->mu);
	s->reload = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void
sched_check_now(void *arg, const char *id)
{
	struct sched *s = arg;
	struct sacct *a;

	pthread_mutex_lock(&s->mu);
	if ((a = acc_find(s, id)) != NULL && a->enabled && s->shared) {
		/* Whichever node claims it first runs it. */
		a->kick = true;
		s->kicks = true;
	} else if (a != NULL && a->enabled) {
		if (a->running)
			a->rerun = true;
		else
			a->due_ms = now_ms();
	} else
		s->reload = true;	/* maybe just added: reload first */
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

/* ---- metrics ---- */

static void
label_value(struct buf *out, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			(void)buf_printf(out, "\\%c", *v);
		else if (*v == '\n')
			(void)buf_adds(out, "\\n");
		else
			(void)buf_add(out, v, 1);
	}
}

void
sched_metrics(struct sched *s, struct buf *out)
{
	size_t i, nstate[STATUS_DISABLED + 1] = { 0 };
	uint64_t cum = 0;

	pthread_mutex_lock(&s->mu);
	(void)buf_adds(out, "# HELP mailpull_passes_total Account passes "
	    "run, by result class.\n# TYPE mailpull_passes_total counter\n");
	for (i = 0; i < ERR__COUNT; i++)
		(void)buf_printf(out, "mailpull_passes_total{result=\"%s\"} "
		    "%llu\n", err_class_name((enum err_class)i),
		    (unsigned long long)s->m.passes[i]);
	(void)buf_printf(out,
	    "# HELP mailpull_messages_fetched_total Messages retrieved.\n"
	    "# TYPE mailpull_messages_fetched_total counter\n"
	    "mailpull_messages_fetched_total %llu\n"
	    "# HELP mailpull_messages_delivered_total Messages newly "
	    "delivered.\n"
	    "# TYPE mailpull_messages_delivered_total counter\n"
	    "mailpull_messages_delivered_total %llu\n"
	    "# HELP mailpull_bytes_fetched_total Message bytes retrieved.\n"
	    "# TYPE mailpull_bytes_fetched_total counter\n"
	    "mailpull_bytes_fetched_total %llu\n"
	    "# HELP mailpull_delivery_failures_total Messages not delivered "
	    "(retried or parked).\n"
	    "# TYPE mailpull_delivery_failures_total counter\n"
	    "mailpull_delivery_failures_total %llu\n"
	    "# HELP mailpull_messages_parked_total Messages refused for "
	    "good, kept on the server and parked.\n"
	    "# TYPE mailpull_messages_parked_total counter\n"
	    "mailpull_messages_parked_total %llu\n"
	    "# HELP mailpull_messages_deferred_total Messages refused for "
	    "now, kept on the server for the next pass.\n"
	    "# TYPE mailpull_messages_deferred_total counter\n"
	    "mailpull_messages_deferred_total %llu\n"
	    "# HELP mailpull_idle_wakeups_total New-mail notifications "
	    "from IMAP IDLE.\n"
	    "# TYPE mailpull_idle_wakeups_total counter\n"
	    "mailpull_idle_wakeups_total %llu\n"
	    "# HELP mailpull_passes_running Passes running now.\n"
	    "# TYPE mailpull_passes_running gauge\n"
	    "mailpull_passes_running %d\n"
	    "# HELP mailpull_idle_connections IMAP IDLE connections held.\n"
	    "# TYPE mailpull_idle_connections gauge\n"
	    "mailpull_idle_connections %zu\n",
	    (unsigned long long)s->m.messages,
	    (unsigned long long)s->m.delivered,
	    (unsigned long long)s->m.bytes,
	    (unsigned long long)s->m.delivery_failures,
	    (unsigned long long)s->m.parked,
	    (unsigned long long)s->m.deferred,
	    (unsigned long long)s->m.idle_wakeups, s->running,
	    s->idle != NULL ? idle_count(s->idle) : (size_t)0);
	if (s->shared)
		(void)buf_printf(out,
		    "# HELP mailpull_lease_claims_total Accounts this node "
		    "claimed from the shared store.\n"
		    "# TYPE mailpull_lease_claims_total counter\n"
		    "mailpull_lease_claims_total %llu\n"
		    "# HELP mailpull_leases_lost_total Passes that found their "
		    "lease taken over and deleted nothing.\n"
		    "# TYPE mailpull_leases_lost_total counter\n"
		    "mailpull_leases_lost_total %llu\n",
		    (unsigned long long)s->claims,
		    (unsigned long long)s->leases_lost);
	(void)buf_printf(out,
	    "# HELP mailpull_messages_scanned_total Messages checked by the "
	    "spam or virus scanner.\n"
	    "# TYPE mailpull_messages_scanned_total counter\n"
	    "mailpull_messages_scanned_total %llu\n"
	    "# HELP mailpull_messages_spam_total Messages judged spam.\n"
	    "# TYPE mailpull_messages_spam_total counter\n"
	    "mailpull_messages_spam_total %llu\n"
	    "# HELP mailpull_messages_infected_total Messages with a virus.\n"
	    "# TYPE mailpull_messages_infected_total counter\n"
	    "mailpull_messages_infected_total %llu\n"
	    "# HELP mailpull_messages_quarantined_total Messages kept in the "
	    "quarantine.\n"
	    "# TYPE mailpull_messages_quarantined_total counter\n"
	    "mailpull_messages_quarantined_total %llu\n"
	    "# HELP mailpull_messages_unscanned_total Messages a scanner "
	    "could not check (held, or delivered under --scanner-down "
	    "pass).\n"
	    "# TYPE mailpull_messages_unscanned_total counter\n"
	    "mailpull_messages_unscanned_total %llu\n",
	    (unsigned long long)s->m.scanned, (unsigned long long)s->m.spam,
	    (unsigned long long)s->m.infected,
	    (unsigned long long)s->m.quarantined,
	    (unsigned long long)s->m.unscanned);
	(void)buf_adds(out, "# HELP mailpull_queue_delay_seconds How late "
	    "passes start versus their schedule.\n"
	    "# TYPE mailpull_queue_delay_seconds histogram\n");
	for (i = 0; i < NBUCKETS; i++) {
		cum = s->m.delay_bucket[i];
		(void)buf_printf(out, "mailpull_queue_delay_seconds_bucket"
		    "{le=\"%g\"} %llu\n", delay_buckets[i],
		    (unsigned long long)cum);
	}
	(void)buf_printf(out, "mailpull_queue_delay_seconds_bucket"
	    "{le=\"+Inf\"} %llu\nmailpull_queue_delay_seconds_sum %.3f\n"
	    "mailpull_queue_delay_seconds_count %llu\n",
	    (unsigned long long)s->m.delay_count, s->m.delay_sum,
	    (unsigned long long)s->m.delay_count);
	for (i = 0; i < s->nacc; i++) {
		const struct sacct *a = s->acc[i];

		if (a->gone)
			continue;
		nstate[a->enabled ? a->state : STATUS_DISABLED]++;
	}
	(void)buf_adds(out, "# HELP mailpull_accounts Accounts by state.\n"
	    "# TYPE mailpull_accounts gauge\n");
	for (i = 0; i <= STATUS_DISABLED; i++)
		(void)buf_printf(out, "mailpull_accounts{state=\"%s\"} %zu\n",
		    status_state_name((enum status_state)i), nstate[i]);
	(void)buf_printf(out, "# HELP mailpull_accounts_authorization_needed "
	    "OAuth2 accounts waiting for 'mailpull account authorize'.\n"
	    "# TYPE mailpull_accounts_authorization_needed gauge\n"
	    "mailpull_accounts_authorization_needed %zu\n",
	    nstate[STATUS_AUTH_NEEDED]);
	(void)buf_adds(out, "# HELP mailpull_account_last_success_timestamp"
	    "_seconds Last successful pass (0: never).\n"
	    "# TYPE mailpull_account_last_success_timestamp_seconds gauge\n");
	for (i = 0; i < s->nacc; i++) {
		if (s->acc[i]->gone)
			continue;
		(void)buf_adds(out, "mailpull_account_last_success_timestamp_"
		    "seconds{account=\"");
		label_value(out, s->acc[i]->id);
		(void)buf_printf(out, "\"} %lld\n",
		    (long long)s->acc[i]->last_success);
	}
	(void)buf_adds(out, "# HELP mailpull_account_consecutive_failures "
	    "Failed passes in a row.\n"
	    "# TYPE mailpull_account_consecutive_failures gauge\n");
	for (i = 0; i < s->nacc; i++) {
		if (s->acc[i]->gone)
			continue;
		(void)buf_adds(out, "mailpull_account_consecutive_failures"
		    "{account=\"");
		label_value(out, s->acc[i]->id);
		(void)buf_printf(out, "\"} %d\n", s->acc[i]->failures);
	}
	pthread_mutex_unlock(&s->mu);
}

void
sched_metrics_hook(void *arg, struct buf *out)
{
	sched_metrics(arg, out);
}

/* ---- life cycle ---- */

int
sched_create(struct sched **s_r, const struct sched_opts *o, struct err *e)
{
	struct sched *s;
	pthread_condattr_t ca;

	*s_r = NULL;
	s = xcalloc(1, sizeof(*s));
	s->opts = *o;
	s->state_dir = xstrdup(o->state_dir);
	s->opts.state_dir = s->state_dir;
	if (o->metrics_file != NULL)
		s->metrics_file = xstrdup(o->metrics_file);
	s->opts.metrics_file = s->metrics_file;
	if (s->opts.stop_timeout <= 0)
		s->opts.stop_timeout = 30;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_cond_init(&s->wcond, &ca);
	pthread_condattr_destroy(&ca);
	if (store_open(&s->st, s->state_dir, e) == -1) {
		sched_free(&s);
		return -1;
	}
	s->shared = store_shared();
	if (s->shared) {
		char *t = NULL;

		log_info("shared store: node %s; accounts are claimed with "
		    "leases", store_node_id());
		if (store_setting_get(s->st, "target", &t, NULL) == 0 &&
		    t == NULL)
			log_warnx("shared store, but the default target is "
			    "this node's %s/mail: accounts without --target "
			    "deliver to whichever node runs them; set a path "
			    "all nodes share ('mailpull config set target "
			    "maildir:/shared/%%u/Maildir') or an lmtp: target",
			    s->state_dir);
		free(t);
	}
	if (store_change_get(s->st, &s->changes, e) == -1 ||
	    sched_load(s, e) == -1) {
		sched_free(&s);
		return -1;
	}
	*s_r = s;
	return 0;
}

void
sched_free(struct sched **sp)
{
	struct sched *s = *sp;
	size_t i;

	if (s == NULL)
		return;
	idle_stop(&s->idle);
	for (i = 0; i < s->nacc; i++)
		sacct_free(s->acc[i]);
	free(s->acc);
	for (i = 0; i < s->nhosts; i++)
		free(s->hosts[i].host);
	free(s->hosts);
	free(s->queue);
	free(s->threads);
	store_close(&s->st);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->wcond);
	pthread_mutex_destroy(&s->mu);
	free(s->metrics_file);
	free(s->state_dir);
	free(s);
	*sp = NULL;
}
