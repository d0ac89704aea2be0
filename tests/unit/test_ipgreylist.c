/* test_ipgreylist: unit tests of greylist.c: state keys and file names,
 * state file contents, whitelist keys, dates, and the whitelist lookup
 * through a cdb built here with tinycdb's own cdb_make. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <sys/stat.h>
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
