#!/bin/bash
# SPDX-License-Identifier: ISC
# rcptcheck under the real tcpserver: exim as the tail (Maildir checked
# byte for byte), a recording fake downstream (proves what was and was
# not forwarded), the scripted client and swaks.
. "$(dirname "$0")/../lib.sh"
RC=$SRC/rcptcheck
needs_root "exim -C, system users njrc*"
exim_tail

# ------------------------------------------------------------ fixtures
# The qmail tree, built into $T from tests/fixtures/qmail, with throwaway
# users (removed at the end).
Q=$T/qmail
cp -r "$TOP/tests/fixtures/qmail" "$Q"
sed -i "s#@TREE@#$Q#g" "$Q/users/assign"
"$SRC/rcptcheck-cdb" -u "$Q/users/assign" "$Q/users/cdb"
"$SRC/rcptcheck-cdb" "$Q/valid-rcpt" "$Q/valid-rcpt.cdb"
ln -s .qmail-loop "$Q/home/njrcjoe/.qmail-loop"      # stat: ELOOP, not ENOENT
USERS=(njrcjoe njrcvirt njrcalias njrcnoown)
drop_users() { local u; for u in "${USERS[@]}"; do userdel "$u" 2>/dev/null; done; return 0; }
# The users are the machine's: a second run of this file at the same time
# (another checkout) would delete them under this one. A lock held by a
# process of our own (killed by PID at the end, after drop_users) makes
# the runs take turns; after 300 s of waiting this run goes on anyway.
flock -F -w 300 /tmp/najimi-rcptcheck-users.lock sh -c ": > '$T/users.locked'; exec sleep 900" 2> /dev/null &
PIDS+=("$!")
wait_for 6000 test -e "$T/users.locked" || echo "# another run held the users' lock for 300 s; going on"
trap 'drop_users; cleanup' EXIT
drop_users
for u in "${USERS[@]}"; do
  useradd -M -d "$Q/home/$u" -s /usr/sbin/nologin "$u" || echo "# useradd $u failed"
done
for u in njrcjoe njrcvirt njrcalias; do chown -R "$u" "$Q/home/$u"; done
chmod -R a+rX "$Q"

# The recording downstream: speaks just enough SMTP, appends every byte it
# receives to its record file, and can be slow, die, hang or babble.
cat > "$T/fake.py" <<'PY'
import os, sys, time
mode, rec = sys.argv[1], sys.argv[2]
log = open(rec, "ab", buffering=0)
def out(b):
    if mode == "slow": time.sleep(0.2)
    os.write(1, b)
out(b"220 fake ESMTP\r\n")
buf, indata, got = b"", False, 0
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        log.write(b"<EOF>")
        sys.exit(0)
    log.write(chunk)
    buf += chunk
    while True:
        if indata:
            got += len(chunk)
            if mode == "die-data" and got > 1000: os._exit(1)
            i = buf.find(b"\r\n.\r\n")
            if i < 0: break
            buf, indata = buf[i + 5:], False
            out(b"250 accepted\r\n")
            continue
        if mode == "tls":
            if b"STARTTLS\r\n" in buf:
                out(b"220 go ahead\r\n")
                while True:
                    c = os.read(0, 65536)
                    if not c: log.write(b"<EOF>"); sys.exit(0)
                    log.write(c)
                    os.write(1, b"echo:" + c)
        i = buf.find(b"\r\n")
        if i < 0: break
        line, buf = buf[:i], buf[i + 2:]
        verb = line[:4].upper()
        if verb == b"EHLO":
            if mode == "tlslast":
                out(b"250-fake\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 STARTTLS\r\n")
            else:
                out(b"250-fake\r\n250-STARTTLS\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 CHUNKING\r\n")
        elif verb == b"DATA":
            out(b"354 go ahead\r\n")
            indata, got, chunk = True, 0, b""
            buf = b"\r\n" + buf
        elif verb == b"QUIT":
            out(b"221 bye\r\n")
            sys.exit(0)
        elif verb == b"MAIL" and mode == "hang":
            open(rec + ".pid", "w").write(str(os.getpid()))
            time.sleep(60)
        elif verb == b"MAIL" and mode == "garbage":
            out(b"hello, this is not SMTP\r\n")
        else:
            out(b"250 ok\r\n")
PY
FAKE=(python3 "$T/fake.py")

# serve_rc NAME [VAR=value...] -- DOWNSTREAM...: rcptcheck on the fixture tree
serve_rc() {
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  serve "$name" env QMAILHOME="$Q" RCPTCHECK_CDB="$Q/valid-rcpt.cdb" "${envs[@]}" \
    "$RC" -a njrcalias "$@"
}

# Each case is a transcript (tests/smtpclient.py): what the client sends,
# the codes it must get, then what the recorder's file (every byte it
# received) or rcptcheck's log must or must not hold.

# to_joe HELO-NAME: the session up to the 354 of a message for njrcjoe.
to_joe() { printf 'expect 220\nhelo %s\nmail <s@remote.test>\nrcpt <njrcjoe@example.test>\nsend DATA\nexpect 354' "$1"; }

# ------------------------------------------------------------ delivery
serve_rc exim RCPTCHECK_MAXBAD=0 -- "${EXIM[@]}"
message "$T/m1" "known users only" ". a dot line" ".." "" "end"
maildir_mark
check "known users: 250 to RCPT, message accepted" client "$PORT" "
hello
mail <sender@remote.test>
rcpt <njrcjoe@example.test>
rcpt <postmaster@example.test>
message $T/m1
quit"
check "known users: the message arrived byte for byte" maildir_got "$T/m1"
check "known users: delivered once to each of the two recipients" maildir_new 2
check "summary: one done line with msgs=1 rcpt_ok=2 rcpt_bad=0" logs exim '
expect-log ^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]+ msgs=1 rcpt_ok=2 rcpt_bad=0 rcpt_defer=0 bad_cmd=0 bytes=[0-9]+ end=quit tls=no$'

# every realrcptto rule, one RCPT each, in one session
check "realrcptto rules: each RCPT gets qmail's answer" client "$PORT" "
expect 220
helo client.test
mail <sender@remote.test>
# getpwnam user, case-insensitive
rcpt <NJRCJOE@Example.TEST>
# .qmail-ext, -default, missing extension
rcpt <njrcjoe-foo@example.test>
rcpt <njrcjoe-bar-x@example.test>
rcpt <njrcjoe-bar@example.test> 550
expect-text 5.1.1
rcpt <njrcjoe-nope@example.test> 550
# the alias user: .qmail-postmaster, .qmail-web-default, nothing
rcpt <web-master@example.test>
rcpt <nobody@example.test> 550
# uid 0 and a home the user does not own fall through to the alias user
rcpt <root@example.test> 550
rcpt <njrcnoown@example.test> 550
# envnoathost
rcpt <njrcjoe>
rcpt <nobody> 550
# percenthack
rcpt <njrcjoe%example.test@relay.test>
rcpt <nobody%example.test@relay.test> 550
# virtualdomains: domain, user@domain, .suffix, empty value
rcpt <known@virt.test>
rcpt <unknown@virt.test> 550
rcpt <special@virt2.test>
rcpt <other@virt2.test>
rcpt <known@deep.sub.test>
rcpt <nope@deep.sub.test> 550
rcpt <anyone@notours.test>
rcpt <anyone@remote.test>
# users/cdb: exact entry, wildcard entry with wildchars
rcpt <mary@example.test>
rcpt <mary-x@example.test> 550
rcpt <lists-announce@example.test>
rcpt <lists-other@example.test> 550
# RCPTCHECK_CDB: listed, -default, unlisted, @domain catch-all
rcpt <alice@list.test>
rcpt <news-today@list.test>
rcpt <bob@list.test> 550
rcpt <whoever@catch.test>
# a source route and quotes are read as qmail-smtpd reads them
rcpt <@hop.test:njrcjoe@example.test>
rcpt <\"nobody\"@example.test> 550
# the empty address (and <@host>, read as empty) is nobody
rcpt <> 550
rcpt <@example.test> 550
quit"
check "reject log line: code=550 and the sanitised address" logs exim '
expect-log ^rcptcheck: reject ip=127\.0\.0\.1 pid=[0-9]+ code=550 rcpt=nobody@example\.test$'
check "summary: rcpt_bad counts the 550s" logs exim '
expect-log ^rcptcheck: done .* msgs=0 rcpt_ok=18 rcpt_bad=15 '

# ordering in one pipelined burst: good, bad, good, DATA (here and with
# a slow downstream below)
GOOD_BAD_GOOD="hello
raw MAIL FROM:<s@remote.test>\r\nRCPT TO:<njrcjoe@example.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<postmaster@example.test>\r\nDATA\r\n
expect 250
expect 250
expect 550
expect 250
expect 354"
message "$T/m2" "pipelined"
maildir_mark
check "pipelining: good, bad, good, DATA -> 250, 550, 250, 354 (exim)" client "$PORT" "
$GOOD_BAD_GOOD
data $T/m2
expect 250
quit"
check "pipelining: message delivered once" maildir_got "$T/m2"
check "pipelining: delivered once to each good recipient" maildir_new 2

# commands after the final dot, in the same write, are still inspected
message "$T/m3" "commands after the dot"
{ cat "$T/m3"; printf '.\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<njrcjoe@example.test>\r\nQUIT\r\n'; } > "$T/m3.burst"
check "after the final dot: the next RCPT in the same read is checked" client "$PORT" "
$(to_joe client.test)
file $T/m3.burst
expect 250
expect 250
expect 550
expect 250
expect 221"

# the DATA+QUIT burst, then the client closes without reading
message "$T/m4" "burst and close"
maildir_mark
{ printf 'HELO burst.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<njrcjoe@example.test>\r\nDATA\r\n'; cat "$T/m4"; printf '.\r\nQUIT\r\n'; } > "$T/m4.burst"
client "$PORT" "file $T/m4.burst" > /dev/null
check "DATA+QUIT burst, client gone at once: delivered" maildir_got "$T/m4"
check "DATA+QUIT burst: delivered exactly once" maildir_still 1

# a refused DATA with the message already sent: those bytes are never
# read as commands (they would be the client's message text)
maildir_mark
check "refused DATA with early data: 550, 503, then 421 and close" client "$PORT" "
expect 220
helo client.test
raw MAIL FROM:<s@remote.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\nRCPT TO:<njrcjoe@example.test>\r\nDATA\r\n.\r\n
expect 250
expect 550
expect 503 554
expect 421
expect-eof"
check "refused DATA with early data: logged as sync" logs exim '
expect-log ^rcptcheck: sync ip=127\.0\.0\.1 pid=[0-9]* code=421$'
check "refused DATA with early data: nothing delivered" maildir_now 0

# mid-DATA disconnect: nothing is queued
maildir_mark
check "mid-DATA disconnect: 354 then the client leaves" client "$PORT" "
$(to_joe client.test)
raw Subject: cut\r\n\r\nthis message is never finished\r\n.\r"
check "mid-DATA disconnect: logged, end=eof-in-data" logs exim '
expect-log end=eof-in-data tls=no$'
check "mid-DATA disconnect: nothing delivered" maildir_still 0

# QUIT closes the write side toward exim: its 221 comes at once
check "QUIT: exim's 221 within 150 ms (write side closed)" python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
f = s.makefile("rb")
f.readline()
s.sendall(b"QUIT\r\n"); t = time.monotonic()
line = f.readline(); dt = time.monotonic() - t
print(line, dt)
sys.exit(0 if line.startswith(b"221") and dt < 0.15 else 1)
PY

# swaks, the administrator's client
maildir_mark
check "swaks: delivers to a known user" swaks --server "127.0.0.1:$PORT" --timeout 10 \
  --from admin@remote.test --to njrcjoe@example.test
check "swaks: unknown user refused with 550 5.1.1" sh -c "swaks --server 127.0.0.1:$PORT --timeout 10 \
  --from admin@remote.test --to nobody@example.test > '$T/swaks.out' 2>&1; grep -q '<\*\* *550 5.1.1' '$T/swaks.out'"
check "swaks --pipeline: good and bad recipients, message delivered" sh -c "swaks --server 127.0.0.1:$PORT \
  --timeout 10 --pipeline --from admin@remote.test --to njrcjoe@example.test,nobody@example.test > '$T/swaks2.out' 2>&1;
  grep -q '550 5.1.1' '$T/swaks2.out' && grep -q '<\*\* *550\|<  *250 OK id=' '$T/swaks2.out'"
check "swaks: two messages arrived" maildir_atleast 2
stop_server "$SERVER_PID"

# ------------------------------------------------------------ 20 MB
serve_rc big -- "${EXIM[@]}"
message "$T/big" "twenty megabytes"
python3 - "$T/big" <<'PY'
import sys, random
r = random.Random(4)
with open(sys.argv[1], "ab") as f:
    n = 0
    while n < 20 * 1024 * 1024:
        k = r.random()
        if k < 0.1: line = b"." + b"d" * r.randrange(0, 80)           # dot lines
        elif k < 0.12: line = b"."                                     # a lone dot
        elif k < 0.15: line = b"L" * r.randrange(70000, 200000)       # long lines
        else: line = bytes(r.randrange(33, 127) for _ in range(r.randrange(0, 100)))
        f.write(line + b"\r\n"); n += len(line) + 2
PY
check "20 MB: accepted" client "$PORT" "
expect 220
helo big.test
mail <s@remote.test>
rcpt <njrcjoe@example.test>
message $T/big
quit"
WANT=$(sed 's/\r$//' "$T/big" | sha256sum | cut -d' ' -f1)
GOT=$(for f in "$MAILDIR"/new/*; do [ "$(stat -c %s "$f")" -gt 10000000 ] && sha256sum < "$f"; done | cut -d' ' -f1)
check "20 MB: identical sha256 in the Maildir" test "$WANT" = "$GOT"
stop_server "$SERVER_PID"

# ------------------------------------------------------------ smuggling
serve_rc smuggle -- "${EXIM[@]}"
i=0
for seq in '\n.\n' '\n.\r\n' '\r\n.\n' '\r.\r' '\r\n.\r\r\n'; do
  i=$((i+1))
  maildir_mark
  check "smuggling $seq: 451 and the session ends" client "$PORT" "
$(to_joe s.test)
raw Subject: outer $i\r\n\r\nouter body${seq}MAIL FROM:<evil@remote.test>\r\nRCPT TO:<postmaster@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n
expect 451
expect-eof"
  check "smuggling $seq: nothing delivered" maildir_still 0
done
check "smuggling: one smuggle line per session with code=451" logs smuggle '
expect-log-count 5 ^rcptcheck: smuggle ip=127\.0\.0\.1 pid=[0-9]* code=451 reason=bare-'
check "smuggling: no downstream ever saw a second MAIL" logs "$T/exim/log/mainlog" "
expect-no-log evil@remote"
stop_server "$SERVER_PID"

# the same sequences against the recording downstream: no terminator sent
serve_rc smugrec -- "${FAKE[@]}" plain "$T/rec.smug"
check "smuggling (recorder): \\r\\n.\\r\\r\\n never forwarded as an end" client "$PORT" "
expect 220
helo s.test
mail <s@remote.test>
rcpt <x@remote.test>
send DATA
expect 354
raw body\r\n.\r\r\nMAIL FROM:<evil@remote.test>\r\n
expect 451"
# eof_no_end FILE: the recorder saw the end of its input but no smuggled
# MAIL, and no CRLF.CR in what followed the DATA line.
eof_no_end() {
  logs "$1" "expect-log-text <EOF>
expect-no-log-text evil" &&
  ! python3 -c "import sys; d=open(sys.argv[1],'rb').read(); sys.exit(0 if b'\r\n.\r' in d.split(b'DATA\r\n',1)[1] else 1)" "$1"
}
check "smuggling (recorder): downstream got EOF without a terminator" eof_no_end "$T/rec.smug"
stop_server "$SERVER_PID"

# the end of data split at every byte position
serve_rc split -- "${EXIM[@]}"
maildir_mark
check "end of data found when split at every byte position" python3 - "$PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
msg = b"Subject: split\r\n\r\n.. dot\r\nx\r\n.\r\n"
def reply(f):
    while True:
        l = f.readline()
        if l[3:4] != b"-": return l
bad = 0
for k in range(1, len(msg)):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    reply(f)
    for c in (b"HELO x\r\n", b"MAIL FROM:<s@remote.test>\r\n", b"RCPT TO:<njrcjoe@example.test>\r\n", b"DATA\r\n"):
        s.sendall(c); reply(f)
    s.sendall(msg[:k]); time.sleep(0.03); s.sendall(msg[k:])
    r = reply(f)
    if not r.startswith(b"250"): print("split", k, r); bad += 1
    s.sendall(b"QUIT\r\n"); reply(f); s.close()
sys.exit(1 if bad else 0)
PY
check "split: every session delivered once" maildir_new 31
stop_server "$SERVER_PID"

# ------------------------------------------------------------ recorder
# ordering with a slow downstream; the rejected RCPT never forwarded
serve_rc slow -- "${FAKE[@]}" slow "$T/rec.slow"
check "slow downstream: good, bad, good, DATA -> 250, 550, 250, 354" client "$PORT" "
$GOOD_BAD_GOOD
raw hello\r\n.\r\nQUIT\r\n
expect 250
expect 221"
check "recorder: the rejected RCPT was never forwarded" logs "$T/rec.slow" "
expect-no-log-text nobody@example.test"
check "recorder: the good RCPTs were" logs "$T/rec.slow" "
expect-log-text RCPT TO:<postmaster@example.test>"
stop_server "$SERVER_PID"

# EHLO: STARTTLS and CHUNKING removed, framing kept; BDAT; STARTTLS refused
serve_rc ehlo -- "${FAKE[@]}" plain "$T/rec.ehlo"
check "EHLO: STARTTLS and CHUNKING removed, last line re-framed" client "$PORT" "
hello
expect-no-text STARTTLS
expect-no-text CHUNKING
expect-line 250 8BITMIME
expect-text PIPELINING
send STARTTLS
expect 454
send NOOP
expect 250
send BDAT 10 LAST
expect 421
expect-eof"
check "BDAT and STARTTLS were not forwarded" logs "$T/rec.ehlo" "
expect-no-log-text BDAT
expect-no-log-text STARTTLS"
check "BDAT: logged with code=421" logs ehlo '
expect-log ^rcptcheck: bdat ip=127\.0\.0\.1 pid=[0-9]+ code=421$'
stop_server "$SERVER_PID"
serve_rc ehlo2 -- "${FAKE[@]}" tlslast "$T/rec.ehlo2"
check "EHLO: STARTTLS as the last line removed, previous line ends the reply" client "$PORT" "
hello
expect-no-text STARTTLS
expect-no-text CHUNKING
expect-line 250 PIPELINING
quit"
stop_server "$SERVER_PID"

# RCPTCHECK_TLS=passthrough: blind relay after 220, plaintext after STARTTLS dropped
serve_rc tls RCPTCHECK_TLS=passthrough -- "${FAKE[@]}" tls "$T/rec.tls"
check "passthrough: STARTTLS advertised, 220, then a blind relay" client "$PORT" "
hello
expect-text STARTTLS
raw STARTTLS\r\nMAIL FROM:<injected@remote.test>\r\n
expect 220
raw \x16\x03\x01binary-tls-bytes\n
sleep 300"
check "passthrough: pipelined plaintext after STARTTLS dropped" logs "$T/rec.tls" "
expect-no-log-text injected"
check "passthrough: bytes after 220 relayed untouched" logs "$T/rec.tls" "
expect-log-text binary-tls-bytes"
check "passthrough: logged that checks stopped" logs tls '
expect-log ^rcptcheck: tls ip=127\.0\.0\.1 pid=[0-9]+ code=220 checks=stopped'
stop_server "$SERVER_PID"

# bad command lines: 500/501, not forwarded, the session goes on
serve_rc badcmd -- "${FAKE[@]}" plain "$T/rec.bad"
LONG=$(head -c 600 /dev/zero | tr '\0' 'x')
check "bad commands: NUL, bare CR, bare LF, overlong -> 501/501/500/500" client "$PORT" "
expect 220
raw NOOP nulmark\x00\r\n
expect 501
raw NOOP crmark\rx\r\n
expect 501
raw NOOP lfmark\n
expect 500
send NOOP longmark$LONG
expect 500
send NOOP fine
expect 250
quit"
check "bad commands: none forwarded" logs "$T/rec.bad" "
expect-no-log-text mark
expect-log-text NOOP fine"
check "bad commands: logged with code" logs badcmd '
expect-log ^rcptcheck: badcmd ip=127\.0\.0\.1 pid=[0-9]+ code=500 reason=toolong$'
stop_server "$SERVER_PID"

# dictionary attack: 421 after RCPTCHECK_MAXBAD unknown recipients
serve_rc dict RCPTCHECK_MAXBAD=3 -- "${FAKE[@]}" plain "$T/rec.dict"
check "dictionary: 3 x 550 then 421 4.7.0 and close" client "$PORT" "
expect 220
helo d.test
mail <s@remote.test>
raw RCPT TO:<a1@example.test>\r\nRCPT TO:<njrcjoe@example.test>\r\nRCPT TO:<a2@example.test>\r\nRCPT TO:<a3@example.test>\r\nRCPT TO:<a4@example.test>\r\n
expect 550
expect 250
expect 550
expect 550
expect 421
expect-text 4.7.0
expect-eof"
check "dictionary: limit logged with bad=3" logs dict '
expect-log ^rcptcheck: limit ip=127\.0\.0\.1 pid=[0-9]+ code=421 bad=3$'
check "dictionary: a4 never checked nor forwarded" logs dict "
expect-no-log-text a4@
log $T/rec.dict
expect-no-log-text a4@"
stop_server "$SERVER_PID"
serve_rc tarpit RCPTCHECK_TARPIT=1 -- "${FAKE[@]}" plain "$T/rec.tarpit"
S0=$(date +%s%N)
check "tarpit: two unknown recipients answered after growing pauses" client "$PORT" "
expect 220
helo d.test
mail <s@remote.test>
rcpt <a1@example.test> 550
rcpt <a2@example.test> 550
quit"
S1=$(date +%s%N)
check "tarpit: at least 1 + 2 seconds" test $(( (S1 - S0) / 1000000 )) -ge 2900
stop_server "$SERVER_PID"

# ------------------------------------------------------------ 451
# The session up to MAIL, for the cases that need one RCPT or two.
TO_RCPT="expect 220
helo t.test
mail <s@remote.test>"
cp -r "$Q" "$T/q451"
rm "$T/q451/users/cdb"; mkdir "$T/q451/users/cdb"
printf 'garbage' > "$T/corrupt.cdb"
serve 451a env QMAILHOME="$T/q451" "$RC" -a njrcalias "${FAKE[@]}" plain "$T/rec.451a"
check "451: unreadable users/cdb gives 451 4.3.0, never 550" client "$PORT" "
$TO_RCPT
rcpt <nobody@example.test> 451
expect-text 4.3.0
rcpt <anyone@remote.test>
quit"
check "451: logged as defer with reason" logs 451a '
expect-log ^rcptcheck: defer ip=127\.0\.0\.1 pid=[0-9]+ code=451 rcpt=nobody@example\.test reason=users/cdb$'
check "451: the deferred RCPT was not forwarded" logs "$T/rec.451a" "
expect-no-log-text nobody@"
stop_server "$SERVER_PID"
serve 451b env QMAILHOME="$Q" RCPTCHECK_CDB="$T/corrupt.cdb" "$RC" -a njrcalias "${FAKE[@]}" plain "$T/rec.451b"
check "451: corrupt RCPTCHECK_CDB, and ELOOP on a .qmail file" client "$PORT" "
$TO_RCPT
rcpt <alice@list.test> 451
rcpt <x@remote.test>
quit"
stop_server "$SERVER_PID"
# ELOOP is no temporary error for qmail-local: no such file (550 here,
# as njrcjoe has no .qmail-default)
serve_rc 451c -- "${FAKE[@]}" plain "$T/rec.451c"
check "ELOOP on ~user/.qmail-ext: no such file, 550 as qmail-local decides" client "$PORT" "
$TO_RCPT
rcpt <njrcjoe-loop@example.test> 550
quit"
check "ELOOP: logged as a reject, no defer" logs 451c '
expect-log code=550 rcpt=njrcjoe-loop@example\.test$
expect-no-log ^rcptcheck: defer '
stop_server "$SERVER_PID"

# ------------------------------------------------------------ failures
serve_rc die -- "${FAKE[@]}" die-data "$T/rec.die"
yes yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy | head -n 3000 | sed 's/$/\r/' > "$T/die.body"
check "downstream dies mid-DATA: 451 after the client's end of data" client "$PORT" "
$TO_RCPT
rcpt <x@remote.test>
message $T/die.body 421 451
expect-eof"
check "downstream dies mid-DATA: logged" logs die '
expect-log ^rcptcheck: downstream ip=127\.0\.0\.1 pid=[0-9]+ code=4(21|51) reason=(eof|write)$'
stop_server "$SERVER_PID"

serve_rc kill -- "${EXIM[@]}"
maildir_mark
# kill the exim that this session's rcptcheck started, found by parent pid
( sleep 0.6; for p in $(pgrep -P "$SERVER_PID"); do
    for e in $(pgrep -P "$p"); do kill -KILL "$e"; done; done ) &
KILLER=$!
check "exim killed mid-DATA: 421 or 451, never 250" client "$PORT" "
$(to_joe t.test)
raw Subject: killed\r\n\r\nfirst part\r\n
sleep 1000
raw second part\r\n.\r\n
expect 421 451"
wait "$KILLER"
check "exim killed mid-DATA: nothing delivered" maildir_still 0
stop_server "$SERVER_PID"

serve_rc hang RCPTCHECK_REPLYTIMEOUT=1 -- "${FAKE[@]}" hang "$T/rec.hang"
check "downstream hangs: 421 after the reply timeout" client "$PORT" "
expect 220
helo t.test
mail <s@remote.test> 421
expect-eof"
check "downstream hangs: the downstream is gone afterwards (no zombie, no orphan)" \
  wait_for 60 sh -c "! kill -0 \$(cat '$T/rec.hang.pid')"
stop_server "$SERVER_PID"

serve_rc garbage -- "${FAKE[@]}" garbage "$T/rec.garbage"
check "downstream sends garbage: 421" client "$PORT" "
expect 220
helo t.test
mail <s@remote.test> 421
expect-eof"
stop_server "$SERVER_PID"

serve_rc idle RCPTCHECK_TIMEOUT=1 -- "${FAKE[@]}" plain "$T/rec.idle"
check "idle client: 421 4.4.2 after RCPTCHECK_TIMEOUT" client "$PORT" "
expect 220
expect 421
expect-text 4.4.2
expect-eof"
check "idle client: one done line" logs idle '
expect-log-count 1 ^rcptcheck: done .*end=timeout'
stop_server "$SERVER_PID"
# ------------------------------------------------------------ odds and ends
check "tinycdb: the binary carries tinycdb's reader, not skalibs' cdb" \
  sh -c "nm '$RC' | grep -q ' T cdb_find$' && nm '$RC' | grep -q ' T cdb_unpack' && ! nm '$RC' | grep -q 'cdb_init_at'"
check "rcptcheck-cdb -u: users/cdb records exactly as qmail-newu writes them" sh -c \
  "printf '=Joe:joe:1:2:/h/joe:::\\n+list-:joe:1:2:/h/joe:-:l-:\\n.\\n' > '$T/assign' &&
   '$SRC/rcptcheck-cdb' -u '$T/assign' '$T/u.cdb' && cdb -d '$T/u.cdb' > '$T/u.dump' &&
   printf '+5,16:!joe\\000->joe\\0001\\0002\\000/h/joe\\000\\000\\n+6,19:!list-->joe\\0001\\0002\\000/h/joe\\000-\\000l-\\n+0,1:->-\\n\\n' > '$T/u.want' &&
   cmp '$T/u.dump' '$T/u.want'"
check "rcptcheck-cdb: a bad line is refused (exit 100), the old cdb stays" sh -c \
  "cp '$Q/valid-rcpt.cdb' '$T/keep.cdb'; printf 'good@x.test\\nno domain here\\n' > '$T/bad.list';
   '$SRC/rcptcheck-cdb' '$T/bad.list' '$T/keep.cdb' 2> '$T/bad.err'; [ \$? -eq 100 ] &&
   grep -q 'line 2' '$T/bad.err' && cmp -s '$T/keep.cdb' '$Q/valid-rcpt.cdb'"
check "missing qmail tree: a warning, recipients pass unchecked" sh -c \
  "printf 'HELO x\\r\\nMAIL FROM:<a@b>\\r\\nRCPT TO:<nobody@example.test>\\r\\nQUIT\\r\\n' |
   QMAILHOME=/nonexistent '$RC' ${FAKE[*]} plain '$T/rec.noq' 2> '$T/noq.err' | grep -q '^250 ok' &&
   grep -q 'warning: no local domains in /nonexistent/control' '$T/noq.err'"
check "usage: no program exits 100" sh -c "'$RC' 2>/dev/null; [ \$? -eq 100 ]"
check "usage: bad -t exits 100" sh -c "'$RC' -t x true 2>/dev/null; [ \$? -eq 100 ]"
check "exec failure: 421 to the client, exit 111, fatal line" sh -c \
  "'$RC' /nonexistent/prog < /dev/null > '$T/exec.out' 2> '$T/exec.err'; [ \$? -eq 111 ] &&
   grep -q '^421 ' '$T/exec.out' && grep -q '^rcptcheck: fatal: unable to exec /nonexistent/prog' '$T/exec.err'"
check "bad RCPTCHECK_MAXBAD: warning names the value" sh -c \
  "printf 'QUIT\r\n' | RCPTCHECK_MAXBAD=lots '$RC' ${FAKE[*]} plain '$T/rec.warn' 2>&1 >/dev/null | grep -q 'rcptcheck: warning: invalid RCPTCHECK_MAXBAD=lots, using default 10'"
one_done() {
  local f
  for f in exim slow ehlo dict 451a die hang garbage idle tarpit badcmd; do
    [ "$(grep -c '^rcptcheck: done ' "$T/$f.log")" -ge 1 ] || { echo "no done line in $f"; return 1; }
  done
  for f in slow ehlo dict 451a die hang garbage idle tarpit badcmd; do
    [ "$(grep -c '^rcptcheck: done ' "$T/$f.log")" -eq 1 ] || { echo "not one done line in $f"; return 1; }
  done
}
check "every one-session server above wrote exactly one done line" one_done
check "log lines are printable ASCII under 400 bytes" sh -c \
  "! cat '$T'/*.log | grep '^rcptcheck:' | LC_ALL=C grep -q '[^ -~]' && ! cat '$T'/*.log | grep '^rcptcheck:' | awk 'length > 399' | grep -q ."

finish
