"""`mailpull fetch` over many accounts, passes at once: every message
delivered exactly once and journalled, the caps (--parallel, --per-host,
and the max-passes / max-per-host settings) measured on the wire by
relays in front of the real Dovecot (lib/relay.py), --parallel 1 one pass
at a time in list order, a failing account that does not stop the others,
SIGTERM (passes finish, the rest is left, nothing lost), and the
terminal's progress line never breaking a summary line."""
import collections
import os
import pty
import re
import select
import signal
import subprocess
import time

from lib import corpus, util
from lib.checks import Account, check_delivered, fail, journal
from lib.mailpull import strip_received
from lib.relay import Relays

SMALL = 128 * 1024
SUMMARY = re.compile(r"^(\S+@example\.org): (\d+) new messages delivered "
                     r"\([^)]*\), (\d+) deleted, (\d+) kept on the server "
                     r"\[\d+\.\d s\]$")


class _Acct:
    """An Account with its messages and what a fetch must deliver."""

    def __init__(self, ctx, mp, prefix, n, seed, protocol="pop3"):
        self.a = Account(ctx, mp=mp, prefix=prefix)
        self.protocol = protocol
        self.msgs = corpus.subset(n, seed=seed, max_size=SMALL)
        self.a.deliver(self.msgs)

    def expected(self, msgs=None):
        msgs = self.msgs if msgs is None else msgs
        # POP3 ends a message without a final newline; IMAP sends it as
        # stored (see test_imap_dovecot._expected)
        if self.protocol == "pop3":
            return [corpus.expected(m) for m in msgs]
        return list(msgs)

    def add(self, host, port, extra=(), **kw):
        self.a.add(host=host, port=port, protocol=self.protocol,
                   extra=list(extra), **kw)


def _relays(ctx, delay):
    rl = Relays(delay=delay)
    ctx.cleanup(rl.stop)
    return rl


def _summaries(r):
    """{account: (delivered, deleted, kept)} from fetch's stdout; every
    line must be a whole summary line."""
    out = {}
    for line in r.stdout.splitlines():
        m = SUMMARY.match(line)
        if not m:
            fail("stdout line is not a whole summary line: %r" % line, r)
        if m.group(1) in out:
            fail("two summary lines for %s" % m.group(1), r)
        out[m.group(1)] = tuple(int(m.group(i)) for i in (2, 3, 4))
    return out


def _status(mp, acct):
    rows = mp.db_query("SELECT state, last_class FROM account_status "
                       "WHERE account = ?", (acct,))
    return rows[0] if rows else None


def test_fetch_parallel_30_accounts(ctx):
    """30 accounts x 5 messages behind three host names (two POP3, one
    IMAP; delete and keep mode) in one fetch with --parallel 8 --per-host
    4: each message delivered once byte for byte, the journal holds what
    keep mode kept, at most 8 passes at once and at most 4 toward a host,
    and both caps reached (the passes really ran at once)."""
    dv = ctx.dovecot
    mp = ctx.mailpull()
    rl = _relays(ctx, delay=0.3)
    hosts = [("127.0.0.1", "pop3", rl.add("127.0.0.1", dv.pop3), []),
             ("127.0.0.2", "pop3", rl.add("127.0.0.2", dv.pop3),
              ["--keep"]),
             ("127.0.0.3", "imap", rl.add("127.0.0.3", dv.imap),
              ["--keep"])]
    accts = []
    for k, (host, proto, port, extra) in enumerate(hosts):
        for i in range(10):
            x = _Acct(ctx, mp, "fp%d" % k, 5, 100 * k + i, protocol=proto)
            x.add(host, port, extra)
            accts.append((x, extra))
    r = mp.run(["fetch", "--parallel", "8", "--per-host", "4"],
               timeout=120)
    if r.timed_out or r.code != 0:
        fail("fetch of 30 accounts: expected exit 0", r)
    sums = _summaries(r)
    for x, extra in accts:
        a = x.a
        if sums.get(a.id) is None or sums[a.id][0] != 5:
            fail("%s: summary %r, expected 5 delivered" % (
                a.id, sums.get(a.id)), r)
        check_delivered(a.delivered(), x.expected(), acct=a.id)
        if "--keep" in extra:
            rows = journal(mp, a.id)
            if len(rows) != 5 or any(row[3] != 1 for row in rows):
                fail("%s: journal %r, expected 5 delivered rows" % (
                    a.id, rows))
            if a.server_count() != 5:
                fail("%s: keep mode left %d of 5 on the server" % (
                    a.id, a.server_count()))
        elif a.server_count() != 0:
            fail("%s: delete mode left %d on the server" % (
                a.id, a.server_count()))
        if _status(mp, a.id) != ("ok", None):
            fail("%s: status %r after a good pass" % (
                a.id, _status(mp, a.id)))
    if len(sums) != 30:
        fail("%d summary lines for 30 accounts" % len(sums), r)
    if rl.connections != 30:
        fail("%d connections for 30 passes" % rl.connections)
    if rl.max_total > 8 or any(n > 4 for n in rl.max_by_host.values()):
        fail("caps exceeded: %d at once (cap 8), per host %r (cap 4)" % (
            rl.max_total, rl.max_by_host))
    if rl.max_total != 8 or max(rl.max_by_host.values()) != 4:
        fail("passes did not run at once: at most %d together, per host "
             "%r" % (rl.max_total, rl.max_by_host))
    if rl.errors:
        fail("relay errors: %r" % rl.errors)


def test_fetch_parallel_settings_and_sequential(ctx):
    """Without options, fetch takes its caps from the max-passes and
    max-per-host settings (3 and 2 here); --parallel 1 runs one pass at a
    time, in the order of the account list, as before."""
    dv = ctx.dovecot
    mp = ctx.mailpull()
    rl = _relays(ctx, delay=0.3)
    ports = {h: rl.add(h, dv.pop3) for h in ("127.0.0.4", "127.0.0.5")}
    accts = []
    for k, host in enumerate(sorted(ports)):
        for i in range(4):
            x = _Acct(ctx, mp, "fs%d" % k, 3, 300 + 10 * k + i)
            x.add(host, ports[host])
            accts.append(x)
    for key, val in (("max-passes", "3"), ("max-per-host", "2")):
        r = mp.run(["config", "set", key, val])
        if r.code != 0:
            fail("config set %s" % key, r)
    r = mp.fetch(timeout=120)
    if r.timed_out or r.code != 0:
        fail("fetch with the settings' caps: expected exit 0", r)
    if len(_summaries(r)) != 8:
        fail("expected 8 summary lines", r)
    if rl.max_total != 3 or max(rl.max_by_host.values()) != 2:
        fail("settings max-passes 3 / max-per-host 2: %d at once, per "
             "host %r" % (rl.max_total, rl.max_by_host))
    # new mail, then one at a time
    more = {}
    for x in accts:
        more[x.a.id] = corpus.subset(2, seed=900 + len(more),
                                     max_size=SMALL)
        x.a.deliver(more[x.a.id])
    rl.reset()
    r = mp.run(["fetch", "--parallel", "1"], timeout=120)
    if r.timed_out or r.code != 0:
        fail("fetch --parallel 1: expected exit 0", r)
    if rl.max_total != 1:
        fail("--parallel 1 ran %d passes at once" % rl.max_total)
    order = [SUMMARY.match(line).group(1) for line in r.stdout.splitlines()
             if SUMMARY.match(line)]
    if order != sorted(x.a.id for x in accts):
        fail("--parallel 1: summaries not in list order: %r" % order, r)
    for x in accts:
        check_delivered(x.a.delivered(),
                        x.expected(x.msgs + more[x.a.id]), acct=x.a.id)
        if x.a.server_count() != 0:
            fail("%s: %d left on the server" % (x.a.id,
                                                 x.a.server_count()))


def test_fetch_parallel_one_account_fails(ctx):
    """One account of ten with a wrong password: the other nine are
    delivered, fetch exits 1 with one 'ID: auth error' line for it and
    none for the others, and only its status is auth-failing."""
    dv = ctx.dovecot
    mp = ctx.mailpull()
    accts = []
    for i in range(10):
        x = _Acct(ctx, mp, "ff", 4, 500 + i)
        accts.append(x)
    bad = accts[4].a
    for x in accts:
        if x.a is bad:
            real = bad.password
            bad.password = "wrong-" + real
            x.add("127.0.0.1", dv.pop3)
            bad.password = real
        else:
            x.add("127.0.0.1", dv.pop3)
    r = mp.run(["fetch", "--parallel", "4"], timeout=120)
    if r.timed_out or r.code != 1:
        fail("one failing account: expected exit 1", r)
    errs = [line for line in r.stderr.splitlines() if line.strip()]
    want = re.compile(r"^mailpull: %s: auth error: " % re.escape(bad.id))
    if len(errs) != 1 or not want.match(errs[0]):
        fail("stderr should be exactly one auth error line for %s" %
             bad.id, r)
    sums = _summaries(r)
    if bad.id in sums or len(sums) != 9:
        fail("expected summary lines for the 9 good accounts only", r)
    for x in accts:
        if x.a is bad:
            if x.a.delivered() or x.a.server_count() != 4:
                fail("the failing account delivered or lost mail")
            if _status(mp, bad.id) != ("auth-failing", "auth"):
                fail("status of the failing account: %r" %
                     (_status(mp, bad.id),))
            continue
        check_delivered(x.a.delivered(), x.expected(), acct=x.a.id)
        if _status(mp, x.a.id) != ("ok", None):
            fail("%s: status %r" % (x.a.id, _status(mp, x.a.id)))


def test_fetch_parallel_sigterm(ctx):
    """SIGTERM while 4 of 12 passes wait for their servers: those passes
    finish (nothing delivered twice or lost, their status untouched),
    the 8 not started are reported, exit 1; the next fetch delivers
    everything else exactly once."""
    dv = ctx.dovecot
    mp = ctx.mailpull()
    rl = _relays(ctx, delay=1.5)
    port = rl.add("127.0.0.6", dv.pop3)
    accts = []
    for i in range(12):
        x = _Acct(ctx, mp, "fk", 5, 700 + i)
        x.add("127.0.0.6", port)
        accts.append(x)
    p = mp.start(["fetch", "--parallel", "4", "--per-host", "4"])
    deadline = time.monotonic() + 20 * util.slow_factor()
    while rl.cur_total < 4:
        if p.poll() is not None or time.monotonic() > deadline:
            fail("the passes did not start", p.poll())
        time.sleep(0.02)
    p.kill(signal.SIGTERM)
    r = p.wait(60 * util.slow_factor())
    if r.timed_out or r.code != 1:
        fail("SIGTERM: expected exit 1", r)
    if "SIGTERM: finishing the messages in flight" not in r.stderr:
        fail("no notice of the signal", r)
    m = re.search(r"interrupted: (\d+) of 12 accounts not started",
                  r.stderr)
    if not m or int(m.group(1)) != 8:
        fail("expected 8 of 12 accounts not started", r)
    if rl.connections != 4:
        fail("%d connections after SIGTERM with 4 running" %
             rl.connections, r)
    for x in accts:
        a = x.a
        got = collections.Counter(strip_received(d) for _, d in
                                  a.delivered())
        exp = x.expected()
        if any(g not in exp for g in got) or any(n > 1 for n in
                                                  got.values()):
            fail("%s: unknown or duplicate message after SIGTERM" % a.id)
        if len(a.delivered()) + a.server_count() < 5:
            fail("%s: lost mail: %d delivered + %d on the server" % (
                a.id, len(a.delivered()), a.server_count()))
        st = _status(mp, a.id)
        if st is not None and st[0] != "ok":
            fail("%s: cancelled pass counted as a failure: %r" % (a.id, st))
    rl.delay = 0
    r = mp.fetch(timeout=120)
    if r.timed_out or r.code != 0:
        fail("fetch after SIGTERM: expected exit 0", r)
    for x in accts:
        check_delivered(x.a.delivered(), x.expected(), acct=x.a.id)
        if x.a.server_count() != 0:
            fail("%s: %d left on the server" % (x.a.id,
                                                 x.a.server_count()))


PROGRESS = re.compile(r"^\d+/\d+ accounts( \(\d+ failed\))?, \d+ messages "
                      r"\([^)]*\), \d+ running(, stopping)?$")


def test_fetch_parallel_terminal_progress(ctx):
    """On a terminal, several passes at once show one progress line for
    all ("N/M accounts, K messages (SIZE), R running"), erased before
    each summary line, so no summary line is ever broken by it."""
    dv = ctx.dovecot
    mp = ctx.mailpull()
    rl = _relays(ctx, delay=0.3)
    port = rl.add("127.0.0.7", dv.pop3)
    accts = []
    for i in range(10):
        x = _Acct(ctx, mp, "ft", 3, 800 + i)
        x.add("127.0.0.7", port)
        accts.append(x)
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(mp.argv(["fetch", "--parallel", "4"]),
                             env=mp.env, stdin=subprocess.DEVNULL,
                             stdout=slave, stderr=subprocess.PIPE)
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + 60 * util.slow_factor()
    while time.monotonic() < deadline:
        rd, _, _ = select.select([master], [], [], 0.5)
        if not rd:
            if p.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:     # EIO: the last writer closed the terminal
            break
        if not data:
            break
        out += data
    os.close(master)
    try:
        code = p.wait(10)
        err = p.stderr.read().decode()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if code != 0:
        fail("fetch on a terminal: exit %s\n%s\n%r" % (code, err, out))
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    seen, progress = set(), 0
    for seg in text.split("\r\x1b[K"):
        *lines, rest = seg.split("\n")
        for line in lines:
            m = SUMMARY.match(line)
            if not m:
                fail("a broken or unknown line on the terminal: %r\n%r" % (
                    line, text))
            seen.add(m.group(1))
        if rest:
            if not PROGRESS.match(rest):
                fail("not a progress line: %r\n%r" % (rest, text))
            progress += 1
    if seen != {x.a.id for x in accts}:
        fail("summary lines on the terminal: %r" % sorted(seen))
    if progress == 0:
        fail("no progress line on the terminal: %r" % text)
    if not text.endswith("\r\x1b[K"):
        fail("the progress line was not erased at the end: %r" % text)


def test_fetch_parallel_tls(ctx):
    """Eight TLS accounts at once (POP3S and IMAPS, CA file verified):
    the process-wide TLS contexts shared by the passes' threads."""
    dv = ctx.dovecot
    mp = ctx.mailpull()
    accts = []
    for i in range(8):
        proto = "pop3" if i % 2 == 0 else "imap"
        x = _Acct(ctx, mp, "fl", 3, 1000 + i, protocol=proto)
        x.a.add(security="tls", protocol=proto)
        accts.append(x)
    r = mp.run(["fetch", "--parallel", "8", "--per-host", "8"],
               timeout=120)
    if r.timed_out or r.code != 0:
        fail("8 TLS accounts at once: expected exit 0", r)
    if len(_summaries(r)) != 8:
        fail("expected 8 summary lines", r)
    for x in accts:
        check_delivered(x.a.delivered(), x.expected(), acct=x.a.id)
