#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/report.sh: najimi-report's speed over a generated 1 GB multilog
# log, as a ratio against "grep -c ' code='" over the same file, in one
# run. Goal: najimi-report speed / grep -c speed >= 0.3. The log is made
# in $TMPDIR (/tmp) and deleted after. SIZE_MB overrides the size
# (default 1024).
cd "$(dirname "$0")/.." || exit 111
RP=src/najimi-report
[ -x "$RP" ] || { echo "build first: make"; exit 111; }
D=$(mktemp -d "${TMPDIR:-/tmp}/najimi-bench-report.XXXXXX") || exit 111
trap 'rm -rf "$D"' EXIT INT TERM
SIZE_MB=${SIZE_MB:-1024}

# One 16 MB block of a busy MX's lines (tcpserver -v, starttlsd,
# greetdelay, ipgreylist by /24 and by name, rcptcheck), about 20,000
# keys, then copies of it up to the size (the same stamps again: the
# per-line work is what is measured).
perl -e '
  my $t0 = 0x400000000000000a + 1795000000; my $t = $t0; my $pid = 1000; my $out = "";
  sub st { sprintf("\@%016x%08x ", $t, int(rand(1e9))) }
  while (length($out) < 16 * 1024 * 1024) {
    $t += int(rand(2)); $pid++;
    my $ip = sprintf("%d.%d.%d.%d", 11 + int(rand(200)), int(rand(10)), int(rand(10)), 1 + int(rand(3)));
    (my $key = $ip) =~ s/\.\d+$/.0-24/;
    $out .= st() . "tcpserver: status: 3/200\n";
    $out .= st() . "tcpserver: pid $pid from $ip\n";
    $out .= st() . "tcpserver: ok $pid mx.example:192.0.2.1:25 :$ip\::40000\n";
    my $r = rand();
    if ($r < 0.02) { $out .= st() . "tcpserver: deny $pid mx.example:192.0.2.1:25 :$ip\::40000\n"; next; }
    if ($r < 0.3) { $out .= st() . "starttlsd: tls ip=$ip pid=$pid version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 sni=mx.example\n"; }
    if ($r > 0.85) {
      $out .= st() . "greetdelay: early ip=$ip pid=$pid code=554 waited_ms=120 delay=5 data=EHLO?x\n";
    } else {
      $out .= st() . "greetdelay: pass ip=$ip pid=$pid delay=5\n";
      if ($r > 0.7) { $out .= st() . "ipgreylist: new ip=$ip pid=$pid key=$key keyby=net age=0 code=451\n"; }
      elsif ($r > 0.65) { $out .= st() . "ipgreylist: too-soon ip=$ip pid=$pid key=$key keyby=net age=60 count=1 min=300 code=451\n"; }
      else {
        if ($r > 0.6) { $out .= st() . "ipgreylist: pass ip=$ip pid=$pid key=$key keyby=net age=900 count=1\n"; }
        else { $out .= st() . "ipgreylist: regular ip=$ip pid=$pid key=$key keyby=net age=86400\n"; }
        my $bad = $r < 0.1 ? 2 : 0;
        for (1 .. $bad) { $out .= st() . "rcptcheck: reject ip=$ip pid=$pid code=550 rcpt=nobody$_\@example.test reason=nouser\n"; }
        my $m = $bad ? 0 : 1;
        $out .= st() . "rcptcheck: done ip=$ip pid=$pid msgs=$m rcpt_ok=$m rcpt_bad=$bad rcpt_defer=0 bad_cmd=0 bytes=5120 end=quit tls=no\n";
      }
    }
    $out .= st() . "tcpserver: end $pid status 0\n";
  }
  print $out;
' > "$D/block" || exit 111
n=$(( SIZE_MB / 16 ))
i=0
while [ $i -lt $n ]; do cat "$D/block"; i=$((i + 1)); done > "$D/log"
rm -f "$D/block"
bytes=$(wc -c < "$D/log")

now() { date +%s.%N; }
# Warm the page cache so that both read from memory.
cat "$D/log" > /dev/null
t0=$(now)
LC_ALL=C grep -c ' code=' "$D/log" > "$D/grep.out"
t1=$(now)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f '%M' -o "$D/rss" "$RP" -j "$D/log" > "$D/report.json"
else
  "$RP" -j "$D/log" > "$D/report.json"
fi
rc=$?
t2=$(now)
[ $rc -eq 0 ] || { echo "najimi-report failed: $rc"; exit 1; }
[ -s "$D/rss" ] && echo "najimi-report peak RSS: $(tail -n1 "$D/rss") kB (fixed tables, not per line)"
echo "log: $bytes bytes, grep -c found $(cat "$D/grep.out") lines with code=; the report: $(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["total"]["counts"]; print("%d lines, %d sessions" % (c["lines"], c["sessions"]))' "$D/report.json")"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$bytes" 'BEGIN {
  g = b - a; r = c - b;
  printf "grep -c:       %.2f s (%.0f MB/s)\n", g, n / g / 1e6;
  printf "najimi-report: %.2f s (%.0f MB/s)\n", r, n / r / 1e6;
  printf "najimi-report speed / grep -c speed: %.2f (goal >= 0.3)\n", g / r;
}'
