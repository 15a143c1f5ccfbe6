/*
 * common.h - the few definitions every module shares.
 * Keep this small: module APIs live in their own headers.
 */
#ifndef MAILPULL_COMMON_H
#define MAILPULL_COMMON_H

#define _GNU_SOURCE 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MAILPULL_NAME "mailpull"
#ifndef MAILPULL_VERSION
#define MAILPULL_VERSION "0.1.0"
#endif

#define MP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MP_MAX(a, b) ((a) > (b) ? (a) : (b))

#define MP_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define MP_NORETURN __attribute__((noreturn))
#define MP_UNUSED __attribute__((unused))

#endif
