/*
 * strnum.h - the one range-checked number parser for wire and config input.
 */
#ifndef MP_STRNUM_H
#define MP_STRNUM_H

#include "common.h"

/*
 * Parse a decimal integer in [min, max] from the whole of s (no sign unless
 * min < 0, no spaces, no trailing bytes). On error returns 0 and sets
 * *errstr to "invalid", "too small" or "too large"; on success *errstr is
 * NULL.
 */
long long strnum(const char *s, long long min, long long max,
    const char **errstr);
/* The same over n bytes that need not be NUL-terminated. */
long long strnum_n(const char *s, size_t n, long long min, long long max,
    const char **errstr);
/* Unsigned 64-bit variant (IMAP literal sizes, UIDs). */
uint64_t strnum_u64(const char *s, size_t n, uint64_t max,
    const char **errstr);
/* Durations like "30", "30s", "5m", "2h", "1d" into seconds. */
long long strnum_duration(const char *s, long long min, long long max,
    const char **errstr);

#endif
