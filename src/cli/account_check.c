/*
 * account_check.c - `mailpull account check [ID...]` and its warning in
 * `account show|list` (account_check.h).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/account_check.h"
#include "cli/cli.h"
#include "fetch/check.h"
#include "store/checks.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/xmalloc.h"

/* "a@x, b@x" from an LF-separated list. */
static char *
list_join(const char *list)
{
	struct buf b;
	const char *p;

	buf_init(&b, 64 * 1024);
	for (p = list; *p != '\0'; p++)
		if ((*p == '\n' ? buf_adds(&b, ", ") :
		    buf_add(&b, p, 1)) == -1)
			break;
	(void)buf_add(&b, "", 1);
	return buf_detach(&b);
}

static int
check_one(struct store *st, const struct account *a)
{
	struct check_result res;
	struct err e = { 0 };
	size_t i;

	if (check_account_run(st, a, &res, &e) == -1) {
		fprintf(stderr, "mailpull: %s: cannot check: %s\n", a->id,
		    err_msg(&e));
		err_clear(&e);
		check_result_clear(&res);
		return 1;
	}
	printf("%s: target %s\n", a->id, res.target);
	for (i = 0; i < res.n; i++) {
		const struct check_rcpt *r = &res.rcpts[i];

		printf("  %s: %s%s%s\n", r->addr, r->state == CHECK_GONE ?
		    "GONE" : check_state_name(r->state), r->reason != NULL ?
		    ": " : "", r->reason != NULL ? r->reason : "");
	}
	if (res.n == 0)
		printf("  no fixed local recipient to check\n");
	if (res.ngone > 0)
		printf("%s: WARNING: %zu of %zu local recipients gone: mail "
		    "for them would bounce or go to the postmaster\n", a->id,
		    res.ngone, res.n);
	else if (res.nunknown > 0)
		printf("%s: %zu of %zu local recipients could not be "
		    "checked (target unavailable?)\n", a->id, res.nunknown,
		    res.n);
	else
		printf("%s: ok, %zu local recipient%s\n", a->id, res.n,
		    res.n == 1 ? "" : "s");
	i = res.ngone;
	check_result_clear(&res);
	return i > 0 ? 1 : 0;
}

int
cmd_account_check(int argc, char **argv)
{
	struct store *st;
	struct account *list = NULL, a;
	struct err e = { 0 };
	size_t n = 0, i;
	int rc = 0;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			puts("usage: mailpull account check [ID...]\n\n"
			    "Probe each account's local recipients at its "
			    "target (LMTP/SMTP: RCPT TO then\nRSET; Maildir: "
			    "the directory; MDA: the program). Exit 1 when a "
			    "recipient\nis gone. Without ID: every enabled "
			    "account.");
			return 0;
		}
		if (argv[i][0] == '-' && strcmp(argv[i], "--") != 0)
			usage_error("account", "account check: unknown option "
			    "'%s'", argv[i]);
	}
	st = cli_open_store();
	if (argc > 1) {
		for (i = 1; i < (size_t)argc; i++) {
			if (strcmp(argv[i], "--") == 0)
				continue;
			account_init(&a);
			if (store_account_get(st, argv[i], &a, &e) == -1) {
				fprintf(stderr, "mailpull: %s\n", err_msg(&e));
				err_clear(&e);
				rc = 1;
			} else if (check_one(st, &a) != 0)
				rc = 1;
			account_clear(&a);
		}
		store_close(&st);
		return rc;
	}
	if (store_account_list(st, &list, &n, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		err_clear(&e);
		store_close(&st);
		return 1;
	}
	for (i = 0; i < n; i++)
		if (list[i].enabled && check_one(st, &list[i]) != 0)
			rc = 1;
	if (n == 0)
		printf("no accounts in %s\n", cli_state_dir);
	store_account_list_free(&list, n);
	store_close(&st);
	return rc;
}

void
account_check_show(struct store *st, const char *id, FILE *f)
{
	struct account_check c;
	char tb[64], *g;

	if (store_check_get(st, id, &c, NULL) == -1)
		return;
	if (c.checked_at == 0)
		fprintf(f, "check:        never ('mailpull account check "
		    "%s')\n", id);
	else if (c.gone != NULL) {
		g = list_join(c.gone);
		fprintf(f, "check:        WARNING: local recipient gone at "
		    "the target: %s (checked %s)\n", g,
		    fmt_time(c.checked_at, tb, sizeof(tb)));
		free(g);
	} else if (c.unknown != NULL) {
		g = list_join(c.unknown);
		fprintf(f, "check:        could not check %s (checked %s)\n",
		    g, fmt_time(c.checked_at, tb, sizeof(tb)));
		free(g);
	} else
		fprintf(f, "check:        ok (checked %s)\n",
		    fmt_time(c.checked_at, tb, sizeof(tb)));
	account_check_clear(&c);
}

void
account_check_json(struct store *st, const char *id, FILE *f)
{
	struct account_check c;
	char *g, *w = NULL;

	fputs(", \"recipient_warning\": ", f);
	if (store_check_get(st, id, &c, NULL) == 0 && c.gone != NULL) {
		g = list_join(c.gone);
		w = xasprintf("local recipient gone at the target: %s", g);
		free(g);
	}
	json_str(f, w);
	fprintf(f, ", \"checked_at\": %lld", (long long)c.checked_at);
	free(w);
	account_check_clear(&c);
}

void
account_check_list_line(struct store *st, const char *id, FILE *f)
{
	struct account_check c;
	char *g;

	if (store_check_get(st, id, &c, NULL) == -1)
		return;
	if (c.gone != NULL) {
		g = list_join(c.gone);
		fprintf(f, "warning: %s: local recipient gone at the target: "
		    "%s ('mailpull account check %s')\n", id, g, id);
		free(g);
	}
	account_check_clear(&c);
}
