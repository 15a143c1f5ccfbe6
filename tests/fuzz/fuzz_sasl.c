/*
 * fuzz_sasl.c - libFuzzer target for the SASL server-error decoder
 * (src/proto/sasl.c): the base64 JSON a server sends in the continuation
 * when it refuses an OAuth2 bearer token.
 *
 * Input: the continuation text as is, and the input base64-encoded (so
 * the fuzzer reaches the JSON parser directly).
 * Checks: every member NUL-terminated inside its buffer, printable ASCII
 * only; a failure leaves the result zeroed.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "proto/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static void
check_member(const char *s, size_t cap)
{
	check(strnlen(s, cap) < cap);
	for (; *s != '\0'; s++)
		check(*s >= 0x20 && *s < 0x7f);
}

static void
one(const char *b64, size_t len)
{
	static const struct sasl_oauth_error zero;
	struct sasl_oauth_error er;

	if (sasl_oauth_error_parse(b64, len, &er) == 0) {
		check_member(er.status, sizeof(er.status));
		check_member(er.scope, sizeof(er.scope));
		check_member(er.schemes, sizeof(er.schemes));
		check_member(er.openid_config, sizeof(er.openid_config));
	} else
		check(memcmp(&er, &zero, sizeof(er)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *b64;

	one((const char *)data, len);
	if (len <= SASL_ERROR_MAX + 16) {
		b64 = sasl_b64(data, len);
		one(b64, strlen(b64));
		free(b64);
	}
	return 0;
}
