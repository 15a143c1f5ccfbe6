/*
 * api.c - the admin HTTP server (libmicrohttpd, one thread per
 * connection): listener and TLS, request bodies and their bounds,
 * sessions, login with throttling and audit, CSRF, routing, the embedded
 * web UI and /metrics. The endpoints are in api_accounts.c and
 * api_admin.c; docs/api.yaml describes them.
 *
 * libmicrohttpd (and GnuTLS under it) is loaded when serve starts the API,
 * not at start-up, so that other commands never map it (util/dl.h); this
 * file is the one place that knows it: the other api*.c files reach the
 * request through req_arg() and req_header().
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "api/api.h"
#include "api/api_impl.h"
#include "store/store.h"
#include "store/users.h"
#include "util/dl.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define API_DEFAULT_LISTEN	"127.0.0.1:8025"
#define API_PEM_MAX		(256 * 1024)
#define API_CONN_MAX		64
#define API_CONN_TIMEOUT	30

static const char sec_headers[][2][64] = {
	{ "X-Content-Type-Options", "nosniff" },
	{ "X-Frame-Options", "DENY" },
	{ "Referrer-Policy", "no-referrer" },
	{ "Cache-Control", "no-store" },
};

static const char csp[] = "default-src 'self'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/* ---- libmicrohttpd, loaded by api_start() ---- */

DL_SYM(MHD_start_daemon);
DL_SYM(MHD_stop_daemon);
DL_SYM(MHD_get_daemon_info);
DL_SYM(MHD_is_feature_supported);
DL_SYM(MHD_lookup_connection_value);
DL_SYM(MHD_get_connection_info);
DL_SYM(MHD_create_response_from_buffer);
DL_SYM(MHD_add_response_header);
DL_SYM(MHD_queue_response);
DL_SYM(MHD_destroy_response);

static const struct dl_sym mhd_syms[] = {
	DL_ARG(MHD_start_daemon),
	DL_ARG(MHD_stop_daemon),
	DL_ARG(MHD_get_daemon_info),
	DL_ARG(MHD_is_feature_supported),
	DL_ARG(MHD_lookup_connection_value),
	DL_ARG(MHD_get_connection_info),
	DL_ARG(MHD_create_response_from_buffer),
	DL_ARG(MHD_add_response_header),
	DL_ARG(MHD_queue_response),
	DL_ARG(MHD_destroy_response),
};

static struct dl_lib mhd_lib = {
	.soname = "libmicrohttpd.so.12",
	.package = "libmicrohttpd12",
	.syms = mhd_syms,
	.nsyms = MP_ARRAY_LEN(mhd_syms),
};

/* ---- responses ---- */

static int
queue(struct req *r, unsigned status, const char *ctype, const void *data,
    size_t len, const char *cookie, const char *retry_after)
{
	struct MHD_Response *resp;
	size_t i;

	if (r->done)
		return 0;
	resp = sym_MHD_create_response_from_buffer(len, (void *)(uintptr_t)data,
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return -1;
	(void)sym_MHD_add_response_header(resp, "Content-Type", ctype);
	for (i = 0; i < MP_ARRAY_LEN(sec_headers); i++)
		(void)sym_MHD_add_response_header(resp, sec_headers[i][0],
		    sec_headers[i][1]);
	(void)sym_MHD_add_response_header(resp, "Content-Security-Policy", csp);
	if (r->api->tls)
		(void)sym_MHD_add_response_header(resp,
		    "Strict-Transport-Security", "max-age=31536000");
	if (cookie != NULL)
		(void)sym_MHD_add_response_header(resp, "Set-Cookie", cookie);
	if (retry_after != NULL)
		(void)sym_MHD_add_response_header(resp, "Retry-After",
		    retry_after);
	(void)sym_MHD_queue_response(r->c, status, resp);
	sym_MHD_destroy_response(resp);
	r->done = true;
	if (status >= 100 && status < 600)
		__atomic_fetch_add(&r->api->n_status[status / 100], 1,
		    __ATOMIC_RELAXED);
	return 0;
}

static int
reply_json_hdr(struct req *r, unsigned status, json_t *j, const char *cookie,
    const char *retry_after)
{
	char *s;
	int rc;

	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (s == NULL)
		fatalx("api: out of memory");
	rc = queue(r, status, "application/json", s, strlen(s), cookie,
	    retry_after);
	free(s);
	return rc;
}

int
reply_json(struct req *r, unsigned status, json_t *j)
{
	return reply_json_hdr(r, status, j, NULL, NULL);
}

int
reply_error(struct req *r, unsigned status, const char *msg, json_t *fields)
{
	json_t *j = json_pack("{s:s}", "error", msg);

	if (fields != NULL)
		json_object_set_new(j, "fields", fields);
	return reply_json(r, status, j);
}

int
reply_store_error(struct req *r, const struct err *e)
{
	log_warnx("api: %s", err_msg(e));
	return reply_error(r, 500, "internal error (see the server log)",
	    NULL);
}

int
reply_text(struct req *r, unsigned status, const char *ctype,
    const void *data, size_t len)
{
	return queue(r, status, ctype, data, len, NULL, NULL);
}

void
field_err(json_t *fields, const char *field, const char *msg)
{
	if (json_object_get(fields, field) == NULL)
		json_object_set_new(fields, field, json_string(msg));
}

/* ---- request bodies ---- */

/* Nesting depth of a JSON text, not counting brackets inside strings: the
 * parser never sees more than API_JSON_DEPTH levels. */
static bool
json_depth_ok(const char *p, size_t n, int max)
{
	bool str = false, esc = false;
	int depth = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (str) {
			if (esc)
				esc = false;
			else if (p[i] == '\\')
				esc = true;
			else if (p[i] == '"')
				str = false;
		} else if (p[i] == '"')
			str = true;
		else if (p[i] == '[' || p[i] == '{') {
			if (++depth > max)
				return false;
		} else if (p[i] == ']' || p[i] == '}')
			depth--;
	}
	return true;
}

int
req_body(struct req *r)
{
	const char *ct;
	json_error_t jerr;

	if (r->in != NULL)
		return 0;
	ct = req_header(r, "Content-Type");
	if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';')) {
		reply_error(r, 415, "expected Content-Type: application/json",
		    NULL);
		return -1;
	}
	if (!json_depth_ok(r->body.data, r->body.len, API_JSON_DEPTH)) {
		reply_error(r, 400, "JSON nested too deeply", NULL);
		return -1;
	}
	r->in = json_loadb(r->body.len > 0 ? r->body.data : "",
	    r->body.len, JSON_REJECT_DUPLICATES, &jerr);
	if (r->in == NULL || !json_is_object(r->in)) {
		json_decref(r->in);
		r->in = NULL;
		reply_error(r, 400, "expected a JSON object", NULL);
		return -1;
	}
	return 0;
}

const char *
req_arg(struct req *r, const char *k)
{
	return sym_MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, k);
}

const char *
req_header(struct req *r, const char *name)
{
	return sym_MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

/* ---- client address, proxy ---- */

static void
req_client(struct req *r)
{
	const union MHD_ConnectionInfo *ci;
	const char *xff, *xfp, *p;
	char tmp[64];
	unsigned char a6[16];
	size_t n;

	(void)snprintf(r->addr, sizeof(r->addr), "unknown");
	ci = sym_MHD_get_connection_info(r->c,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci != NULL && ci->client_addr != NULL) {
		socklen_t sl = ci->client_addr->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

		if (getnameinfo(ci->client_addr, sl, tmp, sizeof(tmp), NULL,
		    0, NI_NUMERICHOST) == 0)
			(void)snprintf(r->addr, sizeof(r->addr), "%s", tmp);
	}
	r->secure = r->api->tls;
	if (!r->api->o.trust_proxy)
		return;
	/* The proxy appends the address it saw: the last entry is the one
	 * we can trust; earlier ones are the client's say-so. */
	xff = req_header(r, "X-Forwarded-For");
	if (xff != NULL) {
		p = strrchr(xff, ',');
		p = p != NULL ? p + 1 : xff;
		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n > 0 && n < sizeof(tmp)) {
			memcpy(tmp, p, n);
			tmp[n] = '\0';
			if (inet_pton(AF_INET, tmp, a6) == 1 ||
			    inet_pton(AF_INET6, tmp, a6) == 1)
				(void)snprintf(r->addr, sizeof(r->addr), "%s",
				    tmp);
		}
	}
	xfp = req_header(r, "X-Forwarded-Proto");
	if (xfp != NULL)
		r->secure = strcasecmp(xfp, "https") == 0;
}

/* ---- sessions ---- */

static char *
cookie_value(struct req *r, const char *sid, int64_t max_age)
{
	return xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict; "
	    "Max-Age=%lld%s", API_COOKIE, sid, (long long)max_age,
	    r->secure ? "; Secure" : "");
}

/* Look up the session cookie: 0 (r->authed says whether one is live) or
 * -1 after a 500. */
static int
req_session(struct req *r)
{
	const char *sid;
	struct err e = { 0 };
	int rc;

	sid = sym_MHD_lookup_connection_value(r->c, MHD_COOKIE_KIND,
	    API_COOKIE);
	if (sid == NULL || strlen(sid) != USER_TOKEN_LEN)
		return 0;
	rc = store_session_get(r->st, sid, &r->u, r->csrf, &e);
	if (rc == -1) {
		reply_store_error(r, &e);
		err_clear(&e);
		return -1;
	}
	if (rc == 1) {
		r->authed = true;
		memcpy(r->sid, sid, USER_TOKEN_LEN + 1);
	}
	return 0;
}

static bool
method_changes(const char *m)
{
	return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0;
}

static bool
csrf_ok(struct req *r)
{
	const char *t;

	t = req_header(r, "X-CSRF-Token");
	return t != NULL && strlen(t) == USER_TOKEN_LEN &&
	    sodium_memcmp(t, r->csrf, USER_TOKEN_LEN) == 0;
}

static json_t *
user_json(const struct user *u)
{
	json_t *j, *d;
	const char *p, *q;

	d = json_array();
	if (u->domains != NULL)
		for (p = u->domains; *p != '\0'; p = *q == ',' ? q + 1 : q) {
			q = p + strcspn(p, ",");
			json_array_append_new(d, json_stringn(p,
			    (size_t)(q - p)));
		}
	j = json_pack("{s:s, s:s, s:o, s:s?, s:I}", "name", u->name, "role",
	    user_role_name(u->role), "domains", d, "address", u->address,
	    "created", (json_int_t)u->created);
	return j;
}

/* User names only go to the log when they are plain. */
static const char *
log_name(const char *s)
{
	return user_name_check(s) == NULL ? s : "(invalid name)";
}

static int
do_login(struct req *r)
{
	json_t *fields = json_object(), *ju, *jp;
	const char *name = NULL, *pw = NULL;
	struct err e = { 0 };
	struct user u;
	char sid[USER_TOKEN_LEN + 1], csrf[USER_TOKEN_LEN + 1];
	char *cookie;
	int nu = 0, na = 0, rc;
	int64_t since = (int64_t)time(NULL) - API_LOGIN_WINDOW;
	json_t *out;

	if (req_body(r) == -1) {
		json_decref(fields);
		return 0;
	}
	ju = json_object_get(r->in, "user");
	jp = json_object_get(r->in, "password");
	if (!json_is_string(ju) || json_string_length(ju) == 0)
		field_err(fields, "user", "required");
	else if (json_string_length(ju) > USER_NAME_MAX ||
	    strlen(json_string_value(ju)) != json_string_length(ju))
		field_err(fields, "user", "no such user name is possible");
	else
		name = json_string_value(ju);
	if (!json_is_string(jp) || json_string_length(jp) == 0)
		field_err(fields, "password", "required");
	else if (json_string_length(jp) > USER_PASSWORD_MAX)
		field_err(fields, "password", "too long");
	else
		pw = json_string_value(jp);
	if (name == NULL || pw == NULL)
		return reply_error(r, 400, "invalid input", fields);
	json_decref(fields);

	if (store_login_failures(r->st, name, NULL, since, &nu, &e) == -1 ||
	    store_login_failures(r->st, NULL, r->addr, since, &na, &e) == -1)
		goto fail;
	if (nu >= API_LOGIN_MAX_USER || na >= API_LOGIN_MAX_ADDR) {
		__atomic_fetch_add(&r->api->n_login_throttled, 1,
		    __ATOMIC_RELAXED);
		log_info("api: login for %s from %s refused: too many failed "
		    "logins (%d for the user, %d from the address in %d s)",
		    log_name(name), r->addr, nu, na, API_LOGIN_WINDOW);
		(void)store_login_record(r->st, name, r->addr, false,
		    "throttled", NULL);
		return reply_json_hdr(r, 429, json_pack("{s:s}", "error",
		    "too many failed logins; try again later"), NULL, "300");
	}
	rc = store_user_verify(r->st, name, pw, json_string_length(jp), &u,
	    &e);
	if (rc == -1)
		goto fail;
	if (rc == 0) {
		__atomic_fetch_add(&r->api->n_login_failed, 1,
		    __ATOMIC_RELAXED);
		log_info("api: failed login for %s from %s", log_name(name),
		    r->addr);
		if (store_login_record(r->st, name, r->addr, false,
		    "bad credentials", &e) == -1)
			goto fail;
		return reply_error(r, 401, "wrong user name or password",
		    NULL);
	}
	/* A new session id at every login (no fixation); the old one, if
	 * any, ends. */
	if (r->authed)
		(void)store_session_delete(r->st, r->sid, NULL);
	if (store_session_create(r->st, u.name, API_SESSION_TTL,
	    API_SESSION_IDLE, r->addr, sid, csrf, &e) == -1 ||
	    store_login_record(r->st, u.name, r->addr, true, NULL, &e) == -1) {
		user_clear(&u);
		goto fail;
	}
	__atomic_fetch_add(&r->api->n_login_ok, 1, __ATOMIC_RELAXED);
	log_info("api: %s (%s) logged in from %s", u.name,
	    user_role_name(u.role), r->addr);
	cookie = cookie_value(r, sid, API_SESSION_TTL);
	out = json_pack("{s:s, s:o}", "csrf", csrf, "user", user_json(&u));
	rc = reply_json_hdr(r, 200, out, cookie, NULL);
	sodium_memzero(sid, sizeof(sid));
	free(cookie);
	user_clear(&u);
	return rc;
fail:
	rc = reply_store_error(r, &e);
	err_clear(&e);
	return rc;
}

static int
do_logout(struct req *r)
{
	struct err e = { 0 };
	char *cookie;
	int rc;

	if (store_session_delete(r->st, r->sid, &e) == -1) {
		rc = reply_store_error(r, &e);
		err_clear(&e);
		return rc;
	}
	log_info("api: %s logged out", r->u.name);
	cookie = xasprintf("%s=; Path=/; HttpOnly; SameSite=Strict; "
	    "Max-Age=0%s", API_COOKIE, r->secure ? "; Secure" : "");
	rc = reply_json_hdr(r, 200, json_pack("{s:b}", "ok", 1), cookie,
	    NULL);
	free(cookie);
	return rc;
}

/* ---- routing ---- */

static int
route_api(struct req *r, const char *path)
{
	const char *m = r->method;

	if (strcmp(path, "login") == 0) {
		if (strcmp(m, "POST") != 0)
			return reply_error(r, 405, "use POST", NULL);
		return do_login(r);
	}
	/* the provider's redirect: no session (SameSite=Strict), no CSRF;
	 * the one-use state is the protection */
	if (strcmp(path, "oauth/callback") == 0)
		return api_oauth_callback(r);
	if (!r->authed)
		return reply_error(r, 401, "not logged in", NULL);
	if (method_changes(m) && !csrf_ok(r))
		return reply_error(r, 403, "missing or wrong CSRF token "
		    "(X-CSRF-Token)", NULL);
	if (strcmp(path, "logout") == 0) {
		if (strcmp(m, "POST") != 0)
			return reply_error(r, 405, "use POST", NULL);
		return do_logout(r);
	}
	if (strcmp(path, "me") == 0) {
		json_t *j;

		if (strcmp(m, "GET") != 0)
			return reply_error(r, 405, "use GET", NULL);
		j = user_json(&r->u);
		json_object_set_new(j, "csrf", json_string(r->csrf));
		return reply_json(r, 200, j);
	}
	if (strncmp(path, "accounts", 8) == 0 &&
	    (path[8] == '\0' || path[8] == '/'))
		return api_accounts(r, path + 8);
	if (strncmp(path, "groups", 6) == 0 &&
	    (path[6] == '\0' || path[6] == '/'))
		return api_groups(r, path + 6);
	if (strcmp(path, "settings") == 0)
		return api_settings(r);
	if (strncmp(path, "users", 5) == 0 &&
	    (path[5] == '\0' || path[5] == '/'))
		return api_users(r, path + 5);
	return reply_error(r, 404, "no such endpoint", NULL);
}

static int
serve_metrics(struct req *r)
{
	struct buf b;
	struct api *a = r->api;
	int rc;

	buf_init(&b, 4 * 1024 * 1024);
	(void)buf_printf(&b,
	    "# HELP mailpull_api_requests_total HTTP requests served.\n"
	    "# TYPE mailpull_api_requests_total counter\n"
	    "mailpull_api_requests_total %llu\n"
	    "# HELP mailpull_api_logins_total Login attempts by result.\n"
	    "# TYPE mailpull_api_logins_total counter\n"
	    "mailpull_api_logins_total{result=\"ok\"} %llu\n"
	    "mailpull_api_logins_total{result=\"failed\"} %llu\n"
	    "mailpull_api_logins_total{result=\"throttled\"} %llu\n",
	    (unsigned long long)__atomic_load_n(&a->n_requests,
	    __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&a->n_login_ok,
	    __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&a->n_login_failed,
	    __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&a->n_login_throttled,
	    __ATOMIC_RELAXED));
	if (a->o.metrics != NULL)
		a->o.metrics(a->o.arg, &b);
	rc = reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8",
	    b.data != NULL ? b.data : "", b.len);
	buf_free(&b);
	return rc;
}

static int
serve_static(struct req *r, const char *url)
{
	size_t i;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
		return reply_error(r, 405, "use GET", NULL);
	if (strcmp(url, "/") == 0)
		url = "/index.html";
	for (i = 0; i < ui_assets_count; i++)
		if (strcmp(url + 1, ui_assets[i].path) == 0)
			return reply_text(r, 200, ui_assets[i].ctype,
			    ui_assets[i].data, ui_assets[i].len);
	return reply_text(r, 404, "text/plain; charset=utf-8",
	    "not found\n", 10);
}

/* A store connection for a request: an idle one, or a new one. */
static int
store_get(struct api *a, struct store **st_r, struct err *e)
{
	*st_r = NULL;
	pthread_mutex_lock(&a->pool_mu);
	if (a->npool > 0)
		*st_r = a->pool[--a->npool];
	pthread_mutex_unlock(&a->pool_mu);
	if (*st_r != NULL)
		return 0;
	return store_open(st_r, a->o.state_dir, e);
}

/* Back to the pool (a transaction left open is rolled back), or closed
 * when the pool is full. */
static void
store_put(struct api *a, struct store **stp)
{
	if (*stp == NULL)
		return;
	(void)store_rollback(*stp);
	pthread_mutex_lock(&a->pool_mu);
	if (a->npool < API_STORE_POOL) {
		a->pool[a->npool++] = *stp;
		*stp = NULL;
	}
	pthread_mutex_unlock(&a->pool_mu);
	store_close(stp);
}

static int
handle(struct req *r, const char *url)
{
	struct err e = { 0 };
	const char *path = NULL;

	__atomic_fetch_add(&r->api->n_requests, 1, __ATOMIC_RELAXED);
	req_client(r);
	if (r->too_big)
		return reply_error(r, 413, "request body larger than 64 KiB",
		    NULL);
	if (strncmp(url, "/api/v1/", 8) == 0)
		path = url + 8;
	else if (strncmp(url, "/api/", 5) == 0)
		path = url + 5;
	if (path == NULL) {
		if (strcmp(url, "/metrics") == 0)
			return serve_metrics(r);
		return serve_static(r, url);
	}
	if (store_get(r->api, &r->st, &e) == -1) {
		reply_store_error(r, &e);
		err_clear(&e);
		return 0;
	}
	if (req_session(r) == -1)
		return 0;
	return route_api(r, path);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct api *a = cls;
	struct req *r = *con_cls;
	const char *cl;

	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		r->api = a;
		r->c = c;
		r->method = method;
		buf_init(&r->body, API_BODY_MAX);
		*con_cls = r;
		cl = sym_MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    "Content-Length");
		if (cl != NULL) {
			const char *why;

			(void)strnum(cl, 0, API_BODY_MAX, &why);
			if (why != NULL) {
				/* Answer now; the body is never read. */
				r->too_big = true;
				req_client(r);
				reply_error(r, 413, "request body larger "
				    "than 64 KiB", NULL);
				return MHD_YES;
			}
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!r->too_big && buf_add(&r->body, upload, *upload_size) ==
		    -1) {
			r->too_big = true;
			buf_free(&r->body);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->done)
		return MHD_YES;
	(void)handle(r, url);
	if (!r->done)
		reply_error(r, 500, "internal error", NULL);
	return r->done ? MHD_YES : MHD_NO;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	if (r == NULL)
		return;
	if (r->body.data != NULL)
		sodium_memzero(r->body.base, r->body.cap);
	buf_free(&r->body);
	json_decref(r->in);
	user_clear(&r->u);
	store_put(r->api, &r->st);
	sodium_memzero(r->csrf, sizeof(r->csrf));
	sodium_memzero(r->sid, sizeof(r->sid));
	free(r);
	*con_cls = NULL;
}

static void mhd_log(void *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warnx("api: httpd: %s", line);
}

/* ---- start/stop ---- */

static char *
read_pem(const char *path, struct err *e)
{
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		err_set(e, ERR_CONFIG, "api: %s: %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, API_PEM_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_add(&b, chunk, (size_t)n) == -1) {
			err_set(e, ERR_CONFIG, "api: %s: %s", path, n < 0 ?
			    strerror(errno) : "larger than 256 KiB");
			close(fd);
			buf_free(&b);
			return NULL;
		}
	}
	close(fd);
	sodium_memzero(chunk, sizeof(chunk));
	return buf_detach(&b);
}

/* "HOST:PORT" or "[V6]:PORT" (numeric hosts; "localhost" means
 * 127.0.0.1) into a socket address. */
static int
parse_listen(const char *s, struct sockaddr_storage *ss, struct err *e)
{
	struct addrinfo hints, *res = NULL;
	char host[128], port[8];
	const char *colon, *h = s;
	size_t hl;
	const char *why;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	(void)snprintf(port, sizeof(port), "%s", colon + 1);
	(void)strnum(port, 0, 65535, &why);
	if (why != NULL)
		goto bad;
	if (strcmp(host, "localhost") == 0)
		(void)snprintf(host, sizeof(host), "127.0.0.1");
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
		goto bad;
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
bad:
	return err_set(e, ERR_CONFIG, "api: listen address '%s': expected "
	    "ADDRESS:PORT such as 127.0.0.1:8025 or [::1]:8025", s);
}

int
api_start(struct api **ap, const struct api_opts *o, struct err *e)
{
	struct api *a;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned int flags;
	const char *listen = o->listen != NULL ? o->listen : API_DEFAULT_LISTEN;

	*ap = NULL;
	if (o->state_dir == NULL)
		return err_set(e, ERR_CONFIG, "api: no state directory");
	if (dl_load(&mhd_lib, "serve", e) == -1)
		return -1;
	if (parse_listen(listen, &ss, e) == -1)
		return -1;
	if ((o->tls_cert == NULL) != (o->tls_key == NULL))
		return err_set(e, ERR_CONFIG, "api: TLS needs both a "
		    "certificate and a key");
	a = xcalloc(1, sizeof(*a));
	pthread_mutex_init(&a->pool_mu, NULL);
	a->o = *o;
	a->o.listen = xstrdup(listen);
	a->o.state_dir = xstrdup(o->state_dir);
	a->o.tls_cert = a->o.tls_key = NULL;
	flags = MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (o->tls_cert != NULL) {
		if (sym_MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			err_set(e, ERR_CONFIG, "api: this libmicrohttpd has "
			    "no TLS support");
			goto fail;
		}
		if ((a->cert_pem = read_pem(o->tls_cert, e)) == NULL ||
		    (a->key_pem = read_pem(o->tls_key, e)) == NULL)
			goto fail;
		a->tls = true;
		flags |= MHD_USE_TLS;
	}
	if (a->tls)
		a->d = sym_MHD_start_daemon(flags, 0, NULL, NULL, on_request, a,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONN_MAX,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)32,
		    MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned int)API_CONN_TIMEOUT,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
		    MHD_OPTION_HTTPS_MEM_CERT, a->cert_pem,
		    MHD_OPTION_HTTPS_MEM_KEY, a->key_pem,
		    MHD_OPTION_HTTPS_PRIORITIES,
		    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		    MHD_OPTION_END);
	else
		a->d = sym_MHD_start_daemon(flags, 0, NULL, NULL, on_request, a,
		    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONN_MAX,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)32,
		    MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned int)API_CONN_TIMEOUT,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
		    MHD_OPTION_END);
	if (a->d == NULL) {
		err_set(e, ERR_CONFIG, "api: cannot listen on %s%s%s", listen,
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		goto fail;
	}
	di = sym_MHD_get_daemon_info(a->d, MHD_DAEMON_INFO_BIND_PORT);
	log_info("api: listening on %s (port %u)%s", listen,
	    di != NULL ? (unsigned)di->port : 0u, a->tls ? " with TLS" : "");
	*ap = a;
	return 0;
fail:
	api_stop(&a);
	return -1;
}

void
api_stop(struct api **ap)
{
	struct api *a = *ap;

	if (a == NULL)
		return;
	if (a->d != NULL)
		sym_MHD_stop_daemon(a->d);
	while (a->npool > 0)
		store_close(&a->pool[--a->npool]);
	pthread_mutex_destroy(&a->pool_mu);
	api_oauth_reset();
	free((char *)(uintptr_t)a->o.listen);
	free((char *)(uintptr_t)a->o.state_dir);
	if (a->key_pem != NULL) {
		sodium_memzero(a->key_pem, strlen(a->key_pem));
		free(a->key_pem);
	}
	free(a->cert_pem);
	free(a);
	*ap = NULL;
}
