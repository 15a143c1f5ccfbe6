"""IMAP fault injection with the scripted server (lib/fakeimap.py): only
what a real server cannot do on demand - drops, hostile literals, odd
response orders, refused commands."""
import os
import re
import time

from lib import corpus, util
from lib.checks import assert_failed, assert_ok, check_delivered, fail
from lib.fakeimap import FakeIMAP, Msg, parse_set
from lib.mailpull import maildir_tmp_files, read_maildir, strip_received

ACCT = "ifake@example.org"
SECRET = "ifake-Secret-pw"
DESTRUCTIVE = (b"UID STORE", b"UID EXPUNGE", b"EXPUNGE", b"CLOSE")


def _msgs(n, seed=21):
    return corpus.subset(n, seed=seed, max_size=64 * 1024)


def _setup(ctx, msgs, extra=(), security="none", timeout=5, uids=None,
           **srv_kw):
    """A fake IMAP server with msgs (bytes) in INBOX under uids (default
    1..n), and a mailpull IMAP account on it delivering to
    tmp/mail/ifake/Maildir (delete mode unless extra says otherwise)."""
    uids = uids or list(range(1, len(msgs) + 1))
    items = [Msg(u, m) for u, m in zip(uids, msgs)]
    srv = FakeIMAP({"INBOX": items}, user="fakeuser", password=SECRET,
                   certs=ctx.certs, **srv_kw).start()
    ctx.cleanup(srv.stop)

    def _errors():
        if srv.errors:
            raise AssertionError("fake server bug:\n" + srv.errors[0])
    ctx.cleanup(_errors)
    mp = ctx.mailpull()
    target = "maildir:%s/mail/%%u/Maildir" % ctx.tmp
    mp.add_account(ACCT, port=srv.port, protocol="imap", security=security,
                   user="fakeuser", password=SECRET, target=target,
                   ca_file=ctx.certs["ca"] if security != "none" else None,
                   extra=["--timeout", str(timeout)] + list(extra))
    maildir = os.path.join(ctx.tmp, "mail", "ifake", "Maildir")
    return srv, mp, maildir


def _verbs(srv, session=None):
    if session is None:
        return srv.all_verbs()
    return srv.sessions[session].verbs()


def _cmds(srv, verb, session=None):
    sessions = srv.sessions if session is None else [srv.sessions[session]]
    return [c for s in sessions for c, v in zip(s.commands, s.verbs())
            if v == verb]


def _assert_any_error(r, acct=ACCT):
    if r.timed_out or r.code != 1:
        fail("expected exit 1", r)
    if not re.search(r"^mailpull: %s: [a-z-]+ error: " % re.escape(acct),
                     r.stderr, re.M):
        fail("no 'mailpull: %s: CLASS error: ...' line" % acct, r)


def _no_destructive(srv, session=None):
    v = _verbs(srv, session)
    bad = [x for x in v if x in DESTRUCTIVE]
    assert not bad, "destructive commands sent: %r\n%r" % (
        bad, srv.all_commands())


def _no_credentials(srv):
    cmds = srv.all_commands()
    sent = [c for c, v in zip(cmds, srv.all_verbs())
            if v in (b"LOGIN", b"AUTHENTICATE")]
    assert not sent, "credentials sent: %r" % sent
    assert SECRET.encode() not in b"\n".join(cmds)
    import base64
    plain = base64.b64encode(b"\0fakeuser\0" + SECRET.encode())
    assert plain not in b"\n".join(cmds)


def _set_has(cmd, uid):
    """Whether the UID set of "tag UID VERB set ..." covers uid."""
    return bool(parse_set(cmd.split(b" ")[3], [uid]))


def _journal(mp, acct=ACCT):
    """{uid: state} of the store's rows for the account (INBOX)."""
    rows = mp.db_query("SELECT folder, uidvalidity, uid, state FROM "
                       "messages WHERE account = ?", (acct,))
    return {int(u): st for f, uv, u, st in rows}


def _bodies(md):
    return [strip_received(d) for _, d in read_maildir(md)]


# ---- dropped connections and broken literals ------------------------------

def test_imap_fake_drop_inside_literal_then_once(ctx):
    msgs = _msgs(5)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults["drop_in_literal"] = (3, 100)
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    s0 = srv.sessions[0]
    assert (s0.closed_by or "").startswith("server: inside the literal"), \
        s0.closed_by
    got = _bodies(md)
    assert msgs[2] not in got, "the truncated message was delivered"
    for b in got:
        assert b in msgs[:2], "a partial or unknown message was delivered"
    assert not maildir_tmp_files(md), "temporary files left in tmp/"
    _no_destructive(srv, 0)
    assert srv.uids() == [1, 2, 3, 4, 5], "something was deleted"
    assert 3 not in _journal(mp), "UID 3 recorded: %r" % _journal(mp)
    # the messages delivered before the cut are recorded
    for u in range(1, len(got) + 1):
        assert _journal(mp).get(u) == 1, (u, _journal(mp))
    # next pass against a well-behaved server: every message exactly once
    srv.faults.clear()
    r = mp.fetch(ACCT)
    assert_ok(r, "second pass")
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    assert srv.uids() == [], srv.uids()


def test_imap_fake_literal_longer_than_data(ctx):
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults["short_literal"] = (2, 50)
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    got = _bodies(md)
    assert msgs[1] not in got, "the short message was delivered"
    for b in got:
        assert b == msgs[0], "a partial or unknown message was delivered"
    assert not maildir_tmp_files(md)
    _no_destructive(srv, 0)
    assert srv.uids() == [1, 2, 3]
    assert 2 not in _journal(mp)
    srv.faults.clear()
    assert_ok(mp.fetch(ACCT), "second pass")
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    assert srv.uids() == []


def _absurd_literal(ctx, size_text):
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults["literal_size"] = (1, size_text)
    t0 = time.monotonic()
    r = mp.fetch(ACCT, timeout=60)
    assert_failed(r, ACCT, "protocol")
    assert time.monotonic() - t0 < 20 * util.slow_factor()
    assert read_maildir(md) == [], "delivered despite a bad literal"
    assert not maildir_tmp_files(md)
    _no_destructive(srv)
    assert srv.uids() == [1, 2, 3]
    assert _journal(mp) == {}, _journal(mp)
    return r


def test_imap_fake_literal_size_4294967296(ctx):
    _absurd_literal(ctx, b"4294967296")


def test_imap_fake_literal_size_negative(ctx):
    _absurd_literal(ctx, b"-1")


def test_imap_fake_literal_size_not_a_number(ctx):
    _absurd_literal(ctx, b"abc")


# ---- FETCH answers without a usable body -----------------------------------

def _missing_body(ctx, fault):
    msgs = _msgs(4)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults[fault] = {2}
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    check_delivered(read_maildir(md), [msgs[0], msgs[2], msgs[3]],
                    acct=ACCT)
    assert 2 in srv.uids(), "UID 2 deleted though never delivered"
    assert "\\Deleted" not in srv.flags("INBOX", 2), \
        "UID 2 marked \\Deleted though never delivered"
    for c in _cmds(srv, b"UID STORE") + _cmds(srv, b"UID EXPUNGE"):
        assert not _set_has(c, 2), "UID 2 in a destructive command: %r" % c
    assert srv.uids() == [2], srv.uids()
    j = _journal(mp)
    assert j.get(2) != 1, "UID 2 recorded as delivered: %r" % j
    # retried later: a good answer next pass delivers it once
    srv.faults.clear()
    assert_ok(mp.fetch(ACCT), "second pass")
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    assert srv.uids() == []


def test_imap_fake_fetch_body_nil(ctx):
    _missing_body(ctx, "body_nil")


def test_imap_fake_fetch_without_body(ctx):
    _missing_body(ctx, "no_body")


# ---- STARTTLS and credentials ----------------------------------------------

def test_imap_fake_preauth_with_starttls_no_credentials(ctx):
    srv, mp, md = _setup(ctx, _msgs(1), security="starttls", stls="ok",
                         preauth=True)
    r = mp.fetch(ACCT)
    assert_failed(r, ACCT, "tls", words=["PREAUTH"])
    _no_credentials(srv)
    v = _verbs(srv)
    assert not any(x in (b"SELECT", b"EXAMINE", b"UID FETCH") for x in v), \
        "the session went on after a PREAUTH greeting: %r" % v
    assert read_maildir(md) == []


def _starttls_refused(ctx, mode):
    srv, mp, md = _setup(ctx, _msgs(1), security="starttls", stls=mode)
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    assert b"STARTTLS" in _verbs(srv), "STARTTLS never tried: %r" % (
        srv.all_commands())
    _no_credentials(srv)
    assert read_maildir(md) == []
    return r


def test_imap_fake_starttls_refused_no(ctx):
    r = _starttls_refused(ctx, "no")
    assert "TLS is broken today" in r.stderr, \
        "the server's text is not reported: %r" % r


def test_imap_fake_starttls_refused_bad(ctx):
    _starttls_refused(ctx, "bad")


def test_imap_fake_starttls_not_offered_no_credentials(ctx):
    srv, mp, md = _setup(ctx, _msgs(1), security="starttls", stls="none")
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    _no_credentials(srv)
    assert read_maildir(md) == []


def test_imap_fake_bytes_after_starttls_ok_rejected(ctx):
    srv, mp, md = _setup(ctx, _msgs(1), security="starttls", stls="inject")
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    assert "STARTTLS" in r.stderr, "the reason is not given: %r" % r
    _no_credentials(srv)
    assert read_maildir(md) == []


def test_imap_fake_starttls_ok_capability_again(ctx):
    """The positive case through the fake: STARTTLS, CAPABILITY again
    after the handshake, then authentication and delivery."""
    msgs = _msgs(2)
    srv, mp, md = _setup(ctx, msgs, security="starttls", stls="ok")
    assert_ok(mp.fetch(ACCT))
    s = srv.sessions[0]
    v = s.verbs()
    assert s.tls
    i = v.index(b"STARTTLS")
    assert b"CAPABILITY" in v[i + 1:], "CAPABILITY not re-read: %r" % v
    assert not any(x in (b"LOGIN", b"AUTHENTICATE") for x in v[:i])
    check_delivered(read_maildir(md), msgs, acct=ACCT)


def test_imap_fake_auth_failure_reports_server_text(ctx):
    srv, mp, md = _setup(ctx, _msgs(1))
    srv.faults["auth_fail"] = True
    r = mp.fetch(ACCT)
    assert_failed(r, ACCT, "auth", words=["fake says bad credentials"])
    assert SECRET not in r.stderr + r.stdout
    assert read_maildir(md) == []


# ---- odd but legal response orders -----------------------------------------

def test_imap_fake_unsolicited_between_fetches(ctx):
    """Another client expunges UID 1 (already sent), a new message
    arrives (EXISTS), a flags update for UID 4: everything asked for is
    delivered, addressed by UID; the message that arrived during the pass
    is neither delivered nor deleted."""
    msgs = _msgs(6)
    late = _msgs(7, seed=22)[6]
    srv, mp, md = _setup(ctx, msgs[:5])
    srv.faults["after_fetch"] = {
        2: [("expunge", 1), ("exists", Msg(6, late))],
        3: [("flags", 4, "\\Seen"), ("raw", b"* 3 RECENT")],
        4: [("raw", b"* 4 EXISTS"), ("raw", b"* 1 EXPUNGE")],
    }
    r = mp.fetch(ACCT)
    assert_ok(r)
    check_delivered(read_maildir(md), msgs[:5], acct=ACCT)
    # the late message stays, untouched
    assert 6 in srv.uids(), srv.uids()
    assert "\\Deleted" not in srv.flags("INBOX", 6)
    for c in _cmds(srv, b"UID STORE") + _cmds(srv, b"UID EXPUNGE"):
        assert not _set_has(c, 6), "UID 6 in a destructive command: %r" % c
    j = _journal(mp)
    assert 6 not in j, j
    srv.faults.clear()
    assert_ok(mp.fetch(ACCT), "second pass")
    check_delivered(read_maildir(md), msgs[:5] + [late], acct=ACCT)
    assert srv.uids() == []


def test_imap_fake_uid_after_body(ctx):
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs, uids=[7, 9, 12], extra=["--keep"])
    srv.faults["uid_after_body"] = True
    r = mp.fetch(ACCT)
    assert_ok(r)
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    rows = mp.db_query("SELECT uid, state, size, msgid FROM messages "
                       "WHERE account = ? ORDER BY uid", (ACCT,))
    assert sorted(int(u) for u, _, _, _ in rows) == [7, 9, 12], rows
    by_uid = {int(u): (st, sz, mid) for u, st, sz, mid in rows}
    for u, m in zip([7, 9, 12], msgs):
        st, sz, mid = by_uid[u]
        assert st == 1, rows
        assert mid == corpus.message_id(m), (u, mid, corpus.message_id(m))
        assert sz == len(m.replace(b"\n", b"\r\n")), (u, sz)
    # keep: a second pass fetches nothing
    assert_ok(mp.fetch(ACCT), "second pass")
    assert len(_cmds(srv, b"UID FETCH", session=1)) == 0, \
        srv.sessions[1].commands
    assert len(read_maildir(md)) == 3


# ---- refused destructive commands ------------------------------------------

def _refused(ctx, fault):
    msgs = _msgs(4)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults[fault] = True
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    assert "fake cannot" in r.stderr, "server text not reported: %r" % r
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    assert srv.uids() == [1, 2, 3, 4], srv.uids()
    j = _journal(mp)
    assert j == {1: 1, 2: 1, 3: 1, 4: 1}, j
    # next pass: nothing fetched again, the deletion is retried
    srv.faults.clear()
    assert_ok(mp.fetch(ACCT), "second pass")
    fetched = _cmds(srv, b"UID FETCH", session=1)
    assert not fetched, "delivered messages fetched again: %r" % fetched
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    assert srv.uids() == [], srv.uids()
    return srv


def test_imap_fake_uid_store_no(ctx):
    srv = _refused(ctx, "store_no")
    assert not _cmds(srv, b"UID EXPUNGE", session=0), \
        "UID EXPUNGE after a failed UID STORE: %r" % srv.all_commands()


def test_imap_fake_uid_expunge_no(ctx):
    _refused(ctx, "expunge_no")


def test_imap_fake_no_uidplus_marks_only(ctx):
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs, uidplus=False)
    r = mp.fetch(ACCT)
    assert_ok(r)
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    v = _verbs(srv)
    assert b"UID STORE" in v, "no UID STORE \\Deleted: %r" % v
    stores = _cmds(srv, b"UID STORE")
    assert all(b"\\Deleted" in c for c in stores), stores
    for bad in (b"EXPUNGE", b"UID EXPUNGE", b"CLOSE"):
        assert bad not in v, "%s sent without UIDPLUS: %r" % (
            bad.decode(), srv.all_commands())
    assert srv.uids() == [1, 2, 3]
    for u in (1, 2, 3):
        assert "\\Deleted" in srv.flags("INBOX", u)
    lg = mp.run(["log", ACCT])
    assert_ok(lg, "log")
    assert "UIDPLUS" in lg.stdout, "run log does not say why: %r" % lg
    # next pass: nothing fetched again, and still no expunge
    assert_ok(mp.fetch(ACCT), "second pass")
    assert not _cmds(srv, b"UID FETCH", session=1), \
        srv.sessions[1].commands
    v = _verbs(srv)
    assert b"EXPUNGE" not in v and b"CLOSE" not in v
    assert len(read_maildir(md)) == 3


def test_imap_fake_no_uidplus_other_clients_deleted_kept(ctx):
    """Without UIDPLUS a message another client marked \\Deleted is never
    expunged by mailpull (no EXPUNGE/CLOSE at all); mailpull delivers it
    (it is mail on the server) and leaves it marked."""
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs, uidplus=False)
    srv.folders["INBOX"].msgs[1].flags.add("\\Deleted")
    assert_ok(mp.fetch(ACCT))
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    assert srv.uids() == [1, 2, 3]
    v = _verbs(srv)
    assert b"EXPUNGE" not in v and b"CLOSE" not in v, srv.all_commands()


# ---- hostile sizes ---------------------------------------------------------

def _long_line(ctx, where):
    n = 100 * 1024 * 1024
    srv, mp, md = _setup(ctx, _msgs(2), timeout=10)
    srv.faults["long_line"] = (where, n)
    t0 = time.monotonic()
    r = mp.fetch(ACCT, timeout=60)
    dt = time.monotonic() - t0
    assert_failed(r, ACCT, "protocol")
    assert dt < 15 * util.slow_factor(), "took %.1fs" % dt
    assert read_maildir(md) == []
    _no_destructive(srv)
    assert srv.uids() == [1, 2]
    if not util.sanitized():
        assert r.rss_kib < 8 * 1024, \
            "peak RSS %d KiB >= 8 MiB on a 100 MB line" % r.rss_kib
    return r


def test_imap_fake_100mb_line_greeting(ctx):
    _long_line(ctx, "greeting")


def test_imap_fake_100mb_line_after_select(ctx):
    _long_line(ctx, "SELECT")


def test_imap_fake_100mb_line_in_fetch(ctx):
    _long_line(ctx, "UID FETCH")


# ---- BYE -------------------------------------------------------------------

def test_imap_fake_bye_mid_fetch_keeps_completed(ctx):
    msgs = _msgs(5)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults["bye_after_fetch"] = 2
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    assert "shutting down now" in r.stderr, \
        "the BYE text is not reported: %r" % r
    check_delivered(read_maildir(md), msgs[:2], acct=ACCT)
    j = _journal(mp)
    assert j == {1: 1, 2: 1}, "completed messages not recorded: %r" % j
    _no_destructive(srv, 0)
    assert srv.uids() == [1, 2, 3, 4, 5]
    srv.faults.clear()
    assert_ok(mp.fetch(ACCT), "second pass")
    for c in _cmds(srv, b"UID FETCH", session=1):
        assert not _set_has(c, 1) and not _set_has(c, 2), \
            "fetched again: %r" % c
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    assert srv.uids() == []


# ---- what a normal pass sends ---------------------------------------------

def test_imap_fake_keep_uses_examine_and_peek(ctx):
    """Keep mode without --mark-seen: EXAMINE (read-only), BODY.PEEK[],
    no STORE/EXPUNGE/CLOSE, LOGOUT at the end; the server's flags are
    untouched."""
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs, extra=["--keep"])
    assert_ok(mp.fetch(ACCT))
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    v = _verbs(srv)
    assert b"EXAMINE" in v and b"SELECT" not in v, v
    for c in _cmds(srv, b"UID FETCH"):
        assert b"BODY.PEEK[" in c, "a FETCH that sets \\Seen: %r" % c
    _no_destructive(srv)
    assert v[-1] == b"LOGOUT", "no LOGOUT at the end: %r" % v
    assert all(srv.flags("INBOX", u) == set() for u in (1, 2, 3))


def _pipelined(srv, session=0):
    sess = srv.sessions[session]
    return list(zip(_verbs(srv, session), sess.buffered))


def test_imap_fake_pipelined_keep_pass(ctx):
    """Keep mode: EXAMINE and UID SEARCH go out behind AUTHENTICATE, LOGOUT
    behind the UID FETCH: three round trips after the greeting become
    one each for login+listing and fetch+logout."""
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs, extra=["--keep"])
    assert_ok(mp.fetch(ACCT))
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    got = _pipelined(srv)
    assert [v for v, _ in got] == [b"AUTHENTICATE", b"EXAMINE",
                                   b"UID SEARCH", b"UID FETCH",
                                   b"LOGOUT"], got
    assert [b for _, b in got] == [False, True, True, False, True], got


def test_imap_fake_pipelined_login_without_capability(ctx):
    """A login OK without [CAPABILITY]: the capabilities are asked after the
    pipelined replies are read, before anything depends on them (UIDPLUS
    for the deletion)."""
    msgs = _msgs(3)
    srv, mp, md = _setup(ctx, msgs)
    srv.faults["login_no_caps"] = True
    assert_ok(mp.fetch(ACCT))
    check_delivered(read_maildir(md), msgs, acct=ACCT)
    v = _verbs(srv)
    assert v[:4] == [b"AUTHENTICATE", b"SELECT", b"UID SEARCH",
                     b"CAPABILITY"], v
    assert b"UID EXPUNGE" in v, "UIDPLUS not learned after login: %r" % v
    assert srv.uids() == [], srv.uids()
    got = _pipelined(srv)
    # delete mode: LOGOUT only after the deletions
    assert got[-1] == (b"LOGOUT", False), got


def test_imap_fake_pipelined_select_refused(ctx):
    """The pipelined SELECT is refused: the pass reports the folder, reads
    the refused SEARCH, delivers nothing and deletes nothing."""
    msgs = _msgs(2)
    srv, mp, md = _setup(ctx, msgs, extra=["--folder", "Nope"])
    r = mp.fetch(ACCT)
    assert r.code == 1, r
    assert "cannot open folder Nope" in r.stderr, r.stderr
    v = _verbs(srv)
    assert v == [b"AUTHENTICATE", b"SELECT", b"UID SEARCH", b"LOGOUT"], v
    assert read_maildir(md) == [] and srv.uids() == [1, 2]


def test_imap_fake_mark_seen_stores_seen_on_delivered_only(ctx):
    msgs = _msgs(4)
    srv, mp, md = _setup(ctx, msgs, extra=["--keep", "--mark-seen"])
    srv.faults["body_nil"] = {3}
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    v = _verbs(srv)
    assert b"SELECT" in v, "--mark-seen needs a read-write SELECT: %r" % v
    stores = _cmds(srv, b"UID STORE")
    assert stores and all(b"\\Seen" in c and b"\\Deleted" not in c
                          for c in stores), stores
    assert not any(_set_has(c, 3) for c in stores), stores
    assert [u for u in srv.uids() if "\\Seen" in srv.flags("INBOX", u)] \
        == [1, 2, 4], [(u, srv.flags("INBOX", u)) for u in srv.uids()]
    assert not any(x in v for x in (b"UID EXPUNGE", b"EXPUNGE", b"CLOSE"))
    assert srv.uids() == [1, 2, 3, 4]


def test_imap_fake_login_when_no_auth_plain(ctx):
    msgs = _msgs(1)
    srv, mp, md = _setup(ctx, msgs, sasl=())
    assert_ok(mp.fetch(ACCT))
    v = _verbs(srv)
    assert b"LOGIN" in v and b"AUTHENTICATE" not in v, v
    check_delivered(read_maildir(md), msgs)


def test_imap_fake_logindisabled_no_credentials(ctx):
    srv, mp, md = _setup(ctx, _msgs(1), sasl=(), logindisabled=True)
    r = mp.fetch(ACCT)
    assert_failed(r, ACCT, "auth", words=["LOGINDISABLED"])
    _no_credentials(srv)
    assert read_maildir(md) == []


def test_imap_fake_auth_plain_without_sasl_ir(ctx):
    msgs = _msgs(1)
    srv, mp, md = _setup(ctx, msgs, sasl_ir=False)
    assert_ok(mp.fetch(ACCT))
    auth = _cmds(srv, b"AUTHENTICATE")
    assert auth and all(c.split(b" ")[2:] == [b"PLAIN"] for c in auth), \
        "initial response sent without SASL-IR: %r" % auth
    check_delivered(read_maildir(md), msgs)


# ---- UIDVALIDITY with the fake ----------------------------------------------

def test_imap_fake_uidvalidity_change_after_failed_expunge(ctx):
    """Delete mode: the messages are delivered and recorded but UID
    EXPUNGE fails, so they stay. The server then renumbers the folder
    (new UIDVALIDITY, UIDs 101...) and a second copy of message 1 and a
    new message arrive. Next pass: nothing is deleted by an old UID, the
    recorded messages are recognised by Message-ID + size (not fetched
    again), the new ones are delivered once - the second copy of message
    1 too, since one earlier delivery vouches for one message only."""
    msgs = _msgs(5)
    srv, mp, md = _setup(ctx, msgs[:3])
    srv.faults["expunge_no"] = True
    r = mp.fetch(ACCT)
    _assert_any_error(r)
    assert _journal(mp) == {1: 1, 2: 1, 3: 1}, _journal(mp)
    srv.faults.clear()
    # the failed pass left them marked \Deleted; a rebuild keeps flags
    srv.renumber("INBOX", 7654321, 101)
    f = srv.folders["INBOX"]
    f.add(msgs[0])           # UID 104: same bytes as UID 101
    f.add(msgs[3])           # UID 105: new
    n0 = len(srv.sessions)
    r = mp.fetch(ACCT)
    assert_ok(r, "pass after the UIDVALIDITY change")
    assert "UIDVALIDITY" in r.stderr, "not logged loudly: %r" % r
    body_fetches = [c for c in _cmds(srv, b"UID FETCH", session=n0)
                    if b"BODY.PEEK[]" in c]
    fetched = set()
    for c in body_fetches:
        fetched |= set(parse_set(c.split(b" ")[3], list(range(1, 200))))
    # 101 and 104 are identical: one is recognised, the other fetched
    assert fetched in ({101, 105}, {104, 105}), \
        "expected one copy of message 1 and UID 105 fetched, got %r" % (
            sorted(fetched),)
    for c in _cmds(srv, b"UID STORE", session=n0) + \
            _cmds(srv, b"UID EXPUNGE", session=n0):
        for old in (1, 2, 3):
            assert not _set_has(c, old), "old UID used: %r" % c
    # delivered: the three (once), the second copy of 1, and the new one
    check_delivered(read_maildir(md), msgs[:3] + [msgs[0], msgs[3]],
                    acct=ACCT)
    rows = mp.db_query("SELECT uidvalidity, uid, state FROM messages "
                       "WHERE account = ?", (ACCT,))
    assert {uv for uv, _, _ in rows} <= {7654321}, rows
    fol = mp.db_query("SELECT folder, uidvalidity FROM folders WHERE "
                      "account = ?", (ACCT,))
    assert fol == [("INBOX", 7654321)], fol
    assert srv.uids() == [], "delete mode left %r" % srv.uids()


# ---- hostile SEARCH --------------------------------------------------------

def test_imap_fake_100mb_search_line(ctx):
    """A 100 MB "* SEARCH 1 1 1 ..." without CRLF: an error, quickly,
    nothing fetched or deleted, and the same memory bound as any other
    100 MB line. (SEARCH is streamed, not bound by the line limit, but by
    IMAP_SEARCH_MAX = 10 million numbers, i.e. up to 40 MB of UIDs held
    before the error; the folder's EXISTS count, or de-duplicating as
    numbers arrive, would bound it far lower.)"""
    srv, mp, md = _setup(ctx, _msgs(2), timeout=10)
    srv.faults["search_flood"] = 100 * 1024 * 1024
    t0 = time.monotonic()
    r = mp.fetch(ACCT, timeout=60)
    dt = time.monotonic() - t0
    _assert_any_error(r)
    assert dt < 15 * util.slow_factor(), "took %.1fs" % dt
    assert read_maildir(md) == []
    assert b"UID FETCH" not in _verbs(srv)
    _no_destructive(srv)
    assert srv.uids() == [1, 2]
    if not util.sanitized():
        assert r.rss_kib < 8 * 1024, \
            "peak RSS %d KiB >= 8 MiB on a 100 MB SEARCH line" % (
                r.rss_kib)
