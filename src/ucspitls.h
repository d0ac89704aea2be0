/* SPDX-License-Identifier: ISC */
/* ucspitls.h: the application's side of the UCSPI-TLS protocol
 * (ucspitls.c), as the chain's SMTP sessions use it (najimi(7)):
 *
 *   SSLCTLFD    the control fd: one byte 'Y' asks for TLS, after the
 *               application has sent its 220 to STARTTLS
 *   SSLREADFD   from then on, cleartext from the client is read here,
 *   SSLWRITEFD  and cleartext for the client written here; fds 0 and 1
 *               are no longer touched
 *   UCSPITLS    unset or empty: STARTTLS offered when the fds are there;
 *               "-": never offered; "!": required before MAIL (530)
 *
 * starttlsd(8) sets the three fds; a handshake that fails ends in EOF on
 * the read fd. */
#ifndef NJ_UCSPITLS_H
#define NJ_UCSPITLS_H

typedef struct nj_tls_s {
  int ctl, rfd, wfd;        /* the fds, -1 when absent */
  int offered;              /* STARTTLS may be offered now */
  int required;             /* UCSPITLS=!: no MAIL before TLS */
  int active;               /* 'Y' was written: the session is inside TLS */
} nj_tls;

/* Reads the variables. A missing variable means no TLS, quietly; a bad
 * one (not an open fd, an unknown UCSPITLS) is a warning naming it, and
 * no TLS. */
extern void nj_tls_init(nj_tls *t);

/* Asks for TLS: writes 'Y' and closes the control fd. Call it once the
 * 220 to STARTTLS has been written whole. 1 on success (the session is
 * now t->rfd and t->wfd, made non-blocking), 0 when the control fd is
 * gone (the client is then lost: end the session). */
extern int nj_tls_start(nj_tls *t);

/* Makes the UCSPI-TLS fds close-on-exec and removes SSLCTLFD, SSLREADFD,
 * SSLWRITEFD and UCSPITLS from the environment, so that a program started
 * from here (rcptcheck's qmail-smtpd) sees neither. */
extern void nj_tls_hide(const nj_tls *t);

/* The replies of a STARTTLS session (RFC 3207, RFC 3463). */
#define NJ_TLS_GO       "220 2.0.0 ready to start TLS"
#define NJ_TLS_AGAIN    "503 5.5.1 TLS already started"
#define NJ_TLS_ARG      "501 5.5.4 STARTTLS takes no argument"
#define NJ_TLS_NONE     "454 4.7.0 TLS not available"
#define NJ_TLS_FIRST    "530 5.7.0 must issue a STARTTLS command first"
#define NJ_TLS_EHLO     "STARTTLS"

#endif
