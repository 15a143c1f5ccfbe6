"""A deterministic corpus of real-looking messages (LF line endings).

generate(n, seed) returns a list of bytes objects, each a complete message
with a unique Message-ID. The kinds cycle so any prefix of the list has a
mix of them:

    plain       short ASCII text/plain, Latin/English words
    alt         multipart/alternative (text + HTML, quoted-printable)
    mixed       multipart/mixed with a base64 attachment (1 KiB .. ~1 MiB)
    utf8        8-bit UTF-8 in headers (unencoded) and body, CTE 8bit
    longline    one line of 10..100 KiB without a newline inside
    dots        lines starting with "." and "..", a line that is "." alone,
                ". " and "..." lines, a final line "."
    empty       headers, the blank line, no body at all
    nonl        no newline at the end of the file (see below)
    fromline    body lines starting with "From ", ">From ", trailing blanks,
                tabs, form feed

POP3 round trip. Dovecot sends every line with CRLF and, when a message
does not end with a newline, adds CRLF before the terminating "." (RFC 1939
needs the terminator on a line of its own), so a client cannot tell "no
final newline" from "final newline". For the "nonl" kind the expected
delivered bytes are therefore the original plus "\\n": use expected(msg).
Everything else must come back byte for byte. NUL bytes and bare CR are not
in the Dovecot corpus (Dovecot rewrites them); the fake-server tests cover
NUL.
"""
import base64
import hashlib
import random
import re

KINDS = ["plain", "alt", "mixed", "utf8", "longline", "dots", "empty",
         "nonl", "fromline", "plain", "alt", "utf8"]

WORDS = ("the of and to in is that for it as was with be by on not he "
         "this are or his from at which but have an they you were her all "
         "she there would their we him been has when who will more no if "
         "out so said what up its about into than them can only other new "
         "some could time these two may then do first any my now such like "
         "our over man me even most made after also did many before must "
         "through back years where much your way well down should because "
         "each just those people mailbox server invoice quarterly report "
         "meeting agenda shipment tracking password reset newsletter").split()

UTF8_WORDS = ["Grüße", "naïve", "café", "Ελληνικά", "русский", "日本語",
              "中文", "한국어", "emoji 📬", "Zürich", "Łódź", "São Paulo",
              "smörgåsbord", "façade", "Ærøskøbing", "ångström", "€100",
              "עברית", "العربية", "हिन्दी"]

NAMES = ["Alice Martin", "Bob Jones", "Carol Ng", "Dmitri Ivanov",
         "Eve Dupont", "Françoise Lefèvre", "Günther Müller", "Hiro Tanaka",
         "Ines García", "Jürgen Weiß"]


def _sentence(r, words=WORDS, n=None):
    n = n or r.randint(5, 16)
    s = " ".join(r.choice(words) for _ in range(n))
    return s[0].upper() + s[1:] + "."


def _paragraphs(r, count, words=WORDS):
    out = []
    for _ in range(count):
        line = []
        for _ in range(r.randint(1, 6)):
            line.append(_sentence(r, words))
        text = " ".join(line)
        # wrap at ~72 columns like a mail user agent would
        wrapped, cur = [], ""
        for w in text.split(" "):
            if cur and len(cur) + 1 + len(w) > 72:
                wrapped.append(cur)
                cur = w
            else:
                cur = cur + " " + w if cur else w
        wrapped.append(cur)
        out.append("\n".join(wrapped))
    return "\n\n".join(out) + "\n"


def _addr(r, name=None):
    name = name or r.choice(NAMES)
    local = re.sub(r"[^a-z]", "", name.lower().split()[0]
                   .encode("ascii", "ignore").decode()) or "user"
    return name, "%s@%s" % (local, r.choice(
        ["example.com", "example.org", "mail.example.net", "corp.test"]))


def _headers(r, i, seed, subject, extra=(), utf8=False):
    fname, faddr = _addr(r)
    tname, taddr = _addr(r)
    day = 1 + (i % 28)
    hh, mm, ss = r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)
    h = [
        "Return-Path: <%s>" % faddr,
        "Received: from mx%d.example.com (mx%d.example.com [192.0.2.%d])\n"
        "\tby mail.example.org with ESMTPS id %08X\n"
        "\tfor <%s>; Mon, %d Mar 2025 %02d:%02d:%02d +0000" % (
            i % 7, i % 7, 1 + i % 250, r.getrandbits(32), taddr, day, hh, mm,
            ss),
        "Date: Mon, %d Mar 2025 %02d:%02d:%02d +0100" % (day, hh, mm, ss),
        'From: "%s" <%s>' % (fname if utf8 else
                             fname.encode("ascii", "replace").decode(),
                             faddr),
        "To: %s <%s>" % (tname if utf8 else
                         tname.encode("ascii", "replace").decode(), taddr),
        "Subject: %s" % subject,
        "Message-ID: <corpus-%04d.%d.%08x@mailpull.test>" % (
            i, seed, r.getrandbits(32)),
        "MIME-Version: 1.0",
    ]
    h.extend(extra)
    return "\n".join(h) + "\n"


def _b64_lines(data):
    enc = base64.b64encode(data).decode("ascii")
    return "\n".join(enc[k:k + 76] for k in range(0, len(enc), 76)) + "\n"


def _qp(text):
    # a light quoted-printable: encode '=' and non-ASCII, soft-break long
    out = []
    for line in text.split("\n"):
        enc = ""
        for ch in line:
            if ch == "=" or ord(ch) > 126:
                enc += "".join("=%02X" % b for b in ch.encode("utf-8"))
            else:
                enc += ch
        while len(enc) > 75:
            cut = 75
            while enc[cut - 1] == "=" or enc[cut - 2] == "=":
                cut -= 1
            out.append(enc[:cut] + "=")
            enc = enc[cut:]
        out.append(enc)
    return "\n".join(out)


def _attachment_size(r, i):
    # mostly small, a few large (up to ~1 MiB)
    if i % 50 == 2:
        return 1000 * 1024 + r.randint(0, 24 * 1024)
    if i % 10 == 2:
        return r.randint(100 * 1024, 400 * 1024)
    return r.randint(1024, 40 * 1024)


def make_message(kind, i, seed):
    r = random.Random("%d-%d-%s" % (seed, i, kind))
    subj = _sentence(r, n=r.randint(3, 8))[:-1]
    if kind == "plain":
        return (_headers(r, i, seed, subj, [
            "Content-Type: text/plain; charset=us-ascii",
            "Content-Transfer-Encoding: 7bit"]) + "\n" +
            _paragraphs(r, r.randint(1, 8))).encode()
    if kind == "alt":
        b = "=_alt_%08x" % r.getrandbits(32)
        text = _paragraphs(r, r.randint(1, 5), WORDS + UTF8_WORDS[:5])
        html = "<html><body>\n" + "".join(
            "<p>%s</p>\n" % p.replace("\n", " ") for p in text.split("\n\n")
        ) + "</body></html>\n"
        body = ("This is a multi-part message in MIME format.\n\n"
                "--%s\nContent-Type: text/plain; charset=utf-8\n"
                "Content-Transfer-Encoding: quoted-printable\n\n%s\n"
                "--%s\nContent-Type: text/html; charset=utf-8\n"
                "Content-Transfer-Encoding: quoted-printable\n\n%s\n"
                "--%s--\n" % (b, _qp(text), b, _qp(html), b))
        return (_headers(r, i, seed, subj, [
            'Content-Type: multipart/alternative; boundary="%s"' % b]) +
            "\n" + body).encode()
    if kind == "mixed":
        b = "----=_Part_%d_%08x" % (i, r.getrandbits(32))
        size = _attachment_size(r, i)
        data = r.randbytes(size)
        fname = r.choice(["report.pdf", "photo.jpg", "data.zip",
                          "invoice-%d.pdf" % i, "scan.tiff"])
        ctype = {"pdf": "application/pdf", "jpg": "image/jpeg",
                 "zip": "application/zip", "tiff": "image/tiff"}[
                     fname.rsplit(".", 1)[1]]
        body = ("--%s\nContent-Type: text/plain; charset=us-ascii\n"
                "Content-Transfer-Encoding: 7bit\n\n%s\n"
                "--%s\nContent-Type: %s; name=\"%s\"\n"
                "Content-Transfer-Encoding: base64\n"
                "Content-Disposition: attachment; filename=\"%s\"\n\n%s"
                "--%s--\n" % (b, _paragraphs(r, 2), b, ctype, fname, fname,
                              _b64_lines(data), b))
        return (_headers(r, i, seed, subj, [
            'Content-Type: multipart/mixed; boundary="%s"' % b]) +
            "\n" + body).encode()
    if kind == "utf8":
        usubj = " ".join(r.choice(UTF8_WORDS) for _ in range(3))
        return (_headers(r, i, seed, usubj, [
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "X-Note: %s" % " ".join(r.choice(UTF8_WORDS)
                                    for _ in range(4))], utf8=True) +
            "\n" + _paragraphs(r, r.randint(1, 6), WORDS + UTF8_WORDS)
        ).encode("utf-8")
    if kind == "longline":
        n = r.randint(10 * 1024, 100 * 1024)
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 ,.;:-_=+/"
        long = "".join(r.choice(alphabet) for _ in range(n))
        return (_headers(r, i, seed, subj, [
            "Content-Type: text/plain; charset=us-ascii"]) + "\n" +
            "A line of %d bytes follows:\n" % n + long +
            "\nand a short one after it.\n").encode()
    if kind == "dots":
        body = ("Dot lines follow.\n"
                ".\n"
                "..\n"
                "...\n"
                ".leading dot\n"
                "..two leading dots\n"
                ". space after dot\n"
                "\n"
                ".\n"
                "text.\n"
                " .\n"
                ".\t\n"
                "%s\n"
                ".\n" % _sentence(r))
        return (_headers(r, i, seed, subj, [
            "Content-Type: text/plain; charset=us-ascii"]) + "\n" + body
        ).encode()
    if kind == "empty":
        return (_headers(r, i, seed, subj or "(no subject)") + "\n"
                ).encode()
    if kind == "nonl":
        return (_headers(r, i, seed, subj, [
            "Content-Type: text/plain; charset=us-ascii"]) + "\n" +
            _paragraphs(r, r.randint(1, 3)).rstrip("\n")).encode()
    if kind == "fromline":
        body = ("Hello,\n\nFrom the desk of %s:\n>From here on, quoted.\n"
                "trailing spaces   \n\ttab-indented line\n"
                "form\x0cfeed\nFrom \n%s" % (r.choice(NAMES), _paragraphs(
                    r, 2)))
        return (_headers(r, i, seed, subj, [
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit"], utf8=True) + "\n" + body
        ).encode("utf-8")
    raise ValueError(kind)


def sized_message(i, seed, size):
    """A multipart/mixed message with a base64 attachment of `size`
    random bytes (for tests that need volume)."""
    r = random.Random("%d-%d-sized-%d" % (seed, i, size))
    b = "=_sized_%08x" % r.getrandbits(32)
    body = ("--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s\n"
            "--%s\nContent-Type: application/octet-stream; name=\"blob%d\"\n"
            "Content-Transfer-Encoding: base64\n\n%s--%s--\n" % (
                b, _paragraphs(r, 1), b, i, _b64_lines(r.randbytes(size)),
                b))
    return (_headers(r, i, seed, "Sized message %d" % i, [
        'Content-Type: multipart/mixed; boundary="%s"' % b]) + "\n" +
        body).encode()


def kind_of(i):
    return KINDS[i % len(KINDS)]


def generate(n=200, seed=1):
    """n messages; message i is of kind kind_of(i)."""
    return [make_message(kind_of(i), i, seed) for i in range(n)]


def subset(n, seed=1, max_size=None):
    """The first n messages, optionally skipping ones larger than
    max_size (to keep small tests fast) - still a mix of every kind."""
    out = []
    i = 0
    while len(out) < n:
        m = make_message(kind_of(i), i, seed)
        i += 1
        if max_size is not None and len(m) > max_size:
            continue
        out.append(m)
    return out


def expected(msg):
    """What a POP3 round trip through Dovecot must deliver (see module
    doc): the message, plus a final LF when it had none."""
    return msg if msg.endswith(b"\n") else msg + b"\n"


_MID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.I | re.M)


def message_id(data):
    m = _MID.search(data)
    return m.group(1).decode("ascii", "replace") if m else None


def digest(data):
    return hashlib.sha256(data).hexdigest()
