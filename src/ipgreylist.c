/* ipgreylist: IP greylisting, the "o-najimi-san" way. A client address
 * seen for the first time is asked to come back later (451); one that
 * comes back after GREYLIST_MIN seconds, within GREYLIST_WINDOW, becomes a
 * regular and walks straight in for GREYLIST_LIFETIME. One small file per
 * key under DIR/xx/yy/, whose mtime is the reference time. The rule is
 * nj_gl_verdict (greylist.c), the files are greylist-files.c; main reads
 * top to bottom: options, tcprules' verdicts, whitelist, selective mode,
 * then the key, its decision (record, verdict, record) and the act. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <regex.h>
#include <time.h>
#include <sys/stat.h>
#include <skalibs/bytestr.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include <skalibs/djbunix.h>
#include "najimi.h"
#include "greylist.h"
#include "patterns.h"   /* builtin_patterns, from control/dynamic-patterns */

#define USAGE "ipgreylist [ -D ] [ -c ] [ -t timeout ] [ -d dir ] [ -w whitelist.cdb ] [ -p patterns ] prog [ args... ]"

#define TEXTMAX 200
#define PATTERNS_MAX 65536
typedef char patterns_fit[sizeof builtin_patterns <= PATTERNS_MAX ? 1 : -1];

const char *PROG = "ipgreylist";

static struct {
  const char *ipname;         /* canonical client address, or 0 */
  const char *raw;            /* $TCPREMOTEIP as given, for logs only */
  int at_data;                /* -D */
  int fail_closed;            /* -c */
  unsigned int timeout;       /* -t */
  int wl_expired;             /* only an expired whitelist entry matched */
  char const *const *next;    /* the next program */
} g;

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

static const char *errname(int e)
{
  static char num[UINT_FMT + 6];
  switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EROFS: return "EROFS";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case ELOOP: return "ELOOP";
    case EISDIR: return "EISDIR";
    case EIO: return "EIO";
    case EEXIST: return "EEXIST";
    case EPROTO: return "EPROTO";
    case ENOMEM: return "ENOMEM";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default:
      memcpy(num, "errno", 5);
      num[5 + uint_fmt(num + 5, (unsigned int)e)] = 0;
      return num;
  }
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
  nj_log_str(&l, "errno", errname(e));
  if (g.fail_closed)
    deny(&l, "451 4.3.0 temporary local problem, please try again later", g.at_data);
  nj_log_str(&l, "then", "pass");
  pass(&l);
}

/* The decision's one log line, then its reply or the next program. */
static void act(const nj_glkey *k, const nj_gldecision *d, const nj_glpolicy *p) __attribute__((noreturn));
static void act(const nj_glkey *k, const nj_gldecision *d, const nj_glpolicy *p)
{
  nj_log l;
  switch (d->v.is) {
    case NJ_GLV_NEW:
    case NJ_GLV_RESET:
      start(&l, "new");
      nj_log_str(&l, NJ_K_KEY, k->name);
      nj_log_ulong(&l, NJ_K_AGE, 0);
      if (d->v.is == NJ_GLV_RESET) {
        nj_log_str(&l, "reset", nj_gl_reason(d->v.reason));
        if (d->v.reason == NJ_GLR_LAPSED || d->v.reason == NJ_GLR_STALE)
          nj_log_ulong(&l, "was", (unsigned long)d->age);
      }
      deny(&l, "451 4.7.1 greylisted: this address is new here, please try again later", g.at_data);
    case NJ_GLV_TOO_SOON:
      start(&l, "too-soon");
      nj_log_str(&l, NJ_K_KEY, k->name);
      nj_log_ulong(&l, NJ_K_AGE, (unsigned long)d->age);
      nj_log_ulong(&l, "count", d->count);
      nj_log_ulong(&l, "min", (unsigned long)p->min);
      if (d->werr) nj_log_str(&l, "error", errname(d->werr));
      deny(&l, "451 4.7.1 greylisted: retried too soon, please try again later", g.at_data);
    case NJ_GLV_PROMOTE:
      start(&l, "pass");
      nj_log_str(&l, NJ_K_KEY, k->name);
      nj_log_ulong(&l, NJ_K_AGE, (unsigned long)d->age);
      nj_log_ulong(&l, "count", d->count);
      break;
    default:
      start(&l, "regular");
      nj_log_str(&l, NJ_K_KEY, k->name);
      nj_log_ulong(&l, NJ_K_AGE, (unsigned long)d->age);
  }
  if (d->werr) nj_log_str(&l, "error", errname(d->werr));
  pass(&l);
}

/* ---------------------------------------------------- selective mode */

/* 1 when the lower-case name matches one of the patterns in text (len
 * bytes, room for one more), read as a control file. */
static int matches(const char *lower, char *text, size_t len, const char *file)
{
  nj_ctl c;
  char *pat;
  size_t n;
  nj_ctl_init(&c, text, len, NJ_CTL_TEXT, 0);
  while (nj_ctl_next(&c, &pat, &n) > 0) {
    regex_t re;
    int r;
    if (regcomp(&re, pat, REG_EXTENDED | REG_ICASE | REG_NOSUB)) {
      char ln[ULONG_FMT];
      ln[ulong_fmt(ln, c.line)] = 0;
      strerr_warnw("invalid pattern in ", file, " line ", ln, ", skipped");
      continue;
    }
    r = regexec(&re, lower, 0, 0, 0);
    regfree(&re);
    if (!r) return 1;
  }
  return 0;
}

/* 1 when host matches one of the dynamic-address patterns: those of
 * file, or when there is none (or it cannot be read) the built-in copy
 * of control/dynamic-patterns (patterns.h, made from it by make). */
static int dynamic(const char *host, const char *file)
{
  static char text[PATTERNS_MAX + 1];
  char lower[256];
  size_t n = strlen(host);
  ssize_t got = -1;

  if (n >= sizeof lower) return 1;            /* no real host name is that long */
  memcpy(lower, host, n + 1);
  case_lowerb(lower, n);
  if (file) {
    got = openreadnclose(file, text, PATTERNS_MAX);
    if (got < 0) strerr_warnw("pattern file ", file, " cannot be read: ", errname(errno), ", using the built-in list");
  }
  if (got < 0) {
    file = "the built-in list";
    got = (ssize_t)sizeof builtin_patterns - 1;
    memcpy(text, builtin_patterns, sizeof builtin_patterns);
  }
  return matches(lower, text, (size_t)got, file);
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
static void tcprules(void)
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

/* The rule's times and the key's IPv4 prefix, from the environment. */
static unsigned int policy(nj_glpolicy *p)
{
  p->min = (int64_t)nj_env_ulong("GREYLIST_MIN", NJ_GL_DEF_MIN, 0, NJ_GL_MAX_SECS, 0);
  p->window = (int64_t)nj_env_ulong("GREYLIST_WINDOW", NJ_GL_DEF_WINDOW, 1, NJ_GL_MAX_SECS, 0);
  p->lifetime = (int64_t)nj_env_ulong("GREYLIST_LIFETIME", NJ_GL_DEF_LIFETIME, 1, NJ_GL_MAX_SECS, 0);
  nj_gl_policy_check(p);
  return (unsigned int)nj_env_ulong("GREYLIST_V4PREFIX", 32, NJ_GL_V4MIN, 32, 0);
}

/* The whitelist cdb, reopened for every connection. */
static void whitelist(const char *wl, const nj_ip *ip, const char *host)
{
  nj_log log;
  if (wl) {
    char match[160];
    int r = nj_wl_lookup(wl, ip, host, time(0), match, sizeof match, &g.wl_expired);
    if (r > 0) {
      start(&log, "whitelisted");
      nj_log_str(&log, "by", "cdb");
      nj_log_str(&log, "match", match);
      pass(&log);
    }
    if (r < 0)
      strerr_warnw("whitelist ", wl, errno == EPROTO ? " is corrupt" : " cannot be read: ",
                   errno == EPROTO ? "" : errname(errno), ", treated as empty");
  }
}

/* Selective mode: only suspicious clients are greylisted. */
static void selective(const char *host)
{
  const char *s;
  nj_log log;
  s = getenv("GREYLIST_ONLY");
  if (s && *s) {
    if (!strcmp(s, "suspicious")) {
      if (host && *host && !dynamic(host, env_or("GREYLIST_PATTERNS", opt.p))) {
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

int main(int argc, char const *const *argv)
{
  const char *host, *dir;
  char ipstr[NJ_IPFMT], path[400];
  unsigned int v4prefix;
  nj_ip ip;
  int have_ip, e;
  nj_glpolicy pol;
  nj_glkey k;
  nj_glfiles files;
  nj_gldecision d;
  nj_log log;

  nj_version_opt(argc, argv);
  options(argc, argv);
  have_ip = nj_ip_client(&ip, &g.raw);
  if (have_ip) {
    nj_ip_fmt(ipstr, &ip);
    g.ipname = ipstr;
  }
  tcprules();
  v4prefix = policy(&pol);
  host = getenv("TCPREMOTEHOST");
  whitelist(env_or("GREYLIST_WHITELIST", opt.w), have_ip ? &ip : 0, host);
  selective(host);
  if (!have_ip) {
    start(&log, "bad-ip");
    nj_log_str(&log, "raw", g.raw ? (*g.raw ? g.raw : "(empty)") : "(unset)");
    deny(&log, "451 4.7.1 greylisted, please try again later", g.at_data);
  }
  dir = env_or("GREYLISTDIR", opt.d);
  if (!dir) state_fail("", "no-dir", "(none)", ENOENT);

  /* The key, its record, the verdict, the record it leaves; then act. */
  nj_gl_key(&k, &ip, v4prefix);
  nj_glf_init(&files, dir);
  e = nj_gl_decide(&files.s, &k, &pol, &d);
  if (e) files.s.where(&files.s, &k, path, sizeof path);
  nj_glf_close(&files);
  if (e) state_fail(k.name, d.op, path, e);
  act(&k, &d, &pol);
}
