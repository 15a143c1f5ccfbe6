/*
 * config.c - `mailpull config set|get|unset|list`: global settings.
 *
 * Every key is in the registry below with its validation; add a line for a
 * new setting. Values are stored as strings (store/settings.h) in their
 * canonical form (durations in seconds).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "deliver/target.h"
#include "store/settings.h"
#include "store/store.h"
#include "util/err.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

/* Check and canonicalise v; return an allocated value or NULL with *why. */
typedef char *(*check_fn)(const char *v, const char **why);

static char *
check_target(const char *v, const char **why)
{
	static char msg[300];
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
check_count(const char *v, const char **why)
{
	long long n = strnum(v, 1, 100000, why);

	if (*why != NULL)
		return NULL;
	return xasprintf("%lld", n);
}

static const struct {
	const char *key;
	check_fn check;
	const char *help;
} keys[] = {
	{ "target", check_target,
	    "default target URI for accounts without --target" },
	{ "postmaster", check_address,
	    "local address that gets mail no rule routes" },
	{ "local-domain", check_domain,
	    "domain that qualifies bare local names" },
	{ "interval", check_duration,
	    "serve: time between checks of an account (s, m, h; default 5m)" },
	{ "max-passes", check_count,
	    "serve: passes running at once (default 8)" },
	{ "max-per-host", check_count,
	    "serve: connections at once to one remote host (default 4)" },
};

static const char usage_config[] =
"usage: mailpull config set KEY VALUE | get KEY | unset KEY | list\n"
"\n"
"Global settings. Keys:\n";

static void
print_usage(FILE *f)
{
	size_t i;

	fputs(usage_config, f);
	for (i = 0; i < MP_ARRAY_LEN(keys); i++)
		fprintf(f, "  %-14s %s\n", keys[i].key, keys[i].help);
}

static int
key_index(const char *k)
{
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(keys); i++)
		if (strcmp(keys[i].key, k) == 0)
			return (int)i;
	usage_error("config", "unknown setting '%s'", k);
}

int
cmd_config(int argc, char **argv)
{
	struct store *st;
	struct err e = { 0 };
	const char *sub;
	char *v = NULL;
	int rc = 1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		print_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "set") == 0) {
		const char *why = NULL;
		int k;

		if (argc != 4)
			usage_error("config", "usage: mailpull config set KEY "
			    "VALUE");
		k = key_index(argv[2]);
		if ((v = keys[k].check(argv[3], &why)) == NULL)
			usage_error("config", "%s %s: %s", argv[2], argv[3],
			    why != NULL ? why : "invalid value");
		st = cli_open_store();
		if (store_setting_set(st, argv[2], v, &e) == 0) {
			printf("%s = %s\n", argv[2], v);
			rc = 0;
		}
	} else if (strcmp(sub, "get") == 0 || strcmp(sub, "unset") == 0) {
		if (argc != 3)
			usage_error("config", "usage: mailpull config %s KEY",
			    sub);
		(void)key_index(argv[2]);
		st = cli_open_store();
		if (strcmp(sub, "unset") == 0) {
			if (store_setting_set(st, argv[2], NULL, &e) == 0) {
				printf("%s unset\n", argv[2]);
				rc = 0;
			}
		} else if (store_setting_get(st, argv[2], &v, &e) == 0) {
			if (v != NULL)
				printf("%s\n", v);
			else
				printf("(unset)\n");
			rc = 0;
		}
	} else if (strcmp(sub, "list") == 0) {
		char **k = NULL, **vals = NULL;
		size_t n = 0, i;

		if (argc != 2)
			usage_error("config", "usage: mailpull config list");
		st = cli_open_store();
		if (store_setting_list(st, &k, &vals, &n, &e) == 0) {
			for (i = 0; i < n; i++)
				printf("%s = %s\n", k[i], vals[i]);
			if (n == 0)
				printf("(no settings; defaults apply)\n");
			store_setting_list_free(&k, &vals, n);
			rc = 0;
		}
	} else
		usage_error("config", "unknown config command '%s'", sub);
	if (rc != 0)
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
	free(v);
	err_clear(&e);
	store_close(&st);
	return rc;
}
