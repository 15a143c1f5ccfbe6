"""Assertions and set-up shared by the test files."""
import collections
import os
import re

from . import corpus
from .mailpull import maildir_files, read_maildir, strip_received


def fail(msg, r=None):
    raise AssertionError(msg + ("\n%r" % r if r is not None else ""))


def assert_ok(r, what="fetch"):
    if r.timed_out or r.code != 0:
        fail("%s: expected exit 0, got %s" % (what, r.code), r)


def assert_failed(r, acct, cls, words=(), code=1):
    """exit code `code`, and a stderr line
    'mailpull: ACCT: CLASS error: MESSAGE' containing every word of words
    (case-insensitive)."""
    if r.timed_out:
        fail("timed out (expected exit %d, %s error)" % (code, cls), r)
    if r.code != code:
        fail("expected exit %d (%s error), got %s" % (code, cls, r.code), r)
    pat = re.compile(r"^mailpull: %s: %s error: (.*)$" % (
        re.escape(acct), re.escape(cls)), re.M)
    m = pat.search(r.stderr)
    if not m:
        fail("stderr has no line 'mailpull: %s: %s error: ...'" % (acct, cls),
             r)
    low = r.stderr.lower()
    for w in words:
        if w.lower() not in low:
            fail("stderr does not mention %r" % w, r)
    return m.group(1)


def local_part(acct):
    return acct.split("@", 1)[0]


class Account:
    """A Dovecot user + a mailpull account delivering to
    tmp/mail/%u/Maildir."""

    def __init__(self, ctx, mp=None, prefix="u", password=None, dv=None):
        self.ctx = ctx
        self.dv = dv or ctx.dovecot
        self.mp = mp or ctx.mailpull()
        self.user = ctx.user(prefix)
        self.id = "%s@example.org" % self.user
        self.password = password if password is not None else \
            "pw-%s-Zx9!" % self.user
        self.dv.add_user(self.user, self.password)
        self.root = os.path.join(ctx.tmp, "mail")
        self.target = "maildir:%s/%%u/Maildir" % self.root
        self.maildir = os.path.join(self.root, local_part(self.id),
                                    "Maildir")

    def add(self, security="none", extra=(), password_via="env", port=None,
            check=True, protocol="pop3", **kw):
        if port is None:
            if protocol == "imap":
                port = {"none": self.dv.imap, "starttls": self.dv.imap,
                        "tls": self.dv.imaps}[security]
            else:
                port = {"none": self.dv.pop3, "starttls": self.dv.pop3,
                        "tls": self.dv.pop3s}[security]
        kw.setdefault("ca_file", self.dv.ca_file if security != "none"
                      else None)
        return self.mp.add_account(
            self.id, port=port, protocol=protocol, security=security,
            user=self.user,
            password=self.password, password_via=password_via,
            target=self.target, extra=list(extra), check=check, **kw)

    def deliver(self, msgs):
        self.dv.deliver_all(self.user, msgs)

    def fetch(self, **kw):
        return self.mp.fetch(self.id, **kw)

    def server_count(self):
        return self.dv.count(self.user)

    def delivered(self):
        return read_maildir(self.maildir)

    def delivered_names(self):
        return maildir_files(self.maildir)


def check_delivered(files, expected_msgs, acct=None, allow_dups=0):
    """files: [(name, bytes)] from a Maildir; expected_msgs: the bytes
    that must be there (after mailpull's Received: header is stripped),
    each exactly once (or with at most allow_dups extra copies in total).
    Returns the number of duplicates."""
    want = collections.Counter(expected_msgs)
    got = collections.Counter()
    for name, data in files:
        hdr_end = len(data) - len(strip_received(data))
        hdr = data[:hdr_end].decode("utf-8", "replace")
        if "mailpull" not in hdr.lower():
            fail("trace header does not name mailpull: %r" % hdr)
        if acct and acct not in hdr:
            fail("trace header does not name the account %s: %r" % (
                acct, hdr))
        got[data[hdr_end:]] += 1
    missing = want - got
    if missing:
        ids = [corpus.message_id(m) or repr(m[:80]) for m in missing]
        extra = [corpus.message_id(m) or repr(m[:80])
                 for m in (got - want)]
        fail("%d of %d messages missing or different: %s\n"
             "unexpected delivered: %s" % (
                 sum(missing.values()), len(expected_msgs), ids[:10],
                 extra[:10]))
    unknown = [m for m in got if m not in want]
    if unknown:
        fail("delivered messages that were never sent: %s" % [
            corpus.message_id(m) or repr(m[:80]) for m in unknown][:10])
    dups = sum(got.values()) - sum(want.values())
    if dups > allow_dups:
        fail("%d duplicate deliveries: %s" % (dups, [
            corpus.message_id(m) for m, n in got.items() if n > want[m]]))
    return dups


def journal(mp, acct):
    """[(folder, uidvalidity, uid, state)] from the store."""
    return mp.db_query(
        "SELECT folder, uidvalidity, uid, state FROM messages "
        "WHERE account = ? ORDER BY uid", (acct,))
