/*
 * checks.h - the last recipient check of each account (`mailpull account
 * check`, and the daemon once a day): when it ran, which local recipients
 * the target no longer knows ("gone": a 5xx to RCPT, a missing Maildir, an
 * MDA program that is not executable) and which it could not tell
 * ("unknown": 4xx, target down), and the report's lines.
 *
 * Writing a check does not bump the change counter: it is a result, not
 * configuration. Returns 0, or -1 with err (ERR_LOCAL).
 */
#ifndef MP_STORE_CHECKS_H
#define MP_STORE_CHECKS_H

#include "common.h"
#include "store/store.h"
#include "util/err.h"

struct account_check {
	int64_t checked_at;	/* unix time; 0: never checked */
	char *gone;		/* recipients, one per line; NULL: none */
	char *unknown;		/* recipients, one per line; NULL: none */
	char *detail;		/* report lines "RCPT: ok|gone|unknown: why" */
};

void account_check_clear(struct account_check *);
/* Fills *c; an account never checked gets checked_at 0 and NULLs. */
int store_check_get(struct store *, const char *acct,
    struct account_check *, struct err *);
/* Insert or replace (only for an account that exists). */
int store_check_set(struct store *, const char *acct,
    const struct account_check *, struct err *);

#endif
