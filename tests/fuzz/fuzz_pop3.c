/*
 * fuzz_pop3.c - libFuzzer target for the POP3 engine, its parsers and the
 * dot-stream.
 *
 * Input: byte 0 picks the command set, bytes 1..4 the sizes of the chunks
 * the rest is fed in (cycled), the rest is what the server sends.
 * Besides crashes and leaks it checks two properties: event texts are
 * NUL-terminated at len, and the dot-stream decodes the same bytes whatever
 * the chunking.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "proto/dotstream.h"
#include "proto/pop3.h"
#include "proto/pp.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define HDR 5

static void
check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static void
queue(struct pop3 *p, uint8_t mode)
{
	if (mode & 1)
		(void)pop3_send(p, POP3_AUTH, (mode & 2) ? "PLAIN" :
		    "PLAIN AGJvYgBzZWNyZXQ=");
	(void)pop3_send(p, POP3_CAPA, NULL);
	(void)pop3_send(p, POP3_USER, "bob");
	(void)pop3_send(p, POP3_PASS, "secret");
	(void)pop3_send(p, POP3_STAT, NULL);
	(void)pop3_send(p, POP3_UIDL, (mode & 4) ? "1" : NULL);
	(void)pop3_send(p, POP3_LIST, (mode & 8) ? "1" : NULL);
	(void)pop3_send(p, POP3_RETR, "1");
	(void)pop3_send(p, POP3_TOP, "1 0");
	(void)pop3_send(p, POP3_DELE, "1");
	(void)pop3_send(p, POP3_QUIT, NULL);
}

static void
look(struct pop3_capa *capa, const struct pop3_event *ev)
{
	char uid[POP3_UIDL_MAX + 1], stamp[256];
	uint32_t n;
	uint64_t sz;

	check(ev->text != NULL && ev->text[ev->len] == '\0');
	switch (ev->kind) {
	case POP3_EV_STATUS:
		if (ev->cmd == POP3_GREETING)
			(void)pop3_parse_apop_stamp(ev->text, ev->len, stamp,
			    sizeof(stamp));
		else if (ev->cmd == POP3_STAT)
			(void)pop3_parse_stat(ev->text, ev->len, &n, &sz);
		else if (ev->cmd == POP3_UIDL) {
			if (pop3_parse_uidl(ev->text, ev->len, &n, uid) == 0)
				check(strlen(uid) >= 1 &&
				    strlen(uid) <= POP3_UIDL_MAX);
		} else if (ev->cmd == POP3_LIST)
			(void)pop3_parse_list(ev->text, ev->len, &n, &sz);
		(void)pop3_code_name(ev->code);
		break;
	case POP3_EV_LINE:
		if (ev->cmd == POP3_CAPA)
			pop3_capa_line(capa, ev->text, ev->len);
		else if (ev->cmd == POP3_UIDL) {
			if (pop3_parse_uidl(ev->text, ev->len, &n, uid) == 0)
				check(n >= 1 && strlen(uid) >= 1 &&
				    strlen(uid) <= POP3_UIDL_MAX);
		} else if (ev->cmd == POP3_LIST)
			(void)pop3_parse_list(ev->text, ev->len, &n, &sz);
		break;
	case POP3_EV_DATA:
		check(ev->len > 0);
		check(ev->cmd == POP3_RETR || ev->cmd == POP3_TOP);
		break;
	default:
		break;
	}
	(void)pop3_cmd_name(ev->cmd);
}

static void
engine(const uint8_t *hdr, const uint8_t *data, size_t size)
{
	struct pop3 *p = pop3_create();
	struct pp *pp = pop3_pp(p);
	struct pop3_capa capa;
	struct pop3_event ev;
	const char *cause;
	size_t off = 0, n, i = 0, len;
	int r, conts = 0;

	pop3_capa_clear(&capa);
	queue(p, hdr[0]);
	for (;;) {
		while ((r = pop3_event_next(p, &ev, &cause)) == 1) {
			look(&capa, &ev);
			/* Answer a SASL continuation as a driver would. */
			if (ev.kind == POP3_EV_CONT && conts++ < 4)
				(void)pop3_send(p, POP3_AUTH_RESP,
				    conts < 4 ? "c2VjcmV0" : "*");
		}
		if (r == -1) {
			check(cause != NULL);
			break;
		}
		(void)pp_output(pp, &len);
		pp_output_consume(pp, len);
		if (off == size)
			break;
		n = (size_t)hdr[1 + i++ % 4] * 37 + 1;
		n = MP_MIN(n, size - off);
		n = MP_MIN(n, pp_input_room(pp));
		if (n == 0)
			break;
		if (pp_input(pp, data + off, n) == -1)
			__builtin_trap();
		off += n;
	}
	pop3_free(&p);
}

/* The dot-stream decodes the same whatever the chunking. */
static void
dots(const uint8_t *hdr, const uint8_t *data, size_t size)
{
	struct dotstream a, b;
	char *out1, *out2;
	size_t used1, len1, off = 0, len2 = 0, n, used, outlen, i = 0;

	out1 = malloc(size + 1);
	out2 = malloc(size + 1);
	check(out1 != NULL && out2 != NULL);
	dotstream_init(&a);
	used1 = dotstream_feed(&a, (const char *)data, size, out1, size + 1,
	    &len1);
	check(a.done ? used1 <= size : used1 == size);
	check(len1 <= size);

	dotstream_init(&b);
	while (off < size && !b.done) {
		n = (size_t)(hdr[1 + i++ % 4] % 7) + 1;
		n = MP_MIN(n, size - off);
		used = dotstream_feed(&b, (const char *)data + off, n,
		    out2 + len2, n + 1, &outlen);
		check(b.done || used == n);
		len2 += outlen;
		off += used;
		check(len2 <= size + 1);
	}
	check(a.done == b.done);
	check(off == used1);
	/* Unfinished, the chunked run may still hold one CR back... as may
	 * the whole one: both hold the same state. */
	check(a.state == b.state);
	check(len1 == len2);
	check(memcmp(out1, out2, len1) == 0);
	free(out1);
	free(out2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *buf, size_t size)
{
	if (size < HDR)
		return 0;
	engine(buf, buf + HDR, size - HDR);
	dots(buf, buf + HDR, size - HDR);
	return 0;
}
