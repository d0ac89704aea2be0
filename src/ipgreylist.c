/* SPDX-License-Identifier: ISC */
/* ipgreylist: IP greylisting, the "o-najimi-san" way. A client seen for
 * the first time is asked to come back later (451); one that comes back
 * after GREYLIST_MIN seconds, within GREYLIST_WINDOW, becomes a regular
 * and walks straight in for GREYLIST_LIFETIME. A client is known by its
 * key: the registrable domain of its reverse-DNS name (name key), else
 * its address's /24 or /64 (IP keys). One small file per key under
 * DIR/xx/yy/, whose mtime is the reference time, or one Redis key per
 * key shared by several MX (GREYLIST_REDIS). The rule is nj_gl_verdict
 * (greylist.c), the key glname.c, the store glstore.c (files:
 * greylist-files.c, Redis: greylist-redis.c); main reads top to bottom: options, tcprules'
 * verdicts, whitelist, selective mode, then the key, its decision
 * (record, verdict, record) and the act. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <sys/stat.h>
#include <skalibs/bytestr.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include <skalibs/djbunix.h>
#include "najimi.h"
#include "greylist.h"

#define USAGE "ipgreylist [ -D ] [ -c ] [ -t timeout ] [ -d dir ] [ -w whitelist.cdb ] [ -p patterns ] prog [ args... ]"

#define TEXTMAX 200

const char *PROG = "ipgreylist";

static struct {
  const char *ipname;         /* canonical client address, or 0 */
  const char *raw;            /* $TCPREMOTEIP as given, for logs only */
  int at_data;                /* -D */
  int fail_closed;            /* -c, GREYLIST_FAILCLOSED */
  int observe;                /* GREYLIST_OBSERVE: log would=, let through */
  unsigned int timeout;       /* -t */
  int wl_expired;             /* only an expired whitelist entry matched */
  char const *const *next;    /* the next program */
} g;

/* main's frame stays on the stack under the whole decision, so what
 * main calls once and that has log lines, replies or paths of its own
 * (the steps before the key, the act, the failures) is kept out of it
 * (noinline): a regular's pass-through then touches fewer stack pages,
 * each a page fault of a few microseconds in a fresh process. */
#define STEP static __attribute__((noinline))

/* ---------------------------------------------------------------- replies */

static void refuse(const char *reply, int at_data) __attribute__((noreturn));
static void refuse(const char *reply, int at_data)
{
  char greeting[300];
  const char *host = nj_local_host();
  size_t n = strlen(host);
  nj_refusal r;
  memcpy(greeting, "220 ", 4);
  memcpy(greeting + 4, host, n);
  memcpy(greeting + 4 + n, " ESMTP", 7);
  r.greeting = greeting;
  r.reply = reply;
  r.at_data = at_data;
  r.all_503 = 0;
  r.timeout = g.timeout;
  nj_refuse(&r);
}

/* "CODE X.Y.Z text" from administrator-supplied text: control bytes
 * (CR and LF among them) become '?', and the text is cut to TEXTMAX. */
static void reply_text(char *buf, const char *prefix, const char *text)
{
  size_t n = strlen(prefix), i;
  memcpy(buf, prefix, n);
  for (i = 0; text[i] && i < TEXTMAX; i++) {
    unsigned char c = (unsigned char)text[i];
    buf[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  buf[n] = 0;
}

static void start(nj_log *l, const char *action)
{
  nj_log_start(l, action, g.ipname);
}

static void pass(nj_log *l) __attribute__((noreturn));
static void pass(nj_log *l)
{
  if (g.wl_expired) nj_log_str(l, "whitelist", "expired");
  nj_log_end(l);
  nj_exec(g.next);
}

static void deny(nj_log *l, const char *reply, int at_data) __attribute__((noreturn));
static void deny(nj_log *l, const char *reply, int at_data)
{
  char code[4] = { reply[0], reply[1], reply[2], 0 };
  nj_log_str(l, NJ_K_CODE, code);
  if (g.wl_expired) nj_log_str(l, "whitelist", "expired");
  nj_log_end(l);
  refuse(reply, at_data);
}

/* A refusal of the greylist's own (a stranger, too soon, no address, a
 * state failure with -c): in observe mode it is logged as would=CODE and
 * the session let through. */
static void grey(nj_log *l, const char *reply) __attribute__((noreturn));
static void grey(nj_log *l, const char *reply)
{
  char code[4] = { reply[0], reply[1], reply[2], 0 };
  if (!g.observe) deny(l, reply, g.at_data);
  nj_log_str(l, "would", code);
  pass(l);
}

/* ---------------------------------------------------------------- state */

/* A state failure: the decision cannot be made. Fail open (the next
 * program runs) unless -c, then 451 4.3.0. */
static void state_fail(const char *key, const char *op, const char *path, int e) __attribute__((noreturn));
static void state_fail(const char *key, const char *op, const char *path, int e)
{
  nj_log l;
  start(&l, "error");
  nj_log_str(&l, NJ_K_KEY, key);
  nj_log_str(&l, "op", op);
  nj_log_str(&l, "path", path);
  nj_log_str(&l, "errno", nj_gl_errname(e));
  if (g.fail_closed)
    grey(&l, "451 4.3.0 temporary local problem, please try again later");
  nj_log_str(&l, "then", "pass");
  pass(&l);
}

/* The key's part of a decision line: key=, keyby=, the name key's
 * domain=, or why a name present gave no key (namekey=). */
static void key_fields(nj_log *l, const nj_glkey *k, int why)
{
  char hash[9];
  nj_log_str(l, NJ_K_KEY, nj_gl_keylog(k, hash));
  nj_log_str(l, "keyby", nj_gl_kindname(k->kind));
  if (k->kind == NJ_GLK_NAME) nj_log_str(l, "domain", nj_gl_keypart(k));
  if (why) nj_log_str(l, "namekey", nj_gl_whyname(why));
}

/* The decision's one log line, then its reply or the next program. */
STEP void act(const nj_glkey *k, int why, const nj_glkey *seed,
              const nj_gldecision *d, const nj_glpolicy *p) __attribute__((noreturn));
static void act(const nj_glkey *k, int why, const nj_glkey *seed,
                const nj_gldecision *d, const nj_glpolicy *p)
{
  nj_log l;
  static const char *const action[] = { "", "new", "too-soon", "pass", "regular", "new" };
  start(&l, action[d->v.is]);
  key_fields(&l, k, why);
  /* a stranger's record is new: age 0 (a reset's old age is its was=) */
  nj_log_ulong(&l, NJ_K_AGE, d->v.is == NJ_GLV_NEW || d->v.is == NJ_GLV_RESET ? 0 : (unsigned long)d->age);
  if (d->ahead) nj_log_ulong(&l, "ahead", (unsigned long)d->ahead);
  switch (d->v.is) {
    case NJ_GLV_NEW:
    case NJ_GLV_RESET:
      if (d->v.is == NJ_GLV_RESET) {
        nj_log_str(&l, "reset", nj_gl_reason(d->v.reason));
        if (d->v.reason == NJ_GLR_LAPSED || d->v.reason == NJ_GLR_STALE)
          nj_log_ulong(&l, "was", (unsigned long)d->age);
      }
      grey(&l, "451 4.7.1 greylisted: this address is new here, please try again later");
    case NJ_GLV_TOO_SOON:
      nj_log_ulong(&l, "count", d->count);
      nj_log_ulong(&l, "min", (unsigned long)p->min);
      if (d->werr) nj_log_str(&l, "error", nj_gl_errname(d->werr));
      grey(&l, "451 4.7.1 greylisted: retried too soon, please try again later");
    case NJ_GLV_PROMOTE:
      nj_log_ulong(&l, "count", d->count);
      break;
    default:
      if (d->seeded) nj_log_str(&l, "from", seed->name);
  }
  if (d->werr) nj_log_str(&l, "error", nj_gl_errname(d->werr));
  pass(&l);
}

/* ---------------------------------------------------------------- main */

static const char *env_or(const char *var, const char *opt)
{
  const char *s = getenv(var);
  return s && *s ? s : opt;
}

static struct {
  const char *d, *w, *p;      /* -d dir, -w whitelist, -p patterns */
} opt;

static void options(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  g.timeout = 60;
  for (;;) {
    int o = subgetopt_r(argc, argv, "Dct:d:w:p:", &l);
    if (o == -1) break;
    switch (o) {
      case 'D': g.at_data = 1; break;
      case 'c': g.fail_closed = 1; break;
      case 't': g.timeout = (unsigned int)nj_opt_ulong('t', l.arg, 1, 3600); break;
      case 'd': opt.d = l.arg; break;
      case 'w': opt.w = l.arg; break;
      case 'p': opt.p = l.arg; break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  argc -= l.ind;
  argv += l.ind;
  if (!argc) strerr_dieusage(100, USAGE);
  g.next = argv;
}

/* Trusted clients and tcprules' verdicts come first. */
STEP void tcprules(void)
{
  char reply[TEXTMAX + 16];
  const char *s;
  nj_log log;
  if (getenv("RELAYCLIENT")) {
    start(&log, "relayclient");
    pass(&log);
  }
  s = getenv("GREYLIST");
  if (s) {
    if (!*s) {
      start(&log, "whitelisted");
      nj_log_str(&log, "by", "GREYLIST");
      pass(&log);
    }
    start(&log, "refused");
    nj_log_str(&log, "by", "GREYLIST");
    if (*s == '-') {
      reply_text(reply, "553 5.7.1 ", s[1] ? s + 1 : "rejected");
      nj_log_str(&log, "text", s + 1);
      deny(&log, reply, 0);
    }
    reply_text(reply, "451 4.7.1 ", s);
    nj_log_str(&log, "text", s);
    deny(&log, reply, g.at_data);
  }
}

/* The settings of the decision, from the environment (which wins over
 * the options). */
static void settings(nj_glpolicy *p, nj_glkeyconf *kc)
{
  nj_gl_policy_env(p);
  nj_gl_keyconf_env(kc, opt.p);
  g.fail_closed = (int)nj_env_ulong("GREYLIST_FAILCLOSED", (unsigned long)g.fail_closed, 0, 1, 0);
  g.observe = (int)nj_env_ulong("GREYLIST_OBSERVE", 0, 0, 1, 0);
}

/* The whitelist cdb, reopened for every connection. */
STEP void whitelist(const char *wl, const nj_ip *ip, const char *host)
{
  nj_log log;
  if (wl) {
    char match[160];
    struct timespec now;
    int r;
    nj_clock(&now);
    r = nj_wl_lookup(wl, ip, host, now.tv_sec, match, sizeof match, &g.wl_expired);
    if (r > 0) {
      start(&log, "whitelisted");
      nj_log_str(&log, "by", "cdb");
      nj_log_str(&log, "match", match);
      pass(&log);
    }
    if (r < 0)
      strerr_warnw("whitelist ", wl, errno == EPROTO ? " is corrupt" : " cannot be read: ",
                   errno == EPROTO ? "" : nj_gl_errname(errno), ", treated as empty");
  }
}

/* Selective mode: only suspicious clients are greylisted. */
STEP void selective(const char *host, const char *patterns)
{
  const char *s;
  nj_log log;
  s = getenv("GREYLIST_ONLY");
  if (s && *s) {
    if (!strcmp(s, "suspicious")) {
      if (host && *host && !nj_gl_dynamic(host, patterns)) {
        start(&log, "not-suspicious");
        nj_log_str(&log, "host", host);
        pass(&log);
      }
    } else if (strcmp(s, "all")) {
      char san[NJ_LOGVAL + 4];
      nj_sanitise(san, NJ_LOGVAL, s, strlen(s));
      strerr_warnw("invalid GREYLIST_ONLY=", san, ", using default all");
    }
  }
}

/* No usable $TCPREMOTEIP: nothing to key the client by. */
STEP void bad_ip(void) __attribute__((noreturn));
static void bad_ip(void)
{
  nj_log log;
  start(&log, "bad-ip");
  nj_log_str(&log, "raw", g.raw ? (*g.raw ? g.raw : "(empty)") : "(unset)");
  grey(&log, "451 4.7.1 greylisted, please try again later");
}

/* The decision could not be made: its key, step and file, then
 * state_fail. */
STEP void decide_fail(nj_glstore *st, const nj_glkey *k, const nj_gldecision *d, int e) __attribute__((noreturn));
static void decide_fail(nj_glstore *st, const nj_glkey *k, const nj_gldecision *d, int e)
{
  char path[400], hashname[9];
  st->where(st, k, path, sizeof path);
  st->close(st);
  state_fail(nj_gl_keylog(k, hashname), d->op, path, e);
}

int main(int argc, char const *const *argv)
{
  const char *host, *dir;
  char ipstr[NJ_IPFMT];
  nj_ip ip;
  int have_ip, hasseed, why, e;
  nj_glpolicy pol;
  nj_glkeyconf kc;
  nj_glkey k, seed;
  nj_glstores stores;
  nj_glstore *st;
  nj_gldecision d;

  nj_version_opt(argc, argv);
  options(argc, argv);
  have_ip = nj_ip_client(&ip, &g.raw);
  if (have_ip) {
    nj_ip_fmt(ipstr, &ip);
    g.ipname = ipstr;
  }
  tcprules();
  settings(&pol, &kc);
  host = getenv("TCPREMOTEHOST");
  whitelist(env_or("GREYLIST_WHITELIST", opt.w), have_ip ? &ip : 0, host);
  selective(host, kc.patterns);
  if (!have_ip) bad_ip();
  /* The records: in Redis (GREYLIST_REDIS), else in the directory. */
  dir = env_or("GREYLISTDIR", opt.d);
  st = nj_gl_store(&stores, dir, &pol);
  if (!st) state_fail("", "no-dir", "(none)", ENOENT);

  /* The key, its record, the verdict, the record it leaves; then act. */
  nj_gl_client(&k, &seed, &hasseed, &ip, host, &kc, &why);
  e = nj_gl_decide(st, &k, hasseed ? &seed : 0, &pol, &d);
  if (e) decide_fail(st, &k, &d, e);
  st->close(st);
  act(&k, why, &seed, &d, &pol);
}
