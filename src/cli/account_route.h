/*
 * account_route.h - the routing options of `account add|edit` (--multidrop,
 * --single, --domains, --envelope-header, --rule, --no-rules,
 * --postmaster, --reroute-unknown), kept out of account.c: it lists
 * ACCOUNT_ROUTE_OPTIONS in its option table, hands those options to
 * account_route_opt(), and calls load / check / save / show around its
 * own work.
 */
#ifndef MP_CLI_ACCOUNT_ROUTE_H
#define MP_CLI_ACCOUNT_ROUTE_H

#include "common.h"

#include <getopt.h>
#include <stdio.h>

#include "store/account.h"
#include "util/err.h"

struct store;

enum {
	OPT_ROUTE_FIRST = 1000,
	OPT_MULTIDROP = OPT_ROUTE_FIRST,
	OPT_SINGLE,
	OPT_DOMAINS,
	OPT_ENVELOPE_HEADER,
	OPT_RULE,
	OPT_NO_RULES,
	OPT_POSTMASTER,
	OPT_REROUTE_UNKNOWN,
	OPT_ROUTE_LAST,
};

#define ACCOUNT_ROUTE_OPTIONS \
	{ "multidrop", no_argument, NULL, OPT_MULTIDROP }, \
	{ "single", no_argument, NULL, OPT_SINGLE }, \
	{ "domains", required_argument, NULL, OPT_DOMAINS }, \
	{ "envelope-header", required_argument, NULL, OPT_ENVELOPE_HEADER }, \
	{ "rule", required_argument, NULL, OPT_RULE }, \
	{ "no-rules", no_argument, NULL, OPT_NO_RULES }, \
	{ "postmaster", required_argument, NULL, OPT_POSTMASTER }, \
	{ "reroute-unknown", required_argument, NULL, OPT_REROUTE_UNKNOWN }

/* Is c one of ours? */
#define ACCOUNT_ROUTE_OPT(c) ((c) >= OPT_ROUTE_FIRST && (c) < OPT_ROUTE_LAST)

/* Before parsing: the stored routing of id (edit) or defaults (add). Exits
 * 1 on a store error. */
void account_route_load(struct store *, const char *id, bool add);
/* One option; usage errors exit 2. */
void account_route_opt(int c, const char *arg);
/* After parsing, before the account is written: the whole routing
 * (deliver-to included) must build; -1 with ERR_CONFIG otherwise.
 * Prints warnings (no postmaster for a catch-all, rules outside the
 * accepted domains) to stderr. */
int account_route_check(struct store *, const char *id,
    const struct account *, struct err *);
/* After the account is written. */
int account_route_save(struct store *, const char *id, struct err *);
/* `account show` lines and `account list --json` members (each starts
 * with ", "). */
void account_route_show(struct store *, const struct account *, FILE *);
void account_route_json(struct store *, const struct account *, FILE *);

#endif
