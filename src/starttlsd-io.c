/* SPDX-License-Identifier: ISC */
/* starttlsd-io: starttlsd's TLS part, the only program linked with libtls
 * (starttlsd-io(8)). starttlsd's waiting child execs it once the
 * application has asked for TLS:
 *
 *   starttlsd-io -t timeout -p pid certfd keyfd toapp fromapp
 *
 * The network is on fds 0 and 1. The certificate chain and the key are
 * read from certfd and keyfd (opened by starttlsd for this connection,
 * as root if need be: nothing here has privileges). Then the server
 * handshake, within timeout seconds, and the relay: what the client
 * sends, decrypted, into toapp; what the application writes to fromapp,
 * encrypted, to the client. Fixed buffers and backpressure both ways: a
 * full buffer stops reading its side. Every log line carries the
 * session's pid (-p), the process that runs the application.
 *
 * Ends: the client's end of the stream (close_notify or a TCP close)
 * closes toapp, once what was read has been passed on; the application's
 * end of fromapp sends close_notify and half-closes the connection, once
 * what it wrote has gone out, then the client gets 2 s to close too. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <tls.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/tai.h>
#include <skalibs/iopause.h>
#include <skalibs/djbunix.h>
#include <skalibs/sig.h>
#include <skalibs/allreadwrite.h>
#include "najimi.h"

#define USAGE "starttlsd-io -t timeout -p pid certfd keyfd toappfd fromappfd"
#define CERTMAX  262144         /* a certificate chain, PEM */
#define KEYMAX   65536          /* a private key, PEM */
#define BUFSIZE  65536          /* each way */
#define NETIN    65536          /* the network's bytes before libtls */
#define LINGER   2              /* seconds for the client to close after us */

const char *PROG = "starttlsd";

static char ipbuf[NJ_IPFMT];
static const char *ip;          /* the client, for the log */

/* ------------------------------------------------------------ log */

/* A failed handshake, or a TLS part that could not start: one line. */
static void fail(const char *result, const char *error) __attribute__((noreturn));
static void fail(const char *result, const char *error)
{
  nj_log l;
  nj_log_start(&l, "tls", ip);
  nj_log_str(&l, "result", result);
  if (error) nj_log_str(&l, "error", error);
  nj_log_end(&l);
  _exit(0);
}

/* ------------------------------------------------------------ setup */

/* Reads the whole file at fd into buf (max bytes). Its length, or 0
 * (an error, or too big for a certificate or key). */
static size_t load(int fd, char *buf, size_t max)
{
  size_t n;
  int bad;
  errno = 0;
  n = allread(fd, buf, max);            /* short at the end: errno EPIPE */
  bad = n == max || (errno && errno != EPIPE);
  close(fd);
  return bad ? 0 : n;
}

/* The server context, from the files and TLS_PROTOCOLS, TLS_CIPHERS. */
static struct tls *server(int certfd, int keyfd)
{
  static char cert[CERTMAX], key[KEYMAX];
  const char *protos = getenv("TLS_PROTOCOLS"), *ciphers = getenv("TLS_CIPHERS");
  uint32_t p = TLS_PROTOCOLS_DEFAULT;
  size_t cl = load(certfd, cert, sizeof cert), kl = load(keyfd, key, sizeof key);
  struct tls_config *cf;
  struct tls *srv;
  char san[NJ_LOGVAL + 4];
  if (!cl) fail("config", "CERTFILE-unreadable-or-too-big");
  if (!kl) fail("config", "KEYFILE-unreadable-or-too-big");
  if (tls_init() < 0 || !(cf = tls_config_new()) || !(srv = tls_server()))
    fail("config", "libtls-init");
  if (protos && tls_config_parse_protocols(&p, protos) < 0) {
    nj_sanitise(san, NJ_LOGVAL, protos, strlen(protos));
    strerr_warnw("invalid TLS_PROTOCOLS=", san, ", using default tlsv1.2,tlsv1.3");
    p = TLS_PROTOCOLS_DEFAULT;
  }
  if (ciphers && tls_config_set_ciphers(cf, ciphers) < 0) {
    nj_sanitise(san, NJ_LOGVAL, ciphers, strlen(ciphers));
    strerr_warnw("invalid TLS_CIPHERS=", san, ", using default secure");
    ciphers = 0;
  }
  if (!ciphers && tls_config_set_ciphers(cf, "secure") < 0) fail("config", tls_config_error(cf));
  tls_config_prefer_ciphers_server(cf);
  if (tls_config_set_protocols(cf, p) < 0 ||
      tls_config_set_keypair_mem(cf, (uint8_t *)cert, cl, (uint8_t *)key, kl) < 0)
    fail("config", tls_config_error(cf));
  explicit_bzero(key, kl);
  if (tls_configure(srv, cf) < 0) fail("config", tls_error(srv));
  tls_config_clear_keys(cf);
  return srv;
}

/* Waits until fd is ready for what want asks (TLS_WANT_POLLIN or
 * TLS_WANT_POLLOUT), or the deadline: 0 then. */
static int ready(int want, const tain *deadline)
{
  iopause_fd x = { .fd = want == TLS_WANT_POLLIN ? 0 : 1,
                   .events = want == TLS_WANT_POLLIN ? IOPAUSE_READ : IOPAUSE_WRITE };
  for (;;) {
    int r = iopause_g(&x, 1, deadline);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return 0;
    tain_now_g();
    if (!tain_future(deadline)) return 0;
  }
}

/* The network side as libtls reads it: OpenSSL reads a record's 5-byte
 * header, then its body, two system calls for 16 KB; here one read takes
 * what the socket holds, up to NETIN, and the records are served from
 * it. Nothing but TLS is read: this starts after the client's STARTTLS
 * and the application's "Y". */
static struct {
  char b[NETIN];
  size_t pos, len;
} netin;

static ssize_t net_read(struct tls *c, void *buf, size_t n, void *arg)
{
  ssize_t r;
  (void)c;
  (void)arg;
  if (netin.pos == netin.len) {
    r = read(0, netin.b, sizeof netin.b);
    if (r < 0) return errno == EAGAIN || errno == EINTR ? TLS_WANT_POLLIN : -1;
    if (!r) return 0;
    netin.pos = 0;
    netin.len = (size_t)r;
  }
  if (n > netin.len - netin.pos) n = netin.len - netin.pos;
  memcpy(buf, netin.b + netin.pos, n);
  netin.pos += n;
  return (ssize_t)n;
}

static ssize_t net_write(struct tls *c, const void *buf, size_t n, void *arg)
{
  ssize_t w;
  (void)c;
  (void)arg;
  w = write(1, buf, n);
  if (w < 0) return errno == EAGAIN || errno == EINTR ? TLS_WANT_POLLOUT : -1;
  return w;
}

/* The server handshake within the deadline, then the session's line. */
static struct tls *handshake(struct tls *srv, unsigned long timeout)
{
  struct tls *c;
  tain deadline;
  const char *sni;
  nj_log l;
  tain_now_set_stopwatch_g();
  tain_addsec_g(&deadline, (int)timeout);
  if (tls_accept_cbs(srv, &c, net_read, net_write, 0) < 0) fail("failed", tls_error(srv));
  for (;;) {
    int r = tls_handshake(c);
    char b;
    if (!r) break;
    if (r != TLS_WANT_POLLIN && r != TLS_WANT_POLLOUT) {
      /* what is no acceptable TLS, or the client's end in the middle of
         a record (the library says "eof": the reason word only) */
      const char *e = tls_error(c);
      fail(e && strcasestr(e, "eof") ? "closed" : "failed", e);
    }
    if (!ready(r, &deadline)) fail("timeout", 0);
    /* the client's end, before the handshake could read it: closed */
    if (r == TLS_WANT_POLLIN && recv(0, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
      fail("closed", 0);
  }
  nj_log_start(&l, "tls", ip);
  nj_log_str(&l, "version", tls_conn_version(c));
  nj_log_str(&l, "cipher", tls_conn_cipher(c));
  if ((sni = tls_conn_servername(c))) nj_log_str(&l, "sni", sni);
  nj_log_end(&l);
  return c;
}

/* No Nagle on the network side: a TLS server writes its session tickets
 * and then its first record in separate small writes, and with Nagle the
 * later ones wait for the client's delayed ACK (40 ms a session, seen in
 * bench/starttlsd.sh). Nothing here writes byte by byte: records are
 * whole, and as large as what the application wrote. */
static void nodelay(int fd)
{
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* not a socket: no matter */
}

/* ------------------------------------------------------------ relay */

struct way {                    /* bytes on their way: [pos, len) */
  char b[BUFSIZE];
  size_t pos, len;
};

struct relay {
  struct tls *c;
  int toapp, fromapp;           /* -1 once closed */
  struct way n2a, a2n;          /* from the network to the app, and back */
  int rwant, wwant;             /* what tls_read, tls_write wait for (0: none) */
  int appr, appw;               /* 1: fromapp, toapp would block */
  int net_eof;                  /* the client sends no more */
  int net_dead;                 /* nothing more can go to the client */
  int app_eof;                  /* the application writes no more */
  int closed;                   /* close_notify sent, write side shut */
  tain deadline;                /* after app_eof: for the rest to go out,
                                   then (closed) for the client to close */
  unsigned long timeout;        /* -t */
};

static int room(const struct way *w) { return w->len < sizeof w->b; }
static size_t pending(const struct way *w) { return w->len - w->pos; }
static void took(struct way *w, size_t n)
{
  w->pos += n;
  if (w->pos == w->len) w->pos = w->len = 0;
}

/* From the client: as much as fits, until libtls wants to wait, so that
 * the application gets records in one write, not one write each. */
static int net_in(struct relay *r)
{
  int moved = 0;
  while (!r->net_eof && !r->rwant && room(&r->n2a)) {
    ssize_t n = tls_read(r->c, r->n2a.b + r->n2a.len, sizeof r->n2a.b - r->n2a.len);
    if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) { r->rwant = (int)n; break; }
    moved = 1;
    if (n <= 0) { r->net_eof = 1; break; }      /* its end, or a broken record */
    if (r->toapp >= 0) r->n2a.len += (size_t)n; /* else the app is gone: dropped */
  }
  return moved;
}

static int app_out(struct relay *r)
{
  ssize_t n;
  if (r->toapp < 0 || r->appw) return 0;
  if (!pending(&r->n2a)) {
    if (!r->net_eof) return 0;
    close(r->toapp);                      /* the client's end, passed on */
    r->toapp = -1;
    return 1;
  }
  n = write(r->toapp, r->n2a.b + r->n2a.pos, pending(&r->n2a));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) { r->appw = errno == EAGAIN; return 0; }
  if (n < 0) {                            /* the application stopped reading */
    close(r->toapp);
    r->toapp = -1;
    r->n2a.pos = r->n2a.len = 0;
    return 1;
  }
  took(&r->n2a, (size_t)n);
  return 1;
}

static int app_in(struct relay *r)
{
  ssize_t n;
  if (r->fromapp < 0 || r->appr || !room(&r->a2n)) return 0;
  if (r->net_dead) r->a2n.pos = r->a2n.len = 0;   /* nobody to send it to */
  n = read(r->fromapp, r->a2n.b + r->a2n.len, sizeof r->a2n.b - r->a2n.len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) { r->appr = errno == EAGAIN; return 0; }
  if (n <= 0) {
    close(r->fromapp);
    r->fromapp = -1;
    r->app_eof = 1;
    tain_now_g();
    tain_addsec_g(&r->deadline, (int)r->timeout);
    return 1;
  }
  r->a2n.len += (size_t)n;
  return 1;
}

/* To the client; once the application is done and all is out,
 * close_notify and a half-close. */
static int net_out(struct relay *r)
{
  ssize_t n;
  if (r->net_dead || r->closed || r->wwant) return 0;
  if (pending(&r->a2n)) {
    n = tls_write(r->c, r->a2n.b + r->a2n.pos, pending(&r->a2n));
    if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) { r->wwant = (int)n; return 0; }
    if (n < 0) {                          /* the connection is broken */
      r->net_dead = r->net_eof = 1;
      r->a2n.pos = r->a2n.len = 0;
      return 1;
    }
    took(&r->a2n, (size_t)n);
    return 1;
  }
  if (!r->app_eof) return 0;
  n = tls_close(r->c);
  if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) { r->wwant = (int)n; return 0; }
  shutdown(1, SHUT_WR);
  r->closed = 1;
  tain_now_g();
  tain_addsec_g(&r->deadline, LINGER);    /* for the client to close too */
  return 1;
}

/* Waits until a side can move. 0: the deadline passed. */
static int wait_io(struct relay *r)
{
  iopause_fd x[4];
  unsigned int n = 0, i;
  tain deadline;
  int k;
  if (r->rwant == TLS_WANT_POLLIN || r->wwant == TLS_WANT_POLLIN || r->closed)
    { x[n].fd = 0; x[n++].events = IOPAUSE_READ; }
  if (r->rwant == TLS_WANT_POLLOUT || r->wwant == TLS_WANT_POLLOUT)
    { x[n].fd = 1; x[n++].events = IOPAUSE_WRITE; }
  if (r->appw && r->toapp >= 0) { x[n].fd = r->toapp; x[n++].events = IOPAUSE_WRITE; }
  if (r->appr && r->fromapp >= 0) { x[n].fd = r->fromapp; x[n++].events = IOPAUSE_READ; }
  /* while the application lives, its deadlines rule; after it, ours */
  if (r->app_eof) deadline = r->deadline;
  else tain_add_g(&deadline, &tain_infinite_relative);
  k = iopause_g(x, n, &deadline);
  if (k < 0 && errno != EINTR) strerr_diefu1sys(111, "iopause");
  if (!k) return 0;
  for (i = 0; i < n; i++) {
    if (!x[i].revents) continue;
    if (x[i].fd == 0 || x[i].fd == 1) {
      int want = x[i].fd == 0 ? TLS_WANT_POLLIN : TLS_WANT_POLLOUT;
      if (r->rwant == want) r->rwant = 0;
      if (r->wwant == want) r->wwant = 0;
    } else if (x[i].fd == r->toapp) r->appw = 0;
    else r->appr = 0;
  }
  return 1;
}

/* Moves bytes both ways until both ends are done. */
static void relay(struct relay *r)
{
  for (;;) {
    int moved;
    do {
      moved = net_in(r);
      moved |= app_out(r);
      moved |= app_in(r);
      moved |= net_out(r);
      if (r->closed) r->n2a.pos = r->n2a.len = 0;   /* nobody will read it */
    } while (moved);
    if ((r->closed || r->net_dead) && r->app_eof && (r->net_eof || r->net_dead)) return;
    if (!wait_io(r)) return;
  }
}

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  unsigned long timeout = 30, pid = 0, fd[4];
  static struct relay r;
  nj_ip cip;
  int i;
  nj_version_opt_as("starttlsd-io", argc, argv);   /* it logs as starttlsd */
  for (;;) {
    int opt = subgetopt_r(argc, argv, "t:p:", &l);
    if (opt == -1) break;
    switch (opt) {
      case 't': timeout = nj_opt_ulong('t', l.arg, 1, 3600); break;
      case 'p': pid = nj_opt_ulong('p', l.arg, 1, 0x7fffffffUL); break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  if (argc - l.ind != 4) strerr_dieusage(100, USAGE);
  for (i = 0; i < 4; i++) fd[i] = nj_opt_ulong('-', argv[l.ind + i], 3, 65535);
  if (pid) nj_log_setpid((pid_t)pid);
  if (nj_ip_client(&cip, 0)) { nj_ip_fmt(ipbuf, &cip); ip = ipbuf; }
  sig_ignore(SIGPIPE);
  r.toapp = (int)fd[2];
  r.fromapp = (int)fd[3];
  ndelay_on(0);
  ndelay_on(1);
  nodelay(1);
  ndelay_on(r.toapp);
  ndelay_on(r.fromapp);
  r.c = handshake(server((int)fd[0], (int)fd[1]), timeout);
  r.timeout = timeout;
  relay(&r);
  return 0;
}
