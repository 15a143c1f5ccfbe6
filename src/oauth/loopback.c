/*
 * loopback.c - the redirect listener of the authorization-code flow
 * (RFC 8252 section 7.3): 127.0.0.1 on a port the kernel picks, one HTTP
 * request read (bounded), answered with a short page. The pasted URL on
 * standard input is accepted instead, for servers without a browser.
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "oauth/oauth.h"
#include "util/buf.h"
#include "util/xmalloc.h"

#define REQ_MAX (16 * 1024)

static const char page[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Cache-Control: no-store\r\n"
    "Connection: close\r\n\r\n"
    "<!doctype html><title>mailpull</title><p>mailpull received the "
    "authorization response. You can close this window and return to "
    "the terminal.</p>\n";
static const char bad[] =
    "HTTP/1.1 404 Not Found\r\nConnection: close\r\n"
    "Content-Length: 0\r\n\r\n";

int
oauth_loopback_open(int *fd_r, int *port_r, struct err *e)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd;

	*fd_r = -1;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return err_set(e, ERR_LOCAL, "socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		err_set(e, ERR_LOCAL, "cannot listen on 127.0.0.1: %s",
		    strerror(errno));
		close(fd);
		return -1;
	}
	*fd_r = fd;
	*port_r = ntohs(sin.sin_port);
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read one request head from a browser; *target_r the request target of
 * a GET, or NULL (not a GET with a query: answered 404). */
static void
serve_one(int cfd, char **target_r)
{
	struct buf b;
	struct pollfd p = { .fd = cfd, .events = POLLIN };
	char *sp, *sp2;
	int64_t end = now_ms() + 10000;
	ssize_t n;
	char *w;

	*target_r = NULL;
	buf_init(&b, REQ_MAX);
	while (strstr(b.data != NULL ? b.data : "", "\r\n\r\n") == NULL &&
	    strstr(b.data != NULL ? b.data : "", "\n\n") == NULL) {
		int left = (int)(end - now_ms());

		if (left <= 0 || poll(&p, 1, left) <= 0)
			goto out;
		if ((w = buf_reserve(&b, 2048)) == NULL)
			goto out;
		n = read(cfd, w, 2048);
		if (n <= 0)
			goto out;
		buf_commit(&b, (size_t)n);
	}
	if (strncmp(b.data, "GET ", 4) != 0 ||
	    (sp = strchr(b.data + 4, ' ')) == NULL ||
	    (sp2 = strchr(b.data + 4, '\n')) == NULL || sp > sp2 ||
	    memchr(b.data + 4, '?', (size_t)(sp - b.data - 4)) == NULL)
		goto out;
	*target_r = xstrndup(b.data + 4, (size_t)(sp - b.data - 4));
out:
	if (*target_r != NULL)
		(void)!write(cfd, page, sizeof(page) - 1);
	else
		(void)!write(cfd, bad, sizeof(bad) - 1);
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);
	buf_free(&b);
}

int
oauth_loopback_wait(int lfd, int in_fd, int timeout_s, char **target_r,
    struct err *e)
{
	struct pollfd p[2];
	struct buf line;
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	int np, cfd, r;
	char *w, *nl;
	ssize_t n;

	*target_r = NULL;
	buf_init(&line, REQ_MAX);
	for (;;) {
		int left = (int)(end - now_ms());

		if (left <= 0)
			break;
		np = 0;
		p[np].fd = lfd;
		p[np++].events = POLLIN;
		if (in_fd >= 0) {
			p[np].fd = in_fd;
			p[np++].events = POLLIN;
		}
		r = poll(p, (nfds_t)np, left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			buf_free(&line);
			return err_set(e, ERR_LOCAL, "poll: %s",
			    strerror(errno));
		}
		if (r == 0)
			break;
		if (p[0].revents & POLLIN) {
			cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd >= 0) {
				serve_one(cfd, target_r);
				close(cfd);
				if (*target_r != NULL)
					break;
			}
		}
		if (np > 1 && (p[1].revents & (POLLIN | POLLHUP))) {
			if ((w = buf_reserve(&line, 1024)) == NULL) {
				buf_free(&line);
				return err_set(e, ERR_CONFIG, "the pasted "
				    "line is too long");
			}
			n = read(in_fd, w, 1024);
			if (n <= 0) {
				/* End of input: keep waiting for the
				 * browser only. */
				in_fd = -1;
				if (line.len == 0)
					continue;
				n = 0;
			}
			buf_commit(&line, (size_t)n);
			if ((nl = memchr(line.data, '\n', line.len)) != NULL ||
			    in_fd == -1) {
				size_t len = nl != NULL ?
				    (size_t)(nl - line.data) : line.len;

				while (len > 0 && (line.data[len - 1] == '\r' ||
				    line.data[len - 1] == ' '))
					len--;
				if (len == 0) {
					buf_reset(&line);
					continue;
				}
				*target_r = xstrndup(line.data, len);
				break;
			}
		}
	}
	if (line.data != NULL)
		explicit_bzero(line.data, line.len);
	buf_free(&line);
	if (*target_r == NULL)
		return err_set(e, ERR_TIMEOUT, "no authorization response "
		    "within %d seconds", timeout_s);
	return 0;
}
