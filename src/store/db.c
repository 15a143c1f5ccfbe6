/*
 * db.c - the public side of db.h: checks, transaction bookkeeping and the
 * dispatch to a backend's struct db_ops.
 *
 * db_open_sqlite() is in db_sqlite.c, db_open_pg() in db_pg.c (libpq);
 * both are declared in db.h. Everything else goes through db->ops.
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/db.h"
#include "store/db_impl.h"

void
db_seterr(struct db *db, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
	va_end(ap);
	db->err_unique = false;
	db->err_foreign = false;
}

void
db_close(struct db **dbp)
{
	struct db *db = *dbp;

	if (db == NULL)
		return;
	/* Closing a connection rolls back an open transaction (both). */
	db->ops->close(db);
	*dbp = NULL;
}

enum db_kind
db_kind(const struct db *db)
{
	return db->kind;
}

const char *
db_errmsg(const struct db *db)
{
	return db->errmsg;
}

bool
db_err_unique(const struct db *db)
{
	return db->err_unique;
}

bool
db_err_foreign(const struct db *db)
{
	return db->err_foreign;
}

int
db_exec(struct db *db, const char *sql)
{
	return db->ops->exec(db, sql);
}

int
db_begin(struct db *db)
{
	if (db->in_tx) {
		db_seterr(db, "transaction already open");
		return -1;
	}
	/* SQLite: take the write lock now, so a writer never fails with
	 * BUSY halfway through (the busy timeout waits for it here). */
	if (db->ops->exec(db, db->kind == DB_SQLITE ? "BEGIN IMMEDIATE" :
	    "BEGIN") == -1)
		return -1;
	db->in_tx = true;
	return 0;
}

int
db_commit(struct db *db)
{
	if (!db->in_tx) {
		db_seterr(db, "commit without a transaction");
		return -1;
	}
	if (db->ops->exec(db, "COMMIT") == -1) {
		/*
		 * SQLite may keep the transaction open after a failed COMMIT
		 * (BUSY); its backend keeps in_tx true then and the caller
		 * rolls back. PostgreSQL has ended it either way (a COMMIT
		 * of a transaction an error aborted is a failure too: the
		 * backend reports it).
		 */
		if (db->kind != DB_SQLITE)
			db->in_tx = false;
		return -1;
	}
	db->in_tx = false;
	return 0;
}

int
db_rollback(struct db *db)
{
	int rc;

	if (!db->in_tx)
		return 0;
	rc = db->ops->exec(db, "ROLLBACK");
	db->in_tx = false;
	return rc;
}

bool
db_in_tx(const struct db *db)
{
	return db->in_tx;
}

int
db_prepare(struct db *db, const char *sql, struct db_stmt **s_r)
{
	*s_r = NULL;
	return db->ops->prepare(db, sql, s_r);
}

void
db_finalize(struct db_stmt **sp)
{
	struct db_stmt *s = *sp;

	if (s == NULL)
		return;
	s->db->ops->finalize(s);
	*sp = NULL;
}

int
db_bind_int64(struct db_stmt *s, int i, int64_t v)
{
	return s->db->ops->bind_int64(s, i, v);
}

int
db_bind_text(struct db_stmt *s, int i, const char *v)
{
	if (v == NULL)
		return s->db->ops->bind_null(s, i);
	return s->db->ops->bind_text(s, i, v);
}

int
db_bind_blob(struct db_stmt *s, int i, const void *v, size_t len)
{
	return s->db->ops->bind_blob(s, i, v, len);
}

int
db_bind_null(struct db_stmt *s, int i)
{
	return s->db->ops->bind_null(s, i);
}

int
db_step(struct db_stmt *s)
{
	return s->db->ops->step(s);
}

void
db_reset(struct db_stmt *s)
{
	if (s != NULL)
		s->db->ops->reset(s);
}

int64_t
db_changes(const struct db *db)
{
	return db->changes;
}

bool
db_col_null(struct db_stmt *s, int i)
{
	return s->db->ops->col_null(s, i);
}

int64_t
db_col_int64(struct db_stmt *s, int i)
{
	return s->db->ops->col_int64(s, i);
}

const char *
db_col_text(struct db_stmt *s, int i)
{
	return s->db->ops->col_text(s, i);
}

const void *
db_col_blob(struct db_stmt *s, int i, size_t *len_r)
{
	return s->db->ops->col_blob(s, i, len_r);
}
