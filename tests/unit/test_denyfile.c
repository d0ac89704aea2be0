/* SPDX-License-Identifier: ISC */
/* test_denyfile: retrydeny's deny file (denyfile.c): what it writes it
 * reads back; other lines are skipped (with a warning when they look
 * like an entry). */
#include <stdio.h>
#include <string.h>
#include "check.h"
#include "najimi.h"
#include "denyfile.h"

const char *PROG = "test_denyfile";

static nj_deny entry(const char *ip, uint32_t sessions, int64_t first, int64_t last)
{
  nj_deny d;
  memset(&d, 0, sizeof d);
  nj_ip_parse(ip, &d.ip);
  d.sessions = sessions;
  d.first = first;
  d.last = last;
  d.expires = last + 7 * 86400;
  return d;
}

static int same(const nj_deny *a, const nj_deny *b)
{
  return a->ip.v6 == b->ip.v6 && !memcmp(a->ip.a, b->ip.a, 16) && a->sessions == b->sessions &&
         a->first == b->first && a->last == b->last && a->expires == b->expires;
}

/* The entries read from text. */
static size_t read_text(const char *text, genalloc *g)
{
  g->len = 0;
  if (!nj_deny_read(text, strlen(text), "test", g)) return (size_t)-1;
  return genalloc_len(nj_deny, g);
}

int main(void)
{
  stralloc sa = STRALLOC_ZERO;
  genalloc g = GENALLOC_ZERO;
  nj_deny in[3];
  const nj_deny *out;
  int ok;

  in[0] = entry("192.0.2.7", 5, 1795000000, 1795020000);
  in[1] = entry("2001:db8::5", 4294967295U, 0, 1795365518);
  in[2] = entry("198.51.100.4", 1, 1795000001, 1795000001);
  ok = nj_deny_header(&sa) && nj_deny_fmt(&sa, &in[0], 0) && nj_deny_fmt(&sa, &in[1], "-go away") &&
       nj_deny_fmt(&sa, &in[2], "retry later");
  CHECK("write: three entries", ok);
  ok = stralloc_0(&sa);
  sa.len--;
  CHECK("write: the evidence comment and the rule",
        strstr(sa.s, "# 192.0.2.7 expires=2026-11-25T16:40:00Z sessions=5 first=2026-11-18T11:06:40Z "
                     "last=2026-11-18T16:40:00Z\n192.0.2.7:deny\n") != 0);
  CHECK("write: -r text keeps its own leading -",
        strstr(sa.s, "\n2001:db8::5:allow,RBLSMTPD=\"-go away\"\n") != 0);
  CHECK("write: -r text gets a leading -",
        strstr(sa.s, "\n198.51.100.4:allow,RBLSMTPD=\"-retry later\"\n") != 0);
  CHECK("write: the header first", !strncmp(sa.s, "# Written by retrydeny(8)", 25));
  CHECK("read back: three entries", nj_deny_read(sa.s, sa.len, "test", &g) && genalloc_len(nj_deny, &g) == 3);
  out = genalloc_s(nj_deny, &g);
  CHECK("read back: the same fields, in order",
        same(&out[0], &in[0]) && same(&out[1], &in[1]) && same(&out[2], &in[2]));

  CHECK("read: no final newline",
        read_text("# 192.0.2.7 expires=2026-11-25T16:40:00Z sessions=5 first=2026-11-18T11:06:40Z last=2026-11-18T16:40:00Z\n192.0.2.7:deny", &g) == 1);
  CHECK("read: blank lines and other comments skipped",
        read_text("\n# a comment\n#\n# 192.0.2.7\n", &g) == 0);
  printf("# warnings about test:N follow\n");
  CHECK("read: a rule without its evidence is dropped", read_text("203.0.113.1:deny\n", &g) == 0);
  CHECK("read: an unreadable evidence comment is ignored, and its rule dropped",
        read_text("# 192.0.2.7 expires=x sessions=five first=x last=x\n192.0.2.7:deny\n", &g) == 0);
  CHECK("read: evidence for another address",
        read_text("# 192.0.2.8 expires=2026-11-25T16:40:00Z sessions=5 first=2026-11-18T11:06:40Z last=2026-11-18T16:40:00Z\n192.0.2.7:deny\n", &g) == 0);
  CHECK("read: an unreadable expiry is only information",
        read_text("# 192.0.2.7 expires=soon sessions=5 first=2026-11-18T11:06:40Z last=2026-11-18T16:40:00Z\n192.0.2.7:deny\n", &g) == 1 &&
        genalloc_s(nj_deny, &g)[0].expires == 0 && genalloc_s(nj_deny, &g)[0].last == 1795020000);
  CHECK("read: v4-mapped in the rule is the same address",
        read_text("# 192.0.2.7 expires=2026-11-25T16:40:00Z sessions=5 first=2026-11-18T11:06:40Z last=2026-11-18T16:40:00Z\n::ffff:192.0.2.7:deny\n", &g) == 1);
  CHECK("read: sessions above 2^32-1 refused",
        read_text("# 192.0.2.7 expires=2026-11-25T16:40:00Z sessions=4294967296 first=2026-11-18T11:06:40Z last=2026-11-18T16:40:00Z\n192.0.2.7:deny\n", &g) == 0);

  stralloc_free(&sa);
  genalloc_free(nj_deny, &g);
  return CHECK_DONE("test_denyfile");
}
