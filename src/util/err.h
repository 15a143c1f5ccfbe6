/*
 * err.h - an error with a class and a human reason.
 *
 * The class drives retry and backoff and is what `fetch` and the run log
 * report; the message is one line for a human and never holds a secret.
 * Functions that can fail take a `struct err *` (may be NULL when the
 * caller does not care) and return -1 after err_set().
 */
#ifndef MP_ERR_H
#define MP_ERR_H

#include "common.h"

enum err_class {
	ERR_NONE = 0,
	ERR_INTERNAL,	/* our bug or local resource failure */
	ERR_CONFIG,	/* bad account or option */
	ERR_DNS,	/* host name did not resolve */
	ERR_CONNECT,	/* TCP connect refused / unreachable */
	ERR_TLS,	/* handshake or certificate verification */
	ERR_TIMEOUT,	/* a step or the whole pass ran out of time */
	ERR_PROTOCOL,	/* server broke the protocol or its limits */
	ERR_AUTH,	/* credentials rejected */
	ERR_TEMP,	/* server said try later (IN-USE, SYS/TEMP, 4xx) */
	ERR_PERM,	/* server said permanent failure (SYS/PERM, 5xx) */
	ERR_LOCAL,	/* local delivery or store failed */
	ERR_BUSY,	/* account is in another pass */
	ERR__COUNT
};

struct err {
	enum err_class cls;
	char *msg;
};

const char *err_class_name(enum err_class);
/* Set (replacing any previous error). Returns -1 for `return err_set()`. */
int err_set(struct err *, enum err_class, const char *, ...) MP_PRINTF(3, 4);
/* Prefix the current message: "ctx: old". */
void err_prefix(struct err *, const char *, ...) MP_PRINTF(2, 3);
void err_clear(struct err *);
/* The message or "" when none. */
const char *err_msg(const struct err *);

#endif
