/*
 * test_sched.c - the scheduler's arithmetic: backoff by class, caps,
 * jitter bounds, first-start spread.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sched/sched.h"

static void
test_backoff_doubles_from_interval(void **state)
{
	(void)state;
	assert_int_equal(sched_backoff(ERR_CONNECT, 1, 300), 300);
	assert_int_equal(sched_backoff(ERR_CONNECT, 2, 300), 600);
	assert_int_equal(sched_backoff(ERR_CONNECT, 3, 300), 1200);
	assert_int_equal(sched_backoff(ERR_CONNECT, 4, 300), 2400);
	/* capped at an hour */
	assert_int_equal(sched_backoff(ERR_CONNECT, 5, 300), 3600);
	assert_int_equal(sched_backoff(ERR_TLS, 1000, 300), 3600);
	assert_int_equal(sched_backoff(ERR_TIMEOUT, 1 << 30, 300), 3600);
	/* an interval longer than the cap is the cap */
	assert_int_equal(sched_backoff(ERR_PROTOCOL, 1, 7200), 7200);
	assert_int_equal(sched_backoff(ERR_PROTOCOL, 9, 7200), 7200);
	/* short test intervals */
	assert_int_equal(sched_backoff(ERR_CONNECT, 1, 2), 2);
	assert_int_equal(sched_backoff(ERR_CONNECT, 3, 2), 8);
}

static void
test_backoff_auth_is_long(void **state)
{
	(void)state;
	assert_int_equal(sched_backoff(ERR_AUTH, 1, 60), 1800);
	assert_int_equal(sched_backoff(ERR_AUTH, 2, 60), 3600);
	assert_int_equal(sched_backoff(ERR_AUTH, 4, 60), 14400);
	assert_int_equal(sched_backoff(ERR_AUTH, 5, 60), 21600);
	assert_int_equal(sched_backoff(ERR_AUTH, 50, 60), 21600);
	assert_int_equal(sched_backoff(ERR_AUTH, 1, 1), 1800);
}

static void
test_backoff_temp_at_least_interval(void **state)
{
	(void)state;
	assert_true(sched_backoff(ERR_TEMP, 1, 600) >= 600);
	assert_int_equal(sched_backoff(ERR_TEMP, 2, 600), 1200);
	assert_int_equal(sched_backoff(ERR_TEMP, 1, 1), 1);
}

static void
test_jitter_bounds(void **state)
{
	uint32_t r;
	int64_t v, lo = INT64_MAX, hi = INT64_MIN;

	(void)state;
	for (r = 0; r < 5000; r++) {
		v = sched_jitter(1000, 10, r * 2654435761u);
		assert_true(v >= 900 && v <= 1100);
		lo = MP_MIN(lo, v);
		hi = MP_MAX(hi, v);
	}
	assert_true(lo < 920 && hi > 1080);	/* really spread */
	assert_int_equal(sched_jitter(5, 10, 12345), 5);	/* span 0 */
	assert_int_equal(sched_jitter(0, 50, 7), 0);
	assert_int_equal(sched_jitter(100, 0, 7), 100);
}

/* 10,000 accounts on a 5-minute interval: spread over 200 s (50 per
 * second), no second with far more than its share. */
static void
test_start_spread(void **state)
{
	enum { N = 10000 };
	static unsigned per_sec[300];
	uint32_t x = 2463534242u;
	size_t i;
	int64_t off, maxoff = 0;
	unsigned worst = 0;

	(void)state;
	for (i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		off = sched_start_offset(N, 300, x);
		assert_true(off >= 0 && off < 300 * 1000);
		per_sec[off / 1000]++;
		maxoff = MP_MAX(maxoff, off);
	}
	assert_true(maxoff >= 190 * 1000 && maxoff < 200 * 1000);
	for (i = 0; i < 300; i++)
		worst = MP_MAX(worst, per_sec[i]);
	assert_true(worst < 100);	/* mean 50 */
	/* few accounts: within a second; never beyond one interval */
	assert_true(sched_start_offset(3, 300, 999999) < 1000);
	assert_true(sched_start_offset(1000000, 60, 0xffffffffu) < 60000);
}

static void
test_check_due_daily(void **state)
{
	int64_t t = 1700000000;

	(void)state;
	assert_true(sched_check_due(0, t));		/* never checked */
	assert_false(sched_check_due(t, t));
	assert_false(sched_check_due(t - SCHED_CHECK_EVERY + 1, t));
	assert_true(sched_check_due(t - SCHED_CHECK_EVERY, t));
	assert_true(sched_check_due(t - 10 * SCHED_CHECK_EVERY, t));
	assert_true(sched_check_due(t + 3600, t));	/* clock went back */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_doubles_from_interval),
		cmocka_unit_test(test_backoff_auth_is_long),
		cmocka_unit_test(test_backoff_temp_at_least_interval),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_start_spread),
		cmocka_unit_test(test_check_due_daily),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
