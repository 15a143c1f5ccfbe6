/*
 * fuzz_received.c - libFuzzer target for the message header fields the
 * spam check trusts (src/filter/): the provider's topmost Received: field
 * and Return-Path:.
 *
 * Input: a message header (and maybe a body), read for the provider host
 * "mx.provider.example" and for the domain ".provider.example".
 * Checks: a found relay has NUL-terminated, control-free ip, helo and
 * rdns; ip is empty or an address (hex digits, '.', ':'); nothing found
 * leaves the result zeroed. Return-Path: an address without spaces or
 * control bytes, at most 254 bytes.
 */
#include "common.h"

#include <string.h>

#include "filter/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

static void
check_field(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	check(n < cap);
	for (; *s != '\0'; s++)
		check((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void
one(const uint8_t *data, size_t len, const char *host)
{
	static const struct filter_relay zero;
	struct filter_relay r;
	const char *p;

	if (filter_received_parse((const char *)data, len, host, &r) == 0) {
		check(r.found);
		check_field(r.ip, sizeof(r.ip));
		check_field(r.helo, sizeof(r.helo));
		check_field(r.rdns, sizeof(r.rdns));
		for (p = r.ip; *p != '\0'; p++)
			check((*p >= '0' && *p <= '9') ||
			    (*p >= 'a' && *p <= 'f') ||
			    (*p >= 'A' && *p <= 'F') || *p == '.' ||
			    *p == ':');
		for (p = r.rdns; *p != '\0'; p++)
			check(*p != ' ');
	} else
		check(memcmp(&r, &zero, sizeof(r)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char rp[256];
	size_t n;

	one(data, len, "mx.provider.example");
	one(data, len, ".provider.example");
	if (filter_return_path((const char *)data, len, rp, sizeof(rp)) ==
	    0) {
		n = strnlen(rp, sizeof(rp));
		check(n < sizeof(rp) && n <= 254);
		for (n = 0; rp[n] != '\0'; n++)
			check((unsigned char)rp[n] > 0x20 && rp[n] != 0x7f);
	}
	return 0;
}
