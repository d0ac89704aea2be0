#!/bin/bash
# SPDX-License-Identifier: ISC
# bench/rcptcheck.sh: rcptcheck's costs, each measured side by side with
# its baseline in the same run, printed as ratios.
#   1. per session, at 1 and at 50 pipelined RCPTs (local users, each one
#      looked up in users/cdb): the cost rcptcheck adds to the downstream
#      alone, against the cost a minimal relaying proxy adds (bench/relay.c:
#      fork the next program, relay both ways with poll, nothing else: the
#      floor any proxy pays). Goal: at most 1.2 times the relay's at both.
#   2. a 100 MB message: throughput through rcptcheck vs direct; peak RSS
#   3. RCPT lookups: 10^5-entry users/cdb and address cdb vs 10 entries
# Needs cc and a built tree (make). RC=path measures another rcptcheck.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"   # bench/run uses sh
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
SRC=$TOP/src
RC=${RC:-$SRC/rcptcheck}
T=$(mktemp -d /tmp/bench-rcptcheck.XXXXXX)
trap 'rm -rf "$T"' EXIT
[ -x "$RC" ] || { echo "build first: make"; exit 111; }

# A minimal downstream (SMTP sink) and the driver, both in C so that the
# measurement is not drowned in interpreter start-up.
cat > "$T/sink.c" <<'C'
#include <unistd.h>
#include <string.h>
static char b[65536], line[1024];
static void out(const char *s) { if (write(1, s, strlen(s)) < 0) _exit(1); }
int main(void)
{
  size_t ll = 0; int data = 0, st = 2; ssize_t n, i;
  out("220 sink ESMTP\r\n");
  while ((n = read(0, b, sizeof b)) > 0)
    for (i = 0; i < n; i++) {
      char c = b[i];
      if (data) {                         /* \r\n.\r\n across any boundary */
        if (c == '\r') st = (st == 3) ? 4 : 1;
        else if (c == '\n') { if (st == 4) { data = 0; out("250 ok queued\r\n"); } st = st == 1 ? 2 : 0; }
        else if (c == '.' && st == 2) st = 3;
        else st = 0;
        continue;
      }
      if (c != '\n') { if (ll < sizeof line) line[ll++] = c; continue; }
      if (ll >= 4 && !strncmp(line, "DATA", 4)) { data = 1; st = 2; out("354 go\r\n"); }
      else if (ll >= 4 && !strncmp(line, "QUIT", 4)) { out("221 bye\r\n"); return 0; }
      else out("250 ok\r\n");
      ll = 0;
    }
  return 0;
}
C
cat > "$T/drive.c" <<'C'
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/wait.h>
#include "najimi.h"
#include "qmailrcpt.h"
const char *PROG = "bench";
static int to, from; static pid_t pid;
static char rb[8192]; static size_t rl;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void start(char **argv)
{
  int a[2], b[2];
  if (pipe(a) || pipe(b)) exit(111);
  pid = fork();
  if (!pid) { dup2(a[0], 0); dup2(b[1], 1); close(a[0]); close(a[1]); close(b[0]); close(b[1]);
              execvp(argv[0], argv); _exit(127); }
  close(a[0]); close(b[1]); to = a[1]; from = b[0]; rl = 0;
}
static void put(const char *s, size_t n) { while (n) { ssize_t w = write(to, s, n); if (w <= 0) exit(1); s += w; n -= w; } }
static int reply(void)                      /* reads one reply, returns its code */
{
  for (;;) {
    char *lf = memchr(rb, '\n', rl);
    if (lf) {
      size_t k = lf - rb + 1; int code = atoi(rb), more = rl > 3 && rb[3] == '-';
      memmove(rb, rb + k, rl - k); rl -= k;
      if (!more) return code;
      continue;
    }
    ssize_t r = read(from, rb + rl, sizeof rb - rl);
    if (r <= 0) return -1;
    rl += r;
  }
}
static void finish(void) { char x[512]; close(to); while (read(from, x, sizeof x) > 0) ; close(from); waitpid(pid, 0, 0); }
static long hwm_kb(pid_t p)
{
  char fn[64], l[256]; long kb = -1; FILE *f;
  snprintf(fn, sizeof fn, "/proc/%d/status", (int)p);
  if (!(f = fopen(fn, "r"))) return -1;
  while (fgets(l, sizeof l, f)) if (!strncmp(l, "VmHWM:", 6)) kb = atol(l + 6);
  fclose(f);
  return kb;
}
int main(int argc, char **argv)
{
  if (!strcmp(argv[1], "conn")) {           /* conn N RCPTS chain... */
    int n = atoi(argv[2]), k = atoi(argv[3]), i; double t0;
    static char s[8192]; size_t len;
    len = (size_t)sprintf(s, "HELO bench\r\nMAIL FROM:<a@remote.test>\r\n");
    for (i = 0; i < k; i++) len += (size_t)sprintf(s + len, "RCPT TO:<user%d@local.test>\r\n", i);
    len += (size_t)sprintf(s + len, "QUIT\r\n");
    t0 = now();
    for (i = 0; i < n; i++) { start(argv + 4); put(s, len); finish(); }
    printf("%.1f\n", (now() - t0) / n * 1e6);
  } else if (!strcmp(argv[1], "data")) {    /* data MB chain... */
    long mb = atol(argv[2]), i; static char chunk[65536]; double t0, t1; long kb;
    for (i = 0; i < (long)sizeof chunk; i++) chunk[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : 'a' + i % 26;
    start(argv + 3);
    t0 = now();
    { static const char h[] = "HELO b\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<b@remote.test>\r\nDATA\r\n";
      put(h, sizeof h - 1); }
    if (reply() != 220 || reply() != 250 || reply() != 250 || reply() != 250 || reply() != 354) { puts("bad session"); return 1; }
    for (i = 0; i < mb * 16; i++) put(chunk, sizeof chunk);
    put("\r\n.\r\n", 5);
    if (reply() != 250) { puts("not accepted"); return 1; }
    t1 = now();
    kb = hwm_kb(pid);
    put("QUIT\r\n", 6); reply(); finish();
    printf("%.3f %ld\n", t1 - t0, kb);
  } else if (!strcmp(argv[1], "lookup")) {  /* lookup N home addrcdb addr... */
    long n = atol(argv[2]), i; int k, nk = argc - 5; nj_qmail q; double t0;
    nj_qmail_init(&q, argv[3], *argv[4] ? argv[4] : 0, "nobody-alias");
    t0 = now();
    for (i = 0; i < n; i++) for (k = 0; k < nk; k++) nj_rcpt_check(&q, argv[5 + k]);
    printf("%.3f\n", (now() - t0) / (n * nk) * 1e6);
  }
  return 0;
}
C
cc -O2 -o "$T/sink" "$T/sink.c"
cc -O2 -o "$T/relay" "$TOP/bench/relay.c"
cc -O2 -std=c99 -I"$SRC" -o "$T/drive" "$T/drive.c" "$SRC/libnajimi.a" \
  -Wl,-Bstatic -lcdb -lskarnet -Wl,-Bdynamic
D=$T/drive
SINK=$T/sink
RELAY=$T/relay
mkdir -p "$T/q/control" "$T/q/users"
echo local.test > "$T/q/control/locals"
awk -v d="$T/q" 'BEGIN { for (i = 0; i < 1000; i++) printf "=user%d:user%d:1000:1000:%s:::\n", i, i, d; print "." }' > "$T/q/users/assign"
"$SRC/rcptcheck-cdb" -u "$T/q/users/assign" "$T/q/users/cdb"
export QMAILHOME=$T/q

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# 1. per session at 1 and 50 RCPTs, interleaved rounds, medians
N=300
for k in 1 50; do
  for r in 1 2 3 4 5; do
    "$D" conn $N $k "$SINK" >> "$T/direct.$k"
    "$D" conn $N $k "$RELAY" "$SINK" >> "$T/relay.$k"
    "$D" conn $N $k "$RC" "$SINK" >> "$T/rc.$k" 2>/dev/null
  done
  direct=$(median < "$T/direct.$k"); relay=$(median < "$T/relay.$k"); rc=$(median < "$T/rc.$k")
  awk -v k="$k" -v d="$direct" -v b="$relay" -v r="$rc" 'BEGIN {
    printf "per session, %d RCPT (us): downstream alone %.0f, through the relay %.0f (+%.0f), through rcptcheck %.0f (+%.0f)\n", k, d, b, b-d, r, r-d
    printf "rcptcheck added cost / minimal relay added cost, %d RCPT: %.2f (goal <= 1.2)\n", k, (r-d)/(b-d) }'
done

# 2. 100 MB through the proxy vs direct, side by side
for r in 1 2 3; do
  "$D" data 100 "$SINK" | cut -d' ' -f1 >> "$T/ddirect"
  "$D" data 100 "$RC" "$SINK" >> "$T/drc" 2>/dev/null
done
tdirect=$(median < "$T/ddirect"); trc=$(cut -d' ' -f1 "$T/drc" | median)
rss=$(cut -d' ' -f2 "$T/drc" | sort -n | tail -1)
awk -v d="$tdirect" -v r="$trc" -v k="$rss" 'BEGIN {
  printf "100 MB: direct %.2f s (%.0f MB/s), through rcptcheck %.2f s (%.0f MB/s)\n", d, 100/d, r, 100/r
  printf "rcptcheck 100MB throughput / direct: %.2f (goal >= 0.8)\n", d/r
  printf "rcptcheck peak RSS: %.1f MB (goal <= 2 MB)\n", k/1024 }'

# 3. lookups: 10 vs 10^5 entries in users/cdb and in the address cdb
mk_tree() {                    # mk_tree DIR ENTRIES
  local d=$1 n=$2
  mkdir -p "$d/control" "$d/users"
  echo local.test > "$d/control/locals"
  awk -v n="$n" -v d="$d" 'BEGIN { for (i = 0; i < n; i++) printf "=user%d:user%d:1000:1000:%s:::\n", i, i, d; print "." }' > "$d/users/assign"
  "$SRC/rcptcheck-cdb" -u "$d/users/assign" "$d/users/cdb"
  awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "addr%d@list.test\n", i }' > "$d/valid"
  echo list.test >> "$d/control/locals"
  "$SRC/rcptcheck-cdb" "$d/valid" "$d/valid.cdb"
}
mk_tree "$T/small" 10
mk_tree "$T/large" 100000
ADDRS=(user7@local.test addr7@list.test nouser@list.test)
for r in 1 2 3 4 5; do
  "$D" lookup 20000 "$T/small" "$T/small/valid.cdb" "${ADDRS[@]}" >> "$T/lsmall"
  "$D" lookup 20000 "$T/large" "$T/large/valid.cdb" "${ADDRS[@]}" >> "$T/llarge"
done
ls=$(median < "$T/lsmall"); ll=$(median < "$T/llarge")
awk -v s="$ls" -v l="$ll" 'BEGIN {
  printf "RCPT lookup: %.2f us with 10 entries, %.2f us with 10^5 entries\n", s, l
  printf "rcptcheck lookup 10^5 entries / 10 entries: %.2f (goal <= 1.2)\n", l/s }'
