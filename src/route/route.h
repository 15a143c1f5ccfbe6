/*
 * route.h - the local recipients of a fetched message.
 *
 * Single mode (default): the account's --deliver-to (local addresses and
 * @GROUP names, comma-separated) or, when unset, the account id.
 *
 * Catch-all (multidrop) mode: recipients come from the message's header.
 *  - The envelope headers (default Delivered-To, X-Original-To,
 *    Envelope-To, X-Envelope-To; --envelope-header replaces the list) are
 *    all read and their addresses combined. When none of them is in an
 *    accepted domain (a provider's own "Delivered-To: box@provider"), To,
 *    Cc, Bcc, Resent-To and Resent-Cc are used instead. The account's own
 *    address is ignored among envelope addresses when others are accepted
 *    (the catch-all box's Delivered-To beside the real X-Original-To).
 *  - Addresses are parsed with GMime (RFC 5322 groups, comments, quoted
 *    local parts, encoded words). Only addresses in an accepted domain are
 *    kept: "a.example" accepts exactly that domain, "*.a.example" its
 *    subdomains (not a.example itself). Header-derived addresses are
 *    lower-cased as a whole (matching and de-duplication are
 *    case-insensitive anyway); a local part that is not a dot-atom after
 *    unquoting (spaces, '/', control bytes, ...) is not routable and is
 *    treated as unmatched.
 *  - Each kept recipient goes through the rules, in order, first match
 *    wins. Without a matching rule a kept recipient is delivered to itself
 *    (an accepted domain is a local domain).
 *  - A message with no kept recipient goes to the postmaster (the
 *    account's --postmaster, else the global "postmaster" setting); without
 *    one that is an ERR_CONFIG error and the message is not delivered.
 *    Mail is never dropped unless a rule says `drop`.
 *  - One copy per distinct final address (case-insensitive).
 *
 * Rules: "PATTERN > DEST".
 *   PATTERN: local@domain | *@domain | *@*.domain (subdomains) | *
 *   DEST:    local address (bare name: at the local domain) |
 *            *@domain (keep the recipient's local part) | @GROUP | drop |
 *            postmaster (the configured postmaster)
 *
 * Local addresses (--deliver-to, --postmaster, group members, rule
 * destinations) are full addresses; a bare name takes the "local-domain"
 * setting, else the account id's domain. Domains are lower-cased; local
 * parts written by the administrator are kept as written.
 *
 * Limits: the header block is read up to ROUTE_HEADER_MAX bytes and
 * ROUTE_FIELDS_MAX fields; when a header exceeds them the recipients found
 * in the bounded part are used, and the postmaster (when configured) gets
 * a copy too; the note says so. More than ROUTE_RCPTS_MAX distinct recipients
 * (before or after rules and groups) is ERR_PERM for the message.
 */
#ifndef MP_ROUTE_H
#define MP_ROUTE_H

#include "common.h"
#include "store/account.h"
#include "util/err.h"
#include "util/spool.h"

#define ROUTE_HEADER_MAX	(256 * 1024)
#define ROUTE_FIELDS_MAX	2000
#define ROUTE_RCPTS_MAX		100
#define ROUTE_RULES_MAX		1000
#define ROUTE_ADDR_MAX		254
#define ROUTE_ENVELOPE_MAX	32
#define ROUTE_DEFAULT_ENVELOPE \
	"Delivered-To\nX-Original-To\nEnvelope-To\nX-Envelope-To"

struct store;
struct route;

/* Load everything routing needs for account a: its routing config,
 * groups, settings "local-domain" and "postmaster". -1 with ERR_CONFIG for
 * an invalid configuration (unknown group, bad rule, multidrop without
 * domains), ERR_LOCAL for the store. */
int route_open(struct route **r_r, struct store *st, const struct account *a,
    struct err *e);
void route_close(struct route **r);

struct route_result {
	char **rcpts;	/* distinct final local addresses, lower-cased domain,
			 * qualified */
	char ***orig;	/* per rcpt: NULL-terminated original recipients that
			 * mapped to it (multidrop; empty list in single mode),
			 * for X-Mailpull-Original-To */
	bool *rerouted;	/* per rcpt: a postmaster copy (no accepted recipient,
			 * header over the limits, or a `postmaster` rule):
			 * the copy should carry X-Mailpull-Original-To per
			 * orig */
	size_t n;
	bool dropped;	/* everything matched an explicit drop rule */
	char *note;	/* one line for the run log, or NULL */
};

/* Recipients of the spooled message (only its header part is read, with
 * spool_head, bounded). Returns 0 with res filled (n == 0 only when
 * dropped), or -1 with ERR_CONFIG (no postmaster configured but needed) or
 * ERR_PERM (too many recipients); res is then empty. */
int route_message(struct route *r, struct spool *sp, struct route_result *res,
    struct err *e);
/* The same over a message (or its header part) in memory. */
int route_message_mem(struct route *r, const char *msg, size_t len,
    struct route_result *res, struct err *e);
void route_result_clear(struct route_result *res);
/* The qualified postmaster address, or NULL when none is configured. */
const char *route_postmaster(const struct route *r);
/* Is addr in one of the account's accepted domains (multidrop), or in the
 * local domain / the account's domain (single mode)? Case-insensitive. */
bool route_accepted(const struct route *r, const char *addr);
bool route_multidrop(const struct route *r);
/* Re-route recipients the target refuses permanently to the postmaster
 * (setting "reroute-unknown", per-account --reroute-unknown)? */
bool route_reroute_unknown(const struct route *r);
/*
 * The local addresses the account's mail goes to whatever a message says
 * (what `account check` probes): single mode, the expanded --deliver-to
 * (groups too); catch-all, the postmaster and the rules' fixed
 * destinations (addresses, group members, `postmaster`), not the
 * recipients taken from headers. Qualified, distinct (case-insensitive),
 * in order; *v_r allocated (free with route_strv_free), n may be 0.
 */
void route_static_rcpts(const struct route *r, char ***v_r, size_t *n_r);
void route_strv_free(char ***v, size_t n);

/*
 * Building a route without the store (route_open uses this; so do tests).
 * Lists are LF- or comma-separated.
 */
typedef int (*route_group_fn)(void *arg, const char *name,
    char ***members_r, size_t *n_r, struct err *e);

struct route_config {
	const char *account;		/* account id (an address) */
	const char *deliver_to;		/* single mode; NULL: the account */
	bool multidrop;
	const char *domains;		/* accepted domains */
	const char *envelope_headers;	/* NULL: ROUTE_DEFAULT_ENVELOPE */
	const char *rules;		/* LF-separated */
	const char *postmaster;		/* NULL: none */
	const char *local_domain;	/* NULL: the account id's domain */
	route_group_fn group_get;	/* members (bare names allowed),
					 * allocated; NULL: no groups */
	void *group_arg;
	bool no_reroute_unknown;	/* reroute-unknown no */
};

int route_create(struct route **r_r, const struct route_config *,
    struct err *e);

/* Rules, parsed (exposed for the CLI's validation and for tests). */
enum route_pat {
	ROUTE_PAT_ANY = 0,	/* * */
	ROUTE_PAT_ADDR,		/* local@domain */
	ROUTE_PAT_DOMAIN,	/* *@domain */
	ROUTE_PAT_SUBDOMAIN,	/* *@*.domain: strict subdomains */
};

enum route_dest {
	ROUTE_DEST_ADDR = 0,	/* a local address (maybe bare) */
	ROUTE_DEST_KEEP,	/* *@domain: recipient's local part @ domain */
	ROUTE_DEST_GROUP,	/* @GROUP */
	ROUTE_DEST_DROP,	/* drop */
	ROUTE_DEST_POSTMASTER,	/* postmaster */
};

struct route_rule {
	enum route_pat pat;
	char *pattern;		/* lower case: the address or the domain */
	enum route_dest dest;
	char *dest_arg;		/* address as written, domain, group name */
};

/* Parse "PATTERN > DEST"; -1 with ERR_CONFIG and a message quoting the
 * rule and saying what is wrong. */
int route_rule_parse(const char *text, struct route_rule *, struct err *e);
void route_rule_clear(struct route_rule *);
/* Does the rule's pattern match addr (local@domain, any case)? */
bool route_rule_match(const struct route_rule *, const char *addr);
/* "a.example" or "*.a.example"; -1 with ERR_CONFIG otherwise. */
int route_domain_check(const char *d, struct err *e);
/* Is domain (any case) matched by pattern (lower case, as checked)? */
bool route_domain_match(const char *pattern, const char *domain);
/* A local address as an administrator writes it: "name" or
 * "name@domain" (dot-atom local part, a domain name). */
int route_local_check(const char *s, struct err *e);
/* A header field name (RFC 5322 ftext, at most 76 bytes). */
int route_header_name_check(const char *s, struct err *e);
/* A group name: letters, digits, '.', '_', '-', 1..GROUP_NAME_MAX. */
int route_group_name_check(const char *s, struct err *e);

#endif
