/*
 * fuzz_route.c - libFuzzer target for catch-all header extraction and the
 * rule parser.
 *
 * Input: a message (header part and maybe a body) routed by a multidrop
 * route with accepted domains, rules (a group, drop, keep-local-part,
 * postmaster) and a postmaster; its first line is also parsed as a rule.
 * Checks: at most ROUTE_RCPTS_MAX distinct recipients, each an address
 * with a domain and no '/', "..", control byte or space; dropped only
 * with no recipient.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "route/route.h"
#include "util/err.h"
#include "util/xmalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct route *r;

static void
check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static int
group(void *arg, const char *name, char ***m_r, size_t *n_r, struct err *e)
{
	char **m = xcalloc(2, sizeof(*m));

	m[0] = xstrdup("t1");
	m[1] = xstrdup("t2@other.example");
	*m_r = m;
	*n_r = 2;
	return 0;
}

static void
setup(void)
{
	struct route_config c = { 0 };

	c.account = "box@provider.example";
	c.multidrop = true;
	c.domains = "a.example,b.example,*.c.example";
	c.rules = "sales@a.example > alice\nteam@b.example > @team\n"
	    "spam@b.example > drop\n*@*.c.example > *@local.example\n"
	    "x@a.example > postmaster";
	c.postmaster = "pm";
	c.local_domain = "local.example";
	c.group_get = group;
	if (route_create(&r, &c, NULL) == -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct route_result res;
	struct route_rule rule;
	struct err e = { 0 };
	const char *nl;
	char *line;
	size_t i, j;

	if (r == NULL)
		setup();
	if (route_message_mem(r, (const char *)data, len, &res, &e) == 0) {
		check(res.n <= ROUTE_RCPTS_MAX);
		check(res.n > 0 || res.dropped);
		for (i = 0; i < res.n; i++) {
			const char *a = res.rcpts[i];

			check(strchr(a, '@') != NULL && a[0] != '@');
			check(strchr(a, '/') == NULL);
			check(strstr(a, "..") == NULL);
			for (j = 0; a[j] != '\0'; j++)
				check((unsigned char)a[j] > ' ' &&
				    a[j] != 0x7f);
			for (j = 0; j < i; j++)
				check(strcasecmp(a, res.rcpts[j]) != 0);
			check(res.orig[i] != NULL);
		}
		route_result_clear(&res);
	} else {
		check(e.cls == ERR_PERM || e.cls == ERR_CONFIG);
		check(res.n == 0);
	}
	err_clear(&e);

	nl = memchr(data, '\n', len);
	line = xstrndup((const char *)data, nl != NULL ?
	    (size_t)(nl - (const char *)data) : len);
	if (route_rule_parse(line, &rule, &e) == 0) {
		check(rule.pat == ROUTE_PAT_ANY || rule.pattern != NULL);
		route_rule_clear(&rule);
	} else
		check(e.cls == ERR_CONFIG);
	err_clear(&e);
	free(line);
	return 0;
}
