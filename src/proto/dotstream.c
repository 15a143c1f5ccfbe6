#include "common.h"

#include <string.h>

#include "proto/dotstream.h"

/*
 * RFC 1939 section 3: a multi-line response is a series of CRLF-terminated
 * lines; a line beginning with the termination octet '.' is byte-stuffed
 * (the first '.' is removed on receipt) and ".CRLF" alone ends the
 * response. The CRLF before the terminator belongs to the last line.
 *
 * The matcher remembers only where it is in a line, never the line:
 *   BOL     at the beginning of a line (also at the very start: the status
 *           line's CRLF precedes the data, so ".\r\n" first is an empty
 *           message);
 *   DOT     a '.' at the beginning of a line, not yet written;
 *   DOT_CR  ".\r" at the beginning of a line: the terminator if LF follows;
 *   MID     inside a line;
 *   CR      a CR inside a line, not yet written: a line end if LF follows,
 *           otherwise a bare CR kept as data.
 * So at most one byte of output (a CR) is ever held back.
 */
enum {
	DS_BOL = 0,
	DS_DOT,
	DS_DOT_CR,
	DS_MID,
	DS_CR,
};

void
dotstream_init(struct dotstream *ds)
{
	memset(ds, 0, sizeof(*ds));
	ds->state = DS_BOL;
}

/*
 * One input byte: what it writes (emit, up to 2 bytes) and the next state.
 * Returns true when the byte completes the terminator.
 */
static bool
dotstream_step(int state, char c, char emit[2], size_t *nemit_r,
    int *state_r)
{
	size_t n = 0;

	switch (state) {
	case DS_BOL:
		if (c == '.') {
			*state_r = DS_DOT;
			break;
		}
		/* FALLTHROUGH */
	case DS_MID:
		if (c == '\r')
			*state_r = DS_CR;
		else if (c == '\n') {
			emit[n++] = '\n';
			*state_r = DS_BOL;
		} else {
			emit[n++] = c;
			*state_r = DS_MID;
		}
		break;
	case DS_DOT:
		if (c == '\r')
			*state_r = DS_DOT_CR;
		else if (c == '\n') {
			/* ".\n": LF-only terminator (broken servers). */
			*nemit_r = 0;
			return true;
		} else {
			/* Stuffed line: the first '.' is dropped, c is data
			 * (".." gives "."). */
			emit[n++] = c;
			*state_r = DS_MID;
		}
		break;
	case DS_DOT_CR:
		if (c == '\n') {
			*nemit_r = 0;
			return true;
		}
		/* ".\r" then something else: the dot was stuffing, the CR a
		 * bare CR kept as data. */
		emit[n++] = '\r';
		if (c == '\r')
			*state_r = DS_CR;
		else {
			emit[n++] = c;
			*state_r = DS_MID;
		}
		break;
	case DS_CR:
	default:
		if (c == '\n') {
			emit[n++] = '\n';
			*state_r = DS_BOL;
		} else if (c == '\r') {
			/* The held CR was bare; the new one is held. */
			emit[n++] = '\r';
			*state_r = DS_CR;
		} else {
			emit[n++] = '\r';
			emit[n++] = c;
			*state_r = DS_MID;
		}
		break;
	}
	*nemit_r = n;
	return false;
}

size_t
dotstream_feed(struct dotstream *ds, const char *in, size_t inlen, char *out,
    size_t outcap, size_t *outlen_r)
{
	size_t i, o = 0, n;
	char emit[2];
	int next;

	*outlen_r = 0;
	if (ds->done)
		return 0;
	for (i = 0; i < inlen; i++) {
		if (ds->state == DS_MID) {
			/* Fast path: copy the plain run of a line. Both
			 * searches stop at this line's end, so the whole
			 * feed stays linear (memchr is vectorised; a byte
			 * loop here was 40 % of a POP3 pass). */
			size_t run, max = MP_MIN(inlen - i, outcap - o);
			const char *lf, *cr;

			lf = memchr(in + i, '\n', max);
			run = lf != NULL ? (size_t)(lf - (in + i)) : max;
			cr = memchr(in + i, '\r', run);
			if (cr != NULL)
				run = (size_t)(cr - (in + i));
			if (run > 0) {
				memcpy(out + o, in + i, run);
				o += run;
				i += run;
				if (i == inlen)
					break;
			}
		}
		next = ds->state;
		if (dotstream_step(ds->state, in[i], emit, &n, &next)) {
			ds->done = true;
			i++;
			break;
		}
		if (n > outcap - o)
			break;
		if (n > 0) {
			memcpy(out + o, emit, n);
			o += n;
		}
		ds->state = next;
	}
	*outlen_r = o;
	return i;
}
