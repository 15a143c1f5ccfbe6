/*
 * route_store.c - route_open(): an account's routing from the store
 * (store/routing.h, store/settings.h). Kept apart from route.c so that the
 * routing logic can be tested without a store.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "route/route.h"
#include "store/routing.h"
#include "store/settings.h"
#include "store/store.h"

static int
group_from_store(void *arg, const char *name, char ***members_r,
    size_t *n_r, struct err *e)
{
	return store_group_get(arg, name, members_r, n_r, e);
}

int
route_open(struct route **r_r, struct store *st, const struct account *a,
    struct err *e)
{
	struct route_config cfg = { 0 };
	struct routing rt = { 0 };
	char *pm = NULL, *ld = NULL, *rr = NULL;
	int rc = -1;

	*r_r = NULL;
	if (store_routing_get(st, a->id, &rt, e) == -1 ||
	    store_setting_get(st, "postmaster", &pm, e) == -1 ||
	    store_setting_get(st, "local-domain", &ld, e) == -1)
		goto out;
	cfg.account = a->id;
	cfg.deliver_to = a->deliver_to;
	cfg.multidrop = rt.multidrop;
	cfg.domains = rt.domains;
	cfg.envelope_headers = rt.envelope_headers;
	cfg.rules = rt.rules;
	cfg.postmaster = rt.postmaster != NULL ? rt.postmaster : pm;
	cfg.local_domain = ld;
	cfg.group_get = group_from_store;
	cfg.group_arg = st;
	/* reroute-unknown: the account's choice, else the setting (yes) */
	if (rt.reroute_unknown == ROUTING_REROUTE_DEFAULT) {
		if (store_setting_get(st, "reroute-unknown", &rr, e) == -1)
			goto out;
		cfg.no_reroute_unknown = rr != NULL && strcmp(rr, "no") == 0;
	} else
		cfg.no_reroute_unknown =
		    rt.reroute_unknown == ROUTING_REROUTE_NO;
	if ((rc = route_create(r_r, &cfg, e)) == -1)
		err_prefix(e, "routing of %s", a->id);
out:
	free(rr);
	free(pm);
	free(ld);
	routing_clear(&rt);
	return rc;
}
