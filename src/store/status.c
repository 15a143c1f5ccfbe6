/*
 * status.c - per-account schedule options and daemon status (status.h).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "store/settings.h"
#include "store/status.h"
#include "store/store_impl.h"
#include "util/xmalloc.h"

#define STATUS_COLUMNS \
	"account, interval, idle, state, failing_since, " \
	"consecutive_failures, last_error, last_class, last_success, " \
	"last_attempt, next_check"

static const char sql_get[] =
    "SELECT " STATUS_COLUMNS " FROM account_status WHERE account = ?1";
static const char sql_list[] =
    "SELECT " STATUS_COLUMNS " FROM account_status "
    "ORDER BY account COLLATE BINARY";
/* Only for accounts that exist (the foreign key would refuse the rest). */
static const char sql_record[] =
    "INSERT INTO account_status (account, state, failing_since, "
    "consecutive_failures, last_error, last_class, last_success, "
    "last_attempt, next_check) "
    "SELECT ?1, ?2, CAST(?3 AS BIGINT), ?4, ?5, ?6, CAST(?7 AS BIGINT), "
    "CAST(?8 AS BIGINT), CAST(?9 AS BIGINT) "
    "WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?1) "
    "ON CONFLICT (account) DO UPDATE SET state = excluded.state, "
    "failing_since = excluded.failing_since, "
    "consecutive_failures = excluded.consecutive_failures, "
    "last_error = excluded.last_error, last_class = excluded.last_class, "
    "last_success = excluded.last_success, "
    "last_attempt = excluded.last_attempt, "
    "next_check = excluded.next_check";
static const char sql_schedule[] =
    "INSERT INTO account_status (account, interval, idle) "
    "VALUES (?1, ?2, ?3) "
    "ON CONFLICT (account) DO UPDATE SET interval = excluded.interval, "
    "idle = excluded.idle";

static const char *const state_names[] = {
	[STATUS_NEW] = "new",
	[STATUS_OK] = "ok",
	[STATUS_FAILING] = "failing",
	[STATUS_AUTH_FAILING] = "auth-failing",
	[STATUS_AUTH_NEEDED] = "auth-needed",
	[STATUS_DISABLED] = "disabled",
};

const char *
status_state_name(enum status_state s)
{
	if ((size_t)s >= MP_ARRAY_LEN(state_names))
		return "?";
	return state_names[s];
}

static enum status_state
state_parse(const char *v)
{
	size_t i;

	if (v == NULL)
		return STATUS_NEW;
	for (i = 0; i < MP_ARRAY_LEN(state_names); i++)
		if (strcmp(v, state_names[i]) == 0)
			return (enum status_state)i;
	return STATUS_NEW;
}

void
status_clear(struct acct_status *s)
{
	free(s->account);
	free(s->last_error);
	free(s->last_class);
	memset(s, 0, sizeof(*s));
}

static void
status_row(struct db_stmt *s, struct acct_status *r)
{
	memset(r, 0, sizeof(*r));
	r->account = col_text(s, 0);
	r->interval = (int)db_col_int64(s, 1);
	r->idle = db_col_int64(s, 2) != 0;
	r->state = state_parse(db_col_text(s, 3));
	r->failing_since = db_col_int64(s, 4);
	r->consecutive_failures = (int)db_col_int64(s, 5);
	r->last_error = col_text(s, 6);
	r->last_class = col_text(s, 7);
	r->last_success = db_col_int64(s, 8);
	r->last_attempt = db_col_int64(s, 9);
	r->next_check = db_col_int64(s, 10);
}

int
store_status_get(struct store *st, const char *id, struct acct_status *r,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((s = store_stmt(st, sql_get, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, id) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading the status of %s", id);
	}
	rc = db_step(s);
	if (rc == DB_ROW)
		status_row(s, r);
	else if (rc != DB_DONE) {
		db_fail(st, e, "reading the status of %s", id);
		stmt_done(s);
		return -1;
	} else
		r->account = xstrdup(id);
	stmt_done(s);
	return 0;
}

int
store_status_list(struct store *st, struct acct_status **list_r,
    size_t *n_r, struct err *e)
{
	struct db_stmt *s;
	struct acct_status *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*list_r = NULL;
	*n_r = 0;
	if ((s = store_stmt(st, sql_list, e)) == NULL)
		return -1;
	while ((rc = db_step(s)) == DB_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		status_row(s, &v[n++]);
	}
	if (rc != DB_DONE) {
		db_fail(st, e, "listing account status");
		stmt_done(s);
		store_status_list_free(&v, n);
		return -1;
	}
	stmt_done(s);
	*list_r = v;
	*n_r = n;
	return 0;
}

void
store_status_list_free(struct acct_status **v, size_t n)
{
	size_t i;

	if (*v == NULL)
		return;
	for (i = 0; i < n; i++)
		status_clear(&(*v)[i]);
	free(*v);
	*v = NULL;
}

static int
bind_time(struct db_stmt *s, int i, int64_t t)
{
	if (t == 0)
		return db_bind_null(s, i);
	return db_bind_int64(s, i, t);
}

int
store_status_record(struct store *st, const struct acct_status *r,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql_record, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, r->account);
	rc |= db_bind_text(s, 2, status_state_name(r->state));
	rc |= bind_time(s, 3, r->failing_since);
	rc |= db_bind_int64(s, 4, r->consecutive_failures);
	rc |= db_bind_text(s, 5, r->last_error);
	rc |= db_bind_text(s, 6, r->last_class);
	rc |= bind_time(s, 7, r->last_success);
	rc |= bind_time(s, 8, r->last_attempt);
	rc |= bind_time(s, 9, r->next_check);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "writing the status of %s", r->account);
	}
	return write_done(st, s, e, "writing the status", r->account);
}

int
store_status_set_schedule(struct store *st, const char *id, int interval,
    bool idle, struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql_schedule, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, id);
	rc |= db_bind_int64(s, 2, interval);
	rc |= db_bind_int64(s, 3, idle ? 1 : 0);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "writing the schedule of %s", id);
	}
	if (write_done(st, s, e, "writing the schedule", id) == -1)
		return -1;
	return store_change_bump(st, e);
}
