/*
 * test_db.c - db.h on both backends.
 *
 * Every test runs on SQLite (a fresh file each), then on PostgreSQL when
 * MAILPULL_TEST_PG names a scratch database (a libpq URL, e.g. from
 * scripts/pg-test-server newdb): each test works in a schema of its own
 * (t_PID_N, dropped afterwards), so test binaries and builds may share one
 * database. Without the variable the PostgreSQL group is skipped, said on
 * stderr.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/db.h"
#include "util/xmalloc.h"

#include "tmpdir.h"

static enum db_kind g_kind;
static const char *g_pg_url;
static int g_seq;

struct fixture {
	struct db *db;
	char *tmp;
	char schema[64];
};

#define OK(db, expr) do {						\
	if ((expr) != 0)						\
		fail_msg("%s: %s", #expr, db_errmsg(db));		\
} while (0)

#define EXEC(db, sql) OK(db, db_exec(db, sql))

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char err[512], *path, *sql;

	if (g_kind == DB_SQLITE) {
		f->tmp = tmpdir_make();
		path = xasprintf("%s/db.sqlite", f->tmp);
		if (db_open_sqlite(&f->db, path, err, sizeof(err)) == -1) {
			fprintf(stderr, "db_open_sqlite: %s\n", err);
			free(path);
			return -1;
		}
		free(path);
	} else {
		if (db_open_pg(&f->db, g_pg_url, err, sizeof(err)) == -1) {
			fprintf(stderr, "db_open_pg: %s\n", err);
			return -1;
		}
		(void)snprintf(f->schema, sizeof(f->schema), "t_%ld_%d",
		    (long)getpid(), ++g_seq);
		sql = xasprintf("CREATE SCHEMA %s; SET search_path TO %s",
		    f->schema, f->schema);
		if (db_exec(f->db, sql) == -1) {
			fprintf(stderr, "%s: %s\n", sql, db_errmsg(f->db));
			free(sql);
			return -1;
		}
		free(sql);
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char *sql;

	if (f->db != NULL) {
		(void)db_rollback(f->db);
		if (g_kind == DB_PG) {
			sql = xasprintf("DROP SCHEMA %s CASCADE", f->schema);
			if (db_exec(f->db, sql) == -1)
				fprintf(stderr, "%s: %s\n", sql,
				    db_errmsg(f->db));
			free(sql);
		}
		db_close(&f->db);
	}
	tmpdir_remove(&f->tmp);
	free(f);
	return 0;
}

static struct db *
db_of(void **state)
{
	return ((struct fixture *)*state)->db;
}

static struct db_stmt *
prep(struct db *db, const char *sql)
{
	struct db_stmt *s;

	if (db_prepare(db, sql, &s) != 0)
		fail_msg("prepare %s: %s", sql, db_errmsg(db));
	return s;
}

static void
step_is(struct db_stmt *s, struct db *db, int want)
{
	int rc = db_step(s);

	if (rc != want)
		fail_msg("step: %d, wanted %d (%s)", rc, want,
		    rc == DB_ERROR ? db_errmsg(db) : "");
}

/* One integer from a query without parameters. */
static int64_t
q_int(struct db *db, const char *sql)
{
	struct db_stmt *s = prep(db, sql);
	int64_t v;

	step_is(s, db, DB_ROW);
	v = db_col_int64(s, 0);
	db_finalize(&s);
	return v;
}

/* All rows' first column joined with ',' (NULL as "-"). */
static char *
q_list(struct db *db, const char *sql)
{
	struct db_stmt *s = prep(db, sql);
	char *out = xstrdup(""), *t;
	const char *v;
	int rc;

	while ((rc = db_step(s)) == DB_ROW) {
		v = db_col_text(s, 0);
		t = xasprintf("%s%s%s", out, *out ? "," : "",
		    v != NULL ? v : "-");
		free(out);
		out = t;
	}
	if (rc != DB_DONE)
		fail_msg("%s: %s", sql, db_errmsg(db));
	db_finalize(&s);
	return out;
}

static void
list_is(struct db *db, const char *sql, const char *want)
{
	char *got = q_list(db, sql);

	assert_string_equal(got, want);
	free(got);
}

/* ---- the tests ---------------------------------------------------- */

static void
test_ddl(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;

	EXEC(db, "CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, "
	    "n INTEGER NOT NULL, b BLOB, t TEXT)");
	EXEC(db, "CREATE TABLE b (id integer primary key, n Integer)");
	EXEC(db, "INSERT INTO a (n) VALUES (5); INSERT INTO a (n) VALUES (6)");
	list_is(db, "SELECT id FROM a ORDER BY id", "1,2");
	/* INTEGER holds 64 bits on both */
	EXEC(db, "INSERT INTO a (n) VALUES (1099511627776)");
	assert_int_equal(q_int(db, "SELECT MAX(n) FROM a"), 1099511627776LL);
	EXEC(db, "INSERT INTO b (n) VALUES (7)");
	assert_int_equal(q_int(db, "SELECT id FROM b"), 1);
	/* an explicit id (PostgreSQL's identity sequence does not move
	 * past it, unlike SQLite: the store does not mix the two) */
	s = prep(db, "INSERT INTO b (id, n) VALUES (?1, ?2)");
	OK(db, db_bind_int64(s, 1, 100));
	OK(db, db_bind_int64(s, 2, 8));
	step_is(s, db, DB_DONE);
	db_finalize(&s);
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM b"), 2);
	/* CAST(? AS INTEGER) is 64-bit too */
	s = prep(db, "SELECT CAST(?1 AS INTEGER) + 1");
	OK(db, db_bind_int64(s, 1, 5000000000LL));
	step_is(s, db, DB_ROW);
	assert_int_equal(db_col_int64(s, 0), 5000000001LL);
	db_finalize(&s);
	/* keywords inside literals and quoted names are left alone */
	EXEC(db, "CREATE TABLE c (\"blob\" TEXT, k TEXT DEFAULT "
	    "'INTEGER PRIMARY KEY BLOB')");
	EXEC(db, "INSERT INTO c (\"blob\") VALUES ('x')");
	list_is(db, "SELECT k FROM c", "INTEGER PRIMARY KEY BLOB");
	list_is(db, "SELECT \"blob\" FROM c", "x");
}

static void
test_params(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;

	EXEC(db, "CREATE TABLE p (a TEXT, b INTEGER, \"we?ird\" TEXT)");
	/* bare ? count up */
	s = prep(db, "INSERT INTO p (a, b, \"we?ird\") VALUES (?, ?, ?)");
	OK(db, db_bind_text(s, 1, "x"));
	OK(db, db_bind_int64(s, 2, 1));
	OK(db, db_bind_text(s, 3, "w"));
	step_is(s, db, DB_DONE);
	db_reset(s);
	OK(db, db_bind_text(s, 1, "y"));
	OK(db, db_bind_int64(s, 2, 2));
	OK(db, db_bind_text(s, 3, "v"));
	step_is(s, db, DB_DONE);
	db_finalize(&s);
	/* ?N repeated and out of order; ? inside literals untouched */
	s = prep(db, "SELECT ?2 || '?1 ?' || ?1 || ?2, b FROM p "
	    "WHERE a = ?1 OR \"we?ird\" = ?3 ORDER BY b");
	OK(db, db_bind_text(s, 1, "x"));
	OK(db, db_bind_text(s, 2, "<"));
	OK(db, db_bind_text(s, 3, "v"));
	step_is(s, db, DB_ROW);
	assert_string_equal(db_col_text(s, 0), "<?1 ?x<");
	assert_int_equal(db_col_int64(s, 1), 1);
	step_is(s, db, DB_ROW);
	assert_int_equal(db_col_int64(s, 1), 2);
	step_is(s, db, DB_DONE);
	db_finalize(&s);
	/* a bare ? after ?2 is ?3 (SQLite's rule) */
	s = prep(db, "SELECT ?2, ?1, ?");
	OK(db, db_bind_int64(s, 1, 10));
	OK(db, db_bind_int64(s, 2, 20));
	OK(db, db_bind_int64(s, 3, 30));
	step_is(s, db, DB_ROW);
	assert_int_equal(db_col_int64(s, 0), 20);
	assert_int_equal(db_col_int64(s, 1), 10);
	assert_int_equal(db_col_int64(s, 2), 30);
	db_finalize(&s);
	/* out of range binds fail, the statement stays usable */
	s = prep(db, "SELECT b FROM p WHERE a = ?1");
	assert_int_equal(db_bind_int64(s, 0, 1), -1);
	assert_int_equal(db_bind_int64(s, 2, 1), -1);
	assert_true(db_errmsg(db)[0] != '\0');
	OK(db, db_bind_text(s, 1, "y"));
	step_is(s, db, DB_ROW);
	assert_int_equal(db_col_int64(s, 0), 2);
	db_finalize(&s);
}

static void
test_int64(void **state)
{
	struct db *db = db_of(state);
	static const int64_t vals[] = { INT64_MIN, INT64_MIN + 1, -1, 0, 1,
	    INT32_MAX, (int64_t)INT32_MAX + 1, INT64_MAX - 1, INT64_MAX };
	struct db_stmt *s;
	size_t i;

	EXEC(db, "CREATE TABLE n (i INTEGER PRIMARY KEY, v INTEGER)");
	s = prep(db, "INSERT INTO n (i, v) VALUES (?1, ?2)");
	for (i = 0; i < MP_ARRAY_LEN(vals); i++) {
		OK(db, db_bind_int64(s, 1, (int64_t)i + 1));
		OK(db, db_bind_int64(s, 2, vals[i]));
		step_is(s, db, DB_DONE);
		db_reset(s);
	}
	db_finalize(&s);
	s = prep(db, "SELECT v, v = ?1 FROM n ORDER BY i");
	for (i = 0; i < MP_ARRAY_LEN(vals); i++) {
		db_reset(s);
		OK(db, db_bind_int64(s, 1, vals[i]));
		while (db_step(s) == DB_ROW)
			if (db_col_int64(s, 1))
				break;
		assert_int_equal(db_col_int64(s, 0), vals[i]);
	}
	db_finalize(&s);
	assert_int_equal(q_int(db, "SELECT MIN(v) FROM n"), INT64_MIN);
	assert_int_equal(q_int(db, "SELECT MAX(v) FROM n"), INT64_MAX);
	assert_int_equal(q_int(db, "SELECT 9223372036854775807"), INT64_MAX);
	/* comparisons read as 0/1 */
	assert_int_equal(q_int(db, "SELECT 1 = 1"), 1);
	assert_int_equal(q_int(db, "SELECT 1 = 0"), 0);
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM n WHERE v > 0"), 5);
	/* SUM of small values is an integer either way */
	assert_int_equal(q_int(db, "SELECT SUM(i) FROM n"), 45);
}

static void
test_text(void **state)
{
	struct db *db = db_of(state);
	static const char *const vals[] = { "", "it's \"quoted\" \\ ;",
	    "UTF-8: \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac "
	    "\xf0\x9f\x93\xa8", "?1 $1 -- /* x", "line\nbreak\ttab" };
	struct db_stmt *s;
	char *big;
	size_t i;

	EXEC(db, "CREATE TABLE t (i INTEGER PRIMARY KEY, v TEXT)");
	s = prep(db, "INSERT INTO t (i, v) VALUES (?1, ?2)");
	for (i = 0; i < MP_ARRAY_LEN(vals); i++) {
		OK(db, db_bind_int64(s, 1, (int64_t)i));
		OK(db, db_bind_text(s, 2, vals[i]));
		step_is(s, db, DB_DONE);
		db_reset(s);
	}
	big = xmalloc(200001);
	memset(big, 'z', 200000);
	big[200000] = '\0';
	OK(db, db_bind_int64(s, 1, 100));
	OK(db, db_bind_text(s, 2, big));
	step_is(s, db, DB_DONE);
	db_finalize(&s);
	s = prep(db, "SELECT v FROM t WHERE i = ?1");
	for (i = 0; i < MP_ARRAY_LEN(vals); i++) {
		OK(db, db_bind_int64(s, 1, (int64_t)i));
		step_is(s, db, DB_ROW);
		assert_false(db_col_null(s, 0));
		assert_string_equal(db_col_text(s, 0), vals[i]);
		db_reset(s);
	}
	OK(db, db_bind_int64(s, 1, 100));
	step_is(s, db, DB_ROW);
	assert_string_equal(db_col_text(s, 0), big);
	db_finalize(&s);
	free(big);
	/* the text finds itself again as a parameter */
	s = prep(db, "SELECT i FROM t WHERE v = ?1");
	OK(db, db_bind_text(s, 1, vals[1]));
	step_is(s, db, DB_ROW);
	assert_int_equal(db_col_int64(s, 0), 1);
	db_finalize(&s);
	/* characters, not bytes */
	assert_int_equal(q_int(db, "SELECT LENGTH(v) FROM t WHERE i = 2"),
	    15);
}

static void
test_blob(void **state)
{
	struct db *db = db_of(state);
	unsigned char all[512];
	const unsigned char *p;
	struct db_stmt *s;
	const void *b1, *b2;
	size_t i, len, len2;

	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(i * 7);
	EXEC(db, "CREATE TABLE b (i INTEGER PRIMARY KEY, v BLOB, w BLOB)");
	s = prep(db, "INSERT INTO b (i, v, w) VALUES (?1, ?2, ?3)");
	OK(db, db_bind_int64(s, 1, 1));
	OK(db, db_bind_blob(s, 2, all, sizeof(all)));
	OK(db, db_bind_blob(s, 3, "\0\0\0", 3));
	step_is(s, db, DB_DONE);
	db_reset(s);
	OK(db, db_bind_int64(s, 1, 2));
	OK(db, db_bind_blob(s, 2, "", 0));
	OK(db, db_bind_null(s, 3));
	step_is(s, db, DB_DONE);
	db_finalize(&s);

	s = prep(db, "SELECT v, w FROM b ORDER BY i");
	step_is(s, db, DB_ROW);
	/* two blobs of one row are valid at the same time */
	b1 = db_col_blob(s, 0, &len);
	b2 = db_col_blob(s, 1, &len2);
	assert_int_equal(len, sizeof(all));
	assert_memory_equal(b1, all, sizeof(all));
	assert_int_equal(len2, 3);
	assert_memory_equal(b2, "\0\0\0", 3);
	/* asking again gives the same bytes */
	p = db_col_blob(s, 0, &len);
	assert_int_equal(len, sizeof(all));
	assert_memory_equal(p, all, sizeof(all));
	step_is(s, db, DB_ROW);
	/* empty is not NULL */
	assert_false(db_col_null(s, 0));
	(void)db_col_blob(s, 0, &len);
	assert_int_equal(len, 0);
	assert_true(db_col_null(s, 1));
	len = 99;
	assert_null(db_col_blob(s, 1, &len));
	assert_int_equal(len, 0);
	step_is(s, db, DB_DONE);
	db_finalize(&s);
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM b WHERE v IS NULL"),
	    0);
	assert_int_equal(q_int(db, "SELECT LENGTH(v) FROM b WHERE i = 1"),
	    (int64_t)sizeof(all));
	/* a blob found by a blob parameter */
	s = prep(db, "SELECT i FROM b WHERE w = ?1");
	OK(db, db_bind_blob(s, 1, "\0\0\0", 3));
	step_is(s, db, DB_ROW);
	assert_int_equal(db_col_int64(s, 0), 1);
	db_finalize(&s);
}

static void
test_nulls(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;
	size_t len;

	EXEC(db, "CREATE TABLE z (i INTEGER PRIMARY KEY, t TEXT, n INTEGER, "
	    "b BLOB)");
	s = prep(db, "INSERT INTO z (i, t, n, b) VALUES (?1, ?2, ?3, ?4)");
	OK(db, db_bind_int64(s, 1, 1));
	OK(db, db_bind_text(s, 2, NULL));
	OK(db, db_bind_null(s, 3));
	/* ?4 never bound: NULL */
	step_is(s, db, DB_DONE);
	db_finalize(&s);
	s = prep(db, "SELECT t, n, b, i FROM z");
	step_is(s, db, DB_ROW);
	assert_true(db_col_null(s, 0));
	assert_null(db_col_text(s, 0));
	assert_true(db_col_null(s, 1));
	assert_int_equal(db_col_int64(s, 1), 0);
	assert_true(db_col_null(s, 2));
	assert_null(db_col_blob(s, 2, &len));
	assert_int_equal(len, 0);
	assert_false(db_col_null(s, 3));
	db_finalize(&s);
	/* a NULL where the type is not inferable needs a CAST (db.h) */
	s = prep(db, "SELECT COUNT(*) FROM z WHERE CAST(?1 AS TEXT) IS NULL");
	OK(db, db_bind_null(s, 1));
	step_is(s, db, DB_ROW);
	assert_int_equal(db_col_int64(s, 0), 1);
	db_finalize(&s);
	assert_int_equal(q_int(db, "SELECT COALESCE(n, 42) FROM z"), 42);
}

static void
test_upsert_returning(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;
	int i;

	EXEC(db, "CREATE TABLE kv (id INTEGER PRIMARY KEY, k TEXT NOT NULL "
	    "UNIQUE, v TEXT, hits INTEGER NOT NULL DEFAULT 0)");
	s = prep(db, "INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT (k) "
	    "DO UPDATE SET v = excluded.v, hits = kv.hits + 1 "
	    "RETURNING id, hits");
	for (i = 0; i < 3; i++) {
		OK(db, db_bind_text(s, 1, "key"));
		OK(db, db_bind_text(s, 2, i == 2 ? "last" : "v"));
		step_is(s, db, DB_ROW);
		assert_int_equal(db_col_int64(s, 0), 1);
		assert_int_equal(db_col_int64(s, 1), i);
		step_is(s, db, DB_DONE);
		assert_int_equal(db_changes(db), 1);
		db_reset(s);
	}
	OK(db, db_bind_text(s, 1, "other"));
	OK(db, db_bind_text(s, 2, "o"));
	step_is(s, db, DB_ROW);
	/* PostgreSQL's identity spends a value on every conflicting try:
	 * ids are unique and increasing, not dense */
	assert_true(db_col_int64(s, 0) > 1);
	db_finalize(&s);
	list_is(db, "SELECT v FROM kv ORDER BY id", "last,o");

	EXEC(db, "INSERT INTO kv (k) VALUES ('x') ON CONFLICT (k) DO NOTHING");
	EXEC(db, "INSERT INTO kv (k) VALUES ('x') ON CONFLICT (k) DO NOTHING");
	assert_int_equal(db_changes(db), 0);
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM kv"), 3);

	/* UPDATE ... RETURNING */
	s = prep(db, "UPDATE kv SET hits = hits + 10 WHERE k <> ?1 "
	    "RETURNING k");
	OK(db, db_bind_text(s, 1, "key"));
	step_is(s, db, DB_ROW);
	step_is(s, db, DB_ROW);
	step_is(s, db, DB_DONE);
	assert_int_equal(db_changes(db), 2);
	db_finalize(&s);
}

static void
test_changes(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;

	EXEC(db, "CREATE TABLE c (i INTEGER PRIMARY KEY, g INTEGER)");
	EXEC(db, "INSERT INTO c (g) VALUES (1); INSERT INTO c (g) VALUES (1);"
	    "INSERT INTO c (g) VALUES (2)");
	s = prep(db, "UPDATE c SET g = g + 10 WHERE g = ?1");
	OK(db, db_bind_int64(s, 1, 1));
	step_is(s, db, DB_DONE);
	assert_int_equal(db_changes(db), 2);
	db_reset(s);
	OK(db, db_bind_int64(s, 1, 99));
	step_is(s, db, DB_DONE);
	assert_int_equal(db_changes(db), 0);
	db_reset(s);
	OK(db, db_bind_int64(s, 1, 2));
	step_is(s, db, DB_DONE);
	assert_int_equal(db_changes(db), 1);
	db_finalize(&s);
	/* a SELECT leaves it alone */
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM c"), 3);
	assert_int_equal(db_changes(db), 1);
	EXEC(db, "DELETE FROM c WHERE g > 11");
	assert_int_equal(db_changes(db), 1);
}

static void
test_violations(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;

	EXEC(db, "CREATE TABLE parent (id TEXT PRIMARY KEY, u TEXT UNIQUE)");
	EXEC(db, "CREATE TABLE child (p TEXT NOT NULL REFERENCES parent(id) "
	    "ON DELETE CASCADE, n INTEGER)");
	EXEC(db, "INSERT INTO parent (id, u) VALUES ('a', 'ua')");
	s = prep(db, "INSERT INTO parent (id, u) VALUES (?1, ?2)");
	OK(db, db_bind_text(s, 1, "a"));
	OK(db, db_bind_text(s, 2, "ub"));
	step_is(s, db, DB_ERROR);
	assert_true(db_err_unique(db));
	assert_false(db_err_foreign(db));
	assert_true(db_errmsg(db)[0] != '\0');
	db_reset(s);
	OK(db, db_bind_text(s, 1, "b"));
	OK(db, db_bind_text(s, 2, "ua"));
	step_is(s, db, DB_ERROR);
	assert_true(db_err_unique(db));
	db_reset(s);
	OK(db, db_bind_text(s, 1, "b"));
	OK(db, db_bind_text(s, 2, "ub"));
	step_is(s, db, DB_DONE);
	db_finalize(&s);

	s = prep(db, "INSERT INTO child (p, n) VALUES (?1, 1)");
	OK(db, db_bind_text(s, 1, "nope"));
	step_is(s, db, DB_ERROR);
	assert_true(db_err_foreign(db));
	assert_false(db_err_unique(db));
	db_reset(s);
	OK(db, db_bind_text(s, 1, "a"));
	step_is(s, db, DB_DONE);
	db_finalize(&s);
	EXEC(db, "DELETE FROM parent WHERE id = 'a'");
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM child"), 0);

	/* a syntax error is an error of neither kind */
	assert_int_equal(db_exec(db, "SELEKT 1"), -1);
	assert_false(db_err_unique(db));
	assert_false(db_err_foreign(db));
	assert_true(db_errmsg(db)[0] != '\0');
}

static void
test_tx(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;
	int rc;

	EXEC(db, "CREATE TABLE x (k TEXT PRIMARY KEY)");
	assert_false(db_in_tx(db));
	OK(db, db_begin(db));
	assert_true(db_in_tx(db));
	EXEC(db, "INSERT INTO x VALUES ('gone')");
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM x"), 1);
	OK(db, db_rollback(db));
	assert_false(db_in_tx(db));
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM x"), 0);

	OK(db, db_begin(db));
	s = prep(db, "INSERT INTO x VALUES (?1)");
	OK(db, db_bind_text(s, 1, "kept"));
	step_is(s, db, DB_DONE);
	OK(db, db_commit(db));
	assert_false(db_in_tx(db));
	list_is(db, "SELECT k FROM x", "kept");
	assert_int_equal(db_begin(db), 0);
	assert_int_equal(db_begin(db), -1);	/* no nesting */
	OK(db, db_rollback(db));

	/*
	 * An error inside a transaction: PostgreSQL aborts the whole
	 * transaction and the commit must fail; SQLite keeps it. The store
	 * rolls back after any error, which works on both.
	 */
	OK(db, db_begin(db));
	db_reset(s);
	OK(db, db_bind_text(s, 1, "second"));
	step_is(s, db, DB_DONE);
	db_reset(s);
	OK(db, db_bind_text(s, 1, "kept"));
	step_is(s, db, DB_ERROR);
	assert_true(db_err_unique(db));
	rc = db_commit(db);
	assert_false(db_in_tx(db));
	if (db_kind(db) == DB_PG) {
		assert_int_equal(rc, -1);
		list_is(db, "SELECT k FROM x ORDER BY k", "kept");
	} else {
		assert_int_equal(rc, 0);
		list_is(db, "SELECT k FROM x ORDER BY k", "kept,second");
	}
	db_finalize(&s);
	/* commit without begin */
	assert_int_equal(db_commit(db), -1);
	assert_int_equal(db_rollback(db), 0);
}

static void
test_collate(void **state)
{
	struct db *db = db_of(state);

	EXEC(db, "CREATE TABLE s (v TEXT, w TEXT COLLATE BINARY)");
	EXEC(db, "INSERT INTO s (v, w) VALUES ('b', 'b'); "
	    "INSERT INTO s (v, w) VALUES ('\xc3\xa9', '\xc3\xa9'); "
	    "INSERT INTO s (v, w) VALUES ('a', 'a'); "
	    "INSERT INTO s (v, w) VALUES ('B', 'B'); "
	    "INSERT INTO s (v, w) VALUES ('A', 'A'); "
	    "INSERT INTO s (v, w) VALUES ('_', '_')");
	list_is(db, "SELECT v FROM s ORDER BY v COLLATE BINARY",
	    "A,B,_,a,b,\xc3\xa9");
	list_is(db, "SELECT v FROM s ORDER BY v collate binary DESC",
	    "\xc3\xa9,b,a,_,B,A");
	list_is(db, "SELECT w FROM s ORDER BY w", "A,B,_,a,b,\xc3\xa9");
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM s WHERE v > 'Z' "
	    "COLLATE BINARY"), 4);
}

static void
test_reuse(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *ins, *sel;
	char v[32];
	int i;

	EXEC(db, "CREATE TABLE r (i INTEGER PRIMARY KEY, v TEXT)");
	ins = prep(db, "INSERT INTO r (i, v) VALUES (?1, ?2)");
	for (i = 1; i <= 200; i++) {
		(void)snprintf(v, sizeof(v), "v%d", i);
		OK(db, db_bind_int64(ins, 1, i));
		OK(db, db_bind_text(ins, 2, v));
		step_is(ins, db, DB_DONE);
		db_reset(ins);
	}
	/* reset clears the bindings: ?2 is NULL now */
	OK(db, db_bind_int64(ins, 1, 201));
	step_is(ins, db, DB_DONE);
	db_finalize(&ins);
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM r WHERE v IS NULL"),
	    1);

	sel = prep(db, "SELECT i, v FROM r WHERE i >= ?1 ORDER BY i");
	for (i = 0; i < 3; i++) {
		OK(db, db_bind_int64(sel, 1, 10 + i));
		step_is(sel, db, DB_ROW);
		assert_int_equal(db_col_int64(sel, 0), 10 + i);
		step_is(sel, db, DB_ROW);
		assert_int_equal(db_col_int64(sel, 0), 11 + i);
		/* reset in the middle of a result */
		db_reset(sel);
	}
	/* a reset statement reads from the start again */
	OK(db, db_bind_int64(sel, 1, 200));
	step_is(sel, db, DB_ROW);
	assert_string_equal(db_col_text(sel, 1), "v200");
	step_is(sel, db, DB_ROW);
	assert_null(db_col_text(sel, 1));
	step_is(sel, db, DB_DONE);
	db_reset(sel);
	db_reset(sel);	/* twice is harmless */
	db_finalize(&sel);
	db_finalize(&sel);	/* NULL is harmless */
}

static void
test_exec_multi(void **state)
{
	struct db *db = db_of(state);

	EXEC(db, "CREATE TABLE m1 (a INTEGER); CREATE TABLE m2 (b TEXT);\n"
	    "INSERT INTO m1 VALUES (1);\nINSERT INTO m2 VALUES ('x;y');");
	assert_int_equal(q_int(db, "SELECT a FROM m1"), 1);
	list_is(db, "SELECT b FROM m2", "x;y");
	/* a failing statement in the middle: an error */
	assert_int_equal(db_exec(db, "INSERT INTO m1 VALUES (2); "
	    "INSERT INTO nosuch VALUES (3)"), -1);
	assert_true(strlen(db_errmsg(db)) > 0);
}

/* ---- PostgreSQL only ---------------------------------------------- */

static void
test_pg_rewrite_edges(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;

	/* dollar quotes and comments keep their ? and INTEGER */
	EXEC(db, "CREATE FUNCTION f(x BIGINT) RETURNS TEXT AS $fn$ "
	    "SELECT 'INTEGER ?' || x::text $fn$ LANGUAGE sql");
	s = prep(db, "SELECT f(?1) -- what ?2 INTEGER\n"
	    ", /* nested /* ?3 */ BLOB */ $$ ?4 $$, E'\\'?5'");
	OK(db, db_bind_int64(s, 1, 7));
	assert_int_equal(db_bind_int64(s, 2, 1), -1);
	step_is(s, db, DB_ROW);
	assert_string_equal(db_col_text(s, 0), "INTEGER ?7");
	assert_string_equal(db_col_text(s, 1), " ?4 ");
	assert_string_equal(db_col_text(s, 2), "'?5");
	db_finalize(&s);
	/* too many parameters */
	assert_int_equal(db_prepare(db, "SELECT ?33", &s), -1);
	assert_null(s);
	assert_int_equal(db_prepare(db, "SELECT ?0", &s), -1);
	assert_int_equal(db_prepare(db, "SELECT ?99999999999999999999", &s),
	    -1);
	s = prep(db, "SELECT ?32");
	db_finalize(&s);
	/*
	 * COLLATE BINARY really is byte order: the test database's default
	 * is C already, so try a column with a linguistic collation (ICU,
	 * when the server has it).
	 */
	if (q_int(db, "SELECT COUNT(*) FROM pg_collation WHERE collname = "
	    "'und-x-icu'") == 1) {
		EXEC(db, "CREATE TABLE u (v TEXT COLLATE \"und-x-icu\"); "
		    "INSERT INTO u VALUES ('b'), ('\xc3\xa9'), ('a'), ('B')");
		list_is(db, "SELECT v FROM u ORDER BY v", "a,b,B,\xc3\xa9");
		list_is(db, "SELECT v FROM u ORDER BY v COLLATE BINARY",
		    "B,a,b,\xc3\xa9");
	}
	/* errors in the SQL show at the first step */
	s = prep(db, "SELEKT ?1");
	step_is(s, db, DB_ERROR);
	assert_non_null(strstr(db_errmsg(db), "SQLSTATE 42601"));
	db_finalize(&s);
}

static void
test_pg_session(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;

	list_is(db, "SHOW synchronous_commit", "on");
	list_is(db, "SHOW client_min_messages", "warning");
	list_is(db, "SHOW application_name", "mailpull");
	list_is(db, "SHOW client_encoding", "UTF8");
	/* numeric and boolean columns as integers */
	assert_int_equal(q_int(db, "SELECT AVG(x) FROM (VALUES (2), (3)) "
	    "AS v(x)"), 2);
	assert_int_equal(q_int(db, "SELECT -2.5::numeric"), -2);
	assert_int_equal(q_int(db, "SELECT 99999999999999999999::numeric"),
	    INT64_MAX);
	assert_int_equal(q_int(db, "SELECT true"), 1);
	assert_int_equal(q_int(db, "SELECT 'abc'"), 0);
	/* columns out of range and no current row read as NULL */
	s = prep(db, "SELECT 1");
	assert_true(db_col_null(s, 0));
	step_is(s, db, DB_ROW);
	assert_true(db_col_null(s, 1));
	assert_true(db_col_null(s, -1));
	assert_null(db_col_text(s, 5));
	assert_int_equal(db_col_int64(s, 5), 0);
	/* binding a stepped statement needs a reset first */
	db_finalize(&s);
	s = prep(db, "SELECT ?1");
	OK(db, db_bind_int64(s, 1, 1));
	step_is(s, db, DB_ROW);
	assert_int_equal(db_bind_int64(s, 1, 2), -1);
	db_reset(s);
	OK(db, db_bind_int64(s, 1, 2));
	step_is(s, db, DB_ROW);
	assert_int_equal(db_col_int64(s, 0), 2);
	db_finalize(&s);
	/* COMMIT of an aborted transaction, even bypassing db_commit() */
	EXEC(db, "CREATE TABLE y (k INTEGER PRIMARY KEY)");
	EXEC(db, "BEGIN");
	EXEC(db, "INSERT INTO y VALUES (1)");
	assert_int_equal(db_exec(db, "INSERT INTO y VALUES (1)"), -1);
	assert_int_equal(db_exec(db, "COMMIT"), -1);
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM y"), 0);
	/* a COPY does not leave the connection stuck */
	assert_int_equal(db_exec(db, "COPY y FROM STDIN"), -1);
	assert_int_equal(db_exec(db, "COPY y TO STDOUT"), -1);
	assert_int_equal(q_int(db, "SELECT 5"), 5);
}

/* The server-side prepared statement cache (db_pg.c). */
static void
test_pg_cache(void **state)
{
	struct db *db = db_of(state);
	struct db_stmt *s;
	char sql[64];
	int i, k, rc;

	/* more distinct statements than the cache holds, each run twice
	 * (prepared at the second): the server keeps a bounded number */
	for (k = 0; k < 2; k++) {
		if (k == 1)
			OK(db, db_begin(db));
		for (i = 0; i < 300; i++) {
			(void)snprintf(sql, sizeof(sql), "SELECT ?1 + %d", i);
			s = prep(db, sql);
			OK(db, db_bind_int64(s, 1, k));
			step_is(s, db, DB_ROW);
			assert_int_equal(db_col_int64(s, 0), i + k);
			db_reset(s);
			OK(db, db_bind_int64(s, 1, k));
			step_is(s, db, DB_ROW);
			assert_int_equal(db_col_int64(s, 0), i + k);
			db_finalize(&s);
		}
		assert_true(q_int(db, "SELECT COUNT(*) FROM "
		    "pg_prepared_statements") <= 130);
	}
	OK(db, db_commit(db));

	/* a table change: the cache is emptied, SELECT * sees it */
	EXEC(db, "CREATE TABLE w (a INTEGER)");
	EXEC(db, "INSERT INTO w VALUES (1)");
	for (i = 0; i < 3; i++)
		list_is(db, "SELECT * FROM w", "1");
	EXEC(db, "ALTER TABLE w ADD COLUMN b TEXT");
	s = prep(db, "SELECT * FROM w");
	step_is(s, db, DB_ROW);
	assert_true(db_col_null(s, 1));
	assert_false(db_col_null(s, 0));
	db_finalize(&s);
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM "
	    "pg_prepared_statements"), 0);

	/* prepared statements dropped behind the cache's back: one
	 * failure, then it starts over */
	for (i = 0; i < 3; i++)
		assert_int_equal(q_int(db, "SELECT 41 + 1"), 42);
	s = prep(db, "DEALLOCATE ALL");
	step_is(s, db, DB_DONE);
	db_finalize(&s);
	s = prep(db, "SELECT 41 + 1");
	rc = db_step(s);
	db_finalize(&s);
	assert_int_equal(rc, DB_ERROR);
	assert_non_null(strstr(db_errmsg(db), "26000"));
	assert_int_equal(q_int(db, "SELECT 41 + 1"), 42);
	assert_int_equal(q_int(db, "SELECT 41 + 1"), 42);
}

/*
 * The rewriter on junk built from the tokens it cares about: it must
 * never read or write out of bounds (the ASan build runs this), and
 * what it accepts goes to the server without breaking the connection.
 */
static void
test_pg_rewrite_random(void **state)
{
	static const char *const tok[] = { "'", "\"", "$", "$$", "$a$",
	    "?", "?1", "?32", "?33", "?0", "--", "/*", "*/", "E'", "e", "\\",
	    "INTEGER", " PRIMARY", " KEY", " AUTOINCREMENT", "COLLATE",
	    " BINARY", "BLOB", "\n", " ", "x", "1", ";", "\xc3\xa9", "''" };
	struct db *db = db_of(state);
	struct db_stmt *s;
	char sql[256], *sum;
	size_t len;
	unsigned seed = 12345;
	int i, k, n, ok = 0;

	for (i = 0; i < 5000; i++) {
		len = 0;
		n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 24;
		for (k = 0; k < n; k++) {
			const char *t = tok[((seed = seed * 1103515245u +
			    12345u) >> 16) % MP_ARRAY_LEN(tok)];

			if (len + strlen(t) + 1 > sizeof(sql))
				break;
			memcpy(sql + len, t, strlen(t));
			len += strlen(t);
		}
		sql[len] = '\0';
		if (db_prepare(db, sql, &s) == 0) {
			ok++;
			/* send one in fifty: the server judges the rest */
			if (i % 50 == 0)
				(void)db_step(s);
			db_finalize(&s);
		}
	}
	assert_true(ok > 0);
	assert_int_equal(q_int(db, "SELECT 7"), 7);

	/* 32 parameters, the most there are */
	sum = xstrdup("SELECT ?1");
	for (i = 2; i <= 32; i++) {
		char *t = xasprintf("%s + ?%d", sum, i);

		free(sum);
		sum = t;
	}
	s = prep(db, sum);
	for (i = 1; i <= 32; i++)
		OK(db, db_bind_int64(s, i, i));
	step_is(s, db, DB_ROW);
	assert_int_equal(db_col_int64(s, 0), 32 * 33 / 2);
	db_finalize(&s);
	free(sum);
}

static void
search_path(struct db *db, void **state)
{
	char *sql = xasprintf("SET search_path TO %s",
	    ((struct fixture *)*state)->schema);

	EXEC(db, sql);
	free(sql);
}

static void
test_pg_reconnect(void **state)
{
	struct db *db = db_of(state);

	EXEC(db, "CREATE TABLE k (v INTEGER)");
	/* the server drops us: this statement fails, the next reconnects */
	assert_int_equal(db_exec(db, "SELECT pg_terminate_backend("
	    "pg_backend_pid())"), -1);
	assert_int_equal(q_int(db, "SELECT 1"), 1);
	list_is(db, "SHOW synchronous_commit", "on");
	search_path(db, state);

	/* inside a transaction: the transaction fails, visibly */
	OK(db, db_begin(db));
	EXEC(db, "INSERT INTO k VALUES (1)");
	assert_int_equal(db_exec(db, "SELECT pg_terminate_backend("
	    "pg_backend_pid())"), -1);
	assert_int_equal(db_exec(db, "INSERT INTO k VALUES (2)"), -1);
	assert_non_null(strstr(db_errmsg(db), "inside a transaction"));
	assert_int_equal(db_commit(db), -1);
	assert_false(db_in_tx(db));
	search_path(db, state);
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM k"), 0);

	/* rollback on a lost connection is not an error */
	OK(db, db_begin(db));
	assert_int_equal(db_exec(db, "SELECT pg_terminate_backend("
	    "pg_backend_pid())"), -1);
	OK(db, db_rollback(db));
	search_path(db, state);
	assert_int_equal(q_int(db, "SELECT COUNT(*) FROM k"), 0);
}

/* No fixture: connection errors never show the password. */
static void
test_pg_password_hidden(void **state)
{
	static const char *const bad[] = {
		"postgresql://alice:S3cretPw@127.0.0.1:1/db",
		"host=127.0.0.1 port=1 user=alice password=S3cretPw",
		"host=127.0.0.1 port=1 password = 'S3cretPw' user=alice",
		"postgresql://alice@127.0.0.1:1/db?password=S3cretPw",
		"postgresql://alice:S3cretPw@127.0.0.1:notaport/db",
		"postgresql://alice:S3c%zzretPw@127.0.0.1:1/db",
		"host=127.0.0.1 password=S3cretPw bogus",
		"postgresql://alice:S3cretPw@[::1/db",
	};
	struct db *db = NULL;
	char err[512];
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(bad); i++) {
		err[0] = '\0';
		assert_int_equal(db_open_pg(&db, bad[i], err, sizeof(err)),
		    -1);
		assert_null(db);
		assert_true(err[0] != '\0');
		if (strstr(err, "S3c") != NULL || strstr(err, "retPw") != NULL)
			fail_msg("password shown: %s", err);
	}
	/* without a password the parse error is shown */
	assert_int_equal(db_open_pg(&db, "host=x bogus", err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "bogus"));
}

#define BOTH(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_ddl),
		BOTH(test_params),
		BOTH(test_int64),
		BOTH(test_text),
		BOTH(test_blob),
		BOTH(test_nulls),
		BOTH(test_upsert_returning),
		BOTH(test_changes),
		BOTH(test_violations),
		BOTH(test_tx),
		BOTH(test_collate),
		BOTH(test_reuse),
		BOTH(test_exec_multi),
	};
	const struct CMUnitTest pg_tests[] = {
		BOTH(test_pg_rewrite_edges),
		BOTH(test_pg_session),
		BOTH(test_pg_cache),
		BOTH(test_pg_rewrite_random),
		BOTH(test_pg_reconnect),
		cmocka_unit_test(test_pg_password_hidden),
	};
	int rc;

	g_kind = DB_SQLITE;
	rc = cmocka_run_group_tests_name("db_sqlite", tests, NULL, NULL);
	g_pg_url = getenv("MAILPULL_TEST_PG");
	if (g_pg_url == NULL || *g_pg_url == '\0') {
		fprintf(stderr, "test_db: MAILPULL_TEST_PG not set, "
		    "PostgreSQL skipped\n");
		return rc;
	}
	g_kind = DB_PG;
	rc |= cmocka_run_group_tests_name("db_pg", tests, NULL, NULL);
	rc |= cmocka_run_group_tests_name("db_pg_only", pg_tests, NULL,
	    NULL);
	return rc;
}
