/* SPDX-License-Identifier: ISC */
/* gladmin.h: greylist records for the operator tools (ipgreylist-admin,
 * najimi-explain): what a record means now, and a store as a tool sees
 * it: the nj_glstore of the chain (read, write, where) plus a listing
 * and a removal. The file store and the Redis store (selected by
 * GREYLIST_REDIS, as nj_gl_store chooses) implement it here (gladmin.c);
 * both give the same records, so the tools print the same lines. */
#ifndef NJ_GLADMIN_H
#define NJ_GLADMIN_H

#include <stdint.h>
#include "greylist.h"

/* ---------------------------------------------------------- the meaning */

/* What the chain would do with a record now, by nj_gl_verdict. */
typedef struct nj_glnow_s {
  nj_glverdict v;
  int64_t age;            /* now - the record's reference time */
  int64_t left;           /* seconds until it changes: TOO_SOON: until it
                             passes; PROMOTE: until the window closes;
                             REGULAR: until it lapses; else 0 */
  const char *state;      /* "none", "pending", "regular", "corrupt",
                             "symlink", "not-a-file" */
  const char *next;       /* "451 new", "451 too-soon", "pass promote",
                             "pass regular", "451 reset" */
} nj_glnow;
extern void nj_gl_now(const nj_glrec *r, const nj_glpolicy *p, int64_t now, nj_glnow *o);

/* ------------------------------------------------------------ the store */

/* One record of a listing: its key (a hashed key's text from the record)
 * and the record. Return 0 to go on, else the listing stops. */
typedef int nj_gl_listfunc(const nj_glkey *k, const nj_glrec *r, void *aux);

typedef struct nj_gladmin_s nj_gladmin;
struct nj_gladmin_s {
  nj_glstore *s;          /* read, write, where: as the chain uses it */
  /* Every record, in no particular order: 0, or an errno value (an
   * unreadable entry is warned about and skipped). */
  int (*list)(nj_gladmin *a, nj_gl_listfunc *f, void *aux);
  /* Reads k's record as s->read does, with no side effect at all (the
   * file store's read makes missing directories): 0 or an errno value. */
  int (*peek)(nj_gladmin *a, const nj_glkey *k, nj_glrec *r);
  /* Removes k's record: 0 with *had 1, or 0 with *had 0 when there was
   * none, or an errno value (never "none": Redis' socket may be missing). */
  int (*remove)(nj_gladmin *a, const nj_glkey *k, int *had);
  const char *name;       /* for messages: the directory, or the server */
  int isredis;            /* 1: Redis (no directory to own) */
  nj_glstores st;         /* the files, or Redis */
};

/* The store of a service or a tool's environment, chosen as the chain
 * chooses it (nj_gl_store): Redis when GREYLIST_REDIS is set (its other
 * variables read there; p gives the TTL of a record written; an invalid
 * address exits 100), else the files under dir (none: exits 100 saying
 * so). Nothing is opened yet. */
extern void nj_gladmin_open(nj_gladmin *a, const char *dir, const nj_glpolicy *p);
extern void nj_gladmin_close(nj_gladmin *a);

#endif
