"""Crash test: SIGKILL mailpull at many points of a delete-mode pass
against Dovecot, run it again after each kill, then once more to the end:
no message lost, at most one duplicate per kill, server empty."""
import collections
import os
import random
import signal
import time

from lib import corpus
from lib.checks import Account, assert_ok, check_delivered, fail
from lib.mailpull import maildir_pending, strip_received

N = 60          # messages in the first pass
TOPUP = 10      # new messages before each later pass
KILLS = 8


def _messages(seed, n):
    # every kind of the corpus, and every other message carrying a
    # 100-400 KB attachment, so a pass takes long enough to be interrupted
    # at different steps
    small = corpus.subset((n + 1) // 2, seed=seed, max_size=512 * 1024)
    r = random.Random(seed)
    out = []
    for i, m in enumerate(small):
        out.append(m)
        out.append(corpus.sized_message(1000 + i, seed,
                                        r.randint(100, 400) * 1024))
    return out[:n]


def _check_complete(files, expected):
    """Every file in new/ or cur/ is one whole expected message."""
    want = set(expected)
    for name, data in files:
        body = strip_received(data)
        if body not in want:
            fail("partial or unknown message in the Maildir: %s (%d "
                 "bytes)" % (name, len(data)))


def _tmp_count(a, p):
    """Files of a batch written and not yet synced (named in tmp/, or
    O_TMPFILE files the fetch holds open)."""
    return maildir_pending(a.maildir, [p.pid])


def test_crash_sigkill_during_delete_pass(ctx):
    """Round i: top the server up (60 messages first, then 10 new ones),
    start a delete-mode fetch, SIGKILL it at a point drawn from the i-th
    eighth of the pass's expected duration (so the kills spread from
    connect to the final DELE/QUIT). The next round's fetch is the
    recovery run; a final fetch completes the job."""
    mp = ctx.mailpull()
    # 1. how long does a normal pass take here?
    t = Account(ctx, mp=mp, prefix="crt")
    tm = _messages(5, N)
    t.deliver(tm)
    t.add(security="none")
    r = t.fetch()
    assert_ok(r, "timing pass")
    r = t.fetch()
    assert_ok(r, "empty pass")
    startup = r.secs
    assert t.server_count() == 0
    check_delivered(t.delivered(), [corpus.expected(m) for m in tm])

    # 2. the account under test
    a = Account(ctx, mp=mp, prefix="crash")
    a.add(security="none")
    rng = random.Random(20250323)
    kills = 0
    log = []
    expected = []
    for i in range(KILLS):
        batch = _messages(100 + i, N if i == 0 else TOPUP)
        expected += [corpus.expected(m) for m in batch]
        a.deliver(batch)
        left = a.server_count()
        have = len(a.delivered())
        total = len(expected)
        # where to kill: round 0 early (connect, TLS, login, UIDL); the
        # middle rounds after a random number of new deliveries; the last
        # rounds as soon as everything is delivered (the commit/DELE/QUIT
        # window)
        # rounds (odd middle ones: "tmp") while a batch's files are
        # written to tmp/ and not yet synced into new/ (Maildir group
        # commit: they reach new/ together, at the batch's sync)
        if i == 0:
            kind, at = "time", rng.uniform(0.0, startup)
        elif i < KILLS - 2 and i % 2 == 1:
            kind, at = "tmp", rng.randint(1, max(1, min(TOPUP, total - have)
                                                 - 1))
        elif i < KILLS - 2:
            kind, at = "files", have + rng.randint(1, max(1, total - have
                                                          - 1))
        else:
            kind, at = "files", total
        p = a.mp.start(["fetch", a.id])
        t0 = time.monotonic()
        while p.poll() is None:
            if kind == "time" and time.monotonic() - t0 >= at:
                break
            if kind == "files" and len(a.delivered_names()) >= at:
                break
            if kind == "tmp" and _tmp_count(a, p) >= at:
                break
            if time.monotonic() - t0 > 60:
                break
            time.sleep(0.001)
        p.kill(signal.SIGKILL)
        res = p.wait(60)
        killed = res.code == -signal.SIGKILL
        kills += killed
        log.append("round %d: kill at %s %s after %.3fs: %s, server %d -> "
                   "%d, files %d -> %d" % (
                       i, kind, at if kind != "time" else "%.3fs" % at,
                       time.monotonic() - t0, "killed" if killed
                       else "exit %s" % res.code, left, a.server_count(),
                       have, len(a.delivered())))
        if not killed and res.code != 0:
            fail("a pass that was not killed failed\n" + "\n".join(log),
                 res)
        _check_complete(a.delivered(), expected)
    # 3. run to the end
    r = a.fetch()
    assert_ok(r, "final pass\n" + "\n".join(log))
    if a.server_count() != 0:
        r = a.fetch()
        assert_ok(r, "second final pass")
    assert a.server_count() == 0, "server not empty: %d\n%s" % (
        a.server_count(), "\n".join(log))
    files = a.delivered()
    _check_complete(files, expected)
    got = collections.Counter(strip_received(d) for _, d in files)
    lost = [corpus.message_id(m) for m in expected if got[m] == 0]
    assert not lost, "lost after %d kills: %s\n%s" % (kills, lost,
                                                     "\n".join(log))
    dups = sum(got.values()) - len(expected)
    assert dups <= kills, "%d duplicates after %d kills\n%s" % (
        dups, kills, "\n".join(log))
    if os.environ.get("MAILPULL_TEST_VERBOSE"):
        print("\n".join(log))
        print("%d kills, %d duplicates" % (kills, dups))
    assert kills >= KILLS // 2, \
        "only %d passes were interrupted\n%s" % (kills, "\n".join(log))
