/*
 * journal.c - per-recipient deliveries and parked messages (journal.h).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/journal.h"
#include "store/store_impl.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

static const char sql_done_load[] =
    "SELECT rcpt FROM deliveries WHERE account = ?1 AND folder = ?2 AND "
    "uidvalidity = ?3 AND uid = ?4 ORDER BY rcpt COLLATE BINARY";
static const char sql_done_any[] =
    "SELECT 1 FROM deliveries WHERE account = ?1 LIMIT 1";
static const char sql_done_add[] =
    "INSERT INTO deliveries (account, folder, uidvalidity, uid, rcpt, "
    "delivered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (account, folder, uidvalidity, uid, rcpt) DO NOTHING";
static const char sql_parked_add[] =
    "INSERT INTO parked (account, folder, uidvalidity, uid, msgid, "
    "subject, reason, parked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (account, folder, uidvalidity, uid) DO UPDATE SET "
    "msgid = excluded.msgid, subject = excluded.subject, "
    "reason = excluded.reason, parked_at = excluded.parked_at";
static const char sql_parked_list[] =
    "SELECT folder, uidvalidity, uid, msgid, subject, reason, parked_at "
    "FROM parked WHERE account = ?1 "
    "ORDER BY parked_at, uid COLLATE BINARY";
static const char sql_parked_del[] =
    "DELETE FROM parked WHERE account = ?1 AND folder = ?2 AND "
    "uidvalidity = ?3 AND uid = ?4";
static const char sql_msg_forget[] =
    "DELETE FROM messages WHERE account = ?1 AND folder = ?2 AND "
    "uidvalidity = ?3 AND uid = ?4";
static const char sql_msg_release[] =
    "UPDATE messages SET state = 1, delivered_at = ?5 WHERE account = ?1 "
    "AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4";

static int
bind_key(struct db_stmt *s, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid)
{
	int rc = db_bind_text(s, 1, acct);

	rc |= db_bind_text(s, 2, folder != NULL ? folder : "");
	rc |= db_bind_int64(s, 3, (int64_t)uidvalidity);
	rc |= db_bind_text(s, 4, uid);
	return rc;
}

void
store_strv_free(char ***v, size_t n)
{
	size_t i;

	if (*v == NULL)
		return;
	for (i = 0; i < n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
}

int
store_rcpt_done_load(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, char ***rcpts_r, size_t *n_r,
    struct err *e)
{
	struct db_stmt *s;
	char **v = NULL;
	size_t n = 0;
	int rc;

	*rcpts_r = NULL;
	*n_r = 0;
	if ((s = store_stmt(st, sql_done_load, e)) == NULL)
		return -1;
	if (bind_key(s, acct, folder, uidvalidity, uid) != 0) {
		stmt_done(s);
		return db_fail(st, e, "loading deliveries of %s", acct);
	}
	while ((rc = db_step(s)) == DB_ROW) {
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n] = col_text(s, 0);
		if (v[n] == NULL)
			v[n] = xstrdup("");
		n++;
	}
	stmt_done(s);
	if (rc != DB_DONE) {
		store_strv_free(&v, n);
		return db_fail(st, e, "loading deliveries of %s", acct);
	}
	*rcpts_r = v;
	*n_r = n;
	return 0;
}

int
store_rcpt_done_any(struct store *st, const char *acct, bool *any_r,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	*any_r = false;
	if ((s = store_stmt(st, sql_done_any, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, acct) != 0) {
		stmt_done(s);
		return db_fail(st, e, "looking up deliveries of %s", acct);
	}
	rc = db_step(s);
	stmt_done(s);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(st, e, "looking up deliveries of %s", acct);
	*any_r = rc == DB_ROW;
	return 0;
}

int
store_rcpt_done_add(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, const char *rcpt, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_done_add, e)) == NULL)
		return -1;
	if ((bind_key(s, acct, folder, uidvalidity, uid) |
	    db_bind_text(s, 5, rcpt) |
	    db_bind_int64(s, 6, store_now())) != 0) {
		stmt_done(s);
		return db_fail(st, e, "recording a delivery of %s", acct);
	}
	return write_done(st, s, e, "recording a delivery", acct);
}

int
store_parked_add(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, const char *msgid,
    const char *subject, const char *reason, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_parked_add, e)) == NULL)
		return -1;
	if ((bind_key(s, acct, folder, uidvalidity, uid) |
	    db_bind_text(s, 5, msgid) | db_bind_text(s, 6, subject) |
	    db_bind_text(s, 7, reason) |
	    db_bind_int64(s, 8, store_now())) != 0) {
		stmt_done(s);
		return db_fail(st, e, "parking a message of %s", acct);
	}
	return write_done(st, s, e, "parking a message", acct);
}

int
store_parked_list(struct store *st, const char *acct,
    struct parked_rec **recs_r, size_t *n_r, struct err *e)
{
	struct db_stmt *s;
	struct parked_rec *v = NULL, *p;
	size_t n = 0;
	int rc;

	*recs_r = NULL;
	*n_r = 0;
	if ((s = store_stmt(st, sql_parked_list, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, acct) != 0) {
		stmt_done(s);
		return db_fail(st, e, "listing parked messages of %s", acct);
	}
	while ((rc = db_step(s)) == DB_ROW) {
		v = xreallocarray(v, n + 1, sizeof(*v));
		p = &v[n++];
		p->folder = col_text(s, 0);
		if (p->folder == NULL)
			p->folder = xstrdup("");
		p->uidvalidity = (uint64_t)db_col_int64(s, 1);
		p->uid = col_text(s, 2);
		if (p->uid == NULL)
			p->uid = xstrdup("");
		p->msgid = col_text(s, 3);
		p->subject = col_text(s, 4);
		p->reason = col_text(s, 5);
		p->parked_at = db_col_int64(s, 6);
	}
	stmt_done(s);
	if (rc != DB_DONE) {
		store_parked_free(&v, n);
		return db_fail(st, e, "listing parked messages of %s", acct);
	}
	*recs_r = v;
	*n_r = n;
	return 0;
}

static void
parked_clear(struct parked_rec *p)
{
	free(p->folder);
	free(p->uid);
	free(p->msgid);
	free(p->subject);
	free(p->reason);
	memset(p, 0, sizeof(*p));
}

void
store_parked_free(struct parked_rec **recs, size_t n)
{
	size_t i;

	if (*recs == NULL)
		return;
	for (i = 0; i < n; i++)
		parked_clear(&(*recs)[i]);
	free(*recs);
	*recs = NULL;
}

char *
parked_rid(const struct parked_rec *p)
{
	if (p->uidvalidity == 0 && p->folder[0] == '\0')
		return xstrdup(p->uid);
	return xasprintf("%s/%llu/%s", p->folder,
	    (unsigned long long)p->uidvalidity, p->uid);
}

int
store_parked_find(struct store *st, const char *acct, const char *rid,
    struct parked_rec *rec_r, struct err *e)
{
	struct parked_rec *v = NULL;
	size_t n = 0, i;
	int rc = -1;

	memset(rec_r, 0, sizeof(*rec_r));
	if (store_parked_list(st, acct, &v, &n, e) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		char *r = parked_rid(&v[i]);
		bool match = strcmp(r, rid) == 0;

		free(r);
		if (match) {
			*rec_r = v[i];
			memset(&v[i], 0, sizeof(v[i]));
			rc = 0;
			break;
		}
	}
	store_parked_free(&v, n);
	if (rc == -1)
		err_set(e, ERR_CONFIG, "no parked message %s for %s (see "
		    "'mailpull message list %s')", rid, acct, acct);
	return rc;
}

static int
parked_resolve(struct store *st, const char *acct,
    const struct parked_rec *p, const char *sql, struct err *e)
{
	struct db_stmt *s;

	if (store_begin(st, e) == -1)
		return -1;
	if ((s = store_stmt(st, sql, e)) == NULL)
		goto fail;
	if ((bind_key(s, acct, p->folder, p->uidvalidity, p->uid) |
	    (sql == sql_msg_release ? db_bind_int64(s, 5, store_now()) :
	    0)) != 0) {
		stmt_done(s);
		db_fail(st, e, "updating the journal of %s", acct);
		goto fail;
	}
	if (write_done(st, s, e, "updating the journal", acct) == -1)
		goto fail;
	if ((s = store_stmt(st, sql_parked_del, e)) == NULL)
		goto fail;
	if (bind_key(s, acct, p->folder, p->uidvalidity, p->uid) !=
	    0) {
		stmt_done(s);
		db_fail(st, e, "unparking a message of %s", acct);
		goto fail;
	}
	if (write_done(st, s, e, "unparking a message", acct) == -1)
		goto fail;
	return store_commit(st, e);
fail:
	store_rollback(st);
	return -1;
}

int
store_parked_retry(struct store *st, const char *acct,
    const struct parked_rec *p, struct err *e)
{
	return parked_resolve(st, acct, p, sql_msg_forget, e);
}

int
store_parked_release(struct store *st, const char *acct,
    const struct parked_rec *p, struct err *e)
{
	return parked_resolve(st, acct, p, sql_msg_release, e);
}
