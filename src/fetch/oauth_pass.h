/*
 * oauth_pass.h - the OAuth2 side of authentication in a pass, shared by
 * pop3_pass.c (p3_auth) and imap_pass.c (im_login). Private to
 * src/fetch/.
 *
 * A method asks oauth_pass_begin() for the SASL mechanism and the base64
 * initial response for the server's offer; on a refusal it reads the
 * provider's JSON error from the continuation with oauth_pass_error(),
 * answers it with the mechanism's acknowledgement (the exchange must end
 * with the server's own failure), and calls oauth_pass_begin() once more
 * with retry set: the access token is refreshed and the exchange repeated.
 */
#ifndef MP_OAUTH_PASS_H
#define MP_OAUTH_PASS_H

#include "common.h"
#include "fetch/pass_impl.h"

/* Is the account an OAuth2 account (no password needed)? */
bool oauth_pass_enabled(struct store *, const char *acct);

struct oauth_sasl {
	const char *mech;	/* "XOAUTH2" or "OAUTHBEARER" */
	const char *ack;	/* the answer to an error challenge */
	char *b64;		/* the initial response; wiped by clear */
};

/*
 * The token (refreshed when it is near expiry, or always when retry) and
 * the SASL response for a server offering xoauth2/oauthbearer. -1 with
 * ERR_AUTH when neither usable mechanism is offered or the account needs
 * authorizing again.
 */
int oauth_pass_begin(struct pass_ctx *, bool retry, bool xoauth2,
    bool oauthbearer, struct oauth_sasl *, struct err *);
void oauth_pass_clear(struct oauth_sasl *);
/* The error challenge (base64 JSON) as "status S, scope C" into buf, and
 * logged. */
void oauth_pass_error(struct pass_ctx *, const char *text, size_t len,
    char *buf, size_t cap);

#endif
