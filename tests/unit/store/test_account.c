#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/account.h"
#include "util/xmalloc.h"

static void
test_defaults(void **state)
{
	struct account a;

	account_init(&a);
	assert_int_equal(a.security, SEC_TLS);
	assert_true(a.verify);
	assert_int_equal(a.policy, POLICY_DELETE);
	assert_int_equal(a.timeout, 30);
	assert_true(a.enabled);
	assert_int_equal(a.keep_days, 0);
	assert_int_equal(a.max_per_pass, 0);
	assert_int_equal(a.port, 0);
	assert_null(a.id);
	assert_null(a.folders[0]);
	assert_false(a.has_password);
	account_clear(&a);
}

static void
test_ports(void **state)
{
	struct account a;

	account_init(&a);
	a.proto = ACCT_POP3;
	a.security = SEC_TLS;
	assert_int_equal(account_port(&a), 995);
	a.security = SEC_STARTTLS;
	assert_int_equal(account_port(&a), 110);
	a.security = SEC_NONE;
	assert_int_equal(account_port(&a), 110);
	a.proto = ACCT_IMAP;
	assert_int_equal(account_port(&a), 143);
	a.security = SEC_STARTTLS;
	assert_int_equal(account_port(&a), 143);
	a.security = SEC_TLS;
	assert_int_equal(account_port(&a), 993);
	a.port = 1993;
	assert_int_equal(account_port(&a), 1993);
}

static void
test_names(void **state)
{
	enum acct_proto p;
	enum acct_security s;
	enum acct_policy pol;

	assert_string_equal(account_proto_name(ACCT_POP3), "pop3");
	assert_string_equal(account_proto_name(ACCT_IMAP), "imap");
	assert_string_equal(account_security_name(SEC_TLS), "tls");
	assert_string_equal(account_security_name(SEC_STARTTLS), "starttls");
	assert_string_equal(account_security_name(SEC_NONE), "none");
	assert_string_equal(account_policy_name(POLICY_DELETE), "delete");
	assert_string_equal(account_policy_name(POLICY_KEEP), "keep");
	assert_string_equal(account_policy_name(POLICY_KEEP_DAYS),
	    "keep-days");
	assert_string_equal(account_proto_name((enum acct_proto)42),
	    "unknown");

	assert_int_equal(account_proto_parse("imap", &p), 0);
	assert_int_equal(p, ACCT_IMAP);
	assert_int_equal(account_proto_parse("pop3", &p), 0);
	assert_int_equal(p, ACCT_POP3);
	assert_int_equal(account_proto_parse("IMAP", &p), -1);
	assert_int_equal(account_proto_parse("", &p), -1);
	assert_int_equal(account_proto_parse(NULL, &p), -1);
	assert_int_equal(account_security_parse("starttls", &s), 0);
	assert_int_equal(s, SEC_STARTTLS);
	assert_int_equal(account_security_parse("none", &s), 0);
	assert_int_equal(s, SEC_NONE);
	assert_int_equal(account_security_parse("ssl", &s), -1);
	assert_int_equal(account_policy_parse("keep-days", &pol), 0);
	assert_int_equal(pol, POLICY_KEEP_DAYS);
	assert_int_equal(account_policy_parse("keep", &pol), 0);
	assert_int_equal(pol, POLICY_KEEP);
	assert_int_equal(account_policy_parse("delete", &pol), 0);
	assert_int_equal(pol, POLICY_DELETE);
	assert_int_equal(account_policy_parse("keepdays", &pol), -1);
}

static void
test_copy(void **state)
{
	struct account a, b;

	account_init(&a);
	a.id = xstrdup("x@example.org");
	a.host = xstrdup("imap.example.org");
	a.user = xstrdup("x");
	a.ca_file = xstrdup("/etc/ca.pem");
	a.deliver_to = xstrdup("x,y");
	a.target = xstrdup("maildir:/srv/%u");
	a.folders[0] = xstrdup("INBOX");
	a.folders[1] = xstrdup("Archive");
	a.proto = ACCT_IMAP;
	a.port = 10993;
	a.has_password = true;

	account_copy(&b, &a);
	assert_ptr_not_equal(a.id, b.id);
	assert_string_equal(b.id, "x@example.org");
	assert_string_equal(b.host, "imap.example.org");
	assert_string_equal(b.user, "x");
	assert_string_equal(b.ca_file, "/etc/ca.pem");
	assert_string_equal(b.deliver_to, "x,y");
	assert_string_equal(b.target, "maildir:/srv/%u");
	assert_ptr_not_equal(a.folders[0], b.folders[0]);
	assert_string_equal(b.folders[0], "INBOX");
	assert_string_equal(b.folders[1], "Archive");
	assert_null(b.folders[2]);
	assert_int_equal(b.proto, ACCT_IMAP);
	assert_int_equal(b.port, 10993);
	assert_true(b.has_password);
	account_clear(&a);
	/* b survives a's clear: the copy is deep. */
	assert_string_equal(b.folders[1], "Archive");
	account_clear(&b);
	assert_null(b.id);
	assert_int_equal(b.timeout, 30);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
