"""The daemon, `mailpull serve`, against the private Dovecot: polling on
the interval, accounts added/edited while running checked at once,
backoff of failing accounts (status in the store and `account show`)
while others keep flowing, SIGTERM in the middle of a large pass (nothing
lost, no duplicate after a restart), the state lock, and IMAP IDLE.

serve runs with --interval (seconds-scale) and --no-syslog; each test
stops it with SIGTERM and checks that it exits cleanly."""
import collections
import imaplib
import os
import re
import signal
import time
import urllib.request

from lib import corpus, util
from lib.checks import Account, check_delivered, fail
from lib.mailpull import maildir_pending, strip_received

SMALL = 256 * 1024


def _err(p):
    """stderr of a running Proc so far (its temporary file)."""
    try:
        return os.pread(p._err.fileno(), 1 << 22, 0).decode(
            "utf-8", "replace")
    except (OSError, ValueError, AttributeError):
        return p.result.stderr if p.result is not None else ""


def _serve(mp, *args, interval="2s", port=None):
    port = port or util.free_port()
    argv = ["serve", "--no-syslog", "--interval", interval,
            "--listen", "127.0.0.1:%d" % port] + list(args)
    p = mp.start(argv)
    deadline = time.monotonic() + 10 * util.slow_factor()
    while "serve: state" not in _err(p):
        if p.poll() is not None:
            fail("serve exited at start", p.result)
        if time.monotonic() > deadline:
            fail("serve did not start: %s" % _err(p))
        time.sleep(0.05)
    return p


def _stop(p, timeout=40):
    p.kill(signal.SIGTERM)
    r = p.wait(timeout * util.slow_factor())
    if r.timed_out or r.code != 0:
        fail("serve did not stop cleanly after SIGTERM", r)
    return r


def _wait(cond, timeout, what, p=None):
    t0 = time.monotonic()
    deadline = t0 + timeout * util.slow_factor()
    while True:
        v = cond()
        if v:
            return time.monotonic() - t0
        if p is not None and p.poll() is not None:
            fail("serve exited while waiting for %s" % what, p.result)
        if time.monotonic() > deadline:
            fail("timed out after %.0fs waiting for %s%s" % (
                timeout, what, "\n--- serve stderr ---\n" + _err(p)[-3000:]
                if p is not None else ""))
        time.sleep(0.05)


def _status(mp, acct):
    rows = mp.db_query(
        "SELECT state, consecutive_failures, last_class, last_error, "
        "last_success, next_check, failing_since FROM account_status "
        "WHERE account = ?", (acct,))
    return rows[0] if rows else None


def _acct(ctx, mp, prefix, n, seed, **kw):
    a = Account(ctx, mp=mp, prefix=prefix, **kw)
    msgs = corpus.subset(n, seed=seed, max_size=SMALL) if n else []
    a.deliver(msgs)
    return a, [corpus.expected(m) for m in msgs]


def test_daemon_polls_on_interval(ctx):
    """Two accounts: both delivered after start; new mail on the server
    is fetched within one interval; metrics are written."""
    mp = ctx.mailpull()
    a, ea = _acct(ctx, mp, "dpa", 5, 11)
    b, eb = _acct(ctx, mp, "dpb", 3, 12)
    a.add()
    b.add()
    mfile = os.path.join(ctx.tmp, "metrics.prom")
    port = util.free_port()
    p = _serve(mp, "--metrics-file", mfile, interval="2s", port=port)
    _wait(lambda: len(a.delivered()) == 5 and len(b.delivered()) == 3,
          8, "the first passes", p)
    more = corpus.subset(4, seed=13, max_size=SMALL)
    a.deliver(more)
    dt = _wait(lambda: len(a.delivered()) == 9, 2 + 4, "new mail", p)
    check_delivered(a.delivered(), ea + [corpus.expected(m) for m in more])
    check_delivered(b.delivered(), eb)
    # delivered files appear before the batch is committed and deleted
    _wait(lambda: a.server_count() == 0 and b.server_count() == 0, 5,
          "the deletions after delivery", p)
    st = _status(mp, a.id)
    if st is None or st[0] != "ok" or st[1] != 0 or not st[4]:
        fail("status of %s after a good pass: %r" % (a.id, st))
    _wait(lambda: os.path.exists(mfile), 12, "the metrics file", p)
    # the same text at /metrics through the admin API's hook
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as resp:
        http = resp.read().decode()
    if 'mailpull_passes_total{result="ok"}' not in http:
        fail("/metrics lacks the scheduler's metrics:\n" + http[:2000])
    r = _stop(p)
    with open(mfile) as f:
        text = f.read()
    m = re.search(r'^mailpull_passes_total\{result="ok"\} (\d+)$', text, re.M)
    if not m or int(m.group(1)) < 3:
        fail("metrics: too few ok passes:\n" + text[:2000])
    for name in ("mailpull_messages_fetched_total 12",
                 "mailpull_queue_delay_seconds_count",
                 'mailpull_account_last_success_timestamp_seconds{account="'
                 + a.id + '"}',
                 'mailpull_account_consecutive_failures{account="' + b.id +
                 '"} 0'):
        if name not in text:
            fail("metrics lack %r:\n%s" % (name, text[:3000]))
    assert "serve: stopped" in r.stderr, r
    if os.environ.get("MAILPULL_TEST_VERBOSE"):
        print("new mail after %.1fs" % dt)


def test_daemon_added_account_checked_at_once(ctx):
    """With a one-hour interval: an account added, edited, or re-enabled
    while serve runs is checked within seconds; a second serve on the same
    state refuses to start."""
    mp = ctx.mailpull()
    mp.run(["config", "set", "interval", "1h"])
    p = _serve(mp, interval="1h")
    assert "no enabled accounts" in _err(p), _err(p)
    r = mp.run(["serve", "--no-syslog"], timeout=20)
    if r.code != 1 or "another mailpull serve is running" not in r.stderr:
        fail("a second serve on the same state did not refuse", r)
    a, ea = _acct(ctx, mp, "dadd", 3, 21)
    t0 = time.monotonic()
    a.add()
    _wait(lambda: len(a.delivered()) == 3, 5, "the added account", p)
    added = time.monotonic() - t0
    # an edit is a change too: checked at once
    more = corpus.subset(2, seed=22, max_size=SMALL)
    a.deliver(more)
    time.sleep(1.1)   # `updated` has a one-second resolution
    r = mp.run(["account", "edit", a.id, "--timeout", "20"])
    assert r.code == 0, r
    _wait(lambda: len(a.delivered()) == 5, 5, "the edited account", p)
    # disable, new mail stays; enable: checked at once
    assert mp.run(["account", "disable", a.id]).code == 0
    last = corpus.subset(1, seed=23, max_size=SMALL)
    a.deliver(last)
    time.sleep(2.5)
    assert len(a.delivered()) == 5, "a disabled account was fetched"
    assert mp.run(["account", "enable", a.id]).code == 0
    _wait(lambda: len(a.delivered()) == 6, 5, "the re-enabled account", p)
    check_delivered(a.delivered(), ea + [corpus.expected(m)
                                         for m in more + last])
    _stop(p)
    assert added < 5, added


def test_daemon_failing_account_backs_off(ctx):
    """A wrong password backs off for half an hour (auth-failing); a
    refused connection backs off exponentially from the interval; the good
    account keeps being fetched meanwhile."""
    mp = ctx.mailpull()
    good, eg = _acct(ctx, mp, "dgood", 2, 31)
    bad = Account(ctx, mp=mp, prefix="dbad")
    bad.deliver(corpus.subset(1, seed=32, max_size=SMALL))
    real = bad.password
    bad.password = "wrong-" + real
    bad.add()
    bad.password = real
    down = Account(ctx, mp=mp, prefix="ddown")
    good.add()
    down.add(port=util.free_port())
    p = _serve(mp, interval="2s")
    _wait(lambda: len(good.delivered()) == 2, 8, "the good account", p)
    _wait(lambda: (_status(mp, bad.id) or [None])[0] == "auth-failing", 10,
          "the auth failure", p)
    t_fail = time.time()
    # the good account keeps flowing (two rounds of new mail)
    for seed in (33, 34):
        more = corpus.subset(2, seed=seed, max_size=SMALL)
        n = len(good.delivered())
        good.deliver(more)
        eg += [corpus.expected(m) for m in more]
        _wait(lambda: len(good.delivered()) == n + 2, 2 + 5,
              "new mail for the good account", p)
    time.sleep(max(0, 8 - (time.time() - t_fail)))
    st = _status(mp, bad.id)
    if st[0] != "auth-failing" or st[1] != 1 or st[2] != "auth":
        fail("auth failure status: %r" % (st,))
    if st[5] - time.time() < 1500:
        fail("auth failure retried too soon: next check in %ds" %
             (st[5] - time.time()))
    assert bad.server_count() == 1
    sd = _status(mp, down.id)
    # interval 2 s: failures at ~0, 2, 6, 14 s: at most 4 in ~10 s
    if sd[0] != "failing" or not 1 <= sd[1] <= 4 or sd[2] != "connect":
        fail("connect failure status: %r" % (sd,))
    r = mp.run(["account", "show", bad.id])
    for w in ("status:       auth-failing", "failing since:",
              "1 consecutive failures", "last error:   auth:",
              "next check:"):
        if w not in r.stdout:
            fail("account show lacks %r" % w, r)
    r = mp.run(["account", "list"])
    if not re.search(re.escape(down.id) + r".* failing ", r.stdout):
        fail("account list does not show the failing status", r)
    _stop(p)
    check_delivered(good.delivered(), eg)
    # a new password is an edit: checked at once, status back to ok
    p = _serve(mp, interval="1h")
    r = mp.run(["account", "edit", bad.id, "--password-env", "PW"],
               env={"PW": real})
    assert r.code == 0, r
    _wait(lambda: len(bad.delivered()) == 1, 10, "the repaired account", p)
    _wait(lambda: _status(mp, bad.id)[0] == "ok", 5, "status ok", p)
    _stop(p)


def _tmp_count(a, p):
    """Files of a batch written and not yet synced (named in tmp/, or
    O_TMPFILE files serve holds open)."""
    return maildir_pending(a.maildir, [p.pid])


def test_daemon_sigterm_mid_pass(ctx):
    """SIGTERM while a large delete-mode pass runs: serve finishes the
    message in flight, commits, QUITs and exits 0; nothing is lost and a
    restart delivers the rest with no duplicate."""
    mp = ctx.mailpull()
    a = Account(ctx, mp=mp, prefix="dterm")
    msgs = [corpus.sized_message(2000 + i, 41, 300 * 1024)
            for i in range(40)]
    a.deliver(msgs)
    a.add()
    expected = [corpus.expected(m) for m in msgs]
    p = _serve(mp, interval="1h")
    # Maildir group commit: a batch's files wait (in tmp/, unnamed) and
    # reach new/ together at its sync, so "started" is files written
    _wait(lambda: _tmp_count(a, p) >= 3, 20, "the pass to start", p)
    t0 = time.monotonic()
    r = _stop(p)
    stop_secs = time.monotonic() - t0
    have = len(a.delivered())
    left = a.server_count()
    if have >= len(msgs):
        fail("the pass finished before SIGTERM arrived; nothing tested")
    # what was delivered and what is still on the server add up: at most
    # the message in flight is in both (DELE at QUIT after commit)
    if have + left < len(msgs):
        fail("lost: %d delivered + %d on the server < %d" % (
            have, left, len(msgs)), r)
    got = collections.Counter(strip_received(d) for _, d in a.delivered())
    if any(m not in expected for m in got) or any(
            n > 1 for n in got.values()):
        fail("partial, unknown or duplicate messages after SIGTERM")
    p = _serve(mp, interval="1h")
    _wait(lambda: a.server_count() == 0, 60, "the rest after restart", p)
    _wait(lambda: len(a.delivered()) >= len(msgs), 10, "all files", p)
    _stop(p)
    check_delivered(a.delivered(), expected, allow_dups=0)
    assert stop_secs < 30, stop_secs
    if os.environ.get("MAILPULL_TEST_VERBOSE"):
        print("stopped in %.2fs with %d of %d delivered" % (
            stop_secs, have, len(msgs)))


def _append(a, data):
    m = imaplib.IMAP4("127.0.0.1", a.dv.imap)
    try:
        m.login(a.user, a.password)
        typ, resp = m.append("INBOX", None, None, data.replace(b"\n",
                                                              b"\r\n"))
        if typ != "OK":
            fail("APPEND failed: %r" % resp)
    finally:
        m.logout()


def test_daemon_imap_idle(ctx):
    """An IMAP account with --idle: with a one-hour interval, a message
    appended by a second client is delivered within seconds."""
    mp = ctx.mailpull()
    a = Account(ctx, mp=mp, prefix="didle")
    first = corpus.subset(1, seed=51, max_size=SMALL)
    a.deliver(first)
    a.add(protocol="imap", extra=["--idle"])
    p = _serve(mp, "--log-level", "debug", interval="1h")
    _wait(lambda: len(a.delivered()) == 1, 8, "the first pass", p)
    _wait(lambda: "IDLE: watching" in _err(p), 10, "the IDLE session", p)
    got = list(first)
    for seed in (52, 53):
        msg = corpus.subset(1, seed=seed, max_size=SMALL)[0]
        t0 = time.monotonic()
        _append(a, msg)
        got.append(msg)
        # seconds, not the hour of the interval; generous for a loaded
        # CI machine
        _wait(lambda: len(a.delivered()) == len(got), 15,
              "delivery of the appended message", p)
        dt = time.monotonic() - t0
        if os.environ.get("MAILPULL_TEST_VERBOSE"):
            print("IDLE delivery after %.2fs" % dt)
    r = _stop(p)
    # APPEND stores CRLF; mailpull's Maildir copy has LF line ends
    check_delivered(a.delivered(), got)
    assert "IDLE connection lost" not in r.stderr, r.stderr


def test_daemon_drops_privileges(ctx):
    """--user: the store is opened as that user (files keep its owner),
    and every thread runs as it (real, effective and saved ids); a state
    directory that belongs to someone else is refused."""
    import pwd
    if os.geteuid() != 0:
        raise util.SkipTest("needs root")
    nobody = pwd.getpwnam("nobody")
    os.chmod(ctx.tmp, 0o755)
    state = os.path.join(ctx.tmp, "pstate")
    os.makedirs(state)
    os.chown(state, nobody.pw_uid, nobody.pw_gid)
    mp = ctx.mailpull(state=state)
    p = _serve(mp, "--user", "nobody", interval="1h")
    for tid in os.listdir("/proc/%d/task" % p.pid):
        with open("/proc/%d/task/%s/status" % (p.pid, tid)) as f:
            ids = dict(line.split(":", 1) for line in f if
                       line.startswith(("Uid", "Gid")))
        for k in ("Uid", "Gid"):
            want = nobody.pw_uid if k == "Uid" else nobody.pw_gid
            if set(map(int, ids[k].split())) != {want}:
                fail("thread %s %s: %s" % (tid, k, ids[k]))
    _stop(p)
    for n in os.listdir(state):
        if os.stat(os.path.join(state, n)).st_uid != nobody.pw_uid:
            fail("%s in the state directory belongs to uid %d" % (
                n, os.stat(os.path.join(state, n)).st_uid))
    os.chown(state, 0, 0)
    r = mp.run(["serve", "--no-syslog", "--user", "nobody", "--listen",
                "127.0.0.1:%d" % util.free_port()], timeout=20)
    if r.code != 1 or "chown" not in r.stderr:
        fail("a root-owned state directory was not refused", r)
