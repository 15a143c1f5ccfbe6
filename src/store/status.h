/*
 * status.h - per-account scheduling options and daemon status, kept in
 * the store (table account_status, one row per account, dropped with the
 * account).
 *
 * The schedule options (interval override, IMAP IDLE) are set by `account
 * add|edit --interval/--idle`; the status columns are written by `serve`
 * after each pass and shown by `account show|list`. Writing one group
 * never touches the other's columns.
 */
#ifndef MP_STATUS_H
#define MP_STATUS_H

#include "common.h"
#include "store/store.h"
#include "util/err.h"

enum status_state {
	STATUS_NEW = 0,		/* never checked by serve */
	STATUS_OK,
	STATUS_FAILING,		/* failures other than authentication */
	STATUS_AUTH_FAILING,	/* credentials rejected: long backoff */
	STATUS_AUTH_NEEDED,	/* OAuth2 refresh token refused: not checked
				 * again until `account authorize` */
	STATUS_DISABLED,	/* shown for disabled accounts (not stored) */
};

struct acct_status {
	char *account;
	/* schedule options */
	int interval;			/* seconds, 0: the global interval */
	bool idle;			/* IMAP IDLE wanted */
	/* status (serve) */
	enum status_state state;
	int64_t failing_since;		/* unix time of the first failure, 0 */
	int consecutive_failures;
	char *last_error;		/* one line, NULL */
	char *last_class;		/* err_class_name(), NULL */
	int64_t last_success;		/* unix time, 0: never */
	int64_t last_attempt;		/* unix time, 0: never */
	int64_t next_check;		/* unix time, 0: unknown */
};

const char *status_state_name(enum status_state);
void status_clear(struct acct_status *);

/* Status of one account; a zeroed struct (STATUS_NEW) when there is no
 * row yet. */
int store_status_get(struct store *, const char *id, struct acct_status *,
    struct err *);
/* Every row, ordered by account id. */
int store_status_list(struct store *, struct acct_status **list_r,
    size_t *n_r, struct err *);
void store_status_list_free(struct acct_status **, size_t n);
/* Write the status columns of s (not the schedule options). */
int store_status_record(struct store *, const struct acct_status *,
    struct err *);
/* Set the schedule options; bumps the change counter so serve notices. */
int store_status_set_schedule(struct store *, const char *id, int interval,
    bool idle, struct err *);

#endif
