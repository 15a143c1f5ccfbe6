/*
 * fuzz_oauth.c - libFuzzer target for the OAuth2 parsers of outside input
 * (src/oauth/): token endpoint responses, device authorization responses
 * and the redirect back from the browser.
 *
 * Input: a response body, parsed as a token response and as a device
 * response with HTTP 200 and with the status taken from the first byte
 * (400, 401, 500, 503); then, NUL-terminated, as a redirect URL for the
 * state "st4te".
 * Checks: a parsed token has an access token (and maybe a refresh token)
 * of printable ASCII without spaces, at most SASL_TOKEN_MAX bytes, and
 * expires_in in 1..31536000; a failure leaves no token, a NUL-terminated
 * printable error code and description, and a known error class. A device
 * response has its code, user code and URI, interval 1..600 and
 * expires_in 1..86400. A redirect gives a non-empty code only with the
 * right state.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "oauth/oauth.h"
#include "proto/sasl.h"
#include "util/err.h"
#include "util/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static void
check_token(const char *s)
{
	size_t n = strlen(s);

	check(n > 0 && n <= SASL_TOKEN_MAX);
	for (; *s != '\0'; s++)
		check(*s > ' ' && *s < 0x7f);
}

static void
check_printable(const char *s, size_t cap)
{
	check(strnlen(s, cap) < cap);
	for (; *s != '\0'; s++)
		check((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f);
}

static bool
known_class(enum err_class c)
{
	return c == ERR_AUTH || c == ERR_CONFIG || c == ERR_TEMP ||
	    c == ERR_PROTOCOL;
}

static void
token(const uint8_t *data, size_t len, long status)
{
	struct oauth_token t;
	struct err e = { 0 };

	if (oauth_token_parse((const char *)data, len, status, &t, &e) == 0) {
		check(status == 200);
		check(t.access != NULL);
		check_token(t.access);
		if (t.refresh != NULL)
			check_token(t.refresh);
		check(t.expires_in >= 1 && t.expires_in <= 31536000);
	} else {
		check(t.access == NULL && t.refresh == NULL);
		check(known_class(e.cls));
	}
	check_printable(t.error, sizeof(t.error));
	check_printable(t.error_desc, sizeof(t.error_desc));
	oauth_token_clear(&t);
	err_clear(&e);
}

static void
device(const uint8_t *data, size_t len, long status)
{
	struct oauth_device d;
	struct err e = { 0 };

	if (oauth_device_parse((const char *)data, len, status, &d, &e) ==
	    0) {
		check(status == 200);
		check(d.device_code != NULL && d.user_code != NULL &&
		    d.verification_uri != NULL);
		check_token(d.device_code);
		check_printable(d.user_code, 65);
		check_printable(d.verification_uri, 1025);
		if (d.verification_uri_complete != NULL)
			check_printable(d.verification_uri_complete, 2049);
		check(d.interval >= 1 && d.interval <= 600);
		check(d.expires_in >= 1 && d.expires_in <= 86400);
		oauth_device_clear(&d);
	} else {
		check(d.device_code == NULL && d.user_code == NULL);
		check(known_class(e.cls));
	}
	err_clear(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const long statuses[] = { 400, 401, 500, 503 };
	struct err e = { 0 };
	char *url, *code;
	long st;

	st = statuses[len > 0 ? data[0] % MP_ARRAY_LEN(statuses) : 0];
	token(data, len, 200);
	token(data, len, st);
	device(data, len, 200);
	device(data, len, st);

	url = xstrndup((const char *)data, len);
	if (oauth_redirect_parse(url, "st4te", &code, &e) == 0) {
		check(code != NULL && code[0] != '\0');
		check(strstr(url, "state=") != NULL);
		oauth_wipe_free(&code);
	} else {
		check(code == NULL);
		check(e.cls == ERR_AUTH || e.cls == ERR_PROTOCOL);
		check(e.msg == NULL || strstr(e.msg, "\n") == NULL);
	}
	err_clear(&e);
	free(url);
	return 0;
}
