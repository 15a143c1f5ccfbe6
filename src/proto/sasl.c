/*
 * sasl.c - XOAUTH2 and OAUTHBEARER client responses (sasl.h).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "proto/sasl.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static bool
user_ok(const char *u)
{
	const unsigned char *p;

	if (u == NULL || u[0] == '\0' || strlen(u) > SASL_USER_MAX)
		return false;
	for (p = (const unsigned char *)u; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" /
 * "~" / "+" / "/" ) *"=" */
static bool
token_ok(const char *t)
{
	const char *p;

	if (t == NULL || t[0] == '\0' || strlen(t) > SASL_TOKEN_MAX)
		return false;
	for (p = t; *p != '\0' && *p != '='; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~+/", *p) != NULL))
			return false;
	if (p == t)
		return false;
	for (; *p == '='; p++)
		;
	return *p == '\0';
}

static int
finish(struct buf *b, char **out_r, size_t *len_r)
{
	*len_r = b->len;
	*out_r = buf_detach(b);
	return 0;
}

static int
fail(struct buf *b)
{
	if (b->data != NULL)
		sodium_memzero(b->data, b->len);
	buf_free(b);
	return -1;
}

int
sasl_xoauth2_build(const char *user, const char *token, char **out_r,
    size_t *len_r)
{
	struct buf b;

	*out_r = NULL;
	*len_r = 0;
	if (!user_ok(user) || !token_ok(token))
		return -1;
	buf_init(&b, SASL_USER_MAX + SASL_TOKEN_MAX + 64);
	if (buf_adds(&b, "user=") == -1 || buf_adds(&b, user) == -1 ||
	    buf_adds(&b, "\001auth=Bearer ") == -1 ||
	    buf_adds(&b, token) == -1 || buf_add(&b, "\001\001", 2) == -1)
		return fail(&b);
	return finish(&b, out_r, len_r);
}

int
sasl_oauthbearer_build(const char *user, const char *host, int port,
    const char *token, char **out_r, size_t *len_r)
{
	struct buf b;
	const char *p;
	char num[16];

	*out_r = NULL;
	*len_r = 0;
	if (!user_ok(user) || !token_ok(token) || port < 0 || port > 65535 ||
	    (host != NULL && (!user_ok(host) || strchr(host, ',') != NULL)))
		return -1;
	buf_init(&b, 3 * SASL_USER_MAX + SASL_TOKEN_MAX + 2 * SASL_USER_MAX);
	if (buf_adds(&b, "n,a=") == -1)
		return fail(&b);
	/* RFC 5801 saslname: "," and "=" are escaped. */
	for (p = user; *p != '\0'; p++) {
		const char *s = *p == ',' ? "=2C" : *p == '=' ? "=3D" : NULL;

		if ((s != NULL ? buf_adds(&b, s) : buf_add(&b, p, 1)) == -1)
			return fail(&b);
	}
	if (buf_add(&b, ",\001", 2) == -1)
		return fail(&b);
	if (host != NULL && (buf_adds(&b, "host=") == -1 ||
	    buf_adds(&b, host) == -1 || buf_add(&b, "\001", 1) == -1))
		return fail(&b);
	if (port > 0) {
		(void)snprintf(num, sizeof(num), "port=%d\001", port);
		if (buf_adds(&b, num) == -1)
			return fail(&b);
	}
	if (buf_adds(&b, "auth=Bearer ") == -1 || buf_adds(&b, token) == -1 ||
	    buf_add(&b, "\001\001", 2) == -1)
		return fail(&b);
	return finish(&b, out_r, len_r);
}

char *
sasl_b64(const void *in, size_t len)
{
	size_t cap = sodium_base64_encoded_len(len,
	    sodium_base64_VARIANT_ORIGINAL);
	char *o = xmalloc(cap);

	sodium_bin2base64(o, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	return o;
}

static void
member(json_t *o, const char *name, char *dst, size_t cap)
{
	json_t *v = json_object_get(o, name);
	const char *s;
	size_t i, n = 0;

	dst[0] = '\0';
	if (v == NULL)
		return;
	if (json_is_integer(v)) {
		(void)snprintf(dst, cap, "%lld", (long long)json_integer_value(v));
		return;
	}
	if (!json_is_string(v))
		return;
	s = json_string_value(v);
	/* Hostile text: printable ASCII only, bounded. */
	for (i = 0; s[i] != '\0' && n + 1 < cap; i++)
		dst[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[n] = '\0';
}

int
sasl_oauth_error_parse(const char *b64, size_t len,
    struct sasl_oauth_error *er)
{
	unsigned char *raw;
	size_t rawlen = 0;
	json_t *o;
	json_error_t je;

	memset(er, 0, sizeof(*er));
	if (len > (SASL_ERROR_MAX + 2) / 3 * 4 || len == 0)
		return -1;
	raw = xmalloc(len);
	if (sodium_base642bin(raw, len, b64, len, NULL, &rawlen, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || rawlen == 0) {
		free(raw);
		return -1;
	}
	o = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, &je);
	free(raw);
	if (o == NULL)
		return -1;
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	member(o, "status", er->status, sizeof(er->status));
	member(o, "scope", er->scope, sizeof(er->scope));
	member(o, "schemes", er->schemes, sizeof(er->schemes));
	member(o, "openid-configuration", er->openid_config,
	    sizeof(er->openid_config));
	json_decref(o);
	return 0;
}

void
sasl_wipe_free(char **p, size_t len)
{
	if (*p == NULL)
		return;
	sodium_memzero(*p, len);
	free(*p);
	*p = NULL;
}
