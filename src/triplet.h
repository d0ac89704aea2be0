/* SPDX-License-Identifier: ISC */
/* triplet.h: triplet greylisting's pure parts (triplet.c), used by
 * rcptcheck and rcptcheck-cdb: the parts of a triplet's key (the sender
 * normalised, the recipient), the triplet and learned-pair keys built on
 * a client key (greylist.h), and the white- and blacklists in the seed's
 * four forms: a line of control/greylist-triplets, its cdb record, and
 * the lookups.
 *
 * A triplet is (client network, sender, recipient):
 *   trip:203.0.113.0/24:sender@example.org:rcpt@example.net
 * a learned pair is (sender domain, client network), the null sender
 * standing for a domain of its own (its bounces from that network):
 *   pair:example.org:203.0.113.0/24   pair:<>:203.0.113.0/24
 * each stored under the hex SHA-256 of that text (nj_gl_hashkey). */
#ifndef NJ_TRIPLET_H
#define NJ_TRIPLET_H

#include <stddef.h>
#include <time.h>
#include <cdb.h>
#include "najimi.h"
#include "greylist.h"

/* A sender or a recipient as it goes into a key: at most NJ_TR_PARTMAX
 * bytes (the three parts of a triplet then fit NJ_GL_TEXTMAX). */
#define NJ_TR_PARTMAX 160
#define NJ_TR_NULL "<>"           /* the null sender's part */

/* The sender's part, from the address as qmail-smtpd's addrparse gives
 * it (n bytes): "<>" for the null sender; else lower-cased, a BATV tag
 * removed (prvs=TAG=user@dom, msprvs1=TAG=user@dom: user@dom), each
 * number standing alone in the local part (digits with no letter or
 * digit next to them) turned into one '#' (VERP and bounce tracking:
 * bounce-12345-67@lists.example is bounce-#-#@lists.example; user2 stays),
 * bytes outside 0x21..0x7e turned into '?'. A part longer than
 * NJ_TR_PARTMAX becomes '#' and its SHA-256 in hex. out has room for
 * NJ_TR_PARTMAX + 1; returns the length (NUL-terminated). */
extern size_t nj_tr_sender(char *out, const char *addr, size_t n);
/* The recipient's part (the address after qmail-smtpd's rewrite):
 * lower-cased, '?' for bytes outside 0x21..0x7e, long ones hashed as
 * above. */
extern size_t nj_tr_rcpt(char *out, const char *addr, size_t n);
/* The domain of a sender's part (after its last '@'), or 0 (the null
 * sender, no domain). */
extern const char *nj_tr_domain(const char *part);

/* The triplet key of client (a key of nj_gl_client or nj_gl_key, 0 when
 * the client has no usable address: "unknown"), sender and recipient
 * parts; the learned pair of the sender's domain ("<>" for the null
 * sender) and the client. 1 with k filled; 0 when there is none (a
 * sender without a domain). */
extern int nj_tr_tripkey(nj_glkey *k, const nj_glkey *client, const char *from,
                         const char *rcpt);
extern int nj_tr_pairkey(nj_glkey *k, const nj_glkey *client, const char *from);

/* ---------------------------------------------------------------- lists */

/* One line of control/greylist-triplets (comments removed):
 *   white|black [client=IP|CIDR|.rdns.suffix] [from=ADDR|@domain|<>]
 *               [to=ADDR|@domain] [YYYY-MM-DD]
 * Forms: only client= (client), only to= (recipient), from= and to=
 * (sender+recipient), all three (the whole triplet). The date is the
 * last day (UTC) the entry applies.
 * Its cdb record: key FORM-LETTER then the parts, value
 * "W" or "B", the date if any, and for the whole triplet " CLIENT":
 *   c192.0.2.0/24 -> B            c.example.net -> W2026-12-31
 *   trole@example.test -> W       sbob@example.org alice@example.test -> B
 *   xbob@example.org alice@example.test -> W 192.0.2.0/24
 * and one key "#c", "#t", "#s", "#x" (empty value) for each form present,
 * so that a lookup skips a form the file does not use. */
#define NJ_TR_KEYMAX (2 + 2 * NJ_TR_PARTMAX + 2)
#define NJ_TR_VALMAX (1 + 10 + 1 + 300)
typedef struct nj_trentry_s {
  char form;                      /* 'c', 't', 's', 'x' */
  char key[NJ_TR_KEYMAX];
  size_t keylen;
  char val[NJ_TR_VALMAX];
  size_t vallen;
} nj_trentry;
/* Parses the n bytes at line. 1 with e filled; 0 with *why saying what
 * is wrong ("unknown word", "not white or black", ...). */
extern int nj_tr_parse(const char *line, size_t n, nj_trentry *e, const char **why);

/* What a list says of a triplet. */
#define NJ_TRL_NONE  0
#define NJ_TRL_WHITE 1
#define NJ_TRL_BLACK 2
/* The list cdb, as rcptcheck keeps it for a session. */
typedef struct nj_trlist_s {
  struct cdb c;
  int fd;                         /* -1: not open */
  char today[NJ_DATEFMT];
  int forms;                      /* bits: 1 c, 2 t, 4 s, 8 x */
  int client;                     /* the client form's answer (NJ_TRL_*), */
  int client_done;                /*   once looked up */
} nj_trlist;
/* Opens the cdb file for a session, today being now's UTC date. 0, or
 * an errno value (EPROTO: not a cdb). */
extern int nj_tr_list_open(nj_trlist *l, const char *file, time_t now);
extern void nj_tr_list_close(nj_trlist *l);
/* The list's answer for a triplet: the whole triplet first, then
 * sender+recipient, then the recipient, then the client (ip may be 0,
 * host may be 0: TCPREMOTEHOST); the first form with a live entry
 * decides, and in one form black wins. *form gets its name ("triplet",
 * "sender-rcpt", "rcpt", "client"). -1 on a corrupt record (errno
 * EPROTO). from and rcpt are key parts (nj_tr_sender, nj_tr_rcpt). */
extern int nj_tr_list_lookup(nj_trlist *l, const nj_ip *ip, const char *host,
                             const char *from, const char *rcpt, const char **form);

#endif
