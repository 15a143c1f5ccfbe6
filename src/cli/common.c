/*
 * main.c - the mailpull command: argument parsing and output only. The
 * work is in store/, fetch/ and deliver/.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "deliver/target.h"
#include "fetch/pass.h"
#include "store/account_valid.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#include "cli/cli.h"

const char *cli_state_dir;
int cli_verbose;

void
usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fputs("mailpull: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	if (usage != NULL)
		fprintf(stderr, "Try 'mailpull %s --help'.\n", usage);
	exit(EXIT_USAGE);
}

void
cli_account_field(const char *opt, const char *field, const char *value)
{
	char buf[ACCOUNT_VALID_MSG_MAX];
	const char *why;

	why = account_valid_field(field, value, buf, sizeof(buf));
	if (why != NULL)
		usage_error("account", "--%s: %s", opt, why);
}

struct store *
cli_open_store(void)
{
	struct store *st;
	struct err e = { 0 };

	if (store_open(&st, cli_state_dir, &e) == -1) {
		fprintf(stderr, "mailpull: cannot open the state in %s: %s\n",
		    cli_state_dir, err_msg(&e));
		exit(1);
	}
	return st;
}


void
json_str(FILE *f, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

const char *
fmt_time(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t <= 0)
		return "never";
	localtime_r(&tt, &tm);
	if (strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return "?";
	return buf;
}

const char *
fmt_bytes(uint64_t n, char *buf, size_t cap)
{
	if (n < 1024)
		(void)snprintf(buf, cap, "%llu B", (unsigned long long)n);
	else if (n < 1024 * 1024)
		(void)snprintf(buf, cap, "%.1f KiB", n / 1024.0);
	else if (n < 1024ull * 1024 * 1024)
		(void)snprintf(buf, cap, "%.1f MiB", n / 1048576.0);
	else
		(void)snprintf(buf, cap, "%.2f GiB", n / 1073741824.0);
	return buf;
}

