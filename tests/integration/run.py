#!/usr/bin/env python3
"""Integration test runner for mailpull.

    python3 tests/integration/run.py --binary /abs/path/mailpull \\
        [--prefix asan:] [--results FILE] [-k SUBSTRING] [--keep-tmp]

Discovers tests/integration/test_*.py, runs every function named test_*
(in file order) with one argument, a Ctx (see below). Prints one line per
test ("ok NAME (1.2s)" / "FAIL NAME: reason" + traceback), appends
"pass PREFIXNAME" / "fail PREFIXNAME" to FILE, exits 1 if any test failed.

Environment: MAILPULL_SANITIZED=1 means an ASan/UBSan binary (no RSS
bounds, longer timeouts).

A test gets ctx with:
  ctx.binary, ctx.name
  ctx.tmp                    a fresh temp dir, removed after the test
  ctx.dovecot                the shared private Dovecot (ssl on), started
                             on first use, stopped at the end of the run
  ctx.dovecot_nossl          a second instance with ssl = no
  ctx.user(prefix="u")       a fresh Dovecot user name unique in this run
  ctx.mailpull(state=None)   a Mailpull wrapper with its own state dir
  ctx.fakepop3(...)          a started FakePOP3, stopped after the test
  ctx.cleanup(fn)            run fn after the test, even on failure
"""
import argparse
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from lib import dovecot as dovecot_mod  # noqa: E402
from lib import fakepop3 as fakepop3_mod  # noqa: E402
from lib import mailpull as mailpull_mod  # noqa: E402
from lib import util  # noqa: E402


class Shared:
    """Resources shared by every test of one run."""

    def __init__(self, root):
        self.root = root
        self._dv = None
        self._dv_nossl = None
        self._certs = None
        self._users = 0

    @property
    def certs(self):
        if self._certs is None:
            self._certs = dovecot_mod.make_certs(
                os.path.join(self.root, "certs"))
        return self._certs

    def dovecot(self):
        if self._dv is None or self._dv.proc is None or \
                self._dv.proc.poll() is not None:
            self._dv = dovecot_mod.Dovecot(ssl=True, certs=self.certs,
                                           tmp_root=self.root).start()
        return self._dv

    def dovecot_nossl(self):
        if self._dv_nossl is None or self._dv_nossl.proc is None:
            self._dv_nossl = dovecot_mod.Dovecot(
                ssl=False, certs=self.certs, tmp_root=self.root).start()
        return self._dv_nossl

    def next_user(self, prefix):
        self._users += 1
        return "%s%d" % (prefix, self._users)

    def close(self):
        for dv in (self._dv, self._dv_nossl):
            if dv is not None:
                dv.stop()


class Ctx:
    def __init__(self, shared, binary, name, keep_tmp=False):
        self.shared = shared
        self.binary = binary
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="t-%s-" % name[:40],
                                    dir=shared.root)
        self._cleanups = []
        self.keep_tmp = keep_tmp
        self._mp = 0

    @property
    def dovecot(self):
        return self.shared.dovecot()

    @property
    def dovecot_nossl(self):
        return self.shared.dovecot_nossl()

    @property
    def certs(self):
        return self.shared.certs

    def user(self, prefix="u"):
        return self.shared.next_user(prefix)

    def mailpull(self, state=None, env=None):
        self._mp += 1
        if state is None:
            state = os.path.join(self.tmp, "state%d" % self._mp)
        mp = mailpull_mod.Mailpull(self.binary, state, tmp=self.tmp,
                                   env=env)
        self.cleanup(mp.kill_all)
        return mp

    def fakepop3(self, *args, **kw):
        kw.setdefault("certs", self.certs)
        srv = fakepop3_mod.FakePOP3(*args, **kw).start()
        self.cleanup(srv.stop)
        return srv

    def cleanup(self, fn):
        self._cleanups.append(fn)

    def close(self):
        errors = []
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception:
                errors.append(traceback.format_exc())
        if not self.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return errors


def discover(pattern):
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        path = os.path.join(HERE, fn)
        spec = importlib.util.spec_from_file_location(fn[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        funcs = [(name, obj) for name, obj in vars(mod).items()
                 if name.startswith("test_") and callable(obj)]
        funcs.sort(key=lambda kv: kv[1].__code__.co_firstlineno)
        for name, f in funcs:
            if pattern is None or any(p in name for p in pattern):
                tests.append((name, f))
    return tests


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--results")
    ap.add_argument("-k", action="append", dest="pattern",
                    help="run tests whose name contains this (repeatable)")
    ap.add_argument("--keep-tmp", action="store_true",
                    help="keep the temp dirs of the tests (debugging)")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    tests = discover(a.pattern)
    if a.list:
        for name, _ in tests:
            print(name)
        return 0
    if not tests:
        print("no tests match", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("warning: not root; the private Dovecot needs root",
              file=sys.stderr)
    # SIGTERM (e.g. a CI timeout) still runs the cleanups below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = tempfile.mkdtemp(prefix="mailpull-integ-")
    os.chmod(root, 0o755)
    shared = Shared(root)
    results = []
    t_all = time.monotonic()
    try:
        for name, f in tests:
            ctx = Ctx(shared, binary, name, keep_tmp=a.keep_tmp)
            t0 = time.monotonic()
            ok, reason, tb, skipped = True, "", "", None
            try:
                if not name.startswith("test_harness") and \
                        not os.access(binary, os.X_OK):
                    raise AssertionError("no binary at %s" % binary)
                f(ctx)
            except util.SkipTest as e:
                skipped = str(e)
            except Exception as e:
                ok = False
                reason = ("%s: %s" % (type(e).__name__, e)).split("\n")[0]
                tb = traceback.format_exc()
            errs = ctx.close()
            dt = time.monotonic() - t0
            if ok and skipped is not None:
                print("ok %s (skipped: %s) (%.1fs)" % (name, skipped, dt))
            elif ok:
                print("ok %s (%.1fs)" % (name, dt))
            else:
                print("FAIL %s: %s (%.1fs)" % (name, reason[:300], dt))
                print("    " + tb.replace("\n", "\n    ").rstrip())
            for e in errs:
                print("    cleanup error: " + e.replace("\n", "\n    "))
            sys.stdout.flush()
            results.append((name, ok))
            if a.results:
                with open(a.results, "a") as rf:
                    rf.write("%s %s%s\n" % ("pass" if ok else "fail",
                                            a.prefix, name))
    finally:
        shared.close()
        if not a.keep_tmp:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("temp files kept in %s" % root)
    failed = [n for n, ok in results if not ok]
    print("%d passed, %d failed (%.0fs)" % (len(results) - len(failed),
                                            len(failed),
                                            time.monotonic() - t_all))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
