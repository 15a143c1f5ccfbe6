/*
 * idle.c - the IMAP IDLE watcher (see idle.h).
 *
 * Set-up runs in a worker with blocking, deadline-bound conn calls and the
 * same security rules as a pass: implicit TLS or required STARTTLS (no
 * STARTTLS offered, a refusal, bytes after its OK, or a PREAUTH greeting
 * end the session before credentials), AUTHENTICATE PLAIN or LOGIN unless
 * LOGINDISABLED. The folder is EXAMINEd (read-only), so watching never
 * changes flags or \Recent for the pass.
 *
 * The watcher owns a session's connection from then on. Sessions are
 * handed over through an "incoming" list and dropped through a "forget"
 * list, both under the lock; only the watcher touches the sessions array,
 * so callbacks run without the lock.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/conn.h"
#include "proto/imap.h"
#include "sched/idle.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define READ_CHUNK	(16 * 1024)
#define WATCH_READ_MS	2000	/* a readable socket: rest of a TLS record */

enum sess_state {
	SESS_WAIT_CONT,		/* IDLE sent, waiting for "+" */
	SESS_IDLING,
	SESS_DONE_SENT,		/* refreshing: DONE sent, waiting for OK */
};

struct sess {
	char *id;
	struct conn *conn;
	struct imap *eng;
	enum sess_state state;
	uint32_t exists;
	int64_t idle_since;
	unsigned tag;		/* the current IDLE command */
	bool dead;
};

struct idle {
	pthread_t thread;
	pthread_mutex_t mu;
	int wake[2];
	idle_event_fn cb;
	void *arg;
	bool stop;
	/* under mu */
	struct sess **incoming;
	size_t nincoming;
	char **forget;
	size_t nforget;
	size_t count;
	/* watcher only */
	struct sess **sv;
	size_t ns;
};

static void
sess_free(struct sess *s)
{
	if (s == NULL)
		return;
	imap_free(&s->eng);
	conn_free(&s->conn);
	free(s->id);
	free(s);
}

static int
sess_flush(struct sess *s, struct err *e)
{
	struct pp *pp = imap_pp(s->eng);
	const char *out;
	size_t len;

	out = pp_output(pp, &len);
	if (len == 0)
		return 0;
	if (conn_write(s->conn, out, len, e) == -1)
		return -1;
	pp_output_consume(pp, len);
	return 0;
}

/* Read once from the connection into the engine. */
static int
sess_read(struct sess *s, struct err *e)
{
	struct pp *pp = imap_pp(s->eng);
	size_t room;
	ssize_t n;
	char *w;

	room = MP_MIN(pp_input_room(pp), READ_CHUNK);
	if (room == 0 || (w = buf_reserve(&pp->in, room)) == NULL)
		return err_set(e, ERR_PROTOCOL, "server reply exceeds the "
		    "input bound");
	n = conn_read(s->conn, w, room, e);
	if (n < 0)
		return -1;
	if (n == 0)
		return err_set(e, ERR_PROTOCOL, "server closed the connection");
	buf_commit(&pp->in, (size_t)n);
	return 0;
}

/* Blocking: the next event. */
static int
sess_event(struct sess *s, struct imap_event *ev, struct err *e)
{
	const char *cause = NULL;
	int r;

	for (;;) {
		r = imap_event_next(s->eng, ev, &cause);
		if (r == 1)
			return 0;
		if (r < 0)
			return err_set(e, ERR_PROTOCOL, "%s", cause != NULL ?
			    cause : "protocol error");
		if (sess_flush(s, e) == -1 || sess_read(s, e) == -1)
			return -1;
	}
}

/* Blocking: queue cmd (already queued when cmd is IMAP_CMD_NONE) and wait
 * for its completion; EXISTS is remembered. */
static int
sess_cmd(struct sess *s, enum imap_cmd cmd, struct imap_event *ev,
    struct err *e)
{
	unsigned tag;

	if (cmd != IMAP_CMD_NONE && imap_cmd_simple(s->eng, cmd) == -1)
		return err_set(e, ERR_INTERNAL, "cannot queue %s",
		    imap_cmd_name(cmd));
	tag = imap_tag_last(s->eng);
	for (;;) {
		if (sess_event(s, ev, e) == -1)
			return -1;
		if (ev->kind == IMAP_EV_EXISTS)
			s->exists = ev->num;
		else if (ev->kind == IMAP_EV_CONT && cmd == IMAP_CMD_IDLE)
			return 0;
		else if (ev->kind == IMAP_EV_CONT) {
			if (imap_cont_send(s->eng, "*", false) == -1)
				return err_set(e, ERR_INTERNAL, "cannot "
				    "cancel a continuation");
		} else if (ev->kind == IMAP_EV_TAGGED && ev->tag == tag)
			return 0;
	}
}

static int
sess_tls(struct sess *s, const struct account *a, struct err *e)
{
	struct tls_opts to;

	memset(&to, 0, sizeof(to));
	to.verify = a->verify;
	to.ca_file = a->ca_file;
	return conn_starttls(s->conn, &to, e);
}

static int
sess_login(struct sess *s, const struct account *a, const char *pw,
    struct err *e)
{
	const struct imap_caps *c = imap_caps(s->eng);
	struct imap_event ev;
	int r;

	if (c->auth_plain)
		r = imap_cmd_auth_plain(s->eng, NULL, a->user, pw, c->sasl_ir);
	else if (!c->logindisabled)
		r = imap_cmd_login(s->eng, a->user, pw);
	else
		return err_set(e, ERR_AUTH, "server allows no LOGIN "
		    "(LOGINDISABLED) and offers no AUTH=PLAIN");
	if (r == -1)
		return err_set(e, ERR_CONFIG, "cannot send the credentials");
	if (sess_cmd(s, IMAP_CMD_NONE, &ev, e) == -1)
		return -1;
	if (ev.status != IMAP_OK) {
		enum err_class cls = imap_code_err_class(ev.status, ev.code);

		if (cls == ERR_NONE || cls == ERR_PROTOCOL || cls == ERR_PERM)
			cls = ERR_AUTH;
		return err_set(e, cls, "login rejected for user %s: %.*s",
		    a->user, (int)MP_MIN(ev.len, 200), ev.text);
	}
	if (ev.code != IMAP_CODE_CAPABILITY &&
	    (sess_cmd(s, IMAP_CMD_CAPABILITY, &ev, e) == -1))
		return -1;
	return 0;
}

/* Connect and log in; 0 idling, 1 no IDLE, -1 error. */
static int
sess_open(struct sess *s, const struct account *a, const char *pw,
    struct err *e)
{
	struct imap_event ev;
	bool preauth = false;
	const char *folder = a->folders[0] != NULL ? a->folders[0] : "INBOX";

	if (conn_connect(&s->conn, a->host, account_port(a),
	    a->timeout * 1000, e) == -1)
		return -1;
	conn_set_timeout(s->conn, a->timeout * 1000);
	conn_set_deadline(s->conn, conn_now_ms() + 4 * a->timeout * 1000);
	if (a->security == SEC_TLS && sess_tls(s, a, e) == -1)
		return -1;
	s->eng = imap_create();
	if (sess_event(s, &ev, e) == -1)
		return -1;
	if (ev.kind != IMAP_EV_STATUS || !ev.greeting)
		return err_set(e, ERR_PROTOCOL, "no IMAP greeting");
	if (ev.status == IMAP_BYE)
		return err_set(e, ERR_TEMP, "server refused the connection");
	if (ev.status == IMAP_PREAUTH) {
		if (a->security == SEC_STARTTLS)
			return err_set(e, ERR_TLS, "server greeted with "
			    "PREAUTH, so STARTTLS cannot be negotiated "
			    "(security starttls)");
		preauth = true;
	}
	if ((ev.code != IMAP_CODE_CAPABILITY ||
	    a->security == SEC_STARTTLS) &&
	    sess_cmd(s, IMAP_CMD_CAPABILITY, &ev, e) == -1)
		return -1;
	if (a->security == SEC_STARTTLS) {
		if (!imap_caps(s->eng)->starttls)
			return err_set(e, ERR_TLS, "server does not offer "
			    "STARTTLS; refusing to send credentials in clear");
		if (sess_cmd(s, IMAP_CMD_STARTTLS, &ev, e) == -1)
			return -1;
		if (ev.status != IMAP_OK)
			return err_set(e, ERR_TLS, "server refused STARTTLS");
		if (imap_input_pending(s->eng) != 0)
			return err_set(e, ERR_PROTOCOL, "server sent data "
			    "after the STARTTLS reply; refusing it");
		if (sess_tls(s, a, e) == -1 ||
		    sess_cmd(s, IMAP_CMD_CAPABILITY, &ev, e) == -1)
			return -1;
	}
	if (!preauth && sess_login(s, a, pw, e) == -1)
		return -1;
	if (!imap_caps(s->eng)->idle) {
		(void)sess_cmd(s, IMAP_CMD_LOGOUT, &ev, e);
		err_clear(e);
		return 1;
	}
	if (imap_cmd_select(s->eng, folder, true) == -1)
		return err_set(e, ERR_CONFIG, "invalid folder name");
	if (sess_cmd(s, IMAP_CMD_NONE, &ev, e) == -1)
		return -1;
	if (ev.status != IMAP_OK)
		return err_set(e, ERR_PERM, "EXAMINE %s failed: %.*s", folder,
		    (int)MP_MIN(ev.len, 200), ev.text);
	if (sess_cmd(s, IMAP_CMD_IDLE, &ev, e) == -1)
		return -1;
	if (ev.kind != IMAP_EV_CONT) {
		(void)sess_cmd(s, IMAP_CMD_LOGOUT, &ev, e);
		err_clear(e);
		return 1;
	}
	s->tag = imap_tag_last(s->eng);
	s->state = SESS_IDLING;
	s->idle_since = conn_now_ms();
	/* From now on the watcher reads only when poll() says so. */
	conn_set_deadline(s->conn, 0);
	conn_set_timeout(s->conn, WATCH_READ_MS);
	return 0;
}

static void
idle_wakeup(struct idle *w)
{
	char c = 1;

	if (write(w->wake[1], &c, 1) == -1 && errno != EAGAIN)
		log_warn("idle: wake-up");
}

int
idle_add(struct idle *w, struct store *st, const struct account *a,
    struct err *e)
{
	struct sess *s;
	char *pw = NULL;
	size_t pwlen = 0;
	int r;

	if (a->proto != ACCT_IMAP)
		return 1;
	if (store_password_get(st, a->id, &pw, &pwlen, e) == -1)
		return -1;
	s = xcalloc(1, sizeof(*s));
	s->id = xstrdup(a->id);
	r = sess_open(s, a, pw, e);
	store_secret_free(&pw, pwlen);
	if (r != 0) {
		sess_free(s);
		return r;
	}
	pthread_mutex_lock(&w->mu);
	w->incoming = xreallocarray(w->incoming, w->nincoming + 1,
	    sizeof(*w->incoming));
	w->incoming[w->nincoming++] = s;
	pthread_mutex_unlock(&w->mu);
	idle_wakeup(w);
	return 0;
}

void
idle_forget(struct idle *w, const char *id)
{
	pthread_mutex_lock(&w->mu);
	w->forget = xreallocarray(w->forget, w->nforget + 1,
	    sizeof(*w->forget));
	w->forget[w->nforget++] = xstrdup(id);
	pthread_mutex_unlock(&w->mu);
	idle_wakeup(w);
}

size_t
idle_count(struct idle *w)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->count;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* Best-effort goodbye: DONE, LOGOUT, without waiting long. */
static void
sess_close(struct sess *s)
{
	struct err e = { 0 };

	if (s->conn != NULL && s->eng != NULL && !s->dead) {
		conn_set_timeout(s->conn, 1000);
		if (s->state == SESS_IDLING)
			(void)imap_cont_send(s->eng, "DONE", false);
		(void)imap_cmd_simple(s->eng, IMAP_CMD_LOGOUT);
		(void)sess_flush(s, &e);
		err_clear(&e);
	}
	sess_free(s);
}

/* Handle what arrived; -1: the session is over. */
static int
sess_input(struct idle *w, struct sess *s, bool *newmail, struct err *e)
{
	struct imap_event ev;
	const char *cause = NULL;
	int r;

	for (;;) {
		r = imap_event_next(s->eng, &ev, &cause);
		if (r == 0)
			break;
		if (r < 0)
			return err_set(e, ERR_PROTOCOL, "%s", cause != NULL ?
			    cause : "protocol error");
		switch (ev.kind) {
		case IMAP_EV_EXISTS:
			if (ev.num > s->exists)
				*newmail = true;
			s->exists = ev.num;
			break;
		case IMAP_EV_EXPUNGE:
			if (s->exists > 0)
				s->exists--;
			break;
		case IMAP_EV_STATUS:
			if (ev.status == IMAP_BYE)
				return err_set(e, ERR_TEMP, "server said BYE");
			break;
		case IMAP_EV_CONT:
			if (s->state == SESS_WAIT_CONT) {
				s->state = SESS_IDLING;
				s->idle_since = conn_now_ms();
			}
			break;
		case IMAP_EV_TAGGED:
			if (ev.tag != s->tag)
				break;
			if (s->state != SESS_DONE_SENT || ev.status != IMAP_OK)
				return err_set(e, ERR_PROTOCOL, "IDLE ended: "
				    "%.*s", (int)MP_MIN(ev.len, 200), ev.text);
			/* Refreshed: idle again (RFC 2177). */
			if (imap_cmd_simple(s->eng, IMAP_CMD_IDLE) == -1)
				return err_set(e, ERR_INTERNAL, "cannot queue "
				    "IDLE");
			s->tag = imap_tag_last(s->eng);
			s->state = SESS_WAIT_CONT;
			break;
		default:
			break;
		}
	}
	(void)w;
	return sess_flush(s, e);
}

static void
watcher_take(struct idle *w)
{
	size_t i, j;

	pthread_mutex_lock(&w->mu);
	for (i = 0; i < w->nforget; i++) {
		for (j = 0; j < w->ns; j++)
			if (strcmp(w->sv[j]->id, w->forget[i]) == 0) {
				sess_close(w->sv[j]);
				w->sv[j] = w->sv[--w->ns];
				break;
			}
		for (j = 0; j < w->nincoming; j++)
			if (strcmp(w->incoming[j]->id, w->forget[i]) == 0) {
				sess_close(w->incoming[j]);
				w->incoming[j] = w->incoming[--w->nincoming];
				break;
			}
		free(w->forget[i]);
	}
	w->nforget = 0;
	for (i = 0; i < w->nincoming; i++) {
		struct sess *s = w->incoming[i];

		/* Replace an older session of the same account. */
		for (j = 0; j < w->ns; j++)
			if (strcmp(w->sv[j]->id, s->id) == 0) {
				sess_close(w->sv[j]);
				w->sv[j] = w->sv[--w->ns];
				break;
			}
		w->sv = xreallocarray(w->sv, w->ns + 1, sizeof(*w->sv));
		w->sv[w->ns++] = s;
	}
	w->nincoming = 0;
	w->count = w->ns;
	pthread_mutex_unlock(&w->mu);
}

static void *
watcher_main(void *arg)
{
	struct idle *w = arg;
	struct pollfd *pfd = NULL;
	size_t cap = 0, i, n;
	struct err e = { 0 };
	char drain[64];

	for (;;) {
		int64_t now, timeout = 60000;
		bool stop;

		watcher_take(w);
		pthread_mutex_lock(&w->mu);
		stop = w->stop;
		pthread_mutex_unlock(&w->mu);
		if (stop)
			break;
		if (cap < w->ns + 1) {
			cap = w->ns + 1;
			pfd = xreallocarray(pfd, cap, sizeof(*pfd));
		}
		pfd[0].fd = w->wake[0];
		pfd[0].events = POLLIN;
		now = conn_now_ms();
		for (i = 0; i < w->ns; i++) {
			struct sess *s = w->sv[i];

			pfd[i + 1].fd = conn_fd(s->conn);
			pfd[i + 1].events = POLLIN;
			pfd[i + 1].revents = 0;
			/* TLS may hold decrypted bytes poll() cannot see. */
			if (conn_pending(s->conn) > 0)
				timeout = 0;
			if (s->state == SESS_IDLING)
				timeout = MP_MIN(timeout, MP_MAX(0,
				    s->idle_since + IDLE_REFRESH_S * 1000 -
				    now));
		}
		n = w->ns;
		if (poll(pfd, n + 1, (int)timeout) == -1 && errno != EINTR) {
			log_warn("idle: poll");
			sleep(1);
			continue;
		}
		if (pfd[0].revents & POLLIN)
			while (read(w->wake[0], drain, sizeof(drain)) > 0)
				;
		now = conn_now_ms();
		for (i = n; i-- > 0;) {
			struct sess *s = w->sv[i];
			bool newmail = false, bad = false;
			char *id;

			if ((pfd[i + 1].revents & (POLLIN | POLLHUP |
			    POLLERR)) || conn_pending(s->conn) > 0) {
				if (sess_read(s, &e) == -1 ||
				    sess_input(w, s, &newmail, &e) == -1)
					bad = true;
			}
			if (!bad && s->state == SESS_IDLING &&
			    now - s->idle_since >= IDLE_REFRESH_S * 1000) {
				s->state = SESS_DONE_SENT;
				if (imap_cont_send(s->eng, "DONE", false) ==
				    -1 || sess_flush(s, &e) == -1)
					bad = true;
			}
			id = xstrdup(s->id);
			if (bad) {
				log_info("%s: IDLE connection lost: %s", id,
				    err_msg(&e));
				err_clear(&e);
				s->dead = true;
				sess_free(s);
				w->sv[i] = w->sv[--w->ns];
				pthread_mutex_lock(&w->mu);
				w->count = w->ns;
				pthread_mutex_unlock(&w->mu);
			}
			if (newmail)
				w->cb(w->arg, id, IDLE_EV_NEWMAIL);
			if (bad)
				w->cb(w->arg, id, IDLE_EV_CLOSED);
			free(id);
		}
	}
	for (i = 0; i < w->ns; i++)
		sess_close(w->sv[i]);
	w->ns = 0;
	free(pfd);
	return NULL;
}

int
idle_start(struct idle **w_r, idle_event_fn cb, void *arg, struct err *e)
{
	struct idle *w = xcalloc(1, sizeof(*w));

	*w_r = NULL;
	w->cb = cb;
	w->arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	if (pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) == -1) {
		free(w);
		return err_set(e, ERR_INTERNAL, "pipe: %s", strerror(errno));
	}
	if (pthread_create(&w->thread, NULL, watcher_main, w) != 0) {
		close(w->wake[0]);
		close(w->wake[1]);
		free(w);
		return err_set(e, ERR_INTERNAL, "cannot start the IDLE "
		    "watcher");
	}
	*w_r = w;
	return 0;
}

void
idle_stop(struct idle **wp)
{
	struct idle *w = *wp;
	size_t i;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_mutex_unlock(&w->mu);
	idle_wakeup(w);
	pthread_join(w->thread, NULL);
	for (i = 0; i < w->nincoming; i++)
		sess_close(w->incoming[i]);
	free(w->incoming);
	for (i = 0; i < w->nforget; i++)
		free(w->forget[i]);
	free(w->forget);
	free(w->sv);
	close(w->wake[0]);
	close(w->wake[1]);
	pthread_mutex_destroy(&w->mu);
	free(w);
	*wp = NULL;
}
