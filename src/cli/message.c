/*
 * message.c - `mailpull message list|retry|release`: parked messages.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/journal.h"
#include "store/store.h"
#include "util/err.h"

static const char usage_message[] =
"usage: mailpull message list ACCOUNT | retry ACCOUNT ID | release ACCOUNT ID\n"
"\n"
"Parked messages: mail that no target would take (permanent refusals, a\n"
"loop, a routing error). They stay on the server until you decide:\n"
"  list     one line per parked message: its id (UIDL, or\n"
"           FOLDER/UIDVALIDITY/UID), Message-ID, subject and reason\n"
"  retry    deliver it again on the next pass\n"
"  release  give it up: the remote copy follows the account's policy\n"
"           (deleted in delete mode) without being delivered\n";

static void
clean(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	if (s == NULL)
		s = "-";
	for (; *s != '\0' && o + 1 < cap; s++)
		out[o++] = (unsigned char)*s < 0x20 ? ' ' : *s;
	out[o] = '\0';
}

int
cmd_message(int argc, char **argv)
{
	struct store *st;
	struct err e = { 0 };
	struct account a;
	const char *sub;
	int rc = 1;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage_message, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "list") == 0) {
		if (argc != 3)
			usage_error("message", "usage: mailpull message list "
			    "ACCOUNT");
	} else if (strcmp(sub, "retry") == 0 || strcmp(sub, "release") == 0) {
		if (argc != 4)
			usage_error("message", "usage: mailpull message %s "
			    "ACCOUNT ID", sub);
	} else
		usage_error("message", "unknown message command '%s'", sub);
	st = cli_open_store();
	account_init(&a);
	if (store_account_get(st, argv[2], &a, &e) == -1)
		goto out;
	if (strcmp(sub, "list") == 0) {
		struct parked_rec *v = NULL;
		size_t n = 0, i;
		char tb[64], mid[200], subj[200], why[400];

		if (store_parked_list(st, a.id, &v, &n, &e) == -1)
			goto out;
		for (i = 0; i < n; i++) {
			char *rid = parked_rid(&v[i]);

			clean(v[i].msgid, mid, sizeof(mid));
			clean(v[i].subject, subj, sizeof(subj));
			clean(v[i].reason, why, sizeof(why));
			printf("%s\t%s\t%s\t%s\t%s\n", rid, mid, subj, why,
			    fmt_time(v[i].parked_at, tb, sizeof(tb)));
			free(rid);
		}
		if (n == 0)
			fprintf(stderr, "%s: no parked messages\n", a.id);
		store_parked_free(&v, n);
		rc = 0;
	} else {
		struct parked_rec p;
		bool retry = strcmp(sub, "retry") == 0;

		if (store_parked_find(st, a.id, argv[3], &p, &e) == -1)
			goto out;
		if ((retry ? store_parked_retry(st, a.id, &p, &e) :
		    store_parked_release(st, a.id, &p, &e)) == 0) {
			printf("%s: %s %s\n", a.id, argv[3], retry ?
			    "will be delivered again on the next pass" :
			    "released: it follows the account's policy on "
			    "the next pass, undelivered");
			rc = 0;
		}
		free(p.folder);
		free(p.uid);
		free(p.msgid);
		free(p.subject);
		free(p.reason);
	}
out:
	if (rc != 0)
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
	account_clear(&a);
	err_clear(&e);
	store_close(&st);
	return rc;
}
