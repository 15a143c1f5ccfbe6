/*
 * db_impl.h - what a backend of db.h provides. Not for use outside the
 * db_*.c files. db.c holds the public functions and calls through ops;
 * each backend's struct db / struct db_stmt starts with the common part.
 */
#ifndef MP_STORE_DB_IMPL_H
#define MP_STORE_DB_IMPL_H

#include "store/db.h"

#define DB_ERRMSG_MAX 512

struct db_ops {
	void (*close)(struct db *);
	int (*exec)(struct db *, const char *sql);
	int (*prepare)(struct db *, const char *sql, struct db_stmt **);
	void (*finalize)(struct db_stmt *);
	int (*bind_int64)(struct db_stmt *, int, int64_t);
	int (*bind_text)(struct db_stmt *, int, const char *);
	int (*bind_blob)(struct db_stmt *, int, const void *, size_t);
	int (*bind_null)(struct db_stmt *, int);
	int (*step)(struct db_stmt *);
	void (*reset)(struct db_stmt *);
	bool (*col_null)(struct db_stmt *, int);
	int64_t (*col_int64)(struct db_stmt *, int);
	const char *(*col_text)(struct db_stmt *, int);
	const void *(*col_blob)(struct db_stmt *, int, size_t *);
};

/* The common head of every backend's connection. */
struct db {
	const struct db_ops *ops;
	enum db_kind kind;
	bool in_tx;
	bool err_unique, err_foreign;	/* kind of the last error */
	int64_t changes;
	char errmsg[DB_ERRMSG_MAX];
};

/* The common head of every backend's statement. */
struct db_stmt {
	struct db *db;
};

/* Set db->errmsg (and clear the error kinds). */
void db_seterr(struct db *, const char *fmt, ...) MP_PRINTF(2, 3);

#endif
