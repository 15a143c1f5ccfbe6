/*
 * token.c - the token endpoint over HTTPS (libcurl) and access tokens kept
 * fresh for a pass (oauth.h).
 *
 * Client authentication is client_secret_post (RFC 6749 section 2.3.1),
 * which Google, Microsoft and common servers accept; public clients send
 * only client_id. Form bodies hold secrets: they are wiped after the
 * request, and curl's verbose mode is never switched on.
 *
 * libcurl (with its Kerberos, LDAP, SSH, RTMP and GnuTLS dependencies) is
 * loaded at the first token request, not at start-up, so that passes of
 * other accounts never map it (util/dl.h); this file is the one place
 * that knows it.
 */
#include "common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "oauth/oauth.h"
#include "util/buf.h"
#include "util/dl.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define OAUTH_HTTP_TIMEOUT	30L

DL_SYM(curl_global_init);
DL_SYM(curl_easy_init);
DL_SYM(curl_easy_setopt);
DL_SYM(curl_easy_perform);
DL_SYM(curl_easy_getinfo);
DL_SYM(curl_easy_strerror);
DL_SYM(curl_easy_escape);
DL_SYM(curl_free);
DL_SYM(curl_easy_cleanup);
DL_SYM(curl_slist_append);
DL_SYM(curl_slist_free_all);

static const struct dl_sym curl_syms[] = {
	DL_ARG(curl_global_init),
	DL_ARG(curl_easy_init),
	DL_ARG(curl_easy_setopt),
	DL_ARG(curl_easy_perform),
	DL_ARG(curl_easy_getinfo),
	DL_ARG(curl_easy_strerror),
	DL_ARG(curl_easy_escape),
	DL_ARG(curl_free),
	DL_ARG(curl_easy_cleanup),
	DL_ARG(curl_slist_append),
	DL_ARG(curl_slist_free_all),
};

static struct dl_lib curl_lib = {
	.soname = "libcurl.so.4",
	.package = "libcurl4",
	.syms = curl_syms,
	.nsyms = MP_ARRAY_LEN(curl_syms),
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

/* serve runs passes in threads: initialise libcurl exactly once. */
static void
curl_init_once(void)
{
	curl_ready = sym_curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

/* A new easy handle, libcurl loaded and initialised first. NULL after
 * err_set(ERR_INTERNAL). */
static CURL *
easy_new(struct err *e)
{
	CURL *c;

	if (dl_load(&curl_lib, "OAuth2", e) == -1)
		return NULL;
	(void)pthread_once(&curl_once, curl_init_once);
	if (!curl_ready || (c = sym_curl_easy_init()) == NULL) {
		err_set(e, ERR_INTERNAL, "cannot initialise libcurl");
		return NULL;
	}
	return c;
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	/* Over the bound: returning short makes curl fail the transfer. */
	if (buf_add(b, data, size * n) == -1)
		return 0;
	return size * n;
}

static void
form_add(struct buf *b, CURL *c, const char *name, const char *v)
{
	char *esc = sym_curl_easy_escape(c, v, 0);

	if (esc == NULL)
		fatalx("out of memory");
	if (b->len > 0)
		(void)buf_add(b, "&", 1);
	(void)buf_adds(b, name);
	(void)buf_add(b, "=", 1);
	(void)buf_adds(b, esc);
	sodium_memzero(esc, strlen(esc));
	sym_curl_free(esc);
}

static void
form_client(struct buf *b, CURL *c, const struct oauth_profile *p)
{
	form_add(b, c, "client_id", p->client_id);
	if (p->client_secret != NULL)
		form_add(b, c, "client_secret", p->client_secret);
}

/*
 * POST form to url. 0 with the body in *resp and the HTTP status, -1
 * (ERR_TEMP: could not reach the endpoint; ERR_PROTOCOL: response too
 * large). The form is wiped.
 */
static int
http_post(const char *url, struct buf *form, struct buf *resp,
    long *status_r, struct err *e)
{
	CURL *c;
	CURLcode cc;
	struct curl_slist *hdr = NULL;
	char ebuf[CURL_ERROR_SIZE];
	int rc = -1;

	*status_r = 0;
	if (!oauth_url_ok(url))
		return err_set(e, ERR_CONFIG, "OAuth2 endpoint %s: not https "
		    "(http is allowed only to a loopback address)", url);
	if ((c = easy_new(e)) == NULL)
		return -1;
	ebuf[0] = '\0';
	/* Through a pointer, curl_easy_setopt() loses curl.h's type checks
	 * (typecheck-gcc.h): every value below has the option's type, long
	 * where curl wants a long. */
	hdr = sym_curl_slist_append(hdr, "Accept: application/json");
	(void)sym_curl_easy_setopt(c, CURLOPT_URL, url);
	(void)sym_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	(void)sym_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	(void)sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	(void)sym_curl_easy_setopt(c, CURLOPT_TIMEOUT, OAUTH_HTTP_TIMEOUT);
	(void)sym_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
	(void)sym_curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	(void)sym_curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	(void)sym_curl_easy_setopt(c, CURLOPT_SSLVERSION,
	    CURL_SSLVERSION_TLSv1_2);
	(void)sym_curl_easy_setopt(c, CURLOPT_USERAGENT, "mailpull/"
	    MAILPULL_VERSION);
	(void)sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	(void)sym_curl_easy_setopt(c, CURLOPT_POSTFIELDS, form->data);
	(void)sym_curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)form->len);
	(void)sym_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	(void)sym_curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	(void)sym_curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	cc = sym_curl_easy_perform(c);
	if (cc == CURLE_WRITE_ERROR) {
		err_set(e, ERR_PROTOCOL, "the OAuth2 endpoint's response is "
		    "larger than %d bytes", OAUTH_RESPONSE_MAX);
		goto out;
	}
	if (cc != CURLE_OK) {
		err_set(e, cc == CURLE_PEER_FAILED_VERIFICATION ||
		    cc == CURLE_SSL_CONNECT_ERROR ? ERR_TLS : ERR_TEMP,
		    "cannot reach the OAuth2 endpoint %s: %s", url,
		    ebuf[0] != '\0' ? ebuf : sym_curl_easy_strerror(cc));
		goto out;
	}
	(void)sym_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status_r);
	rc = 0;
out:
	sodium_memzero(form->data, form->len);
	buf_free(form);
	sym_curl_slist_free_all(hdr);
	sym_curl_easy_cleanup(c);
	return rc;
}

static int
token_call(const struct oauth_profile *p, const char *url, struct buf *form,
    struct oauth_token *t, struct err *e)
{
	struct buf resp;
	long status;
	int rc;

	memset(t, 0, sizeof(*t));
	buf_init(&resp, OAUTH_RESPONSE_MAX);
	if (http_post(url, form, &resp, &status, e) == -1) {
		buf_free(&resp);
		return -1;
	}
	rc = oauth_token_parse(resp.data != NULL ? resp.data : "", resp.len,
	    status, t, e);
	if (resp.data != NULL)
		sodium_memzero(resp.data, resp.len);
	buf_free(&resp);
	return rc;
}

int
oauth_grant_code(const struct oauth_profile *p, const char *code,
    const char *redirect_uri, const char *verifier, struct oauth_token *t,
    struct err *e)
{
	struct buf form;
	CURL *c = easy_new(e);

	if (c == NULL)
		return -1;
	buf_init(&form, 64 * 1024);
	form_add(&form, c, "grant_type", "authorization_code");
	form_add(&form, c, "code", code);
	form_add(&form, c, "redirect_uri", redirect_uri);
	form_add(&form, c, "code_verifier", verifier);
	form_client(&form, c, p);
	sym_curl_easy_cleanup(c);
	return token_call(p, p->token_url, &form, t, e);
}

int
oauth_grant_refresh(const struct oauth_profile *p, const char *refresh,
    struct oauth_token *t, struct err *e)
{
	struct buf form;
	CURL *c = easy_new(e);

	if (c == NULL)
		return -1;
	buf_init(&form, 64 * 1024);
	form_add(&form, c, "grant_type", "refresh_token");
	form_add(&form, c, "refresh_token", refresh);
	form_client(&form, c, p);
	sym_curl_easy_cleanup(c);
	return token_call(p, p->token_url, &form, t, e);
}

int
oauth_device_start(const struct oauth_profile *p, struct oauth_device *d,
    struct err *e)
{
	struct buf form, resp;
	CURL *c;
	long status;
	int rc;

	memset(d, 0, sizeof(*d));
	if (p->device_url == NULL)
		return err_set(e, ERR_CONFIG, "this provider profile has no "
		    "device authorization endpoint (--oauth2-device-url)");
	if ((c = easy_new(e)) == NULL)
		return -1;
	buf_init(&form, 64 * 1024);
	form_add(&form, c, "client_id", p->client_id);
	if (p->scope != NULL)
		form_add(&form, c, "scope", p->scope);
	sym_curl_easy_cleanup(c);
	buf_init(&resp, OAUTH_RESPONSE_MAX);
	if (http_post(p->device_url, &form, &resp, &status, e) == -1) {
		buf_free(&resp);
		return -1;
	}
	rc = oauth_device_parse(resp.data != NULL ? resp.data : "", resp.len,
	    status, d, e);
	if (resp.data != NULL)
		sodium_memzero(resp.data, resp.len);
	buf_free(&resp);
	return rc;
}

int
oauth_device_poll(const struct oauth_profile *p, struct oauth_device *d,
    struct oauth_token *t, struct err *e)
{
	struct buf form;
	CURL *c = easy_new(e);

	if (c == NULL)
		return -1;
	buf_init(&form, 64 * 1024);
	form_add(&form, c, "grant_type",
	    "urn:ietf:params:oauth:grant-type:device_code");
	form_add(&form, c, "device_code", d->device_code);
	form_client(&form, c, p);
	sym_curl_easy_cleanup(c);
	if (token_call(p, p->token_url, &form, t, e) == 0)
		return 0;
	/* RFC 8628 section 3.5. */
	if (strcmp(t->error, "authorization_pending") == 0)
		return 1;
	if (strcmp(t->error, "slow_down") == 0) {
		d->interval += 5;
		return 1;
	}
	return -1;
}

int
oauth_tokens_save(struct store *st, const char *acct,
    const struct oauth_token *t, struct err *e)
{
	return store_oauth_tokens_set(st, acct, t->refresh, t->access,
	    (int64_t)time(NULL) + t->expires_in, e);
}

int
oauth_access_token(struct store *st, const char *acct, bool force,
    char **token_r, enum oauth_mech *mech_r, bool *refreshed_r,
    struct err *e)
{
	struct oauth_acct o;
	struct oauth_profile p;
	struct oauth_token t;
	char *refresh = NULL, *access = NULL;
	size_t rlen = 0, alen = 0;
	int64_t exp = 0;
	int rc = -1;

	*token_r = NULL;
	*refreshed_r = false;
	memset(&p, 0, sizeof(p));
	memset(&t, 0, sizeof(t));
	if (store_oauth_get(st, acct, &o, e) == -1)
		return -1;
	if (o.state == OAUTH_TS_NEEDED || o.state == OAUTH_TS_NONE) {
		err_set(e, ERR_AUTH, "OAuth2 authorization needed%s%s: run "
		    "'mailpull account authorize %s'", o.reason != NULL ?
		    ": " : "", o.reason != NULL ? o.reason : "", acct);
		goto out;
	}
	if (oauth_profile_load(st, acct, &o, &p, e) == -1)
		goto out;
	*mech_r = p.mech;
	if (store_oauth_tokens_get(st, acct, &refresh, &rlen, &access, &alen,
	    &exp, e) == -1)
		goto out;
	if (!force && access != NULL &&
	    exp > (int64_t)time(NULL) + OAUTH_EXPIRY_MARGIN) {
		*token_r = access;
		access = NULL;
		rc = 0;
		goto out;
	}
	if (refresh == NULL) {
		err_set(e, ERR_AUTH, "no OAuth2 refresh token stored: run "
		    "'mailpull account authorize %s'", acct);
		goto out;
	}
	*refreshed_r = true;
	if (oauth_grant_refresh(&p, refresh, &t, e) == -1) {
		if (strcmp(t.error, "invalid_grant") == 0) {
			struct err se = { 0 };
			char *why = xasprintf("%s%s%s", t.error,
			    t.error_desc[0] != '\0' ? ": " : "", t.error_desc);

			(void)store_oauth_needed(st, acct, why, &se);
			err_clear(&se);
			err_set(e, ERR_AUTH, "OAuth2 authorization needed: the "
			    "provider refused the refresh token (%s); run "
			    "'mailpull account authorize %s'", why, acct);
			free(why);
		} else
			err_prefix(e, "refreshing the OAuth2 access token");
		goto out;
	}
	if (oauth_tokens_save(st, acct, &t, e) == -1)
		goto out;
	*token_r = t.access;
	t.access = NULL;
	rc = 0;
out:
	oauth_token_clear(&t);
	if (refresh != NULL)
		store_secret_free(&refresh, rlen);
	if (access != NULL)
		store_secret_free(&access, alen);
	oauth_profile_clear(&p);
	oauth_acct_clear(&o);
	return rc;
}
