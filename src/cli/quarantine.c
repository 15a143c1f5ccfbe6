/*
 * quarantine.c - `mailpull quarantine list|show|release|delete`: the
 * messages the virus check (and the spam check with --spam-action
 * quarantine) kept out of the mailboxes (filter/filter.h). Each one is a
 * file in STATE/quarantine/ACCOUNT/new/ indexed in the store.
 *
 * release delivers the message as it was fetched, with an
 * X-Mailpull-Released: line, to the recipients it was routed to, through
 * the account's target; the file and its row go only once every recipient
 * has it durably.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "deliver/target.h"
#include "store/account.h"
#include "store/filters.h"
#include "store/settings.h"
#include "store/store.h"
#include "util/spool.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define Q_MESSAGE_MAX	((uint64_t)1 << 30)

static const char usage_quarantine[] =
"usage: mailpull quarantine list [ACCOUNT]\n"
"       mailpull quarantine show ID\n"
"       mailpull quarantine release ID\n"
"       mailpull quarantine delete ID\n"
"\n"
"Messages held by the virus check (and by the spam check with\n"
"--spam-action quarantine). release delivers one to the recipients it\n"
"was routed to; delete removes it for good.\n";

static int64_t
id_arg(const char *v)
{
	const char *errstr;
	long long n = strnum(v, 1, INT64_MAX, &errstr);

	if (errstr != NULL)
		usage_error("quarantine", "bad quarantine id '%s': %s", v,
		    errstr);
	return n;
}

static int
q_list(const char *acct)
{
	struct store *st = cli_open_store();
	struct quarantine_rec *v = NULL;
	struct err e = { 0 };
	char when[64];
	size_t n = 0, i;

	if (store_quarantine_list(st, acct, &v, &n, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		err_clear(&e);
		store_close(&st);
		return 1;
	}
	if (n == 0)
		printf("the quarantine is empty\n");
	else
		printf("%-6s %-28s %-6s %-20s %-32s %s\n", "ID", "ACCOUNT",
		    "KIND", "DATE", "REASON", "SUBJECT");
	for (i = 0; i < n; i++)
		printf("%-6lld %-28s %-6s %-20s %-32.32s %.60s\n",
		    (long long)v[i].id, v[i].account, v[i].kind,
		    fmt_time(v[i].at, when, sizeof(when)),
		    v[i].reason != NULL ? v[i].reason : "-",
		    v[i].subject != NULL ? v[i].subject : "-");
	store_quarantine_list_free(&v, n);
	store_close(&st);
	return 0;
}

static int
q_show(int64_t id)
{
	struct store *st = cli_open_store();
	struct quarantine_rec q;
	struct err e = { 0 };
	char when[64], buf[65536];
	size_t n;
	FILE *f;
	int rc = 1;

	if (store_quarantine_get(st, id, &q, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		err_clear(&e);
		store_close(&st);
		return 1;
	}
	printf("id:         %lld\naccount:    %s\nkind:       %s\n"
	    "reason:     %s\ndate:       %s\nremote id:  %s\nfrom:       %s\n"
	    "subject:    %s\nrecipients: ", (long long)q.id, q.account, q.kind,
	    q.reason != NULL ? q.reason : "-",
	    fmt_time(q.at, when, sizeof(when)),
	    q.remote_id != NULL ? q.remote_id : "-",
	    q.sender != NULL ? q.sender : "-",
	    q.subject != NULL ? q.subject : "-");
	for (const char *p = q.rcpts != NULL ? q.rcpts : "-"; *p != '\0';
	    p++) {
		if (*p == '\n')
			fputs(", ", stdout);
		else
			putchar(*p);
	}
	printf("\nfile:       %s\n\n", q.file);
	if ((f = fopen(q.file, "r")) == NULL) {
		fprintf(stderr, "mailpull: %s: %s\n", q.file, strerror(errno));
		goto out;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	rc = 0;
out:
	quarantine_rec_clear(&q);
	store_close(&st);
	return rc;
}

/* Remove the file (and sync its directory), then the row. */
static int
q_remove(struct store *st, const struct quarantine_rec *q, struct err *e)
{
	char *dir, *slash;
	int fd;

	if (unlink(q->file) == -1 && errno != ENOENT)
		return err_set(e, ERR_LOCAL, "%s: %s", q->file,
		    strerror(errno));
	dir = xstrdup(q->file);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		(void)close(fd);
	}
	free(dir);
	return store_quarantine_delete(st, q->id, e);
}

static int
q_delete(int64_t id)
{
	struct store *st = cli_open_store();
	struct quarantine_rec q;
	struct err e = { 0 };
	int rc = 1;

	if (store_quarantine_get(st, id, &q, &e) == -1 ||
	    q_remove(st, &q, &e) == -1)
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
	else {
		printf("deleted %lld\n", (long long)id);
		rc = 0;
	}
	quarantine_rec_clear(&q);
	err_clear(&e);
	store_close(&st);
	return rc;
}

static int
spool_from_file(struct spool *sp, const char *path, struct err *e)
{
	char buf[65536];
	unsigned char dg[SPOOL_DIGEST_LEN];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return err_set(e, ERR_LOCAL, "%s: %s", path, strerror(errno));
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			err_set(e, ERR_LOCAL, "%s: %s", path, strerror(errno));
			(void)close(fd);
			return -1;
		}
		if (spool_write(sp, buf, (size_t)n, e) == -1) {
			(void)close(fd);
			return -1;
		}
	}
	(void)close(fd);
	spool_finish(sp, dg);
	return 0;
}

static int
q_release(int64_t id)
{
	struct store *st = cli_open_store();
	struct quarantine_rec q;
	struct account a;
	struct err e = { 0 };
	struct target_uri turi;
	struct target *t = NULL;
	struct target_rcpt *tr = NULL;
	struct delivery d;
	struct spool *sp = NULL;
	char *target = NULL, *tmpdir = NULL, *extra = NULL, *rl = NULL, *p;
	size_t n = 0, i, bad = 0;
	int rc = 1;

	memset(&turi, 0, sizeof(turi));
	memset(&q, 0, sizeof(q));
	account_init(&a);
	if (store_quarantine_get(st, id, &q, &e) == -1 ||
	    store_account_get(st, q.account, &a, &e) == -1)
		goto fail;
	if (q.rcpts == NULL || q.rcpts[0] == '\0') {
		err_set(&e, ERR_CONFIG, "quarantined message %lld has no "
		    "recipients", (long long)id);
		goto fail;
	}
	/* The account's target, as fetch resolves it (fetch/pass.c). */
	if (a.target != NULL && a.target[0] != '\0')
		target = xstrdup(a.target);
	else if (store_setting_get(st, "target", &target, &e) == -1)
		goto fail;
	if (target == NULL)
		target = xasprintf("maildir:%s/mail/%%u/Maildir",
		    store_state_dir(st));
	if (target_uri_parse(target, &turi, &e) == -1 ||
	    target_open(&t, &turi, &e) == -1)
		goto fail;
	tmpdir = xasprintf("%s/tmp", store_state_dir(st));
	sp = spool_create(tmpdir, 1024 * 1024, Q_MESSAGE_MAX);
	if (spool_from_file(sp, q.file, &e) == -1)
		goto fail;
	for (p = q.rcpts; p != NULL; p = strchr(p + 1, '\n'))
		n++;
	tr = xcalloc(n, sizeof(*tr));
	n = 0;
	rl = xstrdup(q.rcpts);
	for (p = rl; p != NULL && *p != '\0';) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (*p != '\0')
			tr[n++].addr = p;
		p = nl != NULL ? nl + 1 : NULL;
	}
	memset(&d, 0, sizeof(d));
	d.account = a.id;
	d.server = a.host;
	d.protocol = "quarantine";
	d.remote_id = q.remote_id != NULL ? q.remote_id : "-";
	extra = xasprintf("X-Mailpull-Released: from the quarantine (%s: "
	    "%s)\n", q.kind, q.reason != NULL ? q.reason : "-");
	for (p = extra + 21; *p != '\n'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	d.extra_headers = extra;
	/* a released copy is its own file: key from the quarantine file */
	crypto_generichash(d.key, DELIVERY_KEY_LEN, (const unsigned char *)
	    q.file, strlen(q.file), (const unsigned char *)"release", 7);
	if (target_deliver_many(t, sp, tr, n, &d, &e) == -1)
		goto fail;
	for (i = 0; i < n; i++)
		if (tr[i].result != ERR_NONE) {
			bad++;
			fprintf(stderr, "mailpull: %s: %s\n", tr[i].addr,
			    tr[i].reason != NULL ? tr[i].reason :
			    err_class_name(tr[i].result));
		}
	if (bad > 0) {
		err_set(&e, ERR_LOCAL, "%zu of %zu recipients refused it; "
		    "kept in the quarantine", bad, n);
		goto fail;
	}
	if (target_sync(t, &e) == -1 || q_remove(st, &q, &e) == -1)
		goto fail;
	printf("released %lld to %zu recipient%s\n", (long long)id, n,
	    n == 1 ? "" : "s");
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "mailpull: quarantine release %lld: %s\n",
	    (long long)id, err_msg(&e));
out:
	if (tr != NULL) {
		target_rcpts_clear(tr, n);
		free(tr);
	}
	free(rl);
	free(extra);
	spool_free(&sp);
	free(tmpdir);
	target_close(&t);
	target_uri_clear(&turi);
	free(target);
	account_clear(&a);
	quarantine_rec_clear(&q);
	err_clear(&e);
	store_close(&st);
	return rc;
}

int
cmd_quarantine(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		fputs(usage_quarantine, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	if (strcmp(argv[1], "list") == 0) {
		if (argc > 3)
			usage_error("quarantine", "list takes one account at "
			    "most");
		return q_list(argc == 3 ? argv[2] : NULL);
	}
	if (argc != 3)
		usage_error("quarantine", "%s needs one ID", argv[1]);
	if (strcmp(argv[1], "show") == 0)
		return q_show(id_arg(argv[2]));
	if (strcmp(argv[1], "release") == 0)
		return q_release(id_arg(argv[2]));
	if (strcmp(argv[1], "delete") == 0)
		return q_delete(id_arg(argv[2]));
	usage_error("quarantine", "unknown subcommand '%s'", argv[1]);
	return EXIT_USAGE;
}
