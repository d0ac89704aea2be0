/* fuzz_parsers: a libFuzzer target for the shared library's parsers of
 * untrusted text: client addresses and networks, log sanitising, the
 * greylist state text and file names, whitelist names and dates, TAI64N
 * and UTC stamps, and MAIL/RCPT argument parsing. The first input byte
 * picks the parser; each must stay in bounds and keep its invariants.
 *   make fuzz [FUZZTIME=seconds]     (clang with libFuzzer) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "najimi.h"
#include "greylist.h"
#include "qmailrcpt.h"

const char *PROG = "fuzz_parsers";

#define MAXIN 4096

static void must(int cond, const char *what)
{
  if (!cond) { fprintf(stderr, "invariant broken: %s\n", what); abort(); }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char s[MAXIN + 1], out[2 * MAXIN + 64];
  nj_ip ip, ip2;
  unsigned int len;
  unsigned long count;
  int64_t secs;
  size_t n;
  if (!size || size > MAXIN) return 0;
  n = size - 1;
  memcpy(s, data + 1, n);
  s[n] = 0;                          /* C-string view, stops at any NUL */

  switch (data[0] % 8) {
    case 0:                          /* addresses: parse, format, parse again */
      if (nj_ip_parse(s, &ip)) {
        char f[NJ_IPFMT];
        size_t fl = nj_ip_fmt(f, &ip);
        must(fl < NJ_IPFMT, "ip format length");
        must(nj_ip_parse(f, &ip2) && ip2.v6 == ip.v6 && !memcmp(ip.a, ip2.a, 16), "ip round trip");
      }
      break;
    case 1:                          /* networks */
      if (nj_cidr_parse(s, &ip, &len)) {
        must(len <= (ip.v6 ? 128u : 32u), "cidr length bound");
        must(nj_ip_in(&ip, &ip, len), "a network holds its own address");
      }
      break;
    case 2: {                        /* sanitising and log lines */
      nj_log l;
      size_t k, w = nj_sanitise(out, NJ_LOGVAL, (const char *)data + 1, n);
      must(w <= NJ_LOGVAL && out[w] == 0, "sanitised length");
      for (k = 0; k < w; k++) must(out[k] > 0x20 && out[k] < 0x7f && out[k] != '=', "sanitised bytes");
      nj_log_start(&l, "fuzz", 0);
      nj_log_strn(&l, "a", (const char *)data + 1, n);
      nj_log_strn(&l, "b", (const char *)data + 1, n);
      nj_log_strn(&l, "c", (const char *)data + 1, n);
      must(l.len < NJ_LOGMAX, "log line bound");
      break;
    }
    case 3: {                        /* greylist state text: parse, format, parse */
      int st = nj_gl_parse((const char *)data + 1, n, &count);
      if (st) {
        char f[NJ_GL_FILEMAX];
        unsigned long c2;
        size_t fl = nj_gl_fmt(f, st, count);
        must(fl <= NJ_GL_FILEMAX, "state format length");
        must(nj_gl_parse(f, fl, &c2) == st && c2 == count, "state round trip");
      }
      break;
    }
    case 4: {                        /* greylist file names */
      nj_glkey k, k2;
      if (nj_gl_name_parse(s, &k)) {
        nj_gl_key(&k2, &k.ip, k.ip.v6 ? 32 : k.len);
        must(!strcmp(k2.name, k.name), "file name round trip");
        must(!strcmp(k2.dir1, k.dir1) && !strcmp(k2.dir2, k.dir2), "fan-out round trip");
      }
      break;
    }
    case 5: {                        /* whitelist names and dates */
      char key[300];
      size_t kl = nj_wl_hostkey(key, sizeof key, s, data[0] & 8);
      must(kl < sizeof key, "host key bound");
      nj_wl_date_ok((const char *)data + 1, n);
      nj_wl_value_live((const char *)data + 1, n, "2026-11-22");
      break;
    }
    case 6:                          /* stamps */
      if (n >= NJ_TAI64N && nj_tai64n_scan(s, n, &secs)) {
        char f[NJ_UTCFMT];
        int64_t back;
        nj_utc_fmt(f, secs);
        must(nj_utc_scan(f, &back) && back == secs, "utc round trip");
      }
      if (nj_utc_scan(s, &secs)) {
        char f[NJ_UTCFMT];
        nj_utc_fmt(f, secs);
        must(!strcmp(f, s), "utc canonical");
      }
      break;
    case 7: {                        /* MAIL/RCPT arguments */
      long r = nj_addrparse((const char *)data + 1, n, out, sizeof out);
      must(r < (long)sizeof out, "address bound");
      if (r >= 0) must(out[r] == 0, "address terminated");
      r = nj_addrparse((const char *)data + 1, n, out, 8);
      must(r < 8, "address bound, small buffer");
      break;
    }
  }
  return 0;
}
