/*
 * filter.c - the spam and virus checks between spool and delivery
 * (filter.h): the per-account decision, the headers we add, the provider's
 * Received: field, and the quarantine.
 */
#include "common.h"

#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "filter/filter.h"
#include "filter/filter_impl.h"
#include "store/settings.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define HEAD_PEEK	(64 * 1024)	/* header bytes searched */
#define FIELD_MAX	4096		/* one unfolded Received: field */

struct filter {
	struct store *st;
	char *account;
	struct acct_filter o;
	struct filter_addr rspamd, clamd;
	int timeout_ms;
	struct filter_stats stats;
};

/* ---- scanner addresses ---- */

int
filter_addr_parse(const char *s, struct filter_addr *a, struct err *e)
{
	const char *errstr, *colon, *h;
	char tmp[300];
	size_t n;
	int m;

	memset(a, 0, sizeof(*a));
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] != '/' || strlen(s + 5) >= sizeof(a->path))
			return err_set(e, ERR_CONFIG, "scanner address %s: "
			    "expected unix:/ABSOLUTE/PATH (under %zu bytes)",
			    s, sizeof(a->path));
		a->unix_socket = true;
		(void)snprintf(a->path, sizeof(a->path), "%s", s + 5);
		return 0;
	}
	if (strncasecmp(s, "https://", 8) == 0)
		return err_set(e, ERR_CONFIG, "scanner address %s: TLS to "
		    "the scanner is not supported; use a local address", s);
	if (strncasecmp(s, "http://", 7) == 0)
		s += 7;
	m = snprintf(tmp, sizeof(tmp), "%s", s);
	if (m < 0 || (size_t)m >= sizeof(tmp))
		return err_set(e, ERR_CONFIG, "scanner address too long");
	n = strlen(tmp);
	if (n > 0 && tmp[n - 1] == '/')
		tmp[--n] = '\0';
	if (tmp[0] == '[') {
		const char *rb = strchr(tmp, ']');

		if (rb == NULL || rb[1] != ':')
			goto bad;
		h = tmp + 1;
		n = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(tmp, ':');
		if (colon == NULL || memchr(tmp, ':', (size_t)(colon - tmp)))
			goto bad;
		h = tmp;
		n = (size_t)(colon - tmp);
	}
	if (n == 0 || n >= sizeof(a->host))
		goto bad;
	memcpy(a->host, h, n);
	a->host[n] = '\0';
	for (h = a->host; *h != '\0'; h++)
		if ((unsigned char)*h <= 0x20 || (unsigned char)*h >= 0x7f ||
		    *h == '/' || *h == '@')
			goto bad;
	a->port = (int)strnum(colon + 1, 1, 65535, &errstr);
	if (errstr != NULL)
		goto bad;
	return 0;
bad:
	memset(a, 0, sizeof(*a));
	return err_set(e, ERR_CONFIG, "scanner address %s: expected HOST:PORT, "
	    "[IPV6]:PORT, http://HOST:PORT or unix:PATH", s);
}

int
filter_connect(const struct filter_addr *a, int timeout_ms, struct conn **c_r,
    struct err *e)
{
	int r;

	if (a->unix_socket)
		r = conn_connect_unix(c_r, a->path, timeout_ms, e);
	else
		r = conn_connect(c_r, a->host, a->port, timeout_ms, e);
	if (r == -1)
		return -1;
	/* One time limit for the whole exchange, however it trickles. */
	conn_set_deadline(*c_r, conn_now_ms() + timeout_ms);
	return 0;
}

/* ---- header parsing ---- */

/*
 * The next header field of head from *pos: its name and unfolded value
 * (bounded; a longer value is cut). 0 at the end of the header.
 */
static int
next_field(const char *head, size_t len, size_t *pos, char *name,
    size_t ncap, char *val, size_t vcap)
{
	size_t i = *pos, n = 0, o = 0;

	if (i >= len || head[i] == '\n' || (head[i] == '\r' && i + 1 < len &&
	    head[i + 1] == '\n'))
		return 0;
	/* a line that starts with white space here is a stray fold */
	while (i < len && head[i] != ':' && head[i] != '\n') {
		if (n + 1 < ncap)
			name[n++] = head[i];
		i++;
	}
	name[n] = '\0';
	if (i < len && head[i] == ':')
		i++;
	for (; i < len; i++) {
		char c = head[i];

		if (c == '\r')
			continue;
		if (c == '\n') {
			if (i + 1 < len && (head[i + 1] == ' ' ||
			    head[i + 1] == '\t')) {
				if (o + 1 < vcap)
					val[o++] = ' ';
				continue;
			}
			i++;
			break;
		}
		if ((unsigned char)c < 0x20 || c == 0x7f)
			c = ' ';
		if (o + 1 < vcap)
			val[o++] = c;
	}
	val[o] = '\0';
	*pos = i;
	return 1;
}

static bool
ip_parse(const char *s, char *out, size_t cap)
{
	unsigned char bin[16];
	char tmp[64];
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		s += 5;
		n -= 5;
	}
	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, bin) != 1 &&
	    inet_pton(AF_INET6, tmp, bin) != 1)
		return false;
	(void)snprintf(out, cap, "%s", tmp);
	return true;
}

static bool
hostname_ok(const char *s)
{
	if (s[0] == '\0' || s[0] == '.' || s[0] == '-' || strlen(s) > 253)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' ||
		    *s == '_'))
			return false;
	return true;
}

static bool
host_matches(const char *by, const char *want)
{
	size_t bl = strlen(by), wl = strlen(want);

	while (bl > 0 && by[bl - 1] == '.')
		bl--;
	if (wl == 0)
		return false;
	if (want[0] == '.')
		return bl > wl && strncasecmp(by + bl - wl, want, wl) == 0;
	return bl == wl && strncasecmp(by, want, wl) == 0;
}

/* Tokens of a Received: value: words at depth 0, and words inside
 * comments (depth > 0) flagged as such. No recursion: a depth counter. */
struct rtok {
	char s[256];
	int depth;
};

static size_t
tokenize(const char *v, struct rtok *t, size_t max)
{
	size_t n = 0, o = 0;
	int depth = 0;
	bool esc = false;

	for (;; v++) {
		char c = *v;
		bool sep = c == '\0' || c == ' ' || c == '\t' || c == '(' ||
		    c == ')' || c == ';' || (c == ',' && depth > 0);

		if (esc && c != '\0') {
			/* a quoted-pair; a '\\' at the very end quotes
			 * nothing (the value's NUL still ends it) */
			esc = false;
			sep = false;
		} else if (c == '\\' && depth > 0) {
			esc = true;
			continue;
		}
		if (!sep) {
			if (n < max && o + 1 < sizeof(t[n].s))
				t[n].s[o++] = c;
			continue;
		}
		if (o > 0 && n < max) {
			t[n].s[o] = '\0';
			t[n].depth = depth;
			n++;
		}
		o = 0;
		if (c == '\0')
			break;
		if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (c == ';' && depth == 0) {
			/* the date follows: a keyword stop for the parser */
			if (n < max) {
				(void)snprintf(t[n].s, sizeof(t[n].s), ";");
				t[n].depth = 0;
				n++;
			}
		}
	}
	return n;
}

static bool
clause_word(const char *s)
{
	static const char *const kw[] = { "from", "by", "via", "with", "id",
	    "for", ";" };
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(kw); i++)
		if (strcasecmp(s, kw[i]) == 0)
			return true;
	return false;
}

#define RTOK_MAX 64

int
filter_received_parse(const char *head, size_t len,
    const char *provider_host, struct filter_relay *r)
{
	char name[64], *val;
	struct rtok *t;
	size_t pos = 0, n, i, j;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (provider_host == NULL || provider_host[0] == '\0')
		return -1;
	val = xmalloc(FIELD_MAX);
	t = xcalloc(RTOK_MAX, sizeof(*t));
	while (next_field(head, len, &pos, name, sizeof(name), val,
	    FIELD_MAX)) {
		const char *by = NULL;
		size_t from = SIZE_MAX;

		if (strcasecmp(name, "Received") != 0)
			continue;
		n = tokenize(val, t, RTOK_MAX);
		for (i = 0; i < n; i++) {
			if (t[i].depth != 0)
				continue;
			if (strcasecmp(t[i].s, "by") == 0 && i + 1 < n &&
			    t[i + 1].depth == 0 && by == NULL)
				by = t[i + 1].s;
			if (strcasecmp(t[i].s, "from") == 0 && from == SIZE_MAX)
				from = i;
		}
		if (by == NULL || !host_matches(by, provider_host))
			continue;
		/* The provider's own field: trusted, and the only one. */
		r->found = true;
		rc = 0;
		if (from == SIZE_MAX)
			break;
		for (i = from + 1; i < n; i++) {
			const char *s = t[i].s;

			if (t[i].depth == 0 && clause_word(s))
				break;
			if (t[i].depth == 0) {
				if (r->helo[0] == '\0' && i == from + 1) {
					if (s[0] == '[')
						(void)ip_parse(s, r->ip,
						    sizeof(r->ip));
					(void)snprintf(r->helo,
					    sizeof(r->helo), "%s", s);
				}
				continue;
			}
			/* inside a comment */
			if (strncasecmp(s, "helo=", 5) == 0) {
				(void)snprintf(r->helo, sizeof(r->helo), "%s",
				    s + 5);
				continue;
			}
			if ((strcasecmp(s, "HELO") == 0 ||
			    strcasecmp(s, "EHLO") == 0) && i + 1 < n &&
			    t[i + 1].depth > 0) {
				(void)snprintf(r->helo, sizeof(r->helo), "%s",
				    t[++i].s);
				continue;
			}
			if (ip_parse(s, r->ip, sizeof(r->ip)))
				continue;
			if (r->rdns[0] == '\0' && strchr(s, '.') != NULL &&
			    hostname_ok(s) && strcasecmp(s, "unknown") != 0) {
				(void)snprintf(r->rdns, sizeof(r->rdns), "%s",
				    s);
				j = strlen(r->rdns);
				if (j > 0 && r->rdns[j - 1] == '.')
					r->rdns[j - 1] = '\0';
			}
		}
		/* a bracketed IP after the helo ("from [1.2.3.4]" with no
		 * comment) was taken above; nothing else is guessed */
		break;
	}
	free(t);
	free(val);
	if (rc == -1)
		memset(r, 0, sizeof(*r));
	return rc;
}

int
filter_return_path(const char *head, size_t len, char *out, size_t cap)
{
	char name[64], val[1024], *p, *q;
	size_t pos = 0, n;

	while (next_field(head, len, &pos, name, sizeof(name), val,
	    sizeof(val))) {
		if (strcasecmp(name, "Return-Path") != 0)
			continue;
		p = strchr(val, '<');
		if (p != NULL) {
			q = strchr(++p, '>');
			if (q == NULL)
				return -1;
			*q = '\0';
		} else {
			for (p = val; *p == ' '; p++)
				;
			for (q = p; *q != '\0' && *q != ' '; q++)
				;
			*q = '\0';
		}
		n = strlen(p);
		if (n >= cap || n > 254)
			return -1;
		for (q = p; *q != '\0'; q++)
			if ((unsigned char)*q <= 0x20 || *q == 0x7f)
				return -1;
		memcpy(out, p, n + 1);
		return 0;
	}
	return -1;
}

/* ---- open, check ---- */

static int
setting_or(struct store *st, const char *key, const char *def, char **v_r,
    struct err *e)
{
	if (store_setting_get(st, key, v_r, e) == -1)
		return -1;
	if (*v_r == NULL)
		*v_r = xstrdup(def);
	return 0;
}

int
filter_open(struct filter **f_r, struct store *st, const char *account,
    struct err *e)
{
	struct filter *f;
	char *v = NULL;
	const char *errstr;

	*f_r = NULL;
	f = xcalloc(1, sizeof(*f));
	f->st = st;
	f->account = xstrdup(account);
	if (store_filter_get(st, account, &f->o, e) == -1)
		goto fail;
	if (!f->o.spam_check && !f->o.virus_check) {
		filter_close(&f);
		return 0;
	}
	if (setting_or(st, "rspamd", FILTER_RSPAMD_DEFAULT, &v, e) == -1 ||
	    filter_addr_parse(v, &f->rspamd, e) == -1)
		goto fail;
	free(v);
	v = NULL;
	if (setting_or(st, "clamd", FILTER_CLAMD_DEFAULT, &v, e) == -1 ||
	    filter_addr_parse(v, &f->clamd, e) == -1)
		goto fail;
	free(v);
	v = NULL;
	f->timeout_ms = FILTER_TIMEOUT_DEFAULT * 1000;
	if (store_setting_get(st, "scan-timeout", &v, e) == -1)
		goto fail;
	if (v != NULL) {
		long long s = strnum(v, 1, 3600, &errstr);

		if (errstr == NULL)
			f->timeout_ms = (int)s * 1000;
	}
	free(v);
	*f_r = f;
	return 0;
fail:
	free(v);
	filter_close(&f);
	return -1;
}

void
filter_close(struct filter **fp)
{
	struct filter *f = *fp;

	if (f == NULL)
		return;
	acct_filter_clear(&f->o);
	free(f->account);
	free(f);
	*fp = NULL;
}

const struct filter_stats *
filter_stats(const struct filter *f)
{
	return &f->stats;
}

void
filter_verdict_clear(struct filter_verdict *v)
{
	free(v->reason);
	free(v->headers);
	memset(v, 0, sizeof(*v));
}

/* A one-line reason safe for a header value. */
static void
clean_line(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

int
filter_check(struct filter *f, struct spool *sp, char *const *rcpts,
    size_t nrcpts, struct filter_verdict *v, struct err *e)
{
	struct buf h;
	struct err se = { 0 };
	struct filter_relay rel;
	struct rspamd_reply rr;
	struct rspamd_req rq;
	char *head = NULL, virus[256], from[256];
	size_t hl;
	bool unscanned = false;
	int r, rc = -1;

	memset(v, 0, sizeof(*v));
	memset(&rr, 0, sizeof(rr));
	buf_init(&h, FILTER_HEADERS_MAX);
	if (f->o.virus_check) {
		r = clamd_scan(&f->clamd, f->timeout_ms, sp, virus,
		    sizeof(virus), &se);
		if (r == -1) {
			if (f->o.scanner_down == FILTER_DOWN_HOLD) {
				f->stats.unscanned++;
				err_set(e, ERR_TEMP, "virus scanner "
				    "unavailable, message held: %s",
				    err_msg(&se));
				goto out;
			}
			unscanned = true;
			clean_line(se.msg != NULL ? se.msg : virus);
			(void)buf_printf(&h, "X-Mailpull-Scan: not scanned for "
			    "viruses (%.200s)\n", err_msg(&se));
			err_clear(&se);
		} else if (r == 1) {
			f->stats.scanned++;
			f->stats.infected++;
			v->quarantine = true;
			v->kind = "virus";
			v->reason = xstrdup(virus);
			(void)buf_printf(&h, "X-Mailpull-Virus: %s\n", virus);
			rc = 0;
			goto out;
		} else
			(void)buf_adds(&h, "X-Virus-Scanned: clamd (mailpull): "
			    "clean\n");
	}
	if (f->o.spam_check) {
		head = xmalloc(HEAD_PEEK);
		hl = spool_head(sp, head, HEAD_PEEK);
		memset(&rq, 0, sizeof(rq));
		(void)filter_received_parse(head, hl, f->o.provider_host,
		    &rel);
		if (rel.found) {
			rq.ip = rel.ip[0] != '\0' ? rel.ip : NULL;
			rq.helo = rel.helo[0] != '\0' ? rel.helo : NULL;
			rq.hostname = rel.rdns[0] != '\0' ? rel.rdns : NULL;
		}
		if (filter_return_path(head, hl, from, sizeof(from)) == 0)
			rq.from = from;
		rq.rcpts = rcpts;
		rq.nrcpts = nrcpts;
		if (rspamd_scan(&f->rspamd, f->timeout_ms, sp, &rq, &rr,
		    &se) == -1) {
			if (f->o.scanner_down == FILTER_DOWN_HOLD) {
				f->stats.unscanned++;
				err_set(e, ERR_TEMP, "spam scanner "
				    "unavailable, message held: %s",
				    err_msg(&se));
				goto out;
			}
			unscanned = true;
			clean_line(se.msg != NULL ? se.msg : from);
			(void)buf_printf(&h, "X-Mailpull-Scan: not scanned for "
			    "spam (%.200s)\n", err_msg(&se));
			err_clear(&se);
		} else {
			bool reject = strcmp(rr.action, "reject") == 0;
			bool tagged = reject ||
			    strcmp(rr.action, "add header") == 0 ||
			    strcmp(rr.action, "rewrite subject") == 0;

			(void)buf_printf(&h, "X-Spam-Status: %s, score=%.2f "
			    "required=%.2f action=%s\n", tagged ? "Yes" : "No",
			    rr.score, rr.required, rr.action);
			if (rr.symbols != NULL && rr.symbols[0] != '\0')
				(void)buf_printf(&h, "\ttests=%s\n",
				    rr.symbols);
			(void)buf_printf(&h, "X-Spam-Score: %.2f\n", rr.score);
			if (tagged)
				(void)buf_adds(&h, "X-Spam: Yes\n");
			if (rr.add_headers != NULL)
				(void)buf_adds(&h, rr.add_headers);
			if (rel.found && rq.ip != NULL)
				(void)buf_printf(&h, "X-Mailpull-Scan: rspamd; "
				    "client %s helo %s from the Received: "
				    "field of %s\n", rel.ip, rel.helo[0] !=
				    '\0' ? rel.helo : "unknown",
				    f->o.provider_host);
			else if (rel.found)
				(void)buf_printf(&h, "X-Mailpull-Scan: rspamd; "
				    "the Received: field of %s names no "
				    "client IP; IP unknown\n",
				    f->o.provider_host);
			else
				(void)buf_printf(&h, "X-Mailpull-Scan: rspamd; "
				    "no trusted Received header%s%s; IP "
				    "unknown\n", f->o.provider_host != NULL ?
				    " by " : " (no --provider-host)",
				    f->o.provider_host != NULL ?
				    f->o.provider_host : "");
			if (reject) {
				f->stats.spam++;
				switch (f->o.spam_action) {
				case FILTER_SPAM_JUNK:
					v->folder = "Junk";
					break;
				case FILTER_SPAM_QUARANTINE:
					v->quarantine = true;
					v->kind = "spam";
					v->reason = xasprintf("rspamd: %s, "
					    "score %.2f/%.2f", rr.action,
					    rr.score, rr.required);
					break;
				case FILTER_SPAM_TAG:
					break;
				}
			}
		}
	}
	if (unscanned)
		f->stats.unscanned++;
	else
		f->stats.scanned++;
	rc = 0;
out:
	if (rc == 0 && h.len > 0)
		v->headers = buf_detach(&h);
	if (rc == -1)
		filter_verdict_clear(v);
	rspamd_reply_clear(&rr);
	buf_free(&h);
	free(head);
	err_clear(&se);
	return rc;
}

/* ---- quarantine ---- */

static int
mkdir_synced(const char *path, struct err *e)
{
	char *parent, *slash;
	int fd;

	if (mkdir(path, 0700) == -1) {
		if (errno == EEXIST)
			return 0;
		return err_set(e, ERR_LOCAL, "quarantine: mkdir %s: %s", path,
		    strerror(errno));
	}
	/* the new entry must survive a crash as well as the file in it */
	parent = xstrdup(path);
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent)
		*slash = '\0';
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fsync(fd) == -1) {
		err_set(e, ERR_LOCAL, "quarantine: fsync %s: %s", parent,
		    strerror(errno));
		if (fd != -1)
			(void)close(fd);
		free(parent);
		return -1;
	}
	(void)close(fd);
	free(parent);
	return 0;
}

/* The account id as one path component. */
static char *
dir_name(const char *acct)
{
	char *s = xstrdup(acct), *p;

	for (p = s; *p != '\0'; p++)
		if (*p == '/' || (unsigned char)*p < 0x20)
			*p = '_';
	if (s[0] == '.')
		s[0] = '_';
	return s;
}

static int
write_all(int fd, const char *p, size_t n, const char *path, struct err *e)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return err_set(e, ERR_LOCAL, "quarantine: write %s: %s",
			    path, w == 0 ? "wrote nothing" : strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy the spool to path (O_EXCL), fsync'd. */
static int
spool_to_file(struct spool *sp, const char *path, struct err *e)
{
	char *chunk;
	ssize_t n;
	int fd, r = -1;

	if (unlink(path) == -1 && errno != ENOENT)
		return err_set(e, ERR_LOCAL, "quarantine: unlink %s: %s", path,
		    strerror(errno));
	fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd == -1)
		return err_set(e, ERR_LOCAL, "quarantine: open %s: %s", path,
		    strerror(errno));
	chunk = xmalloc(FILTER_CHUNK);
	if (spool_rewind(sp, e) == -1)
		goto out;
	while ((n = spool_read(sp, chunk, FILTER_CHUNK, e)) > 0)
		if (write_all(fd, chunk, (size_t)n, path, e) == -1)
			goto out;
	if (n < 0)
		goto out;
	/* a failed fsync is a failed copy, never retried on this file */
	if (fsync(fd) == -1) {
		err_set(e, ERR_LOCAL, "quarantine: fsync %s: %s", path,
		    strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (close(fd) == -1 && r == 0)
		r = err_set(e, ERR_LOCAL, "quarantine: close %s: %s", path,
		    strerror(errno));
	if (r == -1)
		(void)unlink(path);
	free(chunk);
	return r;
}

/* A header field's value (unfolded, printable, bounded) or NULL. */
static char *
head_value(struct spool *sp, const char *want)
{
	char *head, name[64], val[512];
	size_t hl, pos = 0;
	char *r = NULL;

	head = xmalloc(HEAD_PEEK);
	hl = spool_head(sp, head, HEAD_PEEK);
	while (next_field(head, hl, &pos, name, sizeof(name), val,
	    sizeof(val)))
		if (strcasecmp(name, want) == 0) {
			char *p = val;

			while (*p == ' ')
				p++;
			for (char *q = p; *q != '\0'; q++)
				if ((unsigned char)*q >= 0x7f)
					*q = '?';
			r = xstrdup(p);
			break;
		}
	free(head);
	return r;
}

static void
notice_send(struct filter *f, const struct quarantine_rec *q, int64_t id,
    const struct delivery *d, struct target *t, const char *postmaster)
{
	struct spool *nsp;
	struct buf b;
	struct delivery nd = *d;
	struct target_rcpt tr;
	struct err e = { 0 };
	unsigned char dg[SPOOL_DIGEST_LEN];
	char date[64], *tmpdir;
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	localtime_r(&now, &tm);
	(void)strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	buf_init(&b, 64 * 1024);
	(void)buf_printf(&b, "From: mailpull <%s>\nTo: <%s>\n"
	    "Subject: [mailpull] %s quarantined: %.200s\nDate: %s\n"
	    "Auto-Submitted: auto-generated\nMIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=utf-8\n\n"
	    "A message fetched by account %s was not delivered: %s (%s).\n"
	    "It is kept in the quarantine.\n\n"
	    "  quarantine id: %lld\n  remote id:     %s\n  from:          "
	    "%.300s\n  subject:       %.300s\n  recipients:    ",
	    postmaster, postmaster, q->kind, q->reason, date, f->account,
	    q->kind, q->reason, (long long)id, q->remote_id,
	    q->sender != NULL ? q->sender : "-",
	    q->subject != NULL ? q->subject : "-");
	for (i = 0; q->rcpts != NULL && q->rcpts[i] != '\0'; i++)
		(void)buf_add(&b, q->rcpts[i] == '\n' ? ", " : &q->rcpts[i],
		    q->rcpts[i] == '\n' ? 2 : 1);
	(void)buf_printf(&b, "\n\nTo deliver it anyway: mailpull quarantine "
	    "release %lld\nTo remove it: mailpull quarantine delete %lld\n",
	    (long long)id, (long long)id);
	tmpdir = xasprintf("%s/tmp", store_state_dir(f->st));
	nsp = spool_create(tmpdir, 256 * 1024, 256 * 1024);
	memset(&tr, 0, sizeof(tr));
	tr.addr = postmaster;
	/* its own Maildir name: the message's key, changed */
	for (i = 0; i < DELIVERY_KEY_LEN; i++)
		nd.key[i] ^= 0x5a;
	nd.extra_headers = NULL;
	nd.folder = NULL;
	if (spool_write(nsp, b.data, b.len, &e) == -1)
		goto out;
	spool_finish(nsp, dg);
	if (target_deliver_many(t, nsp, &tr, 1, &nd, &e) == -1)
		goto out;
	if (tr.result != ERR_NONE)
		err_set(&e, tr.result, "%s", tr.reason != NULL ? tr.reason :
		    "refused");
out:
	if (e.cls != ERR_NONE)
		log_warnx("%s: quarantine notice to %s not delivered: %s",
		    f->account, postmaster, err_msg(&e));
	target_rcpts_clear(&tr, 1);
	spool_free(&nsp);
	free(tmpdir);
	buf_free(&b);
	err_clear(&e);
}

int
filter_quarantine(struct filter *f, struct spool *sp,
    const struct filter_verdict *v, char *const *rcpts, size_t nrcpts,
    const struct delivery *d, struct target *t, const char *postmaster,
    struct err *e)
{
	static const char hexdig[] = "0123456789abcdef";
	struct quarantine_rec q;
	struct stat sb;
	struct buf rb;
	char hex[DELIVERY_KEY_LEN * 2 + 1], *acct, *top = NULL, *dir = NULL;
	char *tmpd = NULL, *newd = NULL, *tmp = NULL, *dst = NULL;
	int64_t id = 0;
	size_t i;
	int fd, rc = -1;

	memset(&q, 0, sizeof(q));
	buf_init(&rb, 64 * 1024);
	for (i = 0; i < DELIVERY_KEY_LEN; i++) {
		hex[i * 2] = hexdig[d->key[i] >> 4];
		hex[i * 2 + 1] = hexdig[d->key[i] & 0xf];
	}
	hex[sizeof(hex) - 1] = '\0';
	acct = dir_name(f->account);
	top = xasprintf("%s/quarantine", store_state_dir(f->st));
	dir = xasprintf("%s/%s", top, acct);
	tmpd = xasprintf("%s/tmp", dir);
	newd = xasprintf("%s/new", dir);
	tmp = xasprintf("%s/%s", tmpd, hex);
	dst = xasprintf("%s/%s", newd, hex);
	if (mkdir_synced(top, e) == -1 || mkdir_synced(dir, e) == -1 ||
	    mkdir_synced(tmpd, e) == -1 || mkdir_synced(newd, e) == -1)
		goto out;
	{
		char *cur = xasprintf("%s/cur", dir);
		int r = mkdir_synced(cur, e);

		free(cur);
		if (r == -1)
			goto out;
	}
	/* Maildir delivery: tmp, fsync, link into new, fsync new. A file
	 * already in new/ is this message from a pass that crashed. */
	if (lstat(dst, &sb) == -1) {
		if (spool_to_file(sp, tmp, e) == -1)
			goto out;
		if (link(tmp, dst) == -1 && errno != EEXIST) {
			err_set(e, ERR_LOCAL, "quarantine: link %s: %s", dst,
			    strerror(errno));
			(void)unlink(tmp);
			goto out;
		}
		(void)unlink(tmp);
	}
	fd = open(newd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fsync(fd) == -1) {
		err_set(e, ERR_LOCAL, "quarantine: fsync %s: %s", newd,
		    strerror(errno));
		if (fd != -1)
			(void)close(fd);
		goto out;
	}
	(void)close(fd);
	for (i = 0; i < nrcpts; i++)
		(void)buf_printf(&rb, "%s%s", i > 0 ? "\n" : "", rcpts[i]);
	q.account = f->account;
	q.kind = (char *)(uintptr_t)v->kind;
	q.reason = v->reason;
	q.file = dst;
	q.rcpts = rb.len > 0 ? rb.data : NULL;
	q.subject = head_value(sp, "Subject");
	q.sender = head_value(sp, "From");
	q.remote_id = (char *)(uintptr_t)d->remote_id;
	q.at = time(NULL);
	if (store_quarantine_add(f->st, &q, &id, e) == -1)
		goto out;
	f->stats.quarantined++;
	log_info("%s: message %s quarantined (%s: %s) as %lld", f->account,
	    d->remote_id, v->kind, v->reason != NULL ? v->reason : "?",
	    (long long)id);
	if (postmaster != NULL && strcmp(v->kind, "virus") == 0)
		notice_send(f, &q, id, d, t, postmaster);
	rc = 0;
out:
	free(q.subject);
	free(q.sender);
	buf_free(&rb);
	free(dst);
	free(tmp);
	free(newd);
	free(tmpd);
	free(dir);
	free(top);
	free(acct);
	return rc;
}
