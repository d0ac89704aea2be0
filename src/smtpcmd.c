/* SPDX-License-Identifier: ISC */
/* smtpcmd.c: the one SMTP command-line splitter and verb table.
 *
 * Strict mode (rcptcheck, which forwards what it reads to qmail-smtpd and
 * must never pass on a line that qmail-smtpd would read differently):
 *   - a line ends in CRLF; ended by a LF alone:    500 5.5.2  NJ_CMD_BARELF
 *   - a NUL, or a CR anywhere but before the LF:   501 5.5.2  NJ_CMD_NUL,
 *                                                             NJ_CMD_BARECR
 *   - at most 512 bytes, CRLF included (RFC 5321 4.5.3.1.4); a longer
 *     line is skipped up to its LF, never cut into commands, and answered
 *     once:                                        500 5.5.2  NJ_CMD_TOOLONG
 * Lenient mode (the refusal sessions of smtp.c, which only ever refuse
 * and so have nothing to protect): a LF ends a line and a CR before it is
 * dropped; NUL and CR are taken as they come; at most 1024 bytes before
 * the LF, a longer line gets the same 500.
 *
 * Both modes: the verb is what comes before the first space (or CR),
 * in any case; the argument follows the spaces after it, as in
 * qmail-smtpd's commands(). */
#include <string.h>
#include <skalibs/bytestr.h>
#include "smtpcmd.h"

static const struct {
  const char *name;
  unsigned char len;
  unsigned char verb;
} verbs[] = {
  { "HELO", 4, NJ_VERB_HELO }, { "EHLO", 4, NJ_VERB_EHLO },
  { "MAIL", 4, NJ_VERB_MAIL }, { "RCPT", 4, NJ_VERB_RCPT },
  { "DATA", 4, NJ_VERB_DATA }, { "BDAT", 4, NJ_VERB_BDAT },
  { "RSET", 4, NJ_VERB_RSET }, { "NOOP", 4, NJ_VERB_NOOP },
  { "QUIT", 4, NJ_VERB_QUIT }, { "STARTTLS", 8, NJ_VERB_STARTTLS },
};

static const struct {
  const char *reply;
  const char *why;
} bad[] = {
  [NJ_CMD_TOOLONG] = { "500 5.5.2 command line too long", "toolong" },
  [NJ_CMD_BARELF] = { "500 5.5.2 command lines must end with CRLF", "bare-lf" },
  [NJ_CMD_NUL] = { "501 5.5.2 NUL or bare CR in command", "nul" },
  [NJ_CMD_BARECR] = { "501 5.5.2 NUL or bare CR in command", "bare-cr" },
};

const char *nj_cmd_reply(int status)
{
  return status >= NJ_CMD_TOOLONG && status <= NJ_CMD_BARECR ? bad[status].reply : 0;
}

const char *nj_cmd_why(int status)
{
  return status >= NJ_CMD_TOOLONG && status <= NJ_CMD_BARECR ? bad[status].why : 0;
}

/* Names the verb of a line body and finds its argument. */
static void parse(nj_cmd *c, const char *p, size_t body)
{
  size_t i = 0, k;
  while (i < body && p[i] != ' ' && p[i] != '\r') i++;
  c->verb = NJ_VERB_OTHER;
  for (k = 0; k < sizeof verbs / sizeof *verbs; k++)
    if (i == verbs[k].len && !case_diffb(p, i, verbs[k].name)) {
      c->verb = verbs[k].verb;
      break;
    }
  while (i < body && p[i] == ' ') i++;
  c->arg = p + i;
  c->arglen = body - i;
  c->status = NJ_CMD_OK;
}

size_t nj_cmd_next(nj_cmdreader *r, const char *p, size_t n, nj_cmd *c)
{
  int strict = r->mode == NJ_CMD_STRICT;
  size_t max = strict ? NJ_CMD_LINEMAX : NJ_CMD_LENIENTMAX, body;
  const char *lf = 0;
  c->status = NJ_CMD_MORE;
  c->verb = NJ_VERB_OTHER;
  c->line = c->arg = p;
  c->len = c->arglen = 0;
  if (!r->skipping) {
    lf = memchr(p, '\n', n < max ? n : max);
    if (!lf && n < max) return 0;
    if (!lf) r->skipping = 1;
  }
  if (r->skipping) {                     /* the rest of an overlong line */
    lf = memchr(p, '\n', n);
    if (!lf) { c->len = n; return n; }
    r->skipping = 0;
    c->len = (size_t)(lf - p) + 1;
    c->status = NJ_CMD_TOOLONG;
    return c->len;
  }
  c->len = (size_t)(lf - p) + 1;
  body = c->len - 1;
  if (body && p[body - 1] == '\r') body--;
  else if (strict) { c->status = NJ_CMD_BARELF; return c->len; }
  if (strict && memchr(p, 0, body)) c->status = NJ_CMD_NUL;
  else if (strict && memchr(p, '\r', body)) c->status = NJ_CMD_BARECR;
  else parse(c, p, body);
  return c->len;
}
