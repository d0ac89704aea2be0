/* najimi.h: the one internal header of najimi's small shared library.
 *
 * ip.c     client address: parse, canonical form, CIDR, $PROTO REMOTEIP
 * num.c    bounded number parsing, environment numbers with warnings
 * log.c    one sanitised key=value log line per decision
 * io.c     reads and writes with deadlines; control files line by line
 * smtp.c   the fake SMTP session that refuses a client
 * calendar.c  @tai64n labels, UTC times, YYYY-MM-DD dates, days
 *
 * Subsystems with headers of their own: greylist.h (ipgreylist's keys,
 * state and whitelist), qmailrcpt.h (recipients by qmail's rules).
 *
 * Every program sets PROG (skalibs' strerr uses it) before calling in here.
 */
#ifndef NAJIMI_H
#define NAJIMI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <skalibs/tai.h>
#include <skalibs/stralloc.h>

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

/* Control files: one entry a line, blank lines and # comments skipped.
 * Every file keeps the rule it has always had, through these flags:
 *   (none)          qmail's control files (control.c): trailing spaces and
 *                   tabs dropped, a line whose first byte is '#' skipped;
 *   NJ_CTL_LEAD     leading blanks dropped too (so "  # x" is a comment);
 *   NJ_CTL_CR       a CR is a blank too (a CRLF file reads as LF);
 *   NJ_CTL_HASHANY  '#' anywhere starts a comment ("10.0.0.0/8 # office");
 *   NJ_CTL_HASHWORD '#' at the start of a word starts one ("x#y" stays);
 *   NJ_CTL_NONUL    a line with a NUL byte is bad.
 * Blanks are space and tab (and CR with NJ_CTL_CR). A line is what comes
 * before a newline; the last one needs none. */
#define NJ_CTL_LEAD     1
#define NJ_CTL_CR       2
#define NJ_CTL_HASHANY  4
#define NJ_CTL_HASHWORD 8
#define NJ_CTL_NONUL    16
#define NJ_CTL_QMAIL    0
#define NJ_CTL_TEXT     (NJ_CTL_LEAD | NJ_CTL_CR)   /* najimi's own lists */

typedef struct nj_ctl_s {
  char *s;                /* the text, changed in place */
  size_t len, pos;
  unsigned long line;     /* number of the line last read, from 1 */
  unsigned int flags;
  size_t max;             /* longest line without its newline; 0: any */
  const char *why;        /* why the last line was bad */
} nj_ctl;

/* Reads the len bytes at s, which has room for len + 1 (an entry is
 * NUL-terminated in place). */
extern void nj_ctl_init(nj_ctl *c, char *s, size_t len, unsigned int flags, size_t max);

/* Reads the whole file into sa and starts c on it. 1: read, 0: no such
 * file (ENOENT), -1: error (errno). */
extern int nj_ctl_open(nj_ctl *c, stralloc *sa, const char *file,
                       unsigned int flags, size_t max);

/* The next entry: 1 with *entry (trimmed, NUL-terminated) and its length
 * *n (a NUL inside is kept unless NJ_CTL_NONUL); 0 at the end; -1 for a
 * bad line (c->why: "line too long", "NUL byte"; c->line its number),
 * which is skipped: the next call goes on after it. */
extern int nj_ctl_next(nj_ctl *c, char **entry, size_t *n);

/* Files replaced whole, as tcprules does: written to a temporary file,
 * synced, renamed over the file, then the directory synced. On any
 * failure the temporary file is removed, the old file stays as it was,
 * and the program dies (exit 111) naming the file:
 *   PROG: fatal: unable to create|write|sync TMP: error
 *   PROG: fatal: unable to rename TMP to FILE: error
 * For a file written through a descriptor (a cdb), nj_tmp_open creates
 * tmp (or FILE.tmp when tmp is 0; mode 0644, never through a symbolic
 * link) with its descriptor in t->fd, open for reading too (tinycdb's
 * cdb_make_put reads back what it wrote); nj_tmp_commit puts it in place;
 * nj_tmp_die reports a failed write to t->fd; nj_tmp_abort just removes
 * it (a bad source line). */
typedef struct nj_tmpfile_s {
  const char *file;       /* the file replaced */
  stralloc tmp;           /* the temporary file's name */
  int fd;
} nj_tmpfile;
#define NJ_TMPFILE_ZERO { 0, STRALLOC_ZERO, -1 }

extern void nj_tmp_open(nj_tmpfile *t, const char *file, const char *tmp);
extern void nj_tmp_commit(nj_tmpfile *t);
extern void nj_tmp_abort(nj_tmpfile *t);
extern void nj_tmp_die(nj_tmpfile *t, const char *what) __attribute__((noreturn));

/* The whole contents at once: n bytes of s into FILE, through the
 * temporary file FILE+suffix (skalibs' openwritenclose_suffix_sync).
 * Dies (exit 111) "unable to write FILE through its temporary file
 * SUFFIX: error", the old file untouched. */
extern void nj_file_replace(const char *file, const char *suffix,
                            const char *s, size_t n);

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

/* ---------------------------------------------------------- calendar.c */

#define NJ_TAI64N 25      /* "@" and 24 hex digits, as multilog t writes */
#define NJ_UTCFMT 21      /* "2026-11-22T16:30:46Z" plus NUL */
#define NJ_DATEFMT 11     /* "2026-11-22" plus NUL */
#define NJ_DAYSECS 86400
#define NJ_SECS_MAX 253402300799LL   /* 9999-12-31T23:59:59Z, the last time handled */

/* Reads the TAI64N label at s (n bytes available, at least NJ_TAI64N
 * needed): "@" then 24 hex digits (skalibs' timestamp_scan). *secs gets
 * Unix seconds (daemontools' convention: label = 2^62 + 10 + seconds;
 * nanoseconds dropped). 1 on success; 0 for a bad digit, or a date before
 * 1970 or after 9999. */
extern int nj_tai64n_scan(const char *s, size_t n, int64_t *secs);

/* Writes the label of secs (nanoseconds 0) and a NUL into buf
 * (NJ_TAI64N + 1 bytes); returns NJ_TAI64N. For tests and tools. */
extern size_t nj_tai64n_fmt(char *buf, int64_t secs);

/* Writes secs as "YYYY-MM-DDTHH:MM:SSZ" (UTC) and a NUL into buf
 * (NJ_UTCFMT bytes); returns NJ_UTCFMT - 1. secs is clamped to
 * 1970..9999. */
extern size_t nj_utc_fmt(char *buf, int64_t secs);

/* Parses exactly that form (whole string, real calendar dates, 1970
 * onwards). 1 on success. */
extern int nj_utc_scan(const char *s, int64_t *secs);

/* Days: day 0 is 1970-01-01 (UTC). nj_day gives the day of a time
 * (clamped to 1970..9999). */
extern int64_t nj_day(int64_t secs);

/* Parses s (exactly n = 10 bytes) as "YYYY-MM-DD", a real date from
 * 1970-01-01 to 9999-12-31, into its day. 1 on success. */
extern int nj_date_scan(const char *s, size_t n, int64_t *day);

/* Writes the day (clamped to 1970..9999) as "YYYY-MM-DD" and a NUL into
 * buf (NJ_DATEFMT bytes); returns NJ_DATEFMT - 1. */
extern size_t nj_date_fmt(char *buf, int64_t day);

#endif
