"""The whole-pass deadline: a server that drips one byte every half
second never trips the per-step timeout, so only the pass deadline (ten
steps, at least 10 s, plus a second per message and a slow transfer rate
for the listed bytes) can end the pass. Nothing partial is delivered and
nothing is deleted."""
import time

from lib import corpus, util
from lib.checks import assert_failed
from lib.mailpull import read_maildir, maildir_tmp_files
from test_pop3_faults import ACCT, _msgs, _setup


def test_fake_drip_hits_pass_deadline(ctx):
    msgs = _msgs(2)
    srv, mp, md = _setup(ctx, msgs, timeout=1)
    srv.faults["drip_in_retr"] = (1, 50)
    t0 = time.monotonic()
    r = mp.fetch(ACCT, timeout=90)
    dt = time.monotonic() - t0
    assert_failed(r, ACCT, "timeout")
    assert "deadline" in r.stderr, r.stderr
    # 10 s floor + 2 s for two messages + bytes/32 KiB/s, plus slack
    assert 9 <= dt < 30 * util.slow_factor(), "took %.1fs" % dt
    assert read_maildir(md) == []
    assert not maildir_tmp_files(md)
    assert len(srv.uidls()) == 2
    assert b"DELE" not in b" ".join(srv.all_commands())
