/*
 * idle.h - the IMAP IDLE watcher (RFC 2177): one thread holds every idle
 * connection in a poll() loop, not a thread per account.
 *
 * idle_add() sets a session up in the caller's thread (a worker: connect,
 * TLS or STARTTLS with the same rules as a pass, log in, EXAMINE the
 * account's first folder, IDLE) and hands it to the watcher. The watcher
 * reports new mail ("* n EXISTS" growing) and lost connections through the
 * callback, re-issues IDLE every IDLE_REFRESH_S (servers may drop an idle
 * client after 30 minutes, RFC 2177), and never fetches: the pass runs on
 * its own connection. The callback runs in the watcher thread with no
 * watcher lock held.
 */
#ifndef MP_IDLE_H
#define MP_IDLE_H

#include "common.h"
#include "store/account.h"
#include "store/store.h"
#include "util/err.h"

#define IDLE_REFRESH_S	(25 * 60)

enum idle_event {
	IDLE_EV_NEWMAIL,
	IDLE_EV_CLOSED,		/* session ended: set it up again later */
};
typedef void (*idle_event_fn)(void *arg, const char *account_id,
    enum idle_event);

struct idle;

int idle_start(struct idle **, idle_event_fn, void *arg, struct err *);
/*
 * Set up an IDLE session for account a (its password from st). Returns 0
 * when it is watched, 1 when the server does not offer IDLE (logged out;
 * the account is polled), -1 with err (class as a pass would report it).
 * An account already watched is replaced.
 */
int idle_add(struct idle *, struct store *st, const struct account *a,
    struct err *);
/* Stop watching an account (DONE, LOGOUT); no callback follows. */
void idle_forget(struct idle *, const char *account_id);
size_t idle_count(struct idle *);
/* LOGOUT every session and end the thread. */
void idle_stop(struct idle **);

#endif
