#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/pp.h"

static void
test_send_rejects_crlf_nul(void **state)
{
	struct pp pp;
	const char *out;
	size_t len;

	pp_init(&pp, 512, 4096, 4096);
	assert_int_equal(pp_send(&pp, 1, -1, "USER %s", "a\r\nDELE 1"), -1);
	assert_int_equal(pp_send(&pp, 1, -1, "USER %s", "a\nb"), -1);
	assert_int_equal(pp_send(&pp, 1, -1, "USER %s", "a\rb"), -1);
	assert_int_equal(pp_send(&pp, 1, -1, "USER %c%s", '\0', "x"), -1);
	/* Nothing was queued or remembered. */
	(void)pp_output(&pp, &len);
	assert_int_equal(len, 0);
	assert_int_equal(pp_pending_count(&pp), 0);
	assert_int_equal(pp_send(&pp, 1, -1, "USER %s", "bob"), 0);
	out = pp_output(&pp, &len);
	assert_int_equal(len, 10);
	assert_memory_equal(out, "USER bob\r\n", 10);
	pp_free(&pp);
}

static void
test_fifo_order(void **state)
{
	struct pp pp;
	int i;

	pp_init(&pp, 512, 4096, 1 << 20);
	assert_int_equal(pp_pending_peek(&pp), -1);
	assert_int_equal(pp_pending_pop(&pp), -1);
	assert_int_equal(pp_expect(&pp, 7), 0);
	assert_int_equal(pp_expect(&pp, -1), -1);
	assert_int_equal(pp_send(&pp, 1, -1, "A"), 0);
	assert_int_equal(pp_send(&pp, -1, -1, "no reply"), 0);
	assert_int_equal(pp_send(&pp, 2, -1, "B"), 0);
	assert_int_equal(pp_pending_count(&pp), 3);
	assert_int_equal(pp_pending_peek(&pp), 7);
	assert_int_equal(pp_pending_pop(&pp), 7);
	assert_int_equal(pp_pending_pop(&pp), 1);
	assert_int_equal(pp_pending_pop(&pp), 2);
	assert_int_equal(pp_pending_pop(&pp), -1);
	/* Wrap around the ring and fill it. */
	for (i = 0; i < PP_MAX_PENDING; i++)
		assert_int_equal(pp_send(&pp, i, -1, "C%d", i), 0);
	assert_int_equal(pp_send(&pp, 0, -1, "full"), -1);
	assert_int_equal(pp_expect(&pp, 0), -1);
	for (i = 0; i < PP_MAX_PENDING; i++)
		assert_int_equal(pp_pending_pop(&pp), i);
	pp_free(&pp);
}

static void
test_out_bound(void **state)
{
	struct pp pp;

	pp_init(&pp, 512, 4096, 16);
	assert_int_equal(pp_send(&pp, 1, -1, "0123456789ABCD"), 0);
	assert_int_equal(pp_send(&pp, 1, -1, "X"), -1);
	assert_int_equal(pp_pending_count(&pp), 1);
	pp_free(&pp);
}

static void
test_lines(void **state)
{
	struct pp pp;
	const char *line;
	size_t len, used;

	pp_init(&pp, 8, 64, 64);
	assert_int_equal(pp_input(&pp, "+OK\r\n+O", 7), 0);
	assert_int_equal(pp_line(&pp, &line, &len, &used), 1);
	assert_int_equal(len, 3);
	pp_consume(&pp, used);
	assert_int_equal(pp_line(&pp, &line, &len, &used), 0);
	assert_int_equal(pp_input(&pp, "K 123456789\r\n", 13), 0);
	assert_true(pp_line(&pp, &line, &len, &used) < 0);
	pp_free(&pp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_rejects_crlf_nul),
		cmocka_unit_test(test_fifo_order),
		cmocka_unit_test(test_out_bound),
		cmocka_unit_test(test_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
