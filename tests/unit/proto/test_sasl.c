#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/sasl.h"

static void
expect_bytes(const char *got, size_t glen, const char *want, size_t wlen)
{
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
}

static void
test_xoauth2(void **state)
{
	static const char want[] =
	    "user=someuser@example.com\001auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001";
	char *out, *b;
	size_t len;

	assert_int_equal(sasl_xoauth2_build("someuser@example.com",
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", &out, &len), 0);
	expect_bytes(out, len, want, sizeof(want) - 1);
	/* Google's documented example encoding. */
	b = sasl_b64(out, len);
	assert_string_equal(b, "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJl"
	    "YXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0"
	    "Q2cBAQ==");
	free(b);
	sasl_wipe_free(&out, len);
	assert_null(out);
}

static void
test_oauthbearer(void **state)
{
	/* RFC 7628 section 4.1, with the port as the example has it. */
	static const char want[] =
	    "n,a=user@example.com,\001host=server.example.com\001port=143\001"
	    "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\001\001";
	static const char want2[] =
	    "n,a=a=3Db=2Cc,\001auth=Bearer t0k\001\001";
	char *out, *b;
	size_t len;

	assert_int_equal(sasl_oauthbearer_build("user@example.com",
	    "server.example.com", 143,
	    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", &out, &len), 0);
	expect_bytes(out, len, want, sizeof(want) - 1);
	b = sasl_b64(out, len);
	assert_string_equal(b, "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVy"
	    "LmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52"
	    "YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
	free(b);
	sasl_wipe_free(&out, len);
	/* saslname escaping, no host or port */
	assert_int_equal(sasl_oauthbearer_build("a=b,c", NULL, 0, "t0k", &out,
	    &len), 0);
	expect_bytes(out, len, want2, sizeof(want2) - 1);
	sasl_wipe_free(&out, len);
}

static void
test_refused(void **state)
{
	char *out = (char *)1, big[SASL_TOKEN_MAX + 2];
	size_t len;

	assert_int_equal(sasl_xoauth2_build("u\001x", "tok", &out, &len), -1);
	assert_null(out);
	assert_int_equal(sasl_xoauth2_build("u", "to ken", &out, &len), -1);
	assert_int_equal(sasl_xoauth2_build("u", "tok\r\n", &out, &len), -1);
	assert_int_equal(sasl_xoauth2_build("u", "", &out, &len), -1);
	assert_int_equal(sasl_xoauth2_build("u", "=abc", &out, &len), -1);
	assert_int_equal(sasl_xoauth2_build("u", "ab=c", &out, &len), -1);
	assert_int_equal(sasl_xoauth2_build("", "tok", &out, &len), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(sasl_xoauth2_build("u", big, &out, &len), -1);
	big[SASL_TOKEN_MAX] = '\0';
	assert_int_equal(sasl_xoauth2_build("u", big, &out, &len), 0);
	sasl_wipe_free(&out, len);
	assert_int_equal(sasl_oauthbearer_build("u", "h,x", 1, "t", &out,
	    &len), -1);
	assert_int_equal(sasl_oauthbearer_build("u", NULL, 70000, "t", &out,
	    &len), -1);
}

static void
test_error(void **state)
{
	struct sasl_oauth_error er;
	char *b;
	static const char j1[] = "{\"status\":\"invalid_token\","
	    "\"scope\":\"mail imap\",\"schemes\":\"bearer\"}";
	static const char j2[] = "{\"status\":\"401\",\"schemes\":\"bearer\","
	    "\"scope\":\"https://mail.google.com/\"}";
	static const char j3[] = "{\"status\":400,\"scope\":\"a\\u0001b\"}";

	b = sasl_b64(j1, strlen(j1));
	assert_int_equal(sasl_oauth_error_parse(b, strlen(b), &er), 0);
	assert_string_equal(er.status, "invalid_token");
	assert_string_equal(er.scope, "mail imap");
	assert_string_equal(er.schemes, "bearer");
	free(b);
	b = sasl_b64(j2, strlen(j2));
	assert_int_equal(sasl_oauth_error_parse(b, strlen(b), &er), 0);
	assert_string_equal(er.status, "401");
	assert_string_equal(er.scope, "https://mail.google.com/");
	free(b);
	b = sasl_b64(j3, strlen(j3));
	assert_int_equal(sasl_oauth_error_parse(b, strlen(b), &er), 0);
	assert_string_equal(er.status, "400");
	assert_string_equal(er.scope, "a?b");
	free(b);
	/* not base64, not JSON, not an object, empty */
	assert_int_equal(sasl_oauth_error_parse("***", 3, &er), -1);
	b = sasl_b64("nope", 4);
	assert_int_equal(sasl_oauth_error_parse(b, strlen(b), &er), -1);
	free(b);
	b = sasl_b64("[1]", 3);
	assert_int_equal(sasl_oauth_error_parse(b, strlen(b), &er), -1);
	free(b);
	assert_int_equal(sasl_oauth_error_parse("", 0, &er), -1);
	/* too long once decoded */
	{
		char *raw = malloc(SASL_ERROR_MAX + 100);

		memset(raw, ' ', SASL_ERROR_MAX + 100);
		raw[0] = '{';
		raw[SASL_ERROR_MAX + 98] = '}';
		b = sasl_b64(raw, SASL_ERROR_MAX + 99);
		assert_int_equal(sasl_oauth_error_parse(b, strlen(b), &er),
		    -1);
		free(b);
		free(raw);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_oauthbearer),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
