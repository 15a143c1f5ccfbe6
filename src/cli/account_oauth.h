/*
 * account_oauth.h - the OAuth2 options of `account add|edit` (--auth,
 * --oauth2-provider, --oauth2-tenant, --oauth2-auth-url,
 * --oauth2-token-url, --oauth2-device-url, --oauth2-client-id,
 * --oauth2-client-secret-file, --oauth2-scope, --oauth2-mechanism), the
 * token state in `account show|list`, the sealed provider secrets of
 * `config set oauth2.PROVIDER.client-secret[-file]`, and `account
 * authorize` (cli/authorize.c). Used by account.c like account_route.h.
 */
#ifndef MP_CLI_ACCOUNT_OAUTH_H
#define MP_CLI_ACCOUNT_OAUTH_H

#include "common.h"

#include <getopt.h>
#include <stdio.h>

#include "store/account.h"
#include "util/err.h"

struct store;

enum {
	OPT_OAUTH_FIRST = 1100,
	OPT_AUTH = OPT_OAUTH_FIRST,
	OPT_OAUTH2_PROVIDER,
	OPT_OAUTH2_TENANT,
	OPT_OAUTH2_AUTH_URL,
	OPT_OAUTH2_TOKEN_URL,
	OPT_OAUTH2_DEVICE_URL,
	OPT_OAUTH2_CLIENT_ID,
	OPT_OAUTH2_CLIENT_SECRET_FILE,
	OPT_OAUTH2_SCOPE,
	OPT_OAUTH2_MECH,
	OPT_OAUTH_LAST,
};

#define ACCOUNT_OAUTH_OPTIONS \
	{ "auth", required_argument, NULL, OPT_AUTH }, \
	{ "oauth2-provider", required_argument, NULL, OPT_OAUTH2_PROVIDER }, \
	{ "oauth2-tenant", required_argument, NULL, OPT_OAUTH2_TENANT }, \
	{ "oauth2-auth-url", required_argument, NULL, OPT_OAUTH2_AUTH_URL }, \
	{ "oauth2-token-url", required_argument, NULL, OPT_OAUTH2_TOKEN_URL }, \
	{ "oauth2-device-url", required_argument, NULL, \
	    OPT_OAUTH2_DEVICE_URL }, \
	{ "oauth2-client-id", required_argument, NULL, OPT_OAUTH2_CLIENT_ID }, \
	{ "oauth2-client-secret-file", required_argument, NULL, \
	    OPT_OAUTH2_CLIENT_SECRET_FILE }, \
	{ "oauth2-scope", required_argument, NULL, OPT_OAUTH2_SCOPE }, \
	{ "oauth2-mechanism", required_argument, NULL, OPT_OAUTH2_MECH }

#define ACCOUNT_OAUTH_OPT(c) ((c) >= OPT_OAUTH_FIRST && (c) < OPT_OAUTH_LAST)

#define ACCOUNT_OAUTH_USAGE \
"         [--auth password|oauth2 --oauth2-provider google|microsoft|custom\n" \
"         [--oauth2-tenant T] [--oauth2-auth-url U] [--oauth2-token-url U]\n" \
"         [--oauth2-device-url U] [--oauth2-client-id ID]\n" \
"         [--oauth2-client-secret-file F] [--oauth2-scope S]\n" \
"         [--oauth2-mechanism auto|xoauth2|oauthbearer]]\n"

/* Before parsing: the stored settings of id (edit) or defaults (add). */
void account_oauth_load(struct store *, const char *id, bool add);
/* One option; usage errors exit 2. */
void account_oauth_opt(int c, const char *arg);
/* After parsing: false for an OAuth2 account (no password needed). */
bool account_oauth_password_needed(void);
/* After parsing, before the account is written: a complete profile. */
int account_oauth_check(const char *id, struct err *);
/* After the account is written. */
int account_oauth_save(struct store *, const char *id, struct err *);
/* `account show` lines and `account list --json` members (", ..."). */
void account_oauth_show(struct store *, const struct account *, FILE *);
void account_oauth_json(struct store *, const struct account *, FILE *);
/* The STATUS column of `account list`: "auth needed" for an OAuth2
 * account whose authorization must be renewed, else dflt. */
const char *account_oauth_status(struct store *, const struct account *,
    const char *dflt);

/* `config set|get|unset oauth2.PROVIDER.client-secret[-file] ...`: the
 * secret is sealed in the store, never echoed. */
bool account_oauth_config_key(const char *key);
int account_oauth_config(int argc, char **argv);

/* `account authorize ID [--device] [--no-browser] [--timeout S]`. */
int cmd_account_authorize(int argc, char **argv);

#endif
