#!/bin/bash
# SPDX-License-Identifier: ISC
# greetdelay under the real tcpserver, with exim as the next program.
# Each case is a transcript (tests/smtpclient.py), then what greetdelay's
# log or exim's Maildir must hold.
. "$(dirname "$0")/../lib.sh"
exim_tail
GD=$SRC/greetdelay

# A patient client sees nothing during the pause, then exim's banner,
# and its message arrives byte for byte.
serve_exim patient env GREETDELAY=1 "$GD"
message "$T/m1" "hello from a patient client" ". a dot line" ".." "end"
check "patient: silent pause, then the next program's banner, message delivered" client "$PORT" "
expect-silence 800
expect 220
expect-text tail.test
ehlo patient.test
$(message_steps "$T/m1")"
check "patient: message arrived byte for byte" maildir_got "$T/m1"
check "patient: one pass log line" logs patient '
expect-log ^greetdelay: pass ip=127\.0\.0\.1 pid=[0-9]+ delay=1$'
stop_server "$SERVER_PID"

# An early talker: 554 5.5.1 greeting, 503 to commands, 221 to QUIT; the
# next program never runs.
maildir_mark
serve early env GREETDELAY=3 "$GD" sh -c "touch $T/early-ran; exec \"\$@\"" sh "${EXIM[@]}"
check "early talker: 554 5.5.1, 503 to commands, 221 to QUIT" client "$PORT" "
send EHLO early.test
expect 554
expect-text 5.5.1
mail <spam@example.test> 503
rcpt <postmaster@example.test> 503
send DATA
expect 503
quit
expect-eof"
check "early talker: the next program never ran" test ! -e "$T/early-ran"
check "early talker: one log line with code=554" logs early '
expect-log-count 1 ^greetdelay: early ip=127\.0\.0\.1 pid=[0-9]* code=554 '
check "early talker: nothing delivered" maildir_now 0
stop_server "$SERVER_PID"

# The refusal session closes after the timeout (-t).
serve_exim timeout env GREETDELAY=3 "$GD" -t 1
check "early talker: closed after -t 1 with no QUIT" client --timeout 4 "$PORT" "
send EHLO early.test
expect 554
expect-eof"
stop_server "$SERVER_PID"

# Bytes sent after the pause reach the next program, none lost.
printf 'EHLO a\r\nMAIL FROM:<a@b>\r\nline three with some length to it\r\n' > "$T/after.in"
serve after env GREETDELAY=1 "$GD" sh -c "printf '220 recorder\r\n'; head -c $(wc -c < "$T/after.in") > $T/after.out"
check "patient: bytes sent after the pause all reach the next program" client "$PORT" "
sleep 1300
file $T/after.in
expect 220
expect-eof"
check "patient: recorder got the exact bytes" cmp "$T/after.in" "$T/after.out"
stop_server "$SERVER_PID"

# No pause for RELAYCLIENT or GREETDELAY=0.
serve_exim relay env GREETDELAY=5 RELAYCLIENT= "$GD"
check "RELAYCLIENT set: no pause" client --timeout 1.5 "$PORT" "
expect 220
quit"
stop_server "$SERVER_PID"
serve_exim zero env GREETDELAY=0 "$GD" -p 5
check "GREETDELAY=0: no pause even with -p 5" client --timeout 1.5 "$PORT" "
expect 220
quit"
stop_server "$SERVER_PID"

# -p is the pause when GREETDELAY is unset.
serve_exim popt env -u GREETDELAY "$GD" -p 1
check "-p 1: pause when GREETDELAY is unset" client "$PORT" "
expect-silence 700
expect 220
quit"
check "-p 1: early talker refused" client "$PORT" "
send HELO x
expect 554"
stop_server "$SERVER_PID"

# Invalid values: a warning naming the value, then the -p default (never 0).
for bad in abc -5 10abc 99999999999999999999 ''; do
  name=${bad:-empty}
  : > "$T/bad.log"
  serve_exim bad env GREETDELAY="$bad" "$GD" -p 1
  check "GREETDELAY='$bad': early talker still refused (default -p 1 used)" client "$PORT" "
send HELO x
expect 554"
  check "GREETDELAY='$bad': warning names the value" logs bad "
expect-log-text greetdelay: warning: invalid GREETDELAY=${bad:-(empty)}, using default 1"
  stop_server "$SERVER_PID"
done

# Above the cap: a warning and the cap.
serve_exim cap env GREETDELAY=100000 "$GD"
check "GREETDELAY above the cap: refused as early talker" client "$PORT" "
send HELO x
expect 554"
check "GREETDELAY above the cap: warning names value and cap" logs cap '
expect-log-text greetdelay: warning: invalid GREETDELAY=100000 above the cap, using 120'
check "GREETDELAY above the cap: log shows delay=120" logs cap '
expect-log code=554 .*delay=120 '
stop_server "$SERVER_PID"

# Bad options are usage errors (exit 100), a missing program too.
check "usage: -p abc exits 100" sh -c "'$GD' -p abc true; [ \$? -eq 100 ]"
check "usage: -p 1000 (above the cap) exits 100" sh -c "'$GD' -p 1000 true; [ \$? -eq 100 ]"
check "usage: no program exits 100" sh -c "'$GD' 2>/dev/null; [ \$? -eq 100 ]"
check "exec failure exits 111 with a fatal line" sh -c "GREETDELAY=0 '$GD' /nonexistent/prog 2>'$T/exec.err'; [ \$? -eq 111 ] && grep -q '^greetdelay: fatal: unable to exec /nonexistent/prog' '$T/exec.err'"

# A client that disconnects during the pause: a quiet exit, no SIGPIPE.
TCPSERVER_OPTS=-v serve_exim hangup env GREETDELAY=2 "$GD"
python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$PORT)); s.close()"
python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$PORT)); s.sendall(b'EHLO x\r\n'); s.close()"
check "hangup: logged as hangup" logs hangup '
expect-log ^greetdelay: hangup ip=127\.0\.0\.1 pid=[0-9]+ waited_ms=[0-9]+$'
check "hangup: both sessions ended with status 0" logs hangup '
expect-log-count 2 tcpserver: end [0-9]* status 0'
check "hangup: no fatal line" logs hangup '
expect-no-log-text fatal'
stop_server "$SERVER_PID"

# After exec, only fds 0, 1 and 2 are open: the probe lists open fds
# above 2 as its reply; the same probe run straight under tcpserver gives
# the baseline (descriptors the test environment itself leaks in).
PROBE=(perl -MPOSIX -e 'my @o = grep { my @s = POSIX::fstat($_); @s } 3..64; print "221 fds:@o.\r\n"')
serve fdbase "${PROBE[@]}"
BASE=$(client "$PORT" "expect 221" | sed -n 's/^< 221 //p')
stop_server "$SERVER_PID"
serve fds env GREETDELAY=1 "$GD" "${PROBE[@]}"
check "fds: only 0, 1 and 2 open after exec (baseline '$BASE')" client "$PORT" "
expect 221
expect-text $BASE"
stop_server "$SERVER_PID"

# swaks, the administrator's client, through the pause.
serve_exim swaks env GREETDELAY=1 "$GD"
maildir_mark
check "swaks: delivers through the pause" swaks --server "127.0.0.1:$PORT" \
  --to postmaster@example.test --from admin@example.test --timeout 10
check "swaks: the message arrived" maildir_atleast 1
stop_server "$SERVER_PID"

finish
