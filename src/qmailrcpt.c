/* SPDX-License-Identifier: ISC */
/* qmailrcpt.c: is this recipient deliverable? Answers as qmail itself
 * would decide at delivery time (the realrcptto semantics):
 *
 *   qmail-smtpd   addrparse (source routes, quotes, backslashes), and
 *                 user@[a.b.c.d] for this host rewritten to localiphost
 *   qmail-send    envnoathost, percenthack, locals, virtualdomains
 *   qmail-lspawn  users/cdb (qmail-newu format: exact and wildcard keys)
 *   qmail-getpw   getpwnam users (uid != 0, home owned by the user),
 *                 else the alias user with the whole local part as extension
 *   qmail-local   .qmail-EXT files with -default fallbacks; a .qmail-EXT
 *                 that is not a regular file is ignored
 *
 * plus an optional cdb of valid addresses (RCPTCHECK_CDB) that decides
 * for the local domains it lists. Written from the documented behaviour
 * of those programs; no code is shared with them.
 *
 * Four answers: OK, UNKNOWN, TEMP when a file cannot be read or a lookup
 * fails for a temporary reason (qmail's error_temp set), and UNVERIFIED
 * when this user may not look (EACCES: qmaild in front of a mode-0700
 * home), where qmail, running as root, will decide. The files a session
 * needs are opened once, at their first use (nj_cdbfile). */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <fcntl.h>
#include <pwd.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
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
#define WARN_ADDRS 1        /* q->warned bits */
#define WARN_HOMES 2

/* qmail's error_temp(): exactly its list (EWOULDBLOCK is EAGAIN here) */
int nj_errno_temp(int e)
{
  switch (e) {
    case EINTR: case ENOMEM: case ETXTBSY: case EIO: case ETIMEDOUT:
    case EAGAIN: case EDEADLK: case EBUSY: case ENFILE: case EMFILE:
    case EFBIG: case ENOSPC: case ENETDOWN: case ENETUNREACH: case ENETRESET:
    case ECONNABORTED: case ECONNRESET: case ENOBUFS: case ETOOMANYREFS:
    case ECONNREFUSED: case EHOSTDOWN: case EHOSTUNREACH: case EUSERS:
    case EDQUOT: case ESTALE: case ENOLCK:
      return 1;
  }
  return 0;
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int ipme_sys(nj_qmail *q);

void nj_qmail_init(nj_qmail *q, const char *home, const char *addrcdb,
                   const char *alias)
{
  memset(q, 0, sizeof *q);
  q->home = home && *home ? home : "/var/qmail";
  q->addrcdb = addrcdb && *addrcdb ? addrcdb : 0;
  q->alias = alias && *alias ? alias : "alias";
  q->nipme = -1;
  q->getpw = getpwnam;
  q->statf = stat;
  q->lstatf = lstat;
  q->ipmef = ipme_sys;
}

void nj_qmail_free(nj_qmail *q)
{
  stralloc_free(&q->locals);
  stralloc_free(&q->vdoms);
  stralloc_free(&q->percenthack);
  stralloc_free(&q->envnoathost);
  stralloc_free(&q->localiphost);
  nj_cdbfile_close(&q->users);
  nj_cdbfile_close(&q->addrs);
  nj_cdbfile_close(&q->homes);
  q->state = 0;
  q->nipme = -1;
}

/* ------------------------------------------------------ files */

void nj_cdbfile_open(nj_cdbfile *f, const char *path)
{
  struct stat st;
  int fd;
  if (f->state) return;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    f->err = errno;
    f->state = errno == ENOENT ? 2 : -1;
    return;
  }
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) errno = EISDIR;
  else if (cdb_init(&f->c, fd) == 0) {  /* mapped: lookups cost no system call */
    f->state = 1;
    return;
  }
  f->err = errno;
  close(fd);
  f->state = -1;
}

void nj_cdbfile_close(nj_cdbfile *f)
{
  if (f->state == 1) {
    int fd = cdb_fileno(&f->c);
    cdb_free(&f->c);
    close(fd);
  }
  f->state = 0;
}

/* Looks key up: 1 found (*v, *vlen: the value, in the mapping), 0 not
 * there, -1 the cdb is corrupt. */
static int cdbget(nj_cdbfile *f, const char *key, size_t klen,
                  const char **v, unsigned *vlen)
{
  int r = cdb_find(&f->c, key, (unsigned)klen);
  if (r <= 0) return r < 0 ? -1 : 0;
  *vlen = cdb_datalen(&f->c);
  *v = cdb_getdata(&f->c);
  return *v ? 1 : -1;
}

/* One warning per session for a configured file that cannot be used. */
static void warn_file(nj_qmail *q, int bit, const char *var, const char *path,
                      int err, const char *then)
{
  if (q->warned & bit) return;
  q->warned |= bit;
  if (err == EPROTO) strerr_warnw(var, path, " is not a cdb: ", then);
  else strerr_warnw("unable to read ", var, path, ": ", strerror(err), ": ", then);
}

static int path2(char *buf, const char *a, const char *b)
{
  size_t la = strlen(a), lb = strlen(b);
  if (la + lb + 1 > PATHMAX) { errno = ENAMETOOLONG; return 0; }
  memcpy(buf, a, la);
  memcpy(buf + la, b, lb + 1);
  return 1;
}

/* ------------------------------------------------------ control files */

/* Reads home/fn as qmail's control_readfile does (NJ_CTL_QMAIL: trailing
 * spaces and tabs removed, empty lines and lines starting with # skipped),
 * each entry NUL-terminated. With first, only its first line, whatever
 * it holds, as control_readline reads me, envnoathost and localiphost.
 * 1: read, 0: missing, -1: error. */
static int readlines(nj_qmail *q, stralloc *sa, const char *fn, int first)
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
  if (r > 0 && first) {
    const char *lf = memchr(raw.s, '\n', raw.len);
    n = lf ? (size_t)(lf - raw.s) : raw.len;
    while (n && (raw.s[n - 1] == ' ' || raw.s[n - 1] == '\t')) n--;
    if (n && (!stralloc_catb(sa, raw.s, n) || !stralloc_0(sa))) r = -1;
  } else
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

/* A one-line setting: the file's first line, else me's, else dflt. */
static int setting(nj_qmail *q, stralloc *sa, const char *fn, const stralloc *me,
                   const char *dflt)
{
  int r = readlines(q, sa, fn, 1);
  if (r < 0) { q->why = fn + 1; return -1; }
  if (r && sa->len) return 1;
  sa->len = 0;
  if (me->len) return stralloc_catb(sa, me->s, me->len) ? 1 : -1;
  if (dflt) return stralloc_catb(sa, dflt, strlen(dflt) + 1) ? 1 : -1;
  return 1;
}

int nj_qmail_load(nj_qmail *q)
{
  stralloc me = STRALLOC_ZERO;
  int r;
  q->state = -1;
  q->why = 0;
  if (readlines(q, &me, "/control/me", 1) < 0) { q->why = "control/me"; goto fail; }
  r = readlines(q, &q->locals, "/control/locals", 0);
  if (r < 0) { q->why = "control/locals"; goto fail; }
  if (!r && me.len && !stralloc_catb(&q->locals, me.s, me.len)) goto fail;
  if (readlines(q, &q->vdoms, "/control/virtualdomains", 0) < 0) {
    q->why = "control/virtualdomains";
    goto fail;
  }
  if (readlines(q, &q->percenthack, "/control/percenthack", 0) < 0) {
    q->why = "control/percenthack";
    goto fail;
  }
  /* qmail-send: envnoathost, else me, else the word; qmail-smtpd:
     localiphost, else me, else no rewrite */
  if (setting(q, &q->envnoathost, "/control/envnoathost", &me, "envnoathost") < 0 ||
      setting(q, &q->localiphost, "/control/localiphost", &me, 0) < 0) goto fail;
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
  const char *lt;
  n = strnlen(arg, n);                  /* qmail-smtpd reads up to a NUL */
  lt = memchr(arg, '<', n);
  if (lt) i = (size_t)(lt - arg) + 1;
  else {
    const char *colon = memchr(arg, ':', n);
    term = ' ';
    i = colon ? (size_t)(colon - arg) + 1 : n;
    while (i < n && arg[i] == ' ') i++;
  }
  if (i < n && arg[i] == '@')           /* source route @a,@b:user@host */
    while (i < n && arg[i]) if (arg[i++] == ':') break;
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

size_t nj_ip4_scanbracket(const char *s, size_t n, unsigned char ip[4])
{
  size_t i = 1;
  int k;
  if (!n || s[0] != '[') return 0;
  for (k = 0; k < 4; k++) {
    size_t d;
    unsigned int v = 0;
    if (k && (i >= n || s[i++] != '.')) return 0;
    d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') v = (v * 10 + (unsigned)(s[i++] - '0')) & 255;
    if (i == d) return 0;
    ip[k] = (unsigned char)v;
  }
  return i < n && s[i] == ']' ? i + 1 : 0;
}

/* This host's IPv4 addresses as qmail's ipme sees them: 0.0.0.0 and the
 * address of every interface that is up. */
static int ipme_sys(nj_qmail *q)
{
  struct ifaddrs *ifa, *p;
  q->nipme = 1;
  memset(q->ipme[0], 0, 4);
  if (getifaddrs(&ifa) < 0) return -1;
  for (p = ifa; p && q->nipme < NJ_IPMEMAX; p = p->ifa_next) {
    if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET || !(p->ifa_flags & IFF_UP)) continue;
    memcpy(q->ipme[q->nipme++], &((struct sockaddr_in *)(void *)p->ifa_addr)->sin_addr, 4);
  }
  freeifaddrs(ifa);
  return 0;
}

/* qmail-smtpd: the domain of an address that is "[a.b.c.d]", one of
 * this host's addresses, becomes control/localiphost. */
static long localiphost(nj_qmail *q, char *a, size_t len, size_t max)
{
  unsigned char ip[4];
  const char *at = memrchr(a, '@', len);
  size_t d, k;
  int i;
  if (!at || !q->localiphost.len) return (long)len;
  d = (size_t)(at - a) + 1;
  k = nj_ip4_scanbracket(a + d, len - d, ip);
  if (!k || d + k != len) return (long)len;
  if (q->nipme < 0 && q->ipmef(q) < 0) {
    q->nipme = 0;                       /* cannot tell: no rewrite */
    strerr_warnwu1sys("list this host's addresses");
  }
  for (i = 0; i < q->nipme; i++) if (!memcmp(q->ipme[i], ip, 4)) break;
  if (i == q->nipme) return (long)len;
  if (d + q->localiphost.len > max) return -1;
  memcpy(a + d, q->localiphost.s, q->localiphost.len);    /* its NUL too */
  return (long)(d + q->localiphost.len - 1);
}

long nj_rcpt_addr(nj_qmail *q, const char *arg, size_t n, const char *relayclient,
                  char *out, size_t outmax)
{
  long len = nj_addrparse(arg, n, out, outmax);
  if (len < 0) return -1;
  if (!q->state) nj_qmail_load(q);
  if (q->state > 0) len = localiphost(q, out, (size_t)len, outmax);
  if (len < 0 || len > 900) return -1;  /* qmail-smtpd: 555 */
  if (relayclient) {
    size_t rl = strlen(relayclient);
    if ((size_t)len + rl >= outmax) return -1;
    memcpy(out + len, relayclient, rl + 1);
    len += (long)rl;
  }
  return len;
}

/* --------------------------------------------- the address cdb */

/* RCPTCHECK_CDB keys, all lower case: "@domain" marks a domain this list
 * decides for (value "*": every address there is valid); "local@domain"
 * is a valid address; "prefix-default@domain" accepts prefix-anything.
 * A key is never looked up with an empty local part: "@domain" is the
 * list's own marker, no recipient. Returns NJ_RCPT_OK, NJ_RCPT_UNKNOWN,
 * NJ_RCPT_TEMP, or -1 when the list does not know the domain. A list
 * that is configured but cannot be read, missing included, is TEMP. */
static int addrcdb_check(nj_qmail *q, const char *local, size_t llen,
                         const char *dom, size_t dlen)
{
  char key[NJ_ADDRMAX + 16];
  const char *v;
  unsigned vlen;
  int r;
  size_t i;
  if (llen + dlen + 10 > sizeof key) { q->why = "toolong"; return NJ_RCPT_TEMP; }
  nj_cdbfile_open(&q->addrs, q->addrcdb);
  if (q->addrs.state != 1) {
    warn_file(q, WARN_ADDRS, "RCPTCHECK_CDB=", q->addrcdb, q->addrs.state == 2 ? ENOENT : q->addrs.err,
              "recipients at local domains get 451 until it is fixed");
    q->why = "rcptcheck-cdb";
    return NJ_RCPT_TEMP;
  }
  key[0] = '@';
  memcpy(key + 1, dom, dlen);
  case_lowerb(key + 1, dlen);
  r = cdbget(&q->addrs, key, dlen + 1, &v, &vlen);
  if (r <= 0) goto out;
  if (vlen == 1 && *v == '*') { q->via = "cdb-catchall"; return NJ_RCPT_OK; }
  if (!llen) { q->why = "empty-local"; return NJ_RCPT_UNKNOWN; }
  memcpy(key, local, llen);
  key[llen] = '@';
  memcpy(key + llen + 1, dom, dlen);
  case_lowerb(key, llen + 1 + dlen);
  r = cdbget(&q->addrs, key, llen + 1 + dlen, &v, &vlen);
  if (r < 0) goto out;
  if (r > 0) { q->via = "cdb"; return NJ_RCPT_OK; }
  for (i = llen; i > 0; i--) {
    size_t k;
    if (local[i - 1] != BREAK) continue;
    memcpy(key, local, i);
    memcpy(key + i, "default@", 8);
    memcpy(key + i + 8, dom, dlen);
    k = i + 8 + dlen;
    case_lowerb(key, k);
    r = cdbget(&q->addrs, key, k, &v, &vlen);
    if (r < 0) goto out;
    if (r > 0) { q->via = "cdb-default"; return NJ_RCPT_OK; }
  }
  q->why = "cdb";
  return NJ_RCPT_UNKNOWN;
 out:
  if (r < 0) { q->why = "rcptcheck-cdb"; return NJ_RCPT_TEMP; }
  return -1;
}

/* --------------------------------------------- qmail-local's search */

#define P_NO     0          /* no such .qmail file (or not a regular file) */
#define P_YES    1
#define P_TEMP   2
#define P_HIDDEN 3          /* this user may not look */

void nj_homes_stamp(char out[NJ_HOMES_STAMP], const struct stat *st)
{
  uint64_t t[4];
  int i, k;
  t[0] = (uint64_t)st->st_mtim.tv_sec;
  t[1] = (uint64_t)st->st_mtim.tv_nsec;
  t[2] = (uint64_t)st->st_ctim.tv_sec;
  t[3] = (uint64_t)st->st_ctim.tv_nsec;
  for (i = 0; i < 4; i++)
    for (k = 0; k < 8; k++) out[i * 8 + k] = (char)(t[i] >> (8 * k));
}

/* Whether rcptcheck-homes' list speaks for this home: it lists it, and
 * the home has not changed since. 1 yes; 0 no (q->why says why). */
static int homes_fresh(nj_qmail *q, const char *home)
{
  char key[PATHMAX + 2], stamp[NJ_HOMES_STAMP];
  size_t hl = strlen(home);
  const char *v;
  unsigned vlen;
  struct stat st;
  q->why = "home-unsearchable";
  if (!q->homescdb || hl >= PATHMAX) return 0;
  nj_cdbfile_open(&q->homes, q->homescdb);
  if (q->homes.state != 1) {
    warn_file(q, WARN_HOMES, "RCPTCHECK_HOMES=", q->homescdb,
              q->homes.state == 2 ? ENOENT : q->homes.err, "recipients in homes this user cannot search pass unverified");
    return 0;
  }
  memcpy(key, home, hl);
  key[hl] = '/';
  if (cdbget(&q->homes, key, hl + 1, &v, &vlen) <= 0 || vlen != NJ_HOMES_STAMP) {
    q->why = "home-unlisted";
    return 0;
  }
  if (q->statf(home, &st) < 0) return 0;
  nj_homes_stamp(stamp, &st);
  if (memcmp(stamp, v, NJ_HOMES_STAMP)) { q->why = "home-changed"; return 0; }
  return 1;
}

/* The list's word on one .qmail file of a home it speaks for. */
static int listed(nj_qmail *q, const char *path)
{
  const char *v;
  unsigned vlen;
  int r = cdbget(&q->homes, path, strlen(path), &v, &vlen);
  if (!r) return P_NO;
  if (r > 0 && vlen == 1 && *v == 'f') return P_YES;
  q->why = r > 0 ? "home-symlink" : "homes-corrupt";
  return P_HIDDEN;
}

/* Does the .qmail file at path exist, as qmail-local's qmeexists sees it?
 * A temporary error (error_temp) is TEMP; EACCES and EPERM mean we may
 * not look: the list of rcptcheck-homes decides if it speaks for the
 * home (*uselist is set from then on), else HIDDEN; ENOTDIR, ELOOP and
 * every other error mean no such file. */
static int probe(nj_qmail *q, const char *home, const char *path, int *uselist)
{
  struct stat st;
  int e;
  if (*uselist) return listed(q, path);
  if (q->statf(path, &st) == 0) return S_ISREG(st.st_mode) ? P_YES : P_NO;
  e = errno;
  if (nj_errno_temp(e)) { q->why = "stat"; return P_TEMP; }
  if (e != EACCES && e != EPERM) return P_NO;
  if (!homes_fresh(q, home)) return P_HIDDEN;
  *uselist = 1;
  return listed(q, path);
}

static int probed(nj_qmail *q, int p, const char *via)
{
  if (p == P_YES) { q->via = via; return NJ_RCPT_OK; }
  return p == P_TEMP ? NJ_RCPT_TEMP : NJ_RCPT_UNVERIFIED;
}

/* Looks for home/.qmail DASH EXT, then the -default fallbacks down to
 * .qmail-default (ext lowercased, '.' read as ':'). */
static int qmesearch(nj_qmail *q, const char *home, const char *dash,
                     const char *ext, size_t elen)
{
  char path[PATHMAX + NJ_ADDRMAX + 32];
  char safe[NJ_ADDRMAX + 1];
  size_t hl = strlen(home), dl = strlen(dash), i;
  int uselist = 0, p;
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
  p = probe(q, home, path, &uselist);
  if (p != P_NO) return probed(q, p, "dotqmail");
  for (i = elen + 1; i-- > 0;) {
    if (i && safe[i - 1] != BREAK) continue;
    memcpy(path + hl + 7 + dl, safe, i);
    memcpy(path + hl + 7 + dl + i, "default", 8);
    p = probe(q, home, path, &uselist);
    if (p != P_NO) return probed(q, p, "dotqmail-default");
  }
  q->why = "no-dotqmail";
  return NJ_RCPT_UNKNOWN;
}

/* ---------------------------------------------- qmail-lspawn's cdb */

/* Splits a users/cdb value (user \0 uid \0 gid \0 home \0 dash \0 ext,
 * every length checked) into home, dash and ext. 0 if malformed. */
static int userval(const char *d, unsigned dlen, char *home, char *dash,
                   char *ext, size_t *elen, size_t room)
{
  const char *f[6];
  size_t flen[6], n;
  for (n = 0; n < 6; n++) {
    const char *z = n < 5 ? memchr(d, 0, dlen) : 0;
    if (n < 5 && !z) return 0;
    f[n] = d;
    flen[n] = n < 5 ? (size_t)(z - d) : dlen;
    if (n < 5) { dlen -= (unsigned)(flen[n] + 1); d = z + 1; }
  }
  if (flen[5] && memchr(f[5], 0, flen[5])) flen[5] = (size_t)((const char *)memchr(f[5], 0, flen[5]) - f[5]);
  if (flen[3] >= PATHMAX || flen[4] > 1 || flen[5] > room) return 0;
  memcpy(home, f[3], flen[3]); home[flen[3]] = 0;
  memcpy(dash, f[4], flen[4]); dash[flen[4]] = 0;
  memcpy(ext, f[5], flen[5]);
  *elen = flen[5];
  return 1;
}

/* users/cdb: 1 found (home, dash, ext filled), 0 not there, -1 TEMP
 * (one that cannot be read, EACCES included: qmail-lspawn defers too). */
static int userscdb(nj_qmail *q, const char *local, size_t llen,
                    char *home, char *dash, char *ext, size_t *elen)
{
  char key[NJ_ADDRMAX + 3];
  const char *wild, *d;
  unsigned wlen, dlen;
  size_t i;
  int r = 0, flagwild = 0;
  if (!q->users.state) {
    char path[PATHMAX];
    if (!path2(path, q->home, "/users/cdb")) { q->why = "users/cdb"; return -1; }
    nj_cdbfile_open(&q->users, path);
  }
  if (q->users.state == 2) return 0;
  if (q->users.state < 0) { q->why = "users/cdb"; return -1; }
  if (cdbget(&q->users, "", 0, &wild, &wlen) <= 0 || llen + 2 > sizeof key) goto fail;
  key[0] = '!';
  memcpy(key + 1, local, llen);
  key[llen + 1] = 0;
  case_lowerb(key, llen + 2);
  i = llen + 2;
  do {
    if (!flagwild || i == 1 || memchr(wild, key[i - 1], wlen)) {
      r = cdbget(&q->users, key, i, &d, &dlen);
      if (r < 0) goto fail;
      if (r > 0) break;
    }
    i--;
    flagwild = 1;
  } while (i);
  if (!i) return 0;
  if (!userval(d, dlen, home, dash, ext, elen, NJ_ADDRMAX - (flagwild ? llen : 0))) {
    q->why = "users/cdb-format";
    return -1;
  }
  if (flagwild) {
    memcpy(ext + *elen, local + i - 1, llen - (i - 1));
    *elen += llen - (i - 1);
  }
  ext[*elen] = 0;
  return 1;
 fail:
  q->why = "users/cdb";
  return -1;
}

/* --------------------------------------------- qmail-getpw */

/* getpwnam with qmail-getpw's conditions. 1 found, 0 not, -1 TEMP,
 * -2 its home cannot be looked at (UNVERIFIED). */
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
      if (errno == EACCES || errno == EPERM) { q->why = "home-unsearchable"; return -2; }
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
      if (r < 0) return r == -2 ? NJ_RCPT_UNVERIFIED : NJ_RCPT_TEMP;
      if (r > 0) {
        if (e == llen) return qmesearch(q, pw->pw_dir, "", "", 0);
        return qmesearch(q, pw->pw_dir, "-", local + e + 1, llen - e - 1);
      }
    }
  }
  /* qmail-lspawn defers a delivery when the alias user is missing */
  r = pwlook(q, q->alias, 0, &pw);
  if (r < 0) return NJ_RCPT_TEMP;
  if (!r) { q->why = "no-alias-user"; return NJ_RCPT_TEMP; }
  return qmesearch(q, pw->pw_dir, "-", local, llen);
}

/* --------------------------------------------- qmail-send's rewrite */

/* Which domain is this? 1 local (control/locals), 2 virtual (*prefix
 * set), 0 not ours. */
static int domain(nj_qmail *q, const char *a, size_t at, size_t len, const char **prefix)
{
  size_t i;
  if (maplook(&q->locals, a + at + 1, len - at - 1, 0)) return 1;
  for (i = 0; i <= len; i++) {
    if (!i || i == at + 1 || i == len || (i > at && a[i] == '.')) {
      const char *x = maplook(&q->vdoms, a + i, len - i, 1);
      if (x) {
        *prefix = x;
        return *x ? 2 : 0;
      }
    }
  }
  return 0;
}

int nj_rcpt_check(nj_qmail *q, const char *addr)
{
  char a[2 * NJ_ADDRMAX + 2];
  size_t len = strlen(addr), at;
  const char *x = 0;
  int r, kind;
  q->why = 0;
  q->via = 0;
  if (!q->state) nj_qmail_load(q);
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
  kind = domain(q, a, at, len, &x);
  if (!kind) { q->via = "notlocal"; return NJ_RCPT_NOTOURS; }
  /* an empty local part (<@a.b:@here>, <""@here>, <\@here>): qmail would
     take the mail and lose it; a refusal tells the sender */
  if (!at) { q->why = "empty-local"; return NJ_RCPT_UNKNOWN; }
  /* RFC 5321 4.5.1: every domain we deliver for has a postmaster. It is
   * never refused here, whatever the lists say: qmail decides. */
  if (at == 10 && !strncasecmp(a, "postmaster", 10)) { q->via = "postmaster"; return NJ_RCPT_OK; }
  if (q->addrcdb) {
    r = addrcdb_check(q, a, at, a + at + 1, len - at - 1);
    if (r >= 0) return r;
  }
  if (kind == 1) return local_check(q, a, at);
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
