#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/err.h"
#include "util/xmalloc.h"

static const char *const err_names[ERR__COUNT] = {
	[ERR_NONE] = "ok",
	[ERR_INTERNAL] = "internal",
	[ERR_CONFIG] = "config",
	[ERR_DNS] = "dns",
	[ERR_CONNECT] = "connect",
	[ERR_TLS] = "tls",
	[ERR_TIMEOUT] = "timeout",
	[ERR_PROTOCOL] = "protocol",
	[ERR_AUTH] = "auth",
	[ERR_TEMP] = "temporary",
	[ERR_PERM] = "permanent",
	[ERR_LOCAL] = "local-delivery",
	[ERR_BUSY] = "busy",
};

const char *
err_class_name(enum err_class c)
{
	if ((unsigned)c >= ERR__COUNT)
		return "unknown";
	return err_names[c];
}

int
err_set(struct err *e, enum err_class cls, const char *fmt, ...)
{
	va_list ap;
	char *m;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = xstrdup("(error formatting error)");
	va_end(ap);
	free(e->msg);
	e->msg = m;
	e->cls = cls;
	return -1;
}

void
err_prefix(struct err *e, const char *fmt, ...)
{
	va_list ap;
	char *p, *m;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		p = xstrdup("");
	va_end(ap);
	m = xasprintf("%s: %s", p, e->msg != NULL ? e->msg : "error");
	free(p);
	free(e->msg);
	e->msg = m;
}

void
err_clear(struct err *e)
{
	if (e == NULL)
		return;
	free(e->msg);
	e->msg = NULL;
	e->cls = ERR_NONE;
}

const char *
err_msg(const struct err *e)
{
	return e != NULL && e->msg != NULL ? e->msg : "";
}
