/*
 * test_filter.c - the filter's parsers of outside input: the provider's
 * topmost Received: field (forged lower fields ignored, IPv6, Exim and
 * qmail forms, missing), Return-Path, clamd's INSTREAM reply, rspamd's
 * /checkv2 JSON (milter headers checked, hostile values bounded), scanner
 * addresses.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "deliver/target.h"

#include "filter/filter.h"
#include "util/err.h"
#include "util/xmalloc.h"

#define PROV "mx.provider.test"

static int
parse(const char *head, const char *host, struct filter_relay *r)
{
	return filter_received_parse(head, strlen(head), host, r);
}

static void
test_received_postfix(void **state)
{
	struct filter_relay r;
	const char *h =
	    "Return-Path: <a@example.com>\n"
	    "Received: from in2.provider.test (in2.provider.test [10.0.0.2])\n"
	    "\tby store.provider.test with LMTP id 1; Mon, 1 Jan 2026\n"
	    "Received: from mail.example.com (mail.example.com [198.51.100.7])"
	    "\n\tby mx.provider.test (Postfix) with ESMTPS id 2\n"
	    "\tfor <x@example.org>; Mon, 23 Nov 2026 10:00:00 +0000\n"
	    "Received: from evil (evil [203.0.113.66]) by mx.provider.test\n"
	    "Subject: hi\n\nbody\nReceived: from body [192.0.2.1] by "
	    "mx.provider.test\n";

	(void)state;
	assert_int_equal(parse(h, PROV, &r), 0);
	assert_true(r.found);
	assert_string_equal(r.ip, "198.51.100.7");
	assert_string_equal(r.helo, "mail.example.com");
	assert_string_equal(r.rdns, "mail.example.com");
	/* case-insensitive, trailing dot, and a .domain suffix */
	assert_int_equal(parse(h, "MX.Provider.TEST", &r), 0);
	assert_string_equal(r.ip, "198.51.100.7");
	assert_int_equal(parse(h, ".provider.test", &r), 0);
	/* the topmost field under the domain: the internal hop's */
	assert_string_equal(r.ip, "10.0.0.2");
}

static void
test_received_forged_only_below(void **state)
{
	struct filter_relay r;
	/* The provider's field names no IP; a lower forged one does: the
	 * forged address must not be used. */
	const char *h =
	    "Received: from helo.example by mx.provider.test with SMTP\n"
	    "Received: from x (x [203.0.113.66]) by mx.provider.test\n\n";

	(void)state;
	assert_int_equal(parse(h, PROV, &r), 0);
	assert_true(r.found);
	assert_string_equal(r.ip, "");
	assert_string_equal(r.helo, "helo.example");
}

static void
test_received_ipv6_and_forms(void **state)
{
	struct filter_relay r;

	(void)state;
	assert_int_equal(parse("Received: from h6.example (h6.example "
	    "[IPv6:2001:db8::25])\r\n\tby mx.provider.test; date\r\n\r\n",
	    PROV, &r), 0);
	assert_string_equal(r.ip, "2001:db8::25");
	assert_string_equal(r.helo, "h6.example");
	/* Exim: "from rdns ([ip] helo=name)" */
	assert_int_equal(parse("Received: from mail.example.net "
	    "([198.51.100.9] helo=EHLO.example.net)\n by mx.provider.test "
	    "with esmtps id 1\n\n", PROV, &r), 0);
	assert_string_equal(r.ip, "198.51.100.9");
	assert_string_equal(r.helo, "EHLO.example.net");
	/* qmail: "from unknown (HELO name) (ip)" */
	assert_int_equal(parse("Received: from unknown (HELO q.example) "
	    "(192.0.2.44)\n  by mx.provider.test with SMTP; date\n\n", PROV,
	    &r), 0);
	assert_string_equal(r.ip, "192.0.2.44");
	assert_string_equal(r.helo, "q.example");
	/* an address literal as the HELO */
	assert_int_equal(parse("Received: from [192.0.2.5] (unknown "
	    "[192.0.2.5]) by mx.provider.test\n\n", PROV, &r), 0);
	assert_string_equal(r.ip, "192.0.2.5");
	/* not an address */
	assert_int_equal(parse("Received: from a (a [999.1.1.1]) by "
	    "mx.provider.test\n\n", PROV, &r), 0);
	assert_string_equal(r.ip, "");
	/* "by" inside a comment is not the by clause */
	assert_int_equal(parse("Received: from a (by mx.provider.test "
	    "[192.0.2.1]) by other.test\n\n", PROV, &r), -1);
}

static void
test_received_missing(void **state)
{
	struct filter_relay r;

	(void)state;
	assert_int_equal(parse("Subject: x\n\n", PROV, &r), -1);
	assert_false(r.found);
	assert_int_equal(parse("Received: from a (a [192.0.2.1]) by "
	    "mx.other.test\n\n", PROV, &r), -1);
	assert_int_equal(parse("Received: from a (a [192.0.2.1]) by "
	    "mx.provider.test\n\n", NULL, &r), -1);
	assert_int_equal(parse("Received: from a (a [192.0.2.1]) by "
	    "mx.provider.test\n\n", "", &r), -1);
	/* suffix match needs a real subdomain */
	assert_int_equal(parse("Received: from a by xprovider.test\n\n",
	    ".provider.test", &r), -1);
	/* in the body, not the header */
	assert_int_equal(parse("Subject: x\n\nReceived: from a (a "
	    "[192.0.2.1]) by mx.provider.test\n", PROV, &r), -1);
	/* cut-off header, unterminated comment, empty value */
	assert_int_equal(parse("Received: from a (a [192.0.2.1 by "
	    "mx.provider.test", PROV, &r), -1);
	assert_int_equal(parse("Received:", PROV, &r), -1);
	assert_int_equal(parse("", PROV, &r), -1);
}

static void
test_received_long(void **state)
{
	struct filter_relay r;
	char *h;
	size_t i, n = 20000;

	(void)state;
	/* a huge folded field and many tokens: bounded, no crash */
	h = xmalloc(n + 200);
	memcpy(h, "Received: from ", 15);
	for (i = 15; i < n; i++)
		h[i] = (i % 7 == 0) ? ' ' : (i % 11 == 0 ? '(' : 'a');
	memcpy(h + n, " by mx.provider.test\n\n", 23);
	(void)filter_received_parse(h, n + 22, PROV, &r);
	free(h);
}

static void
test_received_backslash_at_end(void **state)
{
	struct filter_relay r;

	(void)state;
	/* a quoted-pair cut short by the end of the value (fuzz_received
	 * found the tokenizer reading past it): the field still parses */
	assert_int_equal(parse("Received: from a.example ([192.0.2.9])\n"
	    "\tby mx.provider.test (x\\\n\n", PROV, &r), 0);
	assert_true(r.found);
	assert_string_equal(r.ip, "192.0.2.9");
}

static void
test_return_path(void **state)
{
	char out[300];
	const char *h = "Received: x\nReturn-Path: <a@b.example>\n"
	    "Return-Path: <lower@x>\n\n";

	(void)state;
	assert_int_equal(filter_return_path(h, strlen(h), out, sizeof(out)),
	    0);
	assert_string_equal(out, "a@b.example");
	assert_int_equal(filter_return_path("Return-Path: <>\n\n", 17, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(filter_return_path("Return-Path: <a b@c>\n\n", 22,
	    out, sizeof(out)), -1);
	assert_int_equal(filter_return_path("Return-Path: <a@b\n\n", 19,
	    out, sizeof(out)), -1);
	assert_int_equal(filter_return_path("Subject: x\n\n", 12, out,
	    sizeof(out)), -1);
}

static void
test_clamd_reply(void **state)
{
	char v[64];

	(void)state;
	assert_int_equal(filter_clamd_reply_parse("stream: OK", 11, v,
	    sizeof(v)), 0);
	assert_int_equal(filter_clamd_reply_parse("stream: OK\n", 11, v,
	    sizeof(v)), 0);
	assert_int_equal(filter_clamd_reply_parse("stream: Eicar-Sig.UNOFFICIAL"
	    " FOUND", 34, v, sizeof(v)), 1);
	assert_string_equal(v, "Eicar-Sig.UNOFFICIAL");
	assert_int_equal(filter_clamd_reply_parse("INSTREAM size limit "
	    "exceeded. ERROR", 35, v, sizeof(v)), -1);
	assert_non_null(strstr(v, "size limit"));
	assert_int_equal(filter_clamd_reply_parse("", 0, v, sizeof(v)), -1);
	assert_int_equal(filter_clamd_reply_parse("stream:  FOUND", 14, v,
	    sizeof(v)), -1);
	assert_int_equal(filter_clamd_reply_parse("OKAY", 4, v, sizeof(v)),
	    -1);
	/* control characters dropped, the name bounded */
	{
		const char *l = "stream: A\x01\x1b" "BBBBBBBBBBBBBBBBBBBBBBBB"
		    "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB FOUND";

		assert_int_equal(filter_clamd_reply_parse(l, strlen(l), v,
		    sizeof(v)), 1);
	}
	assert_int_equal(strlen(v), sizeof(v) - 1);
	assert_int_equal(v[1], 'B');
}

static void
test_rspamd_reply(void **state)
{
	struct rspamd_reply r;
	struct err e = { 0 };
	const char *j = "{\"is_skipped\": false, \"score\": 15.5, "
	    "\"required_score\": 15.0, \"action\": \"reject\", \"symbols\": "
	    "{\"GTUBE\": {\"score\": 0}, \"R_SPF_NA\": {}}, \"milter\": "
	    "{\"add_headers\": {\"X-Spamd-Result\": {\"value\": \"default: "
	    "True [15.50 / 15.00];\\r\\n\\tGTUBE(0.00)[]\", \"order\": 0}, "
	    "\"X-Rspamd-Server\": \"host\", \"Bad Name\": \"x\", "
	    "\"X-Inject\": \"a\\r\\nBcc: evil@example\", \"X-Arr\": "
	    "[\"one\", {\"value\": \"two\"}, [\"nested\"]]}, "
	    "\"remove_headers\": {\"X-Spam\": 1}}}";

	(void)state;
	assert_int_equal(filter_rspamd_reply_parse(j, strlen(j), &r, &e), 0);
	assert_string_equal(r.action, "reject");
	assert_true(r.score > 15.4 && r.score < 15.6);
	assert_true(r.required > 14.9 && r.required < 15.1);
	assert_non_null(strstr(r.symbols, "GTUBE"));
	assert_non_null(strstr(r.add_headers, "X-Spamd-Result: default: "
	    "True [15.50 / 15.00];\n\tGTUBE(0.00)[]\n"));
	assert_non_null(strstr(r.add_headers, "X-Rspamd-Server: host\n"));
	assert_null(strstr(r.add_headers, "Bad Name"));
	/* a line break in a value becomes a fold, never a new field */
	assert_non_null(strstr(r.add_headers, "X-Inject: a\n\tBcc: "));
	assert_null(strstr(r.add_headers, "\nBcc:"));
	assert_non_null(strstr(r.add_headers, "X-Arr: one\nX-Arr: two\n"));
	assert_null(strstr(r.add_headers, "nested"));
	rspamd_reply_clear(&r);

	j = "{\"score\": 1.0, \"action\": \"no action\"}";
	assert_int_equal(filter_rspamd_reply_parse(j, strlen(j), &r, &e), 0);
	assert_null(r.add_headers);
	assert_null(r.symbols);
	rspamd_reply_clear(&r);
}

static void
test_rspamd_reply_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[1, 2]",
		"{\"score\": 1}",
		"{\"action\": \"reject\"}",
		"{\"action\": 5, \"score\": 1}",
		"{\"action\": \"\", \"score\": 1}",
		"{\"action\": \"re\\nject\", \"score\": 1}",
		"{\"action\": \"reject\", \"score\": \"15\"}",
		"{\"action\": \"reject\", \"score\": 1e300}",
		"{\"action\": \"a very very very long action name\", "
		    "\"score\": 1}",
		"{\"action\": \"reject\", \"score\": 1",
	};
	struct rspamd_reply r;
	struct err e = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < MP_ARRAY_LEN(bad); i++) {
		assert_int_equal(filter_rspamd_reply_parse(bad[i],
		    strlen(bad[i]), &r, &e), -1);
		assert_int_equal(e.cls, ERR_PROTOCOL);
		err_clear(&e);
	}
	/* over the bound: refused before parsing */
	assert_int_equal(filter_rspamd_reply_parse("{}", FILTER_REPLY_MAX + 1,
	    &r, &e), -1);
	err_clear(&e);
}

static void
test_rspamd_reply_huge_headers(void **state)
{
	struct rspamd_reply r;
	struct err e = { 0 };
	char *j, *p;
	size_t i;

	(void)state;
	/* 40 fields of 4 KiB: more than FILTER_HEADERS_MAX */
	j = xmalloc(256 * 1024);
	p = j + snprintf(j, 256, "{\"action\":\"no action\",\"score\":0,"
	    "\"milter\":{\"add_headers\":{");
	for (i = 0; i < 40; i++) {
		p += snprintf(p, 32, "%s\"X-H%zu\":\"", i ? "," : "", i);
		memset(p, 'v', 5000);
		p += 5000;
		*p++ = '"';
	}
	memcpy(p, "}}}", 4);
	assert_int_equal(filter_rspamd_reply_parse(j, strlen(j), &r, &e), -1);
	err_clear(&e);
	free(j);
}

static void
test_addr(void **state)
{
	struct filter_addr a;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(filter_addr_parse("127.0.0.1:11333", &a, &e), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 11333);
	assert_int_equal(filter_addr_parse("http://localhost:11333/", &a, &e),
	    0);
	assert_string_equal(a.host, "localhost");
	assert_int_equal(filter_addr_parse("[::1]:3310", &a, &e), 0);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 3310);
	assert_int_equal(filter_addr_parse("unix:/run/clamav/clamd.ctl", &a,
	    &e), 0);
	assert_true(a.unix_socket);
	assert_string_equal(a.path, "/run/clamav/clamd.ctl");
	assert_int_equal(filter_addr_parse("unix:rel", &a, &e), -1);
	err_clear(&e);
	assert_int_equal(filter_addr_parse("https://x:1", &a, &e), -1);
	err_clear(&e);
	assert_int_equal(filter_addr_parse("::1:3310", &a, &e), -1);
	err_clear(&e);
	assert_int_equal(filter_addr_parse("host", &a, &e), -1);
	err_clear(&e);
	assert_int_equal(filter_addr_parse("host:0", &a, &e), -1);
	err_clear(&e);
	assert_int_equal(filter_addr_parse("host:99999", &a, &e), -1);
	err_clear(&e);
	assert_int_equal(filter_addr_parse(":80", &a, &e), -1);
	err_clear(&e);
}

static int
count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* delivery.folder: Maildir++ subfolder ROOT/.NAME; bad names refused. */
static void
test_maildir_folder(void **state)
{
	char tmpl[] = "/tmp/mp-filter-md-XXXXXX", *uri, *p;
	struct target_uri u;
	struct target *t = NULL;
	struct spool *sp;
	struct delivery d;
	struct err e = { 0 };
	unsigned char dg[SPOOL_DIGEST_LEN];

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	uri = xasprintf("maildir:%s/%%u", tmpl);
	assert_int_equal(target_uri_parse(uri, &u, &e), 0);
	assert_int_equal(target_open(&t, &u, &e), 0);
	sp = spool_create(tmpl, 4096, 1 << 20);
	assert_int_equal(spool_write(sp, "Subject: x\n\nbody\n", 18, &e), 0);
	spool_finish(sp, dg);
	memset(&d, 0, sizeof(d));
	d.account = "a@b";
	d.folder = "Junk";
	assert_int_equal(target_deliver(t, sp, "bob@x.test", &d, &e), 0);
	assert_int_equal(target_sync(t, &e), 0);
	p = xasprintf("%s/bob/.Junk/new", tmpl);
	assert_int_equal(count_dir(p), 1);
	free(p);
	p = xasprintf("%s/bob/.Junk/maildirfolder", tmpl);
	assert_int_equal(access(p, F_OK), 0);
	free(p);
	d.folder = "../escape";
	d.key[0] = 1;
	assert_int_equal(target_deliver(t, sp, "bob@x.test", &d, &e), -1);
	err_clear(&e);
	d.folder = ".hidden";
	assert_int_equal(target_deliver(t, sp, "bob@x.test", &d, &e), -1);
	err_clear(&e);
	spool_free(&sp);
	target_close(&t);
	target_uri_clear(&u);
	free(uri);
	p = xasprintf("rm -rf '%s'", tmpl);
	assert_int_equal(system(p), 0);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_received_postfix),
		cmocka_unit_test(test_received_forged_only_below),
		cmocka_unit_test(test_received_ipv6_and_forms),
		cmocka_unit_test(test_received_missing),
		cmocka_unit_test(test_received_long),
		cmocka_unit_test(test_received_backslash_at_end),
		cmocka_unit_test(test_return_path),
		cmocka_unit_test(test_clamd_reply),
		cmocka_unit_test(test_rspamd_reply),
		cmocka_unit_test(test_rspamd_reply_bad),
		cmocka_unit_test(test_rspamd_reply_huge_headers),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_maildir_folder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
