/* SPDX-License-Identifier: ISC */
/* fuzz_parsers: a libFuzzer target for the shared library's parsers of
 * untrusted text: client addresses and networks, log sanitising, the
 * greylist state text and file names, whitelist names and dates, TAI64N
 * and UTC stamps, MAIL/RCPT argument parsing, log lines (nj_log_scan,
 * nj_log_tcpserver), control-file lines (nj_ctl), YYYY-MM-DD dates, and
 * the name key (host-name check, registrable domain by libpsl, hashed
 * key) and hashed keys from any text, triplet greylisting's key
 * parts (sender, recipient) and list lines, GREYLIST_REDIS addresses,
 * and the shipped dynamic-address patterns' C matchers against glibc's
 * regexec of the same lines.
 * The first input byte picks the parser (and flags); each must stay in
 * bounds and keep its invariants.
 *   make fuzz [FUZZTIME=seconds]     (clang with libFuzzer) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <stdio.h>
#include "najimi.h"
#include "greylist.h"
#include "qmailrcpt.h"
#include "triplet.h"
#include "dynpat.h"
#include "patterns.h"
#include <regex.h>

const char *PROG = "fuzz_parsers";

#define MAXIN 4096

static void must(int cond, const char *what)
{
  if (!cond) { fprintf(stderr, "invariant broken: %s\n", what); abort(); }
}

/* qmail-smtpd's addrparse as notqmail writes it, pointer by pointer on a
 * NUL-terminated string (the reference nj_addrparse must agree with;
 * out has room for the whole argument). */
static void qmail_addrparse(const char *arg, char *out)
{
  char terminator = '>';
  int flagesc = 0, flagquoted = 0, i;
  const char *lt = strchr(arg, '<');
  if (lt) arg = lt + 1;
  else {
    terminator = ' ';
    arg += strcspn(arg, ":");
    if (*arg == ':') ++arg;
    while (*arg == ' ') ++arg;
  }
  if (*arg == '@') while (*arg) if (*arg++ == ':') break;
  for (i = 0; *arg; ++arg) {
    char ch = *arg;
    if (flagesc) { out[i++] = ch; flagesc = 0; continue; }
    if (!flagquoted && ch == terminator) break;
    if (ch == '\\') flagesc = 1;
    else if (ch == '"') flagquoted = !flagquoted;
    else out[i++] = ch;
  }
  out[i] = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each pattern line of the built-in list: its matcher and regexec agree. */
static void dynamic_patterns(const char *s)
{
  static regex_t re[16];
  static nj_dp_fn *fn[16];
  static int n = -1;
  int i;
  if (n < 0) {
    static char text[sizeof builtin_patterns];
    nj_ctl c;
    char *pat;
    size_t l;
    memcpy(text, builtin_patterns, sizeof text);
    nj_ctl_init(&c, text, sizeof text - 1, NJ_CTL_TEXT, 0);
    n = 0;
    while (n < 16 && nj_ctl_next(&c, &pat, &l) > 0) {
      fn[n] = nj_dp_find(pat);
      must(fn[n] && !regcomp(&re[n], pat, REG_EXTENDED | REG_NOSUB), "a matcher per shipped line");
      n++;
    }
  }
  for (i = 0; i < n; i++) must(fn[i](s) == !regexec(&re[i], s, 0, 0, 0), "matcher agrees with regexec");
}

static int inside(const char *p, size_t len, const char *s, size_t n)
{
  return p >= s && p + len <= s + n;
}

/* A decision line is exactly its fields again; every pair is a name, '='
 * and a value without space or '='; tcpserver's fields lie in the line. */
static void log_line(const char *s, size_t n)
{
  nj_logline l;
  nj_logpair p;
  nj_tcpline t;
  unsigned int pos = 0, k = 0;
  size_t i, w;
  int r = nj_log_scan(&l, s, n);
  must(r >= NJ_LOG_BAD && r <= NJ_LOG_DECISION, "scan result");
  if (r == NJ_LOG_BAD) { must(l.bad >= 1 && l.bad <= 5 && l.why, "bad reason"); return; }
  must(inside(l.text, l.textlen, s, n), "text inside");
  if (l.stamped) must(n > NJ_TAI64N && s[0] == '@', "stamp");
  if (r == NJ_LOG_OTHER) {
    if (nj_log_tcpserver(&l, &t) && t.ip) must(inside(t.ip, t.iplen, s, n), "tcpserver ip inside");
    return;
  }
  must(l.prog && l.action && l.npairs >= 2, "decision fields");
  must(nj_log_iskey(&l.ip, NJ_K_IP) && nj_log_iskey(&l.pid, NJ_K_PID), "ip and pid first");
  w = (size_t)(l.prog - s) + l.proglen + 2 + l.actionlen;
  while (nj_log_next(&l, &pos, &p)) {
    must(p.klen > 0 && p.key == s + w + 1 && p.key[p.klen] == '=' && p.val == p.key + p.klen + 1, "pair layout");
    for (i = 0; i < p.vlen; i++) must(p.val[i] != ' ' && p.val[i] != '=', "value bytes");
    w += 2 + p.klen + p.vlen;
    k++;
    must(nj_log_get(&l, "pid", &p) && p.val == l.pid.val, "get pid");
  }
  must(k == l.npairs && w == n, "pairs are the whole line");
}

/* Entries lie in the text, trimmed as the flags say, lines in order. */
static void ctl_lines(const char *s, size_t n, unsigned int bits)
{
  char buf[MAXIN + 1];
  nj_ctl c;
  char *e;
  unsigned int flags = bits & 31;
  size_t len, max = bits & 32 ? 40 : 0;
  unsigned long last = 0;
  int r;
  memcpy(buf, s, n);
  nj_ctl_init(&c, buf, n, flags, max);
  while ((r = nj_ctl_next(&c, &e, &len))) {
    must(c.line > last, "line numbers grow");
    last = c.line;
    if (r < 0) { must(c.why != 0, "bad line reason"); continue; }
    must(len > 0 && e >= buf && e + len <= buf + n + 1 && e[len] == 0, "entry inside, terminated");
    must(e[len - 1] != ' ' && e[len - 1] != '\t', "no trailing blank");
    if (flags & NJ_CTL_LEAD) must(e[0] != ' ' && e[0] != '\t', "no leading blank");
    if (flags & NJ_CTL_HASHANY) must(!memchr(e, '#', len), "no comment left");
    else if (!(flags & NJ_CTL_HASHWORD)) must(e[0] != '#', "not a comment line");
    if (flags & NJ_CTL_NONUL) must(!memchr(e, 0, len), "no NUL");
    if (max) must(len <= max, "line bound");
  }
}

/* A record text that parses formats back to a text that parses the same
 * (version 2, for the key its text names). */
static void record_text(const char *b, size_t n)
{
  static nj_glrec r, r2;
  static nj_glkey k;
  char f[NJ_GL_FILEMAX];
  size_t fl;
  nj_gl_parse(b, n, 0, &r);
  if (r.found == NJ_GL_NEWER) {
    must(r.version == 0 && n && b[0] >= '1' && b[0] <= '9', "a later version starts with its number");
    return;
  }
  if (!r.found) return;
  must(r.count <= NJ_GL_COUNTMAX && r.first >= 0 && r.last >= 0, "record bounds");
  must(r.version == 1 || r.version == 2, "record version");
  must(r.textlen <= NJ_GL_TEXTMAX && r.text[r.textlen] == 0, "record text bound");
  if (r.version == 1 || !nj_gl_hashkey(&k, r.text, r.textlen)) return;
  fl = nj_gl_fmt(f, &r, &k);
  must(fl <= NJ_GL_FILEMAX && f[fl - 1] == '\n', "record format length");
  must(nj_gl_parse(f, fl, &k, &r2) == r.found && r2.count == r.count && r2.first == r.first &&
       r2.last == r.last && r2.textlen == r.textlen && !memcmp(r2.text, r.text, r.textlen), "record round trip");
}

static int hex64(const char *s)
{
  size_t i;
  for (i = 0; i < 64; i++) if (!strchr("0123456789abcdef", s[i]) || !s[i]) return 0;
  return !s[64];
}

/* A name key is name:DOMAIN, DOMAIN the tail of the name in canonical
 * form, its file name 64 hex digits fanned out by the first four; any
 * text either gives such a key or none. */
static void name_key(const char *cs, const char *b, size_t n)
{
  static nj_glkey k;
  char canon[256];
  size_t cl = nj_gl_hostname(canon, cs, strlen(cs));
  int why = -1, got = nj_gl_namekey(&k, cs, &why);
  size_t i;
  must(cl <= 253, "host name bound");
  for (i = 0; i < cl; i++) must(strchr("abcdefghijklmnopqrstuvwxyz0123456789-.", canon[i]) != 0, "host name bytes");
  if (cl) must(canon[0] != '.' && canon[cl - 1] != '.' && !strstr(canon, ".."), "host name labels");
  must(got ? why == 0 : (why == NJ_GLN_INVALID || why == NJ_GLN_PUBLIC), "name key why");
  if (!cl) must(!got && why == NJ_GLN_INVALID, "no key from a bad name");
  if (got) {
    size_t dl = k.textlen - 5;
    must(k.kind == NJ_GLK_NAME && !memcmp(k.text, "name:", 5), "name key text");
    must(dl <= cl && !memcmp(canon + cl - dl, k.text + 5, dl) && (dl == cl || canon[cl - dl - 1] == '.'), "domain is a tail");
    must(hex64(k.name) && !memcmp(k.dir1, k.name, 2) && !memcmp(k.dir2, k.name + 2, 2), "hashed name");
  }
  if (nj_gl_hashkey(&k, b, n)) {
    must(n <= NJ_GL_TEXTMAX && k.textlen == n && !memcmp(k.text, b, n), "hash key text");
    must(hex64(k.name) && k.kind >= NJ_GLK_NAME && k.kind <= NJ_GLK_PAIR, "hash key name");
    for (i = 0; i < n; i++) must(b[i] > 0x20 && b[i] < 0x7f, "hash key bytes");
  }
}

/* A key part is printable, at most NJ_TR_PARTMAX bytes, and makes a
 * triplet key; a list line that parses gives a record in bounds. */
static void triplet_parts(const char *s, size_t n)
{
  char part[NJ_TR_PARTMAX + 1];
  nj_trentry e;
  nj_glkey k;
  const char *why;
  size_t i, l = nj_tr_sender(part, s, n);
  must(l <= NJ_TR_PARTMAX && l == strlen(part), "sender part length");
  for (i = 0; i < l; i++) must(part[i] > 0x20 && part[i] < 0x7f, "sender part bytes");
  must(nj_tr_tripkey(&k, 0, part, part), "triplet key of any sender");
  l = nj_tr_rcpt(part, s, n);
  must(l <= NJ_TR_PARTMAX && l == strlen(part), "rcpt part length");
  if (nj_tr_parse(s, n, &e, &why)) {
    must(e.keylen >= 2 && e.keylen <= NJ_TR_KEYMAX && e.vallen >= 1 && e.vallen <= NJ_TR_VALMAX, "entry bounds");
    must(strchr("ctsx", e.form) && e.key[0] == e.form && (e.val[0] == 'W' || e.val[0] == 'B'), "entry form");
  } else must(why != 0, "why");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char s[MAXIN + 1], out[2 * MAXIN + 64];
  nj_ip ip, ip2;
  unsigned int len;
  int64_t secs;
  size_t n;
  if (!size || size > MAXIN) return 0;
  n = size - 1;
  memcpy(s, data + 1, n);
  s[n] = 0;                          /* C-string view, stops at any NUL */

  switch (data[0] % 15) {
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
    case 3:                          /* greylist record text: parse, format, parse */
      record_text((const char *)data + 1, n);
      break;
    case 4: {                        /* greylist file names */
      nj_glkey k, k2;
      if (nj_gl_name_parse(s, 0, 0, &k)) {
        if (k.textlen) {
          nj_gl_key(&k2, &k.ip, k.len, k.len);
          must(!strcmp(k2.name, k.name), "file name round trip");
        } else {
          must(strlen(k.name) == 64 && !memcmp(k.dir1, k.name, 2) && !memcmp(k.dir2, k.name + 2, 2), "hashed name");
          k2 = k;
        }
        must(!strcmp(k2.dir1, k.dir1) && !strcmp(k2.dir2, k.dir2), "fan-out round trip");
        must(nj_gl_name_parse(s, k.dir1, k.dir2, &k2), "found in its own fan-out");
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
      char model[MAXIN + 1];
      unsigned char ip4[4];
      size_t lit;
      long r = nj_addrparse((const char *)data + 1, n, out, sizeof out);
      must(r < (long)sizeof out, "address bound");
      if (r >= 0) must(out[r] == 0, "address terminated");
      must(r < 0 || (qmail_addrparse(s, model), !strcmp(model, out)), "addrparse as qmail-smtpd's");
      lit = nj_ip4_scanbracket(s, strlen(s), ip4);
      must(!lit || (lit >= 9 && s[0] == '[' && s[lit - 1] == ']'), "ip literal bounds");
      r = nj_addrparse((const char *)data + 1, n, out, 8);
      must(r < 8, "address bound, small buffer");
      break;
    }
    case 8:                          /* log lines */
      log_line(s, n);
      break;
    case 9:                          /* control-file lines, flags from the next byte */
      if (n) ctl_lines(s + 1, n - 1, (unsigned char)s[0]);
      break;
    case 10: {                       /* dates */
      int64_t day;
      if (nj_date_scan(s, n, &day)) {
        char f[NJ_DATEFMT];
        nj_date_fmt(f, day);
        must(n == 10 && !memcmp(f, s, 10), "date canonical");
      }
      break;
    }
    case 11:                         /* the name key; hashed keys of any text */
      name_key(s, (const char *)data + 1, n);
      break;
    case 12:                         /* triplet key parts and list lines */
      triplet_parts((const char *)data + 1, n);
      break;
    case 13: {                       /* GREYLIST_REDIS: what it accepts is usable */
      nj_glraddr a;
      unsigned char bin[16];
      if (!nj_glr_addr(&a, s)) break;
      if (a.isunix) must(a.host[0] == '/' && strlen(a.host) <= NJ_GLR_PATHMAX, "redis socket path");
      else must(a.port >= 1 && a.port <= 65535 &&
                (inet_pton(AF_INET, a.host, bin) == 1 || inet_pton(AF_INET6, a.host, bin) == 1),
                "redis address and port");
      break;
    }
    case 14:                         /* the shipped dynamic patterns */
      dynamic_patterns(s);
      break;
  }
  return 0;
}
