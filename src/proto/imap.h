/*
 * imap.h - the IMAP4rev1 client engine (RFC 3501, 9051 subset), no I/O.
 *
 * The driver queues commands with imap_cmd_*(), moves bytes between the
 * connection and the engine's struct pp (imap_pp(): write pp_output() and
 * call pp_output_consume(); read at most pp_input_room() bytes and give them
 * to pp_input()), and pulls events with imap_event_next() until it returns
 * 0 (need more input) or -1 (protocol error: end the session).
 *
 * Commands get tags "A0001", "A0002", ... (imap_tag_last() tells the one
 * just queued); every tagged completion event carries the tag and the
 * command kind. Commands may be pipelined; the engine never lets a command
 * overtake a synchronizing literal: while it waits for the server's "+"
 * continuation, everything queued after it waits in the engine too and is
 * released to pp's output queue when the "+" arrives (imap_output_waiting()
 * tells whether something is held back). A "+" that the engine used this
 * way produces no event.
 *
 * Arguments (user names, passwords, mailbox names) are sent as an atom, a
 * quoted string (printable ASCII without '"' and '\'), or a literal (any
 * other byte, 8-bit included): "{n}" then wait for "+", or "{n+}" without
 * waiting when the server advertised LITERAL+ (or LITERAL- for n <= 4096).
 * CR, LF and NUL are refused in every argument (-1), so no argument can
 * smuggle a command. Mailbox names are sent as given: modified UTF-7
 * encoding is the caller's job. LOGIN and AUTHENTICATE responses are
 * redacted in traces ("A0003 LOGIN ***"); literal bytes are never traced.
 *
 * Limits: a response line (without its literals) is at most IMAP_LINE_MAX
 * bytes; a literal at most imap_set_max_literal() bytes (default
 * IMAP_LITERAL_MAX_DEFAULT); lists nest at most IMAP_DEPTH_MAX deep; a
 * quoted string is at most IMAP_LINE_MAX bytes. "* SEARCH" responses are
 * not bound by the line limit (they are streamed), but by IMAP_SEARCH_MAX
 * numbers. Anything beyond a limit is a protocol error. Literal data is
 * streamed: the engine never holds a whole literal in memory.
 *
 * Pointers in an event (text, data, section, uids, fetch, caps) stay valid
 * until the next call to imap_event_next() or pp_input().
 *
 * Event order, per response:
 *
 *  - greeting: IMAP_EV_STATUS with greeting set (OK, PREAUTH or BYE;
 *    anything else as first response is a protocol error).
 *  - untagged "* OK/NO/BAD/BYE/PREAUTH [code] text": IMAP_EV_STATUS. A
 *    [CAPABILITY ...] code also replaces the engine's capabilities.
 *    BYE may come at any time; imap_bye_seen() then stays true.
 *  - "* CAPABILITY ...": IMAP_EV_CAPABILITY (ev->caps, also imap_caps()).
 *  - "* n EXISTS|RECENT|EXPUNGE": IMAP_EV_EXISTS/RECENT/EXPUNGE with num.
 *    These may come between any two responses (unsolicited): address
 *    everything by UID.
 *  - "* SEARCH n...": zero or more IMAP_EV_SEARCH batches (ev->uids,
 *    ev->nuids <= IMAP_SEARCH_BATCH); the result is complete at the tagged
 *    completion of the UID SEARCH command.
 *  - "* seq FETCH (...)": for each body item (BODY[...], BINARY[...],
 *    RFC822, RFC822.HEADER, RFC822.TEXT) with data: IMAP_EV_BODY_BEGIN
 *    (ev->section, ev->size = literal length), IMAP_EV_BODY_DATA chunks
 *    (ev->text/len: the bytes exactly as received, CRLF line ends; see
 *    imap_crlf_to_lf() for LF form), IMAP_EV_BODY_END; then, once the
 *    closing ")" arrived, one IMAP_EV_FETCH with the summary (ev->fetch):
 *    seq, UID, RFC822.SIZE, FLAGS, INTERNALDATE when present, how many
 *    bodies were seen and whether one was NIL. Items come in any order
 *    (UID may follow the body): ev->fetch in BODY_* events carries what is
 *    known so far (seq always), so a caller spools the body keyed by seq
 *    and decides only at IMAP_EV_FETCH, which has everything. A body is
 *    whole only if IMAP_EV_BODY_END came; a connection lost inside a
 *    literal never produces BODY_END. A FETCH without body items (e.g. an
 *    unsolicited flags update "* 3 FETCH (FLAGS (\Seen))", with or without
 *    UID) has nbody == 0 and body_nil false; "BODY[] NIL" gives
 *    body_nil true and no BODY_* events: a failure for that message.
 *  - "+ text": IMAP_EV_CONT, unless the engine consumed it to send a held
 *    back literal or SASL response.
 *  - "tag OK/NO/BAD [code] text": IMAP_EV_TAGGED with tag, cmd, status,
 *    code, text. The command is complete; its literal parts not yet sent
 *    are dropped. A tag we did not send is a protocol error. A tagged OK to
 *    STARTTLS clears the capabilities (ask again after the handshake); the
 *    driver must check pp_input_pending() == 0 before the TLS handshake.
 *  - other untagged responses (FLAGS, LIST, STATUS, ENABLED, ID, ...) are
 *    parsed and skipped without an event.
 *
 * So, e.g. SELECT gives STATUS events (FLAGS skipped, EXISTS, RECENT,
 * [UIDVALIDITY n], [UIDNEXT n], [PERMANENTFLAGS ...]) then TAGGED (its code
 * READ-WRITE/READ-ONLY); UID SEARCH gives SEARCH batches then TAGGED; UID
 * FETCH gives per message [BODY_BEGIN DATA* BODY_END]* FETCH, with
 * unsolicited EXISTS/EXPUNGE/FETCH possibly in between, then TAGGED. A
 * tagged NO/BAD is an answer, not an engine error: the driver decides
 * (imap_code_err_class() maps codes to error classes).
 */
#ifndef MP_IMAP_H
#define MP_IMAP_H

#include "common.h"
#include "proto/pp.h"
#include "util/err.h"

#define IMAP_LINE_MAX		65536
#define IMAP_IN_MAX		(256 * 1024)	/* pp input buffer bound */
#define IMAP_OUT_MAX		(1024 * 1024)	/* pp output queue bound */
#define IMAP_DEPTH_MAX		16
#define IMAP_LITERAL_MAX_DEFAULT ((uint64_t)2 << 30)	/* 2 GiB */
#define IMAP_SEARCH_MAX		10000000	/* numbers in one SEARCH */
#define IMAP_SEARCH_BATCH	1024
#define IMAP_MAX_PENDING	1024	/* commands awaiting completion */
#define IMAP_SECTION_MAX	256
#define IMAP_SET_MAX_DEFAULT	1000	/* bytes of one sequence set */

enum imap_cmd {
	IMAP_CMD_NONE = 0,
	IMAP_CMD_CAPABILITY,
	IMAP_CMD_STARTTLS,
	IMAP_CMD_LOGIN,
	IMAP_CMD_AUTHENTICATE,
	IMAP_CMD_SELECT,
	IMAP_CMD_EXAMINE,
	IMAP_CMD_UID_SEARCH,
	IMAP_CMD_UID_FETCH,
	IMAP_CMD_UID_STORE,
	IMAP_CMD_UID_EXPUNGE,
	IMAP_CMD_EXPUNGE,
	IMAP_CMD_CLOSE,
	IMAP_CMD_NOOP,
	IMAP_CMD_LOGOUT,
	IMAP_CMD_IDLE,		/* RFC 2177: end with imap_cont_send("DONE") */
	IMAP__CMD_COUNT
};

enum imap_status {
	IMAP_OK = 0,
	IMAP_NO,
	IMAP_BAD,
	IMAP_BYE,
	IMAP_PREAUTH,
};

/* Response codes (RFC 3501 7.1, RFC 5530, 4315, 7162). */
enum imap_code {
	IMAP_CODE_NONE = 0,
	IMAP_CODE_ALERT,
	IMAP_CODE_CAPABILITY,	/* engine's caps replaced */
	IMAP_CODE_UIDVALIDITY,	/* code_num */
	IMAP_CODE_UIDNEXT,	/* code_num */
	IMAP_CODE_UNSEEN,	/* code_num */
	IMAP_CODE_HIGHESTMODSEQ,	/* code_num */
	IMAP_CODE_PERMANENTFLAGS,
	IMAP_CODE_READ_ONLY,
	IMAP_CODE_READ_WRITE,
	IMAP_CODE_TRYCREATE,
	IMAP_CODE_PARSE,
	IMAP_CODE_UIDNOTSTICKY,
	IMAP_CODE_UNAVAILABLE,
	IMAP_CODE_AUTHENTICATIONFAILED,
	IMAP_CODE_AUTHORIZATIONFAILED,
	IMAP_CODE_EXPIRED,
	IMAP_CODE_PRIVACYREQUIRED,
	IMAP_CODE_CONTACTADMIN,
	IMAP_CODE_NOPERM,
	IMAP_CODE_INUSE,
	IMAP_CODE_EXPUNGEISSUED,
	IMAP_CODE_CORRUPTION,
	IMAP_CODE_SERVERBUG,
	IMAP_CODE_CLIENTBUG,
	IMAP_CODE_CANNOT,
	IMAP_CODE_LIMIT,
	IMAP_CODE_OVERQUOTA,
	IMAP_CODE_NONEXISTENT,
	IMAP_CODE_CLOSED,
	IMAP_CODE_OTHER,	/* code_text has it */
};

enum imap_ev_kind {
	IMAP_EV_TAGGED,
	IMAP_EV_STATUS,
	IMAP_EV_CONT,
	IMAP_EV_CAPABILITY,
	IMAP_EV_EXISTS,
	IMAP_EV_RECENT,
	IMAP_EV_EXPUNGE,
	IMAP_EV_SEARCH,
	IMAP_EV_BODY_BEGIN,
	IMAP_EV_BODY_DATA,
	IMAP_EV_BODY_END,
	IMAP_EV_FETCH,
};

/* System flags in struct imap_fetch.flags. */
#define IMAP_FLAG_SEEN		0x01
#define IMAP_FLAG_ANSWERED	0x02
#define IMAP_FLAG_FLAGGED	0x04
#define IMAP_FLAG_DELETED	0x08
#define IMAP_FLAG_DRAFT		0x10
#define IMAP_FLAG_RECENT	0x20

/* What one "* seq FETCH (...)" said (so far, in BODY_* events). */
struct imap_fetch {
	uint32_t seq;
	bool has_uid;
	uint32_t uid;
	bool has_size;
	uint64_t size;		/* RFC822.SIZE */
	bool has_flags;
	unsigned flags;		/* IMAP_FLAG_*; keywords are ignored */
	bool has_internaldate;
	char internaldate[40];	/* as sent, e.g. "17-Jul-1996 02:44:25 -0700" */
	unsigned nbody;		/* body items with data (literal or quoted) */
	bool body_nil;		/* a body item was NIL */
};

struct imap_caps {
	bool imap4rev1, imap4rev2, starttls, logindisabled;
	bool auth_plain, auth_login, auth_xoauth2, auth_oauthbearer;
	bool sasl_ir, uidplus, literal_plus, literal_minus, idle, move;
	bool condstore, enable, id, utf8_accept;
};

struct imap_event {
	enum imap_ev_kind kind;
	/* TAGGED */
	unsigned tag;
	enum imap_cmd cmd;
	/* TAGGED, STATUS */
	enum imap_status status;
	bool greeting;		/* STATUS: the server's first response */
	enum imap_code code;
	uint64_t code_num;	/* UIDVALIDITY, UIDNEXT, UNSEEN, HIGHESTMODSEQ */
	const char *code_text;	/* the whole code without brackets, or NULL */
	size_t code_len;
	/* TAGGED, STATUS, CONT: text; BODY_DATA: the chunk */
	const char *text;
	size_t len;
	/* EXISTS, RECENT, EXPUNGE */
	uint32_t num;
	/* SEARCH */
	const uint32_t *uids;
	size_t nuids;
	/* BODY_*, FETCH */
	const struct imap_fetch *fetch;
	const char *section;	/* BODY_BEGIN: "BODY[HEADER.FIELDS (X)]" */
	size_t section_len;
	uint64_t size;		/* BODY_BEGIN: bytes that will follow */
	/* CAPABILITY (and STATUS with IMAP_CODE_CAPABILITY) */
	const struct imap_caps *caps;
};

struct imap;

struct imap *imap_create(void);
void imap_free(struct imap **);
struct pp *imap_pp(struct imap *);
/* Largest literal accepted from the server (the maximum message size). */
void imap_set_max_literal(struct imap *, uint64_t);
/* The latest capabilities (all false until a CAPABILITY list arrived). */
const struct imap_caps *imap_caps(const struct imap *);
/* The tag number of the last command queued. */
unsigned imap_tag_last(const struct imap *);
/* Commands queued and not yet completed. */
size_t imap_pending_count(const struct imap *);
/* True while output waits for a "+" continuation. */
bool imap_output_waiting(const struct imap *);
bool imap_bye_seen(const struct imap *);
/* Bytes received beyond the events already returned (STARTTLS: must be 0
 * after the tagged OK, before the handshake). Use this, not
 * pp_input_pending(), which still counts the last event's line. */
size_t imap_input_pending(const struct imap *);

/*
 * Next event: 1 event filled, 0 need more input, -1 protocol error (cause
 * in *cause_r, a static string). After -1 the engine is unusable.
 */
int imap_event_next(struct imap *, struct imap_event *, const char **cause_r);

/*
 * Commands. Each returns 0 when queued, -1 on a bad argument (CR, LF, NUL,
 * malformed set), too many pending commands, or a full output queue.
 * Simple commands without arguments: CAPABILITY, STARTTLS, EXPUNGE, CLOSE,
 * NOOP, LOGOUT, IDLE (its "+ idling" is an IMAP_EV_CONT; answer it later
 * with imap_cont_send(im, "DONE", false)).
 *
 * Output the engine holds back (behind a synchronizing literal, or when
 * pp's output queue was full) moves to pp's queue on the next command or
 * imap_event_next() call. After imap_event_next() returns 0 all input it
 * used has been consumed, so pp_input_room() is as large as it gets.
 */
int imap_cmd_simple(struct imap *, enum imap_cmd);
int imap_cmd_login(struct imap *, const char *user, const char *pass);
/* AUTHENTICATE PLAIN: the response inline when sasl_ir (the server said
 * SASL-IR), else after the server's "+". authzid may be NULL. */
int imap_cmd_auth_plain(struct imap *, const char *authzid, const char *user,
    const char *pass, bool sasl_ir);
/* AUTHENTICATE mech with a base64 initial response (e.g. XOAUTH2), inline
 * or after "+"; resp NULL: none (answer IMAP_EV_CONT with imap_cont_send). */
int imap_cmd_authenticate(struct imap *, const char *mech, const char *resp,
    bool sasl_ir);
/* Send one line in answer to IMAP_EV_CONT (e.g. "*" to cancel a SASL
 * exchange, "" after an XOAUTH2 error); secret: redacted in traces. */
int imap_cont_send(struct imap *, const char *line, bool secret);
/* SELECT, or EXAMINE when readonly. */
int imap_cmd_select(struct imap *, const char *mailbox, bool readonly);

enum imap_search {
	IMAP_SEARCH_ALL,
	IMAP_SEARCH_UNSEEN,
};
/* UID SEARCH [UID lo:hi] ALL|UNSEEN; lo == 0: no range (hi 0: "*"). */
int imap_cmd_uid_search(struct imap *, enum imap_search, uint32_t uid_lo,
    uint32_t uid_hi);

enum imap_fetch_what {
	IMAP_FETCH_BODY,	/* (UID RFC822.SIZE BODY.PEEK[]) */
	IMAP_FETCH_MSGID,	/* (UID RFC822.SIZE
				 * BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]) */
	IMAP_FETCH_FLAGS,	/* (UID RFC822.SIZE FLAGS INTERNALDATE) */
};
/* UID FETCH set (...); set as built by imap_set_build(). */
int imap_cmd_uid_fetch(struct imap *, const char *set, enum imap_fetch_what);

enum imap_store_what {
	IMAP_STORE_DELETED,	/* +FLAGS.SILENT (\Deleted) */
	IMAP_STORE_SEEN,	/* +FLAGS.SILENT (\Seen) */
};
int imap_cmd_uid_store(struct imap *, const char *set, enum imap_store_what);
/* UID EXPUNGE set (needs UIDPLUS). */
int imap_cmd_uid_expunge(struct imap *, const char *set);

/*
 * Sequence set from n ascending UIDs (duplicates allowed), ranges
 * compressed ("1:5,8,10:12"). Writes the set for a prefix of uids into
 * out (at most outcap - 1 bytes and a NUL, outcap >= 24) and returns how
 * many UIDs it covers (call again with the rest), 0 when n == 0, or -1
 * when uids are not ascending, hold 0, or outcap is too small.
 */
ssize_t imap_set_build(const uint32_t *uids, size_t n, char *out,
    size_t outcap);

/* Capabilities from a space-separated list ("IMAP4rev1 AUTH=PLAIN ...");
 * caps are cleared first. */
void imap_caps_parse(struct imap_caps *, const char *text, size_t len);

/*
 * CRLF to LF over a stream of chunks (BODY_DATA is passed on as received,
 * CRLF; this is the optional conversion): out must hold len + 1 bytes;
 * returns the bytes written. *pending_cr carries a CR that ended the
 * previous chunk (start with false); at the end call imap_crlf_flush().
 */
size_t imap_crlf_to_lf(const char *in, size_t len, char *out,
    bool *pending_cr);
/* 1 if a final lone CR must be written ("\r"), else 0. */
int imap_crlf_flush(bool *pending_cr);

/* The error class a NO/BAD/BYE answer means for the scheduler. */
enum err_class imap_code_err_class(enum imap_status, enum imap_code);

const char *imap_cmd_name(enum imap_cmd);
const char *imap_status_name(enum imap_status);
const char *imap_code_name(enum imap_code);

#endif
