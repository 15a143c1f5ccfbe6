"""Private clamd and rspamd for test_filters.py, on loopback, in temp dirs.

    cd = clamd()          # shared for the run: cd.socket, cd.port
    rs = rspamd()         # shared for the run: rs.port, rs.log()

clamd (Debian clamav-daemon) runs in the foreground with its own
clamd.conf. freshclam cannot download here, so the signature database is
two tiny custom files: an .hdb with the MD5 of the EICAR test file and an
.ndb matching the EICAR string anywhere (so it is found in a MIME part or
in a plain body alike). clamd starts in about a second with just those.

rspamd (Debian rspamd) runs with -f, its own rspamd.conf (the packaged
common.conf, one normal worker on a free loopback port, no controller or
proxy), LOCAL_CONFDIR/DBDIR/RUNDIR/LOGDIR in the temp dir, as nobody.
No redis. DNS points at a closed loopback port with a short timeout, so
network lookups fail fast instead of hanging. milter_headers is on with
extended_spam_headers, so /checkv2 replies carry milter.add_headers
(X-Spamd-Result, ...). Start-up is ~10 s (hyperscan compile), once per run.

Both are stopped at exit (atexit).
"""
import atexit
import hashlib
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import time

from . import util

CLAMD = "/usr/sbin/clamd"
RSPAMD = "/usr/bin/rspamd"

EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!"
         b"$H+H*")
GTUBE = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

_shared = {}


def _stop(proc):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait(timeout=5)


class Clamd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mp-clamd-", dir="/tmp")
        self.socket = os.path.join(self.dir, "clamd.sock")
        self.proc = None
        self.port = None

    def start(self):
        db = os.path.join(self.dir, "db")
        os.makedirs(db)
        with open(os.path.join(db, "mailpull-test.hdb"), "w") as f:
            f.write("%s:%d:Mailpull-Test-EICAR\n" % (
                hashlib.md5(EICAR).hexdigest(), len(EICAR)))
        with open(os.path.join(db, "mailpull-test.ndb"), "w") as f:
            f.write("Mailpull-Test-EICAR-String:0:*:%s\n" %
                    b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE".hex())
        self.port = util.free_port()
        conf = os.path.join(self.dir, "clamd.conf")
        with open(conf, "w") as f:
            f.write("Foreground yes\nLocalSocket %s\nTCPSocket %d\n"
                    "TCPAddr 127.0.0.1\nDatabaseDirectory %s\n"
                    "LogFile %s/clamd.log\nTemporaryDirectory %s\n"
                    "User root\nScanMail yes\nStreamMaxLength 64M\n" % (
                        self.socket, self.port, db, self.dir, self.dir))
        self.proc = subprocess.Popen(
            [CLAMD, "-c", conf], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "stderr"), "wb"),
            start_new_session=True)
        try:
            util.wait_port(self.port, timeout=60)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        _stop(self.proc)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


CONF = """\
.include "$CONFDIR/common.conf"
options {{
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    dns {{
        nameserver = ["127.0.0.1:1"];
        timeout = 0.2s;
        retransmits = 1;
    }}
}}
logging {{
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "info";
}}
worker "normal" {{
    bind_socket = "127.0.0.1:{port}";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}}
"""


class Rspamd:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mp-rspamd-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.proc = None
        self.port = None

    def start(self):
        for sub in ("local/local.d", "db", "run", "log"):
            os.makedirs(os.path.join(self.dir, sub))
        for sub in ("db", "run", "log"):
            shutil.chown(os.path.join(self.dir, sub), "nobody", "nogroup")
        with open(os.path.join(self.dir, "local/local.d/milter_headers.conf"),
                  "w") as f:
            f.write("extended_spam_headers = true;\nskip_local = false;\n"
                    "skip_authenticated = false;\n")
        self.port = util.free_port()
        conf = os.path.join(self.dir, "rspamd.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(port=self.port))
        d = self.dir
        self.proc = subprocess.Popen(
            [RSPAMD, "-f", "-c", conf, "-u", "nobody", "-g", "nogroup",
             "--var=LOCAL_CONFDIR=%s/local" % d, "--var=DBDIR=%s/db" % d,
             "--var=RUNDIR=%s/run" % d, "--var=LOGDIR=%s/log" % d],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(d, "stderr"), "wb"),
            start_new_session=True)
        deadline = time.monotonic() + 120 * util.slow_factor()
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port,
                                               timeout=10)
                c.request("POST", "/checkv2", body=b"Subject: x\n\nx\n")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = open(os.path.join(d, "stderr"), "rb").read()
                self.stop()
                raise RuntimeError("rspamd did not start: %r" % err[-2000:])
            time.sleep(0.3)
        return self

    def log(self):
        try:
            with open(os.path.join(self.dir, "log/rspamd.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        _stop(self.proc)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _get(name, cls, binary):
    if not os.path.exists(binary):
        raise util.SkipTest("%s is not installed (scripts/install-deps)" %
                            binary)
    s = _shared.get(name)
    if s is None or s.proc is None or s.proc.poll() is not None:
        s = cls().start()
        _shared[name] = s
        atexit.register(s.stop)
    return s


def clamd():
    return _get("clamd", Clamd, CLAMD)


def rspamd():
    return _get("rspamd", Rspamd, RSPAMD)
