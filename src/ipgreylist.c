/* ipgreylist: IP greylisting, the "o-najimi-san" way. A client address
 * seen for the first time is asked to come back later (451); one that
 * comes back after GREYLIST_MIN seconds, within GREYLIST_WINDOW, becomes a
 * regular and walks straight in for GREYLIST_LIFETIME. One small file per
 * key under DIR/xx/yy/, whose mtime is the reference time. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <regex.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <skalibs/bytestr.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include <skalibs/djbunix.h>
#include "najimi.h"
#include "greylist.h"
#include "patterns.h"   /* builtin_patterns, from control/dynamic-patterns */

#define USAGE "ipgreylist [ -D ] [ -c ] [ -t timeout ] [ -d dir ] [ -w whitelist.cdb ] [ -p patterns ] prog [ args... ]"

#define DEF_MIN 300UL
#define DEF_WINDOW 86400UL
#define DEF_LIFETIME (36UL * 86400UL)
#define MAX_SECS (3650UL * 86400UL)
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

static struct {
  const char *dir;
  nj_glkey k;
  char path[400];             /* DIR/xx/yy/name, for logs */
  char tmp[32];               /* .tmp.PID in the leaf directory */
} st;

/* A state failure: the decision cannot be made. Fail open (the next
 * program runs) unless -c, then 451 4.3.0. */
static void state_fail(const char *op, int e) __attribute__((noreturn));
static void state_fail(const char *op, int e)
{
  nj_log l;
  start(&l, "error");
  nj_log_str(&l, "key", st.k.name);
  nj_log_str(&l, "op", op);
  nj_log_str(&l, "path", st.path);
  nj_log_str(&l, "errno", errname(e));
  if (g.fail_closed)
    deny(&l, "451 4.3.0 temporary local problem, please try again later", g.at_data);
  nj_log_str(&l, "then", "pass");
  pass(&l);
}

static int subdir(int at, const char *name)
{
  int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) return fd;
  if (mkdirat(at, name, 0700) < 0 && errno != EEXIST) return -1;
  return openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Writes the state into a new private temporary file in dfd, with mtime
 * set to *mtime (0: now). 0 on success, else an errno value. */
static int write_tmp(int dfd, int state, unsigned long count,
                     const struct timespec *mtime)
{
  int fd = -1, tries, e;
  for (tries = 0; tries < 2; tries++) {
    fd = openat(dfd, st.tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) break;
    if (errno != EEXIST) return errno;
    unlinkat(dfd, st.tmp, 0);       /* left behind by a dead process of our pid */
  }
  if (fd < 0) return EEXIST;
  e = nj_gl_write(fd, state, count);
  if (e) goto fail;
  if (mtime) {
    struct timespec ts[2];
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_NOW;
    ts[1] = *mtime;
    if (futimens(fd, ts) < 0) { e = errno; goto fail; }
  }
  if (close(fd) < 0) { e = errno; fd = -1; goto fail; }
  return 0;
 fail:
  if (fd >= 0) close(fd);
  unlinkat(dfd, st.tmp, 0);
  return e;
}

/* Atomically replaces the key's file. 0 or an errno value. */
static int replace(int dfd, int state, unsigned long count, const struct timespec *mtime)
{
  int e = write_tmp(dfd, state, count, mtime);
  if (e) return e;
  if (renameat(dfd, st.tmp, dfd, st.k.name) < 0) {
    e = errno;
    unlinkat(dfd, st.tmp, 0);
    return e;
  }
  return 0;
}

/* Creates the key's file only if there is none: link(2) never replaces
 * an entry, so of many simultaneous first connections exactly one wins,
 * and no one ever sees a half-written file. 0, or an errno value
 * (EEXIST: someone else was first). */
static int create(int dfd)
{
  int e = write_tmp(dfd, NJ_GL_PENDING, 0, 0);
  if (e) return e;
  e = linkat(dfd, st.tmp, dfd, st.k.name, 0) < 0 ? errno : 0;
  unlinkat(dfd, st.tmp, 0);
  return e;
}

static void greylist_new(const char *reset, unsigned long was) __attribute__((noreturn));
static void greylist_new(const char *reset, unsigned long was)
{
  nj_log l;
  start(&l, "new");
  nj_log_str(&l, "key", st.k.name);
  nj_log_ulong(&l, "age", 0);
  if (reset) {
    nj_log_str(&l, "reset", reset);
    if (was != ~0UL) nj_log_ulong(&l, "was", was);
  }
  deny(&l, "451 4.7.1 greylisted: this address is new here, please try again later", g.at_data);
}

static void regular(int fd, unsigned long age) __attribute__((noreturn));
static void regular(int fd, unsigned long age)
{
  nj_log l;
  int e = futimens(fd, 0) < 0 ? errno : 0;    /* the pass refreshes it */
  start(&l, "regular");
  nj_log_str(&l, "key", st.k.name);
  nj_log_ulong(&l, "age", age);
  if (e) nj_log_str(&l, "error", errname(e));
  pass(&l);
}

/* The common case in one path lookup: a regular's file opened with
 * openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH), so no component under
 * DIR can be a symlink. Anything else (no file, another state, a kernel
 * without openat2) returns, and the step-by-step path decides. */
static void fast_regular(int dfd, unsigned long lifetime)
{
  char rel[NJ_GL_NAMEMAX + 8];
  struct open_how how;
  struct stat s;
  struct timespec now;
  unsigned long count;
  int fd;
  memcpy(rel, st.k.dir1, 2);
  rel[2] = '/';
  memcpy(rel + 3, st.k.dir2, 2);
  rel[5] = '/';
  memcpy(rel + 6, st.k.name, strlen(st.k.name) + 1);
  memset(&how, 0, sizeof how);
  how.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof how);
  if (fd < 0) return;
  if (fstat(fd, &s) == 0 && S_ISREG(s.st_mode)) {
    int state = nj_gl_read(fd, &s, &count);
    clock_gettime(CLOCK_REALTIME, &now);
    if (state == NJ_GL_REGULAR &&
        s.st_mtime <= now.tv_sec && (unsigned long)(now.tv_sec - s.st_mtime) <= lifetime)
      regular(fd, (unsigned long)(now.tv_sec - s.st_mtime));
  }
  close(fd);
}

static void decide(const nj_ip *ip, unsigned int v4prefix, unsigned long min,
                   unsigned long window, unsigned long lifetime)
{
  int dfd, d1, d2, attempt;
  size_t n;

  nj_gl_key(&st.k, ip, v4prefix);
  n = strlen(st.dir);
  if (n > 300) n = 300;
  memcpy(st.path, st.dir, n);
  st.path[n++] = '/';
  memcpy(st.path + n, st.k.dir1, 2); n += 2;
  st.path[n++] = '/';
  memcpy(st.path + n, st.k.dir2, 2); n += 2;
  st.path[n++] = '/';
  memcpy(st.path + n, st.k.name, strlen(st.k.name) + 1);

  dfd = open(st.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) state_fail("open-dir", errno);
  fast_regular(dfd, lifetime);

  memcpy(st.tmp, ".tmp.", 5);
  st.tmp[5 + pid_fmt(st.tmp + 5, getpid())] = 0;
  d1 = subdir(dfd, st.k.dir1);
  if (d1 < 0) state_fail("subdir", errno);
  d2 = subdir(d1, st.k.dir2);
  if (d2 < 0) state_fail("subdir", errno);
  close(d1);
  close(dfd);

  for (attempt = 0; attempt < 3; attempt++) {
    const char *reset = 0;
    unsigned long count = 0, age, was = ~0UL;
    struct stat s;
    struct timespec now;
    int state, e;
    int fd = openat(d2, st.k.name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0) {
      if (errno == ENOENT) {
        e = create(d2);
        if (e == EEXIST) continue;          /* lost the race: look again */
        if (e) state_fail("create", e);
        greylist_new(0, 0);
      }
      if (errno != ELOOP) state_fail("open", errno);
      reset = "symlink";
    } else {
      if (fstat(fd, &s) < 0) state_fail("stat", errno);
      clock_gettime(CLOCK_REALTIME, &now);
      if (!S_ISREG(s.st_mode)) reset = "not-a-file";
      else {
        state = nj_gl_read(fd, &s, &count);
        if (state < 0) state_fail("read", errno);
        if (!state) reset = "corrupt";
        else if (s.st_mtime > now.tv_sec) reset = "future";
        else {
          age = (unsigned long)(now.tv_sec - s.st_mtime);
          if (state == NJ_GL_REGULAR) {
            if (age <= lifetime) regular(fd, age);
            reset = "lapsed";
            was = age;
          } else if (age < min) {
            nj_log l;
            if (count < NJ_GL_COUNTMAX) count++;
            e = replace(d2, NJ_GL_PENDING, count, &s.st_mtim);
            start(&l, "too-soon");
            nj_log_str(&l, "key", st.k.name);
            nj_log_ulong(&l, "age", age);
            nj_log_ulong(&l, "count", count);
            nj_log_ulong(&l, "min", min);
            if (e) nj_log_str(&l, "error", errname(e));
            deny(&l, "451 4.7.1 greylisted: retried too soon, please try again later", g.at_data);
          } else if (age <= window) {
            nj_log l;
            e = replace(d2, NJ_GL_REGULAR, count, 0);
            start(&l, "pass");
            nj_log_str(&l, "key", st.k.name);
            nj_log_ulong(&l, "age", age);
            nj_log_ulong(&l, "count", count);
            if (e) nj_log_str(&l, "error", errname(e));
            pass(&l);
          } else {
            reset = "stale";
            was = age;
          }
        }
      }
      close(fd);
    }
    e = replace(d2, NJ_GL_PENDING, 0, 0);
    if (e) state_fail("reset", e);
    greylist_new(reset, was);
  }
  state_fail("create", EEXIST);
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

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  const char *opt_d = 0, *opt_w = 0, *opt_p = 0, *s, *wl, *host;
  unsigned long min, window, lifetime, v4prefix;
  char ipstr[NJ_IPFMT];
  char reply[TEXTMAX + 16];
  nj_ip ip;
  int have_ip;
  nj_log log;

  g.timeout = 60;
  for (;;) {
    int opt = subgetopt_r(argc, argv, "Dct:d:w:p:", &l);
    if (opt == -1) break;
    switch (opt) {
      case 'D': g.at_data = 1; break;
      case 'c': g.fail_closed = 1; break;
      case 't': g.timeout = (unsigned int)nj_opt_ulong('t', l.arg, 1, 3600); break;
      case 'd': opt_d = l.arg; break;
      case 'w': opt_w = l.arg; break;
      case 'p': opt_p = l.arg; break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  argc -= l.ind;
  argv += l.ind;
  if (!argc) strerr_dieusage(100, USAGE);
  g.next = argv;

  have_ip = nj_ip_client(&ip, &g.raw);
  if (have_ip) {
    nj_ip_fmt(ipstr, &ip);
    g.ipname = ipstr;
  }

  /* Trusted clients and tcprules' verdicts come first. */
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

  min = nj_env_ulong("GREYLIST_MIN", DEF_MIN, 0, MAX_SECS, 0);
  window = nj_env_ulong("GREYLIST_WINDOW", DEF_WINDOW, 1, MAX_SECS, 0);
  lifetime = nj_env_ulong("GREYLIST_LIFETIME", DEF_LIFETIME, 1, MAX_SECS, 0);
  v4prefix = nj_env_ulong("GREYLIST_V4PREFIX", 32, NJ_GL_V4MIN, 32, 0);
  if (min > window) {
    char a[ULONG_FMT], b[ULONG_FMT];
    a[ulong_fmt(a, min)] = 0;
    b[ulong_fmt(b, window)] = 0;
    strerr_warnw("GREYLIST_MIN=", a, " above GREYLIST_WINDOW=", b, ", using both defaults");
    min = DEF_MIN;
    window = DEF_WINDOW;
  }
  host = getenv("TCPREMOTEHOST");

  /* The whitelist cdb, reopened for every connection. */
  wl = env_or("GREYLIST_WHITELIST", opt_w);
  if (wl) {
    char match[160];
    int r = nj_wl_lookup(wl, have_ip ? &ip : 0, host, time(0), match, sizeof match, &g.wl_expired);
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

  /* Selective mode: only suspicious clients are greylisted. */
  s = getenv("GREYLIST_ONLY");
  if (s && *s) {
    if (!strcmp(s, "suspicious")) {
      if (host && *host && !dynamic(host, env_or("GREYLIST_PATTERNS", opt_p))) {
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

  if (!have_ip) {
    start(&log, "bad-ip");
    nj_log_str(&log, "raw", g.raw ? (*g.raw ? g.raw : "(empty)") : "(unset)");
    deny(&log, "451 4.7.1 greylisted, please try again later", g.at_data);
  }

  st.dir = env_or("GREYLISTDIR", opt_d);
  if (!st.dir) {
    st.dir = "";
    memcpy(st.path, "(none)", 7);
    st.k.name[0] = 0;
    state_fail("no-dir", ENOENT);
  }
  decide(&ip, (unsigned int)v4prefix, min, window, lifetime);
  return 111;   /* not reached */
}
