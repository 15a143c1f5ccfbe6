"""The admin JSON API over real HTTP against `mailpull api-serve`: login
and logout, session cookie flags and rotation, CSRF, every role's
visibility and the before/after domain check, validation 400s, passwords
never in a response or the log, the login rate limit and audit, session
expiry, settings, users, /metrics, TLS and the reverse-proxy headers, and
"check now" delivering from the private Dovecot."""
import json
import os

from api_support import (ApiServer, account_body, add_user, ensure_admin,
                         wait_for)
from lib import corpus
from lib.checks import Account

ACC = "/api/v1/accounts"


def _setup(ctx, extra=(), tls=False):
    mp = ctx.mailpull()
    pw = ensure_admin(mp)
    srv = ApiServer(ctx, mp, extra=extra, tls=tls)
    return mp, srv, pw


def test_api_login_logout_session(ctx):
    mp, srv, pw = _setup(ctx)
    # ensure-admin does nothing the second time
    r = mp.run(["user", "ensure-admin"])
    assert r.code == 0 and "one-time" not in r.stdout, r
    c = srv.client()
    assert c.get("/api/v1/me").status == 401
    c.login("admin", "wrong-password", expect=401)
    r = c.login("admin", pw)
    assert len(r.json["csrf"]) == 64 and r.json["user"]["role"] == "admin"
    cookies = r.header_all("Set-Cookie")
    assert len(cookies) == 1, cookies
    ck = cookies[0]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in ck, ck
    assert "Secure" not in ck, "Secure cookie over plain HTTP: %s" % ck
    sid1 = c.cookie().value
    me = c.get("/api/v1/me")
    assert me.status == 200 and me.json["name"] == "admin", me
    assert me.json["csrf"] == c.csrf
    # only a digest of the session id is stored
    rows = mp.db_query("SELECT id_hash FROM sessions")
    assert rows and all(sid1 not in r[0] for r in rows), rows
    # a second login rotates the session id and ends the old session
    old = srv.client()
    old.jar.set_cookie(c.cookie())
    c.login("admin", pw)
    sid2 = c.cookie().value
    assert sid2 != sid1
    assert old.get("/api/v1/me").status == 401
    assert c.get("/api/v1/me").status == 200
    # logout needs the CSRF token, then ends the session
    assert c.post("/api/v1/logout", csrf=False).status == 403
    r = c.post("/api/v1/logout")
    assert r.status == 200, r
    assert c.get("/api/v1/me").status == 401
    # the session is gone from the store too (a stolen cookie is dead)
    c2 = srv.client()
    c2.jar.set_cookie(c.cookie() or old.cookie())
    assert c2.get("/api/v1/accounts").status == 401
    # the alias without /v1/ answers the same
    c.login("admin", pw)
    assert c.get("/api/accounts").status == 200


def test_api_session_expiry(ctx):
    mp, srv, pw = _setup(ctx)
    c = srv.client()
    c.login("admin", pw)
    assert c.get(ACC).status == 200
    mp.db_exec("UPDATE sessions SET expires = 0")
    assert c.get(ACC).status == 401
    c.login("admin", pw)
    mp.db_exec("UPDATE sessions SET last_seen = last_seen - idle - 1")
    assert c.get(ACC).status == 401


def test_api_csrf_required(ctx):
    mp, srv, pw = _setup(ctx)
    c = srv.client()
    c.login("admin", pw)
    body = account_body("csrf@remote.example")
    r = c.post(ACC, body, csrf=False)
    assert r.status == 403 and "CSRF" in r.json["error"], r
    r = c.post(ACC, body, csrf=False, headers={"X-CSRF-Token": "0" * 64})
    assert r.status == 403, r
    # the token of another session does not work either
    other = srv.client()
    other.login("admin", pw)
    r = c.post(ACC, body, csrf=False, headers={"X-CSRF-Token": other.csrf})
    assert r.status == 403, r
    assert c.get(ACC).json == []
    r = c.post(ACC, body)
    assert r.status == 201, r
    for path in ("/csrf@remote.example/disable", "/csrf@remote.example/enable"):
        assert c.post(ACC + path, csrf=False).status == 403
    assert c.delete(ACC + "/csrf@remote.example", csrf=False).status == 403
    assert c.put("/api/v1/settings", {"interval": "10m"},
                 csrf=False).status == 403
    assert c.get(ACC + "/csrf@remote.example").status == 200
    # a form post (no JSON content type) is refused even with the token
    r = c.post(ACC, raw=b"id=x", ctype="application/x-www-form-urlencoded")
    assert r.status == 415, r


def _roles_setup(ctx):
    mp, srv, pw = _setup(ctx)
    add_user(mp, "dom", "domain-admin", "dom-password-1",
             domains="a.example,c.example")
    add_user(mp, "alice", "user", "alice-password-1",
             address="alice@a.example")
    adm = srv.client()
    adm.login("admin", pw)
    # a.example: two accounts (one for alice), b.example: one, mixed: one
    for aid, dt in (("a1@remote.example", ["x@a.example"]),
                    ("alice1@remote.example", ["alice@a.example"]),
                    ("b1@remote.example", ["y@b.example"]),
                    ("mix@remote.example", ["x@a.example", "y@b.example"]),
                    ("bare@a.example", None)):
        b = account_body(aid)
        if dt is not None:
            b["deliver_to"] = dt
        r = adm.post(ACC, b)
        assert r.status == 201, (aid, r)
    dom = srv.client()
    dom.login("dom", "dom-password-1")
    usr = srv.client()
    usr.login("alice", "alice-password-1")
    return mp, srv, adm, dom, usr


def test_api_roles_visibility(ctx):
    mp, srv, adm, dom, usr = _roles_setup(ctx)
    ids = lambda c: sorted(a["id"] for a in c.get(ACC).json)  # noqa: E731
    assert ids(adm) == sorted(["a1@remote.example", "alice1@remote.example",
                               "b1@remote.example", "mix@remote.example",
                               "bare@a.example"])
    # the account id's own domain counts when deliver_to is unset
    assert ids(dom) == ["a1@remote.example", "alice1@remote.example",
                        "bare@a.example"]
    assert ids(usr) == ["alice1@remote.example"]
    # not visible == not found, for every verb (existence does not leak)
    for c in (dom, usr):
        for path in ("/b1@remote.example", "/mix@remote.example",
                     "/nonexistent@remote.example"):
            assert c.get(ACC + path).status == 404
            assert c.put(ACC + path, {"timeout": 5}).status == 404
            assert c.delete(ACC + path).status == 404
            assert c.get(ACC + path + "/runs").status == 404
            assert c.post(ACC + path + "/disable").status == 404
            assert c.post(ACC + path + "/check").status == 404
    assert usr.get(ACC + "/a1@remote.example").status == 404
    assert usr.put(ACC + "/a1@remote.example", {"timeout": 5}).status == 404
    # and nothing changed
    b1 = adm.get(ACC + "/b1@remote.example").json
    assert b1["timeout"] == 30 and b1["enabled"]
    # admins only: settings and users
    for c in (dom, usr):
        assert c.get("/api/v1/settings").status == 403
        assert c.put("/api/v1/settings", {"interval": "1m"}).status == 403
        assert c.get("/api/v1/users").status == 403
        assert c.post("/api/v1/users", {"name": "evil", "role": "admin",
                                        "password": "x" * 12}).status == 403
        assert c.delete("/api/v1/users/admin").status == 403
    assert adm.get("/api/v1/settings").status == 200
    assert [u["name"] for u in adm.get("/api/v1/users").json] == \
        ["admin", "alice", "dom"]


def test_api_roles_before_after_change(ctx):
    mp, srv, adm, dom, usr = _roles_setup(ctx)
    a1 = ACC + "/a1@remote.example"
    # a domain admin may change within their domains
    r = dom.put(a1, {"deliver_to": ["z@c.example"], "timeout": 9})
    assert r.status == 200 and r.json["deliver_to"] == ["z@c.example"], r
    # but not move the account out of them: 403, nothing changed
    r = dom.put(a1, {"deliver_to": ["z@b.example"]})
    assert r.status == 403 and "deliver_to" in r.json["fields"], r
    r = dom.put(a1, {"deliver_to": ["z@c.example", "evil@b.example"]})
    assert r.status == 403, r
    r = dom.request("PATCH", a1, {"deliver_to": None})  # id's domain: remote
    assert r.status == 403, r
    cur = adm.get(a1).json
    assert cur["deliver_to"] == ["z@c.example"] and cur["timeout"] == 9
    # nor create one outside
    r = dom.post(ACC, account_body("n1@remote.example",
                                   deliver_to=["q@b.example"]))
    assert r.status == 403, r
    r = dom.post(ACC, account_body("n2@remote.example"))  # default: id
    assert r.status == 403, r
    assert adm.get(ACC + "/n1@remote.example").status == 404
    r = dom.post(ACC, account_body("n3@remote.example",
                                   deliver_to=["q@a.example"]))
    assert r.status == 201, r
    # a user: only their own address; a new account delivers to them
    r = usr.post(ACC, account_body("mine@remote.example"))
    assert r.status == 201 and r.json["deliver_to"] == ["alice@a.example"], r
    r = usr.put(ACC + "/mine@remote.example", {"deliver_to": ["bob@a.example"]})
    assert r.status == 403, r
    r = usr.post(ACC, account_body("n4@remote.example",
                                   deliver_to=["bob@a.example"]))
    assert r.status == 403, r
    # targets (an MDA!), CA files and internal hosts are for admins only
    for c in (dom, usr):
        aid = "alice1@remote.example"
        r = c.put(ACC + "/" + aid, {"target": "mda:/bin/sh -c id"})
        assert r.status == 403 and "target" in r.json["fields"], r
        r = c.put(ACC + "/" + aid, {"target": "maildir:/etc/x/%u"})
        assert r.status == 403, r
        r = c.put(ACC + "/" + aid, {"ca_file": "/etc/passwd"})
        assert r.status == 403, r
        for host in ("127.0.0.1", "10.1.2.3", "192.168.1.1", "169.254.169.254",
                     "::1", "fe80::1", "localhost", "0.0.0.0"):
            r = c.put(ACC + "/" + aid, {"host": host})
            assert r.status == 403 and "host" in r.json["fields"], (host, r)
        assert adm.get(ACC + "/" + aid).json["host"] == "203.0.113.7"
    r = usr.post(ACC, account_body("n5@remote.example", host="127.0.0.1"))
    assert r.status == 403, r
    # an admin may
    r = adm.put(ACC + "/alice1@remote.example",
                {"host": "127.0.0.1", "target": "mda:/usr/bin/true"})
    assert r.status == 200 and r.json["target"] == "mda:/usr/bin/true", r
    # delete within the domain works; the account is gone
    assert dom.delete(ACC + "/n3@remote.example").status == 200
    assert adm.get(ACC + "/n3@remote.example").status == 404


def test_api_validation_400(ctx):
    mp, srv, pw = _setup(ctx)
    c = srv.client()
    c.login("admin", pw)
    r = c.post(ACC, {})
    assert r.status == 400, r
    for f in ("id", "protocol", "host", "user", "password"):
        assert f in r.json["fields"], (f, r)
    bad = {"id": "not-an-address", "protocol": "smtp", "host": "a b",
           "port": 70000, "security": "ssl", "verify": "yes",
           "user": "", "password": "a\nb", "policy": "sometimes",
           "keep_days": -1, "max_per_pass": "many", "timeout": 0,
           "folders": "INBOX", "only_unseen": 1, "target": "ftp://x",
           "deliver_to": 5, "bogus": True}
    r = c.post(ACC, bad)
    assert r.status == 400, r
    fields = r.json["fields"]
    for f in bad:
        assert f in fields and isinstance(fields[f], str), (f, fields)
    # the same field rules on update; nothing stored
    assert c.post(ACC, account_body("v@remote.example")).status == 201
    r = c.put(ACC + "/v@remote.example", {"port": "x", "id": "other@x.example"})
    assert r.status == 400 and set(r.json["fields"]) == {"port", "id"}, r
    assert c.get(ACC + "/v@remote.example").json["port"] is None
    # not JSON, not an object, too deep, too big, wrong type
    assert c.post(ACC, raw=b"{nope").status == 400
    assert c.post(ACC, raw=b"[1,2]").status == 400
    r = c.post(ACC, raw=b"[" * 50 + b"]" * 50)
    assert r.status == 400 and "deep" in r.json["error"], r
    r = c.post(ACC, raw=json.dumps({"id": "x" * 70000}).encode())
    assert r.status == 413, r
    r = c.post(ACC, raw=b'{"id": "a@b.c", "id": "d@e.f"}')
    assert r.status == 400, r
    # duplicate id
    r = c.post(ACC, account_body("v@remote.example"))
    assert r.status == 409, r
    assert c.get(ACC + "/nope@remote.example").status == 404
    assert c.get("/api/v1/nothing").status == 404
    assert c.request("PATCH", "/api/v1/users").status == 405
    # the CLI sees what the API stored, option for option
    body = account_body("full@remote.example", protocol="imap", port=1993,
                        security="starttls", verify=False,
                        deliver_to=["a@l.example", "b@l.example"],
                        target="maildir:/tmp/m/%u", policy="keep-days",
                        keep_days=3, max_per_pass=10, timeout=7,
                        folders=["INBOX", "Lists/x"], only_unseen=True,
                        mark_seen=True, enabled=False)
    r = c.post(ACC, body)
    assert r.status == 201, r
    r = mp.run(["account", "list", "--json"])
    got = [a for a in json.loads(r.stdout) if a["id"] == "full@remote.example"]
    assert got, r
    a = got[0]
    assert (a["protocol"], a["port"], a["security"], a["verify"],
            a["deliver_to"], a["target"], a["policy"], a["keep_days"],
            a["max_per_pass"], a["timeout"], a["folders"], a["only_unseen"],
            a["mark_seen"], a["enabled"]) == \
        ("imap", 1993, "starttls", False, "a@l.example,b@l.example",
         "maildir:/tmp/m/%u", "keep-days", 3, 10, 7, ["INBOX", "Lists/x"],
         True, True, False), a


def test_api_passwords_never_returned(ctx):
    secret = "Remote-S3cret-never-shown"
    upw = "User-S3cret-never-shown"
    mp, srv, pw = _setup(ctx)
    c = srv.client()
    c.login("admin", pw)
    r = c.post(ACC, account_body("pw@remote.example", password=secret))
    assert r.status == 201 and r.json["has_password"] is True, r
    c.put(ACC + "/pw@remote.example", {"password": secret + "2"})
    c.get(ACC)
    c.get(ACC + "/pw@remote.example")
    c.get(ACC + "/pw@remote.example/runs")
    c.post("/api/v1/users", {"name": "u1", "role": "admin", "password": upw})
    c.get("/api/v1/users")
    c.get("/api/v1/me")
    c.get("/metrics")
    for body in c.seen:
        for s in (secret, upw, pw, "argon2"):
            assert s.encode() not in body, (s, body[:300])
    # nor in the server's log
    res = srv.stop()
    for s in (secret, upw, pw):
        assert s not in res.stderr and s not in res.stdout, s
    assert "account added by admin" in res.stderr, res
    # stored: sealed remote password, Argon2id hash for users
    rows = mp.db_query("SELECT hash FROM users WHERE name = 'u1'")
    assert rows[0][0].startswith("$argon2id$"), rows


def test_api_login_rate_limit(ctx):
    mp, srv, pw = _setup(ctx)
    add_user(mp, "bob", "admin", "bob-password-1")
    c = srv.client()
    for _ in range(5):
        c.login("bob", "wrong", expect=401)
    # now refused even with the right password, with Retry-After
    r = c.login("bob", "bob-password-1", expect=429)
    assert r.headers.get("Retry-After") == "300", r.headers
    # other users are not locked out by bob's failures
    c.login("admin", pw)
    # audit table and log
    rows = mp.db_query("SELECT user, addr, ok, reason FROM login_audit "
                       "ORDER BY rowid")
    assert sum(1 for r in rows if r[0] == "bob" and r[2] == 0) == 6, rows
    assert rows[-1][:3] == ("admin", "127.0.0.1", 1), rows
    # per address: failures across many user names from one client
    for i in range(14):
        c.login("nobody%d" % i, "wrong", expect=401)
    r = c.login("admin", pw, expect=429)
    m = c.get("/metrics").text
    assert 'mailpull_api_logins_total{result="throttled"} 2' in m, m
    res = srv.stop()
    assert "failed login for bob from 127.0.0.1" in res.stderr, res
    assert "too many failed logins" in res.stderr


def test_api_metrics_and_settings(ctx):
    mp, srv, pw = _setup(ctx)
    c = srv.client()
    r = c.get("/metrics")
    assert r.status == 200, r
    assert r.headers["Content-Type"].startswith(
        "text/plain; version=0.0.4"), r.headers
    assert "# TYPE mailpull_api_requests_total counter" in r.text
    c.login("admin", pw)
    s = c.get("/api/v1/settings").json
    assert "interval" in s["settings"] and s["settings"]["interval"] is None
    r = c.put("/api/v1/settings", {"interval": "never", "bogus": "1",
                                   "target": "ftp:x"})
    assert r.status == 400 and set(r.json["fields"]) == \
        {"interval", "bogus", "target"}, r
    r = c.put("/api/v1/settings", {"interval": "10m", "postmaster":
                                   "pm@l.example"})
    assert r.status == 200 and r.json["settings"]["interval"] == "600", r
    assert mp.run(["config", "get", "interval"]).stdout.strip() == "600"
    r = c.put("/api/v1/settings", {"interval": None})
    assert r.json["settings"]["interval"] is None
    # users: generated one-time password, shown once, works
    r = c.post("/api/v1/users", {"name": "gen", "role": "domain-admin",
                                 "domains": ["d.example"], "generate": True})
    assert r.status == 201 and len(r.json["password"]) >= 16, r
    gpw = r.json["password"]
    assert "password" not in json.dumps(c.get("/api/v1/users").json)
    c2 = srv.client()
    c2.login("gen", gpw)
    r = c.post("/api/v1/users", {"name": "x y", "role": "boss",
                                 "password": "short"})
    assert r.status == 400 and set(r.json["fields"]) == \
        {"name", "role", "password"}, r
    r = c.post("/api/v1/users", {"name": "gen", "role": "user",
                                 "address": "g@d.example",
                                 "password": "long-enough"})
    assert r.status == 409, r
    # deleting a user ends their sessions; the last admin stays
    assert c.delete("/api/v1/users/gen").status == 200
    assert c2.get("/api/v1/me").status == 401
    assert c.delete("/api/v1/users/admin").status == 409
    assert c.delete("/api/v1/users/nobody").status == 404


def test_api_user_cli(ctx):
    mp = ctx.mailpull()
    pwf = os.path.join(ctx.tmp, "pw")
    with open(pwf, "w") as f:
        f.write("file-password-1\n")
    r = mp.run(["user", "add", "ann", "--role", "domain-admin", "--domains",
                "A.example, b.example", "--password-file", pwf])
    assert r.code == 0, r
    r = mp.run(["user", "add", "ann", "--role", "admin", "--generate"])
    assert r.code == 1 and "already exists" in r.stderr, r
    assert mp.run(["user", "add", "x", "--role", "domain-admin",
                   "--generate"]).code == 2
    assert mp.run(["user", "add", "x", "--role", "root",
                   "--generate"]).code == 2
    r = mp.run(["user", "add", "cat", "--role", "user", "--address",
                "cat@b.example"], stdin=b"stdin-password-1\n")
    assert r.code == 0, r
    r = mp.run(["user", "list", "--json"])
    users = {u["name"]: u for u in json.loads(r.stdout)}
    assert users["ann"]["domains"] == "a.example,b.example", users
    assert users["cat"]["address"] == "cat@b.example"
    r = mp.run(["user", "passwd", "cat", "--generate"])
    assert r.code == 0 and "new password for cat" in r.stdout, r
    assert mp.run(["user", "delete", "cat"]).code == 0
    assert mp.run(["user", "delete", "cat"]).code == 1
    srv = ApiServer(ctx, mp)
    c = srv.client()
    c.login("ann", "file-password-1")
    c.login("ann", "stdin-password-1", expect=401)


def test_api_tls_and_proxy(ctx):
    mp, srv, pw = _setup(ctx, tls=True)
    c = srv.client()
    r = c.login("admin", pw)
    ck = r.header_all("Set-Cookie")[0]
    assert "Secure" in ck, ck
    assert "max-age" in r.headers.get("Strict-Transport-Security", "")
    srv.stop()
    # behind a proxy: X-Forwarded-For/-Proto only when trusted
    srv2 = ApiServer(ctx, mp, extra=["--trust-proxy"])
    c = srv2.client()
    h = {"X-Forwarded-For": "198.51.100.1, 192.0.2.9",
         "X-Forwarded-Proto": "https"}
    r = c.request("POST", "/api/v1/login", {"user": "admin",
                                            "password": "bad"}, headers=h)
    assert r.status == 401
    r = c.request("POST", "/api/v1/login", {"user": "admin", "password": pw},
                  headers=h)
    assert "Secure" in r.header_all("Set-Cookie")[0], r.headers
    rows = mp.db_query("SELECT addr FROM login_audit ORDER BY rowid")
    assert rows[-1][0] == "192.0.2.9" and rows[-2][0] == "192.0.2.9", rows
    srv2.stop()
    srv3 = ApiServer(ctx, mp)
    c = srv3.client()
    r = c.request("POST", "/api/v1/login", {"user": "admin", "password": pw},
                  headers=h)
    assert "Secure" not in r.header_all("Set-Cookie")[0]
    rows = mp.db_query("SELECT addr FROM login_audit ORDER BY rowid")
    assert rows[-1][0] == "127.0.0.1", rows


def test_api_check_now_delivers(ctx):
    mp, srv, pw = _setup(ctx)
    a = Account(ctx, mp=mp, prefix="apick")
    msgs = corpus.subset(3, max_size=64 * 1024)
    a.deliver(msgs)
    c = srv.client()
    c.login("admin", pw)
    r = c.post(ACC, {"id": a.id, "protocol": "pop3", "host": "127.0.0.1",
                     "port": a.dv.pop3, "security": "none", "user": a.user,
                     "password": a.password, "target": a.target,
                     "enabled": False})
    assert r.status == 201 and r.json["status"]["state"] == "disabled", r
    path = ACC + "/" + a.id
    assert c.post(path + "/check").status == 409       # disabled
    # enabling starts a check (the daemon's hook; api-serve runs fetch)
    assert c.post(path + "/enable").json["enabled"] is True
    runs = wait_for(lambda: c.get(path + "/runs").json)
    assert runs and runs[0]["ok"] is True, runs
    assert "log" in runs[0]
    assert len(a.delivered()) == 3
    a.deliver(corpus.subset(1, seed=7, max_size=64 * 1024))
    r = c.post(path + "/check")
    assert r.status == 202, r
    runs = wait_for(lambda: len(c.get(path + "/runs").json) >= 2 and
                    c.get(path + "/runs").json)
    assert runs and runs[0]["ok"] is True, runs
    assert len(a.delivered()) == 4
    acct = c.get(path).json
    assert acct["status"]["state"] == "ok" and \
        acct["status"]["last_run"]["ok"], acct
    assert c.get(path + "/runs?n=0").status == 400
    r = c.post(path + "/disable")
    assert r.json["status"]["state"] == "disabled"


def test_api_through_serve(ctx):
    """The same API inside the daemon: an account added over the API is
    checked by the scheduler at once, "check now" is queued to it, and
    /metrics carries the daemon's metrics."""
    mp = ctx.mailpull()
    pw = ensure_admin(mp)
    srv = ApiServer(ctx, mp, cmd="serve",
                    extra=["--allow-root", "--no-syslog"])
    a = Account(ctx, mp=mp, prefix="apisrv")
    a.deliver(corpus.subset(2, max_size=64 * 1024))
    c = srv.client()
    c.login("admin", pw)
    r = c.post(ACC, {"id": a.id, "protocol": "pop3", "host": "127.0.0.1",
                     "port": a.dv.pop3, "security": "none", "user": a.user,
                     "password": a.password, "target": a.target})
    assert r.status == 201, r
    assert wait_for(lambda: len(a.delivered()) == 2), "no delivery"
    assert c.post(ACC + "/" + a.id + "/check").status == 202
    runs = wait_for(lambda: c.get(ACC + "/" + a.id + "/runs").json)
    assert runs and runs[0]["ok"], runs
    m = c.get("/metrics").text
    assert "mailpull_api_requests_total" in m
    assert len([ln for ln in m.splitlines() if ln.startswith("mailpull_")
                and not ln.startswith("mailpull_api_")]) > 0, m
    res = srv.stop()
    assert res.code == 0, res


def test_api_groups_and_options(ctx):
    """Groups with the domain-admin scope; the routing, schedule, filter
    and OAuth2 options; the CLI's messages for the same bad values."""
    mp, srv, pw = _setup(ctx)
    add_user(mp, "da", "domain-admin", "da-password-1", domains="a.example")
    c = srv.client()
    c.login("admin", pw)
    G = "/api/v1/groups"
    assert c.post(G, {"name": "sales", "members": ["x@a.example",
                                                    "y@a.example"]}).status == 201
    assert c.post(G, {"name": "mixed", "members": ["x@a.example",
                                                    "z@b.example"]}).status == 201
    assert c.post(G, {"name": "sales", "members": ["q@a.example"]}).status == 409
    r = c.post(G, {"name": "bad", "members": ["@sales"]})
    assert r.status == 400 and "members" in r.json["fields"], r
    d = srv.client()
    d.login("da", "da-password-1")
    assert [g["name"] for g in d.get(G).json] == ["sales"]
    assert d.get(G + "/mixed").status == 404
    r = d.put(G + "/sales", {"members": ["x@a.example", "out@b.example"]})
    assert r.status == 403, r
    assert d.put(G + "/sales", {"members": ["w@a.example"]}).status == 200
    # every option, as the CLI names them
    body = account_body("opt@remote.example", deliver_to=["@sales"],
                        multidrop=True, domains=["a.example"],
                        envelope_headers=["X-Original-To"],
                        rules=["*@a.example > @sales"],
                        postmaster="pm@a.example", interval="10m",
                        idle=False, spam_check=True, virus_check=True,
                        spam_action="quarantine", scanner_down="pass",
                        provider_host="mx.remote.example")
    r = d.post(ACC, body)
    assert r.status == 201, r
    a = r.json
    assert (a["multidrop"], a["domains"], a["envelope_headers"], a["rules"],
            a["postmaster"], a["interval"], a["spam_check"],
            a["spam_action"], a["scanner_down"], a["provider_host"],
            a["auth"]) == (True, ["a.example"], ["X-Original-To"],
                           ["*@a.example > @sales"], "pm@a.example", 600,
                           True, "quarantine", "pass", "mx.remote.example",
                           "password"), a
    assert "recipient_warning" in a and "state" in a["status"], a
    # a domain admin cannot widen a catch-all beyond their domains
    r = d.request("PATCH", ACC + "/opt@remote.example",
                  {"domains": ["a.example", "b.example"]})
    assert r.status == 403, r
    # the group is in use
    assert c.delete(G + "/sales").status == 409
    # OAuth2: no password needed; the token state is read-only
    r = c.post(ACC, {"id": "oa@remote.example", "protocol": "imap",
                     "host": "203.0.113.9", "user": "oa", "auth": "oauth2",
                     "oauth2_provider": "microsoft",
                     "oauth2_tenant": "contoso.onmicrosoft.com"})
    assert r.status == 201, r
    assert r.json["oauth2_token"]["state"] == "none", r
    assert "mailpull account authorize oa@remote.example" in \
        r.json["oauth2_token"]["authorize"]
    # the same bad value, the same message from the CLI and the API
    for field, opt, bad in (("domains", "--domains", "bad domain"),
                            ("rules", "--rule", "sales > alice"),
                            ("spam_action", "--spam-action", "burn")):
        r = c.request("PATCH", ACC + "/opt@remote.example", {field: bad})
        assert r.status == 400, r
        msg = r.json["fields"][field]
        cli = mp.run(["account", "edit", "opt@remote.example", opt, bad])
        assert cli.code == 2 and msg in cli.stderr, (msg, cli)
