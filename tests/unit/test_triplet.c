/* SPDX-License-Identifier: ISC */
/* test_triplet: unit tests of triplet.c: the sender's key part (case,
 * BATV, VERP numbers, the null sender, long addresses), the recipient's,
 * the triplet and pair key texts, the list line parser (every form, white
 * and black, dates, comments left to the reader, bad lines and why), and
 * the lookups through a cdb built here from parsed lines with tinycdb's
 * own cdb_make. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <cdb.h>
#include "check.h"
#include "najimi.h"
#include "greylist.h"
#include "triplet.h"

const char *PROG = "test_triplet";

static const char *sender(const char *a)
{
  static char out[NJ_TR_PARTMAX + 1];
  nj_tr_sender(out, a, strlen(a));
  return out;
}

static void test_sender(void)
{
  CHECK_EQ_STR("sender: lower case", sender("Alice@Example.ORG"), "alice@example.org");
  CHECK_EQ_STR("sender: null sender", sender(""), "<>");
  CHECK_EQ_STR("sender: BATV prvs= tag removed", sender("prvs=1234abcdef=bob@example.org"), "bob@example.org");
  CHECK_EQ_STR("sender: BATV in upper case", sender("PRVS=0123ABCDEF=Bob@Example.org"), "bob@example.org");
  CHECK_EQ_STR("sender: BATV with another tag, same key", sender("prvs=9999zzzzzz=bob@example.org"), "bob@example.org");
  CHECK_EQ_STR("sender: msprvs1= tag removed", sender("msprvs1=17abc=bounces@m.example"), "bounces@m.example");
  CHECK_EQ_STR("sender: VERP numbers become #", sender("bounce-12345-67@lists.example"), "bounce-#-#@lists.example");
  CHECK_EQ_STR("sender: another VERP number, same key", sender("bounce-9-888888@lists.example"), "bounce-#-#@lists.example");
  CHECK_EQ_STR("sender: digits in a word and in the domain stay", sender("a1@mx2.example"), "a1@mx2.example");
  CHECK_EQ_STR("sender: a number at the start or the end", sender("123.x.45@l.example"), "#.x.#@l.example");
  CHECK_EQ_STR("sender: a number next to a letter stays", sender("b-12a-3@l.example"), "b-12a-#@l.example");
  CHECK_EQ_STR("sender: numbers between = and +", sender("srs=99+7_1@l.example"), "srs=#+#_#@l.example");
  CHECK_EQ_STR("sender: BATV and VERP together", sender("prvs=1111aaaaaa=news-42@x.example"), "news-#@x.example");
  CHECK_EQ_STR("sender: prvs= with no tag end is kept", sender("prvs=abc@x.example"), "prvs=abc@x.example");
  CHECK_EQ_STR("sender: prvs=TAG= with an empty user is kept", sender("prvs=abc=@x.example"), "prvs=abc=@x.example");
  CHECK_EQ_STR("sender: no domain", sender("MAILER-DAEMON"), "mailer-daemon");
  CHECK_EQ_STR("sender: spaces and controls become ?", sender("a b\001@x.example"), "a?b?@x.example");
  {
    char a[401], out[NJ_TR_PARTMAX + 1];
    size_t n;
    memset(a, 'a', 400);
    memcpy(a + 390, "@x.example", 11);
    n = nj_tr_sender(out, a, 400);
    CHECK("sender: a long address is hashed to 65 bytes", n == 65 && out[0] == '#');
    a[0] = 'b';
    CHECK("sender: another long address, another hash", strcmp(sender(a), out) != 0);
  }
  CHECK_EQ_STR("domain of a sender", nj_tr_domain("bob@example.org"), "example.org");
  CHECK("no domain for the null sender", nj_tr_domain("<>") == 0);
  CHECK("no domain without @", nj_tr_domain("mailer-daemon") == 0);
}

static void test_keys(void)
{
  char r[NJ_TR_PARTMAX + 1];
  nj_glkey client, k, k2;
  nj_ip ip;
  nj_tr_rcpt(r, "Alice@Example.TEST", 18);
  CHECK_EQ_STR("rcpt: lower case", r, "alice@example.test");
  nj_ip_parse("203.0.113.9", &ip);
  nj_gl_key(&client, &ip, 24, 64);
  CHECK("triplet key", nj_tr_tripkey(&k, &client, "bob@example.org", "alice@example.test"));
  CHECK_EQ_STR("triplet text", k.text, "trip:203.0.113.0/24:bob@example.org:alice@example.test");
  CHECK("triplet kind", k.kind == NJ_GLK_TRIP && strlen(k.name) == 64);
  CHECK("pair key", nj_tr_pairkey(&k2, &client, "bob@example.org"));
  CHECK_EQ_STR("pair text", k2.text, "pair:example.org:203.0.113.0/24");
  CHECK("pair kind", k2.kind == NJ_GLK_PAIR);
  CHECK("the null sender's pair", nj_tr_pairkey(&k2, &client, "<>"));
  CHECK_EQ_STR("the null sender's pair text", k2.text, "pair:<>:203.0.113.0/24");
  CHECK("no pair for a sender without a domain", !nj_tr_pairkey(&k2, &client, "mailer-daemon") &&
        !nj_tr_pairkey(&k2, &client, "bob@"));
  CHECK("null sender's triplet", nj_tr_tripkey(&k, &client, "<>", "alice@example.test"));
  CHECK_EQ_STR("null sender's triplet text", k.text, "trip:203.0.113.0/24:<>:alice@example.test");
  CHECK("no client address", nj_tr_tripkey(&k, 0, "b@x.example", "a@y.example"));
  CHECK_EQ_STR("no client address: unknown", k.text, "trip:unknown:b@x.example:a@y.example");
  CHECK("name key client", nj_gl_hashkey(&client, "name:outlook.com", 16) &&
        nj_tr_tripkey(&k, &client, "b@x.example", "a@y.example"));
  CHECK_EQ_STR("name key triplet text", k.text, "trip:outlook.com:b@x.example:a@y.example");
}

/* parse LINE: 1 when it parses to key KEY (NULs shown as |) and value VAL */
static int parses(const char *line, const char *key, const char *val)
{
  nj_trentry e;
  const char *why;
  if (!nj_tr_parse(line, strlen(line), &e, &why)) { printf("    # %s: %s\n", line, why); return 0; }
  if (e.keylen != strlen(key) || memcmp(e.key, key, e.keylen) ||
      e.vallen != strlen(val) || memcmp(e.val, val, e.vallen)) {
    printf("    # got %.*s -> %.*s\n", (int)e.keylen, e.key, (int)e.vallen, e.val);
    return 0;
  }
  return 1;
}

static int refused(const char *line, const char *want)
{
  nj_trentry e;
  const char *why = 0;
  if (nj_tr_parse(line, strlen(line), &e, &why)) return 0;
  if (!strstr(why, want)) { printf("    # why: %s\n", why); return 0; }
  return 1;
}

static void test_parse(void)
{
  CHECK("client IP", parses("white client=192.0.2.9", "c192.0.2.9/32", "W"));
  CHECK("client CIDR, masked", parses("black client=192.0.2.77/24", "c192.0.2.0/24", "B"));
  CHECK("client IPv6", parses("white client=2001:DB8::1/64", "c2001:db8::/64", "W"));
  CHECK("client .suffix", parses("white client=.Mail.Example.NET", "c.mail.example.net", "W"));
  CHECK("client with a date", parses("white client=10.0.0.0/8 2026-12-31", "c10.0.0.0/8", "W2026-12-31"));
  CHECK("recipient", parses("white to=Postmaster@Example.TEST", "tpostmaster@example.test", "W"));
  CHECK("recipient @domain", parses("black to=@Example.TEST", "t@example.test", "B"));
  CHECK("sender+recipient", parses("black from=prvs=1234aaaaaa=Bob@x.example to=alice@example.test",
                                   "sbob@x.example alice@example.test", "B"));
  CHECK("sender @domain + recipient @domain", parses("white from=@x.example to=@example.test 2027-01-01",
                                                     "s@x.example @example.test", "W2027-01-01"));
  CHECK("null sender + recipient", parses("white from=<> to=alice@example.test", "s<> alice@example.test", "W"));
  CHECK("whole triplet", parses("white client=192.0.2.0/24 from=bob@x.example to=alice@example.test",
                                "xbob@x.example alice@example.test", "W 192.0.2.0/24"));
  CHECK("whole triplet with a date, words in any order",
        parses("black 2026-02-28 to=alice@example.test client=.x.example from=@x.example",
               "x@x.example alice@example.test", "B2026-02-28 .x.example"));
  CHECK("tabs and spaces between words", parses("white\tclient=192.0.2.1   2026-01-01", "c192.0.2.1/32", "W2026-01-01"));
  CHECK("bad: grey", refused("grey client=192.0.2.1", "white or black"));
  CHECK("bad: unknown word", refused("white host=x", "not client="));
  CHECK("bad: client= twice", refused("white client=192.0.2.1 client=192.0.2.2", "twice"));
  CHECK("bad: an invalid IP", refused("white client=256.1.1.1", "client= is not"));
  CHECK("bad: a name without its dot", refused("white client=mail.example", "client= is not"));
  CHECK("bad: from= alone", refused("white from=a@x.example", "from= needs to="));
  CHECK("bad: client= with to=", refused("white client=192.0.2.1 to=a@x.example", "needs from="));
  CHECK("bad: nothing but the kind", refused("white", "no client="));
  CHECK("bad: no @ in to=", refused("white to=alice", "to= is not"));
  CHECK("bad: not a real date", refused("white to=a@x.example 2026-02-30", "not client="));
  CHECK("bad: two dates", refused("white to=a@x.example 2026-02-01 2026-02-02", "two dates"));
  CHECK("bad: empty part", refused("white to=", "empty"));
  CHECK("bad: <> as a recipient", refused("white to=<>", "to= is not"));
}

/* A cdb of lines, as rcptcheck-cdb -g writes it. */
static void mk(const char *file, const char *const *lines)
{
  struct cdb_make cm;
  int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644), forms = 0, i;
  cdb_make_start(&cm, fd);
  for (; *lines; lines++) {
    nj_trentry e;
    const char *why;
    if (!nj_tr_parse(*lines, strlen(*lines), &e, &why)) { printf("    # bad %s\n", *lines); continue; }
    cdb_make_add(&cm, e.key, (unsigned)e.keylen, e.val, (unsigned)e.vallen);
    forms |= e.form == 'c' ? 1 : e.form == 't' ? 2 : e.form == 's' ? 4 : 8;
  }
  for (i = 0; i < 4; i++) {
    char k[2] = { '#', "ctsx"[i] };
    if (forms & (1 << i)) cdb_make_add(&cm, k, 2, "", 0);
  }
  cdb_make_finish(&cm);
  close(fd);
}

static int says(nj_trlist *l, const char *ip, const char *host, const char *from,
                const char *rcpt, int want, const char *wantform)
{
  nj_ip a;
  const char *form;
  int r;
  nj_ip_parse(ip, &a);
  l->client_done = 0;
  r = nj_tr_list_lookup(l, &a, host, from, rcpt, &form);
  if (r != want || (wantform && (!form || strcmp(form, wantform)))) {
    printf("    # got %d form %s\n", r, form ? form : "(none)");
    return 0;
  }
  return 1;
}

static void test_lookup(void)
{
  static const char *const lines[] = {
    "black client=198.51.100.0/24",
    "white client=.good.example",
    "white client=203.0.113.5",
    "white to=postmaster@example.test",
    "black to=@closed.test",
    "white to=old@example.test 2000-01-01",
    "black from=@spam.example to=alice@example.test",
    "white from=friend@x.example to=@example.test",
    "black from=friend@x.example to=bob@example.test",
    "white from=friend@x.example to=bob@example.test",
    "white client=192.0.2.0/24 from=@y.example to=carol@example.test",
    "black client=.bad.example from=@y.example to=carol@example.test",
    0
  };
  char file[] = "/tmp/test_triplet.XXXXXX";
  int fd = mkstemp(file);
  nj_trlist l;
  close(fd);
  mk(file, lines);
  CHECK("list opens", nj_tr_list_open(&l, file, time(0)) == 0 && l.forms == 15);
  CHECK("nothing matches: none", says(&l, "192.0.2.1", 0, "a@b.example", "dave@example.test", NJ_TRL_NONE, 0));
  CHECK("client network black", says(&l, "198.51.100.7", 0, "a@b.example", "dave@example.test", NJ_TRL_BLACK, "client"));
  CHECK("client .suffix white", says(&l, "192.0.2.1", "MX1.Good.Example", "a@b.example", "dave@example.test", NJ_TRL_WHITE, "client"));
  CHECK("the suffix is no exact name", says(&l, "192.0.2.1", "good.example", "a@b.example", "dave@example.test", NJ_TRL_NONE, 0));
  CHECK("client IP white", says(&l, "203.0.113.5", 0, "a@b.example", "dave@example.test", NJ_TRL_WHITE, "client"));
  CHECK("recipient white", says(&l, "192.0.2.1", 0, "a@b.example", "postmaster@example.test", NJ_TRL_WHITE, "rcpt"));
  CHECK("recipient beats client", says(&l, "198.51.100.7", 0, "a@b.example", "postmaster@example.test", NJ_TRL_WHITE, "rcpt"));
  CHECK("recipient @domain black", says(&l, "192.0.2.1", 0, "a@b.example", "x@closed.test", NJ_TRL_BLACK, "rcpt"));
  CHECK("expired recipient entry: none", says(&l, "192.0.2.1", 0, "a@b.example", "old@example.test", NJ_TRL_NONE, 0));
  CHECK("sender @domain + recipient black", says(&l, "192.0.2.1", 0, "z@spam.example", "alice@example.test", NJ_TRL_BLACK, "sender-rcpt"));
  CHECK("sender + recipient @domain white", says(&l, "192.0.2.1", 0, "friend@x.example", "dave@example.test", NJ_TRL_WHITE, "sender-rcpt"));
  CHECK("black wins within a form", says(&l, "192.0.2.1", 0, "friend@x.example", "bob@example.test", NJ_TRL_BLACK, "sender-rcpt"));
  CHECK("whole triplet white", says(&l, "192.0.2.9", 0, "w@y.example", "carol@example.test", NJ_TRL_WHITE, "triplet"));
  CHECK("whole triplet black by name", says(&l, "10.1.1.1", "h.bad.example", "w@y.example", "carol@example.test", NJ_TRL_BLACK, "triplet"));
  CHECK("whole triplet: another client, none", says(&l, "10.1.1.1", 0, "w@y.example", "carol@example.test", NJ_TRL_NONE, 0));
  nj_tr_list_close(&l);
  {
    static const char *const dated[] = { "white client=192.0.2.0/24 2026-06-30", 0 };
    mk(file, dated);
    nj_tr_list_open(&l, file, 1782777600);    /* 2026-06-30T00:00:00Z */
    CHECK("a date's last day still applies", says(&l, "192.0.2.1", 0, "a@b.example", "c@d.test", NJ_TRL_WHITE, "client"));
    nj_tr_list_close(&l);
    nj_tr_list_open(&l, file, 1782777600 + 86400);
    CHECK("the day after, it does not", says(&l, "192.0.2.1", 0, "a@b.example", "c@d.test", NJ_TRL_NONE, 0));
    nj_tr_list_close(&l);
  }
  {
    int f = open(file, O_WRONLY | O_TRUNC);
    if (write(f, "not a cdb", 9) != 9) {}
    close(f);
    CHECK("a file that is no cdb: EPROTO", nj_tr_list_open(&l, file, time(0)) != 0);
  }
  unlink(file);
  CHECK("a missing file: an error", nj_tr_list_open(&l, file, time(0)) != 0);
}

int main(void)
{
  test_sender();
  test_keys();
  test_parse();
  test_lookup();
  return CHECK_DONE(PROG);
}
