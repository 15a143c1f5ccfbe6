/*
 * imap_pass.c - the IMAP retrieval method (RFC 3501, 9051, 4315 UIDPLUS,
 * 2595/8314 STARTTLS).
 *
 * Everything is addressed by UID; unsolicited EXISTS/EXPUNGE/FETCH are
 * expected anywhere and ignored unless they concern the message being
 * fetched. State is keyed by (account, folder, UIDVALIDITY, UID).
 *
 * Deletion, after the durability barrier of each batch: UID STORE
 * +FLAGS.SILENT (\Deleted) then UID EXPUNGE of exactly those UIDs
 * (UIDPLUS). Without UIDPLUS, messages are only marked \Deleted: a plain
 * EXPUNGE (or CLOSE) would also remove messages other clients marked, so
 * mailpull never issues one; the run log says so.
 *
 * Round trips: the first folder's SELECT (EXAMINE in keep mode) and UID
 * SEARCH ALL go out behind the login, and in a pass that stores nothing
 * (keep mode without \Seen) LOGOUT behind the last UID FETCH: a pass is
 * three round trips (greeting, login with the listing, fetch with the
 * logout), which is what counts against a distant server. A login OK
 * without [CAPABILITY] has CAPABILITY asked after the pipelined replies,
 * before anything depends on it.
 *
 * UIDVALIDITY change (the server renumbered the folder): UIDs recorded
 * under the old value mean nothing any more, so nothing is deleted by them.
 * Instead every message's Message-ID and RFC822.SIZE are fetched and
 * compared with what was delivered under the old value; a match is taken
 * as "already delivered" and recorded under the new value, everything else
 * is fetched again as new. The change is logged loudly with the counts.
 */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch/oauth_pass.h"
#include "fetch/pass_impl.h"
#include "proto/imap.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define READ_CHUNK	PASS_READ_CHUNK
#define FETCH_BATCH	1000	/* UIDs per UID FETCH command */
#define MSGID_MAX	998
#define HDR_MAX		8192
#define MAX_UIDS	1000000	/* a folder larger is refused (as POP3) */

struct reid;

struct im {
	struct pass_ctx *ctx;
	struct conn *conn;
	struct imap *eng;
	bool tls;
	char *bye;		/* text of an untagged BYE */
	/* the selected folder */
	const char *folder;
	uint64_t uidvalidity;
	uint32_t exists;
	uint32_t *uids;		/* SEARCH result */
	size_t nuids, capuids;
	/* UIDs to delete / mark seen after a commit */
	uint32_t *del, *seen;
	size_t ndel, nseen, capdel, capseen;
	/* fetching */
	const uint32_t *want;	/* sorted */
	size_t nwant;
	bool *answered;		/* per want[]: a FETCH for it came */
	bool in_body, body_ok, pending_cr;
	uint32_t body_seq;
	bool msgid_mode;
	char hdr[HDR_MAX];
	size_t hdrlen;
	struct err soft;	/* first non-fatal error of the pass */
	struct reid *reid;	/* during re-identification */
	/* pipelining: commands sent ahead of the replies they depend on */
	unsigned select_tag;	/* SELECT/EXAMINE sent behind the login */
	unsigned search_tag;	/* UID SEARCH ALL sent behind it */
	unsigned logout_tag;	/* LOGOUT sent behind the last UID FETCH */
	bool caps_stale;	/* login OK had no CAPABILITY: ask later */
	bool last_folder;	/* the folder being fetched is the last */
};

static const char *
first_folder(const struct account *a)
{
	return a->folders[0] == NULL ? "INBOX" : a->folders[0];
}

/* Keep mode without \Seen: EXAMINE, and nothing is ever stored. */
static bool
readonly_pass(const struct account *a)
{
	return a->policy == POLICY_KEEP && !a->mark_seen;
}

static void
soft_err(struct im *s, enum err_class c, const char *fmt, ...)
    MP_PRINTF(3, 4);

static void
soft_err(struct im *s, enum err_class c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pass_log(s->ctx, "error: %s", msg);
	if (s->soft.cls == ERR_NONE)
		err_set(&s->soft, c, "%s", msg);
}

static int
im_event(struct im *s, struct imap_event *ev, struct err *e)
{
	const char *cause = NULL;
	int r;

	for (;;) {
		r = imap_event_next(s->eng, ev, &cause);
		if (r == 1) {
			if (ev->kind == IMAP_EV_STATUS &&
			    ev->status == IMAP_BYE && s->bye == NULL)
				s->bye = xasprintf("%.*s",
				    (int)MP_MIN(ev->len, 200), ev->text);
			return 0;
		}
		if (r < 0)
			return err_set(e, ERR_PROTOCOL, "%s",
			    cause != NULL ? cause : "protocol error");
		if ((r = pass_fill(s->conn, imap_pp(s->eng), e)) == -1)
			return -1;
		if (r == 0) {
			if (s->bye != NULL)
				return err_set(e, ERR_TEMP, "server ended the "
				    "session: BYE %s", s->bye);
			return err_set(e, ERR_PROTOCOL,
			    "server closed the connection unexpectedly");
		}
	}
}

typedef int (*im_handler)(struct im *, const struct imap_event *,
    struct err *);

/* Wait for the tagged completion of tag; other events go to h (or are
 * ignored). Returns 0 with *ev the tagged event, -1 on error. */
static int
im_wait(struct im *s, unsigned tag, im_handler h, struct imap_event *ev,
    struct err *e)
{
	for (;;) {
		if (im_event(s, ev, e) == -1)
			return -1;
		if (ev->kind == IMAP_EV_TAGGED) {
			if (ev->tag == tag)
				return 0;
			if (ev->status != IMAP_OK)
				soft_err(s, ERR_TEMP, "%s failed: %.*s",
				    imap_cmd_name(ev->cmd),
				    (int)MP_MIN(ev->len, 200), ev->text);
			continue;
		}
		if (h != NULL && h(s, ev, e) == -1)
			return -1;
	}
}

static int
im_simple(struct im *s, enum imap_cmd cmd, struct imap_event *ev,
    struct err *e)
{
	if (imap_cmd_simple(s->eng, cmd) == -1)
		return err_set(e, ERR_INTERNAL, "cannot queue %s",
		    imap_cmd_name(cmd));
	return im_wait(s, imap_tag_last(s->eng), NULL, ev, e);
}

static void
log_caps(struct im *s)
{
	const struct imap_caps *c = imap_caps(s->eng);

	pass_log(s->ctx, "capabilities:%s%s%s%s%s%s%s%s%s",
	    c->imap4rev1 ? " IMAP4rev1" : "", c->imap4rev2 ? " IMAP4rev2" : "",
	    c->starttls ? " STARTTLS" : "",
	    c->logindisabled ? " LOGINDISABLED" : "",
	    c->auth_plain ? " AUTH=PLAIN" : "", c->sasl_ir ? " SASL-IR" : "",
	    c->uidplus ? " UIDPLUS" : "", c->literal_plus ? " LITERAL+" : "",
	    c->idle ? " IDLE" : "");
}

static int
im_capability(struct im *s, struct err *e)
{
	struct imap_event ev;

	if (im_simple(s, IMAP_CMD_CAPABILITY, &ev, e) == -1)
		return -1;
	if (ev.status != IMAP_OK)
		return err_set(e, ERR_PROTOCOL, "CAPABILITY failed: %.*s",
		    (int)MP_MIN(ev.len, 200), ev.text);
	log_caps(s);
	return 0;
}

static int
im_starttls(struct im *s, struct err *e)
{
	struct imap_event ev;

	if (!imap_caps(s->eng)->starttls)
		return err_set(e, ERR_TLS, "server does not offer STARTTLS; "
		    "refusing to send credentials in clear (security "
		    "starttls)");
	if (im_simple(s, IMAP_CMD_STARTTLS, &ev, e) == -1)
		return -1;
	if (ev.status != IMAP_OK)
		return err_set(e, ERR_TLS, "server refused STARTTLS: %.*s; "
		    "credentials not sent", (int)MP_MIN(ev.len, 200), ev.text);
	if (imap_input_pending(s->eng) != 0)
		return err_set(e, ERR_PROTOCOL, "server sent data after the "
		    "STARTTLS reply before the TLS handshake; refusing it");
	if (pass_tls(s->ctx, s->conn, &s->tls, "STARTTLS", e) == -1)
		return -1;
	/* Never trust capabilities learned in clear (RFC 8314, 3501 6.2.1). */
	return im_capability(s, e);
}

/*
 * OAuth2: AUTHENTICATE XOAUTH2|OAUTHBEARER, the response inline with
 * SASL-IR (RFC 4959). A refusal comes as a continuation holding a base64
 * JSON error (RFC 7628 section 3.2.2): read it, answer with the
 * mechanism's acknowledgement so the server sends its tagged NO, then
 * refresh the token once and try again.
 */
static int
im_login_oauth(struct im *s, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	const struct imap_caps *c = imap_caps(s->eng);
	struct imap_event ev;
	struct oauth_sasl sa;
	char why[400];
	bool sent;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		why[0] = '\0';
		if (oauth_pass_begin(ctx, attempt > 0, c->auth_xoauth2,
		    c->auth_oauthbearer, &sa, e) == -1)
			return -1;
		sent = c->sasl_ir;
		if (imap_cmd_authenticate(s->eng, sa.mech, sent ? sa.b64 :
		    NULL, sent) == -1) {
			oauth_pass_clear(&sa);
			return err_set(e, ERR_INTERNAL, "cannot queue "
			    "AUTHENTICATE %s", sa.mech);
		}
		for (;;) {
			if (im_event(s, &ev, e) == -1) {
				oauth_pass_clear(&sa);
				return -1;
			}
			if (ev.kind == IMAP_EV_CONT) {
				const char *line = sa.b64;

				if (sent) {
					oauth_pass_error(ctx, ev.text, ev.len,
					    why, sizeof(why));
					line = sa.ack;
				}
				if (imap_cont_send(s->eng, line, true) == -1) {
					oauth_pass_clear(&sa);
					return err_set(e, ERR_INTERNAL,
					    "cannot answer the continuation");
				}
				sent = true;
				continue;
			}
			if (ev.kind == IMAP_EV_TAGGED)
				break;
		}
		if (ev.status == IMAP_OK) {
			oauth_pass_clear(&sa);
			pass_log(ctx, "authenticated as %s", ctx->a->user);
			if (ev.code == IMAP_CODE_CAPABILITY) {
				log_caps(s);
				return 0;
			}
			return im_capability(s, e);
		}
		{
			enum err_class cls = imap_code_err_class(ev.status,
			    ev.code);

			if (cls == ERR_NONE || cls == ERR_PROTOCOL ||
			    cls == ERR_PERM)
				cls = ERR_AUTH;
			err_set(e, cls, "%s%sAUTHENTICATE %s rejected for user "
			    "%s: %.*s", why, why[0] != '\0' ? ": " : "",
			    sa.mech, ctx->a->user, (int)MP_MIN(ev.len, 300),
			    ev.text);
		}
		oauth_pass_clear(&sa);
		if (e->cls != ERR_AUTH)
			return -1;
		pass_log(ctx, "%s", err_msg(e));
	}
	err_prefix(e, "OAuth2 token refused after a refresh");
	return -1;
}

static int
im_login(struct im *s, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	const struct imap_caps *c = imap_caps(s->eng);
	struct imap_event ev;
	const char *how;
	int r;

	if (oauth_pass_enabled(ctx->st, ctx->a->id))
		return im_login_oauth(s, e);
	if (c->auth_plain) {
		how = "AUTHENTICATE PLAIN";
		r = imap_cmd_auth_plain(s->eng, NULL, ctx->a->user,
		    ctx->password, c->sasl_ir);
	} else if (!c->logindisabled) {
		how = "LOGIN";
		r = imap_cmd_login(s->eng, ctx->a->user, ctx->password);
	} else
		return err_set(e, ERR_AUTH, "server allows no LOGIN "
		    "(LOGINDISABLED) and offers no AUTH=PLAIN");
	if (r == -1)
		return err_set(e, ERR_CONFIG, "cannot send the credentials "
		    "(user name or password holds a line break or NUL)");
	/*
	 * The first folder's SELECT and UID SEARCH ALL go out behind the
	 * credentials: a round trip less each. A continuation the login
	 * waits for (a synchronizing literal, SASL without SASL-IR) holds
	 * them back in the engine's queue. If the login fails they are
	 * refused and never read.
	 */
	if (imap_cmd_select(s->eng, first_folder(ctx->a),
	    readonly_pass(ctx->a)) == 0) {
		s->select_tag = imap_tag_last(s->eng);
		if (imap_cmd_uid_search(s->eng, IMAP_SEARCH_ALL, 0, 0) == -1)
			return err_set(e, ERR_INTERNAL, "cannot queue UID "
			    "SEARCH");
		s->search_tag = imap_tag_last(s->eng);
	}
	pass_log(ctx, "authenticating with %s", how);
	for (;;) {
		if (im_event(s, &ev, e) == -1)
			return -1;
		if (ev.kind == IMAP_EV_CONT) {
			/* An unexpected challenge: cancel (RFC 3501 6.2.2). */
			if (imap_cont_send(s->eng, "*", false) == -1)
				return err_set(e, ERR_INTERNAL, "cannot "
				    "cancel authentication");
			continue;
		}
		if (ev.kind == IMAP_EV_TAGGED)
			break;
	}
	if (ev.status != IMAP_OK) {
		enum err_class cls = imap_code_err_class(ev.status, ev.code);

		if (cls == ERR_NONE || cls == ERR_PROTOCOL || cls == ERR_PERM)
			cls = ERR_AUTH;
		return err_set(e, cls, "%s rejected for user %s: %.*s", how,
		    ctx->a->user, (int)MP_MIN(ev.len, 300), ev.text);
	}
	pass_log(ctx, "authenticated as %s", ctx->a->user);
	if (ev.code == IMAP_CODE_CAPABILITY) {
		log_caps(s);
		return 0;
	}
	/* The pipelined replies come first; CAPABILITY after them. */
	if (s->select_tag != 0) {
		s->caps_stale = true;
		return 0;
	}
	return im_capability(s, e);
}

static int
on_select(struct im *s, const struct imap_event *ev, struct err *e)
{
	if (ev->kind == IMAP_EV_STATUS && ev->code == IMAP_CODE_UIDVALIDITY)
		s->uidvalidity = ev->code_num;
	else if (ev->kind == IMAP_EV_EXISTS)
		s->exists = ev->num;
	return 0;
}

static int
on_search(struct im *s, const struct imap_event *ev, struct err *e)
{
	size_t i;

	if (ev->kind != IMAP_EV_SEARCH || ev->nuids == 0)
		return 0;
	for (i = 0; i < ev->nuids; i++) {
		/* Repeats next to each other add nothing (a hostile "1 1 1
		 * ..." line stays small); sort_unique() does the rest. */
		if (s->nuids > 0 && s->uids[s->nuids - 1] == ev->uids[i])
			continue;
		if (s->nuids >= MAX_UIDS)
			return err_set(e, ERR_PROTOCOL, "folder %s has more "
			    "than %d messages; refusing to list it", s->folder,
			    MAX_UIDS);
		if (s->nuids == s->capuids) {
			s->capuids = MP_MAX(s->capuids * 2, 1024);
			s->uids = xreallocarray(s->uids, s->capuids,
			    sizeof(*s->uids));
		}
		s->uids[s->nuids++] = ev->uids[i];
	}
	return 0;
}

static int
cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return a < b ? -1 : a > b;
}

static size_t
sort_unique(uint32_t *v, size_t n)
{
	size_t i, o = 0;

	if (n == 0)
		return 0;	/* v may be NULL: qsort wants a pointer */
	qsort(v, n, sizeof(*v), cmp_u32);
	for (i = 0; i < n; i++)
		if (v[i] != 0 && (o == 0 || v[o - 1] != v[i]))
			v[o++] = v[i];
	return o;
}

static int
im_search(struct im *s, enum imap_search what, struct err *e)
{
	struct imap_event ev;
	unsigned tag;

	s->nuids = 0;
	if (what == IMAP_SEARCH_ALL && s->search_tag != 0) {
		tag = s->search_tag;
		s->search_tag = 0;
	} else if (imap_cmd_uid_search(s->eng, what, 0, 0) == -1)
		return err_set(e, ERR_INTERNAL, "cannot queue UID SEARCH");
	else
		tag = imap_tag_last(s->eng);
	if (im_wait(s, tag, on_search, &ev, e) == -1)
		return -1;
	if (ev.status != IMAP_OK)
		return err_set(e, imap_code_err_class(ev.status, ev.code),
		    "UID SEARCH in %s failed: %.*s", s->folder,
		    (int)MP_MIN(ev.len, 200), ev.text);
	s->nuids = sort_unique(s->uids, s->nuids);
	return 0;
}

static void
push_u32(uint32_t **v, size_t *n, size_t *cap, uint32_t x)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = x;
}

static bool
wanted(const struct im *s, uint32_t uid)
{
	const uint32_t *p;

	if (s->want == NULL)
		return false;
	p = bsearch(&uid, s->want, s->nwant, sizeof(*s->want), cmp_u32);
	if (p == NULL)
		return false;
	if (s->answered != NULL)
		s->answered[p - s->want] = true;
	return true;
}

static int
body_write(struct im *s, const char *p, size_t len, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;

	if (s->msgid_mode) {
		size_t n = MP_MIN(len, sizeof(s->hdr) - s->hdrlen);

		memcpy(s->hdr + s->hdrlen, p, n);
		s->hdrlen += n;
		return 0;
	}
	/* CRLF to LF across chunk boundaries; a lone CR stays. Runs between
	 * CRs go to the spool as they are (no byte loop, no copy). */
	while (len > 0) {
		const char *cr;
		size_t run;

		if (s->pending_cr) {
			s->pending_cr = false;
			if (p[0] != '\n' && spool_write(ctx->spool, "\r", 1,
			    e) == -1)
				return -1;
		}
		cr = memchr(p, '\r', len);
		run = cr != NULL ? (size_t)(cr - p) : len;
		if (run > 0 && spool_write(ctx->spool, p, run, e) == -1)
			return -1;
		if (cr == NULL)
			break;
		/* Hold the CR: a line end if LF follows, else data. */
		s->pending_cr = true;
		p = cr + 1;
		len -= run + 1;
	}
	return 0;
}

static void
on_committed(void *arg, const struct pass_pending *p)
{
	struct im *s = arg;
	uint32_t uid = (uint32_t)(uintptr_t)p->cookie;

	if (p->state != MSG_DELIVERED)
		return;
	if (pass_delete_now(s->ctx->a, time(NULL)))
		push_u32(&s->del, &s->ndel, &s->capdel, uid);
	else {
		s->ctx->res->kept++;
		if (s->ctx->a->mark_seen)
			push_u32(&s->seen, &s->nseen, &s->capseen, uid);
	}
}

/* One FETCH response is complete: deliver it or count a failure. */
static int
fetch_done(struct im *s, const struct imap_event *ev, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	const struct imap_fetch *f = ev->fetch;
	char uid[16], head[HDR_MAX], msgid[MSGID_MAX + 1];
	size_t hl;
	bool mine;

	if (f->nbody == 0 && !f->body_nil) {
		/* A flags update or other unsolicited FETCH; a requested UID
		 * answered this way counts as not answered. */
		return 0;
	}
	mine = f->has_uid && wanted(s, f->uid);
	if (!mine) {
		if (s->in_body || s->body_seq == f->seq)
			s->body_ok = false;
		pass_log(ctx, "ignoring a FETCH for message %u (UID %s) that "
		    "was not asked for", f->seq, f->has_uid ? "known" : "absent");
		return 0;
	}
	if (f->body_nil || !s->body_ok || s->body_seq != f->seq) {
		ctx->res->failed++;
		soft_err(s, ERR_PROTOCOL, "server sent no body for UID %u in "
		    "%s; not delivered, kept on the server, retried next pass",
		    f->uid, s->folder);
		s->body_ok = false;
		return 0;
	}
	s->body_ok = false;
	(void)snprintf(uid, sizeof(uid), "%u", f->uid);
	if (!s->msgid_mode && (ctx->stop || pass_cancelled(ctx)))
		return 0;	/* not delivered: fetched again next pass */
	if (s->msgid_mode) {
		/* handled by the caller's matcher */
		return 0;
	}
	ctx->res->fetched++;
	ctx->prog.done++;
	pass_spool_done(ctx);
	ctx->cur_remote_size = f->has_size ? f->size : 0;
	hl = spool_head(ctx->spool, head, sizeof(head));
	free(ctx->cur_msgid);
	ctx->cur_msgid = pass_msgid_extract(head, hl, msgid, sizeof(msgid))
	    == 0 ? xstrdup(msgid) : NULL;
	if (pass_deliver(ctx, s->folder, s->uidvalidity, uid,
	    (void *)(uintptr_t)f->uid, e) == -1) {
		ctx->stop = true;
		pass_log(ctx, "stopping: %s", err_msg(e));
		soft_err(s, e->cls, "%s", err_msg(e));
		err_clear(e);
		return 0;
	}
	if (pass_batch_full(ctx) && pass_commit(ctx, on_committed, s, e) == -1)
		return -1;
	pass_progress(ctx, false);
	return 0;
}

static int
on_fetch(struct im *s, const struct imap_event *ev, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	struct err we = { 0 };

	switch (ev->kind) {
	case IMAP_EV_BODY_BEGIN:
		s->in_body = true;
		s->body_ok = false;
		s->body_seq = ev->fetch->seq;
		s->pending_cr = false;
		s->hdrlen = 0;
		if (!s->msgid_mode)
			spool_reset(ctx->spool);
		return 0;
	case IMAP_EV_BODY_DATA:
		if (!s->in_body)
			return 0;
		if (!s->msgid_mode) {
			ctx->res->bytes += ev->len;
			ctx->prog.bytes += ev->len;
		}
		if (body_write(s, ev->text, ev->len, &we) == -1) {
			soft_err(s, we.cls, "message %u in %s: %s",
			    ev->fetch->seq, s->folder, err_msg(&we));
			err_clear(&we);
			ctx->res->failed++;
			s->in_body = false;
			return 0;
		}
		pass_progress(ctx, false);
		return 0;
	case IMAP_EV_BODY_END:
		if (!s->in_body)
			return 0;
		if (s->pending_cr && !s->msgid_mode) {
			s->pending_cr = false;
			if (spool_write(ctx->spool, "\r", 1, &we) == -1) {
				err_clear(&we);
				s->in_body = false;
				return 0;
			}
		}
		s->in_body = false;
		s->body_ok = true;
		return 0;
	case IMAP_EV_FETCH:
		return fetch_done(s, ev, e);
	default:
		return 0;
	}
}

static int
im_store_expunge(struct im *s, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	const struct imap_caps *c = imap_caps(s->eng);
	struct imap_event ev;
	char set[IMAP_SET_MAX_DEFAULT];
	size_t off = 0;
	ssize_t k;

	while (off < s->nseen) {
		if ((k = imap_set_build(s->seen + off, s->nseen - off, set,
		    sizeof(set))) <= 0)
			return err_set(e, ERR_INTERNAL, "bad UID set");
		if (imap_cmd_uid_store(s->eng, set, IMAP_STORE_SEEN) == -1 ||
		    im_wait(s, imap_tag_last(s->eng), NULL, &ev, e) == -1)
			return -1;
		if (ev.status != IMAP_OK)
			soft_err(s, ERR_TEMP, "UID STORE \\Seen in %s failed: "
			    "%.*s", s->folder, (int)MP_MIN(ev.len, 200),
			    ev.text);
		off += (size_t)k;
	}
	s->nseen = 0;
	off = 0;
	if (s->ndel > 0 && pass_fence(ctx, e) == -1) {
		s->ndel = 0;
		return -1;
	}
	while (off < s->ndel) {
		if ((k = imap_set_build(s->del + off, s->ndel - off, set,
		    sizeof(set))) <= 0)
			return err_set(e, ERR_INTERNAL, "bad UID set");
		off += (size_t)k;
		if (imap_cmd_uid_store(s->eng, set, IMAP_STORE_DELETED) == -1 ||
		    im_wait(s, imap_tag_last(s->eng), NULL, &ev, e) == -1)
			return -1;
		if (ev.status != IMAP_OK) {
			soft_err(s, ERR_TEMP, "UID STORE \\Deleted in %s "
			    "failed: %.*s; the messages stay on the server",
			    s->folder, (int)MP_MIN(ev.len, 200), ev.text);
			continue;
		}
		if (!c->uidplus) {
			ctx->res->kept += (unsigned long)k;
			pass_log(ctx, "server lacks UIDPLUS: %zd messages "
			    "marked \\Deleted in %s but not expunged (an "
			    "EXPUNGE would also remove other clients' deleted "
			    "messages)", k, s->folder);
			continue;
		}
		if (imap_cmd_uid_expunge(s->eng, set) == -1 ||
		    im_wait(s, imap_tag_last(s->eng), NULL, &ev, e) == -1)
			return -1;
		if (ev.status != IMAP_OK) {
			soft_err(s, ERR_TEMP, "UID EXPUNGE in %s failed: %.*s",
			    s->folder, (int)MP_MIN(ev.len, 200), ev.text);
			continue;
		}
		ctx->res->deleted += (unsigned long)k;
	}
	s->ndel = 0;
	return 0;
}

static int
im_commit(struct im *s, struct err *e)
{
	if (pass_commit(s->ctx, on_committed, s, e) == -1)
		return -1;
	return im_store_expunge(s, e);
}

/* Fetch uids[0..n) with items `what`; on_fetch handles the responses. */
static int
im_fetch_set(struct im *s, const uint32_t *uids, size_t n,
    enum imap_fetch_what what, struct err *e)
{
	struct imap_event ev;
	char set[IMAP_SET_MAX_DEFAULT];
	size_t off = 0, chunk;
	ssize_t k;
	unsigned tag;

	while (off < n && !s->ctx->stop && !pass_cancelled(s->ctx)) {
		chunk = MP_MIN(n - off, (size_t)FETCH_BATCH);
		if ((k = imap_set_build(uids + off, chunk, set,
		    sizeof(set))) <= 0)
			return err_set(e, ERR_INTERNAL, "bad UID set");
		s->want = uids + off;
		s->nwant = (size_t)k;
		s->answered = xcalloc((size_t)k, sizeof(*s->answered));
		if (imap_cmd_uid_fetch(s->eng, set, what) == -1)
			return err_set(e, ERR_INTERNAL, "cannot queue UID "
			    "FETCH");
		tag = imap_tag_last(s->eng);
		/* The last fetch of a pass that stores nothing: LOGOUT goes
		 * out behind it, a round trip less. */
		if (off + (size_t)k == n && what == IMAP_FETCH_BODY &&
		    s->last_folder && readonly_pass(s->ctx->a) &&
		    s->ndel == 0 && s->nseen == 0 &&
		    imap_cmd_simple(s->eng, IMAP_CMD_LOGOUT) == 0)
			s->logout_tag = imap_tag_last(s->eng);
		if (im_wait(s, tag, on_fetch, &ev, e) == -1) {
			xfree(&s->answered);
			return -1;
		}
		if (ev.status != IMAP_OK)
			soft_err(s, imap_code_err_class(ev.status, ev.code),
			    "UID FETCH in %s failed: %.*s", s->folder,
			    (int)MP_MIN(ev.len, 200), ev.text);
		else if (!s->ctx->stop) {
			size_t i, missing = 0;
			uint32_t first = 0;

			/* A UID the server did not answer for is not
			 * delivered and not deleted: retried next pass. */
			for (i = 0; i < (size_t)k; i++)
				if (!s->answered[i] && missing++ == 0)
					first = s->want[i];
			if (missing > 0) {
				s->ctx->res->failed += missing;
				soft_err(s, ERR_PROTOCOL, "server returned no "
				    "message for %zu requested UIDs in %s "
				    "(first: %u; expunged meanwhile?); kept "
				    "for the next pass", missing, s->folder,
				    first);
			}
		}
		xfree(&s->answered);
		off += (size_t)k;
		if (!s->msgid_mode && im_commit(s, e) == -1)
			return -1;
	}
	s->want = NULL;
	s->nwant = 0;
	return 0;
}

/* Re-identification after a UIDVALIDITY change. */
struct reid {
	struct im *s;
	struct msg_rec *old;
	size_t nold;
	size_t matched;
	struct err *e;
	int rc;
};

static int
on_reid(struct im *s, const struct imap_event *ev, struct err *e)
{
	struct reid *r = s->reid;
	const struct imap_fetch *f;
	char msgid[MSGID_MAX + 1], uid[16];
	size_t i;

	if (ev->kind != IMAP_EV_FETCH)
		return on_fetch(s, ev, e);
	f = ev->fetch;
	if (f->nbody == 0 || !f->has_uid || !f->has_size || !s->body_ok ||
	    s->body_seq != f->seq) {
		s->body_ok = false;
		return 0;
	}
	s->body_ok = false;
	if (pass_msgid_extract(s->hdr, s->hdrlen, msgid, sizeof(msgid)) == -1)
		return 0;
	for (i = 0; i < r->nold; i++) {
		if (r->old[i].state != MSG_DELIVERED ||
		    r->old[i].msgid == NULL || r->old[i].size != f->size ||
		    strcmp(r->old[i].msgid, msgid) != 0)
			continue;
		(void)snprintf(uid, sizeof(uid), "%u", f->uid);
		if (store_msg_record(s->ctx->st, s->ctx->a->id, s->folder,
		    s->uidvalidity, uid, MSG_DELIVERED, f->size,
		    r->old[i].first_seen, msgid, e) == -1)
			return -1;
		/* One old delivery vouches for one new UID only. */
		r->old[i].state = MSG_UNKNOWN;
		r->matched++;
		break;
	}
	return 0;
}

static int
im_reidentify(struct im *s, uint64_t old_validity, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	struct reid r;
	size_t nold_delivered = 0, i;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.s = s;
	if (store_msg_load_other_validity(ctx->st, ctx->a->id, s->folder,
	    s->uidvalidity, &r.old, &r.nold, e) == -1)
		return -1;
	for (i = 0; i < r.nold; i++)
		if (r.old[i].state == MSG_DELIVERED)
			nold_delivered++;
	log_warnx("%s: UIDVALIDITY of folder %s changed from %llu to %llu: "
	    "the server renumbered it; re-identifying %zu earlier deliveries "
	    "by Message-ID and size", ctx->a->id, s->folder,
	    (unsigned long long)old_validity,
	    (unsigned long long)s->uidvalidity, nold_delivered);
	pass_log(ctx, "WARNING: UIDVALIDITY of %s changed from %llu to %llu; "
	    "re-identifying %zu earlier deliveries by Message-ID and size",
	    s->folder, (unsigned long long)old_validity,
	    (unsigned long long)s->uidvalidity, nold_delivered);
	if (store_begin(ctx->st, e) == -1)
		goto out;
	if (s->nuids > 0 && nold_delivered > 0) {
		s->msgid_mode = true;
		s->reid = &r;
		/* on_fetch is reached through on_reid for body events */
		{
			struct imap_event ev;
			char set[IMAP_SET_MAX_DEFAULT];
			size_t off = 0;
			ssize_t k;

			while (off < s->nuids) {
				k = imap_set_build(s->uids + off,
				    MP_MIN(s->nuids - off, (size_t)FETCH_BATCH),
				    set, sizeof(set));
				if (k <= 0) {
					err_set(e, ERR_INTERNAL,
					    "bad UID set");
					goto fail_tx;
				}
				s->want = s->uids + off;
				s->nwant = (size_t)k;
				if (imap_cmd_uid_fetch(s->eng, set,
				    IMAP_FETCH_MSGID) == -1 ||
				    im_wait(s, imap_tag_last(s->eng), on_reid,
				    &ev, e) == -1)
					goto fail_tx;
				off += (size_t)k;
			}
		}
		s->msgid_mode = false;
		s->reid = NULL;
	}
	if (store_msg_forget_other_validity(ctx->st, ctx->a->id, s->folder,
	    s->uidvalidity, e) == -1 ||
	    store_folder_set(ctx->st, ctx->a->id, s->folder, s->uidvalidity,
	    e) == -1)
		goto fail_tx;
	if (store_commit(ctx->st, e) == -1)
		goto fail_tx;
	pass_log(ctx, "UIDVALIDITY change in %s: %zu of %zu earlier "
	    "deliveries recognised; the other messages are fetched as new",
	    s->folder, r.matched, nold_delivered);
	if (r.matched < nold_delivered)
		log_warnx("%s: folder %s: %zu earlier deliveries not "
		    "recognised after the UIDVALIDITY change; if those "
		    "messages are still on the server they are delivered "
		    "again", ctx->a->id, s->folder,
		    nold_delivered - r.matched);
	rc = 0;
	goto out;
fail_tx:
	store_rollback(ctx->st);
out:
	s->msgid_mode = false;
	s->want = NULL;
	s->nwant = 0;
	s->reid = NULL;
	store_msg_free(&r.old, r.nold);
	return rc;
}

static int
im_folder(struct im *s, const char *folder, struct err *e)
{
	struct pass_ctx *ctx = s->ctx;
	const struct account *a = ctx->a;
	struct imap_event ev;
	struct msg_rec *recs = NULL;
	size_t nrecs = 0, i, nnew = 0, nforget = 0;
	uint32_t *newv = NULL, *unseen = NULL;
	size_t nunseen = 0;
	uint64_t stored = 0;
	bool readonly = readonly_pass(a);
	unsigned tag;
	int rc = -1;

	s->folder = folder;
	s->uidvalidity = 0;
	s->exists = 0;
	if (s->select_tag != 0) {
		/* sent behind the login (im_login) */
		tag = s->select_tag;
		s->select_tag = 0;
	} else if (imap_cmd_select(s->eng, folder, readonly) == -1)
		return err_set(e, ERR_CONFIG, "invalid folder name %s",
		    folder);
	else
		tag = imap_tag_last(s->eng);
	if (im_wait(s, tag, on_select, &ev, e) == -1)
		return -1;
	if (ev.status != IMAP_OK) {
		soft_err(s, imap_code_err_class(ev.status, ev.code) ==
		    ERR_TEMP ? ERR_TEMP : ERR_CONFIG, "cannot open folder %s: "
		    "%.*s", folder, (int)MP_MIN(ev.len, 200), ev.text);
		/* The pipelined search is refused too; read and drop it. */
		if (s->search_tag != 0) {
			tag = s->search_tag;
			s->search_tag = 0;
			if (im_wait(s, tag, NULL, &ev, e) == -1)
				return -1;
		}
		return 0;
	}
	if (s->uidvalidity == 0)
		return err_set(e, ERR_PROTOCOL, "server gave no UIDVALIDITY "
		    "for %s", folder);
	pass_log(ctx, "folder %s: %u messages, UIDVALIDITY %llu%s", folder,
	    s->exists, (unsigned long long)s->uidvalidity,
	    readonly ? " (read-only)" : "");
	if (im_search(s, IMAP_SEARCH_ALL, e) == -1)
		return -1;
	ctx->res->on_server += s->nuids;
	if (s->caps_stale) {
		s->caps_stale = false;
		if (im_capability(s, e) == -1)
			return -1;
	}

	if (store_folder_get(ctx->st, a->id, folder, &stored, e) == -1)
		return -1;
	if (stored != 0 && stored != s->uidvalidity) {
		if (im_reidentify(s, stored, e) == -1)
			return -1;
	} else if (stored == 0 && store_folder_set(ctx->st, a->id, folder,
	    s->uidvalidity, e) == -1)
		return -1;

	if (a->only_unseen) {
		uint32_t *all = s->uids;
		size_t nall = s->nuids, capall = s->capuids;

		s->uids = NULL;
		s->nuids = s->capuids = 0;
		if (im_search(s, IMAP_SEARCH_UNSEEN, e) == -1) {
			free(all);
			return -1;
		}
		unseen = s->uids;
		nunseen = s->nuids;
		s->uids = all;
		s->nuids = nall;
		s->capuids = capall;
	}

	if (store_msg_load(ctx->st, a->id, folder, s->uidvalidity, &recs,
	    &nrecs, e) == -1)
		goto out;
	/* Forget UIDs no longer in the folder. */
	if (nrecs > 0) {
		if (store_begin(ctx->st, e) == -1)
			goto out;
		for (i = 0; i < nrecs; i++) {
			const char *errstr;
			uint32_t u = (uint32_t)strnum(recs[i].uid, 1,
			    UINT32_MAX, &errstr);

			if (errstr == NULL && s->nuids > 0 &&
			    bsearch(&u, s->uids, s->nuids, sizeof(u),
			    cmp_u32) != NULL)
				continue;
			if (store_msg_forget(ctx->st, a->id, folder,
			    s->uidvalidity, recs[i].uid, e) == -1) {
				store_rollback(ctx->st);
				goto out;
			}
			nforget++;
		}
		if (store_commit(ctx->st, e) == -1) {
			store_rollback(ctx->st);
			goto out;
		}
		if (nforget > 0)
			pass_log(ctx, "forgot %zu messages no longer in %s",
			    nforget, folder);
	}
	newv = xcalloc(s->nuids + 1, sizeof(*newv));
	for (i = 0; i < s->nuids; i++) {
		char uid[16];
		struct msg_rec *r;

		(void)snprintf(uid, sizeof(uid), "%u", s->uids[i]);
		r = store_msg_find(recs, nrecs, uid);
		if (r == NULL) {
			if (a->only_unseen && (nunseen == 0 ||
			    bsearch(&s->uids[i], unseen, nunseen,
			    sizeof(*unseen), cmp_u32) == NULL))
				continue;
			if (a->max_per_pass > 0 && ctx->prog.total +
			    nnew >= (size_t)a->max_per_pass) {
				ctx->res->skipped++;
				continue;
			}
			newv[nnew++] = s->uids[i];
		} else if (r->state == MSG_DELIVERED && !readonly &&
		    pass_delete_now(a, r->first_seen))
			push_u32(&s->del, &s->ndel, &s->capdel, s->uids[i]);
		else
			ctx->res->kept++;
	}
	if (s->ndel > 0) {
		pass_log(ctx, "%zu delivered messages in %s to delete",
		    s->ndel, folder);
		if (im_store_expunge(s, e) == -1)
			goto out;
	}
	pass_log(ctx, "%zu new messages to fetch from %s", nnew, folder);
	ctx->prog.phase = "fetching";
	ctx->prog.total += nnew;
	pass_deadline_extend(ctx, ctx->prog.total, 0);
	conn_set_deadline(s->conn, ctx->deadline_ms);
	pass_progress(ctx, true);
	if (nnew > 0 && im_fetch_set(s, newv, nnew, IMAP_FETCH_BODY, e) == -1)
		goto out;
	if (im_commit(s, e) == -1)
		goto out;
	rc = 0;
out:
	free(newv);
	free(unseen);
	store_msg_free(&recs, nrecs);
	return rc;
}

int
imap_pass_run(struct pass_ctx *ctx, struct err *e)
{
	const struct account *a = ctx->a;
	struct im s;
	struct imap_event ev;
	bool preauth = false;
	int rc = -1;
	size_t i;

	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	if (pass_connect(ctx, &s.conn, &s.tls, e) == -1)
		goto out;
	s.eng = imap_create();
	if (ctx->opts->verbose > 0)
		pp_set_trace(imap_pp(s.eng), pass_trace, ctx);

	if (im_event(&s, &ev, e) == -1)
		goto out;
	if (ev.kind != IMAP_EV_STATUS || !ev.greeting) {
		err_set(e, ERR_PROTOCOL, "no IMAP greeting");
		goto out;
	}
	if (ev.status == IMAP_BYE) {
		err_set(e, ERR_TEMP, "server refused the connection: %.*s",
		    (int)MP_MIN(ev.len, 200), ev.text);
		goto out;
	}
	pass_log(ctx, "greeting: %.*s", (int)MP_MIN(ev.len, 200), ev.text);
	if (ev.status == IMAP_PREAUTH) {
		if (a->security == SEC_STARTTLS) {
			/* RFC 2595 3.1: PREAUTH makes STARTTLS impossible. */
			err_set(e, ERR_TLS, "server greeted with PREAUTH, so "
			    "STARTTLS cannot be negotiated; ending the session "
			    "(security starttls)");
			goto out;
		}
		preauth = true;
	}
	if (ev.code != IMAP_CODE_CAPABILITY || a->security == SEC_STARTTLS) {
		if (im_capability(&s, e) == -1)
			goto out;
	} else
		log_caps(&s);
	if (a->security == SEC_STARTTLS && im_starttls(&s, e) == -1)
		goto out;
	ctx->proto_label = s.tls ? "IMAPS" : "IMAP";
	ctx->prog.phase = "authenticating";
	pass_progress(ctx, true);
	if (!preauth && im_login(&s, e) == -1)
		goto out;
	ctx->prog.phase = "listing";
	pass_progress(ctx, true);
	for (i = 0; i == 0 || (i < ACCT_MAX_FOLDERS && a->folders[i] != NULL);
	    i++) {
		const char *folder = a->folders[0] == NULL ? "INBOX" :
		    a->folders[i];

		s.last_folder = a->folders[0] == NULL ||
		    i + 1 >= ACCT_MAX_FOLDERS || a->folders[i + 1] == NULL;
		if (im_folder(&s, folder, e) == -1)
			goto out;
		if (ctx->stop || a->folders[0] == NULL)
			break;
	}
	/* LOGOUT; never CLOSE (it would expunge others' \Deleted). */
	if ((s.logout_tag != 0 ? im_wait(&s, s.logout_tag, NULL, &ev, e) :
	    im_simple(&s, IMAP_CMD_LOGOUT, &ev, e)) == -1) {
		pass_log(ctx, "LOGOUT: %s", err_msg(e));
		err_clear(e);
	}
	if (s.soft.cls != ERR_NONE) {
		err_set(e, s.soft.cls, "%s", err_msg(&s.soft));
		goto out;
	}
	rc = 0;
out:
	err_clear(&s.soft);
	free(s.bye);
	free(s.uids);
	free(s.del);
	free(s.seen);
	imap_free(&s.eng);
	conn_free(&s.conn);
	return rc;
}
