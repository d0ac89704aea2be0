#!/bin/bash
# SPDX-License-Identifier: ISC
# najimi-report over the log of the real chain: tcpserver -v with rules
# (a deny, a greet pause), greetdelay, ipgreylist (GREYLIST_MIN=2, one
# key per address), rcptcheck, exim as the tail; its stderr stamped by
# tai64n as multilog t stamps it. The sessions below are known, so the
# report's counts must be exactly theirs, and its delays those the stamps
# say (computed here independently, from the labels). Then the same
# from a service directory's log files, -d and -b/-e over lines made
# here, -p's picture (a PNG of the size asked), and bad input.
. "$(dirname "$0")/../lib.sh"
RP=$SRC/najimi-report
needs_root "exim -C"
exim_tail

Q=$T/qmail
mkdir -p "$Q/control"
echo report.test > "$Q/control/locals"
echo mx.report.test > "$Q/control/me"
printf 'alice@report.test\n' > "$T/valid"
"$SRC/rcptcheck-cdb" "$T/valid" "$T/valid.cdb"
mkdir -p "$T/state"
printf '127.0.5.4:allow,GREETDELAY="2"\n127.0.5.9:deny\n:allow\n' | tcprules "$T/rules.cdb" "$T/rules.tmp"

# The chain's stderr goes through a fifo into tai64n: stamped.log is
# what multilog t would have written.
mkfifo "$T/chain.log"
tai64n < "$T/chain.log" > "$T/stamped.log" &
PIDS+=("$!")
TCPSERVER_OPTS="-v -x $T/rules.cdb" serve chain env QMAILHOME="$Q" RCPTCHECK_CDB="$T/valid.cdb" \
  GREYLISTDIR="$T/state" GREYLIST_MIN=2 GREYLIST_V4PREFIX=32 GREYLIST_KEY=ip \
  "$SRC/greetdelay" "$SRC/ipgreylist" "$SRC/rcptcheck" "${EXIM[@]}"
message "$T/msg" "hello"

greylisted() { client --source "$1" "$PORT" "
hello
mail <s@remote.test>
rcpt <alice@report.test> 451
quit
expect-eof"; }
delivered() { client --source "$1" "$PORT" "
hello
$(message_steps "$T/msg" alice@report.test)"; }

maildir_mark
check "A 127.0.5.1: new, 451" greylisted 127.0.5.1
check "A 127.0.5.1: back at once, too soon, 451" greylisted 127.0.5.1
check "B 127.0.5.2: new, 451" greylisted 127.0.5.2
check "C 127.0.5.3: new, 451 (never comes back)" greylisted 127.0.5.3
sleep 3
check "A: back after GREYLIST_MIN, the message is accepted" delivered 127.0.5.1
check "B: back after GREYLIST_MIN, the message is accepted" delivered 127.0.5.2
check "A, a regular now: two unknown users 550, one message" client --source 127.0.5.1 "$PORT" "
hello
mail <s@remote.test>
rcpt <nobody@report.test> 550
rcpt <nosuch@report.test> 550
rcpt <alice@report.test>
message $T/msg
quit"
for i in 1 2; do
  check "early talker 127.0.5.4 ($i): 554" client --source 127.0.5.4 "$PORT" "
send EHLO early.test
expect 554
send QUIT
expect 221"
done
check "127.0.5.9: denied by tcprules (tcpserver closes)" client --source 127.0.5.9 "$PORT" "
expect-eof"
check "exim got the three messages" maildir_new 3
stop_server "$SERVER_PID"
wait_for 100 grep -q 'tcpserver: deny' "$T/stamped.log"
sleep 0.3

# What the stamps say, read here without najimi's code: for each of A
# and B, the seconds from its first ipgreylist 451 to its pass.
python3 - "$T/stamped.log" > "$T/expected" <<'PY'
import sys, re
first, delay = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r'@([0-9a-f]{16})[0-9a-f]{8} ipgreylist: (\S+) ip=(\S+) .*', line)
    if not m: continue
    t, act, ip = int(m.group(1), 16) - 2**62 - 10, m.group(2), m.group(3)
    if act in ("new", "too-soon") and " code=451" in line: first.setdefault(ip, t)
    if act == "pass" and ip in first and ip not in delay: delay[ip] = t - first[ip]
d = sorted(delay.values())
print(len(d), d[0], d[-1], d[-1])     # count, median (nearest rank of 2), p90, max
PY
read -r dcount dmed dp90 dmax < "$T/expected"
echo "# delays by the stamps: count $dcount median $dmed p90 $dp90 max $dmax"

"$RP" -j "$T/stamped.log" > "$T/report.json" 2> "$T/report.err"
field() { python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
v = r
for k in sys.argv[2].split("."): v = v[int(k)] if k.isdigit() else v[k]
print(v)' "$T/report.json" "$1"; }
is() { local got; got=$(field "$1"); [ "$got" = "$2" ] || { echo "# $1: got $got, want $2"; return 1; }; }

check "report -j: valid JSON, nothing on stderr" sh -c "python3 -m json.tool '$T/report.json' > /dev/null && [ ! -s '$T/report.err' ]"
check "sessions: 10 (9 let in by tcpserver, 1 denied)" sh -c "$(declare -f field is); T='$T'; is total.counts.sessions 10 && is total.counts.tcpserver_ok 9 && is total.counts.tcpserver_deny 1"
check "early talkers: 2" is total.counts.early_talkers 2
check "greylisted: 3 new, 1 too soon" sh -c "$(declare -f field is); T='$T'; is total.counts.greylisted 3 && is total.counts.too_soon 1"
check "unknown users: 2, no dictionary cut" sh -c "$(declare -f field is); T='$T'; is total.counts.unknown_users 2 && is total.counts.dictionary_cuts 0"
check "regulars gained: 2 (A and B), 1 regular's pass" sh -c "$(declare -f field is); T='$T'; is total.counts.regulars_gained 2 && is total.counts.regular_passes 1"
check "messages: 3 in 3 sessions" sh -c "$(declare -f field is); T='$T'; is total.counts.messages 3 && is total.counts.sessions_with_mail 3"
check "never came back: 1 (C)" is total.counts.never_came_back 1
check "delays: count, median, p90, max as the stamps say (each at least GREYLIST_MIN)" sh -c "$(declare -f field is); T='$T'
  [ $dcount -eq 2 ] && [ $dmed -ge 2 ] && [ $dmax -le 10 ] &&
  is total.delay.count $dcount && is total.delay.median $dmed && is total.delay.p90 $dp90 && is total.delay.max $dmax"
check "histogram: both delays in 0-1m, nothing elsewhere" sh -c "$(declare -f field is); T='$T'
  is total.delay.histogram.0.count 2 && is total.delay.histogram.1.count 0 && is total.delay.histogram.10.count 0"
check "replies by program and action: 554, 451, 550 as sent" sh -c "$(declare -f field is); T='$T'
  is 'total.replies.greetdelay early code=554' 2 && is 'total.replies.ipgreylist new code=451' 3 &&
  is 'total.replies.ipgreylist too-soon code=451' 1 && is 'total.replies.rcptcheck reject code=550' 2"
check "TLS: none in this chain, share 0.0" sh -c "$(declare -f field is); T='$T'; is total.counts.tls_sessions 0 && is total.tls_share 0.0"

"$RP" "$T/stamped.log" > "$T/report.txt"
check "text report: the counts and the histogram's bar" sh -c "
  grep -Eq '^  greetdelay  early talkers \(554\) +2$' '$T/report.txt' &&
  grep -Eq '^  rcptcheck   unknown users \(550\) +2$' '$T/report.txt' &&
  grep -Eq '^  ipgreylist  regulars gained +2$' '$T/report.txt' &&
  grep -Eq '^  passed 2: median ${dmed}s, p90 ${dp90}s, max ${dmax}s$' '$T/report.txt' &&
  grep -Eq '^  never came back 1 ' '$T/report.txt' &&
  grep -Eq '^  0-1m    \|#{40} 2$' '$T/report.txt' && grep -Eq '^  1-5m    \| {40} 0$' '$T/report.txt'"

# -p: the same histogram drawn by gnuplot
check "report -p: a PNG (signature, IHDR 800x480), no temporary file left" sh -c "
  '$RP' -p '$T/delay.png' '$T/stamped.log' > /dev/null &&
  python3 -c 'import struct, sys
b = open(sys.argv[1], \"rb\").read()
assert b[:8] == b\"\\x89PNG\\r\\n\\x1a\\n\", b[:8]
n, kind, w, h = struct.unpack(\">I4sII\", b[8:24])
assert kind == b\"IHDR\" and n == 13 and (w, h) == (800, 480), (kind, w, h)
assert b[-8:-4] == b\"IEND\"' '$T/delay.png' && [ ! -e '$T/delay.png.tmp' ]"

# -s SERVICEDIR: the same log split as multilog keeps it, read in order
mkdir -p "$T/svc/log/main"
n=$(wc -l < "$T/stamped.log")
head -n $((n / 2)) "$T/stamped.log" > "$T/svc/log/main/@400000000000000000000001.s"
head -n $((n * 3 / 4)) "$T/stamped.log" | tail -n +$((n / 2 + 1)) > "$T/svc/log/main/@400000000000000000000002.s"
tail -n +$((n * 3 / 4 + 1)) "$T/stamped.log" > "$T/svc/log/main/current"
check "report -s SERVICEDIR: its log files in order, the same report" sh -c "
  '$RP' -j -s '$T/svc' | cmp - '$T/report.json'"
check "report from stdin: the same report" sh -c "'$RP' -j < '$T/stamped.log' | cmp - '$T/report.json'"

# Lines made here: two days, a key refused before midnight that passes
# after it (its delay counts on the day of its first 451; above 10
# minutes a percentile is floored to the minute, the max exact), TLS, a
# dictionary cut, a bad line, and periods.
python3 - > "$T/days.log" <<'PY'
import calendar
def st(s): return "@%016x%08x " % (2**62 + 10 + s, 0)
d1 = calendar.timegm((2026, 11, 30, 23, 50, 0))
L = [
 (d1, "starttlsd: tls ip=192.0.2.1 pid=10 version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256"),
 (d1, "ipgreylist: new ip=192.0.2.1 pid=10 key=192.0.2.0-24 keyby=net age=0 code=451"),
 (d1 + 60, "ipgreylist: new ip=192.0.2.77 pid=11 key=192.0.2.77 keyby=ip age=0 code=451"),
 (d1 + 120, "starttlsd: tls ip=192.0.2.5 pid=12 result=timeout"),
 (d1 + 130, "rcptcheck: limit ip=192.0.2.5 pid=12 code=421 bad=10"),
 (d1 + 900, "ipgreylist: pass ip=192.0.2.9 pid=13 key=192.0.2.0-24 keyby=net age=900 count=0"),
 (d1 + 960, "ipgreylist: pass ip=198.51.100.1 pid=14 key=198.51.100.0-24 keyby=net age=4000 count=2"),
 (d1 + 970, "ipgreylist: \x01 binary"),
]
for t, l in L: print(st(t) + l)
PY
"$RP" -j -d "$T/days.log" > "$T/report.json"
check "-d: two days; the delay across midnight on the day of its first 451" sh -c "$(declare -f field is); T='$T'
  is days.0.day 2026-11-30 && is days.1.day 2026-12-01 &&
  is days.0.delay.count 1 && is days.0.delay.max 900 && is days.0.counts.never_came_back 1 &&
  is days.1.delay.count 1 && is days.1.delay.max 4000 && is days.1.counts.delays_from_record_age 1 &&
  is total.delay.count 2 && is total.delay.median 900 && is total.delay.p90 3960 && is total.delay.histogram.2.count 0 &&
  is total.delay.histogram.3.count 0 && is total.delay.histogram.4.count 1 && is total.delay.histogram.6.count 1"
check "TLS share, failed handshakes, dictionary cuts, bad lines" sh -c "$(declare -f field is); T='$T'
  is total.counts.tls_sessions 1 && is total.counts.tls_failed 1 && is total.counts.dictionary_cuts 1 &&
  is total.counts.bad_lines 1 && is total.counts.sessions 5 && is total.tls_share 20.0"
"$RP" -j -b 2026-12-01 "$T/days.log" > "$T/report.json"
check "-b 2026-12-01: only the lines from midnight on (the pass's delay from the record's age)" sh -c "$(declare -f field is); T='$T'
  is total.counts.lines 3 && is total.counts.greylisted 0 && is total.delay.count 2 && is total.delay.max 4000 &&
  is total.counts.delays_from_record_age 2 && is total.from 2026-12-01T00:05:00Z"
"$RP" -j -e 2026-11-30T23:55:00Z "$T/days.log" > "$T/report.json"
check "-e: only the lines before it; the two keys never came back" sh -c "$(declare -f field is); T='$T'
  is total.counts.lines 5 && is total.counts.never_came_back 2 && is total.delay.count 0"

# A key refused, never back in the window, refused again (its record
# reset as stale), then back: one key never came back, and the delay is
# the second episode's.
python3 - > "$T/stale.log" <<'PY'
def st(s): return "@%016x%08x " % (2**62 + 10 + s, 0)
t = 1796000000
print(st(t) + "ipgreylist: new ip=192.0.2.1 pid=1 key=192.0.2.0-24 keyby=net age=0 code=451")
print(st(t + 2 * 86400) + "ipgreylist: new ip=192.0.2.1 pid=2 key=192.0.2.0-24 keyby=net age=0 reset=stale was=172800 code=451")
print(st(t + 2 * 86400 + 600) + "ipgreylist: pass ip=192.0.2.1 pid=3 key=192.0.2.0-24 keyby=net age=600 count=0")
PY
"$RP" -j "$T/stale.log" > "$T/report.json"
check "a stale record replaced: that episode never came back, the delay is the new one's" sh -c "$(declare -f field is); T='$T'
  is total.counts.never_came_back 1 && is total.delay.count 1 && is total.delay.max 600 && is total.counts.greylisted 2"

# rcptcheck's triplets (its grey lines, as rcptcheck writes them): their
# own counts and delays, apart from ipgreylist's keys.
python3 - > "$T/trip.log" <<'PY'
def st(s): return "@%016x%08x " % (2**62 + 10 + s, 0)
t = 1796000000
L = [(0, "rcptcheck: grey ip=192.0.2.1 pid=1 key=0123abcd keyby=net age=0 verdict=new from=s@r.test rcpt=a@l.test code=451"),
     (100, "rcptcheck: grey ip=192.0.2.1 pid=2 key=0123abcd keyby=net age=100 verdict=too-soon from=s@r.test rcpt=a@l.test count=1 min=300 code=451"),
     (400, "rcptcheck: grey ip=192.0.2.1 pid=3 key=0123abcd keyby=net age=400 verdict=promote from=s@r.test rcpt=a@l.test count=1 pass=triplet"),
     (500, "rcptcheck: grey ip=192.0.2.2 pid=4 key=4567cdef keyby=net age=0 verdict=new from=s@r.test rcpt=b@l.test code=451"),
     (500, "ipgreylist: new ip=192.0.2.3 pid=5 key=0123abcd keyby=name domain=x.example age=0 code=451")]
for d, l in L: print(st(t + d) + l)
PY
"$RP" -j "$T/trip.log" > "$T/report.json"
check "triplets: greylisted 3, passed 1 after 400 s, 1 never back; ipgreylist's key of the same hash apart" sh -c "$(declare -f field is); T='$T'
  is total.counts.triplets_greylisted 3 && is total.counts.triplets_passed 1 && is total.triplet_delay.count 1 &&
  is total.triplet_delay.max 400 && is total.counts.triplets_never_came_back 1 &&
  is total.counts.greylisted 1 && is total.counts.never_came_back 1 && is total.delay.count 0"

check "usage errors exit 100; a missing log 111 (a vanished one: warned, skipped)" sh -c "
  '$RP' -b yesterday /dev/null 2>/dev/null; [ \$? -eq 100 ] || exit 1
  '$RP' -x 2>/dev/null; [ \$? -eq 100 ] || exit 1
  '$RP' -s '$T/nosuch' 2>/dev/null; [ \$? -eq 111 ] || exit 1
  '$RP' '$T/nosuch' > /dev/null 2> '$T/warn' && grep -q 'warning: unable to open' '$T/warn'"
check "-V: the version" sh -c "'$RP' -V | grep -qx 'najimi-report najimi $(cat "$TOP/VERSION")'"
finish
