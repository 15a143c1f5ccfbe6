/*
 * fuzz_rspamd.c - libFuzzer target for the scanner replies: rspamd's
 * /checkv2 JSON body and clamd's INSTREAM answer (src/filter/).
 *
 * Input: the bytes of a reply, given to both parsers.
 * Checks: rspamd: a parsed reply has a non-empty action of [a-z _], a
 * finite score in range, symbols without control bytes, and added header
 * lines that are "Name: value" (name printable ASCII without ':') or a
 * tab-started fold, LF-ended, with no other control byte; a failure is
 * ERR_PROTOCOL and leaves nothing allocated. clamd: 0, 1 or -1, the name
 * NUL-terminated inside its buffer and printable (non-empty when 1).
 */
#include "common.h"

#include <string.h>

#include "filter/filter.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static void
check_text(const char *s)
{
	for (; *s != '\0'; s++)
		check((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void
check_headers(const char *h)
{
	const char *line = h, *nl, *p;

	while (*line != '\0') {
		nl = strchr(line, '\n');
		check(nl != NULL);
		if (line[0] == '\t') {
			check(line != h);
			p = line + 1;
		} else {
			for (p = line; p < nl && *p != ':'; p++)
				check((unsigned char)*p > 0x20 &&
				    (unsigned char)*p < 0x7f);
			check(p > line && p + 1 < nl + 1 && p[0] == ':' &&
			    p[1] == ' ');
			p += 2;
		}
		for (; p < nl; p++)
			check((unsigned char)*p >= 0x20 && *p != 0x7f);
		line = nl + 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct rspamd_reply r;
	struct err e = { 0 };
	char virus[128];
	const char *p;
	int rc;

	if (filter_rspamd_reply_parse((const char *)data, len, &r, &e) == 0) {
		check(r.action[0] != '\0');
		for (p = r.action; *p != '\0'; p++)
			check((*p >= 'a' && *p <= 'z') || *p == ' ' ||
			    *p == '_');
		check(r.score > -1e6 && r.score < 1e6);
		check(r.required > -1e6 && r.required < 1e6);
		if (r.symbols != NULL) {
			check_text(r.symbols);
			check(strlen(r.symbols) <= 900);
		}
		if (r.add_headers != NULL) {
			check(strlen(r.add_headers) <= FILTER_HEADERS_MAX);
			check_headers(r.add_headers);
		}
		rspamd_reply_clear(&r);
	} else {
		check(e.cls == ERR_PROTOCOL);
		check(r.symbols == NULL && r.add_headers == NULL);
	}
	err_clear(&e);

	memset(virus, 'x', sizeof(virus));
	rc = filter_clamd_reply_parse((const char *)data, len, virus,
	    sizeof(virus));
	check(rc == 0 || rc == 1 || rc == -1);
	check(memchr(virus, '\0', sizeof(virus)) != NULL);
	check_text(virus);
	if (rc == 1)
		check(virus[0] != '\0');
	return 0;
}
