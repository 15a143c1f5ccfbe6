"""Self-checks of the harness (no mailpull involved): the private Dovecot
serves the corpus the way lib/corpus.expected() says, and the fake POP3
server speaks POP3. If these fail, fix the harness before anything else."""
import imaplib
import ssl

from lib import corpus, pop3client
from lib.fakepop3 import Msg, big_message


def test_harness_dovecot_corpus_roundtrip(ctx):
    dv = ctx.dovecot
    user = ctx.user("harness")
    dv.add_user(user, "pw")
    msgs = corpus.generate(200)
    dv.deliver_all(user, msgs)
    c = pop3client.Client(dv.pop3s, tls=True, ca=dv.ca_file)
    c.login(user, "pw")
    uidls = c.uidl()
    assert len(uidls) == 200 and len(set(uidls)) == 200
    got = {}
    for i in range(1, 201):
        m = c.retr_lf(i)
        got[corpus.message_id(m)] = m
    c.quit()
    for m in msgs:
        assert got[corpus.message_id(m)] == corpus.expected(m), \
            corpus.message_id(m)
    assert dv.count(user) == 200


def test_harness_fakepop3(ctx):
    data = [b"Subject: one\n\n.dot\n..two\n.\nend\n",
            b"Subject: nul\n\nbinary \x00 byte\xff\n",
            b"Subject: nonl\n\nno newline"]
    srv = ctx.fakepop3([Msg("a", data[0]), Msg("b", data[1]),
                        Msg("c", data[2])], user="u", password="p")
    c = pop3client.Client(srv.port)
    c.login("u", "p")
    assert c.uidl() == ["a", "b", "c"]
    assert c.retr_lf(1) == data[0]
    assert c.retr_lf(2) == data[1]
    assert c.retr_lf(3) == data[2] + b"\n"
    c.cmd("DELE 1")
    c.quit()
    assert srv.uidls() == ["b", "c"]
    big, (digest, n) = big_message("big", 3 * 1024 * 1024)
    srv2 = ctx.fakepop3([big], user="u", password="p")
    c = pop3client.Client(srv2.port)
    c.login("u", "p")
    got = c.retr_lf(1)
    c.quit()
    assert len(got) == n and corpus.digest(got) == digest


def test_harness_dovecot_imap_folders_and_uidvalidity(ctx):
    """IMAP side for the IMAP tests: folders, STARTTLS/IMAPS, and a new
    UIDVALIDITY after recreate_mailbox."""
    dv = ctx.dovecot
    user = ctx.user("himap")
    dv.add_user(user, "pw")
    msgs = corpus.subset(5, max_size=64 * 1024)
    dv.deliver_all(user, msgs[:3])
    dv.deliver_all(user, msgs[3:], folder="Archive/2024")
    tls = ssl.create_default_context(cafile=dv.ca_file)
    m = imaplib.IMAP4("127.0.0.1", dv.imap)
    m.starttls(ssl_context=tls)
    m.login(user, "pw")
    typ, data = m.select("INBOX", readonly=True)
    assert data == [b"3"], data
    uv1 = m.response("UIDVALIDITY")[1][0]
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[])")
    bodies = [d[1].replace(b"\r\n", b"\n") for d in data
              if isinstance(d, tuple)]
    assert bodies == [corpus.expected(x) for x in msgs[:3]], "INBOX bytes"
    typ, data = m.select('"Archive/2024"', readonly=True)
    assert typ == "OK" and data == [b"2"], (typ, data)
    m.logout()
    dv.recreate_mailbox(user)
    m = imaplib.IMAP4_SSL("127.0.0.1", dv.imaps, ssl_context=tls)
    m.login(user, "pw")
    typ, data = m.select("INBOX", readonly=True)
    uv2 = m.response("UIDVALIDITY")[1][0]
    m.logout()
    assert data == [b"3"] and uv1 != uv2, (uv1, uv2)
