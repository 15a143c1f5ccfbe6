/*
 * routing.c - groups and per-account routing configuration (routing.h).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "store/journal.h"
#include "store/routing.h"
#include "store/settings.h"
#include "store/store_impl.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static const char sql_group_add[] =
    "INSERT INTO groups (name, members, created, updated) "
    "VALUES (?1, ?2, ?3, ?3)";
static const char sql_group_set[] =
    "UPDATE groups SET members = ?2, updated = ?3 WHERE name = ?1";
static const char sql_group_get[] =
    "SELECT members FROM groups WHERE name = ?1";
static const char sql_group_list[] =
    "SELECT name FROM groups ORDER BY name COLLATE BINARY";
static const char sql_group_delete[] = "DELETE FROM groups WHERE name = ?1";
static const char sql_routing_get[] =
    "SELECT multidrop, domains, envelope_headers, rules, postmaster, "
    "reroute_unknown FROM account_routing WHERE account = ?1";
static const char sql_routing_set[] =
    "INSERT INTO account_routing (account, multidrop, domains, "
    "envelope_headers, rules, postmaster, reroute_unknown) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
    "ON CONFLICT (account) DO UPDATE SET multidrop = excluded.multidrop, "
    "domains = excluded.domains, envelope_headers = "
    "excluded.envelope_headers, rules = excluded.rules, "
    "postmaster = excluded.postmaster, "
    "reroute_unknown = excluded.reroute_unknown";

/* Members joined one per line; NULL when a member holds a line break. */
static char *
members_join(char *const *members, size_t n)
{
	struct buf b;
	size_t i;

	buf_init(&b, (size_t)GROUP_MEMBERS_MAX * 1024);
	for (i = 0; i < n; i++) {
		if (strchr(members[i], '\n') != NULL ||
		    (i > 0 && buf_add(&b, "\n", 1) == -1) ||
		    buf_adds(&b, members[i]) == -1) {
			buf_free(&b);
			return NULL;
		}
	}
	return buf_detach(&b);
}

static void
members_split(const char *s, char ***v_r, size_t *n_r)
{
	const char *p, *nl;
	char **v = NULL;
	size_t n = 0;

	for (p = s; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		if (nl == p)
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrndup(p, (size_t)(nl - p));
	}
	*v_r = v;
	*n_r = n;
}

static int
group_write(struct store *st, const char *sql, const char *name,
    char *const *members, size_t n, struct err *e)
{
	struct db_stmt *s;
	char *joined;
	int rc;

	if (n == 0 || n > GROUP_MEMBERS_MAX)
		return err_set(e, ERR_CONFIG, "group %s: 1 to %d members",
		    name, GROUP_MEMBERS_MAX);
	if ((joined = members_join(members, n)) == NULL)
		return err_set(e, ERR_CONFIG, "group %s: invalid members",
		    name);
	if ((s = store_stmt(st, sql, e)) == NULL) {
		free(joined);
		return -1;
	}
	rc = db_bind_text(s, 1, name);
	rc |= db_bind_text(s, 2, joined);
	rc |= db_bind_int64(s, 3, store_now());
	free(joined);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "writing group %s", name);
	}
	rc = stmt_exec(s);
	if (rc == DB_ERROR && db_err_unique(st->db)) {
		stmt_done(s);
		return err_set(e, ERR_CONFIG, "group %s already exists", name);
	}
	if (rc != DB_DONE) {
		db_fail(st, e, "writing group %s", name);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	if (sql == sql_group_set && db_changes(st->db) == 0)
		return err_set(e, ERR_CONFIG, "no such group %s", name);
	return store_change_bump(st, e);
}

int
store_group_add(struct store *st, const char *name, char *const *members,
    size_t n, struct err *e)
{
	return group_write(st, sql_group_add, name, members, n, e);
}

int
store_group_set(struct store *st, const char *name, char *const *members,
    size_t n, struct err *e)
{
	return group_write(st, sql_group_set, name, members, n, e);
}

int
store_group_get(struct store *st, const char *name, char ***members_r,
    size_t *n_r, struct err *e)
{
	struct db_stmt *s;
	char *m = NULL;
	int rc;

	*members_r = NULL;
	*n_r = 0;
	if ((s = store_stmt(st, sql_group_get, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, name) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading group %s", name);
	}
	rc = db_step(s);
	if (rc == DB_ROW)
		m = col_text(s, 0);
	else if (rc != DB_DONE) {
		db_fail(st, e, "reading group %s", name);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	if (rc == DB_DONE)
		return err_set(e, ERR_CONFIG, "no such group %s", name);
	members_split(m != NULL ? m : "", members_r, n_r);
	free(m);
	return 0;
}

int
store_group_list(struct store *st, char ***names_r, size_t *n_r,
    struct err *e)
{
	struct db_stmt *s;
	char **v = NULL;
	size_t n = 0;
	int rc;

	*names_r = NULL;
	*n_r = 0;
	if ((s = store_stmt(st, sql_group_list, e)) == NULL)
		return -1;
	while ((rc = db_step(s)) == DB_ROW) {
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = col_text(s, 0);
	}
	if (rc != DB_DONE) {
		db_fail(st, e, "listing groups");
		stmt_done(s);
		store_strv_free(&v, n);
		return -1;
	}
	stmt_done(s);
	*names_r = v;
	*n_r = n;
	return 0;
}

int
store_group_delete(struct store *st, const char *name, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_group_delete, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, name) != 0) {
		stmt_done(s);
		return db_fail(st, e, "deleting group %s", name);
	}
	if (write_done(st, s, e, "deleting group", name) == -1)
		return -1;
	if (db_changes(st->db) == 0)
		return err_set(e, ERR_CONFIG, "no such group %s", name);
	return store_change_bump(st, e);
}

static const char *const reroute_names[] = {
	[ROUTING_REROUTE_DEFAULT] = "default",
	[ROUTING_REROUTE_YES] = "yes",
	[ROUTING_REROUTE_NO] = "no",
};

const char *
routing_reroute_name(enum routing_reroute v)
{
	if ((size_t)v >= MP_ARRAY_LEN(reroute_names))
		return "default";
	return reroute_names[v];
}

int
routing_reroute_parse(const char *s, enum routing_reroute *v_r)
{
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(reroute_names); i++)
		if (strcmp(s, reroute_names[i]) == 0) {
			*v_r = (enum routing_reroute)i;
			return 0;
		}
	return -1;
}

void
routing_clear(struct routing *r)
{
	free(r->domains);
	free(r->envelope_headers);
	free(r->rules);
	free(r->postmaster);
	memset(r, 0, sizeof(*r));
}

int
store_routing_get(struct store *st, const char *acct, struct routing *r,
    struct err *e)
{
	struct db_stmt *s;
	char *v;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((s = store_stmt(st, sql_routing_get, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, acct) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading routing of %s", acct);
	}
	rc = db_step(s);
	if (rc == DB_ROW) {
		r->multidrop = db_col_int64(s, 0) != 0;
		r->domains = col_text(s, 1);
		r->envelope_headers = col_text(s, 2);
		r->rules = col_text(s, 3);
		r->postmaster = col_text(s, 4);
		v = col_text(s, 5);
		if (v == NULL || routing_reroute_parse(v,
		    &r->reroute_unknown) == -1)
			r->reroute_unknown = ROUTING_REROUTE_DEFAULT;
		free(v);
	} else if (rc != DB_DONE) {
		db_fail(st, e, "reading routing of %s", acct);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return 0;
}

int
store_routing_set(struct store *st, const char *acct,
    const struct routing *r, struct err *e)
{
	struct db_stmt *s;
	int rc;

	if ((s = store_stmt(st, sql_routing_set, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, acct);
	rc |= db_bind_int64(s, 2, r->multidrop ? 1 : 0);
	rc |= db_bind_text(s, 3, r->domains);
	rc |= db_bind_text(s, 4, r->envelope_headers);
	rc |= db_bind_text(s, 5, r->rules);
	rc |= db_bind_text(s, 6, r->postmaster);
	rc |= db_bind_text(s, 7, r->reroute_unknown == ROUTING_REROUTE_DEFAULT ?
	    NULL : routing_reroute_name(r->reroute_unknown));
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "writing routing of %s", acct);
	}
	if (write_done(st, s, e, "writing routing", acct) == -1)
		return -1;
	return store_change_bump(st, e);
}
