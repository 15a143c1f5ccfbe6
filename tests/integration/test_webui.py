"""The web UI in Debian's headless Chromium (/usr/bin/chromium) driven by
playwright-core from the npm registry (tests/integration/webui/: an exact
version, installed by this test into a cache directory with
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1, so no browser is ever downloaded).

The admin logs in (a wrong password first), adds a POP3 account on the
private Dovecot through the form (port placeholder following protocol and
security, a field error from the shared validation), sees the mail
arrive, the ok badge, "check now" and the run log; the admin pages; a
domain admin sees only their domain's account. Screenshots (account
list at desktop and phone width, the forms, the log) are saved in the
test's temp dir (and copied to $MAILPULL_WEBUI_SHOTS when set) and checked
to be real PNGs."""
import json
import os
import shutil
import struct
import subprocess

from api_support import ApiServer, account_body, add_user, ensure_admin
from api_support import wait_for
from lib import corpus, util
from lib.checks import Account

HERE = os.path.dirname(os.path.abspath(__file__))
WEBUI = os.path.join(HERE, "webui")
CHROMIUM = "/usr/bin/chromium"


def _cache_dir():
    base = os.environ.get("MAILPULL_NPM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or
        os.path.join(os.path.expanduser("~"), ".cache"), "mailpull-webui")
    with open(os.path.join(WEBUI, "package.json"), "rb") as f:
        pkg = json.load(f)
    ver = pkg["dependencies"]["playwright-core"]
    return os.path.join(base, "playwright-core-" + ver)


def _playwright():
    """node_modules with playwright-core, installed once per version."""
    d = _cache_dir()
    mods = os.path.join(d, "node_modules")
    if os.path.exists(os.path.join(mods, "playwright-core", "package.json")):
        return mods
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(WEBUI, "package.json"), d)
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund",
                        "--no-package-lock", "--loglevel=error"],
                       cwd=d, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, "npm install playwright-core failed:\n%s%s" % (
        r.stdout, r.stderr)
    return mods


def _check_png(path, min_bytes=8000):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %s" % path
    assert data[12:16] == b"IHDR", path
    w, h = struct.unpack(">II", data[16:24])
    assert w >= 300 and h >= 300, (path, w, h)
    assert len(data) >= min_bytes, "screenshot suspiciously small: %s %d" % (
        path, len(data))
    keep = os.environ.get("MAILPULL_WEBUI_SHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(path, keep)
    return w, h


def test_webui_playwright(ctx):
    if not (os.access(CHROMIUM, os.X_OK) and shutil.which("node") and
            shutil.which("npm")):
        raise util.SkipTest("chromium, node or npm not installed")
    mods = _playwright()
    mp = ctx.mailpull()
    pw = ensure_admin(mp)
    a = Account(ctx, mp=mp, prefix="webui")
    msgs = corpus.subset(2, max_size=64 * 1024)
    a.deliver(msgs)
    add_user(mp, "domadm", "domain-admin", "domadm-password-1",
             domains="example.org")
    srv = ApiServer(ctx, mp)
    api = srv.client()
    api.login("admin", pw)
    # one account outside the domain admin's domain
    r = api.post("/api/v1/accounts", account_body(
        "other@remote.example", deliver_to=["someone@other.example"],
        enabled=False))
    assert r.status == 201, r

    outdir = os.path.join(ctx.tmp, "webui")
    os.makedirs(outdir, exist_ok=True)
    scenario = {
        "base": srv.base, "outdir": outdir, "node_modules": mods,
        "slow": util.slow_factor(),
        "admin": {"user": "admin", "pw": pw},
        "domadm": {"user": "domadm", "pw": "domadm-password-1"},
        "acct": {"id": a.id, "port": a.dv.pop3, "user": a.user,
                 "password": a.password, "target": a.target},
    }
    env = dict(os.environ, MAILPULL_WEBUI=json.dumps(scenario),
               PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    p = subprocess.run(["node", os.path.join(WEBUI, "webui.mjs")], env=env,
                       capture_output=True, text=True,
                       timeout=240 * util.slow_factor())
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    got = json.loads(lines[-1]) if lines else {}
    assert p.returncode == 0, "browser scenario failed: %s\n%s" % (
        got.get("error"), p.stderr[-3000:])

    for f in got["shots"]:
        _check_png(f, min_bytes=4000)
    assert "admin" in got["who"], got
    assert (got["port_tls"], got["port_none"]) == ("995", "110"), got
    assert got["timeout_error"] == "expected a whole number from 1 to 3600", \
        got
    assert "127.0.0.1:%d" % a.dv.pop3 in got["row"], got
    assert got["edit_port"] == str(a.dv.pop3), got
    assert got["log"].strip(), got
    assert got["domadm_ids"] == [a.id], got
    assert got["domadm_settings_hidden"] is True, got
    # script errors only (the expected 401/400/404 answers are logged by
    # Chromium as "Failed to load resource")
    errs = [e for e in got["console_errors"]
            if not e.startswith("Failed to load resource")]
    assert not errs, errs
    assert wait_for(lambda: len(a.delivered()) == len(msgs)), \
        "mail did not arrive"
    assert any(f.endswith("webui-accounts.png") for f in got["shots"])
    # the password typed in the form never came back
    assert a.password not in p.stdout
