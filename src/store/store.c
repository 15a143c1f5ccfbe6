#include "common.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "store/secret.h"
#include "store/store.h"
#include "store/settings.h"
#include "store/store_impl.h"
#include "util/log.h"
#include "util/xmalloc.h"

/*
 * Tables of the extension files (store_*.c beside this one), created with
 * CREATE TABLE IF NOT EXISTS at every open. Add one line per file.
 */
static const char *const store_ext_schemas[] = {
	"CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, "
	"value TEXT NOT NULL)",
	/* routing.c */
	"CREATE TABLE IF NOT EXISTS groups (name TEXT PRIMARY KEY, "
	"members TEXT NOT NULL, created INTEGER, updated INTEGER)",
	"CREATE TABLE IF NOT EXISTS account_routing (account TEXT PRIMARY KEY "
	"REFERENCES accounts(id) ON DELETE CASCADE, multidrop INTEGER NOT NULL "
	"DEFAULT 0, domains TEXT, envelope_headers TEXT, rules TEXT, "
	"postmaster TEXT)",
	/* journal.c */
	"CREATE TABLE IF NOT EXISTS deliveries (account TEXT NOT NULL "
	"REFERENCES accounts(id) ON DELETE CASCADE, folder TEXT NOT NULL, "
	"uidvalidity INTEGER NOT NULL, uid TEXT NOT NULL, rcpt TEXT NOT NULL, "
	"delivered_at INTEGER, "
	"PRIMARY KEY (account, folder, uidvalidity, uid, rcpt))",
	"CREATE TABLE IF NOT EXISTS parked (account TEXT NOT NULL "
	"REFERENCES accounts(id) ON DELETE CASCADE, folder TEXT NOT NULL, "
	"uidvalidity INTEGER NOT NULL, uid TEXT NOT NULL, msgid TEXT, "
	"subject TEXT, reason TEXT, parked_at INTEGER, "
	"PRIMARY KEY (account, folder, uidvalidity, uid))",
	/* a forgotten message takes its per-recipient and parked rows along */
	"CREATE TRIGGER IF NOT EXISTS messages_forget AFTER DELETE ON messages "
	"BEGIN DELETE FROM deliveries WHERE account = old.account AND "
	"folder = old.folder AND uidvalidity = old.uidvalidity AND "
	"uid = old.uid; DELETE FROM parked WHERE account = old.account AND "
	"folder = old.folder AND uidvalidity = old.uidvalidity AND "
	"uid = old.uid; END",
	/* status.c */
	"CREATE TABLE IF NOT EXISTS account_status (account TEXT PRIMARY KEY "
	"REFERENCES accounts(id) ON DELETE CASCADE, interval INTEGER NOT NULL "
	"DEFAULT 0, idle INTEGER NOT NULL DEFAULT 0, state TEXT, failing_since "
	"INTEGER, consecutive_failures INTEGER NOT NULL DEFAULT 0, last_error "
	"TEXT, last_class TEXT, last_success INTEGER, last_attempt INTEGER, "
	"next_check INTEGER)",
	/* users.c */
	"CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT "
	"NOT NULL, domains TEXT, address TEXT, hash TEXT NOT NULL, created "
	"INTEGER NOT NULL, updated INTEGER NOT NULL)",
	"CREATE TABLE IF NOT EXISTS sessions (id_hash TEXT PRIMARY KEY, user "
	"TEXT NOT NULL, csrf TEXT NOT NULL, created INTEGER NOT NULL, last_seen "
	"INTEGER NOT NULL, expires INTEGER NOT NULL, idle INTEGER NOT NULL, "
	"addr TEXT)",
	"CREATE TABLE IF NOT EXISTS login_audit (at INTEGER NOT NULL, user TEXT, "
	"addr TEXT, ok INTEGER NOT NULL, reason TEXT)",
	/* filters.c */
	"CREATE TABLE IF NOT EXISTS account_filters (account TEXT PRIMARY KEY "
	"REFERENCES accounts(id) ON DELETE CASCADE, spam_check INTEGER NOT NULL "
	"DEFAULT 0, virus_check INTEGER NOT NULL DEFAULT 0, spam_action TEXT "
	"NOT NULL DEFAULT 'junk', scanner_down TEXT NOT NULL DEFAULT 'hold', "
	"provider_host TEXT)",
	"CREATE TABLE IF NOT EXISTS quarantine (id INTEGER PRIMARY KEY, account "
	"TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT, file TEXT NOT NULL "
	"UNIQUE, rcpts TEXT, subject TEXT, sender TEXT, remote_id TEXT, at "
	"INTEGER)",
	/* oauth.c */
	"CREATE TABLE IF NOT EXISTS account_oauth (account TEXT PRIMARY KEY "
	"REFERENCES accounts(id) ON DELETE CASCADE, auth TEXT NOT NULL DEFAULT "
	"'password', provider TEXT, tenant TEXT, auth_url TEXT, token_url TEXT, "
	"device_url TEXT, client_id TEXT, scope TEXT, mech TEXT, client_secret "
	"BLOB, "
	"refresh_token BLOB, access_token BLOB, expires_at INTEGER NOT NULL "
	"DEFAULT 0, state TEXT, reason TEXT, authorized_at INTEGER)",
	"CREATE TABLE IF NOT EXISTS oauth_provider_secrets (provider TEXT "
	"PRIMARY KEY, secret BLOB NOT NULL)",
	/* checks.c */
	"CREATE TABLE IF NOT EXISTS account_checks (account TEXT PRIMARY KEY "
	"REFERENCES accounts(id) ON DELETE CASCADE, checked_at INTEGER NOT NULL "
	"DEFAULT 0, gone TEXT, unknown TEXT, detail TEXT)",
};

/*
 * Columns added to the tables above after they first shipped: added with
 * ALTER TABLE when missing (SQLite has no ADD COLUMN IF NOT EXISTS).
 */
static const struct {
	const char *table;
	const char *column;
	const char *decl;
} store_ext_columns[] = {
	/* routing.c: NULL default, 'yes', 'no' */
	{ "account_routing", "reroute_unknown", "TEXT" },
};

#define STORE_DB_FILE		"mailpull.db"
#define STORE_LOCK_DIR		"locks"
#define STORE_BUSY_MS		10000
#define STORE_RUNS_KEPT		20
/* Longest encoded account id used as a lock file name as is; longer ones
 * are hashed so the name stays under NAME_MAX. */
#define STORE_LOCK_NAME_MAX	200

/*
 * Schema migrations: migrations[i] takes user_version i to i + 1. Append,
 * never edit a released step. Table and column names are a contract with
 * the integration tests, which read the database with the sqlite3 CLI.
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE accounts ("
	"  id TEXT PRIMARY KEY,"
	"  protocol TEXT NOT NULL,"
	"  host TEXT,"
	"  port INTEGER NOT NULL DEFAULT 0,"
	"  security TEXT NOT NULL,"
	"  verify INTEGER NOT NULL DEFAULT 1,"
	"  ca_file TEXT,"
	"  username TEXT,"
	"  deliver_to TEXT,"
	"  target TEXT,"
	"  policy TEXT NOT NULL,"
	"  keep_days INTEGER NOT NULL DEFAULT 0,"
	"  max_per_pass INTEGER NOT NULL DEFAULT 0,"
	"  timeout INTEGER NOT NULL DEFAULT 30,"
	"  enabled INTEGER NOT NULL DEFAULT 1,"
	"  folders TEXT,"		/* newline-separated */
	"  only_unseen INTEGER NOT NULL DEFAULT 0,"
	"  mark_seen INTEGER NOT NULL DEFAULT 0,"
	"  password BLOB,"		/* nonce || secretbox */
	"  created INTEGER,"
	"  updated INTEGER"
	");"
	"CREATE TABLE messages ("
	"  account TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
	"  folder TEXT NOT NULL,"
	"  uidvalidity INTEGER NOT NULL,"
	"  uid TEXT NOT NULL,"
	"  state INTEGER NOT NULL,"	/* 1 delivered, 2 failed */
	"  size INTEGER,"
	"  first_seen INTEGER,"
	"  delivered_at INTEGER,"
	"  msgid TEXT,"		/* Message-ID, to re-identify (IMAP) */
	"  PRIMARY KEY(account, folder, uidvalidity, uid)"
	");"
	"CREATE TABLE folders ("
	"  account TEXT REFERENCES accounts(id) ON DELETE CASCADE,"
	"  folder TEXT,"
	"  uidvalidity INTEGER,"
	"  PRIMARY KEY(account, folder)"
	");"
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  account TEXT REFERENCES accounts(id) ON DELETE CASCADE,"
	"  started INTEGER,"
	"  finished INTEGER,"
	"  class TEXT,"			/* err_class_name() */
	"  summary TEXT,"
	"  log TEXT"
	");"
	"CREATE INDEX runs_account ON runs(account, id);",
};

#define ACCT_COLUMNS \
	"rowid, id, protocol, host, port, security, verify, ca_file, " \
	"username, deliver_to, target, policy, keep_days, max_per_pass, " \
	"timeout, enabled, folders, only_unseen, mark_seen, " \
	"password IS NOT NULL, created, updated"

enum stmt_id {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_ACCT_INSERT,
	STMT_ACCT_UPDATE,
	STMT_ACCT_GET,
	STMT_ACCT_LIST,
	STMT_ACCT_DELETE,
	STMT_ACCT_ENABLE,
	STMT_PW_SET,
	STMT_PW_GET,
	STMT_MSG_LOAD,
	STMT_MSG_SET,
	STMT_MSG_FORGET,
	STMT_MSG_FORGET_OTHER,
	STMT_MSG_SET_MSGID,
	STMT_MSG_LOAD_OTHER,
	STMT_FOLDER_GET,
	STMT_FOLDER_SET,
	STMT_RUN_ADD,
	STMT_RUN_TRIM,
	STMT_RUN_LIST,
	STMT__COUNT
};
_Static_assert(STMT__COUNT <= 32, "grow struct store's stmt array");

static const char *const stmt_sql[STMT__COUNT] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_ACCT_INSERT] =
	    "INSERT INTO accounts (id, protocol, host, port, security, "
	    "verify, ca_file, username, deliver_to, target, policy, "
	    "keep_days, max_per_pass, timeout, enabled, folders, "
	    "only_unseen, mark_seen, created, updated) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
	    "?14, ?15, ?16, ?17, ?18, ?19, ?20)",
	[STMT_ACCT_UPDATE] =
	    "UPDATE accounts SET protocol = ?2, host = ?3, port = ?4, "
	    "security = ?5, verify = ?6, ca_file = ?7, username = ?8, "
	    "deliver_to = ?9, target = ?10, policy = ?11, keep_days = ?12, "
	    "max_per_pass = ?13, timeout = ?14, enabled = ?15, "
	    "folders = ?16, only_unseen = ?17, mark_seen = ?18, "
	    "updated = ?20 WHERE id = ?1",
	[STMT_ACCT_GET] =
	    "SELECT " ACCT_COLUMNS " FROM accounts WHERE id = ?1",
	[STMT_ACCT_LIST] =
	    "SELECT " ACCT_COLUMNS " FROM accounts ORDER BY id COLLATE BINARY",
	[STMT_ACCT_DELETE] = "DELETE FROM accounts WHERE id = ?1",
	[STMT_ACCT_ENABLE] =
	    "UPDATE accounts SET enabled = ?2, updated = ?3 WHERE id = ?1",
	[STMT_PW_SET] =
	    "UPDATE accounts SET password = ?2, updated = ?3 WHERE id = ?1",
	[STMT_PW_GET] = "SELECT password FROM accounts WHERE id = ?1",
	[STMT_MSG_LOAD] =
	    "SELECT uid, state, size, first_seen, delivered_at FROM messages "
	    "WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3 "
	    "ORDER BY uid COLLATE BINARY",
	/*
	 * first_seen keeps the earliest sighting; delivered_at is set when a
	 * message first becomes delivered and cleared when it is parked.
	 */
	[STMT_MSG_SET] =
	    "INSERT INTO messages (account, folder, uidvalidity, uid, state, "
	    "size, first_seen, delivered_at, msgid) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?5 = 1 THEN ?8 END, "
	    "?9) "
	    "ON CONFLICT (account, folder, uidvalidity, uid) DO UPDATE SET "
	    "state = excluded.state, size = excluded.size, "
	    "first_seen = COALESCE(messages.first_seen, excluded.first_seen), "
	    "delivered_at = CASE WHEN excluded.state = 1 THEN "
	    "COALESCE(messages.delivered_at, excluded.delivered_at) END, "
	    "msgid = COALESCE(excluded.msgid, messages.msgid)",
	[STMT_MSG_FORGET] =
	    "DELETE FROM messages WHERE account = ?1 AND folder = ?2 AND "
	    "uidvalidity = ?3 AND uid = ?4",
	[STMT_MSG_FORGET_OTHER] =
	    "DELETE FROM messages WHERE account = ?1 AND folder = ?2 AND "
	    "uidvalidity <> ?3",
	[STMT_MSG_SET_MSGID] =
	    "UPDATE messages SET msgid = ?5 WHERE account = ?1 AND "
	    "folder = ?2 AND uidvalidity = ?3 AND uid = ?4",
	[STMT_MSG_LOAD_OTHER] =
	    "SELECT uid, state, size, first_seen, delivered_at, msgid "
	    "FROM messages WHERE account = ?1 AND folder = ?2 AND "
	    "uidvalidity <> ?3 ORDER BY uid COLLATE BINARY",
	[STMT_FOLDER_GET] =
	    "SELECT uidvalidity FROM folders WHERE account = ?1 AND "
	    "folder = ?2",
	[STMT_FOLDER_SET] =
	    "INSERT INTO folders (account, folder, uidvalidity) "
	    "VALUES (?1, ?2, ?3) ON CONFLICT (account, folder) DO UPDATE SET "
	    "uidvalidity = excluded.uidvalidity",
	[STMT_RUN_ADD] =
	    "INSERT INTO runs (account, started, finished, class, summary, "
	    "log) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[STMT_RUN_TRIM] =
	    "DELETE FROM runs WHERE account = ?1 AND id NOT IN "
	    "(SELECT id FROM runs WHERE account = ?1 ORDER BY id DESC "
	    "LIMIT ?2)",
	[STMT_RUN_LIST] =
	    "SELECT started, finished, class, summary, log FROM runs "
	    "WHERE account = ?1 ORDER BY id DESC LIMIT ?2",
};

struct store_lock {
	char *acct;
	int fd;
};




/* ERR_LOCAL with what we were doing and SQLite's reason. */
int
db_fail(struct store *st, struct err *e, const char *fmt, ...)
{
	va_list ap;
	char *what;
	const char *why;

	why = st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory";
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) < 0)
		what = NULL;
	va_end(ap);
	err_set(e, ERR_LOCAL, "store: %s: %s", what != NULL ? what : "?",
	    why);
	free(what);
	return -1;
}

int64_t
store_now(void)
{
	return (int64_t)time(NULL);
}

/*
 * Statements are prepared once per store object and reused (store_msg_set
 * runs once per message of a pass). stmt_get() hands out a statement ready
 * to bind; every user ends with stmt_done() so no read stays open.
 */
static sqlite3_stmt *
stmt_get(struct store *st, enum stmt_id id, struct err *e)
{
	sqlite3_stmt *s = st->stmt[id];

	if (s == NULL) {
		if (sqlite3_prepare_v3(st->db, stmt_sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
			db_fail(st, e, "preparing statement %d", (int)id);
			return NULL;
		}
		st->stmt[id] = s;
	}
	return s;
}

sqlite3_stmt *
store_stmt(struct store *st, const char *sql, struct err *e)
{
	size_t i;

	for (i = 0; i < st->nxstmt; i++)
		if (st->xstmt[i].sql == sql)
			return st->xstmt[i].s;
	if (st->nxstmt == STORE_XSTMT_MAX)
		fatalx("store: more than %d extension statements",
		    STORE_XSTMT_MAX);
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &st->xstmt[st->nxstmt].s, NULL) != SQLITE_OK) {
		db_fail(st, e, "preparing statement");
		return NULL;
	}
	st->xstmt[st->nxstmt].sql = sql;
	return st->xstmt[st->nxstmt++].s;
}

void
stmt_done(sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

int
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

char *
col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t;

	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return NULL;
	t = sqlite3_column_text(s, i);
	return t != NULL ? xstrdup((const char *)t) : NULL;
}

/* Run a statement that returns no rows. Returns the sqlite3_step code
 * (SQLITE_DONE on success) after resetting. */
int
stmt_exec(sqlite3_stmt *s)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	return rc;
}

/* Create dir and its missing parents, each 0700. */
static int
mkdir_p(const char *dir, struct err *e)
{
	char *p, *q;
	struct stat sb;
	int rc = -1;

	p = xstrdup(dir);
	for (q = p + 1; ; q++) {
		if (*q != '/' && *q != '\0')
			continue;
		if (q[-1] != '/') {
			char c = *q;

			*q = '\0';
			if (mkdir(p, 0700) == -1 && errno != EEXIST) {
				err_set(e, ERR_LOCAL, "store: cannot create "
				    "directory %s: %s", p, strerror(errno));
				goto out;
			}
			*q = c;
		}
		if (*q == '\0')
			break;
	}
	if (stat(dir, &sb) == -1) {
		err_set(e, ERR_LOCAL, "store: %s: %s", dir, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(sb.st_mode)) {
		err_set(e, ERR_LOCAL, "store: %s is not a directory", dir);
		goto out;
	}
	rc = 0;
out:
	free(p);
	return rc;
}

static int
store_exec(struct store *st, const char *sql, const char *what,
    struct err *e)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(st, e, "%s", what);
	return 0;
}

/* 1: table has column, 0: not, -1: error. */
static int
store_column_has(struct store *st, const char *table, const char *column)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM pragma_table_info(?1) "
	    "WHERE name = ?2", -1, &s, NULL) != SQLITE_OK)
		return -1;
	rc = bind_text(s, 1, table);
	rc |= bind_text(s, 2, column);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Add table.column when it is missing (names from store_ext_columns[]). */
static int
store_column_ensure(struct store *st, const char *table, const char *column,
    const char *decl, struct err *e)
{
	char sql[256];
	int rc;

	if ((rc = store_column_has(st, table, column)) == 1)
		return 0;
	if (rc == -1)
		return db_fail(st, e, "reading the columns of %s", table);
	rc = snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s %s",
	    table, column, decl);
	if (rc < 0 || (size_t)rc >= sizeof(sql))
		return err_set(e, ERR_INTERNAL, "store: column %s too long",
		    column);
	/* Another process may have added it meanwhile. */
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK &&
	    store_column_has(st, table, column) != 1)
		return db_fail(st, e, "adding column %s.%s", table, column);
	return 0;
}

static int
store_user_version(struct store *st, int *v_r, struct err *e)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s,
	    NULL) != SQLITE_OK)
		return db_fail(st, e, "reading schema version");
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		db_fail(st, e, "reading schema version");
		sqlite3_finalize(s);
		return -1;
	}
	*v_r = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return 0;
}

static int
store_migrate(struct store *st, struct err *e)
{
	char sql[64];
	int v, n = (int)MP_ARRAY_LEN(migrations);

	if (store_user_version(st, &v, e) == -1)
		return -1;
	if (v > n)
		return err_set(e, ERR_LOCAL, "store: database schema version "
		    "%d is newer than this mailpull knows (%d)", v, n);
	while (v < n) {
		/* Another process may be migrating: decide under the lock. */
		if (store_exec(st, "BEGIN IMMEDIATE", "starting migration",
		    e) == -1)
			return -1;
		if (store_user_version(st, &v, e) == -1)
			goto fail;
		if (v >= n) {
			store_exec(st, "COMMIT", "ending migration", e);
			break;
		}
		if (store_exec(st, migrations[v], "migrating schema", e) == -1)
			goto fail;
		if (snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    v + 1) >= (int)sizeof(sql))
			goto fail;
		if (store_exec(st, sql, "setting schema version", e) == -1 ||
		    store_exec(st, "COMMIT", "committing migration", e) == -1)
			goto fail;
		v++;
	}
	return 0;
fail:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	err_prefix(e, "migrating %s/%s to version %d", st->dir,
	    STORE_DB_FILE, v + 1);
	return -1;
}

int
store_open(struct store **st_r, const char *state_dir, struct err *e)
{
	struct store *st;
	char *path = NULL;
	int fd;
	size_t i;

	*st_r = NULL;
	if (state_dir == NULL || *state_dir == '\0')
		return err_set(e, ERR_CONFIG, "no state directory");
	if (mkdir_p(state_dir, e) == -1)
		return -1;
	st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(state_dir);
	if (secret_key_load(st->dir, st->key, e) == -1)
		goto fail;

	path = xasprintf("%s/%s", st->dir, STORE_DB_FILE);
	/*
	 * Create the file ourselves so it is 0600 whatever the umask; SQLite
	 * gives the -wal and -shm files the mode of the database. An empty
	 * file is a new database to SQLite.
	 */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) != -1)
		close(fd);
	else if (errno != EEXIST) {
		err_set(e, ERR_LOCAL, "store: cannot create %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		db_fail(st, e, "opening %s", path);
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	/*
	 * WAL lets readers (the CLI, the API) run beside a pass; FULL makes
	 * every commit durable, which the no-loss invariant depends on.
	 */
	if (store_exec(st, "PRAGMA journal_mode = WAL",
	    "setting journal mode", e) == -1 ||
	    store_exec(st, "PRAGMA synchronous = FULL",
	    "setting synchronous mode", e) == -1 ||
	    store_exec(st, "PRAGMA foreign_keys = ON",
	    "enabling foreign keys", e) == -1)
		goto fail;
	if (store_migrate(st, e) == -1)
		goto fail;
	for (i = 0; i < MP_ARRAY_LEN(store_ext_schemas); i++)
		if (store_exec(st, store_ext_schemas[i], "creating tables",
		    e) == -1)
			goto fail;
	for (i = 0; i < MP_ARRAY_LEN(store_ext_columns); i++)
		if (store_column_ensure(st, store_ext_columns[i].table,
		    store_ext_columns[i].column, store_ext_columns[i].decl,
		    e) == -1)
			goto fail;
	free(path);
	*st_r = st;
	return 0;
fail:
	free(path);
	store_close(&st);
	return -1;
}

void
store_close(struct store **stp)
{
	struct store *st = *stp;
	size_t i;

	if (st == NULL)
		return;
	if (st->db != NULL && !sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	for (i = 0; i < STMT__COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	for (i = 0; i < st->nxstmt; i++)
		sqlite3_finalize(st->xstmt[i].s);
	if (st->db != NULL)
		sqlite3_close(st->db);
	for (i = 0; i < st->nlocks; i++) {
		close(st->locks[i].fd);
		free(st->locks[i].acct);
	}
	free(st->locks);
	sodium_memzero(st->key, sizeof(st->key));
	free(st->dir);
	free(st);
	*stp = NULL;
}

const char *
store_state_dir(const struct store *st)
{
	return st->dir;
}

/*
 * Accounts.
 */

static char *
folders_join(const struct account *a, struct err *e)
{
	size_t i, n = 0;
	char *s, *p;

	for (i = 0; i < ACCT_MAX_FOLDERS && a->folders[i] != NULL; i++) {
		if (strchr(a->folders[i], '\n') != NULL ||
		    *a->folders[i] == '\0') {
			err_set(e, ERR_CONFIG, "account %s: invalid folder "
			    "name", a->id);
			return NULL;
		}
		n += strlen(a->folders[i]) + 1;
	}
	if (n == 0)
		return xstrdup("");
	s = p = xmalloc(n);
	for (i = 0; i < ACCT_MAX_FOLDERS && a->folders[i] != NULL; i++) {
		n = strlen(a->folders[i]);
		memcpy(p, a->folders[i], n);
		p += n;
		*p++ = '\n';
	}
	p[-1] = '\0';
	return s;
}

static void
folders_split(struct account *a, const char *s)
{
	const char *nl;
	size_t i = 0;

	while (s != NULL && *s != '\0' && i < ACCT_MAX_FOLDERS - 1) {
		nl = strchr(s, '\n');
		if (nl == NULL)
			nl = s + strlen(s);
		if (nl > s)
			a->folders[i++] = xstrndup(s, (size_t)(nl - s));
		s = *nl == '\n' ? nl + 1 : nl;
	}
	a->folders[i] = NULL;
}

/* Bind ?1..?20 of the insert/update statements. */
static int
acct_bind(struct store *st, sqlite3_stmt *s, const struct account *a,
    struct err *e)
{
	char *folders;
	int rc = 0;

	if ((folders = folders_join(a, e)) == NULL)
		return -1;
	rc |= bind_text(s, 1, a->id);
	rc |= bind_text(s, 2, account_proto_name(a->proto));
	rc |= bind_text(s, 3, a->host);
	rc |= sqlite3_bind_int(s, 4, a->port);
	rc |= bind_text(s, 5, account_security_name(a->security));
	rc |= sqlite3_bind_int(s, 6, a->verify);
	rc |= bind_text(s, 7, a->ca_file);
	rc |= bind_text(s, 8, a->user);
	rc |= bind_text(s, 9, a->deliver_to);
	rc |= bind_text(s, 10, a->target);
	rc |= bind_text(s, 11, account_policy_name(a->policy));
	rc |= sqlite3_bind_int(s, 12, a->keep_days);
	rc |= sqlite3_bind_int(s, 13, a->max_per_pass);
	rc |= sqlite3_bind_int(s, 14, a->timeout);
	rc |= sqlite3_bind_int(s, 15, a->enabled);
	rc |= bind_text(s, 16, *folders != '\0' ? folders : NULL);
	rc |= sqlite3_bind_int(s, 17, a->only_unseen);
	rc |= sqlite3_bind_int(s, 18, a->mark_seen);
	rc |= sqlite3_bind_int64(s, 19, a->created);
	rc |= sqlite3_bind_int64(s, 20, a->updated);
	free(folders);
	if (rc != SQLITE_OK)
		return db_fail(st, e, "binding account %s", a->id);
	return 0;
}

/* Fill *a from a row of ACCT_COLUMNS. */
static int
acct_row(struct store *st, sqlite3_stmt *s, struct account *a,
    struct err *e)
{
	char *proto, *sec, *pol, *folders;
	int rc = 0;

	account_init(a);
	a->rowid = sqlite3_column_int64(s, 0);
	a->id = col_text(s, 1);
	proto = col_text(s, 2);
	a->host = col_text(s, 3);
	a->port = sqlite3_column_int(s, 4);
	sec = col_text(s, 5);
	a->verify = sqlite3_column_int(s, 6) != 0;
	a->ca_file = col_text(s, 7);
	a->user = col_text(s, 8);
	a->deliver_to = col_text(s, 9);
	a->target = col_text(s, 10);
	pol = col_text(s, 11);
	a->keep_days = sqlite3_column_int(s, 12);
	a->max_per_pass = sqlite3_column_int(s, 13);
	a->timeout = sqlite3_column_int(s, 14);
	a->enabled = sqlite3_column_int(s, 15) != 0;
	folders = col_text(s, 16);
	a->only_unseen = sqlite3_column_int(s, 17) != 0;
	a->mark_seen = sqlite3_column_int(s, 18) != 0;
	a->has_password = sqlite3_column_int(s, 19) != 0;
	a->created = sqlite3_column_int64(s, 20);
	a->updated = sqlite3_column_int64(s, 21);
	folders_split(a, folders);

	if (a->id == NULL)
		rc = err_set(e, ERR_LOCAL, "store: account row %lld has no "
		    "id", (long long)a->rowid);
	else if (account_proto_parse(proto, &a->proto) == -1)
		rc = err_set(e, ERR_LOCAL, "store: account %s: unknown "
		    "protocol '%s'", a->id, proto != NULL ? proto : "");
	else if (account_security_parse(sec, &a->security) == -1)
		rc = err_set(e, ERR_LOCAL, "store: account %s: unknown "
		    "security '%s'", a->id, sec != NULL ? sec : "");
	else if (account_policy_parse(pol, &a->policy) == -1)
		rc = err_set(e, ERR_LOCAL, "store: account %s: unknown "
		    "policy '%s'", a->id, pol != NULL ? pol : "");
	free(proto);
	free(sec);
	free(pol);
	free(folders);
	if (rc == -1)
		account_clear(a);
	(void)st;
	return rc;
}

static int
store_account_add_tx(struct store *st, struct account *a, struct err *e)
{
	sqlite3_stmt *s;
	int rc;
	int64_t t = store_now();

	if (a->id == NULL || *a->id == '\0')
		return err_set(e, ERR_CONFIG, "account has no id");
	if ((s = stmt_get(st, STMT_ACCT_INSERT, e)) == NULL)
		return -1;
	if (a->created == 0)
		a->created = t;
	a->updated = t;
	if (acct_bind(st, s, a, e) == -1) {
		stmt_done(s);
		return -1;
	}
	rc = stmt_exec(s);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY ||
	    rc == SQLITE_CONSTRAINT_UNIQUE) {
		stmt_done(s);
		return err_set(e, ERR_CONFIG, "account %s already exists",
		    a->id);
	}
	if (rc != SQLITE_DONE) {
		db_fail(st, e, "adding account %s", a->id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	a->rowid = sqlite3_last_insert_rowid(st->db);
	return 0;
}

static int
no_such_account(struct err *e, const char *id)
{
	return err_set(e, ERR_CONFIG, "no such account: %s", id);
}

static int
store_account_update_tx(struct store *st, const struct account *a,
    struct err *e)
{
	struct account tmp;
	sqlite3_stmt *s;
	int rc;

	if (a->id == NULL)
		return err_set(e, ERR_CONFIG, "account has no id");
	if ((s = stmt_get(st, STMT_ACCT_UPDATE, e)) == NULL)
		return -1;
	/* Binding ?19 (created) is harmless: the update does not use it. */
	tmp = *a;
	tmp.updated = store_now();
	if (acct_bind(st, s, &tmp, e) == -1) {
		stmt_done(s);
		return -1;
	}
	rc = stmt_exec(s);
	if (rc != SQLITE_DONE) {
		db_fail(st, e, "updating account %s", a->id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	if (sqlite3_changes(st->db) == 0)
		return no_such_account(e, a->id);
	return 0;
}

int
store_account_get(struct store *st, const char *id, struct account *a,
    struct err *e)
{
	sqlite3_stmt *s;
	int rc;

	account_init(a);
	if ((s = stmt_get(st, STMT_ACCT_GET, e)) == NULL)
		return -1;
	if (bind_text(s, 1, id) != SQLITE_OK) {
		db_fail(st, e, "reading account %s", id);
		stmt_done(s);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		stmt_done(s);
		return no_such_account(e, id);
	}
	if (rc != SQLITE_ROW) {
		db_fail(st, e, "reading account %s", id);
		stmt_done(s);
		return -1;
	}
	rc = acct_row(st, s, a, e);
	stmt_done(s);
	return rc;
}

int
store_account_list(struct store *st, struct account **list_r, size_t *n_r,
    struct err *e)
{
	sqlite3_stmt *s;
	struct account *list = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*list_r = NULL;
	*n_r = 0;
	if ((s = stmt_get(st, STMT_ACCT_LIST, e)) == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			list = xreallocarray(list, cap, sizeof(*list));
		}
		if (acct_row(st, s, &list[n], e) == -1)
			goto fail;
		n++;
	}
	if (rc != SQLITE_DONE) {
		db_fail(st, e, "listing accounts");
		goto fail;
	}
	stmt_done(s);
	*list_r = list;
	*n_r = n;
	return 0;
fail:
	stmt_done(s);
	store_account_list_free(&list, n);
	return -1;
}

void
store_account_list_free(struct account **list, size_t n)
{
	size_t i;

	if (*list == NULL)
		return;
	for (i = 0; i < n; i++)
		account_clear(&(*list)[i]);
	free(*list);
	*list = NULL;
}

/* Run a write keyed by account id; ERR_CONFIG when no row matched. */
static int
acct_write(struct store *st, sqlite3_stmt *s, const char *id,
    const char *what, struct err *e)
{
	int rc;

	rc = stmt_exec(s);
	if (rc != SQLITE_DONE) {
		db_fail(st, e, "%s %s", what, id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	if (sqlite3_changes(st->db) == 0)
		return no_such_account(e, id);
	return 0;
}

static int
store_account_delete_tx(struct store *st, const char *id, struct err *e)
{
	sqlite3_stmt *s;

	if ((s = stmt_get(st, STMT_ACCT_DELETE, e)) == NULL)
		return -1;
	if (bind_text(s, 1, id) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "deleting account %s", id);
	}
	/* The journal, folders and run logs go with it (ON DELETE CASCADE,
	 * foreign_keys is on). */
	return acct_write(st, s, id, "deleting account", e);
}

static int
store_account_set_enabled_tx(struct store *st, const char *id, bool enabled,
    struct err *e)
{
	sqlite3_stmt *s;

	if ((s = stmt_get(st, STMT_ACCT_ENABLE, e)) == NULL)
		return -1;
	if (bind_text(s, 1, id) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, enabled) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, store_now()) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "updating account %s", id);
	}
	return acct_write(st, s, id, "updating account", e);
}

static int
store_password_set_tx(struct store *st, const char *id, const char *pw,
    size_t len, struct err *e)
{
	sqlite3_stmt *s;
	unsigned char *blob = NULL;
	size_t blen = 0;
	int rc;

	if ((s = stmt_get(st, STMT_PW_SET, e)) == NULL)
		return -1;
	if (pw != NULL &&
	    secret_seal(st->key, pw, len, &blob, &blen) == -1) {
		stmt_done(s);
		return err_set(e, ERR_INTERNAL, "cannot seal password for %s",
		    id);
	}
	if (bind_text(s, 1, id) != SQLITE_OK ||
	    (blob != NULL ? sqlite3_bind_blob(s, 2, blob, (int)blen,
	    SQLITE_TRANSIENT) : sqlite3_bind_null(s, 2)) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 3, store_now()) != SQLITE_OK) {
		free(blob);
		stmt_done(s);
		return db_fail(st, e, "storing password for %s", id);
	}
	free(blob);
	rc = acct_write(st, s, id, "storing password for", e);
	return rc;
}

int
store_password_get(struct store *st, const char *id, char **pw_r,
    size_t *len_r, struct err *e)
{
	sqlite3_stmt *s;
	const unsigned char *blob;
	int rc, blen;

	*pw_r = NULL;
	*len_r = 0;
	if ((s = stmt_get(st, STMT_PW_GET, e)) == NULL)
		return -1;
	if (bind_text(s, 1, id) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "reading password of %s", id);
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		stmt_done(s);
		return no_such_account(e, id);
	}
	if (rc != SQLITE_ROW) {
		db_fail(st, e, "reading password of %s", id);
		stmt_done(s);
		return -1;
	}
	if (sqlite3_column_type(s, 0) == SQLITE_NULL) {
		stmt_done(s);
		return err_set(e, ERR_CONFIG, "no password stored for %s", id);
	}
	blob = sqlite3_column_blob(s, 0);
	blen = sqlite3_column_bytes(s, 0);
	rc = secret_open(st->key, blob, blob != NULL ? (size_t)blen : 0,
	    pw_r, len_r, e);
	stmt_done(s);
	if (rc == -1)
		err_prefix(e, "password of %s", id);
	return rc;
}

void
store_secret_free(char **pw, size_t len)
{
	secret_free(pw, len);
}

/*
 * The journal.
 */

static int
msg_bind_key(sqlite3_stmt *s, const char *acct, const char *folder,
    uint64_t uidvalidity)
{
	int rc = 0;

	rc |= bind_text(s, 1, acct);
	rc |= bind_text(s, 2, folder != NULL ? folder : "");
	/* UIDVALIDITY is 32 bits in practice; a uint64 round-trips through
	 * int64 by the casts either way. */
	rc |= sqlite3_bind_int64(s, 3, (sqlite3_int64)uidvalidity);
	return rc;
}


static int
msg_load(struct store *st, enum stmt_id id, const char *acct,
    const char *folder, uint64_t uidvalidity, struct msg_rec **recs_r,
    size_t *n_r, struct err *e)
{
	sqlite3_stmt *s;
	struct msg_rec *recs = NULL, *r;
	size_t n = 0, cap = 0;
	int rc;

	*recs_r = NULL;
	*n_r = 0;
	if ((s = stmt_get(st, id, e)) == NULL)
		return -1;
	if (msg_bind_key(s, acct, folder, uidvalidity) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "loading journal of %s", acct);
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			recs = xreallocarray(recs, cap, sizeof(*recs));
		}
		r = &recs[n++];
		r->uid = col_text(s, 0);
		if (r->uid == NULL)
			r->uid = xstrdup("");
		r->state = (enum msg_state)sqlite3_column_int(s, 1);
		r->size = (uint64_t)sqlite3_column_int64(s, 2);
		r->first_seen = sqlite3_column_int64(s, 3);
		r->delivered_at = sqlite3_column_int64(s, 4);
		r->msgid = id == STMT_MSG_LOAD_OTHER ? col_text(s, 5) : NULL;
	}
	if (rc != SQLITE_DONE) {
		db_fail(st, e, "loading journal of %s", acct);
		stmt_done(s);
		store_msg_free(&recs, n);
		return -1;
	}
	stmt_done(s);
	*recs_r = recs;
	*n_r = n;
	return 0;
}

int
store_msg_load(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, struct msg_rec **recs_r, size_t *n_r,
    struct err *e)
{
	return msg_load(st, STMT_MSG_LOAD, acct, folder, uidvalidity, recs_r,
	    n_r, e);
}

int
store_msg_load_other_validity(struct store *st, const char *acct,
    const char *folder, uint64_t uidvalidity, struct msg_rec **recs_r,
    size_t *n_r, struct err *e)
{
	return msg_load(st, STMT_MSG_LOAD_OTHER, acct, folder, uidvalidity,
	    recs_r, n_r, e);
}

int
store_msg_set_msgid(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, const char *msgid, struct err *e)
{
	sqlite3_stmt *s;

	if ((s = stmt_get(st, STMT_MSG_SET_MSGID, e)) == NULL)
		return -1;
	if ((msg_bind_key(s, acct, folder, uidvalidity) |
	    bind_text(s, 4, uid) | bind_text(s, 5, msgid)) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "recording Message-ID (account %s)",
		    acct);
	}
	return write_done(st, s, e, "recording Message-ID", acct);
}

void
store_msg_free(struct msg_rec **recs, size_t n)
{
	size_t i;

	if (*recs == NULL)
		return;
	for (i = 0; i < n; i++) {
		free((*recs)[i].uid);
		free((*recs)[i].msgid);
	}
	free(*recs);
	*recs = NULL;
}

static int
msg_cmp(const void *key, const void *elem)
{
	const struct msg_rec *r = elem;

	return strcmp(key, r->uid);
}

struct msg_rec *
store_msg_find(struct msg_rec *recs, size_t n, const char *uid)
{
	if (recs == NULL || n == 0)
		return NULL;
	return bsearch(uid, recs, n, sizeof(*recs), msg_cmp);
}

int
store_begin(struct store *st, struct err *e)
{
	sqlite3_stmt *s;
	int rc;

	if (st->in_tx)
		return err_set(e, ERR_INTERNAL, "store: transaction already "
		    "open");
	if ((s = stmt_get(st, STMT_BEGIN, e)) == NULL)
		return -1;
	rc = stmt_exec(s);
	stmt_done(s);
	if (rc != SQLITE_DONE)
		return db_fail(st, e, "starting a transaction");
	st->in_tx = true;
	return 0;
}

int
store_commit(struct store *st, struct err *e)
{
	sqlite3_stmt *s;
	int rc;

	if (!st->in_tx)
		return err_set(e, ERR_INTERNAL, "store: commit without begin");
	if ((s = stmt_get(st, STMT_COMMIT, e)) == NULL)
		return -1;
	rc = stmt_exec(s);
	stmt_done(s);
	if (rc != SQLITE_DONE) {
		/* A failed COMMIT may leave the transaction open (BUSY);
		 * the caller rolls back. */
		if (sqlite3_get_autocommit(st->db))
			st->in_tx = false;
		return db_fail(st, e, "committing");
	}
	st->in_tx = false;
	return 0;
}

int
store_rollback(struct store *st)
{
	sqlite3_stmt *s;
	int rc;

	st->in_tx = false;
	if (sqlite3_get_autocommit(st->db))
		return 0;
	if ((s = stmt_get(st, STMT_ROLLBACK, NULL)) == NULL)
		return -1;
	rc = stmt_exec(s);
	stmt_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Run a write statement; when no store_begin() is open it commits on its
 * own (autocommit). */
int
write_done(struct store *st, sqlite3_stmt *s, struct err *e,
    const char *what, const char *acct)
{
	int rc;

	rc = stmt_exec(s);
	if (rc != SQLITE_DONE) {
		db_fail(st, e, "%s (account %s)", what, acct);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return 0;
}

int
store_msg_set(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, enum msg_state state,
    uint64_t size, int64_t first_seen, struct err *e)
{
	return store_msg_record(st, acct, folder, uidvalidity, uid, state,
	    size, first_seen, NULL, e);
}

int
store_msg_record(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, enum msg_state state,
    uint64_t size, int64_t first_seen, const char *msgid, struct err *e)
{
	sqlite3_stmt *s;
	int rc;
	int64_t t = store_now();

	if (state != MSG_DELIVERED && state != MSG_FAILED)
		return err_set(e, ERR_INTERNAL, "store: invalid message state "
		    "%d", (int)state);
	if ((s = stmt_get(st, STMT_MSG_SET, e)) == NULL)
		return -1;
	rc = msg_bind_key(s, acct, folder, uidvalidity);
	rc |= bind_text(s, 4, uid);
	rc |= sqlite3_bind_int(s, 5, (int)state);
	rc |= sqlite3_bind_int64(s, 6, (sqlite3_int64)size);
	rc |= sqlite3_bind_int64(s, 7, first_seen != 0 ? first_seen : t);
	rc |= sqlite3_bind_int64(s, 8, t);
	rc |= bind_text(s, 9, msgid);
	if (rc != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "recording message (account %s)", acct);
	}
	return write_done(st, s, e, "recording message", acct);
}

int
store_msg_forget(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, struct err *e)
{
	sqlite3_stmt *s;

	if ((s = stmt_get(st, STMT_MSG_FORGET, e)) == NULL)
		return -1;
	if ((msg_bind_key(s, acct, folder, uidvalidity) |
	    bind_text(s, 4, uid)) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "forgetting message (account %s)", acct);
	}
	return write_done(st, s, e, "forgetting message", acct);
}

int
store_msg_forget_other_validity(struct store *st, const char *acct,
    const char *folder, uint64_t uidvalidity, struct err *e)
{
	sqlite3_stmt *s;

	if ((s = stmt_get(st, STMT_MSG_FORGET_OTHER, e)) == NULL)
		return -1;
	if (msg_bind_key(s, acct, folder, uidvalidity) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "forgetting stale UIDVALIDITY "
		    "(account %s)", acct);
	}
	return write_done(st, s, e, "forgetting stale UIDVALIDITY", acct);
}

int
store_folder_get(struct store *st, const char *acct, const char *folder,
    uint64_t *uidvalidity_r, struct err *e)
{
	sqlite3_stmt *s;
	int rc;

	*uidvalidity_r = 0;
	if ((s = stmt_get(st, STMT_FOLDER_GET, e)) == NULL)
		return -1;
	if ((bind_text(s, 1, acct) | bind_text(s, 2, folder)) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "reading folder (account %s)", acct);
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*uidvalidity_r = (uint64_t)sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE) {
		db_fail(st, e, "reading folder (account %s)", acct);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	return 0;
}

int
store_folder_set(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, struct err *e)
{
	sqlite3_stmt *s;

	if ((s = stmt_get(st, STMT_FOLDER_SET, e)) == NULL)
		return -1;
	if (msg_bind_key(s, acct, folder, uidvalidity) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "recording folder (account %s)", acct);
	}
	return write_done(st, s, e, "recording folder", acct);
}

/*
 * Run logs.
 */

static enum err_class
class_parse(const char *name)
{
	int c;

	if (name == NULL)
		return ERR_INTERNAL;
	for (c = ERR_NONE; c < ERR__COUNT; c++)
		if (strcmp(err_class_name((enum err_class)c), name) == 0)
			return (enum err_class)c;
	return ERR_INTERNAL;
}

int
store_run_add(struct store *st, const char *acct, const struct run_rec *run,
    struct err *e)
{
	sqlite3_stmt *s;
	bool own_tx = !st->in_tx;
	int rc;

	/* Insert and trim together, in the caller's transaction or ours. */
	if (own_tx && store_begin(st, e) == -1)
		return -1;
	if ((s = stmt_get(st, STMT_RUN_ADD, e)) == NULL)
		goto fail;
	rc = bind_text(s, 1, acct);
	rc |= sqlite3_bind_int64(s, 2, run->started);
	rc |= sqlite3_bind_int64(s, 3, run->finished);
	rc |= bind_text(s, 4, err_class_name(run->cls));
	rc |= bind_text(s, 5, run->summary);
	rc |= bind_text(s, 6, run->log);
	if (rc != SQLITE_OK) {
		stmt_done(s);
		db_fail(st, e, "adding run log (account %s)", acct);
		goto fail;
	}
	if (write_done(st, s, e, "adding run log", acct) == -1)
		goto fail;
	if ((s = stmt_get(st, STMT_RUN_TRIM, e)) == NULL)
		goto fail;
	if ((bind_text(s, 1, acct) |
	    sqlite3_bind_int(s, 2, STORE_RUNS_KEPT)) != SQLITE_OK) {
		stmt_done(s);
		db_fail(st, e, "trimming run logs (account %s)", acct);
		goto fail;
	}
	if (write_done(st, s, e, "trimming run logs", acct) == -1)
		goto fail;
	if (own_tx && store_commit(st, e) == -1)
		goto fail;
	return 0;
fail:
	if (own_tx)
		store_rollback(st);
	return -1;
}

int
store_run_list(struct store *st, const char *acct, size_t max,
    struct run_rec **runs_r, size_t *n_r, struct err *e)
{
	sqlite3_stmt *s;
	struct run_rec *runs = NULL, *r;
	size_t n = 0, cap = 0;
	char *cls;
	int rc;

	*runs_r = NULL;
	*n_r = 0;
	if ((s = stmt_get(st, STMT_RUN_LIST, e)) == NULL)
		return -1;
	if ((bind_text(s, 1, acct) | sqlite3_bind_int64(s, 2,
	    max > INT64_MAX ? INT64_MAX : (sqlite3_int64)max)) != SQLITE_OK) {
		stmt_done(s);
		return db_fail(st, e, "reading run logs (account %s)", acct);
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			runs = xreallocarray(runs, cap, sizeof(*runs));
		}
		r = &runs[n++];
		r->started = sqlite3_column_int64(s, 0);
		r->finished = sqlite3_column_int64(s, 1);
		cls = col_text(s, 2);
		r->cls = class_parse(cls);
		free(cls);
		r->summary = col_text(s, 3);
		r->log = col_text(s, 4);
		if (r->summary == NULL)
			r->summary = xstrdup("");
		if (r->log == NULL)
			r->log = xstrdup("");
	}
	if (rc != SQLITE_DONE) {
		db_fail(st, e, "reading run logs (account %s)", acct);
		stmt_done(s);
		store_run_free(&runs, n);
		return -1;
	}
	stmt_done(s);
	*runs_r = runs;
	*n_r = n;
	return 0;
}

void
store_run_free(struct run_rec **runs, size_t n)
{
	size_t i;

	if (*runs == NULL)
		return;
	for (i = 0; i < n; i++) {
		free((*runs)[i].summary);
		free((*runs)[i].log);
	}
	free(*runs);
	*runs = NULL;
}

/*
 * Pass locks: flock() on STATE/locks/<name>.lock. The kernel drops the lock
 * when the process dies, so a crashed pass never wedges its account.
 */

/* Account ids are addresses: keep [A-Za-z0-9@._+-], %XX the rest (so no
 * '/' and no "..", and the mapping is one to one); hash very long ones. */
static char *
lock_name(const char *acct)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[16];
	const unsigned char *p;
	char *s, *q;
	size_t i;

	s = q = xmalloc(strlen(acct) * 3 + 1);
	for (p = (const unsigned char *)acct; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '@' || *p == '_' ||
		    *p == '+' || *p == '-' || (*p == '.' && p != (const
		    unsigned char *)acct))
			*q++ = (char)*p;
		else {
			*q++ = '%';
			*q++ = hex[*p >> 4];
			*q++ = hex[*p & 0xf];
		}
	}
	*q = '\0';
	if (q - s <= STORE_LOCK_NAME_MAX)
		return s;
	free(s);
	crypto_generichash(h, sizeof(h), (const unsigned char *)acct,
	    strlen(acct), NULL, 0);
	s = q = xmalloc(2 + sizeof(h) * 2 + 1);
	*q++ = '#';
	*q++ = '-';
	for (i = 0; i < sizeof(h); i++) {
		*q++ = hex[h[i] >> 4];
		*q++ = hex[h[i] & 0xf];
	}
	*q = '\0';
	return s;
}

int
store_lock(struct store *st, const char *acct, bool wait, struct err *e)
{
	char *dir, *name, *path;
	size_t i;
	int fd, rc;

	for (i = 0; i < st->nlocks; i++)
		if (strcmp(st->locks[i].acct, acct) == 0)
			return 1;	/* already ours */

	dir = xasprintf("%s/%s", st->dir, STORE_LOCK_DIR);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		err_set(e, ERR_LOCAL, "store: cannot create %s: %s", dir,
		    strerror(errno));
		free(dir);
		return -1;
	}
	name = lock_name(acct);
	path = xasprintf("%s/%s.lock", dir, name);
	free(name);
	free(dir);

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		err_set(e, ERR_LOCAL, "store: cannot open lock %s: %s", path,
		    strerror(errno));
		free(path);
		return -1;
	}
	do {
		rc = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB));
	} while (rc == -1 && errno == EINTR);
	if (rc == -1) {
		int saved = errno;

		close(fd);
		if (saved == EWOULDBLOCK) {
			free(path);
			err_set(e, ERR_BUSY, "account %s is busy in another "
			    "pass", acct);
			return 0;
		}
		err_set(e, ERR_LOCAL, "store: cannot lock %s: %s", path,
		    strerror(saved));
		free(path);
		return -1;
	}
	free(path);
	st->locks = xreallocarray(st->locks, st->nlocks + 1,
	    sizeof(*st->locks));
	st->locks[st->nlocks].acct = xstrdup(acct);
	st->locks[st->nlocks].fd = fd;
	st->nlocks++;
	return 1;
}

void
store_unlock(struct store *st, const char *acct)
{
	size_t i;

	for (i = 0; i < st->nlocks; i++) {
		if (strcmp(st->locks[i].acct, acct) != 0)
			continue;
		/* Closing the last descriptor of the open file releases the
		 * flock; the file stays (unlinking would race a waiter). */
		close(st->locks[i].fd);
		free(st->locks[i].acct);
		st->locks[i] = st->locks[--st->nlocks];
		return;
	}
}

/* Public entry points: every change bumps the change counter so a running
 * daemon notices it. */
int
store_account_add(struct store *st, struct account *a, struct err *e)
{
	if (store_account_add_tx(st, a, e) == -1)
		return -1;
	return store_change_bump(st, e);
}

int
store_account_update(struct store *st, const struct account *a,
    struct err *e)
{
	if (store_account_update_tx(st, a, e) == -1)
		return -1;
	return store_change_bump(st, e);
}

int
store_account_delete(struct store *st, const char *id, struct err *e)
{
	if (store_account_delete_tx(st, id, e) == -1)
		return -1;
	return store_change_bump(st, e);
}

int
store_account_set_enabled(struct store *st, const char *id, bool enabled,
    struct err *e)
{
	if (store_account_set_enabled_tx(st, id, enabled, e) == -1)
		return -1;
	return store_change_bump(st, e);
}

int
store_password_set(struct store *st, const char *id, const char *pw,
    size_t len, struct err *e)
{
	if (store_password_set_tx(st, id, pw, len, e) == -1)
		return -1;
	return store_change_bump(st, e);
}
