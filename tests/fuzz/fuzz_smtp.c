/*
 * fuzz_smtp.c - libFuzzer target for the SMTP/LMTP reply parser and the
 * DATA encoder.
 *
 * Input: byte 0 picks SMTP or LMTP and pipelining, bytes 1..4 the sizes of
 * the chunks the rest is fed in (cycled); the rest is what the server
 * sends. Also encodes the same bytes as message data, whole and in those
 * chunks, and checks: the same output either way, every CR is followed by
 * LF and every LF preceded by CR, and CRLF.CRLF occurs only at the end.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "proto/pp.h"
#include "proto/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define HDR 5

static void
check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static void
queue(struct smtp *s, bool lmtp, uint8_t mode)
{
	(void)smtp_send(s, lmtp ? SMTP_LHLO : SMTP_EHLO, "client.test");
	if (mode & 2)
		(void)smtp_send(s, SMTP_STARTTLS, NULL);
	(void)smtp_send_mail(s, "a@b", NULL);
	(void)smtp_send_rcpt(s, "c@d");
	(void)smtp_send_rcpt(s, "e@f");
	(void)smtp_send(s, SMTP_DATA, NULL);
	(void)smtp_data_write(s, "x\n.\n", 4);
	(void)smtp_data_end(s, lmtp ? 2 : 1);
	(void)smtp_send(s, SMTP_RSET, NULL);
	(void)smtp_send(s, SMTP_QUIT, NULL);
}

static void
encode_check(const uint8_t *in, size_t n, const uint8_t *cuts)
{
	struct smtp_enc e;
	char *a, *b;
	size_t na = 0, nb = 0, off = 0, k = 0, step, i;

	a = malloc(2 * n + SMTP_DATA_END_MAX);
	b = malloc(2 * n + SMTP_DATA_END_MAX);
	check(a != NULL && b != NULL);
	smtp_enc_init(&e);
	na = smtp_enc_encode(&e, in, n, a);
	na += smtp_enc_finish(&e, a + na);
	smtp_enc_init(&e);
	while (off < n) {
		step = (size_t)cuts[k++ % 4] + 1;
		if (step > n - off)
			step = n - off;
		nb += smtp_enc_encode(&e, in + off, step, b + nb);
		off += step;
	}
	nb += smtp_enc_finish(&e, b + nb);
	check(na == nb && memcmp(a, b, na) == 0);
	for (i = 0; i < na; i++) {
		if (a[i] == '\r')
			check(i + 1 < na && a[i + 1] == '\n');
		if (a[i] == '\n')
			check(i > 0 && a[i - 1] == '\r');
		if (i + 5 <= na && memcmp(a + i, "\r\n.\r\n", 5) == 0)
			check(i + 5 == na);
	}
	check(na >= 3 && memcmp(a + na - 3, ".\r\n", 3) == 0);
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp *s;
	struct smtp_reply r;
	const char *cause;
	size_t off, k = 0, step;
	bool lmtp;
	int x = 0;

	if (size < HDR)
		return 0;
	lmtp = data[0] & 1;
	encode_check(data + HDR, size - HDR, data + 1);
	s = smtp_create(lmtp);
	queue(s, lmtp, data[0]);
	for (off = HDR; off < size && x != -1;) {
		step = (size_t)data[1 + k++ % 4] + 1;
		if (step > size - off)
			step = size - off;
		if (pp_input(smtp_pp(s), data + off, step) == -1)
			break;
		off += step;
		while ((x = smtp_reply_next(s, &r, &cause)) == 1) {
			check(r.text != NULL && r.text[r.len] == '\0');
			check(r.code >= 200 && r.code <= 559);
			check(r.nlines >= 1 && r.nlines <= SMTP_REPLY_LINES);
			check(strlen(r.esc) < sizeof(r.esc));
		}
		if (x == -1)
			check(cause != NULL);
	}
	(void)smtp_capa(s);
	smtp_free(&s);
	return 0;
}
