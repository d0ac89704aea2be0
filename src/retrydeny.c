/* SPDX-License-Identifier: ISC */
/* retrydeny: builds a tcprules deny list of hosts that were refused
 * permanently (a 5xx reply) and came back again and again.
 *
 * It reads the chain's log lines (multilog files, @tai64n-stamped or not,
 * or stdin) in one streaming pass through log.c's reader, keeps a little
 * state per client address (never per line), merges the previous
 * DENYFILE (denyfile.c) and rewrites it through a temporary file, fsync
 * and rename. See doc/retrydeny.8.
 *
 * A session is the pair (ip, pid): every program of the chain execs the
 * next, so they share the pid. A session is refused permanently when one
 * of its lines carries code=5xx; it accepted a message when its
 * rcptcheck summary says msgs=N with N > 0. Whether a host is listed is
 * decided in verdict(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <skalibs/allreadwrite.h>
#include <skalibs/djbunix.h>
#include <skalibs/genalloc.h>
#include <skalibs/sgetopt.h>
#include <skalibs/stralloc.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "denyfile.h"

#define USAGE "retrydeny [ -N ] [ -n sessions ] [ -w hours ] [ -e days ] [ -k file ]... [ -r text ] [ -t time ] [ -6 ] [ -q ] denyfile [ log... ]"
#define SESSIONMAX 3600        /* a pid seen again within this is the same session */
#define KMAX 4096              /* own networks */
#define NETLINEMAX 255         /* the longest line of a -k file */
#define TEXTMAX 200            /* -r text */
#define READSIZE (1 << 20)

const char *PROG = "retrydeny";

/* ------------------------------------------------------------ options */

static unsigned long opt_n = 5;        /* refused sessions ... */
static int64_t opt_w = 24 * 3600;      /* ... within this many seconds */
static int64_t opt_e = 7 * 86400;      /* an entry lives this long after the last offence */
static const char *opt_r = 0;          /* RBLSMTPD text, or 0 for deny */
static int opt_6 = 0;                  /* write IPv6 rules too */
static int opt_q = 0;
static int opt_N = 0;                  /* dry run: say what would change, write nothing */

typedef struct net_s { nj_ip ip; unsigned int len; } net;
static genalloc nets = GENALLOC_ZERO;  /* net: the -k networks */

static void nomem(void) __attribute__((noreturn));
static void nomem(void)
{
  strerr_diefu1sys(111, "allocate memory");
}

/* ------------------------------------------------------ state per address */

typedef struct ev_s { int64_t t; uint32_t pid; } ev;

#define F_OLD 1        /* listed in the previous DENYFILE */
#define F_OFFENCE 2    /* offended in this input, after any accepted message */
#define F_WASOLD 4     /* listed in the previous DENYFILE (kept when F_OLD is cleared) */

typedef struct host_s {
  nj_ip ip;
  unsigned char flags;
  uint16_t ringlen, ringpos;   /* the last opt_n refused sessions */
  uint32_t streak;             /* refused sessions since the last accepted message */
  uint32_t off_count, old_count;
  int64_t streak_first, off_first, off_last, old_first, old_last;
} host;

static genalloc hosts = GENALLOC_ZERO; /* host, in the order first seen */
static genalloc rings = GENALLOC_ZERO; /* ev: opt_n slots per host */

/* The hosts by address: an open-addressing hash table of indexes into
 * hosts (0: empty, else index + 1), by hand. A lookup per refused or
 * delivering line is the hot path: with skalibs' avltree, retrydeny took
 * 1.07 s of CPU for bench/retrydeny.sh's 1 GB log, against 0.70 s. The
 * output is sorted once, at the end. */
static genalloc slots = GENALLOC_ZERO;  /* uint32_t, a power of 2 of them */
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

static void rehash(size_t n)
{
  const host *hs = genalloc_s(host, &hosts);
  size_t i, len = genalloc_len(host, &hosts);
  uint32_t *t;
  if (!genalloc_ready(uint32_t, &slots, n)) nomem();
  t = genalloc_s(uint32_t, &slots);
  memset(t, 0, n * sizeof *t);
  nslots = n;
  for (i = 0; i < len; i++) {
    size_t k = ip_hash(&hs[i].ip) & (nslots - 1);
    while (t[k]) k = (k + 1) & (nslots - 1);
    t[k] = (uint32_t)(i + 1);
  }
}

/* The host of ip; created (empty) when create is set, else 0 if absent. */
static host *find(const nj_ip *ip, int create)
{
  size_t k, n = genalloc_len(host, &hosts);
  uint32_t *t;
  host h;
  if (!nslots) rehash(1024);
  t = genalloc_s(uint32_t, &slots);
  k = ip_hash(ip) & (nslots - 1);
  while (t[k]) {
    host *e = genalloc_s(host, &hosts) + t[k] - 1;
    if (ip_eq(&e->ip, ip)) return e;
    k = (k + 1) & (nslots - 1);
  }
  if (!create) return 0;
  if (n >= 0x7fffffffU) strerr_dief1x(111, "too many addresses");
  memset(&h, 0, sizeof h);
  h.ip = *ip;
  if (!genalloc_append(host, &hosts, &h) || !genalloc_readyplus(ev, &rings, opt_n)) nomem();
  genalloc_setlen(ev, &rings, genalloc_len(ev, &rings) + opt_n);
  if ((n + 1) * 2 > nslots) rehash(nslots * 2);
  else t[k] = (uint32_t)(n + 1);
  return genalloc_s(host, &hosts) + n;
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
 * counted for this address. opt_n refused sessions within opt_w, with no
 * accepted message between them, make an offence. */
static void refused(const nj_ip *ip, uint32_t pid, int64_t t)
{
  host *h = find(ip, 1);
  ev *ring = genalloc_s(ev, &rings) + (size_t)(h - genalloc_s(host, &hosts)) * opt_n;
  unsigned int i;
  count.refusals++;
  for (i = 0; i < h->ringlen; i++)
    if (ring[i].pid == pid && t - ring[i].t <= SESSIONMAX && t >= ring[i].t) return;
  count.sessions++;
  if (!h->streak) h->streak_first = t;
  if (h->streak < 0xffffffffU) h->streak++;
  ring[h->ringpos].t = t;
  ring[h->ringpos].pid = pid;
  h->ringpos = (uint16_t)((h->ringpos + 1) % opt_n);
  if (h->ringlen < opt_n) h->ringlen++;
  if (h->ringlen == opt_n && t - ring[h->ringpos % h->ringlen].t <= opt_w) {
    /* ringpos now points at the oldest of the last opt_n sessions */
    h->flags |= F_OFFENCE;
    h->off_last = t;
    h->off_first = h->streak_first;
    h->off_count = h->streak;
  }
}

/* A session that delivered mail: the host is not a mere retrier. Only
 * addresses already known matter, so nothing is created here. */
static void accepted(const nj_ip *ip, int64_t t)
{
  host *h = find(ip, 0);
  count.accepts++;
  if (!h) return;
  h->ringlen = 0;
  h->ringpos = 0;
  h->streak = 0;
  /* offences before this message no longer count, nor an older listing
   * (a time not known yet means now, later than any listing) */
  if (h->flags & F_OFFENCE) {
    h->flags &= (unsigned char)~F_OFFENCE;
    res.cleared++;
  }
  if ((h->flags & F_OLD) && (!t || t >= h->old_last)) {
    h->flags &= (unsigned char)~F_OLD;
    res.cleared++;
  }
}

/* ------------------------------------------------------- one log line */

/* A decision line: the events it carries (code= and msgs=, the last of
 * each), read only when it carries one. */
static void decision(const nj_logline *l)
{
  nj_logpair p, code = { 0, 0, 0, 0 }, msgs = { 0, 0, 0, 0 };
  unsigned int pos = 2;          /* after ip= and pid= */
  unsigned long pid, v;
  nj_ip ip;
  char ipbuf[NJ_IPFMT];
  while (nj_log_next(l, &pos, &p)) {
    if (nj_log_iskey(&p, NJ_K_CODE)) code = p;
    else if (nj_log_iskey(&p, NJ_K_MSGS)) msgs = p;
  }
  if (code.key) {
    const char *c = code.val;
    if (code.vlen != 3 || c[0] < '1' || c[0] > '5' || c[1] < '0' || c[1] > '9' ||
        c[2] < '0' || c[2] > '9') { count.malformed++; return; }
    if (c[0] != '5') code.key = 0;
  }
  if (msgs.key) {
    if (!nj_ulong_parsen(msgs.val, msgs.vlen, 0, 0xffffffffUL, &v)) { count.malformed++; return; }
    if (!v) msgs.key = 0;
  }
  if (!code.key && !msgs.key) return;
  if (!l->ip.vlen || l->ip.vlen >= NJ_IPFMT ||
      !nj_ulong_parsen(l->pid.val, l->pid.vlen, 0, 0xffffffffUL, &pid)) { count.malformed++; return; }
  memcpy(ipbuf, l->ip.val, l->ip.vlen);
  ipbuf[l->ip.vlen] = 0;
  if (!nj_ip_parse(ipbuf, &ip)) { count.malformed++; return; }
  if (code.key) refused(&ip, (uint32_t)pid, cur_t);
  if (msgs.key) accepted(&ip, cur_t);
}

/* One line of a log, as log.c read it. */
static void line(const nj_logline *l, int r, void *aux)
{
  (void)aux;
  if (r == NJ_LOG_BAD) {
    switch (l->bad) {
      case NJ_LOGBAD_BINARY: count.binary++; return;
      case NJ_LOGBAD_CRLF: count.crlf++; return;
      case NJ_LOGBAD_OVERLONG: count.overlong++; return;
      case NJ_LOGBAD_TRUNCATED: count.truncated++; return;
    }
  }
  count.lines++;
  if (l->stamped) {
    cur_t = l->secs;
    if (l->secs > newest) newest = l->secs;
  }
  if (r == NJ_LOG_BAD) count.malformed++;
  else if (r == NJ_LOG_DECISION) decision(l);
}

static char inbuf[READSIZE];

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
    net k;
    num[ulong_fmt(num, c.line)] = 0;
    if (r < 0) strerr_dief4x(100, file, ":", num, ": line too long");
    if (genalloc_len(net, &nets) >= KMAX) strerr_dief2x(100, file, ": too many networks");
    if (!nj_cidr_parse(p, &k.ip, &k.len))
      strerr_dief6x(100, file, ":", num, ": not an address or network: ", p, "");
    if (!genalloc_append(net, &nets, &k)) nomem();
  }
  stralloc_free(&sa);
}

static int own(const nj_ip *ip)
{
  const net *k = genalloc_s(net, &nets);
  size_t i, n = genalloc_len(net, &nets);
  if (nj_ip_loopback(ip)) return 1;
  for (i = 0; i < n; i++)
    if (nj_ip_in(ip, &k[i].ip, k[i].len)) return 1;
  return 0;
}

/* ---------------------------------------------- the previous DENYFILE */

static stralloc oldfile = STRALLOC_ZERO;   /* its bytes, to compare with the new ones */

/* Its entries become F_OLD hosts; an address listed twice keeps the
 * widest evidence. */
static void readold(const char *file)
{
  genalloc old = GENALLOC_ZERO;
  const nj_deny *d;
  size_t i, n;
  if (!openslurpclose(&oldfile, file)) {
    if (errno == ENOENT) return;
    strerr_diefu2sys(111, "read ", file);
  }
  if (!nj_deny_read(oldfile.s, oldfile.len, file, &old)) nomem();
  d = genalloc_s(nj_deny, &old);
  n = genalloc_len(nj_deny, &old);
  for (i = 0; i < n; i++) {
    host *h = find(&d[i].ip, 1);
    if (h->flags & F_OLD) {
      if (d[i].first < h->old_first) h->old_first = d[i].first;
      if (d[i].last > h->old_last) h->old_last = d[i].last;
      if (d[i].sessions > h->old_count) h->old_count = d[i].sessions;
    } else {
      h->flags |= F_OLD | F_WASOLD;
      h->old_first = d[i].first;
      h->old_last = d[i].last;
      h->old_count = d[i].sessions;
    }
  }
  genalloc_free(nj_deny, &old);
}

/* ------------------------------------------------------------ output */

#define V_NONE 0
#define V_LIST 1
#define V_OWN 2
#define V_IPV6 3
#define V_EXPIRED 4

/* Whether to list the host, and with what evidence. Listed: a host that
 * offended in these logs (opt_n refused sessions within opt_w, and no
 * accepted message since), or that the previous file listed (and no
 * accepted message came after its last offence), with the evidence of
 * both merged; until opt_e after its last offence. Never loopback or an
 * own network (-k); IPv6 only with -6. */
static int verdict(const host *h, int64_t now, nj_deny *d)
{
  int off = !!(h->flags & F_OFFENCE), old = !!(h->flags & F_OLD);
  /* unstamped lines before any stamp happened "now" */
  int64_t ofirst = h->off_first ? h->off_first : now, olast = h->off_last ? h->off_last : now;
  if (!off && !old) return V_NONE;
  d->ip = h->ip;
  if (off && old) {
    d->first = ofirst < h->old_first ? ofirst : h->old_first;
    d->last = olast > h->old_last ? olast : h->old_last;
    d->sessions = h->off_count > h->old_count ? h->off_count : h->old_count;
  } else if (off) {
    d->first = ofirst; d->last = olast; d->sessions = h->off_count;
  } else {
    d->first = h->old_first; d->last = h->old_last; d->sessions = h->old_count;
  }
  d->expires = d->last + opt_e;
  if (own(&h->ip)) return V_OWN;
  if (h->ip.v6 && !opt_6) return V_IPV6;
  if (d->expires <= now) return V_EXPIRED;
  return V_LIST;
}

/* -N: one line per entry that would be added, kept or removed, with
 * its evidence and, for a removal, why:
 *   retrydeny: would-add IP sessions=N first=UTC last=UTC expires=UTC
 *   retrydeny: would-remove IP why=expired|accepted-mail|own-network|ipv6 ... */
static void dry(stralloc *sa, const char *what, const host *h, const nj_deny *d, const char *why)
{
  char ip[NJ_IPFMT], num[ULONG_FMT], t[NJ_UTCFMT];
  nj_deny old;
  if (!d) {                      /* cleared by an accepted message: the old evidence */
    old.sessions = h->old_count; old.first = h->old_first; old.last = h->old_last;
    old.expires = h->old_last + opt_e;
    d = &old;
  }
  if (!stralloc_cats(sa, PROG) || !stralloc_cats(sa, ": would-") || !stralloc_cats(sa, what) ||
      !stralloc_cats(sa, " ") || !stralloc_catb(sa, ip, nj_ip_fmt(ip, &h->ip)) ||
      (why && (!stralloc_cats(sa, " why=") || !stralloc_cats(sa, why))) ||
      !stralloc_cats(sa, " sessions=") || !stralloc_catb(sa, num, ulong_fmt(num, d->sessions)) ||
      !stralloc_cats(sa, " first=") || !stralloc_catb(sa, t, nj_utc_fmt(t, d->first)) ||
      !stralloc_cats(sa, " last=") || !stralloc_catb(sa, t, nj_utc_fmt(t, d->last)) ||
      !stralloc_cats(sa, " expires=") || !stralloc_catb(sa, t, nj_utc_fmt(t, d->expires)) ||
      !stralloc_cats(sa, "\n")) nomem();
}

static stralloc dryout = STRALLOC_ZERO;

static void dry_verdict(int v, const host *h, const nj_deny *d)
{
  static const char *const why[] = { "accepted-mail", 0, "own-network", "ipv6", "expired" };
  if (!opt_N) return;
  if (v == V_LIST) dry(&dryout, h->flags & F_WASOLD ? "keep" : "add", h, d, 0);
  else if (h->flags & F_WASOLD) dry(&dryout, "remove", h, v == V_NONE ? 0 : d, why[v]);
}

static int cmp_host(const void *a, const void *b)
{
  const host *x = genalloc_s(host, &hosts) + *(const uint32_t *)a;
  const host *y = genalloc_s(host, &hosts) + *(const uint32_t *)b;
  if (x->ip.v6 != y->ip.v6) return x->ip.v6 - y->ip.v6;
  return memcmp(x->ip.a, y->ip.a, 16);
}

/* The deny file's entries, in address order (IPv4 first). */
static void build(stralloc *out, int64_t now)
{
  genalloc order = GENALLOC_ZERO;
  uint32_t i, n = (uint32_t)genalloc_len(host, &hosts);
  if (!genalloc_ready(uint32_t, &order, n ? n : 1)) nomem();
  for (i = 0; i < n; i++) genalloc_s(uint32_t, &order)[i] = i;
  qsort(order.s, n, sizeof(uint32_t), &cmp_host);
  for (i = 0; i < n; i++) {
    const host *h = genalloc_s(host, &hosts) + genalloc_s(uint32_t, &order)[i];
    nj_deny d;
    int v = verdict(h, now, &d);
    dry_verdict(v, h, &d);
    switch (v) {
      case V_LIST:
        if (!nj_deny_fmt(out, &d, opt_r)) nomem();
        res.listed++;
        if (!(h->flags & F_OLD)) res.fresh++;
        break;
      case V_OWN: res.own++; break;
      case V_IPV6: res.v6++; break;
      case V_EXPIRED: res.expired++; break;
    }
  }
  genalloc_free(uint32_t, &order);
}

/* Writes the new list through FILE.tmp.PID, fsync, rename; leaves the
 * file untouched (and its mtime) when the bytes are the same. */
static int writeout(const char *file, int64_t now)
{
  stralloc out = STRALLOC_ZERO;
  char suffix[5 + PID_FMT];
  int same;
  if (!nj_deny_header(&out)) nomem();
  build(&out, now);
  same = oldfile.s && oldfile.len == out.len && !memcmp(oldfile.s, out.s, out.len);
  if (opt_N) {
    if (allwrite(1, dryout.s, dryout.len) < dryout.len) strerr_diefu1sys(111, "write to stdout");
    stralloc_free(&out);
    return !same;
  }
  if (!same) {
    memcpy(suffix, ".tmp.", 5);
    suffix[5 + pid_fmt(suffix + 5, getpid())] = 0;
    nj_file_replace(file, suffix, out.s, out.len);
  }
  stralloc_free(&out);
  return !same;
}

/* ------------------------------------------------------------ main */

static int64_t parse_time(const char *s)
{
  int64_t t;
  unsigned long u;
  if (s[0] == '@' && strlen(s) == NJ_TAI64N && nj_tai64n_scan(s, NJ_TAI64N, &t)) return t;
  if (nj_utc_scan(s, &t)) return t;
  if (nj_ulong_parse(s, 0, (unsigned long)NJ_SECS_MAX, &u)) return (int64_t)u;
  strerr_dief1x(100, "option -t needs Unix seconds, an @tai64n label or YYYY-MM-DDTHH:MM:SSZ");
}

static void summary(int64_t now, int wrote)
{
  stralloc sa = STRALLOC_ZERO;
  char d[NJ_UTCFMT];
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
  if (!stralloc_cats(&sa, PROG) || !stralloc_cats(&sa, ": summary")) nomem();
  for (i = 0; i < sizeof f / sizeof *f; i++) {
    char num[ULONG_FMT];
    if (!stralloc_cats(&sa, " ") || !stralloc_cats(&sa, f[i].k) || !stralloc_cats(&sa, "=") ||
        !stralloc_catb(&sa, num, ulong_fmt(num, f[i].v))) nomem();
  }
  if (!stralloc_cats(&sa, " now=") || !stralloc_catb(&sa, d, nj_utc_fmt(d, now)) ||
      !stralloc_cats(&sa, !wrote ? " file=unchanged\n" : opt_N ? " file=would-change\n" : " file=rewritten\n")) nomem();
  allwrite(2, sa.s, sa.len);
  stralloc_free(&sa);
}

static const char *rbl_text(const char *s)
{
  size_t i;
  if (!*s || strlen(s) > TEXTMAX) strerr_dief1x(100, "option -r needs a text of 1 to 200 characters");
  for (i = 0; s[i]; i++)
    if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"')
      strerr_dief1x(100, "option -r: the text must be printable ASCII without \"");
  return s;
}


int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  int64_t now = 0;
  int have_now = 0, wrote;
  const char *denyfile;

  nj_version_opt(argc, argv);
  for (;;) {
    int opt = subgetopt_r(argc, argv, "Nn:w:e:k:r:t:6q", &l);
    if (opt == -1) break;
    switch (opt) {
      case 'n': opt_n = nj_opt_ulong('n', l.arg, 1, 1000); break;
      case 'w': opt_w = (int64_t)nj_opt_ulong('w', l.arg, 1, 24 * 366) * 3600; break;
      case 'e': opt_e = (int64_t)nj_opt_ulong('e', l.arg, 1, 3660) * 86400; break;
      case 'k': readnets(l.arg); break;
      case 'r': opt_r = rbl_text(l.arg); break;
      case 't': now = parse_time(l.arg); have_now = 1; break;
      case '6': opt_6 = 1; break;
      case 'q': opt_q = 1; break;
      case 'N': opt_N = 1; break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  argc -= l.ind;
  argv += l.ind;
  if (!argc) strerr_dieusage(100, USAGE);
  denyfile = argv[0];

  readold(denyfile);
  nj_log_readfiles(argc - 1, argv + 1, inbuf, sizeof inbuf, &line, 0);
  if (!have_now) now = newest ? newest : (int64_t)time(0);
  wrote = writeout(denyfile, now);
  if (!opt_q) summary(now, wrote);
  return 0;
}
