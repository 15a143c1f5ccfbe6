/*
 * api_admin.c - admin-only endpoints: /api/v1/settings (the registry of
 * store/settings_keys.c, the same checks as `mailpull config`) and
 * /api/v1/users (the same rules as `mailpull user`).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api/api_impl.h"
#include "store/settings.h"
#include "store/settings_keys.h"
#include "store/users.h"
#include "util/log.h"
#include "util/xmalloc.h"

static int
fail(struct req *r, struct err *e)
{
	int rc = reply_store_error(r, e);

	err_clear(e);
	return rc;
}

static int
settings_get(struct req *r)
{
	struct err e = { 0 };
	json_t *out, *keys, *vals;
	char *v;
	size_t i;

	keys = json_array();
	vals = json_object();
	for (i = 0; i < settings_keys_count; i++) {
		if (store_setting_get(r->st, settings_keys[i].key, &v, &e) ==
		    -1) {
			json_decref(keys);
			json_decref(vals);
			return fail(r, &e);
		}
		json_array_append_new(keys, json_pack("{s:s, s:s, s:s?}",
		    "key", settings_keys[i].key, "help",
		    settings_keys[i].help, "value", v));
		json_object_set_new(vals, settings_keys[i].key, v != NULL ?
		    json_string(v) : json_null());
		free(v);
	}
	out = json_pack("{s:o, s:o}", "settings", vals, "keys", keys);
	return reply_json(r, 200, out);
}

static int
settings_put(struct req *r)
{
	json_t *fields = json_object(), *v, *in;
	const struct settings_key *sk;
	const char *k, *why;
	struct err e = { 0 };
	char **canon;
	size_t n, i;

	if (req_body(r) == -1) {
		json_decref(fields);
		return 0;
	}
	/* Accept {"settings": {...}} (what GET answers) or the bare map. */
	in = json_object_get(r->in, "settings");
	if (!json_is_object(in))
		in = r->in;
	n = json_object_size(in);
	canon = xcalloc(n + 1, sizeof(*canon));
	i = 0;
	json_object_foreach(in, k, v) {
		why = NULL;
		if ((sk = settings_key_find(k)) == NULL)
			field_err(fields, k, "unknown setting");
		else if (json_is_null(v) || (json_is_string(v) &&
		    json_string_length(v) == 0))
			canon[i] = NULL;
		else if (!json_is_string(v) || strlen(json_string_value(v)) !=
		    json_string_length(v))
			field_err(fields, k, "expected a string");
		else if ((canon[i] = sk->check(json_string_value(v), &why)) ==
		    NULL)
			field_err(fields, k, why != NULL ? why :
			    "invalid value");
		i++;
	}
	if (json_object_size(fields) > 0) {
		for (i = 0; i < n; i++)
			free(canon[i]);
		free(canon);
		return reply_error(r, 400, "invalid input", fields);
	}
	json_decref(fields);
	i = 0;
	json_object_foreach(in, k, v) {
		if (store_setting_set(r->st, k, canon[i], &e) == -1)
			break;
		log_info("api: setting %s %s by %s", k, canon[i] != NULL ?
		    "changed" : "unset", r->u.name);
		i++;
	}
	for (i = 0; i < n; i++)
		free(canon[i]);
	free(canon);
	if (e.cls != ERR_NONE)
		return fail(r, &e);
	return settings_get(r);
}

int
api_settings(struct req *r)
{
	if (r->u.role != ROLE_ADMIN)
		return reply_error(r, 403, "admins only", NULL);
	if (strcmp(r->method, "GET") == 0)
		return settings_get(r);
	if (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "PATCH") == 0)
		return settings_put(r);
	return reply_error(r, 405, "use GET or PUT", NULL);
}

static json_t *
user_out(const struct user *u)
{
	json_t *d = json_array();
	const char *p, *q;

	if (u->domains != NULL)
		for (p = u->domains; *p != '\0'; p = *q == ',' ? q + 1 : q) {
			q = p + strcspn(p, ",");
			json_array_append_new(d, json_stringn(p,
			    (size_t)(q - p)));
		}
	return json_pack("{s:s, s:s, s:o, s:s?, s:I}", "name", u->name,
	    "role", user_role_name(u->role), "domains", d, "address",
	    u->address, "created", (json_int_t)u->created);
}

static int
users_list(struct req *r)
{
	struct user *list = NULL;
	struct err e = { 0 };
	size_t n = 0, i;
	json_t *out;

	if (store_user_list(r->st, &list, &n, &e) == -1)
		return fail(r, &e);
	out = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(out, user_out(&list[i]));
	store_user_list_free(&list, n);
	return reply_json(r, 200, out);
}

/* A one-time password: 16 random bytes, base64 URL-safe (22 chars). */
static void
password_generate(char *out, size_t cap)
{
	unsigned char b[16];

	randombytes_buf(b, sizeof(b));
	sodium_bin2base64(out, cap, b, sizeof(b),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(b, sizeof(b));
}

static int
users_add(struct req *r)
{
	json_t *fields = json_object(), *v;
	struct user u;
	struct err e = { 0 };
	const char *s, *why;
	char gen[64] = "";
	const char *pw = NULL;
	int rc;

	if (req_body(r) == -1) {
		json_decref(fields);
		return 0;
	}
	memset(&u, 0, sizeof(u));
	v = json_object_get(r->in, "name");
	if (!json_is_string(v) || (why = user_name_check(json_string_value(
	    v))) != NULL)
		field_err(fields, "name", json_is_string(v) ? why :
		    "required");
	else
		u.name = xstrdup(json_string_value(v));
	v = json_object_get(r->in, "role");
	if (!json_is_string(v) || user_role_parse(json_string_value(v),
	    &u.role) == -1)
		field_err(fields, "role", "expected admin, domain-admin or "
		    "user");
	v = json_object_get(r->in, "domains");
	if (json_is_array(v)) {
		struct buf b;
		size_t i;
		json_t *x;

		buf_init(&b, 4096);
		json_array_foreach(v, i, x)
			if (!json_is_string(x) || (i > 0 && buf_adds(&b, ",") ==
			    -1) || buf_adds(&b, json_string_value(x)) == -1)
				field_err(fields, "domains", "expected a list "
				    "of domain names");
		if (b.data != NULL && json_object_get(fields, "domains") ==
		    NULL && (u.domains = user_domains_canon(b.data, &why)) ==
		    NULL)
			field_err(fields, "domains", why);
		buf_free(&b);
	} else if (json_is_string(v) && json_string_length(v) > 0) {
		if ((u.domains = user_domains_canon(json_string_value(v),
		    &why)) == NULL)
			field_err(fields, "domains", why);
	} else if (v != NULL && !json_is_null(v) && !json_is_string(v))
		field_err(fields, "domains", "expected a list of domain names");
	v = json_object_get(r->in, "address");
	if (json_is_string(v) && json_string_length(v) > 0) {
		if ((u.address = user_address_canon(json_string_value(v),
		    &why)) == NULL)
			field_err(fields, "address", why);
	} else if (v != NULL && !json_is_null(v) && !json_is_string(v))
		field_err(fields, "address", "expected an address");
	if (json_object_get(fields, "role") == NULL) {
		if (u.role == ROLE_DOMAIN_ADMIN && u.domains == NULL)
			field_err(fields, "domains", "a domain admin needs "
			    "at least one domain");
		if (u.role == ROLE_USER && u.address == NULL)
			field_err(fields, "address", "a user needs an "
			    "address");
	}
	v = json_object_get(r->in, "password");
	if (json_is_true(json_object_get(r->in, "generate"))) {
		password_generate(gen, sizeof(gen));
		pw = gen;
	} else if ((s = json_string_value(v)) == NULL || s[0] == '\0')
		field_err(fields, "password", "required (or \"generate\": "
		    "true)");
	else if (json_string_length(v) < 8 || json_string_length(v) >
	    USER_PASSWORD_MAX || strlen(s) != json_string_length(v))
		field_err(fields, "password", "expected 8 to 1024 bytes");
	else
		pw = s;
	if (json_object_size(fields) > 0) {
		user_clear(&u);
		return reply_error(r, 400, "invalid input", fields);
	}
	json_decref(fields);
	if (store_user_add(r->st, &u, pw, strlen(pw), &e) == -1) {
		if (e.cls == ERR_CONFIG) {
			rc = reply_error(r, 409, err_msg(&e), NULL);
			err_clear(&e);
		} else
			rc = fail(r, &e);
		user_clear(&u);
		sodium_memzero(gen, sizeof(gen));
		return rc;
	}
	log_info("api: user %s (%s) added by %s", u.name,
	    user_role_name(u.role), r->u.name);
	u.created = (int64_t)time(NULL);
	v = user_out(&u);
	/* A generated password is shown once, here. */
	if (gen[0] != '\0')
		json_object_set_new(v, "password", json_string(gen));
	sodium_memzero(gen, sizeof(gen));
	user_clear(&u);
	return reply_json(r, 201, v);
}

static int
users_delete(struct req *r, const char *name)
{
	struct user u;
	struct err e = { 0 };
	int admins = 0;

	if (store_user_get(r->st, name, &u, &e) == -1) {
		if (e.cls != ERR_CONFIG)
			return fail(r, &e);
		err_clear(&e);
		return reply_error(r, 404, "no such user", NULL);
	}
	if (u.role == ROLE_ADMIN) {
		if (store_user_count_admins(r->st, &admins, &e) == -1) {
			user_clear(&u);
			return fail(r, &e);
		}
		if (admins <= 1) {
			user_clear(&u);
			return reply_error(r, 409, "the last admin cannot be "
			    "deleted", NULL);
		}
	}
	user_clear(&u);
	if (store_user_delete(r->st, name, &e) == -1)
		return fail(r, &e);
	log_info("api: user %s deleted by %s", name, r->u.name);
	return reply_json(r, 200, json_pack("{s:b}", "ok", 1));
}

int
api_users(struct req *r, const char *path)
{
	if (r->u.role != ROLE_ADMIN)
		return reply_error(r, 403, "admins only", NULL);
	if (path[0] == '\0' || strcmp(path, "/") == 0) {
		if (strcmp(r->method, "GET") == 0)
			return users_list(r);
		if (strcmp(r->method, "POST") == 0)
			return users_add(r);
		return reply_error(r, 405, "use GET or POST", NULL);
	}
	if (strchr(path + 1, '/') != NULL)
		return reply_error(r, 404, "no such endpoint", NULL);
	if (strcmp(r->method, "DELETE") == 0)
		return users_delete(r, path + 1);
	return reply_error(r, 405, "use DELETE", NULL);
}
