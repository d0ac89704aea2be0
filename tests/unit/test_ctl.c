/* SPDX-License-Identifier: ISC */
/* test_ctl: the one reader of control files (io.c nj_ctl_*), with the
 * rule of each file that uses it: qmail's control files, the -k own
 * networks of retrydeny, ipgreylist's pattern file, ipgreylist-mkwl's
 * whitelist source, rcptcheck-cdb's address list. Then the files those
 * compile into, replaced whole (nj_tmp_*, nj_file_replace). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include <skalibs/djbunix.h>
#include "najimi.h"

const char *PROG = "test_ctl";

/* The entries of text under flags, as "line:entry|line:entry|...", with
 * "line:!why" for a bad line. */
static const char *entries(const char *text, unsigned int flags, size_t max)
{
  static char out[1000];
  char buf[500];
  size_t len = strlen(text), n, w = 0;
  nj_ctl c;
  char *e;
  int r;
  memcpy(buf, text, len + 1);
  buf[len] = 'X';                     /* the reader must not rely on a NUL */
  nj_ctl_init(&c, buf, len, flags, max);
  out[0] = 0;
  while ((r = nj_ctl_next(&c, &e, &n))) {
    if (r > 0 && (strlen(e) != n)) return "(entry not NUL-terminated at its length)";
    w += (size_t)snprintf(out + w, sizeof out - w, "%s%lu:%s%s", w ? "|" : "",
                          c.line, r < 0 ? "!" : "", r < 0 ? c.why : e);
  }
  return out;
}

int main(void)
{
  char path[] = "/tmp/test_ctl.XXXXXX";
  stralloc sa = STRALLOC_ZERO;
  nj_ctl c;
  char *e;
  size_t n;
  int fd;

  CHECK_EQ_STR("empty text: no entry", entries("", NJ_CTL_TEXT, 0), "");
  CHECK_EQ_STR("only comments and blank lines", entries("# a\n\n   \n\t# b\n", NJ_CTL_TEXT, 0), "");
  CHECK_EQ_STR("last line without a newline", entries("a\nb", NJ_CTL_TEXT, 0), "1:a|2:b");

  /* qmail's control.c: trailing spaces and tabs go, a first-byte # is a
   * comment, leading blanks and CR stay */
  CHECK_EQ_STR("qmail: trailing blanks dropped, line numbers kept",
               entries("a.example  \n#comment\n\nb.example\t\t\n", NJ_CTL_QMAIL, 0),
               "1:a.example|4:b.example");
  CHECK_EQ_STR("qmail: an indented # is an entry", entries("  # x\n", NJ_CTL_QMAIL, 0), "1:  # x");
  CHECK_EQ_STR("qmail: CR kept", entries("c.example\r\n", NJ_CTL_QMAIL, 0), "1:c.example\r");
  CHECK_EQ_STR("qmail: # inside kept", entries("a#b\n", NJ_CTL_QMAIL, 0), "1:a#b");

  /* najimi's lists (patterns, addresses): blanks around, CRLF, indented # */
  CHECK_EQ_STR("text: blanks and CR around dropped",
               entries("  \tx y \r\n   # c\n\r\n(^|[-.])dsl[0-9]*\n", NJ_CTL_TEXT, 0),
               "1:x y|4:(^|[-.])dsl[0-9]*");
  CHECK_EQ_STR("text: # inside a pattern kept", entries("a#b # c\n", NJ_CTL_TEXT, 0), "1:a#b # c");

  /* retrydeny -k: # anywhere */
  CHECK_EQ_STR("-k: comment after the network",
               entries("10.0.0.0/8   # our own network\n192.0.2.1#x\n#\n", NJ_CTL_TEXT | NJ_CTL_HASHANY, 255),
               "1:10.0.0.0/8|2:192.0.2.1");
  {
    char big[300];
    memset(big, '1', 256);
    big[256] = 0;
    CHECK_EQ_STR("-k: a 256-byte line is too long", entries(big, NJ_CTL_TEXT | NJ_CTL_HASHANY, 255), "1:!line too long");
    big[255] = 0;
    CHECK("-k: a 255-byte line is read", !strncmp(entries(big, NJ_CTL_TEXT | NJ_CTL_HASHANY, 255), "1:111", 5));
  }

  /* ipgreylist-mkwl: # at the start of a word; NUL and length refused */
  CHECK_EQ_STR("mkwl: comment at a word start",
               entries("192.0.2.200  2020-01-01      # expired\nx#y\n\t#c\n1.2.3.4\r#c\n",
                       NJ_CTL_TEXT | NJ_CTL_HASHWORD | NJ_CTL_NONUL, 1000),
               "1:192.0.2.200  2020-01-01|2:x#y|4:1.2.3.4");
  {
    char t[] = "a\nb\0c\nd\n";
    char buf[sizeof t];
    int r1, r2, r3;
    memcpy(buf, t, sizeof t);
    nj_ctl_init(&c, buf, sizeof t - 1, NJ_CTL_TEXT | NJ_CTL_HASHWORD | NJ_CTL_NONUL, 1000);
    r1 = nj_ctl_next(&c, &e, &n);
    r2 = nj_ctl_next(&c, &e, &n);
    CHECK("mkwl: a NUL byte makes line 2 bad", r1 == 1 && r2 == -1 && c.line == 2 && !strcmp(c.why, "NUL byte"));
    r3 = nj_ctl_next(&c, &e, &n);
    CHECK("mkwl: reading goes on after a bad line", r3 == 1 && c.line == 3 && !strcmp(e, "d"));
    memcpy(buf, t, sizeof t);
    nj_ctl_init(&c, buf, sizeof t - 1, NJ_CTL_TEXT, 0);
    nj_ctl_next(&c, &e, &n);
    CHECK("without NJ_CTL_NONUL a NUL is kept in the entry",
          nj_ctl_next(&c, &e, &n) == 1 && n == 3 && !memcmp(e, "b\0c", 3));
  }
  CHECK_EQ_STR("max: a line over the limit is bad, the next is read",
               entries("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nb\n",
                       NJ_CTL_TEXT | NJ_CTL_NONUL, 97),
               "1:!line too long|2:b");

  /* the whole file */
  CHECK("open: a missing file is 0", nj_ctl_open(&c, &sa, "/nonexistent/test_ctl", NJ_CTL_TEXT, 0) == 0);
  fd = mkstemp(path);
  CHECK("open: a temporary file", fd >= 0 && write(fd, "x\n# y\nz", 7) == 7 && close(fd) == 0);
  CHECK("open: reads it", nj_ctl_open(&c, &sa, path, NJ_CTL_TEXT, 0) == 1 &&
        nj_ctl_next(&c, &e, &n) == 1 && !strcmp(e, "x") &&
        nj_ctl_next(&c, &e, &n) == 1 && !strcmp(e, "z") && c.line == 3 &&
        nj_ctl_next(&c, &e, &n) == 0);
  unlink(path);

  /* replaced whole: the new bytes, no temporary file left */
  {
    char dir[] = "/tmp/test_ctl.d.XXXXXX", file[64], tmpf[80];
    nj_tmpfile t = NJ_TMPFILE_ZERO;
    CHECK("replace: a directory", mkdtemp(dir) != 0);
    snprintf(file, sizeof file, "%s/f", dir);
    snprintf(tmpf, sizeof tmpf, "%s/f.tmp.1", dir);
    nj_file_replace(file, ".tmp.1", "one\n", 4);
    nj_file_replace(file, ".tmp.1", "two\n", 4);
    sa.len = 0;
    CHECK("replace: the file has the new bytes", openslurpclose(&sa, file) && sa.len == 4 && !memcmp(sa.s, "two\n", 4));
    CHECK("replace: no temporary file left", access(tmpf, F_OK) < 0);
    nj_tmp_open(&t, file, 0);
    CHECK("tmp: FILE.tmp by default", !strcmp(t.tmp.s + strlen(dir), "/f.tmp") && t.fd >= 0);
    CHECK("tmp: written through its descriptor", write(t.fd, "three\n", 6) == 6);
    nj_tmp_commit(&t);
    sa.len = 0;
    snprintf(tmpf, sizeof tmpf, "%s/f.tmp", dir);
    CHECK("tmp: committed", openslurpclose(&sa, file) && sa.len == 6 && !memcmp(sa.s, "three\n", 6) && access(tmpf, F_OK) < 0);
    nj_tmp_open(&t, file, tmpf);
    CHECK("tmp: a given name", write(t.fd, "x", 1) == 1 && access(tmpf, F_OK) == 0);
    nj_tmp_abort(&t);
    sa.len = 0;
    CHECK("tmp: abort removes it, the file stays", access(tmpf, F_OK) < 0 && openslurpclose(&sa, file) && sa.len == 6);
    stralloc_free(&t.tmp);
    unlink(file);
    rmdir(dir);
  }
  stralloc_free(&sa);
  return CHECK_DONE("test_ctl");
}
