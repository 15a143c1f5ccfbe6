/*
 * lease.c - work sharing between nodes on a shared store (see lease.h).
 *
 * PostgreSQL only: the statements use the database's clock
 * (clock_timestamp(), in milliseconds) and row locks. The table itself is
 * created on both backends (store_ext_schemas[] in store.c) so the schema
 * is the same.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <sodium.h>

#include "store/db.h"
#include "store/lease.h"
#include "store/store_impl.h"
#include "util/xmalloc.h"

#define NOW_MS "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"

static const char sql_sync[] =
    "INSERT INTO leases (account, seen_updated) "
    "SELECT id, COALESCE(updated, 0) FROM accounts "
    "ON CONFLICT (account) DO NOTHING";

/*
 * Due, enabled, free or expired; oldest due first; rows another node is
 * claiming at this moment are skipped, never waited for.
 */
static const char sql_claim[] =
    "WITH now AS (SELECT " NOW_MS " AS t), "
    "c AS (SELECT l.account, l.due FROM leases l "
    "JOIN accounts a ON a.id = l.account CROSS JOIN now "
    "WHERE a.enabled <> 0 AND l.due <= (SELECT t FROM now) AND "
    "(l.holder IS NULL OR l.expires <= now.t) "
    "ORDER BY l.due LIMIT ?1 FOR UPDATE OF l SKIP LOCKED) "
    "UPDATE leases SET holder = ?2, token = leases.token + 1, "
    "expires = now.t + ?3, kick = 0, claims = leases.claims + 1 "
    "FROM c CROSS JOIN now WHERE leases.account = c.account "
    "RETURNING leases.account, leases.token, "
    "CASE WHEN c.due > 0 THEN now.t - c.due ELSE -1 END";

/* A kick (check now) that came during the pass makes it due at once. */
static const char sql_release[] =
    "UPDATE leases SET holder = NULL, expires = 0, "
    "due = " NOW_MS " + CASE WHEN kick <> 0 THEN 0 ELSE ?3 END, kick = 0 "
    "WHERE account = ?1 AND holder = ?4 AND token = ?2";

static const char sql_renew[] =
    "UPDATE leases SET "
    "expires = CASE WHEN holder = ?1 THEN " NOW_MS " + ?2 ELSE expires END, "
    "idle_expires = CASE WHEN idle_holder = ?1 THEN " NOW_MS " + ?2 "
    "ELSE idle_expires END "
    "WHERE holder = ?1 OR idle_holder = ?1";

static const char sql_due_now[] =
    "UPDATE leases SET due = 0, kick = 1 WHERE account = ?1";

static const char sql_due_edit[] =
    "UPDATE leases SET due = 0, kick = 1, seen_updated = ?2 "
    "WHERE account = ?1 AND seen_updated < ?2";

static const char sql_mine[] =
    "UPDATE leases SET expires = " NOW_MS " + ?3 "
    "WHERE account = ?1 AND holder = ?2 RETURNING token";

static const char sql_take[] =
    "UPDATE leases SET holder = ?2, token = token + 1, "
    "expires = " NOW_MS " + ?3, claims = claims + 1 "
    "WHERE account = ?1 AND (holder IS NULL OR expires <= " NOW_MS ") "
    "RETURNING token";

static const char sql_one[] =
    "INSERT INTO leases (account, seen_updated) "
    "SELECT id, COALESCE(updated, 0) FROM accounts WHERE id = ?1 "
    "ON CONFLICT (account) DO NOTHING";

static const char sql_holder[] =
    "SELECT holder, (expires - " NOW_MS ") / 1000 FROM leases "
    "WHERE account = ?1";

static const char sql_check[] =
    "UPDATE leases SET expires = " NOW_MS " + ?4 "
    "WHERE account = ?1 AND holder = ?2 AND token = ?3";

static const char sql_unlock[] =
    "UPDATE leases SET holder = NULL, expires = 0 "
    "WHERE account = ?1 AND holder = ?2 AND token = ?3";

static const char sql_idle_claim[] =
    "UPDATE leases SET idle_holder = ?2, idle_expires = " NOW_MS " + ?3 "
    "WHERE account = ?1 AND (idle_holder IS NULL OR idle_holder = ?2 OR "
    "idle_expires <= " NOW_MS ")";

static const char sql_idle_release[] =
    "UPDATE leases SET idle_holder = NULL, idle_expires = 0 "
    "WHERE account = ?1 AND idle_holder = ?2";

static char node_id[128];
static pthread_once_t node_once = PTHREAD_ONCE_INIT;

static void
node_id_make(void)
{
	char host[64];

	if (gethostname(host, sizeof(host)) == -1)
		(void)snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	(void)snprintf(node_id, sizeof(node_id), "%s:%ld:%08x", host,
	    (long)getpid(), randombytes_random());
}

const char *
store_node_id(void)
{
	(void)pthread_once(&node_once, node_id_make);
	return node_id;
}

/* Run a write; the number of rows changed, -1 on error. */
static int64_t
run(struct store *st, struct db_stmt *s, const char *what, const char *acct,
    struct err *e)
{
	int rc = db_step(s);
	int64_t n;

	while (rc == DB_ROW)
		rc = db_step(s);
	n = db_changes(st->db);
	stmt_done(s);
	if (rc != DB_DONE) {
		if (acct != NULL)
			return db_fail(st, e, "%s for %s", what, acct);
		return db_fail(st, e, "%s", what);
	}
	return n;
}

int
store_lease_sync(struct store *st, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_sync, e)) == NULL)
		return -1;
	return run(st, s, "adding leases", NULL, e) == -1 ? -1 : 0;
}

int
store_lease_claim(struct store *st, size_t max, int lease_s,
    struct lease_claim **v_r, size_t *n_r, struct err *e)
{
	struct db_stmt *s;
	struct lease_claim *v;
	size_t n = 0;
	int rc;

	*v_r = NULL;
	*n_r = 0;
	if (max == 0)
		return 0;
	if ((s = store_stmt(st, sql_claim, e)) == NULL)
		return -1;
	v = xcalloc(max, sizeof(*v));
	db_bind_int64(s, 1, (int64_t)max);
	db_bind_text(s, 2, store_node_id());
	db_bind_int64(s, 3, (int64_t)lease_s * 1000);
	while ((rc = db_step(s)) == DB_ROW && n < max) {
		const char *id = db_col_text(s, 0);

		if (id == NULL)
			continue;
		v[n].account = xstrdup(id);
		v[n].token = db_col_int64(s, 1);
		v[n].late_ms = db_col_int64(s, 2);
		n++;
	}
	stmt_done(s);
	if (rc != DB_DONE && rc != DB_ROW) {
		store_lease_claims_free(&v, n);
		return db_fail(st, e, "claiming accounts");
	}
	if (n == 0) {
		free(v);	/* nothing claimed: nothing to free */
		v = NULL;
	}
	*v_r = v;
	*n_r = n;
	return 0;
}

void
store_lease_claims_free(struct lease_claim **vp, size_t n)
{
	size_t i;

	if (*vp == NULL)
		return;
	for (i = 0; i < n; i++)
		free((*vp)[i].account);
	free(*vp);
	*vp = NULL;
}

int
store_lease_release(struct store *st, const char *acct, int64_t token,
    int64_t next_ms, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_release, e)) == NULL)
		return -1;
	db_bind_text(s, 1, acct);
	db_bind_int64(s, 2, token);
	db_bind_int64(s, 3, MP_MAX(next_ms, 0));
	db_bind_text(s, 4, store_node_id());
	return run(st, s, "releasing the lease", acct, e) == -1 ? -1 : 0;
}

int64_t
store_lease_renew(struct store *st, int lease_s, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_renew, e)) == NULL)
		return -1;
	db_bind_text(s, 1, store_node_id());
	db_bind_int64(s, 2, (int64_t)lease_s * 1000);
	return run(st, s, "renewing leases", NULL, e);
}

int
store_lease_due_now(struct store *st, const char *acct, int64_t updated,
    struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, updated > 0 ? sql_due_edit : sql_due_now, e)) ==
	    NULL)
		return -1;
	db_bind_text(s, 1, acct);
	if (updated > 0)
		db_bind_int64(s, 2, updated);
	return run(st, s, "scheduling a check", acct, e) == -1 ? -1 : 0;
}

/* The token of a statement returning one, or 0 when no row. */
static int
token_of(struct store *st, struct db_stmt *s, int64_t *token_r,
    const char *acct, struct err *e)
{
	int rc = db_step(s), got = 0;

	if (rc == DB_ROW) {
		*token_r = db_col_int64(s, 0);
		got = 1;
		while ((rc = db_step(s)) == DB_ROW)
			;
	}
	stmt_done(s);
	if (rc != DB_DONE)
		return db_fail(st, e, "taking the lease of %s", acct);
	return got;
}

int
lease_lock(struct store *st, const char *acct, int lease_s, int64_t *token_r,
    bool *claimed_r, struct err *e)
{
	struct db_stmt *s;
	int r, tries;

	*claimed_r = false;
	/* Claimed by our scheduler for this pass? */
	if ((s = store_stmt(st, sql_mine, e)) == NULL)
		return -1;
	db_bind_text(s, 1, acct);
	db_bind_text(s, 2, store_node_id());
	db_bind_int64(s, 3, (int64_t)lease_s * 1000);
	if ((r = token_of(st, s, token_r, acct, e)) != 0)
		return r;
	for (tries = 0; tries < 2; tries++) {
		if ((s = store_stmt(st, sql_take, e)) == NULL)
			return -1;
		db_bind_text(s, 1, acct);
		db_bind_text(s, 2, store_node_id());
		db_bind_int64(s, 3, (int64_t)lease_s * 1000);
		if ((r = token_of(st, s, token_r, acct, e)) == -1)
			return -1;
		if (r == 1) {
			*claimed_r = true;
			return 1;
		}
		/* No row yet (added a moment ago), or held by another. */
		if ((s = store_stmt(st, sql_holder, e)) == NULL)
			return -1;
		db_bind_text(s, 1, acct);
		if ((r = db_step(s)) == DB_ROW) {
			const char *h = db_col_text(s, 0);

			if (h != NULL) {
				err_set(e, ERR_BUSY, "%s is being fetched by "
				    "node %s (lease for %llds more)", acct, h,
				    (long long)db_col_int64(s, 1));
				stmt_done(s);
				return 0;
			}
			stmt_done(s);
			continue;	/* freed meanwhile: try again */
		}
		stmt_done(s);
		if (r != DB_DONE)
			return db_fail(st, e, "reading the lease of %s", acct);
		if ((s = store_stmt(st, sql_one, e)) == NULL)
			return -1;
		db_bind_text(s, 1, acct);
		if (run(st, s, "adding the lease", acct, e) == -1)
			return -1;
	}
	(void)err_set(e, ERR_BUSY, "%s: the lease could not be taken", acct);
	return 0;
}

int
lease_check(struct store *st, const char *acct, int64_t token, int lease_s,
    struct err *e)
{
	struct db_stmt *s;
	int64_t n;

	if ((s = store_stmt(st, sql_check, e)) == NULL)
		return -1;
	db_bind_text(s, 1, acct);
	db_bind_text(s, 2, store_node_id());
	db_bind_int64(s, 3, token);
	db_bind_int64(s, 4, (int64_t)lease_s * 1000);
	if ((n = run(st, s, "checking the lease", acct, e)) == -1)
		return -1;
	return n > 0 ? 1 : 0;
}

int
lease_unlock(struct store *st, const char *acct, int64_t token,
    struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_unlock, e)) == NULL)
		return -1;
	db_bind_text(s, 1, acct);
	db_bind_text(s, 2, store_node_id());
	db_bind_int64(s, 3, token);
	return run(st, s, "releasing the lease", acct, e) == -1 ? -1 : 0;
}

int
store_lease_idle_claim(struct store *st, const char *acct, int lease_s,
    struct err *e)
{
	struct db_stmt *s;
	int64_t n;

	if ((s = store_stmt(st, sql_idle_claim, e)) == NULL)
		return -1;
	db_bind_text(s, 1, acct);
	db_bind_text(s, 2, store_node_id());
	db_bind_int64(s, 3, (int64_t)lease_s * 1000);
	if ((n = run(st, s, "taking the IDLE lease", acct, e)) == -1)
		return -1;
	return n > 0 ? 1 : 0;
}

int
store_lease_idle_release(struct store *st, const char *acct, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql_idle_release, e)) == NULL)
		return -1;
	db_bind_text(s, 1, acct);
	db_bind_text(s, 2, store_node_id());
	return run(st, s, "releasing the IDLE lease", acct, e) == -1 ? -1 : 0;
}
