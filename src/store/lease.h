/*
 * lease.h - sharing the work between nodes on one shared (PostgreSQL)
 * store.
 *
 * Each account has a row in the leases table: who holds it (a node id,
 * NULL when free), until when, a fencing token that grows by one at every
 * claim, and when the account is next due. Times are the database's clock
 * (milliseconds), so the nodes' clocks do not matter.
 *
 *   claim    the scheduler takes due, free (or expired) leases in one
 *            statement (FOR UPDATE SKIP LOCKED: nodes never wait on each
 *            other, never take the same row);
 *   renew    every lease the node holds, a third of a lease period apart;
 *            a node that dies stops renewing and its accounts are claimed
 *            by others once the lease has expired;
 *   check    before a destructive command (POP3 QUIT, IMAP UID STORE
 *            \Deleted) the pass checks, and renews, its lease by token; a
 *            pass whose lease was lost deletes nothing;
 *   release  at the end of a pass, with the next due time.
 *
 * The same rows carry the IMAP IDLE watch: one node at a time watches an
 * account, under an idle lease renewed with the others.
 *
 * On the SQLite store (one node) none of this is used: store_shared() is
 * false, the scheduler keeps its own schedule and store_lock() is a file
 * lock. Functions return -1 with err set on store errors.
 */
#ifndef MP_STORE_LEASE_H
#define MP_STORE_LEASE_H

#include "common.h"
#include "util/err.h"

struct store;

#define LEASE_DEFAULT_S		60
#define LEASE_MIN_S		3

/* This process's node id: "host:pid:random", fixed for its lifetime. */
const char *store_node_id(void);

/* A row for every account that has none (due at once). */
int store_lease_sync(struct store *, struct err *);

struct lease_claim {
	char *account;
	int64_t token;
	int64_t late_ms;	/* how long it was due before the claim; -1:
				 * due at once (new, edited, check now) */
};

/* Claim at most max due accounts for lease_s seconds; *v_r is NULL when
 * none was claimed. */
int store_lease_claim(struct store *, size_t max, int lease_s,
    struct lease_claim **v_r, size_t *n_r, struct err *);
void store_lease_claims_free(struct lease_claim **v, size_t n);
/* Give back (when token still ours), next due in next_ms from now. */
int store_lease_release(struct store *, const char *acct, int64_t token,
    int64_t next_ms, struct err *);
/* Renew every pass and idle lease this node holds. Returns the number of
 * pass leases renewed. */
int64_t store_lease_renew(struct store *, int lease_s, struct err *);
/* Due at once. With updated > 0, only when the lease has not yet seen
 * that edit of the account (so that of several nodes noticing one edit,
 * one makes it due). */
int store_lease_due_now(struct store *, const char *acct, int64_t updated,
    struct err *);

/* The pass's side (store_lock() on a shared store): take the lease unless
 * another node holds it (0), keeping the token in the store handle; the
 * scheduler's claim counts as taken. check: still ours (1), lost (0). */
int lease_lock(struct store *, const char *acct, int lease_s,
    int64_t *token_r, bool *claimed_r, struct err *);
int lease_check(struct store *, const char *acct, int64_t token, int lease_s,
    struct err *);
int lease_unlock(struct store *, const char *acct, int64_t token,
    struct err *);

/* IDLE: 1 when this node may watch acct (taken or already ours), 0 when
 * another live node watches it. */
int store_lease_idle_claim(struct store *, const char *acct, int lease_s,
    struct err *);
int store_lease_idle_release(struct store *, const char *acct,
    struct err *);

#endif
