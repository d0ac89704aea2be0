/* SPDX-License-Identifier: ISC */
/* greylist.c: what ipgreylist, ipgreylist-expire and ipgreylist-mkwl
 * share: the state key of a client, the record's text, the greylist rule
 * (nj_gl_verdict) and the decision that drives a store with it, and the
 * whitelist cdb's keys, values and lookup (tinycdb). The file store is in
 * greylist-files.c. */
#include <string.h>
#include <stddef.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <skalibs/strerr.h>
#include <cdb.h>
#include <skalibs/types.h>
#include <skalibs/fmtscan.h>
#include <skalibs/sha256.h>
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

static void mask(nj_ip *m, unsigned int len)
{
  unsigned int total = m->v6 ? 16 : 4, i;
  for (i = 0; i < total; i++) {
    unsigned int bit = i * 8;
    if (bit >= len) m->a[i] = 0;
    else if (len - bit < 8) m->a[i] &= (unsigned char)(0xff << (8 - (len - bit)));
  }
}

void nj_gl_key(nj_glkey *k, const nj_ip *ip, unsigned int v4prefix, unsigned int v6prefix)
{
  nj_ip m = *ip;
  unsigned int full = ip->v6 ? 128 : 32;
  unsigned int len = ip->v6 ? v6prefix : v4prefix;
  size_t n;
  unsigned char hin[18];
  unsigned int h;

  if (ip->v6 && (len < NJ_GL_V4MIN || len > 128)) len = NJ_GL_DEF_V6PREFIX;
  if (!ip->v6 && (len < NJ_GL_V4MIN || len > 32)) len = 32;
  mask(&m, len);
  n = nj_ip_fmt(k->name, &m);
  k->kind = len == full ? NJ_GLK_IP : NJ_GLK_NET;
  /* the text: "ip:ADDR" or "net:ADDR/LEN" */
  memcpy(k->text, len == full ? "ip:" : "net:", len == full ? 3 : 4);
  k->textlen = len == full ? 3 : 4;
  memcpy(k->text + k->textlen, k->name, n);
  k->textlen += n;
  if (len != full) {
    k->name[n++] = '-';
    n += uint_fmt(k->name + n, len);
    k->text[k->textlen++] = '/';
    k->textlen += uint_fmt(k->text + k->textlen, len);
  }
  k->name[n] = 0;
  k->text[k->textlen] = 0;
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

/* The hashed kinds, by the first word of their text. */
static const struct { const char *word; int kind; } hashed[] = {
  { "name", NJ_GLK_NAME }, { "trip", NJ_GLK_TRIP }, { "pair", NJ_GLK_PAIR },
};

static int hashed_kind(const char *text, size_t n)
{
  size_t i;
  for (i = 0; i < sizeof hashed / sizeof hashed[0]; i++) {
    size_t w = strlen(hashed[i].word);
    if (n > w + 1 && !memcmp(text, hashed[i].word, w) && text[w] == ':') return hashed[i].kind;
  }
  return 0;
}

int nj_gl_hashkey(nj_glkey *k, const char *text, size_t n)
{
  SHA256Schedule ctx = SHA256_INIT();
  char digest[32];
  size_t i;
  int kind = hashed_kind(text, n);
  if (!kind || n > NJ_GL_TEXTMAX) return 0;
  for (i = 0; i < n; i++)
    if ((unsigned char)text[i] < 0x21 || (unsigned char)text[i] > 0x7e) return 0;
  sha256_update(&ctx, text, n);
  sha256_final(&ctx, digest);
  memset(k, 0, offsetof(nj_glkey, text));
  k->kind = kind;
  k->name[ucharn_fmt(k->name, digest, sizeof digest)] = 0;
  memcpy(k->dir1, k->name, 2);
  memcpy(k->dir2, k->name + 2, 2);
  memcpy(k->text, text, n);
  k->text[n] = 0;
  k->textlen = n;
  return 1;
}

const char *nj_gl_keypart(const nj_glkey *k)
{
  const char *c = memchr(k->text, ':', k->textlen);
  return c ? c + 1 : k->text;
}

const char *nj_gl_kindname(int kind)
{
  switch (kind) {
    case NJ_GLK_IP: return "ip";
    case NJ_GLK_NET: return "net";
    case NJ_GLK_NAME: return "name";
    case NJ_GLK_TRIP: return "trip";
    case NJ_GLK_PAIR: return "pair";
    default: return "none";
  }
}

const char *nj_gl_keylog(const nj_glkey *k, char *buf)
{
  if (k->kind == NJ_GLK_IP || k->kind == NJ_GLK_NET) return k->name;
  memcpy(buf, k->name, 8);
  buf[8] = 0;
  return buf;
}

static int is_hexname(const char *name)
{
  size_t i;
  for (i = 0; i < 64; i++)
    if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return 0;
  return !name[64];
}

static int ip_name_parse(const char *name, nj_glkey *k)
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
  if (dash && !nj_ulong_parse(dash + 1, NJ_GL_V4MIN, ip.v6 ? 127 : 31, &len)) return 0;
  if (!dash) len = ip.v6 ? 128 : 32;
  nj_gl_key(k, &ip, (unsigned int)len, (unsigned int)len);
  return !strcmp(k->name, name);
}

int nj_gl_name_parse(const char *name, const char *d1, const char *d2, nj_glkey *k)
{
  if (is_hexname(name)) {
    memset(k, 0, sizeof *k);
    k->kind = 0;                       /* a hashed key, its kind in its record */
    memcpy(k->name, name, 65);
    memcpy(k->dir1, name, 2);
    memcpy(k->dir2, name + 2, 2);
  } else if (!ip_name_parse(name, k)) return 0;
  if (d1 && strcmp(k->dir1, d1)) return 0;
  if (d2 && strcmp(k->dir2, d2)) return 0;
  return 1;
}

const char *nj_gl_errname(int e)
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
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case EINVAL: return "EINVAL";
    default:
      memcpy(num, "errno", 5);
      num[5 + uint_fmt(num + 5, (unsigned int)e)] = 0;
      return num;
  }
}

/* ----------------------------------------------------------- record text */

/* The decimal number at *p (up to a space or the end e), no leading
 * zero, at most max. 1 and *p past it. */
static int number(const char **p, const char *e, unsigned long max, unsigned long *u)
{
  const char *s = *p, *q = s;
  while (q < e && *q != ' ' && *q != '\n') q++;
  if (q == s || (s[0] == '0' && q - s > 1)) return 0;
  if (!nj_ulong_parsen(s, (size_t)(q - s), 0, max, u)) return 0;
  *p = q;
  return 1;
}

static int state_word(const char **p, const char *e)
{
  const char *s = *p;
  if (e - s < 8 || s[7] != ' ') return 0;
  *p = s + 8;
  if (!memcmp(s, "pending", 7)) return NJ_GL_PENDING;
  if (!memcmp(s, "regular", 7)) return NJ_GL_REGULAR;
  return 0;
}

/* "2 STATE COUNT FIRST LAST TEXT\n" (version 2) or "STATE COUNT\n"
 * (version 1), read into r; 0 when it is neither. */
static int parse_text(const char *buf, size_t n, nj_glrec *r)
{
  const char *p = buf, *e = buf + n - 1;   /* e: the newline */
  unsigned long first, last;
  int state;
  if (n < 10 || n > NJ_GL_FILEMAX || buf[n - 1] != '\n') return 0;
  if (buf[0] == '2' && buf[1] == ' ') {
    const char *t;
    p += 2;
    if (!(state = state_word(&p, e))) return 0;
    if (!number(&p, e, NJ_GL_COUNTMAX, &r->count) || *p++ != ' ') return 0;
    if (!number(&p, e, (unsigned long)NJ_SECS_MAX, &first) || *p++ != ' ') return 0;
    if (!number(&p, e, (unsigned long)NJ_SECS_MAX, &last) || *p++ != ' ') return 0;
    for (t = p; t < e; t++) if ((unsigned char)*t < 0x21 || (unsigned char)*t > 0x7e) return 0;
    if (t == p || (size_t)(e - p) > NJ_GL_TEXTMAX) return 0;
    r->version = 2;
    r->first = (int64_t)first;
    r->last = (int64_t)last;
    r->textlen = (size_t)(e - p);
    memcpy(r->text, p, r->textlen);
    r->text[r->textlen] = 0;
    return state;
  }
  if (!(state = state_word(&p, e))) return 0;
  if (!number(&p, e, NJ_GL_COUNTMAX, &r->count) || p != e) return 0;
  r->version = 1;
  return state;
}

/* 1 when r (as read) can be k's record: a version-2 text names k (for
 * a key known only by its file name, a hashed name is the hash of the
 * text); a version-1 text (round 1) was only ever an IP key's. */
static int ours(const nj_glkey *k, const nj_glrec *r)
{
  nj_glkey h;
  if (r->version == 1) return k->textlen ? k->kind == NJ_GLK_IP || k->kind == NJ_GLK_NET : !is_hexname(k->name);
  if (k->textlen) return r->textlen == k->textlen && !memcmp(r->text, k->text, k->textlen);
  if (!is_hexname(k->name)) return 1;
  return nj_gl_hashkey(&h, r->text, r->textlen) && !strcmp(h.name, k->name);
}

/* 1 when a text that does not parse starts as a later version's would:
 * a number above NJ_GL_VERSION, then a space. */
static int newer(const char *buf, size_t n)
{
  const char *sp = memchr(buf, ' ', n < 11 ? n : 11);
  unsigned long v;
  return sp && sp > buf && buf[0] != '0' &&
         nj_ulong_parsen(buf, (size_t)(sp - buf), NJ_GL_VERSION + 1, 999999999UL, &v);
}

int nj_gl_parse(const char *buf, size_t n, const nj_glkey *k, nj_glrec *r)
{
  int state;
  r->found = NJ_GL_CORRUPT;
  r->version = 0;
  r->count = 0;
  r->first = r->last = 0;
  r->textlen = 0;
  r->text[0] = 0;
  state = parse_text(buf, n, r);
  if (!state) {
    r->count = 0;
    r->version = 0;
    if (newer(buf, n)) r->found = NJ_GL_NEWER;
    return r->found;
  }
  if (k && !ours(k, r)) return r->found;   /* another key's record: not this one */
  r->found = state;
  r->when.tv_sec = (time_t)(state == NJ_GL_REGULAR ? r->last : r->first);
  r->when.tv_nsec = 0;
  return r->found;
}

size_t nj_gl_fmt(char *buf, const nj_glrec *r, const nj_glkey *k)
{
  size_t n = 0;
  unsigned long count = r->count > NJ_GL_COUNTMAX ? NJ_GL_COUNTMAX : r->count;
  int64_t first = r->first < 0 || r->first > NJ_SECS_MAX ? 0 : r->first;
  int64_t last = r->last < 0 || r->last > NJ_SECS_MAX ? 0 : r->last;
  size_t tl = k->textlen > NJ_GL_TEXTMAX ? NJ_GL_TEXTMAX : k->textlen;
  memcpy(buf, r->found == NJ_GL_REGULAR ? "2 regular " : "2 pending ", 10);
  n = 10;
  n += ulong_fmt(buf + n, count);
  buf[n++] = ' ';
  n += ulong_fmt(buf + n, (unsigned long)first);
  buf[n++] = ' ';
  n += ulong_fmt(buf + n, (unsigned long)last);
  buf[n++] = ' ';
  memcpy(buf + n, k->text, tl);
  n += tl;
  buf[n++] = '\n';
  return n;
}

/* --------------------------------------------------------------- verdict */

void nj_gl_policy_check(nj_glpolicy *p)
{
  char a[ULONG_FMT], b[ULONG_FMT], c[ULONG_FMT];
  if (p->min > p->window) {
    a[ulong_fmt(a, (unsigned long)p->min)] = 0;
    b[ulong_fmt(b, (unsigned long)p->window)] = 0;
    strerr_warnw("GREYLIST_MIN=", a, " above GREYLIST_WINDOW=", b, ", using both defaults");
    p->min = NJ_GL_DEF_MIN;
    p->window = NJ_GL_DEF_WINDOW;
  }
  if (p->refresh > p->lifetime / 2) {
    int64_t def = NJ_GL_DEF_REFRESH <= p->lifetime / 2 ? NJ_GL_DEF_REFRESH : p->lifetime / 2;
    a[ulong_fmt(a, (unsigned long)p->refresh)] = 0;
    b[ulong_fmt(b, (unsigned long)p->lifetime)] = 0;
    c[ulong_fmt(c, (unsigned long)def)] = 0;
    strerr_warnw("GREYLIST_REFRESH=", a, " above half GREYLIST_LIFETIME=", b, ", using ", c);
    p->refresh = def;
  }
}

void nj_gl_policy_env(nj_glpolicy *p)
{
  p->min = (int64_t)nj_env_ulong("GREYLIST_MIN", NJ_GL_DEF_MIN, 0, NJ_GL_MAX_SECS, 0);
  p->window = (int64_t)nj_env_ulong("GREYLIST_WINDOW", NJ_GL_DEF_WINDOW, 1, NJ_GL_MAX_SECS, 0);
  p->lifetime = (int64_t)nj_env_ulong("GREYLIST_LIFETIME", NJ_GL_DEF_LIFETIME, 1, NJ_GL_MAX_SECS, 0);
  p->refresh = (int64_t)nj_env_ulong("GREYLIST_REFRESH", NJ_GL_DEF_REFRESH, 0, NJ_GL_MAX_SECS, 0);
  p->step = NJ_GL_STEP;
  nj_gl_policy_check(p);
}

static nj_glverdict verdict(int is, int reason)
{
  nj_glverdict v;
  v.is = is;
  v.reason = reason;
  v.refresh = 0;
  v.step = 0;
  return v;
}

/* spamd's rule in najimi's words. A stranger's first attempt makes a
 * record; the delay runs from it, so a retry must wait min seconds and
 * come within the window; a regular stays one while it keeps coming,
 * its record refreshed once it is refresh seconds old. */
nj_glverdict nj_gl_verdict(int found, int64_t age, const nj_glpolicy *p)
{
  nj_glverdict v;
  int step = 0;
  switch (found) {
    case NJ_GL_NONE: return verdict(NJ_GLV_NEW, 0);
    case NJ_GL_PENDING: case NJ_GL_REGULAR: break;
    case NJ_GL_SYMLINK: return verdict(NJ_GLV_RESET, NJ_GLR_SYMLINK);
    case NJ_GL_NOTFILE: return verdict(NJ_GLV_RESET, NJ_GLR_NOTFILE);
    case NJ_GL_NEWER: return verdict(NJ_GLV_RESET, NJ_GLR_VERSION);
    default: return verdict(NJ_GLV_RESET, NJ_GLR_CORRUPT);
  }
  /* A record dated ahead of the clock: up to a day, the clock was
   * stepped back (it keeps its state and counts as now); further, it
   * cannot be aged (the clock went far back, or it was planted). */
  if (age < 0) {
    if (-age > p->step) return verdict(NJ_GLV_RESET, NJ_GLR_FUTURE);
    age = 0;
    step = 1;
  }
  if (found == NJ_GL_REGULAR) {
    if (age > p->lifetime) return verdict(NJ_GLV_RESET, NJ_GLR_LAPSED);
    v = verdict(NJ_GLV_REGULAR, 0);
    v.refresh = age >= p->refresh;
  } else if (age < p->min) v = verdict(NJ_GLV_TOO_SOON, 0);
  else if (age <= p->window) v = verdict(NJ_GLV_PROMOTE, 0);
  else return verdict(NJ_GLV_RESET, NJ_GLR_STALE);
  v.step = step;
  return v;
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
    case NJ_GLR_VERSION: return "version";
    default: return "none";
  }
}

int nj_gl_next(const nj_glrec *cur, const nj_glverdict *v, const struct timespec *now, nj_glrec *next)
{
  *next = *cur;
  next->when = *now;
  switch (v->is) {
    case NJ_GLV_TOO_SOON:     /* counted; the delay still runs from the first attempt */
      next->found = NJ_GL_PENDING;
      if (next->count < NJ_GL_COUNTMAX) next->count++;
      if (!next->first) next->first = (int64_t)cur->when.tv_sec;   /* a version-1 record */
      next->when = cur->when;
      return NJ_GLW_KEEP;
    case NJ_GLV_PROMOTE:      /* the count stays: how many retries it took */
      next->found = NJ_GL_REGULAR;
      if (!next->first) next->first = (int64_t)cur->when.tv_sec;
      next->last = (int64_t)now->tv_sec;
      return NJ_GLW_REPLACE;
    case NJ_GLV_REGULAR:      /* refreshed once it is due, not at every pass */
      if (!v->refresh) { next->when = cur->when; return NJ_GLW_NONE; }
      next->last = (int64_t)now->tv_sec;
      return NJ_GLW_TOUCH;
    default:                  /* NEW, RESET: a stranger, first seen now */
      next->found = NJ_GL_PENDING;
      next->count = 0;
      next->first = (int64_t)now->tv_sec;
      next->last = 0;
      return v->is == NJ_GLV_NEW ? NJ_GLW_CREATE : NJ_GLW_REPLACE;
  }
}

/* k has no record: a live regular under the seed makes k one at once
 * (next filled, 1); else 0, next then left for nj_gl_next to fill. The
 * seed's record is read into next itself: one record fewer on the stack.
 * Nothing about the seed is ever an error. */
static int from_seed(nj_glstore *s, const nj_glkey *seed, const nj_glpolicy *p,
                     const struct timespec *now, nj_glrec *next)
{
  nj_glverdict v;
  if (!seed || s->read(s, seed, next) || next->found != NJ_GL_REGULAR) return 0;
  v = nj_gl_verdict(next->found, (int64_t)now->tv_sec - (int64_t)next->when.tv_sec, p);
  if (v.is != NJ_GLV_REGULAR) return 0;
  next->when = *now;
  next->last = (int64_t)now->tv_sec;
  return 1;
}

int nj_gl_decide(nj_glstore *s, const nj_glkey *k, const nj_glkey *seed,
                 const nj_glpolicy *p, nj_gldecision *d)
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
    nj_clock(&now);
    if (cur.found != NJ_GL_NONE) d->age = (int64_t)now.tv_sec - (int64_t)cur.when.tv_sec;
    d->v = nj_gl_verdict(cur.found, d->age, p);
    if (d->v.step) { d->ahead = -d->age; d->age = 0; }
    if (d->v.is == NJ_GLV_NEW && from_seed(s, seed, p, &now, &next)) {
      d->v.is = NJ_GLV_REGULAR;
      d->seeded = 1;
      how = NJ_GLW_CREATE;
    } else how = nj_gl_next(&cur, &d->v, &now, &next);
    d->count = next.count;
    d->written = how;
    e = how == NJ_GLW_NONE ? 0 : s->write(s, k, how, &next);
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
