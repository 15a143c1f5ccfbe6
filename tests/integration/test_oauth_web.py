"""The web UI's OAuth2 "Authorize" (issue 10): POST
/api/v1/accounts/ID/authorize answers the provider's authorization URL
with the API server's own /api/oauth/callback as redirect URI; the
"browser" (urllib) follows it through the fake provider
(lib/oauth_fixture.py) back to the callback, which exchanges the code with
PKCE and stores the tokens; then `mailpull fetch` logs in over IMAP
XOAUTH2 and delivers. A wrong, reused or expired state is refused without
a session; the provider's access_denied is shown escaped; role and CSRF
rules hold; nothing secret in responses or the server log."""
import http.client
import urllib.parse
import urllib.request

import test_oauth as oauth_cli
from api_support import ApiServer, add_user, ensure_admin
from lib.checks import fail
from lib.oauth_fixture import FakeProvider, OAuthDovecot  # noqa: F401

ACC = "/api/v1/accounts"


def _get(url):
    """A top-level GET without cookies: (status, headers, body text)."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("GET", u.path + ("?" + u.query if u.query else ""))
    r = c.getresponse()
    body = r.read().decode("utf-8", "replace")
    c.close()
    return r.status, r, body


def _setup(ctx):
    prov, dv = oauth_cli._env(ctx)
    mp = ctx.mailpull()
    a = oauth_cli.OAcct(ctx, prov, dv, mp, "imap", "xoauth2")
    prov.user = a.user
    pw = ensure_admin(mp)
    srv = ApiServer(ctx, mp)
    c = srv.client()
    c.login("admin", pw)
    srv.admin_pw = pw
    return prov, dv, mp, a, srv, c


def _start(c, a):
    r = c.post("%s/%s/authorize" % (ACC, urllib.parse.quote(a.id)), {})
    if r.status != 200:
        fail("POST authorize: %r" % r)
    url = r.json["url"]
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    if q.get("code_challenge_method") != "S256" or \
            len(q.get("code_challenge", "")) != 43:
        fail("no PKCE in %s" % url)
    want = c.base + "/api/oauth/callback"
    if q.get("redirect_uri") != want or r.json["redirect_uri"] != want:
        fail("redirect_uri %r, expected %r" % (q.get("redirect_uri"), want))
    if "code_verifier" in url:
        fail("the verifier is in the URL")
    return url, q


def _token_state(c, a):
    r = c.get("%s/%s" % (ACC, urllib.parse.quote(a.id)))
    if r.status != 200:
        fail("GET account: %r" % r)
    return (r.json.get("oauth2_token") or {}).get("state")


def test_oauth_web_authorize_and_fetch(ctx):
    prov, dv, mp, a, srv, c = _setup(ctx)
    if _token_state(c, a) != "none":
        fail("token state before: %r" % _token_state(c, a))
    # CSRF is required to start
    r = c.post("%s/%s/authorize" % (ACC, a.id), {}, csrf=False)
    if r.status != 403:
        fail("authorize without CSRF: %r" % r)
    url, q = _start(c, a)
    # the browser: provider -> 302 -> our callback (no cookies sent)
    with urllib.request.urlopen(url, timeout=30) as resp:
        page = resp.read().decode()
        final = resp.geturl()
        ctype = resp.headers.get("Content-Type", "")
    if not final.startswith(c.base + "/api/oauth/callback?"):
        fail("the provider sent the browser to %s" % final)
    if "Authorized" not in page or "close this tab" not in page or \
            not ctype.startswith("text/html"):
        fail("callback page: %s %s" % (ctype, page))
    if prov.grants != ["authorization_code"]:
        fail("token endpoint calls: %r" % prov.grants)
    if "token:        authorized" not in a.show():
        fail("account show after web authorize: %s" % a.show())
    if _token_state(c, a) != "authorized":
        fail("API token state: %r" % _token_state(c, a))
    # the state was used once: the same redirect again is refused
    st, _, body = _get(final)
    if st != 400 or "already" not in body:
        fail("reused state: %d %s" % (st, body))
    # delivery over IMAP XOAUTH2 with the tokens the callback stored
    msgs = oauth_cli._msgs(3, 301)
    dv.deliver_all(a.user, msgs)
    r = a.fetch()
    oauth_cli._check_fetch(a, msgs, r)
    if "XOAUTH2" not in mp.run(["log", a.id]).stdout:
        fail("run log does not name XOAUTH2")
    # nothing secret in any response or the server's log
    res = srv.stop()
    secrets_ = list(prov.tokens()) + [prov.client_secret]
    blob = b"".join(c.seen).decode("utf-8", "replace") + page + body + \
        res.stdout + res.stderr
    for s in secrets_:
        if s and s in blob:
            fail("a secret appears in a response or the log")
    if "authorized through the web UI" not in res.stderr:
        fail("no log line for the web authorization: %s" % res.stderr)


def test_oauth_web_bad_state_denied_and_roles(ctx):
    prov, dv, mp, a, srv, c = _setup(ctx)
    base = c.base + "/api/oauth/callback"
    # no pending authorization, forged and missing states: refused
    for qs in ("?code=abc&state=AAAAAAAAAAAAAAAAAAAAAA", "?code=abc",
               "?state=%3Cscript%3E&code=x", ""):
        st, resp, body = _get(base + qs)
        if st != 400 or "unknown" not in body or "<script>" in body:
            fail("callback %r: %d %s" % (qs, st, body))
    # a wrong state while one is pending: refused, and the pending one
    # still works afterwards only with its own state
    url, q = _start(c, a)
    st, _, body = _get(base + "?code=abc&state=" + "B" * 22)
    if st != 400:
        fail("wrong state: %d %s" % (st, body))
    if prov.grants:
        fail("a token request for a wrong state: %r" % prov.grants)
    # the provider refuses: an error page, the description escaped
    prov.deny = True
    url, q = _start(c, a)
    loc = oauth_cli._get_location(url)
    st, _, body = _get(loc)
    if st != 403 or "access_denied" not in body or \
            "The user denied access" not in body:
        fail("denied: %d %s" % (st, body))
    st, _, body = _get(base + "?" + urllib.parse.urlencode(
        {"state": q["state"], "error": "<b>x</b>"}))
    if st != 400:
        fail("state of a denied request reused: %d %s" % (st, body))
    # an escaped provider error with markup
    prov.deny = False
    url, q = _start(c, a)
    st, _, body = _get(base + "?" + urllib.parse.urlencode(
        {"state": q["state"], "error": "<img src=x>",
         "error_description": "a \"quoted\" <i>thing</i>"}))
    if st != 403 or "<img" in body or "&lt;img src=x&gt;" not in body or \
            "<i>" in body:
        fail("error not escaped: %d %s" % (st, body))
    if _token_state(c, a) != "none":
        fail("token state after refusals: %r" % _token_state(c, a))
    # a password account cannot be authorized
    r = c.post(ACC, {"id": "pw@example.org", "protocol": "pop3",
                     "host": "203.0.113.9", "user": "u",
                     "password": "Remote-pw-1",
                     "deliver_to": ["someone@example.org"]})
    if r.status != 201 and r.status != 200:
        fail("create password account: %r" % r)
    r = c.post("%s/pw@example.org/authorize" % ACC, {})
    if r.status != 409:
        fail("authorize a password account: %r" % r)
    # a user who cannot see the account gets a 404 and starts nothing
    add_user(mp, "bob", "user", "Bob-pass-12345", address="bob@example.org")
    b = srv.client()
    b.login("bob", "Bob-pass-12345")
    r = b.post("%s/%s/authorize" % (ACC, a.id), {})
    if r.status != 404:
        fail("authorize by a user without the account: %r" % r)
    # GET is not allowed to start one
    r = c.get("%s/%s/authorize" % (ACC, a.id))
    if r.status != 405:
        fail("GET authorize: %r" % r)


def test_oauth_web_button_playwright(ctx):
    """The form's Authorize button in headless Chromium: the new tab runs
    through the provider to the callback page, the form shows the token
    state change."""
    import json
    import os
    import shutil
    import subprocess

    import test_webui as webui_t
    from lib import util

    if not (os.access(webui_t.CHROMIUM, os.X_OK) and shutil.which("node")
            and shutil.which("npm")):
        raise util.SkipTest("chromium, node or npm not installed")
    mods = webui_t._playwright()
    prov, dv, mp, a, srv, c = _setup(ctx)
    outdir = os.path.join(ctx.tmp, "webui-oauth")
    os.makedirs(outdir, exist_ok=True)
    scenario = {"base": srv.base, "outdir": outdir, "node_modules": mods,
                "slow": util.slow_factor(), "acct_id": a.id,
                "admin": {"user": "admin", "pw": srv.admin_pw}}
    env = dict(os.environ, MAILPULL_WEBUI=json.dumps(scenario),
               PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    p = subprocess.run(["node", os.path.join(webui_t.WEBUI, "oauth.mjs")],
                       env=env, capture_output=True, text=True,
                       timeout=120 * util.slow_factor())
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    got = json.loads(lines[-1]) if lines else {}
    if p.returncode != 0:
        fail("browser scenario failed: %s\n%s" % (got.get("error"),
                                                 p.stderr[-3000:]))
    if "not authorized" not in got["before"] or \
            not got["after"].startswith("Token: authorized"):
        fail("token state in the form: %r" % got)
    if got["tab_result"] != "Authorized" or not got["opener_null"]:
        fail("the new tab: %r" % got)
    errs = [e for e in got["console_errors"]
            if not e.startswith("Failed to load resource")]
    if errs:
        fail("console errors: %r" % errs)
    for f in got["shots"]:
        webui_t._check_png(f, min_bytes=4000)
    if "token:        authorized" not in a.show():
        fail("account show after the button: %s" % a.show())


def test_oauth_web_redirect_uri_host_and_proxy(ctx):
    """The redirect URI follows Host; X-Forwarded-Host/-Proto only when the
    proxy is trusted; a Host with odd characters is refused."""
    prov, dv, mp, a, srv, c = _setup(ctx)
    path = "%s/%s/authorize" % (ACC, a.id)
    fwd = {"X-Forwarded-Host": "mail.example.org",
           "X-Forwarded-Proto": "https"}
    r = c.post(path, {}, headers=fwd)
    if r.status != 200 or r.json["redirect_uri"] != \
            c.base + "/api/oauth/callback":
        fail("untrusted X-Forwarded-Host used: %r" % r)
    r = c.post(path, {}, headers={"Host": "a<b>.example"})
    if r.status != 400:
        fail("odd Host accepted: %r" % r)
    srv2 = ApiServer(ctx, mp, extra=["--trust-proxy"])
    c2 = srv2.client()
    c2.login("admin", srv.admin_pw)
    r = c2.post(path, {}, headers=fwd)
    if r.status != 200 or r.json["redirect_uri"] != \
            "https://mail.example.org/api/oauth/callback":
        fail("trusted proxy: %r" % r)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
        r.json["url"]).query))
    if q.get("redirect_uri") != r.json["redirect_uri"]:
        fail("URL's redirect_uri differs: %r" % r.json)
