#include "common.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "net/conn.h"
#include "util/err.h"

/* A listening socket on 127.0.0.1 with an ephemeral port. */
static int
listener(int *port_r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port_r = ntohs(sin.sin_port);
	return fd;
}

static void
test_refused(void **state)
{
	struct err e = { 0 };
	struct conn *c = (struct conn *)&e;
	int fd, port;

	/* A port that was just free: nothing listens there now. */
	fd = listener(&port);
	close(fd);
	assert_int_equal(conn_connect(&c, "127.0.0.1", port, 2000, &e), -1);
	assert_null(c);
	assert_int_equal(e.cls, ERR_CONNECT);
	assert_non_null(strstr(err_msg(&e), "connection refused"));
	assert_non_null(strstr(err_msg(&e), "127.0.0.1:"));
	err_clear(&e);
}

static void
test_dns(void **state)
{
	struct err e = { 0 };
	struct conn *c;

	assert_int_equal(conn_connect(&c, "nonexistent.invalid", 110, 2000,
	    &e), -1);
	assert_null(c);
	assert_int_equal(e.cls, ERR_DNS);
	assert_non_null(strstr(err_msg(&e), "nonexistent.invalid"));
	err_clear(&e);
}

static void
test_bad_args(void **state)
{
	struct err e = { 0 };
	struct conn *c;

	assert_int_equal(conn_connect(&c, "", 110, 2000, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_int_equal(conn_connect(&c, "localhost", 0, 2000, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_int_equal(conn_connect(&c, "localhost", 65536, 2000, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	err_clear(&e);
}

/* The kernel completes the connect; the server never says a word. */
static void
test_read_timeout(void **state)
{
	struct err e = { 0 };
	struct conn *c;
	int64_t t0, dt;
	char b[16];
	int lfd, port;

	lfd = listener(&port);
	assert_int_equal(conn_connect(&c, "127.0.0.1", port, 2000, &e), 0);
	assert_false(conn_is_tls(c));
	assert_string_equal(conn_tls_info(c), "");
	assert_int_equal(conn_pending(c), 0);
	conn_set_timeout(c, 500);
	t0 = conn_now_ms();
	assert_int_equal(conn_read(c, b, sizeof(b), &e), -1);
	dt = conn_now_ms() - t0;
	assert_int_equal(e.cls, ERR_TIMEOUT);
	assert_string_equal(err_msg(&e),
	    "timed out after 0.5 s waiting for the server");
	assert_true(dt >= 450 && dt < 1500);
	err_clear(&e);

	/* The pass deadline wins over a longer step timeout. */
	conn_set_timeout(c, 5000);
	conn_set_deadline(c, conn_now_ms() + 300);
	t0 = conn_now_ms();
	assert_int_equal(conn_read(c, b, sizeof(b), &e), -1);
	dt = conn_now_ms() - t0;
	assert_int_equal(e.cls, ERR_TIMEOUT);
	assert_string_equal(err_msg(&e), "pass deadline exceeded");
	assert_true(dt >= 250 && dt < 1500);
	err_clear(&e);

	/* A deadline already past fails at once. */
	conn_set_deadline(c, conn_now_ms() - 1);
	assert_int_equal(conn_read(c, b, sizeof(b), &e), -1);
	assert_int_equal(e.cls, ERR_TIMEOUT);
	err_clear(&e);

	conn_free(&c);
	assert_null(c);
	conn_free(&c);
	close(lfd);
}

static void
test_tls_timeout(void **state)
{
	struct tls_opts o = { .verify = true };
	struct err e = { 0 };
	struct conn *c;
	int64_t t0, dt;
	int lfd, port;

	lfd = listener(&port);
	assert_int_equal(conn_connect(&c, "127.0.0.1", port, 2000, &e), 0);
	conn_set_timeout(c, 400);
	t0 = conn_now_ms();
	assert_int_equal(conn_starttls(c, &o, &e), -1);
	dt = conn_now_ms() - t0;
	assert_int_equal(e.cls, ERR_TIMEOUT);
	assert_non_null(strstr(err_msg(&e), "TLS handshake"));
	assert_true(dt >= 350 && dt < 1500);
	assert_false(conn_is_tls(c));
	err_clear(&e);
	conn_free(&c);
	close(lfd);
}

/* Plain bytes both ways, then an orderly end of stream. */
static void
test_plain_roundtrip(void **state)
{
	struct err e = { 0 };
	struct conn *c;
	char b[64];
	int lfd, sfd, port;
	ssize_t n;

	lfd = listener(&port);
	assert_int_equal(conn_connect(&c, "localhost", port, 2000, &e), 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd != -1);
	assert_int_equal(write(sfd, "+OK hello\r\n", 11), 11);
	n = conn_read(c, b, sizeof(b), &e);
	assert_int_equal(n, 11);
	assert_memory_equal(b, "+OK hello\r\n", 11);
	assert_int_equal(conn_write(c, "QUIT\r\n", 6, &e), 0);
	assert_int_equal(read(sfd, b, sizeof(b)), 6);
	assert_memory_equal(b, "QUIT\r\n", 6);
	close(sfd);
	assert_int_equal(conn_read(c, b, sizeof(b), &e), 0);
	conn_free(&c);
	close(lfd);
}

/* Writing to a peer that went away is an error, never SIGPIPE. */
static void
test_write_closed(void **state)
{
	static char big[1 << 16];
	struct err e = { 0 };
	struct conn *c;
	int lfd, sfd, port, i, r = 0;

	lfd = listener(&port);
	assert_int_equal(conn_connect(&c, "127.0.0.1", port, 2000, &e), 0);
	conn_set_timeout(c, 2000);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd != -1);
	close(sfd);
	for (i = 0; i < 100 && r == 0; i++)
		r = conn_write(c, big, sizeof(big), &e);
	assert_int_equal(r, -1);
	assert_int_equal(e.cls, ERR_CONNECT);
	assert_non_null(strstr(err_msg(&e), "write to 127.0.0.1:"));
	err_clear(&e);
	conn_free(&c);
	close(lfd);
}

/* A server that hangs up at the TLS handshake. */
static void
test_tls_closed(void **state)
{
	struct tls_opts o = { .verify = true };
	struct err e = { 0 };
	struct conn *c;
	int lfd, sfd, port;

	lfd = listener(&port);
	assert_int_equal(conn_connect(&c, "127.0.0.1", port, 2000, &e), 0);
	conn_set_timeout(c, 2000);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd != -1);
	close(sfd);
	assert_int_equal(conn_starttls(c, &o, &e), -1);
	assert_int_equal(e.cls, ERR_TLS);
	assert_non_null(strstr(err_msg(&e), "TLS handshake with 127.0.0.1:"));
	err_clear(&e);
	conn_free(&c);
	close(lfd);
}

/* A server that answers the ClientHello with plain text. */
static void
test_tls_garbage(void **state)
{
	static const char junk[] = "+OK POP3 server ready, not TLS\r\n";
	struct tls_opts o = { .verify = false };
	struct err e = { 0 };
	struct conn *c;
	int lfd, sfd, port;

	lfd = listener(&port);
	assert_int_equal(conn_connect(&c, "127.0.0.1", port, 2000, &e), 0);
	conn_set_timeout(c, 2000);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd != -1);
	assert_int_equal(write(sfd, junk, sizeof(junk) - 1),
	    (ssize_t)sizeof(junk) - 1);
	assert_int_equal(conn_starttls(c, &o, &e), -1);
	assert_int_equal(e.cls, ERR_TLS);
	err_clear(&e);
	conn_free(&c);
	close(sfd);
	close(lfd);
}

static void
test_bad_ca_file(void **state)
{
	struct tls_opts o = { .verify = true,
	    .ca_file = "/nonexistent/ca.pem" };
	struct err e = { 0 };
	struct conn *c;
	int lfd, port;

	lfd = listener(&port);
	assert_int_equal(conn_connect(&c, "127.0.0.1", port, 2000, &e), 0);
	assert_int_equal(conn_starttls(c, &o, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(err_msg(&e), "/nonexistent/ca.pem"));
	err_clear(&e);
	conn_free(&c);
	close(lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_dns),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_read_timeout),
		cmocka_unit_test(test_tls_timeout),
		cmocka_unit_test(test_plain_roundtrip),
		cmocka_unit_test(test_write_closed),
		cmocka_unit_test(test_tls_closed),
		cmocka_unit_test(test_tls_garbage),
		cmocka_unit_test(test_bad_ca_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
