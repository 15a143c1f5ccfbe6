/*
 * cli.h - what the mailpull subcommands share: the global options, usage
 * errors (exit 2), opening the store, and output helpers. Each command is
 * one file (cli/account.c, cli/fetch.c, ...) with one entry point listed in
 * main.c's table.
 */
#ifndef MP_CLI_H
#define MP_CLI_H

#include "common.h"

#include <stdio.h>

struct store;

#define EXIT_USAGE 2

extern const char *cli_state_dir;	/* --state, $MAILPULL_STATE, default */
extern int cli_verbose;			/* -v count */

/* Print "mailpull: <message>" and a pointer to `mailpull <usage> --help`
 * (when usage is not NULL), exit 2. */
/* An account option's value through the shared field rules
 * (store/account_valid.h): a usage error "--OPT: why" when it fails. */
void cli_account_field(const char *opt, const char *field, const char *value);
MP_NORETURN void usage_error(const char *usage, const char *fmt, ...)
    MP_PRINTF(2, 3);
/* Open the store in cli_state_dir or exit 1 with the reason. */
struct store *cli_open_store(void);
/* JSON string (with quotes) or null. */
void json_str(FILE *, const char *);
const char *fmt_time(int64_t t, char *buf, size_t cap);
const char *fmt_bytes(uint64_t n, char *buf, size_t cap);

/*
 * Passwords for the account and user commands, in sodium memory (free with
 * cli_password_free): the first line of a file or of standard input (no
 * echo on a terminal), or an environment variable. Empty, over max bytes,
 * or holding a NUL: a usage error (exit 2).
 */
char *cli_password_file(const char *path, size_t max, size_t *len_r);
char *cli_password_env(const char *var, size_t max, size_t *len_r);
char *cli_password_stdin(const char *name, size_t max, size_t *len_r);
void cli_password_free(char *);

/* Commands: argv[0] is the command name. Return the exit status. */
int cmd_account(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_api_serve(int argc, char **argv);
int cmd_group(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_message(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);

#endif
