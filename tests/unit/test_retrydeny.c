/* SPDX-License-Identifier: ISC */
/* test_retrydeny: unit tests of the log-time helpers retrydeny uses
 * (calendar.c): TAI64N labels and the UTC dates of its comments. */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "najimi.h"

const char *PROG = "test_retrydeny";


static int tai_is(const char *s, int64_t want)
{
  int64_t t = -1;
  return nj_tai64n_scan(s, strlen(s), &t) == 1 && t == want;
}

static int tai_bad(const char *s)
{
  int64_t t = 12345;
  return nj_tai64n_scan(s, strlen(s), &t) == 0 && t == 12345;
}

static int utc_is(int64_t t, const char *want)
{
  char buf[NJ_UTCFMT];
  return nj_utc_fmt(buf, t) == NJ_UTCFMT - 1 && !strcmp(buf, want);
}

static int scan_is(const char *s, int64_t want)
{
  int64_t t = -1;
  return nj_utc_scan(s, &t) == 1 && t == want;
}

static int scan_bad(const char *s)
{
  int64_t t = 12345;
  return nj_utc_scan(s, &t) == 0 && t == 12345;
}

int main(void)
{
  char buf[64];
  int64_t t;
  int ok;

  /* multilog's labels: 2^62 + 10 + Unix seconds, then nanoseconds */
  CHECK("tai64n: the epoch", tai_is("@400000000000000a00000000", 0));
  CHECK("tai64n: a 2026 stamp", tai_is("@4000000069217e8a1d0b3c2f", 0x69217e80));
  CHECK("tai64n: upper-case hex", tai_is("@4000000069217E8A1D0B3C2F", 0x69217e80));
  CHECK("tai64n: extra bytes after the label are not read", tai_is("@400000000000000a00000000 greetdelay: x", 0));
  CHECK("tai64n: before 1970 refused", tai_bad("@400000000000000900000000"));
  CHECK("tai64n: first half of the TAI64 space refused", tai_bad("@000000000000000a00000000"));
  CHECK("tai64n: far future refused", tai_bad("@7fffffffffffffff00000000"));
  CHECK("tai64n: bad digit refused", tai_bad("@40000000692x7e8a1d0b3c2f"));
  CHECK("tai64n: bad digit in the nanoseconds refused", tai_bad("@4000000069217e8a1d0b3c2g"));
  CHECK("tai64n: short refused", tai_bad("@4000000069217e8a1d0b3c2"));
  CHECK("tai64n: no @ refused", tai_bad("4000000069217e8a1d0b3c2ff"));
  CHECK("tai64n: empty refused", tai_bad(""));
  nj_tai64n_fmt(buf, 1795365518);
  CHECK("tai64n: format then scan", tai_is(buf, 1795365518) && strlen(buf) == NJ_TAI64N);

  /* UTC dates */
  CHECK("utc: the epoch", utc_is(0, "1970-01-01T00:00:00Z"));
  CHECK("utc: a known date", utc_is(1795365518, "2026-11-22T16:38:38Z"));
  CHECK("utc: leap day 2028", utc_is(1835481599, "2028-02-29T23:59:59Z"));
  CHECK("utc: 2000-03-01", utc_is(951868800, "2000-03-01T00:00:00Z"));
  CHECK("utc: negative clamps to the epoch", utc_is(-5, "1970-01-01T00:00:00Z"));
  CHECK("utc: scan a known date", scan_is("2026-11-22T16:38:38Z", 1795365518));
  CHECK("utc: scan leap day 2000", scan_is("2000-02-29T00:00:00Z", 951782400));
  CHECK("utc: 2100-02-29 refused (not a leap year)", scan_bad("2100-02-29T00:00:00Z"));
  CHECK("utc: 2027-02-29 refused", scan_bad("2027-02-29T00:00:00Z"));
  CHECK("utc: month 13 refused", scan_bad("2026-13-01T00:00:00Z"));
  CHECK("utc: day 31 of April refused", scan_bad("2026-04-31T00:00:00Z"));
  CHECK("utc: hour 24 refused", scan_bad("2026-04-30T24:00:00Z"));
  CHECK("utc: second 60 refused", scan_bad("2026-04-30T23:59:60Z"));
  CHECK("utc: before 1970 refused", scan_bad("1969-12-31T23:59:59Z"));
  CHECK("utc: no Z refused", scan_bad("2026-11-22T16:38:38"));
  CHECK("utc: trailing byte refused", scan_bad("2026-11-22T16:38:38Zx"));
  CHECK("utc: space instead of T refused", scan_bad("2026-11-22 16:38:38Z"));
  CHECK("utc: sign refused", scan_bad("+026-11-22T16:38:38Z"));
  ok = 1;
  for (t = 0; t < 253402300799LL; t += 86399 * 37 + 13) {
    char d[NJ_UTCFMT];
    int64_t back;
    nj_utc_fmt(d, t);
    if (!nj_utc_scan(d, &back) || back != t) { ok = 0; printf("# %lld %s\n", (long long)t, d); break; }
  }
  CHECK("utc: format and scan agree from 1970 to 9999", ok);

  return CHECK_DONE("test_retrydeny");
}
