/* SPDX-License-Identifier: ISC */
/* test_delays: najimi-report's distribution of delays (delays.c):
 * percentiles by nearest rank, exact below 10 minutes, floored to the
 * minute above, the max kept; the histogram's bins and bars. */
#include <string.h>
#include "check.h"
#include "najimi.h"
#include "delays.h"

const char *PROG = "test_delays";

static nj_delays d, e;

static void fill(const long *v, size_t n)
{
  size_t i;
  nj_dl_init(&d);
  for (i = 0; i < n; i++) nj_dl_add(&d, v[i]);
}

static int dur_is(int64_t s, const char *want)
{
  char buf[NJ_DL_DURFMT];
  return nj_dl_dur(buf, s) == strlen(want) && !strcmp(buf, want);
}

int main(void)
{
  static const long ten[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
  static const long two[] = { 5, 3 };
  static const long wide[] = { 301, 305, 3599, 3661, 200000 };
  unsigned long bin[NJ_DL_BINS];
  unsigned long i, total;

  nj_dl_init(&d);
  CHECK("empty: every percentile 0, max 0, count 0",
        nj_dl_pct(&d, 50) == 0 && nj_dl_pct(&d, 90) == 0 && d.max == 0 && d.count == 0);
  fill(ten, 10);
  CHECK("1..10: median 5 (nearest rank), p90 9, p100 10",
        nj_dl_pct(&d, 50) == 5 && nj_dl_pct(&d, 90) == 9 && nj_dl_pct(&d, 100) == 10);
  CHECK("1..10: p1 is the smallest", nj_dl_pct(&d, 1) == 1);
  fill(two, 2);
  CHECK("of 3 and 5: median 3, p90 5, max 5",
        nj_dl_pct(&d, 50) == 3 && nj_dl_pct(&d, 90) == 5 && d.max == 5 && d.count == 2);
  nj_dl_init(&d);
  nj_dl_add(&d, 42);
  CHECK("one delay: it is every percentile", nj_dl_pct(&d, 50) == 42 && nj_dl_pct(&d, 90) == 42);
  nj_dl_add(&d, -7);
  CHECK("a negative delay counts as 0", nj_dl_pct(&d, 50) == 0 && d.count == 2 && d.max == 42);
  fill(wide, 5);
  CHECK("above 10 minutes: floored to the minute (3599 -> 3540)", nj_dl_pct(&d, 60) == 3540);
  CHECK("below 10 minutes: exact (301, 305)", nj_dl_pct(&d, 20) == 301 && nj_dl_pct(&d, 40) == 305);
  CHECK("above 48 hours: the percentile says 48 h, the max is exact", nj_dl_pct(&d, 100) == NJ_DL_TOP && d.max == 200000);
  CHECK("p80 of 5: the 4th, 3661 floored to 3660", nj_dl_pct(&d, 80) == 3660);
  nj_dl_bins(&d, bin);
  CHECK("bins: 301 and 305 in 5-10m, 3599 in 30m-1h, 3661 in 1-2h, 200000 in 24h+",
        bin[2] == 2 && bin[5] == 1 && bin[6] == 1 && bin[10] == 1);
  for (total = 0, i = 0; i < NJ_DL_BINS; i++) total += bin[i];
  CHECK("bins: every delay in exactly one bin", total == 5);
  nj_dl_init(&e);
  nj_dl_add(&e, 59);
  nj_dl_add(&e, 60);
  nj_dl_bins(&e, bin);
  CHECK("bins: 59 s in 0-1m, 60 s in 1-5m (edges included at the start)", bin[0] == 1 && bin[1] == 1);
  nj_dl_merge(&e, &d);
  CHECK("merge: counts add, max is the larger", e.count == 7 && e.max == 200000 && nj_dl_pct(&e, 10) == 59);
  CHECK("labels: first and last", !strcmp(nj_dl_label[0], "0-1m") && !strcmp(nj_dl_label[NJ_DL_BINS - 1], "24h+"));
  CHECK("bar: empty 0, full width, a small count at least 1",
        nj_dl_bar(0, 10, 40) == 0 && nj_dl_bar(10, 10, 40) == 40 && nj_dl_bar(1, 1000, 40) == 1 &&
        nj_dl_bar(5, 10, 40) == 20);
  CHECK("duration: 45s, 5m02s, 2h05m, 3d04h",
        dur_is(45, "45s") && dur_is(302, "5m02s") && dur_is(7500, "2h05m") && dur_is(3 * 86400 + 4 * 3600 + 5, "3d04h"));
  return CHECK_DONE(PROG);
}
