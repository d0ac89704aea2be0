/* SPDX-License-Identifier: ISC */
/* tcprules.c: the rule tcpserver follows for a client, read from a
 * tcprules cdb (tinycdb) as ucspi-tcp's rules.c looks it up and
 * tcprulescheck shows it: the address, =host, the address's prefixes
 * ending in a dot, the host's suffixes starting with a dot (as =.suffix),
 * "=" when there is a host, then the empty default. A rule's data is
 * instructions separated by NULs: "D" (deny) or "+VAR=value". */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <cdb.h>
#include "najimi.h"

static int find(struct cdb *c, const char *key, size_t n, nj_tcprule *r)
{
  unsigned int len;
  int f = cdb_find(c, key, (unsigned int)n);
  if (f <= 0) return f;
  len = cdb_datalen(c);
  if (len > sizeof r->data || n >= sizeof r->name) { errno = EPROTO; return -1; }
  if (cdb_read(c, r->data, len, cdb_datapos(c)) < 0) return -1;
  r->datalen = len;
  memcpy(r->name, key, n);
  r->name[n] = 0;
  r->deny = len && r->data[0] == 'D';
  return 1;
}

static int search(struct cdb *c, const char *ip, const char *host, nj_tcprule *r)
{
  char key[300];
  size_t n = strlen(ip), hn = host ? strlen(host) : 0, i;
  int f;
  if (n >= sizeof key || hn + 2 >= sizeof key) { errno = ENAMETOOLONG; return -1; }
  if ((f = find(c, ip, n, r))) return f;
  if (host) {
    key[0] = '=';
    memcpy(key + 1, host, hn);
    if ((f = find(c, key, hn + 1, r))) return f;
  }
  for (i = n; i > 0; i--)
    if (ip[i - 1] == '.' && (f = find(c, ip, i, r))) return f;
  if (host) {
    for (i = 0; i < hn; i++) {
      if (host[i] != '.') continue;
      key[0] = '=';
      memcpy(key + 1, host + i, hn - i);
      if ((f = find(c, key, hn - i + 1, r))) return f;
    }
    if ((f = find(c, "=", 1, r))) return f;
  }
  return find(c, "", 0, r);
}

int nj_tcprules(const char *file, const char *ip, const char *host, nj_tcprule *r)
{
  struct cdb c;
  int fd, f, e;
  memset(r, 0, sizeof *r);
  fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  if (cdb_init(&c, fd) < 0) { close(fd); errno = EPROTO; return -1; }
  f = search(&c, ip, host && *host ? host : 0, r);
  e = errno;
  cdb_free(&c);
  close(fd);
  errno = e;
  return f;
}

int nj_tcprule_next(const nj_tcprule *r, size_t *pos, const char **var, size_t *n)
{
  while (*pos < r->datalen) {
    const char *s = r->data + *pos;
    const char *z = memchr(s, 0, r->datalen - *pos);
    size_t len = z ? (size_t)(z - s) : r->datalen - *pos;
    *pos += len + 1;
    if (len > 1 && s[0] == '+') { *var = s + 1; *n = len - 1; return 1; }
  }
  return 0;
}
