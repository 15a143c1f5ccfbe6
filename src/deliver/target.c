#include "common.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "deliver/target.h"
#include "deliver/target_impl.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

/* Bounds on what we accept in a target URI and produce from a template. */
#define TARGET_HOST_MAX		253
#define TARGET_PATH_MAX		4096
/* Longest sanitized token in a Received: field. */
#define TARGET_TOKEN_MAX	200
/* Fold before a line would reach 78 columns (RFC 5322 section 2.1.1). */
#define TARGET_FOLD_COLS	77

static const char *const target_kind_names[] = {
	[TARGET_MAILDIR] = "maildir",
	[TARGET_LMTP] = "lmtp",
	[TARGET_SMTP] = "smtp",
	[TARGET_MDA] = "mda",
};

/* Implemented kinds; NULL ones are refused by target_open() for now. */
static const struct target_ops *const target_ops_table[] = {
	[TARGET_MAILDIR] = &target_maildir_ops,
	[TARGET_LMTP] = &target_lmtp_ops,
	[TARGET_SMTP] = &target_smtp_ops,
	[TARGET_MDA] = &target_mda_ops,
};

const char *
target_kind_name(enum target_kind k)
{
	if ((unsigned)k >= MP_ARRAY_LEN(target_kind_names))
		return "unknown";
	return target_kind_names[k];
}

void
target_uri_clear(struct target_uri *u)
{
	if (u == NULL)
		return;
	free(u->path);
	free(u->host);
	memset(u, 0, sizeof(*u));
}

static bool
target_has_ctl(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/*
 * The option list after '?' (see target.h). 1: parsed into u; 0: not an
 * option list (*bad_r names the first unknown option); -1: a known option
 * with a bad value or not allowed for the kind (err set).
 */
static int
target_opts_parse(const char *uri, const char *opts, struct target_uri *u,
    const char **bad_r, struct err *err)
{
	char *copy, *tok, *next;
	const char *errstr;
	long long v;
	int r = 1;

	*bad_r = NULL;
	copy = xstrdup(opts);
	for (tok = copy; tok != NULL && r == 1; tok = next) {
		if ((next = strchr(tok, '&')) != NULL)
			*next++ = '\0';
		if (strcmp(tok, "starttls") == 0) {
			if (u->kind != TARGET_SMTP)
				r = err_set(err, ERR_CONFIG, "target \"%s\": "
				    "starttls is for smtp: targets", uri);
			else
				u->starttls = true;
		} else if (strncmp(tok, "timeout=", 8) == 0) {
			v = strnum(tok + 8, 1, 86400, &errstr);
			if (errstr != NULL)
				r = err_set(err, ERR_CONFIG, "target \"%s\": "
				    "timeout is %s (want 1..86400 seconds)", uri,
				    errstr);
			else
				u->timeout_s = (int)v;
		} else {
			*bad_r = opts;
			r = 0;
		}
	}
	free(copy);
	if (r != 1) {
		u->starttls = false;
		u->timeout_s = 0;
	}
	return r;
}

/* Parse "HOST:PORT" or "[v6addr]:PORT" into u->host and u->port. */
static int
target_hostport_parse(const char *uri, const char *s, struct target_uri *u,
    struct err *err)
{
	const char *colon, *hs, *he, *errstr;
	long long port;
	size_t i;

	if (*s == '[') {
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL)
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": missing ']' after IPv6 address",
			    uri);
		if (he == hs)
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": empty IPv6 address", uri);
		if (memchr(hs, ':', (size_t)(he - hs)) == NULL)
			return err_set(err, ERR_CONFIG, "target \"%s\": "
			    "brackets are only for IPv6 addresses", uri);
		if (he[1] != ':')
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": missing :PORT", uri);
		colon = he + 1;
	} else {
		hs = s;
		if ((colon = strchr(s, ':')) == NULL)
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": missing :PORT", uri);
		he = colon;
		if (he == hs)
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": empty host", uri);
		if (strchr(colon + 1, ':') != NULL)
			return err_set(err, ERR_CONFIG, "target \"%s\": "
			    "IPv6 addresses need brackets: [addr]:PORT", uri);
	}
	if ((size_t)(he - hs) > TARGET_HOST_MAX)
		return err_set(err, ERR_CONFIG, "target \"%s\": host too long",
		    uri);
	for (i = 0; i < (size_t)(he - hs); i++) {
		unsigned char c = (unsigned char)hs[i];

		if (c <= 0x20 || c >= 0x7f || c == '/' || c == '[' ||
		    c == ']' || c == '@')
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": invalid character in host", uri);
	}
	port = strnum(colon + 1, 1, 65535, &errstr);
	if (errstr != NULL)
		return err_set(err, ERR_CONFIG, "target \"%s\": port is %s "
		    "(want 1..65535)", uri, errstr);
	u->host = xstrndup(hs, (size_t)(he - hs));
	u->port = (int)port;
	return 0;
}

static int target_uri_parse_rest(const char *, const char *,
    struct target_uri *, struct err *);

int
target_uri_parse(const char *uri, struct target_uri *u, struct err *err)
{
	static const struct {
		const char *scheme;
		enum target_kind kind;
	} schemes[] = {
		{ "maildir", TARGET_MAILDIR },
		{ "lmtp", TARGET_LMTP },
		{ "smtp", TARGET_SMTP },
		{ "mda", TARGET_MDA },
	};
	const char *colon, *rest, *q, *bad;
	char *main_part = NULL;
	int r;
	size_t i, slen;

	memset(u, 0, sizeof(*u));
	if (uri == NULL || *uri == '\0')
		return err_set(err, ERR_CONFIG, "empty target");
	if (target_has_ctl(uri))
		return err_set(err, ERR_CONFIG,
		    "target contains a control character");
	if ((colon = strchr(uri, ':')) == NULL)
		return err_set(err, ERR_CONFIG, "target \"%s\": missing scheme "
		    "(maildir:, lmtp:, smtp: or mda:)", uri);
	slen = (size_t)(colon - uri);
	rest = colon + 1;
	for (i = 0; i < MP_ARRAY_LEN(schemes); i++)
		if (strlen(schemes[i].scheme) == slen &&
		    strncasecmp(uri, schemes[i].scheme, slen) == 0)
			break;
	if (i == MP_ARRAY_LEN(schemes))
		return err_set(err, ERR_CONFIG, "target \"%s\": unknown scheme "
		    "\"%.*s\" (want maildir:, lmtp:, smtp: or mda:)", uri,
		    (int)MP_MIN(slen, 32), uri);
	u->kind = schemes[i].kind;

	/* "?options": for HOST:PORT any '?' starts them; a unix path or a
	 * command keeps a '?' that does not start a valid option list. */
	if (u->kind != TARGET_MAILDIR) {
		if (u->kind != TARGET_MDA && strncmp(rest, "unix:", 5) != 0)
			q = strchr(rest, '?');
		else
			q = strrchr(rest, '?');
		if (q != NULL) {
			r = target_opts_parse(uri, q + 1, u, &bad, err);
			if (r == -1)
				return -1;
			if (r == 1)
				main_part = xstrndup(rest, (size_t)(q - rest));
			else if (u->kind != TARGET_MDA &&
			    strncmp(rest, "unix:", 5) != 0)
				return err_set(err, ERR_CONFIG, "target \"%s\": "
				    "unknown option \"%s\" (want starttls or "
				    "timeout=SECONDS)", uri, bad);
		}
	}
	if (main_part != NULL)
		rest = main_part;
	r = target_uri_parse_rest(uri, rest, u, err);
	free(main_part);
	if (r == -1) {
		target_uri_clear(u);
		return -1;
	}
	return 0;
}

static int
target_uri_parse_rest(const char *uri, const char *rest, struct target_uri *u,
    struct err *err)
{
	char *probe = NULL, **argv = NULL;
	struct err perr = { 0 };
	bool shell;

	switch (u->kind) {
	case TARGET_MAILDIR:
		if (*rest == '\0')
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": empty maildir path", uri);
		if (strlen(rest) > TARGET_PATH_MAX)
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": path too long", uri);
		/* Catch a bad placeholder now, not at the first message. */
		if (target_expand(rest, "u@d", &probe, &perr) == -1) {
			err_set(err, ERR_CONFIG, "target \"%s\": %s", uri,
			    err_msg(&perr));
			err_clear(&perr);
			return -1;
		}
		free(probe);
		u->path = xstrdup(rest);
		break;
	case TARGET_LMTP:
	case TARGET_SMTP:
		if (*rest == '\0')
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": missing HOST:PORT", uri);
		if (strncmp(rest, "unix:", 5) == 0) {
			if (u->kind != TARGET_LMTP)
				return err_set(err, ERR_CONFIG, "target \"%s\": "
				    "unix sockets are for lmtp only", uri);
			rest += 5;
			if (*rest == '\0')
				return err_set(err, ERR_CONFIG,
				    "target \"%s\": empty socket path", uri);
			if (*rest != '/')
				return err_set(err, ERR_CONFIG, "target \"%s\": "
				    "socket path must be absolute", uri);
			/* sockaddr_un.sun_path holds 108 bytes. */
			if (strlen(rest) > 107)
				return err_set(err, ERR_CONFIG,
				    "target \"%s\": socket path too long", uri);
			u->path = xstrdup(rest);
			u->unix_socket = true;
			break;
		}
		if (target_hostport_parse(uri, rest, u, err) == -1)
			return -1;
		break;
	case TARGET_MDA:
		if (*rest == '\0')
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": empty MDA command", uri);
		if (strlen(rest) > TARGET_PATH_MAX)
			return err_set(err, ERR_CONFIG,
			    "target \"%s\": command too long", uri);
		if (target_argv_split(rest, &argv, &shell, &perr) == -1) {
			err_set(err, ERR_CONFIG, "target \"%s\": %s", uri,
			    err_msg(&perr));
			err_clear(&perr);
			return -1;
		}
		target_argv_free(&argv);
		u->path = xstrdup(rest);
		break;
	}
	return 0;
}

/*
 * Split rcpt at its last '@' and check both parts can go into a path:
 * non-empty, no '/', not "." or "..", no control characters.
 */
static int
target_rcpt_split(const char *rcpt, char **local_r, char **domain_r,
    struct err *err)
{
	const char *at;
	char *local, *domain;
	size_t i;

	if (rcpt == NULL || *rcpt == '\0')
		return err_set(err, ERR_PERM, "empty recipient");
	if (target_has_ctl(rcpt))
		return err_set(err, ERR_PERM,
		    "recipient contains a control character");
	if ((at = strrchr(rcpt, '@')) == NULL)
		return err_set(err, ERR_PERM,
		    "recipient \"%s\" has no @domain", rcpt);
	if (at == rcpt || at[1] == '\0')
		return err_set(err, ERR_PERM, "recipient \"%s\" has an empty "
		    "local part or domain", rcpt);
	if (strchr(rcpt, '/') != NULL)
		return err_set(err, ERR_PERM,
		    "recipient \"%s\" contains '/'", rcpt);
	local = xstrndup(rcpt, (size_t)(at - rcpt));
	domain = xstrdup(at + 1);
	if (strcmp(local, ".") == 0 || strcmp(local, "..") == 0 ||
	    strcmp(domain, ".") == 0 || strcmp(domain, "..") == 0) {
		free(local);
		free(domain);
		return err_set(err, ERR_PERM,
		    "recipient \"%s\" has \".\" or \"..\" as a part", rcpt);
	}
	for (i = 0; domain[i] != '\0'; i++)
		if (domain[i] >= 'A' && domain[i] <= 'Z')
			domain[i] = (char)(domain[i] - 'A' + 'a');
	*local_r = local;
	*domain_r = domain;
	return 0;
}

int
target_expand(const char *tmpl, const char *rcpt, char **out_r,
    struct err *err)
{
	struct buf b;
	char *local = NULL, *domain = NULL;
	const char *p;
	int r = 0;

	*out_r = NULL;
	if (target_rcpt_split(rcpt, &local, &domain, err) == -1)
		return -1;
	buf_init(&b, TARGET_PATH_MAX);
	for (p = tmpl; *p != '\0' && r == 0; p++) {
		if (*p != '%') {
			r = buf_add(&b, p, 1);
			continue;
		}
		switch (p[1]) {
		case 'u':
			r = buf_adds(&b, local);
			break;
		case 'd':
			r = buf_adds(&b, domain);
			break;
		case 'a':
			if ((r = buf_adds(&b, local)) == 0 &&
			    (r = buf_add(&b, "@", 1)) == 0)
				r = buf_adds(&b, domain);
			break;
		case '%':
			r = buf_add(&b, "%", 1);
			break;
		case '\0':
			err_set(err, ERR_CONFIG,
			    "template \"%s\" ends with a lone '%%'", tmpl);
			goto fail;
		default:
			err_set(err, ERR_CONFIG, "template \"%s\": unknown "
			    "placeholder '%%%c' (want %%u, %%d, %%a or %%%%)",
			    tmpl, p[1]);
			goto fail;
		}
		p++;
	}
	if (r == -1) {
		err_set(err, ERR_PERM, "template \"%s\" for \"%s\": expanded "
		    "path too long", tmpl, rcpt);
		goto fail;
	}
	free(local);
	free(domain);
	*out_r = buf_detach(&b);
	return 0;
fail:
	free(local);
	free(domain);
	buf_free(&b);
	return -1;
}

/*
 * Copy s for a Received: field token: control characters dropped, bytes
 * that would end a comment, an angle address or the date part early
 * replaced, 8-bit bytes replaced (the field stays ASCII), length bounded.
 */
static void
target_token_clean(char *dst, size_t dstsz, const char *s)
{
	const unsigned char *p;
	size_t n = 0;

	if (s == NULL)
		s = "unknown";
	for (p = (const unsigned char *)s; *p != '\0' && n + 1 < dstsz;
	    p++) {
		if (*p < 0x20 || *p == 0x7f)
			continue;
		if (*p == ' ' || *p == '(' || *p == ')' || *p == '\\' ||
		    *p == '<' || *p == '>' || *p == ';' || *p == '"' ||
		    *p >= 0x80)
			dst[n++] = '_';
		else
			dst[n++] = (char)*p;
	}
	if (n == 0 && dstsz > 7) {
		memcpy(dst, "unknown", 7);
		n = 7;
	}
	dst[n] = '\0';
}

/*
 * The Received: field is formatted for every message, so it is built with
 * memcpy into a bounded stack buffer, not with the snprintf family (that
 * was 10 % of a small-message pass). Its first line ("Received: from S by
 * H with P (mailpull V)") and the cleaned account token depend only on
 * the pass, so they are kept per thread (the daemon runs passes in
 * threads) and reused while the raw inputs are the same; per message only
 * the recipient, the id and the date are cleaned and placed.
 */

/* Longest Received: field: six tokens of TARGET_TOKEN_MAX, the date, the
 * fixed words and a fold before each of about 16 words. */
#define TARGET_RECV_MAX		(6 * (TARGET_TOKEN_MAX + 4) + 256)
/* Longest raw input that is cached; longer ones are cleaned each time. */
#define TARGET_RECV_KEY_MAX	256

struct target_fold {
	char *p;
	size_t len;
	size_t cap;
	size_t col;
	int r;
};

/* Append a token of n bytes, folding with LF TAB before it when the line
 * would reach 78 columns (a tab counted as 8) or when brk asks for it. */
static void
target_fold_addn(struct target_fold *f, const char *w, size_t n, bool brk)
{
	bool fold;

	if (f->r == -1)
		return;
	fold = f->col > 0 && (brk || f->col + 1 + n > TARGET_FOLD_COLS);
	if (f->len + 2 + n > f->cap) {
		f->r = -1;
		return;
	}
	if (fold) {
		f->p[f->len++] = '\n';
		f->p[f->len++] = '\t';
		f->col = 8;
	} else if (f->col > 0) {
		f->p[f->len++] = ' ';
		f->col++;
	}
	memcpy(f->p + f->len, w, n);
	f->len += n;
	f->col += n;
}

#define target_fold_lit(f, lit, brk) \
	target_fold_addn((f), (lit), sizeof(lit) - 1, (brk))

/* Clean s into dst (see target_token_clean) between pre and post (each
 * "" or one character); returns the length. dst holds
 * TARGET_TOKEN_MAX + 3 bytes. */
static size_t
target_token_wrap(char *dst, char pre, const char *s, char post)
{
	size_t n = 0;

	if (pre != '\0')
		dst[n++] = pre;
	target_token_clean(dst + n, TARGET_TOKEN_MAX + 1, s);
	n += strlen(dst + n);
	if (post != '\0')
		dst[n++] = post;
	dst[n] = '\0';
	return n;
}

struct target_recv_cache {
	bool valid;
	/* the raw inputs (NULL as "unknown", which cleans the same) */
	char server[TARGET_RECV_KEY_MAX];
	char host[TARGET_RECV_KEY_MAX];
	char proto[TARGET_RECV_KEY_MAX];
	char account[TARGET_RECV_KEY_MAX];
	/* "Received: from ... (mailpull V)" as folded, and its last column */
	char prefix[3 * (TARGET_TOKEN_MAX + 4) + 256];
	size_t prefix_len;
	size_t prefix_col;
	/* the cleaned account followed by ',' */
	char acct[TARGET_TOKEN_MAX + 3];
	size_t acct_len;
};

static __thread struct target_recv_cache target_recv_tls;

static bool
target_recv_key_ok(const char *s)
{
	return strlen(s) < TARGET_RECV_KEY_MAX;
}

static int
target_recv_prefix(struct target_recv_cache *rc, const char *server,
    const char *host, const char *proto, const char *account)
{
	struct target_fold f = { rc->prefix, 0, sizeof(rc->prefix), 0, 0 };
	char tok[TARGET_TOKEN_MAX + 3];
	size_t n;

	rc->valid = false;
	target_fold_lit(&f, "Received:", false);
	target_fold_lit(&f, "from", false);
	n = target_token_wrap(tok, '\0', server, '\0');
	target_fold_addn(&f, tok, n, false);
	target_fold_lit(&f, "by", false);
	n = target_token_wrap(tok, '\0', host, '\0');
	target_fold_addn(&f, tok, n, false);
	target_fold_lit(&f, "with", false);
	n = target_token_wrap(tok, '\0', proto, '\0');
	target_fold_addn(&f, tok, n, false);
	target_fold_lit(&f, "(" MAILPULL_NAME, false);
	target_fold_lit(&f, MAILPULL_VERSION ")", false);
	if (f.r == -1)
		return -1;
	rc->prefix_len = f.len;
	rc->prefix_col = f.col;
	rc->acct_len = target_token_wrap(rc->acct, '\0', account, ',');
	return 0;
}

static char *
target_put2(char *p, unsigned v)
{
	*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* "Tue, 01 Jul 2003 10:52:37 +0000": fixed width (two-digit day,
 * four-digit year), see target_impl.h. */
static size_t
target_date_format(char *date, size_t datesz, time_t now)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;
	unsigned y, h, m;
	long off;
	char *p = date;
	int n;

	if (localtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	off = tm.tm_gmtoff / 60;
	if (off < 0)
		off = -off;
	h = (unsigned)(off / 60 % 100);
	m = (unsigned)(off % 60);
	if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999 ||
	    tm.tm_mday < 0 || tm.tm_mday > 99 || datesz < 32) {
		/* Out of the fixed-width range: the general path. */
		n = snprintf(date, datesz,
		    "%.3s, %02d %.3s %04d %02d:%02d:%02d %c%02u%02u",
		    days + 3 * ((unsigned)tm.tm_wday % 7), tm.tm_mday,
		    months + 3 * ((unsigned)tm.tm_mon % 12),
		    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    tm.tm_gmtoff < 0 ? '-' : '+', h, m);
		return n < 0 || (size_t)n >= datesz ? 0 : (size_t)n;
	}
	memcpy(p, days + 3 * ((unsigned)tm.tm_wday % 7), 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	p = target_put2(p, (unsigned)tm.tm_mday);
	*p++ = ' ';
	memcpy(p, months + 3 * ((unsigned)tm.tm_mon % 12), 3);
	p += 3;
	*p++ = ' ';
	y = (unsigned)(tm.tm_year + 1900);
	p = target_put2(p, y / 100);
	p = target_put2(p, y % 100);
	*p++ = ' ';
	p = target_put2(p, (unsigned)tm.tm_hour);
	*p++ = ':';
	p = target_put2(p, (unsigned)tm.tm_min);
	*p++ = ':';
	p = target_put2(p, (unsigned)tm.tm_sec);
	*p++ = ' ';
	*p++ = tm.tm_gmtoff / 60 < 0 ? '-' : '+';
	p = target_put2(p, h);
	p = target_put2(p, m);
	*p = '\0';
	return (size_t)(p - date);
}

int
target_received_format(struct buf *b, const char *local_host,
    const char *rcpt, const struct delivery *d, time_t now)
{
	struct target_recv_cache local, *rc = &target_recv_tls;
	const char *server, *proto, *account;
	char out[TARGET_RECV_MAX];
	struct target_fold f = { out, 0, sizeof(out), 0, 0 };
	char tok[TARGET_TOKEN_MAX + 3];
	char date[64];
	size_t n, dn;

	server = d != NULL && d->server != NULL ? d->server : "unknown";
	proto = d != NULL && d->protocol != NULL ? d->protocol : "unknown";
	account = d != NULL && d->account != NULL ? d->account : "unknown";
	if (local_host == NULL)
		local_host = "unknown";
	if (!target_recv_key_ok(server) || !target_recv_key_ok(local_host) ||
	    !target_recv_key_ok(proto) || !target_recv_key_ok(account)) {
		/* Not cacheable: format into a local copy. */
		rc = &local;
		if (target_recv_prefix(rc, server, local_host, proto,
		    account) == -1)
			return -1;
	} else if (!rc->valid || strcmp(rc->server, server) != 0 ||
	    strcmp(rc->host, local_host) != 0 ||
	    strcmp(rc->proto, proto) != 0 ||
	    strcmp(rc->account, account) != 0) {
		if (target_recv_prefix(rc, server, local_host, proto,
		    account) == -1)
			return -1;
		memcpy(rc->server, server, strlen(server) + 1);
		memcpy(rc->host, local_host, strlen(local_host) + 1);
		memcpy(rc->proto, proto, strlen(proto) + 1);
		memcpy(rc->account, account, strlen(account) + 1);
		rc->valid = true;
	}
	if ((dn = target_date_format(date, sizeof(date), now)) == 0)
		return -1;

	memcpy(out, rc->prefix, rc->prefix_len);
	f.len = rc->prefix_len;
	f.col = rc->prefix_col;
	if (rcpt != NULL) {
		target_fold_lit(&f, "for", true);
		n = target_token_wrap(tok, '<', rcpt, '>');
		target_fold_addn(&f, tok, n, false);
		target_fold_lit(&f, "(account", false);
	} else
		target_fold_lit(&f, "(account", true);
	target_fold_addn(&f, rc->acct, rc->acct_len, false);
	target_fold_lit(&f, "id", false);
	n = target_token_wrap(tok, '\0', d != NULL ? d->remote_id : NULL,
	    ')');
	tok[n++] = ';';
	tok[n] = '\0';
	target_fold_addn(&f, tok, n, false);
	target_fold_addn(&f, date, dn, false);
	if (f.r == -1 || f.len + 1 > f.cap)
		return -1;
	out[f.len++] = '\n';
	return buf_add(b, out, f.len);
}

int
target_header_format(struct buf *b, const char *local_host,
    const char *rcpt, const struct delivery *d, time_t now, struct err *err)
{
	const char *x;
	size_t n;

	if (target_received_format(b, local_host, rcpt, d, now) == -1)
		return err_set(err, ERR_INTERNAL, "Received: header too long");
	if (d == NULL || (x = d->extra_headers) == NULL || *x == '\0')
		return 0;
	n = strlen(x);
	if (memchr(x, '\r', n) != NULL)
		return err_set(err, ERR_INTERNAL,
		    "extra header lines hold a CR");
	/* A header line must not be empty (it would end the header) nor
	 * start a continuation of our Received: field. */
	if (x[0] == '\n' || x[0] == ' ' || x[0] == '\t' ||
	    strstr(x, "\n\n") != NULL)
		return err_set(err, ERR_INTERNAL,
		    "extra header lines are malformed");
	if (buf_add(b, x, n) == -1 ||
	    (x[n - 1] != '\n' && buf_add(b, "\n", 1) == -1))
		return err_set(err, ERR_INTERNAL,
		    "extra header lines too long");
	return 0;
}

int
target_open(struct target **t_r, const struct target_uri *u,
    struct err *err)
{
	const struct target_ops *ops = NULL;
	struct target *t;
	char host[HOST_NAME_MAX + 1];

	*t_r = NULL;
	if ((unsigned)u->kind < MP_ARRAY_LEN(target_ops_table))
		ops = target_ops_table[u->kind];
	if (ops == NULL)
		return err_set(err, ERR_CONFIG, "%s targets are not supported "
		    "yet", target_kind_name(u->kind));

	t = xcalloc(1, sizeof(*t));
	t->ops = ops;
	t->uri.kind = u->kind;
	t->uri.path = u->path != NULL ? xstrdup(u->path) : NULL;
	t->uri.host = u->host != NULL ? xstrdup(u->host) : NULL;
	t->uri.port = u->port;
	t->uri.unix_socket = u->unix_socket;
	t->uri.starttls = u->starttls;
	t->uri.timeout_s = u->timeout_s;
	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		t->hostname = xstrdup("localhost");
	else {
		host[sizeof(host) - 1] = '\0';
		t->hostname = xstrdup(host);
	}
	if (t->ops->open(t, err) == -1) {
		target_close(&t);
		return -1;
	}
	*t_r = t;
	return 0;
}

int
target_deliver(struct target *t, struct spool *sp, const char *rcpt,
    const struct delivery *d, struct err *err)
{
	struct target_rcpt r;

	if (t->ops->deliver != NULL)
		return t->ops->deliver(t, sp, rcpt, d, err);
	memset(&r, 0, sizeof(r));
	r.addr = rcpt;
	if (target_deliver_many(t, sp, &r, 1, d, err) == -1)
		return -1;
	if (r.result == ERR_NONE)
		return 0;
	err_set(err, r.result, "%s", r.reason != NULL ? r.reason :
	    "refused");
	target_rcpts_clear(&r, 1);
	return -1;
}

int
target_deliver_many(struct target *t, struct spool *sp,
    struct target_rcpt *rcpts, size_t n, const struct delivery *d,
    struct err *err)
{
	struct err e1 = { 0 };
	size_t i;

	for (i = 0; i < n; i++) {
		rcpts[i].result = ERR_NONE;
		rcpts[i].reason = NULL;
	}
	if (n == 0)
		return 0;
	if (t->ops->deliver_many != NULL) {
		if (t->ops->deliver_many(t, sp, rcpts, n, d, err) == 0)
			return 0;
		/* A whole failure: every recipient gets its class. */
		for (i = 0; i < n; i++) {
			free(rcpts[i].reason);
			rcpts[i].result = err != NULL && err->cls != ERR_NONE ?
			    err->cls : ERR_TEMP;
			rcpts[i].reason = xstrdup(err != NULL ? err_msg(err) :
			    "delivery failed");
		}
		return -1;
	}
	/* One delivery per recipient; each result stands on its own. */
	for (i = 0; i < n; i++) {
		if (t->ops->deliver(t, sp, rcpts[i].addr, d, &e1) == 0)
			continue;
		rcpts[i].result = e1.cls != ERR_NONE ? e1.cls : ERR_LOCAL;
		rcpts[i].reason = xstrdup(err_msg(&e1));
		err_clear(&e1);
	}
	return 0;
}

/* Maildir: the expanded directory with its cur/, new/ and tmp/. */
static int
target_maildir_probe(struct target *t, const char *rcpt, struct err *err)
{
	static const char *const subs[] = { "", "/cur", "/new", "/tmp" };
	struct stat sb;
	char *root = NULL, *p;
	size_t i;
	int rc = 0;

	if (target_expand(t->uri.path, rcpt, &root, err) == -1)
		return -1;
	for (i = 0; i < MP_ARRAY_LEN(subs) && rc == 0; i++) {
		p = xasprintf("%s%s", root, subs[i]);
		if (stat(p, &sb) == -1) {
			if (errno == ENOENT || errno == ENOTDIR)
				rc = err_set(err, ERR_PERM, "no Maildir at %s "
				    "(%s missing)", root, p);
			else
				rc = err_set(err, ERR_LOCAL, "maildir: %s: %s",
				    p, strerror(errno));
		} else if (!S_ISDIR(sb.st_mode))
			rc = err_set(err, ERR_PERM, "no Maildir at %s (%s is "
			    "not a directory)", root, p);
		free(p);
	}
	free(root);
	return rc;
}

int
target_probe(struct target *t, const char *rcpt, struct err *err)
{
	if (t->ops->probe != NULL)
		return t->ops->probe(t, rcpt, err);
	if (t->uri.kind == TARGET_MAILDIR)
		return target_maildir_probe(t, rcpt, err);
	return err_set(err, ERR_CONFIG, "%s targets cannot be checked",
	    target_kind_name(t->uri.kind));
}

void
target_rcpts_clear(struct target_rcpt *rcpts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(rcpts[i].reason);
		rcpts[i].reason = NULL;
		rcpts[i].result = ERR_NONE;
	}
}

int
target_sync(struct target *t, struct err *err)
{
	return t->ops->sync(t, err);
}

void
target_close(struct target **tp)
{
	struct target *t = *tp;

	if (t == NULL)
		return;
	if (t->ops != NULL && t->ops->close != NULL)
		t->ops->close(t);
	target_uri_clear(&t->uri);
	free(t->hostname);
	free(t);
	*tp = NULL;
}
