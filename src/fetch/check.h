/*
 * check.h - `mailpull account check`: do an account's local recipients
 * still exist at its target, before any mail bounces?
 *
 * The recipients are those every message may go to (route_static_rcpts:
 * the expanded --deliver-to in single mode; the postmaster and the rules'
 * fixed destinations for a catch-all). Each is probed with target_probe()
 * on the account's target (its --target, else the "target" setting, else
 * maildir:STATE/mail/%u/Maildir), one connection for all of them:
 *   ok       the target knows the recipient
 *   gone     refused permanently (5xx to RCPT, no Maildir, MDA program
 *            missing): mail to it would bounce or be re-routed
 *   unknown  could not tell (4xx, target down)
 * The result is recorded in the store (store/checks.h), which `account
 * show|list` turn into a warning. Used by the CLI and, once a day per
 * account, by the daemon (sched_check_due()).
 */
#ifndef MP_CHECK_H
#define MP_CHECK_H

#include "common.h"
#include "store/account.h"
#include "store/store.h"
#include "util/err.h"

enum check_state {
	CHECK_OK = 0,
	CHECK_GONE,
	CHECK_UNKNOWN,
};

struct check_rcpt {
	char *addr;
	enum check_state state;
	char *reason;		/* NULL when ok */
};

struct check_result {
	char *target;		/* the URI probed */
	struct check_rcpt *rcpts;
	size_t n, ngone, nunknown;
};

const char *check_state_name(enum check_state);
/*
 * Probe every recipient of a and record the result (checked now). 0 when
 * the check ran (any mix of results); -1 with err when it could not
 * (ERR_CONFIG: routing or target invalid; ERR_LOCAL: the store), nothing
 * recorded then.
 */
int check_account_run(struct store *, const struct account *,
    struct check_result *, struct err *);
void check_result_clear(struct check_result *);

#endif
