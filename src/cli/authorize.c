/*
 * authorize.c - `mailpull account authorize ID [--device] [--no-browser]
 * [--timeout S]`: get an OAuth2 account its first refresh token.
 *
 * Default: the authorization-code flow with PKCE (RFC 7636) and a loopback
 * redirect (RFC 8252): the URL to open is printed; the browser's redirect
 * to http://127.0.0.1:PORT/ is caught by a listener, or the user pastes
 * the URL the browser ended on (a headless server: the browser runs
 * elsewhere and fails to reach the loopback address, but its address bar
 * holds the code). --device: the device flow (RFC 8628). Nothing secret is
 * printed: codes and tokens go straight to the store, sealed.
 */
#include "common.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/account_oauth.h"
#include "cli/cli.h"
#include "oauth/oauth.h"
#include "store/account.h"
#include "store/oauth.h"
#include "store/settings.h"
#include "store/store.h"
#include "util/strnum.h"
#include "util/xmalloc.h"

extern char **environ;

static const char usage_authorize[] =
"usage: mailpull account authorize ID [--device] [--no-browser]\n"
"         [--timeout SECONDS]\n"
"\n"
"  Prints the provider's authorization URL and waits for the browser's\n"
"  redirect on 127.0.0.1; on a machine without a browser, open the URL\n"
"  elsewhere and paste the address the browser was sent to. --device\n"
"  uses the device flow (a code to enter at the provider) instead.\n";

/* Open url in the desktop's browser, when there is a desktop. */
static void
browser_open(const char *url)
{
	char *argv[] = { (char *)"xdg-open", (char *)url, NULL };
	pid_t pid;

	if (getenv("DISPLAY") == NULL && getenv("WAYLAND_DISPLAY") == NULL)
		return;
	if (posix_spawnp(&pid, "xdg-open", NULL, NULL, argv, environ) == 0)
		(void)waitpid(pid, NULL, WNOHANG);
}

static int
flow_code(const struct oauth_profile *p, const char *id, bool no_browser,
    int timeout, struct oauth_token *t, struct err *e)
{
	char verifier[OAUTH_VERIFIER_LEN + 1], challenge[OAUTH_CHALLENGE_LEN + 1];
	char state[23], redirect[64], *url = NULL, *target = NULL;
	char *code = NULL;
	int lfd = -1, port, rc = -1;

	if (p->auth_url == NULL)
		return err_set(e, ERR_CONFIG, "no authorization endpoint "
		    "(--oauth2-auth-url); try --device");
	if (oauth_loopback_open(&lfd, &port, e) == -1)
		return -1;
	(void)snprintf(redirect, sizeof(redirect), "http://127.0.0.1:%d/",
	    port);
	oauth_pkce_make(verifier, challenge);
	oauth_state_make(state);
	url = oauth_auth_url(p, redirect, state, challenge);
	printf("To authorize %s, open this URL in a browser:\n\n  %s\n\n"
	    "Waiting for the redirect to %s (up to %d s).\n"
	    "Without a browser on this machine: open the URL elsewhere, then "
	    "paste the\naddress the browser ends on here and press Enter:\n",
	    id, url, redirect, timeout);
	fflush(stdout);
	if (!no_browser)
		browser_open(url);
	if (oauth_loopback_wait(lfd, STDIN_FILENO, timeout, &target, e) == -1)
		goto out;
	if (oauth_redirect_parse(target, state, &code, e) == -1)
		goto out;
	if (oauth_grant_code(p, code, redirect, verifier, t, e) == -1)
		goto out;
	rc = 0;
out:
	sodium_memzero(verifier, sizeof(verifier));
	oauth_wipe_free(&code);
	oauth_wipe_free(&target);
	free(url);
	if (lfd != -1)
		close(lfd);
	return rc;
}

static int
flow_device(const struct oauth_profile *p, const char *id, int timeout,
    struct oauth_token *t, struct err *e)
{
	struct oauth_device d;
	time_t end;
	int r;

	if (oauth_device_start(p, &d, e) == -1)
		return -1;
	printf("To authorize %s, open %s\nand enter the code %s",
	    id, d.verification_uri, d.user_code);
	if (d.verification_uri_complete != NULL)
		printf("\n(or open %s)", d.verification_uri_complete);
	printf("\nWaiting for the authorization (up to %lld s).\n",
	    (long long)MP_MIN(d.expires_in, (int64_t)timeout));
	fflush(stdout);
	end = time(NULL) + (time_t)MP_MIN(d.expires_in, (int64_t)timeout);
	for (;;) {
		if (time(NULL) + d.interval > end) {
			r = err_set(e, ERR_TIMEOUT, "the device code expired "
			    "before the authorization was given");
			break;
		}
		sleep((unsigned)d.interval);
		if ((r = oauth_device_poll(p, &d, t, e)) != 1)
			break;
		oauth_token_clear(t);
	}
	oauth_device_clear(&d);
	return r == 0 ? 0 : -1;
}

int
cmd_account_authorize(int argc, char **argv)
{
	struct store *st;
	struct account a;
	struct oauth_acct o;
	struct oauth_profile p;
	struct oauth_token t;
	struct err e = { 0 };
	const char *id = NULL, *errstr;
	bool device = false, no_browser = false;
	int i, timeout = 300, rc = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--device") == 0)
			device = true;
		else if (strcmp(argv[i], "--no-browser") == 0)
			no_browser = true;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout = (int)strnum(argv[++i], 1, 86400, &errstr);
			if (errstr != NULL)
				usage_error("account", "--timeout %s: %s",
				    argv[i], errstr);
		} else if (strcmp(argv[i], "--help") == 0) {
			fputs(usage_authorize, stdout);
			return 0;
		} else if (argv[i][0] == '-' || id != NULL)
			usage_error("account", "account authorize: unexpected "
			    "argument '%s'", argv[i]);
		else
			id = argv[i];
	}
	if (id == NULL)
		usage_error("account", "usage: mailpull account authorize ID "
		    "[--device] [--no-browser]");
	memset(&p, 0, sizeof(p));
	memset(&t, 0, sizeof(t));
	memset(&o, 0, sizeof(o));
	account_init(&a);
	st = cli_open_store();
	if (store_account_get(st, id, &a, &e) == -1 ||
	    store_oauth_get(st, id, &o, &e) == -1)
		goto fail;
	if (!o.oauth2) {
		err_set(&e, ERR_CONFIG, "not an OAuth2 account (mailpull "
		    "account edit %s --auth oauth2 --oauth2-provider ...)",
		    id);
		goto fail;
	}
	if (oauth_profile_load(st, id, &o, &p, &e) == -1)
		goto fail;
	if ((device ? flow_device(&p, id, timeout, &t, &e) :
	    flow_code(&p, id, no_browser, timeout, &t, &e)) == -1)
		goto fail;
	if (t.refresh == NULL) {
		err_set(&e, ERR_AUTH, "the provider issued no refresh token "
		    "(for Google, remove mailpull's access at "
		    "myaccount.google.com and authorize again; check the "
		    "scope includes offline access)");
		goto fail;
	}
	if (oauth_tokens_save(st, id, &t, &e) == -1 ||
	    store_change_bump(st, &e) == -1)
		goto fail;
	printf("authorized %s\n", id);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "mailpull: %s: %s\n", id, err_msg(&e));
out:
	oauth_token_clear(&t);
	oauth_profile_clear(&p);
	oauth_acct_clear(&o);
	account_clear(&a);
	store_close(&st);
	err_clear(&e);
	return rc;
}
