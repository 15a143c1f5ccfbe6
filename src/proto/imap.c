#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap.h"
#include "proto/pp.h"
#include "util/buf.h"
#include "util/line.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define CAUSE_TOOLONG	"server response line too long"
#define CAUSE_BADLINE	"NUL or bare CR in server response line"
#define CAUSE_GREETING	"bad greeting (expected OK, PREAUTH or BYE)"
#define CAUSE_SYNTAX	"malformed server response"
#define CAUSE_TAG	"tagged response to a command not sent"
#define CAUSE_DEPTH	"response lists nested too deep"
#define CAUSE_LITERAL	"bad literal size"
#define CAUSE_LITBIG	"literal larger than the maximum message size"
#define CAUSE_NUMBER	"bad number in server response"
#define CAUSE_EOL	"response ended inside a list"
#define CAUSE_CODE	"malformed response code"
#define CAUSE_SEARCH	"malformed SEARCH response"
#define CAUSE_SEARCHBIG	"SEARCH response too large"
#define CAUSE_SECTION	"FETCH body section name too long"
#define CAUSE_DEAD	"IMAP session already failed"

/* Response reader states. */
enum imap_rs {
	RS_START = 0,	/* at the start of a response */
	RS_SEGMENT,	/* a literal ended: read the rest of the response */
	RS_LINE,	/* inside a line at pos */
	RS_LITERAL,	/* lit_left literal bytes to go */
	RS_LITEND,	/* body literal done: BODY_END to give */
	RS_SEARCH,	/* streaming the numbers of "* SEARCH" */
	RS_DEAD,
};

/* What the line parser is doing (RS_LINE, and across literals). */
enum imap_ctx {
	CX_FETCH_ITEM = 0,	/* FETCH: item name or ")" */
	CX_FETCH_VALUE,		/* FETCH: the value of item fitem */
	CX_FLAGS,		/* FETCH: inside FLAGS (...) */
	CX_SKIP,		/* skipping one value, skip_depth */
	CX_SKIP_LINE,		/* skipping a response we do not use */
	CX_QBODY_DATA,		/* quoted body: DATA to give */
	CX_QBODY_END,		/* quoted body: END to give */
};

enum imap_item {
	IT_OTHER = 0,
	IT_UID,
	IT_SIZE,
	IT_FLAGS,
	IT_INTERNALDATE,
	IT_BODY,
};

enum imap_tok {
	TK_EOL = 0,
	TK_LPAREN,
	TK_RPAREN,
	TK_ATOM,
	TK_QUOTED,
	TK_LITERAL,
};

/* A piece of output held until it may go (see imap.h). */
struct imap_out {
	struct imap_out *next;
	char *data;
	size_t len;
	char *redact;		/* traced instead of data when set */
	bool wait;		/* needs a "+" before it is sent */
	unsigned tag;
};

struct imap_pend {
	unsigned tag;
	enum imap_cmd cmd;
};

struct imap {
	struct pp pp;
	enum imap_rs rs;
	const char *dead_cause;
	bool greeted;
	bool bye;
	uint64_t max_literal;
	struct imap_caps caps;

	/* Commands sent and not completed. */
	struct imap_pend pend[IMAP_MAX_PENDING];
	size_t npend;
	unsigned tag;

	/* Held-back output. */
	struct imap_out *out_head, **out_tail;

	/* Input bytes to drop before reading further. */
	size_t consume;

	/* The current line (still in pp's input buffer). */
	size_t line_len, line_used, pos;
	bool in_line;

	/* Response context. */
	enum imap_ctx ctx;
	unsigned depth;		/* parens open in this response */
	unsigned skip_depth;
	enum imap_item fitem;
	struct imap_fetch fetch;
	bool lit_body;
	uint64_t lit_left;
	uint64_t lit_size;
	char section[IMAP_SECTION_MAX + 1];
	size_t section_len;
	struct buf qbuf;	/* the last quoted string, unescaped */

	/* Token of the last tok_next(). */
	const char *tk;
	size_t tklen;
	uint64_t tklit;
	bool tklit_plus;

	/* SEARCH streaming. */
	uint32_t uids[IMAP_SEARCH_BATCH];
	size_t nuids;
	uint64_t search_count;
	uint64_t search_bytes;
};

static const char *const imap_cmd_names[IMAP__CMD_COUNT] = {
	[IMAP_CMD_NONE] = "(none)",
	[IMAP_CMD_CAPABILITY] = "CAPABILITY",
	[IMAP_CMD_STARTTLS] = "STARTTLS",
	[IMAP_CMD_LOGIN] = "LOGIN",
	[IMAP_CMD_AUTHENTICATE] = "AUTHENTICATE",
	[IMAP_CMD_SELECT] = "SELECT",
	[IMAP_CMD_EXAMINE] = "EXAMINE",
	[IMAP_CMD_UID_SEARCH] = "UID SEARCH",
	[IMAP_CMD_UID_FETCH] = "UID FETCH",
	[IMAP_CMD_UID_STORE] = "UID STORE",
	[IMAP_CMD_UID_EXPUNGE] = "UID EXPUNGE",
	[IMAP_CMD_EXPUNGE] = "EXPUNGE",
	[IMAP_CMD_CLOSE] = "CLOSE",
	[IMAP_CMD_NOOP] = "NOOP",
	[IMAP_CMD_LOGOUT] = "LOGOUT",
	[IMAP_CMD_IDLE] = "IDLE",
};

static const struct {
	const char *name;
	enum imap_code code;
} imap_codes[] = {
	{ "ALERT", IMAP_CODE_ALERT },
	{ "CAPABILITY", IMAP_CODE_CAPABILITY },
	{ "UIDVALIDITY", IMAP_CODE_UIDVALIDITY },
	{ "UIDNEXT", IMAP_CODE_UIDNEXT },
	{ "UNSEEN", IMAP_CODE_UNSEEN },
	{ "HIGHESTMODSEQ", IMAP_CODE_HIGHESTMODSEQ },
	{ "PERMANENTFLAGS", IMAP_CODE_PERMANENTFLAGS },
	{ "READ-ONLY", IMAP_CODE_READ_ONLY },
	{ "READ-WRITE", IMAP_CODE_READ_WRITE },
	{ "TRYCREATE", IMAP_CODE_TRYCREATE },
	{ "PARSE", IMAP_CODE_PARSE },
	{ "UIDNOTSTICKY", IMAP_CODE_UIDNOTSTICKY },
	{ "UNAVAILABLE", IMAP_CODE_UNAVAILABLE },
	{ "AUTHENTICATIONFAILED", IMAP_CODE_AUTHENTICATIONFAILED },
	{ "AUTHORIZATIONFAILED", IMAP_CODE_AUTHORIZATIONFAILED },
	{ "EXPIRED", IMAP_CODE_EXPIRED },
	{ "PRIVACYREQUIRED", IMAP_CODE_PRIVACYREQUIRED },
	{ "CONTACTADMIN", IMAP_CODE_CONTACTADMIN },
	{ "NOPERM", IMAP_CODE_NOPERM },
	{ "INUSE", IMAP_CODE_INUSE },
	{ "EXPUNGEISSUED", IMAP_CODE_EXPUNGEISSUED },
	{ "CORRUPTION", IMAP_CODE_CORRUPTION },
	{ "SERVERBUG", IMAP_CODE_SERVERBUG },
	{ "CLIENTBUG", IMAP_CODE_CLIENTBUG },
	{ "CANNOT", IMAP_CODE_CANNOT },
	{ "LIMIT", IMAP_CODE_LIMIT },
	{ "OVERQUOTA", IMAP_CODE_OVERQUOTA },
	{ "NONEXISTENT", IMAP_CODE_NONEXISTENT },
	{ "CLOSED", IMAP_CODE_CLOSED },
};

static int	imap_fail(struct imap *, const char *, const char **);
static void	imap_out_flush(struct imap *);

static bool
tok_is(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

/* ASTRING-CHAR of RFC 3501 9: ATOM-CHAR or "]"; 7-bit only. */
static bool
astring_char(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\", c) == NULL;
}

struct imap *
imap_create(void)
{
	struct imap *im;

	im = xcalloc(1, sizeof(*im));
	pp_init(&im->pp, IMAP_LINE_MAX, IMAP_IN_MAX, IMAP_OUT_MAX);
	buf_init(&im->qbuf, IMAP_LINE_MAX);
	im->max_literal = IMAP_LITERAL_MAX_DEFAULT;
	im->out_tail = &im->out_head;
	im->tag = 0;
	return im;
}

static void
imap_out_free(struct imap_out *o)
{
	if (o->data != NULL)
		explicit_bzero(o->data, o->len);
	free(o->data);
	free(o->redact);
	free(o);
}

void
imap_free(struct imap **imp)
{
	struct imap *im = *imp;
	struct imap_out *o, *next;

	if (im == NULL)
		return;
	for (o = im->out_head; o != NULL; o = next) {
		next = o->next;
		imap_out_free(o);
	}
	if (im->pp.out.base != NULL)
		explicit_bzero(im->pp.out.base, im->pp.out.cap);
	pp_free(&im->pp);
	buf_free(&im->qbuf);
	free(im);
	*imp = NULL;
}

struct pp *
imap_pp(struct imap *im)
{
	return &im->pp;
}

void
imap_set_max_literal(struct imap *im, uint64_t max)
{
	im->max_literal = max;
}

const struct imap_caps *
imap_caps(const struct imap *im)
{
	return &im->caps;
}

unsigned
imap_tag_last(const struct imap *im)
{
	return im->tag;
}

size_t
imap_pending_count(const struct imap *im)
{
	return im->npend;
}

bool
imap_output_waiting(const struct imap *im)
{
	return im->out_head != NULL;
}

bool
imap_bye_seen(const struct imap *im)
{
	return im->bye;
}

size_t
imap_input_pending(const struct imap *im)
{
	size_t n = pp_input_pending(&im->pp);

	/* Bytes of events already returned are consumed lazily. */
	return n > im->consume ? n - im->consume : 0;
}

/*
 * Output: pieces go to pp's queue in order; a piece that needs a "+"
 * continuation stops everything behind it (a command sent while the
 * server reads a synchronizing literal would become literal data).
 */
static void
imap_out_trace(struct imap *im, const struct imap_out *o)
{
	const char *p, *e, *crlf;

	if (im->pp.trace == NULL)
		return;
	if (o->redact != NULL) {
		im->pp.trace(im->pp.trace_arg, "C", o->redact,
		    strlen(o->redact));
		return;
	}
	p = o->data;
	e = o->data + o->len;
	while (p < e) {
		crlf = memmem(p, (size_t)(e - p), "\r\n", 2);
		if (crlf == NULL)
			crlf = e;
		im->pp.trace(im->pp.trace_arg, "C", p, (size_t)(crlf - p));
		p = crlf == e ? e : crlf + 2;
	}
}

static void
imap_out_flush(struct imap *im)
{
	struct imap_out *o;

	while ((o = im->out_head) != NULL && !o->wait) {
		if (im->pp.out.len + o->len > im->pp.out.max ||
		    pp_send_raw(&im->pp, o->data, o->len) == -1)
			return;	/* the driver drains pp output first */
		imap_out_trace(im, o);
		im->out_head = o->next;
		if (im->out_head == NULL)
			im->out_tail = &im->out_head;
		imap_out_free(o);
	}
}

/* A "+" arrived: release the piece waiting for it, if any. */
static bool
imap_out_continue(struct imap *im)
{
	if (im->out_head == NULL || !im->out_head->wait)
		return false;
	im->out_head->wait = false;
	imap_out_flush(im);
	return true;
}

/* The command tag completed: its unsent pieces will never be asked for. */
static void
imap_out_drop(struct imap *im, unsigned tag)
{
	struct imap_out **op = &im->out_head, *o;

	while ((o = *op) != NULL) {
		if (o->tag == tag) {
			*op = o->next;
			imap_out_free(o);
		} else
			op = &o->next;
	}
	im->out_tail = &im->out_head;
	for (o = im->out_head; o != NULL; o = o->next)
		im->out_tail = &o->next;
	imap_out_flush(im);
}

/* Command builder. */
struct imap_cb {
	struct imap *im;
	enum imap_cmd cmd;
	unsigned tag;
	size_t redact_from;	/* SIZE_MAX: nothing secret yet */
	bool failed;
	struct buf cur;
	bool cur_wait;
	struct imap_out *head, **tail;
	size_t npieces;
};

static void
cb_begin(struct imap_cb *cb, struct imap *im, enum imap_cmd cmd)
{
	memset(cb, 0, sizeof(*cb));
	cb->im = im;
	cb->cmd = cmd;
	cb->redact_from = SIZE_MAX;
	cb->tag = im->tag + 1;
	cb->tail = &cb->head;
	buf_init(&cb->cur, IMAP_OUT_MAX);
	if (im->npend >= IMAP_MAX_PENDING)
		cb->failed = true;
	if (buf_printf(&cb->cur, "A%04u %s", cb->tag,
	    imap_cmd_names[cmd]) == -1)
		cb->failed = true;
}

static void
cb_piece(struct imap_cb *cb)
{
	struct imap_out *o;

	o = xcalloc(1, sizeof(*o));
	o->len = cb->cur.len;
	o->data = xmalloc(o->len + 1);
	memcpy(o->data, cb->cur.data, o->len);
	o->wait = cb->cur_wait;
	o->tag = cb->tag;
	if (cb->redact_from != SIZE_MAX)
		o->redact = cb->npieces == 0 ? xasprintf("%.*s ***",
		    (int)cb->redact_from, o->data) : xstrdup("***");
	explicit_bzero(cb->cur.data, cb->cur.len);
	buf_reset(&cb->cur);
	*cb->tail = o;
	cb->tail = &o->next;
	cb->npieces++;
}

static void
cb_raw(struct imap_cb *cb, const char *s, size_t n)
{
	if (buf_add(&cb->cur, s, n) == -1)
		cb->failed = true;
}

/* A verbatim word (validated by the caller). */
static void
cb_word(struct imap_cb *cb, const char *s)
{
	cb_raw(cb, " ", 1);
	cb_raw(cb, s, strlen(s));
}

/* An astring (RFC 3501 9): atom, quoted, or literal. */
static void
cb_astring(struct imap_cb *cb, const char *s)
{
	size_t n = strlen(s), i;
	bool atom = n > 0, quoted = true;
	const struct imap_caps *caps = &cb->im->caps;
	char hdr[32];
	bool plus;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' || c == '\n') {
			cb->failed = true;
			return;
		}
		if (!astring_char(c))
			atom = false;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			quoted = false;
	}
	cb_raw(cb, " ", 1);
	if (atom) {
		cb_raw(cb, s, n);
		return;
	}
	if (quoted) {
		cb_raw(cb, "\"", 1);
		cb_raw(cb, s, n);
		cb_raw(cb, "\"", 1);
		return;
	}
	/* RFC 7888: LITERAL+ any size, LITERAL- up to 4096 bytes. */
	plus = caps->literal_plus || (caps->literal_minus && n <= 4096);
	(void)snprintf(hdr, sizeof(hdr), "{%zu%s}\r\n", n, plus ? "+" : "");
	cb_raw(cb, hdr, strlen(hdr));
	if (!plus) {
		cb_piece(cb);
		cb->cur_wait = true;
	}
	cb_raw(cb, s, n);
}

static int
cb_end(struct imap_cb *cb)
{
	struct imap *im = cb->im;
	struct imap_out *o, *next;

	cb_raw(cb, "\r\n", 2);
	if (!cb->failed)
		cb_piece(cb);
	explicit_bzero(cb->cur.data, cb->cur.len);
	buf_free(&cb->cur);
	if (cb->failed) {
		for (o = cb->head; o != NULL; o = next) {
			next = o->next;
			imap_out_free(o);
		}
		return -1;
	}
	im->tag = cb->tag;
	im->pend[im->npend].tag = cb->tag;
	im->pend[im->npend].cmd = cb->cmd;
	im->npend++;
	*im->out_tail = cb->head;
	im->out_tail = cb->tail;
	imap_out_flush(im);
	return 0;
}

static bool
set_valid(const char *set)
{
	size_t i;

	if (set == NULL || *set == '\0' || strlen(set) > IMAP_LINE_MAX)
		return false;
	for (i = 0; set[i] != '\0'; i++)
		if (strchr("0123456789:,*", set[i]) == NULL)
			return false;
	return true;
}

int
imap_cmd_simple(struct imap *im, enum imap_cmd cmd)
{
	struct imap_cb cb;

	switch (cmd) {
	case IMAP_CMD_CAPABILITY:
	case IMAP_CMD_STARTTLS:
	case IMAP_CMD_EXPUNGE:
	case IMAP_CMD_CLOSE:
	case IMAP_CMD_NOOP:
	case IMAP_CMD_LOGOUT:
	case IMAP_CMD_IDLE:
		break;
	default:
		return -1;
	}
	cb_begin(&cb, im, cmd);
	return cb_end(&cb);
}

int
imap_cmd_login(struct imap *im, const char *user, const char *pass)
{
	struct imap_cb cb;

	cb_begin(&cb, im, IMAP_CMD_LOGIN);
	cb.redact_from = cb.cur.len;
	cb_astring(&cb, user);
	cb_astring(&cb, pass);
	return cb_end(&cb);
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = b64chars[in[i] >> 2];
		out[o++] = b64chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = b64chars[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = b64chars[in[i + 2] & 63];
	}
	if (i < n) {
		out[o++] = b64chars[in[i] >> 2];
		if (i + 1 < n) {
			out[o++] = b64chars[((in[i] & 3) << 4) |
			    (in[i + 1] >> 4)];
			out[o++] = b64chars[(in[i + 1] & 15) << 2];
		} else {
			out[o++] = b64chars[(in[i] & 3) << 4];
			out[o++] = '=';
		}
		out[o++] = '=';
	}
	out[o] = '\0';
}

int
imap_cmd_authenticate(struct imap *im, const char *mech, const char *resp,
    bool sasl_ir)
{
	struct imap_cb cb;
	size_t i;

	if (mech == NULL || *mech == '\0')
		return -1;
	for (i = 0; mech[i] != '\0'; i++)
		if (!astring_char((unsigned char)mech[i]) || mech[i] == ']')
			return -1;
	if (resp != NULL && (strchr(resp, '\r') != NULL ||
	    strchr(resp, '\n') != NULL))
		return -1;
	cb_begin(&cb, im, IMAP_CMD_AUTHENTICATE);
	cb_word(&cb, mech);
	if (resp != NULL && sasl_ir) {
		/* RFC 4959: an empty initial response is sent as "=". */
		cb.redact_from = cb.cur.len;
		cb_word(&cb, *resp == '\0' ? "=" : resp);
	} else if (resp != NULL) {
		cb_raw(&cb, "\r\n", 2);
		cb_piece(&cb);
		cb.redact_from = 0;
		cb.cur_wait = true;
		cb_raw(&cb, resp, strlen(resp));
	}
	return cb_end(&cb);
}

int
imap_cmd_auth_plain(struct imap *im, const char *authzid, const char *user,
    const char *pass, bool sasl_ir)
{
	size_t az = authzid != NULL ? strlen(authzid) : 0;
	size_t ul = strlen(user), pl = strlen(pass), n;
	unsigned char *raw;
	char *b64;
	int rc;

	if (az > 4096 || ul > 4096 || pl > 4096)
		return -1;
	/* RFC 4616: authzid NUL authcid NUL passwd. */
	n = az + 1 + ul + 1 + pl;
	raw = xmalloc(n);
	if (az > 0)
		memcpy(raw, authzid, az);
	raw[az] = '\0';
	memcpy(raw + az + 1, user, ul);
	raw[az + 1 + ul] = '\0';
	memcpy(raw + az + 2 + ul, pass, pl);
	b64 = xmalloc((n + 2) / 3 * 4 + 1);
	b64_encode(raw, n, b64);
	rc = imap_cmd_authenticate(im, "PLAIN", b64, sasl_ir);
	explicit_bzero(raw, n);
	explicit_bzero(b64, strlen(b64));
	free(raw);
	free(b64);
	return rc;
}

int
imap_cont_send(struct imap *im, const char *line, bool secret)
{
	struct imap_out *o;
	size_t n = strlen(line);

	if (strchr(line, '\r') != NULL || strchr(line, '\n') != NULL ||
	    n > IMAP_LINE_MAX)
		return -1;
	o = xcalloc(1, sizeof(*o));
	o->data = xmalloc(n + 3);
	memcpy(o->data, line, n);
	memcpy(o->data + n, "\r\n", 3);
	o->len = n + 2;
	o->tag = 0;
	if (secret)
		o->redact = xstrdup("***");
	*im->out_tail = o;
	im->out_tail = &o->next;
	imap_out_flush(im);
	return 0;
}

int
imap_cmd_select(struct imap *im, const char *mailbox, bool readonly)
{
	struct imap_cb cb;

	if (mailbox == NULL || strlen(mailbox) > 4096)
		return -1;
	cb_begin(&cb, im, readonly ? IMAP_CMD_EXAMINE : IMAP_CMD_SELECT);
	cb_astring(&cb, mailbox);
	return cb_end(&cb);
}

int
imap_cmd_uid_search(struct imap *im, enum imap_search what, uint32_t lo,
    uint32_t hi)
{
	struct imap_cb cb;
	char range[32];

	cb_begin(&cb, im, IMAP_CMD_UID_SEARCH);
	if (lo != 0) {
		if (hi != 0 && hi < lo)
			cb.failed = true;
		if (hi == 0)
			(void)snprintf(range, sizeof(range), "%u:*", lo);
		else
			(void)snprintf(range, sizeof(range), "%u:%u", lo, hi);
		cb_word(&cb, "UID");
		cb_word(&cb, range);
	}
	switch (what) {
	case IMAP_SEARCH_ALL:
		cb_word(&cb, "ALL");
		break;
	case IMAP_SEARCH_UNSEEN:
		cb_word(&cb, "UNSEEN");
		break;
	default:
		cb.failed = true;
	}
	return cb_end(&cb);
}

int
imap_cmd_uid_fetch(struct imap *im, const char *set,
    enum imap_fetch_what what)
{
	struct imap_cb cb;

	cb_begin(&cb, im, IMAP_CMD_UID_FETCH);
	if (!set_valid(set)) {
		cb.failed = true;
		return cb_end(&cb);
	}
	cb_word(&cb, set);
	switch (what) {
	case IMAP_FETCH_BODY:
		cb_word(&cb, "(UID RFC822.SIZE BODY.PEEK[])");
		break;
	case IMAP_FETCH_MSGID:
		cb_word(&cb, "(UID RFC822.SIZE "
		    "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])");
		break;
	case IMAP_FETCH_FLAGS:
		cb_word(&cb, "(UID RFC822.SIZE FLAGS INTERNALDATE)");
		break;
	default:
		cb.failed = true;
	}
	return cb_end(&cb);
}

int
imap_cmd_uid_store(struct imap *im, const char *set,
    enum imap_store_what what)
{
	struct imap_cb cb;

	cb_begin(&cb, im, IMAP_CMD_UID_STORE);
	if (!set_valid(set)) {
		cb.failed = true;
		return cb_end(&cb);
	}
	cb_word(&cb, set);
	switch (what) {
	case IMAP_STORE_DELETED:
		cb_word(&cb, "+FLAGS.SILENT (\\Deleted)");
		break;
	case IMAP_STORE_SEEN:
		cb_word(&cb, "+FLAGS.SILENT (\\Seen)");
		break;
	default:
		cb.failed = true;
	}
	return cb_end(&cb);
}

int
imap_cmd_uid_expunge(struct imap *im, const char *set)
{
	struct imap_cb cb;

	cb_begin(&cb, im, IMAP_CMD_UID_EXPUNGE);
	if (!set_valid(set))
		cb.failed = true;
	else
		cb_word(&cb, set);
	return cb_end(&cb);
}

/*
 * Response parsing.
 */

static int
imap_fail(struct imap *im, const char *cause, const char **cause_r)
{
	im->rs = RS_DEAD;
	im->dead_cause = cause;
	*cause_r = cause;
	return -1;
}

/* The current line, re-fetched: pp's buffer may have moved since. */
static const char *
line_ptr(struct imap *im)
{
	const char *p;

	(void)pp_take(&im->pp, im->line_used, &p);
	return p;
}

static void
line_done(struct imap *im)
{
	im->consume += im->line_used;
	im->in_line = false;
	im->line_len = im->line_used = im->pos = 0;
}

static void
consume_now(struct imap *im)
{
	if (im->consume > 0) {
		pp_consume(&im->pp, im->consume);
		im->consume = 0;
	}
}

/*
 * Next token of the current line at im->pos. Returns the token kind, or -1
 * with *cause_r. Quoted strings are unescaped into im->qbuf; a literal must
 * end the line (RFC 3501 4.3).
 */
static int
tok_next(struct imap *im, const char **cause_r)
{
	const char *p = line_ptr(im);
	size_t n = im->line_len, i = im->pos, s;
	const char *errstr;

	while (i < n && p[i] == ' ')
		i++;
	im->tk = p + i;
	im->tklen = 0;
	if (i == n) {
		im->pos = i;
		return TK_EOL;
	}
	switch (p[i]) {
	case '(':
		im->pos = i + 1;
		return TK_LPAREN;
	case ')':
		im->pos = i + 1;
		return TK_RPAREN;
	case '"':
		buf_reset(&im->qbuf);
		for (i++; i < n && p[i] != '"'; i++) {
			if (p[i] == '\\') {
				if (++i == n)
					break;
			}
			if (buf_add(&im->qbuf, p + i, 1) == -1)
				break;
		}
		if (i >= n) {
			*cause_r = "unterminated quoted string";
			return -1;
		}
		im->pos = i + 1;
		im->tk = im->qbuf.data != NULL ? im->qbuf.data : "";
		im->tklen = im->qbuf.len;
		return TK_QUOTED;
	case '{':
		s = i + 1;
		for (i = s; i < n && p[i] != '}'; i++)
			;
		if (i + 1 != n) {
			*cause_r = CAUSE_LITERAL;
			return -1;
		}
		im->tklit_plus = i > s && p[i - 1] == '+';
		im->tklit = strnum_u64(p + s, i - s - (im->tklit_plus ? 1 : 0),
		    UINT64_MAX, &errstr);
		if (errstr != NULL) {
			*cause_r = CAUSE_LITERAL;
			return -1;
		}
		if (im->tklit > im->max_literal) {
			*cause_r = CAUSE_LITBIG;
			return -1;
		}
		im->pos = n;
		return TK_LITERAL;
	default:
		break;
	}
	s = i;
	while (i < n && p[i] != ' ' && p[i] != '(' && p[i] != ')' &&
	    p[i] != '"' && p[i] != '{' && (unsigned char)p[i] > 0x1f &&
	    p[i] != 0x7f)
		i++;
	if (i == s) {
		*cause_r = CAUSE_SYNTAX;
		return -1;
	}
	im->tk = p + s;
	im->tklen = i - s;
	im->pos = i;
	return TK_ATOM;
}

static int
tok_number(struct imap *im, uint64_t min, uint64_t max, uint64_t *v_r)
{
	const char *errstr;
	uint64_t v;

	v = strnum_u64(im->tk, im->tklen, max, &errstr);
	if (errstr != NULL || v < min)
		return -1;
	*v_r = v;
	return 0;
}

static bool
depth_push(struct imap *im)
{
	if (im->depth >= IMAP_DEPTH_MAX)
		return false;
	im->depth++;
	return true;
}

void
imap_caps_parse(struct imap_caps *c, const char *text, size_t len)
{
	size_t i = 0, s, n;
	const char *w;

	memset(c, 0, sizeof(*c));
	while (i < len) {
		while (i < len && text[i] == ' ')
			i++;
		s = i;
		while (i < len && text[i] != ' ')
			i++;
		w = text + s;
		n = i - s;
		if (n == 0)
			break;
		if (tok_is(w, n, "IMAP4rev1"))
			c->imap4rev1 = true;
		else if (tok_is(w, n, "IMAP4rev2"))
			c->imap4rev2 = true;
		else if (tok_is(w, n, "STARTTLS"))
			c->starttls = true;
		else if (tok_is(w, n, "LOGINDISABLED"))
			c->logindisabled = true;
		else if (tok_is(w, n, "AUTH=PLAIN"))
			c->auth_plain = true;
		else if (tok_is(w, n, "AUTH=LOGIN"))
			c->auth_login = true;
		else if (tok_is(w, n, "AUTH=XOAUTH2"))
			c->auth_xoauth2 = true;
		else if (tok_is(w, n, "AUTH=OAUTHBEARER"))
			c->auth_oauthbearer = true;
		else if (tok_is(w, n, "SASL-IR"))
			c->sasl_ir = true;
		else if (tok_is(w, n, "UIDPLUS"))
			c->uidplus = true;
		else if (tok_is(w, n, "LITERAL+"))
			c->literal_plus = true;
		else if (tok_is(w, n, "LITERAL-"))
			c->literal_minus = true;
		else if (tok_is(w, n, "IDLE"))
			c->idle = true;
		else if (tok_is(w, n, "MOVE"))
			c->move = true;
		else if (tok_is(w, n, "CONDSTORE"))
			c->condstore = true;
		else if (tok_is(w, n, "ENABLE"))
			c->enable = true;
		else if (tok_is(w, n, "ID"))
			c->id = true;
		else if (tok_is(w, n, "UTF8=ACCEPT"))
			c->utf8_accept = true;
	}
}

/*
 * resp-text (RFC 3501 9): [SP] ["[" code [SP args] "]" SP] text, from pos
 * to the end of the line. Fills code and text of ev.
 */
static int
parse_resp_text(struct imap *im, struct imap_event *ev, const char **cause_r)
{
	const char *p = line_ptr(im), *args;
	size_t n = im->line_len, i = im->pos, cl, nl, al, k, end;
	const char *errstr;
	uint64_t max;

	if (i < n && p[i] == ' ')
		i++;
	if (i < n && p[i] == '[') {
		for (end = i; end < n && p[end] != ']'; end++)
			;
		if (end == n) {
			*cause_r = CAUSE_CODE;
			return -1;
		}
		ev->code_text = p + i + 1;
		ev->code_len = cl = end - i - 1;
		for (nl = 0; nl < cl && ev->code_text[nl] != ' '; nl++)
			;
		args = ev->code_text + nl;
		al = cl - nl;
		if (al > 0) {
			args++;
			al--;
		}
		ev->code = IMAP_CODE_OTHER;
		for (k = 0; k < MP_ARRAY_LEN(imap_codes); k++)
			if (tok_is(ev->code_text, nl, imap_codes[k].name)) {
				ev->code = imap_codes[k].code;
				break;
			}
		switch (ev->code) {
		case IMAP_CODE_UIDVALIDITY:
		case IMAP_CODE_UIDNEXT:
		case IMAP_CODE_UNSEEN:
		case IMAP_CODE_HIGHESTMODSEQ:
			max = ev->code == IMAP_CODE_HIGHESTMODSEQ ?
			    (uint64_t)INT64_MAX : UINT32_MAX;
			ev->code_num = strnum_u64(args, al, max, &errstr);
			if (errstr != NULL ||
			    (ev->code == IMAP_CODE_UIDVALIDITY &&
			    ev->code_num == 0)) {
				*cause_r = CAUSE_CODE;
				return -1;
			}
			break;
		case IMAP_CODE_CAPABILITY:
			imap_caps_parse(&im->caps, args, al);
			ev->caps = &im->caps;
			break;
		default:
			break;
		}
		i = end + 1;
		if (i < n && p[i] == ' ')
			i++;
	}
	ev->text = p + i;
	ev->len = n - i;
	im->pos = n;
	return 0;
}

static int
parse_status_word(const char *w, size_t n, enum imap_status *st_r)
{
	if (tok_is(w, n, "OK"))
		*st_r = IMAP_OK;
	else if (tok_is(w, n, "NO"))
		*st_r = IMAP_NO;
	else if (tok_is(w, n, "BAD"))
		*st_r = IMAP_BAD;
	else if (tok_is(w, n, "BYE"))
		*st_r = IMAP_BYE;
	else if (tok_is(w, n, "PREAUTH"))
		*st_r = IMAP_PREAUTH;
	else
		return -1;
	return 0;
}

/* Tagged "Annnn" -> the pending command, removed from the table. */
static int
pend_take(struct imap *im, const char *tag, size_t n, unsigned *tag_r,
    enum imap_cmd *cmd_r)
{
	const char *errstr;
	uint64_t t;
	size_t i;

	if (n < 2 || (tag[0] != 'A' && tag[0] != 'a'))
		return -1;
	t = strnum_u64(tag + 1, n - 1, UINT32_MAX, &errstr);
	if (errstr != NULL)
		return -1;
	for (i = 0; i < im->npend; i++)
		if (im->pend[i].tag == t)
			break;
	if (i == im->npend)
		return -1;
	*tag_r = im->pend[i].tag;
	*cmd_r = im->pend[i].cmd;
	memmove(&im->pend[i], &im->pend[i + 1],
	    (im->npend - i - 1) * sizeof(im->pend[0]));
	im->npend--;
	return 0;
}

/*
 * The start of a response line. Returns 1 with an event, 0 when the line
 * was used without an event (state set to continue), -1 on error.
 */
static int
parse_start(struct imap *im, struct imap_event *ev, const char **cause_r)
{
	const char *p = line_ptr(im);
	enum imap_status st;
	uint64_t num;
	int t;
	bool greeting = !im->greeted;

	im->greeted = true;
	if (im->line_len >= 1 && p[0] == '+') {
		if (greeting)
			goto bad_greeting;
		im->pos = im->line_len >= 2 && p[1] == ' ' ? 2 : 1;
		if (imap_out_continue(im)) {
			line_done(im);
			return 0;
		}
		ev->kind = IMAP_EV_CONT;
		ev->text = p + im->pos;
		ev->len = im->line_len - im->pos;
		line_done(im);
		return 1;
	}
	if ((t = tok_next(im, cause_r)) == -1)
		return -1;
	if (t != TK_ATOM)
		goto syntax;
	if (!(im->tklen == 1 && im->tk[0] == '*')) {
		/* Tagged completion. */
		if (greeting)
			goto bad_greeting;
		if (pend_take(im, im->tk, im->tklen, &ev->tag, &ev->cmd) == -1) {
			*cause_r = CAUSE_TAG;
			return -1;
		}
		if ((t = tok_next(im, cause_r)) == -1)
			return -1;
		if (t != TK_ATOM || parse_status_word(im->tk, im->tklen,
		    &st) == -1 || st > IMAP_BAD)
			goto syntax;
		ev->kind = IMAP_EV_TAGGED;
		ev->status = st;
		if (parse_resp_text(im, ev, cause_r) == -1)
			return -1;
		if (ev->cmd == IMAP_CMD_STARTTLS && st == IMAP_OK)
			memset(&im->caps, 0, sizeof(im->caps));
		imap_out_drop(im, ev->tag);
		line_done(im);
		return 1;
	}
	if ((t = tok_next(im, cause_r)) == -1)
		return -1;
	if (t != TK_ATOM)
		goto syntax;
	if (parse_status_word(im->tk, im->tklen, &st) == 0) {
		if (greeting && st != IMAP_OK && st != IMAP_PREAUTH &&
		    st != IMAP_BYE)
			goto bad_greeting;
		ev->kind = IMAP_EV_STATUS;
		ev->status = st;
		ev->greeting = greeting;
		if (st == IMAP_BYE)
			im->bye = true;
		if (parse_resp_text(im, ev, cause_r) == -1)
			return -1;
		line_done(im);
		return 1;
	}
	if (greeting)
		goto bad_greeting;
	if (tok_is(im->tk, im->tklen, "CAPABILITY")) {
		p = line_ptr(im);
		imap_caps_parse(&im->caps, p + im->pos,
		    im->line_len - im->pos);
		ev->kind = IMAP_EV_CAPABILITY;
		ev->caps = &im->caps;
		line_done(im);
		return 1;
	}
	if (im->tk[0] >= '0' && im->tk[0] <= '9') {
		if (tok_number(im, 0, UINT32_MAX, &num) == -1) {
			*cause_r = CAUSE_NUMBER;
			return -1;
		}
		if ((t = tok_next(im, cause_r)) == -1)
			return -1;
		if (t != TK_ATOM)
			goto syntax;
		if (tok_is(im->tk, im->tklen, "EXISTS"))
			ev->kind = IMAP_EV_EXISTS;
		else if (tok_is(im->tk, im->tklen, "RECENT"))
			ev->kind = IMAP_EV_RECENT;
		else if (tok_is(im->tk, im->tklen, "EXPUNGE")) {
			if (num == 0)
				goto number;
			ev->kind = IMAP_EV_EXPUNGE;
		} else if (tok_is(im->tk, im->tklen, "FETCH")) {
			if (num == 0)
				goto number;
			if ((t = tok_next(im, cause_r)) == -1)
				return -1;
			if (t != TK_LPAREN)
				goto syntax;
			memset(&im->fetch, 0, sizeof(im->fetch));
			im->fetch.seq = (uint32_t)num;
			im->depth = 1;
			im->ctx = CX_FETCH_ITEM;
			im->rs = RS_LINE;
			return 0;
		} else
			goto skip;
		ev->num = (uint32_t)num;
		line_done(im);
		return 1;
	}
skip:
	/* FLAGS, LIST, STATUS, ENABLED, ID, ...: not used, but literals in
	 * them must still be counted. */
	im->depth = 0;
	im->ctx = CX_SKIP_LINE;
	im->rs = RS_LINE;
	return 0;

bad_greeting:
	*cause_r = CAUSE_GREETING;
	return -1;
syntax:
	*cause_r = CAUSE_SYNTAX;
	return -1;
number:
	*cause_r = CAUSE_NUMBER;
	return -1;
}

/* FETCH item name: atom, with "[section]" and "<origin>" glued on. */
static int
fetch_item_name(struct imap *im, const char **cause_r)
{
	const char *p = line_ptr(im);
	size_t n = im->line_len, i = im->pos, s;
	bool inq = false;

	while (i < n && p[i] == ' ')
		i++;
	s = i;
	while (i < n && p[i] != ' ' && p[i] != '(' && p[i] != ')' &&
	    p[i] != '[' && p[i] != '"' && p[i] != '{' &&
	    (unsigned char)p[i] > 0x20 && p[i] != 0x7f)
		i++;
	if (i < n && p[i] == '[') {
		for (; i < n && (inq || p[i] != ']'); i++) {
			if (p[i] == '"')
				inq = !inq;
			else if (inq && p[i] == '\\' && i + 1 < n)
				i++;
		}
		if (i == n)
			goto bad;
		i++;
		if (i < n && p[i] == '<') {
			while (i < n && p[i] != '>')
				i++;
			if (i == n)
				goto bad;
			i++;
		}
	}
	if (i == s)
		goto bad;
	if (i - s > IMAP_SECTION_MAX) {
		*cause_r = CAUSE_SECTION;
		return -1;
	}
	memcpy(im->section, p + s, i - s);
	im->section[i - s] = '\0';
	im->section_len = i - s;
	im->pos = i;
	return 0;
bad:
	*cause_r = CAUSE_SYNTAX;
	return -1;
}

static enum imap_item
fetch_item_kind(const char *s, size_t n)
{
	if (tok_is(s, n, "UID"))
		return IT_UID;
	if (tok_is(s, n, "RFC822.SIZE"))
		return IT_SIZE;
	if (tok_is(s, n, "FLAGS"))
		return IT_FLAGS;
	if (tok_is(s, n, "INTERNALDATE"))
		return IT_INTERNALDATE;
	if (tok_is(s, n, "RFC822") || tok_is(s, n, "RFC822.HEADER") ||
	    tok_is(s, n, "RFC822.TEXT") ||
	    (n >= 5 && strncasecmp(s, "BODY[", 5) == 0) ||
	    (n >= 7 && strncasecmp(s, "BINARY[", 7) == 0))
		return IT_BODY;
	return IT_OTHER;
}

static void
fetch_flag(struct imap *im)
{
	static const struct {
		const char *name;
		unsigned bit;
	} sys[] = {
		{ "\\Seen", IMAP_FLAG_SEEN },
		{ "\\Answered", IMAP_FLAG_ANSWERED },
		{ "\\Flagged", IMAP_FLAG_FLAGGED },
		{ "\\Deleted", IMAP_FLAG_DELETED },
		{ "\\Draft", IMAP_FLAG_DRAFT },
		{ "\\Recent", IMAP_FLAG_RECENT },
	};
	size_t k;

	for (k = 0; k < MP_ARRAY_LEN(sys); k++)
		if (tok_is(im->tk, im->tklen, sys[k].name))
			im->fetch.flags |= sys[k].bit;
}

static void
ev_body(struct imap *im, struct imap_event *ev, enum imap_ev_kind kind)
{
	ev->kind = kind;
	ev->fetch = &im->fetch;
	ev->section = im->section;
	ev->section_len = im->section_len;
	ev->size = im->lit_size;
}

/*
 * Continue parsing the current line in context im->ctx. 1: event, 0: the
 * line (or response) is done or a literal starts (state set), -1: error.
 */
static int
parse_line(struct imap *im, struct imap_event *ev, const char **cause_r)
{
	uint64_t v;
	int t;

	for (;;) {
		switch (im->ctx) {
		case CX_QBODY_DATA:
			im->ctx = CX_QBODY_END;
			if (im->qbuf.len > 0) {
				ev_body(im, ev, IMAP_EV_BODY_DATA);
				ev->text = im->qbuf.data;
				ev->len = im->qbuf.len;
				return 1;
			}
			continue;
		case CX_QBODY_END:
			im->ctx = CX_FETCH_ITEM;
			ev_body(im, ev, IMAP_EV_BODY_END);
			return 1;
		case CX_FETCH_ITEM:
			if ((t = tok_next(im, cause_r)) == -1)
				return -1;
			if (t == TK_RPAREN) {
				im->depth = 0;
				if ((t = tok_next(im, cause_r)) == -1)
					return -1;
				if (t != TK_EOL)
					goto syntax;
				ev->kind = IMAP_EV_FETCH;
				ev->fetch = &im->fetch;
				line_done(im);
				im->rs = RS_START;
				return 1;
			}
			if (t == TK_EOL)
				goto eol;
			if (t != TK_ATOM)
				goto syntax;
			/* Re-scan the item name with its section. */
			im->pos = (size_t)(im->tk - line_ptr(im));
			if (fetch_item_name(im, cause_r) == -1)
				return -1;
			im->fitem = fetch_item_kind(im->section,
			    im->section_len);
			im->ctx = CX_FETCH_VALUE;
			continue;
		case CX_FETCH_VALUE:
			if ((t = tok_next(im, cause_r)) == -1)
				return -1;
			if (t == TK_EOL)
				goto eol;
			switch (im->fitem) {
			case IT_UID:
				if (t != TK_ATOM ||
				    tok_number(im, 1, UINT32_MAX, &v) == -1)
					goto number;
				im->fetch.has_uid = true;
				im->fetch.uid = (uint32_t)v;
				im->ctx = CX_FETCH_ITEM;
				continue;
			case IT_SIZE:
				if (t != TK_ATOM ||
				    tok_number(im, 0, INT64_MAX, &v) == -1)
					goto number;
				im->fetch.has_size = true;
				im->fetch.size = v;
				im->ctx = CX_FETCH_ITEM;
				continue;
			case IT_FLAGS:
				if (t != TK_LPAREN)
					goto syntax;
				if (!depth_push(im))
					goto depth;
				im->fetch.has_flags = true;
				im->fetch.flags = 0;
				im->ctx = CX_FLAGS;
				continue;
			case IT_INTERNALDATE:
				if (t == TK_QUOTED && im->tklen <
				    sizeof(im->fetch.internaldate)) {
					memcpy(im->fetch.internaldate, im->tk,
					    im->tklen);
					im->fetch.internaldate[im->tklen] =
					    '\0';
					im->fetch.has_internaldate = true;
				}
				break;
			case IT_BODY:
				if (t == TK_ATOM &&
				    tok_is(im->tk, im->tklen, "NIL")) {
					im->fetch.body_nil = true;
					im->ctx = CX_FETCH_ITEM;
					continue;
				}
				if (t == TK_QUOTED) {
					im->fetch.nbody++;
					im->lit_size = im->tklen;
					im->ctx = CX_QBODY_DATA;
					ev_body(im, ev, IMAP_EV_BODY_BEGIN);
					return 1;
				}
				if (t == TK_LITERAL) {
					im->fetch.nbody++;
					im->lit_size = im->lit_left = im->tklit;
					im->lit_body = true;
					im->ctx = CX_FETCH_ITEM;
					im->rs = RS_LITERAL;
					ev_body(im, ev, IMAP_EV_BODY_BEGIN);
					line_done(im);
					if (im->lit_left == 0)
						im->rs = RS_LITEND;
					return 1;
				}
				goto syntax;
			case IT_OTHER:
				break;
			}
			/* Skip the value whatever it is. */
			im->skip_depth = 0;
			im->ctx = CX_SKIP;
			goto skip_tok;
		case CX_FLAGS:
			if ((t = tok_next(im, cause_r)) == -1)
				return -1;
			if (t == TK_RPAREN) {
				im->depth--;
				im->ctx = CX_FETCH_ITEM;
			} else if (t == TK_ATOM)
				fetch_flag(im);
			else if (t == TK_EOL)
				goto eol;
			else
				goto syntax;
			continue;
		case CX_SKIP:
			if ((t = tok_next(im, cause_r)) == -1)
				return -1;
skip_tok:
			switch (t) {
			case TK_EOL:
				goto eol;
			case TK_LPAREN:
				if (!depth_push(im))
					goto depth;
				im->skip_depth++;
				break;
			case TK_RPAREN:
				if (im->skip_depth == 0)
					goto syntax;
				im->depth--;
				im->skip_depth--;
				break;
			case TK_LITERAL:
				im->lit_left = im->tklit;
				im->lit_body = false;
				im->rs = RS_LITERAL;
				line_done(im);
				if (im->skip_depth == 0)
					im->ctx = CX_FETCH_ITEM;
				return 0;
			default:
				break;
			}
			if (im->skip_depth == 0)
				im->ctx = CX_FETCH_ITEM;
			continue;
		case CX_SKIP_LINE:
			if ((t = tok_next(im, cause_r)) == -1)
				return -1;
			switch (t) {
			case TK_EOL:
				line_done(im);
				im->rs = RS_START;
				return 0;
			case TK_LPAREN:
				if (!depth_push(im))
					goto depth;
				break;
			case TK_RPAREN:
				if (im->depth > 0)
					im->depth--;
				break;
			case TK_LITERAL:
				im->lit_left = im->tklit;
				im->lit_body = false;
				im->rs = RS_LITERAL;
				line_done(im);
				return 0;
			default:
				break;
			}
			continue;
		}
	}
eol:
	*cause_r = CAUSE_EOL;
	return -1;
number:
	*cause_r = CAUSE_NUMBER;
	return -1;
depth:
	*cause_r = CAUSE_DEPTH;
	return -1;
syntax:
	*cause_r = CAUSE_SYNTAX;
	return -1;
}

static bool
search_prefix(const char *p, size_t n, bool *full_r)
{
	static const char pre[] = "* SEARCH";
	size_t k = MP_MIN(n, sizeof(pre) - 1);

	*full_r = false;
	if (strncasecmp(p, pre, k) != 0)
		return false;
	if (n < sizeof(pre))
		return true;	/* undecided: need more */
	if (p[sizeof(pre) - 1] != ' ' && p[sizeof(pre) - 1] != '\r')
		return false;
	*full_r = true;
	return true;
}

/*
 * "* SEARCH n n n ...": streamed, so the line limit does not apply; the
 * count and the bytes are bounded instead. RFC 7162 adds "(MODSEQ n)".
 */
static int
search_stream(struct imap *im, struct imap_event *ev, const char **cause_r)
{
	const char *p, *errstr;
	size_t n, i, j;
	uint64_t v;
	char tr[64];
	bool done = false;

	im->nuids = 0;
	n = pp_take(&im->pp, IMAP_IN_MAX, &p);
	i = 0;
	while (i < n && im->nuids < IMAP_SEARCH_BATCH) {
		if (p[i] == ' ') {
			i++;
			continue;
		}
		if (p[i] == '\r') {
			if (i + 1 == n)
				break;
			if (p[i + 1] != '\n')
				goto bad;
			i += 2;
			done = true;
			break;
		}
		if (p[i] == '(') {
			for (j = i; j < n && j - i < 64 && p[j] != ')'; j++)
				if (p[j] == '\r' || p[j] == '\n')
					goto bad;
			if (j - i >= 64)
				goto bad;
			if (j == n)
				break;
			i = j + 1;
			continue;
		}
		for (j = i; j < n && p[j] >= '0' && p[j] <= '9'; j++)
			if (j - i > 10)
				goto bad;
		if (j == i)
			goto bad;
		if (j == n)
			break;
		if (p[j] != ' ' && p[j] != '\r')
			goto bad;
		v = strnum_u64(p + i, j - i, UINT32_MAX, &errstr);
		if (errstr != NULL || v == 0)
			goto bad;
		if (++im->search_count > IMAP_SEARCH_MAX) {
			*cause_r = CAUSE_SEARCHBIG;
			return -1;
		}
		im->uids[im->nuids++] = (uint32_t)v;
		i = j;
	}
	im->search_bytes += i;
	if (im->search_bytes > (uint64_t)IMAP_SEARCH_MAX * 12 + IMAP_LINE_MAX) {
		*cause_r = CAUSE_SEARCHBIG;
		return -1;
	}
	pp_consume(&im->pp, i);
	if (done) {
		im->rs = RS_START;
		if (im->pp.trace != NULL) {
			int m = snprintf(tr, sizeof(tr), "* SEARCH (%llu UIDs)",
			    (unsigned long long)im->search_count);
			if (m > 0 && (size_t)m < sizeof(tr))
				im->pp.trace(im->pp.trace_arg, "S", tr,
				    (size_t)m);
		}
	} else if (i == 0 && im->nuids == 0 &&
	    pp_input_pending(&im->pp) >= IMAP_IN_MAX) {
		goto bad;
	}
	if (im->nuids == 0)
		return 0;
	ev->kind = IMAP_EV_SEARCH;
	ev->uids = im->uids;
	ev->nuids = im->nuids;
	return 1;
bad:
	*cause_r = CAUSE_SEARCH;
	return -1;
}

/* Read the next line into im->line_*. 1: got one, 0: need more, -1. */
static int
read_line(struct imap *im, const char **cause_r)
{
	const char *line;
	size_t len, used;
	int r;

	consume_now(im);
	r = pp_line(&im->pp, &line, &len, &used);
	if (r == LINE_MORE)
		return 0;
	if (r == LINE_TOOLONG) {
		*cause_r = CAUSE_TOOLONG;
		return -1;
	}
	if (r != LINE_READY) {
		*cause_r = CAUSE_BADLINE;
		return -1;
	}
	im->line_len = len;
	im->line_used = used;
	im->pos = 0;
	im->in_line = true;
	return 1;
}

int
imap_event_next(struct imap *im, struct imap_event *ev, const char **cause_r)
{
	const char *p;
	size_t n;
	bool full;
	int r;

	memset(ev, 0, sizeof(*ev));
	*cause_r = NULL;
	if (im->rs == RS_DEAD) {
		*cause_r = im->dead_cause != NULL ? im->dead_cause : CAUSE_DEAD;
		return -1;
	}
	imap_out_flush(im);
	for (;;) {
		switch (im->rs) {
		case RS_START:
			consume_now(im);
			n = pp_take(&im->pp, 9, &p);
			if (n == 0)
				return 0;
			if (im->greeted && search_prefix(p, n, &full)) {
				if (!full)
					return 0;
				pp_consume(&im->pp, 8);
				im->search_count = 0;
				im->search_bytes = 0;
				im->rs = RS_SEARCH;
				continue;
			}
			if ((r = read_line(im, cause_r)) <= 0)
				goto out;
			im->depth = 0;
			if ((r = parse_start(im, ev, cause_r)) != 0)
				goto out;
			continue;
		case RS_SEGMENT:
			if ((r = read_line(im, cause_r)) <= 0)
				goto out;
			im->rs = RS_LINE;
			continue;
		case RS_LINE:
			if ((r = parse_line(im, ev, cause_r)) != 0)
				goto out;
			continue;
		case RS_LITERAL:
			consume_now(im);
			n = pp_take(&im->pp,
			    im->lit_left < IMAP_IN_MAX ? (size_t)im->lit_left :
			    IMAP_IN_MAX, &p);
			if (n == 0)
				return 0;
			im->lit_left -= n;
			if (!im->lit_body) {
				pp_consume(&im->pp, n);
				if (im->lit_left == 0)
					im->rs = RS_SEGMENT;
				continue;
			}
			im->consume = n;
			if (im->lit_left == 0)
				im->rs = RS_LITEND;
			ev_body(im, ev, IMAP_EV_BODY_DATA);
			ev->text = p;
			ev->len = n;
			return 1;
		case RS_LITEND:
			im->rs = RS_SEGMENT;
			ev_body(im, ev, IMAP_EV_BODY_END);
			return 1;
		case RS_SEARCH:
			consume_now(im);
			r = search_stream(im, ev, cause_r);
			if (r != 0 || im->rs == RS_SEARCH)
				goto out;
			continue;
		case RS_DEAD:
			*cause_r = im->dead_cause;
			return -1;
		}
	}
out:
	if (r == -1)
		return imap_fail(im, *cause_r != NULL ? *cause_r :
		    CAUSE_SYNTAX, cause_r);
	return r;
}

/*
 * Sequence sets (RFC 3501 9: sequence-set).
 */
ssize_t
imap_set_build(const uint32_t *uids, size_t n, char *out, size_t outcap)
{
	size_t i = 0, j, len = 0;
	char item[24];
	int m;

	if (outcap < 24)
		return -1;
	out[0] = '\0';
	while (i < n) {
		if (uids[i] == 0 || (i > 0 && uids[i] < uids[i - 1]))
			return -1;
		/* Extend the run while consecutive (duplicates too). */
		for (j = i; j + 1 < n && (uids[j + 1] == uids[j] ||
		    (uids[j] != UINT32_MAX && uids[j + 1] == uids[j] + 1)); j++)
			;
		if (uids[j] == uids[i])
			m = snprintf(item, sizeof(item), "%s%u",
			    len > 0 ? "," : "", uids[i]);
		else
			m = snprintf(item, sizeof(item), "%s%u:%u",
			    len > 0 ? "," : "", uids[i], uids[j]);
		if (m < 0 || (size_t)m >= sizeof(item))
			return -1;
		if (len + (size_t)m >= outcap)
			break;
		memcpy(out + len, item, (size_t)m + 1);
		len += (size_t)m;
		i = j + 1;
	}
	return (ssize_t)i;
}

/*
 * CRLF -> LF over chunks. out must hold len + 1 bytes (a CR held from the
 * previous chunk that turns out to be bare is written back).
 */
size_t
imap_crlf_to_lf(const char *in, size_t len, char *out, bool *pending_cr)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (*pending_cr) {
			*pending_cr = false;
			if (in[i] != '\n')
				out[o++] = '\r';
		}
		if (in[i] == '\r')
			*pending_cr = true;
		else
			out[o++] = in[i];
	}
	return o;
}

int
imap_crlf_flush(bool *pending_cr)
{
	int r = *pending_cr ? 1 : 0;

	*pending_cr = false;
	return r;
}

enum err_class
imap_code_err_class(enum imap_status st, enum imap_code code)
{
	switch (code) {
	case IMAP_CODE_AUTHENTICATIONFAILED:
	case IMAP_CODE_AUTHORIZATIONFAILED:
	case IMAP_CODE_EXPIRED:
	case IMAP_CODE_PRIVACYREQUIRED:
		return ERR_AUTH;
	case IMAP_CODE_UNAVAILABLE:
	case IMAP_CODE_INUSE:
	case IMAP_CODE_EXPUNGEISSUED:
	case IMAP_CODE_LIMIT:
	case IMAP_CODE_SERVERBUG:
		return ERR_TEMP;
	case IMAP_CODE_CONTACTADMIN:
	case IMAP_CODE_NOPERM:
	case IMAP_CODE_NONEXISTENT:
	case IMAP_CODE_CORRUPTION:
	case IMAP_CODE_OVERQUOTA:
	case IMAP_CODE_CANNOT:
		return ERR_PERM;
	default:
		break;
	}
	switch (st) {
	case IMAP_OK:
	case IMAP_PREAUTH:
		return ERR_NONE;
	case IMAP_BAD:
		return ERR_PROTOCOL;
	case IMAP_BYE:
		return ERR_TEMP;
	case IMAP_NO:
	default:
		return ERR_PERM;
	}
}

const char *
imap_cmd_name(enum imap_cmd cmd)
{
	if ((unsigned)cmd >= IMAP__CMD_COUNT)
		return "?";
	return imap_cmd_names[cmd];
}

const char *
imap_status_name(enum imap_status st)
{
	switch (st) {
	case IMAP_OK:
		return "OK";
	case IMAP_NO:
		return "NO";
	case IMAP_BAD:
		return "BAD";
	case IMAP_BYE:
		return "BYE";
	case IMAP_PREAUTH:
		return "PREAUTH";
	}
	return "?";
}

const char *
imap_code_name(enum imap_code code)
{
	size_t k;

	if (code == IMAP_CODE_NONE)
		return "";
	for (k = 0; k < MP_ARRAY_LEN(imap_codes); k++)
		if (imap_codes[k].code == code)
			return imap_codes[k].name;
	return "OTHER";
}
