/*
 * dotstream.h - POP3 multi-line data (RFC 1939 section 3), streamed.
 *
 * Turns the bytes after a +OK status line into message bytes: removes the
 * byte-stuffed leading '.', converts CRLF line ends to LF (a bare LF is
 * accepted as a line end too; a bare CR inside a line is kept as is), and
 * finds the terminating "CRLF.CRLF" across arbitrary chunk boundaries. The
 * matcher keeps a few bytes of state, never a line, so lines of any length
 * pass through in bounded memory.
 */
#ifndef MP_DOTSTREAM_H
#define MP_DOTSTREAM_H

#include "common.h"

struct dotstream {
	int state;
	bool done;
};

void dotstream_init(struct dotstream *);
/*
 * Feed in[0..inlen). Decoded bytes are written to out (capacity outcap,
 * >= inlen + 1: a CR held back at the end of the previous chunk may be
 * written before this chunk's bytes). Returns the number of input bytes
 * consumed (== inlen unless the terminator was found, then the bytes up to
 * and including it) and sets *outlen_r. Once the terminator is consumed,
 * ds->done is true and nothing more is consumed. With a smaller outcap,
 * fewer bytes are consumed, never more written than outcap.
 *
 * Tolerance: besides CRLF.CRLF, a bare LF counts as a line end, so the
 * LF-only terminator "\n.\n" of some broken servers ends the data too.
 */
size_t dotstream_feed(struct dotstream *, const char *in, size_t inlen,
    char *out, size_t outcap, size_t *outlen_r);

#endif
