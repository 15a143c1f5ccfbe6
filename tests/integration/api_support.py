"""Helpers for the API and web UI tests (test_api.py, test_webui.py): run
`mailpull api-serve` (or `serve`) on a free loopback port, create admin
users with the CLI, and an HTTP client with a cookie jar and the CSRF
token (urllib + http.cookiejar, standard library only)."""
import http.cookiejar
import json
import os
import signal
import ssl
import time
import urllib.error
import urllib.request

from lib import util


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    def header_all(self, name):
        return self.headers.get_all(name) or []

    def __repr__(self):
        return "<HTTP %s %s>" % (self.status, self.text[:500])


class Client:
    """One browser-like client: cookies, the CSRF token from login."""

    def __init__(self, base, ssl_ctx=None):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar)]
        if ssl_ctx is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl_ctx))
        self.opener = urllib.request.build_opener(*handlers)
        self.csrf = None
        self.seen = []      # every response body (password checks)

    def request(self, method, path, body=None, csrf=True, headers=None,
                raw=None, ctype="application/json"):
        url = self.base + path
        data = None
        h = dict(headers or {})
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None and ctype is not None:
            h["Content-Type"] = ctype
        if csrf and self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        req = urllib.request.Request(url, data=data, method=method,
                                     headers=h)
        try:
            with self.opener.open(req, timeout=30 * util.slow_factor()) as r:
                resp = Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            resp = Response(e.code, e.headers, e.read())
        self.seen.append(resp.body)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def login(self, user, password, expect=200):
        r = self.post("/api/v1/login", {"user": user, "password": password},
                      csrf=False)
        assert r.status == expect, (user, r)
        if r.status == 200:
            self.csrf = r.json["csrf"]
        return r

    def cookie(self, name="mailpull_session"):
        for c in self.jar:
            if c.name == name:
                return c
        return None


class ApiServer:
    """`mailpull api-serve` on a free port; stopped after the test."""

    def __init__(self, ctx, mp, extra=(), tls=False, cmd="api-serve"):
        self.ctx = ctx
        self.mp = mp
        self.port = util.free_port()
        self.tls = tls
        args = [cmd, "--listen", "127.0.0.1:%d" % self.port] + list(extra)
        if tls:
            args += ["--tls-cert", ctx.certs["cert"], "--tls-key",
                     ctx.certs["key"]]
        self.proc = mp.start(args)
        ctx.cleanup(self.stop)
        util.wait_port(self.port, timeout=15 * util.slow_factor())
        self.base = "%s://127.0.0.1:%d" % ("https" if tls else "http",
                                           self.port)
        self.result = None

    def client(self):
        ctx = None
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.ctx.certs["ca"])
        return Client(self.base, ctx)

    def stop(self):
        if self.result is None:
            self.proc.kill(signal.SIGTERM)
            self.result = self.proc.wait(20 * util.slow_factor())
            err = self.result.stderr
            for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                        "runtime error:"):
                assert bad not in err, "sanitizer report:\n%s" % err
        return self.result


def add_user(mp, name, role, password, domains=None, address=None):
    args = ["user", "add", name, "--role", role, "--password-env", "MP_UPW"]
    if domains:
        args += ["--domains", domains]
    if address:
        args += ["--address", address]
    r = mp.run(args, env={"MP_UPW": password})
    assert r.code == 0, r
    return r


def ensure_admin(mp):
    """The first admin's one-time password from `user ensure-admin`."""
    r = mp.run(["user", "ensure-admin"])
    assert r.code == 0, r
    words = r.stdout.split()
    assert "one-time" in r.stdout, r
    return words[-1]


def wait_for(fn, timeout=30, step=0.2):
    deadline = time.monotonic() + timeout * util.slow_factor()
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(step)


def account_body(acct_id, host="203.0.113.7", **kw):
    b = {"id": acct_id, "protocol": "pop3", "host": host, "user": "u1",
         "password": "Remote-Secret-pw-1"}
    b.update(kw)
    return b


def state_files_text(mp):
    """Everything api-serve wrote to its own stdout/stderr so far is only
    available at exit; this returns the db path for direct queries."""
    return os.path.join(mp.state, "mailpull.db")
