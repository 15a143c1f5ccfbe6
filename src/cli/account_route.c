/*
 * account_route.c - routing options of `account add|edit` and their
 * display (account_route.h). Values are validated here with route/'s
 * checkers and kept in the store's account_routing table (store/routing.h).
 *
 * Within one command, the first --envelope-header, --rule or --domains
 * replaces the stored list (like --folder); --no-rules clears the rules,
 * --postmaster '' falls back to the global postmaster setting.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "cli/account_route.h"
#include "cli/cli.h"
#include "route/route.h"
#include "store/routing.h"
#include "store/settings.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static struct routing cur;
static bool env_reset, rules_reset;

void
account_route_load(struct store *st, const char *id, bool add)
{
	struct err e = { 0 };

	routing_clear(&cur);
	env_reset = rules_reset = false;
	if (add)
		return;
	if (store_routing_get(st, id, &cur, &e) == -1) {
		fprintf(stderr, "mailpull: %s\n", err_msg(&e));
		exit(1);
	}
}

/* Append item to an LF-separated list (replacing it when *reset is
 * false). */
static void
list_add(char **list, bool *reset, const char *item)
{
	char *n;

	if (!*reset || *list == NULL) {
		free(*list);
		*list = xstrdup(item);
		*reset = true;
		return;
	}
	n = xasprintf("%s\n%s", *list, item);
	free(*list);
	*list = n;
}

static void
domains_opt(const char *arg)
{
	struct err e = { 0 };
	struct buf b;
	char *copy, *p, *q;

	cli_account_field("domains", "domains", arg);
	buf_init(&b, 64 * 1024);
	copy = xstrdup(arg);
	for (p = copy; p != NULL; p = q) {
		if ((q = strchr(p, ',')) != NULL)
			*q++ = '\0';
		while (*p == ' ')
			p++;
		while (p[0] != '\0' && p[strlen(p) - 1] == ' ')
			p[strlen(p) - 1] = '\0';
		if (p[0] == '\0')
			continue;
		for (char *c = p; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		if (route_domain_check(p, &e) == -1)
			usage_error("account", "--domains: %s", err_msg(&e));
		if ((b.len > 0 && buf_adds(&b, "\n") == -1) ||
		    buf_adds(&b, p) == -1)
			usage_error("account", "--domains: list too long");
	}
	free(copy);
	free(cur.domains);
	cur.domains = b.len > 0 ? buf_detach(&b) : NULL;
	buf_free(&b);
}

void
account_route_opt(int c, const char *arg)
{
	size_t n;

	switch (c) {
	case OPT_MULTIDROP:
		cur.multidrop = true;
		break;
	case OPT_SINGLE:
		cur.multidrop = false;
		break;
	case OPT_DOMAINS:
		domains_opt(arg);
		break;
	case OPT_ENVELOPE_HEADER:
		cli_account_field("envelope-header", "envelope_header", arg);
		list_add(&cur.envelope_headers, &env_reset, arg);
		break;
	case OPT_RULE:
		cli_account_field("rule", "rule", arg);
		{
			/* stored trimmed, one per line */
			char *t = xstrdup(arg);

			while ((n = strlen(t)) > 0 && (t[n - 1] == ' ' ||
			    t[n - 1] == '\t'))
				t[n - 1] = '\0';
			list_add(&cur.rules, &rules_reset,
			    t + strspn(t, " \t"));
			free(t);
		}
		break;
	case OPT_NO_RULES:
		xfree(&cur.rules);
		rules_reset = true;
		break;
	case OPT_POSTMASTER:
		if (arg[0] == '\0') {
			xfree(&cur.postmaster);
			break;
		}
		cli_account_field("postmaster", "postmaster", arg);
		free(cur.postmaster);
		cur.postmaster = xstrdup(arg);
		break;
	case OPT_REROUTE_UNKNOWN:
		if (routing_reroute_parse(arg, &cur.reroute_unknown) == -1)
			usage_error("account", "--reroute-unknown %s: expected "
			    "yes, no or default", arg);
		break;
	default:
		usage_error("account", "internal: unknown routing option");
	}
}

static int
group_from_store(void *arg, const char *name, char ***members_r,
    size_t *n_r, struct err *e)
{
	return store_group_get(arg, name, members_r, n_r, e);
}

int
account_route_check(struct store *st, const char *id,
    const struct account *a, struct err *e)
{
	struct route_config cfg = { 0 };
	struct route *r = NULL;
	char *pm = NULL, *ld = NULL;
	int rc = -1;

	if (store_setting_get(st, "postmaster", &pm, e) == -1 ||
	    store_setting_get(st, "local-domain", &ld, e) == -1)
		goto out;
	cfg.account = id;
	cfg.deliver_to = a->deliver_to;
	cfg.multidrop = cur.multidrop;
	cfg.domains = cur.domains;
	cfg.envelope_headers = cur.envelope_headers;
	cfg.rules = cur.rules;
	cfg.postmaster = cur.postmaster != NULL ? cur.postmaster : pm;
	cfg.local_domain = ld;
	cfg.group_get = group_from_store;
	cfg.group_arg = st;
	if (route_create(&r, &cfg, e) == -1)
		goto out;
	if (cur.multidrop && route_postmaster(r) == NULL)
		fprintf(stderr, "mailpull: warning: %s: no postmaster: mail "
		    "for nobody in the accepted domains will stay on the "
		    "server (--postmaster, or mailpull config set postmaster)\n",
		    id);
	if (!cur.multidrop && cur.rules != NULL)
		fprintf(stderr, "mailpull: warning: %s: rules apply only with "
		    "--multidrop\n", id);
	if (cur.multidrop && cur.rules != NULL) {
		const char *p = cur.rules, *nl;
		size_t i = 0;

		for (; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
			struct route_rule rule;
			char *line, *probe;

			if ((nl = strchr(p, '\n')) == NULL)
				nl = p + strlen(p);
			line = xstrndup(p, (size_t)(nl - p));
			i++;
			if (route_rule_parse(line, &rule, NULL) == 0 &&
			    rule.pat != ROUTE_PAT_ANY) {
				const char *at = strrchr(rule.pattern, '@');

				probe = xasprintf("x@%s%s",
				    rule.pat == ROUTE_PAT_SUBDOMAIN ? "x." : "",
				    at != NULL ? at + 1 : rule.pattern);
				if (!route_accepted(r, probe))
					fprintf(stderr, "mailpull: warning: "
					    "%s: rule %zu (%s) never matches: "
					    "not in the accepted domains\n",
					    id, i, line);
				free(probe);
			}
			route_rule_clear(&rule);
			free(line);
		}
	}
	rc = 0;
out:
	route_close(&r);
	free(pm);
	free(ld);
	return rc;
}

int
account_route_save(struct store *st, const char *id, struct err *e)
{
	int rc = store_routing_set(st, id, &cur, e);

	routing_clear(&cur);
	return rc;
}

/* Print an LF-separated list joined by sep. */
static void
print_list(FILE *f, const char *list, const char *sep)
{
	const char *p;

	for (p = list; *p != '\0'; p++) {
		if (*p == '\n')
			fputs(sep, f);
		else
			fputc(*p, f);
	}
}

void
account_route_show(struct store *st, const struct account *a, FILE *f)
{
	struct routing rt;
	char *pm = NULL;
	const char *p, *nl;
	size_t i = 0;

	if (store_routing_get(st, a->id, &rt, NULL) == -1)
		return;
	(void)store_setting_get(st, "postmaster", &pm, NULL);
	fprintf(f, "routing:      %s\n", rt.multidrop ?
	    "multidrop (catch-all: recipients from the headers)" : "single");
	if (rt.multidrop || rt.domains != NULL) {
		fprintf(f, "domains:      ");
		print_list(f, rt.domains != NULL ? rt.domains : "-", ", ");
		fputc('\n', f);
	}
	if (rt.multidrop) {
		fprintf(f, "envelope:     ");
		if (rt.envelope_headers != NULL)
			print_list(f, rt.envelope_headers, ", ");
		else {
			print_list(f, ROUTE_DEFAULT_ENVELOPE, ", ");
			fputs(" (default)", f);
		}
		fputc('\n', f);
	}
	for (p = rt.rules != NULL ? rt.rules : ""; *p != '\0';
	    p = *nl != '\0' ? nl + 1 : nl) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		fprintf(f, "%s%zu. %.*s\n", i == 0 ? "rules:        " :
		    "              ", i + 1, (int)(nl - p), p);
		i++;
	}
	if (rt.postmaster != NULL)
		fprintf(f, "postmaster:   %s\n", rt.postmaster);
	else if (rt.multidrop)
		fprintf(f, "postmaster:   %s\n", pm != NULL ? pm :
		    "NONE (mailpull config set postmaster LOCAL)");
	if (rt.reroute_unknown != ROUTING_REROUTE_DEFAULT)
		fprintf(f, "reroute-unknown: %s\n",
		    routing_reroute_name(rt.reroute_unknown));
	free(pm);
	routing_clear(&rt);
}

static void
json_list(FILE *f, const char *list)
{
	const char *p, *nl;
	bool first = true;

	if (list == NULL) {
		fputs("null", f);
		return;
	}
	fputc('[', f);
	for (p = list; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		char *item;

		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		item = xstrndup(p, (size_t)(nl - p));
		if (!first)
			fputs(", ", f);
		json_str(f, item);
		free(item);
		first = false;
	}
	fputc(']', f);
}

void
account_route_json(struct store *st, const struct account *a, FILE *f)
{
	struct routing rt;

	if (store_routing_get(st, a->id, &rt, NULL) == -1)
		return;
	fprintf(f, ", \"multidrop\": %s, \"domains\": ",
	    rt.multidrop ? "true" : "false");
	json_list(f, rt.domains != NULL ? rt.domains : "");
	fputs(", \"envelope_headers\": ", f);
	json_list(f, rt.envelope_headers);
	fputs(", \"rules\": ", f);
	json_list(f, rt.rules != NULL ? rt.rules : "");
	fputs(", \"postmaster\": ", f);
	json_str(f, rt.postmaster);
	fputs(", \"reroute_unknown\": ", f);
	json_str(f, routing_reroute_name(rt.reroute_unknown));
	routing_clear(&rt);
}
