/* SPDX-License-Identifier: ISC */
/* denyfile.h: retrydeny's deny file, a tcprules source with the evidence
 * of each entry in a comment above its rule (doc/retrydeny.8):
 *
 *   # Written by retrydeny(8): hosts refused permanently again and again.
 *   # Do not edit; put your own rules in tcp.smtp, which comes first.
 *   # 192.0.2.7 expires=2026-11-29T16:30:46Z sessions=5 first=... last=...
 *   192.0.2.7:deny
 *
 * (or 192.0.2.7:allow,RBLSMTPD="-text"). Written by retrydeny, read back
 * by its next run; read by tools that explain an entry. */
#ifndef NJ_DENYFILE_H
#define NJ_DENYFILE_H

#include <stddef.h>
#include <stdint.h>
#include <skalibs/stralloc.h>
#include <skalibs/genalloc.h>
#include "najimi.h"

#define NJ_DENY_SESSIONMAX 0xffffffffUL

typedef struct nj_deny_s {
  nj_ip ip;
  uint32_t sessions;      /* refused sessions counted */
  int64_t first, last;    /* the first refusal, the last offence (Unix seconds) */
  int64_t expires;        /* when the entry lapses (read back: 0 if unreadable) */
} nj_deny;

/* Appends the two header lines to sa. 1, or 0 when out of memory. */
extern int nj_deny_header(stralloc *sa);

/* Appends d's evidence comment and its rule: "IP:deny", or with rbl
 * (printable ASCII without '"') "IP:allow,RBLSMTPD="-rbl"" (a '-' is
 * put in front unless rbl starts with one). 1, or 0 when out of memory. */
extern int nj_deny_fmt(stralloc *sa, const nj_deny *d, const char *rbl);

/* Reads the text of a deny file (len bytes at s) and appends each entry,
 * an evidence comment followed by the rule for the same address, to out
 * (a genalloc of nj_deny), in file order. Other comments are skipped;
 * an unreadable evidence comment, and a rule without its evidence, are
 * skipped with a warning naming file and line. 1, or 0 when out of
 * memory. */
extern int nj_deny_read(const char *s, size_t len, const char *file, genalloc *out);

#endif
