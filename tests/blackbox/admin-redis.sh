#!/bin/bash
# SPDX-License-Identifier: ISC
# The operator tools on the Redis store (GREYLIST_REDIS), against the real
# chain: ipgreylist under tcpserver with its records in Redis, exim as the
# tail. ipgreylist-admin's list, show, add and remove print what they
# print on files, and what they change is what the chain then does;
# najimi-explain's answer (new, too soon, promote, regular) is what the
# chain then does. Then rcptcheck's triplets shared by two MX through
# one Redis, and Redis killed in the middle of an rcptcheck session.
# Redis is Debian's redis-server on a private unix socket, no
# persistence, stopped by PID; records are looked at and planted with
# redis-cli. GREYLIST_MIN is 2 s; a longer age is planted in a record's
# FIRST field.
. "$(dirname "$0")/../lib.sh"
needs_root "exim -C"
exim_tail
command -v redis-server > /dev/null || { not_ok "redis-server is installed (scripts/install-deps)"; finish; exit 1; }
AD=$SRC/ipgreylist-admin
EX=$SRC/najimi-explain
GL=$SRC/ipgreylist
RC=$SRC/rcptcheck
export GREYLIST_MIN=2
unset GREYLIST_REDIS GREYLIST_REDIS_PREFIX GREYLIST_REDIS_DB GREYLIST_REDIS_TIMEOUT GREYLIST_REDIS_PASSFILE GREYLIST_FAILCLOSED GREYLISTDIR

rcli() { redis-cli -s "$T/one.sock" "$@"; }
value_is() {
  local v; v=$(rcli get "$1")
  echo "$v" | grep -Eq -- "$2" || { echo "# $1 = '$v', want /$2/"; return 1; }
}
ttl_in() {
  local t; t=$(rcli ttl "$1")
  [ "$t" -ge "$2" ] && [ "$t" -le "$3" ] || { echo "# ttl of $1: $t, want $2..$3"; return 1; }
}
redis_start one || { not_ok "redis-server starts on a unix socket"; finish; exit 1; }
ONE=$RPID
SPEC=unix:$T/one.sock
export GREYLIST_REDIS=$SPEC
S=$T/files
mkdir -p "$S"

# gl_serve NAME IP [-d DIR]: ipgreylist for IP (on Redis, or on DIR), exim next.
gl_serve() {
  local name=$1 ip=$2; shift 2
  if [ $# -gt 0 ]; then serve "$name" env -u GREYLIST_REDIS TCPREMOTEIP="$ip" "$GL" "$@" "${EXIM[@]}"
  else serve "$name" env TCPREMOTEIP="$ip" "$GL" "${EXIM[@]}"; fi
}
message "$T/msg" "admin on Redis"
passes() { client "$1" "
hello
$(message_steps "$T/msg")"; }
greylisted() { client "$1" "
hello
mail <s@remote.test>
rcpt <postmaster@example.test> 451
quit"; }
logged() { wait_for 40 grep -Eq "$2" "$T/$1.log" || { echo "# not in $1.log: $2"; tail -n 5 "$T/$1.log"; return 1; }; }

# ------------------------------------------------ ipgreylist-admin: list, show

check "list on an empty Redis: nothing, exit 0" sh -c "[ -z \"\$('$AD' list)\" ]"
gl_serve red 192.0.2.9; P_RED=$PORT
gl_serve fil 192.0.2.9 -d "$S"; P_FIL=$PORT; S_FIL=$SERVER_PID
check "a stranger 192.0.2.9 on Redis: 451" greylisted "$P_RED"
check "the same stranger on files: 451" greylisted "$P_FIL"
check "list on Redis: the record the chain wrote, its place in Redis" sh -c "
  '$AD' list | tee /dev/stderr | grep -Eqx 'key=net:192\.0\.2\.0/24 state=pending count=0 first=[0-9T:Z-]+ last=- age=[0-9] next=451-too-soon left=[0-2] until=[0-9T:Z-]+ file=unix:$T/one\.sock/0/najimi:192\.0\.2\.0-24'"
check "list on Redis and on files: the same line but for times and place" sh -c "
  a=\$('$AD' list | sed -E 's/ (first|last|age|left|until|file)=[^ ]*//g')
  b=\$(env -u GREYLIST_REDIS '$AD' -d '$S' list | sed -E 's/ (first|last|age|left|until|file)=[^ ]*//g')
  echo \"# redis: \$a\"; echo \"# files: \$b\"; [ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ]"
check "show by address, network, text and record name: the same record" sh -c "
  a=\$('$AD' show 192.0.2.77 | sed 's/ age=.*//'); b=\$('$AD' show net:192.0.2.0/24 | sed 's/ age=.*//')
  c=\$('$AD' show 192.0.2.0-24 | sed 's/ age=.*//'); d=\$('$AD' show 192.0.2.0/24 | sed 's/ age=.*//')
  echo \"# \$a\"; [ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ] && [ \"\$a\" = \"\$c\" ] && [ \"\$a\" = \"\$d\" ]"
check "show of a key with no record: state=none next=451-new, nothing written" sh -c "
  '$AD' show 203.0.113.99 | grep -Eqx 'key=net:203\.0\.113\.0/24 state=none next=451-new file=unix:.*/0/najimi:203\.0\.113\.0-24' &&
  [ \"\$(redis-cli -s '$T/one.sock' exists najimi:203.0.113.0-24)\" = 0 ]"
check "show and list leave the record and its TTL as they were" sh -c "
  v=\$(redis-cli -s '$T/one.sock' get najimi:192.0.2.0-24); '$AD' show 192.0.2.9 > /dev/null; '$AD' list > /dev/null
  [ \"\$(redis-cli -s '$T/one.sock' get najimi:192.0.2.0-24)\" = \"\$v\" ] &&
  [ \"\$(redis-cli -s '$T/one.sock' ttl najimi:192.0.2.0-24)\" -ge 86390 ] && [ \"\$(redis-cli -s '$T/one.sock' dbsize)\" = 1 ]"
stop_server "$S_FIL"

# ------------------------------------------------ add, remove: what the chain does

gl_serve stranger 203.0.113.5; P_STR=$PORT; S_STR=$SERVER_PID
check "add 203.0.113.5: a regular now, as on files" sh -c "
  a=\$('$AD' add 203.0.113.5) && echo \"# \$a\" && echo \"\$a\" | grep -Eq '^added key=net:203\.0\.113\.0/24 state=regular count=0 .* next=pass-regular left=3110400 .* file=unix:' &&
  b=\$(env -u GREYLIST_REDIS '$AD' -d '$S' add 203.0.113.5) &&
  [ \"\$(echo \"\$a\" | sed -E 's/ (first|last|age|left|until|file)=[^ ]*//g')\" = \"\$(echo \"\$b\" | sed -E 's/ (first|last|age|left|until|file)=[^ ]*//g')\" ]"
check "add: Redis holds a version-2 regular, its TTL the lifetime" sh -c "
  v=\$(redis-cli -s '$T/one.sock' get najimi:203.0.113.0-24); echo \"# \$v\"
  echo \"\$v\" | grep -Eqx '2 regular 0 [0-9]+ [0-9]+ net:203\.0\.113\.0/24' &&
  t=\$(redis-cli -s '$T/one.sock' ttl najimi:203.0.113.0-24) && [ \$t -ge 3110390 ] && [ \$t -le 3110400 ]"
check "the chain lets the stranger 203.0.113.5 in at once" passes "$P_STR"
check "... the message arrived" maildir_got "$T/msg"
check "... logged as a regular" logged stranger '^ipgreylist: regular ip=203\.0\.113\.5 pid=[0-9]+ key=203\.0\.113\.0-24 keyby=net age=[0-9]+$'
check "list regular, list pending: the filters as on files" sh -c "
  '$AD' list regular | grep -c . | grep -qx 1 && '$AD' list regular | grep -q '^key=net:203\.0\.113\.0/24 ' &&
  '$AD' list pending | grep -c . | grep -qx 1 && '$AD' list pending | grep -q '^key=net:192\.0\.2\.0/24 ' &&
  '$AD' list net | grep -c . | grep -qx 2 && [ -z \"\$('$AD' list name trip)\" ]"
check "remove 203.0.113.5: removed, gone from Redis and from the list" sh -c "
  '$AD' remove 203.0.113.5 | grep -qx 'removed key=net:203\.0\.113\.0/24' &&
  [ \"\$(redis-cli -s '$T/one.sock' exists najimi:203.0.113.0-24)\" = 0 ] && ! '$AD' list | grep -q 203.0.113"
check "the chain greylists 203.0.113.5 again, as a stranger" greylisted "$P_STR"
check "... logged new" logged stranger '^ipgreylist: new ip=203\.0\.113\.5 pid=[0-9]+ key=203\.0\.113\.0-24 keyby=net age=0 code=451$'
check "remove of a key with no record: says so, exit 0, as on files" sh -c "
  [ \"\$('$AD' remove 198.18.0.1)\" = 'no record: net:198.18.0.0/24' ] &&
  [ \"\$(env -u GREYLIST_REDIS '$AD' -d '$S' remove 198.18.0.1)\" = 'no record: net:198.18.0.0/24' ]"
check "add -u a date: the record lapses at the end of that day (TTL and until=)" sh -c "
  d=\$(date -u -d '+3 days' +%Y-%m-%d); end=\$(( \$(date -u -d \"\$d\" +%s) + 86400 ))
  '$AD' -u \$d add 198.18.0.1 > '$T/addu' && cat '$T/addu' >&2 &&
  grep -q \"until=\$(date -u -d \"\$d + 1 day\" +%Y-%m-%d)T00:00:00Z\" '$T/addu' &&
  t=\$(redis-cli -s '$T/one.sock' ttl najimi:198.18.0.0-24) && now=\$(date +%s) &&
  [ \$((now + t)) -ge \$((end - 3)) ] && [ \$((now + t)) -le \$((end + 1)) ]"
check "-u beyond GREYLIST_LIFETIME, or in the past: exit 100, nothing written" sh -c "
  '$AD' -u 2099-01-01 add 198.18.9.9 2>/dev/null; [ \$? -eq 100 ] || exit 1
  '$AD' -u 2000-01-01 add 198.18.9.9 2>/dev/null; [ \$? -eq 100 ] || exit 1
  [ \"\$(redis-cli -s '$T/one.sock' exists najimi:198.18.9.0-24)\" = 0 ]"
stop_server "$S_STR"

# ------------------------------------------------ values planted by hand

now=$(date +%s)
rcli set najimi:198.51.100.0-24 "regular yes please" > /dev/null
rcli set najimi:10.9.9.0-24 "3 regular 7 1795000000 1795003600 net:10.9.9.0/24 more" > /dev/null
rcli set najimi:not-a-record "2 pending 0 $now 0 net:10.8.8.0/24" > /dev/null
rcli set najimi:10.7.7.0-24 "2 pending 4 $((now - 600)) 0 net:10.7.7.0/24" > /dev/null
rcli set other:10.6.6.0-24 "2 pending 0 $now 0 net:10.6.6.0/24" > /dev/null
check "list corrupt: garbage and a later version's value, as corrupt" sh -c "
  '$AD' list corrupt > '$T/corrupt' && cat '$T/corrupt' >&2 && [ \$(grep -c . '$T/corrupt') = 2 ] &&
  grep -Eqx 'key=net:198\.51\.100\.0/24 state=corrupt next=451-reset file=unix:.*najimi:198\.51\.100\.0-24' '$T/corrupt' &&
  grep -q '^key=net:10\.9\.9\.0/24 state=corrupt ' '$T/corrupt'"
check "a value set by hand without its newline: read as the chain reads it (age 600, count 4)" sh -c "
  '$AD' show 10.7.7.7 | grep -Eq '^key=net:10\.7\.7\.0/24 state=pending count=4 .* age=60[0-2] next=pass-promote '"
check "a key under the prefix that names no record, and another prefix: not listed" sh -c "
  ! '$AD' list | grep -q -e not-a-record -e 10.8.8 -e 10.6.6"
check "GREYLIST_REDIS_PREFIX: the tools look under it" sh -c "
  GREYLIST_REDIS_PREFIX=other: '$AD' list | grep -q '^key=net:10\.6\.6\.0/24 state=pending ' &&
  [ \$(GREYLIST_REDIS_PREFIX=other: '$AD' list | grep -c .) = 1 ]"
rcli del najimi:198.51.100.0-24 najimi:10.9.9.0-24 najimi:not-a-record najimi:10.7.7.0-24 other:10.6.6.0-24 > /dev/null
# many records: SCAN in several steps, each record once
for i in $(seq 0 1199); do
  printf 'SET najimi:10.%d.%d.0-24 "2 pending 0 %d 0 net:10.%d.%d.0/24"\n' $((i / 200 + 100)) $((i % 200)) "$now" $((i / 200 + 100)) $((i % 200))
done | rcli > /dev/null
check "1200 more records: listed in SCAN steps, each once" sh -c "
  '$AD' list > '$T/many' && n=\$(grep -c '^key=net:10\.1[0-9][0-9]\.' '$T/many') && echo \"# \$n\" && [ \$n = 1200 ] &&
  [ \$(sort -u '$T/many' | grep -c '^key=net:10\.1[0-9][0-9]\.') = 1200 ]"
for i in $(seq 0 1199); do printf 'DEL najimi:10.%d.%d.0-24\n' $((i / 200 + 100)) $((i % 200)); done | rcli > /dev/null

# ------------------------------------------------ najimi-explain on Redis

explain() { "$EX" -j "$1" > "$T/ex.json" && cat "$T/ex.json" >&2; }
field() { python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v[k]
print("null" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$T/ex.json" "$1"; }
is() { local got; got=$(field "$1"); [ "$got" = "$2" ] || { echo "# $1: got $got, want $2"; return 1; }; }
E() { explain "$1" && shift && local f; for f in "$@"; do is "${f%%=*}" "${f#*=}" || return 1; done; }

gl_serve ex 198.51.100.7; P_EX=$PORT; S_EX=$SERVER_PID
check "explain a stranger (no state directory at all): 451 new, its key" \
  E 198.51.100.7 verdict.code=451 ipgreylist.by=record ipgreylist.state=none 'ipgreylist.next=451 new' ipgreylist.key=net:198.51.100.0/24
check "... explain wrote nothing to Redis" sh -c "[ \"\$(redis-cli -s '$T/one.sock' exists najimi:198.51.100.0-24)\" = 0 ]"
check "... and the chain greylists it as new" greylisted "$P_EX"
check "... logged new" logged ex '^ipgreylist: new ip=198\.51\.100\.7 .* code=451$'
check "explain at once: 451 too soon, passes within GREYLIST_MIN" sh -c "
  '$EX' -j 198.51.100.7 | tee /dev/stderr | grep -q '\"verdict\":{\"code\":\"451\",\"why\":\"greylisted: retried too soon\"}'"
check "... and the chain refuses it again, too soon" greylisted "$P_EX"
check "... logged too-soon" logged ex '^ipgreylist: too-soon ip=198\.51\.100\.7 .* count=1 min=2 code=451$'
check "explain changed nothing: the count is the chain's" value_is najimi:198.51.100.0-24 '^2 pending 1 [0-9]+ 0 net:198\.51\.100\.0/24$'
sleep 2.2
check "after GREYLIST_MIN: explain says pass, becomes a regular" \
  E 198.51.100.7 verdict.code=pass ipgreylist.state=pending 'ipgreylist.next=pass promote' ipgreylist.count=1
check "... and the chain lets it in" passes "$P_EX"
check "... logged pass" logged ex '^ipgreylist: pass ip=198\.51\.100\.7 .* count=1$'
check "regular: explain says pass regular" \
  E 198.51.100.7 verdict.code=pass ipgreylist.state=regular 'ipgreylist.next=pass regular'
check "... and the chain lets it in as a regular" passes "$P_EX"
check "... logged regular" logged ex '^ipgreylist: regular ip=198\.51\.100\.7 '
rcli set najimi:198.51.100.0-24 "2 regular 1 $((now - 40 * 86400)) $((now - 37 * 86400)) net:198.51.100.0/24" > /dev/null
check "a regular last seen 37 days ago: explain says 451 reset (lapsed)" \
  E 198.51.100.7 verdict.code=451 'ipgreylist.next=451 reset' ipgreylist.reset=lapsed
check "... and the chain greylists it again" greylisted "$P_EX"
check "... reset as lapsed" logged ex '^ipgreylist: new ip=198\.51\.100\.7 .* reset=lapsed '
check "explain from a service's env/ (GREYLIST_REDIS there, -s)" sh -c "
  mkdir -p '$T/svc/env' '$T/svc/control' && echo '$SPEC' > '$T/svc/env/GREYLIST_REDIS' && echo 2 > '$T/svc/env/GREYLIST_MIN' &&
  echo ':allow' | tcprules '$T/svc/control/tcp.smtp.cdb' '$T/svc/control/tcp.tmp' &&
  env -u GREYLIST_REDIS '$EX' -j -s '$T/svc' 198.51.100.7 | grep -q '\"state\":\"pending\"'"
stop_server "$S_EX"

# ------------------------------------------------ triplets: two MX, one Redis

Q=$T/qmail
mkdir -p "$Q/control" "$T/grey"
echo example.test > "$Q/control/locals"
printf '%s@example.test\n' alice bob postmaster > "$Q/valid"
"$SRC/rcptcheck-cdb" "$Q/valid" "$Q/valid.cdb"
# rc_serve NAME [VAR=value...]: rcptcheck with triplets in Redis, exim next
rc_serve() {
  local name=$1; shift
  serve_exim "$name" env QMAILHOME="$Q" RCPTCHECK_CDB="$Q/valid.cdb" RCPTCHECK_GREYLIST="$T/grey" "$@" "$RC"
}
TRIP=trip:127.0.0.0/24:s1@remote.test:alice@example.test
TKEY=najimi:$(printf %s "$TRIP" | sha256sum | cut -c1-64)
G='^rcptcheck: grey ip=127\.0\.0\.1 pid=[0-9]+ key=[0-9a-f]{8} keyby=net age=[0-9]+'
rc_serve mxa; P_A=$PORT
rc_serve mxb; P_B=$PORT
check "MX A: a new triplet, 451 4.7.1" client "$P_A" "
hello
mail <s1@remote.test>
rcpt <alice@example.test> 451
expect-text 4.7.1
quit"
check "MX A: logged new" logged mxa "$G verdict=new from=s1@remote\.test rcpt=alice@example\.test code=451$"
check "the triplet's record is in Redis under the hash of its text, TTL the window" sh -c "
  redis-cli -s '$T/one.sock' get '$TKEY' | grep -Eqx '2 pending 0 [0-9]+ 0 $TRIP' &&
  [ \$(redis-cli -s '$T/one.sock' ttl '$TKEY') -ge 86390 ]"
check "... and not in the directory" sh -c "[ -z \"\$(find '$T/grey' -type f)\" ]"
check "MX B at once: too soon, from A's record" client "$P_B" "
hello
mail <s1@remote.test>
rcpt <alice@example.test> 451
quit"
check "MX B: logged too-soon count=1" logged mxb "$G verdict=too-soon .* count=1 min=2 code=451$"
check "ipgreylist-admin list trip: the triplet, by its text" sh -c "
  '$AD' list trip | grep -Eq '^key=$TRIP state=pending count=1 .* file=unix:.*/0/$TKEY$'"
# ten minutes pass: the record's FIRST moved back
v=$(rcli get "$TKEY"); first=$(echo "$v" | cut -d' ' -f4)
rcli set "$TKEY" "$(echo "$v" | sed "s/ $first / $((first - 600)) /")" EX 86000 > /dev/null
message "$T/mt" "a triplet greylisted by MX A, passed by MX B"
maildir_mark
check "MX B after the delay: the retry passes, the message is delivered" client "$P_B" "
hello
mail <s1@remote.test>
rcpt <alice@example.test>
message $T/mt
quit"
check "... logged promote on MX B" logged mxb "$G verdict=promote .*rcpt=alice@example\.test count=1 pass=triplet$"
check "... delivered exactly once, byte for byte" maildir_new 1 "$T/mt"
check "the triplet is a regular in Redis, TTL the lifetime" sh -c "
  redis-cli -s '$T/one.sock' get '$TKEY' | grep -Eqx '2 regular 1 [0-9]+ [1-9][0-9]+ $TRIP' &&
  [ \$(redis-cli -s '$T/one.sock' ttl '$TKEY') -ge 3110000 ]"
check "MX A: the regular passes at once" client "$P_A" "
hello
mail <s1@remote.test>
rcpt <alice@example.test>
quit"
check "... logged a pass on MX A" logged mxa "$G verdict=(pair|regular) "
check "ipgreylist-admin remove of the triplet: MX A greylists it again" sh -c "
  '$AD' remove '$TRIP' | grep -qx 'removed key=$TRIP' && [ \"\$(redis-cli -s '$T/one.sock' exists '$TKEY')\" = 0 ]"

# ------------------------------------------------ Redis killed mid-session

rc_serve killed GREYLIST_REDIS_TIMEOUT=2000; P_K=$PORT
message "$T/mk" "Redis killed between two transactions of one session"
client "$P_K" "
hello
mail <s9@remote.test>
rcpt <alice@example.test>
sleep 1500
send RSET
expect 250
mail <s9@fresh.test>
rcpt <bob@example.test>
message $T/mk
quit" > "$T/killed.out" 2>&1 &
CPID=$!
wait_for 40 grep -q "verdict=.*rcpt=alice@example.test" "$T/killed.log"
kill -KILL "$ONE"; wait "$ONE" 2>/dev/null
start=$(date +%s%N)
wait "$CPID"; crc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "first transaction: passed by the pair MX B learned, read from Redis" grep -Eq "$G verdict=pair from=s9@remote\.test rcpt=alice@example\.test" "$T/killed.log"
check "Redis killed before the second transaction: the session goes on, 250 (${took} ms)" \
  sh -c "[ $crc -eq 0 ] && [ $took -lt 3000 ] || { cat '$T/killed.out'; exit 1; }"
check "... rcptcheck logged the error and failed open" logged killed \
  "$G verdict=error from=s9@fresh\.test rcpt=bob@example\.test .*errno=E[A-Z]+ .*pass=fail-open$"
check "... one error line for the session" sh -c "[ \$(grep -c 'verdict=error' '$T/killed.log') = 1 ]"
check "... the message was delivered" maildir_got "$T/mk"
check "ipgreylist-admin with Redis gone: says so, exit 111" sh -c "
  '$AD' list 2> '$T/down.err'; rc=\$?; cat '$T/down.err' >&2; [ \$rc = 111 ] && grep -q 'unable to list unix:' '$T/down.err'"
check "remove with Redis gone: exit 111, not 'no record'" sh -c "
  out=\$('$AD' remove 192.0.2.9 2>/dev/null); rc=\$?; [ \$rc = 111 ] && [ -z \"\$out\" ]"
check "remove with Redis' socket missing: exit 111 too (ENOENT is not 'no record')" sh -c "
  out=\$(GREYLIST_REDIS=unix:$T/none.sock '$AD' remove 192.0.2.9 2>/dev/null); rc=\$?; [ \$rc = 111 ] && [ -z \"\$out\" ]"
check "najimi-explain with Redis gone: exit 111, nothing on stdout" sh -c "
  out=\$('$EX' 192.0.2.9 2>/dev/null); rc=\$?; [ \$rc = 111 ] && [ -z \"\$out\" ]"

finish
