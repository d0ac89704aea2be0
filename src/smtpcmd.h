/* SPDX-License-Identifier: ISC */
/* smtpcmd.h: SMTP command lines, split and named in one place (smtpcmd.c).
 * Shared by rcptcheck (strict mode) and the refusal session of smtp.c
 * (lenient mode); the rules of both modes are written out in smtpcmd.c. */
#ifndef NJ_SMTPCMD_H
#define NJ_SMTPCMD_H

#include <stddef.h>

#define NJ_CMD_LINEMAX 512        /* strict: a line, CRLF included (RFC 5321) */
#define NJ_CMD_LENIENTMAX 1025    /* lenient: 1024 bytes before the LF, and it */

/* modes */
#define NJ_CMD_STRICT  0          /* rcptcheck: what it forwards is clean */
#define NJ_CMD_LENIENT 1          /* refusal sessions: any client is answered */

/* what nj_cmd_next found */
#define NJ_CMD_MORE    0          /* no whole line yet: call again with more */
#define NJ_CMD_OK      1          /* a command line: verb and argument */
#define NJ_CMD_TOOLONG 2          /* over the limit; skipped up to its LF */
#define NJ_CMD_BARELF  3          /* strict: ended by a LF without its CR */
#define NJ_CMD_NUL     4          /* strict: a NUL in the line */
#define NJ_CMD_BARECR  5          /* strict: a CR that does not end the line */

/* the verbs either side needs to tell apart; any other is NJ_VERB_OTHER */
enum nj_verb {
  NJ_VERB_OTHER, NJ_VERB_HELO, NJ_VERB_EHLO, NJ_VERB_MAIL, NJ_VERB_RCPT,
  NJ_VERB_DATA, NJ_VERB_BDAT, NJ_VERB_RSET, NJ_VERB_NOOP, NJ_VERB_QUIT,
  NJ_VERB_STARTTLS
};

/* The splitter's state between calls: its mode, and whether it is in the
 * middle of skipping an overlong line. */
typedef struct nj_cmdreader_s {
  unsigned char mode;
  unsigned char skipping;
} nj_cmdreader;
#define NJ_CMDREADER(mode) { (mode), 0 }

typedef struct nj_cmd_s {
  int status;                 /* NJ_CMD_* */
  int verb;                   /* enum nj_verb, with NJ_CMD_OK */
  const char *line;           /* the bytes taken, line end included: */
  size_t len;                 /*   what a proxy forwards */
  const char *arg;            /* after the verb and the spaces after it, */
  size_t arglen;              /*   without the line end */
} nj_cmd;

/* Takes the next command line from the n bytes at p. Returns how many
 * bytes it took (0 or more with NJ_CMD_MORE: the part of an overlong line
 * skipped so far); *c says what they were. */
extern size_t nj_cmd_next(nj_cmdreader *r, const char *p, size_t n, nj_cmd *c);

/* The reply (one line, no CRLF) and the log reason ("toolong", "bare-lf",
 * "nul", "bare-cr") for a bad line's status; 0 for the others. */
extern const char *nj_cmd_reply(int status);
extern const char *nj_cmd_why(int status);

#endif
