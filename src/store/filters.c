/*
 * filters.c - per-account filter options and the quarantine index
 * (filters.h).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "store/filters.h"
#include "store/settings.h"
#include "store/store_impl.h"
#include "util/xmalloc.h"

static const char sql_filter_get[] =
    "SELECT spam_check, virus_check, spam_action, scanner_down, "
    "provider_host FROM account_filters WHERE account = ?1";
static const char sql_filter_set[] =
    "INSERT INTO account_filters (account, spam_check, virus_check, "
    "spam_action, scanner_down, provider_host) VALUES (?1, ?2, ?3, ?4, ?5, "
    "?6) ON CONFLICT (account) DO UPDATE SET spam_check = "
    "excluded.spam_check, virus_check = excluded.virus_check, spam_action "
    "= excluded.spam_action, scanner_down = excluded.scanner_down, "
    "provider_host = excluded.provider_host";
#define QUARANTINE_COLUMNS \
	"id, account, kind, reason, file, rcpts, subject, sender, " \
	"remote_id, at"
static const char sql_q_add[] =
    "INSERT INTO quarantine (account, kind, reason, file, rcpts, subject, "
    "sender, remote_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT (file) DO NOTHING";
static const char sql_q_id[] =
    "SELECT id FROM quarantine WHERE file = ?1";
static const char sql_q_get[] =
    "SELECT " QUARANTINE_COLUMNS " FROM quarantine WHERE id = ?1";
static const char sql_q_list[] =
    "SELECT " QUARANTINE_COLUMNS " FROM quarantine "
    "WHERE CAST(?1 AS TEXT) IS NULL OR account = ?1 ORDER BY id";
static const char sql_q_delete[] = "DELETE FROM quarantine WHERE id = ?1";

static const char *const spam_action_names[] = {
	[FILTER_SPAM_JUNK] = "junk",
	[FILTER_SPAM_TAG] = "tag",
	[FILTER_SPAM_QUARANTINE] = "quarantine",
};

static const char *const down_names[] = {
	[FILTER_DOWN_HOLD] = "hold",
	[FILTER_DOWN_PASS] = "pass",
};

const char *
filter_spam_action_name(enum filter_spam_action a)
{
	if ((size_t)a >= MP_ARRAY_LEN(spam_action_names))
		return "?";
	return spam_action_names[a];
}

int
filter_spam_action_parse(const char *s, enum filter_spam_action *a)
{
	size_t i;

	for (i = 0; s != NULL && i < MP_ARRAY_LEN(spam_action_names); i++)
		if (strcmp(s, spam_action_names[i]) == 0) {
			*a = (enum filter_spam_action)i;
			return 0;
		}
	return -1;
}

const char *
filter_down_policy_name(enum filter_down_policy p)
{
	if ((size_t)p >= MP_ARRAY_LEN(down_names))
		return "?";
	return down_names[p];
}

int
filter_down_policy_parse(const char *s, enum filter_down_policy *p)
{
	size_t i;

	for (i = 0; s != NULL && i < MP_ARRAY_LEN(down_names); i++)
		if (strcmp(s, down_names[i]) == 0) {
			*p = (enum filter_down_policy)i;
			return 0;
		}
	return -1;
}

void
acct_filter_clear(struct acct_filter *f)
{
	free(f->provider_host);
	memset(f, 0, sizeof(*f));
}

int
store_filter_get(struct store *st, const char *acct, struct acct_filter *f,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	memset(f, 0, sizeof(*f));
	if ((s = store_stmt(st, sql_filter_get, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, acct) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading the filters of %s", acct);
	}
	rc = db_step(s);
	if (rc == DB_ROW) {
		f->spam_check = db_col_int64(s, 0) != 0;
		f->virus_check = db_col_int64(s, 1) != 0;
		(void)filter_spam_action_parse(db_col_text(s, 2),
		    &f->spam_action);
		(void)filter_down_policy_parse(db_col_text(s, 3),
		    &f->scanner_down);
		f->provider_host = col_text(s, 4);
	} else if (rc != DB_DONE) {
		db_fail(st, e, "reading the filters of %s", acct);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return 0;
}

int
store_filter_set(struct store *st, const char *acct,
    const struct acct_filter *f, struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql_filter_set, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, acct);
	rc |= db_bind_int64(s, 2, f->spam_check ? 1 : 0);
	rc |= db_bind_int64(s, 3, f->virus_check ? 1 : 0);
	rc |= db_bind_text(s, 4, filter_spam_action_name(f->spam_action));
	rc |= db_bind_text(s, 5, filter_down_policy_name(f->scanner_down));
	rc |= db_bind_text(s, 6, f->provider_host);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "writing the filters of %s", acct);
	}
	if (write_done(st, s, e, "writing the filters", acct) == -1)
		return -1;
	return store_change_bump(st, e);
}

void
quarantine_rec_clear(struct quarantine_rec *q)
{
	free(q->account);
	free(q->kind);
	free(q->reason);
	free(q->file);
	free(q->rcpts);
	free(q->subject);
	free(q->sender);
	free(q->remote_id);
	memset(q, 0, sizeof(*q));
}

int
store_quarantine_add(struct store *st, const struct quarantine_rec *q,
    int64_t *id_r, struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql_q_add, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, q->account);
	rc |= db_bind_text(s, 2, q->kind);
	rc |= db_bind_text(s, 3, q->reason);
	rc |= db_bind_text(s, 4, q->file);
	rc |= db_bind_text(s, 5, q->rcpts);
	rc |= db_bind_text(s, 6, q->subject);
	rc |= db_bind_text(s, 7, q->sender);
	rc |= db_bind_text(s, 8, q->remote_id);
	rc |= db_bind_int64(s, 9, q->at);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "recording a quarantined message of %s",
		    q->account);
	}
	if (write_done(st, s, e, "recording a quarantined message",
	    q->account) == -1)
		return -1;
	if (id_r == NULL)
		return 0;
	if ((s = store_stmt(st, sql_q_id, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, q->file) != 0 ||
	    db_step(s) != DB_ROW) {
		db_fail(st, e, "reading a quarantined message of %s",
		    q->account);
		stmt_done(s);
		return -1;
	}
	*id_r = db_col_int64(s, 0);
	stmt_done(s);
	return 0;
}

static void
q_row(struct db_stmt *s, struct quarantine_rec *q)
{
	memset(q, 0, sizeof(*q));
	q->id = db_col_int64(s, 0);
	q->account = col_text(s, 1);
	q->kind = col_text(s, 2);
	q->reason = col_text(s, 3);
	q->file = col_text(s, 4);
	q->rcpts = col_text(s, 5);
	q->subject = col_text(s, 6);
	q->sender = col_text(s, 7);
	q->remote_id = col_text(s, 8);
	q->at = db_col_int64(s, 9);
}

int
store_quarantine_get(struct store *st, int64_t id, struct quarantine_rec *q,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	memset(q, 0, sizeof(*q));
	if ((s = store_stmt(st, sql_q_get, e)) == NULL)
		return -1;
	if (db_bind_int64(s, 1, id) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading the quarantine");
	}
	rc = db_step(s);
	if (rc == DB_ROW) {
		q_row(s, q);
		stmt_done(s);
		return 0;
	}
	if (rc != DB_DONE) {
		db_fail(st, e, "reading the quarantine");
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return err_set(e, ERR_CONFIG, "no quarantined message %lld",
	    (long long)id);
}

int
store_quarantine_list(struct store *st, const char *acct,
    struct quarantine_rec **list_r, size_t *n_r, struct err *e)
{
	struct db_stmt *s;
	struct quarantine_rec *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*list_r = NULL;
	*n_r = 0;
	if ((s = store_stmt(st, sql_q_list, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, acct) != 0) {
		stmt_done(s);
		return db_fail(st, e, "listing the quarantine");
	}
	while ((rc = db_step(s)) == DB_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		q_row(s, &v[n++]);
	}
	if (rc != DB_DONE) {
		db_fail(st, e, "listing the quarantine");
		stmt_done(s);
		store_quarantine_list_free(&v, n);
		return -1;
	}
	stmt_done(s);
	*list_r = v;
	*n_r = n;
	return 0;
}

void
store_quarantine_list_free(struct quarantine_rec **v, size_t n)
{
	size_t i;

	if (*v == NULL)
		return;
	for (i = 0; i < n; i++)
		quarantine_rec_clear(&(*v)[i]);
	free(*v);
	*v = NULL;
}

int
store_quarantine_delete(struct store *st, int64_t id, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_q_delete, e)) == NULL)
		return -1;
	if (db_bind_int64(s, 1, id) != 0) {
		stmt_done(s);
		return db_fail(st, e, "deleting from the quarantine");
	}
	return write_done(st, s, e, "deleting from the quarantine", "-");
}
