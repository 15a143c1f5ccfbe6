#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/pp.h"
#include "util/line.h"
#include "util/log.h"
#include "util/xmalloc.h"

void
pp_init(struct pp *pp, size_t line_max, size_t in_max, size_t out_max)
{
	memset(pp, 0, sizeof(*pp));
	if (in_max < line_max + 2)
		in_max = line_max + 2;
	buf_init(&pp->in, in_max);
	buf_init(&pp->out, out_max);
	pp->line_max = line_max;
}

void
pp_free(struct pp *pp)
{
	buf_free(&pp->in);
	buf_free(&pp->out);
	pp->pend_count = 0;
}

void
pp_set_trace(struct pp *pp, pp_trace_fn fn, void *arg)
{
	pp->trace = fn;
	pp->trace_arg = arg;
}

int
pp_input(struct pp *pp, const void *p, size_t n)
{
	return buf_add(&pp->in, p, n);
}

size_t
pp_input_room(const struct pp *pp)
{
	return pp->in.max - pp->in.len;
}

size_t
pp_input_pending(const struct pp *pp)
{
	return pp->in.len;
}

int
pp_line(struct pp *pp, const char **line_r, size_t *len_r, size_t *used_r)
{
	int r;

	r = line_get(&pp->in, pp->line_max, pp->line_flags, line_r, len_r,
	    used_r);
	if (r == LINE_READY && pp->trace != NULL)
		pp->trace(pp->trace_arg, "S", *line_r, *len_r);
	return r;
}

size_t
pp_take(struct pp *pp, size_t max, const char **data_r)
{
	size_t n = pp->in.len < max ? pp->in.len : max;

	*data_r = pp->in.data;
	return n;
}

void
pp_consume(struct pp *pp, size_t n)
{
	buf_consume(&pp->in, n);
}

int
pp_send(struct pp *pp, int kind, int redact_from, const char *fmt, ...)
{
	char small[1024], *line = small;
	va_list ap;
	int n;
	int rc = -1;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n >= sizeof(small)) {
		line = xmalloc((size_t)n + 1);
		va_start(ap, fmt);
		(void)vsnprintf(line, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	/* An argument must never smuggle a second command. */
	if (memchr(line, '\r', (size_t)n) != NULL ||
	    memchr(line, '\n', (size_t)n) != NULL ||
	    strlen(line) != (size_t)n)
		goto out;
	if (kind >= 0 && pp->pend_count >= PP_MAX_PENDING)
		goto out;
	if (pp->out.len + (size_t)n + 2 > pp->out.max)
		goto out;
	if (buf_add(&pp->out, line, (size_t)n) == -1 ||
	    buf_add(&pp->out, "\r\n", 2) == -1)
		goto out;
	if (kind >= 0) {
		pp->pending[(pp->pend_head + pp->pend_count) % PP_MAX_PENDING] =
		    kind;
		pp->pend_count++;
	}
	if (pp->trace != NULL) {
		if (redact_from >= 0 && redact_from < n) {
			char red[256];
			int m = snprintf(red, sizeof(red), "%.*s***",
			    redact_from > 200 ? 200 : redact_from, line);
			if (m > 0)
				pp->trace(pp->trace_arg, "C", red,
				    (size_t)m < sizeof(red) ? (size_t)m :
				    sizeof(red) - 1);
		} else
			pp->trace(pp->trace_arg, "C", line, (size_t)n);
	}
	rc = 0;
out:
	if (line != small) {
		explicit_bzero(line, (size_t)n);
		free(line);
	} else
		explicit_bzero(small, sizeof(small));
	return rc;
}

int
pp_send_raw(struct pp *pp, const void *p, size_t n)
{
	return buf_add(&pp->out, p, n);
}

int
pp_expect(struct pp *pp, int kind)
{
	if (kind < 0 || pp->pend_count >= PP_MAX_PENDING)
		return -1;
	pp->pending[(pp->pend_head + pp->pend_count) % PP_MAX_PENDING] = kind;
	pp->pend_count++;
	return 0;
}

int
pp_pending_peek(const struct pp *pp)
{
	if (pp->pend_count == 0)
		return -1;
	return pp->pending[pp->pend_head];
}

int
pp_pending_pop(struct pp *pp)
{
	int k;

	if (pp->pend_count == 0)
		return -1;
	k = pp->pending[pp->pend_head];
	pp->pend_head = (pp->pend_head + 1) % PP_MAX_PENDING;
	pp->pend_count--;
	return k;
}

size_t
pp_pending_count(const struct pp *pp)
{
	return pp->pend_count;
}

const char *
pp_output(const struct pp *pp, size_t *len_r)
{
	*len_r = pp->out.len;
	return pp->out.data;
}

void
pp_output_consume(struct pp *pp, size_t n)
{
	/* Wipe what was sent: it may have held credentials. */
	if (n > 0 && pp->out.data != NULL)
		explicit_bzero(pp->out.data, n);
	buf_consume(&pp->out, n);
}
