/*
 * pop3.h - the POP3 client engine (RFC 1939, 2449, 2595, 5034), no I/O.
 *
 * The driver queues commands (which may be pipelined when the server
 * advertised PIPELINING), moves bytes between the connection and the engine
 * (through the engine's struct pp), and pulls events. The engine knows for
 * each pending command whether its +OK starts a multi-line response, so it
 * can split the input stream into events without the driver's help.
 *
 * Limits: a status or listing line is at most POP3_LINE_MAX bytes (longer:
 * protocol error); message data is streamed in chunks of any length.
 *
 * Event pointers (text, data) stay valid until the next pop3_event_next().
 */
#ifndef MP_POP3_H
#define MP_POP3_H

#include "common.h"
#include "proto/pp.h"

#define POP3_LINE_MAX 8192
#define POP3_UIDL_MAX 70	/* RFC 1939: 1 to 70 chars 0x21..0x7E */

enum pop3_cmd {
	POP3_GREETING = 0,	/* pseudo-command: the server's greeting */
	POP3_CAPA,		/* multi-line */
	POP3_STLS,
	POP3_USER,
	POP3_PASS,
	POP3_APOP,
	POP3_AUTH,		/* AUTH mech [initial-response] */
	POP3_AUTH_RESP,		/* a SASL response line ("*" cancels) */
	POP3_STAT,
	POP3_UIDL,		/* without argument: multi-line */
	POP3_LIST,		/* without argument: multi-line */
	POP3_RETR,		/* multi-line message data */
	POP3_TOP,		/* multi-line message data */
	POP3_DELE,
	POP3_RSET,
	POP3_NOOP,
	POP3_QUIT,
	POP3__CMD_COUNT
};

/* RFC 2449 / 3206 response codes. */
enum pop3_code {
	POP3_CODE_NONE = 0,
	POP3_CODE_IN_USE,
	POP3_CODE_LOGIN_DELAY,
	POP3_CODE_SYS_TEMP,
	POP3_CODE_SYS_PERM,
	POP3_CODE_AUTH,
	POP3_CODE_OTHER,
};

enum pop3_ev_kind {
	POP3_EV_STATUS,	/* +OK / -ERR status line of cmd (ok, code, text) */
	POP3_EV_CONT,	/* "+ base64" SASL continuation for AUTH (text) */
	POP3_EV_LINE,	/* one line of a multi-line listing (CAPA, UIDL,
			 * LIST): text/len, dot-unstuffed, no CRLF */
	POP3_EV_DATA,	/* a chunk of RETR/TOP message data, LF form */
	POP3_EV_END,	/* end of a multi-line response of cmd */
};

struct pop3_event {
	enum pop3_ev_kind kind;
	enum pop3_cmd cmd;
	bool ok;
	enum pop3_code code;
	const char *text;	/* status text after "+OK "/"-ERR ", listing
				 * line, or data chunk */
	size_t len;
};

struct pop3;

struct pop3 *pop3_create(void);
void pop3_free(struct pop3 **);
/* The command/reply layer: the driver reads pp_output()/calls pp_input()
 * on it, and may set a trace. */
struct pp *pop3_pp(struct pop3 *);

/*
 * Queue a command. arg may be NULL; it is appended after a space. Commands
 * with secrets (PASS, APOP, AUTH with initial response, AUTH_RESP) are
 * redacted in traces. Returns -1 when arg holds CR/LF/NUL or a bound is hit.
 * multi: for UIDL/LIST/TOP with/without argument the engine decides; RETR,
 * TOP, CAPA are multi-line on +OK; UIDL and LIST are multi-line when arg is
 * NULL.
 */
int pop3_send(struct pop3 *, enum pop3_cmd, const char *arg);

/*
 * Next event: 1 event filled, 0 need more input, -1 protocol error (bad
 * status line, line too long, NUL, unexpected data with nothing pending);
 * the reason is in *cause_r (static string).
 */
int pop3_event_next(struct pop3 *, struct pop3_event *, const char **cause_r);

/* Helpers for listing lines. 0 or -1 on a malformed line. */
/* "n uidl": n in 1..UINT32_MAX, uidl 1..70 chars of 0x21..0x7E. */
int pop3_parse_uidl(const char *line, size_t len, uint32_t *msgno_r,
    char uid_r[POP3_UIDL_MAX + 1]);
/* "n size" (LIST line or the text of a "+OK n size" reply). */
int pop3_parse_list(const char *line, size_t len, uint32_t *msgno_r,
    uint64_t *size_r);
/* STAT "+OK count size" text. */
int pop3_parse_stat(const char *text, size_t len, uint32_t *count_r,
    uint64_t *size_r);
/* The greeting's APOP timestamp "<...>" if any (copied, bounded). */
int pop3_parse_apop_stamp(const char *text, size_t len, char *out,
    size_t outcap);

/* Capabilities from CAPA lines. */
struct pop3_capa {
	bool stls, uidl, top, pipelining, resp_codes, user;
	bool sasl_plain, sasl_login, sasl_cram_md5, sasl_xoauth2,
	    sasl_oauthbearer;
	bool login_delay_set;
	long login_delay;
	char impl[128];
};
void pop3_capa_clear(struct pop3_capa *);
void pop3_capa_line(struct pop3_capa *, const char *line, size_t len);

const char *pop3_cmd_name(enum pop3_cmd);
const char *pop3_code_name(enum pop3_code);

#endif
