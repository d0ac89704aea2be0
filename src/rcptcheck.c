/* rcptcheck: refuses unknown local recipients at RCPT time, by qmail's own
 * delivery rules, as an SMTP proxy in front of qmail-smtpd.
 *
 *   client <-> rcptcheck <-> next program (qmail-smtpd) on two pipes
 *
 * Every command the client sends takes one slot in a queue; a slot is
 * answered either by the downstream (the command was forwarded) or by
 * rcptcheck itself (a 550 for an unknown recipient, a 500 for a bad
 * line...). Replies leave strictly in slot order, so PIPELINING keeps
 * its order. DATA mode starts on the downstream's 354 only; the message
 * is passed through byte for byte and only <CRLF>.<CRLF> ends it. A bare
 * CR or LF in the message ends the session without ever sending a
 * terminator downstream, so nothing is queued.
 *
 * One event loop, non-blocking descriptors, fixed buffers: memory is
 * the same for a 1 kB and a 1 GB message. */
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
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
#include "najimi.h"
#include "qmailrcpt.h"

#define USAGE "rcptcheck [ -a aliasuser ] [ -t clienttimeout ] [ -r replytimeout ] [ -d datatimeout ] prog [ args... ]"

const char *PROG = "rcptcheck";
extern char **environ;

#define CMDMAX   512          /* a command line, CRLF included (RFC 5321) */
#define CINMAX   65536        /* client input */
#define DOUTMAX  65536        /* toward the downstream */
#define DINMAX   16384        /* replies from the downstream */
#define REPLYMAX 8192         /* one whole (multi-line) reply */
#define COUTMAX  32768        /* toward the client */
#define SLOTMAX  128          /* commands awaiting a reply */
#define TARPITCAP 60          /* seconds, the longest single pause */
#define BADLOGMAX 10          /* bad command lines logged per session */

/* ------------------------------------------------------------ slots */

enum kind {
  K_GREETING, K_EHLO, K_RCPT, K_DATA, K_DATAEND, K_STARTTLS, K_QUIT, K_OTHER,
  K_LOCAL
};

typedef struct slot_s {
  unsigned char kind;
  unsigned char final;        /* a local reply after which the session ends */
  const char *text;           /* local reply, without CRLF */
  tain ready;                 /* local reply held back until then (tarpit) */
} slot;

static slot slots[SLOTMAX];
static unsigned int shead, scount, sdown;   /* sdown: downstream slots queued */

/* ------------------------------------------------------------ buffers */

static char cin[CINMAX + 1];
static size_t cinpos, cinlen;
static char dout[DOUTMAX];
static size_t doutlen;
static char din[DINMAX];
static size_t dinlen;
static char cout[COUTMAX];
static size_t coutlen;

/* ------------------------------------------------------------ state */

enum mode { M_CMD, M_DATA, M_DISCARD, M_BLIND };
enum dstate { D_LINESTART, D_MID, D_CR, D_DOT, D_DOTCR };

static int mode = M_CMD;
static int dst;                 /* data scanner state at cinpos */
static int fdcin = 0, fdcout = 1, fddin = -1, fddout = -1;
static pid_t child;
static int client_eof, client_dead, down_eof, down_dead, down_closing;
static int quit_sent, ending, skipping, paused;
static tain pause_until;
static const char *endwhy = "eof";

static char ipbuf[NJ_IPFMT];
static const char *ip;
static nj_qmail qm;
static const char *relayclient;
static int tls_pass;
static unsigned long maxbad, tarpit;
static unsigned long to_client, to_reply, to_data;

static unsigned long n_msgs, n_ok, n_bad, n_defer, n_badcmd, n_bytes;
static tain t_client, t_down, t_cout;    /* last progress on each side */

static void logline(const char *action, unsigned long code, const char *key,
                    const char *val, size_t vlen, const char *k2, const char *v2)
{
  nj_log l;
  nj_log_start(&l, action, ip);
  if (code) nj_log_ulong(&l, NJ_K_CODE, code);
  if (key) nj_log_strn(&l, key, val, vlen);
  if (k2) nj_log_str(&l, k2, v2);
  nj_log_end(&l);
}

/* ------------------------------------------------------------ output */

static void cout_put(const char *s, size_t n)
{
  if (client_dead) return;
  if (n > COUTMAX - coutlen) n = COUTMAX - coutlen;    /* callers check room */
  memcpy(cout + coutlen, s, n);
  coutlen += n;
}

static void cout_line(const char *s)
{
  cout_put(s, strlen(s));
  cout_put("\r\n", 2);
}

static int slot_push(int kind, const char *text, int final, const tain *ready)
{
  slot *s;
  if (scount >= SLOTMAX) return 0;
  s = &slots[(shead + scount) % SLOTMAX];
  s->kind = (unsigned char)kind;
  s->text = text;
  s->final = (unsigned char)final;
  if (ready) s->ready = *ready;
  else tain_copynow(&s->ready);
  scount++;
  if (kind != K_LOCAL) sdown++;
  if (final) ending = 1;
  return 1;
}

static void slot_pop(void)
{
  if (slots[shead].kind != K_LOCAL) sdown--;
  shead = (shead + 1) % SLOTMAX;
  scount--;
}

/* Stops talking to the downstream: no terminator is ever sent after this,
 * so a message in progress is not queued. */
static void down_close(int drop)
{
  if (drop) doutlen = 0;
  down_closing = 1;
  if (!doutlen && fddout >= 0) { close(fddout); fddout = -1; }
}

static void down_kill(const char *why, unsigned long code)
{
  if (down_dead) return;
  logline("downstream", code, "reason", why, strlen(why), 0, 0);
  down_dead = 1;
  down_close(1);
  if (fddin >= 0) { close(fddin); fddin = -1; }
  dinlen = 0;
  if (child > 0) kill(child, SIGTERM);
}

/* Ends the session at once with a local reply (after the replies already
 * queued for the client). */
static void end_now(const char *text, const char *why)
{
  endwhy = why;
  while (scount) slot_pop();
  slot_push(K_LOCAL, text, 1, 0);
}

/* ------------------------------------------------------------ commands */

static int verb_is(const char *line, size_t n, const char *verb)
{
  size_t i, vl = strlen(verb);
  if (n < vl) return 0;
  for (i = 0; i < vl; i++) {
    char c = line[i];
    if (c >= 'a' && c <= 'z') c = (char)(c - 32);
    if (c != verb[i]) return 0;
  }
  return n == vl || line[vl] == ' ';
}

static const char R_550[] = "550 5.1.1 sorry, no mailbox here by that name";
static const char R_451[] = "451 4.3.0 cannot verify this recipient now, try again later";
static const char R_LIMIT[] = "421 4.7.0 too many unknown recipients, closing connection";
static const char R_BDAT[] = "421 4.5.0 BDAT is not supported here, closing connection";
static const char R_NOTLS[] = "454 4.7.0 TLS not available";
static const char R_LONG[] = "500 5.5.2 command line too long";
static const char R_BARELF[] = "500 5.5.2 command lines must end with CRLF";
static const char R_BADCHAR[] = "501 5.5.2 NUL or bare CR in command";
static const char R_SMUGGLE[] = "451 4.5.0 bare CR or LF in message data, message not accepted";
static const char R_DOWN[] = "421 4.3.0 mail server unavailable, closing connection";
static const char R_DOWNDATA[] = "451 4.3.0 mail server failed, message not accepted";
static const char R_TIMEOUT[] = "421 4.4.2 timeout, closing connection";
static const char R_SYNC[] = "421 4.5.0 data sent before the 354 reply, closing connection";

static void badcmd(const char *reply, unsigned long code, const char *why)
{
  n_badcmd++;
  if (n_badcmd <= BADLOGMAX) logline("badcmd", code, "reason", why, strlen(why), 0, 0);
  slot_push(K_LOCAL, reply, 0, 0);
}

/* The recipient check. Returns 1 when the command is to be forwarded. */
static int rcpt(const char *line, size_t n)
{
  char addr[NJ_ADDRMAX + 1];
  long alen;
  size_t i = 4;
  int r;
  while (i < n && line[i] == ' ') i++;
  alen = nj_addrparse(line + i, n - i, addr, sizeof addr - 200);
  if (alen < 0) return 1;
  if (relayclient) {
    size_t rl = strlen(relayclient);
    if ((size_t)alen + rl >= sizeof addr) return 1;
    memcpy(addr + alen, relayclient, rl + 1);
  }
  /* <> (and <@host>, which qmail-smtpd reads as <>) is no recipient */
  r = alen ? nj_rcpt_check(&qm, addr) : NJ_RCPT_UNKNOWN;
  if (r == NJ_RCPT_OK || r == NJ_RCPT_NOTOURS) return 1;
  if (r == NJ_RCPT_TEMP) {
    n_defer++;
    logline("defer", 451, "rcpt", addr, strlen(addr), "reason", qm.why ? qm.why : "lookup");
    slot_push(K_LOCAL, R_451, 0, 0);
    return 0;
  }
  n_bad++;
  logline("reject", 550, "rcpt", addr, strlen(addr), 0, 0);
  if (tarpit) {
    unsigned long secs = tarpit * n_bad;
    if (secs > TARPITCAP) secs = TARPITCAP;
    tain_now_g();
    tain_addsec_g(&pause_until, (int)secs);
    paused = 1;
    slot_push(K_LOCAL, R_550, 0, &pause_until);
  } else slot_push(K_LOCAL, R_550, 0, 0);
  if (maxbad && n_bad >= maxbad) {
    char num[32];
    size_t k = 0;
    unsigned long v = n_bad;
    char tmp[32];
    do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (i = 0; i < k; i++) num[i] = tmp[k - 1 - i];
    num[k] = 0;
    logline("limit", 421, 0, 0, 0, "bad", num);
    endwhy = "limit";
    slot_push(K_LOCAL, R_LIMIT, 1, paused ? &pause_until : 0);
  }
  return 0;
}

static void forward(const char *line, size_t n, int kind)
{
  if (!sdown && !doutlen) tain_copynow(&t_down);
  memcpy(dout + doutlen, line, n);
  doutlen += n;
  slot_push(kind, 0, 0, 0);
}

/* Takes one command line from cin. Returns 1 if it did something. */
static int command(void)
{
  char *p = cin + cinpos, *lf;
  size_t avail = cinlen - cinpos, n, body;
  if (!avail) return 0;
  lf = memchr(p, '\n', avail < CMDMAX ? avail : CMDMAX);
  if (skipping) {
    lf = memchr(p, '\n', avail);
    if (!lf) { cinpos = cinlen; return 1; }
    cinpos += (size_t)(lf - p) + 1;
    skipping = 0;
    badcmd(R_LONG, 500, "toolong");
    return 1;
  }
  if (!lf) {
    if (avail >= CMDMAX) { skipping = 1; return 1; }
    return 0;
  }
  n = (size_t)(lf - p) + 1;
  cinpos += n;
  if (n < 2 || p[n - 2] != '\r') { badcmd(R_BARELF, 500, "bare-lf"); return 1; }
  body = n - 2;
  if (memchr(p, 0, body) || memchr(p, '\r', body)) {
    badcmd(R_BADCHAR, 501, memchr(p, 0, body) ? "nul" : "bare-cr");
    return 1;
  }
  if (verb_is(p, body, "RCPT")) {
    if (rcpt(p, body)) forward(p, n, K_RCPT);
  } else if (verb_is(p, body, "DATA")) forward(p, n, K_DATA);
  else if (verb_is(p, body, "EHLO")) forward(p, n, K_EHLO);
  else if (verb_is(p, body, "QUIT")) {
    forward(p, n, K_QUIT);
    quit_sent = 1;
    endwhy = "quit";
    down_close(0);
  } else if (verb_is(p, body, "BDAT")) {
    logline("bdat", 421, 0, 0, 0, 0, 0);
    endwhy = "bdat";
    slot_push(K_LOCAL, R_BDAT, 1, 0);
  } else if (verb_is(p, body, "STARTTLS")) {
    if (tls_pass) {
      forward(p, n, K_STARTTLS);
      cinpos = cinlen;            /* plaintext pipelined after STARTTLS */
    } else {
      logline("notls", 454, 0, 0, 0, 0, 0);
      slot_push(K_LOCAL, R_NOTLS, 0, 0);
    }
  } else forward(p, n, K_OTHER);
  return 1;
}

/* 1 while the next command may be parsed. */
static int may_parse(void)
{
  unsigned int i;
  if (mode != M_CMD || ending || quit_sent || down_dead || down_closing) return 0;
  if (paused) {
    tain_now_g();
    if (tain_less(&STAMP, &pause_until)) return 0;
    paused = 0;
  }
  if (scount >= SLOTMAX - 2 || DOUTMAX - doutlen < CMDMAX) return 0;
  for (i = 0; i < scount; i++) {   /* DATA and STARTTLS wait for their reply */
    int k = slots[(shead + i) % SLOTMAX].kind;
    if (k == K_DATA || k == K_STARTTLS) return 0;
  }
  return 1;
}

/* 1 while buffered client input may still be parsed (or become message
 * data once a pending DATA is answered). */
static int input_pending(void)
{
  unsigned int i;
  if (ending || quit_sent || down_dead) return 0;
  for (i = 0; i < scount; i++) {
    int k = slots[(shead + i) % SLOTMAX].kind;
    if (k == K_DATA || k == K_STARTTLS) return 1;
  }
  return cinlen > cinpos && memchr(cin + cinpos, '\n', cinlen - cinpos) != 0;
}

/* ------------------------------------------------------------ DATA */

/* Scans message bytes from cinpos, forwarding (or, in M_DISCARD, dropping)
 * everything up to the last point where no terminator can be pending.
 * Returns 1 if it did something. */
static int data(void)
{
  const char *p = cin;
  size_t i = cinpos, end = cinlen, safe = cinpos;
  int st = dst, safest = dst;
  if (mode == M_DATA && end - i > DOUTMAX - doutlen) end = i + (DOUTMAX - doutlen);
  if (i >= end) return 0;
  while (i < end) {
    while (st == D_MID || st == D_LINESTART) {
      /* the fast path: whole lines that end in CRLF, found with memchr */
      const char *lf, *cr;
      if (st == D_LINESTART && (p[i] == '.' || p[i] == '\r' || p[i] == '\n')) break;
      lf = memchr(p + i, '\n', end - i);
      if (!lf) {
        cr = memchr(p + i, '\r', end - i);
        if (cr) { i = (size_t)(cr - p); st = D_MID; break; }
        i = end;
        st = D_MID;
        break;
      }
      cr = memchr(p + i, '\r', (size_t)(lf - p) - i);
      if (!cr || cr + 1 != lf) {
        /* a CR before the LF that does not end the line, or a bare LF */
        i = cr ? (size_t)(cr - p) : (size_t)(lf - p);
        st = D_MID;
        break;
      }
      i = (size_t)(lf - p) + 1;
      st = D_LINESTART;
      safe = i;
      safest = D_LINESTART;
      if (i >= end) break;
    }
    if (st == D_MID) { safe = i; safest = D_MID; }
    if (i >= end) break;
    {
      char c = p[i++];
      switch (st) {
        case D_LINESTART:
          if (c == '.') st = D_DOT;
          else if (c == '\r') st = D_CR;
          else if (c == '\n') goto bare_lf;
          else st = D_MID;
          break;
        case D_MID:
          if (c == '\r') st = D_CR;
          else goto bare_lf;
          break;
        case D_CR:
          if (c != '\n') goto bare_cr;
          st = D_LINESTART;
          break;
        case D_DOT:
          if (c == '\r') st = D_DOTCR;
          else if (c == '\n') goto bare_lf;
          else st = D_MID;
          break;
        case D_DOTCR:
          if (c != '\n') goto bare_cr;
          /* the end of the message */
          if (mode == M_DATA) {
            memcpy(dout + doutlen, p + cinpos, i - cinpos);
            doutlen += i - cinpos;
            n_bytes += i - cinpos;
            slot_push(K_DATAEND, 0, 0, 0);
          } else {
            endwhy = "downstream";
            slot_push(K_LOCAL, R_DOWNDATA, 1, 0);
          }
          cinpos = i;
          mode = M_CMD;
          return 1;
      }
      if (st == D_MID || st == D_LINESTART) { safe = i; safest = st; }
    }
  }
  if (safe > cinpos) {
    if (mode == M_DATA) {
      if (!doutlen) tain_copynow(&t_down);
      memcpy(dout + doutlen, p + cinpos, safe - cinpos);
      doutlen += safe - cinpos;
      n_bytes += safe - cinpos;
    }
    cinpos = safe;
    dst = safest;
    return 1;
  }
  return 0;
 bare_lf:
 bare_cr:
  {
    int lf = p[i - 1] == '\n' && st != D_CR && st != D_DOTCR;
    const char *why = lf ? "bare-lf" : "bare-cr";
    const char *reply = R_DOWNDATA;
    if (mode == M_DATA) {
      down_close(1);
      logline("smuggle", 451, "reason", why, strlen(why), 0, 0);
      reply = R_SMUGGLE;
      endwhy = "smuggle";
    }
    cinpos = cinlen;
    mode = M_CMD;
    slot_push(K_LOCAL, reply, 1, 0);
    return 1;
  }
}

/* ------------------------------------------------------------ replies */

static int is_dropped_ext(const char *t, size_t n)
{
  static const char *const drop[] = { "CHUNKING", "BINARYMIME", "STARTTLS" };
  size_t k;
  for (k = 0; k < 3; k++) {
    size_t l = strlen(drop[k]), i;
    if (k == 2 && tls_pass) continue;
    if (n < l || (n > l && t[l] != ' ')) continue;
    for (i = 0; i < l; i++) {
      char c = t[i];
      if (c >= 'a' && c <= 'z') c = (char)(c - 32);
      if (c != drop[k][i]) break;
    }
    if (i == l) return 1;
  }
  return 0;
}

/* Copies a reply (lines in r, each ending in LF) to the client with CRLF
 * line ends; for EHLO, drops extensions the proxy does not pass and
 * re-frames the last line. */
static void emit_reply(const char *r, size_t n, int ehlo)
{
  size_t i = 0, kept = 0, lastkept = 0;
  size_t start = coutlen;
  while (i < n) {
    const char *lf = memchr(r + i, '\n', n - i);
    size_t e = (size_t)(lf - r), len = e - i;
    if (len && r[e - 1] == '\r') len--;
    if (ehlo && kept && len > 4 && is_dropped_ext(r + i + 4, len - 4)) { i = e + 1; continue; }
    lastkept = coutlen;
    cout_put(r + i, len);
    cout_put("\r\n", 2);
    kept++;
    i = e + 1;
  }
  if (ehlo && kept && !client_dead && coutlen - lastkept > 3 && lastkept >= start)
    cout[lastkept + 3] = ' ';
}

/* Finds one complete reply in din. Returns its length, 0 if incomplete,
 * -1 for garbage. */
static long reply_len(void)
{
  size_t i = 0;
  while (i < dinlen) {
    const char *lf = memchr(din + i, '\n', dinlen - i);
    size_t e, len;
    if (!lf) return dinlen - i > 1000 || dinlen >= REPLYMAX ? -1 : 0;
    e = (size_t)(lf - din);
    len = e - i;
    if (len && din[e - 1] == '\r') len--;
    if (len < 3 || len > 1000) return -1;
    if (din[i] < '2' || din[i] > '5' || din[i + 1] < '0' || din[i + 1] > '9' ||
        din[i + 2] < '0' || din[i + 2] > '9') return -1;
    if (i && memcmp(din, din + i, 3)) return -1;
    if (len > 3 && din[i + 3] != ' ' && din[i + 3] != '-') return -1;
    if (memchr(din + i, 0, len)) return -1;
    if (len == 3 || din[i + 3] == ' ') return (long)(e + 1);
    if (e + 1 >= REPLYMAX) return -1;
    i = e + 1;
  }
  return 0;
}

static void start_blind(void);

/* Moves replies from din and local slots to cout, in slot order. */
static int replies(void)
{
  int did = 0;
  for (;;) {
    slot *s;
    if (!scount) {
      if (mode != M_BLIND && dinlen && !down_dead) {
        long l;
        if (down_closing) { dinlen = 0; return did; }   /* its goodbye to our EOF */
        l = reply_len();
        if (l == 0 && !down_eof) return did;
        down_kill(l < 0 ? "garbage" : "unsolicited", 421);
        end_now(R_DOWN, "downstream");
        continue;
      }
      return did;
    }
    s = &slots[shead];
    if (s->kind == K_LOCAL) {
      size_t tl = strlen(s->text);
      tain_now_g();
      if (tain_less(&STAMP, &s->ready)) return did;
      if (COUTMAX - coutlen < tl + 2) return did;
      cout_line(s->text);
      if (s->final) {
        ending = 2;               /* said our last word */
        while (scount) slot_pop();
        return 1;
      }
      slot_pop();
      did = 1;
      continue;
    }
    {
      long l = reply_len();
      int code, kind = s->kind;
      if (l < 0) {
        down_kill("garbage", 421);
        end_now(mode == M_DATA ? R_DOWNDATA : R_DOWN, "downstream");
        continue;
      }
      if (l == 0) {
        if (down_dead || down_eof) {
          if (!down_dead) down_kill(down_eof ? "eof" : "dead", 421);
          end_now(R_DOWN, "downstream");
          continue;
        }
        return did;
      }
      if (COUTMAX - coutlen < (size_t)l + 2 * 64) return did;
      code = (din[0] - '0') * 100 + (din[1] - '0') * 10 + (din[2] - '0');
      emit_reply(din, (size_t)l, kind == K_EHLO && code == 250);
      memmove(din, din + l, dinlen - (size_t)l);
      dinlen -= (size_t)l;
      slot_pop();
      did = 1;
      if (kind == K_RCPT && code / 100 == 2) n_ok++;
      if (kind == K_DATAEND && code / 100 == 2) n_msgs++;
      if (kind == K_DATA) {
        if (code == 354) { mode = M_DATA; dst = D_LINESTART; }
        else if (cinlen > cinpos) {
          /* the client sent bytes before it could have seen this reply */
          logline("sync", 421, 0, 0, 0, 0, 0);
          cinpos = cinlen;
          end_now(R_SYNC, "sync");
          down_close(0);
        }
      }
      if (kind == K_STARTTLS && code == 220) { start_blind(); return 1; }
    }
  }
}

/* ------------------------------------------------------------ TLS */

static void start_blind(void)
{
  char junk[4096];
  ssize_t r;
  size_t dropped = cinlen - cinpos;
  /* plaintext the client sent before our 220: dropped, never relayed */
  while ((r = read(fdcin, junk, sizeof junk)) > 0) dropped += (size_t)r;
  cinpos = cinlen = 0;
  mode = M_BLIND;
  endwhy = "tls";
  {
    char num[32], tmp[32];
    size_t k = 0, i;
    unsigned long v = dropped;
    do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (i = 0; i < k; i++) num[i] = tmp[k - 1 - i];
    num[k] = 0;
    logline("tls", 220, "checks", "stopped", 7, "dropped", num);
  }
}

/* ------------------------------------------------------------ main */

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

/* Starts the downstream on two pipes with posix_spawnp (a vfork-style
 * clone: cheaper than fork, and an exec failure is reported here). */
static void spawn(char const *const *argv)
{
  int in[2], out[2], err;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t dfl;
  if (pipecoe(in) < 0 || pipecoe(out) < 0) strerr_diefu1sys(111, "create pipes");
  if (posix_spawn_file_actions_init(&fa) || posix_spawnattr_init(&at) ||
      posix_spawn_file_actions_adddup2(&fa, in[0], 0) ||
      posix_spawn_file_actions_adddup2(&fa, out[1], 1))
    strerr_diefu1sys(111, "set up the downstream");
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);               /* the downstream gets SIGPIPE back */
  if (posix_spawnattr_setsigdefault(&at, &dfl) ||
      posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF))
    strerr_diefu1sys(111, "set up the downstream");
  err = posix_spawnp(&child, argv[0], &fa, &at, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(in[0]);
  close(out[1]);
  if (err) {
    if (write(1, R_DOWN, sizeof R_DOWN - 1) < 0 || write(1, "\r\n", 2) < 0) {}
    errno = err;
    strerr_diefusys(111, "exec ", argv[0]);
  }
  fddout = in[1];
  fddin = out[0];
  fcntl(fddout, F_SETPIPE_SZ, 1 << 20);    /* fewer wake-ups in DATA */
  ndelay_on(fddout);
  ndelay_on(fddin);
}

static void on_alarm(int sig) { (void)sig; }

/* Waits for the downstream to exit: it has its EOF by now. After 5 s it
 * gets SIGTERM, after 7 s SIGKILL; never a zombie, never an orphan. */
static void reap(void)
{
  int st, i;
  struct sigaction sa;
  if (child <= 0) return;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;               /* no SA_RESTART: waitpid gives EINTR */
  sigaction(SIGALRM, &sa, 0);
  for (i = 0; i < 3; i++) {
    alarm(i == 0 ? 5 : 2);
    if (waitpid(child, &st, 0) == child || errno != EINTR) break;
    kill(child, i == 0 ? SIGTERM : SIGKILL);
  }
  alarm(0);
  child = 0;
}

static void summary(void)
{
  nj_log l;
  nj_log_start(&l, "done", ip);
  nj_log_ulong(&l, NJ_K_MSGS, n_msgs);
  nj_log_ulong(&l, "rcpt_ok", n_ok);
  nj_log_ulong(&l, "rcpt_bad", n_bad);
  nj_log_ulong(&l, "rcpt_defer", n_defer);
  nj_log_ulong(&l, "bad_cmd", n_badcmd);
  nj_log_ulong(&l, "bytes", n_bytes);
  nj_log_str(&l, "end", endwhy);
  nj_log_end(&l);
}

/* Lets the client read our last words: half-close, then drain its input
 * for a short while, so that closing does not reset the connection. */
static void linger(void)
{
  char junk[4096];
  tain deadline;
  if (client_dead) return;
  shutdown(fdcout, SHUT_WR);
  if (client_eof) return;
  tain_now_g();
  tain_addsec_g(&deadline, 2);
  for (;;) {
    ssize_t r = nj_read(fdcin, junk, sizeof junk, &deadline);
    if (r <= 0) break;
  }
}

static void finish(void)
{
  tain deadline;
  if (fddout >= 0) { close(fddout); fddout = -1; }
  if (coutlen && !client_dead) {
    tain_now_g();
    tain_addsec_g(&deadline, (int)(to_client < 30 ? to_client : 30));
    nj_write(fdcout, cout, coutlen, &deadline);
  }
  coutlen = 0;
  linger();
  if (fddin >= 0) { close(fddin); fddin = -1; }
  reap();
  summary();
  _exit(0);
}

static void io_client_read(void)
{
  ssize_t r;
  if (cinpos && cinpos == cinlen) cinpos = cinlen = 0;
  if (cinpos && CINMAX - cinlen < 4096) {
    memmove(cin, cin + cinpos, cinlen - cinpos);
    cinlen -= cinpos;
    cinpos = 0;
  }
  if (cinlen >= CINMAX) return;
  r = read(fdcin, cin + cinlen, CINMAX - cinlen);
  if (r < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    client_eof = 1;
    return;
  }
  tain_copynow(&t_client);
  if (!r) { client_eof = 1; return; }
  cinlen += (size_t)r;
}

static void io_client_write(void)
{
  ssize_t r = write(fdcout, cout, coutlen);
  if (r < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    client_dead = 1;
    client_eof = 1;
    coutlen = 0;
    return;
  }
  memmove(cout, cout + r, coutlen - (size_t)r);
  coutlen -= (size_t)r;
  tain_copynow(&t_cout);
  if (!coutlen) t_client = t_cout;     /* now it is the client's turn */
}

static void io_down_write(void)
{
  ssize_t r = write(fddout, dout, doutlen);
  if (r < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    if (mode == M_DATA) { down_kill("write", 451); mode = M_DISCARD; }
    else { down_kill("write", 421); }
    return;
  }
  memmove(dout, dout + r, doutlen - (size_t)r);
  doutlen -= (size_t)r;
  tain_copynow(&t_down);
  if (!doutlen && down_closing && fddout >= 0) { close(fddout); fddout = -1; }
}

static void io_down_read(void)
{
  ssize_t r;
  if (dinlen >= DINMAX) return;
  r = read(fddin, din + dinlen, DINMAX - dinlen);
  if (r < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    r = 0;
  }
  tain_copynow(&t_down);
  if (!r) {
    down_eof = 1;
    close(fddin);
    fddin = -1;
    if (mode == M_DATA) { down_kill("eof", 451); mode = M_DISCARD; }
    return;
  }
  dinlen += (size_t)r;
}

/* The blind relay after STARTTLS in passthrough mode. */
static void blind(void)
{
  if (cinlen > cinpos && !doutlen && fddout >= 0) {
    size_t n = cinlen - cinpos;
    if (n > DOUTMAX) n = DOUTMAX;
    memcpy(dout, cin + cinpos, n);
    doutlen = n;
    cinpos += n;
  }
  if (dinlen && !coutlen) {
    memcpy(cout, din, dinlen);
    coutlen = dinlen;
    dinlen = 0;
  }
  if (client_eof && cinpos == cinlen && !doutlen && fddout >= 0) {
    close(fddout);
    fddout = -1;
  }
}

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  const char *alias = 0;
  nj_ip cip;
  unsigned long o_client = 300, o_reply = 300, o_data = 600;

  for (;;) {
    int opt = subgetopt_r(argc, argv, "a:t:r:d:", &l);
    if (opt == -1) break;
    switch (opt) {
      case 'a': alias = l.arg; break;
      case 't': o_client = nj_opt_ulong('t', l.arg, 1, 86400); break;
      case 'r': o_reply = nj_opt_ulong('r', l.arg, 1, 86400); break;
      case 'd': o_data = nj_opt_ulong('d', l.arg, 1, 86400); break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  argc -= l.ind;
  argv += l.ind;
  if (!argc) strerr_dieusage(100, USAGE);
  if (alias && (!*alias || strchr(alias, '/'))) strerr_dieusage(100, USAGE);

  if (nj_ip_client(&cip, 0)) { nj_ip_fmt(ipbuf, &cip); ip = ipbuf; }
  to_client = nj_env_ulong("RCPTCHECK_TIMEOUT", o_client, 1, 86400, 1);
  to_reply = nj_env_ulong("RCPTCHECK_REPLYTIMEOUT", o_reply, 1, 86400, 1);
  to_data = nj_env_ulong("RCPTCHECK_DATATIMEOUT", o_data, 1, 86400, 1);
  maxbad = nj_env_ulong("RCPTCHECK_MAXBAD", 10, 0, 1000000, 1);
  tarpit = nj_env_ulong("RCPTCHECK_TARPIT", 0, 0, TARPITCAP, 1);
  tls_pass = tls_mode(getenv("RCPTCHECK_TLS"));
  relayclient = getenv("RELAYCLIENT");
  nj_qmail_init(&qm, getenv("QMAILHOME"), getenv("RCPTCHECK_CDB"), alias);

  sig_ignore(SIGPIPE);
  spawn(argv);
  ndelay_on(fdcin);
  ndelay_on(fdcout);
  tain_now_set_stopwatch_g();
  t_client = t_down = t_cout = STAMP;
  slot_push(K_GREETING, 0, 0, 0);

  for (;;) {
    iopause_fd x[4];
    unsigned int nx = 0;
    int ic = -1, oc = -1, id = -1, od = -1, r;
    tain deadline, t;
    int progress = 1;

    while (progress) {
      progress = 0;
      if (mode == M_BLIND) { blind(); break; }
      if (mode == M_DATA || mode == M_DISCARD) progress |= data();
      else while (may_parse() && command()) progress = 1;
      progress |= replies();
      if (ending == 2) finish();
    }
    if (ending && !down_closing) down_close(0);

    /* when is the session over? */
    if (mode == M_BLIND) {
      if (fddin < 0 && !dinlen && !coutlen) finish();
      if (client_dead) finish();
    } else {
      if (client_eof && mode == M_DATA && DOUTMAX - doutlen >= cinlen - cinpos) {
        /* the client left in the middle of a message: nothing is queued */
        down_close(1);
        logline("hangup", 0, "state", "data", 4, 0, 0);
        endwhy = "eof-in-data";
        finish();
      }
      if (client_eof && mode == M_DISCARD) { endwhy = "eof-in-data"; finish(); }
      if (client_eof && mode == M_CMD && !input_pending()) {
        /* nothing more will come: let the downstream finish */
        if (!down_closing) down_close(0);
      }
      if ((down_eof || down_dead) && !scount && !dinlen) {
        if (!quit_sent && !client_eof && !ending) {
          if (!down_dead) down_kill("eof", 421);
          end_now(R_DOWN, "downstream");
          continue;
        }
        finish();
      }
      if (client_dead && down_closing && fddin < 0) finish();
    }

    /* what to wait for */
    if (fdcin >= 0 && !client_eof && cinlen - cinpos < CINMAX && !quit_sent && !ending &&
        (mode != M_CMD || cinlen - cinpos < CINMAX / 2)) {
      ic = nx; x[nx].fd = fdcin; x[nx++].events = IOPAUSE_READ;
    }
    if (coutlen && !client_dead) { oc = nx; x[nx].fd = fdcout; x[nx++].events = IOPAUSE_WRITE; }
    if (fddin >= 0 && dinlen < DINMAX) { id = nx; x[nx].fd = fddin; x[nx++].events = IOPAUSE_READ; }
    if (fddout >= 0 && doutlen) { od = nx; x[nx].fd = fddout; x[nx++].events = IOPAUSE_WRITE; }

    /* deadlines: the downstream's while we wait on it, the client's else */
    tain_add_g(&deadline, &tain_infinite_relative);
    if (fddin >= 0 && (sdown || doutlen || down_closing || mode == M_BLIND)) {
      unsigned long secs = mode == M_BLIND ? to_client : to_reply;
      unsigned int i;
      for (i = 0; i < scount; i++)
        if (slots[(shead + i) % SLOTMAX].kind == K_DATAEND && secs < to_data) secs = to_data;
      tain_addsec(&deadline, &t_down, (int)secs);
    }
    if (ic >= 0 && !sdown && !doutlen) {
      tain_addsec(&t, &t_client, (int)to_client);
      if (tain_less(&t, &deadline)) deadline = t;
    }
    if (oc >= 0) {
      tain_addsec(&t, &t_cout, (int)to_client);
      if (tain_less(&t, &deadline)) deadline = t;
    }
    if (scount && slots[shead].kind == K_LOCAL && tain_less(&slots[shead].ready, &deadline))
      deadline = slots[shead].ready;
    if (paused && tain_less(&pause_until, &deadline)) deadline = pause_until;

    r = iopause_g(x, nx, &deadline);
    if (r < 0) {
      if (errno == EINTR) continue;
      strerr_diefu1sys(111, "iopause");
    }
    if (!r) {
      /* a deadline passed: whose? */
      tain_now_g();
      if (scount && slots[shead].kind == K_LOCAL && !tain_less(&STAMP, &slots[shead].ready)) continue;
      if (paused && !tain_less(&STAMP, &pause_until)) continue;
      if (oc >= 0) {
        tain_addsec(&t, &t_cout, (int)to_client);
        if (!tain_less(&STAMP, &t)) {
          client_dead = 1; client_eof = 1; coutlen = 0;
          endwhy = "client-timeout";
          continue;
        }
      }
      if (fddin >= 0 && (sdown || doutlen || down_closing || mode == M_BLIND)) {
        if (mode == M_BLIND) { endwhy = "timeout"; finish(); }
        if (mode == M_DATA) { down_kill("timeout", 451); mode = M_DISCARD; continue; }
        down_kill("timeout", 421);
        end_now(R_DOWN, "downstream");
        continue;
      }
      if (ic >= 0) {
        logline("timeout", 421, 0, 0, 0, 0, 0);
        if (mode == M_DATA) down_close(1);
        end_now(R_TIMEOUT, "timeout");
        if (mode != M_CMD) { mode = M_CMD; cinpos = cinlen; }
        continue;
      }
      continue;
    }
    if (oc >= 0 && x[oc].revents) io_client_write();
    if (od >= 0 && x[od].revents) io_down_write();
    if (id >= 0 && x[id].revents) io_down_read();
    if (ic >= 0 && x[ic].revents) io_client_read();
  }
}
