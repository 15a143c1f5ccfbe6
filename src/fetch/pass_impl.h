/*
 * pass_impl.h - what pass.c shares with the retrieval methods (pop3_pass.c,
 * later imap_pass.c). Private to src/fetch/.
 *
 * A method connects, authenticates and lists; for each message it wants it
 * fills ctx->spool and calls pass_deliver(); after pass_commit() it may
 * issue the destructive command for exactly the identities pass_commit()
 * handed back as committed.
 */
#ifndef MP_PASS_IMPL_H
#define MP_PASS_IMPL_H

#include "common.h"
#include "deliver/target.h"
#include "route/route.h"
#include "fetch/pass.h"
#include "net/conn.h"
#include "proto/pp.h"
#include "util/buf.h"
#include "util/spool.h"

#define PASS_BATCH_MAX 64	/* deliveries per durability batch */

struct pass_pending {
	char *folder;
	uint64_t uidvalidity;
	char *uid;
	uint64_t size;
	enum msg_state state;
	char *msgid;		/* Message-ID to remember, or NULL */
	char *reason;		/* MSG_FAILED: why it is parked */
	char *subject;		/* MSG_FAILED: for `message list` */
	void *cookie;		/* method data: e.g. POP3 message number */
};

struct pass_ctx {
	struct store *st;
	const struct account *a;
	const struct pass_opts *opts;
	struct pass_result *res;
	struct buf log;			/* run log text */
	struct spool *spool;
	struct target_uri turi;
	struct target *target;
	struct route *route;		/* local recipients of each message */
	bool partials;			/* the account has per-recipient rows:
					 * look them up for each message */
	struct filter *filter;		/* spam/virus checks, NULL: none */
	char *password;
	size_t password_len;
	const char *proto_label;	/* "POP3", "POP3S", ... */
	int64_t started_ms;
	int64_t deadline_ms;
	int timeout_ms;
	/* the current durability batch */
	struct pass_pending batch[PASS_BATCH_MAX];
	size_t nbatch;
	bool stop;			/* a temporary failure: stop fetching */
	bool cancelled;			/* opts->cancel was seen */
	unsigned char digest[SPOOL_DIGEST_LEN];	/* of the spooled message */
	/* set by the method before pass_deliver(), reset by it */
	uint64_t cur_remote_size;	/* 0: record the spooled size */
	char *cur_msgid;		/* Message-ID to record (taken over) */
	struct pass_progress prog;
	int64_t prog_last_ms;
};

/* Append a time-stamped line to the run log (and debug log). */
void pass_log(struct pass_ctx *, const char *, ...) MP_PRINTF(2, 3);
/* Before a destructive command: on a shared store, is the account's lease
 * still ours (and renewed)? 0 yes; -1 (err set) no or unknown: delete
 * nothing. */
int pass_fence(struct pass_ctx *, struct err *);
/* Wire trace sink for pp (only when verbose). */
void pass_trace(void *arg, const char *dir, const char *line, size_t len);
void pass_progress(struct pass_ctx *, bool force);
/* True once the pass was asked to stop (sets ctx->stop): fetch no more. */
bool pass_cancelled(struct pass_ctx *);

/* The spooled message is complete: compute ctx->digest. */
void pass_spool_done(struct pass_ctx *);
/* A message not delivered this pass (parked, or left for the next pass):
 * one line for the run log and the fetch output. */
void pass_problem(struct pass_ctx *, bool parked, const char *, ...)
    MP_PRINTF(3, 4);
/*
 * Deliver the spooled message (after pass_spool_done) (already finished) to every recipient.
 * Returns 0 when delivered (it joins the batch, state DELIVERED, or FAILED
 * when parked after a permanent refusal: both are committed), -1 when the
 * pass must stop (temporary or local failure: err set; nothing recorded).
 */
int pass_deliver(struct pass_ctx *, const char *folder, uint64_t uidvalidity,
    const char *uid, void *cookie, struct err *);
/*
 * Make the batch durable: target_sync, then one store transaction. On
 * success calls done(arg, pending) for each committed entry (so the method
 * can queue its DELE), then empties the batch. -1: nothing may be deleted.
 */
typedef void (*pass_committed_fn)(void *arg, const struct pass_pending *);
int pass_commit(struct pass_ctx *, pass_committed_fn done, void *arg,
    struct err *);
bool pass_batch_full(const struct pass_ctx *);
/* Extend the whole-pass deadline once the amount of work is known. */
void pass_deadline_extend(struct pass_ctx *, unsigned long msgs,
    uint64_t bytes);

#define PASS_READ_CHUNK (64 * 1024)

/* Connect to the account's server (and TLS for security tls), logging. */
int pass_connect(struct pass_ctx *, struct conn **c_r, bool *tls_r,
    struct err *);
/* TLS handshake on c with the account's verification settings. */
int pass_tls(struct pass_ctx *, struct conn *c, bool *tls_r, const char *what,
    struct err *);
/* Write what pp has queued. */
int pass_flush(struct conn *, struct pp *, struct err *);
/* Flush, then read once into pp's input: 1 bytes read, 0 end of stream,
 * -1 error (timeout, input bound). */
int pass_fill(struct conn *, struct pp *, struct err *);

/* Retrieval methods. */
int pop3_pass_run(struct pass_ctx *, struct err *);
int imap_pass_run(struct pass_ctx *, struct err *);
/* Shared by the methods: should a delivered message first seen at
 * first_seen be deleted now under the account's policy? */
bool pass_delete_now(const struct account *, int64_t first_seen);
/* The Message-ID field of a header block (first lines of a message, LF or
 * CRLF), unfolded and trimmed, into out; 0 found, -1 not found. */
int pass_msgid_extract(const char *hdr, size_t len, char *out, size_t cap);

#endif
