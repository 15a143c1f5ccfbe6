/*
 * store.h - the store: accounts, encrypted passwords, the per-message
 * journal, run logs and the per-account pass lock.
 *
 * On the SQL layer of db.h: SQLite by default (one file STATE/mailpull.db,
 * WAL, synchronous=FULL on every commit that the no-loss invariant depends
 * on), or PostgreSQL shared by several nodes (store_set_location). All SQL
 * uses prepared statements with bound values; this module owns the schema
 * and its migrations (SQLite: PRAGMA user_version; PostgreSQL: the table
 * schema_version, migrated under an advisory lock).
 *
 * Functions return 0 on success and -1 with err set (ERR_LOCAL for store
 * failures, ERR_CONFIG for "no such account" / "already exists"), unless
 * documented otherwise.
 */
#ifndef MP_STORE_H
#define MP_STORE_H

#include "common.h"
#include "store/account.h"
#include "util/err.h"

struct store;

/* Where the database is, process-wide, set before any store_open (main
 * does, from --store or the MAILPULL_STORE environment variable): NULL
 * or "" -> STATE/mailpull.db (SQLite); "postgresql://..." or
 * "postgres://..." or a libpq "key=value" string containing dbname= ->
 * PostgreSQL. ERR_CONFIG for anything else. */
int store_set_location(const char *loc, struct err *);
/* true when the store is shared by several nodes (PostgreSQL). */
bool store_shared(void);

/* Open (creating the state directory 0700, the db and the key file on
 * first use) and migrate. The state directory keeps the key file (or the
 * key comes from MAILPULL_STORE_KEY, see secret.h), the lock files and the
 * spool whichever the database. With PostgreSQL, the schema is checked
 * once per process, and a database made with another key is refused
 * (ERR_CONFIG). */
int store_open(struct store **st_r, const char *state_dir, struct err *);
void store_close(struct store **);
const char *store_state_dir(const struct store *);

/* Accounts. add fails with ERR_CONFIG when the id exists. get returns 0
 * and fills *a, or -1 with ERR_CONFIG "no such account". */
int store_account_add(struct store *, struct account *, struct err *);
int store_account_update(struct store *, const struct account *,
    struct err *);
int store_account_get(struct store *, const char *id, struct account *,
    struct err *);
/* All accounts ordered by id; *list_r array of n accounts (free with
 * store_account_list_free). */
int store_account_list(struct store *, struct account **list_r, size_t *n_r,
    struct err *);
void store_account_list_free(struct account **list, size_t n);
int store_account_delete(struct store *, const char *id, struct err *);
int store_account_set_enabled(struct store *, const char *id, bool,
    struct err *);
/* Password: sealed with the key file (libsodium secretbox) before it is
 * written; set with pw NULL removes it. get allocates *pw_r
 * (NUL-terminated, wipe and free with store_secret_free); ERR_CONFIG "no
 * password stored for ID" when there is none. */
int store_password_set(struct store *, const char *id, const char *pw,
    size_t len, struct err *);
int store_password_get(struct store *, const char *id, char **pw_r,
    size_t *len_r, struct err *);
void store_secret_free(char **pw, size_t len);

/*
 * The journal. A message is identified by (account, folder, uidvalidity,
 * uid): POP3 uses folder "" and uidvalidity 0 with uid = UIDL.
 */
enum msg_state {
	MSG_UNKNOWN = 0,	/* not in the journal */
	MSG_DELIVERED = 1,	/* delivered durably; may still be on server */
	MSG_FAILED = 2,		/* parked: permanent local refusal */
};

struct msg_rec {
	char *uid;
	enum msg_state state;
	int64_t first_seen;	/* unix time first seen on the server */
	int64_t delivered_at;
	uint64_t size;		/* IMAP: RFC822.SIZE; POP3: bytes delivered */
	char *msgid;		/* only from store_msg_load_other_validity */
};

/* Load every journal entry of (account, folder, uidvalidity) into an array
 * sorted by uid (strcmp), for bsearch by the pass. */
int store_msg_load(struct store *, const char *acct, const char *folder,
    uint64_t uidvalidity, struct msg_rec **recs_r, size_t *n_r,
    struct err *);
void store_msg_free(struct msg_rec **recs, size_t n);
/* Find uid in a loaded array (NULL when absent). */
struct msg_rec *store_msg_find(struct msg_rec *recs, size_t n,
    const char *uid);

/* Transactions group journal writes; commit is durable (synchronous=FULL).
 * Without begin, each write commits on its own. */
int store_begin(struct store *, struct err *);
int store_commit(struct store *, struct err *);
int store_rollback(struct store *);
int store_msg_set(struct store *, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, enum msg_state, uint64_t size,
    int64_t first_seen, struct err *);
/* The same, remembering the Message-ID (NULL keeps what was recorded) in
 * the same statement. */
int store_msg_record(struct store *, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, enum msg_state, uint64_t size,
    int64_t first_seen, const char *msgid, struct err *);
/* Forget one entry (its message is gone from the server). */
int store_msg_forget(struct store *, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, struct err *);
/* Forget every entry of (acct, folder) whose uidvalidity differs. */
int store_msg_forget_other_validity(struct store *, const char *acct,
    const char *folder, uint64_t uidvalidity, struct err *);
/* Entries of (acct, folder) under any other UIDVALIDITY, with their
 * Message-IDs: what a UIDVALIDITY change re-identifies against. */
int store_msg_load_other_validity(struct store *, const char *acct,
    const char *folder, uint64_t uidvalidity, struct msg_rec **recs_r,
    size_t *n_r, struct err *);
/* Remember the Message-ID of a recorded message (NULL clears it). */
int store_msg_set_msgid(struct store *, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, const char *msgid, struct err *);
/* IMAP: remember the folder's last UIDVALIDITY (0 when never seen). */
int store_folder_get(struct store *, const char *acct, const char *folder,
    uint64_t *uidvalidity_r, struct err *);
int store_folder_set(struct store *, const char *acct, const char *folder,
    uint64_t uidvalidity, struct err *);

/* Run logs: the last 20 per account are kept. */
struct run_rec {
	int64_t started;
	int64_t finished;
	enum err_class cls;	/* ERR_NONE: success */
	char *summary;		/* one line */
	char *log;		/* full text of the run log */
};
int store_run_add(struct store *, const char *acct, const struct run_rec *,
    struct err *);
/* Newest first, at most max. */
int store_run_list(struct store *, const char *acct, size_t max,
    struct run_rec **runs_r, size_t *n_r, struct err *);
void store_run_free(struct run_rec **runs, size_t n);

/*
 * Pass lock: one account is never in two passes at once. try_lock returns
 * 1 when taken, 0 when another process holds it (ERR_BUSY), -1 on error.
 * wait: block until free. A lock dies with its process. On a shared
 * store (PostgreSQL) the lock is the account's lease (store/lease.h): the
 * scheduler's claim counts as ours, and another node's live lease is
 * "busy".
 */
int store_lock(struct store *, const char *acct, bool wait, struct err *);
void store_unlock(struct store *, const char *acct);
/* Before a destructive command: is the lock still ours? A file lock
 * always is (1); a shared store's lease is checked and renewed by its
 * fencing token: 1 ours, 0 taken over by another node, -1 error. */
int store_lock_check(struct store *, const char *acct, struct err *);

#endif
