/*
 * oauth.h - what OAuth2 accounts keep in the store: per account the
 * authentication mode and provider profile (`account add|edit --auth
 * oauth2 --oauth2-...`), the sealed client secret, the sealed refresh and
 * access tokens with the access token's expiry, and the token state
 * ("authorized", "authorization needed: REASON"); per provider the sealed
 * client secret set with `mailpull config set oauth2.PROVIDER.client-
 * secret-file F`.
 *
 * Secrets are sealed with the store's key (store/secret.h) and only ever
 * returned by the *_get functions that name them; struct oauth_acct holds
 * no secret, only whether one is stored. Config changes bump the change
 * counter; token updates do not (a refresh is not an edit).
 *
 * Returns 0, or -1 with err (ERR_LOCAL for store failures, ERR_CONFIG for
 * a blob that does not open).
 */
#ifndef MP_STORE_OAUTH_H
#define MP_STORE_OAUTH_H

#include "common.h"
#include "store/store.h"
#include "util/err.h"

enum oauth_tstate {
	OAUTH_TS_NONE = 0,	/* never authorized */
	OAUTH_TS_AUTHORIZED,
	OAUTH_TS_NEEDED,	/* refresh token revoked or expired */
};

struct oauth_acct {
	bool oauth2;		/* --auth oauth2 */
	char *provider;		/* google, microsoft, custom */
	char *tenant;		/* microsoft: NULL means "common" */
	char *auth_url, *token_url, *device_url;	/* overrides */
	char *client_id;	/* NULL: oauth2.PROVIDER.client-id */
	char *scope;		/* NULL: the provider's default */
	char *mech;		/* xoauth2, oauthbearer; NULL: automatic */
	bool has_client_secret;	/* a per-account secret is stored */
	/* token state (read only here; set by the functions below) */
	enum oauth_tstate state;
	char *reason;		/* OAUTH_TS_NEEDED: why */
	int64_t expires_at;	/* access token, unix seconds; 0 none */
	int64_t authorized_at;
	bool has_refresh, has_access;
};

void oauth_acct_clear(struct oauth_acct *);
const char *oauth_tstate_name(enum oauth_tstate);

/* Fills *o; an account without a row is a password account (zeros). */
int store_oauth_get(struct store *, const char *acct, struct oauth_acct *,
    struct err *);
/* Insert or replace the account's configuration (not secrets or tokens). */
int store_oauth_set(struct store *, const char *acct,
    const struct oauth_acct *, struct err *);

/* Per-account client secret: set (NULL: remove), get (*s_r NULL when
 * none; free with store_secret_free()). */
int store_oauth_client_secret_set(struct store *, const char *acct,
    const char *secret, size_t len, struct err *);
int store_oauth_client_secret_get(struct store *, const char *acct,
    char **s_r, size_t *len_r, struct err *);
/* Per-provider client secret, the same way. */
int store_oauth_provider_secret_set(struct store *, const char *provider,
    const char *secret, size_t len, struct err *);
int store_oauth_provider_secret_get(struct store *, const char *provider,
    char **s_r, size_t *len_r, struct err *);

/*
 * New tokens: access (with its expiry) and, when not NULL, a new refresh
 * token (NULL keeps the stored one). The state becomes authorized.
 */
int store_oauth_tokens_set(struct store *, const char *acct,
    const char *refresh, const char *access, int64_t expires_at,
    struct err *);
/* The stored tokens (either may come back NULL); free with
 * store_secret_free(). */
int store_oauth_tokens_get(struct store *, const char *acct,
    char **refresh_r, size_t *rlen_r, char **access_r, size_t *alen_r,
    int64_t *expires_at_r, struct err *);
/* Forget the access token (it was refused): the next use refreshes. */
int store_oauth_access_drop(struct store *, const char *acct, struct err *);
/* The refresh token was refused: both tokens are dropped and the state is
 * "authorization needed: reason". */
int store_oauth_needed(struct store *, const char *acct, const char *reason,
    struct err *);

#endif
