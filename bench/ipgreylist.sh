#!/bin/sh
# SPDX-License-Identifier: ISC
# ipgreylist benchmarks, each measured side by side in one run:
#  1. a regular's pass-through cost, against rblsmtpd's (RBLSMTPD set and
#     empty, so rblsmtpd execs at once), both exec'ing /bin/true;
#       added cost = time(PROG /bin/true) - time(/bin/true)
#     goal: ipgreylist <= 0.8 x rblsmtpd, with the IP key (one key per
#     address) and with the name key (TCPREMOTEHOST set, as tcpserver -h
#     -p sets it: the dynamic patterns, libpsl's registrable domain and
#     the SHA-256 on the path)
#  2. the decision cost (regulars, many different keys) with 10^6 stored
#     keys, against 10 stored keys, for each kind; goal <= 1.2 x
#  3. ipgreylist-expire over 10^6 files (a quarter of them stale); goal <= 30 s
# Wall and CPU time: rounds of fork+exec, the programs compared taken in
# turn, one run of each (so that all see the machine alike), best round
# of each kept.
# Run after "make": bench/ipgreylist.sh (N, ROUNDS and KEYS may be set).
cd "$(dirname "$0")/.." || exit 111
[ -x src/ipgreylist ] && [ -x src/ipgreylist-expire ] || { echo "bench/ipgreylist.sh: run make first"; exit 111; }
mkdir -p bench/tmp
N=${N:-400}
ROUNDS=${ROUNDS:-15}
KEYS=${KEYS:-1000000}
W=$(mktemp -d "${TMPDIR:-/var/tmp}/ipgreylist-bench.XXXXXX") || exit 111
trap 'rm -rf "$W"' EXIT INT TERM

# glbench: "mk DIR N ip|name" writes N state files the way ipgreylist
# lays them out (ip: keys 10.0.0.0 + i; name: keys name:dI.example; i%4 =
# 0,1 regular, 2 pending, 3 pending two days old), quickly, one process
# per CPU; "cmp N KEYS ip|name ENV prog... [; KEYS ...]" fork+execs
# each prog N times, in turn, each run with TCPREMOTEIP (and for name,
# TCPREMOTEHOST=mx1.dI.example) set to a different regular key, and
# prints each one's mean wall time and mean CPU time (user + system, of
# the children) per run in nanoseconds.
cat > "$W/glbench.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include "najimi.h"
#include "greylist.h"
#include "spawn.h"
const char *PROG = "glbench";
static void ipof(unsigned long i, nj_ip *ip)
{
  memset(ip, 0, sizeof *ip);
  ip->a[0] = 10;
  ip->a[1] = (unsigned char)(i >> 16);
  ip->a[2] = (unsigned char)(i >> 8);
  ip->a[3] = (unsigned char)i;
}
static void keyof(unsigned long i, int byname, nj_glkey *k)
{
  nj_ip ip;
  char text[64];
  if (!byname) { ipof(i, &ip); nj_gl_key(k, &ip, 32, 64); return; }
  snprintf(text, sizeof text, "name:d%lu.example", i);
  if (!nj_gl_hashkey(k, text, strlen(text))) exit(111);
}
/* The environment of run i of a group, set in glbench itself before the
 * run is timed: TCPREMOTEIP (and for name keys TCPREMOTEHOST) of a
 * regular key among keys, and the group's env. The child then only
 * execs, so no group pays for its own setenv in the forked copy (the
 * page faults of a heap written after fork). */
static void prepare(unsigned long i, unsigned long keys, int byname, char *env)
{
  static char envbuf[128];
  unsigned long regs = (keys + 3) / 4, key = (i * 7919UL % regs) * 4;
  nj_ip ip;
  char s[NJ_IPFMT];
  ipof(byname ? i : key, &ip);
  nj_ip_fmt(s, &ip);
  setenv("TCPREMOTEIP", s, 1);
  unsetenv("TCPREMOTEHOST");
  if (byname) {
    char host[64];
    snprintf(host, sizeof host, "mx1.d%lu.example", key);
    setenv("TCPREMOTEHOST", host, 1);
  }
  if (envbuf[0]) {          /* the last group's variable goes, by its name */
    char name[sizeof envbuf];
    size_t n = strcspn(envbuf, "=");
    memcpy(name, envbuf, n);
    name[n] = 0;
    unsetenv(name);
    envbuf[0] = 0;
  }
  if (env && strlen(env) < sizeof envbuf) { strcpy(envbuf, env); putenv(envbuf); }
}
/* "cmp N GROUP ; GROUP ; ...", a GROUP "KEYS ip|name ENV prog...", ENV
 * "-" or VAR=value for that program only: N times one run of each
 * group (bench_spawn), in a shuffled order, so that all see the machine
 * alike; prints each group's mean wall and CPU ns per run, "w c w c". */
#define GROUPS 8
static unsigned long rnd(void)
{
  static unsigned long x = 88172645463325252UL;
  x ^= x << 13; x ^= x >> 7; x ^= x << 17;
  return x;
}
static int cmp(int argc, char **argv)
{
  unsigned long n = strtoul(argv[2], 0, 10), i, keys[GROUPS];
  char **prog[GROUPS], *env[GROUPS];
  int byname[GROUPS], g = 0, j, k, a = 3;
  double wall[GROUPS] = { 0 }, cpu[GROUPS] = { 0 };
  while (a + 3 < argc && g < GROUPS) {
    keys[g] = strtoul(argv[a], 0, 10);
    byname[g] = !strcmp(argv[a + 1], "name");
    env[g] = strcmp(argv[a + 2], "-") ? argv[a + 2] : 0;
    prog[g++] = argv + a + 3;
    for (a += 3; a < argc && strcmp(argv[a], ";"); a++) {}
    if (a < argc) argv[a++] = 0;
  }
  for (i = 0; i < n; i++) {
    int order[GROUPS];
    for (j = 0; j < g; j++) order[j] = j;
    for (j = g - 1; j > 0; j--) { /* a new order each time: none always runs after the same one */
      int r = (int)(rnd() % (unsigned long)(j + 1)), t = order[j];
      order[j] = order[r]; order[r] = t;
    }
    for (k = 0; k < g; k++) {
      struct timespec t0, t1;
      struct rusage r0, r1;
      j = order[k];
      prepare(i, keys[j], byname[j], env[j]);
      getrusage(RUSAGE_CHILDREN, &r0);
      clock_gettime(CLOCK_MONOTONIC, &t0);
      if (bench_spawn(prog[j], "glbench")) return 111;
      clock_gettime(CLOCK_MONOTONIC, &t1);
      getrusage(RUSAGE_CHILDREN, &r1);
      wall[j] += (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
      cpu[j] += (r1.ru_utime.tv_sec + r1.ru_stime.tv_sec - r0.ru_utime.tv_sec - r0.ru_stime.tv_sec) * 1e9 +
        (r1.ru_utime.tv_usec + r1.ru_stime.tv_usec - r0.ru_utime.tv_usec - r0.ru_stime.tv_usec) * 1e3;
    }
  }
  for (j = 0; j < g; j++) printf("%s%.0f %.0f", j ? " " : "", wall[j] / n, cpu[j] / n);
  printf("\n");
  return 0;
}
int main(int argc, char **argv)
{
  unsigned long i, n;
  if (argc >= 5 && !strcmp(argv[1], "mk")) {
    int byname = !strcmp(argv[4], "name");
    static unsigned char made[65536];
    time_t now = time(0);
    long w, workers = sysconf(_SC_NPROCESSORS_ONLN), me = 0;
    n = strtoul(argv[3], 0, 10);
    if (chdir(argv[2]) < 0) { perror("chdir"); return 111; }
    if (workers < 1 || n < 1000) workers = 1;
    if (workers > 8) workers = 8;
    for (w = 1; w < workers; w++) if (!fork()) { me = w; break; }
    for (i = (unsigned long)me; i < n; i += (unsigned long)workers) {
      nj_glkey k; nj_glrec r; char path[128], text[NJ_GL_FILEMAX]; int fd;
      unsigned int d;
      keyof(i, byname, &k);
      d = (unsigned int)strtoul(k.dir1, 0, 16) << 8 | (unsigned int)strtoul(k.dir2, 0, 16);
      if (!made[d]) {   /* per process; a parallel mkdir's EEXIST is fine */
        mkdir(k.dir1, 0700);
        snprintf(path, sizeof path, "%s/%s", k.dir1, k.dir2);
        mkdir(path, 0700);
        made[d] = 1;
      }
      snprintf(path, sizeof path, "%s/%s/%s", k.dir1, k.dir2, k.name);
      fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      memset(&r, 0, sizeof r);
      r.found = i % 4 < 2 ? NJ_GL_REGULAR : NJ_GL_PENDING;
      r.count = 1;
      r.first = now - 3 * 86400;
      r.last = r.found == NJ_GL_REGULAR ? now : 0;
      if (fd < 0 || nj_glf_put(fd, text, nj_gl_fmt(text, &r, &k))) { perror(path); return 111; }
      if (i % 4 == 3) {
        struct timespec ts[2] = { { now - 2 * 86400, 0 }, { now - 2 * 86400, 0 } };
        futimens(fd, ts);
      }
      close(fd);
    }
    if (me) _exit(0);
    for (w = 1; w < workers; w++) {
      int st;
      if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) return 111;
    }
    return 0;
  }
  if (argc >= 7 && !strcmp(argv[1], "cmp")) return cmp(argc, argv);
  fprintf(stderr, "usage: glbench mk DIR N ip|name | glbench cmp N KEYS ip|name ENV prog... [; ...]\n");
  return 100;
}
C
cc -O2 -std=c99 -D_DEFAULT_SOURCE -Isrc -Ibench -o "$W/glbench" "$W/glbench.c" src/libnajimi.a \
  -Wl,-Bstatic -lcdb -lskarnet -Wl,-Bdynamic -lpsl -lidn2 -lunistring || exit 111
GB=$W/glbench
# The floor: a static program that only execs its argument. Any static
# glibc program pays glibc's start-up before main (on x86 it asks the CPU
# about its caches with cpuid dozens of times, and each cpuid is a trap to
# the hypervisor on a virtual machine: 3-4 us each, measured on a 2-core
# VM), so no static program's pass-through costs less than this ratio.
printf '#include <unistd.h>\nint main(int c, char **v) { (void)c; execv(v[1], v + 1); return 111; }\n' > "$W/execonly.c"
cc -O2 -static -o "$W/execonly" "$W/execonly.c" || exit 111

mkdir -p "$W/small" "$W/big" "$W/nsmall" "$W/nbig"
"$GB" mk "$W/small" 10 ip || exit 111
"$GB" mk "$W/nsmall" 10 name || exit 111
for kind in ip name; do
  d=$W/big; [ $kind = name ] && d=$W/nbig
  t0=$(date +%s.%N)
  "$GB" mk "$d" "$KEYS" $kind || exit 111
  t1=$(date +%s.%N)
  echo "made $KEYS state files ($kind keys) in $(echo "$t1 $t0" | awk '{ printf "%.1f", $1 - $2 }') s"
done
sync   # the files' writeback is the generator's cost, not the measured programs

# The programs timed, as installed (bench/copies says why).
B=$W/bin
sh bench/copies "$B" /bin/true rblsmtpd "$W/execonly" src/ipgreylist || exit 111

# One key per address for the IP runs (the generator's keys are /32s);
# the name runs use the built-in dynamic patterns, as a service without
# GREYLIST_PATTERNS does (PAT=file: the pattern file read per connection).
export PROTO=TCP TCPREMOTEIP=10.0.0.0 GREYLIST_V4PREFIX=32
unset RELAYCLIENT GREYLIST GREYLIST_WHITELIST GREYLIST_ONLY GREYLISTDIR TCPREMOTEHOST GREYLIST_KEY GREYLIST_PATTERNS
[ "${PAT:-}" = file ] && export GREYLIST_PATTERNS=control/dynamic-patterns
best() { # name "wall cpu": keep the minimum of each in $wall_NAME, $cpu_NAME
  set -- "$1" $2
  eval "cur=\${wall_$1:-}"
  if [ -z "$cur" ] || [ "$2" -lt "$cur" ]; then eval "wall_$1=$2"; fi
  eval "cur=\${cpu_$1:-}"
  if [ -z "$cur" ] || [ "$3" -lt "$cur" ]; then eval "cpu_$1=$3"; fi
}
i=0
while [ $i -lt "$ROUNDS" ]; do
  set -- $("$GB" cmp "$N" 10 ip - "$B/true" \; 10 ip RBLSMTPD= "$B/rblsmtpd" "$B/true" \; \
    10 ip - "$B/execonly" "$B/true" \; 10 ip - "$B/ipgreylist" -d "$W/small" "$B/true" \; \
    "$KEYS" ip - "$B/ipgreylist" -d "$W/big" "$B/true" \; 10 name - "$B/ipgreylist" -d "$W/nsmall" "$B/true" \; \
    "$KEYS" name - "$B/ipgreylist" -d "$W/nbig" "$B/true")
  [ $# = 14 ] || { echo "bench/ipgreylist.sh: a run failed"; exit 111; }
  best true "$1 $2"; best rbl "$3 $4"; best floor "$5 $6"; best small "$7 $8"
  best big "$9 ${10}"; best nsmall "${11} ${12}"; best nbig "${13} ${14}"
  i=$((i+1))
done
echo "wall ns per session: /bin/true $wall_true, rblsmtpd $wall_rbl, exec only $wall_floor, ipgreylist ip key (10 keys) $wall_small, ($KEYS keys) $wall_big, name key (10 keys) $wall_nsmall, ($KEYS keys) $wall_nbig"
echo "cpu ns per session:  /bin/true $cpu_true, rblsmtpd $cpu_rbl, exec only $cpu_floor, ipgreylist ip key (10 keys) $cpu_small, ($KEYS keys) $cpu_big, name key (10 keys) $cpu_nsmall, ($KEYS keys) $cpu_nbig"
awk -v t="$wall_true" -v r="$wall_rbl" -v f="$wall_floor" -v cf="$cpu_floor" -v s="$wall_small" -v b="$wall_big" -v ns="$wall_nsmall" -v nb="$wall_nbig" \
    -v ct="$cpu_true" -v cr="$cpu_rbl" -v cs="$cpu_small" -v cb="$cpu_big" -v cns="$cpu_nsmall" -v cnb="$cpu_nbig" -v k="$KEYS" 'BEGIN {
  printf "a static program that only execs / rblsmtpd cost (the floor): %.2f [cpu: %.2f]\n", (f - t) / (r - t), (cf - ct) / (cr - ct)
  printf "ipgreylist regular pass-through cost / rblsmtpd cost, ip key: %.2f (goal <= 0.8) [cpu: %.2f]\n", (s - t) / (r - t), (cs - ct) / (cr - ct)
  printf "ipgreylist regular pass-through cost / rblsmtpd cost, name key: %.2f (goal <= 0.8) [cpu: %.2f]\n", (ns - t) / (r - t), (cns - ct) / (cr - ct)
  printf "ipgreylist decision cost with %d keys / with 10 keys, ip key: %.2f (goal <= 1.2) [cpu: %.2f]\n", k, (b - t) / (s - t), (cb - ct) / (cs - ct)
  printf "ipgreylist decision cost with %d keys / with 10 keys, name key: %.2f (goal <= 1.2) [cpu: %.2f]\n", k, (nb - t) / (ns - t), (cnb - ct) / (cns - ct) }'

sync
t0=$(date +%s.%N)
src/ipgreylist-expire "$W/big" > "$W/expire.out" || { cat "$W/expire.out"; exit 111; }
t1=$(date +%s.%N)
cat "$W/expire.out"
echo "$t1 $t0 $KEYS" | awk '{ printf "ipgreylist-expire over %d files: %.1f s (goal <= 30 s)\n", $3, $1 - $2 }'
