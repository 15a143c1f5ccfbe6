"""Spam and virus checks (issue 9) with the real scanners: clamd with a
tiny custom signature database and rspamd with a minimal private config
(lib/filters_fixture.py), POP3 from the shared Dovecot, Maildir target."""
import base64
import os
import re

from lib.checks import Account, assert_ok, fail
from lib.filters_fixture import EICAR, GTUBE, clamd, rspamd
from lib.mailpull import maildir_files, read_maildir

PROVIDER = "mx.provider.test"


def _msg(n, body=b"hello there\n", extra=b""):
    p = PROVIDER.encode()
    return (b"Return-Path: <sender%d@example.com>\n" % n +
            b"Received: from sender.example.com (sender.example.com "
            b"[198.51.100.7])\n\tby " + p +
            b" (Postfix) with ESMTPS id A%d\n\tfor <x@example.org>; " % n +
            b"Mon, 23 Nov 2026 10:00:00 +0000\n"
            # forged by the sender, below the provider's field
            b"Received: from evil.example (evil.example [203.0.113.66])\n"
            b"\tby " + p + b" with SMTP id F%d\n" % n +
            b"From: Sender <sender%d@example.com>\n" % n +
            b"To: x@example.org\nSubject: message %d\n" % n +
            b"Message-ID: <filter-%d@example.com>\n" % n +
            b"Date: Mon, 23 Nov 2026 10:00:00 +0000\n" + extra + b"\n" +
            body)


def _virus_msg(n):
    att = base64.b64encode(EICAR)
    return _msg(n, extra=b"MIME-Version: 1.0\nContent-Type: multipart/mixed;"
                b" boundary=XX\n", body=b"--XX\nContent-Type: text/plain\n\n"
                b"see attached\n--XX\nContent-Type: application/octet-stream\n"
                b"Content-Transfer-Encoding: base64\nContent-Disposition: "
                b"attachment; filename=e.com\n\n" + att + b"\n--XX--\n")


def _setup(ctx, prefix, msgs, opts, mp=None):
    a = Account(ctx, mp=mp, prefix=prefix)
    a.deliver(msgs)
    a.add(security="none", extra=opts)
    return a


def _scanners(mp, clam=True, spam=True):
    if clam:
        assert_ok(mp.run(["config", "set", "clamd",
                          "unix:%s" % clamd().socket]), "config clamd")
    if spam:
        assert_ok(mp.run(["config", "set", "rspamd",
                          "127.0.0.1:%d" % rspamd().port]), "config rspamd")


def _hdr(data):
    return data.split(b"\n\n", 1)[0]


def test_filter_clean_and_gtube_to_junk(ctx):
    """A clean message is delivered with the verdict headers and was
    scanned with the client IP of the provider's own Received: field (the
    forged lower one ignored); GTUBE lands in the Junk folder."""
    mp = ctx.mailpull()
    _scanners(mp)
    a = _setup(ctx, "fj", [_msg(1), _msg(2, body=GTUBE + b"\n")],
               ["--spam-check", "--virus-check", "--provider-host",
                PROVIDER], mp=mp)
    r = a.fetch()
    assert_ok(r)
    inbox = read_maildir(a.maildir)
    junk = read_maildir(os.path.join(a.maildir, ".Junk"))
    if len(inbox) != 1 or len(junk) != 1:
        fail("inbox %d, Junk %d (expected 1 and 1)" % (len(inbox),
                                                        len(junk)), r)
    h = _hdr(inbox[0][1])
    for want in (b"X-Spam-Status: No, score=", b"X-Virus-Scanned: clamd",
                 b"X-Mailpull-Scan: rspamd; client 198.51.100.7 helo "
                 b"sender.example.com", b"X-Spamd-Result:",
                 b"Subject: message 1"):
        if want not in h:
            fail("clean message lacks %r:\n%s" % (want, h.decode()))
    if b"X-Spam: Yes" in h:
        fail("clean message tagged as spam")
    jh = _hdr(junk[0][1])
    if b"X-Spam: Yes" not in jh or b"X-Spam-Status: Yes" not in jh or \
            b"GTUBE" not in jh:
        fail("GTUBE copy lacks the spam headers:\n%s" % jh.decode())
    if not os.path.exists(os.path.join(a.maildir, ".Junk",
                                       "maildirfolder")):
        fail("Junk has no maildirfolder marker")
    if a.server_count() != 0:
        fail("messages left on the server")
    # rspamd saw the provider's client, never the forged one
    log = rspamd().log()
    lines = [ln for ln in log.splitlines()
             if "rspamd_task_write_log" in ln and "filter-1@example.com"
             in ln]
    if not lines or "198.51.100.7" not in lines[-1] or \
            "203.0.113.66" in lines[-1]:
        fail("rspamd's log line for message 1: %r" % lines[-1:])
    if "sender1@example.com" not in lines[-1]:
        fail("rspamd did not get the Return-Path as From: %r" % lines[-1])
    runlog = mp.run(["log", a.id]).stdout
    if "1 spam" not in runlog or "2 scanned" not in runlog:
        fail("run log has no filter counts:\n%s" % runlog[-2000:])


def test_filter_no_trusted_received(ctx):
    """Without a Received: field by the provider host, rspamd gets no IP
    and the headers say so."""
    mp = ctx.mailpull()
    _scanners(mp, clam=False)
    a = _setup(ctx, "fn", [_msg(3)], ["--spam-check", "--provider-host",
                                      "in.other.test"], mp=mp)
    assert_ok(a.fetch())
    got = read_maildir(a.maildir)
    if len(got) != 1 or b"no trusted Received header by in.other.test; " \
            b"IP unknown" not in _hdr(got[0][1]):
        fail("expected the 'no trusted Received header' line: %r" % got)


def _quarantine_ids(mp):
    r = mp.run(["quarantine", "list"])
    assert_ok(r, "quarantine list")
    return [int(m.group(1)) for m in re.finditer(r"^(\d+) ", r.stdout,
                                                  re.M)], r.stdout


def test_filter_virus_quarantine_release(ctx):
    """EICAR: not in the user's Maildir, in the quarantine (durable before
    the DELE), the postmaster notified, the remote copy deleted; list,
    show, release to the original recipient, then the quarantine is
    empty. A clean message of the same pass is delivered."""
    mp = ctx.mailpull()
    _scanners(mp, spam=False)
    pm_dir = os.path.join(ctx.tmp, "mail", "pm", "Maildir")
    a = _setup(ctx, "fv", [_virus_msg(4), _msg(5)],
               ["--virus-check", "--postmaster", "pm@example.org"], mp=mp)
    r = a.fetch()
    assert_ok(r)
    got = read_maildir(a.maildir)
    if len(got) != 1 or b"message 5" not in got[0][1]:
        fail("user Maildir: %r" % [g[0] for g in got], r)
    if a.server_count() != 0:
        fail("delete mode: the server still has %d" % a.server_count())
    ids, out = _quarantine_ids(mp)
    if len(ids) != 1 or "virus" not in out or "Mailpull-Test-EICAR" not \
            in out:
        fail("quarantine list: %s" % out)
    qfiles = maildir_files(os.path.join(mp.state, "quarantine", a.id))
    if len(qfiles) != 1:
        fail("quarantine Maildir has %d files" % len(qfiles))
    notice = read_maildir(pm_dir)
    if len(notice) != 1 or b"virus quarantined" not in notice[0][1] or \
            b"quarantine release %d" % ids[0] not in notice[0][1]:
        fail("postmaster notice: %r" % notice)
    r = mp.run(["quarantine", "show", str(ids[0])])
    assert_ok(r, "quarantine show")
    if "Subject: message 4" not in r.stdout or a.id not in r.stdout:
        fail("quarantine show: %s" % r.stdout[:2000])
    r = mp.run(["quarantine", "release", str(ids[0])])
    assert_ok(r, "quarantine release")
    got = read_maildir(a.maildir)
    rel = [d for _, d in got if b"message 4" in d]
    if len(rel) != 1 or b"X-Mailpull-Released: from the quarantine " \
            b"(virus: " not in rel[0]:
        fail("released message not in the user's Maildir: %r" %
             [g[0] for g in got])
    ids, out = _quarantine_ids(mp)
    if ids or maildir_files(os.path.join(mp.state, "quarantine", a.id)):
        fail("quarantine not empty after release: %s" % out)


def test_filter_virus_keep_and_quarantine_unwritable(ctx):
    """Keep mode: the infected message stays on the server and is
    quarantined once (not again on the next pass). When the quarantine
    cannot be written, nothing is deleted and fetch fails."""
    mp = ctx.mailpull()
    _scanners(mp, spam=False)
    a = _setup(ctx, "fk", [_virus_msg(6)], ["--virus-check", "--keep"],
               mp=mp)
    assert_ok(a.fetch())
    assert_ok(a.fetch())
    ids, out = _quarantine_ids(mp)
    if len(ids) != 1 or a.server_count() != 1:
        fail("keep: %d quarantined, %d on the server" % (
            len(ids), a.server_count()))
    r = mp.run(["quarantine", "delete", str(ids[0])])
    assert_ok(r, "quarantine delete")
    if _quarantine_ids(mp)[0]:
        fail("delete left the row")
    # a file where the quarantine directory should be
    mp2 = ctx.mailpull()
    _scanners(mp2, spam=False)
    os.makedirs(mp2.state, exist_ok=True)
    b = _setup(ctx, "fu", [_virus_msg(7)], ["--virus-check"], mp=mp2)
    open(os.path.join(mp2.state, "quarantine"), "w").close()
    r = b.fetch()
    if r.code != 1 or b.server_count() != 1:
        fail("unwritable quarantine: exit %s, %d on the server" % (
            r.code, b.server_count()), r)


def test_filter_spam_tag_and_quarantine(ctx):
    """--spam-action tag delivers GTUBE to the inbox with the headers;
    --spam-action quarantine keeps it out."""
    mp = ctx.mailpull()
    _scanners(mp, clam=False)
    t = _setup(ctx, "ft", [_msg(8, body=GTUBE + b"\n")],
               ["--spam-check", "--spam-action", "tag"], mp=mp)
    q = _setup(ctx, "fq", [_msg(9, body=GTUBE + b"\n")],
               ["--spam-check", "--spam-action", "quarantine"], mp=mp)
    assert_ok(mp.fetch(t.id, q.id))
    got = read_maildir(t.maildir)
    if len(got) != 1 or b"X-Spam: Yes" not in _hdr(got[0][1]):
        fail("tag: %r" % got)
    if os.path.isdir(os.path.join(t.maildir, ".Junk")):
        fail("tag made a Junk folder")
    if read_maildir(q.maildir):
        fail("quarantine: spam delivered")
    ids, out = _quarantine_ids(mp)
    if len(ids) != 1 or "spam" not in out:
        fail("quarantine list: %s" % out)
    if t.server_count() != 0 or q.server_count() != 0:
        fail("left on the server")


def test_filter_scanner_down(ctx):
    """A scanner that is down: hold keeps the message on the server (exit
    1) and delivers it once the scanner is back; pass delivers at once
    with a 'not scanned' header."""
    mp = ctx.mailpull()
    _scanners(mp, spam=False)
    dead = os.path.join(ctx.tmp, "no-such.sock")
    assert_ok(mp.run(["config", "set", "clamd", "unix:%s" % dead]))
    assert_ok(mp.run(["config", "set", "rspamd",
                      "127.0.0.1:%d" % _closed_port()]))
    h = _setup(ctx, "fh", [_msg(10)], ["--virus-check"], mp=mp)
    p = _setup(ctx, "fp", [_msg(11)], ["--spam-check", "--scanner-down",
                                       "pass"], mp=mp)
    r = h.fetch()
    if r.code != 1 or h.server_count() != 1 or read_maildir(h.maildir):
        fail("hold: exit %s, %d on the server" % (r.code,
                                                  h.server_count()), r)
    if "scanner unavailable" not in r.stdout + r.stderr:
        fail("hold: no reason given", r)
    assert_ok(p.fetch())
    got = read_maildir(p.maildir)
    if len(got) != 1 or b"X-Mailpull-Scan: not scanned for spam" not in \
            _hdr(got[0][1]):
        fail("pass: %r" % got)
    # the scanner is back
    _scanners(mp, spam=False)
    assert_ok(h.fetch())
    if len(read_maildir(h.maildir)) != 1 or h.server_count() != 0:
        fail("hold: not delivered after the scanner came back")


def _closed_port():
    from lib import util
    return util.free_port()
