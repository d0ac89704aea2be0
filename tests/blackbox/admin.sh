#!/bin/bash
# SPDX-License-Identifier: ISC
# ipgreylist-admin on the file store: list (age, state, filters), show
# (by address, network, text, file name), add (a regular now, or until a
# date) and remove, for every key kind; and what that changes for the
# real chain: ipgreylist under tcpserver, exim as the tail.
. "$(dirname "$0")/../lib.sh"
AD=$SRC/ipgreylist-admin
GL=$SRC/ipgreylist
needs_root "exim -C, a state owned by another user"
exim_tail
S=$T/state
mkdir -p "$S"

# gl_serve NAME IP [VAR=value...]: ipgreylist for IP, exim next.
gl_serve() {
  local name=$1 ip=$2; shift 2
  serve "$name" env TCPREMOTEIP="$ip" "$@" "$GL" -d "$S" "${EXIM[@]}"
}
message "$T/msg" "admin test"
# session EXPECT: one message; RCPT gets EXPECT (250: it passes, 451: greylisted).
session() {
  if [ "$1" = 250 ]; then client "$PORT" "
hello
$(message_steps "$T/msg")"
  else client "$PORT" "
hello
mail <s@remote.test>
rcpt <postmaster@example.test> 451
quit"
  fi
}

gl_serve v4 192.0.2.9
check "a stranger 192.0.2.9: 451" session 451
check "list: its /24, pending, age and next step (451 too soon, passes in GREYLIST_MIN)" sh -c "
  '$AD' -d '$S' list | tee /dev/stderr | grep -Eqx 'key=net:192\.0\.2\.0/24 state=pending count=0 first=[0-9T:Z-]+ last=- age=[0-9] next=451-too-soon left=(29[0-9]|300) until=[0-9T:Z-]+ file=$S/[0-9a-f]{2}/[0-9a-f]{2}/192\.0\.2\.0-24'"
check "show 192.0.2.77 (same /24), show net:192.0.2.0/24, show by file name: the same record" sh -c "
  a=\$('$AD' -d '$S' show 192.0.2.77 | sed 's/ age=.*//'); b=\$('$AD' -d '$S' show net:192.0.2.0/24 | sed 's/ age=.*//')
  c=\$('$AD' -d '$S' show 192.0.2.0-24 | sed 's/ age=.*//'); [ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ] && [ \"\$a\" = \"\$c\" ]"
check "add 192.0.2.9: a regular now" sh -c "
  '$AD' -d '$S' add 192.0.2.9 | grep -Eq '^added key=net:192\.0\.2\.0/24 state=regular count=0 .* next=pass-regular left=3110400 '"
check "the chain now lets 192.0.2.9 in at once" session 250
check "... logged as a regular" wait_for 40 grep -Eq '^ipgreylist: regular ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.0-24 keyby=net age=[0-9]+$' "$LOG"
check "as root on a state owned by nobody: the records made stay nobody's" sh -c "
  mkdir -p '$T/nobody' && chown nobody: '$T/nobody' && '$AD' -d '$T/nobody' add 192.0.2.9 > /dev/null &&
  [ -n \"\$(find '$T/nobody' -name 192.0.2.0-24 -user nobody)\" ] && [ -z \"\$(find '$T/nobody' ! -user nobody)\" ]"
check "remove 192.0.2.9: gone from the list" sh -c "
  '$AD' -d '$S' remove 192.0.2.9 | grep -qx 'removed key=net:192\.0\.2\.0/24' && ! '$AD' -d '$S' list | grep -q 192.0.2.0"
check "the chain greylists 192.0.2.9 again" session 451
check "remove of a key with no record: says so, exit 0" sh -c "'$AD' -d '$S' remove 203.0.113.5 | grep -qx 'no record: net:203\.0\.113\.0/24'"
stop_server "$SERVER_PID"

# IPv6: the /64
gl_serve v6 2001:db8:1:2::99
check "add 2001:db8:1:2::5: its /64 a regular" sh -c "'$AD' -d '$S' add 2001:db8:1:2::5 | grep -q '^added key=net:2001:db8:1:2::/64 state=regular'"
check "the chain lets 2001:db8:1:2::99 (same /64) in" session 250
stop_server "$SERVER_PID"

# The name key: a client named mx7.mail.example.org (as tcpserver -h -p
# would say) is keyed by name:example.org.
gl_serve name 198.51.100.20 TCPREMOTEHOST=mx7.mail.example.org
check "a client by name: greylisted" session 451
check "list name: its name key, text from the record" sh -c "
  '$AD' -d '$S' list name | grep -Eq '^key=name:example\.org state=pending .* file=$S/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}$'"
check "show with -H: the address and name give the name key" sh -c "
  '$AD' -d '$S' -H mx1.example.org show 198.51.100.99 | grep -q '^key=name:example\.org state=pending'"
check "add name:example.org until a date: it lapses at the end of that day" sh -c "
  d=\$(date -u -d '+3 days' +%Y-%m-%d); end=\$(( \$(date -u -d \"\$d\" +%s) + 86400 ))
  '$AD' -d '$S' -u \$d add name:example.org > '$T/add.out' && cat '$T/add.out' &&
  f=\$(sed -n 's/.* file=//p' '$T/add.out') && [ \$(( \$(stat -c %Y \"\$f\") + 3110400 )) -eq \$end ] &&
  grep -q \"next=pass-regular .* until=\${d}T\" '$T/add.out' || grep -q \"until=\$(date -u -d \"\$d + 1 day\" +%Y-%m-%d)T00:00:00Z\" '$T/add.out'"
check "the chain lets the named client in" session 250
check "... by its name key" grep -Eq '^ipgreylist: regular ip=198\.51\.100\.20 .*keyby=name domain=example\.org' "$LOG"
stop_server "$SERVER_PID"
check "-u beyond GREYLIST_LIFETIME, or in the past: exit 100, nothing written" sh -c "
  '$AD' -d '$S' -u 2099-01-01 add 203.0.113.9 2>/dev/null; [ \$? -eq 100 ] || exit 1
  '$AD' -d '$S' -u 2000-01-01 add 203.0.113.9 2>/dev/null; [ \$? -eq 100 ] || exit 1
  ! '$AD' -d '$S' list | grep -q 203.0.113"

# Triplets and pairs (rcptcheck's keys): the same records, by their text.
check "add, show and list a triplet and a pair" sh -c "
  '$AD' -d '$S' add 'trip:203.0.113.0/24:s@sender.example:rcpt@local.example' > /dev/null &&
  '$AD' -d '$S' add 'pair:sender.example:203.0.113.0/24' > /dev/null &&
  '$AD' -d '$S' show 'trip:203.0.113.0/24:s@sender.example:rcpt@local.example' | grep -q '^key=trip:203\.0\.113\.0/24:s@sender\.example:rcpt@local\.example state=regular' &&
  [ \$('$AD' -d '$S' list trip pair | wc -l) -eq 2 ] && [ \$('$AD' -d '$S' list trip | wc -l) -eq 1 ]"
check "list filters: regular, pending, kinds combined" sh -c "
  '$AD' -d '$S' list > '$T/all' && cat '$T/all' &&
  [ \$('$AD' -d '$S' list pending | wc -l) -eq \$(grep -c ' state=pending ' '$T/all') ] &&
  [ \$('$AD' -d '$S' list regular | wc -l) -eq \$(grep -c ' state=regular ' '$T/all') ] &&
  [ \$('$AD' -d '$S' list regular net | wc -l) -eq 1 ] && [ \$(wc -l < '$T/all') -eq 5 ]"
# a record aged by touch: the verdict the chain would give
f=$("$AD" -d "$S" show 192.0.2.9 | sed -n 's/.* file=//p')
touch -d '-10 minutes' "$f"
check "a pending record 10 minutes old: next=pass-promote, the window's end" sh -c "
  '$AD' -d '$S' show 192.0.2.9 | grep -Eq 'state=pending .* age=60[0-9] next=pass-promote left=85[0-9]{3} '"
touch -d '-2 days' "$f"
check "2 days old: stale, next=451-reset" sh -c "'$AD' -d '$S' show 192.0.2.9 | grep -q 'state=pending .* next=451-reset'"
echo garbage > "$T/junk"; setfattr -n user.najimi -v 'garbage' "$f" 2>/dev/null || python3 -c "import os,sys; os.setxattr(sys.argv[1], 'user.najimi', b'garbage')" "$f"
check "a corrupt record: listed as corrupt" sh -c "'$AD' -d '$S' list corrupt | grep -q '^key=net:192\.0\.2\.0/24 state=corrupt next=451-reset'"

# -s SERVICEDIR: GREYLISTDIR from its env/
mkdir -p "$T/svc/env"
echo "$S" > "$T/svc/env/GREYLISTDIR"
check "-s SERVICEDIR: the service's state" sh -c "[ \$('$AD' -s '$T/svc' list | wc -l) -eq 5 ]"
check "GREYLIST_REDIS set: Redis, not -d (none there: exit 111 naming it)" sh -c "
  GREYLIST_REDIS=unix:$T/none.sock '$AD' -d '$S' list > '$T/r.out' 2> '$T/r.err'; [ \$? -eq 111 ] &&
  grep -q 'unable to list unix:$T/none.sock' '$T/r.err' && [ ! -s '$T/r.out' ]"
check "GREYLIST_REDIS not an address: exit 100" sh -c "
  GREYLIST_REDIS=redis.example:6379 '$AD' -d '$S' list 2> '$T/r.err'; [ \$? -eq 100 ] && grep -q 'GREYLIST_REDIS' '$T/r.err'"
check "usage: no command, an unknown one, a bad key, a bad filter: exit 100" sh -c "
  for a in '' 'frob x' 'show' 'show ../../etc' 'list frob' 'add 300.1.1.1'; do
    '$AD' -d '$S' \$a > /dev/null 2>&1; [ \$? -eq 100 ] || { echo \"'\$a' did not exit 100\"; exit 1; }; done"
check "no state directory: exit 100" sh -c "env -u GREYLISTDIR '$AD' list 2>/dev/null; [ \$? -eq 100 ]"
check "-V" sh -c "'$AD' -V | grep -qx 'ipgreylist-admin najimi $(cat "$TOP/VERSION")'"
finish
