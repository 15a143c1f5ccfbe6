/*
 * filters.h - what the spam and virus checks (src/filter/) keep in the
 * store: each account's filter options (table account_filters, one row per
 * account, dropped with the account) and the quarantine index (table
 * quarantine: one row per message held in STATE/quarantine/).
 *
 * Returns 0, or -1 with err: ERR_LOCAL for store failures, ERR_CONFIG for
 * "no such quarantined message".
 */
#ifndef MP_FILTERS_H
#define MP_FILTERS_H

#include "common.h"
#include "store/store.h"
#include "util/err.h"

/* What happens to a message rspamd says to reject. */
enum filter_spam_action {
	FILTER_SPAM_JUNK = 0,	/* deliver to the Junk folder (default) */
	FILTER_SPAM_TAG,	/* deliver with the verdict headers only */
	FILTER_SPAM_QUARANTINE,	/* keep it in the quarantine */
};

/* What happens to a message when a scanner cannot be reached. */
enum filter_down_policy {
	FILTER_DOWN_HOLD = 0,	/* leave it on the server, retry (default) */
	FILTER_DOWN_PASS,	/* deliver with "not scanned" in a header */
};

struct acct_filter {
	bool spam_check;
	bool virus_check;
	enum filter_spam_action spam_action;
	enum filter_down_policy scanner_down;
	/* the provider's receiving host: its topmost Received: field is the
	 * one trusted for the client IP and HELO; NULL: none trusted */
	char *provider_host;
};

const char *filter_spam_action_name(enum filter_spam_action);
int filter_spam_action_parse(const char *, enum filter_spam_action *);
const char *filter_down_policy_name(enum filter_down_policy);
int filter_down_policy_parse(const char *, enum filter_down_policy *);

void acct_filter_clear(struct acct_filter *);
/* The account's options; defaults (no checks) when it has no row. */
int store_filter_get(struct store *, const char *acct, struct acct_filter *,
    struct err *);
/* Insert or replace the account's row; bumps the change counter. */
int store_filter_set(struct store *, const char *acct,
    const struct acct_filter *, struct err *);

/* One quarantined message. Strings allocated; NULL when unknown. */
struct quarantine_rec {
	int64_t id;		/* assigned by the store */
	char *account;
	char *kind;		/* "virus" or "spam" */
	char *reason;		/* virus name, or rspamd's verdict */
	char *file;		/* absolute path of the message file */
	char *rcpts;		/* routed recipients, one per line */
	char *subject;
	char *sender;		/* From: field */
	char *remote_id;	/* UIDL or folder/UIDVALIDITY/UID */
	int64_t at;		/* unix time */
};

void quarantine_rec_clear(struct quarantine_rec *);
/* Record a quarantined file. A file already recorded (a re-fetch after a
 * crash finds the same deterministic name) keeps its row; *id_r is the
 * row's id either way (may be NULL). */
int store_quarantine_add(struct store *, const struct quarantine_rec *,
    int64_t *id_r, struct err *);
/* ERR_CONFIG "no quarantined message ID" when absent. */
int store_quarantine_get(struct store *, int64_t id, struct quarantine_rec *,
    struct err *);
/* Every row (of acct, or all when NULL), oldest first. */
int store_quarantine_list(struct store *, const char *acct,
    struct quarantine_rec **list_r, size_t *n_r, struct err *);
void store_quarantine_list_free(struct quarantine_rec **, size_t n);
int store_quarantine_delete(struct store *, int64_t id, struct err *);

#endif
