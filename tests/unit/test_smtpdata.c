/* SPDX-License-Identifier: ISC */
/* test_smtpdata: the DATA scanner (smtpdata.c), byte by byte: where a
 * message ends, across every read boundary, and every bare CR / bare LF
 * sequence that could smuggle a second message. */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "smtpdata.h"

const char *PROG = "test_smtpdata";

/* Feeds the n bytes of msg to the scanner as rcptcheck does: they arrive
 * in pieces (cuts[k]: where piece k ends), and what the scanner holds back
 * is given again at the start of the next piece. Returns the result, *at
 * its offset in msg (NJ_DATA_MORE: where scanning stopped), *passed the
 * bytes a proxy would have passed on by then. */
static int feed(const char *msg, size_t n, const size_t *cuts, size_t ncuts,
                size_t *at, size_t *passed)
{
  int st = NJ_DATA_LINESTART;
  size_t pos = 0, k;
  for (k = 0; k <= ncuts; k++) {
    size_t avail = k < ncuts && cuts[k] < n ? cuts[k] : n, off;
    int r;
    if (avail <= pos) continue;
    r = nj_data_scan(&st, msg + pos, avail - pos, &off);
    if (r != NJ_DATA_MORE) {
      *at = pos + off;
      *passed = r == NJ_DATA_END ? pos + off : pos;
      return r;
    }
    if (off > avail - pos || avail - pos - off > 2) return -1;   /* held back too much */
    pos += off;
  }
  *at = *passed = pos;
  return NJ_DATA_MORE;
}

/* In one piece, cut once at every position, and one byte at a time: the
 * same result at the same offset every time, and never a byte passed on
 * beyond it. */
static int scans_as(const char *msg, size_t n, int want, size_t wantat)
{
  size_t at, passed, k, cuts[4096];
  if (feed(msg, n, 0, 0, &at, &passed) != want || at != wantat) return 0;
  for (k = 1; k < n; k++) {
    if (feed(msg, n, &k, 1, &at, &passed) != want || at != wantat) {
      printf("    # cut at %zu: at %zu\n", k, at);
      return 0;
    }
    if (passed > at) return 0;
  }
  for (k = 0; k + 1 < n && k < 4096; k++) cuts[k] = k + 1;
  if (feed(msg, n, cuts, k, &at, &passed) != want || at != wantat) return 0;
  return passed <= at && (want != NJ_DATA_END || passed == at);
}

#define SCANS(name, lit, want, at) CHECK(name, scans_as(lit, sizeof lit - 1, want, at))

/* the held-back tail and the state after one call */
static int holds(const char *msg, int st, size_t wantoff, int wantst)
{
  size_t off = 99;
  int r = nj_data_scan(&st, msg, strlen(msg), &off);
  return r == NJ_DATA_MORE && off == wantoff && st == wantst;
}

int main(void)
{
  /* the end of a message */
  SCANS("end: text, then CRLF.CRLF", "hello\r\n.\r\n", NJ_DATA_END, 10);
  SCANS("end: an empty message (the DATA line's CRLF counts)", ".\r\n", NJ_DATA_END, 3);
  SCANS("end: CRLF.CRLF at the very start (one empty line)", "\r\n.\r\n", NJ_DATA_END, 5);
  SCANS("end: only the first of two ends counts", "a\r\n.\r\nb\r\n.\r\n", NJ_DATA_END, 6);
  SCANS("end: commands after the dot are not part of the message",
        "a\r\n.\r\nMAIL FROM:<x@y>\r\n", NJ_DATA_END, 6);
  SCANS("no end: a message still going", "Subject: x\r\n\r\nbody\r\n", NJ_DATA_MORE, 20);

  /* dot lines inside the message */
  SCANS("dot-stuffing: \"..\" is no end", "..\r\n.\r\n", NJ_DATA_END, 7);
  SCANS("dot-stuffing: \"..\" inside", "a\r\n..\r\n.\r\n", NJ_DATA_END, 10);
  SCANS("dot line: \".x\" is no end", "a\r\n.x\r\n.\r\n", NJ_DATA_END, 10);
  SCANS("dot line: a dot inside a line is no end", "a.\r\nb\r\n.\r\n", NJ_DATA_END, 10);
  SCANS("dot line: \"...\" then the end", "...\r\n.\r\n", NJ_DATA_END, 8);
  SCANS("only ordinary bytes: NUL and 8-bit", "a\0\xff\x80\r\n\0\r\n.\r\n", NJ_DATA_END, 12);

  /* smuggling: every bare LF / bare CR sequence, reported at its byte */
  SCANS("smuggling \\n.\\n: bare LF", "a\n.\nMAIL\r\n", NJ_DATA_BARELF, 1);
  SCANS("smuggling \\r\\n.\\n: bare LF after the dot", "a\r\n.\nMAIL\r\n", NJ_DATA_BARELF, 4);
  SCANS("smuggling \\n.\\r\\n: bare LF before the dot", "a\n.\r\nMAIL\r\n", NJ_DATA_BARELF, 1);
  SCANS("smuggling \\r.\\r\\n: bare CR", "a\r.\r\nMAIL\r\n", NJ_DATA_BARECR, 1);
  SCANS("smuggling \\r\\n.\\r\\r\\n: bare CR after the dot", "a\r\n.\r\r\nMAIL\r\n", NJ_DATA_BARECR, 4);
  SCANS("smuggling \\r\\n.\\rX: bare CR", "a\r\n.\rX", NJ_DATA_BARECR, 4);
  SCANS("bare LF at the very start of DATA", "\n.\r\n", NJ_DATA_BARELF, 0);
  SCANS("bare CR at the very start of DATA", "\rX\r\n.\r\n", NJ_DATA_BARECR, 0);
  SCANS("bare LF then end at the start: \\n.\\n", "\n.\n", NJ_DATA_BARELF, 0);
  SCANS("a dot then LF at the start: .\\n", ".\n", NJ_DATA_BARELF, 1);
  SCANS("bare CR before CRLF: \\r\\r\\n", "ab\r\r\n.\r\n", NJ_DATA_BARECR, 2);
  SCANS("bare LF inside a long line", "aaaaaaaaaaaaaaaa\naaaa\r\n.\r\n", NJ_DATA_BARELF, 16);
  SCANS("bare CR inside a long line", "aaaaaaaaaaaaaaaa\raaaa\r\n.\r\n", NJ_DATA_BARECR, 16);
  SCANS("bare LF after good lines", "line one\r\nline two\r\nthree\n", NJ_DATA_BARELF, 25);
  SCANS("bare CR at a line start", "a\r\n\rb\r\n.\r\n", NJ_DATA_BARECR, 3);
  SCANS("bare LF after an empty line", "a\r\n\r\n\n", NJ_DATA_BARELF, 5);

  /* what is held back: at most the start of a possible end */
  CHECK("held: a CR at the end waits for its LF", holds("abc\r", NJ_DATA_LINESTART, 3, NJ_DATA_MID));
  CHECK("held: a dot at a line start waits", holds("abc\r\n.", NJ_DATA_LINESTART, 5, NJ_DATA_LINESTART));
  CHECK("held: dot and CR wait", holds("abc\r\n.\r", NJ_DATA_LINESTART, 5, NJ_DATA_LINESTART));
  CHECK("held: nothing after a whole line", holds("abc\r\n", NJ_DATA_LINESTART, 5, NJ_DATA_LINESTART));
  CHECK("held: nothing inside a line", holds("abc", NJ_DATA_LINESTART, 3, NJ_DATA_MID));
  CHECK("held: a lone dot at the start of DATA", holds(".", NJ_DATA_LINESTART, 0, NJ_DATA_LINESTART));
  CHECK("state kept: mid-line, a dot is no line start", holds(".\r\n", NJ_DATA_MID, 3, NJ_DATA_LINESTART));
  {
    int st = NJ_DATA_MID;
    size_t off;
    CHECK("state kept: mid-line, \\r\\n.\\r\\n ends", nj_data_scan(&st, "\r\n.\r\n", 5, &off) == NJ_DATA_END && off == 5);
    st = NJ_DATA_MID;
    CHECK("state kept: mid-line, a LF is bare", nj_data_scan(&st, "\n", 1, &off) == NJ_DATA_BARELF && off == 0);
    st = NJ_DATA_LINESTART;
    CHECK("empty range: nothing to pass", nj_data_scan(&st, "", 0, &off) == NJ_DATA_MORE && off == 0);
  }

  /* "\r\n.\r\n" split at each of its positions after a body line */
  {
    const char msg[] = "body\r\n.\r\n";
    size_t k, at, passed, bad = 0;
    for (k = 4; k < sizeof msg - 1; k++)
      if (feed(msg, sizeof msg - 1, &k, 1, &at, &passed) != NJ_DATA_END || at != 9 || passed != 9) bad++;
    CHECK("end: CRLF.CRLF split after each of its bytes", bad == 0);
  }
  return CHECK_DONE(PROG);
}
