#include "common.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store/db.h"
#include "store/lease.h"
#include "store/secret.h"
#include "store/store.h"
#include "store/settings.h"
#include "store/store_impl.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/strnum.h"
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
	"CREATE TABLE IF NOT EXISTS sessions (id_hash TEXT PRIMARY KEY, "
	"\"user\" TEXT NOT NULL, csrf TEXT NOT NULL, created INTEGER NOT NULL, "
	"last_seen INTEGER NOT NULL, expires INTEGER NOT NULL, idle INTEGER "
	"NOT NULL, addr TEXT)",
	"CREATE TABLE IF NOT EXISTS login_audit (at INTEGER NOT NULL, "
	"\"user\" TEXT, addr TEXT, ok INTEGER NOT NULL, reason TEXT)",
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
	/* lease.c: work sharing on a shared store (times in ms, DB clock) */
	"CREATE TABLE IF NOT EXISTS leases (account TEXT PRIMARY KEY "
	"REFERENCES accounts(id) ON DELETE CASCADE, holder TEXT, token "
	"INTEGER NOT NULL DEFAULT 0, expires INTEGER NOT NULL DEFAULT 0, due "
	"INTEGER NOT NULL DEFAULT 0, kick INTEGER NOT NULL DEFAULT 0, "
	"seen_updated INTEGER NOT NULL DEFAULT 0, claims INTEGER NOT NULL "
	"DEFAULT 0, idle_holder TEXT, idle_expires INTEGER NOT NULL DEFAULT 0)",
	"CREATE INDEX IF NOT EXISTS leases_due ON leases (due)",
};

/*
 * A forgotten message takes its per-recipient and parked rows along: a
 * trigger on messages, written per backend (created after the tables).
 */
static const char sqlite_trigger[] =
    "CREATE TRIGGER IF NOT EXISTS messages_forget AFTER DELETE ON messages "
    "BEGIN DELETE FROM deliveries WHERE account = old.account AND "
    "folder = old.folder AND uidvalidity = old.uidvalidity AND "
    "uid = old.uid; DELETE FROM parked WHERE account = old.account AND "
    "folder = old.folder AND uidvalidity = old.uidvalidity AND "
    "uid = old.uid; END";
/* The body is a plain string literal (no dollar quoting, no ?) so the
 * PostgreSQL backend's rewriting has nothing to touch. */
static const char pg_trigger_fn[] =
    "CREATE OR REPLACE FUNCTION messages_forget() RETURNS trigger "
    "LANGUAGE plpgsql AS 'BEGIN "
    "DELETE FROM deliveries WHERE account = OLD.account AND "
    "folder = OLD.folder AND uidvalidity = OLD.uidvalidity AND "
    "uid = OLD.uid; DELETE FROM parked WHERE account = OLD.account AND "
    "folder = OLD.folder AND uidvalidity = OLD.uidvalidity AND "
    "uid = OLD.uid; RETURN NULL; END'";
static const char pg_trigger[] =
    "CREATE TRIGGER messages_forget AFTER DELETE ON messages "
    "FOR EACH ROW EXECUTE FUNCTION messages_forget()";
static const char pg_trigger_has[] =
    "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE t.tgname = 'messages_forget' AND c.relname = 'messages' AND "
    "n.nspname = current_schema()";

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
#define STORE_RUNS_KEPT		20
/* Longest encoded account id used as a lock file name as is; longer ones
 * are hashed so the name stays under NAME_MAX. */
#define STORE_LOCK_NAME_MAX	200

/*
 * Schema migrations: migrations[i] takes the schema version i to i + 1
 * (SQLite: PRAGMA user_version; PostgreSQL: the table schema_version).
 * Append, never edit a released step; write them in db.h's dialect.
 * Table and column names are a contract with the integration tests, which
 * read the database with the sqlite3 CLI.
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
	"id, protocol, host, port, security, verify, ca_file, " \
	"username, deliver_to, target, policy, keep_days, max_per_pass, " \
	"timeout, enabled, folders, only_unseen, mark_seen, " \
	"password IS NOT NULL, created, updated"

enum stmt_id {
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
	int fd;			/* flock; -1 for a lease (shared store) */
	int64_t token;		/* the lease's fencing token */
	bool claimed;		/* taken by store_lock (not the scheduler) */
};

/*
 * Where the database is (store_set_location): NULL for SQLite in the state
 * directory, else a PostgreSQL connection string. Set before any open.
 */
static char *store_loc;
static bool store_loc_pg;

/*
 * PostgreSQL: the schema is checked and migrated once per process and
 * location (the API opens a store per request); under this mutex so two
 * threads do not both try.
 */
static pthread_mutex_t store_schema_mtx = PTHREAD_MUTEX_INITIALIZER;
static bool store_schema_done;

/* Serialises migrations of several nodes on one PostgreSQL database:
 * "mailpull" in ASCII, a key no other user of the database will pick. */
#define STORE_PG_LOCK_KEY	"7881696737339206764"

/* What store_meta's key_check holds: a keyed hash of a fixed string. */
#define STORE_KEY_CHECK_TEXT	"mailpull key check v1"

/* ERR_LOCAL with what we were doing and the database's reason. */
int
db_fail(struct store *st, struct err *e, const char *fmt, ...)
{
	va_list ap;
	char *what;
	const char *why;

	why = st->db != NULL ? db_errmsg(st->db) : "out of memory";
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
static struct db_stmt *
stmt_get(struct store *st, enum stmt_id id, struct err *e)
{
	struct db_stmt *s = st->stmt[id];

	if (s == NULL) {
		if (db_prepare(st->db, stmt_sql[id], &s) == -1) {
			db_fail(st, e, "preparing statement %d", (int)id);
			return NULL;
		}
		st->stmt[id] = s;
	}
	return s;
}

struct db_stmt *
store_stmt(struct store *st, const char *sql, struct err *e)
{
	size_t i;

	for (i = 0; i < st->nxstmt; i++)
		if (st->xstmt[i].sql == sql)
			return st->xstmt[i].s;
	if (st->nxstmt == STORE_XSTMT_MAX)
		fatalx("store: more than %d extension statements",
		    STORE_XSTMT_MAX);
	if (db_prepare(st->db, sql, &st->xstmt[st->nxstmt].s) == -1) {
		db_fail(st, e, "preparing statement");
		return NULL;
	}
	st->xstmt[st->nxstmt].sql = sql;
	return st->xstmt[st->nxstmt++].s;
}

void
stmt_done(struct db_stmt *s)
{
	db_reset(s);
}

char *
col_text(struct db_stmt *s, int i)
{
	const char *t = db_col_text(s, i);

	return t != NULL ? xstrdup(t) : NULL;
}

/* Run a statement to its end; DB_DONE on success, DB_ERROR. The caller
 * resets it (stmt_done). */
int
stmt_exec(struct db_stmt *s)
{
	int rc;

	while ((rc = db_step(s)) == DB_ROW)
		;
	return rc;
}

/*
 * The store's location.
 */

/* A libpq "key=value" string: a dbname= that starts a keyword. */
static bool
loc_is_conninfo(const char *loc)
{
	const char *p;

	for (p = loc; (p = strstr(p, "dbname=")) != NULL; p++)
		if (p == loc || p[-1] == ' ' || p[-1] == '\t')
			return true;
	return false;
}

int
store_set_location(const char *loc, struct err *e)
{
	bool pg = false;

	if (loc != NULL && *loc != '\0') {
		pg = strncmp(loc, "postgresql://", 13) == 0 ||
		    strncmp(loc, "postgres://", 11) == 0 ||
		    loc_is_conninfo(loc);
		/* Not echoed: it may hold a password. */
		if (!pg)
			return err_set(e, ERR_CONFIG, "store location: "
			    "expected postgresql://..., postgres://... or a "
			    "libpq connection string with dbname=...; leave "
			    "it empty for the SQLite store in the state "
			    "directory");
	}
	pthread_mutex_lock(&store_schema_mtx);
	free(store_loc);
	store_loc = pg ? xstrdup(loc) : NULL;
	store_loc_pg = pg;
	store_schema_done = false;
	pthread_mutex_unlock(&store_schema_mtx);
	return 0;
}

bool
store_shared(void)
{
	return store_loc_pg;
}

/*
 * The PostgreSQL location for messages: the password left out. URI: the
 * userinfo's ":password" and the query (which may hold password=) go;
 * key=value: the password keyword goes, quoted values understood.
 */
static char *
loc_redacted(const char *loc)
{
	const char *p, *auth, *end, *at, *colon, *k, *v;
	struct buf b;
	char *out;

	buf_init(&b, strlen(loc) + 1);
	if (strncmp(loc, "postgresql://", 13) == 0 ||
	    strncmp(loc, "postgres://", 11) == 0) {
		auth = strstr(loc, "://") + 3;
		end = auth + strcspn(auth, "/?");
		at = NULL;
		for (p = auth; p < end; p++)
			if (*p == '@')
				at = p;
		(void)buf_add(&b, loc, (size_t)(auth - loc));
		if (at != NULL) {
			colon = memchr(auth, ':', (size_t)(at - auth));
			(void)buf_add(&b, auth, (size_t)((colon != NULL ?
			    colon : at) - auth));
			auth = at;
		}
		(void)buf_add(&b, auth, strcspn(auth, "?"));
		goto done;
	}
	for (p = loc; *p != '\0';) {
		p += strspn(p, " \t\n");
		if (*p == '\0')
			break;
		k = p;
		p += strcspn(p, "= \t\n");
		v = p;
		p += strspn(p, " \t\n");
		if (*p == '=')
			p++;
		p += strspn(p, " \t\n");
		if (*p == '\'') {
			for (p++; *p != '\0' && *p != '\''; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
			if (*p == '\'')
				p++;
		} else
			for (; *p != '\0' && strchr(" \t\n", *p) == NULL; p++)
				if (*p == '\\' && p[1] != '\0')
					p++;
		if ((size_t)(v - k) == 8 && strncmp(k, "password", 8) == 0)
			continue;
		if (b.len > 0)
			(void)buf_add(&b, " ", 1);
		(void)buf_add(&b, k, (size_t)(p - k));
	}
done:
	if ((out = buf_detach(&b)) == NULL)
		out = xstrdup("");
	return out;
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
	if (db_exec(st->db, sql) == -1)
		return db_fail(st, e, "%s", what);
	return 0;
}

/*
 * One-off queries of the schema code (not cached). Runs sql with up to
 * two text parameters; 1 and *v_r from the first column when there is a
 * row, 0 when there is none, -1 on error.
 */
static int
store_query1(struct store *st, const char *sql, const char *p1,
    const char *p2, int64_t *v_r)
{
	struct db_stmt *s;
	int rc;

	if (db_prepare(st->db, sql, &s) == -1)
		return -1;
	rc = 0;
	if (p1 != NULL)
		rc |= db_bind_text(s, 1, p1);
	if (p2 != NULL)
		rc |= db_bind_text(s, 2, p2);
	if (rc == 0)
		rc = db_step(s);
	else
		rc = DB_ERROR;
	if (rc == DB_ROW && v_r != NULL)
		*v_r = db_col_int64(s, 0);
	db_finalize(&s);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* 1: table has column, 0: not, -1: error. */
static int
store_column_has(struct store *st, const char *table, const char *column)
{
	if (db_kind(st->db) == DB_SQLITE)
		return store_query1(st, "SELECT 1 FROM pragma_table_info(?1) "
		    "WHERE name = ?2", table, column, NULL);
	return store_query1(st, "SELECT 1 FROM information_schema.columns "
	    "WHERE table_schema = current_schema() AND table_name = ?1 AND "
	    "column_name = ?2", table, column, NULL);
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
	/* SQLite: another process may have added it meanwhile. (On
	 * PostgreSQL this runs under the migration lock.) */
	if (db_exec(st->db, sql) == -1 && (db_kind(st->db) != DB_SQLITE ||
	    store_column_has(st, table, column) != 1))
		return db_fail(st, e, "adding column %s.%s", table, column);
	return 0;
}

/*
 * The schema version: SQLite keeps it in PRAGMA user_version (databases
 * from before PostgreSQL support migrate as they always did), PostgreSQL
 * in the one-row table schema_version.
 */
static int
store_version_get(struct store *st, int *v_r, struct err *e)
{
	int64_t v = 0;

	if (store_query1(st, db_kind(st->db) == DB_SQLITE ?
	    "PRAGMA user_version" : "SELECT version FROM schema_version",
	    NULL, NULL, &v) == -1)
		return db_fail(st, e, "reading schema version");
	if (v < 0 || v > INT_MAX)
		return err_set(e, ERR_LOCAL, "store: bad schema version %lld",
		    (long long)v);
	*v_r = (int)v;
	return 0;
}

static int
store_version_set(struct store *st, int v, struct err *e)
{
	char sql[64];
	int rc;

	if (db_kind(st->db) == DB_SQLITE)
		rc = snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
	else {
		if (store_exec(st, "DELETE FROM schema_version",
		    "setting schema version", e) == -1)
			return -1;
		rc = snprintf(sql, sizeof(sql), "INSERT INTO schema_version "
		    "(version) VALUES (%d)", v);
	}
	if (rc < 0 || (size_t)rc >= sizeof(sql))
		return err_set(e, ERR_INTERNAL, "store: schema version");
	return store_exec(st, sql, "setting schema version", e);
}

/* Run the migrations from version v on, inside the caller's transaction
 * when there is one (PostgreSQL), else each in its own. */
static int
store_migrate_from(struct store *st, int v, struct err *e)
{
	int n = (int)MP_ARRAY_LEN(migrations);

	if (v > n)
		return err_set(e, ERR_LOCAL, "store: database schema version "
		    "%d is newer than this mailpull knows (%d)", v, n);
	for (; v < n; v++)
		if (store_exec(st, migrations[v], "migrating schema",
		    e) == -1 || store_version_set(st, v + 1, e) == -1) {
			err_prefix(e, "migrating to version %d", v + 1);
			return -1;
		}
	return 0;
}

/* The tables of the extension files and their late columns. */
static int
store_ext_ensure(struct store *st, struct err *e)
{
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(store_ext_schemas); i++)
		if (store_exec(st, store_ext_schemas[i], "creating tables",
		    e) == -1)
			return -1;
	for (i = 0; i < MP_ARRAY_LEN(store_ext_columns); i++)
		if (store_column_ensure(st, store_ext_columns[i].table,
		    store_ext_columns[i].column, store_ext_columns[i].decl,
		    e) == -1)
			return -1;
	return 0;
}

/*
 * SQLite: the migration steps in one BEGIN IMMEDIATE transaction, decided
 * under the write lock since another process may be migrating; the rest
 * is idempotent DDL.
 */
static int
store_schema_sqlite(struct store *st, struct err *e)
{
	int v = 0, n = (int)MP_ARRAY_LEN(migrations);

	if (store_version_get(st, &v, e) == -1)
		goto fail;
	if (v < n) {
		/* Another process may be migrating: decide under the lock. */
		if (db_begin(st->db) == -1) {
			db_fail(st, e, "starting migration");
			goto fail;
		}
		if (store_version_get(st, &v, e) == -1 ||
		    store_migrate_from(st, v, e) == -1)
			goto fail;
		if (db_commit(st->db) == -1) {
			db_fail(st, e, "committing migration");
			goto fail;
		}
	} else if (v > n && store_migrate_from(st, v, e) == -1)
		goto fail;
	if (store_ext_ensure(st, e) == -1 ||
	    store_exec(st, sqlite_trigger, "creating trigger", e) == -1)
		return -1;
	return 0;
fail:
	(void)db_rollback(st->db);
	err_prefix(e, "%s/%s", st->dir, STORE_DB_FILE);
	return -1;
}

/*
 * PostgreSQL: everything in one transaction under an advisory lock, so two
 * nodes starting at once do not both migrate (the second waits, then
 * finds the work done). DDL is transactional there: a failure leaves the
 * schema as it was.
 */
static int
store_schema_pg(struct store *st, struct err *e)
{
	int v, rc;

	if (db_begin(st->db) == -1)
		return db_fail(st, e, "starting migration");
	if (store_query1(st, "SELECT pg_advisory_xact_lock("
	    STORE_PG_LOCK_KEY ")", NULL, NULL, NULL) == -1) {
		db_fail(st, e, "taking the migration lock");
		goto fail;
	}
	if (store_exec(st, "CREATE TABLE IF NOT EXISTS schema_version "
	    "(version INTEGER NOT NULL)", "creating tables", e) == -1 ||
	    store_version_get(st, &v, e) == -1 ||
	    store_migrate_from(st, v, e) == -1 ||
	    store_ext_ensure(st, e) == -1 ||
	    store_exec(st, "CREATE TABLE IF NOT EXISTS store_meta (key TEXT "
	    "PRIMARY KEY, value TEXT NOT NULL)", "creating tables", e) == -1)
		goto fail;
	if ((rc = store_query1(st, pg_trigger_has, NULL, NULL, NULL)) == -1) {
		db_fail(st, e, "looking for trigger");
		goto fail;
	}
	if (rc == 0 && (store_exec(st, pg_trigger_fn, "creating trigger",
	    e) == -1 || store_exec(st, pg_trigger, "creating trigger",
	    e) == -1))
		goto fail;
	if (db_commit(st->db) == -1) {
		db_fail(st, e, "committing migration");
		goto fail;
	}
	return 0;
fail:
	(void)db_rollback(st->db);
	return -1;
}

/*
 * PostgreSQL: the database holds a keyed hash made with the key of the
 * node that created it; a node with another key would write secrets no
 * other node can open, so it is refused.
 */
static int
store_key_check(struct store *st, struct err *e)
{
	static const char ins[] = "INSERT INTO store_meta (key, value) "
	    "VALUES ('key_check', ?1) ON CONFLICT (key) DO NOTHING";
	static const char sel[] = "SELECT value FROM store_meta "
	    "WHERE key = 'key_check'";
	unsigned char h[32];
	char hex[sizeof(h) * 2 + 1], *have = NULL, *src;
	struct db_stmt *s = NULL;
	int rc = -1;

	crypto_generichash(h, sizeof(h),
	    (const unsigned char *)STORE_KEY_CHECK_TEXT,
	    strlen(STORE_KEY_CHECK_TEXT), st->key, sizeof(st->key));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	/* The first node writes it; everyone then reads what won. */
	if (db_prepare(st->db, ins, &s) == -1 ||
	    db_bind_text(s, 1, hex) == -1 || stmt_exec(s) != DB_DONE) {
		db_fail(st, e, "recording the key check");
		goto out;
	}
	db_finalize(&s);
	if (db_prepare(st->db, sel, &s) == -1 || db_step(s) != DB_ROW) {
		db_fail(st, e, "reading the key check");
		goto out;
	}
	have = col_text(s, 0);
	if (have == NULL || strcmp(have, hex) != 0) {
		src = secret_key_source(st->dir);
		err_set(e, ERR_CONFIG, "store: this node's key (%s) does not "
		    "match the database's; copy the key file from the node "
		    "that created the database", src);
		free(src);
		goto out;
	}
	rc = 0;
out:
	db_finalize(&s);
	free(have);
	return rc;
}

static int
store_open_sqlite(struct store *st, struct err *e)
{
	char errbuf[512];
	char *path;
	int fd, rc = -1;

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
		goto out;
	}
	if (db_open_sqlite(&st->db, path, errbuf, sizeof(errbuf)) == -1) {
		err_set(e, ERR_LOCAL, "store: %s", errbuf);
		goto out;
	}
	rc = store_schema_sqlite(st, e);
out:
	free(path);
	return rc;
}

static int
store_open_pg(struct store *st, struct err *e)
{
	char errbuf[512];
	char *loc, *safe;
	int rc = 0;

	pthread_mutex_lock(&store_schema_mtx);
	loc = store_loc != NULL ? xstrdup(store_loc) : NULL;
	pthread_mutex_unlock(&store_schema_mtx);
	if (loc == NULL)
		return err_set(e, ERR_CONFIG, "store: no PostgreSQL location");
	safe = loc_redacted(loc);
	if (db_open_pg(&st->db, loc, errbuf, sizeof(errbuf)) == -1) {
		err_set(e, ERR_LOCAL, "store: %s: %s", safe, errbuf);
		rc = -1;
		goto out;
	}
	pthread_mutex_lock(&store_schema_mtx);
	if (!store_schema_done) {
		if ((rc = store_schema_pg(st, e)) == 0)
			store_schema_done = true;
	}
	pthread_mutex_unlock(&store_schema_mtx);
	if (rc == -1)
		err_prefix(e, "%s", safe);
	else
		rc = store_key_check(st, e);
out:
	sodium_memzero(loc, strlen(loc));
	free(loc);
	free(safe);
	return rc;
}

int
store_open(struct store **st_r, const char *state_dir, struct err *e)
{
	struct store *st;

	*st_r = NULL;
	if (state_dir == NULL || *state_dir == '\0')
		return err_set(e, ERR_CONFIG, "no state directory");
	if (mkdir_p(state_dir, e) == -1)
		return -1;
	st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(state_dir);
	if (secret_key_load(st->dir, st->key, e) == -1)
		goto fail;
	if ((store_loc_pg ? store_open_pg(st, e) :
	    store_open_sqlite(st, e)) == -1)
		goto fail;
	*st_r = st;
	return 0;
fail:
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
	if (st->db != NULL)
		(void)db_rollback(st->db);
	for (i = 0; i < STMT__COUNT; i++)
		db_finalize(&st->stmt[i]);
	for (i = 0; i < st->nxstmt; i++)
		db_finalize(&st->xstmt[i].s);
	db_close(&st->db);
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
acct_bind(struct store *st, struct db_stmt *s, const struct account *a,
    struct err *e)
{
	char *folders;
	int rc = 0;

	if ((folders = folders_join(a, e)) == NULL)
		return -1;
	rc |= db_bind_text(s, 1, a->id);
	rc |= db_bind_text(s, 2, account_proto_name(a->proto));
	rc |= db_bind_text(s, 3, a->host);
	rc |= db_bind_int64(s, 4, a->port);
	rc |= db_bind_text(s, 5, account_security_name(a->security));
	rc |= db_bind_int64(s, 6, a->verify);
	rc |= db_bind_text(s, 7, a->ca_file);
	rc |= db_bind_text(s, 8, a->user);
	rc |= db_bind_text(s, 9, a->deliver_to);
	rc |= db_bind_text(s, 10, a->target);
	rc |= db_bind_text(s, 11, account_policy_name(a->policy));
	rc |= db_bind_int64(s, 12, a->keep_days);
	rc |= db_bind_int64(s, 13, a->max_per_pass);
	rc |= db_bind_int64(s, 14, a->timeout);
	rc |= db_bind_int64(s, 15, a->enabled);
	rc |= db_bind_text(s, 16, *folders != '\0' ? folders : NULL);
	rc |= db_bind_int64(s, 17, a->only_unseen);
	rc |= db_bind_int64(s, 18, a->mark_seen);
	rc |= db_bind_int64(s, 19, a->created);
	rc |= db_bind_int64(s, 20, a->updated);
	free(folders);
	if (rc != 0)
		return db_fail(st, e, "binding account %s", a->id);
	return 0;
}

/* Fill *a from a row of ACCT_COLUMNS. */
static int
acct_row(struct store *st, struct db_stmt *s, struct account *a,
    struct err *e)
{
	char *proto, *sec, *pol, *folders;
	int rc = 0;

	account_init(a);
	a->id = col_text(s, 0);
	proto = col_text(s, 1);
	a->host = col_text(s, 2);
	a->port = (int)db_col_int64(s, 3);
	sec = col_text(s, 4);
	a->verify = db_col_int64(s, 5) != 0;
	a->ca_file = col_text(s, 6);
	a->user = col_text(s, 7);
	a->deliver_to = col_text(s, 8);
	a->target = col_text(s, 9);
	pol = col_text(s, 10);
	a->keep_days = (int)db_col_int64(s, 11);
	a->max_per_pass = (int)db_col_int64(s, 12);
	a->timeout = (int)db_col_int64(s, 13);
	a->enabled = db_col_int64(s, 14) != 0;
	folders = col_text(s, 15);
	a->only_unseen = db_col_int64(s, 16) != 0;
	a->mark_seen = db_col_int64(s, 17) != 0;
	a->has_password = db_col_int64(s, 18) != 0;
	a->created = db_col_int64(s, 19);
	a->updated = db_col_int64(s, 20);
	folders_split(a, folders);

	if (a->id == NULL)
		rc = err_set(e, ERR_LOCAL, "store: an account row has no id");
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
	struct db_stmt *s;
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
	if (rc == DB_ERROR && db_err_unique(st->db)) {
		stmt_done(s);
		return err_set(e, ERR_CONFIG, "account %s already exists",
		    a->id);
	}
	if (rc != DB_DONE) {
		db_fail(st, e, "adding account %s", a->id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
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
	struct db_stmt *s;
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
	if (rc != DB_DONE) {
		db_fail(st, e, "updating account %s", a->id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	if (db_changes(st->db) == 0)
		return no_such_account(e, a->id);
	return 0;
}

int
store_account_get(struct store *st, const char *id, struct account *a,
    struct err *e)
{
	struct db_stmt *s;
	int rc;

	account_init(a);
	if ((s = stmt_get(st, STMT_ACCT_GET, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, id) != 0) {
		db_fail(st, e, "reading account %s", id);
		stmt_done(s);
		return -1;
	}
	rc = db_step(s);
	if (rc == DB_DONE) {
		stmt_done(s);
		return no_such_account(e, id);
	}
	if (rc != DB_ROW) {
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
	struct db_stmt *s;
	struct account *list = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*list_r = NULL;
	*n_r = 0;
	if ((s = stmt_get(st, STMT_ACCT_LIST, e)) == NULL)
		return -1;
	while ((rc = db_step(s)) == DB_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			list = xreallocarray(list, cap, sizeof(*list));
		}
		if (acct_row(st, s, &list[n], e) == -1)
			goto fail;
		n++;
	}
	if (rc != DB_DONE) {
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
acct_write(struct store *st, struct db_stmt *s, const char *id,
    const char *what, struct err *e)
{
	int rc;

	rc = stmt_exec(s);
	if (rc != DB_DONE) {
		db_fail(st, e, "%s %s", what, id);
		stmt_done(s);
		return -1;
	}
	stmt_done(s);
	if (db_changes(st->db) == 0)
		return no_such_account(e, id);
	return 0;
}

static int
store_account_delete_tx(struct store *st, const char *id, struct err *e)
{
	struct db_stmt *s;

	if ((s = stmt_get(st, STMT_ACCT_DELETE, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, id) != 0) {
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
	struct db_stmt *s;

	if ((s = stmt_get(st, STMT_ACCT_ENABLE, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, id) != 0 ||
	    db_bind_int64(s, 2, enabled) != 0 ||
	    db_bind_int64(s, 3, store_now()) != 0) {
		stmt_done(s);
		return db_fail(st, e, "updating account %s", id);
	}
	return acct_write(st, s, id, "updating account", e);
}

static int
store_password_set_tx(struct store *st, const char *id, const char *pw,
    size_t len, struct err *e)
{
	struct db_stmt *s;
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
	if (db_bind_text(s, 1, id) != 0 ||
	    (blob != NULL ? db_bind_blob(s, 2, blob, blen) :
	    db_bind_null(s, 2)) != 0 ||
	    db_bind_int64(s, 3, store_now()) != 0) {
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
	struct db_stmt *s;
	const unsigned char *blob;
	size_t blen;
	int rc;

	*pw_r = NULL;
	*len_r = 0;
	if ((s = stmt_get(st, STMT_PW_GET, e)) == NULL)
		return -1;
	if (db_bind_text(s, 1, id) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading password of %s", id);
	}
	rc = db_step(s);
	if (rc == DB_DONE) {
		stmt_done(s);
		return no_such_account(e, id);
	}
	if (rc != DB_ROW) {
		db_fail(st, e, "reading password of %s", id);
		stmt_done(s);
		return -1;
	}
	if (db_col_null(s, 0)) {
		stmt_done(s);
		return err_set(e, ERR_CONFIG, "no password stored for %s", id);
	}
	blob = db_col_blob(s, 0, &blen);
	rc = secret_open(st->key, blob, blob != NULL ? blen : 0, pw_r, len_r,
	    e);
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
msg_bind_key(struct db_stmt *s, const char *acct, const char *folder,
    uint64_t uidvalidity)
{
	int rc = 0;

	rc |= db_bind_text(s, 1, acct);
	rc |= db_bind_text(s, 2, folder != NULL ? folder : "");
	/* UIDVALIDITY is 32 bits in practice; a uint64 round-trips through
	 * int64 by the casts either way. */
	rc |= db_bind_int64(s, 3, (int64_t)uidvalidity);
	return rc;
}


static int
msg_load(struct store *st, enum stmt_id id, const char *acct,
    const char *folder, uint64_t uidvalidity, struct msg_rec **recs_r,
    size_t *n_r, struct err *e)
{
	struct db_stmt *s;
	struct msg_rec *recs = NULL, *r;
	size_t n = 0, cap = 0;
	int rc;

	*recs_r = NULL;
	*n_r = 0;
	if ((s = stmt_get(st, id, e)) == NULL)
		return -1;
	if (msg_bind_key(s, acct, folder, uidvalidity) != 0) {
		stmt_done(s);
		return db_fail(st, e, "loading journal of %s", acct);
	}
	while ((rc = db_step(s)) == DB_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			recs = xreallocarray(recs, cap, sizeof(*recs));
		}
		r = &recs[n++];
		r->uid = col_text(s, 0);
		if (r->uid == NULL)
			r->uid = xstrdup("");
		r->state = (enum msg_state)(int)db_col_int64(s, 1);
		r->size = (uint64_t)db_col_int64(s, 2);
		r->first_seen = db_col_int64(s, 3);
		r->delivered_at = db_col_int64(s, 4);
		r->msgid = id == STMT_MSG_LOAD_OTHER ? col_text(s, 5) : NULL;
	}
	if (rc != DB_DONE) {
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
	struct db_stmt *s;

	if ((s = stmt_get(st, STMT_MSG_SET_MSGID, e)) == NULL)
		return -1;
	if ((msg_bind_key(s, acct, folder, uidvalidity) |
	    db_bind_text(s, 4, uid) | db_bind_text(s, 5, msgid)) != 0) {
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
	if (db_in_tx(st->db))
		return err_set(e, ERR_INTERNAL, "store: transaction already "
		    "open");
	if (db_begin(st->db) == -1)
		return db_fail(st, e, "starting a transaction");
	return 0;
}

/*
 * Durable on success (SQLite synchronous=FULL; PostgreSQL's COMMIT). A
 * failed commit fails: SQLite may keep the transaction open then (BUSY),
 * and the caller rolls back.
 */
int
store_commit(struct store *st, struct err *e)
{
	if (!db_in_tx(st->db))
		return err_set(e, ERR_INTERNAL, "store: commit without begin");
	if (db_commit(st->db) == -1)
		return db_fail(st, e, "committing");
	return 0;
}

int
store_rollback(struct store *st)
{
	return db_rollback(st->db);
}

/* Run a write statement; when no store_begin() is open it commits on its
 * own (autocommit). */
int
write_done(struct store *st, struct db_stmt *s, struct err *e,
    const char *what, const char *acct)
{
	int rc;

	rc = stmt_exec(s);
	if (rc != DB_DONE) {
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
	struct db_stmt *s;
	int rc;
	int64_t t = store_now();

	if (state != MSG_DELIVERED && state != MSG_FAILED)
		return err_set(e, ERR_INTERNAL, "store: invalid message state "
		    "%d", (int)state);
	if ((s = stmt_get(st, STMT_MSG_SET, e)) == NULL)
		return -1;
	rc = msg_bind_key(s, acct, folder, uidvalidity);
	rc |= db_bind_text(s, 4, uid);
	rc |= db_bind_int64(s, 5, (int)state);
	rc |= db_bind_int64(s, 6, (int64_t)size);
	rc |= db_bind_int64(s, 7, first_seen != 0 ? first_seen : t);
	rc |= db_bind_int64(s, 8, t);
	rc |= db_bind_text(s, 9, msgid);
	if (rc != 0) {
		stmt_done(s);
		return db_fail(st, e, "recording message (account %s)", acct);
	}
	return write_done(st, s, e, "recording message", acct);
}

int
store_msg_forget(struct store *st, const char *acct, const char *folder,
    uint64_t uidvalidity, const char *uid, struct err *e)
{
	struct db_stmt *s;

	if ((s = stmt_get(st, STMT_MSG_FORGET, e)) == NULL)
		return -1;
	if ((msg_bind_key(s, acct, folder, uidvalidity) |
	    db_bind_text(s, 4, uid)) != 0) {
		stmt_done(s);
		return db_fail(st, e, "forgetting message (account %s)", acct);
	}
	return write_done(st, s, e, "forgetting message", acct);
}

int
store_msg_forget_other_validity(struct store *st, const char *acct,
    const char *folder, uint64_t uidvalidity, struct err *e)
{
	struct db_stmt *s;

	if ((s = stmt_get(st, STMT_MSG_FORGET_OTHER, e)) == NULL)
		return -1;
	if (msg_bind_key(s, acct, folder, uidvalidity) != 0) {
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
	struct db_stmt *s;
	int rc;

	*uidvalidity_r = 0;
	if ((s = stmt_get(st, STMT_FOLDER_GET, e)) == NULL)
		return -1;
	if ((db_bind_text(s, 1, acct) | db_bind_text(s, 2, folder)) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading folder (account %s)", acct);
	}
	rc = db_step(s);
	if (rc == DB_ROW)
		*uidvalidity_r = (uint64_t)db_col_int64(s, 0);
	else if (rc != DB_DONE) {
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
	struct db_stmt *s;

	if ((s = stmt_get(st, STMT_FOLDER_SET, e)) == NULL)
		return -1;
	if (msg_bind_key(s, acct, folder, uidvalidity) != 0) {
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
	struct db_stmt *s;
	bool own_tx = !db_in_tx(st->db);
	int rc;

	/* Insert and trim together, in the caller's transaction or ours. */
	if (own_tx && store_begin(st, e) == -1)
		return -1;
	if ((s = stmt_get(st, STMT_RUN_ADD, e)) == NULL)
		goto fail;
	rc = db_bind_text(s, 1, acct);
	rc |= db_bind_int64(s, 2, run->started);
	rc |= db_bind_int64(s, 3, run->finished);
	rc |= db_bind_text(s, 4, err_class_name(run->cls));
	rc |= db_bind_text(s, 5, run->summary);
	rc |= db_bind_text(s, 6, run->log);
	if (rc != 0) {
		stmt_done(s);
		db_fail(st, e, "adding run log (account %s)", acct);
		goto fail;
	}
	if (write_done(st, s, e, "adding run log", acct) == -1)
		goto fail;
	if ((s = stmt_get(st, STMT_RUN_TRIM, e)) == NULL)
		goto fail;
	if ((db_bind_text(s, 1, acct) |
	    db_bind_int64(s, 2, STORE_RUNS_KEPT)) != 0) {
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
	struct db_stmt *s;
	struct run_rec *runs = NULL, *r;
	size_t n = 0, cap = 0;
	char *cls;
	int rc;

	*runs_r = NULL;
	*n_r = 0;
	if ((s = stmt_get(st, STMT_RUN_LIST, e)) == NULL)
		return -1;
	if ((db_bind_text(s, 1, acct) | db_bind_int64(s, 2,
	    max > INT64_MAX ? INT64_MAX : (int64_t)max)) != 0) {
		stmt_done(s);
		return db_fail(st, e, "reading run logs (account %s)", acct);
	}
	while ((rc = db_step(s)) == DB_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			runs = xreallocarray(runs, cap, sizeof(*runs));
		}
		r = &runs[n++];
		r->started = db_col_int64(s, 0);
		r->finished = db_col_int64(s, 1);
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
	if (rc != DB_DONE) {
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

/* The lease setting, in seconds. */
static int
lease_seconds(struct store *st)
{
	char *v = NULL;
	const char *errstr = NULL;
	long long n = LEASE_DEFAULT_S;

	if (store_setting_get(st, "lease", &v, NULL) == 0 && v != NULL) {
		n = strnum_duration(v, LEASE_MIN_S, 3600, &errstr);
		if (errstr != NULL)
			n = LEASE_DEFAULT_S;
	}
	free(v);
	return (int)n;
}

/* store_lock on a shared store: the account's lease (lease.h). */
static int
store_lease_lock(struct store *st, const char *acct, bool wait,
    struct err *e)
{
	int64_t token = 0;
	bool claimed = false;
	int r;

	while ((r = lease_lock(st, acct, lease_seconds(st), &token, &claimed,
	    e)) == 0 && wait) {
		err_clear(e);
		sleep(1);
	}
	if (r != 1)
		return r;
	st->locks = xreallocarray(st->locks, st->nlocks + 1,
	    sizeof(*st->locks));
	st->locks[st->nlocks].acct = xstrdup(acct);
	st->locks[st->nlocks].fd = -1;
	st->locks[st->nlocks].token = token;
	st->locks[st->nlocks].claimed = claimed;
	st->nlocks++;
	return 1;
}

int
store_lock_check(struct store *st, const char *acct, struct err *e)
{
	size_t i;

	for (i = 0; i < st->nlocks; i++) {
		if (strcmp(st->locks[i].acct, acct) != 0)
			continue;
		if (st->locks[i].fd != -1)
			return 1;	/* a file lock cannot be lost */
		return lease_check(st, acct, st->locks[i].token,
		    lease_seconds(st), e);
	}
	return err_set(e, ERR_INTERNAL, "store: %s is not locked", acct);
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
	if (db_kind(st->db) == DB_PG)
		return store_lease_lock(st, acct, wait, e);

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
		if (st->locks[i].fd != -1)
			close(st->locks[i].fd);
		else if (st->locks[i].claimed) {
			struct err e = { 0 };

			if (lease_unlock(st, acct, st->locks[i].token,
			    &e) == -1) {
				/* It expires by itself. */
				log_warnx("%s", err_msg(&e));
				err_clear(&e);
			}
		}
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
