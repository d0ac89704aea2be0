#!/bin/bash
# SPDX-License-Identifier: ISC
# rcptcheck against a qmail tree built here the way real hosts are set
# up: homes of mode 0700 owned by their users (Debian's default), with
# rcptcheck running as an unprivileged service user (njrfq, as qmaild);
# a .qmail-EXT that is a directory; a symbolic-link loop; user@[127.0.0.1]
# with control/localiphost; no alias user; a list message whose
# recipients alternate between valid and stale (exim as the tail, its log
# read for the recipients); a dictionary run of 1,000 addresses; empty
# local parts (source-routed, quoted, backslashed); a missing
# RCPTCHECK_CDB; and rcptcheck-homes' list for homes rcptcheck cannot
# search.
. "$(dirname "$0")/../lib.sh"
RC=${RCPTCHECK:-$SRC/rcptcheck}
PY=/usr/bin/python3
exim_tail

# ------------------------------------------------------------ the tree
Q=$T/qmail
H=$T/home
mkdir -p "$Q/control" "$Q/users" "$H" "$T/rec"
printf 'example.test\nlist.test\ncatch.test\n' > "$Q/control/locals"
echo mx.example.test > "$Q/control/me"
echo example.test > "$Q/control/localiphost"
echo example.test > "$Q/control/envnoathost"
printf 'alice@list.test\n@catch.test\n' > "$T/valid-rcpt"
"$SRC/rcptcheck-cdb" "$T/valid-rcpt" "$T/valid.cdb"

# The users are the machine's: runs of this file take turns (a lock held
# by a process of ours, killed by PID at the end, after drop_users).
USERS=(njrfq njrfjoe njrfann njrfalias)
drop_users() { local u; for u in "${USERS[@]}"; do userdel "$u" 2>/dev/null; done; return 0; }
flock -F -w 300 /tmp/najimi-rcptcheck-fidelity-users.lock sh -c ": > '$T/users.locked'; exec sleep 900" 2> /dev/null &
PIDS+=("$!")
wait_for 6000 test -e "$T/users.locked" || echo "# another run held the users' lock for 300 s; going on"
trap 'drop_users; cleanup' EXIT
drop_users
useradd -M -d /nonexistent -s /usr/sbin/nologin njrfq || echo "# useradd njrfq failed"
for u in njrfjoe njrfann njrfalias; do
  mkdir -p "$H/$u"
  useradd -M -d "$H/$u" -s /usr/sbin/nologin "$u" || echo "# useradd $u failed"
done
# njrfjoe: Debian's mode 0700 home, with a .qmail file, a -default, a
# directory and a symbolic-link loop
touch "$H/njrfjoe/.qmail-foo" "$H/njrfjoe/.qmail-bar-default"
mkdir "$H/njrfjoe/.qmail-dir"
ln -s .qmail-loop "$H/njrfjoe/.qmail-loop"
# njrfann: a home anyone can search, with the same kinds of entries
mkdir "$H/njrfann/.qmail-dir" "$H/njrfann/.qmail-lst-x"
touch "$H/njrfann/.qmail-lst-default"
ln -s .qmail-loop "$H/njrfann/.qmail-loop"
ln -s .qmail-lst-loop "$H/njrfann/.qmail-lst-loop"
# the alias user: postmaster, and m01..m25 (a list's valid recipients)
touch "$H/njrfalias/.qmail-postmaster"
for i in $(seq -w 1 25); do touch "$H/njrfalias/.qmail-m$i"; done
for u in njrfjoe njrfann njrfalias; do chown -R "$u:" "$H/$u"; done
chmod 700 "$H/njrfjoe"
chmod -R a+rX "$Q" "$T/valid.cdb"
chmod 755 "$H" "$H/njrfann" "$H/njrfalias"
chown njrfq: "$T/rec"

# The recording downstream: speaks just enough SMTP, appends every byte it
# received to its record file (then <EOF>). Mode "data354" answers 354 to
# any line that starts with DATA (DATAx, DATA:), as a careless server
# might.
cat > "$T/fake.py" <<'PY'
import os, sys
mode, rec = sys.argv[1], sys.argv[2]
log = open(rec, "ab", buffering=0)
os.write(1, b"220 fake ESMTP\r\n")
buf, indata = b"", False
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        log.write(b"<EOF>"); sys.exit(0)
    log.write(chunk)
    buf += chunk
    while True:
        if indata:
            i = buf.find(b"\r\n.\r\n")
            if i < 0: break
            buf, indata = buf[i + 5:], False
            os.write(1, b"250 accepted\r\n")
            continue
        i = buf.find(b"\r\n")
        if i < 0: break
        line, buf = buf[:i], buf[i + 2:]
        verb = line[:4].upper()
        if verb == b"DATA" and (line.upper() == b"DATA" or mode == "data354"):
            os.write(1, b"354 go ahead\r\n"); indata = True; buf = b"\r\n" + buf
        elif verb == b"QUIT":
            os.write(1, b"221 bye\r\n"); sys.exit(0)
        else:
            os.write(1, b"250 ok\r\n")
PY
chmod 644 "$T/fake.py"

# serve_q NAME [VAR=value...] -- [rcptcheck options]: rcptcheck as njrfq
# (the service user) on the tree, in front of the recorder $T/rec/NAME.
serve_q() {
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  REC=$T/rec/$name
  serve "$name" env QMAILHOME="$Q" "${envs[@]}" setuidgid njrfq "$RC" "$@" "$PY" "$T/fake.py" plain "$REC"
}
TO_RCPT="expect 220
helo q.test
mail <s@remote.test>"

# ------------------------------------------------------------ homes
# A mode-0700 home: rcptcheck (njrfq) cannot look inside. qmail, as root,
# will: the recipient is passed on and logged "unverified", never 451.
serve_q home0700 --
check "mode-0700 home: user-ext@ passed on (250), never 451" client "$PORT" "
$TO_RCPT
rcpt <njrfjoe-foo@example.test>
rcpt <njrfjoe-nope@example.test>
rcpt <njrfjoe@example.test>
quit"
check "mode-0700 home: logged unverified with the reason" logs home0700 '
expect-log ^rcptcheck: unverified ip=127\.0\.0\.1 pid=[0-9]+ rcpt=njrfjoe-foo@example\.test reason=home-unsearchable$
expect-log-count 2 ^rcptcheck: unverified 
expect-no-log ^rcptcheck: (defer|reject) '
check "mode-0700 home: both extensions reached the downstream" logs "$REC" "
expect-log-text RCPT TO:<njrfjoe-foo@example.test>
expect-log-text RCPT TO:<njrfjoe-nope@example.test>"
stop_server "$SERVER_PID"

# rcptcheck-homes (root, from cron) lists the homes; rcptcheck then
# decides for them after all. A home is listed once its last change is a
# moment old.
sleep 0.3
check "rcptcheck-homes: lists the homes" "$SRC/rcptcheck-homes" -q "$Q" -a njrfalias "$T/homes.cdb"
chmod 644 "$T/homes.cdb"
serve_q homes RCPTCHECK_HOMES="$T/homes.cdb" --
check "homes list: a mode-0700 home decided as qmail-local would" client "$PORT" "
$TO_RCPT
rcpt <njrfjoe-foo@example.test>
rcpt <njrfjoe-bar-x@example.test>
rcpt <njrfjoe-nope@example.test> 550
# a directory is no .qmail file (and there is no .qmail-default)
rcpt <njrfjoe-dir@example.test> 550
# a symbolic link cannot be judged from a list: qmail decides
rcpt <njrfjoe-loop@example.test>
quit"
check "homes list: verified without an unverified line, the link passed on unverified" logs homes '
expect-log ^rcptcheck: reject ip=127\.0\.0\.1 pid=[0-9]+ code=550 rcpt=njrfjoe-nope@example\.test$
expect-log ^rcptcheck: unverified .* rcpt=njrfjoe-loop@example\.test reason=home-symlink$
expect-log-count 1 ^rcptcheck: unverified '
touch "$H/njrfjoe/.qmail-new"
check "homes list: a home changed since the list: passed on unverified, never a false 550" client "$PORT" "
$TO_RCPT
rcpt <njrfjoe-new@example.test>
rcpt <njrfjoe-nope@example.test>
quit"
check "homes list: logged as home-changed" logs homes '
expect-log ^rcptcheck: unverified .* rcpt=njrfjoe-new@example\.test reason=home-changed$'
stop_server "$SERVER_PID"
serve_q homesgone RCPTCHECK_HOMES="$T/nosuch.cdb" --
check "homes list missing: passed on unverified" client "$PORT" "
$TO_RCPT
rcpt <njrfjoe-foo@example.test>
quit"
check "homes list missing: a warning names the file" logs homesgone "
expect-log ^rcptcheck: warning: unable to read RCPTCHECK_HOMES=$T/nosuch\\.cdb: "
stop_server "$SERVER_PID"

# ------------------------------------------------------------ stat, as qmail-local
serve_q stat --
check "a .qmail-EXT that is a directory is ignored, the search goes on" client "$PORT" "
$TO_RCPT
rcpt <njrfann-dir@example.test> 550
rcpt <njrfann-lst-x@example.test>
quit"
check "a symbolic-link loop (ELOOP) is no such file: 550, or the -default" client "$PORT" "
$TO_RCPT
rcpt <njrfann-loop@example.test> 550
rcpt <njrfann-lst-loop@example.test>
quit"
check "stat: ELOOP and a directory give no 451" logs stat '
expect-no-log ^rcptcheck: defer '
stop_server "$SERVER_PID"

# ------------------------------------------------------------ localiphost
serve_q liphost -- -a njrfalias
check "[127.0.0.1] is this host: checked as control/localiphost (example.test)" client "$PORT" "
$TO_RCPT
rcpt <njrfjoe@[127.0.0.1]>
rcpt <nobody@[127.0.0.1]> 550
rcpt <postmaster@[127.0.0.1]>
# not one of this host's addresses: not ours, passed on
rcpt <nobody@[192.0.2.1]>
quit"
check "[127.0.0.1]: the client's own words reach qmail-smtpd (it rewrites them itself)" logs "$REC" "
expect-log-text RCPT TO:<njrfjoe@[127.0.0.1]>
expect-log-text RCPT TO:<nobody@[192.0.2.1]>
expect-no-log-text RCPT TO:<nobody@[127.0.0.1]>"
stop_server "$SERVER_PID"

# ------------------------------------------------------------ the alias user
serve_q noalias -- -a njrfnoalias
check "no alias user: 451 4.3.0 (qmail defers), never 550" client "$PORT" "
$TO_RCPT
rcpt <nobody@example.test> 451
expect-text 4.3.0
rcpt <njrfjoe@example.test>
quit"
check "no alias user: logged as a defer with the reason" logs noalias '
expect-log ^rcptcheck: defer ip=127\.0\.0\.1 pid=[0-9]+ code=451 rcpt=nobody@example\.test reason=no-alias-user$'
stop_server "$SERVER_PID"

# ------------------------------------------------------------ empty local parts
serve_q empty RCPTCHECK_CDB="$T/valid.cdb" -- -a njrfalias
check "empty local parts: 550 5.1.1, source-routed, quoted and backslashed alike" client "$PORT" "
$TO_RCPT
rcpt <@a.b:@list.test> 550
expect-text 5.1.1
rcpt <\"@list.test\"> 550
rcpt <\\@list.test> 550
rcpt <\"\"@example.test> 550
rcpt <@hop.test:\"\"@catch.test> 550
rcpt <@example.test> 550
rcpt <alice@list.test>
rcpt <anyone@catch.test>
quit"
check "empty local parts: none reached the downstream" logs "$REC" "
expect-no-log-text TO:<@
expect-no-log-text TO:<\"
expect-no-log-text TO:<\\
expect-log-text RCPT TO:<alice@list.test>"
stop_server "$SERVER_PID"

# ------------------------------------------------------------ a missing list
serve_q nolist RCPTCHECK_CDB="$T/later.cdb" -- -a njrfalias
check "RCPTCHECK_CDB missing: 451 at local domains (never a false 550), others pass" client "$PORT" "
$TO_RCPT
rcpt <alice@list.test> 451
rcpt <bob@list.test> 451
rcpt <njrfjoe@example.test> 451
rcpt <x@remote.test>
quit"
check "RCPTCHECK_CDB missing: one warning naming the file, defers with the reason" logs nolist "
expect-log-count 1 ^rcptcheck: warning: unable to read RCPTCHECK_CDB=$T/later\\.cdb: No such file or directory
expect-log ^rcptcheck: defer ip=127\\.0\\.0\\.1 pid=[0-9]+ code=451 rcpt=alice@list\\.test reason=rcptcheck-cdb$"
cp "$T/valid.cdb" "$T/later.cdb"
check "RCPTCHECK_CDB back: the next session decides by it" client "$PORT" "
$TO_RCPT
rcpt <alice@list.test>
rcpt <bob@list.test> 550
quit"
stop_server "$SERVER_PID"

# ------------------------------------------------------------ the dictionary limit
# A list message, 25 valid and 25 stale recipients alternating, a valid
# one first, pipelined: every stale one gets its 550, the message reaches
# exactly the 25 valid ones (read from exim's log).
serve_exim list env QMAILHOME="$Q" "$RC" -a njrfalias
BURST="MAIL FROM:<list@remote.test>\\r\\n"
REPLIES="expect 250"
for i in $(seq -w 1 25); do
  BURST="${BURST}RCPT TO:<m$i@example.test>\\r\\nRCPT TO:<stale$i@example.test>\\r\\n"
  REPLIES="$REPLIES
expect 250
expect 550"
done
message "$T/list.msg" "a list message for 25 valid and 25 stale recipients"
maildir_mark
check "25 valid and 25 stale, alternating: 25 x 250, 25 x 550, no 421, accepted" client "$PORT" "
hello
raw ${BURST}DATA\\r\\n
$REPLIES
expect 354
data $T/list.msg
expect 250
quit"
check "25/25: exim delivered 25 copies" maildir_new 25 "$T/list.msg"
# delivered_to: exim's log names exactly m01..m25, each once.
delivered_to() {
  local got want
  got=$(sed -n 's/.* => [^ ]* <\([^>]*\)> .*/\1/p' "$T/exim/log/mainlog" | sort | tr '\n' ' ')
  want=$(for i in $(seq -w 1 25); do printf 'm%s@example.test ' "$i"; done)
  [ "$got" = "$want" ] && ! grep -q 'stale' "$T/exim/log/mainlog"
}
check "25/25: exactly the 25 valid recipients got it (exim's log)" \
  sh -c "$(declare -f wait_for delivered_to); T='$T'; wait_for 100 delivered_to || { grep '=>' '$T/exim/log/mainlog'; exit 1; }"
check "25/25: no limit line" logs list '
expect-log-count 25 ^rcptcheck: reject 
expect-no-log ^rcptcheck: limit '
stop_server "$SERVER_PID"

# A dictionary run: 1,000 unknown addresses pipelined. RCPTCHECK_MAXBAD
# (default 10) unknown ones, then 421 4.7.0 and the session is over.
serve_q dict -- -a njrfalias
GUESSES=
for i in $(seq 1 1000); do GUESSES="${GUESSES}RCPT TO:<guess$i@example.test>\\r\\n"; done
TEN550=$(for i in $(seq 1 10); do echo 'expect 550'; done)
check "dictionary run of 1,000: 10 x 550, then 421 4.7.0 and close" client "$PORT" "
hello
raw MAIL FROM:<s@remote.test>\\r\\n$GUESSES
expect 250
$TEN550
expect 421
expect-text 4.7.0
expect-eof"
check "dictionary run: cut after RCPTCHECK_MAXBAD, logged once with bad=10" logs dict '
expect-log ^rcptcheck: limit ip=127\.0\.0\.1 pid=[0-9]+ code=421 bad=10$
expect-log-count 10 ^rcptcheck: reject 
expect-log ^rcptcheck: done .* rcpt_bad=10 .*end=limit tls=no$'
check "dictionary run: no guess reached the downstream" logs "$REC" "
expect-no-log-text guess"
# With a valid recipient first, the run is still cut at its 10th guess.
check "one valid, then guesses: still cut after 10 unknown" client "$PORT" "
hello
raw MAIL FROM:<s@remote.test>\\r\\nRCPT TO:<njrfjoe@example.test>\\r\\n$GUESSES
expect 250
expect 250
$TEN550
expect 421
expect-eof"
stop_server "$SERVER_PID"

finish
