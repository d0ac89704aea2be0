/* SPDX-License-Identifier: ISC */
/* greetdelay: the greet pause. Waits GREETDELAY seconds before exec'ing
 * the next program; a client that talks first is refused with 554. */
#include <unistd.h>
#include <stdlib.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/tai.h>
#include "najimi.h"

#define USAGE "greetdelay [ -p secs ] [ -t timeout ] prog [ args... ]"
#define DELAY_CAP 120      /* seconds; well under the 5-minute greeting wait */

const char *PROG = "greetdelay";

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  unsigned long defdelay = 0, timeout = 60, delay;
  nj_ip ip;
  char ipstr[NJ_IPFMT];
  const char *ipname = 0;
  tain start, deadline, waited;
  nj_log log;
  char early[64];
  ssize_t got;
  int r;

  nj_version_opt(argc, argv);
  for (;;) {
    int opt = subgetopt_r(argc, argv, "p:t:", &l);
    if (opt == -1) break;
    switch (opt) {
      case 'p': defdelay = nj_opt_ulong('p', l.arg, 0, DELAY_CAP); break;
      case 't': timeout = nj_opt_ulong('t', l.arg, 1, 3600); break;
      default: strerr_dieusage(100, USAGE);
    }
  }
  argc -= l.ind;
  argv += l.ind;
  if (!argc) strerr_dieusage(100, USAGE);

  if (getenv("RELAYCLIENT")) nj_exec(argv);
  delay = nj_env_ulong("GREETDELAY", defdelay, 0, DELAY_CAP, 1);
  if (!delay) nj_exec(argv);

  if (nj_ip_client(&ip, 0)) {
    nj_ip_fmt(ipstr, &ip);
    ipname = ipstr;
  }

  tain_now_set_stopwatch_g();
  start = STAMP;
  tain_addsec_g(&deadline, (int)delay);
  r = nj_wait_read(0, &deadline);
  tain_now_g();
  tain_sub(&waited, &STAMP, &start);

  if (r == 0) {
    nj_log_start(&log, "pass", ipname);
    nj_log_ulong(&log, "delay", delay);
    nj_log_end(&log);
    nj_exec(argv);
  }
  if (r < 0) {
    /* Cannot watch the client: let it through rather than lose mail. */
    nj_log_start(&log, "error", ipname);
    nj_log_str(&log, "reason", "poll-failed");
    nj_log_end(&log);
    nj_exec(argv);
  }

  got = read(0, early, sizeof early);
  if (got <= 0) {
    nj_log_start(&log, "hangup", ipname);
    nj_log_ulong(&log, "waited_ms", (unsigned long)tain_to_millisecs(&waited));
    nj_log_end(&log);
    return 0;
  }

  nj_log_start(&log, "early", ipname);
  nj_log_ulong(&log, NJ_K_CODE, 554);
  nj_log_ulong(&log, "waited_ms", (unsigned long)tain_to_millisecs(&waited));
  nj_log_ulong(&log, "delay", delay);
  nj_log_strn(&log, "data", early, (size_t)got);
  nj_log_end(&log);
  {
    nj_refusal ref = {
      .greeting = "554 5.5.1 you talked before my greeting, goodbye",
      .reply = "503 5.5.1 you talked before my greeting",
      .at_data = 0,
      .all_503 = 1,
      .timeout = (unsigned int)timeout,
    };
    nj_refuse(&ref);
  }
}
