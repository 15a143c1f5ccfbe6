#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/dotstream.h"

/*
 * Decode in[0..len) fed in pieces: first a piece of split bytes, then
 * pieces of step bytes. Returns the decoded length in out; *consumed_r is
 * the input consumed in total, *done_r whether the terminator was found.
 */
static size_t
decode(const char *in, size_t len, size_t split, size_t step, char *out,
    size_t *consumed_r, bool *done_r)
{
	struct dotstream ds;
	size_t off = 0, o = 0, n, used, outlen;
	char tmp[4096];

	dotstream_init(&ds);
	while (off < len && !ds.done) {
		n = off == 0 && split > 0 ? split : step;
		if (n > len - off)
			n = len - off;
		used = dotstream_feed(&ds, in + off, n, tmp, n + 1, &outlen);
		assert_true(outlen <= n + 1);
		if (!ds.done)
			assert_int_equal(used, n);
		memcpy(out + o, tmp, outlen);
		o += outlen;
		off += used;
	}
	*consumed_r = off;
	*done_r = ds.done;
	return o;
}

static void
check(const char *in, size_t inlen, const char *want, size_t wantlen,
    size_t want_consumed)
{
	char out[4096];
	size_t split, step, o, consumed;
	bool done;

	/* Whole, split at every position, and at every step size. */
	for (split = 0; split <= inlen; split++) {
		o = decode(in, inlen, split, inlen, out, &consumed, &done);
		assert_true(done);
		assert_int_equal(consumed, want_consumed);
		assert_int_equal(o, wantlen);
		assert_memory_equal(out, want, wantlen);
	}
	for (step = 1; step <= inlen; step++) {
		o = decode(in, inlen, 0, step, out, &consumed, &done);
		assert_true(done);
		assert_int_equal(consumed, want_consumed);
		assert_int_equal(o, wantlen);
		assert_memory_equal(out, want, wantlen);
	}
}

#define CHECK(in, want) \
	check(in, sizeof(in) - 1, want, sizeof(want) - 1, sizeof(in) - 1)

static void
test_plain(void **state)
{
	CHECK("Subject: x\r\n\r\nbody\r\n.\r\n", "Subject: x\n\nbody\n");
}

static void
test_empty_message(void **state)
{
	CHECK(".\r\n", "");
	CHECK("\r\n.\r\n", "\n");
}

static void
test_unstuff(void **state)
{
	/* A content line "." is ".." on the wire; "..." is "..". */
	CHECK("a\r\n..\r\n...\r\n..x\r\n.\r\n", "a\n.\n..\n.x\n");
	/* A stuffed line at the very start. */
	CHECK("..\r\nb\r\n.\r\n", ".\nb\n");
	/* RFC 1939: any first '.' of a non-terminator line is dropped. */
	CHECK(".x\r\n.\r\n", "x\n");
	/* Dots not at the start of a line stay. */
	CHECK("a.\r\n a..\r\n.\r\n", "a.\n a..\n");
}

static void
test_bare_cr(void **state)
{
	CHECK("a\rb\r\n.\r\n", "a\rb\n");
	CHECK("a\r\r\n.\r\n", "a\r\n");
	CHECK("a\r\r\rb\r\n.\r\n", "a\r\r\rb\n");
	CHECK("\r\r\n.\r\n", "\r\n");
	/* ".\r" followed by something else: stuffing dot plus a bare CR. */
	CHECK(".\rx\r\n.\r\n", "\rx\n");
	CHECK(".\r\r\n.\r\n", "\r\n");
	/* A CR before the terminator's dot line is not a line end. */
	CHECK("a\r.\r\n.\r\n", "a\r.\n");
}

static void
test_bare_lf(void **state)
{
	CHECK("a\nb\n.\n", "a\nb\n");
	CHECK("a\r\n.\n", "a\n");
	CHECK("a\n.\r\n", "a\n");
	CHECK("a\n..\n.\n", "a\n.\n");
}

static void
test_nul(void **state)
{
	static const char in[] = "a\0b\r\n\0\r\n.\r\n";
	static const char want[] = "a\0b\n\0\n";

	check(in, sizeof(in) - 1, want, sizeof(want) - 1, sizeof(in) - 1);
}

static void
test_trailing_bytes(void **state)
{
	/* Bytes after the terminator belong to the next reply. */
	static const char in[] = "x\r\n.\r\n+OK next\r\n";

	check(in, sizeof(in) - 1, "x\n", 2, sizeof(in) - 1 - 10);
}

static void
test_not_terminated(void **state)
{
	static const char in[] = "a\r\n.x\r\n..\r\n.\r";
	char out[64];
	size_t o, consumed, step;
	bool done;

	for (step = 1; step <= sizeof(in) - 1; step++) {
		o = decode(in, sizeof(in) - 1, 0, step, out, &consumed, &done);
		assert_false(done);
		assert_int_equal(consumed, sizeof(in) - 1);
		/* The final ".\r" is held back. */
		assert_int_equal(o, 6);
		assert_memory_equal(out, "a\nx\n.\n", 6);
	}
}

static void
test_long_line(void **state)
{
	struct dotstream ds;
	char in[1000], out[1001];
	size_t i, used, outlen, total = 0;

	/* A line of 100000 bytes passes in bounded memory. */
	memset(in, 'x', sizeof(in));
	dotstream_init(&ds);
	for (i = 0; i < 100; i++) {
		used = dotstream_feed(&ds, in, sizeof(in), out, sizeof(out),
		    &outlen);
		assert_int_equal(used, sizeof(in));
		total += outlen;
	}
	used = dotstream_feed(&ds, "\r\n.\r\n", 5, out, sizeof(out), &outlen);
	assert_int_equal(used, 5);
	assert_true(ds.done);
	total += outlen;
	assert_int_equal(total, 100001);
	/* Nothing more once done. */
	assert_int_equal(dotstream_feed(&ds, "x", 1, out, sizeof(out),
	    &outlen), 0);
	assert_int_equal(outlen, 0);
}

static void
test_small_outcap(void **state)
{
	struct dotstream ds;
	char out[8];
	size_t used, outlen;

	/* A held CR plus a byte need two bytes of room: with one, the
	 * byte is not consumed, and nothing overflows. */
	dotstream_init(&ds);
	used = dotstream_feed(&ds, "a\r", 2, out, 3, &outlen);
	assert_int_equal(used, 2);
	assert_int_equal(outlen, 1);
	used = dotstream_feed(&ds, "b", 1, out, 1, &outlen);
	assert_int_equal(used, 0);
	assert_int_equal(outlen, 0);
	used = dotstream_feed(&ds, "b", 1, out, 2, &outlen);
	assert_int_equal(used, 1);
	assert_int_equal(outlen, 2);
	assert_memory_equal(out, "\rb", 2);
	/* Zero room: nothing consumed. */
	used = dotstream_feed(&ds, "cd", 2, out, 0, &outlen);
	assert_int_equal(used, 0);
	used = dotstream_feed(&ds, "cd", 2, out, 1, &outlen);
	assert_int_equal(used, 1);
	assert_memory_equal(out, "c", 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_unstuff),
		cmocka_unit_test(test_bare_cr),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_not_terminated),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_small_outcap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
