/*
 * api_accounts.c - /api/v1/accounts: list, create, read, update, delete,
 * enable/disable, check now, run logs; and the role rules.
 *
 * Who may see or change an account is decided by its local recipients
 * (deliver_to, or the account id when unset; a bare name takes the
 * account id's domain): an admin every account, a domain admin those whose
 * every recipient's domain is one of theirs, a user those whose every
 * recipient is their address. A change is checked on the state before and
 * after it. An account a user may not see is "not found" (404), so its
 * existence does not leak. Targets, CA files and hosts on internal
 * addresses (loopback, private, link-local) are for admins only.
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api_impl.h"
#include "deliver/target.h"
#include "store/store.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define RUNS_MAX	20

/* ---- roles ---- */

/* Call fn for each local recipient of a; stop at the first false. */
static bool
each_rcpt(const struct account *a, bool (*fn)(const struct user *,
    const char *, size_t, const char *), const struct user *u)
{
	const char *dom, *p, *q, *list;
	size_t n;
	bool any = false;

	dom = a->id != NULL ? strrchr(a->id, '@') : NULL;
	dom = dom != NULL ? dom + 1 : "";
	list = a->deliver_to != NULL ? a->deliver_to : a->id;
	if (list == NULL)
		return false;
	for (p = list; *p != '\0'; p = *q == ',' ? q + 1 : q) {
		p += strspn(p, " \t");
		q = p + strcspn(p, ",");
		n = (size_t)(q - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		any = true;
		if (!fn(u, p, n, dom))
			return false;
	}
	return any;
}

static bool
rcpt_domain_ok(const struct user *u, const char *r, size_t n,
    const char *dom)
{
	const char *at = memrchr(r, '@', n);
	char d[256];
	size_t dn;

	if (at == NULL)
		return user_domain_in(u->domains, dom);
	dn = n - (size_t)(at + 1 - r);
	if (dn == 0 || dn >= sizeof(d))
		return false;
	memcpy(d, at + 1, dn);
	d[dn] = '\0';
	return user_domain_in(u->domains, d);
}

static bool
rcpt_address_ok(const struct user *u, const char *r, size_t n,
    const char *dom)
{
	size_t an;

	if (u->address == NULL)
		return false;
	an = strlen(u->address);
	if (memchr(r, '@', n) == NULL) {
		/* bare name: name@<account domain> */
		size_t dl = strlen(dom);

		return n + 1 + dl == an && strncasecmp(r, u->address, n) ==
		    0 && u->address[n] == '@' &&
		    strcasecmp(u->address + n + 1, dom) == 0;
	}
	return n == an && strncasecmp(r, u->address, n) == 0;
}

static bool
acct_allowed(const struct user *u, const struct account *a)
{
	switch (u->role) {
	case ROLE_ADMIN:
		return true;
	case ROLE_DOMAIN_ADMIN:
		return each_rcpt(a, rcpt_domain_ok, u);
	case ROLE_USER:
		return each_rcpt(a, rcpt_address_ok, u);
	}
	return false;
}

/* Loopback, private, link-local, CGNAT, unspecified, multicast. */
static bool
addr_internal(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t v = ntohl(((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr.s_addr);

		return (v >> 24) == 0 || (v >> 24) == 10 || (v >> 24) == 127 ||
		    (v >> 20) == (172u << 4 | 1) || (v >> 16) == (192u << 8 |
		    168) || (v >> 16) == (169u << 8 | 254) ||
		    (v >> 22) == (100u << 2 | 1) || (v >> 28) == 0xe ||
		    v == 0xffffffffu;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
			struct sockaddr_in s4;

			memset(&s4, 0, sizeof(s4));
			s4.sin_family = AF_INET;
			memcpy(&s4.sin_addr, &a->s6_addr[12], 4);
			return addr_internal((struct sockaddr *)&s4);
		}
		return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) ||
		    IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_SITELOCAL(a) ||
		    IN6_IS_ADDR_MULTICAST(a) || (a->s6_addr[0] & 0xfe) == 0xfc;
	}
	return true;
}

/* NULL when host may be used by a non-admin, else why not. */
static const char *
host_policy(const char *host)
{
	struct addrinfo hints, *res = NULL, *ai;
	const char *why = NULL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return "the host name does not resolve";
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (addr_internal(ai->ai_addr)) {
			why = "loopback, private and link-local addresses are "
			    "for admins only";
			break;
		}
	freeaddrinfo(res);
	return why;
}

/* ---- account <-> JSON ---- */

static json_t *
csv_array(const char *s)
{
	json_t *a = json_array();
	const char *p, *q;
	size_t n;

	if (s == NULL)
		return a;
	for (p = s; *p != '\0'; p = *q == ',' ? q + 1 : q) {
		p += strspn(p, " \t");
		q = p + strcspn(p, ",");
		n = (size_t)(q - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0)
			json_array_append_new(a, json_stringn(p, n));
	}
	return a;
}

static json_t *
run_json(const struct run_rec *r, bool with_log)
{
	json_t *j;

	j = json_pack("{s:I, s:I, s:b, s:s, s:s?}", "started",
	    (json_int_t)r->started, "finished", (json_int_t)r->finished, "ok",
	    r->cls == ERR_NONE, "class", r->cls == ERR_NONE ? "ok" :
	    err_class_name(r->cls), "summary", r->summary);
	if (with_log)
		json_object_set_new(j, "log", r->log != NULL ?
		    json_string(r->log) : json_null());
	return j;
}

static json_t *
status_json(struct store *st, const struct account *a)
{
	struct run_rec *runs = NULL;
	size_t n = 0, i;
	json_t *s;
	int64_t since = 0;
	const char *state;

	if (store_run_list(st, a->id, RUNS_MAX, &runs, &n, NULL) == -1)
		n = 0;
	for (i = 0; i < n && runs[i].cls != ERR_NONE; i++)
		since = runs[i].started;
	if (!a->enabled)
		state = "disabled";
	else if (n == 0)
		state = "new";
	else if (runs[0].cls == ERR_NONE)
		state = "ok";
	else
		state = "failing";
	s = json_pack("{s:s, s:o, s:o}", "state", state, "failing_since",
	    since != 0 ? json_integer(since) : json_null(), "last_run",
	    n > 0 ? run_json(&runs[0], false) : json_null());
	store_run_free(&runs, n);
	return s;
}

static json_t *
acct_json(struct store *st, const struct account *a)
{
	json_t *j, *f;
	size_t i;

	f = json_array();
	for (i = 0; i < ACCT_MAX_FOLDERS && a->folders[i] != NULL; i++)
		json_array_append_new(f, json_string(a->folders[i]));
	/* Never a password: only whether one is stored. */
	j = json_pack("{s:s, s:s, s:s, s:o, s:i, s:s, s:b, s:s?, s:s, s:b, "
	    "s:o, s:s?, s:s, s:b, s:i, s:i, s:i, s:o, s:b, s:b, s:b, "
	    "s:I, s:I}",
	    "id", a->id,
	    "protocol", account_proto_name(a->proto),
	    "host", a->host != NULL ? a->host : "",
	    "port", a->port != 0 ? json_integer(a->port) : json_null(),
	    "effective_port", account_port(a),
	    "security", account_security_name(a->security),
	    "verify", a->verify,
	    "ca_file", a->ca_file,
	    "user", a->user != NULL ? a->user : "",
	    "has_password", a->has_password,
	    "deliver_to", csv_array(a->deliver_to),
	    "target", a->target,
	    "policy", account_policy_name(a->policy),
	    "keep", a->policy == POLICY_KEEP,
	    "keep_days", a->keep_days,
	    "max_per_pass", a->max_per_pass,
	    "timeout", a->timeout,
	    "folders", f,
	    "only_unseen", a->only_unseen,
	    "mark_seen", a->mark_seen,
	    "enabled", a->enabled,
	    "created", (json_int_t)a->created,
	    "updated", (json_int_t)a->updated);
	json_object_set_new(j, "recipients", csv_array(a->deliver_to != NULL ?
	    a->deliver_to : a->id));
	if (st != NULL)
		json_object_set_new(j, "status", status_json(st, a));
	return j;
}

/* The CLI's text rule: printable, no control characters, bounded. */
static bool
valid_text(const char *s, size_t max, bool allow_space)
{
	const unsigned char *p;

	if (s[0] == '\0' || strlen(s) > max)
		return false;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || (!allow_space && *p == ' '))
			return false;
	return true;
}

static bool
valid_id(const char *id)
{
	const char *at = strrchr(id, '@');

	return valid_text(id, 254, false) && at != NULL && at != id &&
	    at[1] != '\0' && strchr(id, '/') == NULL;
}

/* A JSON string without NUL bytes, or NULL. */
static const char *
jstr(json_t *v)
{
	if (!json_is_string(v) || strlen(json_string_value(v)) !=
	    json_string_length(v))
		return NULL;
	return json_string_value(v);
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL && v[0] != '\0' ? xstrdup(v) : NULL;
}

static bool
get_int(json_t *fields, const char *k, json_t *v, long long min,
    long long max, int *out)
{
	char msg[96];

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		(void)snprintf(msg, sizeof(msg), "expected a whole number "
		    "from %lld to %lld", min, max);
		field_err(fields, k, msg);
		return false;
	}
	*out = (int)json_integer_value(v);
	return true;
}

static bool
get_bool(json_t *fields, const char *k, json_t *v, bool *out)
{
	if (!json_is_boolean(v)) {
		field_err(fields, k, "expected true or false");
		return false;
	}
	*out = json_is_true(v);
	return true;
}

struct acct_in {
	char *password;		/* NULL: unchanged */
	bool admin_only;	/* target or ca_file set */
	bool host_set;
};

/*
 * Apply the JSON object to a (defaults or the stored account). Field
 * errors go to fields; the same rules as `mailpull account add|edit`.
 */
static void
acct_apply(json_t *in, struct account *a, bool create, json_t *fields,
    struct acct_in *ai)
{
	const char *k, *s;
	json_t *v, *x;
	size_t i;
	bool policy_set = false;

	json_object_foreach(in, k, v) {
		if (strcmp(k, "id") == 0) {
			if ((s = jstr(v)) == NULL || !valid_id(s))
				field_err(fields, k, "expected an email "
				    "address such as alice@example.org");
			else if (!create && strcmp(s, a->id) != 0)
				field_err(fields, k, "an account id cannot be "
				    "changed");
			else if (create)
				set_str(&a->id, s);
		} else if (strcmp(k, "protocol") == 0) {
			if ((s = jstr(v)) == NULL ||
			    account_proto_parse(s, &a->proto) == -1)
				field_err(fields, k, "expected pop3 or imap");
		} else if (strcmp(k, "host") == 0) {
			if ((s = jstr(v)) == NULL || !valid_text(s, 253, false))
				field_err(fields, k, "expected a host name or "
				    "address");
			else {
				set_str(&a->host, s);
				ai->host_set = true;
			}
		} else if (strcmp(k, "port") == 0) {
			if (json_is_null(v))
				a->port = 0;
			else
				(void)get_int(fields, k, v, 0, 65535, &a->port);
		} else if (strcmp(k, "security") == 0) {
			if ((s = jstr(v)) == NULL ||
			    account_security_parse(s, &a->security) == -1)
				field_err(fields, k, "expected tls, starttls "
				    "or none");
		} else if (strcmp(k, "verify") == 0) {
			(void)get_bool(fields, k, v, &a->verify);
		} else if (strcmp(k, "ca_file") == 0) {
			char *real;

			if (json_is_null(v) || (json_is_string(v) &&
			    json_string_length(v) == 0)) {
				set_str(&a->ca_file, NULL);
				continue;
			}
			if ((s = jstr(v)) == NULL || !valid_text(s, 4096,
			    true)) {
				field_err(fields, k, "expected a file name");
				continue;
			}
			ai->admin_only = true;
			if ((real = realpath(s, NULL)) == NULL ||
			    access(real, R_OK) == -1) {
				field_err(fields, k, "no readable file by "
				    "that name on the server");
				free(real);
				continue;
			}
			set_str(&a->ca_file, real);
			free(real);
		} else if (strcmp(k, "user") == 0) {
			if ((s = jstr(v)) == NULL || !valid_text(s, 512, true))
				field_err(fields, k, "expected a login name");
			else
				set_str(&a->user, s);
		} else if (strcmp(k, "password") == 0) {
			if (json_is_null(v) || (json_is_string(v) &&
			    json_string_length(v) == 0 && !create))
				continue;	/* unchanged */
			if ((s = jstr(v)) == NULL || s[0] == '\0' ||
			    strchr(s, '\n') != NULL ||
			    strchr(s, '\r') != NULL ||
			    json_string_length(v) > 4096)
				field_err(fields, k, "expected a password of "
				    "1 to 4096 bytes without line breaks");
			else {
				free(ai->password);
				ai->password = xstrdup(s);
			}
		} else if (strcmp(k, "deliver_to") == 0) {
			struct buf b;
			bool bad = false;

			if (json_is_null(v) || (json_is_array(v) &&
			    json_array_size(v) == 0) || (json_is_string(v) &&
			    json_string_length(v) == 0)) {
				set_str(&a->deliver_to, NULL);
				continue;
			}
			buf_init(&b, 4096);
			if (json_is_string(v)) {
				if ((s = jstr(v)) == NULL ||
				    buf_adds(&b, s) == -1)
					bad = true;
			} else if (json_is_array(v)) {
				json_array_foreach(v, i, x) {
					if ((s = jstr(x)) == NULL ||
					    s[0] == '\0' ||
					    strchr(s, ',') != NULL ||
					    (i > 0 && buf_adds(&b, ",") ==
					    -1) || buf_adds(&b, s) == -1)
						bad = true;
				}
			} else
				bad = true;
			if (bad || b.data == NULL ||
			    !valid_text(b.data, 4096, true))
				field_err(fields, k, "expected a list of local "
				    "addresses");
			else
				set_str(&a->deliver_to, b.data);
			buf_free(&b);
		} else if (strcmp(k, "target") == 0) {
			struct target_uri u;
			struct err e = { 0 };

			if (json_is_null(v) || (json_is_string(v) &&
			    json_string_length(v) == 0)) {
				if (a->target != NULL)
					ai->admin_only = true;
				set_str(&a->target, NULL);
				continue;
			}
			ai->admin_only = true;
			if ((s = jstr(v)) == NULL)
				field_err(fields, k, "expected a target URI");
			else if (target_uri_parse(s, &u, &e) == -1)
				field_err(fields, k, err_msg(&e));
			else {
				target_uri_clear(&u);
				set_str(&a->target, s);
			}
			err_clear(&e);
		} else if (strcmp(k, "policy") == 0) {
			if ((s = jstr(v)) == NULL ||
			    account_policy_parse(s, &a->policy) == -1)
				field_err(fields, k, "expected delete, keep or "
				    "keep-days");
			policy_set = true;
		} else if (strcmp(k, "keep") == 0) {
			bool b;

			if (get_bool(fields, k, v, &b) && !policy_set)
				a->policy = b ? POLICY_KEEP : POLICY_DELETE;
		} else if (strcmp(k, "delete") == 0) {
			bool b;

			if (get_bool(fields, k, v, &b) && !policy_set)
				a->policy = b ? POLICY_DELETE : POLICY_KEEP;
		} else if (strcmp(k, "keep_days") == 0) {
			if (get_int(fields, k, v, 0, 36500, &a->keep_days) &&
			    json_object_get(in, "policy") == NULL &&
			    json_object_get(in, "keep") == NULL &&
			    json_object_get(in, "delete") == NULL)
				a->policy = POLICY_KEEP_DAYS;
		} else if (strcmp(k, "max_per_pass") == 0) {
			(void)get_int(fields, k, v, 0, 10000000,
			    &a->max_per_pass);
		} else if (strcmp(k, "timeout") == 0) {
			(void)get_int(fields, k, v, 1, 3600, &a->timeout);
		} else if (strcmp(k, "folders") == 0) {
			size_t nf = 0;

			if (json_is_null(v))
				v = NULL;
			else if (!json_is_array(v) || json_array_size(v) >=
			    ACCT_MAX_FOLDERS) {
				field_err(fields, k, "expected a list of at "
				    "most 63 folder names");
				continue;
			}
			if (v != NULL)
				json_array_foreach(v, i, x)
					if ((s = jstr(x)) == NULL ||
					    !valid_text(s, 1000, true)) {
						field_err(fields, k, "invalid "
						    "folder name");
						break;
					}
			if (json_object_get(fields, k) != NULL)
				continue;
			for (i = 0; i < ACCT_MAX_FOLDERS &&
			    a->folders[i] != NULL; i++)
				xfree(&a->folders[i]);
			if (v != NULL)
				json_array_foreach(v, i, x)
					a->folders[nf++] =
					    xstrdup(json_string_value(x));
			a->folders[nf] = NULL;
		} else if (strcmp(k, "only_unseen") == 0) {
			(void)get_bool(fields, k, v, &a->only_unseen);
		} else if (strcmp(k, "mark_seen") == 0) {
			(void)get_bool(fields, k, v, &a->mark_seen);
		} else if (strcmp(k, "enabled") == 0) {
			(void)get_bool(fields, k, v, &a->enabled);
		} else if (strcmp(k, "has_password") == 0 ||
		    strcmp(k, "effective_port") == 0 ||
		    strcmp(k, "status") == 0 || strcmp(k, "created") == 0 ||
		    strcmp(k, "updated") == 0 ||
		    strcmp(k, "recipients") == 0) {
			continue;	/* read-only, ignored */
		} else
			field_err(fields, k, "unknown field");
	}
	if (create) {
		if (json_object_get(in, "id") == NULL)
			field_err(fields, "id", "required");
		if (json_object_get(in, "protocol") == NULL)
			field_err(fields, "protocol", "required");
		if (a->host == NULL)
			field_err(fields, "host", "required");
		if (a->user == NULL)
			field_err(fields, "user", "required");
		if (ai->password == NULL)
			field_err(fields, "password", "required");
	}
}

/* ---- handlers ---- */

static void
check_now(struct req *r, const struct account *a)
{
	if (r->api->o.check_now != NULL && a->enabled)
		r->api->o.check_now(r->api->o.arg, a->id);
}

static int
store_fail(struct req *r, struct err *e)
{
	int rc;

	rc = reply_store_error(r, e);
	err_clear(e);
	return rc;
}

/* Load an account the user may see: 0, or -1 after a 404/500. */
static int
acct_load(struct req *r, const char *id, struct account *a)
{
	struct err e = { 0 };

	account_init(a);
	if (store_account_get(r->st, id, a, &e) == -1) {
		if (e.cls == ERR_CONFIG) {
			err_clear(&e);
			reply_error(r, 404, "no such account", NULL);
		} else
			store_fail(r, &e);
		account_clear(a);
		return -1;
	}
	if (!acct_allowed(&r->u, a)) {
		account_clear(a);
		reply_error(r, 404, "no such account", NULL);
		return -1;
	}
	return 0;
}

static int
acct_list(struct req *r)
{
	struct account *list = NULL;
	struct err e = { 0 };
	size_t n = 0, i;
	json_t *out;

	if (store_account_list(r->st, &list, &n, &e) == -1)
		return store_fail(r, &e);
	out = json_array();
	for (i = 0; i < n; i++)
		if (acct_allowed(&r->u, &list[i]))
			json_array_append_new(out, acct_json(r->st, &list[i]));
	store_account_list_free(&list, n);
	return reply_json(r, 200, out);
}

/* Validate the new state: 0, or -1 after a 400/403. */
static int
acct_check_new(struct req *r, const struct account *a, struct acct_in *ai,
    json_t *fields)
{
	const char *why;

	if (json_object_size(fields) > 0) {
		reply_error(r, 400, "invalid input", fields);
		return -1;
	}
	if (r->u.role != ROLE_ADMIN) {
		if (ai->admin_only)
			field_err(fields, json_object_get(r->in, "target") !=
			    NULL ? "target" : "ca_file", "only an admin may "
			    "set this");
		else if (ai->host_set && (why = host_policy(a->host)) != NULL)
			field_err(fields, "host", why);
		if (json_object_size(fields) > 0) {
			reply_error(r, 403, "not allowed", fields);
			return -1;
		}
		if (!acct_allowed(&r->u, a)) {
			field_err(fields, "deliver_to", r->u.role ==
			    ROLE_USER ? "you may only deliver to your own "
			    "address" : "every recipient must be in one of "
			    "your domains");
			reply_error(r, 403, "not allowed", fields);
			return -1;
		}
	}
	json_decref(fields);
	return 0;
}

static int
acct_create(struct req *r)
{
	struct account a;
	struct acct_in ai = { 0 };
	struct err e = { 0 };
	json_t *fields = json_object();
	int rc = 0;

	if (req_body(r) == -1) {
		json_decref(fields);
		return 0;
	}
	account_init(&a);
	/* A user's accounts deliver to them unless they say otherwise. */
	if (r->u.role == ROLE_USER && r->u.address != NULL &&
	    json_object_get(r->in, "deliver_to") == NULL)
		a.deliver_to = xstrdup(r->u.address);
	acct_apply(r->in, &a, true, fields, &ai);
	if (acct_check_new(r, &a, &ai, fields) == -1)
		goto out;
	if (store_account_add(r->st, &a, &e) == -1) {
		if (e.cls == ERR_CONFIG) {
			rc = reply_error(r, 409, "an account with this id "
			    "already exists", NULL);
			err_clear(&e);
		} else
			rc = store_fail(r, &e);
		goto out;
	}
	if (store_password_set(r->st, a.id, ai.password, strlen(ai.password),
	    &e) == -1) {
		struct err de = { 0 };

		(void)store_account_delete(r->st, a.id, &de);
		err_clear(&de);
		rc = store_fail(r, &e);
		goto out;
	}
	log_info("api: %s: account added by %s", a.id, r->u.name);
	account_clear(&a);
	if (store_account_get(r->st, json_string_value(json_object_get(r->in,
	    "id")), &a, &e) == -1) {
		rc = store_fail(r, &e);
		goto out;
	}
	check_now(r, &a);
	rc = reply_json(r, 201, acct_json(r->st, &a));
out:
	if (ai.password != NULL) {
		explicit_bzero(ai.password, strlen(ai.password));
		free(ai.password);
	}
	account_clear(&a);
	return rc;
}

static int
acct_update(struct req *r, struct account *a)
{
	struct acct_in ai = { 0 };
	struct err e = { 0 };
	json_t *fields = json_object();
	int rc = 0;

	if (req_body(r) == -1) {
		json_decref(fields);
		return 0;
	}
	acct_apply(r->in, a, false, fields, &ai);
	if (acct_check_new(r, a, &ai, fields) == -1)
		goto out;
	if (store_account_update(r->st, a, &e) == -1 || (ai.password != NULL &&
	    store_password_set(r->st, a->id, ai.password,
	    strlen(ai.password), &e) == -1)) {
		rc = store_fail(r, &e);
		goto out;
	}
	log_info("api: %s: account changed by %s%s", a->id, r->u.name,
	    ai.password != NULL ? " (new password)" : "");
	if (ai.password != NULL)
		a->has_password = true;
	check_now(r, a);
	rc = reply_json(r, 200, acct_json(r->st, a));
out:
	if (ai.password != NULL) {
		explicit_bzero(ai.password, strlen(ai.password));
		free(ai.password);
	}
	return rc;
}

static int
acct_runs(struct req *r, const char *id)
{
	struct run_rec *runs = NULL;
	struct err e = { 0 };
	size_t n = 0, i, max = RUNS_MAX;
	const char *arg = req_arg(r, "n"), *why;
	json_t *out;

	if (arg != NULL) {
		max = (size_t)strnum(arg, 1, RUNS_MAX, &why);
		if (why != NULL) {
			json_t *f = json_object();

			field_err(f, "n", "expected 1 to 20");
			return reply_error(r, 400, "invalid input", f);
		}
	}
	if (store_run_list(r->st, id, max, &runs, &n, &e) == -1)
		return store_fail(r, &e);
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(out, run_json(&runs[i], true));
	store_run_free(&runs, n);
	return reply_json(r, 200, out);
}

int
api_accounts(struct req *r, const char *path)
{
	const char *m = r->method, *slash;
	struct account a;
	struct err e = { 0 };
	char *id;
	int rc;

	if (path[0] == '\0' || strcmp(path, "/") == 0) {
		if (strcmp(m, "GET") == 0)
			return acct_list(r);
		if (strcmp(m, "POST") == 0)
			return acct_create(r);
		return reply_error(r, 405, "use GET or POST", NULL);
	}
	path++;
	slash = strchr(path, '/');
	id = slash != NULL ? xstrndup(path, (size_t)(slash - path)) :
	    xstrdup(path);
	if (acct_load(r, id, &a) == -1) {
		free(id);
		return 0;
	}
	rc = 0;
	if (slash == NULL) {
		if (strcmp(m, "GET") == 0)
			rc = reply_json(r, 200, acct_json(r->st, &a));
		else if (strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0)
			rc = acct_update(r, &a);
		else if (strcmp(m, "DELETE") == 0) {
			if (store_account_delete(r->st, id, &e) == -1)
				rc = store_fail(r, &e);
			else {
				log_info("api: %s: account deleted by %s", id,
				    r->u.name);
				rc = reply_json(r, 200, json_pack("{s:b}",
				    "ok", 1));
			}
		} else
			rc = reply_error(r, 405, "use GET, PUT, PATCH or "
			    "DELETE", NULL);
	} else if (strcmp(slash, "/runs") == 0) {
		if (strcmp(m, "GET") != 0)
			rc = reply_error(r, 405, "use GET", NULL);
		else
			rc = acct_runs(r, id);
	} else if (strcmp(slash, "/enable") == 0 ||
	    strcmp(slash, "/disable") == 0) {
		bool en = strcmp(slash, "/enable") == 0;

		if (strcmp(m, "POST") != 0)
			rc = reply_error(r, 405, "use POST", NULL);
		else if (store_account_set_enabled(r->st, id, en, &e) == -1)
			rc = store_fail(r, &e);
		else {
			log_info("api: %s: account %s by %s", id, en ?
			    "enabled" : "disabled", r->u.name);
			a.enabled = en;
			check_now(r, &a);
			rc = reply_json(r, 200, acct_json(r->st, &a));
		}
	} else if (strcmp(slash, "/check") == 0) {
		if (strcmp(m, "POST") != 0)
			rc = reply_error(r, 405, "use POST", NULL);
		else if (r->api->o.check_now == NULL)
			rc = reply_error(r, 503, "no scheduler is running "
			    "in this process", NULL);
		else if (!a.enabled)
			rc = reply_error(r, 409, "the account is disabled",
			    NULL);
		else {
			log_info("api: %s: check requested by %s", id,
			    r->u.name);
			check_now(r, &a);
			rc = reply_json(r, 202, json_pack("{s:b}", "queued",
			    1));
		}
	} else
		rc = reply_error(r, 404, "no such endpoint", NULL);
	account_clear(&a);
	free(id);
	return rc;
}
