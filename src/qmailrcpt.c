/* qmailrcpt.c: is this recipient deliverable? Answers as qmail itself
 * would decide at delivery time (the realrcptto semantics):
 *
 *   qmail-send    envnoathost, percenthack, locals, virtualdomains
 *   qmail-lspawn  users/cdb (qmail-newu format: exact and wildcard keys)
 *   qmail-getpw   getpwnam users (uid != 0, home owned by the user),
 *                 else the alias user with the whole local part as extension
 *   qmail-local   .qmail-EXT files with -default fallbacks
 *
 * plus an optional cdb of valid addresses (RCPTCHECK_CDB) that decides
 * for the local domains it lists. Written from the documented behaviour
 * of those programs; no code is shared with them.
 *
 * Three answers, never two: OK, UNKNOWN, and TEMP when a file cannot be
 * read or a lookup fails for a temporary reason. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <cdb.h>
#include <skalibs/bytestr.h>
#include <skalibs/stralloc.h>
#include <skalibs/strerr.h>
#include "najimi.h"
#include "qmailrcpt.h"

#define USERLEN 32          /* qmail-getpw: usernames shorter than this */
#define PATHMAX 4096
#define BREAK '-'           /* qmail's conf-break */

int nj_errno_temp(int e)
{
  switch (e) {
    case EINTR: case ENOMEM: case ETXTBSY: case EIO: case ETIMEDOUT:
    case EAGAIN: case ENFILE: case EMFILE: case EFBIG: case ENOSPC:
    case ENETDOWN: case ENETUNREACH: case EHOSTDOWN: case EHOSTUNREACH:
    case ECONNREFUSED: case ESTALE: case EREMOTE: case EDQUOT:
    case EDEADLK: case ENOLCK: case EPROTO:
      return 1;
  }
  return 0;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }


void nj_qmail_init(nj_qmail *q, const char *home, const char *addrcdb,
                   const char *alias)
{
  memset(q, 0, sizeof *q);
  q->home = home && *home ? home : "/var/qmail";
  q->addrcdb = addrcdb && *addrcdb ? addrcdb : 0;
  q->alias = alias && *alias ? alias : "alias";
  q->getpw = getpwnam;
  q->statf = stat;
}

void nj_qmail_free(nj_qmail *q)
{
  stralloc_free(&q->locals);
  stralloc_free(&q->vdoms);
  stralloc_free(&q->percenthack);
  stralloc_free(&q->envnoathost);
  q->state = 0;
}

/* ------------------------------------------------------ control files */

static int path2(char *buf, const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  if (la + lb + 1 > PATHMAX) { errno = ENAMETOOLONG; return 0; }
  memcpy(buf, a, la);
  memcpy(buf + la, b, lb + 1);
  return 1;
}

/* Reads home/fn as qmail's control_readfile does (NJ_CTL_QMAIL: trailing
 * spaces and tabs removed, empty lines and lines starting with # skipped),
 * each entry NUL-terminated. 1: read, 0: missing, -1: error. */
static int readlines(nj_qmail *q, stralloc *sa, const char *fn)
{
  char path[PATHMAX];
  stralloc raw = STRALLOC_ZERO;
  nj_ctl c;
  char *e;
  size_t n;
  int r;
  sa->len = 0;
  if (!path2(path, q->home, fn)) return -1;
  r = nj_ctl_open(&c, &raw, path, NJ_CTL_QMAIL, 0);
  while (r > 0 && nj_ctl_next(&c, &e, &n) > 0)
    if (!stralloc_catb(sa, e, n) || !stralloc_0(sa)) r = -1;
  stralloc_free(&raw);
  return r;
}

/* Looks key up in a NUL-separated list, case-insensitively. With colon,
 * entries are "key:value" and the value is returned. The last matching
 * entry wins, as with qmail's constmap. */
static const char *maplook(const stralloc *sa, const char *key, size_t n, int colon)
{
  const char *found = 0;
  size_t i = 0;
  while (i < sa->len) {
    const char *e = sa->s + i;
    size_t len = strlen(e), klen = len;
    if (colon) {
      const char *c = memchr(e, ':', len);
      if (!c) { i += len + 1; continue; }
      klen = (size_t)(c - e);
    }
    if (klen == n && !case_diffb(e, n, key)) found = colon ? e + klen + 1 : e;
    i += len + 1;
  }
  return found;
}

static int load(nj_qmail *q)
{
  stralloc me = STRALLOC_ZERO;
  int rme, r;
  q->state = -1;
  rme = readlines(q, &me, "/control/me");
  if (rme < 0) { q->why = "control/me"; return -1; }
  r = readlines(q, &q->locals, "/control/locals");
  if (r < 0) { q->why = "control/locals"; goto fail; }
  if (!r && rme && me.len && !stralloc_catb(&q->locals, me.s, strlen(me.s) + 1)) goto fail;
  if (readlines(q, &q->vdoms, "/control/virtualdomains") < 0) {
    q->why = "control/virtualdomains";
    goto fail;
  }
  if (readlines(q, &q->percenthack, "/control/percenthack") < 0) {
    q->why = "control/percenthack";
    goto fail;
  }
  /* envnoathost: its first line; else me; else the word "envnoathost" */
  r = readlines(q, &q->envnoathost, "/control/envnoathost");
  if (r < 0) { q->why = "control/envnoathost"; goto fail; }
  if (!r || !q->envnoathost.len) {
    q->envnoathost.len = 0;
    if (rme && me.len) {
      if (!stralloc_catb(&q->envnoathost, me.s, strlen(me.s) + 1)) goto fail;
    } else if (!stralloc_catb(&q->envnoathost, "envnoathost", 12)) goto fail;
  }
  stralloc_free(&me);
  if (!q->locals.len && !q->vdoms.len)
    strerr_warnw("no local domains in ", q->home,
                 "/control (locals, me, virtualdomains): every recipient passes unchecked");
  q->state = 1;
  return 1;
 fail:
  if (!q->why) q->why = "nomem";
  stralloc_free(&me);
  return -1;
}

/* ------------------------------------------------- address parsing */

long nj_addrparse(const char *arg, size_t n, char *out, size_t outmax)
{
  size_t i = 0, w = 0;
  char term = '>';
  int esc = 0, quoted = 0;
  const char *lt = memchr(arg, '<', n);
  if (lt) i = (size_t)(lt - arg) + 1;
  else {
    const char *colon = memchr(arg, ':', n);
    term = ' ';
    i = colon ? (size_t)(colon - arg) + 1 : n;
    while (i < n && arg[i] == ' ') i++;
  }
  if (i < n && arg[i] == '@')           /* source route @a,@b:user@host */
    while (i < n) if (arg[i++] == ':') break;
  for (; i < n && arg[i]; i++) {
    char c = arg[i];
    if (esc) esc = 0;
    else {
      if (!quoted && c == term) break;
      if (c == '\\') { esc = 1; continue; }
      if (c == '"') { quoted = !quoted; continue; }
    }
    if (w + 1 >= outmax) return -1;
    out[w++] = c;
  }
  out[w] = 0;
  return (long)w;
}

/* --------------------------------------------- the address cdb */

/* RCPTCHECK_CDB keys, all lower case: "@domain" marks a domain this list
 * decides for (value "*": every address there is valid); "local@domain"
 * is a valid address; "prefix-default@domain" accepts prefix-anything.
 * Returns NJ_RCPT_OK, NJ_RCPT_UNKNOWN, NJ_RCPT_TEMP, or -1 when the list
 * does not know the domain. */
static int addrcdb_check(nj_qmail *q, const char *local, size_t llen,
                         const char *dom, size_t dlen)
{
  char key[NJ_ADDRMAX + 16];
  unsigned vlen;
  int fd, r;
  size_t i;
  if (llen + dlen + 10 > sizeof key) { q->why = "toolong"; return NJ_RCPT_TEMP; }
  fd = open(q->addrcdb, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      if (!q->warned_cdb) {
        strerr_warnw("missing RCPTCHECK_CDB=", q->addrcdb, ", using qmail's rules alone");
        q->warned_cdb = 1;
      }
      return -1;
    }
    q->why = "rcptcheck-cdb";
    return NJ_RCPT_TEMP;
  }
  /* cdb_seek reads with pread: no mapping per lookup, the same few
   * system calls for 10 entries or 10^6 */
  key[0] = '@';
  memcpy(key + 1, dom, dlen);
  case_lowerb(key + 1, dlen);
  r = cdb_seek(fd, key, (unsigned)(dlen + 1), &vlen);
  if (r <= 0) goto out;
  if (vlen == 1) {
    char v;
    if (cdb_bread(fd, &v, 1) < 0) { r = -1; goto out; }
    if (v == '*') { q->via = "cdb-catchall"; r = NJ_RCPT_OK; goto done; }
  }
  memcpy(key, local, llen);
  key[llen] = '@';
  memcpy(key + llen + 1, dom, dlen);
  case_lowerb(key, llen + 1 + dlen);
  r = cdb_seek(fd, key, (unsigned)(llen + 1 + dlen), &vlen);
  if (r < 0) goto out;
  if (r > 0) { q->via = "cdb"; r = NJ_RCPT_OK; goto done; }
  for (i = llen; i > 0; i--) {
    size_t k;
    if (local[i - 1] != BREAK) continue;
    memcpy(key, local, i);
    memcpy(key + i, "default@", 8);
    memcpy(key + i + 8, dom, dlen);
    k = i + 8 + dlen;
    case_lowerb(key, k);
    r = cdb_seek(fd, key, (unsigned)k, &vlen);
    if (r < 0) goto out;
    if (r > 0) { q->via = "cdb-default"; r = NJ_RCPT_OK; goto done; }
  }
  q->why = "cdb";
  r = NJ_RCPT_UNKNOWN;
  goto done;
 out:
  if (r < 0) { q->why = "rcptcheck-cdb"; r = NJ_RCPT_TEMP; }
  else r = -1;
 done:
  close(fd);
  return r;
}

/* --------------------------------------------- qmail-local's search */

/* Looks for home/.qmail DASH EXT, then the -default fallbacks down to
 * .qmail-default (ext lowercased, '.' read as ':'). */
static int qmesearch(nj_qmail *q, const char *home, const char *dash,
                     const char *ext, size_t elen)
{
  char path[PATHMAX + NJ_ADDRMAX + 32];
  char safe[NJ_ADDRMAX + 1];
  size_t hl = strlen(home), dl = strlen(dash), i;
  struct stat st;
  if (!*dash) { q->via = "user"; return NJ_RCPT_OK; }
  if (elen > NJ_ADDRMAX || hl > PATHMAX) { q->why = "toolong"; return NJ_RCPT_TEMP; }
  for (i = 0; i < elen; i++) {
    char c = (char)lower((unsigned char)ext[i]);
    safe[i] = c == '.' ? ':' : c;
  }
  memcpy(path, home, hl);
  memcpy(path + hl, "/.qmail", 7);
  memcpy(path + hl + 7, dash, dl);
  memcpy(path + hl + 7 + dl, safe, elen);
  path[hl + 7 + dl + elen] = 0;
  if (q->statf(path, &st) == 0) { q->via = "dotqmail"; return NJ_RCPT_OK; }
  if (errno != ENOENT && errno != ENAMETOOLONG) { q->why = "stat"; return NJ_RCPT_TEMP; }
  for (i = elen + 1; i-- > 0;) {
    if (i && safe[i - 1] != BREAK) continue;
    memcpy(path + hl + 7 + dl, safe, i);
    memcpy(path + hl + 7 + dl + i, "default", 8);
    if (q->statf(path, &st) == 0) { q->via = "dotqmail-default"; return NJ_RCPT_OK; }
    if (errno != ENOENT && errno != ENAMETOOLONG) { q->why = "stat"; return NJ_RCPT_TEMP; }
  }
  q->why = "no-dotqmail";
  return NJ_RCPT_UNKNOWN;
}

/* ---------------------------------------------- qmail-lspawn's cdb */

/* users/cdb: 1 found (home, dash, ext filled), 0 not there, -1 TEMP. */
static int userscdb(nj_qmail *q, const char *local, size_t llen,
                    char *home, char *dash, char *ext, size_t *elen)
{
  char path[PATHMAX];
  char key[NJ_ADDRMAX + 3];
  char wild[256];
  char val[PATHMAX + NJ_ADDRMAX + 128];
  const char *d, *f[6];
  unsigned wlen, dlen;
  size_t i, n, flen[6];
  int fd, r, flagwild = 0;
  if (!path2(path, q->home, "/users/cdb")) { q->why = "users/cdb"; return -1; }
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    q->why = "users/cdb";
    return -1;
  }
  r = cdb_seek(fd, "", 0, &wlen);
  if (r != 1 || wlen > sizeof wild || cdb_bread(fd, wild, (int)wlen) < 0) goto fail;
  if (llen + 2 > sizeof key) goto fail;
  key[0] = '!';
  memcpy(key + 1, local, llen);
  key[llen + 1] = 0;
  case_lowerb(key, llen + 2);
  i = llen + 2;
  do {
    if (!flagwild || i == 1 || memchr(wild, key[i - 1], wlen)) {
      r = cdb_seek(fd, key, (unsigned)i, &dlen);
      if (r < 0) goto fail;
      if (r > 0) break;
    }
    i--;
    flagwild = 1;
  } while (i);
  if (!i) { close(fd); return 0; }
  /* user \0 uid \0 gid \0 home \0 dash \0 ext: every length checked */
  if (dlen > sizeof val) goto format;
  if (cdb_bread(fd, val, (int)dlen) < 0) goto fail;
  d = val;
  for (n = 0; n < 6; n++) {
    const char *z = n < 5 ? memchr(d, 0, dlen) : 0;
    if (n < 5 && !z) goto format;
    f[n] = d;
    flen[n] = n < 5 ? (size_t)(z - d) : dlen;
    if (n < 5) { dlen -= (unsigned)(flen[n] + 1); d = z + 1; }
  }
  if (flen[5] && memchr(f[5], 0, flen[5])) flen[5] = (size_t)((const char *)memchr(f[5], 0, flen[5]) - f[5]);
  if (flen[3] >= PATHMAX || flen[4] > 1 ||
      flen[5] + (flagwild ? llen : 0) > NJ_ADDRMAX) goto format;
  memcpy(home, f[3], flen[3]); home[flen[3]] = 0;
  memcpy(dash, f[4], flen[4]); dash[flen[4]] = 0;
  memcpy(ext, f[5], flen[5]);
  *elen = flen[5];
  if (flagwild) {
    memcpy(ext + *elen, local + i - 1, llen - (i - 1));
    *elen += llen - (i - 1);
  }
  ext[*elen] = 0;
  close(fd);
  return 1;
 format:
  q->why = "users/cdb-format";
  close(fd);
  return -1;
 fail:
  q->why = "users/cdb";
  close(fd);
  return -1;
}

/* --------------------------------------------- qmail-getpw */

/* getpwnam with qmail-getpw's conditions. 1 found, 0 not, -1 TEMP. */
static int pwlook(nj_qmail *q, const char *name, int check, struct passwd **out)
{
  struct passwd *pw;
  struct stat st;
  errno = 0;
  pw = q->getpw(name);
  if (!pw) {
    if (errno && nj_errno_temp(errno)) { q->why = "getpwnam"; return -1; }
    return 0;
  }
  if (check) {
    if (!pw->pw_uid) return 0;
    if (q->statf(pw->pw_dir, &st) != 0) {
      if (nj_errno_temp(errno)) { q->why = "stat-home"; return -1; }
      return 0;
    }
    if (st.st_uid != pw->pw_uid) return 0;
  }
  *out = pw;
  return 1;
}

static int local_check(nj_qmail *q, const char *local, size_t llen)
{
  char home[PATHMAX], dash[2], ext[NJ_ADDRMAX + 1];
  char user[USERLEN];
  struct passwd *pw = 0;
  size_t elen = 0, e;
  int r = userscdb(q, local, llen, home, dash, ext, &elen);
  if (r < 0) return NJ_RCPT_TEMP;
  if (r > 0) return qmesearch(q, home, dash, ext, elen);
  for (e = llen + 1; e-- > 0;) {
    if (e < USERLEN && (e == llen || local[e] == BREAK)) {
      memcpy(user, local, e);
      user[e] = 0;
      case_lowerb(user, e);
      r = pwlook(q, user, 1, &pw);
      if (r < 0) return NJ_RCPT_TEMP;
      if (r > 0) {
        if (e == llen) return qmesearch(q, pw->pw_dir, "", "", 0);
        return qmesearch(q, pw->pw_dir, "-", local + e + 1, llen - e - 1);
      }
    }
  }
  r = pwlook(q, q->alias, 0, &pw);
  if (r < 0) return NJ_RCPT_TEMP;
  if (!r) { q->why = "no-alias-user"; return NJ_RCPT_UNKNOWN; }
  return qmesearch(q, pw->pw_dir, "-", local, llen);
}

/* --------------------------------------------- qmail-send's rewrite */

int nj_rcpt_check(nj_qmail *q, const char *addr)
{
  char a[2 * NJ_ADDRMAX + 2];
  size_t len = strlen(addr), at, i;
  const char *x = 0, *rest;
  int r;
  q->why = 0;
  q->via = 0;
  if (!q->state) load(q);
  if (q->state < 0) return NJ_RCPT_TEMP;
  if (len > 900) { q->via = "toolong"; return NJ_RCPT_NOTOURS; }   /* qmail-smtpd says 555 */
  memcpy(a, addr, len + 1);
  if (!memchr(a, '@', len)) {
    size_t n = strlen(q->envnoathost.s);
    if (len + 1 + n > NJ_ADDRMAX) { q->via = "toolong"; return NJ_RCPT_NOTOURS; }
    a[len++] = '@';
    memcpy(a + len, q->envnoathost.s, n + 1);
    len += n;
  }
  at = (size_t)(strrchr(a, '@') - a);
  while (maplook(&q->percenthack, a + at + 1, len - at - 1, 0)) {
    size_t j = at;
    while (j > 0 && a[j - 1] != '%') j--;
    if (!j) break;
    len = at;
    at = j - 1;
    a[at] = '@';
    a[len] = 0;
  }
  if (maplook(&q->locals, a + at + 1, len - at - 1, 0)) {
    rest = a;
    i = at;
  } else {
    for (i = 0; i <= len; i++) {
      if (!i || i == at + 1 || i == len || (i > at && a[i] == '.')) {
        x = maplook(&q->vdoms, a + i, len - i, 1);
        if (x) break;
      }
    }
    if (!x || !*x) { q->via = "notlocal"; return NJ_RCPT_NOTOURS; }
    rest = 0;
  }
  /* RFC 5321 4.5.1: every domain we deliver for has a postmaster. It is
   * never refused here, whatever the lists say: qmail decides. */
  if (at == 10 && !strncasecmp(a, "postmaster", 10)) { q->via = "postmaster"; return NJ_RCPT_OK; }
  if (q->addrcdb) {
    r = addrcdb_check(q, a, at, a + at + 1, len - at - 1);
    if (r >= 0) return r;
  }
  if (rest) return local_check(q, a, at);
  {
    /* virtual domain: the local part becomes PREFIX-local */
    char v[2 * NJ_ADDRMAX + 2];
    size_t xl = strlen(x);
    if (xl + 1 + at > NJ_ADDRMAX) { q->why = "toolong"; return NJ_RCPT_TEMP; }
    memcpy(v, x, xl);
    v[xl] = '-';
    memcpy(v + xl + 1, a, at);
    v[xl + 1 + at] = 0;
    return local_check(q, v, xl + 1 + at);
  }
}
