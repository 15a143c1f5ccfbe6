/*
 * conn.c - TCP with deadlines and TLS (OpenSSL 3) with verification.
 *
 * The socket is non-blocking from the moment it exists; every wait is a
 * poll() bounded by the step timeout and the pass deadline, whichever comes
 * first. The step timeout is an idle timeout: it restarts whenever the
 * server lets us make progress, so a large transfer on a slow but live link
 * is not cut, while the pass deadline bounds everything. A timeout_ms <= 0
 * means no step timeout (the deadline alone applies).
 *
 * TLS: one SSL_CTX per verification setting (verify, CA file), shared by
 * the whole process: a context loads the system CA store, which costs far
 * more than a handshake (measured: 94 % of a 20-account TLS run when every
 * connection built its own). The sessions, too, are kept process-wide
 * (see "session cache" below), so the passes of many accounts on one host
 * resume instead of repeating the full handshake and certificate
 * verification. The socket BIO is our own so that writes use send(MSG_NOSIGNAL) and a peer
 * that closes cannot raise SIGPIPE. Host names are checked by OpenSSL
 * (SSL_set1_host, X509_VERIFY_PARAM_set1_ip_asc), never by us.
 *
 * A missing close_notify is treated as end of stream
 * (SSL_OP_IGNORE_UNEXPECTED_EOF): many POP3/IMAP servers close without one
 * after QUIT/LOGOUT, and truncation of a message is caught by the protocol
 * framing (POP3 terminator, IMAP literal length), not by TLS.
 *
 * Name resolution (getaddrinfo) blocks and is not bounded by timeout_ms.
 */
#include "common.h"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/conn.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xmalloc.h"

struct conn {
	int fd;
	char *host;
	int port;
	int timeout_ms;
	int64_t deadline_ms;

	SSL_CTX *ctx;
	SSL *ssl;
	char tls_info[160];
	bool tls_failed;	/* fatal TLS error: no close_notify */
	char *sess_key;		/* session cache key of this TLS connection */
};

int64_t
conn_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("clock_gettime");
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* strerror with a lower-case first letter, for "connect ...: connection
 * refused". GNU strerror_r returns a pointer and is thread-safe. */
static const char *
conn_strerror(int errnum, char *buf, size_t len)
{
	const char *s;

	s = strerror_r(errnum, buf, len);
	if (s != buf) {
		(void)snprintf(buf, len, "%s", s);
		s = buf;
	}
	if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return s;
}

/* The OpenSSL error queue as one line, oldest first ("; " between
 * entries, bounded by len), then empty. */
static const char *
conn_ssl_errors(char *buf, size_t len)
{
	unsigned long code;
	char one[256];
	size_t used = 0;
	int w;

	buf[0] = '\0';
	while ((code = ERR_get_error()) != 0) {
		if (used + 1 >= len)
			continue;	/* keep draining the queue */
		ERR_error_string_n(code, one, sizeof(one));
		w = snprintf(buf + used, len - used, "%s%s",
		    used > 0 ? "; " : "", one);
		if (w < 0 || (size_t)w >= len - used)
			used = len - 1;
		else
			used += (size_t)w;
	}
	if (buf[0] == '\0')
		(void)snprintf(buf, len, "unknown TLS error");
	return buf;
}

/* Host and port for messages, with brackets around IPv6 literals. */
static void
conn_hostport(const struct conn *c, char *buf, size_t len)
{
	if (strchr(c->host, ':') != NULL)
		(void)snprintf(buf, len, "[%s]:%d", c->host, c->port);
	else
		(void)snprintf(buf, len, "%s:%d", c->host, c->port);
}

static int
conn_err_timeout(struct err *e, int timeout_ms, bool deadline)
{
	if (deadline)
		return err_set(e, ERR_TIMEOUT, "pass deadline exceeded");
	return err_set(e, ERR_TIMEOUT,
	    "timed out after %g s waiting for the server",
	    (double)timeout_ms / 1000.0);
}

/*
 * Wait until fd is ready for events, or step_end (absolute, 0: none) or
 * the deadline (absolute, 0: none) passes. Readiness includes errors and
 * hang-ups: the next read or write reports them.
 */
static int
conn_poll(int fd, short events, int64_t step_end, int timeout_ms,
    int64_t deadline_ms, struct err *e)
{
	struct pollfd pfd;
	int64_t now, wait;
	char ebuf[128];
	int r;

	for (;;) {
		now = conn_now_ms();
		/* An expired limit is a timeout, whichever it is; the wait
		 * is the time to the nearer one (-1: none). */
		if (deadline_ms > 0 && now >= deadline_ms)
			return conn_err_timeout(e, timeout_ms, true);
		if (step_end > 0 && now >= step_end)
			return conn_err_timeout(e, timeout_ms, false);
		wait = -1;
		if (step_end > 0)
			wait = step_end - now;
		if (deadline_ms > 0 && (wait < 0 || deadline_ms - now < wait))
			wait = deadline_ms - now;
		if (wait > INT_MAX)
			wait = INT_MAX;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)wait);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return err_set(e, ERR_INTERNAL, "poll: %s",
			    conn_strerror(errno, ebuf, sizeof(ebuf)));
		}
		if (r > 0)
			return 0;
	}
}

/* Wait on a connection with a fresh step timeout. */
static int
conn_wait(struct conn *c, short events, struct err *e)
{
	int64_t step_end = 0;

	if (c->timeout_ms > 0)
		step_end = conn_now_ms() + c->timeout_ms;
	return conn_poll(c->fd, events, step_end, c->timeout_ms,
	    c->deadline_ms, e);
}

/*
 * Our socket BIO: recv/send with MSG_NOSIGNAL on a non-blocking fd, retry
 * flags on EAGAIN so SSL_get_error() answers WANT_READ/WANT_WRITE.
 */
static int
conn_bio_write(BIO *b, const char *p, int n)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t w;

	BIO_clear_retry_flags(b);
	do
		w = send(fd, p, (size_t)n, MSG_NOSIGNAL);
	while (w == -1 && errno == EINTR);
	if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_write(b);
	return (int)w;
}

static int
conn_bio_read(BIO *b, char *p, int n)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	do
		r = recv(fd, p, (size_t)n, 0);
	while (r == -1 && errno == EINTR);
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		BIO_set_retry_read(b);
	return (int)r;
}

static int
conn_bio_puts(BIO *b, const char *s)
{
	size_t n = strlen(s);

	return conn_bio_write(b, s, n > INT_MAX ? INT_MAX : (int)n);
}

static long
conn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_GET_CLOSE:
		return BIO_get_shutdown(b);
	case BIO_CTRL_SET_CLOSE:
		BIO_set_shutdown(b, (int)num);
		return 1;
	default:
		return 0;
	}
}

static int
conn_bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	BIO_set_data(b, (void *)(intptr_t)-1);
	return 1;
}

static int
conn_bio_destroy(BIO *b)
{
	/* The fd belongs to the connection, closed in conn_free(). */
	return 1;
}

static BIO_METHOD *conn_bio_meth;
static pthread_once_t conn_bio_once = PTHREAD_ONCE_INIT;

static void
conn_bio_method_init(void)
{
	BIO_METHOD *m;

	m = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(),
	    "mailpull socket");
	if (m == NULL)
		return;
	if (BIO_meth_set_write(m, conn_bio_write) != 1 ||
	    BIO_meth_set_read(m, conn_bio_read) != 1 ||
	    BIO_meth_set_puts(m, conn_bio_puts) != 1 ||
	    BIO_meth_set_ctrl(m, conn_bio_ctrl) != 1 ||
	    BIO_meth_set_create(m, conn_bio_create) != 1 ||
	    BIO_meth_set_destroy(m, conn_bio_destroy) != 1) {
		BIO_meth_free(m);
		return;
	}
	conn_bio_meth = m;
}

/* Built once per process (workers are threads); NULL if OpenSSL failed. */
static BIO_METHOD *
conn_bio_method(void)
{
	if (pthread_once(&conn_bio_once, conn_bio_method_init) != 0)
		return NULL;
	return conn_bio_meth;
}

/* Connect one address within step_end. 0, or -1 with errno/err set. */
static int
conn_connect_one(const struct addrinfo *ai, int64_t step_end,
    int timeout_ms, int *fd_r, int *errno_r, struct err *e)
{
	socklen_t len;
	int fd, soerr;

	*errno_r = 0;
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		*errno_r = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		if (errno != EINPROGRESS && errno != EINTR) {
			*errno_r = errno;
			goto fail;
		}
		if (conn_poll(fd, POLLOUT, step_end, timeout_ms, 0, e) == -1)
			goto fail;
		len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1) {
			*errno_r = errno;
			goto fail;
		}
		if (soerr != 0) {
			*errno_r = soerr;
			goto fail;
		}
	}
	*fd_r = fd;
	return 0;
fail:
	(void)close(fd);
	return -1;
}

int
conn_connect(struct conn **c_r, const char *host, int port, int timeout_ms,
    struct err *e)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[16], addr[INET6_ADDRSTRLEN], ebuf[128], hp[300];
	struct conn *c;
	int64_t step_end = 0;
	int r, fd = -1, lasterr = 0, one = 1;

	*c_r = NULL;
	if (host == NULL || *host == '\0')
		return err_set(e, ERR_CONFIG, "no host to connect to");
	if (port < 1 || port > 65535)
		return err_set(e, ERR_CONFIG, "invalid port %d for %s", port,
		    host);
	c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	c->host = xstrdup(host);
	c->port = port;
	c->timeout_ms = timeout_ms;
	conn_hostport(c, hp, sizeof(hp));

	(void)snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0) {
		err_set(e, ERR_DNS, "cannot resolve %s: %s", host,
		    r == EAI_SYSTEM ? conn_strerror(errno, ebuf, sizeof(ebuf)) :
		    gai_strerror(r));
		goto fail;
	}

	if (timeout_ms > 0)
		step_end = conn_now_ms() + timeout_ms;
	addr[0] = '\0';
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr,
		    sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0)
			addr[0] = '\0';
		err_clear(e);
		if (conn_connect_one(ai, step_end, timeout_ms, &fd, &lasterr,
		    e) == 0)
			break;
		if (lasterr == 0) {
			/* The whole connect ran out of time. */
			err_prefix(e, "connect to %s", hp);
			goto fail;
		}
	}
	if (fd == -1) {
		if (lasterr == 0)
			lasterr = EHOSTUNREACH;
		if (addr[0] != '\0' && strcmp(addr, host) != 0)
			err_set(e, ERR_CONNECT, "connect to %s (%s): %s", hp,
			    addr, conn_strerror(lasterr, ebuf, sizeof(ebuf)));
		else
			err_set(e, ERR_CONNECT, "connect to %s: %s", hp,
			    conn_strerror(lasterr, ebuf, sizeof(ebuf)));
		goto fail;
	}
	freeaddrinfo(res);
	/* Commands are small and answered one by one: no Nagle delay. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	*c_r = c;
	return 0;
fail:
	if (res != NULL)
		freeaddrinfo(res);
	conn_free(&c);
	return -1;
}

int
conn_connect_unix(struct conn **c_r, const char *path, int timeout_ms,
    struct err *e)
{
	struct sockaddr_un sun;
	struct addrinfo ai;
	struct conn *c;
	int64_t step_end = 0;
	int fd = -1, lasterr = 0;
	char ebuf[128];

	*c_r = NULL;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path == NULL || *path == '\0' ||
	    strlen(path) >= sizeof(sun.sun_path))
		return err_set(e, ERR_CONFIG, "invalid unix socket path");
	memcpy(sun.sun_path, path, strlen(path));
	memset(&ai, 0, sizeof(ai));
	ai.ai_family = AF_UNIX;
	ai.ai_socktype = SOCK_STREAM;
	ai.ai_addr = (struct sockaddr *)&sun;
	ai.ai_addrlen = sizeof(sun);
	if (timeout_ms > 0)
		step_end = conn_now_ms() + timeout_ms;
	if (conn_connect_one(&ai, step_end, timeout_ms, &fd, &lasterr,
	    e) == -1) {
		if (lasterr != 0)
			err_set(e, ERR_CONNECT, "connect to unix:%s: %s", path,
			    conn_strerror(lasterr, ebuf, sizeof(ebuf)));
		else
			err_prefix(e, "connect to unix:%s", path);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->host = xasprintf("unix:%s", path);
	c->port = 0;
	c->timeout_ms = timeout_ms;
	*c_r = c;
	return 0;
}

/*
 * TLS session cache, process-wide and shared by the daemon's worker
 * threads (one mutex). A session is offered only to a connection with the
 * same key: host, port, the name the certificate was checked against,
 * verification on/off and the CA file, so a session from an unverified
 * connection, or one verified against other anchors or another name, is
 * never resumed where verification would have said something else (a
 * resumed handshake does not check the certificate again).
 *
 * Sessions arrive through the new-session callback: at the end of a TLS
 * 1.2 handshake, and for TLS 1.3 as NewSessionTicket messages after the
 * handshake, which OpenSSL reads with the first application data. TLS 1.3
 * tickets are used once (RFC 8446 appendix C.4) and a few are kept per key
 * (servers send one or two per connection); a TLS 1.2 session is reused
 * until it expires or a newer one replaces it. Expired sessions are
 * dropped when met. The table is small and evicts the least recently used
 * key; the sessions live until the process ends or conn_tls_cache_clear().
 */
#define CONN_SESS_KEYS		64
#define CONN_SESS_PER_KEY	4

struct conn_sess {
	char *key;			/* NULL: free slot */
	SSL_SESSION *s[CONN_SESS_PER_KEY];	/* oldest first */
	int n;
	unsigned long used;		/* LRU stamp */
};

static pthread_mutex_t conn_sess_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct conn_sess conn_sess_tab[CONN_SESS_KEYS];
static unsigned long conn_sess_clock;

static bool
conn_sess_usable(SSL_SESSION *s)
{
	long now = (long)time(NULL);

	return SSL_SESSION_is_resumable(s) &&
	    (long)SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s) > now;
}

static void
conn_sess_drop(struct conn_sess *e, int i)
{
	SSL_SESSION_free(e->s[i]);
	memmove(&e->s[i], &e->s[i + 1], (size_t)(e->n - i - 1) *
	    sizeof(e->s[0]));
	e->n--;
}

/* The key's entry, or NULL (caller holds the mutex). */
static struct conn_sess *
conn_sess_find(const char *key)
{
	int i;

	for (i = 0; i < CONN_SESS_KEYS; i++)
		if (conn_sess_tab[i].key != NULL &&
		    strcmp(conn_sess_tab[i].key, key) == 0)
			return &conn_sess_tab[i];
	return NULL;
}

static void
conn_sess_clear_entry(struct conn_sess *e)
{
	while (e->n > 0)
		conn_sess_drop(e, e->n - 1);
	free(e->key);
	e->key = NULL;
}

/* A session to offer for key (a reference the caller frees), or NULL. */
static SSL_SESSION *
conn_sess_take(const char *key)
{
	struct conn_sess *e;
	SSL_SESSION *s = NULL;

	if (pthread_mutex_lock(&conn_sess_mtx) != 0)
		fatalx("conn: session cache lock");
	if ((e = conn_sess_find(key)) != NULL) {
		e->used = ++conn_sess_clock;
		while (e->n > 0 && s == NULL) {
			s = e->s[e->n - 1];	/* the newest */
			if (!conn_sess_usable(s)) {
				conn_sess_drop(e, e->n - 1);
				s = NULL;
			} else if (SSL_SESSION_get_protocol_version(s) >=
			    TLS1_3_VERSION)
				e->n--;		/* single use: ours now */
			else
				SSL_SESSION_up_ref(s);
		}
	}
	(void)pthread_mutex_unlock(&conn_sess_mtx);
	return s;
}

/* Keep s (the caller's reference is handed over) under key. */
static void
conn_sess_put(const char *key, SSL_SESSION *s)
{
	struct conn_sess *e;
	int i;

	if (pthread_mutex_lock(&conn_sess_mtx) != 0)
		fatalx("conn: session cache lock");
	if ((e = conn_sess_find(key)) == NULL) {
		e = &conn_sess_tab[0];
		for (i = 0; i < CONN_SESS_KEYS; i++) {
			if (conn_sess_tab[i].key == NULL) {
				e = &conn_sess_tab[i];
				break;
			}
			if (conn_sess_tab[i].used < e->used)
				e = &conn_sess_tab[i];
		}
		conn_sess_clear_entry(e);
		e->key = xstrdup(key);
	}
	e->used = ++conn_sess_clock;
	if (SSL_SESSION_get_protocol_version(s) < TLS1_3_VERSION) {
		/* TLS 1.2: the newest session replaces the others. */
		while (e->n > 0)
			conn_sess_drop(e, e->n - 1);
	} else if (e->n == CONN_SESS_PER_KEY)
		conn_sess_drop(e, 0);
	e->s[e->n++] = s;
	(void)pthread_mutex_unlock(&conn_sess_mtx);
}

/* SSL_CTX_sess_set_new_cb: 1 when we keep the session's reference. */
static int
conn_sess_new_cb(SSL *ssl, SSL_SESSION *s)
{
	struct conn *c = SSL_get_app_data(ssl);

	if (c == NULL || c->sess_key == NULL || c->tls_failed ||
	    !SSL_SESSION_is_resumable(s))
		return 0;
	conn_sess_put(c->sess_key, s);
	return 1;
}


/*
 * The client contexts, one per thread: keyed by the thread, verify and CA
 * file (with the file's size and mtime, so an edited CA file is read
 * again). Each entry holds one reference; a connection takes its own with
 * SSL_CTX_up_ref, so evicting an entry (least recently used, e.g. of a
 * thread that has ended) is safe.
 *
 * Per thread, not per process: verification writes into the context's
 * certificate store (certificates loaded lazily from the hashed CA
 * directory, names' cached canonical encodings), and OpenSSL 3.0 does not
 * guard all of it: ThreadSanitizer saw one thread's ASN1_STRING_set under
 * another's ASN1_STRING_cmp with a shared context (fetch --parallel over
 * TLS; upstream #24295, fixed in 3.2). A thread still loads the CA store
 * once, not per connection.
 */
#define CONN_CTX_MAX 64

struct conn_ctx_entry {
	SSL_CTX *ctx;
	pthread_t owner;
	bool verify;
	char *ca_file;
	off_t ca_size;
	time_t ca_mtime;
	uint64_t used;
};

static struct conn_ctx_entry conn_ctx_tab[CONN_CTX_MAX];
static uint64_t conn_ctx_clock;
static pthread_mutex_t conn_ctx_mtx = PTHREAD_MUTEX_INITIALIZER;

/*
 * The system's CAs. Where the default directory holds the hash links
 * OpenSSL looks certificates up by (Debian's /etc/ssl/certs, kept by
 * update-ca-certificates), only that directory is named: a certificate is
 * read when a chain needs it. The defaults as OpenSSL has them also load
 * the bundle file, about 140 certificates parsed up front, 25 ms of CPU
 * per context here (one context per thread). Where SSL_CERT_FILE is set,
 * or the directory has no hash links (some distributions keep only the
 * bundle), the defaults are used as they are.
 */
static pthread_once_t conn_cadir_once = PTHREAD_ONCE_INIT;
static char *conn_cadir;	/* the hashed directory, or NULL */

static bool
conn_hash_name(const char *n)
{
	int i;

	for (i = 0; i < 8; i++)
		if (!isxdigit((unsigned char)n[i]))
			return false;
	return n[8] == '.' && isdigit((unsigned char)n[9]);
}

static void
conn_cadir_init(void)
{
	const char *dir = getenv(X509_get_default_cert_dir_env());
	struct dirent *de;
	DIR *d;

	if (getenv(X509_get_default_cert_file_env()) != NULL)
		return;
	if (dir == NULL)
		dir = X509_get_default_cert_dir();
	if (strchr(dir, ':') != NULL || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (conn_hash_name(de->d_name)) {
			conn_cadir = xstrdup(dir);
			break;
		}
	(void)closedir(d);
}

static int
conn_default_cas(SSL_CTX *ctx)
{
	if (pthread_once(&conn_cadir_once, conn_cadir_init) != 0)
		fatalx("conn: CA directory once");
	if (conn_cadir != NULL)
		return SSL_CTX_load_verify_dir(ctx, conn_cadir);
	return SSL_CTX_set_default_verify_paths(ctx);
}

static SSL_CTX *
conn_ctx_new(bool verify, const char *ca_file, struct err *e)
{
	SSL_CTX *ctx;
	char ebuf[512];

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto ssl_fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto ssl_fail;
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Sessions go to our cache (above), not OpenSSL's per-context one. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, conn_sess_new_cb);
	if (verify) {
		if (conn_default_cas(ctx) != 1)
			goto ssl_fail;
		if (ca_file != NULL &&
		    SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			err_set(e, ERR_CONFIG, "cannot load CA file %s: %s",
			    ca_file, conn_ssl_errors(ebuf, sizeof(ebuf)));
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
ssl_fail:
	err_set(e, ERR_TLS, "TLS setup failed: %s",
	    conn_ssl_errors(ebuf, sizeof(ebuf)));
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *
conn_ctx_get(bool verify, const char *ca_file, struct err *e)
{
	struct conn_ctx_entry *ent, *victim = NULL;
	struct stat sb;
	SSL_CTX *ctx = NULL;
	off_t size = 0;
	time_t mtime = 0;
	int i;

	if (!verify)
		ca_file = NULL;
	if (ca_file != NULL && stat(ca_file, &sb) == 0) {
		size = sb.st_size;
		mtime = sb.st_mtime;
	}
	if (pthread_mutex_lock(&conn_ctx_mtx) != 0)
		fatalx("conn: context cache lock");
	for (i = 0; i < CONN_CTX_MAX; i++) {
		ent = &conn_ctx_tab[i];
		if (ent->ctx == NULL) {
			if (victim == NULL || victim->ctx != NULL)
				victim = ent;
			continue;
		}
		if (pthread_equal(ent->owner, pthread_self()) &&
		    ent->verify == verify && ent->ca_size == size &&
		    ent->ca_mtime == mtime &&
		    ((ent->ca_file == NULL && ca_file == NULL) ||
		    (ent->ca_file != NULL && ca_file != NULL &&
		    strcmp(ent->ca_file, ca_file) == 0))) {
			ent->used = ++conn_ctx_clock;
			SSL_CTX_up_ref(ent->ctx);
			ctx = ent->ctx;
			goto out;
		}
		if (victim == NULL || (victim->ctx != NULL &&
		    ent->used < victim->used))
			victim = ent;
	}
	if ((ctx = conn_ctx_new(verify, ca_file, e)) == NULL)
		goto out;
	if (victim->ctx != NULL) {
		SSL_CTX_free(victim->ctx);
		free(victim->ca_file);
	}
	victim->ctx = ctx;
	victim->owner = pthread_self();
	victim->verify = verify;
	victim->ca_file = ca_file != NULL ? xstrdup(ca_file) : NULL;
	victim->ca_size = size;
	victim->ca_mtime = mtime;
	victim->used = ++conn_ctx_clock;
	SSL_CTX_up_ref(ctx);
out:
	pthread_mutex_unlock(&conn_ctx_mtx);
	return ctx;
}

static void
conn_ctx_clear(void)
{
	int i;

	if (pthread_mutex_lock(&conn_ctx_mtx) != 0)
		fatalx("conn: context cache lock");
	for (i = 0; i < CONN_CTX_MAX; i++) {
		SSL_CTX_free(conn_ctx_tab[i].ctx);
		free(conn_ctx_tab[i].ca_file);
		memset(&conn_ctx_tab[i], 0, sizeof(conn_ctx_tab[i]));
	}
	pthread_mutex_unlock(&conn_ctx_mtx);
}

static char *
conn_sess_key(const struct conn *c, const char *name, bool verify,
    const char *ca_file)
{
	/* Lengths first: no field can pass for another. */
	return xasprintf("%zu:%s %d %zu:%s %d %zu:%s", strlen(c->host),
	    c->host, c->port, strlen(name), name, verify ? 1 : 0,
	    ca_file != NULL ? strlen(ca_file) : 0,
	    ca_file != NULL ? ca_file : "");
}

void
conn_tls_cache_clear(void)
{
	int i;

	if (pthread_mutex_lock(&conn_sess_mtx) != 0)
		fatalx("conn: session cache lock");
	for (i = 0; i < CONN_SESS_KEYS; i++)
		conn_sess_clear_entry(&conn_sess_tab[i]);
	(void)pthread_mutex_unlock(&conn_sess_mtx);
	conn_ctx_clear();
}

static bool
conn_is_ip_literal(const char *name)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, a) == 1 ||
	    inet_pton(AF_INET6, name, a) == 1;
}

static void
conn_x509_name(X509_NAME *name, char *buf, size_t len)
{
	BIO *mem;
	char *p;
	long n;

	(void)snprintf(buf, len, "?");
	if (name == NULL || (mem = BIO_new(BIO_s_mem())) == NULL)
		return;
	/* RFC 2253 form escapes control characters: the name is hostile. */
	if (X509_NAME_print_ex(mem, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(mem, &p);
		if (n > 0)
			(void)snprintf(buf, len, "%.*s",
			    (int)MP_MIN(n, (long)len - 1), p);
	}
	BIO_free(mem);
}

/* The failure of a verifying handshake: reason, subject, issuer. */
static void
conn_err_verify(SSL *ssl, const char *name, long vr, struct err *e)
{
	STACK_OF(X509) *chain;
	X509 *cert;
	char subj[256], iss[256];

	cert = SSL_get0_peer_certificate(ssl);
	if (cert == NULL) {
		/* Verification failed before the peer was recorded; the
		 * chain the server sent is kept, its leaf first. */
		chain = SSL_get_peer_cert_chain(ssl);
		if (chain != NULL && sk_X509_num(chain) > 0)
			cert = sk_X509_value(chain, 0);
	}
	if (cert == NULL) {
		err_set(e, ERR_TLS,
		    "TLS certificate verification failed for %s: %s", name,
		    X509_verify_cert_error_string(vr));
		return;
	}
	conn_x509_name(X509_get_subject_name(cert), subj, sizeof(subj));
	conn_x509_name(X509_get_issuer_name(cert), iss, sizeof(iss));
	err_set(e, ERR_TLS, "TLS certificate verification failed for %s: %s "
	    "(subject %s, issuer %s)", name, X509_verify_cert_error_string(vr),
	    subj, iss);
}

int
conn_starttls(struct conn *c, const struct tls_opts *opts, struct err *e)
{
	const char *name;
	char ebuf[512], hp[300];
	SSL_SESSION *sess;
	BIO_METHOD *meth;
	BIO *bio;
	bool ip, verify;
	long vr;
	int r, serr, saved;

	ERR_clear_error();
	conn_hostport(c, hp, sizeof(hp));
	if (c->ssl != NULL)
		return err_set(e, ERR_INTERNAL, "TLS is already active on %s",
		    hp);
	verify = opts == NULL || opts->verify;
	name = opts != NULL && opts->servername != NULL &&
	    *opts->servername != '\0' ? opts->servername : c->host;
	ip = conn_is_ip_literal(name);

	/* One context per verification setting, shared by every connection
	 * of the process: loading the system CA store costs far more than a
	 * handshake (94 % of a 20-account TLS run when done per
	 * connection). */
	if ((c->ctx = conn_ctx_get(verify, opts != NULL ? opts->ca_file : NULL,
	    e)) == NULL)
		goto fail;

	if ((c->ssl = SSL_new(c->ctx)) == NULL)
		goto ssl_fail;
	if ((meth = conn_bio_method()) == NULL ||
	    (bio = BIO_new(meth)) == NULL)
		goto ssl_fail;
	BIO_set_data(bio, (void *)(intptr_t)c->fd);
	SSL_set_bio(c->ssl, bio, bio);
	/* SNI is for names only (RFC 6066 section 3). */
	if (!ip && SSL_set_tlsext_host_name(c->ssl, name) != 1)
		goto ssl_fail;
	if (verify) {
		if (ip) {
			if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
			    name) != 1)
				goto ssl_fail;
		} else {
			SSL_set_hostflags(c->ssl,
			    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			if (SSL_set1_host(c->ssl, name) != 1)
				goto ssl_fail;
		}
	}
	free(c->sess_key);
	c->sess_key = conn_sess_key(c, name, verify, opts != NULL ?
	    opts->ca_file : NULL);
	SSL_set_app_data(c->ssl, c);
	if ((sess = conn_sess_take(c->sess_key)) != NULL) {
		/* A refused offer is a full handshake, not an error. */
		(void)SSL_set_session(c->ssl, sess);
		SSL_SESSION_free(sess);
	}
	SSL_set_connect_state(c->ssl);

	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		serr = SSL_get_error(c->ssl, r);
		saved = errno;
		if (serr == SSL_ERROR_WANT_READ) {
			if (conn_wait(c, POLLIN, e) == -1)
				goto hs_fail;
			continue;
		}
		if (serr == SSL_ERROR_WANT_WRITE) {
			if (conn_wait(c, POLLOUT, e) == -1)
				goto hs_fail;
			continue;
		}
		if (verify && (vr = SSL_get_verify_result(c->ssl)) !=
		    X509_V_OK) {
			conn_err_verify(c->ssl, name, vr, e);
			ERR_clear_error();
			goto fail;
		}
		if (serr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			if (saved != 0)
				err_set(e, ERR_TLS, "TLS handshake with %s "
				    "failed: %s", hp,
				    conn_strerror(saved, ebuf, sizeof(ebuf)));
			else
				err_set(e, ERR_TLS, "TLS handshake with %s "
				    "failed: server closed the connection", hp);
			goto fail;
		}
		err_set(e, ERR_TLS, "TLS handshake with %s failed: %s", hp,
		    conn_ssl_errors(ebuf, sizeof(ebuf)));
		goto fail;
	}
	c->tls_failed = false;
	(void)snprintf(c->tls_info, sizeof(c->tls_info), "%s %s%s",
	    SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl),
	    SSL_session_reused(c->ssl) ? ", TLS session resumed" : "");
	ERR_clear_error();
	return 0;

ssl_fail:
	err_set(e, ERR_TLS, "TLS setup for %s failed: %s", hp,
	    conn_ssl_errors(ebuf, sizeof(ebuf)));
	goto fail;
hs_fail:
	err_prefix(e, "TLS handshake with %s", hp);
fail:
	ERR_clear_error();
	/* The socket is in an unknown TLS state: nothing more can be sent
	 * in clear on it; the caller closes the connection. */
	SSL_free(c->ssl);
	c->ssl = NULL;
	SSL_CTX_free(c->ctx);
	c->ctx = NULL;
	c->tls_info[0] = '\0';
	free(c->sess_key);
	c->sess_key = NULL;
	return -1;
}

bool
conn_is_tls(const struct conn *c)
{
	return c->ssl != NULL;
}

const char *
conn_tls_info(const struct conn *c)
{
	return c->ssl != NULL ? c->tls_info : "";
}

void
conn_set_timeout(struct conn *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

void
conn_set_deadline(struct conn *c, int64_t deadline_ms)
{
	c->deadline_ms = deadline_ms;
}

static ssize_t
conn_tls_read(struct conn *c, void *p, size_t n, struct err *e)
{
	char ebuf[512], hp[300];
	int r, serr, saved;

	if (n > INT_MAX)
		n = INT_MAX;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_read(c->ssl, p, (int)n);
		if (r > 0)
			return r;
		serr = SSL_get_error(c->ssl, r);
		saved = errno;
		switch (serr) {
		case SSL_ERROR_WANT_READ:
			if (conn_wait(c, POLLIN, e) == -1)
				return -1;
			continue;
		case SSL_ERROR_WANT_WRITE:
			if (conn_wait(c, POLLOUT, e) == -1)
				return -1;
			continue;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		default:
			break;
		}
		conn_hostport(c, hp, sizeof(hp));
		if (serr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			if (saved == 0)
				return 0;
			c->tls_failed = true;
			return err_set(e, ERR_CONNECT, "read from %s: %s", hp,
			    conn_strerror(saved, ebuf, sizeof(ebuf)));
		}
		c->tls_failed = true;
		return err_set(e, ERR_TLS, "TLS read from %s: %s", hp,
		    conn_ssl_errors(ebuf, sizeof(ebuf)));
	}
}

ssize_t
conn_read(struct conn *c, void *p, size_t n, struct err *e)
{
	char ebuf[128], hp[300];
	ssize_t r;

	if (n == 0)
		return err_set(e, ERR_INTERNAL, "conn_read of 0 bytes");
	if (c->ssl != NULL)
		return conn_tls_read(c, p, n, e);
	for (;;) {
		r = recv(c->fd, p, n, 0);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (conn_wait(c, POLLIN, e) == -1)
				return -1;
			continue;
		}
		conn_hostport(c, hp, sizeof(hp));
		return err_set(e, ERR_CONNECT, "read from %s: %s", hp,
		    conn_strerror(errno, ebuf, sizeof(ebuf)));
	}
}

static int
conn_tls_write(struct conn *c, const char *p, size_t n, struct err *e)
{
	char ebuf[512], hp[300];
	int r, serr, saved;
	size_t chunk;

	while (n > 0) {
		chunk = n > INT_MAX ? INT_MAX : n;
		ERR_clear_error();
		errno = 0;
		r = SSL_write(c->ssl, p, (int)chunk);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		serr = SSL_get_error(c->ssl, r);
		saved = errno;
		if (serr == SSL_ERROR_WANT_WRITE) {
			if (conn_wait(c, POLLOUT, e) == -1)
				return -1;
			continue;
		}
		if (serr == SSL_ERROR_WANT_READ) {
			if (conn_wait(c, POLLIN, e) == -1)
				return -1;
			continue;
		}
		conn_hostport(c, hp, sizeof(hp));
		c->tls_failed = true;
		if (serr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
			return err_set(e, ERR_CONNECT, "write to %s: %s", hp,
			    saved != 0 ? conn_strerror(saved, ebuf,
			    sizeof(ebuf)) : "connection closed");
		if (serr == SSL_ERROR_ZERO_RETURN)
			return err_set(e, ERR_CONNECT,
			    "write to %s: connection closed", hp);
		c->tls_failed = true;
		return err_set(e, ERR_TLS, "TLS write to %s: %s", hp,
		    conn_ssl_errors(ebuf, sizeof(ebuf)));
	}
	return 0;
}

int
conn_write(struct conn *c, const void *p, size_t n, struct err *e)
{
	const char *cp = p;
	char ebuf[128], hp[300];
	ssize_t w;

	if (c->ssl != NULL)
		return conn_tls_write(c, cp, n, e);
	while (n > 0) {
		w = send(c->fd, cp, n, MSG_NOSIGNAL);
		if (w >= 0) {
			cp += w;
			n -= (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (conn_wait(c, POLLOUT, e) == -1)
				return -1;
			continue;
		}
		conn_hostport(c, hp, sizeof(hp));
		return err_set(e, ERR_CONNECT, "write to %s: %s", hp,
		    conn_strerror(errno, ebuf, sizeof(ebuf)));
	}
	return 0;
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

size_t
conn_pending(const struct conn *c)
{
	int n;

	if (c->ssl == NULL)
		return 0;
	n = SSL_pending(c->ssl);
	return n > 0 ? (size_t)n : 0;
}

void
conn_free(struct conn **cp)
{
	struct conn *c = *cp;

	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		/* Best effort close_notify: one non-blocking attempt, no
		 * waiting for the peer's. */
		if (!c->tls_failed)
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	/* Only after TLS: on a plain connection the first OpenSSL call
	 * would initialise libcrypto, some 1.5 MB of resident pages. */
	if (c->ssl != NULL || c->ctx != NULL) {
		SSL_CTX_free(c->ctx);
		ERR_clear_error();
	}
	if (c->fd != -1)
		(void)close(c->fd);
	free(c->sess_key);
	free(c->host);
	free(c);
	*cp = NULL;
}
