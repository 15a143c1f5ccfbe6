#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"

static void
test_add_within_max(void **state)
{
	struct buf b;

	buf_init(&b, 10);
	assert_int_equal(buf_add(&b, "hello", 5), 0);
	assert_int_equal(buf_adds(&b, "world"), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "helloworld", 10);
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
}

static void
test_max_never_truncates(void **state)
{
	struct buf b;

	buf_init(&b, 8);
	assert_int_equal(buf_adds(&b, "12345"), 0);
	/* 5 + 4 > 8: refused whole, nothing appended. */
	assert_int_equal(buf_adds(&b, "6789"), -1);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "12345");
	assert_int_equal(buf_adds(&b, "678"), 0);
	assert_int_equal(b.len, 8);
	assert_int_equal(buf_add(&b, "x", 1), -1);
	assert_int_equal(buf_add(&b, "", 0), 0);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	assert_null(buf_reserve(&b, 1));
	assert_null(buf_reserve(&b, SIZE_MAX));
	buf_free(&b);
}

static void
test_max_zero(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(buf_add(&b, "", 0), 0);
	assert_int_equal(buf_add(&b, "a", 1), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_consume(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b, 16);
	assert_int_equal(buf_adds(&b, "abcdefgh"), 0);
	buf_consume(&b, 3);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "defgh");
	/* The consumed prefix no longer counts against max. */
	assert_int_equal(buf_adds(&b, "ijklmnopqrs"), 0);
	assert_int_equal(b.len, 16);
	assert_string_equal(b.data, "defghijklmnopqrs");
	assert_int_equal(buf_add(&b, "t", 1), -1);
	buf_consume(&b, 16);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_adds(&b, "xyz"), 0);
	buf_consume(&b, 1);
	s = buf_detach(&b);
	assert_string_equal(s, "yz");
	free(s);
	buf_free(&b);
}

static void
test_consume_slide_grow(void **state)
{
	struct buf b;
	char chunk[100];
	size_t i, total = 0;

	/* Interleave adds and consumes across growth and sliding. */
	buf_init(&b, 1000);
	for (i = 0; i < 200; i++) {
		memset(chunk, 'a' + (int)(i % 26), sizeof(chunk));
		assert_int_equal(buf_add(&b, chunk, 1 + i % 100), 0);
		total += 1 + i % 100;
		if (b.len > 500) {
			buf_consume(&b, b.len - 10);
		}
		assert_true(b.len <= 1000);
		assert_int_equal(b.data[b.len], '\0');
	}
	assert_true(total > 1000);
	buf_free(&b);
}

static void
test_reserve_commit(void **state)
{
	struct buf b;
	char *w;

	buf_init(&b, 100);
	w = buf_reserve(&b, 50);
	assert_non_null(w);
	memcpy(w, "abc", 3);
	buf_commit(&b, 3);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.data, "abc");
	assert_null(buf_reserve(&b, 98));
	w = buf_reserve(&b, 97);
	assert_non_null(w);
	memset(w, 'z', 97);
	buf_commit(&b, 97);
	assert_int_equal(b.len, 100);
	assert_int_equal(b.data[100], '\0');
	assert_null(buf_reserve(&b, 1));
	assert_non_null(buf_reserve(&b, 0));
	buf_free(&b);
}

static void
test_printf(void **state)
{
	struct buf b;
	char big[2000];

	buf_init(&b, 64);
	assert_int_equal(buf_printf(&b, "%d %s", 42, "ok"), 0);
	assert_string_equal(b.data, "42 ok");
	/* Would exceed max: refused, nothing appended. */
	assert_int_equal(buf_printf(&b, "%60s", "x"), -1);
	assert_string_equal(b.data, "42 ok");
	buf_free(&b);

	/* Longer than the internal small buffer. */
	buf_init(&b, 4096);
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_printf(&b, "<%s>", big), 0);
	assert_int_equal(b.len, sizeof(big) + 1);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[b.len - 1], '>');
	buf_free(&b);
}

static void
test_detach_reset(void **state)
{
	struct buf b;
	char *s;

	buf_init(&b, 32);
	s = buf_detach(&b);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(buf_adds(&b, "one"), 0);
	s = buf_detach(&b);
	assert_string_equal(s, "one");
	free(s);
	assert_int_equal(b.len, 0);
	assert_null(b.data);
	/* Reusable after detach, max kept. */
	assert_int_equal(buf_adds(&b, "two"), 0);
	assert_string_equal(b.data, "two");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_add(&b, "0123456789012345678901234567890123",
	    33), -1);
	buf_free(&b);
}

static void
test_binary(void **state)
{
	struct buf b;

	buf_init(&b, 16);
	assert_int_equal(buf_add(&b, "a\0b\0", 4), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "a\0b\0", 4);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_within_max),
		cmocka_unit_test(test_max_never_truncates),
		cmocka_unit_test(test_max_zero),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_consume_slide_grow),
		cmocka_unit_test(test_reserve_commit),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_detach_reset),
		cmocka_unit_test(test_binary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
