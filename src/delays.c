/* SPDX-License-Identifier: ISC */
/* delays.c: a distribution of delays in fixed memory (delays.h). */
#include <string.h>
#include <skalibs/types.h>
#include "delays.h"

const int64_t nj_dl_edge[NJ_DL_BINS] =
  { 0, 60, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400 };
const char *const nj_dl_label[NJ_DL_BINS] =
  { "0-1m", "1-5m", "5-10m", "10-15m", "15-30m", "30m-1h", "1-2h", "2-4h",
    "4-8h", "8-24h", "24h+" };

void nj_dl_init(nj_delays *d)
{
  memset(d, 0, sizeof *d);
}

static size_t bucket(int64_t s)
{
  if (s < NJ_DL_FINE) return (size_t)s;
  if (s >= NJ_DL_TOP) return NJ_DL_BUCKETS - 1;
  return NJ_DL_FINE + (size_t)((s - NJ_DL_FINE) / NJ_DL_STEP);
}

/* the first delay of bucket i */
static int64_t start(size_t i)
{
  if (i < NJ_DL_FINE) return (int64_t)i;
  if (i == NJ_DL_BUCKETS - 1) return NJ_DL_TOP;
  return NJ_DL_FINE + (int64_t)(i - NJ_DL_FINE) * NJ_DL_STEP;
}

void nj_dl_add(nj_delays *d, int64_t secs)
{
  if (secs < 0) secs = 0;
  d->b[bucket(secs)]++;
  d->count++;
  if (secs > d->max) d->max = secs;
}

void nj_dl_merge(nj_delays *d, const nj_delays *from)
{
  size_t i;
  for (i = 0; i < NJ_DL_BUCKETS; i++) d->b[i] += from->b[i];
  d->count += from->count;
  if (from->max > d->max) d->max = from->max;
}

int64_t nj_dl_pct(const nj_delays *d, unsigned int pct)
{
  unsigned long long rank, seen = 0;
  size_t i;
  int64_t v;
  if (!d->count || !pct) return 0;
  if (pct > 100) pct = 100;
  /* nearest rank: ceil(pct * count / 100), at least 1 */
  rank = ((unsigned long long)pct * d->count + 99) / 100;
  if (!rank) rank = 1;
  for (i = 0; i < NJ_DL_BUCKETS; i++) {
    seen += d->b[i];
    if (seen >= rank) break;
  }
  if (i == NJ_DL_BUCKETS) return d->max;
  v = start(i);
  return v > d->max ? d->max : v;
}

void nj_dl_bins(const nj_delays *d, unsigned long *bin)
{
  size_t i, k = 0;
  memset(bin, 0, NJ_DL_BINS * sizeof *bin);
  for (i = 0; i < NJ_DL_BUCKETS; i++) {
    int64_t s = start(i);
    while (k + 1 < NJ_DL_BINS && s >= nj_dl_edge[k + 1]) k++;
    bin[k] += d->b[i];
  }
}

unsigned int nj_dl_bar(unsigned long n, unsigned long max, unsigned int width)
{
  if (!n || !max) return 0;
  if (n >= max) return width;
  return (unsigned int)(((unsigned long long)n * width + max - 1) / max);
}

static size_t two(char *buf, int64_t v)
{
  buf[0] = (char)('0' + v / 10 % 10);
  buf[1] = (char)('0' + v % 10);
  return 2;
}

size_t nj_dl_dur(char *buf, int64_t s)
{
  size_t n;
  int64_t big, small;
  const char *u1, *u2;
  if (s < 0) s = 0;
  if (s < 60) {
    n = ulong_fmt(buf, (unsigned long)s);
    buf[n++] = 's';
    buf[n] = 0;
    return n;
  }
  if (s < 3600) { big = s / 60; small = s % 60; u1 = "m"; u2 = "s"; }
  else if (s < 86400) { big = s / 3600; small = s / 60 % 60; u1 = "h"; u2 = "m"; }
  else { big = s / 86400; small = s / 3600 % 24; u1 = "d"; u2 = "h"; }
  n = ulong_fmt(buf, (unsigned long)big);
  buf[n++] = u1[0];
  n += two(buf + n, small);
  buf[n++] = u2[0];
  buf[n] = 0;
  return n;
}
