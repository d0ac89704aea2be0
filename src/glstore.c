/* SPDX-License-Identifier: ISC */
/* glstore.c: the one place that chooses where greylist records live
 * (greylist.h): Redis when GREYLIST_REDIS is set, so that several MX
 * share them, else the per-key files under the program's directory. */
#include <stdlib.h>
#include "najimi.h"
#include "greylist.h"

nj_glstore *nj_gl_store(nj_glstores *st, const char *dir, const nj_glpolicy *p)
{
  const char *spec = getenv("GREYLIST_REDIS");
  if (spec && *spec) {
    nj_glr_init(&st->redis, spec, p);
    return &st->redis.s;
  }
  if (!dir) return 0;
  nj_glf_init(&st->files, dir);
  return &st->files.s;
}

int nj_gl_store_isredis(const nj_glstores *st, const nj_glstore *s)
{
  return s == &st->redis.s;
}
