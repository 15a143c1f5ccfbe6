#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/pp.h"
#include "proto/smtp.h"
#include "util/buf.h"
#include "util/line.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define SMTP_IN_MAX	(64 * 1024)
#define SMTP_OUT_MAX	(1024 * 1024)
/* All lines of one reply, joined: the line bound times the line count. */
#define SMTP_TEXT_MAX	(SMTP_REPLY_LINES * (SMTP_LINE_MAX + 1))
#define SMTP_DOMAIN_MAX	255

#define CAUSE_TOOLONG	"server reply line too long"
#define CAUSE_BADLINE	"server sent a NUL byte or a bare CR in a reply"
#define CAUSE_CODE	"malformed reply line (expected a 3-digit code)"
#define CAUSE_MISMATCH	"reply lines carry different codes"
#define CAUSE_LINES	"server reply has too many lines"
#define CAUSE_UNEXP	"server sent a reply with no command pending"

struct smtp {
	struct pp pp;
	bool lmtp;
	struct smtp_capa capa;
	struct smtp_enc enc;
	uint64_t data_bytes;	/* encoded message bytes, for the trace */
	/* the reply being assembled */
	int code;		/* 0: none in progress */
	size_t nlines;
	struct buf text;
	char esc[16];
};

static const char *const smtp_verbs[SMTP__CMD_COUNT] = {
	[SMTP_GREETING] = NULL,
	[SMTP_EHLO] = "EHLO",
	[SMTP_LHLO] = "LHLO",
	[SMTP_HELO] = "HELO",
	[SMTP_STARTTLS] = "STARTTLS",
	[SMTP_MAIL] = "MAIL",
	[SMTP_RCPT] = "RCPT",
	[SMTP_DATA] = "DATA",
	[SMTP_DATA_END] = NULL,
	[SMTP_RSET] = "RSET",
	[SMTP_NOOP] = "NOOP",
	[SMTP_QUIT] = "QUIT",
};

static const char *const smtp_names[SMTP__CMD_COUNT] = {
	[SMTP_GREETING] = "greeting",
	[SMTP_EHLO] = "EHLO",
	[SMTP_LHLO] = "LHLO",
	[SMTP_HELO] = "HELO",
	[SMTP_STARTTLS] = "STARTTLS",
	[SMTP_MAIL] = "MAIL FROM",
	[SMTP_RCPT] = "RCPT TO",
	[SMTP_DATA] = "DATA",
	[SMTP_DATA_END] = "end of data",
	[SMTP_RSET] = "RSET",
	[SMTP_NOOP] = "NOOP",
	[SMTP_QUIT] = "QUIT",
};

const char *
smtp_cmd_name(enum smtp_cmd c)
{
	if ((unsigned)c >= SMTP__CMD_COUNT)
		return "unknown";
	return smtp_names[c];
}

struct smtp *
smtp_create(bool lmtp)
{
	struct smtp *s;

	s = xcalloc(1, sizeof(*s));
	pp_init(&s->pp, SMTP_LINE_MAX, SMTP_IN_MAX, SMTP_OUT_MAX);
	/* Tolerate LF-only servers in reply lines; NUL and bare CR stay
	 * errors. */
	s->pp.line_flags = LINE_ALLOW_LF;
	buf_init(&s->text, SMTP_TEXT_MAX);
	s->lmtp = lmtp;
	smtp_enc_init(&s->enc);
	/* RFC 5321 section 3.1: the server speaks first. */
	if (pp_expect(&s->pp, SMTP_GREETING) == -1)
		fatalx("smtp_create: cannot expect the greeting");
	return s;
}

void
smtp_free(struct smtp **sp)
{
	struct smtp *s = *sp;

	if (s == NULL)
		return;
	pp_free(&s->pp);
	buf_free(&s->text);
	free(s);
	*sp = NULL;
}

struct pp *
smtp_pp(struct smtp *s)
{
	return &s->pp;
}

bool
smtp_is_lmtp(const struct smtp *s)
{
	return s->lmtp;
}

const struct smtp_capa *
smtp_capa(const struct smtp *s)
{
	return &s->capa;
}

void
smtp_capa_clear(struct smtp *s)
{
	memset(&s->capa, 0, sizeof(s->capa));
}

int
smtp_send(struct smtp *s, enum smtp_cmd cmd, const char *domain)
{
	const unsigned char *p;

	if ((unsigned)cmd >= SMTP__CMD_COUNT || smtp_verbs[cmd] == NULL)
		return -1;
	switch (cmd) {
	case SMTP_MAIL:
	case SMTP_RCPT:
		return -1;	/* smtp_send_mail / smtp_send_rcpt */
	case SMTP_EHLO:
	case SMTP_HELO:
	case SMTP_LHLO:
		/* RFC 2033 section 4.1: LMTP greets with LHLO only. */
		if (s->lmtp != (cmd == SMTP_LHLO))
			return -1;
		if (domain == NULL || *domain == '\0' ||
		    strlen(domain) > SMTP_DOMAIN_MAX)
			return -1;
		for (p = (const unsigned char *)domain; *p != '\0'; p++)
			if (*p <= 0x20 || *p >= 0x7f)
				return -1;
		return pp_send(&s->pp, (int)cmd, -1, "%s %s", smtp_verbs[cmd],
		    domain);
	default:
		if (domain != NULL)
			return -1;
		return pp_send(&s->pp, (int)cmd, -1, "%s", smtp_verbs[cmd]);
	}
}

int
smtp_addr_check(const char *a)
{
	const unsigned char *p;
	bool quoted = false, esc = false;

	if (a == NULL || strlen(a) > SMTP_ADDR_MAX)
		return -1;
	for (p = (const unsigned char *)a; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return -1;
		if (esc) {
			esc = false;
			continue;
		}
		if (quoted && *p == '\\')
			esc = true;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == ' ' && !quoted)
			return -1;
	}
	return quoted ? -1 : 0;
}

bool
smtp_addr_8bit(const char *a)
{
	const unsigned char *p;

	for (p = (const unsigned char *)a; *p != '\0'; p++)
		if (*p >= 0x80)
			return true;
	return false;
}

int
smtp_send_mail(struct smtp *s, const char *from,
    const struct smtp_mail_opts *o)
{
	char params[96];
	int n = 0;

	if (smtp_addr_check(from) == -1)
		return -1;
	params[0] = '\0';
	if (o != NULL && o->body_8bitmime)
		n += snprintf(params + n, sizeof(params) - (size_t)n,
		    " BODY=8BITMIME");
	if (o != NULL && o->smtputf8)
		n += snprintf(params + n, sizeof(params) - (size_t)n,
		    " SMTPUTF8");
	if (o != NULL && o->size > 0)
		n += snprintf(params + n, sizeof(params) - (size_t)n,
		    " SIZE=%llu", (unsigned long long)o->size);
	if (n < 0 || (size_t)n >= sizeof(params))
		return -1;
	return pp_send(&s->pp, SMTP_MAIL, -1, "MAIL FROM:<%s>%s", from,
	    params);
}

int
smtp_send_rcpt(struct smtp *s, const char *to)
{
	if (to == NULL || *to == '\0' || smtp_addr_check(to) == -1)
		return -1;
	return pp_send(&s->pp, SMTP_RCPT, -1, "RCPT TO:<%s>", to);
}

/* Up to 3 digits at *p; advances it. */
static bool
smtp_esc_digits(const char *t, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && *i - start < 3 && t[*i] >= '0' && t[*i] <= '9')
		(*i)++;
	return *i > start && (*i >= len || t[*i] < '0' || t[*i] > '9');
}

size_t
smtp_esc_parse(const char *t, size_t len, char out[16])
{
	size_t i = 1;

	out[0] = '\0';
	if (len < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') ||
	    t[1] != '.')
		return 0;
	i = 2;
	if (!smtp_esc_digits(t, len, &i) || i >= len || t[i] != '.')
		return 0;
	i++;
	if (!smtp_esc_digits(t, len, &i))
		return 0;
	if (i < len && t[i] != ' ')
		return 0;
	memcpy(out, t, i);
	out[i] = '\0';
	return i;
}

/* RFC 5321 section 4.1.1.1: "250-KEYWORD params" lines after the first. */
static void
smtp_capa_parse(struct smtp *s)
{
	const char *t = s->text.data, *end, *nl, *sp;
	const char *errstr;
	size_t n, kw;
	uint64_t v;

	memset(&s->capa, 0, sizeof(s->capa));
	if (t == NULL || s->text.len == 0)
		return;		/* an empty reply text: no capabilities */
	end = t + s->text.len;
	if ((nl = memchr(t, '\n', (size_t)(end - t))) == NULL)
		return;
	for (t = nl + 1; t < end; t = nl + 1) {
		if ((nl = memchr(t, '\n', (size_t)(end - t))) == NULL)
			nl = end;
		n = (size_t)(nl - t);
		sp = memchr(t, ' ', n);
		kw = sp != NULL ? (size_t)(sp - t) : n;
#define KW(s_) (kw == sizeof(s_) - 1 && strncasecmp(t, s_, kw) == 0)
		if (KW("PIPELINING"))
			s->capa.pipelining = true;
		else if (KW("8BITMIME"))
			s->capa.eightbitmime = true;
		else if (KW("SMTPUTF8"))
			s->capa.smtputf8 = true;
		else if (KW("STARTTLS"))
			s->capa.starttls = true;
		else if (KW("ENHANCEDSTATUSCODES"))
			s->capa.enhanced = true;
		else if (KW("SIZE")) {
			s->capa.size = true;
			if (sp != NULL) {
				v = strnum_u64(sp + 1, n - kw - 1, UINT64_MAX,
				    &errstr);
				if (errstr == NULL)
					s->capa.size_max = v;
			}
		}
#undef KW
	}
}

int
smtp_reply_next(struct smtp *s, struct smtp_reply *r, const char **cause_r)
{
	const char *line;
	size_t len, used;
	int lr, code, kind;
	bool last;

	*cause_r = NULL;
	for (;;) {
		lr = pp_line(&s->pp, &line, &len, &used);
		if (lr == LINE_MORE)
			return 0;
		if (lr == LINE_TOOLONG) {
			*cause_r = CAUSE_TOOLONG;
			return -1;
		}
		if (lr != LINE_READY) {
			*cause_r = CAUSE_BADLINE;
			return -1;
		}
		if (pp_pending_count(&s->pp) == 0) {
			*cause_r = CAUSE_UNEXP;
			return -1;
		}
		/* RFC 5321 4.2: Reply-code = %x32-35 %x30-35 %x30-39 */
		if (len < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '5' || line[2] < '0' ||
		    line[2] > '9' || (len > 3 && line[3] != ' ' &&
		    line[3] != '-')) {
			*cause_r = CAUSE_CODE;
			return -1;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		last = len == 3 || line[3] == ' ';
		if (s->code != 0 && code != s->code) {
			*cause_r = CAUSE_MISMATCH;
			return -1;
		}
		if (s->nlines >= SMTP_REPLY_LINES) {
			*cause_r = CAUSE_LINES;
			return -1;
		}
		if (s->code == 0) {
			buf_reset(&s->text);
			s->code = code;
			(void)smtp_esc_parse(line + MP_MIN(len, 4),
			    len > 4 ? len - 4 : 0, s->esc);
		} else if (buf_add(&s->text, "\n", 1) == -1) {
			*cause_r = CAUSE_LINES;
			return -1;
		}
		if (len > 4 && buf_add(&s->text, line + 4, len - 4) == -1) {
			*cause_r = CAUSE_LINES;
			return -1;
		}
		s->nlines++;
		pp_consume(&s->pp, used);
		if (!last)
			continue;
		kind = pp_pending_pop(&s->pp);
		memset(r, 0, sizeof(*r));
		r->cmd = (enum smtp_cmd)kind;
		r->code = s->code;
		memcpy(r->esc, s->esc, sizeof(r->esc));
		r->text = s->text.data != NULL ? s->text.data : "";
		r->len = s->text.len;
		r->nlines = s->nlines;
		if ((kind == SMTP_EHLO || kind == SMTP_LHLO) && code == 250)
			smtp_capa_parse(s);
		s->code = 0;
		s->nlines = 0;
		return 1;
	}
}

void
smtp_enc_init(struct smtp_enc *e)
{
	e->bol = true;
	e->cr = false;
}

size_t
smtp_enc_encode(struct smtp_enc *e, const void *in, size_t n, char *out)
{
	const unsigned char *p = in, *end = p + n;
	char *o = out;
	unsigned char c;

	while (p < end) {
		c = *p++;
		if (e->cr) {
			/* CR LF, or a bare CR: either way one CRLF. */
			e->cr = false;
			*o++ = '\r';
			*o++ = '\n';
			e->bol = true;
			if (c == '\n')
				continue;
		}
		if (c == '\r') {
			e->cr = true;
			continue;
		}
		if (c == '\n') {
			*o++ = '\r';
			*o++ = '\n';
			e->bol = true;
			continue;
		}
		/* RFC 5321 section 4.5.2: transparency. */
		if (e->bol && c == '.')
			*o++ = '.';
		*o++ = (char)c;
		e->bol = false;
	}
	return (size_t)(o - out);
}

size_t
smtp_enc_finish(struct smtp_enc *e, char *out)
{
	size_t n = 0;

	if (e->cr || !e->bol) {
		out[n++] = '\r';
		out[n++] = '\n';
	}
	out[n++] = '.';
	out[n++] = '\r';
	out[n++] = '\n';
	smtp_enc_init(e);
	return n;
}

int
smtp_data_write(struct smtp *s, const void *p, size_t n)
{
	char *o;
	size_t w;

	if (n == 0)
		return 0;
	if (n > SMTP_OUT_MAX / 2 || (o = buf_reserve(&s->pp.out, 2 * n)) ==
	    NULL)
		return -1;
	w = smtp_enc_encode(&s->enc, p, n, o);
	buf_commit(&s->pp.out, w);
	s->data_bytes += w;
	return 0;
}

int
smtp_data_end(struct smtp *s, size_t nreplies)
{
	char end[SMTP_DATA_END_MAX], trace[64];
	size_t n, i;
	int m;

	if (nreplies == 0 || nreplies > PP_MAX_PENDING -
	    pp_pending_count(&s->pp))
		return -1;
	n = smtp_enc_finish(&s->enc, end);
	if (pp_send_raw(&s->pp, end, n) == -1)
		return -1;
	for (i = 0; i < nreplies; i++)
		if (pp_expect(&s->pp, SMTP_DATA_END) == -1)
			return -1;
	if (s->pp.trace != NULL) {
		m = snprintf(trace, sizeof(trace), "(message data, %llu bytes)",
		    (unsigned long long)(s->data_bytes + n));
		if (m > 0 && (size_t)m < sizeof(trace))
			s->pp.trace(s->pp.trace_arg, "C", trace, (size_t)m);
	}
	s->data_bytes = 0;
	return 0;
}
