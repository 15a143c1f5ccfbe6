/*
 * TLS session reuse (conn.c's session cache) against an in-process
 * OpenSSL server with one SSL_CTX, which resumes whatever it can: a second
 * connection with the same settings resumes, one with other verification
 * settings (off/on, another CA file) never does, and clearing the cache
 * forgets everything.
 */
#include "common.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/conn.h"
#include "util/err.h"

struct server {
	int lfd;
	int port;
	int n;			/* connections to serve */
	SSL_CTX *ctx;
	pthread_t thr;
};

static char ca_path[PATH_MAX], ca_copy[PATH_MAX];

/* Write x as PEM into a new temporary file (under $TMPDIR); its name in
 * path. */
static void
pem_temp(char *path, size_t len, X509 *x)
{
	const char *base = getenv("TMPDIR");
	FILE *f;
	int fd;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	assert_true((size_t)snprintf(path, len, "%s/mp-resume-XXXXXX", base) <
	    len);
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(f = fdopen(fd, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
}

/* A self-signed P-256 certificate for 127.0.0.1, its PEM in two files
 * (the same anchors under two names: two cache keys). */
static SSL_CTX *
server_ctx(void)
{
	EVP_PKEY *pk;
	X509 *x;
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	SSL_CTX *ctx;

	pk = EVP_EC_gen("P-256");
	assert_non_null(pk);
	x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, pk), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x),
	    "CN", MBSTRING_ASC, (const unsigned char *)"resume test", -1, -1,
	    0), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)),
	    1);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "IP:127.0.0.1");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);

	pem_temp(ca_path, sizeof(ca_path), x);
	pem_temp(ca_copy, sizeof(ca_copy), x);

	ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, pk), 1);
	X509_free(x);
	EVP_PKEY_free(pk);
	return ctx;
}

static void *
server_main(void *arg)
{
	struct server *s = arg;
	char buf[64];
	SSL *ssl;
	int fd, i;

	for (i = 0; i < s->n; i++) {
		if ((fd = accept(s->lfd, NULL, NULL)) == -1)
			break;
		ssl = SSL_new(s->ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1 &&
		    SSL_write(ssl, "hello\r\n", 7) == 7) {
			while (SSL_read(ssl, buf, sizeof(buf)) > 0)
				;
			(void)SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		close(fd);
	}
	return NULL;
}

static void
server_start(struct server *s, int n, int max_version)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len),
	    0);
	s->port = ntohs(sin.sin_port);
	s->n = n;
	s->ctx = server_ctx();
	if (max_version != 0)
		assert_int_equal(SSL_CTX_set_max_proto_version(s->ctx,
		    max_version), 1);
	assert_int_equal(pthread_create(&s->thr, NULL, server_main, s), 0);
}

static void
server_stop(struct server *s)
{
	assert_int_equal(pthread_join(s->thr, NULL), 0);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
	unlink(ca_path);
	unlink(ca_copy);
}

/* One connection: handshake, read the greeting (and with it the TLS 1.3
 * tickets), close. Returns whether the session was resumed. */
static bool
one(const struct server *s, bool verify, const char *ca)
{
	struct tls_opts o = { .verify = verify, .ca_file = ca };
	struct err e = { 0 };
	struct conn *c;
	char buf[16];
	bool resumed;

	assert_int_equal(conn_connect(&c, "127.0.0.1", s->port, 5000, &e), 0);
	if (conn_starttls(c, &o, &e) == -1)
		fail_msg("starttls: %s", err_msg(&e));
	assert_int_equal(conn_read(c, buf, 7, &e), 7);
	assert_memory_equal(buf, "hello\r\n", 7);
	resumed = strstr(conn_tls_info(c), "TLS session resumed") != NULL;
	assert_non_null(strstr(conn_tls_info(c), "TLSv1."));
	conn_free(&c);
	return resumed;
}

static void
test_resume(void **state)
{
	struct server s;

	conn_tls_cache_clear();
	server_start(&s, 9, 0);
	assert_false(one(&s, false, NULL));
	assert_true(one(&s, false, NULL));
	/* Verification on: never the unverified session. */
	assert_false(one(&s, true, ca_path));
	assert_true(one(&s, true, ca_path));
	assert_true(one(&s, true, ca_path));
	/* Other trust anchors: another key. */
	assert_false(one(&s, true, ca_copy));
	/* Verification off again: its own sessions. */
	assert_true(one(&s, false, NULL));
	conn_tls_cache_clear();
	assert_false(one(&s, false, NULL));
	assert_false(one(&s, true, ca_path));
	server_stop(&s);
	conn_tls_cache_clear();
}

/* TLS 1.2: a session (not a single-use ticket) is reused again. */
static void
test_resume_tls12(void **state)
{
	struct server s;

	conn_tls_cache_clear();
	server_start(&s, 4, TLS1_2_VERSION);
	assert_false(one(&s, true, ca_path));
	assert_true(one(&s, true, ca_path));
	assert_true(one(&s, true, ca_path));
	assert_false(one(&s, false, NULL));
	server_stop(&s);
	conn_tls_cache_clear();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_resume_tls12),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
