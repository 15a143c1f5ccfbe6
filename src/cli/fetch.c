/*
 * main.c - the mailpull command: argument parsing and output only. The
 * work is in store/, fetch/ and deliver/.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "deliver/target.h"
#include "fetch/pass.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#include "cli/cli.h"
#include "store/status.h"

static void record_status(struct store *, const char *,
    const struct pass_result *);

static const char usage_fetch[] =
"usage: mailpull fetch [--no-wait] [ID...]\n"
"\n"
"Run one pass over the given accounts, or every enabled account.\n"
"On a terminal, progress is shown per account; otherwise one summary line\n"
"per account. Exit status 0 when every account succeeded, 1 otherwise.\n"
"  --no-wait   report an account busy in another pass instead of waiting\n";

static const char usage_log[] =
"usage: mailpull log ID [-n N]\n"
"\n"
"Print the last N run logs of an account, newest first (default 3; at\n"
"most 20 are kept).\n";

/* ---- fetch ---- */

struct progress_state {
	bool tty;
	bool shown;
};

static void
on_progress(void *arg, const struct pass_progress *p)
{
	struct progress_state *ps = arg;
	char b1[32], b2[32];

	if (!ps->tty)
		return;
	if (p->total > 0 || p->done > 0)
		fprintf(stdout, "\r\033[K%s: %s %lu/%lu messages, %s of %s",
		    p->account, p->phase, p->done, p->total,
		    fmt_bytes(p->bytes, b1, sizeof(b1)),
		    fmt_bytes(p->total_bytes, b2, sizeof(b2)));
	else
		fprintf(stdout, "\r\033[K%s: %s...", p->account, p->phase);
	fflush(stdout);
	ps->shown = true;
}

int
cmd_fetch(int argc, char **argv)
{
	struct store *st;
	struct account *list = NULL, one;
	struct err e = { 0 };
	struct pass_opts po;
	struct pass_result res;
	struct progress_state ps = { 0 };
	size_t n = 0, i;
	int c, failed = 0, ran = 0;
	bool wait = true;
	static const struct option opts[] = {
		{ "no-wait", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			wait = false;
			break;
		case 'h':
			fputs(usage_fetch, stdout);
			return 0;
		default:
			usage_error("fetch", "unknown option %s",
			    argv[optind - 1]);
		}
	}
	st = cli_open_store();
	memset(&po, 0, sizeof(po));
	ps.tty = isatty(STDOUT_FILENO);
	po.progress = on_progress;
	po.progress_arg = &ps;
	po.wait_lock = wait;
	po.verbose = cli_verbose;
	if (optind < argc) {
		n = (size_t)(argc - optind);
		list = xcalloc(n, sizeof(*list));
		for (i = 0; i < n; i++) {
			account_init(&one);
			if (store_account_get(st, argv[optind + (int)i], &one,
			    &e) == -1) {
				fprintf(stderr, "mailpull: %s: config error: "
				    "%s\n", argv[optind + (int)i], err_msg(&e));
				failed++;
				account_clear(&one);
				continue;
			}
			list[i] = one;
		}
	} else {
		if (store_account_list(st, &list, &n, &e) == -1) {
			fprintf(stderr, "mailpull: %s\n", err_msg(&e));
			store_close(&st);
			return 1;
		}
	}
	for (i = 0; i < n; i++) {
		struct account *a = &list[i];
		char b[32];

		if (a->id == NULL)
			continue;
		if (optind >= argc && !a->enabled)
			continue;
		ran++;
		ps.shown = false;
		if (pass_run(st, a, &po, &res) == 0) {
			if (ps.shown)
				fputs("\r\033[K", stdout);
			printf("%s: %lu new messages delivered (%s), %lu "
			    "deleted, %lu kept on the server", a->id,
			    res.delivered, fmt_bytes(res.bytes, b, sizeof(b)),
			    res.deleted, res.kept);
			if (res.skipped > 0)
				printf(", %lu left for the next pass",
				    res.skipped);
			printf(" [%.1f s]\n", res.elapsed_ms / 1000.0);
		} else {
			if (ps.shown)
				fputs("\r\033[K", stdout);
			fflush(stdout);
			fprintf(stderr, "mailpull: %s: %s error: %s\n", a->id,
			    err_class_name(res.cls), res.msg != NULL ?
			    res.msg : "failed");
			for (size_t k = 0; k < res.nproblems; k++)
				fprintf(stderr, "mailpull: %s: %s\n", a->id,
				    res.problems[k]);
			if (res.parked + res.deferred > res.nproblems)
				fprintf(stderr, "mailpull: %s: (and %lu more "
				    "not delivered; see mailpull log %s)\n",
				    a->id, res.parked + res.deferred -
				    res.nproblems, a->id);
			if (res.delivered > 0)
				printf("%s: %lu new messages delivered before "
				    "the error\n", a->id, res.delivered);
			failed++;
		}
		fflush(stdout);
		record_status(st, a->id, &res);
		pass_result_clear(&res);
	}
	if (optind >= argc && ran == 0 && failed == 0)
		printf("no enabled accounts in %s; add one with:\n"
		    "  mailpull --state %s account add you@example.org "
		    "--protocol pop3 --host pop.example.org --user you\n",
		    cli_state_dir, cli_state_dir);
	store_account_list_free(&list, n);
	store_close(&st);
	err_clear(&e);
	return failed > 0 ? 1 : 0;
}

/* A manual pass counts for the account's status as a scheduled one does
 * (state, last success, failures), so `account show` tells the truth. */
static void
record_status(struct store *st, const char *id, const struct pass_result *r)
{
	struct acct_status cur;
	struct err e = { 0 };
	int64_t now = time(NULL);

	if (r->cls == ERR_BUSY)
		return;
	memset(&cur, 0, sizeof(cur));
	if (store_status_get(st, id, &cur, &e) == -1)
		goto out;
	if (r->cls == ERR_NONE) {
		cur.state = STATUS_OK;
		cur.failing_since = 0;
		cur.consecutive_failures = 0;
		cur.last_success = now;
		free(cur.last_error);
		free(cur.last_class);
		cur.last_error = cur.last_class = NULL;
	} else {
		/* An OAuth2 account waiting for `account authorize` stays
		 * parked for serve; another auth failure changes nothing. */
		if (!(cur.state == STATUS_AUTH_NEEDED && r->cls == ERR_AUTH))
			cur.state = r->cls == ERR_AUTH ? STATUS_AUTH_FAILING :
			    STATUS_FAILING;
		if (cur.failing_since == 0)
			cur.failing_since = now;
		cur.consecutive_failures++;
		free(cur.last_error);
		free(cur.last_class);
		cur.last_error = xstrdup(r->msg != NULL ? r->msg : "failed");
		cur.last_class = xstrdup(err_class_name(r->cls));
	}
	cur.last_attempt = now;
	if (cur.account == NULL)
		cur.account = xstrdup(id);
	(void)store_status_record(st, &cur, &e);
out:
	if (e.msg != NULL)
		log_debug("%s: status not recorded: %s", id, err_msg(&e));
	status_clear(&cur);
	err_clear(&e);
}

/* ---- log ---- */

int
cmd_log(int argc, char **argv)
{
	struct store *st;
	struct run_rec *runs = NULL;
	struct account a;
	struct err e = { 0 };
	size_t n = 0, i, max = 3;
	const char *id = NULL;
	char t1[64], t2[64];
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt(argc, argv, ":n:h")) != -1) {
		switch (c) {
		case 'n': {
			const char *errstr;

			max = (size_t)strnum(optarg, 1, 1000, &errstr);
			if (errstr != NULL)
				usage_error("log", "-n %s: %s", optarg, errstr);
			break;
		}
		case 'h':
			fputs(usage_log, stdout);
			return 0;
		default:
			usage_error("log", "unknown option %s",
			    argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		usage_error("log", "usage: mailpull log ID [-n N]");
	id = argv[optind];
	st = cli_open_store();
	account_init(&a);
	if (store_account_get(st, id, &a, &e) == -1 ||
	    store_run_list(st, id, max, &runs, &n, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		err_clear(&e);
		account_clear(&a);
		store_close(&st);
		return 1;
	}
	if (n == 0)
		printf("%s: no runs yet\n", id);
	for (i = 0; i < n; i++) {
		printf("=== %s run %s .. %s: %s\n", id,
		    fmt_time(runs[i].started, t1, sizeof(t1)),
		    fmt_time(runs[i].finished, t2, sizeof(t2)),
		    runs[i].summary != NULL ? runs[i].summary : "");
		if (runs[i].log != NULL)
			fputs(runs[i].log, stdout);
		if (i + 1 < n)
			fputs("\n", stdout);
	}
	store_run_free(&runs, n);
	account_clear(&a);
	store_close(&st);
	return 0;
}

