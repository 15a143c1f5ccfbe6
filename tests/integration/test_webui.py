"""The web UI in a real headless Chromium (Debian's chromium and
chromedriver, driven over WebDriver from the standard library): log in as
the admin, add a POP3 account on the private Dovecot through the form,
see it in the list, its mail arrive and its run log; a domain admin sees
only their domain's accounts; screenshots of the account list (desktop and
phone width) saved in the test's temp dir and checked to be real PNGs."""
import os
import shutil
import struct

from api_support import ApiServer, account_body, add_user, ensure_admin
from lib import corpus, util
from lib.checks import Account
import webdriver


def _check_png(path, min_bytes=8000):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %s" % path
    w, h = struct.unpack(">II", data[16:24])
    assert w >= 300 and h >= 300, (w, h)
    assert len(data) >= min_bytes, "screenshot suspiciously small: %d" % \
        len(data)
    # keep a copy where a human can look at it, when asked
    keep = os.environ.get("MAILPULL_WEBUI_SHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(path, keep)
    return w, h


def test_webui_admin_and_domain_admin(ctx):
    if not webdriver.available():
        raise util.SkipTest("chromium/chromedriver not installed")
    mp = ctx.mailpull()
    pw = ensure_admin(mp)
    a = Account(ctx, mp=mp, prefix="webui")
    msgs = corpus.subset(2, max_size=64 * 1024)
    a.deliver(msgs)
    # one account outside the domain admin's domain, added over the API
    add_user(mp, "domadm", "domain-admin", "domadm-password-1",
             domains="example.org")
    srv = ApiServer(ctx, mp)
    api = srv.client()
    api.login("admin", pw)
    r = api.post("/api/v1/accounts", account_body(
        "other@remote.example", deliver_to=["someone@other.example"],
        enabled=False))
    assert r.status == 201, r

    b = webdriver.Browser(ctx.tmp)
    ctx.cleanup(b.close)
    b.get(srv.base + "/")
    b.visible("#login-user")
    b.type("#login-user", "admin")
    b.type("#login-password", "not-the-password")
    b.click("#login-submit")
    b.visible("#login-error")
    b.type("#login-password", pw)
    b.click("#login-submit")
    b.visible("#add-account")
    assert "admin" in b.text("#who")

    # add the Dovecot account through the form
    b.click("#add-account")
    b.visible("#acct-form")
    # port placeholder follows protocol and security
    assert b.js("return document.querySelector('[name=port]')"
                ".placeholder") == "995"
    b.js("const f = document.querySelector('#acct-form');"
         "f.security.value = 'none'; f.security.dispatchEvent("
         "new Event('change'));")
    assert b.js("return document.querySelector('[name=port]')"
                ".placeholder") == "110"
    b.type("#acct-form [name=id]", a.id)
    b.type("#acct-form [name=host]", "127.0.0.1")
    b.type("#acct-form [name=port]", str(a.dv.pop3))
    b.type("#acct-form [name=user]", a.user)
    b.type("#acct-form [name=password]", a.password)
    b.type("#acct-form [name=target]", a.target)
    b.type("#acct-form [name=timeout]", "abc")
    b.click("#save")
    # a validation error is shown next to its field
    b.wait("return document.querySelector('label.invalid "
           "[name=timeout]') !== null", what="field error on timeout")
    b.type("#acct-form [name=timeout]", "20")
    b.click("#save")
    b.visible('tr[data-id="%s"]' % a.id)
    row = b.text('tr[data-id="%s"]' % a.id)
    assert "127.0.0.1:%d" % a.dv.pop3 in row, row

    # adding an enabled account checks it: the mail arrives
    def delivered():
        return len(a.delivered()) == len(msgs)
    from api_support import wait_for
    assert wait_for(delivered), "mail did not arrive"
    # the list shows the status once reloaded
    b.click("#nav-accounts")
    b.wait("const r = document.querySelector('tr[data-id=\"%s\"] "
           ".badge'); if (!r) return false; if (r.textContent !== 'ok') "
           "document.querySelector('#nav-accounts').click(); "
           "return r.textContent === 'ok';" % a.id, what="ok badge")
    # "check now" and the run log
    b.click('tr[data-id="%s"] td.acts button' % a.id)
    b.visible("#flash")
    b.js("for (const x of document.querySelectorAll("
         "'tr[data-id=\"%s\"] td.acts button')) if (x.textContent === "
         "'Log') x.click();" % a.id)
    b.visible("#log-runs .run pre")
    log = b.text("#log-runs .run pre")
    assert a.id in log or "messages" in log or log, log
    b.click("#log-back")
    b.visible('tr[data-id="%s"]' % a.id)

    shot = os.path.join(ctx.tmp, "webui-accounts.png")
    b.screenshot(shot)
    _check_png(shot)
    # phone width: still usable (cards instead of a table)
    b.set_size(400, 860)
    shot2 = os.path.join(ctx.tmp, "webui-accounts-phone.png")
    b.screenshot(shot2)
    _check_png(shot2, min_bytes=4000)
    b.set_size(1280, 860)

    # settings and users pages for the admin
    b.click("#nav-settings")
    b.visible("#settings-fields input[name=interval]")
    b.click("#nav-users")
    b.visible('#users-body tr[data-name="domadm"]')

    # the domain admin sees only example.org's account
    b.click("#logout")
    b.visible("#login-user")
    b.type("#login-user", "domadm")
    b.type("#login-password", "domadm-password-1")
    b.click("#login-submit")
    b.visible('tr[data-id="%s"]' % a.id)
    ids = b.js("return Array.from(document.querySelectorAll("
               "'#accounts-body tr')).map(r => r.dataset.id);")
    assert ids == [a.id], ids
    assert b.js("return document.querySelector('#nav-settings')"
                ".hidden") is True
