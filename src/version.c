/* SPDX-License-Identifier: ISC */
/* version.c: -V, the same for every program. NJ_VERSION comes from the
 * Makefile, which reads it from the file VERSION. */
#include <unistd.h>
#include <string.h>
#include <skalibs/buffer.h>
#include <skalibs/strerr.h>
#include "najimi.h"

#ifndef NJ_VERSION
#error "NJ_VERSION is set by the Makefile from the file VERSION"
#endif

const char nj_version[] = NJ_VERSION;

void nj_version_opt(int argc, char const *const *argv)
{
  nj_version_opt_as(PROG, argc, argv);
}

void nj_version_opt_as(const char *name, int argc, char const *const *argv)
{
  if (argc < 2 || strcmp(argv[1], "-V")) return;
  if (buffer_puts(buffer_1, name) < 0
      || buffer_puts(buffer_1, " najimi ") < 0
      || buffer_puts(buffer_1, nj_version) < 0
      || !buffer_putflush(buffer_1, "\n", 1))
    strerr_diefu1sys(111, "write to stdout");
  _exit(0);
}
