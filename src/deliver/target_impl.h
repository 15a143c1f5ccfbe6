/*
 * target_impl.h - private to deliver/: the vtable each target fills.
 *
 * A new target kind is one new file defining a `struct target_ops` and one
 * line in target.c's table. target.c owns struct target, the URI copy and
 * the local host name; a target keeps its own state in `priv`.
 */
#ifndef MP_TARGET_IMPL_H
#define MP_TARGET_IMPL_H

#include <time.h>

#include "common.h"
#include "deliver/target.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/spool.h"

/* Bound on one Received: header field we write (bytes, LF included). */
#define TARGET_RECEIVED_MAX 2048
/* Bound on what a target prepends: Received: plus delivery.extra_headers. */
#define TARGET_HEADER_MAX (64 * 1024)

struct target_ops {
	const char *name;
	/* Set up t->priv; -1 with err set (t->priv left NULL). */
	int (*open)(struct target *, struct err *);
	/* Same contract as target_deliver(); NULL when deliver_many is
	 * given (target_deliver() then calls it with one recipient). */
	int (*deliver)(struct target *, struct spool *, const char *rcpt,
	    const struct delivery *, struct err *);
	/* Same contract as target_deliver_many() (results and reasons are
	 * NULL/ERR_NONE on entry; target.c fills them all on -1); NULL:
	 * target.c calls deliver once per recipient. */
	int (*deliver_many)(struct target *, struct spool *,
	    struct target_rcpt *, size_t, const struct delivery *,
	    struct err *);
	/* Same contract as target_probe(); NULL: target.c's own check by
	 * kind (Maildir). */
	int (*probe)(struct target *, const char *rcpt, struct err *);
	/* Same contract as target_sync(). */
	int (*sync)(struct target *, struct err *);
	/* Release t->priv (may be NULL after a failed open). */
	void (*close)(struct target *);
};

struct target {
	const struct target_ops *ops;
	struct target_uri uri;	/* our own copy */
	char *hostname;		/* local host name, for Received: */
	void *priv;
};

extern const struct target_ops target_maildir_ops;
extern const struct target_ops target_lmtp_ops;	/* smtp.c */
extern const struct target_ops target_smtp_ops;	/* smtp.c */
extern const struct target_ops target_mda_ops;

/*
 * Append the Received: trace field (RFC 5322 section 3.6.7) for one
 * delivery to b: exactly one header field, folded at < 78 columns where
 * the tokens allow, continuation lines starting with a tab, LF line ends.
 * server, protocol, account, remote_id and rcpt are sanitized (control
 * characters dropped, comment specials replaced, length bounded); NULL
 * fields print as "unknown". The date is `now` in local time. Given the
 * same inputs the length does not depend on `now` (fixed-width date), so
 * a Maildir name carrying S= stays the same on a re-delivery. -1 when the
 * field would exceed b's max.
 */
int target_received_format(struct buf *b, const char *local_host,
    const char *rcpt, const struct delivery *, time_t now);
/*
 * What every target prepends to the spooled message: the Received: field
 * (rcpt NULL: no "for" clause) and then d->extra_headers, which must be
 * whole header lines each ending in LF (a missing final LF is added; NUL
 * and CR are refused). -1 with err (ERR_INTERNAL) when over b's max or
 * malformed. b should be inited with TARGET_HEADER_MAX.
 */
int target_header_format(struct buf *b, const char *local_host,
    const char *rcpt, const struct delivery *, time_t now, struct err *);

/*
 * mda: split a command into an argv (see target.h): NULL-terminated,
 * allocated, free with target_argv_free(). *shell_r is set when the
 * command is "sh -c SCRIPT" (argv is then {"/bin/sh", "-c", SCRIPT}).
 * -1 with ERR_CONFIG on an unterminated quote, a trailing backslash, an
 * empty command, a %u/%d/%a placeholder in a shell script, or more than
 * TARGET_ARGV_MAX words.
 */
#define TARGET_ARGV_MAX 256
int target_argv_split(const char *cmd, char ***argv_r, bool *shell_r,
    struct err *);
void target_argv_free(char ***);

#endif
