/*
 * account_valid.h - the one validation layer for account fields, shared
 * by `mailpull account add|edit` (cli/) and the admin API (api/), so the
 * same bad input gets the same message from both.
 *
 * Fields are named as in the API: the CLI's option names with '-' turned
 * into '_' (host, port, keep_days, deliver_to, envelope_header, rule,
 * oauth2_client_id, ...). Values are the text an administrator typed (the
 * API turns a JSON number into its decimal text first).
 *
 * account_valid_field() returns NULL when the value is acceptable, else
 * one line saying what is expected; the text is static or written into
 * buf (cap bytes). It never changes anything and never logs the value.
 * A field it does not know gives "unknown field".
 */
#ifndef MP_ACCOUNT_VALID_H
#define MP_ACCOUNT_VALID_H

#include "common.h"

#define ACCOUNT_VALID_MSG_MAX	256	/* a sufficient cap for buf */

const char *account_valid_field(const char *field, const char *value,
    char *buf, size_t cap);

/* The range of a numeric field; -1 when field is not numeric. */
int account_valid_range(const char *field, long long *min_r,
    long long *max_r);

/* The account password (1..4096 bytes, no NUL or line break), given with
 * its length because it may come from a file. */
const char *account_valid_password(const char *pw, size_t len);

#endif
