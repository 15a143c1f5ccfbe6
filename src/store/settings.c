/*
 * settings.c - global settings and the change counter (see settings.h).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "store/settings.h"
#include "store/store_impl.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

static const char sql_get[] = "SELECT value FROM settings WHERE key = ?1";
static const char sql_set[] =
    "INSERT INTO settings (key, value) VALUES (?1, ?2) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";
static const char sql_unset[] = "DELETE FROM settings WHERE key = ?1";
static const char sql_list[] =
    "SELECT key, value FROM settings WHERE key NOT LIKE '.%' "
    "ORDER BY key COLLATE BINARY";
static const char sql_bump[] =
    "INSERT INTO settings (key, value) VALUES ('.changes', '1') "
    "ON CONFLICT (key) DO UPDATE SET "
    "value = CAST(CAST(settings.value AS BIGINT) + 1 AS TEXT)";

int
store_setting_get(struct store *st, const char *key, char **value_r,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	*value_r = NULL;
	if ((s = store_stmt(st, sql_get, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, key) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading setting %s", key);
	}
	rc = db_step(s);
	if (rc == DB_ROW)
		*value_r = col_text(s, 0);
	else if (rc != DB_DONE) {
		db_fail(st, e, "reading setting %s", key);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return 0;
}

int
store_setting_set(struct store *st, const char *key, const char *value,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, value != NULL ? sql_set : sql_unset, e)) ==
	    NULL)
		return -1;
	rc = db_bind_text(s, 1, key);
	if (value != NULL)
		rc |= db_bind_text(s, 2, value);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "writing setting %s", key);
	}
	if (write_done(st, s, e, "writing setting", key) == -1)
		return -1;
	return store_change_bump(st, e);
}

int
store_setting_list(struct store *st, char ***keys_r, char ***values_r,
    size_t *n_r, struct err *e)
{
	struct db_stmt *s;
	char **k = NULL, **v = NULL;
	size_t n = 0;
	int rc;

	*keys_r = *values_r = NULL;
	*n_r = 0;
	if ((s = store_stmt(st, sql_list, e)) == NULL)
		return -1;
	while ((rc = db_step(s)) == DB_ROW) {
		k = xreallocarray(k, n + 1, sizeof(*k));
		v = xreallocarray(v, n + 1, sizeof(*v));
		k[n] = col_text(s, 0);
		v[n] = col_text(s, 1);
		n++;
	}
	if (rc != DB_DONE) {
		db_fail(st, e, "listing settings");
		stmt_done(s);
		store_setting_list_free(&k, &v, n);
		return -1;
	}
	stmt_done(s);
	*keys_r = k;
	*values_r = v;
	*n_r = n;
	return 0;
}

void
store_setting_list_free(char ***keys, char ***values, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((*keys)[i]);
		free((*values)[i]);
	}
	free(*keys);
	free(*values);
	*keys = *values = NULL;
}

int
store_change_bump(struct store *st, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_bump, e)) == NULL)
		return -1;
	return write_done(st, s, e, "bumping the change counter", "-");
}

int
store_change_get(struct store *st, int64_t *counter_r, struct err *e)
{
	char *v = NULL;

	*counter_r = 0;
	if (store_setting_get(st, ".changes", &v, e) == -1)
		return -1;
	if (v != NULL) {
		const char *errstr;

		*counter_r = strnum(v, 0, INT64_MAX, &errstr);
	}
	free(v);
	return 0;
}
