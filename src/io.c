/* SPDX-License-Identifier: ISC */
/* io.c: reads and writes. On descriptors, each with a deadline; control
 * files ("one entry a line, # comments") through one line reader; files
 * replaced whole through a temporary file, fsync and rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <skalibs/djbunix.h>
#include <skalibs/stralloc.h>
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

/* ------------------------------------------------------- control files */

static int blank(const nj_ctl *c, char ch)
{
  return ch == ' ' || ch == '\t' || (ch == '\r' && (c->flags & NJ_CTL_CR));
}

void nj_ctl_init(nj_ctl *c, char *s, size_t len, unsigned int flags, size_t max)
{
  c->s = s;
  c->len = len;
  c->pos = 0;
  c->line = 0;
  c->flags = flags;
  c->max = max;
  c->why = 0;
}

int nj_ctl_open(nj_ctl *c, stralloc *sa, const char *file, unsigned int flags, size_t max)
{
  sa->len = 0;
  if (!openslurpclose(sa, file)) return errno == ENOENT ? 0 : -1;
  if (!stralloc_readyplus(sa, 1)) return -1;   /* room for the last NUL */
  nj_ctl_init(c, sa->s, sa->len, flags, max);
  return 1;
}

/* Where the comment of line[b..e) starts, or e. */
static size_t comment(const nj_ctl *c, const char *line, size_t b, size_t e)
{
  size_t i;
  if (c->flags & NJ_CTL_HASHANY) {
    const char *h = memchr(line + b, '#', e - b);
    return h ? (size_t)(h - line) : e;
  }
  if (c->flags & NJ_CTL_HASHWORD) {
    for (i = b; i < e; i++)
      if (line[i] == '#' && (i == b || blank(c, line[i - 1]))) return i;
    return e;
  }
  return b < e && line[b] == '#' ? b : e;
}

int nj_ctl_next(nj_ctl *c, char **entry, size_t *n)
{
  while (c->pos < c->len) {
    char *line = c->s + c->pos, *nl = memchr(line, '\n', c->len - c->pos);
    size_t e = nl ? (size_t)(nl - line) : c->len - c->pos, b = 0;
    c->pos += e + (nl ? 1 : 0);
    c->line++;
    if (c->max && e > c->max) { c->why = "line too long"; return -1; }
    if ((c->flags & NJ_CTL_NONUL) && memchr(line, 0, e)) { c->why = "NUL byte"; return -1; }
    if (c->flags & NJ_CTL_LEAD) while (b < e && blank(c, line[b])) b++;
    e = comment(c, line, b, e);
    while (e > b && blank(c, line[e - 1])) e--;
    if (e == b) continue;
    line[e] = 0;             /* a blank, '#', the newline, or the byte after len */
    *entry = line + b;
    *n = e - b;
    return 1;
  }
  return 0;
}

/* ------------------------------------------------ files replaced whole */

/* The rename is durable once the directory is synced too; best effort. */
static void sync_dir(const char *file)
{
  size_t n = strlen(file);
  char dir[n + 2];
  char *slash;
  int fd;
  memcpy(dir, file, n + 1);
  slash = strrchr(dir, '/');
  if (slash) slash[slash == dir] = 0;
  else memcpy(dir, ".", 2);
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) { fsync(fd); close(fd); }
}

void nj_tmp_open(nj_tmpfile *t, const char *file, const char *tmp)
{
  t->file = file;
  t->tmp.len = 0;
  if (!stralloc_cats(&t->tmp, tmp ? tmp : file) ||
      (!tmp && !stralloc_cats(&t->tmp, ".tmp")) || !stralloc_0(&t->tmp))
    strerr_diefu1sys(111, "allocate memory");
  t->fd = open(t->tmp.s, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (t->fd < 0) strerr_diefu2sys(111, "create ", t->tmp.s);
}

void nj_tmp_abort(nj_tmpfile *t)
{
  int e = errno;
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
  if (t->tmp.s) unlink(t->tmp.s);
  errno = e;
}

void nj_tmp_die(nj_tmpfile *t, const char *what)
{
  nj_tmp_abort(t);
  strerr_diefu2sys(111, what, t->tmp.s);
}

void nj_tmp_commit(nj_tmpfile *t)
{
  if (fsync(t->fd) < 0) nj_tmp_die(t, "sync ");
  if (close(t->fd) < 0) { t->fd = -1; nj_tmp_die(t, "write "); }
  t->fd = -1;
  if (rename(t->tmp.s, t->file) < 0) {
    nj_tmp_abort(t);
    strerr_diefu4sys(111, "rename ", t->tmp.s, " to ", t->file);
  }
  sync_dir(t->file);
  stralloc_free(&t->tmp);
}

void nj_file_replace(const char *file, const char *suffix, const char *s, size_t n)
{
  /* skalibs writes FILE+suffix, syncs it, renames it, and removes it on
   * failure */
  if (!openwritenclose_suffix_sync(file, s, n, suffix))
    strerr_diefu4sys(111, "write ", file, " through its temporary file ", suffix);
  sync_dir(file);
}
