/*
 * log.h - logging in the OpenSMTPD manner.
 * log_warn() appends strerror(errno); the x variants do not.
 * Messages go to stderr, and to syslog (facility mail) once log_init()
 * asked for it. Every line about an account must carry the account id.
 */
#ifndef MP_LOG_H
#define MP_LOG_H

#include "common.h"

#define LOG_TO_STDERR 0x1
#define LOG_TO_SYSLOG 0x2

/* verbosity: 0 warnings+info, 1 adds debug. */
void log_init(int dest, int verbosity);
int log_verbose(void);
/*
 * The least severe syslog priority still written (LOG_ERR, LOG_WARNING,
 * LOG_INFO, LOG_DEBUG), applied to every line: stderr, syslog and
 * log_syslog(); fatal() always goes out. Unset (the default) it follows
 * the verbosity of log_init(): LOG_INFO, or LOG_DEBUG when verbose. Kept
 * across later log_init() calls.
 */
void log_level_set(int priority);
/* "error", "warning", "info", "debug" into a priority; -1 when unknown. */
int log_level_parse(const char *, int *priority_r);
void log_warn(const char *, ...) MP_PRINTF(1, 2);
void log_warnx(const char *, ...) MP_PRINTF(1, 2);
void log_info(const char *, ...) MP_PRINTF(1, 2);
void log_debug(const char *, ...) MP_PRINTF(1, 2);
/* A syslog-only line (facility mail), e.g. the one-line pass summary. */
void log_syslog(int priority, const char *, ...) MP_PRINTF(2, 3);
MP_NORETURN void fatal(const char *, ...) MP_PRINTF(1, 2);
MP_NORETURN void fatalx(const char *, ...) MP_PRINTF(1, 2);

#endif
