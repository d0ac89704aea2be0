/* greylist.h: greylisting's keys, records and verdict, the stores that
 * hold the records (files, greylist-files.c), and ipgreylist's whitelist
 * cdb (tinycdb). Used by ipgreylist, ipgreylist-expire and ipgreylist-mkwl.
 *
 * Policy apart from mechanism, as in spamd's grey.c:
 *   key      what a client is known by (nj_glkey): a fan-out and a name;
 *   record   what is known of it (nj_glrec), read from a store;
 *   verdict  nj_gl_verdict: a pure comparison of the record's age with the
 *            minimum delay, the window and the lifetime;
 *   store    reads and writes records (nj_glstore). nj_gl_decide drives
 *            read -> verdict -> write and returns the result; the program
 *            acts on it (log, then a reply or the next program). Neither
 *            the verdict nor a store ever exits or replies. */
#ifndef NJ_GREYLIST_H
#define NJ_GREYLIST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/stat.h>
#include "najimi.h"

/* ------------------------------------------------------------------ keys */

#define NJ_GL_NAMEMAX 72  /* a record's name plus NUL (room for 64 hex digits) */
#define NJ_GL_FILEMAX 32  /* a valid record text is never longer */
#define NJ_GL_COUNTMAX 999999999UL
#define NJ_GL_V4MIN 8     /* shortest GREYLIST_V4PREFIX */

/* A store sees a key only as its name and its two fan-out levels, never
 * as an address: a key of another kind (a hashed one: the 64 hex digits
 * of a SHA-256 as name, its first two bytes as dir1 and dir2) is stored,
 * read and expired by the same code. */
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

/* --------------------------------------------------------------- records */

/* What reading a key's record found. The first three are what a record
 * text says (nj_gl_parse and nj_gl_read give 0 for a text that does not
 * parse); the others are found where there is no record to parse. */
#define NJ_GL_CORRUPT 0   /* a text that does not parse (or is too long) */
#define NJ_GL_PENDING 1   /* seen, not let through yet */
#define NJ_GL_REGULAR 2   /* let through, and let through at once since */
#define NJ_GL_NONE    3   /* no record: a stranger */
#define NJ_GL_SYMLINK 4   /* files: a symlink at the record's name (never followed) */
#define NJ_GL_NOTFILE 5   /* files: a directory, a fifo... at the record's name */

/* A record as every store gives it. Today's files hold the state and the
 * count in their text and the time as their mtime; a richer record (first
 * seen, last pass, the key's canonical text, a format version) adds
 * fields here, and when stays the one time the verdict ages. */
typedef struct nj_glrec_s {
  int found;              /* NJ_GL_* above */
  unsigned long count;    /* retries refused as too soon, while pending */
  struct timespec when;   /* first seen while pending, last pass once a
                             regular (files: the mtime) */
} nj_glrec;

/* A record's text: "pending COUNT\n" or "regular COUNT\n".
 * Returns NJ_GL_PENDING, NJ_GL_REGULAR, or 0 when invalid. */
extern int nj_gl_parse(const char *buf, size_t n, unsigned long *count);
/* Writes the text (at most NJ_GL_FILEMAX bytes); returns the length. */
extern size_t nj_gl_fmt(char *buf, int state, unsigned long count);

/* --------------------------------------------------------------- verdict */

#define NJ_GL_DEF_MIN 300L
#define NJ_GL_DEF_WINDOW 86400L
#define NJ_GL_DEF_LIFETIME (36L * 86400L)
#define NJ_GL_MAX_SECS (3650L * 86400L)

/* The rule's times, in seconds. A later rule (a refresh interval, a
 * tolerated clock step) is a field here and a line in nj_gl_verdict. */
typedef struct nj_glpolicy_s {
  int64_t min;            /* GREYLIST_MIN: a retry sooner is refused again */
  int64_t window;         /* GREYLIST_WINDOW: a retry later starts over */
  int64_t lifetime;       /* GREYLIST_LIFETIME: a regular unseen longer
                             starts over */
} nj_glpolicy;

/* GREYLIST_MIN above GREYLIST_WINDOW can never pass anyone: both get
 * their defaults, with a warning naming the values. */
extern void nj_gl_policy_check(nj_glpolicy *p);

/* Verdicts. */
#define NJ_GLV_NEW      1  /* no record: one is made; 451 */
#define NJ_GLV_TOO_SOON 2  /* pending, back before min: counted; 451 */
#define NJ_GLV_PROMOTE  3  /* pending, back within the window: a regular; pass */
#define NJ_GLV_REGULAR  4  /* a regular within its lifetime: refreshed; pass */
#define NJ_GLV_RESET    5  /* no usable record: a new one replaces it; 451 */
/* Why a record was reset (logged as reset=, nj_gl_reason). */
#define NJ_GLR_CORRUPT 1
#define NJ_GLR_FUTURE  2
#define NJ_GLR_LAPSED  3   /* a regular past its lifetime */
#define NJ_GLR_STALE   4   /* pending past the window */
#define NJ_GLR_SYMLINK 5
#define NJ_GLR_NOTFILE 6

typedef struct nj_glverdict_s {
  int is;                 /* NJ_GLV_* */
  int reason;             /* NJ_GLR_* for NJ_GLV_RESET, else 0 */
} nj_glverdict;

/* The whole greylist rule, pure: what found (NJ_GL_*) means for a record
 * age seconds old (now - when; negative: from the future; ignored when
 * nothing was found). */
extern nj_glverdict nj_gl_verdict(int found, int64_t age, const nj_glpolicy *p);
/* The log word of a reason: "corrupt", "future", "lapsed", "stale",
 * "symlink", "not-a-file". */
extern const char *nj_gl_reason(int reason);

/* How a store writes the next record. */
#define NJ_GLW_CREATE  1  /* a new record where there is none (EEXIST: another
                             session made one first); its time now */
#define NJ_GLW_REPLACE 2  /* replace the record atomically; its time now */
#define NJ_GLW_KEEP    3  /* replace it atomically, keeping its time (when) */
#define NJ_GLW_TOUCH   4  /* its time moves to now, nothing else changes */
/* The record a verdict leaves (pure), its time set to now; returns how to
 * write it (NJ_GLW_*). */
extern int nj_gl_next(const nj_glrec *cur, int verdict,
                      const struct timespec *now, nj_glrec *next);

/* ---------------------------------------------------------------- stores */

/* A store of records. Files implement it (nj_glfiles); another backend
 * (a shared database) is another struct with this one first. "Now" in a
 * write is the store's own clock (files: the file system's stamp). */
typedef struct nj_glstore_s nj_glstore;
struct nj_glstore_s {
  /* Reads k's record into r. 0, or an errno value: the state cannot be
   * read (op then names the step). */
  int (*read)(nj_glstore *s, const nj_glkey *k, nj_glrec *r);
  /* Writes r as k's record, how = NJ_GLW_*, after reading k. 0, or an
   * errno value (op names the step when the store knows better than the
   * verdict does, else 0). */
  int (*write)(nj_glstore *s, const nj_glkey *k, int how, const nj_glrec *r);
  /* Where k's record lives, for logs: "DIR/xx/yy/NAME". */
  void (*where)(nj_glstore *s, const nj_glkey *k, char *buf, size_t max);
  const char *op;
};

typedef struct nj_gldecision_s {
  nj_glverdict v;
  int64_t age;            /* of the record read (0 when there was none) */
  unsigned long count;    /* the record's count after the decision */
  int werr;               /* errno of a write that failed without changing
                             this session's outcome (logged as error=), or 0 */
  const char *op;         /* when nj_gl_decide fails: the step */
} nj_gldecision;

/* One decision for key k: reads its record from s, judges it, writes the
 * record it leaves (again, when a simultaneous session made the record
 * first). 0: decided, d filled. Else an errno value: state could not be
 * read or written where the outcome depends on it; d->op names the step
 * ("open-dir", "subdir", "open", "stat", "read", "create", "reset"), and
 * the caller fails open or closed. */
extern int nj_gl_decide(nj_glstore *s, const nj_glkey *k, const nj_glpolicy *p,
                        nj_gldecision *d);

/* The file store (greylist-files.c): one empty file per key under
 * DIR/xx/yy/, its text in the extended attribute NJ_GL_XATTR so that it
 * owns no data block (cheap to create and to remove), or in its data where
 * the file system has no user attributes; its mtime is the record's time.
 * Created race-free (link), replaced atomically (rename), no symlink
 * followed. Opened lazily, so nj_glf_init makes no system call. */
#define NJ_GL_XATTR "user.najimi"
typedef struct nj_glfiles_s {
  nj_glstore s;           /* first: &f->s is the store */
  const char *dir;
  int top, leaf, fd;      /* DIR, the key's DIR/xx/yy, the record last
                             read; -1 when not open */
  char at[4];             /* the leaf's xx and yy */
  char tmp[32];           /* .tmp.PID, a private name in the leaf */
} nj_glfiles;
extern void nj_glf_init(nj_glfiles *f, const char *dir);
extern void nj_glf_close(nj_glfiles *f);
/* The record in the open file fd (s from fstat on it): found (NJ_GL_NOTFILE
 * when it is not a regular file), count, when. 0, or -1 on a read error
 * (errno). ipgreylist-expire reads its files with it too. */
extern int nj_glf_record(int fd, const struct stat *s, nj_glrec *r);
/* A record text, from either place (s from fstat on fd): NJ_GL_PENDING,
 * NJ_GL_REGULAR, 0 when invalid or missing, -1 on a read error (errno).
 * nj_gl_write stores the text on a new file: 0, or an errno value. */
extern int nj_gl_read(int fd, const struct stat *s, unsigned long *count);
extern int nj_gl_write(int fd, int state, unsigned long count);

/* ------------------------------------------------------------- whitelist */

/* Whitelist cdb keys: "ADDR/LEN" (canonical, masked: "192.0.2.0/24",
 * "2001:db8::/32"), "=host.name" (an exact name, lower case) and
 * ".suffix.name" (any name ending in it). The value is empty (no expiry)
 * or "YYYY-MM-DD", the last day (UTC) on which the entry matches. */
extern size_t nj_wl_netkey(char *buf, const nj_ip *ip, unsigned int len);
/* A name as a key: "=name" (suffix 0) or, for ".suffix" input, ".suffix";
 * lower case, trailing dot dropped. 0 when the name is not a host name. */
extern size_t nj_wl_hostkey(char *buf, size_t max, const char *host, int suffix);
/* 1 when s (n bytes) is a valid YYYY-MM-DD date (nj_date_scan). */
extern int nj_wl_date_ok(const char *s, size_t n);
/* Today's UTC date as YYYY-MM-DD plus NUL (NJ_DATEFMT bytes); a time
 * outside 1970..9999 gives 1970-01-01. */
extern void nj_wl_today(char *buf, time_t now);
/* 1: an entry with this value (empty, or its last day) matches today
 * (a YYYY-MM-DD); 0: expired; -1: bad value. */
extern int nj_wl_value_live(const char *v, size_t n, const char *today);
/* Looks ip (may be 0) and host (TCPREMOTEHOST, may be 0) up in the cdb
 * file: every prefix of ip from the longest, then host exactly, then each
 * of its suffixes. 1: a live entry matched, written to match; 0: none
 * (*expired set when only an expired entry matched); -1: cannot open or
 * corrupt (errno; EPROTO for a corrupt cdb). */
extern int nj_wl_lookup(const char *file, const nj_ip *ip, const char *host,
                        time_t now, char *match, size_t matchmax, int *expired);

#endif
