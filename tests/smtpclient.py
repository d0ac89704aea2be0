#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A scripted SMTP client for najimi's black-box tests.

It shares no code with the programs under test, so that one bug cannot
hide itself in both. A script is a transcript, one step per line, read
from a file or standard input: what the client sends, the codes it must
get back, then what a log (the tail's, or a recording downstream's) must
or must not hold.

    smtpclient.py --port PORT [--source ADDR] [--log FILE] [--timeout S]
                  [--log-wait S] [--quiet] [SCRIPT|-]
    smtpclient.py --log FILE [SCRIPT|-]     log steps only, no connection

For example, an unknown recipient refused and logged:

    hello
    mail <s@elsewhere.test>
    rcpt <nosuch@example.test> 550
    expect-text 5.1.1
    quit
    expect-eof
    expect-log ^rcptcheck: reject ip=127\\.0\\.0\\.1 pid=[0-9]+ code=550( |$)

The session, one step at a time:

    expect 220          read one reply (multi-line aware), its code must be 220
    expect 250 554      ... or one of several codes
    expect-text WORD    the last reply must contain WORD
    expect-no-text WORD the last reply must not contain WORD (any case)
    expect-line TEXT    a line of the last reply must start with TEXT
    send EHLO x         send the text plus CRLF
    raw EHLO x\\r\\n     send bytes given with Python escapes, nothing added
    bytewise            from now on, send one byte per write (with a pause)
    burst               from now on, send whole lines at once (the default)
    file PATH           send the bytes of a file as they are
    data PATH           send a file as DATA content: lines starting with "."
                        get another ".", then the final CRLF.CRLF
    sleep MS            pause
    shutdown            half-close: no more bytes from us
    expect-eof          the server must close (no more bytes)
    expect-silence MS   nothing may arrive within MS milliseconds
    tls [SNI]           TLS handshake now, as a client (Python's ssl module,
                        no certificate check, TLS 1.2 or later, SNI if given);
                        the session then goes on inside TLS
    starttls [SNI]      send "STARTTLS", expect 220, then "tls"
    expect-tls-fail     a handshake now must fail (the server ends it)
    expect-tls-version V  the session is inside TLS of version V (TLSv1.3)
    expect-nothing-yet  same as expect-silence 200
    # comment

The session in short steps (each one a send and an expect above; the
codes at the end of a line, three digits each, replace the default):

    hello [NAME]        expect 220, send "EHLO NAME" (client.test), expect 250
    ehlo NAME           send "EHLO NAME", expect 250
    helo NAME           send "HELO NAME", expect 250
    mail ARG [CODE...]  send "MAIL FROM:ARG", expect 250
    rcpt ARG [CODE...]  send "RCPT TO:ARG", expect 250
                        (rcpt <alice@example.test> NOTIFY=NEVER 550 501)
    message PATH [CODE...]
                        send DATA, expect 354, "data PATH", expect 250
    quit [CODE...]      send QUIT, expect 221

A log, as it is now or within a bounded wait (--log-wait, default 5 s,
polled every 50 ms). A pattern is a Python regular expression matched
against each line (the POSIX extended expressions of grep -E that the
tests use mean the same); the file is --log until a "log" step names
another:

    log FILE                 the file the following log steps read
    expect-log REGEX         within the wait, some line matches
    expect-log-text TEXT     within the wait, some line contains TEXT
    expect-log-count N REGEX within the wait, exactly N lines match
    expect-no-log REGEX      now, no line matches (and the file can be read)
    expect-no-log-text TEXT  now, no line contains TEXT (likewise)

Every read has a deadline (--timeout, default 10 s). The transcript is
printed as it goes ("> " sent, of a long file its first 12 lines; "< "
received; "~ " found in a log; with --quiet only when a step fails). A failed step prints the whole
transcript so far, then "FAIL: line N: STEP" with what was expected and
what came instead, and the client exits 1.
"""
import argparse
import re
import socket
import ssl
import sys
import time


class Fail(Exception):
    def __init__(self, expected, got=None):
        Exception.__init__(self, expected)
        self.expected = expected
        self.got = got


def show(data):
    return data.decode("latin-1").rstrip("\r\n")


class Transcript:
    """What was sent and received, printed at once or kept for a failure."""

    def __init__(self, verbose):
        self.verbose = verbose
        self.lines = []

    def add(self, mark, text):
        line = mark + " " + text
        self.lines.append(line)
        if self.verbose:
            sys.stdout.write(line + "\n")

    def sent(self, data, most=12):
        parts = [p for p in data.split(b"\n") if p]
        for part in parts[:most]:
            self.add(">", part.decode("latin-1").rstrip("\r")[:200])
        if len(parts) > most:
            self.add(">", "... (%d more lines, %d bytes in all)" % (len(parts) - most, len(data)))

    def dump(self):
        if not self.verbose:
            for line in self.lines:
                sys.stdout.write(line + "\n")


class Client:
    def __init__(self, host, port, source, timeout, transcript):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buf = b""
        self.bytewise = False
        self.last = []
        self.tx = transcript

    def recv_more(self, deadline, what="a reply"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail(what, "nothing within %g s" % self.timeout)
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Fail(what, "nothing within %g s" % self.timeout)
        except ConnectionResetError:
            data = b""
        return data

    def readline(self, deadline):
        while b"\n" not in self.buf:
            data = self.recv_more(deadline)
            if not data:
                raise Fail("a reply", "the server closed the connection"
                           + (" after %r" % self.buf if self.buf else ""))
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def reply(self):
        deadline = time.monotonic() + self.timeout
        lines = []
        while True:
            line = self.readline(deadline)
            self.tx.add("<", show(line))
            if not line.endswith(b"\r\n"):
                raise Fail("a reply line ending in CRLF", repr(line))
            if len(line) < 5 or not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r"):
                raise Fail("a reply line", repr(line))
            lines.append(line)
            if lines[0][:3] != line[:3]:
                raise Fail("one code in a multi-line reply", repr(b"".join(lines)))
            if line[3:4] != b"-":
                break
        self.last = lines
        return int(lines[0][:3])

    def expect(self, codes):
        got = self.reply()
        if got not in codes:
            raise Fail(" ".join(str(c) for c in codes),
                       " | ".join(show(l) for l in self.last))

    def send(self, data):
        self.tx.sent(data)
        if self.bytewise:
            for i in range(len(data)):
                self.sock.sendall(data[i:i + 1])
                time.sleep(0.001)
        else:
            self.sock.sendall(data)

    def tls(self, sni):
        if self.buf:
            raise Fail("nothing more before the handshake", repr(self.buf))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=sni or None)
        self.tx.add("~", "TLS: %s %s" % (self.sock.version(), self.sock.cipher()[0]))

    def expect_tls_fail(self):
        try:
            self.tls("")
        except (ssl.SSLError, OSError) as e:
            self.tx.add("~", "TLS failed: %s" % e)
            return
        raise Fail("a failed handshake", "TLS %s" % self.sock.version())

    def expect_tls_version(self, v):
        got = self.sock.version() if isinstance(self.sock, ssl.SSLSocket) else "no TLS"
        if got != v:
            raise Fail("TLS version %s" % v, got)

    def expect_eof(self):
        deadline = time.monotonic() + self.timeout
        while True:
            data = self.buf or self.recv_more(deadline, "the server to close the connection")
            self.buf = b""
            if not data:
                return
            self.tx.add("<", show(data))

    def expect_silence(self, ms):
        if self.buf:
            raise Fail("silence", repr(self.buf))
        self.sock.settimeout(ms / 1000.0)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            raise Fail("nothing within %d ms" % ms, repr(data))
        raise Fail("nothing within %d ms" % ms, "the server closed the connection")


def data_bytes(path):
    """A file as DATA content: dot-stuffed, CRLF-terminated, then CRLF.CRLF."""
    with open(path, "rb") as f:
        body = f.read()
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    lines = body.split(b"\r\n")[:-1]
    stuffed = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
    return stuffed + b".\r\n"


def split_codes(arg, default):
    """'<a@b> NOTIFY=NEVER 550 501' -> ('<a@b> NOTIFY=NEVER', [550, 501])."""
    words = arg.split(" ")
    codes = []
    while words and re.fullmatch(r"[2-5][0-9][0-9]", words[-1]):
        codes.insert(0, int(words.pop()))
    while words and words[-1] == "":
        words.pop()
    return " ".join(words), codes or default


class Log:
    """The log steps: a file read as lines, now or within a bounded wait."""

    def __init__(self, path, wait, transcript):
        self.path = path
        self.wait = wait
        self.tx = transcript

    def lines(self):
        """The lines of the file as grep sees them; None if unreadable."""
        if not self.path:
            raise Fail("a log file (--log or a log step)", "none named")
        try:
            with open(self.path, "rb") as f:
                text = f.read().decode("latin-1")
        except OSError:
            return None
        return text[:-1].split("\n") if text.endswith("\n") else text.split("\n") if text else []

    def matching(self, test):
        return [l for l in self.lines() or [] if test(l)]

    def tail(self, n=8):
        lines = self.lines()
        if lines is None:
            return "%s cannot be read" % self.path
        if not lines:
            return "%s is empty" % self.path
        return "the last lines of %s:\n      " % self.path + "\n      ".join(lines[-n:])

    def expect(self, what, test, count=None):
        deadline = time.monotonic() + self.wait
        while True:
            found = self.matching(test)
            if (count is None and found) or (count is not None and len(found) == count):
                shown = found[0] if count is None else "%d lines, the first: %s" % (
                    count, found[0] if found else "-")
                self.tx.add("~", shown[:200])
                return
            if count is not None and len(found) > count:
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        got = "no such line" if count is None else "%d such lines" % len(found)
        raise Fail(what + " (within %g s)" % self.wait, got + "; " + self.tail())

    def expect_none(self, what, test):
        if self.lines() is None:
            raise Fail(what, "%s cannot be read" % self.path)
        found = self.matching(test)
        if found:
            raise Fail(what, "%d such lines, the first: %s" % (len(found), found[0]))
        self.tx.add("~", "%s: none in %s" % (what, self.path))


def expect_text(client, arg, present):
    text = b"".join(client.last).decode("latin-1")
    if present and arg not in text:
        raise Fail("a reply containing %r" % arg, text.rstrip("\r\n"))
    if not present and arg.lower() in text.lower():
        raise Fail("a reply without %r" % arg, text.rstrip("\r\n"))


def expect_line(client, arg):
    lines = [show(l) for l in client.last]
    if not any(l.startswith(arg) for l in lines):
        raise Fail("a reply line starting with %r" % arg, " | ".join(lines))


def send_file(client, path):
    with open(path, "rb") as f:
        client.send(f.read())


def command(client, text, codes, codes_at_end=False):
    """Sends TEXT plus CRLF and expects CODES; with codes_at_end, three-digit
    words at the end of TEXT are the codes instead."""
    if codes_at_end:
        text, codes = split_codes(text, codes)
    client.send(text.encode("latin-1") + b"\r\n")
    client.expect(codes)


def hello(client, name):
    client.expect([220])
    command(client, "EHLO " + (name or "client.test"), [250])


def message(client, arg):
    path, codes = split_codes(arg, [250])
    command(client, "DATA", [354])
    client.send(data_bytes(path))
    client.expect(codes)


def set_bytewise(client, on):
    client.bytewise = on


# The steps that talk to the server: word -> function(client, arg).
SESSION = {
    "expect": lambda c, a: c.expect([int(x) for x in a.split()]),
    "expect-text": lambda c, a: expect_text(c, a, True),
    "expect-no-text": lambda c, a: expect_text(c, a, False),
    "expect-line": expect_line,
    "send": lambda c, a: c.send(a.encode("latin-1") + b"\r\n"),
    "raw": lambda c, a: c.send(a.encode("latin-1").decode("unicode_escape").encode("latin-1")),
    "file": send_file,
    "data": lambda c, a: c.send(data_bytes(a)),
    "bytewise": lambda c, a: set_bytewise(c, True),
    "burst": lambda c, a: set_bytewise(c, False),
    "shutdown": lambda c, a: c.sock.shutdown(socket.SHUT_WR),
    "expect-eof": lambda c, a: c.expect_eof(),
    "expect-silence": lambda c, a: c.expect_silence(int(a)),
    "expect-nothing-yet": lambda c, a: c.expect_silence(200),
    "tls": lambda c, a: c.tls(a),
    "starttls": lambda c, a: (command(c, "STARTTLS", [220]), c.tls(a)),
    "expect-tls-fail": lambda c, a: c.expect_tls_fail(),
    "expect-tls-version": lambda c, a: c.expect_tls_version(a),
    # the short steps: one command and the codes it must get
    "hello": hello,
    "ehlo": lambda c, a: command(c, "EHLO " + a, [250]),
    "helo": lambda c, a: command(c, "HELO " + a, [250]),
    "mail": lambda c, a: command(c, "MAIL FROM:" + a, [250], codes_at_end=True),
    "rcpt": lambda c, a: command(c, "RCPT TO:" + a, [250], codes_at_end=True),
    "message": message,
    "quit": lambda c, a: command(c, "QUIT " + a, [221], codes_at_end=True),
}


def expect_count(log, arg):
    n, _, pattern = arg.partition(" ")
    log.expect("exactly %s lines matching /%s/" % (n, pattern), re.compile(pattern).search, int(n))


def set_log(log, path):
    log.path = path


# The steps that read a log: word -> function(log, arg).
LOG = {
    "log": set_log,
    "expect-log": lambda l, a: l.expect("a line matching /%s/" % a, re.compile(a).search),
    "expect-log-text": lambda l, a: l.expect("a line containing %r" % a, lambda x: a in x),
    "expect-log-count": expect_count,
    "expect-no-log": lambda l, a: l.expect_none("no line matching /%s/" % a, re.compile(a).search),
    "expect-no-log-text": lambda l, a: l.expect_none("no line containing %r" % a, lambda x: a in x),
}


def step(client, log, word, arg):
    if word == "sleep":
        time.sleep(int(arg) / 1000.0)
    elif word in LOG:
        LOG[word](log, arg)
    elif word not in SESSION:
        raise Fail("a known step", repr(word))
    elif client is None:
        raise Fail("a connection for this step", "no --port given")
    else:
        SESSION[word](client, arg)


def run(client, log, tx, lines):
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, _, arg = line.partition(" ")
        try:
            step(client, log, word, arg)
        except (Fail, OSError, ValueError, re.error, ssl.SSLError) as e:
            if isinstance(e, Fail):
                expected, got = e.expected, e.got
            else:
                expected, got = "the step to run", "%s: %s" % (type(e).__name__, e)
            tx.dump()
            sys.stdout.write("FAIL: line %d: %s\n" % (n, line[:200]))
            sys.stdout.write("    expected: %s\n" % expected)
            if got is not None:
                sys.stdout.write("    got:      %s\n" % got)
            return 1
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int)
    p.add_argument("--source", help="the local address to connect from")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--log", help="the file the log steps read")
    p.add_argument("--log-wait", type=float, default=5.0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("script", nargs="?")
    a = p.parse_args()
    lines = open(a.script).readlines() if a.script and a.script != "-" else sys.stdin.readlines()
    tx = Transcript(not a.quiet)
    client = None
    if a.port is not None:
        try:
            client = Client(a.host, a.port, a.source, a.timeout, tx)
        except OSError as e:
            print("FAIL: connect to %s port %d: %s" % (a.host, a.port, e))
            return 1
    return run(client, Log(a.log, a.log_wait, tx), tx, lines)


if __name__ == "__main__":
    sys.exit(main())
