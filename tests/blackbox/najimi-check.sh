#!/bin/bash
# SPDX-License-Identifier: ISC
# najimi-check, run as root on a service made by najimi-mkservice: it
# becomes the service's user (nobody here), reads what the chain reads
# and names what would go wrong; then najimi-mkservice refusing what
# cannot work, its crontab, and -r (rcptcheck-homes for homes the
# service's user cannot search).
. "$(dirname "$0")/../lib.sh"
MK=$TOP/scripts/najimi-mkservice
CHK=$SRC/najimi-check
S=$T/svc
Q=$T/qmail
mkdir -p "$Q/control" "$Q/users" "$Q/bin" "$Q/alias"
echo local.test > "$Q/control/locals"
echo local.test > "$Q/control/rcpthosts"
echo mx.local.test > "$Q/control/me"
printf '+:nobody:65534:65534:%s:-::\n.\n' "$Q/alias" > "$Q/users/assign"
"$SRC/rcptcheck-cdb" -u "$Q/users/assign" "$Q/users/cdb"
printf '#!/bin/sh\nexec cat\n' > "$Q/bin/qmail-smtpd"
chmod 755 "$Q/bin/qmail-smtpd"
chmod -R a+rX "$Q"

# A user whose home is mode 0700 (Debian's default); the users are the
# machine's, so runs take turns with rcptcheck_qmail.sh's.
flock -F -w 300 /tmp/najimi-rcptcheck-fidelity-users.lock sh -c ": > '$T/users.locked'; exec sleep 900" 2> /dev/null &
PIDS+=("$!")
wait_for 6000 test -e "$T/users.locked" || echo "# another run held the users' lock for 300 s; going on"
trap 'userdel njrfchk 2>/dev/null; cleanup' EXIT
userdel njrfchk 2>/dev/null
mkdir -p "$T/home/njrfchk"
useradd -M -d "$T/home/njrfchk" -s /usr/sbin/nologin njrfchk || echo "# useradd njrfchk failed"
chown njrfchk: "$T/home/njrfchk"
chmod 700 "$T/home/njrfchk"
chmod 755 "$T/home"

# ------------------------------------------------------------ mkservice refuses
# refuses WHAT PATTERN ARGS...: najimi-mkservice exits 100, its message
# matches PATTERN, and no DIR was made.
refuses() {
  local pat=$1; shift
  "$MK" -b "$SRC" -t "$TOP/control" -l '' "$@" "$T/refused" > "$T/mk.out" 2>&1
  local rc=$?
  cat "$T/mk.out"
  [ $rc -eq 100 ] && grep -q -- "$pat" "$T/mk.out" && [ ! -e "$T/refused" ]
}
check "mkservice: a qmail tree without bin/qmail-smtpd is refused, naming -q and -s" \
  refuses "use -q QMAILHOME, or -s" -q "$T/nosuchtree" -u nobody
check "mkservice: port 70000 is refused" refuses "port number from 1 to 65535" -q "$Q" -u nobody -p 70000
check "mkservice: port 0 is refused" refuses "port number from 1 to 65535" -q "$Q" -u nobody -p 0
check "mkservice: a user that does not exist is refused, naming the fix" \
  refuses "no such user: njrfnosuch (create it" -q "$Q" -u njrfnosuch

check "mkservice: an alias user that does not exist is refused" \
  refuses "no such user: njrfnosuch (qmail's alias user" -q "$Q" -u nobody -a njrfnosuch
check "mkservice -a: rcptcheck gets the alias user" sh -c "
  '$MK' -H -q '$Q' -u nobody -a nobody -l '' -i 127.0.0.1 -p 2598 -b '$SRC' -t '$TOP/control' '$T/svca' > /dev/null 2>&1 &&
  grep -q '$SRC/rcptcheck -a nobody ' '$T/svca/run'"

# ------------------------------------------------------------ the service
check "mkservice: makes the service, and runs najimi-check on it" sh -c "
  '$MK' -H -q '$Q' -u nobody -l '' -i 127.0.0.1 -p 2599 -b '$SRC' -t '$TOP/control' '$S' > '$T/mk.out' 2>&1
  rc=\$?; cat '$T/mk.out'; [ \$rc -eq 0 ] && grep -q '^najimi-check: ' '$T/mk.out'"
check "mkservice: run names the user (envuidgid nobody, tcpserver -U), no numbers" \
  sh -c "grep -q 'envuidgid nobody' '$S/run' && grep -q -- ' -U' '$S/run' && ! grep -q -- '-u [0-9]' '$S/run'"
check "mkservice: crontab has this service's paths, not /usr/local/bin" sh -c "
  grep -q '^23 \\* \\* \\* \\*    nobody envdir $S/env sh -c .exec $SRC/ipgreylist-expire \"\$GREYLISTDIR\".\$' '$S/crontab' &&
  grep -q '^\\*/10 \\* \\* \\* \\*  root  cd $S/control && make -s' '$S/crontab' &&
  grep -q '^# \\*/5 .* $SRC/rcptcheck-homes -q $Q $S/control/homes.cdb' '$S/crontab' &&
  ! grep -q /usr/local/bin '$S/crontab'"

# check_ok: najimi-check -s finds no error (notes are allowed).
check_ok() { "$CHK" -s "$S" -a nobody > "$T/chk.out" 2>&1; local rc=$?; cat "$T/chk.out"; [ $rc -eq 0 ] && ! grep -q ': error: ' "$T/chk.out"; }
# check_finds PATTERN: it finds an error matching PATTERN, exit 100.
check_finds() { "$CHK" -s "$S" -a nobody > "$T/chk.out" 2>&1; local rc=$?; cat "$T/chk.out"; [ $rc -eq 100 ] && grep -q -- "$1" "$T/chk.out"; }
check "najimi-check -s: a sound service, no error, exit 0" check_ok
check "najimi-check -s: ends with its summary" grep -q '^najimi-check: no errors, ' "$T/chk.out"
check "najimi-check: a mode-0700 home the user cannot search is noted (unverified)" \
  grep -q "^najimi-check: note: .* home(s) this user cannot search .*RCPTCHECK_HOMES" "$T/chk.out"

echo abc > "$S/env/GREETDELAY"
check "najimi-check: a bad GREETDELAY is named with its bounds" \
  check_finds "error: GREETDELAY=abc: not a number from 0 to 120: greetdelay uses its default"
rm "$S/env/GREETDELAY"
echo "$S/control/nosuch.cdb" > "$S/env/RCPTCHECK_CDB"
check "najimi-check: a configured RCPTCHECK_CDB that is missing: 451 at local domains" \
  check_finds "error: RCPTCHECK_CDB=$S/control/nosuch.cdb: No such file or directory: recipients at local domains get 451"
echo "$S/control/valid-rcpt.cdb" > "$S/env/RCPTCHECK_CDB"
check "najimi-check: the shipped valid-rcpt decides for no local domain: a note" sh -c "
  '$CHK' -s '$S' -a nobody | grep -q 'note: RCPTCHECK_CDB=.*example.test is no local or virtual domain'"
rm "$S/env/RCPTCHECK_CDB"
chmod 600 "$Q/users/cdb"
check "najimi-check: users/cdb the service's user cannot read (it became nobody)" \
  check_finds "error: $Q/users/cdb: Permission denied: every local recipient gets 451"
chmod 644 "$Q/users/cdb"
chown root "$S/greylist"
check "najimi-check: a state directory the user cannot write" \
  check_finds "error: GREYLISTDIR=$S/greylist: Permission denied: ipgreylist cannot keep its state"
chown nobody "$S/greylist"
echo "$S/no-triplets" > "$S/env/RCPTCHECK_GREYLIST"
check "najimi-check: a triplet directory that is missing" \
  check_finds "error: RCPTCHECK_GREYLIST=$S/no-triplets: No such file or directory: rcptcheck cannot keep its triplets"
echo "$S/greylist" > "$S/env/RCPTCHECK_GREYLIST"
echo "$S/control/nosuch.cdb" > "$S/env/RCPTCHECK_GREYLIST_LIST"
check "najimi-check: triplet lists that cannot be read" \
  check_finds "error: RCPTCHECK_GREYLIST_LIST=$S/control/nosuch.cdb: No such file or directory: rcptcheck uses no lists"
rm "$S/env/RCPTCHECK_GREYLIST" "$S/env/RCPTCHECK_GREYLIST_LIST"
echo redis.example:6379 > "$S/env/GREYLIST_REDIS"
check "najimi-check: GREYLIST_REDIS a name, not an address" \
  check_finds "error: GREYLIST_REDIS=redis.example:6379: not unix:/path, IPV4:PORT or \[IPV6\]:PORT (numeric): ipgreylist treats its state as unwritable"
echo 10.0.0.10:6379 > "$S/env/GREYLIST_REDIS"
echo "$S/nosuch.pass" > "$S/env/GREYLIST_REDIS_PASSFILE"
check "najimi-check: GREYLIST_REDIS_PASSFILE missing" \
  check_finds "error: GREYLIST_REDIS_PASSFILE=$S/nosuch.pass: No such file or directory: ipgreylist cannot authenticate"
rm "$S/env/GREYLIST_REDIS" "$S/env/GREYLIST_REDIS_PASSFILE"
mv "$S/control/tcp.smtp.cdb" "$T/rules.keep"
check "najimi-check: no tcp.smtp.cdb: tcpserver drops every connection" \
  check_finds "error: $S/control/tcp.smtp.cdb: No such file or directory: tcpserver drops every connection"
mv "$T/rules.keep" "$S/control/tcp.smtp.cdb"
# (users/assign's "+:" entry takes every name: without it, qmail needs
# the alias user)
mv "$Q/users/cdb" "$T/users.keep"
check "najimi-check: no alias user (and no users/cdb catch-all): 451 for names that are no user" sh -c "
  '$CHK' -s '$S' -a njrfnoalias | grep -q 'error: no alias user njrfnoalias: mail to names that are no user gets 451'"
check "najimi-check: the alias user there: no error" sh -c "'$CHK' -s '$S' -a nobody | grep -q '^najimi-check: no errors'"
mv "$T/users.keep" "$Q/users/cdb"
check "najimi-check: users/cdb's catch-all needs no alias user" sh -c "'$CHK' -s '$S' -a njrfnoalias | grep -q '^najimi-check: no errors'"
check "najimi-check: sound again" check_ok

# Without -s: the environment it is given, as the chain would see it.
check "najimi-check without -s: the environment given (QMAILHOME without rcpthosts)" sh -c "
  mkdir -p '$T/q2/control' && echo x.test > '$T/q2/control/locals' && chmod -R a+rX '$T/q2' &&
  QMAILHOME='$T/q2' '$CHK' -u nobody -a nobody > '$T/chk2.out'; rc=\$?; cat '$T/chk2.out'; [ \$rc -eq 100 ] &&
  grep -q 'error: $T/q2/control/rcpthosts: No such file or directory: qmail-smtpd takes mail for any domain' '$T/chk2.out'"

# ------------------------------------------------------------ -r
check "mkservice -r: lists the homes now, sets RCPTCHECK_HOMES, the cron line is on" sh -c "
  '$MK' -f -r -H -q '$Q' -u nobody -l '' -i 127.0.0.1 -p 2599 -b '$SRC' -t '$TOP/control' '$S' > '$T/mkv.out' 2>&1 || { cat '$T/mkv.out'; exit 1; }
  [ \"\$(cat '$S/env/RCPTCHECK_HOMES')\" = '$S/control/homes.cdb' ] && [ -s '$S/control/homes.cdb' ] &&
  grep -q '^\\*/5 \\* \\* \\* \\*   root  $SRC/rcptcheck-homes -q $Q $S/control/homes.cdb' '$S/crontab'"
check "najimi-check: with RCPTCHECK_HOMES, no note about unsearchable homes" sh -c "
  '$CHK' -s '$S' -a nobody > '$T/chk3.out'; rc=\$?; cat '$T/chk3.out'; [ \$rc -eq 0 ] && ! grep -q 'cannot search' '$T/chk3.out'"
rm "$S/control/homes.cdb"
check "najimi-check: RCPTCHECK_HOMES that is missing is an error" \
  check_finds "error: RCPTCHECK_HOMES=$S/control/homes.cdb: No such file or directory: the homes it lists pass unverified"

finish
