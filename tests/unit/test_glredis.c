/* SPDX-License-Identifier: ISC */
/* test_glredis: unit tests of the Redis store's pure parts, no server
 * needed: the address parser (GREYLIST_REDIS), the settings read from
 * the environment with their defaults, where a record is said to live,
 * the store's choice (glstore.c), a later version's text, and a store
 * that cannot connect failing at once, the same way, at every call, and
 * a value read as the chain and the tools read it. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <time.h>
#include "check.h"
#include "najimi.h"
#include "greylist.h"

const char *PROG = "test_glredis";

static int addr_is(const char *s, int isunix, const char *host, unsigned int port)
{
  nj_glraddr a;
  if (!nj_glr_addr(&a, s)) { printf("#   %s: refused\n", s); return 0; }
  if (a.isunix != isunix || strcmp(a.host, host) || a.port != port) {
    printf("#   %s: unix=%d host=%s port=%u\n", s, a.isunix, a.host, a.port);
    return 0;
  }
  return 1;
}

static int addr_bad(const char *s)
{
  nj_glraddr a;
  return !nj_glr_addr(&a, s);
}

static void addresses(void)
{
  char longpath[200];
  CHECK("addr: unix socket", addr_is("unix:/run/redis/redis.sock", 1, "/run/redis/redis.sock", 0));
  CHECK("addr: IPv4 and port", addr_is("10.0.0.5:6379", 0, "10.0.0.5", 6379));
  CHECK("addr: IPv6 in brackets", addr_is("[2001:db8::5]:6380", 0, "2001:db8::5", 6380));
  CHECK("addr: IPv6 loopback", addr_is("[::1]:1", 0, "::1", 1));
  CHECK("addr: port 65535", addr_is("127.0.0.1:65535", 0, "127.0.0.1", 65535));
  CHECK("addr: a name is refused (no lookups)", addr_bad("redis.example:6379"));
  CHECK("addr: localhost is a name", addr_bad("localhost:6379"));
  CHECK("addr: 256.1.1.1 (ip46_scan would take it)", addr_bad("256.1.1.1:6379"));
  CHECK("addr: short IPv4", addr_bad("10.1:6379"));
  CHECK("addr: no port", addr_bad("10.0.0.5"));
  CHECK("addr: empty port", addr_bad("10.0.0.5:"));
  CHECK("addr: port 0", addr_bad("10.0.0.5:0"));
  CHECK("addr: port 65536", addr_bad("10.0.0.5:65536"));
  CHECK("addr: port with a sign", addr_bad("10.0.0.5:+6379"));
  CHECK("addr: port with trailing bytes", addr_bad("10.0.0.5:6379x"));
  CHECK("addr: port with a space", addr_bad("10.0.0.5: 6379"));
  CHECK("addr: IPv6 without brackets", addr_bad("2001:db8::5:6379"));
  CHECK("addr: IPv6 brackets, no port", addr_bad("[2001:db8::5]"));
  CHECK("addr: IPv6 brackets, junk before the port", addr_bad("[2001:db8::5]x:6379"));
  CHECK("addr: IPv4 in brackets", addr_bad("[10.0.0.5]:6379"));
  CHECK("addr: IPv6 zone refused", addr_bad("[fe80::1%eth0]:6379"));
  CHECK("addr: unclosed bracket", addr_bad("[::1:6379"));
  CHECK("addr: empty", addr_bad(""));
  CHECK("addr: unix, empty path", addr_bad("unix:"));
  CHECK("addr: unix, relative path", addr_bad("unix:redis.sock"));
  memset(longpath, 'a', sizeof longpath);
  memcpy(longpath, "unix:/", 6);
  longpath[5 + NJ_GLR_PATHMAX] = 0;
  CHECK("addr: unix, longest path", nj_glr_addr(&(nj_glraddr){ 0 }, longpath));
  longpath[5 + NJ_GLR_PATHMAX] = 'a';
  longpath[6 + NJ_GLR_PATHMAX] = 0;
  CHECK("addr: unix, path too long for sun_path", addr_bad(longpath));
  CHECK("addr: a scheme other than unix", addr_bad("tcp:10.0.0.5:6379"));
}

static void settings(void)
{
  nj_glpolicy p = NJ_GLPOLICY_DEFAULT;
  nj_glredis r;
  nj_glkey k;
  nj_ip ip;
  char where[200];
  unsetenv("GREYLIST_REDIS_PREFIX");
  unsetenv("GREYLIST_REDIS_DB");
  unsetenv("GREYLIST_REDIS_TIMEOUT");
  unsetenv("GREYLIST_REDIS_PASSFILE");
  nj_glr_init(&r, "unix:/nonexistent/redis.sock", &p);
  CHECK("settings: defaults", !strcmp(r.prefix, "najimi:") && r.db == 0 && r.timeout == 200 &&
        !r.passfile && r.window == p.window && r.lifetime == p.lifetime);
  nj_ip_parse("192.0.2.9", &ip);
  nj_gl_key(&k, &ip, 24, 64);
  r.s.where(&r.s, &k, where, sizeof where);
  CHECK_EQ_STR("where: SPEC/DB/PREFIXNAME", where, "unix:/nonexistent/redis.sock/0/najimi:192.0.2.0-24");
  r.s.where(&r.s, &k, where, 12);
  CHECK_EQ_STR("where: cut to fit", where, "unix:/nonex");
  setenv("GREYLIST_REDIS_PREFIX", "mx:grey/", 1);
  setenv("GREYLIST_REDIS_DB", "3", 1);
  setenv("GREYLIST_REDIS_TIMEOUT", "50", 1);
  setenv("GREYLIST_REDIS_PASSFILE", "/etc/najimi/redis.pass", 1);
  nj_glr_init(&r, "10.0.0.5:6379", &p);
  CHECK("settings: from the environment", !strcmp(r.prefix, "mx:grey/") && r.prefixlen == 8 &&
        r.db == 3 && r.timeout == 50 && !strcmp(r.passfile, "/etc/najimi/redis.pass"));
  setenv("GREYLIST_REDIS_PREFIX", "a*b", 1);        /* a glob: not a plain prefix */
  setenv("GREYLIST_REDIS_DB", "-1", 1);
  setenv("GREYLIST_REDIS_TIMEOUT", "0", 1);
  nj_glr_init(&r, "10.0.0.5:6379", &p);
  CHECK("settings: bad values give the defaults", !strcmp(r.prefix, "najimi:") && r.db == 0 && r.timeout == 200);
  setenv("GREYLIST_REDIS_PREFIX", "", 1);
  setenv("GREYLIST_REDIS_TIMEOUT", "60001", 1);
  nj_glr_init(&r, "10.0.0.5:6379", &p);
  CHECK("settings: empty prefix, timeout above 60 s: defaults", !strcmp(r.prefix, "najimi:") && r.timeout == 200);
  unsetenv("GREYLIST_REDIS_PREFIX");
  unsetenv("GREYLIST_REDIS_DB");
  unsetenv("GREYLIST_REDIS_TIMEOUT");
  unsetenv("GREYLIST_REDIS_PASSFILE");
}

static void failing(void)
{
  nj_glpolicy p = NJ_GLPOLICY_DEFAULT;
  nj_glredis r;
  nj_glkey k;
  nj_glrec rec;
  nj_gldecision d;
  nj_ip ip;
  int e;
  nj_ip_parse("192.0.2.9", &ip);
  nj_gl_key(&k, &ip, 24, 64);
  nj_glr_init(&r, "no such thing", &p);
  e = nj_gl_decide(&r.s, &k, 0, &p, &d);
  CHECK("invalid spec: state fails (config, EINVAL)", e == EINVAL && d.op && !strcmp(d.op, "config"));
  nj_glr_close(&r);
  nj_glr_init(&r, "unix:/nonexistent/redis.sock", &p);
  e = r.s.read(&r.s, &k, &rec);
  CHECK("no socket: connect fails", e == ENOENT && !strcmp(r.s.op, "connect"));
  e = r.s.write(&r.s, &k, NJ_GLW_CREATE, &rec);
  CHECK("no socket: later calls fail the same way, at once", e == ENOENT && !strcmp(r.s.op, "connect"));
  r.s.close(&r.s);
  setenv("GREYLIST_REDIS_PASSFILE", "/nonexistent/pass", 1);
  nj_glr_init(&r, "unix:/nonexistent/redis.sock", &p);
  e = r.s.read(&r.s, &k, &rec);
  CHECK("unreadable password file: fails before connecting", e == ENOENT && !strcmp(r.s.op, "passfile"));
  unsetenv("GREYLIST_REDIS_PASSFILE");
  r.s.close(&r.s);
  nj_glr_init(&r, "unix:/nonexistent/redis.sock", &p);
  {
    int had = 1;
    e = nj_glr_del(&r, &k, &had);
    CHECK("no socket: a removal fails at connect (not 'no record')", e == ENOENT && !had && !strcmp(r.s.op, "connect"));
  }
  r.s.close(&r.s);
}

/* A value as GET or MGET gives it: the record the chain reads. */
static void values(void)
{
  static const char reg[] = "2 regular 3 1795000000 1795003600 net:192.0.2.0/24\n";
  static const char hand[] = "2 pending 4 1795000000 0 net:192.0.2.0/24";
  static const char fresh[] = "2 regular 1 1795000000 0 net:192.0.2.0/24\n";
  static const char other[] = "2 pending 0 1795000000 0 net:198.51.100.0/24\n";
  char big[NJ_GL_FILEMAX + 8];
  nj_glrec r;
  nj_glkey k;
  nj_ip ip;
  nj_ip_parse("192.0.2.9", &ip);
  nj_gl_key(&k, &ip, 24, 64);
  CHECK("value: a regular, aged from LAST",
        nj_glr_value(reg, sizeof reg - 1, &k, &r) == NJ_GL_REGULAR && r.count == 3 &&
        r.first == 1795000000 && r.last == 1795003600 && r.when.tv_sec == 1795003600);
  CHECK("value: set by hand without its newline: read",
        nj_glr_value(hand, sizeof hand - 1, &k, &r) == NJ_GL_PENDING && r.count == 4 && r.when.tv_sec == 1795000000);
  CHECK("value: a regular never refreshed: aged from FIRST",
        nj_glr_value(fresh, sizeof fresh - 1, &k, &r) == NJ_GL_REGULAR && r.when.tv_sec == 1795000000);
  CHECK("value: another key's record: corrupt for this key",
        nj_glr_value(other, sizeof other - 1, &k, &r) == NJ_GL_CORRUPT);
  CHECK("value: another key's record, any key (a listing): its own text",
        nj_glr_value(other, sizeof other - 1, 0, &r) == NJ_GL_PENDING && !strcmp(r.text, "net:198.51.100.0/24"));
  CHECK("value: empty: corrupt", nj_glr_value("", 0, &k, &r) == NJ_GL_CORRUPT);
  memset(big, '1', sizeof big);
  CHECK("value: longer than any record: corrupt", nj_glr_value(big, sizeof big, 0, &r) == NJ_GL_CORRUPT);
}

static void choice(void)
{
  nj_glpolicy p = NJ_GLPOLICY_DEFAULT;
  nj_glstores st;
  nj_glstore *s;
  unsetenv("GREYLIST_REDIS");
  s = nj_gl_store(&st, "/var/qmail/greylist", &p);
  CHECK("choice: no GREYLIST_REDIS: the files", s == &st.files.s && !nj_gl_store_isredis(&st, s));
  CHECK("choice: no GREYLIST_REDIS, no directory: none", nj_gl_store(&st, 0, &p) == 0);
  setenv("GREYLIST_REDIS", "", 1);
  CHECK("choice: GREYLIST_REDIS empty: the files", nj_gl_store(&st, "/x", &p) == &st.files.s);
  setenv("GREYLIST_REDIS", "unix:/run/redis.sock", 1);
  s = nj_gl_store(&st, "/var/qmail/greylist", &p);
  CHECK("choice: GREYLIST_REDIS: Redis, even with a directory", s == &st.redis.s && nj_gl_store_isredis(&st, s));
  CHECK("choice: GREYLIST_REDIS, no directory: Redis", nj_gl_store(&st, 0, &p) == &st.redis.s);
  unsetenv("GREYLIST_REDIS");
}

static void versions(void)
{
  nj_glrec r;
  nj_glpolicy p = NJ_GLPOLICY_DEFAULT;
  nj_glverdict v;
  static const char t3[] = "3 regular 1 1795000000 1795003600 net:192.0.2.0/24 extra\n";
  static const char t10[] = "10 whatever\n";
  static const char t02[] = "02 pending 0 1795000000 0 net:192.0.2.0/24\n";
  static const char junk[] = "hello world\n";
  CHECK("version 3: newer", nj_gl_parse(t3, sizeof t3 - 1, 0, &r) == NJ_GL_NEWER);
  CHECK("version 10: newer", nj_gl_parse(t10, sizeof t10 - 1, 0, &r) == NJ_GL_NEWER);
  CHECK("version 02: corrupt, not newer", nj_gl_parse(t02, sizeof t02 - 1, 0, &r) == NJ_GL_CORRUPT);
  CHECK("garbage: corrupt", nj_gl_parse(junk, sizeof junk - 1, 0, &r) == NJ_GL_CORRUPT);
  v = nj_gl_verdict(NJ_GL_NEWER, 10, &p);
  CHECK("newer: reset, reason version", v.is == NJ_GLV_RESET && v.reason == NJ_GLR_VERSION &&
        !strcmp(nj_gl_reason(v.reason), "version"));
  CHECK("errno names of a network failure", !strcmp(nj_gl_errname(ETIMEDOUT), "ETIMEDOUT") &&
        !strcmp(nj_gl_errname(ECONNREFUSED), "ECONNREFUSED") && !strcmp(nj_gl_errname(ECONNRESET), "ECONNRESET"));
}

int main(void)
{
  addresses();
  settings();
  failing();
  values();
  choice();
  versions();
  return CHECK_DONE(PROG);
}
