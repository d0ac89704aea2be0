/* SPDX-License-Identifier: ISC */
/* num.c: numbers parsed whole, with explicit bounds. */
#include <skalibs/types.h>
#include <skalibs/strerr.h>
#include <skalibs/env.h>
#include <stdlib.h>
#include <string.h>
#include "najimi.h"

int nj_ulong_parse(const char *s, unsigned long min, unsigned long max,
                   unsigned long *out)
{
  unsigned long u;
  size_t n;
  if (!s || *s < '0' || *s > '9') return 0;
  n = ulong_scan(s, &u);       /* stops at overflow or a non-digit */
  if (!n || s[n]) return 0;
  if (u < min || u > max) return 0;
  *out = u;
  return 1;
}

int nj_ulong_parsen(const char *s, size_t n, unsigned long min, unsigned long max,
                    unsigned long *out)
{
  /* by hand, not through a NUL-terminated copy for ulong_scan: retrydeny
   * reads a pid per refused line, and took 0.78 s of CPU for
   * bench/retrydeny.sh's 1 GB log that way, against 0.70 s */
  unsigned long u = 0;
  size_t i;
  if (!n) return 0;
  for (i = 0; i < n; i++) {
    unsigned int d = (unsigned char)s[i] - '0';
    if (d > 9 || u > (~0UL - d) / 10) return 0;   /* not a digit, or overflow */
    u = u * 10 + d;
  }
  if (u < min || u > max) return 0;
  *out = u;
  return 1;
}

unsigned long nj_env_ulong(const char *var, unsigned long def,
                           unsigned long min, unsigned long max, int clamp)
{
  char fmt[ULONG_FMT + 1];
  char san[NJ_LOGVAL + 4];
  const char *s = getenv(var);
  unsigned long u;
  if (!s) return def;
  if (nj_ulong_parse(s, min, max, &u)) return u;
  nj_sanitise(san, NJ_LOGVAL, s, strlen(s));
  if (clamp && nj_ulong_parse(s, min, ~0UL, &u) && u > max) {
    fmt[ulong_fmt(fmt, max)] = 0;
    strerr_warnw("invalid ", var, "=", san, " above the cap, using ", fmt);
    return max;
  }
  fmt[ulong_fmt(fmt, def)] = 0;
  strerr_warnw("invalid ", var, "=", san[0] ? san : "(empty)", ", using default ", fmt);
  return def;
}

unsigned long nj_opt_ulong(char opt, const char *s,
                           unsigned long min, unsigned long max)
{
  char o[2] = { opt, 0 };
  char lo[ULONG_FMT + 1], hi[ULONG_FMT + 1];
  unsigned long u;
  if (nj_ulong_parse(s, min, max, &u)) return u;
  lo[ulong_fmt(lo, min)] = 0;
  hi[ulong_fmt(hi, max)] = 0;
  strerr_dief(100, "option -", o, " needs a number from ", lo, " to ", hi);
}
