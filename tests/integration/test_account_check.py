"""`mailpull account check` (do an account's local recipients still exist at
its target?), its warning in `account show|list|list --json`, an LMTP retry
that reaches only the recipient still missing, and `reroute-unknown`.

Targets: the private Dovecot LMTP of lib/targets_fixture.py, Maildirs, and
for the retry a tiny scripted LMTP server (below): no real server refuses
one recipient temporarily on demand and then takes it."""
import json
import os
import socket
import threading
import time

from lib import corpus
from lib.checks import Account, assert_ok, fail
from lib.targets_fixture import LmtpDovecot

SMALL = 64 * 1024
DOM = "lmtp.test"


def _lmtp(ctx):
    lm = LmtpDovecot(os.path.dirname(ctx.tmp)).start()
    ctx.cleanup(lm.stop)
    return lm


def _account(ctx, prefix, target, extra, msgs=(), mp=None):
    a = Account(ctx, mp=mp, prefix=prefix)
    if msgs:
        a.deliver(msgs)
    a.target = target
    a.add(security="none", extra=list(extra))
    return a


def _json_list(mp):
    r = mp.run(["account", "list", "--json"])
    assert_ok(r, "account list --json")
    return {x["id"]: x for x in json.loads(r.stdout)}


def test_account_check_lmtp_gone(ctx):
    """LMTP: a known and an unknown user -> the unknown one is gone (exit
    1), for --deliver-to, a group and a catch-all's postmaster and rule
    destinations; nothing is delivered; show, list and list --json warn;
    once the user exists the check passes and the warning goes."""
    lm = _lmtp(ctx)
    lm.add_user("alice")
    lm.add_user("pm")
    mp = ctx.mailpull()
    tgt = "lmtp:127.0.0.1:%d" % lm.port
    a = _account(ctx, "chk", tgt,
                 ["--deliver-to", "alice@%s,ghost@%s" % (DOM, DOM)], mp=mp)
    assert_ok(mp.run(["group", "add", "team", "alice@" + DOM,
                      "ghost2@" + DOM]), "group add")
    g = _account(ctx, "chg", tgt, ["--deliver-to", "@team"], mp=mp)
    m = _account(ctx, "chm", tgt, [
        "--multidrop", "--domains", DOM, "--postmaster", "pm@" + DOM,
        "--rule", "sales@%s > ghost3@%s" % (DOM, DOM),
        "--rule", "*@%s > *@%s" % (DOM, DOM)], mp=mp)
    ok = _account(ctx, "cho", tgt, ["--deliver-to", "alice@" + DOM], mp=mp)

    r = mp.run(["account", "check", a.id])
    if r.code != 1:
        fail("account check with a gone recipient: exit %s" % r.code, r)
    out = r.stdout
    if "ghost@%s: GONE" % DOM not in out or \
            "alice@%s: ok" % DOM not in out:
        fail("check report does not say ghost gone, alice ok", r)
    if "550" not in out and "5.1.1" not in out:
        fail("the target's refusal is not in the report", r)
    if lm.messages("alice"):
        fail("a probe delivered a message")
    row = mp.db_query("SELECT gone, unknown, checked_at FROM "
                      "account_checks WHERE account = ?", (a.id,))
    if not row or row[0][0] != "ghost@" + DOM or row[0][2] <= 0:
        fail("store row %r" % (row,))

    r = mp.run(["account", "check", g.id])
    if r.code != 1 or "ghost2@%s: GONE" % DOM not in r.stdout:
        fail("group member not reported gone", r)
    r = mp.run(["account", "check", m.id])
    if r.code != 1 or "ghost3@%s: GONE" % DOM not in r.stdout or \
            "pm@%s: ok" % DOM not in r.stdout:
        fail("catch-all: rule destination / postmaster not checked", r)
    r = mp.run(["account", "check", ok.id])
    assert_ok(r, "account check of a healthy account")

    # all accounts at once: exit 1 because some are gone
    r = mp.run(["account", "check"])
    if r.code != 1 or ok.id not in r.stdout:
        fail("account check without ID", r)

    sh = mp.run(["account", "show", a.id]).stdout
    if "WARNING" not in sh or "ghost@" + DOM not in sh:
        fail("account show has no warning:\n%s" % sh)
    if "WARNING" in mp.run(["account", "show", ok.id]).stdout:
        fail("a healthy account shows a warning")
    ls = mp.run(["account", "list"]).stdout
    warn = [x for x in ls.splitlines() if x.startswith("warning: ")]
    if not any(a.id in x and "ghost@" + DOM in x for x in warn) or \
            any(ok.id in x for x in warn):
        fail("account list warnings: %r" % warn)
    js = _json_list(mp)
    if "ghost@" + DOM not in (js[a.id].get("recipient_warning") or ""):
        fail("list --json recipient_warning: %r" % js[a.id])
    if js[ok.id].get("recipient_warning") is not None:
        fail("healthy account has a recipient_warning")

    # the user comes back: the check passes and the warning goes
    # (passwd-file is re-read when its mtime changes: a second apart)
    time.sleep(1.1)
    lm.add_user("ghost")
    for _ in range(20):
        r = mp.run(["account", "check", a.id])
        if r.code == 0:
            break
        time.sleep(0.5)
    assert_ok(r, "account check after the user was added")
    if "WARNING" in mp.run(["account", "show", a.id]).stdout or \
            _json_list(mp)[a.id]["recipient_warning"] is not None:
        fail("warning stays after a clean check")


def test_account_check_maildir_missing(ctx):
    """Maildir target: an existing Maildir is ok, a missing one is gone;
    the check creates nothing."""
    mp = ctx.mailpull()
    root = os.path.join(ctx.tmp, "md")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, "anna", "Maildir", sub))
    os.makedirs(os.path.join(root, "half", "Maildir", "new"))
    a = _account(ctx, "chd", "maildir:%s/%%u/Maildir" % root,
                 ["--deliver-to", "anna@m.test,bert@m.test,half@m.test"],
                 mp=mp)
    r = mp.run(["account", "check", a.id])
    if r.code != 1:
        fail("missing Maildir: exit %s" % r.code, r)
    if "anna@m.test: ok" not in r.stdout or \
            "bert@m.test: GONE" not in r.stdout or \
            "half@m.test: GONE" not in r.stdout:
        fail("maildir report", r)
    if os.path.exists(os.path.join(root, "bert")):
        fail("the check created a directory")
    if "WARNING" not in mp.run(["account", "show", a.id]).stdout:
        fail("no warning in show")


class ScriptedLmtp:
    """A minimal LMTP server (RFC 2033) on a loopback port: one reply per
    accepted RCPT after the data. tempfail: recipients answered 452 after
    the data, each only the first time. Records each transaction's
    recipients and stores (rcpt -> [message bytes])."""

    def __init__(self, tempfail=()):
        self.tempfail = set(tempfail)
        self.failed = set()
        self.transactions = []
        self.store = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(c,),
                             daemon=True).start()

    def _session(self, c):
        f = c.makefile("rb")

        def send(line):
            c.sendall(line.encode() + b"\r\n")
        try:
            send("220 scripted LMTP")
            rcpts = []
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode("ascii", "replace").strip()
                up = cmd.upper()
                if up.startswith("LHLO"):
                    send("250-scripted")
                    send("250 PIPELINING")
                elif up.startswith("MAIL FROM:"):
                    rcpts = []
                    send("250 2.1.0 ok")
                elif up.startswith("RCPT TO:"):
                    rcpts.append(cmd[8:].strip().strip("<>").lower())
                    send("250 2.1.5 ok")
                elif up == "DATA":
                    send("354 go ahead")
                    data = b""
                    while True:
                        ln = f.readline()
                        if not ln or ln == b".\r\n":
                            break
                        if ln.startswith(b".."):
                            ln = ln[1:]
                        data += ln
                    with self.lock:
                        self.transactions.append(list(rcpts))
                        for r in rcpts:
                            if r in self.tempfail and r not in self.failed:
                                self.failed.add(r)
                                send("452 4.2.2 mailbox busy, try later")
                            else:
                                self.store.setdefault(r, []).append(data)
                                send("250 2.0.0 <%s> delivered" % r)
                elif up == "RSET":
                    rcpts = []
                    send("250 2.0.0 ok")
                elif up == "QUIT":
                    send("221 bye")
                    return
                else:
                    send("500 5.5.1 unknown command")
        except OSError:
            pass
        finally:
            c.close()


def test_lmtp_retry_reaches_only_missing(ctx):
    """Two LMTP recipients, one refused temporarily (452 after the data)
    the first time: the message stays on the server; the next pass sends
    it to the missing recipient only; each mailbox has exactly one copy."""
    srv = ScriptedLmtp(tempfail=["bob@" + DOM])
    ctx.cleanup(srv.close)
    msgs = corpus.subset(1, seed=11, max_size=SMALL)
    a = _account(ctx, "chr", "lmtp:127.0.0.1:%d" % srv.port,
                 ["--deliver-to", "al@%s,bob@%s" % (DOM, DOM)], msgs=msgs)
    r = a.fetch()
    if r.code != 1:
        fail("a temporary refusal should make fetch exit 1", r)
    if a.server_count() != 1:
        fail("message deleted though bob did not get it", r)
    r = a.fetch()
    assert_ok(r, "second pass")
    if a.server_count() != 0:
        fail("message still on the server after every recipient got it")
    if srv.transactions[-1] != ["bob@" + DOM]:
        fail("second transaction went to %r, not only the missing "
             "recipient (all: %r)" % (srv.transactions[-1],
                                     srv.transactions))
    for u in ("al@" + DOM, "bob@" + DOM):
        if len(srv.store.get(u, [])) != 1:
            fail("%s has %d copies" % (u, len(srv.store.get(u, []))))
    # a third pass changes nothing
    assert_ok(a.fetch(), "third pass")
    if sum(len(v) for v in srv.store.values()) != 2:
        fail("extra copies after a third pass")


def _pm_copies(lm):
    return [m for m in lm.messages("pm") if b"X-Mailpull-Original-To:" in m]


def test_reroute_unknown_yes_no(ctx):
    """reroute-unknown: yes (default) sends a refused recipient's copy to
    the postmaster and deletes the remote copy; no parks the message after
    recording the delivered recipient (no postmaster copy, kept on the
    server, `message list` shows it, the next pass does not deliver it
    again); a per-account --reroute-unknown overrides the setting."""
    lm = _lmtp(ctx)
    lm.add_user("kim")
    lm.add_user("pm")
    mp = ctx.mailpull()
    tgt = "lmtp:127.0.0.1:%d" % lm.port
    rcpts = ["--deliver-to", "kim@%s,nobody@%s" % (DOM, DOM),
             "--postmaster", "pm@" + DOM]

    # default: yes
    y = _account(ctx, "rry", tgt, rcpts,
                 msgs=corpus.subset(1, seed=21, max_size=SMALL), mp=mp)
    assert_ok(y.fetch(), "fetch with reroute (default)")
    if y.server_count() != 0 or len(_pm_copies(lm)) != 1 or \
            len(lm.messages("kim")) != 1:
        fail("default: expected kim + postmaster copies, remote deleted")
    if b"X-Mailpull-Original-To: nobody@" + DOM.encode() not in \
            _pm_copies(lm)[0]:
        fail("postmaster copy does not name the refused recipient")

    # global no
    assert_ok(mp.run(["config", "set", "reroute-unknown", "no"]),
              "config set reroute-unknown no")
    r = mp.run(["config", "set", "reroute-unknown", "maybe"])
    if r.code == 0:
        fail("reroute-unknown accepted 'maybe'", r)
    n = _account(ctx, "rrn", tgt, rcpts,
                 msgs=corpus.subset(1, seed=22, max_size=SMALL), mp=mp)
    r = n.fetch()
    if r.code != 1 or n.server_count() != 1:
        fail("reroute-unknown no: message should be parked and kept", r)
    if len(_pm_copies(lm)) != 1:
        fail("reroute-unknown no: the postmaster got a copy")
    if len(lm.messages("kim")) != 2:
        fail("the accepted recipient did not get its copy")
    rows = mp.db_query("SELECT rcpt FROM deliveries WHERE account = ?",
                       (n.id,))
    if [x[0] for x in rows] != ["kim@" + DOM]:
        fail("delivered recipient not recorded: %r" % rows)
    ml = mp.run(["message", "list", n.id])
    if "nobody@" + DOM not in ml.stdout:
        fail("message list does not show the parked message", ml)
    n.fetch()
    if len(lm.messages("kim")) != 2:
        fail("a parked message was delivered again")

    # every recipient refused, no: parked, no postmaster copy
    z = _account(ctx, "rrz", tgt, ["--deliver-to", "nobody2@" + DOM,
                                   "--postmaster", "pm@" + DOM],
                 msgs=corpus.subset(1, seed=23, max_size=SMALL), mp=mp)
    r = z.fetch()
    if r.code != 1 or z.server_count() != 1 or len(_pm_copies(lm)) != 1:
        fail("all refused with no: expected parked, no postmaster copy", r)

    # per-account yes over the global no
    o = _account(ctx, "rro", tgt, rcpts + ["--reroute-unknown", "yes"],
                 msgs=corpus.subset(1, seed=24, max_size=SMALL), mp=mp)
    if "reroute-unknown: yes" not in mp.run(["account", "show",
                                             o.id]).stdout:
        fail("account show does not say reroute-unknown yes")
    if _json_list(mp)[o.id].get("reroute_unknown") != "yes":
        fail("list --json reroute_unknown")
    assert_ok(o.fetch(), "fetch with --reroute-unknown yes")
    if o.server_count() != 0 or len(_pm_copies(lm)) != 2:
        fail("per-account yes did not re-route")
    # and back to the default (the global no)
    assert_ok(mp.run(["account", "edit", o.id, "--reroute-unknown",
                      "default"]), "edit --reroute-unknown default")
    if _json_list(mp)[o.id].get("reroute_unknown") != "default":
        fail("--reroute-unknown default not stored")
    r = mp.run(["account", "edit", o.id, "--reroute-unknown", "sometimes"])
    if r.code != 2:
        fail("bad --reroute-unknown value accepted", r)
