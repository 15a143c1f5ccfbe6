/*
 * fuzz_imap.c - libFuzzer target for the IMAP response parser.
 *
 * The first bytes choose how the rest is split into reads (so literals,
 * lines and SEARCH streams are cut everywhere); the rest is the server's
 * side of a session in which a realistic command sequence was queued.
 * Events are drained until the engine needs more input or fails, and the
 * event contract is checked on the way.
 */
#include "common.h"

#include <stdlib.h>
#include <string.h>

#include "proto/imap.h"
#include "proto/pp.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static volatile unsigned sink;

static void
check_event(const struct imap_event *ev, uint64_t *lit_left, bool *in_body)
{
	switch (ev->kind) {
	case IMAP_EV_BODY_BEGIN:
		if (*in_body || ev->fetch == NULL)
			abort();
		*in_body = true;
		*lit_left = ev->size;
		break;
	case IMAP_EV_BODY_DATA:
		if (!*in_body || ev->len == 0 || ev->len > *lit_left)
			abort();
		*lit_left -= ev->len;
		/* Touch every byte: the pointer must be valid. */
		for (size_t i = 0; i < ev->len; i++)
			sink += (unsigned char)ev->text[i];
		break;
	case IMAP_EV_BODY_END:
		if (!*in_body || *lit_left != 0)
			abort();
		*in_body = false;
		break;
	case IMAP_EV_FETCH:
		if (*in_body || ev->fetch == NULL || ev->fetch->seq == 0)
			abort();
		break;
	case IMAP_EV_SEARCH:
		if (ev->nuids == 0 || ev->nuids > IMAP_SEARCH_BATCH)
			abort();
		break;
	case IMAP_EV_TAGGED:
	case IMAP_EV_STATUS:
	case IMAP_EV_CONT:
		if (ev->len > 0 && ev->text == NULL)
			abort();
		if (ev->len > IMAP_LINE_MAX)
			abort();
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap *im;
	struct pp *pp;
	struct imap_event ev;
	const char *cause, *out;
	uint32_t seed = 0x9e3779b9;
	uint64_t lit_left = 0;
	size_t off, k, olen;
	uint32_t uids[] = { 1, 2, 3, 7, 9, 10 };
	char set[64];
	bool in_body = false;
	int r = 0, i;

	if (size < 2)
		return 0;
	seed ^= (uint32_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;

	im = imap_create();
	pp = imap_pp(im);
	imap_set_max_literal(im, 1 << 20);
	if (imap_set_build(uids, MP_ARRAY_LEN(uids), set, sizeof(set)) != 6)
		abort();
	(void)imap_cmd_simple(im, IMAP_CMD_CAPABILITY);
	(void)imap_cmd_login(im, "user", "pa\"ss\\w\xc3\xb6rd");
	(void)imap_cmd_auth_plain(im, NULL, "user", "pw", false);
	(void)imap_cmd_select(im, "INBOX", false);
	(void)imap_cmd_uid_search(im, IMAP_SEARCH_ALL, 0, 0);
	(void)imap_cmd_uid_fetch(im, set, IMAP_FETCH_MSGID);
	(void)imap_cmd_uid_fetch(im, set, IMAP_FETCH_BODY);
	(void)imap_cmd_uid_store(im, set, IMAP_STORE_DELETED);
	(void)imap_cmd_uid_expunge(im, set);
	(void)imap_cmd_simple(im, IMAP_CMD_LOGOUT);

	for (off = 0; off < size && r != -1;) {
		seed = seed * 1103515245 + 12345;
		switch ((seed >> 16) & 3) {
		case 0:
			k = 1;
			break;
		case 1:
			k = 1 + ((seed >> 8) & 15);
			break;
		default:
			k = 1 + ((seed >> 4) & 4095);
			break;
		}
		k = MP_MIN(k, size - off);
		k = MP_MIN(k, pp_input_room(pp));
		if (k == 0)
			abort();	/* the engine must make room */
		if (pp_input(pp, data + off, k) == -1)
			abort();
		off += k;
		for (i = 0; (r = imap_event_next(im, &ev, &cause)) == 1; i++) {
			check_event(&ev, &lit_left, &in_body);
			if (ev.kind == IMAP_EV_CONT && (i & 1))
				(void)imap_cont_send(im, "*", false);
			if (ev.kind == IMAP_EV_TAGGED && ev.tag % 3 == 0)
				(void)imap_cmd_simple(im, IMAP_CMD_NOOP);
		}
		if (r == -1 && cause == NULL)
			abort();
		out = pp_output(pp, &olen);
		(void)out;
		pp_output_consume(pp, olen);
	}
	imap_free(&im);
	return 0;
}
