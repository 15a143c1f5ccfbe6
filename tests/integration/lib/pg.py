"""A private PostgreSQL for the integration tests and benchmarks.

A thin wrapper around scripts/pg-test-server, so the shell (make check) and
Python use one recipe: initdb into a temporary directory, C locale, UTF-8,
trust authentication on 127.0.0.1 and the unix socket only, a free
loopback port, fsync on. As root the server runs as the "postgres" user
(nobody if missing), the way lib.dovecot runs mail processes as nobody.

Usage:
    pg = PostgreSQL(tmp_root=ctx.tmp).start()
    url = pg.newdb()             # postgresql://USER@127.0.0.1:PORT/mp_1234_1
    url = pg.newdb("store_a")    # a chosen name ([a-z_][a-z0-9_]*)
    pg.dropdb("store_a")
    pg.base                      # postgresql://USER@127.0.0.1:PORT
    pg.stop()                    # stops and removes the directory

Or as a context manager: with PostgreSQL() as pg: ...

As root, tmp_root must be traversable by the server's user (run.py's
shared root is 0755; a test's ctx.tmp is not).
"""
import itertools
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.normpath(os.path.join(HERE, "..", "..", "..", "scripts",
                                       "pg-test-server"))


def available():
    """True when PostgreSQL's server binaries are installed here."""
    if os.environ.get("PG_BINDIR"):
        return os.access(os.path.join(os.environ["PG_BINDIR"], "initdb"),
                         os.X_OK)
    root = "/usr/lib/postgresql"
    try:
        for v in os.listdir(root):
            if os.access(os.path.join(root, v, "bin", "initdb"), os.X_OK):
                return True
    except OSError:
        pass
    return shutil.which("initdb") is not None


class PostgreSQL:
    _ids = itertools.count(1)

    def __init__(self, tmp_root=None):
        self.dir = tempfile.mkdtemp(prefix="mailpull-pg-", dir=tmp_root)
        self.base = None
        self.started = False

    def _run(self, *args):
        r = subprocess.run([SCRIPT] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError("pg-test-server %s failed:\n%s" % (
                args[0], r.stderr.decode("utf-8", "replace")))
        return r.stdout.decode("utf-8").strip()

    def start(self):
        out = self._run("start", self.dir)
        for line in out.splitlines():
            if line.startswith("MAILPULL_TEST_PG_BASE="):
                self.base = line.split("=", 1)[1]
        if not self.base:
            raise RuntimeError("pg-test-server start printed no URL: %r"
                               % out)
        self.started = True
        return self

    def newdb(self, name=None):
        """Create a database; returns its URL."""
        if name is None:
            name = "mp_%d_%d" % (os.getpid(), next(PostgreSQL._ids))
        return self._run("newdb", self.dir, name).splitlines()[-1]

    def dropdb(self, name):
        self._run("dropdb", self.dir, name)

    def log(self):
        try:
            with open(os.path.join(self.dir, "run", "postgres.log"),
                      "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, remove=True):
        if self.started:
            try:
                self._run("stop", self.dir)
            finally:
                self.started = False
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
