#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/retrydeny.sh: retrydeny's speed over a generated 1 GB multilog
# log, as a ratio against "grep -c" over the same file, in one run.
# Goal: retrydeny speed / grep -c speed >= 0.3. The log is deleted after.
# SIZE_MB overrides the size (default 1024).
cd "$(dirname "$0")/.." || exit 111
RD=src/retrydeny
[ -x "$RD" ] || { echo "build first: make"; exit 111; }
D=$(mktemp -d "${TMPDIR:-/tmp}/najimi-bench-rd.XXXXXX") || exit 111
trap 'rm -rf "$D"' EXIT INT TERM
SIZE_MB=${SIZE_MB:-1024}

# One 16 MB block of realistic chain lines (about 150,000 lines, 20,000
# client addresses, one line in nine a permanent refusal), then copies of
# it up to the size: the per-line work is what is measured.
perl -e '
  my $t = 0x400000000000000a + 1795000000; my $pid = 1000; my $out = "";
  sub st { sprintf("\@%016x%08x ", $t, int(rand(1e9))) }
  while (length($out) < 16 * 1024 * 1024) {
    $t += int(rand(2)); $pid++;
    my $ip = sprintf("%d.%d.%d.%d", 11 + int(rand(200)), int(rand(10)), int(rand(10)), 1);
    $out .= st() . "tcpserver: status: 3/200\n";
    $out .= st() . "tcpserver: pid $pid from $ip\n";
    $out .= st() . "tcpserver: ok $pid mx.example:192.0.2.1:25 :$ip\::40000\n";
    my $r = rand();
    if ($r < 0.15) {
      $out .= st() . "greetdelay: early ip=$ip pid=$pid code=554 waited_ms=120 delay=5 data=EHLO?x\n";
    } else {
      $out .= st() . "greetdelay: pass ip=$ip pid=$pid delay=5\n";
      if ($r < 0.35) { $out .= st() . "ipgreylist: new ip=$ip pid=$pid code=451 age=0\n"; }
      else {
        $out .= st() . "ipgreylist: regular ip=$ip pid=$pid age=86400\n";
        my $bad = $r < 0.5 ? 2 : 0;
        for (1 .. $bad) { $out .= st() . "rcptcheck: reject ip=$ip pid=$pid code=550 rcpt=nobody$_\@example.test\n"; }
        my $m = $bad ? 0 : 1;
        $out .= st() . "rcptcheck: done ip=$ip pid=$pid msgs=$m rcpt_ok=$m rcpt_bad=$bad\n";
      }
    }
    $out .= st() . "tcpserver: end $pid status 0\n";
  }
  print $out;
' > "$D/block" || exit 111
n=$(( SIZE_MB / 16 ))
i=0
: > "$D/log"
while [ $i -lt $n ]; do cat "$D/block"; i=$((i + 1)); done > "$D/log"
rm -f "$D/block"
bytes=$(wc -c < "$D/log")

now() { date +%s.%N; }
# Warm the page cache so that both read from memory.
cat "$D/log" > /dev/null
t0=$(now)
LC_ALL=C grep -c ' code=5' "$D/log" > "$D/grep.out"
t1=$(now)
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f '%M' -o "$D/rss" "$RD" -q "$D/deny" "$D/log"
else
  "$RD" -q "$D/deny" "$D/log"
fi
rc=$?
t2=$(now)
[ $rc -eq 0 ] || { echo "retrydeny failed: $rc"; exit 1; }
[ -s "$D/rss" ] && echo "retrydeny peak RSS: $(tail -n1 "$D/rss") kB (state per address, not per line)"
echo "log: $bytes bytes, $(wc -l < "$D/deny") deny-file lines, grep -c found $(cat "$D/grep.out")"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$bytes" 'BEGIN {
  g = b - a; r = c - b;
  printf "grep -c:   %.2f s (%.0f MB/s)\n", g, n / g / 1e6;
  printf "retrydeny: %.2f s (%.0f MB/s)\n", r, n / r / 1e6;
  printf "retrydeny speed / grep -c speed: %.2f (goal >= 0.3)\n", g / r;
}'
