/* SPDX-License-Identifier: ISC */
/* replyq.h: an SMTP proxy's replies (replyq.c): the ordered queue of
 * slots, one per command awaiting its reply, and the pure parts of
 * relaying the downstream's replies (their length, the EHLO filter). */
#ifndef NJ_REPLYQ_H
#define NJ_REPLYQ_H

#include <stddef.h>
#include <skalibs/tai.h>

#define NJ_RQ_MAX 128             /* commands awaiting a reply */
#define NJ_REPLYMAX 8192          /* one whole (multi-line) reply */

/* what a slot answers */
enum nj_rq_kind {
  NJ_RQ_GREETING, NJ_RQ_EHLO, NJ_RQ_RCPT, NJ_RQ_DATA, NJ_RQ_DATAEND,
  NJ_RQ_STARTTLS, NJ_RQ_QUIT, NJ_RQ_OTHER,
  NJ_RQ_HOLD,                     /* a verb that looks like DATA (DATAx, DATA:):
                                     nothing after it is parsed before its reply */
  NJ_RQ_SWALLOW,                  /* answered downstream, never passed on */
  NJ_RQ_LOCAL                     /* answered by the proxy itself */
};

typedef struct nj_rqslot_s {
  unsigned char kind;             /* enum nj_rq_kind */
  unsigned char final;            /* a local reply after which the session ends */
  const char *text;               /* local reply: one line, no CRLF */
  tain ready;                     /* a local reply waits until then (tarpit) */
} nj_rqslot;

/* Slots leave strictly in the order they came, so that replies keep the
 * order of the commands under PIPELINING (RFC 2920). */
typedef struct nj_rq_s {
  nj_rqslot slot[NJ_RQ_MAX];
  unsigned int head, count;
  unsigned int down;              /* slots the downstream answers */
} nj_rq;
#define NJ_RQ_ZERO { .head = 0, .count = 0, .down = 0 }

/* Queues a slot; text and final for NJ_RQ_LOCAL only; ready 0: at once.
 * 0 when the queue is full. */
extern int nj_rq_push(nj_rq *q, int kind, const char *text, int final, const tain *ready);
/* The oldest slot, 0 when none. */
extern nj_rqslot *nj_rq_head(nj_rq *q);
extern void nj_rq_pop(nj_rq *q);
extern void nj_rq_clear(nj_rq *q);
/* 1 when a slot of that kind is queued. */
extern int nj_rq_has(const nj_rq *q, int kind);
/* How many slots of that kind are queued. */
extern unsigned int nj_rq_count(const nj_rq *q, int kind);

/* The length of the first complete reply in the n bytes at p (its lines
 * end in LF or CRLF; a multi-line reply is "CODE-" lines then "CODE "),
 * 0 while it is incomplete, -1 when it is no SMTP reply: a line of fewer
 * than 3 or more than 1000 bytes, a bad code, a code that changes, a NUL,
 * or more than NJ_REPLYMAX bytes. */
extern long nj_reply_len(const char *p, size_t n);

/* flags of nj_reply_copy */
#define NJ_REPLY_EHLO    1        /* a 250 to EHLO: filter its extensions */
#define NJ_REPLY_KEEPTLS 2        /* ... but keep STARTTLS */
#define NJ_REPLY_ADDTLS  4        /* ... and add our own STARTTLS, last */
#define NJ_REPLY_ADDMAX  16       /* what NJ_REPLY_ADDTLS may add */

/* Copies the reply at r (n bytes, as nj_reply_len measured it) to out
 * with CRLF line ends; returns the length written, at most 2n + 2 (out
 * has that room), or 2n + 2 + NJ_REPLY_ADDMAX with NJ_REPLY_ADDTLS.
 * With NJ_REPLY_EHLO the extensions a proxy that reads the message cannot
 * pass on are dropped: CHUNKING (and with it BDAT), BINARYMIME, and
 * STARTTLS unless NJ_REPLY_KEEPTLS; the first line is always kept, and
 * the last line kept is re-framed as "250 ". NJ_REPLY_ADDTLS (with
 * NJ_REPLY_EHLO, without NJ_REPLY_KEEPTLS, to a 250) then appends "250 STARTTLS":
 * the proxy's own, as a UCSPI-TLS client. */
extern size_t nj_reply_copy(char *out, const char *r, size_t n, unsigned int flags);

#endif
