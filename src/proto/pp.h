/*
 * pp.h - the shared command/reply ("pingpong") layer, no I/O.
 *
 * Carries POP3, IMAP, SMTP and LMTP: an output queue of CRLF-terminated
 * commands, an input buffer with a bounded line reader and a raw-byte
 * reader (for IMAP literals and message bodies), and a FIFO of the kinds of
 * the commands sent and not yet answered, so pipelined replies are matched
 * to their commands. Each protocol decides where a reply ends; pp only
 * hands out lines and bytes.
 *
 * The driver moves bytes: it writes what pp_output() shows and calls
 * pp_output_consume(), and feeds what it read through pp_input().
 */
#ifndef MP_PP_H
#define MP_PP_H

#include "common.h"
#include "util/buf.h"

#define PP_MAX_PENDING 1024

/* Called for every command queued and every line read, for wire traces.
 * dir is "C" (client) or "S" (server); redacted commands show only their
 * verb followed by " ***". */
typedef void (*pp_trace_fn)(void *arg, const char *dir, const char *line,
    size_t len);

struct pp {
	struct buf in;
	struct buf out;
	size_t line_max;
	int line_flags;
	int pending[PP_MAX_PENDING];
	size_t pend_head, pend_count;
	pp_trace_fn trace;
	void *trace_arg;
};

/* line_max: longest reply line accepted; in_max: input buffer bound
 * (>= line_max + 2); out_max: output queue bound. */
void pp_init(struct pp *, size_t line_max, size_t in_max, size_t out_max);
void pp_free(struct pp *);
void pp_set_trace(struct pp *, pp_trace_fn, void *);

/* Append bytes read from the peer. -1 when the input bound is exceeded. */
int pp_input(struct pp *, const void *, size_t);
/* Room left in the input buffer (how much the driver may read). */
size_t pp_input_room(const struct pp *);
/* Bytes received and not yet consumed (STARTTLS: must be 0 after OK). */
size_t pp_input_pending(const struct pp *);

/*
 * Next line: LINE_READY (1) with *line_r and *len_r (NUL-terminated copy is
 * not made; the line is valid until pp_consume), LINE_MORE, LINE_TOOLONG or
 * LINE_BAD. The caller calls pp_consume(pp, *used_r) once done with it.
 */
int pp_line(struct pp *, const char **line_r, size_t *len_r, size_t *used_r);
/* Up to max raw bytes already received: returns how many (0: need more). */
size_t pp_take(struct pp *, size_t max, const char **data_r);
void pp_consume(struct pp *, size_t n);

/*
 * Queue one command line "<formatted>\r\n" and remember kind in the
 * pending FIFO (kind < 0: nothing is expected back, e.g. a SASL response
 * line counted by the caller). redact_from >= 0 hides the trace from that
 * byte on. -1 when the text holds CR, LF or NUL, the FIFO is full, or the
 * output bound is exceeded.
 */
int pp_send(struct pp *, int kind, int redact_from, const char *fmt, ...)
    MP_PRINTF(4, 5);
/* Queue raw bytes (no CRLF added, nothing pending), e.g. message data. */
int pp_send_raw(struct pp *, const void *, size_t);

/* Expect a reply with nothing sent (e.g. the greeting): push kind (>= 0)
 * on the pending FIFO. -1 when the FIFO is full. */
int pp_expect(struct pp *, int kind);
/* Oldest pending command kind, or -1 when nothing is pending. */
int pp_pending_peek(const struct pp *);
int pp_pending_pop(struct pp *);
size_t pp_pending_count(const struct pp *);

/* The queued output; consume what was written. */
const char *pp_output(const struct pp *, size_t *len_r);
void pp_output_consume(struct pp *, size_t n);

#endif
