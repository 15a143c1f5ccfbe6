"""Delivery targets: Dovecot LMTP (TCP and unix socket), SMTP into
Postfix's smtp-sink, and MDA commands. Mail is fetched over POP3 from the
shared Dovecot; what the target stored is compared byte for byte (after
mailpull's Received: field and the target's own added lines)."""
import os
import re
import stat
import time

from lib import corpus
from lib.checks import Account, assert_ok, fail
from lib.mailpull import strip_received
from lib.targets_fixture import LmtpDovecot, SmtpSink, lmtp_stored

SMALL = 256 * 1024


def _lmtp(ctx):
    lm = LmtpDovecot(os.path.dirname(ctx.tmp)).start()
    ctx.cleanup(lm.stop)
    return lm


def _sink(ctx, **kw):
    s = SmtpSink(os.path.dirname(ctx.tmp)).start(**kw)
    ctx.cleanup(s.close)
    return s


def _account(ctx, prefix, msgs, target, deliver_to, extra=()):
    a = Account(ctx, prefix=prefix)
    a.deliver(msgs)
    a.target = target
    ex = list(extra)
    if deliver_to:
        ex += ["--deliver-to", deliver_to]
    a.add(security="none", extra=ex)
    return a


def _return_path(msg):
    m = re.search(rb"^Return-Path: <([^>]*)>", msg, re.M)
    return m.group(1).decode() if m else ""


def _check_lmtp_copies(lm, user, msgs, rcpt):
    got = lm.messages(user)
    want = sorted(corpus.expected(m) for m in msgs)
    bodies = []
    for data in got:
        added, rest = lmtp_stored(data)
        # Dovecot adds Delivered-To only when the transaction had one
        # recipient
        dt = [x for x in added if x.startswith(b"Delivered-To:")]
        if dt and dt != [b"Delivered-To: %s\n" % rcpt.encode()]:
            fail("LMTP copy for %s has Delivered-To: %r" % (rcpt, dt))
        hdr_len = len(rest) - len(strip_received(rest))
        if b"mailpull" not in rest[:hdr_len]:
            fail("no mailpull Received: %r" % rest[:hdr_len])
        body = rest[hdr_len:]
        # the envelope sender is the message's Return-Path
        rp = [x for x in added if x.startswith(b"Return-Path:")]
        if rp and rp[0] != b"Return-Path: <%s>\n" % _return_path(
                body).encode():
            fail("envelope sender %r, message says %r" % (
                rp[0], _return_path(body)))
        bodies.append(body)
    if sorted(bodies) != want:
        fail("%s: %d copies, %d expected; contents differ" % (
            user, len(bodies), len(want)))


def test_target_lmtp_tcp_byte_exact(ctx):
    """lmtp:HOST:PORT, one recipient, corpus messages (dot lines, 8-bit,
    no final newline) byte-exact, one connection for the pass."""
    lm = _lmtp(ctx)
    lm.add_user("alice")
    msgs = corpus.subset(12, max_size=SMALL)
    a = _account(ctx, "lmtp", msgs, "lmtp:127.0.0.1:%d" % lm.port,
                 "alice@lmtp.test")
    before = lm.log().count("Connect from")
    r = a.fetch()
    if r.code != 0:
        fail("fetch into LMTP failed; dovecot log:\n%s" % lm.log()[-3000:],
             r)
    _check_lmtp_copies(lm, "alice", msgs, "alice@lmtp.test")
    if a.server_count() != 0:
        fail("delivered messages left on the server")
    # connection reuse: one LMTP session for the whole pass
    conns = lm.log().count("Connect from") - before
    if conns > 1:
        fail("%d LMTP connections for one pass" % conns)


def test_target_lmtp_unix_several_users(ctx):
    """lmtp:unix:PATH, --deliver-to a,b: each gets every message."""
    lm = _lmtp(ctx)
    lm.add_user("bob")
    lm.add_user("carol")
    msgs = corpus.subset(5, max_size=SMALL)
    a = _account(ctx, "lmtu", msgs, "lmtp:unix:%s" % lm.socket,
                 "bob@lmtp.test,carol@lmtp.test")
    r = a.fetch()
    assert_ok(r)
    _check_lmtp_copies(lm, "bob", msgs, "bob@lmtp.test")
    _check_lmtp_copies(lm, "carol", msgs, "carol@lmtp.test")
    assert a.server_count() == 0


def test_target_lmtp_unknown_user(ctx):
    """An unknown LMTP user gets a per-recipient 5xx: the known one still
    gets the message; a message nobody takes is kept on the server."""
    lm = _lmtp(ctx)
    lm.add_user("dave")
    msgs = corpus.subset(2, max_size=SMALL)
    a = _account(ctx, "lmtn", msgs, "lmtp:127.0.0.1:%d" % lm.port,
                 "dave@lmtp.test,ghost@lmtp.test")
    r = a.fetch()
    _check_lmtp_copies(lm, "dave", msgs, "dave@lmtp.test")
    log = a.mp.run(["log", a.id]).stdout + r.stderr + r.stdout
    if "ghost@lmtp.test" not in log or not re.search(r"\b5[0-9][0-9]\b",
                                                     log):
        fail("the 5xx for ghost@ is not reported", r)

    # only unknown recipients: parked, never deleted, exit 1
    msgs2 = corpus.subset(1, seed=7, max_size=SMALL)
    b = _account(ctx, "lmtg", msgs2, "lmtp:127.0.0.1:%d" % lm.port,
                 "ghost2@lmtp.test")
    r = b.fetch()
    if b.server_count() != 1:
        fail("a message every recipient refused was deleted", r)
    if r.code != 1:
        fail("expected exit 1 for a parked message, got %s" % r.code, r)


def _check_sink(sink, msgs, rcpts):
    """Every message reached every recipient exactly once (in one
    transaction or several), MAIL FROM = the message's Return-Path."""
    got = []
    for env, data in sink.messages():
        body = strip_received(data)
        if env["mail"][0].split()[0] != "<%s>" % _return_path(body):
            fail("MAIL FROM %r vs Return-Path %r" % (env["mail"],
                                                     _return_path(body)))
        for rc in env["rcpt"]:
            got.append((rc, body))
    want = [("<%s>" % rc, corpus.expected(m)) for m in msgs for rc in rcpts]
    if sorted(got) != sorted(want):
        fail("sink has %d (recipient, message) pairs, %d expected; "
             "contents differ" % (len(got), len(want)))


def test_target_smtp_sink_byte_exact(ctx):
    """smtp:HOST:PORT with PIPELINING, two recipients in one transaction,
    bytes checked; and without PIPELINING (-p)."""
    for extra in ([], ["-p"]):
        sink = _sink(ctx, extra=extra)
        msgs = corpus.subset(8, seed=len(extra) + 3, max_size=SMALL)
        a = _account(ctx, "smtp", msgs, "smtp:127.0.0.1:%d" % sink.port,
                     "x@smtp.test,y@smtp.test")
        r = a.fetch()
        assert_ok(r)
        _check_sink(sink, msgs, ["x@smtp.test", "y@smtp.test"])
        assert a.server_count() == 0
        for env, _ in sink.messages():
            if "BODY=8BITMIME" not in env["mail"][0]:
                fail("8BITMIME offered but not used: %r" % env["mail"])


def _temp_then_ok(ctx, prefix, reject):
    sink = _sink(ctx, reject_soft=[reject])
    msgs = corpus.subset(3, seed=11, max_size=SMALL)
    a = _account(ctx, prefix, msgs, "smtp:127.0.0.1:%d" % sink.port,
                 "t@smtp.test")
    r = a.fetch()
    if r.code != 1:
        fail("4xx at %s: expected exit 1, got %s" % (reject, r.code), r)
    if a.server_count() != 3:
        fail("4xx at %s: messages deleted from the server" % reject, r)
    if reject != "." and sink.messages():
        fail("4xx at %s: the sink has data" % reject)
    for f in os.listdir(sink.dir):
        os.unlink(os.path.join(sink.dir, f))
    sink.restart()
    r = a.fetch()
    assert_ok(r, "retry")
    _check_sink(sink, msgs, ["t@smtp.test"])
    assert a.server_count() == 0


def test_target_smtp_4xx_rcpt_retried(ctx):
    _temp_then_ok(ctx, "s4r", "RCPT")


def test_target_smtp_4xx_data_retried(ctx):
    _temp_then_ok(ctx, "s4d", ".")


def test_target_smtp_5xx_kept(ctx):
    """5xx for the recipient: parked (kept on the server), exit 1."""
    sink = _sink(ctx, reject_hard=["RCPT"])
    msgs = corpus.subset(2, seed=13, max_size=SMALL)
    a = _account(ctx, "s5", msgs, "smtp:127.0.0.1:%d" % sink.port,
                 "p@smtp.test")
    r = a.fetch()
    if a.server_count() != 2:
        fail("5xx: messages deleted from the server", r)
    if r.code != 1:
        fail("5xx: expected exit 1, got %s" % r.code, r)


MDA_SCRIPT = """#!/bin/sh
# $1: output dir, $2: recipient
cat > "$1/$2.$$.tmp" && mv "$1/$2.$$.tmp" "$1/$2.$$"
echo "env: $(env | sort | tr '\\n' ' ')" > "$1/env.$$"
echo "mda says: $3" >&2
exit %d
"""


def _mda(ctx, name, text):
    p = os.path.join(ctx.tmp, name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o755)
    return p


def _mda_account(ctx, prefix, code, msgs, extra_arg="hi"):
    script = _mda(ctx, "mda%d.sh" % code, MDA_SCRIPT % code)
    out = os.path.join(ctx.tmp, "out%d" % code)
    os.makedirs(out, exist_ok=True)
    target = "mda:%s %s %%a '%s'" % (script, out, extra_arg)
    a = _account(ctx, prefix, msgs, target, "m@mda.test")
    return a, out


def test_target_mda_exit_codes(ctx):
    msgs = corpus.subset(4, seed=17, max_size=SMALL)
    # exit 0: delivered, bytes on stdin = Received: + the message
    a, out = _mda_account(ctx, "md0", 0, msgs)
    r = a.fetch()
    assert_ok(r)
    files = [f for f in os.listdir(out) if f.startswith("m@mda.test.")
             and not f.endswith(".tmp")]
    bodies = []
    for f in files:
        with open(os.path.join(out, f), "rb") as fh:
            data = fh.read()
        if b"for <m@mda.test>" not in data[:400]:
            fail("MDA input lacks the Received: for <rcpt>: %r" % data[:300])
        bodies.append(strip_received(data))
    if sorted(bodies) != sorted(corpus.expected(m) for m in msgs):
        fail("MDA got %d messages, contents differ" % len(bodies))
    assert a.server_count() == 0
    envs = [f for f in os.listdir(out) if f.startswith("env.")]
    with open(os.path.join(out, envs[0])) as fh:
        env = fh.read()
    if "MP_TEST_PW" in env or "LC_ALL" in env or "PATH=/usr/local/bin:" \
            "/usr/bin:/bin" not in env:
        fail("MDA environment not clean: %s" % env)

    # exit 75: try later, kept, exit 1
    b, out = _mda_account(ctx, "md75", 75, msgs[:1])
    r = b.fetch()
    if r.code != 1 or b.server_count() != 1:
        fail("exit 75: expected exit 1 and the message kept", r)

    # exit 1: parked, kept, exit 1, the MDA's stderr in the log
    c, out = _mda_account(ctx, "md1", 1, msgs[:1], extra_arg="quota full")
    r = c.fetch()
    if c.server_count() != 1:
        fail("exit 1: message deleted", r)
    log = c.mp.run(["log", c.id]).stdout + r.stderr
    if "quota full" not in log or "exit 1" not in log:
        fail("the MDA's exit status and stderr are not in the log:\n%s"
             % log, r)
    if r.code != 1:
        fail("exit 1: expected exit 1, got %s" % r.code, r)


def test_target_mda_timeout_kills_group(ctx):
    """A command that hangs is killed (its whole process group) at the
    time limit; the message stays on the server."""
    pidfile = os.path.join(ctx.tmp, "hang.pid")
    script = _mda(ctx, "hang.sh", "#!/bin/sh\nsleep 60 &\necho $! > %s\n"
                  "wait\n" % pidfile)
    msgs = corpus.subset(1, seed=19, max_size=SMALL)
    a = _account(ctx, "mdh", msgs, "mda:%s?timeout=2" % script,
                 "h@mda.test")
    t0 = time.monotonic()
    r = a.fetch(timeout=60)
    took = time.monotonic() - t0
    if r.code != 1 or a.server_count() != 1:
        fail("hung MDA: expected exit 1 and the message kept", r)
    if took > 20:
        fail("hung MDA not killed in time (%.1f s)" % took, r)
    with open(pidfile) as f:
        pid = int(f.read())
    time.sleep(0.2)
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().split()[2]
        if st != "Z":
            fail("the MDA's child %d survived the kill" % pid)
    except FileNotFoundError:
        pass


def test_target_mda_shell_and_args(ctx):
    """"sh -c" runs a script with the recipient as $1..$3; a plain argv
    never goes through a shell (a ';' stays an argument)."""
    out = os.path.join(ctx.tmp, "shout")
    os.makedirs(out)
    msgs = corpus.subset(1, seed=23, max_size=SMALL)
    a = _account(ctx, "mds", msgs,
                 "mda:sh -c 'cat > %s/\"$3\"'" % out, "s@mda.test")
    assert_ok(a.fetch())
    with open(os.path.join(out, "s@mda.test"), "rb") as f:
        assert strip_received(f.read()) == corpus.expected(msgs[0])
    st = os.stat(os.path.join(out, "s@mda.test"))
    assert stat.S_ISREG(st.st_mode)

    argf = os.path.join(ctx.tmp, "args")
    script = _mda(ctx, "args.sh", "#!/bin/sh\ncat >/dev/null\n"
                  "printf '%%s|' \"$@\" > %s\n" % argf)
    b = _account(ctx, "mda", corpus.subset(1, seed=29, max_size=SMALL),
                 "mda:%s \"a b\" ';' %%u %%d" % script, "u@mda.test")
    assert_ok(b.fetch())
    with open(argf) as f:
        assert f.read() == "a b|;|u|mda.test|", "argv split wrong"
