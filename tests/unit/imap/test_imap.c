#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap.h"
#include "proto/pp.h"
#include "util/buf.h"

/*
 * Each test feeds a server transcript and renders the events as text, one
 * per line; consecutive BODY_DATA chunks (and SEARCH batches) are merged,
 * so the rendering does not depend on how the input was split.
 */
struct run {
	struct buf log;
	int rc;			/* 0: all fed, -1: protocol error */
	const char *cause;
	enum imap_ev_kind last;
	bool have_last;
};

static void
run_init(struct run *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->log, 64 << 20);
}

static void
run_free(struct run *r)
{
	buf_free(&r->log);
}

static const char *
logstr(struct run *r)
{
	return r->log.data != NULL ? r->log.data : "";
}

static void
render(struct run *r, const struct imap_event *ev)
{
	const struct imap_fetch *f = ev->fetch;
	size_t i;
	bool merge = r->have_last && r->last == ev->kind &&
	    (ev->kind == IMAP_EV_BODY_DATA || ev->kind == IMAP_EV_SEARCH);

	r->have_last = true;
	r->last = ev->kind;
	switch (ev->kind) {
	case IMAP_EV_TAGGED:
	case IMAP_EV_STATUS:
		if (ev->kind == IMAP_EV_TAGGED)
			buf_printf(&r->log, "TAGGED A%04u %s ", ev->tag,
			    imap_cmd_name(ev->cmd));
		else
			buf_printf(&r->log, "STATUS%s ",
			    ev->greeting ? " greeting" : "");
		buf_printf(&r->log, "%s", imap_status_name(ev->status));
		if (ev->code != IMAP_CODE_NONE)
			buf_printf(&r->log, " [%s %llu]",
			    imap_code_name(ev->code),
			    (unsigned long long)ev->code_num);
		buf_printf(&r->log, " <%.*s>\n", (int)ev->len, ev->text);
		break;
	case IMAP_EV_CONT:
		buf_printf(&r->log, "CONT <%.*s>\n", (int)ev->len, ev->text);
		break;
	case IMAP_EV_CAPABILITY:
		buf_printf(&r->log, "CAPABILITY rev1=%d plus=%d\n",
		    ev->caps->imap4rev1, ev->caps->literal_plus);
		break;
	case IMAP_EV_EXISTS:
		buf_printf(&r->log, "EXISTS %u\n", ev->num);
		break;
	case IMAP_EV_RECENT:
		buf_printf(&r->log, "RECENT %u\n", ev->num);
		break;
	case IMAP_EV_EXPUNGE:
		buf_printf(&r->log, "EXPUNGE %u\n", ev->num);
		break;
	case IMAP_EV_SEARCH:
		if (merge && r->log.len > 0)
			r->log.len--;	/* drop the newline */
		else
			buf_printf(&r->log, "SEARCH");
		for (i = 0; i < ev->nuids; i++)
			buf_printf(&r->log, " %u", ev->uids[i]);
		buf_printf(&r->log, "\n");
		break;
	case IMAP_EV_BODY_BEGIN:
		buf_printf(&r->log, "BEGIN seq=%u %.*s size=%llu uid=%u\n",
		    f->seq, (int)ev->section_len, ev->section,
		    (unsigned long long)ev->size, f->has_uid ? f->uid : 0);
		break;
	case IMAP_EV_BODY_DATA:
		if (merge && r->log.len > 0)
			r->log.len--;
		else
			buf_printf(&r->log, "DATA seq=%u <", f->seq);
		if (merge)
			r->log.len--;	/* and the '>' */
		buf_add(&r->log, ev->text, ev->len);
		buf_printf(&r->log, ">\n");
		break;
	case IMAP_EV_BODY_END:
		buf_printf(&r->log, "END seq=%u\n", f->seq);
		break;
	case IMAP_EV_FETCH:
		buf_printf(&r->log, "FETCH seq=%u", f->seq);
		if (f->has_uid)
			buf_printf(&r->log, " uid=%u", f->uid);
		if (f->has_size)
			buf_printf(&r->log, " size=%llu",
			    (unsigned long long)f->size);
		if (f->has_flags)
			buf_printf(&r->log, " flags=%#x", f->flags);
		if (f->has_internaldate)
			buf_printf(&r->log, " date=<%s>", f->internaldate);
		buf_printf(&r->log, " nbody=%u nil=%d\n", f->nbody,
		    f->body_nil);
		break;
	}
}

static int
drain(struct imap *im, struct run *r)
{
	struct imap_event ev;
	const char *cause;
	int n;

	while ((n = imap_event_next(im, &ev, &cause)) == 1)
		render(r, &ev);
	if (n == -1) {
		assert_non_null(cause);
		r->cause = cause;
	}
	return n;
}

/* Feed in, chunk bytes at a time (0: as much as fits), draining. */
static void
feed(struct imap *im, const char *in, size_t n, size_t chunk, struct run *r)
{
	struct pp *pp = imap_pp(im);
	size_t off = 0, k;

	r->rc = 0;
	for (;;) {
		if (drain(im, r) == -1) {
			r->rc = -1;
			return;
		}
		if (off == n)
			return;
		k = n - off;
		if (chunk > 0 && k > chunk)
			k = chunk;
		if (k > pp_input_room(pp))
			k = pp_input_room(pp);
		assert_true(k > 0);
		assert_int_equal(pp_input(pp, in + off, k), 0);
		off += k;
	}
}

static void
feed_split(struct imap *im, const char *in, size_t n, size_t split,
    struct run *r)
{
	struct pp *pp = imap_pp(im);

	r->rc = 0;
	assert_int_equal(pp_input(pp, in, split), 0);
	if (drain(im, r) == -1) {
		r->rc = -1;
		return;
	}
	feed(im, in + split, n - split, 0, r);
}

static const char *
output(struct imap *im, size_t *len_r)
{
	return pp_output(imap_pp(im), len_r);
}

static void
output_clear(struct imap *im)
{
	size_t n;

	(void)output(im, &n);
	pp_output_consume(imap_pp(im), n);
}

static void
assert_output(struct imap *im, const char *want)
{
	size_t n;
	const char *p = output(im, &n);

	if (n != strlen(want) || memcmp(p, want, n) != 0)
		fail_msg("output <%.*s>, want <%s>", (int)n, p, want);
	output_clear(im);
}

#define GREETING "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"

/* A fresh engine that has seen a greeting and queued n UID FETCHes. */
static struct imap *
session(int nfetch)
{
	struct imap *im = imap_create();
	struct run r;
	int i;

	run_init(&r);
	feed(im, "* OK ready\r\n", 12, 0, &r);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	for (i = 0; i < nfetch; i++)
		assert_int_equal(imap_cmd_uid_fetch(im, "1:*",
		    IMAP_FETCH_BODY), 0);
	output_clear(im);
	return im;
}

/* Run transcript on a fresh session(nfetch); returns rc, log in r. */
static int
run_on(const char *in, size_t n, int nfetch, size_t chunk, struct run *r)
{
	struct imap *im = session(nfetch);

	run_init(r);
	feed(im, in, n, chunk, r);
	imap_free(&im);
	assert_null(im);
	return r->rc;
}

static void
expect_log(const char *in, int nfetch, const char *want)
{
	struct run r;

	run_on(in, strlen(in), nfetch, 0, &r);
	if (r.rc != 0)
		fail_msg("protocol error: %s (log <%s>)", r.cause, logstr(&r));
	assert_string_equal(logstr(&r), want);
	run_free(&r);
}

static void
expect_error(const char *in, int nfetch, const char *cause_part)
{
	struct run r;

	run_on(in, strlen(in), nfetch, 0, &r);
	if (r.rc != -1)
		fail_msg("no error for <%s> (log <%s>)", in, logstr(&r));
	if (cause_part != NULL && strstr(r.cause, cause_part) == NULL)
		fail_msg("cause <%s>, want <%s>", r.cause, cause_part);
	run_free(&r);
}

static void
test_greetings(void **state)
{
	struct imap *im;
	struct run r;

	im = imap_create();
	run_init(&r);
	feed(im, GREETING, strlen(GREETING), 0, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(logstr(&r),
	    "STATUS greeting OK [CAPABILITY 0] <ready>\n");
	assert_true(imap_caps(im)->imap4rev1);
	assert_true(imap_caps(im)->literal_plus);
	assert_false(imap_caps(im)->starttls);
	run_free(&r);
	imap_free(&im);

	im = imap_create();
	run_init(&r);
	feed(im, "* PREAUTH hi\r\n", 14, 0, &r);
	assert_string_equal(logstr(&r), "STATUS greeting PREAUTH <hi>\n");
	run_free(&r);
	imap_free(&im);

	im = imap_create();
	run_init(&r);
	feed(im, "* BYE [UNAVAILABLE] go away\r\n", 29, 0, &r);
	assert_string_equal(logstr(&r),
	    "STATUS greeting BYE [UNAVAILABLE 0] <go away>\n");
	assert_true(imap_bye_seen(im));
	run_free(&r);
	imap_free(&im);

	/* Not a greeting. */
	im = imap_create();
	run_init(&r);
	feed(im, "+ hi\r\n", 6, 0, &r);
	assert_int_equal(r.rc, -1);
	run_free(&r);
	imap_free(&im);
	im = imap_create();
	run_init(&r);
	feed(im, "* 3 EXISTS\r\n", 12, 0, &r);
	assert_int_equal(r.rc, -1);
	/* A failed engine stays failed. */
	{
		struct imap_event ev;
		const char *cause;

		assert_int_equal(imap_event_next(im, &ev, &cause), -1);
		assert_non_null(cause);
	}
	run_free(&r);
	imap_free(&im);
}

static void
test_select(void **state)
{
	struct imap *im = session(0);
	struct run r;
	const char *in =
	    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
	    "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
	    "* 172 EXISTS\r\n"
	    "* 1 RECENT\r\n"
	    "* OK [UNSEEN 12] Message 12 is first unseen\r\n"
	    "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
	    "* OK [UIDNEXT 4392] Predicted next UID\r\n"
	    "* ok [X-WEIRD foo bar] whatever\r\n"
	    "A0001 OK [READ-WRITE] SELECT completed\r\n";

	assert_int_equal(imap_cmd_select(im, "INBOX", false), 0);
	assert_output(im, "A0001 SELECT INBOX\r\n");
	assert_int_equal(imap_pending_count(im), 1);
	run_init(&r);
	feed(im, in, strlen(in), 0, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(logstr(&r),
	    "STATUS OK [PERMANENTFLAGS 0] <Limited>\n"
	    "EXISTS 172\n"
	    "RECENT 1\n"
	    "STATUS OK [UNSEEN 12] <Message 12 is first unseen>\n"
	    "STATUS OK [UIDVALIDITY 3857529045] <UIDs valid>\n"
	    "STATUS OK [UIDNEXT 4392] <Predicted next UID>\n"
	    "STATUS OK [OTHER 0] <whatever>\n"
	    "TAGGED A0001 SELECT OK [READ-WRITE 0] <SELECT completed>\n");
	assert_int_equal(imap_pending_count(im), 0);
	run_free(&r);

	assert_int_equal(imap_cmd_select(im, "Sent Items", true), 0);
	assert_output(im, "A0002 EXAMINE \"Sent Items\"\r\n");
	imap_free(&im);
}

static void
test_tokens(void **state)
{
	/* Atoms, numbers, quoted with escapes, literal, NIL, nested lists
	 * (skipped), flags, body section with a list inside, origin. */
	expect_log("* 12 FETCH (FLAGS (\\Seen \\Deleted $Junk) "
	    "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
	    "RFC822.SIZE 4286 "
	    "ENVELOPE (\"date\" \"subj \\\"q\\\" \\\\\" ((NIL NIL \"a\" "
	    "\"b.c\")) NIL NIL NIL NIL NIL NIL \"<id>\") "
	    "BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") "
	    "NIL NIL \"7BIT\" 3 1 NIL NIL NIL)(\"TEXT\" \"HTML\" NIL NIL NIL "
	    "\"7BIT\" 4 1) \"ALTERNATIVE\") "
	    "MODSEQ (12345) X-GM-LABELS (\"\\\\Inbox\" foo) "
	    "BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\n"
	    "Message-ID: <x@y>\r\n\r\n"
	    " BODY[TEXT]<0> \"a\\\"b\\\\c\" UID 7 BINARY[1] NIL)\r\n", 0,
	    "BEGIN seq=12 BODY[HEADER.FIELDS (MESSAGE-ID)] size=21 uid=0\n"
	    "DATA seq=12 <Message-ID: <x@y>\r\n\r\n>\n"
	    "END seq=12\n"
	    "BEGIN seq=12 BODY[TEXT]<0> size=5 uid=0\n"
	    "DATA seq=12 <a\"b\\c>\n"
	    "END seq=12\n"
	    "FETCH seq=12 uid=7 size=4286 flags=0x9 "
	    "date=<17-Jul-1996 02:44:25 -0700> nbody=2 nil=1\n");
	/* An empty quoted body and an empty literal. */
	expect_log("* 1 FETCH (BODY[] \"\" UID 1)\r\n"
	    "* 2 FETCH (UID 2 BODY[] {0}\r\n)\r\n", 0,
	    "BEGIN seq=1 BODY[] size=0 uid=0\nEND seq=1\n"
	    "FETCH seq=1 uid=1 nbody=1 nil=0\n"
	    "BEGIN seq=2 BODY[] size=0 uid=2\nEND seq=2\n"
	    "FETCH seq=2 uid=2 nbody=1 nil=0\n");
	/* A literal inside a skipped value (ENVELOPE subject). */
	expect_log("* 3 FETCH (ENVELOPE (NIL {5}\r\nab)cd NIL) UID 9)\r\n", 0,
	    "FETCH seq=3 uid=9 nbody=0 nil=0\n");
	/* Unused untagged responses with literals are skipped. */
	expect_log("* LIST () \"/\" {5}\r\nINBOX\r\n"
	    "* ID (\"name\" \"Dovecot\")\r\n"
	    "* ENABLED CONDSTORE\r\n"
	    "* 4 XSTRANGE (a (b) {3}\r\n)))\r\n"
	    "* 5 EXISTS\r\n", 0,
	    "EXISTS 5\n");
	/* Case-insensitive keywords. */
	expect_log("* 5 fetch (uid 8 flags (\\seen))\r\n", 0,
	    "FETCH seq=5 uid=8 flags=0x1 nbody=0 nil=0\n");
}

/* The transcript the trickle tests use: two messages, UID after the body
 * in the second, unsolicited responses in between. */
static const char trickle_in[] =
    "* 1 FETCH (UID 101 RFC822.SIZE 12 BODY[] {12}\r\n"
    "Hello\r\nWorld)\r\n"
    "* 4 EXISTS\r\n"
    "* 3 EXPUNGE\r\n"
    "* 3 FETCH (FLAGS (\\Seen))\r\n"
    "* 2 FETCH (RFC822.SIZE 5 BODY[] {5}\r\n"
    "{3}\r\n UID 102)\r\n"
    "* 9 FETCH (UID 109 BODY[] NIL)\r\n"
    "* SEARCH 1 2 3\r\n"
    "+ more\r\n"
    "A0001 OK [EXPUNGEISSUED] done\r\n";

static const char trickle_want[] =
    "BEGIN seq=1 BODY[] size=12 uid=101\n"
    "DATA seq=1 <Hello\r\nWorld>\n"
    "END seq=1\n"
    "FETCH seq=1 uid=101 size=12 nbody=1 nil=0\n"
    "EXISTS 4\n"
    "EXPUNGE 3\n"
    "FETCH seq=3 flags=0x1 nbody=0 nil=0\n"
    "BEGIN seq=2 BODY[] size=5 uid=0\n"
    "DATA seq=2 <{3}\r\n>\n"
    "END seq=2\n"
    "FETCH seq=2 uid=102 size=5 nbody=1 nil=0\n"
    "FETCH seq=9 uid=109 nbody=0 nil=1\n"
    "SEARCH 1 2 3\n"
    "CONT <more>\n"
    "TAGGED A0001 UID FETCH OK [EXPUNGEISSUED 0] <done>\n";

static void
test_trickle(void **state)
{
	size_t n = sizeof(trickle_in) - 1, chunk, split;
	struct run r;

	expect_log(trickle_in, 1, trickle_want);
	for (chunk = 1; chunk <= n; chunk++) {
		run_on(trickle_in, n, 1, chunk, &r);
		if (r.rc != 0)
			fail_msg("chunk %zu: %s", chunk, r.cause);
		assert_string_equal(logstr(&r), trickle_want);
		run_free(&r);
	}
	for (split = 0; split <= n; split++) {
		struct imap *im = session(1);

		run_init(&r);
		feed_split(im, trickle_in, n, split, &r);
		if (r.rc != 0)
			fail_msg("split %zu: %s", split, r.cause);
		assert_string_equal(logstr(&r), trickle_want);
		run_free(&r);
		imap_free(&im);
	}
}

/* A large literal arrives in bounded chunks, never whole. */
static void
test_big_literal(void **state)
{
	struct imap *im = session(1);
	struct pp *pp = imap_pp(im);
	const size_t size = 10 * 1024 * 1024;
	char hdr[64], *blk;
	size_t left = size, got = 0, maxchunk = 0, k;
	struct imap_event ev;
	const char *cause;
	int n, ends = 0, fetches = 0;

	blk = malloc(65536);
	memset(blk, 'x', 65536);
	snprintf(hdr, sizeof(hdr), "* 1 FETCH (BODY[] {%zu}\r\n", size);
	assert_int_equal(pp_input(pp, hdr, strlen(hdr)), 0);
	for (;;) {
		while ((n = imap_event_next(im, &ev, &cause)) == 1) {
			if (ev.kind == IMAP_EV_BODY_DATA) {
				got += ev.len;
				maxchunk = MP_MAX(maxchunk, ev.len);
			} else if (ev.kind == IMAP_EV_BODY_END)
				ends++;
			else if (ev.kind == IMAP_EV_FETCH)
				fetches++;
		}
		assert_int_equal(n, 0);
		if (left == 0)
			break;
		k = MP_MIN(MP_MIN(left, 65536), pp_input_room(pp));
		assert_int_equal(pp_input(pp, blk, k), 0);
		left -= k;
		if (left == 0)
			assert_int_equal(pp_input(pp, " UID 5)\r\n", 9), 0);
	}
	assert_int_equal(got, size);
	assert_true(maxchunk <= IMAP_IN_MAX);
	assert_int_equal(ends, 1);
	assert_int_equal(fetches, 1);
	free(blk);
	imap_free(&im);
}

static void
test_truncated_literal(void **state)
{
	struct run r;
	const char *in = "* 1 FETCH (UID 4 BODY[] {100}\r\nonly a few";

	/* No END, no FETCH: the body is incomplete. */
	run_on(in, strlen(in), 1, 0, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(logstr(&r),
	    "BEGIN seq=1 BODY[] size=100 uid=4\nDATA seq=1 <only a few>\n");
	run_free(&r);
}

static void
test_tagged_codes(void **state)
{
	struct imap *im = session(0);
	struct run r;
	const char *in =
	    "A0001 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"
	    "A0002 BAD [CLIENTBUG] Bad set\r\n"
	    "* BYE [UNAVAILABLE] shutting down\r\n"
	    "A0003 OK\r\n";

	assert_int_equal(imap_cmd_login(im, "u", "p"), 0);
	assert_int_equal(imap_cmd_uid_store(im, "1:3", IMAP_STORE_DELETED), 0);
	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_LOGOUT), 0);
	assert_output(im, "A0001 LOGIN u p\r\n"
	    "A0002 UID STORE 1:3 +FLAGS.SILENT (\\Deleted)\r\n"
	    "A0003 LOGOUT\r\n");
	run_init(&r);
	feed(im, in, strlen(in), 0, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(logstr(&r),
	    "TAGGED A0001 LOGIN NO [AUTHENTICATIONFAILED 0] "
	    "<Invalid credentials>\n"
	    "TAGGED A0002 UID STORE BAD [CLIENTBUG 0] <Bad set>\n"
	    "STATUS BYE [UNAVAILABLE 0] <shutting down>\n"
	    "TAGGED A0003 LOGOUT OK <>\n");
	assert_true(imap_bye_seen(im));
	assert_int_equal(imap_code_err_class(IMAP_NO,
	    IMAP_CODE_AUTHENTICATIONFAILED), ERR_AUTH);
	assert_int_equal(imap_code_err_class(IMAP_NO, IMAP_CODE_UNAVAILABLE),
	    ERR_TEMP);
	assert_int_equal(imap_code_err_class(IMAP_BAD, IMAP_CODE_NONE),
	    ERR_PROTOCOL);
	run_free(&r);
	imap_free(&im);

	/* A tag we never sent. */
	expect_error("A0009 OK what\r\n", 1, "tagged");
	expect_error("* 1 FETCH (UID 1)\r\nA0001 OK\r\nA0001 OK\r\n", 1,
	    "tagged");
}

static void
test_bad_literals(void **state)
{
	expect_error("* 1 FETCH (BODY[] {4294967296}\r\n", 1, "maximum");
	expect_error("* 1 FETCH (BODY[] {-1}\r\n", 1, "literal");
	expect_error("* 1 FETCH (BODY[] {abc}\r\n", 1, "literal");
	expect_error("* 1 FETCH (BODY[] {}\r\n", 1, "literal");
	expect_error("* 1 FETCH (BODY[] {99999999999999999999999}\r\n", 1,
	    "literal");
	expect_error("* 1 FETCH (BODY[] {5} UID 1)\r\n", 1, "literal");
	expect_error("* 1 FETCH (BODY[] {5\r\n", 1, "literal");
	/* Under a configured maximum. */
	{
		struct imap *im = session(1);
		struct run r;
		const char *in = "* 1 FETCH (BODY[] {1001}\r\n";

		imap_set_max_literal(im, 1000);
		run_init(&r);
		feed(im, in, strlen(in), 0, &r);
		assert_int_equal(r.rc, -1);
		run_free(&r);
		imap_free(&im);
	}
}

static void
test_malformed(void **state)
{
	expect_error("* 1 FETCH (UID 1\r\n", 1, "ended inside");
	expect_error("* 1 FETCH (UID x)\r\n", 1, "number");
	expect_error("* 1 FETCH (UID 0)\r\n", 1, "number");
	expect_error("* 1 FETCH (UID 4294967296)\r\n", 1, "number");
	expect_error("* 1 FETCH (BODY[] \"abc)\r\n", 1, "quoted");
	expect_error("* 1 FETCH (BODY[ NIL)\r\n", 1, NULL);
	expect_error("* 1 FETCH UID 1\r\n", 1, NULL);
	expect_error("* 1 FETCH (UID 1) x\r\n", 1, NULL);
	expect_error("* 0 FETCH (UID 1)\r\n", 1, NULL);
	expect_error("* 1 FETCH (FLAGS \\Seen)\r\n", 1, NULL);
	expect_error("* OK [UIDVALIDITY abc] x\r\n", 1, "code");
	expect_error("* OK [UIDVALIDITY 0] x\r\n", 1, "code");
	expect_error("* OK [ALERT x\r\n", 1, "code");
	{
		struct run r;

		run_on("* 1 FETCH (UID\0 1)\r\n", 21, 1, 0, &r);
		assert_int_equal(r.rc, -1);
		assert_non_null(strstr(r.cause, "NUL"));
		run_free(&r);
	}
	expect_error("* 1 FETCH (UID 1)\n", 1, "bare CR");
	expect_error("* 1 FETCH (UID\r1)\r\n", 1, NULL);
	expect_error("garbage\r\n", 1, NULL);
	expect_error("(\r\n", 1, NULL);
}

static void
test_depth(void **state)
{
	char in[256];
	int d;

	/* 1 (FETCH) + 15 nested: fine; one more: error. */
	for (d = 15; d <= 16; d++) {
		int i, o = snprintf(in, sizeof(in), "* 1 FETCH (X ");

		for (i = 0; i < d; i++)
			in[o++] = '(';
		for (i = 0; i < d; i++)
			in[o++] = ')';
		o += snprintf(in + o, sizeof(in) - (size_t)o, ")\r\n");
		if (d == 15)
			expect_log(in, 0, "FETCH seq=1 nbody=0 nil=0\n");
		else
			expect_error(in, 0, "deep");
	}
	expect_error("* 1 FETCH (X ((a)))))\r\n", 0, NULL);
	/* Deep nesting in an unused response, too. */
	expect_error("* LIST ((((((((((((((((((x))))))))))))))))))\r\n", 0,
	    "deep");
}

static void
test_line_too_long(void **state)
{
	struct imap *im = session(1);
	struct pp *pp = imap_pp(im);
	char *blk = malloc(1 << 20);
	size_t fed = 0, k;
	struct imap_event ev;
	const char *cause = NULL;
	int n = 0;

	/* A 100 MB line without CRLF: rejected once the bound is passed,
	 * having buffered no more than IMAP_IN_MAX. */
	memset(blk, 'a', 1 << 20);
	memcpy(blk, "* 1 FETCH (", 11);
	while (fed < (size_t)100 << 20) {
		k = MP_MIN((size_t)1 << 20, pp_input_room(pp));
		if (k == 0)
			break;
		assert_int_equal(pp_input(pp, blk, k), 0);
		fed += k;
		assert_true(pp_input_pending(pp) <= IMAP_IN_MAX);
		if ((n = imap_event_next(im, &ev, &cause)) != 0)
			break;
		memset(blk, 'a', 16);
	}
	assert_int_equal(n, -1);
	assert_non_null(strstr(cause, "too long"));
	assert_true(fed <= IMAP_IN_MAX);
	free(blk);
	imap_free(&im);

	/* A long line that does fit is fine. */
	{
		size_t len = IMAP_LINE_MAX - 100;
		char *in = malloc(len + 64);
		int o = snprintf(in, 64, "* OK ");
		struct run r;

		memset(in + o, 't', len - (size_t)o);
		memcpy(in + len, "\r\n", 3);
		run_on(in, len + 2, 0, 0, &r);
		assert_int_equal(r.rc, 0);
		run_free(&r);
		free(in);
		/* One byte over, with its CRLF: rejected. */
		len = IMAP_LINE_MAX + 1;
		in = malloc(len + 3);
		memset(in, 't', len);
		memcpy(in, "* OK ", 5);
		memcpy(in + len, "\r\n", 3);
		run_on(in, len + 2, 0, 0, &r);
		assert_int_equal(r.rc, -1);
		run_free(&r);
		free(in);
	}
}

static void
test_search(void **state)
{
	struct run r;
	char *in;
	size_t o, i, cap = 20 * 1024 * 1024;
	uint64_t sum = 0, want = 0;
	struct imap *im;
	struct imap_event ev;
	const char *cause;
	int n;
	size_t count = 0;

	expect_log("* SEARCH\r\n* SEARCH 4 5 (MODSEQ 917162500)\r\n"
	    "* search 9\r\n", 0, "SEARCH 4 5 9\n");
	expect_error("* SEARCH 1 x\r\n", 0, "SEARCH");
	expect_error("* SEARCH 0\r\n", 0, "SEARCH");
	expect_error("* SEARCH 4294967296\r\n", 0, "SEARCH");
	expect_error("* SEARCH 1\r2\r\n", 0, "SEARCH");
	/* "* SEARCHX" is not SEARCH: skipped as unknown. */
	expect_log("* SEARCHX 1\r\n", 0, "");

	/* A million UIDs on one line (far beyond the 64 KiB line limit),
	 * fed in odd chunks: streamed in batches. */
	in = malloc(cap);
	o = (size_t)snprintf(in, cap, "* SEARCH");
	for (i = 1; i <= 1000000; i++) {
		o += (size_t)snprintf(in + o, cap - o, " %zu", i * 3);
		want += i * 3;
	}
	o += (size_t)snprintf(in + o, cap - o, "\r\nA0001 OK done\r\n");
	im = session(0);
	assert_int_equal(imap_cmd_uid_search(im, IMAP_SEARCH_ALL, 0, 0), 0);
	assert_output(im, "A0001 UID SEARCH ALL\r\n");
	{
		size_t off = 0, k;
		bool tagged = false;

		for (;;) {
			while ((n = imap_event_next(im, &ev, &cause)) == 1) {
				if (ev.kind == IMAP_EV_SEARCH) {
					assert_true(ev.nuids <=
					    IMAP_SEARCH_BATCH);
					for (i = 0; i < ev.nuids; i++)
						sum += ev.uids[i];
					count += ev.nuids;
				} else if (ev.kind == IMAP_EV_TAGGED)
					tagged = true;
			}
			assert_int_equal(n, 0);
			if (off == o)
				break;
			k = MP_MIN(MP_MIN(o - off, 7777),
			    pp_input_room(imap_pp(im)));
			assert_int_equal(pp_input(imap_pp(im), in + off, k), 0);
			off += k;
		}
		assert_true(tagged);
	}
	assert_int_equal(count, 1000000);
	assert_true(sum == want);
	imap_free(&im);
	free(in);

	/* Trickle a small one. */
	{
		const char *s = "* SEARCH 10 200 3000\r\nA0001 OK\r\n";
		size_t chunk;

		for (chunk = 1; chunk < strlen(s); chunk++) {
			run_on(s, strlen(s), 1, chunk, &r);
			assert_int_equal(r.rc, 0);
			assert_string_equal(logstr(&r), "SEARCH 10 200 3000\n"
			    "TAGGED A0001 UID FETCH OK <>\n");
			run_free(&r);
		}
	}
}

static void
test_search_cmds(void **state)
{
	struct imap *im = session(0);

	assert_int_equal(imap_cmd_uid_search(im, IMAP_SEARCH_UNSEEN, 0, 0), 0);
	assert_int_equal(imap_cmd_uid_search(im, IMAP_SEARCH_ALL, 500, 0), 0);
	assert_int_equal(imap_cmd_uid_search(im, IMAP_SEARCH_UNSEEN, 5, 9), 0);
	assert_int_equal(imap_cmd_uid_search(im, IMAP_SEARCH_ALL, 9, 5), -1);
	assert_int_equal(imap_cmd_uid_fetch(im, "1:5,8", IMAP_FETCH_MSGID),
	    0);
	assert_int_equal(imap_cmd_uid_fetch(im, "7", IMAP_FETCH_FLAGS), 0);
	assert_int_equal(imap_cmd_uid_fetch(im, "1 x", IMAP_FETCH_BODY), -1);
	assert_int_equal(imap_cmd_uid_fetch(im, "", IMAP_FETCH_BODY), -1);
	assert_int_equal(imap_cmd_uid_store(im, "3", IMAP_STORE_SEEN), 0);
	assert_int_equal(imap_cmd_uid_store(im, "3\r\n", IMAP_STORE_SEEN),
	    -1);
	assert_int_equal(imap_cmd_uid_expunge(im, "3:4"), 0);
	assert_int_equal(imap_cmd_uid_expunge(im, "3 4"), -1);
	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_EXPUNGE), 0);
	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_CLOSE), 0);
	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_NOOP), 0);
	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_CAPABILITY), 0);
	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_STARTTLS), 0);
	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_LOGIN), -1);
	assert_output(im,
	    "A0001 UID SEARCH UNSEEN\r\n"
	    "A0002 UID SEARCH UID 500:* ALL\r\n"
	    "A0003 UID SEARCH UID 5:9 UNSEEN\r\n"
	    "A0004 UID FETCH 1:5,8 (UID RFC822.SIZE "
	    "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n"
	    "A0005 UID FETCH 7 (UID RFC822.SIZE FLAGS INTERNALDATE)\r\n"
	    "A0006 UID STORE 3 +FLAGS.SILENT (\\Seen)\r\n"
	    "A0007 UID EXPUNGE 3:4\r\n"
	    "A0008 EXPUNGE\r\n"
	    "A0009 CLOSE\r\n"
	    "A0010 NOOP\r\n"
	    "A0011 CAPABILITY\r\n"
	    "A0012 STARTTLS\r\n");
	assert_int_equal(imap_tag_last(im), 12);
	imap_free(&im);
}

struct trace {
	struct buf b;
};

static void
trace_fn(void *arg, const char *dir, const char *line, size_t len)
{
	struct trace *t = arg;

	buf_printf(&t->b, "%s: %.*s\n", dir, (int)len, line);
}

static void
test_login_literal(void **state)
{
	struct imap *im = session(0);
	struct trace t;
	struct run r;
	const char pass[] = "p\"w\\d\xc3\xa9";	/* p"w\dé */
	const char *in;

	buf_init(&t.b, 1 << 20);
	pp_set_trace(imap_pp(im), trace_fn, &t);
	/* No LITERAL+: "{n}", then wait for "+". */
	assert_int_equal(imap_cmd_login(im, "joe", pass), 0);
	assert_true(imap_output_waiting(im));
	assert_output(im, "A0001 LOGIN joe {7}\r\n");
	/* A command queued now must not overtake the literal. */
	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_CAPABILITY), 0);
	assert_output(im, "");
	run_init(&r);
	feed(im, "+ Ready for literal data\r\n", 26, 0, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(logstr(&r), "");	/* used by the engine */
	assert_false(imap_output_waiting(im));
	assert_output(im, "p\"w\\d\xc3\xa9\r\nA0002 CAPABILITY\r\n");
	in = "A0001 OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n"
	    "* CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS\r\n"
	    "A0002 OK\r\n";
	feed(im, in, strlen(in), 0, &r);
	assert_int_equal(r.rc, 0);
	assert_true(imap_caps(im)->uidplus);
	run_free(&r);

	/* LITERAL+: "{n+}" and everything at once. */
	assert_int_equal(imap_cmd_login(im, "j o", pass), 0);
	assert_false(imap_output_waiting(im));
	assert_output(im, "A0003 LOGIN \"j o\" {7+}\r\np\"w\\d\xc3\xa9\r\n");

	/* No CR/LF injection, anywhere. */
	assert_int_equal(imap_cmd_login(im, "joe", "a\r\nA1 DELETE x"), -1);
	assert_int_equal(imap_cmd_login(im, "j\noe", "x"), -1);
	assert_int_equal(imap_cmd_select(im, "INBOX\r\nA9 LOGOUT", false), -1);
	assert_int_equal(imap_cmd_authenticate(im, "PL AIN", NULL, false),
	    -1);
	assert_int_equal(imap_cmd_authenticate(im, "X", "a\nb", true), -1);
	assert_output(im, "");
	assert_int_equal(imap_tag_last(im), 3);
	/* In PLAIN a CR is only base64 data. */
	assert_int_equal(imap_cmd_auth_plain(im, NULL, "u", "a\rb", true), 0);
	assert_output(im, "A0004 AUTHENTICATE PLAIN AHUAYQ1i\r\n");

	/* The trace never shows the password or the user. */
	assert_null(memmem(t.b.data, t.b.len, "w\\d", 3));
	assert_null(strstr(t.b.data, "joe"));
	assert_non_null(strstr(t.b.data, "C: A0001 LOGIN ***\n"));
	assert_non_null(strstr(t.b.data, "C: A0003 LOGIN ***\n"));
	assert_non_null(strstr(t.b.data, "C: A0002 CAPABILITY\n"));
	imap_free(&im);
	buf_free(&t.b);
}

static void
test_login_rejected_literal(void **state)
{
	struct imap *im = session(0);
	struct run r;

	assert_int_equal(imap_cmd_login(im, "joe", "\xff"), 0);
	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_LOGOUT), 0);
	assert_output(im, "A0001 LOGIN joe {1}\r\n");
	/* The server refuses the literal: the rest of LOGIN is dropped and
	 * LOGOUT goes. */
	run_init(&r);
	feed(im, "A0001 NO [LIMIT] no literal\r\n", 29, 0, &r);
	assert_int_equal(r.rc, 0);
	assert_string_equal(logstr(&r),
	    "TAGGED A0001 LOGIN NO [LIMIT 0] <no literal>\n");
	assert_output(im, "A0002 LOGOUT\r\n");
	assert_false(imap_output_waiting(im));
	/* A "+" nobody waits for is the caller's. */
	feed(im, "+ \r\n", 4, 0, &r);
	assert_string_equal(logstr(&r),
	    "TAGGED A0001 LOGIN NO [LIMIT 0] <no literal>\nCONT <>\n");
	run_free(&r);
	imap_free(&im);
}

static void
test_auth_plain(void **state)
{
	struct imap *im = session(0);
	struct trace t;
	struct run r;
	const char *in;

	buf_init(&t.b, 1 << 20);
	pp_set_trace(imap_pp(im), trace_fn, &t);
	/* SASL-IR: inline. base64("\0tim\0tanstaaftanstaaf"). */
	assert_int_equal(imap_cmd_auth_plain(im, NULL, "tim",
	    "tanstaaftanstaaf", true), 0);
	assert_output(im, "A0001 AUTHENTICATE PLAIN "
	    "AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n");
	/* Without: after "+". */
	assert_int_equal(imap_cmd_auth_plain(im, "adm", "tim", "pw", false),
	    0);
	assert_output(im, "A0002 AUTHENTICATE PLAIN\r\n");
	assert_true(imap_output_waiting(im));
	run_init(&r);
	feed(im, "+ \r\n", 4, 0, &r);
	assert_output(im, "YWRtAHRpbQBwdw==\r\n");
	/* The server asks again: the caller cancels. */
	feed(im, "+ \r\n", 4, 0, &r);
	assert_string_equal(logstr(&r), "CONT <>\n");
	assert_int_equal(imap_cont_send(im, "*", false), 0);
	assert_output(im, "*\r\n");
	assert_int_equal(imap_cont_send(im, "a\nb", false), -1);
	in = "A0002 BAD cancelled\r\nA0001 OK [CAPABILITY IMAP4rev1] ok\r\n";
	feed(im, in, strlen(in), 0, &r);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	assert_int_equal(imap_cmd_authenticate(im, "XOAUTH2", "", true), 0);
	assert_output(im, "A0003 AUTHENTICATE XOAUTH2 =\r\n");

	assert_null(strstr(t.b.data, "AHRpbQB0"));
	assert_null(strstr(t.b.data, "YWRtAHRpbQBwdw"));
	assert_non_null(strstr(t.b.data, "C: A0001 AUTHENTICATE PLAIN ***\n"));
	assert_non_null(strstr(t.b.data, "C: A0002 AUTHENTICATE PLAIN\n"));
	assert_non_null(strstr(t.b.data, "C: ***\n"));
	imap_free(&im);
	buf_free(&t.b);
}

static void
test_starttls_caps(void **state)
{
	struct imap *im = imap_create();
	struct run r;
	const char *in = "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] "
	    "hi\r\nA0001 OK Begin TLS\r\n";

	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_STARTTLS), 0);
	run_init(&r);
	feed(im, in, strlen(in), 0, &r);
	assert_int_equal(r.rc, 0);
	assert_false(imap_caps(im)->starttls);
	assert_false(imap_caps(im)->imap4rev1);
	assert_int_equal(pp_input_pending(imap_pp(im)), 0);
	run_free(&r);
	imap_free(&im);
}

static void
test_idle(void **state)
{
	struct imap *im = session(0);
	struct run r;
	const char *in = "+ idling\r\n* 5 EXISTS\r\n";

	assert_int_equal(imap_cmd_simple(im, IMAP_CMD_IDLE), 0);
	assert_output(im, "A0001 IDLE\r\n");
	run_init(&r);
	feed(im, in, strlen(in), 0, &r);
	assert_string_equal(logstr(&r), "CONT <idling>\nEXISTS 5\n");
	assert_int_equal(imap_cont_send(im, "DONE", false), 0);
	assert_output(im, "DONE\r\n");
	in = "A0001 OK IDLE terminated\r\n";
	feed(im, in, strlen(in), 0, &r);
	assert_int_equal(r.rc, 0);
	assert_int_equal(imap_pending_count(im), 0);
	run_free(&r);
	imap_free(&im);
}

static void
test_caps_parse(void **state)
{
	struct imap_caps c;
	const char *s = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
	    "SORT LITERAL+ AUTH=PLAIN auth=xoauth2 AUTH=OAUTHBEARER STARTTLS "
	    "LOGINDISABLED UIDPLUS MOVE CONDSTORE  ";

	imap_caps_parse(&c, s, strlen(s));
	assert_true(c.imap4rev1 && c.sasl_ir && c.id && c.enable && c.idle);
	assert_true(c.literal_plus && c.auth_plain && c.auth_xoauth2);
	assert_true(c.auth_oauthbearer && c.starttls && c.logindisabled);
	assert_true(c.uidplus && c.move && c.condstore);
	assert_false(c.literal_minus || c.auth_login || c.imap4rev2);
	imap_caps_parse(&c, "", 0);
	assert_false(c.imap4rev1);
}

static void
test_set_build(void **state)
{
	uint32_t a[] = { 1, 2, 3, 4, 5, 8, 10, 11, 12 };
	uint32_t b[] = { 7 };
	uint32_t dup[] = { 3, 3, 4, 9, 9 };
	uint32_t bad[] = { 3, 2 };
	uint32_t zero[] = { 0, 1 };
	uint32_t big[] = { 4294967294u, 4294967295u };
	uint32_t many[1000];
	char out[64];
	size_t i, done, total;

	assert_int_equal(imap_set_build(a, MP_ARRAY_LEN(a), out, sizeof(out)),
	    9);
	assert_string_equal(out, "1:5,8,10:12");
	assert_int_equal(imap_set_build(b, 1, out, sizeof(out)), 1);
	assert_string_equal(out, "7");
	assert_int_equal(imap_set_build(dup, 5, out, sizeof(out)), 5);
	assert_string_equal(out, "3:4,9");
	assert_int_equal(imap_set_build(big, 2, out, sizeof(out)), 2);
	assert_string_equal(out, "4294967294:4294967295");
	assert_int_equal(imap_set_build(a, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(imap_set_build(bad, 2, out, sizeof(out)), -1);
	assert_int_equal(imap_set_build(zero, 2, out, sizeof(out)), -1);
	assert_int_equal(imap_set_build(a, 9, out, 10), -1);

	/* Split: every other UID, so nothing compresses. */
	for (i = 0; i < MP_ARRAY_LEN(many); i++)
		many[i] = (uint32_t)(i * 2 + 1);
	total = 0;
	while (total < MP_ARRAY_LEN(many)) {
		ssize_t n = imap_set_build(many + total,
		    MP_ARRAY_LEN(many) - total, out, sizeof(out));

		assert_true(n > 0);
		assert_true(strlen(out) < sizeof(out));
		done = (size_t)n;
		/* The set names exactly those UIDs. */
		{
			char want[64];
			size_t o = 0, k;

			for (k = 0; k < done; k++)
				o += (size_t)snprintf(want + o,
				    sizeof(want) - o, "%s%u", k ? "," : "",
				    many[total + k]);
			assert_string_equal(out, want);
		}
		total += done;
	}
}

static void
test_crlf(void **state)
{
	const char *chunks[] = { "a\r", "\nb\r", "c\r\n\r", "\r", "" };
	char out[16], all[64];
	size_t i, o = 0, n;
	bool cr = false;

	for (i = 0; i < MP_ARRAY_LEN(chunks); i++) {
		n = imap_crlf_to_lf(chunks[i], strlen(chunks[i]), out, &cr);
		memcpy(all + o, out, n);
		o += n;
	}
	if (imap_crlf_flush(&cr))
		all[o++] = '\r';
	all[o] = '\0';
	assert_string_equal(all, "a\nb\rc\n\r\r");
}

static void
test_names(void **state)
{
	assert_string_equal(imap_cmd_name(IMAP_CMD_UID_FETCH), "UID FETCH");
	assert_string_equal(imap_cmd_name((enum imap_cmd)99), "?");
	assert_string_equal(imap_status_name(IMAP_PREAUTH), "PREAUTH");
	assert_string_equal(imap_code_name(IMAP_CODE_READ_ONLY), "READ-ONLY");
	assert_string_equal(imap_code_name(IMAP_CODE_OTHER), "OTHER");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greetings),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_trickle),
		cmocka_unit_test(test_big_literal),
		cmocka_unit_test(test_truncated_literal),
		cmocka_unit_test(test_tagged_codes),
		cmocka_unit_test(test_bad_literals),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_search_cmds),
		cmocka_unit_test(test_login_literal),
		cmocka_unit_test(test_login_rejected_literal),
		cmocka_unit_test(test_auth_plain),
		cmocka_unit_test(test_starttls_caps),
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_caps_parse),
		cmocka_unit_test(test_set_build),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
