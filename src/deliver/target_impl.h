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

struct target_ops {
	const char *name;
	/* Set up t->priv; -1 with err set (t->priv left NULL). */
	int (*open)(struct target *, struct err *);
	/* Same contract as target_deliver(). */
	int (*deliver)(struct target *, struct spool *, const char *rcpt,
	    const struct delivery *, struct err *);
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

#endif
