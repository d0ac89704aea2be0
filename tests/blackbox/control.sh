#!/bin/bash
# SPDX-License-Identifier: ISC
# control/'s Makefile and its IPV6 switch, over a log made by really
# running greetdelay under tcpserver: early talkers from an IPv4 and an
# IPv6 address (a one-line wrapper sets TCPREMOTEIP, as in retrydeny.sh).
# Without IPV6 = yes, retrydeny counts the IPv6 host but lists only the
# IPv4 one, so that plain ucspi-tcp's tcprules (which refuses IPv6 rules)
# can compile the list; with it, retrydeny gets -6 and lists both.
. "$(dirname "$0")/../lib.sh"

: > "$T/sess.env"
serve chain sh -c ". '$T/sess.env'; exec \"\$@\"" sh "$SRC/greetdelay" /bin/true
early() {
  echo "export TCPREMOTEIP='$1' GREETDELAY=2" > "$T/sess.env"
  client "$PORT" "
send EHLO early.test
expect 554
send QUIT
expect 221" > "$T/c.out" || { cat "$T/c.out"; return 1; }
}
times() { local n=$1 i; shift; for i in $(seq 1 "$n"); do "$@" || return 1; done; }
check "chain: 5 early talkers from 192.0.2.7" times 5 early 192.0.2.7
check "chain: 5 early talkers from 2001:db8::5" times 5 early 2001:db8::5
stop_server "$SERVER_PID"

# A service's control/ as najimi-mkservice makes it: the templates, BIN
# in paths.mk, the log in ../log/main/current.
S=$T/svc
mkdir -p "$S/control" "$S/log/main"
tai64n < "$T/chain.log" > "$S/log/main/current"
check "log: greetdelay's 554 lines for both" \
  sh -c "grep -q 'early ip=192\.0\.2\.7 .*code=554' '$S/log/main/current' && grep -q 'early ip=2001:db8::5 .*code=554' '$S/log/main/current'"
for f in "$TOP"/control/*; do cp "$f" "$S/control/"; done
echo "BIN = $SRC/" > "$S/control/paths.mk"
C=$S/control

check "default: make builds tcp.smtp.cdb" sh -c "cd '$C' && make -s > /dev/null"
check "default: deny.smtp lists 192.0.2.7" grep -qx '192\.0\.2\.7:deny' "$C/deny.smtp"
check "default: deny.smtp has no IPv6 line" sh -c "! grep -qi '^2001:db8' '$C/deny.smtp'"
check "default: tcp.smtp.cdb denies 192.0.2.7" \
  sh -c "TCPREMOTEIP=192.0.2.7 tcprulescheck '$C/tcp.smtp.cdb' | grep -qx 'deny connection'"

# IPV6 = yes in config.mk: retrydeny runs again (config.mk changed), -6.
echo 'IPV6 = yes' > "$C/config.mk"
check "IPV6 = yes: make runs retrydeny with -6" \
  sh -c "cd '$C' && make -n deny.stamp | grep -q 'retrydeny .*-6 '"
check "IPV6 = yes: retrydeny writes deny.smtp" sh -c "cd '$C' && make -s deny.stamp"
check "IPV6 = yes: deny.smtp lists 2001:db8::5" grep -qx '2001:db8::5:deny' "$C/deny.smtp"
check "IPV6 = yes: and still 192.0.2.7" grep -qx '192\.0\.2\.7:deny' "$C/deny.smtp"

# What this host's tcprules makes of it: an IPv6-capable one (Debian's
# ucspi-tcp-ipv6) compiles the list; plain ucspi-tcp's refuses the IPv6
# line, make fails, and the running tcp.smtp.cdb stays as it was.
cp "$C/tcp.smtp.cdb" "$T/cdb.before"
if printf '::1:deny\n' | tcprules "$T/probe.cdb" "$T/probe.tmp" 2> /dev/null; then
  echo "# this tcprules reads IPv6 rules"
  check "IPV6 = yes: make compiles the IPv6 rule" sh -c "cd '$C' && make -s > /dev/null"
  check "IPV6 = yes: tcp.smtp.cdb denies 2001:db8::5" \
    sh -c "TCPREMOTEIP=2001:db8::5 tcprulescheck '$C/tcp.smtp.cdb' | grep -qx 'deny connection'"
else
  echo "# this tcprules refuses IPv6 rules (plain ucspi-tcp)"
  check "IPV6 = yes, plain tcprules: make fails" sh -c "cd '$C' && ! make -s > /dev/null 2>&1"
  check "IPV6 = yes, plain tcprules: tcp.smtp.cdb left as it was" cmp "$C/tcp.smtp.cdb" "$T/cdb.before"
fi

# Back to the default: the IPv6 line goes at the next run.
rm "$C/config.mk"
rm -f "$C/deny.stamp"
check "IPV6 back to no: make" sh -c "cd '$C' && make -s > /dev/null"
check "IPV6 back to no: no IPv6 line" sh -c "! grep -qi '^2001:db8' '$C/deny.smtp'"

# For one run, on the command line.
rm -f "$C/deny.stamp"
check "make IPV6=yes: lists 2001:db8::5" \
  sh -c "cd '$C' && make -s IPV6=yes deny.stamp && grep -qx '2001:db8::5:deny' deny.smtp"

# A bad value: make refuses at once, naming the variable.
check "IPV6 = maybe: make exits non-zero naming IPV6" \
  sh -c "cd '$C' && ! make -s IPV6=maybe > '$T/bad.out' 2>&1 && grep -q 'IPV6 must be yes or no' '$T/bad.out'"

finish
