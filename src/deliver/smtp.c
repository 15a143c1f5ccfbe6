#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "deliver/target.h"
#include "deliver/target_impl.h"
#include "net/conn.h"
#include "proto/pp.h"
#include "proto/smtp.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/spool.h"
#include "util/xmalloc.h"

/*
 * The lmtp: and smtp: targets (RFC 2033, RFC 5321) on the shared client
 * engine proto/smtp.h. One connection is kept for the pass: a transaction
 * per message, RSET before the next one; the RSET doubles as the check
 * that an idle connection is still up, and when it is not we reconnect
 * once. Every byte the message sends goes through the engine's DATA
 * encoder (canonical CRLF, dot-stuffed).
 *
 * Results per recipient: 2xx delivered, 4xx ERR_TEMP, 5xx ERR_PERM, the
 * server's reply as the reason. SMTP answers the data once for all
 * accepted recipients; LMTP once per accepted recipient, in RCPT order.
 * A failure of the connection is a failure of the whole attempt
 * (ERR_TEMP), except after LMTP has already answered for some recipients.
 */

#define SMTPT_TIMEOUT_MS	(30 * 1000)
#define SMTPT_HEAD_MAX		(64 * 1024)	/* headers searched */
#define SMTPT_READ		(16 * 1024)
#define SMTPT_REASON_MAX	512

struct smtpt {
	struct conn *conn;
	struct smtp *smtp;
	bool lmtp;
	bool used;		/* a transaction ran on this connection */
	int timeout_ms;
	char label[300];	/* "lmtp 127.0.0.1:24", for messages */
	char helo[256];
};

static void
smtpt_trace(void *arg, const char *dir, const char *line, size_t len)
{
	struct smtpt *st = arg;

	log_debug("%s: %s: %.*s", st->label, dir, (int)MP_MIN(len, 300),
	    line);
}

static void
smtpt_disconnect(struct smtpt *st)
{
	conn_free(&st->conn);
	smtp_free(&st->smtp);
	st->used = false;
}

/* Write everything the engine has queued. */
static int
smtpt_flush(struct smtpt *st, struct err *err)
{
	struct pp *pp = smtp_pp(st->smtp);
	const char *p;
	size_t n;

	p = pp_output(pp, &n);
	if (n == 0)
		return 0;
	if (conn_write(st->conn, p, n, err) == -1)
		return -1;
	pp_output_consume(pp, n);
	return 0;
}

/* The next complete reply, reading as needed. */
static int
smtpt_reply(struct smtpt *st, struct smtp_reply *r, struct err *err)
{
	struct pp *pp = smtp_pp(st->smtp);
	char rbuf[SMTPT_READ];
	const char *cause;
	ssize_t n;
	int x;

	for (;;) {
		x = smtp_reply_next(st->smtp, r, &cause);
		if (x == 1)
			return 0;
		if (x == -1)
			return err_set(err, ERR_PROTOCOL, "%s: %s", st->label,
			    cause);
		if (smtpt_flush(st, err) == -1)
			return -1;
		n = conn_read(st->conn, rbuf, MP_MIN(sizeof(rbuf),
		    pp_input_room(pp)), err);
		if (n == -1)
			return -1;
		if (n == 0)
			return err_set(err, ERR_PROTOCOL,
			    "%s: connection closed by the server", st->label);
		if (pp_input(pp, rbuf, (size_t)n) == -1)
			return err_set(err, ERR_PROTOCOL,
			    "%s: server reply too long", st->label);
	}
}

/* "STEP: 550 5.1.1 text" on one line, bounded. */
static char *
smtpt_reason(const char *step, const struct smtp_reply *r)
{
	char text[SMTPT_REASON_MAX];
	size_t i, n;

	n = MP_MIN(r->len, sizeof(text) - 1);
	memcpy(text, r->text, n);
	text[n] = '\0';
	for (i = 0; i < n; i++)
		if (text[i] == '\n')
			text[i] = ' ';
	return xasprintf("%s: %d %s", step, r->code, text);
}

static enum err_class
smtpt_class(int code)
{
	if (code >= 200 && code < 300)
		return ERR_NONE;
	if (code >= 500)
		return ERR_PERM;
	return ERR_TEMP;	/* 4xx, or a 3xx where none belongs */
}

/* A host name fit for EHLO/LHLO. */
static void
smtpt_helo_name(char *out, size_t cap, const char *host)
{
	size_t i, n = host != NULL ? strlen(host) : 0;

	for (i = 0; i < n; i++) {
		char c = host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-'))
			break;
	}
	if (n == 0 || i < n || n >= cap)
		host = "localhost";
	(void)snprintf(out, cap, "%s", host);
}

static int
smtpt_hello(struct smtpt *st, struct err *err)
{
	struct smtp_reply r;
	enum smtp_cmd cmd = st->lmtp ? SMTP_LHLO : SMTP_EHLO;

	if (smtp_send(st->smtp, cmd, st->helo) == -1)
		return err_set(err, ERR_INTERNAL, "%s: cannot queue %s",
		    st->label, smtp_cmd_name(cmd));
	if (smtpt_reply(st, &r, err) == -1)
		return -1;
	if (r.code == 250)
		return 0;
	/* RFC 5321 section 4.1.4: an old server may know HELO only. */
	if (!st->lmtp && r.code >= 500) {
		if (smtp_send(st->smtp, SMTP_HELO, st->helo) == -1)
			return err_set(err, ERR_INTERNAL, "%s: cannot queue "
			    "HELO", st->label);
		if (smtpt_reply(st, &r, err) == -1)
			return -1;
		if (r.code == 250)
			return 0;
	}
	return err_set(err, ERR_TEMP, "%s: %s refused: %d %.200s", st->label,
	    smtp_cmd_name(r.cmd), r.code, r.text);
}

static int
smtpt_starttls(struct target *t, struct smtpt *st, struct err *err)
{
	struct smtp_reply r;
	struct tls_opts o;

	/* RFC 3207: required when configured, never skipped. */
	if (!smtp_capa(st->smtp)->starttls)
		return err_set(err, ERR_TLS, "%s: server does not offer "
		    "STARTTLS", st->label);
	if (smtp_send(st->smtp, SMTP_STARTTLS, NULL) == -1)
		return err_set(err, ERR_INTERNAL, "%s: cannot queue STARTTLS",
		    st->label);
	if (smtpt_reply(st, &r, err) == -1)
		return -1;
	if (r.code != 220)
		return err_set(err, ERR_TLS, "%s: STARTTLS refused: %d "
		    "%.200s", st->label, r.code, r.text);
	/* Bytes after the 220 were sent in clear: injection. */
	if (pp_input_pending(smtp_pp(st->smtp)) != 0 ||
	    conn_pending(st->conn) != 0)
		return err_set(err, ERR_PROTOCOL, "%s: data after the "
		    "STARTTLS reply", st->label);
	memset(&o, 0, sizeof(o));
	o.verify = true;
	o.servername = t->uri.host;
	if (conn_starttls(st->conn, &o, err) == -1) {
		err_prefix(err, "%s", st->label);
		return -1;
	}
	/* RFC 3207 section 4.2: forget what was learned in clear. */
	smtp_capa_clear(st->smtp);
	return smtpt_hello(st, err);
}

static int
smtpt_connect(struct target *t, struct smtpt *st, struct err *err)
{
	struct smtp_reply r;
	int rc;

	if (t->uri.unix_socket)
		rc = conn_connect_unix(&st->conn, t->uri.path, st->timeout_ms,
		    err);
	else
		rc = conn_connect(&st->conn, t->uri.host, t->uri.port,
		    st->timeout_ms, err);
	if (rc == -1) {
		err_prefix(err, "%s", st->label);
		return -1;
	}
	conn_set_timeout(st->conn, st->timeout_ms);
	st->smtp = smtp_create(st->lmtp);
	pp_set_trace(smtp_pp(st->smtp), smtpt_trace, st);
	st->used = false;
	if (smtpt_reply(st, &r, err) == -1)
		goto fail;
	if (r.code != 220) {
		err_set(err, ERR_TEMP, "%s: greeting: %d %.200s", st->label,
		    r.code, r.text);
		goto fail;
	}
	if (smtpt_hello(st, err) == -1)
		goto fail;
	if (t->uri.starttls && smtpt_starttls(t, st, err) == -1)
		goto fail;
	return 0;
fail:
	smtpt_disconnect(st);
	return -1;
}

/*
 * A connection ready for a new transaction: connect, or RSET a used one.
 * A used connection that fails its RSET (closed while idle, 421) is
 * replaced once.
 */
static int
smtpt_ready(struct target *t, struct smtpt *st, struct err *err)
{
	struct smtp_reply r;

	if (st->conn != NULL && st->used) {
		if (smtp_send(st->smtp, SMTP_RSET, NULL) == 0 &&
		    smtpt_reply(st, &r, err) == 0 && r.code == 250) {
			st->used = false;
			return 0;
		}
		log_debug("%s: connection unusable (%s), reconnecting",
		    st->label, err_msg(err));
		err_clear(err);
		smtpt_disconnect(st);
	}
	if (st->conn != NULL)
		return 0;
	return smtpt_connect(t, st, err);
}

/*
 * The envelope sender: the address in the message's first Return-Path:
 * field (RFC 5322 section 3.6.7), or the null sender. An address we could
 * not send safely is replaced by the null sender too.
 */
static char *
smtpt_sender(struct spool *sp)
{
	char *head, *v = NULL, *lt, *gt;
	size_t n, i, j, o;

	head = xmalloc(SMTPT_HEAD_MAX);
	n = spool_head(sp, head, SMTPT_HEAD_MAX);
	for (i = 0; i < n;) {
		if (head[i] == '\n' || (head[i] == '\r' && i + 1 < n &&
		    head[i + 1] == '\n'))
			break;	/* end of the header */
		if (n - i >= 12 && strncasecmp(head + i, "Return-Path:",
		    12) == 0) {
			/* Unfold the value into a string. */
			v = xmalloc(n - i);
			o = 0;
			for (j = i + 12; j < n; j++) {
				if (head[j] == '\n' && (j + 1 >= n ||
				    (head[j + 1] != ' ' && head[j + 1] != '\t')))
					break;
				if (head[j] == '\r' || head[j] == '\n')
					continue;
				v[o++] = head[j];
			}
			v[o] = '\0';
			break;
		}
		while (i < n && head[i] != '\n')
			i++;
		i++;
	}
	free(head);
	if (v == NULL)
		return xstrdup("");
	if ((lt = strchr(v, '<')) != NULL &&
	    (gt = strchr(lt + 1, '>')) != NULL) {
		*gt = '\0';
		memmove(v, lt + 1, strlen(lt + 1) + 1);
	} else {
		/* No brackets: the trimmed value. */
		for (lt = v; *lt == ' ' || *lt == '\t'; lt++)
			;
		memmove(v, lt, strlen(lt) + 1);
		o = strlen(v);
		while (o > 0 && (v[o - 1] == ' ' || v[o - 1] == '\t'))
			v[--o] = '\0';
	}
	if (smtp_addr_check(v) == -1 || strchr(v, ' ') != NULL ||
	    (*v != '\0' && strchr(v, '@') == NULL)) {
		log_debug("Return-Path \"%.100s\" unusable: null sender", v);
		v[0] = '\0';
	}
	return v;
}

/* Stream the prepended header and the spool through the encoder. */
static int
smtpt_send_data(struct smtpt *st, const struct buf *hdr, struct spool *sp,
    size_t nreplies, struct err *err)
{
	char *chunk;
	ssize_t n;
	size_t off;
	int r = -1;

	chunk = xmalloc(SMTP_DATA_CHUNK);
	for (off = 0; off < hdr->len; off += SMTP_DATA_CHUNK) {
		if (smtp_data_write(st->smtp, hdr->data + off,
		    MP_MIN(SMTP_DATA_CHUNK, hdr->len - off)) == -1 ||
		    smtpt_flush(st, err) == -1)
			goto out;
	}
	if (spool_rewind(sp, err) == -1)
		goto out;
	for (;;) {
		if ((n = spool_read(sp, chunk, SMTP_DATA_CHUNK, err)) == -1) {
			if (err != NULL)
				err->cls = ERR_LOCAL;
			goto out;
		}
		if (n == 0)
			break;
		if (smtp_data_write(st->smtp, chunk, (size_t)n) == -1) {
			err_set(err, ERR_INTERNAL, "%s: output bound",
			    st->label);
			goto out;
		}
		if (smtpt_flush(st, err) == -1)
			goto out;
	}
	if (smtp_data_end(st->smtp, nreplies) == -1) {
		err_set(err, ERR_INTERNAL, "%s: cannot end the data",
		    st->label);
		goto out;
	}
	r = smtpt_flush(st, err);
out:
	free(chunk);
	return r;
}

static void
smtpt_set(struct target_rcpt *rc, enum err_class cls, char *reason)
{
	free(rc->reason);
	rc->result = cls;
	rc->reason = cls == ERR_NONE ? NULL : reason;
	if (cls == ERR_NONE)
		free(reason);
}

static int
smtpt_deliver_many(struct target *t, struct spool *sp,
    struct target_rcpt *rcpts, size_t n, const struct delivery *d,
    struct err *err)
{
	struct smtpt *st = t->priv;
	struct smtp_mail_opts mo;
	struct smtp_reply r;
	struct buf hdr;
	const struct smtp_capa *capa;
	char *from = NULL, *mail_reason = NULL, step[SMTP_ADDR_MAX + 16];
	bool *sent = NULL, need_utf8, pipe;
	size_t i, nsent = 0, nacc = 0, nreplied = 0;
	int mail_code = 0, data_code = 0, rc = -1;

	buf_init(&hdr, TARGET_HEADER_MAX);
	if (target_header_format(&hdr, t->hostname, n == 1 ? rcpts[0].addr :
	    NULL, d, time(NULL), err) == -1)
		goto out;
	from = smtpt_sender(sp);
	if (smtpt_ready(t, st, err) == -1)
		goto fail;
	capa = smtp_capa(st->smtp);

	/* Which recipients go out at all. */
	sent = xcalloc(n, sizeof(*sent));
	need_utf8 = smtp_addr_8bit(from);
	for (i = 0; i < n; i++) {
		if (smtp_addr_check(rcpts[i].addr) == -1 ||
		    *rcpts[i].addr == '\0')
			smtpt_set(&rcpts[i], ERR_PERM, xasprintf("invalid "
			    "recipient address \"%.100s\"", rcpts[i].addr));
		else if (smtp_addr_8bit(rcpts[i].addr) && !capa->smtputf8)
			smtpt_set(&rcpts[i], ERR_PERM, xasprintf("%s does not "
			    "offer SMTPUTF8 for \"%.100s\"", st->label,
			    rcpts[i].addr));
		else {
			sent[i] = true;
			nsent++;
			if (smtp_addr_8bit(rcpts[i].addr))
				need_utf8 = true;
		}
	}
	if (nsent == 0) {
		rc = 0;
		goto out;
	}
	if (need_utf8 && !capa->smtputf8) {
		/* Only the sender is 8-bit: send the null sender instead. */
		from[0] = '\0';
		need_utf8 = false;
	}
	memset(&mo, 0, sizeof(mo));
	mo.body_8bitmime = capa->eightbitmime;
	mo.smtputf8 = need_utf8;
	if (capa->size)
		mo.size = (uint64_t)hdr.len + spool_size(sp);
	pipe = capa->pipelining;

	/* MAIL, RCPT..., DATA: all at once with PIPELINING (RFC 2920). */
	st->used = true;
	if (smtp_send_mail(st->smtp, from, &mo) == -1) {
		err_set(err, ERR_INTERNAL, "%s: cannot queue MAIL", st->label);
		goto fail;
	}
	if (!pipe) {
		if (smtpt_reply(st, &r, err) == -1)
			goto fail;
		mail_code = r.code;
		(void)snprintf(step, sizeof(step), "MAIL FROM:<%s>", from);
		mail_reason = smtpt_reason(step, &r);
		if (smtpt_class(mail_code) != ERR_NONE)
			goto refused;
	}
	for (i = 0; i < n; i++)
		if (sent[i] && smtp_send_rcpt(st->smtp, rcpts[i].addr) == -1) {
			err_set(err, ERR_INTERNAL, "%s: cannot queue RCPT",
			    st->label);
			goto fail;
		}
	if (pipe && smtp_send(st->smtp, SMTP_DATA, NULL) == -1) {
		err_set(err, ERR_INTERNAL, "%s: cannot queue DATA", st->label);
		goto fail;
	}
	if (pipe) {
		if (smtpt_reply(st, &r, err) == -1)
			goto fail;
		mail_code = r.code;
		(void)snprintf(step, sizeof(step), "MAIL FROM:<%s>", from);
		mail_reason = smtpt_reason(step, &r);
	}
	for (i = 0; i < n; i++) {
		if (!sent[i])
			continue;
		if (smtpt_reply(st, &r, err) == -1)
			goto fail;
		if (smtpt_class(mail_code) != ERR_NONE)
			continue;	/* the MAIL refusal decides */
		(void)snprintf(step, sizeof(step), "RCPT TO:<%s>",
		    rcpts[i].addr);
		if (smtpt_class(r.code) == ERR_NONE) {
			nacc++;
			rcpts[i].result = ERR_NONE;
		} else {
			smtpt_set(&rcpts[i], smtpt_class(r.code),
			    smtpt_reason(step, &r));
			sent[i] = false;	/* no reply after the data */
		}
	}
	if (!pipe && nacc > 0 && smtp_send(st->smtp, SMTP_DATA, NULL) == -1) {
		err_set(err, ERR_INTERNAL, "%s: cannot queue DATA", st->label);
		goto fail;
	}
	if (pipe || nacc > 0) {
		if (smtpt_reply(st, &r, err) == -1)
			goto fail;
		data_code = r.code;
		if (data_code == 354 && (nacc == 0 ||
		    smtpt_class(mail_code) != ERR_NONE)) {
			/* RFC 2920 section 3.1: nobody to send to, yet the
			 * server waits for data; drop the connection rather
			 * than send an empty message. */
			smtpt_disconnect(st);
		} else if (data_code != 354 && nacc > 0) {
			for (i = 0; i < n; i++)
				if (sent[i])
					smtpt_set(&rcpts[i], data_code / 100
					    == 3 ? ERR_TEMP :
					    smtpt_class(data_code),
					    smtpt_reason("DATA", &r));
			nacc = 0;
		}
	}
	if (smtpt_class(mail_code) != ERR_NONE)
		goto refused;
	if (nacc == 0 || data_code != 354) {
		rc = 0;
		goto out;
	}

	if (smtpt_send_data(st, &hdr, sp, st->lmtp ? nacc : 1, err) == -1)
		goto fail;
	if (!st->lmtp) {
		if (smtpt_reply(st, &r, err) == -1)
			goto fail;
		for (i = 0; i < n; i++)
			if (sent[i])
				smtpt_set(&rcpts[i], smtpt_class(r.code),
				    smtpt_reason("end of data", &r));
		rc = 0;
		goto out;
	}
	/* RFC 2033 section 4.2: one reply per accepted RCPT, in order. */
	for (i = 0; i < n; i++) {
		if (!sent[i])
			continue;
		if (smtpt_reply(st, &r, err) == -1)
			goto lmtp_lost;
		nreplied++;
		(void)snprintf(step, sizeof(step), "end of data for <%s>",
		    rcpts[i].addr);
		smtpt_set(&rcpts[i], smtpt_class(r.code), smtpt_reason(step,
		    &r));
	}
	rc = 0;
	goto out;

lmtp_lost:
	if (nreplied == 0)
		goto fail;
	/* Some recipients have their copy: only the rest are retried. */
	for (; i < n; i++)
		if (sent[i])
			smtpt_set(&rcpts[i], ERR_TEMP, xasprintf("%s",
			    err_msg(err)));
	err_clear(err);
	smtpt_disconnect(st);
	rc = 0;
	goto out;

refused:
	for (i = 0; i < n; i++)
		if (sent[i])
			smtpt_set(&rcpts[i], smtpt_class(mail_code),
			    xstrdup(mail_reason));
	rc = 0;
	goto out;

fail:
	/* The connection is in an unknown state: never reuse it. */
	if (st->conn != NULL)
		smtpt_disconnect(st);
	if (err != NULL && err->cls != ERR_LOCAL && err->cls != ERR_INTERNAL)
		err->cls = ERR_TEMP;
out:
	free(mail_reason);
	free(sent);
	free(from);
	buf_free(&hdr);
	return rc;
}

/*
 * Does rcpt exist (target_probe)? MAIL FROM:<> (a bounce can never be
 * refused for its sender), RCPT TO:<rcpt>, then RSET so nothing is sent;
 * the reply to RCPT decides (RFC 5321 section 3.3: 550 no such user;
 * RFC 2033: LMTP answers RCPT the same way). One command at a time:
 * a probe is not worth pipelining.
 */
static int
smtpt_probe(struct target *t, const char *rcpt, struct err *err)
{
	struct smtpt *st = t->priv;
	struct smtp_mail_opts mo;
	struct smtp_reply r;
	char *why = NULL, step[SMTP_ADDR_MAX + 16];
	int rc = -1;

	if (smtp_addr_check(rcpt) == -1 || *rcpt == '\0')
		return err_set(err, ERR_PERM, "invalid recipient address "
		    "\"%.100s\"", rcpt);
	if (smtpt_ready(t, st, err) == -1)
		goto fail;
	if (smtp_addr_8bit(rcpt) && !smtp_capa(st->smtp)->smtputf8)
		return err_set(err, ERR_PERM, "%s does not offer SMTPUTF8 for "
		    "\"%.100s\"", st->label, rcpt);
	memset(&mo, 0, sizeof(mo));
	mo.smtputf8 = smtp_addr_8bit(rcpt);
	st->used = true;	/* an RSET is owed if we stop half-way */
	if (smtp_send_mail(st->smtp, "", &mo) == -1) {
		err_set(err, ERR_INTERNAL, "%s: cannot queue MAIL", st->label);
		goto fail;
	}
	if (smtpt_reply(st, &r, err) == -1)
		goto fail;
	if (smtpt_class(r.code) != ERR_NONE) {
		/* Says nothing about the recipient. */
		why = smtpt_reason("MAIL FROM:<>", &r);
		err_set(err, ERR_TEMP, "%s: %s", st->label, why);
		goto rset;
	}
	if (smtp_send_rcpt(st->smtp, rcpt) == -1) {
		err_set(err, ERR_INTERNAL, "%s: cannot queue RCPT", st->label);
		goto fail;
	}
	if (smtpt_reply(st, &r, err) == -1)
		goto fail;
	(void)snprintf(step, sizeof(step), "RCPT TO:<%s>", rcpt);
	if (smtpt_class(r.code) == ERR_NONE)
		rc = 0;
	else {
		why = smtpt_reason(step, &r);
		err_set(err, smtpt_class(r.code), "%s: %s", st->label, why);
	}
rset:
	{
		struct err e2 = { 0 };

		if (smtp_send(st->smtp, SMTP_RSET, NULL) == 0 &&
		    smtpt_reply(st, &r, &e2) == 0 && r.code == 250)
			st->used = false;
		else
			smtpt_disconnect(st);
		err_clear(&e2);
	}
	free(why);
	return rc;
fail:
	free(why);
	if (st->conn != NULL)
		smtpt_disconnect(st);
	/* A connection failure says nothing about the recipient. */
	if (err != NULL && err->cls == ERR_PERM)
		err->cls = ERR_TEMP;
	return -1;
}

static int
smtpt_open(struct target *t, struct err *err)
{
	struct smtpt *st;

	st = xcalloc(1, sizeof(*st));
	st->lmtp = t->uri.kind == TARGET_LMTP;
	st->timeout_ms = t->uri.timeout_s > 0 ? t->uri.timeout_s * 1000 :
	    SMTPT_TIMEOUT_MS;
	if (t->uri.unix_socket)
		(void)snprintf(st->label, sizeof(st->label), "%s unix:%s",
		    st->lmtp ? "lmtp" : "smtp", t->uri.path);
	else if (strchr(t->uri.host, ':') != NULL)
		(void)snprintf(st->label, sizeof(st->label), "%s [%s]:%d",
		    st->lmtp ? "lmtp" : "smtp", t->uri.host, t->uri.port);
	else
		(void)snprintf(st->label, sizeof(st->label), "%s %s:%d",
		    st->lmtp ? "lmtp" : "smtp", t->uri.host, t->uri.port);
	smtpt_helo_name(st->helo, sizeof(st->helo), t->hostname);
	t->priv = st;
	/* Connect lazily, at the first message: a pass with nothing new
	 * never touches the target. */
	return 0;
}

static int
smtpt_sync(struct target *t, struct err *err)
{
	/* Each accepted reply already means the server has the message. */
	return 0;
}

static void
smtpt_close(struct target *t)
{
	struct smtpt *st = t->priv;
	struct smtp_reply r;
	struct err e = { 0 };

	if (st == NULL)
		return;
	if (st->conn != NULL && st->smtp != NULL) {
		/* Best effort: a polite QUIT, a short wait for its reply. */
		conn_set_timeout(st->conn, MP_MIN(st->timeout_ms, 2000));
		if (smtp_send(st->smtp, SMTP_QUIT, NULL) == 0)
			(void)smtpt_reply(st, &r, &e);
		err_clear(&e);
	}
	smtpt_disconnect(st);
	free(st);
	t->priv = NULL;
}

const struct target_ops target_lmtp_ops = {
	.name = "lmtp",
	.open = smtpt_open,
	.deliver_many = smtpt_deliver_many,
	.probe = smtpt_probe,
	.sync = smtpt_sync,
	.close = smtpt_close,
};

const struct target_ops target_smtp_ops = {
	.name = "smtp",
	.open = smtpt_open,
	.deliver_many = smtpt_deliver_many,
	.probe = smtpt_probe,
	.sync = smtpt_sync,
	.close = smtpt_close,
};
