#!/usr/bin/env python3
"""Scale-out measurement: several `mailpull serve` nodes sharing one
PostgreSQL store (not a test; nothing is asserted).

    python3 bench/cluster/cluster.py --binary build/mailpull
        [--nodes 3] [--accounts 10000] [--interval 120] [--duration 240]
        [--lease 60] [--max-passes 16] [--max-per-host 16] [--msgs 1]
        [--server fake|dovecot] [--sample 5] [--results FILE]

A private PostgreSQL on loopback (tests/integration/lib/pg.py, fsync on),
N POP3 accounts in keep mode (every pass after the first logs in, lists
and diffs) on one server, all delivering into one Maildir tree, and
--nodes serve processes on the one database, each with its own state
directory (the first node's key file copied to the others), --listen port
and --metrics-file. Every account is due at start (the cold start), then
every --interval.

The server: `fake` (default) is bench/cluster/fastpop3.py, an asyncio
POP3 server that accepts any user and serves --msgs small messages, cheap
enough that the figures are mailpull's and PostgreSQL's; `dovecot` is the
integration harness's Dovecot with raised limits (bench/scale), with a
user and --msgs messages per account (slower to set up, and its
process-per-login costs dominate the machine).

Accounts: one `account add` through the CLI, then cloned in SQL (INSERT
... SELECT over generate_series, a new id and user name each; the sealed
password is the same blob, the password the same): 10,000 CLI adds would
take minutes.

Every --sample seconds: each node's /metrics (mailpull_lease_claims_total,
mailpull_passes_total, mailpull_passes_running, the queue delay
histogram), its CPU (utime+stime) and RSS from /proc; the database's
pg_stat_database row (xact_commit, tup_updated, ...) and the CPU of every
postgres process (the postmaster, its children, and the children it has
reaped). Printed: a timeline, and a summary table; one JSON line appended
to --results (default bench/cluster/results.jsonl).

"First round": until every account has been claimed once (leases.claims >
0 everywhere): the cold start, bound by throughput. "Steady": from then to
the end: the schedule, bound by --interval.
"""
import argparse
import collections
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from lib import pg as pg_mod  # noqa: E402
from lib import util  # noqa: E402

PASSWORD = "pw-bench-cluster"


def psql(url, sql, timeout=120):
    r = subprocess.run(
        ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
         "-d", url, "-c", sql], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode != 0:
        raise SystemExit("psql %r: %s" % (sql[:200], r.stderr.decode()))
    return [ln.split("\t") for ln in r.stdout.decode().splitlines()]


def proc_cpu(pid, children=False):
    """utime+stime (+ cutime+cstime) of pid in seconds, None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    tck = os.sysconf("SC_CLK_TCK")
    v = int(fields[11]) + int(fields[12])
    if children:
        v += int(fields[13]) + int(fields[14])
    return v / tck


def proc_ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def proc_status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class PgCpu:
    """CPU seconds of a PostgreSQL server: the postmaster with what it
    reaped, and its live children. Children that exit between samples are
    counted through the postmaster's cutime (once reaped)."""

    def __init__(self, datadir):
        with open(os.path.join(datadir, "postmaster.pid")) as f:
            self.pm = int(f.readline())
        self.last = {}

    def sample(self):
        total = proc_cpu(self.pm, children=True) or 0.0
        for d in os.listdir("/proc"):
            if d.isdigit() and proc_ppid(int(d)) == self.pm:
                c = proc_cpu(int(d))
                if c is not None:
                    total += c
        return total


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


def histogram(text, name):
    """[(le, cumulative count)], count, sum of a Prometheus histogram."""
    b = [(float("inf") if le == "+Inf" else float(le), float(c)) for le, c in
         re.findall(r'^%s_bucket\{le="([^"]+)"\} (\S+)$' % re.escape(name),
                    text, re.M)]
    return b, metric(text, name + "_count"), metric(text, name + "_sum")


def hist_add(a, b, sign=1):
    """Bucket-wise a + sign*b (same bounds)."""
    if not a:
        return [(le, sign * c) for le, c in b]
    if not b:
        return list(a)
    return [(le, ca + sign * cb) for (le, ca), (_, cb) in zip(a, b)]


def quantile_le(buckets, q):
    """The upper bound of the bucket holding quantile q."""
    if not buckets:
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    for le, c in buckets:
        if c >= q * total:
            return le
    return buckets[-1][0]


def fmt_le(v):
    if v is None:
        return "-"
    if v == float("inf"):
        return "+Inf"
    return "<= %gs" % v


def http_metrics(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                    timeout=10) as r:
            return r.read().decode()
    except Exception:
        return None


def git_commit():
    try:
        return subprocess.run(["git", "-C", TOP, "rev-parse", "--short",
                               "HEAD"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL,
                              text=True).stdout.strip()
    except OSError:
        return None


def start_server(a, root):
    """(port, pid or None, stop function, user name of account i)."""
    if a.server == "fake":
        port = util.free_port()
        p = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fastpop3.py"), "--port",
             str(port), "--msgs", str(a.msgs), "--procs",
             str(a.server_procs)], stdout=subprocess.PIPE,
            stderr=open(os.path.join(root, "fastpop3.log"), "wb"))
        line = p.stdout.readline().decode()
        if not line.startswith("ready"):
            raise SystemExit("fastpop3 did not start: %r" % line)

        def stop():
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        return port, p.pid, stop
    # Dovecot with raised limits, as bench/scale does
    spec = importlib.util.spec_from_file_location(
        "scale", os.path.join(TOP, "bench", "scale", "scale.py"))
    scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scale)
    from lib import corpus
    dv = scale.BigDovecot(ssl=False, tmp_root=root).start()
    msgs = corpus.subset(a.msgs, seed=7, max_size=8 * 1024) if a.msgs else []
    for i in range(a.accounts):
        u = "c%d" % i
        dv.add_user(u, PASSWORD)
        dv.deliver_all(u, msgs)
    return dv.pop3, None, dv.stop


class Node:
    def __init__(self, binary, root, i, url):
        self.i = i
        self.binary = binary
        self.state = os.path.join(root, "node%d" % i)
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        self.env = dict(os.environ, MAILPULL_STORE=url, LC_ALL="C.UTF-8")
        self.env.pop("MAILPULL_STATE", None)
        self.metrics = os.path.join(self.state, "metrics.prom")
        self.log = os.path.join(root, "node%d.log" % i)
        self.port = None
        self.p = None

    def run(self, args, env=None):
        e = dict(self.env)
        e.update(env or {})
        r = subprocess.run([self.binary, "--state", self.state] + args,
                           env=e, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if r.returncode != 0:
            raise SystemExit("node %d: mailpull %s: exit %d\n%s" % (
                self.i, " ".join(args), r.returncode, r.stderr.decode()))
        return r

    def start(self, interval):
        self.port = util.free_port()
        self.p = subprocess.Popen(
            [self.binary, "--state", self.state, "serve", "--no-syslog",
             "--allow-root", "--interval", "%ds" % interval, "--listen",
             "127.0.0.1:%d" % self.port, "--metrics-file", self.metrics],
            env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))


def clone_accounts(url, n):
    """Accounts c1..c(n-1) from the template c0 (one INSERT ... SELECT)."""
    cols = [r[0] for r in psql(
        url, "SELECT column_name FROM information_schema.columns WHERE "
        "table_schema = current_schema() AND table_name = 'accounts' "
        "ORDER BY ordinal_position")]
    if "id" not in cols:
        raise SystemExit("no accounts table? columns: %s" % cols)
    user_col = "username" if "username" in cols else '"user"'
    exprs = []
    for c in cols:
        q = '"%s"' % c
        if c == "id":
            exprs.append("'c' || g || '@example.org'")
        elif q == '"%s"' % user_col.strip('"'):
            exprs.append("'c' || g")
        else:
            exprs.append("t.%s" % q)
    psql(url, "INSERT INTO accounts (%s) SELECT %s FROM accounts t, "
         "generate_series(1, %d) g WHERE t.id = 'c0@example.org'" % (
             ", ".join('"%s"' % c for c in cols), ", ".join(exprs), n - 1))


STAT_COLS = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched",
             "tup_inserted", "tup_updated", "tup_deleted", "blks_read",
             "blks_hit")


def db_stats(url, dbname):
    rows = psql(url, "SELECT %s FROM pg_stat_database WHERE datname = '%s'"
                % (", ".join(STAT_COLS), dbname))
    return dict(zip(STAT_COLS, (float(x or 0) for x in rows[0])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--accounts", type=int, default=10000)
    ap.add_argument("--interval", type=int, default=120)
    ap.add_argument("--duration", type=int, default=240)
    ap.add_argument("--lease", type=int, default=60)
    ap.add_argument("--max-passes", type=int, default=16)
    ap.add_argument("--max-per-host", type=int, default=16)
    ap.add_argument("--msgs", type=int, default=1)
    ap.add_argument("--server", choices=("fake", "dovecot"), default="fake")
    ap.add_argument("--server-procs", type=int, default=1,
                    help="fake server processes (SO_REUSEPORT)")
    ap.add_argument("--sample", type=float, default=5)
    ap.add_argument("--results",
                    default=os.path.join(HERE, "results.jsonl"))
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--note", default="", help="free text for the JSON")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    if not pg_mod.available():
        raise SystemExit("PostgreSQL is not installed (scripts/install-deps)")
    root = tempfile.mkdtemp(prefix="mailpull-cluster-")
    os.chmod(root, 0o755)
    pg = None
    stop_server = None
    nodes = []
    try:
        t0 = time.monotonic()
        pg = pg_mod.PostgreSQL(tmp_root=root).start()
        dbname = "cluster"
        url = pg.newdb(dbname)
        port, server_pid, stop_server = start_server(a, root)
        t_server = time.monotonic() - t0
        nodes = [Node(binary, root, i, url) for i in range(a.nodes)]
        n0 = nodes[0]
        for k, v in (("max-passes", a.max_passes),
                     ("max-per-host", a.max_per_host),
                     ("lease", "%ds" % a.lease),
                     ("interval", "%ds" % a.interval)):
            n0.run(["config", "set", k, str(v)])
        target = "maildir:%s/mail/%%u/Maildir" % root
        n0.run(["account", "add", "c0@example.org", "--protocol", "pop3",
                "--host", "127.0.0.1", "--port", str(port), "--security",
                "none", "--user", "c0", "--password-env", "MP_PW",
                "--target", target, "--keep"], env={"MP_PW": PASSWORD})
        keys = [f for f in os.listdir(n0.state) if f.endswith("key")]
        for nd in nodes[1:]:
            for f in keys:
                shutil.copyfile(os.path.join(n0.state, f),
                                os.path.join(nd.state, f))
                os.chmod(os.path.join(nd.state, f), 0o600)
        t1 = time.monotonic()
        clone_accounts(url, a.accounts)
        t_clone = time.monotonic() - t1
        got = int(psql(url, "SELECT count(*) FROM accounts")[0][0])
        if got != a.accounts:
            raise SystemExit("%d accounts after cloning" % got)
        # a clone reads back through the CLI of another node (key, columns)
        shown = nodes[-1].run(["account", "show", "c%d@example.org" % (
            a.accounts - 1)]).stdout.decode()
        if "c%d" % (a.accounts - 1) not in shown:
            raise SystemExit("a cloned account does not show:\n" + shown)
        setup = time.monotonic() - t0
        print("setup %.1fs (server %.1fs, clone of %d accounts %.1fs)" % (
            setup, t_server, a.accounts, t_clone), flush=True)

        pgcpu = PgCpu(os.path.join(pg.dir, "data"))
        samples = []
        first_round_at = None
        hist_first = None
        start_wall = time.time()
        start = time.monotonic()
        for nd in nodes:
            nd.start(a.interval)
        cpu0 = {nd.i: 0.0 for nd in nodes}
        hdr = ("%6s %9s %9s %7s %8s %9s %9s %8s %8s %s" % (
            "t", "claims/s", "passes/s", "running", "xact/s", "tupupd/s",
            "fetched/s", "pg cpu%", "node cpu%", "unclaimed"))
        print(hdr, flush=True)
        prev = None
        while True:
            now = time.monotonic() - start
            s = {"t": now, "nodes": {}}
            for nd in nodes:
                if nd.p.poll() is not None:
                    raise SystemExit("node %d exited (%s); see %s" % (
                        nd.i, nd.p.returncode, nd.log))
                text = http_metrics(nd.port) or ""
                b, cnt, tot = histogram(text, "mailpull_queue_delay_seconds")
                s["nodes"][nd.i] = {
                    "claims": metric(text, "mailpull_lease_claims_total"),
                    "passes": sum(float(x) for x in re.findall(
                        r'^mailpull_passes_total\{result="[^"]+"\} (\S+)$',
                        text, re.M)),
                    "running": metric(text, "mailpull_passes_running"),
                    "hist": b, "hist_count": cnt, "hist_sum": tot,
                    "cpu": proc_cpu(nd.p.pid) or 0.0,
                    "rss": proc_status(nd.p.pid, "VmRSS"),
                    "hwm": proc_status(nd.p.pid, "VmHWM"),
                    "scraped": bool(text)}
            s["db"] = db_stats(url, dbname)
            s["pg_cpu"] = pgcpu.sample()
            s["server_cpu"] = proc_cpu(server_pid) if server_pid else None
            s["unclaimed"] = int(psql(
                url, "SELECT count(*) FROM leases WHERE claims = 0")[0][0]) \
                + a.accounts - int(psql(
                    url, "SELECT count(*) FROM leases")[0][0])
            if prev is not None:
                dt = s["t"] - prev["t"]

                def tot(k):
                    return sum(v[k] for v in s["nodes"].values()) - sum(
                        v[k] for v in prev["nodes"].values())
                s["rate"] = {
                    "claims": tot("claims") / dt,
                    "passes": tot("passes") / dt,
                    "xact": (s["db"]["xact_commit"] -
                             prev["db"]["xact_commit"]) / dt,
                    "tup_updated": (s["db"]["tup_updated"] -
                                    prev["db"]["tup_updated"]) / dt,
                    "tup_fetched": (s["db"]["tup_fetched"] -
                                    prev["db"]["tup_fetched"]) / dt,
                    "pg_cpu": (s["pg_cpu"] - prev["pg_cpu"]) / dt,
                    "node_cpu": tot("cpu") / dt}
                print("%6.0f %9.1f %9.1f %7d %8.0f %9.0f %9.0f %7.0f%% "
                      "%8.0f%% %d"
                      % (s["t"], s["rate"]["claims"], s["rate"]["passes"],
                         sum(v["running"] for v in s["nodes"].values()),
                         s["rate"]["xact"], s["rate"]["tup_updated"],
                         s["rate"]["tup_fetched"],
                         100 * s["rate"]["pg_cpu"],
                         100 * s["rate"]["node_cpu"], s["unclaimed"]),
                      flush=True)
            else:
                s["pg_cpu0"] = s["pg_cpu"]
                cpu0 = {i: v["cpu"] for i, v in s["nodes"].items()}
            if first_round_at is None and s["unclaimed"] == 0:
                first_round_at = len(samples)
                hist_first = s
            samples.append(s)
            prev = s
            if now >= a.duration:
                break
            time.sleep(max(0.0, a.sample - (time.monotonic() - start -
                                            now)))
        run_s = time.monotonic() - start
        load = os.getloadavg()
        for nd in nodes:
            nd.p.send_signal(signal.SIGTERM)
        for nd in nodes:
            try:
                nd.p.wait(120)
            except subprocess.TimeoutExpired:
                nd.p.kill()
                nd.p.wait()

        # the runs table: every account polled? never two runs at once?
        runs = psql(url, "SELECT count(*), count(DISTINCT account), "
                    "count(*) FILTER (WHERE class <> 'ok') FROM runs")[0]
        overlaps = psql(url, "SELECT count(*) FROM (SELECT started, "
                        "lag(finished) OVER (PARTITION BY account ORDER BY "
                        "started, id) AS pf FROM runs) x WHERE started < pf"
                        )[0][0]
        per_acct = collections.Counter(int(r[0]) for r in psql(
            url, "SELECT count(*) FROM runs GROUP BY account"))
        tables = psql(url, "SELECT relname, seq_scan, seq_tup_read, "
                      "COALESCE(idx_scan, 0), COALESCE(idx_tup_fetch, 0), "
                      "n_tup_ins, n_tup_upd, n_tup_del FROM "
                      "pg_stat_user_tables ORDER BY seq_tup_read + "
                      "COALESCE(idx_tup_fetch, 0) DESC LIMIT 8")
        failures = collections.Counter(
            "%s: %s" % (r[0], re.sub(r"\d+", "N", r[1])[:160])
            for r in psql(url, "SELECT class, summary FROM runs WHERE "
                          "class <> 'ok'"))
        last, first = samples[-1], samples[0]
        nd_res = []
        for nd in nodes:
            v = last["nodes"][nd.i]
            nd_res.append({
                "node": nd.i, "claims": v["claims"], "passes": v["passes"],
                "cpu_s": round(v["cpu"] - cpu0[nd.i], 2),
                "cpu_pct": round(100 * (v["cpu"] - cpu0[nd.i]) /
                                 (last["t"] - first["t"]), 1),
                "rss_kib": v["rss"], "peak_rss_kib": v["hwm"]})

        def merged(s):
            h = []
            for v in s["nodes"].values():
                h = hist_add(h, v["hist"])
            return h, sum(v["hist_count"] for v in s["nodes"].values()), \
                sum(v["hist_sum"] for v in s["nodes"].values())

        h_all, c_all, s_all = merged(last)
        res_lag = {
            "all": {"mean_s": round(s_all / c_all, 3) if c_all else None,
                    "p50_le": quantile_le(h_all, 0.5),
                    "p99_le": quantile_le(h_all, 0.99),
                    "max_le": quantile_le(h_all, 1.0), "n": c_all}}
        rates = [s["rate"] for s in samples[1:]]
        span = last["t"] - first["t"]

        def rate_between(i0, i1, key):
            if i0 is None or i1 <= i0:
                return None
            s0, s1 = samples[i0], samples[i1]
            d = s1["t"] - s0["t"]
            if key == "claims":
                v = sum(x["claims"] for x in s1["nodes"].values()) - sum(
                    x["claims"] for x in s0["nodes"].values())
            elif key == "passes":
                v = sum(x["passes"] for x in s1["nodes"].values()) - sum(
                    x["passes"] for x in s0["nodes"].values())
            elif key == "pg_cpu":
                v = s1["pg_cpu"] - s0["pg_cpu"]
            elif key == "node_cpu":
                v = sum(x["cpu"] for x in s1["nodes"].values()) - sum(
                    x["cpu"] for x in s0["nodes"].values())
            else:
                v = s1["db"][key] - s0["db"][key]
            return round(v / d, 2) if d > 0 else None

        n_last = len(samples) - 1
        steady = {}
        if first_round_at is not None and first_round_at < n_last:
            hf, cf, sf = merged(hist_first)
            hs = hist_add(h_all, hf, -1)
            cs, ss = c_all - cf, s_all - sf
            res_lag["steady"] = {
                "mean_s": round(ss / cs, 3) if cs else None,
                "p50_le": quantile_le(hs, 0.5),
                "p99_le": quantile_le(hs, 0.99),
                "max_le": quantile_le(hs, 1.0), "n": cs}
            for k in ("claims", "passes", "xact_commit", "tup_updated",
                      "tup_inserted", "tup_fetched", "pg_cpu", "node_cpu"):
                steady[k + "_per_s"] = rate_between(first_round_at, n_last,
                                                    k)
        first_rd = {}
        if first_round_at:
            for k in ("claims", "passes", "xact_commit", "tup_updated",
                      "pg_cpu", "node_cpu"):
                first_rd[k + "_per_s"] = rate_between(0, first_round_at, k)
        res = {
            "bench": "cluster", "time": time.strftime(
                "%Y-%m-%dT%H:%M:%S%z", time.localtime(start_wall)),
            "commit": git_commit(), "binary": a.binary,
            "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                        "load_end": [round(x, 1) for x in load]},
            "nodes": a.nodes, "accounts": a.accounts,
            "interval_s": a.interval, "lease_s": a.lease,
            "max_passes": a.max_passes, "max_per_host": a.max_per_host,
            "msgs_per_account": a.msgs, "server": a.server,
            "setup_s": round(setup, 1), "run_s": round(run_s, 1),
            "first_round_s": round(samples[first_round_at]["t"], 1)
            if first_round_at is not None else None,
            "claims_total": sum(x["claims"] for x in nd_res),
            "passes_total": sum(x["passes"] for x in nd_res),
            "claims_per_s_mean": rate_between(0, n_last, "claims"),
            "claims_per_s_peak": round(max(r["claims"] for r in rates), 1)
            if rates else None,
            "first_round": first_rd, "steady": steady,
            "queue_delay": res_lag,
            "db": {"xact_commit_per_s": rate_between(0, n_last,
                                                     "xact_commit"),
                   "tup_updated_per_s": rate_between(0, n_last,
                                                     "tup_updated"),
                   "tup_inserted_per_s": rate_between(0, n_last,
                                                      "tup_inserted"),
                   "tup_fetched_per_s": rate_between(0, n_last,
                                                     "tup_fetched"),
                   "pg_cpu_s": round(last["pg_cpu"] - first["pg_cpu"], 1),
                   "pg_cpu_pct_one_core": round(100 * (
                       last["pg_cpu"] - first["pg_cpu"]) / span, 1)},
            "server_cpu_s": round(last["server_cpu"] - first["server_cpu"],
                                  1) if server_pid else None,
            "per_node": nd_res,
            "tables": {t[0]: {"seq_scan": int(t[1]),
                              "seq_tup_read": int(t[2]),
                              "idx_scan": int(t[3]),
                              "idx_tup_fetch": int(t[4]),
                              "ins": int(t[5]), "upd": int(t[6]),
                              "del": int(t[7])} for t in tables},
            "runs": {"rows": int(runs[0]), "accounts": int(runs[1]),
                     "failed": int(runs[2]), "overlapping": int(overlaps),
                     "failures": dict(failures.most_common(5)),
                     "per_account": dict(sorted(per_acct.items()))},
            "note": a.note,
        }
        print()
        print("%d nodes, %d accounts, interval %ds, lease %ds, max-passes "
              "%d, max-per-host %d, %s server, %.0fs run (setup %.0fs)" % (
                  a.nodes, a.accounts, a.interval, a.lease, a.max_passes,
                  a.max_per_host, a.server, run_s, setup))
        print("first round (every account claimed once): %s" % (
            "%.0fs" % res["first_round_s"] if res["first_round_s"]
            else "not finished"))
        print()
        print("| node | claims | passes | CPU s | CPU % one core | RSS MB |"
              " peak RSS MB |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for x in nd_res:
            print("| %d | %d | %d | %.1f | %.1f | %.1f | %.1f |" % (
                x["node"], x["claims"], x["passes"], x["cpu_s"],
                x["cpu_pct"], x["rss_kib"] / 1024, x["peak_rss_kib"] / 1024))
        print()
        print("| phase | claims/s | passes/s | commits/s | tuples "
              "updated/s | postgres CPU % | nodes' CPU % | queue delay "
              "mean / p50 / p99 |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")

        def row(name, r, lag):
            def f(v, pct=False):
                if v is None:
                    return "-"
                return "%.0f" % (100 * v) if pct else "%.1f" % v
            print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, f(r.get("claims_per_s")), f(r.get("passes_per_s")),
                f(r.get("xact_commit_per_s")), f(r.get("tup_updated_per_s")),
                f(r.get("pg_cpu_per_s"), True),
                f(r.get("node_cpu_per_s"), True),
                "%s / %s / %s" % (
                    "%.2fs" % lag["mean_s"] if lag and lag["mean_s"]
                    is not None else "-",
                    fmt_le(lag and lag["p50_le"]),
                    fmt_le(lag and lag["p99_le"])) if lag else "-"))
        whole = {k + "_per_s": rate_between(0, n_last, k) for k in (
            "claims", "passes", "xact_commit", "tup_updated", "pg_cpu",
            "node_cpu")}
        row("first round", first_rd, None)
        row("steady", steady, res_lag.get("steady"))
        row("whole run", whole, res_lag["all"])
        print()
        print("runs: %d rows, %d accounts polled, %d failed, %d "
              "overlapping; runs per account %s" % (
                  res["runs"]["rows"], res["runs"]["accounts"],
                  res["runs"]["failed"], res["runs"]["overlapping"],
                  res["runs"]["per_account"]))
        for k, v in failures.most_common(5):
            print("  %d x %s" % (v, k))
        print("tables (whole run, incl. setup): name seq_scan seq_tup_read "
              "idx_scan idx_tup_fetch ins upd del")
        for t in tables:
            print("  " + " ".join(t))
        print("postgres CPU %.1fs (%.0f%% of one core); peak claims/s %s" % (
            res["db"]["pg_cpu_s"], res["db"]["pg_cpu_pct_one_core"],
            res["claims_per_s_peak"]))
        # inf is not JSON
        line = json.dumps(res, default=str).replace("Infinity", '"+Inf"')
        print(line)
        if a.results:
            with open(a.results, "a") as f:
                f.write(line + "\n")
    finally:
        for nd in nodes:
            if nd.p is not None and nd.p.poll() is None:
                nd.p.kill()
                nd.p.wait()
        if stop_server is not None:
            stop_server()
        if pg is not None:
            pg.stop(remove=not a.keep_tmp)
        if a.keep_tmp:
            print("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
