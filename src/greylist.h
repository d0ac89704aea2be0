/* greylist.h: ipgreylist's state keys and files, and its whitelist cdb
 * (tinycdb). Used by ipgreylist, ipgreylist-expire and ipgreylist-mkwl. */
#ifndef NJ_GREYLIST_H
#define NJ_GREYLIST_H

#include <stddef.h>
#include <time.h>
#include <sys/stat.h>
#include "najimi.h"

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
