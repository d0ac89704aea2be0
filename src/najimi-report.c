/* SPDX-License-Identifier: ISC */
/* najimi-report: what the chain did, from its own log lines (and
 * tcpserver's), read in one streaming pass through log.c's reader:
 * sessions and refusals by program and reason, regulars gained, the TLS
 * share, and how long greylisted mail that was finally accepted waited
 * (per key, its first 451 to its first pass). See doc/najimi-report.8.
 *
 * Memory is bounded whatever the size of the log: counters, a fixed
 * cache of recent sessions (ip, pid), a fixed table of greylisted keys
 * (KEYMAX; keys beyond it are counted as untracked), a fixed
 * distribution of delays (delays.h) per period. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <skalibs/allreadwrite.h>
#include <skalibs/buffer.h>
#include <skalibs/djbunix.h>
#include <skalibs/genalloc.h>
#include <skalibs/sgetopt.h>
#include <skalibs/stralloc.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "delays.h"

#define USAGE "najimi-report [ -s servicedir ] [ -b time ] [ -e time ] [ -d ] [ -j ] [ -p file.png ] [ log... ]"
#define READSIZE (1 << 20)
#define KEYMAX (1UL << 20)     /* greylisted keys tracked at once (24 MB) */
#define SESSWAYS 4
#define SESSSETS (1UL << 16)   /* recent sessions cached: 4 x 65536 (4 MB) */
#define SESSIONMAX 3600        /* a pid seen again within this is the same session */
#define DAYMAX 400             /* periods of -d */
#define ACTMAX 64              /* distinct (program, action, code) per period */
#define ACTNAME 64

const char *PROG = "najimi-report";

static void nomem(void) __attribute__((noreturn));
static void nomem(void)
{
  strerr_diefu1sys(111, "allocate memory");
}

/* ------------------------------------------------------------ counters */

enum {
  C_LINES, C_BAD, C_SESSIONS, C_TLS, C_TLSFAIL, C_TCPOK, C_TCPDENY,
  C_EARLY, C_HANGUP, C_NEW, C_TOOSOON, C_WOULD, C_GLREFUSED, C_BADIP,
  C_GLERROR, C_PROMOTED, C_REGULAR, C_WHITELISTED, C_RELAYCLIENT,
  C_REJECT, C_LIMIT, C_DEFER, C_DONE, C_MSGS, C_MSGSESS, C_NEVER,
  C_UNTRACKED, C_FROMAGE, C_TRIP451, C_TRIPNEW, C_TRIPSOON, C_TRIPBLACK,
  C_TRIPNULL, C_TRIPFAIL, C_TRIPWOULD451, C_TRIPWOULD550, C_TRIPPROMOTED,
  C_TRIPPASS, C_TRIPPAIR, C_TRIPWHITE, C_TRIPOPEN, C_TRIPTODATA,
  C_TRIPNEVER, C_TRIPFROMAGE, C_N
};
static const char *const cname[C_N] = {
  "lines", "bad_lines", "sessions", "tls_sessions", "tls_failed",
  "tcpserver_ok", "tcpserver_deny", "early_talkers", "left_in_pause",
  "greylisted", "too_soon", "observed_451", "refused_by_greylist_var",
  "no_address", "greylist_errors", "regulars_gained", "regular_passes",
  "whitelisted", "relayclient", "unknown_users", "dictionary_cuts",
  "rcpt_deferred", "rcptcheck_sessions", "messages", "sessions_with_mail",
  "never_came_back", "untracked_keys", "delays_from_record_age",
  "triplets_greylisted", "triplets_new", "triplets_too_soon",
  "triplets_blacklisted", "triplets_null_sender_at_data",
  "triplets_state_refused", "triplets_observed_451", "triplets_observed_550",
  "triplets_promoted", "triplets_passed", "triplets_passed_pair",
  "triplets_whitelisted", "triplets_failed_open", "triplets_deferred_to_data",
  "triplets_never_came_back", "triplet_delays_from_record_age"
};

typedef struct act_s { uint64_t h; char name[ACTNAME]; unsigned long n; } act;

typedef struct period_s {
  int64_t day;            /* -d: its day; else -1 */
  int64_t first, last;    /* the first and last stamp seen in it (0: none) */
  unsigned long c[C_N];
  nj_delays delays;       /* ipgreylist's keys */
  nj_delays tdelays;      /* rcptcheck's triplets */
  act acts[ACTMAX];
  unsigned int nacts;
  unsigned long actother;
} period;

static period total;
static period *days[DAYMAX];
static unsigned int ndays;
static period *cur;       /* -d: the day of the current line */
static int32_t curidx;    /* its index in days */

static struct {
  const char *dir;
  int64_t begin, end;
  int hasbegin, hasend, perday, json;
  const char *png;
} opt;

static int64_t now_t;     /* the time of the current line */
static int timed;         /* a stamp was seen: now_t is a time */

static void bump(unsigned int c, unsigned long n)
{
  total.c[c] += n;
  if (cur) cur->c[c] += n;
}

static uint64_t hash(const char *s, size_t n, uint64_t h)
{
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
  return h;
}
#define HASH0 0xcbf29ce484222325ULL

/* ------------------------------------------------------------ periods */

static void period_init(period *p, int64_t day)
{
  memset(p, 0, sizeof *p);
  p->day = day;
}

/* The period of day d (-d), made at its first line. */
static period *day_of(int64_t d)
{
  unsigned int i;
  if (cur && cur->day == d) return cur;
  for (i = 0; i < ndays; i++) if (days[i]->day == d) break;
  if (i == ndays) {
    if (ndays == DAYMAX) strerr_dief1x(100, "more than 400 days in the log: give a period with -b and -e");
    days[ndays] = malloc(sizeof(period));
    if (!days[ndays]) nomem();
    period_init(days[ndays], d);
    ndays++;
  }
  curidx = (int32_t)i;
  return days[i];
}

static void seen(period *p)
{
  if (!timed) return;
  if (!p->first) p->first = now_t;
  p->last = now_t;
}

/* "prog action code=NNN" counted in the period's table. */
static void act_one(period *p, const char *name, size_t n, uint64_t h)
{
  unsigned int i;
  for (i = 0; i < p->nacts; i++)
    if (p->acts[i].h == h) { p->acts[i].n++; return; }
  if (p->nacts == ACTMAX) { p->actother++; return; }
  p->acts[i].h = h;
  memcpy(p->acts[i].name, name, n);
  p->acts[i].name[n] = 0;
  p->acts[i].n = 1;
  p->nacts++;
}

static void act_count(const nj_logline *l, const nj_logpair *code, const char *what)
{
  char name[ACTNAME];
  size_t n = 0, k;
  uint64_t h;
  if (l->proglen + l->actionlen + code->vlen + 8 >= ACTNAME) return;
  memcpy(name, l->prog, l->proglen); n = l->proglen;
  name[n++] = ' ';
  memcpy(name + n, l->action, l->actionlen); n += l->actionlen;
  k = strlen(what);
  name[n++] = ' ';
  memcpy(name + n, what, k); n += k;
  memcpy(name + n, code->val, code->vlen); n += code->vlen;
  h = hash(name, n, HASH0);
  act_one(&total, name, n, h);
  if (cur) act_one(cur, name, n, h);
}

/* ------------------------------------------------------------ sessions */

/* A cache of recent sessions, SESSWAYS slots a set: a line of a session
 * not in it (or last seen over SESSIONMAX ago) starts a session; the
 * oldest slot of the set makes room. */
typedef struct sess_s { uint64_t h; int64_t t; } sess;
static sess *sessions;

static void session(const char *ip, size_t iplen, const char *pid, size_t pidlen)
{
  uint64_t h;
  sess *set;
  unsigned int i, old = 0;
  if (iplen > 7 && !memcmp(ip, "::ffff:", 7)) { ip += 7; iplen -= 7; }   /* as the chain writes it */
  h = hash(pid, pidlen, hash(ip, iplen, HASH0) ^ ' ') | 1;
  set = sessions + (h >> 20 & (SESSSETS - 1)) * SESSWAYS;
  for (i = 0; i < SESSWAYS; i++) {
    if (set[i].h == h && now_t - set[i].t <= SESSIONMAX && now_t >= set[i].t) {
      set[i].t = now_t;
      return;
    }
    if (set[i].t < set[old].t || !set[i].h) old = i;
  }
  set[old].h = h;
  set[old].t = now_t;
  bump(C_SESSIONS, 1);
}

/* ------------------------------------------------------------ keys */

/* The keys greylisted and not passed yet: first = their first 451 (the
 * record's first sighting), in an open-addressing table of KEYMAX slots,
 * filled to at most 3/4. Three kinds, hashed apart: ipgreylist's keys,
 * rcptcheck's triplets (key=HASH8), and a triplet's link from its
 * sender and recipient (from=, rcpt=), by which a pass by a learned pair
 * (whose key is the pair's, not the triplet's) ends the triplet's wait. */
#define K_PENDING 1
#define K_PASSED 2
#define K_OBSERVED 3      /* refused in observe mode only: its pass is no delay */
enum { KIND_IP, KIND_TRIP, KIND_LINK };
typedef struct gkey_s {
  uint64_t h;
  union { int64_t first; uint64_t trip; } u;   /* KIND_LINK: its triplet's hash */
  int32_t day;
  uint16_t state, kind;
} gkey;
static gkey *keys;
static unsigned long nkeys;

static uint64_t key_hash(const nj_logpair *k, unsigned int kind)
{
  return hash(k->val, k->vlen, kind == KIND_TRIP ? ~HASH0 : HASH0) | 1;
}

static uint64_t link_hash(const nj_logpair *from, const nj_logpair *rcpt)
{
  return hash(rcpt->val, rcpt->vlen, hash(from->val, from->vlen, HASH0 ^ 0x5a5a5a5aULL) ^ ' ') | 1;
}

static gkey *key_at(uint64_t h, int create, unsigned int kind)
{
  size_t i = (size_t)(h & (KEYMAX - 1));
  while (keys[i].h) {
    if (keys[i].h == h && keys[i].kind == kind) return keys + i;
    i = (i + 1) & (KEYMAX - 1);
  }
  if (!create) return 0;
  if (nkeys >= KEYMAX / 4 * 3) {
    if (kind != KIND_LINK) bump(C_UNTRACKED, 1);
    return 0;
  }
  nkeys++;
  keys[i].h = h;
  keys[i].kind = (uint16_t)kind;
  return keys + i;
}

static gkey *key_find(const nj_logpair *k, int create, unsigned int kind)
{
  return key_at(key_hash(k, kind), create, kind);
}

static int pair_ulong(const nj_logpair *p, unsigned long *v)
{
  return p->key && nj_ulong_parsen(p->val, p->vlen, 0, 0xffffffffUL, v);
}

/* The keys refused and not back (at the end, or when a new record
 * replaces theirs). */
static void never(const gkey *g)
{
  unsigned int c = g->kind == KIND_TRIP ? C_TRIPNEVER : C_NEVER;
  total.c[c]++;
  if (g->day >= 0) days[g->day]->c[c]++;
}

/* A 451 (new, too-soon; a null sender's at DATA): the key's first
 * sighting, dated back by age= when there is one. A new record for a
 * key still pending (its old one went stale: it never came back in the
 * window) starts again. */
static void grey451(const nj_logpair *key, const nj_logpair *age, int isnew, unsigned int kind)
{
  unsigned long a = 0;
  gkey *g = key_find(key, 1, kind);
  if (!g) return;
  if (g->state == K_PENDING) {
    if (!isnew) return;
    never(g);
  }
  pair_ulong(age, &a);
  g->state = K_PENDING;
  g->u.first = now_t - (int64_t)a;
  g->day = cur ? curidx : -1;
}

/* A refusal in observe mode (would=): nobody waited, so the key's pass
 * is no delay (a key pending already stays so). */
static void greyobserved(const nj_logpair *key, unsigned int kind)
{
  gkey *g = key_find(key, 1, kind);
  if (g && g->state != K_PENDING) g->state = K_OBSERVED;
}

static void add_delay(unsigned int kind, period *p, int64_t delay)
{
  nj_dl_add(kind == KIND_TRIP ? &total.tdelays : &total.delays, delay);
  if (p) nj_dl_add(kind == KIND_TRIP ? &p->tdelays : &p->delays, delay);
}

/* A pending key's first pass: its delay, counted in the period of its
 * first 451. */
static void settle(gkey *g)
{
  add_delay(g->kind, g->day >= 0 ? days[g->day] : cur, now_t - g->u.first);
  g->state = K_PASSED;
}

/* A pass after greylisting (ipgreylist pass, a triplet's promote).
 * Without a 451 in the log (before it began), the record's age says the
 * delay. */
static void greypass(const nj_logpair *key, const nj_logpair *age, unsigned int kind)
{
  unsigned long a = 0;
  gkey *g = key_find(key, 0, kind);
  if (g && g->state == K_OBSERVED) { g->state = K_PASSED; return; }
  if (g && g->state == K_PENDING && timed) { settle(g); return; }
  if (!pair_ulong(age, &a)) return;
  bump(kind == KIND_TRIP ? C_TRIPFROMAGE : C_FROMAGE, 1);
  if (g) g->state = K_PASSED;
  add_delay(kind, cur, (int64_t)a);
}

/* A triplet refused at RCPT: the link from its sender and recipient. */
static void trip_link(const nj_logpair *key, const nj_logpair *from, const nj_logpair *rcpt)
{
  gkey *l;
  if (!from->key || !rcpt->key) return;
  l = key_at(link_hash(from, rcpt), 1, KIND_LINK);
  if (l) l->u.trip = key_hash(key, KIND_TRIP);
}

/* A pass by a learned pair: the pending triplet of the same sender and
 * recipient (the other recipients of a message retried) has its pass. */
static void pairpass(const nj_logpair *from, const nj_logpair *rcpt)
{
  gkey *l, *g;
  if (!from->key || !rcpt->key || !timed) return;
  l = key_at(link_hash(from, rcpt), 0, KIND_LINK);
  g = l ? key_at(l->u.trip, 0, KIND_TRIP) : 0;
  if (g && g->state == K_PENDING) settle(g);
}

/* At the end: the keys still pending never came back. */
static void never_back(void)
{
  size_t i;
  for (i = 0; i < KEYMAX; i++)
    if (keys[i].state == K_PENDING) never(keys + i);
}

/* ------------------------------------------------------------ lines */

#define IS(p, s) ((p)->vlen == sizeof s - 1 && !memcmp((p)->val, s, sizeof s - 1))
#define PROGIS(l, s) ((l)->proglen == sizeof s - 1 && !memcmp((l)->prog, s, sizeof s - 1))
#define ACTIS(l, s) ((l)->actionlen == sizeof s - 1 && !memcmp((l)->action, s, sizeof s - 1))

typedef struct pairs_s {
  nj_logpair code, would, key, age, msgs, version, result, verdict, pass, defer, from, rcpt;
} pairs;

static void getpairs(const nj_logline *l, pairs *f)
{
  unsigned int pos = 2;
  nj_logpair p;
  memset(f, 0, sizeof *f);
  while (nj_log_next(l, &pos, &p)) {
    switch (p.klen) {
      case 3: if (!memcmp(p.key, NJ_K_KEY, 3)) f->key = p; else if (!memcmp(p.key, NJ_K_AGE, 3)) f->age = p; break;
      case 4:
        if (!memcmp(p.key, NJ_K_CODE, 4)) f->code = p;
        else if (!memcmp(p.key, NJ_K_MSGS, 4)) f->msgs = p;
        else if (!memcmp(p.key, NJ_K_PASS, 4)) f->pass = p;
        else if (!memcmp(p.key, "from", 4)) f->from = p;
        else if (!memcmp(p.key, "rcpt", 4)) f->rcpt = p;
        break;
      case 5:
        if (!memcmp(p.key, NJ_K_WOULD, 5)) f->would = p;
        else if (!memcmp(p.key, "defer", 5)) f->defer = p;
        break;
      case 6: if (!memcmp(p.key, "result", 6)) f->result = p; break;
      case 7:
        if (!memcmp(p.key, "version", 7)) f->version = p;
        else if (!memcmp(p.key, NJ_K_VERDICT, 7)) f->verdict = p;
        break;
    }
  }
}

static void ipgreylist(const nj_logline *l, const pairs *f)
{
  int c451 = f->code.key && IS(&f->code, "451");
  if (ACTIS(l, "new")) {
    if (c451) { bump(C_NEW, 1); grey451(&f->key, &f->age, 1, KIND_IP); }
  } else if (ACTIS(l, "too-soon")) {
    if (c451) { bump(C_TOOSOON, 1); grey451(&f->key, &f->age, 0, KIND_IP); }
  } else if (ACTIS(l, "pass")) {
    bump(C_PROMOTED, 1);
    greypass(&f->key, &f->age, KIND_IP);
  } else if (ACTIS(l, "regular")) bump(C_REGULAR, 1);
  else if (ACTIS(l, "whitelisted") || ACTIS(l, "not-suspicious")) bump(C_WHITELISTED, 1);
  else if (ACTIS(l, "relayclient")) bump(C_RELAYCLIENT, 1);
  else if (ACTIS(l, "refused")) bump(C_GLREFUSED, 1);
  else if (ACTIS(l, "bad-ip")) bump(C_BADIP, 1);
  else if (ACTIS(l, "error")) bump(C_GLERROR, 1);
  if (f->would.key) {
    bump(C_WOULD, 1);
    if (f->key.key && (ACTIS(l, "new") || ACTIS(l, "too-soon"))) greyobserved(&f->key, KIND_IP);
  }
}

/* rcptcheck's grey lines (doc/rcptcheck.8, Triplet greylisting): a
 * decision by verdict= (new, too-soon, promote, regular, pair, white,
 * black, error; null-sender at DATA), its outcome code=, would=,
 * defer=data or pass=triplet|pair|white|fail-open. */
static void trip_refused(const pairs *f)
{
  int c451 = IS(&f->code, "451");
  if (!f->key.key) return;
  if (IS(&f->verdict, "new") && c451) {
    bump(C_TRIPNEW, 1);
    bump(C_TRIP451, 1);
    grey451(&f->key, &f->age, 1, KIND_TRIP);
    trip_link(&f->key, &f->from, &f->rcpt);
  } else if (IS(&f->verdict, "too-soon") && c451) {
    bump(C_TRIPSOON, 1);
    bump(C_TRIP451, 1);
    grey451(&f->key, &f->age, 0, KIND_TRIP);
    trip_link(&f->key, &f->from, &f->rcpt);
  } else if (IS(&f->verdict, "null-sender") && c451) {
    bump(C_TRIPNULL, 1);               /* no age=: the wait starts here */
    bump(C_TRIP451, 1);
    grey451(&f->key, &f->age, 0, KIND_TRIP);
  } else if (IS(&f->verdict, "black")) bump(C_TRIPBLACK, 1);
  else if (IS(&f->verdict, "error")) bump(C_TRIPFAIL, 1);
}

static void trip_observed(const pairs *f)
{
  bump(f->would.vlen && f->would.val[0] == '5' ? C_TRIPWOULD550 : C_TRIPWOULD451, 1);
  if (f->key.key && (IS(&f->verdict, "new") || IS(&f->verdict, "too-soon")))
    greyobserved(&f->key, KIND_TRIP);
}

static void trip_passed(const pairs *f)
{
  if (IS(&f->pass, "triplet")) {
    bump(C_TRIPPASS, 1);
    if (IS(&f->verdict, "promote") && f->key.key) {
      bump(C_TRIPPROMOTED, 1);
      greypass(&f->key, &f->age, KIND_TRIP);
    }
  } else if (IS(&f->pass, "pair")) {
    bump(C_TRIPPAIR, 1);
    pairpass(&f->from, &f->rcpt);
  } else if (IS(&f->pass, "white")) bump(C_TRIPWHITE, 1);
  else if (IS(&f->pass, "fail-open")) bump(C_TRIPOPEN, 1);
}

static void rcptcheck(const nj_logline *l, const pairs *f)
{
  unsigned long m;
  if (ACTIS(l, "reject")) bump(C_REJECT, 1);
  else if (ACTIS(l, "limit")) bump(C_LIMIT, 1);
  else if (ACTIS(l, "defer")) bump(C_DEFER, 1);
  else if (ACTIS(l, "grey")) {
    if (f->would.key) trip_observed(f);
    else if (f->code.key) trip_refused(f);
    else if (f->pass.key) trip_passed(f);
    else if (f->defer.key) bump(C_TRIPTODATA, 1);
  } else if (ACTIS(l, "done")) {
    bump(C_DONE, 1);
    if (f->msgs.key && nj_ulong_parsen(f->msgs.val, f->msgs.vlen, 0, 0xffffffffUL, &m) && m) {
      bump(C_MSGS, m);
      bump(C_MSGSESS, 1);
    }
  }
}

static void decision(const nj_logline *l)
{
  pairs f;
  session(l->ip.val, l->ip.vlen, l->pid.val, l->pid.vlen);
  getpairs(l, &f);
  if (f.code.key) act_count(l, &f.code, "code=");
  else if (f.would.key) act_count(l, &f.would, "would=");
  if (PROGIS(l, "ipgreylist")) ipgreylist(l, &f);
  else if (PROGIS(l, "rcptcheck")) rcptcheck(l, &f);
  else if (PROGIS(l, "greetdelay")) {
    if (ACTIS(l, "early")) bump(C_EARLY, 1);
    else if (ACTIS(l, "hangup")) bump(C_HANGUP, 1);
  } else if (PROGIS(l, "starttlsd") && ACTIS(l, "tls")) {
    if (f.version.key) bump(C_TLS, 1);
    else if (f.result.key) bump(C_TLSFAIL, 1);
  }
}

static void tcpserver(const nj_logline *l)
{
  nj_tcpline t;
  char pid[ULONG_FMT];
  switch (nj_log_tcpserver(l, &t)) {
    case NJ_TCP_OK:
      bump(C_TCPOK, 1);
      session(t.ip, t.iplen, pid, ulong_fmt(pid, t.pid));
      break;
    case NJ_TCP_DENY:
      bump(C_TCPDENY, 1);
      session(t.ip, t.iplen, pid, ulong_fmt(pid, t.pid));
      break;
  }
}

/* In the period? Unstamped lines have the time of the last stamp before
 * them; with -b, -e or -d, none before the first stamp counts. */
static int inperiod(const nj_logline *l)
{
  if (l->stamped) { now_t = l->secs; timed = 1; }
  if (!timed) return !opt.hasbegin && !opt.hasend && !opt.perday;
  if (opt.hasbegin && now_t < opt.begin) return 0;
  if (opt.hasend && now_t >= opt.end) return 0;
  return 1;
}

static void line(const nj_logline *l, int r, void *aux)
{
  (void)aux;
  if (!inperiod(l)) return;
  if (opt.perday && timed) cur = day_of(nj_day(now_t));
  bump(C_LINES, 1);
  seen(&total);
  if (cur) seen(cur);
  if (r == NJ_LOG_BAD) bump(C_BAD, 1);
  else if (r == NJ_LOG_DECISION) decision(l);
  else if (l->prog && PROGIS(l, "tcpserver")) tcpserver(l);
}

/* ------------------------------------------------------------ input */

static char inbuf[READSIZE];

/* ------------------------------------------------------------ output */

static stralloc out = STRALLOC_ZERO;

static void put(const char *s) { if (!stralloc_cats(&out, s)) nomem(); }
static void putn(const char *s, size_t n) { if (!stralloc_catb(&out, s, n)) nomem(); }
static void putu(unsigned long n) { char b[ULONG_FMT]; putn(b, ulong_fmt(b, n)); }
static void putpad(const char *s, size_t w) { size_t n = strlen(s); put(s); while (n++ < w) put(" "); }

static void pututc(int64_t t)
{
  char b[NJ_UTCFMT];
  putn(b, nj_utc_fmt(b, t));
}

/* n of d as a percentage with one decimal ("25.0") */
static void putpct(unsigned long n, unsigned long d)
{
  unsigned long long x = d ? ((unsigned long long)n * 1000 + d / 2) / d : 0;
  char b[2] = { (char)('0' + x % 10), 0 };
  putu((unsigned long)(x / 10));
  put(".");
  put(b);
}

static void putdur(int64_t s)
{
  char b[NJ_DL_DURFMT];
  putn(b, nj_dl_dur(b, s));
}

static void flush(void)
{
  if (buffer_putflush(buffer_1, out.s, out.len) < 0) strerr_diefu1sys(111, "write to stdout");
  out.len = 0;
}

/* The text report of one period: what came in, what was refused and
 * why, what passed, the delay and its histogram, every reply. */
static const struct { const char *prog, *what; unsigned int c; } refusal_rows[] = {
  { "greetdelay", "early talkers (554)", C_EARLY },
  { "greetdelay", "left during the pause", C_HANGUP },
  { "ipgreylist", "greylisted, new (451)", C_NEW },
  { "ipgreylist", "greylisted, too soon (451)", C_TOOSOON },
  { "ipgreylist", "observe mode, would 451", C_WOULD },
  { "ipgreylist", "refused by GREYLIST", C_GLREFUSED },
  { "ipgreylist", "no usable address", C_BADIP },
  { "ipgreylist", "state errors", C_GLERROR },
  { "rcptcheck", "unknown users (550)", C_REJECT },
  { "rcptcheck", "dictionary cuts (421)", C_LIMIT },
  { "rcptcheck", "recipients deferred (451)", C_DEFER },
  { "rcptcheck", "triplets, new (451)", C_TRIPNEW },
  { "rcptcheck", "triplets, too soon (451)", C_TRIPSOON },
  { "rcptcheck", "null sender, at DATA (451)", C_TRIPNULL },
  { "rcptcheck", "triplets blacklisted (550)", C_TRIPBLACK },
  { "rcptcheck", "triplets, state errors (451)", C_TRIPFAIL },
  { "rcptcheck", "observe mode, would 451", C_TRIPWOULD451 },
  { "rcptcheck", "observe mode, would 550", C_TRIPWOULD550 },
  { "tcpserver", "deny (tcprules)", C_TCPDENY },
}, pass_rows[] = {
  { "ipgreylist", "regulars gained", C_PROMOTED },
  { "ipgreylist", "regulars let in", C_REGULAR },
  { "ipgreylist", "whitelisted", C_WHITELISTED },
  { "ipgreylist", "relay clients", C_RELAYCLIENT },
  { "rcptcheck", "triplets passed", C_TRIPPASS },
  { "rcptcheck", "... first passes (promoted)", C_TRIPPROMOTED },
  { "rcptcheck", "by a learned pair", C_TRIPPAIR },
  { "rcptcheck", "triplets whitelisted", C_TRIPWHITE },
  { "rcptcheck", "state errors, failed open", C_TRIPOPEN },
  { "rcptcheck", "null sender, decided at DATA", C_TRIPTODATA },
};

static void row(const char *prog, const char *what, unsigned long n)
{
  put("  ");
  putpad(prog, 12);
  putpad(what, 32);
  putu(n);
  put("\n");
}

static void text_head(const period *p)
{
  char d[NJ_DATEFMT];
  put(PROG);
  if (p->day >= 0) { put(": day "); putn(d, nj_date_fmt(d, p->day)); }
  if (p->first) { put(p->day >= 0 ? ", " : ": "); pututc(p->first); put(" to "); pututc(p->last); }
  else if (p->day < 0) put(": no stamped lines");
  put("\n  lines "); putu(p->c[C_LINES]); put(" (bad "); putu(p->c[C_BAD]); put(")\n");
  put("  sessions "); putu(p->c[C_SESSIONS]);
  put(" (tcpserver ok "); putu(p->c[C_TCPOK]); put(", deny "); putu(p->c[C_TCPDENY]); put(")\n");
  put("  TLS "); putu(p->c[C_TLS]); put(" ("); putpct(p->c[C_TLS], p->c[C_SESSIONS]);
  put("% of sessions; "); putu(p->c[C_TLSFAIL]); put(" handshakes failed)\n");
  put("  messages accepted "); putu(p->c[C_MSGS]); put(" in "); putu(p->c[C_MSGSESS]); put(" sessions\n");
}

static void text_hist(const nj_delays *d)
{
  unsigned long bin[NJ_DL_BINS], max = 0;
  unsigned int i, k;
  nj_dl_bins(d, bin);
  for (i = 0; i < NJ_DL_BINS; i++) if (bin[i] > max) max = bin[i];
  for (i = 0; i < NJ_DL_BINS; i++) {
    unsigned int w = nj_dl_bar(bin[i], max, 40);
    put("  ");
    putpad(nj_dl_label[i], 8);
    put("|");
    for (k = 0; k < 40; k++) put(k < w ? "#" : " ");
    put(" ");
    putu(bin[i]);
    put("\n");
  }
}

static void text_delay(const period *p)
{
  const nj_delays *d = &p->delays;
  put("greylist delay (first 451 to first pass, per key)\n  passed ");
  putu(d->count);
  put(": median "); putdur(nj_dl_pct(d, 50));
  put(", p90 "); putdur(nj_dl_pct(d, 90));
  put(", max "); putdur(d->max);
  put("\n  never came back "); putu(p->c[C_NEVER]);
  put(" (untracked "); putu(p->c[C_UNTRACKED]);
  put(", delay from the record's age "); putu(p->c[C_FROMAGE]); put(")\n");
  text_hist(d);
  d = &p->tdelays;
  if (!d->count && !p->c[C_TRIP451]) return;
  put("triplet delay (rcptcheck: first 451 to first pass, per triplet)\n  passed ");
  putu(d->count);
  put(": median "); putdur(nj_dl_pct(d, 50));
  put(", p90 "); putdur(nj_dl_pct(d, 90));
  put(", max "); putdur(d->max);
  put("\n  never came back "); putu(p->c[C_TRIPNEVER]);
  put(" (delay from the record's age "); putu(p->c[C_TRIPFROMAGE]); put(")\n");
  text_hist(d);
}

static void text_one(const period *p)
{
  unsigned int i;
  text_head(p);
  put("refused\n");
  for (i = 0; i < sizeof refusal_rows / sizeof *refusal_rows; i++)
    row(refusal_rows[i].prog, refusal_rows[i].what, p->c[refusal_rows[i].c]);
  put("let through\n");
  for (i = 0; i < sizeof pass_rows / sizeof *pass_rows; i++)
    row(pass_rows[i].prog, pass_rows[i].what, p->c[pass_rows[i].c]);
  text_delay(p);
  put("replies by program and action\n");
  for (i = 0; i < p->nacts; i++) {
    put("  ");
    putpad(p->acts[i].name, 42);
    putu(p->acts[i].n);
    put("\n");
  }
  if (p->actother) { put("  (others) "); putu(p->actother); put("\n"); }
}

static void text(void)
{
  unsigned int i;
  for (i = 0; i < ndays; i++) { text_one(days[i]); put("\n"); }
  if (ndays) put("all days\n");
  text_one(&total);
}

/* JSON: {"total": PERIOD, "days": [PERIOD...]} */
/* A JSON string: a reply's code is a log value, which may hold a quote
 * or a backslash (escaped); nothing else needs it (printable ASCII). */
static void json_str(const char *s)
{
  put("\"");
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') put("\\");
    putn(s, 1);
  }
  put("\"");
}

static void json_delay(const char *name, const nj_delays *d, unsigned long never)
{
  unsigned long bin[NJ_DL_BINS];
  unsigned int i;
  json_str(name);
  put(":{\"count\":"); putu(d->count);
  put(",\"median\":"); putu((unsigned long)nj_dl_pct(d, 50));
  put(",\"p90\":"); putu((unsigned long)nj_dl_pct(d, 90));
  put(",\"max\":"); putu((unsigned long)d->max);
  put(",\"never_came_back\":"); putu(never);
  put(",\"histogram\":[");
  nj_dl_bins(d, bin);
  for (i = 0; i < NJ_DL_BINS; i++) {
    if (i) put(",");
    put("{\"bin\":"); json_str(nj_dl_label[i]);
    put(",\"from\":"); putu((unsigned long)nj_dl_edge[i]);
    put(",\"count\":"); putu(bin[i]); put("}");
  }
  put("]}");
}

static void json_one(const period *p)
{
  char d[NJ_DATEFMT], t[NJ_UTCFMT];
  unsigned int i;
  put("{");
  if (p->day >= 0) { nj_date_fmt(d, p->day); put("\"day\":"); json_str(d); put(","); }
  if (p->first) {
    nj_utc_fmt(t, p->first); put("\"from\":"); json_str(t);
    nj_utc_fmt(t, p->last); put(",\"to\":"); json_str(t); put(",");
  }
  put("\"counts\":{");
  for (i = 0; i < C_N; i++) {
    if (i) put(",");
    json_str(cname[i]); put(":"); putu(p->c[i]);
  }
  put("},\"tls_share\":"); putpct(p->c[C_TLS], p->c[C_SESSIONS]);
  put(",");
  json_delay("delay", &p->delays, p->c[C_NEVER]);
  put(",");
  json_delay("triplet_delay", &p->tdelays, p->c[C_TRIPNEVER]);
  put(",\"replies\":{");
  for (i = 0; i < p->nacts; i++) {
    if (i) put(",");
    json_str(p->acts[i].name); put(":"); putu(p->acts[i].n);
  }
  if (p->actother) { put(p->nacts ? "," : ""); put("\"(others)\":"); putu(p->actother); }
  put("}}");
}

static void json(void)
{
  unsigned int i;
  put("{\"total\":");
  json_one(&total);
  put(",\"days\":[");
  for (i = 0; i < ndays; i++) { if (i) put(","); json_one(days[i]); }
  put("]}\n");
}

/* -p FILE.png: the histogram of the whole period drawn by gnuplot, its
 * script on a pipe, the picture on its stdout into FILE.tmp, renamed
 * into place when gnuplot succeeded. */
static void png_script(void)
{
  unsigned long bin[NJ_DL_BINS];
  unsigned int i;
  nj_dl_bins(&total.delays, bin);
  put("set terminal png size 800,480\nset output\n$d << EOD\n");
  for (i = 0; i < NJ_DL_BINS; i++) { json_str(nj_dl_label[i]); put(" "); putu(bin[i]); put("\n"); }
  put("EOD\nset title \"greylist delay, first 451 to first pass: ");
  putu(total.delays.count); put(" keys, median "); putdur(nj_dl_pct(&total.delays, 50));
  put(", p90 "); putdur(nj_dl_pct(&total.delays, 90)); put(", max "); putdur(total.delays.max);
  put("\"\nset style fill solid 0.8\nset boxwidth 0.8\nset yrange [0:*]\nset ylabel \"keys\"\n"
      "set xlabel \"delay\"\nplot $d using 0:2:xtic(1) with boxes notitle\n");
}

static void png(const char *file)
{
  stralloc tmp = STRALLOC_ZERO;
  int p[2], fd, wstat;
  pid_t pid;
  if (!stralloc_cats(&tmp, file) || !stralloc_cats(&tmp, ".tmp") || !stralloc_0(&tmp)) nomem();
  fd = open(tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) strerr_diefu2sys(111, "create ", tmp.s);
  if (pipe(p) < 0) strerr_diefu1sys(111, "make a pipe");
  pid = fork();
  if (pid < 0) strerr_diefu1sys(111, "fork");
  if (!pid) {
    char const *argv[] = { "gnuplot", 0 };
    if (dup2(p[0], 0) < 0 || dup2(fd, 1) < 0) _exit(111);
    close(p[1]);
    execvp(argv[0], (char *const *)argv);
    strerr_diefu1sys(111, "exec gnuplot (Debian: apt-get install gnuplot-nox)");
  }
  close(p[0]);
  close(fd);
  png_script();
  if (allwrite(p[1], out.s, out.len) < out.len) strerr_diefu1sys(111, "write to gnuplot");
  out.len = 0;
  close(p[1]);
  if (waitpid(pid, &wstat, 0) < 0) strerr_diefu1sys(111, "wait for gnuplot");
  if (!WIFEXITED(wstat) || WEXITSTATUS(wstat)) {
    unlink(tmp.s);
    strerr_dief2x(111, "gnuplot failed: no picture written to ", file);
  }
  if (rename(tmp.s, file) < 0) strerr_diefu4sys(111, "rename ", tmp.s, " to ", file);
  stralloc_free(&tmp);
}

/* ------------------------------------------------------------ main */

static int64_t parse_time(char o, const char *s)
{
  int64_t t;
  unsigned long u;
  if (s[0] == '@' && strlen(s) == NJ_TAI64N && nj_tai64n_scan(s, NJ_TAI64N, &t)) return t;
  if (nj_utc_scan(s, &t)) return t;
  if (strlen(s) == 10 && nj_date_scan(s, 10, &t)) return t * NJ_DAYSECS;
  if (nj_ulong_parse(s, 0, (unsigned long)NJ_SECS_MAX, &u)) return (int64_t)u;
  {
    char os[2] = { o, 0 };
    strerr_dief3x(100, "option -", os, " needs YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, Unix seconds or an @tai64n label");
  }
}

static void options(int argc, char const *const *argv, int *ind)
{
  subgetopt l = SUBGETOPT_ZERO;
  for (;;) {
    int o = subgetopt_r(argc, argv, "s:b:e:djp:", &l);
    if (o == -1) break;
    switch (o) {
      case 's': opt.dir = l.arg; break;
      case 'b': opt.begin = parse_time('b', l.arg); opt.hasbegin = 1; break;
      case 'e': opt.end = parse_time('e', l.arg); opt.hasend = 1; break;
      case 'd': opt.perday = 1; break;
      case 'j': opt.json = 1; break;
      case 'p': opt.png = l.arg; break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  *ind = l.ind;
}

int main(int argc, char const *const *argv)
{
  int ind;
  stralloc names = STRALLOC_ZERO;
  genalloc list = GENALLOC_ZERO;

  nj_version_opt(argc, argv);
  options(argc, argv, &ind);
  argc -= ind;
  argv += ind;
  period_init(&total, -1);
  keys = calloc(KEYMAX, sizeof *keys);
  sessions = calloc(SESSSETS * SESSWAYS, sizeof *sessions);
  if (!keys || !sessions) nomem();

  if (!argc && opt.dir) {
    nj_svc_logs(opt.dir, &names, &list);
    nj_log_readfiles((int)genalloc_len(char *, &list), (char const *const *)genalloc_s(char *, &list),
                     inbuf, sizeof inbuf, &line, 0);
  } else nj_log_readfiles(argc, argv, inbuf, sizeof inbuf, &line, 0);
  genalloc_free(char *, &list);
  stralloc_free(&names);
  never_back();

  if (opt.json) json();
  else text();
  flush();
  if (opt.png) png(opt.png);
  return 0;
}
