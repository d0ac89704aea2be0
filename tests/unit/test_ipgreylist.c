/* SPDX-License-Identifier: ISC */
/* test_ipgreylist: unit tests of greylist.c, glname.c and
 * greylist-files.c: state keys and file names of every kind (IP keys,
 * hashed keys, the name key through libpsl, the client's key and its
 * seed), record texts (version 2, and round 1's still read), the verdict
 * (a table of ages around every boundary, clock steps, the refresh), the
 * record a verdict leaves, decisions through the file store and through a
 * store in memory (the upgrade from a round-1 key), whitelist keys, dates,
 * and the whitelist lookup through a cdb built here with tinycdb's own
 * cdb_make. */
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
  nj_gl_key(&k, &a, prefix, 64);
  if (strcmp(k.name, want)) { printf("# key %s/%u: got %s\n", ip, prefix, k.name); return 0; }
  return 1;
}

static int same_dirs(const char *ip1, const char *ip2, unsigned int prefix)
{
  nj_ip a, b;
  nj_glkey k1, k2;
  if (!nj_ip_parse(ip1, &a) || !nj_ip_parse(ip2, &b)) return -1;
  nj_gl_key(&k1, &a, prefix, 64);
  nj_gl_key(&k2, &b, prefix, 64);
  return !strcmp(k1.dir1, k2.dir1) && !strcmp(k1.dir2, k2.dir2) && !strcmp(k1.name, k2.name);
}

/* A record text parses as want (with wantcount), key k or any (0). */
static int parse_is(const char *s, int want, unsigned long wantcount)
{
  nj_glrec r;
  r.count = 12345;
  nj_gl_parse(s, strlen(s), 0, &r);
  return r.found == want && (!want || r.count == wantcount);
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
  nj_glpolicy p = { NJ_GL_DEF_MIN, NJ_GL_DEF_WINDOW, NJ_GL_DEF_LIFETIME, 0, 0 };
  nj_glpolicy p0 = { 0, 600, 3600, 0, 0 }, pe = { 600, 600, 3600, 0, 0 };
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
  static const nj_glpolicy ps[] = { { 300, 86400, 3110400, 3600, 86400 }, { 0, 600, 60, 0, 0 },
                                    { 60, 60, 60, 30, 86400 }, { 0, 1, 1, 0, 0 } };
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
  nj_glpolicy p = { 900, 600, 3600, 0, 0 }, q = { 600, 600, 3600, 1800, 0 };
  nj_glpolicy r = { 300, 86400, 3600, 1801, 0 }, t = { 300, 86400, 86400 * 36, 86400 * 20, 0 };
  nj_gl_policy_check(&p);
  nj_gl_policy_check(&q);
  nj_gl_policy_check(&r);
  nj_gl_policy_check(&t);
  CHECK("policy: min above window: both defaults", p.min == NJ_GL_DEF_MIN && p.window == NJ_GL_DEF_WINDOW && p.lifetime == 3600);
  CHECK("policy: min equal to window: kept", q.min == 600 && q.window == 600);
  CHECK("policy: refresh at half the lifetime: kept", q.refresh == 1800);
  CHECK("policy: refresh above half the lifetime: the default, at most half", r.refresh == 1800 && t.refresh == NJ_GL_DEF_REFRESH);
}

static nj_glverdict V(int is, int refresh)
{
  nj_glverdict v;
  memset(&v, 0, sizeof v);
  v.is = is;
  v.refresh = refresh;
  return v;
}

static void next_records(void)
{
  struct timespec now = { 1795000000, 5 }, then = { 1794999900, 123456789 };
  nj_glrec cur, nx;
  nj_glverdict v;
  int how;
  memset(&cur, 0, sizeof cur);
  cur.found = NJ_GL_PENDING; cur.count = 4; cur.when = then; cur.first = then.tv_sec;
  v = V(NJ_GLV_TOO_SOON, 0);
  how = nj_gl_next(&cur, &v, &now, &nx);
  CHECK("next: too soon counts, keeps first-seen to the nanosecond",
        how == NJ_GLW_KEEP && nx.found == NJ_GL_PENDING && nx.count == 5 && nx.first == then.tv_sec &&
        nx.when.tv_sec == then.tv_sec && nx.when.tv_nsec == then.tv_nsec);
  cur.count = NJ_GL_COUNTMAX;
  nj_gl_next(&cur, &v, &now, &nx);
  CHECK("next: the count stops at NJ_GL_COUNTMAX", nx.count == NJ_GL_COUNTMAX);
  cur.count = 4;
  v = V(NJ_GLV_PROMOTE, 0);
  how = nj_gl_next(&cur, &v, &now, &nx);
  CHECK("next: promote makes a regular, count kept, first kept, last and time now",
        how == NJ_GLW_REPLACE && nx.found == NJ_GL_REGULAR && nx.count == 4 && nx.when.tv_sec == now.tv_sec &&
        nx.first == then.tv_sec && nx.last == now.tv_sec);
  cur.found = NJ_GL_REGULAR;
  cur.last = then.tv_sec;
  v = V(NJ_GLV_REGULAR, 1);
  how = nj_gl_next(&cur, &v, &now, &nx);
  CHECK("next: a regular due for its refresh is touched: last and time now",
        how == NJ_GLW_TOUCH && nx.found == NJ_GL_REGULAR && nx.count == 4 && nx.when.tv_sec == now.tv_sec && nx.last == now.tv_sec);
  v = V(NJ_GLV_REGULAR, 0);
  how = nj_gl_next(&cur, &v, &now, &nx);
  CHECK("next: a regular not yet due is not written, its time kept",
        how == NJ_GLW_NONE && nx.when.tv_sec == then.tv_sec && nx.last == then.tv_sec);
  v = V(NJ_GLV_RESET, 0);
  how = nj_gl_next(&cur, &v, &now, &nx);
  CHECK("next: reset is a stranger seen now", how == NJ_GLW_REPLACE && nx.found == NJ_GL_PENDING && nx.count == 0 &&
        nx.when.tv_sec == now.tv_sec && nx.first == now.tv_sec && nx.last == 0);
  cur.found = NJ_GL_NONE;
  v = V(NJ_GLV_NEW, 0);
  how = nj_gl_next(&cur, &v, &now, &nx);
  CHECK("next: new is created, never replacing", how == NJ_GLW_CREATE && nx.found == NJ_GL_PENDING && nx.count == 0);
  memset(&cur, 0, sizeof cur);
  cur.found = NJ_GL_PENDING; cur.version = 1; cur.when = then;
  v = V(NJ_GLV_TOO_SOON, 0);
  nj_gl_next(&cur, &v, &now, &nx);
  CHECK("next: a round-1 record gets its first-seen from its time", nx.first == then.tv_sec);
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
  int e = nj_gl_decide(s, k, 0, p, d);
  if (e || d->v.is != is || d->v.reason != reason) {
    printf("#   decide: e=%d op=%s verdict %s/%s\n", e, d->op ? d->op : "-", vname(d->v.is), nj_gl_reason(d->v.reason));
    return 0;
  }
  return 1;
}

static void memory_store(const nj_glkey *k)
{
  nj_glpolicy p = { 300, 86400, 3110400, 0, 0 };
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
        nj_gl_decide(&m.s, k, 0, &p, &d) == EROFS && d.op && !strcmp(d.op, "create"));
  m.rec.found = NJ_GL_PENDING;
  clock_gettime(CLOCK_REALTIME, &m.rec.when);
  CHECK("memory store: a count that cannot be written is logged only",
        nj_gl_decide(&m.s, k, 0, &p, &d) == 0 && d.v.is == NJ_GLV_TOO_SOON && d.werr == EROFS);
  m.rec.found = NJ_GL_CORRUPT;
  CHECK("memory store: a reset that cannot be written is a state failure",
        nj_gl_decide(&m.s, k, 0, &p, &d) == EROFS && !strcmp(d.op, "reset"));
}

/* The record text of the file at path, in buf (NUL-terminated). */
static ssize_t record_text(const char *path, char *buf, size_t max)
{
  ssize_t r = lgetxattr(path, NJ_GL_XATTR, buf, max - 1);
  if (r < 0) {                                   /* no user attributes: the data */
    int fd = open(path, O_RDONLY);
    r = fd < 0 ? -1 : read(fd, buf, max - 1);
    if (fd >= 0) close(fd);
  }
  if (r >= 0) buf[r] = 0;
  return r;
}

/* The file holds a version-2 record "2 STATE COUNT FIRST LAST TEXT\n"
 * starting with "2 " want (e.g. "pending 0") and ending with the text of
 * the key it was made for, " ip:192.0.2.33\n". */
static const char *record_key = " ip:192.0.2.33\n";
static int xattr_is(const char *path, const char *want)
{
  char buf[NJ_GL_FILEMAX + 2];
  size_t w = strlen(want), t = strlen(record_key);
  ssize_t r = record_text(path, buf, sizeof buf);
  if (r < 0) return 0;
  if ((size_t)r < 2 + w + t || memcmp(buf, "2 ", 2) || memcmp(buf + 2, want, w) || buf[2 + w] != ' ' ||
      memcmp(buf + r - t, record_key, t)) { printf("#   record: %s", buf); return 0; }
  return 1;
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
  nj_glpolicy p = { 300, 86400, 3110400, 0, 0 };
  nj_gldecision d;
  nj_glfiles f;
  struct stat sb;
  int fd;
  if (!mkdtemp(dir)) { perror("mkdtemp"); failed++; return; }
  snprintf(path, sizeof path, "%s/%s/%s/%s", dir, k->dir1, k->dir2, k->name);
  nj_glf_init(&f, dir);
  CHECK("files: a stranger is new, one empty file pending 0",
        decided(&f.s, k, &p, NJ_GLV_NEW, 0, &d) && stat(path, &sb) == 0 && sb.st_size == 0 && xattr_is(path, "pending 0"));
  f.s.where(&f.s, k, where, sizeof where);
  CHECK_EQ_STR("files: where is DIR/xx/yy/NAME", where, path);
  age_file(path, 100);
  stat(path, &sb);
  CHECK("files: too soon, counted, the first-seen mtime kept",
        decided(&f.s, k, &p, NJ_GLV_TOO_SOON, 0, &d) && d.count == 1 && d.age >= 100 && xattr_is(path, "pending 1"));
  {
    struct stat sa;
    stat(path, &sa);
    CHECK("files: too soon keeps the mtime to the nanosecond",
          sa.st_mtim.tv_sec == sb.st_mtim.tv_sec && sa.st_mtim.tv_nsec == sb.st_mtim.tv_nsec && sa.st_ino != sb.st_ino);
  }
  age_file(path, 400);
  CHECK("files: after min, passes and becomes a regular", decided(&f.s, k, &p, NJ_GLV_PROMOTE, 0, &d) && d.count == 1 && xattr_is(path, "regular 1"));
  age_file(path, 86400 * 30);
  CHECK("files: a regular 30 days later passes, refreshed",
        decided(&f.s, k, &p, NJ_GLV_REGULAR, 0, &d) && d.age >= 86400 * 30 && stat(path, &sb) == 0 && time(0) - sb.st_mtime <= 1);
  age_file(path, 86400 * 37);
  CHECK("files: a regular 37 days later is reset (lapsed)", decided(&f.s, k, &p, NJ_GLV_RESET, NJ_GLR_LAPSED, &d) && xattr_is(path, "pending 0"));
  age_file(path, -2 * 86400);
  CHECK("files: a record 2 days ahead is reset (future)", decided(&f.s, k, &p, NJ_GLV_RESET, NJ_GLR_FUTURE, &d));
  fd = open(path, O_WRONLY | O_TRUNC);
  if (write(fd, "2 regular 1 5 6 ip:192.0.2.34\n", 30) != 30) failed++;
  close(fd);
  CHECK("files: another key's record under this name is reset (corrupt)",
        decided(&f.s, k, &p, NJ_GLV_RESET, NJ_GLR_CORRUPT, &d) && xattr_is(path, "pending 0"));
  fd = open(path, O_WRONLY | O_TRUNC);
  if (write(fd, "regular x\n", 10) != 10) failed++;
  close(fd);
  CHECK("files: a record that does not parse is reset (corrupt)", decided(&f.s, k, &p, NJ_GLV_RESET, NJ_GLR_CORRUPT, &d) && xattr_is(path, "pending 0"));
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
        nj_gl_decide(&f.s, k, 0, &p, &d) == EISDIR && d.v.reason == NJ_GLR_NOTFILE && !strcmp(d.op, "reset"));
  rmdir(path);
  nj_glf_close(&f);
  CHECK("files: closed, nothing left open", f.top < 0 && f.leaf < 0 && f.fd < 0);
  snprintf(path, sizeof path, "%s/%s", dir, k->dir1);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && ln -s /tmp '%s'", path, path);
  if (system(cmd)) failed++;
  nj_glf_init(&f, dir);
  CHECK("files: a symlinked fan-out directory is not followed (op subdir)",
        nj_gl_decide(&f.s, k, 0, &p, &d) != 0 && !strcmp(d.op, "subdir"));
  nj_glf_close(&f);
  snprintf(path, sizeof path, "%s/nonexistent", dir);
  nj_glf_init(&f, path);
  CHECK("files: a missing DIR fails at open-dir", nj_gl_decide(&f.s, k, 0, &p, &d) == ENOENT && !strcmp(d.op, "open-dir"));
  nj_glf_close(&f);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) failed++;
}

/* ------------------------------------------------------ record texts */

static void records(void)
{
  char buf[NJ_GL_FILEMAX + 1];
  nj_glrec r, back;
  nj_glkey k, other;
  nj_ip a;
  size_t n;
  nj_ip_parse("198.51.100.7", &a);
  nj_gl_key(&k, &a, 24, 64);
  nj_gl_key(&other, &a, 25, 64);
  memset(&r, 0, sizeof r);
  r.found = NJ_GL_REGULAR; r.count = 3; r.first = 1795000000; r.last = 1795003600;
  n = nj_gl_fmt(buf, &r, &k);
  buf[n] = 0;
  CHECK_EQ_STR("record: version 2 text", buf, "2 regular 3 1795000000 1795003600 net:198.51.100.0/24\n");
  CHECK("record: an IPv4 /24 record fits in an inode's attribute space (64 bytes)", n <= 64);
  CHECK("record: read back, every field",
        nj_gl_parse(buf, n, &k, &back) == NJ_GL_REGULAR && back.version == 2 && back.count == 3 &&
        back.first == 1795000000 && back.last == 1795003600 && !strcmp(back.text, "net:198.51.100.0/24") &&
        back.when.tv_sec == 1795003600);
  CHECK("record: a regular's time is its last pass, a pending one's its first attempt",
        (r.found = NJ_GL_PENDING, n = nj_gl_fmt(buf, &r, &k), nj_gl_parse(buf, n, &k, &back) == NJ_GL_PENDING &&
         back.when.tv_sec == 1795000000));
  CHECK("record: another key's text is corrupt for this key", nj_gl_parse(buf, n, &other, &back) == NJ_GL_CORRUPT);
  CHECK("record: any key's text parses without a key", nj_gl_parse(buf, n, 0, &back) == NJ_GL_PENDING);
  {
    nj_glkey byname, named;
    nj_gl_hashkey(&named, "name:outlook.com", 16);
    nj_gl_name_parse(named.name, 0, 0, &byname);        /* known by its file name only */
    CHECK("record: under a hashed file name, an IP key's text is corrupt", nj_gl_parse(buf, n, &byname, &back) == NJ_GL_CORRUPT);
    CHECK("record: under a hashed file name, round 1's text is corrupt", nj_gl_parse("regular 3\n", 10, &byname, &back) == NJ_GL_CORRUPT);
    CHECK("record: under a name key, round 1's text is corrupt", nj_gl_parse("regular 3\n", 10, &named, &back) == NJ_GL_CORRUPT);
    n = nj_gl_fmt(buf, &r, &named);
    CHECK("record: under a hashed file name, its own text is read", nj_gl_parse(buf, n, &byname, &back) == NJ_GL_PENDING);
  }
  r.count = ~0UL;
  n = nj_gl_fmt(buf, &r, &k);
  CHECK("record: the count is capped", nj_gl_parse(buf, n, &k, &back) && back.count == NJ_GL_COUNTMAX);
  CHECK("record: round 1's text is version 1", parse_is("regular 3\n", NJ_GL_REGULAR, 3) &&
        nj_gl_parse("regular 3\n", 10, &k, &back) == NJ_GL_REGULAR && back.version == 1 && !back.first && !back.textlen);
  CHECK("record: v2 minimal", parse_is("2 pending 0 0 0 name:x\n", NJ_GL_PENDING, 0));
  CHECK("record: v2 leading zero refused", parse_is("2 pending 01 0 0 name:x\n", 0, 0));
  CHECK("record: v2 leading zero in a time refused", parse_is("2 pending 1 01 0 name:x\n", 0, 0));
  CHECK("record: v2 time past 9999 refused", parse_is("2 pending 1 253402300800 0 name:x\n", 0, 0));
  CHECK("record: v2 no text refused", parse_is("2 pending 1 5 0 \n", 0, 0));
  CHECK("record: v2 text with a space refused", parse_is("2 pending 1 5 0 name:a b\n", 0, 0));
  CHECK("record: v2 missing field refused", parse_is("2 pending 1 5 name:x\n", 0, 0));
  CHECK("record: v2 double space refused", parse_is("2 pending  1 5 0 name:x\n", 0, 0));
  CHECK("record: v2 no newline refused", parse_is("2 pending 1 5 0 name:x", 0, 0));
  CHECK("record: version 3 is a later version's (reset as such)", parse_is("3 pending 1 5 0 name:x\n", NJ_GL_NEWER, 0));
}

/* ------------------------------------------------------- hashed keys */

static int hashkey_is(const char *text, int kind, const char *name)
{
  nj_glkey k;
  if (!nj_gl_hashkey(&k, text, strlen(text))) return !name;
  if (!name) { printf("#   %s: accepted\n", text); return 0; }
  if (k.kind != kind || strcmp(k.name, name) || memcmp(k.dir1, name, 2) || memcmp(k.dir2, name + 2, 2) ||
      k.dir1[2] || k.dir2[2] || strcmp(k.text, text) || k.textlen != strlen(text)) {
    printf("#   %s: kind %d name %s dirs %s/%s\n", text, k.kind, k.name, k.dir1, k.dir2);
    return 0;
  }
  return 1;
}

static void hashed_keys(void)
{
  char big[NJ_GL_TEXTMAX + 2], hash[9];
  nj_glkey k;
  nj_ip a;
  /* the names are sha256sum's of the texts (printf '%s' TEXT | sha256sum) */
  CHECK("hash: name:outlook.com", hashkey_is("name:outlook.com", NJ_GLK_NAME,
        "03770d66d7484eccb690d8c92340fe1fc4c5e900e34f56851b7291fa7a9a4da6"));
  CHECK("hash: a triplet", hashkey_is("trip:203.0.113.0/24:sender@example:rcpt@local", NJ_GLK_TRIP,
        "62d61b5133dc43d55134241bd1ef182b573255955b634ca0f85811f7d159887a"));
  CHECK("hash: a pair", hashkey_is("pair:example.org:203.0.113.0/24", NJ_GLK_PAIR,
        "6759584faa75b4318df75ae328959aeb044fdd9984ee0417dbaa759eec2874d6"));
  CHECK("hash: an unknown kind refused", hashkey_is("host:outlook.com", 0, 0));
  CHECK("hash: ip and net are not hashed kinds", hashkey_is("ip:192.0.2.9", 0, 0) && hashkey_is("net:192.0.2.0/24", 0, 0));
  CHECK("hash: an empty part refused", hashkey_is("name:", 0, 0));
  CHECK("hash: no colon refused", hashkey_is("nameoutlook.com", 0, 0));
  CHECK("hash: a space refused", hashkey_is("name:out look.com", 0, 0));
  CHECK("hash: a newline refused", hashkey_is("name:outlook.com\n", 0, 0));
  CHECK("hash: a non-ASCII byte refused", hashkey_is("name:outl\303\266ok.com", 0, 0));
  CHECK("hash: a slash is no path (the text is only hashed)", hashkey_is("trip:../../etc:a:b", NJ_GLK_TRIP,
        "8ef40a2bf563f95fb785c5fb0816269b8c45d1f7f2cfcddb25aed318e2b7bdb4"));
  memset(big, 'a', sizeof big);
  memcpy(big, "trip:", 5);
  CHECK("hash: NJ_GL_TEXTMAX bytes accepted", nj_gl_hashkey(&k, big, NJ_GL_TEXTMAX));
  CHECK("hash: one byte more refused", !nj_gl_hashkey(&k, big, NJ_GL_TEXTMAX + 1));
  CHECK("hash: an embedded NUL refused", !nj_gl_hashkey(&k, "name:a\0b", 8));
  nj_gl_hashkey(&k, "name:outlook.com", 16);
  CHECK_EQ_STR("hash: the part after the kind", nj_gl_keypart(&k), "outlook.com");
  CHECK_EQ_STR("hash: the kind's log word", nj_gl_kindname(k.kind), "name");
  CHECK_EQ_STR("hash: logged as its first 8 digits", nj_gl_keylog(&k, hash), "03770d66");
  nj_ip_parse("203.0.113.9", &a);
  nj_gl_key(&k, &a, 24, 64);
  CHECK("ip key: text net:203.0.113.0/24, part 203.0.113.0/24, logged by its name",
        !strcmp(k.text, "net:203.0.113.0/24") && !strcmp(nj_gl_keypart(&k), "203.0.113.0/24") &&
        !strcmp(nj_gl_keylog(&k, hash), "203.0.113.0-24") && !strcmp(nj_gl_kindname(k.kind), "net"));
  nj_gl_key(&k, &a, 32, 64);
  CHECK("ip key: a whole address is kind ip, text ip:203.0.113.9",
        k.kind == NJ_GLK_IP && !strcmp(k.text, "ip:203.0.113.9"));
  nj_ip_parse("2001:db8:1:2:3:4:5:6", &a);
  nj_gl_key(&k, &a, 24, 48);
  CHECK("ip key: v6 /48", !strcmp(k.name, "2001:db8:1::-48") && !strcmp(k.text, "net:2001:db8:1::/48"));
  nj_gl_key(&k, &a, 24, 128);
  CHECK("ip key: v6 /128", !strcmp(k.name, "2001:db8:1:2:3:4:5:6") && k.kind == NJ_GLK_IP);
  nj_gl_key(&k, &a, 24, 200);
  CHECK("ip key: a bad v6 prefix means /64", !strcmp(k.name, "2001:db8:1:2::-64"));
}

/* ---------------------------------------------------------- name keys */

static int host_is(const char *host, const char *want)
{
  char out[300];
  size_t n = nj_gl_hostname(out, host, strlen(host));
  if (!want) return n == 0;
  return n == strlen(want) && !strcmp(out, want);
}

/* The name key of host is name:DOMAIN (want), or none for why. */
static int namekey_is(const char *host, const char *want, int wantwhy)
{
  nj_glkey k, h;
  char text[300];
  int why = -1;
  int r = nj_gl_namekey(&k, host, &why);
  if (!want) {
    if (r || why != wantwhy) { printf("#   %.60s: r=%d why=%d\n", host, r, why); return 0; }
    return 1;
  }
  snprintf(text, sizeof text, "name:%s", want);
  nj_gl_hashkey(&h, text, strlen(text));
  if (!r || why || strcmp(k.text, text) || strcmp(k.name, h.name)) {
    printf("#   %.60s: r=%d why=%d text=%s\n", host, r, why, r ? k.text : "");
    return 0;
  }
  return 1;
}

static void name_keys(void)
{
  char big[320];
  CHECK("host: lower case, root dot dropped", host_is("MX1.Example.COM.", "mx1.example.com"));
  CHECK("host: digits and hyphens", host_is("mail-xyz001.outbound.protection.outlook.com", "mail-xyz001.outbound.protection.outlook.com"));
  CHECK("host: an underscore refused", host_is("a_b.example", 0));
  CHECK("host: a space refused", host_is("a b.example", 0));
  CHECK("host: a slash refused", host_is("../etc/passwd", 0));
  CHECK("host: an empty label refused", host_is("a..example", 0) && host_is(".example", 0));
  CHECK("host: two root dots refused", host_is("a.example..", 0));
  CHECK("host: empty refused", host_is("", 0) && host_is(".", 0));
  CHECK("host: non-ASCII refused", host_is("b\303\274cher.example", 0));
  memset(big, 'a', sizeof big);
  big[63] = 0;
  CHECK("host: a 63-byte label", host_is(big, big));
  big[63] = 'a'; big[64] = 0;
  CHECK("host: a 64-byte label refused", host_is(big, 0));
  {
    int i;
    for (i = 0; i < 300; i++) big[i] = i % 2 ? '.' : 'a';
    big[253] = 0;                                /* a.a.a...a: 253 bytes */
    CHECK("host: 253 bytes", host_is(big, big));
    big[253] = '.'; big[254] = 'a'; big[255] = 0;
    CHECK("host: 255 bytes refused", host_is(big, 0));
    big[300 - 1] = 0;
    CHECK("host: 300 bytes refused", host_is(big, 0));
  }
  CHECK("name key: outlook's pool is outlook.com",
        namekey_is("mail-xyz001.outbound.protection.outlook.com", "outlook.com", 0) &&
        namekey_is("MAIL-DB8EUR05FT001.outbound.protection.outlook.com.", "outlook.com", 0));
  CHECK("name key: amazonses.com", namekey_is("a8-30.smtp-out.amazonses.com", "amazonses.com", 0));
  CHECK("name key: under a public suffix of two labels", namekey_is("mx.mail.example.co.uk", "example.co.uk", 0));
  CHECK("name key: a private suffix (github.io) keeps the user's name", namekey_is("mx.someone.github.io", "someone.github.io", 0));
  CHECK("name key: an unlisted top-level domain counts as one", namekey_is("mx.friends.example", "friends.example", 0));
  CHECK("name key: a public suffix itself gives none", namekey_is("co.uk", 0, NJ_GLN_PUBLIC));
  CHECK("name key: a single label gives none", namekey_is("localhost", 0, NJ_GLN_PUBLIC));
  CHECK("name key: odd characters give none", namekey_is("mx.exa$mple.com", 0, NJ_GLN_INVALID) &&
        namekey_is("mx.example.com/../../x", 0, NJ_GLN_INVALID) && namekey_is("mx.example.com\\.", 0, NJ_GLN_INVALID));
  memset(big, 'a', 300);
  big[300] = 0;
  CHECK("name key: 300 bytes give none", namekey_is(big, 0, NJ_GLN_INVALID));
  CHECK("dynamic: built-in patterns", nj_gl_dynamic("dsl-1-2-3-4.pool.example", 0) &&
        nj_gl_dynamic("c0000209.example", 0) && !nj_gl_dynamic("mail-xyz001.outbound.protection.outlook.com", 0) &&
        !nj_gl_dynamic("mx.example.org", 0));
  {
    char pf[] = "/tmp/test_ipgreylist.p.XXXXXX", gone[sizeof pf + 8];
    int fd = mkstemp(pf);
    const char *text = "# test\n\\.CaBle\\.\n(unclosed\n^mx[0-9]\\.\n";
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) failed++;
    close(fd);
    CHECK("dynamic: a pattern in upper case still ignores case", nj_gl_dynamic("x.CABLE.example", pf) && nj_gl_dynamic("x.cable.example", pf));
    CHECK("dynamic: a lower-case pattern matches an upper-case name", nj_gl_dynamic("MX1.example", pf));
    CHECK("dynamic: the file's patterns only", !nj_gl_dynamic("dsl-1-2-3-4.pool.example", pf));
    CHECK("dynamic: back to the built-in list", nj_gl_dynamic("dsl-1-2-3-4.pool.example", 0) && nj_gl_dynamic("x.cable2.example", 0));
    unlink(pf);
    /* another name: a file once read is kept for the process (a session) */
    memcpy(gone, pf, sizeof pf);
    strcpy(gone + strlen(gone), ".gone");
    CHECK("dynamic: a file that cannot be read: the built-in list", nj_gl_dynamic("dsl-1-2-3-4.pool.example", gone));
  }
  CHECK_EQ_STR("why: dynamic", nj_gl_whyname(NJ_GLN_DYNAMIC), "dynamic");
}

/* A client's key: kind, name (hashed keys: their text) and seed. */
static int client_is(const char *ip, const char *host, int byname, const char *want, int wantwhy, const char *wantseed)
{
  nj_glkeyconf c = { 24, 64, 1, 0 };
  nj_glkey k, seed;
  nj_ip a;
  int has = -1, why = -1, kind;
  c.byname = byname;
  if (!nj_ip_parse(ip, &a)) return 0;
  kind = nj_gl_client(&k, &seed, &has, &a, host, &c, &why);
  if (kind != k.kind || strcmp(kind == NJ_GLK_NAME ? k.text : k.name, want) || why != wantwhy ||
      has != (wantseed != 0) || (wantseed && strcmp(seed.name, wantseed))) {
    printf("#   client %s %s: %s why=%d seed=%s\n", ip, host ? host : "-", kind == NJ_GLK_NAME ? k.text : k.name, why, has ? seed.name : "-");
    return 0;
  }
  return 1;
}

static void client_keys(void)
{
  const char *outlook = "mail-xyz001.outbound.protection.outlook.com";
  CHECK("client: a name gives the name key, seeded from the address", client_is("192.0.2.9", outlook, 1, "name:outlook.com", 0, "192.0.2.9"));
  CHECK("client: GREYLIST_KEY=ip: the /24", client_is("192.0.2.9", outlook, 0, "192.0.2.0-24", 0, "192.0.2.9"));
  CHECK("client: no name: the /24", client_is("192.0.2.9", 0, 1, "192.0.2.0-24", 0, "192.0.2.9"));
  CHECK("client: an empty name: the /24", client_is("192.0.2.9", "", 1, "192.0.2.0-24", 0, "192.0.2.9"));
  CHECK("client: a dynamic name: the /24, why dynamic", client_is("192.0.2.9", "dsl-1-2-3-4.pool.example", 1, "192.0.2.0-24", NJ_GLN_DYNAMIC, "192.0.2.9"));
  CHECK("client: a bad name: the /24, why invalid", client_is("192.0.2.9", "bad name", 1, "192.0.2.0-24", NJ_GLN_INVALID, "192.0.2.9"));
  CHECK("client: a public suffix: the /24, why public", client_is("192.0.2.9", "co.uk", 1, "192.0.2.0-24", NJ_GLN_PUBLIC, "192.0.2.9"));
  CHECK("client: v6: the /64 is round 1's key, no seed", client_is("2001:db8::5", 0, 1, "2001:db8::-64", 0, 0));
  CHECK("client: v6 with a name: seeded from the /64", client_is("2001:db8::5", outlook, 1, "name:outlook.com", 0, "2001:db8::-64"));
}

/* ------------------------------------------- refresh and clock steps */

static void refresh_and_steps(void)
{
  static const struct vrow t[] = {
    { NJ_GL_PENDING, -1, NJ_GLV_TOO_SOON, 0, "default: pending 1 s ahead is a clock step: now, too soon" },
    { NJ_GL_PENDING, -86400, NJ_GLV_TOO_SOON, 0, "default: pending a day ahead: a clock step" },
    { NJ_GL_PENDING, -86401, NJ_GLV_RESET, NJ_GLR_FUTURE, "default: pending a day and a second ahead: future" },
    { NJ_GL_REGULAR, -3600, NJ_GLV_REGULAR, 0, "default: a regular an hour ahead keeps its state" },
    { NJ_GL_REGULAR, -86400, NJ_GLV_REGULAR, 0, "default: a regular a day ahead keeps its state" },
    { NJ_GL_REGULAR, -172800, NJ_GLV_RESET, NJ_GLR_FUTURE, "default: a regular 2 days ahead: future" },
    { NJ_GL_CORRUPT, -60, NJ_GLV_RESET, NJ_GLR_CORRUPT, "default: corrupt and ahead: corrupt" },
    { NJ_GL_REGULAR, 3110400, NJ_GLV_REGULAR, 0, "default: a regular at the lifetime" },
    { NJ_GL_REGULAR, 3110401, NJ_GLV_RESET, NJ_GLR_LAPSED, "default: a regular past the lifetime" },
  };
  static const struct { int64_t age; int refresh, step; } r[] = {
    { 0, 0, 0 }, { 3599, 0, 0 }, { 3600, 1, 0 }, { 86400, 1, 0 }, { -5, 0, 1 },
  };
  nj_glpolicy p = NJ_GLPOLICY_DEFAULT, p0 = { 300, 86400, 3110400, 0, 0 };
  nj_glverdict v;
  size_t i;
  int ok = 1;
  vtable(t, sizeof t / sizeof t[0], &p);
  for (i = 0; i < sizeof r / sizeof r[0]; i++) {
    v = nj_gl_verdict(NJ_GL_REGULAR, r[i].age, &p);
    if (v.is != NJ_GLV_REGULAR || v.refresh != r[i].refresh || v.step != r[i].step) {
      printf("#   regular age %lld: refresh %d step %d\n", (long long)r[i].age, v.refresh, v.step);
      ok = 0;
    }
  }
  CHECK("refresh: a regular is due at GREYLIST_REFRESH (3600) and after, not before", ok);
  v = nj_gl_verdict(NJ_GL_REGULAR, 0, &p0);
  CHECK("refresh 0 (round 1): every pass refreshes", v.is == NJ_GLV_REGULAR && v.refresh);
  v = nj_gl_verdict(NJ_GL_PENDING, -1, &p0);
  CHECK("step 0 (round 1): any record ahead is future", v.is == NJ_GLV_RESET && v.reason == NJ_GLR_FUTURE);
}

/* ---------------------------------------------------- the upgrade */

/* A file store over real files: a round-1 /32 regular is found as a
 * regular of its /24 at first sight, and the /24 is then one; a round-1
 * pending /32, or a lapsed regular, seeds nothing. */
static void upgrade(void)
{
  char dir[] = "/tmp/test_ipgreylist.u.XXXXXX";
  char path[300], cmd[400];
  nj_glpolicy p = NJ_GLPOLICY_DEFAULT;
  nj_glkey k32, k24, k24b;
  nj_gldecision d;
  nj_glfiles f;
  nj_ip a;
  int fd;
  if (!mkdtemp(dir)) { perror("mkdtemp"); failed++; return; }
  nj_ip_parse("192.0.2.77", &a);
  nj_gl_key(&k32, &a, 32, 64);
  nj_gl_key(&k24, &a, 24, 64);
  snprintf(path, sizeof path, "%s/%s", dir, k32.dir1);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/%s/%s", dir, k32.dir1, k32.dir2);
  mkdir(path, 0700);
  snprintf(path, sizeof path, "%s/%s/%s/%s", dir, k32.dir1, k32.dir2, k32.name);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || write(fd, "regular 2\n", 10) != 10) failed++;   /* round 1's data format */
  close(fd);
  age_file(path, 86400 * 3);
  nj_glf_init(&f, dir);
  CHECK("upgrade: a round-1 /32 regular is a regular of its /24 at first sight",
        nj_gl_decide(&f.s, &k24, &k32, &p, &d) == 0 && d.v.is == NJ_GLV_REGULAR && d.seeded && d.count == 2);
  CHECK("upgrade: the /24 now has its own regular record",
        nj_gl_decide(&f.s, &k24, 0, &p, &d) == 0 && d.v.is == NJ_GLV_REGULAR && !d.seeded && d.written == NJ_GLW_NONE);
  snprintf(path, sizeof path, "%s/%s/%s/%s", dir, k24.dir1, k24.dir2, k24.name);
  record_key = " net:192.0.2.0/24\n";
  CHECK("upgrade: the /24's record is version 2, regular, the count carried over", xattr_is(path, "regular 2"));
  nj_ip_parse("192.0.2.78", &a);
  nj_gl_key(&k32, &a, 32, 64);
  nj_ip_parse("198.51.100.78", &a);
  nj_gl_key(&k24b, &a, 24, 64);
  CHECK("upgrade: no round-1 record: new", nj_gl_decide(&f.s, &k24b, &k32, &p, &d) == 0 && d.v.is == NJ_GLV_NEW && !d.seeded);
  nj_glf_close(&f);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) failed++;
}

/* A regular's pass through the file store writes nothing until it is
 * due, then refreshes the record in place (same file, last and mtime
 * now); a round-1 record is rewritten as version 2 by that refresh. */
static void file_refresh(const nj_glkey *k)
{
  char dir[] = "/tmp/test_ipgreylist.r.XXXXXX";
  char path[300], cmd[400], text[NJ_GL_FILEMAX + 2];
  nj_glpolicy p = NJ_GLPOLICY_DEFAULT;
  nj_gldecision d;
  nj_glfiles f;
  struct stat a, b;
  if (!mkdtemp(dir)) { perror("mkdtemp"); failed++; return; }
  snprintf(path, sizeof path, "%s/%s/%s/%s", dir, k->dir1, k->dir2, k->name);
  nj_glf_init(&f, dir);
  p.min = 0;
  nj_gl_decide(&f.s, k, 0, &p, &d);
  nj_gl_decide(&f.s, k, 0, &p, &d);              /* min 0: a regular at once */
  record_key = " ip:192.0.2.33\n";
  CHECK("refresh: the key became a regular", d.v.is == NJ_GLV_PROMOTE && xattr_is(path, "regular 0"));
  lsetxattr(path, NJ_GL_XATTR, "regular 5\n", 10, 0);   /* as round 1 left it */
  age_file(path, 600);
  stat(path, &a);
  CHECK("refresh: a regular 10 minutes old passes with no write",
        nj_gl_decide(&f.s, k, 0, &p, &d) == 0 && d.v.is == NJ_GLV_REGULAR && d.written == NJ_GLW_NONE &&
        stat(path, &b) == 0 && b.st_mtim.tv_sec == a.st_mtim.tv_sec && b.st_mtim.tv_nsec == a.st_mtim.tv_nsec &&
        b.st_ctim.tv_sec == a.st_ctim.tv_sec && b.st_ctim.tv_nsec == a.st_ctim.tv_nsec);
  CHECK("refresh: ... and its round-1 text is left as it was", record_text(path, text, sizeof text) == 10);
  age_file(path, 7200);
  stat(path, &a);
  CHECK("refresh: a regular 2 hours old is refreshed in place",
        nj_gl_decide(&f.s, k, 0, &p, &d) == 0 && d.v.is == NJ_GLV_REGULAR && d.written == NJ_GLW_TOUCH && !d.werr &&
        stat(path, &b) == 0 && b.st_ino == a.st_ino && time(0) - b.st_mtime <= 1);
  CHECK("refresh: ... its text now version 2, count kept", xattr_is(path, "regular 5"));
  age_file(path, -3600);
  CHECK("clock step: a regular an hour ahead passes, kept, aged 0, ahead 3600",
        nj_gl_decide(&f.s, k, 0, &p, &d) == 0 && d.v.is == NJ_GLV_REGULAR && d.age == 0 &&
        d.ahead >= 3599 && d.ahead <= 3601 && xattr_is(path, "regular 5"));
  nj_glf_close(&f);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd)) failed++;
}

int main(void)
{
  char today[11];
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
      nj_gl_key(&k, &a, 32, 64);
      d = (int)strtol(k.dir1, 0, 16);
      if (!dirs[d]++) used++;
    }
    CHECK("key: fan-out spreads consecutive addresses over all 256 top directories", used == 256);
    CHECK("key: fan-out directories are two lower-case hex digits",
          strlen(k.dir1) == 2 && strlen(k.dir2) == 2 && strspn(k.dir1, "0123456789abcdef") == 2 &&
          strspn(k.dir2, "0123456789abcdef") == 2);
  }
  CHECK("name: v4 recognised", nj_gl_name_parse("192.0.2.9", 0, 0, &k) && k.len == 32 && k.kind == NJ_GLK_IP);
  CHECK("name: v4 /24 recognised", nj_gl_name_parse("192.0.2.0-24", 0, 0, &k) && k.len == 24 && k.kind == NJ_GLK_NET);
  CHECK("name: v4 /16 recognised", nj_gl_name_parse("198.51.0.0-16", 0, 0, &k) && k.len == 16);
  CHECK("name: v6 /64 recognised", nj_gl_name_parse("2001:db8:1:2::-64", 0, 0, &k));
  CHECK("name: v6 /48 recognised (GREYLIST_V6PREFIX=48)", nj_gl_name_parse("2001:db8:1::-48", 0, 0, &k) && k.len == 48);
  CHECK("name: v6 /128 recognised (GREYLIST_V6PREFIX=128)", nj_gl_name_parse("2001:db8::1", 0, 0, &k) && k.len == 128 && k.kind == NJ_GLK_IP);
  CHECK("name: v6 -128 refused (a whole address has no length)", !nj_gl_name_parse("2001:db8::1-128", 0, 0, &k));
  CHECK("name: v4 -32 refused", !nj_gl_name_parse("192.0.2.9-32", 0, 0, &k));
  CHECK("name: unmasked /24 refused", !nj_gl_name_parse("192.0.2.9-24", 0, 0, &k));
  CHECK("name: temporary file refused", !nj_gl_name_parse(".tmp.123", 0, 0, &k));
  CHECK("name: non-canonical refused", !nj_gl_name_parse("192.000.2.9", 0, 0, &k));
  CHECK("name: garbage refused", !nj_gl_name_parse("README", 0, 0, &k));
  CHECK("name: -0 refused", !nj_gl_name_parse("0.0.0.0-0", 0, 0, &k));
  CHECK("name: a hashed key recognised in its fan-out",
        nj_gl_name_parse("03770d66d7484eccb690d8c92340fe1fc4c5e900e34f56851b7291fa7a9a4da6", "03", "77", &k) &&
        !strcmp(k.dir1, "03") && !strcmp(k.dir2, "77") && k.textlen == 0);
  CHECK("name: a hashed key in another fan-out refused",
        !nj_gl_name_parse("03770d66d7484eccb690d8c92340fe1fc4c5e900e34f56851b7291fa7a9a4da6", "03", "78", &k));
  CHECK("name: an IP key in another fan-out refused", !nj_gl_name_parse("192.0.2.9", "00", "00", &k) ||
        (nj_gl_name_parse("192.0.2.9", 0, 0, &k) && !strcmp(k.dir1, "00") && !strcmp(k.dir2, "00")));
  CHECK("name: upper-case hex refused",
        !nj_gl_name_parse("03770D66d7484eccb690d8c92340fe1fc4c5e900e34f56851b7291fa7a9a4da6", 0, 0, &k));
  CHECK("name: 63 hex digits refused",
        !nj_gl_name_parse("03770d66d7484eccb690d8c92340fe1fc4c5e900e34f56851b7291fa7a9a4da", 0, 0, &k));

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
  records();

  /* state files: the attribute, or the data where there is none */
  {
    char dir[] = "/tmp/test_ipgreylist.d.XXXXXX";
    char path[80];
    struct stat sb;
    nj_glrec rec;
    unsigned long c = 0;
    int f, r;
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 111; }
    snprintf(path, sizeof path, "%s/a", dir);
    f = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK("file: write", f >= 0 && nj_glf_put(f, "pending 4\n", 10) == 0);
    fstat(f, &sb);
    /* (on a file system without user attributes the data holds the state) */
    CHECK("file: no data block (the state is in the attribute)", sb.st_size ? sb.st_size == 10 : sb.st_blocks == 0);
    r = nj_glf_record(f, &sb, 0, &rec) == 0 ? rec.found : -1;
    c = rec.count;
    CHECK("file: read back pending 4", r == NJ_GL_PENDING && c == 4);
    close(f);
    snprintf(path, sizeof path, "%s/b", dir);
    f = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    fstat(f, &sb);
    CHECK("file: empty without attribute is invalid", nj_glf_record(f, &sb, 0, &rec) == 0 && rec.found == NJ_GL_CORRUPT);
    if (write(f, "regular 7\n", 10) != 10) failed++;
    lseek(f, 0, SEEK_SET);
    fstat(f, &sb);
    CHECK("file: the data format is read too", nj_glf_record(f, &sb, 0, &rec) == 0 && rec.found == NJ_GL_REGULAR && rec.count == 7);
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
    nj_gl_key(&k, &a, 32, 64);
    memory_store(&k);
    file_store(&k);
    hashed_keys();
    name_keys();
    client_keys();
    refresh_and_steps();
    upgrade();
    file_refresh(&k);
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
