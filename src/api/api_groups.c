/*
 * api_groups.c - /api/v1/groups: named lists of local addresses used as
 * deliver_to "@NAME" and as rule destinations (the same rules as
 * `mailpull group`).
 *
 * Who: an admin every group; a domain admin the groups whose every member
 * is in one of their domains (a bare name counts at the local-domain
 * setting; without one it is admin-only), checked before and after a
 * change, so a domain admin can neither see nor widen another domain's
 * group; a user none (403). A group the caller may not see is "not
 * found". A group an account uses cannot be deleted (409).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_impl.h"
#include "route/route.h"
#include "store/journal.h"
#include "store/routing.h"
#include "store/settings.h"
#include "util/log.h"
#include "util/xmalloc.h"

bool
groups_members_allowed(struct req *r, char *const *m, size_t n)
{
	char *ld = NULL;
	const char *at, *dom;
	size_t i;
	bool ok = true;

	if (r->u.role == ROLE_ADMIN)
		return true;
	if (r->u.role != ROLE_DOMAIN_ADMIN)
		return false;
	(void)store_setting_get(r->st, "local-domain", &ld, NULL);
	for (i = 0; ok && i < n; i++) {
		at = strrchr(m[i], '@');
		dom = at != NULL ? at + 1 : ld;
		ok = dom != NULL && user_domain_in(r->u.domains, dom);
	}
	free(ld);
	return ok;
}

static json_t *
group_json(const char *name, char *const *m, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(m[i]));
	return json_pack("{s:s, s:o}", "name", name, "members", a);
}

static int
fail(struct req *r, struct err *e)
{
	int rc = reply_store_error(r, e);

	err_clear(e);
	return rc;
}

/* Members from the body: 0 with *m_r (n_r) or -1 after a 400. */
static int
members_in(struct req *r, char ***m_r, size_t *n_r)
{
	json_t *v = json_object_get(r->in, "members"), *x, *fields;
	struct err e = { 0 };
	const char *s, *why = NULL;
	char **m;
	size_t i, j, n;

	*m_r = NULL;
	*n_r = 0;
	if (!json_is_array(v) || json_array_size(v) == 0)
		why = "expected a list of at least one local address";
	else if (json_array_size(v) > GROUP_MEMBERS_MAX)
		why = "too many members";
	else
		json_array_foreach(v, i, x) {
			s = json_string_value(x);
			if (s == NULL || strlen(s) != json_string_length(x)) {
				why = "expected a list of local addresses";
				break;
			}
			if (s[0] == '@') {
				why = "groups do not nest; list the addresses";
				break;
			}
			if (route_local_check(s, &e) == -1) {
				fields = json_object();
				field_err(fields, "members", err_msg(&e));
				err_clear(&e);
				reply_error(r, 400, "invalid input", fields);
				return -1;
			}
			for (j = 0; j < i; j++)
				if (strcasecmp(s, json_string_value(
				    json_array_get(v, j))) == 0)
					why = "a member is listed twice";
			if (why != NULL)
				break;
		}
	if (why != NULL) {
		fields = json_object();
		field_err(fields, "members", why);
		reply_error(r, 400, "invalid input", fields);
		return -1;
	}
	n = json_array_size(v);
	m = xcalloc(n + 1, sizeof(*m));
	json_array_foreach(v, i, x)
		m[i] = xstrdup(json_string_value(x));
	*m_r = m;
	*n_r = n;
	return 0;
}

/* Does the comma- or LF-separated list name @name? */
static bool
list_uses(const char *list, const char *name)
{
	size_t nl = strlen(name);
	const char *p;

	if (list == NULL)
		return false;
	for (p = list; (p = strchr(p, '@')) != NULL; p++) {
		if (p != list && strchr(",\n \t>", p[-1]) == NULL)
			continue;
		if (strncmp(p + 1, name, nl) == 0 && (p[1 + nl] == '\0' ||
		    strchr(",\n \t", p[1 + nl]) != NULL))
			return true;
	}
	return false;
}

/* The first account routing to @name (allocated) or NULL. */
static char *
group_user(struct store *st, const char *name)
{
	struct account *list = NULL;
	struct routing rt;
	size_t n = 0, i;
	char *who = NULL;

	if (store_account_list(st, &list, &n, NULL) == -1)
		return NULL;
	for (i = 0; i < n && who == NULL; i++) {
		if (list_uses(list[i].deliver_to, name))
			who = xstrdup(list[i].id);
		else if (store_routing_get(st, list[i].id, &rt, NULL) == 0) {
			if (list_uses(rt.rules, name))
				who = xstrdup(list[i].id);
			routing_clear(&rt);
		}
	}
	store_account_list_free(&list, n);
	return who;
}

static int
groups_list(struct req *r)
{
	struct err e = { 0 };
	char **names = NULL, **m = NULL;
	size_t n = 0, nm = 0, i;
	json_t *out;

	if (store_group_list(r->st, &names, &n, &e) == -1)
		return fail(r, &e);
	out = json_array();
	for (i = 0; i < n; i++) {
		if (store_group_get(r->st, names[i], &m, &nm, &e) == -1) {
			store_strv_free(&names, n);
			json_decref(out);
			return fail(r, &e);
		}
		if (groups_members_allowed(r, m, nm))
			json_array_append_new(out, group_json(names[i], m,
			    nm));
		store_strv_free(&m, nm);
	}
	store_strv_free(&names, n);
	return reply_json(r, 200, out);
}

static int
groups_add(struct req *r)
{
	struct err e = { 0 };
	json_t *fields, *v;
	const char *name;
	char **m = NULL;
	size_t n = 0;
	int rc;

	if (req_body(r) == -1)
		return 0;
	v = json_object_get(r->in, "name");
	name = json_string_value(v);
	if (name == NULL || strlen(name) != json_string_length(v) ||
	    route_group_name_check(name, &e) == -1) {
		fields = json_object();
		field_err(fields, "name", name == NULL ? "required" :
		    e.msg != NULL ? err_msg(&e) : "invalid group name");
		err_clear(&e);
		return reply_error(r, 400, "invalid input", fields);
	}
	if (members_in(r, &m, &n) == -1)
		return 0;
	if (!groups_members_allowed(r, m, n)) {
		fields = json_object();
		field_err(fields, "members", "every member must be in one of "
		    "your domains");
		rc = reply_error(r, 403, "not allowed", fields);
	} else if (store_group_add(r->st, name, m, n, &e) == -1) {
		if (e.cls == ERR_CONFIG) {
			rc = reply_error(r, 409, "a group with this name "
			    "already exists", NULL);
			err_clear(&e);
		} else
			rc = fail(r, &e);
	} else {
		log_info("api: group %s added by %s", name, r->u.name);
		rc = reply_json(r, 201, group_json(name, m, n));
	}
	store_strv_free(&m, n);
	return rc;
}

int
api_groups(struct req *r, const char *path)
{
	struct err e = { 0 };
	const char *m = r->method, *name;
	char **mem = NULL, **nm = NULL, *who;
	size_t n = 0, nn = 0;
	json_t *fields;
	int rc;

	if (r->u.role == ROLE_USER)
		return reply_error(r, 403, "admins and domain admins only",
		    NULL);
	if (path[0] == '\0' || strcmp(path, "/") == 0) {
		if (strcmp(m, "GET") == 0)
			return groups_list(r);
		if (strcmp(m, "POST") == 0)
			return groups_add(r);
		return reply_error(r, 405, "use GET or POST", NULL);
	}
	name = path + 1;
	if (strchr(name, '/') != NULL || route_group_name_check(name,
	    NULL) == -1)
		return reply_error(r, 404, "no such group", NULL);
	if (store_group_get(r->st, name, &mem, &n, &e) == -1) {
		if (e.cls != ERR_CONFIG)
			return fail(r, &e);
		err_clear(&e);
		return reply_error(r, 404, "no such group", NULL);
	}
	if (!groups_members_allowed(r, mem, n)) {
		store_strv_free(&mem, n);
		return reply_error(r, 404, "no such group", NULL);
	}
	if (strcmp(m, "GET") == 0)
		rc = reply_json(r, 200, group_json(name, mem, n));
	else if (strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
		if (req_body(r) == -1 || members_in(r, &nm, &nn) == -1)
			rc = 0;
		else if (!groups_members_allowed(r, nm, nn)) {
			fields = json_object();
			field_err(fields, "members", "every member must be in "
			    "one of your domains");
			rc = reply_error(r, 403, "not allowed", fields);
		} else if (store_group_set(r->st, name, nm, nn, &e) == -1)
			rc = fail(r, &e);
		else {
			log_info("api: group %s changed by %s", name,
			    r->u.name);
			rc = reply_json(r, 200, group_json(name, nm, nn));
		}
		store_strv_free(&nm, nn);
	} else if (strcmp(m, "DELETE") == 0) {
		if ((who = group_user(r->st, name)) != NULL) {
			char msg[400];

			(void)snprintf(msg, sizeof(msg), "the group is used "
			    "by the account %s", who);
			rc = reply_error(r, 409, msg, NULL);
			free(who);
		} else if (store_group_delete(r->st, name, &e) == -1)
			rc = fail(r, &e);
		else {
			log_info("api: group %s deleted by %s", name,
			    r->u.name);
			rc = reply_json(r, 200, json_pack("{s:b}", "ok", 1));
		}
	} else
		rc = reply_error(r, 405, "use GET, PUT or DELETE", NULL);
	store_strv_free(&mem, n);
	return rc;
}
