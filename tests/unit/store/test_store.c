/*
 * test_store.c - the store: accounts, passwords, the journal, run logs,
 * locks; on both backends (storetest.h).
 */
#include "common.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "store/account.h"
#include "store/db.h"
#include "store/secret.h"
#include "store/store.h"
#include "util/err.h"
#include "util/xmalloc.h"

#include "storetest.h"

static void
acct_full(struct account *a, const char *id)
{
	account_init(a);
	a->id = xstrdup(id);
	a->proto = ACCT_IMAP;
	a->host = xstrdup("imap.example.org");
	a->port = 10993;
	a->security = SEC_STARTTLS;
	a->verify = false;
	a->ca_file = xstrdup("/etc/ssl/ca.pem");
	a->user = xstrdup("login name");
	a->deliver_to = xstrdup("alice,bob");
	a->target = xstrdup("lmtp:127.0.0.1:24");
	a->policy = POLICY_KEEP_DAYS;
	a->keep_days = 14;
	a->max_per_pass = 500;
	a->timeout = 90;
	a->enabled = false;
	a->folders[0] = xstrdup("INBOX");
	a->folders[1] = xstrdup("Archive/2024");
	a->folders[2] = xstrdup("Spam & Junk");
	a->only_unseen = true;
	a->mark_seen = true;
}

static void
acct_assert_equal(const struct account *a, const struct account *b)
{
	size_t i;

	assert_string_equal(a->id, b->id);
	assert_int_equal(a->proto, b->proto);
	assert_string_equal(a->host, b->host);
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->security, b->security);
	assert_int_equal(a->verify, b->verify);
	if (a->ca_file == NULL)
		assert_null(b->ca_file);
	else
		assert_string_equal(a->ca_file, b->ca_file);
	assert_string_equal(a->user, b->user);
	if (a->deliver_to == NULL)
		assert_null(b->deliver_to);
	else
		assert_string_equal(a->deliver_to, b->deliver_to);
	if (a->target == NULL)
		assert_null(b->target);
	else
		assert_string_equal(a->target, b->target);
	assert_int_equal(a->policy, b->policy);
	assert_int_equal(a->keep_days, b->keep_days);
	assert_int_equal(a->max_per_pass, b->max_per_pass);
	assert_int_equal(a->timeout, b->timeout);
	assert_int_equal(a->enabled, b->enabled);
	for (i = 0; i < ACCT_MAX_FOLDERS; i++) {
		if (a->folders[i] == NULL) {
			assert_null(b->folders[i]);
			break;
		}
		assert_non_null(b->folders[i]);
		assert_string_equal(a->folders[i], b->folders[i]);
	}
	assert_int_equal(a->only_unseen, b->only_unseen);
	assert_int_equal(a->mark_seen, b->mark_seen);
}

static void
test_open_twice(void **state)
{
	struct fixture *f = *state;
	struct store *st2 = NULL;
	struct stat sb;
	struct account a, b;
	char *p;

	assert_int_equal(stat(f->dir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	p = xasprintf("%s/mailpull.db", f->dir);
	if (g_kind == DB_SQLITE) {
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_mode & 077, 0);
	} else
		assert_int_equal(stat(p, &sb), -1);
	free(p);
	p = xasprintf("%s/secret.key", f->dir);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	free(p);
	assert_string_equal(store_state_dir(f->st), f->dir);
	assert_int_equal(schema_version(f->dir), 1);
	assert_int_equal(store_shared(), g_kind == DB_PG);

	acct_full(&a, "a@example.org");
	assert_int_equal(store_account_add(f->st, &a, &f->e), 0);
	store_close(&f->st);

	/* Reopen: migration is a no-op and the data is still there. */
	assert_int_equal(store_open(&f->st, f->dir, &f->e), 0);
	assert_int_equal(store_open(&st2, f->dir, &f->e), 0);
	assert_int_equal(schema_version(f->dir), 1);
	assert_int_equal(store_account_get(st2, "a@example.org", &b, &f->e),
	    0);
	acct_assert_equal(&a, &b);
	store_close(&st2);
	assert_null(st2);

	/* A key file others can read is refused. */
	p = xasprintf("%s/secret.key", f->dir);
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(store_open(&st2, f->dir, &f->e), -1);
	assert_null(st2);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_non_null(strstr(err_msg(&f->e), p));
	assert_int_equal(chmod(p, 0600), 0);
	free(p);
	account_clear(&a);
	account_clear(&b);
}

static void
test_account_crud(void **state)
{
	struct fixture *f = *state;
	struct account a, b, c, *list;
	size_t n;

	acct_full(&a, "z@example.org");
	assert_int_equal(store_account_add(f->st, &a, &f->e), 0);
	assert_true(a.created > 0);

	assert_int_equal(store_account_get(f->st, "z@example.org", &b,
	    &f->e), 0);
	acct_assert_equal(&a, &b);
	assert_int_equal(b.created, a.created);
	assert_false(b.has_password);
	account_clear(&b);

	/* Minimal account: NULLs and defaults survive as such. */
	account_init(&c);
	c.id = xstrdup("b@example.org");
	c.host = xstrdup("pop.example.org");
	c.user = xstrdup("b");
	assert_int_equal(store_account_add(f->st, &c, &f->e), 0);
	assert_int_equal(store_account_get(f->st, "b@example.org", &b,
	    &f->e), 0);
	acct_assert_equal(&c, &b);
	assert_int_equal(b.proto, ACCT_POP3);
	assert_int_equal(b.security, SEC_TLS);
	assert_null(b.folders[0]);
	account_clear(&b);

	/* Duplicate. */
	assert_int_equal(store_account_add(f->st, &c, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_string_equal(err_msg(&f->e),
	    "account b@example.org already exists");

	/* Unknown. */
	assert_int_equal(store_account_get(f->st, "nobody@example.org", &b,
	    &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_string_equal(err_msg(&f->e),
	    "no such account: nobody@example.org");
	account_clear(&b);

	/* Update every field. */
	free(a.host);
	a.host = xstrdup("other.example.org");
	a.proto = ACCT_POP3;
	a.port = 0;
	a.security = SEC_NONE;
	a.verify = true;
	free(a.ca_file);
	a.ca_file = NULL;
	free(a.user);
	a.user = xstrdup("u2");
	free(a.deliver_to);
	a.deliver_to = NULL;
	free(a.target);
	a.target = xstrdup("maildir:/var/mail/%u");
	a.policy = POLICY_KEEP;
	a.keep_days = 0;
	a.max_per_pass = 1;
	a.timeout = 5;
	a.enabled = true;
	free(a.folders[1]);
	free(a.folders[2]);
	a.folders[1] = NULL;
	a.folders[2] = NULL;
	a.only_unseen = false;
	a.mark_seen = false;
	assert_int_equal(store_account_update(f->st, &a, &f->e), 0);
	assert_int_equal(store_account_get(f->st, "z@example.org", &b,
	    &f->e), 0);
	acct_assert_equal(&a, &b);
	assert_int_equal(b.created, a.created);
	account_clear(&b);

	/* Update of a missing account. */
	free(c.id);
	c.id = xstrdup("gone@example.org");
	assert_int_equal(store_account_update(f->st, &c, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);

	/* Enable / disable. */
	assert_int_equal(store_account_set_enabled(f->st, "z@example.org",
	    false, &f->e), 0);
	assert_int_equal(store_account_get(f->st, "z@example.org", &b,
	    &f->e), 0);
	assert_false(b.enabled);
	account_clear(&b);
	assert_int_equal(store_account_set_enabled(f->st, "gone@example.org",
	    true, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);

	/* List is ordered by id. */
	assert_int_equal(store_account_list(f->st, &list, &n, &f->e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "b@example.org");
	assert_string_equal(list[1].id, "z@example.org");
	assert_string_equal(list[1].folders[0], "INBOX");
	store_account_list_free(&list, n);
	assert_null(list);

	/* Delete cascades to the journal and the runs. */
	assert_int_equal(store_msg_set(f->st, "z@example.org", "", 0, "u1",
	    MSG_DELIVERED, 10, 0, &f->e), 0);
	assert_int_equal(store_account_delete(f->st, "z@example.org", &f->e),
	    0);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM messages"),
	    0);
	assert_int_equal(store_account_delete(f->st, "z@example.org", &f->e),
	    -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_int_equal(store_account_list(f->st, &list, &n, &f->e), 0);
	assert_int_equal(n, 1);
	store_account_list_free(&list, n);

	account_clear(&a);
	account_clear(&c);
}

static void
test_password(void **state)
{
	struct fixture *f = *state;
	struct account a;
	char pw[4097], *got;
	size_t i, len;
	struct db *db;
	struct db_stmt *s;
	const void *p;
	unsigned char *blob;
	size_t blen;

	for (i = 0; i < 4096; i++) {
		pw[i] = (char)(1 + i % 255);
		if (pw[i] == '\n')
			pw[i] = '-';
	}
	pw[4096] = '\0';

	account_init(&a);
	a.id = xstrdup("p@example.org");
	assert_int_equal(store_account_add(f->st, &a, &f->e), 0);

	assert_int_equal(store_password_get(f->st, "p@example.org", &got,
	    &len, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_string_equal(err_msg(&f->e),
	    "no password stored for p@example.org");
	assert_int_equal(store_password_get(f->st, "q@example.org", &got,
	    &len, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_int_equal(store_password_set(f->st, "q@example.org", "x", 1,
	    &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);

	assert_int_equal(store_password_set(f->st, "p@example.org", pw, 4096,
	    &f->e), 0);
	account_clear(&a);
	assert_int_equal(store_account_get(f->st, "p@example.org", &a,
	    &f->e), 0);
	assert_true(a.has_password);
	assert_int_equal(store_password_get(f->st, "p@example.org", &got,
	    &len, &f->e), 0);
	assert_int_equal(len, 4096);
	assert_memory_equal(got, pw, 4096);
	assert_int_equal(got[len], '\0');
	store_secret_free(&got, len);
	assert_null(got);

	/* Plaintext never reaches the database. */
	assert_int_equal(db_count(f->dir, g_kind == DB_SQLITE ?
	    "SELECT count(*) FROM accounts WHERE instr(password, "
	    "CAST('\x01\x02\x03\x04\x05\x06\x07\x08' AS BLOB)) > 0" :
	    "SELECT count(*) FROM accounts WHERE position("
	    "CAST('\x01\x02\x03\x04\x05\x06\x07\x08' AS BLOB) IN "
	    "password) > 0"), 0);

	/* Tamper with the stored blob. */
	db = db_side(f->dir);
	assert_int_equal(db_prepare(db, "SELECT password FROM accounts "
	    "WHERE id = 'p@example.org'", &s), 0);
	assert_int_equal(db_step(s), DB_ROW);
	p = db_col_blob(s, 0, &blen);
	assert_true(blen > 4096);
	blob = xmalloc(blen);
	memcpy(blob, p, blen);
	db_finalize(&s);
	blob[100] ^= 0x01;
	assert_int_equal(db_prepare(db, "UPDATE accounts SET password = ?1 "
	    "WHERE id = 'p@example.org'", &s), 0);
	assert_int_equal(db_bind_blob(s, 1, blob, blen), 0);
	assert_int_equal(db_step(s), DB_DONE);
	assert_int_equal(db_changes(db), 1);
	db_finalize(&s);
	db_close(&db);
	free(blob);
	assert_int_equal(store_password_get(f->st, "p@example.org", &got,
	    &len, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_null(got);

	/* Clear. */
	assert_int_equal(store_password_set(f->st, "p@example.org", NULL, 0,
	    &f->e), 0);
	account_clear(&a);
	assert_int_equal(store_account_get(f->st, "p@example.org", &a,
	    &f->e), 0);
	assert_false(a.has_password);
	account_clear(&a);
}

static void
add_acct(struct fixture *f, const char *id)
{
	struct account a;

	account_init(&a);
	a.id = xstrdup(id);
	assert_int_equal(store_account_add(f->st, &a, &f->e), 0);
	account_clear(&a);
}

static void
test_journal(void **state)
{
	struct fixture *f = *state;
	struct msg_rec *recs, *r;
	size_t n;
	uint64_t v;
	const char *acct = "j@example.org";

	add_acct(f, acct);
	/* Out of order, including uids whose strcmp order differs from
	 * their numeric order. */
	assert_int_equal(store_msg_set(f->st, acct, "INBOX", 4294967295ULL,
	    "9", MSG_DELIVERED, 100, 1000, &f->e), 0);
	assert_int_equal(store_msg_set(f->st, acct, "INBOX", 4294967295ULL,
	    "10", MSG_FAILED, 200, 1001, &f->e), 0);
	assert_int_equal(store_msg_set(f->st, acct, "INBOX", 4294967295ULL,
	    "Zz", MSG_DELIVERED, 5, 0, &f->e), 0);
	assert_int_equal(store_msg_set(f->st, acct, "INBOX", 4294967295ULL,
	    "a", MSG_DELIVERED, 5, 0, &f->e), 0);
	assert_int_equal(store_msg_set(f->st, acct, "INBOX", 7, "old",
	    MSG_DELIVERED, 1, 0, &f->e), 0);
	assert_int_equal(store_msg_set(f->st, acct, "Other", 4294967295ULL,
	    "x", MSG_DELIVERED, 1, 0, &f->e), 0);
	assert_int_equal(store_msg_set(f->st, acct, "", 0, "pop-uidl",
	    MSG_DELIVERED, 1, 0, &f->e), 0);
	/* Unknown account: foreign key. */
	assert_int_equal(store_msg_set(f->st, "nobody", "", 0, "u",
	    MSG_DELIVERED, 1, 0, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_LOCAL);

	assert_int_equal(store_msg_load(f->st, acct, "INBOX", 4294967295ULL,
	    &recs, &n, &f->e), 0);
	assert_int_equal(n, 4);
	assert_string_equal(recs[0].uid, "10");
	assert_string_equal(recs[1].uid, "9");
	assert_string_equal(recs[2].uid, "Zz");
	assert_string_equal(recs[3].uid, "a");
	assert_int_equal(recs[0].state, MSG_FAILED);
	assert_int_equal(recs[0].size, 200);
	assert_int_equal(recs[0].first_seen, 1001);
	assert_int_equal(recs[0].delivered_at, 0);
	assert_int_equal(recs[1].state, MSG_DELIVERED);
	assert_int_equal(recs[1].first_seen, 1000);
	assert_true(recs[1].delivered_at > 0);
	assert_true(recs[2].first_seen > 0);
	r = store_msg_find(recs, n, "9");
	assert_non_null(r);
	assert_int_equal(r->size, 100);
	assert_non_null(store_msg_find(recs, n, "10"));
	assert_non_null(store_msg_find(recs, n, "a"));
	assert_non_null(store_msg_find(recs, n, "Zz"));
	assert_null(store_msg_find(recs, n, "zz"));
	assert_null(store_msg_find(recs, n, "1"));
	store_msg_free(&recs, n);
	assert_null(recs);
	assert_null(store_msg_find(NULL, 0, "x"));

	/* Failed then delivered: state changes, first_seen is kept. */
	assert_int_equal(store_msg_set(f->st, acct, "INBOX", 4294967295ULL,
	    "10", MSG_DELIVERED, 200, 5000, &f->e), 0);
	assert_int_equal(store_msg_load(f->st, acct, "INBOX", 4294967295ULL,
	    &recs, &n, &f->e), 0);
	r = store_msg_find(recs, n, "10");
	assert_int_equal(r->state, MSG_DELIVERED);
	assert_int_equal(r->first_seen, 1001);
	assert_true(r->delivered_at > 0);
	store_msg_free(&recs, n);

	/* POP3 key. */
	assert_int_equal(store_msg_load(f->st, acct, "", 0, &recs, &n,
	    &f->e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(recs[0].uid, "pop-uidl");
	store_msg_free(&recs, n);

	/* Forget one. */
	assert_int_equal(store_msg_forget(f->st, acct, "INBOX",
	    4294967295ULL, "9", &f->e), 0);
	assert_int_equal(store_msg_load(f->st, acct, "INBOX", 4294967295ULL,
	    &recs, &n, &f->e), 0);
	assert_int_equal(n, 3);
	assert_null(store_msg_find(recs, n, "9"));
	store_msg_free(&recs, n);

	/* Forget other validity: only INBOX at 7 goes. */
	assert_int_equal(store_msg_forget_other_validity(f->st, acct, "INBOX",
	    4294967295ULL, &f->e), 0);
	assert_int_equal(store_msg_load(f->st, acct, "INBOX", 7, &recs, &n,
	    &f->e), 0);
	assert_int_equal(n, 0);
	assert_null(recs);
	assert_int_equal(store_msg_load(f->st, acct, "INBOX", 4294967295ULL,
	    &recs, &n, &f->e), 0);
	assert_int_equal(n, 3);
	store_msg_free(&recs, n);
	assert_int_equal(store_msg_load(f->st, acct, "Other", 4294967295ULL,
	    &recs, &n, &f->e), 0);
	assert_int_equal(n, 1);
	store_msg_free(&recs, n);

	/* Folders. */
	assert_int_equal(store_folder_get(f->st, acct, "INBOX", &v, &f->e),
	    0);
	assert_int_equal(v, 0);
	assert_int_equal(store_folder_set(f->st, acct, "INBOX", 4294967295ULL,
	    &f->e), 0);
	assert_int_equal(store_folder_get(f->st, acct, "INBOX", &v, &f->e),
	    0);
	assert_int_equal(v, 4294967295ULL);
	assert_int_equal(store_folder_set(f->st, acct, "INBOX", 12, &f->e),
	    0);
	assert_int_equal(store_folder_get(f->st, acct, "INBOX", &v, &f->e),
	    0);
	assert_int_equal(v, 12);
}

static void
test_transactions(void **state)
{
	struct fixture *f = *state;
	struct msg_rec *recs;
	size_t n;
	const char *acct = "t@example.org";

	add_acct(f, acct);
	assert_int_equal(store_begin(f->st, &f->e), 0);
	/* Nested begin is a bug in the caller. */
	assert_int_equal(store_begin(f->st, &f->e), -1);
	assert_int_equal(store_msg_set(f->st, acct, "", 0, "r1",
	    MSG_DELIVERED, 1, 0, &f->e), 0);
	assert_int_equal(store_msg_set(f->st, acct, "", 0, "r2",
	    MSG_DELIVERED, 1, 0, &f->e), 0);
	/* Visible inside the transaction... */
	assert_int_equal(store_msg_load(f->st, acct, "", 0, &recs, &n,
	    &f->e), 0);
	assert_int_equal(n, 2);
	store_msg_free(&recs, n);
	/* ...not outside it (another connection). */
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM messages"),
	    0);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(store_msg_load(f->st, acct, "", 0, &recs, &n,
	    &f->e), 0);
	assert_int_equal(n, 0);

	assert_int_equal(store_begin(f->st, &f->e), 0);
	assert_int_equal(store_msg_set(f->st, acct, "", 0, "c1",
	    MSG_DELIVERED, 1, 0, &f->e), 0);
	assert_int_equal(store_msg_set(f->st, acct, "", 0, "c2",
	    MSG_FAILED, 1, 0, &f->e), 0);
	assert_int_equal(store_commit(f->st, &f->e), 0);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM messages"),
	    2);
	/* Commit without begin. */
	assert_int_equal(store_commit(f->st, &f->e), -1);
	assert_int_equal(store_rollback(f->st), 0);

	/* Outside a transaction, each write commits by itself. */
	assert_int_equal(store_msg_set(f->st, acct, "", 0, "a1",
	    MSG_DELIVERED, 1, 0, &f->e), 0);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM messages"),
	    3);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM messages "
	    "WHERE uid = 'c2' AND state = 2"), 1);
}

static void
test_runs(void **state)
{
	struct fixture *f = *state;
	struct run_rec r, *runs;
	size_t n;
	int i;
	char buf[64], logtext[] = "line 1\nline 2\n", other[] = "other";

	add_acct(f, "r@example.org");
	add_acct(f, "s@example.org");
	memset(&r, 0, sizeof(r));
	for (i = 0; i < 25; i++) {
		snprintf(buf, sizeof(buf), "run %d", i);
		r.started = 1000 + i;
		r.finished = 2000 + i;
		r.cls = i == 24 ? ERR_AUTH : ERR_NONE;
		r.summary = buf;
		r.log = logtext;
		assert_int_equal(store_run_add(f->st, "r@example.org", &r,
		    &f->e), 0);
	}
	r.summary = other;
	assert_int_equal(store_run_add(f->st, "s@example.org", &r, &f->e), 0);

	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM runs WHERE "
	    "account = 'r@example.org'"), 20);
	assert_int_equal(store_run_list(f->st, "r@example.org", 100, &runs,
	    &n, &f->e), 0);
	assert_int_equal(n, 20);
	assert_string_equal(runs[0].summary, "run 24");
	assert_int_equal(runs[0].cls, ERR_AUTH);
	assert_int_equal(runs[0].started, 1024);
	assert_int_equal(runs[0].finished, 2024);
	assert_string_equal(runs[0].log, "line 1\nline 2\n");
	assert_string_equal(runs[1].summary, "run 23");
	assert_int_equal(runs[1].cls, ERR_NONE);
	assert_string_equal(runs[19].summary, "run 5");
	store_run_free(&runs, n);
	assert_null(runs);

	assert_int_equal(store_run_list(f->st, "r@example.org", 3, &runs, &n,
	    &f->e), 0);
	assert_int_equal(n, 3);
	store_run_free(&runs, n);
	assert_int_equal(store_run_list(f->st, "s@example.org", 20, &runs,
	    &n, &f->e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(runs[0].summary, "other");
	store_run_free(&runs, n);

	/* Inside a caller's transaction, a rollback drops the run too. */
	assert_int_equal(store_begin(f->st, &f->e), 0);
	assert_int_equal(store_run_add(f->st, "s@example.org", &r, &f->e), 0);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM runs WHERE "
	    "account = 's@example.org'"), 1);
}

static void
test_lock(void **state)
{
	struct fixture *f = *state;
	struct store *st2 = NULL;
	const char *id = "lock/../me@example.org";
	char *p;
	struct stat sb;

	/* A file lock on SQLite; on PostgreSQL store_lock() takes the
	 * account's lease (lease.c, tested with it). */
	if (g_kind != DB_SQLITE)
		skip();
	assert_int_equal(store_open(&st2, f->dir, &f->e), 0);
	assert_int_equal(store_lock(f->st, id, false, &f->e), 1);
	/* Taking it again from the same store is a no-op. */
	assert_int_equal(store_lock(f->st, id, false, &f->e), 1);
	/* Another open file description: busy. */
	err_clear(&f->e);
	assert_int_equal(store_lock(st2, id, false, &f->e), 0);
	assert_int_equal(f->e.cls, ERR_BUSY);
	assert_string_equal(err_msg(&f->e),
	    "account lock/../me@example.org is busy in another pass");
	/* Another account is independent. */
	assert_int_equal(store_lock(st2, "other@example.org", false, &f->e),
	    1);

	p = xasprintf("%s/locks", f->dir);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	free(p);
	p = xasprintf("%s/locks/lock%%2f..%%2fme@example.org.lock", f->dir);
	assert_int_equal(stat(p, &sb), 0);
	free(p);

	store_unlock(f->st, id);
	assert_int_equal(store_lock(st2, id, false, &f->e), 1);
	assert_int_equal(store_lock(f->st, id, false, &f->e), 0);
	store_unlock(st2, id);
	/* Waiting on a free lock returns at once. */
	assert_int_equal(store_lock(f->st, id, true, &f->e), 1);
	/* Unlocking something not held is harmless. */
	store_unlock(f->st, "never@example.org");
	/* Closing the store releases its locks. */
	store_close(&f->st);
	assert_int_equal(store_lock(st2, id, false, &f->e), 1);
	store_close(&st2);
	assert_int_equal(store_open(&f->st, f->dir, &f->e), 0);
}

static void
test_long_lock_name(void **state)
{
	struct fixture *f = *state;
	char id[600];

	if (g_kind != DB_SQLITE)
		skip();
	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	assert_int_equal(store_lock(f->st, id, false, &f->e), 1);
	store_unlock(f->st, id);
}

/* The key of the store in dir, as MAILPULL_STORE_KEY wants it. */
static void
key_hex(const char *dir, char hex[SECRET_KEY_LEN * 2 + 1])
{
	unsigned char key[SECRET_KEY_LEN];
	char *p = xasprintf("%s/%s", dir, SECRET_KEY_FILE);
	FILE *fp;

	assert_non_null(fp = fopen(p, "r"));
	assert_int_equal(fread(key, 1, sizeof(key), fp), sizeof(key));
	fclose(fp);
	sodium_bin2hex(hex, SECRET_KEY_LEN * 2 + 1, key, sizeof(key));
	free(p);
}

/*
 * PostgreSQL: the database remembers the key of the node that made it. A
 * node with another key file is refused, naming it; the same key given in
 * MAILPULL_STORE_KEY is taken, and the two nodes share the accounts.
 */
static void
test_pg_key_check(void **state)
{
	struct fixture *f = *state;
	struct store *st2 = NULL;
	struct account a;
	char hex[SECRET_KEY_LEN * 2 + 1], *dir2, *p;

	dir2 = xasprintf("%s/b/state", f->tmp);
	assert_int_equal(store_open(&st2, dir2, &f->e), -1);
	assert_null(st2);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	p = xasprintf("store: this node's key (%s/secret.key) does not match "
	    "the database's; copy the key file from the node that created "
	    "the database", dir2);
	assert_string_equal(err_msg(&f->e), p);
	free(p);

	key_hex(f->dir, hex);
	assert_int_equal(setenv(SECRET_KEY_ENV, hex, 1), 0);
	assert_int_equal(store_open(&st2, dir2, &f->e), 0);
	add_acct(f, "shared@example.org");
	assert_int_equal(store_password_set(f->st, "shared@example.org", "pw",
	    2, &f->e), 0);
	assert_int_equal(store_account_get(st2, "shared@example.org", &a,
	    &f->e), 0);
	assert_true(a.has_password);
	account_clear(&a);
	store_close(&st2);

	/* A wrong key in the environment: refused, naming the variable. */
	memset(hex, '0', SECRET_KEY_LEN * 2);
	assert_int_equal(setenv(SECRET_KEY_ENV, hex, 1), 0);
	assert_int_equal(store_open(&st2, dir2, &f->e), -1);
	assert_int_equal(f->e.cls, ERR_CONFIG);
	assert_non_null(strstr(err_msg(&f->e), "($" SECRET_KEY_ENV ")"));
	assert_int_equal(unsetenv(SECRET_KEY_ENV), 0);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM store_meta"),
	    1);
	free(dir2);
}

/*
 * PostgreSQL: nodes starting at once on an empty database. Each process
 * creates and migrates the schema in one transaction under an advisory
 * lock: every one opens, the schema is made once.
 */
static void
test_pg_nodes_start_at_once(void **state)
{
	struct fixture *f = *state;
	char hex[SECRET_KEY_LEN * 2 + 1];
	pid_t pid[6];
	size_t i;
	int status;

	key_hex(f->dir, hex);
	store_close(&f->st);
	pg_fresh_schema();
	assert_int_equal(setenv(SECRET_KEY_ENV, hex, 1), 0);
	for (i = 0; i < MP_ARRAY_LEN(pid); i++) {
		assert_true((pid[i] = fork()) != -1);
		if (pid[i] == 0) {
			struct store *st = NULL;
			struct err e = { 0 };
			char *dir = xasprintf("%s/node%zu", f->tmp, i);
			int rc;

			rc = store_open(&st, dir, &e);
			if (rc == -1)
				fprintf(stderr, "node %zu: %s\n", i,
				    err_msg(&e));
			store_close(&st);
			_exit(rc == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < MP_ARRAY_LEN(pid); i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(unsetenv(SECRET_KEY_ENV), 0);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM "
	    "schema_version"), 1);
	assert_int_equal(schema_version(f->dir), 1);
	assert_int_equal(db_count(f->dir, "SELECT count(*) FROM store_meta"),
	    1);
	assert_int_equal(store_open(&f->st, f->dir, &f->e), 0);
	add_acct(f, "after@example.org");
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_twice),
		T(test_account_crud),
		T(test_password),
		T(test_journal),
		T(test_transactions),
		T(test_runs),
		T(test_lock),
		T(test_long_lock_name),
	};
	const struct CMUnitTest pg_tests[] = {
		T(test_pg_key_check),
		T(test_pg_nodes_start_at_once),
	};
#undef T

	return storetest_run("test_store", tests, MP_ARRAY_LEN(tests),
	    pg_tests, MP_ARRAY_LEN(pg_tests));
}
