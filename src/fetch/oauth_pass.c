/*
 * oauth_pass.c - OAuth2 tokens and SASL responses for a pass
 * (oauth_pass.h).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch/oauth_pass.h"
#include "oauth/oauth.h"
#include "proto/sasl.h"
#include "store/oauth.h"

bool
oauth_pass_enabled(struct store *st, const char *acct)
{
	struct oauth_acct o;
	bool r;

	if (store_oauth_get(st, acct, &o, NULL) == -1)
		return false;
	r = o.oauth2;
	oauth_acct_clear(&o);
	return r;
}

void
oauth_pass_clear(struct oauth_sasl *s)
{
	oauth_wipe_free(&s->b64);
	memset(s, 0, sizeof(*s));
}

int
oauth_pass_begin(struct pass_ctx *ctx, bool retry, bool xoauth2,
    bool oauthbearer, struct oauth_sasl *s, struct err *e)
{
	const struct account *a = ctx->a;
	enum oauth_mech want = OAUTH_MECH_AUTO, use;
	char *tok = NULL, *raw = NULL;
	size_t rawlen = 0;
	bool refreshed;
	int r;

	memset(s, 0, sizeof(*s));
	if (oauth_access_token(ctx->st, a->id, retry, &tok, &want, &refreshed,
	    e) == -1)
		return -1;
	if (refreshed)
		pass_log(ctx, "OAuth2 access token refreshed%s",
		    retry ? " after the server refused the previous one" : "");
	/* The profile's mechanism when offered, else the other one. */
	if (want == OAUTH_MECH_XOAUTH2 && xoauth2)
		use = OAUTH_MECH_XOAUTH2;
	else if (want == OAUTH_MECH_OAUTHBEARER && oauthbearer)
		use = OAUTH_MECH_OAUTHBEARER;
	else if (want == OAUTH_MECH_AUTO && oauthbearer)
		use = OAUTH_MECH_OAUTHBEARER;
	else if (xoauth2)
		use = OAUTH_MECH_XOAUTH2;
	else if (oauthbearer)
		use = OAUTH_MECH_OAUTHBEARER;
	else {
		oauth_wipe_free(&tok);
		return err_set(e, ERR_AUTH, "server offers neither XOAUTH2 "
		    "nor OAUTHBEARER, so the OAuth2 account cannot log in");
	}
	if (use == OAUTH_MECH_XOAUTH2) {
		r = sasl_xoauth2_build(a->user, tok, &raw, &rawlen);
		s->mech = "XOAUTH2";
		s->ack = SASL_XOAUTH2_ERROR_ACK;
	} else {
		r = sasl_oauthbearer_build(a->user, a->host, account_port(a),
		    tok, &raw, &rawlen);
		s->mech = "OAUTHBEARER";
		s->ack = SASL_OAUTHBEARER_ERROR_ACK;
	}
	oauth_wipe_free(&tok);
	if (r == -1)
		return err_set(e, ERR_CONFIG, "cannot build the %s response "
		    "(user name with control characters, or an unusable "
		    "token)", s->mech);
	s->b64 = sasl_b64(raw, rawlen);
	sasl_wipe_free(&raw, rawlen);
	pass_log(ctx, "authenticating with SASL %s (OAuth2)", s->mech);
	return 0;
}

void
oauth_pass_error(struct pass_ctx *ctx, const char *text, size_t len,
    char *buf, size_t cap)
{
	struct sasl_oauth_error er;

	if (sasl_oauth_error_parse(text, len, &er) == -1) {
		(void)snprintf(buf, cap, "the server sent an undecodable "
		    "challenge");
	} else {
		(void)snprintf(buf, cap, "provider status %s%s%s",
		    er.status[0] != '\0' ? er.status : "?",
		    er.scope[0] != '\0' ? ", scope " : "", er.scope);
	}
	pass_log(ctx, "token refused: %s", buf);
}
