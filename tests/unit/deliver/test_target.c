#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "deliver/target.h"
#include "deliver/target_impl.h"
#include "util/buf.h"
#include "util/err.h"

struct uri_good {
	const char *uri;
	enum target_kind kind;
	const char *path;
	const char *host;
	int port;
	bool unix_socket;
};

static const struct uri_good uri_goods[] = {
	{ "maildir:/var/mail/%d/%u", TARGET_MAILDIR, "/var/mail/%d/%u", NULL,
	    0, false },
	{ "maildir:Maildir", TARGET_MAILDIR, "Maildir", NULL, 0, false },
	{ "maildir:/m/100%%", TARGET_MAILDIR, "/m/100%%", NULL, 0, false },
	{ "lmtp:127.0.0.1:24", TARGET_LMTP, NULL, "127.0.0.1", 24, false },
	{ "lmtp:localhost:65535", TARGET_LMTP, NULL, "localhost", 65535,
	    false },
	{ "lmtp:[::1]:24", TARGET_LMTP, NULL, "::1", 24, false },
	{ "lmtp:unix:/run/dovecot/lmtp", TARGET_LMTP, "/run/dovecot/lmtp",
	    NULL, 0, true },
	{ "smtp:[::1]:25", TARGET_SMTP, NULL, "::1", 25, false },
	{ "smtp:mx.example.org:1", TARGET_SMTP, NULL, "mx.example.org", 1,
	    false },
	{ "mda:/usr/lib/dovecot/dovecot-lda -d %u", TARGET_MDA,
	    "/usr/lib/dovecot/dovecot-lda -d %u", NULL, 0, false },
	{ "LMTP:h:2", TARGET_LMTP, NULL, "h", 2, false },
};

static void
test_uri_good(void **state)
{
	struct target_uri u;
	struct err e = { 0 };
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(uri_goods); i++) {
		const struct uri_good *g = &uri_goods[i];

		if (target_uri_parse(g->uri, &u, &e) != 0)
			fail_msg("%s: %s", g->uri, err_msg(&e));
		assert_int_equal(u.kind, g->kind);
		if (g->path == NULL)
			assert_null(u.path);
		else
			assert_string_equal(u.path, g->path);
		if (g->host == NULL)
			assert_null(u.host);
		else
			assert_string_equal(u.host, g->host);
		assert_int_equal(u.port, g->port);
		assert_int_equal(u.unix_socket, g->unix_socket);
		target_uri_clear(&u);
		assert_null(u.path);
	}
}

static const char *const uri_bads[] = {
	"maildir:",
	"lmtp:host",
	"lmtp:host:0",
	"lmtp:host:65536",
	"lmtp:host:-1",
	"lmtp:host:24x",
	"lmtp:host:",
	"lmtp::24",
	"lmtp:",
	"lmtp:unix:",
	"lmtp:unix:relative/path",
	"lmtp:::1:24",
	"lmtp:[::1]",
	"lmtp:[::1:24",
	"lmtp:[]:24",
	"lmtp:[host]:24",
	"lmtp:ho st:24",
	"smtp:unix:/run/x",
	"smtp:host",
	"mda:",
	"pop3:x",
	"imap://x",
	"maildir",
	"maildir:/x/%z",
	"maildir:/x/%",
	"maildir:/x\n",
};

static void
test_uri_bad(void **state)
{
	struct target_uri u;
	struct err e = { 0 };
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(uri_bads); i++) {
		const char *s = uri_bads[i];

		if (target_uri_parse(s, &u, &e) != -1)
			fail_msg("%s: accepted", s);
		assert_int_equal(e.cls, ERR_CONFIG);
		/* The message names the URI (control chars aside). */
		if (strchr(s, '\n') == NULL && strstr(err_msg(&e), s) == NULL)
			fail_msg("%s: message \"%s\" does not name it", s,
			    err_msg(&e));
		assert_null(u.path);
		assert_null(u.host);
		err_clear(&e);
	}
	assert_int_equal(target_uri_parse("", &u, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	err_clear(&e);
}

static void
test_open_unsupported(void **state)
{
	/* Every kind opens now; lmtp/smtp connect at the first message. */
	static const char *const uris[] = {
		"lmtp:127.0.0.1:24", "lmtp:unix:/x", "smtp:h:25", "mda:/bin/x"
	};
	struct target_uri u;
	struct target *t;
	struct err e = { 0 };
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(uris); i++) {
		assert_int_equal(target_uri_parse(uris[i], &u, &e), 0);
		t = NULL;
		if (target_open(&t, &u, &e) != 0)
			fail_msg("%s: %s", uris[i], err_msg(&e));
		assert_non_null(t);
		assert_int_equal(target_sync(t, &e), 0);
		target_close(&t);
		assert_null(t);
		target_uri_clear(&u);
	}
	assert_string_equal(target_kind_name(TARGET_MAILDIR), "maildir");
	assert_string_equal(target_kind_name(TARGET_MDA), "mda");
}

struct exp_case {
	const char *tmpl;
	const char *rcpt;
	const char *want;	/* NULL: error */
	enum err_class cls;
};

static const struct exp_case exp_cases[] = {
	{ "/m/%d/%u", "joe@example.org", "/m/example.org/joe", ERR_NONE },
	{ "/m/%a", "Joe@Example.ORG", "/m/Joe@example.org", ERR_NONE },
	{ "/m/%d/%u/Maildir", "Joe@EXAMPLE.org", "/m/example.org/Joe/Maildir",
	    ERR_NONE },
	{ "/m/100%%/%u", "a@b", "/m/100%/a", ERR_NONE },
	{ "/plain", "a@b", "/plain", ERR_NONE },
	{ "/m/%u", "a.b+c@d", "/m/a.b+c", ERR_NONE },
	{ "/m/%u", "\"x@y\"@d", "/m/\"x@y\"", ERR_NONE },
	{ "/m/%u%%%d", "a@b", "/m/a%b", ERR_NONE },
	{ "/m/%z", "a@b", NULL, ERR_CONFIG },
	{ "/m/%", "a@b", NULL, ERR_CONFIG },
	{ "/m/%U", "a@b", NULL, ERR_CONFIG },
	{ "/m/%u", "..@example.org", NULL, ERR_PERM },
	{ "/m/%u", ".@example.org", NULL, ERR_PERM },
	{ "/m/%d/%u", "a@..", NULL, ERR_PERM },
	{ "/m/%u", "../x@example.org", NULL, ERR_PERM },
	{ "/m/%u", "a/b@example.org", NULL, ERR_PERM },
	{ "/m/%d", "a@ex/ample.org", NULL, ERR_PERM },
	{ "/m/%u", "joe", NULL, ERR_PERM },
	{ "/m/%u", "@example.org", NULL, ERR_PERM },
	{ "/m/%u", "joe@", NULL, ERR_PERM },
	{ "/m/%u", "", NULL, ERR_PERM },
	{ "/m/%u", "jo\te@example.org", NULL, ERR_PERM },
	{ "/m/%u", "jo\re@example.org", NULL, ERR_PERM },
	{ "/m/%u", "jo\x7f@example.org", NULL, ERR_PERM },
};

static void
test_expand(void **state)
{
	struct err e = { 0 };
	char *out;
	size_t i;
	int r;

	for (i = 0; i < MP_ARRAY_LEN(exp_cases); i++) {
		const struct exp_case *c = &exp_cases[i];

		out = (char *)"junk";
		r = target_expand(c->tmpl, c->rcpt, &out, &e);
		if (c->want != NULL) {
			if (r != 0)
				fail_msg("%s %s: %s", c->tmpl, c->rcpt,
				    err_msg(&e));
			assert_string_equal(out, c->want);
			free(out);
		} else {
			if (r != -1)
				fail_msg("%s %s: accepted as %s", c->tmpl,
				    c->rcpt, out);
			assert_null(out);
			assert_int_equal(e.cls, c->cls);
			assert_true(strlen(err_msg(&e)) > 0);
			err_clear(&e);
		}
	}
}

static void
test_expand_too_long(void **state)
{
	struct err e = { 0 };
	char *tmpl, *out;

	/* 1500 times "a@b": 4500 bytes, over the 4096 bound */
	tmpl = malloc(3001);
	assert_non_null(tmpl);
	memset(tmpl, 0, 3001);
	for (size_t i = 0; i < 1500; i++)
		memcpy(tmpl + i * 2, "%a", 2);
	assert_int_equal(target_expand(tmpl, "a@b", &out, &e), -1);
	assert_null(out);
	assert_int_equal(e.cls, ERR_PERM);
	err_clear(&e);
	free(tmpl);
}

/* Check the one-field shape: LF ends, tab continuations, < 78 columns. */
static void
check_field_shape(const char *s, bool strict_width)
{
	const char *line = s, *nl;
	size_t n = 0;

	assert_true(strncmp(s, "Received: ", 10) == 0);
	while ((nl = strchr(line, '\n')) != NULL) {
		size_t w = (size_t)(nl - line);

		if (n > 0) {
			assert_int_equal(line[0], '\t');
			w += 7;
		}
		if (strict_width && w >= 78)
			fail_msg("line too wide (%zu): %.*s", w,
			    (int)(nl - line), line);
		for (const char *p = line; p < nl; p++)
			assert_true(*p == '\t' || (*p >= 0x20 && *p < 0x7f));
		line = nl + 1;
		n++;
	}
	assert_int_equal(*line, '\0');
	assert_true(n >= 2);
}

static void
test_received(void **state)
{
	struct delivery d = {
		.account = "acct-7",
		.server = "pop.example.net",
		.protocol = "POP3S",
		.remote_id = "UID123",
	};
	struct buf b;

	setenv("TZ", "UTC", 1);
	tzset();
	buf_init(&b, TARGET_RECEIVED_MAX);
	/* 2003-07-01 10:52:37 UTC, a Tuesday */
	assert_int_equal(target_received_format(&b, "mx.local",
	    "joe@example.org", &d, 1057056757), 0);
	assert_string_equal(b.data,
	    "Received: from pop.example.net by mx.local with POP3S "
	    "(mailpull " MAILPULL_VERSION ")\n"
	    "\tfor <joe@example.org> (account acct-7, id UID123);\n"
	    "\tTue, 01 Jul 2003 10:52:37 +0000\n");
	check_field_shape(b.data, true);
	buf_free(&b);
}

static void
test_received_hostile(void **state)
{
	char longname[300];
	struct delivery d = {
		.account = "a\r\nBcc: x@y",
		.server = "evil\r\nX-Injected: 1",
		.protocol = NULL,
		.remote_id = "id) (x\\",
	};
	struct delivery d2 = {
		.account = "account-with-a-rather-long-identifier-0123456789",
		.server = "a-very-long-server-name.subdomain.example.com",
		.protocol = "IMAPS",
		.remote_id = "1234567890/4294967295",
	};
	struct buf b;
	size_t len1;

	buf_init(&b, TARGET_RECEIVED_MAX);
	assert_int_equal(target_received_format(&b, "h", "j@e", &d, 0), 0);
	check_field_shape(b.data, true);
	assert_null(strstr(b.data, "\nX-Injected"));
	assert_null(strstr(b.data, "\nBcc"));
	assert_null(strstr(b.data, "(x"));
	assert_non_null(strstr(b.data, "with unknown"));
	buf_free(&b);

	buf_init(&b, TARGET_RECEIVED_MAX);
	assert_int_equal(target_received_format(&b,
	    "mailhost.internal.example.org",
	    "some.user.with.a.long.name@department.example.org", &d2,
	    1057056757), 0);
	check_field_shape(b.data, true);
	len1 = b.len;
	buf_reset(&b);
	/* Same inputs, another date: the same length (Maildir S=). */
	assert_int_equal(target_received_format(&b,
	    "mailhost.internal.example.org",
	    "some.user.with.a.long.name@department.example.org", &d2,
	    1700000000), 0);
	assert_int_equal(b.len, len1);
	buf_free(&b);

	/* A token that cannot fit stays one field, bounded. */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	d2.server = longname;
	buf_init(&b, TARGET_RECEIVED_MAX);
	assert_int_equal(target_received_format(&b, "h", "j@e", &d2, 0), 0);
	check_field_shape(b.data, false);
	assert_true(b.len < 1000);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_good),
		cmocka_unit_test(test_uri_bad),
		cmocka_unit_test(test_open_unsupported),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_expand_too_long),
		cmocka_unit_test(test_received),
		cmocka_unit_test(test_received_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
