/*
 * target.h - local delivery targets behind one interface.
 *
 * A target is opened once per pass from its URI and reused for every
 * message of the pass (connection reuse for LMTP/SMTP). Delivery knows
 * nothing about retrieval: it reads the message from a spool (LF form).
 *
 * URIs (DESIGN.md): maildir:PATH (PATH may use %u local part, %d domain in
 * lower case, %a whole address), lmtp:HOST:PORT, lmtp:unix:PATH,
 * smtp:HOST:PORT, mda:COMMAND.
 */
#ifndef MP_TARGET_H
#define MP_TARGET_H

#include "common.h"
#include "util/err.h"
#include "util/spool.h"

enum target_kind {
	TARGET_MAILDIR = 0,
	TARGET_LMTP,
	TARGET_SMTP,
	TARGET_MDA,
};

struct target_uri {
	enum target_kind kind;
	char *path;	/* maildir template, unix socket path, MDA command */
	char *host;	/* lmtp/smtp over TCP */
	int port;
	bool unix_socket;
};

/* Parse a target URI; -1 with ERR_CONFIG and a message naming the problem. */
int target_uri_parse(const char *, struct target_uri *, struct err *);
void target_uri_clear(struct target_uri *);
const char *target_kind_name(enum target_kind);
/* Expand %u %d %a (and %% ) for rcpt ("local@domain"); -1 on a bad
 * placeholder or an expansion that would escape with "..", or an empty
 * local part / domain containing '/'. Result allocated. */
int target_expand(const char *tmpl, const char *rcpt, char **out_r,
    struct err *);

#define DELIVERY_KEY_LEN 16

/* What a target may use to write its trace header and unique name. */
struct delivery {
	const char *account;	/* account id */
	const char *server;	/* remote host name */
	const char *protocol;	/* "POP3", "POP3S", "IMAP", ... */
	const char *remote_id;	/* UIDL or UIDVALIDITY/UID, for the log */
	/* derived from account, remote identity and content digest: equal
	 * keys mean the same message, so a Maildir re-delivery after a crash
	 * finds its earlier file */
	unsigned char key[DELIVERY_KEY_LEN];
};

struct target;

int target_open(struct target **t_r, const struct target_uri *, struct err *);
/*
 * Deliver the spooled message to one local recipient. 0: accepted by the
 * target (for Maildir: file fsync'd and in new/; the directory sync is
 * target_sync's). -1: err set with ERR_TEMP (try again next pass; the pass
 * stops delivering), ERR_PERM (this recipient refused permanently) or
 * ERR_LOCAL (local failure: disk full, fsync failed; treated as temporary).
 * A Received: header naming mailpull, the server and the account is
 * prepended.
 */
int target_deliver(struct target *, struct spool *, const char *rcpt,
    const struct delivery *, struct err *);
/* Make every delivery since the last sync durable (Maildir: fsync each
 * new/ directory touched). Must succeed before the point of no return. */
int target_sync(struct target *, struct err *);
void target_close(struct target **);

#endif
