/* najimi.h: the one internal header of najimi's small shared library.
 *
 * ip.c     client address: parse, canonical form, CIDR, $PROTO REMOTEIP
 * num.c    bounded number parsing, environment numbers with warnings
 * log.c    one sanitised key=value log line per decision
 * io.c     reads and writes with deadlines
 * smtp.c   the fake SMTP session that refuses a client
 * stamp.c  times of log lines: @tai64n labels, UTC dates
 *
 * Every program sets PROG (skalibs' strerr uses it) before calling in here.
 */
#ifndef NAJIMI_H
#define NAJIMI_H

#include <stddef.h>
#include <stdint.h>
#include <skalibs/tai.h>

/* ---------------------------------------------------------------- ip.c */

typedef struct nj_ip_s {
  unsigned char v6;       /* 0: IPv4 in a[0..3]; 1: IPv6 in a[0..15] */
  unsigned char a[16];
} nj_ip;

#define NJ_IPFMT 46       /* room for any canonical address plus NUL */

/* Parses a whole string as an IPv4 or IPv6 address (inet_pton rules, so
 * "256.1.1.1", "1.2.3", " 1.2.3.4" and trailing bytes are refused).
 * "::ffff:a.b.c.d" becomes the IPv4 address a.b.c.d. 1 on success. */
extern int nj_ip_parse(const char *s, nj_ip *ip);

/* Writes the canonical text form (IPv4 dotted quad, IPv6 compressed
 * as inet_ntop gives it); returns its length. buf has NJ_IPFMT bytes. */
extern size_t nj_ip_fmt(char *buf, const nj_ip *ip);

/* The client address of this session: $PROTO followed by REMOTEIP
 * (TCPREMOTEIP, TCP6REMOTEIP), as ucspi_get reads it. Returns 1 with
 * *ip filled, 0 when missing or unparseable. *raw gets the raw value
 * (or 0 when unset), for logging only, never for building a path. */
extern int nj_ip_client(nj_ip *ip, const char **raw);

/* Parses "ADDR" or "ADDR/LEN" (whole string; LEN 0..32 or 0..128;
 * an IPv4-mapped IPv6 network with LEN >= 96 becomes IPv4).
 * Without /LEN the full length is used. 1 on success. */
extern int nj_cidr_parse(const char *s, nj_ip *net, unsigned int *len);

/* 1 when ip lies inside net/len (same family only). */
extern int nj_ip_in(const nj_ip *ip, const nj_ip *net, unsigned int len);

/* 1 for 127.0.0.0/8 and ::1. */
extern int nj_ip_loopback(const nj_ip *ip);

/* --------------------------------------------------------------- num.c */

/* Parses the whole string s as a decimal number in [min, max]. Refuses
 * an empty string, signs, spaces, trailing bytes and overflow.
 * 1 on success. */
extern int nj_ulong_parse(const char *s, unsigned long min, unsigned long max,
                          unsigned long *out);

/* Reads environment variable var as a number in [min, max]. Unset:
 * returns def silently. Invalid (not a number, empty, overflow):
 * logs "PROG: warning: invalid VAR=value, using default DEF" and
 * returns def. Above max when clamp is set: warns and returns max. */
extern unsigned long nj_env_ulong(const char *var, unsigned long def,
                                  unsigned long min, unsigned long max,
                                  int clamp);

/* Parses option argument s for option letter opt, in [min, max];
 * on failure dies with a usage error (exit 100) naming the option. */
extern unsigned long nj_opt_ulong(char opt, const char *s,
                                  unsigned long min, unsigned long max);

/* --------------------------------------------------------------- log.c */

#define NJ_LOGMAX 400     /* a log line never exceeds this, newline included */
#define NJ_LOGVAL 120     /* a peer-supplied value is cut to this */

typedef struct nj_log_s {
  char buf[NJ_LOGMAX];
  size_t len;
} nj_log;

/* Starts "PROG: ACTION ip=IP pid=PID". ip may be 0 (written "ip=unknown"). */
extern void nj_log_start(nj_log *l, const char *action, const char *ip);
/* Adds " key=value"; value is sanitised (bytes outside 0x21..0x7e and '='
 * become '?') and cut to NJ_LOGVAL bytes (a cut value ends in "..."). */
extern void nj_log_str(nj_log *l, const char *key, const char *val);
extern void nj_log_strn(nj_log *l, const char *key, const char *val, size_t n);
extern void nj_log_ulong(nj_log *l, const char *key, unsigned long n);
/* Writes the line with its newline to stderr in one write(). */
extern void nj_log_end(nj_log *l);

/* Copies src (n bytes) to dst (room for max bytes plus NUL), sanitised as
 * nj_log_str does. Returns the length written. */
extern size_t nj_sanitise(char *dst, size_t max, const char *src, size_t n);

/* ---------------------------------------------------------------- io.c */

/* Waits until fd is readable, or the deadline. 1: readable (or hangup),
 * 0: deadline passed, -1: error. */
extern int nj_wait_read(int fd, const tain *deadline);

/* Reads at most n bytes from fd before the deadline. Returns the count,
 * 0 at end of file, -1 on error or timeout (errno ETIMEDOUT). EINTR is
 * retried. */
extern ssize_t nj_read(int fd, char *buf, size_t n, const tain *deadline);

/* Writes all n bytes to fd before the deadline (fd may be non-blocking).
 * 1 on success, 0 on error or timeout. */
extern int nj_write(int fd, const char *buf, size_t n, const tain *deadline);

/* Execs argv (searching PATH) with the current environment; when that
 * fails, dies with "PROG: fatal: unable to exec ARGV0" and exit 111. */
extern void nj_exec(char const *const *argv) __attribute__((noreturn));

/* ---------------------------------------------------------------- smtp.c */

/* How a refusal session answers. All reply texts are single lines
 * without CRLF, starting with their 3-digit code. */
typedef struct nj_refusal_s {
  const char *greeting;   /* e.g. "220 mx.example ESMTP" or "554 5.5.1 ..." */
  const char *reply;      /* e.g. "451 4.7.1 come back later" */
  int at_data;            /* 1: RCPT gets 250, DATA gets reply */
  int all_503;            /* 1: every command but QUIT gets 503 (greetdelay) */
  unsigned int timeout;   /* seconds until the session is closed */
} nj_refusal;

/* Speaks the refusal session on fds 0/1 and exits 0. Never returns. */
extern void nj_refuse(const nj_refusal *r) __attribute__((noreturn));

/* The host name for a banner: $TCPLOCALHOST when it is a plausible
 * host name, else "najimi.local". */
extern const char *nj_local_host(void);

/* ------------------------------------------------------------ greylist.c */
/* ipgreylist's state keys and files, and its whitelist cdb (tinycdb). */

#include <time.h>

#define NJ_GL_NAMEMAX 64  /* a state file name plus NUL */
#define NJ_GL_FILEMAX 32  /* a valid state file is never longer */
#define NJ_GL_COUNTMAX 999999999UL
#define NJ_GL_V4MIN 8     /* shortest GREYLIST_V4PREFIX */
#define NJ_GL_PENDING 1
#define NJ_GL_REGULAR 2

typedef struct nj_glkey_s {
  char name[NJ_GL_NAMEMAX]; /* "192.0.2.9", "192.0.2.0-24", "2001:db8:1:2::-64" */
  char dir1[3], dir2[3];    /* fan-out: DIR/dir1/dir2/name, two hex digits each */
  unsigned int len;         /* prefix length of the key */
  nj_ip ip;                 /* the masked address */
} nj_glkey;

/* The state key of a client: IPv4 masked to v4prefix (8..32, else 32),
 * IPv6 masked to /64; the file name and the two fan-out directories
 * (from a hash of the binary key) are built from the binary address only. */
extern void nj_gl_key(nj_glkey *k, const nj_ip *ip, unsigned int v4prefix);
/* 1 when name is exactly a file name nj_gl_key makes (any v4 prefix);
 * k is filled. Used by ipgreylist-expire to recognise its files. */
extern int nj_gl_name_parse(const char *name, nj_glkey *k);
/* A state file's text: "pending COUNT\n" or "regular COUNT\n".
 * Returns NJ_GL_PENDING, NJ_GL_REGULAR, or 0 when invalid. */
extern int nj_gl_parse(const char *buf, size_t n, unsigned long *count);
/* Writes the contents (at most NJ_GL_FILEMAX bytes); returns the length. */
extern size_t nj_gl_fmt(char *buf, int state, unsigned long count);
/* A state file is empty, its text in the extended attribute NJ_GL_XATTR,
 * so that it owns no data block (cheap to create and to remove); where
 * the file system has no user attributes the text is the file's data.
 * nj_gl_read reads either (s from fstat on fd): NJ_GL_PENDING,
 * NJ_GL_REGULAR, 0 when invalid or missing, -1 on a read error (errno).
 * nj_gl_write stores the text on a new file: 0, or an errno value. */
#define NJ_GL_XATTR "user.najimi"
struct stat;
extern int nj_gl_read(int fd, const struct stat *s, unsigned long *count);
extern int nj_gl_write(int fd, int state, unsigned long count);

/* Whitelist cdb keys: "ADDR/LEN" (canonical, masked: "192.0.2.0/24",
 * "2001:db8::/32"), "=host.name" (an exact name, lower case) and
 * ".suffix.name" (any name ending in it). The value is empty (no expiry)
 * or "YYYY-MM-DD", the last day (UTC) on which the entry matches. */
extern size_t nj_wl_netkey(char *buf, const nj_ip *ip, unsigned int len);
/* A name as a key: "=name" (suffix 0) or, for ".suffix" input, ".suffix";
 * lower case, trailing dot dropped. 0 when the name is not a host name. */
extern size_t nj_wl_hostkey(char *buf, size_t max, const char *host, int suffix);
/* 1 when s (n bytes) is a valid YYYY-MM-DD date. */
extern int nj_wl_date_ok(const char *s, size_t n);
/* Today's UTC date as YYYY-MM-DD plus NUL (11 bytes). */
extern void nj_wl_today(char *buf, time_t now);
/* 1: an entry with this value matches today; 0: expired; -1: bad value. */
extern int nj_wl_value_live(const char *v, size_t n, const char *today);
/* Looks ip (may be 0) and host (TCPREMOTEHOST, may be 0) up in the cdb
 * file: every prefix of ip from the longest, then host exactly, then each
 * of its suffixes. 1: a live entry matched, written to match; 0: none
 * (*expired set when only an expired entry matched); -1: cannot open or
 * corrupt (errno; EPROTO for a corrupt cdb). */
extern int nj_wl_lookup(const char *file, const nj_ip *ip, const char *host,
                        time_t now, char *match, size_t matchmax, int *expired);

/* ------------------------------------------------------------- stamp.c */

#define NJ_TAI64N 25      /* "@" and 24 hex digits, as multilog t writes */
#define NJ_UTCFMT 21      /* "2026-11-22T16:30:46Z" plus NUL */

/* Reads the TAI64N label at s (n bytes available, at least NJ_TAI64N
 * needed): "@" then 24 hex digits. *secs gets Unix seconds (daemontools'
 * convention: label = 2^62 + 10 + seconds; nanoseconds dropped).
 * 1 on success; 0 for a bad digit, or a date before 1970 or after 9999. */
extern int nj_tai64n_scan(const char *s, size_t n, int64_t *secs);

/* Writes the label of secs (nanoseconds 0) and a NUL into buf
 * (NJ_TAI64N + 1 bytes); returns NJ_TAI64N. For tests and tools. */
extern size_t nj_tai64n_fmt(char *buf, int64_t secs);

/* Writes secs as "YYYY-MM-DDTHH:MM:SSZ" (UTC) and a NUL into buf
 * (NJ_UTCFMT bytes); returns NJ_UTCFMT - 1. */
extern size_t nj_utc_fmt(char *buf, int64_t secs);

/* Parses exactly that form (whole string, real calendar dates, 1970
 * onwards). 1 on success. */
extern int nj_utc_scan(const char *s, int64_t *secs);

/* ----------------------------------------------------------- qmailrcpt.c */
/* Recipient validity by qmail's own delivery rules (realrcptto semantics),
 * read from a qmail tree, plus an optional cdb of valid addresses.
 * Used by rcptcheck. */

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
