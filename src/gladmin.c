/* SPDX-License-Identifier: ISC */
/* gladmin.c: greylist records for the operator tools (gladmin.h): what a
 * record means now, and the listing and removal of the file store and
 * of the Redis store (through greylist-redis.c: no hiredis call here). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <skalibs/strerr.h>
#include "najimi.h"
#include "greylist.h"
#include "gladmin.h"

/* ---------------------------------------------------------- the meaning */

static const char *state_word(int found)
{
  switch (found) {
    case NJ_GL_NONE: return "none";
    case NJ_GL_PENDING: return "pending";
    case NJ_GL_REGULAR: return "regular";
    case NJ_GL_SYMLINK: return "symlink";
    case NJ_GL_NOTFILE: return "not-a-file";
    default: return "corrupt";
  }
}

void nj_gl_now(const nj_glrec *r, const nj_glpolicy *p, int64_t now, nj_glnow *o)
{
  int64_t age = r->found == NJ_GL_NONE ? 0 : now - (int64_t)r->when.tv_sec, a;
  o->age = age;
  o->v = nj_gl_verdict(r->found, age, p);
  o->state = state_word(r->found);
  o->left = 0;
  a = o->v.step ? 0 : age;          /* a clock step counts as now */
  switch (o->v.is) {
    case NJ_GLV_NEW: o->next = "451 new"; break;
    case NJ_GLV_TOO_SOON: o->next = "451 too-soon"; o->left = p->min - a; break;
    case NJ_GLV_PROMOTE: o->next = "pass promote"; o->left = p->window - a; break;
    case NJ_GLV_REGULAR: o->next = "pass regular"; o->left = p->lifetime - a; break;
    default: o->next = "451 reset";
  }
  if (o->left < 0) o->left = 0;
}

/* ------------------------------------------------------------ the files */

static int hex2(const char *s)
{
  return s[0] && s[1] && !s[2] &&
         ((s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'f')) &&
         ((s[1] >= '0' && s[1] <= '9') || (s[1] >= 'a' && s[1] <= 'f'));
}

/* The open directory fd's entries that are two hex digits, each opened
 * (no symlink followed) and handed to f with its name. */
static int each_hex(int fd, int (*f)(int, const char *, void *), void *aux)
{
  DIR *d = fdopendir(fd);
  struct dirent *e;
  int r = 0;
  if (!d) { close(fd); return errno; }
  while (!r && (e = readdir(d))) {
    int sub;
    if (!hex2(e->d_name)) continue;
    sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) { strerr_warnwu2sys("open ", e->d_name); continue; }
    r = f(sub, e->d_name, aux);
  }
  closedir(d);
  return r;
}

/* A hashed key's kind, from its text's first word. */
static int kind_of(const char *text)
{
  static const struct { const char *w; int kind; } kinds[] =
    { { "name:", NJ_GLK_NAME }, { "trip:", NJ_GLK_TRIP }, { "pair:", NJ_GLK_PAIR } };
  unsigned int i;
  for (i = 0; i < sizeof kinds / sizeof *kinds; i++)
    if (!strncmp(text, kinds[i].w, strlen(kinds[i].w))) return kinds[i].kind;
  return 0;
}

typedef struct walk_s { nj_gl_listfunc *f; void *aux; char d1[3]; } walk;

/* The records of a leaf DIR/xx/yy: names nj_gl_name_parse takes there. */
static int leaf(int fd, const char *d2, void *aux)
{
  walk *w = aux;
  DIR *d = fdopendir(fd);
  struct dirent *e;
  int r = 0;
  if (!d) { close(fd); return errno; }
  while (!r && (e = readdir(d))) {
    nj_glkey k;
    nj_glrec rec;
    struct stat st;
    int rf;
    if (!nj_gl_name_parse(e->d_name, w->d1, d2, &k)) continue;
    rf = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    memset(&rec, 0, sizeof rec);
    if (rf < 0) {
      if (errno != ELOOP) { strerr_warnwu2sys("open ", e->d_name); continue; }
      rec.found = NJ_GL_SYMLINK;
    } else {
      if (fstat(rf, &st) < 0 || nj_glf_record(rf, &st, 0, &rec) < 0) {
        strerr_warnwu2sys("read ", e->d_name);
        close(rf);
        continue;
      }
      close(rf);
    }
    if (!k.textlen && rec.textlen && rec.textlen <= NJ_GL_TEXTMAX) {   /* a hashed key: its text */
      memcpy(k.text, rec.text, rec.textlen + 1);
      k.textlen = rec.textlen;
      k.kind = kind_of(k.text);
    }
    r = w->f(&k, &rec, w->aux);
  }
  closedir(d);
  return r;
}

static int top(int fd, const char *d1, void *aux)
{
  walk *w = aux;
  memcpy(w->d1, d1, 3);
  return each_hex(fd, &leaf, aux);
}

static int files_list(nj_gladmin *a, nj_gl_listfunc *f, void *aux)
{
  walk w;
  int fd = open(a->st.files.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  w.f = f;
  w.aux = aux;
  return each_hex(fd, &top, &w);
}

/* DIR/xx/yy opened without making anything, no symlink followed: the
 * leaf's fd, or -1 (errno). */
static int open_leaf(const char *dir, const nj_glkey *k)
{
  int t, d1, d2 = -1, e = 0;
  t = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (t < 0) return -1;
  d1 = openat(t, k->dir1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (d1 < 0) e = errno;
  else {
    d2 = openat(d1, k->dir2, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d2 < 0) e = errno;
    close(d1);
  }
  close(t);
  if (d2 < 0) errno = e;
  return d2;
}

static int files_peek(nj_gladmin *a, const nj_glkey *k, nj_glrec *r)
{
  struct stat st;
  int d = open_leaf(a->st.files.dir, k), fd, e = 0;
  memset(r, 0, sizeof *r);
  r->found = NJ_GL_NONE;
  if (d < 0) return errno == ENOENT ? 0 : errno;
  fd = openat(d, k->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) r->found = NJ_GL_SYMLINK;
    else if (errno != ENOENT) e = errno;
  } else {
    if (fstat(fd, &st) < 0 || nj_glf_record(fd, &st, k->textlen ? k : 0, r) < 0) e = errno;
    close(fd);
  }
  close(d);
  return e;
}

static int files_remove(nj_gladmin *a, const nj_glkey *k, int *had)
{
  int t, d1, d2, e = 0;
  *had = 0;
  t = open(a->st.files.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (t < 0) return errno == ENOENT ? 0 : errno;
  d1 = openat(t, k->dir1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (d1 < 0) e = errno;
  else {
    d2 = openat(d1, k->dir2, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d2 < 0) e = errno;
    else {
      if (unlinkat(d2, k->name, 0) < 0) e = errno;
      close(d2);
    }
    close(d1);
  }
  close(t);
  if (e == ENOENT) return 0;      /* no directory, no file: no record */
  *had = !e;
  return e;
}

/* ------------------------------------------------------------ Redis */

#define SCANCOUNT 500           /* keys asked of each SCAN step */
#define SCANSTEPS 100000000UL   /* a walk ends long before this many steps */

typedef struct rwalk_s { nj_gl_listfunc *f; void *aux; int stop; } rwalk;

/* One key of a SCAN step: a record name of ours (another name under the
 * prefix is skipped, as a stray file is), its value parsed as the store
 * reads it; a key gone since the SCAN is skipped. */
static void redis_one(void *aux, const char *name, size_t nn, const char *val, size_t vn)
{
  rwalk *w = aux;
  char nm[NJ_GL_NAMEMAX];
  nj_glkey k;
  nj_glrec rec;
  if (w->stop || !val || nn >= sizeof nm) return;
  memcpy(nm, name, nn);
  nm[nn] = 0;
  if (!nj_gl_name_parse(nm, 0, 0, &k)) return;
  nj_glr_value(val, vn, 0, &rec);
  if (!k.textlen && rec.textlen && rec.textlen <= NJ_GL_TEXTMAX) {   /* a hashed key: its text */
    memcpy(k.text, rec.text, rec.textlen + 1);
    k.textlen = rec.textlen;
    k.kind = kind_of(k.text);
  }
  w->stop = w->f(&k, &rec, w->aux);
}

static int redis_list(nj_gladmin *a, nj_gl_listfunc *f, void *aux)
{
  unsigned long cursor = 0, steps = 0;
  rwalk w;
  int e;
  w.f = f;
  w.aux = aux;
  w.stop = 0;
  do {
    e = nj_glr_scan(&a->st.redis, &cursor, SCANCOUNT, &redis_one, &w);
    if (e) return e;
  } while (cursor && !w.stop && ++steps < SCANSTEPS);
  return 0;
}

/* GET has no side effect: the chain's own read. */
static int redis_peek(nj_gladmin *a, const nj_glkey *k, nj_glrec *r)
{
  return a->s->read(a->s, k, r);
}

static int redis_remove(nj_gladmin *a, const nj_glkey *k, int *had)
{
  return nj_glr_del(&a->st.redis, k, had);
}

/* ------------------------------------------------------------ open */

void nj_gladmin_open(nj_gladmin *a, const char *dir, const nj_glpolicy *p)
{
  memset(a, 0, sizeof *a);
  a->s = nj_gl_store(&a->st, dir, p);
  if (!a->s) strerr_dief1x(100, "no state directory: give -d DIR, -s SERVICEDIR, set GREYLISTDIR or GREYLIST_REDIS");
  if (nj_gl_store_isredis(&a->st, a->s)) {
    a->isredis = 1;
    a->list = &redis_list;
    a->peek = &redis_peek;
    a->remove = &redis_remove;
    if (!a->st.redis.spec) strerr_dief1x(100, "GREYLIST_REDIS is not unix:/path, IPV4:PORT or [IPV6]:PORT");
    a->name = a->st.redis.spec;
    return;
  }
  a->list = &files_list;
  a->peek = &files_peek;
  a->remove = &files_remove;
  a->name = dir;
}

void nj_gladmin_close(nj_gladmin *a)
{
  if (a->s) a->s->close(a->s);
}
