/* log.c: one line per decision, "PROG: ACTION ip=... pid=... key=value",
 * printable ASCII only, bounded, written with a single write(). */
#include <string.h>
#include <unistd.h>
#include <skalibs/types.h>
#include <skalibs/strerr.h>
#include <skalibs/allreadwrite.h>
#include "najimi.h"

size_t nj_sanitise(char *dst, size_t max, const char *src, size_t n)
{
  size_t i, w = 0;
  int cut = n > max;
  if (cut) n = max > 3 ? max - 3 : 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)src[i];
    dst[w++] = (c > 0x20 && c < 0x7f && c != '=') ? (char)c : '?';
  }
  if (cut) while (w < max) dst[w++] = '.';
  dst[w] = 0;
  return w;
}

static void put(nj_log *l, const char *s, size_t n)
{
  size_t room = NJ_LOGMAX - 1 - l->len;   /* keep one byte for '\n' */
  if (n > room) n = room;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

void nj_log_start(nj_log *l, const char *action, const char *ip)
{
  char pid[PID_FMT];
  l->len = 0;
  put(l, PROG, strlen(PROG));
  put(l, ": ", 2);
  put(l, action, strlen(action));
  put(l, " ip=", 4);
  if (ip) put(l, ip, strlen(ip));
  else put(l, "unknown", 7);
  put(l, " pid=", 5);
  put(l, pid, pid_fmt(pid, getpid()));
}

void nj_log_strn(nj_log *l, const char *key, const char *val, size_t n)
{
  char san[NJ_LOGVAL + 1];
  size_t len = nj_sanitise(san, NJ_LOGVAL, val, n);
  put(l, " ", 1);
  put(l, key, strlen(key));
  put(l, "=", 1);
  put(l, san, len);
}

void nj_log_str(nj_log *l, const char *key, const char *val)
{
  nj_log_strn(l, key, val, strlen(val));
}

void nj_log_ulong(nj_log *l, const char *key, unsigned long n)
{
  char fmt[ULONG_FMT];
  put(l, " ", 1);
  put(l, key, strlen(key));
  put(l, "=", 1);
  put(l, fmt, ulong_fmt(fmt, n));
}

void nj_log_end(nj_log *l)
{
  l->buf[l->len++] = '\n';
  allwrite(2, l->buf, l->len);
  l->len = 0;
}
