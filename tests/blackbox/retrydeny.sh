#!/bin/bash
# SPDX-License-Identifier: ISC
# retrydeny over log lines made by really running the chain under
# tcpserver: greetdelay, ipgreylist, rcptcheck (when built) and exim.
#
# Every session comes from 127.0.0.1, which retrydeny never lists, so a
# one-line wrapper in front of the chain sets TCPREMOTEIP (and the tcprules
# variables) from $T/sess.env, as a tcprules entry would: the programs log
# the address they are given, and retrydeny sees ordinary log lines.
. "$(dirname "$0")/../lib.sh"
exim_tail
RD=$SRC/retrydeny
GD=$SRC/greetdelay
IPG=$SRC/ipgreylist
RC=$SRC/rcptcheck

# A tiny qmail tree for rcptcheck: local.test is local, and has no users.
# Every name goes to the alias home, which has no .qmail files, as
# users/assign's "+:" entry makes it (without an alias user, qmail, and
# so rcptcheck, would defer).
mkdir -p "$T/qmail/control" "$T/qmail/users" "$T/qmail/alias" "$T/grey"
echo local.test > "$T/qmail/control/locals"
echo local.test > "$T/qmail/control/me"
[ -x "$SRC/rcptcheck-cdb" ] && printf '+:nobody:65534:65534:%s:-::\n.\n' "$T/qmail/alias" > "$T/qmail/users/assign" &&
  "$SRC/rcptcheck-cdb" -u "$T/qmail/users/assign" "$T/qmail/users/cdb"

CHAIN=("$GD")
[ -x "$IPG" ] && CHAIN+=("$IPG" -d "$T/grey")
if [ -x "$RC" ]; then CHAIN+=("$RC"); REFUSAL=550; else REFUSAL=554; fi
echo "# chain: ${CHAIN[*]##*/} exim; permanent refusals come as $REFUSAL"

: > "$T/sess.env"
serve chain env QMAILHOME="$T/qmail" sh -c ". '$T/sess.env'; exec \"\$@\"" sh "${CHAIN[@]}" "${EXIM[@]}"

# as IP [VAR=value...]: the next sessions pretend to come from IP.
as() {
  local ip=$1 v; shift
  { echo "export TCPREMOTEIP='$ip'"; echo "unset GREETDELAY GREYLIST"
    for v in "$@"; do echo "export $v"; done; } > "$T/sess.env"
}

# early: talks before the greeting; greetdelay answers 554.
early() {
  as "$1" GREETDELAY=2
  client "$PORT" "
send EHLO early.test
expect 554
send QUIT
expect 221" > "$T/c.out" || { cat "$T/c.out"; return 1; }
}

# unknown: asks for two mailboxes that do not exist; rcptcheck answers
# 550 to each (one session, two 550 lines). Without rcptcheck: early.
unknown() {
  [ -x "$RC" ] || { early "$1"; return; }
  as "$1" GREYLIST=
  client "$PORT" "
expect 220
send EHLO unknown.test
expect 250
send MAIL FROM:<bounce@unknown.test>
expect 250
send RCPT TO:<nosuch-rd1@local.test>
expect 550
send RCPT TO:<nosuch-rd2@local.test>
expect 550
send QUIT
expect 221" > "$T/c.out" || { cat "$T/c.out"; return 1; }
}

# greylisted: ipgreylist answers 451 at RCPT (new, then too soon).
greylisted() {
  as "$1"
  client "$PORT" "
expect 220
send EHLO grey.test
expect 250
send MAIL FROM:<a@grey.test>
expect 250
send RCPT TO:<someone@elsewhere.test>
expect 451
send QUIT
expect 221" > "$T/c.out" || { cat "$T/c.out"; return 1; }
}

# delivers: a message accepted through the whole chain.
delivers() {
  as "$1" GREYLIST=
  message "$T/msg" "accepted mail"
  client "$PORT" "
expect 220
send EHLO good.test
expect 250
send MAIL FROM:<a@good.test>
expect 250
send RCPT TO:<someone@elsewhere.test>
expect 250
send DATA
expect 354
data $T/msg
expect 250
send QUIT
expect 221" > "$T/c.out" || { cat "$T/c.out"; return 1; }
}

times() { local n=$1 i; shift; for i in $(seq 1 "$n"); do "$@" || return 1; done; }

check "chain: 5 refused sessions from 192.0.2.7" times 5 unknown 192.0.2.7
check "chain: 4 refused sessions from 192.0.2.9 (one too few)" times 4 unknown 192.0.2.9
check "chain: 5 early talkers from own network 10.1.2.3" times 5 early 10.1.2.3
check "chain: 5 early talkers from loopback 127.0.0.1" times 5 early 127.0.0.1
check "chain: 5 early talkers from ::ffff:198.51.100.4 (v4-mapped)" times 5 early ::ffff:198.51.100.4
check "chain: 5 early talkers from 2001:DB8::5" times 5 early 2001:DB8::5
if [ -x "$IPG" ]; then
  check "chain: 6 greylisted (451) sessions from 192.0.2.8" times 6 greylisted 192.0.2.8
fi
if [ -x "$RC" ]; then
  mixed() { times 4 unknown "$1" && delivers "$1" && unknown "$1"; }
  check "chain: 4 refused, 1 delivered, 1 refused from 192.0.2.10" mixed 192.0.2.10
fi
stop_server "$SERVER_PID"

# The log as multilog t would have written it.
tai64n < "$T/chain.log" > "$T/current"
check "log: real $REFUSAL lines from the chain" grep -q "code=$REFUSAL" "$T/current"
echo '10.0.0.0/8   # our own network' > "$T/own"

RUN() { "$RD" -k "$T/own" "$@" 2> "$T/rd.err"; }
check "retrydeny: exits 0" RUN "$T/deny" "$T/current"
cat "$T/rd.err"
check "listed: 192.0.2.7 (5 refused sessions)" grep -qx '192\.0\.2\.7:deny' "$T/deny"
check "listed: its comment has expiry and evidence" \
  grep -Eqx '# 192\.0\.2\.7 expires=[0-9-]{10}T[0-9:]{8}Z sessions=5 first=[0-9-]{10}T[0-9:]{8}Z last=[0-9-]{10}T[0-9:]{8}Z' "$T/deny"
check "listed: v4-mapped address in canonical form 198.51.100.4" grep -qx '198\.51\.100\.4:deny' "$T/deny"
check "not listed: 192.0.2.9 (4 sessions, -n 5)" sh -c "! grep -q '192\.0\.2\.9' '$T/deny'"
check "not listed: own network 10.1.2.3 (-k)" sh -c "! grep -q '10\.1\.2\.3' '$T/deny'"
check "not listed: loopback" sh -c "! grep -q '127\.0\.0\.1' '$T/deny'"
check "not listed: IPv6 without -6" sh -c "! grep -qi '2001:db8' '$T/deny'"
[ -x "$IPG" ] && check "not listed: 192.0.2.8, greylisted (451) only" sh -c "! grep -q '192\.0\.2\.8' '$T/deny'"
[ -x "$RC" ] && check "not listed: 192.0.2.10, delivered a message in between" sh -c "! grep -q '192\.0\.2\.10' '$T/deny'"
check "rules: exactly the expected deny lines" \
  sh -c "[ \"\$(grep -v '^#' '$T/deny' | tr '\n' ' ')\" = '192.0.2.7:deny 198.51.100.4:deny ' ]"
check "rules: tcprules accepts the file" sh -c "tcprules '$T/deny.cdb' '$T/deny.tmp' < '$T/deny'"
check "rules: tcprulescheck denies 192.0.2.7" \
  sh -c "TCPREMOTEIP=192.0.2.7 tcprulescheck '$T/deny.cdb' | grep -q 'deny connection'"

# Stable: same input, same bytes, file left alone (mtime kept).
cp -p "$T/deny" "$T/deny.1"
touch -d '2000-01-01' "$T/deny"
check "stable: second run exits 0" RUN "$T/deny" "$T/current"
check "stable: same bytes" cmp "$T/deny" "$T/deny.1"
check "stable: file not rewritten" sh -c "[ \$(stat -c %Y '$T/deny') = \$(date -d 2000-01-01 +%s) ] && grep -q 'file=unchanged' '$T/rd.err'"
check "stable: a third run from stdin gives the same bytes" sh -c "'$RD' -q -k '$T/own' '$T/deny' < '$T/current' && cmp '$T/deny' '$T/deny.1'"

# Rotated logs: multilog's @*.s files then current, oldest first (as the
# shell's glob sorts them), give the same list as the whole log at once.
mkdir -p "$T/main"
n=$(wc -l < "$T/current")
head -n $((n / 3)) "$T/current" > "$T/main/@400000006900000000000000.s"
sed -n "$((n / 3 + 1)),$((2 * n / 3))p" "$T/current" > "$T/main/@400000006900000100000000.s"
tail -n +$((2 * n / 3 + 1)) "$T/current" > "$T/main/current"
check "rotated: @*.s then current give the same bytes" \
  sh -c "cd '$T/main' && '$RD' -q -k '$T/own' '$T/deny.rot' @*.s current && cmp '$T/deny.rot' '$T/deny.1'"

# -6 lists the IPv6 address, compressed and lower case.
check "-6: IPv6 host listed as 2001:db8::5" sh -c "'$RD' -q -6 -k '$T/own' '$T/deny6' '$T/current' && grep -qx '2001:db8::5:deny' '$T/deny6'"

# -r: rblsmtpd's permanent refusal instead of deny; tcprules takes it.
check "-r: allow,RBLSMTPD=\"-...\" rule" sh -c "'$RD' -q -r 'you retry after a permanent refusal' -k '$T/own' '$T/denyr' '$T/current' &&
  grep -qx '192\.0\.2\.7:allow,RBLSMTPD=\"-you retry after a permanent refusal\"' '$T/denyr' &&
  tcprules '$T/r.cdb' '$T/r.tmp' < '$T/denyr' &&
  TCPREMOTEIP=192.0.2.7 tcprulescheck '$T/r.cdb' | grep -q 'RBLSMTPD=-you retry'"

# Expiry: the entry lives -e days after the last offence, measured by the
# stamps in the log. A later log line (a real one, stamped 6 and then 8
# days on) moves the reference time.
last=$(sed -n 's/^# 192\.0\.2\.7 .* last=\([^ ]*\)$/\1/p' "$T/deny")
lastsec=$(date -u -d "$(echo "$last" | sed 's/T/ /; s/Z$//')" +%s)
stamp() { printf '@%016x%08x' $((0x400000000000000a + $1)) 0; }
line=$(grep -m1 'greetdelay: ' "$T/chain.log")
echo "$(stamp $((lastsec + 6 * 86400))) $line" > "$T/later6"
echo "$(stamp $((lastsec + 8 * 86400))) $line" > "$T/later8"
check "expiry: 6 days on, still listed (-e 7)" sh -c "'$RD' -q -k '$T/own' '$T/deny' '$T/current' '$T/later6' && grep -qx '192\.0\.2\.7:deny' '$T/deny'"
check "expiry: 8 days on, gone (-e 7)" sh -c "'$RD' -k '$T/own' '$T/deny' '$T/current' '$T/later8' 2> '$T/exp.err' && ! grep -q '192\.0\.2\.7' '$T/deny' && grep -q 'expired=2' '$T/exp.err'"
cp "$T/deny.1" "$T/deny"
check "expiry: -e 10 keeps it 8 days on" sh -c "'$RD' -q -e 10 -k '$T/own' '$T/deny' '$T/later8' && grep -qx '192\.0\.2\.7:deny' '$T/deny'"
check "expiry: merged entry kept from the old file alone, then -t 11 days on drops it" \
  sh -c "'$RD' -q -t $((lastsec + 11 * 86400)) -e 10 -k '$T/own' '$T/deny' < /dev/null && ! grep -q '192\.0\.2\.7' '$T/deny'"

# -n and -w: the window is measured with the stamps.
check "-n 4 lists 192.0.2.9 too" sh -c "'$RD' -q -n 4 -k '$T/own' '$T/d4' '$T/current' && grep -qx '192\.0\.2\.9:deny' '$T/d4'"
# Spread 192.0.2.7's refusals 3 hours apart: within -w 24 they count,
# within -w 2 they never make 5.
grep " ip=192\.0\.2\.7 " "$T/current" | cut -d' ' -f2- > "$T/seven"
: > "$T/spread"
i=0
while IFS= read -r l; do
  case "$l" in *code=5*) i=$((i + 1)) ;; esac
  echo "$(stamp $((1795000000 + i * 3 * 3600))) $l" >> "$T/spread"
done < "$T/seven"
check "-w 24: refusals 3 h apart are listed" sh -c "'$RD' -q '$T/w24' '$T/spread' && grep -qx '192\.0\.2\.7:deny' '$T/w24'"
check "-w 2: refusals 3 h apart are not" sh -c "'$RD' -q -w 2 '$T/w2' '$T/spread' && ! grep -q '192\.0\.2\.7' '$T/w2'"

# Bad input lines are counted and skipped; good lines around them count.
good=$(grep -m1 "ip=192\.0\.2\.7 .*code=5" "$T/current")
{
  printf '%s\n' "$good"
  printf 'rcptcheck: reject ip=192.0.2.99 pid=1 code=550 rcpt=x\r\n'          # CRLF
  printf 'rcptcheck: reject ip=192.0.2.99 pid=2 \001\377 code=550\n'         # binary
  printf '@40000000zzzzzzzz00000000 rcptcheck: reject ip=192.0.2.99 pid=3 code=550\n' # bad stamp
  printf 'rcptcheck: reject ip=192.0.2.999 pid=4 code=550\n'                  # bad address
  printf 'rcptcheck: reject ip=../../etc pid=5 code=550\n'                    # bad address
  printf 'rcptcheck: reject ip=192.0.2.99 pid=x code=550\n'                   # bad pid
  printf 'rcptcheck: reject ip=192.0.2.99 pid=6 code=5\n'                     # truncated code
  head -c 1048576 /dev/zero | tr '\0' 'x'; printf ' ip=192.0.2.99 pid=7 code=550\n'  # 1 MB
  printf 'tcpserver: status: 1/40\n'                                          # ignored
  printf 'rcptcheck: reject ip=192.0.2.99 pid=8 co'                           # cut at EOF
} > "$T/bad"
check "bad lines: exits 0" sh -c "'$RD' -n 1 '$T/dbad' '$T/bad' 2> '$T/bad.err'"
cat "$T/bad.err"
check "bad lines: counted (crlf=1 binary=1 malformed=5 overlong=1 truncated=1)" \
  sh -c "grep -q 'crlf=1 ' '$T/bad.err' && grep -q 'binary=1 ' '$T/bad.err' && grep -q 'malformed=5 ' '$T/bad.err' && grep -q 'overlong=1 ' '$T/bad.err' && grep -q 'truncated=1 ' '$T/bad.err'"
check "bad lines: skipped, the good line counted" sh -c "[ \"\$(grep -v '^#' '$T/dbad')\" = '192.0.2.7:deny' ]"

# The previous file's foreign lines are dropped with a warning.
cp "$T/deny.1" "$T/deny"
echo '203.0.113.1:deny' >> "$T/deny"
check "merge: a hand-added rule is dropped with a warning" sh -c "'$RD' -q -k '$T/own' '$T/deny' '$T/current' 2> '$T/m.err' && cmp '$T/deny' '$T/deny.1' && grep -q 'retrydeny: warning: .*deny:7: not a retrydeny rule' '$T/m.err'"
# Entries from the old file survive a run over a log that lacks them.
check "merge: old entries kept when the log no longer shows them" sh -c "'$RD' -q -k '$T/own' '$T/deny' '$T/later6' && cmp '$T/deny' '$T/deny.1'"

# -N: a dry run says what the real run then does, and writes nothing.
# The old list: deny.1 (192.0.2.7, 198.51.100.4) and, when rcptcheck
# runs, 192.0.2.10 listed just before the log began (it delivered a
# message since). With -n 4, 192.0.2.9 comes in.
cp "$T/deny.1" "$T/dN"
if [ -x "$RC" ]; then
  t0=$(head -n1 "$T/current" | cut -c2-17)
  before=$(date -u -d "@$(( 0x$t0 - 0x400000000000000a - 60 ))" +%Y-%m-%dT%H:%M:%SZ)
  printf '# 192.0.2.10 expires=2099-01-01T00:00:00Z sessions=5 first=%s last=%s\n192.0.2.10:deny\n' "$before" "$before" >> "$T/dN"
fi
cp -p "$T/dN" "$T/dN.before"
touch -d '2000-01-01' "$T/dN"
check "-N: exits 0, file untouched (bytes and mtime), summary says it would change" sh -c "
  '$RD' -N -n 4 -k '$T/own' '$T/dN' '$T/current' > '$T/N.out' 2> '$T/N.err' &&
  cmp '$T/dN' '$T/dN.before' && [ \$(stat -c %Y '$T/dN') = \$(date -d 2000-01-01 +%s) ] &&
  grep -q 'file=would-change' '$T/N.err' && ! ls '$T' | grep -q 'dN\.tmp'"
cat "$T/N.out"
check "-N: would-add 192.0.2.9 with its evidence (4 sessions, first and last offence, expiry)" \
  grep -Eqx 'retrydeny: would-add 192\.0\.2\.9 sessions=4 first=[0-9-]{10}T[0-9:]{8}Z last=[0-9-]{10}T[0-9:]{8}Z expires=[0-9-]{10}T[0-9:]{8}Z' "$T/N.out"
check "-N: would-keep 192.0.2.7 and 198.51.100.4" sh -c "
  grep -q '^retrydeny: would-keep 192\.0\.2\.7 sessions=5 ' '$T/N.out' && grep -q '^retrydeny: would-keep 198\.51\.100\.4 ' '$T/N.out'"
[ -x "$RC" ] && check "-N: would-remove 192.0.2.10 why=accepted-mail (its old evidence)" \
  grep -q "^retrydeny: would-remove 192\.0\.2\.10 why=accepted-mail sessions=5 first=$before last=$before " "$T/N.out"
check "-N matches the real run: its rules are the adds and keeps, the removes gone" sh -c "
  '$RD' -q -n 4 -k '$T/own' '$T/dN' '$T/current' &&
  want=\$(sed -n 's/^retrydeny: would-\(add\|keep\) \([^ ]*\) .*/\2:deny/p' '$T/N.out' | sort | tr '\n' ' ')
  got=\$(grep -v '^#' '$T/dN' | sort | tr '\n' ' ')
  echo \"# want: \$want got: \$got\"; [ -n \"\$want\" ] && [ \"\$want\" = \"\$got\" ] &&
  for ip in \$(sed -n 's/^retrydeny: would-remove \([^ ]*\) .*/\1/p' '$T/N.out'); do ! grep -q \"^\$ip:\" '$T/dN' || exit 1; done"
check "-N matches the real run: the evidence comments are the dry run's" sh -c "
  sed -n 's/^retrydeny: would-\(add\|keep\) \([^ ]*\) sessions=\([^ ]*\) first=\([^ ]*\) last=\([^ ]*\) expires=\([^ ]*\)$/# \2 expires=\6 sessions=\3 first=\4 last=\5/p' '$T/N.out' | sort > '$T/N.want' &&
  grep '^# [0-9]' '$T/dN' | sort | cmp - '$T/N.want'"
check "-N: expiry 8 days on says would-remove why=expired, and the real run drops them" sh -c "
  cp '$T/deny.1' '$T/dE' && '$RD' -N -k '$T/own' '$T/dE' '$T/later8' > '$T/NE.out' 2>/dev/null &&
  grep -q '^retrydeny: would-remove 192\.0\.2\.7 why=expired sessions=5 ' '$T/NE.out' && cmp '$T/dE' '$T/deny.1' &&
  '$RD' -q -k '$T/own' '$T/dE' '$T/later8' && ! grep -q '192\.0\.2\.7' '$T/dE'"
check "-N with nothing to change: no would-add or would-remove, file=unchanged" sh -c "
  cp '$T/deny.1' '$T/dS' && '$RD' -N -k '$T/own' '$T/dS' '$T/current' > '$T/NS.out' 2> '$T/NS.err' &&
  ! grep -q 'would-add\|would-remove' '$T/NS.out' && grep -q 'file=unchanged' '$T/NS.err'"

# Usage and failures.
check "usage: no DENYFILE exits 100" sh -c "'$RD' 2>/dev/null; [ \$? -eq 100 ]"
check "usage: -n 0 exits 100" sh -c "'$RD' -n 0 x </dev/null 2>/dev/null; [ \$? -eq 100 ]"
check "usage: -w abc exits 100" sh -c "'$RD' -w abc x </dev/null 2>/dev/null; [ \$? -eq 100 ]"
check "usage: -r with a quote exits 100" sh -c "'$RD' -r 'a\"b' x </dev/null 2>/dev/null; [ \$? -eq 100 ]"
printf '10.0.0.0/8\nnot-a-network\n' > "$T/badown"
check "usage: bad -k file exits 100 naming the line" sh -c "'$RD' -k '$T/badown' x </dev/null 2>'$T/k.err'; [ \$? -eq 100 ] && grep -q ':2: not an address' '$T/k.err'"
cp "$T/deny.1" "$T/deny"
check "failure: unreadable log exits 111, DENYFILE untouched" sh -c "'$RD' '$T/deny' /proc/self/mem 2>/dev/null; [ \$? -eq 111 ] && cmp '$T/deny' '$T/deny.1'"
mkdir -p "$T/ro"; chmod 555 "$T/ro"
if [ "$(id -u)" != 0 ]; then
  check "failure: unwritable directory exits 111" sh -c "'$RD' '$T/ro/deny' '$T/current' 2>/dev/null; [ \$? -eq 111 ]"
fi
check "failure: no temporary file left behind" sh -c "! ls '$T' | grep -q '\.tmp\.'"

finish
