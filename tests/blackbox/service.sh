#!/bin/bash
# SPDX-License-Identifier: ISC
# The daemontools service made by scripts/najimi-mkservice: supervise runs
# it, multilog writes log/main/current, mail goes through the whole chain
# into exim's Maildir, make in control/ turns the log into deny rules that
# tcprulescheck shows, and svc -dx stops it. Then scripts/najimi-demo,
# the README's command, starts and stops the same way. The sessions are
# transcripts (tests/smtpclient.py).
. "$(dirname "$0")/../lib.sh"
exim_tail
S=$T/svc

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)

mkdir -p "$T/qmail/control" "$T/qmail/users" "$T/qmail/alias"
echo local.test > "$T/qmail/control/locals"
echo svc.test > "$T/qmail/control/me"
# qmail's alias delivery as users/assign gives it (a missing alias user
# would make qmail, and rcptcheck, defer): every name that is no user is
# an extension of the alias home, which has no .qmail files.
printf '+:nobody:65534:65534:%s:-::\n.\n' "$T/qmail/alias" > "$T/qmail/users/assign"
"$SRC/rcptcheck-cdb" -u "$T/qmail/users/assign" "$T/qmail/users/cdb"
chmod -R a+rX "$T/qmail"

check "mkservice: creates the service directory" "$TOP/scripts/najimi-mkservice" -H \
  -q "$T/qmail" -s "${EXIM[*]}" -u Debian-exim -l '' -i 127.0.0.1 -p "$PORT" \
  -n svc.test -b "$SRC" -t "$TOP/control" "$S"
check "mkservice: run has tcpserver -x control/tcp.smtp.cdb, the chain, the tail" \
  sh -c "grep -q 'tcpserver .*-x control/tcp.smtp.cdb' '$S/run' && grep -q '$SRC/greetdelay' '$S/run' && grep -q 'exim4 -C' '$S/run'"
check "mkservice: run reads env/ with envdir, as an unprivileged user (by name: envuidgid, tcpserver -U)" \
  sh -c "grep -q 'envdir ./env envuidgid Debian-exim' '$S/run' && grep -q 'tcpserver .* -U' '$S/run' && ! grep -q -- ' -u [0-9]' '$S/run'"
check "mkservice: log/run is multilog t, 100 files of 16 MB (a day of a busy MX)" grep -q 'multilog t s16777215 n100 ./main' "$S/log/run"
check "mkservice: env/ has GREYLISTDIR and QMAILHOME" \
  sh -c "[ \"\$(cat '$S/env/GREYLISTDIR')\" = '$S/greylist' ] && [ \"\$(cat '$S/env/QMAILHOME')\" = '$T/qmail' ]"
check "mkservice: control/ has the sources and the Makefile" \
  sh -c "cd '$S/control' && [ -f Makefile ] && [ -f tcp.smtp ] && [ -f own-networks ] && [ -f tcp.smtp.cdb ] && [ -f deny.smtp ]"
check "mkservice: refuses to overwrite run without -f" sh -c "! '$TOP/scripts/najimi-mkservice' -H -u Debian-exim -l '' -b '$SRC' '$S' 2>/dev/null"

# Test rules before the shipped ones: sessions from 127.0.0.2 pretend to
# come from 192.0.2.7 (tcprules sets TCPREMOTEIP after tcpserver does).
{
  echo '127.0.0.2:allow,TCPREMOTEIP="192.0.2.7",GREYLIST=""'
  echo '192.0.2.20:allow,GREYLIST=""'
  echo '198.51.100.66:allow,GREYLIST="-5.7.1 go away"'
  echo '203.0.113.:allow,GREETDELAY="20"'
  cat "$S/control/tcp.smtp"
} > "$T/tcp.smtp" && mv "$T/tcp.smtp" "$S/control/tcp.smtp"
check "make: compiles the edited tcp.smtp" sh -c "cd '$S/control' && make -s > /dev/null"

# supervise, as svscan would start it: the service's output piped into
# its log service.
mkfifo "$T/pipe"
supervise "$S" > "$T/pipe" 2> "$T/supervise.err" &
SUP=$!
supervise "$S/log" < "$T/pipe" 2>> "$T/supervise.err" &
SUPLOG=$!
PIDS+=("$SUP" "$SUPLOG")
up() { svok "$S" && svok "$S/log" && python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT)).close()" 2>/dev/null; }
check "supervise: the service and its log are up, the port answers" wait_for 100 up

message "$T/m1" "through the whole chain"
check "mail: accepted through greetdelay, ipgreylist, rcptcheck and exim" client "$PORT" "
hello
$(message_steps "$T/m1")"
check "mail: arrived in exim's Maildir byte for byte" maildir_got "$T/m1"
# has_current REGEX: within the wait, log/main/current has a matching line.
has_current() { logs "$S/log/main/current" "expect-log $1"; }
check "log: multilog wrote stamped lines to log/main/current" \
  has_current '^@4000[0-9a-f]{20} tcpserver: ok '
# (127.0.0.1 has RELAYCLIENT: greetdelay execs at once and logs nothing)
for p in ipgreylist rcptcheck; do
  [ -x "$SRC/$p" ] || continue
  case $p in
    ipgreylist) re='^@[0-9a-f]{24} ipgreylist: [a-z-]+ ip=127\.0\.0\.1 ' ;;
    rcptcheck) re='^@[0-9a-f]{24} rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]+ msgs=1 ' ;;
  esac
  check "log: $p's line in log/main/current" has_current "$re"
done

# Five sessions from "192.0.2.7" (really 127.0.0.2), each refused
# permanently: rcptcheck's 550 for unknown users (or greetdelay's 554).
HOW=early REFUSED="send EHLO early.test
expect 554
quit"
[ -x "$SRC/rcptcheck" ] && HOW=rcpt REFUSED="hello unknown.test
mail <x@unknown.test>
rcpt <nosuch-svc@local.test> 550
quit"
five() { local i; for i in 1 2 3 4 5; do client --source 127.0.0.2 "$PORT" "$REFUSED" || return 1; done; }
check "refusals: 5 sessions from 127.0.0.2 refused permanently ($HOW)" five
check "log: the refusals are in log/main/current as 192.0.2.7" \
  wait_for 60 sh -c "[ \$(grep -c 'ip=192\.0\.2\.7 .*code=5' '$S/log/main/current') -ge 5 ]"

check "make: retrydeny reads the log into deny.smtp, tcprules into tcp.smtp.cdb" \
  sh -c "cd '$S/control' && make -s > /dev/null"
check "make: deny.smtp lists 192.0.2.7" grep -qx '192\.0\.2\.7:deny' "$S/control/deny.smtp"
# rule IP WANT: tcprulescheck's account of IP has the line WANT.
rule() { TCPREMOTEIP=$1 tcprulescheck "$S/control/tcp.smtp.cdb" | grep -qx -- "$2"; }
check "tcprulescheck: 192.0.2.7 is denied" rule 192.0.2.7 'deny connection'
check "tcprulescheck: 127.0.0.1 gets RELAYCLIENT" rule 127.0.0.1 'set environment variable RELAYCLIENT='
check "tcprulescheck: 192.0.2.20 gets GREYLIST= (whitelisted)" rule 192.0.2.20 'set environment variable GREYLIST='
check "tcprulescheck: 198.51.100.66 gets GREYLIST=-5.7.1 go away" rule 198.51.100.66 'set environment variable GREYLIST=-5.7.1 go away'
check "tcprulescheck: 203.0.113.5 gets GREETDELAY=20" rule 203.0.113.5 'set environment variable GREETDELAY=20'
check "tcprulescheck: anyone else gets GREETDELAY=5" rule 198.18.0.1 'set environment variable GREETDELAY=5'
check "make: nothing to do when nothing changed" sh -c "cd '$S/control' && make -q"
check "make: a run with nothing changed leaves the cdb alone" \
  sh -c "cd '$S/control' && a=\$(stat -c %Y.%i tcp.smtp.cdb) && make -s && [ \"\$(stat -c %Y.%i tcp.smtp.cdb)\" = \"\$a\" ]"

# svc -dx: the service, then its log, stop; supervise exits.
check "svc -dx: stops the service and its log" svc -dx "$S" "$S/log"
gone() { ! kill -0 "$SUP" 2>/dev/null && ! kill -0 "$SUPLOG" 2>/dev/null; }
check "svc -dx: both supervise processes exit" wait_for 200 gone
check "svc -dx: the port no longer answers" sh -c "! python3 -c \"import socket; socket.create_connection(('127.0.0.1',$PORT))\" 2>/dev/null"
no_tcpserver() { ! pgrep -f "^tcpserver .* 127\.0\.0\.1 $PORT " > /dev/null; }
check "svc -dx: no tcpserver left on the port" no_tcpserver

# scripts/najimi-demo: the README's command, on a free port, in $T.
DPORT=$(free_port)
NAJIMI_DEMO_PORT=$DPORT "$TOP/scripts/najimi-demo" start "$T/demo/smtp" > "$T/demo.out" 2>&1 &
DEMO=$!
PIDS+=("$DEMO")
dup() { svok "$T/demo/smtp" && python3 -c "import socket; socket.create_connection(('127.0.0.1',$DPORT)).close()" 2>/dev/null; }
check "demo: starts under supervise on its port" wait_for 200 dup
check "demo: an early talker gets 554" client "$DPORT" "
send EHLO early.test
expect 554
quit"
check "demo: a patient client gets the banner after the pause" client "$DPORT" "
expect-silence 1000
expect 220
quit"
check "demo: logs to run/smtp/log/main/current" logs "$T/demo/smtp/log/main/current" '
expect-log greetdelay: early ip=127\.0\.0\.1 .*code=554'
check "demo: svc -dx on the service ends it (the log follows)" svc -dx "$T/demo/smtp"
dgone() { ! kill -0 "$DEMO" 2>/dev/null; }
check "demo: the foreground command returns" wait_for 200 dgone
check "demo: said it stopped" grep -q 'najimi-demo: stopped' "$T/demo.out"
check "demo: its log's supervise is gone too" sh -c "! svok '$T/demo/smtp/log' 2>/dev/null"

finish
