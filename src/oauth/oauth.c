/*
 * oauth.c - provider profiles, PKCE, the authorization URL, and the
 * parsers of what comes back: the redirect, token and device responses
 * (oauth.h). No I/O here beyond the store reads of oauth_profile_load().
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "oauth/oauth.h"
#include "proto/sasl.h"
#include "store/settings.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static const struct oauth_builtin builtins[] = {
	{ "google", "https://accounts.google.com/o/oauth2/v2/auth",
	    "https://oauth2.googleapis.com/token",
	    "https://oauth2.googleapis.com/device/code",
	    "https://mail.google.com/",
	    "access_type=offline&prompt=consent", OAUTH_MECH_XOAUTH2 },
	{ "microsoft",
	    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
	    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
	    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
	    "https://outlook.office.com/IMAP.AccessAsUser.All "
	    "https://outlook.office.com/POP.AccessAsUser.All offline_access",
	    "prompt=select_account", OAUTH_MECH_XOAUTH2 },
	{ "custom", NULL, NULL, NULL, NULL, NULL, OAUTH_MECH_AUTO },
};

const struct oauth_builtin *
oauth_builtin_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < MP_ARRAY_LEN(builtins); i++)
		if (strcmp(builtins[i].name, name) == 0)
			return &builtins[i];
	return NULL;
}

int
oauth_mech_parse(const char *s, enum oauth_mech *m)
{
	if (s == NULL || strcmp(s, "auto") == 0)
		*m = OAUTH_MECH_AUTO;
	else if (strcasecmp(s, "xoauth2") == 0)
		*m = OAUTH_MECH_XOAUTH2;
	else if (strcasecmp(s, "oauthbearer") == 0)
		*m = OAUTH_MECH_OAUTHBEARER;
	else
		return -1;
	return 0;
}

const char *
oauth_mech_name(enum oauth_mech m)
{
	return m == OAUTH_MECH_XOAUTH2 ? "XOAUTH2" :
	    m == OAUTH_MECH_OAUTHBEARER ? "OAUTHBEARER" : "auto";
}

void
oauth_wipe_free(char **p)
{
	if (*p == NULL)
		return;
	sodium_memzero(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

bool
oauth_url_ok(const char *url)
{
	const char *h, *end;
	size_t n;

	if (url == NULL || strlen(url) > OAUTH_URL_MAX)
		return false;
	for (h = url; *h != '\0'; h++)
		if ((unsigned char)*h <= ' ' || *h == 0x7f)
			return false;
	if (strncasecmp(url, "https://", 8) == 0)
		return url[8] != '\0' && url[8] != '/';
	if (strncasecmp(url, "http://", 7) != 0)
		return false;
	/* Plain http only to this host: a token must never cross a network
	 * in clear (RFC 6749 section 3.2 requires TLS). */
	h = url + 7;
	end = h + strcspn(h, "/?#");
	n = (size_t)(end - h);
	return (n >= 9 && strncmp(h, "127.0.0.1", 9) == 0 &&
	    (n == 9 || h[9] == ':')) ||
	    (n >= 9 && strncasecmp(h, "localhost", 9) == 0 &&
	    (n == 9 || h[9] == ':')) ||
	    (n >= 5 && strncmp(h, "[::1]", 5) == 0 && (n == 5 || h[5] == ':'));
}

/* tmpl with "{tenant}" replaced. */
static char *
subst_tenant(const char *tmpl, const char *tenant)
{
	const char *p = strstr(tmpl, "{tenant}");

	if (p == NULL)
		return xstrdup(tmpl);
	return xasprintf("%.*s%s%s", (int)(p - tmpl), tmpl, tenant,
	    p + strlen("{tenant}"));
}

void
oauth_profile_clear(struct oauth_profile *p)
{
	free(p->provider);
	free(p->auth_url);
	free(p->token_url);
	free(p->device_url);
	free(p->auth_extra);
	free(p->client_id);
	if (p->client_secret != NULL)
		store_secret_free(&p->client_secret, p->client_secret_len);
	free(p->scope);
	memset(p, 0, sizeof(*p));
}

static char *
pick(const char *acct_v, const char *builtin_v, const char *tenant)
{
	if (acct_v != NULL)
		return xstrdup(acct_v);
	if (builtin_v != NULL)
		return subst_tenant(builtin_v, tenant);
	return NULL;
}

int
oauth_profile_load(struct store *st, const char *acct,
    const struct oauth_acct *o, struct oauth_profile *p, struct err *e)
{
	const struct oauth_builtin *b;
	const char *tenant = o->tenant != NULL ? o->tenant : "common";
	char *key;

	memset(p, 0, sizeof(*p));
	if (!o->oauth2)
		return err_set(e, ERR_CONFIG, "%s does not use OAuth2", acct);
	if ((b = oauth_builtin_find(o->provider)) == NULL)
		return err_set(e, ERR_CONFIG, "%s: unknown OAuth2 provider '%s'",
		    acct, o->provider != NULL ? o->provider : "");
	p->provider = xstrdup(b->name);
	p->auth_url = pick(o->auth_url, b->auth_url, tenant);
	p->token_url = pick(o->token_url, b->token_url, tenant);
	p->device_url = pick(o->device_url, b->device_url, tenant);
	p->scope = pick(o->scope, b->scope, tenant);
	p->auth_extra = b->auth_extra != NULL ? xstrdup(b->auth_extra) : NULL;
	p->mech = b->mech;
	if (o->mech != NULL && oauth_mech_parse(o->mech, &p->mech) == -1)
		p->mech = OAUTH_MECH_AUTO;
	if (p->token_url == NULL) {
		err_set(e, ERR_CONFIG, "%s: no OAuth2 token endpoint (use "
		    "--oauth2-token-url)", acct);
		goto fail;
	}
	if (o->client_id != NULL)
		p->client_id = xstrdup(o->client_id);
	else {
		key = xasprintf("oauth2.%s.client-id", b->name);
		if (store_setting_get(st, key, &p->client_id, e) == -1) {
			free(key);
			goto fail;
		}
		free(key);
	}
	if (p->client_id == NULL) {
		err_set(e, ERR_CONFIG, "%s: no OAuth2 client id (use "
		    "--oauth2-client-id or mailpull config set "
		    "oauth2.%s.client-id ID)", acct, b->name);
		goto fail;
	}
	if (o->has_client_secret) {
		if (store_oauth_client_secret_get(st, acct, &p->client_secret,
		    &p->client_secret_len, e) == -1)
			goto fail;
	} else if (o->client_id == NULL && store_oauth_provider_secret_get(st,
	    b->name, &p->client_secret, &p->client_secret_len, e) == -1)
		goto fail;
	return 0;
fail:
	oauth_profile_clear(p);
	return -1;
}

/* ---- PKCE, state, the authorization URL ---- */

static void
b64url(const unsigned char *in, size_t len, char *out, size_t cap)
{
	sodium_bin2base64(out, cap, in, len,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void
oauth_pkce_challenge(const char *verifier,
    char challenge[OAUTH_CHALLENGE_LEN + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	/* RFC 7636 section 4.2: S256. */
	crypto_hash_sha256(h, (const unsigned char *)verifier,
	    strlen(verifier));
	b64url(h, sizeof(h), challenge, OAUTH_CHALLENGE_LEN + 1);
}

void
oauth_pkce_make(char verifier[OAUTH_VERIFIER_LEN + 1],
    char challenge[OAUTH_CHALLENGE_LEN + 1])
{
	unsigned char r[32];

	/* RFC 7636 section 4.1: 32 octets -> 43 characters. */
	randombytes_buf(r, sizeof(r));
	b64url(r, sizeof(r), verifier, OAUTH_VERIFIER_LEN + 1);
	sodium_memzero(r, sizeof(r));
	oauth_pkce_challenge(verifier, challenge);
}

void
oauth_state_make(char state[23])
{
	unsigned char r[16];

	randombytes_buf(r, sizeof(r));
	b64url(r, sizeof(r), state, 23);
}

static void
url_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char enc[3];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			(void)buf_add(b, p, 1);
		else {
			enc[0] = '%';
			enc[1] = hex[*p >> 4];
			enc[2] = hex[*p & 15];
			(void)buf_add(b, enc, 3);
		}
	}
}

static void
param(struct buf *b, const char *name, const char *v)
{
	(void)buf_printf(b, "&%s=", name);
	url_escape(b, v);
}

char *
oauth_auth_url(const struct oauth_profile *p, const char *redirect_uri,
    const char *state, const char *challenge)
{
	struct buf b;

	buf_init(&b, 64 * 1024);
	(void)buf_adds(&b, p->auth_url);
	(void)buf_adds(&b, strchr(p->auth_url, '?') != NULL ? "&" :
	    "?");
	(void)buf_adds(&b, "response_type=code");
	param(&b, "client_id", p->client_id);
	param(&b, "redirect_uri", redirect_uri);
	if (p->scope != NULL)
		param(&b, "scope", p->scope);
	param(&b, "state", state);
	param(&b, "code_challenge", challenge);
	(void)buf_adds(&b, "&code_challenge_method=S256");
	if (p->auth_extra != NULL) {
		(void)buf_adds(&b, "&");
		(void)buf_adds(&b, p->auth_extra);
	}
	return buf_detach(&b);
}

/* ---- the redirect ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode [s, s+n) ('+' is a space); NULL on a bad escape or NUL. */
static char *
pct_decode(const char *s, size_t n)
{
	char *o = xmalloc(n + 1);
	size_t i, k = 0;
	int h, l;

	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 ||
			    (l = hexval(s[i + 2])) < 0 || (h == 0 && l == 0))
				goto bad;
			o[k++] = (char)(h * 16 + l);
			i += 2;
		} else
			o[k++] = s[i] == '+' ? ' ' : s[i];
	}
	o[k] = '\0';
	return o;
bad:
	sodium_memzero(o, n + 1);
	free(o);
	return NULL;
}

/* Printable copy for messages. */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

int
oauth_redirect_parse(const char *url, const char *state, char **code_r,
    struct err *e)
{
	const char *q, *p, *end, *amp, *eq;
	char *code = NULL, *st = NULL, *error = NULL, *desc = NULL, *v;
	int rc = -1;

	*code_r = NULL;
	if (strlen(url) > 16 * 1024)
		return err_set(e, ERR_PROTOCOL, "the redirect URL is too long");
	if ((q = strchr(url, '?')) == NULL)
		return err_set(e, ERR_PROTOCOL, "the redirect URL has no "
		    "query (expected ...?code=...&state=...)");
	q++;
	end = q + strcspn(q, "# \r\n");
	for (p = q; p < end; p = amp < end ? amp + 1 : end) {
		char **dst = NULL;

		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			continue;
		if ((size_t)(eq - p) == 4 && memcmp(p, "code", 4) == 0)
			dst = &code;
		else if ((size_t)(eq - p) == 5 && memcmp(p, "state", 5) == 0)
			dst = &st;
		else if ((size_t)(eq - p) == 5 && memcmp(p, "error", 5) == 0)
			dst = &error;
		else if ((size_t)(eq - p) == 17 &&
		    memcmp(p, "error_description", 17) == 0)
			dst = &desc;
		if (dst == NULL)
			continue;
		if ((v = pct_decode(eq + 1, (size_t)(amp - eq - 1))) == NULL) {
			err_set(e, ERR_PROTOCOL, "the redirect URL has a bad "
			    "%%-escape");
			goto out;
		}
		if (*dst != NULL) {
			oauth_wipe_free(&v);
			err_set(e, ERR_PROTOCOL, "the redirect URL repeats a "
			    "parameter");
			goto out;
		}
		*dst = v;
	}
	/* The state first: an error for someone else's request is not ours
	 * to report either (RFC 6749 section 10.12). */
	if (st == NULL || strcmp(st, state) != 0) {
		err_set(e, ERR_AUTH, "the redirect's state does not match this "
		    "authorization request (a stale or forged redirect); "
		    "start again");
		goto out;
	}
	if (error != NULL) {
		printable(error);
		if (desc != NULL)
			printable(desc);
		err_set(e, ERR_AUTH, "the provider refused the authorization: "
		    "%.64s%s%.200s%s", error, desc != NULL ? " (" : "",
		    desc != NULL ? desc : "", desc != NULL ? ")" : "");
		goto out;
	}
	if (code == NULL || code[0] == '\0') {
		err_set(e, ERR_PROTOCOL, "the redirect URL has no code");
		goto out;
	}
	*code_r = code;
	code = NULL;
	rc = 0;
out:
	oauth_wipe_free(&code);
	free(st);
	free(error);
	free(desc);
	return rc;
}

/* ---- token and device responses ---- */

void
oauth_token_clear(struct oauth_token *t)
{
	oauth_wipe_free(&t->access);
	oauth_wipe_free(&t->refresh);
	memset(t, 0, sizeof(*t));
}

static void
copy_printable(json_t *o, const char *name, char *dst, size_t cap)
{
	json_t *v = json_object_get(o, name);
	const char *s;
	size_t i, n = 0;

	dst[0] = '\0';
	if (!json_is_string(v))
		return;
	s = json_string_value(v);
	for (i = 0; s[i] != '\0' && n + 1 < cap; i++)
		dst[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[n] = '\0';
}

/* An integer member, also as a numeric string (some providers). */
static int
int_member(json_t *o, const char *name, int64_t min, int64_t max,
    int64_t dflt, int64_t *v_r)
{
	json_t *v = json_object_get(o, name);
	long long n = 0;
	const char *s;

	if (v == NULL || json_is_null(v)) {
		*v_r = dflt;
		return 0;
	}
	if (json_is_integer(v))
		n = (long long)json_integer_value(v);
	else if (json_is_string(v)) {
		s = json_string_value(v);
		if (s[0] == '\0' || strlen(s) > 12)
			return -1;
		for (; *s != '\0'; s++) {
			if (*s < '0' || *s > '9')
				return -1;
			n = n * 10 + (*s - '0');
		}
	} else
		return -1;
	if (n < min || n > max)
		return -1;
	*v_r = n;
	return 0;
}

static json_t *
load_object(const char *body, size_t len, struct err *e)
{
	json_t *o;
	json_error_t je;

	if (len > OAUTH_RESPONSE_MAX) {
		err_set(e, ERR_PROTOCOL, "the token endpoint's response is "
		    "larger than %d bytes", OAUTH_RESPONSE_MAX);
		return NULL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		err_set(e, ERR_PROTOCOL, "the token endpoint's response is "
		    "not a JSON object");
		return NULL;
	}
	return o;
}

/* RFC 6749 section 5.2 (and RFC 8628 3.5). */
static int
error_response(json_t *o, long status, char *error, size_t ecap,
    char *desc, size_t dcap, struct err *e)
{
	enum err_class c;

	copy_printable(o, "error", error, ecap);
	copy_printable(o, "error_description", desc, dcap);
	if (error[0] == '\0')
		return err_set(e, status >= 500 ? ERR_TEMP : ERR_PROTOCOL,
		    "the token endpoint answered HTTP %ld without an error "
		    "code", status);
	if (strcmp(error, "invalid_grant") == 0 ||
	    strcmp(error, "access_denied") == 0 ||
	    strcmp(error, "expired_token") == 0)
		c = ERR_AUTH;
	else if (strcmp(error, "authorization_pending") == 0 ||
	    strcmp(error, "slow_down") == 0 ||
	    strcmp(error, "temporarily_unavailable") == 0 || status >= 500)
		c = ERR_TEMP;
	else
		c = ERR_CONFIG;
	return err_set(e, c, "the token endpoint refused: %s%s%s%s", error,
	    desc[0] != '\0' ? " (" : "", desc, desc[0] != '\0' ? ")" : "");
}

static int
token_member(json_t *o, const char *name, char **dst, bool required,
    struct err *e)
{
	json_t *v = json_object_get(o, name);
	const char *s;
	size_t i;

	*dst = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return err_set(e, ERR_PROTOCOL, "the token endpoint's "
			    "response has no %s", name);
		return 0;
	}
	if (!json_is_string(v))
		return err_set(e, ERR_PROTOCOL, "the token endpoint's %s is "
		    "not a string", name);
	s = json_string_value(v);
	if (s[0] == '\0' || strlen(s) > SASL_TOKEN_MAX)
		return err_set(e, ERR_PROTOCOL, "the token endpoint's %s is "
		    "empty or too long", name);
	/* Printable ASCII without spaces: it goes into SASL and the store. */
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f)
			return err_set(e, ERR_PROTOCOL, "the token endpoint's "
			    "%s holds a character a token cannot have", name);
	*dst = xstrdup(s);
	return 0;
}

int
oauth_token_parse(const char *body, size_t len, long status,
    struct oauth_token *t, struct err *e)
{
	json_t *o, *tt;
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if ((o = load_object(body, len, e)) == NULL) {
		if (status >= 500)
			e->cls = ERR_TEMP;
		return -1;
	}
	if (status != 200 || json_object_get(o, "error") != NULL) {
		(void)error_response(o, status, t->error, sizeof(t->error),
		    t->error_desc, sizeof(t->error_desc), e);
		goto out;
	}
	tt = json_object_get(o, "token_type");
	if (tt != NULL && (!json_is_string(tt) ||
	    strcasecmp(json_string_value(tt), "bearer") != 0)) {
		err_set(e, ERR_PROTOCOL, "the token endpoint issued a token "
		    "that is not a Bearer token");
		goto out;
	}
	if (token_member(o, "access_token", &t->access, true, e) == -1 ||
	    token_member(o, "refresh_token", &t->refresh, false, e) == -1)
		goto out;
	if (int_member(o, "expires_in", 1, 31536000, 3600,
	    &t->expires_in) == -1) {
		err_set(e, ERR_PROTOCOL, "the token endpoint's expires_in is "
		    "not a number of seconds in 1..31536000");
		goto out;
	}
	rc = 0;
out:
	json_decref(o);
	if (rc == -1) {
		oauth_wipe_free(&t->access);
		oauth_wipe_free(&t->refresh);
	}
	return rc;
}

void
oauth_device_clear(struct oauth_device *d)
{
	oauth_wipe_free(&d->device_code);
	free(d->user_code);
	free(d->verification_uri);
	free(d->verification_uri_complete);
	memset(d, 0, sizeof(*d));
}

static char *
str_member(json_t *o, const char *name, size_t max)
{
	json_t *v = json_object_get(o, name);
	char *s;

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > max)
		return NULL;
	s = xstrdup(json_string_value(v));
	printable(s);
	return s;
}

int
oauth_device_parse(const char *body, size_t len, long status,
    struct oauth_device *d, struct err *e)
{
	struct oauth_token dummy;
	json_t *o;
	int64_t iv;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	if ((o = load_object(body, len, e)) == NULL)
		return -1;
	if (status != 200 || json_object_get(o, "error") != NULL) {
		memset(&dummy, 0, sizeof(dummy));
		(void)error_response(o, status, dummy.error,
		    sizeof(dummy.error), dummy.error_desc,
		    sizeof(dummy.error_desc), e);
		goto out;
	}
	if (token_member(o, "device_code", &d->device_code, true, e) == -1)
		goto out;
	d->user_code = str_member(o, "user_code", 64);
	/* Google still says verification_url. */
	d->verification_uri = str_member(o, "verification_uri", 1024);
	if (d->verification_uri == NULL)
		d->verification_uri = str_member(o, "verification_url", 1024);
	d->verification_uri_complete = str_member(o,
	    "verification_uri_complete", 2048);
	if (d->user_code == NULL || d->verification_uri == NULL) {
		err_set(e, ERR_PROTOCOL, "the device authorization response "
		    "lacks user_code or verification_uri");
		goto out;
	}
	if (int_member(o, "expires_in", 1, 86400, 1800, &d->expires_in) ==
	    -1 || int_member(o, "interval", 1, 600, 5, &iv) == -1) {
		err_set(e, ERR_PROTOCOL, "the device authorization response "
		    "has a bad expires_in or interval");
		goto out;
	}
	d->interval = (int)iv;
	rc = 0;
out:
	json_decref(o);
	if (rc == -1)
		oauth_device_clear(d);
	return rc;
}
