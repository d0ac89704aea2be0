/* SPDX-License-Identifier: ISC */
/* check.h: the one check macro of the unit tests. Each case prints
 * "ok - NAME" or "not ok - NAME (file:line)"; CHECK_DONE() prints the
 * file's summary and gives main's exit status. */
#ifndef NJ_CHECK_H
#define NJ_CHECK_H

#include <stdio.h>

static int failed;

#define CHECK(name, cond) do { \
  if (cond) printf("ok - %s\n", name); \
  else { printf("not ok - %s (%s:%d)\n", name, __FILE__, __LINE__); failed++; } \
} while (0)

/* CHECK_EQ_STR: like CHECK, and on failure shows both strings. */
#define CHECK_EQ_STR(name, got, want) do { \
  const char *cg_ = (got), *cw_ = (want); \
  if (cg_ && cw_ && !strcmp(cg_, cw_)) printf("ok - %s\n", name); \
  else { printf("not ok - %s (%s:%d)\n    # got:  %s\n    # want: %s\n", name, \
                __FILE__, __LINE__, cg_ ? cg_ : "(null)", cw_ ? cw_ : "(null)"); failed++; } \
} while (0)

#define CHECK_DONE(prog) \
  (printf("# %s: %d failed\n", (prog), failed), failed ? 1 : 0)

#endif
