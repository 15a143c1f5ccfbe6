#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/pop3.h"
#include "proto/pp.h"
#include "util/buf.h"

/* Whether the transcript ends in a DATA run (reset with each transcript). */
static bool in_data;

/*
 * Feed in[0..len) to the engine step bytes at a time, pulling events after
 * each piece, and write a transcript of the events to t: consecutive DATA
 * chunks are merged, so the transcript does not depend on chunking.
 * Returns the last pop3_event_next() result (-1 stops early).
 */
static int
feed(struct pop3 *p, const char *in, size_t len, size_t step, struct buf *t,
    const char **cause_r)
{
	struct pp *pp = pop3_pp(p);
	struct pop3_event ev;
	size_t off = 0, n;
	int r = 0;

	*cause_r = NULL;
	for (;;) {
		while ((r = pop3_event_next(p, &ev, cause_r)) == 1) {
			if (ev.kind == POP3_EV_DATA) {
				assert_true(ev.len > 0);
				if (!in_data)
					assert_int_equal(buf_adds(t, "D "), 0);
				in_data = true;
				assert_int_equal(buf_add(t, ev.text, ev.len),
				    0);
				continue;
			}
			in_data = false;
			switch (ev.kind) {
			case POP3_EV_STATUS:
				assert_int_equal(buf_printf(t,
				    "S %s %s %s [%.*s]\n",
				    pop3_cmd_name(ev.cmd), ev.ok ? "+" : "-",
				    pop3_code_name(ev.code), (int)ev.len,
				    ev.text), 0);
				break;
			case POP3_EV_CONT:
				assert_int_equal(buf_printf(t, "C [%.*s]\n",
				    (int)ev.len, ev.text), 0);
				break;
			case POP3_EV_LINE:
				assert_int_equal(buf_printf(t, "L [%.*s]\n",
				    (int)ev.len, ev.text), 0);
				break;
			case POP3_EV_END:
				assert_int_equal(buf_printf(t, "|E %s\n",
				    pop3_cmd_name(ev.cmd)), 0);
				break;
			default:
				fail();
			}
		}
		if (r == -1 || off == len)
			return r;
		n = MP_MIN(step, len - off);
		assert_int_equal(pp_input(pp, in + off, n), 0);
		off += n;
	}
}

/* Run a whole exchange at one chunk size: returns the transcript. */
static char *
exchange(const char *const *cmds, size_t ncmds, const char *in, size_t len,
    size_t step, int want_r, const char **cause_r)
{
	struct pop3 *p = pop3_create();
	struct buf t;
	size_t i;
	const char *cause;
	int r;

	buf_init(&t, 1 << 20);
	in_data = false;
	for (i = 0; i + 1 < ncmds; i += 2) {
		enum pop3_cmd cmd = POP3_GREETING;
		int c;

		for (c = 1; c < POP3__CMD_COUNT; c++)
			if (strcmp(pop3_cmd_name(c), cmds[i]) == 0)
				cmd = c;
		assert_int_not_equal(cmd, POP3_GREETING);
		assert_int_equal(pop3_send(p, cmd, cmds[i + 1]), 0);
	}
	r = feed(p, in, len, step, &t, &cause);
	if (r != want_r)
		fail_msg("r %d step %zu in \"%.*s\"", r, step,
		    (int)MP_MIN(len, 40), in);
	if (cause_r != NULL)
		*cause_r = cause;
	pop3_free(&p);
	assert_null(p);
	if (buf_add(&t, "", 0) == -1)
		fail();
	return buf_detach(&t);
}

static void
check_all_steps(const char *const *cmds, size_t ncmds, const char *in,
    size_t len, const char *want)
{
	char *t;
	size_t step;

	for (step = 1; step <= len; step++) {
		t = exchange(cmds, ncmds, in, len, step, 0, NULL);
		if (strcmp(t, want) != 0)
			fail_msg("step %zu:\n%s\nwant:\n%s", step, t, want);
		free(t);
	}
}

static void
test_greeting(void **state)
{
	static const char in[] =
	    "+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n";
	char stamp[128];
	struct pop3 *p = pop3_create();
	struct pop3_event ev;
	const char *cause;

	assert_int_equal(pop3_event_next(p, &ev, &cause), 0);
	assert_int_equal(pp_input(pop3_pp(p), in, sizeof(in) - 1), 0);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(ev.kind, POP3_EV_STATUS);
	assert_int_equal(ev.cmd, POP3_GREETING);
	assert_true(ev.ok);
	assert_int_equal(ev.code, POP3_CODE_NONE);
	assert_string_equal(ev.text,
	    "POP3 ready <1896.697170952@dbc.mtview.ca.us>");
	assert_int_equal(pop3_parse_apop_stamp(ev.text, ev.len, stamp,
	    sizeof(stamp)), 0);
	assert_string_equal(stamp, "<1896.697170952@dbc.mtview.ca.us>");
	assert_int_equal(pop3_parse_apop_stamp(ev.text, ev.len, stamp, 10),
	    -1);
	assert_int_equal(pop3_parse_apop_stamp("ready", 5, stamp,
	    sizeof(stamp)), -1);
	assert_int_equal(pop3_parse_apop_stamp("<a b>", 5, stamp,
	    sizeof(stamp)), -1);
	assert_int_equal(pop3_parse_apop_stamp("<a", 2, stamp,
	    sizeof(stamp)), -1);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 0);
	pop3_free(&p);
}

static const char pipelined_in[] =
    "+OK ready\r\n"
    "+OK unique-id listing follows\r\n"
    "1 whqtswO00WBw418f9t5JxYwZ\r\n"
    "2 QhdPYR:00WBw1Ph7x7\r\n"
    ".\r\n"
    "+OK 2 messages (320 octets)\r\n"
    "1 120\r\n"
    "2 200\r\n"
    ".\r\n"
    "+OK 120 octets\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "..dot line\r\n"
    "..\r\n"
    "bare\rcr\r\n"
    ".\r\n"
    "+OK\r\n";

static const char pipelined_want[] =
    "S greeting + none [ready]\n"
    "S UIDL + none [unique-id listing follows]\n"
    "L [1 whqtswO00WBw418f9t5JxYwZ]\n"
    "L [2 QhdPYR:00WBw1Ph7x7]\n"
    "|E UIDL\n"
    "S LIST + none [2 messages (320 octets)]\n"
    "L [1 120]\n"
    "L [2 200]\n"
    "|E LIST\n"
    "S RETR + none [120 octets]\n"
    "D Subject: hi\n\n.dot line\n.\nbare\rcr\n"
    "|E RETR\n"
    "S DELE + none []\n";

static const char *const pipelined_cmds[] = {
	"UIDL", NULL, "LIST", NULL, "RETR", "1", "DELE", "1",
};

static void
test_pipelined(void **state)
{
	struct pop3 *p = pop3_create();
	const char *out;
	size_t len;
	char *t;

	assert_int_equal(pop3_send(p, POP3_UIDL, NULL), 0);
	assert_int_equal(pop3_send(p, POP3_LIST, NULL), 0);
	assert_int_equal(pop3_send(p, POP3_RETR, "1"), 0);
	assert_int_equal(pop3_send(p, POP3_DELE, "1"), 0);
	out = pp_output(pop3_pp(p), &len);
	assert_int_equal(len, 28);
	assert_memory_equal(out, "UIDL\r\nLIST\r\nRETR 1\r\nDELE 1\r\n", 28);
	pop3_free(&p);

	/* All in one chunk. */
	t = exchange(pipelined_cmds, MP_ARRAY_LEN(pipelined_cmds),
	    pipelined_in, sizeof(pipelined_in) - 1, sizeof(pipelined_in), 0,
	    NULL);
	assert_string_equal(t, pipelined_want);
	free(t);
}

static void
test_trickle(void **state)
{
	/* One byte at a time, and every other chunk size: the same. */
	check_all_steps(pipelined_cmds, MP_ARRAY_LEN(pipelined_cmds),
	    pipelined_in, sizeof(pipelined_in) - 1, pipelined_want);
}

static void
test_terminator_split(void **state)
{
	static const char *const cmds[] = { "RETR", "1", "NOOP", NULL };
	static const char in[] = "+OK\r\n+OK\r\na\r\n..\r\n.\r\n+OK\r\n";
	static const char want[] = "S greeting + none []\n"
	    "S RETR + none []\n"
	    "D a\n.\n"
	    "|E RETR\n"
	    "S NOOP + none []\n";
	struct pop3 *p;
	struct buf t;
	const char *cause;
	size_t split;
	char *s;

	/* Two chunks, split at every position. */
	for (split = 0; split <= sizeof(in) - 1; split++) {
		p = pop3_create();
		buf_init(&t, 4096);
		in_data = false;
		assert_int_equal(pop3_send(p, POP3_RETR, "1"), 0);
		assert_int_equal(pop3_send(p, POP3_NOOP, NULL), 0);
		assert_int_equal(feed(p, in, split, split == 0 ? 1 : split,
		    &t, &cause), 0);
		assert_int_equal(feed(p, in + split, sizeof(in) - 1 - split,
		    sizeof(in), &t, &cause), 0);
		assert_int_equal(buf_add(&t, "", 0), 0);
		s = buf_detach(&t);
		if (strcmp(s, want) != 0)
			fail_msg("split %zu:\n%s", split, s);
		free(s);
		pop3_free(&p);
	}
	check_all_steps(cmds, MP_ARRAY_LEN(cmds), in, sizeof(in) - 1, want);
}

static void
test_empty_message_and_lf_only(void **state)
{
	static const char *const cmds[] = { "RETR", "1", "TOP", "2 0" };
	static const char in[] = "+OK\r\n+OK\r\n.\r\n+OK\nh: v\n\n.\n";
	static const char want[] = "S greeting + none []\n"
	    "S RETR + none []\n"
	    "|E RETR\n"
	    "S TOP + none []\n"
	    "D h: v\n\n"
	    "|E TOP\n";

	check_all_steps(cmds, MP_ARRAY_LEN(cmds), in, sizeof(in) - 1, want);
}

static void
test_nul_in_data(void **state)
{
	static const char *const cmds[] = { "RETR", "1" };
	static const char in[] = "+OK\r\n+OK\r\na\0b\r\n.\r\n";
	static const char want[] = "S greeting + none []\n"
	    "S RETR + none []\n"
	    "D a\0b\n"
	    "|E RETR\n";
	char *t;
	size_t step;

	for (step = 1; step < sizeof(in); step++) {
		t = exchange(cmds, 2, in, sizeof(in) - 1, step, 0, NULL);
		assert_memory_equal(t, want, sizeof(want) - 1);
		free(t);
	}
}

static void
test_err_codes(void **state)
{
	static const struct {
		const char *line;
		enum pop3_code code;
		const char *text;
	} tab[] = {
		{ "-ERR [IN-USE] locked\r\n", POP3_CODE_IN_USE,
		    "[IN-USE] locked" },
		{ "-ERR [LOGIN-DELAY] wait\r\n", POP3_CODE_LOGIN_DELAY, NULL },
		{ "-ERR [SYS/TEMP] try later\r\n", POP3_CODE_SYS_TEMP, NULL },
		{ "-ERR [SYS/PERM] gone\r\n", POP3_CODE_SYS_PERM, NULL },
		{ "-ERR [AUTH] bad password\r\n", POP3_CODE_AUTH, NULL },
		{ "-ERR [auth] lower case\r\n", POP3_CODE_AUTH, NULL },
		{ "-ERR [SYS/TEMP/QUOTA] deeper\r\n", POP3_CODE_SYS_TEMP,
		    NULL },
		{ "-ERR [SYS] parent only\r\n", POP3_CODE_OTHER, NULL },
		{ "-ERR [AUTHX] prefix\r\n", POP3_CODE_OTHER, NULL },
		{ "-ERR [UTF8] other\r\n", POP3_CODE_OTHER, NULL },
		{ "-ERR [IN-USE no bracket\r\n", POP3_CODE_NONE, NULL },
		{ "-ERR plain\r\n", POP3_CODE_NONE, "plain" },
		{ "-ERR\r\n", POP3_CODE_NONE, "" },
		{ "-ERR[IN-USE]\r\n", POP3_CODE_IN_USE, "[IN-USE]" },
		{ "+OK [IN-USE] odd but parsed\r\n", POP3_CODE_IN_USE, NULL },
	};
	struct pop3 *p;
	struct pop3_event ev;
	const char *cause;
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(tab); i++) {
		p = pop3_create();
		assert_int_equal(pp_input(pop3_pp(p), tab[i].line,
		    strlen(tab[i].line)), 0);
		assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
		assert_int_equal(ev.kind, POP3_EV_STATUS);
		assert_int_equal(ev.ok, tab[i].line[0] == '+');
		if (ev.code != tab[i].code)
			fail_msg("%s: code %s", tab[i].line,
			    pop3_code_name(ev.code));
		if (tab[i].text != NULL)
			assert_string_equal(ev.text, tab[i].text);
		pop3_free(&p);
	}
}

static void
test_err_multiline(void **state)
{
	/* After -ERR to RETR/UIDL/CAPA there is no listing. */
	static const char *const cmds[] = { "RETR", "9", "UIDL", NULL,
	    "CAPA", NULL, "NOOP", NULL };
	static const char in[] = "+OK\r\n-ERR no such message\r\n"
	    "-ERR [SYS/TEMP] later\r\n-ERR\r\n+OK\r\n";
	static const char want[] = "S greeting + none []\n"
	    "S RETR - none [no such message]\n"
	    "S UIDL - SYS/TEMP [[SYS/TEMP] later]\n"
	    "S CAPA - none []\n"
	    "S NOOP + none []\n";

	check_all_steps(cmds, MP_ARRAY_LEN(cmds), in, sizeof(in) - 1, want);
}

static void
test_single_line_uidl_list(void **state)
{
	static const char *const cmds[] = { "UIDL", "2", "LIST", "2",
	    "STAT", NULL };
	static const char in[] = "+OK\r\n+OK 2 abc\r\n+OK 2 200\r\n"
	    "+OK 2 320\r\n";
	static const char want[] = "S greeting + none []\n"
	    "S UIDL + none [2 abc]\n"
	    "S LIST + none [2 200]\n"
	    "S STAT + none [2 320]\n";

	check_all_steps(cmds, MP_ARRAY_LEN(cmds), in, sizeof(in) - 1, want);
}

static void
test_capa(void **state)
{
	static const char in[] = "+OK\r\n+OK Capability list follows\r\n"
	    "TOP\r\nuser\r\nSASL PLAIN login XOAUTH2 OAUTHBEARER CRAM-MD5\r\n"
	    "RESP-CODES\r\nLOGIN-DELAY 900\r\nPIPELINING\r\nUIDL\r\n"
	    "STLS\r\nIMPLEMENTATION Dovecot \x01 ready\r\nEXPIRE NEVER\r\n"
	    "..odd\r\n.\r\n";
	struct pop3 *p = pop3_create();
	struct pop3_capa c;
	struct pop3_event ev;
	const char *cause;
	int r, lines = 0;

	pop3_capa_clear(&c);
	assert_int_equal(pop3_send(p, POP3_CAPA, NULL), 0);
	assert_int_equal(pp_input(pop3_pp(p), in, sizeof(in) - 1), 0);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(ev.cmd, POP3_CAPA);
	assert_true(ev.ok);
	while ((r = pop3_event_next(p, &ev, &cause)) == 1 &&
	    ev.kind == POP3_EV_LINE) {
		pop3_capa_line(&c, ev.text, ev.len);
		lines++;
	}
	assert_int_equal(r, 1);
	assert_int_equal(ev.kind, POP3_EV_END);
	assert_int_equal(ev.cmd, POP3_CAPA);
	assert_int_equal(lines, 11);
	assert_true(c.top && c.user && c.resp_codes && c.pipelining &&
	    c.uidl && c.stls);
	assert_true(c.sasl_plain && c.sasl_login && c.sasl_xoauth2 &&
	    c.sasl_oauthbearer && c.sasl_cram_md5);
	assert_true(c.login_delay_set);
	assert_int_equal(c.login_delay, 900);
	assert_string_equal(c.impl, "Dovecot ? ready");
	assert_int_equal(pop3_event_next(p, &ev, &cause), 0);
	pop3_free(&p);

	pop3_capa_clear(&c);
	pop3_capa_line(&c, "LOGIN-DELAY 60 USER", 19);
	assert_true(c.login_delay_set);
	assert_int_equal(c.login_delay, 60);
	pop3_capa_clear(&c);
	pop3_capa_line(&c, "LOGIN-DELAY x", 13);
	assert_false(c.login_delay_set);
	pop3_capa_line(&c, "SASL", 4);
	pop3_capa_line(&c, "", 0);
	pop3_capa_line(&c, "STLSX", 5);
	assert_false(c.stls || c.sasl_plain);
}

static void
test_sasl(void **state)
{
	static const char in[] = "+OK\r\n+ \r\n+\r\n+OK logged in\r\n";
	struct pop3 *p = pop3_create();
	struct pop3_event ev;
	const char *cause, *out;
	size_t len;

	/* AUTH_RESP with no AUTH in progress is refused. */
	assert_int_equal(pop3_send(p, POP3_AUTH_RESP, "eHg="), -1);
	assert_int_equal(pop3_send(p, POP3_AUTH, NULL), -1);
	assert_int_equal(pop3_send(p, POP3_AUTH, "PLAIN"), 0);
	assert_int_equal(pp_input(pop3_pp(p), in, sizeof(in) - 1), 0);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(ev.cmd, POP3_GREETING);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(ev.kind, POP3_EV_CONT);
	assert_int_equal(ev.cmd, POP3_AUTH);
	assert_int_equal(ev.len, 0);
	assert_int_equal(pp_pending_count(pop3_pp(p)), 1);
	assert_int_equal(pop3_send(p, POP3_AUTH_RESP, "AGJvYgBzZWNyZXQ="),
	    0);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(ev.kind, POP3_EV_CONT);
	assert_int_equal(pop3_send(p, POP3_AUTH_RESP, ""), 0);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(ev.kind, POP3_EV_STATUS);
	assert_int_equal(ev.cmd, POP3_AUTH);
	assert_true(ev.ok);
	assert_int_equal(pp_pending_count(pop3_pp(p)), 0);
	out = pp_output(pop3_pp(p), &len);
	assert_int_equal(len, 32);
	assert_memory_equal(out, "AUTH PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n\r\n", 32);
	pop3_free(&p);

	/* "+OK"-like lines are not continuations; "+ x" to USER is bad. */
	p = pop3_create();
	assert_int_equal(pop3_send(p, POP3_USER, "bob"), 0);
	assert_int_equal(pp_input(pop3_pp(p), "+OK\r\n+ x\r\n", 10), 0);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(pop3_event_next(p, &ev, &cause), -1);
	assert_string_equal(cause,
	    "malformed status line (expected +OK or -ERR)");
	pop3_free(&p);
}

struct trace {
	char lines[8][128];
	int n;
};

static void
trace_cb(void *arg, const char *dir, const char *line, size_t len)
{
	struct trace *tr = arg;

	if (tr->n < 8)
		(void)snprintf(tr->lines[tr->n++], sizeof(tr->lines[0]),
		    "%s: %.*s", dir, (int)len, line);
}

static void
test_redaction(void **state)
{
	struct pop3 *p = pop3_create();
	struct trace tr;
	struct pop3_event ev;
	const char *out, *cause;
	size_t len;

	memset(&tr, 0, sizeof(tr));
	pp_set_trace(pop3_pp(p), trace_cb, &tr);
	assert_int_equal(pop3_send(p, POP3_USER, "bob"), 0);
	assert_int_equal(pop3_send(p, POP3_PASS, "secret"), 0);
	assert_int_equal(pop3_send(p, POP3_APOP,
	    "bob c4c9334bac560ecc979e58001b3e22fb"), 0);
	assert_int_equal(pop3_send(p, POP3_AUTH, "PLAIN AGJvYgBzZWNyZXQ="),
	    0);
	assert_int_equal(pop3_send(p, POP3_AUTH, "LOGIN"), 0);
	assert_int_equal(tr.n, 5);
	assert_string_equal(tr.lines[0], "C: USER bob");
	assert_string_equal(tr.lines[1], "C: PASS ***");
	assert_string_equal(tr.lines[2], "C: APOP ***");
	assert_string_equal(tr.lines[3], "C: AUTH PLAIN ***");
	assert_string_equal(tr.lines[4], "C: AUTH LOGIN");
	out = pp_output(pop3_pp(p), &len);
	assert_true(len > 23);
	assert_memory_equal(out, "USER bob\r\nPASS secret\r\n", 23);
	pp_output_consume(pop3_pp(p), 10);
	out = pp_output(pop3_pp(p), &len);
	assert_memory_equal(out, "PASS secret\r\n", 13);
	pop3_free(&p);

	/* SASL response lines are hidden whole. */
	p = pop3_create();
	assert_int_equal(pp_input(pop3_pp(p), "+OK\r\n+ VXNlcm5hbWU6\r\n",
	    21), 0);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(pop3_send(p, POP3_AUTH, "LOGIN"), 0);
	memset(&tr, 0, sizeof(tr));
	pp_set_trace(pop3_pp(p), trace_cb, &tr);
	assert_int_equal(pop3_event_next(p, &ev, &cause), 1);
	assert_int_equal(ev.kind, POP3_EV_CONT);
	assert_string_equal(ev.text, "VXNlcm5hbWU6");
	assert_int_equal(pop3_send(p, POP3_AUTH_RESP, "c2VjcmV0"), 0);
	assert_int_equal(tr.n, 2);
	assert_string_equal(tr.lines[0], "S: + VXNlcm5hbWU6");
	assert_string_equal(tr.lines[1], "C: ***");
	pop3_free(&p);
}

static void
test_send_rejects(void **state)
{
	struct pop3 *p = pop3_create();
	size_t len;

	assert_int_equal(pop3_send(p, POP3_USER, "bob\r\nDELE 1"), -1);
	assert_int_equal(pop3_send(p, POP3_PASS, "a\nb"), -1);
	assert_int_equal(pop3_send(p, POP3_USER, NULL), -1);
	assert_int_equal(pop3_send(p, POP3_USER, ""), -1);
	assert_int_equal(pop3_send(p, POP3_RETR, NULL), -1);
	assert_int_equal(pop3_send(p, POP3_QUIT, "x"), -1);
	assert_int_equal(pop3_send(p, POP3_GREETING, NULL), -1);
	assert_int_equal(pop3_send(p, POP3__CMD_COUNT, NULL), -1);
	(void)pp_output(pop3_pp(p), &len);
	assert_int_equal(len, 0);
	assert_int_equal(pp_pending_count(pop3_pp(p)), 1);
	pop3_free(&p);
}

static void
expect_error(const char *const *cmds, size_t ncmds, const char *in,
    size_t len, const char *want_cause)
{
	const char *cause;
	char *t;
	size_t step;

	for (step = 1; step <= len; step++) {
		t = exchange(cmds, ncmds, in, len, step, -1, &cause);
		assert_non_null(cause);
		assert_string_equal(cause, want_cause);
		free(t);
	}
}

static void
test_errors(void **state)
{
	static const char *const none[] = { NULL };
	static const char *const uidl[] = { "UIDL", NULL };
	static const char nul[] = "+OK a\0b\r\n";
	static const char nul_list[] = "+OK\r\n+OK\r\n1 a\0\r\n.\r\n";
	char *big;
	size_t n;

	expect_error(none, 0, "HELLO\r\n", 7,
	    "malformed status line (expected +OK or -ERR)");
	expect_error(none, 0, "+O\r\n", 4,
	    "malformed status line (expected +OK or -ERR)");
	expect_error(none, 0, "\r\n", 2,
	    "malformed status line (expected +OK or -ERR)");
	expect_error(none, 0, nul, sizeof(nul) - 1, "server sent a NUL byte");
	expect_error(uidl, 2, nul_list, sizeof(nul_list) - 1,
	    "server sent a NUL byte");
	expect_error(none, 0, "+OK a\rb\r\n", 9,
	    "server sent a bare CR in a reply line");
	expect_error(none, 0, "+OK\r\n+OK\r\n", 10,
	    "server sent data with no command pending");
	expect_error(uidl, 2, "+OK\r\n+OK\r\n.\r\n-ERR\r\n", 19,
	    "server sent data with no command pending");

	/* A status line of POP3_LINE_MAX bytes is fine, one more is not. */
	n = POP3_LINE_MAX + 2;
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'x', n);
	memcpy(big, "+OK ", 4);
	memcpy(big + POP3_LINE_MAX, "\r\n", 2);
	big[n] = '\0';
	free(exchange(none, 0, big, n, n, 0, NULL));
	memset(big, 'x', n);
	memcpy(big, "+OK ", 4);
	memcpy(big + POP3_LINE_MAX + 1, "\n", 1);
	{
		const char *cause;

		free(exchange(none, 0, big, n, n, -1, &cause));
		assert_string_equal(cause, "server reply line too long");
		/* No line end at all: too long once the bound is passed. */
		memset(big, 'x', n);
		memcpy(big, "+OK ", 4);
		free(exchange(none, 0, big, n, 4096, -1, &cause));
		assert_string_equal(cause, "server reply line too long");
		/* The same bound in a listing. */
		free(big);
		big = malloc(n + 10);
		assert_non_null(big);
		memset(big, 'x', n + 10);
		memcpy(big, "+OK\r\n+OK\r\n", 10);
		free(exchange(uidl, 2, big, n + 10, n + 10, -1, &cause));
		assert_string_equal(cause, "server reply line too long");
	}
	free(big);
}

static void
test_parse_uidl(void **state)
{
	static const struct {
		const char *line;
		int r;
		uint32_t msgno;
		const char *uid;
	} tab[] = {
		{ "1 abc", 0, 1, "abc" },
		{ "4294967295 x", 0, UINT32_MAX, "x" },
		{ "4294967296 x", -1, 0, NULL },
		{ "0 abc", -1, 0, NULL },
		{ "01 abc", 0, 1, "abc" },
		{ "1", -1, 0, NULL },
		{ "1 ", -1, 0, NULL },
		{ "1abc", -1, 0, NULL },
		{ " 1 abc", -1, 0, NULL },
		{ "-1 abc", -1, 0, NULL },
		{ "+1 abc", -1, 0, NULL },
		{ "1 abc  ", 0, 1, "abc" },
		{ "1  abc", 0, 1, "abc" },
		{ "1 ab c", -1, 0, NULL },
		{ "1 ab\tc", -1, 0, NULL },
		{ "1 ab\x7f", -1, 0, NULL },
		{ "1 ab\x80", -1, 0, NULL },
		{ "1 ab\x01", -1, 0, NULL },
		{ "", -1, 0, NULL },
		{ "99999999999999999999999 x", -1, 0, NULL },
	};
	char uid[POP3_UIDL_MAX + 1], line[128];
	uint32_t msgno;
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(tab); i++) {
		if (pop3_parse_uidl(tab[i].line, strlen(tab[i].line), &msgno,
		    uid) != tab[i].r)
			fail_msg("uidl \"%s\"", tab[i].line);
		if (tab[i].r == 0) {
			assert_int_equal(msgno, tab[i].msgno);
			assert_string_equal(uid, tab[i].uid);
		}
	}
	/* 70 characters are fine, 71 are not. */
	memset(line, 'u', sizeof(line));
	memcpy(line, "7 ", 2);
	assert_int_equal(pop3_parse_uidl(line, 2 + 70, &msgno, uid), 0);
	assert_int_equal(strlen(uid), 70);
	assert_int_equal(pop3_parse_uidl(line, 2 + 71, &msgno, uid), -1);
	/* NUL inside. */
	assert_int_equal(pop3_parse_uidl("1 a\0b", 5, &msgno, uid), -1);
}

static void
test_parse_list_stat(void **state)
{
	uint32_t n;
	uint64_t sz;

	assert_int_equal(pop3_parse_list("1 120", 5, &n, &sz), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sz, 120);
	assert_int_equal(pop3_parse_list("2 200 extra info", 16, &n, &sz), 0);
	assert_int_equal(sz, 200);
	assert_int_equal(pop3_parse_list("0 200", 5, &n, &sz), -1);
	assert_int_equal(pop3_parse_list("1", 1, &n, &sz), -1);
	assert_int_equal(pop3_parse_list("1 ", 2, &n, &sz), -1);
	assert_int_equal(pop3_parse_list("1 x", 3, &n, &sz), -1);
	assert_int_equal(pop3_parse_list("1 12x", 5, &n, &sz), -1);
	assert_int_equal(pop3_parse_list("1 -1", 4, &n, &sz), -1);
	assert_int_equal(pop3_parse_list("1 99999999999999999999", 22, &n,
	    &sz), -1);
	assert_int_equal(pop3_parse_list("1 9223372036854775807", 21, &n,
	    &sz), 0);
	assert_int_equal(pop3_parse_list("1 9223372036854775808", 21, &n,
	    &sz), -1);
	assert_int_equal(pop3_parse_stat("0 0", 3, &n, &sz), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pop3_parse_stat("2 320 octets", 12, &n, &sz), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sz, 320);
	assert_int_equal(pop3_parse_stat("4294967296 0", 12, &n, &sz), -1);
	assert_int_equal(pop3_parse_stat("messages: 2", 11, &n, &sz), -1);
}

static void
test_names(void **state)
{
	int i;

	for (i = 0; i < POP3__CMD_COUNT; i++)
		assert_non_null(pop3_cmd_name(i));
	assert_string_equal(pop3_cmd_name(POP3_RETR), "RETR");
	assert_string_equal(pop3_cmd_name(POP3__CMD_COUNT), "unknown");
	assert_string_equal(pop3_code_name(POP3_CODE_SYS_PERM), "SYS/PERM");
	assert_string_equal(pop3_code_name(POP3_CODE_NONE), "none");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_trickle),
		cmocka_unit_test(test_terminator_split),
		cmocka_unit_test(test_empty_message_and_lf_only),
		cmocka_unit_test(test_nul_in_data),
		cmocka_unit_test(test_err_codes),
		cmocka_unit_test(test_err_multiline),
		cmocka_unit_test(test_single_line_uidl_list),
		cmocka_unit_test(test_capa),
		cmocka_unit_test(test_sasl),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_send_rejects),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_parse_uidl),
		cmocka_unit_test(test_parse_list_stat),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
