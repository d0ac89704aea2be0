/* stamp.c: the times of log lines. multilog's @tai64n labels, and the
 * UTC dates (2026-11-22T16:30:46Z) that retrydeny writes in its comments.
 * Pure arithmetic: no time zone, no locale, no leap-second table. */
#include <string.h>
#include <unistd.h>
#include "najimi.h"

/* TAI64 label of the Unix epoch as daemontools writes it: 2^62 + 10. */
#define NJ_TAIZERO 0x400000000000000aULL
#define SECS_MAX 253402300799LL        /* 9999-12-31T23:59:59Z */

static const signed char hexval[256] = {
  ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
  ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
  ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
  ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

int nj_tai64n_scan(const char *s, size_t n, int64_t *secs)
{
  uint64_t label = 0;
  size_t i;
  if (n < NJ_TAI64N || s[0] != '@') return 0;
  for (i = 1; i < NJ_TAI64N; i++) {
    int v = hexval[(unsigned char)s[i]];
    if (!v) return 0;
    if (i <= 16) label = (label << 4) | (uint64_t)(v - 1);
  }
  if (label < NJ_TAIZERO || label - NJ_TAIZERO > (uint64_t)SECS_MAX) return 0;
  *secs = (int64_t)(label - NJ_TAIZERO);
  return 1;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
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

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
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
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put_num(char *b, unsigned long v, int width)
{
  while (width--) {
    b[width] = (char)('0' + v % 10);
    v /= 10;
  }
}

size_t nj_utc_fmt(char *buf, int64_t secs)
{
  int64_t y, days, rem;
  unsigned m, d;
  if (secs < 0) secs = 0;
  if (secs > SECS_MAX) secs = SECS_MAX;
  days = secs / 86400;
  rem = secs % 86400;
  civil_from_days(days, &y, &m, &d);
  memcpy(buf, "0000-00-00T00:00:00Z", NJ_UTCFMT);
  put_num(buf, (unsigned long)y, 4);
  put_num(buf + 5, m, 2);
  put_num(buf + 8, d, 2);
  put_num(buf + 11, (unsigned long)(rem / 3600), 2);
  put_num(buf + 14, (unsigned long)(rem / 60 % 60), 2);
  put_num(buf + 17, (unsigned long)(rem % 60), 2);
  return NJ_UTCFMT - 1;
}

static int get_num(const char *s, int width, unsigned long *v)
{
  *v = 0;
  while (width--) {
    if (*s < '0' || *s > '9') return 0;
    *v = *v * 10 + (unsigned long)(*s++ - '0');
  }
  return 1;
}

int nj_utc_scan(const char *s, int64_t *secs)
{
  static const unsigned char mdays[13] =
    { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  unsigned long y, mo, d, h, mi, se;
  if (strlen(s) != NJ_UTCFMT - 1) return 0;
  if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') return 0;
  if (!get_num(s, 4, &y) || !get_num(s + 5, 2, &mo) || !get_num(s + 8, 2, &d) ||
      !get_num(s + 11, 2, &h) || !get_num(s + 14, 2, &mi) ||
      !get_num(s + 17, 2, &se)) return 0;
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo] ||
      h > 23 || mi > 59 || se > 59) return 0;
  if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
    return 0;
  *secs = days_from_civil((int64_t)y, (unsigned)mo, (unsigned)d) * 86400
          + (int64_t)(h * 3600 + mi * 60 + se);
  return 1;
}

size_t nj_tai64n_fmt(char *buf, int64_t secs)
{
  static const char hex[] = "0123456789abcdef";
  uint64_t label = NJ_TAIZERO + (uint64_t)(secs < 0 ? 0 : secs);
  int i;
  buf[0] = '@';
  for (i = 16; i >= 1; i--) {
    buf[i] = hex[label & 15];
    label >>= 4;
  }
  memset(buf + 17, '0', 8);
  buf[NJ_TAI64N] = 0;
  return NJ_TAI64N;
}
