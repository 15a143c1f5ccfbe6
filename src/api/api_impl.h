/*
 * api_impl.h - internals of the admin HTTP server shared by its files:
 * api.c (server, sessions, login, routing, static UI, /metrics),
 * api_accounts.c (accounts, runs, roles), api_admin.c (settings, users).
 * Not for use outside src/api/.
 */
#ifndef MP_API_IMPL_H
#define MP_API_IMPL_H

#include "common.h"

#include <pthread.h>

#include <jansson.h>

#include "api/api.h"
#include "store/filters.h"
#include "store/oauth.h"
#include "store/routing.h"
#include "store/store.h"
#include "store/users.h"
#include "util/buf.h"

#define API_BODY_MAX		(64 * 1024)	/* request body bound */
#define API_JSON_DEPTH		8		/* nesting bound */
#define API_SESSION_TTL		(12 * 3600)	/* absolute session life */
#define API_SESSION_IDLE	(3600)		/* idle session life */
#define API_LOGIN_WINDOW	300		/* failed-login window (s) */
#define API_LOGIN_MAX_USER	5		/* failures per user/window */
#define API_LOGIN_MAX_ADDR	20		/* failures per address */
#define API_COOKIE		"mailpull_session"

#define API_STORE_POOL	4

struct api {
	struct MHD_Daemon *d;
	struct api_opts o;		/* strings owned (copies) */
	char *cert_pem;
	char *key_pem;
	bool tls;
	uint64_t n_requests;		/* atomics */
	uint64_t n_login_ok;
	uint64_t n_login_failed;
	uint64_t n_login_throttled;
	uint64_t n_status[6];		/* 1xx..5xx by first digit */
	/* Idle store connections, reused by the next requests (a
	 * PostgreSQL connection is a server process; SQLite's open reads
	 * the schema). */
	pthread_mutex_t pool_mu;
	struct store *pool[API_STORE_POOL];
	size_t npool;
};

/* One request, from the first callback to its completion. */
struct req {
	struct api *api;
	struct MHD_Connection *c;
	const char *method;
	struct buf body;
	bool too_big;
	struct store *st;
	char addr[64];			/* client address */
	bool secure;			/* TLS, or https at a trusted proxy */
	bool authed;
	struct user u;
	char sid[USER_TOKEN_LEN + 1];
	char csrf[USER_TOKEN_LEN + 1];
	json_t *in;			/* parsed body (object) or NULL */
	bool done;			/* a response was queued */
};

/* Responses (each queues exactly one; returns 0 for `return reply_*`). */
int reply_json(struct req *, unsigned status, json_t *);	/* steals */
int reply_error(struct req *, unsigned status, const char *msg,
    json_t *fields);						/* steals */
int reply_store_error(struct req *, const struct err *);
int reply_text(struct req *, unsigned status, const char *ctype,
    const void *data, size_t len);

/* Need the parsed JSON object body: 400 (and -1) when absent/bad. */
int req_body(struct req *);
/* Query argument or NULL. */
const char *req_arg(struct req *, const char *);
/* Request header field value or NULL. */
const char *req_header(struct req *, const char *name);

/* api_accounts.c: path is what follows "accounts" ("", "/ID", "/ID/x"). */
int api_accounts(struct req *, const char *path);
/* api_admin.c */
int api_settings(struct req *);
int api_users(struct req *, const char *path);

/* api_acct_opts.c: the options kept beside struct account (routing,
 * schedule, filters, OAuth2) and the daemon's status. */
struct acct_ext {
	struct routing rt;
	struct acct_filter flt;
	struct oauth_acct oa;
	int interval;			/* seconds, 0: the setting */
	bool idle;
	bool rt_set, flt_set, oa_set, sched_set;	/* given */
	const char *admin_only;		/* a field only admins may set */
};
/* The stored options of id, or defaults when id is NULL. */
int acct_ext_load(struct store *, const char *id, struct acct_ext *,
    struct err *);
void acct_ext_clear(struct acct_ext *);
/* 1 when k is one of these options (errors go to fields), else 0. */
int acct_ext_apply(struct acct_ext *, const char *k, json_t *v,
    json_t *fields);
/* The whole configuration: routing builds, OAuth2 profile complete. */
void acct_ext_check(struct store *, const struct account *,
    const struct acct_ext *, json_t *fields);
/* After the account is written: only what was given. */
int acct_ext_save(struct store *, const char *id, const struct acct_ext *,
    struct err *);
/* Add the options, the token state and serve's status to j. */
void acct_ext_json(struct store *, const struct account *, json_t *j);

/* api_groups.c: /api/v1/groups; path is what follows "groups". */
int api_groups(struct req *, const char *path);
/* Is every member (bare names qualified with local-domain) in one of
 * the domain admin's domains? */
bool groups_members_allowed(struct req *, char *const *members, size_t n);

/* api_oauth.c: the web authorization-code flow. authorize: POST
 * /api/accounts/ID/authorize for a loaded account the user may edit;
 * callback: GET /api/oauth/callback (no session: the state binds it);
 * reset: forget every pending authorization (api_stop). */
struct account;
int api_oauth_authorize(struct req *, const struct account *);
int api_oauth_callback(struct req *);
void api_oauth_reset(void);

/* Helpers for field errors. */
void field_err(json_t *fields, const char *field, const char *msg);

/* Embedded UI (generated ui_assets.c). */
struct ui_asset {
	const char *path;
	const char *ctype;
	const unsigned char *data;
	size_t len;
};
extern const struct ui_asset ui_assets[];
extern const size_t ui_assets_count;

#endif
