/*
 * filter_impl.h - private to src/filter/: the scanner clients.
 */
#ifndef MP_FILTER_IMPL_H
#define MP_FILTER_IMPL_H

#include "common.h"
#include "filter/filter.h"
#include "net/conn.h"

#define FILTER_CHUNK	(64 * 1024)

/* Connect to a scanner; the whole exchange must end by now + timeout_ms. */
int filter_connect(const struct filter_addr *, int timeout_ms,
    struct conn **c_r, struct err *);

/* clamd INSTREAM: 0 clean, 1 infected (name in virus), -1 error. */
int clamd_scan(const struct filter_addr *, int timeout_ms, struct spool *,
    char *virus, size_t cap, struct err *);

struct rspamd_req {
	const char *ip, *helo, *hostname, *from;	/* NULL: not sent */
	char *const *rcpts;
	size_t nrcpts;
};
/* POST /checkv2: 0 with r filled, -1 error. */
int rspamd_scan(const struct filter_addr *, int timeout_ms, struct spool *,
    const struct rspamd_req *, struct rspamd_reply *r, struct err *);

#endif
