/*
 * journal.h - the per-recipient and parked parts of the message journal.
 *
 * Per recipient: when a message reaches some of its recipients but not all
 * (a temporary refusal for one), the ones reached are recorded, so the
 * retry on the next pass reaches only those still missing.
 *
 * Parked: a message no target would take (permanent refusals, a loop, a
 * routing error) is recorded as failed (messages.state 2) and parked here
 * with its reason; it stays on the server until the administrator runs
 * `message retry` (deliver again next pass) or `message release` (delete
 * the remote copy per the account's policy without delivering).
 */
#ifndef MP_JOURNAL_H
#define MP_JOURNAL_H

#include "common.h"
#include "store/store.h"
#include "util/err.h"

/* Recipients already reached for a message (allocated strings). */
int store_rcpt_done_load(struct store *, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, char ***rcpts_r, size_t *n_r,
    struct err *);
/* Whether the account has any per-recipient rows at all (a pass skips the
 * per-message lookup when it has none). */
int store_rcpt_done_any(struct store *, const char *acct, bool *any_r,
    struct err *);
int store_rcpt_done_add(struct store *, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, const char *rcpt, struct err *);
void store_strv_free(char ***v, size_t n);

struct parked_rec {
	char *folder;
	uint64_t uidvalidity;
	char *uid;
	char *msgid;
	char *subject;
	char *reason;
	int64_t parked_at;
};

int store_parked_add(struct store *, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, const char *msgid,
    const char *subject, const char *reason, struct err *);
int store_parked_list(struct store *, const char *acct,
    struct parked_rec **recs_r, size_t *n_r, struct err *);
void store_parked_free(struct parked_rec **recs, size_t n);
/*
 * Find a parked message by its remote id as `message list` prints it:
 * "UIDL" (POP3) or "FOLDER/UIDVALIDITY/UID" (IMAP). Fills *rec_r; returns
 * 0, or -1 with ERR_CONFIG "no parked message ...".
 */
int store_parked_find(struct store *, const char *acct, const char *rid,
    struct parked_rec *rec_r, struct err *);
/* retry: forget the journal entry (fetched as new next pass);
 * release: record it as delivered (the policy then deletes or keeps it).
 * Both drop the parked row, in one transaction. */
int store_parked_retry(struct store *, const char *acct,
    const struct parked_rec *, struct err *);
int store_parked_release(struct store *, const char *acct,
    const struct parked_rec *, struct err *);
/* The remote id as printed: "UIDL" or "FOLDER/UIDVALIDITY/UID". */
char *parked_rid(const struct parked_rec *);

#endif
