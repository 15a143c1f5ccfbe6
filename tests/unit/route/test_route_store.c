/*
 * test_route_store.c - groups and account routing in the store, and
 * route_open() reading them with the settings.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route/route.h"
#include "store/routing.h"
#include "store/settings.h"
#include "store/store.h"
#include "util/err.h"
#include "util/xmalloc.h"

#include "../store/tmpdir.h"

struct fx {
	char *dir;
	struct store *st;
};

static int
setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct err e = { 0 };
	struct account a;

	f->dir = tmpdir_make();
	if (store_open(&f->st, f->dir, &e) == -1)
		fail_msg("store_open: %s", err_msg(&e));
	account_init(&a);
	a.id = xstrdup("box@provider.example");
	a.host = xstrdup("pop.provider.example");
	a.user = xstrdup("box");
	if (store_account_add(f->st, &a, &e) == -1)
		fail_msg("account add: %s", err_msg(&e));
	account_clear(&a);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(&f->st);
	tmpdir_remove(&f->dir);
	free(f);
	return 0;
}

static void
test_groups(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	char alice[] = "alice", bob[] = "bob@b.example", carol[] = "carol";
	char *m1[] = { alice, bob };
	char *m2[] = { carol };
	char **v = NULL;
	size_t n = 0;
	int64_t c0, c1;

	assert_int_equal(store_change_get(f->st, &c0, &e), 0);
	assert_int_equal(store_group_add(f->st, "sales", m1, 2, &e), 0);
	assert_int_equal(store_change_get(f->st, &c1, &e), 0);
	assert_true(c1 > c0);
	assert_int_equal(store_group_add(f->st, "sales", m2, 1, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(err_msg(&e), "already exists"));
	err_clear(&e);
	assert_int_equal(store_group_add(f->st, "empty", m2, 0, &e), -1);
	err_clear(&e);
	assert_int_equal(store_group_add(f->st, "ops", m2, 1, &e), 0);

	assert_int_equal(store_group_get(f->st, "sales", &v, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "alice");
	assert_string_equal(v[1], "bob@b.example");
	store_strv_free(&v, n);

	assert_int_equal(store_group_list(f->st, &v, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "ops");
	assert_string_equal(v[1], "sales");
	store_strv_free(&v, n);

	assert_int_equal(store_group_set(f->st, "sales", m2, 1, &e), 0);
	assert_int_equal(store_group_get(f->st, "sales", &v, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "carol");
	store_strv_free(&v, n);
	assert_int_equal(store_group_set(f->st, "nosuch", m2, 1, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	err_clear(&e);

	assert_int_equal(store_group_delete(f->st, "ops", &e), 0);
	assert_int_equal(store_group_delete(f->st, "ops", &e), -1);
	assert_non_null(strstr(err_msg(&e), "no such group ops"));
	err_clear(&e);
	assert_int_equal(store_group_get(f->st, "ops", &v, &n, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	err_clear(&e);
}

static void
test_routing_open(void **state)
{
	struct fx *f = *state;
	struct err e = { 0 };
	struct routing rt = { 0 }, back;
	struct account a;
	struct route *r;
	struct route_result res;
	char alice[] = "alice", bob[] = "bob";
	char *m[] = { alice, bob };
	const char *msg;

	/* no row: single mode, default recipient */
	assert_int_equal(store_routing_get(f->st, "box@provider.example", &rt,
	    &e), 0);
	assert_false(rt.multidrop);
	assert_null(rt.domains);
	account_init(&a);
	assert_int_equal(store_account_get(f->st, "box@provider.example", &a,
	    &e), 0);
	assert_int_equal(route_open(&r, f->st, &a, &e), 0);
	assert_int_equal(route_message_mem(r, "", 0, &res, &e), 0);
	assert_int_equal(res.n, 1);
	assert_string_equal(res.rcpts[0], "box@provider.example");
	route_result_clear(&res);
	route_close(&r);

	/* settings, groups and the account's routing */
	assert_int_equal(store_setting_set(f->st, "local-domain",
	    "Local.Example", &e), 0);
	assert_int_equal(store_setting_set(f->st, "postmaster", "admin", &e),
	    0);
	assert_int_equal(store_group_add(f->st, "team", m, 2, &e), 0);
	rt.multidrop = true;
	rt.domains = xstrdup("a.example\nb.example");
	rt.rules = xstrdup("team@a.example > @team\n*@b.example > drop");
	assert_int_equal(store_routing_set(f->st, "box@provider.example", &rt,
	    &e), 0);
	assert_int_equal(store_routing_get(f->st, "box@provider.example",
	    &back, &e), 0);
	assert_true(back.multidrop);
	assert_string_equal(back.domains, "a.example\nb.example");
	assert_string_equal(back.rules, rt.rules);
	assert_null(back.envelope_headers);
	assert_null(back.postmaster);
	routing_clear(&back);

	assert_int_equal(route_open(&r, f->st, &a, &e), 0);
	assert_string_equal(route_postmaster(r), "admin@local.example");
	msg = "Delivered-To: team@a.example\n\n";
	assert_int_equal(route_message_mem(r, msg, strlen(msg), &res, &e), 0);
	assert_int_equal(res.n, 2);
	assert_string_equal(res.rcpts[0], "alice@local.example");
	assert_string_equal(res.rcpts[1], "bob@local.example");
	route_result_clear(&res);
	msg = "To: x@nowhere.example\n\n";
	assert_int_equal(route_message_mem(r, msg, strlen(msg), &res, &e), 0);
	assert_int_equal(res.n, 1);
	assert_string_equal(res.rcpts[0], "admin@local.example");
	route_result_clear(&res);
	route_close(&r);

	/* the account's postmaster overrides the setting */
	rt.postmaster = xstrdup("boss@b.example");
	assert_int_equal(store_routing_set(f->st, "box@provider.example", &rt,
	    &e), 0);
	assert_int_equal(route_open(&r, f->st, &a, &e), 0);
	assert_string_equal(route_postmaster(r), "boss@b.example");
	route_close(&r);

	/* a deleted group makes route_open fail with ERR_CONFIG */
	assert_int_equal(store_group_delete(f->st, "team", &e), 0);
	assert_int_equal(route_open(&r, f->st, &a, &e), -1);
	assert_int_equal(e.cls, ERR_CONFIG);
	assert_non_null(strstr(err_msg(&e), "no such group team"));
	assert_non_null(strstr(err_msg(&e), "box@provider.example"));
	err_clear(&e);

	/* deleting the account deletes its routing */
	assert_int_equal(store_account_delete(f->st, "box@provider.example",
	    &e), 0);
	assert_int_equal(store_routing_get(f->st, "box@provider.example",
	    &back, &e), 0);
	assert_false(back.multidrop);
	assert_null(back.rules);
	routing_clear(&back);
	routing_clear(&rt);
	account_clear(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routing_open, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
