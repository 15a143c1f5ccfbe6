/*
 * account_check.h - `mailpull account check [ID...]` and the recipient
 * warning that `account show|list` print (fetch/check.h does the work;
 * store/checks.h keeps the last result).
 */
#ifndef MP_CLI_ACCOUNT_CHECK_H
#define MP_CLI_ACCOUNT_CHECK_H

#include "common.h"

#include <stdio.h>

struct store;

/* argv[0] is "check". Exit status: 0 every recipient there (or could not
 * tell), 1 a recipient gone or a check that could not run, 2 usage. */
int cmd_account_check(int argc, char **argv);
/* `account show`: the "check:" line. */
void account_check_show(struct store *, const char *id, FILE *);
/* `account list --json`: ", \"recipient_warning\": ..." (a string naming
 * the gone recipients, or null). */
void account_check_json(struct store *, const char *id, FILE *);
/* `account list`: one "warning: ..." line for an account with a gone
 * recipient; nothing otherwise. */
void account_check_list_line(struct store *, const char *id, FILE *);

#endif
