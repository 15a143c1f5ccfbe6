"""POP3 against the private Dovecot: transports, the corpus byte-exact,
keep/delete/keep-days/max-per-pass, authentication and TLS failures,
password handling, the account commands."""
import json
import os
import shutil
import stat
import subprocess
import threading
import time

from lib import corpus, pop3client
from lib.checks import (Account, assert_failed, assert_ok, check_delivered,
                        fail, journal)
from lib.mailpull import read_maildir

SMALL = 1024 * 1024  # subsets skip the ~1.4 MB message


def _transport(ctx, security, n):
    a = Account(ctx, prefix=security[:4])
    msgs = corpus.subset(n, max_size=SMALL)
    a.deliver(msgs)
    a.add(security=security)
    r = a.fetch()
    assert_ok(r)
    if a.id not in r.stdout:
        fail("summary line does not name the account", r)
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs],
                    acct=a.id)
    if a.server_count() != 0:
        fail("delete mode (default) left %d messages on the server"
             % a.server_count())
    return a


def test_pop3_plain_full_corpus_byte_exact(ctx):
    """security none, the whole >=200-message corpus, byte for byte."""
    a = Account(ctx, prefix="corp")
    msgs = corpus.generate(200)
    a.deliver(msgs)
    a.add(security="none")
    r = a.fetch(timeout=180)
    assert_ok(r)
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs],
                    acct=a.id)
    assert a.server_count() == 0, a.server_count()
    # mail is stored with LF line endings
    for name, data in a.delivered():
        assert b"\r\n" not in data, "CRLF in delivered file %s" % name
    # nothing left behind in tmp/
    assert not os.listdir(os.path.join(a.maildir, "tmp"))


def test_pop3s_with_ca_file(ctx):
    _transport(ctx, "tls", 30)


def test_pop3_stls_with_ca_file(ctx):
    _transport(ctx, "starttls", 30)


def test_keep_twice_no_duplicates(ctx):
    a = Account(ctx, prefix="keep")
    msgs = corpus.subset(20, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="none", extra=["--keep"])
    assert_ok(a.fetch())
    assert a.server_count() == 20, "keep mode deleted mail"
    r = a.fetch()
    assert_ok(r, "second fetch")
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])
    assert a.server_count() == 20
    # the journal: one row per UIDL, POP3 form, state delivered
    c = pop3client.Client(a.dv.pop3)
    c.login(a.user, a.password)
    uidls = sorted(c.uidl())
    c.quit()
    rows = journal(a.mp, a.id)
    assert sorted(r_[2] for r_ in rows) == uidls, (rows, uidls)
    for folder, uv, uid, st in rows:
        assert folder == "" and uv == 0 and st == 1, (folder, uv, uid, st)
    # new mail arriving later is fetched once, the old is not re-fetched
    more = corpus.subset(25, max_size=SMALL, seed=2)[20:]
    a.deliver(more)
    assert_ok(a.fetch(), "third fetch")
    check_delivered(a.delivered(),
                    [corpus.expected(m) for m in msgs + more])
    assert a.server_count() == 25


def test_delete_mode_empties_server(ctx):
    a = Account(ctx, prefix="del")
    msgs = corpus.subset(20, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="none", extra=["--delete"])
    assert_ok(a.fetch())
    assert a.server_count() == 0, a.server_count()
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])
    r = a.fetch()
    assert_ok(r, "second fetch on an empty maildrop")
    assert len(a.delivered()) == 20
    # UIDLs no longer on the server are forgotten
    rows = journal(a.mp, a.id)
    assert rows == [], "journal still holds deleted UIDLs: %r" % rows


def test_keep_days(ctx):
    a = Account(ctx, prefix="kd")
    msgs = corpus.subset(8, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="none", extra=["--keep-days", "2"])
    assert_ok(a.fetch())
    assert a.server_count() == 8, "keep-days 2 deleted fresh mail"
    # age the journal by 3 days
    a.mp.db_exec("UPDATE messages SET first_seen = first_seen - 3*86400 "
                 "WHERE account = ?", (a.id,))
    # one new message arrives; it is young and must stay
    new = corpus.subset(9, max_size=SMALL, seed=3)[8:]
    a.deliver(new)
    assert_ok(a.fetch(), "fetch after aging")
    assert a.server_count() == 1, \
        "expected only the new message left, got %d" % a.server_count()
    left = a.dv.server_messages(a.user)
    assert left == new, "the wrong message was kept"
    check_delivered(a.delivered(), [corpus.expected(m)
                                    for m in msgs + new])


def test_max_per_pass(ctx):
    mp = ctx.mailpull()
    # delete mode: 10 messages, 3 per pass
    a = Account(ctx, mp=mp, prefix="mpp")
    msgs = corpus.subset(10, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="none", extra=["--max-per-pass", "3"])
    for want_files, want_server in ((3, 7), (6, 4), (9, 1), (10, 0),
                                    (10, 0)):
        assert_ok(a.fetch())
        got = len(a.delivered())
        assert (got, a.server_count()) == (want_files, want_server), \
            "after a pass: %d delivered, %d on server; expected %d, %d" % (
                got, a.server_count(), want_files, want_server)
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])
    # keep mode: already delivered messages do not count against the cap
    b = Account(ctx, mp=mp, prefix="mppk")
    msgs = corpus.subset(7, max_size=SMALL, seed=4)
    b.deliver(msgs)
    b.add(security="none", extra=["--keep", "--max-per-pass", "3"])
    for want in (3, 6, 7, 7):
        assert_ok(b.fetch())
        assert len(b.delivered()) == want, (len(b.delivered()), want)
        assert b.server_count() == 7
    check_delivered(b.delivered(), [corpus.expected(m) for m in msgs])


def test_wrong_password(ctx):
    a = Account(ctx, prefix="wpw")
    msgs = corpus.subset(3, max_size=SMALL)
    a.deliver(msgs)
    real = a.password
    a.password = "definitely-not-" + real
    a.add(security="none")
    r = a.fetch()
    assert_failed(r, a.id, "auth", words=["Authentication failed"])
    assert real not in r.stderr and a.password not in r.stderr, \
        "a password shows in stderr"
    assert a.delivered() == [], "delivered despite failed auth"
    assert a.server_count() == 3
    # the run log records the failure with the server's text
    lg = a.mp.run(["log", a.id])
    assert_ok(lg, "log")
    assert "Authentication failed" in lg.stdout, lg
    assert a.password not in lg.stdout


def test_tls_self_signed_refused_by_default(ctx):
    a = Account(ctx, prefix="ss")
    a.deliver(corpus.subset(2, max_size=SMALL))
    a.add(security="tls", ca_file=None)
    r = a.fetch()
    assert_failed(r, a.id, "tls", words=["certificate"])
    assert a.delivered() == [] and a.server_count() == 2
    # no login happened on the server side
    time.sleep(0.2)
    assert "user=<%s>" % a.user not in a.dv.log(), \
        "Dovecot saw a login attempt for %s" % a.user


def test_tls_system_ca_directory_by_hash(ctx):
    """The system's CAs are looked up by subject hash in the default
    directory (SSL_CERT_DIR here): the test CA linked there under its hash
    is trusted without --ca-file; the same directory without the link is
    not."""
    a = Account(ctx, prefix="cad")
    msgs = corpus.subset(2, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="tls", ca_file=None)
    cadir = os.path.join(ctx.tmp, "cadir")
    os.makedirs(cadir)
    os.chmod(ctx.tmp, 0o755)
    shutil.copy(a.dv.ca_file, os.path.join(cadir, "test-ca.pem"))
    r = a.fetch(env={"SSL_CERT_DIR": cadir})
    assert_failed(r, a.id, "tls", words=["certificate"])
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in",
                        a.dv.ca_file], capture_output=True, text=True,
                       check=True).stdout.strip()
    os.symlink("test-ca.pem", os.path.join(cadir, h + ".0"))
    r = a.fetch(env={"SSL_CERT_DIR": cadir})
    assert_ok(r, "CA found by hash in SSL_CERT_DIR")
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])


def test_stls_self_signed_refused_by_default(ctx):
    a = Account(ctx, prefix="sss")
    a.deliver(corpus.subset(2, max_size=SMALL))
    a.add(security="starttls", ca_file=None)
    r = a.fetch()
    assert_failed(r, a.id, "tls", words=["certificate"])
    assert a.delivered() == [] and a.server_count() == 2
    time.sleep(0.2)
    assert "user=<%s>" % a.user not in a.dv.log()


def test_tls_no_verify_accepts_self_signed(ctx):
    a = Account(ctx, prefix="nv")
    msgs = corpus.subset(3, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="tls", ca_file=None, no_verify=True)
    assert_ok(a.fetch())
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])
    # the choice is visible
    sh = a.mp.run(["account", "show", a.id])
    assert_ok(sh, "account show")
    assert "verif" in sh.stdout.lower(), sh


def test_tls_host_name_localhost_with_ca(ctx):
    """--host localhost: the certificate's DNS name matches."""
    a = Account(ctx, prefix="lh")
    msgs = corpus.subset(2, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="tls", host="localhost")
    assert_ok(a.fetch())
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])


def test_stls_required_but_server_has_no_tls(ctx):
    """Dovecot with ssl = no offers no STLS: --security starttls is
    refused and Dovecot never sees an authentication attempt."""
    dv = ctx.dovecot_nossl
    a = Account(ctx, prefix="nostls", dv=dv)
    a.deliver(corpus.subset(2, max_size=SMALL))
    a.add(security="starttls", port=dv.pop3, ca_file=dv.ca_file)
    r = a.fetch()
    if r.code != 1 or a.id not in r.stderr:
        fail("expected exit 1 naming the account", r)
    assert a.delivered() == [] and a.server_count() == 2
    time.sleep(0.3)
    log = dv.log()
    assert "user=<%s>" % a.user not in log, \
        "Dovecot saw a login for %s:\n%s" % (a.user, log[-2000:])
    assert "auth failed" not in log and "Login:" not in log, log[-2000:]
    assert "no auth attempts" in log, log[-2000:]


def _db_and_wal_bytes(mp):
    out = b""
    for suffix in ("", "-wal", "-journal", "-shm"):
        p = mp.db_path + suffix
        if os.path.exists(p):
            with open(p, "rb") as f:
                out += f.read()
    return out


def test_password_never_shown_or_stored_in_clear(ctx):
    pw = "Cl3ar-Text-Pa55word-%d" % os.getpid()
    a = Account(ctx, prefix="pws", password=pw)
    msgs = corpus.subset(2, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="none")
    assert_ok(a.fetch())
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])
    outputs = []
    for args in (["account", "show", a.id], ["account", "list"],
                 ["account", "list", "--json"], ["log", a.id],
                 ["-v", "fetch", a.id], ["-v", "log", a.id]):
        r = a.mp.run(args)
        assert_ok(r, " ".join(args))
        outputs.append(r.stdout + r.stderr)
    for o in outputs:
        assert pw not in o, "password printed: %s" % o
    blob = _db_and_wal_bytes(a.mp)
    assert blob, "no store at %s" % a.mp.db_path
    assert pw.encode() not in blob, "password in clear in the store"
    # ... nor anywhere else in the state directory
    for dirpath, _, files in os.walk(a.mp.state):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                assert pw.encode() not in fh.read(), \
                    "password in clear in %s" % f
    key = os.path.join(a.mp.state, "secret.key")
    assert os.path.exists(key), "no secret.key"
    mode = stat.S_IMODE(os.stat(key).st_mode)
    assert mode == 0o600, "secret.key mode %o" % mode
    # the accounts row holds an encrypted blob
    rows = a.mp.db_query("SELECT password FROM accounts WHERE id = ?",
                         (a.id,))
    assert rows and rows[0][0], "no password stored"
    assert pw.encode() not in bytes(rows[0][0])


def _odd_password():
    # 1 KiB, every printable ASCII byte (':' '"' '\\' '%' space ...), DEL,
    # UTF-8 and bytes that are not valid UTF-8. Dovecot refuses control
    # characters (tab, CR, ...) in passwords, so those are not used here.
    base = bytes(range(0x20, 0x80)) + "é€日本😀".encode() + \
        bytes(range(0x80, 0x100))
    pw = (base * 8)[:1024]
    assert b"\n" not in pw and b"\0" not in pw and len(pw) == 1024
    return pw


def test_password_1kib_odd_bytes_via_file(ctx):
    a = Account(ctx, prefix="pwodd", password=_odd_password())
    msgs = corpus.subset(2, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="none", password_via="file")
    r = a.fetch()
    assert_ok(r)
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])
    assert a.password not in r.out + r.err


def test_password_1kib_odd_bytes_via_env_over_tls(ctx):
    a = Account(ctx, prefix="pwenv", password=_odd_password()[::-1])
    msgs = corpus.subset(2, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="tls", password_via="env")
    assert_ok(a.fetch())
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])


def test_password_via_stdin(ctx):
    a = Account(ctx, prefix="pwin", password="from stdin: 'quoted' \"x\"")
    msgs = corpus.subset(2, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="none", password_via="stdin")
    assert_ok(a.fetch())
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])


def test_account_list_json_and_show(ctx):
    mp = ctx.mailpull()
    a = Account(ctx, mp=mp, prefix="js1")
    b = Account(ctx, mp=mp, prefix="js2")
    a.add(security="none")
    b.add(security="tls", extra=["--keep"])
    r = mp.run(["account", "list", "--json"])
    assert_ok(r, "account list --json")
    data = json.loads(r.stdout)
    text = json.dumps(data)
    assert a.id in text and b.id in text, data
    assert a.password not in text and b.password not in text
    r = mp.run(["account", "list"])
    assert_ok(r, "account list")
    assert a.id in r.stdout and b.id in r.stdout
    r = mp.run(["account", "show", b.id])
    assert_ok(r, "account show")
    assert b.id in r.stdout and "127.0.0.1" in r.stdout, r
    # disable: fetch with no ids skips it; delete: it is gone
    assert_ok(mp.run(["account", "disable", a.id]), "disable")
    assert_ok(mp.run(["account", "delete", b.id]), "delete")
    data = json.loads(mp.run(["account", "list", "--json"]).stdout)
    text = json.dumps(data)
    assert a.id in text and b.id not in text, data
    r = mp.run(["account", "show", b.id])
    assert r.code != 0, "show of a deleted account succeeded"


def test_log_shows_last_run(ctx):
    a = Account(ctx, prefix="log")
    msgs = corpus.subset(4, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="none")
    assert_ok(a.fetch())
    r = a.mp.run(["log", a.id])
    assert_ok(r, "log")
    assert "127.0.0.1" in r.stdout, "run log does not name the server: %r" \
        % r
    runs = a.mp.db_query("SELECT started, finished, class, summary "
                         "FROM runs WHERE account = ?", (a.id,))
    assert len(runs) == 1, runs
    # a second, failing run (account edit to a wrong password) shows up
    # as the last one
    e = a.mp.run(["account", "edit", a.id, "--password-env", "NEWPW"],
                 env={"NEWPW": "wrong-" + a.password})
    assert_ok(e, "account edit --password-env")
    r2 = a.fetch()
    assert_failed(r2, a.id, "auth", words=["Authentication failed"])
    r = a.mp.run(["log", a.id])
    assert_ok(r, "log")
    assert "Authentication failed" in r.stdout, r
    assert "wrong-" + a.password not in r.stdout
    runs = a.mp.db_query("SELECT class FROM runs WHERE account = ?",
                         (a.id,))
    assert len(runs) == 2, runs


def test_default_target_under_state(ctx):
    """No --target: maildir:STATE/mail/%u/Maildir, %u the local part."""
    mp = ctx.mailpull()
    user = ctx.user("dflt")
    dv = ctx.dovecot
    dv.add_user(user, "pw")
    msgs = corpus.subset(3, max_size=SMALL)
    dv.deliver_all(user, msgs)
    acct = "%s@example.org" % user
    mp.add_account(acct, port=dv.pop3, security="none", user=user,
                   password="pw")
    assert_ok(mp.fetch(acct))
    md = os.path.join(mp.state, "mail", user, "Maildir")
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])
    for sub in ("cur", "new", "tmp"):
        assert os.path.isdir(os.path.join(md, sub)), sub


def test_deliver_to_two_locals(ctx):
    """--deliver-to a,b: each message lands in both Maildirs."""
    a = Account(ctx, prefix="dt")
    msgs = corpus.subset(3, max_size=SMALL)
    a.deliver(msgs)
    a.add(security="none", extra=["--deliver-to",
                                  "first@example.org,second@example.org"])
    assert_ok(a.fetch())
    for lp in ("first", "second"):
        md = os.path.join(a.root, lp, "Maildir")
        check_delivered(read_maildir(md), [corpus.expected(m)
                                           for m in msgs])
    assert a.server_count() == 0


def test_concurrent_fetch_same_account_dovecot(ctx):
    """Two fetches of one account at once: one waits or says busy; no
    message is delivered twice."""
    a = Account(ctx, prefix="conc")
    msgs = corpus.subset(60)
    a.deliver(msgs)
    a.add(security="none")
    p1 = a.mp.start(["fetch", a.id])
    p2 = a.mp.start(["fetch", a.id])
    r1 = p1.wait(120)
    r2 = p2.wait(120)
    for r in (r1, r2):
        if r.code == 0:
            continue
        assert_failed(r, a.id, "busy")
    assert r1.code == 0 or r2.code == 0, (r1, r2)
    check_delivered(a.delivered(), [corpus.expected(m) for m in msgs])
    assert a.server_count() == 0


def test_usage_errors_exit_2(ctx):
    mp = ctx.mailpull()
    cases = [
        ["account", "add", "x@example.org", "--protocol", "pop3", "--host",
         "127.0.0.1", "--user", "x", "--password-env", "X", "--bogus"],
        ["account", "add", "x@example.org", "--protocol", "pop3",
         "--user", "x", "--password-env", "X"],
        ["fetch", "--no-such-option"],
        ["no-such-command"],
    ]
    for args in cases:
        r = mp.run(args, env={"X": "pw"})
        assert r.code == 2, "expected exit 2 for %s, got %r" % (args, r)
        assert r.stderr.strip(), "no message on stderr for %s" % args
    r = mp.run(["account", "list", "--json"])
    assert_ok(r)
    assert "x@example.org" not in r.stdout, "a bad add created the account"
