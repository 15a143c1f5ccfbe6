/*
 * routing.h - what routing keeps in the store: groups of local addresses
 * (`mailpull group ...`) and each account's routing configuration
 * (`account add|edit --multidrop --domains --envelope-header --rule
 * --postmaster`). The account's --deliver-to stays in struct account.
 *
 * The store keeps validated strings; route/ parses them. Lists are stored
 * one item per line (LF-separated), in order. Every change bumps the change
 * counter (store/settings.h) so a running daemon notices.
 *
 * Returns 0, or -1 with err: ERR_LOCAL for store failures, ERR_CONFIG for
 * "no such group" / "group exists".
 */
#ifndef MP_ROUTING_H
#define MP_ROUTING_H

#include "common.h"
#include "store/journal.h"	/* store_strv_free() */
#include "store/store.h"
#include "util/err.h"

#define GROUP_NAME_MAX		64
#define GROUP_MEMBERS_MAX	1000

/* Groups: name -> ordered members (local addresses as written, bare names
 * allowed). add fails with ERR_CONFIG when the group exists; set (edit)
 * when it does not. */
int store_group_add(struct store *, const char *name,
    char *const *members, size_t n, struct err *);
int store_group_set(struct store *, const char *name,
    char *const *members, size_t n, struct err *);
/* *members_r: n_r allocated strings (free with store_strv_free). ERR_CONFIG
 * "no such group NAME" when absent. */
int store_group_get(struct store *, const char *name, char ***members_r,
    size_t *n_r, struct err *);
/* All group names, sorted. */
int store_group_list(struct store *, char ***names_r, size_t *n_r,
    struct err *);
int store_group_delete(struct store *, const char *name, struct err *);

/* Per-account override of the "reroute-unknown" setting: a recipient the
 * target refuses permanently (550 user unknown) goes to the postmaster
 * (yes) or the message is parked (no). */
enum routing_reroute {
	ROUTING_REROUTE_DEFAULT = 0,	/* the global setting (default yes) */
	ROUTING_REROUTE_YES,
	ROUTING_REROUTE_NO,
};

/* Per-account routing configuration. NULL strings: not set. */
struct routing {
	bool multidrop;		/* catch-all mode */
	char *domains;		/* accepted domains, one per line */
	char *envelope_headers;	/* one per line; NULL: the default list */
	char *rules;		/* one "PATTERN > DEST" per line, in order */
	char *postmaster;	/* NULL: the global "postmaster" setting */
	enum routing_reroute reroute_unknown;
};

/* "default", "yes", "no" and back; -1 for another word. */
const char *routing_reroute_name(enum routing_reroute);
int routing_reroute_parse(const char *, enum routing_reroute *);

void routing_clear(struct routing *);
/* Fills *r; an account without a row gets single mode and NULLs. */
int store_routing_get(struct store *, const char *acct, struct routing *,
    struct err *);
/* Insert or replace the account's row (the account must exist). */
int store_routing_set(struct store *, const char *acct,
    const struct routing *, struct err *);

#endif
