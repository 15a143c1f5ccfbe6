/*
 * store_impl.h - the SQLite store's internals, for the files that extend it
 * (store_*.c beside store.c: groups, settings, status, ...). Not for use
 * outside src/store/.
 *
 * An extension file keeps its SQL as static const strings, gets a cached
 * prepared statement with store_stmt(st, SQL, e) (cached by the string's
 * address), binds, steps, and ends with stmt_done(). Its tables are created
 * by a "CREATE TABLE IF NOT EXISTS ..." line added to store_ext_schemas[]
 * in store.c. Errors: db_fail() (ERR_LOCAL with SQLite's reason).
 */
#ifndef MP_STORE_IMPL_H
#define MP_STORE_IMPL_H

#include "common.h"

#include <sqlite3.h>

#include "store/secret.h"
#include "store/store.h"

#define STORE_XSTMT_MAX 128

struct store_lock;

struct store {
	sqlite3 *db;
	char *dir;
	unsigned char key[SECRET_KEY_LEN];
	bool in_tx;		/* store_begin() is open */
	sqlite3_stmt *stmt[32];	/* store.c's own statements */
	struct store_lock *locks;
	size_t nlocks;
	struct {
		const char *sql;
		sqlite3_stmt *s;
	} xstmt[STORE_XSTMT_MAX];	/* extension statements */
	size_t nxstmt;
};

int db_fail(struct store *, struct err *, const char *, ...) MP_PRINTF(3, 4);
int64_t store_now(void);
sqlite3_stmt *store_stmt(struct store *, const char *sql, struct err *);
void stmt_done(sqlite3_stmt *);
int bind_text(sqlite3_stmt *, int, const char *);
/* Column as an allocated string, NULL for SQL NULL. */
char *col_text(sqlite3_stmt *, int);
/* Step to the end; returns the last sqlite3_step code (SQLITE_DONE ok). */
int stmt_exec(sqlite3_stmt *);
/* Step a write statement and reset it; -1 with err naming what/acct. */
int write_done(struct store *, sqlite3_stmt *, struct err *,
    const char *what, const char *acct);

#endif
