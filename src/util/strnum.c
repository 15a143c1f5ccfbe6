#include "common.h"

#include <string.h>

#include "util/strnum.h"

uint64_t
strnum_u64(const char *s, size_t n, uint64_t max, const char **errstr)
{
	uint64_t v = 0;
	unsigned d;
	size_t i;

	*errstr = NULL;
	if (n == 0) {
		*errstr = "invalid";
		return 0;
	}
	/* Junk anywhere is "invalid", even after an overflowing prefix. */
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9') {
			*errstr = "invalid";
			return 0;
		}
	/* Leading zeros do not count toward the length. */
	for (i = 0; i < n; i++) {
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10) {
			*errstr = "too large";
			return 0;
		}
		v = v * 10 + d;
	}
	if (v > max) {
		*errstr = "too large";
		return 0;
	}
	return v;
}

long long
strnum_n(const char *s, size_t n, long long min, long long max,
    const char **errstr)
{
	bool neg = false;
	uint64_t v, lim;

	*errstr = NULL;
	if (n > 0 && s[0] == '-') {
		if (min >= 0) {
			*errstr = "invalid";
			return 0;
		}
		neg = true;
		s++;
		n--;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	v = strnum_u64(s, n, lim, errstr);
	if (*errstr != NULL) {
		/* A negative magnitude too large is a number too small. */
		if (neg && strcmp(*errstr, "too large") == 0)
			*errstr = "too small";
		return 0;
	}
	if (neg) {
		long long r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
		    -(long long)v;
		if (r < min) {
			*errstr = "too small";
			return 0;
		}
		if (r > max) {
			*errstr = "too large";
			return 0;
		}
		return r;
	}
	if ((long long)v > max) {
		*errstr = "too large";
		return 0;
	}
	if ((long long)v < min) {
		*errstr = "too small";
		return 0;
	}
	return (long long)v;
}

long long
strnum(const char *s, long long min, long long max, const char **errstr)
{
	return strnum_n(s, strlen(s), min, max, errstr);
}

long long
strnum_duration(const char *s, long long min, long long max,
    const char **errstr)
{
	size_t n = strlen(s);
	long long mult = 1, v;

	if (n > 0) {
		switch (s[n - 1]) {
		case 's': mult = 1; n--; break;
		case 'm': mult = 60; n--; break;
		case 'h': mult = 3600; n--; break;
		case 'd': mult = 86400; n--; break;
		default: break;
		}
	}
	v = strnum_n(s, n, 0, INT32_MAX, errstr);
	if (*errstr != NULL)
		return 0;
	v *= mult;
	if (v < min) {
		*errstr = "too small";
		return 0;
	}
	if (v > max) {
		*errstr = "too large";
		return 0;
	}
	return v;
}
