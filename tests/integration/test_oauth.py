"""OAuth2 accounts (issue 10) against a private Dovecot whose oauth2 passdb
introspects tokens at a local fake authorization server
(lib/oauth_fixture.py): authorization by pasted redirect URL, by the
loopback listener and by the device flow; XOAUTH2 and OAUTHBEARER over
IMAP and POP3 (the two-step AUTH for a long response); refresh before
expiry and after a refused token; a revoked refresh token puts the account
into "authorization needed" and deletes nothing; no secret in clear in
show, list, verbose output, run logs or the store."""
import glob
import http.client
import os
import secrets
import subprocess
import time
import urllib.parse
import urllib.request

from lib import corpus
from lib.checks import assert_ok, fail
from lib.mailpull import read_maildir
from lib.oauth_fixture import FakeProvider, OAuthDovecot


def _env(ctx):
    prov = FakeProvider(client_id="mailpull-test-client",
                        client_secret="cs-" + secrets.token_hex(12)).start()
    ctx.cleanup(prov.stop)
    dv = OAuthDovecot(prov, os.path.dirname(ctx.tmp)).start()
    ctx.cleanup(dv.stop)
    return prov, dv


class OAcct:
    def __init__(self, ctx, prov, dv, mp, protocol, mech):
        self.ctx, self.prov, self.dv, self.mp = ctx, prov, dv, mp
        self.user = ctx.user("oa")
        self.id = "%s@example.org" % self.user
        # the passwd-file entry only creates the Maildir; the passdb is
        # oauth2, so no password logs in
        dv.add_user(self.user, "not-a-usable-password")
        self.root = os.path.join(ctx.tmp, "mail")
        self.maildir = os.path.join(self.root, self.user, "Maildir")
        sf = os.path.join(ctx.tmp, "client-secret-%s" % self.user)
        with open(sf, "w") as f:
            f.write(prov.client_secret + "\n")
        port = dv.imaps if protocol == "imap" else dv.pop3s
        r = mp.run(["account", "add", self.id, "--protocol", protocol,
                    "--host", "127.0.0.1", "--port", port,
                    "--security", "tls", "--ca-file", dv.ca_file,
                    "--user", self.user,
                    "--target", "maildir:%s/%%u/Maildir" % self.root,
                    "--auth", "oauth2", "--oauth2-provider", "custom",
                    "--oauth2-auth-url", prov.url("/authorize"),
                    "--oauth2-token-url", prov.url("/token"),
                    "--oauth2-device-url", prov.url("/device"),
                    "--oauth2-client-id", prov.client_id,
                    "--oauth2-client-secret-file", sf,
                    "--oauth2-scope", "mail offline_access",
                    "--oauth2-mechanism", mech])
        if r.code != 0:
            fail("account add --auth oauth2", r)
        if "authorize" not in r.stderr:
            fail("add does not tell to authorize", r)

    def show(self):
        r = self.mp.run(["account", "show", self.id])
        assert_ok(r, "account show")
        return r.stdout

    def fetch(self, *pre):
        return self.mp.run(list(pre) + ["fetch", self.id])


def _get_location(url):
    """GET url without following the redirect: the Location."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", u.path + "?" + u.query)
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 302:
        fail("provider answered %d to %s" % (r.status, url))
    return r.getheader("Location")


def _start_authorize(a, extra=()):
    a.prov.user = a.user
    p = subprocess.Popen(
        a.mp.argv(["account", "authorize", a.id, "--no-browser",
                   "--timeout", "30"] + list(extra)),
        env=a.mp.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    head = b""
    url = None
    deadline = time.monotonic() + 20
    while url is None and time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        head += line
        if line.strip().startswith(b"http"):
            url = line.strip().decode()
    if url is None:
        p.kill()
        out, err = p.communicate()
        fail("no authorization URL printed: %r %r" % (head + out, err))
    return p, url, head


def _finish(p, head, stdin=b""):
    try:
        out, err = p.communicate(stdin, timeout=40)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    return p.returncode, (head + out).decode(), err.decode()


def authorize_paste(a):
    p, url, head = _start_authorize(a)
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    if q.get("code_challenge_method") != "S256" or \
            not q.get("redirect_uri", "").startswith("http://127.0.0.1:"):
        fail("authorization URL lacks PKCE or the loopback redirect: %s"
             % url)
    loc = _get_location(url)
    code, out, err = _finish(p, head, loc.encode() + b"\n")
    if code != 0 or "authorized %s" % a.id not in out:
        fail("authorize (pasted URL) failed: %s %s %s" % (code, out, err))
    return out + err


def authorize_loopback(a):
    p, url, head = _start_authorize(a)
    # the "browser": follows the provider's redirect to the listener
    with urllib.request.urlopen(url, timeout=10) as r:
        page = r.read()
    if b"mailpull received" not in page:
        fail("listener page: %r" % page)
    code, out, err = _finish(p, head, None)
    if code != 0 or "authorized %s" % a.id not in out:
        fail("authorize (loopback) failed: %s %s %s" % (code, out, err))
    return out + err


def _msgs(n, seed):
    return corpus.subset(n, seed=seed, max_size=64 * 1024)


def _check_fetch(a, msgs, r):
    assert_ok(r)
    got = read_maildir(a.maildir)
    if len(got) != len(msgs):
        fail("%d delivered, %d expected" % (len(got), len(msgs)), r)
    if a.dv.count(a.user) != 0:
        fail("messages left on the server", r)


def test_oauth_imap_xoauth2_pasted_url(ctx):
    prov, dv = _env(ctx)
    mp = ctx.mailpull()
    a = OAcct(ctx, prov, dv, mp, "imap", "xoauth2")
    if "token:        not authorized" not in a.show():
        fail("token state before authorize: %s" % a.show())
    r = a.fetch()
    if r.code != 1 or "account authorize" not in r.stderr:
        fail("fetch before authorize", r)
    authorize_paste(a)
    if "token:        authorized" not in a.show():
        fail("token state after authorize: %s" % a.show())
    msgs = _msgs(3, 101)
    dv.deliver_all(a.user, msgs)
    r = a.fetch()
    _check_fetch(a, msgs, r)
    if prov.grants != ["authorization_code"]:
        fail("token endpoint calls: %r" % prov.grants)
    log = mp.run(["log", a.id]).stdout
    if "XOAUTH2" not in log:
        fail("run log does not name the mechanism: %s" % log)
    # the user refuses at the provider
    prov.deny = True
    p, url, head = _start_authorize(a)
    code, out, err = _finish(p, head, _get_location(url).encode() + b"\n")
    if code != 1 or "access_denied" not in err:
        fail("denied authorization: %s %s %s" % (code, out, err))


def test_oauth_mechanisms_loopback(ctx):
    prov, dv = _env(ctx)
    mp = ctx.mailpull()
    cases = [("pop3", "oauthbearer", 400),   # two-step AUTH (> 255)
             ("pop3", "xoauth2", 40),        # AUTH XOAUTH2 <response>
             ("imap", "oauthbearer", 400)]   # SASL-IR, long
    for i, (proto, mech, tlen) in enumerate(cases):
        prov.access_len = tlen
        a = OAcct(ctx, prov, dv, mp, proto, mech)
        authorize_loopback(a)
        msgs = _msgs(2, 200 + i)
        dv.deliver_all(a.user, msgs)
        r = a.fetch("-v")
        _check_fetch(a, msgs, r)
        log = mp.run(["log", a.id]).stdout
        if "SASL %s" % mech.upper() not in log:
            fail("%s/%s: mechanism not in the run log: %s" %
                 (proto, mech, log))
        if proto == "pop3":
            # RFC 5034: an initial response over 255 octets waits for
            # the server's "+ "
            one_line = "C: AUTH %s ***" % mech.upper()
            if (one_line in log) != (tlen < 100):
                fail("%s: AUTH form for a %d-byte token: %s" %
                     (mech, tlen, log))


def _secrets_absent(ctx, prov, a, texts):
    needles = [prov.client_secret] + prov.tokens()
    for name, t in texts:
        for n in needles:
            if n in t:
                fail("a secret (%s...) appears in %s" % (n[:6], name))
    blobs = b""
    for f in glob.glob(os.path.join(a.mp.state, "*")):
        if os.path.isfile(f):
            with open(f, "rb") as fh:
                blobs += fh.read()
    for n in needles:
        if n.encode() in blobs:
            fail("a secret (%s...) is in the state directory in clear"
                 % n[:6])


def test_oauth_refresh_and_revoke(ctx):
    prov, dv = _env(ctx)
    mp = ctx.mailpull()
    a = OAcct(ctx, prov, dv, mp, "imap", "oauthbearer")
    authorize_paste(a)
    texts = []
    # the access token expires between two passes: refreshed first
    mp.db_exec("UPDATE account_oauth SET expires_at = ?",
               (int(time.time()) + 30,))
    prov.expire_access(a.user)
    msgs = _msgs(2, 301)
    dv.deliver_all(a.user, msgs)
    r = a.fetch("-v", "-v")
    texts.append(("fetch -v -v", r.stdout + r.stderr))
    _check_fetch(a, msgs, r)
    if prov.grants != ["authorization_code", "refresh_token"]:
        fail("expected one refresh: %r" % prov.grants, r)
    # the server refuses a token mailpull still thinks valid: the JSON
    # error is read, the exchange finished, the token refreshed once
    prov.expire_access(a.user)
    msgs2 = _msgs(2, 302)
    dv.deliver_all(a.user, msgs2)
    r = a.fetch("-v", "-v")
    texts.append(("fetch -v -v (refused token)", r.stdout + r.stderr))
    assert_ok(r)
    if len(read_maildir(a.maildir)) != 4 or dv.count(a.user) != 0:
        fail("after a refused token", r)
    if prov.grants[-1] != "refresh_token" or len(prov.grants) != 3:
        fail("expected a second refresh: %r" % prov.grants, r)
    log = mp.run(["log", a.id]).stdout
    texts.append(("log", log))
    if "token refused: provider status invalid_token" not in log:
        fail("the provider's error is not in the run log: %s" % log)
    # revoked refresh token: authorization needed, nothing deleted
    prov.revoke_refresh(a.user)
    prov.expire_access(a.user)
    msgs3 = _msgs(2, 303)
    dv.deliver_all(a.user, msgs3)
    r = a.fetch("-v", "-v")
    texts.append(("fetch (revoked)", r.stdout + r.stderr))
    if r.code != 1 or "mailpull account authorize %s" % a.id not in \
            r.stderr:
        fail("revoked refresh token", r)
    if dv.count(a.user) != 2 or len(read_maildir(a.maildir)) != 4:
        fail("messages touched after the revocation", r)
    show = a.show()
    texts.append(("show", show))
    if "authorization needed: invalid_grant" not in show:
        fail("show after revocation: %s" % show)
    lst = mp.run(["account", "list"]).stdout
    if "auth needed" not in lst:
        fail("list after revocation: %s" % lst)
    lj = mp.run(["account", "list", "--json"]).stdout
    texts.append(("list --json", lj))
    if '"oauth2_token_state": "needed"' not in lj:
        fail("list --json after revocation: %s" % lj)
    n = len(prov.grants)
    r = a.fetch()
    if r.code != 1 or len(prov.grants) != n:
        fail("a needed account must not call the token endpoint", r)
    # re-authorizing resumes it without losing anything
    texts.append(("authorize", authorize_paste(a)))
    r = a.fetch()
    texts.append(("fetch", r.stdout + r.stderr))
    assert_ok(r)
    if len(read_maildir(a.maildir)) != 6 or dv.count(a.user) != 0:
        fail("after re-authorizing", r)
    _secrets_absent(ctx, prov, a, texts)


def test_oauth_device_flow_and_config_secret(ctx):
    prov, dv = _env(ctx)
    mp = ctx.mailpull()
    a = OAcct(ctx, prov, dv, mp, "imap", "auto")
    prov.user = a.user
    r = mp.run(["account", "authorize", a.id, "--device", "--timeout",
                "30"])
    assert_ok(r, "authorize --device")
    if "WDJB-MJHT" not in r.stdout or prov.url("/activate") not in \
            r.stdout:
        fail("device flow instructions", r)
    if prov.grants.count("urn:ietf:params:oauth:grant-type:device_code") \
            != 2:
        fail("device polls: %r" % prov.grants, r)
    msgs = _msgs(2, 401)
    dv.deliver_all(a.user, msgs)
    _check_fetch(a, msgs, a.fetch())
    # provider-wide client secret: sealed, never echoed
    sf = os.path.join(ctx.tmp, "gsecret")
    with open(sf, "w") as f:
        f.write("g-secret-XYZZY\n")
    r = mp.run(["config", "set", "oauth2.google.client-secret-file", sf])
    assert_ok(r, "config set client-secret-file")
    r2 = mp.run(["config", "get", "oauth2.google.client-secret"])
    r3 = mp.run(["config", "list"])
    for x in (r, r2, r3):
        if "XYZZY" in x.stdout + x.stderr:
            fail("client secret echoed", x)
    if "(set, encrypted)" not in r2.stdout:
        fail("config get client-secret", r2)
    with open(mp.db_path, "rb") as f:
        if b"XYZZY" in f.read():
            fail("client secret in the store in clear")
    r = mp.run(["config", "set", "oauth2.google.client-id",
                "1234.apps.example"])
    assert_ok(r, "config set client-id")
