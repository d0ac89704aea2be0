/* SPDX-License-Identifier: ISC */
/* triplet.c: triplet greylisting's pure parts (triplet.h): the key parts
 * of a sender and a recipient, the triplet and learned-pair keys, a line
 * of control/greylist-triplets and its cdb record, and the list lookups
 * (tinycdb). */
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <skalibs/sha256.h>
#include <skalibs/fmtscan.h>
#include <skalibs/types.h>
#include <cdb.h>
#include "najimi.h"
#include "greylist.h"
#include "triplet.h"

/* ------------------------------------------------------------ key parts */

static char lower(char c)
{
  return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* A part too long for a key: '#' and the SHA-256 of the text in hex. */
static size_t hashed(char *out, const char *s, size_t n)
{
  SHA256Schedule ctx = SHA256_INIT();
  char digest[32];
  sha256_update(&ctx, s, n);
  sha256_final(&ctx, digest);
  out[0] = '#';
  ucharn_fmt(out + 1, digest, sizeof digest);
  out[65] = 0;
  return 65;
}

/* The BATV tag's length at the start of a local part (n bytes):
 * "prvs=TAG=" or "msprvs1=TAG=", else 0. */
static size_t batv(const char *s, size_t n)
{
  static const char *const word[] = { "prvs=", "msprvs1=" };
  size_t i;
  for (i = 0; i < sizeof word / sizeof word[0]; i++) {
    size_t w = strlen(word[i]);
    const char *eq;
    if (n <= w || memcmp(s, word[i], w)) continue;
    eq = memchr(s + w, '=', n - w);
    if (eq && eq > s + w && (size_t)(eq + 1 - s) < n) return (size_t)(eq + 1 - s);
  }
  return 0;
}

static int alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* 1 when a number standing alone starts at s[i] in the local part
 * s[from..to): digits with no letter or digit just before or after them
 * (bounce-12345-67, not user2); *len its length. */
static int number(const char *s, size_t from, size_t to, size_t i, size_t *len)
{
  size_t j = i;
  if (i > from && alnum(s[i - 1])) return 0;
  while (j < to && s[j] >= '0' && s[j] <= '9') j++;
  if (j == i || (j < to && alnum(s[j]))) return 0;
  *len = j - i;
  return 1;
}

/* The address lower-cased and sanitised into buf (room for n + 1):
 * its length. */
static size_t clean(char *buf, const char *addr, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)addr[i];
    buf[i] = c < 0x21 || c > 0x7e ? '?' : lower((char)c);
  }
  buf[n] = 0;
  return n;
}

size_t nj_tr_sender(char *out, const char *addr, size_t n)
{
  char buf[NJ_TR_PARTMAX + 1];
  const char *at;
  size_t w = 0, i, local, skip, digits;
  if (!n) { memcpy(out, NJ_TR_NULL, sizeof NJ_TR_NULL); return sizeof NJ_TR_NULL - 1; }
  if (n > 2 * NJ_TR_PARTMAX) return hashed(out, addr, n);
  {
    char low[2 * NJ_TR_PARTMAX + 1];
    clean(low, addr, n);
    at = 0;
    for (i = n; i > 0; i--) if (low[i - 1] == '@') { at = low + i - 1; break; }
    local = at ? (size_t)(at - low) : n;
    skip = batv(low, local);
    for (i = skip; i < n; i++) {
      if (i < local && number(low, skip, local, i, &digits)) {
        if (w == NJ_TR_PARTMAX) return hashed(out, addr, n);
        buf[w++] = '#';
        i += digits - 1;
        continue;
      }
      if (w == NJ_TR_PARTMAX) return hashed(out, addr, n);
      buf[w++] = low[i];
    }
  }
  memcpy(out, buf, w);
  out[w] = 0;
  return w;
}

size_t nj_tr_rcpt(char *out, const char *addr, size_t n)
{
  if (n > NJ_TR_PARTMAX) return hashed(out, addr, n);
  return clean(out, addr, n);
}

const char *nj_tr_domain(const char *part)
{
  const char *at = strrchr(part, '@');
  if (!strcmp(part, NJ_TR_NULL) || !at || !at[1]) return 0;
  return at + 1;
}

/* "WORD:" and the parts, ':' between them, into k. */
static int textkey(nj_glkey *k, const char *word, const char *a, const char *b, const char *c)
{
  char text[NJ_GL_TEXTMAX + 1];
  const char *part[3] = { a, b, c };
  size_t n = strlen(word), i;
  memcpy(text, word, n);
  for (i = 0; i < 3 && part[i]; i++) {
    size_t l = strlen(part[i]);
    if (n + 1 + l > NJ_GL_TEXTMAX) return 0;
    text[n++] = ':';
    memcpy(text + n, part[i], l);
    n += l;
  }
  return nj_gl_hashkey(k, text, n);
}

static const char *client_part(const nj_glkey *client)
{
  return client ? nj_gl_keypart(client) : "unknown";
}

int nj_tr_tripkey(nj_glkey *k, const nj_glkey *client, const char *from, const char *rcpt)
{
  return textkey(k, "trip", client_part(client), from, rcpt);
}

int nj_tr_pairkey(nj_glkey *k, const nj_glkey *client, const char *from)
{
  const char *dom = strcmp(from, NJ_TR_NULL) ? nj_tr_domain(from) : NJ_TR_NULL;
  if (!dom) return 0;
  return textkey(k, "pair", dom, client_part(client), 0);
}

/* ---------------------------------------------------------------- lists */

/* A client spec as the list stores it: "ADDR/LEN" canonical and masked,
 * or ".suffix" lower case. Its length in out (room for 300), 0 if bad. */
static size_t client_spec(char *out, const char *s, size_t n)
{
  char buf[300];
  nj_ip ip;
  unsigned int len;
  if (!n || n >= sizeof buf) return 0;
  memcpy(buf, s, n);
  buf[n] = 0;
  if (buf[0] == '.') return nj_wl_hostkey(out, 300, buf, 1);
  if (!nj_cidr_parse(buf, &ip, &len)) return 0;
  return nj_wl_netkey(out, &ip, len);
}

/* An address of a list entry: "@domain" or an address with a local part
 * and a domain, as a key part (from: nj_tr_sender; "<>" the null
 * sender). Its length in out, 0 if bad. */
static size_t addr_spec(char *out, const char *s, size_t n, int sender)
{
  const char *at = 0;
  size_t i;
  if (sender && n == 2 && !memcmp(s, NJ_TR_NULL, 2)) { memcpy(out, NJ_TR_NULL, 3); return 2; }
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x21 || c > 0x7e || c == '<' || c == '>') return 0;
    if (c == '@') at = s + i;
  }
  if (!at || at == s + n - 1 || n > NJ_TR_PARTMAX) return 0;
  if (at == s) return clean(out, s, n);
  return sender ? nj_tr_sender(out, s, n) : nj_tr_rcpt(out, s, n);
}

struct words {
  char kind;
  const char *client, *from, *to, *date;
  size_t nclient, nfrom, nto;
};

/* One word of a line: kind, a NAME=VALUE, or the date. */
static int word(struct words *w, const char *s, size_t n, const char **why)
{
  static const char *const name[] = { "client=", "from=", "to=" };
  const char **val[] = { &w->client, &w->from, &w->to };
  size_t *len[] = { &w->nclient, &w->nfrom, &w->nto };
  size_t i;
  if (!w->kind) {
    if (n == 5 && !memcmp(s, "white", 5)) w->kind = 'W';
    else if (n == 5 && !memcmp(s, "black", 5)) w->kind = 'B';
    else { *why = "the first word is not white or black"; return 0; }
    return 1;
  }
  for (i = 0; i < 3; i++) {
    size_t l = strlen(name[i]);
    if (n < l || memcmp(s, name[i], l)) continue;
    if (*val[i]) { *why = "a part given twice"; return 0; }
    if (n == l) { *why = "an empty part"; return 0; }
    *val[i] = s + l;
    *len[i] = n - l;
    return 1;
  }
  if (nj_wl_date_ok(s, n)) {
    if (w->date) { *why = "two dates"; return 0; }
    w->date = s;
    return 1;
  }
  *why = "not client=, from=, to= or a date YYYY-MM-DD";
  return 0;
}

/* Which form the parts make: 'c', 't', 's', 'x', or 0. */
static char form_of(const struct words *w, const char **why)
{
  if (w->client && !w->from && !w->to) return 'c';
  if (!w->client && !w->from && w->to) return 't';
  if (!w->client && w->from && w->to) return 's';
  if (w->client && w->from && w->to) return 'x';
  *why = w->from ? "from= needs to=" : w->client || w->to ? "client= with to= needs from="
                                                          : "no client=, from= or to=";
  return 0;
}

static int build(const struct words *w, nj_trentry *e, const char **why)
{
  char cl[300];
  size_t nc = 0, k;
  e->form = form_of(w, why);
  if (!e->form) return 0;
  if (w->client && !(nc = client_spec(cl, w->client, w->nclient))) {
    *why = "client= is not an IP address, a CIDR network or a .suffix";
    return 0;
  }
  e->key[0] = e->form;
  e->keylen = 1;
  if (e->form == 'c') { memcpy(e->key + 1, cl, nc); e->keylen += nc; }
  if (w->from) {
    k = addr_spec(e->key + e->keylen, w->from, w->nfrom, 1);
    if (!k) { *why = "from= is not an address, @domain or <>"; return 0; }
    e->keylen += k;
    e->key[e->keylen++] = ' ';
  }
  if (w->to) {
    k = addr_spec(e->key + e->keylen, w->to, w->nto, 0);
    if (!k) { *why = "to= is not an address or @domain"; return 0; }
    e->keylen += k;
  }
  e->val[0] = w->kind;
  e->vallen = 1;
  if (w->date) { memcpy(e->val + 1, w->date, 10); e->vallen += 10; }
  if (e->form == 'x') {
    e->val[e->vallen++] = ' ';
    memcpy(e->val + e->vallen, cl, nc);
    e->vallen += nc;
  }
  return 1;
}

int nj_tr_parse(const char *line, size_t n, nj_trentry *e, const char **why)
{
  struct words w;
  size_t i = 0;
  memset(&w, 0, sizeof w);
  while (i < n) {
    size_t j;
    while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i == n) break;
    for (j = i; j < n && line[j] != ' ' && line[j] != '\t'; j++) {}
    if (!word(&w, line + i, j - i, why)) return 0;
    i = j;
  }
  if (!w.kind) { *why = "an empty entry"; return 0; }
  return build(&w, e, why);
}

/* ------------------------------------------------------------- lookups */

int nj_tr_list_open(nj_trlist *l, const char *file, time_t now)
{
  static const char form[4] = { 'c', 't', 's', 'x' };
  int i, e;
  l->fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  l->forms = 0;
  l->client = NJ_TRL_NONE;
  l->client_done = 0;
  if (l->fd < 0) return errno;
  if (cdb_init(&l->c, l->fd) < 0) {
    e = errno == EINVAL || errno == ENOTSUP || errno == ENODEV || !errno ? EPROTO : errno;
    close(l->fd);
    l->fd = -1;
    return e;
  }
  nj_wl_today(l->today, now);
  for (i = 0; i < 4; i++) {
    char k[2] = { '#', form[i] };
    if (cdb_find(&l->c, k, 2) > 0) l->forms |= 1 << i;
  }
  return 0;
}

void nj_tr_list_close(nj_trlist *l)
{
  if (l->fd < 0) return;
  cdb_free(&l->c);
  close(l->fd);
  l->fd = -1;
}

/* 1 when host (lower case, may be 0) lies under the ".suffix" or ip in
 * the network of a whole-triplet entry's client spec (n bytes). */
static int spec_matches(const char *spec, size_t n, const nj_ip *ip, const char *host)
{
  char buf[300];
  nj_ip net;
  unsigned int len;
  if (!n || n >= sizeof buf) return 0;
  if (spec[0] == '.') {
    size_t h = host ? strlen(host) : 0;
    return h > n && !memcmp(host + h - n, spec, n);
  }
  memcpy(buf, spec, n);
  buf[n] = 0;
  return ip && nj_cidr_parse(buf, &net, &len) && nj_ip_in(ip, &net, len);
}

/* Every value under key: the strongest live answer (black over white).
 * -1 on a bad value. */
static int find(nj_trlist *l, const char *key, size_t klen, int triplet,
                const nj_ip *ip, const char *host)
{
  struct cdb_find f;
  int r, best = NJ_TRL_NONE;
  if (cdb_findinit(&f, &l->c, key, (unsigned)klen) < 0) goto bad;
  while ((r = cdb_findnext(&f)) > 0) {
    unsigned vlen = cdb_datalen(&l->c);
    const char *v = cdb_getdata(&l->c);
    size_t d = 0, rest;
    int live;
    if (!v || !vlen || vlen > NJ_TR_VALMAX || (v[0] != 'W' && v[0] != 'B')) goto bad;
    if (vlen >= 11 && v[1] != ' ') d = 10;
    live = nj_wl_value_live(v + 1, d, l->today);
    if (live < 0) goto bad;
    rest = vlen - 1 - d;
    if (triplet && (rest < 2 || v[1 + d] != ' ')) goto bad;
    if (!triplet && rest) goto bad;
    if (!live || (triplet && !spec_matches(v + 2 + d, rest - 1, ip, host))) continue;
    if (v[0] == 'B') return NJ_TRL_BLACK;
    best = NJ_TRL_WHITE;
  }
  if (r < 0) goto bad;
  return best;
 bad:
  errno = EPROTO;
  return -1;
}

/* The client form: every prefix of ip from the longest, then each
 * suffix of host. */
static int client_form(nj_trlist *l, const nj_ip *ip, const char *host)
{
  char key[1 + 300];
  int r = NJ_TRL_NONE;
  key[0] = 'c';
  if (ip) {
    int len;
    for (len = ip->v6 ? 128 : 32; len >= 0 && !r; len--)
      r = find(l, key, 1 + nj_wl_netkey(key + 1, ip, (unsigned int)len), 0, 0, 0);
  }
  if (!r && host && *host) {
    size_t n = nj_wl_hostkey(key + 1, 300, host, 0), i;
    for (i = 2; i < 1 + n && !r; i++)
      if (key[i] == '.') {
        key[i - 1] = 'c';
        r = find(l, key + i - 1, 1 + n - (i - 1), 0, 0, 0);
      }
  }
  return r;
}

/* A two-address form (s, x): from and rcpt, each as given or as its
 * @domain; the first that answers. */
static int pair_form(nj_trlist *l, char letter, const nj_ip *ip, const char *host,
                     const char *from, const char *rcpt)
{
  const char *fv[2] = { from, strrchr(from, '@') }, *tv[2] = { rcpt, strrchr(rcpt, '@') };
  int i, j, r;
  for (i = 0; i < 2; i++)
    for (j = 0; j < 2; j++) {
      char key[NJ_TR_KEYMAX];
      size_t a, b;
      if (!fv[i] || !tv[j] || (i && fv[0] == fv[1]) || (j && tv[0] == tv[1])) continue;
      a = strlen(fv[i]);
      b = strlen(tv[j]);
      if (2 + a + b > sizeof key) continue;
      key[0] = letter;
      memcpy(key + 1, fv[i], a);
      key[1 + a] = ' ';
      memcpy(key + 2 + a, tv[j], b);
      r = find(l, key, 2 + a + b, letter == 'x', ip, host);
      if (r) return r;
    }
  return NJ_TRL_NONE;
}

int nj_tr_list_lookup(nj_trlist *l, const nj_ip *ip, const char *host,
                      const char *from, const char *rcpt, const char **form)
{
  char lowhost[256];
  int r = NJ_TRL_NONE;
  *form = 0;
  if (l->fd < 0) return NJ_TRL_NONE;
  if (host) {                             /* a name compares in lower case */
    size_t n = strlen(host);
    if (n >= sizeof lowhost) host = 0;
    else {
      clean(lowhost, host, n);
      host = lowhost;
    }
  }
  if ((l->forms & 8) && (r = pair_form(l, 'x', ip, host, from, rcpt))) { *form = "triplet"; return r; }
  if ((l->forms & 4) && (r = pair_form(l, 's', ip, host, from, rcpt))) { *form = "sender-rcpt"; return r; }
  if (l->forms & 2) {
    char key[1 + NJ_TR_PARTMAX + 1];
    const char *dom = strrchr(rcpt, '@');
    size_t n = strlen(rcpt);
    key[0] = 't';
    memcpy(key + 1, rcpt, n);
    r = find(l, key, 1 + n, 0, 0, 0);
    if (!r && dom && dom != rcpt) {
      n = strlen(dom);
      memcpy(key + 1, dom, n);
      r = find(l, key, 1 + n, 0, 0, 0);
    }
    if (r) { *form = "rcpt"; return r; }
  }
  if (!(l->forms & 1)) return NJ_TRL_NONE;
  if (!l->client_done) {
    l->client = client_form(l, ip, host);
    l->client_done = 1;
  }
  if (l->client) *form = "client";
  return l->client;
}
