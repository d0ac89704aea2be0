/* SPDX-License-Identifier: ISC */
/* replyq.c: the reply queue and the downstream's replies (replyq.h). */
#include <string.h>
#include <skalibs/bytestr.h>
#include "replyq.h"

int nj_rq_push(nj_rq *q, int kind, const char *text, int final, const tain *ready)
{
  nj_rqslot *s;
  if (q->count >= NJ_RQ_MAX) return 0;
  s = &q->slot[(q->head + q->count) % NJ_RQ_MAX];
  s->kind = (unsigned char)kind;
  s->text = text;
  s->final = (unsigned char)final;
  s->ready = ready ? *ready : tain_zero;
  q->count++;
  if (kind != NJ_RQ_LOCAL) q->down++;
  return 1;
}

nj_rqslot *nj_rq_head(nj_rq *q)
{
  return q->count ? &q->slot[q->head] : 0;
}

void nj_rq_pop(nj_rq *q)
{
  if (!q->count) return;
  if (q->slot[q->head].kind != NJ_RQ_LOCAL) q->down--;
  q->head = (q->head + 1) % NJ_RQ_MAX;
  q->count--;
}

void nj_rq_clear(nj_rq *q)
{
  q->head = q->count = q->down = 0;
}

int nj_rq_has(const nj_rq *q, int kind)
{
  unsigned int i;
  for (i = 0; i < q->count; i++)
    if (q->slot[(q->head + i) % NJ_RQ_MAX].kind == kind) return 1;
  return 0;
}

unsigned int nj_rq_count(const nj_rq *q, int kind)
{
  unsigned int i, n = 0;
  for (i = 0; i < q->count; i++)
    if (q->slot[(q->head + i) % NJ_RQ_MAX].kind == kind) n++;
  return n;
}

static int digit(char c)
{
  return c >= '0' && c <= '9';
}

long nj_reply_len(const char *p, size_t n)
{
  size_t i = 0;
  while (i < n) {
    const char *lf = memchr(p + i, '\n', n - i);
    size_t e, len;
    if (!lf) return n - i > 1000 || n >= NJ_REPLYMAX ? -1 : 0;
    e = (size_t)(lf - p);
    len = e - i;
    if (len && p[e - 1] == '\r') len--;
    if (len < 3 || len > 1000) return -1;
    if (p[i] < '2' || p[i] > '5' || !digit(p[i + 1]) || !digit(p[i + 2])) return -1;
    if (i && memcmp(p, p + i, 3)) return -1;
    if (len > 3 && p[i + 3] != ' ' && p[i + 3] != '-') return -1;
    if (memchr(p + i, 0, len)) return -1;
    if (len == 3 || p[i + 3] == ' ') return (long)(e + 1);
    if (e + 1 >= NJ_REPLYMAX) return -1;
    i = e + 1;
  }
  return 0;
}

/* An EHLO keyword line (after "250-") that is not passed on. */
static int dropped(const char *t, size_t n, unsigned int flags)
{
  static const char *const drop[] = { "CHUNKING", "BINARYMIME", "STARTTLS" };
  size_t k;
  for (k = 0; k < sizeof drop / sizeof *drop; k++) {
    size_t l = strlen(drop[k]);
    if (k == 2 && (flags & NJ_REPLY_KEEPTLS)) continue;
    if (n < l || (n > l && t[l] != ' ')) continue;
    if (!case_diffb(t, l, drop[k])) return 1;
  }
  return 0;
}

/* Appends "250 STARTTLS" to the EHLO reply out[0, w) whose last line
 * starts at last, which then goes on ("250-"). */
static size_t add_tls(char *out, size_t w, size_t last)
{
  static const char line[] = "250 STARTTLS\r\n";
  if (w - last == 5) {                  /* a bare "250": "250-" */
    out[last + 3] = '-';
    out[last + 4] = '\r';
    out[last + 5] = '\n';
    w++;
  } else out[last + 3] = '-';
  memcpy(out + w, line, sizeof line - 1);
  return w + sizeof line - 1;
}

size_t nj_reply_copy(char *out, const char *r, size_t n, unsigned int flags)
{
  size_t i = 0, w = 0, lastkept = 0, kept = 0;
  int ehlo = flags & NJ_REPLY_EHLO;
  while (i < n) {
    const char *lf = memchr(r + i, '\n', n - i);
    size_t e = lf ? (size_t)(lf - r) : n, len = e - i;
    if (len && r[e - 1] == '\r') len--;
    if (!(ehlo && kept && len > 4 && dropped(r + i + 4, len - 4, flags))) {
      lastkept = w;
      memcpy(out + w, r + i, len);
      w += len;
      out[w++] = '\r';
      out[w++] = '\n';
      kept++;
    }
    i = e + 1;
  }
  /* the last line kept ends the reply; a bare "250" needs no change */
  if (ehlo && kept && w - lastkept > 5) out[lastkept + 3] = ' ';
  if (ehlo && kept && (flags & NJ_REPLY_ADDTLS) && !(flags & NJ_REPLY_KEEPTLS) &&
      !memcmp(out, "250", 3))               /* a positive reply only */
    w = add_tls(out, w, lastkept);
  return w;
}
