#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/err.h"

static int
fails(struct err *e, int n)
{
	return err_set(e, ERR_PROTOCOL, "bad reply %d", n);
}

static void
test_set_replace_clear(void **state)
{
	struct err e = { 0 };

	assert_int_equal(e.cls, ERR_NONE);
	assert_string_equal(err_msg(&e), "");
	assert_int_equal(fails(&e, 1), -1);
	assert_int_equal(e.cls, ERR_PROTOCOL);
	assert_string_equal(err_msg(&e), "bad reply 1");
	/* Replacing frees the old message (ASan catches a leak). */
	assert_int_equal(err_set(&e, ERR_TLS, "%s", "handshake"), -1);
	assert_int_equal(e.cls, ERR_TLS);
	assert_string_equal(err_msg(&e), "handshake");
	err_clear(&e);
	assert_int_equal(e.cls, ERR_NONE);
	assert_null(e.msg);
	assert_string_equal(err_msg(&e), "");
	err_clear(&e);
}

static void
test_prefix(void **state)
{
	struct err e = { 0 };

	err_set(&e, ERR_CONNECT, "connection refused");
	err_prefix(&e, "account %d", 7);
	assert_string_equal(err_msg(&e), "account 7: connection refused");
	assert_int_equal(e.cls, ERR_CONNECT);
	err_prefix(&e, "fetch");
	assert_string_equal(err_msg(&e),
	    "fetch: account 7: connection refused");
	err_clear(&e);
	/* Prefix without a message. */
	err_prefix(&e, "ctx");
	assert_string_equal(err_msg(&e), "ctx: error");
	err_clear(&e);
}

static void
test_null(void **state)
{
	assert_int_equal(err_set(NULL, ERR_INTERNAL, "x"), -1);
	err_prefix(NULL, "y");
	err_clear(NULL);
	assert_string_equal(err_msg(NULL), "");
}

static void
test_class_names(void **state)
{
	int c;

	for (c = 0; c < ERR__COUNT; c++) {
		assert_non_null(err_class_name((enum err_class)c));
		assert_true(strlen(err_class_name((enum err_class)c)) > 0);
		assert_string_not_equal(err_class_name((enum err_class)c),
		    "unknown");
	}
	assert_string_equal(err_class_name(ERR_NONE), "ok");
	assert_string_equal(err_class_name(ERR_TLS), "tls");
	assert_string_equal(err_class_name(ERR_TIMEOUT), "timeout");
	assert_string_equal(err_class_name(ERR__COUNT), "unknown");
	assert_string_equal(err_class_name((enum err_class)-1), "unknown");
}

static void
test_long_message(void **state)
{
	struct err e = { 0 };
	char big[5000];

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_set(&e, ERR_LOCAL, "%s", big);
	assert_int_equal(strlen(err_msg(&e)), sizeof(big) - 1);
	err_clear(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_replace_clear),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_class_names),
		cmocka_unit_test(test_long_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
