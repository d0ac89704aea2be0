/* test_ipgreylist: unit tests of greylist.c and greylist-files.c: state
 * keys and file names, record texts, the verdict (a table of ages around
 * every boundary), the record a verdict leaves, decisions through the file
 * store and through a store in memory, whitelist keys, dates, and the
 * whitelist lookup through a cdb built here with tinycdb's own cdb_make. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <cdb.h>
#include "check.h"
#include "najimi.h"
#include "greylist.h"

const char *PROG = "test_ipgreylist";


static int key_is(const char *ip, unsigned int prefix, const char *want)
{
  nj_ip a;
  nj_glkey k;
  if (!nj_ip_parse(ip, &a)) return 0;
  nj_gl_key(&k, &a, prefix);
  if (strcmp(k.name, want)) { printf("# key %s/%u: got %s\n", ip, prefix, k.name); return 0; }
  return 1;
}

static int same_dirs(const char *ip1, const char *ip2, unsigned int prefix)
{
  nj_ip a, b;
  nj_glkey k1, k2;
  if (!nj_ip_parse(ip1, &a) || !nj_ip_parse(ip2, &b)) return -1;
  nj_gl_key(&k1, &a, prefix);
  nj_gl_key(&k2, &b, prefix);
  return !strcmp(k1.dir1, k2.dir1) && !strcmp(k1.dir2, k2.dir2) && !strcmp(k1.name, k2.name);
}

static int parse_is(const char *s, int want, unsigned long wantcount)
{
  unsigned long c = 12345;
  int r = nj_gl_parse(s, strlen(s), &c);
  return r == want && (!want || c == wantcount);
}

static int netkey_is(const char *cidr, const char *want)
{
  nj_ip n;
  unsigned int len;
  char buf[NJ_IPFMT + 8];
  if (!nj_cidr_parse(cidr, &n, &len)) return 0;
  nj_wl_netkey(buf, &n, len);
  return !strcmp(buf, want);
}

static int hostkey_is(const char *host, int suffix, const char *want)
{
  char buf[300];
  size_t n = nj_wl_hostkey(buf, sizeof buf, host, suffix);
  if (!want) return n == 0;
  return n == strlen(want) && !strcmp(buf, want);
}

static void add(struct cdb_make *cm, const char *k, const char *v)
{
  cdb_make_add(cm, k, (unsigned)strlen(k), v, (unsigned)strlen(v));
}

static int lookup(const char *file, const char *ip, const char *host, const char *wantmatch, int wantexpired)
{
  nj_ip a;
  char match[160];
  int expired = -1, r;
  if (ip && !nj_ip_parse(ip, &a)) return 0;
  r = nj_wl_lookup(file, ip ? &a : 0, host, (time_t)1795000000, match, sizeof match, &expired);
  /* 1795000000 is 2026-11-18 */
  if (!wantmatch) return r == 0 && expired == wantexpired;
  if (r != 1 || strcmp(match, wantmatch)) { printf("# lookup %s %s: r=%d match=%s\n", ip ? ip : "-", host ? host : "-", r, r == 1 ? match : ""); return 0; }
  return 1;
}


/* ------------------------------------------------------------ verdicts */

/* One row: what was found, the record's age, the verdict and reason. */
struct vrow { int found; int64_t age; int is, reason; const char *name; };

static const char *vname(int is)
{
  switch (is) {
    case NJ_GLV_NEW: return "new";
    case NJ_GLV_TOO_SOON: return "too-soon";
    case NJ_GLV_PROMOTE: return "promote";
    case NJ_GLV_REGULAR: return "regular";
    case NJ_GLV_RESET: return "reset";
    default: return "?";
  }
}

static void vtable(const struct vrow *t, size_t n, const nj_glpolicy *p)
{
  size_t i;
  for (i = 0; i < n; i++) {
    nj_glverdict v = nj_gl_verdict(t[i].found, t[i].age, p);
    char name[160];
    snprintf(name, sizeof name, "verdict: %s", t[i].name);
    CHECK(name, v.is == t[i].is && v.reason == t[i].reason);
    if (v.is != t[i].is || v.reason != t[i].reason)
      printf("#   age %lld: got %s/%s, want %s/%s\n", (long long)t[i].age, vname(v.is),
             nj_gl_reason(v.reason), vname(t[i].is), nj_gl_reason(t[i].reason));
  }
}

static void verdicts(void)
{
  /* min 300, window 86400, lifetime 3110400: the defaults */
  static const struct vrow t[] = {
    { NJ_GL_NONE, 0, NJ_GLV_NEW, 0, "no record: new" },
    { NJ_GL_NONE, -5, NJ_GLV_NEW, 0, "no record: new whatever the age" },
    { NJ_GL_PENDING, 0, NJ_GLV_TOO_SOON, 0, "pending, age 0: too soon" },
    { NJ_GL_PENDING, 299, NJ_GLV_TOO_SOON, 0, "pending, min-1: too soon" },
    { NJ_GL_PENDING, 300, NJ_GLV_PROMOTE, 0, "pending, min: passes" },
    { NJ_GL_PENDING, 86400, NJ_GLV_PROMOTE, 0, "pending, window: passes" },
    { NJ_GL_PENDING, 86401, NJ_GLV_RESET, NJ_GLR_STALE, "pending, window+1: stale" },
    { NJ_GL_PENDING, 3110400, NJ_GLV_RESET, NJ_GLR_STALE, "pending, lifetime: stale" },
    { NJ_GL_PENDING, 3110401, NJ_GLV_RESET, NJ_GLR_STALE, "pending, lifetime+1: stale" },
    { NJ_GL_PENDING, -1, NJ_GLV_RESET, NJ_GLR_FUTURE, "pending, 1 s ahead: future" },
    { NJ_GL_PENDING, -172800, NJ_GLV_RESET, NJ_GLR_FUTURE, "pending, 2 days ahead: future" },
    { NJ_GL_REGULAR, 0, NJ_GLV_REGULAR, 0, "regular, age 0" },
    { NJ_GL_REGULAR, 299, NJ_GLV_REGULAR, 0, "regular, min-1: no delay for regulars" },
    { NJ_GL_REGULAR, 300, NJ_GLV_REGULAR, 0, "regular, min" },
    { NJ_GL_REGULAR, 86400, NJ_GLV_REGULAR, 0, "regular, window" },
    { NJ_GL_REGULAR, 86401, NJ_GLV_REGULAR, 0, "regular, window+1: the window is for pending" },
    { NJ_GL_REGULAR, 3110400, NJ_GLV_REGULAR, 0, "regular, lifetime" },
    { NJ_GL_REGULAR, 3110401, NJ_GLV_RESET, NJ_GLR_LAPSED, "regular, lifetime+1: lapsed" },
    { NJ_GL_REGULAR, -1, NJ_GLV_RESET, NJ_GLR_FUTURE, "regular, 1 s ahead: future" },
    { NJ_GL_CORRUPT, 0, NJ_GLV_RESET, NJ_GLR_CORRUPT, "corrupt, age 0" },
    { NJ_GL_CORRUPT, 300, NJ_GLV_RESET, NJ_GLR_CORRUPT, "corrupt, min" },
    { NJ_GL_CORRUPT, -1, NJ_GLV_RESET, NJ_GLR_CORRUPT, "corrupt and ahead: corrupt first" },
    { NJ_GL_SYMLINK, 0, NJ_GLV_RESET, NJ_GLR_SYMLINK, "symlink" },
    { NJ_GL_NOTFILE, 86400, NJ_GLV_RESET, NJ_GLR_NOTFILE, "not a file" },
    { 42, 0, NJ_GLV_RESET, NJ_GLR_CORRUPT, "an unknown found value: corrupt" },
  };
  /* min 0: the second attempt passes at once; min = window: one second */
  static const struct vrow z[] = {
    { NJ_GL_PENDING, 0, NJ_GLV_PROMOTE, 0, "min 0: pending, age 0 passes" },
    { NJ_GL_PENDING, -1, NJ_GLV_RESET, NJ_GLR_FUTURE, "min 0: still not from the future" },
  };
  static const struct vrow e[] = {
    { NJ_GL_PENDING, 599, NJ_GLV_TOO_SOON, 0, "min = window 600: 599 too soon" },
    { NJ_GL_PENDING, 600, NJ_GLV_PROMOTE, 0, "min = window 600: 600 passes" },
    { NJ_GL_PENDING, 601, NJ_GLV_RESET, NJ_GLR_STALE, "min = window 600: 601 stale" },
  };
  nj_glpolicy p = { NJ_GL_DEF_MIN, NJ_GL_DEF_WINDOW, NJ_GL_DEF_LIFETIME };
  nj_glpolicy p0 = { 0, 600, 3600 }, pe = { 600, 600, 3600 };
  vtable(t, sizeof t / sizeof t[0], &p);
  vtable(z, sizeof z / sizeof z[0], &p0);
  vtable(e, sizeof e / sizeof e[0], &pe);
  CHECK_EQ_STR("reason names: stale", nj_gl_reason(NJ_GLR_STALE), "stale");
  CHECK_EQ_STR("reason names: not-a-file", nj_gl_reason(NJ_GLR_NOTFILE), "not-a-file");
}

/* ipgreylist-expire keeps, without reading it, any file no older than
 * the shorter of window and lifetime: no verdict may reset such a record. */
static void young_records_kept(void)
{
  static const nj_glpolicy ps[] = { { 300, 86400, 3110400 }, { 0, 600, 60 }, { 60, 60, 60 }, { 0, 1, 1 } };
  size_t i;
  int ok = 1;
  for (i = 0; i < sizeof ps / sizeof ps[0]; i++) {
    int64_t keep = ps[i].window < ps[i].lifetime ? ps[i].window : ps[i].lifetime;
    int64_t ages[4];
    size_t j;
    ages[0] = 0; ages[1] = ps[i].min; ages[2] = keep - 1; ages[3] = keep;
    for (j = 0; j < 4; j++) {
      if (ages[j] < 0) continue;
      if (nj_gl_verdict(NJ_GL_PENDING, ages[j], &ps[i]).is == NJ_GLV_RESET) ok = 0;
      if (nj_gl_verdict(NJ_GL_REGULAR, ages[j], &ps[i]).is == NJ_GLV_RESET) ok = 0;
    }
    if (nj_gl_verdict(NJ_GL_PENDING, keep + 1, &ps[i]).is != NJ_GLV_RESET &&
        nj_gl_verdict(NJ_GL_REGULAR, keep + 1, &ps[i]).is != NJ_GLV_RESET) ok = 0;
  }
  CHECK("verdict: nothing of age 0..min(window, lifetime) is reset; one past it is", ok);
}

static void policy_check(void)
{
  nj_glpolicy p = { 900, 600, 3600 }, q = { 600, 600, 3600 };
  nj_gl_policy_check(&p);
  nj_gl_policy_check(&q);
  CHECK("policy: min above window: both defaults", p.min == NJ_GL_DEF_MIN && p.window == NJ_GL_DEF_WINDOW && p.lifetime == 3600);
  CHECK("policy: min equal to window: kept", q.min == 600 && q.window == 600);
}

static void next_records(void)
{
  struct timespec now = { 1795000000, 5 }, then = { 1794999900, 123456789 };
  nj_glrec cur, nx;
  int how;
  cur.found = NJ_GL_PENDING; cur.count = 4; cur.when = then;
  how = nj_gl_next(&cur, NJ_GLV_TOO_SOON, &now, &nx);
  CHECK("next: too soon counts, keeps first-seen to the nanosecond",
        how == NJ_GLW_KEEP && nx.found == NJ_GL_PENDING && nx.count == 5 &&
        nx.when.tv_sec == then.tv_sec && nx.when.tv_nsec == then.tv_nsec);
  cur.count = NJ_GL_COUNTMAX;
  nj_gl_next(&cur, NJ_GLV_TOO_SOON, &now, &nx);
  CHECK("next: the count stops at NJ_GL_COUNTMAX", nx.count == NJ_GL_COUNTMAX);
  cur.count = 4;
  how = nj_gl_next(&cur, NJ_GLV_PROMOTE, &now, &nx);
  CHECK("next: promote makes a regular, count kept, time now",
        how == NJ_GLW_REPLACE && nx.found == NJ_GL_REGULAR && nx.count == 4 && nx.when.tv_sec == now.tv_sec);
  cur.found = NJ_GL_REGULAR;
  how = nj_gl_next(&cur, NJ_GLV_REGULAR, &now, &nx);
  CHECK("next: a regular's pass refreshes it", how == NJ_GLW_TOUCH && nx.found == NJ_GL_REGULAR && nx.count == 4 && nx.when.tv_sec == now.tv_sec);
  how = nj_gl_next(&cur, NJ_GLV_RESET, &now, &nx);
  CHECK("next: reset is a stranger seen now", how == NJ_GLW_REPLACE && nx.found == NJ_GL_PENDING && nx.count == 0 && nx.when.tv_sec == now.tv_sec);
  cur.found = NJ_GL_NONE;
  how = nj_gl_next(&cur, NJ_GLV_NEW, &now, &nx);
  CHECK("next: new is created, never replacing", how == NJ_GLW_CREATE && nx.found == NJ_GL_PENDING && nx.count == 0);
}

/* ------------------------------------------------------------- stores */

/* A store in memory: one record, its clock the real one. It shows that
 * nothing in nj_gl_decide depends on files; race makes the first create
 * fail with EEXIST, as when a simultaneous session was first. */
typedef struct memstore_s {
  nj_glstore s;
  nj_glrec rec;
  int race, writes, fail;
} memstore;

static int mem_read(nj_glstore *s, const nj_glkey *k, nj_glrec *r)
{
  (void)k;
  *r = ((memstore *)s)->rec;
  return 0;
}

static int mem_write(nj_glstore *s, const nj_glkey *k, int how, const nj_glrec *r)
{
  memstore *m = (memstore *)s;
  struct timespec now;
  (void)k;
  if (m->fail) return m->fail;
  if (how == NJ_GLW_CREATE && m->race) {
    m->race = 0;
    m->rec.found = NJ_GL_PENDING;
    clock_gettime(CLOCK_REALTIME, &m->rec.when);
    return EEXIST;
  }
  if (how == NJ_GLW_CREATE && m->rec.found != NJ_GL_NONE) return EEXIST;
  clock_gettime(CLOCK_REALTIME, &now);
  m->rec = *r;
  if (how != NJ_GLW_KEEP) m->rec.when = now;
  m->writes++;
  return 0;
}

static void mem_where(nj_glstore *s, const nj_glkey *k, char *buf, size_t max)
{
  (void)s;
  snprintf(buf, max, "mem:%s", k->name);
}

static void mem_init(memstore *m)
{
  memset(m, 0, sizeof *m);
  m->s.read = mem_read;
  m->s.write = mem_write;
  m->s.where = mem_where;
  m->rec.found = NJ_GL_NONE;
}

static int decided(nj_glstore *s, const nj_glkey *k, const nj_glpolicy *p, int is, int reason, nj_gldecision *d)
{
  int e = nj_gl_decide(s, k, p, d);
  if (e || d->v.is != is || d->v.reason != reason) {
    printf("#   decide: e=%d op=%s verdict %s/%s\n", e, d->op ? d->op : "-", vname(d->v.is), nj_gl_reason(d->v.reason));
    return 0;
  }
  return 1;
}

static void memory_store(const nj_glkey *k)
{
  nj_glpolicy p = { 300, 86400, 3110400 };
  nj_gldecision d;
  memstore m;
  mem_init(&m);
  CHECK("memory store: a stranger is new", decided(&m.s, k, &p, NJ_GLV_NEW, 0, &d) && m.rec.found == NJ_GL_PENDING);
  CHECK("memory store: back at once, too soon, counted", decided(&m.s, k, &p, NJ_GLV_TOO_SOON, 0, &d) && d.count == 1 && m.rec.count == 1);
  m.rec.when.tv_sec -= 400;
  CHECK("memory store: back after min, passes", decided(&m.s, k, &p, NJ_GLV_PROMOTE, 0, &d) && d.age >= 400 && m.rec.found == NJ_GL_REGULAR);
  CHECK("memory store: then a regular", decided(&m.s, k, &p, NJ_GLV_REGULAR, 0, &d) && d.age <= 1);
  m.rec.when.tv_sec -= 3110401 + 5;
  CHECK("memory store: a lapsed regular is new again", decided(&m.s, k, &p, NJ_GLV_RESET, NJ_GLR_LAPSED, &d) && m.rec.found == NJ_GL_PENDING);
  mem_init(&m);
  m.race = 1;
  CHECK("memory store: losing the create race reads again (too soon)", decided(&m.s, k, &p, NJ_GLV_TOO_SOON, 0, &d));
  mem_init(&m);
  m.fail = EROFS;
  CHECK("memory store: a stranger that cannot be recorded is a state failure",
        nj_gl_decide(&m.s, k, &p, &d) == EROFS && d.op && !strcmp(d.op, "create"));
  m.rec.found = NJ_GL_PENDING;
  clock_gettime(CLOCK_REALTIME, &m.rec.when);
  CHECK("memory store: a count that cannot be written is logged only",
        nj_gl_decide(&m.s, k, &p, &d) == 0 && d.v.is == NJ_GLV_TOO_SOON && d.werr == EROFS);
  m.rec.found = NJ_GL_CORRUPT;
  CHECK("memory store: a reset that cannot be written is a state failure",
        nj_gl_decide(&m.s, k, &p, &d) == EROFS && !strcmp(d.op, "reset"));
}

static int xattr_is(const char *path, const char *want)
{
  char buf[64];
  ssize_t r = lgetxattr(path, NJ_GL_XATTR, buf, sizeof buf - 1);
  if (r < 0) {                                   /* no user attributes: the data */
    int fd = open(path, O_RDONLY);
    r = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0) close(fd);
  }
  if (r < 0) return 0;
  buf[r] = 0;
  return !strcmp(buf, want);
}

static void age_file(const char *path, long secs)
{
  struct timespec ts[2];
  clock_gettime(CLOCK_REALTIME, &ts[1]);
  ts[1].tv_sec -= secs;
  ts[0] = ts[1];
  utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

static void file_store(const nj_glkey *k)
{
  char dir[] = "/tmp/test_ipgreylist.s.XXXXXX";
  char path[200], where[400], victim[200], cmd[600];
  nj_glpolicy p = { 300, 86400, 3110400 };
  nj_gldecision d;
  nj_glfiles f;
  struct stat sb;
  int fd;
  if (!mkdtemp(dir)) { perror("mkdtemp"); failed++; return; }
  snprintf(path, sizeof path, "%s/%s/%s/%s", dir, k->dir1, k->dir2, k->name);
  nj_glf_init(&f, dir);
  CHECK("files: a stranger is new, one empty file pending 0",
        decided(&f.s, k, &p, NJ_GLV_NEW, 0, &d) && stat(path, &sb) == 0 && sb.st_size == 0 && xattr_is(path, "pending 0\n"));
  f.s.where(&f.s, k, where, sizeof where);
  CHECK_EQ_STR("files: where is DIR/xx/yy/NAME", where, path);
  age_file(path, 100);
  stat(path, &sb);
  CHECK("files: too soon, counted, the first-seen mtime kept",
        decided(&f.s, k, &p, NJ_GLV_TOO_SOON, 0, &d) && d.count == 1 && d.age >= 100 && xattr_is(path, "pending 1\n"));
  {
    struct stat sa;
    stat(path, &sa);
    CHECK("files: too soon keeps the mtime to the nanosecond",
          sa.st_mtim.tv_sec == sb.st_mtim.tv_sec && sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec && sa.st_ino != sb.st_ino);
  }
  age_file(path, 400);
  CHECK("files: after min, passes and becomes a regular", decided(&f.s, k, &p, NJ_GLV_PROMOTE, 0, &d) && d.count == 1 && xattr_is(path, "regular 1\n"));
  age_file(path, 86400 * 30);
  CHECK("files: a regular 30 days later passes, refreshed",
        decided(&f.s, k, &p, NJ_GLV_REGULAR, 0, &d) && d.age >= 86400 * 30 && stat(path, &sb) == 0 && time(0) - sb.st_mtime <= 1);
  age_file(path, 86400 * 37);
  CHECK("files: a regular 37 days later is reset (lapsed)", decided(&f.s, k, &p, NJ_GLV_RESET, NJ_GLR_LAPSED, &d) && xattr_is(path, "pending 0\n"));
  age_file(path, -2 * 86400);
  CHECK("files: a record 2 days ahead is reset (future)", decided(&f.s, k, &p, NJ_GLV_RESET, NJ_GLR_FUTURE, &d));
  fd = open(path, O_WRONLY | O_TRUNC);
  if (write(fd, "regular x\n", 10) != 10) failed++;
  close(fd);
  CHECK("files: a record that does not parse is reset (corrupt)", decided(&f.s, k, &p, NJ_GLV_RESET, NJ_GLR_CORRUPT, &d) && xattr_is(path, "pending 0\n"));
  snprintf(victim, sizeof victim, "%s/victim", dir);
  fd = open(victim, O_WRONLY | O_CREAT, 0600);
  if (write(fd, "precious\n", 9) != 9) failed++;
  close(fd);
  unlink(path);
  if (symlink(victim, path) < 0) failed++;
  CHECK("files: a symlink at the name is reset, never followed",
        decided(&f.s, k, &p, NJ_GLV_RESET, NJ_GLR_SYMLINK, &d) && lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
        stat(victim, &sb) == 0 && sb.st_size == 9 && lgetxattr(victim, NJ_GL_XATTR, cmd, sizeof cmd) < 0);
  unlink(path);
  mkdir(path, 0700);
  CHECK("files: a directory at the name: not-a-file, its reset fails (EISDIR)",
        nj_gl_decide(&f.s, k, &p, &d) == EISDIR && d.v.reason == NJ_GLR_NOTFILE && !strcmp(d.op, "reset"));
  rmdir(path);
  nj_glf_close(&f);
  CHECK("files: closed, nothing left open", f.top < 0 && f.leaf < 0 && f.fd < 0);
  snprintf(path, sizeof path, "%s/%s", dir, k->dir1);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && ln -s /tmp '%s'", path, path);
  if (system(cmd)) failed++;
  nj_glf_init(&f, dir);
  CHECK("files: a symlinked fan-out directory is not followed (op subdir)",
        nj_gl_decide(&f.s, k, &p, &d) != 0 && !strcmp(d.op, "subdir"));
  nj_glf_close(&f);
  snprintf(path, sizeof path, "%s/nonexistent", dir);
  nj_glf_init(&f, path);
  CHECK("files: a missing DIR fails at open-dir", nj_gl_decide(&f.s, k, &p, &d) == ENOENT && !strcmp(d.op, "open-dir"));
  nj_glf_close(&f);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) failed++;
}

int main(void)
{
  char buf[64], today[11];
  char file[] = "/tmp/test_ipgreylist.XXXXXX";
  nj_glkey k;
  int fd, i, dirs[256] = { 0 }, used = 0;

  /* state keys */
  CHECK("key: v4 address", key_is("192.0.2.9", 32, "192.0.2.9"));
  CHECK("key: v4 /24", key_is("192.0.2.9", 24, "192.0.2.0-24"));
  CHECK("key: v4 /20", key_is("198.51.100.200", 20, "198.51.96.0-20"));
  CHECK("key: v4 bad prefix means /32", key_is("192.0.2.9", 40, "192.0.2.9"));
  CHECK("key: v6 /64", key_is("2001:db8:1:2:3:4:5:6", 32, "2001:db8:1:2::-64"));
  CHECK("key: v6 /64 of ::1", key_is("::1", 32, "::-64"));
  CHECK("key: ::ffff: is v4", key_is("::ffff:192.0.2.9", 32, "192.0.2.9"));
  CHECK("key: same /24 same file", same_dirs("192.0.2.1", "192.0.2.254", 24) == 1);
  CHECK("key: same /64 same file", same_dirs("2001:db8::1", "2001:db8::ffff:1", 32) == 1);
  CHECK("key: other /64 other file", same_dirs("2001:db8::1", "2001:db8:0:1::1", 32) == 0);
  {
    nj_ip a;
    nj_ip_parse("10.0.0.0", &a);
    for (i = 0; i < 4096; i++) {
      int d;
      a.a[2] = (unsigned char)(i >> 8);
      a.a[3] = (unsigned char)i;
      nj_gl_key(&k, &a, 32);
      d = (int)strtol(k.dir1, 0, 16);
      if (!dirs[d]++) used++;
    }
    CHECK("key: fan-out spreads consecutive addresses over all 256 top directories", used == 256);
    CHECK("key: fan-out directories are two lower-case hex digits",
          strlen(k.dir1) == 2 && strlen(k.dir2) == 2 && strspn(k.dir1, "0123456789abcdef") == 2 &&
          strspn(k.dir2, "0123456789abcdef") == 2);
  }
  CHECK("name: v4 recognised", nj_gl_name_parse("192.0.2.9", &k) && k.len == 32);
  CHECK("name: v4 /24 recognised", nj_gl_name_parse("192.0.2.0-24", &k) && k.len == 24);
  CHECK("name: v6 /64 recognised", nj_gl_name_parse("2001:db8:1:2::-64", &k));
  CHECK("name: unmasked /24 refused", !nj_gl_name_parse("192.0.2.9-24", &k));
  CHECK("name: v6 without /64 refused", !nj_gl_name_parse("2001:db8::1", &k));
  CHECK("name: temporary file refused", !nj_gl_name_parse(".tmp.123", &k));
  CHECK("name: non-canonical refused", !nj_gl_name_parse("192.000.2.9", &k));
  CHECK("name: garbage refused", !nj_gl_name_parse("README", &k));
  CHECK("name: -0 refused", !nj_gl_name_parse("0.0.0.0-0", &k));

  /* state contents */
  CHECK("state: pending 0", parse_is("pending 0\n", NJ_GL_PENDING, 0));
  CHECK("state: pending 17", parse_is("pending 17\n", NJ_GL_PENDING, 17));
  CHECK("state: regular 3", parse_is("regular 3\n", NJ_GL_REGULAR, 3));
  CHECK("state: empty refused", parse_is("", 0, 0));
  CHECK("state: no newline refused", parse_is("pending 1", 0, 0));
  CHECK("state: no count refused", parse_is("pending \n", 0, 0));
  CHECK("state: sign refused", parse_is("pending -1\n", 0, 0));
  CHECK("state: leading zero refused", parse_is("pending 01\n", 0, 0));
  CHECK("state: overflow refused", parse_is("pending 99999999999999999999\n", 0, 0));
  CHECK("state: unknown word refused", parse_is("blocked 1\n", 0, 0));
  CHECK("state: trailing bytes refused", parse_is("regular 1\nx\n", 0, 0));
  CHECK("state: fmt pending", nj_gl_fmt(buf, NJ_GL_PENDING, 5) == 10 && !memcmp(buf, "pending 5\n", 10));
  CHECK("state: fmt regular caps the count", nj_gl_fmt(buf, NJ_GL_REGULAR, ~0UL) == 18 && !memcmp(buf, "regular 999999999\n", 18));
  CHECK("state: fmt fits NJ_GL_FILEMAX", nj_gl_fmt(buf, NJ_GL_PENDING, NJ_GL_COUNTMAX) <= NJ_GL_FILEMAX);

  /* state files: the attribute, or the data where there is none */
  {
    char dir[] = "/tmp/test_ipgreylist.d.XXXXXX";
    char path[80];
    struct stat sb;
    unsigned long c = 0;
    int f, r;
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 111; }
    snprintf(path, sizeof path, "%s/a", dir);
    f = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK("file: write", f >= 0 && nj_gl_write(f, NJ_GL_PENDING, 4) == 0);
    fstat(f, &sb);
    /* (on a file system without user attributes the data holds the state) */
    CHECK("file: no data block (the state is in the attribute)", sb.st_size ? sb.st_size == 10 : sb.st_blocks == 0);
    r = nj_gl_read(f, &sb, &c);
    CHECK("file: read back pending 4", r == NJ_GL_PENDING && c == 4);
    close(f);
    snprintf(path, sizeof path, "%s/b", dir);
    f = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    fstat(f, &sb);
    CHECK("file: empty without attribute is invalid", nj_gl_read(f, &sb, &c) == 0);
    if (write(f, "regular 7\n", 10) != 10) failed++;
    lseek(f, 0, SEEK_SET);
    fstat(f, &sb);
    CHECK("file: the data format is read too", nj_gl_read(f, &sb, &c) == NJ_GL_REGULAR && c == 7);
    close(f);
    unlink(path);
    snprintf(path, sizeof path, "%s/a", dir);
    unlink(path);
    rmdir(dir);
  }

  verdicts();
  young_records_kept();
  policy_check();
  next_records();
  {
    nj_ip a;
    nj_ip_parse("192.0.2.33", &a);
    nj_gl_key(&k, &a, 32);
    memory_store(&k);
    file_store(&k);
  }

  /* whitelist keys */
  CHECK("wl: single v4", netkey_is("192.0.2.7", "192.0.2.7/32"));
  CHECK("wl: network masked", netkey_is("198.51.100.77/24", "198.51.100.0/24"));
  CHECK("wl: /0", netkey_is("1.2.3.4/0", "0.0.0.0/0"));
  CHECK("wl: v6 network compressed", netkey_is("2001:0DB8:00aa:0000::1/48", "2001:db8:aa::/48"));
  CHECK("wl: v4-mapped network is v4", netkey_is("::ffff:192.0.2.0/120", "192.0.2.0/24"));
  CHECK("wl: host lower case", hostkey_is("MX.Example.COM", 0, "=mx.example.com"));
  CHECK("wl: host trailing dot dropped", hostkey_is("mx.example.com.", 0, "=mx.example.com"));
  CHECK("wl: suffix", hostkey_is(".Example.net", 1, ".example.net"));
  CHECK("wl: suffix needs its dot", hostkey_is("example.net", 1, 0));
  CHECK("wl: host with space refused", hostkey_is("a b.example", 0, 0));
  CHECK("wl: host with double dot refused", hostkey_is("a..example", 0, 0));
  CHECK("wl: empty host refused", hostkey_is("", 0, 0));
  CHECK("date: valid", nj_wl_date_ok("2027-01-31", 10));
  CHECK("date: leap day", nj_wl_date_ok("2028-02-29", 10));
  CHECK("date: not a leap day", !nj_wl_date_ok("2027-02-29", 10));
  CHECK("date: month 13", !nj_wl_date_ok("2027-13-01", 10));
  CHECK("date: short", !nj_wl_date_ok("2027-1-01", 9));
  CHECK("date: slashes", !nj_wl_date_ok("2027/01/31", 10));
  nj_wl_today(today, (time_t)1795000000);
  CHECK("date: today in UTC", !strcmp(today, "2026-11-18"));
  CHECK("live: no date", nj_wl_value_live("", 0, today) == 1);
  CHECK("live: today still matches", nj_wl_value_live("2026-11-18", 10, today) == 1);
  CHECK("live: yesterday expired", nj_wl_value_live("2026-11-17", 10, today) == 0);
  CHECK("live: garbage value", nj_wl_value_live("soon", 4, today) == -1);

  /* lookup through a cdb made by tinycdb's cdb_make */
  fd = mkstemp(file);
  if (fd < 0) { perror("mkstemp"); return 111; }
  {
    struct cdb_make cm;
    cdb_make_start(&cm, fd);
    add(&cm, "192.0.2.7/32", "");
    add(&cm, "198.51.100.0/24", "2027-01-31");
    add(&cm, "10.0.0.0/8", "2020-01-01");
    add(&cm, "10.1.0.0/16", "");
    add(&cm, "203.0.113.0/24", "2020-01-01");
    add(&cm, "203.0.113.0/24", "");            /* a second value: the live one counts */
    add(&cm, "2001:db8:aa::/48", "");
    add(&cm, "=mail.partner.example", "");
    add(&cm, ".friends.example", "");
    add(&cm, ".old.example", "2026-11-17");
    cdb_make_finish(&cm);
    close(fd);
  }
  CHECK("lookup: single address", lookup(file, "192.0.2.7", 0, "192.0.2.7/32", 0));
  CHECK("lookup: neighbour not listed", lookup(file, "192.0.2.8", 0, 0, 0));
  CHECK("lookup: inside a /24", lookup(file, "198.51.100.250", 0, "198.51.100.0/24", 0));
  CHECK("lookup: longest live prefix wins over an expired /8", lookup(file, "10.1.2.3", 0, "10.1.0.0/16", 0));
  CHECK("lookup: expired /8 alone does not match, flagged", lookup(file, "10.2.2.3", 0, 0, 1));
  CHECK("lookup: one live value among several", lookup(file, "203.0.113.9", 0, "203.0.113.0/24", 0));
  CHECK("lookup: v6 network", lookup(file, "2001:db8:aa:1::5", 0, "2001:db8:aa::/48", 0));
  CHECK("lookup: v4-mapped address", lookup(file, "::ffff:192.0.2.7", 0, "192.0.2.7/32", 0));
  CHECK("lookup: exact host", lookup(file, "192.0.2.99", "Mail.Partner.Example", "mail.partner.example", 0));
  CHECK("lookup: suffix", lookup(file, "192.0.2.99", "a.b.friends.example", ".friends.example", 0));
  CHECK("lookup: suffix is not the bare domain", lookup(file, "192.0.2.99", "friends.example", 0, 0));
  CHECK("lookup: expired suffix", lookup(file, "192.0.2.99", "mx.old.example", 0, 1));
  CHECK("lookup: no ip, host only", lookup(file, 0, "x.friends.example", ".friends.example", 0));
  {
    nj_ip a;
    char m[64];
    int ex, r;
    nj_ip_parse("192.0.2.7", &a);
    r = nj_wl_lookup("/nonexistent/wl.cdb", &a, 0, time(0), m, sizeof m, &ex);
    CHECK("lookup: missing file is an error", r == -1);
    fd = open(file, O_WRONLY | O_TRUNC);
    if (write(fd, "garbage", 7) != 7) failed++;
    close(fd);
    r = nj_wl_lookup(file, &a, 0, time(0), m, sizeof m, &ex);
    CHECK("lookup: a corrupt file is an error (EPROTO)", r == -1);
  }
  unlink(file);

  return CHECK_DONE("test_ipgreylist");
}
