#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A fake downstream SMTP server on stdin/stdout, for rcptcheck_spec.sh.

It stands where qmail-smtpd would, and writes an event log that shows
exactly what reached it:

    PID <pid>                           its process id, at start
    CMD <line as Python bytes repr>     every command line it received
    MSG <n> <size> <sha256>             a message it received (CRLF.CRLF)
    EOF-IN-DATA <size>                  stdin closed in the middle of DATA
    EOF                                 stdin closed between commands
    RAW <bytes repr>                    bytes after STARTTLS (passthrough)

Options:
    --events FILE     the event log (appended, flushed per event)
    --delay MS        pause before every reply (a slow downstream)
    --ext A|B|C       EHLO extensions, in order (default PIPELINING|8BITMIME)
    --ehlo-slow       write each EHLO line with its own write and a pause
    --data-reply N    reply N to DATA instead of 354
    --die-in-data N   exit abruptly after N bytes of message data
    --die-after VERB  exit abruptly (no reply) when VERB arrives
    --garbage VERB    answer VERB with a line that is no SMTP reply
    --hang VERB       never answer VERB (keeps reading, records HUNG-AT)
    --bytewise        write every reply one byte at a time, with pauses
    --multiline VERB  answer VERB with a three-line reply
    --linger          after QUIT, wait up to 5 s for stdin to close and
                      record EOF-AFTER-QUIT (or NO-EOF-AFTER-QUIT)
    --tls             answer STARTTLS with 220, then record raw bytes (also
                      appended to the events file + ".raw") and echo them
                      back prefixed with "TLS:"
"""
import argparse
import hashlib
import os
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--events")
p.add_argument("--delay", type=int, default=0)
p.add_argument("--ext", default="PIPELINING|8BITMIME")
p.add_argument("--ehlo-slow", action="store_true")
p.add_argument("--data-reply", type=int, default=354)
p.add_argument("--die-in-data", type=int, default=-1)
p.add_argument("--die-after", default="")
p.add_argument("--garbage", default="")
p.add_argument("--tls", action="store_true")
p.add_argument("--hang", default="")
p.add_argument("--linger", action="store_true")
p.add_argument("--bytewise", action="store_true")
p.add_argument("--multiline", default="")
a = p.parse_args()

buf = b""


def event(text):
    if a.events:
        with open(a.events, "a") as f:
            f.write(text + "\n")


def out(data):
    os.write(1, data)


def reply(data):
    if a.delay:
        time.sleep(a.delay / 1000.0)
    if a.bytewise:
        for i in range(len(data)):
            out(data[i:i + 1])
            time.sleep(0.002)
    else:
        out(data)


def more():
    global buf
    try:
        d = os.read(0, 65536)
    except OSError:
        d = b""
    buf += d
    return bool(d)


def readline():
    global buf
    while b"\r\n" not in buf:
        if not more():
            return None
    line, buf = buf.split(b"\r\n", 1)
    return line


def read_data(n):
    """Reads message data up to CRLF.CRLF (the DATA line's CRLF counts)."""
    global buf
    data = bytearray(b"\r\n")
    seen = 0
    while True:
        data += buf
        buf = b""
        i = data.find(b"\r\n.\r\n", max(0, seen - 4))
        seen = len(data)
        if i >= 0:
            body = bytes(data[2:i + 2])
            buf = bytes(data[i + 5:])
            return body
        if a.die_in_data >= 0 and len(data) - 2 >= a.die_in_data:
            event("DIED-IN-DATA %d" % (len(data) - 2))
            os._exit(1)
        if not more():
            event("EOF-IN-DATA %d" % (len(data) - 2))
            sys.exit(0)


def tls_raw():
    global buf
    while True:
        if buf:
            event("RAW %r" % buf)
            if a.events:
                with open(a.events + ".raw", "ab") as f:
                    f.write(buf)
            out(b"TLS:" + buf)
            buf = b""
        if not more():
            event("EOF")
            sys.exit(0)


event("PID %d" % os.getpid())
out(b"220 fake.test ESMTP fakesmtp\r\n")
nmsg = 0
while True:
    line = readline()
    if line is None:
        event("EOF")
        break
    event("CMD %r" % line)
    verb = line.split(b" ", 1)[0].split(b":", 1)[0].upper().decode("latin-1")
    if a.die_after and verb == a.die_after.upper():
        event("DIED-AT " + verb)
        os._exit(1)
    if a.hang and verb == a.hang.upper():
        event("HUNG-AT " + verb)
        while more():
            pass
        event("EOF")
        sys.exit(0)
    if a.garbage and verb == a.garbage.upper():
        reply(b"this is no smtp reply\r\n")
        continue
    if verb == "EHLO":
        exts = [e for e in a.ext.split("|") if e]
        lines = [b"fake.test hello"] + [e.encode() for e in exts]
        parts = [b"250" + (b" " if i == len(lines) - 1 else b"-") + l + b"\r\n"
                 for i, l in enumerate(lines)]
        if a.ehlo_slow:
            for part in parts:
                reply(part)
                time.sleep(0.05)
        else:
            reply(b"".join(parts))
    elif a.multiline and verb == a.multiline.upper():
        text = line[:300].replace(b"\r", b"?").replace(b"\n", b"?")
        reply(b"250-ok\r\n250-still ok\r\n250 ok " + text + b"\r\n")
    elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP", "BDAT"):
        # The reply names the command, so that a test can tell replies apart.
        reply(b"250 ok " + line[:300].replace(b"\r", b"?").replace(b"\n", b"?") + b"\r\n")
    elif verb == "DATA":
        if a.data_reply != 354:
            reply(b"%d no data for you\r\n" % a.data_reply)
            continue
        reply(b"354 go ahead\r\n")
        body = read_data(nmsg)
        nmsg += 1
        event("MSG %d %d %s" % (nmsg, len(body), hashlib.sha256(body).hexdigest()))
        reply(b"250 ok message %d\r\n" % nmsg)
    elif verb == "STARTTLS" and a.tls:
        reply(b"220 ready to start TLS\r\n")
        event("TLS-START")
        tls_raw()
    elif verb == "QUIT":
        reply(b"221 fake.test bye\r\n")
        if a.linger:
            import select
            end = time.monotonic() + 5
            while time.monotonic() < end:
                r, _, _ = select.select([0], [], [], end - time.monotonic())
                if r and not more():
                    event("EOF-AFTER-QUIT")
                    sys.exit(0)
            event("NO-EOF-AFTER-QUIT")
        break
    else:
        reply(b"502 unimplemented\r\n")
