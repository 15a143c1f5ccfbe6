#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/dotstream.h"
#include "proto/pop3.h"
#include "proto/pp.h"
#include "util/line.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define POP3_IN_MAX	(64 * 1024)
#define POP3_OUT_MAX	(1024 * 1024)
#define POP3_CHUNK	(64 * 1024)

/* A pending FIFO entry is the command, plus this bit when its +OK starts a
 * multi-line response. */
#define POP3_PEND_MULTI	0x100
#define POP3_PEND_CMD	0xff

#define CAUSE_TOOLONG	"server reply line too long"
#define CAUSE_NUL	"server sent a NUL byte"
#define CAUSE_CR	"server sent a bare CR in a reply line"
#define CAUSE_STATUS	"malformed status line (expected +OK or -ERR)"
#define CAUSE_UNEXP	"server sent data with no command pending"

enum pop3_mode {
	POP3_MODE_STATUS = 0,	/* expecting a status line */
	POP3_MODE_LISTING,	/* CAPA/UIDL/LIST lines until "." */
	POP3_MODE_DATA,		/* RETR/TOP message data until CRLF.CRLF */
	POP3_MODE_DATA_END,	/* terminator consumed, END not yet given */
};

struct pop3 {
	struct pp pp;
	enum pop3_mode mode;
	enum pop3_cmd cur;	/* command of the multi-line response */
	struct dotstream ds;
	char *chunk;		/* POP3_CHUNK + 1 bytes of decoded data */
	char text[POP3_LINE_MAX + 1];
};

static const char *const pop3_verbs[POP3__CMD_COUNT] = {
	[POP3_GREETING] = NULL,
	[POP3_CAPA] = "CAPA",
	[POP3_STLS] = "STLS",
	[POP3_USER] = "USER",
	[POP3_PASS] = "PASS",
	[POP3_APOP] = "APOP",
	[POP3_AUTH] = "AUTH",
	[POP3_AUTH_RESP] = NULL,
	[POP3_STAT] = "STAT",
	[POP3_UIDL] = "UIDL",
	[POP3_LIST] = "LIST",
	[POP3_RETR] = "RETR",
	[POP3_TOP] = "TOP",
	[POP3_DELE] = "DELE",
	[POP3_RSET] = "RSET",
	[POP3_NOOP] = "NOOP",
	[POP3_QUIT] = "QUIT",
};

struct pop3 *
pop3_create(void)
{
	struct pop3 *p;

	p = xcalloc(1, sizeof(*p));
	pp_init(&p->pp, POP3_LINE_MAX, POP3_IN_MAX, POP3_OUT_MAX);
	/* Tolerate LF-only servers in status and listing lines, as the
	 * dot-stream does in message data. */
	p->pp.line_flags = LINE_ALLOW_LF;
	p->chunk = xmalloc(POP3_CHUNK + 1);
	p->mode = POP3_MODE_STATUS;
	/* RFC 1939 section 4: the server speaks first. */
	if (pp_expect(&p->pp, POP3_GREETING) == -1)
		fatalx("pop3_create: cannot expect the greeting");
	return p;
}

void
pop3_free(struct pop3 **pp)
{
	struct pop3 *p = *pp;

	if (p == NULL)
		return;
	pp_free(&p->pp);
	free(p->chunk);
	explicit_bzero(p->text, sizeof(p->text));
	free(p);
	*pp = NULL;
}

struct pp *
pop3_pp(struct pop3 *p)
{
	return &p->pp;
}

/* RFC 1939, 2449: which commands take (or may take) an argument. */
static bool
pop3_cmd_takes_arg(enum pop3_cmd cmd, bool *required_r)
{
	*required_r = false;
	switch (cmd) {
	case POP3_USER:
	case POP3_PASS:
	case POP3_APOP:
	case POP3_AUTH:
	case POP3_RETR:
	case POP3_TOP:
	case POP3_DELE:
		*required_r = true;
		return true;
	case POP3_UIDL:
	case POP3_LIST:
	case POP3_AUTH_RESP:
		return true;
	default:
		return false;
	}
}

int
pop3_send(struct pop3 *p, enum pop3_cmd cmd, const char *arg)
{
	const char *verb, *sp;
	bool required, multi = false;
	int redact = -1, kind;

	if ((unsigned)cmd >= POP3__CMD_COUNT || cmd == POP3_GREETING)
		return -1;
	if (arg != NULL && *arg == '\0' && cmd != POP3_AUTH_RESP)
		arg = NULL;
	if (pop3_cmd_takes_arg(cmd, &required)) {
		if (required && arg == NULL)
			return -1;
	} else if (arg != NULL)
		return -1;

	if (cmd == POP3_AUTH_RESP) {
		/*
		 * RFC 5034 section 4: the response line answers the
		 * continuation of the AUTH in progress; its reply (another
		 * "+ " or the final status) is the AUTH's, so nothing new is
		 * pending.
		 */
		if (arg == NULL ||
		    (pp_pending_peek(&p->pp) & POP3_PEND_CMD) != POP3_AUTH)
			return -1;
		return pp_send(&p->pp, -1, 0, "%s", arg);
	}

	verb = pop3_verbs[cmd];
	switch (cmd) {
	case POP3_CAPA:
	case POP3_RETR:
	case POP3_TOP:
		multi = true;
		break;
	case POP3_UIDL:
	case POP3_LIST:
		multi = arg == NULL;
		break;
	case POP3_PASS:
	case POP3_APOP:
		redact = (int)strlen(verb) + 1;
		break;
	case POP3_AUTH:
		/* "AUTH mech initial-response": hide the response. */
		if ((sp = strchr(arg, ' ')) != NULL)
			redact = (int)(strlen(verb) + 1 + (size_t)(sp - arg) +
			    1);
		break;
	default:
		break;
	}
	kind = (int)cmd | (multi ? POP3_PEND_MULTI : 0);
	if (arg == NULL)
		return pp_send(&p->pp, kind, -1, "%s", verb);
	return pp_send(&p->pp, kind, redact, "%s %s", verb, arg);
}

/* Why the line reader refused the line at the front of the input. */
static const char *
pop3_line_cause(struct pop3 *p, int r)
{
	const char *data, *lf;
	size_t n;

	if (r == LINE_TOOLONG)
		return CAUSE_TOOLONG;
	n = pp_take(&p->pp, POP3_LINE_MAX + 2, &data);
	if ((lf = memchr(data, '\n', n)) != NULL)
		n = (size_t)(lf - data);
	if (memchr(data, '\0', n) != NULL)
		return CAUSE_NUL;
	return CAUSE_CR;
}

/* Copy a line into the engine's text buffer, NUL-terminated. */
static const char *
pop3_text_set(struct pop3 *p, const char *s, size_t len)
{
	if (len > POP3_LINE_MAX)
		len = POP3_LINE_MAX;
	memcpy(p->text, s, len);
	p->text[len] = '\0';
	return p->text;
}

/*
 * RFC 2449 section 8: "[CODE]" at the start of the text; codes are
 * hierarchical ("SYS/TEMP/X" is a kind of SYS/TEMP) and, like capability
 * names, compared case-insensitively. [AUTH] is RFC 3206.
 */
static enum pop3_code
pop3_code_parse(const char *text, size_t len)
{
	static const struct {
		const char *name;
		enum pop3_code code;
	} codes[] = {
		{ "IN-USE", POP3_CODE_IN_USE },
		{ "LOGIN-DELAY", POP3_CODE_LOGIN_DELAY },
		{ "SYS/TEMP", POP3_CODE_SYS_TEMP },
		{ "SYS/PERM", POP3_CODE_SYS_PERM },
		{ "AUTH", POP3_CODE_AUTH },
	};
	const char *end;
	size_t i, n, clen;

	if (len < 2 || text[0] != '[')
		return POP3_CODE_NONE;
	if ((end = memchr(text, ']', len)) == NULL)
		return POP3_CODE_NONE;
	clen = (size_t)(end - text) - 1;
	for (i = 0; i < MP_ARRAY_LEN(codes); i++) {
		n = strlen(codes[i].name);
		if (clen >= n && strncasecmp(text + 1, codes[i].name, n) == 0 &&
		    (clen == n || text[1 + n] == '/'))
			return codes[i].code;
	}
	return POP3_CODE_OTHER;
}

static int
pop3_status(struct pop3 *p, struct pop3_event *ev, const char **cause_r)
{
	const char *line, *rest;
	size_t len, used, rlen;
	int r, kind;
	enum pop3_cmd cmd;

	if (pp_pending_count(&p->pp) == 0) {
		if (pp_input_pending(&p->pp) > 0) {
			*cause_r = CAUSE_UNEXP;
			return -1;
		}
		return 0;
	}
	r = pp_line(&p->pp, &line, &len, &used);
	if (r == LINE_MORE)
		return 0;
	if (r != LINE_READY) {
		*cause_r = pop3_line_cause(p, r);
		return -1;
	}
	kind = pp_pending_peek(&p->pp);
	cmd = (enum pop3_cmd)(kind & POP3_PEND_CMD);

	/* RFC 5034 section 4: "+ " [base64] is a SASL continuation. */
	if (cmd == POP3_AUTH && len >= 1 && line[0] == '+' &&
	    (len == 1 || line[1] == ' ')) {
		rest = len > 1 ? line + 2 : line + 1;
		rlen = len > 1 ? len - 2 : 0;
		ev->kind = POP3_EV_CONT;
		ev->cmd = cmd;
		ev->ok = true;
		ev->text = pop3_text_set(p, rest, rlen);
		ev->len = rlen;
		pp_consume(&p->pp, used);
		return 1;
	}

	if (len >= 3 && memcmp(line, "+OK", 3) == 0) {
		ev->ok = true;
		rest = line + 3;
		rlen = len - 3;
	} else if (len >= 4 && memcmp(line, "-ERR", 4) == 0) {
		ev->ok = false;
		rest = line + 4;
		rlen = len - 4;
	} else {
		*cause_r = CAUSE_STATUS;
		return -1;
	}
	/* "+OK" alone or "+OK text"; tolerate a missing space. */
	if (rlen > 0 && rest[0] == ' ') {
		rest++;
		rlen--;
	}
	ev->kind = POP3_EV_STATUS;
	ev->cmd = cmd;
	ev->text = pop3_text_set(p, rest, rlen);
	ev->len = rlen;
	ev->code = pop3_code_parse(ev->text, rlen);
	pp_consume(&p->pp, used);
	(void)pp_pending_pop(&p->pp);

	/* RFC 1939 section 3: only a positive reply has a listing. */
	if (ev->ok && (kind & POP3_PEND_MULTI)) {
		p->cur = cmd;
		if (cmd == POP3_RETR || cmd == POP3_TOP) {
			dotstream_init(&p->ds);
			p->mode = POP3_MODE_DATA;
		} else
			p->mode = POP3_MODE_LISTING;
	}
	return 1;
}

static int
pop3_listing(struct pop3 *p, struct pop3_event *ev, const char **cause_r)
{
	const char *line;
	size_t len, used;
	int r;

	r = pp_line(&p->pp, &line, &len, &used);
	if (r == LINE_MORE)
		return 0;
	if (r != LINE_READY) {
		*cause_r = pop3_line_cause(p, r);
		return -1;
	}
	ev->cmd = p->cur;
	ev->ok = true;
	if (len == 1 && line[0] == '.') {
		ev->kind = POP3_EV_END;
		ev->text = pop3_text_set(p, "", 0);
		ev->len = 0;
		p->mode = POP3_MODE_STATUS;
	} else {
		/* Byte-stuffed line: drop the first '.'. */
		if (len > 0 && line[0] == '.') {
			line++;
			len--;
		}
		ev->kind = POP3_EV_LINE;
		ev->text = pop3_text_set(p, line, len);
		ev->len = len;
	}
	pp_consume(&p->pp, used);
	return 1;
}

static int
pop3_data(struct pop3 *p, struct pop3_event *ev)
{
	const char *data;
	size_t n, used, outlen;

	ev->cmd = p->cur;
	ev->ok = true;
	if (p->mode == POP3_MODE_DATA_END) {
		p->mode = POP3_MODE_STATUS;
		ev->kind = POP3_EV_END;
		ev->text = pop3_text_set(p, "", 0);
		ev->len = 0;
		return 1;
	}
	for (;;) {
		/* One byte less than the chunk: a held-back CR may come
		 * first (dotstream.h). */
		n = pp_take(&p->pp, POP3_CHUNK - 1, &data);
		if (n == 0)
			return 0;
		used = dotstream_feed(&p->ds, data, n, p->chunk, POP3_CHUNK,
		    &outlen);
		pp_consume(&p->pp, used);
		if (p->ds.done)
			p->mode = POP3_MODE_DATA_END;
		if (outlen > 0) {
			p->chunk[outlen] = '\0';
			ev->kind = POP3_EV_DATA;
			ev->text = p->chunk;
			ev->len = outlen;
			return 1;
		}
		if (p->ds.done)
			return pop3_data(p, ev);
		/* Everything consumed, nothing decoded yet (a held "." or
		 * CR): loop once more, which finds the buffer empty. */
	}
}

int
pop3_event_next(struct pop3 *p, struct pop3_event *ev, const char **cause_r)
{
	static const char *dummy;

	if (cause_r == NULL)
		cause_r = &dummy;
	*cause_r = NULL;
	memset(ev, 0, sizeof(*ev));
	switch (p->mode) {
	case POP3_MODE_DATA:
	case POP3_MODE_DATA_END:
		return pop3_data(p, ev);
	case POP3_MODE_LISTING:
		return pop3_listing(p, ev, cause_r);
	case POP3_MODE_STATUS:
	default:
		return pop3_status(p, ev, cause_r);
	}
}

/* The leading decimal number of s, up to a space or the end. */
static int
pop3_num(const char **s, const char *end, uint64_t min, uint64_t max,
    uint64_t *v_r)
{
	const char *p = *s, *errstr;
	uint64_t v;

	while (p < end && *p >= '0' && *p <= '9')
		p++;
	if (p == *s || (p < end && *p != ' '))
		return -1;
	v = strnum_u64(*s, (size_t)(p - *s), max, &errstr);
	if (errstr != NULL || v < min)
		return -1;
	*v_r = v;
	*s = p;
	return 0;
}

static const char *
pop3_skip_spaces(const char *s, const char *end)
{
	while (s < end && *s == ' ')
		s++;
	return s;
}

int
pop3_parse_uidl(const char *line, size_t len, uint32_t *msgno_r,
    char uid_r[POP3_UIDL_MAX + 1])
{
	const char *s = line, *end = line + len, *u;
	uint64_t v;
	size_t n;

	if (pop3_num(&s, end, 1, UINT32_MAX, &v) == -1 || s == end)
		return -1;
	s = pop3_skip_spaces(s, end);
	u = s;
	/* RFC 1939 section 7: 1 to 70 characters in 0x21..0x7E. */
	while (s < end && (unsigned char)*s >= 0x21 &&
	    (unsigned char)*s <= 0x7e)
		s++;
	n = (size_t)(s - u);
	if (n == 0 || n > POP3_UIDL_MAX)
		return -1;
	/* Trailing spaces are tolerated, nothing else. */
	if (pop3_skip_spaces(s, end) != end)
		return -1;
	memcpy(uid_r, u, n);
	uid_r[n] = '\0';
	*msgno_r = (uint32_t)v;
	return 0;
}

/* "a b [more]": RFC 1939 section 5 lets servers add information after
 * the drop or scan listing's two numbers. */
static int
pop3_parse_pair(const char *line, size_t len, uint64_t min1, uint64_t *a_r,
    uint64_t *b_r)
{
	const char *s = line, *end = line + len;

	if (pop3_num(&s, end, min1, UINT32_MAX, a_r) == -1 || s == end)
		return -1;
	s = pop3_skip_spaces(s, end);
	if (pop3_num(&s, end, 0, INT64_MAX, b_r) == -1)
		return -1;
	return 0;
}

int
pop3_parse_list(const char *line, size_t len, uint32_t *msgno_r,
    uint64_t *size_r)
{
	uint64_t a, b;

	if (pop3_parse_pair(line, len, 1, &a, &b) == -1)
		return -1;
	*msgno_r = (uint32_t)a;
	*size_r = b;
	return 0;
}

int
pop3_parse_stat(const char *text, size_t len, uint32_t *count_r,
    uint64_t *size_r)
{
	uint64_t a, b;

	if (pop3_parse_pair(text, len, 0, &a, &b) == -1)
		return -1;
	*count_r = (uint32_t)a;
	*size_r = b;
	return 0;
}

int
pop3_parse_apop_stamp(const char *text, size_t len, char *out, size_t outcap)
{
	const char *lt, *gt, *q;
	size_t n;

	/* RFC 1939 section 7: a msg-id "<process-ID.clock@hostname>". */
	if ((lt = memchr(text, '<', len)) == NULL)
		return -1;
	if ((gt = memchr(lt, '>', len - (size_t)(lt - text))) == NULL)
		return -1;
	n = (size_t)(gt - lt) + 1;
	if (n < 3 || n + 1 > outcap)
		return -1;
	for (q = lt + 1; q < gt; q++)
		if ((unsigned char)*q < 0x21 || (unsigned char)*q > 0x7e ||
		    *q == '<')
			return -1;
	memcpy(out, lt, n);
	out[n] = '\0';
	return 0;
}

void
pop3_capa_clear(struct pop3_capa *c)
{
	memset(c, 0, sizeof(*c));
}

/* Next space-separated word of [*s, end). */
static bool
pop3_word(const char **s, const char *end, const char **w_r, size_t *n_r)
{
	const char *p = pop3_skip_spaces(*s, end), *w = p;

	while (p < end && *p != ' ')
		p++;
	*s = p;
	*w_r = w;
	*n_r = (size_t)(p - w);
	return *n_r > 0;
}

static bool
pop3_word_is(const char *w, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(w, name, n) == 0;
}

/* RFC 2449 section 6: capability names and SASL mechanisms are
 * case-insensitive; unknown capabilities are ignored. */
void
pop3_capa_line(struct pop3_capa *c, const char *line, size_t len)
{
	const char *s = line, *end = line + len, *w, *errstr;
	size_t n, i;
	long long v;

	if (!pop3_word(&s, end, &w, &n))
		return;
	if (pop3_word_is(w, n, "STLS"))
		c->stls = true;
	else if (pop3_word_is(w, n, "UIDL"))
		c->uidl = true;
	else if (pop3_word_is(w, n, "TOP"))
		c->top = true;
	else if (pop3_word_is(w, n, "PIPELINING"))
		c->pipelining = true;
	else if (pop3_word_is(w, n, "RESP-CODES"))
		c->resp_codes = true;
	else if (pop3_word_is(w, n, "USER"))
		c->user = true;
	else if (pop3_word_is(w, n, "SASL")) {
		while (pop3_word(&s, end, &w, &n)) {
			if (pop3_word_is(w, n, "PLAIN"))
				c->sasl_plain = true;
			else if (pop3_word_is(w, n, "LOGIN"))
				c->sasl_login = true;
			else if (pop3_word_is(w, n, "CRAM-MD5"))
				c->sasl_cram_md5 = true;
			else if (pop3_word_is(w, n, "XOAUTH2"))
				c->sasl_xoauth2 = true;
			else if (pop3_word_is(w, n, "OAUTHBEARER"))
				c->sasl_oauthbearer = true;
		}
	} else if (pop3_word_is(w, n, "LOGIN-DELAY")) {
		/* "LOGIN-DELAY 900" or, before login, "LOGIN-DELAY 900 USER"
		 * (RFC 2449 section 6.5): the seconds are what matters. */
		if (pop3_word(&s, end, &w, &n)) {
			v = strnum_n(w, n, 0, INT32_MAX, &errstr);
			if (errstr == NULL) {
				c->login_delay = (long)v;
				c->login_delay_set = true;
			}
		}
	} else if (pop3_word_is(w, n, "IMPLEMENTATION")) {
		/* Free text for display: bounded, control bytes masked. */
		s = pop3_skip_spaces(s, end);
		n = MP_MIN((size_t)(end - s), sizeof(c->impl) - 1);
		for (i = 0; i < n; i++)
			c->impl[i] = ((unsigned char)s[i] < 0x20 ||
			    (unsigned char)s[i] > 0x7e) ? '?' : s[i];
		c->impl[n] = '\0';
	}
}

const char *
pop3_cmd_name(enum pop3_cmd cmd)
{
	if (cmd == POP3_GREETING)
		return "greeting";
	if (cmd == POP3_AUTH_RESP)
		return "AUTH response";
	if ((unsigned)cmd >= POP3__CMD_COUNT || pop3_verbs[cmd] == NULL)
		return "unknown";
	return pop3_verbs[cmd];
}

const char *
pop3_code_name(enum pop3_code code)
{
	switch (code) {
	case POP3_CODE_NONE:
		return "none";
	case POP3_CODE_IN_USE:
		return "IN-USE";
	case POP3_CODE_LOGIN_DELAY:
		return "LOGIN-DELAY";
	case POP3_CODE_SYS_TEMP:
		return "SYS/TEMP";
	case POP3_CODE_SYS_PERM:
		return "SYS/PERM";
	case POP3_CODE_AUTH:
		return "AUTH";
	case POP3_CODE_OTHER:
		return "other";
	}
	return "unknown";
}
