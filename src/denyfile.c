/* SPDX-License-Identifier: ISC */
/* denyfile.c: retrydeny's deny file, written and read back (denyfile.h). */
#include <string.h>
#include <skalibs/genalloc.h>
#include <skalibs/strerr.h>
#include <skalibs/stralloc.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "denyfile.h"

#define RULE_DENY ":deny"
#define RULE_ALLOW ":allow,"

/* ------------------------------------------------------------ writing */

int nj_deny_header(stralloc *sa)
{
  return stralloc_cats(sa,
    "# Written by retrydeny(8): hosts refused permanently again and again.\n"
    "# Do not edit; put your own rules in tcp.smtp, which comes first.\n");
}

static int catdate(stralloc *sa, const char *key, int64_t t)
{
  char d[NJ_UTCFMT];
  return stralloc_cats(sa, key) && stralloc_catb(sa, d, nj_utc_fmt(d, t));
}

int nj_deny_fmt(stralloc *sa, const nj_deny *d, const char *rbl)
{
  char ip[NJ_IPFMT], num[ULONG_FMT];
  size_t iplen = nj_ip_fmt(ip, &d->ip);
  if (!stralloc_cats(sa, "# ") || !stralloc_catb(sa, ip, iplen) ||
      !catdate(sa, " expires=", d->expires) ||
      !stralloc_cats(sa, " sessions=") ||
      !stralloc_catb(sa, num, ulong_fmt(num, d->sessions)) ||
      !catdate(sa, " first=", d->first) || !catdate(sa, " last=", d->last) ||
      !stralloc_cats(sa, "\n") || !stralloc_catb(sa, ip, iplen)) return 0;
  if (!rbl) return stralloc_cats(sa, RULE_DENY "\n");
  return stralloc_cats(sa, RULE_ALLOW "RBLSMTPD=\"") &&
         (rbl[0] == '-' || stralloc_cats(sa, "-")) &&
         stralloc_cats(sa, rbl) && stralloc_cats(sa, "\"\n");
}

/* ------------------------------------------------------------ reading */

/* The next word of s[*i..n) after spaces; its length (0 at the end). */
static size_t word(const char *s, size_t n, size_t *i, const char **w)
{
  size_t b = *i, e;
  while (b < n && s[b] == ' ') b++;
  for (e = b; e < n && s[e] != ' '; e++) ;
  *w = s + b;
  *i = e;
  return e - b;
}

/* The value of the next word when it is "key=value". */
static int field(const char *s, size_t n, size_t *i, const char *key,
                 const char **v, size_t *vlen)
{
  const char *w;
  size_t wl = word(s, n, i, &w), kl = strlen(key);
  if (wl <= kl || memcmp(w, key, kl) || w[kl] != '=') return 0;
  *v = w + kl + 1;
  *vlen = wl - kl - 1;
  return 1;
}

static int ip_of(const char *s, size_t n, nj_ip *ip)
{
  char buf[NJ_IPFMT];
  if (n >= sizeof buf) return 0;
  memcpy(buf, s, n);
  buf[n] = 0;
  return nj_ip_parse(buf, ip);
}

static int utc_of(const char *s, size_t n, int64_t *t)
{
  char buf[NJ_UTCFMT];
  if (n != NJ_UTCFMT - 1) return 0;
  memcpy(buf, s, n);
  buf[n] = 0;
  return nj_utc_scan(buf, t);
}

/* A comment (after its '#'): 1 when it is the evidence of an entry, 0
 * when it is another comment, -1 when it starts like one but is
 * unreadable. The fields come in this order; more may follow. */
static int evidence(const char *s, size_t n, nj_deny *d)
{
  const char *w, *ex, *se, *fi, *la;
  size_t i = 0, wl = word(s, n, &i, &w), exl, sel, fil, lal;
  unsigned long count;
  if (i >= n || !ip_of(w, wl, &d->ip)) return 0;
  if (!field(s, n, &i, "expires", &ex, &exl) || !field(s, n, &i, "sessions", &se, &sel) ||
      !field(s, n, &i, "first", &fi, &fil) || !field(s, n, &i, "last", &la, &lal)) return -1;
  if (!nj_ulong_parsen(se, sel, 0, NJ_DENY_SESSIONMAX, &count) ||
      !utc_of(fi, fil, &d->first) || !utc_of(la, lal, &d->last)) return -1;
  d->sessions = (uint32_t)count;
  if (!utc_of(ex, exl, &d->expires)) d->expires = 0;   /* informational */
  return 1;
}

/* A rule "IP:deny..." or "IP:allow,..." for the address ip. */
static int rule_for(const char *s, size_t n, const nj_ip *ip)
{
  const char *r = memmem(s, n, RULE_DENY, sizeof RULE_DENY - 1);
  const char *r2 = memmem(s, n, RULE_ALLOW, sizeof RULE_ALLOW - 1);
  nj_ip a;
  if (!r || (r2 && r2 < r)) r = r2;
  if (!r || !ip_of(s, (size_t)(r - s), &a)) return 0;
  return a.v6 == ip->v6 && !memcmp(a.a, ip->a, 16);
}

static void warn(const char *file, unsigned long line, const char *what)
{
  char num[ULONG_FMT + 1];
  num[ulong_fmt(num, line)] = 0;
  strerr_warnw5x(file, ":", num, ": ", what);
}

int nj_deny_read(const char *s, size_t len, const char *file, genalloc *out)
{
  nj_deny pend;
  int have = 0;
  unsigned long line = 0;
  size_t i = 0;
  while (i < len) {
    const char *p = s + i, *nl = memchr(p, '\n', len - i);
    size_t n = nl ? (size_t)(nl - p) : len - i;
    i += n + 1;
    line++;
    if (!n) continue;
    if (p[0] == '#') {
      have = evidence(p + 1, n - 1, &pend);
      if (have < 0) warn(file, line, "unreadable evidence comment, ignored");
      have = have > 0;
      continue;
    }
    if (!have || !rule_for(p, n, &pend.ip)) {
      warn(file, line, "not a retrydeny rule with its evidence, dropped");
      have = 0;
      continue;
    }
    have = 0;
    if (!genalloc_append(nj_deny, out, &pend)) return 0;
  }
  return 1;
}
