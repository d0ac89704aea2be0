/* SPDX-License-Identifier: ISC */
/* test_rcpt: the recipient rules of qmailrcpt.c (realrcptto semantics)
 * against a small qmail tree built in a temporary directory, with a fake
 * passwd database and injectable stat failures. No server runs. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <cdb.h>
#include "check.h"
#include "najimi.h"
#include "qmailrcpt.h"

const char *PROG = "test_rcpt";
static char top[256];


/* ------------------------------------------------ fake passwd */

struct fakeuser { const char *name; uid_t uid; const char *home; int ownhome; };
static struct fakeuser users[] = {
  { "joe", 1001, "joe", 1 },
  { "vuser", 1002, "vuser", 1 },
  { "notown", 1003, "notown", 0 },       /* home not owned by the user */
  { "root", 0, "root", 1 },              /* uid 0 never receives mail */
  { "nj-alias", 1004, "alias", 1 },
  { 0, 0, 0, 0 }
};
static struct passwd pwbuf;
static char homebuf[512];
static int pw_fail;                     /* errno for the next lookups */
static const char *stat_fail;           /* paths containing this fail, */
static int stat_errno = EIO;            /*   with this error */

static struct passwd *fake_getpw(const char *name)
{
  int i;
  if (pw_fail) { errno = pw_fail; return 0; }
  for (i = 0; users[i].name; i++) {
    if (strcmp(users[i].name, name)) continue;
    memset(&pwbuf, 0, sizeof pwbuf);
    pwbuf.pw_name = (char *)users[i].name;
    pwbuf.pw_uid = users[i].uid;
    snprintf(homebuf, sizeof homebuf, "%s/home/%s", top, users[i].home);
    pwbuf.pw_dir = homebuf;
    return &pwbuf;
  }
  errno = ENOENT;                       /* what some NSS modules say */
  return 0;
}

static int fake_stat(const char *path, struct stat *st)
{
  int i, r;
  if (stat_fail && strstr(path, stat_fail)) { errno = stat_errno; return -1; }
  r = stat(path, st);
  if (r) return r;
  for (i = 0; users[i].name; i++) {
    char h[512];
    snprintf(h, sizeof h, "%s/home/%s", top, users[i].home);
    if (!strcmp(h, path)) st->st_uid = users[i].ownhome ? users[i].uid : 4242;
  }
  return 0;
}

/* ------------------------------------------------ the tree */

static void put(const char *rel, const char *text)
{
  char p[512];
  FILE *f;
  snprintf(p, sizeof p, "%s/%s", top, rel);
  f = fopen(p, "w");
  if (!f) { perror(p); exit(111); }
  fputs(text, f);
  fclose(f);
}

static void mkd(const char *rel)
{
  char p[512];
  snprintf(p, sizeof p, "%s/%s", top, rel);
  mkdir(p, 0755);
}

/* users/cdb as qmail-newu writes it: "!local\0" exact keys, "!prefix"
 * wildcard keys, "" = the wildcard characters; values are
 * user\0uid\0gid\0home\0dash\0ext. Written here independently of
 * rcptcheck-cdb. */
static void userscdb(const char *wild)
{
  char p[512], v[512];
  struct cdb_make cm;
  int fd, n;
  snprintf(p, sizeof p, "%s/users/cdb", top);
  fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
  cdb_make_start(&cm, fd);
  /* =mary:joe:1001:1001:HOME/joe::: */
  n = snprintf(v, sizeof v, "joe%c1001%c1001%c%s/home/joe%c%c", 0, 0, 0, top, 0, 0);
  cdb_make_add(&cm, "!mary\0", 6, v, (unsigned)n);
  /* +lists-:vuser:1002:1002:HOME/vuser:-:ml-: */
  n = snprintf(v, sizeof v, "vuser%c1002%c1002%c%s/home/vuser%c-%cml-", 0, 0, 0, top, 0, 0);
  cdb_make_add(&cm, "!lists-", 7, v, (unsigned)n);
  cdb_make_add(&cm, "", 0, wild, (unsigned)strlen(wild));
  cdb_make_finish(&cm);
  close(fd);
}

static nj_qmail q;
static const char *homes;               /* RCPTCHECK_HOMES for chk() */

/* this host's addresses, for localiphost: 0.0.0.0, 127.0.0.1, 192.0.2.5 */
static int fake_ipme(nj_qmail *x)
{
  static const unsigned char a[3][4] = { { 0, 0, 0, 0 }, { 127, 0, 0, 1 }, { 192, 0, 2, 5 } };
  memcpy(x->ipme, a, sizeof a);
  x->nipme = 3;
  return 0;
}

static void setup(const char *addrcdb)
{
  nj_qmail_free(&q);
  nj_qmail_init(&q, top, addrcdb, "nj-alias");
  q.homescdb = homes;
  q.getpw = fake_getpw;
  q.statf = fake_stat;
  q.ipmef = fake_ipme;
}

static int chk(const char *addr)
{
  setup(0);
  return nj_rcpt_check(&q, addr);
}

/* the recipient of RCPT argument arg, as qmail-smtpd stores it, is want */
static int rcptaddr_is(const char *arg, const char *relay, const char *want)
{
  char out[NJ_ADDRMAX + 1];
  long r;
  setup(0);
  r = nj_rcpt_addr(&q, arg, strlen(arg), relay, out, sizeof out);
  if (r < 0) return want == 0;
  return want && (size_t)r == strlen(out) && !strcmp(out, want);
}

static int chkcdb(const char *addr, const char *cdbfile)
{
  char p[512];
  snprintf(p, sizeof p, "%s/%s", top, cdbfile);
  setup(p);
  return nj_rcpt_check(&q, addr);
}

static void addrcdb(const char *rel, const char *const *kv)
{
  char p[512];
  struct cdb_make cm;
  int fd;
  snprintf(p, sizeof p, "%s/%s", top, rel);
  fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
  cdb_make_start(&cm, fd);
  for (; *kv; kv += 2)
    cdb_make_add(&cm, kv[0], (unsigned)strlen(kv[0]), kv[1], (unsigned)strlen(kv[1]));
  cdb_make_finish(&cm);
  close(fd);
}

static int parse_is(const char *arg, const char *want)
{
  char out[NJ_ADDRMAX];
  long r = nj_addrparse(arg, strlen(arg), out, sizeof out);
  return r >= 0 && !strcmp(out, want);
}

#define OK NJ_RCPT_OK
#define BAD NJ_RCPT_UNKNOWN
#define TEMP NJ_RCPT_TEMP
#define NOTOURS NJ_RCPT_NOTOURS
#define UNVERIFIED NJ_RCPT_UNVERIFIED

int main(void)
{
  char p[600];
  setvbuf(stdout, 0, _IOLBF, 0);          /* in order with the warnings on stderr */
  snprintf(top, sizeof top, "/tmp/test_rcpt.XXXXXX");
  if (!mkdtemp(top)) { perror("mkdtemp"); return 111; }
  mkd("control"); mkd("users"); mkd("home");
  mkd("home/joe"); mkd("home/vuser"); mkd("home/notown"); mkd("home/root"); mkd("home/alias");
  put("control/me", "mx.example.test\n");
  put("control/locals", "# local domains\nexample.test  \nEXAMPLE.ORG\t\n\nlocalhost\n");
  put("control/virtualdomains",
      "virt.test:vuser\n"
      "special@virt2.test:joe\n"
      ".sub.test:vuser\n"
      "notours.test:\n"
      "dup.test:nobody\n"
      "dup.test:vuser\n");
  put("control/percenthack", "relay.test\n");
  put("control/envnoathost", "example.test\n");
  put("home/joe/.qmail-foo", "");
  put("home/joe/.qmail-bar-default", "");
  put("home/joe/.qmail-a:b", "");
  put("home/joe/.qmail-special", "");
  put("home/vuser/.qmail-known", "");
  put("home/vuser/.qmail-ml-announce", "");
  put("home/vuser/.qmail-sales-default", "");
  put("home/alias/.qmail-postmaster", "");
  put("home/notown/.qmail-default", "");
  put("home/root/.qmail-default", "");

  /* qmail-smtpd's address parsing */
  CHECK("addrparse: <a@b>", parse_is("TO:<a@b>", "a@b"));
  CHECK("addrparse: space before <", parse_is("TO: <a@b>", "a@b"));
  CHECK("addrparse: no brackets", parse_is("TO:a@b", "a@b"));
  CHECK("addrparse: source route stripped", parse_is("TO:<@r1,@r2:u@h>", "u@h"));
  CHECK("addrparse: quotes stripped", parse_is("TO:<\"a b\"@c>", "a b@c"));
  CHECK("addrparse: backslash escape", parse_is("TO:<a\\>b@c>", "a>b@c"));
  CHECK("addrparse: empty <>", parse_is("TO:<>", ""));
  CHECK("addrparse: ESMTP parameters ignored", parse_is("TO:<a@b> NOTIFY=NEVER", "a@b"));

  /* locals and getpwnam users */
  CHECK("locals: a system user is valid", chk("joe@example.test") == OK);
  CHECK("locals: domain case does not matter", chk("joe@Example.TEST") == OK);
  CHECK("locals: user name is lowercased", chk("JOE@example.test") == OK);
  CHECK("locals: trailing spaces in control/locals ignored", chk("joe@example.org") == OK);
  CHECK("locals: unknown user gets UNKNOWN", chk("nobody@example.test") == BAD);
  CHECK("remote domain passes untouched", chk("anyone@remote.test") == NOTOURS);
  CHECK("comment line in locals is not a domain", chk("x@# local domains") == NOTOURS);
  CHECK("getpw: uid 0 is not a mail user", chk("root@example.test") == BAD);
  CHECK("getpw: home not owned by the user is skipped", chk("notown@example.test") == BAD);
  /* .qmail-ext and -default */
  CHECK(".qmail: user-ext with ~/.qmail-ext", chk("joe-foo@example.test") == OK);
  CHECK(".qmail: user-ext case-insensitive", chk("joe-FOO@example.test") == OK);
  CHECK(".qmail: user-ext without a file", chk("joe-nope@example.test") == BAD);
  CHECK(".qmail: -default fallback one level", chk("joe-bar-x@example.test") == OK);
  CHECK(".qmail: -default fallback two levels", chk("joe-bar-x-y@example.test") == OK);
  CHECK(".qmail: bar-default does not cover bar", chk("joe-bar@example.test") == BAD);
  CHECK(".qmail: a dot in the extension is read as a colon", chk("joe-a.b@example.test") == OK);
  put("home/joe/.qmail-default", "");
  CHECK(".qmail: .qmail-default catches every extension", chk("joe-anything@example.test") == OK);
  snprintf(p, sizeof p, "%s/home/joe/.qmail-default", top);
  unlink(p);
  /* the alias user */
  CHECK("alias: ~alias/.qmail-postmaster", chk("postmaster@example.test") == OK);
  CHECK("alias: local part lowercased for .qmail", chk("PostMaster@example.test") == OK);
  CHECK("alias: no file, unknown", chk("webmaster@example.test") == BAD);
  put("home/alias/.qmail-web-default", "");
  CHECK("alias: ~alias/.qmail-web-default", chk("web-master@example.test") == OK);
  put("home/alias/.qmail-default", "");
  CHECK("alias: ~alias/.qmail-default accepts everything", chk("whoever@example.test") == OK);
  snprintf(p, sizeof p, "%s/home/alias/.qmail-default", top);
  unlink(p);
  users[4].name = "someoneelse";
  CHECK("alias: no alias user, TEMP (qmail-lspawn defers)", chk("webmaster@example.test") == TEMP);
  CHECK("postmaster: accepted even with no alias user (RFC 5321 4.5.1)", chk("postmaster@example.test") == OK);
  CHECK("postmaster: any case", chk("PostMaster@example.test") == OK);
  CHECK("postmaster: bare local part", chk("postmaster") == OK);
  users[4].name = "nj-alias";
  CHECK("postmaster: a longer name is no postmaster", chk("postmasters@example.test") == BAD);

  /* envnoathost and percenthack */
  CHECK("envnoathost: bare local part", chk("joe") == OK);
  CHECK("envnoathost: bare unknown", chk("nobody") == BAD);
  put("control/envnoathost", "elsewhere.test\n");
  CHECK("envnoathost: a non-local envnoathost", chk("joe") == NOTOURS);
  snprintf(p, sizeof p, "%s/control/envnoathost", top);
  unlink(p);
  CHECK("envnoathost: missing, control/me is used", chk("joe") == NOTOURS);
  put("control/envnoathost", "example.test\n");
  CHECK("percenthack: u%local@relay", chk("joe%example.test@relay.test") == OK);
  CHECK("percenthack: unknown behind the hack", chk("nobody%example.test@relay.test") == BAD);
  CHECK("percenthack: last % is used", chk("x%joe%example.test@relay.test") == BAD);
  CHECK("percenthack: not a percenthack domain", chk("joe%example.test@other.test") == NOTOURS);

  /* virtualdomains */
  CHECK("virtualdomains: domain key, prefix-local via ~vuser/.qmail-known",
        chk("known@virt.test") == OK);
  CHECK("virtualdomains: unknown in a virtual domain", chk("unknown@virt.test") == BAD);
  CHECK("virtualdomains: user@domain key", chk("special@virt2.test") == OK);
  CHECK("virtualdomains: other user in a user@domain-only domain", chk("other@virt2.test") == NOTOURS);
  CHECK("virtualdomains: .suffix key", chk("known@a.b.sub.test") == OK);
  CHECK("virtualdomains: .suffix unknown", chk("nope@a.sub.test") == BAD);
  CHECK("virtualdomains: .suffix does not match the bare domain", chk("known@sub.test") == NOTOURS);
  CHECK("virtualdomains: empty value means not ours", chk("anyone@notours.test") == NOTOURS);
  CHECK("virtualdomains: the last duplicate wins", chk("known@dup.test") == OK);
  CHECK("virtualdomains: -default under the prefix", chk("sales-x@virt.test") == OK);
  put("control/virtualdomains", "virt.test:vuser\n:vuser\n");
  CHECK("virtualdomains: empty key catches every domain", chk("known@any.test") == OK);
  CHECK("virtualdomains: empty key, unknown", chk("nope@any.test") == BAD);
  put("control/virtualdomains", "virt.test:vuser\nspecial@virt2.test:joe\n.sub.test:vuser\nnotours.test:\n");

  /* users/cdb */
  userscdb("-");
  CHECK("users/cdb: exact =mary entry (dash empty)", chk("mary@example.test") == OK);
  CHECK("users/cdb: exact key is case-insensitive", chk("MARY@example.test") == OK);
  CHECK("users/cdb: mary-ext is not the exact entry", chk("mary-x@example.test") == BAD);
  CHECK("users/cdb: wildcard +lists- with ext ml-announce", chk("lists-announce@example.test") == OK);
  CHECK("users/cdb: wildcard, unknown extension", chk("lists-other@example.test") == BAD);
  CHECK("users/cdb: no entry falls back to getpwnam", chk("joe-foo@example.test") == OK);
  userscdb("");
  CHECK("users/cdb: wildcard needs its char in the wildchars key", chk("lists-announce@example.test") == BAD);
  snprintf(p, sizeof p, "%s/users/cdb", top);
  unlink(p);
  put("users/cdb", "garbage");
  CHECK("users/cdb: a corrupt users/cdb is TEMP, never UNKNOWN", chk("nobody@example.test") == TEMP);
  unlink(p);
  mkd("users/cdb");
  CHECK("users/cdb: an unreadable users/cdb is TEMP", chk("joe@example.test") == TEMP);
  rmdir(p);
  {
    /* a cdb without the wildchars key: qmail-lspawn defers */
    struct cdb_make cm;
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    cdb_make_start(&cm, fd);
    cdb_make_add(&cm, "!x\0", 3, "a", 1);
    cdb_make_finish(&cm);
    close(fd);
    CHECK("users/cdb: no wildchars key is TEMP", chk("joe@example.test") == TEMP);
    unlink(p);
  }
  {
    /* a malformed value (too few fields) */
    struct cdb_make cm;
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    cdb_make_start(&cm, fd);
    cdb_make_add(&cm, "!bad\0", 5, "x\0001", 3);
    cdb_make_add(&cm, "", 0, "", 0);
    cdb_make_finish(&cm);
    close(fd);
    CHECK("users/cdb: a malformed value is TEMP", chk("bad@example.test") == TEMP);
    unlink(p);
  }

  /* qmail-smtpd's addrparse and localiphost, as nj_rcpt_addr gives them */
  CHECK("rcpt addr: source route to an empty local part",
        rcptaddr_is("TO:<@a.b:@list.example>", 0, "@list.example"));
  CHECK("rcpt addr: quoted @", rcptaddr_is("TO:<\"@list.example\">", 0, "@list.example"));
  CHECK("rcpt addr: backslashed @", rcptaddr_is("TO:<\\@list.example>", 0, "@list.example"));
  CHECK("rcpt addr: empty quotes", rcptaddr_is("TO:<\"\"@local.example>", 0, "@local.example"));
  CHECK("rcpt addr: <@host> is the empty address", rcptaddr_is("TO:<@local.example>", 0, ""));
  CHECK("rcpt addr: RELAYCLIENT appended", rcptaddr_is("TO:<a@b>", "x", "a@bx"));
  CHECK("rcpt addr: over 900 bytes is qmail-smtpd's 555", ({
          char big[1000]; memset(big, 'a', sizeof big); memcpy(big, "TO:<", 4); big[999] = 0;
          rcptaddr_is(big, 0, 0); }));
  CHECK("localiphost: missing, control/me is used",
        rcptaddr_is("TO:<joe@[192.0.2.5]>", 0, "joe@mx.example.test"));
  put("control/localiphost", "example.test  \nsecond line\n");
  CHECK("localiphost: [one of my addresses] becomes control/localiphost",
        rcptaddr_is("TO:<joe@[192.0.2.5]>", 0, "joe@example.test"));
  CHECK("localiphost: [127.0.0.1] too", rcptaddr_is("TO:<x@[127.0.0.1]>", 0, "x@example.test"));
  CHECK("localiphost: before RELAYCLIENT is appended",
        rcptaddr_is("TO:<joe@[192.0.2.5]>", "", "joe@example.test"));
  CHECK("localiphost: an address that is not mine stays",
        rcptaddr_is("TO:<joe@[192.0.2.6]>", 0, "joe@[192.0.2.6]"));
  CHECK("localiphost: each number taken mod 256, as qmail's ip_scan does",
        rcptaddr_is("TO:<joe@[192.0.2.261]>", 0, "joe@example.test"));
  CHECK("localiphost: the literal must end the address",
        rcptaddr_is("TO:<joe@[192.0.2.5]x>", 0, "joe@[192.0.2.5]x"));
  CHECK("localiphost: the rewritten address is checked as local",
        chk("joe@example.test") == OK && chk("nobody@example.test") == BAD);
  snprintf(p, sizeof p, "%s/control/localiphost", top);
  unlink(p);
  {
    unsigned char ip[4];
    CHECK("ip4 bracket: [1.2.3.4]", nj_ip4_scanbracket("[1.2.3.4]", 9, ip) == 9 &&
          ip[0] == 1 && ip[3] == 4);
    CHECK("ip4 bracket: no closing bracket", !nj_ip4_scanbracket("[1.2.3.4", 8, ip));
    CHECK("ip4 bracket: three numbers", !nj_ip4_scanbracket("[1.2.3]", 7, ip));
    CHECK("ip4 bracket: an empty number", !nj_ip4_scanbracket("[1..3.4]", 8, ip));
    CHECK("ip4 bracket: IPv6 is no literal here", !nj_ip4_scanbracket("[IPv6:::1]", 10, ip));
  }

  /* empty local parts: refused at local and virtual domains, whatever
     the configuration; other domains untouched */
  CHECK("empty local part at a local domain", chk("@example.test") == BAD && !strcmp(q.why, "empty-local"));
  CHECK("empty local part at a virtual domain", chk("@virt.test") == BAD);
  CHECK("empty local part elsewhere: not ours", chk("@remote.test") == NOTOURS);
  put("home/alias/.qmail-default", "");
  CHECK("empty local part: refused even when the alias user takes everything",
        chk("@example.test") == BAD && chk("anyone@example.test") == OK);
  snprintf(p, sizeof p, "%s/home/alias/.qmail-default", top);
  unlink(p);

  /* stat errors as qmail-local classifies them */
  CHECK("errno: qmail's error_temp set", nj_errno_temp(EIO) && nj_errno_temp(EBUSY) &&
        nj_errno_temp(ESTALE) && nj_errno_temp(ECONNRESET) && nj_errno_temp(ENOBUFS));
  CHECK("errno: not temporary for qmail", !nj_errno_temp(ENOENT) && !nj_errno_temp(ELOOP) &&
        !nj_errno_temp(ENOTDIR) && !nj_errno_temp(EACCES) && !nj_errno_temp(EPROTO) &&
        !nj_errno_temp(EREMOTE));
  stat_fail = ".qmail-bar-x"; stat_errno = ELOOP;
  CHECK("stat ELOOP: no such file, the search goes on to -default", chk("joe-bar-x@example.test") == OK);
  stat_errno = ENOTDIR;
  CHECK("stat ENOTDIR: no such file, the search goes on to -default", chk("joe-bar-x@example.test") == OK);
  stat_fail = ".qmail-foo"; stat_errno = ELOOP;
  CHECK("stat ELOOP with no -default: unknown", chk("joe-foo@example.test") == BAD);
  stat_errno = EBUSY;
  CHECK("stat EBUSY (error_temp): TEMP", chk("joe-foo@example.test") == TEMP && !strcmp(q.why, "stat"));
  stat_errno = EIO;
  stat_fail = 0;
  mkd("home/joe/.qmail-dir");
  CHECK(".qmail-EXT that is a directory is ignored", chk("joe-dir@example.test") == BAD);
  put("home/joe/.qmail-default", "");
  CHECK(".qmail-EXT that is a directory: the search goes on to .qmail-default", chk("joe-dir@example.test") == OK);
  snprintf(p, sizeof p, "%s/home/joe/.qmail-default", top);
  unlink(p);

  /* EACCES: this user may not look into the home; qmail (root) decides */
  stat_fail = "home/joe/.qmail"; stat_errno = EACCES;
  CHECK("EACCES on ~/.qmail-ext: UNVERIFIED, never 451", chk("joe-foo@example.test") == UNVERIFIED &&
        !strcmp(q.why, "home-unsearchable"));
  CHECK("EACCES: the user itself needs no look", chk("joe@example.test") == OK);
  stat_errno = EPERM;
  CHECK("EPERM: UNVERIFIED too", chk("joe-nope@example.test") == UNVERIFIED);
  stat_fail = "home/joe"; stat_errno = EACCES;
  CHECK("EACCES on the home itself: UNVERIFIED", chk("joe@example.test") == UNVERIFIED);
  {
    /* rcptcheck-homes' list speaks for a home it cannot search */
    struct cdb_make cm;
    struct stat st;
    char stamp[NJ_HOMES_STAMP], k[700], hp[300];
    int fd;
    snprintf(hp, sizeof hp, "%s/home/joe", top);
    snprintf(p, sizeof p, "%s/homes.cdb", top);
    stat(hp, &st);
    nj_homes_stamp(stamp, &st);
    fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    cdb_make_start(&cm, fd);
    snprintf(k, sizeof k, "%s/", hp);
    cdb_make_add(&cm, k, (unsigned)strlen(k), stamp, sizeof stamp);
    snprintf(k, sizeof k, "%s/.qmail-foo", hp);
    cdb_make_add(&cm, k, (unsigned)strlen(k), "f", 1);
    snprintf(k, sizeof k, "%s/.qmail-bar-default", hp);
    cdb_make_add(&cm, k, (unsigned)strlen(k), "f", 1);
    snprintf(k, sizeof k, "%s/.qmail-link", hp);
    cdb_make_add(&cm, k, (unsigned)strlen(k), "l", 1);
    cdb_make_finish(&cm);
    close(fd);
    homes = p;
    stat_fail = "home/joe/.qmail";
    CHECK("homes list: a listed .qmail file", chk("joe-foo@example.test") == OK);
    CHECK("homes list: -default fallback", chk("joe-bar-x-y@example.test") == OK);
    CHECK("homes list: not listed, unknown", chk("joe-nope@example.test") == BAD);
    CHECK("homes list: a symbolic link cannot be judged: UNVERIFIED", chk("joe-link@example.test") == UNVERIFIED);
    CHECK("homes list: a home it does not list: UNVERIFIED",
          chk("web-master@example.test") == OK && (stat_fail = "home/alias/.qmail", chk("web-master@example.test") == UNVERIFIED)
          && !strcmp(q.why, "home-unlisted"));
    stat_fail = "home/joe/.qmail";
    put("home/joe/.qmail-new", "");
    CHECK("homes list: a home changed since it was listed: UNVERIFIED, never a false 550",
          chk("joe-new@example.test") == UNVERIFIED && !strcmp(q.why, "home-changed"));
    snprintf(k, sizeof k, "%s/home/joe/.qmail-new", top);
    unlink(k);
    snprintf(k, sizeof k, "%s/nosuch.cdb", top);
    homes = k;
    CHECK("homes list missing: UNVERIFIED (with a warning)", chk("joe-foo@example.test") == UNVERIFIED);
    homes = 0;
    unlink(p);
  }
  stat_fail = 0; stat_errno = EIO;

  /* temporary failures */
  pw_fail = EIO;
  CHECK("getpwnam EIO is TEMP", chk("joe@example.test") == TEMP);
  pw_fail = 0;
  stat_fail = ".qmail-foo";
  CHECK("stat EIO on .qmail-ext is TEMP", chk("joe-foo@example.test") == TEMP);
  stat_fail = "home/joe";
  CHECK("stat EIO on the home directory is TEMP", chk("joe@example.test") == TEMP);
  stat_fail = 0;
  snprintf(p, sizeof p, "%s/control/locals", top);
  unlink(p);
  mkd("control/locals");
  CHECK("unreadable control/locals is TEMP", chk("joe@example.test") == TEMP);
  rmdir(p);
  CHECK("missing control/locals: control/me is the local domain",
        chk("joe@mx.example.test") == OK && chk("joe@example.test") == NOTOURS);
  put("control/locals", "example.test\n");

  /* the address cdb */
  {
    static const char *const kv[] = {
      "@example.test", "", "joe@example.test", "", "list-default@example.test", "",
      "@catch.test", "*", 0
    };
    addrcdb("valid.cdb", kv);
    put("control/locals", "example.test\ncatch.test\nuncovered.test\n");
    CHECK("addr cdb: listed address", chkcdb("joe@example.test", "valid.cdb") == OK);
    CHECK("addr cdb: listed address, any case", chkcdb("Joe@EXAMPLE.test", "valid.cdb") == OK);
    CHECK("addr cdb: unlisted address in a listed domain", chkcdb("webmaster@example.test", "valid.cdb") == BAD);
    CHECK("addr cdb: postmaster accepted though unlisted", chkcdb("postmaster@example.test", "valid.cdb") == OK);
    CHECK("addr cdb: -default fallback", chkcdb("list-news@example.test", "valid.cdb") == OK);
    CHECK("addr cdb: -default fallback, deeper", chkcdb("list-a-b@example.test", "valid.cdb") == OK);
    CHECK("addr cdb: list itself not covered by list-default", chkcdb("list@example.test", "valid.cdb") == BAD);
    CHECK("addr cdb: @domain catch-all", chkcdb("anything@catch.test", "valid.cdb") == OK);
    CHECK("addr cdb: unlisted local domain follows qmail's rules",
          chkcdb("joe@uncovered.test", "valid.cdb") == OK && chkcdb("zz@uncovered.test", "valid.cdb") == BAD);
    CHECK("addr cdb: remote domains untouched", chkcdb("x@remote.test", "valid.cdb") == NOTOURS);
    CHECK("addr cdb: a configured file that is missing is TEMP, never qmail's rules alone",
          chkcdb("joe@example.test", "missing.cdb") == TEMP && chkcdb("zz@example.test", "missing.cdb") == TEMP &&
          !strcmp(q.why, "rcptcheck-cdb"));
    CHECK("addr cdb: a missing file leaves remote domains untouched", chkcdb("x@remote.test", "missing.cdb") == NOTOURS);
    CHECK("addr cdb: the list's own @domain marker never answers for a recipient",
          chkcdb("@example.test", "valid.cdb") == BAD);
    CHECK("addr cdb: an empty local part is refused even in a catch-all domain",
          chkcdb("@catch.test", "valid.cdb") == BAD && !strcmp(q.why, "empty-local"));
    mkd("dir.cdb");
    CHECK("addr cdb: unreadable file is TEMP", chkcdb("joe@example.test", "dir.cdb") == TEMP);
    put("corrupt.cdb", "short");
    CHECK("addr cdb: corrupt file is TEMP", chkcdb("joe@example.test", "corrupt.cdb") == TEMP);
  }

  nj_qmail_free(&q);
  {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    if (system(cmd)) {}
  }
  return CHECK_DONE("test_rcpt");
}
