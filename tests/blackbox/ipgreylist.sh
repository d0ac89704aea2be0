#!/bin/bash
# SPDX-License-Identifier: ISC
# ipgreylist under the real tcpserver, with exim as the next program.
# Client addresses are simulated by "env TCPREMOTEIP=..." in front of
# ipgreylist (tcpserver sets it, env overrides it); elapsed time by touch -d.
# Each case is a transcript (tests/smtpclient.py), then what ipgreylist's
# log, its state files or exim's Maildir must hold.
# These are the rules of one key per address: GREYLIST_V4PREFIX=32 (round
# 1's default) unless a case sets it. The round-2 defaults (prefix and
# name keys, the known senders, observe mode, the refresh, clock steps)
# are tests/blackbox/ipgreylist-keys.sh.
. "$(dirname "$0")/../lib.sh"
export GREYLIST_V4PREFIX=32
exim_tail
GL=$SRC/ipgreylist
EXPIRE=$SRC/ipgreylist-expire
MKWL=$SRC/ipgreylist-mkwl
STATE=$T/state
mkdir -p "$STATE"

# The conversations.
# A message to postmaster, up to its RCPT (whose codes follow).
TO_POSTMASTER="ehlo client.test
mail <sender@example.test>
send RCPT TO:<postmaster@example.test>"
GREYLISTED="expect 220
expect-text ESMTP
$TO_POSTMASTER
expect 451
expect-text 451 4.7.1 greylisted
quit
expect-eof"
# The banner is exim's (tail.test): ipgreylist let the session through.
REACHED_EXIM="expect 220
expect-text tail.test"
# deliver PORT FILE: the whole transaction reaches exim.
deliver() {
  client "$1" "$REACHED_EXIM
ehlo client.test
$(message_steps "$2")"
}
# keyfile NAME: the state file of a key, wherever the fan-out put it.
keyfile() { find "$STATE" -name "$1" -type f; }
# one_key GLOB NAME: of the state files matching GLOB there is one, NAME.
one_key() {
  [ "$(find "$STATE" -name "$1" | wc -l)" -eq 1 ] && [ -n "$(find "$STATE" -name "$2")" ] ||
    { echo "# state files matching $1:"; find "$STATE" -name "$1"; return 1; }
}
# A state file is empty, its record in the attribute user.najimi (or, where
# a file system has no user attributes, its data): "2 STATE COUNT FIRST
# LAST TEXT" (round 1's "STATE COUNT" is still read). $GLSTATE FILE prints
# "STATE COUNT" of either; $GLSTATE -r FILE the record as it is;
# $GLSTATE FILE TEXT sets the attribute (without touching the mtime).
GLSTATE=$T/glstate
cat > "$GLSTATE" <<'PY'
#!/usr/bin/env python3
import os, sys
raw = sys.argv[1] == "-r"
f = sys.argv[2] if raw else sys.argv[1]
if not raw and len(sys.argv) > 2:
    os.setxattr(f, "user.najimi", (sys.argv[2] + "\n").encode(), follow_symlinks=False)
    sys.exit(0)
if os.lstat(f).st_size:
    rec = open(f, errors="replace").read()
else:
    try:
        rec = os.getxattr(f, "user.najimi", follow_symlinks=False).decode()
    except OSError:
        rec = ""
w = rec.split(" ")
if not raw and len(w) == 6 and w[0] == "2":
    rec = w[1] + " " + w[2] + "\n"
sys.stdout.write(rec)
PY
chmod +x "$GLSTATE"
# state_is FILE TEXT [FIND-TEST...]: the state in FILE is TEXT, and FILE
# passes the find tests (-empty: no data; -mmin -1: touched this minute).
state_is() {
  local f=$1 want=$2 got; shift 2
  got=$("$GLSTATE" "$f") || return 1
  [ "$got" = "$want" ] || { echo "# state of $f: '$got', want '$want'"; return 1; }
  [ $# -eq 0 ] || [ -n "$(find "$f" "$@")" ] || { echo "# $f fails find $*"; ls -l --time-style=+%T "$f"; return 1; }
}
# talk_log NAME SCRIPT REGEX: the conversation succeeds, then NAME.log has
# a line matching REGEX.
talk_log() { client "$PORT" "$2
log $T/$1.log
expect-log $3"; }
# gl_serve NAME IP [VAR=value...] -- [ipgreylist options]: ipgreylist for IP, exim next.
gl_serve() {
  local name=$1 ip=$2; shift 2
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  serve "$name" env TCPREMOTEIP="$ip" "${envs[@]}" "$GL" -d "$STATE" "$@" "${EXIM[@]}"
}

# --- a stranger, too soon, back in time, a regular, a lapsed regular ---

gl_serve stranger 192.0.2.9 --
check "stranger: 451 4.7.1 at RCPT, our banner (not exim's)" client "$PORT" "$GREYLISTED"
check "stranger: one empty file created, pending with count 0 in its attribute" \
  state_is "$(keyfile 192.0.2.9)" 'pending 0' -empty
check "stranger: log line new with code=451 and age" logs stranger '
expect-log ^ipgreylist: new ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.9 keyby=ip age=0 code=451$'

check "too soon: 451 again" client "$PORT" "$GREYLISTED"
check "too soon (swaks): 451 4.7.1 at RCPT" sh -c "swaks --server 127.0.0.1:$PORT --to postmaster@example.test --from s@example.test --timeout 10 > '$T/swaks1.out' 2>&1; grep -q '<\*\* *451 4.7.1' '$T/swaks1.out'"
check "too soon: logged with the count (1, then 2)" logs stranger '
expect-log ^ipgreylist: too-soon ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.9 keyby=ip age=[0-9]+ count=1 min=300 code=451$
expect-log [ ]too-soon .* count=2 .*code=451$'
check "too soon: first-seen time kept, count stored" state_is "$(keyfile 192.0.2.9)" 'pending 2' -mmin -2
check "too soon: nothing reached exim" test "$(maildir_count)" -eq 0

touch -d '-6 minutes' "$(keyfile 192.0.2.9)"
message "$T/m1" "first message after greylisting"
check "after the minimum: passes through to exim" deliver "$PORT" "$T/m1"
check "after the minimum: the message arrived" maildir_got "$T/m1"
check "after the minimum: logged as pass with age and count" logs stranger '
expect-log ^ipgreylist: pass ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.9 keyby=ip age=36[0-9] count=2$'
check "after the minimum: the key is a regular, mtime now" state_is "$(keyfile 192.0.2.9)" 'regular 2' -mmin -1

check "regular (swaks): passes at once, message delivered" swaks --server "127.0.0.1:$PORT" \
  --to postmaster@example.test --from admin@example.test --timeout 10
check "regular: logged as regular" logs stranger '
expect-log ^ipgreylist: regular ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.9 keyby=ip age=[0-9]+$'
touch -d '-30 days' "$(keyfile 192.0.2.9)"
message "$T/m2" "a regular 30 days later"
check "regular after 30 days: passes" deliver "$PORT" "$T/m2"
check "regular after 30 days: the pass refreshed the mtime" sh -c "[ -n \"\$(find '$(keyfile 192.0.2.9)' -mmin -1)\" ]"
check "regular after 30 days: logged age=2592000" logs stranger '
expect-log [ ]regular .* age=259200[0-9]$'
touch -d '-37 days' "$(keyfile 192.0.2.9)"
check "lapsed regular (37 days): a stranger again, 451" client "$PORT" "$GREYLISTED"
check "lapsed regular: logged new reset=lapsed" logs stranger '
expect-log ^ipgreylist: new ip=192\.0\.2\.9 pid=[0-9]+ key=192\.0\.2\.9 keyby=ip age=0 reset=lapsed was=319680[0-9] code=451$'
check "lapsed regular: file pending again" state_is "$(keyfile 192.0.2.9)" 'pending 0'
touch -d '-25 hours' "$(keyfile 192.0.2.9)"
check "pending older than the window: a stranger again, 451" client "$PORT" "$GREYLISTED"
check "stale pending: logged new reset=stale" logs stranger '
expect-log [ ]new .* reset=stale was=9000[0-9] code=451$'
check "one log line per decision (8 sessions so far)" logs stranger '
expect-log-count 8 ^ipgreylist: '
stop_server "$SERVER_PID"

# Other limits: GREYLIST_MIN=0 lets the second attempt through.
gl_serve minzero 192.0.2.10 GREYLIST_MIN=0 GREYLIST_WINDOW=600 --
check "GREYLIST_MIN=0: first attempt 451" client "$PORT" "$GREYLISTED"
message "$T/m3" "min zero"
check "GREYLIST_MIN=0: second attempt passes" deliver "$PORT" "$T/m3"
stop_server "$SERVER_PID"

# -D: 250 to RCPT (so sender-verification callouts succeed), 451 at DATA.
gl_serve atdata 192.0.2.11 -- -D
check "-D: a callout (MAIL, RCPT, QUIT) succeeds" client "$PORT" "
expect 220
helo callout.test
mail <>
rcpt <postmaster@example.test>
quit"
check "-D: 451 4.7.1 at DATA" client "$PORT" "
hello
mail <sender@example.test>
rcpt <postmaster@example.test>
send DATA
expect 451
expect-text 4.7.1
send RSET
expect 250
quit"
stop_server "$SERVER_PID"

# The refusal session ends after -t seconds.
gl_serve timeout 192.0.2.12 -- -t 1
check "-t 1: the refusal session closes without QUIT" client --timeout 4 "$PORT" "
hello slow.test
expect-eof"
stop_server "$SERVER_PID"

# --- the tri-state GREYLIST and RELAYCLIENT, through real tcprules cdbs ---

rules() { printf '%s\n' "$1" | tcprules "$T/$2.cdb" "$T/$2.tmp"; }
rules '127.0.0.1:allow,GREYLIST=""' empty
rules '127.0.0.1:allow,GREYLIST="you are not welcome today"' text
rules '127.0.0.1:allow,GREYLIST="-go away for good"' perm
rules '127.0.0.1:allow,RELAYCLIENT=""' relay
rules '127.0.0.1:allow' plain
# no_state IP: ipgreylist made no state file for IP.
no_state() { [ -z "$(find "$STATE" -name "$1")" ]; }
TCPSERVER_OPTS="-x $T/empty.cdb" gl_serve empty 198.18.0.1 --
message "$T/m4" "whitelisted by tcprules"
check "GREYLIST empty (tcprules): a stranger passes, message delivered" deliver "$PORT" "$T/m4"
check "GREYLIST empty: logged whitelisted by=GREYLIST" logs empty '
expect-log ^ipgreylist: whitelisted ip=198\.18\.0\.1 pid=[0-9]+ by=GREYLIST$'
check "GREYLIST empty: no state file" no_state 198.18.0.1
stop_server "$SERVER_PID"
TCPSERVER_OPTS="-x $T/text.cdb" gl_serve text 198.18.0.2 --
check "GREYLIST=text (tcprules): 451 4.7.1 with that text" client "$PORT" "
expect 220
$TO_POSTMASTER
expect 451
expect-text 451 4.7.1 you are not welcome today
quit"
check "GREYLIST=text: logged refused code=451" logs text '
expect-log ^ipgreylist: refused ip=198\.18\.0\.2 pid=[0-9]+ by=GREYLIST text=you\?are\?not\?welcome\?today code=451$'
stop_server "$SERVER_PID"
TCPSERVER_OPTS="-x $T/perm.cdb" gl_serve perm 198.18.0.3 --
check "GREYLIST=-text (tcprules): 553 5.7.1 with that text" client "$PORT" "
expect 220
$TO_POSTMASTER
expect 553
expect-text 553 5.7.1 go away for good
send DATA
expect 553
quit"
check "GREYLIST=-text: logged refused code=553" logs perm '
expect-log ^ipgreylist: refused ip=198\.18\.0\.3 pid=[0-9]+ by=GREYLIST text=go\?away\?for\?good code=553$'
stop_server "$SERVER_PID"
TCPSERVER_OPTS="-x $T/plain.cdb" gl_serve plain 198.18.0.4 --
check "GREYLIST unset (tcprules without it): decided normally, 451" client "$PORT" "$GREYLISTED"
check "GREYLIST unset: a state file was made" test -n "$(keyfile 198.18.0.4)"
stop_server "$SERVER_PID"
TCPSERVER_OPTS="-x $T/relay.cdb" gl_serve relay 198.18.0.5 --
message "$T/m5" "relay client"
check "RELAYCLIENT (tcprules): a stranger passes, message delivered" deliver "$PORT" "$T/m5"
check "RELAYCLIENT: logged relayclient" logs relay '
expect-log ^ipgreylist: relayclient ip=198\.18\.0\.5 pid=[0-9]+$'
check "RELAYCLIENT: no state file" no_state 198.18.0.5
stop_server "$SERVER_PID"
gl_serve crlf 198.18.0.6 GREYLIST=$'bad\r\n250 2.0.0 injected' --
check "GREYLIST text with CR LF: one reply line, nothing injected" client "$PORT" "
expect 220
$TO_POSTMASTER
expect 451
expect-text 451 4.7.1 bad??250 2.0.0 injected
quit"
stop_server "$SERVER_PID"

# --- keys: v4 /24, v6 /64, ::ffff: ---

gl_serve p24a 198.51.100.7 GREYLIST_V4PREFIX=24 --
check "v4 /24: first address of the /24 is new" client "$PORT" "$GREYLISTED"
stop_server "$SERVER_PID"
gl_serve p24b 198.51.100.200 GREYLIST_V4PREFIX=24 --
check "v4 /24: another address of the same /24 is too soon" client "$PORT" "$GREYLISTED"
check "v4 /24: one key 198.51.100.0-24" one_key '198.51.100.*' 198.51.100.0-24
check "v4 /24: logged too-soon" logs p24b '
expect-log too-soon ip=198.51.100.200 .*key=198.51.100.0-24 '
touch -d '-10 minutes' "$(keyfile 198.51.100.0-24)"
stop_server "$SERVER_PID"
gl_serve p24c 198.51.100.99 GREYLIST_V4PREFIX=24 --
message "$T/m6" "a third address of the /24"
check "v4 /24: a third address passes once the /24 waited" deliver "$PORT" "$T/m6"
stop_server "$SERVER_PID"
gl_serve v6a 2001:db8:1:2::5 --
check "v6: first address of the /64 is new" client "$PORT" "$GREYLISTED"
stop_server "$SERVER_PID"
gl_serve v6b 2001:db8:1:2:ffff:eeee:dddd:9 --
check "v6: another address of the same /64 is too soon" client "$PORT" "$GREYLISTED"
check "v6: logged with key 2001:db8:1:2::-64" logs v6b '
expect-log ^ipgreylist: too-soon ip=2001:db8:1:2:ffff:eeee:dddd:9 pid=[0-9]+ key=2001:db8:1:2::-64 '
stop_server "$SERVER_PID"
gl_serve v6c 2001:db8:1:3::5 --
check "v6: the next /64 is a different key (new)" client "$PORT" "$GREYLISTED"
check "v6: logged new key=2001:db8:1:3::-64" logs v6c '
expect-log [ ]new .*key=2001:db8:1:3::-64 '
stop_server "$SERVER_PID"
gl_serve mapped ::ffff:192.0.2.77 --
check "::ffff:192.0.2.77: new as 192.0.2.77" client "$PORT" "$GREYLISTED"
stop_server "$SERVER_PID"
gl_serve plain4 192.0.2.77 --
check "192.0.2.77 after ::ffff:192.0.2.77: the same key, too soon" client "$PORT" "$GREYLISTED"
check "::ffff: is v4: one file named 192.0.2.77" one_key '*192.0.2.77*' 192.0.2.77
check "::ffff: is v4: logged ip=192.0.2.77" logs mapped "
expect-log ^ipgreylist: new ip=192.0.2.77[ ]
log $T/plain4.log
expect-log ^ipgreylist: too-soon ip=192.0.2.77 "
stop_server "$SERVER_PID"

# --- bad TCPREMOTEIP values never name a file ---

touch "$T/marker"
sleep 1
N0=$(find "$STATE" | wc -l)
i=0
for bad in '' '../../../etc/passwd' '256.1.1.1' '1.2.3' '1.2.3.4/24' '192.0.2.1 ' ' 192.0.2.1' \
           '192.0.2.1/../../x' "$(printf '1%.0s' $(seq 1 300))" '::ffff:300.1.1.1' 'fe80::1%eth0' 'a:b:c'; do
  i=$((i+1))
  gl_serve badip$i "$bad" --
  check "bad TCPREMOTEIP '${bad:0:40}': 451, logged bad-ip" talk_log badip$i "$GREYLISTED" \
    '^ipgreylist: bad-ip ip=unknown pid=[0-9]+ raw=[!-~]+ code=451$'
  stop_server "$SERVER_PID"
done
serve badip-unset env -u TCPREMOTEIP "$GL" -d "$STATE" "${EXIM[@]}"
check "TCPREMOTEIP unset: 451, logged raw=(unset)" talk_log badip-unset "$GREYLISTED" \
  '^ipgreylist: bad-ip ip=unknown pid=[0-9]+ raw=\(unset\) code=451$'
stop_server "$SERVER_PID"
check "bad TCPREMOTEIP: no new file in the state tree" test "$(find "$STATE" | wc -l)" -eq "$N0"
# new_files: what appeared in $T since the marker, besides logs and exim's files
new_files() {
  find "$T" -newer "$T/marker" ! -name '*.log' ! -name '*.port' ! -name check.out ! -path "$T/exim*" ! -path "$T"
}
none_new() { local f; f=$(new_files); [ -z "$f" ] || { echo "$f"; return 1; }; }
check "bad TCPREMOTEIP: no file made outside the tree either (find -newer)" none_new

# --- the state files: symlinks, corrupt, future ---

# planted symlink at the key's own name: replaced, its target untouched
SCR=$T/scratch
mkdir -p "$SCR"
PROTO=TCP TCPREMOTEIP=192.0.2.50 "$GL" -d "$SCR" true < /dev/null > /dev/null 2>&1
rel=$(cd "$SCR" && find . -name 192.0.2.50)
mkdir -p "$STATE/$(dirname "$rel")"
echo "precious" > "$T/victim"
ln -s "$T/victim" "$STATE/$rel"
gl_serve symlink 192.0.2.50 --
check "symlink at the key: 451 new, logged reset=symlink" talk_log symlink "$GREYLISTED" \
  '[ ]new ip=192\.0\.2\.50 .* reset=symlink code=451$'
check "symlink at the key: target untouched, link replaced by a plain file" sh -c "
  [ \"\$(cat '$T/victim')\" = precious ] && [ ! -L '$STATE/$rel' ] && [ \"\$('$GLSTATE' '$STATE/$rel')\" = 'pending 0' ]"
stop_server "$SERVER_PID"
# planted symlink as a fan-out directory: not followed, fail open
PROTO=TCP TCPREMOTEIP=192.0.2.51 "$GL" -d "$SCR" true < /dev/null > /dev/null 2>&1
rel=$(cd "$SCR" && find . -name 192.0.2.51)
d1=$(echo "$rel" | cut -d/ -f2)
mkdir -p "$T/elsewhere" "$T/sym"
ln -s "$T/elsewhere" "$T/sym/$d1"
serve symdir env TCPREMOTEIP=192.0.2.51 "$GL" -d "$T/sym" "${EXIM[@]}"
check "symlinked fan-out directory: not followed, session goes on (fail open)" client "$PORT" "
$REACHED_EXIM
quit"
check "symlinked fan-out directory: nothing created behind it" sh -c "[ -z \"\$(ls -A '$T/elsewhere')\" ]"
check "symlinked fan-out directory: error logged" logs symdir '
expect-log ^ipgreylist: error ip=192\.0\.2\.51 pid=[0-9]+ key=192\.0\.2\.51 op=subdir path=.* errno=(ELOOP|ENOTDIR) then=pass$'
stop_server "$SERVER_PID"
# the site's own symlink in DIR's path is followed (only nothing under
# DIR may be one): a regular's one-lookup read fails there (ELOOP) and
# the read from DIR opened answers
mkdir -p "$T/realstate"
ln -s "$T/realstate" "$T/linkstate"
serve linkdir env TCPREMOTEIP=192.0.2.52 "$GL" -d "$T/linkstate" "${EXIM[@]}"
check "DIR through a symlink: a stranger is greylisted" client "$PORT" "$GREYLISTED"
f=$(find "$T/realstate" -type f -name '192.0.2.*')
check "DIR through a symlink: the record is made in the real directory" test -n "$f"
[ -n "$f" ] && touch -d '-10 minutes' "$f"
check "DIR through a symlink: retried after the delay, passes" client "$PORT" "$REACHED_EXIM
quit"
check "DIR through a symlink: a regular, passes again" client "$PORT" "$REACHED_EXIM
quit"
check "DIR through a symlink: logged as a regular" logs linkdir '
expect-log ^ipgreylist: regular ip=192\.0\.2\.52 '
stop_server "$SERVER_PID"

# empty, garbage, huge and future-dated files are reset
gl_serve corrupt 192.0.2.60 --
client "$PORT" "$GREYLISTED" > /dev/null
f=$(keyfile 192.0.2.60)
for kind in empty garbage huge future notanumber badattr; do
  case $kind in
    empty) rm -f "$f"; : > "$f" ;;                                  # no attribute
    garbage) printf 'regular \377\377 42\n' > "$f" ;;
    huge) head -c 100000 /dev/zero | tr '\0' 'r' > "$f"; touch -d '-1 hour' "$f" ;;
    future) "$GLSTATE" "$f" 'regular 0'; touch -d '+2 days' "$f" ;;
    badattr) rm -f "$f"; : > "$f"; "$GLSTATE" "$f" 'regular x' ;;
    notanumber) printf 'regular 99999999999999999999\n' > "$f" ;;
  esac
  : > "$T/corrupt.log"
  check "$kind state file: reset, 451 as a stranger" client "$PORT" "$GREYLISTED"
  check "$kind state file: logged reset" logs corrupt '
expect-log [ ]new ip=192\.0\.2\.60 .* reset=(corrupt|future) code=451$'
  check "$kind state file: file valid again" state_is "$f" 'pending 0' -empty -mmin -1
done
printf 'regular 3\n' > "$f"
check "a state file in the data format (no attributes) is read too: a regular passes" talk_log corrupt "$REACHED_EXIM
quit" '[ ]regular ip=192\.0\.2\.60 pid=[0-9]+ key=192\.0\.2\.60 keyby=ip age=[0-9]+$'
stop_server "$SERVER_PID"

# --- 100 simultaneous first connections from one IP: exactly one record ---

# (a listen backlog of 200, so that the kernel does not drop handshakes)
TCPSERVER_OPTS="-b 200" gl_serve race 192.0.2.70 --
check "concurrency: 100 simultaneous first connections all get 220" python3 - "$PORT" <<'PY'
import socket, sys, threading
port = int(sys.argv[1]); n = 100; go = threading.Barrier(n); bad = []
def one():
    try:
        go.wait()
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        data = b""
        while not data.endswith(b"\r\n"):
            d = s.recv(512)
            if not d: break
            data += d
        if not data.startswith(b"220 "): bad.append(data)
        s.sendall(b"QUIT\r\n"); s.recv(512); s.close()
    except Exception as e:
        bad.append(repr(e))
ts = [threading.Thread(target=one) for _ in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
print(bad[:3]); sys.exit(1 if bad else 0)
PY
check "concurrency: 100 decisions logged, exactly one new" logs race '
expect-log-count 100 ^ipgreylist: .* ip=192.0.2.70[ ]
expect-log-count 1 ^ipgreylist: new ip=192.0.2.70 '
check "concurrency: exactly one valid record, no temporary file left" sh -c "
  [ \$(find '$STATE' -name '*192.0.2.70*' | wc -l) -eq 1 ] && '$GLSTATE' '$(keyfile 192.0.2.70)' | grep -Eqx 'pending [0-9]+' &&
  [ -z \"\$(find '$STATE' -name '.tmp.*')\" ] && ! grep -q ' error ' '$T/race.log'"
stop_server "$SERVER_PID"

# --- failures: read-only directory (as nobody), EMFILE; fail open, -c closed ---

mkdir -p "$T/ro"
chmod 555 "$T/ro"
NEXT=(sh -c 'printf "220 next.test ESMTP\r\n"; read -r x; printf "221 bye\r\n"')
serve ro env TCPREMOTEIP=192.0.2.80 setuidgid nobody "$GL" -d "$T/ro" "${NEXT[@]}"
# The banner is the next program's: ipgreylist let the session through.
REACHED_NEXT="expect 220
expect-text next.test"
check "read-only directory: fails open, the next program answers" client "$PORT" "
$REACHED_NEXT
quit"
check "read-only directory: error logged with path and errno, then=pass" \
  logs ro '
expect-log ^ipgreylist: error ip=192\.0\.2\.80 pid=[0-9]+ key=192\.0\.2\.80 op=subdir path=.*/ro/[0-9a-f]{2}/[0-9a-f]{2}/192\.0\.2\.80 errno=EACCES then=pass$'
stop_server "$SERVER_PID"
serve roc env TCPREMOTEIP=192.0.2.80 setuidgid nobody "$GL" -c -d "$T/ro" "${NEXT[@]}"
check "read-only directory with -c: fails closed, 451 4.3.0 at RCPT" client "$PORT" "
expect 220
$TO_POSTMASTER
expect 451
expect-text 451 4.3.0
quit"
check "read-only directory with -c: error logged with code=451" \
  logs roc '
expect-log ^ipgreylist: error ip=192\.0\.2\.80 pid=[0-9]+ .*errno=EACCES code=451$'
stop_server "$SERVER_PID"
serve emfile env TCPREMOTEIP=192.0.2.81 sh -c 'ulimit -n 4; exec "$@"' sh "$GL" -d "$STATE" "${NEXT[@]}"
check "EMFILE: fails open, the next program answers" client "$PORT" "
$REACHED_NEXT
quit"
check "EMFILE: error logged with errno=EMFILE" logs emfile '
expect-log [ ]error ip=192\.0\.2\.81 .*errno=EMFILE then=pass$'
stop_server "$SERVER_PID"
serve nodir env TCPREMOTEIP=192.0.2.82 "$GL" -d "$T/does-not-exist" "${NEXT[@]}"
check "missing state directory: fails open, logged op=open-dir errno=ENOENT" talk_log nodir "$REACHED_NEXT" \
  '[ ]error ip=192\.0\.2\.82 .*op=open-dir .*errno=ENOENT then=pass$'
stop_server "$SERVER_PID"

# Invalid GREYLIST_* values: a warning naming the value, then the default.
: > "$T/badenv.log"
gl_serve badenv 192.0.2.90 GREYLIST_MIN=abc GREYLIST_WINDOW=-1 GREYLIST_LIFETIME= GREYLIST_V4PREFIX=33 GREYLIST_ONLY=sometimes --
check "invalid GREYLIST_* values: still greylisted" client "$PORT" "$GREYLISTED"
for w in 'invalid GREYLIST_MIN=abc, using default 300' 'invalid GREYLIST_WINDOW=-1, using default 86400' \
         'invalid GREYLIST_LIFETIME=(empty), using default 3110400' 'invalid GREYLIST_V4PREFIX=33, using default 24' \
         'invalid GREYLIST_ONLY=sometimes, using default all'; do
  check "warning: $w" logs badenv "
expect-log-text ipgreylist: warning: $w"
done
touch -d '-100 seconds' "$(keyfile 192.0.2.0-24)"
check "invalid GREYLIST_MIN: the default 300 applies (100 s is too soon)" client "$PORT" "$GREYLISTED"
check "invalid GREYLIST_V4PREFIX: the default /24 key" test -n "$(keyfile 192.0.2.0-24)"
stop_server "$SERVER_PID"

# --- the whitelist cdb ---

cat > "$T/wl.src" <<'W'
# a test whitelist
203.0.113.5
198.51.100.128/25            # a network
2001:db8:aa::/48
mail.partner.example
.friends.example
192.0.2.200  2020-01-01      # expired
.old.example 2020-01-31
203.0.113.9  2099-12-31      # not yet
W
check "ipgreylist-mkwl compiles the source (temp file + rename)" sh -c "
  '$MKWL' '$T/wl.cdb' '$T/wl.tmp' < '$T/wl.src' && [ -f '$T/wl.cdb' ] && [ ! -e '$T/wl.tmp' ]"
check "the whitelist cdb is tinycdb's (cdb -q reads an entry)" sh -c "[ \"\$(cdb -q '$T/wl.cdb' 192.0.2.200/32)\" = 2020-01-01 ]"
wl_case() {  # wl_case NAME IP HOST EXPECT(pass|grey)
  local name=$1 ip=$2 host=$3 want=$4
  if [ -n "$host" ]; then gl_serve "wl$name" "$ip" TCPREMOTEHOST="$host" -- -w "$T/wl.cdb"
  else gl_serve "wl$name" "$ip" -- -w "$T/wl.cdb"; fi
  if [ "$want" = pass ]; then
    message "$T/wl$name.msg" "whitelisted $name"
    check "whitelist $name ($ip ${host:-no host}): passes, delivered" deliver "$PORT" "$T/wl$name.msg"
    check "whitelist $name: logged whitelisted by=cdb" logs "wl$name" '
expect-log ^ipgreylist: whitelisted ip=[^ ]+ pid=[0-9]+ by=cdb match='
  else
    check "whitelist $name ($ip ${host:-no host}): no match, 451" client "$PORT" "$GREYLISTED"
  fi
  stop_server "$SERVER_PID"
}
wl_case ip 203.0.113.5 "" pass
wl_case cidr 198.51.100.200 "" pass
wl_case cidr-outside 198.51.100.127 "" grey
wl_case v6cidr 2001:db8:aa:77::1 "" pass
wl_case suffix 192.0.2.101 mx1.Friends.Example pass
wl_case exact 192.0.2.102 MAIL.partner.example. pass
wl_case suffix-notself 192.0.2.103 friends.example grey
wl_case exact-notsub 192.0.2.104 x.mail.partner.example grey
wl_case expired-ip 192.0.2.200 "" grey
wl_case expired-suffix 192.0.2.105 mx.old.example grey
wl_case future-date 203.0.113.9 "" pass
check "whitelist: an expired entry is noted in the decision line" logs wlexpired-ip '
expect-log [ ]new ip=192\.0\.2\.200 .* whitelist=expired$'
check "whitelist: the CIDR match is logged as the network" logs wlcidr '
expect-log [ ]match=198\.51\.100\.128/25$'
check "whitelist: the suffix match is logged" logs wlsuffix '
expect-log [ ]match=\.friends\.example$'
# GREYLIST_WHITELIST overrides -w; a missing or corrupt cdb is logged and empty
gl_serve wlenv 203.0.113.5 GREYLIST_WHITELIST="$T/wl.cdb" -- -w "$T/nonexistent.cdb"
check "GREYLIST_WHITELIST: used instead of -w" talk_log wlenv "$REACHED_EXIM" \
  '[ ]whitelisted ip=203\.0\.113\.5 pid=[0-9]+ by=cdb match=203\.0\.113\.5/32$'
stop_server "$SERVER_PID"
gl_serve wlmissing 203.0.113.5 -- -w "$T/nonexistent.cdb"
check "missing whitelist cdb: treated as empty (451)" client "$PORT" "$GREYLISTED"
check "missing whitelist cdb: a warning names the file" logs wlmissing "
expect-log-text ipgreylist: warning: whitelist $T/nonexistent.cdb cannot be read: ENOENT, treated as empty"
stop_server "$SERVER_PID"
head -c 4000 /dev/urandom > "$T/corrupt.cdb"
gl_serve wlcorrupt 203.0.113.5 -- -w "$T/corrupt.cdb"
check "corrupt whitelist cdb: treated as empty (451 too soon)" client "$PORT" "$GREYLISTED"
check "corrupt whitelist cdb: a warning names the file" logs wlcorrupt "
expect-log-text ipgreylist: warning: whitelist $T/corrupt.cdb is corrupt, treated as empty"
stop_server "$SERVER_PID"
printf '192.0.2.1\nnot/valid/entry\n' > "$T/wlbad.src"
check "ipgreylist-mkwl: a bad line is refused with its number, exit 100, old cdb kept" sh -c "
  cp '$T/wl.cdb' '$T/keep.cdb'; '$MKWL' '$T/keep.cdb' '$T/keep.tmp' < '$T/wlbad.src' 2> '$T/mkwl.err'; rc=\$?
  [ \$rc -eq 100 ] && grep -q 'line 2' '$T/mkwl.err' && cmp -s '$T/wl.cdb' '$T/keep.cdb' && [ ! -e '$T/keep.tmp' ]"
check "the shipped example whitelist compiles" sh -c "'$MKWL' '$T/ex.cdb' '$T/ex.tmp' < '$TOP/control/greylist-whitelist'"

# --- selective mode ---

i=0
sel() {  # sel NAME HOST pass|grey [VAR=value...]
  local name=$1 host=$2 want=$3; shift 3
  i=$((i+1))
  local envs=(GREYLIST_ONLY=suspicious "$@")
  [ -n "$host" ] && envs+=(TCPREMOTEHOST="$host")
  gl_serve "sel$name" "203.0.113.$((100 + i))" "${envs[@]}" --
  if [ "$want" = pass ]; then
    check "selective $name (${host:-no rDNS}): let through" talk_log "sel$name" "$REACHED_EXIM
quit" "^ipgreylist: not-suspicious ip=203\.0\.113\.$((100 + i)) pid=[0-9]+ host=$host\$"
  else
    check "selective $name (${host:-no rDNS}): greylisted" client "$PORT" "$GREYLISTED"
  fi
  stop_server "$SERVER_PID"
}
sel named mail.example.org pass
sel nordns "" grey
sel dsl dsl-203-0-113-7.isp.example grey
sel fournumbers host203.0.113.7.example grey
sel dashes 7-113-0-203.static.example grey
sel dynamic pool-42.dynamic.example grey
sel hex cb007107.cust.example grey
printf '%s\n' '# test patterns' '(unclosed' '\.cable\.' > "$T/patterns"
sel custom-match x.cable.example grey GREYLIST_PATTERNS="$T/patterns"
sel custom-nomatch dsl-1-2-3-4.isp.example pass GREYLIST_PATTERNS="$T/patterns"
check "pattern file: an invalid pattern is warned about with its line" logs selcustom-match "
expect-log-text invalid pattern in $T/patterns line 2, skipped"
sel shipped dsl-9.isp.example grey GREYLIST_PATTERNS="$TOP/control/dynamic-patterns"
sel shipped-named smtp.example.org pass GREYLIST_PATTERNS="$TOP/control/dynamic-patterns"
sel all mail.example.org grey GREYLIST_ONLY=all

# --- ipgreylist-expire ---

E=$T/expire
mkdir -p "$E"
mk() {  # mk IP STATE AGE [KEY]: a state file made by ipgreylist itself, then aged
  PROTO=TCP TCPREMOTEIP=$1 "$GL" -d "$E" true < /dev/null > /dev/null 2>&1
  local f; f=$(find "$E" -name "${4:-$1}")
  [ "$2" = regular ] && "$GLSTATE" "$f" 'regular 1'
  [ "$2" = text-regular ] && echo 'regular 1' > "$f"   # the data format of file systems without attributes
  touch -d "$3" "$f"
}
mk 10.0.0.1 pending '-1 hour'          # kept: within the window
mk 10.0.0.2 pending '-23 hours'        # kept
mk 10.0.0.3 pending '-25 hours'        # stale
mk 10.0.0.4 pending '-40 days'         # stale
mk 10.0.0.5 regular '-1 hour'          # kept
mk 10.0.0.6 regular '-2 days'          # kept: regulars live 36 days
mk 10.0.0.7 text-regular '-35 days'    # kept
mk 10.0.0.8 regular '-37 days'         # lapsed
mk 2001:db8:9::1 regular '-100 days' 2001:db8:9::-64  # lapsed
d=$(dirname "$(find "$E" -name 10.0.0.1)")
case $d in "$E"/*) ;; *) echo "# no record for 10.0.0.1 under $E"; d=$E/missing; mkdir -p "$d" ;; esac
echo 'pending 0' > "$d/.tmp.999999"; touch -d '-2 hours' "$d/.tmp.999999"   # a crash's leftover
echo 'pending 0' > "$d/.tmp.999998"                                         # a live session's
echo 'not ours' > "$d/README"; touch -d '-400 days' "$d/README"            # a foreign file
find "$E" -type f | sort > "$T/before"
check "ipgreylist-expire: exit 0, summary counts (-v)" sh -c "
  '$EXPIRE' -v '$E' > '$T/expire.out' &&
  grep -qx 'ipgreylist-expire: done files=9 kept=5 stale=2 lapsed=2 corrupt=0 tmp=1 skipped=1 errors=0' '$T/expire.out'"
find "$E" -type f | sort > "$T/after"
check "ipgreylist-expire: removed exactly the stale files" sh -c "
  comm -23 '$T/before' '$T/after' | xargs -n1 basename | LC_ALL=C sort | tr '\n' ' ' | grep -qx '.tmp.999999 10.0.0.3 10.0.0.4 10.0.0.8 2001:db8:9::-64 ' &&
  [ \$(comm -13 '$T/before' '$T/after' | wc -l) -eq 0 ]" 
check "ipgreylist-expire: -j 1 and -j 5 (parallel workers) count the same" sh -c "
  a=\$('$EXPIRE' -n -j 1 '$E' | tail -n1); b=\$('$EXPIRE' -n -j 5 '$E' | tail -n1); [ \"\$a\" = \"\$b\" ] && echo \"\$a\" | grep -q ' files=5 '"
check "ipgreylist-expire: a second run removes nothing" sh -c "
  '$EXPIRE' -v '$E' | grep -qx 'ipgreylist-expire: done files=5 kept=5 stale=0 lapsed=0 corrupt=0 tmp=0 skipped=1 errors=0'"
mk 10.0.0.21 pending '-2 days'
check "ipgreylist-expire without -v: silent on success (cron mails nothing), and it did remove" sh -c "
  '$EXPIRE' '$E' > '$T/quiet.out' 2> '$T/quiet.err' && [ ! -s '$T/quiet.out' ] && [ ! -s '$T/quiet.err' ] &&
  [ -z \"\$(find '$E' -name 10.0.0.21)\" ]"
mk 10.0.0.20 pending '-2 days'
check "ipgreylist-expire -v: one line per removed file, -n removes nothing" sh -c "
  '$EXPIRE' -n '$E' | grep -q '^ipgreylist-expire: would-remove stale key=10.0.0.20 age=17280[0-9] path=' && [ -n \"\$(find '$E' -name 10.0.0.20)\" ] &&
  '$EXPIRE' -v '$E' | grep -q '^ipgreylist-expire: removed stale key=10.0.0.20 age=17280[0-9] path=' && [ -z \"\$(find '$E' -name 10.0.0.20)\" ]"
check "ipgreylist-expire: GREYLIST_LIFETIME=86400 lapses the 2-day regular" sh -c "
  GREYLIST_LIFETIME=86400 '$EXPIRE' -v '$E' | grep -q 'removed lapsed key=10.0.0.6 ' && [ -z \"\$(find '$E' -name 10.0.0.6)\" ]"
check "ipgreylist-expire: usage errors exit 100, a missing dir 111" sh -c "
  '$EXPIRE' 2>/dev/null; [ \$? -eq 100 ] || exit 1; '$EXPIRE' '$T/nope' 2>/dev/null; [ \$? -eq 111 ]"
# beside live sessions: regulars being refreshed are never lost
for n in $(seq 1 30); do mk "10.1.0.$n" regular '-1 day'; done
for n in $(seq 31 60); do mk "10.1.0.$n" pending '-3 days'; done
(for n in $(seq 1 30); do PROTO=TCP TCPREMOTEIP=10.1.0.$n "$GL" -d "$E" true < /dev/null 2>/dev/null; done) &
bgpid=$!
"$EXPIRE" -v "$E" > "$T/expire2.out"
wait "$bgpid"
check "expire beside sessions: 30 regulars kept, 30 stale gone, no error, nothing left aside" sh -c "
  [ \$(find '$E' -name '10.1.0.*' | wc -l) -eq 30 ] && grep -q ' stale=30 .* errors=0$' '$T/expire2.out' && [ -z \"\$(find '$E' -name '.expire.*')\" ]"

# --- after exec only fds 0, 1 and 2 are open (a regular, a whitelisted
# client); the probe run straight under tcpserver gives the baseline ---

PROBE=(perl -MPOSIX -e 'my @o = grep { my @s = POSIX::fstat($_); @s } 3..64; print "221 fds:@o.\r\n"')
serve fdbase "${PROBE[@]}"
BASE=$($CLIENT --port "$PORT" - <<< "expect 221" | sed -n 's/^< 221 //p')
stop_server "$SERVER_PID"
serve fdreg env TCPREMOTEIP=192.0.2.9 "$GL" -d "$STATE" "${PROBE[@]}"
"$GLSTATE" "$(keyfile 192.0.2.9)" 'regular 0'
check "fds: a regular's pass leaves only 0, 1, 2 open (baseline '$BASE')" talk_log fdreg "expect 221
expect-text $BASE" '^ipgreylist: regular ip=192\.0\.2\.9 '
stop_server "$SERVER_PID"
serve fdwl env TCPREMOTEIP=203.0.113.5 "$GL" -d "$STATE" -w "$T/wl.cdb" "${PROBE[@]}"
check "fds: a whitelisted pass leaves only 0, 1, 2 open" talk_log fdwl "expect 221
expect-text $BASE" '^ipgreylist: whitelisted ip=203\.0\.113\.5 '
stop_server "$SERVER_PID"

# --- usage and exec failure ---

check "usage: no program exits 100" sh -c "'$GL' -d '$STATE' 2>/dev/null; [ \$? -eq 100 ]"
check "usage: -t abc exits 100" sh -c "'$GL' -t abc true 2>/dev/null; [ \$? -eq 100 ]"
check "exec failure exits 111 with a fatal line" sh -c "
  GREYLIST= PROTO=TCP TCPREMOTEIP=192.0.2.1 '$GL' /nonexistent/prog 2>'$T/exec.err'; [ \$? -eq 111 ] && grep -q '^ipgreylist: fatal: unable to exec /nonexistent/prog' '$T/exec.err'"
check "let through: ipgreylist itself prints nothing" sh -c "
  [ -z \"\$(GREYLIST= PROTO=TCP TCPREMOTEIP=192.0.2.1 '$GL' true 2>/dev/null)\" ] &&
  [ \"\$(PROTO=TCP TCPREMOTEIP=203.0.113.5 '$GL' -d '$STATE' -w '$T/wl.cdb' printf x 2>/dev/null)\" = x ]"

finish
