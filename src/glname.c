/* SPDX-License-Identifier: ISC */
/* glname.c: how a client is keyed (greylist.h, "name keys"): its
 * reverse-DNS name checked and put in canonical form, the dynamic-address
 * patterns, the registrable domain from the Public Suffix List (libpsl's
 * built-in list), and the choice between the name key and the IP key.
 * The only file of the library that needs libpsl: a program that links
 * it is linked with -lpsl (Makefile, PSL_PROGS).
 *
 * The suffix list is libpsl's built-in copy (psl_builtin): no file to
 * open or parse per connection, and in a static link it is the list of
 * the libpsl the program was built with (Debian 12: publicsuffix of
 * 2023-02-09). Rebuild to take a newer one. */
#include <string.h>
#include <stdlib.h>
#include <errno.h>
#include <regex.h>
#include <libpsl.h>
#include <skalibs/bytestr.h>
#include <skalibs/djbunix.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "greylist.h"
#include "dynpat.h"
#include "patterns.h"   /* builtin_patterns, from control/dynamic-patterns */

#define PATTERNS_MAX 65536
typedef char patterns_fit[sizeof builtin_patterns <= PATTERNS_MAX ? 1 : -1];

/* ------------------------------------------------------------ host names */

size_t nj_gl_hostname(char *out, const char *host, size_t n)
{
  size_t i, label = 0;
  if (n && host[n - 1] == '.') n--;           /* the root's dot */
  if (!n || n > 253) return 0;
  for (i = 0; i < n; i++) {
    char c = host[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
    if (c == '.') {
      if (!label) return 0;                   /* an empty label */
      label = 0;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      if (++label > 63) return 0;
    } else return 0;
    out[i] = c;
  }
  if (!label) return 0;
  out[n] = 0;
  return n;
}

const char *nj_gl_whyname(int why)
{
  switch (why) {
    case NJ_GLN_INVALID: return "invalid";
    case NJ_GLN_DYNAMIC: return "dynamic";
    case NJ_GLN_PUBLIC: return "public";
    default: return "none";
  }
}

int nj_gl_namekey(nj_glkey *k, const char *host, int *why)
{
  char text[5 + 254];
  const char *dom;
  size_t n = nj_gl_hostname(text + 5, host, strlen(host));
  if (!n) { *why = NJ_GLN_INVALID; return 0; }
  dom = psl_registrable_domain(psl_builtin(), text + 5);
  if (!dom || !*dom) { *why = NJ_GLN_PUBLIC; return 0; }
  /* dom is a suffix of the name: "name:" goes just before it */
  n -= (size_t)(dom - (text + 5));
  memmove(text + 5, dom, n);
  memcpy(text, "name:", 5);
  if (!nj_gl_hashkey(k, text, 5 + n)) { *why = NJ_GLN_INVALID; return 0; }
  *why = 0;
  return 1;
}

/* ------------------------------------------------------ dynamic patterns */

/* The patterns, compiled once per process (a process is one session)
 * and kept, so that a second question (selective mode, then the key)
 * costs a regexec, and no regfree is paid on the way to exec. A line
 * that is one of the shipped patterns is matched by its C function
 * (dynpat.h) and costs no regcomp. */
#define PATS_MAX 256
static struct {
  int ready;
  const char *file;       /* what was compiled: the file named, or 0 */
  unsigned int n;
  nj_dp_fn *fn[PATS_MAX]; /* the line's matcher, or 0: re[i] */
  regex_t re[PATS_MAX];
} pats;

/* The name is matched in lower case, so a pattern without upper-case
 * letters (nor [:upper:] or [:lower:], which REG_ICASE changes) means the
 * same without REG_ICASE, which costs glibc's regcomp a third of its time. */
static int icase(const char *pat)
{
  const char *p;
  for (p = pat; *p; p++) if (*p >= 'A' && *p <= 'Z') return REG_ICASE;
  return strstr(pat, ":upper:") || strstr(pat, ":lower:") ? REG_ICASE : 0;
}

/* Compiles the patterns in text (len bytes, room for one more), read as
 * a control file; an invalid one is warned about with its line. */
static void compile(char *text, size_t len, const char *file)
{
  nj_ctl c;
  char *pat;
  size_t n;
  nj_ctl_init(&c, text, len, NJ_CTL_TEXT, 0);
  while (nj_ctl_next(&c, &pat, &n) > 0) {
    char ln[ULONG_FMT];
    if (pats.n == PATS_MAX) {
      ln[ulong_fmt(ln, PATS_MAX)] = 0;
      strerr_warnw("more than ", ln, " patterns in ", file, ", the rest skipped");
      return;
    }
    if ((pats.fn[pats.n] = nj_dp_find(pat))) { pats.n++; continue; }
    if (!regcomp(&pats.re[pats.n], pat, REG_EXTENDED | REG_NOSUB | icase(pat))) { pats.n++; continue; }
    ln[ulong_fmt(ln, c.line)] = 0;
    strerr_warnw("invalid pattern in ", file, " line ", ln, ", skipped");
  }
}

/* The patterns of file, or when there is none (or it cannot be read)
 * the built-in copy of control/dynamic-patterns (patterns.h). */
static void load(const char *file)
{
  static char text[PATTERNS_MAX + 1];
  ssize_t got = -1;
  unsigned int i;
  if (pats.ready && (pats.file == file || (pats.file && file && !strcmp(pats.file, file)))) return;
  for (i = 0; i < pats.n; i++) if (!pats.fn[i]) regfree(&pats.re[i]);
  pats.n = 0;
  pats.ready = 1;
  pats.file = file;
  if (file) {
    got = openreadnclose(file, text, PATTERNS_MAX);
    if (got < 0) strerr_warnw("pattern file ", file, " cannot be read: ", nj_gl_errname(errno), ", using the built-in list");
  }
  if (got < 0) {
    file = "the built-in list";
    got = (ssize_t)sizeof builtin_patterns - 1;
    memcpy(text, builtin_patterns, sizeof builtin_patterns);
  }
  compile(text, (size_t)got, file);
}

/* The built-in list, when each of its lines has its C matcher (the
 * shipped list does; test_dynpat checks it), matched from a copy on the
 * stack: a regular's pass-through then touches none of pats' pages,
 * each of which would be a page fault on the way (a few microseconds
 * each). 1 or 0, or -1 at a line that needs regcomp: load() then. */
static int builtin_match(const char *lower)
{
  char text[sizeof builtin_patterns];
  nj_ctl c;
  char *pat;
  size_t n;
  memcpy(text, builtin_patterns, sizeof text);
  nj_ctl_init(&c, text, sizeof text - 1, NJ_CTL_TEXT, 0);
  while (nj_ctl_next(&c, &pat, &n) > 0) {
    nj_dp_fn *fn = nj_dp_find(pat);
    if (!fn) return -1;
    if (fn(lower)) return 1;
  }
  return 0;
}

int nj_gl_dynamic(const char *host, const char *file)
{
  char lower[256];
  size_t n = strlen(host);
  unsigned int i;
  int r;

  if (n >= sizeof lower) return 1;            /* no real host name is that long */
  memcpy(lower, host, n + 1);
  case_lowerb(lower, n);
  if (!file && (r = builtin_match(lower)) >= 0) return r;
  load(file);
  for (i = 0; i < pats.n; i++)
    if (pats.fn[i] ? pats.fn[i](lower) : !regexec(&pats.re[i], lower, 0, 0, 0)) return 1;
  return 0;
}

/* ------------------------------------------------------- the client key */

void nj_gl_keyconf_env(nj_glkeyconf *c, const char *popt)
{
  const char *s = getenv("GREYLIST_KEY");
  c->v4prefix = (unsigned int)nj_env_ulong("GREYLIST_V4PREFIX", NJ_GL_DEF_V4PREFIX, 16, 32, 0);
  c->v6prefix = (unsigned int)nj_env_ulong("GREYLIST_V6PREFIX", NJ_GL_DEF_V6PREFIX, 32, 128, 0);
  c->byname = 1;
  if (s && !strcmp(s, "ip")) c->byname = 0;
  else if (s && strcmp(s, "name")) {
    char san[NJ_LOGVAL + 4];
    nj_sanitise(san, NJ_LOGVAL, s, strlen(s));
    strerr_warnw("invalid GREYLIST_KEY=", san[0] ? san : "(empty)", ", using default name");
  }
  s = getenv("GREYLIST_PATTERNS");
  c->patterns = s && *s ? s : popt;
}

int nj_gl_client(nj_glkey *k, nj_glkey *seed, int *hasseed, const nj_ip *ip,
                 const char *host, const nj_glkeyconf *c, int *why)
{
  char name[254];
  *why = 0;
  *hasseed = 0;
  if (c->byname && host && *host) {
    /* the cheap checks first: a name that is no key needs no patterns */
    if (!nj_gl_hostname(name, host, strlen(host))) *why = NJ_GLN_INVALID;
    else if (nj_gl_dynamic(host, c->patterns)) *why = NJ_GLN_DYNAMIC;
    else if (nj_gl_namekey(k, host, why)) goto seed;
  }
  nj_gl_key(k, ip, c->v4prefix, c->v6prefix);
 seed:
  /* round 1's key of this client: the whole IPv4 address, the IPv6 /64 */
  nj_gl_key(seed, ip, 32, 64);
  *hasseed = strcmp(seed->name, k->name) != 0;
  return k->kind;
}
