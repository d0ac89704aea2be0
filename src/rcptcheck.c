/* SPDX-License-Identifier: ISC */
/* rcptcheck: refuses unknown local recipients at RCPT time, by qmail's own
 * delivery rules, as an SMTP proxy in front of qmail-smtpd.
 *
 *   client <-> rcptcheck <-> next program (qmail-smtpd) on two pipes
 *
 * Where each rule lives:
 *   command lines: CRLF, NUL, bare CR, 512 bytes   smtpcmd.c   nj_cmd_next()
 *   where a message ends; a bare LF or CR in DATA   smtpdata.c  nj_data_scan()
 *     (SMTP smuggling) and what is done then        here        data()
 *   what each command does (RCPT check, BDAT...)    here        command()
 *   reply order under PIPELINING, tarpit slots      replyq.c    nj_rq_*()
 *     and how replies leave                         here        replies()
 *   the EHLO filter (CHUNKING, STARTTLS)            replyq.c    nj_reply_copy()
 *   deadlines, and what each timeout does           here        *_deadline(),
 *                                                               timeout()
 *   when the session is over                        here        over()
 *   triplet greylisting after the recipient check:  here        grey_rcpt()
 *     lists, learned pair, triplet (RCPTCHECK_GREYLIST); the null
 *     sender's DATA                                 here        grey_data()
 *     keys, sender normalisation, the lists         triplet.c   nj_tr_*()
 *     the rule and the records                      greylist.c  nj_gl_decide()
 *     the store, opened in one place                here        triplet_store()
 *
 * A session (struct session) has two sides, the client and the downstream
 * (struct side: fds, a buffer each way, end of file, last progress), a
 * queue of reply slots, and one mode:
 *   M_CMD      the client's lines are commands; each takes one slot,
 *              answered by the downstream (forwarded) or here (550 for an
 *              unknown recipient, 500 for a bad line...)
 *   M_DATA     from the downstream's 354 (not the client's DATA) to the
 *              end of the message: the bytes pass through as they came
 *   M_DISCARD  the downstream failed mid-message: the client's bytes are
 *              dropped; 451 if its end of message is already here, else
 *              421 at once (react())
 *   M_BLIND    after STARTTLS in passthrough mode: relayed both ways unread
 * Under starttlsd (a UCSPI-TLS client, ucspitls.h) rcptcheck offers its own
 * STARTTLS: starttls() answers 220 once the downstream has reset its
 * transaction (RSET, its reply swallowed), tls_switch() moves the client
 * side to the TLS fds, and every rule above applies inside TLS as outside.
 * main() is the loop: pump() does all that needs no waiting, over() says
 * whether the session is over, io() sleeps in iopause until a byte can
 * move on either side, or a deadline passes (then timeout()).
 *
 * Each side has its own read and write fds (side_attach()), so that the
 * client can move to other fds in the middle of a session, as a UCSPI-TLS
 * client does after STARTTLS. Fixed buffers: memory is the same for a
 * 1 kB and a 1 GB message. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <spawn.h>
#include <sys/socket.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/tai.h>
#include <skalibs/iopause.h>
#include <skalibs/djbunix.h>
#include <skalibs/sig.h>
#include <skalibs/bytestr.h>
#include "najimi.h"
#include "qmailrcpt.h"
#include "smtpcmd.h"
#include "smtpdata.h"
#include "replyq.h"
#include "ucspitls.h"
#include "greylist.h"
#include "triplet.h"

#define USAGE "rcptcheck [ -a aliasuser ] [ -t clienttimeout ] [ -r replytimeout ] [ -d datatimeout ] prog [ args... ]"

const char *PROG = "rcptcheck";
extern char **environ;

#define CINMAX   65536        /* client input */
#define COUTMAX  32768        /* toward the client */
#define DINMAX   16384        /* replies from the downstream */
#define DOUTMAX  65536        /* toward the downstream */
#define TARPITCAP 60          /* seconds, the longest single pause */
#define BADLOGMAX 10          /* bad command lines logged per session */

/* Every reply rcptcheck gives itself. A log line's code= is taken from
 * the text of the reply it reports (log_start()). */
static const char R_550[] = "550 5.1.1 sorry, no mailbox here by that name";
static const char R_451[] = "451 4.3.0 cannot verify this recipient now, try again later";
static const char R_LIMIT[] = "421 4.7.0 too many unknown recipients, closing connection";
static const char R_BDAT[] = "421 4.5.0 BDAT is not supported here, closing connection";
static const char R_NOTLS[] = NJ_TLS_NONE;
static const char R_TLSGO[] = NJ_TLS_GO;
static const char R_SMUGGLE[] = "451 4.5.0 bare CR or LF in message data, message not accepted";
static const char R_DOWN[] = "421 4.3.0 mail server unavailable, closing connection";
static const char R_DOWNDATA[] = "451 4.3.0 mail server failed, message not accepted";
static const char R_TIMEOUT[] = "421 4.4.2 timeout, closing connection";
static const char R_MAXTIME[] = "421 4.4.2 session time limit reached, closing connection";
static const char R_SYNC[] = "421 4.5.0 data sent before the 354 reply, closing connection";
static const char R_GREY[] = "451 4.7.1 greylisted: please try again later";
static const char R_GREYDATA[] = "451 4.7.1 greylisted: please try this message again later";
static const char R_BLACK[] = "550 5.7.1 mail from you to this recipient is refused";
static const char R_GREYFAIL[] = "451 4.3.0 temporary local problem, please try again later";

/* The end= of a client that left in the middle of a message (over()). */
static const char HANGUP[] = "eof-in-data";

enum mode { M_CMD, M_DATA, M_DISCARD, M_BLIND };

/* One side of the session: the client, or the downstream. */
struct side {
  int rfd, wfd;               /* -1 once closed */
  char *in;                   /* read from it; [inpos, inlen) not used yet */
  size_t insize, inpos, inlen;
  char *out;                  /* to be written to it: [0, outlen) */
  size_t outsize, outlen;
  int eof;                    /* nothing more will be read from it */
  int dead;                   /* nothing more can be written to it */
  int closing;                /* nothing more is queued: close wfd once out is empty */
  tain t_in;                  /* its last read, or since when it is its turn */
  tain t_out;                 /* last progress writing to it */
};

/* What the administrator set, fixed for the session. */
struct config {
  const char *ip;             /* the client's address, for the log (0: unknown) */
  const char *relayclient;    /* $RELAYCLIENT, appended to recipients */
  int tls_pass;               /* RCPTCHECK_TLS=passthrough */
  unsigned long maxbad, tarpit;
  unsigned long maxtime;      /* RCPTCHECK_MAXTIME: the whole session, seconds (0: none) */
  unsigned long to_client, to_reply, to_data;   /* seconds */
};

/* Triplet greylisting (RCPTCHECK_GREYLIST): its settings, the client's
 * key, the store and the lists (opened at their first use), and the
 * transaction's sender. */
struct grey {
  const char *dir;            /* RCPTCHECK_GREYLIST, 0: off */
  const char *listfile;       /* RCPTCHECK_GREYLIST_LIST, 0: no lists */
  nj_glpolicy pol;
  nj_glkeyconf kc;
  int observe, fail_closed;   /* GREYLIST_OBSERVE, GREYLIST_FAILCLOSED */
  int have_ip;
  nj_ip ip;
  const char *host;           /* TCPREMOTEHOST, or 0 */
  int keyed;                  /* 1: client below is set; -1: no address */
  nj_glkey client;
  nj_glstores stores;         /* only triplet_store() and its close touch them */
  nj_glstore *store;          /* files under RCPTCHECK_GREYLIST, or Redis
                                 (GREYLIST_REDIS, nj_gl_store); 0: not open */
  nj_trlist list;
  int list_state;             /* 0: not opened yet, 1: open, -1: none (warned) */
  int has_from;               /* a MAIL in this transaction: from is its sender */
  char from[NJ_TR_PARTMAX + 1];
  int pair;                   /* its learned pair: 0 not looked up yet, 1 live
                                 (pairkey), -1 none (or no domain) */
  nj_glkey pairkey;
  int at_data;                /* a null sender's triplet is not yet good: DATA gets 451 */
  char data_key[9];           /*   its key, for the DATA line */
  unsigned long txn_ok;       /* recipients the downstream took in this transaction */
};

struct session {
  struct config cf;
  struct grey g;
  nj_qmail qm;
  int mode;                   /* enum mode */
  struct side client, down;
  nj_tls tls;                 /* UCSPI-TLS: the fds, offered, active */
  int tls_wait;               /* STARTTLS taken: nothing parsed until the switch */
  int tls_switch;             /* its 220 is queued: switch once it is written */
  nj_rq q;                    /* one slot per command awaiting its reply */
  nj_cmdreader cmd;           /* the command-line splitter's state */
  int dst;                    /* the DATA scanner's state */
  int quit;                   /* QUIT went down: the client is heard no more */
  int ending;                 /* 1: a final reply is queued; 2: it is written */
  int paused;                 /* tarpit: no command is read before pause_until */
  tain pause_until;
  pid_t child;
  const char *endwhy;         /* the done line's end= */
  const char *down_why;       /* a downstream failure not logged yet (down_said) */
  int late;                   /* the final reply timed out: heard out at the end */
  int in_line;                /* the client's input ends inside a command line, */
  tain t_line;                /*   which started then (line_deadline()) */
  tain t_start;               /* the session's start (RCPTCHECK_MAXTIME) */
  unsigned long n_msgs, n_ok, n_bad, n_defer, n_grey, n_badcmd, n_bytes;
  char cin[CINMAX], cout[COUTMAX], din[DINMAX], dout[DOUTMAX];
};

static void finish(struct session *s, const char *why) __attribute__((noreturn));

/* ------------------------------------------------------------ log */

/* Starts the log line of a decision. reply: what the client is told of
 * it; its first three digits are the line's code=. */
static void log_start(nj_log *l, const struct session *s, const char *action,
                      const char *reply)
{
  nj_log_start(l, action, s->cf.ip);
  if (reply) nj_log_strn(l, NJ_K_CODE, reply, 3);
}

static void log1(const struct session *s, const char *action, const char *reply,
                 const char *key, const char *val)
{
  nj_log l;
  log_start(&l, s, action, reply);
  if (key) nj_log_str(&l, key, val);
  nj_log_end(&l);
}

/* ------------------------------------------------------------ sides */

static size_t held(const struct side *x)
{
  return x->inlen - x->inpos;
}

static void side_init(struct side *x, char *in, size_t insize, char *out, size_t outsize)
{
  x->rfd = x->wfd = -1;
  x->in = in;
  x->insize = insize;
  x->inpos = x->inlen = 0;
  x->out = out;
  x->outsize = outsize;
  x->outlen = 0;
  x->eof = x->dead = x->closing = 0;
  tain_copynow(&x->t_in);
  x->t_out = x->t_in;
}

/* Puts the side on fds rfd and wfd (made non-blocking) and forgets what
 * was read from it so far: at the start, and for the client when it moves
 * to other fds in the middle of the session (UCSPI-TLS). */
static void side_attach(struct side *x, int rfd, int wfd)
{
  x->rfd = rfd;
  x->wfd = wfd;
  ndelay_on(rfd);
  ndelay_on(wfd);
  x->inpos = x->inlen = 0;
  x->eof = 0;
  tain_copynow(&x->t_in);
}

/* Reads what the side has. 1: bytes came; 0: none yet; -1: end of file
 * or error (x->eof is set). */
static int side_read(struct side *x)
{
  ssize_t r;
  if (x->inpos && x->inpos == x->inlen) x->inpos = x->inlen = 0;
  if (x->inpos && x->insize - x->inlen < 4096) {
    memmove(x->in, x->in + x->inpos, held(x));
    x->inlen -= x->inpos;
    x->inpos = 0;
  }
  if (x->inlen >= x->insize) return 0;
  r = read(x->rfd, x->in + x->inlen, x->insize - x->inlen);
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  tain_copynow(&x->t_in);
  if (r <= 0) { x->eof = 1; return -1; }
  x->inlen += (size_t)r;
  return 1;
}

/* Writes what is queued for the side. 1: progress; 0: not now; -1: error. */
static int side_write(struct side *x)
{
  ssize_t r = write(x->wfd, x->out, x->outlen);
  if (r < 0) return errno == EINTR || errno == EAGAIN ? 0 : -1;
  memmove(x->out, x->out + r, x->outlen - (size_t)r);
  x->outlen -= (size_t)r;
  tain_copynow(&x->t_out);
  return 1;
}

static void client_put(struct session *s, const char *p, size_t n)
{
  struct side *c = &s->client;
  if (c->dead) return;
  if (n > c->outsize - c->outlen) n = c->outsize - c->outlen;   /* callers check room */
  memcpy(c->out + c->outlen, p, n);
  c->outlen += n;
}

/* Stops talking to the downstream: what is queued for it still goes (drop:
 * not even that), then its write side is closed. No end of message is
 * ever sent after this, so a message in progress is not queued. */
static void down_close(struct session *s, int drop)
{
  struct side *d = &s->down;
  if (drop) d->outlen = 0;
  d->closing = 1;
  if (!d->outlen && d->wfd >= 0) { close(d->wfd); d->wfd = -1; }
}

/* The downstream's "downstream" log line, once the client is told of
 * its failure: code= is the reply actually sent (0: none, the client is
 * gone). */
static void down_said(struct session *s, const char *reply)
{
  if (!s->down_why) return;
  log1(s, "downstream", reply, "reason", s->down_why);
  s->down_why = 0;
}

/* The downstream failed (why: the log's reason; reply: what the client
 * is told of it now, or 0 when that is decided later: down_said()). It
 * is closed both ways and told to go. */
static void down_kill(struct session *s, const char *why, const char *reply)
{
  struct side *d = &s->down;
  if (d->dead) { down_said(s, reply); return; }
  s->down_why = why;
  if (reply) down_said(s, reply);
  d->dead = 1;
  down_close(s, 1);
  if (d->rfd >= 0) { close(d->rfd); d->rfd = -1; }
  d->inpos = d->inlen = 0;
  if (s->child > 0) kill(s->child, SIGTERM);
}

/* ... in the middle of a message (M_DISCARD): the client's bytes are
 * dropped from now on. The client is told 451 if the end of its message is
 * here already (data()), else 421 at once (react()). */
static void down_fail_data(struct session *s, const char *why)
{
  down_kill(s, why, 0);
  s->mode = M_DISCARD;
}

/* ------------------------------------------------------------ slots */

/* Queues a local reply. final: the session ends after it; ready: it waits
 * until then (the tarpit), 0: it goes at once. */
static void say(struct session *s, const char *reply, int final, const tain *ready)
{
  if (nj_rq_push(&s->q, NJ_RQ_LOCAL, reply, final, ready) && final) s->ending = 1;
}

/* Ends the session with a final local reply, after the replies already
 * written to the client; the slots still waiting are dropped. */
static void end_now(struct session *s, const char *reply, const char *why)
{
  s->endwhy = why;
  nj_rq_clear(&s->q);
  say(s, reply, 1, 0);
}

/* ------------------------------------------------------------ commands */

static void forward(struct session *s, const nj_cmd *c, int kind)
{
  struct side *d = &s->down;
  if (!s->q.down && !d->outlen) tain_copynow(&d->t_in);   /* its turn from now */
  memcpy(d->out + d->outlen, c->line, c->len);
  d->outlen += c->len;
  nj_rq_push(&s->q, kind, 0, 0, 0);
}

static void badcmd(struct session *s, int status)
{
  const char *reply = nj_cmd_reply(status);
  if (++s->n_badcmd <= BADLOGMAX) log1(s, "badcmd", reply, "reason", nj_cmd_why(status));
  say(s, reply, 0, 0);
}

/* The dictionary limit: unknown recipients have reached RCPTCHECK_MAXBAD
 * and outnumber the accepted ones (those the downstream took, and those
 * it has not answered yet: they may be taken). A list message whose
 * recipients alternate between valid and stale is never cut; a run of
 * guesses is. Returns 1 when it ended the session. */
static int dictionary(struct session *s)
{
  unsigned long accepted = s->n_ok + nj_rq_count(&s->q, NJ_RQ_RCPT);
  nj_log l;
  if (!s->cf.maxbad || s->ending || s->n_bad < s->cf.maxbad || s->n_bad <= accepted) return 0;
  log_start(&l, s, "limit", R_LIMIT);
  nj_log_ulong(&l, "bad", s->n_bad);
  nj_log_end(&l);
  s->endwhy = "limit";
  say(s, R_LIMIT, 1, s->paused ? &s->pause_until : 0);
  return 1;
}

/* An unknown recipient: 550 (after the tarpit's pause, which grows with
 * each one), then the dictionary limit. */
static void unknown(struct session *s, const char *addr)
{
  s->n_bad++;
  log1(s, "reject", R_550, "rcpt", addr);
  if (s->cf.tarpit) {
    unsigned long secs = s->cf.tarpit * s->n_bad;
    if (secs > TARPITCAP) secs = TARPITCAP;
    tain_now_g();
    tain_addsec_g(&s->pause_until, (int)secs);
    s->paused = 1;
    say(s, R_550, 0, &s->pause_until);
  } else say(s, R_550, 0, 0);
  dictionary(s);
}

/* A recipient answered here or passed on with a word in the log (defer:
 * 451; unverified: forwarded, qmail decides). */
static void rcpt_log(struct session *s, const char *action, const char *reply,
                     const char *addr)
{
  nj_log l;
  log_start(&l, s, action, reply);
  nj_log_str(&l, "rcpt", addr);
  nj_log_str(&l, "reason", s->qm.why ? s->qm.why : "lookup");
  nj_log_end(&l);
}

/* ------------------------------------------------------------ triplets */

/* The triplet store: the one place it is opened, at the first decision
 * of the session (files under RCPTCHECK_GREYLIST, or the Redis that
 * GREYLIST_REDIS names, shared with ipgreylist and the other MX), and
 * closed. Nothing is connected before the first read. */
static nj_glstore *triplet_store(struct session *s)
{
  if (!s->g.store) s->g.store = nj_gl_store(&s->g.stores, s->g.dir, &s->g.pol);
  return s->g.store;
}

static void triplet_store_close(struct session *s)
{
  if (s->g.store) s->g.store->close(s->g.store);
  s->g.store = 0;
}

/* The settings, read once per session when RCPTCHECK_GREYLIST is set. */
static void grey_init(struct session *s)
{
  struct grey *g = &s->g;
  const char *v = getenv("RCPTCHECK_GREYLIST");
  memset(g, 0, sizeof *g);
  if (!v || !*v) return;
  g->dir = v;
  v = getenv("RCPTCHECK_GREYLIST_LIST");
  g->listfile = v && *v ? v : 0;
  nj_gl_policy_env(&g->pol);
  nj_gl_keyconf_env(&g->kc, 0);
  g->observe = (int)nj_env_ulong("GREYLIST_OBSERVE", 0, 0, 1, 0);
  g->fail_closed = (int)nj_env_ulong("GREYLIST_FAILCLOSED", 0, 0, 1, 0);
  g->have_ip = nj_ip_client(&g->ip, 0);
  g->host = getenv("TCPREMOTEHOST");
  if (g->host && !*g->host) g->host = 0;
}

/* A new transaction (MAIL, RSET, HELO, EHLO, a message's end, TLS). */
static void grey_reset(struct session *s)
{
  s->g.has_from = s->g.at_data = s->g.pair = 0;
  s->g.txn_ok = 0;
}

/* MAIL: the sender's key part, for the transaction's triplets. */
static void grey_mail(struct session *s, const nj_cmd *c)
{
  char addr[NJ_ADDRMAX + 1];
  long n;
  grey_reset(s);
  if (!s->g.dir) return;
  n = nj_addrparse(c->arg, c->arglen, addr, sizeof addr);
  if (n < 0) return;                      /* qmail-smtpd refuses it */
  nj_tr_sender(s->g.from, addr, (size_t)n);
  s->g.has_from = 1;
}

/* The client's key (nj_gl_client: the name key or the network), once. */
static const nj_glkey *grey_client(struct session *s)
{
  struct grey *g = &s->g;
  if (!g->keyed) {
    nj_glkey seed;
    int hasseed, why;
    if (g->have_ip) nj_gl_client(&g->client, &seed, &hasseed, &g->ip, g->host, &g->kc, &why);
    g->keyed = g->have_ip ? 1 : -1;
  }
  return g->keyed > 0 ? &g->client : 0;
}

/* The decision's log line, up to its outcome: key=, keyby=, age=. */
static void grey_start(nj_log *l, struct session *s, const nj_glkey *k,
                       const char *verdict, int64_t age, const char *rcpt)
{
  char hash[9];
  const nj_glkey *c = grey_client(s);
  nj_log_start(l, "grey", s->cf.ip);
  nj_log_str(l, NJ_K_KEY, nj_gl_keylog(k, hash));
  nj_log_str(l, NJ_K_KEYBY, c ? nj_gl_kindname(c->kind) : "none");
  nj_log_ulong(l, NJ_K_AGE, age > 0 ? (unsigned long)age : 0);
  nj_log_str(l, NJ_K_VERDICT, verdict);
  nj_log_str(l, "from", s->g.from);
  nj_log_str(l, "rcpt", rcpt);
}

/* A refusal of the greylist's (reply: 451 or 550): said, or in observe
 * mode logged as would= and passed. A null sender is never refused at
 * RCPT: its message gets the 451 at DATA. Returns 1 when the RCPT is
 * to be forwarded. */
static int grey_refuse(struct session *s, nj_log *l, const nj_glkey *k, const char *reply)
{
  if (s->g.observe) {
    nj_log_strn(l, NJ_K_WOULD, reply, 3);
    nj_log_end(l);
    return 1;
  }
  if (!strcmp(s->g.from, NJ_TR_NULL) && reply[0] == '4') {
    char hash[9];
    nj_log_str(l, "defer", "data");
    nj_log_end(l);
    s->g.at_data = 1;
    memcpy(s->g.data_key, nj_gl_keylog(k, hash), 9);
    return 1;
  }
  nj_log_strn(l, NJ_K_CODE, reply, 3);
  nj_log_end(l);
  s->n_grey++;
  say(s, reply, 0, 0);
  return 0;
}

static int grey_pass(nj_log *l, const char *by, int werr)
{
  if (werr) nj_log_str(l, "error", nj_gl_errname(werr));
  nj_log_str(l, NJ_K_PASS, by);
  nj_log_end(l);
  return 1;
}

/* The lists: -1 when they say nothing, else grey_refuse's or a pass. */
static int grey_list(struct session *s, const char *rcpt)
{
  struct grey *g = &s->g;
  const char *form;
  nj_glkey k;
  nj_log l;
  int r;
  if (!g->listfile || g->list_state < 0) return -1;
  if (!g->list_state) {
    int e = nj_tr_list_open(&g->list, g->listfile, time(0));
    g->list_state = e ? -1 : 1;
    if (e) {
      strerr_warnw("RCPTCHECK_GREYLIST_LIST ", g->listfile, e == EPROTO ? " is corrupt" : " cannot be read: ",
                   e == EPROTO ? "" : nj_gl_errname(e), ", no lists");
      return -1;
    }
  }
  r = nj_tr_list_lookup(&g->list, g->have_ip ? &g->ip : 0, g->host, g->from, rcpt, &form);
  if (r < 0) {
    strerr_warnw("RCPTCHECK_GREYLIST_LIST ", g->listfile, " is corrupt", ", no lists");
    g->list_state = -1;
    nj_tr_list_close(&g->list);
    return -1;
  }
  if (!r || !nj_tr_tripkey(&k, grey_client(s), g->from, rcpt)) return -1;
  grey_start(&l, s, &k, r == NJ_TRL_WHITE ? "white" : "black", 0, rcpt);
  nj_log_str(&l, "list", form);
  if (r == NJ_TRL_WHITE) return grey_pass(&l, "white", 0);
  return grey_refuse(s, &l, &k, R_BLACK);
}

/* The transaction's learned pair (the sender's domain and the client):
 * looked up at its first RCPT, kept for the others. 1 when it is a live
 * regular (refreshed when due); the RCPT passes. */
static int grey_pair(struct session *s, const char *rcpt)
{
  struct grey *g = &s->g;
  nj_glstore *st;
  nj_glrec r, next;
  nj_glverdict v;
  struct timespec now;
  nj_log l;
  int64_t age = 0;
  int werr = 0;
  if (!g->pair) {
    g->pair = -1;
    if (!nj_tr_pairkey(&g->pairkey, grey_client(s), g->from)) return 0;
    st = triplet_store(s);
    if (st->read(st, &g->pairkey, &r) || r.found != NJ_GL_REGULAR) return 0;
    clock_gettime(CLOCK_REALTIME, &now);
    age = (int64_t)now.tv_sec - (int64_t)r.when.tv_sec;
    v = nj_gl_verdict(r.found, age, &g->pol);
    if (v.is != NJ_GLV_REGULAR) return 0;
    if (v.step) age = 0;
    if (v.refresh) {
      int how = nj_gl_next(&r, &v, &now, &next);
      if (how != NJ_GLW_NONE) werr = st->write(st, &g->pairkey, how, &next);
    }
    g->pair = 1;
  }
  if (g->pair < 0) return 0;
  grey_start(&l, s, &g->pairkey, "pair", age, rcpt);
  return grey_pass(&l, "pair", werr);
}

/* A triplet passed: its sender's domain and client become a learned
 * pair (a regular from now). A failure is logged by the caller. */
static int grey_learn(struct session *s)
{
  nj_glstore *st = triplet_store(s);
  nj_glrec r;
  struct timespec now;
  int e;
  if (!nj_tr_pairkey(&s->g.pairkey, grey_client(s), s->g.from)) return 0;
  clock_gettime(CLOCK_REALTIME, &now);
  memset(&r, 0, sizeof r);
  r.found = NJ_GL_REGULAR;
  r.version = NJ_GL_VERSION;
  r.first = r.last = (int64_t)now.tv_sec;
  r.when = now;
  e = st->write(st, &s->g.pairkey, NJ_GLW_REPLACE, &r);
  if (!e) s->g.pair = 1;                  /* the transaction's next RCPTs pass by it */
  return e;
}

/* State cannot be read or written: fail open, or 451 4.3.0. */
static int grey_fail(struct session *s, const nj_glkey *k, const char *rcpt,
                     const nj_gldecision *d, int e)
{
  char path[400];
  nj_glstore *st = triplet_store(s);
  nj_log l;
  st->where(st, k, path, sizeof path);
  grey_start(&l, s, k, "error", 0, rcpt);
  nj_log_str(&l, "op", d->op ? d->op : "decide");
  nj_log_str(&l, "errno", nj_gl_errname(e));
  nj_log_str(&l, "path", path);
  if (s->g.fail_closed) return grey_refuse(s, &l, k, R_GREYFAIL);
  return grey_pass(&l, "fail-open", 0);
}

/* The triplet's own decision (nj_gl_decide over the store). */
static int grey_triplet(struct session *s, const nj_glkey *k, const char *rcpt)
{
  static const char *const verdict[] = { "", "new", "too-soon", "promote", "regular", "new" };
  nj_gldecision d;
  nj_log l;
  int e = nj_gl_decide(triplet_store(s), k, 0, &s->g.pol, &d), werr;
  if (e) return grey_fail(s, k, rcpt, &d, e);
  grey_start(&l, s, k, verdict[d.v.is],
             d.v.is == NJ_GLV_NEW || d.v.is == NJ_GLV_RESET ? 0 : d.age, rcpt);
  if (d.v.is == NJ_GLV_RESET) nj_log_str(&l, "reset", nj_gl_reason(d.v.reason));
  if (d.v.is == NJ_GLV_TOO_SOON || d.v.is == NJ_GLV_PROMOTE) nj_log_ulong(&l, "count", d.count);
  if (d.v.is == NJ_GLV_TOO_SOON) nj_log_ulong(&l, "min", (unsigned long)s->g.pol.min);
  if (d.v.is != NJ_GLV_PROMOTE && d.v.is != NJ_GLV_REGULAR) {
    if (d.werr) nj_log_str(&l, "error", nj_gl_errname(d.werr));
    return grey_refuse(s, &l, k, R_GREY);
  }
  werr = grey_learn(s);
  if (!werr) werr = d.werr;
  return grey_pass(&l, "triplet", werr);
}

/* Triplet greylisting of a known local recipient (addr, after qmail's
 * rewrite): the lists, then the learned pair, then the triplet. Never for
 * a RELAYCLIENT session, nor before a MAIL. Returns 1 when the RCPT is
 * to be forwarded. */
static int grey_rcpt(struct session *s, const char *addr)
{
  struct grey *g = &s->g;
  char rcpt[NJ_TR_PARTMAX + 1];
  nj_glkey k;
  int r;
  if (!g->dir || s->cf.relayclient || !g->has_from) return 1;
  nj_tr_rcpt(rcpt, addr, strlen(addr));
  if ((r = grey_list(s, rcpt)) >= 0) return r;
  if (grey_pair(s, rcpt)) return 1;
  if (!nj_tr_tripkey(&k, grey_client(s), g->from, rcpt)) return 1;
  return grey_triplet(s, &k, rcpt);
}

/* DATA from a null sender with a triplet not yet good, once the
 * downstream has taken a recipient (else its own 503 goes): 451 4.7.1.
 * Returns 1 when it answered. */
static int grey_data(struct session *s)
{
  nj_log l;
  if (!s->g.at_data || !s->g.txn_ok) return 0;
  nj_log_start(&l, "grey", s->cf.ip);
  nj_log_str(&l, NJ_K_KEY, s->g.data_key);
  nj_log_str(&l, NJ_K_VERDICT, "null-sender");
  nj_log_strn(&l, NJ_K_CODE, R_GREYDATA, 3);
  nj_log_end(&l);
  s->n_grey++;
  say(s, R_GREYDATA, 0, 0);
  if (held(&s->client)) {
    /* the client sent bytes before it could have seen this reply: they
       are never taken as commands (as after a refused DATA, answered()) */
    log1(s, "sync", R_SYNC, 0, 0);
    s->client.inpos = s->client.inlen;
    s->endwhy = "sync";
    say(s, R_SYNC, 1, 0);
    down_close(s, 0);
  }
  return 1;
}

/* The recipient check (qmailrcpt.c). Returns 1 when the command is to be
 * forwarded. */
static int rcpt(struct session *s, const nj_cmd *c)
{
  char addr[NJ_ADDRMAX + 1];
  long alen = nj_rcpt_addr(&s->qm, c->arg, c->arglen, s->cf.relayclient, addr, sizeof addr);
  int r;
  if (alen < 0) return 1;                 /* qmail-smtpd's 555 */
  /* <> (and <@host>, which qmail-smtpd reads as <>) is no recipient */
  r = alen ? nj_rcpt_check(&s->qm, addr) : NJ_RCPT_UNKNOWN;
  switch (r) {
    case NJ_RCPT_NOTOURS: return 1;
    case NJ_RCPT_OK: return grey_rcpt(s, addr);
    case NJ_RCPT_UNVERIFIED: rcpt_log(s, "unverified", 0, addr); return grey_rcpt(s, addr);
    case NJ_RCPT_TEMP:
      s->n_defer++;
      rcpt_log(s, "defer", R_451, addr);
      say(s, R_451, 0, 0);
      return 0;
  }
  unknown(s, addr);
  return 0;
}

/* STARTTLS: passed down in passthrough mode; else ours, as a UCSPI-TLS
 * client (najimi(7)): the downstream forgets the transaction (RSET, its
 * reply swallowed), then 220, then tls_switch(). Whatever the client sent
 * after the STARTTLS line is dropped, never executed (CVE-2011-0411). */
static void starttls(struct session *s, const nj_cmd *c)
{
  struct side *d = &s->down;
  if (s->cf.tls_pass) {
    forward(s, c, NJ_RQ_STARTTLS);
    s->client.inpos = s->client.inlen;    /* plaintext pipelined after it */
  } else if (s->tls.active) say(s, NJ_TLS_AGAIN, 0, 0);
  else if (!s->tls.offered) {
    log1(s, "notls", R_NOTLS, 0, 0);
    say(s, R_NOTLS, 0, 0);
  } else if (c->arglen) say(s, NJ_TLS_ARG, 0, 0);
  else {
    if (!s->q.down && !d->outlen) tain_copynow(&d->t_in);
    memcpy(d->out + d->outlen, "RSET\r\n", 6);
    d->outlen += 6;
    nj_rq_push(&s->q, NJ_RQ_SWALLOW, 0, 0, 0);
    say(s, R_TLSGO, 0, 0);
    s->tls_wait = 1;
    s->client.inpos = s->client.inlen;
  }
}

/* The 220 to STARTTLS is written: 'Y' to starttlsd, the client side on
 * the TLS fds, and the session starts over (RFC 3207 4.2): no command
 * state, no DATA state; the transaction is gone downstream. */
static void tls_switch(struct session *s)
{
  struct side *c = &s->client;
  s->tls_switch = s->tls_wait = 0;
  if (!nj_tls_start(&s->tls)) {         /* starttlsd's part is gone */
    log1(s, "tls", 0, "result", "no-tls-part");
    c->dead = c->eof = 1;
    s->endwhy = "tls";
    down_close(s, 0);
    return;
  }
  side_attach(c, s->tls.rfd, s->tls.wfd);
  grey_reset(s);
  s->cmd.skipping = 0;
  s->dst = NJ_DATA_LINESTART;
  s->mode = M_CMD;
}

/* MAIL under UCSPITLS=! before TLS: 530. Returns 1 when it may go down. */
static int mail_allowed(struct session *s)
{
  if (!s->tls.required || s->tls.active || s->cf.tls_pass) return 1;
  log1(s, "notls", NJ_TLS_FIRST, "reason", "required");
  say(s, NJ_TLS_FIRST, 0, 0);
  return 0;
}

/* Takes one command line from the client's input (nj_cmd_next: the line
 * rules) and does what it says. Returns 1 if it took bytes. */
static int command(struct session *s)
{
  struct side *c = &s->client;
  nj_cmd cmd;
  size_t used = nj_cmd_next(&s->cmd, c->in + c->inpos, held(c), &cmd);
  c->inpos += used;
  if (cmd.status == NJ_CMD_MORE) return used > 0;
  if (cmd.status != NJ_CMD_OK) { badcmd(s, cmd.status); return 1; }
  switch (cmd.verb) {
    case NJ_VERB_RCPT:
      if (rcpt(s, &cmd)) forward(s, &cmd, NJ_RQ_RCPT);
      break;
    case NJ_VERB_DATA:
      if (!grey_data(s)) forward(s, &cmd, NJ_RQ_DATA);
      break;
    case NJ_VERB_MAIL:
      if (mail_allowed(s)) { grey_mail(s, &cmd); forward(s, &cmd, NJ_RQ_OTHER); }
      break;
    case NJ_VERB_EHLO: grey_reset(s); forward(s, &cmd, NJ_RQ_EHLO); break;
    case NJ_VERB_HELO: case NJ_VERB_RSET: grey_reset(s); forward(s, &cmd, NJ_RQ_OTHER); break;
    case NJ_VERB_QUIT:
      forward(s, &cmd, NJ_RQ_QUIT);
      s->quit = 1;
      s->endwhy = "quit";
      down_close(s, 0);
      break;
    case NJ_VERB_BDAT:
      log1(s, "bdat", R_BDAT, 0, 0);
      s->endwhy = "bdat";
      say(s, R_BDAT, 1, 0);
      break;
    case NJ_VERB_STARTTLS: starttls(s, &cmd); break;
    default:
      /* a careless downstream could take DATAx or DATA: for DATA: what
         follows waits for its reply (a 354 there is a protocol error) */
      forward(s, &cmd, cmd.len >= 4 && !case_diffb(cmd.line, 4, "DATA") ? NJ_RQ_HOLD : NJ_RQ_OTHER);
  }
  return 1;
}

/* 1 while the next command may be parsed: not before the replies it might
 * depend on (DATA's 354, STARTTLS's 220, the reply to a verb that looks
 * like DATA), not during a tarpit pause, and
 * only while there is room for it. */
static int may_parse(struct session *s)
{
  if (s->mode != M_CMD || s->ending || s->down.dead || s->down.closing || s->tls_wait) return 0;
  if (s->paused) {
    tain_now_g();
    if (tain_less(&STAMP, &s->pause_until)) return 0;
    s->paused = 0;
  }
  if (s->q.count >= NJ_RQ_MAX - 2 || DOUTMAX - s->down.outlen < NJ_CMD_LINEMAX) return 0;
  /* a null sender's DATA may get a 451 here: it waits for the RCPT replies */
  if (s->g.at_data && nj_rq_has(&s->q, NJ_RQ_RCPT)) return 0;
  return !nj_rq_has(&s->q, NJ_RQ_DATA) && !nj_rq_has(&s->q, NJ_RQ_STARTTLS) &&
         !nj_rq_has(&s->q, NJ_RQ_HOLD);
}

/* Whether the client's input ends inside a command line (its start, for
 * line_deadline(), is when that line's first byte came). */
static void track_line(struct session *s)
{
  const struct side *c = &s->client;
  int in = s->mode == M_CMD && !s->ending &&
           !nj_rq_has(&s->q, NJ_RQ_DATA) && !nj_rq_has(&s->q, NJ_RQ_STARTTLS) &&
           !nj_rq_has(&s->q, NJ_RQ_HOLD) && (s->cmd.skipping || (held(c) && !memchr(c->in + c->inpos, '\n', held(c))));
  if (in && !s->in_line) s->t_line = c->t_in;
  s->in_line = in;
}

/* 1 while buffered client input may still be parsed, or become message
 * data once a pending DATA is answered. */
static int input_pending(const struct session *s)
{
  const struct side *c = &s->client;
  if (s->ending || s->quit || s->down.dead) return 0;
  if (nj_rq_has(&s->q, NJ_RQ_DATA) || nj_rq_has(&s->q, NJ_RQ_STARTTLS) || s->tls_wait) return 1;
  return held(c) && memchr(c->in + c->inpos, '\n', held(c)) != 0;
}

/* ------------------------------------------------------------ DATA */

/* Passes n message bytes of the client's input downstream (in M_DISCARD,
 * drops them). */
static void pass(struct session *s, size_t n)
{
  struct side *c = &s->client, *d = &s->down;
  if (s->mode == M_DATA) {
    if (!d->outlen) tain_copynow(&d->t_in);
    memcpy(d->out + d->outlen, c->in + c->inpos, n);
    d->outlen += n;
    s->n_bytes += n;
  }
  c->inpos += n;
}

/* A bare CR or LF in the message: the downstream is closed without an end
 * of message, so nothing is queued, and the session ends with 451. */
static void smuggled(struct session *s, const char *why)
{
  const char *reply = R_DOWNDATA;         /* M_DISCARD: the downstream is gone */
  if (s->mode == M_DATA) {
    down_close(s, 1);
    reply = R_SMUGGLE;
    log1(s, "smuggle", reply, "reason", why);
    s->endwhy = "smuggle";
  } else down_said(s, reply);
  s->client.inpos = s->client.inlen;
  s->mode = M_CMD;
  say(s, reply, 1, 0);
}

/* The message, from the client's input: nj_data_scan (smtpdata.c) says how
 * far it may pass and where it ends; at its end, the downstream's reply
 * takes a slot. Returns 1 if it did something. */
static int data(struct session *s)
{
  struct side *c = &s->client;
  size_t n = held(c), off;
  int r;
  if (s->mode == M_DATA && n > DOUTMAX - s->down.outlen) n = DOUTMAX - s->down.outlen;
  if (!n) return 0;
  r = nj_data_scan(&s->dst, c->in + c->inpos, n, &off);
  if (r == NJ_DATA_MORE) {
    if (!off) return 0;
    pass(s, off);
    return 1;
  }
  if (r != NJ_DATA_END) {
    smuggled(s, r == NJ_DATA_BARELF ? "bare-lf" : "bare-cr");
    return 1;
  }
  pass(s, off);
  grey_reset(s);                          /* the transaction ends with its message */
  if (s->mode == M_DATA) nj_rq_push(&s->q, NJ_RQ_DATAEND, 0, 0, 0);
  else {
    s->endwhy = "downstream";
    down_said(s, R_DOWNDATA);
    say(s, R_DOWNDATA, 1, 0);
  }
  s->mode = M_CMD;
  return 1;
}

/* ------------------------------------------------------------ replies */

/* RCPTCHECK_TLS=passthrough and the downstream said 220 to STARTTLS: what
 * the client sent before it saw the 220 is dropped, never relayed; from
 * now on both ways are relayed unread (blind()). */
static void start_blind(struct session *s, const char *reply)
{
  struct side *c = &s->client;
  char junk[4096];
  ssize_t r;
  size_t dropped = held(c);
  nj_log l;
  while ((r = read(c->rfd, junk, sizeof junk)) > 0) dropped += (size_t)r;
  c->inpos = c->inlen = 0;
  s->mode = M_BLIND;
  s->endwhy = "tls";
  log_start(&l, s, "tls", reply);
  nj_log_str(&l, "checks", "stopped");
  nj_log_ulong(&l, "dropped", dropped);
  nj_log_end(&l);
}

/* What a downstream reply (its code, its text) means for the session.
 * Returns 2 when replies stop here (blind relay from now on), else 1. */
static int answered(struct session *s, int kind, int code, const char *reply)
{
  if (kind == NJ_RQ_RCPT && code / 100 == 2) { s->n_ok++; s->g.txn_ok++; }
  if (kind == NJ_RQ_RCPT && code / 100 != 2) dictionary(s);
  if (kind == NJ_RQ_DATAEND && code / 100 == 2) s->n_msgs++;
  if (kind == NJ_RQ_DATA) {
    if (code == 354) {
      s->mode = M_DATA;
      s->dst = NJ_DATA_LINESTART;
    } else if (held(&s->client)) {
      /* the client sent bytes before it could have seen this reply */
      log1(s, "sync", R_SYNC, 0, 0);
      s->client.inpos = s->client.inlen;
      end_now(s, R_SYNC, "sync");
      down_close(s, 0);
    }
  }
  if (kind == NJ_RQ_STARTTLS && code == 220) {
    start_blind(s, reply);
    return 2;
  }
  return 1;
}

/* The downstream's reply for the slot at the head, once it is whole.
 * Returns 0 while it is not, 2 when replies stop here, else 1. */
static int reply_down(struct session *s, const nj_rqslot *slot)
{
  struct side *c = &s->client, *d = &s->down;
  const char *r = d->in + d->inpos;
  long l = nj_reply_len(r, held(d));
  int kind = slot->kind, code;
  if (l < 0) {
    const char *reply = s->mode == M_DATA ? R_DOWNDATA : R_DOWN;
    down_kill(s, "garbage", reply);
    end_now(s, reply, "downstream");
    return 1;
  }
  if (!l) {
    if (!d->dead && !d->eof) return 0;
    down_kill(s, "eof", R_DOWN);
    end_now(s, R_DOWN, "downstream");
    return 1;
  }
  if (c->outsize - c->outlen < 2 * (size_t)l + 2 + NJ_REPLY_ADDMAX) return 0;
  code = (r[0] - '0') * 100 + (r[1] - '0') * 10 + (r[2] - '0');
  if (code == 354 && kind != NJ_RQ_DATA) {
    /* it would take what follows as a message (DATAx, DATA:): never let
       the two sides disagree on where a message is */
    down_kill(s, "bad-354", R_DOWN);
    end_now(s, R_DOWN, "downstream");
    return 1;
  }
  if (!c->dead && kind != NJ_RQ_SWALLOW)
    c->outlen += nj_reply_copy(c->out + c->outlen, r, (size_t)l,
                               (kind == NJ_RQ_EHLO && code == 250 ? NJ_REPLY_EHLO : 0) |
                               (s->cf.tls_pass ? NJ_REPLY_KEEPTLS : 0) |
                               (s->tls.offered ? NJ_REPLY_ADDTLS : 0));
  d->inpos += (size_t)l;                  /* r stays readable until the next read */
  nj_rq_pop(&s->q);
  return answered(s, kind, code, r);
}

/* A local reply at the head, once its time has come. Returns 0 while it
 * waits, 2 after the final one, else 1. */
static int reply_local(struct session *s, const nj_rqslot *slot)
{
  size_t tl = strlen(slot->text);
  tain_now_g();
  if (tain_less(&STAMP, &slot->ready)) return 0;
  if (s->client.outsize - s->client.outlen < tl + 2) return 0;
  client_put(s, slot->text, tl);
  client_put(s, "\r\n", 2);
  if (slot->text == R_TLSGO) s->tls_switch = 1;
  if (slot->final) {
    s->ending = 2;                        /* said our last word */
    nj_rq_clear(&s->q);
    return 2;
  }
  nj_rq_pop(&s->q);
  return 1;
}

/* Bytes from the downstream with no slot waiting: its goodbye after our
 * end of file (dropped), or a protocol error (421). 1 if it queued one. */
static int unasked(struct session *s)
{
  struct side *d = &s->down;
  long l;
  if (s->mode == M_BLIND || !held(d) || d->dead || s->late) return 0;
  if (d->closing) { d->inpos = d->inlen = 0; return 0; }
  l = nj_reply_len(d->in + d->inpos, held(d));
  if (!l && !d->eof) return 0;
  down_kill(s, l < 0 ? "garbage" : "unsolicited", R_DOWN);
  end_now(s, R_DOWN, "downstream");
  return 1;
}

/* Moves replies to the client strictly in slot order: a local one when
 * its time has come, the downstream's as each arrives whole. Returns 1 if
 * it did something. */
static int replies(struct session *s)
{
  int did = 0;
  for (;;) {
    const nj_rqslot *slot = nj_rq_head(&s->q);
    int r = !slot ? unasked(s)
          : slot->kind == NJ_RQ_LOCAL ? reply_local(s, slot) : reply_down(s, slot);
    if (!r) return did;
    if (r == 2) return 1;
    did = 1;
  }
}

/* The blind relay after STARTTLS in passthrough mode. */
static void blind(struct session *s)
{
  struct side *c = &s->client, *d = &s->down;
  if (held(c) && !d->outlen && d->wfd >= 0) {
    size_t n = held(c) < d->outsize ? held(c) : d->outsize;
    memcpy(d->out, c->in + c->inpos, n);
    d->outlen = n;
    c->inpos += n;
  }
  if (held(d) && !c->outlen) {
    size_t n = held(d) < c->outsize ? held(d) : c->outsize;
    memcpy(c->out, d->in + d->inpos, n);
    c->outlen = n;
    d->inpos += n;
  }
  if (c->eof && !held(c) && !d->outlen && d->wfd >= 0) { close(d->wfd); d->wfd = -1; }
}

/* ------------------------------------------------------------ the loop */

/* What the end of either side means while the session goes on: once the
 * client has said all it will, the downstream may finish too; a
 * downstream that is gone (left unasked, or failed mid-message) and owes
 * no reply gets the client a 421. Returns 1 if it queued a reply. */
static int react(struct session *s)
{
  struct side *c = &s->client, *d = &s->down;
  if (s->mode == M_BLIND) return 0;
  if (s->ending && !d->closing) down_close(s, 0);
  if (c->eof && s->mode == M_CMD && !input_pending(s) && !d->closing) down_close(s, 0);
  if ((d->eof || d->dead) && !s->q.count && !held(d) && !s->quit && !c->eof && !s->ending) {
    down_kill(s, "eof", R_DOWN);
    end_now(s, R_DOWN, "downstream");
    return 1;
  }
  return 0;
}

/* Does all that needs no waiting: commands parsed, message bytes scanned
 * and passed, replies moved, until nothing moves. */
static void pump(struct session *s)
{
  int moved;
  do {
    moved = 0;
    if (s->mode == M_BLIND) { blind(s); return; }
    if (s->tls_switch && !s->client.outlen) { tls_switch(s); moved = 1; }
    if (s->mode == M_CMD) while (may_parse(s) && command(s)) moved = 1;
    else moved |= data(s);
    moved |= replies(s);
    if (s->ending == 2) return;
    if (!moved) moved = react(s);
  } while (moved);
}

/* When is the session over? Here, and nowhere else. Returns the reason
 * (the done line's end=), or 0 while it goes on. */
static const char *over(const struct session *s)
{
  const struct side *c = &s->client, *d = &s->down;
  if (s->ending == 2) return s->endwhy;            /* we said our last word */
  if (s->mode == M_BLIND)                          /* either side is gone */
    return c->dead || (d->rfd < 0 && !held(d) && !c->outlen) ? s->endwhy : 0;
  /* the client left mid-message, nothing more of it to pass: no end of
     message was sent, so nothing is queued */
  if (c->eof && s->mode == M_DATA && DOUTMAX - d->outlen >= held(c)) return HANGUP;
  if (c->eof && s->mode == M_DISCARD) return "eof-in-data";
  /* the downstream is gone and owes nothing (react() has given the 421 if
     it left unasked) */
  if ((d->eof || d->dead) && !s->q.count && !held(d)) return s->endwhy;
  /* nobody can hear us, and the downstream is done */
  if (c->dead && d->closing && d->rfd < 0) return s->endwhy;
  return 0;
}

/* 1 while the client's input is read. */
static int client_reads(const struct session *s)
{
  const struct side *c = &s->client;
  if (c->rfd < 0 || c->eof || s->quit || s->ending || s->tls_wait) return 0;
  return held(c) < c->insize && (s->mode != M_CMD || held(c) < c->insize / 2);
}

/* The downstream's deadline while we wait on it: the reply timeout (at
 * least the data timeout while a message's final reply is due; the
 * client's in the blind relay), from its last progress. 0: no deadline.
 * The final reply waits 10 minutes by default (RFC 5321 4.5.3.2.6): the
 * downstream may be queueing the message, and a client told 421 before
 * it is done sends the message again. */
static int down_deadline(const struct session *s, tain *t)
{
  const struct side *d = &s->down;
  unsigned long secs = s->mode == M_BLIND ? s->cf.to_client : s->cf.to_reply;
  if (d->rfd < 0 || s->late || !(s->q.down || d->outlen || d->closing || s->mode == M_BLIND)) return 0;
  if (nj_rq_has(&s->q, NJ_RQ_DATAEND) && secs < s->cf.to_data) secs = s->cf.to_data;
  tain_addsec(t, tain_less(&d->t_in, &d->t_out) ? &d->t_out : &d->t_in, (int)secs);
  return 1;
}

/* The client's, to send its next line while the downstream owes nothing. */
static int client_read_deadline(const struct session *s, tain *t)
{
  if (!client_reads(s) || s->q.down || s->down.outlen) return 0;
  tain_addsec(t, &s->client.t_in, (int)s->cf.to_client);
  return 1;
}

/* A command line has a deadline of its own: from its first byte, the
 * client timeout, however slowly the rest of it drips in. */
static int line_deadline(const struct session *s, tain *t)
{
  if (!s->in_line || s->mode != M_CMD || !client_reads(s)) return 0;
  tain_addsec(t, &s->t_line, (int)s->cf.to_client);
  return 1;
}

/* The whole session's (RCPTCHECK_MAXTIME), except while a message's final
 * reply is due: that has its own deadline, and is never cut short. */
static int session_deadline(const struct session *s, tain *t)
{
  if (!s->cf.maxtime || s->ending || nj_rq_has(&s->q, NJ_RQ_DATAEND)) return 0;
  tain_addsec(t, &s->t_start, (int)s->cf.maxtime);
  return 1;
}

/* The client's, to take what we write. */
static int client_write_deadline(const struct session *s, tain *t)
{
  if (!s->client.outlen || s->client.dead) return 0;
  tain_addsec(t, &s->client.t_out, (int)s->cf.to_client);
  return 1;
}

static void earliest(tain *deadline, int (*f)(const struct session *, tain *),
                     const struct session *s)
{
  tain t;
  if (f(s, &t) && tain_less(&t, deadline)) *deadline = t;
}

/* The earliest deadline, or the end of a tarpit pause if that is sooner. */
static void next_deadline(struct session *s, tain *deadline)
{
  const nj_rqslot *h = nj_rq_head(&s->q);
  tain_add_g(deadline, &tain_infinite_relative);
  earliest(deadline, down_deadline, s);
  earliest(deadline, client_read_deadline, s);
  earliest(deadline, line_deadline, s);
  earliest(deadline, session_deadline, s);
  earliest(deadline, client_write_deadline, s);
  if (h && h->kind == NJ_RQ_LOCAL && tain_less(&STAMP, &h->ready) &&
      tain_less(&h->ready, deadline)) *deadline = h->ready;
  if (s->paused && tain_less(&STAMP, &s->pause_until) &&
      tain_less(&s->pause_until, deadline)) *deadline = s->pause_until;
}

static int passed(int (*f)(const struct session *, tain *), const struct session *s)
{
  tain t;
  return f(s, &t) && !tain_less(&STAMP, &t);
}

/* The final reply did not come in time. The client is told 421 (it will
 * send the message again); the downstream is not killed but heard out
 * after the client is gone, so that a message it queued late is logged
 * ("late"): that one may reach its recipients twice. */
static void final_timeout(struct session *s)
{
  log1(s, "downstream", R_DOWN, "reason", "final-timeout");
  s->late = 1;
  end_now(s, R_DOWN, "downstream");
}

/* The client is out of time: 421 4.4.2. A message in progress is dropped
 * (no end of message is sent: nothing is queued). */
static void client_timeout(struct session *s, const char *reply, const char *why)
{
  struct side *c = &s->client;
  if (why) log1(s, "timeout", reply, "reason", why);
  else log1(s, "timeout", reply, 0, 0);
  if (s->mode == M_DATA) down_close(s, 1);
  down_said(s, reply);
  end_now(s, reply, why && !strcmp(why, "maxtime") ? "maxtime" : "timeout");
  if (s->mode != M_CMD) { s->mode = M_CMD; c->inpos = c->inlen; }
}

/* A deadline passed: whose? */
static void timeout(struct session *s)
{
  struct side *c = &s->client;
  tain_now_g();
  if (passed(client_write_deadline, s)) {
    c->dead = c->eof = 1;                 /* nothing more can be said to it */
    c->outlen = 0;
    s->endwhy = "client-timeout";
  } else if (passed(down_deadline, s)) {
    if (s->mode == M_BLIND) finish(s, "timeout");
    if (s->mode == M_DATA) down_fail_data(s, "timeout");
    else if (nj_rq_has(&s->q, NJ_RQ_DATAEND)) final_timeout(s);
    else {
      down_kill(s, "timeout", R_DOWN);
      end_now(s, R_DOWN, "downstream");
    }
  } else if (passed(client_read_deadline, s)) client_timeout(s, R_TIMEOUT, 0);
  else if (passed(line_deadline, s)) client_timeout(s, R_TIMEOUT, "line");
  else if (passed(session_deadline, s)) {
    if (s->mode == M_BLIND) finish(s, "maxtime");
    client_timeout(s, R_MAXTIME, "maxtime");
  }
}

static void client_write(struct session *s)
{
  struct side *c = &s->client;
  int r = side_write(c);
  if (r < 0) {
    c->dead = c->eof = 1;
    c->outlen = 0;
  } else if (r && !c->outlen) c->t_in = c->t_out;   /* now it is the client's turn */
}

static void down_write(struct session *s)
{
  struct side *d = &s->down;
  if (side_write(d) < 0) {
    if (s->mode == M_DATA) down_fail_data(s, "write");
    else down_kill(s, "write", R_DOWN);
  } else if (!d->outlen && d->closing && d->wfd >= 0) {
    close(d->wfd);
    d->wfd = -1;
  }
}

static void down_read(struct session *s)
{
  struct side *d = &s->down;
  if (side_read(d) >= 0) return;
  close(d->rfd);
  d->rfd = -1;
  if (s->mode == M_DATA) down_fail_data(s, "eof");
}

/* Waits in iopause until a byte can move on either side, then moves it.
 * Returns 0 when a deadline passed instead. */
static int io(struct session *s)
{
  struct side *c = &s->client, *d = &s->down;
  iopause_fd x[4];
  unsigned int n = 0;
  int ic = -1, oc = -1, id = -1, od = -1, r;
  tain deadline;
  /* a write is tried at once: only one that would block waits here, so a
     command costs two waits (its line, its reply), not four */
  if (c->outlen && !c->dead) {
    size_t before = c->outlen;
    client_write(s);
    if (c->dead || c->outlen < before) return 1;
  }
  if (d->wfd >= 0 && d->outlen) {
    size_t before = d->outlen;
    down_write(s);
    if (d->dead || d->outlen < before) return 1;
  }
  if (client_reads(s)) { ic = n; x[n].fd = c->rfd; x[n++].events = IOPAUSE_READ; }
  if (c->outlen && !c->dead) { oc = n; x[n].fd = c->wfd; x[n++].events = IOPAUSE_WRITE; }
  if (d->rfd >= 0 && held(d) < d->insize && !s->late) { id = n; x[n].fd = d->rfd; x[n++].events = IOPAUSE_READ; }
  if (d->wfd >= 0 && d->outlen) { od = n; x[n].fd = d->wfd; x[n++].events = IOPAUSE_WRITE; }
  next_deadline(s, &deadline);
  r = iopause_g(x, n, &deadline);
  if (r < 0) {
    if (errno == EINTR) return 1;
    strerr_diefu1sys(111, "iopause");
  }
  if (!r) return 0;
  if (oc >= 0 && x[oc].revents) client_write(s);
  if (od >= 0 && x[od].revents) down_write(s);
  if (id >= 0 && x[id].revents) down_read(s);
  if (ic >= 0 && x[ic].revents) side_read(c);        /* its end: c->eof */
  return 1;
}

/* ------------------------------------------------------------ start, end */

static int tls_mode(const char *s)
{
  if (!s || !*s || !strcmp(s, "remove")) return 0;
  if (!strcmp(s, "passthrough")) return 1;
  {
    char san[NJ_LOGVAL + 4];
    nj_sanitise(san, NJ_LOGVAL, s, strlen(s));
    strerr_warnw("invalid RCPTCHECK_TLS=", san, ", using default remove");
  }
  return 0;
}

/* The downstream cannot be started (no descriptors left, no memory, no
 * such program): the client is told 421 first, then exit 111. err is the
 * error; a posix_spawn function returns it instead of setting errno. */
static void spawn_fail(int err, const char *what, const char *arg) __attribute__((noreturn));
static void spawn_fail(int err, const char *what, const char *arg)
{
  if (write(1, R_DOWN, sizeof R_DOWN - 1) < 0 || write(1, "\r\n", 2) < 0) {}
  errno = err;
  strerr_diefusys(111, what, arg);
}

/* Starts the downstream on two pipes with posix_spawnp (a vfork-style
 * clone: cheaper than fork, and an exec failure is reported here). */
static void spawn(struct session *s, char const *const *argv)
{
  int in[2], out[2], err;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t dfl;
  if (pipecoe(in) < 0 || pipecoe(out) < 0) spawn_fail(errno, "create pipes", "");
  if ((err = posix_spawn_file_actions_init(&fa)) || (err = posix_spawnattr_init(&at)) ||
      (err = posix_spawn_file_actions_adddup2(&fa, in[0], 0)) ||
      (err = posix_spawn_file_actions_adddup2(&fa, out[1], 1)))
    spawn_fail(err, "set up the downstream", "");
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);               /* the downstream gets SIGPIPE back */
  if ((err = posix_spawnattr_setsigdefault(&at, &dfl)) ||
      (err = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF)))
    spawn_fail(err, "set up the downstream", "");
  err = posix_spawnp(&s->child, argv[0], &fa, &at, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(in[0]);
  close(out[1]);
  if (err) spawn_fail(err, "exec ", argv[0]);
  fcntl(in[1], F_SETPIPE_SZ, 1 << 20);    /* fewer wake-ups in DATA */
  side_attach(&s->down, out[0], in[1]);
}

static void on_alarm(int sig) { (void)sig; }

/* Waits for the downstream to exit: it has its EOF by now. After 5 s it
 * gets SIGTERM, after 7 s SIGKILL; never a zombie, never an orphan. */
static void reap(struct session *s)
{
  int st, i;
  struct sigaction sa;
  if (s->child <= 0) return;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;               /* no SA_RESTART: waitpid gives EINTR */
  sigaction(SIGALRM, &sa, 0);
  for (i = 0; i < 3; i++) {
    alarm(i == 0 ? 5 : 2);
    if (waitpid(s->child, &st, 0) == s->child || errno != EINTR) break;
    kill(s->child, i == 0 ? SIGTERM : SIGKILL);
  }
  alarm(0);
  s->child = 0;
}

static void summary(const struct session *s)
{
  nj_log l;
  nj_log_start(&l, "done", s->cf.ip);
  nj_log_ulong(&l, NJ_K_MSGS, s->n_msgs);
  nj_log_ulong(&l, "rcpt_ok", s->n_ok);
  nj_log_ulong(&l, "rcpt_bad", s->n_bad);
  nj_log_ulong(&l, "rcpt_defer", s->n_defer);
  if (s->g.dir) nj_log_ulong(&l, "rcpt_grey", s->n_grey);
  nj_log_ulong(&l, "bad_cmd", s->n_badcmd);
  nj_log_ulong(&l, "bytes", s->n_bytes);
  nj_log_str(&l, "end", s->endwhy);
  nj_log_str(&l, "tls", s->tls.active || s->mode == M_BLIND ? "yes" : "no");
  nj_log_end(&l);
}

/* Lets the client read our last words: half-close, then drain its input
 * for a short while, so that closing does not reset the connection. */
static void linger(const struct session *s)
{
  const struct side *c = &s->client;
  char junk[4096];
  tain deadline;
  if (c->dead) return;
  if (s->tls.active) {                  /* pipes: starttlsd-io lingers */
    close(c->wfd);
    return;
  }
  shutdown(c->wfd, SHUT_WR);
  if (c->eof) return;
  tain_now_g();
  tain_addsec_g(&deadline, 2);
  while (nj_read(c->rfd, junk, sizeof junk, &deadline) > 0) {}
}

/* After a final reply that did not come in time (final_timeout()), the
 * client is gone: the downstream's answer is waited for as long again,
 * and logged as "late", with the code the client never saw. */
static void hear_out(struct session *s)
{
  struct side *d = &s->down;
  tain deadline;
  char code[4];
  long l = 0;
  if (!s->late || d->rfd < 0) return;
  tain_now_g();
  tain_addsec_g(&deadline, (int)(s->cf.to_data > s->cf.to_reply ? s->cf.to_data : s->cf.to_reply));
  for (;;) {
    ssize_t r;
    l = nj_reply_len(d->in + d->inpos, held(d));
    if (l || d->inlen >= d->insize) break;
    r = nj_read(d->rfd, d->in + d->inlen, d->insize - d->inlen, &deadline);
    if (r <= 0) break;
    d->inlen += (size_t)r;
  }
  if (l <= 0) return;
  memcpy(code, d->in + d->inpos, 3);
  code[3] = 0;
  log1(s, "late", 0, "reply", code);
}

static void finish(struct session *s, const char *why)
{
  struct side *c = &s->client, *d = &s->down;
  s->endwhy = why;
  down_said(s, 0);
  if (why == HANGUP) log1(s, "hangup", 0, "state", "data");
  if (d->wfd >= 0) { close(d->wfd); d->wfd = -1; }
  if (c->outlen && !c->dead) {
    tain deadline;
    tain_now_g();
    tain_addsec_g(&deadline, (int)(s->cf.to_client < 30 ? s->cf.to_client : 30));
    nj_write(c->wfd, c->out, c->outlen, &deadline);
  }
  c->outlen = 0;
  linger(s);
  hear_out(s);
  if (d->rfd >= 0) { close(d->rfd); d->rfd = -1; }
  triplet_store_close(s);
  if (s->g.list_state > 0) nj_tr_list_close(&s->g.list);
  reap(s);
  summary(s);
  _exit(0);
}

/* Reads the options and the environment into cf; returns the downstream's
 * argv. */
static char const *const *configure(int argc, char const *const *argv, struct config *cf,
                                    nj_tls *tls, char *ipbuf, const char **alias)
{
  subgetopt l = SUBGETOPT_ZERO;
  nj_ip cip;
  unsigned long o_client = 300, o_reply = 300, o_data = 600;
  for (;;) {
    int opt = subgetopt_r(argc, argv, "a:t:r:d:", &l);
    if (opt == -1) break;
    switch (opt) {
      case 'a': *alias = l.arg; break;
      case 't': o_client = nj_opt_ulong('t', l.arg, 1, 86400); break;
      case 'r': o_reply = nj_opt_ulong('r', l.arg, 1, 86400); break;
      case 'd': o_data = nj_opt_ulong('d', l.arg, 1, 86400); break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  if (l.ind >= argc) strerr_dieusage(100, USAGE);
  if (*alias && (!**alias || strchr(*alias, '/'))) strerr_dieusage(100, USAGE);
  cf->ip = 0;
  if (nj_ip_client(&cip, 0)) { nj_ip_fmt(ipbuf, &cip); cf->ip = ipbuf; }
  cf->to_client = nj_env_ulong("RCPTCHECK_TIMEOUT", o_client, 1, 86400, 1);
  cf->to_reply = nj_env_ulong("RCPTCHECK_REPLYTIMEOUT", o_reply, 1, 86400, 1);
  cf->to_data = nj_env_ulong("RCPTCHECK_DATATIMEOUT", o_data, 1, 86400, 1);
  cf->maxbad = nj_env_ulong("RCPTCHECK_MAXBAD", 10, 0, 1000000, 1);
  cf->tarpit = nj_env_ulong("RCPTCHECK_TARPIT", 0, 0, TARPITCAP, 1);
  cf->maxtime = nj_env_ulong("RCPTCHECK_MAXTIME", 3600, 0, 604800, 1);
  cf->tls_pass = tls_mode(getenv("RCPTCHECK_TLS"));
  nj_tls_init(tls);
  if (cf->tls_pass) tls->offered = 0;   /* the downstream's own STARTTLS */
  nj_tls_hide(tls);                     /* qmail-smtpd sees none of it */
  cf->relayclient = getenv("RELAYCLIENT");
  return argv + l.ind;
}

static void session_init(struct session *s, const char *alias)
{
  nj_qmail_init(&s->qm, getenv("QMAILHOME"), getenv("RCPTCHECK_CDB"), alias);
  s->qm.homescdb = getenv("RCPTCHECK_HOMES");
  if (s->qm.homescdb && !*s->qm.homescdb) s->qm.homescdb = 0;
  s->mode = M_CMD;
  side_init(&s->client, s->cin, sizeof s->cin, s->cout, sizeof s->cout);
  side_init(&s->down, s->din, sizeof s->din, s->dout, sizeof s->dout);
  nj_rq_clear(&s->q);
  s->cmd.mode = NJ_CMD_STRICT;
  s->cmd.skipping = 0;
  s->dst = NJ_DATA_LINESTART;
  s->quit = s->ending = s->paused = 0;
  s->tls_wait = s->tls_switch = 0;
  s->pause_until = tain_zero;
  s->child = 0;
  s->endwhy = "eof";
  s->down_why = 0;
  s->late = s->in_line = 0;
  tain_copynow(&s->t_start);
  s->t_line = s->t_start;
  s->n_msgs = s->n_ok = s->n_bad = s->n_defer = s->n_grey = s->n_badcmd = s->n_bytes = 0;
  grey_init(s);
}

int main(int argc, char const *const *argv)
{
  struct session s;
  char ipbuf[NJ_IPFMT];
  const char *alias = 0;
  nj_version_opt(argc, argv);
  argv = configure(argc, argv, &s.cf, &s.tls, ipbuf, &alias);
  tain_now_set_stopwatch_g();
  session_init(&s, alias);
  sig_ignore(SIGPIPE);
  spawn(&s, argv);
  side_attach(&s.client, 0, 1);
  nj_rq_push(&s.q, NJ_RQ_GREETING, 0, 0, 0);   /* the downstream's 220 */

  for (;;) {
    const char *why;
    pump(&s);
    track_line(&s);
    if ((why = over(&s))) finish(&s, why);
    if (!io(&s)) timeout(&s);
  }
}
