#!/bin/bash
# SPDX-License-Identifier: ISC
# rcptcheck: independent black-box spec tests, written from DESIGN.md and
# issue 4 (not from the implementation, its man page or its tests; only
# the address-list format and the deadline variables come from najimi.7).
# The real tcpserver, exim as the tail, the scripted client, a recording
# fake downstream (rcptcheck_spec/fakesmtp.py), a slow-downstream wrapper
# (rcptcheck_spec/slow.py), raw-socket cases (rcptcheck_spec/spec.py)
# and swaks.
#
# Each case is a transcript (tests/smtpclient.py): what the client sends,
# the codes it must get, then what the downstream's event log (E, see
# fakesmtp.py) or rcptcheck's log must or must not hold.
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

# serve_fake NAME [VAR=value...] -- [fakesmtp options]: rcptcheck in front
# of the recording downstream; E is its event log.
serve_fake() {
  local name=$1 envs=(); shift
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  E=$T/$name.ev
  serve "$name" env "${envs[@]}" "$RC" "${FAKE[@]}" --events "$E" "$@"
}
# One transaction for alice, up to the 354 (the start of many cases).
TXN_ALICE="mail <s@elsewhere.test>
rcpt <alice@example.test>
send DATA
expect 354"
# done_lines NAME N: within the wait, exactly N session summaries.
done_lines() { logs "$1" "expect-log-count $2 ^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]* "; }
# status0 NAME N: tcpserver -v saw N sessions end, each with exit status 0
# (a refusal is no error).
status0() {
  logs "$1" "expect-log-count $2 ^tcpserver: end [0-9]* status 0\$
expect-log-count $2 ^tcpserver: end [0-9]* status "
}
# stuffed FILE: FILE with SMTP dot-stuffing applied (CRLF lines).
stuffed() { sed 's/^\./../' "$1"; }
# verbs_are WORDS: the commands the downstream got, in order, were WORDS.
verbs_are() {
  local got
  got=$(grep '^CMD' "$E" | sed -n 's/^CMD b.\([A-Z]*\).*/\1/p' | tr '\n' ' ')
  [ "$got" = "$1" ] || { echo "# got: $got"; echo "# want: $1"; return 1; }
}

########################################################################
# Known and unknown recipients, straight through to exim.
serve_exim basic "$RC"
message "$T/m1" "hello through rcptcheck" ". a dot line" ".." "." "RCPT TO:<nosuch@example.test>" "end"
maildir_mark
check "known user: 250, message accepted, 221 and close" client "$PORT" "
expect 220
expect-text tail.test
ehlo client.test
mail <sender@elsewhere.test>
rcpt <alice@example.test>
message $T/m1
quit
expect-eof"
check "known user: the message arrived byte for byte" maildir_got "$T/m1"
check "known user: exactly one message arrived" maildir_new 1

check "unknown user: 550 5.1.1, session goes on" client "$PORT" "
hello
mail <sender@elsewhere.test>
rcpt <nosuch@example.test> 550
expect-text 5.1.1
rcpt <bob@example.test>
rcpt <NoSuch@EXAMPLE.TEST> 550
expect-text 5.1.1
rcpt <alice@Example.Test>
rcpt <someone@elsewhere.test>
rcpt <anyone@catchall.test>
rcpt <list-foo@example.test>
rcpt <ALICE@example.test>
rcpt <alice%example.test@example.test>
rcpt <nosuch%example.test@example.test> 550
rcpt <valice@virt.test>
rcpt <nosuch@Virt.Test> 550
send RSET
expect 250
quit"
check "unknown user: one reject log line with ip, pid, code=550 and rcpt" logs basic '
expect-log ^rcptcheck: reject ip=127\.0\.0\.1 pid=[0-9]+ code=550 (.* )?rcpt=<?nosuch@example\.test'
check "summary: one done line per session, msgs=1 then msgs=0" logs basic '
expect-log ^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]* msgs=1( |$)
expect-log ^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]* msgs=0( |$)
expect-log-count 2 ^rcptcheck: done '

# Peer text in the log is sanitised and bounded.
check "log: a hostile recipient gets 550" client "$PORT" "
hello
mail <sender@elsewhere.test>
raw RCPT TO:<no\x01such\x7fx y@example.test>\r\n
expect 550
rcpt <$(printf 'x%.0s' $(seq 480))@example.test> 550 501 553
quit"
check "log: non-printables and spaces in rcpt= become ?" logs basic '
expect-log code=550 (.* )?rcpt=<?no\?such\?x\?y@example\.test'
check "log: every line printable ASCII and at most about 400 bytes" logs basic '
expect-no-log [^ -~]
expect-no-log ^(?=rcptcheck:).{441}'
stop_server "$SERVER_PID"

# The client address: ::ffff:a.b.c.d is logged as a.b.c.d; a missing one
# is no reason to fail the session.
serve_exim v6 env TCPREMOTEIP=::ffff:10.1.2.3 "$RC"
check "TCPREMOTEIP=::ffff:10.1.2.3: 550 as usual" client "$PORT" "
hello
mail <s@elsewhere.test>
rcpt <nosuch@example.test> 550
quit"
check "TCPREMOTEIP=::ffff:10.1.2.3: logged as ip=10.1.2.3" logs v6 '
expect-log ^rcptcheck: reject ip=10\.1\.2\.3 pid=[0-9]+ code=550 '
stop_server "$SERVER_PID"
serve_exim noip env -u TCPREMOTEIP "$RC"
check "no TCPREMOTEIP: the session works, 550 as usual" client "$PORT" "
hello
mail <s@elsewhere.test>
rcpt <nosuch@example.test> 550
rcpt <alice@example.test>
quit"
check "no TCPREMOTEIP: the reject is logged with some ip=" logs noip '
expect-log ^rcptcheck: reject ip=[^ ]* pid=[0-9]+ code=550 '
stop_server "$SERVER_PID"

########################################################################
# A recording downstream shows what rcptcheck forwards.
serve_fake rec --
message "$T/m2" "recorded message" "second line"
check "pipelining (recorder): good, bad, good, DATA -> 250, 550, 250, 354" client "$PORT" "
hello
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
quit"
check "recorder: the rejected recipients never reached the downstream" logs "$E" "
expect-no-log-text nosuch"
check "recorder: the good recipients and the foreign one did" logs "$E" "
expect-log-text CMD b'RCPT TO:<alice@example.test>'
expect-log-text CMD b'RCPT TO:<bob@example.test>'
expect-log-text CMD b'RCPT TO:<x@elsewhere.test>'"
check "recorder: the message body arrived byte for byte" logs "$E" "
expect-log ^MSG 1 $(wc -c < "$T/m2") $(sha256sum < "$T/m2" | cut -d' ' -f1)\$"
check "recorder: the commands arrived in order" \
  verbs_are 'EHLO MAIL RCPT RCPT DATA RSET MAIL RSET MAIL RCPT NOOP QUIT '
stop_server "$SERVER_PID"

# Every spelling of a recipient that qmail-smtpd would take for a local
# address is checked: lower-case verbs, a space after the colon, no angle
# brackets, parameters, source routes, quoting, no domain (envnoathost).
# Foreign and valid ones go down byte for byte, as the client wrote them.
serve_fake syntax --
check "recipient spellings: unknown ones refused (5xx) in every form" client "$PORT" "
hello
mail <s@elsewhere.test> BODY=8BITMIME
send rcpt to:<nosuch5@example.test>
expect 550
send Rcpt To:<NOSUCH6@example.test>
expect 550
send RCPT TO: <nosuch7@example.test>
expect 550 500 501 553 555
rcpt nosuch8@example.test 550 500 501 553 555
rcpt <nosuch9@example.test> NOTIFY=NEVER 550
rcpt <@relay.test:nosuch10@example.test> 550 500 501 553 555
rcpt <\"nosuch11\"@example.test> 550 500 501 553 555
rcpt <nosuch12@example.test 550 500 501 553 555
rcpt <nosuch13> 550
rcpt <alice>
rcpt <Alice@Example.TEST> NOTIFY=NEVER
rcpt <x@ElseWhere.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@elsewhere.test
send rcpt to:<bob@example.test>
expect 250
quit"
check "recipient spellings: no unknown one reached the downstream" logs "$E" "
expect-no-log (?i)nosuch"
# qmail-smtpd takes an empty recipient (and <@domain>, a bare source
# route, is the same to it); qmail-send appends @envnoathost, a local
# domain, and then bounces: realrcptto's rules say unknown, not "pass".
for r in '<>' '<@example.test>'; do
  check "empty recipient: RCPT TO:$r refused (5xx), not forwarded" client "$PORT" "
hello
mail <s@elsewhere.test>
rcpt $r 550 500 501 553 555
quit"
done
check "recipient spellings: valid and foreign ones forwarded unchanged" logs "$E" "
expect-log-text CMD b'RCPT TO:<Alice@Example.TEST> NOTIFY=NEVER'
expect-log-text CMD b'RCPT TO:<x@ElseWhere.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@elsewhere.test'
expect-log-text CMD b'rcpt to:<bob@example.test>'
expect-log-text CMD b'RCPT TO:<alice>'
expect-log-text CMD b'MAIL FROM:<s@elsewhere.test> BODY=8BITMIME'"
stop_server "$SERVER_PID"

# DATA mode starts on the downstream's 354, not on the client's DATA: when
# the downstream refuses DATA, what follows is a command again. Lines
# pipelined after a refused DATA are inspected as commands (550) or the
# session is closed (421); they never reach the downstream.
serve_fake no354 -- --data-reply 554
check "DATA refused downstream: the next line is a command again (550)" client "$PORT" "
hello
mail <s@elsewhere.test>
rcpt <alice@example.test>
send DATA
expect 554
rcpt <nosuch1@example.test> 550
send NOOP
expect 250
expect-text ok NOOP
raw DATA\r\nRCPT TO:<nosuch2@example.test>\r\nNOOP\r\n
expect 554
expect 550 421"
check "DATA refused downstream: no rejected line was forwarded" logs "$E" "
expect-no-log-text nosuch"
stop_server "$SERVER_PID"

########################################################################
# Pipelining with exim itself, and with slow downstreams.
pipeline_case() { # PORT MSGFILE
  client "$1" "
hello
raw MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nosuch@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n
expect 250
expect 250
expect 550
expect-text 5.1.1
expect 250
expect 354
data $2
expect 250
raw MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch@example.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nosuch2@example.test>\r\nDATA\r\n
expect 250
expect 550
expect 250
expect 550
expect 354
data $2
expect 250
raw MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch@example.test>\r\nDATA\r\n
expect 250
expect 550
expect 503 554
quit"
}
serve_exim pipe "$RC"
message "$T/m3" "pipelined through exim"
maildir_mark
check "pipelining (exim): good,bad,good,DATA; bad,good,bad,DATA; bad,DATA" pipeline_case "$PORT" "$T/m3"
# (alice and bob each get a copy of the first message: three files.)
check "pipelining (exim): both messages arrived, byte for byte" maildir_new 3 "$T/m3"
stop_server "$SERVER_PID"

serve_fake slowfake -- --delay 250 --ehlo-slow
# (then the final dot with MAIL, a bad and a good RCPT and DATA after it:
# the 550 may not overtake the slow 250 for the message)
{ stuffed "$T/m2"; printf '.\r\nMAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch2@example.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n'; } > "$T/m2.after"
check "pipelining (slow recorder, 250 ms per reply): 250, 550, 250, 354 in order, also after the final dot" client "$PORT" "
hello
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
quit"
check "slow recorder: the rejected recipients were not forwarded" logs "$E" "
expect-no-log-text nosuch"
check "slow recorder: two messages" logs "$E" "
expect-log ^MSG 2 "
stop_server "$SERVER_PID"

# Replies that arrive one byte at a time, and three-line replies to RCPT:
# each still lands in its own slot, whole.
serve_fake fragm -- --bytewise --multiline RCPT --ext 'PIPELINING|STARTTLS|8BITMIME'
check "pipelining (replies byte by byte, RCPT replies of three lines): order kept" client "$PORT" "
hello
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
quit"
check "pipelining (replies byte by byte): the rejected recipient was not forwarded" logs "$E" "
expect-no-log-text nosuch"
stop_server "$SERVER_PID"

# 400 recipients in one burst, good and bad alternating, downstream 5 ms
# per reply: every reply in its own slot.
serve_fake stress RCPTCHECK_MAXBAD=1000 -- --delay 5
{ printf 'MAIL FROM:<s@elsewhere.test>\r\n'
  for i in $(seq 200); do printf 'RCPT TO:<x%d@elsewhere.test>\r\nRCPT TO:<nosuch%d@example.test>\r\n' "$i" "$i"; done
  printf 'RSET\r\n'; } > "$T/stress.burst"
script="hello
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
quit"
check "pipelining: 400 recipients in one burst, good and bad alternating, all in order" \
  client --timeout 20 --quiet "$PORT" "$script"
check "pipelining: 200 good ones forwarded, no bad one" logs "$E" "
expect-log-count 200 ^CMD b'RCPT TO:<x
expect-no-log-text nosuch"
check "log: exactly one reject line per refused recipient (200)" logs stress '
expect-log-count 200 ^rcptcheck: reject ip=127\.0\.0\.1 pid=[0-9]* code=550 '
stop_server "$SERVER_PID"

# The edges of DATA, seen by the recorder: an empty message, a dot line
# first, NUL and 8-bit bytes (only CR and LF are special).
serve_fake dataedge --
check "DATA edges: empty message, dot line first, NUL and 8-bit bytes" client "$PORT" "
hello
$TXN_ALICE
raw .\r\n
expect 250
$TXN_ALICE
raw ..first\r\nx\r\n.\r\n
expect 250
$TXN_ALICE
raw a\x00b\x7f\xff\r\n.\r\n
expect 250
quit"
sha() { printf "$1" | sha256sum | cut -d' ' -f1; }
check "DATA edges: the three bodies arrived byte for byte" logs "$E" "
expect-log ^MSG 1 0 $(sha '')\$
expect-log ^MSG 2 12 $(sha '..first\r\nx\r\n')\$
expect-log ^MSG 3 7 $(sha 'a\000b\177\377\r\n')\$"
stop_server "$SERVER_PID"

serve_exim slowexim "$RC" "${SLOW[@]}" 300
message "$T/m4" "pipelined through a slow exim"
maildir_mark
check "pipelining (exim, replies 300 ms late): same order" pipeline_case "$PORT" "$T/m4"
check "pipelining (slow exim): both messages arrived" maildir_new 3 "$T/m4"
stop_server "$SERVER_PID"

########################################################################
# End of data: found across every read boundary, and commands after the
# final dot in the same read are still inspected.
# (Two sessions: the harness's exim queues, instead of delivering, from
# the 11th message of a connection on.)
serve_exim split "$RC"
maildir_mark
script=hello
end=$'\r\n.\r\n'
for k in 0 1 2 3 4 5; do
  message "$T/s$k" "end of data split after byte $k of CRLF.CRLF"
  head -c -2 "$T/s$k" > "$T/s$k.a"
  printf '%s' "${end:0:$k}" >> "$T/s$k.a"
  printf '%s' "${end:$k}" > "$T/s$k.b"
  script+="
$TXN_ALICE
file $T/s$k.a
sleep 150
file $T/s$k.b
expect 250"
done
script+="
quit"
check "end of data: CRLF.CRLF split after each of its bytes, each one 250" \
  client --timeout 15 "$PORT" "$script"

# A dot-stuffed line split after each of its bytes is no end; then one
# byte per write; then commands pipelined after the final dot.
script=hello
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
$TXN_ALICE
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
$TXN_ALICE
bytewise
data $T/bw
burst
expect 250
$TXN_ALICE
file $T/first.burst
expect 250
expect 250
expect 550
expect 250
expect 354
data $T/after
expect 250
quit"
check "end of data: dot lines split at every byte, bytewise, commands after the dot (550 in its slot)" \
  client --timeout 15 "$PORT" "$script"
for k in 0 1 2 3 4 5; do
  check "end of data split after byte $k: message arrived byte for byte" maildir_got "$T/s$k"
done
for k in 1 2 3 4 5; do
  check "dot line split after byte $k: not an end, message arrived whole" maildir_got "$T/d$k"
done
check "bytewise message arrived byte for byte" maildir_got "$T/bw"
check "message ended by a dot with commands after it arrived" maildir_got "$T/first"
check "message after a pipelined final dot arrived" maildir_got "$T/after"
check "end of data: 14 messages in all, none extra" maildir_still 14
check "summary: msgs=6 and msgs=8 for those two sessions" logs split '
expect-log ^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]+ msgs=6( |$)
expect-log ^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]+ msgs=8( |$)'
stop_server "$SERVER_PID"

########################################################################
# SMTP smuggling: a bare CR or LF in DATA ends the session with 451 and
# nothing is queued, not even the message around it.
SEQS=('\n.\n' '\n.\r\n' '\r\n.\n' '\r.\r' '\r\n.\r\r\n')
TCPSERVER_OPTS=-v serve_exim smuggle "$RC"
maildir_mark
i=0
for s in "${SEQS[@]}"; do
  i=$((i+1))
  for mode in burst bytewise; do
    check "smuggling $s ($mode): 451 and the session ends" client "$PORT" "
hello
$TXN_ALICE
$mode
raw Subject: carrier $i\r\n\r\ncarrier body$s
raw MAIL FROM:<smuggler@elsewhere.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled $i\r\n\r\nsmuggled\r\n.\r\n
burst
expect 451
expect-eof"
  done
done
check "smuggling: nothing at all was delivered" maildir_still 0
check "smuggling: nothing queued in exim's spool" nothing_queued
check "smuggling: no smuggled text anywhere" sh -c "! grep -rq smuggled '$MAILDIR'"
check "smuggling: each of the 10 sessions ended with exit status 0" status0 smuggle 10
stop_server "$SERVER_PID"

i=0
for s in "${SEQS[@]}"; do
  i=$((i+1))
  serve_fake smf$i --
  check "smuggling $s (recorder): 451" client "$PORT" "
hello
$TXN_ALICE
raw Subject: carrier\r\n\r\ncarrier body$s
raw MAIL FROM:<smuggler@elsewhere.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n
expect 451
expect-eof"
  check "smuggling $s (recorder): downstream stopped inside DATA, no message, no smuggled command" logs "$E" "
sleep 300
expect-log ^CMD b'DATA'
expect-no-log ^MSG
expect-no-log-text smuggler"
  stop_server "$SERVER_PID"
done

# The same at the very start of the message (the CRLF of the DATA line
# counts as the first CRLF).
i=0
for s in '.\n' '\n.\n' '.\r\r\n' '\r\n.\n'; do
  i=$((i+1))
  serve_fake sms$i --
  check "smuggling at the start of DATA ($s): 451" client "$PORT" "
hello
$TXN_ALICE
raw ${s}MAIL FROM:<smuggler@elsewhere.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n
expect 451
expect-eof"
  check "smuggling at the start of DATA ($s): no message, no smuggled command" logs "$E" "
sleep 300
expect-no-log ^MSG
expect-no-log-text smuggler"
  stop_server "$SERVER_PID"
done

########################################################################
# BDAT, CHUNKING and STARTTLS.
serve_exim bdat "$RC"
maildir_mark
check "EHLO through exim: no CHUNKING, no STARTTLS, framing intact" client "$PORT" "
hello
expect-no-text CHUNKING
expect-no-text STARTTLS
expect-text PIPELINING
send NOOP
expect 250
expect-text OK
mail <s@elsewhere.test>
rcpt <alice@example.test>
raw BDAT 22 LAST\r\nSubject: bdat\r\n\r\nbdat\r\n
expect 421
expect-eof"
check "BDAT: nothing delivered" maildir_still 0
stop_server "$SERVER_PID"

serve_fake bdatrec -- --ext 'CHUNKING|PIPELINING'
check "BDAT (recorder): 421 and close" client "$PORT" "
hello
expect-no-text CHUNKING
mail <s@elsewhere.test>
send BDAT 4 LAST
expect 421
expect-eof"
check "BDAT (recorder): never forwarded" logs "$E" "
expect-no-log-text BDAT"
stop_server "$SERVER_PID"

# ehlo_case NAME EXTS LAST-LINE-TEXT [--ehlo-slow]: STARTTLS and CHUNKING
# removed from the downstream's EHLO reply; every other line kept, the
# last one "250 ".
ehlo_case() {
  local name=$1 exts=$2 last=$3 slow=${4:-}
  serve "ehlo$name" "$RC" "${FAKE[@]}" --ext "$exts" $slow
  check "EHLO filter [$exts]$slow: ends with '$last'" client "$PORT" "
hello
expect-no-text STARTTLS
expect-no-text CHUNKING
expect-text $last
send NOOP
expect 250
expect-text ok NOOP
ehlo again.test
expect-no-text STARTTLS
expect-no-text CHUNKING
expect-text $last
helo client.test
quit"
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
hello
expect-no-text STARTTLS
quit"
check "RCPTCHECK_TLS=bogus: a warning names the variable and the value" logs tlsbogus '
expect-log ^rcptcheck: warning: .*RCPTCHECK_TLS=bogus'
stop_server "$SERVER_PID"
# Other lines pass unchanged, in order.
serve ehlo7 "$RC" "${FAKE[@]}" --ext 'PIPELINING|STARTTLS|8BITMIME|CHUNKING|SIZE 1000'
# ehlo_lines: the reply lines the client received, but the greeting and
# QUIT's, joined by "|".
ehlo_lines() {
  local got
  got=$(client "$PORT" "hello
quit" | sed -n 's/^< //p' | sed -n 2,5p | tr '\n' '|')
  [ "$got" = "$1" ] || { echo "# got: $got"; echo "# want: $1"; return 1; }
}
check "EHLO filter: the other lines pass unchanged and in order" \
  ehlo_lines '250-fake.test hello|250-PIPELINING|250-8BITMIME|250 SIZE 1000|'
stop_server "$SERVER_PID"

serve_fake tlsdef -- --tls --ext 'STARTTLS|PIPELINING'
check "STARTTLS by default: refused, not forwarded, checks go on" client "$PORT" "
hello
send STARTTLS
expect 454 500 502 503 504
mail <s@elsewhere.test>
rcpt <nosuch@example.test> 550
quit"
check "STARTTLS by default: the downstream never saw it" logs "$E" "
expect-no-log-text STARTTLS"
stop_server "$SERVER_PID"

serve tlsno env RCPTCHECK_TLS=passthrough "$RC" "${FAKE[@]}" --ext 'STARTTLS|PIPELINING'
check "STARTTLS passthrough, downstream refuses STARTTLS: checks go on" client "$PORT" "
hello
expect-text STARTTLS
send STARTTLS
expect 502
mail <s@elsewhere.test>
rcpt <nosuch@example.test> 550
quit"
stop_server "$SERVER_PID"

printf '\026\003\001\000\005hello\000\nMAIL FROM:<x@y>\r\n\r\377' > "$T/tls.bin"
serve_fake tlspass RCPTCHECK_TLS=passthrough -- --tls --ext 'STARTTLS|PIPELINING'
check "STARTTLS passthrough: advertised, 220 relayed, then blind relay both ways" \
  "${SPEC[@]}" tls "$PORT" "$T/tls.bin"
check "STARTTLS passthrough: plaintext pipelined after STARTTLS was dropped" \
  cmp "$T/tls.bin" "$E.raw"
check "STARTTLS passthrough: logged that checks stopped" logs tlspass '
expect-log ^(?=rcptcheck: )(?=.*(?i:tls)).*ip=127\.0\.0\.1 pid=[0-9]'
stop_server "$SERVER_PID"

########################################################################
# Malformed commands: 500/501, not forwarded, the session goes on.
serve_fake badcmd --
check "bad commands: NUL, bare LF, bare CR, 513-byte and 20 MB lines get 500/501, session goes on, memory flat" \
  "${SPEC[@]}" badcmd "$PORT" "$SERVER_PID"
check "bad commands: no part of a bad line reached the downstream" logs "$E" "
expect-log ^(?=CMD).*CMD b'NOOP bbbb
expect-no-log nul|lf1|cr1|cr2|crlf1|zzzz|yyyy|a{506}|\\\\[nr]"
stop_server "$SERVER_PID"

########################################################################
# A downstream that dies or talks garbage: 421/451, never a hang. The
# client sends nothing more after the death: the proxy must notice alone.
serve dead0 "$RC" sh -c 'exit 0'
check "downstream exits at once: 421/451 greeting and close" client "$PORT" "
expect 421 451
expect-eof"
check "dead0: rcptcheck itself ended (summary logged)" done_lines dead0 1
stop_server "$SERVER_PID"
serve dead1 "$RC" /nonexistent/downstream
check "downstream cannot be run: 421/451 and close" client "$PORT" "
expect 421 451
expect-eof"
check "dead1: a summary, or the fatal line naming the program" logs dead1 '
expect-log ^rcptcheck: (done ip=127\.0\.0\.1 |fatal: .*/nonexistent/downstream)'
stop_server "$SERVER_PID"
serve dead2 "$RC" "${FAKE[@]}" --die-after MAIL
check "downstream dies at MAIL: 421/451 and close" client "$PORT" "
hello
mail <s@elsewhere.test> 421 451
expect-eof"
check "dead2: rcptcheck itself ended (summary logged)" done_lines dead2 1
stop_server "$SERVER_PID"
serve garbage0 "$RC" sh -c 'printf "hello, I am no SMTP server\r\n"; sleep 8'
check "downstream greets with garbage: 421 and close" client "$PORT" "
expect 421
expect-eof"
check "garbage0: rcptcheck itself ended (summary logged)" done_lines garbage0 1
stop_server "$SERVER_PID"
serve garbage "$RC" "${FAKE[@]}" --garbage MAIL
check "downstream answers garbage: 421 and close" client "$PORT" "
hello
mail <s@elsewhere.test> 421
expect-eof"
check "garbage: rcptcheck itself ended (summary logged)" done_lines garbage 1
stop_server "$SERVER_PID"
serve_fake dead3 -- --die-in-data 100
head -c 3000 /dev/zero | tr '\0' 'q' > "$T/q.line"; printf '\r\n' >> "$T/q.line"
check "downstream dies in DATA: 421/451 and close" client "$PORT" "
hello
$TXN_ALICE
raw Subject: dies\r\n\r\n
file $T/q.line
expect 421 451
expect-eof"
check "downstream dies in DATA: it did die there" logs "$E" "
expect-log ^DIED-IN-DATA"
check "dead3: rcptcheck itself ended (summary logged)" done_lines dead3 1

# exim killed with SIGKILL in the middle of DATA (200 kB in, so that exim
# has written the first part to its spool file).
for i in $(seq 200); do cat "$T/q.line"; done > "$T/q200k"
serve kill "$RC" sh -c "echo \$\$ > $T/kill.pid; exec \"\$@\"" sh "${EXIM[@]}"
maildir_mark
client "$PORT" "
hello
$TXN_ALICE
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
check "exim killed mid-DATA: nothing delivered" maildir_still 0
check "exim killed mid-DATA: nothing queued" nothing_queued
check "exim killed mid-DATA: rcptcheck ended (summary logged)" done_lines kill 1
stop_server "$SERVER_PID"

########################################################################
# The client goes away in the middle of DATA: nothing is queued.
serve_exim gone "$RC"
maildir_mark
for tail in 'partial line\r\n' 'partial\r\n.' 'partial\r\n.\r' 'partial'; do
  check "client disconnects mid-DATA after '$tail': session had started" client "$PORT" "
hello
$TXN_ALICE
raw Subject: gone\r\n\r\n$tail"
done
check "client disconnects mid-DATA: every session ended" done_lines gone 4
check "client disconnects mid-DATA: nothing delivered" maildir_still 0
check "client disconnects mid-DATA: nothing queued" nothing_queued
stop_server "$SERVER_PID"

serve_fake gonerec --
check "client disconnects after '\\r\\n.\\r' (recorder): session had started" client "$PORT" "
hello
$TXN_ALICE
raw Subject: gone\r\n\r\npartial\r\n.\r"
check "client disconnects (recorder): downstream saw EOF inside DATA, no message" logs "$E" "
expect-log ^EOF-IN-DATA
expect-no-log ^MSG"
stop_server "$SERVER_PID"

########################################################################
# DATA, the message and QUIT in one burst: delivered exactly once.
burst_file() { # OUT MSG [PREFIX]
  { printf '%s' "${3:-}"; printf 'DATA\r\n'; stuffed "$2"; printf '.\r\nQUIT\r\n'; } > "$1"
}
# A transaction for alice, up to RCPT; the rest comes in one burst.
TO_ALICE="hello
mail <s@elsewhere.test>
rcpt <alice@example.test>"
serve_exim burst "$RC"
maildir_mark
message "$T/b1" "burst with half-close" "." "end"
burst_file "$T/b1.burst" "$T/b1"
check "DATA+message+QUIT burst, half-close: 354, 250, 221" client "$PORT" "
$TO_ALICE
file $T/b1.burst
shutdown
expect 354
expect 250
expect 221
expect-eof"
message "$T/b2" "burst then close at once" "..x" "end"
burst_file "$T/b2.burst" "$T/b2"
check "DATA+message+QUIT burst, then close: client side ran" client "$PORT" "
$TO_ALICE
file $T/b2.burst"
message "$T/b3" "whole session in one burst, then close"
burst_file "$T/b3.burst" "$T/b3" $'MAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<nosuch@example.test>\r\nRCPT TO:<alice@example.test>\r\n'
check "MAIL..QUIT in one burst after EHLO, then close: client side ran" client "$PORT" "
hello
file $T/b3.burst"
# A bare LF inside the burst: nothing of it is delivered.
printf 'DATA\r\nSubject: burst smuggle\r\n\r\nbody\n.\nMAIL FROM:<smuggler@elsewhere.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nsmuggled\r\n.\r\nQUIT\r\n' > "$T/b5.burst"
check "DATA+message with a bare LF+QUIT burst, then close: client side ran" client "$PORT" "
$TO_ALICE
file $T/b5.burst"
# The message complete, then the client goes away without QUIT: delivered.
message "$T/b6" "complete message, then close without QUIT"
{ printf 'DATA\r\n'; stuffed "$T/b6"; printf '.\r\n'; } > "$T/b6.burst"
check "DATA+message (no QUIT) in one burst, then close: client side ran" client "$PORT" "
$TO_ALICE
file $T/b6.burst"
check "bursts: all five sessions ended" done_lines burst 5
for b in b1 b2 b3 b6; do
  check "burst $b: message arrived byte for byte" maildir_got "$T/$b"
done
check "bursts: each message exactly once, nothing from the smuggling burst" maildir_still 4
stop_server "$SERVER_PID"

serve_exim burstslow "$RC" "${SLOW[@]}" 300
maildir_mark
message "$T/b4" "burst then close, slow downstream"
burst_file "$T/b4.burst" "$T/b4"
check "DATA+message+QUIT burst, slow downstream, then close: client side ran" client "$PORT" "
$TO_ALICE
file $T/b4.burst"
check "burst, slow downstream: message arrived" maildir_got "$T/b4"
check "burst, slow downstream: exactly once" maildir_still 1
stop_server "$SERVER_PID"

########################################################################
# Dictionary attacks.
TCPSERVER_OPTS=-v serve_fake dict3 RCPTCHECK_MAXBAD=3 --
check "RCPTCHECK_MAXBAD=3: 421 4.7.0 after 3 unknown recipients, then close" "${SPEC[@]}" dictionary "$PORT" 3
check "RCPTCHECK_MAXBAD=3: no unknown recipient reached the downstream" logs "$E" "
expect-no-log-text nosuch"
check "RCPTCHECK_MAXBAD=3: the session ended with exit status 0" status0 dict3 1
check "RCPTCHECK_MAXBAD=3: RSET does not reset the count" "${SPEC[@]}" dictionary "$PORT" 3 rset
stop_server "$SERVER_PID"
serve dict10 "$RC" "${FAKE[@]}"
check "RCPTCHECK_MAXBAD unset: the default is 10" "${SPEC[@]}" dictionary "$PORT" 10
stop_server "$SERVER_PID"
serve dictbad env RCPTCHECK_MAXBAD=abc "$RC" "${FAKE[@]}"
check "RCPTCHECK_MAXBAD=abc: the default 10 applies" "${SPEC[@]}" dictionary "$PORT" 10
check "RCPTCHECK_MAXBAD=abc: a warning names the variable and the value" logs dictbad '
expect-log ^rcptcheck: warning: .*RCPTCHECK_MAXBAD=abc'
stop_server "$SERVER_PID"
serve tarpit env RCPTCHECK_TARPIT=1 "$RC" "${FAKE[@]}"
check "RCPTCHECK_TARPIT=1: the pause grows with each unknown recipient" "${SPEC[@]}" tarpit "$PORT"
stop_server "$SERVER_PID"

########################################################################
# Cannot tell: an address cdb or users/cdb that cannot be read gives
# 451 4.3.0, never 550. As root every file is readable, so: a directory in
# place of the cdb (read fails with EISDIR), then a mode 600 file read by
# nobody (EACCES) when nobody can reach this tree at all.
cant_case() { # NAME WHAT [VAR=value...]: RCPT answers when the lookup is impossible
  local name=$1 w=$2; shift 2
  : > "$T/$name.ev"; chmod 666 "$T/$name.ev"   # (the downstream may run as nobody)
  serve_fake "$name" "$@" --
  check "$w: 451 4.3.0 for known and unknown, foreign passes" client "$PORT" "
hello
mail <s@elsewhere.test>
rcpt <alice@example.test> 451
expect-text 4.3.0
rcpt <nosuch@example.test> 451
expect-text 4.3.0
rcpt <x@elsewhere.test>
quit"
  check "$w: deferred recipients not forwarded" logs "$E" "
expect-no-log alice|nosuch"
  check "$w: logged with code=451" logs "$name" '
expect-log ^rcptcheck: [a-z]+ ip=127\.0\.0\.1 pid=[0-9]+ (.* )?code=451( |$)'
  stop_server "$SERVER_PID"
}
# qmail_copy DIR: a qmail tree with our control files and an empty users/.
qmail_copy() { mkdir -p "$1/control" "$1/users"; cp "$Q/control/"* "$1/control/"; }
mkdir -p "$T/cdbdir"
cant_case cantdir "RCPTCHECK_CDB is a directory" RCPTCHECK_CDB="$T/cdbdir"
qmail_copy "$T/qmail2"
mkdir "$T/qmail2/users/cdb"
cant_case cantusers "users/cdb is a directory" -u RCPTCHECK_CDB QMAILHOME="$T/qmail2"

NOBODY="-u $(id -u nobody) -g $(id -g nobody)"
if runuser -u nobody -- sh -c "test -r '$T/valid.cdb' && test -x '$RC' && test -r '$H/fakesmtp.py' && test -x '$PY'"; then
  cp "$T/valid.cdb" "$T/secret.cdb"; chmod 600 "$T/secret.cdb"
  TCPSERVER_OPTS=$NOBODY cant_case cantperm "RCPTCHECK_CDB mode 600, read by nobody" \
    RCPTCHECK_CDB="$T/secret.cdb"
  qmail_copy "$T/qmail3"
  cp "$T/valid.cdb" "$T/qmail3/users/cdb"; chmod 600 "$T/qmail3/users/cdb"
  TCPSERVER_OPTS=$NOBODY cant_case cantperm2 "users/cdb mode 600, read by nobody" \
    -u RCPTCHECK_CDB QMAILHOME="$T/qmail3"
else
  ok "unreadable cdb as nobody # SKIP nobody cannot reach $T"
fi

########################################################################
# Deadlines (variable names from najimi.7): a downstream that never
# answers, a client that goes quiet; and QUIT closes the downstream's input.
serve_fake hang RCPTCHECK_REPLYTIMEOUT=2 -- --hang MAIL
check "downstream hangs (RCPTCHECK_REPLYTIMEOUT=2): 421/451 and close, no hang" client --timeout 8 "$PORT" "
hello
mail <s@elsewhere.test> 421 451
expect-eof"
# gone_downstream: the process whose PID the downstream logged has ended.
gone_downstream() { local p; p=$(sed -n 's/^PID //p' "$E"); [ -n "$p" ] && ! kill -0 "$p" 2>/dev/null; }
check "downstream hangs: it is not left behind (closed or killed, and reaped)" wait_for 60 gone_downstream
check "downstream hangs: rcptcheck itself ended (summary logged)" done_lines hang 1
stop_server "$SERVER_PID"
serve_exim idle env RCPTCHECK_TIMEOUT=2 "$RC"
maildir_mark
check "client goes quiet mid-DATA (RCPTCHECK_TIMEOUT=2): closed in time" client --timeout 8 "$PORT" "
hello
$TXN_ALICE
raw Subject: quiet\r\n\r\nthen nothing more\r\n
expect-eof"
check "client goes quiet mid-DATA: nothing delivered" maildir_still 0
check "client goes quiet mid-DATA: nothing queued" nothing_queued
check "client goes quiet mid-DATA: session summary logged" done_lines idle 1
stop_server "$SERVER_PID"
serve_fake linger -- --linger
check "QUIT: 221, then the session ends promptly" client --timeout 3 "$PORT" "
hello
quit
expect-eof"
check "QUIT: the downstream's input was closed after QUIT" logs "$E" "
expect-log ^EOF-AFTER-QUIT"
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
BASELINE=$(client "$PORT" "expect 220" | grep '^< 220 fds:')
BASE=${BASELINE#< 220 fds:}; BASE=${BASE%%.*}
ENVSUM=${BASELINE##* env:}
stop_server "$SERVER_PID"
serve fds env SPECVAR=marker "$RC" "${PROBE[@]}"
check "downstream: received the environment" client "$PORT" "
expect 220
expect-text ip:127.0.0.1 v:marker
quit"
check "downstream: exactly the environment rcptcheck received (digest $ENVSUM)" client "$PORT" "
expect 220
expect-text env:$ENVSUM
quit"
GOTLINE=$(client "$PORT" "expect 220" | grep '^< 220 fds:')
GOT=${GOTLINE#< 220 fds:}; GOT=${GOT%%.*}
# Descriptors the test environment itself leaks in may stay; no other.
check "downstream: no descriptor beyond 0-2 but the baseline ('$BASE'; got '$GOT')" \
  sh -c "[ -n '$GOTLINE' ] || exit 1; for f in $GOT; do case ' $BASE ' in *\" \$f \"*) ;; *) exit 1 ;; esac; done"
stop_server "$SERVER_PID"

########################################################################
# A 20 MB message with dot lines, long lines and 8-bit bytes: identical
# sha256 after CRLF -> LF, and the proxy's memory stays flat.
# big_arrived SHA256: within 10 s, a delivered file of over 1 MB has it.
big_arrived() {
  local f i
  for i in $(seq 200); do
    for f in "$MAILDIR"/new/* "$MAILDIR"/cur/*; do
      [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 1000000 ] && sha256sum "$f"
    done | grep -q "^$1 " && return 0
    sleep 0.05
  done
  echo "# no delivered file has sha256 $1"; return 1
}
# lf_sha256 FILE: the sha256 of FILE with CRLF turned into LF (as stored).
lf_sha256() { sed 's/\r$//' "$1" | sha256sum | cut -d' ' -f1; }
"${SPEC[@]}" genmsg "$T/big" 20
serve_exim big "$RC"
check "20 MB message: accepted, proxy peak RSS grew by under 8 MB" \
  "${SPEC[@]}" bigmsg "$PORT" "$SERVER_PID" "$T/big" alice@example.test
want=$(lf_sha256 "$T/big")
check "20 MB message: one delivered file with the same sha256 ($want)" big_arrived "$want"
"${SPEC[@]}" genline "$T/line" 20
check "one 20 MB line: accepted, proxy peak RSS grew by under 8 MB" \
  "${SPEC[@]}" bigmsg "$PORT" "$SERVER_PID" "$T/line" alice@example.test
want=$(lf_sha256 "$T/line")
check "one 20 MB line: delivered with the same sha256 ($want)" big_arrived "$want"
stop_server "$SERVER_PID"

########################################################################
# swaks, the administrator's client, through the proxy.
TCPSERVER_OPTS=-v serve_exim swaks "$RC"
maildir_mark
check "swaks: known user delivered" swaks --server "127.0.0.1:$PORT" \
  --to alice@example.test --from admin@elsewhere.test --timeout 10
check "swaks: unknown user gets 550 5.1.1 (swaks fails)" sh -c "
  ! swaks --server 127.0.0.1:$PORT --to nosuch@example.test --from admin@elsewhere.test --timeout 10 > '$T/swaks.out' 2>&1 &&
  grep -q '<\*\* *550 5\.1\.1' '$T/swaks.out'"
check "swaks --pipeline: good, bad, good in one transaction" sh -c "
  swaks --pipeline --server 127.0.0.1:$PORT --to alice@example.test,nosuch@example.test,bob@example.test \
    --from admin@elsewhere.test --timeout 10 > '$T/swaks2.out' 2>&1;
  grep -q '550 5\.1\.1' '$T/swaks2.out'"
check "swaks: two messages arrived (three files: alice, alice and bob)" maildir_new 3
check "swaks: three sessions, each ended with exit status 0" status0 swaks 3
stop_server "$SERVER_PID"

finish
