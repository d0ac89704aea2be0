#!/bin/bash
# SPDX-License-Identifier: ISC
# najimi-explain against the real chain: for a client in each situation
# (whitelisted, a known sender, new, too soon, regular, lapsed, denied,
# RELAYCLIENT, a greet pause), what it says the chain would do, then what
# the chain (tcpserver -x, greetdelay, ipgreylist, exim, with the
# service's env/) really does with that client; and that it changes
# nothing.
. "$(dirname "$0")/../lib.sh"
EX=$SRC/najimi-explain
needs_root "exim -C"
exim_tail

SVC=$T/svc
mkdir -p "$SVC/env" "$SVC/control" "$SVC/greylist"
echo "$SVC/greylist" > "$SVC/env/GREYLISTDIR"
echo "$SVC/control/greylist-whitelist.cdb" > "$SVC/env/GREYLIST_WHITELIST"
echo 2 > "$SVC/env/GREYLIST_MIN"
echo 32 > "$SVC/env/GREYLIST_V4PREFIX"
echo ip > "$SVC/env/GREYLIST_KEY"
printf '127.0.7.7:allow,RELAYCLIENT=""\n127.0.7.8:allow,GREETDELAY="1"\n' > "$SVC/control/tcp.smtp"
printf '# Written by retrydeny(8): hosts refused permanently again and again.\n# 127.0.7.6 expires=2099-01-08T10:00:00Z sessions=5 first=2099-01-01T09:00:00Z last=2099-01-01T10:00:00Z\n127.0.7.6:deny\n' > "$SVC/control/deny.smtp"
cat "$SVC/control/tcp.smtp" "$SVC/control/deny.smtp" | tcprules "$SVC/control/tcp.smtp.cdb" "$SVC/control/tcp.tmp"
echo '127.0.7.1 2099-12-31   # a partner' > "$SVC/control/greylist-whitelist"
echo '127.0.7.2   # a pool, from its published list' > "$SVC/control/greylist-known-senders"
"$SRC/ipgreylist-mkwl" "$SVC/control/greylist-whitelist.cdb" "$SVC/control/wl.tmp" "$SVC/control/greylist-whitelist" "$SVC/control/greylist-known-senders"
cat > "$SVC/run" <<RUN
#!/bin/sh
exec envdir ./env tcpserver -v -R -x control/tcp.smtp.cdb 0 25 \\
  $SRC/greetdelay $SRC/ipgreylist /var/qmail/bin/qmail-smtpd 2>&1
RUN

TCPSERVER_OPTS="-x $SVC/control/tcp.smtp.cdb" serve chain envdir "$SVC/env" "$SRC/greetdelay" "$SRC/ipgreylist" "${EXIM[@]}"
message "$T/msg" "explain test"

# explain IP: najimi-explain -j -s SVC, the verdict then "code why" on stdout
explain() { "$EX" -j -s "$SVC" "$1" > "$T/ex.json" && cat "$T/ex.json" >&2; }
field() { python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v[k]
print("null" if v is None else str(v).lower() if isinstance(v, bool) else v)' "$T/ex.json" "$1"; }
is() { local got; got=$(field "$1"); [ "$got" = "$2" ] || { echo "# $1: got $got, want $2"; return 1; }; }
passes() { client --source "$1" "$PORT" "
hello
$(message_steps "$T/msg")"; }
greylisted() { client --source "$1" "$PORT" "
hello
mail <s@remote.test>
rcpt <postmaster@example.test> 451
quit"; }
logged() { wait_for 40 grep -Eq "$1" "$LOG" || { echo "# not in the log: $1"; tail -n 5 "$LOG"; return 1; }; }
E() { explain "$1" && shift && local f; for f in "$@"; do is "${f%%=*}" "${f#*=}" || return 1; done; }

check "whitelisted 127.0.7.1: explain says pass, by the whitelist entry, its expiry" \
  E 127.0.7.1 verdict.code=pass ipgreylist.by=whitelist ipgreylist.match=127.0.7.1/32 ipgreylist.expiry=2099-12-31 ipgreylist.known_sender=false
check "... and the chain lets it in" passes 127.0.7.1
check "... whitelisted by that entry" logged '^ipgreylist: whitelisted ip=127\.0\.7\.1 pid=[0-9]+ by=cdb match=127\.0\.7\.1/32'
check "known sender 127.0.7.2: explain says pass, from greylist-known-senders" \
  E 127.0.7.2 verdict.code=pass ipgreylist.match=127.0.7.2/32 ipgreylist.known_sender=true ipgreylist.expiry=null
check "... and the chain lets it in" passes 127.0.7.2

before=$(find "$SVC" -printf '%p %s %T@\n' | sort)
check "new 127.0.7.3: explain says 451, a stranger, no record" \
  E 127.0.7.3 verdict.code=451 ipgreylist.state=none 'ipgreylist.next=451 new' ipgreylist.key=ip:127.0.7.3
check "explain wrote nothing (no record, no file changed)" sh -c "[ \"\$(find '$SVC' -printf '%p %s %T@\n' | sort)\" = '$before' ]"
check "... and the chain greylists it" greylisted 127.0.7.3
check "... as new" logged '^ipgreylist: new ip=127\.0\.7\.3 pid=[0-9]+ key=127\.0\.7\.3 keyby=ip age=0 code=451'
check "too soon: explain says 451, passes within GREYLIST_MIN" \
  sh -c "$(declare -f explain field is E); EX='$EX' SVC='$SVC' T='$T'; E 127.0.7.3 verdict.code=451 ipgreylist.state=pending 'ipgreylist.next=451 too-soon' && [ \$(field ipgreylist.left) -le 2 ]"
check "... and the chain refuses it again, too soon" greylisted 127.0.7.3
check "... as too-soon" logged '^ipgreylist: too-soon ip=127\.0\.7\.3 .* code=451'
sleep 2.5
check "after GREYLIST_MIN: explain says pass, it becomes a regular" \
  E 127.0.7.3 verdict.code=pass 'ipgreylist.next=pass promote'
check "... and the chain lets it in" passes 127.0.7.3
check "... as a pass" logged '^ipgreylist: pass ip=127\.0\.7\.3 '
check "regular: explain says pass regular, lapses in GREYLIST_LIFETIME" \
  E 127.0.7.3 verdict.code=pass ipgreylist.state=regular 'ipgreylist.next=pass regular'
check "... and the chain lets it in" passes 127.0.7.3
check "... as a regular" logged '^ipgreylist: regular ip=127\.0\.7\.3 '
f=$(find "$SVC/greylist" -name 127.0.7.3)
touch -d '-40 days' "$f"
check "lapsed (40 days): explain says 451, the record reset (lapsed)" \
  E 127.0.7.3 verdict.code=451 ipgreylist.state=regular 'ipgreylist.next=451 reset' ipgreylist.reset=lapsed
check "... and the chain greylists it" greylisted 127.0.7.3
check "... reset as lapsed" logged '^ipgreylist: new ip=127\.0\.7\.3 .* reset=lapsed was=34[0-9]{5} code=451'
check "denied 127.0.7.6: explain says deny, with retrydeny's evidence" \
  E 127.0.7.6 verdict.code=deny tcprules.rule=127.0.7.6 tcprules.deny=true deny.listed=true deny.sessions=5 deny.first=4070941200 deny.last=4070944800
check "... and tcpserver drops it" client --source 127.0.7.6 "$PORT" "
expect-eof"
check "RELAYCLIENT 127.0.7.7: explain says pass, no pause" \
  E 127.0.7.7 verdict.code=pass ipgreylist.by=RELAYCLIENT greetdelay.pause=0 tcprules.env.RELAYCLIENT=
check "... and the chain lets it in" passes 127.0.7.7
check "... as a relay client" logged '^ipgreylist: relayclient ip=127\.0\.7\.7 '
check "greet pause 127.0.7.8: explain says 1 s from GREETDELAY (tcprules)" \
  E 127.0.7.8 greetdelay.pause=1 greetdelay.from=GREETDELAY tcprules.env.GREETDELAY=1
check "... and the chain refuses it when it talks first" client --source 127.0.7.8 "$PORT" "
send EHLO early.test
expect 554"
check "text output: the steps and the verdict" sh -c "
  '$EX' -s '$SVC' 127.0.7.6 > '$T/ex.txt' && cat '$T/ex.txt' &&
  grep -q '^tcpserver: rule \"127.0.7.6\" in control/tcp.smtp.cdb: deny$' '$T/ex.txt' &&
  grep -q '^retrydeny: listed in control/deny.smtp: 5 refused sessions, first 2099-01-01T09:00:00Z, last offence 2099-01-01T10:00:00Z' '$T/ex.txt' &&
  grep -q '^verdict: deny: ' '$T/ex.txt'"
check "files as options (no -s): the same verdict" sh -c "
  GREYLIST_MIN=2 GREYLIST_V4PREFIX=32 GREYLIST_KEY=ip '$EX' -j -x '$SVC/control/tcp.smtp.cdb' -D '$SVC/control/deny.smtp' -d '$SVC/greylist' -w '$SVC/control/greylist-whitelist.cdb' 127.0.7.1 | grep -q '\"verdict\":{\"code\":\"pass\",\"why\":\"whitelisted\"}'"
# The rule lookup, against tcprulescheck over rules of every form.
printf '10.1.2.3:allow,A="exact"\n10.1.2.:allow,A="prefix3"\n10.1.:deny\n=mx.example.org:allow,A="host"\n=.example.org:allow,A="suffix"\n=.org:allow,A="tld"\n=:allow,A="anyname"\n:allow,A="default"\n' |
  tcprules "$T/forms.cdb" "$T/forms.tmp"
check "the rule for each address and name is tcprulescheck's" sh -c "
  for c in '10.1.2.3 -' '10.1.2.4 -' '10.1.9.9 -' '10.2.0.1 mx.example.org' '10.2.0.1 a.b.example.org' '10.2.0.1 x.org' '10.2.0.1 x.net' '10.2.0.1 -' '10.1.2.3 mx.example.org'; do
    set -- \$c; h=\$2; [ \"\$h\" = - ] && h=
    want=\$(env TCPREMOTEIP=\$1 \${h:+TCPREMOTEHOST=\$h} tcprulescheck '$T/forms.cdb' | sed -n 's/^rule \\(.*\\):\$/\\1/p')
    got=\$('$EX' -j -x '$T/forms.cdb' \$1 \$h | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"tcprules\"][\"rule\"] or \"\")')
    echo \"# \$1 \$h: tcprulescheck '\$want', explain '\$got'\"; [ \"\$want\" = \"\$got\" ] || exit 1
  done"
check "usage: no address, a bad one: exit 100" sh -c "
  '$EX' 2>/dev/null; [ \$? -eq 100 ] || exit 1; '$EX' -s '$SVC' 300.1.2.3 2>/dev/null; [ \$? -eq 100 ]"
check "-V" sh -c "'$EX' -V | grep -qx 'najimi-explain najimi $(cat "$TOP/VERSION")'"
finish
