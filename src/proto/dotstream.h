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
 * must be >= inlen: decoding never grows). Returns the number of input bytes
 * consumed (== inlen unless the terminator was found, then the bytes up to
 * and including it) and sets *outlen_r. Once the terminator is consumed,
 * ds->done is true and nothing more is consumed.
 */
size_t dotstream_feed(struct dotstream *, const char *in, size_t inlen,
    char *out, size_t outcap, size_t *outlen_r);

#endif
