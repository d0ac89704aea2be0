/* SPDX-License-Identifier: ISC */
/* greylist-redis.c: the Redis store of greylist records (greylist.h), so
 * that several MX share one state. The mechanism only, as the file store:
 * what to write is decided by nj_gl_decide. The protocol is hiredis'
 * (Debian's libhiredis 0.14), blocking, with the socket's send and
 * receive timeouts as the deadline of every call. One string per key,
 * the record's version-2 text (nj_gl_fmt, nj_gl_parse); its time is the
 * text's FIRST or LAST, since Redis keeps no mtime; its TTL comes from
 * the window or the lifetime, so Redis itself expires it. */
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include <skalibs/djbunix.h>
#include "najimi.h"
#include "greylist.h"

/* ------------------------------------------------------------ settings */

int nj_glr_addr(nj_glraddr *a, const char *s)
{
  const char *h, *port, *end;
  unsigned char bin[16];
  unsigned long p;
  size_t n;
  int v6 = s[0] == '[';
  memset(a, 0, sizeof *a);
  if (!strncmp(s, "unix:", 5)) {
    n = strlen(s + 5);
    if (!n || s[5] != '/' || n > NJ_GLR_PATHMAX) return 0;
    a->isunix = 1;
    memcpy(a->host, s + 5, n + 1);
    return 1;
  }
  h = s + v6;
  end = v6 ? strchr(h, ']') : strrchr(h, ':');
  if (!end) return 0;
  port = end + v6;
  if (*port != ':') return 0;
  n = (size_t)(end - h);
  if (!n || n >= NJ_IPFMT) return 0;
  memcpy(a->host, h, n);
  a->host[n] = 0;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, a->host, bin) != 1) return 0;
  if (!nj_ulong_parse(port + 1, 1, 65535, &p)) return 0;
  a->port = (unsigned int)p;
  return 1;
}

/* A prefix is plain: letters, digits and ":._-/", so that it is also a
 * SCAN pattern that matches only itself. */
static int prefix_ok(const char *s)
{
  size_t i, n = strlen(s);
  if (!n || n > NJ_GLR_PREFIXMAX) return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == ':' || c == '.' || c == '_' || c == '-' || c == '/')) return 0;
  }
  return 1;
}

static void warn_bad(const char *var, const char *val, const char *then)
{
  char san[NJ_LOGVAL + 4];
  nj_sanitise(san, NJ_LOGVAL, val, strlen(val));
  strerr_warnw("invalid ", var, "=", san, then);
}

static void prefix_env(nj_glredis *r)
{
  const char *s = getenv("GREYLIST_REDIS_PREFIX");
  if (s && !prefix_ok(s)) {
    warn_bad("GREYLIST_REDIS_PREFIX", s, ", using default " NJ_GLR_DEF_PREFIX);
    s = 0;
  }
  if (!s) s = NJ_GLR_DEF_PREFIX;
  r->prefixlen = strlen(s);
  memcpy(r->prefix, s, r->prefixlen + 1);
}

static int store_read(nj_glstore *s, const nj_glkey *k, nj_glrec *rec);
static int store_write(nj_glstore *s, const nj_glkey *k, int how, const nj_glrec *rec);
static void store_where(nj_glstore *s, const nj_glkey *k, char *buf, size_t max);
static void store_close(nj_glstore *s);

void nj_glr_init(nj_glredis *r, const char *spec, const nj_glpolicy *p)
{
  const char *pf;
  memset(r, 0, sizeof *r);
  r->s.read = store_read;
  r->s.write = store_write;
  r->s.where = store_where;
  r->s.close = store_close;
  r->spec = spec;
  if (!nj_glr_addr(&r->addr, spec)) {
    warn_bad("GREYLIST_REDIS", spec, ": state is unwritable");
    r->spec = 0;
  }
  prefix_env(r);
  r->db = nj_env_ulong("GREYLIST_REDIS_DB", 0, 0, NJ_GLR_MAX_DB, 0);
  r->timeout = nj_env_ulong("GREYLIST_REDIS_TIMEOUT", NJ_GLR_DEF_TIMEOUT, 1, NJ_GLR_MAX_TIMEOUT, 0);
  pf = getenv("GREYLIST_REDIS_PASSFILE");
  r->passfile = pf && *pf ? pf : 0;
  r->window = p->window;
  r->lifetime = p->lifetime;
}

/* ---------------------------------------------------------- connection */

static int fail(nj_glredis *r, const char *op, int e)
{
  r->s.op = op;
  return e;
}

/* The connection is gone: every later call fails at once, as this one. */
static int broken(nj_glredis *r, const char *op, int e)
{
  if (r->c) redisFree((redisContext *)r->c);
  r->c = 0;
  r->pending = 0;
  r->err = e;
  r->errop = op;
  return fail(r, op, e);
}

/* The errno of a hiredis failure: a receive timeout is EAGAIN there. */
static int ctx_errno(const redisContext *c, int e)
{
  if (c->err == REDIS_ERR_IO && e) return e == EAGAIN || e == EWOULDBLOCK ? ETIMEDOUT : e;
  if (c->err == REDIS_ERR_EOF) return ECONNRESET;
  if (c->err == REDIS_ERR_PROTOCOL) return EPROTO;
  if (c->err == REDIS_ERR_OOM) return ENOMEM;
  return strstr(c->errstr, "timed out") ? ETIMEDOUT : EIO;
}

/* The errno of an error reply: full (maxmemory), read-only (a replica),
 * refused credentials, anything else. */
static int reply_errno(const redisReply *y)
{
  if (!strncmp(y->str, "OOM", 3)) return ENOSPC;
  if (!strncmp(y->str, "READONLY", 8)) return EROFS;
  if (!strncmp(y->str, "NOAUTH", 6) || !strncmp(y->str, "WRONGPASS", 9) ||
      !strncmp(y->str, "NOPERM", 6) || strstr(y->str, "password")) return EACCES;
  return EPROTO;
}

/* The password: the file's first line, without its newline. */
static int password(const nj_glredis *r, char *buf, size_t *n)
{
  ssize_t got = openreadnclose(r->passfile, buf, NJ_GLR_PASSMAX + 1);
  char *nl;
  if (got < 0) return errno;
  if (got > NJ_GLR_PASSMAX) return ENAMETOOLONG;
  nl = memchr(buf, '\n', (size_t)got);
  *n = nl ? (size_t)(nl - buf) : (size_t)got;
  if (*n && buf[*n - 1] == '\r') (*n)--;
  return *n ? 0 : EINVAL;
}

/* AUTH and SELECT go out with the first command; their replies are read
 * before its own (pipelined: one round trip). */
#define DUE_AUTH 1u
#define DUE_SELECT 2u
static void hello(nj_glredis *r, const char *pass, size_t pn)
{
  redisContext *c = r->c;
  char db[ULONG_FMT];
  const char *argv[2];
  size_t len[2];
  if (pass) {
    argv[0] = "AUTH"; len[0] = 4;
    argv[1] = pass; len[1] = pn;
    redisAppendCommandArgv(c, 2, argv, len);
    r->pending |= DUE_AUTH;
  }
  if (r->db) {
    argv[0] = "SELECT"; len[0] = 6;
    argv[1] = db; len[1] = ulong_fmt(db, r->db);
    redisAppendCommandArgv(c, 2, argv, len);
    r->pending |= DUE_SELECT;
  }
}

static int connect_now(nj_glredis *r)
{
  struct timeval tv;
  struct sigaction ign;
  redisContext *c;
  char pass[NJ_GLR_PASSMAX + 1];
  size_t pn = 0;
  int e;
  if (r->c) return 0;
  if (r->err) return fail(r, r->errop, r->err);
  if (!r->spec) return broken(r, "config", EINVAL);
  if (r->passfile && (e = password(r, pass, &pn))) return broken(r, "passfile", e);
  /* a write to a Redis that died must be an error, not the end of us;
   * the old action is back before the next program runs (nj_glr_close) */
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  if (!r->sigpipe_saved && !sigaction(SIGPIPE, &ign, &r->sigpipe)) r->sigpipe_saved = 1;
  tv.tv_sec = (time_t)(r->timeout / 1000);
  tv.tv_usec = (suseconds_t)(r->timeout % 1000 * 1000);
  errno = 0;
  c = r->addr.isunix ? redisConnectUnixWithTimeout(r->addr.host, tv)
                     : redisConnectWithTimeout(r->addr.host, (int)r->addr.port, tv);
  if (!c) return broken(r, "connect", ENOMEM);
  if (c->err) {
    e = ctx_errno(c, errno);
    redisFree(c);
    return broken(r, "connect", e);
  }
  r->c = c;
  if (fcntl(c->fd, F_SETFD, FD_CLOEXEC) < 0 || redisSetTimeout(c, tv) != REDIS_OK)
    return broken(r, "connect", errno ? errno : EIO);
  hello(r, r->passfile ? pass : 0, pn);
  memset(pass, 0, sizeof pass);
  return 0;
}

/* Reads one reply; 0 with *y, or an errno value (the connection broken). */
static int reply(nj_glredis *r, const char *op, redisReply **y)
{
  void *v = 0;
  errno = 0;
  if (redisGetReply((redisContext *)r->c, &v) != REDIS_OK || !v)
    return broken(r, op, ctx_errno((redisContext *)r->c, errno));
  *y = v;
  return 0;
}

/* Sends one command (argc binary-safe words) and reads its reply, after
 * those of AUTH and SELECT if they are still due. 0 with *y (maybe an
 * error reply: the caller judges it), or an errno value. */
static int call(nj_glredis *r, const char *op, int argc, const char **argv,
                const size_t *len, redisReply **y)
{
  int e = connect_now(r);
  if (e) return e;
  if (redisAppendCommandArgv((redisContext *)r->c, argc, argv, len) != REDIS_OK)
    return broken(r, op, ENOMEM);
  while (r->pending) {
    unsigned int due = r->pending & DUE_AUTH ? DUE_AUTH : DUE_SELECT;
    const char *step = due == DUE_AUTH ? "auth" : "select";
    redisReply *h;
    e = reply(r, step, &h);
    if (e) return e;
    r->pending &= ~due;
    /* refused credentials; a database that is not there */
    e = h->type != REDIS_REPLY_ERROR ? 0 : due == DUE_AUTH ? EACCES : EINVAL;
    freeReplyObject(h);
    if (e) return broken(r, step, e);
  }
  return reply(r, op, y);
}

static void store_close(nj_glstore *s)
{
  nj_glr_close((nj_glredis *)s);
}

void nj_glr_close(nj_glredis *r)
{
  if (r->c) redisFree((redisContext *)r->c);
  r->c = 0;
  r->pending = 0;
  if (r->sigpipe_saved) sigaction(SIGPIPE, &r->sigpipe, 0);
  r->sigpipe_saved = 0;
}

/* ------------------------------------------------------------- records */

/* PREFIX + the key's name. */
static size_t keyname(const nj_glredis *r, const char *name, char *buf)
{
  size_t n = strlen(name);
  memcpy(buf, r->prefix, r->prefixlen);
  memcpy(buf + r->prefixlen, name, n);
  return r->prefixlen + n;
}

static void empty(nj_glrec *rec, int found)
{
  memset(rec, 0, sizeof *rec);
  rec->found = found;
}

int nj_glr_value(const char *val, size_t n, const nj_glkey *k, nj_glrec *rec)
{
  empty(rec, NJ_GL_CORRUPT);
  if (n < NJ_GL_FILEMAX && n && val[n - 1] != '\n') {
    char line[NJ_GL_FILEMAX];       /* set by hand (redis-cli): no newline */
    memcpy(line, val, n);
    line[n] = '\n';
    nj_gl_parse(line, n + 1, k, rec);
  } else if (n <= NJ_GL_FILEMAX) nj_gl_parse(val, n, k, rec);
  /* a regular never refreshed yet is as old as its promotion */
  if (rec->found == NJ_GL_REGULAR && !rec->last) rec->when.tv_sec = (time_t)rec->first;
  return rec->found;
}

static int store_read(nj_glstore *s, const nj_glkey *k, nj_glrec *rec)
{
  nj_glredis *r = (nj_glredis *)s;
  char key[NJ_GLR_PREFIXMAX + NJ_GL_NAMEMAX];
  const char *argv[2] = { "GET", key };
  size_t len[2] = { 3, keyname(r, k->name, key) };
  redisReply *y;
  int e;
  s->op = 0;
  e = call(r, "get", 2, argv, len, &y);
  if (e) return e;
  e = 0;
  if (y->type == REDIS_REPLY_NIL) empty(rec, NJ_GL_NONE);
  else if (y->type == REDIS_REPLY_STRING) nj_glr_value(y->str, y->len, k, rec);
  else if (y->type == REDIS_REPLY_ERROR && !strncmp(y->str, "WRONGTYPE", 9))
    empty(rec, NJ_GL_CORRUPT);            /* not a string: SET replaces it */
  else e = fail(r, "get", y->type == REDIS_REPLY_ERROR ? reply_errno(y) : EPROTO);
  freeReplyObject(y);
  return e;
}

/* Seconds until the record lapses: the window after FIRST while pending,
 * the lifetime after LAST (or FIRST) once a regular; at least 1, at most
 * the span plus a clock step. */
static int64_t ttl(const nj_glredis *r, const nj_glrec *rec, int64_t now)
{
  int reg = rec->found == NJ_GL_REGULAR;
  int64_t span = reg ? r->lifetime : r->window;
  int64_t from = reg && rec->last ? rec->last : rec->first;
  int64_t t = from + span - now;
  if (t < 1) t = 1;
  if (t > span + NJ_GL_STEP) t = span + NJ_GL_STEP;
  return t;
}

/* Every kind of write is one SET with its TTL; a creation is SET NX,
 * which of simultaneous sessions on every MX lets exactly one make the
 * record (the others get EEXIST and read it again). */
static int store_write(nj_glstore *s, const nj_glkey *k, int how, const nj_glrec *rec)
{
  nj_glredis *r = (nj_glredis *)s;
  char key[NJ_GLR_PREFIXMAX + NJ_GL_NAMEMAX], text[NJ_GL_FILEMAX], secs[ULONG_FMT];
  const char *argv[6] = { "SET", key, text, "EX", secs, "NX" };
  size_t len[6] = { 3, keyname(r, k->name, key), nj_gl_fmt(text, rec, k), 2, 0, 2 };
  redisReply *y;
  int e;
  struct timespec now;
  s->op = 0;
  /* the decision's clock: time(0) is the coarse one, which can lag it
     by a tick and make the TTL a second longer than the span */
  nj_clock(&now);
  len[4] = ulong_fmt(secs, (unsigned long)ttl(r, rec, (int64_t)now.tv_sec));
  e = call(r, "set", how == NJ_GLW_CREATE ? 6 : 5, argv, len, &y);
  if (e) return e;
  if (y->type == REDIS_REPLY_NIL && how == NJ_GLW_CREATE) e = EEXIST;
  else if (y->type == REDIS_REPLY_ERROR) e = fail(r, "set", reply_errno(y));
  else if (y->type != REDIS_REPLY_STATUS) e = fail(r, "set", EPROTO);
  freeReplyObject(y);
  return e;
}

int nj_glr_del(nj_glredis *r, const nj_glkey *k, int *had)
{
  char key[NJ_GLR_PREFIXMAX + NJ_GL_NAMEMAX];
  const char *argv[2] = { "DEL", key };
  size_t len[2] = { 3, keyname(r, k->name, key) };
  redisReply *y;
  int e;
  r->s.op = 0;
  *had = 0;
  e = call(r, "del", 2, argv, len, &y);
  if (e) return e;
  if (y->type == REDIS_REPLY_INTEGER) *had = y->integer > 0;
  else e = fail(r, "del", y->type == REDIS_REPLY_ERROR ? reply_errno(y) : EPROTO);
  freeReplyObject(y);
  return e;
}

/* SPEC/DB/PREFIXNAME, cut to fit. */
static void store_where(nj_glstore *s, const nj_glkey *k, char *buf, size_t max)
{
  nj_glredis *r = (nj_glredis *)s;
  char db[ULONG_FMT + 1];
  size_t n = 0;
  const char *part[5];
  unsigned int i;
  db[ulong_fmt(db, r->db)] = 0;
  part[0] = r->spec ? r->spec : "(invalid)";
  part[1] = "/"; part[2] = db; part[3] = "/"; part[4] = r->prefix;
  if (!max) return;
  for (i = 0; i < 6; i++) {
    const char *p = i < 5 ? part[i] : k->name;
    size_t pl = strlen(p);
    if (pl > max - 1 - n) pl = max - 1 - n;
    memcpy(buf + n, p, pl);
    n += pl;
  }
  buf[n] = 0;
}

/* ---------------------------------------------------------------- walk */

/* The values of n keys (at most MGETMAX) from SCAN's reply, by one MGET. */
#define MGETMAX 256
static int scan_values(nj_glredis *r, redisReply *const *keys, size_t n,
                       nj_glr_func *f, void *aux)
{
  const char *argv[1 + MGETMAX];
  size_t len[1 + MGETMAX], i;
  redisReply *y;
  int e;
  argv[0] = "MGET"; len[0] = 4;
  for (i = 0; i < n; i++) {
    if (keys[i]->type != REDIS_REPLY_STRING) return fail(r, "scan", EPROTO);
    argv[i + 1] = keys[i]->str;
    len[i + 1] = keys[i]->len;
  }
  e = call(r, "mget", (int)n + 1, argv, len, &y);
  if (e) return e;
  if (y->type != REDIS_REPLY_ARRAY || y->elements != n) e = fail(r, "mget", EPROTO);
  for (i = 0; !e && i < n; i++) {
    const redisReply *v = y->element[i];
    const char *name = argv[i + 1] + r->prefixlen;
    size_t nn = len[i + 1] < r->prefixlen ? 0 : len[i + 1] - r->prefixlen;
    if (v->type == REDIS_REPLY_STRING) f(aux, name, nn, v->str, v->len);
    else f(aux, name, nn, 0, 0);
  }
  freeReplyObject(y);
  return e;
}

int nj_glr_scan(nj_glredis *r, unsigned long *cursor, unsigned int count,
                nj_glr_func *f, void *aux)
{
  char cur[ULONG_FMT], pat[NJ_GLR_PREFIXMAX + 1], cnt[UINT_FMT];
  const char *argv[6] = { "SCAN", cur, "MATCH", pat, "COUNT", cnt };
  size_t len[6] = { 4, ulong_fmt(cur, *cursor), 5, r->prefixlen + 1, 5, 0 };
  redisReply *y;
  unsigned long next;
  int e;
  r->s.op = 0;
  if (count < 1) count = 1;
  if (count > 1000) count = 1000;
  len[5] = uint_fmt(cnt, count);
  memcpy(pat, r->prefix, r->prefixlen);
  pat[r->prefixlen] = '*';
  e = call(r, "scan", 6, argv, len, &y);
  if (e) return e;
  if (y->type != REDIS_REPLY_ARRAY || y->elements != 2 ||
      y->element[0]->type != REDIS_REPLY_STRING || y->element[1]->type != REDIS_REPLY_ARRAY ||
      !nj_ulong_parsen(y->element[0]->str, y->element[0]->len, 0, (unsigned long)-1, &next))
    e = fail(r, "scan", y->type == REDIS_REPLY_ERROR ? reply_errno(y) : EPROTO);
  else {
    const redisReply *keys = y->element[1];
    size_t i;
    for (i = 0; !e && i < keys->elements; i += MGETMAX) {
      size_t n = keys->elements - i;
      e = scan_values(r, keys->element + i, n > MGETMAX ? MGETMAX : n, f, aux);
    }
    if (!e) *cursor = next;
  }
  freeReplyObject(y);
  return e;
}
