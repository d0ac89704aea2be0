/* SPDX-License-Identifier: ISC */
/* test_calendar: the one calendar (calendar.c): YYYY-MM-DD dates, days,
 * and that UTC times do not depend on TZ. The TAI64N and UTC-time cases
 * retrydeny relies on are in test_retrydeny. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"
#include "najimi.h"

const char *PROG = "test_calendar";

static int date_is(const char *s, int64_t want)
{
  int64_t d = -1;
  return nj_date_scan(s, strlen(s), &d) == 1 && d == want;
}

static int date_bad(const char *s)
{
  int64_t d = 12345;
  return nj_date_scan(s, strlen(s), &d) == 0 && d == 12345;
}

static int fmt_is(int64_t day, const char *want)
{
  char buf[NJ_DATEFMT];
  return nj_date_fmt(buf, day) == NJ_DATEFMT - 1 && !strcmp(buf, want);
}

int main(void)
{
  char a[NJ_UTCFMT], b[NJ_UTCFMT];
  int64_t d, last;
  int ok;

  CHECK("date: the epoch is day 0", date_is("1970-01-01", 0));
  CHECK("date: 2026-11-18", date_is("2026-11-18", 1795000000 / 86400));
  CHECK("date: leap day 2000", date_is("2000-02-29", 11016));
  CHECK("date: 9999-12-31, the last", date_is("9999-12-31", NJ_SECS_MAX / 86400));
  CHECK("date: 1900-02-29 refused", date_bad("1900-02-29"));
  CHECK("date: 2027-02-29 refused", date_bad("2027-02-29"));
  CHECK("date: 2026-04-31 refused", date_bad("2026-04-31"));
  CHECK("date: month 0 refused", date_bad("2026-00-10"));
  CHECK("date: day 0 refused", date_bad("2026-01-00"));
  CHECK("date: 1969-12-31 refused", date_bad("1969-12-31"));
  CHECK("date: one-digit month refused", date_bad("2026-1-01"));
  CHECK("date: trailing byte refused", date_bad("2026-01-011"));
  CHECK("date: slashes refused", date_bad("2026/01/01"));
  CHECK("date: sign refused", date_bad("+026-01-01"));
  CHECK("date: empty refused", date_bad(""));

  CHECK("fmt: day 0", fmt_is(0, "1970-01-01"));
  CHECK("fmt: negative clamps to 1970-01-01", fmt_is(-3, "1970-01-01"));
  CHECK("fmt: past 9999 clamps", fmt_is(9999999, "9999-12-31"));
  CHECK("fmt: 2028-02-29", fmt_is(21243, "2028-02-29"));
  CHECK("day: of a time", nj_day(1795000000) == 20775 && nj_day(86399) == 0 && nj_day(86400) == 1);
  CHECK("day: negative is day 0", nj_day(-1) == 0);

  ok = 1;
  last = NJ_SECS_MAX / 86400;
  for (d = 0; d <= last && ok; d++) {
    char buf[NJ_DATEFMT];
    int64_t back;
    nj_date_fmt(buf, d);
    if (!nj_date_scan(buf, 10, &back) || back != d) { ok = 0; printf("# %lld %s\n", (long long)d, buf); }
  }
  CHECK("date: format and scan agree on every day from 1970 to 9999", ok);

  /* the label of the same second read again: only its nanoseconds differ */
  {
    int64_t t1 = 0, t2 = 0, t3 = 0, t4 = 5;
    CHECK("tai64n: a label, then the same second",
          nj_tai64n_scan("@4000000069217e8a1d0b3c2f", 25, &t1) &&
          nj_tai64n_scan("@4000000069217e8a00000000", 25, &t2) && t1 == 0x69217e80 && t2 == t1);
    CHECK("tai64n: the same second with a bad nanosecond digit is refused",
          !nj_tai64n_scan("@4000000069217e8a0000000g", 25, &t4) && t4 == 5);
    CHECK("tai64n: the next second", nj_tai64n_scan("@4000000069217e8b00000000", 25, &t3) && t3 == t1 + 1);
    CHECK("tai64n: and back", nj_tai64n_scan("@4000000069217e8a1d0b3c2f", 25, &t4) && t4 == t1);
  }

  /* a "right/" zone makes gmtime_r count leap seconds; the calendar must not */
  nj_utc_fmt(a, 1795365518);
  setenv("TZ", "right/UTC", 1);
  tzset();
  nj_utc_fmt(b, 1795365518);
  CHECK_EQ_STR("utc: the same under TZ=right/UTC", b, a);
  CHECK_EQ_STR("utc: 2026-11-22T16:38:38Z", a, "2026-11-22T16:38:38Z");

  return CHECK_DONE("test_calendar");
}
