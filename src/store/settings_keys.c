/*
 * settings_keys.c - the registry of global settings (see settings_keys.h).
 * Values are stored as strings (store/settings.h) in their canonical form
 * (durations in seconds).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/target.h"
#include "store/settings_keys.h"
#include "util/err.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

static char *
check_target(const char *v, const char **why)
{
	static __thread char msg[300];	/* the API calls from threads */
	struct target_uri u;
	struct err e = { 0 };

	if (target_uri_parse(v, &u, &e) == -1) {
		(void)snprintf(msg, sizeof(msg), "%s", err_msg(&e));
		err_clear(&e);
		*why = msg;
		return NULL;
	}
	target_uri_clear(&u);
	return xstrdup(v);
}

static char *
check_address(const char *v, const char **why)
{
	const unsigned char *p;

	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f) {
			*why = "an address has no spaces or control characters";
			return NULL;
		}
	if (v[0] == '\0' || strlen(v) > 254 || v[0] == '@') {
		*why = "expected a local address (name or name@domain)";
		return NULL;
	}
	return xstrdup(v);
}

static char *
check_domain(const char *v, const char **why)
{
	const char *p;

	if (v[0] == '\0' || strlen(v) > 253 || v[0] == '.' || v[0] == '-') {
		*why = "expected a domain name";
		return NULL;
	}
	for (p = v; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-')) {
			*why = "expected a domain name";
			return NULL;
		}
	return xstrdup(v);
}

static char *
check_duration(const char *v, const char **why)
{
	long long n = strnum_duration(v, 10, 7 * 86400, why);

	if (*why != NULL)
		return NULL;
	return xasprintf("%lld", n);
}

static char *
check_yesno(const char *v, const char **why)
{
	if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
		*why = "expected yes or no";
		return NULL;
	}
	return xstrdup(v);
}

static char *
check_count(const char *v, const char **why)
{
	long long n = strnum(v, 1, 100000, why);

	if (*why != NULL)
		return NULL;
	return xasprintf("%lld", n);
}

/* Scanner address (filter/filter.h has the parser that connects): unix:
 * /PATH, or [http://]HOST:PORT[/], [IPV6]:PORT. */
static char *
check_scanner(const char *v, const char **why)
{
	const char *p = v, *colon, *errstr;
	size_t n;

	*why = "expected HOST:PORT, [IPV6]:PORT, http://HOST:PORT or "
	    "unix:/PATH";
	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] != '/' || strlen(v + 5) >= 108)
			return NULL;
		*why = NULL;
		return xstrdup(v);
	}
	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	n = strlen(p);
	if (n > 0 && p[n - 1] == '/')
		n--;
	if (n == 0 || n > 300 || strchr(p, ' ') != NULL)
		return NULL;
	colon = memrchr(p, ':', n);
	if (colon == NULL || colon == p || (p[0] != '[' &&
	    memchr(p, ':', (size_t)(colon - p)) != NULL) ||
	    (p[0] == '[' && colon[-1] != ']'))
		return NULL;
	{
		char port[8];
		size_t pl = n - (size_t)(colon + 1 - p);

		if (pl == 0 || pl >= sizeof(port))
			return NULL;
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
		(void)strnum(port, 1, 65535, &errstr);
		if (errstr != NULL)
			return NULL;
	}
	*why = NULL;
	return xstrdup(v);
}

static char *
check_scan_timeout(const char *v, const char **why)
{
	long long n = strnum_duration(v, 1, 3600, why);

	if (*why != NULL)
		return NULL;
	return xasprintf("%lld", n);
}

static char *
check_client_id(const char *v, const char **why)
{
	const unsigned char *p;

	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			break;
	if (v[0] == '\0' || *p != '\0' || strlen(v) > 512) {
		*why = "expected an OAuth2 client id (no spaces)";
		return NULL;
	}
	return xstrdup(v);
}

/* Client secrets are sealed by `mailpull config` (cli/account_oauth.c),
 * never stored here in clear. */
static char *
check_client_secret(const char *v, const char **why)
{
	*why = "stored encrypted: use 'mailpull config set "
	    "oauth2.PROVIDER.client-secret-file FILE'";
	return NULL;
}

const struct settings_key settings_keys[] = {
	{ "target", check_target,
	    "default target URI for accounts without --target" },
	{ "postmaster", check_address,
	    "local address that gets mail no rule routes" },
	{ "local-domain", check_domain,
	    "domain that qualifies bare local names" },
	{ "reroute-unknown", check_yesno,
	    "yes (default): a recipient the target refuses permanently "
	    "goes to the postmaster; no: the message is parked" },
	{ "interval", check_duration,
	    "serve: time between checks of an account (s, m, h; default 5m)" },
	{ "max-passes", check_count,
	    "serve and fetch: passes running at once (default 8)" },
	{ "max-per-host", check_count,
	    "serve and fetch: connections at once to one remote host "
	    "(default 4)" },
	{ "lease", check_duration,
	    "serve on a shared (PostgreSQL) store: how long a node's claim on "
	    "an account lasts without renewal; a dead node's accounts are "
	    "taken over after it (default 60s)" },
	{ "rspamd", check_scanner,
	    "spam checks: rspamd's address (default 127.0.0.1:11333)" },
	{ "clamd", check_scanner,
	    "virus checks: clamd (default unix:/run/clamav/clamd.ctl)" },
	{ "scan-timeout", check_scan_timeout,
	    "time limit of one spam or virus scan (default 60s)" },
	{ "oauth2.google.client-id", check_client_id,
	    "OAuth2 client id for --oauth2-provider google" },
	{ "oauth2.google.client-secret-file", check_client_secret,
	    "its client secret, read from a file, stored encrypted" },
	{ "oauth2.microsoft.client-id", check_client_id,
	    "OAuth2 client id for --oauth2-provider microsoft" },
	{ "oauth2.microsoft.client-secret-file", check_client_secret,
	    "its client secret, read from a file, stored encrypted" },
	{ "oauth2.custom.client-id", check_client_id,
	    "OAuth2 client id for --oauth2-provider custom" },
	{ "oauth2.custom.client-secret-file", check_client_secret,
	    "its client secret, read from a file, stored encrypted" },
};

const size_t settings_keys_count = MP_ARRAY_LEN(settings_keys);

const struct settings_key *
settings_key_find(const char *key)
{
	size_t i;

	for (i = 0; i < settings_keys_count; i++)
		if (strcmp(settings_keys[i].key, key) == 0)
			return &settings_keys[i];
	return NULL;
}
