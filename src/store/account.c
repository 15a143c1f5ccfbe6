#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "store/account.h"
#include "util/xmalloc.h"

static const char *const proto_names[] = {
	[ACCT_POP3] = "pop3",
	[ACCT_IMAP] = "imap",
};

static const char *const security_names[] = {
	[SEC_TLS] = "tls",
	[SEC_STARTTLS] = "starttls",
	[SEC_NONE] = "none",
};

static const char *const policy_names[] = {
	[POLICY_DELETE] = "delete",
	[POLICY_KEEP] = "keep",
	[POLICY_KEEP_DAYS] = "keep-days",
};

void
account_init(struct account *a)
{
	memset(a, 0, sizeof(*a));
	a->proto = ACCT_POP3;
	a->security = SEC_TLS;
	a->verify = true;
	a->policy = POLICY_DELETE;
	a->keep_days = 0;
	a->max_per_pass = 0;
	a->timeout = 30;
	a->enabled = true;
	a->port = 0;
}

void
account_clear(struct account *a)
{
	size_t i;

	free(a->id);
	free(a->host);
	free(a->ca_file);
	free(a->user);
	free(a->deliver_to);
	free(a->target);
	for (i = 0; i < ACCT_MAX_FOLDERS && a->folders[i] != NULL; i++)
		free(a->folders[i]);
	account_init(a);
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
account_copy(struct account *dst, const struct account *src)
{
	size_t i;

	if (dst == src)
		return;
	*dst = *src;
	dst->id = dup_or_null(src->id);
	dst->host = dup_or_null(src->host);
	dst->ca_file = dup_or_null(src->ca_file);
	dst->user = dup_or_null(src->user);
	dst->deliver_to = dup_or_null(src->deliver_to);
	dst->target = dup_or_null(src->target);
	for (i = 0; i < ACCT_MAX_FOLDERS; i++)
		dst->folders[i] = NULL;
	/* The last slot stays NULL so the array is always terminated. */
	for (i = 0; i < ACCT_MAX_FOLDERS - 1 && src->folders[i] != NULL; i++)
		dst->folders[i] = xstrdup(src->folders[i]);
}

int
account_port(const struct account *a)
{
	if (a->port != 0)
		return a->port;
	if (a->proto == ACCT_IMAP)
		return a->security == SEC_TLS ? 993 : 143;
	return a->security == SEC_TLS ? 995 : 110;
}

static const char *
name_get(const char *const *tab, size_t n, unsigned v)
{
	if (v >= n || tab[v] == NULL)
		return "unknown";
	return tab[v];
}

static int
name_parse(const char *const *tab, size_t n, const char *s, int *v_r)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (tab[i] != NULL && strcmp(tab[i], s) == 0) {
			*v_r = (int)i;
			return 0;
		}
	}
	return -1;
}

const char *
account_proto_name(enum acct_proto p)
{
	return name_get(proto_names, MP_ARRAY_LEN(proto_names), p);
}

const char *
account_security_name(enum acct_security s)
{
	return name_get(security_names, MP_ARRAY_LEN(security_names), s);
}

const char *
account_policy_name(enum acct_policy p)
{
	return name_get(policy_names, MP_ARRAY_LEN(policy_names), p);
}

int
account_proto_parse(const char *s, enum acct_proto *p_r)
{
	int v;

	if (name_parse(proto_names, MP_ARRAY_LEN(proto_names), s, &v) == -1)
		return -1;
	*p_r = (enum acct_proto)v;
	return 0;
}

int
account_security_parse(const char *s, enum acct_security *s_r)
{
	int v;

	if (name_parse(security_names, MP_ARRAY_LEN(security_names), s,
	    &v) == -1)
		return -1;
	*s_r = (enum acct_security)v;
	return 0;
}

int
account_policy_parse(const char *s, enum acct_policy *p_r)
{
	int v;

	if (name_parse(policy_names, MP_ARRAY_LEN(policy_names), s, &v) == -1)
		return -1;
	*p_r = (enum acct_policy)v;
	return 0;
}
