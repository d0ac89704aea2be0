#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/rcptcheck-triplets.sh: triplet greylisting's cost in rcptcheck,
# measured side by side in one run (interleaved rounds, best of each;
# the sessions compared in a ratio taken in turn, one of each, so that
# they see the machine alike):
#  1. per RCPT, with 10 and with 10^6 stored triplets (and two learned
#     pairs per client), for mail that passes: a sender with a learned pair
#     (one record read for the transaction) and a null sender with its
#     own learned pair (<>, client), the same one read; goal <= 1.2 x
#     between them
#     (an RCPT's whole cost through rcptcheck: a session of RR RCPTs,
#     1000 unless set, minus one of none, both with triplets on, over
#     RR: many RCPTs a session, so that the per-RCPT part stands well
#     above the fork+exec noise of the session itself); and the triplet
#     decision alone, in one process (key, record read, verdict), and
#     the file system's own part of it (open, fstat, fgetxattr, close
#     of the same records, no najimi code): what a file per key costs
#     (a sender's RCPTs before its pair is learned); and the null
#     sender's per-RCPT cost with the same records in Redis
#     (GREYLIST_REDIS, when redis-server is installed), whose lookup
#     does not grow with the number of keys stored (wall time: Redis'
#     own CPU is not a child's)
#  2. the whole session's added cost: rcptcheck with triplets against
#     rcptcheck without them (RCPTCHECK_GREYLIST unset), same session,
#     in time and in instructions (callgrind, when valgrind is there)
# A session is fork+exec of rcptcheck before a minimal SMTP sink, over
# pipes: HELO, MAIL, RR pipelined RCPTs, QUIT; each from another client
# address (TCPREMOTEIP) and sender, so that each session reads other
# records.
# Wall and CPU time (user + system of the children) per session.
# Run after "make": bench/rcptcheck-triplets.sh (N, ROUNDS, KEYS, R, RR may be set).
cd "$(dirname "$0")/.." || exit 111
[ -x src/rcptcheck ] && [ -f src/libnajimi.a ] || { echo "bench/rcptcheck-triplets.sh: run make first"; exit 111; }
N=${N:-200}
ROUNDS=${ROUNDS:-9}
KEYS=${KEYS:-1000000}
W=$(mktemp -d "${TMPDIR:-/var/tmp}/triplets-bench.XXXXXX") || exit 111
RPID=
trap '[ -z "$RPID" ] || { kill "$RPID" 2> /dev/null; wait "$RPID"; }; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT INT TERM

cat > "$W/sink.c" <<'C'
#include <unistd.h>
#include <string.h>
static char b[4096], line[1024];
static void out(const char *s) { if (write(1, s, strlen(s)) < 0) _exit(1); }
int main(void)
{
  size_t ll = 0; ssize_t n, i;
  out("220 sink ESMTP\r\n");
  while ((n = read(0, b, sizeof b)) > 0)
    for (i = 0; i < n; i++) {
      if (b[i] != '\n') { if (ll < sizeof line) line[ll++] = b[i]; continue; }
      if (ll >= 4 && !strncmp(line, "QUIT", 4)) { out("221 bye\r\n"); return 0; }
      out("250 ok\r\n");
      ll = 0;
    }
  return 0;
}
C

# trbench: "mk DIR KEYS USERS" writes, for each of KEYS clients (IP =
# 10.0.0.0 + key, one key per address), USERS regular triplets
# trip:IP:<>:userU@local.test and two regular pairs, pair:dKEY.test:IP
# and the null sender's pair:<>:IP, as rcptcheck lays them out, one
# process per CPU. "run N KEYS USERS R pair|null prog..." runs N
# sessions through prog, session i from the client of key i*7919 % KEYS,
# MAIL FROM:<s@dKEY.test> (pair) or <> (null), then R pipelined RCPTs to
# userJ@local.test, J = 0..R-1 modulo USERS, and QUIT; prints the mean
# wall and CPU time per session in ns. "cmp" (below) takes sessions of
# two stores in turn.
cat > "$W/trbench.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/xattr.h>
#include <poll.h>
#include <errno.h>
#include "najimi.h"
#include "greylist.h"
#include "triplet.h"
const char *PROG = "trbench";
static void client(unsigned long i, nj_glkey *c, char *s)
{
  nj_ip ip;
  memset(&ip, 0, sizeof ip);
  ip.a[0] = 10; ip.a[1] = (unsigned char)(i >> 16); ip.a[2] = (unsigned char)(i >> 8); ip.a[3] = (unsigned char)i;
  nj_gl_key(c, &ip, 32, 64);
  if (s) s[nj_ip_fmt(s, &ip)] = 0;
}
static void put(const nj_glkey *k, time_t now, unsigned char *made)
{
  char path[128], text[NJ_GL_FILEMAX];
  unsigned int d = (unsigned int)strtoul(k->dir1, 0, 16) << 8 | (unsigned int)strtoul(k->dir2, 0, 16);
  nj_glrec r;
  int fd;
  if (!made[d]) { mkdir(k->dir1, 0700); snprintf(path, sizeof path, "%s/%s", k->dir1, k->dir2); mkdir(path, 0700); made[d] = 1; }
  snprintf(path, sizeof path, "%s/%s/%s", k->dir1, k->dir2, k->name);
  memset(&r, 0, sizeof r);
  r.found = NJ_GL_REGULAR;
  r.first = now - 86400;
  r.last = now;
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || nj_glf_put(fd, text, nj_gl_fmt(text, &r, k))) { perror(path); exit(111); }
  close(fd);
}
/* The same records in Redis (GREYLIST_REDIS set: dir is then unused),
 * through the store rcptcheck itself writes with, one process. */
static nj_glstores rstores;
static nj_glstore *rstore;
static void rput(const nj_glkey *k, time_t now)
{
  nj_glrec r;
  memset(&r, 0, sizeof r);
  r.found = NJ_GL_REGULAR;
  r.version = NJ_GL_VERSION;
  r.first = now - 86400;
  r.last = now;
  r.when.tv_sec = now;
  if (rstore->write(rstore, k, NJ_GLW_REPLACE, &r)) { fprintf(stderr, "trbench: redis write failed\n"); exit(111); }
}
static int mk(const char *dir, unsigned long keys, unsigned long users)
{
  static unsigned char made[65536];
  static const nj_glpolicy pol = NJ_GLPOLICY_DEFAULT;
  time_t now = time(0);
  long w, workers = sysconf(_SC_NPROCESSORS_ONLN), me = 0;
  unsigned long i, u;
  const char *redis = getenv("GREYLIST_REDIS");
  if (redis && *redis) { rstore = nj_gl_store(&rstores, 0, &pol); workers = 1; }
  else if (chdir(dir) < 0) { perror("chdir"); return 111; }
  if (workers < 1 || keys < 100) workers = 1;
  if (workers > 8) workers = 8;
  for (w = 1; w < workers; w++) if (!fork()) { me = w; break; }
  for (i = (unsigned long)me; i < keys; i += (unsigned long)workers) {
    nj_glkey c, k;
    char from[64], rcpt[64];
    client(i, &c, 0);
    for (u = 0; u < users; u++) {
      snprintf(rcpt, sizeof rcpt, "user%lu@local.test", u);
      if (!nj_tr_tripkey(&k, &c, "<>", rcpt)) return 111;
      if (rstore) rput(&k, now); else put(&k, now, made);
    }
    snprintf(from, sizeof from, "s@d%lu.test", i);
    if (!nj_tr_pairkey(&k, &c, from)) return 111;
    if (rstore) rput(&k, now); else put(&k, now, made);
    if (!nj_tr_pairkey(&k, &c, "<>")) return 111;
    if (rstore) rput(&k, now); else put(&k, now, made);
  }
  if (me) _exit(0);
  for (w = 1; w < workers; w++) { int st; if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) return 111; }
  return 0;
}
/* One session: the commands written as the replies are read (poll),
 * so that neither pipe fills while the other waits. */
static char cmd[64 + 48 * 5000];
static int session(unsigned long key, unsigned long users, unsigned long rcpts, int null, const char *env, char **argv)
{
  char ip[NJ_IPFMT + 1], junk[4096];
  nj_glkey c;
  int a[2], b[2], st, open_in = 1;
  pid_t p;
  size_t n, done = 0;
  unsigned long j;
  client(key, &c, ip);
  if (null) n = (size_t)snprintf(cmd, sizeof cmd, "HELO b\r\nMAIL FROM:<>\r\n");
  else n = (size_t)snprintf(cmd, sizeof cmd, "HELO b\r\nMAIL FROM:<s@d%lu.test>\r\n", key);
  for (j = 0; j < rcpts && n < sizeof cmd - 96; j++)
    n += (size_t)snprintf(cmd + n, sizeof cmd - n, "RCPT TO:<user%lu@local.test>\r\n", j % users);
  n += (size_t)snprintf(cmd + n, sizeof cmd - n, "QUIT\r\n");
  if (pipe(a) || pipe(b)) return 111;
  p = fork();
  if (p < 0) return 111;
  if (!p) {
    int fd = open("/dev/null", O_WRONLY);
    dup2(a[0], 0); dup2(b[1], 1); if (fd >= 0) dup2(fd, 2);
    close(a[0]); close(a[1]); close(b[0]); close(b[1]);
    setenv("TCPREMOTEIP", ip, 1);
    if (env) { /* "VAR=value VAR=value": this session's own */
      char *e = strdup(env), *t;
      for (t = strtok(e, " "); t; t = strtok(0, " ")) putenv(t);
    }
    execvp(argv[0], argv);
    _exit(127);
  }
  close(a[0]); close(b[1]);
  fcntl(a[1], F_SETFL, O_NONBLOCK);
  for (;;) {
    struct pollfd pf[2] = { { b[0], POLLIN, 0 }, { open_in ? a[1] : -1, POLLOUT, 0 } };
    if (poll(pf, 2, 10000) <= 0) return 111;
    if (pf[1].revents) {
      ssize_t w = write(a[1], cmd + done, n - done);
      if (w < 0 && errno != EAGAIN) return 111;
      if (w > 0) done += (size_t)w;
      if (done == n) { close(a[1]); open_in = 0; }
    }
    if (pf[0].revents && read(b[0], junk, sizeof junk) <= 0) break;
  }
  if (open_in) close(a[1]);
  close(b[0]);
  if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) { fprintf(stderr, "trbench: %s failed\n", argv[0]); return 111; }
  return 0;
}
/* Elapsed ns between two clock readings; CPU ns between two rusages. */
static double ns(const struct timespec *a, const struct timespec *b)
{
  return (b->tv_sec - a->tv_sec) * 1e9 + (b->tv_nsec - a->tv_nsec);
}
static double cpuns(const struct rusage *a, const struct rusage *b)
{
  return (b->ru_utime.tv_sec + b->ru_stime.tv_sec - a->ru_utime.tv_sec - a->ru_stime.tv_sec) * 1e9 +
    (b->ru_utime.tv_usec + b->ru_stime.tv_usec - a->ru_utime.tv_usec - a->ru_stime.tv_usec) * 1e3;
}
/* What rcptcheck does for an RCPT whose triplet it reads (a sender
 * whose pair is not learned yet), in one process: the triplet's key
 * (SHA-256), then nj_gl_decide over the file store (a regular: one
 * read, nothing written). n decisions, the client key and
 * user as in run; the mean ns per decision. */
static int decide(const char *dir, unsigned long n, unsigned long keys, unsigned long users)
{
  nj_glpolicy pol = NJ_GLPOLICY_DEFAULT;
  nj_glfiles f;
  struct timespec t0, t1;
  unsigned long i;
  nj_glf_init(&f, dir);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (i = 0; i < n; i++) {
    nj_glkey c, k;
    nj_gldecision d;
    char rcpt[64];
    client(i / users * 7919UL % keys, &c, 0);
    snprintf(rcpt, sizeof rcpt, "user%lu@local.test", i % users);
    if (!nj_tr_tripkey(&k, &c, "<>", rcpt) || nj_gl_decide(&f.s, &k, 0, &pol, &d) || d.v.is != NJ_GLV_REGULAR) {
      fprintf(stderr, "trbench: decision %lu is not a regular's\n", i);
      return 111;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  nj_glf_close(&f);
  printf("%.0f\n", ns(&t0, &t1) / n);
  return 0;
}
/* The file system's own part of those decisions: the same records, in
 * the same order, with the keys made beforehand, each opened by its path
 * under the directory, fstat'ed, its attribute read and closed; no
 * najimi code between. The mean ns per record. */
static int fsread(const char *dir, unsigned long n, unsigned long keys, unsigned long users)
{
  char (*paths)[160];
  struct timespec t0, t1;
  unsigned long i;
  int d = open(dir, O_RDONLY | O_DIRECTORY);
  if (d < 0 || !(paths = malloc(n * sizeof *paths))) return 111;
  for (i = 0; i < n; i++) {
    nj_glkey c, k;
    char rcpt[64];
    client(i / users * 7919UL % keys, &c, 0);
    snprintf(rcpt, sizeof rcpt, "user%lu@local.test", i % users);
    if (!nj_tr_tripkey(&k, &c, "<>", rcpt)) return 111;
    snprintf(paths[i], sizeof paths[i], "%s/%s/%s", k.dir1, k.dir2, k.name);
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (i = 0; i < n; i++) {
    char text[NJ_GL_FILEMAX + 1];
    struct stat st;
    int fd = openat(d, paths[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) || fgetxattr(fd, NJ_GL_XATTR, text, sizeof text) <= 0) {
      fprintf(stderr, "trbench: record %lu cannot be read\n", i);
      return 111;
    }
    close(fd);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.0f\n", ns(&t0, &t1) / n);
  free(paths);
  close(d);
  return 0;
}
/* "cmp N RCPTS pair|null ENVA KEYSA USERSA ENVB KEYSB USERSB prog...":
 * N times in turn a session of no RCPT (A's), one of RCPTS in A, one in
 * B (ENV: that session's "VAR=value..."), so that the three see the
 * machine alike; the mean wall and CPU ns of each: "z z a a b b". */
static int cmp(char **argv)
{
  unsigned long n = strtoul(argv[2], 0, 10), rcpts = strtoul(argv[3], 0, 10), i;
  unsigned long keys[2] = { strtoul(argv[6], 0, 10), strtoul(argv[9], 0, 10) };
  unsigned long users[2] = { strtoul(argv[7], 0, 10), strtoul(argv[10], 0, 10) };
  const char *env[2] = { argv[5], argv[8] };
  int null = !strcmp(argv[4], "null"), j;
  double wall[3] = { 0, 0, 0 }, cpu[3] = { 0, 0, 0 };
  for (i = 0; i < n; i++)
    for (j = 0; j < 3; j++) {
      int s = j ? j - 1 : 0;
      struct timespec t0, t1;
      struct rusage r0, r1;
      getrusage(RUSAGE_CHILDREN, &r0);
      clock_gettime(CLOCK_MONOTONIC, &t0);
      if (session(i * 7919UL % keys[s], users[s], j ? rcpts : 0, null, env[s], argv + 11)) return 111;
      clock_gettime(CLOCK_MONOTONIC, &t1);
      getrusage(RUSAGE_CHILDREN, &r1);
      wall[j] += ns(&t0, &t1);
      cpu[j] += cpuns(&r0, &r1);
    }
  printf("%.0f %.0f %.0f %.0f %.0f %.0f\n", wall[0] / n, cpu[0] / n, wall[1] / n, cpu[1] / n, wall[2] / n, cpu[2] / n);
  return 0;
}
int main(int argc, char **argv)
{
  if (argc == 6 && !strcmp(argv[1], "decide"))
    return decide(argv[2], strtoul(argv[3], 0, 10), strtoul(argv[4], 0, 10), strtoul(argv[5], 0, 10));
  if (argc == 6 && !strcmp(argv[1], "fsread"))
    return fsread(argv[2], strtoul(argv[3], 0, 10), strtoul(argv[4], 0, 10), strtoul(argv[5], 0, 10));
  if (argc == 5 && !strcmp(argv[1], "mk")) return mk(argv[2], strtoul(argv[3], 0, 10), strtoul(argv[4], 0, 10));
  if (argc >= 8 && !strcmp(argv[1], "run")) {
    unsigned long n = strtoul(argv[2], 0, 10), keys = strtoul(argv[3], 0, 10), i;
    unsigned long users = strtoul(argv[4], 0, 10), rcpts = strtoul(argv[5], 0, 10);
    int null = !strcmp(argv[6], "null");
    struct timespec t0, t1;
    struct rusage r0, r1;
    getrusage(RUSAGE_CHILDREN, &r0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) if (session(i * 7919UL % keys, users, rcpts, null, 0, argv + 7)) return 111;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    getrusage(RUSAGE_CHILDREN, &r1);
    printf("%.0f %.0f\n", ns(&t0, &t1) / n, cpuns(&r0, &r1) / n);
    return 0;
  }
  if (argc >= 11 && !strcmp(argv[1], "cmp")) return cmp(argv);
  fprintf(stderr, "usage: trbench mk DIR KEYS USERS | trbench run N KEYS USERS RCPTS pair|null prog... |"
          " trbench cmp N RCPTS pair|null ENVA KEYSA USERSA ENVB KEYSB USERSB prog... | trbench decide DIR N KEYS USERS\n");
  return 100;
}
C
cc -O2 -o "$W/sink" "$W/sink.c" || exit 111
cc -O2 -std=c99 -D_DEFAULT_SOURCE -Isrc -o "$W/trbench" "$W/trbench.c" src/libnajimi.a \
  -Wl,-Bstatic -lcdb -lskarnet -Wl,-Bdynamic -lhiredis || exit 111
TB=$W/trbench
# The measured runs on one CPU (taskset, when there): client, rcptcheck and
# the sink then take turns the same way each session, not by chance of
# which CPU each wakes on.
PIN=; command -v taskset > /dev/null 2>&1 && PIN="taskset -c 0"

# The qmail tree: one local domain, user0..user(R-1) valid (RCPTCHECK_CDB).
# Small: 10 triplets (one client, 10 users) and its two pairs; big: KEYS
# triplets (KEYS/R clients, R users each) and two pairs per client. A
# session reads its pair, the triplet reads (decide, fsread) R records:
# in the small store the same over and over (hot), in the big one
# records nobody read lately.
R=${R:-100}
case $R in ''|*[!0-9]*) echo "bench/rcptcheck-triplets.sh: R must be a number"; exit 100;; esac
[ "$R" -ge 10 ] && [ "$R" -le 120 ] || { echo "bench/rcptcheck-triplets.sh: R must be 10..120"; exit 100; }
# RR RCPTs a measured session (to user0..user(R-1) in turn): many, so
# that the per-RCPT part stands well above the fork+exec noise.
RR=${RR:-1000}
case $RR in ''|*[!0-9]*) echo "bench/rcptcheck-triplets.sh: RR must be a number"; exit 100;; esac
[ "$RR" -ge "$R" ] && [ "$RR" -le 5000 ] || { echo "bench/rcptcheck-triplets.sh: RR must be R..5000"; exit 100; }
BIGKEYS=$((KEYS / R))
mkdir -p "$W/q/control" "$W/small" "$W/big"
echo local.test > "$W/q/control/locals"
i=0; while [ $i -lt $R ]; do echo "user$i@local.test"; i=$((i+1)); done > "$W/q/valid"
src/rcptcheck-cdb "$W/q/valid" "$W/q/valid.cdb" || exit 111
"$TB" mk "$W/small" 1 10 || exit 111
t0=$(date +%s.%N)
"$TB" mk "$W/big" "$BIGKEYS" $R || exit 111
t1=$(date +%s.%N)
echo "made $((BIGKEYS * R)) triplets and $((BIGKEYS * 2)) pairs in $(echo "$t1 $t0" | awk '{ printf "%.1f", $1 - $2 }') s"
sync

# The same two stores in Redis (GREYLIST_REDIS, a private redis-server on
# a unix socket, no persistence, stopped by PID), when it is installed:
# the shared-state backend's lookups do not walk a file system.
unset GREYLIST_REDIS GREYLIST_REDIS_PREFIX GREYLIST_REDIS_DB GREYLIST_REDIS_TIMEOUT GREYLIST_REDIS_PASSFILE
RS=
if command -v redis-server > /dev/null 2>&1; then
  . bench/redis.lib
  redis_start bench/rcptcheck-triplets.sh "$W"
  GREYLIST_REDIS=$RS GREYLIST_REDIS_PREFIX=s: "$TB" mk - 1 10 || exit 111
  t0=$(date +%s.%N)
  GREYLIST_REDIS=$RS GREYLIST_REDIS_PREFIX=b: GREYLIST_REDIS_TIMEOUT=5000 "$TB" mk - "$BIGKEYS" $R || exit 111
  t1=$(date +%s.%N)
  echo "made the same in Redis in $(echo "$t1 $t0" | awk '{ printf "%.1f", $1 - $2 }') s ($(redis-cli -s "$W/redis.sock" dbsize) keys)"
else
  echo "redis-server is not installed (scripts/install-deps): no Redis runs"
fi

export PROTO=TCP QMAILHOME="$W/q" RCPTCHECK_CDB="$W/q/valid.cdb" GREYLIST_V4PREFIX=32
unset RELAYCLIENT TCPREMOTEHOST RCPTCHECK_GREYLIST RCPTCHECK_GREYLIST_LIST GREYLIST_KEY GREYLIST_OBSERVE
best() { # name "wall cpu": the minimum of each in $wall_NAME, $cpu_NAME
  set -- "$1" $2
  eval "cur=\${wall_$1:-}"
  if [ -z "$cur" ] || [ "$2" -lt "$cur" ]; then eval "wall_$1=$2"; fi
  eval "cur=\${cpu_$1:-}"
  if [ -z "$cur" ] || [ "$3" -lt "$cur" ]; then eval "cpu_$1=$3"; fi
}
three() { # A B C "wall cpu wall cpu wall cpu": best of each pair, in turn
  set -- "$1" "$2" "$3" $4
  best "$1" "$4 $5"; best "$2" "$6 $7"; best "$3" "$8 $9"
}
least() { # name value: the minimum in $NAME
  eval "cur=\${$1:-}"
  if [ -z "$cur" ] || [ "$2" -lt "$cur" ]; then eval "$1=$2"; fi
}
RC=src/rcptcheck
i=0
while [ $i -lt "$ROUNDS" ]; do
  best plain  "$($PIN "$TB" run "$N" 1 10 $RR pair "$RC" "$W/sink")"
  three zero psmall pbig "$($PIN "$TB" cmp "$N" $RR pair "RCPTCHECK_GREYLIST=$W/small" 1 10 "RCPTCHECK_GREYLIST=$W/big" "$BIGKEYS" $R "$RC" "$W/sink")"
  three zero nsmall nbig "$($PIN "$TB" cmp "$N" $RR null "RCPTCHECK_GREYLIST=$W/small" 1 10 "RCPTCHECK_GREYLIST=$W/big" "$BIGKEYS" $R "$RC" "$W/sink")"
  if [ -n "$RS" ]; then
    three rzero rsmall rbig "$(GREYLIST_REDIS=$RS $PIN "$TB" cmp "$N" $RR null "RCPTCHECK_GREYLIST=$W/small GREYLIST_REDIS_PREFIX=s:" 1 10 \
      "RCPTCHECK_GREYLIST=$W/big GREYLIST_REDIS_PREFIX=b:" "$BIGKEYS" $R "$RC" "$W/sink")"
  fi
  least dec_small "$("$TB" decide "$W/small" 100000 1 10)"
  least dec_big "$("$TB" decide "$W/big" 100000 "$BIGKEYS" $R)"
  least fs_small "$("$TB" fsread "$W/small" 100000 1 10)"
  least fs_big "$("$TB" fsread "$W/big" 100000 "$BIGKEYS" $R)"
  i=$((i+1))
done
echo "wall ns per session of $RR RCPTs: without triplets $wall_plain; with triplets: no RCPT $wall_zero; learned pair, 10 stored $wall_psmall, $KEYS stored $wall_pbig; null sender, 10 stored $wall_nsmall, $KEYS stored $wall_nbig"
echo "cpu ns per session of $RR RCPTs:  without triplets $cpu_plain; with triplets: no RCPT $cpu_zero; learned pair, 10 stored $cpu_psmall, $KEYS stored $cpu_pbig; null sender, 10 stored $cpu_nsmall, $KEYS stored $cpu_nbig"
awk -v r=$RR -v p="$wall_plain" -v z="$wall_zero" -v ps="$wall_psmall" -v pb="$wall_pbig" -v ns="$wall_nsmall" -v nb="$wall_nbig" \
    -v cp="$cpu_plain" -v cz="$cpu_zero" -v cps="$cpu_psmall" -v cpb="$cpu_pbig" -v cns="$cpu_nsmall" -v cnb="$cpu_nbig" \
    -v ds="$dec_small" -v db="$dec_big" -v fs="$fs_small" -v fb="$fs_big" -v k="$KEYS" 'BEGIN {
  printf "per-RCPT cost with triplets on (session with %d RCPTs minus one with none, / %d): learned pair %.1f us with 10 stored, %.1f us with %d; null sender %.1f us, %.1f us\n", r, r, (ps - z) / r / 1000, (pb - z) / r / 1000, k, (ns - z) / r / 1000, (nb - z) / r / 1000
  printf "triplets per-RCPT cost with %d stored / with 10, learned pair: %.2f (goal <= 1.2) [cpu: %.2f]\n", k, (pb - z) / (ps - z), (cpb - cz) / (cps - cz)
  printf "triplets per-RCPT cost with %d stored / with 10, null sender: %.2f (goal <= 1.2) [cpu: %.2f]\n", k, (nb - z) / (ns - z), (cnb - cz) / (cns - cz)
  printf "a triplet read before its pair is learned: the decision alone (key, read, verdict; in one process): %.1f us with 10 stored, %.1f us with %d: %.2f\n", ds / 1000, db / 1000, k, db / ds
  printf "the file system alone (open, fstat, fgetxattr, close of the same records): %.1f us with 10 stored, %.1f us with %d: %.2f; the rest of the decision: %.1f us, %.1f us\n", fs / 1000, fb / 1000, k, fb / fs, (ds - fs) / 1000, (db - fb) / 1000
  printf "triplets added per RCPT against rcptcheck without them: learned pair %.1f us (10 stored), %.1f us (%d); null sender %.1f us, %.1f us\n", (ps - p) / r / 1000, (pb - p) / r / 1000, k, (ns - p) / r / 1000, (nb - p) / r / 1000
  printf "rcptcheck session of %d RCPTs with triplets (%d stored) / without: %.2f learned pair, %.2f null sender [cpu: %.2f, %.2f]\n", r, k, pb / p, nb / p, cpb / cp, cnb / cp }'

[ -n "$RS" ] && awk -v r=$RR -v z="$wall_rzero" -v s="$wall_rsmall" -v b="$wall_rbig" -v k="$KEYS" \
    -v cz="$cpu_rzero" -v cs="$cpu_rsmall" -v cb="$cpu_rbig" 'BEGIN {
  printf "Redis store (GREYLIST_REDIS, unix socket), null sender: per-RCPT %.1f us with 10 stored, %.1f us with %d\n", (s - z) / r / 1000, (b - z) / r / 1000, k
  printf "triplets per-RCPT cost with %d stored / with 10, null sender, Redis store: %.2f (goal <= 1.2) [cpu: %.2f]\n", k, (b - z) / (s - z), (cb - cz) / (cs - cz) }'

# The same sessions' instructions in rcptcheck itself (callgrind, one
# session each: user space only, so the file system's part is not in it).
if command -v valgrind > /dev/null 2>&1; then
  ir() { # ir OUT [VAR=value...]: Ir of one session of the last run kind
    out=$1; shift
    env "$@" valgrind -q --tool=callgrind --callgrind-out-file="$out" "$RC" "$W/sink" < "$W/sess.$kind" > /dev/null 2>&1
    sed -n 's/^summary: //p' "$out"
  }
  for kind in pair null; do
    if [ $kind = pair ]; then printf 'HELO b\r\nMAIL FROM:<s@d7.test>\r\n'; else printf 'HELO b\r\nMAIL FROM:<>\r\n'; fi > "$W/sess.$kind"
    i=0; while [ $i -lt $R ]; do printf 'RCPT TO:<user%d@local.test>\r\n' $i; i=$((i+1)); done >> "$W/sess.$kind"
    printf 'QUIT\r\n' >> "$W/sess.$kind"
  done
  kind=pair; ip=10.0.0.7
  i0=$(ir "$W/cg.plain" TCPREMOTEIP=$ip)
  i1=$(ir "$W/cg.pbig" TCPREMOTEIP=$ip RCPTCHECK_GREYLIST="$W/big")
  kind=null
  i2=$(ir "$W/cg.nbig" TCPREMOTEIP=$ip RCPTCHECK_GREYLIST="$W/big")
  awk -v r=$R -v a="$i0" -v b="$i1" -v c="$i2" 'BEGIN {
    printf "instructions per session of %d RCPTs (callgrind): without triplets %d, with (learned pair) %d, with (null sender) %d\n", r, a, b, c
    printf "instructions added per RCPT: %.0f learned pair, %.0f null sender; session with triplets / without: %.2f, %.2f\n", (b - a) / r, (c - a) / r, b / a, c / a }'
fi
