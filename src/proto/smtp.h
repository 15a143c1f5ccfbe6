/*
 * smtp.h - the SMTP (RFC 5321) and LMTP (RFC 2033) client engine, no I/O.
 *
 * Built on the shared pingpong layer (proto/pp.h): the driver queues
 * commands, moves bytes between the connection and smtp_pp(), and pulls
 * complete replies with smtp_reply_next(). Commands may be pipelined (RFC
 * 2920) when the server offered PIPELINING: replies come back in order and
 * each names the command it answers.
 *
 * Replies (RFC 5321 section 4.2): one or more lines "DDD-text" ending with
 * "DDD text" (or "DDD" alone); every line must carry the same code, the
 * first digit 2..5. A line is at most SMTP_LINE_MAX bytes, a reply at most
 * SMTP_REPLY_LINES lines; more is a protocol error, as are NUL and bare CR.
 * The engine reads the capabilities from a 250 reply to EHLO/LHLO.
 *
 * Message data: after a 354 reply to DATA, the driver feeds the message (LF
 * form, CRLF and bare CR tolerated) through smtp_data_write() and ends it
 * with smtp_data_end(). The encoder turns every bare LF and bare CR into
 * CRLF and doubles a leading '.', so no byte sequence of the message can
 * end the data early (RFC 5321 sections 2.3.8 and 4.5.2: no "SMTP
 * smuggling"). After the final dot an SMTP server gives one reply, an LMTP
 * server one per accepted RCPT, in RCPT order (RFC 2033 section 4.2):
 * smtp_data_end() takes how many to expect.
 *
 * Reply text pointers stay valid until the next smtp_reply_next() or
 * smtp_free().
 */
#ifndef MP_SMTP_H
#define MP_SMTP_H

#include "common.h"
#include "proto/pp.h"

#define SMTP_LINE_MAX		4096	/* one reply line, CRLF excluded */
#define SMTP_REPLY_LINES	128	/* lines in one reply */
#define SMTP_ADDR_MAX		256	/* RFC 5321 4.5.3.1.3: a path */
#define SMTP_DATA_END_MAX	5	/* "\r\n.\r\n" */

enum smtp_cmd {
	SMTP_GREETING = 0,	/* pseudo-command: the 220 banner */
	SMTP_EHLO,
	SMTP_LHLO,
	SMTP_HELO,
	SMTP_STARTTLS,
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA,		/* the 354 (or refusal) */
	SMTP_DATA_END,		/* reply(s) after the final dot */
	SMTP_RSET,
	SMTP_NOOP,
	SMTP_QUIT,
	SMTP__CMD_COUNT
};

struct smtp_reply {
	enum smtp_cmd cmd;	/* the command it answers */
	int code;		/* 200..599 */
	char esc[16];		/* RFC 3463 enhanced status "5.1.1" or "" */
	/* The text of every line after "DDD " / "DDD-", joined with '\n',
	 * NUL-terminated; the enhanced status code is left in place. */
	const char *text;
	size_t len;
	size_t nlines;
};

/* What the server offered in its EHLO/LHLO reply. */
struct smtp_capa {
	bool pipelining, eightbitmime, smtputf8, starttls, enhanced;
	bool size;		/* SIZE offered; size_max 0: no fixed limit */
	uint64_t size_max;
};

/* MAIL FROM parameters. */
struct smtp_mail_opts {
	bool body_8bitmime;	/* BODY=8BITMIME (RFC 6152) */
	bool smtputf8;		/* SMTPUTF8 (RFC 6531) */
	uint64_t size;		/* SIZE=n (RFC 1870) when > 0 */
};

/* The DATA encoder's state: O(1), survives any chunking. */
struct smtp_enc {
	bool bol;		/* at the beginning of a line */
	bool cr;		/* a CR was seen, its line end not written */
};

struct smtp;

/* lmtp: speak LMTP (LHLO; one reply per recipient after the data). The
 * engine expects the server's greeting first. */
struct smtp *smtp_create(bool lmtp);
void smtp_free(struct smtp **);
struct pp *smtp_pp(struct smtp *);
bool smtp_is_lmtp(const struct smtp *);

/*
 * Queue a command without arguments (DATA, RSET, NOOP, QUIT, STARTTLS) or
 * the greeting command (EHLO/LHLO/HELO with domain as its argument). -1
 * when the command needs another form, the argument holds a space,
 * control characters or is too long, or a bound is hit.
 */
int smtp_send(struct smtp *, enum smtp_cmd, const char *domain);
/* "MAIL FROM:<from>" with opts (may be NULL); from "" is the null
 * sender. -1 when smtp_addr_check() refuses from or a bound is hit. */
int smtp_send_mail(struct smtp *, const char *from,
    const struct smtp_mail_opts *);
/* "RCPT TO:<to>"; -1 when to is refused (smtp_addr_check, or empty). */
int smtp_send_rcpt(struct smtp *, const char *to);

/*
 * An address fit for "<...>": at most SMTP_ADDR_MAX bytes, no control
 * character (CR, LF, NUL, ...), no '<' or '>' and no whitespace outside a
 * quoted local part. 8-bit bytes are allowed (SMTPUTF8 is the driver's
 * business). 0 good, -1 refused.
 */
int smtp_addr_check(const char *);
/* True when the address holds 8-bit bytes (needs SMTPUTF8). */
bool smtp_addr_8bit(const char *);

/*
 * Next complete reply: 1 (r filled), 0 need more input, -1 protocol error
 * (malformed or inconsistent code, line too long, too many lines, NUL,
 * bare CR, a reply with nothing pending) with a static reason in *cause_r.
 * After a 250 to EHLO/LHLO the capabilities are updated.
 */
int smtp_reply_next(struct smtp *, struct smtp_reply *r,
    const char **cause_r);
const struct smtp_capa *smtp_capa(const struct smtp *);
/* Forget the capabilities (after STARTTLS: ask again, RFC 3207 4.2). */
void smtp_capa_clear(struct smtp *);

/* Message data, after a 354: encode and queue. -1 on the output bound
 * (the driver writes the output out between chunks of at most
 * SMTP_DATA_CHUNK input bytes). */
#define SMTP_DATA_CHUNK		(64 * 1024)
int smtp_data_write(struct smtp *, const void *, size_t);
/* Queue the end of data (a CRLF first if the message did not end with a
 * line end, then ".\r\n") and expect nreplies replies (SMTP: 1; LMTP: the
 * accepted recipients; at least 1). */
int smtp_data_end(struct smtp *, size_t nreplies);

/* The encoder on its own. out must have room for 2 * n bytes; returns
 * the bytes written. */
void smtp_enc_init(struct smtp_enc *);
size_t smtp_enc_encode(struct smtp_enc *, const void *in, size_t n,
    char *out);
/* out: SMTP_DATA_END_MAX bytes; returns the bytes written. */
size_t smtp_enc_finish(struct smtp_enc *, char *out);

/* RFC 3463: "c.s.d" at the start of text (c 2, 4 or 5, s and d of 1 to 3
 * digits), followed by a space or the end. Copies it and returns its
 * length, or 0. */
size_t smtp_esc_parse(const char *text, size_t len, char out[16]);

const char *smtp_cmd_name(enum smtp_cmd);

#endif
