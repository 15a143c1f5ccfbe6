/*
 * storetest.h - the store tests' harness: every test runs on SQLite
 * (STATE/mailpull.db), then on PostgreSQL when MAILPULL_TEST_PG names a
 * scratch database (a libpq URL or key=value string, e.g. from
 * scripts/pg-test-server newdb). There each test gets a fresh schema of
 * this process's own (search_path set in the store's connection string),
 * so test binaries and builds may share one database. Without the
 * variable the PostgreSQL group is skipped, said on stderr.
 *
 * Test-only; include after cmocka.h.
 */
#ifndef MP_TEST_STORETEST_H
#define MP_TEST_STORETEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/db.h"
#include "store/store.h"
#include "util/err.h"
#include "util/xmalloc.h"

#include "tmpdir.h"

struct fixture {
	char *tmp;
	char *dir;	/* state dir, below tmp so store_open creates it */
	struct store *st;
	struct err e;
};

static enum db_kind g_kind;
static const char *g_pg_url;	/* MAILPULL_TEST_PG */
static char g_schema[32];	/* this process's schema */
static char *g_pg_loc;		/* g_pg_url with search_path = g_schema */

MP_UNUSED static struct db *
pg_admin(void)
{
	struct db *db;
	char errbuf[512];

	if (db_open_pg(&db, g_pg_url, errbuf, sizeof(errbuf)) == -1)
		fail_msg("PostgreSQL %s: %s", g_pg_url, errbuf);
	return db;
}

/* A fresh empty schema for the next test; the store's location set again,
 * which makes it check (create) the schema at the next open. */
MP_UNUSED static void
pg_fresh_schema(void)
{
	struct db *db = pg_admin();
	char sql[192];
	struct err e = { 0 };

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; "
	    "CREATE SCHEMA %s", g_schema, g_schema);
	if (db_exec(db, sql) == -1)
		fail_msg("%s: %s", sql, db_errmsg(db));
	db_close(&db);
	if (store_set_location(g_pg_loc, &e) == -1)
		fail_msg("store_set_location: %s", err_msg(&e));
}

MP_UNUSED static void
pg_drop_schema(void)
{
	struct db *db = pg_admin();
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE",
	    g_schema);
	(void)db_exec(db, sql);
	db_close(&db);
}

MP_UNUSED static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	if (g_kind == DB_PG)
		pg_fresh_schema();
	f->tmp = tmpdir_make();
	f->dir = xasprintf("%s/a/state", f->tmp);
	if (store_open(&f->st, f->dir, &f->e) == -1) {
		fprintf(stderr, "store_open: %s\n", err_msg(&f->e));
		return -1;
	}
	*state = f;
	return 0;
}

MP_UNUSED static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(&f->st);
	err_clear(&f->e);
	tmpdir_remove(&f->tmp);
	free(f->dir);
	free(f);
	return 0;
}

/* A connection of our own to the store's database, beside the store's,
 * as the integration tests use the sqlite3 CLI. */
MP_UNUSED static struct db *
db_side(const char *dir)
{
	struct db *db;
	char errbuf[512], *path;

	if (g_kind == DB_PG) {
		if (db_open_pg(&db, g_pg_loc, errbuf, sizeof(errbuf)) == -1)
			fail_msg("%s", errbuf);
		return db;
	}
	path = xasprintf("%s/mailpull.db", dir);
	if (db_open_sqlite(&db, path, errbuf, sizeof(errbuf)) == -1)
		fail_msg("%s", errbuf);
	free(path);
	return db;
}

/* The first column of the first row of sql, read on another connection. */
MP_UNUSED static int
db_count(const char *dir, const char *sql)
{
	struct db *db = db_side(dir);
	struct db_stmt *s;
	int n;

	if (db_prepare(db, sql, &s) == -1)
		fail_msg("%s: %s", sql, db_errmsg(db));
	if (db_step(s) != DB_ROW)
		fail_msg("%s: %s", sql, db_errmsg(db));
	n = (int)db_col_int64(s, 0);
	db_finalize(&s);
	db_close(&db);
	return n;
}

MP_UNUSED static int
schema_version(const char *dir)
{
	return db_count(dir, g_kind == DB_SQLITE ? "PRAGMA user_version" :
	    "SELECT version FROM schema_version");
}

/* g_pg_url with this process's schema first on the search path. */
MP_UNUSED static char *
pg_loc(const char *url, const char *schema)
{
	if (strncmp(url, "postgresql://", 13) == 0 ||
	    strncmp(url, "postgres://", 11) == 0)
		return xasprintf("%s%soptions=-csearch_path%%3D%s", url,
		    strchr(url, '?') != NULL ? "&" : "?", schema);
	return xasprintf("%s options='-csearch_path=%s'", url, schema);
}

/* Run tests on SQLite, then tests and pg_tests on PostgreSQL when
 * MAILPULL_TEST_PG is set. The exit status of main. */
MP_UNUSED static int
storetest_run(const char *prog, const struct CMUnitTest *tests, size_t n,
    const struct CMUnitTest *pg_tests, size_t npg)
{
	int rc;

	g_kind = DB_SQLITE;
	rc = _cmocka_run_group_tests("sqlite", tests, n, NULL, NULL);
	g_pg_url = getenv("MAILPULL_TEST_PG");
	if (g_pg_url == NULL || *g_pg_url == '\0') {
		fprintf(stderr, "%s: MAILPULL_TEST_PG not set, PostgreSQL "
		    "skipped\n", prog);
		return rc;
	}
	g_kind = DB_PG;
	snprintf(g_schema, sizeof(g_schema), "t_%s_%ld", prog + 5,
	    (long)getpid());
	g_pg_loc = pg_loc(g_pg_url, g_schema);
	rc |= _cmocka_run_group_tests("postgresql", tests, n, NULL, NULL);
	if (npg > 0)
		rc |= _cmocka_run_group_tests("postgresql only", pg_tests, npg,
		    NULL, NULL);
	pg_drop_schema();
	free(g_pg_loc);
	return rc;
}

#endif
