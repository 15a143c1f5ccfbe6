/*
 * users.h - admin users of the web UI and API, their sessions, and the
 * login audit that throttles failed logins.
 *
 * Users: name, role (admin | domain-admin | user), domains (comma list,
 * domain admins), address (users), and an Argon2id password hash
 * (libsodium crypto_pwhash_str). Passwords never leave this module in any
 * form but the hash.
 *
 * Sessions live in the store, so they survive a restart and work from any
 * node sharing it. Only a hash of the session id is stored; the id itself
 * is handed to the client once. Each session has its own CSRF token.
 *
 * Functions return 0 on success and -1 with err set (ERR_LOCAL for store
 * failures, ERR_CONFIG for "no such user" / "already exists" / bad input),
 * unless documented otherwise.
 */
#ifndef MP_USERS_H
#define MP_USERS_H

#include "common.h"
#include "store/store.h"
#include "util/err.h"

enum user_role { ROLE_ADMIN = 0, ROLE_DOMAIN_ADMIN = 1, ROLE_USER = 2 };

#define USER_NAME_MAX		64
#define USER_PASSWORD_MAX	1024
/* Session id and CSRF token: 32 random bytes, hex. */
#define USER_TOKEN_LEN		64

struct user {
	char *name;
	enum user_role role;
	char *domains;		/* comma list, lower case; NULL: none */
	char *address;		/* lower case; NULL: none */
	int64_t created;
};

void user_clear(struct user *);
const char *user_role_name(enum user_role);
int user_role_parse(const char *, enum user_role *);
/* Validate a user name ([A-Za-z0-9._@-], 1..USER_NAME_MAX): NULL when
 * good, else why. */
const char *user_name_check(const char *);
/* Canonicalise a comma list of domains (lower case, no spaces, each a
 * domain name): allocated, or NULL with *why. */
char *user_domains_canon(const char *, const char **why);
/* An address name@domain, lower case: allocated, or NULL with *why. */
char *user_address_canon(const char *, const char **why);
/* Does the comma list `domains` contain domain (case-insensitive)? */
bool user_domain_in(const char *domains, const char *domain);

/* Add (ERR_CONFIG when the name exists). pw is hashed here. */
int store_user_add(struct store *, const struct user *, const char *pw,
    size_t len, struct err *);
int store_user_get(struct store *, const char *name, struct user *,
    struct err *);
int store_user_list(struct store *, struct user **list_r, size_t *n_r,
    struct err *);
void store_user_list_free(struct user **, size_t);
/* Delete the user and their sessions (ERR_CONFIG: no such user). */
int store_user_delete(struct store *, const char *name, struct err *);
/* New password; ends every session of the user. */
int store_user_passwd(struct store *, const char *name, const char *pw,
    size_t len, struct err *);
/* Number of users with role admin. */
int store_user_count_admins(struct store *, int *n_r, struct err *);
/*
 * Check a password: 1 and *u filled when it matches, 0 when the user does
 * not exist or the password is wrong (the same work is done either way),
 * -1 on a store error.
 */
int store_user_verify(struct store *, const char *name, const char *pw,
    size_t len, struct user *u, struct err *);

/*
 * Sessions. create: fills sid_r and csrf_r (USER_TOKEN_LEN + 1 bytes
 * each) for a new session of user lasting at most ttl seconds, idle at
 * most idle seconds. get: 1 and *u, csrf_r filled when sid names a live
 * session (its idle clock restarts), 0 when not, -1 on error.
 */
int store_session_create(struct store *, const char *user, int64_t ttl,
    int64_t idle, const char *addr, char *sid_r, char *csrf_r,
    struct err *);
int store_session_get(struct store *, const char *sid, struct user *u,
    char *csrf_r, struct err *);
int store_session_delete(struct store *, const char *sid, struct err *);

/*
 * Login audit: every attempt is recorded (and old entries pruned).
 * failures counts failed attempts since `since` for a user name (addr
 * NULL) or a client address (user NULL).
 */
int store_login_record(struct store *, const char *user, const char *addr,
    bool ok, const char *reason, struct err *);
int store_login_failures(struct store *, const char *user, const char *addr,
    int64_t since, int *n_r, struct err *);

#endif
