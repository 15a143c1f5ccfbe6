/*
 * test_lease.c - work sharing on a shared store (store/lease.h): claims,
 * release with the next due time, expiry and takeover, fencing tokens,
 * store_lock/store_lock_check on leases, edits made due once, the IDLE
 * lease. PostgreSQL only (MAILPULL_TEST_PG); on SQLite the pass lock is a
 * file lock that cannot be lost, which is checked too. "Another node" is a
 * second connection writing the leases table, as a node would.
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

#include "store/account.h"
#include "store/db.h"
#include "store/lease.h"
#include "store/store.h"
#include "util/err.h"
#include "util/xmalloc.h"

#include "storetest.h"

static void
add_acct(struct fixture *f, const char *id, bool enabled)
{
	struct account a;

	account_init(&a);
	a.id = xstrdup(id);
	a.enabled = enabled;
	assert_int_equal(store_account_add(f->st, &a, &f->e), 0);
	account_clear(&a);
}

/* Run sql on a connection of its own. */
static void
side(struct fixture *f, const char *sql)
{
	struct db *db = db_side(f->dir);

	if (db_exec(db, sql) == -1)
		fail_msg("%s: %s", sql, db_errmsg(db));
	db_close(&db);
}

static int
col(struct fixture *f, const char *what, const char *acct)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT %s FROM leases WHERE account = "
	    "'%s'", what, acct);
	return db_count(f->dir, sql);
}

/* SQLite: one node; a file lock is never lost. */
static void
test_sqlite_lock_is_file_lock(void **state)
{
	struct fixture *f = *state;

	if (g_kind == DB_PG)
		skip();		/* the pg_tests group covers it there */
	assert_false(store_shared());
	add_acct(f, "a@example.org", true);
	assert_int_equal(store_lock(f->st, "a@example.org", false, &f->e), 1);
	assert_int_equal(store_lock_check(f->st, "a@example.org", &f->e), 1);
	store_unlock(f->st, "a@example.org");
	assert_int_equal(store_lock_check(f->st, "a@example.org", &f->e), -1);
	err_clear(&f->e);
}

static void
test_claim_release(void **state)
{
	struct fixture *f = *state;
	struct lease_claim *v;
	size_t n, i;
	int64_t tok_b = 0;

	assert_true(store_shared());
	add_acct(f, "a@example.org", true);
	add_acct(f, "b@example.org", true);
	add_acct(f, "off@example.org", false);
	assert_int_equal(store_lease_sync(f->st, &f->e), 0);
	assert_int_equal(store_lease_sync(f->st, &f->e), 0);	/* idempotent */
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM leases"), 3);

	/* New rows are due at once; disabled accounts are never claimed. */
	assert_int_equal(store_lease_claim(f->st, 10, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_int_equal(v[i].token, 1);
		assert_int_equal(v[i].late_ms, -1);
		assert_string_not_equal(v[i].account, "off@example.org");
		if (strcmp(v[i].account, "b@example.org") == 0)
			tok_b = v[i].token;
	}
	store_lease_claims_free(&v, n);
	assert_int_equal(col(f, "count(*) FILTER (WHERE holder IS NOT NULL)",
	    "a@example.org"), 1);

	/* Held: nobody claims them again, not even this node. */
	assert_int_equal(store_lease_claim(f->st, 10, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 0);

	/* Released with the next check a minute away: not due. */
	assert_int_equal(store_lease_release(f->st, "a@example.org", 1,
	    60000, &f->e), 0);
	/* A release with a stale token does nothing. */
	assert_int_equal(store_lease_release(f->st, "b@example.org",
	    tok_b + 7, 0, &f->e), 0);
	assert_int_equal(col(f, "count(*) FILTER (WHERE holder IS NULL)",
	    "b@example.org"), 0);
	assert_int_equal(store_lease_release(f->st, "b@example.org", tok_b,
	    0, &f->e), 0);
	assert_int_equal(store_lease_claim(f->st, 10, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].account, "b@example.org");
	assert_int_equal(v[0].token, 2);
	assert_true(v[0].late_ms >= 0);
	store_lease_claims_free(&v, n);
	assert_int_equal(col(f, "claims", "b@example.org"), 2);

	/* max bounds the claim. */
	side(f, "UPDATE leases SET holder = NULL, due = 1");
	assert_int_equal(store_lease_claim(f->st, 1, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 1);
	store_lease_claims_free(&v, n);
}

/* A dead node's lease expires; another claims it with a new token, and
 * the old token fails the fence. */
static void
test_expiry_takeover_fence(void **state)
{
	struct fixture *f = *state;
	struct lease_claim *v;
	size_t n;

	add_acct(f, "a@example.org", true);
	assert_int_equal(store_lease_sync(f->st, &f->e), 0);
	/* Another node holds it, alive. */
	side(f, "UPDATE leases SET holder = 'other:1:x', token = 5, expires "
	    "= CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) + "
	    "60000 WHERE account = 'a@example.org'");
	assert_int_equal(store_lease_claim(f->st, 10, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_lock(f->st, "a@example.org", false, &f->e), 0);
	assert_int_equal(f->e.cls, ERR_BUSY);
	assert_non_null(strstr(err_msg(&f->e), "other:1:x"));
	err_clear(&f->e);

	/* It dies: the lease expires. */
	side(f, "UPDATE leases SET expires = 1 WHERE account = 'a@example.org'");
	assert_int_equal(store_lease_claim(f->st, 10, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].token, 6);
	store_lease_claims_free(&v, n);
	assert_int_equal(lease_check(f->st, "a@example.org", 5, 60, &f->e), 0);
	assert_int_equal(lease_check(f->st, "a@example.org", 6, 60, &f->e), 1);

	/* The pass's lock finds the scheduler's claim and keeps its token. */
	assert_int_equal(store_lock(f->st, "a@example.org", false, &f->e), 1);
	assert_int_equal(store_lock_check(f->st, "a@example.org", &f->e), 1);
	/* Taken over while the pass runs: the fence says so. */
	side(f, "UPDATE leases SET holder = 'other:2:y', token = token + 1 "
	    "WHERE account = 'a@example.org'");
	assert_int_equal(store_lock_check(f->st, "a@example.org", &f->e), 0);
	/* Unlocking does not free the new holder's lease. */
	store_unlock(f->st, "a@example.org");
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM leases WHERE "
	    "holder = 'other:2:y'"), 1);
}

/* store_lock takes a free lease itself (fetch), and gives it back. */
static void
test_lock_claims_free_lease(void **state)
{
	struct fixture *f = *state;

	add_acct(f, "a@example.org", true);
	/* No row yet: the lock adds it. */
	assert_int_equal(store_lock(f->st, "a@example.org", false, &f->e), 1);
	assert_int_equal(col(f, "token", "a@example.org"), 1);
	assert_int_equal(store_lock_check(f->st, "a@example.org", &f->e), 1);
	store_unlock(f->st, "a@example.org");
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM leases WHERE "
	    "holder IS NULL"), 1);
	/* The schedule is not touched by a manual pass. */
	assert_int_equal(col(f, "due", "a@example.org"), 0);
}

static void
test_renew(void **state)
{
	struct fixture *f = *state;
	struct lease_claim *v;
	size_t n;

	add_acct(f, "a@example.org", true);
	add_acct(f, "b@example.org", true);
	assert_int_equal(store_lease_sync(f->st, &f->e), 0);
	assert_int_equal(store_lease_claim(f->st, 1, 5, &v, &n, &f->e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_lease_renew(f->st, 3600, &f->e), 1);
	/* Renewed to an hour: more than 30 minutes left. */
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM leases WHERE "
	    "expires > CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS "
	    "BIGINT) + 1800000"), 1);
	store_lease_claims_free(&v, n);
}

/* An edit noticed by three nodes makes the account due once; a kick
 * during a pass makes it due again right after. */
static void
test_due_edit_and_kick(void **state)
{
	struct fixture *f = *state;
	struct lease_claim *v;
	size_t n;

	add_acct(f, "a@example.org", true);
	assert_int_equal(store_lease_sync(f->st, &f->e), 0);
	side(f, "UPDATE leases SET due = 4102444800000, seen_updated = 100 "
	    "WHERE account = 'a@example.org'");
	assert_int_equal(store_lease_due_now(f->st, "a@example.org", 200,
	    &f->e), 0);
	assert_int_equal(col(f, "due", "a@example.org"), 0);
	/* Claimed and released by the first node ... */
	assert_int_equal(store_lease_claim(f->st, 1, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_lease_release(f->st, "a@example.org",
	    v[0].token, 3600000, &f->e), 0);
	store_lease_claims_free(&v, n);
	/* ... the second and third notice the same edit: nothing. */
	assert_int_equal(store_lease_due_now(f->st, "a@example.org", 200,
	    &f->e), 0);
	assert_int_equal(store_lease_due_now(f->st, "a@example.org", 200,
	    &f->e), 0);
	assert_int_equal(store_lease_claim(f->st, 1, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 0);

	/* Check now while a pass runs: due right after it. */
	assert_int_equal(store_lease_due_now(f->st, "a@example.org", 0,
	    &f->e), 0);
	assert_int_equal(store_lease_claim(f->st, 1, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_lease_due_now(f->st, "a@example.org", 0,
	    &f->e), 0);
	assert_int_equal(store_lease_release(f->st, "a@example.org",
	    v[0].token, 3600000, &f->e), 0);
	store_lease_claims_free(&v, n);
	assert_int_equal(store_lease_claim(f->st, 1, 60, &v, &n, &f->e), 0);
	assert_int_equal(n, 1);
	store_lease_claims_free(&v, n);
}

static void
test_idle_lease(void **state)
{
	struct fixture *f = *state;

	add_acct(f, "a@example.org", true);
	assert_int_equal(store_lease_sync(f->st, &f->e), 0);
	assert_int_equal(store_lease_idle_claim(f->st, "a@example.org", 60,
	    &f->e), 1);
	assert_int_equal(store_lease_idle_claim(f->st, "a@example.org", 60,
	    &f->e), 1);	/* ours already */
	side(f, "UPDATE leases SET idle_holder = 'other:1:x' WHERE account = "
	    "'a@example.org'");
	assert_int_equal(store_lease_idle_claim(f->st, "a@example.org", 60,
	    &f->e), 0);
	/* Its watcher died: the idle lease expires. */
	side(f, "UPDATE leases SET idle_expires = 1 WHERE account = 'a@example.org'");
	assert_int_equal(store_lease_idle_claim(f->st, "a@example.org", 60,
	    &f->e), 1);
	assert_int_equal(store_lease_idle_release(f->st, "a@example.org",
	    &f->e), 0);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM leases WHERE "
	    "idle_holder IS NULL"), 1);
}

/* Deleting the account takes its lease along. */
static void
test_delete_cascades(void **state)
{
	struct fixture *f = *state;

	add_acct(f, "a@example.org", true);
	assert_int_equal(store_lease_sync(f->st, &f->e), 0);
	assert_int_equal(store_account_delete(f->st, "a@example.org", &f->e),
	    0);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM leases"), 0);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_sqlite_lock_is_file_lock),
	};
	const struct CMUnitTest pg_tests[] = {
		T(test_claim_release),
		T(test_expiry_takeover_fence),
		T(test_lock_claims_free_lease),
		T(test_renew),
		T(test_due_edit_and_kick),
		T(test_idle_lease),
		T(test_delete_cascades),
	};
#undef T

	/* The SQLite group runs on SQLite only. */
	return storetest_run("test_lease", tests, MP_ARRAY_LEN(tests),
	    pg_tests, MP_ARRAY_LEN(pg_tests));
}
