/*
 * conn.h - a connection to a remote server: TCP with deadlines, TLS
 * (OpenSSL) with verification, and the STARTTLS upgrade.
 *
 * TLS is a connection type under this interface: protocol code never asks
 * whether the connection is encrypted. Every blocking call honours both the
 * per-step timeout (reset by each call) and the whole-pass deadline set with
 * conn_set_deadline(), whichever comes first; a timeout fails with
 * ERR_TIMEOUT. Errors carry their class: ERR_DNS (name did not resolve),
 * ERR_CONNECT (refused, unreachable), ERR_TLS (handshake, verification: the
 * message names the certificate's subject and the reason), ERR_TIMEOUT,
 * ERR_PROTOCOL (peer closed unexpectedly where the caller says so).
 */
#ifndef MP_CONN_H
#define MP_CONN_H

#include "common.h"
#include "util/err.h"

struct conn;

struct tls_opts {
	bool verify;		/* verify chain and host name (default on) */
	const char *ca_file;	/* extra trust anchors, or NULL: system store */
	const char *servername;	/* SNI and host-name check; NULL: the host */
};

/* Resolve host and connect (each address in turn) within timeout_ms. */
int conn_connect(struct conn **c_r, const char *host, int port,
    int timeout_ms, struct err *);
/* Connect to a unix-domain stream socket at path within timeout_ms. */
int conn_connect_unix(struct conn **c_r, const char *path, int timeout_ms,
    struct err *);
/* Handshake TLS over the connection (implicit TLS or after STARTTLS). */
int conn_starttls(struct conn *, const struct tls_opts *, struct err *);
bool conn_is_tls(const struct conn *);
/* Protocol version and cipher for the run log, e.g. "TLSv1.3 ...", with
 * ", TLS session resumed" when the handshake resumed an earlier session.
 *
 * Sessions are cached process-wide (thread-safe, a few dozen keys) and
 * offered only to a later connection to the same host and port with the
 * same verification settings (verify, CA file, checked name); TLS 1.3
 * tickets are used once. */
const char *conn_tls_info(const struct conn *);
/* Forget every cached TLS session (tests; a changed trust store). */
void conn_tls_cache_clear(void);
void conn_set_timeout(struct conn *, int timeout_ms);
/* Absolute whole-pass deadline (CLOCK_MONOTONIC milliseconds, 0: none). */
void conn_set_deadline(struct conn *, int64_t deadline_ms);
/*
 * Read up to n bytes: returns >0 bytes read, 0 at orderly end of stream,
 * -1 on error or timeout (err set).
 */
ssize_t conn_read(struct conn *, void *, size_t n, struct err *);
/* Write all n bytes or fail. */
int conn_write(struct conn *, const void *, size_t n, struct err *);
/* Bytes the TLS layer already holds decrypted (must be 0 before STARTTLS
 * handshake and is checked by the caller together with its own buffer). */
size_t conn_pending(const struct conn *);
/* The socket, for poll() by an event loop (IMAP IDLE); reading and
 * writing still go through conn_read()/conn_write(). */
int conn_fd(const struct conn *);
/* Close (TLS close_notify best effort) and free; sets *c to NULL. */
void conn_free(struct conn **);
/* Monotonic clock in milliseconds. */
int64_t conn_now_ms(void);

#endif
