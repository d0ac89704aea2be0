/* SPDX-License-Identifier: ISC */
/* ucspitls.c: the application's side of UCSPI-TLS (ucspitls.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <skalibs/djbunix.h>
#include <skalibs/strerr.h>
#include "najimi.h"
#include "ucspitls.h"

/* The fd in variable var: 1 with *fd, 0 when unset, -1 when bad (warned). */
static int env_fd(const char *var, int *fd)
{
  const char *s = getenv(var);
  unsigned long u;
  char san[NJ_LOGVAL + 4];
  if (!s) return 0;
  if (nj_ulong_parse(s, 0, 65535, &u) && fcntl((int)u, F_GETFD) >= 0) {
    *fd = (int)u;
    return 1;
  }
  nj_sanitise(san, NJ_LOGVAL, s, strlen(s));
  strerr_warnw(var, "=", san[0] ? san : "(empty)", " is not an open fd, no STARTTLS");
  return -1;
}

void nj_tls_init(nj_tls *t)
{
  const char *u = getenv("UCSPITLS");
  int c, r, w;
  t->ctl = t->rfd = t->wfd = -1;
  t->offered = t->required = t->active = 0;
  c = env_fd("SSLCTLFD", &t->ctl);
  r = env_fd("SSLREADFD", &t->rfd);
  w = env_fd("SSLWRITEFD", &t->wfd);
  if (u && *u && strcmp(u, "-") && strcmp(u, "!")) {
    char san[NJ_LOGVAL + 4];
    nj_sanitise(san, NJ_LOGVAL, u, strlen(u));
    strerr_warnw("invalid UCSPITLS=", san, ", using default (empty)");
    u = 0;
  }
  t->required = u && !strcmp(u, "!");
  if (c == 1 && r == 1 && w == 1) t->offered = !(u && !strcmp(u, "-"));
}

int nj_tls_start(nj_tls *t)
{
  ssize_t r;
  if (!t->offered || t->ctl < 0) return 0;
  do r = write(t->ctl, "Y", 1);
  while (r < 0 && errno == EINTR);
  close(t->ctl);
  t->ctl = -1;
  t->offered = 0;
  if (r != 1) return 0;
  t->active = 1;
  ndelay_on(t->rfd);
  ndelay_on(t->wfd);
  return 1;
}

void nj_tls_hide(const nj_tls *t)
{
  if (t->ctl >= 0) coe(t->ctl);
  if (t->rfd >= 0) coe(t->rfd);
  if (t->wfd >= 0) coe(t->wfd);
  unsetenv("SSLCTLFD");
  unsetenv("SSLREADFD");
  unsetenv("SSLWRITEFD");
  unsetenv("UCSPITLS");
}
