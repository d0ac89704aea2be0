/* SPDX-License-Identifier: ISC */
/* dynpat.h: the shipped dynamic-address patterns (control/dynamic-patterns)
 * as plain C matchers. glibc's regcomp costs about half a million
 * instructions for that list, once per session, which is more than the
 * rest of ipgreylist's pass-through; a matcher for a known pattern costs
 * a scan of the name. A pattern line that is byte for byte one of these
 * is matched by its function, any other line by regcomp/regexec, so a
 * site's own lines keep their POSIX meaning. tests/unit/test_dynpat.c
 * checks each function against regexec of its pattern, and that every
 * line of control/dynamic-patterns has one. */
#ifndef NJ_DYNPAT_H
#define NJ_DYNPAT_H

/* A matcher: 1 when the pattern matches somewhere in name (a C string,
 * already in lower case; the patterns have no upper-case letters). */
typedef int nj_dp_fn(const char *name);

/* The matcher of pattern pat (the line's whole text), or 0 when pat is
 * none of the known ones. */
extern nj_dp_fn *nj_dp_find(const char *pat);

#endif
