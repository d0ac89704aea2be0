/* SPDX-License-Identifier: ISC */
/* rcptcheck-cdb: compiles rcptcheck's text sources into cdb files
 * (tinycdb), through a temporary file, fsync and rename.
 *
 *   rcptcheck-cdb SOURCE TARGET      a list of valid addresses into the
 *                                    RCPTCHECK_CDB format
 *   rcptcheck-cdb -u ASSIGN TARGET   a qmail users/assign file into
 *                                    users/cdb, in qmail-newu's format
 *                                    (for trees without qmail-newu)
 *   rcptcheck-cdb -g LISTS TARGET    control/greylist-triplets, the white-
 *                                    and blacklists of triplet greylisting,
 *                                    into RCPTCHECK_GREYLIST_LIST's format
 *                                    (triplet.h: nj_tr_parse)
 *
 * Address list: one entry per line, # comments and blank lines skipped,
 *   user@domain            a valid address
 *   user-default@domain    any user-SOMETHING@domain is valid
 *   @domain                every address in domain is valid
 * Every domain named gets an "@domain" key, which tells rcptcheck that
 * the list decides for it. Keys are lower case. The list is read by the
 * library's control-file reader (nj_ctl), each cdb written through
 * nj_tmp_* (TARGET.tmp). */
#include <string.h>
#include <cdb.h>
#include <skalibs/bytestr.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/stralloc.h>
#include <skalibs/djbunix.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "qmailrcpt.h"
#include "greylist.h"
#include "triplet.h"

#define USAGE "rcptcheck-cdb [ -u | -g ] source target"

const char *PROG = "rcptcheck-cdb";

static const char *src;
static unsigned long lineno;
static nj_tmpfile tmp = NJ_TMPFILE_ZERO;

static void die_format(const char *why) __attribute__((noreturn));
static void die_format(const char *why)
{
  char n[ULONG_FMT];
  n[ulong_fmt(n, lineno)] = 0;
  nj_tmp_abort(&tmp);
  strerr_dief(100, src, " line ", n, ": ", why);
}

/* users/assign, as qmail-newu reads it */
static void assign(struct cdb_make *cm, const stralloc *in)
{
  stralloc key = STRALLOC_ZERO, data = STRALLOC_ZERO, wild = STRALLOC_ZERO;
  size_t i = 0;
  for (;;) {
    const char *line = in->s + i, *lf, *colon;
    size_t len, k, ncolons = 0;
    if (i >= in->len) { lineno++; die_format("no final line with a dot"); }
    lineno++;
    if (line[0] == '.') break;
    lf = memchr(line, '\n', in->len - i);
    if (!lf) die_format("no newline");
    len = (size_t)(lf - line);
    i += len + 1;
    if (memchr(line, 0, len)) die_format("NUL byte");
    colon = memchr(line, ':', len);
    if (!colon || colon == line) die_format("no key");
    k = (size_t)(colon - line);
    key.len = 0;
    if (!stralloc_catb(&key, "!", 1) || !stralloc_catb(&key, line + 1, k - 1))
      strerr_diefu1sys(111, "allocate");
    if (line[0] == '+') {
      if (k >= 2 && !memchr(wild.s ? wild.s : "", line[k - 1], wild.len) &&
          !stralloc_catb(&wild, line + k - 1, 1)) strerr_diefu1sys(111, "allocate");
    } else if (!stralloc_0(&key)) strerr_diefu1sys(111, "allocate");
    case_lowerb(key.s, key.len);
    data.len = 0;
    if (!stralloc_catb(&data, colon + 1, len - k - 1)) strerr_diefu1sys(111, "allocate");
    for (k = 0; k < data.len; k++)
      if (data.s[k] == ':') {
        data.s[k] = 0;
        if (++ncolons == 6) break;
      }
    if (ncolons < 6) die_format("fewer than 7 fields");
    data.len = k;
    if (cdb_make_add(cm, key.s, (unsigned)key.len, data.s, (unsigned)data.len) < 0)
      nj_tmp_die(&tmp, "write ");
  }
  if (cdb_make_add(cm, "", 0, wild.s ? wild.s : "", (unsigned)wild.len) < 0)
    nj_tmp_die(&tmp, "write ");
  stralloc_free(&key);
  stralloc_free(&data);
  stralloc_free(&wild);
}

/* the address list: najimi's text rules (NJ_CTL_TEXT: blanks around an
 * entry dropped, lines starting with # skipped) */
static void addresses(struct cdb_make *cm, stralloc *in)
{
  nj_ctl c;
  char *line, *at;
  size_t len, k;
  if (!stralloc_readyplus(in, 1)) strerr_diefu1sys(111, "allocate");
  nj_ctl_init(&c, in->s, in->len, NJ_CTL_TEXT, 0);
  while (nj_ctl_next(&c, &line, &len) > 0) {
    lineno = c.line;
    for (k = 0; k < len; k++) {
      unsigned char ch = (unsigned char)line[k];
      if (ch <= 0x20 || ch >= 0x7f) die_format("space or control character in the address");
    }
    if (len > NJ_ADDRMAX - 16) die_format("address too long");
    at = memchr(line, '@', len);
    if (!at) die_format("no @domain");
    {
      char *last = line + len;
      while (last > line && last[-1] != '@') last--;
      at = last - 1;
    }
    if (at + 1 == line + len) die_format("empty domain");
    case_lowerb(line, len);
    if (at == line) {
      /* @domain: the whole domain is valid */
      if (cdb_make_put(cm, line, (unsigned)len, "*", 1, CDB_PUT_REPLACE) < 0)
        nj_tmp_die(&tmp, "write ");
      continue;
    }
    if (cdb_make_put(cm, line, (unsigned)len, "", 0, CDB_PUT_INSERT) < 0 ||
        cdb_make_put(cm, at, (unsigned)(line + len - at), "", 0, CDB_PUT_INSERT) < 0)
      nj_tmp_die(&tmp, "write ");
  }
}

/* control/greylist-triplets: one entry a line, a word starting with #
 * starts a comment (NJ_CTL_HASHWORD); each entry's record, then one
 * "#FORM" key for each form used. */
static void triplets(struct cdb_make *cm, stralloc *in)
{
  nj_ctl c;
  char *line;
  size_t len;
  int forms = 0, i, r;
  if (!stralloc_readyplus(in, 1)) strerr_diefu1sys(111, "allocate");
  nj_ctl_init(&c, in->s, in->len, NJ_CTL_TEXT | NJ_CTL_HASHWORD | NJ_CTL_NONUL, 1000);
  while ((r = nj_ctl_next(&c, &line, &len))) {
    nj_trentry e;
    const char *why;
    lineno = c.line;
    if (r < 0) die_format(c.why);
    if (!nj_tr_parse(line, len, &e, &why)) die_format(why);
    if (cdb_make_add(cm, e.key, (unsigned)e.keylen, e.val, (unsigned)e.vallen) < 0)
      nj_tmp_die(&tmp, "write ");
    forms |= e.form == 'c' ? 1 : e.form == 't' ? 2 : e.form == 's' ? 4 : 8;
  }
  for (i = 0; i < 4; i++) {
    char k[2] = { '#', "ctsx"[i] };
    if ((forms & (1 << i)) && cdb_make_add(cm, k, 2, "", 0) < 0) nj_tmp_die(&tmp, "write ");
  }
}

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  int users = 0, lists = 0;
  stralloc in = STRALLOC_ZERO;
  struct cdb_make cm;

  nj_version_opt(argc, argv);
  for (;;) {
    int opt = subgetopt_r(argc, argv, "ug", &l);
    if (opt == -1) break;
    if (opt == 'u') users = 1;
    else if (opt == 'g') lists = 1;
    else strerr_dieusage(100, USAGE);
  }
  argc -= l.ind;
  argv += l.ind;
  if (argc != 2 || (users && lists)) strerr_dieusage(100, USAGE);
  src = argv[0];
  if (!openslurpclose(&in, src)) strerr_diefu2sys(111, "read ", src);
  nj_tmp_open(&tmp, argv[1], 0);
  if (cdb_make_start(&cm, tmp.fd) < 0) nj_tmp_die(&tmp, "write ");
  if (users) assign(&cm, &in);
  else if (lists) triplets(&cm, &in);
  else addresses(&cm, &in);
  if (cdb_make_finish(&cm) < 0) nj_tmp_die(&tmp, "write ");
  nj_tmp_commit(&tmp);
  stralloc_free(&in);
  return 0;
}
