/* SPDX-License-Identifier: ISC */
/* test_log: the log line's two ends in log.c. Every line the writer can
 * produce (sanitised values, cut values ending in "...", ip=unknown, a
 * full line, with or without a multilog stamp) scans back to the same
 * fields; malformed lines are refused with their reason; tcpserver's own
 * lines are read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <skalibs/types.h>
#include "check.h"
#include "najimi.h"

const char *PROG = "test_log";

typedef struct want_s {
  const char *key;
  char raw[300];          /* what the caller logs */
  size_t rawlen;
  int text;               /* 1: nj_log_strn, 0: nj_log_ulong of num */
  unsigned long num;
} want;

static int same(const char *a, size_t an, const char *b)
{
  return an == strlen(b) && !memcmp(a, b, an);
}

/* Writes the line, scans it back (stamped when stamp >= 0) and checks
 * every field; 0 with a reason in *why on the first difference. */
static int roundtrip(const char *action, const char *ip, const want *w, size_t nw,
                     int64_t stamp, const char **why)
{
  nj_log l;
  nj_logline s;
  nj_logpair p;
  char line[NJ_TAI64N + 1 + NJ_LOGMAX], exp[NJ_LOGVAL + 1], pid[PID_FMT + 1];
  size_t i, n = 0, m = 0;
  unsigned int pos = 0;
  int cut = 0;

  nj_log_start(&l, action, ip);
  for (i = 0; i < nw; i++) {
    if (w[i].text) nj_log_strn(&l, w[i].key, w[i].raw, w[i].rawlen);
    else nj_log_ulong(&l, w[i].key, w[i].num);
  }
  if (l.len > NJ_LOGMAX - 1) { *why = "line too long"; return 0; }
  if (stamp >= 0) { n = nj_tai64n_fmt(line, stamp); line[n++] = ' '; }
  memcpy(line + n, l.buf, l.len);
  n += l.len;

  if (nj_log_scan(&s, line, n) != NJ_LOG_DECISION) { *why = s.why ? s.why : "not a decision line"; return 0; }
  if (s.stamped != (stamp >= 0) || (stamp >= 0 && s.secs != stamp)) { *why = "stamp"; return 0; }
  if (!same(s.prog, s.proglen, PROG) || !same(s.action, s.actionlen, action)) { *why = "prog or action"; return 0; }
  if (ip) nj_sanitise(exp, NJ_LOGVAL, ip, strlen(ip));
  else strcpy(exp, "unknown");
  if (!same(s.ip.val, s.ip.vlen, exp)) { *why = "ip"; return 0; }
  pid[pid_fmt(pid, getpid())] = 0;
  if (!same(s.pid.val, s.pid.vlen, pid)) { *why = "pid"; return 0; }
  if (!nj_log_next(&s, &pos, &p) || !nj_log_iskey(&p, NJ_K_IP) ||
      !nj_log_next(&s, &pos, &p) || !nj_log_iskey(&p, NJ_K_PID)) { *why = "first pairs"; return 0; }

  while (nj_log_next(&s, &pos, &p)) {
    if (m >= nw || cut) { *why = "a pair that was not written"; return 0; }
    if (!same(p.key, p.klen, w[m].key)) { *why = "key"; return 0; }
    if (w[m].text) nj_sanitise(exp, NJ_LOGVAL, w[m].raw, w[m].rawlen);
    else exp[ulong_fmt(exp, w[m].num)] = 0;
    if (!same(p.val, p.vlen, exp)) {
      /* only the last pair of a full line is cut, to a prefix and "..." */
      if (!w[m].text || !l.full || p.vlen < 3 || memcmp(p.val + p.vlen - 3, "...", 3) ||
          memcmp(p.val, exp, p.vlen - 3)) { *why = "value"; return 0; }
      cut = 1;
    }
    m++;
  }
  if (pos != s.npairs) { *why = "pairs left unread"; return 0; }
  if (m < nw && !cut) {
    /* left out: it did not fit, not even cut */
    size_t need = 2 + strlen(w[m].key) + (w[m].text ? 3 : (size_t)ulong_fmt(exp, w[m].num));
    if (!l.full || l.len + need <= NJ_LOGMAX - 1) { *why = "a pair was lost"; return 0; }
  }
  if (!l.full && (m != nw || cut)) { *why = "not full, yet pairs missing"; return 0; }
  return 1;
}

static unsigned long rnd_state = 12345;
static unsigned long rnd(unsigned long n)
{
  rnd_state = rnd_state * 6364136223846793005UL + 1442695040888963407UL;
  return (rnd_state >> 33) % n;
}

static void text(want *w, const char *key, const char *s)
{
  w->key = key;
  w->rawlen = strlen(s);
  memcpy(w->raw, s, w->rawlen);
  w->text = 1;
}

static void number(want *w, const char *key, unsigned long n)
{
  w->key = key;
  w->text = 0;
  w->num = n;
}

static int scan_is(const char *line, int want_r, int want_bad)
{
  nj_logline l;
  int r = nj_log_scan(&l, line, strlen(line));
  return r == want_r && (r != NJ_LOG_BAD || l.bad == want_bad);
}

/* nj_log_read's callback: counts what it is handed, and checks that the
 * decision lines come in order (pid=1, 2, 3...). */
static struct { unsigned long decision, other, bad[8], next_pid; int order; } got;

static void count_line(const nj_logline *l, int r, void *aux)
{
  unsigned long pid;
  (void)aux;
  if (r == NJ_LOG_DECISION) {
    got.decision++;
    if (!nj_ulong_parsen(l->pid.val, l->pid.vlen, 0, ~0UL, &pid) || pid != ++got.next_pid) got.order = 0;
  } else if (r == NJ_LOG_OTHER) got.other++;
  else got.bad[l->bad]++;
}

static int tcp_is(const char *line, int what, unsigned long pid, const char *ip)
{
  nj_logline l;
  nj_tcpline t;
  if (nj_log_scan(&l, line, strlen(line)) != NJ_LOG_OTHER) return 0;
  if (nj_log_tcpserver(&l, &t) != what) return 0;
  if (!what) return 1;
  if (t.pid != pid) return 0;
  return ip ? same(t.ip, t.iplen, ip) : !t.ip;
}

int main(void)
{
  want w[12];
  const char *why = "";
  char big[300];
  int ok, i;

  /* ---- round trips ---- */
  text(&w[0], "rcpt", "x y\r\n\x01=\xff<a@b>");
  number(&w[1], NJ_K_CODE, 550);
  ok = roundtrip("reject", "192.0.2.1", w, 2, -1, &why);
  CHECK(ok ? "round trip: sanitised value and a number" : why, ok);
  ok = roundtrip("bad-ip", 0, w, 2, 1795365518, &why);
  CHECK(ok ? "round trip: ip=unknown, stamped" : why, ok);
  ok = roundtrip("x", "bad ip\n", w, 0, -1, &why);
  CHECK(ok ? "round trip: an address with a space is sanitised too" : why, ok);
  text(&w[0], "data", "");
  ok = roundtrip("early", "2001:db8::1", w, 1, 0, &why);
  CHECK(ok ? "round trip: an empty value, IPv6, the epoch stamp" : why, ok);
  memset(big, 'x', 250);
  big[250] = 0;
  text(&w[0], "a", big);
  number(&w[1], "n", 7);
  ok = roundtrip("cut", "192.0.2.1", w, 2, -1, &why);
  CHECK(ok ? "round trip: a value cut to NJ_LOGVAL ends in ..." : why, ok);
  for (i = 0; i < 5; i++) text(&w[i], "long_value", big);
  number(&w[5], "after", 123456);
  ok = roundtrip("full", "192.0.2.1", w, 6, 1795365518, &why);
  CHECK(ok ? "round trip: a full line ends in a cut pair, nothing after" : why, ok);
  {
    nj_log l;
    nj_log_start(&l, "full", "192.0.2.1");
    for (i = 0; i < 5; i++) nj_log_str(&l, "long_value", big);
    CHECK("full: the line is NJ_LOGMAX - 1 bytes and ends in ...",
          l.len == NJ_LOGMAX - 1 && !memcmp(l.buf + l.len - 3, "...", 3));
  }
  for (i = 0; i < 12; i++) number(&w[i], "a_rather_long_key_name_for_numbers", ~0UL);
  ok = roundtrip("numbers", "192.0.2.1", w, 12, -1, &why);
  CHECK(ok ? "round trip: numbers that do not fit are left out whole" : why, ok);

  ok = 1;
  for (i = 0; i < 20000 && ok; i++) {
    static const char *const keys[] = { NJ_K_CODE, NJ_K_MSGS, NJ_K_KEY, NJ_K_AGE, "rcpt", "waited_ms", "x", "end" };
    size_t nw = rnd(12), k, j;
    for (k = 0; k < nw; k++) {
      w[k].key = keys[rnd(8)];
      w[k].text = (int)rnd(2);
      w[k].num = rnd(4) ? rnd(1000) : ~0UL - rnd(1000);
      w[k].rawlen = rnd(4) ? rnd(40) : rnd(300);
      for (j = 0; j < w[k].rawlen; j++) w[k].raw[j] = (char)rnd(256);
    }
    ok = roundtrip(rnd(2) ? "pass" : "too-soon", rnd(5) ? "198.51.100.7" : 0, w, nw,
                   rnd(2) ? (int64_t)rnd(4000000000UL) : -1, &why);
  }
  CHECK(ok ? "round trip: 20000 random lines" : why, ok);

  /* ---- reading ---- */
  CHECK("scan: a decision line", scan_is("rcptcheck: done ip=192.0.2.1 pid=9 msgs=1", NJ_LOG_DECISION, 0));
  CHECK("scan: tcpserver's status is another line", scan_is("tcpserver: status: 3/200", NJ_LOG_OTHER, 0));
  CHECK("scan: a warning is another line", scan_is("ipgreylist: warning: invalid GREYLIST_MIN=x", NJ_LOG_OTHER, 0));
  CHECK("scan: a fatal line is another line", scan_is("@4000000069217e8a1d0b3c2f retrydeny: fatal: unable to read x", NJ_LOG_OTHER, 0));
  CHECK("scan: no program name", scan_is("just text", NJ_LOG_OTHER, 0));
  CHECK("scan: an empty line", scan_is("", NJ_LOG_OTHER, 0));
  CHECK("scan: an action without ip= first", scan_is("x: pass pid=3 ip=1.2.3.4", NJ_LOG_OTHER, 0));
  CHECK("scan: no pid", scan_is("x: pass ip=1.2.3.4", NJ_LOG_BAD, NJ_LOGBAD_FIELDS));
  CHECK("scan: pid not second", scan_is("x: pass ip=1.2.3.4 code=550 pid=3", NJ_LOG_BAD, NJ_LOGBAD_FIELDS));
  CHECK("scan: a word that is no pair", scan_is("x: pass ip=1.2.3.4 pid=3 garbage code=550", NJ_LOG_BAD, NJ_LOGBAD_FIELDS));
  CHECK("scan: '=' in a value", scan_is("x: pass ip=1.2.3.4 pid=3 a=b=c", NJ_LOG_BAD, NJ_LOGBAD_FIELDS));
  CHECK("scan: a trailing space", scan_is("x: pass ip=1.2.3.4 pid=3 ", NJ_LOG_BAD, NJ_LOGBAD_FIELDS));
  CHECK("scan: two spaces", scan_is("x: pass ip=1.2.3.4  pid=3", NJ_LOG_BAD, NJ_LOGBAD_FIELDS));
  CHECK("scan: an upper-case key", scan_is("x: pass ip=1.2.3.4 pid=3 Code=5", NJ_LOG_BAD, NJ_LOGBAD_FIELDS));
  CHECK("scan: CRLF", scan_is("x: pass ip=1.2.3.4 pid=3\r", NJ_LOG_BAD, NJ_LOGBAD_CRLF));
  CHECK("scan: a CR inside is binary", scan_is("x: pass\r ip=1.2.3.4 pid=3", NJ_LOG_BAD, NJ_LOGBAD_BINARY));
  CHECK("scan: a tab is binary", scan_is("x: pass\tip=1.2.3.4 pid=3", NJ_LOG_BAD, NJ_LOGBAD_BINARY));
  CHECK("scan: a high byte is binary", scan_is("x: pass ip=1.2.3.4 pid=3 a=\xe9", NJ_LOG_BAD, NJ_LOGBAD_BINARY));
  CHECK("scan: a bad stamp", scan_is("@40000000zzzzzzzz00000000 x: pass ip=1 pid=2", NJ_LOG_BAD, NJ_LOGBAD_STAMP));
  CHECK("scan: a stamp without its space", scan_is("@4000000069217e8a1d0b3c2fx: pass ip=1 pid=2", NJ_LOG_BAD, NJ_LOGBAD_STAMP));
  CHECK("scan: a short stamp", scan_is("@4000000069217e8a", NJ_LOG_BAD, NJ_LOGBAD_STAMP));
  {
    char *o = malloc(NJ_LOG_LINEMAX + 2);
    nj_logline l;
    memset(o, 'x', NJ_LOG_LINEMAX + 1);
    CHECK("scan: NJ_LOG_LINEMAX bytes read", nj_log_scan(&l, o, NJ_LOG_LINEMAX) == NJ_LOG_OTHER);
    CHECK("scan: one more is overlong", nj_log_scan(&l, o, NJ_LOG_LINEMAX + 1) == NJ_LOG_BAD && l.bad == NJ_LOGBAD_OVERLONG);
    free(o);
  }
  {
    nj_logline l;
    nj_logpair p;
    const char *s = "@4000000069217e8a1d0b3c2f rcptcheck: reject ip=192.0.2.7 pid=4242 code=550 rcpt=a@b";
    CHECK("get: code", nj_log_scan(&l, s, strlen(s)) == NJ_LOG_DECISION && l.secs == 0x69217e80 &&
          nj_log_get(&l, NJ_K_CODE, &p) && same(p.val, p.vlen, "550"));
    CHECK("get: the ip and pid pairs", nj_log_get(&l, NJ_K_IP, &p) && same(p.val, p.vlen, "192.0.2.7") &&
          same(l.pid.val, l.pid.vlen, "4242"));
    CHECK("get: a missing key", !nj_log_get(&l, NJ_K_MSGS, &p));
    CHECK("get: no prefix match (rcp is not rcpt)", !nj_log_get(&l, "rcp", &p));
  }

  /* ---- a whole log, through a small buffer: lines cross its end ---- */
  {
    char path[] = "/tmp/test_log.XXXXXX", buf[2 * NJ_LOG_LINEMAX];
    FILE *f;
    int fd = mkstemp(path);
    unsigned long k;
    f = fd < 0 ? 0 : fdopen(fd, "w");
    for (k = 1; f && k <= 3000; k++) {
      fprintf(f, "@4000000069217e8a1d0b3c2f rcptcheck: done ip=192.0.2.%lu pid=%lu msgs=1\n", k % 250, k);
      if (k == 1000) {                 /* overlong across several reads */
        for (i = 0; i < 5000; i++) fputc('x', f);
        fputc('\n', f);
      }
      if (k == 1500) {                 /* one byte too long, then just right */
        for (i = 0; i < NJ_LOG_LINEMAX + 1; i++) fputc('y', f);
        fputc('\n', f);
        for (i = 0; i < NJ_LOG_LINEMAX; i++) fputc('z', f);
        fputc('\n', f);
      }
      if (k == 2000) fputs("x: y ip=1.2.3.4 pid=5\r\nx: y\001 ip=1.2.3.4 pid=6\n", f);
    }
    if (f) fputs("rcptcheck: done ip=192.0.2.1 pid=9", f);   /* no newline */
    CHECK("read: a test log written", f && fclose(f) == 0);
    fd = open(path, O_RDONLY);
    got.order = 1;
    CHECK("read: to the end", fd >= 0 && nj_log_read(fd, buf, sizeof buf, &count_line, 0) == 1);
    CHECK("read: every good line, in order", got.decision == 3000 && got.order);
    CHECK("read: the line of NJ_LOG_LINEMAX bytes", got.other == 1);
    CHECK("read: two overlong lines, each once", got.bad[NJ_LOGBAD_OVERLONG] == 2);
    CHECK("read: CRLF and binary", got.bad[NJ_LOGBAD_CRLF] == 1 && got.bad[NJ_LOGBAD_BINARY] == 1);
    CHECK("read: the last line without its newline", got.bad[NJ_LOGBAD_TRUNCATED] == 1);
    CHECK("read: nothing else", got.bad[NJ_LOGBAD_STAMP] == 0 && got.bad[NJ_LOGBAD_FIELDS] == 0);
    if (fd >= 0) close(fd);
    unlink(path);
    CHECK("read: a read error is 0", nj_log_read(-1, buf, sizeof buf, &count_line, 0) == 0);
  }

  /* ---- tcpserver ---- */
  CHECK("tcpserver: status", tcp_is("tcpserver: status: 3/40", NJ_TCP_STATUS, 0, 0));
  {
    nj_logline l;
    nj_tcpline t;
    const char *s = "tcpserver: status: 3/40";
    nj_log_scan(&l, s, strlen(s));
    CHECK("tcpserver: status numbers", nj_log_tcpserver(&l, &t) == NJ_TCP_STATUS && t.busy == 3 && t.limit == 40);
    s = "@4000000069217e8a1d0b3c2f tcpserver: end 28989 status 25600";
    nj_log_scan(&l, s, strlen(s));
    CHECK("tcpserver: end, stamped", nj_log_tcpserver(&l, &t) == NJ_TCP_END && t.pid == 28989 && t.wstat == 25600);
    s = "tcpserver: ok 29130 mx.example:192.0.2.1:25 mail.example.org:198.51.100.4::52536";
    nj_log_scan(&l, s, strlen(s));
    CHECK("tcpserver: ok with the remote name", nj_log_tcpserver(&l, &t) == NJ_TCP_OK &&
          same(t.host, t.hostlen, "mail.example.org") && same(t.ip, t.iplen, "198.51.100.4"));
  }
  CHECK("tcpserver: pid", tcp_is("tcpserver: pid 28989 from 127.0.0.1", NJ_TCP_PID, 28989, "127.0.0.1"));
  CHECK("tcpserver: deny", tcp_is("tcpserver: deny 28989 :127.0.0.1:25999 :127.0.0.1::36718", NJ_TCP_DENY, 28989, "127.0.0.1"));
  CHECK("tcpserver: ok", tcp_is("tcpserver: ok 29130 :127.0.0.1:25998 :127.0.0.1::52536", NJ_TCP_OK, 29130, "127.0.0.1"));
  CHECK("tcpserver: deny over IPv6 (ucspi-tcp6)", tcp_is("tcpserver: deny 7 ::::1:25 :2001:db8::5:ident?x:4000", NJ_TCP_DENY, 7, "2001:db8::5"));
  CHECK("tcpserver: end", tcp_is("tcpserver: end 28989 status 0", NJ_TCP_END, 28989, 0));
  CHECK("tcpserver: another program", tcp_is("tcpserverx: pid 1 from 1.2.3.4", 0, 0, 0));
  CHECK("tcpserver: a warning", tcp_is("tcpserver: warning: unable to accept", 0, 0, 0));
  CHECK("tcpserver: a bad pid", tcp_is("tcpserver: pid x from 1.2.3.4", 0, 0, 0));
  CHECK("tcpserver: pid 0", tcp_is("tcpserver: pid 0 from 1.2.3.4", 0, 0, 0));
  CHECK("tcpserver: extra words", tcp_is("tcpserver: end 1 status 0 x", 0, 0, 0));
  CHECK("tcpserver: a status without limit", tcp_is("tcpserver: status: 3/", 0, 0, 0));
  CHECK("tcpserver: a remote without its fields", tcp_is("tcpserver: ok 1 :1.2.3.4:25 host", 0, 0, 0));
  CHECK("tcpserver: an empty pid line", tcp_is("tcpserver: pid 5 from", 0, 0, 0));

  return CHECK_DONE("test_log");
}
