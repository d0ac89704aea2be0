#!/bin/bash
# SPDX-License-Identifier: ISC
# ipgreylist with its records in Redis (GREYLIST_REDIS), under the real
# tcpserver, exim as the next program. Each Redis is Debian's
# redis-server, started here on a private unix socket in the test's
# directory (once on a loopback port), no persistence, stopped by PID.
# Records are looked at and planted with redis-cli, which shares no code
# with najimi. Time passes for real: GREYLIST_MIN is 2 seconds here.
. "$(dirname "$0")/../lib.sh"
exim_tail
command -v redis-server > /dev/null || { not_ok "redis-server is installed (scripts/install-deps)"; finish; exit 1; }
GL=$SRC/ipgreylist
EXPIRE=$SRC/ipgreylist-expire
export GREYLIST_MIN=2
unset GREYLIST_REDIS GREYLIST_REDIS_PREFIX GREYLIST_REDIS_DB GREYLIST_REDIS_TIMEOUT GREYLIST_REDIS_PASSFILE GREYLIST_FAILCLOSED

# rcli NAME ARGS...: redis-cli on that Redis.
rcli() { local name=$1; shift; redis-cli -s "$T/$name.sock" "$@"; }
# value_is NAME KEY REGEX: the key's value matches.
value_is() {
  local v; v=$(rcli "$1" get "$2")
  echo "$v" | grep -Eq -- "$3" || { echo "# $2 = '$v', want /$3/"; return 1; }
}
# ttl_in NAME KEY LO HI: the key's TTL is within [LO, HI] seconds.
ttl_in() {
  local t; t=$(rcli "$1" ttl "$2")
  [ "$t" -ge "$3" ] && [ "$t" -le "$4" ] || { echo "# ttl of $2: $t, want $3..$4"; return 1; }
}
# gl_serve NAME IP [VAR=value...] -- [ipgreylist options]: a chain for IP.
gl_serve() {
  local name=$1 ip=$2; shift 2
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  serve "$name" env TCPREMOTEIP="$ip" "${envs[@]}" "$GL" "$@" "${EXIM[@]}"
}
GREYLISTED="expect 220
expect-text ESMTP
ehlo client.test
mail <sender@example.test>
send RCPT TO:<postmaster@example.test>
expect 451
expect-text 451 4.7.1 greylisted
quit
expect-eof"
deliver() {
  client "$1" "expect 220
expect-text tail.test
ehlo client.test
$(message_steps "$2")"
}
# ms_since START: milliseconds since START (date +%s%N).
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

redis_start one || { not_ok "redis-server starts on a unix socket"; finish; exit 1; }
ONE=$RPID
R1="GREYLIST_REDIS=unix:$T/one.sock"

# --- two MX, one Redis: greylisted through A, passes through B ---

gl_serve mxa 192.0.2.9 "$R1" -- ; PORT_A=$PORT
gl_serve mxb 192.0.2.9 "$R1" -- ; PORT_B=$PORT
check "MX A: a stranger gets 451 4.7.1" client "$PORT_A" "$GREYLISTED"
check "MX A: logged new, key the /24" logs mxa '
expect-log ^ipgreylist: new ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.0-24 keyby=net age=0 code=451$'
check "Redis holds the version-2 record under najimi:" \
  value_is one najimi:192.0.2.0-24 '^2 pending 0 [0-9]+ 0 net:192\.0\.2\.0/24$'
check "pending record: TTL from GREYLIST_WINDOW (a day)" ttl_in one najimi:192.0.2.0-24 86390 86400
check "MX B at once: too soon, from A's record (count 1)" client "$PORT_B" "$GREYLISTED"
check "MX B: logged too-soon count=1" logs mxb '
expect-log ^ipgreylist: too-soon ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.0-24 keyby=net age=[0-1] count=1 min=2 code=451$'
sleep 2.2
message "$T/m1" "through the second MX"
check "MX B after the minimum: passes to exim" deliver "$PORT_B" "$T/m1"
check "MX B: the message arrived" maildir_got "$T/m1"
check "MX B: logged pass" logs mxb '
expect-log ^ipgreylist: pass ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.0-24 keyby=net age=[2-4] count=1$'
check "the record is a regular, its LAST set" \
  value_is one najimi:192.0.2.0-24 '^2 regular 1 [0-9]+ [1-9][0-9]+ net:192\.0\.2\.0/24$'
check "regular record: TTL from GREYLIST_LIFETIME (36 days)" ttl_in one najimi:192.0.2.0-24 3110390 3110400
message "$T/m2" "back through the first MX"
check "MX A: the regular walks in" deliver "$PORT_A" "$T/m2"
check "MX A: logged regular" logs mxa '
expect-log ^ipgreylist: regular ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.0-24 keyby=net age=[0-9]+$'
check "no state directory was needed or made" test ! -e "$T/state"

# --- a planted value: a later version, garbage, another type ---

gl_serve plant 198.51.100.7 "$R1" -- ; PORT_P=$PORT
rcli one set najimi:198.51.100.0-24 "3 regular 7 1795000000 1795003600 net:198.51.100.0/24 more" > /dev/null
check "a later version's value: reset, 451" client "$PORT_P" "$GREYLISTED"
check "a later version's value: logged reset=version" logs plant '
expect-log ^ipgreylist: new ip=198\.51\.100\.7 .* reset=version code=451$'
check "a later version's value: replaced by a version-2 record" \
  value_is one najimi:198.51.100.0-24 '^2 pending 0 [0-9]+ 0 net:198\.51\.100\.0/24$'
rcli one set najimi:198.51.100.0-24 "regular yes please" > /dev/null
check "garbage: reset, 451" client "$PORT_P" "$GREYLISTED"
check "garbage: logged reset=corrupt" logs plant '
expect-log ^ipgreylist: new ip=198\.51\.100\.7 .* reset=corrupt code=451$'
check "garbage: replaced" value_is one najimi:198.51.100.0-24 '^2 pending 0 '
rcli one set najimi:198.51.100.0-24 "2 regular 0 1795000000 1795003600 net:203.0.113.0/24" > /dev/null
check "another key's record under this name: reset" client "$PORT_P" "$GREYLISTED"
rcli one del najimi:198.51.100.0-24 > /dev/null
rcli one rpush najimi:198.51.100.0-24 a b > /dev/null
check "a list at the key: reset, 451" client "$PORT_P" "$GREYLISTED"
check "a list at the key: replaced by a string record" value_is one najimi:198.51.100.0-24 '^2 pending 0 '
now=$(date +%s)
rcli one set najimi:198.51.100.0-24 "2 pending 0 $((now - 600)) 0 net:198.51.100.0/24" > /dev/null
message "$T/m3" "time from the record's own FIRST"
check "a record whose FIRST is 10 minutes back: passes (its time is its own field)" deliver "$PORT_P" "$T/m3"
check "logged pass age=600" logs plant '
expect-log ^ipgreylist: pass ip=198\.51\.100\.7 .* age=60[0-2] count=0$'
rcli one set najimi:198.51.100.0-24 "2 regular 0 $((now - 40 * 86400)) $((now - 37 * 86400)) net:198.51.100.0/24" > /dev/null
check "a regular last seen 37 days ago: lapsed, 451" client "$PORT_P" "$GREYLISTED"
check "logged reset=lapsed" logs plant '
expect-log ^ipgreylist: new .* reset=lapsed was=31968[0-9]{2} code=451$'

# --- prefix and database ---

gl_serve prefix 203.0.113.5 "$R1" GREYLIST_REDIS_PREFIX=mx:grey: GREYLIST_REDIS_DB=2 -- ; PORT_X=$PORT
check "prefix and database: a stranger, 451" client "$PORT_X" "$GREYLISTED"
check "prefix and database: the key is mx:grey:... in database 2" \
  sh -c "[ \"\$(redis-cli -s '$T/one.sock' -n 2 exists mx:grey:203.0.113.0-24)\" = 1 ] && [ \"\$(redis-cli -s '$T/one.sock' exists mx:grey:203.0.113.0-24)\" = 0 ]"

# --- ipgreylist-expire: a report on Redis, and a site's files migrated ---

check "expire on Redis: counts by state and kind, nothing removed" sh -c "
  GREYLIST_REDIS=unix:$T/one.sock '$EXPIRE' -v > '$T/report' &&
  grep -Eq '^ipgreylist-expire: redis keys=2 pending=1 regular=1 corrupt=0 newer=0 gone=0 ip=0 net=2 name=0 trip=0 pair=0$' '$T/report' &&
  [ \"\$(redis-cli -s '$T/one.sock' dbsize)\" = 2 ]" 
mkdir -p "$T/files"
for ip in 10.1.1.1 10.2.2.2 10.3.3.3; do
  echo QUIT | env PROTO=TCP TCPREMOTEIP=$ip "$GL" -t 2 -d "$T/files" /bin/true > /dev/null 2>&1
done
touch -d '-10 minutes' "$(find "$T/files" -name 10.1.1.0-24)"
echo QUIT | env PROTO=TCP TCPREMOTEIP=10.1.1.1 "$GL" -t 2 -d "$T/files" /bin/true > /dev/null 2>&1
touch -d '-2 days' "$(find "$T/files" -name 10.3.3.0-24)"
check "migrate -n: says what it would copy, copies nothing" sh -c "
  GREYLIST_REDIS=unix:$T/one.sock '$EXPIRE' -m -n '$T/files' > '$T/mig0' &&
  grep -q 'would-migrate copied-regular key=10\.1\.1\.0-24' '$T/mig0' &&
  grep -q 'dry-run migrate files=3 copied=2 exists=0 stale=1 ' '$T/mig0' &&
  [ \"\$(redis-cli -s '$T/one.sock' exists najimi:10.1.1.0-24)\" = 0 ]"
check "migrate: live records copied, the stale one left out" sh -c "
  GREYLIST_REDIS=unix:$T/one.sock '$EXPIRE' -m '$T/files' > '$T/mig1' &&
  grep -Eq '^ipgreylist-expire: migrated files=3 copied=2 exists=0 stale=1 lapsed=0 corrupt=0 skipped=0 errors=0$' '$T/mig1'"
check "migrate: the regular is a regular in Redis, its time the file's mtime" \
  value_is one najimi:10.1.1.0-24 '^2 regular 0 [0-9]+ [0-9]+ net:10\.1\.1\.0/24$'
check "migrate: the pending record keeps its first-seen (TTL a day less 0..5 s)" ttl_in one najimi:10.2.2.0-24 86390 86400
check "migrate again: what is there wins" sh -c "
  GREYLIST_REDIS=unix:$T/one.sock '$EXPIRE' -m '$T/files' | grep -q ' copied=0 exists=2 '"
gl_serve migrated 10.1.1.1 "$R1" -- ; PORT_M=$PORT
message "$T/m4" "a regular migrated from the files"
check "after migration the regular walks in" deliver "$PORT_M" "$T/m4"
check "expire on a Redis that is not there: warned, the directory still walked, exit 111" sh -c "
  GREYLIST_REDIS=unix:$T/nothing.sock '$EXPIRE' -n '$T/files' > '$T/rep2' 2> '$T/rep2.err'; rc=\$?
  [ \$rc = 111 ] && grep -q 'warning: unable to read Redis at unix:.*/nothing.sock: connect ENOENT' '$T/rep2.err' &&
  grep -q '^ipgreylist-expire: dry-run files=3 ' '$T/rep2'"
check "expire -m without GREYLIST_REDIS: usage error 100" sh -c "'$EXPIRE' -m '$T/files' 2>/dev/null; [ \$? = 100 ]"

# --- Redis unreachable: fail open (one line), or 451 4.3.0 when closed ---

gl_serve down 192.0.2.77 "GREYLIST_REDIS=unix:$T/nothing.sock" -- ; PORT_D=$PORT
message "$T/m5" "Redis not there"
check "no Redis: the session goes on (fail open), mail delivered" deliver "$PORT_D" "$T/m5"
check "no Redis: one error line naming the step, then=pass" logs down "
expect-log ^ipgreylist: error ip=192\\.0\\.2\\.77 pid=[0-9]+ key=192\\.0\\.2\\.0-24 op=connect path=unix:$T/nothing\\.sock/0/najimi:192\\.0\\.2\\.0-24 errno=ENOENT then=pass\$"
check "no Redis: exactly one line for that session" test "$(grep -c . "$T/down.log")" -eq 1
gl_serve closed 192.0.2.77 "GREYLIST_REDIS=unix:$T/nothing.sock" GREYLIST_FAILCLOSED=1 -- ; PORT_C=$PORT
check "no Redis, GREYLIST_FAILCLOSED=1: 451 4.3.0" client "$PORT_C" "expect 220
ehlo client.test
mail <sender@example.test>
rcpt <postmaster@example.test> 451
expect-text 451 4.3.0
quit"
check "fail closed: logged with code=451" logs closed '
expect-log ^ipgreylist: error .* op=connect .* errno=ENOENT code=451$'
gl_serve closedc 192.0.2.77 "GREYLIST_REDIS=127.0.0.1:1" -- -c ; PORT_C=$PORT
check "no Redis on a port, -c: 451 4.3.0" client "$PORT_C" "expect 220
ehlo client.test
mail <sender@example.test>
rcpt <postmaster@example.test> 451
expect-text 451 4.3.0
quit"
check "-c: logged ECONNREFUSED code=451" logs closedc '
expect-log ^ipgreylist: error .* op=connect path=127\.0\.0\.1:1/0/.* errno=ECONNREFUSED code=451$'
gl_serve badspec 192.0.2.77 "GREYLIST_REDIS=redis.example:6379" -- ; PORT_S=$PORT
message "$T/m6" "a name where an address must be"
check "GREYLIST_REDIS a name: warned, state unwritable, fail open" deliver "$PORT_S" "$T/m6"
check "GREYLIST_REDIS a name: the warning names it, op=config" logs badspec '
expect-log ^ipgreylist: warning: invalid GREYLIST_REDIS=redis\.example:6379
expect-log ^ipgreylist: error .* op=config .* errno=EINVAL then=pass$'

# --- Redis stopped (SIGSTOP) beyond the deadline ---

kill -STOP "$ONE"
start=$(date +%s%N)
echo QUIT | env PROTO=TCP TCPREMOTEIP=100.64.9.200 "$R1" GREYLIST_REDIS_TIMEOUT=300 "$GL" -t 2 /bin/true 2> "$T/stopped.log"
took=$(ms_since "$start")
check "Redis stopped: ipgreylist waits the deadline (300 ms), no longer: ${took} ms" \
  test "$took" -ge 280 -a "$took" -lt 900
check "Redis stopped: logged ETIMEDOUT, then=pass" logs "$T/stopped.log" '
expect-log ^ipgreylist: error ip=100\.64\.9\.200 .* op=get .* errno=ETIMEDOUT then=pass$'
gl_serve stopped 100.64.9.201 "$R1" GREYLIST_REDIS_TIMEOUT=300 -- ; PORT_T=$PORT
message "$T/m7" "Redis stopped"
check "Redis stopped: a whole session fails open, mail delivered" deliver "$PORT_T" "$T/m7"
check "Redis stopped: the message arrived" maildir_got "$T/m7"
kill -CONT "$ONE"
check "Redis continued: state works again" client "$PORT_T" "$GREYLISTED"

# --- Redis killed in the middle of a session ---

gl_serve killed 100.64.8.202 "$R1" GREYLIST_REDIS_TIMEOUT=5000 -- ; PORT_K=$PORT
message "$T/m8" "Redis killed while ipgreylist waits on it"
kill -STOP "$ONE"
deliver "$PORT_K" "$T/m8" > "$T/killed.out" 2>&1 &
CPID=$!
sleep 0.5
kill -KILL "$ONE"
wait "$ONE" 2>/dev/null
start=$(date +%s%N)
wait "$CPID"; crc=$?
took=$(ms_since "$start")
check "Redis killed mid-session: the session goes on, mail delivered (${took} ms after the kill)" \
  test "$crc" -eq 0 -a "$took" -lt 3000
check "Redis killed mid-session: the message arrived" maildir_got "$T/m8"
check "Redis killed mid-session: logged ECONNRESET, then=pass" logs killed '
expect-log ^ipgreylist: error ip=100\.64\.8\.202 .* op=get .* errno=ECONNRESET then=pass$'
message "$T/m9" "Redis dead"
check "Redis dead: the next session fails open too" deliver "$PORT_K" "$T/m9"
check "Redis dead: logged ECONNREFUSED at connect" logs killed '
expect-log ^ipgreylist: error ip=100\.64\.8\.202 .* op=connect .* errno=ECONNREFUSED then=pass$'

# --- a password from a file; a Redis on a loopback port ---

printf 'secret-from-a-file\n' > "$T/redis.pass"
chmod 600 "$T/redis.pass"
REDISCLI_AUTH=secret-from-a-file redis_start auth "requirepass secret-from-a-file" ||
  not_ok "redis-server starts with a password"
gl_serve auth 192.0.2.50 "GREYLIST_REDIS=unix:$T/auth.sock" "GREYLIST_REDIS_PASSFILE=$T/redis.pass" -- ; PORT_W=$PORT
check "password file: AUTH passes, a stranger gets 451" client "$PORT_W" "$GREYLISTED"
check "password file: the record is there" sh -c "
  [ \"\$(REDISCLI_AUTH=secret-from-a-file redis-cli -s '$T/auth.sock' exists najimi:192.0.2.0-24)\" = 1 ]"
printf 'wrong\n' > "$T/wrong.pass"
gl_serve noauth 192.0.2.51 "GREYLIST_REDIS=unix:$T/auth.sock" "GREYLIST_REDIS_PASSFILE=$T/wrong.pass" -- ; PORT_N=$PORT
message "$T/m10" "wrong password"
check "wrong password: fail open, mail delivered" deliver "$PORT_N" "$T/m10"
check "wrong password: logged op=auth errno=EACCES" logs noauth '
expect-log ^ipgreylist: error ip=192\.0\.2\.51 .* op=auth .* errno=EACCES then=pass$'
gl_serve nopass 192.0.2.52 "GREYLIST_REDIS=unix:$T/auth.sock" -- ; PORT_N=$PORT
message "$T/m11" "no password"
check "no password where one is needed: fail open" deliver "$PORT_N" "$T/m11"
check "no password: logged op=get errno=EACCES" logs nopass '
expect-log ^ipgreylist: error ip=192\.0\.2\.52 .* op=get .* errno=EACCES then=pass$'
check "the password is on no command line (redis-server's nor ipgreylist's)" \
  sh -c "! grep -l -F -f '$T/redis.pass' /proc/[0-9]*/cmdline 2>/dev/null | grep -q ."

RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis_start tcp "port $RPORT" "bind 127.0.0.1 -::1" || not_ok "redis-server starts on a loopback port"
gl_serve tcp1 192.0.2.60 "GREYLIST_REDIS=127.0.0.1:$RPORT" -- ; PORT_1=$PORT
gl_serve tcp2 192.0.2.61 "GREYLIST_REDIS=127.0.0.1:$RPORT" -- ; PORT_2=$PORT
check "loopback port: MX 1 greylists" client "$PORT_1" "$GREYLISTED"
check "loopback port: the record is in that Redis" sh -c "[ \"\$(redis-cli -p $RPORT exists najimi:192.0.2.0-24)\" = 1 ]"
sleep 2.2
message "$T/m12" "over TCP"
check "loopback port: MX 2 lets the retry through (same /24)" deliver "$PORT_2" "$T/m12"
check "loopback port: logged pass" logs tcp2 '
expect-log ^ipgreylist: pass ip=192\.0\.2\.61 .* key=192\.0\.2\.0-24 '
check "no fd to Redis is left to the next program" sh -c "
  echo QUIT | env PROTO=TCP TCPREMOTEIP=192.0.2.60 GREYLIST_REDIS=127.0.0.1:$RPORT '$GL' sh -c 'ls -l /proc/\$\$/fd' 2>/dev/null | grep -q socket && exit 1; exit 0"
if redis-cli -h ::1 -p "$RPORT" ping 2>/dev/null | grep -q PONG; then
  check "IPv6 loopback [::1]:PORT: a stranger gets its record" sh -c "
    echo QUIT | env PROTO=TCP TCPREMOTEIP=2001:db8:5::1 'GREYLIST_REDIS=[::1]:$RPORT' '$GL' -t 2 /bin/true 2>&1 | grep -q '^ipgreylist: new ' &&
    [ \"\$(redis-cli -p $RPORT exists najimi:2001:db8:5::-64)\" = 1 ]"
else
  echo "# no IPv6 loopback here: [::1]:PORT is covered by the unit tests only"
fi

# simultaneous first connections (on any MX): SET NX lets exactly one make the record
for i in 1 2 3 4 5 6 7 8; do
  echo QUIT | env PROTO=TCP TCPREMOTEIP=100.64.6.$i GREYLIST_REDIS=127.0.0.1:$RPORT "$GL" -t 2 /bin/true 2>> "$T/race.log" > /dev/null &
done
wait_for 100 sh -c "[ \$(grep -c . '$T/race.log') -ge 8 ]"
check "8 simultaneous strangers of one /24: one new, the rest too soon" sh -c "
  [ \$(grep -c '^ipgreylist: new .* key=100\.64\.6\.0-24 ' '$T/race.log') = 1 ] &&
  [ \$(grep -c '^ipgreylist: too-soon .* key=100\.64\.6\.0-24 ' '$T/race.log') = 7 ]"

# a full Redis (maxmemory reached, noeviction): reads work, writes get OOM
redis-cli -p "$RPORT" config set maxmemory-policy noeviction > /dev/null
redis-cli -p "$RPORT" config set maxmemory 1 > /dev/null
gl_serve full 100.64.7.1 "GREYLIST_REDIS=127.0.0.1:$RPORT" -- ; PORT_F=$PORT
message "$T/m13" "Redis full"
check "Redis full: fail open, mail delivered" deliver "$PORT_F" "$T/m13"
check "Redis full: logged op=set errno=ENOSPC, then=pass" logs full '
expect-log ^ipgreylist: error ip=100\.64\.7\.1 .* op=set .* errno=ENOSPC then=pass$'
gl_serve fullc 100.64.7.1 "GREYLIST_REDIS=127.0.0.1:$RPORT" GREYLIST_FAILCLOSED=1 -- ; PORT_F=$PORT
check "Redis full, fail closed: 451 4.3.0" client "$PORT_F" "expect 220
ehlo client.test
mail <sender@example.test>
rcpt <postmaster@example.test> 451
expect-text 451 4.3.0
quit"
redis-cli -p "$RPORT" config set maxmemory 0 > /dev/null

cat > "$T/sigign" <<'SH'
#!/bin/sh
# exit 0 when SIGPIPE (13: bit 12 of SigIgn) is not ignored here
m=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)
[ $(( (0x$m >> 12) & 1 )) -eq 0 ]
SH
chmod +x "$T/sigign"
check "SIGPIPE is not left ignored for the next program" sh -c "
  echo QUIT | env PROTO=TCP TCPREMOTEIP=192.0.2.60 GREYLIST_REDIS=127.0.0.1:$RPORT '$GL' '$T/sigign' 2>/dev/null"

finish
