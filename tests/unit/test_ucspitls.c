/* SPDX-License-Identifier: ISC */
/* test_ucspitls: the application's side of UCSPI-TLS (ucspitls.c): which
 * variables offer STARTTLS, UCSPITLS's three values, 'Y' on the control
 * fd, and what a child started afterwards sees. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "najimi.h"
#include "ucspitls.h"

const char *PROG = "test_ucspitls";

static int ctl[2], rd[2], wr[2];

/* The three variables naming the pipes' ends an application gets. */
static void set_fds(void)
{
  char b[3][16];
  snprintf(b[0], sizeof b[0], "%d", ctl[1]);
  snprintf(b[1], sizeof b[1], "%d", rd[0]);
  snprintf(b[2], sizeof b[2], "%d", wr[1]);
  setenv("SSLCTLFD", b[0], 1);
  setenv("SSLREADFD", b[1], 1);
  setenv("SSLWRITEFD", b[2], 1);
}

static int offered(const char *ucspitls)
{
  nj_tls t;
  if (ucspitls) setenv("UCSPITLS", ucspitls, 1);
  else unsetenv("UCSPITLS");
  nj_tls_init(&t);
  return t.offered + 2 * t.required;
}

int main(void)
{
  nj_tls t;
  char c = 0;
  if (pipe(ctl) || pipe(rd) || pipe(wr)) return 111;

  unsetenv("SSLCTLFD"); unsetenv("SSLREADFD"); unsetenv("SSLWRITEFD");
  CHECK("no variables: no STARTTLS", offered(0) == 0);
  set_fds();
  CHECK("three open fds: STARTTLS offered", offered(0) == 1);
  CHECK("UCSPITLS empty: offered", offered("") == 1);
  CHECK("UCSPITLS=-: not offered", offered("-") == 0);
  CHECK("UCSPITLS=!: offered and required", offered("!") == 3);
  CHECK("UCSPITLS unknown: warned, as if empty", offered("yes") == 1);
  setenv("SSLREADFD", "x1", 1);
  CHECK("SSLREADFD not a number: not offered", offered(0) == 0);
  setenv("SSLREADFD", "999", 1);
  CHECK("SSLREADFD not an open fd: not offered", offered(0) == 0);
  unsetenv("SSLWRITEFD");
  set_fds();
  unsetenv("SSLCTLFD");
  CHECK("SSLCTLFD missing: not offered", offered(0) == 0);
  set_fds();
  setenv("UCSPITLS", "!", 1);
  nj_tls_init(&t);
  CHECK("start: 'Y' written, the session is inside TLS",
        nj_tls_start(&t) && t.active && !t.offered && t.ctl < 0 &&
        read(ctl[0], &c, 1) == 1 && c == 'Y');
  CHECK("start: the control fd is closed", fcntl(ctl[1], F_GETFD) < 0);
  CHECK("start: the read and write fds are non-blocking",
        (fcntl(rd[0], F_GETFL) & O_NONBLOCK) && (fcntl(wr[1], F_GETFL) & O_NONBLOCK));
  CHECK("start again: refused", !nj_tls_start(&t));
  nj_tls_hide(&t);
  CHECK("hide: the variables are gone",
        !getenv("SSLCTLFD") && !getenv("SSLREADFD") && !getenv("SSLWRITEFD") && !getenv("UCSPITLS"));
  CHECK("hide: the fds close on exec",
        (fcntl(rd[0], F_GETFD) & FD_CLOEXEC) && (fcntl(wr[1], F_GETFD) & FD_CLOEXEC));
  return CHECK_DONE(PROG);
}
