/* SPDX-License-Identifier: ISC */
/* najimi.h: the main header of najimi's small shared library.
 *
 * ip.c       client address: parse, canonical form, CIDR, $PROTO REMOTEIP
 * num.c      bounded number parsing, environment numbers with warnings
 * log.c      the log line, written (one per decision) and read back
 * io.c       reads and writes with deadlines; control files line by
 *            line; files replaced whole (temporary file, fsync, rename)
 * smtp.c     the fake SMTP session that refuses a client
 * calendar.c @tai64n labels, UTC times, YYYY-MM-DD dates, days
 * version.c  najimi's version and every program's -V
 * service.c  a service directory (-s SERVICEDIR of the operator tools)
 * tcprules.c the tcpserver rule of a client, from a tcprules cdb
 *
 * Subsystems with headers of their own: greylist.h (ipgreylist's keys,
 * state and whitelist), qmailrcpt.h (recipients by qmail's rules),
 * denyfile.h (retrydeny's deny file), and
 * the SMTP session's pure parts: smtpcmd.h (command lines and verbs),
 * smtpdata.h (where a message ends; bare CR/LF), replyq.h (the reply
 * queue, reply lengths, the EHLO filter).
 *
 * Every program sets PROG (skalibs' strerr uses it) before calling in here.
 */
#ifndef NAJIMI_H
#define NAJIMI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
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
/* The same for the n bytes at s (not NUL-terminated). */
extern int nj_ulong_parsen(const char *s, size_t n, unsigned long min,
                           unsigned long max, unsigned long *out);

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

/* The log line: "PROG: ACTION ip=IP pid=PID key=value ..." (najimi(7)).
 * Its keys, for the writers and the readers (retrydeny, reports): */
#define NJ_K_IP    "ip"      /* the client, canonical, or NJ_LOG_NOIP */
#define NJ_K_PID   "pid"     /* the session's process id */
#define NJ_K_CODE  "code"    /* the 3-digit reply sent to the client */
#define NJ_K_MSGS  "msgs"    /* rcptcheck's done: messages accepted */
#define NJ_K_KEY   "key"     /* ipgreylist, rcptcheck grey: the state key */
#define NJ_K_AGE   "age"     /* ipgreylist, rcptcheck grey: seconds since the key was first seen */
#define NJ_K_KEYBY "keyby"   /* which client key decided: ip, net, name */
#define NJ_K_WOULD "would"   /* observe mode: the reply that was not sent */
#define NJ_K_VERDICT "verdict" /* rcptcheck grey: new, too-soon, promote, regular, pair, white, black */
#define NJ_K_PASS  "pass"    /* rcptcheck grey: passed, and by what (triplet, pair, white) */
#define NJ_LOG_NOIP "unknown"

#define NJ_LOGMAX 400     /* a log line never exceeds this, newline included */
#define NJ_LOGVAL 120     /* a peer-supplied value is cut to this */

typedef struct nj_log_s {
  char buf[NJ_LOGMAX];
  size_t len;
  int full;               /* a pair was cut or left out: nothing more fits */
} nj_log;

/* Starts "PROG: ACTION ip=IP pid=PID". ip may be 0 (written "ip=unknown");
 * it is sanitised as a value. */
extern void nj_log_start(nj_log *l, const char *action, const char *ip);
/* The pid= of every line from now on, when it is not this process's own:
 * a helper that works for the session's process (starttlsd's TLS part). */
extern void nj_log_setpid(pid_t pid);
/* Adds " key=value"; value is sanitised (bytes outside 0x21..0x7e and '='
 * become '?') and cut to NJ_LOGVAL bytes (a cut value ends in "...").
 * A pair is written whole or not at all: near NJ_LOGMAX a text value is
 * cut to fit (ending in "...") and a number left out, and nothing is
 * added after it. key is a name: a-z, 0-9, '-', '_', '.'. */
extern void nj_log_str(nj_log *l, const char *key, const char *val);
extern void nj_log_strn(nj_log *l, const char *key, const char *val, size_t n);
extern void nj_log_ulong(nj_log *l, const char *key, unsigned long n);
/* Writes the line with its newline to stderr in one write(). */
extern void nj_log_end(nj_log *l);

/* Copies src (n bytes) to dst (room for max bytes plus NUL), sanitised as
 * nj_log_str does. Returns the length written. */
extern size_t nj_sanitise(char *dst, size_t max, const char *src, size_t n);

/* Reading a log line as multilog stores it (without its newline):
 * [@TAI64N ]PROG: ACTION ip=IP pid=PID key=value ...   a decision line
 * [@TAI64N ]PROG: text                                 another line
 * [@TAI64N ]text                                       another line
 * PROG and ACTION are names (as keys); a value has no space and no '='.
 * Any line of printable ASCII up to NJ_LOG_LINEMAX bytes with a good stamp
 * (or none) reads; a line starting "PROG: ACTION ip=" is a decision line
 * and must be all pairs, ip= then pid= first. */
#define NJ_LOG_LINEMAX 2048

#define NJ_LOG_BAD      -1
#define NJ_LOG_OTHER     0
#define NJ_LOG_DECISION  1

#define NJ_LOGBAD_OVERLONG 1  /* over NJ_LOG_LINEMAX bytes */
#define NJ_LOGBAD_BINARY   2  /* a byte outside 0x20..0x7e */
#define NJ_LOGBAD_CRLF     3  /* ... which is one final CR */
#define NJ_LOGBAD_STAMP    4  /* "@" but not a good TAI64N label and a space */
#define NJ_LOGBAD_FIELDS   5  /* a decision line whose fields are not pairs */
#define NJ_LOGBAD_TRUNCATED 6 /* nj_log_read: a last line without its newline */

typedef struct nj_logpair_s {
  const char *key, *val;  /* in the line, not NUL-terminated */
  size_t klen, vlen;
} nj_logpair;

#define NJ_LOG_PAIRS (NJ_LOGMAX / 3)   /* more than any written line has */

typedef struct nj_logline_s {
  int stamped;            /* 1: it had a stamp, secs is its time */
  int64_t secs;
  const char *prog;       /* "greetdelay", or 0: no "NAME: " */
  size_t proglen;
  const char *text;       /* after "PROG: " (or the line without stamp) */
  size_t textlen;
  const char *action;     /* decision lines: ACTION, */
  size_t actionlen;
  nj_logpair ip, pid;     /* its first two pairs, */
  unsigned int npairs;    /* and all of them (ip and pid first) */
  struct { uint16_t k, kl, v, vl; } pair[NJ_LOG_PAIRS];   /* offsets in text */
  int bad;                /* NJ_LOGBAD_* when NJ_LOG_BAD */
  const char *why;        /* "overlong", "binary", "crlf", "stamp", "fields",
                             "truncated" */
} nj_logline;

/* Parses the line s (n bytes, no newline; the fields point into it).
 * Returns NJ_LOG_DECISION, NJ_LOG_OTHER, or NJ_LOG_BAD with l->bad (a
 * decision line with more than NJ_LOG_PAIRS pairs is bad: "fields"). The
 * stamp is read (stamped, secs) even when the fields are bad. */
extern int nj_log_scan(nj_logline *l, const char *s, size_t n);

/* The pairs of a decision line in order: start with *pos = 0; 1 with *p
 * filled, 0 after the last. */
extern int nj_log_next(const nj_logline *l, unsigned int *pos, nj_logpair *p);

/* The first pair of key: 1 with *p filled, 0 when there is none. */
extern int nj_log_get(const nj_logline *l, const char *key, nj_logpair *p);

/* A whole log, streamed: every line of fd, in order, scanned and handed
 * to f with nj_log_scan's result. An overlong line is handed once as
 * NJ_LOGBAD_OVERLONG and read past, never stored; a last line without
 * its newline is NJ_LOGBAD_TRUNCATED. buf (len bytes, at least
 * 2 * NJ_LOG_LINEMAX; more reads less often) holds what was read. 1 at
 * the end of fd, 0 on a read error (errno). */
typedef void nj_log_func(const nj_logline *l, int r, void *aux);
extern int nj_log_read(int fd, char *buf, size_t len, nj_log_func *f, void *aux);
/* The logs a program was given, in order, through nj_log_read: none or
 * "-" is standard input. A file that is gone (multilog rotated it away
 * since the shell's glob) is warned about and skipped; any other failure
 * to open or read dies 111 naming the file. */
extern void nj_log_readfiles(int argc, char const *const *argv, char *buf, size_t len,
                             nj_log_func *f, void *aux);

/* 1 when p's key is key. */
static inline int nj_log_iskey(const nj_logpair *p, const char *key)
{
  size_t n = strlen(key);
  return p->klen == n && !memcmp(p->key, key, n);
}

/* tcpserver's own lines in the same log (tcpserver -v):
 *   tcpserver: status: BUSY/LIMIT
 *   tcpserver: pid PID from IP
 *   tcpserver: ok PID LOCALHOST:LOCALIP:LOCALPORT HOST:IP:INFO:PORT
 *   tcpserver: deny PID LOCALHOST:LOCALIP:LOCALPORT HOST:IP:INFO:PORT
 *   tcpserver: end PID status WSTAT */
#define NJ_TCP_STATUS 1
#define NJ_TCP_PID    2
#define NJ_TCP_OK     3
#define NJ_TCP_DENY   4
#define NJ_TCP_END    5

typedef struct nj_tcpline_s {
  int what;               /* NJ_TCP_* */
  unsigned long pid;      /* all but status */
  unsigned long busy, limit;   /* status */
  unsigned long wstat;    /* end: the wait status */
  const char *ip;         /* pid, ok, deny: the client address as written */
  size_t iplen;
  const char *host;       /* ok, deny: its name (-h), often empty */
  size_t hostlen;
} nj_tcpline;

/* Reads a line that nj_log_scan gave as NJ_LOG_OTHER. Returns NJ_TCP_*
 * with *t filled, or 0 when it is not one of those lines. */
extern int nj_log_tcpserver(const nj_logline *l, nj_tcpline *t);

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
  unsigned int timeout;   /* seconds without a byte from the client */
} nj_refusal;

/* A refusal session ends after timeout seconds of silence, and in any
 * case NJ_REFUSAL_TOTAL times timeout after it began, so that a client
 * sending a byte now and then cannot hold it open (slowloris). */
#define NJ_REFUSAL_TOTAL 4

/* Speaks the refusal session on fds 0/1 (and, once the client has asked
 * for STARTTLS, on the UCSPI-TLS fds: ucspitls.h) and exits 0. */
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
 * needed): "@" then 24 hex digits, as skalibs' timestamp_scan does. *secs gets
 * Unix seconds (daemontools' convention: label = 2^62 + 10 + seconds;
 * nanoseconds dropped). 1 on success; 0 for a bad digit, or a date before
 * 1970 or after 9999. It keeps the seconds of the last label it read, to
 * read the next one of the same second faster (not for threads). */
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

/* The wall clock (CLOCK_REALTIME) by the system call itself, not the
 * vDSO: a process that reads the time once, as a link of the chain does
 * for its decision, pays about 3 us for the vDSO's first call (a page
 * fault on its data page) and 0.3 us for the system call. Should the
 * system call be refused (a seccomp filter), clock_gettime answers. */
extern void nj_clock(struct timespec *ts);

/* Days: day 0 is 1970-01-01 (UTC). nj_day gives the day of a time
 * (clamped to 1970..9999). */
extern int64_t nj_day(int64_t secs);

/* Parses s (exactly n = 10 bytes) as "YYYY-MM-DD", a real date from
 * 1970-01-01 to 9999-12-31, into its day. 1 on success. */
extern int nj_date_scan(const char *s, size_t n, int64_t *day);

/* Writes the day (clamped to 1970..9999) as "YYYY-MM-DD" and a NUL into
 * buf (NJ_DATEFMT bytes); returns NJ_DATEFMT - 1. */
extern size_t nj_date_fmt(char *buf, int64_t day);

/* ----------------------------------------------------------- service.c */

/* A service directory as najimi-mkservice makes it (the operator tools'
 * -s SERVICEDIR). nj_svc_env sets the variables of DIR/env/ as envdir
 * does (an empty file unsets one): 1, or 0 when there is no env/; dies
 * (111) on a read error. */
extern int nj_svc_env(const char *dir);

/* The words of DIR/run and what the chain's options say (0: not given):
 * tcpserver -x RULES, greetdelay -p SECS, ipgreylist -d -w -p. Paths are
 * as written (relative ones to DIR). No run: n is 0. */
#define NJ_SVC_WORDS 256
typedef struct nj_svcrun_s {
  stralloc text;
  char *word[NJ_SVC_WORDS];
  size_t n;
  const char *rules, *greetpause, *gldir, *glwl, *glpat;
} nj_svcrun;
extern void nj_svc_run(const char *dir, nj_svcrun *r);

/* DIR/log/main's files in reading order (multilog's @*.s and @*.u, oldest
 * first, then current), as pointers (char *) into names, in list. */
#include <skalibs/genalloc.h>
extern void nj_svc_logs(const char *dir, stralloc *names, genalloc *list);

/* ---------------------------------------------------------- tcprules.c */

/* The rule tcpserver follows for a client (ip as TCPREMOTEIP says it,
 * host as TCPREMOTEHOST or 0), looked up in a tcprules cdb in tcpserver's
 * order. 1 with r filled (name: the rule's address, "" for the default),
 * 0 when no rule matches (tcpserver allows), -1 on error (errno; EPROTO
 * for a corrupt cdb). */
typedef struct nj_tcprule_s {
  char name[300];
  char data[4096];
  size_t datalen;
  int deny;
} nj_tcprule;
extern int nj_tcprules(const char *file, const char *ip, const char *host, nj_tcprule *r);
/* The rule's variables in order: start with *pos = 0; 1 with *var
 * pointing at "VAR=value" (n bytes, not NUL-terminated), 0 after the last. */
extern int nj_tcprule_next(const nj_tcprule *r, size_t *pos, const char **var, size_t *n);

/* ----------------------------------------------------------- version.c */

/* najimi's version, from the file VERSION (e.g. "0.2.0"). */
extern const char nj_version[];

/* The first call in every main: when the first argument is -V, prints
 * "PROG najimi VERSION" on stdout and exits 0; otherwise returns. */
extern void nj_version_opt(int argc, char const *const *argv);
/* The same for a program that logs under another program's name (PROG). */
extern void nj_version_opt_as(const char *name, int argc, char const *const *argv);

#endif
