#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "util/log.h"

static int log_dest = LOG_TO_STDERR;
static int log_verbosity;
static int log_level = -1;		/* -1: from the verbosity */
/* Once per process: passes log to syslog from several threads. */
static pthread_once_t syslog_once = PTHREAD_ONCE_INIT;

static void
syslog_open(void)
{
	openlog(MAILPULL_NAME, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_init(int dest, int verbosity)
{
	log_dest = dest;
	log_verbosity = verbosity;
	if (dest & LOG_TO_SYSLOG)
		(void)pthread_once(&syslog_once, syslog_open);
}

int
log_verbose(void)
{
	return log_verbosity;
}

void
log_level_set(int priority)
{
	log_level = priority;
}

int
log_level_parse(const char *s, int *priority_r)
{
	static const struct {
		const char *name;
		int pri;
	} names[] = {
		{ "error", LOG_ERR },
		{ "warning", LOG_WARNING },
		{ "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
	};
	size_t i;

	for (i = 0; i < MP_ARRAY_LEN(names); i++)
		if (strcmp(s, names[i].name) == 0) {
			*priority_r = names[i].pri;
			return 0;
		}
	return -1;
}

/* Is a line of this priority written? */
static bool
log_wanted(int pri)
{
	int level = log_level;

	if (level < 0)
		level = log_verbosity >= 1 ? LOG_DEBUG : LOG_INFO;
	return pri <= level || pri <= LOG_CRIT;
}

static void vlog(int, const char *, va_list, const char *) MP_PRINTF(2, 0);

static void
vlog(int pri, const char *fmt, va_list ap, const char *suffix)
{
	char msg[2048];

	if (!log_wanted(pri))
		return;
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	if (log_dest & LOG_TO_STDERR) {
		if (suffix != NULL)
			fprintf(stderr, "mailpull: %s: %s\n", msg, suffix);
		else
			fprintf(stderr, "mailpull: %s\n", msg);
		fflush(stderr);
	}
	if (log_dest & LOG_TO_SYSLOG) {
		if (suffix != NULL)
			syslog(pri, "%s: %s", msg, suffix);
		else
			syslog(pri, "%s", msg);
	}
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_wanted(LOG_DEBUG))
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
log_syslog(int priority, const char *fmt, ...)
{
	va_list ap;

	if (!log_wanted(priority))
		return;
	(void)pthread_once(&syslog_once, syslog_open);
	va_start(ap, fmt);
	vsyslog(priority, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, strerror(saved));
	va_end(ap);
	abort();
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	abort();
}
