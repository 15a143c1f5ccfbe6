/*
 * check.c - probe an account's local recipients at its target (check.h).
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver/target.h"
#include "fetch/check.h"
#include "route/route.h"
#include "store/checks.h"
#include "store/settings.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define CHECK_LIST_MAX		(64 * 1024)
#define CHECK_DETAIL_MAX	(256 * 1024)

static const char *const check_state_names[] = {
	[CHECK_OK] = "ok",
	[CHECK_GONE] = "gone",
	[CHECK_UNKNOWN] = "unknown",
};

const char *
check_state_name(enum check_state s)
{
	if ((size_t)s >= MP_ARRAY_LEN(check_state_names))
		return "?";
	return check_state_names[s];
}

void
check_result_clear(struct check_result *res)
{
	size_t i;

	for (i = 0; i < res->n; i++) {
		free(res->rcpts[i].addr);
		free(res->rcpts[i].reason);
	}
	free(res->rcpts);
	free(res->target);
	memset(res, 0, sizeof(*res));
}

/* The account's target URI, as a pass would use it; *own_r: mailpull's
 * default Maildir under the state directory. */
static char *
check_target_uri(struct store *st, const struct account *a, bool *own_r,
    struct err *e)
{
	char *target = NULL;

	*own_r = false;
	if (a->target != NULL && a->target[0] != '\0')
		return xstrdup(a->target);
	if (store_setting_get(st, "target", &target, e) == -1)
		return NULL;
	if (target == NULL) {
		target = xasprintf("maildir:%s/mail/%%u/Maildir",
		    store_state_dir(st));
		*own_r = true;
	}
	return target;
}

/* The result as the store keeps it: lists one per line, detail lines. */
static int
check_record(struct store *st, const struct account *a,
    const struct check_result *res, struct err *e)
{
	struct account_check c;
	struct buf gone, unknown, detail;
	const struct check_rcpt *r;
	size_t i;
	int rc;

	buf_init(&gone, CHECK_LIST_MAX);
	buf_init(&unknown, CHECK_LIST_MAX);
	buf_init(&detail, CHECK_DETAIL_MAX);
	for (i = 0; i < res->n; i++) {
		r = &res->rcpts[i];
		if (r->state == CHECK_GONE)
			(void)buf_printf(&gone, "%s%s", gone.len > 0 ? "\n" :
			    "", r->addr);
		else if (r->state == CHECK_UNKNOWN)
			(void)buf_printf(&unknown, "%s%s", unknown.len > 0 ?
			    "\n" : "", r->addr);
		(void)buf_printf(&detail, "%s%s: %s%s%s", detail.len > 0 ?
		    "\n" : "", r->addr, check_state_name(r->state),
		    r->reason != NULL ? ": " : "", r->reason != NULL ?
		    r->reason : "");
	}
	memset(&c, 0, sizeof(c));
	c.checked_at = (int64_t)time(NULL);
	c.gone = gone.len > 0 ? buf_detach(&gone) : NULL;
	c.unknown = unknown.len > 0 ? buf_detach(&unknown) : NULL;
	c.detail = detail.len > 0 ? buf_detach(&detail) : NULL;
	rc = store_check_set(st, a->id, &c, e);
	account_check_clear(&c);
	buf_free(&gone);
	buf_free(&unknown);
	buf_free(&detail);
	return rc;
}

int
check_account_run(struct store *st, const struct account *a,
    struct check_result *res, struct err *e)
{
	struct target_uri turi;
	struct target *t = NULL;
	struct route *r = NULL;
	struct err pe = { 0 };
	char **v = NULL;
	size_t n = 0, i;
	bool own;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&turi, 0, sizeof(turi));
	if ((res->target = check_target_uri(st, a, &own, e)) == NULL)
		goto out;
	if (route_open(&r, st, a, e) == -1)
		goto out;
	if (target_uri_parse(res->target, &turi, e) == -1 ||
	    target_open(&t, &turi, e) == -1) {
		err_prefix(e, "%s", a->id);
		goto out;
	}
	route_static_rcpts(r, &v, &n);
	res->rcpts = xcalloc(n > 0 ? n : 1, sizeof(*res->rcpts));
	for (i = 0; i < n; i++) {
		struct check_rcpt *cr = &res->rcpts[res->n++];

		cr->addr = v[i];
		v[i] = NULL;
		if (target_probe(t, cr->addr, &pe) == 0)
			cr->state = CHECK_OK;
		else if (own && pe.cls == ERR_PERM) {
			/* mailpull's own Maildirs are made at the first
			 * delivery: nobody else's mailbox can have gone */
			cr->state = CHECK_OK;
			cr->reason = xasprintf("%s; made at the first "
			    "delivery", err_msg(&pe));
		} else {
			cr->state = pe.cls == ERR_PERM ? CHECK_GONE :
			    CHECK_UNKNOWN;
			cr->reason = xstrdup(err_msg(&pe));
			if (cr->state == CHECK_GONE)
				res->ngone++;
			else
				res->nunknown++;
		}
		err_clear(&pe);
		log_debug("%s: check %s: %s", a->id, cr->addr,
		    check_state_name(cr->state));
	}
	target_close(&t);	/* QUIT before the store write */
	if (check_record(st, a, res, e) == -1)
		goto out;
	rc = 0;
out:
	route_strv_free(&v, n);
	target_close(&t);
	target_uri_clear(&turi);
	route_close(&r);
	return rc;
}
