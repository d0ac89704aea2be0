#!/bin/bash
# SPDX-License-Identifier: ISC
# rcptcheck's triplet greylisting (RCPTCHECK_GREYLIST) under the real
# tcpserver, exim as the tail (Maildir checked byte for byte): a new
# triplet's 451, the retry after the minimum delay, learned pairs, the
# lists in their four forms (compiled by control's make), BATV and VERP
# senders, the null sender decided at DATA, pipelining, observe mode,
# fail open and closed, the expire tool, and a real exim as the sending
# MTA with its own retry queue. Time passes by "touch -d" on a record.
. "$(dirname "$0")/../lib.sh"
RC=$SRC/rcptcheck
exim_tail

# The qmail tree: one local domain, its addresses in RCPTCHECK_CDB (no
# system users needed).
Q=$T/qmail
mkdir -p "$Q/control" "$T/grey"
echo example.test > "$Q/control/locals"
printf '%s@example.test\n' alice bob carol dave erin frank postmaster > "$Q/valid"
"$SRC/rcptcheck-cdb" "$Q/valid" "$Q/valid.cdb"
GREY=$T/grey
# The lists: control/ as a service has it, compiled by its make.
C=$T/control
mkdir -p "$C"
cp "$TOP/control/Makefile" "$TOP/control/greylist-triplets" "$C/"
echo "BIN = $SRC/" > "$C/paths.mk"
LIST=$C/greylist-triplets.cdb
check "control's make compiles greylist-triplets" sh -c "cd '$C' && make -s greylist-triplets.cdb && test -s '$LIST'"

# serve_grey NAME [VAR=value...]: rcptcheck with triplets before exim
serve_grey() {
  local name=$1; shift
  serve_exim "$name" env QMAILHOME="$Q" RCPTCHECK_CDB="$Q/valid.cdb" \
    RCPTCHECK_GREYLIST="$GREY" RCPTCHECK_GREYLIST_LIST="$LIST" "$@" "$RC"
}
# rec TEXT: the record file of a key's canonical text; aged TEXT: its
# time moved 10 minutes back (past GREYLIST_MIN's 300 s)
rec() { local h; h=$(printf %s "$1" | sha256sum | cut -c1-64); echo "$GREY/${h:0:2}/${h:2:2}/$h"; }
aged() { touch -d '-10 minutes' "$(rec "$1")"; }
has_rec() { [ -f "$(rec "$1")" ] && grep -q "$2" < <(python3 -c "import os,sys; print(os.getxattr(sys.argv[1],'user.najimi').decode())" "$(rec "$1")"); }
NET=127.0.0.0/24
G='^rcptcheck: grey ip=127\.0\.0\.1 pid=[0-9]+ key=[0-9a-f]{8} keyby=net age=[0-9]+'

serve_grey grey
message "$T/m1" "a greylisted message, delivered on its retry"

# ------------------------------------------------------------ the triplet
check "an unknown user still gets 550, never a 451, and no record" client "$PORT" "
hello
mail <s1@remote.test>
rcpt <nobody@example.test> 550
expect-text 5.1.1
quit
expect-no-log ^rcptcheck: grey "
check "no record for the unknown user" sh -c "[ -z \"\$(find '$GREY' -type f)\" ]"
check "a new triplet gets 451 4.7.1, logged with key, keyby, age, code" client "$PORT" "
hello
mail <s1@remote.test>
rcpt <alice@example.test> 451
expect-text 4.7.1
quit
expect-log $G verdict=new from=s1@remote\.test rcpt=alice@example\.test code=451$"
check "its record: pending, under the hash of trip:NET:sender:rcpt" has_rec "trip:$NET:s1@remote.test:alice@example.test" "^2 pending 0 "
check "a retry before GREYLIST_MIN: 451 again, counted" client "$PORT" "
hello
mail <s1@remote.test>
rcpt <alice@example.test> 451
quit
expect-log $G verdict=too-soon .* count=1 min=300 code=451$"
aged "trip:$NET:s1@remote.test:alice@example.test"
maildir_mark
check "the retry after the minimum delay passes" client "$PORT" "
hello
mail <s1@remote.test>
rcpt <alice@example.test>
message $T/m1
quit
expect-log $G verdict=promote .*rcpt=alice@example\.test count=1 pass=triplet$"
check "... and is delivered exactly once, byte for byte" maildir_new 1 "$T/m1"
check "... no late copy" maildir_still 1
check "the passed triplet is a regular" has_rec "trip:$NET:s1@remote.test:alice@example.test" "^2 regular 1 "
check "a regular passes at once" client "$PORT" "
hello
mail <s1@remote.test>
rcpt <alice@example.test>
quit
expect-log $G verdict=pair "

# ------------------------------------------------------------ learned pairs
check "a second sender to two recipients: both greylisted (no learned pair yet)" client "$PORT" "
hello
mail <s2@pairs.test>
rcpt <alice@example.test> 451
rcpt <bob@example.test> 451
quit"
check "no pair is learned from a 451" sh -c "! [ -e '$(rec "pair:pairs.test:$NET")' ]"
aged "trip:$NET:s2@pairs.test:alice@example.test"
check "its first triplet passes after the delay" client "$PORT" "
hello
mail <s2@pairs.test>
rcpt <alice@example.test>
quit
expect-log $G verdict=promote from=s2@pairs\.test "
check "the pair (sender domain, client network) is learned" has_rec "pair:pairs.test:$NET" "^2 regular 0 "
check "then a third recipient passes via the learned pair, at once" client "$PORT" "
hello
mail <other@pairs.test>
rcpt <carol@example.test>
quit
expect-log $G verdict=pair from=other@pairs\.test rcpt=carol@example\.test pass=pair$"
check "... and no triplet record was made for it" sh -c "! [ -e '$(rec "trip:$NET:other@pairs.test:carol@example.test")' ]"

# ------------------------------------------------------------ pipelining
message "$T/m2" "pipelined: one recipient white, one greylisted, one unknown"
maildir_mark
check "pipelined: 250, 451 and 550 in command order, the message to the one accepted" client "$PORT" "
hello
raw MAIL FROM:<s3@pipe.test>\r\nRCPT TO:<postmaster@example.test>\r\nRCPT TO:<dave@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n
expect 250
expect 250
expect 451
expect 550
expect 354
data $T/m2
expect 250
quit"
check "... delivered once" maildir_new 1 "$T/m2"
message "$T/m2b" "a message, then the next transaction pipelined after its end"
check "pipelined after a message's end: the next transaction's RCPT is still greylisted" client "$PORT" "
hello
mail <s6@pipe.test>
rcpt <postmaster@example.test>
send DATA
expect 354
file $T/m2b
raw \r\n.\r\nMAIL FROM:<s7@pipe.test>\r\n
expect 250
expect 250
rcpt <dave@example.test> 451
quit
expect-log $G verdict=new from=s7@pipe\.test rcpt=dave@example\.test code=451$"
check "DATA after only greylisted recipients: 503 as without greylisting" client "$PORT" "
hello
raw MAIL FROM:<s4@pipe.test>\r\nRCPT TO:<erin@example.test>\r\nDATA\r\n
expect 250
expect 451
expect 503 554
quit"
check "a recipient elsewhere is left to the downstream" client "$PORT" "
hello
mail <s5@remote.test>
rcpt <someone@elsewhere.test>
quit
expect-no-log rcpt=someone@elsewhere"

# ------------------------------------------------------------ BATV, VERP
check "BATV: a first tagged sender is new" client "$PORT" "
hello
mail <prvs=1111aaaaaa=bounce-1@batv.test>
rcpt <alice@example.test> 451
quit
expect-log $G verdict=new from=bounce-#@batv\.test "
check "BATV: another tag and another bounce number, the same key (too soon, count 1)" client "$PORT" "
hello
mail <PRVS=2222BBBBBB=Bounce-987@BATV.test>
rcpt <alice@example.test> 451
quit
expect-log $G verdict=too-soon from=bounce-#@batv\.test .*count=1 "
check "BATV: the two lines name one key" sh -c "
grep 'from=bounce-#@batv.test' '$LOG' | sed 's/.* key=\([0-9a-f]*\) .*/\1/' | sort -u | wc -l | grep -qx 1"
check "VERP: list-123-45 and list-9-678 keep one key" client "$PORT" "
hello
mail <list-123-45@verp.test>
rcpt <bob@example.test> 451
send RSET
expect 250
mail <list-9-678@verp.test>
rcpt <bob@example.test> 451
quit
expect-log $G verdict=too-soon from=list-#-#@verp\.test .*count=1 "

# ------------------------------------------------------------ null sender
message "$T/m3" "a bounce, greylisted at DATA"
maildir_mark
check "null sender: a sender-verification callout passes RCPT" client "$PORT" "
hello
mail <>
rcpt <bob@example.test>
quit
expect-log $G verdict=new from=<> rcpt=bob@example\.test defer=data$"
check "null sender: the message gets 451 4.7.1 at DATA" client "$PORT" "
hello
mail <>
rcpt <bob@example.test>
send DATA
expect 451
expect-text 4.7.1
send RSET
expect 250
quit
expect-log ^rcptcheck: grey ip=127\.0\.0\.1 pid=[0-9]+ key=[0-9a-f]{8} verdict=null-sender code=451$"
check "null sender: the message sent without waiting for the 451 is never read as commands (421)" client "$PORT" "
hello
mail <>
rcpt <bob@example.test>
raw DATA\r\nMAIL FROM:<x@inside.test>\r\nRCPT TO:<alice@example.test>\r\n.\r\n
expect 451
expect 421
expect-eof
expect-log ^rcptcheck: sync ip=127\.0\.0\.1 pid=[0-9]+ code=421$"
check "null sender: nothing delivered" maildir_still 0
aged "trip:$NET:<>:bob@example.test"
check "null sender: after the delay the message is accepted" client "$PORT" "
hello
mail <>
rcpt <bob@example.test>
message $T/m3
quit"
check "null sender: delivered once" maildir_new 1 "$T/m3"
check "null sender: its passed triplet teaches the pair (<>, client network)" has_rec "pair:<>:$NET" "^2 regular 0 "
message "$T/m3b" "a second bounce, to another user"
maildir_mark
check "null sender: a bounce to another recipient then passes at once via that pair" client "$PORT" "
hello
mail <>
rcpt <carol@example.test>
message $T/m3b
quit
expect-log $G verdict=pair from=<> rcpt=carol@example\.test pass=pair$"
check "... delivered once" maildir_new 1 "$T/m3b"
check "... and no triplet record was made for it" sh -c "! [ -e '$(rec "trip:$NET:<>:carol@example.test")' ]"
check "the null sender's pair is no other sender's: a new sender from there is still greylisted" client "$PORT" "
hello
mail <s8@fresh.test>
rcpt <carol@example.test> 451
quit
expect-log $G verdict=new from=s8@fresh\.test rcpt=carol@example\.test code=451$"

# ------------------------------------------------------------ the lists
# list LINE: control/greylist-triplets is that line; control's make
# compiles it (the cdb is read again by the next session).
# (the cdb is dated back, so that make sees the source as newer at once)
list() { printf '%s\n' "$@" > "$C/greylist-triplets"; touch -d '-1 minute' "$LIST"; (cd "$C" && make -s greylist-triplets.cdb); }
N=0
# form CODE LINE... : a new sender to frank gets CODE with the list LINE
form() {
  local code=$1; shift
  N=$((N + 1))
  list "$@"
  client "$PORT" "
hello
mail <l$N@lists.test>
rcpt <frank@example.test> $code
quit"
}
for kind in white black; do
  [ $kind = white ] && want=250 || want=550
  check "list, client form, $kind: $want" form $want "$kind client=127.0.0.0/8"
  check "list, client form, $kind, live date: $want" form $want "$kind client=127.0.0.1 2099-12-31"
  check "list, client form, $kind, expired: 451" form 451 "$kind client=127.0.0.1 2001-01-01"
  check "list, recipient form, $kind: $want" form $want "$kind to=frank@example.test"
  check "list, recipient @domain, $kind, live date: $want" form $want "$kind to=@example.test 2099-12-31"
  check "list, recipient form, $kind, expired: 451" form 451 "$kind to=frank@example.test 2001-01-01"
  check "list, sender+recipient, $kind: $want" form $want "$kind from=@lists.test to=frank@example.test"
  check "list, sender+recipient, $kind, live date: $want" form $want "$kind from=@lists.test to=@example.test 2099-12-31"
  check "list, sender+recipient, $kind, expired: 451" form 451 "$kind from=@lists.test to=frank@example.test 2001-01-01"
  check "list, whole triplet, $kind: $want" form $want "$kind client=127.0.0.0/24 from=@lists.test to=frank@example.test"
  check "list, whole triplet, $kind, live date: $want" form $want "$kind client=127.0.0.1 from=@lists.test to=frank@example.test 2099-12-31"
  check "list, whole triplet, $kind, expired: 451" form 451 "$kind client=127.0.0.1 from=@lists.test to=frank@example.test 2001-01-01"
  check "list, whole triplet of another client: 451" form 451 "$kind client=192.0.2.0/24 from=@lists.test to=frank@example.test"
done
list 'black to=frank@example.test'
check "list: the black reply is 550 5.7.1, logged" client "$PORT" "
hello
mail <lx@lists.test>
rcpt <frank@example.test> 550
expect-text 5.7.1
quit
expect-log $G verdict=black from=lx@lists\.test rcpt=frank@example\.test list=rcpt code=550$"
check "list: the most specific form decides (white triplet over black client)" form 250 \
  "black client=127.0.0.1" "white client=127.0.0.1 from=@lists.test to=frank@example.test"
printf 'white to=a@example.test\n# a comment\nwhite client=127.0.0.1 to=x@example.test\n' > "$C/greylist-triplets"
touch -d '-1 minute' "$LIST"
cp "$LIST" "$T/list.before"
check "list: a bad line is reported with its line number" sh -c "
cd '$C' && ! make -s greylist-triplets.cdb > '$T/mk.out' 2>&1 && grep -q 'greylist-triplets line 3: client= with to= needs from=' '$T/mk.out'"
check "list: ... and the cdb in use stays as it was" cmp "$LIST" "$T/list.before"
list "white client=.good.example"
stop_server "$SERVER_PID"
serve_grey named TCPREMOTEHOST=mx1.good.example
check "list: a .suffix matches TCPREMOTEHOST (white)" client "$PORT" "
hello
mail <named@lists.test>
rcpt <frank@example.test>
quit
expect-log ^rcptcheck: grey ip=127\.0\.0\.1 pid=[0-9]+ key=[0-9a-f]{8} keyby=name .*verdict=white .*list=client pass=white$"
list 'white to=nobody-else@example.test'
check "the name key: without a list entry, the triplet is keyed by the domain" client "$PORT" "
hello
mail <named@lists.test>
rcpt <frank@example.test> 451
quit
expect-log ^rcptcheck: grey ip=127\.0\.0\.1 pid=[0-9]+ key=[0-9a-f]{8} keyby=name .*verdict=new "
check "... its record under trip:DOMAIN:sender:rcpt" has_rec "trip:good.example:named@lists.test:frank@example.test" "^2 pending 0 "
stop_server "$SERVER_PID"
list "white to=postmaster@example.test"

# ------------------------------------------------------------ other modes
serve_grey relay RELAYCLIENT=
check "RELAYCLIENT: never greylisted" client "$PORT" "
hello
mail <relay@own.test>
rcpt <alice@example.test>
quit
expect-no-log ^rcptcheck: grey "
stop_server "$SERVER_PID"
serve_grey observe GREYLIST_OBSERVE=1
check "observe mode: would=451, the recipient passes, the record is made" client "$PORT" "
hello
mail <obs@observe.test>
rcpt <alice@example.test>
quit
expect-log $G verdict=new from=obs@observe\.test rcpt=alice@example\.test would=451$"
check "observe mode: the record" has_rec "trip:$NET:obs@observe.test:alice@example.test" "^2 pending 0 "
stop_server "$SERVER_PID"
serve_exim failopen env QMAILHOME="$Q" RCPTCHECK_CDB="$Q/valid.cdb" RCPTCHECK_GREYLIST="$T/no-such-dir" "$RC"
check "state cannot be read: fail open, logged" client "$PORT" "
hello
mail <fo@remote.test>
rcpt <alice@example.test>
quit
expect-log ^rcptcheck: grey .*verdict=error .*op=open-dir errno=ENOENT .*pass=fail-open$"
stop_server "$SERVER_PID"
serve_exim failclosed env QMAILHOME="$Q" RCPTCHECK_CDB="$Q/valid.cdb" RCPTCHECK_GREYLIST="$T/no-such-dir" GREYLIST_FAILCLOSED=1 "$RC"
check "GREYLIST_FAILCLOSED=1: 451 4.3.0" client "$PORT" "
hello
mail <fc@remote.test>
rcpt <alice@example.test> 451
expect-text 4.3.0
quit"
stop_server "$SERVER_PID"

# ------------------------------------------------------------ expiry
mkdir -p "$T/grey2"
check "ipgreylist-expire takes both directories; a stale pending triplet goes" sh -c "
touch -d '-3 days' '$(rec "trip:$NET:s4@pipe.test:erin@example.test")' &&
'$SRC/ipgreylist-expire' '$T/grey2' '$GREY' && ! [ -e '$(rec "trip:$NET:s4@pipe.test:erin@example.test")' ]"
check "... and a live regular triplet and pair stay" sh -c "
[ -e '$(rec "trip:$NET:s1@remote.test:alice@example.test")' ] && [ -e '$(rec "pair:pairs.test:$NET")' ]"

# ------------------------------------------------------------ exim sends
# A real exim as the sending MTA: its first attempt is greylisted and
# queued; its own queue run after the minimum delay delivers.
serve_grey grey2
S=$T/sender
exim_sender "$S" "$PORT"
message "$T/m4" "from exim, through its own retry queue"
maildir_mark
check "exim sender: the first attempt gets 451 at RCPT, the message stays queued" sh -c "
exim4 -C '$S/conf' -odi -f mta@sender.test carol@example.test < '$T/m4';
grep -q '451 4.7.1' '$S/log/mainlog' && [ \"\$(exim4 -C '$S/conf' -bpc)\" -eq 1 ]"
check "exim sender: that 451 was the triplet's" logs grey2 "
expect-log $G verdict=new from=mta@sender\.test rcpt=carol@example\.test code=451$"
aged "trip:$NET:mta@sender.test:carol@example.test"
check "exim sender: its queue run after the delay delivers" sh -c "
exim4 -C '$S/conf' -qff; grep -q '=> carol@example.test' '$S/log/mainlog' && [ \"\$(exim4 -C '$S/conf' -bpc)\" -eq 0 ]"
check "exim sender: the message reached the tail once" maildir_new 1
check "exim sender: the retry passed the triplet" logs grey2 "
expect-log $G verdict=promote from=mta@sender\.test "
stop_server "$SERVER_PID"

# najimi-report over this file's own log: its triplet counts are what the
# log says, counted here with grep, and the delays are the 10 minutes the
# records were aged by (a second or two more, the sessions take time).
report_agrees() {
  local log=$T/grey.log j=$T/report.json
  "$SRC/najimi-report" -j "$log" > "$j" 2> /dev/null || return 1
  python3 - "$j" \
    "$(grep -c '^rcptcheck: grey .* verdict=new .*code=451$' "$log")" \
    "$(grep -c '^rcptcheck: grey .* verdict=too-soon .*code=451$' "$log")" \
    "$(grep -c '^rcptcheck: grey .* code=550$' "$log")" \
    "$(grep -c '^rcptcheck: grey .* verdict=promote .*pass=triplet$' "$log")" \
    "$(grep -c '^rcptcheck: grey .* pass=pair$' "$log")" \
    "$(grep -c '^rcptcheck: grey .* pass=white$' "$log")" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["total"]
c = j["counts"]
want = dict(zip(["triplets_new", "triplets_too_soon", "triplets_blacklisted",
                 "triplets_promoted", "triplets_passed_pair", "triplets_whitelisted"],
                map(int, sys.argv[2:])))
bad = {k: (c.get(k), v) for k, v in want.items() if c.get(k) != v}
d = j["triplet_delay"]
if want["triplets_new"] == 0 or want["triplets_promoted"] == 0: bad["log"] = "no triplets in it"
if d.get("count") != want["triplets_promoted"] or not 600 <= d.get("median", 0) <= d.get("max", 0) <= 603:
    bad["triplet_delay"] = d
print("# report:", bad or "agrees")
sys.exit(1 if bad else 0)
PY
}
check "najimi-report over this log: triplet counts as grep counts them, delays of 10 minutes" report_agrees

finish
