#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "oauth/oauth.h"

static void
test_pkce(void **state)
{
	char v[OAUTH_VERIFIER_LEN + 1], c[OAUTH_CHALLENGE_LEN + 1];
	char c2[OAUTH_CHALLENGE_LEN + 1], v2[OAUTH_VERIFIER_LEN + 1];
	size_t i;

	/* RFC 7636 appendix B. */
	oauth_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", c);
	assert_string_equal(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	oauth_pkce_make(v, c);
	assert_int_equal(strlen(v), 43);
	assert_int_equal(strlen(c), 43);
	for (i = 0; v[i] != '\0'; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"
		    "mnopqrstuvwxyz0123456789-_", v[i]));
	oauth_pkce_challenge(v, c2);
	assert_string_equal(c, c2);
	oauth_pkce_make(v2, c2);
	assert_string_not_equal(v, v2);
}

static void
test_auth_url(void **state)
{
	struct oauth_profile p;
	char *u;

	memset(&p, 0, sizeof(p));
	p.auth_url = (char *)"https://idp.example/authorize";
	p.client_id = (char *)"my client";
	p.scope = (char *)"imap pop offline_access";
	p.auth_extra = (char *)"access_type=offline";
	u = oauth_auth_url(&p, "http://127.0.0.1:4242/", "st8", "ch");
	assert_string_equal(u, "https://idp.example/authorize?"
	    "response_type=code&client_id=my%20client&redirect_uri=http%3A"
	    "%2F%2F127.0.0.1%3A4242%2F&scope=imap%20pop%20offline_access&"
	    "state=st8&code_challenge=ch&code_challenge_method=S256&"
	    "access_type=offline");
	free(u);
}

static void
test_redirect(void **state)
{
	struct err e = { 0 };
	char *code;

	assert_int_equal(oauth_redirect_parse("http://127.0.0.1:5/?code="
	    "a%2Fb+c&state=S1&scope=x", "S1", &code, &e), 0);
	assert_string_equal(code, "a/b c");
	oauth_wipe_free(&code);
	assert_null(code);
	/* a request target, state first, a fragment */
	assert_int_equal(oauth_redirect_parse("/?state=S1&code=xyz#frag",
	    "S1", &code, &e), 0);
	assert_string_equal(code, "xyz");
	oauth_wipe_free(&code);
	/* state mismatch, missing state */
	assert_int_equal(oauth_redirect_parse("/?code=x&state=S2", "S1",
	    &code, &e), -1);
	assert_int_equal(e.cls, ERR_AUTH);
	assert_non_null(strstr(err_msg(&e), "state"));
	assert_null(code);
	assert_int_equal(oauth_redirect_parse("/?code=x", "S1", &code, &e),
	    -1);
	assert_int_equal(e.cls, ERR_AUTH);
	/* the user said no */
	assert_int_equal(oauth_redirect_parse("/?error=access_denied&"
	    "error_description=The+user+denied&state=S1", "S1", &code, &e),
	    -1);
	assert_int_equal(e.cls, ERR_AUTH);
	assert_non_null(strstr(err_msg(&e), "access_denied"));
	assert_non_null(strstr(err_msg(&e), "The user denied"));
	/* no code, no query, bad escapes, repeats, NUL */
	assert_int_equal(oauth_redirect_parse("/?state=S1", "S1", &code, &e),
	    -1);
	assert_int_equal(e.cls, ERR_PROTOCOL);
	assert_int_equal(oauth_redirect_parse("http://x/", "S1", &code, &e),
	    -1);
	assert_int_equal(oauth_redirect_parse("/?code=%4&state=S1", "S1",
	    &code, &e), -1);
	assert_int_equal(oauth_redirect_parse("/?code=%zz&state=S1", "S1",
	    &code, &e), -1);
	assert_int_equal(oauth_redirect_parse("/?code=%00&state=S1", "S1",
	    &code, &e), -1);
	assert_int_equal(oauth_redirect_parse("/?code=a&code=b&state=S1",
	    "S1", &code, &e), -1);
	assert_null(code);
	err_clear(&e);
}

static int
parse(const char *body, long status, struct oauth_token *t, struct err *e)
{
	return oauth_token_parse(body, strlen(body), status, t, e);
}

static void
test_token(void **state)
{
	struct oauth_token t;
	struct err e = { 0 };
	char *big;

	assert_int_equal(parse("{\"access_token\":\"ya29.a-b_c\","
	    "\"token_type\":\"Bearer\",\"expires_in\":3599,"
	    "\"refresh_token\":\"1//r\",\"scope\":\"s\"}", 200, &t, &e), 0);
	assert_string_equal(t.access, "ya29.a-b_c");
	assert_string_equal(t.refresh, "1//r");
	assert_int_equal(t.expires_in, 3599);
	oauth_token_clear(&t);
	assert_null(t.access);
	/* expires_in as a string, no refresh token, lower-case type */
	assert_int_equal(parse("{\"access_token\":\"A\",\"token_type\":"
	    "\"bearer\",\"expires_in\":\"120\"}", 200, &t, &e), 0);
	assert_int_equal(t.expires_in, 120);
	assert_null(t.refresh);
	oauth_token_clear(&t);
	/* no expires_in: an hour */
	assert_int_equal(parse("{\"access_token\":\"A\"}", 200, &t, &e), 0);
	assert_int_equal(t.expires_in, 3600);
	oauth_token_clear(&t);
	/* error responses */
	assert_int_equal(parse("{\"error\":\"invalid_grant\","
	    "\"error_description\":\"Token has been expired or revoked.\"}",
	    400, &t, &e), -1);
	assert_int_equal(e.cls, ERR_AUTH);
	assert_string_equal(t.error, "invalid_grant");
	assert_string_equal(t.error_desc, "Token has been expired or "
	    "revoked.");
	assert_null(t.access);
	assert_int_equal(parse("{\"error\":\"invalid_client\"}", 401, &t, &e),
	    -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_int_equal(parse("{\"error\":\"authorization_pending\"}", 400,
	    &t, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_string_equal(t.error, "authorization_pending");
	assert_int_equal(parse("{}", 503, &t, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_int_equal(parse("<html>bad gateway</html>", 502, &t, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	/* malformed */
	assert_int_equal(parse("not json", 200, &t, &e), -1);
	assert_int_equal(e.cls, ERR_PROTOCOL);
	assert_int_equal(parse("[\"access_token\"]", 200, &t, &e), -1);
	assert_int_equal(parse("{\"token_type\":\"Bearer\"}", 200, &t, &e),
	    -1);
	assert_int_equal(parse("{\"access_token\":\"A\",\"token_type\":"
	    "\"mac\"}", 200, &t, &e), -1);
	assert_int_equal(parse("{\"access_token\":\"A B\"}", 200, &t, &e),
	    -1);
	assert_int_equal(parse("{\"access_token\":\"\"}", 200, &t, &e), -1);
	assert_int_equal(parse("{\"access_token\":7}", 200, &t, &e), -1);
	assert_int_equal(parse("{\"access_token\":\"A\",\"expires_in\":0}",
	    200, &t, &e), -1);
	assert_int_equal(parse("{\"access_token\":\"A\",\"expires_in\":-5}",
	    200, &t, &e), -1);
	assert_int_equal(parse("{\"access_token\":\"A\",\"expires_in\":"
	    "\"12x\"}", 200, &t, &e), -1);
	assert_int_equal(parse("{\"access_token\":\"A\",\"access_token\":"
	    "\"B\"}", 200, &t, &e), -1);
	assert_null(t.access);
	/* bounded */
	big = malloc(OAUTH_RESPONSE_MAX + 100);
	memset(big, ' ', OAUTH_RESPONSE_MAX + 99);
	memcpy(big, "{\"access_token\":\"A\"}", 20);
	big[OAUTH_RESPONSE_MAX + 99] = '\0';
	assert_int_equal(parse(big, 200, &t, &e), -1);
	assert_int_equal(e.cls, ERR_PROTOCOL);
	assert_non_null(strstr(err_msg(&e), "larger"));
	free(big);
	err_clear(&e);
}

static void
test_device(void **state)
{
	struct oauth_device d;
	struct err e = { 0 };
	const char *b = "{\"device_code\":\"DC\",\"user_code\":\"WDJB-MJHT\","
	    "\"verification_url\":\"https://example.com/device\","
	    "\"expires_in\":1800}";
	const char *b2 = "{\"device_code\":\"DC\",\"user_code\":\"X\"}";

	assert_int_equal(oauth_device_parse(b, strlen(b), 200, &d, &e), 0);
	assert_string_equal(d.device_code, "DC");
	assert_string_equal(d.user_code, "WDJB-MJHT");
	assert_string_equal(d.verification_uri, "https://example.com/device");
	assert_int_equal(d.interval, 5);
	assert_int_equal(d.expires_in, 1800);
	oauth_device_clear(&d);
	assert_int_equal(oauth_device_parse(b2, strlen(b2), 200, &d, &e), -1);
	assert_int_equal(e.cls, ERR_PROTOCOL);
	err_clear(&e);
}

static void
test_url_ok(void **state)
{
	assert_true(oauth_url_ok("https://oauth2.googleapis.com/token"));
	assert_true(oauth_url_ok("http://127.0.0.1:8080/token"));
	assert_true(oauth_url_ok("http://localhost/token"));
	assert_true(oauth_url_ok("http://[::1]:5/t"));
	assert_false(oauth_url_ok("http://example.com/token"));
	assert_false(oauth_url_ok("http://127.0.0.1.evil.example/token"));
	assert_false(oauth_url_ok("http://localhost.evil/token"));
	assert_false(oauth_url_ok("ftp://x/"));
	assert_false(oauth_url_ok("https:///x"));
	assert_false(oauth_url_ok("https://a b/"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pkce),
		cmocka_unit_test(test_auth_url),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_device),
		cmocka_unit_test(test_url_ok),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
