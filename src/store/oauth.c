/*
 * oauth.c - OAuth2 account configuration, sealed secrets and tokens
 * (oauth.h).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "store/oauth.h"
#include "store/settings.h"
#include "store/store_impl.h"
#include "util/xmalloc.h"

static const char sql_get[] =
    "SELECT auth, provider, tenant, auth_url, token_url, device_url, "
    "client_id, scope, client_secret IS NOT NULL, state, reason, "
    "expires_at, authorized_at, refresh_token IS NOT NULL, "
    "access_token IS NOT NULL, mech FROM account_oauth WHERE account = ?1";
static const char sql_set[] =
    "INSERT INTO account_oauth (account, auth, provider, tenant, auth_url, "
    "token_url, device_url, client_id, scope, mech) VALUES (?1, ?2, ?3, "
    "?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (account) DO UPDATE SET "
    "auth = excluded.auth, provider = excluded.provider, "
    "tenant = excluded.tenant, auth_url = excluded.auth_url, "
    "token_url = excluded.token_url, device_url = excluded.device_url, "
    "client_id = excluded.client_id, scope = excluded.scope, "
    "mech = excluded.mech";
static const char sql_csecret_set[] =
    "INSERT INTO account_oauth (account, client_secret) VALUES (?1, ?2) "
    "ON CONFLICT (account) DO UPDATE SET client_secret = "
    "excluded.client_secret";
static const char sql_csecret_get[] =
    "SELECT client_secret FROM account_oauth WHERE account = ?1";
static const char sql_psecret_set[] =
    "INSERT INTO oauth_provider_secrets (provider, secret) VALUES (?1, ?2) "
    "ON CONFLICT (provider) DO UPDATE SET secret = excluded.secret";
static const char sql_psecret_del[] =
    "DELETE FROM oauth_provider_secrets WHERE provider = ?1";
static const char sql_psecret_get[] =
    "SELECT secret FROM oauth_provider_secrets WHERE provider = ?1";
static const char sql_tokens_set[] =
    "UPDATE account_oauth SET access_token = ?2, expires_at = ?3, "
    "refresh_token = COALESCE(?4, refresh_token), state = 'authorized', "
    "reason = NULL, authorized_at = COALESCE(?5, authorized_at) "
    "WHERE account = ?1";
static const char sql_tokens_get[] =
    "SELECT refresh_token, access_token, expires_at FROM account_oauth "
    "WHERE account = ?1";
static const char sql_access_drop[] =
    "UPDATE account_oauth SET access_token = NULL, expires_at = 0 "
    "WHERE account = ?1";
static const char sql_needed[] =
    "UPDATE account_oauth SET access_token = NULL, refresh_token = NULL, "
    "expires_at = 0, state = 'needed', reason = ?2 WHERE account = ?1";

void
oauth_acct_clear(struct oauth_acct *o)
{
	free(o->provider);
	free(o->tenant);
	free(o->auth_url);
	free(o->token_url);
	free(o->device_url);
	free(o->client_id);
	free(o->scope);
	free(o->mech);
	free(o->reason);
	memset(o, 0, sizeof(*o));
}

const char *
oauth_tstate_name(enum oauth_tstate s)
{
	switch (s) {
	case OAUTH_TS_AUTHORIZED:
		return "authorized";
	case OAUTH_TS_NEEDED:
		return "authorization needed";
	default:
		return "not authorized";
	}
}

int
store_oauth_get(struct store *st, const char *acct, struct oauth_acct *o,
    struct err *e)
{
	struct db_stmt *s;
	char *auth, *state;
	int rc;

	memset(o, 0, sizeof(*o));
	if ((s = store_stmt(st, sql_get, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, acct) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading OAuth2 settings of %s", acct);
	}
	rc = db_step(s);
	if (rc == DB_ROW) {
		auth = col_text(s, 0);
		o->oauth2 = auth != NULL && strcmp(auth, "oauth2") == 0;
		free(auth);
		o->provider = col_text(s, 1);
		o->tenant = col_text(s, 2);
		o->auth_url = col_text(s, 3);
		o->token_url = col_text(s, 4);
		o->device_url = col_text(s, 5);
		o->client_id = col_text(s, 6);
		o->scope = col_text(s, 7);
		o->has_client_secret = db_col_int64(s, 8) != 0;
		state = col_text(s, 9);
		if (state != NULL && strcmp(state, "authorized") == 0)
			o->state = OAUTH_TS_AUTHORIZED;
		else if (state != NULL && strcmp(state, "needed") == 0)
			o->state = OAUTH_TS_NEEDED;
		free(state);
		o->reason = col_text(s, 10);
		o->expires_at = db_col_int64(s, 11);
		o->authorized_at = db_col_int64(s, 12);
		o->has_refresh = db_col_int64(s, 13) != 0;
		o->has_access = db_col_int64(s, 14) != 0;
		o->mech = col_text(s, 15);
	} else if (rc != DB_DONE) {
		db_fail(st, e, "reading OAuth2 settings of %s", acct);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return 0;
}

int
store_oauth_set(struct store *st, const char *acct,
    const struct oauth_acct *o, struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql_set, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, acct);
	rc |= db_bind_text(s, 2, o->oauth2 ? "oauth2" : "password");
	rc |= db_bind_text(s, 3, o->provider);
	rc |= db_bind_text(s, 4, o->tenant);
	rc |= db_bind_text(s, 5, o->auth_url);
	rc |= db_bind_text(s, 6, o->token_url);
	rc |= db_bind_text(s, 7, o->device_url);
	rc |= db_bind_text(s, 8, o->client_id);
	rc |= db_bind_text(s, 9, o->scope);
	rc |= db_bind_text(s, 10, o->mech);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "writing OAuth2 settings of %s", acct);
	}
	if (write_done(st, s, e, "writing OAuth2 settings", acct) == -1)
		return -1;
	return store_change_bump(st, e);
}

/* Bind a sealed copy of v (or NULL) at index i. */
static int
bind_sealed(struct store *st, struct db_stmt *s, int i, const char *v,
    size_t len)
{
	unsigned char *blob = NULL;
	size_t blen = 0;
	int rc;

	if (v == NULL)
		return db_bind_null(s, i);
	if (secret_seal(st->key, v, len, &blob, &blen) == -1)
		return -1;
	rc = db_bind_blob(s, i, blob, blen);
	free(blob);
	return rc;
}

/* Open the blob in column col; *v_r NULL for SQL NULL. */
static int
col_sealed(struct store *st, struct db_stmt *s, int col, char **v_r,
    size_t *len_r, struct err *e)
{
	const unsigned char *blob;
	size_t blen;

	*v_r = NULL;
	*len_r = 0;
	if (db_col_null(s, col))
		return 0;
	blob = db_col_blob(s, col, &blen);
	return secret_open(st->key, blob, blob != NULL ? blen : 0, v_r,
	    len_r, e);
}

static int
secret_write(struct store *st, const char *sql, const char *key,
    const char *v, size_t len, const char *what, struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, key);
	if (sql != sql_psecret_del)
		rc |= bind_sealed(st, s, 2, v, len);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "%s %s", what, key);
	}
	if (write_done(st, s, e, what, key) == -1)
		return -1;
	return store_change_bump(st, e);
}

static int
secret_read(struct store *st, const char *sql, const char *key, int col,
    char **v_r, size_t *len_r, const char *what, struct err *e)
{
	struct db_stmt *s;
	int rc;

	*v_r = NULL;
	*len_r = 0;
	if ((s = store_stmt(st, sql, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, key) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading %s of %s", what, key);
	}
	rc = db_step(s);
	if (rc == DB_ROW)
		rc = col_sealed(st, s, col, v_r, len_r, e);
	else if (rc == DB_DONE)
		rc = 0;
	else
		rc = db_fail(st, e, "reading %s of %s", what, key);
	stmt_done(s);
	if (rc == -1)
		err_prefix(e, "%s of %s", what, key);
	return rc;
}

int
store_oauth_client_secret_set(struct store *st, const char *acct,
    const char *secret, size_t len, struct err *e)
{
	return secret_write(st, sql_csecret_set, acct, secret, len,
	    "storing the OAuth2 client secret of", e);
}

int
store_oauth_client_secret_get(struct store *st, const char *acct,
    char **s_r, size_t *len_r, struct err *e)
{
	return secret_read(st, sql_csecret_get, acct, 0, s_r, len_r,
	    "OAuth2 client secret", e);
}

int
store_oauth_provider_secret_set(struct store *st, const char *provider,
    const char *secret, size_t len, struct err *e)
{
	return secret_write(st, secret != NULL ? sql_psecret_set :
	    sql_psecret_del, provider, secret, len,
	    "storing the OAuth2 client secret of", e);
}

int
store_oauth_provider_secret_get(struct store *st, const char *provider,
    char **s_r, size_t *len_r, struct err *e)
{
	return secret_read(st, sql_psecret_get, provider, 0, s_r, len_r,
	    "OAuth2 client secret", e);
}

int
store_oauth_tokens_set(struct store *st, const char *acct,
    const char *refresh, const char *access, int64_t expires_at,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql_tokens_set, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, acct);
	rc |= bind_sealed(st, s, 2, access, access != NULL ?
	    strlen(access) : 0);
	rc |= db_bind_int64(s, 3, expires_at);
	rc |= bind_sealed(st, s, 4, refresh, refresh != NULL ?
	    strlen(refresh) : 0);
	/* A new refresh token is a new authorization. */
	if (refresh != NULL)
		rc |= db_bind_int64(s, 5, store_now());
	else
		rc |= db_bind_null(s, 5);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "storing OAuth2 tokens of %s", acct);
	}
	if (write_done(st, s, e, "storing OAuth2 tokens", acct) == -1)
		return -1;
	if (db_changes(st->db) == 0)
		return err_set(e, ERR_CONFIG, "%s is not an OAuth2 account",
		    acct);
	return 0;
}

int
store_oauth_tokens_get(struct store *st, const char *acct,
    char **refresh_r, size_t *rlen_r, char **access_r, size_t *alen_r,
    int64_t *expires_at_r, struct err *e)
{
	struct db_stmt *s;
	int rc;

	*refresh_r = *access_r = NULL;
	*rlen_r = *alen_r = 0;
	*expires_at_r = 0;
	if ((s = store_stmt(st, sql_tokens_get, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, acct) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading OAuth2 tokens of %s", acct);
	}
	rc = db_step(s);
	if (rc == DB_ROW) {
		rc = col_sealed(st, s, 0, refresh_r, rlen_r, e);
		if (rc == 0)
			rc = col_sealed(st, s, 1, access_r, alen_r, e);
		*expires_at_r = db_col_int64(s, 2);
	} else if (rc == DB_DONE)
		rc = 0;
	else
		rc = db_fail(st, e, "reading OAuth2 tokens of %s", acct);
	stmt_done(s);
	if (rc == -1) {
		store_secret_free(refresh_r, *rlen_r);
		store_secret_free(access_r, *alen_r);
		err_prefix(e, "OAuth2 tokens of %s", acct);
	}
	return rc;
}

static int
simple_write(struct store *st, const char *sql, const char *acct,
    const char *reason, const char *what, struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, acct);
	if (reason != NULL)
		rc |= db_bind_text(s, 2, reason);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "%s of %s", what, acct);
	}
	return write_done(st, s, e, what, acct);
}

int
store_oauth_access_drop(struct store *st, const char *acct, struct err *e)
{
	return simple_write(st, sql_access_drop, acct, NULL,
	    "dropping the OAuth2 access token", e);
}

int
store_oauth_needed(struct store *st, const char *acct, const char *reason,
    struct err *e)
{
	return simple_write(st, sql_needed, acct, reason != NULL ? reason :
	    "the provider refused the refresh token",
	    "recording OAuth2 state", e);
}
