/* SPDX-License-Identifier: ISC */
/* smtpdata.h: the DATA scanner (smtpdata.c), a pure function over a byte
 * range: where a message ends, and the bare CR / bare LF rule that stops
 * SMTP smuggling. */
#ifndef NJ_SMTPDATA_H
#define NJ_SMTPDATA_H

#include <stddef.h>

/* the scanner's state between calls */
#define NJ_DATA_LINESTART 0     /* at the start of a line: where DATA starts */
#define NJ_DATA_MID       1     /* inside a line */

/* what nj_data_scan found */
#define NJ_DATA_MORE   0        /* no end yet: pass [0, *off) on, give the rest again */
#define NJ_DATA_END    1        /* <CRLF>.<CRLF> ends at *off (just past its LF) */
#define NJ_DATA_BARELF 2        /* a LF without its CR at *off */
#define NJ_DATA_BARECR 3        /* a CR without its LF at *off */

/* Scans the n message bytes at p, from state *state (NJ_DATA_LINESTART
 * right after the 354: the CRLF of the DATA line counts as the first).
 * With NJ_DATA_MORE, bytes [0, *off) may be passed on as they are and
 * *state is the state at *off; the bytes from *off on (at most 2: "\r",
 * "." or ".\r", the start of what could be an end) must be given again
 * at the start of the next call, with what follows them. */
extern int nj_data_scan(int *state, const char *p, size_t n, size_t *off);

#endif
