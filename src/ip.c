/* SPDX-License-Identifier: ISC */
/* ip.c: client addresses, parsed only through inet_pton on whole strings. */
#include <string.h>
#include <arpa/inet.h>
#include <skalibs/env.h>
#include <skalibs/fmtscan.h>
#include "najimi.h"

static const unsigned char v4mapped[12] =
  { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int nj_ip_parse(const char *s, nj_ip *ip)
{
  unsigned char a[16];
  if (!s || !*s || strlen(s) >= NJ_IPFMT) return 0;
  if (strchr(s, ':')) {
    if (inet_pton(AF_INET6, s, a) != 1) return 0;
    if (!memcmp(a, v4mapped, 12)) {
      ip->v6 = 0;
      memset(ip->a, 0, 16);
      memcpy(ip->a, a + 12, 4);
    } else {
      ip->v6 = 1;
      memcpy(ip->a, a, 16);
    }
    return 1;
  }
  if (inet_pton(AF_INET, s, a) != 1) return 0;
  ip->v6 = 0;
  memset(ip->a, 0, 16);
  memcpy(ip->a, a, 4);
  return 1;
}

size_t nj_ip_fmt(char *buf, const nj_ip *ip)
{
  if (!ip->v6) {             /* skalibs' own: inet_ntop's sprintf costs pages */
    size_t n = ip4_fmt(buf, (const char *)ip->a);
    buf[n] = 0;
    return n;
  }
  if (!inet_ntop(AF_INET6, ip->a, buf, NJ_IPFMT)) {
    buf[0] = '?';
    buf[1] = 0;
  }
  return strlen(buf);
}

int nj_ip_client(nj_ip *ip, const char **raw)
{
  const char *s = ucspi_get("REMOTEIP");
  if (raw) *raw = s;
  return s ? nj_ip_parse(s, ip) : 0;
}

int nj_cidr_parse(const char *s, nj_ip *net, unsigned int *len)
{
  char addr[NJ_IPFMT];
  const char *slash = strchr(s, '/');
  size_t n = slash ? (size_t)(slash - s) : strlen(s);
  unsigned long l;
  int mapped;
  if (n >= sizeof addr) return 0;
  memcpy(addr, s, n);
  addr[n] = 0;
  mapped = !!strchr(addr, ':');
  if (!nj_ip_parse(addr, net)) return 0;
  mapped = mapped && !net->v6;
  if (!slash) l = net->v6 ? 128 : 32;
  else if (!nj_ulong_parse(slash + 1, 0, mapped || net->v6 ? 128 : 32, &l)) return 0;
  if (mapped) {
    if (slash && l < 96) return 0;
    if (slash) l -= 96;
  }
  *len = (unsigned int)l;
  return 1;
}

int nj_ip_in(const nj_ip *ip, const nj_ip *net, unsigned int len)
{
  unsigned int bytes = len >> 3, bits = len & 7;
  if (ip->v6 != net->v6) return 0;
  if (len > (ip->v6 ? 128u : 32u)) return 0;
  if (memcmp(ip->a, net->a, bytes)) return 0;
  if (bits) {
    unsigned char mask = (unsigned char)(0xff << (8 - bits));
    if ((ip->a[bytes] ^ net->a[bytes]) & mask) return 0;
  }
  return 1;
}

int nj_ip_loopback(const nj_ip *ip)
{
  static const unsigned char one[16] = { 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1 };
  if (!ip->v6) return ip->a[0] == 127;
  return !memcmp(ip->a, one, 16);
}
