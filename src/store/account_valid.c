/*
 * account_valid.c - account field validation shared by the CLI and the
 * API (account_valid.h). The syntax of targets, routing items and OAuth2
 * endpoints is decided by their own modules (deliver/, route/, oauth/);
 * this file only says which rule applies to which field and words the
 * answer once.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deliver/target.h"
#include "oauth/oauth.h"
#include "route/route.h"
#include "store/account.h"
#include "store/account_valid.h"
#include "store/filters.h"
#include "util/err.h"
#include "util/strnum.h"

#define PASSWORD_MAX	4096

enum kind {
	K_ID, K_TEXT, K_NUM, K_INTERVAL, K_PROTOCOL, K_SECURITY, K_POLICY,
	K_TARGET, K_CA_FILE, K_DELIVER_TO, K_DOMAINS, K_HEADER, K_RULE,
	K_POSTMASTER, K_PROVIDER_HOST, K_AUTH, K_OAUTH_PROVIDER, K_TENANT,
	K_URL, K_MECH, K_SPAM_ACTION, K_SCANNER_DOWN, K_FOLDER,
};

struct field {
	const char *name;
	enum kind kind;
	long long min, max;	/* K_NUM range; K_TEXT: max length */
	bool space;		/* K_TEXT: spaces allowed */
	const char *msg;	/* K_TEXT: what is expected */
};

static const struct field fields[] = {
	{ "id", K_ID, 0, 0, false, NULL },
	{ "protocol", K_PROTOCOL, 0, 0, false, NULL },
	{ "host", K_TEXT, 0, 253, false, "expected a host name or address" },
	{ "port", K_NUM, 1, 65535, false, NULL },
	{ "security", K_SECURITY, 0, 0, false, NULL },
	{ "ca_file", K_CA_FILE, 0, 0, false, NULL },
	{ "user", K_TEXT, 0, 512, true, "expected a login name" },
	{ "deliver_to", K_DELIVER_TO, 0, 0, false, NULL },
	{ "target", K_TARGET, 0, 0, false, NULL },
	{ "policy", K_POLICY, 0, 0, false, NULL },
	{ "keep_days", K_NUM, 0, 36500, false, NULL },
	{ "max_per_pass", K_NUM, 0, 10000000, false, NULL },
	{ "timeout", K_NUM, 1, 3600, false, NULL },
	{ "folder", K_FOLDER, 0, 0, false, NULL },
	{ "folders", K_FOLDER, 0, 0, false, NULL },
	{ "interval", K_INTERVAL, 0, 0, false, NULL },
	/* routing */
	{ "domains", K_DOMAINS, 0, 0, false, NULL },
	{ "envelope_header", K_HEADER, 0, 0, false, NULL },
	{ "envelope_headers", K_HEADER, 0, 0, false, NULL },
	{ "rule", K_RULE, 0, 0, false, NULL },
	{ "rules", K_RULE, 0, 0, false, NULL },
	{ "postmaster", K_POSTMASTER, 0, 0, false, NULL },
	/* filters */
	{ "spam_action", K_SPAM_ACTION, 0, 0, false, NULL },
	{ "scanner_down", K_SCANNER_DOWN, 0, 0, false, NULL },
	{ "provider_host", K_PROVIDER_HOST, 0, 0, false, NULL },
	/* OAuth2 */
	{ "auth", K_AUTH, 0, 0, false, NULL },
	{ "oauth2_provider", K_OAUTH_PROVIDER, 0, 0, false, NULL },
	{ "oauth2_tenant", K_TENANT, 0, 0, false, NULL },
	{ "oauth2_auth_url", K_URL, 0, 0, false, NULL },
	{ "oauth2_token_url", K_URL, 0, 0, false, NULL },
	{ "oauth2_device_url", K_URL, 0, 0, false, NULL },
	{ "oauth2_client_id", K_TEXT, 0, 512, false,
	    "expected a client id" },
	{ "oauth2_scope", K_TEXT, 0, 2048, true, "expected a scope" },
	{ "oauth2_mechanism", K_MECH, 0, 0, false, NULL },
};

/* Printable, no control characters, 1..max bytes. */
static bool
text_ok(const char *s, size_t max, bool space)
{
	const unsigned char *p;

	if (s[0] == '\0' || strlen(s) > max)
		return false;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || (!space && *p == ' '))
			return false;
	return true;
}

static const struct field *
field_find(const char *name)
{
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(fields); i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

int
account_valid_range(const char *name, long long *min_r, long long *max_r)
{
	const struct field *f = field_find(name);

	if (f == NULL || f->kind != K_NUM)
		return -1;
	*min_r = f->min;
	*max_r = f->max;
	return 0;
}

/* Copy an err's message into buf and return buf. */
static const char *
from_err(struct err *e, char *buf, size_t cap)
{
	(void)snprintf(buf, cap, "%s", err_msg(e));
	err_clear(e);
	return buf;
}

/* One item of a comma-separated list (trimmed) through check. */
static const char *
each_item(const char *v, const char *(*check)(const char *, char *, size_t),
    char *buf, size_t cap)
{
	char item[1024];
	const char *p, *q, *why;
	size_t n;
	bool any = false;

	for (p = v; *p != '\0'; p = *q == ',' ? q + 1 : q) {
		p += strspn(p, " \t");
		q = p + strcspn(p, ",");
		n = (size_t)(q - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		if (n >= sizeof(item))
			return "an item of the list is too long";
		memcpy(item, p, n);
		item[n] = '\0';
		if ((why = check(item, buf, cap)) != NULL)
			return why;
		any = true;
	}
	return any ? NULL : "the list is empty";
}

static const char *
rcpt_check(const char *s, char *buf, size_t cap)
{
	struct err e = { 0 };

	if (s[0] == '@') {
		if (route_group_name_check(s + 1, &e) == -1)
			return from_err(&e, buf, cap);
		return NULL;
	}
	if (route_local_check(s, &e) == -1)
		return from_err(&e, buf, cap);
	return NULL;
}

static const char *
domain_check(const char *s, char *buf, size_t cap)
{
	struct err e = { 0 };
	char low[256];
	size_t i;

	if (strlen(s) >= sizeof(low))
		return "invalid domain: too long";
	for (i = 0; s[i] != '\0'; i++)
		low[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') :
		    s[i];
	low[i] = '\0';
	if (route_domain_check(low, &e) == -1)
		return from_err(&e, buf, cap);
	return NULL;
}

static const char *
number(const struct field *f, const char *v, char *buf, size_t cap)
{
	const char *why;

	(void)strnum(v, f->min, f->max, &why);
	if (why == NULL)
		return NULL;
	(void)snprintf(buf, cap, "expected a whole number from %lld to %lld",
	    f->min, f->max);
	return buf;
}

const char *
account_valid_field(const char *name, const char *v, char *buf, size_t cap)
{
	const struct field *f = field_find(name);
	struct err e = { 0 };
	const char *p, *why;
	char *real;

	if (f == NULL)
		return "unknown field";
	switch (f->kind) {
	case K_ID: {
		const char *at = strrchr(v, '@');

		if (!text_ok(v, 254, false) || at == NULL || at == v ||
		    at[1] == '\0' || strchr(v, '/') != NULL)
			return "expected an email address such as "
			    "alice@example.org";
		return NULL;
	}
	case K_TEXT:
		return text_ok(v, (size_t)f->max, f->space) ? NULL : f->msg;
	case K_NUM:
		return number(f, v, buf, cap);
	case K_INTERVAL:
		if (strcmp(v, "default") == 0 || strcmp(v, "0") == 0)
			return NULL;
		(void)strnum_duration(v, 10, 7 * 86400, &why);
		return why == NULL ? NULL : "expected a duration from 10s to "
		    "7d (s, m, h, d), or default";
	case K_PROTOCOL: {
		enum acct_proto x;

		return account_proto_parse(v, &x) == 0 ? NULL :
		    "expected pop3 or imap";
	}
	case K_SECURITY: {
		enum acct_security x;

		return account_security_parse(v, &x) == 0 ? NULL :
		    "expected tls, starttls or none";
	}
	case K_POLICY: {
		enum acct_policy x;

		return account_policy_parse(v, &x) == 0 ? NULL :
		    "expected delete, keep or keep-days";
	}
	case K_TARGET: {
		struct target_uri u;

		if (target_uri_parse(v, &u, &e) == -1)
			return from_err(&e, buf, cap);
		target_uri_clear(&u);
		return NULL;
	}
	case K_CA_FILE:
		if (!text_ok(v, 4096, true))
			return "expected a file name";
		if ((real = realpath(v, NULL)) == NULL ||
		    access(real, R_OK) == -1) {
			free(real);
			return "no readable file by that name on the server";
		}
		free(real);
		return NULL;
	case K_FOLDER:
		return text_ok(v, 1000, true) ? NULL : "invalid folder name";
	case K_DELIVER_TO:
		if (!text_ok(v, 4096, true))
			return "expected a list of local addresses";
		return each_item(v, rcpt_check, buf, cap);
	case K_DOMAINS:
		if (v[strspn(v, " \t,")] == '\0')
			return NULL;	/* none: the caller decides */
		return each_item(v, domain_check, buf, cap);
	case K_HEADER:
		if (route_header_name_check(v, &e) == -1)
			return from_err(&e, buf, cap);
		return NULL;
	case K_RULE: {
		struct route_rule r;

		if (route_rule_parse(v, &r, &e) == -1)
			return from_err(&e, buf, cap);
		route_rule_clear(&r);
		return NULL;
	}
	case K_POSTMASTER:
		if (v[0] == '\0')
			return NULL;
		if (route_local_check(v, &e) == -1)
			return from_err(&e, buf, cap);
		return NULL;
	case K_PROVIDER_HOST:
		if (v[0] == '\0')
			return NULL;
		if (strlen(v) > 253 || strcmp(v, ".") == 0)
			return "expected a host name (or .domain for any host "
			    "under it)";
		for (p = v; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' &&
			    *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			    *p == '.' || *p == '-' || *p == '_'))
				return "expected a host name (or .domain for "
				    "any host under it)";
		return NULL;
	case K_AUTH:
		return strcmp(v, "password") == 0 || strcmp(v, "oauth2") == 0 ?
		    NULL : "expected password or oauth2";
	case K_OAUTH_PROVIDER:
		return oauth_builtin_find(v) != NULL ? NULL :
		    "expected google, microsoft or custom";
	case K_TENANT:
		for (p = v; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' &&
			    *p <= 'Z') || (*p >= '0' && *p <= '9') ||
			    *p == '.' || *p == '-'))
				break;
		if (*p != '\0' || strlen(v) > 128 || v[0] == '\0')
			return "expected a tenant id or domain (common, "
			    "organizations, contoso.onmicrosoft.com, a GUID)";
		return NULL;
	case K_URL:
		if (v[0] == '\0' || oauth_url_ok(v))
			return NULL;
		return "expected an https:// URL (http:// only to 127.0.0.1 "
		    "or localhost)";
	case K_MECH: {
		enum oauth_mech m;

		return oauth_mech_parse(v, &m) == 0 ? NULL :
		    "expected auto, xoauth2 or oauthbearer";
	}
	case K_SPAM_ACTION: {
		enum filter_spam_action x;

		return filter_spam_action_parse(v, &x) == 0 ? NULL :
		    "expected junk, tag or quarantine";
	}
	case K_SCANNER_DOWN: {
		enum filter_down_policy x;

		return filter_down_policy_parse(v, &x) == 0 ? NULL :
		    "expected hold or pass";
	}
	}
	return "unknown field";
}

const char *
account_valid_password(const char *pw, size_t len)
{
	if (len == 0)
		return "expected a password of 1 to 4096 bytes without line "
		    "breaks";
	if (len > PASSWORD_MAX || memchr(pw, '\0', len) != NULL ||
	    memchr(pw, '\n', len) != NULL || memchr(pw, '\r', len) != NULL)
		return "expected a password of 1 to 4096 bytes without line "
		    "breaks";
	return NULL;
}
