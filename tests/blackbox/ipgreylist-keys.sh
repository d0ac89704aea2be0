#!/bin/bash
# SPDX-License-Identifier: ISC
# ipgreylist's keys for today's senders, under the real tcpserver with
# exim as the next program: prefix keys, the name key (TCPREMOTEHOST, set
# per client address by tcprules as tcpserver -h -p sets it, and once by
# tcpserver -h -p itself, its DNS answered on loopback), the upgrade
# from round 1's keys, observe mode, the refresh interval, clock steps,
# fail-closed from the environment, the known-senders list, and
# ipgreylist-expire over every key kind.
#
# Clients really come from different loopback addresses in different
# /24s (127.0.N.5, smtpclient.py --source): TCPREMOTEIP is the address
# tcpserver saw. Elapsed time is simulated with touch -d.
. "$(dirname "$0")/../lib.sh"
exim_tail
GL=$SRC/ipgreylist
EXPIRE=$SRC/ipgreylist-expire
MKWL=$SRC/ipgreylist-mkwl

# ---- helpers

GREYLISTED="expect 220
expect-no-text tail.test
ehlo client.test
mail <sender@example.test>
rcpt <postmaster@example.test> 451
expect-text 451 4.7.1 greylisted
quit"
REACHED_EXIM="expect 220
expect-text tail.test
quit"
# from ADDR SCRIPT: a session from source address ADDR.
from() { client --source "$1" "$PORT" "$2"; }
# deliver ADDR FILE: a whole message from ADDR reaches exim.
deliver() {
  from "$1" "expect 220
expect-text tail.test
ehlo client.test
$(message_steps "$2")"
}
# hexkey TEXT: the file name of a hashed key (SHA-256 of its text).
hexkey() { printf '%s' "$1" | sha256sum | cut -c1-64; }
# record DIR NAME: the path of the record NAME under DIR (fanned out).
record() { find "$1" -name "$2" -type f; }
# rec_is FILE REGEX: the record text of FILE (attribute or data) matches.
rec_is() {
  local got
  got=$(python3 - "$1" <<'PY'
import os, sys
f = sys.argv[1]
try:
    t = open(f, "rb").read() if os.lstat(f).st_size else os.getxattr(f, "user.najimi", follow_symlinks=False)
except OSError as e:
    t = str(e).encode()
sys.stdout.write(t.decode(errors="replace").rstrip("\n"))
PY
)
  echo "$got" | grep -Eqx -- "$2" || { echo "# record of $1: '$got', want /$2/"; return 1; }
}
set_rec() { python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.najimi", (sys.argv[2] + "\n").encode())' "$1" "$2"; }
# rules NAME LINE...: a tcprules cdb $T/NAME.cdb from the lines.
rules() { local n=$1; shift; printf '%s\n' "$@" | tcprules "$T/$n.cdb" "$T/$n.tmp"; }
# served NAME RULES STATE [VAR=value...] -- [options]: ipgreylist under
# tcpserver -x RULES.cdb, state in STATE, exim next.
served() {
  local name=$1 r=$2 st=$3; shift 3
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  mkdir -p "$st"
  TCPSERVER_OPTS="-x $T/$r.cdb" serve "$name" env "${envs[@]}" "$GL" -d "$st" "$@" "${EXIM[@]}"
}
OUTLOOK_KEY=$(hexkey name:outlook.com)
POOL=(); for n in 1 2 3 4 5 6 7 8 9 10; do POOL+=("127.0.$n.5"); done
pool_name() { printf 'mail-xyz%03d.outbound.protection.outlook.com' "$1"; }

# ---- a pooled sender with names: its first retry after GREYLIST_MIN passes

lines=()
for n in 1 2 3 4 5 6 7 8 9 10; do lines+=("127.0.$n.5:allow,TCPREMOTEHOST=\"$(pool_name "$n")\""); done
lines+=('127.0.11.5:allow,TCPREMOTEHOST="MAIL-XYZ011.Outbound.Protection.Outlook.COM."')
lines+=('127.0.20.5:allow,TCPREMOTEHOST="dsl-1-2-3-4.pool.example"')
lines+=('127.0.21.5:allow,TCPREMOTEHOST="mail.exa$mple.com"')
lines+=('127.0.21.6:allow,TCPREMOTEHOST="../../../etc/passwd"')
lines+=('127.0.21.7:allow,TCPREMOTEHOST="mx1.partner example.com"')
lines+=("127.0.21.8:allow,TCPREMOTEHOST=\"$(printf 'a%.0s' $(seq 1 150)).$(printf 'b%.0s' $(seq 1 149)).com\"")
lines+=('127.0.21.9:allow,TCPREMOTEHOST="co.uk"')
lines+=('127.0.22.5:allow,TCPREMOTEHOST="mail-xyz001.outbound.protection.outlook.com",GREYLIST_KEY="ip"')
lines+=(':allow')
rules named "${lines[@]}"
S=$T/state
served pool named "$S" --
check "pool: the first attempt (127.0.1.5, $(pool_name 1)): 451" from 127.0.1.5 "$GREYLISTED"
check "pool: logged new, keyed by name: outlook.com" logs pool "
expect-log ^ipgreylist: new ip=127\\.0\\.1\\.5 pid=[0-9]+ key=${OUTLOOK_KEY:0:8} keyby=name domain=outlook\\.com age=0 code=451\$"
check "pool: one record, under the SHA-256 of name:outlook.com, its text inside" \
  rec_is "$(record "$S" "$OUTLOOK_KEY")" '2 pending 0 [0-9]{10} 0 name:outlook\.com'
check "pool: the record is fanned out by the hash's first bytes" \
  test -f "$S/${OUTLOOK_KEY:0:2}/${OUTLOOK_KEY:2:2}/$OUTLOOK_KEY"
check "pool: a retry from another /24 (127.0.2.5) before GREYLIST_MIN: too soon" from 127.0.2.5 "$GREYLISTED"
check "pool: ... logged too-soon for the same key" logs pool "
expect-log ^ipgreylist: too-soon ip=127\\.0\\.2\\.5 pid=[0-9]+ key=${OUTLOOK_KEY:0:8} keyby=name domain=outlook\\.com age=[0-9]+ count=1 min=300 code=451\$"
touch -d '-6 minutes' "$(record "$S" "$OUTLOOK_KEY")"
message "$T/m1" "a pooled sender's retry"
check "pool: the retry after GREYLIST_MIN, from a third /24 (127.0.3.5), passes" deliver 127.0.3.5 "$T/m1"
check "pool: ... and the message arrived" maildir_got "$T/m1"
check "pool: ... logged pass by the name key" logs pool "
expect-log ^ipgreylist: pass ip=127\\.0\\.3\\.5 pid=[0-9]+ key=${OUTLOOK_KEY:0:8} keyby=name domain=outlook\\.com age=3[6-9][0-9] count=1\$"
for n in 4 5 6 7 8 9 10; do
  check "pool: 127.0.$n.5 ($(pool_name "$n")) is a regular at once" from "127.0.$n.5" "$REACHED_EXIM"
done
check "pool: the name in another case with a root dot is the same key" from 127.0.11.5 "$REACHED_EXIM"
check "pool: eight regular lines, all for the one key" logs pool "
expect-log-count 8 ^ipgreylist: regular ip=127\\.0\\.([4-9]|10|11)\\.5 pid=[0-9]+ key=${OUTLOOK_KEY:0:8} keyby=name domain=outlook\\.com age=[0-9]+\$"
check "pool: the record is a regular now, first seen and last pass kept" \
  rec_is "$(record "$S" "$OUTLOOK_KEY")" '2 regular 1 [0-9]{10} [0-9]{10} name:outlook\.com'
check "pool: no IP key was made for the named pool" sh -c "[ -z \"\$(find '$S' -name '127.0.*')\" ]"

# Not keyed by name: a dynamic-looking name, odd or overlong names, a
# public suffix, GREYLIST_KEY=ip.
nokey() {  # nokey ADDR WHY: 451, keyed by the /24, namekey=WHY logged
  local a=$1 why=$2 net=${1%.*}.0-24
  check "not a name key ($a): 451" from "$a" "$GREYLISTED"
  check "not a name key ($a): keyed by its /24, namekey=$why" logs pool "
expect-log ^ipgreylist: (new|too-soon) ip=${a//./\\.} pid=[0-9]+ key=${net//./\\.} keyby=net namekey=$why "
}
nokey 127.0.20.5 dynamic
check "dsl-1-2-3-4.pool.example: no record for name:pool.example" \
  sh -c "[ -z \"\$(find '$S' -name '$(hexkey name:pool.example)')\" ]"
touch "$T/marker"
sleep 1
nokey 127.0.21.5 invalid
nokey 127.0.21.6 invalid
nokey 127.0.21.7 invalid
nokey 127.0.21.8 invalid
nokey 127.0.21.9 public
new_files() { find "$T" -newer "$T/marker" ! -name '*.log' ! -path "$T/exim*" ! -name check.out ! -name '*.port' ! -path "$T"; }
check "odd names: nothing made but the one /24 record (and its directories)" sh -c "
  f=\$(find '$S' -newer '$T/marker' -type f); [ \"\$(echo \"\$f\" | wc -l)\" -eq 1 ] && echo \"\$f\" | grep -q '/127\.0\.21\.0-24\$' &&
  [ -z \"\$(find '$T' -newer '$T/marker' ! -path '$S*' ! -name '*.log' ! -path '$T/exim*' ! -name check.out ! -name '*.port' ! -path '$T' ! -name marker)\" ]"
check "GREYLIST_KEY=ip (tcprules): the /24 decides, though the name is outlook's" from 127.0.22.5 "$GREYLISTED"
check "GREYLIST_KEY=ip: logged keyby=net, no namekey=" logs pool '
expect-log ^ipgreylist: new ip=127\.0\.22\.5 pid=[0-9]+ key=127\.0\.22\.0-24 keyby=net age=0 code=451$'
stop_server "$SERVER_PID"

# ---- the real tcpserver -h -p, its DNS answered on loopback
# A small DNS server on 127.53.X.Y:53 (DNSCACHEIP, which tcpserver's
# resolver reads) answers PTR and A queries from a table: 127.0.80.5 is
# mail-xyz080.outbound.protection.outlook.com and that name maps back;
# 127.0.81.5 claims an Outlook name that maps elsewhere, so -p drops it.
cat > "$T/dns.py" <<'PY'
import socket, struct, sys
ip, ptrs, addrs = sys.argv[1], {}, {}
for kv in sys.argv[2:]:
    k, v = kv.split("=")
    (ptrs if k[0].isdigit() else addrs)[k] = v
def name(b, o):
    labels = []
    while b[o]:
        n = b[o]; labels.append(b[o + 1:o + 1 + n].decode()); o += 1 + n
    return ".".join(labels).lower(), o + 1
def enc(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((ip, 53))
print("ready", flush=True)
while True:
    q, peer = s.recvfrom(512)
    qid, qn = q[:2], None
    qname, o = name(q, 12)
    qtype = struct.unpack(">H", q[o:o + 2])[0]
    question = q[12:o + 4]
    ans = b""
    if qtype == 12 and qname.endswith(".in-addr.arpa"):
        a = ".".join(reversed(qname[:-13].split(".")))
        if a in ptrs: ans = enc(ptrs[a]); rtype = 12
    elif qtype == 1 and qname in addrs:
        ans = socket.inet_aton(addrs[qname]); rtype = 1
    head = qid + struct.pack(">HHHHH", 0x8580 if ans else 0x8583, 1, 1 if ans else 0, 0, 0)
    rr = (b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, 60, len(ans)) + ans) if ans else b""
    s.sendto(head + question + rr, peer)
PY
DNSIP=127.53.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
python3 "$T/dns.py" "$DNSIP" \
  127.0.80.5=mail-xyz080.outbound.protection.outlook.com mail-xyz080.outbound.protection.outlook.com=127.0.80.5 \
  127.0.81.5=mail-xyz081.outbound.protection.outlook.com mail-xyz081.outbound.protection.outlook.com=192.0.2.81 \
  > "$T/dns.out" 2> "$T/dns.err" &
PIDS+=($!)
wait_for 100 grep -q ready "$T/dns.out"
export DNSCACHEIP=$DNSIP
TCPSERVER_OPTS="-v -h -p" serve dns "$GL" -d "$S" "${EXIM[@]}"
unset DNSCACHEIP
check "tcpserver -h -p: a name that maps back is the name key (a regular: the pool above)" from 127.0.80.5 "$REACHED_EXIM"
check "tcpserver -h -p: ... logged keyby=name" logs dns "
expect-log ^ipgreylist: regular ip=127\\.0\\.80\\.5 pid=[0-9]+ key=${OUTLOOK_KEY:0:8} keyby=name domain=outlook\\.com "
check "tcpserver -h -p: a name that does not map back is dropped by -p: keyed by the /24" from 127.0.81.5 "$GREYLISTED"
check "tcpserver -h -p: ... logged keyby=net, no name" logs dns '
expect-log ^ipgreylist: new ip=127\.0\.81\.5 pid=[0-9]+ key=127\.0\.81\.0-24 keyby=net age=0 code=451$'
check "tcpserver -h -p: tcpserver's own line shows the verified name" logs dns '
expect-log ^tcpserver: ok [0-9]+ .* mail-xyz080\.outbound\.protection\.outlook\.com:127\.0\.80\.5:'
stop_server "$SERVER_PID"

# ---- the same ten addresses without names: only a shared prefix passes

rules nonames ':allow'
S2=$T/state2
served plain nonames "$S2" --
check "no names: the first attempt (127.0.1.5): 451" from 127.0.1.5 "$GREYLISTED"
check "no names: keyed by its /24" logs plain '
expect-log ^ipgreylist: new ip=127\.0\.1\.5 pid=[0-9]+ key=127\.0\.1\.0-24 keyby=net age=0 code=451$'
touch -d '-6 minutes' "$(record "$S2" 127.0.1.0-24)"
for n in 2 3 4 5 6 7 8 9 10; do
  check "no names: the pool's retry from 127.0.$n.5 is a stranger (451)" from "127.0.$n.5" "$GREYLISTED"
done
check "no names: nine more /24 keys, each new" logs plain '
expect-log-count 10 ^ipgreylist: new ip=127\.0\.([1-9]|10)\.5 pid=[0-9]+ key=127\.0\.([1-9]|10)\.0-24 keyby=net age=0 code=451$'
message "$T/m2" "same /24"
check "no names: an address sharing the first one's /24 (127.0.1.77) passes" deliver 127.0.1.77 "$T/m2"
check "no names: ... logged pass for 127.0.1.0-24" logs plain '
expect-log ^ipgreylist: pass ip=127\.0\.1\.77 pid=[0-9]+ key=127\.0\.1\.0-24 keyby=net age=3[6-9][0-9] count=0$'
stop_server "$SERVER_PID"

# ---- prefix settings: /16, /32, IPv6 /48, bad values

served p16 nonames "$T/state3" GREYLIST_V4PREFIX=16 --
check "GREYLIST_V4PREFIX=16: 127.0.1.5 is new as 127.0.0.0-16" from 127.0.1.5 "$GREYLISTED"
check "GREYLIST_V4PREFIX=16: 127.0.200.5 is the same key (too soon)" from 127.0.200.5 "$GREYLISTED"
check "GREYLIST_V4PREFIX=16: logged" logs p16 '
expect-log ^ipgreylist: new ip=127\.0\.1\.5 pid=[0-9]+ key=127\.0\.0\.0-16 keyby=net 
expect-log ^ipgreylist: too-soon ip=127\.0\.200\.5 pid=[0-9]+ key=127\.0\.0\.0-16 keyby=net '
stop_server "$SERVER_PID"
served p32 nonames "$T/state3" GREYLIST_V4PREFIX=32 --
check "GREYLIST_V4PREFIX=32: 127.0.1.5 is new as itself" from 127.0.1.5 "$GREYLISTED"
check "GREYLIST_V4PREFIX=32: logged keyby=ip" logs p32 '
expect-log ^ipgreylist: new ip=127\.0\.1\.5 pid=[0-9]+ key=127\.0\.1\.5 keyby=ip age=0 code=451$'
stop_server "$SERVER_PID"
served v6 nonames "$T/state3" TCPREMOTEIP=2001:db8:1:2::5 GREYLIST_V6PREFIX=48 --
check "GREYLIST_V6PREFIX=48: new as 2001:db8:1::-48" from 127.0.1.5 "$GREYLISTED"
stop_server "$SERVER_PID"
served v6b nonames "$T/state3" TCPREMOTEIP=2001:db8:1:ffff::9 GREYLIST_V6PREFIX=48 --
check "GREYLIST_V6PREFIX=48: another /64 of the /48 is the same key (too soon)" from 127.0.1.5 "$GREYLISTED"
check "GREYLIST_V6PREFIX=48: logged" logs v6 '
expect-log ^ipgreylist: new ip=2001:db8:1:2::5 pid=[0-9]+ key=2001:db8:1::-48 keyby=net age=0 code=451$
log '"$T"'/v6b.log
expect-log ^ipgreylist: too-soon ip=2001:db8:1:ffff::9 pid=[0-9]+ key=2001:db8:1::-48 keyby=net '
stop_server "$SERVER_PID"
served badp nonames "$T/state3" GREYLIST_V4PREFIX=15 GREYLIST_V6PREFIX=129 GREYLIST_KEY=domain GREYLIST_REFRESH=-1 --
check "bad prefixes and key: still greylisted" from 127.0.9.9 "$GREYLISTED"
for w in 'invalid GREYLIST_V4PREFIX=15, using default 24' 'invalid GREYLIST_V6PREFIX=129, using default 64' \
         'invalid GREYLIST_KEY=domain, using default name' 'invalid GREYLIST_REFRESH=-1, using default 3600'; do
  check "warning: $w" logs badp "
expect-log-text ipgreylist: warning: $w"
done
check "bad GREYLIST_V4PREFIX: the default /24 key" logs badp '
expect-log ^ipgreylist: new ip=127\.0\.9\.9 pid=[0-9]+ key=127\.0\.9\.0-24 keyby=net '
stop_server "$SERVER_PID"

# ---- the upgrade: a round-1 /32 regular is a regular of its /24 at first sight

S4=$T/state4
mkdir -p "$S4"
# round 1: one key per address; the record as round 1 wrote it
PROTO=TCP TCPREMOTEIP=127.0.30.9 GREYLIST_V4PREFIX=32 "$GL" -d "$S4" true < /dev/null > /dev/null 2>&1
set_rec "$(record "$S4" 127.0.30.9)" 'regular 2'
touch -d '-3 days' "$(record "$S4" 127.0.30.9)"
served upgrade nonames "$S4" --
message "$T/m3" "a round-1 regular after the upgrade"
check "upgrade: the round-1 regular 127.0.30.9 passes at first sight" deliver 127.0.30.9 "$T/m3"
check "upgrade: logged regular for its /24, from= the round-1 key" logs upgrade '
expect-log ^ipgreylist: regular ip=127\.0\.30\.9 pid=[0-9]+ key=127\.0\.30\.0-24 keyby=net age=0 from=127\.0\.30\.9$'
check "upgrade: the /24 has a version-2 regular record, the count carried over" \
  rec_is "$(record "$S4" 127.0.30.0-24)" '2 regular 2 0 [0-9]{10} net:127\.0\.30\.0/24'
check "upgrade: another address of that /24 is a regular too" from 127.0.30.10 "$REACHED_EXIM"
check "upgrade: ... by the /24's own record" logs upgrade '
expect-log ^ipgreylist: regular ip=127\.0\.30\.10 pid=[0-9]+ key=127\.0\.30\.0-24 keyby=net age=[0-9]+$'
PROTO=TCP TCPREMOTEIP=127.0.31.9 GREYLIST_V4PREFIX=32 "$GL" -d "$S4" true < /dev/null > /dev/null 2>&1
touch -d '-3 days' "$(record "$S4" 127.0.31.9)"   # round 1's pending record: no regular
check "upgrade: a round-1 pending record seeds nothing (451)" from 127.0.31.9 "$GREYLISTED"
stop_server "$SERVER_PID"

# ---- observe mode: decide, write, log would=451, let everyone through

rules observe '127.0.41.5:allow,GREYLIST="-go away"' ':allow'
S5=$T/state5
served observe observe "$S5" GREYLIST_OBSERVE=1 --
message "$T/m4" "a stranger in observe mode"
check "observe: a stranger's message goes through" deliver 127.0.40.5 "$T/m4"
check "observe: ... arrived" maildir_got "$T/m4"
check "observe: logged new with would=451, no code=" logs observe '
expect-log ^ipgreylist: new ip=127\.0\.40\.5 pid=[0-9]+ key=127\.0\.40\.0-24 keyby=net age=0 would=451$
expect-no-log ^ipgreylist: .* code='
check "observe: the state was written (pending)" rec_is "$(record "$S5" 127.0.40.0-24)" '2 pending 0 [0-9]{10} 0 net:127\.0\.40\.0/24'
check "observe: the retry at once also goes through" from 127.0.40.5 "$REACHED_EXIM"
check "observe: ... logged too-soon would=451, counted" logs observe '
expect-log ^ipgreylist: too-soon ip=127\.0\.40\.5 pid=[0-9]+ key=127\.0\.40\.0-24 keyby=net age=[0-9]+ count=1 min=300 would=451$'
touch -d '-6 minutes' "$(record "$S5" 127.0.40.0-24)"
check "observe: after GREYLIST_MIN it becomes a regular, as when enforcing" from 127.0.40.5 "$REACHED_EXIM"
check "observe: ... logged pass" logs observe '
expect-log ^ipgreylist: pass ip=127\.0\.40\.5 pid=[0-9]+ key=127\.0\.40\.0-24 keyby=net age=3[6-9][0-9] count=1$'
check "observe: an administrator's GREYLIST=-text refusal is still given (553)" from 127.0.41.5 "
expect 220
ehlo client.test
mail <sender@example.test>
rcpt <postmaster@example.test> 553
quit"
stop_server "$SERVER_PID"
served observe0 nonames "$S5" GREYLIST_OBSERVE=0 --
check "GREYLIST_OBSERVE=0: enforcing (451)" from 127.0.42.5 "$GREYLISTED"
stop_server "$SERVER_PID"

# ---- the refresh: a regular is rewritten at most once per GREYLIST_REFRESH

S6=$T/state6
served refresh nonames "$S6" GREYLIST_MIN=0 --
from 127.0.50.5 "$GREYLISTED" > /dev/null
from 127.0.50.5 "$REACHED_EXIM" > /dev/null     # min 0: a regular now
R=$(record "$S6" 127.0.50.0-24)
touch -d '-10 minutes' "$R"
before=$(stat -c '%i %Y %Z' "$R")
sleep 1
check "refresh: a regular 10 minutes old passes" from 127.0.50.5 "$REACHED_EXIM"
check "refresh: ... and its record is not written (same inode, mtime, ctime)" \
  test "$(stat -c '%i %Y %Z' "$R")" = "$before"
touch -d '-2 hours' "$R"
inode=$(stat -c %i "$R")
check "refresh: a regular 2 hours old passes" from 127.0.50.5 "$REACHED_EXIM"
check "refresh: ... and is refreshed in place (same file, mtime now)" sh -c "
  [ \$(stat -c %i '$R') = $inode ] && [ -n \"\$(find '$R' -mmin -1)\" ]"
last_is_now() {
  local last
  last=$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.najimi").split()[4].decode())' "$1") || return 1
  [ $(($(date +%s) - last)) -le 2 ] || { echo "# LAST $last, now $(date +%s)"; return 1; }
}
check "refresh: ... its LAST is now" last_is_now "$R"
stop_server "$SERVER_PID"
served refresh0 nonames "$S6" GREYLIST_REFRESH=0 --
touch -d '-10 minutes' "$R"
check "GREYLIST_REFRESH=0: a regular 10 minutes old passes" from 127.0.50.5 "$REACHED_EXIM"
check "GREYLIST_REFRESH=0: ... and is refreshed, as at every pass (round 1's rule)" test -n "$(find "$R" -mmin -1)"
stop_server "$SERVER_PID"

# ---- clock steps: up to a day ahead keeps its state

served step nonames "$S6" --
touch -d '+1 hour' "$R"
check "clock step: a regular dated an hour ahead passes" from 127.0.50.5 "$REACHED_EXIM"
check "clock step: ... logged regular age=0 ahead=3600, not reset" logs step '
expect-log ^ipgreylist: regular ip=127\.0\.50\.5 pid=[0-9]+ key=127\.0\.50\.0-24 keyby=net age=0 ahead=3[56][0-9][0-9]$'
check "clock step: ... still a regular" rec_is "$R" '2 regular 0 [0-9]{10} [0-9]{10} net:127\.0\.50\.0/24'
from 127.0.51.5 "$GREYLISTED" > /dev/null
touch -d '+20 hours' "$(record "$S6" 127.0.51.0-24)"
check "clock step: a pending record 20 hours ahead is too soon, not new" from 127.0.51.5 "$GREYLISTED"
check "clock step: ... logged too-soon ahead=" logs step '
expect-log ^ipgreylist: too-soon ip=127\.0\.51\.5 pid=[0-9]+ key=127\.0\.51\.0-24 keyby=net age=0 ahead=7[12][0-9][0-9][0-9] count=1 '
touch -d '+2 days' "$R"
check "clock step: two days ahead is more than a step: reset (451)" from 127.0.50.5 "$GREYLISTED"
check "clock step: ... logged reset=future" logs step '
expect-log ^ipgreylist: new ip=127\.0\.50\.5 pid=[0-9]+ key=127\.0\.50\.0-24 keyby=net age=0 reset=future code=451$'
stop_server "$SERVER_PID"

# ---- GREYLIST_FAILCLOSED, the environment form of -c

mkdir -p "$T/ro"
chmod 555 "$T/ro"
NEXT=(sh -c 'printf "220 next.test ESMTP\r\n"; read -r x; printf "221 bye\r\n"')
TCPSERVER_OPTS="-x $T/nonames.cdb" serve fc env GREYLIST_FAILCLOSED=1 setuidgid nobody "$GL" -d "$T/ro" "${NEXT[@]}"
check "GREYLIST_FAILCLOSED=1: unwritable state gives 451 4.3.0" from 127.0.60.5 "
expect 220
ehlo client.test
mail <sender@example.test>
rcpt <postmaster@example.test> 451
expect-text 451 4.3.0
quit"
check "GREYLIST_FAILCLOSED=1: logged error with code=451" logs fc '
expect-log ^ipgreylist: error ip=127\.0\.60\.5 pid=[0-9]+ key=127\.0\.60\.0-24 op=subdir .*errno=EACCES code=451$'
stop_server "$SERVER_PID"
TCPSERVER_OPTS="-x $T/nonames.cdb" serve fc0 env GREYLIST_FAILCLOSED=0 setuidgid nobody "$GL" -c -d "$T/ro" "${NEXT[@]}"
check "GREYLIST_FAILCLOSED=0 over -c: fails open (the environment wins)" from 127.0.60.5 "
expect 220
expect-text next.test
quit"
stop_server "$SERVER_PID"
TCPSERVER_OPTS="-x $T/nonames.cdb" serve fcbad env GREYLIST_FAILCLOSED=yes setuidgid nobody "$GL" -c -d "$T/ro" "${NEXT[@]}"
check "GREYLIST_FAILCLOSED=yes: warned, -c's value kept (closed)" from 127.0.60.5 "
expect 220
ehlo client.test
mail <sender@example.test>
rcpt <postmaster@example.test> 451
expect-text 451 4.3.0
quit
log $T/fcbad.log
expect-log-text ipgreylist: warning: invalid GREYLIST_FAILCLOSED=yes, using default 1"
stop_server "$SERVER_PID"

# ---- the known senders: compiled by control's make after the site's entries

C=$T/control
cp -r "$TOP/control" "$C"
rm -f "$C"/*.cdb "$C/config.mk" "$C/paths.mk"
echo "BIN = $SRC/" > "$C/paths.mk"
echo '127.0.70.5   # the site own entry' >> "$C/greylist-whitelist"
check "known senders: control's make compiles the whitelist with them" sh -c "cd '$C' && make -s RETRYDENY=no > /dev/null"
check "known senders: the site's entry is in the cdb" sh -c "cdb -q '$C/greylist-whitelist.cdb' 127.0.70.5/32 > /dev/null"
check "known senders: .outbound.protection.outlook.com is in the cdb" sh -c "cdb -q '$C/greylist-whitelist.cdb' .outbound.protection.outlook.com > /dev/null"
check "known senders: every entry names its source and date" sh -c "
  grep -Ev '^[[:space:]]*(#|\$)' '$TOP/control/greylist-known-senders' | grep -Ev '# \[(postgrey|spf|m365|mcsv|brevo)\]' | grep . && exit 1 || exit 0"
rules known '127.0.71.5:allow,TCPREMOTEHOST="mail-abc01.outbound.protection.outlook.com"' \
  '127.0.72.5:allow,TCPREMOTEIP="40.107.1.2"' ':allow'
served known known "$T/state7" -- -w "$C/greylist-whitelist.cdb"
check "known senders: an Outlook name is let straight in" from 127.0.71.5 "$REACHED_EXIM"
check "known senders: ... logged whitelisted by the suffix" logs known '
expect-log ^ipgreylist: whitelisted ip=127\.0\.71\.5 pid=[0-9]+ by=cdb match=\.outbound\.protection\.outlook\.com$'
check "known senders: an Exchange Online address (no name) is let straight in" from 127.0.72.5 "$REACHED_EXIM"
check "known senders: ... logged whitelisted by the network" logs known '
expect-log ^ipgreylist: whitelisted ip=40\.107\.1\.2 pid=[0-9]+ by=cdb match=40\.107\.0\.0/16$'
check "known senders: the site's own entry still matches" from 127.0.70.5 "$REACHED_EXIM"
echo 'KNOWN_SENDERS =' > "$C/config.mk"
check "known senders: KNOWN_SENDERS= in config.mk, make rebuilds the whitelist" sh -c "cd '$C' && make -s RETRYDENY=no > /dev/null"
check "known senders: switched off, Outlook is greylisted like anyone" from 127.0.71.5 "$GREYLISTED"
check "known senders: switched off, the site's own entry still matches" from 127.0.70.5 "$REACHED_EXIM"
stop_server "$SERVER_PID"
printf '.good.example\nnot/valid\n' > "$C/greylist-known-senders"
rm -f "$C/config.mk"
check "known senders: a bad line is refused naming the file and line, old cdb kept" sh -c "
  cd '$C' && cp greylist-whitelist.cdb keep.cdb && ! make -s RETRYDENY=no > '$T/make.out' 2>&1 &&
  grep -q 'ipgreylist-mkwl: fatal: greylist-known-senders line 2: ' '$T/make.out' && cmp -s greylist-whitelist.cdb keep.cdb"
if id Debian-exim > /dev/null 2>&1; then
  mkdir -p "$T/qmail/control"
  check "mkservice: a new service has the known senders on" sh -c "
    '$TOP/scripts/najimi-mkservice' -H -q '$T/qmail' -s 'true' -u Debian-exim -l '' -i 127.0.0.1 -p 2525 -n svc.test \
      -b '$SRC' -t '$TOP/control' '$T/svc' > /dev/null &&
    [ -f '$T/svc/control/greylist-known-senders' ] &&
    cdb -q '$T/svc/control/greylist-whitelist.cdb' .outbound.protection.outlook.com > /dev/null"
fi

# ---- ipgreylist-expire: every key kind, several directories

touch -d '-2 days' "$(record "$S" "$OUTLOOK_KEY")"
set_rec "$(record "$S" "$OUTLOOK_KEY")" "2 pending 0 1 0 name:outlook.com"
touch -d '-2 days' "$(record "$S" "$OUTLOOK_KEY")"
touch -d '-2 days' "$(record "$S2" 127.0.2.0-24)"
check "expire: two directories, a stale name key and a stale /24 removed, the text shown" sh -c "
  '$EXPIRE' -v '$S' '$S2' > '$T/expire.out' &&
  grep -q '^ipgreylist-expire: removed stale key=$OUTLOOK_KEY age=17280[0-9] path=$S/.* text=name:outlook.com\$' '$T/expire.out' &&
  grep -q '^ipgreylist-expire: removed stale key=127.0.2.0-24 age=17280[0-9] path=$S2/.* text=net:127.0.2.0/24\$' '$T/expire.out' &&
  [ -z \"\$(find '$S' -name '$OUTLOOK_KEY')\" ] && [ -z \"\$(find '$S2' -name 127.0.2.0-24)\" ] &&
  grep -q ' stale=2 .* errors=0\$' '$T/expire.out'"
check "expire: the fresh records of both are kept" sh -c "
  [ -n \"\$(find '$S' -name 127.0.21.0-24)\" ] && [ -n \"\$(find '$S2' -name 127.0.3.0-24)\" ]"
mkdir -p "$T/state8/03/77"
cp -a "$(record "$S4" 127.0.30.0-24)" "$T/state8/03/77/$OUTLOOK_KEY"
touch -d '-40 days' "$T/state8/03/77/$OUTLOOK_KEY"
check "expire: a hashed name in its fan-out holding another key's record is corrupt, removed" sh -c "
  '$EXPIRE' -v '$T/state8' | grep -q '^ipgreylist-expire: removed corrupt key=$OUTLOOK_KEY '"
mkdir -p "$T/state8/00/00"
touch -d '-40 days' "$T/state8/00/00/$OUTLOOK_KEY"
check "expire: a hashed name outside its fan-out is not ours: skipped, kept" sh -c "
  '$EXPIRE' -v '$T/state8' | grep -q ' skipped=1 ' && [ -f '$T/state8/00/00/$OUTLOOK_KEY' ]"
check "expire: a missing directory among several: exit 111, nothing walked" sh -c "
  '$EXPIRE' '$S' '$T/nope' > /dev/null 2>&1; [ \$? -eq 111 ]"

finish
