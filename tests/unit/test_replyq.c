/* SPDX-License-Identifier: ISC */
/* test_replyq: the reply queue, reply lengths of (multi-line) replies, and
 * the EHLO filter (replyq.c). */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "replyq.h"

const char *PROG = "test_replyq";

#define LEN(lit) nj_reply_len(lit, sizeof lit - 1)

/* nj_reply_copy of in (a whole reply) gives want. */
static int copies(const char *in, unsigned int flags, const char *want)
{
  char out[4096];
  size_t n = strlen(in), w = nj_reply_copy(out, in, n, flags);
  out[w] = 0;
  if (w > 2 * n + 2 + (flags & NJ_REPLY_ADDTLS ? NJ_REPLY_ADDMAX : 0) || strcmp(out, want)) {
    printf("    # got: %s", out);
    return 0;
  }
  return nj_reply_len(out, w) == (long)w;      /* still one whole reply */
}

static const char FAKE[] = "250-fake\r\n250-STARTTLS\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 CHUNKING\r\n";

int main(void)
{
  char big[10000];
  size_t i;
  nj_rq q = NJ_RQ_ZERO;
  tain later;

  /* reply lengths */
  CHECK("len: one line", LEN("250 ok\r\n") == 8);
  CHECK("len: only the code", LEN("250\r\n") == 5);
  CHECK("len: LF line ends", LEN("250-a\n250 b\n") == 12);
  CHECK("len: multi-line", LEN("250-a\r\n250-b\r\n250 c\r\n") == 21);
  CHECK("len: the first of two replies", LEN("250 a\r\n354 go\r\n") == 7);
  CHECK("len: incomplete line", LEN("250 o") == 0);
  CHECK("len: incomplete multi-line", LEN("250-a\r\n250-b\r\n") == 0);
  CHECK("len: nothing yet", LEN("") == 0);
  CHECK("garbage: not SMTP", LEN("hello, this is not SMTP\r\n") == -1);
  CHECK("garbage: short line", LEN("25\r\n") == -1);
  CHECK("garbage: code out of range", LEN("650 x\r\n") == -1 && LEN("150 x\r\n") == -1);
  CHECK("garbage: letter in the code", LEN("2x0 x\r\n") == -1);
  CHECK("garbage: no space or dash after the code", LEN("250x\r\n") == -1);
  CHECK("garbage: the code changes", LEN("250-a\r\n251 b\r\n") == -1);
  CHECK("garbage: NUL", nj_reply_len("250 a\0b\r\n", 9) == -1);
  memcpy(big, "250 ", 4);
  memset(big + 4, 'x', 1100);
  memcpy(big + 1104, "\r\n", 2);
  CHECK("garbage: a line over 1000 bytes", nj_reply_len(big, 1106) == -1);
  CHECK("garbage: an unended line over 1000 bytes", nj_reply_len(big, 1104) == -1);
  for (i = 0; i + 10 <= sizeof big; i += 10) memcpy(big + i, "250-xxxx\r\n", 10);
  CHECK("garbage: a reply over 8192 bytes", nj_reply_len(big, sizeof big) == -1);
  memcpy(big + 8000, "250 last\r\n", 10);
  CHECK("len: a long reply under 8192 bytes", nj_reply_len(big, sizeof big) == 8010);

  /* copy and the EHLO filter */
  CHECK("copy: a reply passes as it is", copies("250 ok\r\n", 0, "250 ok\r\n"));
  CHECK("copy: LF becomes CRLF", copies("250-a\n250 b\n", 0, "250-a\r\n250 b\r\n"));
  CHECK("copy: no filter but for a 250 to EHLO", copies("550-STARTTLS\r\n550 CHUNKING\r\n", 0,
                                                        "550-STARTTLS\r\n550 CHUNKING\r\n"));
  CHECK("ehlo: STARTTLS and CHUNKING removed, last line re-framed",
        copies(FAKE, NJ_REPLY_EHLO, "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"));
  CHECK("ehlo: passthrough keeps STARTTLS",
        copies(FAKE, NJ_REPLY_EHLO | NJ_REPLY_KEEPTLS, "250-fake\r\n250-STARTTLS\r\n250-PIPELINING\r\n250 8BITMIME\r\n"));
  CHECK("ehlo: STARTTLS last, the line before ends the reply",
        copies("250-fake\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 STARTTLS\r\n", NJ_REPLY_EHLO,
               "250-fake\r\n250 PIPELINING\r\n"));
  CHECK("ehlo: any case; BINARYMIME too",
        copies("250-fake\r\n250-chunking\r\n250-BinaryMime\r\n250-starttls\r\n250 SIZE 10\r\n", NJ_REPLY_EHLO,
               "250-fake\r\n250 SIZE 10\r\n"));
  CHECK("ehlo: a keyword with parameters is removed",
        copies("250-fake\r\n250-STARTTLS x\r\n250 HELP\r\n", NJ_REPLY_EHLO, "250-fake\r\n250 HELP\r\n"));
  CHECK("ehlo: a longer keyword is another one",
        copies("250-fake\r\n250-CHUNKINGX\r\n250 STARTTLSY\r\n", NJ_REPLY_EHLO,
               "250-fake\r\n250-CHUNKINGX\r\n250 STARTTLSY\r\n"));
  CHECK("ehlo: the first line is the greeting, never removed",
        copies("250-CHUNKING\r\n250 HELP\r\n", NJ_REPLY_EHLO, "250-CHUNKING\r\n250 HELP\r\n"));
  CHECK("ehlo: one line", copies("250 fake\r\n", NJ_REPLY_EHLO, "250 fake\r\n"));
  CHECK("ehlo, addtls: the downstream's STARTTLS out, ours last",
        copies(FAKE, NJ_REPLY_EHLO | NJ_REPLY_ADDTLS,
               "250-fake\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n"));
  CHECK("ehlo, addtls: after a one-line reply",
        copies("250 fake\n", NJ_REPLY_EHLO | NJ_REPLY_ADDTLS, "250-fake\r\n250 STARTTLS\r\n"));
  CHECK("ehlo, addtls: after a bare 250",
        copies("250\r\n", NJ_REPLY_EHLO | NJ_REPLY_ADDTLS, "250-\r\n250 STARTTLS\r\n"));
  CHECK("ehlo, addtls: when every extension was removed",
        copies("250-fake\r\n250 CHUNKING\r\n", NJ_REPLY_EHLO | NJ_REPLY_ADDTLS, "250-fake\r\n250 STARTTLS\r\n"));
  CHECK("ehlo, addtls: nothing added to a refusal",
        copies("554-no\r\n554 go away\r\n", NJ_REPLY_EHLO | NJ_REPLY_ADDTLS, "554-no\r\n554 go away\r\n"));
  CHECK("addtls without ehlo: nothing added",
        copies("250 ok\r\n", NJ_REPLY_ADDTLS, "250 ok\r\n"));
  CHECK("addtls with keeptls: the downstream's kept, nothing added",
        copies("250-fake\r\n250 STARTTLS\r\n", NJ_REPLY_EHLO | NJ_REPLY_KEEPTLS | NJ_REPLY_ADDTLS,
               "250-fake\r\n250 STARTTLS\r\n"));
  CHECK("ehlo: all extensions removed", copies("250-fake\n250 CHUNKING\n", NJ_REPLY_EHLO, "250 fake\r\n"));
  CHECK("ehlo: an empty continuation line ends the reply",
        copies("250-fake\r\n250-\r\n250 CHUNKING\r\n", NJ_REPLY_EHLO, "250-fake\r\n250 \r\n"));

  /* the queue */
  CHECK("queue: empty", !nj_rq_head(&q) && !q.count);
  nj_rq_push(&q, NJ_RQ_GREETING, 0, 0, 0);
  nj_rq_push(&q, NJ_RQ_LOCAL, "550 no", 0, 0);
  tain_now_set_stopwatch_g();
  tain_addsec_g(&later, 5);
  nj_rq_push(&q, NJ_RQ_LOCAL, "550 later", 0, &later);
  nj_rq_push(&q, NJ_RQ_DATA, 0, 0, 0);
  CHECK("queue: four slots, two for the downstream", q.count == 4 && q.down == 2);
  CHECK("queue: has DATA, not STARTTLS", nj_rq_has(&q, NJ_RQ_DATA) && !nj_rq_has(&q, NJ_RQ_STARTTLS));
  CHECK("queue: the oldest first", nj_rq_head(&q)->kind == NJ_RQ_GREETING);
  nj_rq_pop(&q);
  CHECK("queue: then the local reply, ready at once",
        nj_rq_head(&q)->kind == NJ_RQ_LOCAL && !strcmp(nj_rq_head(&q)->text, "550 no") &&
        !tain_less(&STAMP, &nj_rq_head(&q)->ready) && q.down == 1);
  nj_rq_pop(&q);
  CHECK("queue: a held-back slot keeps its time", tain_less(&STAMP, &nj_rq_head(&q)->ready));
  nj_rq_clear(&q);
  CHECK("queue: cleared", !nj_rq_head(&q) && !q.count && !q.down);
  for (i = 0; i < NJ_RQ_MAX; i++) nj_rq_push(&q, NJ_RQ_RCPT, 0, 0, 0);
  CHECK("queue: full at NJ_RQ_MAX", !nj_rq_push(&q, NJ_RQ_OTHER, 0, 0, 0) && q.count == NJ_RQ_MAX);
  for (i = 0; i < 100; i++) nj_rq_pop(&q);
  for (i = 0; i < 50; i++) nj_rq_push(&q, i == 49 ? NJ_RQ_QUIT : NJ_RQ_OTHER, 0, 0, 0);
  for (i = 0; i < 77; i++) nj_rq_pop(&q);
  CHECK("queue: order kept around the ring", nj_rq_head(&q)->kind == NJ_RQ_QUIT && q.count == 1 && q.down == 1);
  return CHECK_DONE(PROG);
}
