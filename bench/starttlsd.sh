#!/bin/bash
# SPDX-License-Identifier: ISC
# bench/starttlsd.sh: starttlsd's costs, each side by side with its
# baseline in the same run, printed as ratios.
#   1. a session that never uses STARTTLS: starttlsd's added cost against
#      rblsmtpd's pass-through (both in front of /bin/true, timed until
#      every process of the session has exited, starttlsd's waiting child
#      included). Goal <= 1.5.
#   2. a whole STARTTLS session (EHLO, STARTTLS, handshake, EHLO, one small
#      message, QUIT) through tcpserver, starttlsd and rcptcheck to a sink,
#      against the same session through stunnel4 (protocol = smtp, the
#      same sink): the added cost over a session in clear straight to the
#      sink. Goal <= 1.1 x stunnel's. stunnel's smtp mode waits 200 ms
#      for a client that might speak TLS at once before it offers STARTTLS
#      (its RFC 2487 detection), so the same session through stunnel as a
#      plain TLS relay (TLS at once) is printed too: that is the cost of
#      TLS alone in a long-running process, against starttlsd's exec of its
#      TLS part and libtls/OpenSSL's start for each TLS session.
#   3. 100 MB inside TLS through the chain against 100 MB through stunnel4:
#      throughput (goal >= 0.9 x stunnel's), and peak RSS: starttlsd's TLS
#      part <= 8 MB, rcptcheck <= 2 MB.
# The client is one C program on libtls (the same OpenSSL as both).
# Needs cc, libtls-dev, rblsmtpd (ucspi-tcp), tcpserver, stunnel4, openssl
# and a built tree (make).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"   # bench/run uses sh
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
SRC=$TOP/src
T=$(mktemp -d /tmp/bench-starttlsd.XXXXXX)
[ -z "${KEEP:-}" ] || echo "# scratch: $T"
SERVERS=()
cleanup() {
  local p
  for p in "${SERVERS[@]}"; do kill "$p" 2> /dev/null || :; done
  for p in "${SERVERS[@]}"; do wait "$p" 2> /dev/null || :; done
  [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
[ -x "$SRC/starttlsd" ] && [ -x "$SRC/starttlsd-io" ] || { echo "build first: make"; exit 111; }
for c in rblsmtpd tcpserver stunnel4 openssl; do
  command -v $c > /dev/null || { echo "bench/starttlsd.sh: $c not found (scripts/install-deps)"; exit 111; }
done

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" \
  -days 2 -subj /CN=bench.example.test 2> /dev/null
export CERTFILE=$T/cert.pem KEYFILE=$T/key.pem
mkdir -p "$T/q/control"
echo local.test > "$T/q/control/locals"
export QMAILHOME=$T/q TCPREMOTEIP=127.0.0.1 PROTO=TCP
unset RBLSMTPD RELAYCLIENT

# hold N prog...: runs prog N times, each until every process of it has
# exited (a subreaper: orphans come back here and are waited for); prints
# wall and CPU (user + system) nanoseconds per run.
cat > "$T/hold.c" <<'C'
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/resource.h>
int main(int argc, char **argv)
{
  struct timespec a, b; struct rusage ru; long i, n = atol(argv[1]);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (i = 0; i < n; i++) {
    int st; pid_t p = fork();
    if (p < 0) return 111;
    if (!p) {
      int fd = open("/dev/null", O_RDWR);
      dup2(fd, 0); dup2(fd, 1); dup2(fd, 2);
      execvp(argv[2], argv + 2); _exit(127);
    }
    while (wait(&st) > 0) if (WIFEXITED(st) && WEXITSTATUS(st) == 127) return 111;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  getrusage(RUSAGE_CHILDREN, &ru);
  printf("%.0f %.0f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n,
         ((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3) / n);
  return 0;
}
C

# The sink: just enough SMTP, CRLF.CRLF across any boundary.
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
      if (data) {
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

# The client: sessions, plain or with STARTTLS, and a big message.
cat > "$T/drive.c" <<'C'
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <dirent.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <tls.h>
static int fd; static struct tls *t; static struct tls_config *cf;
static char rb[8192]; static size_t rl;
static double now(void) { struct timespec x; clock_gettime(CLOCK_MONOTONIC, &x); return x.tv_sec + x.tv_nsec / 1e9; }
static void die(const char *s) { fprintf(stderr, "drive: %s\n", s); exit(1); }
static void put(const char *s, size_t n)
{
  while (n) {
    ssize_t w = t ? tls_write(t, s, n) : write(fd, s, n);
    if (t && (w == TLS_WANT_POLLIN || w == TLS_WANT_POLLOUT)) continue;
    if (w <= 0) die("write");
    s += w; n -= w;
  }
}
static void puts_(const char *s) { put(s, strlen(s)); }
static int reply(void)
{
  for (;;) {
    char *lf = memchr(rb, '\n', rl);
    if (lf) {
      size_t k = lf - rb + 1; int code = atoi(rb), more = rl > 3 && rb[3] == '-';
      memmove(rb, rb + k, rl - k); rl -= k;
      if (!more) return code;
      continue;
    }
    ssize_t r = t ? tls_read(t, rb + rl, sizeof rb - rl) : read(fd, rb + rl, sizeof rb - rl);
    if (t && (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT)) continue;   /* a ticket */
    if (r <= 0) die("read");
    rl += r;
  }
}
static void expect(int code) { int c = reply(); if (c != code) { fprintf(stderr, "got %d, want %d\n", c, code); exit(1); } }
static void handshake(void)
{
  if (!(t = tls_client()) || tls_configure(t, cf) || tls_connect_socket(t, fd, "bench.example.test") ||
      tls_handshake(t)) die(t ? tls_error(t) : "tls_client");
}
/* tls: 0 in clear, 1 STARTTLS, 2 TLS at once (stunnel's plain relay mode) */
static void start(int port, int tls)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  a.sin_addr.s_addr = htonl(0x7f000001);
  fd = socket(AF_INET, SOCK_STREAM, 0); t = 0; rl = 0;
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) die("connect");
  if (tls == 2) handshake();
  expect(220);
  puts_("EHLO bench.test\r\n"); expect(250);
  if (tls != 1) return;
  puts_("STARTTLS\r\n"); expect(220);
  handshake();
  /* libtls' handshake on a blocking socket: 0 once done (no WANT_*) */
  puts_("EHLO bench.test\r\n"); expect(250);
}
static void end(void)
{
  char x[512];
  puts_("QUIT\r\n"); expect(221);
  if (t) { tls_close(t); tls_free(t); t = 0; }
  shutdown(fd, SHUT_WR);
  while (read(fd, x, sizeof x) > 0) ;
  close(fd);
}
static long hwm_kb(pid_t p)
{
  char fn[64], l[256]; long kb = -1; FILE *f;
  snprintf(fn, sizeof fn, "/proc/%d/status", (int)p);
  if (!(f = fopen(fn, "r"))) return -1;
  while (fgets(l, sizeof l, f)) if (!strncmp(l, "VmHWM:", 6)) kb = atol(l + 6);
  fclose(f);
  return kb;
}
/* the child of parent whose name is comm, or 0 */
static pid_t child(pid_t parent, const char *comm)
{
  DIR *d = opendir("/proc"); struct dirent *e; pid_t found = 0;
  while (d && (e = readdir(d))) {
    char fn[300], l[512]; FILE *f; int p = atoi(e->d_name); char name[64] = ""; int pp = -1;
    if (p <= 0) continue;
    snprintf(fn, sizeof fn, "/proc/%d/status", p);
    if (!(f = fopen(fn, "r"))) continue;
    while (fgets(l, sizeof l, f)) { sscanf(l, "Name: %63s", name); sscanf(l, "PPid: %d", &pp); }
    fclose(f);
    if (pp == parent && !strcmp(name, comm)) found = p;
  }
  if (d) closedir(d);
  return found;
}
int main(int argc, char **argv)
{
  tls_init();
  cf = tls_config_new();
  tls_config_insecure_noverifycert(cf);
  tls_config_insecure_noverifyname(cf);
  if (!strcmp(argv[1], "sess")) {            /* sess N PORT plain|tls|tlsnow */
    int n = atoi(argv[2]), port = atoi(argv[3]), i; double t0 = now();
    int tls = !strcmp(argv[4], "tls") ? 1 : !strcmp(argv[4], "tlsnow") ? 2 : 0;
    for (i = 0; i < n; i++) {
      start(port, tls);
      puts_("MAIL FROM:<a@remote.test>\r\n"); expect(250);
      puts_("RCPT TO:<b@remote.test>\r\n"); expect(250);
      puts_("DATA\r\n"); expect(354);
      puts_("Subject: bench\r\n\r\na small message\r\n.\r\n"); expect(250);
      end();
    }
    printf("%.1f\n", (now() - t0) / n * 1e6);
  } else if (!strcmp(argv[1], "data")) {     /* data MB PORT tls|tlsnow [TCPSERVERPID] */
    long mb = atol(argv[2]), i; int port = atoi(argv[3]); static char chunk[65536]; double t0, t1;
    int tls = !strcmp(argv[4], "tlsnow") ? 2 : 1;
    pid_t srv = argc > 5 ? atoi(argv[5]) : 0, rc = 0, io = 0;
    for (i = 0; i < (long)sizeof chunk; i++) chunk[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : 'a' + i % 26;
    t0 = now();
    start(port, tls);
    puts_("MAIL FROM:<a@remote.test>\r\n"); expect(250);
    puts_("RCPT TO:<b@remote.test>\r\n"); expect(250);
    puts_("DATA\r\n"); expect(354);
    for (i = 0; i < mb * 16; i++) put(chunk, sizeof chunk);
    puts_("\r\n.\r\n"); expect(250);
    t1 = now();
    if (srv && (rc = child(srv, "rcptcheck"))) io = child(rc, "starttlsd-io");
    printf("%.3f %ld %ld\n", t1 - t0, io ? hwm_kb(io) : -1, rc ? hwm_kb(rc) : -1);
    end();
  }
  return 0;
}
C
cc -O2 -o "$T/hold" "$T/hold.c"
cc -O2 -o "$T/sink" "$T/sink.c"
cc -O2 -o "$T/drive" "$T/drive.c" $(pkg-config --cflags --libs libtls 2> /dev/null || echo -ltls)
D=$T/drive

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
best() { sort -n | head -n1; }

# ---- 1. a session that never uses STARTTLS
N=${N:-1000}
for r in 1 2 3 4 5 6 7; do
  "$T/hold" "$N" /bin/true >> "$T/h.true"
  "$T/hold" "$N" rblsmtpd /bin/true >> "$T/h.rbl"
  "$T/hold" "$N" "$SRC/starttlsd" /bin/true >> "$T/h.stls"
done
for k in true rbl stls; do
  cut -d' ' -f1 "$T/h.$k" | best > "$T/w.$k"
  cut -d' ' -f2 "$T/h.$k" | best > "$T/c.$k"
done
awk -v t="$(cat "$T/w.true")" -v r="$(cat "$T/w.rbl")" -v s="$(cat "$T/w.stls")" \
    -v ct="$(cat "$T/c.true")" -v cr="$(cat "$T/c.rbl")" -v cs="$(cat "$T/c.stls")" 'BEGIN {
  printf "no STARTTLS, us per session (wall): /bin/true %.0f, rblsmtpd %.0f (+%.0f), starttlsd %.0f (+%.0f)\n", t/1e3, r/1e3, (r-t)/1e3, s/1e3, (s-t)/1e3
  printf "no STARTTLS, us per session (CPU):  /bin/true %.0f, rblsmtpd %.0f (+%.0f), starttlsd %.0f (+%.0f)\n", ct/1e3, cr/1e3, (cr-ct)/1e3, cs/1e3, (cs-ct)/1e3
  printf "starttlsd added cost / rblsmtpd added cost (wall): %.2f (goal <= 1.5)\n", (s-t)/(r-t)
  printf "starttlsd added cost / rblsmtpd added cost (CPU): %.2f\n", (cs-ct)/(cr-ct) }'

# ---- servers for 2 and 3
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PDIRECT=$(port)
tcpserver -R -H -l0 -c 20 127.0.0.1 "$PDIRECT" "$T/sink" 2> /dev/null &
SERVERS+=("$!")
PCHAIN=$(port)
tcpserver -R -H -l0 -c 20 127.0.0.1 "$PCHAIN" "$SRC/starttlsd" "$SRC/rcptcheck" "$T/sink" 2> /dev/null &
CHAINSRV=$!
SERVERS+=("$CHAINSRV")
# stunnel4 twice: with protocol = smtp (its own STARTTLS, the same
# session as the chain's) and as a plain TLS relay (TLS at once, as on
# port 465): the cost of TLS alone, without stunnel's SMTP dialogue.
stunnel_conf() { # NAME PORT [PROTOCOL]
  cat > "$T/$1.conf" <<EOF
foreground = yes
pid =
debug = 3
socket = l:TCP_NODELAY=1
[smtp]
accept = 127.0.0.1:$2
exec = $T/sink
${3:+protocol = $3}
cert = $T/cert.pem
key = $T/key.pem
EOF
  stunnel4 "$T/$1.conf" > /dev/null 2>&1 &
  SERVERS+=("$!")
}
PSTUN=$(port)
stunnel_conf stunnel-smtp "$PSTUN" smtp
PSTUN2=$(port)
stunnel_conf stunnel-tls "$PSTUN2"
up() { python3 -c "import socket; socket.create_connection(('127.0.0.1',$1)).close()" 2> /dev/null; }
for p in "$PDIRECT" "$PCHAIN" "$PSTUN" "$PSTUN2"; do
  i=0; while ! up "$p" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
done

# ---- 2. a whole STARTTLS session
S=${S:-200}
for r in 1 2 3 4 5; do
  "$D" sess "$S" "$PDIRECT" plain >> "$T/s.direct"
  "$D" sess "$S" "$PCHAIN" tls >> "$T/s.chain"
  "$D" sess "$S" "$PSTUN" tls >> "$T/s.stun"
  "$D" sess "$S" "$PSTUN2" tlsnow >> "$T/s.stun2"
done
sd=$(median < "$T/s.direct"); sc=$(median < "$T/s.chain"); ss=$(median < "$T/s.stun"); s2=$(median < "$T/s.stun2")
awk -v d="$sd" -v c="$sc" -v s="$ss" -v s2="$s2" 'BEGIN {
  printf "TLS session (us): in clear to the sink %.0f, starttlsd+rcptcheck %.0f (+%.0f), stunnel4 smtp %.0f (+%.0f), stunnel4 plain TLS relay %.0f (+%.0f)\n", d, c, c-d, s, s-d, s2, s2-d
  printf "STARTTLS session added cost, starttlsd+rcptcheck / stunnel4 (protocol = smtp): %.2f (goal <= 1.1)\n", (c-d)/(s-d)
  printf "STARTTLS session added cost, starttlsd+rcptcheck / stunnel4 as a plain TLS relay: %.2f\n", (c-d)/(s2-d) }'

# ---- 3. 100 MB inside TLS
MB=${MB:-100}
for r in 1 2 3; do
  "$D" data "$MB" "$PCHAIN" tls "$CHAINSRV" >> "$T/d.chain"
  "$D" data "$MB" "$PSTUN" tls >> "$T/d.stun"
  "$D" data "$MB" "$PSTUN2" tlsnow >> "$T/d.stun2"
done
tc=$(cut -d' ' -f1 "$T/d.chain" | median); ts=$(cut -d' ' -f1 "$T/d.stun" | median); t2=$(cut -d' ' -f1 "$T/d.stun2" | median)
io=$(cut -d' ' -f2 "$T/d.chain" | sort -n | tail -n1); rc=$(cut -d' ' -f3 "$T/d.chain" | sort -n | tail -n1)
"$D" data 1 "$PCHAIN" tls "$CHAINSRV" > "$T/d.small"
io1=$(cut -d' ' -f2 "$T/d.small"); rc1=$(cut -d' ' -f3 "$T/d.small")
awk -v c="$tc" -v s="$ts" -v s2="$t2" -v mb="$MB" -v io="$io" -v rc="$rc" -v io1="$io1" -v rc1="$rc1" 'BEGIN {
  printf "%d MB inside TLS: starttlsd+rcptcheck %.2f s (%.0f MB/s), stunnel4 smtp %.2f s (%.0f MB/s), stunnel4 plain relay %.2f s (%.0f MB/s)\n", mb, c, mb/c, s, mb/s, s2, mb/s2
  printf "%d MB inside TLS throughput, starttlsd+rcptcheck / stunnel4 (the faster of the two): %.2f (goal >= 0.9)\n", mb, (s < s2 ? s : s2)/c
  printf "peak RSS, 1 MB / %d MB: starttlsd-io %.1f / %.1f MB (goal <= 8 MB), rcptcheck %.1f / %.1f MB (goal <= 2 MB)\n", mb, io1/1024, io/1024, rc1/1024, rc/1024 }'
