#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/strnum.h"

struct num_case {
	const char *s;
	long long min, max;
	long long want;
	const char *err;	/* NULL: success */
};

static const struct num_case cases[] = {
	{ "0", 0, 10, 0, NULL },
	{ "10", 0, 10, 10, NULL },
	{ "11", 0, 10, 0, "too large" },
	{ "5", 6, 10, 0, "too small" },
	{ "007", 0, 10, 7, NULL },
	{ "-1", 0, 10, 0, "invalid" },
	{ "-1", -5, 10, -1, NULL },
	{ "-5", -5, 10, -5, NULL },
	{ "-6", -5, 10, 0, "too small" },
	{ "-0", -5, 10, 0, NULL },
	{ "", 0, 10, 0, "invalid" },
	{ "-", -5, 10, 0, "invalid" },
	{ "+1", 0, 10, 0, "invalid" },
	{ " 1", 0, 10, 0, "invalid" },
	{ "1 ", 0, 10, 0, "invalid" },
	{ "12a", 0, 100, 0, "invalid" },
	{ "0x10", 0, 100, 0, "invalid" },
	{ "1e3", 0, 10000, 0, "invalid" },
	{ "9223372036854775807", LLONG_MIN, LLONG_MAX, LLONG_MAX, NULL },
	{ "9223372036854775808", LLONG_MIN, LLONG_MAX, 0, "too large" },
	{ "-9223372036854775808", LLONG_MIN, LLONG_MAX, LLONG_MIN, NULL },
	{ "-9223372036854775809", LLONG_MIN, LLONG_MAX, 0, "too small" },
	{ "99999999999999999999999", 0, LLONG_MAX, 0, "too large" },
	{ "-99999999999999999999999", LLONG_MIN, 0, 0, "too small" },
	{ "99999999999999999999999x", 0, LLONG_MAX, 0, "invalid" },
	{ "0000000000000000000000042", 0, 100, 42, NULL },
	{ "2147483648", 0, INT32_MAX, 0, "too large" },
	{ "2147483647", 0, INT32_MAX, INT32_MAX, NULL },
};

static void
test_strnum_table(void **state)
{
	const struct num_case *t;
	const char *err;
	long long v;
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(cases); i++) {
		t = &cases[i];
		err = "unset";
		v = strnum(t->s, t->min, t->max, &err);
		if (t->err == NULL) {
			if (err != NULL)
				fail_msg("\"%s\": unexpected error %s", t->s,
				    err);
			if (v != t->want)
				fail_msg("\"%s\": got %lld", t->s, v);
		} else {
			if (err == NULL || strcmp(err, t->err) != 0)
				fail_msg("\"%s\": error %s, want %s", t->s,
				    err != NULL ? err : "none", t->err);
			assert_int_equal(v, 0);
		}
	}
}

static void
test_strnum_n(void **state)
{
	const char *err;

	/* Bytes beyond n are not looked at. */
	assert_int_equal(strnum_n("123abc", 3, 0, 1000, &err), 123);
	assert_null(err);
	assert_int_equal(strnum_n("123abc", 4, 0, 1000, &err), 0);
	assert_string_equal(err, "invalid");
	assert_int_equal(strnum_n("42", 0, 0, 1000, &err), 0);
	assert_string_equal(err, "invalid");
	assert_int_equal(strnum_n("-7}", 2, -10, 10, &err), -7);
	assert_null(err);
}

static void
test_strnum_u64(void **state)
{
	const char *err;

#define U64(s, max) strnum_u64(s, strlen(s), max, &err)
	assert_true(U64("4294967296", UINT64_MAX) == 4294967296ULL);
	assert_null(err);
	assert_true(U64("18446744073709551615", UINT64_MAX) == UINT64_MAX);
	assert_null(err);
	assert_true(U64("18446744073709551616", UINT64_MAX) == 0);
	assert_string_equal(err, "too large");
	assert_true(U64("99999999999999999999", UINT64_MAX) == 0);
	assert_string_equal(err, "too large");
	assert_true(U64("184467440737095516150", UINT64_MAX) == 0);
	assert_string_equal(err, "too large");
	assert_true(U64("", UINT64_MAX) == 0);
	assert_string_equal(err, "invalid");
	assert_true(U64("-1", UINT64_MAX) == 0);
	assert_string_equal(err, "invalid");
	assert_true(U64("+1", UINT64_MAX) == 0);
	assert_string_equal(err, "invalid");
	assert_true(U64("12 ", UINT64_MAX) == 0);
	assert_string_equal(err, "invalid");
	assert_true(U64("4294967296", UINT32_MAX) == 0);
	assert_string_equal(err, "too large");
	assert_true(U64("4294967295", UINT32_MAX) == UINT32_MAX);
	assert_null(err);
	assert_true(U64("0", 0) == 0);
	assert_null(err);
	assert_true(U64("1", 0) == 0);
	assert_string_equal(err, "too large");
	assert_true(U64("000000000000000000000000001", 10) == 1);
	assert_null(err);
	assert_true(U64("123456789012345678901234x", UINT64_MAX) == 0);
	assert_string_equal(err, "invalid");
#undef U64
	/* Not NUL-terminated: an IMAP literal "{12}" inside a line. */
	assert_true(strnum_u64("12}", 2, UINT64_MAX, &err) == 12);
	assert_null(err);
}

static void
test_duration(void **state)
{
	const char *err;

	assert_int_equal(strnum_duration("30", 0, LLONG_MAX, &err), 30);
	assert_null(err);
	assert_int_equal(strnum_duration("30s", 0, LLONG_MAX, &err), 30);
	assert_null(err);
	assert_int_equal(strnum_duration("5m", 0, LLONG_MAX, &err), 300);
	assert_null(err);
	assert_int_equal(strnum_duration("2h", 0, LLONG_MAX, &err), 7200);
	assert_null(err);
	assert_int_equal(strnum_duration("1d", 0, LLONG_MAX, &err), 86400);
	assert_null(err);
	assert_int_equal(strnum_duration("0", 0, 10, &err), 0);
	assert_null(err);
	assert_int_equal(strnum_duration("0", 1, 10, &err), 0);
	assert_string_equal(err, "too small");
	assert_int_equal(strnum_duration("1m", 0, 59, &err), 0);
	assert_string_equal(err, "too large");
	assert_int_equal(strnum_duration("", 0, 10, &err), 0);
	assert_string_equal(err, "invalid");
	assert_int_equal(strnum_duration("s", 0, 10, &err), 0);
	assert_string_equal(err, "invalid");
	assert_int_equal(strnum_duration("5x", 0, 10, &err), 0);
	assert_string_equal(err, "invalid");
	assert_int_equal(strnum_duration("1w", 0, LLONG_MAX, &err), 0);
	assert_string_equal(err, "invalid");
	assert_int_equal(strnum_duration("-5m", LLONG_MIN, LLONG_MAX, &err),
	    0);
	assert_string_equal(err, "invalid");
	assert_int_equal(strnum_duration("5 m", 0, LLONG_MAX, &err), 0);
	assert_string_equal(err, "invalid");
	assert_int_equal(strnum_duration("5mm", 0, LLONG_MAX, &err), 0);
	assert_string_equal(err, "invalid");
	/* Units multiply without overflow at the largest count. */
	assert_int_equal(strnum_duration("2147483647d", 0, LLONG_MAX, &err),
	    2147483647LL * 86400);
	assert_null(err);
	assert_int_equal(strnum_duration("2147483648", 0, LLONG_MAX, &err),
	    0);
	assert_string_equal(err, "too large");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strnum_table),
		cmocka_unit_test(test_strnum_n),
		cmocka_unit_test(test_strnum_u64),
		cmocka_unit_test(test_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
