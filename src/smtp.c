/* smtp.c: the fake SMTP session that refuses a client, in rblsmtpd's
 * manner: a banner, harmless commands accepted, the refusal text where
 * it matters, 221 to QUIT, and a close when the timeout runs out. Lines
 * are split by smtpcmd.c in its lenient mode: a refusal session answers
 * clients that end lines with a bare LF too. */
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

/* Answers one line (nj_cmd_next, lenient: any client is answered).
 * Returns 0 after QUIT. */
static int answer(const nj_refusal *r, buffer *o, const nj_cmd *c,
                  const char *hello, const tain *deadline)
{
  const char *reply = r->reply;
  if (c->status != NJ_CMD_OK) reply = r->all_503 ? r->reply : nj_cmd_reply(c->status);
  else if (c->verb == NJ_VERB_QUIT) {
    say(o, "221 2.0.0 closing connection", deadline);
    return 0;
  } else if (r->all_503) reply = r->reply;
  else switch (c->verb) {
    case NJ_VERB_HELO: case NJ_VERB_EHLO: reply = hello; break;
    case NJ_VERB_MAIL: reply = "250 2.1.0 ok"; break;
    case NJ_VERB_RSET: case NJ_VERB_NOOP: reply = "250 2.0.0 ok"; break;
    case NJ_VERB_RCPT:
      if (r->at_data) reply = "250 2.1.5 ok";
      break;
    default: break;
  }
  say(o, reply, deadline);
  return 1;
}

void nj_refuse(const nj_refusal *r)
{
  char in[2 * NJ_CMD_LENIENTMAX];         /* a whole line always fits */
  char outbuf[OUTMAX];
  char hello[300];
  size_t len = 0;
  tain deadline;
  buffer o = BUFFER_INIT(&buffer_write, 1, outbuf, sizeof outbuf);
  nj_cmdreader rd = NJ_CMDREADER(NJ_CMD_LENIENT);
  const char *host = nj_local_host();

  sig_ignore(SIGPIPE);
  ndelay_on(0);
  ndelay_on(1);
  /* A backstop if a deadline is ever missed: the kernel ends us. */
  alarm(r->timeout + 10);
  tain_now_set_stopwatch_g();
  tain_addsec_g(&deadline, r->timeout);

  memcpy(hello, "250 ", 4);
  memcpy(hello + 4, host, strlen(host) + 1);

  say(&o, r->greeting, &deadline);
  flush(&o, &deadline);
  for (;;) {
    size_t pos = 0;
    ssize_t got = nj_read(0, in + len, sizeof in - len, &deadline);
    if (got <= 0) _exit(0);
    len += (size_t)got;
    for (;;) {
      nj_cmd c;
      pos += nj_cmd_next(&rd, in + pos, len - pos, &c);
      if (c.status == NJ_CMD_MORE) break;
      if (!answer(r, &o, &c, hello, &deadline)) {
        flush(&o, &deadline);
        _exit(0);
      }
    }
    memmove(in, in + pos, len - pos);
    len -= pos;
    flush(&o, &deadline);
  }
}
