/*
 * rspamd.c - rspamd's scan protocol: HTTP POST /checkv2 with the message
 * as the body and the envelope in request headers (IP, Helo, Hostname,
 * From, Rcpt), a JSON reply (action, score, required_score, symbols,
 * milter.add_headers). The reply is hostile input: bounded in size
 * (headers 16 KiB, body FILTER_REPLY_MAX), parsed by jansson (depth-limited,
 * no recursion on our side), every string checked before it becomes a
 * header line.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "filter/filter.h"
#include "filter/filter_impl.h"
#include "util/buf.h"
#include "util/line.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define RSPAMD_HEAD_MAX		(16 * 1024)
#define RSPAMD_SYMBOLS_MAX	900	/* bytes of the symbol list */
#define RSPAMD_VALUE_MAX	4096	/* one added header's value */
#define RSPAMD_ADD_MAX		32	/* added header fields */

void
rspamd_reply_clear(struct rspamd_reply *r)
{
	free(r->symbols);
	free(r->add_headers);
	memset(r, 0, sizeof(*r));
}

/* RFC 5322 section 2.2: a field name is printable ASCII but ':'. */
static bool
header_name_ok(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == ':')
			return false;
	return n > 0 && n <= 76;
}

/* Append "Name: value\n", the value unfolded of CR, refolded at LF with a
 * tab, other control characters as spaces, at most RSPAMD_VALUE_MAX. */
static int
add_field(struct buf *b, const char *name, const char *v)
{
	size_t n = 0;

	if (!header_name_ok(name))
		return 0;	/* skipped, not an error */
	if (buf_printf(b, "%s: ", name) == -1)
		return -1;
	for (; *v != '\0' && n < RSPAMD_VALUE_MAX; v++, n++) {
		unsigned char c = (unsigned char)*v;

		if (c == '\r')
			continue;
		if (c == '\n') {
			while (v[1] == ' ' || v[1] == '\t' || v[1] == '\r' ||
			    v[1] == '\n')
				v++;
			if (v[1] != '\0' && buf_adds(b, "\n\t") == -1)
				return -1;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			c = ' ';
		if (buf_add(b, &c, 1) == -1)
			return -1;
	}
	return buf_adds(b, "\n");
}

static int
add_header_value(struct buf *b, const char *name, json_t *v, int *count)
{
	json_t *x;
	size_t i;

	if (*count >= RSPAMD_ADD_MAX)
		return 0;
	if (json_is_string(v)) {
		(*count)++;
		return add_field(b, name, json_string_value(v));
	}
	if (json_is_object(v)) {
		x = json_object_get(v, "value");
		if (json_is_string(x)) {
			(*count)++;
			return add_field(b, name, json_string_value(x));
		}
		return 0;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			/* one level only: arrays of strings or objects */
			if (json_is_array(x))
				continue;
			if (add_header_value(b, name, x, count) == -1)
				return -1;
		}
	}
	return 0;
}

int
filter_rspamd_reply_parse(const char *json, size_t len,
    struct rspamd_reply *r, struct err *e)
{
	json_error_t jerr;
	json_t *root, *v, *sym, *milter, *add;
	const char *key;
	struct buf b;
	int count = 0, rc = -1;

	memset(r, 0, sizeof(*r));
	if (len > FILTER_REPLY_MAX)
		return err_set(e, ERR_PROTOCOL, "rspamd: reply over %d bytes",
		    FILTER_REPLY_MAX);
	root = json_loadb(json, len, JSON_DISABLE_EOF_CHECK, &jerr);
	if (root == NULL)
		return err_set(e, ERR_PROTOCOL, "rspamd: bad JSON reply: %.100s",
		    jerr.text);
	buf_init(&b, FILTER_HEADERS_MAX);
	if (!json_is_object(root)) {
		err_set(e, ERR_PROTOCOL, "rspamd: reply is not an object");
		goto out;
	}
	v = json_object_get(root, "action");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= sizeof(r->action)) {
		err_set(e, ERR_PROTOCOL, "rspamd: reply without an action");
		goto out;
	}
	(void)snprintf(r->action, sizeof(r->action), "%s",
	    json_string_value(v));
	for (char *p = r->action; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == ' ' || *p == '_')) {
			err_set(e, ERR_PROTOCOL, "rspamd: strange action");
			goto out;
		}
	v = json_object_get(root, "score");
	if (!json_is_number(v)) {
		err_set(e, ERR_PROTOCOL, "rspamd: reply without a score");
		goto out;
	}
	r->score = json_number_value(v);
	v = json_object_get(root, "required_score");
	r->required = json_is_number(v) ? json_number_value(v) : 0;
	if (!(r->score > -1e6 && r->score < 1e6) ||
	    !(r->required > -1e6 && r->required < 1e6)) {
		err_set(e, ERR_PROTOCOL, "rspamd: score out of range");
		goto out;
	}
	sym = json_object_get(root, "symbols");
	if (json_is_object(sym)) {
		struct buf s;

		buf_init(&s, RSPAMD_SYMBOLS_MAX);
		json_object_foreach(sym, key, v) {
			if (!header_name_ok(key) || strchr(key, ',') != NULL)
				continue;
			if ((s.len > 0 && buf_adds(&s, ",") == -1) ||
			    buf_adds(&s, key) == -1)
				break;
		}
		/* a cut list is fine: it is for a human */
		r->symbols = buf_detach(&s);
		buf_free(&s);
	}
	milter = json_object_get(root, "milter");
	add = json_is_object(milter) ? json_object_get(milter, "add_headers") :
	    NULL;
	if (json_is_object(add)) {
		json_object_foreach(add, key, v)
			if (add_header_value(&b, key, v, &count) == -1) {
				err_set(e, ERR_PROTOCOL, "rspamd: added "
				    "headers over %d bytes",
				    FILTER_HEADERS_MAX);
				goto out;
			}
		if (b.len > 0)
			r->add_headers = buf_detach(&b);
	}
	rc = 0;
out:
	if (rc == -1)
		rspamd_reply_clear(r);
	buf_free(&b);
	json_decref(root);
	return rc;
}

/* A request header value: printable, no spaces or controls, bounded. */
static int
req_header(struct buf *b, const char *name, const char *v)
{
	size_t i, n = 0;

	if (v == NULL || v[0] == '\0')
		return 0;
	if (buf_printf(b, "%s: ", name) == -1)
		return -1;
	for (i = 0; v[i] != '\0' && n < 320; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c <= 0x20 || c == 0x7f)
			continue;
		if (buf_add(b, &c, 1) == -1)
			return -1;
		n++;
	}
	return buf_adds(b, "\r\n");
}

/* Read the whole reply (HTTP/1.0, the server closes). */
static int
read_reply(struct conn *c, struct buf *in, struct err *e)
{
	ssize_t n;
	char *w;

	for (;;) {
		if ((w = buf_reserve(in, FILTER_CHUNK)) == NULL &&
		    (w = buf_reserve(in, in->max - in->len)) == NULL)
			return err_set(e, ERR_PROTOCOL, "rspamd: reply over "
			    "%zu bytes", in->max);
		n = conn_read(c, w, MP_MIN((size_t)FILTER_CHUNK,
		    in->max - in->len), e);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		buf_commit(in, (size_t)n);
		if (in->len >= in->max)
			return err_set(e, ERR_PROTOCOL, "rspamd: reply over "
			    "%zu bytes", in->max);
	}
}

int
rspamd_scan(const struct filter_addr *addr, int timeout_ms, struct spool *sp,
    const struct rspamd_req *rq, struct rspamd_reply *r, struct err *e)
{
	struct conn *c = NULL;
	struct buf req, in;
	const char *line, *errstr;
	char *chunk = NULL;
	size_t len, used, i;
	long long clen = -1;
	ssize_t n;
	bool first = true;
	int status = 0, rc = -1, lr;

	memset(r, 0, sizeof(*r));
	buf_init(&req, 64 * 1024);
	buf_init(&in, RSPAMD_HEAD_MAX + FILTER_REPLY_MAX);
	if (buf_printf(&req, "POST /checkv2 HTTP/1.0\r\nHost: %s\r\n"
	    "Content-Length: %llu\r\nUser-Agent: mailpull/%s\r\n",
	    addr->unix_socket ? "localhost" : addr->host,
	    (unsigned long long)spool_size(sp), MAILPULL_VERSION) == -1 ||
	    req_header(&req, "IP", rq->ip) == -1 ||
	    req_header(&req, "Helo", rq->helo) == -1 ||
	    req_header(&req, "Hostname", rq->hostname) == -1 ||
	    req_header(&req, "From", rq->from) == -1) {
		err_set(e, ERR_INTERNAL, "rspamd: request too long");
		goto out;
	}
	for (i = 0; i < rq->nrcpts; i++)
		if (req_header(&req, "Rcpt", rq->rcpts[i]) == -1) {
			err_set(e, ERR_INTERNAL, "rspamd: too many recipients");
			goto out;
		}
	if (buf_adds(&req, "\r\n") == -1) {
		err_set(e, ERR_INTERNAL, "rspamd: request too long");
		goto out;
	}
	if (filter_connect(addr, timeout_ms, &c, e) == -1 ||
	    conn_write(c, req.data, req.len, e) == -1)
		goto fail;
	if (spool_rewind(sp, e) == -1)
		goto out;
	chunk = xmalloc(FILTER_CHUNK);
	while ((n = spool_read(sp, chunk, FILTER_CHUNK, e)) > 0)
		if (conn_write(c, chunk, (size_t)n, e) == -1)
			goto fail;
	if (n < 0)
		goto out;
	if (read_reply(c, &in, e) == -1)
		goto fail;
	/* Status line and header fields. */
	for (;;) {
		lr = line_get(&in, 8192, LINE_ALLOW_LF, &line, &len, &used);
		if (lr != LINE_READY) {
			err_set(e, ERR_PROTOCOL, "rspamd: malformed HTTP "
			    "reply header");
			goto fail;
		}
		if (first) {
			if (len < 12 || strncmp(line, "HTTP/1.", 7) != 0 ||
			    line[8] != ' ') {
				err_set(e, ERR_PROTOCOL, "rspamd: not an HTTP "
				    "reply");
				goto fail;
			}
			status = (int)strnum_n(line + 9, 3, 100, 599, &errstr);
			if (errstr != NULL) {
				err_set(e, ERR_PROTOCOL, "rspamd: bad HTTP "
				    "status");
				goto fail;
			}
			first = false;
		} else if (len == 0) {
			buf_consume(&in, used);
			break;
		} else if (len > 15 && strncasecmp(line, "Content-Length:",
		    15) == 0) {
			size_t k = 15;

			while (k < len && line[k] == ' ')
				k++;
			clen = strnum_n(line + k, len - k, 0,
			    FILTER_REPLY_MAX, &errstr);
			if (errstr != NULL) {
				err_set(e, ERR_PROTOCOL, "rspamd: bad "
				    "Content-Length");
				goto fail;
			}
		} else if (len > 18 && strncasecmp(line, "Transfer-Encoding:",
		    18) == 0) {
			err_set(e, ERR_PROTOCOL, "rspamd: chunked reply not "
			    "supported");
			goto fail;
		}
		buf_consume(&in, used);
	}
	if (status != 200) {
		err_set(e, ERR_PROTOCOL, "rspamd: HTTP status %d", status);
		goto fail;
	}
	if (clen >= 0 && (size_t)clen != in.len) {
		err_set(e, ERR_PROTOCOL, "rspamd: reply body of %zu bytes, "
		    "Content-Length %lld", in.len, clen);
		goto fail;
	}
	if (filter_rspamd_reply_parse(in.data, in.len, r, e) == -1)
		goto out;
	rc = 0;
	goto out;
fail:
	if (e != NULL && strncmp(err_msg(e), "rspamd", 6) != 0)
		err_prefix(e, "rspamd");
out:
	conn_free(&c);
	free(chunk);
	buf_free(&req);
	buf_free(&in);
	return rc;
}
