/*
 * pass.c - the frame of one account pass: lock, credentials, target,
 * recipients, the durability batch, the run log. The retrieval methods
 * (pop3_pass.c, ...) do the protocol work and call back into here to
 * deliver and commit.
 */
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include <sodium.h>

#include "fetch/pass.h"
#include "fetch/oauth_pass.h"
#include "fetch/pass_impl.h"
#include "filter/filter.h"
#include "route/route.h"
#include "store/journal.h"
#include "store/settings.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define PASS_LOG_MAX	(256 * 1024)
/* Messages up to this size stay in memory (the small-message and real-mail
 * bench sets: 99.9 % under 93 KB); larger ones spool to a file. The buffer
 * is also a large one's write stage, so it is what a 1 GB message adds to
 * peak RSS: 256 KiB keeps that flat (bench/README.md, issue 8). */
#define SPOOL_MEM_MAX	(256 * 1024)
#define MESSAGE_MAX	((uint64_t)1 << 30)	/* 1 GiB */
/* Whole-pass deadline: ten network steps (at least 10 s), plus a second
 * per message and a slow-but-honest transfer rate for the listed bytes, so
 * a server dripping a byte at a time cannot hold a pass forever. */
#define DEADLINE_MIN_MS		(10 * 1000)
#define DEADLINE_MIN_RATE	(32 * 1024)	/* bytes per second */

void
pass_log(struct pass_ctx *ctx, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	log_debug("%s: %s", ctx->a->id, line);
	if (ctx->log.len >= PASS_LOG_MAX - 64)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (buf_printf(&ctx->log, "%02d:%02d:%02d.%03ld %s\n", tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, line) == -1)
		(void)buf_adds(&ctx->log, "(run log truncated)\n");
}

void
pass_trace(void *arg, const char *dir, const char *line, size_t len)
{
	struct pass_ctx *ctx = arg;

	if (len > 200)
		pass_log(ctx, "%s: %.200s... (%zu bytes)", dir, line, len);
	else
		pass_log(ctx, "%s: %.*s", dir, (int)len, line);
}

void
pass_progress(struct pass_ctx *ctx, bool force)
{
	int64_t now;

	if (ctx->opts->progress == NULL)
		return;
	now = conn_now_ms();
	if (!force && now - ctx->prog_last_ms < 100)
		return;
	ctx->prog_last_ms = now;
	ctx->opts->progress(ctx->opts->progress_arg, &ctx->prog);
}

int
pass_connect(struct pass_ctx *ctx, struct conn **c_r, bool *tls_r,
    struct err *e)
{
	const struct account *a = ctx->a;

	*tls_r = false;
	ctx->prog.phase = "connecting";
	pass_progress(ctx, true);
	pass_log(ctx, "connecting to %s port %d", a->host, account_port(a));
	if (conn_connect(c_r, a->host, account_port(a), ctx->timeout_ms,
	    e) == -1)
		return -1;
	conn_set_deadline(*c_r, ctx->deadline_ms);
	if (a->security != SEC_TLS)
		return 0;
	return pass_tls(ctx, *c_r, tls_r, "TLS", e);
}

int
pass_tls(struct pass_ctx *ctx, struct conn *c, bool *tls_r, const char *what,
    struct err *e)
{
	struct tls_opts to;

	memset(&to, 0, sizeof(to));
	to.verify = ctx->a->verify;
	to.ca_file = ctx->a->ca_file;
	if (conn_starttls(c, &to, e) == -1)
		return -1;
	*tls_r = true;
	pass_log(ctx, "%s: %s", what, conn_tls_info(c));
	return 0;
}

int
pass_flush(struct conn *c, struct pp *pp, struct err *e)
{
	const char *out;
	size_t len;

	out = pp_output(pp, &len);
	if (len == 0)
		return 0;
	if (conn_write(c, out, len, e) == -1)
		return -1;
	pp_output_consume(pp, len);
	return 0;
}

int
pass_fill(struct conn *c, struct pp *pp, struct err *e)
{
	size_t room = pp_input_room(pp);
	ssize_t n;
	char *w;

	if (pass_flush(c, pp, e) == -1)
		return -1;
	if (room > PASS_READ_CHUNK)
		room = PASS_READ_CHUNK;
	if (room == 0 || (w = buf_reserve(&pp->in, room)) == NULL)
		return err_set(e, ERR_PROTOCOL,
		    "server reply exceeds the input bound");
	n = conn_read(c, w, room, e);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	buf_commit(&pp->in, (size_t)n);
	return 1;
}

bool
pass_cancelled(struct pass_ctx *ctx)
{
	/* Atomic: another thread sets it (pass.h). */
	if (!ctx->cancelled && ctx->opts->cancel != NULL &&
	    __atomic_load_n(ctx->opts->cancel, __ATOMIC_RELAXED) != 0) {
		ctx->cancelled = true;
		ctx->stop = true;
		pass_log(ctx, "cancelled: finishing the message in flight");
	}
	return ctx->cancelled;
}

void
pass_deadline_extend(struct pass_ctx *ctx, unsigned long msgs, uint64_t bytes)
{
	int64_t extra;

	extra = (int64_t)(bytes / DEADLINE_MIN_RATE) * 1000 +
	    (int64_t)msgs * 1000;
	ctx->deadline_ms = ctx->started_ms +
	    MP_MAX(10 * (int64_t)ctx->timeout_ms, DEADLINE_MIN_MS) + extra;
}

static void
delivery_key(const struct pass_ctx *ctx, const char *folder,
    uint64_t uidvalidity, const char *uid, const unsigned char *digest,
    const char *extra, unsigned char key[DELIVERY_KEY_LEN])
{
	crypto_generichash_state h;
	char v[32];
	int n;

	n = snprintf(v, sizeof(v), "%llu", (unsigned long long)uidvalidity);
	crypto_generichash_init(&h, NULL, 0, DELIVERY_KEY_LEN);
	crypto_generichash_update(&h, (const unsigned char *)ctx->a->id,
	    strlen(ctx->a->id) + 1);
	crypto_generichash_update(&h, (const unsigned char *)folder,
	    strlen(folder) + 1);
	crypto_generichash_update(&h, (const unsigned char *)v,
	    (size_t)n + 1);
	crypto_generichash_update(&h, (const unsigned char *)uid,
	    strlen(uid) + 1);
	crypto_generichash_update(&h, digest, SPOOL_DIGEST_LEN);
	/* A postmaster copy carries other headers: another file. */
	if (extra != NULL)
		crypto_generichash_update(&h, (const unsigned char *)extra,
		    strlen(extra));
	crypto_generichash_final(&h, key, DELIVERY_KEY_LEN);
}

void
pass_spool_done(struct pass_ctx *ctx)
{
	spool_finish(ctx->spool, ctx->digest);
}

void
pass_problem(struct pass_ctx *ctx, bool parked, const char *fmt, ...)
{
	struct pass_result *r = ctx->res;
	char line[600];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pass_log(ctx, "%s", line);
	if (parked)
		r->parked++;
	else
		r->deferred++;
	if (r->nproblems < PASS_PROBLEMS_MAX) {
		r->problems = xreallocarray(r->problems, r->nproblems + 1,
		    sizeof(*r->problems));
		r->problems[r->nproblems++] = xstrdup(line);
	}
}

/* A header field's value from the spooled message's head (unfolded,
 * bounded), or NULL. */
static char *
head_field(struct pass_ctx *ctx, const char *name)
{
	char head[8192], val[512];
	size_t hl, nl = strlen(name), i = 0, o = 0;

	hl = spool_head(ctx->spool, head, sizeof(head));
	while (i < hl) {
		if (head[i] == '\n')
			break;		/* end of header */
		if (hl - i > nl && strncasecmp(head + i, name, nl) == 0 &&
		    head[i + nl] == ':') {
			for (i += nl + 1; i < hl && o + 1 < sizeof(val); i++) {
				if (head[i] == '\n') {
					if (i + 1 < hl && (head[i + 1] == ' ' ||
					    head[i + 1] == '\t'))
						continue;
					break;
				}
				if ((unsigned char)head[i] < 0x20 &&
				    head[i] != '\t')
					continue;
				if (o == 0 && (head[i] == ' ' ||
				    head[i] == '\t'))
					continue;
				val[o++] = head[i];
			}
			val[o] = '\0';
			return xstrdup(val);
		}
		while (i < hl && head[i] != '\n')
			i++;
		i++;
	}
	return NULL;
}

/* Does the message already carry our trace header for this account? */
static bool
loop_detected(struct pass_ctx *ctx)
{
	char head[65536], needle[600];
	size_t hl;
	int n;

	hl = spool_head(ctx->spool, head, sizeof(head) - 1);
	head[hl] = '\0';
	/* Our Received: says "(account ID, id ...)"; only in the header. */
	{
		char *end = strstr(head, "\n\n");

		if (end != NULL)
			end[1] = '\0';
	}
	n = snprintf(needle, sizeof(needle), "(account %s,", ctx->a->id);
	if (n < 0 || (size_t)n >= sizeof(needle))
		return false;
	return strstr(head, needle) != NULL && strstr(head, "(mailpull ")
	    != NULL;
}

static struct pass_pending *
batch_add(struct pass_ctx *ctx, const char *folder, uint64_t uidvalidity,
    const char *uid, void *cookie, enum msg_state state, char *reason)
{
	struct pass_pending *p;

	if (ctx->nbatch >= PASS_BATCH_MAX)
		fatalx("pass: batch full");
	p = &ctx->batch[ctx->nbatch++];
	memset(p, 0, sizeof(*p));
	p->folder = xstrdup(folder);
	p->uidvalidity = uidvalidity;
	p->uid = xstrdup(uid);
	p->size = ctx->cur_remote_size != 0 ? ctx->cur_remote_size :
	    spool_size(ctx->spool);
	p->msgid = ctx->cur_msgid;
	ctx->cur_msgid = NULL;
	ctx->cur_remote_size = 0;
	p->cookie = cookie;
	p->state = state;
	p->reason = reason;
	if (state == MSG_FAILED)
		p->subject = head_field(ctx, "Subject");
	if (p->msgid == NULL && state == MSG_FAILED)
		p->msgid = head_field(ctx, "Message-ID");
	return p;
}

static bool
in_list(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(v[i], s) == 0)
			return true;
	return false;
}

/* Record recipients already reached, durably, before going on without the
 * others (so a retry reaches only those still missing). */
static int
record_partial(struct pass_ctx *ctx, const char *folder, uint64_t uidvalidity,
    const char *uid, struct target_rcpt *tr, size_t n, struct err *e)
{
	size_t i;

	ctx->partials = true;
	if (target_sync(ctx->target, e) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (tr[i].result == ERR_NONE &&
		    store_rcpt_done_add(ctx->st, ctx->a->id, folder,
		    uidvalidity, uid, tr[i].addr, e) == -1)
			return -1;
	return 0;
}

int
pass_deliver(struct pass_ctx *ctx, const char *folder, uint64_t uidvalidity,
    const char *uid, void *cookie, struct err *e)
{
	struct route_result rr;
	struct filter_verdict fv;	/* filter block */
	struct delivery d;
	struct target_rcpt *tr = NULL, pm;
	struct err de = { 0 };
	struct buf why, extra;
	char rid[160], **done = NULL;
	size_t ndone = 0, n = 0, i, nok = 0, ntemp = 0, nperm = 0, pmi;
	const char *postmaster;
	int rc = -1;

	memset(&rr, 0, sizeof(rr));
	memset(&fv, 0, sizeof(fv));
	memset(&pm, 0, sizeof(pm));
	buf_init(&why, 2048);
	buf_init(&extra, 16384);
	if (uidvalidity != 0)
		(void)snprintf(rid, sizeof(rid), "%s/%llu/%s", folder,
		    (unsigned long long)uidvalidity, uid);
	else
		(void)snprintf(rid, sizeof(rid), "%s", uid);
	memset(&d, 0, sizeof(d));
	d.account = ctx->a->id;
	d.server = ctx->a->host;
	d.protocol = ctx->proto_label;
	d.remote_id = rid;
	delivery_key(ctx, folder, uidvalidity, uid, ctx->digest, NULL, d.key);

	if (loop_detected(ctx)) {
		pass_problem(ctx, true, "message %s parked: mail loop (it "
		    "already carries mailpull's trace header for this "
		    "account)", rid);
		batch_add(ctx, folder, uidvalidity, uid, cookie, MSG_FAILED,
		    xstrdup("mail loop: already fetched by this account"));
		rc = 0;
		goto out;
	}
	if (route_message(ctx->route, ctx->spool, &rr, &de) == -1) {
		if (de.cls == ERR_CONFIG) {
			/* A configuration gap (no postmaster): nothing is
			 * lost, the message waits for the administrator. */
			pass_problem(ctx, false, "message %s not routed, left "
			    "on the server: %s", rid, err_msg(&de));
			rc = 0;
			goto out;
		}
		pass_problem(ctx, true, "message %s parked: %s", rid,
		    err_msg(&de));
		batch_add(ctx, folder, uidvalidity, uid, cookie, MSG_FAILED,
		    xstrdup(err_msg(&de)));
		rc = 0;
		goto out;
	}
	if (rr.note != NULL)
		pass_log(ctx, "message %s: %s", rid, rr.note);
	if (rr.n == 0) {
		pass_log(ctx, "message %s dropped by a rule", rid);
		batch_add(ctx, folder, uidvalidity, uid, cookie,
		    MSG_DELIVERED, NULL);
		ctx->res->delivered++;
		rc = 0;
		goto out;
	}
	/*
	 * ---- spam and virus checks (src/filter/, issue 9) ----
	 * After routing (rspamd gets the routed recipients), before any
	 * delivery. A scanner that is down under the hold policy: left on
	 * the server for the next pass, never delivered unscanned. An
	 * infected message (or spam under --spam-action quarantine) goes to
	 * the quarantine, durably, and only then counts as handled (so the
	 * remote copy follows the delete/keep policy after the commit); the
	 * postmaster gets a notice. Otherwise the verdict headers and the
	 * folder (Junk) travel with the delivery.
	 */
	if (ctx->filter != NULL) {
		if (filter_check(ctx->filter, ctx->spool, rr.rcpts, rr.n,
		    &fv, &de) == -1) {
			pass_problem(ctx, false, "message %s left on the "
			    "server: %s", rid, err_msg(&de));
			rc = 0;
			goto out;
		}
		if (fv.quarantine) {
			if (filter_quarantine(ctx->filter, ctx->spool, &fv,
			    rr.rcpts, rr.n, &d, ctx->target,
			    route_postmaster(ctx->route), &de) == -1) {
				err_set(e, ERR_LOCAL, "message %s: %s", rid,
				    err_msg(&de));
				goto out;
			}
			pass_log(ctx, "message %s quarantined: %s: %s", rid,
			    fv.kind, fv.reason != NULL ? fv.reason : "?");
			batch_add(ctx, folder, uidvalidity, uid, cookie,
			    MSG_DELIVERED, NULL);
			rc = 0;
			goto out;
		}
		d.extra_headers = fv.headers;
		d.folder = fv.folder;
		if (fv.folder != NULL)
			pass_log(ctx, "message %s: spam, to folder %s", rid,
			    fv.folder);
	}
	/* ---- end of the filter block ---- */
	if (ctx->partials && store_rcpt_done_load(ctx->st, ctx->a->id, folder,
	    uidvalidity, uid, &done, &ndone, e) == -1)
		goto out;
	tr = xcalloc(rr.n, sizeof(*tr));
	postmaster = route_postmaster(ctx->route);
	pmi = SIZE_MAX;
	for (i = 0; i < rr.n; i++) {
		if (in_list(done, ndone, rr.rcpts[i]))
			continue;
		/* Mail routed to the postmaster for want of a recipient
		 * names the original recipients in its own copy. */
		if (postmaster != NULL && rr.orig != NULL &&
		    rr.orig[i] != NULL && rr.orig[i][0] != NULL &&
		    strcasecmp(rr.rcpts[i], postmaster) == 0) {
			size_t j;

			for (j = 0; rr.orig[i][j] != NULL; j++)
				if (strcasecmp(rr.orig[i][j], postmaster) != 0)
					(void)buf_printf(&extra,
					    "X-Mailpull-Original-To: %s\n",
					    rr.orig[i][j]);
			if (extra.len > 0) {
				pmi = i;
				continue;
			}
		}
		tr[n++].addr = rr.rcpts[i];
	}
	if (n > 0 && target_deliver_many(ctx->target, ctx->spool, tr, n, &d,
	    &de) == -1) {
		err_set(e, de.cls == ERR_TEMP ? ERR_TEMP : ERR_LOCAL,
		    "delivery of message %s failed: %s", rid, err_msg(&de));
		goto out;
	}
	if (pmi != SIZE_MAX) {
		struct delivery pd = d;

		pd.extra_headers = extra.data;
		delivery_key(ctx, folder, uidvalidity, uid, ctx->digest,
		    extra.data, pd.key);
		tr[n].addr = rr.rcpts[pmi];
		if (target_deliver_many(ctx->target, ctx->spool, &tr[n], 1, &pd,
		    &de) == -1) {
			n++;
			err_set(e, de.cls == ERR_TEMP ? ERR_TEMP : ERR_LOCAL,
			    "delivery of message %s to the postmaster "
			    "failed: %s", rid, err_msg(&de));
			goto out;
		}
		n++;
		buf_reset(&extra);
	}
	for (i = 0; i < n; i++) {
		if (tr[i].result == ERR_NONE) {
			nok++;
			continue;
		}
		if (tr[i].result == ERR_PERM)
			nperm++;
		else
			ntemp++;
		pass_log(ctx, "message %s: %s refused (%s): %s", rid,
		    tr[i].addr, err_class_name(tr[i].result),
		    tr[i].reason != NULL ? tr[i].reason : "?");
	}
	/* Permanent refusals (user unknown) go to the postmaster, once, with
	 * the original recipients named, instead of bouncing; with
	 * reroute-unknown no the message is parked below (after recording
	 * the recipients reached). */
	if (nperm > 0 && postmaster != NULL &&
	    route_reroute_unknown(ctx->route) && !in_list(done, ndone,
	    postmaster)) {
		bool pm_refused = false;

		for (i = 0; i < n; i++)
			if (tr[i].result == ERR_PERM &&
			    strcasecmp(tr[i].addr, postmaster) == 0)
				pm_refused = true;
		for (i = 0; i < n && !pm_refused; i++) {
			size_t j, k = 0;

			if (tr[i].result != ERR_PERM)
				continue;
			for (j = 0; j < rr.n; j++)
				if (rr.rcpts[j] == tr[i].addr)
					k = j;
			if (rr.orig != NULL && rr.orig[k] != NULL &&
			    rr.orig[k][0] != NULL) {
				for (j = 0; rr.orig[k][j] != NULL; j++)
					(void)buf_printf(&extra,
					    "X-Mailpull-Original-To: %s\n",
					    rr.orig[k][j]);
			} else
				(void)buf_printf(&extra,
				    "X-Mailpull-Original-To: %s\n",
				    tr[i].addr);
		}
		if (!pm_refused && extra.len > 0) {
			struct delivery pd = d;

			pd.extra_headers = extra.data;
			delivery_key(ctx, folder, uidvalidity, uid,
			    ctx->digest, extra.data, pd.key);
			pm.addr = postmaster;
			if (target_deliver_many(ctx->target, ctx->spool, &pm,
			    1, &pd, &de) == -1) {
				err_set(e, de.cls == ERR_TEMP ? ERR_TEMP :
				    ERR_LOCAL, "delivery of message %s to the "
				    "postmaster failed: %s", rid,
				    err_msg(&de));
				goto out;
			}
			if (pm.result == ERR_NONE) {
				pass_log(ctx, "message %s: %zu refused "
				    "recipients re-routed to the postmaster "
				    "%s", rid, nperm, postmaster);
				nperm = 0;
			} else if (pm.result == ERR_PERM)
				pass_log(ctx, "message %s: the postmaster %s "
				    "refused it too: %s", rid, postmaster,
				    pm.reason != NULL ? pm.reason : "?");
			else {
				ntemp++;
				pass_log(ctx, "message %s: the postmaster %s: "
				    "%s", rid, postmaster, pm.reason != NULL ?
				    pm.reason : "?");
			}
		}
	}
	for (i = 0; i < n; i++)
		if (tr[i].result != ERR_NONE)
			(void)buf_printf(&why, "%s%s: %s", why.len > 0 ? "; " :
			    "", tr[i].addr, tr[i].reason != NULL ?
			    tr[i].reason : err_class_name(tr[i].result));
	if (ntemp > 0) {
		/* Left on the server; those reached are remembered. */
		if (nok > 0 && record_partial(ctx, folder, uidvalidity, uid,
		    tr, n, e) == -1)
			goto out;
		pass_problem(ctx, false, "message %s left on the server for "
		    "the next pass: %s", rid, why.len > 0 ? why.data :
		    "temporary failure");
		rc = 0;
		goto out;
	}
	if (nperm > 0) {
		if (nok > 0 && record_partial(ctx, folder, uidvalidity, uid,
		    tr, n, e) == -1)
			goto out;
		pass_problem(ctx, true, "message %s parked: refused "
		    "permanently: %s", rid, why.data);
		batch_add(ctx, folder, uidvalidity, uid, cookie, MSG_FAILED,
		    xstrdup(why.data));
		rc = 0;
		goto out;
	}
	{
		struct pass_pending *p = batch_add(ctx, folder, uidvalidity,
		    uid, cookie, MSG_DELIVERED, NULL);

		ctx->res->delivered++;
		pass_log(ctx, "message %s delivered (%llu bytes) to %s%s", rid,
		    (unsigned long long)spool_size(ctx->spool), rr.rcpts[0],
		    rr.n > 1 ? " and others" : "");
		(void)p;
	}
	rc = 0;
out:
	if (rc == 0) {
		free(ctx->cur_msgid);
		ctx->cur_msgid = NULL;
		ctx->cur_remote_size = 0;
	}
	if (tr != NULL) {
		target_rcpts_clear(tr, n);
		free(tr);
	}
	target_rcpts_clear(&pm, 1);
	store_strv_free(&done, ndone);
	filter_verdict_clear(&fv);
	route_result_clear(&rr);
	buf_free(&why);
	buf_free(&extra);
	err_clear(&de);
	return rc;
}

bool
pass_delete_now(const struct account *a, int64_t first_seen)
{
	if (a->policy == POLICY_DELETE)
		return true;
	if (a->policy == POLICY_KEEP_DAYS)
		return time(NULL) - first_seen >= (int64_t)a->keep_days * 86400;
	return false;
}

int
pass_msgid_extract(const char *hdr, size_t len, char *out, size_t cap)
{
	size_t i = 0, o = 0;
	bool found = false;

	/* Find "Message-ID:" at the start of a line within the header. */
	while (i < len) {
		if (len - i >= 11 && strncasecmp(hdr + i, "Message-ID:", 11) == 0) {
			i += 11;
			found = true;
			break;
		}
		if (hdr[i] == '\n' || (hdr[i] == '\r' && i + 1 < len &&
		    hdr[i + 1] == '\n'))
			break;	/* empty line: end of header */
		while (i < len && hdr[i] != '\n')
			i++;
		i++;
	}
	if (!found || cap == 0)
		return -1;
	/* Unfold: continue over lines starting with white space. */
	for (; i < len; i++) {
		char c = hdr[i];

		if (c == '\r')
			continue;
		if (c == '\n') {
			if (i + 1 < len && (hdr[i + 1] == ' ' ||
			    hdr[i + 1] == '\t'))
				continue;
			break;
		}
		if ((c == ' ' || c == '\t') && o == 0)
			continue;
		if ((unsigned char)c < 0x20)
			continue;
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = '\0';
	return o > 0 ? 0 : -1;
}

bool
pass_batch_full(const struct pass_ctx *ctx)
{
	return ctx->nbatch >= PASS_BATCH_MAX;
}

static void
batch_clear(struct pass_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->nbatch; i++) {
		free(ctx->batch[i].folder);
		free(ctx->batch[i].uid);
		free(ctx->batch[i].msgid);
		free(ctx->batch[i].reason);
		free(ctx->batch[i].subject);
	}
	ctx->nbatch = 0;
}

int
pass_fence(struct pass_ctx *ctx, struct err *e)
{
	switch (store_lock_check(ctx->st, ctx->a->id, e)) {
	case 1:
		return 0;
	case 0:
		ctx->res->lease_lost = true;
		pass_log(ctx, "the lease on this account was taken over by "
		    "another node: nothing is deleted by this pass");
		log_warnx("%s: lease lost to another node; nothing deleted "
		    "by this pass", ctx->a->id);
		return err_set(e, ERR_BUSY, "lease lost to another node; "
		    "nothing deleted");
	default:
		err_prefix(e, "checking the lease before deleting");
		return -1;
	}
}

int
pass_commit(struct pass_ctx *ctx, pass_committed_fn done, void *arg,
    struct err *e)
{
	int64_t now = time(NULL);
	size_t i;

	if (ctx->nbatch == 0)
		return 0;
	/* Durability barrier, in order: the target, then the journal. */
	if (target_sync(ctx->target, e) == -1) {
		err_prefix(e, "syncing the target");
		batch_clear(ctx);
		return -1;
	}
	if (store_begin(ctx->st, e) == -1)
		goto fail;
	for (i = 0; i < ctx->nbatch; i++) {
		struct pass_pending *p = &ctx->batch[i];

		if (store_msg_record(ctx->st, ctx->a->id, p->folder,
		    p->uidvalidity, p->uid, p->state, p->size, now, p->msgid,
		    e) == -1 ||
		    (p->state == MSG_FAILED && store_parked_add(ctx->st,
		    ctx->a->id, p->folder, p->uidvalidity, p->uid, p->msgid,
		    p->subject, p->reason, e) == -1)) {
			store_rollback(ctx->st);
			goto fail;
		}
	}
	if (store_commit(ctx->st, e) == -1) {
		store_rollback(ctx->st);
		goto fail;
	}
	if (done != NULL)
		for (i = 0; i < ctx->nbatch; i++)
			done(arg, &ctx->batch[i]);
	batch_clear(ctx);
	return 0;
fail:
	err_prefix(e, "recording deliveries in the store");
	if (e != NULL)
		e->cls = ERR_LOCAL;
	batch_clear(ctx);
	return -1;
}

void
pass_result_clear(struct pass_result *r)
{
	size_t i;

	for (i = 0; i < r->nproblems; i++)
		free(r->problems[i]);
	free(r->problems);
	free(r->msg);
	memset(r, 0, sizeof(*r));
}

static void
summary_line(const struct pass_ctx *ctx, char *out, size_t cap)
{
	const struct pass_result *r = ctx->res;
	int n;

	n = snprintf(out, cap, "%lu on server, %lu new delivered (%llu bytes), "
	    "%lu deleted, %lu kept", r->on_server, r->delivered,
	    (unsigned long long)r->bytes, r->deleted, r->kept);
	if (n > 0 && (size_t)n < cap && r->failed > 0)
		n += snprintf(out + n, cap - (size_t)n, ", %lu failed",
		    r->failed);
	if (n > 0 && (size_t)n < cap && r->skipped > 0)
		(void)snprintf(out + n, cap - (size_t)n,
		    ", %lu left for the next pass", r->skipped);
}

int
pass_run(struct store *st, const struct account *a,
    const struct pass_opts *opts, struct pass_result *res)
{
	struct pass_ctx ctx;
	struct err e = { 0 };
	struct run_rec run;
	char *target = NULL, *tmpdir = NULL, summary[512];
	int rc = -1, locked = 0;

	memset(res, 0, sizeof(*res));
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = st;
	ctx.a = a;
	ctx.opts = opts;
	ctx.res = res;
	buf_init(&ctx.log, PASS_LOG_MAX);
	ctx.started_ms = conn_now_ms();
	ctx.timeout_ms = (a->timeout > 0 ? a->timeout : 30) * 1000;
	pass_deadline_extend(&ctx, 0, 0);
	ctx.prog.account = a->id;
	ctx.prog.phase = "starting";
	memset(&run, 0, sizeof(run));
	run.started = time(NULL);

	switch (store_lock(st, a->id, opts->wait_lock, &e)) {
	case 1:
		locked = 1;
		break;
	case 0:
		res->cls = ERR_BUSY;
		res->msg = xstrdup(err_msg(&e));
		err_clear(&e);
		buf_free(&ctx.log);
		return -1;
	default:
		goto fail;
	}
	pass_log(&ctx, "pass started: %s %s:%d (%s), user %s, policy %s",
	    account_proto_name(a->proto), a->host, account_port(a),
	    account_security_name(a->security), a->user,
	    account_policy_name(a->policy));
	if (!a->verify)
		pass_log(&ctx, "TLS certificate verification is OFF for this "
		    "account");
	if (!oauth_pass_enabled(st, a->id) && store_password_get(st, a->id,
	    &ctx.password, &ctx.password_len, &e) == -1)
		goto fail;
	if (a->target != NULL && a->target[0] != '\0')
		target = xstrdup(a->target);
	else if (store_setting_get(st, "target", &target, &e) == -1)
		goto fail;
	if (target == NULL)
		target = xasprintf("maildir:%s/mail/%%u/Maildir",
		    store_state_dir(st));
	if (target_uri_parse(target, &ctx.turi, &e) == -1 ||
	    target_open(&ctx.target, &ctx.turi, &e) == -1)
		goto fail;
	if (route_open(&ctx.route, st, a, &e) == -1 ||
	    store_rcpt_done_any(st, a->id, &ctx.partials, &e) == -1)
		goto fail;
	/* spam and virus checks (src/filter/): NULL when none are on */
	if (filter_open(&ctx.filter, st, a->id, &e) == -1)
		goto fail;
	tmpdir = xasprintf("%s/tmp", store_state_dir(st));
	if (mkdir(tmpdir, 0700) == -1 && errno != EEXIST) {
		err_set(&e, ERR_LOCAL, "cannot create %s: %s", tmpdir,
		    strerror(errno));
		goto fail;
	}
	ctx.spool = spool_create(tmpdir, SPOOL_MEM_MAX, MESSAGE_MAX);
	pass_log(&ctx, "target %s, %s", target, route_multidrop(ctx.route) ?
	    "catch-all routing" : "single-recipient routing");

	switch (a->proto) {
	case ACCT_POP3:
		rc = pop3_pass_run(&ctx, &e);
		break;
	case ACCT_IMAP:
		rc = imap_pass_run(&ctx, &e);
		break;
	default:
		rc = err_set(&e, ERR_CONFIG, "protocol %s is not supported "
		    "yet", account_proto_name(a->proto));
		break;
	}
	if (rc == 0 && res->nproblems > 0)
		rc = err_set(&e, res->parked > 0 ? ERR_LOCAL : ERR_TEMP,
		    "%lu messages not delivered (%lu parked, %lu left for the "
		    "next pass)", res->parked + res->deferred, res->parked,
		    res->deferred);
	if (rc == 0 && ctx.cancelled)
		rc = err_set(&e, ERR_TEMP, "pass cancelled (mailpull is "
		    "stopping); the rest waits for the next pass");
	/* Whatever happened, what was delivered gets recorded (no deletes). */
	if (ctx.nbatch > 0) {
		struct err ce = { 0 };

		if (pass_commit(&ctx, NULL, NULL, &ce) == -1) {
			pass_log(&ctx, "error: %s", err_msg(&ce));
			if (rc == 0) {
				rc = -1;
				err_set(&e, ce.cls, "%s", err_msg(&ce));
			}
		}
		err_clear(&ce);
	}
	if (rc == 0)
		goto done;
fail:
	rc = -1;
	if (e.cls == ERR_NONE)
		e.cls = ERR_INTERNAL;
	res->cls = e.cls;
	res->msg = xstrdup(err_msg(&e));
	pass_log(&ctx, "%s error: %s", err_class_name(e.cls), err_msg(&e));
done:
	if (ctx.filter != NULL) {
		const struct filter_stats *fs = filter_stats(ctx.filter);

		pass_log(&ctx, "filters: %lu scanned, %lu spam, %lu infected, "
		    "%lu unscanned, %lu quarantined", fs->scanned, fs->spam,
		    fs->infected, fs->unscanned, fs->quarantined);
		res->scanned = fs->scanned;
		res->spam = fs->spam;
		res->infected = fs->infected;
		res->quarantined = fs->quarantined;
		res->unscanned = fs->unscanned;
	}
	res->elapsed_ms = conn_now_ms() - ctx.started_ms;
	summary_line(&ctx, summary, sizeof(summary));
	pass_log(&ctx, "pass finished in %lld ms: %s", (long long)res->elapsed_ms,
	    summary);
	if (locked) {
		struct err se = { 0 };

		run.finished = time(NULL);
		run.cls = rc == 0 ? ERR_NONE : res->cls;
		run.summary = rc == 0 ? xstrdup(summary) :
		    xasprintf("%s error: %s", err_class_name(res->cls),
		    res->msg);
		run.log = buf_detach(&ctx.log);
		if (store_run_add(st, a->id, &run, &se) == -1)
			log_warnx("%s: cannot save the run log: %s", a->id,
			    err_msg(&se));
		err_clear(&se);
		if (rc == 0)
			log_syslog(LOG_INFO, "%s: %s", a->id, summary);
		else
			log_syslog(LOG_WARNING, "%s: %s", a->id, run.summary);
		free(run.summary);
		free(run.log);
		store_unlock(st, a->id);
	}
	batch_clear(&ctx);
	free(ctx.cur_msgid);
	if (ctx.password != NULL)
		store_secret_free(&ctx.password, ctx.password_len);
	spool_free(&ctx.spool);
	target_close(&ctx.target);
	target_uri_clear(&ctx.turi);
	route_close(&ctx.route);
	filter_close(&ctx.filter);
	buf_free(&ctx.log);
	free(target);
	free(tmpdir);
	err_clear(&e);
	return rc;
}
