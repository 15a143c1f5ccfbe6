/*
 * filter.h - optional spam (rspamd) and virus (clamd) checks of a fetched
 * message, between the spool and delivery (DESIGN.md, issue 9).
 *
 * The pass opens one filter per account pass (NULL when the account has no
 * check on) and asks filter_check() about each spooled, routed message:
 *
 *   virus check: clamd INSTREAM, the spool streamed in chunks, within the
 *     scan time limit. Infected: the verdict says quarantine.
 *   spam check: rspamd POST /checkv2, the spool streamed as the body, with
 *     what the provider saw as request headers: IP, Helo, Hostname from
 *     the provider's own topmost Received: field (the one whose "by" names
 *     the account's --provider-host; a lower one is never trusted), From
 *     (Return-Path) and one Rcpt per routed recipient. The verdict becomes
 *     header lines (X-Spam-Status, X-Spam-Score, X-Spam, X-Mailpull-Scan,
 *     and rspamd's milter add_headers); a "reject" verdict follows the
 *     account's --spam-action (junk: folder "Junk"; tag; quarantine).
 *
 * A scanner that cannot be reached, times out or answers nonsense: with
 * the account's --scanner-down hold (default) filter_check() fails with
 * ERR_TEMP and the message must stay on the server; with pass it is
 * delivered with "X-Mailpull-Scan: not scanned (...)". Never delivered
 * unscanned silently.
 *
 * Scanner addresses are the global settings "rspamd" (default
 * 127.0.0.1:11333; [http://]HOST:PORT[/], unix:PATH) and "clamd" (default
 * unix:/run/clamav/clamd.ctl; HOST:PORT or unix:PATH); "scan-timeout"
 * bounds one scan (default 60 s).
 */
#ifndef MP_FILTER_H
#define MP_FILTER_H

#include "common.h"
#include "deliver/target.h"
#include "store/filters.h"
#include "store/store.h"
#include "util/err.h"
#include "util/spool.h"

#define FILTER_RSPAMD_DEFAULT	"127.0.0.1:11333"
#define FILTER_CLAMD_DEFAULT	"unix:/run/clamav/clamd.ctl"
#define FILTER_TIMEOUT_DEFAULT	60		/* seconds per scan */
#define FILTER_REPLY_MAX	(1024 * 1024)	/* rspamd's JSON reply */
#define FILTER_HEADERS_MAX	(16 * 1024)	/* header lines we add */

struct filter;

/* Counters for the run log. */
struct filter_stats {
	unsigned long scanned, spam, infected, unscanned, quarantined;
};

struct filter_verdict {
	bool quarantine;	/* do not deliver: keep in the quarantine */
	const char *kind;	/* "virus" or "spam" when quarantine */
	char *reason;		/* virus name / rspamd verdict, or NULL */
	const char *folder;	/* "Junk" for junk, else NULL (the inbox) */
	char *headers;		/* header lines to add (LF-ended), or NULL */
};
void filter_verdict_clear(struct filter_verdict *);

/*
 * Open the account's filter: its options from the store and the scanner
 * addresses from the settings. *f_r is NULL (and 0 returned) when the
 * account checks nothing. -1 with ERR_CONFIG on a bad scanner address.
 */
int filter_open(struct filter **f_r, struct store *, const char *account,
    struct err *);
void filter_close(struct filter **);
const struct filter_stats *filter_stats(const struct filter *);

/*
 * Check the spooled message (finished) routed to rcpts. 0 with v filled,
 * or -1 with ERR_TEMP when a scanner failed under the hold policy (err
 * names the scanner and why): the message must not be delivered now.
 */
int filter_check(struct filter *, struct spool *, char *const *rcpts,
    size_t nrcpts, struct filter_verdict *v, struct err *);

/*
 * Keep the spooled message in STATE/quarantine/ACCOUNT/ (a Maildir; the
 * name is d->key, so a re-fetch after a crash finds the same file): file
 * fsync'd, linked into new/, directory fsync'd, then indexed in the store.
 * Only after 0 may the message count as handled. Then, when postmaster is
 * not NULL, a short notice is delivered to it through t (failures logged,
 * not fatal: the copy is safe). -1 with ERR_LOCAL.
 */
int filter_quarantine(struct filter *, struct spool *,
    const struct filter_verdict *, char *const *rcpts, size_t nrcpts,
    const struct delivery *d, struct target *t, const char *postmaster,
    struct err *);

/* ---- parsers of outside input (no I/O; unit-tested, fuzzable) ---- */

/* What the provider's receiving host saw of the sending client. */
struct filter_relay {
	bool found;		/* a trusted Received: field was found */
	char ip[64];		/* client address ("" when none given) */
	char helo[256];		/* HELO/EHLO name ("" when none given) */
	char rdns[256];		/* reverse DNS name ("" when none) */
};

/*
 * Find the topmost Received: field of head (the message header, LF or
 * CRLF lines, possibly cut short) whose "by" host equals provider_host
 * (case-insensitive; ".example.net" matches any host under that domain)
 * and read its "from" clause. Fields below it are never looked at, so a
 * forged lower field cannot supply an address. The IP must parse as IPv4
 * or IPv6 ("[IPv6:...]" literals too). Returns 0 with r->found, or -1 when
 * no field of that host is there (r zeroed).
 */
int filter_received_parse(const char *head, size_t len,
    const char *provider_host, struct filter_relay *r);
/* The address in the topmost Return-Path: field ("" for <>), into out;
 * -1 when absent or malformed. */
int filter_return_path(const char *head, size_t len, char *out, size_t cap);

/* clamd's reply to INSTREAM ("stream: OK", "stream: NAME FOUND",
 * "... ERROR"), NUL/LF-terminated or not: 0 clean, 1 infected (name in
 * virus, sanitized, bounded), -1 error or nonsense (why in virus). */
int filter_clamd_reply_parse(const char *reply, size_t len, char *virus,
    size_t cap);

struct rspamd_reply {
	char action[32];	/* "no action", "add header", "reject", ... */
	double score;
	double required;
	char *symbols;		/* "A,B,C" (bounded), allocated */
	char *add_headers;	/* milter add_headers as header lines */
};
void rspamd_reply_clear(struct rspamd_reply *);
/* Parse /checkv2's JSON body (at most FILTER_REPLY_MAX bytes). -1 with
 * ERR_PROTOCOL on malformed JSON, a missing action or score. Header names
 * from the reply are checked (RFC 5322 ftext), values stripped of control
 * characters and bounded. */
int filter_rspamd_reply_parse(const char *json, size_t len,
    struct rspamd_reply *, struct err *);

/* Scanner address: unix:PATH, [http://]HOST:PORT[/], [V6]:PORT. */
struct filter_addr {
	bool unix_socket;
	char path[108];		/* unix socket */
	char host[256];
	int port;
};
int filter_addr_parse(const char *, struct filter_addr *, struct err *);

#endif
