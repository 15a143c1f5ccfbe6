"""OAuth2 test fixtures for test_oauth.py: a small local OAuth2
authorization server and a private Dovecot whose passdb checks tokens by
introspection against it.

    prov = FakeProvider(client_id="cid", client_secret="s3").start()
    prov.url("/token")                    # http://127.0.0.1:PORT/token
    prov.access_ttl = 3                   # seconds an access token lives
    prov.revoke_refresh(user)             # every refresh token of user
    prov.expire_access(user)              # introspection says inactive
    prov.grants                           # [grant_type, ...] seen at /token

    dv = OAuthDovecot(prov, tmp_root).start()   # same API as lib.dovecot

Endpoints: GET /authorize (checks client_id, S256 PKCE, redirect_uri on
loopback; answers 302 to redirect_uri with code and state, or with
error=access_denied when prov.deny is set); POST /token (authorization_code
with the PKCE verifier, refresh_token, device_code grants; client secret
checked); POST /device (RFC 8628; the first poll is pending, the next
approved); POST /introspect (Dovecot: token=... -> {"active": true,
"username": USER}). The login hint is the `login_hint` parameter or the
provider's `user` attribute.
"""
import base64
import hashlib
import http.server
import json
import os
import secrets
import threading
import time
import urllib.parse

from . import dovecot as dovecot_mod
from . import util


class FakeProvider:
    def __init__(self, client_id="mailpull-test", client_secret=None):
        self.client_id = client_id
        self.client_secret = client_secret
        self.user = None            # whom /authorize logs in
        self.deny = False
        self.access_ttl = 3600
        self.access_len = 40        # length of issued access tokens
        self.codes = {}             # code -> (user, redirect, challenge)
        self.refresh = {}           # token -> user
        self.access = {}            # token -> (user, expiry)
        self.devices = {}           # device_code -> [user, polls]
        self.grants = []
        self.introspections = 0
        self.lock = threading.Lock()
        self.server = None

    # ---- life cycle -------------------------------------------------
    def start(self):
        prov = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body=None, headers=()):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                if u.path != "/authorize":
                    return self._send(404, {"error": "not_found"})
                code, loc = prov._authorize(q)
                if code != 302:
                    return self._send(code, {"error": loc})
                self._send(302, None, [("Location", loc)])

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                form = dict(urllib.parse.parse_qsl(
                    self.rfile.read(n).decode()))
                path = urllib.parse.urlsplit(self.path).path
                if path == "/token":
                    code, body = prov._token(form)
                elif path == "/device":
                    code, body = prov._device(form)
                elif path == "/introspect":
                    code, body = prov._introspect(form)
                else:
                    code, body = 404, {"error": "not_found"}
                self._send(code, body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    # ---- tokens -----------------------------------------------------
    def _issue(self, user, with_refresh=True):
        at = "at-" + secrets.token_urlsafe(
            self.access_len)[:max(self.access_len - 3, 8)]
        self.access[at] = (user, time.time() + self.access_ttl)
        out = {"access_token": at, "token_type": "Bearer",
               "expires_in": self.access_ttl}
        if with_refresh:
            rt = "rt-" + secrets.token_urlsafe(24)
            self.refresh[rt] = user
            out["refresh_token"] = rt
        return out

    def revoke_refresh(self, user):
        with self.lock:
            for k in [k for k, v in self.refresh.items() if v == user]:
                del self.refresh[k]

    def expire_access(self, user):
        with self.lock:
            for k, (u, _) in list(self.access.items()):
                if u == user:
                    self.access[k] = (u, 0)

    def tokens(self):
        """Every token ever issued (for the no-secret-in-clear checks)."""
        with self.lock:
            return list(self.access) + list(self.refresh)

    def _client_ok(self, form):
        if form.get("client_id") != self.client_id:
            return False
        if self.client_secret is not None and \
                form.get("client_secret") != self.client_secret:
            return False
        return True

    def _authorize(self, q):
        if q.get("client_id") != self.client_id:
            return 400, "invalid_client"
        if q.get("response_type") != "code" or \
                q.get("code_challenge_method") != "S256" or \
                len(q.get("code_challenge", "")) != 43:
            return 400, "invalid_request"
        redirect = q.get("redirect_uri", "")
        if not redirect.startswith("http://127.0.0.1:"):
            return 400, "invalid_redirect_uri"
        sep = "&" if "?" in redirect else "?"
        if self.deny:
            return 302, redirect + sep + urllib.parse.urlencode(
                {"error": "access_denied", "error_description":
                 "The user denied access", "state": q.get("state", "")})
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = (self.user, redirect, q["code_challenge"])
        return 302, redirect + sep + urllib.parse.urlencode(
            {"code": code, "state": q.get("state", "")})

    def _token(self, form):
        g = form.get("grant_type")
        with self.lock:
            self.grants.append(g)
            if not self._client_ok(form):
                return 401, {"error": "invalid_client"}
            if g == "authorization_code":
                c = self.codes.pop(form.get("code", ""), None)
                if c is None or c[1] != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant"}
                v = form.get("code_verifier", "").encode()
                ch = base64.urlsafe_b64encode(
                    hashlib.sha256(v).digest()).decode().rstrip("=")
                if ch != c[2]:
                    return 400, {"error": "invalid_grant",
                                 "error_description": "PKCE mismatch"}
                return 200, self._issue(c[0])
            if g == "refresh_token":
                u = self.refresh.get(form.get("refresh_token", ""))
                if u is None:
                    return 400, {"error": "invalid_grant",
                                 "error_description":
                                 "Token has been expired or revoked."}
                return 200, self._issue(u, with_refresh=False)
            if g == "urn:ietf:params:oauth:grant-type:device_code":
                d = self.devices.get(form.get("device_code", ""))
                if d is None:
                    return 400, {"error": "expired_token"}
                d[1] += 1
                if d[1] < 2:
                    return 400, {"error": "authorization_pending"}
                del self.devices[form["device_code"]]
                return 200, self._issue(d[0])
            return 400, {"error": "unsupported_grant_type"}

    def _device(self, form):
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        dc = secrets.token_urlsafe(20)
        with self.lock:
            self.devices[dc] = [self.user, 0]
        return 200, {"device_code": dc, "user_code": "WDJB-MJHT",
                     "verification_uri": self.url("/activate"),
                     "expires_in": 60, "interval": 1}

    def _introspect(self, form):
        with self.lock:
            self.introspections += 1
            t = self.access.get(form.get("token", ""))
        if t is None or t[1] < time.time():
            return 200, {"active": False}
        return 200, {"active": True, "username": t[0]}


OAUTH2_EXT = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
"""

PASSDB_OLD = """passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd.d/%u
}}"""


class OAuthDovecot(dovecot_mod.Dovecot):
    """lib.dovecot's instance with an oauth2 passdb (XOAUTH2 and
    OAUTHBEARER only) checking tokens at prov's /introspect."""

    def __init__(self, prov, tmp_root=None, certs=None):
        super().__init__(ssl=True, certs=certs, tmp_root=tmp_root)
        self.prov = prov

    def start(self):
        ext = os.path.join(self.dir, "dovecot-oauth2.conf.ext")
        with open(ext, "w") as f:
            f.write(OAUTH2_EXT.format(url=self.prov.url("/introspect")))
        os.chmod(ext, 0o644)
        old = dovecot_mod.CONF
        new = old.replace(PASSDB_OLD, """passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %s
}}""" % ext.replace("{", "{{").replace("}", "}}"))
        new = new.replace("auth_mechanisms = plain login",
                          "auth_mechanisms = xoauth2 oauthbearer")
        assert new != old and "driver = oauth2" in new
        dovecot_mod.CONF = new
        try:
            return super().start()
        finally:
            dovecot_mod.CONF = old
