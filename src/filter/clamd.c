/*
 * clamd.c - the ClamAV daemon's INSTREAM command (clamd(8)): "zINSTREAM\0",
 * then chunks of <4-byte big-endian length><bytes>, a zero-length chunk
 * to end, then one NUL-terminated reply line.
 */
#include "common.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/filter.h"
#include "filter/filter_impl.h"
#include "util/xmalloc.h"

#define CLAMD_REPLY_MAX	1024

int
filter_clamd_reply_parse(const char *reply, size_t len, char *virus,
    size_t cap)
{
	char line[CLAMD_REPLY_MAX];
	const char *p, *end;
	size_t n = 0, i, o = 0;

	if (cap == 0)
		return -1;
	virus[0] = '\0';
	/* One line, ended by NUL or LF (z- and n-commands). */
	for (i = 0; i < len && reply[i] != '\0' && reply[i] != '\n'; i++) {
		if (n + 1 >= sizeof(line))
			break;
		line[n++] = reply[i];
	}
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
		n--;
	line[n] = '\0';
	/* "stream: " is optional; clamd also answers "INSTREAM size limit
	 * exceeded. ERROR" without it. */
	p = line;
	if (strncmp(p, "stream:", 7) == 0)
		for (p += 7; *p == ' '; p++)
			;
	end = line + n;
	if (strcmp(p, "OK") == 0)
		return 0;
	if (end - p > 6 && strcmp(end - 6, " FOUND") == 0) {
		for (; p < end - 6 && o + 1 < cap; p++)
			if ((unsigned char)*p >= 0x20 && *p != 0x7f)
				virus[o++] = *p;
		virus[o] = '\0';
		if (o == 0) {
			(void)snprintf(virus, cap, "clamd: nameless FOUND");
			return -1;
		}
		return 1;
	}
	for (p = line; *p != '\0' && o + 1 < cap; p++)
		if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			virus[o++] = *p;
	virus[o] = '\0';
	if (o == 0)
		(void)snprintf(virus, cap, "empty reply");
	return -1;
}

int
clamd_scan(const struct filter_addr *addr, int timeout_ms, struct spool *sp,
    char *virus, size_t cap, struct err *e)
{
	struct conn *c = NULL;
	char *chunk, reply[CLAMD_REPLY_MAX];
	size_t rl = 0;
	ssize_t n;
	uint32_t be;
	int r = -1;

	chunk = xmalloc(FILTER_CHUNK + 4);
	if (filter_connect(addr, timeout_ms, &c, e) == -1)
		goto out;
	if (conn_write(c, "zINSTREAM", 10, e) == -1)
		goto out;
	if (spool_rewind(sp, e) == -1)
		goto out;
	for (;;) {
		n = spool_read(sp, chunk + 4, FILTER_CHUNK, e);
		if (n == -1)
			goto out;
		be = htonl((uint32_t)n);
		memcpy(chunk, &be, 4);
		if (conn_write(c, chunk, (size_t)n + 4, e) == -1) {
			/* clamd closes early past its StreamMaxLength and
			 * says why; read it below. */
			if (n > 0)
				break;
			goto out;
		}
		if (n == 0)
			break;
	}
	while (rl < sizeof(reply) - 1) {
		n = conn_read(c, reply + rl, sizeof(reply) - 1 - rl, e);
		if (n == -1)
			goto out;
		if (n == 0)
			break;
		rl += (size_t)n;
		if (memchr(reply, '\0', rl) != NULL)
			break;
	}
	reply[rl] = '\0';
	r = filter_clamd_reply_parse(reply, rl, virus, cap);
	if (r == -1)
		err_set(e, ERR_TEMP, "clamd: %s", virus);
out:
	if (r == -1 && e != NULL && e->cls != ERR_TEMP)
		err_prefix(e, "clamd");
	conn_free(&c);
	free(chunk);
	return r;
}
