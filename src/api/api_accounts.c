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
#include "route/route.h"
#include "store/account_valid.h"
#include "store/journal.h"
#include "store/settings.h"
#include "store/store.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define RUNS_MAX	20

/* ---- roles ---- */

/* Is the address (local@domain) one the user may deliver to? */
static bool
addr_ok(const struct user *u, const char *p, size_t n)
{
	const char *at = memrchr(p, '@', n);
	char d[256];
	size_t dn;

	if (at == NULL || at == p)
		return false;
	if (u->role == ROLE_USER)
		return u->address != NULL && strlen(u->address) == n &&
		    strncasecmp(p, u->address, n) == 0;
	dn = n - (size_t)(at + 1 - p);
	if (dn == 0 || dn >= sizeof(d))
		return false;
	memcpy(d, at + 1, dn);
	d[dn] = '\0';
	return user_domain_in(u->domains, d);
}

/* The domain a bare local name takes: the local-domain setting, else the
 * account's domain (as routing does). Allocated. */
static char *
bare_domain(struct req *r, const char *acct_id)
{
	char *ld = NULL;
	const char *at;

	if (store_setting_get(r->st, "local-domain", &ld, NULL) == 0 &&
	    ld != NULL)
		return ld;
	at = acct_id != NULL ? strrchr(acct_id, '@') : NULL;
	return xstrdup(at != NULL ? at + 1 : "");
}

/* One recipient as written (address, bare name, @GROUP): allowed? */
static bool
rcpt_ok(struct req *r, const char *p, size_t n, const char *dom, int depth)
{
	char buf[600];
	char **m = NULL;
	size_t nm = 0, i;
	bool ok;

	if (n == 0 || n >= 300)
		return false;
	if (p[0] == '@') {
		char name[300];

		if (depth > 0)
			return false;
		memcpy(name, p + 1, n - 1);
		name[n - 1] = '\0';
		if (store_group_get(r->st, name, &m, &nm, NULL) == -1)
			return false;
		ok = nm > 0;
		for (i = 0; ok && i < nm; i++)
			ok = rcpt_ok(r, m[i], strlen(m[i]), dom, depth + 1);
		store_strv_free(&m, nm);
		return ok;
	}
	if (memchr(p, '@', n) == NULL) {
		(void)snprintf(buf, sizeof(buf), "%.*s@%s", (int)n, p, dom);
		return addr_ok(&r->u, buf, strlen(buf));
	}
	return addr_ok(&r->u, p, n);
}

/* Every item of a comma list allowed (and at least one)? */
static bool
list_ok(struct req *r, const char *list, const char *dom)
{
	const char *p, *q;
	size_t n;
	bool any = false;

	for (p = list; *p != '\0'; p = *q == ',' ? q + 1 : q) {
		p += strspn(p, " \t");
		q = p + strcspn(p, ",");
		n = (size_t)(q - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		any = true;
		if (!rcpt_ok(r, p, n, dom, 0))
			return false;
	}
	return any;
}

/* A catch-all's accepted domains, rules and postmaster: a domain admin
 * must own every domain and destination; a user has no catch-all. */
static bool
routing_ok(struct req *r, const struct routing *rt, const char *dom)
{
	const char *p, *nl;
	bool ok = true;

	if (rt->postmaster != NULL && !rcpt_ok(r, rt->postmaster,
	    strlen(rt->postmaster), dom, 0))
		return false;
	if (!rt->multidrop)
		return true;
	if (r->u.role == ROLE_USER)
		return false;
	for (p = rt->domains != NULL ? rt->domains : ""; ok && *p != '\0';
	    p = *nl != '\0' ? nl + 1 : nl) {
		char d[300];
		size_t n;

		nl = p + strcspn(p, "\n");
		n = (size_t)(nl - p);
		if (n >= 2 && p[0] == '*' && p[1] == '.') {
			p += 2;
			n -= 2;
		}
		if (n == 0 || n >= sizeof(d))
			return false;
		memcpy(d, p, n);
		d[n] = '\0';
		ok = user_domain_in(r->u.domains, d);
	}
	for (p = rt->rules != NULL ? rt->rules : ""; ok && *p != '\0';
	    p = *nl != '\0' ? nl + 1 : nl) {
		struct route_rule rule;
		char *line;

		nl = p + strcspn(p, "\n");
		line = xstrndup(p, (size_t)(nl - p));
		if (route_rule_parse(line, &rule, NULL) == -1)
			ok = false;
		else {
			if (rule.dest == ROUTE_DEST_ADDR)
				ok = rcpt_ok(r, rule.dest_arg,
				    strlen(rule.dest_arg), dom, 0);
			else if (rule.dest == ROUTE_DEST_GROUP) {
				char *g = xasprintf("@%s", rule.dest_arg);

				ok = rcpt_ok(r, g, strlen(g), dom, 0);
				free(g);
			} else if (rule.dest == ROUTE_DEST_KEEP)
				ok = user_domain_in(r->u.domains,
				    rule.dest_arg);
			route_rule_clear(&rule);
		}
		free(line);
	}
	return ok;
}

/*
 * May the user see (and change) a, with routing rt (NULL: the stored
 * one)? Its recipients are deliver_to (or the account id), the groups
 * they name expanded, and for a catch-all the accepted domains, the rule
 * destinations and the postmaster.
 */
static bool
acct_allowed_rt(struct req *r, const struct account *a,
    const struct routing *rt)
{
	struct routing own;
	char *dom;
	bool ok;

	if (r->u.role == ROLE_ADMIN)
		return true;
	if (r->u.role != ROLE_DOMAIN_ADMIN && r->u.role != ROLE_USER)
		return false;
	memset(&own, 0, sizeof(own));
	if (rt == NULL) {
		if (store_routing_get(r->st, a->id, &own, NULL) == -1)
			return false;
		rt = &own;
	}
	dom = bare_domain(r, a->id);
	ok = list_ok(r, a->deliver_to != NULL ? a->deliver_to : a->id, dom) &&
	    routing_ok(r, rt, dom);
	free(dom);
	routing_clear(&own);
	return ok;
}

static bool
acct_allowed(struct req *r, const struct account *a)
{
	return acct_allowed_rt(r, a, NULL);
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
	if (st != NULL) {
		json_object_set_new(j, "status", status_json(st, a));
		acct_ext_json(st, a, j);
	}
	return j;
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

/*
 * The value of field k through the shared rules (store/account_valid.h):
 * its text, or NULL after a field error. A JSON number is checked as its
 * decimal text, so "port": "x" and --port x get the same answer.
 */
static const char *
checked(json_t *fields, const char *k, const char *rule, json_t *v,
    char *nb, size_t nbcap)
{
	char msg[ACCOUNT_VALID_MSG_MAX];
	const char *s, *why;

	if (json_is_integer(v)) {
		(void)snprintf(nb, nbcap, "%lld",
		    (long long)json_integer_value(v));
		s = nb;
	} else if ((s = jstr(v)) == NULL)
		s = "";
	if ((why = account_valid_field(rule, s, msg, sizeof(msg))) != NULL) {
		field_err(fields, k, why);
		return NULL;
	}
	return s;
}

static void
get_num(json_t *fields, const char *k, json_t *v, int *out)
{
	char nb[32];
	const char *s, *why;
	long long min = 0, max = 0;

	if ((s = checked(fields, k, k, v, nb, sizeof(nb))) == NULL)
		return;
	(void)account_valid_range(k, &min, &max);
	*out = (int)strnum(s, min, max, &why);
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

static bool
empty(json_t *v)
{
	return json_is_null(v) || (json_is_string(v) &&
	    json_string_length(v) == 0) || (json_is_array(v) &&
	    json_array_size(v) == 0);
}

struct acct_in {
	char *password;		/* NULL: unchanged */
	const char *admin_only;	/* a field only admins may set, or NULL */
	bool host_set;
	struct acct_ext x;	/* routing, schedule, filters, OAuth2 */
};

/* deliver_to: a list (or one comma-separated string) of local addresses,
 * bare names and @GROUPs, stored comma-separated as the CLI does. */
static void
take_deliver_to(json_t *fields, const char *k, json_t *v, struct account *a)
{
	char msg[ACCOUNT_VALID_MSG_MAX];
	const char *s, *why;
	struct buf b;
	json_t *x;
	size_t i;
	bool bad = false;

	if (empty(v)) {
		set_str(&a->deliver_to, NULL);
		return;
	}
	buf_init(&b, 4096);
	if (json_is_string(v)) {
		if ((s = jstr(v)) == NULL || buf_adds(&b, s) == -1)
			bad = true;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if ((s = jstr(x)) == NULL || s[0] == '\0' ||
			    strchr(s, ',') != NULL || (i > 0 &&
			    buf_adds(&b, ",") == -1) || buf_adds(&b, s) == -1)
				bad = true;
		}
	} else
		bad = true;
	if (bad || b.data == NULL)
		field_err(fields, k, "expected a list of local addresses");
	else if ((why = account_valid_field("deliver_to", b.data, msg,
	    sizeof(msg))) != NULL)
		field_err(fields, k, why);
	else
		set_str(&a->deliver_to, b.data);
	buf_free(&b);
}

static void
take_folders(json_t *fields, const char *k, json_t *v, struct account *a)
{
	char msg[ACCOUNT_VALID_MSG_MAX];
	const char *s, *why;
	size_t i, nf = 0;
	json_t *x;

	if (json_is_null(v))
		v = NULL;
	else if (!json_is_array(v) || json_array_size(v) >=
	    ACCT_MAX_FOLDERS) {
		field_err(fields, k, "expected a list of at most 63 folder "
		    "names");
		return;
	}
	if (v != NULL)
		json_array_foreach(v, i, x) {
			why = (s = jstr(x)) == NULL ? "invalid folder name" :
			    account_valid_field("folder", s, msg, sizeof(msg));
			if (why != NULL) {
				field_err(fields, k, why);
				return;
			}
		}
	for (i = 0; i < ACCT_MAX_FOLDERS && a->folders[i] != NULL; i++)
		xfree(&a->folders[i]);
	if (v != NULL)
		json_array_foreach(v, i, x)
			a->folders[nf++] = xstrdup(json_string_value(x));
	a->folders[nf] = NULL;
}

/*
 * Apply the JSON object to a (defaults or the stored account) and ai->x
 * (its other options). Field errors go to fields; the rules are the
 * CLI's, from the same layer.
 */
static void
acct_apply(json_t *in, struct account *a, bool create, json_t *fields,
    struct acct_in *ai)
{
	char nb[32];
	const char *k, *s;
	json_t *v;
	bool policy_set = false;

	json_object_foreach(in, k, v) {
		if (strcmp(k, "id") == 0) {
			if ((s = checked(fields, k, "id", v, nb, sizeof(nb))) ==
			    NULL)
				continue;
			if (!create && strcmp(s, a->id) != 0)
				field_err(fields, k, "an account id cannot be "
				    "changed");
			else if (create)
				set_str(&a->id, s);
		} else if (strcmp(k, "protocol") == 0) {
			if ((s = checked(fields, k, k, v, nb, sizeof(nb))) !=
			    NULL)
				(void)account_proto_parse(s, &a->proto);
		} else if (strcmp(k, "host") == 0) {
			if ((s = checked(fields, k, k, v, nb, sizeof(nb))) !=
			    NULL) {
				set_str(&a->host, s);
				ai->host_set = true;
			}
		} else if (strcmp(k, "port") == 0) {
			if (empty(v))
				a->port = 0;
			else
				get_num(fields, k, v, &a->port);
		} else if (strcmp(k, "security") == 0) {
			if ((s = checked(fields, k, k, v, nb, sizeof(nb))) !=
			    NULL)
				(void)account_security_parse(s, &a->security);
		} else if (strcmp(k, "verify") == 0) {
			(void)get_bool(fields, k, v, &a->verify);
		} else if (strcmp(k, "ca_file") == 0) {
			char *real;

			if (empty(v)) {
				set_str(&a->ca_file, NULL);
				continue;
			}
			ai->admin_only = "ca_file";
			if ((s = checked(fields, k, k, v, nb, sizeof(nb))) ==
			    NULL)
				continue;
			if ((real = realpath(s, NULL)) == NULL) {
				field_err(fields, k, "no readable file by "
				    "that name on the server");
				continue;
			}
			set_str(&a->ca_file, real);
			free(real);
		} else if (strcmp(k, "user") == 0) {
			if ((s = checked(fields, k, k, v, nb, sizeof(nb))) !=
			    NULL)
				set_str(&a->user, s);
		} else if (strcmp(k, "password") == 0) {
			const char *why;

			if (json_is_null(v) || (json_is_string(v) &&
			    json_string_length(v) == 0 && !create))
				continue;	/* unchanged */
			if (!json_is_string(v))
				why = account_valid_password("", 0);
			else
				why = account_valid_password(
				    json_string_value(v),
				    json_string_length(v));
			if (why != NULL)
				field_err(fields, k, why);
			else {
				free(ai->password);
				ai->password = xstrdup(json_string_value(v));
			}
		} else if (strcmp(k, "deliver_to") == 0) {
			take_deliver_to(fields, k, v, a);
		} else if (strcmp(k, "target") == 0) {
			if (empty(v)) {
				if (a->target != NULL)
					ai->admin_only = "target";
				set_str(&a->target, NULL);
				continue;
			}
			ai->admin_only = "target";
			if ((s = checked(fields, k, k, v, nb, sizeof(nb))) !=
			    NULL)
				set_str(&a->target, s);
		} else if (strcmp(k, "policy") == 0) {
			if ((s = checked(fields, k, k, v, nb, sizeof(nb))) !=
			    NULL)
				(void)account_policy_parse(s, &a->policy);
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
			int before = a->keep_days;

			get_num(fields, k, v, &a->keep_days);
			if (json_object_get(fields, k) == NULL &&
			    json_object_get(in, "policy") == NULL &&
			    json_object_get(in, "keep") == NULL &&
			    json_object_get(in, "delete") == NULL &&
			    (create || a->keep_days != before ||
			    a->policy == POLICY_KEEP_DAYS))
				a->policy = POLICY_KEEP_DAYS;
		} else if (strcmp(k, "max_per_pass") == 0 ||
		    strcmp(k, "timeout") == 0) {
			get_num(fields, k, v, k[0] == 'm' ? &a->max_per_pass :
			    &a->timeout);
		} else if (strcmp(k, "folders") == 0) {
			take_folders(fields, k, v, a);
		} else if (strcmp(k, "only_unseen") == 0) {
			(void)get_bool(fields, k, v, &a->only_unseen);
		} else if (strcmp(k, "mark_seen") == 0) {
			(void)get_bool(fields, k, v, &a->mark_seen);
		} else if (strcmp(k, "enabled") == 0) {
			(void)get_bool(fields, k, v, &a->enabled);
		} else if (acct_ext_apply(&ai->x, k, v, fields) == 1) {
			continue;
		} else if (strcmp(k, "has_password") == 0 ||
		    strcmp(k, "effective_port") == 0 ||
		    strcmp(k, "status") == 0 || strcmp(k, "created") == 0 ||
		    strcmp(k, "updated") == 0 ||
		    strcmp(k, "recipients") == 0 ||
		    strcmp(k, "oauth2_token") == 0 ||
		    strcmp(k, "recipient_warning") == 0 ||
		    strcmp(k, "recipient_check") == 0) {
			continue;	/* read-only, ignored */
		} else
			field_err(fields, k, "unknown field");
	}
	if (ai->x.admin_only != NULL && ai->admin_only == NULL)
		ai->admin_only = ai->x.admin_only;
	if (create) {
		if (json_object_get(in, "id") == NULL)
			field_err(fields, "id", "required");
		if (json_object_get(in, "protocol") == NULL)
			field_err(fields, "protocol", "required");
		if (a->host == NULL)
			field_err(fields, "host", "required");
		if (a->user == NULL)
			field_err(fields, "user", "required");
		if (ai->password == NULL && !ai->x.oa.oauth2)
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
	if (!acct_allowed(r, a)) {
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
		if (acct_allowed(r, &list[i]))
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
	acct_ext_check(r->st, a, &ai->x, fields);
	if (json_object_size(fields) > 0) {
		reply_error(r, 400, "invalid input", fields);
		return -1;
	}
	if (r->u.role != ROLE_ADMIN) {
		if (ai->admin_only != NULL)
			field_err(fields, ai->admin_only, "only an admin may "
			    "set this");
		else if (ai->host_set && (why = host_policy(a->host)) != NULL)
			field_err(fields, "host", why);
		if (json_object_size(fields) > 0) {
			reply_error(r, 403, "not allowed", fields);
			return -1;
		}
		if (!acct_allowed_rt(r, a, &ai->x.rt)) {
			field_err(fields, ai->x.rt.multidrop &&
			    json_object_get(r->in, "deliver_to") == NULL ?
			    "domains" : "deliver_to", r->u.role ==
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
	if (ai.password != NULL && store_password_set(r->st, a.id,
	    ai.password, strlen(ai.password), &e) == -1) {
		struct err de = { 0 };

		(void)store_account_delete(r->st, a.id, &de);
		err_clear(&de);
		rc = store_fail(r, &e);
		goto out;
	}
	if (acct_ext_save(r->st, a.id, &ai.x, &e) == -1) {
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
	acct_ext_clear(&ai.x);
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
	if (acct_ext_load(r->st, a->id, &ai.x, &e) == -1) {
		json_decref(fields);
		rc = store_fail(r, &e);
		goto out;
	}
	acct_apply(r->in, a, false, fields, &ai);
	if (acct_check_new(r, a, &ai, fields) == -1)
		goto out;
	if (store_account_update(r->st, a, &e) == -1 || (ai.password != NULL &&
	    store_password_set(r->st, a->id, ai.password,
	    strlen(ai.password), &e) == -1) ||
	    acct_ext_save(r->st, a->id, &ai.x, &e) == -1) {
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
	acct_ext_clear(&ai.x);
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
	} else if (strcmp(slash, "/authorize") == 0) {
		rc = api_oauth_authorize(r, &a);
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
