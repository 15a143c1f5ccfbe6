/*
 * db_pg.c - the PostgreSQL backend of db.h (libpq).
 *
 * The only file that includes libpq-fe.h; libpq itself is loaded at the
 * first db_open_pg() (util/dl.h), so only PostgreSQL users map it.
 *
 * SQL: the store's dialect (db.h) is rewritten once, at prepare or exec
 * time, outside string literals, quoted identifiers, dollar quotes and
 * comments: ?N and bare ? become $N; COLLATE BINARY becomes COLLATE "C";
 * the SQLite type names become PostgreSQL's (INTEGER PRIMARY KEY
 * [AUTOINCREMENT] -> an identity column, INTEGER -> BIGINT, BLOB -> BYTEA).
 * The type names are rewritten in prepared statements too, so that
 * CAST(? AS INTEGER) means 64 bits on both backends.
 *
 * Execution: a statement is not sent at prepare; the first db_step() runs
 * it and fetches the whole result in text format; later steps walk its
 * rows. Parameters carry the type of their bind (int8 as decimal text,
 * text, bytea in binary, NULL untyped). bytea results are decoded with
 * PQunescapeBytea into a buffer the statement owns until the next step or
 * reset.
 *
 * The first execution of a (SQL, parameter types) pair goes out with
 * PQexecParams (one round trip: parse, bind, execute, unnamed). From the
 * second on it is a named server-side prepared statement (PQprepare once,
 * then PQexecPrepared): no parse and plan per execution, measured 1.6 to
 * 3 times less time per statement on loopback. The connection keeps up to
 * PG_CACHE_MAX of them, keyed by SQL and types, so a statement prepared
 * afresh in every call (prepare, step, finalize) profits too; the least
 * recently used one is deallocated when the cache is full. A reset
 * connection starts with an empty cache; DDL through db_exec() empties it
 * (DEALLOCATE ALL), since a prepared plan may not change its result type.
 *
 * Errors: the server's primary message and SQLSTATE; 23505 is a unique
 * violation, 23503 a foreign key violation. Connection errors never show
 * the password (it is masked wherever it appears in libpq's text).
 *
 * Connection: connect_timeout 10 s unless the conninfo says otherwise,
 * application_name mailpull, client_encoding UTF8, then
 * synchronous_commit on (a commit is durable on return: the no-loss
 * invariant), client_min_messages warning, standard_conforming_strings on
 * (the literal scanner below relies on it). A connection found broken
 * before a statement is reset once, outside a transaction only; the
 * statement that found it broken is never retried, since it may have run.
 */
#include "common.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "store/db.h"
#include "store/db_impl.h"
#include "util/buf.h"
#include "util/dl.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#define PG_MAX_PARAMS		32
#define PG_CACHE_MAX		128	/* server-side prepared statements */
#define PG_PREPARE_AFTER	2	/* executions before preparing */
#define PG_SQL_MAX		(256 * 1024)	/* one statement, rewritten */
#define PG_CONNECT_TIMEOUT	"10"
#define PG_MIN_VERSION		100000	/* identity columns: 10 */

/* Built-in type OIDs (server/catalog/pg_type.h; fixed forever). */
#define PG_BOOLOID	16
#define PG_BYTEAOID	17
#define PG_INT8OID	20
#define PG_TEXTOID	25

#define PG_SQLSTATE_UNIQUE	"23505"
#define PG_SQLSTATE_FOREIGN	"23503"

static const char pg_session_sql[] =
    "SET synchronous_commit = on; "
    "SET client_min_messages = warning; "
    "SET standard_conforming_strings = on";

/* A (SQL, types) pair seen on this connection; prepared on the server
 * after PG_PREPARE_AFTER executions. */
struct pg_cached {
	char *sql;		/* NULL: free slot */
	uint64_t hash;
	int nparams;
	Oid types[PG_MAX_PARAMS];
	unsigned uses;
	uint64_t last;		/* LRU tick */
	bool prepared;
	char name[24];
};

struct pg_db {
	struct db base;
	PGconn *conn;
	struct pg_cached cache[PG_CACHE_MAX];
	uint64_t tick;
	unsigned next_name;
};

struct pg_param {
	Oid type;		/* 0: NULL, the server infers a type */
	int format;		/* 0 text, 1 binary */
	int len;		/* binary only */
	char *val;		/* NULL for NULL; owned unless == num */
	char num[24];		/* an int64 in decimal */
};

struct pg_blob {
	unsigned char *p;	/* PQunescapeBytea's, PQfreemem'd */
	size_t len;
};

struct pg_stmt {
	struct db_stmt base;
	char *sql;		/* rewritten */
	int nparams;		/* highest $N in sql */
	struct pg_param params[PG_MAX_PARAMS];
	PGresult *res;		/* NULL before the first step */
	int row;		/* current row, -1 before the first */
	int nrows, nfields;
	struct pg_blob *blobs;	/* nfields, for the current row */
	int64_t changes;	/* for db_changes() at DB_DONE; -1: not DML */
};

/*
 * libpq is loaded when a PostgreSQL store is opened (util/dl.h): the
 * SQLite-only majority never maps it, nor the Kerberos, LDAP and GnuTLS
 * it links.
 */
DL_SYM(PQpass);
DL_SYM(PQerrorMessage);
DL_SYM(PQresultErrorField);
DL_SYM(PQresultErrorMessage);
DL_SYM(PQclear);
DL_SYM(PQexec);
DL_SYM(PQtransactionStatus);
DL_SYM(PQresultStatus);
DL_SYM(PQstatus);
DL_SYM(PQreset);
DL_SYM(PQputCopyEnd);
DL_SYM(PQgetCopyData);
DL_SYM(PQfreemem);
DL_SYM(PQgetResult);
DL_SYM(PQcmdStatus);
DL_SYM(PQcmdTuples);
DL_SYM(PQfinish);
DL_SYM(PQprepare);
DL_SYM(PQexecPrepared);
DL_SYM(PQexecParams);
DL_SYM(PQntuples);
DL_SYM(PQnfields);
DL_SYM(PQgetisnull);
DL_SYM(PQgetvalue);
DL_SYM(PQftype);
DL_SYM(PQgetlength);
DL_SYM(PQunescapeBytea);
DL_SYM(PQconninfoParse);
DL_SYM(PQconninfoFree);
DL_SYM(PQconnectdbParams);
DL_SYM(PQsetNoticeProcessor);
DL_SYM(PQserverVersion);

static const struct dl_sym pq_syms[] = {
	DL_ARG(PQpass),
	DL_ARG(PQerrorMessage),
	DL_ARG(PQresultErrorField),
	DL_ARG(PQresultErrorMessage),
	DL_ARG(PQclear),
	DL_ARG(PQexec),
	DL_ARG(PQtransactionStatus),
	DL_ARG(PQresultStatus),
	DL_ARG(PQstatus),
	DL_ARG(PQreset),
	DL_ARG(PQputCopyEnd),
	DL_ARG(PQgetCopyData),
	DL_ARG(PQfreemem),
	DL_ARG(PQgetResult),
	DL_ARG(PQcmdStatus),
	DL_ARG(PQcmdTuples),
	DL_ARG(PQfinish),
	DL_ARG(PQprepare),
	DL_ARG(PQexecPrepared),
	DL_ARG(PQexecParams),
	DL_ARG(PQntuples),
	DL_ARG(PQnfields),
	DL_ARG(PQgetisnull),
	DL_ARG(PQgetvalue),
	DL_ARG(PQftype),
	DL_ARG(PQgetlength),
	DL_ARG(PQunescapeBytea),
	DL_ARG(PQconninfoParse),
	DL_ARG(PQconninfoFree),
	DL_ARG(PQconnectdbParams),
	DL_ARG(PQsetNoticeProcessor),
	DL_ARG(PQserverVersion),
};

static struct dl_lib pq_lib = {
	.soname = "libpq.so.5",
	.package = "libpq5",
	.syms = pq_syms,
	.nsyms = MP_ARRAY_LEN(pq_syms),
};

static PGconn *
conn_of(struct db *db)
{
	return ((struct pg_db *)db)->conn;
}

static struct pg_stmt *
pst(struct db_stmt *s)
{
	return (struct pg_stmt *)s;
}

/* ---- messages ----------------------------------------------------- */

/* Overwrite every occurrence of secret in msg with '*'. */
static void
mask(char *msg, const char *secret, size_t slen)
{
	char *p = msg;

	if (secret == NULL || slen == 0)
		return;
	while ((p = memmem(p, strlen(p), secret, slen)) != NULL) {
		memset(p, '*', slen);
		p += slen;
	}
}

/*
 * Mask the password as written in a conninfo: "password=VALUE" (key/value
 * form, or a URI query parameter) and the userinfo of a URI
 * (postgresql://user:VALUE@host). Raw text, before libpq decodes it.
 */
static void
mask_conninfo_password(char *msg, const char *ci)
{
	const char *p, *v, *e;
	size_t n;

	if (ci == NULL)
		return;
	for (p = ci; (p = strcasestr(p, "password")) != NULL; p += 8) {
		v = p + 8;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '=')
			continue;
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '\'')
			v++;
		for (e = v; *e != '\0' && *e != '&' && *e != ' ' &&
		    *e != '\t' && *e != '\''; e++)
			if (*e == '\\' && e[1] != '\0')
				e++;
		mask(msg, v, (size_t)(e - v));
	}
	if ((p = strstr(ci, "://")) != NULL) {
		p += 3;
		n = strcspn(p, "@/");
		if (p[n] == '@' && (v = memchr(p, ':', n)) != NULL)
			mask(msg, v + 1, (size_t)(p + n - (v + 1)));
	}
}

/* libpq's text into one line: newlines to spaces, no trailing blanks. */
static void
one_line(char *msg)
{
	size_t n;
	char *p;

	for (p = msg; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == ' ')
		msg[--n] = '\0';
}

/* Set the error from the connection's message (password masked). */
static int
pg_conn_fail(struct db *db, const char *what)
{
	PGconn *c = conn_of(db);
	const char *pw = sym_PQpass(c);

	db_seterr(db, "%s: %s", what, sym_PQerrorMessage(c));
	one_line(db->errmsg);
	if (pw != NULL)
		mask(db->errmsg, pw, strlen(pw));
	return -1;
}

/* Set the error from a failed result (NULL: out of memory or a lost
 * connection, the connection says which). */
static int
pg_fail(struct db *db, const PGresult *r)
{
	const char *msg = NULL, *state = NULL;

	if (r == NULL)
		return pg_conn_fail(db, "PostgreSQL");
	msg = sym_PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	state = sym_PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (msg == NULL || *msg == '\0')
		msg = sym_PQresultErrorMessage(r);
	if (msg == NULL || *msg == '\0')
		return pg_conn_fail(db, "PostgreSQL");
	if (state != NULL)
		db_seterr(db, "%s (SQLSTATE %s)", msg, state);
	else
		db_seterr(db, "%s", msg);
	one_line(db->errmsg);
	if (state != NULL) {
		db->err_unique = strcmp(state, PG_SQLSTATE_UNIQUE) == 0;
		db->err_foreign = strcmp(state, PG_SQLSTATE_FOREIGN) == 0;
	}
	return -1;
}

/* Server warnings (client_min_messages keeps notices out) to the log. */
static void
pg_notice(void *arg, const char *msg)
{
	size_t n = strlen(msg);

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	log_warnx("postgresql: %.*s", (int)MP_MIN(n, 1024), msg);
}

/* ---- SQL rewriting ------------------------------------------------ */

struct rw {
	const char *s;
	size_t n;
	struct buf out;
	bool params;		/* rewrite ? (prepare), or leave it (exec) */
	int maxparam;
};

static bool
word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static bool
space_char(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	    c == '\v';
}

/* s[i, j) is the word kw, case-insensitively. */
static bool
word_is(const struct rw *w, size_t i, size_t j, const char *kw)
{
	size_t n = strlen(kw);

	return j - i == n && strncasecmp(w->s + i, kw, n) == 0;
}

/* The word after blanks from *pos: true and its bounds, or false. */
static bool
next_word(const struct rw *w, size_t pos, size_t *i_r, size_t *j_r)
{
	size_t i = pos, j;

	while (i < w->n && space_char((unsigned char)w->s[i]))
		i++;
	if (i == pos || i >= w->n || !word_char((unsigned char)w->s[i]))
		return false;
	for (j = i; j < w->n && word_char((unsigned char)w->s[j]); j++)
		;
	*i_r = i;
	*j_r = j;
	return true;
}

/* The end of a quoted run starting at i (s[i] == q); a doubled quote
 * stays inside; backslash escapes only in E'' strings. Unterminated: n. */
static size_t
quoted_end(const struct rw *w, size_t i, char q, bool backslash)
{
	for (i++; i < w->n; i++) {
		if (backslash && w->s[i] == '\\') {
			if (i + 1 < w->n)
				i++;
			continue;
		}
		if (w->s[i] == q) {
			if (i + 1 < w->n && w->s[i + 1] == q) {
				i++;
				continue;
			}
			return i + 1;
		}
	}
	return w->n;
}

/* A dollar-quoted string at i ($$...$$ or $tag$...$tag$): its end, or 0
 * when s[i] does not open one ($1 is a parameter, not a quote). */
static size_t
dollar_end(const struct rw *w, size_t i)
{
	size_t j = i + 1, tag;
	const char *e;

	if (j < w->n && w->s[j] >= '0' && w->s[j] <= '9')
		return 0;
	while (j < w->n && w->s[j] != '$' && word_char((unsigned char)w->s[j]))
		j++;
	if (j >= w->n || w->s[j] != '$')
		return 0;
	tag = j + 1 - i;	/* "$tag$" */
	e = memmem(w->s + j + 1, w->n - (j + 1), w->s + i, tag);
	if (e == NULL)
		return w->n;
	return (size_t)(e - w->s) + tag;
}

/* The end of a comment at i ("--" or PostgreSQL's nesting block
 * comment), or 0 when none starts there. */
static size_t
comment_end(const struct rw *w, size_t i)
{
	int depth = 0;

	if (i + 1 >= w->n)
		return 0;
	if (w->s[i] == '-' && w->s[i + 1] == '-') {
		while (i < w->n && w->s[i] != '\n')
			i++;
		return i;
	}
	if (w->s[i] != '/' || w->s[i + 1] != '*')
		return 0;
	while (i < w->n) {
		if (i + 1 < w->n && w->s[i] == '/' && w->s[i + 1] == '*') {
			depth++;
			i += 2;
		} else if (i + 1 < w->n && w->s[i] == '*' &&
		    w->s[i + 1] == '/') {
			i += 2;
			if (--depth == 0)
				return i;
		} else
			i++;
	}
	return w->n;
}

/* ?N or bare ? at i; writes $N. Returns the end or 0 on error (errstr). */
static size_t
rw_param(struct rw *w, size_t i, const char **errstr)
{
	size_t j = i + 1;
	int v = 0;

	if (j < w->n && w->s[j] >= '0' && w->s[j] <= '9') {
		for (; j < w->n && w->s[j] >= '0' && w->s[j] <= '9'; j++) {
			v = v * 10 + (w->s[j] - '0');
			if (v > PG_MAX_PARAMS) {
				*errstr = "parameter number too large";
				return 0;
			}
		}
		if (v == 0) {
			*errstr = "parameter ?0";
			return 0;
		}
	} else {
		/* SQLite: one more than the largest number so far. */
		v = w->maxparam + 1;
		if (v > PG_MAX_PARAMS) {
			*errstr = "too many parameters";
			return 0;
		}
	}
	if (v > w->maxparam)
		w->maxparam = v;
	if (buf_printf(&w->out, "$%d", v) == -1) {
		*errstr = "statement too long";
		return 0;
	}
	return j;
}

/* A word at s[i, j): the keyword rewrites. Returns where to go on. */
static size_t
rw_word(struct rw *w, size_t i, size_t j, int *rc)
{
	size_t a, b, c, d;
	const char *rep = NULL;
	size_t end = j;

	if (word_is(w, i, j, "INTEGER")) {
		rep = "BIGINT";
		if (next_word(w, j, &a, &b) && word_is(w, a, b, "PRIMARY") &&
		    next_word(w, b, &c, &d) && word_is(w, c, d, "KEY")) {
			rep = "BIGINT GENERATED BY DEFAULT AS IDENTITY "
			    "PRIMARY KEY";
			end = d;
			if (next_word(w, d, &a, &b) &&
			    word_is(w, a, b, "AUTOINCREMENT"))
				end = b;
		}
	} else if (word_is(w, i, j, "BLOB"))
		rep = "BYTEA";
	else if (word_is(w, i, j, "COLLATE") && next_word(w, j, &a, &b) &&
	    word_is(w, a, b, "BINARY")) {
		rep = "COLLATE \"C\"";
		end = b;
	}
	if (rep != NULL)
		*rc |= buf_adds(&w->out, rep);
	else
		*rc |= buf_add(&w->out, w->s + i, j - i);
	return end;
}

/*
 * Rewrite sql into PostgreSQL's dialect (see the top). params: rewrite ?
 * into $N and count them (prepare); exec leaves ? alone. Returns 0 and an
 * allocated string, or -1 with the error set.
 */
static int
pg_rewrite(struct db *db, const char *sql, bool params, char **out_r,
    int *nparams_r)
{
	struct rw w;
	const char *errstr = NULL;
	size_t i = 0, j;
	int rc = 0;

	*out_r = NULL;
	memset(&w, 0, sizeof(w));
	w.s = sql;
	w.n = strlen(sql);
	w.params = params;
	if (w.n > PG_SQL_MAX) {
		db_seterr(db, "statement too long (%zu bytes)", w.n);
		return -1;
	}
	buf_init(&w.out, PG_SQL_MAX);
	while (i < w.n && rc == 0) {
		unsigned char ch = (unsigned char)sql[i];

		j = 0;
		if (ch == '\'' || ch == '"')
			j = quoted_end(&w, i, (char)ch, false);
		else if (ch == '$')
			j = dollar_end(&w, i);
		else if (ch == '-' || ch == '/')
			j = comment_end(&w, i);
		if (j > 0) {
			rc |= buf_add(&w.out, sql + i, j - i);
			i = j;
			continue;
		}
		if (ch == '?' && w.params) {
			if ((j = rw_param(&w, i, &errstr)) == 0)
				break;
			i = j;
			continue;
		}
		if (word_char(ch)) {
			for (j = i; j < w.n && word_char((unsigned char)sql[j]);
			    j++)
				;
			/* E'...' takes backslash escapes. */
			if (j - i == 1 && (ch == 'E' || ch == 'e') && j < w.n &&
			    sql[j] == '\'') {
				j = quoted_end(&w, j, '\'', true);
				rc |= buf_add(&w.out, sql + i, j - i);
				i = j;
				continue;
			}
			i = rw_word(&w, i, j, &rc);
			continue;
		}
		rc |= buf_add(&w.out, sql + i, 1);
		i++;
	}
	if (errstr == NULL && rc != 0)
		errstr = "statement too long";
	if (errstr != NULL) {
		db_seterr(db, "%s in: %.200s", errstr, sql);
		buf_free(&w.out);
		return -1;
	}
	if (buf_add(&w.out, "", 0) == -1) {
		db_seterr(db, "statement too long");
		buf_free(&w.out);
		return -1;
	}
	*out_r = buf_detach(&w.out);
	if (nparams_r != NULL)
		*nparams_r = w.maxparam;
	buf_free(&w.out);
	return 0;
}

/* ---- prepared statement cache ------------------------------------ */

static uint64_t
cache_hash(const char *sql, const Oid *types, int n)
{
	const unsigned char *p;
	uint64_t h = 14695981039346656037ULL;	/* FNV-1a */
	size_t i;

	for (p = (const unsigned char *)sql; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	p = (const unsigned char *)types;
	for (i = 0; i < (size_t)n * sizeof(*types); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

static void
cache_drop(struct pg_cached *e)
{
	free(e->sql);
	memset(e, 0, sizeof(*e));
}

/* Forget every entry: the server has (a new connection) or is told to. */
static void
cache_clear(struct pg_db *pd, bool deallocate)
{
	bool any = false;
	int i;

	for (i = 0; i < PG_CACHE_MAX; i++) {
		any |= pd->cache[i].prepared;
		cache_drop(&pd->cache[i]);
	}
	if (any && deallocate)
		sym_PQclear(sym_PQexec(pd->conn, "DEALLOCATE ALL"));
}

/*
 * The entry for (sql, types): found, or new in a free slot or in place of
 * the least recently used. A prepared one is deallocated only outside a
 * transaction (a failing DEALLOCATE must not abort the caller's); NULL
 * when no slot can be had now.
 */
static struct pg_cached *
cache_get(struct pg_db *pd, const char *sql, const Oid *types, int n)
{
	struct pg_cached *e, *lru = NULL, *lru_unprep = NULL, *slot = NULL;
	uint64_t h = cache_hash(sql, types, n);
	char q[64];
	int i;

	for (i = 0; i < PG_CACHE_MAX; i++) {
		e = &pd->cache[i];
		if (e->sql == NULL) {
			if (slot == NULL)
				slot = e;
			continue;
		}
		if (e->hash == h && e->nparams == n &&
		    memcmp(e->types, types, (size_t)n * sizeof(*types)) == 0 &&
		    strcmp(e->sql, sql) == 0) {
			e->last = ++pd->tick;
			return e;
		}
		if (lru == NULL || e->last < lru->last)
			lru = e;
		if (!e->prepared && (lru_unprep == NULL ||
		    e->last < lru_unprep->last))
			lru_unprep = e;
	}
	if (slot == NULL) {
		if (lru->prepared &&
		    sym_PQtransactionStatus(pd->conn) != PQTRANS_IDLE)
			lru = lru_unprep;
		if (lru == NULL)
			return NULL;
		if (lru->prepared) {
			(void)snprintf(q, sizeof(q), "DEALLOCATE %s",
			    lru->name);
			sym_PQclear(sym_PQexec(pd->conn, q));
		}
		cache_drop(lru);
		slot = lru;
	}
	slot->sql = xstrdup(sql);
	slot->hash = h;
	slot->nparams = n;
	memcpy(slot->types, types, (size_t)n * sizeof(*types));
	slot->last = ++pd->tick;
	return slot;
}

/* ---- connection --------------------------------------------------- */

static int
pg_session(struct db *db)
{
	PGresult *r;
	int rc = 0;

	r = sym_PQexec(conn_of(db), pg_session_sql);
	if (r == NULL || sym_PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = pg_fail(db, r);
	sym_PQclear(r);
	return rc;
}

/*
 * Before a statement: a connection libpq found broken (the server
 * restarted, a network drop) is reset once, unless a transaction was open
 * on it - that transaction is gone, and the caller must see it fail.
 */
static int
pg_ready(struct db *db)
{
	PGconn *c = conn_of(db);

	if (sym_PQstatus(c) == CONNECTION_OK)
		return 0;
	if (db->in_tx) {
		db_seterr(db, "connection to PostgreSQL lost inside a "
		    "transaction");
		return -1;
	}
	sym_PQreset(c);
	/* the server's prepared statements went with the old session */
	cache_clear((struct pg_db *)db, false);
	if (sym_PQstatus(c) != CONNECTION_OK)
		return pg_conn_fail(db, "reconnecting to PostgreSQL");
	if (pg_session(db) == -1)
		return -1;
	log_warnx("postgresql: connection reset after it broke");
	return 0;
}

/* Finish a COPY the server started (our SQL never asks for one), so the
 * connection stays usable. */
static void
pg_copy_abort(PGconn *c, PGresult *r)
{
	char *buf;
	PGresult *x;

	if (sym_PQresultStatus(r) == PGRES_COPY_IN)
		(void)sym_PQputCopyEnd(c, "COPY is not supported");
	else if (sym_PQresultStatus(r) == PGRES_COPY_OUT) {
		buf = NULL;
		while (sym_PQgetCopyData(c, &buf, 0) > 0) {
			sym_PQfreemem(buf);
			buf = NULL;
		}
	}
	while ((x = sym_PQgetResult(c)) != NULL)
		sym_PQclear(x);
}

/* A result that is not a success sets the error. */
static int
pg_check(struct db *db, PGresult *r)
{
	if (r == NULL)
		return pg_fail(db, NULL);
	switch (sym_PQresultStatus(r)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		return 0;
	case PGRES_COPY_IN:
	case PGRES_COPY_OUT:
	case PGRES_COPY_BOTH:
		pg_copy_abort(conn_of(db), r);
		db_seterr(db, "COPY is not supported");
		return -1;
	default:
		return pg_fail(db, r);
	}
}

/* Rows changed by an INSERT, UPDATE, DELETE or MERGE; -1 for others. */
static int64_t
pg_cmd_changes(PGresult *r)
{
	const char *tag = sym_PQcmdStatus(r), *n;
	const char *errstr;
	long long v;

	if (tag == NULL || (strncmp(tag, "INSERT ", 7) != 0 &&
	    strncmp(tag, "UPDATE ", 7) != 0 &&
	    strncmp(tag, "DELETE ", 7) != 0 &&
	    strncmp(tag, "MERGE ", 6) != 0))
		return -1;
	n = sym_PQcmdTuples(r);
	v = strnum(n, 0, INT64_MAX, &errstr);
	return errstr == NULL ? v : -1;
}

static bool
sql_is(const char *sql, const char *kw)
{
	size_t n = strlen(kw);

	while (space_char((unsigned char)*sql))
		sql++;
	if (strncasecmp(sql, kw, n) != 0)
		return false;
	for (sql += n; *sql != '\0'; sql++)
		if (!space_char((unsigned char)*sql) && *sql != ';')
			return false;
	return true;
}

/* sql starts with one of the words in kws (NULL-terminated). */
static bool
sql_starts(const char *sql, const char *const *kws)
{
	size_t n;

	while (space_char((unsigned char)*sql))
		sql++;
	for (; *kws != NULL; kws++) {
		n = strlen(*kws);
		if (strncasecmp(sql, *kws, n) == 0 &&
		    !word_char((unsigned char)sql[n]))
			return true;
	}
	return false;
}

static void
pg_close(struct db *db)
{
	cache_clear((struct pg_db *)db, false);
	sym_PQfinish(conn_of(db));
	free(db);
}

static const char *const ddl_words[] = { "CREATE", "ALTER", "DROP",
	"DISCARD", "DEALLOCATE", NULL };

static int
pg_exec(struct db *db, const char *sql)
{
	PGconn *c = conn_of(db);
	PGresult *r;
	char *q;
	int64_t n;
	int rc;

	/* A transaction on a lost connection went with it. */
	if (sym_PQstatus(c) == CONNECTION_BAD && sql_is(sql, "ROLLBACK"))
		return 0;
	if (pg_ready(db) == -1)
		return -1;
	if (pg_rewrite(db, sql, false, &q, NULL) == -1)
		return -1;
	/* Without parameters PQexec runs several statements in one go. */
	r = sym_PQexec(c, q);
	free(q);
	if ((rc = pg_check(db, r)) == 0) {
		/* COMMIT of a transaction the server had aborted answers
		 * ROLLBACK, not an error. */
		if (sql_is(sql, "COMMIT") &&
		    strcmp(sym_PQcmdStatus(r), "ROLLBACK") == 0) {
			db_seterr(db, "transaction aborted by an earlier "
			    "error, rolled back");
			rc = -1;
		} else if ((n = pg_cmd_changes(r)) >= 0)
			db->changes = n;
		/* a prepared plan may not change its result type */
		if (sql_starts(sql, ddl_words))
			cache_clear((struct pg_db *)db, true);
	}
	sym_PQclear(r);
	return rc;
}

/* ---- statements --------------------------------------------------- */

static void
param_clear(struct pg_param *p)
{
	if (p->val != NULL && p->val != p->num)
		free(p->val);
	p->val = NULL;
	p->type = 0;
	p->format = 0;
	p->len = 0;
}

static void
blobs_free(struct pg_stmt *st)
{
	int i;

	if (st->blobs == NULL)
		return;
	for (i = 0; i < st->nfields; i++)
		if (st->blobs[i].p != NULL) {
			sym_PQfreemem(st->blobs[i].p);
			st->blobs[i].p = NULL;
			st->blobs[i].len = 0;
		}
}

static void
pg_reset(struct db_stmt *s)
{
	struct pg_stmt *st = pst(s);
	int i;

	blobs_free(st);
	free(st->blobs);
	st->blobs = NULL;
	sym_PQclear(st->res);
	st->res = NULL;
	st->row = -1;
	st->nrows = st->nfields = 0;
	st->changes = -1;
	for (i = 0; i < PG_MAX_PARAMS; i++)
		param_clear(&st->params[i]);
}

static int
pg_prepare(struct db *db, const char *sql, struct db_stmt **s_r)
{
	struct pg_stmt *st;
	char *q;
	int n;

	/* Nothing goes to the server yet: errors in the SQL show at the
	 * first step. */
	if (pg_rewrite(db, sql, true, &q, &n) == -1)
		return -1;
	st = xcalloc(1, sizeof(*st));
	st->base.db = db;
	st->sql = q;
	st->nparams = n;
	st->row = -1;
	st->changes = -1;
	*s_r = &st->base;
	return 0;
}

static void
pg_finalize(struct db_stmt *s)
{
	struct pg_stmt *st = pst(s);

	pg_reset(s);
	free(st->sql);
	free(st);
}

/* The parameter i for a new value, or NULL with the error set. */
static struct pg_param *
pg_param(struct db_stmt *s, int i)
{
	struct pg_stmt *st = pst(s);

	if (st->res != NULL) {
		db_seterr(s->db, "bind on a statement already stepped "
		    "(reset it first)");
		return NULL;
	}
	if (i < 1 || i > st->nparams) {
		db_seterr(s->db, "bind index %d out of range (the statement "
		    "has %d parameters)", i, st->nparams);
		return NULL;
	}
	param_clear(&st->params[i - 1]);
	return &st->params[i - 1];
}

static int
pg_bind_int64(struct db_stmt *s, int i, int64_t v)
{
	struct pg_param *p;

	if ((p = pg_param(s, i)) == NULL)
		return -1;
	(void)snprintf(p->num, sizeof(p->num), "%lld", (long long)v);
	p->val = p->num;
	p->type = PG_INT8OID;
	return 0;
}

static int
pg_bind_text(struct db_stmt *s, int i, const char *v)
{
	struct pg_param *p;

	if (strlen(v) > INT_MAX) {
		db_seterr(s->db, "text parameter %d too long", i);
		return -1;
	}
	if ((p = pg_param(s, i)) == NULL)
		return -1;
	p->val = xstrdup(v);
	p->type = PG_TEXTOID;
	return 0;
}

static int
pg_bind_blob(struct db_stmt *s, int i, const void *v, size_t len)
{
	struct pg_param *p;

	if (len > INT_MAX) {
		db_seterr(s->db, "blob parameter %d too long", i);
		return -1;
	}
	if ((p = pg_param(s, i)) == NULL)
		return -1;
	/* An empty blob is a value, not NULL: val must not be NULL. */
	p->val = xmalloc(len > 0 ? len : 1);
	if (len > 0)
		memcpy(p->val, v, len);
	p->len = (int)len;
	p->format = 1;
	p->type = PG_BYTEAOID;
	return 0;
}

static int
pg_bind_null(struct db_stmt *s, int i)
{
	return pg_param(s, i) == NULL ? -1 : 0;
}

/* Send the statement with its parameters and keep the whole result. */
static int
pg_run(struct pg_stmt *st)
{
	struct db *db = st->base.db;
	struct pg_db *pd = (struct pg_db *)db;
	PGconn *c = conn_of(db);
	Oid types[PG_MAX_PARAMS];
	const char *vals[PG_MAX_PARAMS], *state;
	int lens[PG_MAX_PARAMS], fmts[PG_MAX_PARAMS];
	struct pg_cached *e;
	PGresult *r;
	int i, n = st->nparams;

	if (pg_ready(db) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		types[i] = st->params[i].type;
		vals[i] = st->params[i].val;
		lens[i] = st->params[i].len;
		fmts[i] = st->params[i].format;
	}
	e = cache_get(pd, st->sql, types, n);
	if (e != NULL && !e->prepared && ++e->uses >= PG_PREPARE_AFTER &&
	    sym_PQtransactionStatus(c) != PQTRANS_INERROR) {
		(void)snprintf(e->name, sizeof(e->name), "mailpull_%u",
		    ++pd->next_name);
		r = sym_PQprepare(c, e->name, st->sql, n, types);
		if (pg_check(db, r) == -1) {
			sym_PQclear(r);
			return -1;
		}
		sym_PQclear(r);
		e->prepared = true;
	}
	if (e != NULL && e->prepared)
		r = sym_PQexecPrepared(c, e->name, n, vals, lens, fmts, 0);
	else
		r = sym_PQexecParams(c, st->sql, n, types, vals, lens, fmts, 0);
	if (pg_check(db, r) == -1) {
		/* Our prepared statements are gone (DISCARD ALL, a pooler)
		 * or a plan changed its result type: start over. */
		state = r != NULL ? sym_PQresultErrorField(r, PG_DIAG_SQLSTATE) :
		    NULL;
		if (state != NULL && (strcmp(state, "26000") == 0 ||
		    strcmp(state, "0A000") == 0))
			cache_clear(pd, false);
		sym_PQclear(r);
		return -1;
	}
	st->res = r;
	st->row = -1;
	st->changes = pg_cmd_changes(r);
	if (sym_PQresultStatus(r) == PGRES_TUPLES_OK) {
		st->nrows = sym_PQntuples(r);
		st->nfields = sym_PQnfields(r);
		if (st->nfields > 0)
			st->blobs = xcalloc((size_t)st->nfields,
			    sizeof(*st->blobs));
	}
	return 0;
}

static int
pg_step(struct db_stmt *s)
{
	struct pg_stmt *st = pst(s);

	blobs_free(st);
	/* After an error the next step runs the statement again. */
	if (st->res == NULL && pg_run(st) == -1)
		return DB_ERROR;
	if (st->row < st->nrows)
		st->row++;
	if (st->row < st->nrows)
		return DB_ROW;
	if (st->changes >= 0) {
		s->db->changes = st->changes;
		st->changes = -1;
	}
	return DB_DONE;
}

/* The current row's column i as text, or NULL when there is no current
 * row, no such column, or SQL NULL. Bounds from libpq only. */
static const char *
pg_value(struct pg_stmt *st, int i)
{
	if (st->res == NULL || st->row < 0 || st->row >= st->nrows ||
	    i < 0 || i >= st->nfields)
		return NULL;
	if (sym_PQgetisnull(st->res, st->row, i))
		return NULL;
	return sym_PQgetvalue(st->res, st->row, i);
}

static bool
pg_col_null(struct db_stmt *s, int i)
{
	return pg_value(pst(s), i) == NULL;
}

static int64_t
pg_col_int64(struct db_stmt *s, int i)
{
	struct pg_stmt *st = pst(s);
	const char *v, *errstr, *dot;
	long long n;

	if ((v = pg_value(st, i)) == NULL)
		return 0;
	if (sym_PQftype(st->res, i) == PG_BOOLOID)
		return v[0] == 't';
	n = strnum(v, INT64_MIN, INT64_MAX, &errstr);
	if (errstr == NULL)
		return n;
	/* numeric (SUM, AVG) with a fraction: toward zero, as SQLite. */
	if ((dot = strchr(v, '.')) != NULL) {
		n = strnum_n(v, (size_t)(dot - v), INT64_MIN, INT64_MAX,
		    &errstr);
		if (errstr == NULL)
			return n;
	}
	if (errstr != NULL && strcmp(errstr, "too large") == 0)
		return INT64_MAX;
	if (errstr != NULL && strcmp(errstr, "too small") == 0)
		return INT64_MIN;
	return 0;
}

static const char *
pg_col_text(struct db_stmt *s, int i)
{
	return pg_value(pst(s), i);
}

static const void *
pg_col_blob(struct db_stmt *s, int i, size_t *len_r)
{
	struct pg_stmt *st = pst(s);
	struct pg_blob *b;
	const char *v;

	*len_r = 0;
	if ((v = pg_value(st, i)) == NULL)
		return NULL;
	/* Not bytea (text read as bytes): the value as it is. */
	if (sym_PQftype(st->res, i) != PG_BYTEAOID) {
		*len_r = (size_t)sym_PQgetlength(st->res, st->row, i);
		return v;
	}
	b = &st->blobs[i];
	if (b->p == NULL) {
		b->p = sym_PQunescapeBytea((const unsigned char *)v, &b->len);
		if (b->p == NULL)
			fatalx("%s: out of memory", __func__);
	}
	*len_r = b->len;
	return b->p;
}

static const struct db_ops pg_ops = {
	.close = pg_close,
	.exec = pg_exec,
	.prepare = pg_prepare,
	.finalize = pg_finalize,
	.bind_int64 = pg_bind_int64,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.bind_null = pg_bind_null,
	.step = pg_step,
	.reset = pg_reset,
	.col_null = pg_col_null,
	.col_int64 = pg_col_int64,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
};

int
db_open_pg(struct db **db_r, const char *conninfo, char *errbuf,
    size_t errlen)
{
	/* Entries before dbname are defaults the conninfo may override;
	 * entries after it are not (PQconnectdbParams, expand_dbname). */
	static const char *const kw[] = { "connect_timeout",
	    "application_name", "dbname", "client_encoding", NULL };
	const char *val[] = { PG_CONNECT_TIMEOUT, MAILPULL_NAME, conninfo,
	    "UTF8", NULL };
	PQconninfoOption *opts;
	struct pg_db *pd;
	char *perr = NULL, msg[DB_ERRMSG_MAX];
	const char *pw;
	struct err e = { 0 };
	PGconn *c;
	int v;

	*db_r = NULL;
	if (dl_load(&pq_lib, "a PostgreSQL store", &e) == -1) {
		(void)snprintf(errbuf, errlen, "%s", err_msg(&e));
		err_clear(&e);
		return -1;
	}
	/* A string libpq cannot parse: its message may quote any part of
	 * it, so show it only when no password can be in there. */
	if ((opts = sym_PQconninfoParse(conninfo, &perr)) == NULL) {
		if (perr != NULL && strcasestr(conninfo, "password") == NULL &&
		    strchr(conninfo, '@') == NULL) {
			(void)snprintf(msg, sizeof(msg), "%s", perr);
			one_line(msg);
			(void)snprintf(errbuf, errlen, "PostgreSQL: invalid "
			    "connection string: %s", msg);
		} else
			(void)snprintf(errbuf, errlen, "PostgreSQL: invalid "
			    "connection string (not shown: it may hold a "
			    "password)");
		sym_PQfreemem(perr);
		return -1;
	}
	sym_PQconninfoFree(opts);

	c = sym_PQconnectdbParams(kw, val, 1);
	if (c == NULL)
		fatalx("%s: out of memory", __func__);
	if (sym_PQstatus(c) != CONNECTION_OK) {
		(void)snprintf(msg, sizeof(msg), "%s", sym_PQerrorMessage(c));
		one_line(msg);
		if ((pw = sym_PQpass(c)) != NULL)
			mask(msg, pw, strlen(pw));
		mask_conninfo_password(msg, conninfo);
		(void)snprintf(errbuf, errlen, "PostgreSQL: %s", msg);
		sym_PQfinish(c);
		return -1;
	}
	sym_PQsetNoticeProcessor(c, pg_notice, NULL);
	if ((v = sym_PQserverVersion(c)) < PG_MIN_VERSION) {
		(void)snprintf(errbuf, errlen, "PostgreSQL %d.%d is too old "
		    "(10 or newer needed)", v / 10000, v % 10000);
		sym_PQfinish(c);
		return -1;
	}

	pd = xcalloc(1, sizeof(*pd));
	pd->base.ops = &pg_ops;
	pd->base.kind = DB_PG;
	pd->conn = c;
	if (pg_session(&pd->base) == -1) {
		(void)snprintf(errbuf, errlen, "PostgreSQL: setting up the "
		    "session: %s", pd->base.errmsg);
		pg_close(&pd->base);
		return -1;
	}
	*db_r = &pd->base;
	return 0;
}
