/*
 * api.h - the admin HTTP server inside `mailpull serve`: JSON API, web UI,
 * sessions and roles, /metrics. The daemon (sched/) starts it after
 * binding and before dropping privileges, and gives it two hooks.
 */
#ifndef MP_API_H
#define MP_API_H

#include "common.h"
#include "util/buf.h"
#include "util/err.h"

struct api_opts {
	const char *listen;	/* "127.0.0.1:8025", "[::1]:8025" */
	const char *state_dir;	/* each request opens/uses its own store */
	const char *tls_cert;	/* PEM paths, or NULL: plain HTTP */
	const char *tls_key;
	bool trust_proxy;	/* honour X-Forwarded-For/-Proto */
	/* "check now" for an account (also after add/edit/enable); may be
	 * NULL. Called from an API thread; must be thread-safe. */
	void (*check_now)(void *arg, const char *account_id);
	/* Append Prometheus text exposition to out; may be NULL. */
	void (*metrics)(void *arg, struct buf *out);
	void *arg;
};

struct api;

/* Bind and start serving (own threads). -1 with ERR_CONFIG/ERR_LOCAL. */
int api_start(struct api **, const struct api_opts *, struct err *);
void api_stop(struct api **);

#endif
