"""Observability of `mailpull serve` (issues 6, 9, 10): the filter counts
(scanned, spam, infected, quarantined, unscanned), parked and deferred
messages and OAuth2 accounts in "authorization needed" as Prometheus
metrics (/metrics and --metrics-file); an account whose refresh token was
refused is not retried on every interval but waits for `account
authorize`; --log-level filters the daemon's lines.

The daemon helpers come from test_daemon.py, the scanner and OAuth2
fixtures from test_filters.py and test_oauth.py (all read-only)."""
import os
import re
import signal
import time
import urllib.request

from lib import corpus, util
from lib.checks import Account, assert_ok, fail
from lib.filters_fixture import GTUBE, clamd
from lib.mailpull import read_maildir

from test_daemon import _err, _serve, _status, _stop, _wait
from test_filters import PROVIDER, _msg, _scanners, _virus_msg
from test_oauth import OAcct, _env, _msgs, authorize_paste


def _metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as resp:
        return resp.read().decode()


def _value(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    if not m:
        fail("metric %s missing:\n%s" % (name, text[:3000]))
    return int(m.group(1))


def _changes(mp):
    rows = mp.db_query("SELECT value FROM settings WHERE key = '.changes'")
    return int(rows[0][0]) if rows else 0


def _has_type(text, name, kind):
    if "# TYPE %s %s\n" % (name, kind) not in text:
        fail("metric %s has no TYPE %s line" % (name, kind))


def test_metrics_filters_parked_deferred(ctx):
    """Scanner verdicts, a scanner that is down (pass and hold count as
    unscanned; hold also defers), a target that refuses for good (parked) and for now
    (deferred) all show up in the counters, at /metrics and in the
    metrics file."""
    mp = ctx.mailpull()
    _scanners(mp, clam=False)
    dead = os.path.join(ctx.tmp, "no-clamd.sock")
    assert_ok(mp.run(["config", "set", "clamd", "unix:%s" % dead]))
    # spam check only: one clean, one GTUBE (to Junk)
    sp = Account(ctx, mp=mp, prefix="ms")
    sp.deliver([_msg(1), _msg(2, body=GTUBE + b"\n")])
    sp.add(extra=["--spam-check", "--provider-host", PROVIDER])
    # virus check with clamd down: pass delivers unscanned, hold defers
    up = Account(ctx, mp=mp, prefix="mu")
    up.deliver([_msg(3)])
    up.add(extra=["--virus-check", "--scanner-down", "pass"])
    hold = Account(ctx, mp=mp, prefix="mh")
    hold.deliver([_msg(4)])
    hold.add(extra=["--virus-check"])
    # targets refusing: exit 1 parks, exit 75 (EX_TEMPFAIL) defers
    pk = Account(ctx, mp=mp, prefix="mp")
    pk.deliver(corpus.subset(2, seed=61, max_size=4096))
    pk.target = "mda:sh -c 'cat >/dev/null; exit 1'"
    pk.add()
    df = Account(ctx, mp=mp, prefix="md")
    df.deliver(corpus.subset(1, seed=62, max_size=4096))
    df.target = "mda:sh -c 'cat >/dev/null; exit 75'"
    df.add()

    mfile = os.path.join(ctx.tmp, "metrics-f.prom")
    port = util.free_port()
    p = _serve(mp, "--metrics-file", mfile, interval="2s", port=port)
    _wait(lambda: len(sp.delivered()) == 1 and
          len(read_maildir(os.path.join(sp.maildir, ".Junk"))) == 1 and
          len(up.delivered()) == 1, 20, "the scanned accounts", p)
    _wait(lambda: all((_status(mp, a.id) or [None])[0] == "failing"
                      for a in (hold, pk, df)), 20,
          "the refusing accounts to fail", p)
    # a delivery is on disk before its pass ends and adds its counts:
    # wait for the counters, then check them exactly
    def phase1():
        t = _metrics(port)
        return _value(t, "mailpull_messages_scanned_total") >= 2 and \
            _value(t, "mailpull_messages_unscanned_total") >= 2 and \
            _value(t, "mailpull_messages_parked_total") >= 2 and t
    _wait(phase1, 15, "the counters of the first passes", p)
    m = _metrics(port)
    for name in ("scanned", "spam", "infected", "quarantined", "unscanned",
                 "parked", "deferred"):
        _has_type(m, "mailpull_messages_%s_total" % name, "counter")
    if _value(m, "mailpull_messages_scanned_total") != 2 or \
            _value(m, "mailpull_messages_spam_total") != 1 or \
            _value(m, "mailpull_messages_unscanned_total") < 2 or \
            _value(m, "mailpull_messages_infected_total") != 0:
        fail("filter counts with clamd down:\n%s" % m)
    if _value(m, "mailpull_messages_parked_total") != 2:
        fail("parked count:\n%s" % m)
    # hold (1 per pass) + the mda's temporary refusal (1 per pass)
    if _value(m, "mailpull_messages_deferred_total") < 2:
        fail("deferred count:\n%s" % m)
    if hold.server_count() != 1 or df.server_count() != 1 or \
            pk.server_count() != 2:
        fail("refused messages must stay on the server")

    # clamd back, and a virus: infected, quarantined; the held message is
    # scanned and delivered
    assert_ok(mp.run(["config", "set", "clamd", "unix:%s" %
                      clamd().socket]))
    vi = Account(ctx, mp=mp, prefix="mv")
    vi.deliver([_virus_msg(5)])
    vi.add(extra=["--virus-check"])
    _wait(lambda: len(hold.delivered()) == 1 and vi.server_count() == 0,
          20, "the virus pass and the held message", p)

    def phase2():
        t = _metrics(port)
        return _value(t, "mailpull_messages_quarantined_total") >= 1 and \
            _value(t, "mailpull_messages_scanned_total") >= 4 and t
    _wait(phase2, 15, "the counters of the virus pass", p)
    m = _metrics(port)
    if _value(m, "mailpull_messages_infected_total") != 1 or \
            _value(m, "mailpull_messages_quarantined_total") != 1 or \
            _value(m, "mailpull_messages_scanned_total") != 4:
        fail("filter counts with clamd up:\n%s" % m)
    if vi.delivered():
        fail("the infected message was delivered")
    _stop(p)
    with open(mfile) as f:
        text = f.read()
    if _value(text, "mailpull_messages_quarantined_total") != 1 or \
            _value(text, "mailpull_messages_parked_total") < 2:
        fail("metrics file:\n%s" % text[:3000])


def test_metrics_oauth_authorization_needed(ctx):
    """A revoked refresh token under serve: the account goes to
    auth-needed (status, metrics), is not checked again on its interval
    (no token request, no pass), and `account authorize` (which bumps the
    change counter) has it checked at once; nothing is lost."""
    prov, dv = _env(ctx)
    mp = ctx.mailpull()
    a = OAcct(ctx, prov, dv, mp, "imap", "xoauth2")
    authorize_paste(a)
    msgs = _msgs(2, 71)
    dv.deliver_all(a.user, msgs)
    port = util.free_port()
    p = _serve(mp, interval="1s", port=port)
    _wait(lambda: len(read_maildir(a.maildir)) == 2, 15, "the first pass",
          p)
    # revoked: the next pass fails for good
    prov.revoke_refresh(a.user)
    prov.expire_access(a.user)
    dv.deliver_all(a.user, _msgs(2, 72))
    _wait(lambda: (_status(mp, a.id) or [None])[0] == "auth-needed", 15,
          "auth-needed", p)
    m = _metrics(port)
    if _value(m, "mailpull_accounts_authorization_needed") != 1 or \
            'mailpull_accounts{state="auth-needed"} 1' not in m:
        fail("metrics after the revocation:\n%s" % m)
    st = _status(mp, a.id)
    if st[5] not in (0, None):
        fail("an auth-needed account has no next check: %r" % (st,))
    attempt = mp.db_query("SELECT last_attempt FROM account_status WHERE "
                          "account = ?", (a.id,))[0][0]
    grants = len(prov.grants)
    time.sleep(5 * util.slow_factor())      # five intervals
    again = mp.db_query("SELECT last_attempt FROM account_status WHERE "
                        "account = ?", (a.id,))[0][0]
    if again != attempt or len(prov.grants) != grants:
        fail("an auth-needed account was retried (attempt %s -> %s, "
             "grants %d -> %d)" % (attempt, again, grants,
                                   len(prov.grants)))
    if dv.count(a.user) != 2:
        fail("messages touched while authorization is needed")
    if "authorization needed; not checked again" not in _err(p):
        fail("no warning about the parked account:\n%s" % _err(p)[-2000:])
    # authorize while serve runs: it bumps the change counter, so serve
    # re-reads and checks the account at once
    ch0 = _changes(mp)
    authorize_paste(a)
    if _changes(mp) <= ch0:
        fail("account authorize did not bump the change counter")
    _wait(lambda: len(read_maildir(a.maildir)) == 4 and
          (_status(mp, a.id) or [None])[0] == "ok", 15,
          "the pass after authorize", p)
    if dv.count(a.user) != 0:
        fail("messages left on the server after authorize")
    if "authorized again, checking now" not in _err(p):
        fail("serve did not notice the authorization:\n%s" %
             _err(p)[-2000:])
    if _value(_metrics(port), "mailpull_accounts_authorization_needed"):
        fail("still counted as authorization needed")
    _stop(p)


def _serve_level(mp, level, cond, what):
    port = util.free_port()
    p = mp.start(["serve", "--no-syslog", "--interval", "1s", "--listen",
                  "127.0.0.1:%d" % port, "--log-level", level])
    _wait(cond, 15, what, p)
    time.sleep(1.5 * util.slow_factor())    # another round of passes
    p.kill(signal.SIGTERM)
    r = p.wait(40 * util.slow_factor())
    if r.timed_out or r.code != 0:
        fail("serve --log-level %s did not stop cleanly" % level, r)
    return r.stderr


def test_log_level_filters_lines(ctx):
    """--log-level: error shows neither info lines nor failed passes,
    warning shows failed passes only, debug adds the pass logs; a bad
    level is a usage error."""
    mp = ctx.mailpull()
    good = Account(ctx, mp=mp, prefix="lg")
    good.add()
    bad = Account(ctx, mp=mp, prefix="lb")
    real = bad.password
    bad.password = "wrong-" + real
    bad.add()
    bad.password = real

    def passed():
        g = _status(mp, good.id)
        b = _status(mp, bad.id)
        return g is not None and g[0] == "ok" and b is not None and \
            b[0] == "auth-failing"

    err = _serve_level(mp, "error", passed, "passes (error)")
    for w in ("serve: state", "auth error", "pass started"):
        if w in err:
            fail("--log-level error printed %r:\n%s" % (w, err))
    mp.db_exec("DELETE FROM account_status")
    err = _serve_level(mp, "warning", passed, "passes (warning)")
    if "%s: auth error" % bad.id not in err:
        fail("--log-level warning lacks the failed pass:\n%s" % err)
    for w in ("serve: state", "serve: stopped", "%s: ok:" % good.id,
              "pass started"):
        if w in err:
            fail("--log-level warning printed %r:\n%s" % (w, err))
    mp.db_exec("DELETE FROM account_status")
    err = _serve_level(mp, "debug", passed, "passes (debug)")
    for w in ("serve: state", "%s: pass started" % good.id,
              "%s: ok:" % good.id):
        if w not in err:
            fail("--log-level debug lacks %r:\n%s" % (w, err[-3000:]))
    r = mp.run(["serve", "--log-level", "loud"])
    if r.code == 0 or "--log-level" not in r.stderr:
        fail("a bad --log-level was accepted", r)
