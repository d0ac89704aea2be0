#!/usr/bin/env python3
"""A scripted SMTP client for najimi's black-box tests.

It shares no code with the programs under test. A script is a transcript,
one step per line, read from a file or standard input:

    expect 220          read one reply (multi-line aware), its code must be 220
    expect 250 554      ... or one of several codes
    expect-text WORD    the last reply must contain WORD
    expect-no-text WORD the last reply must not contain WORD (any case)
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
    expect-nothing-yet  same as expect-silence 200
    # comment

Every read has a deadline (--timeout, default 10 s). Each reply received
is printed as "< line"; a failed step prints "FAIL: ..." and exits 1.
"""
import socket
import sys
import time
import argparse


class Fail(Exception):
    pass


class Client:
    def __init__(self, host, port, timeout, verbose):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buf = b""
        self.bytewise = False
        self.last = []
        self.verbose = verbose

    def recv_more(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Fail("timed out waiting for the server")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Fail("timed out waiting for the server")
        except ConnectionResetError:
            data = b""
        return data

    def readline(self, deadline):
        while b"\n" not in self.buf:
            data = self.recv_more(deadline)
            if not data:
                raise Fail("connection closed by the server (pending %r)" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def reply(self):
        deadline = time.monotonic() + self.timeout
        lines = []
        while True:
            line = self.readline(deadline)
            if self.verbose:
                sys.stdout.write("< " + line.decode("latin-1").rstrip("\r\n") + "\n")
            if not line.endswith(b"\r\n"):
                raise Fail("reply line without CRLF: %r" % line)
            if len(line) < 5 or not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r"):
                raise Fail("malformed reply line: %r" % line)
            lines.append(line)
            if lines[0][:3] != line[:3]:
                raise Fail("multi-line reply changes code: %r" % lines)
            if line[3:4] != b"-":
                break
        self.last = lines
        return int(lines[0][:3])

    def send(self, data):
        if self.verbose:
            for part in data.split(b"\n"):
                if part:
                    sys.stdout.write("> " + part.decode("latin-1").rstrip("\r")[:200] + "\n")
        if self.bytewise:
            for i in range(len(data)):
                self.sock.sendall(data[i:i + 1])
                time.sleep(0.001)
        else:
            self.sock.sendall(data)

    def expect_eof(self):
        deadline = time.monotonic() + self.timeout
        while True:
            data = self.buf or self.recv_more(deadline)
            self.buf = b""
            if not data:
                return
            if self.verbose:
                sys.stdout.write("< " + data.decode("latin-1").rstrip("\r\n") + "\n")

    def expect_silence(self, ms):
        if self.buf:
            raise Fail("unexpected bytes: %r" % self.buf)
        self.sock.settimeout(ms / 1000.0)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            raise Fail("unexpected bytes within %d ms: %r" % (ms, data))
        raise Fail("connection closed within %d ms" % ms)


def run(client, lines):
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, _, arg = line.partition(" ")
        try:
            if word == "expect":
                codes = [int(c) for c in arg.split()]
                got = client.reply()
                if got not in codes:
                    raise Fail("expected %s, got %r" % (arg, b"".join(client.last)))
            elif word == "expect-text":
                text = b"".join(client.last).decode("latin-1")
                if arg not in text:
                    raise Fail("reply %r lacks %r" % (text, arg))
            elif word == "expect-no-text":
                text = b"".join(client.last).decode("latin-1")
                if arg.lower() in text.lower():
                    raise Fail("reply %r contains %r" % (text, arg))
            elif word == "send":
                client.send(arg.encode("latin-1") + b"\r\n")
            elif word == "raw":
                client.send(arg.encode("latin-1").decode("unicode_escape").encode("latin-1"))
            elif word == "file":
                with open(arg, "rb") as f:
                    client.send(f.read())
            elif word == "data":
                with open(arg, "rb") as f:
                    body = f.read()
                if body and not body.endswith(b"\r\n"):
                    body += b"\r\n"
                lines = body.split(b"\r\n")[:-1]
                stuffed = b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)
                client.send(stuffed + b".\r\n")
            elif word == "bytewise":
                client.bytewise = True
            elif word == "burst":
                client.bytewise = False
            elif word == "sleep":
                time.sleep(int(arg) / 1000.0)
            elif word == "shutdown":
                client.sock.shutdown(socket.SHUT_WR)
            elif word == "expect-eof":
                client.expect_eof()
            elif word == "expect-silence":
                client.expect_silence(int(arg))
            elif word == "expect-nothing-yet":
                client.expect_silence(200)
            else:
                raise Fail("unknown step %r" % word)
        except Fail as e:
            sys.stdout.write("FAIL: step %d (%s): %s\n" % (n, line[:80], e))
            return 1
        except OSError as e:
            sys.stdout.write("FAIL: step %d (%s): %s\n" % (n, line[:80], e))
            return 1
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("script", nargs="?")
    a = p.parse_args()
    lines = open(a.script).readlines() if a.script and a.script != "-" else sys.stdin.readlines()
    try:
        client = Client(a.host, a.port, a.timeout, not a.quiet)
    except OSError as e:
        print("FAIL: connect: %s" % e)
        return 1
    return run(client, lines)


if __name__ == "__main__":
    sys.exit(main())
