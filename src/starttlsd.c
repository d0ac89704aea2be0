/* SPDX-License-Identifier: ISC */
/* starttlsd: STARTTLS for every program after it, by the UCSPI-TLS
 * protocol (starttlsd(8)). This is the part that runs for every
 * connection, so it stays small, static and free of any TLS library:
 *
 *   1. CERTFILE and KEYFILE are opened (as root when started as root: the
 *      key may be readable by root only). If either cannot be read, the
 *      next program runs without the UCSPI-TLS variables (one warning).
 *   2. Three pipes (control, to the application, from it), then a fork.
 *      This process drops to UID/GID and execs the next program with the
 *      network still on fds 0/1 and SSLCTLFD, SSLREADFD, SSLWRITEFD set:
 *      the session keeps its pid, and nothing is relayed before TLS.
 *   3. The child drops to UID/GID too (it holds the two files open) and
 *      waits for the application's 'Y'. End of file (the application is
 *      gone without asking): it exits. 'Y': it execs starttlsd-io, the TLS
 *      part (linked with libtls), which does the handshake and the relay.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <skalibs/sgetopt.h>
#include <skalibs/strerr.h>
#include <skalibs/types.h>
#include <skalibs/djbunix.h>
#include <skalibs/exec.h>
#include <skalibs/setgroups.h>
#include "najimi.h"

#define USAGE "starttlsd [ -t timeout ] prog [ args... ]"
#define IO_PROG "starttlsd-io"

const char *PROG = "starttlsd";

static const char R_CONFIG[] = "421 4.3.0 mail server misconfigured, try again later\r\n";

/* The credentials to run as: UID and GID from the environment when
 * started as root (envuidgid). 0: keep the present ones. */
static int target(uid_t *uid, gid_t *gid)
{
  const char *u = getenv("UID"), *g = getenv("GID");
  unsigned long x, y;
  if (geteuid() || (!u && !g)) return 0;
  if (!u || !g || !nj_ulong_parse(u, 0, 0x7fffffffUL, &x) ||
      !nj_ulong_parse(g, 0, 0x7fffffffUL, &y)) {
    if (write(1, R_CONFIG, sizeof R_CONFIG - 1) < 0) {}
    strerr_dief1x(100, "UID and GID must both be numbers (envuidgid sets them)");
  }
  *uid = (uid_t)x;
  *gid = (gid_t)y;
  return 1;
}

/* Drops to uid/gid when change is set; dies when it cannot, rather than
 * run on as root (tell: the session's process says 421 first). */
static void drop(int change, uid_t uid, gid_t gid, int tell)
{
  if (!change) return;
  /* groups first (just GID), then the gid, then the uid: the order
     setuidgid uses, each needing the root the next one gives up */
  if (skalibs_setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
    int e = errno;
    if (tell && write(1, R_CONFIG, sizeof R_CONFIG - 1) < 0) {}
    errno = e;
    strerr_diefu1sys(111, "drop privileges to UID and GID");
  }
}

/* Opens the file named by var for the TLS part. -1 (one warning naming
 * the variable and the file) when it is not a readable, non-empty,
 * regular file. */
static int open_file(const char *var)
{
  const char *name = getenv(var);
  struct stat st;
  int fd;
  if (!name || !*name) {
    strerr_warnw(var, " is not set, STARTTLS not offered");
    return -1;
  }
  fd = open(name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    strerr_warnwu4sys("read ", var, " ", name);
    return -1;
  }
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !st.st_size) {
    strerr_warnw(var, " ", name, " is not a regular file with contents, STARTTLS not offered");
    close(fd);
    return -1;
  }
  return fd;
}

/* The TLS part's path: next to this program when it was run by path,
 * else found in PATH. */
static void exec_io(const char *argv0, const char *const *args) __attribute__((noreturn));
static void exec_io(const char *argv0, const char *const *args)
{
  const char *slash = strrchr(argv0, '/');
  size_t d = slash ? (size_t)(slash - argv0) + 1 : 0;
  char path[d + sizeof IO_PROG];
  memcpy(path, argv0, d);
  memcpy(path + d, IO_PROG, sizeof IO_PROG);
  exec_ae(path, args, (char const *const *)environ);
  strerr_diefu2sys(111, "exec ", path);
}

/* The next program without TLS: no UCSPI-TLS variables, not even
 * inherited ones. */
static void exec_plain(char const *const *argv, int change, uid_t uid, gid_t gid)
  __attribute__((noreturn));
static void exec_plain(char const *const *argv, int change, uid_t uid, gid_t gid)
{
  static const char unset[] = "SSLCTLFD\0SSLREADFD\0SSLWRITEFD";
  drop(change, uid, gid, 1);
  xmexec_m(argv, unset, sizeof unset);
}

/* The child: waits for 'Y' on the control pipe, then becomes the TLS
 * part. fd[]: certificate, key, control (read end), to the application
 * (write end), from it (read end). */
static void child(const char *argv0, const char *timeout, pid_t session,
                  const int *fd) __attribute__((noreturn));
static void child(const char *argv0, const char *timeout, pid_t session, const int *fd)
{
  static const int pos[4] = { 0, 1, 3, 4 };   /* the fds the TLS part gets */
  char pid[PID_FMT + 1], num[4][UINT_FMT + 1];
  const char *args[10] = { IO_PROG, "-t", timeout, "-p", pid };
  char c;
  ssize_t r;
  int i;
  do r = read(fd[2], &c, 1);
  while (r < 0 && errno == EINTR);
  if (r <= 0) _exit(0);                   /* the application never asked */
  if (c != 'Y' && c != 'y') strerr_dief1x(100, "unknown command on the control fd");
  close(fd[2]);
  pid[pid_fmt(pid, session)] = 0;
  for (i = 0; i < 4; i++) {
    num[i][uint_fmt(num[i], (unsigned int)fd[pos[i]])] = 0;
    uncoe(fd[pos[i]]);
    args[5 + i] = num[i];                 /* certificate, key, to the app, from it */
  }
  args[9] = 0;
  exec_io(argv0, args);
}

/* SSLCTLFD=n SSLREADFD=n SSLWRITEFD=n, as skalibs' env modifications. */
static size_t modifs(char *s, int ctl, int rfd, int wfd)
{
  static const char *const name[3] = { "SSLCTLFD=", "SSLREADFD=", "SSLWRITEFD=" };
  int v[3] = { ctl, rfd, wfd }, i;
  size_t m = 0;
  for (i = 0; i < 3; i++) {
    size_t n = strlen(name[i]);
    memcpy(s + m, name[i], n);
    m += n;
    m += uint_fmt(s + m, (unsigned int)v[i]);
    s[m++] = 0;
  }
  return m;
}

int main(int argc, char const *const *argv)
{
  subgetopt l = SUBGETOPT_ZERO;
  const char *timeout = "30", *self = argv[0];
  int fd[5], ctl[2], toapp[2], fromapp[2], change;
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t session, pid;
  char modif[3 * (12 + UINT_FMT)];

  nj_version_opt(argc, argv);
  for (;;) {
    int opt = subgetopt_r(argc, argv, "t:", &l);
    if (opt == -1) break;
    if (opt != 't') strerr_dieusage(100, USAGE);
    nj_opt_ulong('t', l.arg, 1, 3600);
    timeout = l.arg;
  }
  if (l.ind >= argc) strerr_dieusage(100, USAGE);
  argv += l.ind;
  change = target(&uid, &gid);

  /* read as the user started (root): the files of this connection */
  fd[0] = open_file("CERTFILE");
  fd[1] = fd[0] < 0 ? -1 : open_file("KEYFILE");
  if (fd[1] < 0) exec_plain(argv, change, uid, gid);
  if (pipecoe(ctl) < 0 || pipecoe(toapp) < 0 || pipecoe(fromapp) < 0) {
    strerr_warnwu1sys("create pipes, STARTTLS not offered");
    exec_plain(argv, change, uid, gid);
  }
  fd[2] = ctl[0];
  fd[3] = toapp[1];
  fd[4] = fromapp[0];
  session = getpid();
  pid = fork();
  if (pid < 0) {
    strerr_warnwu1sys("fork, STARTTLS not offered");
    exec_plain(argv, change, uid, gid);
  }
  if (!pid) {
    close(ctl[1]); close(toapp[0]); close(fromapp[1]);
    drop(change, uid, gid, 0);
    child(self, timeout, session, fd);
  }
  close(fd[0]); close(fd[1]); close(ctl[0]); close(toapp[1]); close(fromapp[0]);
  uncoe(ctl[1]); uncoe(toapp[0]); uncoe(fromapp[1]);
  drop(change, uid, gid, 1);
  xmexec_m(argv, modif, modifs(modif, ctl[1], toapp[0], fromapp[1]));
}
