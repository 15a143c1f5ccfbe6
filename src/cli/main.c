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
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

#include "cli/cli.h"

static const char usage_main[] =
"usage: mailpull [--state DIR] [--store LOCATION] [-v] COMMAND [ARGS]\n"
"\n"
"Fetch mail from remote POP3 and IMAP accounts into local mailboxes.\n"
"\n"
"Commands:\n"
"  account add ID OPTIONS     add an account (ID is an email address)\n"
"  account edit ID OPTIONS    change an account\n"
"  account list [--json]      list accounts\n"
"  account show ID            show one account\n"
"  account delete ID          delete an account and its journal\n"
"  account enable ID          enable an account\n"
"  account disable ID         disable an account\n"
"  fetch [ID...]              one pass over the given (or all enabled)\n"
"                             accounts\n"
"  log ID [-n N]              the last run logs of an account\n"
"  config set KEY VALUE       global settings (config --help lists keys)\n"
"  user add|list|delete|passwd|ensure-admin\n"
"                             users of the admin web UI and API\n"
"  group add NAME MEMBER...   a group of local addresses (@NAME);\n"
"                             also group edit|list|show|delete\n"
"  serve                      the daemon: check accounts on their interval\n"
"  message list|retry|release ACCOUNT [ID]\n"
"                             parked messages (refused by every target)\n"
"  quarantine list|show|release|delete [ID]\n"
"                             messages held by the virus/spam checks\n"
"\n"
"Global options:\n"
"  --state DIR   state directory (default $MAILPULL_STATE, then\n"
"                /var/lib/mailpull): store, key file, default Maildirs\n"
"  --store LOCATION\n"
"                the database (default $MAILPULL_STORE, then\n"
"                STATE/mailpull.db): a postgresql:// URI or a libpq\n"
"                \"dbname=...\" string puts it in PostgreSQL, shared by\n"
"                several nodes (each with the same key: copy\n"
"                STATE/secret.key, or set $MAILPULL_STORE_KEY)\n"
"  -v, --verbose debug output; wire trace (passwords redacted) in run logs\n"
"  --version     print the version\n"
"  -h, --help    this help; COMMAND --help for a command's options\n"
"\n"
"Exit status: 0 success, 1 failure (fetch: any account failed),\n"
"2 usage error.\n";

static const struct {
	const char *name;
	int (*fn)(int, char **);
} commands[] = {
	{ "account", cmd_account },
	{ "fetch", cmd_fetch },
	{ "log", cmd_log },
	{ "config", cmd_config },
	{ "user", cmd_user },
	{ "api-serve", cmd_api_serve },
	{ "group", cmd_group },
	{ "serve", cmd_serve },
	{ "message", cmd_message },
	{ "quarantine", cmd_quarantine },
};

int
main(int argc, char **argv)
{
	struct err e = { 0 };
	const char *cmd, *store_loc;
	int i;

	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (sodium_init() < 0)
		fatalx("libsodium failed to initialise");
	log_init(LOG_TO_STDERR, 0);
	cli_state_dir = getenv("MAILPULL_STATE");
	if (cli_state_dir == NULL || cli_state_dir[0] == '\0')
		cli_state_dir = "/var/lib/mailpull";
	store_loc = getenv("MAILPULL_STORE");

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0) {
			if (i + 1 >= argc)
				usage_error(NULL, "--state needs a directory");
			cli_state_dir = argv[++i];
		} else if (strncmp(argv[i], "--state=", 8) == 0)
			cli_state_dir = argv[i] + 8;
		else if (strcmp(argv[i], "--store") == 0) {
			if (i + 1 >= argc)
				usage_error(NULL, "--store needs a location");
			store_loc = argv[++i];
		} else if (strncmp(argv[i], "--store=", 8) == 0)
			store_loc = argv[i] + 8;
		else if (strcmp(argv[i], "-v") == 0 ||
		    strcmp(argv[i], "--verbose") == 0)
			cli_verbose++;
		else if (strcmp(argv[i], "--version") == 0) {
			printf("mailpull %s\n", MAILPULL_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "help") == 0) {
			fputs(usage_main, stdout);
			return 0;
		} else if (argv[i][0] == '-')
			usage_error(NULL, "unknown option %s (see mailpull "
			    "--help)", argv[i]);
		else
			break;
	}
	if (i >= argc) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	if (cli_state_dir[0] == '\0')
		usage_error(NULL, "--state: empty directory name");
	if (store_set_location(store_loc, &e) == -1)
		usage_error(NULL, "%s", err_msg(&e));
	/* The commands this one starts (api-serve's fetch) use the same
	 * store, and a password in it stays out of their argv. */
	if (store_loc == NULL || *store_loc == '\0')
		(void)unsetenv("MAILPULL_STORE");
	else if (setenv("MAILPULL_STORE", store_loc, 1) == -1)
		fatal("setenv");
	log_init(LOG_TO_STDERR, cli_verbose);
	cmd = argv[i];
	for (size_t k = 0; k < MP_ARRAY_LEN(commands); k++)
		if (strcmp(cmd, commands[k].name) == 0)
			return commands[k].fn(argc - i, argv + i);
	usage_error(NULL, "unknown command '%s' (see mailpull --help)", cmd);
	return EXIT_USAGE;
}
