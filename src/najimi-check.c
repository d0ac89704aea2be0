/* SPDX-License-Identifier: ISC */
/* najimi-check: reads every file the chain will read, as the service's
 * user, and prints what would go wrong, like spamdyke's --config-test.
 *
 *   najimi-check [ -s SERVICEDIR ] [ -u USER ] [ -a aliasuser ]
 *
 * With -s, the environment is the service's env/ (read as envdir reads
 * it), the user the one its run script names (envuidgid USER, or -u),
 * and its run script, rules and programs are checked too; without it,
 * the environment najimi-check is given, as the chain would see it.
 * Started as root with a user to run as, it becomes that user first, so
 * that every file is read with the service's permissions.
 *
 * One line per finding on standard output:
 *   najimi-check: error: WHAT: what goes wrong (what to do)
 *   najimi-check: note: WHAT: worth knowing, nothing breaks
 * then a summary. Exit 0 when there is no error, 100 when there is one,
 * 111 when the check itself cannot run. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <dirent.h>
#include <regex.h>
#include <sys/stat.h>
#include <cdb.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/stralloc.h>
#include <skalibs/buffer.h>
#include <skalibs/types.h>
#include <skalibs/bytestr.h>
#include <skalibs/djbunix.h>
#include "najimi.h"
#include "qmailrcpt.h"
#include "greylist.h"

#define USAGE "najimi-check [ -s servicedir ] [ -u user ] [ -a aliasuser ]"

const char *PROG = "najimi-check";

static unsigned long n_error, n_note;

/* Prints "najimi-check: error|note: " and the strings up to a 0. */
static void say(int error, ...)
{
  va_list ap;
  const char *s;
  if (error) n_error++;
  else n_note++;
  buffer_puts(buffer_1, error ? "najimi-check: error: " : "najimi-check: note: ");
  va_start(ap, error);
  while ((s = va_arg(ap, const char *))) buffer_puts(buffer_1, s);
  va_end(ap);
  if (buffer_putsflush(buffer_1, "\n") < 0) strerr_diefu1sys(111, "write to stdout");
}

static const char *env(const char *var)
{
  const char *s = getenv(var);
  return s && *s ? s : 0;
}

/* ---------------------------------------------------------- the service */

static struct {
  const char *dir;            /* -s */
  const char *user;           /* -u, or envuidgid's in run */
  const char *alias;          /* -a, or rcptcheck -a in run */
  int chain;                  /* bit 1 ipgreylist, 2 rcptcheck, 4 starttlsd; 0: unknown */
  stralloc run;               /* the run script */
} svc = { 0, 0, 0, 0, STRALLOC_ZERO };

/* env/, as envdir reads it: a file per variable, its first line without
 * trailing blanks; an empty file removes the variable. */
static void load_env(const char *dir)
{
  stralloc path = STRALLOC_ZERO, val = STRALLOC_ZERO;
  DIR *d;
  struct dirent *e;
  if (!stralloc_cats(&path, dir) || !stralloc_cats(&path, "/env") || !stralloc_0(&path))
    strerr_diefu1sys(111, "allocate");
  d = opendir(path.s);
  if (!d) { say(1, path.s, ": ", strerror(errno), " (run najimi-mkservice)", (char *)0); return; }
  while ((e = readdir(d))) {
    size_t n;
    if (e->d_name[0] == '.') continue;
    path.len = strlen(dir) + 4;
    if (!stralloc_catb(&path, "/", 1) || !stralloc_cats(&path, e->d_name) || !stralloc_0(&path))
      strerr_diefu1sys(111, "allocate");
    val.len = 0;
    if (!openslurpclose(&val, path.s)) { say(1, path.s, ": ", strerror(errno), (char *)0); continue; }
    n = byte_chr(val.s, val.len, '\n');
    while (n && (val.s[n - 1] == ' ' || val.s[n - 1] == '\t')) n--;
    if (!n) { unsetenv(e->d_name); continue; }
    for (size_t i = 0; i < n; i++) if (!val.s[i]) val.s[i] = '\n';
    val.len = n;
    if (!stralloc_0(&val) || setenv(e->d_name, val.s, 1) < 0) strerr_diefu1sys(111, "set the environment");
  }
  closedir(d);
  stralloc_free(&path);
  stralloc_free(&val);
}

/* The run script's words: the user (envuidgid), the programs of the
 * chain (each must be there and executable), rcptcheck's -a. */
static void read_run(const char *dir)
{
  char *w, *save = 0;
  const char *prev = "";
  stralloc path = STRALLOC_ZERO;
  if (!stralloc_cats(&path, dir) || !stralloc_cats(&path, "/run") || !stralloc_0(&path))
    strerr_diefu1sys(111, "allocate");
  if (!openslurpclose(&svc.run, path.s) || !stralloc_0(&svc.run)) {
    say(1, path.s, ": ", strerror(errno), " (run najimi-mkservice)", (char *)0);
    stralloc_free(&path);
    return;
  }
  if (access(path.s, X_OK) < 0) say(1, path.s, ": not executable (chmod 755 it)", (char *)0);
  svc.chain = 0;
  for (w = strtok_r(svc.run.s, " \t\n\\", &save); w; prev = w, w = strtok_r(0, " \t\n\\", &save)) {
    const char *base = strrchr(w, '/') ? strrchr(w, '/') + 1 : w;
    if (!strcmp(prev, "envuidgid") && !svc.user) svc.user = w;
    if (!strcmp(prev, "-a") && (svc.chain & 2) && !svc.alias) svc.alias = w;
    if (!strcmp(base, "ipgreylist")) svc.chain |= 1;
    if (!strcmp(base, "rcptcheck")) svc.chain |= 2;
    if (!strcmp(base, "starttlsd")) svc.chain |= 4;
    if (w[0] == '/' && access(w, X_OK) < 0 && errno != EACCES)
      say(1, path.s, ": ", w, ": ", strerror(errno), (char *)0);
  }
  stralloc_free(&path);
}

/* Becomes the service's user, so that every file is read as it reads it. */
static void become(const char *user)
{
  struct passwd *pw;
  if (geteuid()) return;
  if (!user) {
    say(0, "running as root: files are not read with the service's permissions (give -u USER)", (char *)0);
    return;
  }
  pw = getpwnam(user);
  if (!pw) { say(1, "no such user: ", user, " (create it, or give -u)", (char *)0); return; }
  if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
    strerr_diefu2sys(111, "become ", user);
}

/* control/tcp.smtp.cdb, which tcpserver reads at each connection as the
 * service's user. */
static void rules(const char *dir)
{
  stralloc path = STRALLOC_ZERO;
  nj_cdbfile f;
  memset(&f, 0, sizeof f);
  if (!stralloc_cats(&path, dir) || !stralloc_cats(&path, "/control/tcp.smtp.cdb") ||
      !stralloc_0(&path)) strerr_diefu1sys(111, "allocate");
  nj_cdbfile_open(&f, path.s);
  if (f.state != 1)
    say(1, path.s, ": ", f.state == 2 ? strerror(ENOENT) : strerror(f.err),
        ": tcpserver drops every connection (cd control && make)", (char *)0);
  nj_cdbfile_close(&f);
  stralloc_free(&path);
}

/* ---------------------------------------------------------- qmail */

static const char *cdbwhy(const nj_cdbfile *f)
{
  if (f->state == 2) return strerror(ENOENT);
  return f->err == EPROTO ? "not a cdb" : strerror(f->err);
}

/* What rcptcheck reads of the qmail tree: the control files, users/cdb,
 * the alias user; and control/rcpthosts, which qmail-smtpd reads. */
static void qmail_tree(nj_qmail *q, const char *home)
{
  char path[4200];
  struct stat st;
  int r = stat(home, &st);
  if (r < 0 || !S_ISDIR(st.st_mode)) {
    say(1, "QMAILHOME=", home, ": ", r < 0 ? strerror(errno) : "not a directory",
        ": rcptcheck checks no recipient (set QMAILHOME in env/)", (char *)0);
    return;
  }
  if (nj_qmail_load(q) < 0) {
    say(1, home, "/", q->why, ": ", strerror(errno), ": every recipient gets 451 until it can be read", (char *)0);
    return;
  }
  if (!q->locals.len && !q->vdoms.len)
    say(1, home, "/control: no locals, me or virtualdomains: rcptcheck checks no recipient", (char *)0);
  if (strlen(home) < 4000) {
    memcpy(path, home, strlen(home) + 1);
    strcat(path, "/control/rcpthosts");
    if (access(path, R_OK) < 0)
      say(1, path, ": ", strerror(errno), errno == ENOENT ?
          ": qmail-smtpd takes mail for any domain, an open relay (qmail's INSTALL.ctl)" :
          ": qmail-smtpd cannot read it", (char *)0);
    memcpy(path, home, strlen(home) + 1);
    strcat(path, "/users/cdb");
    nj_cdbfile_open(&q->users, path);
    if (q->users.state == -1)
      say(1, path, ": ", cdbwhy(&q->users), ": every local recipient gets 451 (qmail-newu; chmod 644)", (char *)0);
    else if (q->users.state == 1 && cdb_find(&q->users.c, "", 0) <= 0)
      say(1, path, ": no wildcard key: qmail-lspawn defers, rcptcheck says 451 (run qmail-newu)", (char *)0);
  }
  /* a users/cdb "+:" entry (key "!") takes every name: no alias user needed */
  if (q->users.state == 1 && cdb_find(&q->users.c, "!", 1) > 0) return;
  if (!getpwnam(q->alias))
    say(1, "no alias user ", q->alias, ": mail to names that are no user gets 451, as qmail defers it",
        " (qmail's INSTALL.alias, or rcptcheck -a)", (char *)0);
}

/* The address list: readable, and each domain it decides for local. */
static void addr_list(nj_qmail *q)
{
  unsigned pos;
  if (!q->addrcdb) return;
  nj_cdbfile_open(&q->addrs, q->addrcdb);
  if (q->addrs.state != 1) {
    say(1, "RCPTCHECK_CDB=", q->addrcdb, ": ", cdbwhy(&q->addrs),
        ": recipients at local domains get 451 until it is fixed (cd control && make)", (char *)0);
    return;
  }
  cdb_seqinit(&pos, &q->addrs.c);
  while (cdb_seqnext(&pos, &q->addrs.c) > 0) {
    const char *k = cdb_getkey(&q->addrs.c);
    unsigned kl = cdb_keylen(&q->addrs.c);
    char addr[NJ_ADDRMAX + 16];
    if (!k || kl < 2 || k[0] != '@' || kl > NJ_ADDRMAX) continue;
    memcpy(addr, "postmaster", 10);
    memcpy(addr + 10, k, kl);
    addr[10 + kl] = 0;
    if (nj_rcpt_check(q, addr) == NJ_RCPT_NOTOURS)
      say(0, "RCPTCHECK_CDB=", q->addrcdb, ": ", addr + 11,
          " is no local or virtual domain: the list decides nothing there", (char *)0);
  }
}

/* Homes qmail delivers to that this user cannot search: their users'
 * extensions pass unverified, unless rcptcheck-homes' list covers them. */
static void homes(nj_qmail *q)
{
  struct passwd *pw;
  struct stat st;
  unsigned long blind = 0;
  char example[512] = "", n[ULONG_FMT];
  if (!geteuid()) return;
  setpwent();
  while ((pw = getpwent())) {
    char probe[4200];
    if (!pw->pw_uid || strlen(pw->pw_dir) > 4000 || stat(pw->pw_dir, &st) < 0 || st.st_uid != pw->pw_uid) continue;
    memcpy(probe, pw->pw_dir, strlen(pw->pw_dir) + 1);
    strcat(probe, "/.qmail-najimi-check");
    if (stat(probe, &st) == 0 || (errno != EACCES && errno != EPERM)) continue;
    if (!blind++ && strlen(pw->pw_dir) < sizeof example) memcpy(example, pw->pw_dir, strlen(pw->pw_dir) + 1);
  }
  endpwent();
  n[ulong_fmt(n, blind)] = 0;
  if (blind && !q->homescdb)
    say(0, n, " home(s) this user cannot search (", example, "...): their users' extension addresses",
        " pass unverified; rcptcheck-homes from root's cron and RCPTCHECK_HOMES verify them (rcptcheck(8))", (char *)0);
  if (!q->homescdb) return;
  nj_cdbfile_open(&q->homes, q->homescdb);
  if (q->homes.state != 1)
    say(1, "RCPTCHECK_HOMES=", q->homescdb, ": ", cdbwhy(&q->homes),
        ": the homes it lists pass unverified (run rcptcheck-homes as root)", (char *)0);
  else if (fstat(cdb_fileno(&q->homes.c), &st) == 0 && time(0) - st.st_mtime > 86400)
    say(0, "RCPTCHECK_HOMES=", q->homescdb, ": older than a day: is root's cron job running?", (char *)0);
}

/* ---------------------------------------------------------- settings */

/* Every number the chain reads, with the bounds its program enforces
 * (greetdelay.c, ipgreylist.c, rcptcheck.c): a value outside them is
 * replaced by the default, with a warning at every connection. */
static const struct { const char *var; unsigned long min, max; const char *prog; } numbers[] = {
  { "GREETDELAY", 0, 120, "greetdelay" },
  { "GREYLIST_MIN", 0, 3650UL * 86400, "ipgreylist" },
  { "GREYLIST_WINDOW", 1, 3650UL * 86400, "ipgreylist" },
  { "GREYLIST_LIFETIME", 1, 3650UL * 86400, "ipgreylist" },
  { "GREYLIST_V4PREFIX", 8, 32, "ipgreylist" },
  { "RCPTCHECK_MAXBAD", 0, 1000000, "rcptcheck" },
  { "RCPTCHECK_TARPIT", 0, 60, "rcptcheck" },
  { "RCPTCHECK_TIMEOUT", 1, 86400, "rcptcheck" },
  { "RCPTCHECK_REPLYTIMEOUT", 1, 86400, "rcptcheck" },
  { "RCPTCHECK_DATATIMEOUT", 1, 86400, "rcptcheck" },
  { "RCPTCHECK_MAXTIME", 0, 604800, "rcptcheck" },
};

static void settings(void)
{
  const char *v;
  unsigned long u;
  size_t i;
  for (i = 0; i < sizeof numbers / sizeof *numbers; i++) {
    char lo[ULONG_FMT], hi[ULONG_FMT];
    v = getenv(numbers[i].var);
    if (!v || nj_ulong_parse(v, numbers[i].min, numbers[i].max, &u)) continue;
    lo[ulong_fmt(lo, numbers[i].min)] = 0;
    hi[ulong_fmt(hi, numbers[i].max)] = 0;
    say(1, numbers[i].var, "=", v, ": not a number from ", lo, " to ", hi, ": ",
        numbers[i].prog, " uses its default instead", (char *)0);
  }
  v = getenv("RCPTCHECK_TLS");
  if (v && *v && strcmp(v, "remove") && strcmp(v, "passthrough"))
    say(1, "RCPTCHECK_TLS=", v, ": neither remove nor passthrough: rcptcheck removes STARTTLS", (char *)0);
  v = getenv("GREYLIST_ONLY");
  if (v && *v && strcmp(v, "all") && strcmp(v, "suspicious"))
    say(1, "GREYLIST_ONLY=", v, ": neither all nor suspicious: ipgreylist greylists all", (char *)0);
}

/* ipgreylist's records in Redis: the address must parse (ipgreylist
 * would fail every session otherwise), the password file be readable.
 * Redis itself is not asked: the check has no side effects and no
 * network. */
static void redis(const char *spec)
{
  const char *pass = env("GREYLIST_REDIS_PASSFILE");
  nj_glraddr a;
  if (!nj_glr_addr(&a, spec))
    say(1, "GREYLIST_REDIS=", spec, ": not unix:/path, IPV4:PORT or [IPV6]:PORT (numeric):"
        " ipgreylist treats its state as unwritable", (char *)0);
  else if (a.isunix && access(a.host, W_OK) < 0)
    say(0, "GREYLIST_REDIS=", spec, ": ", strerror(errno), ": Redis is not there now,"
        " or the user cannot write to its socket", (char *)0);
  if (pass && access(pass, R_OK) < 0)
    say(1, "GREYLIST_REDIS_PASSFILE=", pass, ": ", strerror(errno),
        ": ipgreylist cannot authenticate, its state is unwritable", (char *)0);
}

/* ipgreylist's state directory (or Redis), whitelist and patterns. */
static void greylist(void)
{
  const char *dir = env("GREYLISTDIR"), *wl = env("GREYLIST_WHITELIST"), *pf = env("GREYLIST_PATTERNS");
  const char *rs = env("GREYLIST_REDIS");
  struct stat st;
  if (rs) redis(rs);
  else if (!dir) {
    if (svc.chain & 1) say(1, "GREYLISTDIR is not set: ipgreylist keeps no state and lets every client through", (char *)0);
  } else if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) < 0)
    say(1, "GREYLISTDIR=", dir, ": ", errno ? strerror(errno) : "not a directory",
        ": ipgreylist cannot keep its state (chown it to the service's user, mode 700)", (char *)0);
  else if (st.st_mode & 002)
    say(1, "GREYLISTDIR=", dir, ": writable by anyone: anyone can make a regular (chmod 700)", (char *)0);
  if (wl) {
    nj_cdbfile f;
    memset(&f, 0, sizeof f);
    nj_cdbfile_open(&f, wl);
    if (f.state != 1)
      say(1, "GREYLIST_WHITELIST=", wl, ": ", cdbwhy(&f), ": ipgreylist treats it as empty (cd control && make)", (char *)0);
    nj_cdbfile_close(&f);
  }
  if (pf) {
    stralloc text = STRALLOC_ZERO;
    nj_ctl c;
    char *pat, ln[ULONG_FMT];
    size_t n;
    int r = nj_ctl_open(&c, &text, pf, NJ_CTL_TEXT, 0);
    if (r <= 0)
      say(1, "GREYLIST_PATTERNS=", pf, ": ", strerror(r ? errno : ENOENT), ": ipgreylist uses its built-in list", (char *)0);
    while (r > 0 && nj_ctl_next(&c, &pat, &n) > 0) {
      regex_t re;
      if (!regcomp(&re, pat, REG_EXTENDED | REG_ICASE | REG_NOSUB)) { regfree(&re); continue; }
      ln[ulong_fmt(ln, c.line)] = 0;
      say(1, "GREYLIST_PATTERNS=", pf, " line ", ln, ": not an extended regular expression: skipped", (char *)0);
    }
    stralloc_free(&text);
  }
}

/* rcptcheck's triplet greylisting: its state directory and its lists. */
static void triplets(void)
{
  const char *dir = env("RCPTCHECK_GREYLIST"), *list = env("RCPTCHECK_GREYLIST_LIST");
  struct stat st;
  if (dir && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) < 0))
    say(1, "RCPTCHECK_GREYLIST=", dir, ": ", errno ? strerror(errno) : "not a directory",
        ": rcptcheck cannot keep its triplets and lets them pass (chown it to the service's user, mode 700)", (char *)0);
  else if (dir && (st.st_mode & 002))
    say(1, "RCPTCHECK_GREYLIST=", dir, ": writable by anyone: anyone can make a triplet pass (chmod 700)", (char *)0);
  if (list) {
    nj_cdbfile f;
    memset(&f, 0, sizeof f);
    nj_cdbfile_open(&f, list);
    if (f.state != 1)
      say(1, "RCPTCHECK_GREYLIST_LIST=", list, ": ", cdbwhy(&f), ": rcptcheck uses no lists (cd control && make)", (char *)0);
    nj_cdbfile_close(&f);
    if (!dir) say(0, "RCPTCHECK_GREYLIST_LIST is set without RCPTCHECK_GREYLIST: the lists are not used", (char *)0);
  }
}

/* starttlsd's certificate and key. */
static void tls(void)
{
  const char *cert = env("CERTFILE"), *key = env("KEYFILE");
  struct stat st;
  if (cert && access(cert, R_OK) < 0)
    say(1, "CERTFILE=", cert, ": ", strerror(errno), ": starttlsd offers no STARTTLS", (char *)0);
  if (key && stat(key, &st) < 0)
    say(1, "KEYFILE=", key, ": ", strerror(errno), ": starttlsd offers no STARTTLS", (char *)0);
  if ((cert && !key) || (key && !cert))
    say(1, cert ? "CERTFILE" : "KEYFILE", " is set without ", cert ? "KEYFILE" : "CERTFILE",
        ": starttlsd offers no STARTTLS", (char *)0);
}

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  nj_qmail q;
  char a[ULONG_FMT], b[ULONG_FMT];
  nj_version_opt(argc, argv);
  for (;;) {
    int opt = subgetopt_r(argc, argv, "s:u:a:", &l);
    if (opt == -1) break;
    switch (opt) {
      case 's': svc.dir = l.arg; break;
      case 'u': svc.user = l.arg; break;
      case 'a': svc.alias = l.arg; break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  if (l.ind != argc) strerr_dieusage(100, USAGE);
  if (svc.dir) {
    load_env(svc.dir);
    read_run(svc.dir);
  }
  become(svc.user);
  if (svc.dir) rules(svc.dir);
  settings();
  if (!svc.chain || (svc.chain & 2)) {
    nj_qmail_init(&q, env("QMAILHOME"), env("RCPTCHECK_CDB"), svc.alias);
    q.homescdb = env("RCPTCHECK_HOMES");
    qmail_tree(&q, q.home);
    if (q.state > 0) addr_list(&q);
    homes(&q);
    nj_qmail_free(&q);
  }
  greylist();
  triplets();
  tls();
  a[ulong_fmt(a, n_error)] = 0;
  b[ulong_fmt(b, n_note)] = 0;
  buffer_puts(buffer_1, "najimi-check: ");
  buffer_puts(buffer_1, n_error ? a : "no");
  buffer_puts(buffer_1, n_error == 1 ? " error, " : " errors, ");
  buffer_puts(buffer_1, b);
  if (buffer_putsflush(buffer_1, n_note == 1 ? " note\n" : " notes\n") < 0) strerr_diefu1sys(111, "write to stdout");
  return n_error ? 100 : 0;
}
