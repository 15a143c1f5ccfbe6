/*
 * buf.h - the one growable byte buffer.
 *
 * {data, len, cap, max}: max is fixed at init and appending beyond it is an
 * error returned to the caller (-1), never a truncation and never an abort.
 * data is always NUL-terminated after len (one spare byte is kept), so a
 * buffer holding text can be used as a C string, but it may also hold NULs.
 * A consumed prefix is dropped lazily (off), so consuming is O(1).
 */
#ifndef MP_BUF_H
#define MP_BUF_H

#include "common.h"

struct buf {
	char *data;	/* start of unconsumed bytes == base + off */
	size_t len;	/* unconsumed bytes */
	size_t cap;	/* allocated bytes at base, minus the spare NUL */
	size_t max;	/* bound on len */
	size_t off;	/* consumed prefix */
	char *base;
};

void buf_init(struct buf *, size_t max);
void buf_free(struct buf *);
/* Append n bytes. Returns 0, or -1 when len would exceed max. */
int buf_add(struct buf *, const void *, size_t);
int buf_adds(struct buf *, const char *);
/* Formatted append; -1 when the result would exceed max. */
int buf_printf(struct buf *, const char *, ...) MP_PRINTF(2, 3);
/* Drop n bytes from the front (n <= len). */
void buf_consume(struct buf *, size_t n);
void buf_reset(struct buf *);
/* Make room for n more bytes; returns the write pointer or NULL over max.
 * The caller then calls buf_commit() with the bytes it actually wrote. */
char *buf_reserve(struct buf *, size_t n);
void buf_commit(struct buf *, size_t n);
/* Give the contents away as a NUL-terminated string; the buffer is reset. */
char *buf_detach(struct buf *);

#endif
