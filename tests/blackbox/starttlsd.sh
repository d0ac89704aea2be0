#!/bin/bash
# SPDX-License-Identifier: ISC
# starttlsd and the chain's UCSPI-TLS clients (rcptcheck, the refusal
# sessions of smtp.c) under the real tcpserver, with real TLS clients that
# share no code with najimi: Python's ssl (tests/smtpclient.py's starttls
# step, smtplib), openssl s_client, swaks --tls, and exim (GnuTLS) as a
# sending MTA. exim is the tail, its Maildir checked byte for byte.
. "$(dirname "$0")/../lib.sh"
exim_tail
STLS=$SRC/starttlsd

# ------------------------------------------------------------ fixtures
# Throw-away certificates: A and B (the renewal), RSA so that the oldest
# clients can try.
mkcert() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/$1.key" -out "$T/$1.crt" \
    -days 2 -subj "/CN=$1.mx.example.test" 2> /dev/null
}
mkcert a && mkcert b || echo "# openssl req failed"
fp() { openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2; }
FPA=$(fp "$T/a.crt")
FPB=$(fp "$T/b.crt")
cp "$T/a.crt" "$T/cert.pem"
cp "$T/a.key" "$T/key.pem"
chmod 600 "$T/key.pem"
CERT=(CERTFILE="$T/cert.pem" KEYFILE="$T/key.pem")

# A qmail tree: example.test is local, postmaster@example.test valid.
Q=$T/qmail
mkdir -p "$Q/control"
echo example.test > "$Q/control/locals"
printf 'postmaster@example.test\n' > "$T/valid"
"$SRC/rcptcheck-cdb" "$T/valid" "$T/valid.cdb"
RC=(env QMAILHOME="$Q" RCPTCHECK_CDB="$T/valid.cdb" "$SRC/rcptcheck")

# The user the chain runs as in the privilege cases (removed at the end).
TU=njtlsu
userdel "$TU" 2> /dev/null
useradd -M -d /nonexistent -s /usr/sbin/nologin "$TU" || echo "# useradd $TU failed"
trap 'cleanup; userdel "$TU" 2> /dev/null || { sleep 1; userdel "$TU"; }' EXIT
TUID=$(id -u "$TU")
TGID=$(id -g "$TU")

# A recording downstream: its uid, the UCSPI-TLS variables and the fds
# above 2 it was given (it must get none of them), and every byte.
mkdir -p "$T/rec"
chmod 777 "$T/rec"
cat > "$T/record.py" <<'PY'
import os, sys
rec = sys.argv[1]
fds = []
for fd in range(3, 256):
    try:
        os.fstat(fd)
        fds.append(fd)
    except OSError:
        pass
with open(rec + ".who", "w") as f:
    f.write("uid=%d gid=%d groups=%s\n" % (os.getuid(), os.getgid(), os.getgroups()))
    for k in sorted(os.environ):
        if k in ("SSLCTLFD", "SSLREADFD", "SSLWRITEFD", "UCSPITLS"):
            f.write("env %s=%s\n" % (k, os.environ[k]))
    f.write("fds=%s\n" % ",".join(str(x) for x in fds))
log = open(rec, "ab", buffering=0)
def out(b): os.write(1, b)
out(b"220 rec ESMTP\r\n")
buf, indata = b"", False
while True:
    c = os.read(0, 65536)
    if not c:
        sys.exit(0)
    log.write(c)
    buf += c
    while True:
        if indata:
            i = buf.find(b"\r\n.\r\n")
            if i < 0: break
            buf, indata = buf[i + 5:], False
            out(b"250 accepted\r\n")
            continue
        i = buf.find(b"\r\n")
        if i < 0: break
        line, buf = buf[:i], buf[i + 2:]
        v = line[:4].upper()
        if v == b"EHLO": out(b"250-rec\r\n250-STARTTLS\r\n250 PIPELINING\r\n")
        elif v == b"DATA": indata = True; out(b"354 go ahead\r\n")
        elif v == b"QUIT": out(b"221 bye\r\n"); sys.exit(0)
        else: out(b"250 ok " + v + b"\r\n")
PY
REC=(python3 "$T/record.py")

# tls_pid NAME: the session pid of the last "starttlsd: tls" line.
tls_pid() { sed -n 's/^starttlsd: tls ip=[^ ]* pid=\([0-9]*\) .*/\1/p' "$T/$1.log" | tail -n1; }

# ------------------------------------------------------------ rcptcheck inside TLS
serve_exim rc env "${CERT[@]}" "$STLS" "${RC[@]}"
check "rcptcheck: its EHLO reply offers STARTTLS (exim's offers none)" client "$PORT" "
hello
expect-line 250 STARTTLS
quit"

check "inside TLS: unknown recipient gets 550 5.1.1, logged" client "$PORT" "
hello
starttls
expect-tls-version TLSv1.3
ehlo client.test
expect-no-text STARTTLS
mail <s@remote.test>
rcpt <nosuch@example.test> 550
expect-text 5.1.1
quit
expect-log ^rcptcheck: reject ip=127\.0\.0\.1 pid=[0-9]+ code=550 rcpt=nosuch@example\.test$
expect-log ^rcptcheck: done ip=127\.0\.0\.1 .* end=quit tls=yes$"
maildir_mark
check "inside TLS: the unknown recipient never reached the tail" sh -c "! grep -q nosuch '$T/exim/log/mainlog' 2>/dev/null"
check "inside TLS: one starttlsd line, TLSv1.3 and its cipher, the session's pid" logs rc '
expect-log ^starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ version=TLSv1\.3 cipher=TLS_[A-Z0-9_]+$'
P1=$(tls_pid rc)
check "inside TLS: starttlsd's line and rcptcheck's carry the same pid" \
  grep -q "^rcptcheck: done ip=127\.0\.0\.1 pid=$P1 .*tls=yes" "$T/rc.log"

check "inside TLS: STARTTLS again gets 503 5.5.1; SNI logged" client "$PORT" "
hello
starttls tls-sni.example.test
ehlo client.test
send STARTTLS
expect 503
expect-text 5.5.1
quit
expect-log ^starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ version=TLSv1\.3 cipher=[^ ]+ sni=tls-sni\.example\.test$"

check "STARTTLS with an argument: 501 5.5.4, and the session goes on in clear" client "$PORT" "
hello
send STARTTLS now
expect 501
expect-text 5.5.4
mail <s@remote.test>
quit"

message "$T/m1" "sent after a STARTTLS in mid-transaction"
check "mid-transaction STARTTLS: accepted; the MAIL before it does not survive" client "$PORT" "
hello
mail <before-tls@remote.test>
starttls
ehlo client.test
rcpt <postmaster@example.test> 503
mail <after-tls@remote.test>
rcpt <postmaster@example.test>
message $T/m1
quit"
check "mid-transaction STARTTLS: the message arrived byte for byte" maildir_got "$T/m1"
check "mid-transaction STARTTLS: from the sender given inside TLS" \
  sh -c "grep -q 'after-tls@remote.test' '$T/exim/log/mainlog' && ! grep -q 'before-tls' '$T/exim/log/mainlog'"

# 20 MB inside TLS, byte for byte
python3 - "$T/big" <<'PY'
import sys, random
r = random.Random(9)
with open(sys.argv[1], "wb") as f:
    f.write(b"From: sender@example.test\r\nTo: postmaster@example.test\r\nSubject: big\r\n"
            b"Message-ID: <big.tls@example.test>\r\nDate: Sun, 22 Nov 2026 12:00:00 +0000\r\n\r\n")
    n = 0
    while n < 20 * 1024 * 1024:
        line = bytes(r.choice(b"abcdefghijklmnopqrstuvwxyz0123456789 .") for _ in range(76)) + b"\r\n"
        f.write(line)
        n += len(line)
PY
maildir_mark
check "20 MB inside TLS: accepted" client --timeout 60 "$PORT" "
hello
starttls
ehlo client.test
$(message_steps "$T/big")"
same_sha() {
  local want got f
  want=$(sed 's/\r$//' "$T/big" | sha256sum | cut -d' ' -f1)
  for f in "$MAILDIR"/new/*; do
    got=$(sha256sum < "$f" | cut -d' ' -f1)
    [ "$got" = "$want" ] && return 0
  done
  echo "# no delivered message has sha256 $want"
  return 1
}
big_arrived() { wait_for 200 maildir_now 1 && same_sha; }
check "20 MB inside TLS: delivered, sha256 equal" big_arrived

maildir_mark
check "smuggling inside TLS: a bare LF in DATA ends the session with 451" client "$PORT" "
hello
starttls
ehlo client.test
mail <s@remote.test>
rcpt <postmaster@example.test>
send DATA
expect 354
raw Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<postmaster@example.test>\r\nDATA\r\nsmuggled\r\n.\r\n
expect 451
expect-eof
expect-log ^rcptcheck: smuggle ip=127\.0\.0\.1 pid=[0-9]+ code=451 reason=bare-lf$"
check "smuggling inside TLS: a bare CR too" client "$PORT" "
hello
starttls
ehlo client.test
mail <s@remote.test>
rcpt <postmaster@example.test>
send DATA
expect 354
raw Subject: x\r\n\r\nbody\r.\rMAIL FROM:<evil@x.test>\r\n
expect 451
expect-eof"
check "smuggling inside TLS: nothing delivered" maildir_still 0

check "STARTTLS and MAIL in one packet: the MAIL is dropped, never executed" client "$PORT" "
hello
raw STARTTLS\r\nMAIL FROM:<injected@x.test>\r\n
expect 220
tls
ehlo client.test
rcpt <postmaster@example.test> 503
quit"
check "STARTTLS and MAIL in one packet: exim never saw the injected sender" \
  sh -c "! grep -q injected '$T/exim/log/mainlog'"

check "handshake garbage: the connection ends, starttlsd logs result=" client "$PORT" "
hello
send STARTTLS
expect 220
raw GET / HTTP/1.0\r\n\r\n
expect-eof
expect-log ^starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ result=failed error=[^ ]+$"
check "handshake garbage: rcptcheck ends quietly (done, tls=yes)" logs rc '
expect-log ^rcptcheck: done ip=127\.0\.0\.1 pid=[0-9]+ msgs=0 .* end=eof tls=yes$'

check "a client that closes in mid-handshake: result=closed" client "$PORT" "
hello
send STARTTLS
expect 220
raw \x16\x03\x01\x00\xf0\x01\x00
shutdown
expect-eof
expect-log ^starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ result=closed( error=[^ ]+)?$"

# a client that stops in mid-handshake: the deadline (-t 1)
serve_exim rct env "${CERT[@]}" "$STLS" -t 1 "${RC[@]}"
check "stalled handshake: dropped after -t 1 with result=timeout" client --timeout 5 "$PORT" "
hello
send STARTTLS
expect 220
raw \x16\x03\x01\x00\xf0\x01\x00\x00\xec\x03\x03
expect-eof
expect-log ^starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ result=timeout$
expect-log ^rcptcheck: done ip=127\.0\.0\.1 .* tls=yes$"

# a client that goes away during the relay, in the middle of a message
maildir_mark
check "client gone during the relay: mid-message, nothing delivered" client "$PORT" "
hello
starttls
ehlo client.test
mail <s@remote.test>
rcpt <postmaster@example.test>
send DATA
expect 354
raw Subject: half\r\n\r\nhalf a message
expect-log ^starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ version=
"
check "client gone during the relay: rcptcheck logs eof-in-data" logs rct '
expect-log ^rcptcheck: done ip=127\.0\.0\.1 .* end=eof-in-data tls=yes$'
P2=$(tls_pid rct)
tls_gone() { ! pgrep -f "^starttlsd-io -t [0-9]+ -p $P2 " > /dev/null && ! kill -0 "$P2" 2> /dev/null; }
check "client gone during the relay: the session and its TLS part are gone" wait_for 100 tls_gone
check "client gone during the relay: nothing delivered" maildir_still 0

# ------------------------------------------------------------ UCSPITLS
serve_exim req env "${CERT[@]}" "$STLS" env UCSPITLS=! "${RC[@]}"
message "$T/m2" "TLS required"
check "UCSPITLS=!: MAIL before STARTTLS gets 530 5.7.0; inside TLS it goes" client "$PORT" "
hello
mail <s@remote.test> 530
expect-text 5.7.0
starttls
ehlo client.test
mail <s@remote.test>
rcpt <postmaster@example.test>
message $T/m2
quit"
check "UCSPITLS=!: delivered" maildir_got "$T/m2"

serve_exim off env "${CERT[@]}" "$STLS" env UCSPITLS=- "${RC[@]}"
check "UCSPITLS=-: no STARTTLS offered, STARTTLS gets 454" client "$PORT" "
hello
expect-no-text STARTTLS
send STARTTLS
expect 454
quit"

# ------------------------------------------------------------ the downstream sees no UCSPI-TLS
# the fds the recorder gets straight from tcpserver (this shell's own):
serve base "${REC[@]}" "$T/rec/r0"
client "$PORT" "expect 220
quit" > /dev/null
wait_for 100 test -s "$T/rec/r0.who"
BASEFDS=$(grep '^fds=' "$T/rec/r0.who")
serve rec env "${CERT[@]}" "$STLS" "${RC[@]}" "${REC[@]}" "$T/rec/r1"
check "rcptcheck under starttlsd: the downstream's STARTTLS is replaced by ours, once" client "$PORT" "
hello
expect-line 250 STARTTLS
expect-line 250-PIPELINING
raw STARTTLS\r\nRSET\r\n
expect 220
tls
send EHLO client.test
expect 250
expect-line 250-rec
expect-no-text STARTTLS
send NOOP
expect 250
expect-text ok NOOP
quit"
check "STARTTLS and RSET in one packet: one RSET downstream (ours), then the new EHLO" \
  python3 -c "
import sys
d = open('$T/rec/r1', 'rb').read()
sys.exit(0 if d.count(b'RSET') == 1 and d.index(b'RSET\r\n') < d.rindex(b'EHLO client.test') else 1)"
check "the downstream got no UCSPI-TLS variable and no fd more than from tcpserver itself" \
  sh -c "! grep -q '^env ' '$T/rec/r1.who' && grep -qx '$BASEFDS' '$T/rec/r1.who'"

serve pass env "${CERT[@]}" "$STLS" env RCPTCHECK_TLS=passthrough "${RC[@]}" "${REC[@]}" "$T/rec/r4"
check "passthrough under starttlsd: only the downstream's STARTTLS, and it goes down" client "$PORT" "
hello
expect-line 250-STARTTLS
expect-no-text 250 STARTTLS
send STARTTLS
expect 250
expect-text ok STAR
quit"
check "passthrough under starttlsd: the downstream got the STARTTLS" grep -q 'STARTTLS' "$T/rec/r4"

# ------------------------------------------------------------ no certificate: no STARTTLS
serve_exim nocert env CERTFILE="$T/missing.pem" KEYFILE="$T/key.pem" "$STLS" "${RC[@]}"
check "CERTFILE missing: no STARTTLS offered, STARTTLS gets 454" client "$PORT" "
hello
expect-no-text STARTTLS
send STARTTLS
expect 454
quit
expect-log-count 1 ^starttlsd: warning: unable to read CERTFILE $T/missing\.pem"
check "CERTFILE missing: the next session warns again, once" client "$PORT" "
hello
quit
expect-log-count 2 ^starttlsd: warning: unable to read CERTFILE"

serve_exim nokey env CERTFILE="$T/cert.pem" KEYFILE="$T/empty.key" "$STLS" "${RC[@]}"
: > "$T/empty.key"
check "KEYFILE empty: no STARTTLS offered, one warning naming it" client "$PORT" "
hello
expect-no-text STARTTLS
quit
expect-log-count 1 ^starttlsd: warning: KEYFILE $T/empty\.key is not a regular file with contents"

# ------------------------------------------------------------ the certificate is read per connection
serve_exim renew env "${CERT[@]}" "$STLS" "${RC[@]}"
# seen: the SHA-256 fingerprint of the certificate openssl s_client got.
seen() {
  openssl s_client -starttls smtp -connect "127.0.0.1:$PORT" < /dev/null 2> /dev/null |
    openssl x509 -noout -fingerprint -sha256 | cut -d= -f2
}
check "openssl s_client -starttls smtp: the first certificate" test "$(seen)" = "$FPA"
cp "$T/b.key" "$T/key.new" && chmod 600 "$T/key.new" && cp "$T/b.crt" "$T/cert.new"
mv "$T/key.new" "$T/key.pem" && mv "$T/cert.new" "$T/cert.pem"
check "certificate replaced: the next connection gets the new one, no restart" test "$(seen)" = "$FPB"

# ------------------------------------------------------------ protocols
check "a TLS 1.1 client is refused; starttlsd logs result=" sh -c "
! openssl s_client -starttls smtp -tls1_1 -cipher DEFAULT@SECLEVEL=0 -connect 127.0.0.1:$PORT < /dev/null > '$T/tls11.out' 2>&1"
check "a TLS 1.1 client: the failed handshake is logged" logs renew '
expect-log ^starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ result=failed error=.*(version|protocol)'
check "a TLS 1.2 client is served TLS 1.2" sh -c "
openssl s_client -starttls smtp -tls1_2 -connect 127.0.0.1:$PORT < /dev/null 2>&1 | grep -q 'Protocol *: TLSv1.2'"
serve_exim proto env "${CERT[@]}" TLS_PROTOCOLS=tlsv1.3 TLS_CIPHERS=no-such-cipher-list "$STLS" "${RC[@]}"
check "TLS_PROTOCOLS=tlsv1.3: a TLS 1.2 client is refused" sh -c "
! openssl s_client -starttls smtp -tls1_2 -connect 127.0.0.1:$PORT < /dev/null > /dev/null 2>&1"
check "TLS_CIPHERS invalid: one warning naming it, the default used" client "$PORT" "
hello
starttls
quit
expect-log ^starttlsd: warning: invalid TLS_CIPHERS=no-such-cipher-list, using default secure$"

# ------------------------------------------------------------ real clients
serve_exim real env "${CERT[@]}" "$STLS" "${RC[@]}"
maildir_mark
check "swaks --tls: delivered inside TLS" sh -c "
swaks --server 127.0.0.1:$PORT --tls --to postmaster@example.test --from s@example.test --timeout 10 > '$T/swaks.out' 2>&1 &&
grep -q 'TLS started' '$T/swaks.out' && grep -q '^<~  250 OK id=' '$T/swaks.out'"
check "swaks --tls: the message arrived" maildir_new 1
check "swaks --tls: unknown recipient refused inside TLS" sh -c "
swaks --server 127.0.0.1:$PORT --tls --to nobody@example.test --from s@example.test --timeout 10 > '$T/swaks2.out' 2>&1;
grep -q 'TLS started' '$T/swaks2.out' && grep -q '^<~\* *550 5.1.1' '$T/swaks2.out'"
check "openssl s_client -starttls smtp: unknown recipient 550 inside TLS" sh -c "
printf 'EHLO client.test\nMAIL FROM:<s@remote.test>\nRCPT TO:<nobody@example.test>\nQUIT\n' |
openssl s_client -starttls smtp -crlf -quiet -connect 127.0.0.1:$PORT 2> /dev/null | grep -q '^550 5.1.1'"
message "$T/m3" "python smtplib, starttls()"
check "python smtplib starttls(): delivered byte for byte" python3 - "$PORT" "$T/m3" <<'PY'
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.test")
assert s.has_extn("starttls"), "no STARTTLS offered"
code, _ = s.starttls(context=ctx)
assert code == 220
s.ehlo("client.test")
assert not s.has_extn("starttls"), "STARTTLS offered inside TLS"
s.sendmail("sender@example.test", ["postmaster@example.test"], open(sys.argv[2], "rb").read())
s.quit()
PY
check "python smtplib starttls(): the message arrived" maildir_got "$T/m3"

# The network side as starttlsd reads it: TLS records split into single
# bytes (the handshake and part of the body: one read may hold less than
# a record's header), and many records in one write (the rest of the
# body: one read holds several records). Python's ssl over memory BIOs,
# so that this client decides where the bytes are cut.
message "$T/m4" "records cut anywhere" ".a line that starts with a dot" \
  "$(printf 'x%.0s' $(seq 1 900))" "$(printf 'y%.0s' $(seq 1 900))" "the end"
check "TLS records cut into bytes and packed many to a write: delivered byte for byte" \
  timeout 60 python3 - "$PORT" "$T/m4" <<'PY'
import socket, ssl, sys
port, msg = int(sys.argv[1]), open(sys.argv[2], "rb").read()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""
def reply(get):                                # the code of the next whole reply
    global buf
    while True:
        start = 0
        while (end := buf.find(b"\r\n", start)) >= 0:
            if buf[start + 3:start + 4] == b" ":
                code, buf = int(buf[start:start + 3]), buf[end + 2:]
                return code
            start = end + 2
        d = get()
        assert d, "connection closed, have %r" % buf
        buf += d
plain = lambda: s.recv(65536)
assert reply(plain) == 220
s.sendall(b"EHLO client.test\r\n"); assert reply(plain) == 250
s.sendall(b"STARTTLS\r\n"); assert reply(plain) == 220
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
t = ctx.wrap_bio(inc, out)
def flush(cut):
    d = out.read()
    if cut:
        for i in range(len(d)): s.sendall(d[i:i + 1])
    else:
        s.sendall(d)
def feed():
    d = s.recv(65536)
    assert d, "connection closed in TLS"
    inc.write(d)
for _ in range(100):
    try:
        t.do_handshake(); break
    except ssl.SSLWantReadError:
        flush(True); feed()
flush(True)
def secure():
    for _ in range(100):
        try:
            return t.read(65536)
        except ssl.SSLWantReadError:
            flush(False); feed()
    return b""
def cmd(line, want, cut):
    for i in range(0, len(line), 3):          # a record every 3 bytes
        t.write(line[i:i + 3])
    flush(cut)
    code = reply(secure)
    assert code == want, "%r: %d, want %d" % (line, code, want)
cmd(b"EHLO client.test\r\n", 250, True)
cmd(b"MAIL FROM:<sender@example.test>\r\n", 250, False)
cmd(b"RCPT TO:<postmaster@example.test>\r\n", 250, True)
cmd(b"DATA\r\n", 354, False)
body = msg.replace(b"\r\n.", b"\r\n..")
half = len(body) // 2
for i in range(0, half, 7): t.write(body[i:min(i + 7, half)])
flush(True)                                   # half of it a byte at a time
for i in range(half, len(body), 50): t.write(body[i:i + 50])
cmd(b".\r\n", 250, False)                     # the rest: ~20 records, one write
cmd(b"QUIT\r\n", 221, True)
PY
check "TLS records cut into bytes and packed many to a write: the message arrived" maildir_got "$T/m4"

# ------------------------------------------------------------ the refusal sessions
GREY=$T/grey
mkdir -p "$GREY"
serve_exim grey env "${CERT[@]}" "$STLS" env TCPLOCALHOST=mx.example.test GREYLISTDIR="$GREY" \
  "$SRC/greetdelay" "$SRC/ipgreylist" "${RC[@]}"
check "ipgreylist's refusal offers STARTTLS and gives its 451 inside TLS" client "$PORT" "
hello
expect-line 250 STARTTLS
starttls
ehlo client.test
expect-no-text STARTTLS
mail <s@remote.test>
rcpt <postmaster@example.test> 451
expect-text 4.7.1
send STARTTLS
expect 503
quit
expect-log ^ipgreylist: (new|too-soon) ip=127\.0\.0\.1 .*code=451"
check "the refusal inside TLS: starttlsd's line carries ipgreylist's pid" sh -c "
p=\$(sed -n 's/^starttlsd: tls ip=127.0.0.1 pid=\([0-9]*\) version.*/\1/p' '$T/grey.log' | tail -n1);
grep -q \"^ipgreylist: [a-z-]* ip=127\.0\.0\.1 pid=\$p \" '$T/grey.log'"
check "the refusal: STARTTLS and RSET in one packet, the RSET not executed" client "$PORT" "
hello
raw STARTTLS\r\nRSET\r\n
expect 220
tls
send EHLO client.test
expect 250
expect-line 250 mx.example.test
send NOOP
expect 250
quit"
check "the refusal: STARTTLS with an argument gets 501" client "$PORT" "
hello
send STARTTLS x
expect 501
quit"
check "swaks --tls against the refusal: 451 inside TLS" sh -c "
swaks --server 127.0.0.1:$PORT --tls --to postmaster@example.test --from s@example.test --timeout 10 > '$T/swaks3.out' 2>&1;
grep -q 'TLS started' '$T/swaks3.out' && grep -q '^<~\* *451 4.7.1' '$T/swaks3.out'"
# exim as a sending MTA that insists on TLS: greylisted (inside TLS),
# queued, retried after the minimum delay, delivered to the tail.
S=$T/sender
exim_sender "$S" "$PORT" "hosts_require_tls = *" "tls_verify_hosts =" "tls_try_verify_hosts ="
message "$T/m4" "through ipgreylist's retry, from exim, inside TLS"
rm -rf "$GREY"/*
maildir_mark
NTLS=$(grep -c '^starttlsd: tls .* version=' "$T/grey.log")
check "exim sender: the first attempt is greylisted (451 inside TLS), the message queued" sh -c "
exim4 -C '$S/conf' -odi -f sender@example.test postmaster@example.test < '$T/m4';
grep -q 'X=TLS.*451 4.7.1\|451 4.7.1' '$S/log/mainlog' && [ -n \"\$(exim4 -C '$S/conf' -bpc)\" ] && [ \"\$(exim4 -C '$S/conf' -bpc)\" -eq 1 ]"
check "exim sender: that attempt was inside TLS (starttlsd's line for it)" logs grey "
expect-log-count $((NTLS + 1)) ^starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ version=TLSv1\.[23] "
check "exim sender: the 451 was ipgreylist's, in that TLS session" sh -c "
p=\$(sed -n 's/^starttlsd: tls ip=127.0.0.1 pid=\\([0-9]*\\) version.*/\\1/p' '$T/grey.log' | tail -n1);
grep -q \"^ipgreylist: new ip=127\\.0\\.0\\.1 pid=\$p .*code=451\" '$T/grey.log'"
find "$GREY" -type f -exec touch -d '-10 minutes' {} +
check "exim sender: the retry after the minimum delay is delivered" sh -c "
exim4 -C '$S/conf' -qff; grep -q '=> postmaster@example.test .*X=TLS1\.[23]' '$S/log/mainlog'"
check "exim sender: the message reached the tail" maildir_new 1
check "exim sender: the retry passed ipgreylist" logs grey '
expect-log ^ipgreylist: pass ip=127\.0\.0\.1 '

serve_exim early env "${CERT[@]}" "$STLS" env GREETDELAY=2 "$SRC/greetdelay" "${RC[@]}"
check "greetdelay's 554 comes before any TLS: no STARTTLS" client "$PORT" "
send EHLO early.test
expect 554
send EHLO early.test
expect 503
send STARTTLS
expect 503
quit"


# ------------------------------------------------------------ privileges
# Started as root with UID and GID (envuidgid), the key readable by root
# only: the chain runs as the user, and so does the TLS part.
cp "$T/a.crt" "$T/cert.pem"
cp "$T/a.key" "$T/key.pem"
chown root:root "$T/key.pem"
chmod 600 "$T/key.pem"
serve priv env UID="$TUID" GID="$TGID" "${CERT[@]}" "$STLS" "${RC[@]}" "${REC[@]}" "$T/rec/r2"
# ids_of PID: its real, effective, saved uids, then gids, then groups.
ids_of() { awk '/^(Uid|Gid|Groups):/ { $1 = ""; printf "%s;", $0 }' "/proc/$1/status" 2> /dev/null; }
WANT_IDS=" $TUID $TUID $TUID $TUID; $TGID $TGID $TGID $TGID; $TGID;"
# A session held open inside TLS while its processes are looked at.
python3 - "$PORT" "$T/priv.seen" "$T/priv.log" <<'PY' &
import socket, ssl, sys, time, re, subprocess
port, out, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
def reply(f):
    while True:
        l = f.readline()
        if l[3:4] != b"-": return l
reply(f); s.sendall(b"EHLO c.test\r\n"); reply(f)
s.sendall(b"STARTTLS\r\n"); r = reply(f)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s)
g = t.makefile("rb")
t.sendall(b"EHLO c.test\r\n"); reply(g)
pid = None
for i in range(100):
    m = re.findall(r"^starttlsd: tls ip=127\.0\.0\.1 pid=(\d+) version", open(log).read(), re.M)
    if m: pid = m[-1]; break
    time.sleep(0.05)
io = subprocess.run(["pgrep", "-f", "^starttlsd-io -t [0-9]+ -p %s " % pid], capture_output=True, text=True).stdout.split()
with open(out, "w") as o:
    o.write("%s %s %s\n" % (r.decode()[:3], pid, io[0] if io else "-"))
time.sleep(1)
t.sendall(b"QUIT\r\n"); reply(g)
PY
HOLD=$!
PIDS+=("$HOLD")
wait_for 100 test -s "$T/priv.seen"
read -r CODE SPID IOPID < "$T/priv.seen" 2> /dev/null
check "root-only key, UID/GID set: STARTTLS and the handshake work" test "${CODE:-}" = 220
check "UID/GID: the session (rcptcheck) runs as the user and group, no other group" \
  test "$(ids_of "${SPID:-0}")" = "$WANT_IDS"
check "UID/GID: the TLS part runs as the user and group too" test "$(ids_of "${IOPID:-0}")" = "$WANT_IDS"
wait "$HOLD"
check "UID/GID: the downstream runs as the user, without UCSPI-TLS fds or variables" \
  sh -c "grep -qx 'uid=$TUID gid=$TGID groups=\[$TGID\]' '$T/rec/r2.who' && ! grep -q '^env ' '$T/rec/r2.who' && grep -qx '$BASEFDS' '$T/rec/r2.who'"

serve baduid env UID="$TUID" "${CERT[@]}" "$STLS" "${RC[@]}" "${REC[@]}" "$T/rec/r5"
check "UID without GID: 421 to the client, a fatal line, the chain never runs as root" client "$PORT" "
expect 421
expect-eof
expect-log ^starttlsd: fatal: UID and GID must both be numbers"
check "UID without GID: nothing after starttlsd ran" test ! -e "$T/rec/r5.who"

# Started unprivileged (tcpserver -u -g): the root-only key cannot be
# read, so no STARTTLS; a key the user can read works.
TCPSERVER_OPTS="-u $TUID -g $TGID" serve unpriv env "${CERT[@]}" "$STLS" "${RC[@]}" "${REC[@]}" "$T/rec/r3"
check "unprivileged, root-only key: no STARTTLS, one warning naming KEYFILE" client "$PORT" "
hello
expect-no-text STARTTLS
quit
expect-log-count 1 ^starttlsd: warning: unable to read KEYFILE $T/key\.pem"
chown "$TU" "$T/key.pem"
check "unprivileged, a key the user can read: TLS works" client "$PORT" "
hello
starttls
ehlo client.test
quit
expect-log ^starttlsd: tls ip=127\.0\.0\.1 pid=[0-9]+ version=TLSv1\.3"

finish
