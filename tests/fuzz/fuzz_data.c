/* SPDX-License-Identifier: ISC */
/* fuzz_data: a libFuzzer target for the SMTP session's byte parsers.
 * Mostly the DATA scanner (smtpdata.c), checked against a byte-at-a-time
 * reference model that has the whole message at hand, with the bytes
 * arriving in random pieces as they do from a socket; then the command
 * splitter (smtpcmd.c) against a model of its rules, and the reply
 * parser and EHLO filter (replyq.c) for their invariants.
 *   input: [selector] [number of pieces] [piece sizes...] [bytes...]
 *   make fuzz [FUZZTIME=seconds]     (clang with libFuzzer) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "smtpdata.h"
#include "smtpcmd.h"
#include "replyq.h"

const char *PROG = "fuzz_data";

#define MAXIN 8192

static void must(int cond, const char *what)
{
  if (!cond) { fprintf(stderr, "invariant broken: %s\n", what); abort(); }
}

/* The DATA rules, trivially: the message is read as if it followed the
 * CRLF of the DATA line; the first of a bare LF, a CR not followed by LF,
 * or "\r\n.\r\n" decides. Without one, *hold is what a scanner must keep
 * back: the start of a possible end. */
static int model(const uint8_t *m, size_t n, size_t *at, size_t *hold)
{
  static uint8_t v[MAXIN + 2];
  size_t j, len = n + 2;
  v[0] = '\r';
  v[1] = '\n';
  memcpy(v + 2, m, n);
  for (j = 2; j < len; j++) {
    if (v[j] == '\n' && v[j - 1] != '\r') { *at = j - 2; return NJ_DATA_BARELF; }
    if (v[j] == '\r' && j + 1 < len && v[j + 1] != '\n') { *at = j - 2; return NJ_DATA_BARECR; }
    if (v[j] == '\n' && j >= 4 && !memcmp(v + j - 4, "\r\n.\r\n", 5)) { *at = j - 1; return NJ_DATA_END; }
  }
  *hold = len >= 4 && !memcmp(v + len - 4, "\r\n.\r", 4) ? 2
        : len >= 3 && !memcmp(v + len - 3, "\r\n.", 3) ? 1
        : v[len - 1] == '\r' ? 1 : 0;
  *at = n - *hold;
  return NJ_DATA_MORE;
}

/* The scanner, fed piece by piece as rcptcheck feeds it: held-back bytes
 * come again at the start of the next call. */
static void check_data(const uint8_t *m, size_t n, const size_t *cut, size_t ncut)
{
  size_t pos = 0, k, at, hold = 0, off;
  int st = NJ_DATA_LINESTART, r = NJ_DATA_MORE, want = model(m, n, &at, &hold);
  for (k = 0; k <= ncut; k++) {
    size_t avail = k < ncut && cut[k] < n ? cut[k] : n;
    if (avail <= pos) continue;
    r = nj_data_scan(&st, (const char *)m + pos, avail - pos, &off);
    must(off <= avail - pos, "offset in range");
    if (r != NJ_DATA_MORE) { off += pos; break; }
    must(avail - pos - off <= 2, "at most 2 bytes held back");
    must(st == NJ_DATA_LINESTART || st == NJ_DATA_MID, "state between calls");
    pos += off;
    off = pos;
  }
  if (n == 0) off = 0;
  must(r == want, "same verdict as the model");
  must(off == at, "same offset as the model");
  must(pos <= at, "nothing passed beyond the verdict");
}

/* The strict and lenient line rules, trivially. */
static int line_model(int mode, const uint8_t *p, size_t len)
{
  size_t max = mode == NJ_CMD_STRICT ? NJ_CMD_LINEMAX : NJ_CMD_LENIENTMAX, body = len - 1;
  if (len > max) return NJ_CMD_TOOLONG;
  if (mode != NJ_CMD_STRICT) return NJ_CMD_OK;
  if (!body || p[body - 1] != '\r') return NJ_CMD_BARELF;
  if (memchr(p, 0, body - 1)) return NJ_CMD_NUL;
  if (memchr(p, '\r', body - 1)) return NJ_CMD_BARECR;
  return NJ_CMD_OK;
}

static void check_cmd(int mode, const uint8_t *m, size_t n, const size_t *cut, size_t ncut)
{
  nj_cmdreader rd = NJ_CMDREADER(mode);
  size_t pos = 0, start = 0, k;
  for (k = 0; k <= ncut; k++) {
    size_t avail = k < ncut && cut[k] < n ? cut[k] : n;
    for (;;) {
      nj_cmd c;
      size_t used;
      if (avail < pos) break;
      used = nj_cmd_next(&rd, (const char *)m + pos, avail - pos, &c);
      must(used <= avail - pos && c.len == used, "bytes taken");
      pos += used;
      if (c.status == NJ_CMD_MORE) break;
      must(m[pos - 1] == '\n' && !memchr(m + start, '\n', pos - 1 - start), "one whole line");
      must(c.status == line_model(mode, m + start, pos - start), "line status as the model");
      if (c.status == NJ_CMD_OK)
        must(c.arg >= c.line && c.arg + c.arglen <= c.line + c.len, "argument inside the line");
      start = pos;
    }
  }
}

static void check_reply(const uint8_t *m, size_t n)
{
  static char out[2 * MAXIN + 2 + NJ_REPLY_ADDMAX];
  long l = nj_reply_len((const char *)m, n);
  unsigned int f;
  must(l <= (long)n, "reply length bound");
  if (l <= 0) return;
  must(m[l - 1] == '\n', "a reply ends a line");
  for (f = 0; f < 8; f++) {
    size_t w = nj_reply_copy(out, (const char *)m, (size_t)l, f);
    must(w <= 2 * (size_t)l + 2 + (f & NJ_REPLY_ADDTLS ? NJ_REPLY_ADDMAX : 0), "copy bound");
    if (w < NJ_REPLYMAX - 1)   /* (a CR added to each line may grow it past that) */
      must(nj_reply_len(out, w) == (long)w, "a copy is one whole reply");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t cut[64], ncut, k, n, at = 0;
  const uint8_t *m;
  if (size < 2 || size > MAXIN) return 0;
  ncut = data[1] % 64;
  if (size < 2 + ncut) return 0;
  m = data + 2 + ncut;
  n = size - 2 - ncut;
  for (k = 0; k < ncut; k++) cut[k] = (at += 1 + data[2 + k] % 32);   /* piece ends */
  switch (data[0] % 8) {
    case 5: check_cmd(NJ_CMD_STRICT, m, n, cut, ncut); break;
    case 6: check_cmd(NJ_CMD_LENIENT, m, n, cut, ncut); break;
    case 7: check_reply(m, n); break;
    default: check_data(m, n, cut, ncut); break;
  }
  return 0;
}
