#include "common.h"

#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "deliver/target.h"
#include "deliver/target_impl.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/spool.h"

/* URI options: ?starttls, ?timeout=N; a '?' in a command or socket path
 * that does not start an option list stays. */
static void
test_uri_options(void **state)
{
	static const struct {
		const char *uri;
		bool ok, starttls;
		int timeout;
		const char *host, *path;
	} cases[] = {
		{ "smtp:mx.local:25?starttls", true, true, 0, "mx.local", NULL },
		{ "smtp:mx.local:25?starttls&timeout=5", true, true, 5,
		    "mx.local", NULL },
		{ "lmtp:127.0.0.1:24?timeout=1", true, false, 1, "127.0.0.1",
		    NULL },
		{ "lmtp:unix:/run/x?timeout=9", true, false, 9, NULL,
		    "/run/x" },
		{ "lmtp:unix:/run/x?y", true, false, 0, NULL, "/run/x?y" },
		{ "mda:/bin/cat?timeout=2", true, false, 2, NULL, "/bin/cat" },
		{ "mda:/bin/echo a?b", true, false, 0, NULL, "/bin/echo a?b" },
		{ "lmtp:h:24?starttls", false, false, 0, NULL, NULL },
		{ "mda:/bin/cat?starttls", false, false, 0, NULL, NULL },
		{ "smtp:h:25?bogus", false, false, 0, NULL, NULL },
		{ "smtp:h:25?timeout=0", false, false, 0, NULL, NULL },
		{ "smtp:h:25?timeout=x", false, false, 0, NULL, NULL },
		{ "lmtp:unix:/x?timeout=99999999", false, false, 0, NULL, NULL },
		{ "mda:sh -c 'cat > /tmp/%u'", false, false, 0, NULL, NULL },
		{ "mda:'unterminated", false, false, 0, NULL, NULL },
		{ "mda:/bin/x \\", false, false, 0, NULL, NULL },
		{ "lmtp:unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		    false, false, 0, NULL, NULL },
	};
	struct target_uri u;
	struct err e = { 0 };
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(cases); i++) {
		int r = target_uri_parse(cases[i].uri, &u, &e);

		if (!cases[i].ok) {
			if (r != -1)
				fail_msg("accepted: %s", cases[i].uri);
			assert_int_equal(e.cls, ERR_CONFIG);
			assert_null(u.path);
			assert_null(u.host);
			err_clear(&e);
			continue;
		}
		if (r != 0)
			fail_msg("%s: %s", cases[i].uri, err_msg(&e));
		assert_int_equal(u.starttls, cases[i].starttls);
		assert_int_equal(u.timeout_s, cases[i].timeout);
		if (cases[i].host != NULL)
			assert_string_equal(u.host, cases[i].host);
		if (cases[i].path != NULL)
			assert_string_equal(u.path, cases[i].path);
		target_uri_clear(&u);
	}
}

static void
test_argv_split(void **state)
{
	static const struct {
		const char *cmd;
		const char *want;	/* words joined with '|' */
		bool shell;
	} cases[] = {
		{ "/usr/lib/dovecot/dovecot-lda -d %u",
		    "/usr/lib/dovecot/dovecot-lda|-d|%u|", false },
		{ "  a   b\tc  ", "a|b|c|", false },
		{ "a 'b c' \"d e\"", "a|b c|d e|", false },
		{ "a 'it''s' x\\ y", "a|its|x y|", false },
		{ "a \"q\\\"q\" 's\\n'", "a|q\"q|s\\n|", false },
		{ "a '' \"\"", "a|||", false },
		{ "a ';' '|' '$(x)'", "a|;|||$(x)|", false },
		{ "sh -c 'cat > \"$3\"'", "/bin/sh|-c|cat > \"$3\"|", true },
		{ "sh -c echo $1; exit 75", "/bin/sh|-c|echo $1; exit 75|",
		    true },
		{ "/bin/sh -c true", "/bin/sh|-c|true|", true },
	};
	char **v;
	bool shell;
	struct err e = { 0 };
	struct buf b;
	size_t i, j;

	for (i = 0; i < MP_ARRAY_LEN(cases); i++) {
		if (target_argv_split(cases[i].cmd, &v, &shell, &e) != 0)
			fail_msg("%s: %s", cases[i].cmd, err_msg(&e));
		buf_init(&b, 4096);
		for (j = 0; v[j] != NULL; j++)
			assert_int_equal(buf_printf(&b, "%s|", v[j]), 0);
		if (strcmp(b.data, cases[i].want) != 0)
			fail_msg("%s: got %s", cases[i].cmd, b.data);
		assert_int_equal(shell, cases[i].shell);
		buf_free(&b);
		target_argv_free(&v);
		assert_null(v);
	}
	assert_int_equal(target_argv_split("", &v, &shell, &e), -1);
	err_clear(&e);
	assert_int_equal(target_argv_split("   ", &v, &shell, &e), -1);
	err_clear(&e);
	assert_int_equal(target_argv_split("a \"b", &v, &shell, &e), -1);
	err_clear(&e);
	assert_int_equal(target_argv_split("sh -c   ", &v, &shell, &e), -1);
	err_clear(&e);
	assert_int_equal(target_argv_split("sh -c 'x %a'", &v, &shell, &e),
	    -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	err_clear(&e);
}

/* Received: without "for" for several recipients; extra headers after. */
static void
test_header_format(void **state)
{
	struct delivery d;
	struct buf b;
	struct err e = { 0 };

	memset(&d, 0, sizeof(d));
	d.account = "acct@x";
	d.server = "pop.x";
	d.protocol = "POP3";
	d.remote_id = "UID1";
	buf_init(&b, TARGET_HEADER_MAX);
	assert_int_equal(target_header_format(&b, "me", NULL, &d, 0, &e), 0);
	assert_null(strstr(b.data, " for "));
	assert_non_null(strstr(b.data, "(account acct@x,"));
	buf_reset(&b);
	d.extra_headers = "X-Mailpull-Original-To: a@b\nX-Two: c";
	assert_int_equal(target_header_format(&b, "me", "r@x", &d, 0, &e),
	    0);
	assert_non_null(strstr(b.data, "for <r@x>"));
	assert_non_null(strstr(b.data,
	    "\nX-Mailpull-Original-To: a@b\nX-Two: c\n"));
	assert_int_equal(b.data[b.len - 1], '\n');
	assert_int_equal(strncmp(b.data, "Received: ", 10), 0);
	buf_reset(&b);
	d.extra_headers = "X-A: 1\n\nbody";
	assert_int_equal(target_header_format(&b, "me", "r@x", &d, 0, &e),
	    -1);
	err_clear(&e);
	buf_reset(&b);
	d.extra_headers = " continuation\n";
	assert_int_equal(target_header_format(&b, "me", "r@x", &d, 0, &e),
	    -1);
	err_clear(&e);
	buf_reset(&b);
	d.extra_headers = "X-A: 1\r\n";
	assert_int_equal(target_header_format(&b, "me", "r@x", &d, 0, &e),
	    -1);
	err_clear(&e);
	buf_free(&b);
}

static char tmpdir[64];

static int
setup_tmp(void **state)
{
	(void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/mp-tgt-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int
teardown_tmp(void **state)
{
	char cmd[128];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct spool *
spool_of(const char *s)
{
	struct spool *sp = spool_create("/tmp", 1 << 20, 1 << 24);
	unsigned char dg[SPOOL_DIGEST_LEN];

	assert_int_equal(spool_write(sp, s, strlen(s), NULL), 0);
	spool_finish(sp, dg);
	return sp;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static char *
read_file(const char *path)
{
	static char data[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(data, 1, sizeof(data) - 1, f);
	data[n] = '\0';
	fclose(f);
	return data;
}

/* Open an mda: target from a command with ?timeout=. */
static struct target *
mda_open_cmd(const char *cmd)
{
	char uri[1024];
	struct target_uri u;
	struct target *t;
	struct err e = { 0 };

	(void)snprintf(uri, sizeof(uri), "mda:%s", cmd);
	if (target_uri_parse(uri, &u, &e) != 0)
		fail_msg("%s: %s", uri, err_msg(&e));
	assert_int_equal(target_open(&t, &u, &e), 0);
	target_uri_clear(&u);
	return t;
}

static size_t
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
test_mda(void **state)
{
	static const char msg[] = "Subject: hi\n\n.line\nbody\0x\n";
	char script[128], out[128], cmd[512];
	struct target_rcpt rc[2];
	struct delivery d;
	struct spool *sp;
	struct target *t;
	struct err e = { 0 };
	size_t fds;
	char *got;
	int64_t t0;

	signal(SIGPIPE, SIG_IGN);
	memset(&d, 0, sizeof(d));
	d.account = "acct";
	d.extra_headers = "X-Extra: 1\n";
	(void)snprintf(script, sizeof(script), "%s/mda.sh", tmpdir);
	(void)snprintf(out, sizeof(out), "%s/out", tmpdir);
	write_file(script, "#!/bin/sh\ncat > \"$1.$2\"\n"
	    "env > \"$1.env\"\necho \"bad thing\n happened\" >&2\n"
	    "exit \"$3\"\n", 0755);
	sp = spool_create("/tmp", 1 << 20, 1 << 24);
	assert_int_equal(spool_write(sp, msg, sizeof(msg) - 1, NULL), 0);
	{
		unsigned char dg[SPOOL_DIGEST_LEN];

		spool_finish(sp, dg);
	}
	fds = open_fds();

	/* exit 0: delivered; stdin = Received + extra + the bytes */
	(void)snprintf(cmd, sizeof(cmd), "%s %s %%u 0", script, out);
	t = mda_open_cmd(cmd);
	memset(rc, 0, sizeof(rc));
	rc[0].addr = "alice@x.test";
	rc[1].addr = "bob@x.test";
	assert_int_equal(target_deliver_many(t, sp, rc, 2, &d, &e), 0);
	assert_int_equal(rc[0].result, ERR_NONE);
	assert_int_equal(rc[1].result, ERR_NONE);
	assert_null(rc[0].reason);
	(void)snprintf(cmd, sizeof(cmd), "%s.alice", out);
	{
		FILE *f = fopen(cmd, "r");
		char buf[4096];
		size_t n;
		const char *body;

		assert_non_null(f);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		assert_true(n > sizeof(msg) - 1);
		assert_memory_equal(buf + n - (sizeof(msg) - 1), msg,
		    sizeof(msg) - 1);
		assert_int_equal(strncmp(buf, "Received: ", 10), 0);
		body = memmem(buf, n, "\nX-Extra: 1\nSubject: hi\n", 24);
		assert_non_null(body);
		assert_non_null(memmem(buf, n, "for <alice@x.test>", 18));
	}
	(void)snprintf(cmd, sizeof(cmd), "%s.env", out);
	got = read_file(cmd);
	assert_non_null(got);
	assert_non_null(strstr(got, "PATH=/usr/local/bin:/usr/bin:/bin"));
	assert_null(strstr(got, "MP_SECRET"));
	target_close(&t);
	target_rcpts_clear(rc, 2);

	/* exit 75: temporary; exit 3: permanent with stderr */
	(void)snprintf(cmd, sizeof(cmd), "%s %s %%u 75", script, out);
	t = mda_open_cmd(cmd);
	assert_int_equal(target_deliver(t, sp, "a@x", &d, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(err_msg(&e), "exit 75"));
	err_clear(&e);
	target_close(&t);
	(void)snprintf(cmd, sizeof(cmd), "%s %s %%u 3", script, out);
	t = mda_open_cmd(cmd);
	assert_int_equal(target_deliver(t, sp, "a@x", &d, &e), -1);
	assert_int_equal(e.cls, ERR_PERM);
	assert_non_null(strstr(err_msg(&e), "exit 3: bad thing  happened"));
	err_clear(&e);
	/* a recipient that would become an option */
	assert_int_equal(target_deliver(t, sp, "-rf@x", &d, &e), -1);
	assert_int_equal(e.cls, ERR_PERM);
	err_clear(&e);
	target_close(&t);

	/* a signal */
	t = mda_open_cmd("sh -c 'kill -9 $$'");
	assert_int_equal(target_deliver(t, sp, "a@x", &d, &e), -1);
	assert_int_equal(e.cls, ERR_PERM);
	assert_non_null(strstr(err_msg(&e), "killed by signal 9"));
	err_clear(&e);
	target_close(&t);

	/* not reading stdin at all, exit 0: its exit status decides */
	t = mda_open_cmd("/bin/true");
	assert_int_equal(target_deliver(t, sp, "a@x", &d, &e), 0);
	target_close(&t);

	/* a missing command: local (temporary) */
	t = mda_open_cmd("/nonexistent/mda");
	assert_int_equal(target_deliver(t, sp, "a@x", &d, &e), -1);
	assert_int_equal(e.cls, ERR_LOCAL);
	err_clear(&e);
	target_close(&t);

	/* the time limit: the group is killed, temporary */
	t = mda_open_cmd("sh -c 'sleep 30 & sleep 30'?timeout=1");
	t0 = (int64_t)time(NULL);
	assert_int_equal(target_deliver(t, sp, "a@x", &d, &e), -1);
	assert_int_equal(e.cls, ERR_TEMP);
	assert_non_null(strstr(err_msg(&e), "killed"));
	assert_true((int64_t)time(NULL) - t0 < 5);
	err_clear(&e);
	target_close(&t);

	/* no descriptor leaked */
	assert_int_equal(open_fds(), fds);
	spool_free(&sp);
}

/* Maildir through deliver_many: each recipient its own file with the
 * extra header lines after Received:. */
static void
test_maildir_many(void **state)
{
	char uri[256], path[512];
	struct target_uri u;
	struct target *t;
	struct target_rcpt rc[3];
	struct delivery d;
	struct spool *sp;
	struct err e = { 0 };
	DIR *dir;
	struct dirent *de;
	const char *users[] = { "a", "b" };
	size_t i, n;

	(void)snprintf(uri, sizeof(uri), "maildir:%s/%%u", tmpdir);
	assert_int_equal(target_uri_parse(uri, &u, &e), 0);
	assert_int_equal(target_open(&t, &u, &e), 0);
	memset(&d, 0, sizeof(d));
	d.account = "acct";
	d.extra_headers = "X-Mailpull-Original-To: z@y\n";
	sp = spool_of("Subject: s\n\nbody\n");
	memset(rc, 0, sizeof(rc));
	rc[0].addr = "a@x";
	rc[1].addr = "b@x";
	rc[2].addr = "../evil@x";
	assert_int_equal(target_deliver_many(t, sp, rc, 3, &d, &e), 0);
	assert_int_equal(rc[0].result, ERR_NONE);
	assert_int_equal(rc[1].result, ERR_NONE);
	assert_int_equal(rc[2].result, ERR_PERM);
	assert_non_null(rc[2].reason);
	assert_int_equal(target_sync(t, &e), 0);
	for (i = 0; i < 2; i++) {
		(void)snprintf(path, sizeof(path), "%s/%s/new", tmpdir,
		    users[i]);
		dir = opendir(path);
		assert_non_null(dir);
		n = 0;
		while ((de = readdir(dir)) != NULL) {
			char f[1024], *got;

			if (de->d_name[0] == '.')
				continue;
			n++;
			(void)snprintf(f, sizeof(f), "%s/%s", path,
			    de->d_name);
			got = read_file(f);
			assert_non_null(got);
			assert_non_null(strstr(got, "\nX-Mailpull-Original-To: "
			    "z@y\nSubject: s\n\nbody\n"));
		}
		closedir(dir);
		assert_int_equal(n, 1);
	}
	target_rcpts_clear(rc, 3);
	assert_null(rc[2].reason);
	assert_int_equal(rc[2].result, ERR_NONE);
	spool_free(&sp);
	target_close(&t);
	target_uri_clear(&u);
}

/* lmtp/smtp: a refused connection is a whole failure, every recipient
 * temporary. */
static void
test_smtp_unreachable(void **state)
{
	static const char *const uris[] = {
		"lmtp:127.0.0.1:1?timeout=2", "smtp:127.0.0.1:1?timeout=2",
		"lmtp:unix:/nonexistent/sock",
	};
	struct target_uri u;
	struct target *t;
	struct target_rcpt rc[2];
	struct delivery d;
	struct spool *sp;
	struct err e = { 0 };
	size_t i;

	memset(&d, 0, sizeof(d));
	sp = spool_of("Subject: s\n\nbody\n");
	for (i = 0; i < MP_ARRAY_LEN(uris); i++) {
		assert_int_equal(target_uri_parse(uris[i], &u, &e), 0);
		assert_int_equal(target_open(&t, &u, &e), 0);
		memset(rc, 0, sizeof(rc));
		rc[0].addr = "a@x";
		rc[1].addr = "b@x";
		assert_int_equal(target_deliver_many(t, sp, rc, 2, &d, &e),
		    -1);
		assert_int_equal(e.cls, ERR_TEMP);
		assert_int_equal(rc[0].result, ERR_TEMP);
		assert_int_equal(rc[1].result, ERR_TEMP);
		assert_non_null(rc[1].reason);
		target_rcpts_clear(rc, 2);
		err_clear(&e);
		target_close(&t);
		target_uri_clear(&u);
	}
	spool_free(&sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_options),
		cmocka_unit_test(test_argv_split),
		cmocka_unit_test(test_header_format),
		cmocka_unit_test_setup_teardown(test_mda, setup_tmp,
		    teardown_tmp),
		cmocka_unit_test_setup_teardown(test_maildir_many, setup_tmp,
		    teardown_tmp),
		cmocka_unit_test(test_smtp_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
