#!/bin/bash
# rcptcheck: independent black-box spec tests, written from DESIGN.md and
# issue 4 (not from the implementation, its man page or its tests; only
# the address-list format and the deadline variables come from najimi.7).
# The real tcpserver, exim as the tail, the scripted client, a recording
# fake downstream (rcptcheck_spec/fakesmtp.py), a slow-downstream wrapper
# (rcptcheck_spec/slow.py), raw-socket cases (rcptcheck_spec/spec.py)
# and swaks.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/blackbox/rcptcheck_spec
RC=${RCPTCHECK:-$SRC/rcptcheck}
# A system python for the helpers that run as the downstream (one case
# runs them as nobody, who cannot use a python under /root).
PY=$(command -v /usr/bin/python3 || command -v python3)
FAKE=("$PY" "$H/fakesmtp.py")
SLOW=("$PY" "$H/slow.py")
SPEC=("$PY" "$H/spec.py")
exim_tail

# A minimal qmail tree of our own, and an address list (user@domain,
# user-default@domain, @domain as a catch-all) compiled with the project's
# rcptcheck-cdb, as najimi.7 documents for RCPTCHECK_CDB.
Q=$T/qmail
mkdir -p "$Q/control" "$Q/users"
echo example.test > "$Q/control/me"
printf 'example.test\ncatchall.test\n' > "$Q/control/locals"
printf 'example.test\ncatchall.test\n' > "$Q/control/rcpthosts"
echo example.test > "$Q/control/envnoathost"
echo example.test > "$Q/control/percenthack"
echo virt.test:virtuser > "$Q/control/virtualdomains"
printf '%s\n' alice@example.test Bob@Example.TEST list-default@example.test \
  @catchall.test valice@virt.test > "$T/valid-rcpt"
"$SRC/rcptcheck-cdb" "$T/valid-rcpt" "$T/valid.cdb"
chmod 644 "$T/valid.cdb"
export QMAILHOME=$Q RCPTCHECK_CDB=$T/valid.cdb
unset RCPTCHECK_MAXBAD RCPTCHECK_TARPIT RCPTCHECK_TLS

# events NAME: the fake downstream's event log for NAME.
ev() { echo "$T/$1.ev"; }
# has_not FILE TEXT: TEXT never reached the downstream.
has_not() { ! grep -qF -- "$2" "$1"; }
# count_is N: exactly N messages arrived.
count_is() { [ "$(maildir_count)" -eq "$1" ]; }
# still_count N: a second later, still exactly N (nothing extra, no late copy).
still_count() { sleep 1; count_is "$1"; }
# count_and_has N FILE: N messages arrived, FILE among them.
count_and_has() { wait_for 60 count_is "$1" && maildir_has "$2"; }
# nothing_queued: no message header file in exim's spool.
nothing_queued() { ! find "$T/exim/spool/input" -name '*-H' 2>/dev/null | grep -q .; }
# done_lines NAME N: exactly N session summaries in NAME's log.
done_lines() { [ "$(grep -c '^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]* ' "$T/$1.log")" -eq "$2" ]; }
# status0 NAME N: tcpserver -v saw N sessions end, each with exit status 0
# (a refusal is no error).
status0() {
  [ "$(grep -c '^tcpserver: end [0-9]* status ' "$T/$1.log")" -eq "$2" ] &&
  ! grep '^tcpserver: end [0-9]* status ' "$T/$1.log" | grep -qv ' status 0$'
}
# stuffed FILE: FILE with SMTP dot-stuffing applied (CRLF lines).
stuffed() { sed 's/^\./../' "$1"; }

########################################################################
# Known and unknown recipients, straight through to exim.
serve basic "$RC" "${EXIM[@]}"
message "$T/m1" "hello through rcptcheck" ". a dot line" ".." "." "RCPT TO:<nosuch@example.test>" "end"
N0=$(maildir_count)
check "known user: 250, message accepted, 221 and close" client "$PORT" "
expect 220
expect-text tail.test
send EHLO client.test
expect 250
send MAIL FROM:<sender@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354
data $T/m1
expect 250
send QUIT
expect 221
expect-eof"
check "known user: the message arrived byte for byte" wait_for 60 maildir_has "$T/m1"
check "known user: exactly one message arrived" wait_for 20 count_is $((N0+1))

check "unknown user: 550 5.1.1, session goes on" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<sender@elsewhere.test>
expect 250
send RCPT TO:<nosuch@example.test>
expect 550
expect-text 5.1.1
send RCPT TO:<bob@example.test>
expect 250
send RCPT TO:<NoSuch@EXAMPLE.TEST>
expect 550
expect-text 5.1.1
send RCPT TO:<alice@Example.Test>
expect 250
send RCPT TO:<someone@elsewhere.test>
expect 250
send RCPT TO:<anyone@catchall.test>
expect 250
send RCPT TO:<list-foo@example.test>
expect 250
send RCPT TO:<ALICE@example.test>
expect 250
send RCPT TO:<alice%example.test@example.test>
expect 250
send RCPT TO:<nosuch%example.test@example.test>
expect 550
send RCPT TO:<valice@virt.test>
expect 250
send RCPT TO:<nosuch@Virt.Test>
expect 550
send RSET
expect 250
send QUIT
expect 221"
check "unknown user: one reject log line with ip, pid, code=550 and rcpt" \
  log_has basic '^rcptcheck: reject ip=127\.0\.0\.1 pid=[0-9]+ code=550 (.* )?rcpt=<?nosuch@example\.test'
check "summary: one done line per session, msgs=1 then msgs=0" wait_for 40 sh -c "
  grep -q '^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]* msgs=1\( \|$\)' '$T/basic.log' &&
  grep -q '^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]* msgs=0\( \|$\)' '$T/basic.log' &&
  [ \$(grep -c '^rcptcheck: done ' '$T/basic.log') -eq 2 ]"

# Peer text in the log is sanitised and bounded.
check "log: a hostile recipient gets 550" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<sender@elsewhere.test>
expect 250
raw RCPT TO:<no\x01such\x7fx y@example.test>\r\n
expect 550
send RCPT TO:<$(printf 'x%.0s' $(seq 480))@example.test>
expect 550 501 553
send QUIT
expect 221"
check "log: non-printables and spaces in rcpt= become ?" \
  log_has basic 'code=550 (.* )?rcpt=<?no\?such\?x\?y@example\.test'
check "log: every line printable ASCII and at most about 400 bytes" sh -c "
  ! LC_ALL=C grep -n '[^ -~]' '$T/basic.log' && ! grep '^rcptcheck:' '$T/basic.log' | grep -qE '^.{441}'"
stop_server "$SERVER_PID"

# The client address: ::ffff:a.b.c.d is logged as a.b.c.d; a missing one
# is no reason to fail the session.
serve v6 env TCPREMOTEIP=::ffff:10.1.2.3 "$RC" "${EXIM[@]}"
check "TCPREMOTEIP=::ffff:10.1.2.3: 550 as usual" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<nosuch@example.test>
expect 550
send QUIT
expect 221"
check "TCPREMOTEIP=::ffff:10.1.2.3: logged as ip=10.1.2.3" \
  log_has v6 '^rcptcheck: reject ip=10\.1\.2\.3 pid=[0-9]+ code=550 '
stop_server "$SERVER_PID"
serve noip env -u TCPREMOTEIP "$RC" "${EXIM[@]}"
check "no TCPREMOTEIP: the session works, 550 as usual" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<nosuch@example.test>
expect 550
send RCPT TO:<alice@example.test>
expect 250
send QUIT
expect 221"
check "no TCPREMOTEIP: the reject is logged with some ip=" \
  log_has noip '^rcptcheck: reject ip=[^ ]* pid=[0-9]+ code=550 '
stop_server "$SERVER_PID"

########################################################################
# A recording downstream shows what rcptcheck forwards.
E=$(ev rec)
serve rec "$RC" "${FAKE[@]}" --events "$E"
message "$T/m2" "recorded message" "second line"
check "pipelining (recorder): good, bad, good, DATA -> 250, 550, 250, 354" client "$PORT" "
expect 220
send EHLO client.test
expect 250
expect-text PIPELINING
raw MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nosuch1@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n
expect 250
expect 250
expect-text RCPT TO:<alice@example.test>
expect 550
expect-text 5.1.1
expect 250
expect-text RCPT TO:<bob@example.test>
expect 354
data $T/m2
expect 250
raw RSET\r\nMAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch2@example.test>\r\nRSET\r\nMAIL FROM:<t@elsewhere.test>\r\nRCPT TO:<nosuch3@example.test>\r\nRCPT TO:<x@elsewhere.test>\r\nNOOP\r\n
expect 250
expect-text RSET
expect 250
expect-text MAIL
expect 550
expect 250
expect-text RSET
expect 250
expect-text MAIL
expect 550
expect 250
expect-text RCPT TO:<x@elsewhere.test>
expect 250
expect-text NOOP
send QUIT
expect 221"
check "recorder: the rejected recipients never reached the downstream" \
  sh -c "! grep -q nosuch '$E'"
check "recorder: the good recipients and the foreign one did" sh -c "
  grep -qF \"CMD b'RCPT TO:<alice@example.test>'\" '$E' &&
  grep -qF \"CMD b'RCPT TO:<bob@example.test>'\" '$E' &&
  grep -qF \"CMD b'RCPT TO:<x@elsewhere.test>'\" '$E'"
check "recorder: the message body arrived byte for byte" \
  grep -q "^MSG 1 $(wc -c < "$T/m2") $(sha256sum < "$T/m2" | cut -d' ' -f1)\$" "$E"
check "recorder: the commands arrived in order" sh -c "
  grep '^CMD' '$E' | sed -n 's/^CMD b.\([A-Z]*\).*/\1/p' | tr '\n' ' ' |
  grep -qx 'EHLO MAIL RCPT RCPT DATA RSET MAIL RSET MAIL RCPT NOOP QUIT '"
stop_server "$SERVER_PID"

# Every spelling of a recipient that qmail-smtpd would take for a local
# address is checked: lower-case verbs, a space after the colon, no angle
# brackets, parameters, source routes, quoting, no domain (envnoathost). Foreign and valid ones go
# down byte for byte, as the client wrote them.
E=$(ev syntax)
serve syntax "$RC" "${FAKE[@]}" --events "$E"
check "recipient spellings: unknown ones refused (5xx) in every form" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test> BODY=8BITMIME
expect 250
send rcpt to:<nosuch5@example.test>
expect 550
send Rcpt To:<NOSUCH6@example.test>
expect 550
send RCPT TO: <nosuch7@example.test>
expect 550 500 501 553 555
send RCPT TO:nosuch8@example.test
expect 550 500 501 553 555
send RCPT TO:<nosuch9@example.test> NOTIFY=NEVER
expect 550
send RCPT TO:<@relay.test:nosuch10@example.test>
expect 550 500 501 553 555
send RCPT TO:<\"nosuch11\"@example.test>
expect 550 500 501 553 555
send RCPT TO:<nosuch12@example.test
expect 550 500 501 553 555
send RCPT TO:<nosuch13>
expect 550
send RCPT TO:<alice>
expect 250
send RCPT TO:<Alice@Example.TEST> NOTIFY=NEVER
expect 250
send RCPT TO:<x@ElseWhere.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@elsewhere.test
expect 250
send rcpt to:<bob@example.test>
expect 250
send QUIT
expect 221"
check "recipient spellings: no unknown one reached the downstream" sh -c "! grep -qi nosuch '$E'"
# qmail-smtpd takes an empty recipient (and <@domain>, a bare source
# route, is the same to it); qmail-send appends @envnoathost, a local
# domain, and then bounces: realrcptto's rules say unknown, not "pass".
for r in '<>' '<@example.test>'; do
  check "empty recipient: RCPT TO:$r refused (5xx), not forwarded" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:$r
expect 550 500 501 553 555
send QUIT
expect 221"
done
check "recipient spellings: valid and foreign ones forwarded unchanged" sh -c "
  grep -qF \"CMD b'RCPT TO:<Alice@Example.TEST> NOTIFY=NEVER'\" '$E' &&
  grep -qF \"CMD b'RCPT TO:<x@ElseWhere.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@elsewhere.test'\" '$E' &&
  grep -qF \"CMD b'rcpt to:<bob@example.test>'\" '$E' &&
  grep -qF \"CMD b'RCPT TO:<alice>'\" '$E' &&
  grep -qF \"CMD b'MAIL FROM:<s@elsewhere.test> BODY=8BITMIME'\" '$E'"
stop_server "$SERVER_PID"

# DATA mode starts on the downstream's 354, not on the client's DATA: when
# the downstream refuses DATA, what follows is a command again. Lines
# pipelined after a refused DATA are inspected as commands (550) or the
# session is closed (421); they never reach the downstream.
E=$(ev no354)
serve no354 "$RC" "${FAKE[@]}" --events "$E" --data-reply 554
check "DATA refused downstream: the next line is a command again (550)" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 554
send RCPT TO:<nosuch1@example.test>
expect 550
send NOOP
expect 250
expect-text ok NOOP
raw DATA\r\nRCPT TO:<nosuch2@example.test>\r\nNOOP\r\n
expect 554
expect 550 421"
check "DATA refused downstream: no rejected line was forwarded" has_not "$E" nosuch
stop_server "$SERVER_PID"

########################################################################
# Pipelining with exim itself, and with slow downstreams.
pipeline_case() { # NAME PORT MSGFILE
  client "$2" "
expect 220
send EHLO client.test
expect 250
raw MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nosuch@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n
expect 250
expect 250
expect 550
expect-text 5.1.1
expect 250
expect 354
data $3
expect 250
raw MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch@example.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nosuch2@example.test>\r\nDATA\r\n
expect 250
expect 550
expect 250
expect 550
expect 354
data $3
expect 250
raw MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch@example.test>\r\nDATA\r\n
expect 250
expect 550
expect 503 554
send QUIT
expect 221"
}
serve pipe "$RC" "${EXIM[@]}"
message "$T/m3" "pipelined through exim"
N0=$(maildir_count)
check "pipelining (exim): good,bad,good,DATA; bad,good,bad,DATA; bad,DATA" pipeline_case pipe "$PORT" "$T/m3"
# (alice and bob each get a copy of the first message: three files.)
check "pipelining (exim): both messages arrived, byte for byte" count_and_has $((N0+3)) "$T/m3"
stop_server "$SERVER_PID"

E=$(ev slowfake)
serve slowfake "$RC" "${FAKE[@]}" --events "$E" --delay 250 --ehlo-slow
# (then the final dot with MAIL, a bad and a good RCPT and DATA after it:
# the 550 may not overtake the slow 250 for the message)
{ stuffed "$T/m2"; printf '.\r\nMAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch2@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n'; } > "$T/m2.after"
check "pipelining (slow recorder, 250 ms per reply): 250, 550, 250, 354 in order, also after the final dot" client "$PORT" "
expect 220
send EHLO client.test
expect 250
expect-text PIPELINING
raw MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nosuch@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n
expect 250
expect-text MAIL
expect 250
expect-text RCPT TO:<alice@example.test>
expect 550
expect 250
expect-text RCPT TO:<bob@example.test>
expect 354
file $T/m2.after
expect 250
expect-text ok message 1
expect 250
expect-text MAIL
expect 550
expect 250
expect-text RCPT TO:<alice@example.test>
expect 354
data $T/m2
expect 250
expect-text ok message 2
send QUIT
expect 221"
check "slow recorder: the rejected recipients were not forwarded" has_not "$E" nosuch
check "slow recorder: two messages" grep -q '^MSG 2 ' "$E"
stop_server "$SERVER_PID"

# Replies that arrive one byte at a time, and three-line replies to RCPT:
# each still lands in its own slot, whole.
E=$(ev fragm)
serve fragm "$RC" "${FAKE[@]}" --events "$E" --bytewise --multiline RCPT --ext 'PIPELINING|STARTTLS|8BITMIME'
check "pipelining (replies byte by byte, RCPT replies of three lines): order kept" client "$PORT" "
expect 220
send EHLO client.test
expect 250
expect-text 250 8BITMIME
expect-no-text STARTTLS
raw MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nosuch@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n
expect 250
expect-text MAIL
expect 250
expect-text 250-still ok
expect-text 250 ok RCPT TO:<alice@example.test>
expect 550
expect 250
expect-text 250 ok RCPT TO:<bob@example.test>
expect 354
data $T/m2
expect 250
send NOOP
expect 250
expect-text ok NOOP
send QUIT
expect 221"
check "pipelining (replies byte by byte): the rejected recipient was not forwarded" has_not "$E" nosuch
stop_server "$SERVER_PID"

# 400 recipients in one burst, good and bad alternating, downstream 5 ms
# per reply: every reply in its own slot.
E=$(ev stress)
serve stress env RCPTCHECK_MAXBAD=1000 "$RC" "${FAKE[@]}" --events "$E" --delay 5
{ printf 'MAIL FROM:<s@elsewhere.test>\r\n'
  for i in $(seq 200); do printf 'RCPT TO:<x%d@elsewhere.test>\r\nRCPT TO:<nosuch%d@example.test>\r\n' "$i" "$i"; done
  printf 'RSET\r\n'; } > "$T/stress.burst"
script="expect 220
send EHLO client.test
expect 250
file $T/stress.burst
expect 250
expect-text MAIL"
for i in $(seq 200); do
  script+="
expect 250
expect-text <x$i@elsewhere.test>
expect 550"
done
script+="
expect 250
expect-text RSET
send QUIT
expect 221"
check "pipelining: 400 recipients in one burst, good and bad alternating, all in order" \
  $CLIENT --timeout 20 --quiet --port "$PORT" - <<< "$script"
check "pipelining: 200 good ones forwarded, no bad one" sh -c "
  [ \$(grep -c \"^CMD b'RCPT TO:<x\" '$E') -eq 200 ] && ! grep -q nosuch '$E'"
check "log: exactly one reject line per refused recipient (200)" wait_for 40 sh -c "
  [ \$(grep -c '^rcptcheck: reject ip=127\.0\.0\.1 pid=[0-9]* code=550 ' '$T/stress.log') -eq 200 ]"
stop_server "$SERVER_PID"

# The edges of DATA, seen by the recorder: an empty message, a dot line
# first, NUL and 8-bit bytes (only CR and LF are special).
E=$(ev dataedge)
serve dataedge "$RC" "${FAKE[@]}" --events "$E"
txnf="send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354"
check "DATA edges: empty message, dot line first, NUL and 8-bit bytes" client "$PORT" "
expect 220
send EHLO client.test
expect 250
$txnf
raw .\r\n
expect 250
$txnf
raw ..first\r\nx\r\n.\r\n
expect 250
$txnf
raw a\x00b\x7f\xff\r\n.\r\n
expect 250
send QUIT
expect 221"
sha() { printf "$1" | sha256sum | cut -d' ' -f1; }
check "DATA edges: the three bodies arrived byte for byte" sh -c "
  grep -qx 'MSG 1 0 $(sha '')' '$E' &&
  grep -qx 'MSG 2 12 $(sha '..first\r\nx\r\n')' '$E' &&
  grep -qx 'MSG 3 7 $(sha 'a\000b\177\377\r\n')' '$E'"
stop_server "$SERVER_PID"

serve slowexim "$RC" "${SLOW[@]}" 300 "${EXIM[@]}"
message "$T/m4" "pipelined through a slow exim"
N0=$(maildir_count)
check "pipelining (exim, replies 300 ms late): same order" pipeline_case slowexim "$PORT" "$T/m4"
check "pipelining (slow exim): both messages arrived" count_and_has $((N0+3)) "$T/m4"
stop_server "$SERVER_PID"

########################################################################
# End of data: found across every read boundary, and commands after the
# final dot in the same read are still inspected.
# (Two sessions: the harness's exim queues, instead of delivering, from
# the 11th message of a connection on.)
serve split "$RC" "${EXIM[@]}"
N0=$(maildir_count)
hello="expect 220
send EHLO client.test
expect 250"
txn="send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354"
script=$hello
end=$'\r\n.\r\n'
for k in 0 1 2 3 4 5; do
  message "$T/s$k" "end of data split after byte $k of CRLF.CRLF"
  head -c -2 "$T/s$k" > "$T/s$k.a"
  printf '%s' "${end:0:$k}" >> "$T/s$k.a"
  printf '%s' "${end:$k}" > "$T/s$k.b"
  script+="
$txn
file $T/s$k.a
sleep 150
file $T/s$k.b
expect 250"
done
script+="
send QUIT
expect 221"
check "end of data: CRLF.CRLF split after each of its bytes, each one 250" \
  $CLIENT --timeout 15 --port "$PORT" - <<< "$script"

# A dot-stuffed line split after each of its bytes is no end; then one
# byte per write; then commands pipelined after the final dot.
script=$hello
for k in 1 2 3 4 5; do
  message "$T/d$k" "a dot line follows, split after byte $k" "." "after the dot line"
  stuffed "$T/d$k" > "$T/d$k.st"
  "$PY" - "$T/d$k.st" "$k" <<'PY'
import sys
p, k = sys.argv[1], int(sys.argv[2])
b = open(p, "rb").read()
i = b.index(b"\r\n..\r\n") + k
open(p + ".a", "wb").write(b[:i])
open(p + ".b", "wb").write(b[i:] + b".\r\n")
PY
  script+="
$txn
file $T/d$k.st.a
sleep 150
expect-silence 100
file $T/d$k.st.b
expect 250"
done
message "$T/bw" "sent one byte per write" "." "..x" "end"
message "$T/first" "the final dot comes with more commands"
message "$T/after" "commands pipelined after the final dot"
{ stuffed "$T/first"; printf '.\r\nMAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n'; } > "$T/first.burst"
script+="
$txn
bytewise
data $T/bw
burst
expect 250
$txn
file $T/first.burst
expect 250
expect 250
expect 550
expect 250
expect 354
data $T/after
expect 250
send QUIT
expect 221"
check "end of data: dot lines split at every byte, bytewise, commands after the dot (550 in its slot)" \
  $CLIENT --timeout 15 --port "$PORT" - <<< "$script"
for k in 0 1 2 3 4 5; do
  check "end of data split after byte $k: message arrived byte for byte" wait_for 60 maildir_has "$T/s$k"
done
for k in 1 2 3 4 5; do
  check "dot line split after byte $k: not an end, message arrived whole" wait_for 60 maildir_has "$T/d$k"
done
check "bytewise message arrived byte for byte" wait_for 60 maildir_has "$T/bw"
check "message ended by a dot with commands after it arrived" wait_for 60 maildir_has "$T/first"
check "message after a pipelined final dot arrived" wait_for 60 maildir_has "$T/after"
check "end of data: 14 messages in all, none extra" still_count $((N0+14))
check "summary: msgs=6 and msgs=8 for those two sessions" wait_for 40 sh -c "
  grep -Eq '^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]+ msgs=6( |\$)' '$T/split.log' &&
  grep -Eq '^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]+ msgs=8( |\$)' '$T/split.log'"
stop_server "$SERVER_PID"

########################################################################
# SMTP smuggling: a bare CR or LF in DATA ends the session with 451 and
# nothing is queued, not even the message around it.
SEQS=('\n.\n' '\n.\r\n' '\r\n.\n' '\r.\r' '\r\n.\r\r\n')
TCPSERVER_OPTS=-v serve smuggle "$RC" "${EXIM[@]}"
N0=$(maildir_count)
i=0
for s in "${SEQS[@]}"; do
  i=$((i+1))
  for mode in burst bytewise; do
    check "smuggling $s ($mode): 451 and the session ends" $CLIENT --port "$PORT" - <<EOF
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354
$mode
raw Subject: carrier $i\r\n\r\ncarrier body$s
raw MAIL FROM:<smuggler@elsewhere.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled $i\r\n\r\nsmuggled\r\n.\r\n
burst
expect 451
expect-eof
EOF
  done
done
check "smuggling: nothing at all was delivered" still_count "$N0"
check "smuggling: nothing queued in exim's spool" nothing_queued
check "smuggling: no smuggled text anywhere" sh -c "! grep -rq smuggled '$MAILDIR'"
check "smuggling: each of the 10 sessions ended with exit status 0" wait_for 60 status0 smuggle 10
stop_server "$SERVER_PID"

i=0
for s in "${SEQS[@]}"; do
  i=$((i+1))
  E=$(ev smf$i)
  serve smf$i "$RC" "${FAKE[@]}" --events "$E"
  check "smuggling $s (recorder): 451" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354
raw Subject: carrier\r\n\r\ncarrier body$s
raw MAIL FROM:<smuggler@elsewhere.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n
expect 451
expect-eof"
  check "smuggling $s (recorder): downstream stopped inside DATA, no message, no smuggled command" \
    sh -c "sleep 0.3; grep -q \"^CMD b'DATA'\" '$E' && ! grep -q '^MSG' '$E' && ! grep -q smuggler '$E'"
  stop_server "$SERVER_PID"
done

# The same at the very start of the message (the CRLF of the DATA line
# counts as the first CRLF).
i=0
for s in '.\n' '\n.\n' '.\r\r\n' '\r\n.\n'; do
  i=$((i+1))
  E=$(ev sms$i)
  serve sms$i "$RC" "${FAKE[@]}" --events "$E"
  check "smuggling at the start of DATA ($s): 451" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354
raw ${s}MAIL FROM:<smuggler@elsewhere.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n
expect 451
expect-eof"
  check "smuggling at the start of DATA ($s): no message, no smuggled command" \
    sh -c "sleep 0.3; ! grep -q '^MSG' '$E' && ! grep -q smuggler '$E'"
  stop_server "$SERVER_PID"
done

########################################################################
# BDAT, CHUNKING and STARTTLS.
serve bdat "$RC" "${EXIM[@]}"
N0=$(maildir_count)
check "EHLO through exim: no CHUNKING, no STARTTLS, framing intact" client "$PORT" "
expect 220
send EHLO client.test
expect 250
expect-no-text CHUNKING
expect-no-text STARTTLS
expect-text PIPELINING
send NOOP
expect 250
expect-text OK
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
raw BDAT 22 LAST\r\nSubject: bdat\r\n\r\nbdat\r\n
expect 421
expect-eof"
check "BDAT: nothing delivered" still_count "$N0"
stop_server "$SERVER_PID"

E=$(ev bdatrec)
serve bdatrec "$RC" "${FAKE[@]}" --events "$E" --ext 'CHUNKING|PIPELINING'
check "BDAT (recorder): 421 and close" client "$PORT" "
expect 220
send EHLO client.test
expect 250
expect-no-text CHUNKING
send MAIL FROM:<s@elsewhere.test>
expect 250
send BDAT 4 LAST
expect 421
expect-eof"
check "BDAT (recorder): never forwarded" has_not "$E" BDAT
stop_server "$SERVER_PID"

# ehlo_case NAME EXTS LAST-LINE-TEXT: STARTTLS and CHUNKING removed from
# the downstream's EHLO reply; every other line kept, the last one "250 ".
ehlo_case() {
  local name=$1 exts=$2 last=$3 slow=${4:-}
  serve "ehlo$name" "$RC" "${FAKE[@]}" --ext "$exts" $slow
  check "EHLO filter [$exts]$slow: ends with '$last'" client "$PORT" "
expect 220
send EHLO client.test
expect 250
expect-no-text STARTTLS
expect-no-text CHUNKING
expect-text $last
send NOOP
expect 250
expect-text ok NOOP
send EHLO again.test
expect 250
expect-no-text STARTTLS
expect-no-text CHUNKING
expect-text $last
send HELO client.test
expect 250
send QUIT
expect 221"
  stop_server "$SERVER_PID"
}
ehlo_case 1 'PIPELINING|STARTTLS|8BITMIME|CHUNKING|SIZE 1000' '250 SIZE 1000'
ehlo_case 2 'PIPELINING|8BITMIME|STARTTLS' '250 8BITMIME'
ehlo_case 3 'STARTTLS' '250 fake.test hello'
ehlo_case 4 'CHUNKING|STARTTLS' '250 fake.test hello'
ehlo_case 5 'STARTTLS|PIPELINING|CHUNKING' '250 PIPELINING' --ehlo-slow
ehlo_case 6 'starttls|PIPELINING|chunking' '250 PIPELINING'
# A long reply: 60 lines of 100 bytes around the two removed ones.
exts=$(for i in $(seq 60); do printf 'X-EXT%02d-%s|' "$i" "$(printf 'e%.0s' $(seq 90))"; [ "$i" = 30 ] && printf 'STARTTLS|CHUNKING|'; done)
ehlo_case 8 "${exts%|}" "250 X-EXT60-eeee"
serve tlsbogus env RCPTCHECK_TLS=bogus "$RC" "${FAKE[@]}" --ext 'PIPELINING|STARTTLS'
check "RCPTCHECK_TLS=bogus: STARTTLS still removed" client "$PORT" "
expect 220
send EHLO client.test
expect 250
expect-no-text STARTTLS
send QUIT
expect 221"
check "RCPTCHECK_TLS=bogus: a warning names the variable and the value" \
  log_has tlsbogus '^rcptcheck: warning: .*RCPTCHECK_TLS=bogus'
stop_server "$SERVER_PID"
# Other lines pass unchanged, in order.
serve ehlo7 "$RC" "${FAKE[@]}" --ext 'PIPELINING|STARTTLS|8BITMIME|CHUNKING|SIZE 1000'
check "EHLO filter: the other lines pass unchanged and in order" bash -c "
  $CLIENT --port $PORT - <<< 'expect 220
send EHLO client.test
expect 250
send QUIT
expect 221' | sed -n 's/^< //p' | sed -n 2,5p | tr '\n' '|' |
  grep -qx '250-fake.test hello|250-PIPELINING|250-8BITMIME|250 SIZE 1000|'"
stop_server "$SERVER_PID"

E=$(ev tlsdef)
serve tlsdef "$RC" "${FAKE[@]}" --events "$E" --tls --ext 'STARTTLS|PIPELINING'
check "STARTTLS by default: refused, not forwarded, checks go on" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send STARTTLS
expect 454 500 502 503 504
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<nosuch@example.test>
expect 550
send QUIT
expect 221"
check "STARTTLS by default: the downstream never saw it" has_not "$E" STARTTLS
stop_server "$SERVER_PID"

serve tlsno env RCPTCHECK_TLS=passthrough "$RC" "${FAKE[@]}" --ext 'STARTTLS|PIPELINING'
check "STARTTLS passthrough, downstream refuses STARTTLS: checks go on" client "$PORT" "
expect 220
send EHLO client.test
expect 250
expect-text STARTTLS
send STARTTLS
expect 502
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<nosuch@example.test>
expect 550
send QUIT
expect 221"
stop_server "$SERVER_PID"

E=$(ev tlspass)
printf '\026\003\001\000\005hello\000\nMAIL FROM:<x@y>\r\n\r\377' > "$T/tls.bin"
serve tlspass env RCPTCHECK_TLS=passthrough "$RC" "${FAKE[@]}" --events "$E" --tls --ext 'STARTTLS|PIPELINING'
check "STARTTLS passthrough: advertised, 220 relayed, then blind relay both ways" \
  "${SPEC[@]}" tls "$PORT" "$T/tls.bin"
check "STARTTLS passthrough: plaintext pipelined after STARTTLS was dropped" \
  cmp "$T/tls.bin" "$E.raw"
check "STARTTLS passthrough: logged that checks stopped" \
  wait_for 40 sh -c "grep '^rcptcheck: ' '$T/tlspass.log' | grep -i tls | grep -q 'ip=127\.0\.0\.1 pid=[0-9]'"
stop_server "$SERVER_PID"

########################################################################
# Malformed commands: 500/501, not forwarded, the session goes on.
E=$(ev badcmd)
serve badcmd "$RC" "${FAKE[@]}" --events "$E"
check "bad commands: NUL, bare LF, bare CR, 513-byte and 20 MB lines get 500/501, session goes on, memory flat" \
  "${SPEC[@]}" badcmd "$PORT" "$SERVER_PID"
check "bad commands: no part of a bad line reached the downstream" sh -c "
  grep '^CMD' '$E' | grep -qF 'CMD b'\''NOOP bbbb' &&
  ! grep -qE 'nul|lf1|cr1|cr2|crlf1|zzzz|yyyy|a{506}|\\\\[nr]' '$E'"
stop_server "$SERVER_PID"

########################################################################
# A downstream that dies or talks garbage: 421/451, never a hang. The
# client sends nothing more after the death: the proxy must notice alone.
serve dead0 "$RC" sh -c 'exit 0'
check "downstream exits at once: 421/451 greeting and close" client "$PORT" "
expect 421 451
expect-eof"
check "dead0: rcptcheck itself ended (summary logged)" wait_for 60 done_lines dead0 1
stop_server "$SERVER_PID"
serve dead1 "$RC" /nonexistent/downstream
check "downstream cannot be run: 421/451 and close" client "$PORT" "
expect 421 451
expect-eof"
check "dead1: a summary, or the fatal line naming the program" wait_for 60 \
  log_has dead1 '^rcptcheck: (done ip=127\.0\.0\.1 |fatal: .*/nonexistent/downstream)'
stop_server "$SERVER_PID"
serve dead2 "$RC" "${FAKE[@]}" --die-after MAIL
check "downstream dies at MAIL: 421/451 and close" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 421 451
expect-eof"
check "dead2: rcptcheck itself ended (summary logged)" wait_for 60 done_lines dead2 1
stop_server "$SERVER_PID"
serve garbage0 "$RC" sh -c 'printf "hello, I am no SMTP server\r\n"; sleep 8'
check "downstream greets with garbage: 421 and close" client "$PORT" "
expect 421
expect-eof"
check "garbage0: rcptcheck itself ended (summary logged)" wait_for 60 done_lines garbage0 1
stop_server "$SERVER_PID"
serve garbage "$RC" "${FAKE[@]}" --garbage MAIL
check "downstream answers garbage: 421 and close" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 421
expect-eof"
check "garbage: rcptcheck itself ended (summary logged)" wait_for 60 done_lines garbage 1
stop_server "$SERVER_PID"
E=$(ev dead3)
serve dead3 "$RC" "${FAKE[@]}" --events "$E" --die-in-data 100
head -c 3000 /dev/zero | tr '\0' 'q' > "$T/q.line"; printf '\r\n' >> "$T/q.line"
check "downstream dies in DATA: 421/451 and close" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354
raw Subject: dies\r\n\r\n
file $T/q.line
expect 421 451
expect-eof"
check "downstream dies in DATA: it did die there" grep -q '^DIED-IN-DATA' "$E"
check "dead3: rcptcheck itself ended (summary logged)" wait_for 60 done_lines dead3 1

# exim killed with SIGKILL in the middle of DATA (200 kB in, so that exim
# has written the first part to its spool file).
for i in $(seq 200); do cat "$T/q.line"; done > "$T/q200k"
serve kill "$RC" sh -c "echo \$\$ > $T/kill.pid; exec \"\$@\"" sh "${EXIM[@]}"
N0=$(maildir_count)
client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354
raw Subject: killed\r\n\r\nfirst part\r\n
file $T/q200k
expect 421 451
expect-eof" > "$T/kill.out" 2>&1 &
KCL=$!
if wait_for 100 sh -c "grep -lq 'first part' '$T'/exim/spool/input/*-D" >/dev/null 2>&1; then
  kill -9 "$(cat "$T/kill.pid")"
fi
wait "$KCL"; krc=$?
check "exim killed mid-DATA: client gets 421/451 and the session ends" sh -c "cat '$T/kill.out'; [ $krc -eq 0 ]"
check "exim killed mid-DATA: nothing delivered" still_count "$N0"
check "exim killed mid-DATA: nothing queued" nothing_queued
check "exim killed mid-DATA: rcptcheck ended (summary logged)" wait_for 60 done_lines kill 1
stop_server "$SERVER_PID"

########################################################################
# The client goes away in the middle of DATA: nothing is queued.
serve gone "$RC" "${EXIM[@]}"
N0=$(maildir_count)
for tail in 'partial line\r\n' 'partial\r\n.' 'partial\r\n.\r' 'partial'; do
  check "client disconnects mid-DATA after '$tail': session had started" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354
raw Subject: gone\r\n\r\n$tail"
done
check "client disconnects mid-DATA: every session ended" wait_for 100 done_lines gone 4
check "client disconnects mid-DATA: nothing delivered" still_count "$N0"
check "client disconnects mid-DATA: nothing queued" nothing_queued
stop_server "$SERVER_PID"

E=$(ev gonerec)
serve gonerec "$RC" "${FAKE[@]}" --events "$E"
check "client disconnects after '\\r\\n.\\r' (recorder): session had started" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354
raw Subject: gone\r\n\r\npartial\r\n.\r"
check "client disconnects (recorder): downstream saw EOF inside DATA, no message" \
  wait_for 60 sh -c "grep -q '^EOF-IN-DATA' '$E' && ! grep -q '^MSG' '$E'"
stop_server "$SERVER_PID"

########################################################################
# DATA, the message and QUIT in one burst: delivered exactly once.
burst_file() { # OUT MSG [PREFIX]
  { printf '%s' "${3:-}"; printf 'DATA\r\n'; stuffed "$2"; printf '.\r\nQUIT\r\n'; } > "$1"
}
serve burst "$RC" "${EXIM[@]}"
N0=$(maildir_count)
message "$T/b1" "burst with half-close" "." "end"
burst_file "$T/b1.burst" "$T/b1"
check "DATA+message+QUIT burst, half-close: 354, 250, 221" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
file $T/b1.burst
shutdown
expect 354
expect 250
expect 221
expect-eof"
message "$T/b2" "burst then close at once" "..x" "end"
burst_file "$T/b2.burst" "$T/b2"
check "DATA+message+QUIT burst, then close: client side ran" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
file $T/b2.burst"
message "$T/b3" "whole session in one burst, then close"
burst_file "$T/b3.burst" "$T/b3" $'MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch@example.test>\r\nRCPT TO:<alice@example.test>\r\n'
check "MAIL..QUIT in one burst after EHLO, then close: client side ran" client "$PORT" "
expect 220
send EHLO client.test
expect 250
file $T/b3.burst"
# A bare LF inside the burst: nothing of it is delivered.
{ printf 'DATA\r\nSubject: burst smuggle\r\n\r\nbody\n.\nMAIL FROM:<smuggler@elsewhere.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n'; } > "$T/b5.burst"
check "DATA+message with a bare LF+QUIT burst, then close: client side ran" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
file $T/b5.burst"
# The message complete, then the client goes away without QUIT: delivered.
message "$T/b6" "complete message, then close without QUIT"
{ printf 'DATA\r\n'; stuffed "$T/b6"; printf '.\r\n'; } > "$T/b6.burst"
check "DATA+message (no QUIT) in one burst, then close: client side ran" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
file $T/b6.burst"
check "bursts: all five sessions ended" wait_for 100 done_lines burst 5
for b in b1 b2 b3 b6; do
  check "burst $b: message arrived byte for byte" wait_for 60 maildir_has "$T/$b"
done
check "bursts: each message exactly once, nothing from the smuggling burst" still_count $((N0+4))
stop_server "$SERVER_PID"

serve burstslow "$RC" "${SLOW[@]}" 300 "${EXIM[@]}"
N0=$(maildir_count)
message "$T/b4" "burst then close, slow downstream"
burst_file "$T/b4.burst" "$T/b4"
check "DATA+message+QUIT burst, slow downstream, then close: client side ran" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
file $T/b4.burst"
check "burst, slow downstream: message arrived" wait_for 100 maildir_has "$T/b4"
check "burst, slow downstream: exactly once" still_count $((N0+1))
stop_server "$SERVER_PID"

########################################################################
# Dictionary attacks.
E=$(ev dict3)
TCPSERVER_OPTS=-v serve dict3 env RCPTCHECK_MAXBAD=3 "$RC" "${FAKE[@]}" --events "$E"
check "RCPTCHECK_MAXBAD=3: 421 4.7.0 after 3 unknown recipients, then close" "${SPEC[@]}" dictionary "$PORT" 3
check "RCPTCHECK_MAXBAD=3: no unknown recipient reached the downstream" has_not "$E" nosuch
check "RCPTCHECK_MAXBAD=3: the session ended with exit status 0" wait_for 60 status0 dict3 1
check "RCPTCHECK_MAXBAD=3: RSET does not reset the count" "${SPEC[@]}" dictionary "$PORT" 3 rset
stop_server "$SERVER_PID"
serve dict10 "$RC" "${FAKE[@]}"
check "RCPTCHECK_MAXBAD unset: the default is 10" "${SPEC[@]}" dictionary "$PORT" 10
stop_server "$SERVER_PID"
serve dictbad env RCPTCHECK_MAXBAD=abc "$RC" "${FAKE[@]}"
check "RCPTCHECK_MAXBAD=abc: the default 10 applies" "${SPEC[@]}" dictionary "$PORT" 10
check "RCPTCHECK_MAXBAD=abc: a warning names the variable and the value" \
  log_has dictbad '^rcptcheck: warning: .*RCPTCHECK_MAXBAD=abc'
stop_server "$SERVER_PID"
serve tarpit env RCPTCHECK_TARPIT=1 "$RC" "${FAKE[@]}"
check "RCPTCHECK_TARPIT=1: the pause grows with each unknown recipient" "${SPEC[@]}" tarpit "$PORT"
stop_server "$SERVER_PID"

########################################################################
# Cannot tell: an address cdb or users/cdb that cannot be read gives
# 451 4.3.0, never 550. As root every file is readable, so: a directory in
# place of the cdb (read fails with EISDIR), then a mode 600 file read by
# nobody (EACCES) when nobody can reach this tree at all.
cant_case() { # NAME WHAT: RCPT answers when the lookup is impossible
  local e=$(ev "$1") w=$2
  check "$w: 451 4.3.0 for known and unknown, foreign passes" client "$PORT" "
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 451
expect-text 4.3.0
send RCPT TO:<nosuch@example.test>
expect 451
expect-text 4.3.0
send RCPT TO:<x@elsewhere.test>
expect 250
send QUIT
expect 221"
  check "$w: deferred recipients not forwarded" sh -c "! grep -qE 'alice|nosuch' '$e'"
  check "$w: logged with code=451" \
    log_has "$1" '^rcptcheck: [a-z]+ ip=127\.0\.0\.1 pid=[0-9]+ (.* )?code=451( |$)'
}
mkdir -p "$T/cdbdir"
E=$(ev cantdir)
serve cantdir env RCPTCHECK_CDB="$T/cdbdir" "$RC" "${FAKE[@]}" --events "$E"
cant_case cantdir "RCPTCHECK_CDB is a directory"
stop_server "$SERVER_PID"
Q2=$T/qmail2
mkdir -p "$Q2/control" "$Q2/users/cdb"
cp "$Q/control/"* "$Q2/control/"
E=$(ev cantusers)
serve cantusers env -u RCPTCHECK_CDB QMAILHOME="$Q2" "$RC" "${FAKE[@]}" --events "$E"
cant_case cantusers "users/cdb is a directory"
stop_server "$SERVER_PID"

if runuser -u nobody -- sh -c "test -r '$T/valid.cdb' && test -x '$RC' && test -r '$H/fakesmtp.py' && test -x '$PY'"; then
  E=$(ev cantperm)
  : > "$E"; chmod 666 "$E"
  cp "$T/valid.cdb" "$T/secret.cdb"; chmod 600 "$T/secret.cdb"
  TCPSERVER_OPTS="-u $(id -u nobody) -g $(id -g nobody)" \
    serve cantperm env RCPTCHECK_CDB="$T/secret.cdb" "$RC" "${FAKE[@]}" --events "$E"
  cant_case cantperm "RCPTCHECK_CDB mode 600, read by nobody"
  stop_server "$SERVER_PID"
  Q3=$T/qmail3
  mkdir -p "$Q3/control" "$Q3/users"
  cp "$Q/control/"* "$Q3/control/"
  cp "$T/valid.cdb" "$Q3/users/cdb"; chmod 600 "$Q3/users/cdb"
  E=$(ev cantperm2)
  : > "$E"; chmod 666 "$E"
  TCPSERVER_OPTS="-u $(id -u nobody) -g $(id -g nobody)" \
    serve cantperm2 env -u RCPTCHECK_CDB QMAILHOME="$Q3" "$RC" "${FAKE[@]}" --events "$E"
  cant_case cantperm2 "users/cdb mode 600, read by nobody"
  stop_server "$SERVER_PID"
else
  ok "unreadable cdb as nobody # SKIP nobody cannot reach $T"
fi

########################################################################
# Deadlines (variable names from najimi.7): a downstream that never
# answers, a client that goes quiet; and QUIT closes the downstream's input.
E=$(ev hang)
serve hang env RCPTCHECK_REPLYTIMEOUT=2 "$RC" "${FAKE[@]}" --events "$E" --hang MAIL
check "downstream hangs (RCPTCHECK_REPLYTIMEOUT=2): 421/451 and close, no hang" \
  $CLIENT --timeout 8 --port "$PORT" - <<'S'
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 421 451
expect-eof
S
check "downstream hangs: it is not left behind (closed or killed, and reaped)" \
  wait_for 60 sh -c "p=\$(sed -n 's/^PID //p' '$E'); [ -n \"\$p\" ] && ! kill -0 \$p 2>/dev/null"
check "downstream hangs: rcptcheck itself ended (summary logged)" wait_for 60 done_lines hang 1
stop_server "$SERVER_PID"
serve idle env RCPTCHECK_TIMEOUT=2 "$RC" "${EXIM[@]}"
N0=$(maildir_count)
check "client goes quiet mid-DATA (RCPTCHECK_TIMEOUT=2): closed in time" \
  $CLIENT --timeout 8 --port "$PORT" - <<'S'
expect 220
send EHLO client.test
expect 250
send MAIL FROM:<s@elsewhere.test>
expect 250
send RCPT TO:<alice@example.test>
expect 250
send DATA
expect 354
raw Subject: quiet\r\n\r\nthen nothing more\r\n
expect-eof
S
check "client goes quiet mid-DATA: nothing delivered" still_count "$N0"
check "client goes quiet mid-DATA: nothing queued" nothing_queued
check "client goes quiet mid-DATA: session summary logged" wait_for 40 done_lines idle 1
stop_server "$SERVER_PID"
E=$(ev linger)
serve linger "$RC" "${FAKE[@]}" --events "$E" --linger
check "QUIT: 221, then the session ends promptly" $CLIENT --timeout 3 --port "$PORT" - <<'S'
expect 220
send EHLO client.test
expect 250
send QUIT
expect 221
expect-eof
S
check "QUIT: the downstream's input was closed after QUIT" wait_for 60 grep -q '^EOF-AFTER-QUIT' "$E"
stop_server "$SERVER_PID"

########################################################################
# Usage: no program to run is a usage error (exit 100).
check "usage: no next program exits 100" sh -c "'$RC' < /dev/null > /dev/null 2>&1; [ \$? -eq 100 ]"

########################################################################
# The downstream gets the environment and no extra descriptor. The probe
# names its open descriptors above 2 and a digest of its environment
# (all but the port numbers, which differ per server); the same probe
# straight under tcpserver gives the baseline.
PROBE=(perl -MPOSIX -MDigest::MD5=md5_hex -e '$| = 1; my @o = grep { my @s = POSIX::fstat($_); @s } 3..64;
  my $e = md5_hex(join "\n", map { "$_=$ENV{$_}" } sort grep { !/^TCP(REMOTE|LOCAL)PORT$/ } keys %ENV);
  print "220 fds:@o. ip:$ENV{TCPREMOTEIP} v:$ENV{SPECVAR} env:$e\r\n"; $_ = <STDIN>; print "221 bye\r\n"')
serve fdbase env SPECVAR=marker "${PROBE[@]}"
BASELINE=$($CLIENT --port "$PORT" - <<< "expect 220" | grep '^< 220 fds:')
BASE=${BASELINE#< 220 fds:}; BASE=${BASE%%.*}
ENVSUM=${BASELINE##* env:}
stop_server "$SERVER_PID"
serve fds env SPECVAR=marker "$RC" "${PROBE[@]}"
check "downstream: received the environment" client "$PORT" "
expect 220
expect-text ip:127.0.0.1 v:marker
send QUIT
expect 221"
check "downstream: exactly the environment rcptcheck received (digest $ENVSUM)" client "$PORT" "
expect 220
expect-text env:$ENVSUM
send QUIT
expect 221"
GOTLINE=$($CLIENT --port "$PORT" - <<< "expect 220" | grep '^< 220 fds:')
GOT=${GOTLINE#< 220 fds:}; GOT=${GOT%%.*}
# Descriptors the test environment itself leaks in may stay; no other.
check "downstream: no descriptor beyond 0-2 but the baseline ('$BASE'; got '$GOT')" \
  sh -c "[ -n '$GOTLINE' ] || exit 1; for f in $GOT; do case ' $BASE ' in *\" \$f \"*) ;; *) exit 1 ;; esac; done"
stop_server "$SERVER_PID"

########################################################################
# A 20 MB message with dot lines, long lines and 8-bit bytes: identical
# sha256 after CRLF -> LF, and the proxy's memory stays flat.
"${SPEC[@]}" genmsg "$T/big" 20
serve big "$RC" "${EXIM[@]}"
N0=$(maildir_count)
check "20 MB message: accepted, proxy peak RSS grew by under 8 MB" \
  "${SPEC[@]}" bigmsg "$PORT" "$SERVER_PID" "$T/big" alice@example.test
want=$(sed 's/\r$//' "$T/big" | sha256sum | cut -d' ' -f1)
check "20 MB message: one delivered file with the same sha256 ($want)" wait_for 200 sh -c "
  for f in '$MAILDIR'/new/* '$MAILDIR'/cur/*; do
    [ -f \"\$f\" ] && [ \$(stat -c %s \"\$f\") -gt 1000000 ] && sha256sum \"\$f\"
  done | grep -q '^$want '"
"${SPEC[@]}" genline "$T/line" 20
check "one 20 MB line: accepted, proxy peak RSS grew by under 8 MB" \
  "${SPEC[@]}" bigmsg "$PORT" "$SERVER_PID" "$T/line" alice@example.test
want=$(sed 's/\r$//' "$T/line" | sha256sum | cut -d' ' -f1)
check "one 20 MB line: delivered with the same sha256 ($want)" wait_for 200 sh -c "
  for f in '$MAILDIR'/new/* '$MAILDIR'/cur/*; do
    [ -f \"\$f\" ] && [ \$(stat -c %s \"\$f\") -gt 1000000 ] && sha256sum \"\$f\"
  done | grep -q '^$want '"
stop_server "$SERVER_PID"

########################################################################
# swaks, the administrator's client, through the proxy.
TCPSERVER_OPTS=-v serve swaks "$RC" "${EXIM[@]}"
N0=$(maildir_count)
check "swaks: known user delivered" swaks --server "127.0.0.1:$PORT" \
  --to alice@example.test --from admin@elsewhere.test --timeout 10
check "swaks: unknown user gets 550 5.1.1 (swaks fails)" sh -c "
  ! swaks --server 127.0.0.1:$PORT --to nosuch@example.test --from admin@elsewhere.test --timeout 10 > '$T/swaks.out' 2>&1 &&
  grep -q '<\*\* *550 5\.1\.1' '$T/swaks.out'"
check "swaks --pipeline: good, bad, good in one transaction" sh -c "
  swaks --pipeline --server 127.0.0.1:$PORT --to alice@example.test,nosuch@example.test,bob@example.test \
    --from admin@elsewhere.test --timeout 10 > '$T/swaks2.out' 2>&1;
  grep -q '550 5\.1\.1' '$T/swaks2.out'"
check "swaks: two messages arrived (three files: alice, alice and bob)" wait_for 60 count_is $((N0+3))
check "swaks: three sessions, each ended with exit status 0" wait_for 60 status0 swaks 3
stop_server "$SERVER_PID"

finish
