/*
 * oauth.h - OAuth 2.0 for mail accounts: provider profiles, the
 * authorization-code flow with PKCE (RFC 6749 section 4.1, RFC 7636) and a
 * loopback redirect (RFC 8252 section 7.3), the device flow (RFC 8628),
 * the token endpoint (libcurl), and access tokens kept fresh for a pass.
 *
 * Pure parts (no I/O): profiles, PKCE, the authorization URL, the redirect
 * parser, the token and device response parsers. They are unit-tested.
 *
 * Secrets (client secret, codes, tokens, the PKCE verifier) are never
 * logged and never put in an error message; buffers holding them are
 * wiped. Token endpoint URLs must be https (http only to a loopback
 * address). Responses are bounded (OAUTH_RESPONSE_MAX) and hostile.
 *
 * Returns 0, or -1 with err: ERR_AUTH (the provider refused: a revoked
 * refresh token, access_denied), ERR_CONFIG (no client id, bad profile,
 * invalid_client), ERR_TEMP (5xx, network), ERR_PROTOCOL (a malformed
 * response).
 */
#ifndef MP_OAUTH_H
#define MP_OAUTH_H

#include "common.h"

#include "store/oauth.h"
#include "store/store.h"
#include "util/err.h"

#define OAUTH_RESPONSE_MAX	(64 * 1024)
#define OAUTH_VERIFIER_LEN	43	/* 32 random bytes, base64url */
#define OAUTH_CHALLENGE_LEN	43	/* SHA-256, base64url */
#define OAUTH_URL_MAX		2048
#define OAUTH_EXPIRY_MARGIN	60	/* refresh this long before expiry */

enum oauth_mech {
	OAUTH_MECH_AUTO = 0,
	OAUTH_MECH_XOAUTH2,
	OAUTH_MECH_OAUTHBEARER,
};

/* A provider's built-in defaults. */
struct oauth_builtin {
	const char *name;
	const char *auth_url;	/* "{tenant}" replaced (microsoft) */
	const char *token_url;
	const char *device_url;
	const char *scope;
	const char *auth_extra;	/* extra authorization parameters */
	enum oauth_mech mech;
};

/* google, microsoft, custom; NULL when unknown. */
const struct oauth_builtin *oauth_builtin_find(const char *name);
/* "xoauth2"/"oauthbearer"/"auto" and back; parse: -1 when unknown. */
int oauth_mech_parse(const char *, enum oauth_mech *);
const char *oauth_mech_name(enum oauth_mech);

/* Everything needed to talk to the provider for one account. */
struct oauth_profile {
	char *provider;
	char *auth_url, *token_url, *device_url;	/* device may be NULL */
	char *auth_extra;
	char *client_id;
	char *client_secret;	/* sealed at rest; NULL for public clients */
	size_t client_secret_len;
	char *scope;
	enum oauth_mech mech;
};

/* Resolve o (the account's settings) with the built-in profile, the
 * oauth2.PROVIDER.client-id setting and sealed secret. ERR_CONFIG when an
 * endpoint or the client id is missing. */
int oauth_profile_load(struct store *, const char *acct,
    const struct oauth_acct *o, struct oauth_profile *, struct err *);
void oauth_profile_clear(struct oauth_profile *);
/* Is url acceptable as an endpoint: https, or http to a loopback host? */
bool oauth_url_ok(const char *url);

/* PKCE: a fresh verifier and its S256 challenge, BASE64URL(SHA256(v)). */
void oauth_pkce_make(char verifier[OAUTH_VERIFIER_LEN + 1],
    char challenge[OAUTH_CHALLENGE_LEN + 1]);
void oauth_pkce_challenge(const char *verifier,
    char challenge[OAUTH_CHALLENGE_LEN + 1]);
/* A random state value (22 characters). */
void oauth_state_make(char state[23]);

/* The authorization URL the user opens (allocated). */
char *oauth_auth_url(const struct oauth_profile *, const char *redirect_uri,
    const char *state, const char *challenge);

/*
 * The redirect back: a whole URL, or an HTTP request target ("/?code=..").
 * Checks state, returns the code (allocated, wipe with oauth_wipe_free).
 * error=access_denied and other errors: ERR_AUTH with the provider's error
 * and description; a missing or different state: ERR_AUTH; no code:
 * ERR_PROTOCOL.
 */
int oauth_redirect_parse(const char *url, const char *state, char **code_r,
    struct err *);

/* A token endpoint response. */
struct oauth_token {
	char *access;		/* allocated; wipe */
	char *refresh;		/* NULL when none was sent */
	int64_t expires_in;	/* seconds; 3600 when the provider said none */
	char error[64];		/* error responses: the code */
	char error_desc[256];	/* and its description (printable) */
};

void oauth_token_clear(struct oauth_token *);
/*
 * Parse a token response body with its HTTP status. 0 with tok filled, or
 * -1: tok->error set for an error response (RFC 6749 section 5.2;
 * invalid_grant is ERR_AUTH), ERR_PROTOCOL for anything malformed (not
 * JSON, no access_token, token_type not Bearer, a token not usable in
 * SASL, expires_in out of 1..31536000, body over OAUTH_RESPONSE_MAX).
 */
int oauth_token_parse(const char *body, size_t len, long http_status,
    struct oauth_token *tok, struct err *);

/* A device authorization response (RFC 8628 section 3.2). */
struct oauth_device {
	char *device_code;	/* secret */
	char *user_code;
	char *verification_uri;
	char *verification_uri_complete;	/* may be NULL */
	int64_t expires_in;
	int interval;		/* seconds, default 5 */
};
void oauth_device_clear(struct oauth_device *);
int oauth_device_parse(const char *body, size_t len, long http_status,
    struct oauth_device *, struct err *);

/* Token endpoint requests (network). */
int oauth_grant_code(const struct oauth_profile *, const char *code,
    const char *redirect_uri, const char *verifier, struct oauth_token *,
    struct err *);
int oauth_grant_refresh(const struct oauth_profile *, const char *refresh,
    struct oauth_token *, struct err *);
int oauth_device_start(const struct oauth_profile *, struct oauth_device *,
    struct err *);
/* One poll: 0 tokens, 1 still pending (interval may have grown), -1. */
int oauth_device_poll(const struct oauth_profile *, struct oauth_device *,
    struct oauth_token *, struct err *);

/* Store new tokens for acct (state: authorized). */
int oauth_tokens_save(struct store *, const char *acct,
    const struct oauth_token *, struct err *);

/*
 * An access token for a pass: the stored one when it is valid for more
 * than OAUTH_EXPIRY_MARGIN seconds and !force, else a refreshed one (saved
 * before it is returned). A refused refresh token (invalid_grant) puts the
 * account into "authorization needed" and fails with ERR_AUTH telling the
 * admin to run `mailpull account authorize ID`. *mech_r: the mechanism
 * the profile asks for (AUTO: the caller picks from the server's).
 * *refreshed_r: a token endpoint request was made.
 */
int oauth_access_token(struct store *, const char *acct, bool force,
    char **token_r, enum oauth_mech *mech_r, bool *refreshed_r,
    struct err *);

/* The loopback redirect listener: bind 127.0.0.1 on a free port. */
int oauth_loopback_open(int *fd_r, int *port_r, struct err *);
/*
 * Wait up to timeout_s for either a browser's request on the listener
 * (answered with a short page) or a line on in_fd (the pasted redirect
 * URL; in_fd -1: none). *target_r: the request target or the pasted URL
 * (allocated). ERR_TIMEOUT when nothing came.
 */
int oauth_loopback_wait(int lfd, int in_fd, int timeout_s, char **target_r,
    struct err *);

/* Wipe a NUL-terminated string and free it; *p = NULL. */
void oauth_wipe_free(char **p);

#endif
