#!/bin/bash
# SPDX-License-Identifier: ISC
# rcptcheck's per-session limits, each against a recording downstream:
# a command line dripped in byte by byte (slowloris) has its own
# deadline; the session a total cap (RCPTCHECK_MAXTIME); no descriptors
# left (ulimit -n) still gets the client a 421; a downstream that answers
# 354 to something other than DATA is a protocol error; the final reply
# after a message waits longer than the reply timeout, and one that
# comes after its deadline is logged as late; the downstream's log line
# carries the code the client was given.
. "$(dirname "$0")/../lib.sh"
RC=${RCPTCHECK:-$SRC/rcptcheck}
mkdir -p "$T/q/control"
echo example.test > "$T/q/control/locals"
export QMAILHOME=$T/q
unset RCPTCHECK_TIMEOUT RCPTCHECK_REPLYTIMEOUT RCPTCHECK_DATATIMEOUT RCPTCHECK_MAXTIME

# The recording downstream: every byte it gets goes to its record file
# (then <EOF>). Modes: plain; data354 (354 to any line starting with
# DATA, as a careless server might); final:MS (the reply after a message
# comes MS milliseconds late); die:N (exits after N bytes of message).
cat > "$T/fake.py" <<'PY'
import os, sys, time
mode, rec = sys.argv[1], sys.argv[2]
log = open(rec, "ab", buffering=0)
os.write(1, b"220 fake ESMTP\r\n")
buf, indata, got = b"", False, 0
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        log.write(b"<EOF>"); sys.exit(0)
    log.write(chunk)
    buf += chunk
    while True:
        if indata:
            got += len(chunk); chunk = b""
            if mode.startswith("die:") and got > int(mode[4:]): os._exit(1)
            i = buf.find(b"\r\n.\r\n")
            if i < 0: break
            buf, indata = buf[i + 5:], False
            if mode.startswith("final:"): time.sleep(int(mode[6:]) / 1000.0)
            os.write(1, b"250 accepted\r\n")
            continue
        i = buf.find(b"\r\n")
        if i < 0: break
        line, buf = buf[:i], buf[i + 2:]
        verb = line[:4].upper()
        if verb == b"DATA" and (line.upper() == b"DATA" or mode == "data354"):
            os.write(1, b"354 go ahead\r\n"); indata, got, chunk = True, 0, b""; buf = b"\r\n" + buf
        elif verb == b"QUIT":
            os.write(1, b"221 bye\r\n"); sys.exit(0)
        else:
            os.write(1, b"250 ok\r\n")
PY
# serve_f NAME MODE [VAR=value...]: rcptcheck in front of the recorder
# $T/NAME.rec.
serve_f() {
  local name=$1 mode=$2; shift 2
  REC=$T/$name.rec
  serve "$name" env "$@" "$RC" python3 "$T/fake.py" "$mode" "$REC"
}

# ------------------------------------------------------------ slowloris
# A command line, one byte every 300 ms: each byte is progress, but the
# line as a whole must come within RCPTCHECK_TIMEOUT (2 s here).
serve_f drip plain RCPTCHECK_TIMEOUT=2
check "slowloris: a line dripped byte by byte gets 421 4.4.2 within its timeout" python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
print(f.readline())
line, t0, got = b"MAIL FROM:<someone.who.types.slowly@remote.test>", time.monotonic(), b""
s.settimeout(0.3)
for c in line:
    try:
        s.send(bytes([c]))
    except OSError:
        break
    try:
        got = s.recv(200)
        if got: break
    except socket.timeout:
        pass
dt = time.monotonic() - t0
print(got, round(dt, 2))
sys.exit(0 if got.startswith(b"421 4.4.2") and 1.5 < dt < 4 else 1)
PY
check "slowloris: logged as a timeout of the line, the session ended" logs drip '
expect-log ^rcptcheck: timeout ip=127\.0\.0\.1 pid=[0-9]+ code=421 reason=line$
expect-log ^rcptcheck: done .*end=timeout tls=no$'
check "slowloris: the half line never reached the downstream" logs "$REC" "
expect-no-log-text slowly"
stop_server "$SERVER_PID"

# ------------------------------------------------------------ RCPTCHECK_MAXTIME
serve_f maxtime plain RCPTCHECK_MAXTIME=2
check "RCPTCHECK_MAXTIME: a session that keeps talking is cut with 421 4.4.2" python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
t0, last = time.monotonic(), f.readline()
while not last.startswith(b"421") and time.monotonic() - t0 < 6:
    s.sendall(b"NOOP\r\n")
    last = f.readline()
    print(last, round(time.monotonic() - t0, 2))
    time.sleep(0.3)
dt = time.monotonic() - t0
sys.exit(0 if last.startswith(b"421 4.4.2") and 1.8 < dt < 3.5 and f.read() == b"" else 1)
PY
check "RCPTCHECK_MAXTIME: logged, end=maxtime" logs maxtime '
expect-log ^rcptcheck: timeout ip=127\.0\.0\.1 pid=[0-9]+ code=421 reason=maxtime$
expect-log ^rcptcheck: done .*end=maxtime tls=no$'
stop_server "$SERVER_PID"
serve_f maxdata plain RCPTCHECK_MAXTIME=1
check "RCPTCHECK_MAXTIME in the middle of a message: 421, nothing queued" client "$PORT" "
hello
mail <s@remote.test>
rcpt <x@remote.test>
send DATA
expect 354
raw Subject: slow\\r\\n\\r\\nfirst line\\r\\n
sleep 1500
expect 421
expect-eof"
check "RCPTCHECK_MAXTIME mid-message: the downstream got no end of message" logs "$REC" '
expect-log-text first line
expect-no-log-text first line\r\n.\r\n
expect-log-text <EOF>'
stop_server "$SERVER_PID"

# ------------------------------------------------------------ no descriptors
check "ulimit -n: no pipes, still 421 4.3.0 to the client, then exit 111" sh -c "
  ( ulimit -n 4; exec '$RC' /bin/cat ) < /dev/null > '$T/fd.out' 2> '$T/fd.err'; rc=\$?
  cat '$T/fd.out' '$T/fd.err'; [ \$rc -eq 111 ] && grep -q '^421 4.3.0 ' '$T/fd.out' &&
  grep -q '^rcptcheck: fatal: unable to create pipes' '$T/fd.err'"

# ------------------------------------------------------------ 354 to no DATA
serve_f d354 data354
check "354 to DATAx: a protocol error, 421 to the client" client "$PORT" "
hello
mail <s@remote.test>
rcpt <x@remote.test>
send DATAx
expect 421
expect-eof"
check "354 to DATAx: logged" logs d354 '
expect-log ^rcptcheck: downstream ip=127\.0\.0\.1 pid=[0-9]+ code=421 reason=bad-354$'
# ends_at FILE TEXT: after TEXT, the downstream got nothing (but its EOF)
ends_at() { python3 -c "import sys; d=open(sys.argv[1],'rb').read(); t=sys.argv[2].encode(); sys.exit(0 if t in d and d.split(t,1)[1] in (b'',b'<EOF>') else 1)" "$1" "$2"; }
check "354 to DATAx: the downstream got nothing after it, no terminator" ends_at "$REC" $'DATAx\r\n'
check "354 to DATA: (a colon): the same, nothing after it is taken for a message" client "$PORT" "
hello
mail <s@remote.test>
raw DATA:\\r\\nRCPT TO:<smuggled@example.test>\\r\\n.\\r\\n
expect 421
expect-eof"
check "354 to DATA:: nothing after it reached the downstream" ends_at "$REC" $'DATA:\r\n'
stop_server "$SERVER_PID"

# ------------------------------------------------------------ the final reply
message "$T/m" "a message whose final reply is slow"
# The reply timeout is 1 s, the final reply comes after 2.5 s: the final
# reply has the data timeout (600 s by default), and the message is taken.
serve_f final final:2500 RCPTCHECK_REPLYTIMEOUT=1
check "final reply: waits beyond the reply timeout (2.5 s > 1 s), 250" client "$PORT" "
hello
mail <s@remote.test>
rcpt <x@remote.test>
message $T/m
quit"
stop_server "$SERVER_PID"
# A data timeout of 2 s (lower for tests), the final reply after 3 s: the
# client is told 421, and the answer that comes after it is logged as late.
serve_f late final:3000 RCPTCHECK_DATATIMEOUT=2 RCPTCHECK_REPLYTIMEOUT=1
check "final reply after its deadline: the client gets 421" client "$PORT" "
hello
mail <s@remote.test>
rcpt <x@remote.test>
message $T/m 421
expect-eof"
check "final reply after its deadline: logged, then the late answer logged apart" logs late '
expect-log ^rcptcheck: downstream ip=127\.0\.0\.1 pid=[0-9]+ code=421 reason=final-timeout$
expect-log ^rcptcheck: late ip=127\.0\.0\.1 pid=[0-9]+ reply=250$'
stop_server "$SERVER_PID"

# ------------------------------------------------------------ the downstream line's code=
# The downstream dies after 2,000 bytes of message. Its log line carries
# the code the client actually got: 421 at once while the client is still
# sending, 451 when the end of the message was already there.
serve_f die die:2000
yes 'a line of the message that is long enough to count' | head -n 200 | sed 's/$/\r/' > "$T/body"
check "downstream dies mid-message, client still sending: 421 at once" client "$PORT" "
hello
mail <s@remote.test>
rcpt <x@remote.test>
send DATA
expect 354
file $T/body
expect 421
expect-eof"
check "... and the downstream line says code=421" logs die '
expect-log ^rcptcheck: downstream ip=127\.0\.0\.1 pid=[0-9]+ code=421 reason=(eof|write)$
expect-no-log code=451'
stop_server "$SERVER_PID"
# Whatever the timing, the code in the log is the code the client got.
serve_f die2 die:2000
{ cat "$T/body"; printf '.\r\n'; } > "$T/whole"
check "downstream dies, the whole message sent at once: the log's code= is the client's" python3 - "$PORT" "$T/whole" "$T/die2.log" <<'PY'
import re, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
def reply():
    while True:
        l = f.readline()
        if l[3:4] != b"-": return l
reply()
s.sendall(b"HELO x\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<x@remote.test>\r\nDATA\r\n")
for i in range(4): reply()
s.sendall(open(sys.argv[2], "rb").read())
got = reply()[:3].decode()
for i in range(100):
    m = re.findall(r"^rcptcheck: downstream .* code=([0-9]+) ", open(sys.argv[3]).read(), re.M)
    if m: break
    time.sleep(0.05)
print("client got", got, "log says", m)
sys.exit(0 if got in ("421", "451") and m == [got] else 1)
PY
stop_server "$SERVER_PID"

finish
