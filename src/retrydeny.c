/* retrydeny: builds a tcprules deny list of hosts that were refused
 * permanently (a 5xx reply) and came back again and again.
 *
 * It reads the chain's log lines (multilog files, @tai64n-stamped or not,
 * or stdin) in one streaming pass, keeps a little state per client
 * address (never per line), merges the previous DENYFILE and rewrites it
 * through a temporary file, fsync and rename. See doc/retrydeny.8.
 *
 * A session is the pair (ip, pid): every program of the chain execs the
 * next, so they share the pid. A session is refused permanently when one
 * of its lines carries code=5xx; it accepted a message when its
 * rcptcheck summary says msgs=N with N > 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include <skalibs/allreadwrite.h>
#include <skalibs/stralloc.h>
#include "najimi.h"

#define USAGE "retrydeny [ -n sessions ] [ -w hours ] [ -e days ] [ -k file ]... [ -r text ] [ -t time ] [ -6 ] [ -q ] denyfile [ log... ]"
#define LINEMAX 2048           /* a longer line is overlong (the chain writes <= 400) */
#define READSIZE (1 << 20)
#define SESSIONMAX 3600        /* a pid seen again within this is the same session */
#define KMAX 4096              /* own networks */
#define NETLINEMAX 255         /* the longest line of a -k file */
#define TEXTMAX 200            /* -r text */

const char *PROG = "retrydeny";

/* ------------------------------------------------------------ options */

static unsigned long opt_n = 5;        /* refused sessions ... */
static int64_t opt_w = 24 * 3600;      /* ... within this many seconds */
static int64_t opt_e = 7 * 86400;      /* an entry lives this long after the last offence */
static const char *opt_r = 0;          /* RBLSMTPD text, or 0 for deny */
static int opt_6 = 0;                  /* write IPv6 rules too */
static int opt_q = 0;

typedef struct net_s { nj_ip ip; unsigned int len; } net;
static net nets[KMAX];
static unsigned int nnets;

/* ------------------------------------------------------ state per address */

typedef struct ev_s { int64_t t; uint32_t pid; } ev;

#define F_OLD 1        /* listed in the previous DENYFILE */
#define F_OFFENCE 2    /* offended in this input, after any accepted message */

typedef struct ent_s {
  nj_ip ip;
  unsigned char flags;
  uint16_t ringlen, ringpos;   /* the last opt_n refused sessions */
  uint32_t streak;             /* refused sessions since the last accepted message */
  uint32_t off_count, old_count;
  int64_t streak_first, off_first, off_last, old_first, old_last;
} ent;

static ent *ents;
static ev *rings;              /* opt_n slots per entry */
static size_t nents, capents;
static uint32_t *slots;        /* hash table: 0 = empty, else index + 1 */
static size_t nslots;

static uint64_t ip_hash(const nj_ip *ip)
{
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ ip->v6, w;
  unsigned int i, len = ip->v6 ? 16 : 4;
  for (i = 0; i < len; i += 4) {
    w = (uint64_t)ip->a[i] << 24 | (uint64_t)ip->a[i + 1] << 16 |
        (uint64_t)ip->a[i + 2] << 8 | ip->a[i + 3];
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
  }
  return h;
}

static int ip_eq(const nj_ip *a, const nj_ip *b)
{
  return a->v6 == b->v6 && !memcmp(a->a, b->a, a->v6 ? 16 : 4);
}

static void *xrealloc(void *p, size_t n, size_t size)
{
  void *q;
  if (size && n > ((size_t)-1) / size) { errno = ENOMEM; q = 0; }
  else q = realloc(p, n * size);
  if (!q) strerr_diefu1sys(111, "allocate memory");
  return q;
}

static void rehash(size_t n)
{
  size_t i;
  free(slots);
  slots = calloc(n, sizeof *slots);
  if (!slots) strerr_diefu1sys(111, "allocate memory");
  nslots = n;
  for (i = 0; i < nents; i++) {
    size_t s = ip_hash(&ents[i].ip) & (nslots - 1);
    while (slots[s]) s = (s + 1) & (nslots - 1);
    slots[s] = (uint32_t)(i + 1);
  }
}

/* The entry of ip; created (empty) when create is set, else 0 if absent. */
static ent *find(const nj_ip *ip, int create)
{
  size_t s = ip_hash(ip) & (nslots - 1);
  ent *e;
  while (slots[s]) {
    e = &ents[slots[s] - 1];
    if (ip_eq(&e->ip, ip)) return e;
    s = (s + 1) & (nslots - 1);
  }
  if (!create) return 0;
  if (nents >= 0x7fffffffU) strerr_dief1x(111, "too many addresses");
  if (nents == capents) {
    capents = capents ? capents * 2 : 1024;
    ents = xrealloc(ents, capents, sizeof *ents);
    rings = xrealloc(rings, capents, opt_n * sizeof *rings);
  }
  e = &ents[nents];
  memset(e, 0, sizeof *e);
  e->ip = *ip;
  nents++;
  if (nents * 2 > nslots) rehash(nslots * 2);
  else slots[s] = (uint32_t)nents;
  return &ents[nents - 1];
}

/* ------------------------------------------------------------ events */

static struct {
  unsigned long lines, refusals, sessions, accepts;
  unsigned long malformed, binary, crlf, overlong, truncated;
} count;

static struct { unsigned long listed, fresh, expired, own, v6, cleared; } res;

static int64_t newest;         /* the newest stamp seen, 0 if none */
static int64_t cur_t;          /* the time of the current line (0: unknown yet) */

/* A line with code=5xx: a refused session, unless this pid was already
 * counted for this address. n refused sessions within the window make
 * an offence. */
static void refused(const nj_ip *ip, uint32_t pid, int64_t t)
{
  ent *e = find(ip, 1);
  ev *ring = rings + (size_t)(e - ents) * opt_n;
  unsigned int i;
  count.refusals++;
  for (i = 0; i < e->ringlen; i++)
    if (ring[i].pid == pid && t - ring[i].t <= SESSIONMAX && t >= ring[i].t) return;
  count.sessions++;
  if (!e->streak) e->streak_first = t;
  if (e->streak < 0xffffffffU) e->streak++;
  ring[e->ringpos].t = t;
  ring[e->ringpos].pid = pid;
  e->ringpos = (uint16_t)((e->ringpos + 1) % opt_n);
  if (e->ringlen < opt_n) e->ringlen++;
  if (e->ringlen == opt_n && t - ring[e->ringpos % e->ringlen].t <= opt_w) {
    /* ringpos now points at the oldest of the last n sessions */
    e->flags |= F_OFFENCE;
    e->off_last = t;
    e->off_first = e->streak_first;
    e->off_count = e->streak;
  }
}

/* A session that delivered mail: the host is not a mere retrier. Only
 * addresses already known matter, so nothing is created here. */
static void accepted(const nj_ip *ip, int64_t t)
{
  ent *e = find(ip, 0);
  count.accepts++;
  if (!e) return;
  e->ringlen = 0;
  e->ringpos = 0;
  e->streak = 0;
  /* offences before this message no longer count, nor an older listing
   * (a time not known yet means now, later than any listing) */
  if (e->flags & F_OFFENCE) {
    e->flags &= (unsigned char)~F_OFFENCE;
    res.cleared++;
  }
  if ((e->flags & F_OLD) && (!t || t >= e->old_last)) {
    e->flags &= (unsigned char)~F_OLD;
    res.cleared++;
  }
}

/* ------------------------------------------------------- one log line */

static const unsigned char namechar[256] = {
  ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
  ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
  ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
  ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
  ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
  ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1, ['_'] = 1, ['.'] = 1,
};

static int digits(const char *s, size_t n, unsigned long max, unsigned long *v)
{
  size_t i;
  unsigned long u = 0;
  if (!n || n > 10) return 0;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    u = u * 10 + (unsigned long)(s[i] - '0');
  }
  if (u > max) return 0;
  *v = u;
  return 1;
}

/* A printable line (no newline), stamp already removed. Decision lines
 * are "NAME: ACTION ip=IP pid=PID key=value..."; anything else (tcpserver's
 * own lines, warnings, other programs) is ignored. */
static void decision(const char *s, size_t n)
{
  const char *end = s + n, *p = s, *ip = 0, *code = 0, *msgs = 0;
  size_t iplen = 0, codelen = 0, msgslen = 0;
  const char *pid;
  size_t pidlen;
  unsigned long pidv, v;
  char ipbuf[NJ_IPFMT];
  nj_ip addr;

  while (p < end && namechar[(unsigned char)*p]) p++;
  if (p == s || end - p < 2 || p[0] != ':' || p[1] != ' ') return;
  p += 2;
  s = p;
  while (p < end && namechar[(unsigned char)*p]) p++;
  if (p == s || end - p < 4 || memcmp(p, " ip=", 4)) return;
  p += 4;
  ip = p;
  while (p < end && *p != ' ') p++;
  iplen = (size_t)(p - ip);
  if (end - p < 5 || memcmp(p, " pid=", 5)) { count.malformed++; return; }
  p += 5;
  pid = p;
  while (p < end && *p != ' ') p++;
  pidlen = (size_t)(p - pid);
  while (p < end) {            /* at a space before "key=value" */
    const char *k = ++p;
    while (p < end && *p != ' ') p++;
    if ((size_t)(p - k) >= 5 && !memcmp(k, "code=", 5)) { code = k + 5; codelen = (size_t)(p - k) - 5; }
    else if ((size_t)(p - k) >= 5 && !memcmp(k, "msgs=", 5)) { msgs = k + 5; msgslen = (size_t)(p - k) - 5; }
  }
  if (code) {
    if (codelen != 3 || code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9' ||
        code[2] < '0' || code[2] > '9') { count.malformed++; return; }
    if (code[0] != '5') code = 0;
  }
  if (msgs) {
    if (!digits(msgs, msgslen, 0xffffffffUL, &v)) { count.malformed++; return; }
    if (!v) msgs = 0;
  }
  if (!code && !msgs) return;
  if (!iplen || iplen >= NJ_IPFMT || !digits(pid, pidlen, 0xffffffffUL, &pidv)) {
    count.malformed++;
    return;
  }
  memcpy(ipbuf, ip, iplen);
  ipbuf[iplen] = 0;
  if (!nj_ip_parse(ipbuf, &addr)) { count.malformed++; return; }
  if (code) refused(&addr, (uint32_t)pidv, cur_t);
  if (msgs) accepted(&addr, cur_t);
}

/* One whole line without its newline, already known to be printable. */
static void line(const char *s, size_t n)
{
  if (n && s[0] == '@') {
    int64_t t;
    if (n < NJ_TAI64N + 1 || s[NJ_TAI64N] != ' ' || !nj_tai64n_scan(s, n, &t)) {
      count.malformed++;
      return;
    }
    cur_t = t;
    if (t > newest) newest = t;
    s += NJ_TAI64N + 1;
    n -= NJ_TAI64N + 1;
  }
  decision(s, n);
}

/* ------------------------------------------------------ streaming input */

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The offset of the first byte of s[0..n) outside 0x20..0x7e (a newline
 * included), or n. Eight bytes at a time. */
static size_t clean_span(const unsigned char *s, size_t n)
{
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    memcpy(&x, s + i, 8);
    if (((x - ONES * 0x20) & ~x & HIGHS) | (((x + ONES * (127 - 0x7e)) | x) & HIGHS)) break;
  }
  for (; i < n; i++)
    if (s[i] < 0x20 || s[i] > 0x7e) break;
  return i;
}

static char *inbuf;

static void readlog(int fd, const char *name)
{
  size_t have = 0;           /* bytes in inbuf not yet consumed */
  int skipping = 0;          /* inside an overlong line: drop to its newline */
  for (;;) {
    ssize_t r = read(fd, inbuf + have, READSIZE);
    size_t pos = 0, end;
    if (r < 0) {
      if (errno == EINTR) continue;
      strerr_diefu2sys(111, "read ", name);
    }
    if (!r) break;
    end = have + (size_t)r;
    while (pos < end) {
      const unsigned char *s = (const unsigned char *)inbuf + pos;
      size_t left = end - pos, k = clean_span(s, left);
      const unsigned char *nl;
      if (skipping) {
        nl = memchr(s, '\n', left);
        if (!nl) { pos = end; break; }
        pos += (size_t)(nl - s) + 1;
        skipping = 0;
        continue;
      }
      if (k < left && s[k] == '\n') {
        if (k > LINEMAX) count.overlong++;
        else { count.lines++; line((const char *)s, k); }
        pos += k + 1;
        continue;
      }
      if (k == left) {        /* no newline yet */
        if (left > LINEMAX) { count.overlong++; skipping = 1; pos = end; }
        break;
      }
      /* a byte outside printable ASCII before the newline */
      nl = memchr(s + k, '\n', left - k);
      if (!nl) {
        if (left > LINEMAX) { count.overlong++; skipping = 1; pos = end; }
        break;
      }
      if ((size_t)(nl - s) > LINEMAX) count.overlong++;
      else if (s[k] == '\r' && s + k + 1 == nl) count.crlf++;
      else count.binary++;
      pos += (size_t)(nl - s) + 1;
    }
    have = end - pos;
    if (have) memmove(inbuf, inbuf + pos, have);
  }
  if (have && !skipping) count.truncated++;
}

/* --------------------------------------------------- own networks (-k) */

/* One address or network a line; '#' anywhere starts a comment. */
static void readnets(const char *file)
{
  stralloc sa = STRALLOC_ZERO;
  nj_ctl c;
  char *p;
  size_t n;
  int r = nj_ctl_open(&c, &sa, file, NJ_CTL_TEXT | NJ_CTL_HASHANY, NETLINEMAX);
  if (r <= 0) {
    if (!r) errno = ENOENT;
    strerr_diefu2sys(111, "read ", file);
  }
  while ((r = nj_ctl_next(&c, &p, &n))) {
    char num[ULONG_FMT + 1];
    num[ulong_fmt(num, c.line)] = 0;
    if (r < 0) strerr_dief4x(100, file, ":", num, ": line too long");
    if (nnets >= KMAX) strerr_dief2x(100, file, ": too many networks");
    if (!nj_cidr_parse(p, &nets[nnets].ip, &nets[nnets].len))
      strerr_dief6x(100, file, ":", num, ": not an address or network: ", p, "");
    nnets++;
  }
  stralloc_free(&sa);
}

static int own(const nj_ip *ip)
{
  unsigned int i;
  if (nj_ip_loopback(ip)) return 1;
  for (i = 0; i < nnets; i++)
    if (nj_ip_in(ip, &nets[i].ip, nets[i].len)) return 1;
  return 0;
}

/* ---------------------------------------------- the previous DENYFILE */

static char *oldfile;          /* its bytes, to compare with the new ones */
static size_t oldlen;

static char *slurp(const char *file, size_t *len)
{
  struct stat st;
  char *buf;
  size_t n = 0, cap;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) { *len = 0; return 0; }
    strerr_diefu2sys(111, "open ", file);
  }
  if (fstat(fd, &st) < 0) strerr_diefu2sys(111, "stat ", file);
  cap = (size_t)st.st_size + 1;
  buf = xrealloc(0, cap, 1);
  for (;;) {
    ssize_t r;
    if (n == cap) buf = xrealloc(buf, cap *= 2, 1);
    r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      strerr_diefu2sys(111, "read ", file);
    }
    if (!r) break;
    n += (size_t)r;
  }
  close(fd);
  *len = n;
  return buf;
}

/* "key=value" at *p (a space-separated field); NUL-terminates value. */
static char *field(char **p, const char *key)
{
  size_t k = strlen(key);
  char *v, *q = *p;
  while (*q == ' ') q++;
  if (strncmp(q, key, k) || q[k] != '=') return 0;
  v = q + k + 1;
  q = v;
  while (*q && *q != ' ') q++;
  if (*q) *q++ = 0;
  *p = q;
  return v;
}

/* Evidence comment: "# IP expires=DATE sessions=N first=DATE last=DATE",
 * followed by the rule "IP:deny" or "IP:allow,...". Other comments are
 * ours (the header) or the administrator's and are dropped; other rules
 * are dropped with a warning. */
static void readold(const char *file)
{
  char *p, *end, *ln;
  unsigned long lineno = 0;
  nj_ip pend;
  int64_t pfirst = 0, plast = 0;
  unsigned long pcount = 0;
  int havepend = 0;
  char *copy;

  oldfile = slurp(file, &oldlen);
  if (!oldfile) return;
  copy = xrealloc(0, oldlen + 1, 1);
  memcpy(copy, oldfile, oldlen);
  copy[oldlen] = 0;
  for (p = copy, end = copy + oldlen; p < end; p = ln) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    char num[ULONG_FMT + 1];
    ln = nl ? nl + 1 : end;
    if (nl) *nl = 0;
    lineno++;
    num[ulong_fmt(num, lineno)] = 0;
    if (!*p) continue;
    if (*p == '#') {
      char *q = p + 1, *a, *ex, *se, *fi, *la;
      unsigned long c;
      havepend = 0;
      while (*q == ' ') q++;
      a = q;
      while (*q && *q != ' ') q++;
      if (!*q) continue;
      *q++ = 0;
      if (!nj_ip_parse(a, &pend)) continue;
      ex = field(&q, "expires");
      se = ex ? field(&q, "sessions") : 0;
      fi = se ? field(&q, "first") : 0;
      la = fi ? field(&q, "last") : 0;
      if (!la || !nj_ulong_parse(se, 0, 0xffffffffUL, &c) ||
          !nj_utc_scan(fi, &pfirst) || !nj_utc_scan(la, &plast)) {
        strerr_warnw5x(file, ":", num, ": ", "unreadable evidence comment, ignored");
        continue;
      }
      pcount = c;
      havepend = 1;
      continue;
    }
    {
      char *r = strstr(p, ":deny"), *r2 = strstr(p, ":allow,");
      nj_ip ip;
      if (!r || (r2 && r2 < r)) r = r2;
      if (r) *r = 0;
      if (!r || !nj_ip_parse(p, &ip) || !havepend || !ip_eq(&ip, &pend)) {
        strerr_warnw5x(file, ":", num, ": ", "not a retrydeny rule with its evidence, dropped");
        havepend = 0;
        continue;
      }
      havepend = 0;
      {
        ent *e = find(&ip, 1);
        if (e->flags & F_OLD) {
          if (pfirst < e->old_first) e->old_first = pfirst;
          if (plast > e->old_last) e->old_last = plast;
          if (pcount > e->old_count) e->old_count = (uint32_t)pcount;
        } else {
          e->flags |= F_OLD;
          e->old_first = pfirst;
          e->old_last = plast;
          e->old_count = (uint32_t)pcount;
        }
      }
    }
  }
  free(copy);
}

/* ------------------------------------------------------------ output */

typedef struct out_s { char *s; size_t len, cap; } out;

static void put(out *o, const char *s, size_t n)
{
  if (o->len + n > o->cap) {
    o->cap = (o->len + n) * 2 + 4096;
    o->s = xrealloc(o->s, o->cap, 1);
  }
  memcpy(o->s + o->len, s, n);
  o->len += n;
}

static void puts0(out *o, const char *s) { put(o, s, strlen(s)); }

static void putdate(out *o, int64_t t)
{
  char buf[NJ_UTCFMT];
  put(o, buf, nj_utc_fmt(buf, t));
}

static int cmp_ent(const void *a, const void *b)
{
  const ent *x = *(const ent *const *)a, *y = *(const ent *const *)b;
  if (x->ip.v6 != y->ip.v6) return x->ip.v6 - y->ip.v6;
  return memcmp(x->ip.a, y->ip.a, 16);
}


static void build(out *o, int64_t now)
{
  ent **list = xrealloc(0, nents ? nents : 1, sizeof *list);
  size_t i, n = 0;
  for (i = 0; i < nents; i++) {
    ent *e = &ents[i];
    int64_t first, last;
    uint32_t cnt;
    int off = !!(e->flags & F_OFFENCE);
    if (!(e->flags & (F_OLD | F_OFFENCE))) continue;
    /* unstamped lines before any stamp happened "now" */
    if (off && !e->off_last) e->off_last = now;
    if (off && !e->off_first) e->off_first = now;
    if (off && (e->flags & F_OLD)) {
      first = e->off_first < e->old_first ? e->off_first : e->old_first;
      last = e->off_last > e->old_last ? e->off_last : e->old_last;
      cnt = e->off_count > e->old_count ? e->off_count : e->old_count;
    } else if (off) {
      first = e->off_first; last = e->off_last; cnt = e->off_count;
    } else {
      first = e->old_first; last = e->old_last; cnt = e->old_count;
    }
    if (own(&e->ip)) { res.own++; continue; }
    if (e->ip.v6 && !opt_6) { res.v6++; continue; }
    if (last + opt_e <= now) { res.expired++; continue; }
    e->off_first = first;
    e->off_last = last;
    e->off_count = cnt;
    if (!(e->flags & F_OLD)) res.fresh++;
    list[n++] = e;
  }
  qsort(list, n, sizeof *list, cmp_ent);
  puts0(o, "# Written by retrydeny(8): hosts refused permanently again and again.\n"
           "# Do not edit; put your own rules in tcp.smtp, which comes first.\n");
  for (i = 0; i < n; i++) {
    ent *e = list[i];
    char ip[NJ_IPFMT], num[ULONG_FMT];
    size_t iplen = nj_ip_fmt(ip, &e->ip);
    puts0(o, "# ");
    put(o, ip, iplen);
    puts0(o, " expires=");
    putdate(o, e->off_last + opt_e);
    puts0(o, " sessions=");
    put(o, num, ulong_fmt(num, e->off_count));
    puts0(o, " first=");
    putdate(o, e->off_first);
    puts0(o, " last=");
    putdate(o, e->off_last);
    puts0(o, "\n");
    put(o, ip, iplen);
    if (opt_r) {
      puts0(o, ":allow,RBLSMTPD=\"");
      if (opt_r[0] != '-') puts0(o, "-");
      puts0(o, opt_r);
      puts0(o, "\"\n");
    } else puts0(o, ":deny\n");
  }
  res.listed = n;
  free(list);
}

/* Writes the new list through FILE.tmp.PID, fsync, rename; leaves the
 * file untouched (and its mtime) when the bytes are the same. */
static int writeout(const char *file, const out *o)
{
  char suffix[5 + PID_FMT];
  if (oldfile && oldlen == o->len && !memcmp(oldfile, o->s, o->len)) return 0;
  memcpy(suffix, ".tmp.", 5);
  suffix[5 + pid_fmt(suffix + 5, getpid())] = 0;
  nj_file_replace(file, suffix, o->s, o->len);
  return 1;
}

/* ------------------------------------------------------------ main */

static int64_t parse_time(const char *s)
{
  int64_t t;
  unsigned long u;
  if (s[0] == '@' && strlen(s) == NJ_TAI64N && nj_tai64n_scan(s, NJ_TAI64N, &t)) return t;
  if (nj_utc_scan(s, &t)) return t;
  if (nj_ulong_parse(s, 0, 253402300799UL, &u)) return (int64_t)u;
  strerr_dief1x(100, "option -t needs Unix seconds, an @tai64n label or YYYY-MM-DDTHH:MM:SSZ");
}

static void summary(int64_t now, int wrote)
{
  char buf[600], d[NJ_UTCFMT];
  out o = { buf, 0, sizeof buf };
  struct { const char *k; unsigned long v; } f[] = {
    { "lines", count.lines }, { "refusals", count.refusals },
    { "refused_sessions", count.sessions }, { "accepted_sessions", count.accepts },
    { "listed", res.listed }, { "new", res.fresh }, { "expired", res.expired },
    { "cleared", res.cleared }, { "own", res.own }, { "ipv6_skipped", res.v6 },
    { "malformed", count.malformed }, { "binary", count.binary },
    { "crlf", count.crlf }, { "overlong", count.overlong },
    { "truncated", count.truncated },
  };
  size_t i;
  /* buf is big enough for every field: never reallocated */
  puts0(&o, "retrydeny: summary");
  for (i = 0; i < sizeof f / sizeof *f; i++) {
    char num[ULONG_FMT];
    puts0(&o, " ");
    puts0(&o, f[i].k);
    puts0(&o, "=");
    put(&o, num, ulong_fmt(num, f[i].v));
  }
  puts0(&o, " now=");
  put(&o, d, nj_utc_fmt(d, now));
  puts0(&o, wrote ? " file=rewritten\n" : " file=unchanged\n");
  allwrite(2, o.s, o.len);
}

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  int64_t now = 0;
  int have_now = 0, wrote;
  const char *denyfile;
  out o = { 0, 0, 0 };
  size_t i;

  for (;;) {
    int opt = subgetopt_r(argc, argv, "n:w:e:k:r:t:6q", &l);
    if (opt == -1) break;
    switch (opt) {
      case 'n': opt_n = nj_opt_ulong('n', l.arg, 1, 1000); break;
      case 'w': opt_w = (int64_t)nj_opt_ulong('w', l.arg, 1, 24 * 366) * 3600; break;
      case 'e': opt_e = (int64_t)nj_opt_ulong('e', l.arg, 1, 3660) * 86400; break;
      case 'k': readnets(l.arg); break;
      case 'r':
        if (!*l.arg || strlen(l.arg) > TEXTMAX) strerr_dief1x(100, "option -r needs a text of 1 to 200 characters");
        for (i = 0; l.arg[i]; i++)
          if (l.arg[i] < 0x20 || l.arg[i] > 0x7e || l.arg[i] == '"')
            strerr_dief1x(100, "option -r: the text must be printable ASCII without \"");
        opt_r = l.arg;
        break;
      case 't': now = parse_time(l.arg); have_now = 1; break;
      case '6': opt_6 = 1; break;
      case 'q': opt_q = 1; break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  argc -= l.ind;
  argv += l.ind;
  if (!argc) strerr_dieusage(100, USAGE);
  denyfile = argv[0];
  argc--;
  argv++;

  rehash(1024);
  inbuf = xrealloc(0, READSIZE + LINEMAX + 1, 1);
  readold(denyfile);
  if (!argc) readlog(0, "standard input");
  for (i = 0; i < (size_t)argc; i++) {
    int fd;
    if (!strcmp(argv[i], "-")) { readlog(0, "standard input"); continue; }
    fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    /* a file that vanished between the shell's glob and here was
     * rotated away by multilog: its lines are in the next run's files */
    if (fd < 0) {
      if (errno == ENOENT) { strerr_warnwu2sys("open ", argv[i]); continue; }
      strerr_diefu2sys(111, "open ", argv[i]);
    }
    readlog(fd, argv[i]);
    close(fd);
  }
  if (!have_now) now = newest ? newest : (int64_t)time(0);
  build(&o, now);
  wrote = writeout(denyfile, &o);
  if (!opt_q) summary(now, wrote);
  free(o.s);
  free(oldfile);
  free(inbuf);
  free(slots);
  free(rings);
  free(ents);
  return 0;
}
