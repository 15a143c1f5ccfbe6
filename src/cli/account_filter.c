/*
 * account_filter.c - spam and virus check options of `account add|edit`
 * and their display (account_filter.h), kept in the store's
 * account_filters table (store/filters.h).
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "cli/account_filter.h"
#include "cli/cli.h"
#include "store/filters.h"
#include "store/settings.h"
#include "store/store.h"
#include "util/xmalloc.h"

static struct acct_filter cur;
static bool given;

void
account_filter_load(struct store *st, const char *id, bool add)
{
	struct err e = { 0 };

	acct_filter_clear(&cur);
	given = false;
	if (add)
		return;
	if (store_filter_get(st, id, &cur, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		exit(1);
	}
}

static void
provider_host_opt(const char *arg)
{
	free(cur.provider_host);
	cur.provider_host = NULL;
	if (arg[0] == '\0')
		return;
	cli_account_field("provider-host", "provider_host", arg);
	cur.provider_host = xstrdup(arg);
}

void
account_filter_opt(int c, const char *arg)
{
	given = true;
	switch (c) {
	case OPT_SPAM_CHECK:
	case OPT_NO_SPAM_CHECK:
		cur.spam_check = c == OPT_SPAM_CHECK;
		break;
	case OPT_VIRUS_CHECK:
	case OPT_NO_VIRUS_CHECK:
		cur.virus_check = c == OPT_VIRUS_CHECK;
		break;
	case OPT_SPAM_ACTION:
		cli_account_field("spam-action", "spam_action", arg);
		(void)filter_spam_action_parse(arg, &cur.spam_action);
		break;
	case OPT_SCANNER_DOWN:
		cli_account_field("scanner-down", "scanner_down", arg);
		(void)filter_down_policy_parse(arg, &cur.scanner_down);
		break;
	case OPT_PROVIDER_HOST:
		provider_host_opt(arg);
		break;
	default:
		usage_error("account", "unknown filter option");
	}
}

int
account_filter_save(struct store *st, const char *id, struct err *e)
{
	if (!given)
		return 0;
	if (cur.spam_check && cur.provider_host == NULL)
		fprintf(stderr, "mailpull: warning: %s: --spam-check without "
		    "--provider-host: rspamd is not told the sender's IP\n",
		    id);
	return store_filter_set(st, id, &cur, e);
}

void
account_filter_show(struct store *st, const char *id, FILE *f)
{
	struct acct_filter o;

	if (store_filter_get(st, id, &o, NULL) == -1)
		return;
	fprintf(f, "spam-check:   %s", o.spam_check ? "yes" : "no");
	if (o.spam_check)
		fprintf(f, " (reject: %s)",
		    filter_spam_action_name(o.spam_action));
	fprintf(f, "\nvirus-check:  %s\n", o.virus_check ? "yes" : "no");
	if (o.spam_check || o.virus_check)
		fprintf(f, "scanner-down: %s\n",
		    filter_down_policy_name(o.scanner_down));
	if (o.provider_host != NULL)
		fprintf(f, "provider-host: %s\n", o.provider_host);
	acct_filter_clear(&o);
}
