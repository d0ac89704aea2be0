/* SPDX-License-Identifier: ISC */
/* calendar.c: najimi's one calendar. multilog's @tai64n labels (written
 * by skalibs' timestamp_fmt), the UTC times retrydeny writes in its
 * comments (2026-11-22T16:30:46Z), the YYYY-MM-DD dates of the whitelist,
 * and day arithmetic between them.
 *
 * Unix seconds to a calendar date is done by hand, as pure arithmetic:
 * skalibs turns a struct tm into seconds only through mktime (the local
 * time zone; localtm_scan also normalises 02-30 to 03-02), and both its
 * localtm_from_utc and glibc's gmtime_r apply the leap seconds of a
 * "right/" zone when TZ names one. A UTC date must not depend on TZ. */
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <skalibs/tai.h>
#include <skalibs/types.h>
#include "najimi.h"

/* daemontools' labels: 2^62 + 10 + Unix seconds (no leap-second table,
 * as multilog writes them) */
#define TAI_UNIX (TAI_MAGIC + 10)

/* By hand, not skalibs' timestamp_scan, which calls a function per hex
 * digit: with it retrydeny took 1.79 s of CPU for bench/retrydeny.sh's
 * 1 GB log, against 0.70 s with this table (and the cache below). */
static const signed char hexval[256] = {
  ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
  ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
  ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
  ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* n hex digits at s into *v; 0 if one is not a hex digit */
static int hexdigits(const char *s, unsigned int n, uint64_t *v)
{
  uint64_t u = 0;
  unsigned int i;
  for (i = 0; i < n; i++) {
    int d = hexval[(unsigned char)s[i]];
    if (!d) return 0;
    u = (u << 4) | (uint64_t)(d - 1);
  }
  *v = u;
  return 1;
}

int nj_tai64n_scan(const char *s, size_t n, int64_t *secs)
{
  /* A log's lines come in order, many in the same second: the seconds of
   * the last label read are kept, and a label that starts with the same
   * 17 bytes only has its nanoseconds checked. bench/retrydeny.sh: 0.66 s
   * of CPU for its 1 GB log, against 0.75 s without. */
  static char last[17];
  static int64_t lastsecs;
  uint64_t label, nano;
  if (n < NJ_TAI64N || s[0] != '@') return 0;
  if (last[0] && !memcmp(s, last, 17)) {
    if (!hexdigits(s + 17, 8, &nano)) return 0;
    *secs = lastsecs;
    return 1;
  }
  if (!hexdigits(s + 1, 16, &label) || !hexdigits(s + 17, 8, &nano)) return 0;
  if (label < TAI_UNIX || label - TAI_UNIX > (uint64_t)NJ_SECS_MAX) return 0;
  *secs = (int64_t)(label - TAI_UNIX);
  memcpy(last, s, 17);
  lastsecs = *secs;
  return 1;
}

size_t nj_tai64n_fmt(char *buf, int64_t secs)
{
  tain t;
  t.sec.x = TAI_UNIX + (uint64_t)(secs < 0 ? 0 : secs);
  t.nano = 0;
  timestamp_fmt(buf, &t);
  buf[NJ_TAI64N] = 0;
  return NJ_TAI64N;
}

/* ------------------------------------------------------------ days */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), and back. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
  int64_t era;
  unsigned yoe, doy, doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, unsigned *y, unsigned *m, unsigned *d)
{
  int64_t era;
  unsigned doe, yoe, doy, mp;
  z += 719468;
  era = (z >= 0 ? z : z - 146096) / 146097;
  doe = (unsigned)(z - era * 146097);
  yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (unsigned)((int64_t)yoe + era * 400 + (*m <= 2));
}

int64_t nj_day(int64_t secs)
{
  if (secs < 0) return 0;
  if (secs > NJ_SECS_MAX) secs = NJ_SECS_MAX;
  return secs / NJ_DAYSECS;
}

/* width decimal digits at s; 0 if one is not a digit */
static int digits(const char *s, unsigned width, unsigned *v)
{
  *v = 0;
  while (width--) {
    if (*s < '0' || *s > '9') return 0;
    *v = *v * 10 + (unsigned)(*s++ - '0');
  }
  return 1;
}

int nj_date_scan(const char *s, size_t n, int64_t *day)
{
  static const unsigned char mdays[13] =
    { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  unsigned y, m, d;
  if (n != NJ_DATEFMT - 1 || s[4] != '-' || s[7] != '-') return 0;
  if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d)) return 0;
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m]) return 0;
  if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
    return 0;
  *day = days_from_civil(y, m, d);
  return 1;
}

size_t nj_date_fmt(char *buf, int64_t day)
{
  unsigned y, m, d;
  if (day < 0) day = 0;
  if (day > NJ_SECS_MAX / NJ_DAYSECS) day = NJ_SECS_MAX / NJ_DAYSECS;
  civil_from_days(day, &y, &m, &d);
  uint0_fmt(buf, y, 4);
  buf[4] = '-';
  uint0_fmt(buf + 5, m, 2);
  buf[7] = '-';
  uint0_fmt(buf + 8, d, 2);
  buf[10] = 0;
  return NJ_DATEFMT - 1;
}

/* ------------------------------------------------------- UTC times */

size_t nj_utc_fmt(char *buf, int64_t secs)
{
  unsigned rem;
  if (secs < 0) secs = 0;
  if (secs > NJ_SECS_MAX) secs = NJ_SECS_MAX;
  rem = (unsigned)(secs % NJ_DAYSECS);
  nj_date_fmt(buf, secs / NJ_DAYSECS);
  buf[10] = 'T';
  uint0_fmt(buf + 11, rem / 3600, 2);
  buf[13] = ':';
  uint0_fmt(buf + 14, rem / 60 % 60, 2);
  buf[16] = ':';
  uint0_fmt(buf + 17, rem % 60, 2);
  buf[19] = 'Z';
  buf[20] = 0;
  return NJ_UTCFMT - 1;
}

int nj_utc_scan(const char *s, int64_t *secs)
{
  unsigned h, mi, se;
  int64_t day;
  if (strlen(s) != NJ_UTCFMT - 1) return 0;
  if (s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z') return 0;
  if (!nj_date_scan(s, 10, &day)) return 0;
  if (!digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
    return 0;
  if (h > 23 || mi > 59 || se > 59) return 0;
  *secs = day * NJ_DAYSECS + (int64_t)(h * 3600 + mi * 60 + se);
  return 1;
}

void nj_clock(struct timespec *ts)
{
  if (syscall(SYS_clock_gettime, CLOCK_REALTIME, ts) < 0) clock_gettime(CLOCK_REALTIME, ts);
}
