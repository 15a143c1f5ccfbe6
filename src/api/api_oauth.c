/*
 * api_oauth.c - the web UI's "Authorize" button: the OAuth2
 * authorization-code flow with PKCE (RFC 6749 section 4.1, RFC 7636)
 * through the browser, with the API server's own callback as the
 * redirect URI.
 *
 * POST /api/accounts/ID/authorize (a session that may edit the account,
 * CSRF) keeps a pending authorization in memory - state, PKCE verifier,
 * redirect URI, account id, API_OAUTH_TTL seconds, at most
 * API_OAUTH_PENDING of them - and answers the provider's authorization
 * URL. GET /api/oauth/callback?code=..&state=.. is a top-level navigation
 * from the provider: the session cookie (SameSite=Strict) is not sent, so
 * the state alone binds the redirect to its pending authorization; it is
 * used once and expires. The code is exchanged at the token endpoint
 * (oauth/token.c), the tokens are stored sealed as `account authorize`
 * does, the change counter is bumped (serve resumes the account), and a
 * small HTML page answers.
 *
 * The redirect URI is http(s)://HOST/api/oauth/callback, HOST from the
 * Host header (X-Forwarded-Host and -Proto when the proxy is trusted): the
 * provider's app registration must allow it.
 *
 * Nothing secret (code, verifier, tokens, client secret) is logged or
 * answered; the state is answered only inside the authorization URL.
 */
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api/api_impl.h"
#include "oauth/oauth.h"
#include "store/account.h"
#include "store/oauth.h"
#include "store/settings.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define API_OAUTH_TTL		600	/* seconds a pending one lives */
#define API_OAUTH_PENDING	32	/* pending authorizations kept */
#define API_OAUTH_STATE_LEN	22
#define API_OAUTH_HOST_MAX	255
#define API_OAUTH_PATH		"/api/oauth/callback"

struct pending {
	bool used;
	char state[API_OAUTH_STATE_LEN + 1];
	char verifier[OAUTH_VERIFIER_LEN + 1];
	char *acct;
	char *redirect;
	char *by;			/* who started it (for the log) */
	time_t created;
};

/* One API server per process: the table is the process's. */
static pthread_mutex_t pend_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pending pend[API_OAUTH_PENDING];

static void
pending_clear(struct pending *p)
{
	free(p->acct);
	free(p->redirect);
	free(p->by);
	sodium_memzero(p, sizeof(*p));
}

/* Drop expired ones (pend_mu held). */
static void
pending_expire(time_t now)
{
	size_t i;

	for (i = 0; i < API_OAUTH_PENDING; i++)
		if (pend[i].used && (now - pend[i].created > API_OAUTH_TTL ||
		    now < pend[i].created))
			pending_clear(&pend[i]);
}

/* Keep a new pending authorization; a previous one for the same account
 * is replaced, and a full table loses its oldest. */
static void
pending_add(const char *acct, const char *redirect, const char *by,
    const char *state, const char *verifier)
{
	struct pending *slot = NULL;
	time_t now = time(NULL);
	size_t i;

	(void)pthread_mutex_lock(&pend_mu);
	pending_expire(now);
	for (i = 0; i < API_OAUTH_PENDING; i++)
		if (pend[i].used && strcmp(pend[i].acct, acct) == 0)
			pending_clear(&pend[i]);
	for (i = 0; i < API_OAUTH_PENDING; i++) {
		if (!pend[i].used) {
			slot = &pend[i];
			break;
		}
		if (slot == NULL || pend[i].created < slot->created)
			slot = &pend[i];
	}
	if (slot->used)
		pending_clear(slot);
	slot->used = true;
	(void)snprintf(slot->state, sizeof(slot->state), "%s", state);
	(void)snprintf(slot->verifier, sizeof(slot->verifier), "%s",
	    verifier);
	slot->acct = xstrdup(acct);
	slot->redirect = xstrdup(redirect);
	slot->by = xstrdup(by);
	slot->created = now;
	(void)pthread_mutex_unlock(&pend_mu);
}

/* Take (and remove) the live pending authorization with this state:
 * 0 with *out filled (the caller clears it), -1 when none. */
static int
pending_take(const char *state, struct pending *out)
{
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (state == NULL || strlen(state) != API_OAUTH_STATE_LEN)
		return -1;
	(void)pthread_mutex_lock(&pend_mu);
	pending_expire(time(NULL));
	for (i = 0; i < API_OAUTH_PENDING; i++)
		if (pend[i].used && sodium_memcmp(pend[i].state, state,
		    API_OAUTH_STATE_LEN) == 0) {
			*out = pend[i];		/* ownership moves */
			sodium_memzero(&pend[i], sizeof(pend[i]));
			rc = 0;
			break;
		}
	(void)pthread_mutex_unlock(&pend_mu);
	return rc;
}

void
api_oauth_reset(void)
{
	size_t i;

	(void)pthread_mutex_lock(&pend_mu);
	for (i = 0; i < API_OAUTH_PENDING; i++)
		if (pend[i].used)
			pending_clear(&pend[i]);
	(void)pthread_mutex_unlock(&pend_mu);
}

/* ---- the redirect URI ---- */

static bool
host_ok(const char *h)
{
	size_t n = strlen(h);

	return n > 0 && n <= API_OAUTH_HOST_MAX && strspn(h,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-:[]") == n;
}

/* http(s)://HOST/api/oauth/callback as the browser reached us, or NULL
 * (no usable Host). */
static char *
redirect_uri(struct req *r)
{
	const char *h = NULL, *xfh, *p;
	char host[API_OAUTH_HOST_MAX + 1];
	size_t n;

	if (r->api->o.trust_proxy) {
		xfh = req_header(r, "X-Forwarded-Host");
		if (xfh != NULL) {
			/* the proxy's own entry is the last */
			p = strrchr(xfh, ',');
			h = p != NULL ? p + 1 : xfh;
			h += strspn(h, " \t");
		}
	}
	if (h == NULL)
		h = req_header(r, "Host");
	if (h == NULL)
		return NULL;
	n = strcspn(h, " \t");
	if (n == 0 || n >= sizeof(host))
		return NULL;
	memcpy(host, h, n);
	host[n] = '\0';
	if (!host_ok(host))
		return NULL;
	return xasprintf("%s://%s%s", r->secure ? "https" : "http", host,
	    API_OAUTH_PATH);
}

/* ---- POST /api/accounts/ID/authorize ---- */

int
api_oauth_authorize(struct req *r, const struct account *a)
{
	struct oauth_acct o;
	struct oauth_profile p;
	struct err e = { 0 };
	char verifier[OAUTH_VERIFIER_LEN + 1];
	char challenge[OAUTH_CHALLENGE_LEN + 1];
	char state[API_OAUTH_STATE_LEN + 1];
	char *redirect = NULL, *url = NULL;
	int rc;

	memset(&o, 0, sizeof(o));
	memset(&p, 0, sizeof(p));
	if (strcmp(r->method, "POST") != 0)
		return reply_error(r, 405, "use POST", NULL);
	if (store_oauth_get(r->st, a->id, &o, &e) == -1) {
		rc = reply_store_error(r, &e);
		goto out;
	}
	if (!o.oauth2) {
		rc = reply_error(r, 409, "not an OAuth2 account (set auth to "
		    "oauth2 first)", NULL);
		goto out;
	}
	if (oauth_profile_load(r->st, a->id, &o, &p, &e) == -1) {
		if (e.cls != ERR_CONFIG) {
			rc = reply_store_error(r, &e);
			goto out;
		}
		log_info("api: %s: cannot authorize: %s", a->id, err_msg(&e));
		rc = reply_error(r, 409, err_msg(&e), NULL);
		goto out;
	}
	if (p.auth_url == NULL) {
		rc = reply_error(r, 409, "no authorization endpoint "
		    "(oauth2_auth_url); use `mailpull account authorize "
		    "--device` on the server", NULL);
		goto out;
	}
	if ((redirect = redirect_uri(r)) == NULL) {
		rc = reply_error(r, 400, "no usable Host header for the "
		    "redirect URI", NULL);
		goto out;
	}
	oauth_pkce_make(verifier, challenge);
	oauth_state_make(state);
	url = oauth_auth_url(&p, redirect, state, challenge);
	pending_add(a->id, redirect, r->u.name, state, verifier);
	log_info("api: %s: authorization started by %s (redirect %s)", a->id,
	    r->u.name, redirect);
	rc = reply_json(r, 200, json_pack("{s:s, s:s, s:i}", "url", url,
	    "redirect_uri", redirect, "expires_in", API_OAUTH_TTL));
out:
	sodium_memzero(verifier, sizeof(verifier));
	sodium_memzero(state, sizeof(state));
	free(url);
	free(redirect);
	oauth_profile_clear(&p);
	oauth_acct_clear(&o);
	err_clear(&e);
	return rc;
}

/* ---- GET /api/oauth/callback ---- */

static void
html_add(struct buf *b, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '<')
			(void)buf_adds(b, "&lt;");
		else if (c == '>')
			(void)buf_adds(b, "&gt;");
		else if (c == '&')
			(void)buf_adds(b, "&amp;");
		else if (c == '"')
			(void)buf_adds(b, "&quot;");
		else if (c == '\'')
			(void)buf_adds(b, "&#39;");
		else if (c < 0x20 || c == 0x7f)
			(void)buf_adds(b, "?");
		else
			(void)buf_add(b, &s[i], 1);
	}
}

/* The page: title and one paragraph (both escaped here). */
static int
page(struct req *r, unsigned status, const char *title, const char *acct,
    const char *msg)
{
	struct buf b;
	int rc;

	buf_init(&b, 16 * 1024);
	(void)buf_adds(&b, "<!doctype html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" "
	    "content=\"width=device-width\"><title>");
	html_add(&b, title, 200);
	(void)buf_adds(&b, " - mailpull</title>"
	    "<link rel=\"stylesheet\" href=\"/app.css\"></head>\n"
	    "<body><main class=\"oauth-result\"><h1 id=\"result\">");
	html_add(&b, title, 200);
	(void)buf_adds(&b, "</h1>\n");
	if (acct != NULL) {
		(void)buf_adds(&b, "<p>Account <code id=\"account\">");
		html_add(&b, acct, 512);
		(void)buf_adds(&b, "</code></p>\n");
	}
	(void)buf_adds(&b, "<p id=\"message\">");
	html_add(&b, msg, 1024);
	(void)buf_adds(&b, "</p>\n</main></body></html>\n");
	rc = reply_text(r, status, "text/html; charset=utf-8",
	    b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return rc;
}

int
api_oauth_callback(struct req *r)
{
	struct pending pd;
	struct oauth_acct o;
	struct oauth_profile p;
	struct oauth_token t;
	struct err e = { 0 };
	const char *code, *error, *desc;
	char msg[512];
	int rc;

	if (strcmp(r->method, "GET") != 0)
		return reply_error(r, 405, "use GET", NULL);
	memset(&o, 0, sizeof(o));
	memset(&p, 0, sizeof(p));
	memset(&t, 0, sizeof(t));
	/* The state first: an answer to someone else's request is not ours
	 * to act on or report (RFC 6749 section 10.12). */
	if (pending_take(req_arg(r, "state"), &pd) == -1) {
		log_info("api: OAuth2 callback from %s with an unknown, used "
		    "or expired state", r->addr);
		return page(r, 400, "Authorization failed", NULL,
		    "This authorization request is unknown, was already "
		    "used, or expired. Start again with the Authorize "
		    "button.");
	}
	code = req_arg(r, "code");
	error = req_arg(r, "error");
	desc = req_arg(r, "error_description");
	if (error != NULL) {
		(void)snprintf(msg, sizeof(msg), "The provider refused the "
		    "authorization: %.64s%s%.200s%s", error,
		    desc != NULL ? " (" : "", desc != NULL ? desc : "",
		    desc != NULL ? ")" : "");
		log_info("api: %s: the provider refused the authorization "
		    "started by %s", pd.acct, pd.by);
		rc = page(r, 403, "Authorization failed", pd.acct, msg);
		goto out;
	}
	if (code == NULL || code[0] == '\0') {
		rc = page(r, 400, "Authorization failed", pd.acct,
		    "The provider's redirect carried no code.");
		goto out;
	}
	if (store_oauth_get(r->st, pd.acct, &o, &e) == -1)
		goto fail;
	if (!o.oauth2) {
		err_set(&e, ERR_CONFIG, "the account is no longer an OAuth2 "
		    "account");
		goto fail;
	}
	if (oauth_profile_load(r->st, pd.acct, &o, &p, &e) == -1 ||
	    oauth_grant_code(&p, code, pd.redirect, pd.verifier, &t,
	    &e) == -1)
		goto fail;
	if (t.refresh == NULL) {
		err_set(&e, ERR_AUTH, "the provider issued no refresh token "
		    "(check the scope includes offline access; for Google, "
		    "remove mailpull's access at myaccount.google.com and "
		    "authorize again)");
		goto fail;
	}
	if (oauth_tokens_save(r->st, pd.acct, &t, &e) == -1 ||
	    store_change_bump(r->st, &e) == -1)
		goto fail;
	log_info("api: %s: authorized through the web UI (started by %s)",
	    pd.acct, pd.by);
	rc = page(r, 200, "Authorized", pd.acct, "The account is authorized: "
	    "mailpull stored its tokens. You can close this tab.");
	goto out;
fail:
	log_warnx("api: %s: web authorization failed: %s", pd.acct,
	    err_msg(&e));
	(void)snprintf(msg, sizeof(msg), "%s", err_msg(&e));
	rc = page(r, e.cls == ERR_LOCAL || e.cls == ERR_INTERNAL ? 500 : 502,
	    "Authorization failed", pd.acct, msg);
out:
	oauth_token_clear(&t);
	oauth_profile_clear(&p);
	oauth_acct_clear(&o);
	pending_clear(&pd);
	err_clear(&e);
	return rc;
}
