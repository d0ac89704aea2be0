#!/bin/bash
# SPDX-License-Identifier: ISC
# The refusal sessions of smtp.c (greetdelay's 554, ipgreylist's 451):
# -t is the silence they allow; the whole session ends after 4 times -t
# (NJ_REFUSAL_TOTAL), so that a client sending one byte now and then
# (slowloris) cannot hold one open, while a client that talks is answered
# past -t.
. "$(dirname "$0")/../lib.sh"

# drip PORT EVERY TOTAL [FIRST]: sends FIRST (a line), then one byte of
# "NOOP\r\n" every EVERY seconds, for at most TOTAL seconds; prints how
# long the server took to close the connection (or "open").
drip() {
  python3 - "$@" <<'PY'
import socket, sys, time
port, every, total = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
first = sys.argv[4].encode() + b"\r\n" if len(sys.argv) > 4 else b""
s = socket.create_connection(("127.0.0.1", port), timeout=2)
t0 = time.monotonic()
if first: s.sendall(first)
s.setblocking(False)
noop, i = b"NOOP\r\n", 0
while time.monotonic() - t0 < total:
    try:
        while True:
            d = s.recv(4096)
            if not d:
                print("%.1f" % (time.monotonic() - t0)); sys.exit(0)
    except BlockingIOError:
        pass
    except ConnectionResetError:
        print("%.1f" % (time.monotonic() - t0)); sys.exit(0)
    try:
        s.send(noop[i % len(noop):i % len(noop) + 1]); i += 1
    except OSError:
        print("%.1f" % (time.monotonic() - t0)); sys.exit(0)
    time.sleep(every)
print("open")
PY
}
# closed_between LO HI PORT EVERY TOTAL [FIRST]: drip's time is in [LO, HI].
closed_between() {
  local lo=$1 hi=$2 got; shift 2
  got=$(drip "$@")
  echo "# closed after: $got s (want $lo to $hi)"
  [ "$got" != open ] && awk -v g="$got" -v l="$lo" -v h="$hi" 'BEGIN { exit !(g >= l && g <= h) }'
}

serve ipg env GREYLIST="4.7.1 come back later" "$SRC/ipgreylist" -t 1 true
check "ipgreylist -t 1: a byte every 0.5 s is cut after 4 x -t in all" closed_between 3.5 6 "$PORT" 0.5 12
check "ipgreylist -t 1: a client that talks is answered past -t" client --timeout 4 "$PORT" "
expect 220
send NOOP
expect 250
sleep 700
send NOOP
expect 250
sleep 700
send NOOP
expect 250
expect-eof"
check "ipgreylist -t 1: a silent client is closed after -t" client --timeout 2.5 "$PORT" "
expect 220
expect-eof"
stop_server "$SERVER_PID"

serve gd env GREETDELAY=2 "$SRC/greetdelay" -t 1 true
check "greetdelay -t 1: an early talker dripping bytes is cut after 4 x -t" \
  closed_between 3.5 6 "$PORT" 0.5 12 "EHLO early.test"
stop_server "$SERVER_PID"

finish
