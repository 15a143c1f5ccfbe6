/*
 * db_sqlite.c - the SQLite backend of db.h: one file, WAL,
 * synchronous=FULL, foreign keys on, a 10 s busy timeout.
 *
 * The only file that includes sqlite3.h.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/db.h"
#include "store/db_impl.h"
#include "util/xmalloc.h"

#define SQLITE_BUSY_MS	10000

struct sqlite_db {
	struct db base;
	sqlite3 *conn;
};

struct sqlite_stmt {
	struct db_stmt base;
	sqlite3_stmt *s;
};

static sqlite3 *
conn_of(struct db *db)
{
	return ((struct sqlite_db *)db)->conn;
}

static sqlite3_stmt *
stmt_of(struct db_stmt *s)
{
	return ((struct sqlite_stmt *)s)->s;
}

/*
 * Record the connection's error. rc is the extended result code (they are
 * switched on at open). SQLite may roll a transaction back by itself on
 * some errors (IOERR, FULL, NOMEM, BUSY in some cases): follow it.
 */
static int
sq_fail(struct db *db, int rc)
{
	sqlite3 *c = conn_of(db);

	db_seterr(db, "%s", sqlite3_errmsg(c));
	db->err_unique = rc == SQLITE_CONSTRAINT_UNIQUE ||
	    rc == SQLITE_CONSTRAINT_PRIMARYKEY;
	db->err_foreign = rc == SQLITE_CONSTRAINT_FOREIGNKEY;
	if (sqlite3_get_autocommit(c))
		db->in_tx = false;
	return -1;
}

static void
sq_close(struct db *db)
{
	/* _v2: a statement the caller forgot keeps the connection as a
	 * zombie instead of failing the close. */
	sqlite3_close_v2(conn_of(db));
	free(db);
}

static int
sq_exec(struct db *db, const char *sql)
{
	sqlite3 *c = conn_of(db);
	int rc;

	rc = sqlite3_exec(c, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(db, sqlite3_extended_errcode(c));
	db->changes = sqlite3_changes64(c);
	return 0;
}

static int
sq_prepare(struct db *db, const char *sql, struct db_stmt **s_r)
{
	struct sqlite_stmt *st;
	sqlite3_stmt *s;
	int rc;

	/* The store prepares each statement once and reuses it. */
	rc = sqlite3_prepare_v3(conn_of(db), sql, -1,
	    SQLITE_PREPARE_PERSISTENT, &s, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(db, rc);
	st = xcalloc(1, sizeof(*st));
	st->base.db = db;
	st->s = s;
	*s_r = &st->base;
	return 0;
}

static void
sq_finalize(struct db_stmt *s)
{
	sqlite3_finalize(stmt_of(s));
	free(s);
}

static int
sq_bind_rc(struct db_stmt *s, int rc)
{
	if (rc != SQLITE_OK)
		return sq_fail(s->db, rc);
	return 0;
}

static int
sq_bind_int64(struct db_stmt *s, int i, int64_t v)
{
	return sq_bind_rc(s, sqlite3_bind_int64(stmt_of(s), i, v));
}

static int
sq_bind_text(struct db_stmt *s, int i, const char *v)
{
	return sq_bind_rc(s, sqlite3_bind_text(stmt_of(s), i, v, -1,
	    SQLITE_TRANSIENT));
}

static int
sq_bind_blob(struct db_stmt *s, int i, const void *v, size_t len)
{
	/* A zero-length blob is still a blob, not NULL. */
	if (len == 0)
		return sq_bind_rc(s, sqlite3_bind_zeroblob(stmt_of(s), i, 0));
	return sq_bind_rc(s, sqlite3_bind_blob64(stmt_of(s), i, v,
	    (sqlite3_uint64)len, SQLITE_TRANSIENT));
}

static int
sq_bind_null(struct db_stmt *s, int i)
{
	return sq_bind_rc(s, sqlite3_bind_null(stmt_of(s), i));
}

static int
sq_step(struct db_stmt *s)
{
	int rc;

	rc = sqlite3_step(stmt_of(s));
	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE) {
		/* Unchanged by a SELECT, as db.h wants. */
		s->db->changes = sqlite3_changes64(conn_of(s->db));
		return DB_DONE;
	}
	(void)sq_fail(s->db, rc);
	return DB_ERROR;
}

static void
sq_reset(struct db_stmt *s)
{
	/* reset returns the last step's error again: already recorded. */
	(void)sqlite3_reset(stmt_of(s));
	(void)sqlite3_clear_bindings(stmt_of(s));
}

static bool
sq_col_null(struct db_stmt *s, int i)
{
	return sqlite3_column_type(stmt_of(s), i) == SQLITE_NULL;
}

static int64_t
sq_col_int64(struct db_stmt *s, int i)
{
	return sqlite3_column_int64(stmt_of(s), i);
}

static const char *
sq_col_text(struct db_stmt *s, int i)
{
	if (sqlite3_column_type(stmt_of(s), i) == SQLITE_NULL)
		return NULL;
	return (const char *)sqlite3_column_text(stmt_of(s), i);
}

static const void *
sq_col_blob(struct db_stmt *s, int i, size_t *len_r)
{
	const void *p;

	/* Pointer first, then the size (sqlite3_column_blob's rule). */
	p = sqlite3_column_blob(stmt_of(s), i);
	*len_r = (size_t)sqlite3_column_bytes(stmt_of(s), i);
	return p;
}

static const struct db_ops sqlite_ops = {
	.close = sq_close,
	.exec = sq_exec,
	.prepare = sq_prepare,
	.finalize = sq_finalize,
	.bind_int64 = sq_bind_int64,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.reset = sq_reset,
	.col_null = sq_col_null,
	.col_int64 = sq_col_int64,
	.col_text = sq_col_text,
	.col_blob = sq_col_blob,
};

int
db_open_sqlite(struct db **db_r, const char *path, char *errbuf,
    size_t errlen)
{
	struct sqlite_db *sd;
	sqlite3 *c = NULL;
	int rc;

	*db_r = NULL;
	rc = sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errlen, "opening %s: %s", path,
		    c != NULL ? sqlite3_errmsg(c) : sqlite3_errstr(rc));
		sqlite3_close(c);
		return -1;
	}
	sqlite3_extended_result_codes(c, 1);
	sqlite3_busy_timeout(c, SQLITE_BUSY_MS);

	sd = xcalloc(1, sizeof(*sd));
	sd->base.ops = &sqlite_ops;
	sd->base.kind = DB_SQLITE;
	sd->conn = c;
	/*
	 * WAL lets readers (the CLI, the API) run beside a pass; FULL makes
	 * every commit durable, which the no-loss invariant depends on.
	 */
	if (sq_exec(&sd->base, "PRAGMA journal_mode = WAL") == -1 ||
	    sq_exec(&sd->base, "PRAGMA synchronous = FULL") == -1 ||
	    sq_exec(&sd->base, "PRAGMA foreign_keys = ON") == -1) {
		snprintf(errbuf, errlen, "setting up %s: %s", path,
		    sd->base.errmsg);
		sq_close(&sd->base);
		return -1;
	}
	*db_r = &sd->base;
	return 0;
}
