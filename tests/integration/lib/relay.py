"""A TCP relay in front of a real server that counts connections at once.

    rl = Relays(delay=0.3)
    port = rl.add("127.0.0.2", dovecot.pop3)   # listen on 127.0.0.2:port
    ... mailpull connects to 127.0.0.2:port ...
    rl.max_total, rl.max_by_host["127.0.0.2"], rl.connections
    rl.stop()

Every address in 127.0.0.0/8 is loopback on Linux, so relays on
127.0.0.1, 127.0.0.2, ... are distinct remote hosts for a client (its
per-host cap counts host names) while the real Dovecot behind them stays
one. Bytes are passed through unchanged; the server's greeting is held
back `delay` seconds so passes overlap long enough for their number to be
seen.

What is counted: a connection from its accept() until the client's
logout command (POP3 "QUIT", IMAP "tag LOGOUT") passes through, or its
end, whichever comes first. Both ends lie inside the client's own
connection, and the logout is read here before the server can answer it,
so before the client can close and open its next connection: the counts
can miss overlap but never invent it. An upper bound asserted on them
holds for the client; "the cap was reached" is then a lower bound.
"""
import re
import select
import socket
import threading
import time

_LOGOUT = re.compile(rb"(?:^|\n)(?:QUIT|[^ \r\n]+ LOGOUT)\r?\n", re.I)


class Relays:
    def __init__(self, delay=0.0, upstream_host="127.0.0.1"):
        self.delay = delay
        self.upstream_host = upstream_host
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listeners = []
        self._threads = []
        self.cur_total = 0
        self.max_total = 0
        self.cur_by_host = {}
        self.max_by_host = {}
        self.connections = 0
        self.errors = []

    # ---- set-up ---------------------------------------------------------
    def add(self, host, upstream_port):
        """Listen on host (a loopback address) at a free port relaying to
        upstream_port; returns the port."""
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, 0))
        ls.listen(128)
        ls.settimeout(0.2)
        self._listeners.append(ls)
        with self._lock:
            self.cur_by_host.setdefault(host, 0)
            self.max_by_host.setdefault(host, 0)
        t = threading.Thread(target=self._accept_loop,
                             args=(ls, host, upstream_port), daemon=True)
        t.start()
        self._threads.append(t)
        return ls.getsockname()[1]

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(5)
        for ls in self._listeners:
            ls.close()

    def reset(self):
        with self._lock:
            self.max_total = self.cur_total
            for h in self.max_by_host:
                self.max_by_host[h] = self.cur_by_host[h]
            self.connections = 0

    # ---- counting -------------------------------------------------------
    def _open(self, host):
        with self._lock:
            self.connections += 1
            self.cur_total += 1
            self.cur_by_host[host] += 1
            self.max_total = max(self.max_total, self.cur_total)
            self.max_by_host[host] = max(self.max_by_host[host],
                                         self.cur_by_host[host])

    def _close(self, host):
        with self._lock:
            self.cur_total -= 1
            self.cur_by_host[host] -= 1

    # ---- relaying -------------------------------------------------------
    def _accept_loop(self, ls, host, upstream_port):
        while not self._stop.is_set():
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._open(host)
            t = threading.Thread(target=self._serve,
                                 args=(c, host, upstream_port), daemon=True)
            t.start()

    def _serve(self, c, host, upstream_port):
        counted = True
        u = None
        try:
            u = socket.create_connection((self.upstream_host, upstream_port),
                                         timeout=10)
            if self.delay:
                time.sleep(self.delay)
            c.setblocking(True)
            u.setblocking(True)
            tail = b""
            while not self._stop.is_set():
                r, _, _ = select.select([c, u], [], [], 0.5)
                done = False
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        done = True
                        break
                    if s is c and counted:
                        # a command may be split over reads
                        if _LOGOUT.search(tail + data):
                            counted = False
                            self._close(host)
                        tail = (tail + data)[-64:]
                    (u if s is c else c).sendall(data)
                if done:
                    break
        except OSError as e:
            self.errors.append("%s: %s" % (host, e))
        finally:
            if counted:
                self._close(host)
            for s in (c, u):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
