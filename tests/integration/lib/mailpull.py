"""Running the mailpull binary in tests.

    mp = Mailpull(binary, state_dir)
    mp.add_account("acct", host="127.0.0.1", port=110, security="none",
                   user="u", password="pw", target="maildir:%s/%%u/Maildir"
                   % d, extra=["--keep"])
    r = mp.fetch("acct")          # Result(code, out, err, rss_kib, secs)
    msgs = read_maildir(path)     # delivered files' bytes
    body = strip_received(data)   # without mailpull's trace header

Every run has a timeout (killed and reported on expiry) and is reaped with
os.wait4, so the peak RSS of that process alone is known (ru_maxrss, KiB on
Linux).
"""
import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

from . import util


class Result:
    def __init__(self, argv, code, out, err, rss_kib, secs, timed_out):
        self.argv = argv
        self.code = code
        self.out = out
        self.err = err
        self.rss_kib = rss_kib
        self.secs = secs
        self.timed_out = timed_out

    @property
    def stdout(self):
        return self.out.decode("utf-8", "replace")

    @property
    def stderr(self):
        return self.err.decode("utf-8", "replace")

    def __repr__(self):
        return ("<mailpull %s: exit %s in %.1fs, rss %s KiB%s\n"
                "--- stdout ---\n%s--- stderr ---\n%s>" % (
                    " ".join(self.argv[1:]), self.code, self.secs,
                    self.rss_kib, " TIMED OUT" if self.timed_out else "",
                    _tail(self.stdout), _tail(self.stderr)))


def _tail(s, n=4000):
    if len(s) > n:
        s = "...\n" + s[-n:]
    return s if s.endswith("\n") or not s else s + "\n"


_SUBREAPER = None


def _become_subreaper():
    """PR_SET_CHILD_SUBREAPER, so a grandchild whose parent exits is
    reparented to us and we can wait4() it."""
    global _SUBREAPER
    if _SUBREAPER is None:
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            _SUBREAPER = libc.prctl(36, 1, 0, 0, 0) == 0
        except Exception:
            _SUBREAPER = False
    return _SUBREAPER


# Why the detour through sh: on Linux ru_maxrss survives execve (the old
# address space's high-water mark is kept), and subprocess forks/vforks
# this Python process, whose RSS (tens of MB with the corpus loaded) would
# then be the "peak RSS" of every mailpull run. sh is small: it forks a
# subshell, prints its pid and exits; the subshell is reparented to us
# (subreaper), waits on a FIFO until we say go (so sh can never reap it
# first), then execs mailpull with sh's small mark, and we wait4() it.
_LAUNCH = ('pidfile=$1; go=$2; shift 2; exec 4<&0; '
           '( read x < "$go"; exec "$@" <&4 4<&- ) & '
           'echo $! > "$pidfile"')


def _release(fifo, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as e:
            if e.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.001)
    try:
        os.write(fd, b"go\n")
    finally:
        os.close(fd)


class Proc:
    """A started mailpull process (for the crash and concurrency tests)."""

    def __init__(self, argv, env, stdin_bytes=None, cwd=None):
        self.argv = argv
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.start = time.monotonic()
        self.result = None
        stdin = (subprocess.PIPE if stdin_bytes is not None
                 else subprocess.DEVNULL)
        if _become_subreaper():
            d = tempfile.mkdtemp(prefix="mailpull-launch-")
            pidfile, fifo = os.path.join(d, "pid"), os.path.join(d, "go")
            os.mkfifo(fifo, 0o600)
            try:
                sh = subprocess.Popen(
                    ["/bin/sh", "-c", _LAUNCH, "sh", pidfile, fifo] +
                    list(argv), env=env, cwd=cwd, stdin=stdin,
                    stdout=self._out, stderr=self._err)
                sh.wait()
                with open(pidfile, "rb") as f:
                    pid = f.read().strip()
                if pid:
                    _release(fifo)
                self._write_stdin(sh, stdin_bytes)
            finally:
                shutil.rmtree(d, ignore_errors=True)
            if not pid:
                raise RuntimeError("could not start %s" % argv)
            self._pid = int(pid)
            self.p = None
        else:
            self.p = subprocess.Popen(argv, env=env, cwd=cwd, stdin=stdin,
                                      stdout=self._out, stderr=self._err)
            self._pid = self.p.pid
            self._write_stdin(self.p, stdin_bytes)

    @staticmethod
    def _write_stdin(p, data):
        if data is None:
            return
        try:
            p.stdin.write(data)
        except BrokenPipeError:
            pass
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass

    @property
    def pid(self):
        return self._pid

    def kill(self, sig=signal.SIGKILL):
        if self.result is None:
            try:
                os.kill(self._pid, sig)
            except ProcessLookupError:
                pass

    def poll(self):
        if self.result is not None:
            return self.result
        pid, status, ru = os.wait4(self._pid, os.WNOHANG)
        if pid == 0:
            return None
        return self._finish(status, ru, False)

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.result is None:
            r = self.poll()
            if r is not None:
                return r
            if time.monotonic() > deadline:
                self.kill()
                _, status, ru = os.wait4(self._pid, 0)
                return self._finish(status, ru, True)
            time.sleep(0.01)
        return self.result

    def _finish(self, status, ru, timed_out):
        secs = time.monotonic() - self.start
        code = os.waitstatus_to_exitcode(status)
        if self.p is not None:
            # tell Popen the child is gone: it must never wait on a reused
            # pid
            self.p.returncode = code
        self._out.seek(0)
        self._err.seek(0)
        out, err = self._out.read(), self._err.read()
        self._out.close()
        self._err.close()
        self.result = Result(self.argv, code, out, err, ru.ru_maxrss, secs,
                             timed_out)
        return self.result


class Mailpull:
    def __init__(self, binary, state, tmp=None, env=None):
        self.binary = binary
        self.state = state
        self.tmp = tmp or os.path.dirname(state)
        self.env = dict(os.environ)
        self.env.pop("MAILPULL_STATE", None)
        # a terminal-free, predictable environment
        self.env.setdefault("LC_ALL", "C.UTF-8")
        if env:
            self.env.update(env)
        self.history = []
        self.procs = []

    def kill_all(self):
        """Kill and reap every process this wrapper started that is still
        running (test clean-up)."""
        for p in self.procs:
            if p.result is None:
                p.kill()
                try:
                    p.wait(10)
                except ChildProcessError:
                    pass

    def argv(self, args, state=True):
        argv = [self.binary]
        if state:
            argv += ["--state", self.state]
        return argv + [str(a) for a in args]

    def start(self, args, env=None, stdin=None, state=True):
        e = dict(self.env)
        if env:
            e.update(env)
        p = Proc(self.argv(args, state), e, stdin_bytes=stdin)
        self.procs.append(p)
        return p

    def run(self, args, timeout=60, env=None, stdin=None, state=True):
        """Run to completion; returns a Result (timed_out=True and the
        process killed when the timeout expired)."""
        p = self.start(args, env=env, stdin=stdin, state=state)
        r = p.wait(timeout * util.slow_factor())
        self.history.append(r)
        return r

    def add_account(self, acct, host="127.0.0.1", port=None, protocol="pop3",
                    security=None, user=None, password=None,
                    password_via="env", target=None, ca_file=None,
                    no_verify=False, extra=(), check=True):
        """account add with the usual options. password_via: env | file |
        stdin. The password may be str or bytes."""
        args = ["account", "add", acct, "--protocol", protocol,
                "--host", host]
        if port is not None:
            args += ["--port", port]
        if security is not None:
            args += ["--security", security]
        if ca_file:
            args += ["--ca-file", ca_file]
        if no_verify:
            args += ["--no-verify"]
        args += ["--user", user if user is not None else acct]
        env, stdin = None, None
        if isinstance(password, str):
            password = password.encode("utf-8")
        if password is not None:
            if password_via == "env":
                var = "MP_TEST_PW_%s" % "".join(
                    c if c.isalnum() else "_" for c in acct).upper()
                args += ["--password-env", var]
                env = {var: password}
            elif password_via == "file":
                fd, path = tempfile.mkstemp(prefix="pw-", dir=self.tmp)
                os.write(fd, password + b"\n")
                os.close(fd)
                args += ["--password-file", path]
            elif password_via == "stdin":
                stdin = password + b"\n"
            else:
                raise ValueError(password_via)
        if target is not None:
            args += ["--target", target]
        args += list(extra)
        # Popen fsencodes every key and value, so bytes values are fine
        r = self.run(args, env=env, stdin=stdin)
        if check and r.code != 0:
            raise AssertionError("account add failed: %r" % r)
        return r

    def fetch(self, *accts, timeout=120, env=None):
        return self.run(["fetch"] + list(accts), timeout=timeout, env=env)

    # ---- the store --------------------------------------------------
    @property
    def db_path(self):
        return os.path.join(self.state, "mailpull.db")

    def db(self):
        c = sqlite3.connect(self.db_path, timeout=30)
        return c

    def db_query(self, sql, params=()):
        c = self.db()
        try:
            return c.execute(sql, params).fetchall()
        finally:
            c.close()

    def db_exec(self, sql, params=()):
        c = self.db()
        try:
            c.execute(sql, params)
            c.commit()
        finally:
            c.close()


# ---- Maildir ----------------------------------------------------------
def maildir_files(path):
    """Paths of the messages in a Maildir (new/ and cur/), sorted."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if os.path.isdir(d):
            out.extend(os.path.join(d, n) for n in sorted(os.listdir(d))
                       if not n.startswith("."))
    return out


def read_maildir(path):
    """[(file name, bytes)] of every delivered message."""
    out = []
    for p in maildir_files(path):
        with open(p, "rb") as f:
            out.append((os.path.basename(p), f.read()))
    return out


def maildir_tmp_files(path):
    d = os.path.join(path, "tmp")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def maildir_pending(path, pids):
    """Messages written into the Maildir at path and not yet synced into
    new/: files in tmp/, plus the unnamed O_TMPFILE files in tmp/ that the
    processes pids hold open (their /proc/PID/fd links read
    "PATH/tmp/#INODE (deleted)")."""
    n = len(maildir_tmp_files(path))
    tmpdir = os.path.realpath(os.path.join(path, "tmp")) + "/"
    queue, seen = list(pids), set()
    while queue:   # the processes and their descendants
        pid = queue.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    queue += [int(c) for c in f.read().split()]
        except OSError:
            pass
    for pid in seen:
        fddir = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(fddir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fddir, fd))
            except OSError:
                continue
            if target.startswith(tmpdir):
                n += 1
    return n


def strip_received(data):
    """Remove mailpull's trace header: exactly one leading 'Received: '
    field (continuation lines start with a tab or space). Raises
    AssertionError when the message does not start with one."""
    if not data.startswith(b"Received: "):
        raise AssertionError("delivered message does not start with "
                             "mailpull's Received: header: %r" % data[:200])
    pos = data.find(b"\n")
    if pos < 0:
        raise AssertionError("Received: header without a newline")
    pos += 1
    while pos < len(data) and data[pos:pos + 1] in (b" ", b"\t"):
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise AssertionError("unterminated Received: header")
        pos = nl + 1
    return data[pos:]


def received_header(data):
    body = strip_received(data)
    return data[:len(data) - len(body)]


def delivered_bodies(path):
    """The delivered messages with mailpull's trace header stripped."""
    return [strip_received(d) for _, d in read_maildir(path)]
