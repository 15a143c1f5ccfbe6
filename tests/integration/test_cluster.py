"""Several `mailpull serve` nodes on one PostgreSQL store: the accounts
are shared out with leases (see src/store/lease.h).

Each test starts its own PostgreSQL (lib/pg.py, a fresh database) and its
own Dovecot (the harness's, with pop3_lock_session = yes so that two POP3
sessions on one mailbox at the same time would fail with [IN-USE] and show
up as a failed run, and with process limits raised for three nodes). Every
node is a separate `mailpull serve` with its own state directory (and so
its own key file, copied from the first node, or MAILPULL_STORE_KEY),
its own --listen port and --metrics-file, and MAILPULL_STORE pointing at
the one database. All deliver into one Maildir tree (the storage they
share).

  polls_each_account_once_per_interval  300 POP3 accounts (keep mode),
      3 nodes, interval 15 s, 3.5 intervals: every message once, every
      account polled ~T/interval times (runs table), no two runs of an
      account overlap, consecutive runs an interval apart, a lease token
      never seen with two holders, all three nodes claimed work.
  node_killed_accounts_taken_over  lease 10 s, 40 delete-mode accounts
      with MB-sized mail: SIGKILL a node while it holds leases of running
      passes; its accounts are claimed by the others within a lease period
      (+ slack), nothing is lost, duplicates at most one per pass in
      flight, every mailbox emptied, no lease left with the dead node.
  edit_seen_by_all_nodes  interval 1 h: an account added on one node's
      CLI is checked within seconds by exactly one node, an edit on
      another node's CLI too; `account show` and the API of the other
      nodes show the account and the edit.

The tests skip (with a message) only when PostgreSQL's server is not
installed. MAILPULL_TEST_VERBOSE=1 prints the figures (setup times,
passes per node, takeover times, duplicates)."""
import collections
import concurrent.futures
import imaplib
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time

from lib import corpus, util
from lib import dovecot as dovecot_mod
from lib import fakepop3 as fakepop3_mod
from lib import pg as pg_mod
from lib.checks import Account, check_delivered, fail
from lib.mailpull import maildir_pending, read_maildir

from api_support import Client, add_user

VERBOSE = bool(os.environ.get("MAILPULL_TEST_VERBOSE"))

# Added to the harness's dovecot.conf: one POP3 session per mailbox at a
# time (a second one is refused with [IN-USE]: an overlap of two passes
# becomes a failed run), and limits for three nodes' connections.
DOVECOT_EXTRA = """
pop3_lock_session = yes
default_process_limit = 1000
default_client_limit = 4000
service anvil {
  client_limit = 4000
}
service auth {
  client_limit = 4000
}
"""


class ClusterDovecot(dovecot_mod.Dovecot):
    def start(self):
        saved = dovecot_mod.CONF
        dovecot_mod.CONF = saved + DOVECOT_EXTRA.replace(
            "{", "{{").replace("}", "}}")
        try:
            return super().start()
        finally:
            dovecot_mod.CONF = saved


def _say(fmt, *args):
    if VERBOSE:
        print("    " + (fmt % args if args else fmt))


def _dovecot(ctx):
    # the mail processes run as nobody: the directory must be reachable,
    # so not under ctx.tmp (0700)
    dv = ClusterDovecot(ssl=False, tmp_root=ctx.shared.root)
    ctx.cleanup(dv.stop)
    return dv.start()


def _postgres(ctx):
    if not pg_mod.available():
        raise util.SkipTest("PostgreSQL is not installed (initdb not "
                            "found; scripts/install-deps installs it)")
    pg = pg_mod.PostgreSQL(tmp_root=ctx.shared.root)
    ctx.cleanup(pg.stop)
    return pg.start()


def psql(url, sql, timeout=60):
    """Rows of a query as lists of strings (NULL reads as '')."""
    r = subprocess.run(
        ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
         "-d", url, "-c", sql], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
        env=dict(os.environ, PGCONNECT_TIMEOUT="10"))
    if r.returncode != 0:
        fail("psql %r: %s" % (sql, r.stderr.decode("utf-8", "replace")))
    out = r.stdout.decode("utf-8", "replace")
    return [line.split("\t") for line in out.splitlines()]


def _err(p):
    """stderr of a running Proc so far."""
    try:
        return os.pread(p._err.fileno(), 1 << 24, 0).decode(
            "utf-8", "replace")
    except (OSError, ValueError, AttributeError):
        return p.result.stderr if p.result is not None else ""


def _metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


class Node:
    def __init__(self, mp, idx):
        self.mp = mp
        self.idx = idx
        self.proc = None
        self.port = None
        self.metrics = os.path.join(mp.state, "metrics.prom")

    @property
    def pid(self):
        return self.proc.pid

    def owns(self, holder):
        """holder is this node's id ("host:pid:random")."""
        parts = holder.rsplit(":", 2)
        return (self.proc is not None and len(parts) == 3 and
                parts[1] == str(self.proc.pid))

    def metrics_text(self):
        try:
            with open(self.metrics) as f:
                return f.read()
        except OSError:
            return ""

    def stderr(self):
        return _err(self.proc) if self.proc is not None else ""


class Cluster:
    """n nodes (state directories) on one database. key_env: every process
    gets MAILPULL_STORE_KEY; else the first node's key file is copied into
    the others' state directories before they run anything."""

    def __init__(self, ctx, url, n=3, key_env=False):
        self.ctx = ctx
        self.url = url
        env = {"MAILPULL_STORE": url}
        if key_env:
            env["MAILPULL_STORE_KEY"] = secrets.token_hex(32)
        self.key_env = key_env
        self.nodes = [Node(ctx.mailpull(env=env), i) for i in range(n)]
        self.ctx.cleanup(self._kill_all)
        self._keys_copied = key_env

    def _kill_all(self):
        for nd in self.nodes:
            nd.mp.kill_all()

    def cli(self, args, node=0, check=True, **kw):
        r = self.nodes[node].mp.run(args, **kw)
        if check and (r.code != 0 or r.timed_out):
            fail("node %d: mailpull %s failed" % (node, " ".join(
                str(a) for a in args)), r)
        self._share_key()
        return r

    def _share_key(self):
        """After the first command on node 0 (which creates the key
        file): the same key in every node's state directory."""
        if self._keys_copied:
            return
        src = self.nodes[0].mp.state
        names = [n for n in os.listdir(src) if n in ("secret.key", "key")]
        if not names:
            fail("no key file in the first node's state directory %s: %s"
                 % (src, os.listdir(src)))
        for nd in self.nodes[1:]:
            os.makedirs(nd.mp.state, mode=0o700, exist_ok=True)
            for n in names:
                dst = os.path.join(nd.mp.state, n)
                shutil.copyfile(os.path.join(src, n), dst)
                os.chmod(dst, 0o600)
        self._keys_copied = True

    def start(self, *args, interval="15s"):
        self._share_key()
        for nd in self.nodes:
            nd.port = util.free_port()
            nd.proc = nd.mp.start(
                ["serve", "--no-syslog", "--allow-root", "--interval",
                 interval, "--listen", "127.0.0.1:%d" % nd.port,
                 "--metrics-file", nd.metrics] + list(args))
        deadline = time.monotonic() + 20 * util.slow_factor()
        for nd in self.nodes:
            while "serve: state" not in nd.stderr():
                if nd.proc.poll() is not None:
                    fail("node %d: serve exited at start" % nd.idx,
                         nd.proc.result)
                if time.monotonic() > deadline:
                    fail("node %d: serve did not start:\n%s" % (
                        nd.idx, nd.stderr()[-3000:]))
                time.sleep(0.05)

    def alive(self):
        return [nd for nd in self.nodes if nd.proc is not None and
                nd.proc.poll() is None]

    def check_alive(self, what):
        for nd in self.nodes:
            if nd.proc is not None and nd.proc.result is None and \
                    nd.proc.poll() is not None:
                fail("node %d exited while %s" % (nd.idx, what),
                     nd.proc.result)

    def stop(self, timeout=60):
        """SIGTERM every live node at once; each must exit 0."""
        live = self.alive()
        for nd in live:
            nd.proc.kill(signal.SIGTERM)
        for nd in live:
            r = nd.proc.wait(timeout * util.slow_factor())
            if r.timed_out or r.code != 0:
                fail("node %d did not stop cleanly after SIGTERM" % nd.idx,
                     r)

    def wait(self, cond, timeout, what):
        t0 = time.monotonic()
        deadline = t0 + timeout * util.slow_factor()
        while True:
            v = cond()
            if v:
                return time.monotonic() - t0
            self.check_alive("waiting for %s" % what)
            if time.monotonic() > deadline:
                fail("timed out after %.0fs waiting for %s%s" % (
                    timeout, what, self.tails()))
            time.sleep(0.1)

    def tails(self, n=2000):
        return "".join("\n--- node %d stderr ---\n%s" % (
            nd.idx, nd.stderr()[-n:]) for nd in self.nodes)

    def runs(self, accts=None):
        """{account: [(started, finished, class)]} in start order."""
        rows = psql(self.url, "SELECT account, started, finished, class "
                    "FROM runs ORDER BY account, started, id")
        out = collections.defaultdict(list)
        for acct, st, fi, cls in rows:
            if accts is None or acct in accts:
                out[acct].append((int(st), int(fi) if fi else None, cls))
        return out

    def leases(self):
        """[(account, holder, token, claims)]"""
        return [(a, h, int(t or 0), int(c or 0)) for a, h, t, c in psql(
            self.url, "SELECT account, COALESCE(holder, ''), token, "
            "claims FROM leases")]


class LeaseWatch(threading.Thread):
    """Samples the leases table every `every` seconds: a fencing token is
    never seen with two holders, and an account's token never goes
    down."""

    def __init__(self, cluster, every=0.5):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.every = every
        self.stop_ev = threading.Event()
        self.samples = 0
        self.holders = {}          # (account, token) -> holder
        self.last_token = {}
        self.problems = []
        self.max_held = collections.Counter()   # node index -> max leases

    def run(self):
        while not self.stop_ev.is_set():
            try:
                rows = psql(self.cluster.url, "SELECT account, holder, "
                            "token FROM leases WHERE holder IS NOT NULL",
                            timeout=20)
            except Exception as e:   # the database may be going away
                self.problems.append("sampling failed: %s" % e)
                break
            held = collections.Counter()
            for acct, holder, tok in rows:
                tok = int(tok)
                prev = self.holders.setdefault((acct, tok), holder)
                if prev != holder and len(self.problems) < 20:
                    self.problems.append(
                        "%s token %d held by %s and by %s" % (
                            acct, tok, prev, holder))
                if tok < self.last_token.get(acct, 0) and \
                        len(self.problems) < 20:
                    self.problems.append("%s token went down %d -> %d" % (
                        acct, self.last_token[acct], tok))
                self.last_token[acct] = max(tok,
                                            self.last_token.get(acct, 0))
                for nd in self.cluster.nodes:
                    if nd.owns(holder):
                        held[nd.idx] += 1
            for k, v in held.items():
                self.max_held[k] = max(self.max_held[k], v)
            self.samples += 1
            self.stop_ev.wait(self.every)

    def finish(self):
        self.stop_ev.set()
        self.join(30)


def _messages(user, n, pool, start):
    """n distinct small messages for a user: a pool message with a first
    header naming the user (cheap, and unique across the test)."""
    out = []
    for k in range(n):
        base = pool[(start + k) % len(pool)]
        out.append(b"X-Cluster-Test: %s %d\n" % (user.encode(), k) + base)
    return out


def _add_all(accts, nodes, extra, jobs=8):
    """account add for every Account, spread over the nodes' CLIs, jobs at
    a time (each add is a process and a few round trips to the
    database)."""
    def one(i_a):
        i, a = i_a
        a.mp = nodes[i % len(nodes)].mp
        a.add(extra=extra)
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        for _ in ex.map(one, enumerate(accts)):
            pass


def test_cluster_polls_each_account_once_per_interval(ctx):
    """300 POP3 accounts in keep mode, three nodes, interval 15 s, for 3.5
    intervals: each account polled T/interval (+-1) times, never two runs
    of one account at once, consecutive runs at least 0.8 interval apart,
    every message delivered exactly once, all three nodes claimed."""
    n_accts, per_acct, ival = 300, 3, 15
    pg = _postgres(ctx)
    url = pg.newdb()
    dv = _dovecot(ctx)
    cl = Cluster(ctx, url, 3)
    t0 = time.monotonic()
    cl.cli(["config", "set", "max-passes", "8"])
    cl.cli(["config", "set", "max-per-host", "8"], node=1)
    pool = corpus.subset(30, seed=71, max_size=12 * 1024)
    accts, expected = [], {}
    for i in range(n_accts):
        a = Account(ctx, mp=cl.nodes[0].mp, prefix="cla", dv=dv)
        msgs = _messages(a.user, per_acct, pool, i)
        a.deliver(msgs)
        accts.append(a)
        expected[a.id] = [corpus.expected(m) for m in msgs]
    t_users = time.monotonic() - t0
    _add_all(accts, cl.nodes, ["--keep"])
    t_setup = time.monotonic() - t0
    _say("setup: %d Dovecot users in %.1fs, %d account adds in %.1fs "
         "(%.0f ms each, 8 at a time)", n_accts, t_users, n_accts,
         t_setup - t_users, 1000 * (t_setup - t_users) / n_accts)
    n = psql(url, "SELECT count(*) FROM accounts")[0][0]
    if int(n) != n_accts:
        fail("%s accounts in the database after %d adds" % (n, n_accts))

    watch = LeaseWatch(cl)
    t_start = time.time()
    cl.start(interval="%ds" % ival)
    watch.start()
    try:
        run_for = 3.5 * ival
        while time.time() - t_start < run_for:
            cl.check_alive("polling")
            time.sleep(0.5)
    finally:
        watch.finish()
    cl.stop()
    t_stop = time.time()
    elapsed = t_stop - t_start

    # every message exactly once, byte for byte
    for a in accts:
        check_delivered(read_maildir(a.maildir), expected[a.id], acct=a.id)
        if a.server_count() != per_acct:
            fail("%s: keep mode, but %d of %d messages left on the "
                 "server" % (a.id, a.server_count(), per_acct))

    # the runs: count, no overlap, spacing, all ok
    runs = cl.runs()
    ids = [a.id for a in accts]
    want = elapsed / ival
    bad_count, overlaps, close = [], [], []
    for acct in ids:
        rs = runs.get(acct, [])
        if abs(len(rs) - want) > 1:
            bad_count.append((acct, len(rs)))
        for (s1, f1, _), (s2, f2, _) in zip(rs, rs[1:]):
            if f1 is None or s2 < f1:
                overlaps.append((acct, (s1, f1), (s2, f2)))
            # started has a one-second resolution
            if s2 - s1 < int(0.8 * ival):
                close.append((acct, s1, s2))
    counts = collections.Counter(len(runs.get(a, [])) for a in ids)
    _say("%.1fs run, %.2f intervals: runs per account %s", elapsed, want,
         dict(sorted(counts.items())))
    # Every run ok, except the passes the final SIGTERM cut short (a
    # loaded machine, ASan: some are still running then).
    failed = psql(cl.url, "SELECT account, started, class, summary FROM "
                  "runs WHERE class <> 'ok' AND summary NOT LIKE "
                  "'%pass cancelled (mailpull is stopping)%' ORDER BY "
                  "started")
    if failed:
        fail("%d failed runs (an [IN-USE] means two passes at once): %s" % (
            len(failed), failed[:10]))
    if overlaps:
        fail("%d overlapping runs of one account: %s" % (
            len(overlaps), overlaps[:10]))
    if close:
        fail("%d consecutive runs closer than 0.8 interval: %s" % (
            len(close), close[:10]))
    if bad_count:
        fail("%d accounts polled a number of times not within 1 of "
             "%.2f: %s (all counts: %s)" % (
                 len(bad_count), want, bad_count[:10], dict(counts)))

    # the leases: one holder per token at every sample
    if watch.problems:
        fail("leases: %s" % watch.problems[:10])
    if watch.samples < 10:
        fail("the leases table was sampled only %d times" % watch.samples)
    lz = cl.leases()
    if len(lz) != n_accts or any(h for _, h, _, _ in lz):
        fail("after stop: %d lease rows, held: %s" % (
            len(lz), [r for r in lz if r[1]][:10]))
    db_claims = sum(c for _, _, _, c in lz)
    total_runs = sum(len(runs.get(a, [])) for a in ids)
    if db_claims < total_runs:
        fail("%d runs but only %d claims in the leases table" % (
            total_runs, db_claims))

    # every node took part
    per_node = []
    for nd in cl.nodes:
        text = nd.metrics_text()
        claims = _metric(text, "mailpull_lease_claims_total")
        ok = _metric(text, 'mailpull_passes_total{result="ok"}')
        per_node.append((claims, ok))
        if not claims:
            fail("node %d claimed nothing (mailpull_lease_claims_total "
                 "%r):\n%s" % (nd.idx, claims, text[:2000]))
        if not ok:
            fail("node %d ran no ok pass" % nd.idx)
    _say("claims/ok passes per node: %s; %d runs, %d claims in the "
         "leases table; max leases held at once per node: %s; %d samples",
         per_node, total_runs, db_claims, dict(watch.max_held),
         watch.samples)


def _started(a, pids):
    """Has a pass of a written mail into its Maildir (written and not yet
    synced, by one of pids, or in new/)?"""
    if maildir_pending(a.maildir, pids) > 0:
        return True
    return len(a.delivered()) > 0


def _held_by(cl, nd):
    return {a: t for a, h, t, _ in cl.leases() if h and nd.owns(h)}


def test_cluster_node_killed_accounts_taken_over(ctx):
    """lease 10 s; 40 delete-mode accounts, some with MB-sized mail: a
    node is SIGKILLed while it holds leases of passes in progress. Its
    accounts are claimed by the other nodes within a lease period (+
    slack), every message ends up delivered (duplicates: at most one per
    pass in flight), every mailbox is emptied, and no lease names the dead
    node afterwards."""
    lease, n_accts = 10, 40
    pg = _postgres(ctx)
    url = pg.newdb()
    dv = _dovecot(ctx)
    cl = Cluster(ctx, url, 3, key_env=True)
    for k, v in (("lease", "%ds" % lease), ("max-passes", "8"),
                 ("max-per-host", "8")):
        cl.cli(["config", "set", k, v])
    pool = corpus.subset(20, seed=81, max_size=64 * 1024)
    accts, expected = [], {}
    for i in range(n_accts):
        a = Account(ctx, mp=cl.nodes[0].mp, prefix="clk", dv=dv)
        msgs = _messages(a.user, 6, pool, i)
        # every other account a message of 2-3 MB: passes that take a
        # while, and a kill that lands in the middle of one
        if i % 2 == 0:
            big = corpus.sized_message(900 + i, 83,
                                       (2 + i % 4 // 2) * 1024 * 1024)
            msgs.insert(3, b"X-Cluster-Test: %s big\n" % a.user.encode() +
                        big)
        a.deliver(msgs)
        accts.append(a)
        expected[a.id] = [corpus.expected(m) for m in msgs]
    _add_all(accts, cl.nodes, [])
    by_id = {a.id: a for a in accts}

    cl.start(interval="10s")
    # a victim holding leases of passes that have started (mail delivered)
    # and not finished (mail left on the server)
    victim, held = None, {}
    deadline = time.monotonic() + 60 * util.slow_factor()
    while victim is None:
        cl.check_alive("waiting for passes in progress")
        if time.monotonic() > deadline:
            fail("no node ever held a lease of a pass in progress")
        rows = cl.leases()
        pids = [n.proc.pid for n in cl.nodes]
        for nd in cl.nodes:
            mine = {a: t for a, h, t, _ in rows if h and nd.owns(h)}
            # started: mail written (Maildir group commit: tmp/ until
            # the batch is synced, then new/); not finished: mail left
            busy = [a for a in mine if by_id[a].server_count() > 0 and
                    _started(by_id[a], pids)]
            if len(busy) >= 2:
                victim, held = nd, mine
                break
        else:
            time.sleep(0.05)
    victim.proc.kill(signal.SIGKILL)
    t_kill = time.monotonic()
    held = _held_by(cl, victim) or held   # the leases at the kill
    r = victim.proc.wait(10)
    if r.code != -signal.SIGKILL:
        fail("the victim did not die of SIGKILL", r)
    in_flight = [a for a in held if by_id[a].server_count() > 0]
    _say("killed node %d (pid %d) holding %d leases, %d with mail left",
         victim.idx, victim.pid, len(held), len(in_flight))

    # taken over: a newer token, not the dead node
    taken = {}
    while len(taken) < len(held):
        cl.check_alive("the takeover")
        now = time.monotonic() - t_kill
        if now > (lease + 10) * util.slow_factor():
            fail("not taken over %.0fs after the kill (lease %ds): %s; "
                 "leases now: %s" % (now, lease, sorted(
                     set(held) - set(taken)), [
                     r for r in cl.leases() if r[0] in held]))
        for acct, h, tok, _ in cl.leases():
            if acct in held and acct not in taken and tok > held[acct] \
                    and not victim.owns(h):
                taken[acct] = now
        time.sleep(0.1)
    worst = max(taken.values())
    _say("taken over after %.1f-%.1fs", min(taken.values()), worst)
    if worst > lease + 5 * util.slow_factor():
        fail("accounts of the dead node claimed only after %.1fs (lease "
             "%ds): %s" % (worst, lease, taken))

    # in the end: all delivered, all emptied
    cl.wait(lambda: all(a.server_count() == 0 for a in accts), 120,
            "every mailbox emptied")
    cl.wait(lambda: all(len(a.delivered()) >= len(expected[a.id])
                        for a in accts), 30, "every message delivered")
    left = [r for r in cl.leases() if victim.owns(r[1])]
    idle_left = psql(url, "SELECT account, idle_holder FROM leases WHERE "
                     "idle_holder LIKE '%%:%d:%%'" % victim.pid)
    cl.stop()
    dups = {}
    for a in accts:
        d = check_delivered(a.delivered(), expected[a.id], acct=a.id,
                            allow_dups=1 if a.id in held else 0)
        if d:
            dups[a.id] = d
    _say("duplicates: %d (%s); passes in flight at the kill: %d",
         sum(dups.values()), dups, len(in_flight))
    if left or idle_left:
        fail("leases still held by the dead node: %s %s" % (left,
                                                             idle_left))
    lost = [_metric(nd.metrics_text(), "mailpull_leases_lost_total")
            for nd in cl.nodes if nd is not victim]
    _say("mailpull_leases_lost_total of the survivors: %s", lost)


def test_cluster_edit_seen_by_all_nodes(ctx):
    """Interval 1 h, three nodes: an account added on node 1's CLI is
    checked within seconds by exactly one node; node 2's `account show`
    and API show it; an edit on node 2's CLI is checked once more, by one
    node, and node 0 shows the new value."""
    pg = _postgres(ctx)
    url = pg.newdb()
    dv = _dovecot(ctx)
    cl = Cluster(ctx, url, 3)
    cl.cli(["config", "set", "interval", "1h"])
    add_user(cl.nodes[0].mp, "admin", "admin", "Admin-pw-cluster-1")
    cl.start(interval="1h")
    a = Account(ctx, mp=cl.nodes[1].mp, prefix="cle", dv=dv)
    first = _messages(a.user, 2, corpus.subset(4, seed=91), 0)
    a.deliver(first)
    a.add()
    dt = cl.wait(lambda: len(a.delivered()) == 2, 5, "the added account")
    _say("added account checked after %.1fs", dt)
    cl.wait(lambda: a.server_count() == 0, 5, "the deletions")
    time.sleep(3)   # a second pass, if any, would come now
    runs = cl.runs([a.id]).get(a.id, [])
    if len(runs) != 1:
        fail("the added account was checked %d times: %s%s" % (
            len(runs), runs, cl.tails()))
    # another node's CLI and API show it
    r = cl.cli(["account", "show", a.id], node=2)
    for w in (a.id, "127.0.0.1", a.user):
        if w not in r.stdout:
            fail("node 2's account show lacks %r" % w, r)
    c = Client("http://127.0.0.1:%d" % cl.nodes[2].port)
    c.login("admin", "Admin-pw-cluster-1")
    resp = c.get("/api/v1/accounts/" + a.id)
    if resp.status != 200 or resp.json.get("id") != a.id:
        fail("node 2's API: %r" % resp)

    # an edit on node 2: checked at once, by one node
    more = _messages(a.user, 2, corpus.subset(4, seed=92), 2)
    a.deliver(more)
    time.sleep(1.1)   # `updated` has a one-second resolution
    cl.cli(["account", "edit", a.id, "--timeout", "21"], node=2)
    dt = cl.wait(lambda: len(a.delivered()) == 4, 5, "the edited account")
    _say("edited account checked after %.1fs", dt)
    cl.wait(lambda: a.server_count() == 0, 5, "the deletions")
    time.sleep(3)
    runs = cl.runs([a.id]).get(a.id, [])
    if len(runs) != 2:
        fail("after the edit: %d runs (want 2): %s%s" % (
            len(runs), runs, cl.tails()))
    r = cl.cli(["account", "show", a.id], node=0)
    if not re.search(r"^timeout:\s+21 s$", r.stdout, re.M):
        fail("node 0's account show lacks the edited timeout", r)
    c1 = Client("http://127.0.0.1:%d" % cl.nodes[1].port)
    c1.login("admin", "Admin-pw-cluster-1")
    resp = c1.get("/api/v1/accounts/" + a.id)
    if resp.status != 200 or resp.json.get("timeout") != 21:
        fail("node 1's API after the edit: %r" % resp)
    cl.stop()
    check_delivered(a.delivered(), [corpus.expected(m)
                                    for m in first + more], acct=a.id)


def _imap_append(a, data):
    m = imaplib.IMAP4("127.0.0.1", a.dv.imap)
    try:
        m.login(a.user, a.password)
        typ, resp = m.append("INBOX", None, None,
                             data.replace(b"\n", b"\r\n"))
        if typ != "OK":
            fail("APPEND failed: %r" % resp)
    finally:
        m.logout()


def test_cluster_idle_one_watcher_taken_over(ctx):
    """IMAP IDLE on a shared store, two nodes, interval 1 h: exactly one
    node watches the account (its idle lease); a message appended by
    another client is delivered within seconds; SIGKILL the watcher: the
    other node takes the watch over within two lease periods and new mail
    still arrives within seconds."""
    pg = _postgres(ctx)
    url = pg.newdb()
    dv = _dovecot(ctx)
    cl = Cluster(ctx, url, 2)
    cl.cli(["config", "set", "interval", "1h"])
    cl.cli(["config", "set", "lease", "10s"])
    a = Account(ctx, mp=cl.nodes[0].mp, prefix="cli", dv=dv)
    pool = corpus.subset(4, seed=95)
    got = _messages(a.user, 1, pool, 0)
    a.deliver(got)
    a.add(protocol="imap", extra=["--idle"])
    cl.start("--log-level", "debug", interval="1h")
    cl.wait(lambda: len(a.delivered()) == 1, 10, "the first pass")

    def watchers():
        return [nd for nd in cl.alive()
                if "%s: IDLE: watching" % a.id in nd.stderr()]
    cl.wait(lambda: watchers(), 15, "an IDLE session")
    time.sleep(3)   # a second watcher, if any, would be set up by now
    w = watchers()
    if len(w) != 1:
        fail("%d nodes watch the account: %s" % (len(w), cl.tails()))
    holder = psql(url, "SELECT idle_holder FROM leases WHERE account = "
                  "'%s'" % a.id)[0][0]
    if not w[0].owns(holder):
        fail("the idle lease (%r) is not the watcher's (node %d)" % (
            holder, w[0].idx))

    def append_and_wait(k, what):
        msg = _messages(a.user, 1, pool, k)[0]
        msg = msg.replace(b"X-Cluster-Test: %s 0" % a.user.encode(),
                          b"X-Cluster-Test: %s %d" % (a.user.encode(), k))
        got.append(msg)
        _imap_append(a, msg)
        return cl.wait(lambda: len(a.delivered()) == len(got), 15, what)
    dt = append_and_wait(1, "the appended message")
    _say("IDLE delivery after %.1fs", dt)

    # the watcher dies; the other node takes the watch over
    w[0].proc.kill(signal.SIGKILL)
    w[0].proc.wait(10)
    other = [nd for nd in cl.alive()][0]
    dt = cl.wait(lambda: "%s: IDLE: watching" % a.id in other.stderr(),
                 2 * 10 + 10, "the other node's IDLE session")
    _say("IDLE taken over after %.1fs", dt)
    dt = append_and_wait(2, "mail after the takeover")
    _say("delivery after the takeover: %.1fs", dt)
    cl.stop()
    # IMAP delivers the bytes as stored (no final LF added, unlike POP3)
    check_delivered(a.delivered(), got, acct=a.id)


def test_cluster_lost_lease_deletes_nothing(ctx):
    """A pass whose lease another node took over while it ran (here: the
    leases table rewritten while a slow message streams) records what it
    delivered but sends no QUIT, so the server applies none of its DELEs;
    the next pass deletes it without delivering it again."""
    pg = _postgres(ctx)
    url = pg.newdb()
    acct, pw = "lost@example.org", "pw-lost-lease-1"
    line = b"x" * 70 + b"\n"

    def slow():
        yield b"Subject: slow\n\n"
        for _ in range(30):     # about 3 s
            time.sleep(0.1)
            yield line * 10
    size = len(b"Subject: slow\n\n") + 300 * (len(line) + 1)
    srv = ctx.fakepop3([fakepop3_mod.Msg("uidl-slow", chunks=slow,
                                         size=size)],
                       user="fakeuser", password=pw)
    mp = ctx.mailpull(env={"MAILPULL_STORE": url})
    target = "maildir:%s/mail/%%u/Maildir" % ctx.tmp
    mp.add_account(acct, port=srv.port, security="none", user="fakeuser",
                   password=pw, target=target, extra=["--timeout", "10"])
    md = os.path.join(ctx.tmp, "mail", "lost", "Maildir")
    p = mp.start(["fetch", acct])

    def streaming():
        return any(b"RETR 1" in c for s in srv.sessions for c in s.commands)
    deadline = time.monotonic() + 10 * util.slow_factor()
    while not streaming():
        if time.monotonic() > deadline or p.poll() is not None:
            fail("the pass never reached RETR", p.result)
        time.sleep(0.02)
    rows = psql(url, "UPDATE leases SET holder = 'other:1:x', token = "
                "token + 1 WHERE account = '%s' RETURNING holder" % acct)
    if rows != [["other:1:x"]]:
        fail("the pass held no lease row: %r" % rows)
    r = p.wait(60)
    if r.timed_out or r.code != 1:
        fail("a pass that lost its lease must exit 1", r)
    if len(read_maildir(md)) != 1:
        fail("the message was not delivered: %r" % read_maildir(md))
    s0 = srv.sessions[0]
    if b"DELE 1" not in s0.commands or b"QUIT" in s0.commands:
        fail("want DELE then no QUIT: %r" % s0.commands)
    if srv.uidls() != ["uidl-slow"]:
        fail("the server deleted the message: %r" % srv.uidls())
    log = mp.run(["log", acct])
    if "taken over by another node" not in log.stdout:
        fail("the run log does not say the lease was lost", log)
    # the other node gives it back (or dies); the next pass deletes it
    # and does not deliver it again
    psql(url, "UPDATE leases SET holder = NULL, expires = 0 WHERE "
         "account = '%s'" % acct)
    r = mp.fetch(acct)
    if r.code != 0:
        fail("second pass", r)
    if srv.uidls() != []:
        fail("not deleted by the second pass: %r" % srv.uidls())
    if len(read_maildir(md)) != 1:
        fail("delivered again: %d copies" % len(read_maildir(md)))
