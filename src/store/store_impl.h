/*
 * store_impl.h - the store's internals, for the files that extend it
 * (store_*.c beside store.c: groups, settings, status, ...). Not for use
 * outside src/store/.
 *
 * An extension file keeps its SQL as static const strings in the dialect
 * db.h describes (SQLite and PostgreSQL), gets a cached prepared statement
 * with store_stmt(st, SQL, e) (cached by the string's address), binds
 * (db_bind_*: 0 or -1, so "rc |= ..." collects failures), steps, and ends
 * with stmt_done(). Its tables are created by a "CREATE TABLE IF NOT
 * EXISTS ..." line added to store_ext_schemas[] in store.c. Errors:
 * db_fail() (ERR_LOCAL with the database's reason).
 */
#ifndef MP_STORE_IMPL_H
#define MP_STORE_IMPL_H

#include "common.h"

#include "store/db.h"
#include "store/secret.h"
#include "store/store.h"

#define STORE_XSTMT_MAX 128

struct store_lock;

struct store {
	struct db *db;
	char *dir;
	unsigned char key[SECRET_KEY_LEN];
	struct db_stmt *stmt[32];	/* store.c's own statements */
	struct store_lock *locks;
	size_t nlocks;
	struct {
		const char *sql;
		struct db_stmt *s;
	} xstmt[STORE_XSTMT_MAX];	/* extension statements */
	size_t nxstmt;
};

int db_fail(struct store *, struct err *, const char *, ...) MP_PRINTF(3, 4);
int64_t store_now(void);
struct db_stmt *store_stmt(struct store *, const char *sql, struct err *);
/* Reset (bindings cleared) so no read stays open; NULL is harmless. */
void stmt_done(struct db_stmt *);
/* Column as an allocated string, NULL for SQL NULL. */
char *col_text(struct db_stmt *, int);
/* Step to the end; returns DB_DONE, or DB_ERROR (db_errmsg says why). */
int stmt_exec(struct db_stmt *);
/* Step a write statement and reset it; -1 with err naming what/acct. */
int write_done(struct store *, struct db_stmt *, struct err *,
    const char *what, const char *acct);

#endif
