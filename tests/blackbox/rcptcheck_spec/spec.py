#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Raw-socket cases of rcptcheck_spec.sh that the scripted client cannot
express. Each prints a transcript and exits 0 only when the case holds.

  spec.py dictionary PORT MAX [rset]
                                  MAX-limit for unknown recipients (with
                                  "rset": a new transaction before each)
  spec.py bigmsg PORT SERVERPID FILE RCPT
                                  sends FILE (CRLF) as one message and
                                  reports the proxy's peak RSS growth
  spec.py genmsg FILE MB          writes a deterministic CRLF message
  spec.py genline FILE MB         the same with one body line of MB megabytes
  spec.py tarpit PORT            RCPTCHECK_TARPIT=1: the pause after an
                                  unknown recipient grows
  spec.py badcmd PORT SERVERPID  malformed commands against fakesmtp.py:
                                  500/501, the session goes on, and the
                                  proxy's peak RSS stays flat
  spec.py tls PORT BINFILE        RCPTCHECK_TLS=passthrough against
                                  fakesmtp.py --tls: STARTTLS advertised,
                                  220, then a blind relay both ways
"""
import hashlib
import os
import socket
import sys
import time


class Conn:
    def __init__(self, port, timeout=15):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                return None
            self.buf += d
        l, self.buf = self.buf.split(b"\n", 1)
        return l + b"\n"

    def reply(self):
        lines = []
        while True:
            l = self.line()
            if l is None:
                print("< (eof)")
                return None, lines
            print("< " + l.decode("latin-1").rstrip())
            lines.append(l)
            if l[3:4] != b"-":
                return int(l[:3]), lines

    def send(self, b):
        print("> " + b.decode("latin-1").rstrip()[:120])
        self.s.sendall(b)

    def eof(self):
        try:
            while True:
                d = self.buf or self.s.recv(65536)
                self.buf = b""
                if not d:
                    return True
                print("< " + d.decode("latin-1").rstrip())
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def session(port, name, server=None, timeout=15):
    """Connects, expects 220, sends EHLO NAME; with SERVER (tcpserver's
    pid), finds the proxy process first. Returns the connection, the
    proxy's pid and the EHLO reply (code, lines)."""
    c = Conn(port, timeout)
    if c.reply()[0] != 220:
        fail("no greeting")
    pid = None
    if server is not None:
        pid = proxy_pid(server)
        if pid is None:
            fail("cannot find the proxy process")
    c.send(b"EHLO %s\r\n" % name)
    return c, pid, c.reply()


def dictionary(port, mx, rset=False):
    c, _, _ = session(port, b"dict.test")
    c.send(b"MAIL FROM:<d@elsewhere.test>\r\n")
    c.reply()
    n550 = 0

    def closed(lines):
        if b"4.7.0" not in b"".join(lines):
            fail("421 without 4.7.0")
        if n550 not in (mx - 1, mx):
            fail("421 after %d times 550, want %d (or %d)" % (n550, mx, mx - 1))
        if not c.eof():
            fail("session not closed after 421")
        print("ok: %d times 550, then 421 4.7.0 and close" % n550)

    for i in range(1, mx + 3):
        if rset and i > 1:
            c.send(b"RSET\r\nMAIL FROM:<d@elsewhere.test>\r\n")
            for _ in range(2):
                code, lines = c.reply()
                if code == 421:
                    return closed(lines)
                if code != 250:
                    fail("RSET/MAIL: %r" % code)
        try:
            c.send(b"RCPT TO:<nosuch%d@example.test>\r\n" % i)
        except OSError as e:
            fail("send failed before any 421: %s" % e)
        try:
            code, lines = c.reply()
        except ConnectionResetError:
            code, lines = None, []
        if code == 550:
            n550 += 1
            if n550 > mx:
                fail("more than %d replies 550: no limit" % mx)
            continue
        if code == 421:
            return closed(lines)
        fail("unexpected reply %r after %d times 550" % (code, n550))
    fail("no 421")


def tarpit(port):
    c = Conn(port, timeout=30)
    if c.reply()[0] != 220:
        fail("no greeting")
    c.send(b"EHLO tarpit.test\r\nMAIL FROM:<t@elsewhere.test>\r\n")
    c.reply()
    c.reply()
    lat = []
    for i in (1, 2):
        t = time.monotonic()
        c.send(b"RCPT TO:<nosuch%d@example.test>\r\n" % i)
        if c.reply()[0] != 550:
            fail("want 550")
        lat.append(time.monotonic() - t)
    print("# replies to two unknown recipients after %s s" % ["%.2f" % x for x in lat])
    if lat[1] < 0.9 or lat[1] < lat[0] + 0.5:
        fail("no growing pause")


def hwm(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmHWM:"):
                return int(l.split()[1])
    return -1


def proxy_pid(server):
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        if int(rest[1]) == server:
            return int(d)
    return None


def bigmsg(port, server, path, rcpt):
    with open(path, "rb") as f:
        body = f.read()
    lines = body.split(b"\r\n")
    if lines[-1] == b"":
        lines.pop()
    stuffed = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
    c, pid, _ = session(port, b"big.test", server, timeout=120)
    c.send(b"MAIL FROM:<big@elsewhere.test>\r\n")
    if c.reply()[0] != 250:
        fail("MAIL")
    c.send(b"RCPT TO:<%s>\r\n" % rcpt.encode())
    if c.reply()[0] != 250:
        fail("RCPT")
    c.send(b"DATA\r\n")
    if c.reply()[0] != 354:
        fail("DATA")
    before = hwm(pid)
    t = time.monotonic()
    print("> (%d bytes of message, dot-stuffed)" % len(stuffed))
    c.s.sendall(stuffed + b".\r\n")
    code, _ = c.reply()
    if code != 250:
        fail("end of data: %r" % code)
    after = hwm(pid)
    print("# %d bytes in %.2f s; proxy VmHWM %d kB before, %d kB after"
          % (len(stuffed), time.monotonic() - t, before, after))
    c.send(b"QUIT\r\n")
    c.reply()
    if after - before > 8192:
        fail("proxy peak RSS grew by %d kB" % (after - before))


def genmsg(path, mb):
    """Headers, then lines of every awkward kind: dots, long lines, 8-bit
    bytes, empty lines, text that looks like SMTP commands."""
    out = [b"From: big@elsewhere.test", b"To: alice@example.test",
           b"Subject: rcptcheck spec big message",
           b"Message-ID: <big.%d@example.test>" % mb,
           b"Date: Sun, 22 Nov 2026 12:00:00 +0000", b""]
    size = sum(len(l) + 2 for l in out)
    i = 0
    h = hashlib.sha256(b"seed")
    while size < mb * 1024 * 1024:
        h = hashlib.sha256(h.digest())
        hx = h.hexdigest().encode()
        k = i % 11
        if k == 0:
            l = b"."
        elif k == 1:
            l = b".." + hx
        elif k == 2:
            l = b"." + hx * 3
        elif k == 3:
            l = (hx * 1600)[:100000 - (i % 97)]      # ~100 kB line
        elif k == 4:
            l = b""
        elif k == 5:
            l = bytes(range(0x80, 0x100)) + hx      # 8-bit bytes
        elif k == 6:
            l = b"RCPT TO:<nosuch@example.test>"
        elif k == 7:
            l = b"QUIT"
        elif k == 8:
            l = b" ." + hx
        elif k == 9:
            l = b"\t." + b"x" * (i % 2000)
        else:
            l = hx * (1 + i % 40)
        out.append(l)
        size += len(l) + 2
        i += 1
    with open(path, "wb") as f:
        f.write(b"\r\n".join(out) + b"\r\n")


def badcmd(port, server):
    """Each bad line must get 500/501 first. The text after a bare LF is
    a harmless "NOOP tail" that a proxy splitting lines at LF (as
    qmail-smtpd does) may treat as a command of its own; anything else
    before the RSET that follows must be 500/501 too."""
    cases = [
        b"MAIL FROM:<nul\x00@elsewhere.test>\r\n",
        b"RCPT TO:<lf1@elsewhere.test>\nNOOP tail\r\n",
        b"VRFY cr1\rRCPT TO:<cr2@elsewhere.test>\r\n",
        b"RCPT TO:<crlf1@elsewhere.test>\r\rNOOP tail\r\n",
        b"NOOP a" + b"a" * 505 + b"\r\n",                      # 513 bytes
        b"NOOP " + b"z" * 20000000 + b"\r\n",                  # 20 MB
        b"RCPT TO:<big@elsewhere.test> " + b"y" * 20000000 + b"\nNOOP tail\r\n",
    ]
    c, pid, _ = session(port, b"bad.test", server)
    before = hwm(pid)
    for bad in cases:
        c.send(bad)
        c.send(b"RSET\r\n")
        codes = []
        while True:
            code, lines = c.reply()
            if code is None:
                fail("connection closed after %r" % bad[:40])
            text = b"".join(lines)
            if b"ok RSET" in text:
                break
            if not codes and code not in (500, 501):
                fail("first reply to %r is %d, want 500/501" % (bad[:40], code))
            if code not in (500, 501) and b"ok NOOP" not in text:
                fail("unexpected reply %r" % text)
            codes.append(code)
        if not codes:
            fail("no reply to %r" % bad[:40])
    after = hwm(pid)
    print("# proxy VmHWM %d kB before the bad lines, %d kB after" % (before, after))
    if after - before > 8192:
        fail("proxy peak RSS grew by %d kB" % (after - before))
    # Exactly 512 bytes with CRLF is a valid command line.
    c.send(b"NOOP " + b"b" * 505 + b"\r\n")
    code, lines = c.reply()
    if code != 250 or b"ok NOOP" not in b"".join(lines):
        fail("a 512-byte command was not relayed")
    c.send(b"QUIT\r\n")
    c.reply()


def tls(port, path):
    with open(path, "rb") as f:
        blob = f.read()
    c, _, (code, lines) = session(port, b"tls.test")
    if code != 250 or not any(b"STARTTLS" in l.upper() for l in lines):
        fail("STARTTLS not advertised in passthrough mode")
    # Plaintext pipelined after STARTTLS must be dropped, never relayed.
    c.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<p@elsewhere.test>\r\n")
    code, lines = c.reply()
    if code != 220:
        fail("STARTTLS: want 220, got %r" % code)
    c.send(blob)
    c.s.shutdown(socket.SHUT_WR)
    got = c.buf
    c.buf = b""
    c.s.settimeout(5)
    try:
        while True:
            d = c.s.recv(65536)
            if not d:
                break
            got += d
    except (socket.timeout, ConnectionResetError):
        pass
    print("< %r" % got)
    if not got.startswith(b"TLS:"):
        fail("after 220 the first bytes must come from the blind relay")
    if got.replace(b"TLS:", b"") != blob:
        fail("the relayed bytes differ from what the downstream sent")


def genline(path, mb):
    head = (b"From: big@elsewhere.test\r\nTo: alice@example.test\r\n"
            b"Subject: rcptcheck spec one long line\r\n"
            b"Message-ID: <line.%d@example.test>\r\n"
            b"Date: Sun, 22 Nov 2026 12:00:00 +0000\r\n\r\n" % mb)
    unit = b"0123456789abcdef.." * 64
    line = (unit * (mb * 1024 * 1024 // len(unit) + 1))[:mb * 1024 * 1024]
    with open(path, "wb") as f:
        f.write(head + line + b"\r\n.end\r\n")


def main():
    cmd = sys.argv[1]
    if cmd == "dictionary":
        dictionary(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:] == ["rset"])
    elif cmd == "bigmsg":
        bigmsg(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif cmd == "tarpit":
        tarpit(int(sys.argv[2]))
    elif cmd == "badcmd":
        badcmd(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "tls":
        tls(int(sys.argv[2]), sys.argv[3])
    elif cmd == "genline":
        genline(sys.argv[2], int(sys.argv[3]))
    elif cmd == "genmsg":
        genmsg(sys.argv[2], int(sys.argv[3]))
    else:
        fail("unknown case " + cmd)


if __name__ == "__main__":
    main()
