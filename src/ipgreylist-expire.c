/* SPDX-License-Identifier: ISC */
/* ipgreylist-expire: removes greylisting's stale state files, of every
 * key kind (IP keys, name keys, triplets, pairs: one record format), in
 * one or more directories: pending keys older than GREYLIST_WINDOW and
 * regulars older than GREYLIST_LIFETIME, plus corrupt files, files more
 * than a clock step in the future, and old temporary files. A record
 * goes exactly when ipgreylist's own verdict (nj_gl_verdict, over the
 * record read as the file store reads it) would reset it, so the two can
 * never disagree. Safe while sessions run: a file is moved aside, checked
 * again, and put back if a session touched it meanwhile. */
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <dirent.h>
#include <time.h>
#include <sys/stat.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include <skalibs/buffer.h>
#include <skalibs/allreadwrite.h>
#include <sys/wait.h>
#include "najimi.h"
#include "greylist.h"

#define USAGE "ipgreylist-expire [ -n ] [ -v ] [ -j workers ] [ -m ] [ dir... ]"
#define SCANCOUNT 500     /* keys asked of each SCAN step */
#define SCANSTEPS 100000000UL   /* a walk ends long before this many steps */
#define TMP_AGE 3600      /* a temporary file this old was left by a crash */
#define MAXWORKERS 16

const char *PROG = "ipgreylist-expire";

static int dryrun, verbose;
static int migrate;       /* -m: copy the files' live records into Redis */
static nj_glstores stores; /* the Redis store, with GREYLIST_REDIS */
static nj_glstore *redis;
static unsigned int workers = 1;   /* top-level directory xx goes to worker xx % workers */
static unsigned char mine[MAXWORKERS];
static nj_glpolicy pol;
static int64_t keepall;   /* no verdict resets a record this young */
static time_t now;        /* read again for every file */
static char aside[32];    /* .expire.PID: where a file is checked before removal */
static const char *topdir;

typedef struct counts_s {
  unsigned long files, kept, stale, lapsed, corrupt, tmp, skipped, errors, copied, exists;
} counts;
static counts n;

static int is_hex2(const char *s)
{
  return ((s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'f')) &&
         ((s[1] >= '0' && s[1] <= '9') || (s[1] >= 'a' && s[1] <= 'f')) && !s[2];
}

/* Appends s to line (room for LINEMAX bytes), cutting what does not fit. */
#define LINEMAX 600
static size_t cat(char *line, size_t len, const char *s)
{
  size_t k = strlen(s);
  if (k > LINEMAX - 1 - len) k = LINEMAX - 1 - len;
  memcpy(line + len, s, k);
  return len + k;
}

/* One line per removed file with -v, written whole with one write(), so
 * that the lines of parallel workers never mix. */
static void report(const char *what, const char *d1, const char *d2,
                   const char *name, long long age, const char *text)
{
  char line[LINEMAX];
  char num[ULONG_FMT + 1];
  size_t len = 0;
  if (!verbose) return;
  num[ulong_fmt(num, age < 0 ? 0 : (unsigned long)age)] = 0;
  len = cat(line, len, PROG);
  len = cat(line, len, migrate ? (dryrun ? ": would-migrate " : ": migrate ")
                              : (dryrun ? ": would-remove " : ": removed "));
  len = cat(line, len, what);
  len = cat(line, len, " key=");
  len = cat(line, len, name);
  len = cat(line, len, " age=");
  len = cat(line, len, num);
  len = cat(line, len, " path=");
  len = cat(line, len, topdir);
  len = cat(line, len, "/");
  len = cat(line, len, d1);
  len = cat(line, len, "/");
  len = cat(line, len, d2);
  len = cat(line, len, "/");
  len = cat(line, len, name);
  if (text && *text) {
    char san[NJ_LOGVAL + 4];
    nj_sanitise(san, NJ_LOGVAL, text, strlen(text));
    len = cat(line, len, " text=");
    len = cat(line, len, san);
  }
  line[len++] = '\n';
  if (allwrite(1, line, len) < len) strerr_diefu1sys(111, "write to stdout");
}

static void warn_sys(const char *what, const char *d1, const char *d2, const char *name)
{
  n.errors++;
  strerr_warnwu9sys(what, " ", topdir, "/", d1, d2[0] ? "/" : "", d2, name[0] ? "/" : "", name);
}

/* Removes name from dfd if it is still the file judged stale (same inode,
 * same mtime). The file is first renamed aside, so that a session that
 * refreshes or replaces it meanwhile is noticed: then it is put back,
 * unless a newer file took its name, which then wins. 1 when removed. */
static int remove_stale(int dfd, const char *name, const struct stat *was)
{
  struct stat s;
  if (dryrun) return 1;
  if (renameat(dfd, name, dfd, aside) < 0) return errno == ENOENT ? 0 : -1;
  if (fstatat(dfd, aside, &s, AT_SYMLINK_NOFOLLOW) < 0) return -1;
  if (s.st_ino == was->st_ino && s.st_dev == was->st_dev &&
      s.st_mtim.tv_sec == was->st_mtim.tv_sec &&
      s.st_mtim.tv_nsec == was->st_mtim.tv_nsec) {
    if (unlinkat(dfd, aside, 0) < 0) return -1;
    return 1;
  }
  if (renameat2(dfd, aside, dfd, name, RENAME_NOREPLACE) < 0) {
    if (errno != EEXIST) return -1;
    unlinkat(dfd, aside, 0);   /* a newer file has the name: it wins */
  }
  return 0;
}

/* Judges the file name (ls: its lstat, age: its age) as ipgreylist
 * would: 1 and *what when the verdict is a reset (it goes), 0 when it is
 * kept, -1 when it went meanwhile or cannot be read (then warned). */
static int judge(int dfd, const char *name, const struct stat *ls, int64_t age,
                 const char **what, const char *d1, const char *d2, nj_glrec *r)
{
  struct stat fs;
  nj_glkey k;
  nj_glverdict v;
  int e, fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) warn_sys("open", d1, d2, name);
    return -1;
  }
  if (fstat(fd, &fs) < 0) { close(fd); warn_sys("stat", d1, d2, name); return -1; }
  if (fs.st_ino != ls->st_ino || fs.st_mtim.tv_sec != ls->st_mtim.tv_sec ||
      fs.st_mtim.tv_nsec != ls->st_mtim.tv_nsec) {
    close(fd);                  /* replaced or refreshed meanwhile: in use */
    return 0;
  }
  /* an IP key's record must be its own; a hashed one is judged as read */
  nj_gl_name_parse(name, 0, 0, &k);
  e = nj_glf_record(fd, &fs, &k, r) < 0 ? errno : 0;
  close(fd);
  if (e) { errno = e; warn_sys("read", d1, d2, name); return -1; }
  v = nj_gl_verdict(r->found, age, &pol);
  if (v.is != NJ_GLV_RESET) return 0;
  *what = v.reason == NJ_GLR_STALE ? "stale" : v.reason == NJ_GLR_LAPSED ? "lapsed" : "corrupt";
  return 1;
}

/* -m: the file's record, if ipgreylist would still use it, is created in
 * Redis as it is (SET NX: a record already there, made by a session on
 * any MX, wins), its time from the mtime, its TTL from what is left of
 * its window or lifetime. The file stays. */
static void copy(int dfd, const char *name, const struct stat *ls, int64_t age,
                 const char *d1, const char *d2)
{
  nj_glrec r;
  nj_glkey k;
  const char *what = 0;
  int e, got;
  memset(&r, 0, sizeof r);
  r.found = NJ_GL_NONE;
  got = judge(dfd, name, ls, age, &what, d1, d2, &r);
  if (got < 0) return;
  if (!got && r.found != NJ_GL_PENDING && r.found != NJ_GL_REGULAR) {
    n.skipped++;                  /* replaced while it was read: run again */
    return;
  }
  if (got > 0) {                  /* ipgreylist would reset it: not copied */
    if (what[0] == 's') n.stale++;
    else if (what[0] == 'l') n.lapsed++;
    else n.corrupt++;
    return;
  }
  nj_gl_name_parse(name, 0, 0, &k);
  if (!k.textlen && !nj_gl_hashkey(&k, r.text, r.textlen)) { n.corrupt++; return; }
  if (r.found == NJ_GL_REGULAR) {
    r.last = (int64_t)ls->st_mtime;
    if (!r.first) r.first = r.last;
  } else r.first = (int64_t)ls->st_mtime;
  e = dryrun ? 0 : redis->write(redis, &k, NJ_GLW_CREATE, &r);
  if (e == EEXIST) { n.exists++; report("exists", d1, d2, name, (long long)age, r.text); return; }
  if (e) {
    n.errors++;
    strerr_warnwu6x("copy ", topdir, "/", name, " into Redis: ", nj_gl_errname(e));
    return;
  }
  n.copied++;
  report(r.found == NJ_GL_REGULAR ? "copied-regular" : "copied-pending", d1, d2, name,
         (long long)age, r.text);
}

static void leaf(int dfd, const char *d1, const char *d2)
{
  DIR *dir = fdopendir(dfd);
  struct dirent *e;
  if (!dir) { close(dfd); warn_sys("read", d1, d2, ""); return; }
  for (;;) {
    struct stat s;
    nj_glkey k;
    static nj_glrec r_rec;
    const char *what = 0;
    int64_t age;
    int r;
    errno = 0;
    e = readdir(dir);
    if (!e) {
      if (errno) warn_sys("read", d1, d2, "");
      break;
    }
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
      continue;
    r_rec.text[0] = 0;
    if (!strncmp(e->d_name, ".tmp.", 5) || !strncmp(e->d_name, ".expire.", 8)) {
      if (!strcmp(e->d_name, aside)) continue;
      if (fstatat(dfd, e->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0) continue;
      if (!S_ISREG(s.st_mode) || now - s.st_mtime < TMP_AGE) continue;
      if (!dryrun && unlinkat(dfd, e->d_name, 0) < 0) { warn_sys("remove", d1, d2, e->d_name); continue; }
      n.tmp++;
      report("tmp", d1, d2, e->d_name, (long long)(now - s.st_mtime), 0);
      continue;
    }
    if (!nj_gl_name_parse(e->d_name, d1, d2, &k)) {
      n.skipped++;
      continue;
    }
    n.files++;
    if (fstatat(dfd, e->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) warn_sys("stat", d1, d2, e->d_name);
      continue;
    }
    if (!S_ISREG(s.st_mode)) { n.skipped++; continue; }
    /* The clock is read after the file, as ipgreylist does: a regular a
     * session refreshed since the walk began is not from the future. */
    now = time(0);
    age = (int64_t)now - (int64_t)s.st_mtime;
    if (migrate) { copy(dfd, e->d_name, &s, age, d1, d2); continue; }
    if (age >= 0 && age <= keepall) { n.kept++; continue; }   /* not even read */
    r = judge(dfd, e->d_name, &s, age, &what, d1, d2, &r_rec);
    if (r < 0) continue;
    if (r > 0) r = remove_stale(dfd, e->d_name, &s);
    if (r < 0) { warn_sys("remove", d1, d2, e->d_name); continue; }
    if (!r) { n.kept++; continue; }
    if (what[0] == 's') n.stale++;
    else if (what[0] == 'l') n.lapsed++;
    else n.corrupt++;
    report(what, d1, d2, e->d_name, age, r_rec.text);
  }
  closedir(dir);
}

/* Calls f for every two-hex-digit subdirectory of dfd (never a symlink). */
static void level(int dfd, const char *d1)
{
  DIR *dir;
  struct dirent *e;
  int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);   /* its own offset */
  if (fd < 0 || !(dir = fdopendir(fd))) {
    if (fd >= 0) close(fd);
    warn_sys("read", d1 ? d1 : ".", "", "");
    return;
  }
  for (;;) {
    int sub;
    char name[3];
    errno = 0;
    e = readdir(dir);
    if (!e) {
      if (errno) warn_sys("read", d1 ? d1 : ".", "", "");
      break;
    }
    if (!is_hex2(e->d_name)) continue;
    if (!d1 && !mine[strtoul(e->d_name, 0, 16) % workers]) continue;
    memcpy(name, e->d_name, 3);
    sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) {
      if (errno == ELOOP || errno == ENOTDIR) n.skipped++;
      else warn_sys("open", d1 ? d1 : name, d1 ? name : "", "");
      continue;
    }
    if (!d1) {
      level(sub, name);
      close(sub);
    } else leaf(sub, d1, name);
  }
  closedir(dir);
}

/* The walk is mostly system calls on metadata: one worker process per
 * CPU (or -j), each taking its share of the top-level directories and
 * sending its counts back over a pipe. Any worker that cannot be started
 * leaves its share to this process. */
static void walk(int dfd)
{
  unsigned int i;
  pid_t pids[MAXWORKERS];
  int p[2];
  if (workers > 1 && pipe(p) < 0) workers = 1;
  mine[0] = 1;
  for (i = 1; i < workers; i++) {
    pid_t pid = fork();
    if (pid < 0) { mine[i] = 1; pids[i] = 0; continue; }
    if (!pid) {
      memset(&n, 0, sizeof n);   /* its own counts: the parent's are added already */
      memset(mine, 0, sizeof mine);
      mine[i] = 1;
      close(p[0]);
      level(dfd, 0);
      _exit(allwrite(p[1], (char *)&n, sizeof n) == sizeof n ? 0 : 111);
    }
    pids[i] = pid;
  }
  level(dfd, 0);
  if (workers <= 1) return;
  close(p[1]);
  for (i = 1; i < workers; i++) {
    counts c;
    if (!pids[i]) continue;
    if (allread(p[0], (char *)&c, sizeof c) != sizeof c) {
      n.errors++;
      strerr_warnw("a worker did not report its counts");
    } else {
      n.files += c.files; n.kept += c.kept; n.stale += c.stale; n.lapsed += c.lapsed;
      n.corrupt += c.corrupt; n.tmp += c.tmp; n.skipped += c.skipped; n.errors += c.errors;
      n.copied += c.copied; n.exists += c.exists;
    }
  }
  for (i = 1; i < workers; i++) {
    int wstat;
    if (pids[i] && (waitpid(pids[i], &wstat, 0) < 0 || !WIFEXITED(wstat) || WEXITSTATUS(wstat))) n.errors++;
  }
  close(p[0]);
}

static void put_count(const char *name, unsigned long v)
{
  char num[ULONG_FMT + 1];
  num[ulong_fmt(num, v)] = 0;
  buffer_puts(buffer_1, " ");
  buffer_puts(buffer_1, name);
  buffer_puts(buffer_1, "=");
  buffer_puts(buffer_1, num);
}

static void migrated(void)
{
  buffer_puts(buffer_1, PROG);
  buffer_puts(buffer_1, dryrun ? ": dry-run migrate" : ": migrated");
  put_count("files", n.files);
  put_count("copied", n.copied);
  put_count("exists", n.exists);
  put_count("stale", n.stale);
  put_count("lapsed", n.lapsed);
  put_count("corrupt", n.corrupt);
  put_count("skipped", n.skipped);
  put_count("errors", n.errors);
  buffer_puts(buffer_1, "\n");
  if (!buffer_flush(buffer_1)) strerr_diefu1sys(111, "write to stdout");
}

/* ------------------------------------------------------------ on Redis */

/* Redis expires its keys itself (their TTLs): on Redis this tool only
 * counts them, by state and by kind, as ipgreylist would read them. */
typedef struct rcounts_s {
  unsigned long keys, pending, regular, corrupt, newer, gone;
  unsigned long kind[NJ_GLK_PAIR + 1];
} rcounts;

static int text_kind(const nj_glrec *r)
{
  nj_glkey k;
  if (r->version == 1) return NJ_GLK_IP;
  if (nj_gl_hashkey(&k, r->text, r->textlen)) return k.kind;
  return r->textlen > 3 && !memcmp(r->text, "ip:", 3) ? NJ_GLK_IP : NJ_GLK_NET;
}

static void tally(void *aux, const char *name, size_t nn, const char *val, size_t vn)
{
  rcounts *c = aux;
  char nm[NJ_GL_NAMEMAX];
  nj_glkey k;
  nj_glrec r;
  int ok = 0;
  c->keys++;
  if (!val) { c->gone++; return; }
  if (nn < sizeof nm) {
    memcpy(nm, name, nn);
    nm[nn] = 0;
    ok = nj_gl_name_parse(nm, 0, 0, &k);
  }
  if (!ok || vn > NJ_GL_FILEMAX) { c->corrupt++; return; }
  switch (nj_gl_parse(val, vn, &k, &r)) {
    case NJ_GL_PENDING: c->pending++; break;
    case NJ_GL_REGULAR: c->regular++; break;
    case NJ_GL_NEWER: c->newer++; return;
    default: c->corrupt++; return;
  }
  c->kind[text_kind(&r)]++;
}

/* 0, or 1 when Redis could not be read (warned; the directories are
 * still walked, and the exit code says it). */
static int redis_report(void)
{
  nj_glredis *r = &stores.redis;
  rcounts c;
  unsigned long cursor = 0, steps = 0;
  int e, i;
  memset(&c, 0, sizeof c);
  do {
    e = nj_glr_scan(r, &cursor, SCANCOUNT, tally, &c);
    if (e) {
      strerr_warnwu6x("read Redis at ", r->spec ? r->spec : "(invalid)", ": ",
                      r->s.op ? r->s.op : "scan", " ", nj_gl_errname(e));
      nj_glr_close(r);
      return 1;
    }
  } while (cursor && ++steps < SCANSTEPS);
  nj_glr_close(r);
  if (!verbose) return 0;                   /* quiet for cron, as the files */
  buffer_puts(buffer_1, PROG);
  buffer_puts(buffer_1, ": redis");
  put_count("keys", c.keys);
  put_count("pending", c.pending);
  put_count("regular", c.regular);
  put_count("corrupt", c.corrupt);
  put_count("newer", c.newer);
  put_count("gone", c.gone);
  for (i = NJ_GLK_IP; i <= NJ_GLK_PAIR; i++) put_count(nj_gl_kindname(i), c.kind[i]);
  buffer_puts(buffer_1, "\n");
  if (!buffer_flush(buffer_1)) strerr_diefu1sys(111, "write to stdout");
  return 0;
}

static void summary(void)
{
  char fmt[8][ULONG_FMT + 1];
  fmt[0][ulong_fmt(fmt[0], n.files)] = 0;
  fmt[1][ulong_fmt(fmt[1], n.kept)] = 0;
  fmt[2][ulong_fmt(fmt[2], n.stale)] = 0;
  fmt[3][ulong_fmt(fmt[3], n.lapsed)] = 0;
  fmt[4][ulong_fmt(fmt[4], n.corrupt)] = 0;
  fmt[5][ulong_fmt(fmt[5], n.tmp)] = 0;
  fmt[6][ulong_fmt(fmt[6], n.skipped)] = 0;
  fmt[7][ulong_fmt(fmt[7], n.errors)] = 0;
  buffer_puts(buffer_1, PROG);
  buffer_puts(buffer_1, dryrun ? ": dry-run" : ": done");
  buffer_puts(buffer_1, " files=");   buffer_puts(buffer_1, fmt[0]);
  buffer_puts(buffer_1, " kept=");    buffer_puts(buffer_1, fmt[1]);
  buffer_puts(buffer_1, " stale=");   buffer_puts(buffer_1, fmt[2]);
  buffer_puts(buffer_1, " lapsed=");  buffer_puts(buffer_1, fmt[3]);
  buffer_puts(buffer_1, " corrupt="); buffer_puts(buffer_1, fmt[4]);
  buffer_puts(buffer_1, " tmp=");     buffer_puts(buffer_1, fmt[5]);
  buffer_puts(buffer_1, " skipped="); buffer_puts(buffer_1, fmt[6]);
  buffer_puts(buffer_1, " errors=");  buffer_puts(buffer_1, fmt[7]);
  buffer_puts(buffer_1, "\n");
  if (!buffer_flush(buffer_1)) strerr_diefu1sys(111, "write to stdout");
}

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  int dfd, optj = 0, i, rerr = 0;

  nj_version_opt(argc, argv);
  for (;;) {
    int opt = subgetopt_r(argc, argv, "nvj:m", &l);
    if (opt == -1) break;
    switch (opt) {
      case 'n': dryrun = 1; verbose = 1; break;
      case 'm': migrate = 1; break;
      case 'v': verbose = 1; break;
      case 'j': workers = (unsigned int)nj_opt_ulong('j', l.arg, 1, MAXWORKERS); optj = 1; break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  argc -= l.ind;
  argv += l.ind;

  /* The rule's times as ipgreylist reads them (nj_gl_policy_env). The
   * minimum delay never makes a record go, but above the window it makes
   * ipgreylist use the default window, and then so must this. */
  nj_gl_policy_env(&pol);
  /* Redis (GREYLIST_REDIS): reported on, or with -m the target of the
   * files' records; directories given are walked as files either way. */
  redis = nj_gl_store(&stores, 0, &pol);
  if (migrate && !redis) strerr_dief1x(100, "-m needs GREYLIST_REDIS: the Redis to copy the records into");
  if (argc < 1 && (!redis || migrate)) strerr_dieusage(100, USAGE);
  if (redis && !migrate) rerr = redis_report();
  if (argc < 1) return rerr ? 111 : 0;
  keepall = pol.window < pol.lifetime ? pol.window : pol.lifetime;
  now = time(0);
  memcpy(aside, ".expire.", 8);
  aside[8 + pid_fmt(aside + 8, getpid())] = 0;
  if (!optj) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    workers = c < 1 ? 1 : c > MAXWORKERS ? MAXWORKERS : (unsigned int)c;
  }

  /* every directory before the summary: one that cannot be opened is
   * fatal before any is walked */
  for (i = 0; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) < 0) strerr_diefu2sys(111, "open ", argv[i]);
    if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; strerr_diefu2sys(111, "open ", argv[i]); }
  }
  for (i = 0; i < argc; i++) {
    topdir = argv[i];
    dfd = open(topdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) strerr_diefu2sys(111, "open ", topdir);
    if (redis) nj_glr_close(&stores.redis);   /* each worker connects its own */
    walk(dfd);
    close(dfd);
  }
  /* quiet on success, for cron: the summary with -v or -n, or when a
   * file could not be handled; a migration (run by hand) always says
   * what it copied */
  if (migrate) migrated();
  else if (verbose || n.errors) summary();
  return n.errors || rerr ? 111 : 0;
}
