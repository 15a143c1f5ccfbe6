"""A scripted IMAP4rev1 server for fault injection (RFC 3501, 4315, 2595).

It listens on a free loopback port in a background thread; every
connection is a session in its own thread. The folders persist across
sessions (flags, expunges, UIDVALIDITY), like a real server, so a test can
run a faulty pass, clear the faults and run a good one.

    srv = FakeIMAP({"INBOX": [Msg(1, b"Subject: a\\n\\nbody\\n"), ...]},
                   certs=ctx.certs).start()
    srv.port
    srv.faults["body_nil"] = {3}            # see FAULTS below
    ...
    srv.sessions[-1].commands   # [b"A0001 CAPABILITY", ...] every line
    srv.all_commands()           # every line of every session
    srv.uids("INBOX")            # what is still on the server
    srv.flags("INBOX", 3)        # {"\\Deleted", ...}
    srv.stop()

Messages are LF bytes; on the wire every LF becomes CRLF (a real server's
BODY[] of a message stored with LF line ends), and the literal length is
the length of that CRLF form.

Commands understood: CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE PLAIN (with
or without SASL-IR), SELECT, EXAMINE, UID SEARCH [UID set] ALL|UNSEEN, UID
FETCH set (items), UID STORE set +FLAGS[.SILENT] (flags), UID EXPUNGE set,
EXPUNGE, CLOSE, NOOP, LOGOUT. Client literals ({n} and {n+}) in a command
are read (and a "+" sent for the synchronizing form).

FAULTS (keys of srv.faults, a dict the test may change between passes):
  greeting = bytes               replace the greeting line
  long_line = (WHERE, n)         instead of the normal answer send "* OK "
                                 and n bytes of "x" without CRLF, then
                                 close; WHERE is "greeting" or a command
                                 verb ("SELECT", "UID FETCH", ...)
  starttls = "ok" | "no" | "bad" | "inject"
                                 STARTTLS answer ("inject": tagged OK and
                                 an untagged line in the same write, before
                                 the handshake); default from the
                                 constructor's stls
  drop_in_literal = (uid, n)     UID FETCH: announce the literal, send its
                                 first n bytes, close
  short_literal = (uid, extra)   announce a literal `extra` bytes longer
                                 than the data, send the data, close
  literal_size = (uid, bytes)    announce this literal size text (e.g.
                                 b"4294967296", b"-1", b"abc"), send the
                                 data and the rest of the response as if it
                                 were right
  body_nil = {uid, ...}          answer BODY[] NIL for these UIDs
  no_body = {uid, ...}           answer without any BODY[] item
  uid_after_body = True          put "UID n" after the body literal
  after_fetch = {uid: [action]}  after the FETCH response of uid, do each
                                 action: ("expunge", uid) another client
                                 expunged that message (sent as
                                 "* seq EXPUNGE"); ("exists", Msg) a new
                                 message arrived ("* n EXISTS");
                                 ("flags", uid, "\\Seen") another client set
                                 flags ("* seq FETCH (FLAGS (...))");
                                 ("raw", bytes) send a line as is
  bye_after_fetch = k            after k complete FETCH responses of a UID
                                 FETCH, send "* BYE" and close
  store_no = True                UID STORE answers NO (nothing changed)
  expunge_no = True              UID EXPUNGE answers NO (nothing removed)
  auth_fail = True               every login fails with
                                 "NO [AUTHENTICATIONFAILED] ..."
  search_flood = n               UID SEARCH: "* SEARCH " then n bytes of
                                 "1 1 1 ..." without CRLF, then close

srv.renumber(folder, uidvalidity, first_uid) gives every message of the
folder a new UID (first_uid, first_uid + 1, ...) under a new UIDVALIDITY,
as a server does when it rebuilds a mailbox.

Constructor: capabilities (list of words after login; default IMAP4rev1
UIDPLUS), uidplus=False drops UIDPLUS, stls "none" | "ok" | "no" | "bad" |
"inject" (advertise STARTTLS unless "none"), preauth=True for a PREAUTH
greeting, sasl_ir, sasl (mechanisms advertised before login, default
("PLAIN",)), logindisabled (advertise LOGINDISABLED and refuse LOGIN).
"""
import base64
import re
import socket
import ssl as ssl_mod
import threading
import time


class Msg:
    def __init__(self, uid, data, flags=()):
        self.uid = uid
        self.data = data
        self.flags = set(flags)

    def wire(self):
        return self.data.replace(b"\n", b"\r\n")


class Folder:
    def __init__(self, msgs, uidvalidity=1234567):
        self.msgs = list(msgs)
        self.uidvalidity = uidvalidity
        self.uidnext = max([m.uid for m in self.msgs] + [0]) + 1

    def add(self, data, flags=()):
        m = Msg(self.uidnext, data, flags)
        self.uidnext += 1
        self.msgs.append(m)
        return m

    def seq_of(self, uid):
        for i, m in enumerate(self.msgs, 1):
            if m.uid == uid:
                return i
        return None

    def by_uid(self, uid):
        for m in self.msgs:
            if m.uid == uid:
                return m
        return None


class Session:
    def __init__(self, n):
        self.n = n
        self.commands = []
        # per command: it was already in the input buffer when the server
        # came to read it (sent without waiting for the previous reply)
        self.buffered = []
        self.tls = False
        self.closed_by = None
        self.started = time.monotonic()
        self.ended = None

    def verbs(self):
        """Command names without tags ("UID FETCH", "LOGIN", ...)."""
        out = []
        for c in self.commands:
            parts = c.split(b" ")
            if len(parts) < 2:
                out.append(b"")
                continue
            v = parts[1].upper()
            if v == b"UID" and len(parts) > 2:
                v = b"UID " + parts[2].upper()
            out.append(v)
        return out


class _Closed(Exception):
    pass


def parse_set(s, uids):
    """An IMAP UID set ("1:3,7,9:*") against the sorted uids present."""
    top = max(uids) if uids else 0
    want = set()
    for part in s.split(b","):
        if b":" in part:
            a, b = part.split(b":", 1)
            a = top if a == b"*" else int(a)
            b = top if b == b"*" else int(b)
            lo, hi = min(a, b), max(a, b)
            want.update(u for u in uids if lo <= u <= hi)
        else:
            u = top if part == b"*" else int(part)
            if u in uids:
                want.add(u)
    return sorted(want)


class FakeIMAP:
    def __init__(self, folders=None, user="user", password="secret",
                 certs=None, stls="none", uidplus=True, capabilities=None,
                 preauth=False, sasl_ir=True, uidvalidity=1234567,
                 sasl=("PLAIN",), logindisabled=False):
        folders = folders or {"INBOX": []}
        self.folders = {}
        for name, msgs in folders.items():
            items = []
            for i, m in enumerate(msgs, 1):
                items.append(m if isinstance(m, Msg) else Msg(i, m))
            self.folders[name] = Folder(items, uidvalidity)
        self.user = user.encode() if isinstance(user, str) else user
        self.password = (password.encode() if isinstance(password, str)
                         else password)
        self.certs = certs
        self.stls = stls
        self.uidplus = uidplus
        self.capabilities = capabilities
        self.preauth = preauth
        self.sasl_ir = sasl_ir
        self.sasl = tuple(sasl)
        self.logindisabled = logindisabled
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

    # ---- inspection -------------------------------------------------
    def all_commands(self):
        with self.lock:
            return [c for s in self.sessions for c in s.commands]

    def all_verbs(self):
        with self.lock:
            return [v for s in self.sessions for v in s.verbs()]

    def uids(self, folder="INBOX"):
        with self.lock:
            return [m.uid for m in self.folders[folder].msgs]

    def flags(self, folder, uid):
        with self.lock:
            m = self.folders[folder].by_uid(uid)
            return set(m.flags) if m else None

    def renumber(self, folder, uidvalidity, first_uid):
        with self.lock:
            f = self.folders[folder]
            f.uidvalidity = uidvalidity
            for i, m in enumerate(f.msgs):
                m.uid = first_uid + i
            f.uidnext = first_uid + len(f.msgs)

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
                for s in (c.sock, conn):
                    if s in self._conns:
                        self._conns.remove(s)
            try:
                c.sock.close()
            except OSError:
                pass


_LIT = re.compile(rb"\{(\d+)(\+?)\}$")


class _Conn:
    def __init__(self, srv, sock, sess):
        self.srv = srv
        self.sock = sock
        self.sess = sess
        self.buf = b""
        self.authed = False
        self.folder = None
        self.fname = None
        self.readonly = False

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

    def _fill(self):
        try:
            d = self.sock.recv(65536)
        except OSError:
            d = b""
        if not d:
            self.sess.closed_by = self.sess.closed_by or "client"
            raise _Closed()
        self.buf += d

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise _Closed()
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def readn(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def read_command(self):
        """One command with its client literals inlined (as recorded)."""
        self.was_buffered = b"\n" in self.buf
        line = self.readline()
        whole = line
        while True:
            m = _LIT.search(line)
            if not m:
                break
            n = int(m.group(1))
            if not m.group(2):
                self.line("+ go ahead")
            data = self.readn(n)
            line = self.readline()
            whole += b"\r\n" + data + line
        return whole

    def drop(self, why):
        self.sess.closed_by = "server: %s" % why
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Closed()

    def long_line(self, n):
        self.send(b"* OK ")
        chunk = b"x" * (1 << 20)
        sent = 0
        while sent < n:
            k = min(len(chunk), n - sent)
            self.send(chunk[:k])
            sent += k
        self.drop("after a %d-byte line" % n)

    # -- protocol
    def caps(self):
        if self.srv.capabilities is not None:
            caps = list(self.srv.capabilities)
        else:
            caps = ["IMAP4rev1", "LITERAL+"]
            if self.srv.uidplus:
                caps.append("UIDPLUS")
        if not self.authed:
            caps += ["AUTH=%s" % m for m in self.srv.sasl]
            if self.srv.logindisabled:
                caps.append("LOGINDISABLED")
            if self.srv.sasl_ir:
                caps.append("SASL-IR")
            if self.srv.stls != "none" and not self.sess.tls:
                caps.append("STARTTLS")
        return " ".join(caps)

    def run(self):
        f = self.srv.faults
        ll = f.get("long_line")
        if ll and ll[0] == "greeting":
            self.long_line(ll[1])
        if "greeting" in f:
            self.line(f["greeting"])
        elif self.srv.preauth:
            self.authed = True
            self.line("* PREAUTH [CAPABILITY %s] logged in as %s" % (
                self.caps(), self.srv.user.decode()))
        else:
            self.line("* OK [CAPABILITY %s] fake IMAP ready" % self.caps())
        while True:
            cmd = self.read_command()
            with self.srv.lock:
                self.sess.commands.append(cmd)
                self.sess.buffered.append(self.was_buffered)
            parts = cmd.split(b" ", 2)
            tag = parts[0]
            verb = parts[1].upper() if len(parts) > 1 else b""
            rest = parts[2] if len(parts) > 2 else b""
            if verb == b"UID":
                sub, _, rest = rest.partition(b" ")
                verb = b"UID " + sub.upper()
            if ll and ll[0].encode() == verb:
                self.long_line(ll[1])
            name = "cmd_" + verb.decode("ascii", "replace").replace(" ", "_")
            h = getattr(self, name, None)
            if h is None:
                self.line(tag + b" BAD unknown command")
                continue
            if not self.authed and verb not in (
                    b"CAPABILITY", b"STARTTLS", b"LOGIN", b"AUTHENTICATE",
                    b"LOGOUT", b"NOOP"):
                self.line(tag + b" BAD not authenticated")
                continue
            h(tag, rest)

    def cmd_CAPABILITY(self, tag, rest):
        self.line("* CAPABILITY " + self.caps())
        self.line(tag + b" OK CAPABILITY completed")

    def cmd_NOOP(self, tag, rest):
        self.line(tag + b" OK NOOP completed")

    def cmd_LOGOUT(self, tag, rest):
        self.line("* BYE logging out")
        self.line(tag + b" OK LOGOUT completed")
        self.sess.closed_by = "LOGOUT"
        raise _Closed()

    def cmd_STARTTLS(self, tag, rest):
        mode = self.srv.faults.get("starttls", self.srv.stls)
        if mode == "none" or self.sess.tls or self.authed:
            self.line(tag + b" BAD STARTTLS not available")
            return
        if mode == "no":
            self.line(tag + b" NO [UNAVAILABLE] TLS is broken today")
            return
        if mode == "bad":
            self.line(tag + b" BAD STARTTLS refused")
            return
        if mode == "inject":
            # RFC 2595 3.1 / CVE-2011-0411 style: a response buffered
            # before the handshake
            self.send(tag + b" OK Begin TLS negotiation now\r\n"
                      b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n")
        else:
            self.line(tag + b" OK Begin TLS negotiation now")
        ctx = ssl_mod.SSLContext(ssl_mod.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.srv.certs["cert"], self.srv.certs["key"])
        raw = self.sock
        self.sock = ctx.wrap_socket(raw, server_side=True)
        with self.srv.lock:
            self.srv._conns.append(self.sock)
        self.sess.tls = True
        self.buf = b""

    def _login_result(self, tag, user, password):
        if self.srv.faults.get("auth_fail") or user != self.srv.user or \
                password != self.srv.password:
            self.line(tag + b" NO [AUTHENTICATIONFAILED] fake says bad "
                      b"credentials")
            return
        self.authed = True
        if self.srv.faults.get("login_no_caps"):
            self.line(tag + b" OK logged in")
            return
        self.line(tag + b" OK [CAPABILITY " + self.caps().encode() +
                  b"] logged in")

    @staticmethod
    def _astrings(s):
        """Parse a sequence of IMAP astrings (atoms, quoted, inlined
        literals as read_command records them)."""
        out = []
        i = 0
        while i < len(s):
            if s[i:i + 1] == b" ":
                i += 1
                continue
            if s[i:i + 1] == b'"':
                j = i + 1
                v = b""
                while j < len(s) and s[j:j + 1] != b'"':
                    if s[j:j + 1] == b"\\":
                        j += 1
                    v += s[j:j + 1]
                    j += 1
                out.append(v)
                i = j + 1
                continue
            m = re.match(rb"\{(\d+)\+?\}\r\n", s[i:])
            if m:
                n = int(m.group(1))
                start = i + m.end()
                out.append(s[start:start + n])
                i = start + n
                continue
            j = s.find(b" ", i)
            j = len(s) if j < 0 else j
            out.append(s[i:j])
            i = j
        return out

    def cmd_LOGIN(self, tag, rest):
        if self.srv.logindisabled:
            self.line(tag + b" NO LOGIN is disabled here")
            return
        args = self._astrings(rest)
        if len(args) != 2:
            self.line(tag + b" BAD LOGIN needs two arguments")
            return
        self._login_result(tag, args[0], args[1])

    def cmd_AUTHENTICATE(self, tag, rest):
        mech, _, ir = rest.partition(b" ")
        if mech.upper() != b"PLAIN" or "PLAIN" not in self.srv.sasl:
            self.line(tag + b" NO unsupported mechanism")
            return
        if not ir:
            self.line("+ ")
            ir = self.readline()
            with self.srv.lock:
                self.sess.commands.append(b"(sasl) " + ir)
            if ir == b"*":
                self.line(tag + b" BAD authentication cancelled")
                return
        try:
            dec = base64.b64decode(ir, validate=True)
            _, user, pw = dec.split(b"\0", 2)
        except Exception:
            self.line(tag + b" BAD bad PLAIN response")
            return
        self._login_result(tag, user, pw)

    def _select(self, tag, rest, readonly):
        name = self._astrings(rest)[0] if rest else b""
        key = name.decode("utf-8", "replace")
        if key.upper() == "INBOX":
            key = "INBOX"
        with self.srv.lock:
            folder = self.srv.folders.get(key)
        if folder is None:
            self.folder = None
            self.line(tag + b" NO [NONEXISTENT] no such mailbox")
            return
        self.folder = folder
        self.fname = key
        self.readonly = readonly
        self.line("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
        self.line("* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] ok")
        self.line("* %d EXISTS" % len(folder.msgs))
        self.line("* 0 RECENT")
        self.line("* OK [UIDVALIDITY %d] UIDs valid" % folder.uidvalidity)
        self.line("* OK [UIDNEXT %d] predicted" % folder.uidnext)
        self.line(tag + (b" OK [READ-ONLY] EXAMINE completed" if readonly
                         else b" OK [READ-WRITE] SELECT completed"))

    def cmd_SELECT(self, tag, rest):
        self._select(tag, rest, False)

    def cmd_EXAMINE(self, tag, rest):
        self._select(tag, rest, True)

    def _need_folder(self, tag):
        if self.folder is None:
            self.line(tag + b" BAD no mailbox selected")
            return False
        return True

    def cmd_UID_SEARCH(self, tag, rest):
        if not self._need_folder(tag):
            return
        flood = self.srv.faults.get("search_flood")
        if flood:
            self.send(b"* SEARCH ")
            chunk = b"1 " * (1 << 19)
            sent = 0
            while sent < flood:
                k = min(len(chunk), flood - sent)
                self.send(chunk[:k])
                sent += k
            self.drop("after a %d-byte SEARCH line" % flood)
        words = rest.upper().split()
        with self.srv.lock:
            msgs = list(self.folder.msgs)
        uids = [m.uid for m in msgs]
        sel = set(uids)
        i = 0
        while i < len(words):
            w = words[i]
            if w == b"UID" and i + 1 < len(words):
                sel &= set(parse_set(words[i + 1], uids))
                i += 2
                continue
            if w == b"UNSEEN":
                sel &= {m.uid for m in msgs if "\\Seen" not in m.flags}
            elif w == b"ALL":
                pass
            else:
                self.line(tag + b" BAD unsupported search key")
                return
            i += 1
        self.line(b"* SEARCH" + b"".join(b" %d" % u for u in sorted(sel)))
        self.line(tag + b" OK SEARCH completed")

    def _fetch_one(self, m, items):
        f = self.srv.faults
        seq = self.folder.seq_of(m.uid)
        wire = m.wire()
        if b"HEADER.FIELDS" in items:
            head = wire.split(b"\r\n\r\n", 1)[0] + b"\r\n"
            mid = [l for l in head.split(b"\r\n")
                   if l.lower().startswith(b"message-id:")]
            body = (mid[0] + b"\r\n" if mid else b"") + b"\r\n"
            section = b"BODY[HEADER.FIELDS (MESSAGE-ID)]"
        else:
            body = wire
            section = b"BODY[]"
        head = b"* %d FETCH (" % seq
        meta = b"UID %d RFC822.SIZE %d" % (m.uid, len(wire))
        if b"FLAGS" in items.replace(b"FLAGS.SILENT", b""):
            meta += b" FLAGS (" + " ".join(sorted(m.flags)).encode() + b")"
        if m.uid in f.get("body_nil", ()):
            self.line(head + meta + b" " + section + b" NIL)")
            return
        if m.uid in f.get("no_body", ()):
            self.line(head + meta + b")")
            return
        dl = f.get("drop_in_literal")
        if dl and dl[0] == m.uid:
            self.send(head + meta + b" %s {%d}\r\n" % (section, len(body)))
            self.send(body[:dl[1]])
            self.drop("inside the literal of UID %d after %d bytes" % dl)
        sl = f.get("short_literal")
        if sl and sl[0] == m.uid:
            self.send(head + meta + b" %s {%d}\r\n" % (
                section, len(body) + sl[1]))
            self.send(body)
            self.drop("literal of UID %d %d bytes short" % sl)
        lit = b"%d" % len(body)
        ls = f.get("literal_size")
        if ls and ls[0] == m.uid:
            lit = ls[1]
        if f.get("uid_after_body"):
            size_meta = b"RFC822.SIZE %d" % len(wire)
            self.send(head + size_meta + b" " + section + b" {" + lit +
                      b"}\r\n" + body + b" UID %d)\r\n" % m.uid)
        else:
            self.send(head + meta + b" " + section + b" {" + lit +
                      b"}\r\n" + body + b")\r\n")
        if not self.readonly and b"BODY[]" in items and \
                b"PEEK" not in items:
            m.flags.add("\\Seen")

    def _after_fetch(self, uid):
        for act in self.srv.faults.get("after_fetch", {}).get(uid, ()):
            kind = act[0]
            with self.srv.lock:
                if kind == "expunge":
                    seq = self.folder.seq_of(act[1])
                    if seq is None:
                        continue
                    del self.folder.msgs[seq - 1]
                    out = b"* %d EXPUNGE" % seq
                elif kind == "exists":
                    self.folder.msgs.append(act[1])
                    self.folder.uidnext = max(self.folder.uidnext,
                                              act[1].uid + 1)
                    out = b"* %d EXISTS" % len(self.folder.msgs)
                elif kind == "flags":
                    m = self.folder.by_uid(act[1])
                    m.flags.add(act[2])
                    out = b"* %d FETCH (FLAGS (%s))" % (
                        self.folder.seq_of(act[1]),
                        " ".join(sorted(m.flags)).encode())
                elif kind == "raw":
                    out = act[1]
                else:
                    raise ValueError(kind)
            self.line(out)

    def cmd_UID_FETCH(self, tag, rest):
        if not self._need_folder(tag):
            return
        sset, _, items = rest.partition(b" ")
        with self.srv.lock:
            uids = [m.uid for m in self.folder.msgs]
        want = parse_set(sset, uids)
        done = 0
        for uid in want:
            with self.srv.lock:
                m = self.folder.by_uid(uid)
            if m is None:  # expunged meanwhile
                continue
            self._fetch_one(m, items)
            done += 1
            self._after_fetch(uid)
            if self.srv.faults.get("bye_after_fetch") == done:
                self.line("* BYE fake server shutting down now")
                self.drop("BYE after %d FETCH responses" % done)
        self.line(tag + b" OK FETCH completed")

    def cmd_UID_STORE(self, tag, rest):
        if not self._need_folder(tag):
            return
        if self.readonly:
            self.line(tag + b" NO [READ-ONLY] mailbox is read-only")
            return
        if self.srv.faults.get("store_no"):
            self.line(tag + b" NO [SERVERBUG] fake cannot store flags now")
            return
        sset, _, spec = rest.partition(b" ")
        op, _, flist = spec.partition(b" ")
        flags = flist.strip(b"()").decode().split()
        with self.srv.lock:
            uids = [m.uid for m in self.folder.msgs]
            for u in parse_set(sset, uids):
                m = self.folder.by_uid(u)
                if op.upper().startswith(b"+FLAGS"):
                    m.flags.update(flags)
                elif op.upper().startswith(b"-FLAGS"):
                    m.flags.difference_update(flags)
                else:
                    m.flags = set(flags)
        self.line(tag + b" OK STORE completed")

    def _expunge(self, only=None):
        out = []
        with self.srv.lock:
            i = 0
            while i < len(self.folder.msgs):
                m = self.folder.msgs[i]
                if "\\Deleted" in m.flags and (only is None or
                                               m.uid in only):
                    del self.folder.msgs[i]
                    out.append(b"* %d EXPUNGE" % (i + 1))
                else:
                    i += 1
        for l in out:
            self.line(l)

    def cmd_UID_EXPUNGE(self, tag, rest):
        if not self._need_folder(tag):
            return
        if not self.srv.uidplus:
            self.line(tag + b" BAD UID EXPUNGE needs UIDPLUS")
            return
        if self.srv.faults.get("expunge_no"):
            self.line(tag + b" NO [SERVERBUG] fake cannot expunge now")
            return
        with self.srv.lock:
            uids = [m.uid for m in self.folder.msgs]
        self._expunge(set(parse_set(rest.strip(), uids)))
        self.line(tag + b" OK EXPUNGE completed")

    def cmd_EXPUNGE(self, tag, rest):
        if not self._need_folder(tag):
            return
        self._expunge()
        self.line(tag + b" OK EXPUNGE completed")

    def cmd_CLOSE(self, tag, rest):
        if not self._need_folder(tag):
            return
        if not self.readonly:
            self._expunge()
        self.folder = None
        self.line(tag + b" OK CLOSE completed")
