/* SPDX-License-Identifier: ISC */
/* service.c: a service directory as najimi-mkservice makes it, read by
 * the operator tools (-s SERVICEDIR): its env/ (as envdir reads it), its
 * run script's words, its log files in order. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <skalibs/bytestr.h>
#include <skalibs/djbunix.h>
#include <skalibs/genalloc.h>
#include <skalibs/stralloc.h>
#include <skalibs/strerr.h>
#include "najimi.h"

static void nomem(void) __attribute__((noreturn));
static void nomem(void)
{
  strerr_diefu1sys(111, "allocate memory");
}

static void path3(stralloc *sa, const char *a, const char *b, const char *c)
{
  sa->len = 0;
  if (!stralloc_cats(sa, a) || !stralloc_cats(sa, b) || !stralloc_cats(sa, c) ||
      !stralloc_0(sa)) nomem();
}

/* One file of env/: its first line without trailing blanks, NULs as
 * newlines; an empty file removes the variable. */
static void env_one(const char *file, const char *var, stralloc *val)
{
  size_t n, i;
  val->len = 0;
  if (!openslurpclose(val, file)) strerr_diefu2sys(111, "read ", file);
  n = byte_chr(val->s, val->len, '\n');
  while (n && (val->s[n - 1] == ' ' || val->s[n - 1] == '\t')) n--;
  if (!n) { unsetenv(var); return; }
  for (i = 0; i < n; i++) if (!val->s[i]) val->s[i] = '\n';
  val->len = n;
  if (!stralloc_0(val) || setenv(var, val->s, 1) < 0) strerr_diefu1sys(111, "set the environment");
}

int nj_svc_env(const char *dir)
{
  stralloc path = STRALLOC_ZERO, file = STRALLOC_ZERO, val = STRALLOC_ZERO;
  DIR *d;
  struct dirent *e;
  path3(&path, dir, "/env", "");
  d = opendir(path.s);
  if (!d) {
    if (errno == ENOENT) { stralloc_free(&path); return 0; }
    strerr_diefu2sys(111, "open ", path.s);
  }
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    path3(&file, path.s, "/", e->d_name);
    env_one(file.s, e->d_name, &val);
  }
  closedir(d);
  stralloc_free(&path);
  stralloc_free(&file);
  stralloc_free(&val);
  return 1;
}

/* The word after "opt" following prog (the program's own options come
 * right after its name in run), or 0. */
static const char *after(char **w, size_t n, const char *prog, const char *opt)
{
  size_t i, j;
  for (i = 0; i < n; i++) {
    const char *base = strrchr(w[i], '/') ? strrchr(w[i], '/') + 1 : w[i];
    if (strcmp(base, prog)) continue;
    for (j = i + 1; j + 1 < n && w[j][0] == '-'; j++) {
      if (!strcmp(w[j], opt)) return w[j + 1];
      if (w[j][1] && strchr("dwptx", w[j][1]) && !w[j][2]) j++;   /* an option with its argument */
    }
    return 0;
  }
  return 0;
}

void nj_svc_run(const char *dir, nj_svcrun *r)
{
  stralloc path = STRALLOC_ZERO;
  char *save = 0, *w;
  memset(r, 0, sizeof *r);
  path3(&path, dir, "/run", "");
  if (!openslurpclose(&r->text, path.s)) {
    if (errno != ENOENT) strerr_diefu2sys(111, "read ", path.s);
    stralloc_free(&path);
    return;
  }
  if (!stralloc_0(&r->text)) nomem();
  for (w = strtok_r(r->text.s, " \t\n\\", &save); w && r->n < NJ_SVC_WORDS;
       w = strtok_r(0, " \t\n\\", &save)) r->word[r->n++] = w;
  r->rules = after(r->word, r->n, "tcpserver", "-x");
  r->greetpause = after(r->word, r->n, "greetdelay", "-p");
  r->gldir = after(r->word, r->n, "ipgreylist", "-d");
  r->glwl = after(r->word, r->n, "ipgreylist", "-w");
  r->glpat = after(r->word, r->n, "ipgreylist", "-p");
  stralloc_free(&path);
}

static int cmpstr(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* multilog's files: @TAI64N.s (rotated), @TAI64N.u (cut by a crash),
 * oldest first (the names sort by time), then current. */
void nj_svc_logs(const char *dir, stralloc *names, genalloc *list)
{
  stralloc logdir = STRALLOC_ZERO;
  genalloc off = GENALLOC_ZERO;   /* size_t offsets into names */
  DIR *d;
  struct dirent *e;
  size_t i, n;
  path3(&logdir, dir, "/log/main", "");
  d = opendir(logdir.s);
  if (!d) strerr_diefu2sys(111, "open ", logdir.s);
  names->len = 0;
  while ((e = readdir(d))) {
    size_t k = strlen(e->d_name);
    if (e->d_name[0] != '@' || k < 3 || e->d_name[k - 2] != '.' ||
        (e->d_name[k - 1] != 's' && e->d_name[k - 1] != 'u')) continue;
    if (!genalloc_append(size_t, &off, &names->len) || !stralloc_cats(names, logdir.s) ||
        !stralloc_cats(names, "/") || !stralloc_cats(names, e->d_name) || !stralloc_0(names)) nomem();
  }
  closedir(d);
  if (!genalloc_append(size_t, &off, &names->len) || !stralloc_cats(names, logdir.s) ||
      !stralloc_cats(names, "/current") || !stralloc_0(names)) nomem();
  n = genalloc_len(size_t, &off);
  genalloc_setlen(char *, list, 0);
  for (i = 0; i < n; i++) {
    char *p = names->s + genalloc_s(size_t, &off)[i];
    if (!genalloc_append(char *, list, &p)) nomem();
  }
  qsort(genalloc_s(char *, list), n - 1, sizeof(char *), &cmpstr);   /* current stays last */
  genalloc_free(size_t, &off);
  stralloc_free(&logdir);
}
