/*
 * schedmath.c - the scheduler's arithmetic: backoff, jitter, start spread
 * (see sched.h). Pure functions, unit-tested alone.
 */
#include "common.h"

#include "sched/sched.h"

#define AUTH_BACKOFF_BASE	1800	/* 30 min */
#define AUTH_BACKOFF_CAP	21600	/* 6 h */
#define FAIL_BACKOFF_CAP	3600	/* 1 h, or the interval when longer */

int64_t
sched_backoff(enum err_class cls, int failures, int64_t ival)
{
	int64_t base, cap, d;
	int i;

	if (cls == ERR_AUTH) {
		base = AUTH_BACKOFF_BASE;
		cap = AUTH_BACKOFF_CAP;
	} else {
		base = ival;
		cap = MP_MAX(ival, FAIL_BACKOFF_CAP);
	}
	d = base;
	for (i = 1; i < failures && d < cap; i++)
		d *= 2;
	d = MP_MIN(d, cap);
	/* "Try later" (IN-USE, LOGIN-DELAY): never sooner than the
	 * interval. */
	if (cls == ERR_TEMP && d < ival)
		d = ival;
	return MP_MAX(d, 1);
}

int64_t
sched_jitter(int64_t v, int pct, uint32_t rnd)
{
	int64_t span = v * pct / 100;

	if (span <= 0)
		return v;
	return v - span + (int64_t)(rnd % (uint64_t)(2 * span + 1));
}

int64_t
sched_start_offset(size_t n, int64_t ival, uint32_t rnd)
{
	int64_t window;

	/* At most SCHED_START_RATE starts per second, within one interval. */
	window = (int64_t)(n * 1000 / SCHED_START_RATE);
	window = MP_MAX(window, 1000);
	window = MP_MIN(window, ival * 1000);
	return (int64_t)(rnd % (uint64_t)window);
}

bool
sched_check_due(int64_t checked_at, int64_t now)
{
	return checked_at <= 0 || now < checked_at ||
	    now - checked_at >= SCHED_CHECK_EVERY;
}
