/* SPDX-License-Identifier: ISC */
/* smtp.c: the fake SMTP session that refuses a client, in rblsmtpd's
 * manner: a banner, harmless commands accepted, the refusal text where
 * it matters, 221 to QUIT, and a close when the timeout runs out. Lines
 * are split by smtpcmd.c in its lenient mode: a refusal session answers
 * clients that end lines with a bare LF too. Under starttlsd it offers
 * STARTTLS and goes on inside TLS (ucspitls.h). */
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <skalibs/tai.h>
#include <skalibs/sig.h>
#include <skalibs/djbunix.h>
#include <skalibs/buffer.h>
#include <skalibs/unix-timed.h>
#include "najimi.h"
#include "smtpcmd.h"
#include "ucspitls.h"

#define OUTMAX 4096

const char *nj_local_host(void)
{
  const char *s = getenv("TCPLOCALHOST");
  size_t i, n;
  if (!s) return "najimi.local";
  n = strlen(s);
  if (!n || n > 253) return "najimi.local";
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.')) return "najimi.local";
  }
  return s;
}

/* One reply line into the output buffer. Replies are written in batches
 * (one write for all the answers to one read), never a write() per line:
 * that would cost a Nagle stall per line. */
static void say(buffer *o, const char *s, const tain *deadline)
{
  if (buffer_timed_puts_g(o, s, deadline) < strlen(s) ||
      buffer_timed_put_g(o, "\r\n", 2, deadline) < 2) _exit(0);
}

static void flush(buffer *o, const tain *deadline)
{
  if (!buffer_timed_flush_g(o, deadline)) _exit(0);
}

/* The session's deadline for its next read or write: the timeout from
 * now, but never past the end of the whole session. */
static void deadline_set(tain *d, const tain *end, unsigned int timeout)
{
  tain_now_g();
  tain_addsec_g(d, (int)timeout);
  if (tain_less(end, d)) *d = *end;
}

#define A_QUIT 0
#define A_GOON 1
#define A_TLS  2                          /* the 220 to STARTTLS is queued */

/* STARTTLS in a refusal session (najimi(7)): offered when the UCSPI-TLS
 * variables are there; answered 220, then the session goes on inside TLS. */
static const char tls_go[] = NJ_TLS_GO;

static const char *starttls(const nj_refusal *r, const nj_tls *t, const nj_cmd *c)
{
  if (t->active) return NJ_TLS_AGAIN;
  if (!t->offered) return r->reply;
  if (c->arglen) return NJ_TLS_ARG;
  return tls_go;
}

/* Answers one line (nj_cmd_next, lenient: any client is answered).
 * Returns A_QUIT after QUIT, A_TLS after a 220 to STARTTLS. */
static int answer(const nj_refusal *r, const nj_tls *t, buffer *o, const nj_cmd *c,
                  const char *const *hello, const tain *deadline)
{
  const char *reply = r->reply;
  if (c->status != NJ_CMD_OK) reply = r->all_503 ? r->reply : nj_cmd_reply(c->status);
  else if (c->verb == NJ_VERB_QUIT) {
    say(o, "221 2.0.0 closing connection", deadline);
    return A_QUIT;
  } else if (r->all_503) reply = r->reply;
  else switch (c->verb) {
    case NJ_VERB_HELO: reply = hello[0]; break;
    case NJ_VERB_EHLO: reply = hello[t->offered]; break;
    case NJ_VERB_MAIL: reply = "250 2.1.0 ok"; break;
    case NJ_VERB_RSET: case NJ_VERB_NOOP: reply = "250 2.0.0 ok"; break;
    case NJ_VERB_RCPT:
      if (r->at_data) reply = "250 2.1.5 ok";
      break;
    case NJ_VERB_STARTTLS: reply = starttls(r, t, c); break;
    default: break;
  }
  say(o, reply, deadline);
  return reply == tls_go ? A_TLS : A_GOON;
}

void nj_refuse(const nj_refusal *r)
{
  char in[2 * NJ_CMD_LENIENTMAX];         /* a whole line always fits */
  char outbuf[OUTMAX];
  char hello[300], ehlo[320];
  const char *hellos[2] = { hello, ehlo };
  size_t len = 0, hl;
  int rfd = 0;
  tain deadline, end;
  buffer o = BUFFER_INIT(&buffer_write, 1, outbuf, sizeof outbuf);
  nj_cmdreader rd = NJ_CMDREADER(NJ_CMD_LENIENT);
  const char *host = nj_local_host();
  nj_tls t;

  sig_ignore(SIGPIPE);
  if (r->all_503) t.offered = t.active = 0;   /* greetdelay's 554: before any TLS */
  else nj_tls_init(&t);
  ndelay_on(0);
  ndelay_on(1);
  /* A backstop if a deadline is ever missed: the kernel ends us. */
  alarm(NJ_REFUSAL_TOTAL * r->timeout + 10);
  tain_now_set_stopwatch_g();
  tain_addsec_g(&end, (int)(NJ_REFUSAL_TOTAL * r->timeout));
  deadline_set(&deadline, &end, r->timeout);

  hl = strlen(host);
  memcpy(hello, "250 ", 4);
  memcpy(hello + 4, host, hl + 1);
  memcpy(ehlo, "250-", 4);
  memcpy(ehlo + 4, host, hl);
  memcpy(ehlo + 4 + hl, "\r\n250 " NJ_TLS_EHLO, sizeof "\r\n250 " NJ_TLS_EHLO);

  say(&o, r->greeting, &deadline);
  flush(&o, &deadline);
  for (;;) {
    size_t pos = 0;
    ssize_t got = nj_read(rfd, in + len, sizeof in - len, &deadline);
    if (got <= 0) _exit(0);
    len += (size_t)got;
    deadline_set(&deadline, &end, r->timeout);
    for (;;) {
      nj_cmd c;
      int a;
      pos += nj_cmd_next(&rd, in + pos, len - pos, &c);
      if (c.status == NJ_CMD_MORE) break;
      a = answer(r, &t, &o, &c, hellos, &deadline);
      if (a == A_GOON) continue;
      flush(&o, &deadline);
      if (a == A_QUIT || !nj_tls_start(&t)) _exit(0);
      /* inside TLS: what the client sent after STARTTLS is dropped
         (CVE-2011-0411), and the session starts over (RFC 3207 4.2) */
      rfd = t.rfd;
      buffer_init(&o, &buffer_write, t.wfd, outbuf, sizeof outbuf);
      rd.skipping = 0;
      pos = len;
      deadline_set(&deadline, &end, r->timeout);
      break;
    }
    memmove(in, in + pos, len - pos);
    len -= pos;
    flush(&o, &deadline);
  }
}
