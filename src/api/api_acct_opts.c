/*
 * api_acct_opts.c - the account options that live beside struct account
 * in the store: routing (store/routing.h), the daemon's schedule and
 * status (store/status.h), spam and virus checks (store/filters.h) and
 * OAuth2 (store/oauth.h). Names and rules are the CLI's (`account
 * add|edit --multidrop --domains ...`), checked by the shared layer
 * (store/account_valid.h). Also the recipients a role check looks at.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "api/api_impl.h"
#include "route/route.h"
#include "store/account_valid.h"
#include "store/checks.h"
#include "store/settings.h"
#include "store/status.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

void
acct_ext_clear(struct acct_ext *x)
{
	routing_clear(&x->rt);
	acct_filter_clear(&x->flt);
	oauth_acct_clear(&x->oa);
	memset(x, 0, sizeof(*x));
}

int
acct_ext_load(struct store *st, const char *id, struct acct_ext *x,
    struct err *e)
{
	struct acct_status ss;

	memset(x, 0, sizeof(*x));
	if (id == NULL)
		return 0;
	if (store_routing_get(st, id, &x->rt, e) == -1 ||
	    store_filter_get(st, id, &x->flt, e) == -1 ||
	    store_oauth_get(st, id, &x->oa, e) == -1 ||
	    store_status_get(st, id, &ss, e) == -1)
		return -1;
	x->interval = ss.interval;
	x->idle = ss.idle;
	status_clear(&ss);
	return 0;
}

/* ---- JSON in ---- */

/* The text of a JSON value for the shared checks: a string (no NUL), or
 * an integer's decimal text; NULL for anything else. */
static const char *
jtext(json_t *v, char *buf, size_t cap)
{
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) != json_string_length(v))
			return NULL;
		return json_string_value(v);
	}
	if (json_is_integer(v)) {
		(void)snprintf(buf, cap, "%lld",
		    (long long)json_integer_value(v));
		return buf;
	}
	return NULL;
}

static bool
jempty(json_t *v)
{
	return json_is_null(v) || (json_is_string(v) &&
	    json_string_length(v) == 0) || (json_is_array(v) &&
	    json_array_size(v) == 0);
}

/* A checked text value of field k into *dst (NULL/"" clears when
 * may_clear). */
static void
take_text(json_t *fields, const char *k, const char *rule, json_t *v,
    char **dst, bool may_clear)
{
	char nb[32], msg[ACCOUNT_VALID_MSG_MAX];
	const char *s, *why;

	if (jempty(v) && may_clear) {
		xfree(dst);
		return;
	}
	if ((s = jtext(v, nb, sizeof(nb))) == NULL)
		s = "";
	if ((why = account_valid_field(rule, s, msg, sizeof(msg))) != NULL) {
		field_err(fields, k, s[0] == '\0' && !json_is_string(v) ?
		    "expected a string" : why);
		return;
	}
	free(*dst);
	*dst = xstrdup(s);
}

/* A list (JSON array of strings, or one string with items separated by
 * sep) checked item by item with rule, stored LF-separated in *dst. */
static void
take_list(json_t *fields, const char *k, const char *rule, json_t *v,
    char sep, char **dst)
{
	char msg[ACCOUNT_VALID_MSG_MAX], one[2] = { sep, '\0' };
	struct buf b;
	const char *s, *why;
	json_t *items, *x;
	size_t i;

	if (jempty(v)) {
		xfree(dst);
		return;
	}
	if (json_is_string(v)) {
		items = json_array();
		for (s = json_string_value(v); *s != '\0';) {
			size_t n = strcspn(s, one);

			json_array_append_new(items, json_stringn(s, n));
			s += n;
			if (*s != '\0')
				s++;
		}
	} else if (json_is_array(v))
		items = json_incref(v);
	else {
		field_err(fields, k, "expected a list");
		return;
	}
	buf_init(&b, 64 * 1024);
	json_array_foreach(items, i, x) {
		char *t;
		size_t n;

		if ((s = jtext(x, msg, sizeof(msg))) == NULL ||
		    strchr(s, '\n') != NULL) {
			field_err(fields, k, "expected a list of strings");
			break;
		}
		t = xstrdup(s + strspn(s, " \t"));
		while ((n = strlen(t)) > 0 && (t[n - 1] == ' ' ||
		    t[n - 1] == '\t'))
			t[n - 1] = '\0';
		if (t[0] == '\0') {
			free(t);
			continue;
		}
		if ((why = account_valid_field(rule, t, msg, sizeof(msg))) !=
		    NULL) {
			field_err(fields, k, why);
			free(t);
			break;
		}
		if ((b.len > 0 && buf_adds(&b, "\n") == -1) ||
		    buf_adds(&b, t) == -1) {
			field_err(fields, k, "the list is too long");
			free(t);
			break;
		}
		free(t);
	}
	json_decref(items);
	if (json_object_get(fields, k) == NULL) {
		free(*dst);
		*dst = b.len > 0 ? buf_detach(&b) : NULL;
	}
	buf_free(&b);
}

static void
take_bool(json_t *fields, const char *k, json_t *v, bool *dst)
{
	if (!json_is_boolean(v))
		field_err(fields, k, "expected true or false");
	else
		*dst = json_is_true(v);
}

int
acct_ext_apply(struct acct_ext *x, const char *k, json_t *v, json_t *fields)
{
	char nb[32], msg[ACCOUNT_VALID_MSG_MAX];
	const char *s, *why;
	char *tmp = NULL;

	/* routing */
	if (strcmp(k, "multidrop") == 0)
		take_bool(fields, k, v, &x->rt.multidrop);
	else if (strcmp(k, "domains") == 0)
		take_list(fields, k, "domains", v, ',', &x->rt.domains);
	else if (strcmp(k, "envelope_headers") == 0)
		take_list(fields, k, "envelope_header", v, ',',
		    &x->rt.envelope_headers);
	else if (strcmp(k, "rules") == 0)
		take_list(fields, k, "rule", v, '\n', &x->rt.rules);
	else if (strcmp(k, "postmaster") == 0)
		take_text(fields, k, "postmaster", v, &x->rt.postmaster, true);
	/* schedule */
	else if (strcmp(k, "interval") == 0) {
		if (jempty(v)) {
			x->interval = 0;
		} else if ((s = jtext(v, nb, sizeof(nb))) == NULL ||
		    (why = account_valid_field("interval", s, msg,
		    sizeof(msg))) != NULL)
			field_err(fields, k, s == NULL ? "expected a duration "
			    "from 10s to 7d (s, m, h, d), or default" : why);
		else if (strcmp(s, "default") == 0)
			x->interval = 0;
		else
			x->interval = (int)strnum_duration(s, 0, 7 * 86400,
			    &why);
		x->sched_set = true;
		return 1;
	} else if (strcmp(k, "idle") == 0) {
		take_bool(fields, k, v, &x->idle);
		x->sched_set = true;
		return 1;
	}
	/* filters */
	else if (strcmp(k, "spam_check") == 0)
		take_bool(fields, k, v, &x->flt.spam_check);
	else if (strcmp(k, "virus_check") == 0)
		take_bool(fields, k, v, &x->flt.virus_check);
	else if (strcmp(k, "spam_action") == 0 ||
	    strcmp(k, "scanner_down") == 0) {
		take_text(fields, k, k, v, &tmp, false);
		if (tmp != NULL && strcmp(k, "spam_action") == 0)
			(void)filter_spam_action_parse(tmp, &x->flt.spam_action);
		else if (tmp != NULL)
			(void)filter_down_policy_parse(tmp,
			    &x->flt.scanner_down);
		free(tmp);
	} else if (strcmp(k, "provider_host") == 0)
		take_text(fields, k, k, v, &x->flt.provider_host, true);
	/* OAuth2 (the client secret only from the CLI: a file) */
	else if (strcmp(k, "auth") == 0) {
		take_text(fields, k, k, v, &tmp, false);
		if (tmp != NULL)
			x->oa.oauth2 = strcmp(tmp, "oauth2") == 0;
		free(tmp);
		x->oa_set = true;
		return 1;
	} else if (strcmp(k, "oauth2_provider") == 0)
		take_text(fields, k, k, v, &x->oa.provider, true);
	else if (strcmp(k, "oauth2_tenant") == 0)
		take_text(fields, k, k, v, &x->oa.tenant, true);
	else if (strcmp(k, "oauth2_client_id") == 0)
		take_text(fields, k, k, v, &x->oa.client_id, true);
	else if (strcmp(k, "oauth2_scope") == 0)
		take_text(fields, k, k, v, &x->oa.scope, true);
	else if (strcmp(k, "oauth2_mechanism") == 0) {
		take_text(fields, k, k, v, &x->oa.mech, true);
		if (x->oa.mech != NULL && strcmp(x->oa.mech, "auto") == 0)
			xfree(&x->oa.mech);
	} else if (strcmp(k, "oauth2_auth_url") == 0 ||
	    strcmp(k, "oauth2_token_url") == 0 ||
	    strcmp(k, "oauth2_device_url") == 0) {
		/* the server would connect there: admins only, like hosts
		 * on internal addresses and targets */
		x->admin_only = k;
		take_text(fields, k, k, v, k[7] == 'a' ? &x->oa.auth_url :
		    k[7] == 't' ? &x->oa.token_url : &x->oa.device_url, true);
	} else
		return 0;
	if (strncmp(k, "oauth2_", 7) == 0)
		x->oa_set = true;
	else if (strcmp(k, "spam_check") == 0 || strcmp(k, "virus_check") ==
	    0 || strcmp(k, "spam_action") == 0 || strcmp(k, "scanner_down") ==
	    0 || strcmp(k, "provider_host") == 0)
		x->flt_set = true;
	else
		x->rt_set = true;
	return 1;
}

static int
group_from_store(void *arg, const char *name, char ***members_r,
    size_t *n_r, struct err *e)
{
	return store_group_get(arg, name, members_r, n_r, e);
}

/* The whole configuration must make sense, as `account add|edit` needs:
 * the routing builds, an OAuth2 profile is complete. */
void
acct_ext_check(struct store *st, const struct account *a,
    const struct acct_ext *x, json_t *fields)
{
	struct route_config cfg = { 0 };
	struct route *r = NULL;
	struct err e = { 0 };
	char *pm = NULL, *ld = NULL;

	if (x->oa.oauth2) {
		if (x->oa.provider == NULL)
			field_err(fields, "oauth2_provider", "auth oauth2 "
			    "needs a provider: google, microsoft or custom");
		else if (strcmp(x->oa.provider, "custom") == 0 &&
		    (x->oa.token_url == NULL || (x->oa.auth_url == NULL &&
		    x->oa.device_url == NULL)))
			field_err(fields, "oauth2_token_url", "a custom "
			    "provider needs a token URL and an authorization "
			    "(or device) URL");
		if (x->oa.tenant != NULL && (x->oa.provider == NULL ||
		    strcmp(x->oa.provider, "microsoft") != 0))
			field_err(fields, "oauth2_tenant", "a tenant is for "
			    "the microsoft provider");
	}
	if (a->id == NULL)
		return;
	(void)store_setting_get(st, "postmaster", &pm, NULL);
	(void)store_setting_get(st, "local-domain", &ld, NULL);
	cfg.account = a->id;
	cfg.deliver_to = a->deliver_to;
	cfg.multidrop = x->rt.multidrop;
	cfg.domains = x->rt.domains;
	cfg.envelope_headers = x->rt.envelope_headers;
	cfg.rules = x->rt.rules;
	cfg.postmaster = x->rt.postmaster != NULL ? x->rt.postmaster : pm;
	cfg.local_domain = ld;
	cfg.group_get = group_from_store;
	cfg.group_arg = st;
	if (route_create(&r, &cfg, &e) == -1)
		field_err(fields, x->rt.multidrop && x->rt.domains == NULL ?
		    "domains" : strstr(err_msg(&e), "group") != NULL ||
		    !x->rt.multidrop ? "deliver_to" : "rules", err_msg(&e));
	route_close(&r);
	err_clear(&e);
	free(pm);
	free(ld);
}

int
acct_ext_save(struct store *st, const char *id, const struct acct_ext *x,
    struct err *e)
{
	if (x->rt_set && store_routing_set(st, id, &x->rt, e) == -1)
		return -1;
	if (x->flt_set && store_filter_set(st, id, &x->flt, e) == -1)
		return -1;
	if (x->oa_set && (x->oa.oauth2 || x->oa.provider != NULL) &&
	    store_oauth_set(st, id, &x->oa, e) == -1)
		return -1;
	if (x->sched_set && store_status_set_schedule(st, id, x->interval,
	    x->idle, e) == -1)
		return -1;
	return 0;
}

/* ---- JSON out ---- */

static json_t *
lf_array(const char *s)
{
	json_t *a = json_array();
	const char *p, *nl;

	if (s == NULL)
		return a;
	for (p = s; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		if (nl > p)
			json_array_append_new(a, json_stringn(p,
			    (size_t)(nl - p)));
	}
	return a;
}

static json_t *
opt_time(int64_t t)
{
	return t != 0 ? json_integer(t) : json_null();
}

void
acct_ext_json(struct store *st, const struct account *a, json_t *j)
{
	struct acct_ext x;
	struct acct_status ss;
	json_t *s;

	if (acct_ext_load(st, a->id, &x, NULL) == -1) {
		acct_ext_clear(&x);
		return;
	}
	json_object_set_new(j, "multidrop", json_boolean(x.rt.multidrop));
	json_object_set_new(j, "domains", lf_array(x.rt.domains));
	json_object_set_new(j, "envelope_headers", x.rt.envelope_headers !=
	    NULL ? lf_array(x.rt.envelope_headers) : json_null());
	json_object_set_new(j, "rules", lf_array(x.rt.rules));
	json_object_set_new(j, "postmaster", x.rt.postmaster != NULL ?
	    json_string(x.rt.postmaster) : json_null());
	json_object_set_new(j, "interval", x.interval > 0 ?
	    json_integer(x.interval) : json_null());
	json_object_set_new(j, "idle", json_boolean(x.idle));
	json_object_set_new(j, "spam_check", json_boolean(x.flt.spam_check));
	json_object_set_new(j, "virus_check",
	    json_boolean(x.flt.virus_check));
	json_object_set_new(j, "spam_action", json_string(
	    filter_spam_action_name(x.flt.spam_action)));
	json_object_set_new(j, "scanner_down", json_string(
	    filter_down_policy_name(x.flt.scanner_down)));
	json_object_set_new(j, "provider_host", x.flt.provider_host != NULL ?
	    json_string(x.flt.provider_host) : json_null());
	json_object_set_new(j, "auth", json_string(x.oa.oauth2 ? "oauth2" :
	    "password"));
	json_object_set_new(j, "oauth2_provider", x.oa.provider != NULL ?
	    json_string(x.oa.provider) : json_null());
	json_object_set_new(j, "oauth2_tenant", x.oa.tenant != NULL ?
	    json_string(x.oa.tenant) : json_null());
	json_object_set_new(j, "oauth2_client_id", x.oa.client_id != NULL ?
	    json_string(x.oa.client_id) : json_null());
	json_object_set_new(j, "oauth2_scope", x.oa.scope != NULL ?
	    json_string(x.oa.scope) : json_null());
	json_object_set_new(j, "oauth2_mechanism", json_string(x.oa.mech !=
	    NULL ? x.oa.mech : "auto"));
	json_object_set_new(j, "oauth2_auth_url", x.oa.auth_url != NULL ?
	    json_string(x.oa.auth_url) : json_null());
	json_object_set_new(j, "oauth2_token_url", x.oa.token_url != NULL ?
	    json_string(x.oa.token_url) : json_null());
	json_object_set_new(j, "oauth2_device_url", x.oa.device_url != NULL ?
	    json_string(x.oa.device_url) : json_null());
	if (x.oa.oauth2) {
		char hint[400];

		(void)snprintf(hint, sizeof(hint), "run 'mailpull account "
		    "authorize %s' on the server", a->id);
		json_object_set_new(j, "oauth2_token", json_pack("{s:s, s:s?, "
		    "s:o, s:o, s:b, s:s}", "state",
		    x.oa.state == OAUTH_TS_AUTHORIZED ? "authorized" :
		    x.oa.state == OAUTH_TS_NEEDED ? "needed" : "none",
		    "reason", x.oa.reason, "expires_at",
		    opt_time(x.oa.expires_at), "authorized_at",
		    opt_time(x.oa.authorized_at), "client_secret",
		    x.oa.has_client_secret, "authorize", hint));
	} else
		json_object_set_new(j, "oauth2_token", json_null());
	acct_ext_clear(&x);

	/* the last recipient check (`account check`, daily in serve): the
	 * same warning as `account list --json` */
	{
		struct account_check c = { 0 };
		struct buf w;
		const char *p;

		buf_init(&w, 8192);
		if (store_check_get(st, a->id, &c, NULL) == 0 &&
		    c.gone != NULL) {
			(void)buf_adds(&w, "local recipient gone at the "
			    "target: ");
			for (p = c.gone; *p != '\0'; p++)
				(void)buf_add(&w, *p == '\n' ? ", " : p,
				    *p == '\n' ? 2 : 1);
		}
		json_object_set_new(j, "recipient_warning", w.len > 0 ?
		    json_stringn(w.data, w.len) : json_null());
		json_object_set_new(j, "recipient_checked", opt_time(
		    c.checked_at));
		account_check_clear(&c);
		buf_free(&w);
	}

	/* the daemon's view (serve writes it after each pass) */
	s = json_object_get(j, "status");
	if (s != NULL && store_status_get(st, a->id, &ss, NULL) == 0) {
		/* Before serve's first word the run log decides (a manual
		 * pass writes both). */
		if (a->enabled && ss.state != STATUS_NEW) {
			json_object_set_new(s, "state", json_string(
			    status_state_name(ss.state)));
			json_object_set_new(s, "failing_since",
			    opt_time(ss.failing_since));
		}
		json_object_set_new(s, "consecutive_failures",
		    json_integer(ss.consecutive_failures));
		json_object_set_new(s, "last_error", ss.last_error != NULL ?
		    json_string(ss.last_error) : json_null());
		json_object_set_new(s, "last_class", ss.last_class != NULL ?
		    json_string(ss.last_class) : json_null());
		json_object_set_new(s, "last_success",
		    opt_time(ss.last_success));
		json_object_set_new(s, "next_check", a->enabled ?
		    opt_time(ss.next_check) : json_null());
		status_clear(&ss);
	}
}
