/* smtp.c: the fake SMTP session that refuses a client, in rblsmtpd's
 * manner: a banner, harmless commands accepted, the refusal text where
 * it matters, 221 to QUIT, and a close when the timeout runs out. */
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <skalibs/tai.h>
#include <skalibs/sig.h>
#include <skalibs/djbunix.h>
#include "najimi.h"

#define LINEMAX 1024
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

typedef struct out_s {
  char buf[OUTMAX];
  size_t len;
} out;

static void out_line(out *o, const char *s)
{
  size_t n = strlen(s);
  if (n > OUTMAX - 2 - o->len) n = OUTMAX - 2 - o->len;
  memcpy(o->buf + o->len, s, n);
  o->len += n;
  o->buf[o->len++] = '\r';
  o->buf[o->len++] = '\n';
}

static void out_flush(out *o, const tain *deadline)
{
  if (o->len && !nj_write(1, o->buf, o->len, deadline)) _exit(0);
  o->len = 0;
}

static int verb_is(const char *line, size_t n, const char *verb)
{
  size_t i;
  for (i = 0; i < 4; i++) {
    char c = i < n ? line[i] : 0;
    if (c >= 'a' && c <= 'z') c = (char)(c - 32);
    if (c != verb[i]) return 0;
  }
  return n == 4 || line[4] == ' ' || line[4] == '\r';
}

/* Answers one command line (without its LF). Returns 0 after QUIT. */
static int answer(const nj_refusal *r, out *o, const char *line, size_t n,
                  const char *hello)
{
  if (verb_is(line, n, "QUIT")) {
    out_line(o, "221 2.0.0 closing connection");
    return 0;
  }
  if (r->all_503) out_line(o, r->reply);
  else if (verb_is(line, n, "HELO") || verb_is(line, n, "EHLO")) out_line(o, hello);
  else if (verb_is(line, n, "MAIL")) out_line(o, "250 2.1.0 ok");
  else if (verb_is(line, n, "RSET") || verb_is(line, n, "NOOP")) out_line(o, "250 2.0.0 ok");
  else if (r->at_data && verb_is(line, n, "RCPT")) out_line(o, "250 2.1.5 ok");
  else out_line(o, r->reply);
  return 1;
}

void nj_refuse(const nj_refusal *r)
{
  char line[LINEMAX];
  char in[LINEMAX];
  char hello[300];
  size_t len = 0;
  int toolong = 0;
  tain deadline;
  out o = { .len = 0 };
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

  out_line(&o, r->greeting);
  out_flush(&o, &deadline);
  for (;;) {
    size_t i;
    ssize_t got = nj_read(0, in, sizeof in, &deadline);
    if (got <= 0) _exit(0);
    for (i = 0; i < (size_t)got; i++) {
      char c = in[i];
      if (c != '\n') {
        if (len < sizeof line) line[len++] = c;
        else toolong = 1;
        continue;
      }
      if (toolong) out_line(&o, r->all_503 ? r->reply : "500 5.5.2 line too long");
      else if (!answer(r, &o, line, len, hello)) {
        out_flush(&o, &deadline);
        _exit(0);
      }
      len = 0;
      toolong = 0;
      if (o.len > OUTMAX - 600) out_flush(&o, &deadline);
    }
    out_flush(&o, &deadline);
  }
}
