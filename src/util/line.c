#include "common.h"

#include <string.h>

#include "util/line.h"

int
line_get(const struct buf *b, size_t max, int flags, const char **line_r,
    size_t *len_r, size_t *used_r)
{
	const char *p, *lf;
	size_t scan, lim, n, i;

	if (b->len == 0)
		return LINE_MORE;
	p = b->data;
	/* Look at most max + 2 bytes: the line and its CRLF. */
	lim = max > SIZE_MAX - 2 ? SIZE_MAX : max + 2;
	scan = b->len < lim ? b->len : lim;
	lf = memchr(p, '\n', scan);
	if (lf == NULL)
		return b->len >= lim ? LINE_TOOLONG : LINE_MORE;
	n = (size_t)(lf - p);
	*used_r = n + 1;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	else if (!(flags & LINE_ALLOW_LF))
		return LINE_BAD;
	if (n > max)
		return LINE_TOOLONG;
	if (!(flags & (LINE_ALLOW_NUL | LINE_ALLOW_CR))) {
		for (i = 0; i < n; i++)
			if (p[i] == '\0' || p[i] == '\r')
				return LINE_BAD;
	} else if (!(flags & LINE_ALLOW_NUL)) {
		if (memchr(p, '\0', n) != NULL)
			return LINE_BAD;
	} else if (!(flags & LINE_ALLOW_CR)) {
		if (memchr(p, '\r', n) != NULL)
			return LINE_BAD;
	}
	*line_r = p;
	*len_r = n;
	return LINE_READY;
}
