#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "util/log.h"

static int log_dest = LOG_TO_STDERR;
static int log_verbosity;
static bool syslog_open;

void
log_init(int dest, int verbosity)
{
	log_dest = dest;
	log_verbosity = verbosity;
	if ((dest & LOG_TO_SYSLOG) && !syslog_open) {
		openlog(MAILPULL_NAME, LOG_PID | LOG_NDELAY, LOG_MAIL);
		syslog_open = true;
	}
}

int
log_verbose(void)
{
	return log_verbosity;
}

static void vlog(int, const char *, va_list, const char *) MP_PRINTF(2, 0);

static void
vlog(int pri, const char *fmt, va_list ap, const char *suffix)
{
	char msg[2048];

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

	if (log_verbosity < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
log_syslog(int priority, const char *fmt, ...)
{
	va_list ap;

	if (!syslog_open) {
		openlog(MAILPULL_NAME, LOG_PID | LOG_NDELAY, LOG_MAIL);
		syslog_open = true;
	}
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
