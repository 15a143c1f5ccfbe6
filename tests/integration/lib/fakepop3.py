"""A scripted POP3 server for fault injection (RFC 1939, 2449, 5034, 2595).

It listens on a free loopback port in a background thread; every
connection is a session in its own thread. The maildrop persists across
sessions: DELE marks a message and the marks are applied only on QUIT (the
UPDATE state), so a dropped connection rolls deletions back, like a real
server.

    srv = FakePOP3([Msg("uid1", b"Subject: a\\n\\nbody\\n"), ...]).start()
    srv.port
    srv.faults["drop_in_retr"] = (2, 100)   # see FAULTS below
    ...
    srv.sessions[-1].commands   # [b"CAPA", b"AUTH PLAIN ...", b"STAT", ...]
    srv.all_commands()           # every command of every session
    srv.uidls()                  # what is still on the server
    srv.stop()

Commands may arrive several per read (PIPELINING is advertised by
default); they are answered in order.

FAULTS (keys of srv.faults, a dict the test may change between passes):
  drop_in_retr = (msgno, nbytes)   RETR msgno: send "+OK" and the first
                                   nbytes of the message then close
  stall_in_retr = (msgno, nbytes)  same, then send nothing more (the
                                   connection stays open until the client
                                   closes it or the server stops)
  drip_in_retr = (msgno, nbytes)   same, then one byte every 0.5 s (the
                                   step timeout never fires; only the
                                   whole-pass deadline can end it)
  stall_after = b"CMD"             stall right after reading this command
  drop_at_quit = True              QUIT: close without reply, no deletion
  drop_after_dele = n              close right after the reply to the n-th
                                   DELE of the session (1-based)
  dele_err = True | {msgno,...}    DELE answers -ERR
  long_line = ("greeting"|CMD, n)  answer with a status line of n bytes
  list_lines / uidl_lines = [bytes]  replace the multi-line listing
  stat_line = bytes                replace the STAT reply
  greeting = bytes                 replace the greeting
  capa_err = True                  CAPA answers -ERR
  auth_fail = True                 every authentication fails with
                                   "-ERR [AUTH] bad credentials"

STLS modes (constructor stls=): "none" (not advertised, -ERR if sent),
"refuse" (advertised, answered -ERR), "ok" (real TLS with the given
certificate; capabilities after TLS do not list STLS).
"""
import base64
import re
import socket
import ssl as ssl_mod
import threading
import time

from . import util


class Msg:
    """A message: uidl, and data (LF bytes) or chunks (a callable
    returning an iterator of LF byte chunks made of whole lines, for large
    messages generated on the fly; give size then)."""

    def __init__(self, uidl, data=None, chunks=None, size=None):
        self.uidl = uidl
        self.data = data
        self._chunks = chunks
        if data is not None:
            self.size = len(data) + data.count(b"\n") + (
                0 if data.endswith(b"\n") else 2)
        else:
            self.size = size

    def chunks(self):
        if self.data is not None:
            return iter([self.data])
        return self._chunks()


_DOT = re.compile(rb"^\.", re.M)


def wire_form(chunk):
    """LF chunk of whole lines -> CRLF, dot-stuffed."""
    return _DOT.sub(b"..", chunk).replace(b"\n", b"\r\n")


def retr_bytes(msg):
    """The complete RETR payload (after the +OK line), terminator
    included, for small messages."""
    out = b"".join(wire_form(c) for c in msg.chunks())
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out + b".\r\n"


class Session:
    def __init__(self, n):
        self.n = n
        self.commands = []
        # per command: it was already in the input buffer when the server
        # came to read it, i.e. the client sent it without waiting for the
        # previous reply (pipelined)
        self.buffered = []
        self.tls = False
        self.closed_by = None
        self.deleted = set()
        self.applied = False
        self.started = time.monotonic()
        self.ended = None

    def verbs(self):
        return [c.split(b" ", 1)[0].upper() for c in self.commands]


class _Closed(Exception):
    pass


class FakePOP3:
    def __init__(self, messages=(), user="user", password="secret",
                 capa=None, stls="none", certs=None, pipelining=True,
                 sasl=("PLAIN", "LOGIN")):
        self.maildrop = list(messages)
        self.user = user.encode() if isinstance(user, str) else user
        self.password = (password.encode() if isinstance(password, str)
                         else password)
        self.stls = stls
        self.certs = certs
        self.pipelining = pipelining
        self.sasl = sasl
        self.capa = capa
        self.faults = {}
        self.sessions = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._conns = []
        self._threads = []
        self.sock = None
        self.port = None
        self.errors = []

    # ---- life cycle -------------------------------------------------
    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- inspection -------------------------------------------------
    def all_commands(self):
        with self.lock:
            return [c for s in self.sessions for c in s.commands]

    def uidls(self):
        with self.lock:
            return [m.uidl for m in self.maildrop]

    def wait_sessions_done(self, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self._conns:
                    return
            time.sleep(0.02)

    # ---- server -----------------------------------------------------
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self.lock:
                sess = Session(len(self.sessions))
                self.sessions.append(sess)
                self._conns.append(conn)
            t = threading.Thread(target=self._session, args=(conn, sess),
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def _session(self, conn, sess):
        c = _Conn(self, conn, sess)
        try:
            c.run()
        except _Closed:
            pass
        except (OSError, ssl_mod.SSLError) as e:
            sess.closed_by = "error: %s" % e
        except Exception as e:  # a harness bug: keep it visible
            import traceback
            self.errors.append(traceback.format_exc())
            sess.closed_by = "exception: %s" % e
        finally:
            sess.ended = time.monotonic()
            with self.lock:
                if c.sock in self._conns:
                    self._conns.remove(c.sock)
                if conn in self._conns:
                    self._conns.remove(conn)
            try:
                c.sock.close()
            except OSError:
                pass


class _Conn:
    def __init__(self, srv, sock, sess):
        self.srv = srv
        self.sock = sock
        self.sess = sess
        self.buf = b""
        self.authed = False
        self.user = None
        self.dele_count = 0
        self.view = None  # the maildrop as seen by this session

    # -- I/O
    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            raise _Closed()

    def line(self, text):
        if isinstance(text, str):
            text = text.encode()
        self.send(text + b"\r\n")

    def readline(self):
        self.was_buffered = b"\n" in self.buf
        while b"\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except OSError:
                d = b""
            if not d:
                self.sess.closed_by = self.sess.closed_by or "client"
                raise _Closed()
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def drop(self, why):
        self.sess.closed_by = "server: %s" % why
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Closed()

    def stall(self, why):
        self.sess.closed_by = "server stalled: %s" % why
        self.sock.settimeout(0.2)
        while not self.srv._stop.is_set():
            try:
                d = self.sock.recv(65536)
                if not d:
                    raise _Closed()
            except socket.timeout:
                continue
            except OSError:
                raise _Closed()
        raise _Closed()

    # -- protocol
    def capa_lines(self):
        if self.srv.capa is not None:
            return list(self.srv.capa)
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE"]
        if self.srv.pipelining:
            caps.append("PIPELINING")
        if not self.authed:
            caps.append("USER")
            if self.srv.sasl:
                caps.append("SASL " + " ".join(self.srv.sasl))
            if self.srv.stls in ("refuse", "ok") and not self.sess.tls:
                caps.append("STLS")
        return caps

    def run(self):
        f = self.srv.faults
        ll = f.get("long_line")
        if ll and ll[0] == "greeting":
            self.line(b"+OK " + b"x" * ll[1])
        else:
            self.line(f.get("greeting", b"+OK fake POP3 server ready"))
        while True:
            cmd = self.readline()
            with self.srv.lock:
                self.sess.commands.append(cmd)
                self.sess.buffered.append(self.was_buffered)
            verb, _, arg = cmd.partition(b" ")
            verb = verb.upper()
            if f.get("stall_after") and verb == f["stall_after"]:
                self.stall(verb.decode())
            if ll and ll[0] == verb.decode():
                self.line(b"+OK " + b"y" * ll[1])
                continue
            h = getattr(self, "cmd_" + verb.decode("ascii", "replace"),
                        None)
            if h is None:
                self.line("-ERR unknown command")
                continue
            if (not self.authed and verb not in (
                    b"CAPA", b"USER", b"PASS", b"AUTH", b"STLS", b"QUIT",
                    b"NOOP")):
                self.line("-ERR not authenticated")
                continue
            h(arg)

    def cmd_CAPA(self, arg):
        if self.srv.faults.get("capa_err"):
            self.line("-ERR unknown command")
            return
        self.line("+OK capability list follows")
        for c in self.capa_lines():
            self.line(c)
        self.line(".")

    def cmd_NOOP(self, arg):
        self.line("+OK")

    def cmd_STLS(self, arg):
        if self.srv.stls != "ok" or self.sess.tls or self.authed:
            self.line("-ERR STLS not available now")
            return
        self.line("+OK begin TLS negotiation")
        ctx = ssl_mod.SSLContext(ssl_mod.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.srv.certs["cert"], self.srv.certs["key"])
        raw = self.sock
        self.sock = ctx.wrap_socket(raw, server_side=True)
        with self.srv.lock:
            self.srv._conns.append(self.sock)
        self.sess.tls = True
        self.buf = b""

    def _login(self, user, password):
        if self.srv.faults.get("auth_fail") or user != self.srv.user or \
                password != self.srv.password:
            self.line("-ERR [AUTH] bad credentials")
            return
        self.authed = True
        self.view = list(self.srv.maildrop)
        self.line("+OK maildrop locked and ready")

    def cmd_USER(self, arg):
        self.user = arg
        self.line("+OK")

    def cmd_PASS(self, arg):
        if self.user is None:
            self.line("-ERR USER first")
            return
        self._login(self.user, arg)

    def cmd_AUTH(self, arg):
        mech, _, ir = arg.partition(b" ")
        mech = mech.upper()
        if mech == b"PLAIN":
            if not ir:
                self.line("+ ")
                ir = self.readline()
            try:
                dec = base64.b64decode(ir, validate=True)
                _, user, pw = dec.split(b"\0", 2)
            except Exception:
                self.line("-ERR bad PLAIN response")
                return
            self._login(user, pw)
        elif mech == b"LOGIN":
            self.line("+ " + base64.b64encode(b"Username:").decode())
            user = base64.b64decode(self.readline())
            self.line("+ " + base64.b64encode(b"Password:").decode())
            pw = base64.b64decode(self.readline())
            self._login(user, pw)
        else:
            self.line("-ERR unsupported mechanism")

    def _msg(self, arg):
        try:
            n = int(arg.split()[0])
        except (ValueError, IndexError):
            self.line("-ERR bad message number")
            return None, None
        if n < 1 or n > len(self.view) or n in self.sess.deleted:
            self.line("-ERR no such message")
            return None, None
        return n, self.view[n - 1]

    def cmd_STAT(self, arg):
        if "stat_line" in self.srv.faults:
            self.line(self.srv.faults["stat_line"])
            return
        live = [m for i, m in enumerate(self.view, 1)
                if i not in self.sess.deleted]
        self.line("+OK %d %d" % (len(live), sum(m.size for m in live)))

    def _listing(self, arg, key, fmt):
        if arg:
            n, m = self._msg(arg)
            if m is not None:
                self.line("+OK " + fmt(n, m))
            return
        self.line("+OK")
        if key in self.srv.faults:
            for l in self.srv.faults[key]:
                self.line(l)
        else:
            for i, m in enumerate(self.view, 1):
                if i not in self.sess.deleted:
                    self.line(fmt(i, m))
        self.line(".")

    def cmd_LIST(self, arg):
        self._listing(arg, "list_lines", lambda i, m: "%d %d" % (i, m.size))

    def cmd_UIDL(self, arg):
        self._listing(arg, "uidl_lines", lambda i, m: "%d %s" % (i, m.uidl))

    def cmd_RETR(self, arg):
        n, m = self._msg(arg)
        if m is None:
            return
        f = self.srv.faults
        cut = None
        mode = None
        for key in ("drop_in_retr", "stall_in_retr", "drip_in_retr"):
            if key in f and f[key][0] == n:
                cut, mode = f[key][1], key
        self.line("+OK %d octets" % m.size)
        sent = 0
        last = b"\n"
        for chunk in m.chunks():
            w = wire_form(chunk)
            if cut is not None and sent + len(w) >= cut:
                self.send(w[:cut - sent])
                if mode == "drop_in_retr":
                    self.drop("in RETR %d after %d bytes" % (n, cut))
                if mode == "drip_in_retr":
                    for b in w[cut - sent:] + b"x" * 10000:
                        time.sleep(0.5)
                        try:
                            self.send(bytes([b]))
                        except OSError:
                            break
                    self.drop("dripping RETR %d" % n)
                self.stall("in RETR %d after %d bytes" % (n, cut))
            self.send(w)
            sent += len(w)
            if w:
                last = w[-1:]
        if cut is not None:
            # cut beyond the data: cut inside the terminator
            self.send(b"\r\n."[:max(0, cut - sent)])
            if mode == "drop_in_retr":
                self.drop("in RETR %d terminator" % n)
            self.stall("in RETR %d terminator" % n)
        self.send((b"" if last == b"\n" else b"\r\n") + b".\r\n")

    def cmd_TOP(self, arg):
        parts = arg.split()
        n, m = self._msg(arg)
        if m is None:
            return
        try:
            k = int(parts[1])
        except (ValueError, IndexError):
            self.line("-ERR syntax")
            return
        data = b"".join(m.chunks())
        head, sep, body = data.partition(b"\n\n")
        out = head + sep + b"".join(body.splitlines(True)[:k])
        self.line("+OK")
        self.send(retr_bytes(Msg(m.uidl, out)))

    def cmd_DELE(self, arg):
        n, m = self._msg(arg)
        if m is None:
            return
        de = self.srv.faults.get("dele_err")
        if de is True or (isinstance(de, (set, list, tuple)) and n in de):
            self.line("-ERR [SYS/TEMP] cannot delete message %d now" % n)
            return
        self.sess.deleted.add(n)
        self.dele_count += 1
        self.line("+OK message %d deleted" % n)
        if self.srv.faults.get("drop_after_dele") == self.dele_count:
            self.drop("after DELE #%d" % self.dele_count)

    def cmd_RSET(self, arg):
        self.sess.deleted.clear()
        self.line("+OK")

    def cmd_QUIT(self, arg):
        if self.srv.faults.get("drop_at_quit"):
            self.drop("at QUIT")
        if self.authed:
            with self.srv.lock:
                gone = {id(self.view[i - 1]) for i in self.sess.deleted}
                self.srv.maildrop = [m for m in self.srv.maildrop
                                     if id(m) not in gone]
                self.sess.applied = True
        self.line("+OK bye")
        self.sess.closed_by = "QUIT"
        raise _Closed()


# ---- big messages generated on the fly ------------------------------------
def big_message(uidl, size, seed=7):
    """A Msg of about `size` bytes (LF form) generated in chunks, and a
    function returning (sha256 hex, length) of its LF bytes. Every 997th
    body line starts with '.', so dot-stuffing is exercised throughout."""
    import hashlib
    import random
    head = ("From: big@example.com\nTo: user@example.org\n"
            "Subject: a very large message\n"
            "Message-ID: <big-%d-%d@mailpull.test>\n"
            "Content-Type: application/octet-stream\n"
            "Content-Transfer-Encoding: base64\n\n" % (size, seed)).encode()
    r = random.Random(seed)
    block = base64.b64encode(r.randbytes(57 * 2048))  # 2048 lines of 76
    lines = [block[i:i + 76] for i in range(0, len(block), 76)]
    per_chunk = len(lines)

    def gen():
        yield head
        total = len(head)
        k = 0
        while total < size:
            out = []
            for j, l in enumerate(lines):
                if (k * per_chunk + j) % 997 == 0:
                    out.append(b"." + l[1:])
                else:
                    out.append(l)
            chunk = b"\n".join(out) + b"\n"
            if total + len(chunk) > size:
                # whole lines only
                cut = chunk.rfind(b"\n", 0, max(1, size - total)) + 1
                chunk = chunk[:cut] if cut > 0 else chunk[:77]
            yield chunk
            total += len(chunk)
            k += 1

    n = 0
    crlf_size = 0
    h = hashlib.sha256()
    for c in gen():
        n += len(c)
        crlf_size += len(c) + c.count(b"\n")
        h.update(c)
    digest = h.hexdigest()
    return Msg(uidl, chunks=gen, size=crlf_size), (digest, n)
