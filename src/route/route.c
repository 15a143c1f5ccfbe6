/*
 * route.c - recipients of a message: single mode, groups, catch-all
 * (multidrop) header extraction, accepted domains, rules (route.h).
 *
 * The header block is read with our own bounded reader (unfolding per RFC
 * 5322 section 2.2.3); address lists are parsed by GMime, which knows RFC
 * 5322 groups, comments, quoted strings and RFC 2047 encoded words.
 *
 * Only catch-all (multidrop) accounts parse addresses, so GMime (and GLib
 * under it, some twenty libraries in all) is loaded when the first such
 * route is created, not at start-up (util/dl.h). This file is the one
 * place that knows it.
 */
#include "common.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "route/route.h"
#include "store/routing.h"
#include "util/buf.h"
#include "util/dl.h"
#include "util/xmalloc.h"

#define NOTE_MAX	1000
#define ORIG_MAX	20	/* originals listed for a postmaster copy */

struct rule_ent {
	struct route_rule r;
	char **members;		/* ROUTE_DEST_GROUP: qualified members */
	size_t nmembers;
};

struct route {
	char *account;		/* lower case */
	char *local_domain;	/* lower case */
	char *postmaster;	/* qualified, NULL: none */
	bool multidrop;
	char **domains;
	size_t ndomains;
	char **env;		/* envelope header names */
	size_t nenv;
	char **fb;		/* fallback header names */
	size_t nfb;
	struct rule_ent *rules;
	size_t nrules;
	char **single;		/* single mode: final recipients */
	size_t nsingle;
	GMimeParserOptions *popts;
	bool no_reroute;	/* reroute-unknown no */
};

static const char *const fallback_headers[] = {
	"To", "Cc", "Bcc", "Resent-To", "Resent-Cc",
};

/* ---- GMime, loaded at the first catch-all route ---- */

DL_SYM(g_mime_init);
DL_SYM(g_mime_parser_options_new);
DL_SYM(g_mime_parser_options_free);
DL_SYM(g_mime_parser_options_set_address_compliance_mode);
DL_SYM(g_mime_parser_options_set_rfc2047_compliance_mode);
DL_SYM(internet_address_list_parse);
DL_SYM(internet_address_list_length);
DL_SYM(internet_address_list_get_address);
DL_SYM(internet_address_mailbox_get_type);
DL_SYM(internet_address_mailbox_get_addr);
DL_SYM(internet_address_group_get_type);
DL_SYM(internet_address_group_get_members);
DL_SYM(g_type_check_instance_is_a);	/* GObject, a GMime dependency */
DL_SYM(g_object_unref);

static const struct dl_sym gmime_syms[] = {
	DL_ARG(g_mime_init),
	DL_ARG(g_mime_parser_options_new),
	DL_ARG(g_mime_parser_options_free),
	DL_ARG(g_mime_parser_options_set_address_compliance_mode),
	DL_ARG(g_mime_parser_options_set_rfc2047_compliance_mode),
	DL_ARG(internet_address_list_parse),
	DL_ARG(internet_address_list_length),
	DL_ARG(internet_address_list_get_address),
	DL_ARG(internet_address_mailbox_get_type),
	DL_ARG(internet_address_mailbox_get_addr),
	DL_ARG(internet_address_group_get_type),
	DL_ARG(internet_address_group_get_members),
	DL_ARG(g_type_check_instance_is_a),
	DL_ARG(g_object_unref),
};

static struct dl_lib gmime_lib = {
	.soname = "libgmime-3.0.so.0",
	.package = "libgmime-3.0-0",
	.syms = gmime_syms,
	.nsyms = MP_ARRAY_LEN(gmime_syms),
};

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void
gmime_init_once(void)
{
	sym_g_mime_init();
}

static int
gmime_load(struct err *e)
{
	if (dl_load(&gmime_lib, "catch-all routing", e) == -1)
		return -1;
	pthread_once(&gmime_once, gmime_init_once);
	return 0;
}

/* ---- small string helpers ---- */

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static char *
xstrdup_lower(const char *s)
{
	char *p = xstrdup(s);

	lower(p);
	return p;
}

static bool
is_atext(unsigned char c)
{
	/* RFC 5322 section 3.2.3 atext. */
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* A dot-atom local part without '/' (it becomes a Maildir path
 * component), 1..64 bytes. */
static bool
local_part_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (s[i + 1] == '.')
				return false;
			continue;
		}
		if (c == '/' || !is_atext(c))
			return false;
	}
	return true;
}

static bool
domain_ok(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-';
}

int
route_domain_check(const char *d, struct err *e)
{
	const char *p = d;

	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if (!domain_ok(p, strlen(p)))
		return err_set(e, ERR_CONFIG, "invalid domain '%s': expected "
		    "a domain name such as a.example, or *.a.example for its "
		    "subdomains", d);
	return 0;
}

bool
route_domain_match(const char *pattern, const char *domain)
{
	size_t pl, dl;

	if (strncmp(pattern, "*.", 2) == 0) {
		/* strict subdomains: "x.a.example" ends in ".a.example" */
		pl = strlen(pattern + 1);
		dl = strlen(domain);
		return dl > pl &&
		    strcasecmp(domain + dl - pl, pattern + 1) == 0;
	}
	return strcasecmp(pattern, domain) == 0;
}

int
route_local_check(const char *s, struct err *e)
{
	const char *at = strrchr(s, '@');
	size_t n = strlen(s);

	if (n == 0 || n > ROUTE_ADDR_MAX || strchr(s, '*') != NULL)
		return err_set(e, ERR_CONFIG, "invalid local address '%s'", s);
	if (at == NULL) {
		if (!local_part_ok(s, n))
			return err_set(e, ERR_CONFIG, "invalid local address "
			    "'%s': expected name or name@domain", s);
		return 0;
	}
	if (!local_part_ok(s, (size_t)(at - s)) ||
	    !domain_ok(at + 1, strlen(at + 1)))
		return err_set(e, ERR_CONFIG, "invalid local address '%s': "
		    "expected name or name@domain", s);
	return 0;
}

int
route_header_name_check(const char *s, struct err *e)
{
	size_t i, n = strlen(s);

	/* RFC 5322 section 3.6.8: printable US-ASCII except ':' */
	if (n == 0 || n > 76)
		goto bad;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == ':')
			goto bad;
	return 0;
bad:
	return err_set(e, ERR_CONFIG, "invalid header name '%s'", s);
}

int
route_group_name_check(const char *s, struct err *e)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > GROUP_NAME_MAX)
		goto bad;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			goto bad;
	}
	return 0;
bad:
	return err_set(e, ERR_CONFIG, "invalid group name '%s': 1 to %d "
	    "letters, digits, '.', '_' or '-'", s, GROUP_NAME_MAX);
}

/* A bare name at the local domain; the domain of a full one lower-cased. */
static char *
qualify(const char *s, const char *local_domain)
{
	const char *at = strrchr(s, '@');
	char *out;

	if (at == NULL)
		return xasprintf("%s@%s", s, local_domain);
	out = xstrdup(s);
	lower(out + (at - s) + 1);
	return out;
}

/* ---- rules ---- */

static void
trim(char *s)
{
	size_t n;
	char *p = s;

	while (*p == ' ' || *p == '\t')
		p++;
	if (p != s)
		memmove(s, p, strlen(p) + 1);
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

int
route_rule_parse(const char *text, struct route_rule *rule, struct err *e)
{
	char *pat = NULL, *dst = NULL, *gt, *at;
	struct err le = { 0 };

	memset(rule, 0, sizeof(*rule));
	if (strlen(text) > 2 * ROUTE_ADDR_MAX + 16 ||
	    (gt = strchr(text, '>')) == NULL || strchr(gt + 1, '>') != NULL)
		return err_set(e, ERR_CONFIG, "invalid rule '%s': expected "
		    "'PATTERN > DEST'", text);
	pat = xstrndup(text, (size_t)(gt - text));
	dst = xstrdup(gt + 1);
	trim(pat);
	trim(dst);
	lower(pat);

	/* PATTERN */
	if (strcmp(pat, "*") == 0)
		rule->pat = ROUTE_PAT_ANY;
	else if ((at = strrchr(pat, '@')) == NULL)
		goto badpat;
	else if (strcmp(pat, "*@*") == 0)
		rule->pat = ROUTE_PAT_ANY;
	else if (at == pat + 1 && pat[0] == '*') {
		if (strncmp(at + 1, "*.", 2) == 0) {
			if (!domain_ok(at + 3, strlen(at + 3)))
				goto badpat;
			rule->pat = ROUTE_PAT_SUBDOMAIN;
			rule->pattern = xstrdup(at + 3);
		} else {
			if (!domain_ok(at + 1, strlen(at + 1)))
				goto badpat;
			rule->pat = ROUTE_PAT_DOMAIN;
			rule->pattern = xstrdup(at + 1);
		}
	} else {
		if (!local_part_ok(pat, (size_t)(at - pat)) ||
		    memchr(pat, '*', (size_t)(at - pat)) != NULL ||
		    !domain_ok(at + 1, strlen(at + 1)))
			goto badpat;
		rule->pat = ROUTE_PAT_ADDR;
		rule->pattern = xstrdup(pat);
	}

	/* DEST */
	if (strcasecmp(dst, "drop") == 0)
		rule->dest = ROUTE_DEST_DROP;
	else if (strcasecmp(dst, "postmaster") == 0)
		rule->dest = ROUTE_DEST_POSTMASTER;
	else if (dst[0] == '@') {
		if (route_group_name_check(dst + 1, &le) == -1)
			goto baddst;
		rule->dest = ROUTE_DEST_GROUP;
		rule->dest_arg = xstrdup(dst + 1);
	} else if (strncmp(dst, "*@", 2) == 0) {
		if (!domain_ok(dst + 2, strlen(dst + 2)))
			goto baddst;
		rule->dest = ROUTE_DEST_KEEP;
		rule->dest_arg = xstrdup_lower(dst + 2);
	} else {
		if (route_local_check(dst, &le) == -1)
			goto baddst;
		rule->dest = ROUTE_DEST_ADDR;
		rule->dest_arg = xstrdup(dst);
	}
	free(pat);
	free(dst);
	return 0;
badpat:
	err_set(e, ERR_CONFIG, "invalid rule '%s': pattern '%s' is not "
	    "an address, *@domain, *@*.domain or *", text, pat);
	goto fail;
baddst:
	err_set(e, ERR_CONFIG, "invalid rule '%s': destination '%s' is not "
	    "a local address, *@domain, @GROUP, postmaster or drop", text, dst);
fail:
	err_clear(&le);
	free(pat);
	free(dst);
	route_rule_clear(rule);
	return -1;
}

void
route_rule_clear(struct route_rule *rule)
{
	free(rule->pattern);
	free(rule->dest_arg);
	memset(rule, 0, sizeof(*rule));
}

bool
route_rule_match(const struct route_rule *rule, const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t pl, dl;

	switch (rule->pat) {
	case ROUTE_PAT_ANY:
		return true;
	case ROUTE_PAT_ADDR:
		return strcasecmp(rule->pattern, addr) == 0;
	case ROUTE_PAT_DOMAIN:
		return at != NULL && strcasecmp(rule->pattern, at + 1) == 0;
	case ROUTE_PAT_SUBDOMAIN:
		if (at == NULL)
			return false;
		pl = strlen(rule->pattern);
		dl = strlen(at + 1);
		return dl > pl + 1 && at[1 + dl - pl - 1] == '.' &&
		    strcasecmp(at + 1 + dl - pl, rule->pattern) == 0;
	}
	return false;
}

/* ---- building ---- */

/* Split an LF- or comma-separated list into trimmed non-empty items. */
static void
list_split(const char *s, char ***v_r, size_t *n_r)
{
	char **v = NULL, *copy, *p, *q;
	size_t n = 0;

	*v_r = NULL;
	*n_r = 0;
	if (s == NULL)
		return;
	copy = xstrdup(s);
	for (p = copy; p != NULL; p = q) {
		q = strpbrk(p, ",\n");
		if (q != NULL)
			*q++ = '\0';
		trim(p);
		if (p[0] == '\0')
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrdup(p);
	}
	free(copy);
	*v_r = v;
	*n_r = n;
}

static void
strv_free(char ***v, size_t n)
{
	size_t i;

	if (*v == NULL)
		return;
	for (i = 0; i < n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
}

static bool
strv_has(char *const *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(v[i], s) == 0)
			return true;
	return false;
}

/* Append qualified, distinct addresses of one item (address or @GROUP). */
static int
expand_item(const struct route_config *cfg, const char *local_domain,
    const char *item, char ***v, size_t *n, struct err *e)
{
	char **m = NULL;
	size_t nm = 0, i;
	char *q;

	if (item[0] == '@') {
		if (route_group_name_check(item + 1, e) == -1)
			return -1;
		if (cfg->group_get == NULL)
			return err_set(e, ERR_CONFIG, "no such group %s",
			    item + 1);
		if (cfg->group_get(cfg->group_arg, item + 1, &m, &nm, e) == -1)
			return -1;
		for (i = 0; i < nm; i++) {
			if (m[i][0] == '@' ||
			    route_local_check(m[i], e) == -1) {
				err_set(e, ERR_CONFIG, "group %s: invalid "
				    "member '%s'", item + 1, m[i]);
				strv_free(&m, nm);
				return -1;
			}
			q = qualify(m[i], local_domain);
			if (strv_has(*v, *n, q) || *n >= ROUTE_RCPTS_MAX) {
				bool full = !strv_has(*v, *n, q);

				free(q);
				if (full) {
					strv_free(&m, nm);
					return err_set(e, ERR_CONFIG, "more "
					    "than %d recipients",
					    ROUTE_RCPTS_MAX);
				}
				continue;
			}
			*v = xreallocarray(*v, *n + 1, sizeof(**v));
			(*v)[(*n)++] = q;
		}
		strv_free(&m, nm);
		return 0;
	}
	if (route_local_check(item, e) == -1)
		return -1;
	q = qualify(item, local_domain);
	if (strv_has(*v, *n, q)) {
		free(q);
		return 0;
	}
	if (*n >= ROUTE_RCPTS_MAX) {
		free(q);
		return err_set(e, ERR_CONFIG, "more than %d recipients",
		    ROUTE_RCPTS_MAX);
	}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = q;
	return 0;
}

int
route_create(struct route **r_r, const struct route_config *cfg,
    struct err *e)
{
	struct route *r;
	char **items = NULL;
	size_t nitems = 0, i;
	const char *at;

	*r_r = NULL;
	r = xcalloc(1, sizeof(*r));
	r->account = xstrdup_lower(cfg->account);
	r->multidrop = cfg->multidrop;
	r->no_reroute = cfg->no_reroute_unknown;
	if (cfg->local_domain != NULL && cfg->local_domain[0] != '\0')
		r->local_domain = xstrdup_lower(cfg->local_domain);
	else if ((at = strrchr(r->account, '@')) != NULL && at[1] != '\0')
		r->local_domain = xstrdup(at + 1);
	else
		r->local_domain = xstrdup("localhost");

	if (cfg->postmaster != NULL && cfg->postmaster[0] != '\0') {
		if (route_local_check(cfg->postmaster, e) == -1) {
			err_prefix(e, "postmaster");
			goto fail;
		}
		r->postmaster = qualify(cfg->postmaster, r->local_domain);
	}

	list_split(cfg->domains, &r->domains, &r->ndomains);
	for (i = 0; i < r->ndomains; i++) {
		lower(r->domains[i]);
		if (route_domain_check(r->domains[i], e) == -1)
			goto fail;
	}
	if (r->multidrop && r->ndomains == 0) {
		err_set(e, ERR_CONFIG, "multidrop needs accepted domains "
		    "(--domains)");
		goto fail;
	}
	list_split(cfg->envelope_headers != NULL ? cfg->envelope_headers :
	    ROUTE_DEFAULT_ENVELOPE, &r->env, &r->nenv);
	if (r->nenv > ROUTE_ENVELOPE_MAX) {
		err_set(e, ERR_CONFIG, "more than %d envelope headers",
		    ROUTE_ENVELOPE_MAX);
		goto fail;
	}
	for (i = 0; i < r->nenv; i++)
		if (route_header_name_check(r->env[i], e) == -1)
			goto fail;
	r->nfb = MP_ARRAY_LEN(fallback_headers);
	r->fb = xcalloc(r->nfb, sizeof(*r->fb));
	for (i = 0; i < r->nfb; i++)
		r->fb[i] = xstrdup(fallback_headers[i]);

	/* Rules, one per line (commas may not split them). */
	if (cfg->rules != NULL) {
		const char *p = cfg->rules, *nl;

		for (; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
			struct rule_ent *re;
			char *line;

			if ((nl = strchr(p, '\n')) == NULL)
				nl = p + strlen(p);
			line = xstrndup(p, (size_t)(nl - p));
			trim(line);
			if (line[0] == '\0') {
				free(line);
				continue;
			}
			if (r->nrules >= ROUTE_RULES_MAX) {
				free(line);
				err_set(e, ERR_CONFIG, "more than %d rules",
				    ROUTE_RULES_MAX);
				goto fail;
			}
			r->rules = xreallocarray(r->rules, r->nrules + 1,
			    sizeof(*r->rules));
			re = &r->rules[r->nrules];
			memset(re, 0, sizeof(*re));
			if (route_rule_parse(line, &re->r, e) == -1) {
				free(line);
				goto fail;
			}
			free(line);
			r->nrules++;
			if (re->r.dest == ROUTE_DEST_GROUP) {
				char *g = xasprintf("@%s", re->r.dest_arg);
				int rc = expand_item(cfg, r->local_domain, g,
				    &re->members, &re->nmembers, e);

				free(g);
				if (rc == -1)
					goto fail;
			}
		}
	}

	/* Single mode recipients (also checked in multidrop mode, so a bad
	 * --deliver-to is found when it is set). */
	list_split(cfg->deliver_to, &items, &nitems);
	for (i = 0; i < nitems; i++)
		if (expand_item(cfg, r->local_domain, items[i], &r->single,
		    &r->nsingle, e) == -1) {
			err_prefix(e, "deliver-to");
			goto fail;
		}
	if (r->nsingle == 0 && route_local_check(r->account, NULL) == 0) {
		r->single = xcalloc(1, sizeof(*r->single));
		r->single[0] = qualify(cfg->account, r->local_domain);
		r->nsingle = 1;
	} else if (r->nsingle == 0) {
		err_set(e, ERR_CONFIG, "no recipient: the account id %s is not "
		    "a usable address; set --deliver-to", cfg->account);
		goto fail;
	}
	strv_free(&items, nitems);

	if (r->multidrop) {
		if (gmime_load(e) == -1)
			goto fail;
		r->popts = sym_g_mime_parser_options_new();
		sym_g_mime_parser_options_set_address_compliance_mode(r->popts,
		    GMIME_RFC_COMPLIANCE_LOOSE);
		sym_g_mime_parser_options_set_rfc2047_compliance_mode(r->popts,
		    GMIME_RFC_COMPLIANCE_LOOSE);
	}
	*r_r = r;
	return 0;
fail:
	strv_free(&items, nitems);
	route_close(&r);
	return -1;
}

void
route_close(struct route **rp)
{
	struct route *r = *rp;
	size_t i;

	if (r == NULL)
		return;
	free(r->account);
	free(r->local_domain);
	free(r->postmaster);
	strv_free(&r->domains, r->ndomains);
	strv_free(&r->env, r->nenv);
	strv_free(&r->fb, r->nfb);
	for (i = 0; i < r->nrules; i++) {
		route_rule_clear(&r->rules[i].r);
		strv_free(&r->rules[i].members, r->rules[i].nmembers);
	}
	free(r->rules);
	strv_free(&r->single, r->nsingle);
	if (r->popts != NULL)
		sym_g_mime_parser_options_free(r->popts);
	free(r);
	*rp = NULL;
}

const char *
route_postmaster(const struct route *r)
{
	return r->postmaster;
}

bool
route_multidrop(const struct route *r)
{
	return r->multidrop;
}

bool
route_reroute_unknown(const struct route *r)
{
	return !r->no_reroute;
}

/* Append q (allocated, taken over) unless already there. */
static void
static_add(char ***v, size_t *n, char *q)
{
	if (strv_has(*v, *n, q)) {
		free(q);
		return;
	}
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = q;
}

void
route_static_rcpts(const struct route *r, char ***v_r, size_t *n_r)
{
	char **v = NULL;
	size_t n = 0, i, j;

	if (!r->multidrop) {
		for (i = 0; i < r->nsingle; i++)
			static_add(&v, &n, xstrdup(r->single[i]));
		*v_r = v;
		*n_r = n;
		return;
	}
	if (r->postmaster != NULL)
		static_add(&v, &n, xstrdup(r->postmaster));
	for (i = 0; i < r->nrules; i++) {
		const struct rule_ent *re = &r->rules[i];

		switch (re->r.dest) {
		case ROUTE_DEST_ADDR:
			static_add(&v, &n, qualify(re->r.dest_arg,
			    r->local_domain));
			break;
		case ROUTE_DEST_GROUP:
			for (j = 0; j < re->nmembers; j++)
				static_add(&v, &n, xstrdup(re->members[j]));
			break;
		case ROUTE_DEST_POSTMASTER:
			if (r->postmaster != NULL)
				static_add(&v, &n, xstrdup(r->postmaster));
			break;
		default:
			break;
		}
	}
	*v_r = v;
	*n_r = n;
}

void
route_strv_free(char ***v, size_t n)
{
	strv_free(v, n);
}

static bool
domain_accepted(const struct route *r, const char *domain)
{
	size_t i;

	for (i = 0; i < r->ndomains; i++)
		if (route_domain_match(r->domains[i], domain))
			return true;
	return false;
}

bool
route_accepted(const struct route *r, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *adom;

	if (at == NULL)
		return false;
	if (r->ndomains > 0)
		return domain_accepted(r, at + 1);
	adom = strrchr(r->account, '@');
	return strcasecmp(at + 1, r->local_domain) == 0 ||
	    (adom != NULL && strcasecmp(at + 1, adom + 1) == 0);
}

/* ---- results ---- */

void
route_result_clear(struct route_result *res)
{
	size_t i, j;

	for (i = 0; i < res->n; i++) {
		free(res->rcpts[i]);
		if (res->orig != NULL && res->orig[i] != NULL) {
			for (j = 0; res->orig[i][j] != NULL; j++)
				free(res->orig[i][j]);
			free(res->orig[i]);
		}
	}
	free(res->rcpts);
	free(res->orig);
	free(res->rerouted);
	free(res->note);
	memset(res, 0, sizeof(*res));
}

/* Add final address rcpt (once) and orig (may be NULL) to its list. */
static int
result_add(struct route_result *res, const char *rcpt, const char *orig,
    bool rerouted, struct err *e)
{
	size_t i, j;

	for (i = 0; i < res->n; i++)
		if (strcasecmp(res->rcpts[i], rcpt) == 0)
			break;
	if (i == res->n) {
		if (res->n >= ROUTE_RCPTS_MAX)
			return err_set(e, ERR_PERM, "more than %d local "
			    "recipients after rules and groups",
			    ROUTE_RCPTS_MAX);
		res->rcpts = xreallocarray(res->rcpts, res->n + 1,
		    sizeof(*res->rcpts));
		res->orig = xreallocarray(res->orig, res->n + 1,
		    sizeof(*res->orig));
		res->rerouted = xreallocarray(res->rerouted, res->n + 1,
		    sizeof(*res->rerouted));
		res->rcpts[i] = xstrdup(rcpt);
		res->orig[i] = xcalloc(1, sizeof(*res->orig[i]));
		res->rerouted[i] = false;
		res->n++;
	}
	if (rerouted)
		res->rerouted[i] = true;
	if (orig == NULL)
		return 0;
	for (j = 0; res->orig[i][j] != NULL; j++)
		if (strcasecmp(res->orig[i][j], orig) == 0)
			return 0;
	if (j >= ROUTE_RCPTS_MAX)
		return 0;
	res->orig[i] = xreallocarray(res->orig[i], j + 2,
	    sizeof(*res->orig[i]));
	res->orig[i][j] = xstrdup(orig);
	res->orig[i][j + 1] = NULL;
	return 0;
}

/* ---- header extraction ---- */

struct addrs {
	char **v;		/* lower case, distinct */
	size_t n;
	size_t skipped;		/* unusable addresses seen */
};

static void
addrs_free(struct addrs *a)
{
	strv_free(&a->v, a->n);
	a->n = 0;
}

/* Normalise an addr-spec from GMime: unquote a quoted local part that is
 * a dot-atom inside, lower-case, check. NULL when unusable. */
static char *
addr_normalise(const char *spec)
{
	const char *at = strrchr(spec, '@');
	char *local, *dom, *out;
	size_t ll;

	if (at == NULL || at == spec || strlen(spec) > ROUTE_ADDR_MAX)
		return NULL;
	ll = (size_t)(at - spec);
	if (ll >= 2 && spec[0] == '"' && spec[ll - 1] == '"')
		local = xstrndup(spec + 1, ll - 2);
	else
		local = xstrndup(spec, ll);
	dom = xstrdup(at + 1);
	ll = strlen(dom);
	if (ll > 0 && dom[ll - 1] == '.')	/* absolute form */
		dom[--ll] = '\0';
	if (!local_part_ok(local, strlen(local)) || !domain_ok(dom, ll)) {
		free(local);
		free(dom);
		return NULL;
	}
	out = xasprintf("%s@%s", local, dom);
	lower(out);
	free(local);
	free(dom);
	return out;
}

static void
addrs_add(struct addrs *a, const char *spec)
{
	char *s;

	if ((s = addr_normalise(spec)) == NULL) {
		a->skipped++;
		return;
	}
	if (strv_has(a->v, a->n, s) || a->n >= 4 * ROUTE_RCPTS_MAX) {
		if (a->n >= 4 * ROUTE_RCPTS_MAX)
			a->skipped++;
		free(s);
		return;
	}
	a->v = xreallocarray(a->v, a->n + 1, sizeof(*a->v));
	a->v[a->n++] = s;
}

/* A mailbox's addr-spec, or NULL when ia is not a mailbox (a group). The
 * type check is INTERNET_ADDRESS_IS_MAILBOX() without a link-time
 * reference to GMime. */
static const char *
ia_mailbox_addr(InternetAddress *ia)
{
	if (ia == NULL || !sym_g_type_check_instance_is_a((GTypeInstance *)ia,
	    sym_internet_address_mailbox_get_type()))
		return NULL;
	return sym_internet_address_mailbox_get_addr(
	    (InternetAddressMailbox *)ia);
}

/* Addresses of one header value (groups flattened; RFC 5322 groups do not
 * nest, and we look one level deep only). */
static void
addrs_parse(struct route *r, const char *value, struct addrs *a)
{
	InternetAddressList *l, *m;
	InternetAddress *ia;
	const char *spec;
	int i, j, n, k;

	if ((l = sym_internet_address_list_parse(r->popts, value)) == NULL)
		return;
	n = sym_internet_address_list_length(l);
	for (i = 0; i < n; i++) {
		ia = sym_internet_address_list_get_address(l, i);
		if ((spec = ia_mailbox_addr(ia)) != NULL) {
			addrs_add(a, spec);
			continue;
		}
		if (ia == NULL || !sym_g_type_check_instance_is_a(
		    (GTypeInstance *)ia, sym_internet_address_group_get_type()))
			continue;
		m = sym_internet_address_group_get_members(
		    (InternetAddressGroup *)ia);
		k = m != NULL ? sym_internet_address_list_length(m) : 0;
		for (j = 0; j < k; j++) {
			spec = ia_mailbox_addr(
			    sym_internet_address_list_get_address(m, j));
			if (spec != NULL)
				addrs_add(a, spec);
		}
	}
	sym_g_object_unref(l);
}

struct hdr_scan {
	const char *p;		/* header block */
	size_t len;
	bool truncated;		/* over ROUTE_HEADER_MAX or the field cap */
};

/* Length of the header block of msg (up to and excluding the empty line),
 * bounded by ROUTE_HEADER_MAX; sets truncated when there is more. */
static void
hdr_find(const char *msg, size_t len, struct hdr_scan *h)
{
	size_t i;

	h->p = msg;
	h->truncated = false;
	if (len > 0 && (msg[0] == '\n' || (len > 1 && msg[0] == '\r' &&
	    msg[1] == '\n'))) {
		h->len = 0;
		return;
	}
	for (i = 0; i + 1 < len && i < ROUTE_HEADER_MAX; i++) {
		if (msg[i] != '\n')
			continue;
		if (msg[i + 1] == '\n' || (msg[i + 1] == '\r' &&
		    i + 2 < len && msg[i + 2] == '\n')) {
			h->len = i + 1;
			return;
		}
	}
	if (len > ROUTE_HEADER_MAX) {
		h->len = ROUTE_HEADER_MAX;
		h->truncated = true;
	} else
		h->len = len;	/* a message that is all header */
}

/* Which list a field name is in: index into names, or -1. */
static int
name_index(const char *name, size_t nl, char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(names[i]) == nl &&
		    strncasecmp(names[i], name, nl) == 0)
			return (int)i;
	return -1;
}

/*
 * Walk the header fields; for each whose name is in names[], parse its
 * unfolded value into a, and mark used[i] when it gave an accepted
 * address. Bounded: the block is at most ROUTE_HEADER_MAX bytes and at
 * most ROUTE_FIELDS_MAX fields are looked at.
 */
static void
hdr_collect(struct route *r, struct hdr_scan *h, char *const *names,
    size_t nnames, struct addrs *a, bool *used)
{
	size_t pos = 0, nfields = 0, before;
	struct buf val;

	buf_init(&val, ROUTE_HEADER_MAX + 1);
	while (pos < h->len) {
		const char *line = h->p + pos, *colon, *eol;
		size_t ll, nl, i;
		int idx;

		eol = memchr(line, '\n', h->len - pos);
		ll = eol != NULL ? (size_t)(eol - line) : h->len - pos;
		pos += ll + (eol != NULL ? 1 : 0);
		if (ll == 0 || line[0] == ' ' || line[0] == '\t')
			continue;	/* a continuation we do not want */
		if (++nfields > ROUTE_FIELDS_MAX) {
			h->truncated = true;
			break;
		}
		if ((colon = memchr(line, ':', ll)) == NULL)
			continue;	/* not a field (e.g. mbox "From ") */
		nl = (size_t)(colon - line);
		while (nl > 0 && (line[nl - 1] == ' ' || line[nl - 1] == '\t'))
			nl--;		/* obsolete "Name :" (RFC 5322 4.5) */
		if ((idx = name_index(line, nl, names, nnames)) == -1)
			continue;
		/* Unfold: the value and its continuation lines, without the
		 * line breaks (RFC 5322 2.2.3); NUL and CR become spaces. */
		buf_reset(&val);
		(void)buf_add(&val, colon + 1, ll - (size_t)(colon - line) - 1);
		while (pos < h->len && (h->p[pos] == ' ' ||
		    h->p[pos] == '\t')) {
			const char *c = h->p + pos;
			const char *ce = memchr(c, '\n', h->len - pos);
			size_t cl = ce != NULL ? (size_t)(ce - c) :
			    h->len - pos;

			(void)buf_add(&val, c, cl);
			pos += cl + (ce != NULL ? 1 : 0);
		}
		for (i = 0; i < val.len; i++)
			if (val.data[i] == '\0' || val.data[i] == '\r')
				val.data[i] = ' ';
		before = a->n;
		addrs_parse(r, val.data, a);
		for (i = before; i < a->n; i++)
			if (strchr(a->v[i], '@') != NULL &&
			    domain_accepted(r, strrchr(a->v[i], '@') + 1))
				used[idx] = true;
	}
	buf_free(&val);
}

/* The accepted subset of all (in order). */
static void
addrs_accepted(struct route *r, const struct addrs *all, struct addrs *acc)
{
	size_t i;

	memset(acc, 0, sizeof(*acc));
	for (i = 0; i < all->n; i++) {
		const char *at = strrchr(all->v[i], '@');

		if (at != NULL && domain_accepted(r, at + 1)) {
			acc->v = xreallocarray(acc->v, acc->n + 1,
			    sizeof(*acc->v));
			acc->v[acc->n++] = xstrdup(all->v[i]);
		}
	}
}

/* One item of the note; the note stays one bounded line ("..." when the
 * rest does not fit). */
static void
note_add(struct buf *note, const char *s)
{
	size_t need = strlen(s) + 2;

	if (note->max - note->len < need + 5) {
		if (note->max - note->len >= 4 && (note->len < 3 ||
		    strcmp(note->data + note->len - 3, "...") != 0))
			(void)buf_adds(note, " ...");
		return;
	}
	(void)buf_adds(note, " ");
	(void)buf_adds(note, s);
	(void)buf_adds(note, ";");
}

static void
note_names(struct buf *note, char *const *names, const bool *used, size_t n)
{
	size_t i;
	bool first = true;

	for (i = 0; i < n; i++) {
		if (!used[i])
			continue;
		(void)buf_printf(note, "%s%s", first ? "" : ",", names[i]);
		first = false;
	}
}

/* Route one accepted recipient through the rules into res. */
static int
route_one(struct route *r, const char *rcpt, struct route_result *res,
    struct buf *note, size_t *ndrop, struct err *e)
{
	const struct rule_ent *re = NULL;
	char num[32], *dst = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; i < r->nrules; i++)
		if (route_rule_match(&r->rules[i].r, rcpt)) {
			re = &r->rules[i];
			break;
		}
	(void)snprintf(num, sizeof(num), "rule %zu", i + 1);
	if (re == NULL) {
		note_add(note, rcpt);
		return result_add(res, rcpt, rcpt, false, e);
	}
	switch (re->r.dest) {
	case ROUTE_DEST_DROP:
		dst = xasprintf("%s dropped (%s)", rcpt, num);
		note_add(note, dst);
		free(dst);
		(*ndrop)++;
		return 0;
	case ROUTE_DEST_POSTMASTER:
		if (r->postmaster == NULL)
			dst = xasprintf("postmaster@%s", r->local_domain);
		else
			dst = xstrdup(r->postmaster);
		break;
	case ROUTE_DEST_ADDR:
		dst = qualify(re->r.dest_arg, r->local_domain);
		break;
	case ROUTE_DEST_KEEP:
		dst = xasprintf("%.*s@%s", (int)(strrchr(rcpt, '@') - rcpt),
		    rcpt, re->r.dest_arg);
		break;
	case ROUTE_DEST_GROUP:
		for (i = 0; i < re->nmembers && rc == 0; i++)
			rc = result_add(res, re->members[i], rcpt, false, e);
		dst = xasprintf("%s > @%s (%s)", rcpt, re->r.dest_arg, num);
		note_add(note, dst);
		free(dst);
		return rc;
	}
	{
		char *d = xasprintf("%s > %s (%s)", rcpt, dst, num);

		note_add(note, d);
		free(d);
	}
	rc = result_add(res, dst, rcpt, re->r.dest == ROUTE_DEST_POSTMASTER,
	    e);
	free(dst);
	return rc;
}

static int
route_single(struct route *r, struct route_result *res, struct err *e)
{
	size_t i;

	for (i = 0; i < r->nsingle; i++)
		if (result_add(res, r->single[i], NULL, false, e) == -1)
			return -1;
	return 0;
}

int
route_message_mem(struct route *r, const char *msg, size_t len,
    struct route_result *res, struct err *e)
{
	struct hdr_scan h;
	struct addrs all = { 0 }, acc = { 0 }, envall = { 0 };
	struct buf note;
	bool used_env[ROUTE_ENVELOPE_MAX] = { 0 };
	bool used_fb[MP_ARRAY_LEN(fallback_headers)] = { 0 };
	size_t i, ndrop = 0, nenv;
	bool fallback = false;

	memset(res, 0, sizeof(*res));
	if (!r->multidrop)
		return route_single(r, res, e) == -1 ? -1 : 0;

	buf_init(&note, NOTE_MAX);
	hdr_find(msg, len, &h);
	nenv = MP_MIN(r->nenv, ROUTE_ENVELOPE_MAX);
	hdr_collect(r, &h, r->env, nenv, &all, used_env);
	addrs_accepted(r, &all, &acc);
	/* The catch-all box's own address beside the real recipients. */
	if (acc.n > 1) {
		for (i = 0; i < acc.n; i++)
			if (strcasecmp(acc.v[i], r->account) == 0) {
				free(acc.v[i]);
				memmove(&acc.v[i], &acc.v[i + 1],
				    (acc.n - i - 1) * sizeof(*acc.v));
				acc.n--;
				break;
			}
	}
	if (acc.n == 0) {
		fallback = true;
		envall = all;
		memset(&all, 0, sizeof(all));
		all.skipped = envall.skipped;
		addrs_free(&acc);
		hdr_collect(r, &h, r->fb, r->nfb, &all, used_fb);
		addrs_accepted(r, &all, &acc);
	}
	if (acc.n > ROUTE_RCPTS_MAX) {
		err_set(e, ERR_PERM, "more than %d recipients in accepted "
		    "domains", ROUTE_RCPTS_MAX);
		goto fail;
	}

	if (acc.n == 0) {
		/* Nobody of ours is named: the postmaster gets it. */
		if (r->postmaster == NULL) {
			err_set(e, ERR_CONFIG, "no recipient in the accepted "
			    "domains and no postmaster configured (mailpull "
			    "config set postmaster LOCAL, or --postmaster)");
			goto fail;
		}
		(void)buf_printf(&note, "%s%s: postmaster %s",
		    h.truncated ? "header over the limits, " : "",
		    "no recipient in the accepted domains", r->postmaster);
		if (result_add(res, r->postmaster, NULL, true, e) == -1)
			goto fail;
		for (i = 0; i < envall.n && i < ORIG_MAX; i++)
			(void)result_add(res, r->postmaster, envall.v[i], true,
			    e);
		for (i = 0; i < all.n && i + envall.n < ORIG_MAX; i++)
			(void)result_add(res, r->postmaster, all.v[i], true, e);
	} else {
		if (fallback) {
			(void)buf_adds(&note, "no envelope recipient in the "
			    "accepted domains; from ");
			note_names(&note, r->fb, used_fb, r->nfb);
		} else {
			(void)buf_adds(&note, "from ");
			note_names(&note, r->env, used_env, nenv);
		}
		if (h.truncated)
			(void)buf_adds(&note, " (header over the limits)");
		(void)buf_adds(&note, ":");
		for (i = 0; i < acc.n; i++)
			if (route_one(r, acc.v[i], res, &note, &ndrop, e) == -1)
				goto fail;
		if (h.truncated && r->postmaster != NULL &&
		    result_add(res, r->postmaster, NULL, true, e) == -1)
			goto fail;
		if (res->n == 0)
			res->dropped = true;
	}
	if (all.skipped > 0)
		(void)buf_printf(&note, " (%zu unusable address%s ignored)",
		    all.skipped, all.skipped == 1 ? "" : "es");
	res->note = note.len > 0 ? buf_detach(&note) : NULL;
	buf_free(&note);
	addrs_free(&all);
	addrs_free(&acc);
	addrs_free(&envall);
	return 0;
fail:
	buf_free(&note);
	addrs_free(&all);
	addrs_free(&acc);
	addrs_free(&envall);
	route_result_clear(res);
	return -1;
}

int
route_message(struct route *r, struct spool *sp, struct route_result *res,
    struct err *e)
{
	char *head;
	size_t n;
	int rc;

	if (!r->multidrop) {
		memset(res, 0, sizeof(*res));
		return route_single(r, res, e);
	}
	/* One byte over the bound tells "more" from "exactly the bound". */
	head = xmalloc(ROUTE_HEADER_MAX + 1);
	n = spool_head(sp, head, ROUTE_HEADER_MAX + 1);
	rc = route_message_mem(r, head, n, res, e);
	free(head);
	return rc;
}
