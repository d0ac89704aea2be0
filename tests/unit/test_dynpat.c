/* SPDX-License-Identifier: ISC */
/* test_dynpat.c: the C matchers of the shipped dynamic-address patterns
 * (src/dynpat.c) against glibc's regexec of the same expressions: every
 * line of control/dynamic-patterns has its matcher, and each matcher
 * agrees with regexec on every string of up to 6 bytes over an alphabet
 * that reaches each branch, and on 200000 strings built from the
 * patterns' own pieces (seeded, so a failure repeats). */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "najimi.h"
#include "dynpat.h"
#include "patterns.h"

const char *PROG = "test_dynpat";

#define LINES 64
static char lines[LINES][512];
static int nlines;

/* The pattern lines of the built-in copy, read as ipgreylist reads it
 * (glname.c: nj_ctl, NJ_CTL_TEXT): what the shipped file holds. */
static void read_builtin(void)
{
  static char text[sizeof builtin_patterns];
  nj_ctl c;
  char *pat;
  size_t n;
  memcpy(text, builtin_patterns, sizeof text);
  nj_ctl_init(&c, text, sizeof text - 1, NJ_CTL_TEXT, 0);
  while (nj_ctl_next(&c, &pat, &n) > 0 && nlines < LINES)
    if (n < sizeof lines[0]) memcpy(lines[nlines++], pat, n + 1);
}

static unsigned long seed = 12345;
static unsigned long rnd(unsigned long n)
{
  seed = seed * 6364136223846793005UL + 1442695040888963407UL;
  return (seed >> 33) % n;
}

static const char *const pieces[] = {
  "0", "1", "9", "12", "192", "2024", "c0000209", "deadbeef", "0000000", "abcdef012",
  "-", ".", "_", "--", "-.", "dsl", "adsl", "xdsl", "bdsl", "dsl0", "ds", "sl",
  "dyn", "dynamic", "dynip", "dynamo", "dhcp", "dial", "dialin", "dialup", "dia",
  "ppp", "pppoe", "pppo", "pool", "cable", "cpe", "broadband", "client", "cust",
  "customer", "custom", "user", "users", "home", "residential", "res", "resi",
  "mobile", "wireless", "wlan", "mx", "a", "f", "g", "z", "\n", "\x80", " "
};

/* 1 when fn and re disagree on s (printed once per pattern). */
static int differs(nj_dp_fn *fn, const regex_t *re, const char *s, const char *pat)
{
  int want = !regexec(re, s, 0, 0, 0), got = fn(s);
  if (want == got) return 0;
  printf("    # %s on \"%s\": regexec %d, matcher %d\n", pat, s, want, got);
  return 1;
}

/* Every string of length 0..6 over alph, then the random ones. */
static int agrees(nj_dp_fn *fn, const char *pat)
{
  static const char alph[] = "09af-._xdsl";
  regex_t re;
  char s[64];
  unsigned long i, total = 1, k = sizeof alph - 1;
  int len;
  if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB)) return 0;
  for (len = 0; len <= 6; len++, total *= k)
    for (i = 0; i < total; i++) {
      unsigned long v = i;
      int j;
      for (j = 0; j < len; j++, v /= k) s[j] = alph[v % k];
      s[len] = 0;
      if (differs(fn, &re, s, pat)) { regfree(&re); return 0; }
    }
  for (i = 0; i < 200000; i++) {
    size_t n = 0, m = 1 + rnd(10);
    while (m--) {
      const char *p = pieces[rnd(sizeof pieces / sizeof *pieces)];
      if (n + strlen(p) >= sizeof s) break;
      memcpy(s + n, p, strlen(p));
      n += strlen(p);
    }
    s[n] = 0;
    if (differs(fn, &re, s, pat)) { regfree(&re); return 0; }
  }
  regfree(&re);
  return 1;
}

int main(void)
{
  int i, all = 1;
  read_builtin();
  CHECK("the built-in list has its five patterns", nlines == 5);
  for (i = 0; i < nlines; i++) if (!nj_dp_find(lines[i])) all = 0;
  CHECK("every line of control/dynamic-patterns has its matcher", nlines && all);
  CHECK("another line has none", !nj_dp_find("(^|[-.])dyn([-.]|$)") && !nj_dp_find(""));
  for (i = 0; i < nlines; i++) {
    char name[600];
    nj_dp_fn *fn = nj_dp_find(lines[i]);
    snprintf(name, sizeof name, "matcher agrees with regexec: %.500s", lines[i]);
    CHECK(name, fn && agrees(fn, lines[i]));
  }
  {
    nj_dp_fn *four = nj_dp_find(lines[0]), *hex = nj_dp_find(lines[2]), *word = nj_dp_find(lines[4]);
    CHECK("examples: four numbers", four && four("9.2.0.192.dsl.example") && !four("1.2.3x4"));
    CHECK("examples: hex address", hex && hex("c0000209.example") && !hex("xc0000209.example"));
    CHECK("examples: access words", word && word("cable12.example") && word("x-dialup.example") && !word("cables.example"));
  }
  return CHECK_DONE(PROG);
}
