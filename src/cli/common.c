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


/* ---- passwords (account and user commands) ---- */

static char *
password_check(char *pw, size_t len, const char *src, size_t *len_r)
{
	/* One trailing newline (or CRLF) ends the password. */
	if (len > 0 && pw[len - 1] == '\n')
		pw[--len] = '\0';
	if (len > 0 && pw[len - 1] == '\r')
		pw[--len] = '\0';
	if (len == 0)
		usage_error(NULL, "empty password from %s", src);
	if (memchr(pw, '\0', len) != NULL || memchr(pw, '\n', len) != NULL)
		usage_error(NULL, "the password from %s contains a NUL byte or "
		    "a line break", src);
	*len_r = len;
	return pw;
}

static char *
password_read_fd(int fd, const char *src, size_t max, size_t *len_r)
{
	char *pw = sodium_malloc(max + 2), *nl;
	size_t len = 0;
	ssize_t n;

	if (pw == NULL)
		fatalx("out of memory");
	while (len < max + 1) {
		n = read(fd, pw + len, max + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			usage_error(NULL, "cannot read the password from %s: %s",
			    src, strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		/* From a terminal or pipe, stop at the first line. */
		if (memchr(pw, '\n', len) != NULL)
			break;
	}
	if ((nl = memchr(pw, '\n', len)) != NULL)
		len = (size_t)(nl - pw) + 1;	/* first line only */
	if (len > max + 1 || (len == max + 1 && pw[len - 1] != '\n'))
		usage_error(NULL, "the password from %s is longer than %zu "
		    "bytes", src, max);
	pw[len] = '\0';
	return password_check(pw, len, src, len_r);
}

char *
cli_password_file(const char *path, size_t max, size_t *len_r)
{
	char *pw;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		usage_error(NULL, "--password-file %s: %s", path,
		    strerror(errno));
	pw = password_read_fd(fd, path, max, len_r);
	close(fd);
	return pw;
}

char *
cli_password_env(const char *var, size_t max, size_t *len_r)
{
	const char *v = getenv(var);
	size_t len;
	char *pw;

	if (v == NULL || v[0] == '\0')
		usage_error(NULL, "--password-env %s: the variable is not set",
		    var);
	len = strlen(v);
	if (len > max)
		usage_error(NULL, "the password in %s is longer than %zu bytes",
		    var, max);
	if ((pw = sodium_malloc(len + 1)) == NULL)
		fatalx("out of memory");
	memcpy(pw, v, len + 1);
	return password_check(pw, len, var, len_r);
}

char *
cli_password_stdin(const char *name, size_t max, size_t *len_r)
{
	struct termios t, saved;
	bool tty = isatty(STDIN_FILENO);
	char *pw;

	if (tty) {
		fprintf(stderr, "Password for %s: ", name);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &t) == 0) {
			saved = t;
			t.c_lflag &= ~(tcflag_t)ECHO;
			(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
		} else
			tty = false;
	}
	pw = password_read_fd(STDIN_FILENO, "standard input", max, len_r);
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	return pw;
}

void
cli_password_free(char *pw)
{
	if (pw != NULL)
		sodium_free(pw);
}
