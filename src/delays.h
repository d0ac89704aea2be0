/* SPDX-License-Identifier: ISC */
/* delays.h: a distribution of delays in seconds, in fixed memory, for
 * najimi-report: how long greylisted mail waited (first 451 to first
 * pass). Pure: no I/O, no allocation.
 *
 * Buckets: one a second below NJ_DL_FINE (10 minutes), one a minute up
 * to NJ_DL_TOP (48 hours), one above. So a percentile is exact below 10
 * minutes, floored to the minute up to 48 hours, and the largest delay
 * (max) is kept exactly. */
#ifndef NJ_DELAYS_H
#define NJ_DELAYS_H

#include <stddef.h>
#include <stdint.h>

#define NJ_DL_FINE 600
#define NJ_DL_STEP 60
#define NJ_DL_TOP (48L * 3600L)
#define NJ_DL_BUCKETS (NJ_DL_FINE + (NJ_DL_TOP - NJ_DL_FINE) / NJ_DL_STEP + 1)

typedef struct nj_delays_s {
  uint32_t b[NJ_DL_BUCKETS];
  unsigned long count;
  int64_t max;            /* the largest delay added (0 when none) */
} nj_delays;

/* Empties d. */
extern void nj_dl_init(nj_delays *d);
/* Adds one delay (a negative one counts as 0). */
extern void nj_dl_add(nj_delays *d, int64_t secs);
/* Adds every delay of from to d. */
extern void nj_dl_merge(nj_delays *d, const nj_delays *from);
/* The pct-th percentile (0 < pct <= 100) by nearest rank: the smallest
 * delay v such that at least pct% of the delays are <= v (the median is
 * pct 50: of 3 and 5 it is 3). Floored to its bucket's start, but never
 * above max; 0 when d is empty. */
extern int64_t nj_dl_pct(const nj_delays *d, unsigned int pct);

/* The histogram shown (terminal and picture): NJ_DL_BINS bins, bin i
 * from nj_dl_edge[i] (included) to nj_dl_edge[i + 1] (excluded), the
 * last one open. nj_dl_label[i] names it ("0-1m", "1-5m", ... "24h+"). */
#define NJ_DL_BINS 11
extern const int64_t nj_dl_edge[NJ_DL_BINS];
extern const char *const nj_dl_label[NJ_DL_BINS];
/* The count of each bin into bin[NJ_DL_BINS]. */
extern void nj_dl_bins(const nj_delays *d, unsigned long *bin);
/* The bar of a bin: how many of width characters n of max fills
 * (rounded up, so that a bin with a count never looks empty). */
extern unsigned int nj_dl_bar(unsigned long n, unsigned long max, unsigned int width);
/* secs as a short duration into buf (room for NJ_DL_DURFMT): "45s",
 * "5m02s", "2h05m", "3d04h". Returns the length. */
#define NJ_DL_DURFMT 24
extern size_t nj_dl_dur(char *buf, int64_t secs);

#endif
