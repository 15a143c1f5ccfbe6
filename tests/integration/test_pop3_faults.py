"""Fault injection with the scripted POP3 server (lib/fakepop3.py): only
what a real server cannot do on demand - drops, stalls, hostile replies."""
import os
import re
import time

from lib import corpus, util
from lib.checks import assert_failed, assert_ok, check_delivered, fail
from lib.fakepop3 import Msg, big_message
from lib.mailpull import maildir_tmp_files, read_maildir

ACCT = "fake@example.org"
SECRET = "fake-Secret-pw"


def _setup(ctx, msgs, extra=(), security="none", timeout=5, **srv_kw):
    """A fake server with msgs (list of bytes or Msg), and a mailpull
    account on it delivering to tmp/mail/fake/Maildir."""
    items = [m if isinstance(m, Msg) else Msg("uidl-%03d" % i, m)
             for i, m in enumerate(msgs)]
    srv = ctx.fakepop3(items, user="fakeuser", password=SECRET, **srv_kw)
    mp = ctx.mailpull()
    target = "maildir:%s/mail/%%u/Maildir" % ctx.tmp
    args = ["--timeout", str(timeout)] + list(extra)
    mp.add_account(ACCT, port=srv.port, security=security, user="fakeuser",
                   password=SECRET, target=target,
                   ca_file=srv.certs["ca"] if security != "none" else None,
                   extra=args)
    maildir = os.path.join(ctx.tmp, "mail", "fake", "Maildir")
    return srv, mp, maildir


def _verbs(srv, session=None):
    sessions = srv.sessions if session is None else [srv.sessions[session]]
    return [v for s in sessions for v in s.verbs()]


def _dele_numbers(sess):
    return [int(c.split()[1]) for c in sess.commands
            if c.upper().startswith(b"DELE ")]


def _assert_any_error(r, acct=ACCT):
    if r.timed_out or r.code != 1:
        fail("expected exit 1", r)
    if not re.search(r"^mailpull: %s: [a-z-]+ error: " % re.escape(acct),
                     r.stderr, re.M):
        fail("no 'mailpull: %s: CLASS error: ...' line" % acct, r)


def _msgs(n, seed=11):
    return corpus.subset(n, seed=seed, max_size=64 * 1024)


def test_fake_drop_mid_retr_then_next_pass_exactly_once(ctx):
    msgs = _msgs(5)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults["drop_in_retr"] = (3, 300)
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    s0 = srv.sessions[0]
    assert s0.closed_by.startswith("server: in RETR 3"), s0.closed_by
    # nothing partial: whatever was delivered is a whole message from
    # before the cut
    check_delivered(read_maildir(md), [corpus.expected(m)
                                       for m in msgs[:len(read_maildir(
                                           md))]])
    assert len(read_maildir(md)) <= 2, \
        "messages after the cut were delivered"
    assert not maildir_tmp_files(md), "temporary files left in tmp/"
    assert not any(n >= 3 for n in _dele_numbers(s0)), \
        "DELE of an undelivered message: %r" % s0.commands
    assert len(srv.uidls()) == 5, "something was deleted"
    # next pass against a well-behaved server: every message exactly once
    srv.faults.clear()
    r = mp.fetch(ACCT)
    assert_ok(r, "second pass")
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs],
                    acct=ACCT)
    assert srv.uidls() == [], srv.uidls()


def test_fake_drop_before_quit_redele_not_redeliver(ctx):
    """All DELEs answered +OK, then the connection drops at QUIT: the
    server rolls the deletions back. The next pass DELEs the recorded
    messages again and delivers none of them twice."""
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults["drop_at_quit"] = True
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    s0 = srv.sessions[0]
    assert sorted(_dele_numbers(s0)) == [1, 2, 3], s0.commands
    assert len(srv.uidls()) == 3, "deletions were not rolled back"
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])
    srv.faults.clear()
    r = mp.fetch(ACCT)
    assert_ok(r, "second pass")
    s1 = srv.sessions[-1]
    assert b"RETR" not in s1.verbs(), \
        "delivered messages fetched again: %r" % s1.commands
    assert sorted(_dele_numbers(s1)) == [1, 2, 3], s1.commands
    assert srv.uidls() == []
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])


def test_fake_drop_right_after_first_dele(ctx):
    msgs = _msgs(4)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults["drop_after_dele"] = 1
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    assert len(srv.uidls()) == 4
    srv.faults.clear()
    assert_ok(mp.fetch(ACCT), "second pass")
    assert srv.uidls() == []
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])


def test_fake_err_on_dele(ctx):
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults["dele_err"] = True
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    assert "cannot delete" in r.stderr, \
        "the server's text is not reported: %r" % r
    assert len(srv.uidls()) == 3
    # no loss: the messages were delivered before DELE was tried
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])
    srv.faults.clear()
    assert_ok(mp.fetch(ACCT), "second pass")
    s1 = srv.sessions[-1]
    assert b"RETR" not in s1.verbs(), s1.commands
    assert srv.uidls() == []
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])


def test_fake_stall_mid_reply_times_out(ctx):
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs, timeout=2)
    srv.faults["stall_in_retr"] = (2, 150)
    t0 = time.monotonic()
    r = mp.fetch(ACCT, timeout=20)
    dt = time.monotonic() - t0
    assert_failed(r, ACCT, "timeout")
    assert dt < 10 * util.slow_factor(), "took %.1fs" % dt
    assert len(read_maildir(md)) <= 1
    check_delivered(read_maildir(md), [corpus.expected(m)
                                       for m in msgs[:len(read_maildir(
                                           md))]])
    assert not maildir_tmp_files(md)
    assert len(srv.uidls()) == 3


def test_fake_stall_before_greeting_reply_times_out(ctx):
    """The server accepts and never says anything after CAPA."""
    srv, mp, md = _setup(ctx, _msgs(1), timeout=2)
    srv.faults["stall_after"] = b"CAPA"
    t0 = time.monotonic()
    r = mp.fetch(ACCT, timeout=20)
    assert_failed(r, ACCT, "timeout")
    assert time.monotonic() - t0 < 10 * util.slow_factor()
    assert b"PASS" not in b" ".join(srv.all_commands())


def test_fake_overlong_status_line(ctx):
    srv, mp, md = _setup(ctx, _msgs(2))
    srv.faults["long_line"] = ("greeting", 100000)
    r = mp.fetch(ACCT)
    assert_failed(r, ACCT, "protocol")
    assert read_maildir(md) == []
    # and as the reply to STAT, after authentication
    srv.faults["long_line"] = ("STAT", 100000)
    r = mp.fetch(ACCT)
    assert_failed(r, ACCT, "protocol")
    assert read_maildir(md) == [] and len(srv.uidls()) == 2
    assert b"DELE" not in _verbs(srv)


def test_fake_overlong_listing_line(ctx):
    srv, mp, md = _setup(ctx, _msgs(2))
    srv.faults["uidl_lines"] = [b"1 uidl-000", b"2 " + b"u" * 100000]
    r = mp.fetch(ACCT)
    assert_failed(r, ACCT, "protocol")
    assert b"DELE" not in _verbs(srv), srv.all_commands()
    assert len(srv.uidls()) == 2


def test_fake_50mb_message_bounded_memory(ctx):
    size = 50 * 1024 * 1024
    big, (digest, n) = big_message("big-1", size)
    small = _msgs(1)[0]
    srv, mp, md = _setup(ctx, [big, Msg("small-1", small)], timeout=20)
    r = mp.fetch(ACCT, timeout=300)
    assert_ok(r)
    files = read_maildir(md)
    assert len(files) == 2, [f for f, _ in files]
    sizes = sorted(len(d) for _, d in files)
    bigdata = max((d for _, d in files), key=len)
    from lib.mailpull import strip_received
    body = strip_received(bigdata)
    assert len(body) == n, "50 MB message: %d bytes, expected %d" % (
        len(body), n)
    assert corpus.digest(body) == digest, "50 MB message differs"
    del bigdata, body
    check_delivered([f for f in files if len(f[1]) == sizes[0]],
                    [corpus.expected(small)])
    assert srv.uidls() == []
    if util.sanitized():
        return
    # 6.4-6.8 MiB measured; see test_imap_50mb_message_bounded_memory.
    assert r.rss_kib < 8 * 1024, \
        "peak RSS %d KiB >= 8 MiB for a 50 MB message" % r.rss_kib


def _no_credentials(srv):
    cmds = srv.all_commands()
    sent = [c for c in cmds if c.split(b" ", 1)[0].upper() in
            (b"USER", b"PASS", b"AUTH", b"APOP")]
    assert not sent, "credentials sent: %r" % sent
    assert SECRET.encode() not in b"\n".join(cmds)


def test_fake_stls_refused_no_credentials(ctx):
    srv, mp, md = _setup(ctx, _msgs(1), security="starttls", stls="refuse")
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    assert b"STLS" in _verbs(srv), "STLS was never tried: %r" % (
        srv.all_commands())
    _no_credentials(srv)
    assert read_maildir(md) == []


def test_fake_stls_not_offered_no_credentials(ctx):
    srv, mp, md = _setup(ctx, _msgs(1), security="starttls", stls="none")
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    _no_credentials(srv)
    assert read_maildir(md) == []


def test_fake_stls_capa_fails_no_credentials(ctx):
    """CAPA answered -ERR (so STLS cannot be known) with starttls."""
    srv, mp, md = _setup(ctx, _msgs(1), security="starttls", stls="ok")
    srv.faults["capa_err"] = True
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    _no_credentials(srv)
    assert read_maildir(md) == []


def test_fake_stls_ok_then_capa_again(ctx):
    """The positive case through the fake: STLS works, capabilities are
    asked again after the handshake, then login and delivery."""
    msgs = _msgs(2)
    srv, mp, md = _setup(ctx, msgs, security="starttls", stls="ok")
    r = mp.fetch(ACCT)
    assert_ok(r)
    s = srv.sessions[0]
    v = s.verbs()
    assert s.tls
    i = v.index(b"STLS")
    assert b"CAPA" in v[i + 1:], "CAPA not re-read after STLS: %r" % v
    assert not any(x in (b"USER", b"PASS", b"AUTH") for x in v[:i])
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])


def test_fake_duplicate_uidl_never_silently_skipped(ctx):
    a, b, c = _msgs(3)
    srv, mp, md = _setup(ctx, [Msg("same", a), Msg("same", b),
                               Msg("other", c)])
    r = mp.fetch(ACCT)
    got = [d for _, d in read_maildir(md)]
    if r.code == 0:
        # both delivered
        check_delivered(read_maildir(md), [a, b, c])
        assert srv.uidls() == []
    else:
        # refused with a clear error; nothing lost
        _assert_any_error(r)
        assert "uidl" in r.stderr.lower() or "duplicate" in \
            r.stderr.lower(), r
        left = [m.data for m in srv.maildrop]
        from lib.mailpull import strip_received
        bodies = [strip_received(d) for d in got]
        for m in (a, b, c):
            assert m in bodies or m in left, "a message was lost"
        # and a second pass does not silently drop one either
        r2 = mp.fetch(ACCT)
        if r2.code == 0:
            bodies = [strip_received(d) for _, d in read_maildir(md)]
            assert a in bodies and b in bodies, \
                "a duplicate-UIDL message was silently skipped"


def _range_case(ctx, faults):
    srv, mp, md = _setup(ctx, _msgs(2))
    srv.faults.update(faults)
    r = mp.fetch(ACCT)
    assert_failed(r, ACCT, "protocol")
    assert b"DELE" not in _verbs(srv), srv.all_commands()
    assert len(srv.uidls()) == 2
    return r, md


def test_fake_uidl_message_number_out_of_range(ctx):
    _range_case(ctx, {"uidl_lines": [b"1 uidl-000", b"7 uidl-001"]})


def test_fake_uidl_message_number_zero(ctx):
    _range_case(ctx, {"uidl_lines": [b"0 uidl-000", b"1 uidl-001"]})


def test_fake_list_size_absurd(ctx):
    _range_case(ctx, {"list_lines": [b"1 100",
                                     b"2 99999999999999999999999"]})


def test_fake_list_size_negative(ctx):
    _range_case(ctx, {"list_lines": [b"1 100", b"2 -5"]})


def test_fake_stat_count_garbage(ctx):
    _range_case(ctx, {"stat_line": b"+OK 2x 100"})


def test_fake_nul_and_8bit_bytes_byte_exact(ctx):
    msgs = [b"Subject: nul\nMessage-ID: <nul@t>\n\nbefore \x00 after\n"
            b"\xff\xfe raw bytes \x80\n.\n..\n",
            b"Subject: nonl\nMessage-ID: <nonl@t>\n\nno final newline",
            b"Subject: e\nMessage-ID: <e@t>\n\n"]
    srv, mp, md = _setup(ctx, msgs)
    assert_ok(mp.fetch(ACCT))
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])


def test_fake_auth_failure_reports_server_text(ctx):
    srv, mp, md = _setup(ctx, _msgs(1))
    srv.faults["auth_fail"] = True
    r = mp.fetch(ACCT)
    assert_failed(r, ACCT, "auth", words=["bad credentials"])
    assert SECRET not in r.stderr + r.stdout
    assert read_maildir(md) == []


def _pipelined(srv):
    """(verb, sent without waiting for the previous reply) of session 0."""
    s0 = srv.sessions[0]
    return list(zip(s0.verbs(), s0.buffered))


def _another_account(ctx, mp, name, msgs, **srv_kw):
    """A second fake server and keep-mode account NAME@example.org on it
    (beside _setup's), delivering to tmp/mail/NAME/Maildir."""
    srv = ctx.fakepop3([Msg("u-%d" % i, m) for i, m in enumerate(msgs)],
                       user="fakeuser", password=SECRET, **srv_kw)
    acct = "%s@example.org" % name
    mp.add_account(acct, port=srv.port, security="none", user="fakeuser",
                   password=SECRET,
                   target="maildir:%s/mail/%s/Maildir" % (ctx.tmp, name),
                   extra=["--timeout", "5", "--keep"])
    return srv, acct, os.path.join(ctx.tmp, "mail", name, "Maildir")


def test_fake_pipelined_listing_and_quit(ctx):
    """With PIPELINING offered, STAT/UIDL/LIST go out behind AUTH (or
    behind USER and PASS) and, in keep mode, QUIT behind the last RETR:
    two round trips less per pass. Without it, every command waits for
    the previous reply."""
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs, extra=["--keep"])
    assert_ok(mp.fetch(ACCT), "pipelined pass")
    got = _pipelined(srv)
    assert [v for v, _ in got] == [b"CAPA", b"AUTH", b"STAT", b"UIDL",
                                   b"LIST", b"RETR", b"RETR", b"RETR",
                                   b"QUIT"], got
    assert [b for v, b in got if v in (b"STAT", b"UIDL", b"LIST")] == \
        [True] * 3, "listing not pipelined behind AUTH: %r" % got
    assert got[-1] == (b"QUIT", True), \
        "QUIT not pipelined behind the last RETR: %r" % got
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])
    assert len(srv.uidls()) == 3, "keep mode deleted something"

    # USER/PASS (no SASL) with PIPELINING: PASS and the listing at once
    srv2, acct2, md2 = _another_account(ctx, mp, "userpass", msgs, sasl=())
    assert_ok(mp.fetch(acct2), "USER/PASS pipelined pass")
    got2 = _pipelined(srv2)
    assert [v for v, _ in got2][:6] == [b"CAPA", b"USER", b"PASS", b"STAT",
                                        b"UIDL", b"LIST"], got2
    assert [b for _, b in got2][2:6] == [True] * 4, \
        "PASS and the listing not pipelined behind USER: %r" % got2
    check_delivered(read_maildir(md2), [corpus.expected(m) for m in msgs])

    # without PIPELINING: one command at a time, USER/PASS in turn
    srv3, acct3, md3 = _another_account(ctx, mp, "nopipe", msgs,
                                        pipelining=False, sasl=())
    assert_ok(mp.fetch(acct3), "unpipelined pass")
    got3 = _pipelined(srv3)
    assert [v for v, _ in got3] == [b"CAPA", b"USER", b"PASS", b"STAT",
                                    b"UIDL", b"LIST", b"RETR", b"RETR",
                                    b"RETR", b"QUIT"], got3
    assert not any(b for _, b in got3), \
        "pipelined against a server without PIPELINING: %r" % got3
    check_delivered(read_maildir(md3), [corpus.expected(m) for m in msgs])


def test_fake_delete_mode_quit_after_commit(ctx):
    """Delete mode: QUIT (which applies the DELEs) is sent only after the
    batch is durable and its DELEs queued; the listing is still
    pipelined behind AUTH."""
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs, extra=["--delete"])
    r = mp.fetch(ACCT)
    assert_ok(r, "delete pass")
    s0 = srv.sessions[0]
    verbs = s0.verbs()
    assert verbs[-1] == b"QUIT", verbs
    assert verbs.index(b"QUIT") > max(i for i, v in enumerate(verbs)
                                      if v == b"DELE"), verbs
    assert sorted(_dele_numbers(s0)) == [1, 2, 3], s0.commands
    assert srv.uidls() == []
    check_delivered(read_maildir(md), [corpus.expected(m) for m in msgs])


def test_fake_concurrent_fetch_waits_or_busy(ctx):
    """The first pass stalls mid-RETR (holding the account); a second
    fetch of the same account must wait or report busy - never run a
    second session while the first is open."""
    msgs = _msgs(4)
    srv, mp, md = _setup(ctx, msgs, timeout=3)
    srv.faults["stall_in_retr"] = (2, 100)
    p1 = mp.start(["fetch", ACCT])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if srv.sessions and (srv.sessions[0].closed_by or "").startswith(
                "server stalled"):
            break
        time.sleep(0.02)
    else:
        p1.kill()
        fail("first pass never reached the stall")
    srv.faults.clear()
    p2 = mp.start(["fetch", ACCT])
    r2 = p2.wait(20 * util.slow_factor())
    r1 = p1.wait(20 * util.slow_factor())
    assert_failed(r1, ACCT, "timeout")
    if r2.code == 0:
        # it waited for the first pass to end
        assert len(srv.sessions) == 2, len(srv.sessions)
        s0, s1 = srv.sessions
        assert s1.started >= s0.ended - 0.05, \
            "second session opened while the first was still open"
        check_delivered(read_maildir(md), [corpus.expected(m)
                                           for m in msgs])
    else:
        assert_failed(r2, ACCT, "busy")
        assert len(srv.sessions) == 1, "second session while first open"
        # the account is usable again afterwards
        assert_ok(mp.fetch(ACCT), "fetch after the busy one")
        check_delivered(read_maildir(md), [corpus.expected(m)
                                           for m in msgs])
    assert srv.uidls() == []
