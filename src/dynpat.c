/* SPDX-License-Identifier: ISC */
/* dynpat.c: the shipped dynamic-address patterns as C matchers
 * (dynpat.h). Each function is the meaning of one POSIX extended
 * expression, unanchored, in the C locale, on any bytes: not a regular
 * expression engine, one decision per known line. A "segment" is a
 * maximal run of bytes without '-' or '.', which is what
 * "(^|[-.])X([-.]|$)" with an X free of '-' and '.' must match whole. */
#include <string.h>
#include "dynpat.h"

static int digit(char c) { return c >= '0' && c <= '9'; }

/* After the run of digits at p, or 0 when there is none. */
static const char *digits(const char *p)
{
  const char *q = p;
  while (digit(*q)) q++;
  return q == p ? 0 : q;
}

/* [0-9]+[-._][0-9]+[-._][0-9]+[-._][0-9]+ : a match that starts inside
 * a run of digits also starts at the run's first digit, so only those
 * starts are tried; each step is forced (digits, then a non-digit). */
static int four_numbers(const char *name)
{
  const char *p;
  for (p = name; *p; p++) {
    const char *q;
    int k;
    if (!digit(*p) || (p > name && digit(p[-1]))) continue;
    q = digits(p);
    for (k = 0; k < 3 && q; k++)
      q = *q == '-' || *q == '.' || *q == '_' ? digits(q + 1) : 0;
    if (q) return 1;
  }
  return 0;
}

static int sep(char c) { return c == '-' || c == '.'; }

/* (^|[-.])[0-9]+-[0-9]+-[0-9]+([-.]|$) */
static int three_dashed(const char *name)
{
  const char *p;
  for (p = name; *p; p++) {
    const char *q;
    int k;
    if (p > name && !sep(p[-1])) continue;
    q = digits(p);
    for (k = 0; k < 2 && q; k++) q = *q == '-' ? digits(q + 1) : 0;
    if (q && (!*q || sep(*q))) return 1;
  }
  return 0;
}

/* Calls f on each segment [a, b); 1 when one of them says so. */
static int any_segment(const char *name, int (*f)(const char *, const char *))
{
  const char *a = name, *b;
  for (;;) {
    for (b = a; *b && !sep(*b); b++) {}
    if (f(a, b)) return 1;
    if (!*b) return 0;
    a = b + 1;
  }
}

/* [0-9a-f]{8}, a whole segment */
static int hex8(const char *a, const char *b)
{
  if (b - a != 8) return 0;
  for (; a < b; a++)
    if (!digit(*a) && !(*a >= 'a' && *a <= 'f')) return 0;
  return 1;
}
static int hex_address(const char *name) { return any_segment(name, hex8); }

/* The segment without its trailing digits: the words have none, so
 * WORD[0-9]* is a whole segment exactly when this is WORD. */
static const char *nodigits(const char *a, const char *b)
{
  while (b > a && digit(b[-1])) b--;
  return b;
}
static int is(const char *a, const char *b, const char *word)
{
  size_t n = strlen(word);
  return (size_t)(b - a) == n && !memcmp(a, word, n);
}

/* (a|s|v|x)?dsl[0-9]*, a whole segment */
static int dsl(const char *a, const char *b)
{
  b = nodigits(a, b);
  if (b - a == 4 && (*a == 'a' || *a == 's' || *a == 'v' || *a == 'x')) a++;
  return is(a, b, "dsl");
}
static int dsl_line(const char *name) { return any_segment(name, dsl); }

static const char *const words[] = {
  "dyn", "dynamic", "dynip", "dhcp", "dial", "dialin", "dialup", "ppp",
  "pppoe", "pool", "cable", "cpe", "broadband", "client", "cust", "customer",
  "user", "home", "residential", "res", "mobile", "wireless", "wlan"
};

/* (WORD|WORD|...)[0-9]*, a whole segment */
static int word(const char *a, const char *b)
{
  size_t i;
  b = nodigits(a, b);
  for (i = 0; i < sizeof words / sizeof *words; i++)
    if (is(a, b, words[i])) return 1;
  return 0;
}
static int access_word(const char *name) { return any_segment(name, word); }

static const struct {
  const char *pat;
  nj_dp_fn *match;
} known[] = {
  { "[0-9]+[-._][0-9]+[-._][0-9]+[-._][0-9]+", four_numbers },
  { "(^|[-.])[0-9]+-[0-9]+-[0-9]+([-.]|$)", three_dashed },
  { "(^|[-.])[0-9a-f]{8}([-.]|$)", hex_address },
  { "(^|[-.])(a|s|v|x)?dsl[0-9]*([-.]|$)", dsl_line },
  { "(^|[-.])(dyn|dynamic|dynip|dhcp|dial|dialin|dialup|ppp|pppoe|pool|cable"
    "|cpe|broadband|client|cust|customer|user|home|residential|res|mobile"
    "|wireless|wlan)[0-9]*([-.]|$)", access_word },
};

nj_dp_fn *nj_dp_find(const char *pat)
{
  size_t i;
  for (i = 0; i < sizeof known / sizeof *known; i++)
    if (!strcmp(pat, known[i].pat)) return known[i].match;
  return 0;
}
