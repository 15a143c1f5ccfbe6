#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/pp.h"
#include "proto/smtp.h"
#include "util/buf.h"

/*
 * Feed in to s step bytes at a time, pulling replies after each piece;
 * the transcript "CMD CODE [ESC] <text>\n" per reply goes to t. Returns
 * the last smtp_reply_next() result.
 */
static int
feed(struct smtp *s, const char *in, size_t len, size_t step, struct buf *t,
    const char **cause_r)
{
	struct smtp_reply r;
	size_t off = 0, n;
	int x;

	for (;;) {
		while ((x = smtp_reply_next(s, &r, cause_r)) == 1)
			assert_int_equal(buf_printf(t, "%s %d [%s] <%.*s> %zu\n",
			    smtp_cmd_name(r.cmd), r.code, r.esc, (int)r.len,
			    r.text, r.nlines), 0);
		if (x == -1 || off == len)
			return x;
		n = MP_MIN(step, len - off);
		assert_int_equal(pp_input(smtp_pp(s), in + off, n), 0);
		off += n;
	}
}

static const char ehlo_in[] =
    "220 mx.example ESMTP ready\r\n"
    "250-mx.example hello\r\n"
    "250-PIPELINING\r\n"
    "250-SIZE 10240000\r\n"
    "250-8bitmime\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-SMTPUTF8\r\n"
    "250 STARTTLS\r\n"
    "250 2.1.0 Ok\r\n"
    "550 5.1.1 <nobody@x>: Recipient address rejected\r\n"
    "250 2.1.5 Ok\r\n"
    "354 End data with <CR><LF>.<CR><LF>\r\n"
    "250 2.0.0 Ok: queued as 12345\r\n";

static const char ehlo_out[] =
    "greeting 220 [] <mx.example ESMTP ready> 1\n"
    "EHLO 250 [] <mx.example hello\nPIPELINING\nSIZE 10240000\n8bitmime\n"
    "ENHANCEDSTATUSCODES\nSMTPUTF8\nSTARTTLS> 7\n"
    "MAIL FROM 250 [2.1.0] <2.1.0 Ok> 1\n"
    "RCPT TO 550 [5.1.1] <5.1.1 <nobody@x>: Recipient address rejected> 1\n"
    "RCPT TO 250 [2.1.5] <2.1.5 Ok> 1\n"
    "DATA 354 [] <End data with <CR><LF>.<CR><LF>> 1\n"
    "end of data 250 [2.0.0] <2.0.0 Ok: queued as 12345> 1\n";

static void
queue_transaction(struct smtp *s)
{
	assert_int_equal(smtp_send(s, SMTP_EHLO, "client.example"), 0);
	assert_int_equal(smtp_send_mail(s, "a@b", NULL), 0);
	assert_int_equal(smtp_send_rcpt(s, "nobody@x"), 0);
	assert_int_equal(smtp_send_rcpt(s, "c@d"), 0);
	assert_int_equal(smtp_send(s, SMTP_DATA, NULL), 0);
	assert_int_equal(smtp_data_write(s, "hi\n", 3), 0);
	assert_int_equal(smtp_data_end(s, 1), 0);
}

/* The whole exchange at every chunk size from 1 (trickle) up. */
static void
test_replies_trickle(void **state)
{
	size_t step;

	for (step = 1; step <= sizeof(ehlo_in); step++) {
		struct smtp *s = smtp_create(false);
		struct buf t;
		const char *cause;
		const struct smtp_capa *c;

		buf_init(&t, 1 << 16);
		queue_transaction(s);
		assert_int_equal(feed(s, ehlo_in, sizeof(ehlo_in) - 1, step,
		    &t, &cause), 0);
		assert_string_equal(t.data, ehlo_out);
		c = smtp_capa(s);
		assert_true(c->pipelining && c->eightbitmime && c->smtputf8 &&
		    c->starttls && c->enhanced && c->size);
		assert_int_equal(c->size_max, 10240000);
		assert_int_equal(pp_pending_count(smtp_pp(s)), 0);
		buf_free(&t);
		smtp_free(&s);
		assert_null(s);
	}
}

static void
test_commands_out(void **state)
{
	struct smtp *s = smtp_create(false);
	struct smtp_mail_opts o = { true, true, 1234 };
	const char *out;
	size_t n;

	assert_int_equal(smtp_send(s, SMTP_EHLO, "me.example"), 0);
	assert_int_equal(smtp_send_mail(s, "", NULL), 0);
	assert_int_equal(smtp_send_mail(s, "x@y", &o), 0);
	assert_int_equal(smtp_send_rcpt(s, "\"a b\"@c"), 0);
	assert_int_equal(smtp_send(s, SMTP_RSET, NULL), 0);
	assert_int_equal(smtp_send(s, SMTP_STARTTLS, NULL), 0);
	assert_int_equal(smtp_send(s, SMTP_QUIT, NULL), 0);
	out = pp_output(smtp_pp(s), &n);
	assert_string_equal(out,
	    "EHLO me.example\r\n"
	    "MAIL FROM:<>\r\n"
	    "MAIL FROM:<x@y> BODY=8BITMIME SMTPUTF8 SIZE=1234\r\n"
	    "RCPT TO:<\"a b\"@c>\r\n"
	    "RSET\r\n"
	    "STARTTLS\r\n"
	    "QUIT\r\n");
	smtp_free(&s);

	/* LMTP: LHLO only. */
	s = smtp_create(true);
	assert_true(smtp_is_lmtp(s));
	assert_int_equal(smtp_send(s, SMTP_EHLO, "me"), -1);
	assert_int_equal(smtp_send(s, SMTP_LHLO, "me"), 0);
	out = pp_output(smtp_pp(s), &n);
	assert_string_equal(out, "LHLO me\r\n");
	smtp_free(&s);

	/* Wrong forms. */
	s = smtp_create(false);
	assert_int_equal(smtp_send(s, SMTP_LHLO, "me"), -1);
	assert_int_equal(smtp_send(s, SMTP_EHLO, NULL), -1);
	assert_int_equal(smtp_send(s, SMTP_EHLO, "a b"), -1);
	assert_int_equal(smtp_send(s, SMTP_EHLO, "a\r\nRSET"), -1);
	assert_int_equal(smtp_send(s, SMTP_MAIL, NULL), -1);
	assert_int_equal(smtp_send(s, SMTP_RCPT, NULL), -1);
	assert_int_equal(smtp_send(s, SMTP_DATA_END, NULL), -1);
	assert_int_equal(smtp_send(s, SMTP_GREETING, NULL), -1);
	assert_int_equal(smtp_send(s, SMTP_RSET, "x"), -1);
	assert_int_equal(smtp_send_rcpt(s, ""), -1);
	assert_int_equal(smtp_send_mail(s, "a>b", NULL), -1);
	assert_int_equal(smtp_data_end(s, 0), -1);
	out = pp_output(smtp_pp(s), &n);
	assert_int_equal(n, 0);
	smtp_free(&s);
}

static void
test_addr_check(void **state)
{
	static const char *const good[] = {
		"", "a@b", "first.last@example.org", "\"a b\"@x",
		"\"a\\\"b\"@x", "us\xc3\xa9r@exampl\xc3\xa9.org", "a+tag@b",
	};
	static const char *const bad[] = {
		"a\r\n@b", "a\rb@c", "a\nb@c", "a<b@c", "a>b@c", "<a@b>",
		"a b@c", "a@b> SIZE=1", "a\x7f@b", "a\t@b", "\"unterminated@b",
		"a@b\r\nRSET",
	};
	char longa[SMTP_ADDR_MAX + 2];
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(good); i++)
		if (smtp_addr_check(good[i]) != 0)
			fail_msg("refused: %s", good[i]);
	for (i = 0; i < MP_ARRAY_LEN(bad); i++)
		if (smtp_addr_check(bad[i]) != -1)
			fail_msg("accepted: %s", bad[i]);
	memset(longa, 'a', sizeof(longa) - 1);
	longa[sizeof(longa) - 1] = '\0';
	assert_int_equal(smtp_addr_check(longa), -1);
	longa[SMTP_ADDR_MAX] = '\0';
	assert_int_equal(smtp_addr_check(longa), 0);
	assert_int_equal(smtp_addr_check(NULL), -1);
	assert_false(smtp_addr_8bit("a@b"));
	assert_true(smtp_addr_8bit("\xc3\xa9@b"));
}

struct bad_reply {
	const char *in;
	const char *cause;	/* substring */
};

static const struct bad_reply bad_replies[] = {
	{ "22\r\n", "3-digit" },
	{ "2200 x\r\n", "3-digit" },
	{ "220x\r\n", "3-digit" },
	{ "120 x\r\n", "3-digit" },
	{ "620 x\r\n", "3-digit" },
	{ "260 x\r\n", "3-digit" },
	{ "abc x\r\n", "3-digit" },
	{ " 220 x\r\n", "3-digit" },
	{ "\r\n", "3-digit" },
	{ "220-a\r\n221 b\r\n", "different codes" },
	{ "220-a\r\n250-b\r\n", "different codes" },
	{ "220 a\0b\r\n", "NUL" },
	{ "220 a\rb\r\n", "bare CR" },
};

static void
test_bad_replies(void **state)
{
	size_t i, step;

	for (i = 0; i < MP_ARRAY_LEN(bad_replies); i++) {
		const struct bad_reply *b = &bad_replies[i];
		size_t len = strlen(b->in);

		if (i == 11 || i == 12)
			len = 9;
		for (step = 1; step <= len; step++) {
			struct smtp *s = smtp_create(false);
			struct buf t;
			const char *cause = NULL;

			buf_init(&t, 4096);
			if (feed(s, b->in, len, step, &t, &cause) != -1)
				fail_msg("accepted #%zu at step %zu", i, step);
			assert_non_null(cause);
			if (strstr(cause, b->cause) == NULL)
				fail_msg("#%zu: cause \"%s\"", i, cause);
			buf_free(&t);
			smtp_free(&s);
		}
	}
}

static void
test_limits(void **state)
{
	struct smtp *s;
	struct buf in, t;
	const char *cause;
	size_t i;

	/* A line of exactly SMTP_LINE_MAX is fine, one more is not. */
	for (i = 0; i < 2; i++) {
		s = smtp_create(false);
		buf_init(&in, 1 << 20);
		buf_init(&t, 1 << 20);
		assert_int_equal(buf_adds(&in, "220 "), 0);
		while (in.len < SMTP_LINE_MAX + i)
			assert_int_equal(buf_add(&in, "x", 1), 0);
		assert_int_equal(buf_adds(&in, "\r\n"), 0);
		if (i == 0) {
			assert_int_equal(feed(s, in.data, in.len, 4096, &t,
			    &cause), 0);
			assert_int_equal(pp_pending_count(smtp_pp(s)), 0);
		} else {
			assert_int_equal(feed(s, in.data, in.len, 4096, &t,
			    &cause), -1);
			assert_non_null(strstr(cause, "too long"));
		}
		buf_free(&in);
		buf_free(&t);
		smtp_free(&s);
	}

	/* SMTP_REPLY_LINES lines are fine, one more is not. */
	for (i = 0; i < 2; i++) {
		size_t j, nl = SMTP_REPLY_LINES + i;

		s = smtp_create(false);
		buf_init(&in, 1 << 20);
		buf_init(&t, 1 << 20);
		for (j = 0; j + 1 < nl; j++)
			assert_int_equal(buf_adds(&in, "220-line\r\n"), 0);
		assert_int_equal(buf_adds(&in, "220 last\r\n"), 0);
		if (i == 0) {
			assert_int_equal(feed(s, in.data, in.len, 7, &t,
			    &cause), 0);
			assert_non_null(strstr(t.data, "> 128\n"));
		} else {
			assert_int_equal(feed(s, in.data, in.len, 7, &t,
			    &cause), -1);
			assert_non_null(strstr(cause, "too many"));
		}
		buf_free(&in);
		buf_free(&t);
		smtp_free(&s);
	}

	/* A reply with nothing pending. */
	s = smtp_create(false);
	buf_init(&t, 4096);
	assert_int_equal(feed(s, "220 hi\r\n250 extra\r\n", 19, 19, &t,
	    &cause), -1);
	assert_non_null(strstr(cause, "no command pending"));
	buf_free(&t);
	smtp_free(&s);

	/* LF-only lines and a bare code are tolerated. */
	s = smtp_create(false);
	buf_init(&t, 4096);
	assert_int_equal(feed(s, "220\n", 4, 1, &t, &cause), 0);
	assert_string_equal(t.data, "greeting 220 [] <> 1\n");
	buf_free(&t);
	smtp_free(&s);
}

/* LMTP: one reply per accepted recipient after the dot, in order. */
static void
test_lmtp_replies(void **state)
{
	static const char in[] =
	    "220 lmtp ready\r\n"
	    "250-host\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"
	    "250 2.1.0 OK\r\n"
	    "250 2.1.5 OK\r\n"
	    "550 5.1.1 <b@x> User doesn't exist: b@x\r\n"
	    "250 2.1.5 OK\r\n"
	    "354 OK\r\n"
	    "250 2.0.0 <a@x> Saved\r\n"
	    "452 4.2.2 <c@x> Quota exceeded\r\n";
	static const char want[] =
	    "greeting 220 [] <lmtp ready> 1\n"
	    "LHLO 250 [] <host\nPIPELINING\nENHANCEDSTATUSCODES> 3\n"
	    "MAIL FROM 250 [2.1.0] <2.1.0 OK> 1\n"
	    "RCPT TO 250 [2.1.5] <2.1.5 OK> 1\n"
	    "RCPT TO 550 [5.1.1] <5.1.1 <b@x> User doesn't exist: b@x> 1\n"
	    "RCPT TO 250 [2.1.5] <2.1.5 OK> 1\n"
	    "DATA 354 [] <OK> 1\n"
	    "end of data 250 [2.0.0] <2.0.0 <a@x> Saved> 1\n"
	    "end of data 452 [4.2.2] <4.2.2 <c@x> Quota exceeded> 1\n";
	size_t step;

	for (step = 1; step < sizeof(in); step += 3) {
		struct smtp *s = smtp_create(true);
		struct buf t;
		const char *cause;

		buf_init(&t, 8192);
		assert_int_equal(smtp_send(s, SMTP_LHLO, "me"), 0);
		assert_int_equal(smtp_send_mail(s, "", NULL), 0);
		assert_int_equal(smtp_send_rcpt(s, "a@x"), 0);
		assert_int_equal(smtp_send_rcpt(s, "b@x"), 0);
		assert_int_equal(smtp_send_rcpt(s, "c@x"), 0);
		assert_int_equal(smtp_send(s, SMTP_DATA, NULL), 0);
		assert_int_equal(smtp_data_write(s, "x", 1), 0);
		assert_int_equal(smtp_data_end(s, 2), 0);
		assert_int_equal(feed(s, in, sizeof(in) - 1, step, &t,
		    &cause), 0);
		assert_string_equal(t.data, want);
		assert_true(smtp_capa(s)->pipelining);
		smtp_capa_clear(s);
		assert_false(smtp_capa(s)->pipelining);
		buf_free(&t);
		smtp_free(&s);
	}
}

static void
test_esc(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "2.0.0 ok", "2.0.0" }, { "5.1.1", "5.1.1" },
		{ "4.123.456 x", "4.123.456" }, { "3.0.0 x", "" },
		{ "5.1234.1 x", "" }, { "5.1.1x", "" }, { "5..1 x", "" },
		{ "5.1. x", "" }, { "hello", "" }, { "", "" },
	};
	char out[16];
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(cases); i++) {
		smtp_esc_parse(cases[i].in, strlen(cases[i].in), out);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("%s: got \"%s\"", cases[i].in, out);
	}
}

/* Encode in with chunks split at cut (and all at once): the output. */
static char *
encode_split(const char *in, size_t len, size_t cut, size_t *olen_r)
{
	struct smtp_enc e;
	char *out = malloc(2 * len + SMTP_DATA_END_MAX + 1);
	size_t o = 0;

	assert_non_null(out);
	smtp_enc_init(&e);
	o += smtp_enc_encode(&e, in, cut, out + o);
	o += smtp_enc_encode(&e, in + cut, len - cut, out + o);
	o += smtp_enc_finish(&e, out + o);
	out[o] = '\0';
	*olen_r = o;
	return out;
}

struct enc_case {
	const char *in;
	size_t len;
	const char *out;
	size_t olen;
};

#define EC(i, o) { i, sizeof(i) - 1, o, sizeof(o) - 1 }
static const struct enc_case enc_cases[] = {
	EC("", ".\r\n"),
	EC("a", "a\r\n.\r\n"),
	EC("a\n", "a\r\n.\r\n"),
	EC("a\r\n", "a\r\n.\r\n"),
	EC("a\r", "a\r\n.\r\n"),
	EC("a\nb", "a\r\nb\r\n.\r\n"),
	EC("a\rb\n", "a\r\nb\r\n.\r\n"),
	EC(".\n", "..\r\n.\r\n"),
	EC("..x\n.", "...x\r\n..\r\n.\r\n"),
	EC("a\n.\nb\n", "a\r\n..\r\nb\r\n.\r\n"),
	/* SMTP smuggling: every way of spelling an early end. */
	EC("a\n.\n", "a\r\n..\r\n.\r\n"),
	EC("a\r.\r", "a\r\n..\r\n.\r\n"),
	EC("a\r\n.\n", "a\r\n..\r\n.\r\n"),
	EC("a\n.\r\nb", "a\r\n..\r\nb\r\n.\r\n"),
	EC("a\r\n.\rb", "a\r\n..\r\nb\r\n.\r\n"),
	EC("\r\r\n\n", "\r\n\r\n\r\n.\r\n"),
	EC("\n\r", "\r\n\r\n.\r\n"),
	EC("x.y\n", "x.y\r\n.\r\n"),
	EC("a\0b\n\0", "a\0b\r\n\0\r\n.\r\n"),
	EC("\x80\xff\n", "\x80\xff\r\n.\r\n"),
};

static void
test_encoder(void **state)
{
	size_t i, cut, olen;
	char *out;

	for (i = 0; i < MP_ARRAY_LEN(enc_cases); i++) {
		const struct enc_case *c = &enc_cases[i];

		for (cut = 0; cut <= c->len; cut++) {
			out = encode_split(c->in, c->len, cut, &olen);
			if (olen != c->olen || memcmp(out, c->out, olen) != 0)
				fail_msg("case %zu cut %zu", i, cut);
			free(out);
		}
	}
}

/* One byte at a time, random input: no bare CR/LF out, ends right. */
static void
test_encoder_random(void **state)
{
	struct smtp_enc e;
	char in[512], *out;
	size_t round, i, o;
	unsigned int seed = 12345;

	out = malloc(2 * sizeof(in) + SMTP_DATA_END_MAX);
	assert_non_null(out);
	for (round = 0; round < 2000; round++) {
		for (i = 0; i < sizeof(in); i++) {
			seed = seed * 1103515245 + 12345;
			in[i] = "\r\n.a\0"[(seed >> 16) % 5];
		}
		smtp_enc_init(&e);
		o = 0;
		for (i = 0; i < sizeof(in); i++)
			o += smtp_enc_encode(&e, in + i, 1, out + o);
		o += smtp_enc_finish(&e, out + o);
		assert_true(o <= 2 * sizeof(in) + SMTP_DATA_END_MAX);
		/* Every CR followed by LF, every LF preceded by CR. */
		for (i = 0; i < o; i++) {
			if (out[i] == '\r')
				assert_true(i + 1 < o && out[i + 1] == '\n');
			if (out[i] == '\n')
				assert_true(i > 0 && out[i - 1] == '\r');
		}
		/* The only CRLF.CRLF is the end. */
		for (i = 0; i + 5 <= o; i++)
			if (memcmp(out + i, "\r\n.\r\n", 5) == 0)
				assert_int_equal(i + 5, o);
		assert_true(o >= 3 && memcmp(out + o - 3, ".\r\n", 3) == 0);
	}
	free(out);
}

/* Through the engine: data lands in the output queue, encoded. */
static void
test_data_queue(void **state)
{
	struct smtp *s = smtp_create(false);
	const char *out;
	size_t n;

	assert_int_equal(smtp_data_write(s, "Subject: x\n\n.hi", 15), 0);
	assert_int_equal(smtp_data_write(s, "", 0), 0);
	assert_int_equal(smtp_data_end(s, 1), 0);
	out = pp_output(smtp_pp(s), &n);
	assert_int_equal(n, strlen("Subject: x\r\n\r\n..hi\r\n.\r\n"));
	assert_memory_equal(out, "Subject: x\r\n\r\n..hi\r\n.\r\n", n);
	/* greeting + the data end */
	assert_int_equal(pp_pending_count(smtp_pp(s)), 2);
	smtp_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies_trickle),
		cmocka_unit_test(test_commands_out),
		cmocka_unit_test(test_addr_check),
		cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_lmtp_replies),
		cmocka_unit_test(test_esc),
		cmocka_unit_test(test_encoder),
		cmocka_unit_test(test_encoder_random),
		cmocka_unit_test(test_data_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
