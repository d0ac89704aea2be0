/* SPDX-License-Identifier: ISC */
/* najimi-explain: what the chain would do with a client now, and why,
 * with no side effects: the tcprules rule it gets (as tcprulescheck
 * shows it), retrydeny's entry and its evidence, the greet pause,
 * ipgreylist's decision (RELAYCLIENT, GREYLIST, the whitelist or a known
 * sender, selective mode, its key and record by nj_gl_verdict), and the
 * verdict. Reads, never writes. See doc/najimi-explain.8.
 *
 *   najimi-explain [ -s servicedir ] [ -x rules.cdb ] [ -D deny.smtp ]
 *                  [ -d dir ] [ -w whitelist.cdb ] [ -j ] ip [ name ] */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cdb.h>
#include <fcntl.h>
#include <skalibs/buffer.h>
#include <skalibs/djbunix.h>
#include <skalibs/genalloc.h>
#include <skalibs/sgetopt.h>
#include <skalibs/stralloc.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "greylist.h"
#include "gladmin.h"
#include "denyfile.h"

#define USAGE "najimi-explain [ -s servicedir ] [ -x rules.cdb ] [ -D deny.smtp ] [ -d dir ] [ -w whitelist.cdb ] [ -j ] ip [ name ]"
#define GREET_CAP 120     /* greetdelay's cap */

const char *PROG = "najimi-explain";

static struct {
  const char *svc, *rules, *deny, *dir, *wl;
  int json;
} opt;

/* What was found, step by step; printed at the end, as text or JSON. */
static struct {
  char ip[NJ_IPFMT];
  const char *host;
  nj_ip addr;
  int rule_found;           /* 1: a rule, 0: none, -1: no cdb */
  nj_tcprule rule;
  int listed;               /* retrydeny's deny file lists it */
  nj_deny deny;
  unsigned long pause;
  const char *pause_from;
  const char *gl_by;        /* what decided in ipgreylist */
  char gl_match[160], gl_expiry[16];
  int gl_known;             /* the match is a known sender's */
  int has_key;
  nj_glkey key;
  nj_glrec rec;
  nj_glnow now;
  int observe;
  const char *code;         /* the verdict: "deny", "451", "553", "pass" */
  const char *why;
} x;

static nj_glpolicy pol;
static int64_t now;
static stralloc out = STRALLOC_ZERO;

static void nomem(void) __attribute__((noreturn));
static void nomem(void)
{
  strerr_diefu1sys(111, "allocate memory");
}

static void verdict(const char *code, const char *why)
{
  if (!x.code) { x.code = code; x.why = why; }
}

/* ------------------------------------------------------------ the steps */

/* tcpserver: the rule, and its variables set as tcpserver sets them for
 * the chain (over the service's env/). */
static void step_rules(void)
{
  size_t pos = 0, n;
  const char *v;
  if (!opt.rules) { x.rule_found = -1; return; }
  x.rule_found = nj_tcprules(opt.rules, x.ip, x.host, &x.rule);
  if (x.rule_found < 0) strerr_diefu2sys(111, "read ", opt.rules);
  if (x.rule.deny) { verdict("deny", "tcprules: deny (tcpserver drops the connection)"); return; }
  while (nj_tcprule_next(&x.rule, &pos, &v, &n)) {
    char var[4100];
    const char *eq = memchr(v, '=', n);
    if (!eq) continue;
    memcpy(var, v, n);
    var[n] = 0;
    var[eq - v] = 0;
    if (setenv(var, var + (eq - v) + 1, 1) < 0) nomem();
  }
}

/* retrydeny's file: the entry for this address, with its evidence. */
static void step_deny(void)
{
  stralloc sa = STRALLOC_ZERO;
  genalloc g = GENALLOC_ZERO;
  size_t i, n;
  if (!opt.deny) return;
  if (!openslurpclose(&sa, opt.deny)) {
    if (errno == ENOENT) return;
    strerr_diefu2sys(111, "read ", opt.deny);
  }
  if (!nj_deny_read(sa.s, sa.len, opt.deny, &g)) nomem();
  n = genalloc_len(nj_deny, &g);
  for (i = 0; i < n; i++) {
    const nj_deny *d = genalloc_s(nj_deny, &g) + i;
    if (d->ip.v6 == x.addr.v6 && !memcmp(d->ip.a, x.addr.a, x.addr.v6 ? 16 : 4)) {
      x.listed = 1;
      x.deny = *d;
    }
  }
  genalloc_free(nj_deny, &g);
  stralloc_free(&sa);
}

/* greetdelay: GREETDELAY (tcprules or env/), else its -p in run. */
static void step_greet(const nj_svcrun *run)
{
  const char *s = getenv("GREETDELAY");
  unsigned long d = 0;
  x.pause_from = "none";
  if (getenv("RELAYCLIENT")) { x.pause_from = "RELAYCLIENT: no pause"; return; }
  if (run->greetpause && nj_ulong_parse(run->greetpause, 0, GREET_CAP, &d)) x.pause_from = "greetdelay -p";
  if (s) {
    if (nj_ulong_parse(s, 0, ~0UL, &d)) x.pause_from = "GREETDELAY";
    if (d > GREET_CAP) d = GREET_CAP;
  }
  x.pause = d;
}

/* The whitelist cdb's value for the entry that matched: its last day. */
static void wl_expiry(const char *file)
{
  struct cdb c;
  char key[170];
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  size_t n = strlen(x.gl_match);
  if (fd < 0) return;
  if (!cdb_init(&c, fd)) {
    int f = cdb_find(&c, x.gl_match, (unsigned int)n);
    if (f <= 0 && n + 1 < sizeof key) {     /* an exact name is stored as =name */
      key[0] = '=';
      memcpy(key + 1, x.gl_match, n);
      f = cdb_find(&c, key, (unsigned int)n + 1);
    }
    if (f > 0 && cdb_datalen(&c) < sizeof x.gl_expiry)
      cdb_read(&c, x.gl_expiry, cdb_datalen(&c), cdb_datapos(&c));
    cdb_free(&c);
  }
  close(fd);
}

/* A known sender's entry: an entry of the service's
 * control/greylist-known-senders is the one that matched (in the cdb's
 * own form: "ADDR/LEN", "name", ".suffix"). */
static int known_sender(void)
{
  stralloc sa = STRALLOC_ZERO;
  nj_ctl c;
  char *e, key[300];
  size_t n, k;
  int r, found = 0;
  if (!opt.svc) return 0;
  if (nj_ctl_open(&c, &sa, "control/greylist-known-senders", NJ_CTL_TEXT | NJ_CTL_HASHANY, 1000) <= 0) return 0;
  while (!found && (r = nj_ctl_next(&c, &e, &n))) {
    nj_ip ip;
    unsigned int len;
    if (r < 0) continue;
    e[strcspn(e, " \t")] = 0;           /* the entry, without its date */
    if (nj_cidr_parse(e, &ip, &len)) k = nj_wl_netkey(key, &ip, len);
    else if ((k = nj_wl_hostkey(key, sizeof key, e, e[0] == '.')) && key[0] == '=') memmove(key, key + 1, k--);
    found = k && !strcmp(key, x.gl_match);
  }
  stralloc_free(&sa);
  return found;
}

/* ipgreylist, in its own order: RELAYCLIENT, GREYLIST, the whitelist,
 * selective mode, then the key and its record. */
static int step_gl_before(void)
{
  const char *s, *wl;
  int expired;
  if (getenv("RELAYCLIENT")) { x.gl_by = "RELAYCLIENT"; verdict("pass", "RELAYCLIENT: a trusted client, no pause, no greylisting"); return 1; }
  s = getenv("GREYLIST");
  if (s) {
    x.gl_by = "GREYLIST";
    if (!*s) verdict("pass", "GREYLIST set and empty by tcprules: whitelisted");
    else verdict(*s == '-' ? "553" : "451", "GREYLIST set by tcprules: refused with its text");
    return 1;
  }
  wl = getenv("GREYLIST_WHITELIST");
  if (!wl || !*wl) wl = opt.wl;
  if (wl && nj_wl_lookup(wl, &x.addr, x.host, (time_t)now, x.gl_match, sizeof x.gl_match, &expired) > 0) {
    wl_expiry(wl);
    x.gl_known = known_sender();
    x.gl_by = "whitelist";
    verdict("pass", x.gl_known ? "a known sender in the whitelist" : "whitelisted");
    return 1;
  }
  s = getenv("GREYLIST_ONLY");
  if (s && !strcmp(s, "suspicious") && x.host && *x.host && !nj_gl_dynamic(x.host, getenv("GREYLIST_PATTERNS"))) {
    x.gl_by = "not-suspicious";
    verdict("pass", "GREYLIST_ONLY=suspicious and a name that is not dynamic-looking");
    return 1;
  }
  return 0;
}

static void step_gl_key(void)
{
  nj_glkeyconf kc;
  nj_glkey seed;
  nj_gladmin a;
  int hasseed, why, e;
  const char *dir = getenv("GREYLISTDIR"), *redis = getenv("GREYLIST_REDIS");
  if (!dir || !*dir) dir = opt.dir;
  if (!dir && !(redis && *redis)) {
    x.gl_by = "no-state-directory";
    verdict("pass", "no state directory: ipgreylist fails open");
    return;
  }
  nj_gl_keyconf_env(&kc, 0);
  nj_gl_client(&x.key, &seed, &hasseed, &x.addr, x.host, &kc, &why);
  x.has_key = 1;
  x.gl_by = "record";
  nj_gladmin_open(&a, dir, &pol);
  e = a.peek(&a, &x.key, &x.rec);
  if (!e && x.rec.found == NJ_GL_NONE && hasseed) {   /* round 1's key, as nj_gl_decide reads it */
    nj_glrec sr;
    nj_glnow sn;
    if (!a.peek(&a, &seed, &sr) && (nj_gl_now(&sr, &pol, now, &sn), sn.v.is == NJ_GLV_REGULAR)) x.gl_by = "seed";
  }
  if (e) { errno = e; strerr_diefu2sys(111, "read the record in ", a.name); }
  nj_gladmin_close(&a);
  nj_gl_now(&x.rec, &pol, now, &x.now);
  x.observe = (int)nj_env_ulong("GREYLIST_OBSERVE", 0, 0, 1, 0);
  if (!strcmp(x.gl_by, "seed")) verdict("pass", "no record, but its round-1 key is a regular");
  else if (x.now.next[0] == 'p') verdict("pass", x.now.v.is == NJ_GLV_PROMOTE ? "retried within the window: becomes a regular" : "a regular");
  else if (x.observe) verdict("pass", "observe mode: would be 451");
  else verdict("451", x.now.v.is == NJ_GLV_TOO_SOON ? "greylisted: retried too soon" :
                      x.now.v.is == NJ_GLV_NEW ? "greylisted: a stranger" : "greylisted again: its record is reset");
}

/* ------------------------------------------------------------ output */

static void put(const char *s) { if (!stralloc_cats(&out, s)) nomem(); }
static void putn(const char *s, size_t n) { if (!stralloc_catb(&out, s, n)) nomem(); }
static void putu(int64_t v) { char b[ULONG_FMT]; putn(b, ulong_fmt(b, (unsigned long)(v < 0 ? 0 : v))); }
static void pututc(int64_t t) { char b[NJ_UTCFMT]; putn(b, nj_utc_fmt(b, t)); }
static void putdur(int64_t s)
{
  if (s >= 86400) { putu(s / 86400); put("d"); s %= 86400; }
  if (s >= 3600) { putu(s / 3600); put("h"); s %= 3600; }
  if (s >= 60) { putu(s / 60); put("m"); s %= 60; }
  putu(s); put("s");
}

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void jstr(const char *s, size_t n)
{
  size_t i;
  put("\"");
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; putn(e, 2); }
    else if (c < 0x20 || c > 0x7e) put("?");
    else putn(s + i, 1);
  }
  put("\"");
}
static void js(const char *s) { if (s) jstr(s, strlen(s)); else put("null"); }
static void jkey(const char *k) { js(k); put(":"); }

static void text_rules(void)
{
  size_t pos = 0, n;
  const char *v;
  put("tcpserver: ");
  if (x.rule_found < 0) { put("no rules file\n"); return; }
  if (!x.rule_found) { put("no rule in "); put(opt.rules); put(": allow\n"); return; }
  put("rule \""); put(x.rule.name); put("\" in "); put(opt.rules); put(": ");
  put(x.rule.deny ? "deny" : "allow");
  while (nj_tcprule_next(&x.rule, &pos, &v, &n)) { put(", "); putn(v, n); }
  put("\n");
}

static void text_deny(void)
{
  if (!opt.deny) return;
  put("retrydeny: ");
  if (!x.listed) { put("not listed in "); put(opt.deny); put("\n"); return; }
  put("listed in "); put(opt.deny); put(": "); putu(x.deny.sessions);
  put(" refused sessions, first "); pututc(x.deny.first); put(", last offence ");
  pututc(x.deny.last); put(", expires "); pututc(x.deny.last ? x.deny.expires : 0); put("\n");
}

static void text_gl(void)
{
  put("ipgreylist: ");
  if (!x.has_key) {
    put("decided by "); put(x.gl_by ? x.gl_by : "-");
    if (x.gl_match[0]) {
      put(" entry "); put(x.gl_match);
      put(x.gl_expiry[0] ? " (until " : " (no expiry"); put(x.gl_expiry); put(")");
      if (x.gl_known) put(", from greylist-known-senders");
    }
    put("\n");
    return;
  }
  put("key "); put(x.key.text); put(" (keyby "); put(nj_gl_kindname(x.key.kind)); put("): ");
  put(x.now.state);
  if (x.rec.found == NJ_GL_PENDING || x.rec.found == NJ_GL_REGULAR) {
    put(", first seen "); pututc(x.rec.first ? x.rec.first : (int64_t)x.rec.when.tv_sec);
    if (x.rec.last) { put(", last pass "); pututc(x.rec.last); }
    put(", count "); putu((int64_t)x.rec.count); put(", age "); putdur(x.now.age);
  }
  put("; next connection: "); put(x.now.next);
  if (x.now.v.is == NJ_GLV_RESET) { put(" ("); put(nj_gl_reason(x.now.v.reason)); put(")"); }
  if (x.now.left) {
    put(x.now.v.is == NJ_GLV_TOO_SOON ? ", passes in " : x.now.v.is == NJ_GLV_PROMOTE ? ", window closes in " : ", lapses in ");
    putdur(x.now.left); put(" (at "); pututc(now + x.now.left); put(")");
  }
  if (x.observe) put(" (observe mode)");
  put("\n");
}

static void text(void)
{
  put(PROG); put(": "); put(x.ip);
  if (x.host) { put(" (host "); put(x.host); put(")"); }
  put(" at "); pututc(now); put("\n");
  text_rules();
  text_deny();
  put("greetdelay: pause "); putu((int64_t)x.pause); put(" s ("); put(x.pause_from); put(")\n");
  text_gl();
  put("verdict: "); put(x.code ? x.code : "pass"); put(": "); put(x.why ? x.why : "-"); put("\n");
}

static void json_rules(void)
{
  size_t pos = 0, n, k = 0;
  const char *v;
  put("\"tcprules\":{"); jkey("file"); js(opt.rules);
  put(",\"rule\":"); if (x.rule_found > 0) js(x.rule.name); else put("null");
  put(",\"deny\":"); put(x.rule.deny ? "true" : "false");
  put(",\"env\":{");
  while (nj_tcprule_next(&x.rule, &pos, &v, &n)) {
    const char *eq = memchr(v, '=', n);
    if (!eq) continue;
    if (k++) put(",");
    jstr(v, (size_t)(eq - v)); put(":"); jstr(eq + 1, n - (size_t)(eq - v) - 1);
  }
  put("}}");
}

static void json_gl(void)
{
  put(",\"ipgreylist\":{"); jkey("by"); js(x.gl_by);
  put(","); jkey("match"); js(x.gl_match[0] ? x.gl_match : 0);
  put(","); jkey("expiry"); js(x.gl_expiry[0] ? x.gl_expiry : 0);
  put(",\"known_sender\":"); put(x.gl_known ? "true" : "false");
  if (x.has_key) {
    put(","); jkey("key"); js(x.key.text);
    put(","); jkey("keyby"); js(nj_gl_kindname(x.key.kind));
    put(","); jkey("state"); js(x.now.state);
    put(",\"count\":"); putu((int64_t)x.rec.count);
    put(",\"first\":"); putu(x.rec.first);
    put(",\"last\":"); putu(x.rec.last);
    put(",\"age\":"); putu(x.now.age);
    put(","); jkey("next"); js(x.now.next);
    put(","); jkey("reset"); js(x.now.v.is == NJ_GLV_RESET ? nj_gl_reason(x.now.v.reason) : 0);
    put(",\"left\":"); putu(x.now.left);
    put(",\"observe\":"); put(x.observe ? "true" : "false");
  }
  put("}");
}

static void json(void)
{
  put("{"); jkey("ip"); js(x.ip); put(","); jkey("host"); js(x.host);
  put(",\"now\":"); putu(now); put(",");
  json_rules();
  put(",\"deny\":{\"listed\":"); put(x.listed ? "true" : "false");
  if (x.listed) {
    put(",\"sessions\":"); putu(x.deny.sessions);
    put(",\"first\":"); putu(x.deny.first); put(",\"last\":"); putu(x.deny.last);
    put(",\"expires\":"); putu(x.deny.expires);
  }
  put("},\"greetdelay\":{\"pause\":"); putu((int64_t)x.pause); put(","); jkey("from"); js(x.pause_from); put("}");
  json_gl();
  put(",\"verdict\":{"); jkey("code"); js(x.code ? x.code : "pass");
  put(","); jkey("why"); js(x.why); put("}}\n");
}

/* ------------------------------------------------------------ main */

static void options(int argc, char const *const *argv, int *ind)
{
  subgetopt l = SUBGETOPT_ZERO;
  for (;;) {
    int o = subgetopt_r(argc, argv, "s:x:D:d:w:j", &l);
    if (o == -1) break;
    switch (o) {
      case 's': opt.svc = l.arg; break;
      case 'x': opt.rules = l.arg; break;
      case 'D': opt.deny = l.arg; break;
      case 'd': opt.dir = l.arg; break;
      case 'w': opt.wl = l.arg; break;
      case 'j': opt.json = 1; break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  *ind = l.ind;
}

/* With -s: the service's env/, its run's files, relative to it. */
static void service(nj_svcrun *run)
{
  memset(run, 0, sizeof *run);
  if (!opt.svc) return;
  nj_svc_env(opt.svc);
  nj_svc_run(opt.svc, run);
  if (chdir(opt.svc) < 0) strerr_diefu2sys(111, "chdir to ", opt.svc);
  if (!opt.rules) opt.rules = run->rules ? run->rules : "control/tcp.smtp.cdb";
  if (!opt.deny) opt.deny = "control/deny.smtp";
  if (!opt.dir) opt.dir = run->gldir;
  if (!opt.wl) opt.wl = run->glwl;
}

int main(int argc, char const *const *argv)
{
  int ind;
  nj_svcrun run;

  nj_version_opt(argc, argv);
  options(argc, argv, &ind);
  argc -= ind;
  argv += ind;
  if (argc < 1 || argc > 2) strerr_dieusage(100, USAGE);
  if (!nj_ip_parse(argv[0], &x.addr)) strerr_dief2x(100, "not an IP address: ", argv[0]);
  nj_ip_fmt(x.ip, &x.addr);
  x.host = argc > 1 ? argv[1] : 0;
  service(&run);
  now = (int64_t)time(0);

  step_rules();                     /* tcpserver: the rule, its variables */
  step_deny();                      /* retrydeny's entry (in the rules once compiled) */
  nj_gl_policy_env(&pol);           /* the rule's times, after the variables */
  step_greet(&run);                 /* greetdelay */
  if (!step_gl_before()) step_gl_key();   /* ipgreylist (after a deny: for the record) */

  if (opt.json) json(); else text();
  if (buffer_putflush(buffer_1, out.s, out.len) < 0) strerr_diefu1sys(111, "write to stdout");
  stralloc_free(&run.text);         /* the paths from run point into it */
  return 0;
}
