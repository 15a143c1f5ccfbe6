/*
 * pop3_pass.c - the POP3 retrieval method (RFC 1939, 2449, 2595, 5034).
 *
 * Order of a pass: greeting, CAPA, STLS (when the account says starttls:
 * required, else the session ends before any credential), authentication,
 * STAT + UIDL + LIST, plan, then RETR in a window with each message
 * delivered and batched; a batch is made durable (target sync + store
 * commit) before its DELEs are queued. POP3 applies DELE only at QUIT, so
 * a dropped connection deletes nothing and the next pass re-DELEs what the
 * journal says was delivered.
 *
 * With PIPELINING offered (RFC 2449), the listing goes out behind the
 * authentication, the RETRs in a window, and when nothing of the pass is
 * to be deleted QUIT behind the last RETR: four round trips a pass
 * (greeting, CAPA, AUTH + listing, RETRs + QUIT), which is what counts
 * against a distant server.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fetch/oauth_pass.h"
#include "fetch/pass_impl.h"
#include "proto/pop3.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define POP3_MAX_MESSAGES	1000000	/* a maildrop larger is refused */
#define POP3_MAX_SIZE		((uint64_t)1 << 40)

struct p3msg {
	uint32_t msgno;
	char *uid;		/* NULL until UIDL said */
	uint64_t size;		/* from LIST */
	bool listed;
	bool dup;		/* UIDL shared with another message */
	bool dele;		/* DELE queued */
};

struct p3 {
	struct pass_ctx *ctx;
	struct conn *conn;
	struct pop3 *eng;
	struct pop3_capa capa;
	bool capa_ok;
	bool tls;
	bool list_sent;		/* STAT, UIDL, LIST pipelined behind AUTH */
	bool quit_sent;		/* QUIT pipelined behind the last RETR */
	uint32_t count;		/* STAT */
	struct p3msg *msgs;	/* index msgno - 1 */
	bool no_uidl;
	unsigned long dele_sent, dele_ok, dele_err;
	struct msg_rec *recs;
	size_t nrecs;
	char *dele_errmsg;
};

/* Next event, reading from the server as needed. */
static int
p3_event(struct p3 *s, struct pop3_event *ev, struct err *e)
{
	const char *cause = NULL;
	int r;

	for (;;) {
		r = pop3_event_next(s->eng, ev, &cause);
		if (r == 1)
			return 0;
		if (r < 0)
			return err_set(e, ERR_PROTOCOL, "%s",
			    cause != NULL ? cause : "protocol error");
		if ((r = pass_fill(s->conn, pop3_pp(s->eng), e)) == -1)
			return -1;
		if (r == 0)
			return err_set(e, ERR_PROTOCOL,
			    "server closed the connection unexpectedly");
	}
}

static enum err_class
code_class(enum pop3_code c, enum err_class dflt)
{
	switch (c) {
	case POP3_CODE_IN_USE:
	case POP3_CODE_LOGIN_DELAY:
	case POP3_CODE_SYS_TEMP:
		return ERR_TEMP;
	case POP3_CODE_SYS_PERM:
		return ERR_PERM;
	case POP3_CODE_AUTH:
		return ERR_AUTH;
	default:
		return dflt;
	}
}

/* Expect the status line of cmd. 1: +OK, 0: -ERR (ev filled), -1 error. */
static int
p3_status(struct p3 *s, enum pop3_cmd cmd, struct pop3_event *ev,
    struct err *e)
{
	if (p3_event(s, ev, e) == -1)
		return -1;
	if (ev->kind != POP3_EV_STATUS || ev->cmd != cmd)
		return err_set(e, ERR_PROTOCOL, "unexpected reply to %s",
		    pop3_cmd_name(cmd));
	return ev->ok ? 1 : 0;
}

static int
p3_send(struct p3 *s, enum pop3_cmd cmd, const char *arg, struct err *e)
{
	if (pop3_send(s->eng, cmd, arg) == -1)
		return err_set(e, ERR_INTERNAL, "cannot queue %s command",
		    pop3_cmd_name(cmd));
	return 0;
}

static int
p3_capa(struct p3 *s, struct err *e)
{
	struct pop3_event ev;
	int r;

	pop3_capa_clear(&s->capa);
	s->capa_ok = false;
	if (p3_send(s, POP3_CAPA, NULL, e) == -1)
		return -1;
	if ((r = p3_status(s, POP3_CAPA, &ev, e)) == -1)
		return -1;
	if (r == 0) {
		pass_log(s->ctx, "server does not answer CAPA: %.*s",
		    (int)MP_MIN(ev.len, 200), ev.text);
		return 0;
	}
	for (;;) {
		if (p3_event(s, &ev, e) == -1)
			return -1;
		if (ev.kind == POP3_EV_END)
			break;
		if (ev.kind == POP3_EV_LINE)
			pop3_capa_line(&s->capa, ev.text, ev.len);
	}
	s->capa_ok = true;
	pass_log(s->ctx, "capabilities:%s%s%s%s%s%s%s",
	    s->capa.stls ? " STLS" : "", s->capa.uidl ? " UIDL" : "",
	    s->capa.pipelining ? " PIPELINING" : "",
	    s->capa.resp_codes ? " RESP-CODES" : "",
	    s->capa.sasl_plain ? " SASL-PLAIN" : "",
	    s->capa.sasl_login ? " SASL-LOGIN" : "",
	    s->capa.user ? " USER" : "");
	return 0;
}

static int
p3_stls(struct p3 *s, struct err *e)
{
	struct pop3_event ev;
	int r;

	/* RFC 2595: STLS only when offered; never fall back to clear. */
	if (!s->capa_ok)
		return err_set(e, ERR_TLS, "server did not answer CAPA, so "
		    "STLS cannot be negotiated; refusing to send credentials "
		    "in clear (security starttls)");
	if (!s->capa.stls)
		return err_set(e, ERR_TLS, "server does not offer STLS; "
		    "refusing to send credentials in clear (security "
		    "starttls)");
	if (p3_send(s, POP3_STLS, NULL, e) == -1)
		return -1;
	if ((r = p3_status(s, POP3_STLS, &ev, e)) == -1)
		return -1;
	if (r == 0)
		return err_set(e, ERR_TLS, "server refused STLS: %.*s; "
		    "credentials not sent", (int)MP_MIN(ev.len, 200), ev.text);
	/* Bytes after +OK before the handshake would be injected plaintext
	 * masquerading as protected data. */
	if (pp_input_pending(pop3_pp(s->eng)) != 0)
		return err_set(e, ERR_PROTOCOL, "server sent data after the "
		    "STLS reply before the TLS handshake; refusing it");
	if (pass_tls(s->ctx, s->conn, &s->tls, "STLS", e) == -1)
		return -1;
	/* Capabilities learned in clear are forgotten (RFC 2595 section 4). */
	return p3_capa(s, e);
}

static int
b64(const void *in, size_t len, char **out_r)
{
	size_t cap = sodium_base64_encoded_len(len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *o = xmalloc(cap);

	sodium_bin2base64(o, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	*out_r = o;
	return 0;
}

static void
wipe_free(char **p)
{
	if (*p != NULL) {
		sodium_memzero(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

static int
auth_failed(struct p3 *s, const struct pop3_event *ev, const char *how,
    struct err *e)
{
	enum err_class c = code_class(ev->code, ERR_AUTH);

	return err_set(e, c, "%s rejected for user %s: %.*s%s", how,
	    s->ctx->a->user, (int)MP_MIN(ev->len, 300), ev->text,
	    c == ERR_TEMP ? " (temporary; will retry)" : "");
}

/*
 * OAuth2: AUTH XOAUTH2|OAUTHBEARER. RFC 5034 section 4: the initial
 * response goes on the AUTH line only when the line stays within 255
 * octets, else after the server's "+ ". A refusal comes as a "+ " with a
 * base64 JSON error (RFC 7628 section 3.2.2): it is read, acknowledged so
 * the server ends the exchange with -ERR, and the token refreshed once.
 */
static int
p3_auth_oauth(struct p3 *s, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	struct pop3_event ev;
	struct oauth_sasl sa;
	char *arg = NULL, why[400];
	bool sent;
	int attempt;

	memset(&sa, 0, sizeof(sa));
	for (attempt = 0; attempt < 2; attempt++) {
		why[0] = '\0';
		if (oauth_pass_begin(ctx, attempt > 0, s->capa.sasl_xoauth2,
		    s->capa.sasl_oauthbearer, &sa, e) == -1)
			return -1;
		sent = strlen(sa.mech) + strlen(sa.b64) + 6 + 2 <= 255;
		if (sent) {
			arg = xasprintf("%s %s", sa.mech, sa.b64);
			if (p3_send(s, POP3_AUTH, arg, e) == -1)
				goto fail;
			wipe_free(&arg);
		} else if (p3_send(s, POP3_AUTH, sa.mech, e) == -1)
			goto fail;
		for (;;) {
			if (p3_event(s, &ev, e) == -1)
				goto fail;
			if (ev.kind != POP3_EV_CONT)
				break;
			if (!sent) {
				if (p3_send(s, POP3_AUTH_RESP, sa.b64,
				    e) == -1)
					goto fail;
				sent = true;
				continue;
			}
			oauth_pass_error(ctx, ev.text, ev.len, why,
			    sizeof(why));
			if (p3_send(s, POP3_AUTH_RESP, sa.ack, e) == -1)
				goto fail;
		}
		if (ev.kind != POP3_EV_STATUS) {
			err_set(e, ERR_PROTOCOL, "unexpected reply to AUTH");
			goto fail;
		}
		if (ev.ok) {
			oauth_pass_clear(&sa);
			pass_log(ctx, "authenticated as %s", ctx->a->user);
			return 0;
		}
		auth_failed(s, &ev, sa.mech, e);
		if (why[0] != '\0')
			err_prefix(e, "%s", why);
		oauth_pass_clear(&sa);
		if (e->cls != ERR_AUTH)
			return -1;
		pass_log(ctx, "%s", err_msg(e));
	}
	err_prefix(e, "OAuth2 token refused after a refresh");
	return -1;
fail:
	wipe_free(&arg);
	oauth_pass_clear(&sa);
	return -1;
}

/*
 * STAT, UIDL and LIST go out behind the authentication when the server
 * offers PIPELINING (RFC 2449 section 6.6): a round trip less per pass.
 * If the authentication fails they are refused (not authenticated) and
 * the session ends before their replies are read.
 */
static int
queue_list(struct p3 *s, struct err *e)
{
	if (!s->capa.pipelining)
		return 0;
	if (p3_send(s, POP3_STAT, NULL, e) == -1 ||
	    p3_send(s, POP3_UIDL, NULL, e) == -1 ||
	    p3_send(s, POP3_LIST, NULL, e) == -1)
		return -1;
	s->list_sent = true;
	return 0;
}

static int
p3_auth(struct p3 *s, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	const struct account *a = ctx->a;
	struct pop3_event ev;
	char *tok = NULL, *raw = NULL, *arg = NULL;
	size_t ulen = strlen(a->user), rawlen;
	int r, rc = -1;

	if (oauth_pass_enabled(ctx->st, a->id))
		return p3_auth_oauth(s, e);
	if (s->capa.sasl_plain) {
		/* RFC 4616: authzid NUL authcid NUL passwd. */
		rawlen = ulen + ctx->password_len + 2;
		raw = xmalloc(rawlen);
		raw[0] = '\0';
		memcpy(raw + 1, a->user, ulen);
		raw[ulen + 1] = '\0';
		memcpy(raw + ulen + 2, ctx->password, ctx->password_len);
		b64(raw, rawlen, &tok);
		sodium_memzero(raw, rawlen);
		pass_log(ctx, "authenticating with SASL PLAIN");
		/* RFC 5034 section 4: no initial response past 255 octets. */
		if (strlen(tok) + 11 <= 255) {
			arg = xasprintf("PLAIN %s", tok);
			if (p3_send(s, POP3_AUTH, arg, e) == -1 ||
			    queue_list(s, e) == -1)
				goto out;
		} else if (p3_send(s, POP3_AUTH, "PLAIN", e) == -1)
			goto out;
		for (;;) {
			if (p3_event(s, &ev, e) == -1)
				goto out;
			if (ev.kind == POP3_EV_CONT) {
				if (arg != NULL) {
					/* Already sent; the server wants
					 * more: cancel (RFC 5034). */
					if (p3_send(s, POP3_AUTH_RESP, "*",
					    e) == -1)
						goto out;
					continue;
				}
				arg = xstrdup(tok);
				if (p3_send(s, POP3_AUTH_RESP, tok, e) == -1)
					goto out;
				continue;
			}
			break;
		}
		if (ev.kind != POP3_EV_STATUS) {
			err_set(e, ERR_PROTOCOL, "unexpected reply to AUTH");
			goto out;
		}
		if (!ev.ok) {
			auth_failed(s, &ev, "authentication (SASL PLAIN)", e);
			goto out;
		}
	} else if (s->capa.sasl_login) {
		int step = 0;

		pass_log(ctx, "authenticating with SASL LOGIN");
		if (p3_send(s, POP3_AUTH, "LOGIN", e) == -1)
			goto out;
		for (;;) {
			if (p3_event(s, &ev, e) == -1)
				goto out;
			if (ev.kind != POP3_EV_CONT)
				break;
			wipe_free(&tok);
			if (step == 0)
				b64(a->user, ulen, &tok);
			else if (step == 1)
				b64(ctx->password, ctx->password_len, &tok);
			else
				tok = xstrdup("*");
			step++;
			if (p3_send(s, POP3_AUTH_RESP, tok, e) == -1)
				goto out;
		}
		if (ev.kind != POP3_EV_STATUS) {
			err_set(e, ERR_PROTOCOL, "unexpected reply to AUTH");
			goto out;
		}
		if (!ev.ok) {
			auth_failed(s, &ev, "authentication (SASL LOGIN)", e);
			goto out;
		}
	} else {
		pass_log(ctx, "authenticating with USER/PASS");
		if (p3_send(s, POP3_USER, a->user, e) == -1)
			goto out;
		/* With PIPELINING, PASS and the listing follow at once; a
		 * refused USER makes the server refuse them too. */
		if (s->capa.pipelining &&
		    (p3_send(s, POP3_PASS, ctx->password, e) == -1 ||
		    queue_list(s, e) == -1))
			goto out;
		if ((r = p3_status(s, POP3_USER, &ev, e)) == -1)
			goto out;
		if (r == 0) {
			auth_failed(s, &ev, "user name", e);
			goto out;
		}
		if (!s->capa.pipelining &&
		    p3_send(s, POP3_PASS, ctx->password, e) == -1)
			goto out;
		if ((r = p3_status(s, POP3_PASS, &ev, e)) == -1)
			goto out;
		if (r == 0) {
			auth_failed(s, &ev, "password", e);
			goto out;
		}
	}
	pass_log(ctx, "authenticated as %s", a->user);
	rc = 0;
out:
	if (raw != NULL)
		free(raw);
	wipe_free(&tok);
	wipe_free(&arg);
	return rc;
}

static int
p3_list(struct p3 *s, struct err *e)
{
	struct pop3_event ev;
	bool pipe = s->capa.pipelining;
	uint32_t no;
	uint64_t size, stat_size = 0;
	char uid[POP3_UIDL_MAX + 1];
	int r;

	if (!s->list_sent && (p3_send(s, POP3_STAT, NULL, e) == -1 ||
	    (pipe && (p3_send(s, POP3_UIDL, NULL, e) == -1 ||
	    p3_send(s, POP3_LIST, NULL, e) == -1))))
		return -1;
	if ((r = p3_status(s, POP3_STAT, &ev, e)) == -1)
		return -1;
	if (r == 0)
		return err_set(e, code_class(ev.code, ERR_PROTOCOL),
		    "STAT failed: %.*s", (int)MP_MIN(ev.len, 200), ev.text);
	if (pop3_parse_stat(ev.text, ev.len, &s->count, &stat_size) == -1)
		return err_set(e, ERR_PROTOCOL, "malformed STAT reply");
	if (s->count > POP3_MAX_MESSAGES)
		return err_set(e, ERR_PROTOCOL, "server reports %u messages, "
		    "more than the limit of %u", s->count, POP3_MAX_MESSAGES);
	s->msgs = xcalloc(s->count + 1, sizeof(*s->msgs));
	for (no = 1; no <= s->count; no++)
		s->msgs[no - 1].msgno = no;

	if (!pipe && p3_send(s, POP3_UIDL, NULL, e) == -1)
		return -1;
	if ((r = p3_status(s, POP3_UIDL, &ev, e)) == -1)
		return -1;
	if (r == 0) {
		s->no_uidl = true;
		pass_log(s->ctx, "server has no UIDL (%.*s): messages are "
		    "identified by a digest of their content",
		    (int)MP_MIN(ev.len, 200), ev.text);
	} else {
		for (;;) {
			if (p3_event(s, &ev, e) == -1)
				return -1;
			if (ev.kind == POP3_EV_END)
				break;
			if (pop3_parse_uidl(ev.text, ev.len, &no, uid) == -1)
				return err_set(e, ERR_PROTOCOL,
				    "malformed UIDL line: %.*s",
				    (int)MP_MIN(ev.len, 100), ev.text);
			if (no < 1 || no > s->count)
				return err_set(e, ERR_PROTOCOL, "UIDL names "
				    "message %u but the maildrop has %u", no,
				    s->count);
			if (s->msgs[no - 1].uid != NULL)
				return err_set(e, ERR_PROTOCOL, "UIDL lists "
				    "message %u twice", no);
			s->msgs[no - 1].uid = xstrdup(uid);
		}
	}
	if (!pipe && p3_send(s, POP3_LIST, NULL, e) == -1)
		return -1;
	if ((r = p3_status(s, POP3_LIST, &ev, e)) == -1)
		return -1;
	if (r == 0)
		return err_set(e, ERR_PROTOCOL, "LIST failed: %.*s",
		    (int)MP_MIN(ev.len, 200), ev.text);
	for (;;) {
		if (p3_event(s, &ev, e) == -1)
			return -1;
		if (ev.kind == POP3_EV_END)
			break;
		if (pop3_parse_list(ev.text, ev.len, &no, &size) == -1)
			return err_set(e, ERR_PROTOCOL, "malformed LIST line: "
			    "%.*s", (int)MP_MIN(ev.len, 100), ev.text);
		if (no < 1 || no > s->count || s->msgs[no - 1].listed)
			return err_set(e, ERR_PROTOCOL, "LIST names message %u "
			    "out of range or twice (maildrop has %u)", no,
			    s->count);
		if (size > POP3_MAX_SIZE)
			return err_set(e, ERR_PROTOCOL, "LIST gives message "
			    "%u an absurd size", no);
		s->msgs[no - 1].size = size;
		s->msgs[no - 1].listed = true;
	}
	if (!s->no_uidl)
		for (no = 1; no <= s->count; no++)
			if (s->msgs[no - 1].uid == NULL)
				return err_set(e, ERR_PROTOCOL, "UIDL does not "
				    "list message %u", no);
	pass_log(s->ctx, "maildrop: %u messages, %llu octets", s->count,
	    (unsigned long long)stat_size);
	return 0;
}

static int
cmp_uid(const void *x, const void *y)
{
	const struct p3msg *const *a = x, *const *b = y;

	return strcmp((*a)->uid, (*b)->uid);
}

/* Mark messages sharing a UIDL: neither is fetched (never one silently
 * skipped), and the pass reports it. */
static unsigned long
mark_dups(struct p3 *s)
{
	struct p3msg **v;
	unsigned long ndup = 0;
	uint32_t i;

	if (s->count < 2 || s->no_uidl)
		return 0;
	v = xcalloc(s->count, sizeof(*v));
	for (i = 0; i < s->count; i++)
		v[i] = &s->msgs[i];
	qsort(v, s->count, sizeof(*v), cmp_uid);
	for (i = 1; i < s->count; i++)
		if (strcmp(v[i - 1]->uid, v[i]->uid) == 0) {
			if (!v[i - 1]->dup)
				ndup++;
			v[i - 1]->dup = v[i]->dup = true;
			ndup++;
			pass_log(s->ctx, "error: server gives UIDL %s to "
			    "messages %u and %u; neither is fetched",
			    v[i]->uid, v[i - 1]->msgno, v[i]->msgno);
		}
	free(v);
	return ndup;
}

static int
queue_dele(struct p3 *s, struct p3msg *m, struct err *e)
{
	char arg[16];

	if (m->dele)
		return 0;
	(void)snprintf(arg, sizeof(arg), "%u", m->msgno);
	if (p3_send(s, POP3_DELE, arg, e) == -1)
		return -1;
	m->dele = true;
	s->dele_sent++;
	return 0;
}

struct committed_arg {
	struct p3 *s;
	struct err *e;
	int rc;
};

static void
on_committed(void *arg, const struct pass_pending *p)
{
	struct committed_arg *ca = arg;
	struct p3msg *m = p->cookie;

	/* Parked messages stay on the server until released. */
	if (p->state != MSG_DELIVERED || m == NULL)
		return;
	if (pass_delete_now(ca->s->ctx->a, time(NULL))) {
		if (queue_dele(ca->s, m, ca->e) == -1)
			ca->rc = -1;
	} else
		ca->s->ctx->res->kept++;
}

static int
commit(struct p3 *s, struct err *e)
{
	struct committed_arg ca = { s, e, 0 };

	if (pass_commit(s->ctx, on_committed, &ca, e) == -1)
		return -1;
	return ca.rc;
}

/* Handle a reply that is not part of the RETR currently read. */
static int
other_reply(struct p3 *s, const struct pop3_event *ev, struct err *e)
{
	if (ev->kind == POP3_EV_STATUS && ev->cmd == POP3_DELE) {
		if (ev->ok)
			s->dele_ok++;
		else {
			s->dele_err++;
			if (s->dele_errmsg == NULL)
				s->dele_errmsg = xasprintf("%.*s",
				    (int)MP_MIN(ev->len, 200), ev->text);
		}
		return 0;
	}
	return err_set(e, ERR_PROTOCOL, "unexpected %s reply",
	    pop3_cmd_name(ev->cmd));
}

static int
p3_fetch(struct p3 *s, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	const struct account *a = ctx->a;
	struct p3msg **want = NULL, *cur = NULL;
	struct pop3_event ev;
	size_t nwant = 0, next = 0, window, outstanding = 0, i;
	uint64_t want_bytes = 0;
	struct p3msg **inflight = NULL;
	size_t in_head = 0;
	bool discard = false;
	char arg[16], uid[80];
	int rc = -1;
	struct err de = { 0 };

	if (store_msg_load(ctx->st, a->id, "", 0, &s->recs, &s->nrecs,
	    e) == -1)
		return -1;
	/* Forget journal entries of messages no longer on the server, so a
	 * reused UIDL is fetched again. */
	if (!s->no_uidl && s->nrecs > 0) {
		struct p3msg **v = xcalloc(s->count + 1, sizeof(*v));
		struct p3msg key, *kp = &key;
		size_t nforget = 0;

		for (i = 0; i < s->count; i++)
			v[i] = &s->msgs[i];
		qsort(v, s->count, sizeof(*v), cmp_uid);
		if (store_begin(ctx->st, e) == -1) {
			free(v);
			return -1;
		}
		for (i = 0; i < s->nrecs; i++) {
			key.uid = s->recs[i].uid;
			if (s->count > 0 && bsearch(&kp, v, s->count,
			    sizeof(*v), cmp_uid) != NULL)
				continue;
			if (store_msg_forget(ctx->st, a->id, "", 0,
			    s->recs[i].uid, e) == -1) {
				store_rollback(ctx->st);
				free(v);
				return -1;
			}
			nforget++;
		}
		free(v);
		if (store_commit(ctx->st, e) == -1) {
			store_rollback(ctx->st);
			return -1;
		}
		if (nforget > 0)
			pass_log(ctx, "forgot %zu delivered messages no "
			    "longer on the server", nforget);
	}

	if (mark_dups(s) > 0 && ctx->res->cls == ERR_NONE)
		err_set(&de, ERR_PROTOCOL, "server gives the same UIDL to "
		    "several messages; those are not fetched (see the run "
		    "log)");

	want = xcalloc(s->count + 1, sizeof(*want));
	for (i = 0; i < s->count; i++) {
		struct p3msg *m = &s->msgs[i];
		struct msg_rec *r;

		if (m->dup)
			continue;
		r = s->no_uidl ? NULL :
		    store_msg_find(s->recs, s->nrecs, m->uid);
		if (r == NULL) {
			if (a->max_per_pass > 0 &&
			    nwant >= (size_t)a->max_per_pass) {
				ctx->res->skipped++;
				continue;
			}
			want[nwant++] = m;
			want_bytes += m->size;
			continue;
		}
		if (r->state == MSG_DELIVERED &&
		    pass_delete_now(a, r->first_seen)) {
			/* Delivered before (maybe its DELE was rolled back by
			 * a dropped connection): delete, never re-deliver. */
			if (queue_dele(s, m, e) == -1)
				goto out;
		} else
			ctx->res->kept++;
	}
	if (s->dele_sent > 0)
		pass_log(ctx, "%lu already delivered messages to delete",
		    s->dele_sent);
	pass_log(ctx, "%zu new messages to fetch (%llu octets)%s", nwant,
	    (unsigned long long)want_bytes,
	    ctx->res->skipped > 0 ? ", more left for the next pass" : "");
	pass_deadline_extend(ctx, nwant, want_bytes);
	conn_set_deadline(s->conn, ctx->deadline_ms);
	ctx->prog.phase = "fetching";
	ctx->prog.total = nwant;
	ctx->prog.total_bytes = want_bytes;
	pass_progress(ctx, true);

	window = s->capa.pipelining ? 8 : 1;
	inflight = xcalloc(window, sizeof(*inflight));
	for (;;) {
		while (!pass_cancelled(ctx) && !ctx->stop && next < nwant &&
		    outstanding < window) {
			(void)snprintf(arg, sizeof(arg), "%u",
			    want[next]->msgno);
			if (p3_send(s, POP3_RETR, arg, e) == -1)
				goto out;
			inflight[(in_head + outstanding) % window] =
			    want[next++];
			outstanding++;
			/* Nothing of this pass is to be deleted: QUIT goes
			 * out behind the last RETR, a round trip less. */
			if (s->capa.pipelining && next == nwant &&
			    s->dele_sent == 0 &&
			    !pass_delete_now(a, time(NULL))) {
				if (p3_send(s, POP3_QUIT, NULL, e) == -1)
					goto out;
				s->quit_sent = true;
			}
		}
		/* The engine pops RETR at its status line; the data follows,
		 * so our own count of outstanding RETRs decides. */
		if (outstanding == 0 && pp_pending_count(pop3_pp(s->eng)) ==
		    (s->quit_sent ? 1U : 0U))
			break;
		if (p3_event(s, &ev, e) == -1)
			goto out;
		if (ev.cmd != POP3_RETR) {
			if (other_reply(s, &ev, e) == -1)
				goto out;
			continue;
		}
		switch (ev.kind) {
		case POP3_EV_STATUS:
			cur = inflight[in_head];
			if (!ev.ok) {
				pass_log(ctx, "RETR %u failed: %.*s",
				    cur->msgno, (int)MP_MIN(ev.len, 200),
				    ev.text);
				ctx->res->failed++;
				in_head = (in_head + 1) % window;
				outstanding--;
				if (de.cls == ERR_NONE)
					err_set(&de, code_class(ev.code,
					    ERR_TEMP), "server refused to "
					    "send message %u: %.*s",
					    cur->msgno,
					    (int)MP_MIN(ev.len, 200), ev.text);
				cur = NULL;
				break;
			}
			spool_reset(ctx->spool);
			discard = ctx->stop;
			break;
		case POP3_EV_DATA:
			if (cur == NULL)
				break;
			ctx->res->bytes += ev.len;
			ctx->prog.bytes += ev.len;
			if (!discard && spool_write(ctx->spool, ev.text,
			    ev.len, &de) == -1) {
				pass_log(ctx, "message %u: %s", cur->msgno,
				    err_msg(&de));
				ctx->res->failed++;
				discard = true;
			}
			pass_progress(ctx, false);
			break;
		case POP3_EV_END:
			if (cur == NULL)
				break;
			in_head = (in_head + 1) % window;
			outstanding--;
			ctx->res->fetched++;
			ctx->prog.done++;
			if (discard) {
				cur = NULL;
				break;
			}
			pass_spool_done(ctx);
			if (s->no_uidl) {
				char hex[2 * SPOOL_DIGEST_LEN + 1];
				struct msg_rec *r;

				sodium_bin2hex(hex, sizeof(hex), ctx->digest,
				    SPOOL_DIGEST_LEN);
				(void)snprintf(uid, sizeof(uid), "digest:%s",
				    hex);
				r = store_msg_find(s->recs, s->nrecs, uid);
				if (r != NULL) {
					if (r->state == MSG_DELIVERED &&
					    queue_dele(s, cur, e) == -1)
						goto out;
					cur = NULL;
					break;
				}
				cur->uid = xstrdup(uid);
			}
			if (pass_deliver(ctx, "", 0, cur->uid, cur, e) == -1) {
				/* Temporary or local failure: stop fetching,
				 * keep what is done. */
				ctx->stop = true;
				pass_log(ctx, "stopping: %s", err_msg(e));
				if (de.cls == ERR_NONE)
					err_set(&de, e->cls, "%s", err_msg(e));
				err_clear(e);
			} else if (pass_batch_full(ctx) &&
			    commit(s, e) == -1)
				goto out;
			cur = NULL;
			pass_progress(ctx, false);
			break;
		default:
			err_set(e, ERR_PROTOCOL, "unexpected reply to RETR");
			goto out;
		}
	}
	if (commit(s, e) == -1)
		goto out;
	/* Collect the DELE replies. */
	while (pp_pending_count(pop3_pp(s->eng)) > (s->quit_sent ? 1U : 0U)) {
		if (p3_event(s, &ev, e) == -1)
			goto out;
		if (other_reply(s, &ev, e) == -1)
			goto out;
	}
	if (de.cls != ERR_NONE) {
		err_set(e, de.cls, "%s", err_msg(&de));
		goto out;
	}
	rc = 0;
out:
	err_clear(&de);
	free(want);
	free(inflight);
	return rc;
}

static int
p3_quit(struct p3 *s, struct err *e)
{
	struct pop3_event ev;
	int r;

	if (!s->quit_sent && p3_send(s, POP3_QUIT, NULL, e) == -1)
		return -1;
	s->quit_sent = true;
	while ((r = p3_status(s, POP3_QUIT, &ev, e)) != -1) {
		if (r == 0)
			return err_set(e, ERR_TEMP, "server failed to apply "
			    "the deletions at QUIT: %.*s",
			    (int)MP_MIN(ev.len, 200), ev.text);
		return 0;
	}
	return -1;
}

int
pop3_pass_run(struct pass_ctx *ctx, struct err *e)
{
	const struct account *a = ctx->a;
	struct p3 s;
	struct pop3_event ev;
	int r, rc = -1;
	uint32_t i;

	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	if (pass_connect(ctx, &s.conn, &s.tls, e) == -1)
		goto out;
	s.eng = pop3_create();
	if (ctx->opts->verbose > 0)
		pp_set_trace(pop3_pp(s.eng), pass_trace, ctx);

	if ((r = p3_status(&s, POP3_GREETING, &ev, e)) == -1)
		goto out;
	if (r == 0) {
		err_set(e, code_class(ev.code, ERR_TEMP), "server refused the "
		    "connection: %.*s", (int)MP_MIN(ev.len, 200), ev.text);
		goto out;
	}
	pass_log(ctx, "greeting: %.*s", (int)MP_MIN(ev.len, 200), ev.text);
	if (p3_capa(&s, e) == -1)
		goto out;
	if (a->security == SEC_STARTTLS && p3_stls(&s, e) == -1)
		goto out;
	ctx->proto_label = s.tls ? "POP3S" : "POP3";
	ctx->prog.phase = "authenticating";
	pass_progress(ctx, true);
	if (p3_auth(&s, e) == -1)
		goto out;
	ctx->prog.phase = "listing";
	pass_progress(ctx, true);
	if (p3_list(&s, e) == -1)
		goto out;
	ctx->res->on_server = s.count;
	if (s.no_uidl && a->policy != POLICY_DELETE) {
		err_set(e, ERR_CONFIG, "server does not support UIDL, so "
		    "messages cannot be told apart between passes; only "
		    "delete mode is safe with this server (use --delete)");
		goto out;
	}
	r = p3_fetch(&s, e);
	if (r == -1 && e->cls != ERR_TEMP && e->cls != ERR_LOCAL &&
	    e->cls != ERR_PROTOCOL)
		goto out;
	if (r == -1 && e->cls == ERR_PROTOCOL && s.dele_sent == 0)
		goto out;
	/* QUIT applies the DELEs of committed messages; after a temporary
	 * or local failure the committed ones still get deleted. */
	{
		struct err qe = { 0 };

		/* DELEs apply at QUIT: with the lease lost, end the session
		 * without it and the server deletes nothing. */
		if (s.dele_sent > 0 && pass_fence(ctx, &qe) == -1) {
			pass_log(ctx, "no QUIT: %s", err_msg(&qe));
			if (r == 0) {
				err_set(e, qe.cls, "%s", err_msg(&qe));
				r = -1;
			}
			err_clear(&qe);
		} else if (p3_quit(&s, &qe) == -1) {
			pass_log(ctx, "QUIT: %s", err_msg(&qe));
			if (r == 0) {
				err_set(e, qe.cls, "%s", err_msg(&qe));
				r = -1;
			}
			err_clear(&qe);
		} else
			ctx->res->deleted = s.dele_ok;
	}
	if (s.dele_err > 0) {
		pass_log(ctx, "%lu DELE commands refused: %s", s.dele_err,
		    s.dele_errmsg);
		if (r == 0) {
			err_set(e, ERR_TEMP, "server refused to delete %lu "
			    "messages: %s", s.dele_err, s.dele_errmsg);
			r = -1;
		}
	}
	rc = r;
out:
	if (s.msgs != NULL) {
		for (i = 0; i < s.count; i++)
			free(s.msgs[i].uid);
		free(s.msgs);
	}
	store_msg_free(&s.recs, s.nrecs);
	free(s.dele_errmsg);
	pop3_free(&s.eng);
	conn_free(&s.conn);
	return rc;
}
