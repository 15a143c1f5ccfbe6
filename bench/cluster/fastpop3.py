#!/usr/bin/env python3
"""A fast POP3 server for the cluster bench: any user, any password, the
same few small messages per user (generated from the user name), keep
mode. One asyncio loop per process, --procs processes on one port
(SO_REUSEPORT). Not a test double for protocol faults (that is
tests/integration/lib/fakepop3.py): it only has to be cheap enough that
10,000 accounts' passes measure mailpull and PostgreSQL, not the server.

    python3 bench/cluster/fastpop3.py --port 1110 [--msgs 1] [--size 1500]
        [--procs 1]

Prints "ready PORT" on stdout once listening. Commands: CAPA, USER, PASS,
STAT, UIDL, LIST, RETR, TOP, DELE (marks, never removes), RSET, NOOP,
QUIT.
"""
import argparse
import asyncio
import os
import signal
import socket
import sys

CAPA = (b"+OK capabilities\r\nUSER\r\nUIDL\r\nTOP\r\nPIPELINING\r\n"
        b"RESP-CODES\r\n.\r\n")


def message(user, k, size):
    """Message k of user: deterministic, about size bytes, CRLF, no line
    starting with a dot."""
    u = user.decode("ascii", "replace")
    head = ("Message-ID: <%d.%s@bench.example>\r\n"
            "From: Sender %d <sender%d@remote.example>\r\n"
            "To: %s@example.org\r\n"
            "Subject: cluster bench message %d for %s\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n" % (
                k, u, k, k, u, k, u))
    line = "The quick brown fox %s jumps over the lazy dog %d.\r\n" % (u, k)
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode("ascii")


class Server:
    def __init__(self, msgs, size):
        self.msgs = msgs
        self.size = size
        self.cache = {}

    def mailbox(self, user):
        box = self.cache.get(user)
        if box is None:
            box = [message(user, k, self.size) for k in range(self.msgs)]
            if len(self.cache) < 200000:
                self.cache[user] = box
        return box

    async def session(self, reader, writer):
        w = writer.write
        w(b"+OK fastpop3 ready\r\n")
        user, box, deleted = None, None, set()
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd, _, arg = line.strip().partition(b" ")
                cmd = cmd.upper()
                if cmd == b"QUIT":
                    w(b"+OK bye\r\n")
                    break
                if cmd == b"CAPA":
                    w(CAPA)
                elif cmd == b"NOOP":
                    w(b"+OK\r\n")
                elif box is None:
                    if cmd == b"USER" and arg:
                        user = arg
                        w(b"+OK\r\n")
                    elif cmd == b"PASS" and user is not None:
                        box = self.mailbox(user)
                        w(b"+OK logged in\r\n")
                    else:
                        w(b"-ERR [AUTH] not authenticated\r\n")
                else:
                    self.command(w, cmd, arg, box, deleted)
                if not reader._buffer:   # pipelined commands: one write
                    await writer.drain()
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    @staticmethod
    def _num(arg, box, deleted):
        try:
            n = int(arg.split()[0])
        except (ValueError, IndexError):
            return None
        if n < 1 or n > len(box) or n in deleted:
            return None
        return n

    def command(self, w, cmd, arg, box, deleted):
        live = [(i + 1, m) for i, m in enumerate(box) if i + 1 not in deleted]
        if cmd == b"STAT":
            w(b"+OK %d %d\r\n" % (len(live), sum(len(m) for _, m in live)))
        elif cmd in (b"UIDL", b"LIST"):
            def item(n, m):
                return (b"%d u%d" % (n, n - 1) if cmd == b"UIDL"
                        else b"%d %d" % (n, len(m)))
            if arg:
                n = self._num(arg, box, deleted)
                if n is None:
                    w(b"-ERR no such message\r\n")
                else:
                    w(b"+OK " + item(n, box[n - 1]) + b"\r\n")
            else:
                w(b"+OK\r\n" + b"".join(item(n, m) + b"\r\n"
                                        for n, m in live) + b".\r\n")
        elif cmd == b"RETR":
            n = self._num(arg, box, deleted)
            if n is None:
                w(b"-ERR no such message\r\n")
            else:
                m = box[n - 1]
                w(b"+OK %d octets\r\n" % len(m) + m + b".\r\n")
        elif cmd == b"TOP":
            n = self._num(arg, box, deleted)
            if n is None:
                w(b"-ERR no such message\r\n")
            else:
                head = box[n - 1].split(b"\r\n\r\n", 1)[0]
                w(b"+OK\r\n" + head + b"\r\n\r\n.\r\n")
        elif cmd == b"DELE":
            n = self._num(arg, box, deleted)
            if n is None:
                w(b"-ERR no such message\r\n")
            else:
                deleted.add(n)
                w(b"+OK\r\n")
        elif cmd == b"RSET":
            deleted.clear()
            w(b"+OK\r\n")
        else:
            w(b"-ERR unknown command\r\n")


async def serve(sock, srv):
    server = await asyncio.start_server(srv.session, sock=sock,
                                        backlog=4096, limit=1 << 16)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--msgs", type=int, default=1)
    ap.add_argument("--size", type=int, default=1500)
    ap.add_argument("--procs", type=int, default=1)
    a = ap.parse_args()
    socks = []
    for _ in range(a.procs):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", a.port))
        s.listen(4096)
        s.setblocking(False)
        socks.append(s)
    print("ready %d" % a.port, flush=True)
    kids = []
    for s in socks[1:]:
        pid = os.fork()
        if pid == 0:
            asyncio.run(serve(s, Server(a.msgs, a.size)))
            os._exit(0)
        kids.append(pid)

    def stop(*_):
        for k in kids:
            try:
                os.kill(k, signal.SIGTERM)
            except OSError:
                pass
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    try:
        asyncio.run(serve(socks[0], Server(a.msgs, a.size)))
    except KeyboardInterrupt:
        stop()


if __name__ == "__main__":
    main()
