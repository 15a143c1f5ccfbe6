/*
 * account_filter.h - the spam and virus check options of `account
 * add|edit` (--spam-check, --no-spam-check, --virus-check,
 * --no-virus-check, --spam-action junk|tag|quarantine, --scanner-down
 * hold|pass, --provider-host HOST), kept out of account.c the way
 * account_route.h is: account.c lists ACCOUNT_FILTER_OPTIONS, hands those
 * options to account_filter_opt(), and calls load / save / show.
 */
#ifndef MP_CLI_ACCOUNT_FILTER_H
#define MP_CLI_ACCOUNT_FILTER_H

#include "common.h"

#include <getopt.h>
#include <stdio.h>

#include "util/err.h"

struct store;

enum {
	OPT_FILTER_FIRST = 1300,	/* 1000: routing, 1100: oauth */
	OPT_SPAM_CHECK = OPT_FILTER_FIRST,
	OPT_NO_SPAM_CHECK,
	OPT_VIRUS_CHECK,
	OPT_NO_VIRUS_CHECK,
	OPT_SPAM_ACTION,
	OPT_SCANNER_DOWN,
	OPT_PROVIDER_HOST,
	OPT_FILTER_LAST,
};

#define ACCOUNT_FILTER_OPTIONS \
	{ "spam-check", no_argument, NULL, OPT_SPAM_CHECK }, \
	{ "no-spam-check", no_argument, NULL, OPT_NO_SPAM_CHECK }, \
	{ "virus-check", no_argument, NULL, OPT_VIRUS_CHECK }, \
	{ "no-virus-check", no_argument, NULL, OPT_NO_VIRUS_CHECK }, \
	{ "spam-action", required_argument, NULL, OPT_SPAM_ACTION }, \
	{ "scanner-down", required_argument, NULL, OPT_SCANNER_DOWN }, \
	{ "provider-host", required_argument, NULL, OPT_PROVIDER_HOST }

#define ACCOUNT_FILTER_OPT(c) ((c) >= OPT_FILTER_FIRST && (c) < OPT_FILTER_LAST)

#define ACCOUNT_FILTER_USAGE \
"  --spam-check, --no-spam-check   rspamd checks (config set rspamd)\n" \
"  --virus-check, --no-virus-check clamd checks (config set clamd)\n" \
"  --spam-action A    for rspamd's reject verdicts: junk (the Junk\n" \
"                     folder; default), tag (headers only), quarantine\n" \
"  --scanner-down P   hold (keep on the server, retry; default) or pass\n" \
"                     (deliver with a \"not scanned\" header)\n" \
"  --provider-host H  the provider's receiving host: the client IP and\n" \
"                     HELO come from its topmost Received: field only\n" \
"                     (.domain: any host under it; '' resets)\n"

/* Before parsing: the stored options of id (edit) or defaults (add).
 * Exits 1 on a store error. */
void account_filter_load(struct store *, const char *id, bool add);
/* One option; usage errors exit 2. */
void account_filter_opt(int c, const char *arg);
/* After the account is written (only when an option was given). */
int account_filter_save(struct store *, const char *id, struct err *);
/* `account show` lines. */
void account_filter_show(struct store *, const char *id, FILE *);

#endif
