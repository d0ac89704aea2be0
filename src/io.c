/* io.c: every read and write has a deadline. */
#include <errno.h>
#include <unistd.h>
#include <skalibs/iopause.h>
#include <skalibs/tai.h>
#include <skalibs/exec.h>
#include <skalibs/strerr.h>
#include "najimi.h"

int nj_wait_read(int fd, const tain *deadline)
{
  iopause_fd x = { .fd = fd, .events = IOPAUSE_READ, .revents = 0 };
  for (;;) {
    int r = iopause_g(&x, 1, deadline);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (!r) {
      tain_now_g();
      if (!tain_future(deadline)) return 0;
      continue;
    }
    return 1;
  }
}

ssize_t nj_read(int fd, char *buf, size_t n, const tain *deadline)
{
  for (;;) {
    ssize_t r;
    int w = nj_wait_read(fd, deadline);
    if (w < 0) return -1;
    if (!w) { errno = ETIMEDOUT; return -1; }
    r = read(fd, buf, n);
    if (r >= 0) return r;
    if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
  }
}

int nj_write(int fd, const char *buf, size_t n, const tain *deadline)
{
  while (n) {
    ssize_t r = write(fd, buf, n);
    if (r > 0) { buf += r; n -= (size_t)r; continue; }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      iopause_fd x = { .fd = fd, .events = IOPAUSE_WRITE, .revents = 0 };
      int p = iopause_g(&x, 1, deadline);
      if (p < 0 && errno != EINTR) return 0;
      if (!p) {
        tain_now_g();
        if (!tain_future(deadline)) { errno = ETIMEDOUT; return 0; }
      }
      continue;
    }
    return 0;
  }
  return 1;
}

void nj_exec(char const *const *argv)
{
  exec(argv);
  strerr_diefusys(111, "exec ", argv[0]);
}
