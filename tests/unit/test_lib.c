/* SPDX-License-Identifier: ISC */
/* test_lib: unit tests of the shared library's parsers and formatters. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "najimi.h"

const char *PROG = "test_lib";


static int ipfmt_is(const char *in, const char *want)
{
  nj_ip ip;
  char buf[NJ_IPFMT];
  if (!nj_ip_parse(in, &ip)) return want == 0;
  if (!want) return 0;
  nj_ip_fmt(buf, &ip);
  return !strcmp(buf, want);
}

static int num_is(const char *s, unsigned long lo, unsigned long hi, int okwant, unsigned long want)
{
  unsigned long u = 12345;
  int r = nj_ulong_parse(s, lo, hi, &u);
  return okwant ? (r == 1 && u == want) : (r == 0 && u == 12345);
}

static int in_net(const char *ip, const char *cidr)
{
  nj_ip a, n;
  unsigned int len;
  if (!nj_ip_parse(ip, &a) || !nj_cidr_parse(cidr, &n, &len)) return -1;
  return nj_ip_in(&a, &n, len);
}

int main(void)
{
  nj_ip ip;
  nj_log l;
  char buf[600];
  unsigned int len;

  /* addresses */
  CHECK("ip: dotted quad", ipfmt_is("192.0.2.1", "192.0.2.1"));
  CHECK("ip: 256.1.1.1 refused", ipfmt_is("256.1.1.1", 0));
  CHECK("ip: short quad refused", ipfmt_is("1.2.3", 0));
  CHECK("ip: trailing garbage refused", ipfmt_is("1.2.3.4x", 0));
  CHECK("ip: leading space refused", ipfmt_is(" 1.2.3.4", 0));
  CHECK("ip: empty refused", ipfmt_is("", 0));
  CHECK("ip: overlong refused", ipfmt_is("1111:2222:3333:4444:5555:6666:7777:8888:9999:0000", 0));
  CHECK("ip: path characters refused", ipfmt_is("../../etc/passwd", 0));
  CHECK("ip: v6 compressed", ipfmt_is("2001:DB8:0:0:0:0:0:1", "2001:db8::1"));
  CHECK("ip: v4-mapped is v4", ipfmt_is("::ffff:192.0.2.7", "192.0.2.7"));
  CHECK("ip: v4-mapped hex is v4", ipfmt_is("::ffff:c000:0207", "192.0.2.7"));
  CHECK("ip: ::1", ipfmt_is("::1", "::1"));
  CHECK("ip: null refused", nj_ip_parse(0, &ip) == 0);
  CHECK("ip: v4 family", nj_ip_parse("10.0.0.1", &ip) && !ip.v6);
  CHECK("ip: v6 family", nj_ip_parse("2001:db8::1", &ip) && ip.v6);

  unsetenv("PROTO");
  setenv("TCPREMOTEIP", "10.9.8.7", 1);
  CHECK("client: unset PROTO finds nothing", nj_ip_client(&ip, 0) == 0);
  setenv("PROTO", "TCP", 1);
  CHECK("client: TCPREMOTEIP read", nj_ip_client(&ip, 0) == 1 && ip.a[0] == 10 && ip.a[3] == 7);
  setenv("PROTO", "TCP6", 1);
  setenv("TCP6REMOTEIP", "::ffff:10.1.1.1", 1);
  CHECK("client: TCP6REMOTEIP mapped", nj_ip_client(&ip, 0) == 1 && !ip.v6 && ip.a[1] == 1);
  setenv("TCP6REMOTEIP", "junk", 1);
  CHECK("client: junk refused", nj_ip_client(&ip, 0) == 0);

  /* networks */
  CHECK("cidr: inside /24", in_net("192.0.2.200", "192.0.2.0/24") == 1);
  CHECK("cidr: outside /24", in_net("192.0.3.1", "192.0.2.0/24") == 0);
  CHECK("cidr: /0 holds all v4", in_net("8.8.8.8", "0.0.0.0/0") == 1);
  CHECK("cidr: odd prefix /23", in_net("192.0.3.1", "192.0.2.0/23") == 1);
  CHECK("cidr: odd prefix /25 out", in_net("192.0.2.200", "192.0.2.0/25") == 0);
  CHECK("cidr: bare address", in_net("192.0.2.1", "192.0.2.1") == 1);
  CHECK("cidr: v6 /64", in_net("2001:db8:1:2::5", "2001:db8:1:2::/64") == 1);
  CHECK("cidr: v6 /64 out", in_net("2001:db8:1:3::5", "2001:db8:1:2::/64") == 0);
  CHECK("cidr: families differ", in_net("192.0.2.1", "::/0") == 0);
  CHECK("cidr: mapped net", in_net("192.0.2.1", "::ffff:192.0.2.0/120") == 1);
  CHECK("cidr: /33 refused", nj_cidr_parse("1.2.3.4/33", &ip, &len) == 0);
  CHECK("cidr: /129 refused", nj_cidr_parse("::/129", &ip, &len) == 0);
  CHECK("cidr: empty length refused", nj_cidr_parse("1.2.3.4/", &ip, &len) == 0);
  CHECK("cidr: signed length refused", nj_cidr_parse("1.2.3.4/+8", &ip, &len) == 0);
  CHECK("cidr: loopback v4", nj_ip_parse("127.5.5.5", &ip) && nj_ip_loopback(&ip));
  CHECK("cidr: loopback v6", nj_ip_parse("::1", &ip) && nj_ip_loopback(&ip));
  CHECK("cidr: not loopback", nj_ip_parse("128.0.0.1", &ip) && !nj_ip_loopback(&ip));

  /* numbers */
  CHECK("num: plain", num_is("42", 0, 100, 1, 42));
  CHECK("num: zero", num_is("0", 0, 100, 1, 0));
  CHECK("num: empty", num_is("", 0, 100, 0, 0));
  CHECK("num: letters", num_is("abc", 0, 100, 0, 0));
  CHECK("num: negative", num_is("-5", 0, 100, 0, 0));
  CHECK("num: plus sign", num_is("+5", 0, 100, 0, 0));
  CHECK("num: trailing letters", num_is("10abc", 0, 100, 0, 0));
  CHECK("num: leading space", num_is(" 10", 0, 100, 0, 0));
  CHECK("num: 20 digits", num_is("99999999999999999999", 0, ~0UL, 0, 0));
  CHECK("num: above max", num_is("101", 0, 100, 0, 0));
  CHECK("num: below min", num_is("0", 1, 100, 0, 0));
  CHECK("num: max of ulong", num_is("18446744073709551615", 0, ~0UL, 1, ~0UL));
  setenv("NJ_TEST", "abc", 1);
  CHECK("env: invalid gives default", nj_env_ulong("NJ_TEST", 7, 0, 100, 1) == 7);
  setenv("NJ_TEST", "500", 1);
  CHECK("env: clamp to cap", nj_env_ulong("NJ_TEST", 7, 0, 100, 1) == 100);
  CHECK("env: no clamp gives default", nj_env_ulong("NJ_TEST", 7, 0, 100, 0) == 7);
  setenv("NJ_TEST", "", 1);
  CHECK("env: empty gives default", nj_env_ulong("NJ_TEST", 7, 0, 100, 1) == 7);
  unsetenv("NJ_TEST");
  CHECK("env: unset gives default", nj_env_ulong("NJ_TEST", 7, 0, 100, 1) == 7);
  setenv("NJ_TEST", "12", 1);
  CHECK("env: valid", nj_env_ulong("NJ_TEST", 7, 0, 100, 1) == 12);

  /* sanitising and log lines */
  CHECK("sanitise: controls and spaces", nj_sanitise(buf, 50, "a b\r\n\x01=\xff", 8) == 8
        && !strcmp(buf, "a?b?????"));
  {
    char big[1001];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK("sanitise: cut with dots", nj_sanitise(buf, NJ_LOGVAL, big, sizeof big - 1) == NJ_LOGVAL
          && !strcmp(buf + NJ_LOGVAL - 3, "..."));
    nj_log_start(&l, "test", "192.0.2.1");
    nj_log_str(&l, "a", big);
    nj_log_str(&l, "b", big);
    nj_log_str(&l, "c", big);
    nj_log_str(&l, "d", big);
    CHECK("log: bounded", l.len <= NJ_LOGMAX - 1);
  }
  nj_log_start(&l, "act", 0);
  nj_log_ulong(&l, "code", 451);
  nj_log_str(&l, "rcpt", "x y");
  l.buf[l.len] = 0;
  {
    char want[100];
    snprintf(want, sizeof want, "test_lib: act ip=unknown pid=%d code=451 rcpt=x?y", (int)getpid());
    CHECK("log: format", !strcmp(l.buf, want));
  }

  return CHECK_DONE("test_lib");
}
