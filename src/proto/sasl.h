/*
 * sasl.h - SASL client responses for OAuth 2.0 bearer tokens: XOAUTH2
 * (Google's and Microsoft's mechanism) and OAUTHBEARER (RFC 7628), and the
 * error a server sends in the continuation when it refuses a token. Pure
 * functions: no I/O, no state.
 *
 * Limits: user at most SASL_USER_MAX bytes without control characters (no
 * ^A, CR, LF, NUL); token at most SASL_TOKEN_MAX bytes of the RFC 6750
 * b64token alphabet. Anything else is refused (-1), never truncated.
 *
 * Responses are returned raw (*out_r allocated, *len_r bytes) and as
 * base64 by sasl_b64(); callers wipe them (they hold the token) with
 * sasl_wipe_free().
 */
#ifndef MP_SASL_H
#define MP_SASL_H

#include "common.h"

#define SASL_USER_MAX	1024
#define SASL_TOKEN_MAX	8192
#define SASL_ERROR_MAX	4096	/* decoded error challenge */

/* "user=" USER ^A "auth=Bearer " TOKEN ^A ^A. 0 or -1. */
int sasl_xoauth2_build(const char *user, const char *token, char **out_r,
    size_t *len_r);

/*
 * RFC 7628 section 3.1: gs2-header "n,a=" SASLNAME "," then ^A, the
 * optional "host=" HOST ^A and "port=" PORT ^A (host NULL / port 0: left
 * out), "auth=Bearer " TOKEN ^A ^A. In SASLNAME "," is "=2C" and "=" is
 * "=3D" (RFC 5801). 0 or -1.
 */
int sasl_oauthbearer_build(const char *user, const char *host, int port,
    const char *token, char **out_r, size_t *len_r);

/* The client's answer to an error challenge that completes the exchange
 * so the server sends its final failure: XOAUTH2 an empty response,
 * OAUTHBEARER the single byte ^A ("AQ==", RFC 7628 section 3.2.3). */
#define SASL_XOAUTH2_ERROR_ACK		""
#define SASL_OAUTHBEARER_ERROR_ACK	"AQ=="

/* Base64 (RFC 4648 section 4, padded) of len bytes; allocated. */
char *sasl_b64(const void *, size_t len);

/* The server's error (RFC 7628 section 3.2.2; Google's XOAUTH2 form is the
 * same JSON): members copied, truncated to fit, printable ASCII only. */
struct sasl_oauth_error {
	char status[64];	/* "invalid_token", "401", ... */
	char scope[256];
	char schemes[64];
	char openid_config[256];
};

/*
 * Decode a continuation's text (base64 of a JSON object) into *er.
 * 0 parsed (members absent are ""), -1 not base64, longer than
 * SASL_ERROR_MAX once decoded, or not a JSON object.
 */
int sasl_oauth_error_parse(const char *b64, size_t len,
    struct sasl_oauth_error *er);

/* Wipe len bytes and free; *p = NULL. */
void sasl_wipe_free(char **p, size_t len);

#endif
