#!/bin/bash
# greetdelay under the real tcpserver, with exim as the next program.
. "$(dirname "$0")/../lib.sh"
exim_tail
GD=$SRC/greetdelay

# A patient client sees nothing during the pause, then exim's banner,
# and its message arrives byte for byte.
serve patient env GREETDELAY=1 "$GD" "${EXIM[@]}"
message "$T/m1" "hello from a patient client" ". a dot line" ".." "end"
check "patient: silent pause, then the next program's banner, message delivered" client "$PORT" "
expect-silence 800
expect 220
expect-text tail.test
send EHLO patient.test
expect 250
send MAIL FROM:<sender@example.test>
expect 250
send RCPT TO:<postmaster@example.test>
expect 250
send DATA
expect 354
data $T/m1
expect 250
send QUIT
expect 221"
check "patient: message arrived byte for byte" wait_for 40 maildir_has "$T/m1"
check "patient: one pass log line" log_has patient '^greetdelay: pass ip=127\.0\.0\.1 pid=[0-9]+ delay=1$'
stop_server "$SERVER_PID"

# An early talker: 554 5.5.1 greeting, 503 to commands, 221 to QUIT; the
# next program never runs.
N0=$(maildir_count)
serve early env GREETDELAY=3 "$GD" sh -c "touch $T/early-ran; exec \"\$@\"" sh "${EXIM[@]}"
check "early talker: 554 5.5.1, 503 to commands, 221 to QUIT" client "$PORT" "
send EHLO early.test
expect 554
expect-text 5.5.1
send MAIL FROM:<spam@example.test>
expect 503
send RCPT TO:<postmaster@example.test>
expect 503
send DATA
expect 503
send QUIT
expect 221
expect-eof"
check "early talker: the next program never ran" test ! -e "$T/early-ran"
check "early talker: one log line with code=554" \
  sh -c "[ \$(grep -c '^greetdelay: early ip=127\.0\.0\.1 pid=[0-9]* code=554 ' '$T/early.log') -eq 1 ]"
check "early talker: nothing delivered" test "$(maildir_count)" -eq "$N0"
stop_server "$SERVER_PID"

# The refusal session closes after the timeout (-t).
serve timeout env GREETDELAY=3 "$GD" -t 1 "${EXIM[@]}"
check "early talker: closed after -t 1 with no QUIT" $CLIENT --timeout 4 --port "$PORT" - <<'S'
send EHLO early.test
expect 554
expect-eof
S
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
serve relay env GREETDELAY=5 RELAYCLIENT= "$GD" "${EXIM[@]}"
check "RELAYCLIENT set: no pause" $CLIENT --timeout 1.5 --port "$PORT" - <<'S'
expect 220
send QUIT
expect 221
S
stop_server "$SERVER_PID"
serve zero env GREETDELAY=0 "$GD" -p 5 "${EXIM[@]}"
check "GREETDELAY=0: no pause even with -p 5" $CLIENT --timeout 1.5 --port "$PORT" - <<'S'
expect 220
send QUIT
expect 221
S
stop_server "$SERVER_PID"

# -p is the pause when GREETDELAY is unset.
serve popt env -u GREETDELAY "$GD" -p 1 "${EXIM[@]}"
check "-p 1: pause when GREETDELAY is unset" client "$PORT" "
expect-silence 700
expect 220
send QUIT
expect 221"
check "-p 1: early talker refused" client "$PORT" "
send HELO x
expect 554"
stop_server "$SERVER_PID"

# Invalid values: a warning naming the value, then the -p default (never 0).
for bad in abc -5 10abc 99999999999999999999 ''; do
  name=${bad:-empty}
  : > "$T/bad.log"
  serve bad env GREETDELAY="$bad" "$GD" -p 1 "${EXIM[@]}"
  check "GREETDELAY='$bad': early talker still refused (default -p 1 used)" client "$PORT" "
send HELO x
expect 554"
  check "GREETDELAY='$bad': warning names the value" \
    grep -qF "greetdelay: warning: invalid GREETDELAY=${bad:-(empty)}, using default 1" "$T/bad.log"
  stop_server "$SERVER_PID"
done

# Above the cap: a warning and the cap.
serve cap env GREETDELAY=100000 "$GD" "${EXIM[@]}"
check "GREETDELAY above the cap: refused as early talker" client "$PORT" "
send HELO x
expect 554"
check "GREETDELAY above the cap: warning names value and cap" \
  grep -qF "greetdelay: warning: invalid GREETDELAY=100000 above the cap, using 120" "$T/cap.log"
check "GREETDELAY above the cap: log shows delay=120" log_has cap 'code=554 .*delay=120 '
stop_server "$SERVER_PID"

# Bad options are usage errors (exit 100), a missing program too.
check "usage: -p abc exits 100" sh -c "'$GD' -p abc true; [ \$? -eq 100 ]"
check "usage: -p 1000 (above the cap) exits 100" sh -c "'$GD' -p 1000 true; [ \$? -eq 100 ]"
check "usage: no program exits 100" sh -c "'$GD' 2>/dev/null; [ \$? -eq 100 ]"
check "exec failure exits 111 with a fatal line" sh -c "GREETDELAY=0 '$GD' /nonexistent/prog 2>'$T/exec.err'; [ \$? -eq 111 ] && grep -q '^greetdelay: fatal: unable to exec /nonexistent/prog' '$T/exec.err'"

# A client that disconnects during the pause: a quiet exit, no SIGPIPE.
TCPSERVER_OPTS=-v serve hangup env GREETDELAY=2 "$GD" "${EXIM[@]}"
python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$PORT)); s.close()"
python3 -c "import socket; s=socket.create_connection(('127.0.0.1',$PORT)); s.sendall(b'EHLO x\r\n'); s.close()"
check "hangup: logged as hangup" wait_for 60 log_has hangup '^greetdelay: hangup ip=127\.0\.0\.1 pid=[0-9]+ waited_ms=[0-9]+$'
check "hangup: both sessions ended with status 0" \
  wait_for 80 sh -c "[ \$(grep -c 'tcpserver: end [0-9]* status 0' '$T/hangup.log') -eq 2 ]"
check "hangup: no fatal line" sh -c "! grep -q fatal '$T/hangup.log'"
stop_server "$SERVER_PID"

# After exec, only fds 0, 1 and 2 are open: the probe lists open fds
# above 2 as its reply; the same probe run straight under tcpserver gives
# the baseline (descriptors the test environment itself leaks in).
PROBE=(perl -MPOSIX -e 'my @o = grep { my @s = POSIX::fstat($_); @s } 3..64; print "221 fds:@o.\r\n"')
serve fdbase "${PROBE[@]}"
BASE=$($CLIENT --port "$PORT" - <<< "expect 221" | sed -n 's/^< 221 //p')
stop_server "$SERVER_PID"
serve fds env GREETDELAY=1 "$GD" "${PROBE[@]}"
check "fds: only 0, 1 and 2 open after exec (baseline '$BASE')" client "$PORT" "
expect 221
expect-text $BASE"
stop_server "$SERVER_PID"

# swaks, the administrator's client, through the pause.
serve swaks env GREETDELAY=1 "$GD" "${EXIM[@]}"
N0=$(maildir_count)
check "swaks: delivers through the pause" swaks --server "127.0.0.1:$PORT" \
  --to postmaster@example.test --from admin@example.test --timeout 10
check "swaks: the message arrived" wait_for 40 sh -c "[ \$(find '$MAILDIR/new' -type f | wc -l) -gt $N0 ]"
stop_server "$SERVER_PID"

finish
