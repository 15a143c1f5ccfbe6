/*
 * group.c - `mailpull group add|list|show|edit|delete`: named groups of
 * local addresses, used as --deliver-to @NAME and rule destinations
 * (`PATTERN > @NAME`).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "route/route.h"
#include "store/routing.h"
#include "store/settings.h"
#include "store/store.h"
#include "util/err.h"
#include "util/xmalloc.h"

static const char usage_group[] =
"usage: mailpull group add NAME MEMBER...\n"
"       mailpull group edit NAME MEMBER...\n"
"       mailpull group list [--json] | show NAME | delete NAME\n"
"\n"
"A group is a named list of local addresses. Use it as an account's\n"
"--deliver-to @NAME or as a rule destination ('PATTERN > @NAME').\n"
"A MEMBER is name@domain or a bare name (at the local-domain setting,\n"
"else the account's domain). edit replaces the member list. A group in\n"
"use by an account cannot be deleted.\n";

static void
check_name(const char *name)
{
	struct err e = { 0 };

	if (route_group_name_check(name, &e) == -1)
		usage_error("group", "%s", err_msg(&e));
}

static void
check_members(char **m, int n)
{
	struct err e = { 0 };
	int i, j;

	if (n < 1)
		usage_error("group", "a group needs at least one member");
	if (n > GROUP_MEMBERS_MAX)
		usage_error("group", "at most %d members", GROUP_MEMBERS_MAX);
	for (i = 0; i < n; i++) {
		if (m[i][0] == '@')
			usage_error("group", "member %s: groups do not nest; "
			    "list the addresses", m[i]);
		if (route_local_check(m[i], &e) == -1)
			usage_error("group", "member %s", err_msg(&e));
		for (j = 0; j < i; j++)
			if (strcasecmp(m[i], m[j]) == 0)
				usage_error("group", "member %s is listed "
				    "twice", m[i]);
	}
}

/* Does list (comma- or LF-separated) name @name? */
static bool
list_uses(const char *list, const char *name)
{
	size_t nl = strlen(name);
	const char *p;

	if (list == NULL)
		return false;
	for (p = list; (p = strchr(p, '@')) != NULL; p++) {
		if (p != list && p[-1] != ',' && p[-1] != '\n' &&
		    p[-1] != ' ' && p[-1] != '>' && p[-1] != '\t')
			continue;
		if (strncmp(p + 1, name, nl) == 0 && (p[1 + nl] == '\0' ||
		    strchr(",\n \t", p[1 + nl]) != NULL))
			return true;
	}
	return false;
}

/* The first account that routes to @name, allocated, or NULL. */
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
group_show(struct store *st, const char *name, struct err *e)
{
	char **m = NULL, *ld = NULL;
	size_t n = 0, i;

	if (store_group_get(st, name, &m, &n, e) == -1)
		return -1;
	(void)store_setting_get(st, "local-domain", &ld, NULL);
	printf("group:   %s\n", name);
	printf("members:");
	for (i = 0; i < n; i++) {
		if (strchr(m[i], '@') == NULL && ld != NULL)
			printf(" %s@%s", m[i], ld);
		else
			printf(" %s", m[i]);
	}
	printf("\n");
	free(ld);
	store_strv_free(&m, n);
	return 0;
}

static int
group_list(struct store *st, bool json, struct err *e)
{
	char **names = NULL, **m = NULL;
	size_t n = 0, nm = 0, i, j;

	if (store_group_list(st, &names, &n, e) == -1)
		return -1;
	if (json)
		fputs("[", stdout);
	else if (n == 0)
		printf("no groups; add one with 'mailpull group add NAME "
		    "MEMBER...'\n");
	for (i = 0; i < n; i++) {
		if (store_group_get(st, names[i], &m, &nm, e) == -1) {
			store_strv_free(&names, n);
			return -1;
		}
		if (json) {
			fputs(i > 0 ? ",\n {\"name\": " : "\n {\"name\": ",
			    stdout);
			json_str(stdout, names[i]);
			fputs(", \"members\": [", stdout);
			for (j = 0; j < nm; j++) {
				if (j > 0)
					fputs(", ", stdout);
				json_str(stdout, m[j]);
			}
			fputs("]}", stdout);
		} else {
			printf("%-20s", names[i]);
			for (j = 0; j < nm; j++)
				printf(" %s", m[j]);
			printf("\n");
		}
		store_strv_free(&m, nm);
	}
	if (json)
		fputs(n > 0 ? "\n]\n" : "]\n", stdout);
	store_strv_free(&names, n);
	return 0;
}

int
cmd_group(int argc, char **argv)
{
	struct store *st;
	struct err e = { 0 };
	const char *sub;
	char *who;
	int rc = -1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage_group, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "add") == 0 || strcmp(sub, "edit") == 0) {
		if (argc < 4)
			usage_error("group", "usage: mailpull group %s NAME "
			    "MEMBER...", sub);
		check_name(argv[2]);
		check_members(argv + 3, argc - 3);
		st = cli_open_store();
		if (sub[0] == 'a')
			rc = store_group_add(st, argv[2], argv + 3,
			    (size_t)(argc - 3), &e);
		else
			rc = store_group_set(st, argv[2], argv + 3,
			    (size_t)(argc - 3), &e);
		if (rc == 0)
			printf("%s group %s (%d member%s)\n", sub[0] == 'a' ?
			    "added" : "updated", argv[2], argc - 3,
			    argc == 4 ? "" : "s");
	} else if (strcmp(sub, "list") == 0) {
		bool json = argc == 3 && strcmp(argv[2], "--json") == 0;

		if (argc > 3 || (argc == 3 && !json))
			usage_error("group", "usage: mailpull group list "
			    "[--json]");
		st = cli_open_store();
		rc = group_list(st, json, &e);
	} else if (strcmp(sub, "show") == 0 || strcmp(sub, "delete") == 0) {
		if (argc != 3)
			usage_error("group", "usage: mailpull group %s NAME",
			    sub);
		check_name(argv[2]);
		st = cli_open_store();
		if (sub[0] == 's')
			rc = group_show(st, argv[2], &e);
		else if ((who = group_user(st, argv[2])) != NULL) {
			err_set(&e, ERR_CONFIG, "group %s is used by account "
			    "%s; change its --deliver-to or rules first",
			    argv[2], who);
			free(who);
		} else if ((rc = store_group_delete(st, argv[2], &e)) == 0)
			printf("deleted group %s\n", argv[2]);
	} else
		usage_error("group", "unknown group command '%s'", sub);
	if (rc != 0)
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
	err_clear(&e);
	store_close(&st);
	return rc == 0 ? 0 : 1;
}
