/*
 * config.c - `mailpull config set|get|unset|list`: global settings.
 *
 * Every key is in the registry (store/settings_keys.c) with its validation;
 * add a line there for a new setting. Values are stored as strings
 * (store/settings.h) in their canonical form (durations in seconds).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/account_oauth.h"
#include "cli/cli.h"
#include "deliver/target.h"
#include "store/settings.h"
#include "store/settings_keys.h"
#include "store/store.h"
#include "util/err.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

static const char usage_config[] =
"usage: mailpull config set KEY VALUE | get KEY | unset KEY | list\n"
"\n"
"Global settings. Keys:\n";

static void
print_usage(FILE *f)
{
	size_t i;

	fputs(usage_config, f);
	for (i = 0; i < settings_keys_count; i++)
		fprintf(f, "  %-14s %s\n", settings_keys[i].key,
		    settings_keys[i].help);
}

static int
key_index(const char *k)
{
	size_t i;

	for (i = 0; i < settings_keys_count; i++)
		if (strcmp(settings_keys[i].key, k) == 0)
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
	if (argc >= 3 && account_oauth_config_key(argv[2]))
		return account_oauth_config(argc, argv);
	if (strcmp(sub, "set") == 0) {
		const char *why = NULL;
		int k;

		if (argc != 4)
			usage_error("config", "usage: mailpull config set KEY "
			    "VALUE");
		k = key_index(argv[2]);
		if ((v = settings_keys[k].check(argv[3], &why)) == NULL)
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
