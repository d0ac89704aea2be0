/* SPDX-License-Identifier: ISC */
/* greylist-files.c: the file store of greylist records (greylist.h):
 * DIR/xx/yy/NAME, one empty file per key, its text in an extended
 * attribute, its mtime the record's time, so that "touch -d" simulates
 * elapsed time and "find -mtime" shows age. The mechanism only: what to
 * write is decided by nj_gl_decide. No symlink under DIR is ever
 * followed: the directories are opened with O_NOFOLLOW step by step, or
 * in one lookup with openat2(RESOLVE_NO_SYMLINKS) on the hot path. */
#include <string.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "greylist.h"

#define OPEN_RECORD (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
/* DIR/xx/yy/NAME in one lookup when it fits, else from DIR opened */
#define FULLPATH_MAX 512

/* ------------------------------------------------------------ the text */

ssize_t nj_glf_get(int fd, const struct stat *s, char *buf)
{
  ssize_t r;
  if (s->st_size > 0) {                       /* the text in the file itself */
    if (s->st_size > NJ_GL_FILEMAX) return 0;
    r = read(fd, buf, NJ_GL_FILEMAX + 1);
  } else {                                    /* the text in the attribute */
    r = fgetxattr(fd, NJ_GL_XATTR, buf, NJ_GL_FILEMAX + 1);
    if (r < 0 && (errno == ENODATA || errno == ENOTSUP || errno == ERANGE)) return 0;
  }
  if (r > NJ_GL_FILEMAX) return 0;
  return r;
}

int nj_glf_put(int fd, const char *text, size_t n)
{
  ssize_t w;
  if (!fsetxattr(fd, NJ_GL_XATTR, text, n, 0)) return 0;
  if (errno != ENOTSUP) return errno;
  w = write(fd, text, n);                     /* no user attributes here */
  if (w == (ssize_t)n) return 0;
  return w < 0 ? errno : ENOSPC;
}

int nj_glf_record(int fd, const struct stat *s, const nj_glkey *k, nj_glrec *r)
{
  char buf[NJ_GL_FILEMAX + 1];
  ssize_t n;
  memset(r, 0, offsetof(nj_glrec, text));
  r->text[0] = 0;
  r->textlen = 0;
  r->when = s->st_mtim;
  if (!S_ISREG(s->st_mode)) { r->found = NJ_GL_NOTFILE; return 0; }
  n = nj_glf_get(fd, s, buf);
  if (n < 0) return -1;
  r->found = NJ_GL_CORRUPT;
  if (n) nj_gl_parse(buf, (size_t)n, k, r);
  r->when = s->st_mtim;                       /* the mtime is the reference time */
  return 0;
}

/* ------------------------------------------------------ the directories */

static void release(int *fd)
{
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static int fail(nj_glstore *s, const char *op, int e)
{
  s->op = op;
  return e;
}

static int subdir(int at, const char *name)
{
  int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) return fd;
  if (mkdirat(at, name, 0700) < 0 && errno != EEXIST) return -1;
  return openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static int leaf_is(const nj_glfiles *f, const nj_glkey *k)
{
  return f->leaf >= 0 && !memcmp(f->at, k->dir1, 2) && !memcmp(f->at + 2, k->dir2, 2);
}

/* DIR itself, opened once: a regular's pass-through never needs it. */
static int top(nj_glstore *s)
{
  nj_glfiles *f = (nj_glfiles *)s;
  if (f->top >= 0) return 0;
  f->top = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return f->top < 0 ? fail(s, "open-dir", errno) : 0;
}

/* Opens the key's DIR/xx/yy one step at a time, making what is missing.
 * 0 or an errno value (ELOOP or ENOTDIR: a planted symlink). */
static int leaf(nj_glfiles *f, const nj_glkey *k)
{
  int d1, e;
  if (leaf_is(f, k)) return 0;
  release(&f->leaf);
  d1 = subdir(f->top, k->dir1);
  if (d1 < 0) return errno;
  f->leaf = subdir(d1, k->dir2);
  e = errno;
  close(d1);
  if (f->leaf < 0) return e;
  memcpy(f->at, k->dir1, 2);
  memcpy(f->at + 2, k->dir2, 2);
  return 0;
}

/* xx/yy/NAME at buf (room for NJ_GL_NAMEMAX + 6), NUL-terminated. */
static void relpath(char *buf, const nj_glkey *k)
{
  memcpy(buf, k->dir1, 2);
  buf[2] = '/';
  memcpy(buf + 3, k->dir2, 2);
  buf[5] = '/';
  memcpy(buf + 6, k->name, strlen(k->name) + 1);
}

/* The common case in one path lookup, openat2(RESOLVE_NO_SYMLINKS): from
 * DIR (top) and beneath it, or with top -1 DIR/xx/yy/NAME from the cwd,
 * DIR's own path then free of symlinks too. No component can be a
 * symlink. -1 for anything else (no file, a kernel without openat2): the
 * step-by-step path then finds out what is there. */
static int fast_open(int top, const char *dir, const nj_glkey *k)
{
  char rel[FULLPATH_MAX];
  struct open_how how;
  size_t n = 0;
  if (top < 0) {              /* from the cwd: DIR's own path is looked up too */
    n = strlen(dir);
    if (n + strlen(k->name) + 8 > sizeof rel) { errno = ENAMETOOLONG; return -1; }
    memcpy(rel, dir, n);
    rel[n++] = '/';
  }
  relpath(rel + n, k);
  memset(&how, 0, sizeof how);
  how.flags = OPEN_RECORD;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | (top < 0 ? 0 : RESOLVE_BENEATH);
  return (int)syscall(SYS_openat2, top < 0 ? AT_FDCWD : top, rel, &how, sizeof how);
}

static int read_fd(nj_glstore *s, int fd, const nj_glkey *k, nj_glrec *r)
{
  struct stat st;
  if (fstat(fd, &st) < 0) return fail(s, "stat", errno);
  if (nj_glf_record(fd, &st, k, r) < 0) return fail(s, "read", errno);
  return 0;
}

/* fast_open and the read of what it found: 2 when that is the answer
 * (*e: the read's result), 1 when the step-by-step path must go on but
 * need not ask again (no file, or one to be written), 0 when the lookup
 * itself failed (a symlink on the way, no openat2). */
static int fast_read(nj_glstore *s, const nj_glkey *k, nj_glrec *r, int *e)
{
  nj_glfiles *f = (nj_glfiles *)s;
  f->fd = fast_open(f->top, f->dir, k);
  if (f->fd < 0) return errno == ENOENT;
  *e = read_fd(s, f->fd, k, r);
  if (*e || r->found == NJ_GL_REGULAR) return 2;
  release(&f->fd);
  return 1;
}

static int files_read(nj_glstore *s, const nj_glkey *k, nj_glrec *r)
{
  nj_glfiles *f = (nj_glfiles *)s;
  int e = 0, got = 0;
  s->op = 0;
  release(&f->fd);
  /* A regular is only refreshed, through this fd: its directories need
   * not be opened. Any other record will be written, which needs them.
   * A process's first read (ipgreylist's only one) asks for
   * DIR/xx/yy/NAME in one lookup, DIR not even opened; a symlink of the
   * site's own in DIR's path fails it (ELOOP), and DIR opened asks again. */
  if (!leaf_is(f, k)) got = fast_read(s, k, r, &e);
  if (got == 2) return e;
  if (f->top < 0) {
    e = top(s);
    if (e) return e;
    if (!got && fast_read(s, k, r, &e) == 2) return e;
  }
  e = leaf(f, k);
  if (e) return fail(s, "subdir", e);
  memset(r, 0, offsetof(nj_glrec, text));
  r->text[0] = 0;
  r->textlen = 0;
  f->fd = openat(f->leaf, k->name, OPEN_RECORD);
  if (f->fd < 0) {
    if (errno == ENOENT) { r->found = NJ_GL_NONE; return 0; }
    if (errno == ELOOP) { r->found = NJ_GL_SYMLINK; return 0; }
    return fail(s, "open", errno);
  }
  return read_fd(s, f->fd, k, r);
}

/* ------------------------------------------------------------ writing */

/* Writes r's text into a new private temporary file in the leaf, its
 * mtime set to *mtime (0: now). 0 on success, else an errno value. */
static int write_tmp(nj_glfiles *f, const nj_glkey *k, const nj_glrec *r,
                     const struct timespec *mtime)
{
  char text[NJ_GL_FILEMAX];
  int fd = -1, tries, e;
  if (!f->tmp[0]) {
    memcpy(f->tmp, ".tmp.", 5);
    f->tmp[5 + pid_fmt(f->tmp + 5, getpid())] = 0;
  }
  for (tries = 0; tries < 2; tries++) {
    fd = openat(f->leaf, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) break;
    if (errno != EEXIST) return errno;
    unlinkat(f->leaf, f->tmp, 0);   /* left behind by a dead process of our pid */
  }
  if (fd < 0) return EEXIST;
  e = nj_glf_put(fd, text, nj_gl_fmt(text, r, k));
  if (e) goto fail;
  if (mtime) {
    struct timespec ts[2];
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_NOW;
    ts[1] = *mtime;
    if (futimens(fd, ts) < 0) { e = errno; goto fail; }
  }
  if (close(fd) < 0) { e = errno; fd = -1; goto fail; }
  return 0;
 fail:
  if (fd >= 0) close(fd);
  unlinkat(f->leaf, f->tmp, 0);
  return e;
}

/* link(2) never replaces an entry, so of many simultaneous first
 * connections exactly one creates the record (the others get EEXIST), and
 * no one ever sees a half-written file. rename(2) replaces atomically. */
/* A refresh, on the file just read: its text (LAST) rewritten in the
 * attribute, then its mtime set to now. 0, or an errno value; ENOTSUP:
 * the text is the file's data, to be replaced as a whole instead. */
static int touch(nj_glfiles *f, const nj_glkey *k, const nj_glrec *r)
{
  char text[NJ_GL_FILEMAX];
  struct stat st;
  if (fstat(f->fd, &st) < 0) return errno;
  if (st.st_size > 0) return ENOTSUP;
  if (fsetxattr(f->fd, NJ_GL_XATTR, text, nj_gl_fmt(text, r, k), XATTR_REPLACE) < 0)
    return errno == ENODATA ? ENOTSUP : errno;
  return futimens(f->fd, 0) < 0 ? errno : 0;
}

static int files_write(nj_glstore *s, const nj_glkey *k, int how, const nj_glrec *r)
{
  nj_glfiles *f = (nj_glfiles *)s;
  int e;
  s->op = 0;
  if (how == NJ_GLW_TOUCH) {
    e = touch(f, k, r);
    if (e != ENOTSUP) return e;
    how = NJ_GLW_REPLACE;
  }
  e = top(s);
  if (e) return e;
  e = leaf(f, k);
  if (e) return fail(s, "subdir", e);
  e = write_tmp(f, k, r, how == NJ_GLW_KEEP ? &r->when : 0);
  if (e) return e;
  if (how == NJ_GLW_CREATE) {
    e = linkat(f->leaf, f->tmp, f->leaf, k->name, 0) < 0 ? errno : 0;
    unlinkat(f->leaf, f->tmp, 0);
    return e;
  }
  if (renameat(f->leaf, f->tmp, f->leaf, k->name) < 0) {
    e = errno;
    unlinkat(f->leaf, f->tmp, 0);
    return e;
  }
  return 0;
}

/* DIR/xx/yy/NAME, DIR cut to fit. */
static void files_where(nj_glstore *s, const nj_glkey *k, char *buf, size_t max)
{
  nj_glfiles *f = (nj_glfiles *)s;
  size_t n = strlen(f->dir), kn = strlen(k->name);
  if (max < kn + 8) { if (max) buf[0] = 0; return; }
  if (n > max - kn - 8) n = max - kn - 8;
  memcpy(buf, f->dir, n);
  buf[n++] = '/';
  relpath(buf + n, k);
}

static void files_close(nj_glstore *s)
{
  nj_glf_close((nj_glfiles *)s);
}

void nj_glf_init(nj_glfiles *f, const char *dir)
{
  memset(f, 0, sizeof *f);
  f->s.read = files_read;
  f->s.write = files_write;
  f->s.where = files_where;
  f->s.close = files_close;
  f->dir = dir;
  f->top = f->leaf = f->fd = -1;
}

void nj_glf_close(nj_glfiles *f)
{
  release(&f->fd);
  release(&f->leaf);
  release(&f->top);
}
