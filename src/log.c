/* SPDX-License-Identifier: ISC */
/* log.c: the log line, both ends.
 *
 * Writing: one line per decision, "PROG: ACTION ip=... pid=... key=value",
 * printable ASCII only, bounded, written with a single write().
 *
 * Reading: nj_log_scan parses one line as multilog stores it (an optional
 * @tai64n stamp, then the line), nj_log_next and nj_log_get give its
 * pairs, nj_log_tcpserver reads the lines tcpserver writes into the same
 * log. What the writer writes, the reader reads back (test_log). */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <skalibs/types.h>
#include <skalibs/strerr.h>
#include <skalibs/allreadwrite.h>
#include <skalibs/djbunix.h>
#include "najimi.h"

/* --------------------------------------------------------------- writing */

size_t nj_sanitise(char *dst, size_t max, const char *src, size_t n)
{
  size_t i, w = 0;
  int cut = n > max;
  if (cut) n = max > 3 ? max - 3 : 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)src[i];
    dst[w++] = (c > 0x20 && c < 0x7f && c != '=') ? (char)c : '?';
  }
  if (cut) while (w < max) dst[w++] = '.';
  dst[w] = 0;
  return w;
}

static void put(nj_log *l, const char *s, size_t n)
{
  size_t room = NJ_LOGMAX - 1 - l->len;   /* keep one byte for '\n' */
  if (n > room) n = room;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

/* " key=value", whole: a line never ends in half a pair. A text value
 * that does not fit is cut to fit and ends in "..."; a number that does
 * not fit is left out; after either, the line is full. */
static void pair(nj_log *l, const char *key, const char *val, size_t n, int text)
{
  size_t klen = strlen(key), room = NJ_LOGMAX - 1 - l->len;
  if (l->full) return;
  if (2 + klen + n > room) {
    l->full = 1;
    if (!text || 2 + klen + 3 > room) return;
    n = room - 2 - klen - 3;
  }
  put(l, " ", 1);
  put(l, key, klen);
  put(l, "=", 1);
  put(l, val, n);
  if (l->full) put(l, "...", 3);
}

/* The pid logged, when not getpid()'s (-1). Initialised, so in .data,
 * whose few pages the C library's start-up has already touched: a
 * variable of its own in .bss would cost a page fault per process. */
static pid_t logpid = -1;

void nj_log_setpid(pid_t pid)
{
  logpid = pid;
}

void nj_log_start(nj_log *l, const char *action, const char *ip)
{
  char pid[PID_FMT], san[NJ_LOGVAL + 1];
  l->len = 0;
  l->full = 0;
  put(l, PROG, strlen(PROG));
  put(l, ": ", 2);
  put(l, action, strlen(action));
  if (ip) pair(l, NJ_K_IP, san, nj_sanitise(san, NJ_LOGVAL, ip, strlen(ip)), 1);
  else pair(l, NJ_K_IP, NJ_LOG_NOIP, sizeof NJ_LOG_NOIP - 1, 1);
  pair(l, NJ_K_PID, pid, pid_fmt(pid, logpid >= 0 ? logpid : getpid()), 0);
}

void nj_log_strn(nj_log *l, const char *key, const char *val, size_t n)
{
  char san[NJ_LOGVAL + 1];
  pair(l, key, san, nj_sanitise(san, NJ_LOGVAL, val, n), 1);
}

void nj_log_str(nj_log *l, const char *key, const char *val)
{
  nj_log_strn(l, key, val, strlen(val));
}

void nj_log_ulong(nj_log *l, const char *key, unsigned long n)
{
  char fmt[ULONG_FMT];
  pair(l, key, fmt, ulong_fmt(fmt, n), 0);
}

void nj_log_end(nj_log *l)
{
  l->buf[l->len++] = '\n';
  allwrite(2, l->buf, l->len);
  l->len = 0;
}

/* --------------------------------------------------------------- reading */

/* the bytes of names (programs, actions, keys): a-z 0-9 - _ . (1), and of
 * values: printable but space and '=' (2) */
static unsigned char cls[256];

static void cls_init(void)
{
  unsigned int c;
  for (c = 0x21; c < 0x7f; c++) cls[c] = 2;
  cls['='] = 0;
  for (c = 'a'; c <= 'z'; c++) cls[c] = 3;
  for (c = '0'; c <= '9'; c++) cls[c] = 3;
  cls['-'] = cls['_'] = cls['.'] = 3;
}
#define NAME 1
#define VALUE 2

static size_t name_span(const char *s, size_t n)
{
  size_t i = 0;
  while (i < n && cls[(unsigned char)s[i]] & NAME) i++;
  return i;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The offset of the first byte of s[0..n) outside 0x20..0x7e, or n.
 * Eight bytes at a time: with a byte loop retrydeny took 0.97 s of CPU
 * for bench/retrydeny.sh's 1 GB log, against 0.70 s. */
static size_t printable_span(const char *s, size_t n)
{
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    memcpy(&x, s + i, 8);
    if (((x - ONES * 0x20) & ~x & HIGHS) | (((x + ONES * (127 - 0x7e)) | x) & HIGHS)) break;
  }
  for (; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) break;
  return i;
}

static int bad(nj_logline *l, int why)
{
  static const char *const text[] =
    { "", "overlong", "binary", "crlf", "stamp", "fields", "truncated" };
  l->bad = why;
  l->why = text[why];
  return NJ_LOG_BAD;
}

static void getpair(const nj_logline *l, unsigned int i, nj_logpair *p)
{
  p->key = l->text + l->pair[i].k;
  p->klen = l->pair[i].kl;
  p->val = l->text + l->pair[i].v;
  p->vlen = l->pair[i].vl;
}

/* After "PROG: ": "ACTION ip=IP pid=PID key=value...", or other text.
 * One pass over the pairs: " key=value" each, key a name, value without
 * space or '='. */
static int scan_decision(nj_logline *l, const char *s, size_t n)
{
  size_t i = name_span(s, n), k, v;
  unsigned int np = 0;
  if (!i || n - i < 4 || memcmp(s + i, " " NJ_K_IP "=", 4)) return NJ_LOG_OTHER;
  l->action = s;
  l->actionlen = i;
  while (i < n) {
    k = ++i;                           /* after the space */
    while (i < n && cls[(unsigned char)s[i]] & NAME) i++;
    if (i == k || i == n || s[i] != '=' || np == NJ_LOG_PAIRS) return bad(l, NJ_LOGBAD_FIELDS);
    v = ++i;
    while (i < n && cls[(unsigned char)s[i]] & VALUE) i++;
    if (i < n && s[i] != ' ') return bad(l, NJ_LOGBAD_FIELDS);
    l->pair[np].k = (uint16_t)k;
    l->pair[np].kl = (uint16_t)(v - 1 - k);
    l->pair[np].v = (uint16_t)v;
    l->pair[np].vl = (uint16_t)(i - v);
    np++;
  }
  if (np < 2) return bad(l, NJ_LOGBAD_FIELDS);
  l->npairs = np;
  getpair(l, 0, &l->ip);               /* ip= first, */
  getpair(l, 1, &l->pid);
  if (!nj_log_iskey(&l->pid, NJ_K_PID)) return bad(l, NJ_LOGBAD_FIELDS);   /* then pid= */
  return NJ_LOG_DECISION;
}

static void scan_init(nj_logline *l)
{
  if (!cls['a']) cls_init();
  l->stamped = 0;
  l->secs = 0;
  l->prog = l->action = 0;
  l->proglen = l->actionlen = 0;
  l->npairs = 0;
  l->bad = 0;
  l->why = 0;
}

/* A line known to be printable and not overlong. */
static int scan_clean(nj_logline *l, const char *s, size_t n)
{
  size_t k;
  if (n && s[0] == '@') {
    if (n < NJ_TAI64N + 1 || s[NJ_TAI64N] != ' ' || !nj_tai64n_scan(s, n, &l->secs))
      return bad(l, NJ_LOGBAD_STAMP);
    l->stamped = 1;
    s += NJ_TAI64N + 1;
    n -= NJ_TAI64N + 1;
  }
  l->text = s;
  l->textlen = n;
  k = name_span(s, n);
  if (!k || n - k < 2 || s[k] != ':' || s[k + 1] != ' ') return NJ_LOG_OTHER;
  l->prog = s;
  l->proglen = k;
  l->text = s + k + 2;
  l->textlen = n - k - 2;
  return scan_decision(l, l->text, l->textlen);
}

static int unprintable(nj_logline *l, const char *s, size_t n, size_t k)
{
  return bad(l, k == n - 1 && s[k] == '\r' ? NJ_LOGBAD_CRLF : NJ_LOGBAD_BINARY);
}

int nj_log_scan(nj_logline *l, const char *s, size_t n)
{
  size_t k;
  scan_init(l);
  if (n > NJ_LOG_LINEMAX) return bad(l, NJ_LOGBAD_OVERLONG);
  k = printable_span(s, n);
  if (k < n) return unprintable(l, s, n, k);
  return scan_clean(l, s, n);
}

/* The lines of buf[*pos..have) that end in a newline, handed to f; *pos
 * is left at the first byte of the partial last one. One pass finds the
 * newline and checks the bytes (the first byte outside printable ASCII
 * is the newline of a good line): skalibs' buffer and getlnmax, which
 * copy each line out, then nj_log_scan, took 0.92 s of CPU for
 * bench/retrydeny.sh's 1 GB log, against 0.70 s. */
static void lines(char *buf, size_t have, size_t *pos, int *skipping,
                  nj_log_func *f, void *aux)
{
  nj_logline l;
  while (*pos < have) {
    char *s = buf + *pos, *nl;
    size_t left = have - *pos, k, n;
    int r;
    if (*skipping) {                  /* the rest of an overlong line */
      nl = memchr(s, '\n', left);
      if (!nl) return;
      *pos += (size_t)(nl - s) + 1;
      *skipping = 0;
      continue;
    }
    k = printable_span(s, left);
    if (k == left) return;
    nl = s[k] == '\n' ? s + k : memchr(s + k, '\n', left - k);
    if (!nl) return;
    n = (size_t)(nl - s);
    scan_init(&l);
    if (n > NJ_LOG_LINEMAX) r = bad(&l, NJ_LOGBAD_OVERLONG);
    else if (k < n) r = unprintable(&l, s, n, k);
    else r = scan_clean(&l, s, n);
    (*f)(&l, r, aux);
    *pos += n + 1;
  }
}

int nj_log_read(int fd, char *buf, size_t len, nj_log_func *f, void *aux)
{
  size_t have = 0;
  int skipping = 0;
  nj_logline l;
  for (;;) {
    ssize_t r = fd_read(fd, buf + have, len - have);
    size_t pos = 0;
    if (r < 0) return 0;
    if (!r) break;
    have += (size_t)r;
    lines(buf, have, &pos, &skipping, f, aux);
    have -= pos;
    memmove(buf, buf + pos, have);
    if (skipping) have = 0;
    else if (have > NJ_LOG_LINEMAX) {  /* an overlong line: reported now, read past */
      scan_init(&l);
      (*f)(&l, bad(&l, NJ_LOGBAD_OVERLONG), aux);
      skipping = 1;
      have = 0;
    }
  }
  if (have && !skipping) {
    scan_init(&l);
    (*f)(&l, bad(&l, NJ_LOGBAD_TRUNCATED), aux);
  }
  return 1;
}

int nj_log_next(const nj_logline *l, unsigned int *pos, nj_logpair *p)
{
  if (*pos >= l->npairs) return 0;
  getpair(l, (*pos)++, p);
  return 1;
}

int nj_log_get(const nj_logline *l, const char *key, nj_logpair *p)
{
  unsigned int i;
  size_t n = strlen(key);
  for (i = 0; i < l->npairs; i++)
    if (l->pair[i].kl == n && !memcmp(l->text + l->pair[i].k, key, n)) {
      getpair(l, i, p);
      return 1;
    }
  return 0;
}

/* ------------------------------------------------------ tcpserver's lines */

/* The next space-separated word of s[*i..n), advancing *i past it. */
static size_t word(const char *s, size_t n, size_t *i, const char **w)
{
  size_t b = *i, e = b;
  while (e < n && s[e] != ' ') e++;
  *w = s + b;
  *i = e < n ? e + 1 : e;
  return e - b;
}

/* "HOST:IP:INFO:PORT": tcpserver writes ? for ':' in HOST and INFO, so
 * the address is what lies between the first ':' and the last but one,
 * even for IPv6 (ucspi-tcp6). */
static int remote(const char *s, size_t n, nj_tcpline *t)
{
  const char *first = memchr(s, ':', n), *last = 0, *prev = 0;
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] == ':') { prev = last; last = s + i; }
  if (!first || !prev || prev <= first) return 0;
  t->host = s;
  t->hostlen = (size_t)(first - s);
  t->ip = first + 1;
  t->iplen = (size_t)(prev - first - 1);
  return 1;
}

int nj_log_tcpserver(const nj_logline *l, nj_tcpline *t)
{
  const char *s = l->text, *w, *x;
  size_t n = l->textlen, i = 0, wl, xl;
  memset(t, 0, sizeof *t);
  if (!l->prog || l->proglen != 9 || memcmp(l->prog, "tcpserver", 9)) return 0;
  wl = word(s, n, &i, &w);
  if (wl == 7 && !memcmp(w, "status:", 7)) {   /* status: BUSY/LIMIT */
    const char *slash;
    wl = word(s, n, &i, &w);
    slash = memchr(w, '/', wl);
    if (!slash || i < n ||
        !nj_ulong_parsen(w, (size_t)(slash - w), 0, ~0UL, &t->busy) ||
        !nj_ulong_parsen(slash + 1, wl - (size_t)(slash + 1 - w), 0, ~0UL, &t->limit)) return 0;
    return t->what = NJ_TCP_STATUS;
  }
  xl = word(s, n, &i, &x);                     /* the pid */
  if (!nj_ulong_parsen(x, xl, 1, ~0UL, &t->pid)) return 0;
  if (wl == 3 && !memcmp(w, "pid", 3)) {       /* pid PID from IP */
    if (word(s, n, &i, &x) != 4 || memcmp(x, "from", 4)) return 0;
    t->iplen = word(s, n, &i, &t->ip);
    return i == n && t->iplen ? (t->what = NJ_TCP_PID) : 0;
  }
  if ((wl == 2 && !memcmp(w, "ok", 2)) || (wl == 4 && !memcmp(w, "deny", 4))) {
    word(s, n, &i, &x);                        /* LOCALHOST:LOCALIP:LOCALPORT */
    xl = word(s, n, &i, &x);
    if (i < n || !remote(x, xl, t)) return 0;
    return t->what = wl == 2 ? NJ_TCP_OK : NJ_TCP_DENY;
  }
  if (wl == 3 && !memcmp(w, "end", 3)) {       /* end PID status WSTAT */
    if (word(s, n, &i, &x) != 6 || memcmp(x, "status", 6)) return 0;
    xl = word(s, n, &i, &x);
    if (i < n || !nj_ulong_parsen(x, xl, 0, ~0UL, &t->wstat)) return 0;
    return t->what = NJ_TCP_END;
  }
  return 0;
}

/* One log file through nj_log_read; dies 111 naming it on a read error. */
static void readone(int fd, const char *name, char *buf, size_t len, nj_log_func *f, void *aux)
{
  if (!nj_log_read(fd, buf, len, f, aux)) strerr_diefu2sys(111, "read ", name);
}

void nj_log_readfiles(int argc, char const *const *argv, char *buf, size_t len,
                      nj_log_func *f, void *aux)
{
  int i;
  if (!argc) readone(0, "standard input", buf, len, f, aux);
  for (i = 0; i < argc; i++) {
    int fd;
    if (!strcmp(argv[i], "-")) { readone(0, "standard input", buf, len, f, aux); continue; }
    fd = openc_read(argv[i]);
    /* a file that vanished between the shell's glob and here was
     * rotated away by multilog: its lines are in the next run's files */
    if (fd < 0) {
      if (errno == ENOENT) { strerr_warnwu2sys("open ", argv[i]); continue; }
      strerr_diefu2sys(111, "open ", argv[i]);
    }
    readone(fd, argv[i], buf, len, f, aux);
    fd_close(fd);
  }
}
