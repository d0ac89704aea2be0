/* SPDX-License-Identifier: ISC */
/* qmailrcpt.h: recipient validity by qmail's own delivery rules
 * (realrcptto semantics), read from a qmail tree, plus an optional cdb of
 * valid addresses. Used by rcptcheck; najimi-check reads the same files
 * through it. */
#ifndef NJ_QMAILRCPT_H
#define NJ_QMAILRCPT_H

#include <stddef.h>
#include <sys/stat.h>
#include <pwd.h>
#include <cdb.h>
#include <skalibs/stralloc.h>

#define NJ_RCPT_NOTOURS    0  /* not a local domain: pass downstream untouched */
#define NJ_RCPT_OK         1  /* a known recipient */
#define NJ_RCPT_UNKNOWN    2  /* no such recipient: 550 */
#define NJ_RCPT_TEMP       3  /* cannot tell now: 451 */
#define NJ_RCPT_UNVERIFIED 4  /* cannot tell from here (a home this user cannot
                                 search): pass downstream, qmail decides */

#define NJ_ADDRMAX 1024     /* longest address handled (qmail-smtpd: 900) */
#define NJ_IPMEMAX 64       /* this host's IPv4 addresses kept */

/* A cdb read by a session: opened at its first use, kept open (mapped)
 * until nj_qmail_free, so a renamed file is seen by the next session. */
typedef struct nj_cdbfile_s {
  int state;                /* 0: not opened yet, 1: open, 2: no such file,
                               -1: cannot be read or is no cdb (err) */
  int err;                  /* errno when state is -1 */
  struct cdb c;
} nj_cdbfile;

typedef struct nj_qmail_s {
  const char *home;         /* QMAILHOME, e.g. "/var/qmail" */
  const char *addrcdb;      /* RCPTCHECK_CDB or 0 */
  const char *homescdb;     /* RCPTCHECK_HOMES or 0 (rcptcheck-homes' list) */
  const char *alias;        /* the alias user, "alias" */
  int state;                /* 0: controls not read yet, 1: read, -1: failed */
  stralloc locals;          /* NUL-terminated lines */
  stralloc vdoms;
  stralloc percenthack;
  stralloc envnoathost;     /* NUL-terminated */
  stralloc localiphost;     /* NUL-terminated; empty: no control/localiphost */
  nj_cdbfile users, addrs, homes;
  int warned;               /* bit 1: RCPTCHECK_CDB, 2: RCPTCHECK_HOMES warned */
  int nipme;                /* -1: not read yet */
  unsigned char ipme[NJ_IPMEMAX][4];
  const char *why;          /* why the last answer was not OK */
  const char *via;          /* which rule decided the last answer */
  /* the system interface, replaceable by unit tests */
  struct passwd *(*getpw)(const char *);
  int (*statf)(const char *, struct stat *);
  int (*lstatf)(const char *, struct stat *);
  int (*ipmef)(struct nj_qmail_s *);   /* fills ipme/nipme; -1 on failure */
} nj_qmail;

/* Sets up q (nothing is read until the first check). */
extern void nj_qmail_init(nj_qmail *q, const char *home, const char *addrcdb,
                          const char *alias);

/* Closes and frees what q opened and read. */
extern void nj_qmail_free(nj_qmail *q);

/* Reads the control files now (nj_rcpt_check does it at its first call).
 * 1: read; -1: one cannot be read, q->why names it. */
extern int nj_qmail_load(nj_qmail *q);

/* The recipient as qmail-smtpd stores it, from the argument of RCPT
 * ("TO:<a@b> ..."): addrparse (source route, quotes, backslashes), then
 * user@[a.b.c.d] for one of this host's addresses rewritten to
 * control/localiphost, then relayclient (RELAYCLIENT, or 0) appended.
 * Returns the length written to out (NUL-terminated), or -1 when the
 * address is over qmail-smtpd's 900 bytes or does not fit in outmax. */
extern long nj_rcpt_addr(nj_qmail *q, const char *arg, size_t n,
                         const char *relayclient, char *out, size_t outmax);

/* Checks one recipient address as nj_rcpt_addr gives it. Returns
 * NJ_RCPT_*; q->why and q->via say why. */
extern int nj_rcpt_check(nj_qmail *q, const char *addr);

/* qmail-smtpd's addrparse alone: extracts the address from the argument
 * of MAIL/RCPT ("TO:<a@b>"), strips a source route and quoting. Returns
 * the length written to out (NUL-terminated), or -1 if it does not fit
 * in outmax bytes. */
extern long nj_addrparse(const char *arg, size_t n, char *out, size_t outmax);

/* qmail's ip_scanbracket: "[a.b.c.d]" (each number taken mod 256, as
 * qmail does) filling ip. Returns the length read (the closing bracket
 * included), 0 when it is no such literal. */
extern size_t nj_ip4_scanbracket(const char *s, size_t n, unsigned char ip[4]);

/* 1 when errno value e is temporary in qmail's sense (its error_temp
 * set: EIO, EAGAIN, ENFILE, ESTALE...). */
extern int nj_errno_temp(int e);

/* Opens the cdb at path into f if it is not open yet (nj_cdbfile). */
extern void nj_cdbfile_open(nj_cdbfile *f, const char *path);
extern void nj_cdbfile_close(nj_cdbfile *f);

/* rcptcheck-homes' list (RCPTCHECK_HOMES), written as root for homes the
 * service's user cannot search, read by qmailrcpt.c:
 *   key HOME "/"         value: the home's mtime and ctime when listed,
 *                        NJ_HOMES_STAMP bytes (nj_homes_stamp)
 *   key HOME "/" NAME    a .qmail file in it: value "f" a regular file,
 *                        "l" a symbolic link (cannot be judged from a list)
 * A home whose mtime or ctime is not the listed one has changed since:
 * the list says nothing about it. */
#define NJ_HOMES_STAMP 32
extern void nj_homes_stamp(char out[NJ_HOMES_STAMP], const struct stat *st);

#endif
