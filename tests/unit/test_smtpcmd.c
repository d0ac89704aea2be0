/* SPDX-License-Identifier: ISC */
/* test_smtpcmd: the command-line splitter and verb table (smtpcmd.c), in
 * its strict mode (rcptcheck) and its lenient mode (refusal sessions). */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "smtpcmd.h"

const char *PROG = "test_smtpcmd";

/* The first line of the n bytes at p: status, bytes taken, verb, and the
 * argument compared with arg (0: not checked). */
static int first(int mode, const char *p, size_t n, int status, size_t len,
                 int verb, const char *arg)
{
  nj_cmdreader r = NJ_CMDREADER(mode);
  nj_cmd c;
  size_t used = nj_cmd_next(&r, p, n, &c);
  if (c.status != status || used != len || c.len != len) {
    printf("    # status %d used %zu\n", c.status, used);
    return 0;
  }
  if (status != NJ_CMD_OK) return 1;
  if (c.verb != verb || c.line != p) return 0;
  return !arg || (c.arglen == strlen(arg) && !memcmp(c.arg, arg, c.arglen));
}

#define STRICT(name, lit, st, len, verb, arg) \
  CHECK(name, first(NJ_CMD_STRICT, lit, sizeof lit - 1, st, len, verb, arg))
#define LENIENT(name, lit, st, len, verb, arg) \
  CHECK(name, first(NJ_CMD_LENIENT, lit, sizeof lit - 1, st, len, verb, arg))

/* A line of n bytes (line end included) that ends with end. */
static size_t mkline(char *buf, size_t n, const char *end)
{
  size_t e = strlen(end);
  memcpy(buf, "NOOP ", 5);
  memset(buf + 5, 'x', n - 5 - e);
  memcpy(buf + n - e, end, e);
  return n;
}

/* An overlong line given in pieces of k bytes: taken bit by bit, then
 * answered once, and the next line is read as usual. */
static int overlong_in_pieces(int mode, size_t n, size_t k)
{
  static char buf[5000];
  nj_cmdreader r = NJ_CMDREADER(mode);
  nj_cmd c;
  size_t pos = 0, avail = 0, toolong = 0;
  mkline(buf, n, "\r\n");
  memcpy(buf + n, "QUIT\r\n", 6);
  while (pos < n + 6) {
    avail = avail + k < n + 6 ? avail + k : n + 6;
    for (;;) {
      size_t used = nj_cmd_next(&r, buf + pos, avail - pos, &c);
      pos += used;
      if (c.status == NJ_CMD_TOOLONG) toolong++;
      else if (c.status == NJ_CMD_OK) return toolong == 1 && pos == n + 6 && c.verb == NJ_VERB_QUIT;
      else if (c.status != NJ_CMD_MORE) return 0;
      if (c.status == NJ_CMD_MORE) break;
    }
  }
  return 0;
}

int main(void)
{
  char buf[2000];
  nj_cmdreader r = NJ_CMDREADER(NJ_CMD_STRICT);
  nj_cmd c;

  /* verbs and arguments */
  STRICT("HELO with its argument", "HELO client.test\r\n", NJ_CMD_OK, 18, NJ_VERB_HELO, "client.test");
  STRICT("verbs in any case", "rcpt to:<a@b>\r\n", NJ_CMD_OK, 15, NJ_VERB_RCPT, "to:<a@b>");
  STRICT("spaces after the verb are skipped", "RCPT   TO:<a@b>\r\n", NJ_CMD_OK, 17, NJ_VERB_RCPT, "TO:<a@b>");
  STRICT("a verb without argument", "DATA\r\n", NJ_CMD_OK, 6, NJ_VERB_DATA, "");
  STRICT("STARTTLS", "StartTLS\r\n", NJ_CMD_OK, 10, NJ_VERB_STARTTLS, "");
  STRICT("BDAT", "BDAT 10 LAST\r\n", NJ_CMD_OK, 14, NJ_VERB_BDAT, "10 LAST");
  STRICT("QUIT with an argument is QUIT", "QUIT now\r\n", NJ_CMD_OK, 10, NJ_VERB_QUIT, "now");
  STRICT("no space after the verb: another verb", "RCPTTO:<a@b>\r\n", NJ_CMD_OK, 14, NJ_VERB_OTHER, 0);
  STRICT("a longer word is another verb", "QUITTER\r\n", NJ_CMD_OK, 9, NJ_VERB_OTHER, 0);
  STRICT("a tab does not end the verb", "NOOP\tx\r\n", NJ_CMD_OK, 8, NJ_VERB_OTHER, 0);
  STRICT("an unknown verb", "VRFY x\r\n", NJ_CMD_OK, 8, NJ_VERB_OTHER, "x");
  STRICT("an empty line", "\r\n", NJ_CMD_OK, 2, NJ_VERB_OTHER, "");
  STRICT("MAIL, RSET, NOOP, EHLO", "MAIL FROM:<>\r\n", NJ_CMD_OK, 14, NJ_VERB_MAIL, "FROM:<>");
  STRICT("RSET", "RSET\r\n", NJ_CMD_OK, 6, NJ_VERB_RSET, "");
  STRICT("NOOP", "noop\r\n", NJ_CMD_OK, 6, NJ_VERB_NOOP, "");
  STRICT("EHLO", "EHLO x\r\n", NJ_CMD_OK, 8, NJ_VERB_EHLO, "x");

  /* the strict line rules */
  STRICT("incomplete: no line yet", "NOOP", NJ_CMD_MORE, 0, 0, 0);
  STRICT("bare LF", "NOOP x\nQUIT\r\n", NJ_CMD_BARELF, 7, 0, 0);
  STRICT("a LF alone", "\n", NJ_CMD_BARELF, 1, 0, 0);
  STRICT("NUL", "NOOP a\0b\r\n", NJ_CMD_NUL, 10, 0, 0);
  STRICT("bare CR", "NOOP a\rb\r\n", NJ_CMD_BARECR, 10, 0, 0);
  STRICT("CR CR LF: a bare CR", "NOOP\r\r\n", NJ_CMD_BARECR, 7, 0, 0);
  STRICT("NUL and bare CR: NUL", "NOOP\r\0\r\n", NJ_CMD_NUL, 8, 0, 0);
  CHECK("512 bytes with CRLF: a command",
        first(NJ_CMD_STRICT, buf, mkline(buf, 512, "\r\n"), NJ_CMD_OK, 512, NJ_VERB_NOOP, 0));
  CHECK("513 bytes with CRLF: too long",
        first(NJ_CMD_STRICT, buf, mkline(buf, 513, "\r\n"), NJ_CMD_TOOLONG, 513, 0, 0));
  CHECK("a 512-byte start without LF: skipping begins",
        first(NJ_CMD_STRICT, buf, 512, NJ_CMD_MORE, 512, 0, 0));
  CHECK("511 bytes without LF: waits", first(NJ_CMD_STRICT, buf, 511, NJ_CMD_MORE, 0, 0, 0));
  CHECK("an overlong line in one piece", overlong_in_pieces(NJ_CMD_STRICT, 600, 5000));
  CHECK("an overlong line 100 bytes at a time", overlong_in_pieces(NJ_CMD_STRICT, 600, 100));
  CHECK("an overlong line byte by byte", overlong_in_pieces(NJ_CMD_STRICT, 600, 1));
  CHECK("a 4000-byte line, 512 at a time", overlong_in_pieces(NJ_CMD_STRICT, 4000, 512));

  /* several lines in one buffer, in order */
  {
    const char in[] = "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nx";
    size_t pos = 0, n = sizeof in - 1;
    int v[3], k;
    for (k = 0; k < 3; k++) {
      pos += nj_cmd_next(&r, in + pos, n - pos, &c);
      v[k] = c.status == NJ_CMD_OK ? c.verb : -1;
    }
    CHECK("pipelined lines come one by one", v[0] == NJ_VERB_MAIL && v[1] == NJ_VERB_RCPT && v[2] == NJ_VERB_DATA);
    CHECK("... and the partial one waits", nj_cmd_next(&r, in + pos, n - pos, &c) == 0 && c.status == NJ_CMD_MORE);
  }

  /* lenient mode: what a refusal session has always answered */
  LENIENT("lenient: bare LF ends a line", "QUIT\n", NJ_CMD_OK, 5, NJ_VERB_QUIT, "");
  LENIENT("lenient: CRLF too", "QUIT\r\n", NJ_CMD_OK, 6, NJ_VERB_QUIT, "");
  LENIENT("lenient: a CR ends the verb", "QUIT\rjunk\n", NJ_CMD_OK, 10, NJ_VERB_QUIT, 0);
  LENIENT("lenient: NUL taken as it comes", "NOOP a\0b\n", NJ_CMD_OK, 9, NJ_VERB_NOOP, 0);
  LENIENT("lenient: bare CR taken as it comes", "MAIL a\rb\r\n", NJ_CMD_OK, 10, NJ_VERB_MAIL, 0);
  CHECK("lenient: 1024 bytes before the LF",
        first(NJ_CMD_LENIENT, buf, mkline(buf, 1025, "\n"), NJ_CMD_OK, 1025, NJ_VERB_NOOP, 0));
  CHECK("lenient: 1025 bytes before the LF: too long",
        first(NJ_CMD_LENIENT, buf, mkline(buf, 1026, "\n"), NJ_CMD_TOOLONG, 1026, 0, 0));
  CHECK("lenient: an overlong line byte by byte", overlong_in_pieces(NJ_CMD_LENIENT, 3000, 1));

  /* replies and log reasons of bad lines */
  CHECK_EQ_STR("reply: too long", nj_cmd_reply(NJ_CMD_TOOLONG), "500 5.5.2 command line too long");
  CHECK_EQ_STR("reply: bare LF", nj_cmd_reply(NJ_CMD_BARELF), "500 5.5.2 command lines must end with CRLF");
  CHECK_EQ_STR("reply: NUL", nj_cmd_reply(NJ_CMD_NUL), "501 5.5.2 NUL or bare CR in command");
  CHECK_EQ_STR("reply: bare CR", nj_cmd_reply(NJ_CMD_BARECR), "501 5.5.2 NUL or bare CR in command");
  CHECK("no reply for a good line", !nj_cmd_reply(NJ_CMD_OK) && !nj_cmd_reply(NJ_CMD_MORE));
  CHECK_EQ_STR("why: toolong", nj_cmd_why(NJ_CMD_TOOLONG), "toolong");
  CHECK_EQ_STR("why: bare-lf", nj_cmd_why(NJ_CMD_BARELF), "bare-lf");
  CHECK_EQ_STR("why: nul", nj_cmd_why(NJ_CMD_NUL), "nul");
  CHECK_EQ_STR("why: bare-cr", nj_cmd_why(NJ_CMD_BARECR), "bare-cr");
  return CHECK_DONE(PROG);
}
