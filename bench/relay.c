/* SPDX-License-Identifier: ISC */
/* relay: bench helper, the floor any SMTP proxy pays. "relay prog
 * args..." starts prog on two pipes (fork, exec) and relays bytes both
 * ways with poll, nothing else: no parsing, no checks, no deadlines.
 * bench/rcptcheck.sh measures rcptcheck's added cost against it. */
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

static char buf[65536];

/* Moves what fd from has to fd to. 0 at end of file or error. */
static int move(int from, int to)
{
  ssize_t r = read(from, buf, sizeof buf), w, off = 0;
  if (r <= 0) return 0;
  while (off < r) {
    w = write(to, buf + off, (size_t)(r - off));
    if (w <= 0) return 0;
    off += w;
  }
  return 1;
}

int main(int argc, char **argv)
{
  int in[2], out[2], st;
  struct pollfd p[2];
  pid_t pid;
  if (argc < 2 || pipe(in) < 0 || pipe(out) < 0) return 111;
  pid = fork();
  if (pid < 0) return 111;
  if (!pid) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[0]); close(in[1]); close(out[0]); close(out[1]);
    execvp(argv[1], argv + 1);
    _exit(111);
  }
  close(in[0]);
  close(out[1]);
  p[0].fd = 0;      p[0].events = POLLIN;    /* the client */
  p[1].fd = out[0]; p[1].events = POLLIN;    /* the program */
  for (;;) {
    if (poll(p, 2, -1) < 0) continue;
    if (p[1].revents) {
      if (!move(out[0], 1)) break;
    }
    if (p[0].revents) {
      if (!move(0, in[1])) { close(in[1]); p[0].fd = -1; }
    }
  }
  waitpid(pid, &st, 0);
  return 0;
}
