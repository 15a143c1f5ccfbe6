/*
 * account.h - an external account as the CLI, the store and the pass see
 * it. Plain data; the store owns persistence, cli/ owns parsing options.
 */
#ifndef MP_ACCOUNT_H
#define MP_ACCOUNT_H

#include "common.h"

enum acct_proto { ACCT_POP3 = 0, ACCT_IMAP = 1 };
enum acct_security { SEC_TLS = 0, SEC_STARTTLS = 1, SEC_NONE = 2 };
enum acct_policy { POLICY_DELETE = 0, POLICY_KEEP = 1, POLICY_KEEP_DAYS = 2 };

#define ACCT_MAX_FOLDERS 64

struct account {
	char *id;			/* unique, an email address */
	enum acct_proto proto;
	char *host;
	int port;			/* 0: default from proto + security */
	enum acct_security security;
	bool verify;			/* verify TLS certificate */
	char *ca_file;			/* NULL: system store */
	char *user;
	char *deliver_to;		/* comma list of local addresses, NULL:
					 * the local part of id */
	char *target;			/* target URI, NULL: default Maildir */
	enum acct_policy policy;
	int keep_days;
	int max_per_pass;		/* 0: no cap */
	int timeout;			/* seconds per network step */
	bool enabled;
	/* IMAP */
	char *folders[ACCT_MAX_FOLDERS];	/* NULL-terminated, empty: INBOX */
	bool only_unseen;
	bool mark_seen;
	bool has_password;		/* read-only: store has a secret */
	int64_t created;		/* unix time */
	int64_t updated;
};

void account_init(struct account *);	/* defaults */
void account_clear(struct account *);	/* frees members */
void account_copy(struct account *dst, const struct account *src);
int account_port(const struct account *);	/* effective port */
const char *account_proto_name(enum acct_proto);
const char *account_security_name(enum acct_security);
const char *account_policy_name(enum acct_policy);
int account_proto_parse(const char *, enum acct_proto *);
int account_security_parse(const char *, enum acct_security *);
int account_policy_parse(const char *, enum acct_policy *);

#endif
