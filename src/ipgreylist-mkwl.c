/* SPDX-License-Identifier: ISC */
/* ipgreylist-mkwl: compiles ipgreylist's whitelist sources (the files
 * named, in order, or stdin) into one cdb, as tcprules does: written to a
 * temporary file, synced, renamed.
 *
 *   ipgreylist-mkwl greylist-whitelist.cdb greylist-whitelist.tmp < greylist-whitelist
 *   ipgreylist-mkwl greylist-whitelist.cdb greylist-whitelist.tmp \
 *     greylist-whitelist greylist-known-senders
 *
 * One entry a line, then an optional expiry date, then an optional comment:
 *   192.0.2.7                 a single address
 *   198.51.100.0/24 2027-01-31  a network, until the end of that day (UTC)
 *   2001:db8:5::/48           an IPv6 network
 *   mx.example.com            a reverse-DNS name (TCPREMOTEHOST), exactly
 *   .example.net              any name ending in .example.net
 * Blank lines are ignored; a # at the start of a word begins a comment.
 * The lines are read by the library's control-file reader (nj_ctl, with
 * NJ_CTL_HASHWORD), the file is written through nj_tmp_*. */
#include <string.h>
#include <time.h>
#include <cdb.h>
#include <skalibs/djbunix.h>
#include <skalibs/stralloc.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "greylist.h"

#define USAGE "ipgreylist-mkwl cdb tmp [ source... ] (or < source)"
#define LINEMAX 1000

const char *PROG = "ipgreylist-mkwl";

static nj_tmpfile tmp = NJ_TMPFILE_ZERO;
static const char *source;   /* the file being read, 0: stdin */

static void die_line(unsigned long line, const char *what) __attribute__((noreturn));
static void die_line(unsigned long line, const char *what)
{
  char ln[ULONG_FMT];
  ln[ulong_fmt(ln, line)] = 0;
  nj_tmp_abort(&tmp);
  if (source) strerr_dief(100, source, " line ", ln, ": ", what);
  strerr_dief(100, "line ", ln, ": ", what);
}

/* Splits an entry at blanks: up to 3 words; returns how many (a 4th is
 * an error). */
static unsigned int words(char *s, char **w)
{
  unsigned int n = 0;
  for (;;) {
    while (*s == ' ' || *s == '\t' || *s == '\r') *s++ = 0;
    if (!*s) return n;
    if (n == 3) return 4;
    w[n++] = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\r') s++;
  }
}

/* Adds one entry (line lineno) to the cdb; 1 when its date is past. */
static int add(struct cdb_make *cm, char *entry, unsigned long lineno, int64_t today)
{
  char *w[4];
  char key[300];
  size_t klen;
  nj_ip net;
  unsigned int len, n = words(entry, w);
  const char *date = "";
  int64_t last = today;

  if (n > 2) die_line(lineno, "expected: entry [YYYY-MM-DD] [# comment]");
  if (n == 2) {
    if (!nj_date_scan(w[1], strlen(w[1]), &last)) die_line(lineno, "bad date, expected YYYY-MM-DD");
    date = w[1];
  }
  if (nj_cidr_parse(w[0], &net, &len)) klen = nj_wl_netkey(key, &net, len);
  else if (w[0][0] == '.') klen = nj_wl_hostkey(key, sizeof key, w[0], 1);
  else if (w[0][0] == '=') klen = nj_wl_hostkey(key, sizeof key, w[0] + 1, 0);
  else if (strchr(w[0], '/') || strchr(w[0], ':')) klen = 0;
  else {
    /* an all-digit-and-dot word that is no address (1.2.3) is an error */
    klen = strspn(w[0], "0123456789.") == strlen(w[0]) ? 0
         : nj_wl_hostkey(key, sizeof key, w[0], 0);
  }
  if (!klen) die_line(lineno, "not an address, network, host name or .suffix");
  if (cdb_make_add(cm, key, (unsigned)klen, date, (unsigned)strlen(date)) < 0)
    nj_tmp_die(&tmp, "write ");
  return last < today;
}

/* Adds every entry of the text in sa; returns how many had expired. */
static unsigned long add_all(struct cdb_make *cm, stralloc *sa, int64_t today)
{
  unsigned long expired = 0;
  nj_ctl c;
  char *entry;
  size_t n;
  int r;
  nj_ctl_init(&c, sa->s, sa->len, NJ_CTL_TEXT | NJ_CTL_HASHWORD | NJ_CTL_NONUL, LINEMAX);
  while ((r = nj_ctl_next(&c, &entry, &n))) {
    if (r < 0) die_line(c.line, c.why);
    expired += (unsigned long)add(cm, entry, c.line, today);
  }
  return expired;
}

/* The source: file (0: stdin), whole, with room for one more byte. */
static void slurp_source(stralloc *sa, const char *file)
{
  int fd = file ? open_read(file) : 0;
  sa->len = 0;
  if (fd < 0 || !slurp(sa, fd) || !stralloc_readyplus(sa, 1)) {
    nj_tmp_abort(&tmp);
    strerr_diefu2sys(111, "read ", file ? file : "standard input");
  }
  if (file) fd_close(fd);
}

int main(int argc, char const *const *argv)
{
  stralloc sa = STRALLOC_ZERO;
  struct cdb_make cm;
  unsigned long expired = 0;
  int64_t today = nj_day((int64_t)time(0));
  int i;

  nj_version_opt(argc, argv);
  if (argc < 3) strerr_dieusage(100, USAGE);
  nj_tmp_open(&tmp, argv[1], argv[2]);
  if (cdb_make_start(&cm, tmp.fd) < 0) nj_tmp_die(&tmp, "write ");
  for (i = 3; i < argc || (i == 3 && argc == 3); i++) {
    source = i < argc ? argv[i] : 0;
    slurp_source(&sa, source);
    expired += add_all(&cm, &sa, today);
  }
  stralloc_free(&sa);

  if (cdb_make_finish(&cm) < 0) nj_tmp_die(&tmp, "write ");
  nj_tmp_commit(&tmp);
  if (expired) {
    char a[ULONG_FMT];
    a[ulong_fmt(a, expired)] = 0;
    strerr_warnw(a, " entries have already expired");
  }
  return 0;
}
