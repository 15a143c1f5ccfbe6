"""Routing: groups (the group command), the account routing options, and
catch-all (multidrop) POP3 mailboxes on the private Dovecot split into
per-recipient Maildirs (maildir:DIR/%d/%u/Maildir): envelope headers in the
forms providers write, the To/Cc fallback, accepted domains, rules with
wildcards, groups, drop, postmaster fallback, exactly once per recipient."""
import json
import os

from lib.checks import Account, assert_ok, fail
from lib.mailpull import read_maildir, strip_received


def _msg(n, headers, body="routing test body\n"):
    """A small message with Message-ID <rt-N@test.example>."""
    h = "".join("%s\n" % x for x in headers)
    return ("Return-Path: <sender@outside.example>\n%s"
            "From: Sender <sender@outside.example>\n"
            "Subject: routing %s\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
            "Message-ID: <rt-%s@test.example>\n"
            "\n%s" % (h, n, n, body)).encode("utf-8")


def _ids(maildir):
    """Message-IDs (the N of rt-N) delivered to a Maildir, with repeats."""
    out = []
    for _, data in read_maildir(maildir):
        body = strip_received(data)
        for line in body.split(b"\n"):
            if line.lower().startswith(b"message-id:"):
                out.append(line.split(b"<rt-", 1)[1].split(b"@", 1)[0]
                           .decode())
                break
    return sorted(out)


def _all_maildirs(root):
    """{'domain/local': [ids]} for every Maildir under root/%d/%u/Maildir."""
    got = {}
    if not os.path.isdir(root):
        return got
    for dom in sorted(os.listdir(root)):
        for loc in sorted(os.listdir(os.path.join(root, dom))):
            md = os.path.join(root, dom, loc, "Maildir")
            if os.path.isdir(md):
                ids = _ids(md)
                if ids:
                    got["%s/%s" % (dom, loc)] = ids
    return got


def _catchall(ctx, prefix, extra, msgs, postmaster="postmaster", pre=()):
    """A Dovecot user holding msgs, and a multidrop account for it whose
    target files each recipient into ROOT/%d/%u/Maildir."""
    a = Account(ctx, prefix=prefix)
    a.root = os.path.join(ctx.tmp, "split")
    a.target = "maildir:%s/%%d/%%u/Maildir" % a.root
    a.deliver(msgs)
    mp = a.mp
    assert_ok(mp.run(["config", "set", "local-domain", "local.example"]),
              "config set local-domain")
    if postmaster:
        assert_ok(mp.run(["config", "set", "postmaster", postmaster]),
                  "config set postmaster")
    for cmd in pre:
        assert_ok(mp.run(cmd), " ".join(cmd))
    a.add(security="none", extra=["--multidrop"] + list(extra))
    return a


def test_routing_group_cli(ctx):
    mp = ctx.mailpull()
    r = mp.run(["group", "add", "sales", "alice", "Bob@B.example"])
    assert_ok(r, "group add")
    assert_ok(mp.run(["group", "add", "ops", "carol@c.example"]))
    r = mp.run(["group", "add", "sales", "x"])
    if r.code != 1 or "already exists" not in r.stderr:
        fail("second group add sales", r)
    for bad, why in ((["bad name", "x"], "invalid group name"),
                     (["g1", "not an address"], "invalid local address"),
                     (["g1", "a", "A"], "listed twice"),
                     (["g1", "@sales"], "do not nest"),
                     (["g1"], "usage")):
        r = mp.run(["group", "add"] + bad)
        if r.code != 2 or why not in r.stderr:
            fail("group add %r: expected exit 2 and %r" % (bad, why), r)
    r = mp.run(["group", "list"])
    assert_ok(r, "group list")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ops", "carol@c.example"], lines
    assert lines[1].split() == ["sales", "alice", "Bob@B.example"], lines
    r = mp.run(["group", "list", "--json"])
    assert_ok(r)
    assert json.loads(r.stdout) == [
        {"name": "ops", "members": ["carol@c.example"]},
        {"name": "sales", "members": ["alice", "Bob@B.example"]}], r.stdout
    assert_ok(mp.run(["config", "set", "local-domain", "local.example"]))
    r = mp.run(["group", "show", "sales"])
    assert_ok(r)
    assert "alice@local.example Bob@B.example" in r.stdout, r.stdout
    assert_ok(mp.run(["group", "edit", "sales", "dave"]), "group edit")
    r = mp.run(["group", "show", "sales"])
    assert "dave@local.example" in r.stdout and "alice" not in r.stdout, r
    r = mp.run(["group", "edit", "nosuch", "x"])
    if r.code != 1 or "no such group nosuch" not in r.stderr:
        fail("group edit nosuch", r)

    # a group in use cannot be deleted
    a = Account(ctx, mp=mp, prefix="grpcli")
    a.add(extra=["--deliver-to", "@sales"])
    r = mp.run(["group", "delete", "sales"])
    if r.code != 1 or a.id not in r.stderr:
        fail("deleting a group in use", r)
    r = mp.run(["account", "add", "x@y.example", "--protocol", "pop3",
                "--host", "127.0.0.1", "--user", "x", "--password-env",
                "PW", "--deliver-to", "@nosuch"], env={"PW": "pw"})
    if r.code != 1 or "no such group nosuch" not in r.stderr:
        fail("--deliver-to @nosuch", r)
    assert_ok(mp.run(["account", "edit", a.id, "--deliver-to", "alice"]))
    assert_ok(mp.run(["group", "delete", "sales"]), "group delete")
    r = mp.run(["group", "delete", "sales"])
    if r.code != 1 or "no such group sales" not in r.stderr:
        fail("group delete twice", r)
    r = mp.run(["group", "show", "sales"])
    assert r.code == 1, r


def test_routing_account_options(ctx):
    a = Account(ctx, prefix="rtopt")
    mp = a.mp
    assert_ok(mp.run(["group", "add", "team", "t1", "t2"]))
    a.add(extra=["--multidrop", "--domains", "A.example, *.b.example",
                 "--envelope-header", "X-Rcpt", "--envelope-header",
                 "Delivered-To", "--rule", "sales@a.example > alice",
                 "--rule", "*@*.b.example > @team", "--rule",
                 "* > drop", "--postmaster", "pm@local.example"])
    r = mp.run(["account", "show", a.id])
    assert_ok(r, "account show")
    for want in ("routing:      multidrop",
                 "domains:      a.example, *.b.example",
                 "envelope:     X-Rcpt, Delivered-To",
                 "rules:        1. sales@a.example > alice",
                 "              2. *@*.b.example > @team",
                 "              3. * > drop",
                 "postmaster:   pm@local.example"):
        if want not in r.stdout:
            fail("account show lacks %r" % want, r)
    r = mp.run(["account", "list", "--json"])
    assert_ok(r)
    j = [x for x in json.loads(r.stdout) if x["id"] == a.id][0]
    assert j["multidrop"] is True, j
    assert j["domains"] == ["a.example", "*.b.example"], j
    assert j["envelope_headers"] == ["X-Rcpt", "Delivered-To"], j
    assert j["rules"] == ["sales@a.example > alice",
                          "*@*.b.example > @team", "* > drop"], j
    assert j["postmaster"] == "pm@local.example", j

    # edits: rules replaced as a list, --no-rules, --single
    assert_ok(mp.run(["account", "edit", a.id, "--rule",
                      "x@a.example > y"]))
    j = [x for x in json.loads(mp.run(["account", "list", "--json"]).stdout)
         if x["id"] == a.id][0]
    assert j["rules"] == ["x@a.example > y"], j
    assert j["domains"] == ["a.example", "*.b.example"], j
    assert_ok(mp.run(["account", "edit", a.id, "--no-rules", "--single",
                      "--postmaster", ""]))
    j = [x for x in json.loads(mp.run(["account", "list", "--json"]).stdout)
         if x["id"] == a.id][0]
    assert j["rules"] == [] and j["multidrop"] is False, j
    assert j["postmaster"] is None, j

    # invalid values are usage errors with a reason; nothing changes
    for opt, why in ((["--rule", "sales > alice"], "pattern 'sales'"),
                     (["--rule", "a@a.example alice"], "PATTERN > DEST"),
                     (["--rule", "a@a.example > ../x"], "destination"),
                     (["--domains", "bad domain"], "invalid domain"),
                     (["--envelope-header", "Bad:Name"],
                      "invalid header name"),
                     (["--postmaster", "a b"], "invalid local address")):
        r = mp.run(["account", "edit", a.id] + opt)
        if r.code != 2 or why not in r.stderr:
            fail("account edit %r: expected exit 2 mentioning %r"
                 % (opt, why), r)
    r = mp.run(["account", "edit", a.id, "--multidrop", "--domains", ""])
    if r.code != 1 or "--domains" not in r.stderr:
        fail("multidrop without accepted domains", r)
    # deleting the account deletes its routing
    assert_ok(mp.run(["account", "delete", a.id]))
    rows = mp.db_query("SELECT COUNT(*) FROM account_routing "
                       "WHERE account = ?", (a.id,))
    assert rows == [(0,)], rows


# The catch-all mailbox: (message, where it must land).
def _catchall_corpus(box):
    return [
        # provider's own Delivered-To beside the real X-Original-To
        (_msg(1, ["Delivered-To: %s" % box,
                  "X-Original-To: Bob@A.example",
                  "To: Bob <bob@a.example>"]), ["a.example/bob"]),
        # Exim's Envelope-to with two recipients, folded
        (_msg(2, ["Envelope-to: carol@b.example,", "\tdave@b.example",
                  "To: team-list@b.example"]),
         ["b.example/carol", "b.example/dave"]),
        # no envelope header in the accepted domains: To/Cc fallback;
        # sales and info both end at alice: one copy
        (_msg(3, ["Delivered-To: %s" % box,
                  "To: \"Sales\" <sales@a.example>",
                  "Cc: info@a.example, someone@outside.example"]),
         ["local.example/alice"]),
        # encoded words, a group, a comment, Bcc
        (_msg(4, ["To: =?UTF-8?Q?Eve_M=C3=BCller?= <eve@a.example>, "
                  "undisclosed-recipients:;",
                  "Bcc: frank@a.example (Frank)"]),
         ["a.example/eve", "a.example/frank"]),
        # a rule to a group
        (_msg(5, ["X-Envelope-To: <team@b.example>"]),
         ["local.example/t1", "local.example/t2"]),
        # nobody in the accepted domains: the postmaster
        (_msg(6, ["Delivered-To: %s" % box,
                  "To: list@lists.example"]), ["local.example/postmaster"]),
        # explicit drop
        (_msg(7, ["Delivered-To: spam@b.example"]), []),
        # subdomains only when listed: x.a.example is not accepted,
        # y.c.example is (*.c.example) and the rule keeps the local part
        (_msg(8, ["Delivered-To: zed@x.a.example",
                  "X-Original-To: yves@y.c.example"]),
         ["local.example/yves"]),
        # the same recipient in several headers: once
        (_msg(9, ["Delivered-To: bob@a.example",
                  "X-Original-To: BOB@a.example",
                  "Envelope-To: bob@A.EXAMPLE"]), ["a.example/bob"]),
    ]


def test_routing_multidrop_catchall(ctx):
    corpus_ = _catchall_corpus("box@provider.example")
    a2 = _catchall(ctx, "catch", [
        "--domains", "a.example,b.example,*.c.example",
        "--rule", "sales@a.example > alice",
        "--rule", "info@a.example > alice@local.example",
        "--rule", "team@b.example > @team",
        "--rule", "spam@b.example > drop",
        "--rule", "*@*.c.example > *@local.example"],
        [m for m, _ in corpus_], pre=[["group", "add", "team", "t1", "t2"]])
    mp = a2.mp
    want = {}
    for i, (m, dests) in enumerate(corpus_):
        for d in dests:
            want.setdefault(d, []).append(str(i + 1))
    r = a2.fetch()
    assert_ok(r)
    got = _all_maildirs(a2.root)
    if got != {k: sorted(v) for k, v in want.items()}:
        fail("deliveries differ:\n got  %r\n want %r" % (got, want), r)
    if a2.server_count() != 0:
        fail("%d messages left on the server" % a2.server_count(), r)
    # the run log says which headers decided
    r = mp.run(["log", a2.id])
    assert_ok(r, "log")
    for w in ("X-Original-To", "rule"):
        if w not in r.stdout:
            fail("run log does not mention %r" % w, r)
    # a second pass delivers nothing again
    assert_ok(a2.fetch(), "second fetch")
    assert _all_maildirs(a2.root) == got
    # the postmaster's copy names the original recipients (the pass adds
    # X-Mailpull-Original-To for route_result.rerouted copies)
    pm = os.path.join(a2.root, "local.example", "postmaster", "Maildir")
    head = strip_received(read_maildir(pm)[0][1]).split(b"\n\n", 1)[0]
    for orig in (b"box@provider.example", b"list@lists.example"):
        if b"X-Mailpull-Original-To: " + orig not in head:
            fail("postmaster copy without X-Mailpull-Original-To: %s: %r"
                 % (orig.decode(), head))


def test_routing_postmaster_needed(ctx):
    """Mail for nobody accepted and no postmaster anywhere: not delivered,
    not deleted, exit 1 naming the reason."""
    msgs = [_msg(20, ["Delivered-To: box@provider.example",
                      "To: list@lists.example"]),
            _msg(21, ["Delivered-To: bob@a.example"])]
    a = _catchall(ctx, "nopm", ["--domains", "a.example"], msgs,
                  postmaster=None)
    r = a.fetch()
    if r.code != 1 or "postmaster" not in r.stderr.lower():
        fail("expected exit 1 naming the missing postmaster", r)
    # a configuration error may end the pass; whatever was not delivered
    # stays on the server, and nothing reached a wrong mailbox
    got = _all_maildirs(a.root)
    if got not in ({}, {"a.example/bob": ["21"]}):
        fail("deliveries: %r" % got, r)
    if a.server_count() != 2 - len(got):
        fail("%d messages on the server, %d delivered"
             % (a.server_count(), len(got)), r)
    # with a postmaster for this account it goes there on the next pass
    assert_ok(a.mp.run(["account", "edit", a.id, "--postmaster",
                        "admin@local.example"]))
    r = a.fetch()
    assert_ok(r, "fetch with a postmaster")
    got = _all_maildirs(a.root)
    if got != {"a.example/bob": ["21"], "local.example/admin": ["20"]}:
        fail("deliveries after setting a postmaster: %r" % got, r)
    assert a.server_count() == 0


def test_routing_single_group(ctx):
    """--deliver-to @GROUP: one copy per member, bare names at the
    local-domain setting."""
    a = Account(ctx, prefix="sgrp")
    a.root = os.path.join(ctx.tmp, "split")
    a.target = "maildir:%s/%%d/%%u/Maildir" % a.root
    mp = a.mp
    assert_ok(mp.run(["config", "set", "local-domain", "local.example"]))
    assert_ok(mp.run(["group", "add", "staff", "ann", "ben@other.example",
                      "ann@local.example"]))
    a.deliver([_msg(30, ["To: whoever@a.example"]),
               _msg(31, ["To: x@y.example"])])
    a.add(extra=["--deliver-to", "@staff,cid"])
    r = a.fetch()
    assert_ok(r)
    got = _all_maildirs(a.root)
    want = {"local.example/ann": ["30", "31"],
            "other.example/ben": ["30", "31"],
            "local.example/cid": ["30", "31"]}
    if got != want:
        fail("deliveries: %r" % got, r)
    assert a.server_count() == 0
