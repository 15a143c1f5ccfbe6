#!/usr/bin/env python3
"""Scale measurement of `mailpull serve` (not a test).

    python3 bench/scale/scale.py --binary build/mailpull [--accounts 1000]
        [--interval 60] [--duration 150] [--idle 0] [--msgs 2]

Starts a private Dovecot (the integration harness's, with process limits
raised for IDLE), creates N users with a few messages each, adds N POP3
accounts (keep mode, so every later pass lists and diffs) and optionally
--idle IMAP accounts with --idle, runs one serve for --duration seconds on
--interval, and reports: CPU seconds and % of one core, peak RSS (VmHWM),
file descriptors, passes (connections) per second, schedule lag (queue
delay histogram), IDLE connections held. One JSON line at the end.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

from lib import dovecot as dovecot_mod  # noqa: E402
from lib import corpus, util  # noqa: E402

EXTRA_CONF = """
default_process_limit = 5000
default_client_limit = 20000
service imap {
  process_limit = 5000
}
service pop3 {
  process_limit = 5000
}
service imap-login {
  process_min_avail = 2
  service_count = 0
  client_limit = 5000
}
service pop3-login {
  service_count = 0
  client_limit = 5000
}
service anvil {
  client_limit = 20000
}
service auth {
  client_limit = 20000
}
"""


class BigDovecot(dovecot_mod.Dovecot):
    """The harness's Dovecot with process and client limits raised."""

    def start(self):
        saved = dovecot_mod.CONF
        dovecot_mod.CONF = saved + EXTRA_CONF.replace("{", "{{").replace(
            "}", "}}")
        try:
            return super().start()
        finally:
            dovecot_mod.CONF = saved


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tck


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


def add_accounts(binary, state, dv, users, protocol, extra, target):
    port = dv.pop3 if protocol == "pop3" else dv.imap
    env = dict(os.environ, MP_PW="")
    for u in users:
        env["MP_PW"] = "pw-%s" % u
        r = subprocess.run(
            [binary, "--state", state, "account", "add",
             "%s@example.org" % u, "--protocol", protocol, "--host",
             "127.0.0.1", "--port", str(port), "--security", "none",
             "--user", u, "--password-env", "MP_PW", "--target", target,
             "--keep"] + extra, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise SystemExit("account add failed: %s" % r.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=0)
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--duration", type=int, default=150)
    ap.add_argument("--msgs", type=int, default=2)
    ap.add_argument("--max-passes", type=int, default=8)
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    root = tempfile.mkdtemp(prefix="mailpull-scale-")
    os.chmod(root, 0o755)
    dv = BigDovecot(ssl=False, tmp_root=root).start()
    try:
        t0 = time.monotonic()
        msgs = corpus.subset(a.msgs, seed=7, max_size=64 * 1024)
        pop = ["s%d" % i for i in range(a.accounts)]
        idle = ["i%d" % i for i in range(a.idle)]
        for u in pop + idle:
            dv.add_user(u, "pw-%s" % u)
            dv.deliver_all(u, msgs)
        state = os.path.join(root, "state")
        target = "maildir:%s/mail/%%u/Maildir" % root
        subprocess.run([binary, "--state", state, "config", "set",
                        "max-passes", str(a.max_passes)], check=True,
                       stdout=subprocess.DEVNULL)
        add_accounts(binary, state, dv, pop, "pop3", [], target)
        add_accounts(binary, state, dv, idle, "imap", ["--idle"], target)
        setup = time.monotonic() - t0
        mfile = os.path.join(root, "metrics.prom")
        err = open(os.path.join(root, "serve.log"), "wb")
        p = subprocess.Popen(
            [binary, "--state", state, "serve", "--no-syslog",
             "--allow-root", "--interval", "%ds" % a.interval,
             "--listen", "127.0.0.1:%d" % util.free_port(),
             "--metrics-file", mfile],
            stdout=subprocess.DEVNULL, stderr=err)
        start = time.monotonic()
        cpu0 = proc_stat(p.pid)
        fds_max = 0
        idle_max = 0
        while time.monotonic() - start < a.duration:
            time.sleep(2)
            if p.poll() is not None:
                raise SystemExit("serve exited: %s" % p.returncode)
            fds_max = max(fds_max, len(os.listdir("/proc/%d/fd" % p.pid)))
            try:
                with open(mfile) as f:
                    idle_max = max(idle_max, metric(
                        f.read(), "mailpull_idle_connections"))
            except OSError:
                pass
        secs = time.monotonic() - start
        cpu = proc_stat(p.pid) - cpu0
        hwm = proc_status(p.pid, "VmHWM")
        rss = proc_status(p.pid, "VmRSS")
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        with open(mfile) as f:   # rewritten once more at exit
            text = f.read()
        passes = sum(float(x) for x in re.findall(
            r'^mailpull_passes_total\{result="[^"]+"\} (\S+)$', text, re.M))
        ok = metric(text, 'mailpull_passes_total{result="ok"}')
        cnt = metric(text, "mailpull_queue_delay_seconds_count")
        dsum = metric(text, "mailpull_queue_delay_seconds_sum")
        buckets = re.findall(
            r'^mailpull_queue_delay_seconds_bucket\{le="([^"]+)"\} (\S+)$',
            text, re.M)
        p99 = None
        for le, c in buckets:
            if cnt and float(c) >= 0.99 * cnt:
                p99 = le
                break
        res = {
            "accounts": a.accounts, "idle_accounts": a.idle,
            "interval_s": a.interval, "run_s": round(secs, 1),
            "setup_s": round(setup, 1),
            "passes": passes, "passes_ok": ok,
            "passes_per_s": round(passes / secs, 1),
            "cpu_s": round(cpu, 2), "cpu_pct_one_core":
            round(100 * cpu / secs, 1),
            "peak_rss_kib": hwm, "rss_kib": rss, "fds_max": fds_max,
            "idle_connections_max": idle_max,
            "queue_delay_mean_s": round(dsum / cnt, 3) if cnt else None,
            "queue_delay_p99_le_s": p99,
            "messages_fetched": metric(
                text, "mailpull_messages_fetched_total"),
        }
        print(json.dumps(res))
    finally:
        dv.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
