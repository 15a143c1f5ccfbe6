/*
 * account_oauth.c - the OAuth2 options of `account add|edit`, the token
 * state in `account show|list`, and the sealed provider client secrets
 * (account_oauth.h).
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/account_oauth.h"
#include "cli/cli.h"
#include "oauth/oauth.h"
#include "store/oauth.h"
#include "store/store.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define CLIENT_SECRET_MAX 4096

static struct oauth_acct cur;
static char *secret;		/* a new per-account client secret */
static size_t secret_len;

void
account_oauth_load(struct store *st, const char *id, bool add)
{
	struct err e = { 0 };

	oauth_acct_clear(&cur);
	if (!add && store_oauth_get(st, id, &cur, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		exit(1);
	}
}

static void
set(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL && v[0] != '\0' ? xstrdup(v) : NULL;
}

/* The first line of a file, at most CLIENT_SECRET_MAX bytes (sodium
 * memory, wiped on free). Usage error when missing or empty. */
static char *
secret_read_file(const char *path, size_t *len_r)
{
	char *s = sodium_malloc(CLIENT_SECRET_MAX + 2);
	size_t len = 0;
	ssize_t n;
	int fd;

	if (s == NULL)
		fatalx("out of memory");
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		usage_error(NULL, "%s: %s", path, strerror(errno));
	while (len < CLIENT_SECRET_MAX + 1) {
		n = read(fd, s + len, CLIENT_SECRET_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			usage_error(NULL, "%s: %s", path, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(s, '\n', len) != NULL)
			break;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	s[len] = '\0';
	len = strcspn(s, "\r\n");
	if (len > CLIENT_SECRET_MAX)
		usage_error(NULL, "the client secret in %s is longer than %d "
		    "bytes", path, CLIENT_SECRET_MAX);
	s[len] = '\0';
	if (len == 0 || memchr(s, '\0', len) != NULL)
		usage_error(NULL, "no client secret in %s", path);
	*len_r = len;
	return s;
}

void
account_oauth_opt(int c, const char *arg)
{
	switch (c) {
	case OPT_AUTH:
		cli_account_field("auth", "auth", arg);
		cur.oauth2 = strcmp(arg, "oauth2") == 0;
		break;
	case OPT_OAUTH2_PROVIDER:
		cli_account_field("oauth2-provider", "oauth2_provider", arg);
		set(&cur.provider, arg);
		break;
	case OPT_OAUTH2_TENANT:
		if (arg[0] != '\0')
			cli_account_field("oauth2-tenant", "oauth2_tenant",
			    arg);
		set(&cur.tenant, arg);
		break;
	case OPT_OAUTH2_AUTH_URL:
	case OPT_OAUTH2_TOKEN_URL:
	case OPT_OAUTH2_DEVICE_URL:
		cli_account_field(c == OPT_OAUTH2_AUTH_URL ?
		    "oauth2-auth-url" : c == OPT_OAUTH2_TOKEN_URL ?
		    "oauth2-token-url" : "oauth2-device-url", "oauth2_auth_url",
		    arg);
		set(c == OPT_OAUTH2_AUTH_URL ? &cur.auth_url :
		    c == OPT_OAUTH2_TOKEN_URL ? &cur.token_url :
		    &cur.device_url, arg);
		break;
	case OPT_OAUTH2_CLIENT_ID:
		if (arg[0] != '\0')
			cli_account_field("oauth2-client-id",
			    "oauth2_client_id", arg);
		set(&cur.client_id, arg);
		break;
	case OPT_OAUTH2_CLIENT_SECRET_FILE:
		if (secret != NULL)
			sodium_free(secret);
		secret = secret_read_file(arg, &secret_len);
		break;
	case OPT_OAUTH2_SCOPE:
		if (arg[0] != '\0')
			cli_account_field("oauth2-scope", "oauth2_scope", arg);
		set(&cur.scope, arg);
		break;
	case OPT_OAUTH2_MECH: {
		enum oauth_mech m;

		cli_account_field("oauth2-mechanism", "oauth2_mechanism",
		    arg);
		(void)oauth_mech_parse(arg, &m);
		set(&cur.mech, m == OAUTH_MECH_AUTO ? NULL :
		    m == OAUTH_MECH_XOAUTH2 ? "xoauth2" : "oauthbearer");
		break;
	}
	default:
		break;
	}
}

bool
account_oauth_password_needed(void)
{
	return !cur.oauth2;
}

int
account_oauth_check(const char *id, struct err *e)
{
	if (!cur.oauth2)
		return 0;
	if (cur.provider == NULL)
		return err_set(e, ERR_CONFIG, "--auth oauth2 needs "
		    "--oauth2-provider google|microsoft|custom");
	if (strcmp(cur.provider, "custom") == 0 && (cur.token_url == NULL ||
	    (cur.auth_url == NULL && cur.device_url == NULL)))
		return err_set(e, ERR_CONFIG, "--oauth2-provider custom needs "
		    "--oauth2-token-url and --oauth2-auth-url (or "
		    "--oauth2-device-url)");
	if (cur.tenant != NULL && strcmp(cur.provider, "microsoft") != 0)
		return err_set(e, ERR_CONFIG, "--oauth2-tenant is for "
		    "--oauth2-provider microsoft");
	return 0;
}

int
account_oauth_save(struct store *st, const char *id, struct err *e)
{
	int rc = 0;

	/* A password account without any OAuth2 row stays without one. */
	if (cur.oauth2 || cur.provider != NULL)
		rc = store_oauth_set(st, id, &cur, e);
	if (rc == 0 && secret != NULL)
		rc = store_oauth_client_secret_set(st, id, secret, secret_len,
		    e);
	if (secret != NULL)
		sodium_free(secret);
	secret = NULL;
	if (rc == 0 && cur.oauth2 && cur.state != OAUTH_TS_AUTHORIZED)
		fprintf(stderr, "mailpull: %s: authorize it with 'mailpull "
		    "account authorize %s'\n", id, id);
	oauth_acct_clear(&cur);
	return rc;
}

static const char *
state_text(const struct oauth_acct *o, char *buf, size_t cap)
{
	if (o->state == OAUTH_TS_NEEDED)
		(void)snprintf(buf, cap, "authorization needed: %s",
		    o->reason != NULL ? o->reason : "?");
	else
		(void)snprintf(buf, cap, "%s", oauth_tstate_name(o->state));
	return buf;
}

void
account_oauth_show(struct store *st, const struct account *a, FILE *f)
{
	struct oauth_acct o;
	struct oauth_profile p;
	struct err e = { 0 };
	char buf[600], tb[64];

	if (store_oauth_get(st, a->id, &o, NULL) == -1)
		return;
	if (!o.oauth2) {
		oauth_acct_clear(&o);
		fprintf(f, "auth:         password\n");
		return;
	}
	fprintf(f, "auth:         oauth2 (%s%s%s)\n", o.provider,
	    o.tenant != NULL ? ", tenant " : "", o.tenant != NULL ?
	    o.tenant : "");
	if (oauth_profile_load(st, a->id, &o, &p, &e) == 0) {
		fprintf(f, "oauth2-auth-url: %s\n", p.auth_url != NULL ?
		    p.auth_url : "-");
		fprintf(f, "oauth2-token-url: %s\n", p.token_url);
		if (p.device_url != NULL)
			fprintf(f, "oauth2-device-url: %s\n", p.device_url);
		fprintf(f, "oauth2-client-id: %s%s\n", p.client_id,
		    o.client_id == NULL ? " (from config)" : "");
		fprintf(f, "oauth2-client-secret: %s\n",
		    p.client_secret != NULL ? "set (encrypted)" : "none");
		fprintf(f, "oauth2-scope: %s\n", p.scope != NULL ? p.scope :
		    "-");
		fprintf(f, "oauth2-mechanism: %s\n", oauth_mech_name(p.mech));
		oauth_profile_clear(&p);
	} else
		fprintf(f, "oauth2:       incomplete: %s\n", err_msg(&e));
	err_clear(&e);
	fprintf(f, "token:        %s\n", state_text(&o, buf, sizeof(buf)));
	if (o.state == OAUTH_TS_AUTHORIZED) {
		if (o.authorized_at != 0)
			fprintf(f, "authorized:   %s\n", fmt_time(o.authorized_at,
			    tb, sizeof(tb)));
		if (o.has_access)
			fprintf(f, "token expiry: %s\n", fmt_time(o.expires_at,
			    tb, sizeof(tb)));
	}
	oauth_acct_clear(&o);
}

void
account_oauth_json(struct store *st, const struct account *a, FILE *f)
{
	struct oauth_acct o;
	char buf[600];

	if (store_oauth_get(st, a->id, &o, NULL) == -1)
		return;
	fputs(", \"auth\": ", f);
	json_str(f, o.oauth2 ? "oauth2" : "password");
	if (o.oauth2) {
		fputs(", \"oauth2_provider\": ", f);
		json_str(f, o.provider);
		fputs(", \"oauth2_token_state\": ", f);
		json_str(f, o.state == OAUTH_TS_AUTHORIZED ? "authorized" :
		    o.state == OAUTH_TS_NEEDED ? "needed" : "none");
		fputs(", \"oauth2_token\": ", f);
		json_str(f, state_text(&o, buf, sizeof(buf)));
		printf(", \"oauth2_expires_at\": %lld",
		    (long long)o.expires_at);
	}
	oauth_acct_clear(&o);
}

const char *
account_oauth_status(struct store *st, const struct account *a,
    const char *dflt)
{
	struct oauth_acct o;
	const char *r = dflt;

	if (store_oauth_get(st, a->id, &o, NULL) == -1)
		return dflt;
	if (o.oauth2 && o.state == OAUTH_TS_NEEDED)
		r = "auth needed";
	else if (o.oauth2 && o.state == OAUTH_TS_NONE)
		r = "unauthorized";
	oauth_acct_clear(&o);
	return r;
}

/* ---- config keys ---- */

/* "oauth2.PROVIDER.client-secret[-file]": the provider, else NULL. */
static char *
secret_key_provider(const char *key, bool *file_r)
{
	const char *p, *dot;
	char *prov;

	if (strncmp(key, "oauth2.", 7) != 0)
		return NULL;
	p = key + 7;
	if ((dot = strchr(p, '.')) == NULL)
		return NULL;
	if (strcmp(dot + 1, "client-secret") == 0)
		*file_r = false;
	else if (strcmp(dot + 1, "client-secret-file") == 0)
		*file_r = true;
	else
		return NULL;
	prov = xstrndup(p, (size_t)(dot - p));
	if (oauth_builtin_find(prov) == NULL) {
		free(prov);
		return NULL;
	}
	return prov;
}

bool
account_oauth_config_key(const char *key)
{
	bool file = false;
	char *p = secret_key_provider(key, &file);

	free(p);
	return p != NULL;
}

int
account_oauth_config(int argc, char **argv)
{
	struct store *st;
	struct err e = { 0 };
	char *prov, *s = NULL;
	size_t len = 0;
	bool file = false;
	int rc = 1;

	prov = secret_key_provider(argv[2], &file);
	if (strcmp(argv[1], "set") == 0) {
		if (argc != 4)
			usage_error("config", "usage: mailpull config set %s %s",
			    argv[2], file ? "FILE" : "- (read from standard "
			    "input)");
		if (!file && strcmp(argv[3], "-") != 0)
			usage_error("config", "%s: give the secret on standard "
			    "input ('-') or use %s-file FILE, so it is not "
			    "on a command line", argv[2], argv[2]);
		s = secret_read_file(argv[3], &len);
		st = cli_open_store();
		if (store_oauth_provider_secret_set(st, prov, s, len,
		    &e) == 0) {
			printf("oauth2.%s.client-secret set (encrypted)\n",
			    prov);
			rc = 0;
		}
		sodium_free(s);
	} else if (strcmp(argv[1], "unset") == 0 && argc == 3) {
		st = cli_open_store();
		if (store_oauth_provider_secret_set(st, prov, NULL, 0,
		    &e) == 0) {
			printf("oauth2.%s.client-secret unset\n", prov);
			rc = 0;
		}
	} else if (strcmp(argv[1], "get") == 0 && argc == 3) {
		st = cli_open_store();
		if (store_oauth_provider_secret_get(st, prov, &s, &len,
		    &e) == 0) {
			printf("%s\n", s != NULL ? "(set, encrypted)" :
			    "(unset)");
			if (s != NULL)
				store_secret_free(&s, len);
			rc = 0;
		}
	} else
		usage_error("config", "usage: mailpull config set|get|unset "
		    "%s", argv[2]);
	if (rc != 0)
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
	free(prov);
	err_clear(&e);
	store_close(&st);
	return rc;
}
