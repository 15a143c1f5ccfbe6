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
 *
 * Options: lmtp:, smtp: and mda: URIs take a suffix "?OPT[&OPT]":
 *   starttls      smtp: only: STARTTLS before MAIL, required (the server
 *                 must offer it; certificate and host name verified)
 *   timeout=SECS  lmtp:/smtp: the per-step timeout (default 30 s);
 *                 mda: the command's time limit (default 300 s)
 * e.g. "smtp:mx.local:25?starttls", "mda:/usr/bin/procmail?timeout=60".
 * For lmtp:unix:PATH and mda:COMMAND, a suffix that is not a valid option
 * list is part of the path or command.
 *
 * mda:COMMAND is split into an argv at white space, with '...' and "..."
 * quoting and backslash escapes (no shell); %u %d %a are substituted in
 * each argument (target_expand). A command starting with "sh -c " runs
 * the rest with /bin/sh -c, with no substitution (the recipient's local
 * part, domain and address are $1, $2 and $3 there). The message goes to
 * standard input; exit 0 delivered, 75 try later, other exits and signals
 * permanent failures (stderr, up to 4 KiB, in the reason); past the time
 * limit the process group is killed and the delivery is temporary failed.
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
	bool starttls;	/* smtp: "?starttls" */
	int timeout_s;	/* "?timeout=N"; 0: the kind's default */
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
	/* header lines (each ending in LF) added after the Received: field,
	 * e.g. "X-Mailpull-Original-To: a@b\n"; NULL: none. Part of what the
	 * target writes, so a different value is a different file/key. */
	const char *extra_headers;
	/*
	 * Folder for this delivery (the spam filter's "Junk"), or NULL for
	 * the inbox. One name, no '/', not starting with '.'. Maildir writes
	 * into the Maildir++ subfolder PATH/.NAME/{tmp,new,cur} (made on
	 * demand, with its "maildirfolder" marker). LMTP, SMTP and MDA have
	 * no folder in their protocol and ignore it: for them the filter's
	 * "X-Spam: Yes" header is what a Sieve script (or procmail rule)
	 * files into Junk, e.g. `if header :is "X-Spam" "Yes" { fileinto
	 * "Junk"; }` in Dovecot's Pigeonhole.
	 */
	const char *folder;
};

/* One recipient of target_deliver_many(). */
struct target_rcpt {
	const char *addr;		/* in: local@domain */
	enum err_class result;		/* out: ERR_NONE delivered, ERR_TEMP,
					 * ERR_PERM (refused permanently: 5xx,
					 * bad mailbox), ERR_LOCAL */
	char *reason;			/* out: allocated, NULL when delivered */
};

struct target;

int target_open(struct target **t_r, const struct target_uri *, struct err *);
/*
 * Deliver the spooled message to one local recipient. 0: accepted by the
 * target (for Maildir: file written to tmp/; target_sync fsyncs it, puts
 * it in new/ and syncs the directories, so a Maildir delivery counts only
 * once target_sync has succeeded). -1: err set with ERR_TEMP (try again next pass; the pass
 * stops delivering), ERR_PERM (this recipient refused permanently) or
 * ERR_LOCAL (local failure: disk full, fsync failed; treated as temporary).
 * A Received: header naming mailpull, the server and the account is
 * prepended.
 */
int target_deliver(struct target *, struct spool *, const char *rcpt,
    const struct delivery *, struct err *);
/*
 * Deliver the spooled message to n recipients, in one transaction where the
 * target has them (LMTP: one RCPT per recipient and one reply each after
 * the data; SMTP: per-RCPT replies, one DATA reply for all accepted). Fills
 * every rcpts[i].result. Returns 0 when each recipient got a result (any
 * mix), -1 when the attempt failed as a whole (connection lost, local
 * error): err is set and every result is set to err's class.
 * An LMTP connection lost after some recipients' replies after the data
 * is not a whole failure: those recipients keep ERR_NONE, the others get
 * ERR_TEMP, and 0 is returned. The reason and result fields are
 * overwritten, not freed: target_rcpts_clear() between uses. With n > 1
 * the Received: field names no recipient (RFC 5321 section 4.4: "for" is
 * for a single recipient); Maildir and MDA write one per recipient.
 */
int target_deliver_many(struct target *, struct spool *,
    struct target_rcpt *rcpts, size_t n, const struct delivery *,
    struct err *);
/*
 * Does rcpt still exist at the target, as far as the target can tell
 * without a message (`mailpull account check`)? 0: it does. -1 with
 * ERR_PERM: gone (LMTP/SMTP: a 5xx to RCPT TO; Maildir: the expanded
 * directory or its cur/new/tmp is missing, though a delivery would create
 * it; MDA: the command's program is not an executable file). -1 with
 * any other class: could not tell (a 4xx, a refused MAIL, the target
 * down, permission denied). LMTP/SMTP: LHLO/EHLO (and STARTTLS) on the
 * first probe, then MAIL FROM:<>, RCPT TO:<rcpt>, RSET each time on the
 * target's one connection; QUIT at target_close().
 */
int target_probe(struct target *, const char *rcpt, struct err *);
/* Free the reasons and reset the results (addr is the caller's). */
void target_rcpts_clear(struct target_rcpt *rcpts, size_t n);
/* Make every delivery since the last sync durable (Maildir: fsync each
 * file written, link it into new/, fsync each directory touched). Must
 * succeed before anything is recorded or deleted. Maildir: a failure
 * removes the unsynced files and every later sync (and delivery) of this
 * target fails too, so nothing of the batch can be recorded after it. */
int target_sync(struct target *, struct err *);
void target_close(struct target **);

/*
 * Maildir: write new files as unnamed O_TMPFILE inodes where the file
 * system allows (the default), or always as named tmp/NAME files (false).
 * Process-wide; the unit tests run both ways.
 */
void maildir_tmpfile_use(bool);

/*
 * Maildir: how a batch of O_TMPFILE files is synced. AUTO (the default):
 * one syncfs() per file system where that reports errors (Linux 5.8) and
 * the machine has little dirty data, else an fsync per file; FILES: an
 * fsync per file; FS: syncfs whenever possible. Process-wide; for the
 * unit tests.
 */
enum maildir_sync_mode {
	MAILDIR_SYNC_AUTO = 0,
	MAILDIR_SYNC_FILES = 1,
	MAILDIR_SYNC_FS = 2
};
void maildir_sync_mode(enum maildir_sync_mode);

#endif
