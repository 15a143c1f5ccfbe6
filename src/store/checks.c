/*
 * checks.c - the last recipient check of each account (checks.h).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "store/checks.h"
#include "store/store_impl.h"
#include "util/xmalloc.h"

static const char sql_check_get[] =
    "SELECT checked_at, gone, unknown, detail FROM account_checks "
    "WHERE account = ?1";
static const char sql_check_set[] =
    "INSERT INTO account_checks (account, checked_at, gone, unknown, "
    "detail) SELECT ?1, ?2, ?3, ?4, ?5 "
    "WHERE EXISTS (SELECT 1 FROM accounts WHERE id = ?1) "
    "ON CONFLICT (account) DO UPDATE SET checked_at = excluded.checked_at, "
    "gone = excluded.gone, unknown = excluded.unknown, "
    "detail = excluded.detail";

void
account_check_clear(struct account_check *c)
{
	free(c->gone);
	free(c->unknown);
	free(c->detail);
	memset(c, 0, sizeof(*c));
}

int
store_check_get(struct store *st, const char *acct, struct account_check *c,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((s = store_stmt(st, sql_check_get, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, acct) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading the check of %s", acct);
	}
	rc = db_step(s);
	if (rc == DB_ROW) {
		c->checked_at = db_col_int64(s, 0);
		c->gone = col_text(s, 1);
		c->unknown = col_text(s, 2);
		c->detail = col_text(s, 3);
	} else if (rc != DB_DONE) {
		db_fail(st, e, "reading the check of %s", acct);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return 0;
}

int
store_check_set(struct store *st, const char *acct,
    const struct account_check *c, struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql_check_set, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, acct);
	rc |= db_bind_int64(s, 2, c->checked_at);
	rc |= db_bind_text(s, 3, c->gone);
	rc |= db_bind_text(s, 4, c->unknown);
	rc |= db_bind_text(s, 5, c->detail);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "writing the check of %s", acct);
	}
	return write_done(st, s, e, "writing the check", acct);
}
