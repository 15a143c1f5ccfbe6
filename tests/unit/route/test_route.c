/*
 * test_route.c - the rule parser and matcher, accepted domains, header
 * extraction and the routing decisions (route_create, no store).
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route/route.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/spool.h"
#include "util/xmalloc.h"

/* ---- rules ---- */

static const struct {
	const char *text;
	enum route_pat pat;
	const char *pattern;
	enum route_dest dest;
	const char *dest_arg;
} good_rules[] = {
	{ "sales@a.example > alice", ROUTE_PAT_ADDR, "sales@a.example",
	    ROUTE_DEST_ADDR, "alice" },
	{ "  Sales@A.Example>alice@Local.example  ", ROUTE_PAT_ADDR,
	    "sales@a.example", ROUTE_DEST_ADDR, "alice@Local.example" },
	{ "*@a.example > *@local.example", ROUTE_PAT_DOMAIN, "a.example",
	    ROUTE_DEST_KEEP, "local.example" },
	{ "*@*.a.example > *@LOCAL.example", ROUTE_PAT_SUBDOMAIN, "a.example",
	    ROUTE_DEST_KEEP, "local.example" },
	{ "* > postmaster", ROUTE_PAT_ANY, NULL, ROUTE_DEST_POSTMASTER, NULL },
	{ "*@* > drop", ROUTE_PAT_ANY, NULL, ROUTE_DEST_DROP, NULL },
	{ "spam@b.example > DROP", ROUTE_PAT_ADDR, "spam@b.example",
	    ROUTE_DEST_DROP, NULL },
	{ "team@b.example > @sales-team", ROUTE_PAT_ADDR, "team@b.example",
	    ROUTE_DEST_GROUP, "sales-team" },
	{ "first.last+tag@b.example > x.y", ROUTE_PAT_ADDR,
	    "first.last+tag@b.example", ROUTE_DEST_ADDR, "x.y" },
};

static const struct {
	const char *text;
	const char *why;	/* expected in the message */
} bad_rules[] = {
	{ "", "expected 'PATTERN > DEST'" },
	{ "sales@a.example alice", "expected 'PATTERN > DEST'" },
	{ "a@b.example > c > d", "expected 'PATTERN > DEST'" },
	{ "sales > alice", "pattern 'sales' is not" },
	{ " > alice", "pattern '' is not" },
	{ "sales@* > alice", "pattern 'sales@*' is not" },
	{ "s*@a.example > alice", "pattern 's*@a.example' is not" },
	{ "*@-a.example > alice", "is not" },
	{ "*@a..example > alice", "is not" },
	{ "a b@a.example > alice", "is not" },
	{ "x@a.example > ", "destination '' is not" },
	{ "x@a.example > @", "destination '@' is not" },
	{ "x@a.example > @bad name", "destination '@bad name' is not" },
	{ "x@a.example > al ice", "destination 'al ice' is not" },
	{ "x@a.example > ../etc", "destination '../etc' is not" },
	{ "x@a.example > a/b", "destination 'a/b' is not" },
	{ "x@a.example > *@", "destination '*@' is not" },
	{ "x@a.example > *", "destination '*' is not" },
	{ "x@a.example > alice@", "destination 'alice@' is not" },
};

static void
test_rule_parse(void **state)
{
	struct route_rule r;
	struct err e = { 0 };
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(good_rules); i++) {
		if (route_rule_parse(good_rules[i].text, &r, &e) != 0)
			fail_msg("%s: %s", good_rules[i].text, err_msg(&e));
		assert_int_equal(r.pat, good_rules[i].pat);
		if (good_rules[i].pattern == NULL)
			assert_null(r.pattern);
		else
			assert_string_equal(r.pattern, good_rules[i].pattern);
		assert_int_equal(r.dest, good_rules[i].dest);
		if (good_rules[i].dest_arg == NULL)
			assert_null(r.dest_arg);
		else
			assert_string_equal(r.dest_arg,
			    good_rules[i].dest_arg);
		route_rule_clear(&r);
	}
	for (i = 0; i < MP_ARRAY_LEN(bad_rules); i++) {
		if (route_rule_parse(bad_rules[i].text, &r, &e) != -1)
			fail_msg("accepted '%s'", bad_rules[i].text);
		assert_int_equal(e.cls, ERR_CONFIG);
		if (strstr(err_msg(&e), bad_rules[i].why) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'",
			    bad_rules[i].text, err_msg(&e), bad_rules[i].why);
		assert_non_null(strstr(err_msg(&e), "invalid rule '"));
		assert_null(r.pattern);
		assert_null(r.dest_arg);
		err_clear(&e);
	}
	{
		/* an over-long rule is refused, not truncated */
		char big[2000];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		big[10] = '@';
		big[1000] = '>';
		assert_int_equal(route_rule_parse(big, &r, &e), -1);
		err_clear(&e);
	}
}

static const struct {
	const char *rule;
	const char *addr;
	bool match;
} matches[] = {
	{ "sales@a.example > x", "sales@a.example", true },
	{ "sales@a.example > x", "SALES@A.EXAMPLE", true },
	{ "SALES@a.example > x", "sales@a.Example", true },
	{ "sales@a.example > x", "sales@b.example", false },
	{ "sales@a.example > x", "sales2@a.example", false },
	{ "sales@a.example > x", "xsales@a.example", false },
	{ "*@a.example > x", "bob@a.example", true },
	{ "*@a.example > x", "bob@A.EXAMPLE", true },
	{ "*@a.example > x", "bob@sub.a.example", false },
	{ "*@a.example > x", "bob@xa.example", false },
	{ "*@*.a.example > x", "bob@sub.a.example", true },
	{ "*@*.a.example > x", "bob@deep.sub.A.example", true },
	{ "*@*.a.example > x", "bob@a.example", false },
	{ "*@*.a.example > x", "bob@xa.example", false },
	{ "* > x", "anyone@anywhere.example", true },
};

static void
test_rule_match(void **state)
{
	struct route_rule r;
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(matches); i++) {
		assert_int_equal(route_rule_parse(matches[i].rule, &r, NULL),
		    0);
		if (route_rule_match(&r, matches[i].addr) != matches[i].match)
			fail_msg("%s vs %s: expected %d", matches[i].rule,
			    matches[i].addr, matches[i].match);
		route_rule_clear(&r);
	}
}

static void
test_domains(void **state)
{
	struct err e = { 0 };

	assert_int_equal(route_domain_check("a.example", &e), 0);
	assert_int_equal(route_domain_check("*.a.example", &e), 0);
	assert_int_equal(route_domain_check("localhost", &e), 0);
	assert_int_equal(route_domain_check("", &e), -1);
	err_clear(&e);
	assert_int_equal(route_domain_check("a example", &e), -1);
	assert_non_null(strstr(err_msg(&e), "invalid domain 'a example'"));
	err_clear(&e);
	assert_int_equal(route_domain_check("*a.example", &e), -1);
	err_clear(&e);
	assert_int_equal(route_domain_check("a.example.", &e), -1);
	err_clear(&e);
	assert_true(route_domain_match("a.example", "A.Example"));
	assert_false(route_domain_match("a.example", "sub.a.example"));
	assert_true(route_domain_match("*.a.example", "sub.a.example"));
	assert_true(route_domain_match("*.a.example", "x.sub.a.example"));
	assert_false(route_domain_match("*.a.example", "a.example"));
	assert_false(route_domain_match("*.a.example", "xa.example"));

	assert_int_equal(route_local_check("alice", NULL), 0);
	assert_int_equal(route_local_check("alice@Local.Example", NULL), 0);
	assert_int_equal(route_local_check("a.b+c@x.example", NULL), 0);
	assert_int_equal(route_local_check("@x.example", NULL), -1);
	assert_int_equal(route_local_check("a@", NULL), -1);
	assert_int_equal(route_local_check("a b", NULL), -1);
	assert_int_equal(route_local_check("..", NULL), -1);
	assert_int_equal(route_local_check("a/b@x.example", NULL), -1);
	assert_int_equal(route_group_name_check("sales-team_2.x", NULL), 0);
	assert_int_equal(route_group_name_check("", NULL), -1);
	assert_int_equal(route_group_name_check("a b", NULL), -1);
	assert_int_equal(route_group_name_check("@a", NULL), -1);
}

/* ---- routing ---- */

static int
groups(void *arg, const char *name, char ***m_r, size_t *n_r, struct err *e)
{
	char **m;

	if (strcmp(name, "sales") == 0) {
		m = xcalloc(3, sizeof(*m));
		m[0] = xstrdup("alice");
		m[1] = xstrdup("Bob@Local.Example");
		m[2] = xstrdup("carol@other.example");
		*m_r = m;
		*n_r = 3;
		return 0;
	}
	if (strcmp(name, "bad") == 0) {
		m = xcalloc(1, sizeof(*m));
		m[0] = xstrdup("not an address");
		*m_r = m;
		*n_r = 1;
		return 0;
	}
	return err_set(e, ERR_CONFIG, "no such group %s", name);
}

static struct route *
mk(const char *deliver_to, bool multidrop, const char *domains,
    const char *rules, const char *postmaster)
{
	struct route_config c = { 0 };
	struct route *r;
	struct err e = { 0 };

	c.account = "catchall@provider.example";
	c.deliver_to = deliver_to;
	c.multidrop = multidrop;
	c.domains = domains;
	c.rules = rules;
	c.postmaster = postmaster;
	c.local_domain = "local.example";
	c.group_get = groups;
	if (route_create(&r, &c, &e) == -1)
		fail_msg("route_create: %s", err_msg(&e));
	return r;
}

/* "a b c" == the result's recipients, in order. */
static void
expect(const struct route_result *res, const char *want)
{
	struct buf b;
	size_t i;

	buf_init(&b, 65536);
	for (i = 0; i < res->n; i++) {
		if (i > 0)
			buf_adds(&b, " ");
		buf_adds(&b, res->rcpts[i]);
	}
	if (strcmp(b.data != NULL ? b.data : "", want) != 0)
		fail_msg("recipients '%s', expected '%s' (note: %s)",
		    b.data != NULL ? b.data : "", want,
		    res->note != NULL ? res->note : "-");
	buf_free(&b);
}

static void
route_str(struct route *r, const char *msg, struct route_result *res)
{
	struct err e = { 0 };

	if (route_message_mem(r, msg, strlen(msg), res, &e) == -1)
		fail_msg("route_message: %s", err_msg(&e));
}

static void
test_single(void **state)
{
	struct route_result res;
	struct route *r;
	struct route_config c = { 0 };
	struct err e = { 0 };

	r = mk(NULL, false, NULL, NULL, NULL);
	route_str(r, "To: x@y.example\n\nbody\n", &res);
	expect(&res, "catchall@provider.example");
	assert_non_null(res.orig);
	assert_null(res.orig[0][0]);
	assert_false(res.dropped);
	route_result_clear(&res);
	assert_null(route_postmaster(r));
	route_close(&r);
	assert_null(r);

	r = mk("alice, Bob@LOCAL.example,@sales,alice@local.example", false,
	    NULL, NULL, "pm");
	route_str(r, "", &res);
	expect(&res, "alice@local.example Bob@local.example "
	    "carol@other.example");
	route_result_clear(&res);
	assert_string_equal(route_postmaster(r), "pm@local.example");
	assert_true(route_accepted(r, "x@LOCAL.example"));
	assert_true(route_accepted(r, "x@provider.example"));
	assert_false(route_accepted(r, "x@other.example"));
	route_close(&r);

	/* configuration errors are ERR_CONFIG with a reason */
	c.account = "a@b.example";
	c.group_get = groups;
	c.deliver_to = "@nosuch";
	assert_int_equal(route_create(&r, &c, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(err_msg(&e), "no such group nosuch"));
	err_clear(&e);
	c.deliver_to = "@bad";
	assert_int_equal(route_create(&r, &c, &e), -1);
	assert_non_null(strstr(err_msg(&e), "invalid member"));
	err_clear(&e);
	c.deliver_to = "a b";
	assert_int_equal(route_create(&r, &c, &e), -1);
	err_clear(&e);
	c.deliver_to = NULL;
	c.multidrop = true;
	assert_int_equal(route_create(&r, &c, &e), -1);
	assert_non_null(strstr(err_msg(&e), "--domains"));
	err_clear(&e);
	c.domains = "a.example";
	c.rules = "x@a.example > alice\nbogus";
	assert_int_equal(route_create(&r, &c, &e), -1);
	assert_non_null(strstr(err_msg(&e), "invalid rule 'bogus'"));
	err_clear(&e);
	c.rules = "x@a.example > @nosuch";
	assert_int_equal(route_create(&r, &c, &e), -1);
	assert_non_null(strstr(err_msg(&e), "no such group"));
	err_clear(&e);
	c.rules = NULL;
	c.envelope_headers = "Delivered-To,Bad Name";
	assert_int_equal(route_create(&r, &c, &e), -1);
	assert_non_null(strstr(err_msg(&e), "invalid header name"));
	err_clear(&e);
	assert_null(r);
}

/* Forms providers use for the envelope recipient. */
static const struct {
	const char *hdr;
	const char *want;
} envelope_forms[] = {
	/* Postfix / Dovecot / Gmail */
	{ "Delivered-To: bob@a.example\n", "bob@a.example" },
	{ "X-Original-To: bob@a.example\n", "bob@a.example" },
	/* Exim */
	{ "Envelope-to: bob@a.example\n", "bob@a.example" },
	{ "Envelope-To: bob@a.example, carol@b.example\n",
	    "bob@a.example carol@b.example" },
	/* angle brackets, comments, case */
	{ "X-Envelope-To: <Bob@A.Example>\n", "bob@a.example" },
	{ "x-envelope-to: bob@a.example (the envelope)\n", "bob@a.example" },
	/* the provider's box next to the real recipient */
	{ "Delivered-To: catchall@provider.example\n"
	    "X-Original-To: bob@a.example\n", "bob@a.example" },
	/* several hops: all combined, duplicates once */
	{ "Delivered-To: bob@a.example\nDelivered-To: BOB@a.example\n"
	    "X-Original-To: carol@b.example\nEnvelope-To: bob@a.example\n",
	    "bob@a.example carol@b.example" },
	/* folded */
	{ "Envelope-To: bob@a.example,\n\tcarol@b.example\n",
	    "bob@a.example carol@b.example" },
	/* obsolete space before the colon */
	{ "Delivered-To : bob@a.example\n", "bob@a.example" },
	/* subdomain only when listed */
	{ "Delivered-To: x@sub.b.example\nX-Original-To: y@sub.a.example\n",
	    "x@sub.b.example" },
	/* CRLF form tolerated */
	{ "Delivered-To: bob@a.example\r\n", "bob@a.example" },
};

static void
test_envelope_forms(void **state)
{
	struct route_result res;
	struct route *r;
	char *msg;
	size_t i;

	r = mk(NULL, true, "a.example,b.example\n*.b.example", NULL, "pm");
	for (i = 0; i < MP_ARRAY_LEN(envelope_forms); i++) {
		msg = xasprintf("Return-Path: <s@x.example>\n%s"
		    "To: list@lists.example\nSubject: hi\n\nbody\n",
		    envelope_forms[i].hdr);
		route_str(r, msg, &res);
		expect(&res, envelope_forms[i].want);
		assert_non_null(res.note);
		route_result_clear(&res);
		free(msg);
	}
	route_close(&r);
}

static void
test_fallback(void **state)
{
	struct route_result res;
	struct route *r;

	r = mk(NULL, true, "a.example,b.example", NULL, "postmaster");

	/* provider's own Delivered-To outside the accepted domains */
	route_str(r, "Delivered-To: box@provider.example\n"
	    "To: \"Bob B.\" <bob@a.example>, other@elsewhere.example\n"
	    "Cc: =?UTF-8?Q?Caf=C3=A9?= <carol@b.example>\n"
	    "Subject: x\n\nTo: notaheader@a.example\n", &res);
	expect(&res, "bob@a.example carol@b.example");
	assert_non_null(strstr(res.note, "no envelope recipient"));
	assert_non_null(strstr(res.note, "To,Cc"));
	route_result_clear(&res);

	/* groups, comments, quoted local parts, Bcc, Resent-* */
	route_str(r, "To: undisclosed-recipients:;\n"
	    "Cc: Friends: dave@a.example, \"Eve\" <eve@b.example>;\n"
	    "Bcc: frank@a.example (Frank)\n"
	    "Resent-To: \"grace\"@a.example\n"
	    "Resent-Cc: \"h i\"@a.example, <heidi@b.example>\n"
	    "\n", &res);
	expect(&res, "dave@a.example eve@b.example frank@a.example "
	    "grace@a.example heidi@b.example");
	assert_non_null(strstr(res.note, "unusable"));
	route_result_clear(&res);

	/* an encoded word as the display name of an accepted address */
	route_str(r, "To: =?ISO-8859-1?Q?J=F6rg?= <joerg@a.example>\n\n",
	    &res);
	expect(&res, "joerg@a.example");
	route_result_clear(&res);

	/* envelope headers win over To/Cc when one is accepted */
	route_str(r, "X-Original-To: bob@a.example\nTo: carol@b.example\n\n",
	    &res);
	expect(&res, "bob@a.example");
	route_result_clear(&res);

	/* nobody of ours: the postmaster, with what was seen */
	route_str(r, "Delivered-To: box@provider.example\n"
	    "To: list@lists.example\n\n", &res);
	expect(&res, "postmaster@local.example");
	assert_true(res.rerouted[0]);
	assert_string_equal(res.orig[0][0], "box@provider.example");
	assert_string_equal(res.orig[0][1], "list@lists.example");
	assert_null(res.orig[0][2]);
	assert_non_null(strstr(res.note, "postmaster"));
	route_result_clear(&res);

	/* no header at all */
	route_str(r, "\nbody only\n", &res);
	expect(&res, "postmaster@local.example");
	route_result_clear(&res);
	route_str(r, "", &res);
	expect(&res, "postmaster@local.example");
	route_result_clear(&res);
	route_close(&r);
}

static void
test_rules_route(void **state)
{
	struct route_result res;
	struct route *r;
	struct err e = { 0 };

	r = mk(NULL, true, "a.example,b.example,*.c.example",
	    "sales@a.example > alice\n"
	    "info@a.example > alice@local.example\n"
	    "team@b.example > @sales\n"
	    "spam@b.example > drop\n"
	    "*@*.c.example > postmaster\n"
	    "*@a.example > *@local.example\n", "pm@admin.example");

	route_str(r, "Delivered-To: SALES@a.example\n"
	    "X-Original-To: info@a.example\n"
	    "Envelope-To: Bob@A.example, zed@b.example\n\n", &res);
	/* sales and info both end at alice: one copy, two originals */
	expect(&res, "alice@local.example bob@local.example zed@b.example");
	assert_string_equal(res.orig[0][0], "sales@a.example");
	assert_string_equal(res.orig[0][1], "info@a.example");
	assert_null(res.orig[0][2]);
	assert_false(res.rerouted[0]);
	assert_false(res.rerouted[1]);
	assert_string_equal(res.orig[1][0], "bob@a.example");
	assert_string_equal(res.orig[2][0], "zed@b.example");
	assert_non_null(strstr(res.note, "rule 1"));
	assert_non_null(strstr(res.note, "Delivered-To,X-Original-To,"
	    "Envelope-To"));
	route_result_clear(&res);

	/* group destination; members qualified, de-duplicated with alice */
	route_str(r, "Delivered-To: team@b.example\n"
	    "Delivered-To: sales@a.example\n\n", &res);
	expect(&res, "alice@local.example Bob@local.example "
	    "carol@other.example");
	route_result_clear(&res);

	/* drop is explicit; everything dropped */
	route_str(r, "Delivered-To: spam@b.example\n\n", &res);
	assert_int_equal(res.n, 0);
	assert_true(res.dropped);
	assert_non_null(strstr(res.note, "dropped (rule 4)"));
	route_result_clear(&res);

	/* partly dropped */
	route_str(r, "To: spam@b.example, x@b.example\n\n", &res);
	expect(&res, "x@b.example");
	assert_false(res.dropped);
	route_result_clear(&res);

	/* several recipients to postmaster: one copy */
	route_str(r, "To: a@x.c.example, b@y.c.example\n\n", &res);
	expect(&res, "pm@admin.example");
	assert_true(res.rerouted[0]);
	assert_string_equal(res.orig[0][0], "a@x.c.example");
	assert_string_equal(res.orig[0][1], "b@y.c.example");
	route_result_clear(&res);
	assert_true(route_accepted(r, "q@deep.c.example"));
	assert_false(route_accepted(r, "q@c.example"));
	assert_true(route_accepted(r, "q@B.EXAMPLE"));
	route_close(&r);

	/* "postmaster" without one configured: postmaster@local domain;
	 * nobody accepted without a postmaster: ERR_CONFIG */
	r = mk(NULL, true, "a.example", "* > postmaster", NULL);
	route_str(r, "To: x@a.example\n\n", &res);
	expect(&res, "postmaster@local.example");
	route_result_clear(&res);
	assert_int_equal(route_message_mem(r, "To: x@z.example\n\n", 18, &res,
	    &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(err_msg(&e), "no postmaster configured"));
	assert_int_equal(res.n, 0);
	err_clear(&e);
	route_close(&r);

	/* first match wins */
	r = mk(NULL, true, "a.example", "*@a.example > drop\n"
	    "bob@a.example > bob", "pm");
	route_str(r, "To: bob@a.example\n\n", &res);
	assert_true(res.dropped);
	route_result_clear(&res);
	route_close(&r);
}

static void
test_limits(void **state)
{
	struct route_result res;
	struct route *r;
	struct err e = { 0 };
	struct buf b;
	size_t i;

	r = mk(NULL, true, "a.example", NULL, "pm");

	/* more than ROUTE_RCPTS_MAX distinct accepted recipients */
	buf_init(&b, 1 << 20);
	buf_adds(&b, "To: ");
	for (i = 0; i <= ROUTE_RCPTS_MAX; i++)
		buf_printf(&b, "%su%zu@a.example", i > 0 ? ", " : "", i);
	buf_adds(&b, "\n\n");
	assert_int_equal(route_message_mem(r, b.data, b.len, &res, &e), -1);
	assert_int_equal(e.cls, ERR_PERM);
	err_clear(&e);
	/* exactly the maximum is fine */
	buf_reset(&b);
	buf_adds(&b, "To: ");
	for (i = 0; i < ROUTE_RCPTS_MAX; i++)
		buf_printf(&b, "%su%zu@a.example", i > 0 ? ", " : "", i);
	buf_adds(&b, "\n\n");
	assert_int_equal(route_message_mem(r, b.data, b.len, &res, &e), 0);
	assert_int_equal(res.n, ROUTE_RCPTS_MAX);
	route_result_clear(&res);

	/* a header over ROUTE_HEADER_MAX: the bounded part is used and the
	 * postmaster gets a copy; a recipient past the bound is not seen */
	buf_reset(&b);
	buf_adds(&b, "Delivered-To: bob@a.example\n");
	while (b.len < ROUTE_HEADER_MAX + 1000)
		buf_adds(&b, "X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
	buf_adds(&b, "Delivered-To: late@a.example\n\nbody\n");
	route_str(r, b.data, &res);
	expect(&res, "bob@a.example pm@local.example");
	assert_non_null(strstr(res.note, "over the limits"));
	route_result_clear(&res);

	/* too many fields */
	buf_reset(&b);
	buf_adds(&b, "Delivered-To: bob@a.example\n");
	for (i = 0; i < ROUTE_FIELDS_MAX + 10; i++)
		buf_adds(&b, "X: y\n");
	buf_adds(&b, "Delivered-To: late@a.example\n\n");
	route_str(r, b.data, &res);
	expect(&res, "bob@a.example pm@local.example");
	route_result_clear(&res);

	/* one huge folded field, NUL bytes, bare CR, garbage */
	buf_reset(&b);
	buf_adds(&b, "To: bob@a.example");
	for (i = 0; i < 20000; i++)
		buf_adds(&b, ",\n x\"y@(((a.example");
	buf_add(&b, "\nCc: carol@a.example\0,\r dave@a.example\n", 38);
	buf_adds(&b, "no colon line\n: empty name\n\n");
	route_str(r, b.data, &res);
	assert_true(res.n >= 1);
	assert_string_equal(res.rcpts[0], "bob@a.example");
	route_result_clear(&res);

	/* hostile local parts never become recipients */
	route_str(r, "To: \"../../etc\"@a.example, \"a/b\"@a.example, "
	    "\".x\"@a.example, \"\"@a.example\n\n", &res);
	expect(&res, "pm@local.example");
	route_result_clear(&res);

	buf_free(&b);
	route_close(&r);
}

/* route_message() reads only the header part of a spooled message, also
 * when the spool is a file. */
static void
test_spool(void **state)
{
	struct route_result res;
	struct route *r;
	struct spool *sp;
	struct err e = { 0 };
	unsigned char dg[SPOOL_DIGEST_LEN];
	const char *hdr = "Delivered-To: bob@a.example\nSubject: s\n\n";
	char line[80];
	size_t i;

	r = mk(NULL, true, "a.example", NULL, "pm");
	sp = spool_create("/tmp", 1024, 64 << 20);
	assert_int_equal(spool_write(sp, hdr, strlen(hdr), &e), 0);
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (i = 0; i < 10000; i++)
		assert_int_equal(spool_write(sp, line, sizeof(line), &e), 0);
	spool_finish(sp, dg);
	assert_int_equal(route_message(r, sp, &res, &e), 0);
	expect(&res, "bob@a.example");
	route_result_clear(&res);
	spool_free(&sp);
	route_close(&r);

	/* single mode does not read the spool at all */
	r = mk("alice", false, NULL, NULL, NULL);
	sp = spool_create("/tmp", 1024, 1024);
	assert_int_equal(route_message(r, sp, &res, &e), 0);
	expect(&res, "alice@local.example");
	route_result_clear(&res);
	spool_free(&sp);
	route_close(&r);
}

/* The envelope header list is configurable and replaces the default. */
static void
test_envelope_config(void **state)
{
	struct route_config c = { 0 };
	struct route_result res;
	struct route *r;
	struct err e = { 0 };

	c.account = "box@provider.example";
	c.multidrop = true;
	c.domains = "a.example";
	c.envelope_headers = "X-Rcpt-To";
	c.postmaster = "pm";
	assert_int_equal(route_create(&r, &c, &e), 0);
	route_str(r, "Delivered-To: bob@a.example\nX-Rcpt-To: carol@a.example\n"
	    "To: dave@a.example\n\n", &res);
	expect(&res, "carol@a.example");
	route_result_clear(&res);
	route_str(r, "Delivered-To: bob@a.example\nTo: dave@a.example\n\n",
	    &res);
	expect(&res, "dave@a.example");
	route_result_clear(&res);
	route_close(&r);

	/* the account's own address alone is a recipient */
	c.account = "box@a.example";
	c.envelope_headers = NULL;
	assert_int_equal(route_create(&r, &c, &e), 0);
	route_str(r, "Delivered-To: box@a.example\n\n", &res);
	expect(&res, "box@a.example");
	route_result_clear(&res);
	route_str(r, "Delivered-To: box@a.example\nX-Original-To: "
	    "bob@a.example\n\n", &res);
	expect(&res, "bob@a.example");
	route_result_clear(&res);
	route_close(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_parse),
		cmocka_unit_test(test_rule_match),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_envelope_forms),
		cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_rules_route),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_spool),
		cmocka_unit_test(test_envelope_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
