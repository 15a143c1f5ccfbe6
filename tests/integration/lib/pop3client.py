"""A tiny reference POP3 client used to check the harness itself (the
Dovecot corpus round trip, the fake server). Not a model for mailpull."""
import base64
import socket
import ssl


class Client:
    def __init__(self, port, host="127.0.0.1", tls=False, ca=None,
                 timeout=30):
        s = socket.create_connection((host, port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context(cafile=ca)
            s = ctx.wrap_socket(s, server_hostname=host)
        self.s = s
        self.buf = b""
        self.greeting = self.status()

    def readline(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d:
                raise ConnectionError("closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def status(self):
        line = self.readline()
        if not line.startswith(b"+OK"):
            raise RuntimeError(line.decode("utf-8", "replace"))
        return line

    def cmd(self, c):
        self.s.sendall(c.encode() + b"\r\n" if isinstance(c, str)
                       else c + b"\r\n")
        return self.status()

    def multi(self, c):
        self.cmd(c)
        lines = []
        while True:
            l = self.readline()
            if l == b".":
                return lines
            lines.append(l[1:] if l.startswith(b".") else l)

    def login(self, user, pw):
        if isinstance(pw, str):
            pw = pw.encode()
        self.cmd(b"AUTH PLAIN " + base64.b64encode(
            b"\0" + user.encode() + b"\0" + pw))

    def retr_lf(self, n):
        """RETR n as LF bytes (what mailpull must store)."""
        return b"".join(l + b"\n" for l in self.multi("RETR %d" % n))

    def uidl(self):
        return [l.split(b" ", 1)[1].decode() for l in self.multi("UIDL")]

    def quit(self):
        try:
            self.cmd("QUIT")
        finally:
            self.s.close()
