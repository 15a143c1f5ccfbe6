#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/line.h"

struct line_case {
	const char *in;
	size_t inlen;
	size_t max;
	int flags;
	int want;
	const char *line;	/* expected line on LINE_READY */
	size_t len;
	size_t used;
};

#define S(s) s, sizeof(s) - 1

static const struct line_case cases[] = {
	{ S(""), 8, 0, LINE_MORE, NULL, 0, 0 },
	{ S("abc"), 8, 0, LINE_MORE, NULL, 0, 0 },
	{ S("abc\r"), 8, 0, LINE_MORE, NULL, 0, 0 },
	{ S("abc\r\n"), 8, 0, LINE_READY, "abc", 3, 5 },
	{ S("\r\n"), 8, 0, LINE_READY, "", 0, 2 },
	{ S("abc\r\nrest"), 8, 0, LINE_READY, "abc", 3, 5 },
	/* Bare LF: malformed unless allowed. */
	{ S("abc\n"), 8, 0, LINE_BAD, NULL, 0, 0 },
	{ S("abc\n"), 8, LINE_ALLOW_LF, LINE_READY, "abc", 3, 4 },
	{ S("\n"), 8, LINE_ALLOW_LF, LINE_READY, "", 0, 1 },
	{ S("abc\r\n"), 8, LINE_ALLOW_LF, LINE_READY, "abc", 3, 5 },
	/* NUL inside a line. */
	{ S("a\0b\r\n"), 8, 0, LINE_BAD, NULL, 0, 0 },
	{ S("a\0b\r\n"), 8, LINE_ALLOW_CR, LINE_BAD, NULL, 0, 0 },
	{ S("a\0b\r\n"), 8, LINE_ALLOW_NUL, LINE_READY, "a\0b", 3, 5 },
	/* Bare CR inside a line. */
	{ S("a\rb\r\n"), 8, 0, LINE_BAD, NULL, 0, 0 },
	{ S("a\rb\r\n"), 8, LINE_ALLOW_NUL, LINE_BAD, NULL, 0, 0 },
	{ S("a\rb\r\n"), 8, LINE_ALLOW_CR, LINE_READY, "a\rb", 3, 5 },
	{ S("ab\r\r\n"), 8, 0, LINE_BAD, NULL, 0, 0 },
	{ S("a\r\0b\r\n"), 8, LINE_ALLOW_CR | LINE_ALLOW_NUL, LINE_READY,
	    "a\r\0b", 4, 6 },
	/* Exactly max bytes. */
	{ S("12345678\r\n"), 8, 0, LINE_READY, "12345678", 8, 10 },
	{ S("12345678\n"), 8, LINE_ALLOW_LF, LINE_READY, "12345678", 8, 9 },
	{ S("12345678\r"), 8, 0, LINE_MORE, NULL, 0, 0 },
	/* max + 1 bytes. */
	{ S("123456789\r\n"), 8, 0, LINE_TOOLONG, NULL, 0, 0 },
	{ S("123456789\r"), 8, 0, LINE_TOOLONG, NULL, 0, 0 },
	{ S("123456789\n"), 8, LINE_ALLOW_LF, LINE_TOOLONG, NULL, 0, 0 },
	{ S("1234567890"), 8, 0, LINE_TOOLONG, NULL, 0, 0 },
	{ S("12345678901234567890\r\n"), 8, 0, LINE_TOOLONG, NULL, 0, 0 },
	/* max 0: only empty lines. */
	{ S("\r\n"), 0, 0, LINE_READY, "", 0, 2 },
	{ S("a\r\n"), 0, 0, LINE_TOOLONG, NULL, 0, 0 },
	/* A huge max must not overflow the scan bound. */
	{ S("abc"), SIZE_MAX, 0, LINE_MORE, NULL, 0, 0 },
	{ S("abc\r\n"), SIZE_MAX, 0, LINE_READY, "abc", 3, 5 },
	{ S("abc"), SIZE_MAX - 1, 0, LINE_MORE, NULL, 0, 0 },
};

static void
test_table(void **state)
{
	const struct line_case *t;
	const char *line;
	size_t i, len, used;
	struct buf b;
	int r;

	for (i = 0; i < MP_ARRAY_LEN(cases); i++) {
		t = &cases[i];
		buf_init(&b, 1024);
		assert_int_equal(buf_add(&b, t->in, t->inlen), 0);
		line = NULL;
		len = used = 0;
		r = line_get(&b, t->max, t->flags, &line, &len, &used);
		if (r != t->want)
			fail_msg("case %zu: got %d want %d", i, r, t->want);
		if (r == LINE_READY) {
			assert_ptr_equal(line, b.data);
			assert_int_equal(len, t->len);
			assert_memory_equal(line, t->line, len);
			assert_int_equal(used, t->used);
		}
		buf_free(&b);
	}
}

static void
test_consecutive(void **state)
{
	const char *line;
	size_t len, used;
	struct buf b;

	buf_init(&b, 64);
	assert_int_equal(buf_adds(&b, "+OK hi\r\n\r\nlast\r\npart"), 0);
	assert_int_equal(line_get(&b, 16, 0, &line, &len, &used), LINE_READY);
	assert_int_equal(len, 6);
	assert_memory_equal(line, "+OK hi", 6);
	buf_consume(&b, used);
	assert_int_equal(line_get(&b, 16, 0, &line, &len, &used), LINE_READY);
	assert_int_equal(len, 0);
	buf_consume(&b, used);
	assert_int_equal(line_get(&b, 16, 0, &line, &len, &used), LINE_READY);
	assert_memory_equal(line, "last", 4);
	buf_consume(&b, used);
	assert_int_equal(line_get(&b, 16, 0, &line, &len, &used), LINE_MORE);
	assert_int_equal(b.len, 4);
	buf_free(&b);
}

/* Feed one byte at a time: a line appears exactly at its LF. */
static void
test_trickle(void **state)
{
	static const char in[] = "USER foo\r\n+OK\r\n\r\nA\rB\r\nxxx";
	static const int want[] = { LINE_READY, LINE_READY, LINE_READY,
	    LINE_BAD };
	const char *line;
	size_t i, len, used, nlines = 0;
	struct buf b;
	int r;

	buf_init(&b, 64);
	for (i = 0; i < sizeof(in) - 1; i++) {
		assert_int_equal(buf_add(&b, &in[i], 1), 0);
		r = line_get(&b, 16, 0, &line, &len, &used);
		if (in[i] != '\n') {
			assert_int_equal(r, LINE_MORE);
			continue;
		}
		assert_true(nlines < MP_ARRAY_LEN(want));
		assert_int_equal(r, want[nlines]);
		if (r == LINE_READY) {
			switch (nlines) {
			case 0:
				assert_int_equal(len, 8);
				assert_memory_equal(line, "USER foo", 8);
				break;
			case 1:
				assert_int_equal(len, 3);
				assert_memory_equal(line, "+OK", 3);
				break;
			default:
				assert_int_equal(len, 0);
				break;
			}
		}
		buf_consume(&b, used);
		nlines++;
	}
	assert_int_equal(nlines, 4);
	assert_int_equal(b.len, 3);
	buf_free(&b);
}

/* A line without an end: MORE until max + 2 bytes, then TOOLONG. */
static void
test_trickle_toolong(void **state)
{
	const char *line;
	size_t i, len, used, max = 10;
	struct buf b;
	int r;

	buf_init(&b, 64);
	for (i = 1; i <= max + 5; i++) {
		assert_int_equal(buf_add(&b, "x", 1), 0);
		r = line_get(&b, max, LINE_ALLOW_LF, &line, &len, &used);
		if (i < max + 2)
			assert_int_equal(r, LINE_MORE);
		else
			assert_int_equal(r, LINE_TOOLONG);
	}
	buf_free(&b);
}

/* Trickle a line of exactly max bytes with CRLF. */
static void
test_trickle_exact_max(void **state)
{
	const char *line;
	size_t i, len, used, max = 10;
	struct buf b;
	int r;

	buf_init(&b, 64);
	for (i = 0; i < max; i++) {
		assert_int_equal(buf_add(&b, "y", 1), 0);
		r = line_get(&b, max, 0, &line, &len, &used);
		assert_int_equal(r, LINE_MORE);
	}
	assert_int_equal(buf_add(&b, "\r", 1), 0);
	assert_int_equal(line_get(&b, max, 0, &line, &len, &used), LINE_MORE);
	assert_int_equal(buf_add(&b, "\n", 1), 0);
	assert_int_equal(line_get(&b, max, 0, &line, &len, &used),
	    LINE_READY);
	assert_int_equal(len, max);
	assert_int_equal(used, max + 2);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_consecutive),
		cmocka_unit_test(test_trickle),
		cmocka_unit_test(test_trickle_toolong),
		cmocka_unit_test(test_trickle_exact_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
