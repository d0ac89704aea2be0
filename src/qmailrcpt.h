/* qmailrcpt.h: recipient validity by qmail's own delivery rules
 * (realrcptto semantics), read from a qmail tree, plus an optional cdb of
 * valid addresses. Used by rcptcheck. */
#ifndef NJ_QMAILRCPT_H
#define NJ_QMAILRCPT_H

#include <stddef.h>
#include <sys/stat.h>
#include <pwd.h>
#include <skalibs/stralloc.h>

#define NJ_RCPT_NOTOURS 0   /* not a local domain: pass downstream untouched */
#define NJ_RCPT_OK      1   /* a known recipient */
#define NJ_RCPT_UNKNOWN 2   /* no such recipient: 550 */
#define NJ_RCPT_TEMP    3   /* cannot tell now: 451 */

#define NJ_ADDRMAX 1024     /* longest address handled (qmail-smtpd: 900) */

typedef struct nj_qmail_s {
  const char *home;         /* QMAILHOME, e.g. "/var/qmail" */
  const char *addrcdb;      /* RCPTCHECK_CDB or 0 */
  const char *alias;        /* the alias user, "alias" */
  int state;                /* 0: controls not read yet, 1: read, -1: failed */
  stralloc locals;          /* NUL-terminated lines */
  stralloc vdoms;
  stralloc percenthack;
  stralloc envnoathost;     /* NUL-terminated */
  int warned_cdb;           /* the missing RCPTCHECK_CDB warning was given */
  const char *why;          /* why the last answer was UNKNOWN or TEMP */
  const char *via;          /* which rule decided the last answer */
  /* the system interface, replaceable by unit tests */
  struct passwd *(*getpw)(const char *);
  int (*statf)(const char *, struct stat *);
} nj_qmail;

/* Sets up q (nothing is read until the first check). */
extern void nj_qmail_init(nj_qmail *q, const char *home, const char *addrcdb,
                          const char *alias);

/* Frees what q read. */
extern void nj_qmail_free(nj_qmail *q);

/* Checks one recipient address as qmail-smtpd stored it (addrparse
 * result, RELAYCLIENT already appended). Returns NJ_RCPT_*; q->why and
 * q->via say why. */
extern int nj_rcpt_check(nj_qmail *q, const char *addr);

/* qmail-smtpd's addrparse: extracts the address from the argument of
 * MAIL/RCPT ("TO:<a@b>"), strips a source route and quoting. Returns
 * the length written to out (NUL-terminated), or -1 if it does not fit
 * in outmax bytes. */
extern long nj_addrparse(const char *arg, size_t n, char *out, size_t outmax);

/* 1 when errno value e is temporary in qmail's sense (EIO, EAGAIN...). */
extern int nj_errno_temp(int e);

#endif
