/* SPDX-License-Identifier: ISC */
/* smtpdata.c: where a message ends, and the rule against SMTP smuggling.
 *
 * Only <CRLF>.<CRLF> ends a message (RFC 5321 4.1.1.4); the CRLF that
 * ended the DATA line counts as the first CRLF, so a message may be
 * empty. Every line of the message must end in CRLF: a bare LF or a bare
 * CR anywhere (RFC 5321 2.3.8) is reported at once, before the byte is
 * passed on, because qmail-smtpd and others read "\n.\n" (and their
 * like) as an end: a proxy that passed such bytes would let a client hide
 * a second message inside the first. The caller ends the session then
 * without ever sending an end downstream, so nothing is queued.
 *
 * Dot-stuffing ("..") is left alone: the bytes pass as they came, and the
 * downstream unstuffs them.
 *
 * The fast path finds whole CRLF lines with memchr (bench/rcptcheck.sh,
 * 100 MB throughput); only the bytes around a CR, a LF or a leading dot
 * are looked at one by one. */
#include <string.h>
#include "smtpdata.h"

/* the states inside a possible end; never kept between calls */
enum { LINESTART = NJ_DATA_LINESTART, MID = NJ_DATA_MID, CR, DOT, DOTCR };

/* From i, at a line start or inside a line, skips whole lines that end in
 * CRLF. Returns where a byte must be looked at alone (a CR, a LF, a dot
 * at a line start) or n; *st is the state there. */
static size_t lines(const char *p, size_t i, size_t n, int *st)
{
  for (;;) {
    const char *lf, *cr;
    if (i >= n) return n;
    if (*st == LINESTART && (p[i] == '.' || p[i] == '\r' || p[i] == '\n')) return i;
    lf = memchr(p + i, '\n', n - i);
    cr = memchr(p + i, '\r', (lf ? (size_t)(lf - p) : n) - i);
    if (!lf || !cr || cr + 1 != lf) {
      /* no whole line: a bare LF, a CR that does not end the line, or
         the end of the bytes */
      *st = MID;
      return cr ? (size_t)(cr - p) : lf ? (size_t)(lf - p) : n;
    }
    i = (size_t)(lf - p) + 1;
    *st = LINESTART;
  }
}

static int found(size_t *off, size_t at, int what)
{
  *off = at;
  return what;
}

int nj_data_scan(int *state, const char *p, size_t n, size_t *off)
{
  size_t i = 0, safe = 0;
  int st = *state == MID ? MID : LINESTART, safest = st;
  while (i < n) {
    char c;
    if (st == LINESTART || st == MID) {
      i = lines(p, i, n, &st);
      safe = i;                     /* all before it is inside whole lines */
      safest = st;
      if (i >= n) break;
    }
    c = p[i++];
    switch (st) {
      case LINESTART:
        if (c == '.') st = DOT;
        else if (c == '\r') st = CR;
        else if (c == '\n') return found(off, i - 1, NJ_DATA_BARELF);
        else st = MID;
        break;
      case MID:
        if (c == '\r') st = CR;
        else if (c == '\n') return found(off, i - 1, NJ_DATA_BARELF);
        break;
      case CR:
        if (c != '\n') return found(off, i - 2, NJ_DATA_BARECR);
        st = LINESTART;
        break;
      case DOT:
        if (c == '\r') st = DOTCR;
        else if (c == '\n') return found(off, i - 1, NJ_DATA_BARELF);
        else st = MID;                /* ".." and ".x": an ordinary line */
        break;
      default:                        /* DOTCR */
        if (c != '\n') return found(off, i - 2, NJ_DATA_BARECR);
        return found(off, i, NJ_DATA_END);
    }
    if (st == LINESTART || st == MID) {
      safe = i;
      safest = st;
    }
  }
  *off = safe;
  *state = safest;
  return NJ_DATA_MORE;
}
