#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->base);
	memset(b, 0, sizeof(*b));
}

void
buf_reset(struct buf *b)
{
	b->off = 0;
	b->len = 0;
	b->data = b->base;
	if (b->base != NULL)
		b->base[0] = '\0';
}

char *
buf_reserve(struct buf *b, size_t n)
{
	size_t need, ncap;

	if (n > b->max || b->len > b->max - n)
		return NULL;
	need = b->len + n;
	if (b->off > 0 && b->off + need > b->cap) {
		/* Slide unconsumed bytes to the front before growing. */
		memmove(b->base, b->data, b->len);
		b->off = 0;
		b->data = b->base;
	}
	if (b->off + need > b->cap || b->base == NULL) {
		ncap = b->cap < 256 ? 256 : b->cap;
		while (ncap < need)
			ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
		if (ncap > b->max && need <= b->max)
			ncap = b->max > need ? b->max : need;
		b->base = xrealloc(b->base, ncap + 1);
		b->cap = ncap;
		b->data = b->base + b->off;
	}
	return b->data + b->len;
}

void
buf_commit(struct buf *b, size_t n)
{
	if (n > b->cap - b->off - b->len)
		fatalx("buf_commit: %zu bytes beyond reservation", n);
	b->len += n;
	b->data[b->len] = '\0';
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	char *w;

	if (n == 0) {
		if (buf_reserve(b, 0) == NULL)
			return -1;
		b->data[b->len] = '\0';
		return 0;
	}
	if ((w = buf_reserve(b, n)) == NULL)
		return -1;
	memcpy(w, p, n);
	buf_commit(b, n);
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[512], *big;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_add(b, small, (size_t)n);
	big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	(void)vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	r = buf_add(b, big, (size_t)n);
	free(big);
	return r;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		fatalx("buf_consume: %zu > %zu", n, b->len);
	b->len -= n;
	if (b->len == 0) {
		b->off = 0;
		b->data = b->base;
	} else {
		b->off += n;
		b->data += n;
	}
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

char *
buf_detach(struct buf *b)
{
	char *s;

	if (b->base == NULL)
		return xstrdup("");
	if (b->off > 0)
		memmove(b->base, b->data, b->len + 1);
	s = b->base;
	b->base = b->data = NULL;
	b->len = b->cap = b->off = 0;
	return s;
}
