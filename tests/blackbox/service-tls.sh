#!/bin/bash
# SPDX-License-Identifier: ISC
# STARTTLS in a service made by scripts/najimi-mkservice (-C/-K, or env/
# files): starttlsd first, tcpserver as root under envuidgid, the key
# readable by root only; and the demo (scripts/najimi-demo, the README's
# command): it offers STARTTLS, and swaks --tls is greylisted once inside
# TLS, then delivered inside TLS.
. "$(dirname "$0")/../lib.sh"
exim_tail
S=$T/svc

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)

mkdir -p "$T/qmail/control" "$T/tls"
echo example.test > "$T/qmail/control/locals"
(umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=svc.example.test \
  -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" 2> /dev/null)
chmod 644 "$T/tls/cert.pem"

MK=("$TOP/scripts/najimi-mkservice" -H -q "$T/qmail" -s "${EXIM[*]}" -u Debian-exim -l ''
    -i 127.0.0.1 -p "$PORT" -n svc.test -b "$SRC" -t "$TOP/control")
check "mkservice: -C without -K is refused" sh -c "! $(printf '%q ' "${MK[@]}") -C '$T/tls/cert.pem' '$T/x' 2> '$T/err' && grep -q -- '-C and -K go together' '$T/err'"
check "mkservice -C -K: creates the service" "${MK[@]}" -C "$T/tls/cert.pem" -K "$T/tls/key.pem" "$S"
check "mkservice -C -K: env/CERTFILE and env/KEYFILE name the files" \
  sh -c "[ \"\$(cat '$S/env/CERTFILE')\" = '$T/tls/cert.pem' ] && [ \"\$(cat '$S/env/KEYFILE')\" = '$T/tls/key.pem' ]"
check "mkservice -C -K: run is envuidgid USER tcpserver, tcpserver stays root (no -U)" \
  sh -c "grep -q 'envuidgid Debian-exim ' '$S/run' && grep -q '^ *tcpserver ' '$S/run' && ! grep -q -- ' -U' '$S/run'"
check "mkservice -C -K: starttlsd first in the chain" grep -q "^ *$SRC/starttlsd $SRC/greetdelay " "$S/run"

# Without -C, files in env/ do the same (-f rewrites run).
S2=$T/svc2
"${MK[@]}" "$S2" > /dev/null
check "mkservice without a certificate: no starttlsd, tcpserver -U under envuidgid" \
  sh -c "! grep -q starttlsd '$S2/run' && grep -q 'envuidgid Debian-exim ' '$S2/run' && grep -q -- ' -U' '$S2/run'"
echo "$T/tls/cert.pem" > "$S2/env/CERTFILE"
echo "$T/tls/key.pem" > "$S2/env/KEYFILE"
check "mkservice -f with env/CERTFILE and env/KEYFILE: starttlsd first" \
  sh -c "$(printf '%q ' "${MK[@]}") -f '$S2' > /dev/null && grep -q '^ *$SRC/starttlsd ' '$S2/run' && grep -q envuidgid '$S2/run'"
chmod 644 "$T/tls/key.pem"
check "mkservice: warns about a key others can read" \
  sh -c "$(printf '%q ' "${MK[@]}") -f '$S2' 2>&1 > /dev/null | grep -q 'key.pem can be read by others'"
chmod 600 "$T/tls/key.pem"

# The service under supervise, its key readable by root only: mail from
# 127.0.0.1 (RELAYCLIENT, no pause, no greylist) inside TLS.
mkfifo "$T/pipe"
supervise "$S" > "$T/pipe" 2> "$T/supervise.err" &
SUP=$!
supervise "$S/log" < "$T/pipe" 2>> "$T/supervise.err" &
SUPLOG=$!
PIDS+=("$SUP" "$SUPLOG")
up() { svok "$S" && python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT)).close()" 2>/dev/null; }
check "service: up under supervise" wait_for 100 up
message "$T/m1" "through the service, inside TLS"
check "service: a message inside TLS, the key root-only, the chain as Debian-exim" client "$PORT" "
hello
starttls
ehlo client.test
$(message_steps "$T/m1" postmaster@example.test)"
check "service: delivered byte for byte" maildir_got "$T/m1"
check "service: starttlsd's line in log/main/current" logs "$S/log/main/current" '
expect-log ^@[0-9a-f]{24} starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ version=TLSv1\.3 
expect-log ^@[0-9a-f]{24} rcptcheck: done ip=127\.0\.0\.1 .* tls=yes$'
check "service: svc -dx stops it" svc -dx "$S" "$S/log"
gone() { ! kill -0 "$SUP" 2>/dev/null && ! kill -0 "$SUPLOG" 2>/dev/null; }
check "service: supervise exits" wait_for 200 gone

# The demo, as the README runs it (on a free port, in $T).
DPORT=$(free_port)
D=$T/demo/smtp
NAJIMI_DEMO_PORT=$DPORT "$TOP/scripts/najimi-demo" start "$D" > "$T/demo.out" 2>&1 &
DEMO=$!
PIDS+=("$DEMO")
dup() { svok "$D" && python3 -c "import socket; socket.create_connection(('127.0.0.1',$DPORT)).close()" 2>/dev/null; }
check "demo: starts" wait_for 200 dup
check "demo: made a throw-away certificate, the key readable by root only" \
  sh -c "openssl x509 -noout -subject -in '$T/demo/tls/cert.pem' | grep -q demo.example.test && [ \"\$(stat -c %a.%U '$T/demo/tls/key.pem')\" = 600.root ]"
check "demo: says to try swaks --tls" grep -q "swaks --server 127.0.0.1:$DPORT --tls --to postmaster@example.test" "$T/demo.out"
check "demo: swaks --tls is greylisted once, inside TLS" sh -c "
swaks --server 127.0.0.1:$DPORT --tls --to postmaster@example.test --timeout 20 > '$T/sw1' 2>&1;
grep -q 'TLS started' '$T/sw1' && grep -q '^<~\* *451 4.7.1' '$T/sw1'"
# the demo's minimum delay (10 s) as if it had passed
find "$D/greylist" -type f -exec touch -d '-1 minute' {} +
check "demo: swaks --tls again: delivered inside TLS" sh -c "
swaks --server 127.0.0.1:$DPORT --tls --to postmaster@example.test --timeout 20 > '$T/sw2' 2>&1 &&
grep -q 'TLS started' '$T/sw2' && grep -q '^<~  250 OK id=' '$T/sw2'"
check "demo: the message is in its Maildir" wait_for 100 sh -c "[ -n \"\$(ls '$T/demo/Maildir/new')\" ]"
check "demo: both sessions went into TLS (log)" logs "$D/log/main/current" '
expect-log-count 2 starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ version=TLSv1\.3 
expect-log ipgreylist: new ip=127\.0\.0\.1 .*code=451
expect-log rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]+ msgs=1 .* tls=yes$'
check "demo: svc -dx ends it" svc -dx "$D"
dgone() { ! kill -0 "$DEMO" 2>/dev/null; }
check "demo: the foreground command returns" wait_for 200 dgone

finish
