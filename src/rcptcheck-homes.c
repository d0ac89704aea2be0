/* SPDX-License-Identifier: ISC */
/* rcptcheck-homes: lists, as root, the .qmail files of the homes qmail
 * delivers to, into a cdb that rcptcheck reads (RCPTCHECK_HOMES) when it
 * cannot search a home itself (Debian creates homes with mode 0700, and
 * rcptcheck runs as qmaild). Run from root's cron.
 *
 *   rcptcheck-homes [ -v ] [ -q QMAILHOME ] [ -a aliasuser ] TARGET
 *
 * The homes are those qmail-getpw accepts (passwd users with a uid other
 * than 0 whose home they own), the alias user's, and every home in
 * QMAILHOME/users/cdb. For each, the list (qmailrcpt.h) holds the home's
 * mtime and ctime and its .qmail-* entries: regular files, and symbolic
 * links marked as such (rcptcheck cannot judge a link's target from a
 * list). A home that changes after it was listed changes its mtime or
 * ctime, and rcptcheck then ignores the list for it until the next run:
 * a new .qmail file is never refused for being new. A home changed less
 * than 0.1 second ago, or while it was read, is left out this time: a
 * change within the same tick of the file system's clock (a few
 * milliseconds) would leave its stamp as it was. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <pwd.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cdb.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/stralloc.h>
#include <skalibs/buffer.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "qmailrcpt.h"

#define USAGE "rcptcheck-homes [ -v ] [ -q qmailhome ] [ -a aliasuser ] target"
#define FRESH_NS 100000000L   /* a home changed less than 0.1 s ago waits */

const char *PROG = "rcptcheck-homes";

static nj_tmpfile tmp = NJ_TMPFILE_ZERO;
static stralloc homes = STRALLOC_ZERO;   /* NUL-terminated paths */
static unsigned long n_homes, n_files, n_skipped;

static void add_home(const char *h, size_t n)
{
  if (!n || h[0] != '/') return;
  if (!stralloc_catb(&homes, h, n) || !stralloc_0(&homes)) strerr_diefu1sys(111, "allocate");
}

/* The homes of qmail-getpw's users, and the alias user's. */
static void passwd_homes(const char *alias)
{
  struct passwd *pw;
  struct stat st;
  setpwent();
  for (;;) {
    errno = 0;
    pw = getpwent();
    if (!pw) break;
    if (!strcmp(pw->pw_name, alias) ||
        (pw->pw_uid && stat(pw->pw_dir, &st) == 0 && st.st_uid == pw->pw_uid))
      add_home(pw->pw_dir, strlen(pw->pw_dir));
  }
  if (errno && errno != ENOENT) strerr_diefu1sys(111, "read the user database");
  endpwent();
}

/* The homes of users/cdb (the fourth field of each value). */
static void users_homes(const char *qmailhome)
{
  stralloc path = STRALLOC_ZERO;
  nj_cdbfile f;
  unsigned pos;
  memset(&f, 0, sizeof f);
  if (!stralloc_cats(&path, qmailhome) || !stralloc_cats(&path, "/users/cdb") ||
      !stralloc_0(&path)) strerr_diefu1sys(111, "allocate");
  nj_cdbfile_open(&f, path.s);
  if (f.state == 2) { stralloc_free(&path); return; }
  if (f.state != 1) { errno = f.err; strerr_diefu2sys(111, "read ", path.s); }
  cdb_seqinit(&pos, &f.c);
  while (cdb_seqnext(&pos, &f.c) > 0) {
    const char *v = cdb_getdata(&f.c), *e;
    unsigned len = cdb_datalen(&f.c);
    int k;
    if (!cdb_keylen(&f.c) || !v) continue;
    for (k = 0; k < 3 && v; k++) {
      e = memchr(v, 0, len);
      if (!e) { v = 0; break; }
      len -= (unsigned)(e + 1 - v);
      v = e + 1;
    }
    if (v && (e = memchr(v, 0, len))) add_home(v, (size_t)(e - v));
  }
  nj_cdbfile_close(&f);
  stralloc_free(&path);
}

/* 1 when the home's last change (its ctime, which nobody can set back)
 * is at least FRESH_NS old. */
static int settled(const struct stat *st)
{
  struct timespec now;
  int64_t ns;
  if (clock_gettime(CLOCK_REALTIME, &now) < 0) return 0;
  ns = ((int64_t)now.tv_sec - (int64_t)st->st_ctim.tv_sec) * 1000000000 +
       (now.tv_nsec - st->st_ctim.tv_nsec);
  return ns >= FRESH_NS;
}

static int bystr(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void put(struct cdb_make *cm, const char *k, size_t kl, const char *v, size_t vl)
{
  if (cdb_make_add(cm, k, (unsigned)kl, v, (unsigned)vl) < 0) nj_tmp_die(&tmp, "write ");
}

/* Lists one home: its stamp and its .qmail-* entries, or nothing when it
 * cannot be read whole and unchanged. */
static void list_home(struct cdb_make *cm, const char *home, stralloc *names, stralloc *key)
{
  struct stat a, b;
  char sa[NJ_HOMES_STAMP], sb[NJ_HOMES_STAMP];
  size_t i;
  DIR *d;
  struct dirent *e;
  if (stat(home, &a) < 0 || !S_ISDIR(a.st_mode) || !settled(&a) || !(d = opendir(home))) {
    n_skipped++;
    return;
  }
  names->len = 0;
  while ((errno = 0, e = readdir(d))) {
    struct stat st;
    char kind;
    if (strncmp(e->d_name, ".qmail-", 7)) continue;
    key->len = 0;
    if (!stralloc_cats(key, home) || !stralloc_catb(key, "/", 1) ||
        !stralloc_cats(key, e->d_name) || !stralloc_0(key)) strerr_diefu1sys(111, "allocate");
    if (lstat(key->s, &st) < 0) continue;
    kind = S_ISLNK(st.st_mode) ? 'l' : S_ISREG(st.st_mode) ? 'f' : 0;
    if (kind && (!stralloc_catb(names, &kind, 1) || !stralloc_cats(names, e->d_name) ||
                 !stralloc_0(names))) strerr_diefu1sys(111, "allocate");
  }
  i = errno;
  closedir(d);
  if (i || stat(home, &b) < 0) { n_skipped++; return; }
  nj_homes_stamp(sa, &a);
  nj_homes_stamp(sb, &b);
  if (memcmp(sa, sb, sizeof sa)) { n_skipped++; return; }
  key->len = 0;
  if (!stralloc_cats(key, home) || !stralloc_catb(key, "/", 1)) strerr_diefu1sys(111, "allocate");
  put(cm, key->s, key->len, sa, sizeof sa);
  n_homes++;
  for (i = 0; i < names->len; i += strlen(names->s + i) + 1) {
    key->len = strlen(home) + 1;
    if (!stralloc_cats(key, names->s + i + 1)) strerr_diefu1sys(111, "allocate");
    put(cm, key->s, key->len, names->s + i, 1);
    n_files++;
  }
}

static void summary(void)
{
  char a[ULONG_FMT], b[ULONG_FMT], c[ULONG_FMT];
  a[ulong_fmt(a, n_homes)] = 0;
  b[ulong_fmt(b, n_files)] = 0;
  c[ulong_fmt(c, n_skipped)] = 0;
  if (buffer_puts(buffer_1, "homes=") < 0 || buffer_puts(buffer_1, a) < 0 ||
      buffer_puts(buffer_1, " files=") < 0 || buffer_puts(buffer_1, b) < 0 ||
      buffer_puts(buffer_1, " skipped=") < 0 || buffer_puts(buffer_1, c) < 0 ||
      buffer_putsflush(buffer_1, "\n") < 0) strerr_diefu1sys(111, "write to stdout");
}

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  const char *qmailhome = "/var/qmail", *alias = "alias";
  stralloc names = STRALLOC_ZERO, key = STRALLOC_ZERO;
  struct cdb_make cm;
  char **list;
  size_t i, n = 0;
  int verbose = 0;
  nj_version_opt(argc, argv);
  for (;;) {
    int opt = subgetopt_r(argc, argv, "vq:a:", &l);
    if (opt == -1) break;
    switch (opt) {
      case 'v': verbose = 1; break;
      case 'q': qmailhome = l.arg; break;
      case 'a': alias = l.arg; break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  if (argc - l.ind != 1 || !*qmailhome || !*alias) strerr_dieusage(100, USAGE);
  umask(022);
  passwd_homes(alias);
  users_homes(qmailhome);
  for (i = 0; i < homes.len; i += strlen(homes.s + i) + 1) n++;
  list = malloc((n ? n : 1) * sizeof *list);
  if (!list) strerr_diefu1sys(111, "allocate");
  for (i = 0, n = 0; i < homes.len; i += strlen(homes.s + i) + 1) list[n++] = homes.s + i;
  qsort(list, n, sizeof *list, bystr);
  nj_tmp_open(&tmp, argv[l.ind], 0);
  if (cdb_make_start(&cm, tmp.fd) < 0) nj_tmp_die(&tmp, "write ");
  for (i = 0; i < n; i++)
    if (!i || strcmp(list[i], list[i - 1])) list_home(&cm, list[i], &names, &key);
  if (cdb_make_finish(&cm) < 0) nj_tmp_die(&tmp, "write ");
  nj_tmp_commit(&tmp);
  if (verbose) summary();
  free(list);
  stralloc_free(&homes);
  stralloc_free(&names);
  stralloc_free(&key);
  return 0;
}
