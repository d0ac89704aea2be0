/* SPDX-License-Identifier: ISC */
/* greylist.h: greylisting's keys, records and verdict, the stores that
 * hold the records (files, greylist-files.c), and ipgreylist's whitelist
 * cdb (tinycdb). Used by ipgreylist, ipgreylist-expire and ipgreylist-mkwl.
 * Name keys need libpsl (glname.c): only a program that calls
 * nj_gl_namekey, nj_gl_client or nj_gl_dynamic links it.
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
#include <signal.h>
#include "najimi.h"

/* ------------------------------------------------------------------ keys */

#define NJ_GL_NAMEMAX 72  /* a record's name plus NUL (room for 64 hex digits) */
#define NJ_GL_TEXTMAX 600 /* longest canonical text (a triplet's two addresses) */
#define NJ_GL_COUNTMAX 999999999UL
#define NJ_GL_V4MIN 8     /* shortest IPv4 prefix in a file name (round 1 allowed 8) */

/* Key kinds. An IP key (ip: a whole address, net: a prefix) keeps round
 * 1's file name, built from the parsed binary address. Every other kind
 * is stored under the hex SHA-256 of its canonical text, fanned out by
 * the hash's first two bytes. The kind is the text's first word:
 *   ip:192.0.2.9   net:192.0.2.0/24   net:2001:db8:1:2::/64
 *   name:outlook.com                          (ipgreylist's name key)
 *   trip:203.0.113.0/24:sender@example:rcpt@local      (a triplet)
 *   pair:example.org:203.0.113.0/24           (a learned pair)
 * The log says it as keyby=ip|net|name|... (nj_gl_kindname). */
#define NJ_GLK_IP   1
#define NJ_GLK_NET  2
#define NJ_GLK_NAME 3
#define NJ_GLK_TRIP 4
#define NJ_GLK_PAIR 5

/* A store sees a key only as its name, its two fan-out levels and its
 * canonical text, never as client text: keys of every kind are stored,
 * read and expired by the same code. */
typedef struct nj_glkey_s {
  int kind;                 /* NJ_GLK_* */
  char name[NJ_GL_NAMEMAX]; /* "192.0.2.9", "192.0.2.0-24", "2001:db8:1:2::-64",
                               or 64 lower-case hex digits */
  char dir1[3], dir2[3];    /* fan-out: DIR/dir1/dir2/name, two hex digits each */
  char text[NJ_GL_TEXTMAX + 1];   /* canonical text, kept in the record */
  size_t textlen;
  unsigned int len;         /* IP keys: the prefix length */
  nj_ip ip;                 /* IP keys: the masked address */
} nj_glkey;

/* The IP key of a client: IPv4 masked to v4prefix (8..32, else 32),
 * IPv6 to v6prefix (8..128, else 64); the file name and the fan-out (a
 * hash of the binary key) come from the binary address only. kind is
 * NJ_GLK_IP for a whole address, NJ_GLK_NET for a prefix. */
extern void nj_gl_key(nj_glkey *k, const nj_ip *ip, unsigned int v4prefix,
                      unsigned int v6prefix);
/* A hashed key from its canonical text (n bytes): "KIND:PART", KIND one
 * of name, trip, pair, PART 1 or more bytes of 0x21..0x7e, the whole at
 * most NJ_GL_TEXTMAX. 1 with k filled (name: hex SHA-256 of the text;
 * dir1, dir2: its first four digits), 0 when the text is not canonical
 * (the caller falls back, or fails; nothing is ever stored under it). */
extern int nj_gl_hashkey(nj_glkey *k, const char *text, size_t n);
/* The canonical text of k after "KIND:" (for building a triplet's text
 * from a client key), and its kind's log word ("ip", "net", "name",
 * "trip", "pair"). */
extern const char *nj_gl_keypart(const nj_glkey *k);
extern const char *nj_gl_kindname(int kind);
/* What a log line calls k: an IP key's name, a hashed key's first 8 hex
 * digits (buf, 9 bytes). */
extern const char *nj_gl_keylog(const nj_glkey *k, char *buf);
/* 1 when name is exactly a file name nj_gl_key or nj_gl_hashkey makes,
 * in the fan-out directories d1/d2 (0: any); k is filled (a hashed key
 * without its text: textlen 0). Used by ipgreylist-expire to recognise
 * its files. */
extern int nj_gl_name_parse(const char *name, const char *d1, const char *d2, nj_glkey *k);
/* An errno value as logged: "EACCES", "ENOSPC", ... or "errnoN". */
extern const char *nj_gl_errname(int e);

/* ------------------------------------------------------------- name keys */

/* The organisation-domain key (glname.c, libpsl): for a client whose
 * reverse-DNS name (TCPREMOTEHOST, checked forward by tcpserver -p) is
 * not dynamic-looking, the key is the name's registrable domain under
 * the Public Suffix List: every *.outbound.protection.outlook.com host
 * is "name:outlook.com".
 *
 * nj_gl_hostname: the name in canonical form: lower case, one trailing
 * dot dropped; only letters, digits, hyphens and dots, no empty label, a
 * label at most 63 bytes, the whole at most 253. Returns the length
 * written to out (room for 254), 0 when the name is not usable. */
extern size_t nj_gl_hostname(char *out, const char *host, size_t n);
/* Why a name did not give a key (logged as namekey=). */
#define NJ_GLN_INVALID 1  /* not a host name by nj_gl_hostname */
#define NJ_GLN_DYNAMIC 2  /* matches a dynamic-address pattern */
#define NJ_GLN_PUBLIC  3  /* no registrable domain (a public suffix, one label) */
extern const char *nj_gl_whyname(int why);
/* The name key of host: 1 with k filled, else 0 and *why (NJ_GLN_INVALID
 * or NJ_GLN_PUBLIC; the dynamic check is nj_gl_dynamic's). */
extern int nj_gl_namekey(nj_glkey *k, const char *host, int *why);
/* 1 when host matches a dynamic-address pattern: those of file (one
 * POSIX extended expression a line, case-insensitive), or when file is 0
 * or cannot be read (warned) the built-in copy of control/dynamic-patterns.
 * A name too long to be one is dynamic. */
extern int nj_gl_dynamic(const char *host, const char *file);

/* How a client is keyed (GREYLIST_V4PREFIX, GREYLIST_V6PREFIX,
 * GREYLIST_KEY, GREYLIST_PATTERNS). */
typedef struct nj_glkeyconf_s {
  unsigned int v4prefix;    /* 16..32, default 24 */
  unsigned int v6prefix;    /* 32..128, default 64 */
  int byname;               /* GREYLIST_KEY=name (default) or ip (0) */
  const char *patterns;     /* the dynamic-pattern file, 0: built in */
} nj_glkeyconf;
#define NJ_GL_DEF_V4PREFIX 24
#define NJ_GL_DEF_V6PREFIX 64
/* Reads the variables (patterns: GREYLIST_PATTERNS, else popt); a bad
 * value is warned about, naming it, and the default used. */
extern void nj_gl_keyconf_env(nj_glkeyconf *c, const char *popt);
/* The key that decides for a client: its name key when c->byname and
 * host is a usable, non-dynamic name with a registrable domain, else its
 * IP key. Returns the kind; *why says why a name present was not used
 * (NJ_GLN_*), else 0. The seed (round 1's key: the whole IPv4 address,
 * the IPv6 /64) is filled when it differs from k, for nj_gl_decide;
 * returns with *hasseed 0 otherwise. */
extern int nj_gl_client(nj_glkey *k, nj_glkey *seed, int *hasseed,
                        const nj_ip *ip, const char *host,
                        const nj_glkeyconf *c, int *why);

/* --------------------------------------------------------------- records */

/* What reading a key's record found. The first three are what a record
 * text says (nj_gl_parse gives 0 for a text that does not parse); the
 * others are found where there is no record to parse. */
#define NJ_GL_CORRUPT 0   /* a text that does not parse (or is too long) */
#define NJ_GL_PENDING 1   /* seen, not let through yet */
#define NJ_GL_REGULAR 2   /* let through, and let through at once since */
#define NJ_GL_NONE    3   /* no record: a stranger */
#define NJ_GL_SYMLINK 4   /* files: a symlink at the record's name (never followed) */
#define NJ_GL_NOTFILE 5   /* files: a directory, a fifo... at the record's name */
#define NJ_GL_NEWER   6   /* a text of a later version than NJ_GL_VERSION (its
                             first word a number above it): it is reset */

/* A record as every store gives it, and its text (version 2, one line,
 * the same in every store):
 *   2 STATE COUNT FIRST LAST TEXT\n
 *   2 regular 3 1795000000 1795003600 name:outlook.com
 * STATE pending or regular; COUNT the retries refused as too soon;
 * FIRST the first attempt, LAST the last pass refresh (0: none yet), in
 * Unix seconds; TEXT the key's canonical text. Numbers in decimal, no
 * leading zeros. Round 1's text, "pending COUNT\n" or "regular COUNT\n",
 * is version 1 and still read; it is rewritten as version 2 at its
 * record's next write. */
#define NJ_GL_VERSION 2
#define NJ_GL_FILEMAX (NJ_GL_TEXTMAX + 64)   /* a valid record text is never longer */
typedef struct nj_glrec_s {
  int found;              /* NJ_GL_* above */
  unsigned int version;   /* of the text read: 1 or 2 (0: none) */
  unsigned long count;    /* retries refused as too soon, while pending */
  int64_t first, last;    /* from the text: first attempt, last refresh (0: unknown) */
  struct timespec when;   /* the reference time the verdict ages: first while
                             pending, last once a regular (files: the mtime) */
  char text[NJ_GL_TEXTMAX + 1];   /* the text's key, as read ("" in version 1) */
  size_t textlen;
} nj_glrec;

/* Parses a record text (n bytes) into r: found (NJ_GL_PENDING,
 * NJ_GL_REGULAR, or NJ_GL_CORRUPT when it does not parse, or when k is
 * given and a version-2 text names another key), version, count, first,
 * last, text; when is set from first or last (a store with a time of its
 * own, such as the files' mtime, sets it again). Returns r->found. */
extern int nj_gl_parse(const char *buf, size_t n, const nj_glkey *k, nj_glrec *r);
/* Writes r as a version-2 text of key k (at most NJ_GL_FILEMAX bytes);
 * returns the length. */
extern size_t nj_gl_fmt(char *buf, const nj_glrec *r, const nj_glkey *k);

/* --------------------------------------------------------------- verdict */

#define NJ_GL_DEF_MIN 300L
#define NJ_GL_DEF_WINDOW 86400L
#define NJ_GL_DEF_LIFETIME (36L * 86400L)
#define NJ_GL_DEF_REFRESH 3600L
#define NJ_GL_STEP 86400L        /* a record this far ahead is a clock step */
#define NJ_GL_MAX_SECS (3650L * 86400L)

/* The rule's times, in seconds. A zero refresh or step is round 1's
 * rule: every pass refreshes, every record ahead of the clock is reset. */
typedef struct nj_glpolicy_s {
  int64_t min;            /* GREYLIST_MIN: a retry sooner is refused again */
  int64_t window;         /* GREYLIST_WINDOW: a retry later starts over */
  int64_t lifetime;       /* GREYLIST_LIFETIME: a regular unseen longer
                             starts over */
  int64_t refresh;        /* GREYLIST_REFRESH: a regular's record is
                             refreshed once it is this old, not before */
  int64_t step;           /* a record at most this far ahead of the clock
                             is a clock step: it counts as now */
} nj_glpolicy;
#define NJ_GLPOLICY_DEFAULT { NJ_GL_DEF_MIN, NJ_GL_DEF_WINDOW, NJ_GL_DEF_LIFETIME, \
                              NJ_GL_DEF_REFRESH, NJ_GL_STEP }

/* GREYLIST_MIN above GREYLIST_WINDOW can never pass anyone: both get
 * their defaults; GREYLIST_REFRESH above half the lifetime would let
 * regulars lapse: it gets the default (at most half the lifetime). Each
 * with a warning naming the values. */
extern void nj_gl_policy_check(nj_glpolicy *p);
/* Reads GREYLIST_MIN, GREYLIST_WINDOW, GREYLIST_LIFETIME and
 * GREYLIST_REFRESH (a bad value: a warning, the default), step
 * NJ_GL_STEP, then nj_gl_policy_check. */
extern void nj_gl_policy_env(nj_glpolicy *p);

/* Verdicts. */
#define NJ_GLV_NEW      1  /* no record: one is made; 451 */
#define NJ_GLV_TOO_SOON 2  /* pending, back before min: counted; 451 */
#define NJ_GLV_PROMOTE  3  /* pending, back within the window: a regular; pass */
#define NJ_GLV_REGULAR  4  /* a regular within its lifetime; pass */
#define NJ_GLV_RESET    5  /* no usable record: a new one replaces it; 451 */
/* Why a record was reset (logged as reset=, nj_gl_reason). */
#define NJ_GLR_CORRUPT 1
#define NJ_GLR_FUTURE  2   /* more than a clock step ahead */
#define NJ_GLR_LAPSED  3   /* a regular past its lifetime */
#define NJ_GLR_STALE   4   /* pending past the window */
#define NJ_GLR_SYMLINK 5
#define NJ_GLR_NOTFILE 6
#define NJ_GLR_VERSION 7   /* written by a later version */

typedef struct nj_glverdict_s {
  int is;                 /* NJ_GLV_* */
  int reason;             /* NJ_GLR_* for NJ_GLV_RESET, else 0 */
  int refresh;            /* NJ_GLV_REGULAR: 1 when the record is due
                             for its refresh */
  int step;               /* 1: the record was ahead of the clock by a
                             clock step, and aged as now */
} nj_glverdict;

/* The whole greylist rule, pure: what found (NJ_GL_*) means for a record
 * age seconds old (now - when; negative: from the future; ignored when
 * nothing was found). */
extern nj_glverdict nj_gl_verdict(int found, int64_t age, const nj_glpolicy *p);
/* The log word of a reason: "corrupt", "future", "lapsed", "stale",
 * "symlink", "not-a-file". */
extern const char *nj_gl_reason(int reason);

/* How a store writes the next record. */
#define NJ_GLW_NONE    0  /* nothing to write (a regular not yet due) */
#define NJ_GLW_CREATE  1  /* a new record where there is none (EEXIST: another
                             session made one first); its time now */
#define NJ_GLW_REPLACE 2  /* replace the record atomically; its time now */
#define NJ_GLW_KEEP    3  /* replace it atomically, keeping its time (when) */
#define NJ_GLW_TOUCH   4  /* a refresh of the record just read: its time
                             and its LAST move to now */
/* The record a verdict leaves (pure), its time set to now; returns how to
 * write it (NJ_GLW_*). */
extern int nj_gl_next(const nj_glrec *cur, const nj_glverdict *v,
                      const struct timespec *now, nj_glrec *next);

/* ---------------------------------------------------------------- stores */

/* A store of records. Files implement it (nj_glfiles); another backend
 * (a shared database) is another struct with this one first, and stores
 * the same record text (nj_gl_fmt, nj_gl_parse) under the key's name.
 * "Now" in a write is the store's own clock (files: the file system's
 * stamp). */
typedef struct nj_glstore_s nj_glstore;
struct nj_glstore_s {
  /* Reads k's record into r. 0, or an errno value: the state cannot be
   * read (op then names the step). */
  int (*read)(nj_glstore *s, const nj_glkey *k, nj_glrec *r);
  /* Writes r as k's record (its text from nj_gl_fmt(r, k)), how =
   * NJ_GLW_* but NONE, after reading k. 0, or an errno value (op names
   * the step when the store knows better than the verdict does, else 0). */
  int (*write)(nj_glstore *s, const nj_glkey *k, int how, const nj_glrec *r);
  /* Where k's record lives, for logs: "DIR/xx/yy/NAME". */
  void (*where)(nj_glstore *s, const nj_glkey *k, char *buf, size_t max);
  /* Releases what the store holds (fds, a connection), before an exec. */
  void (*close)(nj_glstore *s);
  const char *op;
};

typedef struct nj_gldecision_s {
  nj_glverdict v;
  int64_t age;            /* of the record read (0 when there was none, or
                             when it was ahead by a clock step) */
  int64_t ahead;          /* seconds the record was ahead of the clock, or 0 */
  unsigned long count;    /* the record's count after the decision */
  int seeded;             /* 1: no record, but the seed was a regular, so
                             k was made a regular from it */
  int written;            /* how the record was written (NJ_GLW_*) */
  int werr;               /* errno of a write that failed without changing
                             this session's outcome (logged as error=), or 0 */
  const char *op;         /* when nj_gl_decide fails: the step */
} nj_gldecision;

/* One decision for key k: reads its record from s, judges it, writes the
 * record it leaves (again, when a simultaneous session made the record
 * first). When k has no record and seed is given (the key the client had
 * before an upgrade), a live regular under seed makes k a regular at
 * once (d->seeded). 0: decided, d filled. Else an errno value: state
 * could not be read or written where the outcome depends on it; d->op
 * names the step ("open-dir", "subdir", "open", "stat", "read",
 * "create", "reset"), and the caller fails open or closed. */
extern int nj_gl_decide(nj_glstore *s, const nj_glkey *k, const nj_glkey *seed,
                        const nj_glpolicy *p, nj_gldecision *d);

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
/* The record in the open file fd (s from fstat on it) as the file store
 * reads it for key k (0: any key): found (NJ_GL_NOTFILE when it is not a
 * regular file), its text's fields, when = the mtime. 0, or -1 on a read
 * error (errno). ipgreylist-expire reads its files with it too. */
extern int nj_glf_record(int fd, const struct stat *s, const nj_glkey *k, nj_glrec *r);
/* A record's text, from either place (s from fstat on fd), into buf
 * (NJ_GL_FILEMAX + 1 bytes): its length, 0 when missing or too long, -1
 * on a read error (errno). nj_glf_put stores a text on a new file (in
 * the attribute, else as its data): 0, or an errno value. */
extern ssize_t nj_glf_get(int fd, const struct stat *s, char *buf);
extern int nj_glf_put(int fd, const char *text, size_t n);

/* The Redis store (greylist-redis.c, hiredis): several MX share one
 * Redis. Each record is one string, the same version-2 text as the
 * files', under PREFIX + the key's name ("najimi:192.0.2.0-24",
 * "najimi:" + 64 hex digits), in database DB. Redis has no mtime: a
 * record's time is its own FIRST (pending) or LAST (regular). Creation is
 * SET NX (atomic across hosts); every write sets the key's TTL from the
 * window (pending) or the lifetime (regular), so Redis expires it by
 * itself. Connected lazily, at the first call; the connect and every call
 * have a deadline (timeout ms, the socket's send and receive timeouts).
 * After a failure the connection is dropped and every later call fails
 * at once with the same error: one session never waits twice. */
#define NJ_GLR_DEF_PREFIX "najimi:"
#define NJ_GLR_PREFIXMAX 64
#define NJ_GLR_DEF_TIMEOUT 200UL   /* ms */
#define NJ_GLR_MAX_TIMEOUT 60000UL
#define NJ_GLR_MAX_DB 65535UL
#define NJ_GLR_PATHMAX 107         /* a unix socket's path (sun_path less NUL) */
#define NJ_GLR_PASSMAX 512

/* Where Redis listens, from GREYLIST_REDIS: "unix:/abs/path",
 * "IPV4:PORT" or "[IPV6]:PORT", numeric only (no name lookup), the
 * address checked with inet_pton, the port 1..65535. */
typedef struct nj_glraddr_s {
  int isunix;
  char host[NJ_GLR_PATHMAX + 1];   /* the socket's path, or the address as given */
  unsigned int port;
} nj_glraddr;
/* 1 with a filled, 0 when s is none of the three forms. */
extern int nj_glr_addr(nj_glraddr *a, const char *s);

typedef struct nj_glredis_s {
  nj_glstore s;           /* first: &r->s is the store */
  nj_glraddr addr;
  const char *spec;       /* GREYLIST_REDIS as given (0: invalid) */
  char prefix[NJ_GLR_PREFIXMAX + 1];
  size_t prefixlen;
  unsigned long db, timeout;
  const char *passfile;   /* GREYLIST_REDIS_PASSFILE, or 0 */
  int64_t window, lifetime;   /* the TTLs' spans */
  void *c;                /* the hiredis context; 0: not connected */
  unsigned int pending;   /* AUTH, SELECT sent, their replies not read yet */
  int err;                /* the failure that ended the connection, or 0 */
  const char *errop;
  int sigpipe_saved;
  struct sigaction sigpipe; /* SIGPIPE's action before the connection */
} nj_glredis;
/* From spec (GREYLIST_REDIS) and GREYLIST_REDIS_PREFIX, _DB, _TIMEOUT,
 * _PASSFILE (a bad value: warned, naming it, and its default used); p
 * gives the TTLs. An invalid spec is warned about, and every call then
 * fails (op "config", EINVAL): state unwritable, never a silent switch
 * to other state. No system call is made here. */
extern void nj_glr_init(nj_glredis *r, const char *spec, const nj_glpolicy *p);
extern void nj_glr_close(nj_glredis *r);
/* A Redis value (n bytes, a GET's or an MGET's) as the store reads it
 * for key k (0: any key): nj_gl_parse, with a missing final newline
 * forgiven (a value set by hand) and a regular never refreshed aged from
 * FIRST. Returns rec->found. */
extern int nj_glr_value(const char *val, size_t n, const nj_glkey *k, nj_glrec *rec);
/* Deletes k's record (DEL): 0 with *had 1 when there was one, 0 when
 * not, or an errno value (r->s.op names the step). */
extern int nj_glr_del(nj_glredis *r, const nj_glkey *k, int *had);
/* One step of a walk over the store's keys: SCAN from *cursor (0 the
 * first time; 0 again when the walk is done) for at most count keys
 * under the prefix, then their values with one MGET; f gets each key's
 * name (the prefix cut off) and its value (0 when it went meanwhile).
 * 0, or an errno value (r->s.op names the step). */
typedef void nj_glr_func(void *aux, const char *name, size_t nn, const char *val, size_t vn);
extern int nj_glr_scan(nj_glredis *r, unsigned long *cursor, unsigned int count,
                       nj_glr_func *f, void *aux);

/* The store a program uses (glstore.c), the one place that chooses:
 * Redis when GREYLIST_REDIS is set and not empty, else the files under
 * dir; 0 when neither is configured (no dir and no Redis). Nothing is
 * opened before the first read; s->close(s) releases it. p gives the
 * Redis TTLs. Plain C, no program's globals: every program that keeps
 * greylist records opens them with it. */
typedef struct nj_glstores_s {
  nj_glfiles files;
  nj_glredis redis;
} nj_glstores;
extern nj_glstore *nj_gl_store(nj_glstores *st, const char *dir, const nj_glpolicy *p);
/* 1 when s is the Redis store. */
extern int nj_gl_store_isredis(const nj_glstores *st, const nj_glstore *s);

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
