/*
 * test_store_ext.c - the store's extension files (settings, groups and
 * routing, per-recipient journal and parked messages, status, users and
 * sessions, OAuth2, filters and quarantine, checks) on both backends
 * (storetest.h): the SQL of each runs once on SQLite and once on
 * PostgreSQL.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/account.h"
#include "store/checks.h"
#include "store/filters.h"
#include "store/journal.h"
#include "store/oauth.h"
#include "store/routing.h"
#include "store/settings.h"
#include "store/status.h"
#include "store/store.h"
#include "store/users.h"
#include "util/err.h"
#include "util/xmalloc.h"

#include "storetest.h"

#define OK(f, expr) do {						\
	if ((expr) != 0)						\
		fail_msg("%s: %s", #expr, err_msg(&(f)->e));		\
} while (0)

static void
add_acct(struct fixture *f, const char *id)
{
	struct account a;

	account_init(&a);
	a.id = xstrdup(id);
	OK(f, store_account_add(f->st, &a, &f->e));
	account_clear(&a);
}

static void
test_settings(void **state)
{
	struct fixture *f = *state;
	char **k, **v, *val;
	size_t n;
	int64_t c0, c1;

	OK(f, store_change_get(f->st, &c0, &f->e));
	OK(f, store_setting_set(f->st, "interval", "300", &f->e));
	OK(f, store_setting_set(f->st, "a-key", "x", &f->e));
	OK(f, store_setting_set(f->st, "interval", "600", &f->e));
	OK(f, store_setting_get(f->st, "interval", &val, &f->e));
	assert_string_equal(val, "600");
	free(val);
	OK(f, store_setting_get(f->st, "none", &val, &f->e));
	assert_null(val);
	/* Byte order, and the change counter is not listed. */
	OK(f, store_setting_set(f->st, "B-key", "y", &f->e));
	OK(f, store_setting_list(f->st, &k, &v, &n, &f->e));
	assert_int_equal(n, 3);
	assert_string_equal(k[0], "B-key");
	assert_string_equal(k[1], "a-key");
	assert_string_equal(k[2], "interval");
	assert_string_equal(v[2], "600");
	store_setting_list_free(&k, &v, n);
	OK(f, store_setting_set(f->st, "a-key", NULL, &f->e));
	OK(f, store_setting_get(f->st, "a-key", &val, &f->e));
	assert_null(val);
	OK(f, store_change_get(f->st, &c1, &f->e));
	assert_int_equal(c1, c0 + 5);
}

static void
test_groups_routing(void **state)
{
	struct fixture *f = *state;
	char alice[] = "alice@example.org", bob[] = "bob@example.org";
	char carol[] = "carol@example.org", nl[] = "a\nb";
	char *m1[] = { alice, bob }, *m2[] = { carol }, *bad[] = { nl };
	char **v;
	size_t n;
	struct routing r, r2;

	OK(f, store_group_add(f->st, "staff", m1, 2, &f->e));
	OK(f, store_group_add(f->st, "Sales", m2, 1, &f->e));
	assert_int_equal(store_group_add(f->st, "staff", m2, 1, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_string_equal(err_msg(&f->e), "group staff already exists");
	assert_int_equal(store_group_add(f->st, "x", bad, 1, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	OK(f, store_group_get(f->st, "staff", &v, &n, &f->e));
	assert_int_equal(n, 2);
	assert_string_equal(v[1], "bob@example.org");
	store_strv_free(&v, n);
	OK(f, store_group_set(f->st, "staff", m2, 1, &f->e));
	OK(f, store_group_get(f->st, "staff", &v, &n, &f->e));
	assert_int_equal(n, 1);
	store_strv_free(&v, n);
	assert_int_equal(store_group_set(f->st, "none", m2, 1, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	OK(f, store_group_list(f->st, &v, &n, &f->e));
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "Sales");
	assert_string_equal(v[1], "staff");
	store_strv_free(&v, n);
	OK(f, store_group_delete(f->st, "Sales", &f->e));
	assert_int_equal(store_group_delete(f->st, "Sales", &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);

	add_acct(f, "c@example.org");
	OK(f, store_routing_get(f->st, "c@example.org", &r, &f->e));
	assert_false(r.multidrop);
	assert_null(r.domains);
	assert_int_equal(r.reroute_unknown, ROUTING_REROUTE_DEFAULT);
	routing_clear(&r);
	r.multidrop = true;
	r.domains = xstrdup("example.org\nexample.net");
	r.postmaster = xstrdup("pm@example.org");
	r.reroute_unknown = ROUTING_REROUTE_NO;
	OK(f, store_routing_set(f->st, "c@example.org", &r, &f->e));
	OK(f, store_routing_get(f->st, "c@example.org", &r2, &f->e));
	assert_true(r2.multidrop);
	assert_string_equal(r2.domains, "example.org\nexample.net");
	assert_null(r2.rules);
	assert_string_equal(r2.postmaster, "pm@example.org");
	assert_int_equal(r2.reroute_unknown, ROUTING_REROUTE_NO);
	routing_clear(&r2);
	/* The foreign key: no routing for an unknown account. */
	assert_int_equal(store_routing_set(f->st, "none@example.org", &r,
	    &f->e), -1);
	assert_int_equal(f->e.cls, ERR_LOCAL);
	routing_clear(&r);
}

static void
parked_rec_free(struct parked_rec *p)
{
	free(p->folder);
	free(p->uid);
	free(p->msgid);
	free(p->subject);
	free(p->reason);
	memset(p, 0, sizeof(*p));
}

static void
test_journal_ext(void **state)
{
	struct fixture *f = *state;
	const char *acct = "j@example.org";
	struct parked_rec *p, rec;
	struct msg_rec *recs;
	char **v, *rid;
	size_t n;
	bool any;

	add_acct(f, acct);
	OK(f, store_rcpt_done_any(f->st, acct, &any, &f->e));
	assert_false(any);
	OK(f, store_msg_set(f->st, acct, "INBOX", 7, "1", MSG_DELIVERED, 1, 0,
	    &f->e));
	OK(f, store_rcpt_done_add(f->st, acct, "INBOX", 7, "1",
	    "b@example.org", &f->e));
	OK(f, store_rcpt_done_add(f->st, acct, "INBOX", 7, "1",
	    "a@example.org", &f->e));
	/* Twice is once. */
	OK(f, store_rcpt_done_add(f->st, acct, "INBOX", 7, "1",
	    "a@example.org", &f->e));
	OK(f, store_rcpt_done_any(f->st, acct, &any, &f->e));
	assert_true(any);
	OK(f, store_rcpt_done_load(f->st, acct, "INBOX", 7, "1", &v, &n,
	    &f->e));
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "a@example.org");
	assert_string_equal(v[1], "b@example.org");
	store_strv_free(&v, n);

	/* Parked: listed, found by its id, released or retried. */
	OK(f, store_msg_set(f->st, acct, "", 0, "uidl-1", MSG_FAILED, 1, 0,
	    &f->e));
	OK(f, store_parked_add(f->st, acct, "", 0, "uidl-1", "<m1@x>",
	    "Subject 1", "550 no", &f->e));
	OK(f, store_parked_add(f->st, acct, "INBOX", 7, "1", NULL, NULL,
	    "held", &f->e));
	OK(f, store_parked_add(f->st, acct, "INBOX", 7, "1", NULL, "again",
	    "held", &f->e));
	OK(f, store_parked_list(f->st, acct, &p, &n, &f->e));
	assert_int_equal(n, 2);
	store_parked_free(&p, n);
	OK(f, store_parked_find(f->st, acct, "INBOX/7/1", &rec, &f->e));
	assert_string_equal(rec.subject, "again");
	assert_null(rec.msgid);
	rid = parked_rid(&rec);
	assert_string_equal(rid, "INBOX/7/1");
	free(rid);
	/* Release: delivered, kept in the journal. */
	OK(f, store_parked_release(f->st, acct, &rec, &f->e));
	parked_rec_free(&rec);
	OK(f, store_parked_find(f->st, acct, "uidl-1", &rec, &f->e));
	assert_string_equal(rec.msgid, "<m1@x>");
	/* Retry: forgotten, so the next pass fetches it again. */
	OK(f, store_parked_retry(f->st, acct, &rec, &f->e));
	parked_rec_free(&rec);
	assert_int_equal(store_parked_find(f->st, acct, "uidl-1", &rec,
	    &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	OK(f, store_msg_load(f->st, acct, "", 0, &recs, &n, &f->e));
	assert_int_equal(n, 0);
	OK(f, store_msg_load(f->st, acct, "INBOX", 7, &recs, &n, &f->e));
	assert_int_equal(n, 1);
	assert_int_equal(recs[0].state, MSG_DELIVERED);
	store_msg_free(&recs, n);

	/* Forgetting a message takes its recipients and parked row along
	 * (the trigger). */
	OK(f, store_parked_add(f->st, acct, "INBOX", 7, "1", NULL, NULL,
	    "held", &f->e));
	OK(f, store_msg_forget(f->st, acct, "INBOX", 7, "1", &f->e));
	OK(f, store_rcpt_done_load(f->st, acct, "INBOX", 7, "1", &v, &n,
	    &f->e));
	assert_int_equal(n, 0);
	OK(f, store_parked_list(f->st, acct, &p, &n, &f->e));
	assert_int_equal(n, 0);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM deliveries"),
	    0);
}

static void
test_status(void **state)
{
	struct fixture *f = *state;
	struct acct_status r, *v;
	size_t n;

	add_acct(f, "s@example.org");
	add_acct(f, "t@example.org");
	OK(f, store_status_get(f->st, "s@example.org", &r, &f->e));
	assert_string_equal(r.account, "s@example.org");
	assert_int_equal(r.state, STATUS_NEW);
	status_clear(&r);

	/* Unknown times are NULL (typed in INSERT ... SELECT). */
	memset(&r, 0, sizeof(r));
	r.account = xstrdup("s@example.org");
	r.state = STATUS_FAILING;
	r.consecutive_failures = 3;
	r.last_error = xstrdup("connect refused");
	r.last_class = xstrdup("connect");
	r.last_attempt = 4102444800LL;	/* past 2038 */
	OK(f, store_status_record(f->st, &r, &f->e));
	status_clear(&r);
	OK(f, store_status_set_schedule(f->st, "s@example.org", 120, true,
	    &f->e));
	OK(f, store_status_get(f->st, "s@example.org", &r, &f->e));
	assert_int_equal(r.state, STATUS_FAILING);
	assert_int_equal(r.consecutive_failures, 3);
	assert_int_equal(r.failing_since, 0);
	assert_int_equal(r.last_success, 0);
	assert_int_equal(r.last_attempt, 4102444800LL);
	assert_string_equal(r.last_error, "connect refused");
	assert_int_equal(r.interval, 120);
	assert_true(r.idle);
	status_clear(&r);

	/* Only accounts that exist get a row. */
	memset(&r, 0, sizeof(r));
	r.account = xstrdup("none@example.org");
	OK(f, store_status_record(f->st, &r, &f->e));
	status_clear(&r);
	OK(f, store_status_set_schedule(f->st, "t@example.org", 0, false,
	    &f->e));
	OK(f, store_status_list(f->st, &v, &n, &f->e));
	assert_int_equal(n, 2);
	assert_string_equal(v[0].account, "s@example.org");
	assert_string_equal(v[1].account, "t@example.org");
	assert_false(v[1].idle);
	store_status_list_free(&v, n);
}

static void
test_users(void **state)
{
	struct fixture *f = *state;
	struct user u, *list;
	char sid[USER_TOKEN_LEN + 1], csrf[USER_TOKEN_LEN + 1];
	char csrf2[USER_TOKEN_LEN + 1];
	size_t n;
	int k;

	memset(&u, 0, sizeof(u));
	u.name = xstrdup("root");
	u.role = ROLE_ADMIN;
	OK(f, store_user_add(f->st, &u, "pw1", 3, &f->e));
	assert_int_equal(store_user_add(f->st, &u, "pw1", 3, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_string_equal(err_msg(&f->e), "user root already exists");
	user_clear(&u);
	u.name = xstrdup("dom");
	u.role = ROLE_DOMAIN_ADMIN;
	u.domains = xstrdup("example.org");
	OK(f, store_user_add(f->st, &u, "pw2", 3, &f->e));
	user_clear(&u);
	OK(f, store_user_count_admins(f->st, &k, &f->e));
	assert_int_equal(k, 1);
	OK(f, store_user_list(f->st, &list, &n, &f->e));
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "dom");
	assert_string_equal(list[0].domains, "example.org");
	store_user_list_free(&list, n);
	assert_int_equal(store_user_verify(f->st, "root", "pw1", 3, &u,
	    &f->e), 1);
	assert_int_equal(u.role, ROLE_ADMIN);
	user_clear(&u);
	assert_int_equal(store_user_verify(f->st, "root", "no", 2, &u,
	    &f->e), 0);

	/* Sessions (the "user" column) and the login audit. */
	OK(f, store_session_create(f->st, "root", 3600, 600, "127.0.0.1", sid,
	    csrf, &f->e));
	assert_int_equal(store_session_get(f->st, sid, &u, csrf2, &f->e), 1);
	assert_string_equal(u.name, "root");
	assert_string_equal(csrf2, csrf);
	user_clear(&u);
	OK(f, store_login_record(f->st, "root", "192.0.2.1", false, "bad",
	    &f->e));
	OK(f, store_login_record(f->st, "root", "192.0.2.1", true, NULL,
	    &f->e));
	OK(f, store_login_record(f->st, NULL, "192.0.2.1", false, "unknown",
	    &f->e));
	OK(f, store_login_failures(f->st, "root", NULL, 0, &k, &f->e));
	assert_int_equal(k, 1);
	OK(f, store_login_failures(f->st, NULL, "192.0.2.1", 0, &k, &f->e));
	assert_int_equal(k, 2);
	/* A new password ends the user's sessions. */
	OK(f, store_user_passwd(f->st, "root", "pw3", 3, &f->e));
	assert_int_equal(store_session_get(f->st, sid, &u, csrf2, &f->e), 0);
	OK(f, store_session_create(f->st, "dom", 3600, 600, NULL, sid, csrf,
	    &f->e));
	OK(f, store_session_delete(f->st, sid, &f->e));
	assert_int_equal(store_session_get(f->st, sid, &u, csrf2, &f->e), 0);
	OK(f, store_user_delete(f->st, "dom", &f->e));
	assert_int_equal(store_user_delete(f->st, "dom", &f->e), -1);
	assert_int_equal(store_user_get(f->st, "dom", &u, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
}

static void
test_oauth(void **state)
{
	struct fixture *f = *state;
	struct oauth_acct o, o2;
	char *r, *a, *sec;
	size_t rl, al, sl;
	int64_t exp;

	add_acct(f, "o@example.org");
	OK(f, store_oauth_get(f->st, "o@example.org", &o, &f->e));
	assert_false(o.oauth2);
	memset(&o, 0, sizeof(o));
	o.oauth2 = true;
	o.provider = xstrdup("google");
	o.client_id = xstrdup("cid");
	OK(f, store_oauth_set(f->st, "o@example.org", &o, &f->e));
	oauth_acct_clear(&o);
	OK(f, store_oauth_client_secret_set(f->st, "o@example.org", "csec", 4,
	    &f->e));
	OK(f, store_oauth_get(f->st, "o@example.org", &o2, &f->e));
	assert_true(o2.oauth2);
	assert_string_equal(o2.provider, "google");
	assert_null(o2.tenant);
	assert_true(o2.has_client_secret);
	assert_false(o2.has_refresh);
	assert_int_equal(o2.authorized_at, 0);
	oauth_acct_clear(&o2);
	OK(f, store_oauth_client_secret_get(f->st, "o@example.org", &sec, &sl,
	    &f->e));
	assert_string_equal(sec, "csec");
	store_secret_free(&sec, sl);

	/* First tokens authorize; a refresh without a new refresh token
	 * keeps the old one and the authorization time. */
	OK(f, store_oauth_tokens_set(f->st, "o@example.org", "R1", "A1", 100,
	    &f->e));
	OK(f, store_oauth_get(f->st, "o@example.org", &o, &f->e));
	assert_int_equal(o.state, OAUTH_TS_AUTHORIZED);
	assert_true(o.has_refresh && o.has_access);
	assert_true(o.authorized_at > 0);
	exp = o.authorized_at;
	oauth_acct_clear(&o);
	OK(f, store_oauth_tokens_set(f->st, "o@example.org", NULL, "A2", 200,
	    &f->e));
	OK(f, store_oauth_tokens_get(f->st, "o@example.org", &r, &rl, &a, &al,
	    &exp, &f->e));
	assert_string_equal(r, "R1");
	assert_string_equal(a, "A2");
	assert_int_equal(exp, 200);
	store_secret_free(&r, rl);
	store_secret_free(&a, al);
	OK(f, store_oauth_access_drop(f->st, "o@example.org", &f->e));
	OK(f, store_oauth_needed(f->st, "o@example.org", NULL, &f->e));
	OK(f, store_oauth_get(f->st, "o@example.org", &o, &f->e));
	assert_int_equal(o.state, OAUTH_TS_NEEDED);
	assert_false(o.has_refresh || o.has_access);
	assert_non_null(o.reason);
	oauth_acct_clear(&o);
	assert_int_equal(store_oauth_tokens_set(f->st, "none@example.org",
	    "R", "A", 1, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);

	OK(f, store_oauth_provider_secret_set(f->st, "google", "gsec", 4,
	    &f->e));
	OK(f, store_oauth_provider_secret_get(f->st, "google", &sec, &sl,
	    &f->e));
	assert_string_equal(sec, "gsec");
	store_secret_free(&sec, sl);
	OK(f, store_oauth_provider_secret_set(f->st, "google", NULL, 0,
	    &f->e));
	OK(f, store_oauth_provider_secret_get(f->st, "google", &sec, &sl,
	    &f->e));
	assert_null(sec);
}

static void
test_filters_quarantine(void **state)
{
	struct fixture *f = *state;
	struct acct_filter fl, fl2;
	struct quarantine_rec q, *v;
	char f1[] = "f@example.org", g1[] = "g@example.org";
	char virus[] = "virus", spam[] = "spam", hi[] = "Hi";
	char file1[] = "/q/1", file2[] = "/q/2";
	int64_t id1, id2, id3;
	size_t n;

	add_acct(f, "f@example.org");
	add_acct(f, "g@example.org");
	memset(&fl, 0, sizeof(fl));
	fl.spam_check = true;
	fl.spam_action = FILTER_SPAM_QUARANTINE;
	fl.scanner_down = FILTER_DOWN_PASS;
	fl.provider_host = xstrdup("mx.example.net");
	OK(f, store_filter_set(f->st, "f@example.org", &fl, &f->e));
	acct_filter_clear(&fl);
	OK(f, store_filter_get(f->st, "f@example.org", &fl2, &f->e));
	assert_true(fl2.spam_check);
	assert_false(fl2.virus_check);
	assert_int_equal(fl2.spam_action, FILTER_SPAM_QUARANTINE);
	assert_int_equal(fl2.scanner_down, FILTER_DOWN_PASS);
	assert_string_equal(fl2.provider_host, "mx.example.net");
	acct_filter_clear(&fl2);

	memset(&q, 0, sizeof(q));
	q.account = f1;
	q.kind = virus;
	q.file = file1;
	q.at = 10;
	OK(f, store_quarantine_add(f->st, &q, &id1, &f->e));
	/* The same file again: the same id. */
	OK(f, store_quarantine_add(f->st, &q, &id2, &f->e));
	assert_int_equal(id1, id2);
	q.account = g1;
	q.kind = spam;
	q.file = file2;
	q.subject = hi;
	OK(f, store_quarantine_add(f->st, &q, &id3, &f->e));
	assert_true(id3 > id1);
	OK(f, store_quarantine_list(f->st, NULL, &v, &n, &f->e));
	assert_int_equal(n, 2);
	assert_int_equal(v[0].id, id1);
	store_quarantine_list_free(&v, n);
	OK(f, store_quarantine_list(f->st, "g@example.org", &v, &n, &f->e));
	assert_int_equal(n, 1);
	assert_string_equal(v[0].subject, "Hi");
	store_quarantine_list_free(&v, n);
	OK(f, store_quarantine_delete(f->st, id1, &f->e));
	assert_int_equal(store_quarantine_get(f->st, id1, &q, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	OK(f, store_quarantine_get(f->st, id3, &q, &f->e));
	assert_string_equal(q.file, "/q/2");
	quarantine_rec_clear(&q);
}

static void
test_checks(void **state)
{
	struct fixture *f = *state;
	struct account_check c, c2;
	char gone[] = "x@example.org", detail[] = "x@example.org: gone: 550";

	add_acct(f, "k@example.org");
	OK(f, store_check_get(f->st, "k@example.org", &c, &f->e));
	assert_int_equal(c.checked_at, 0);
	memset(&c, 0, sizeof(c));
	c.checked_at = 1000;
	c.gone = gone;
	c.detail = detail;
	OK(f, store_check_set(f->st, "k@example.org", &c, &f->e));
	c.checked_at = 2000;
	OK(f, store_check_set(f->st, "k@example.org", &c, &f->e));
	OK(f, store_check_get(f->st, "k@example.org", &c2, &f->e));
	assert_int_equal(c2.checked_at, 2000);
	assert_string_equal(c2.gone, "x@example.org");
	assert_null(c2.unknown);
	account_check_clear(&c2);
	/* No row for an account that does not exist. */
	OK(f, store_check_set(f->st, "none@example.org", &c, &f->e));
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM "
	    "account_checks"), 1);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_settings),
		T(test_groups_routing),
		T(test_journal_ext),
		T(test_status),
		T(test_users),
		T(test_oauth),
		T(test_filters_quarantine),
		T(test_checks),
	};
#undef T

	return storetest_run("test_store_ext", tests, MP_ARRAY_LEN(tests),
	    NULL, 0);
}
