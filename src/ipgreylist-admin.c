/* SPDX-License-Identifier: ISC */
/* ipgreylist-admin: greylist entries by hand. Lists the records (with
 * their age and what the chain would do with each now), shows one,
 * makes a key a regular now (with an optional expiry), removes one; for
 * every key kind, through the store interface (gladmin.h), so that the
 * files and another backend are handled alike. See
 * doc/ipgreylist-admin.8.
 *
 *   ipgreylist-admin [ -s servicedir ] [ -d dir ] [ -H host ] [ -u time ]
 *                    list [ STATE | KIND ]... | show KEY | add KEY | remove KEY */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <skalibs/buffer.h>
#include <skalibs/sgetopt.h>
#include <skalibs/stralloc.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include "najimi.h"
#include "greylist.h"
#include "gladmin.h"

#define USAGE "ipgreylist-admin [ -s servicedir ] [ -d dir ] [ -H host ] [ -u time ] list [ pending|regular|corrupt|ip|net|name|trip|pair ]... | show key | add key | remove key"

const char *PROG = "ipgreylist-admin";

static struct {
  const char *svc, *dir, *host;
  int64_t until;
  int hasuntil;
} opt;
static nj_glpolicy pol;
static int64_t now;
static nj_gladmin *store;

/* ------------------------------------------------------------ keys */

/* KEY as given: an address (the key the chain gives it, with -H its
 * name key), a network ADDR/LEN, a canonical text (ip:, net:, name:,
 * trip:, pair:), or a record's file name. */
static void key_of(const char *s, nj_glkey *k)
{
  nj_ip ip;
  unsigned int len;
  if (nj_ip_parse(s, &ip)) {
    nj_glkeyconf kc;
    nj_glkey seed;
    int hasseed, why;
    nj_gl_keyconf_env(&kc, 0);
    nj_gl_client(k, &seed, &hasseed, &ip, opt.host, &kc, &why);
    return;
  }
  if (!strncmp(s, "name:", 5) || !strncmp(s, "trip:", 5) || !strncmp(s, "pair:", 5)) {
    if (!nj_gl_hashkey(k, s, strlen(s))) strerr_dief2x(100, "not a canonical key text: ", s);
    return;
  }
  if (!strncmp(s, "ip:", 3) || !strncmp(s, "net:", 4) || strchr(s, '/')) {
    const char *a = !strncmp(s, "ip:", 3) ? s + 3 : !strncmp(s, "net:", 4) ? s + 4 : s;
    if (!nj_cidr_parse(a, &ip, &len) || len < NJ_GL_V4MIN)
      strerr_dief2x(100, "not an address or network for a key: ", s);
    nj_gl_key(k, &ip, len, len);
    return;
  }
  if (!nj_gl_name_parse(s, 0, 0, k)) strerr_dief2x(100, "not a key, address or record name: ", s);
}

/* ------------------------------------------------------------ output */

static void put(const char *s)
{
  if (buffer_puts(buffer_1, s) < 0) strerr_diefu1sys(111, "write to stdout");
}

static void putnum(const char *key, int64_t v)
{
  char b[ULONG_FMT];
  put(key);
  b[ulong_fmt(b, (unsigned long)(v < 0 ? 0 : v))] = 0;
  put(b);
}

static void pututc(const char *key, int64_t t)
{
  char b[NJ_UTCFMT];
  put(key);
  if (!t) { put("-"); return; }
  nj_utc_fmt(b, t);
  put(b);
}

/* One line: key=TEXT state= count= first= last= age= next= left= until= file= */
static void show_line(const nj_glkey *k, const nj_glrec *r)
{
  char where[600], word[32];
  nj_glnow n;
  size_t i;
  nj_gl_now(r, &pol, now, &n);
  put("key=");
  put(k->textlen ? k->text : r->textlen ? r->text : k->name);
  put(" state="); put(n.state);
  if (r->found == NJ_GL_PENDING || r->found == NJ_GL_REGULAR) {
    putnum(" count=", (int64_t)r->count);
    pututc(" first=", r->first);
    pututc(" last=", r->last);
    putnum(" age=", n.age);
  }
  for (i = 0; n.next[i] && i < sizeof word - 1; i++) word[i] = n.next[i] == ' ' ? '-' : n.next[i];
  word[i] = 0;
  put(" next="); put(word);
  if (n.left) { putnum(" left=", n.left); pututc(" until=", now + n.left); }
  store->s->where(store->s, k, where, sizeof where);
  put(" file=");
  put(where);
  put("\n");
}

/* ------------------------------------------------------------ list */

#define F_STATE 1
#define F_KIND 2
typedef struct filter_s { unsigned int have; unsigned int states, kinds; unsigned long n; } filter;

static unsigned int state_bit(int found)
{
  return found == NJ_GL_PENDING ? 1 : found == NJ_GL_REGULAR ? 2 : 4;
}

static void filter_word(filter *f, const char *w)
{
  static const char *const kinds[] = { "", "ip", "net", "name", "trip", "pair" };
  unsigned int i;
  if (!strcmp(w, "pending")) { f->states |= 1; f->have |= F_STATE; return; }
  if (!strcmp(w, "regular")) { f->states |= 2; f->have |= F_STATE; return; }
  if (!strcmp(w, "corrupt")) { f->states |= 4; f->have |= F_STATE; return; }
  for (i = 1; i < sizeof kinds / sizeof *kinds; i++)
    if (!strcmp(w, kinds[i])) { f->kinds |= 1U << i; f->have |= F_KIND; return; }
  strerr_dief3x(100, "list: unknown filter ", w, " (pending, regular, corrupt, ip, net, name, trip, pair)");
}

static int list_one(const nj_glkey *k, const nj_glrec *r, void *aux)
{
  filter *f = aux;
  if ((f->have & F_STATE) && !(f->states & state_bit(r->found))) return 0;
  if ((f->have & F_KIND) && !(f->kinds & (1U << k->kind))) return 0;
  show_line(k, r);
  f->n++;
  return 0;
}

static void cmd_list(nj_gladmin *a, int argc, char const *const *argv)
{
  filter f = { 0, 0, 0, 0 };
  int i, e;
  for (i = 0; i < argc; i++) filter_word(&f, argv[i]);
  e = a->list(a, &list_one, &f);
  if (e) { errno = e; strerr_diefu2sys(111, "list ", a->name); }
}

/* ------------------------------------------------------------ the others */

static void read_key(nj_gladmin *a, const nj_glkey *k, nj_glrec *r)
{
  int e = a->s->read(a->s, k, r);
  if (e) { errno = e; strerr_diefu4sys(111, "read the record of ", k->name, " in ", a->name); }
}

static void cmd_show(nj_gladmin *a, const nj_glkey *k)
{
  nj_glrec r;
  int e = a->peek(a, k, &r);
  if (e) { errno = e; strerr_diefu4sys(111, "read the record of ", k->name, " in ", a->name); }
  show_line(k, &r);
}

/* A regular now: its LAST now (or, with -u, so far back that it lapses
 * at that time unless it connects again), its first sighting kept. */
static void cmd_add(nj_gladmin *a, const nj_glkey *k)
{
  nj_glrec cur, r;
  int64_t when = now;
  int e;
  if (opt.hasuntil) {
    if (opt.until <= now) strerr_dief1x(100, "-u: the expiry is not in the future");
    if (opt.until - now > pol.lifetime)
      strerr_dief1x(100, "-u: the expiry is beyond GREYLIST_LIFETIME from now (a longer one belongs in the whitelist)");
    when = opt.until - pol.lifetime;
  }
  read_key(a, k, &cur);
  memset(&r, 0, sizeof r);
  r.found = NJ_GL_REGULAR;
  r.version = NJ_GL_VERSION;
  r.first = (cur.found == NJ_GL_PENDING || cur.found == NJ_GL_REGULAR) && cur.first ? cur.first : now;
  if (r.first > when) r.first = when;
  r.last = when;
  r.when.tv_sec = (time_t)when;
  e = a->s->write(a->s, k, NJ_GLW_KEEP, &r);
  if (e) { errno = e; strerr_diefu4sys(111, "write the record of ", k->name, " in ", a->name); }
  read_key(a, k, &r);
  put("added ");
  show_line(k, &r);
}

static void cmd_remove(nj_gladmin *a, const nj_glkey *k)
{
  int had, e = a->remove(a, k, &had);
  if (!e && !had) { put("no record: "); put(k->textlen ? k->text : k->name); put("\n"); return; }
  if (e) { errno = e; strerr_diefu4sys(111, "remove the record of ", k->name, " in ", a->name); }
  put("removed key=");
  put(k->textlen ? k->text : k->name);
  put("\n");
}

/* ------------------------------------------------------------ main */

/* As root, the state's owner: the records and directories made here
 * must stay the service's. */
static void become_owner(const char *dir)
{
  struct stat st;
  gid_t g;
  if (geteuid() || stat(dir, &st) < 0 || !st.st_uid) return;
  g = st.st_gid;
  if (setgroups(1, &g) < 0 || setgid(st.st_gid) < 0 || setuid(st.st_uid) < 0)
    strerr_diefu2sys(111, "become the owner of ", dir);
}

static void options(int argc, char const *const *argv, int *ind)
{
  subgetopt l = SUBGETOPT_ZERO;
  for (;;) {
    int o = subgetopt_r(argc, argv, "s:d:H:u:", &l);
    if (o == -1) break;
    switch (o) {
      case 's': opt.svc = l.arg; break;
      case 'd': opt.dir = l.arg; break;
      case 'H': opt.host = l.arg; break;
      case 'u':
        if (!nj_utc_scan(l.arg, &opt.until)) {
          int64_t day;
          if (strlen(l.arg) != 10 || !nj_date_scan(l.arg, 10, &day))
            strerr_dief1x(100, "-u needs YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
          opt.until = (day + 1) * NJ_DAYSECS;   /* the end of that day */
        }
        opt.hasuntil = 1;
        break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  *ind = l.ind;
}

/* The state directory: -d, else GREYLISTDIR (of the service's env/ with
 * -s), else ipgreylist's -d in the service's run. */
static const char *state_dir(nj_svcrun *run)
{
  const char *d = getenv("GREYLISTDIR");
  if (opt.dir) return opt.dir;
  if (d && *d) return d;
  return opt.svc ? run->gldir : 0;
}

int main(int argc, char const *const *argv)
{
  int ind;
  const char *cmd;
  nj_svcrun run;
  nj_gladmin a;
  nj_glkey k;

  nj_version_opt(argc, argv);
  options(argc, argv, &ind);
  argc -= ind;
  argv += ind;
  if (!argc) strerr_dieusage(100, USAGE);
  cmd = argv[0];
  memset(&run, 0, sizeof run);
  if (opt.svc) {
    nj_svc_env(opt.svc);
    nj_svc_run(opt.svc, &run);
    if (chdir(opt.svc) < 0) strerr_diefu2sys(111, "chdir to ", opt.svc);
  }
  nj_gl_policy_env(&pol);
  now = (int64_t)time(0);
  nj_gladmin_open(&a, state_dir(&run), &pol);
  store = &a;
  if (!a.isredis) become_owner(a.name);

  if (!strcmp(cmd, "list")) cmd_list(&a, argc - 1, argv + 1);
  else {
    if (argc != 2) strerr_dieusage(100, USAGE);
    key_of(argv[1], &k);
    if (!strcmp(cmd, "show")) cmd_show(&a, &k);
    else if (!strcmp(cmd, "add")) cmd_add(&a, &k);
    else if (!strcmp(cmd, "remove")) cmd_remove(&a, &k);
    else strerr_dieusage(100, USAGE);
  }
  nj_gladmin_close(&a);
  stralloc_free(&run.text);
  if (!buffer_flush(buffer_1)) strerr_diefu1sys(111, "write to stdout");
  return 0;
}
