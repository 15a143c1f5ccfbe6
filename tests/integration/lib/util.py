"""Small helpers shared by the harness and the tests."""
import os
import socket
import time


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0, host="127.0.0.1"):
    """Wait until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError as e:
            last = e
            time.sleep(0.05)
    raise TimeoutError("port %d not accepting: %s" % (port, last))


def sanitized():
    return os.environ.get("MAILPULL_SANITIZED") == "1"


def slow_factor():
    """Multiply timeouts by this (ASan/UBSan builds are slower)."""
    return 4.0 if sanitized() else 1.0


class SkipTest(Exception):
    """Raised by a test that cannot run here (reported as ok/skip)."""
