/*
 * users.c - admin users, sessions and the login audit (see users.h).
 */
#include "common.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/store_impl.h"
#include "store/users.h"
#include "util/xmalloc.h"

/* Audit rows older than this are pruned on insert. */
#define LOGIN_AUDIT_KEEP	(7 * 86400)

static const char *const role_names[] = {
	[ROLE_ADMIN] = "admin",
	[ROLE_DOMAIN_ADMIN] = "domain-admin",
	[ROLE_USER] = "user",
};

static const char sql_add[] =
    "INSERT INTO users (name, role, domains, address, hash, created, "
    "updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";
static const char sql_get[] =
    "SELECT name, role, domains, address, created FROM users "
    "WHERE name = ?1";
static const char sql_get_hash[] =
    "SELECT name, role, domains, address, created, hash FROM users "
    "WHERE name = ?1";
static const char sql_list[] =
    "SELECT name, role, domains, address, created FROM users "
    "ORDER BY name COLLATE BINARY";
static const char sql_del[] = "DELETE FROM users WHERE name = ?1";
static const char sql_del_sessions[] =
    "DELETE FROM sessions WHERE \"user\" = ?1";
static const char sql_passwd[] =
    "UPDATE users SET hash = ?2, updated = ?3 WHERE name = ?1";
static const char sql_admins[] =
    "SELECT count(*) FROM users WHERE role = 'admin'";
static const char sql_sess_add[] =
    "INSERT INTO sessions (id_hash, \"user\", csrf, created, last_seen, "
    "expires, idle, addr) VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7)";
static const char sql_sess_get[] =
    "SELECT u.name, u.role, u.domains, u.address, u.created, s.csrf, "
    "s.last_seen, s.expires, s.idle FROM sessions s "
    "JOIN users u ON u.name = s.\"user\" WHERE s.id_hash = ?1";
static const char sql_sess_touch[] =
    "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1";
static const char sql_sess_del[] = "DELETE FROM sessions WHERE id_hash = ?1";
static const char sql_sess_prune[] =
    "DELETE FROM sessions WHERE expires < ?1 OR last_seen + idle < ?1";
static const char sql_audit_add[] =
    "INSERT INTO login_audit (at, \"user\", addr, ok, reason) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_audit_prune[] =
    "DELETE FROM login_audit WHERE at < ?1";
static const char sql_fail_user[] =
    "SELECT count(*) FROM login_audit WHERE ok = 0 AND at >= ?1 "
    "AND \"user\" = ?2";
static const char sql_fail_addr[] =
    "SELECT count(*) FROM login_audit WHERE ok = 0 AND at >= ?1 "
    "AND addr = ?2";

void
user_clear(struct user *u)
{
	free(u->name);
	free(u->domains);
	free(u->address);
	memset(u, 0, sizeof(*u));
}

const char *
user_role_name(enum user_role r)
{
	if ((size_t)r >= MP_ARRAY_LEN(role_names))
		return "?";
	return role_names[r];
}

int
user_role_parse(const char *s, enum user_role *r)
{
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(role_names); i++)
		if (strcmp(s, role_names[i]) == 0) {
			*r = (enum user_role)i;
			return 0;
		}
	return -1;
}

const char *
user_name_check(const char *s)
{
	const char *p;

	if (s[0] == '\0')
		return "empty user name";
	if (strlen(s) > USER_NAME_MAX)
		return "user name longer than 64 characters";
	for (p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._@-", *p) == NULL)
			return "a user name has only letters, digits and . _ "
			    "@ -";
	return NULL;
}

static bool
domain_ok(const char *d, size_t n)
{
	size_t i;

	if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-' ||
	    d[n - 1] == '.' || d[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)d[i]) && d[i] != '.' &&
		    d[i] != '-')
			return false;
	return true;
}

char *
user_domains_canon(const char *s, const char **why)
{
	char *out, *o;
	const char *p, *q;

	if (strlen(s) > 4096) {
		*why = "domain list too long";
		return NULL;
	}
	out = xmalloc(strlen(s) + 1);
	o = out;
	for (p = s; *p != '\0'; p = *q == ',' ? q + 1 : q) {
		while (*p == ' ')
			p++;
		q = p + strcspn(p, ",");
		while (q > p && q[-1] == ' ')
			q--;
		if (!domain_ok(p, (size_t)(q - p))) {
			free(out);
			*why = "expected domain names separated by commas";
			return NULL;
		}
		if (o != out)
			*o++ = ',';
		for (; p < q; p++)
			*o++ = (char)tolower((unsigned char)*p);
		q = q + strspn(q, " ");
	}
	*o = '\0';
	if (o == out) {
		free(out);
		*why = "expected at least one domain";
		return NULL;
	}
	return out;
}

char *
user_address_canon(const char *s, const char **why)
{
	const char *at = strrchr(s, '@');
	const unsigned char *p;
	char *out, *o;

	if (at == NULL || at == s || strlen(s) > 254 ||
	    !domain_ok(at + 1, strlen(at + 1))) {
		*why = "expected an address such as alice@example.org";
		return NULL;
	}
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f || *p == ',') {
			*why = "an address has no spaces, commas or control "
			    "characters";
			return NULL;
		}
	out = xstrdup(s);
	for (o = out; *o != '\0'; o++)
		*o = (char)tolower((unsigned char)*o);
	return out;
}

bool
user_domain_in(const char *domains, const char *domain)
{
	const char *p, *q;
	size_t n = strlen(domain);

	if (domains == NULL || n == 0)
		return false;
	for (p = domains; *p != '\0'; p = *q == ',' ? q + 1 : q) {
		q = p + strcspn(p, ",");
		if ((size_t)(q - p) == n && strncasecmp(p, domain, n) == 0)
			return true;
	}
	return false;
}

/* ---- password hashing ---- */

/*
 * Argon2id with libsodium's interactive limits (2 passes, 64 MiB). At most
 * two hashes run at once, so a burst of logins cannot take the daemon's
 * memory.
 */
static pthread_mutex_t hash_mtx[2] = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER,
};
static unsigned hash_rr;

static pthread_mutex_t *
hash_slot(void)
{
	pthread_mutex_t *m;
	unsigned i;

	i = __atomic_fetch_add(&hash_rr, 1, __ATOMIC_RELAXED);
	m = &hash_mtx[i % MP_ARRAY_LEN(hash_mtx)];
	pthread_mutex_lock(m);
	return m;
}

static int
pw_hash(const char *pw, size_t len, char out[crypto_pwhash_STRBYTES],
    struct err *e)
{
	pthread_mutex_t *m;
	int rc;

	if (len == 0 || len > USER_PASSWORD_MAX)
		return err_set(e, ERR_CONFIG, "a password has 1 to %d bytes",
		    USER_PASSWORD_MAX);
	m = hash_slot();
	rc = crypto_pwhash_str_alg(out, pw, len,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13);
	pthread_mutex_unlock(m);
	if (rc != 0)
		return err_set(e, ERR_INTERNAL, "password hashing failed "
		    "(out of memory)");
	return 0;
}

static bool
pw_verify(const char *hash, const char *pw, size_t len)
{
	pthread_mutex_t *m;
	int rc;

	if (len == 0 || len > USER_PASSWORD_MAX)
		return false;
	m = hash_slot();
	rc = crypto_pwhash_str_verify(hash, pw, len);
	pthread_mutex_unlock(m);
	return rc == 0;
}

/* A hash to verify against when the user does not exist, so the answer
 * takes as long as for a wrong password. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
dummy_init(void)
{
	unsigned char r[16];
	char pw[33];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(pw, sizeof(pw), r, sizeof(r));
	if (pw_hash(pw, strlen(pw), dummy_hash, NULL) == -1)
		dummy_hash[0] = '\0';
}

/* ---- users ---- */

static void
row_user(struct db_stmt *s, struct user *u)
{
	char *role;

	memset(u, 0, sizeof(*u));
	u->name = col_text(s, 0);
	role = col_text(s, 1);
	if (role == NULL || user_role_parse(role, &u->role) == -1)
		u->role = ROLE_USER;	/* least privilege on a bad row */
	free(role);
	u->domains = col_text(s, 2);
	u->address = col_text(s, 3);
	u->created = db_col_int64(s, 4);
}

int
store_user_add(struct store *st, const struct user *u, const char *pw,
    size_t len, struct err *e)
{
	char hash[crypto_pwhash_STRBYTES];
	struct db_stmt *s;
	const char *why;
	int rc;

	if ((why = user_name_check(u->name)) != NULL)
		return err_set(e, ERR_CONFIG, "%s", why);
	if (pw_hash(pw, len, hash, e) == -1)
		return -1;
	if ((s = store_stmt(st, sql_add, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, u->name);
	rc |= db_bind_text(s, 2, user_role_name(u->role));
	rc |= db_bind_text(s, 3, u->domains);
	rc |= db_bind_text(s, 4, u->address);
	rc |= db_bind_text(s, 5, hash);
	rc |= db_bind_int64(s, 6, store_now());
	sodium_memzero(hash, sizeof(hash));
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "adding user %s", u->name);
	}
	rc = stmt_exec(s);
	stmt_done(s);
	if (rc == DB_ERROR && db_err_unique(st->db))
		return err_set(e, ERR_CONFIG, "user %s already exists",
		    u->name);
	if (rc != DB_DONE)
		return db_fail(st, e, "adding user %s", u->name);
	return 0;
}

static int
user_get(struct store *st, const char *name, struct user *u, char **hash_r,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	memset(u, 0, sizeof(*u));
	if ((s = store_stmt(st, hash_r != NULL ? sql_get_hash : sql_get, e)) ==
	    NULL)
		return -1;
	if (db_bind_text(s, 1, name) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading user %s", name);
	}
	rc = db_step(s);
	if (rc == DB_ROW) {
		row_user(s, u);
		if (hash_r != NULL)
			*hash_r = col_text(s, 5);
		stmt_done(s);
		return 0;
	}
	stmt_done(s);
	if (rc == DB_DONE)
		return err_set(e, ERR_CONFIG, "no such user: %s", name);
	return db_fail(st, e, "reading user %s", name);
}

int
store_user_get(struct store *st, const char *name, struct user *u,
    struct err *e)
{
	return user_get(st, name, u, NULL, e);
}

int
store_user_list(struct store *st, struct user **list_r, size_t *n_r,
    struct err *e)
{
	struct db_stmt *s;
	struct user *list = NULL;
	size_t n = 0;
	int rc;

	*list_r = NULL;
	*n_r = 0;
	if ((s = store_stmt(st, sql_list, e)) == NULL)
		return -1;
	while ((rc = db_step(s)) == DB_ROW) {
		list = xreallocarray(list, n + 1, sizeof(*list));
		row_user(s, &list[n++]);
	}
	stmt_done(s);
	if (rc != DB_DONE) {
		store_user_list_free(&list, n);
		return db_fail(st, e, "listing users");
	}
	*list_r = list;
	*n_r = n;
	return 0;
}

void
store_user_list_free(struct user **list, size_t n)
{
	size_t i;

	if (*list == NULL)
		return;
	for (i = 0; i < n; i++)
		user_clear(&(*list)[i]);
	xfree(list);
}

static int
exec_name(struct store *st, const char *sql, const char *name,
    const char *what, int *changes_r, struct err *e)
{
	struct db_stmt *s;

	if ((s = store_stmt(st, sql, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, name) != 0 || stmt_exec(s) != DB_DONE) {
		stmt_done(s);
		return db_fail(st, e, "%s %s", what, name);
	}
	stmt_done(s);
	if (changes_r != NULL)
		*changes_r = db_changes(st->db);
	return 0;
}

int
store_user_delete(struct store *st, const char *name, struct err *e)
{
	int n = 0;

	if (exec_name(st, sql_del, name, "deleting user", &n, e) == -1)
		return -1;
	if (n == 0)
		return err_set(e, ERR_CONFIG, "no such user: %s", name);
	return exec_name(st, sql_del_sessions, name, "ending sessions of",
	    NULL, e);
}

int
store_user_passwd(struct store *st, const char *name, const char *pw,
    size_t len, struct err *e)
{
	char hash[crypto_pwhash_STRBYTES];
	struct db_stmt *s;
	int rc;

	if (pw_hash(pw, len, hash, e) == -1)
		return -1;
	if ((s = store_stmt(st, sql_passwd, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, name);
	rc |= db_bind_text(s, 2, hash);
	rc |= db_bind_int64(s, 3, store_now());
	sodium_memzero(hash, sizeof(hash));
	if (rc != 0 || stmt_exec(s) != DB_DONE) {
		stmt_done(s);
		return db_fail(st, e, "setting the password of %s", name);
	}
	stmt_done(s);
	if (db_changes(st->db) == 0)
		return err_set(e, ERR_CONFIG, "no such user: %s", name);
	return exec_name(st, sql_del_sessions, name, "ending sessions of",
	    NULL, e);
}

int
store_user_count_admins(struct store *st, int *n_r, struct err *e)
{
	struct db_stmt *s;

	*n_r = 0;
	if ((s = store_stmt(st, sql_admins, e)) == NULL)
		return -1;
	if (db_step(s) != DB_ROW) {
		stmt_done(s);
		return db_fail(st, e, "counting admins");
	}
	*n_r = (int)db_col_int64(s, 0);
	stmt_done(s);
	return 0;
}

int
store_user_verify(struct store *st, const char *name, const char *pw,
    size_t len, struct user *u, struct err *e)
{
	struct err ge = { 0 };
	char *hash = NULL;
	bool ok;

	if (user_get(st, name, u, &hash, &ge) == -1) {
		if (ge.cls != ERR_CONFIG) {
			err_set(e, ge.cls, "%s", err_msg(&ge));
			err_clear(&ge);
			return -1;
		}
		err_clear(&ge);
		pthread_once(&dummy_once, dummy_init);
		(void)pw_verify(dummy_hash, pw, len);
		return 0;
	}
	ok = hash != NULL && pw_verify(hash, pw, len);
	free(hash);
	if (!ok) {
		user_clear(u);
		return 0;
	}
	return 1;
}

/* ---- sessions ---- */

static void
token_new(char out[USER_TOKEN_LEN + 1])
{
	unsigned char r[USER_TOKEN_LEN / 2];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(out, USER_TOKEN_LEN + 1, r, sizeof(r));
	sodium_memzero(r, sizeof(r));
}

/* What the table keeps instead of the session id: a BLAKE2b digest. */
static void
sid_digest(const char *sid, char out[USER_TOKEN_LEN + 1])
{
	unsigned char h[USER_TOKEN_LEN / 2];

	crypto_generichash(h, sizeof(h), (const unsigned char *)sid,
	    strlen(sid), NULL, 0);
	sodium_bin2hex(out, USER_TOKEN_LEN + 1, h, sizeof(h));
}

int
store_session_create(struct store *st, const char *user, int64_t ttl,
    int64_t idle, const char *addr, char *sid_r, char *csrf_r,
    struct err *e)
{
	char dig[USER_TOKEN_LEN + 1];
	struct db_stmt *s;
	int64_t now = store_now();
	int rc;

	if ((s = store_stmt(st, sql_sess_prune, e)) == NULL)
		return -1;
	(void)db_bind_int64(s, 1, now);
	(void)stmt_exec(s);
	stmt_done(s);

	token_new(sid_r);
	token_new(csrf_r);
	sid_digest(sid_r, dig);
	if ((s = store_stmt(st, sql_sess_add, e)) == NULL)
		return -1;
	rc = db_bind_text(s, 1, dig);
	rc |= db_bind_text(s, 2, user);
	rc |= db_bind_text(s, 3, csrf_r);
	rc |= db_bind_int64(s, 4, now);
	rc |= db_bind_int64(s, 5, now + ttl);
	rc |= db_bind_int64(s, 6, idle);
	rc |= db_bind_text(s, 7, addr);
	if (rc != 0 || stmt_exec(s) != DB_DONE) {
		stmt_done(s);
		return db_fail(st, e, "creating a session for %s", user);
	}
	stmt_done(s);
	return 0;
}

int
store_session_get(struct store *st, const char *sid, struct user *u,
    char *csrf_r, struct err *e)
{
	char dig[USER_TOKEN_LEN + 1];
	struct db_stmt *s;
	int64_t now = store_now(), last, expires, idle;
	char *csrf;
	int rc;

	memset(u, 0, sizeof(*u));
	if (strlen(sid) != USER_TOKEN_LEN)
		return 0;
	sid_digest(sid, dig);
	if ((s = store_stmt(st, sql_sess_get, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, dig) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading a session");
	}
	rc = db_step(s);
	if (rc != DB_ROW) {
		stmt_done(s);
		if (rc == DB_DONE)
			return 0;
		return db_fail(st, e, "reading a session");
	}
	row_user(s, u);
	csrf = col_text(s, 5);
	last = db_col_int64(s, 6);
	expires = db_col_int64(s, 7);
	idle = db_col_int64(s, 8);
	stmt_done(s);
	if (now >= expires || now - last >= idle || csrf == NULL ||
	    strlen(csrf) != USER_TOKEN_LEN) {
		free(csrf);
		user_clear(u);
		(void)exec_name(st, sql_sess_del, dig, "ending a session",
		    NULL, NULL);
		return 0;
	}
	memcpy(csrf_r, csrf, USER_TOKEN_LEN + 1);
	free(csrf);
	/* Restart the idle clock, at most one write every 10 seconds. */
	if (now - last >= 10 && (s = store_stmt(st, sql_sess_touch, e)) !=
	    NULL) {
		(void)db_bind_text(s, 1, dig);
		(void)db_bind_int64(s, 2, now);
		(void)stmt_exec(s);
		stmt_done(s);
	}
	return 1;
}

int
store_session_delete(struct store *st, const char *sid, struct err *e)
{
	char dig[USER_TOKEN_LEN + 1];

	sid_digest(sid, dig);
	return exec_name(st, sql_sess_del, dig, "ending a session", NULL, e);
}

/* ---- login audit ---- */

int
store_login_record(struct store *st, const char *user, const char *addr,
    bool ok, const char *reason, struct err *e)
{
	struct db_stmt *s;
	int64_t now = store_now();
	int rc;

	if ((s = store_stmt(st, sql_audit_prune, e)) == NULL)
		return -1;
	(void)db_bind_int64(s, 1, now - LOGIN_AUDIT_KEEP);
	(void)stmt_exec(s);
	stmt_done(s);
	if ((s = store_stmt(st, sql_audit_add, e)) == NULL)
		return -1;
	rc = db_bind_int64(s, 1, now);
	rc |= db_bind_text(s, 2, user);
	rc |= db_bind_text(s, 3, addr);
	rc |= db_bind_int64(s, 4, ok ? 1 : 0);
	rc |= db_bind_text(s, 5, reason);
	if (rc != 0 || stmt_exec(s) != DB_DONE) {
		stmt_done(s);
		return db_fail(st, e, "recording a login");
	}
	stmt_done(s);
	return 0;
}

int
store_login_failures(struct store *st, const char *user, const char *addr,
    int64_t since, int *n_r, struct err *e)
{
	struct db_stmt *s;

	*n_r = 0;
	if ((s = store_stmt(st, user != NULL ? sql_fail_user : sql_fail_addr,
	    e)) == NULL)
		return -1;
	(void)db_bind_int64(s, 1, since);
	if (db_bind_text(s, 2, user != NULL ? user : addr) != 0 ||
	    db_step(s) != DB_ROW) {
		stmt_done(s);
		return db_fail(st, e, "counting failed logins");
	}
	*n_r = (int)db_col_int64(s, 0);
	stmt_done(s);
	return 0;
}
