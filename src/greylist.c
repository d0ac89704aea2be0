/* greylist.c: what ipgreylist, ipgreylist-expire and ipgreylist-mkwl
 * share: the state key of a client, the record's text, the greylist rule
 * (nj_gl_verdict) and the decision that drives a store with it, and the
 * whitelist cdb's keys, values and lookup (tinycdb). The file store is in
 * greylist-files.c. */
#include <string.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <skalibs/strerr.h>
#include <cdb.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "greylist.h"

/* ------------------------------------------------------------ state keys */

static unsigned int fnv1a(const unsigned char *s, size_t n)
{
  unsigned int h = 2166136261u;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= s[i];
    h *= 16777619u;
  }
  return h;
}

static const char hexdigit[16] = "0123456789abcdef";

void nj_gl_key(nj_glkey *k, const nj_ip *ip, unsigned int v4prefix)
{
  nj_ip m = *ip;
  unsigned int len = ip->v6 ? 64 : v4prefix, i;
  unsigned int total = ip->v6 ? 16 : 4;
  size_t n;
  unsigned char hin[18];
  unsigned int h;

  if (!ip->v6 && (len < NJ_GL_V4MIN || len > 32)) len = 32;
  for (i = 0; i < total; i++) {
    unsigned int bit = i * 8;
    if (bit >= len) m.a[i] = 0;
    else if (len - bit < 8) m.a[i] &= (unsigned char)(0xff << (8 - (len - bit)));
  }
  n = nj_ip_fmt(k->name, &m);
  if (len != (ip->v6 ? 128u : 32u)) {
    k->name[n++] = '-';
    n += uint_fmt(k->name + n, len);
    k->name[n] = 0;
  }
  k->len = len;
  k->ip = m;

  hin[0] = m.v6;
  hin[1] = (unsigned char)len;
  memcpy(hin + 2, m.a, 16);
  h = fnv1a(hin, sizeof hin);
  k->dir1[0] = hexdigit[(h >> 4) & 15];
  k->dir1[1] = hexdigit[h & 15];
  k->dir1[2] = 0;
  k->dir2[0] = hexdigit[(h >> 12) & 15];
  k->dir2[1] = hexdigit[(h >> 8) & 15];
  k->dir2[2] = 0;
}

int nj_gl_name_parse(const char *name, nj_glkey *k)
{
  char addr[NJ_GL_NAMEMAX];
  const char *dash = strchr(name, '-');
  size_t n = dash ? (size_t)(dash - name) : strlen(name);
  unsigned long len = 0;
  nj_ip ip;
  if (!n || n >= sizeof addr) return 0;
  memcpy(addr, name, n);
  addr[n] = 0;
  if (!nj_ip_parse(addr, &ip)) return 0;
  if (dash && !nj_ulong_parse(dash + 1, 0, 128, &len)) return 0;
  if (!ip.v6 && !dash) len = 32;
  if (!ip.v6 && (len < NJ_GL_V4MIN || len > 32)) return 0;
  if (ip.v6 && len != 64) return 0;
  nj_gl_key(k, &ip, (unsigned int)len);
  return !strcmp(k->name, name);
}

/* ----------------------------------------------------------- record text */

int nj_gl_parse(const char *buf, size_t n, unsigned long *count)
{
  static const char pending[] = "pending ";
  static const char regular[] = "regular ";
  char num[ULONG_FMT + 1];
  size_t p;
  int state;
  if (n < 10 || n > NJ_GL_FILEMAX || buf[n - 1] != '\n') return 0;
  if (!memcmp(buf, pending, 8)) state = NJ_GL_PENDING;
  else if (!memcmp(buf, regular, 8)) state = NJ_GL_REGULAR;
  else return 0;
  p = n - 1 - 8;
  if (!p || p > ULONG_FMT - 1) return 0;
  memcpy(num, buf + 8, p);
  num[p] = 0;
  if (!nj_ulong_parse(num, 0, NJ_GL_COUNTMAX, count)) return 0;
  if (num[0] == '0' && num[1]) return 0;   /* one spelling per value */
  return state;
}

size_t nj_gl_fmt(char *buf, int state, unsigned long count)
{
  size_t n;
  if (count > NJ_GL_COUNTMAX) count = NJ_GL_COUNTMAX;
  memcpy(buf, state == NJ_GL_REGULAR ? "regular " : "pending ", 8);
  n = 8 + ulong_fmt(buf + 8, count);
  buf[n++] = '\n';
  return n;
}

/* --------------------------------------------------------------- verdict */

void nj_gl_policy_check(nj_glpolicy *p)
{
  char a[ULONG_FMT], b[ULONG_FMT];
  if (p->min <= p->window) return;
  a[ulong_fmt(a, (unsigned long)p->min)] = 0;
  b[ulong_fmt(b, (unsigned long)p->window)] = 0;
  strerr_warnw("GREYLIST_MIN=", a, " above GREYLIST_WINDOW=", b, ", using both defaults");
  p->min = NJ_GL_DEF_MIN;
  p->window = NJ_GL_DEF_WINDOW;
}

static nj_glverdict verdict(int is, int reason)
{
  nj_glverdict v;
  v.is = is;
  v.reason = reason;
  return v;
}

/* spamd's rule in najimi's words. A stranger's first attempt makes a
 * record; the delay runs from it, so a retry must wait min seconds and
 * come within the window; a regular stays one while it keeps coming. */
nj_glverdict nj_gl_verdict(int found, int64_t age, const nj_glpolicy *p)
{
  switch (found) {
    case NJ_GL_NONE: return verdict(NJ_GLV_NEW, 0);
    case NJ_GL_PENDING: case NJ_GL_REGULAR: break;
    case NJ_GL_SYMLINK: return verdict(NJ_GLV_RESET, NJ_GLR_SYMLINK);
    case NJ_GL_NOTFILE: return verdict(NJ_GLV_RESET, NJ_GLR_NOTFILE);
    default: return verdict(NJ_GLV_RESET, NJ_GLR_CORRUPT);
  }
  /* A record dated ahead of the clock cannot be aged: the clock went back
   * or the record was planted. (A tolerated clock step would go here.) */
  if (age < 0) return verdict(NJ_GLV_RESET, NJ_GLR_FUTURE);
  if (found == NJ_GL_REGULAR)
    return age <= p->lifetime ? verdict(NJ_GLV_REGULAR, 0) : verdict(NJ_GLV_RESET, NJ_GLR_LAPSED);
  if (age < p->min) return verdict(NJ_GLV_TOO_SOON, 0);
  if (age <= p->window) return verdict(NJ_GLV_PROMOTE, 0);
  return verdict(NJ_GLV_RESET, NJ_GLR_STALE);
}

const char *nj_gl_reason(int reason)
{
  switch (reason) {
    case NJ_GLR_CORRUPT: return "corrupt";
    case NJ_GLR_FUTURE: return "future";
    case NJ_GLR_LAPSED: return "lapsed";
    case NJ_GLR_STALE: return "stale";
    case NJ_GLR_SYMLINK: return "symlink";
    case NJ_GLR_NOTFILE: return "not-a-file";
    default: return "none";
  }
}

int nj_gl_next(const nj_glrec *cur, int v, const struct timespec *now, nj_glrec *next)
{
  *next = *cur;
  next->when = *now;
  switch (v) {
    case NJ_GLV_TOO_SOON:     /* counted; the delay still runs from the first attempt */
      next->found = NJ_GL_PENDING;
      if (next->count < NJ_GL_COUNTMAX) next->count++;
      next->when = cur->when;
      return NJ_GLW_KEEP;
    case NJ_GLV_PROMOTE:      /* the count stays: how many retries it took */
      next->found = NJ_GL_REGULAR;
      return NJ_GLW_REPLACE;
    case NJ_GLV_REGULAR:      /* every pass refreshes it (a refresh interval would go here) */
      return NJ_GLW_TOUCH;
    default:                  /* NEW, RESET: a stranger, first seen now */
      next->found = NJ_GL_PENDING;
      next->count = 0;
      return v == NJ_GLV_NEW ? NJ_GLW_CREATE : NJ_GLW_REPLACE;
  }
}

int nj_gl_decide(nj_glstore *s, const nj_glkey *k, const nj_glpolicy *p, nj_gldecision *d)
{
  int attempt;
  for (attempt = 0; attempt < 3; attempt++) {
    nj_glrec cur, next;
    struct timespec now;
    int how, e;
    memset(d, 0, sizeof *d);
    e = s->read(s, k, &cur);
    if (e) { d->op = s->op; return e; }
    /* The clock is read after the record, so that a record just made by a
     * simultaneous session is never dated ahead of it. */
    clock_gettime(CLOCK_REALTIME, &now);
    if (cur.found != NJ_GL_NONE) d->age = (int64_t)now.tv_sec - (int64_t)cur.when.tv_sec;
    d->v = nj_gl_verdict(cur.found, d->age, p);
    how = nj_gl_next(&cur, d->v.is, &now, &next);
    d->count = next.count;
    e = s->write(s, k, how, &next);
    if (e == EEXIST && how == NJ_GLW_CREATE) continue;   /* another session was first: look again */
    /* A stranger refused without a record would be new again at every
     * retry, a 451 that never clears: that is a state failure. A count,
     * a promotion or a refresh that fails changes nothing now. */
    if (e && (d->v.is == NJ_GLV_NEW || d->v.is == NJ_GLV_RESET)) {
      d->op = s->op ? s->op : d->v.is == NJ_GLV_NEW ? "create" : "reset";
      return e;
    }
    d->werr = e;
    return 0;
  }
  d->op = "create";
  return EEXIST;
}

/* ------------------------------------------------------------- whitelist */

size_t nj_wl_netkey(char *buf, const nj_ip *ip, unsigned int len)
{
  nj_ip m = *ip;
  unsigned int total = ip->v6 ? 16 : 4, i;
  size_t n;
  for (i = 0; i < total; i++) {
    unsigned int bit = i * 8;
    if (bit >= len) m.a[i] = 0;
    else if (len - bit < 8) m.a[i] &= (unsigned char)(0xff << (8 - (len - bit)));
  }
  n = nj_ip_fmt(buf, &m);
  buf[n++] = '/';
  n += uint_fmt(buf + n, len);
  buf[n] = 0;
  return n;
}

size_t nj_wl_hostkey(char *buf, size_t max, const char *host, int suffix)
{
  size_t n = strlen(host), i, w = 0;
  if (n && host[n - 1] == '.') n--;          /* a trailing root dot */
  if (suffix) {
    if (!n || host[0] != '.') return 0;
    host++;
    n--;
  }
  if (!n || n > 253 || n + 2 > max) return 0;
  buf[w++] = suffix ? '.' : '=';
  for (i = 0; i < n; i++) {
    char c = host[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.')) return 0;
    if (c == '.' && (i == 0 || host[i - 1] == '.')) return 0;
    buf[w++] = c;
  }
  if (buf[w - 1] == '.') return 0;
  buf[w] = 0;
  return w;
}

int nj_wl_date_ok(const char *s, size_t n)
{
  int64_t day;
  return nj_date_scan(s, n, &day);
}

void nj_wl_today(char *buf, time_t now)
{
  /* out of the calendar's range: a day before every date, as before */
  if (now < 0 || (int64_t)now > NJ_SECS_MAX) now = 0;
  nj_date_fmt(buf, nj_day((int64_t)now));
}

int nj_wl_value_live(const char *v, size_t n, const char *today)
{
  int64_t day, t;
  if (!n) return 1;
  if (!nj_date_scan(v, n, &day)) return -1;
  if (!nj_date_scan(today, NJ_DATEFMT - 1, &t)) return -1;
  return t <= day;
}

/* Looks up every value stored under key. 1: a live entry, 0: none (or
 * only expired ones), -1: a corrupt record (errno EPROTO). */
static int wl_find(struct cdb *c, const char *key, size_t klen,
                   const char *today, int *expired)
{
  struct cdb_find f;
  int r;
  if (cdb_findinit(&f, c, key, (unsigned)klen) < 0) return -1;
  while ((r = cdb_findnext(&f)) > 0) {
    unsigned vlen = cdb_datalen(c);
    const char *v;
    int live;
    if (vlen > 64) { errno = EPROTO; return -1; }
    v = cdb_getdata(c);
    if (!v) { errno = EPROTO; return -1; }
    live = nj_wl_value_live(v, vlen, today);
    if (live < 0) { errno = EPROTO; return -1; }
    if (live) return 1;
    *expired = 1;
  }
  if (r < 0) { errno = EPROTO; return -1; }
  return 0;
}

int nj_wl_lookup(const char *file, const nj_ip *ip, const char *host,
                 time_t now, char *match, size_t matchmax, int *expired)
{
  struct cdb c;
  char today[11];
  char key[300];
  int fd, r = 0, e;
  *expired = 0;
  match[0] = 0;
  fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  if (cdb_init(&c, fd) < 0) {
    e = errno ? errno : EPROTO;
    if (e == EINVAL || e == ENOTSUP || e == ENODEV) e = EPROTO;
    close(fd);
    errno = e;
    return -1;
  }
  nj_wl_today(today, now);

  if (ip) {
    unsigned int len = ip->v6 ? 128 : 32;
    for (;;) {
      size_t n = nj_wl_netkey(key, ip, len);
      r = wl_find(&c, key, n, today, expired);
      if (r) break;
      if (!len) break;
      len--;
    }
  }
  if (!r && host && *host) {
    size_t n = nj_wl_hostkey(key, sizeof key, host, 0);
    if (n) {
      r = wl_find(&c, key, n, today, expired);
      /* then every suffix: "=a.b.example" is followed by ".b.example",
       * ".example" (the key's first byte turned into the '.' marker) */
      if (!r) {
        size_t i;
        for (i = 1; i < n && !r; i++) {
          if (key[i] != '.') continue;
          r = wl_find(&c, key + i, n - i, today, expired);
          if (r > 0) { memmove(key, key + i, n - i + 1); n -= i; }
        }
      }
    }
  }
  if (r > 0) {
    size_t n = strlen(key);
    if (key[0] == '=') memmove(key, key + 1, n--);
    if (n >= matchmax) n = matchmax - 1;
    memcpy(match, key, n);
    match[n] = 0;
  }
  e = errno;
  cdb_free(&c);
  close(fd);
  if (r < 0) errno = e;
  return r;
}
