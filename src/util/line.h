/*
 * line.h - the bounded line reader over a struct buf.
 *
 * Three outcomes: a line, need more, too long (plus malformed). A line is
 * returned without its terminator; the caller consumes *used_r bytes from
 * the buffer once it is done with the line.
 */
#ifndef MP_LINE_H
#define MP_LINE_H

#include "common.h"
#include "util/buf.h"

#define LINE_ALLOW_LF	0x1	/* a bare LF ends a line too */
#define LINE_ALLOW_NUL	0x2	/* NUL inside a line is not an error */
#define LINE_ALLOW_CR	0x4	/* a bare CR inside a line is not an error */

#define LINE_READY	1
#define LINE_MORE	0
#define LINE_TOOLONG	(-1)	/* no terminator within max bytes */
#define LINE_BAD	(-2)	/* NUL or bare CR where forbidden */

/*
 * Look for one line in b of at most max bytes (terminator excluded).
 * On LINE_READY: *line_r and *len_r are the line (not NUL-terminated in general:
 * the terminator byte is still in the buffer), *used_r the bytes to consume.
 */
int line_get(const struct buf *b, size_t max, int flags, const char **line_r,
    size_t *len_r, size_t *used_r);

#endif
