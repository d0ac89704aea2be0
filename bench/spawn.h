/* SPDX-License-Identifier: ISC */
/* spawn.h: one run of a benchmarked program, for bench/spawn.c and the
 * benches' own C helpers: prog fork+exec'd with standard input and
 * error on /dev/null, waited for. 0, or 111 when it could not be run or
 * did not exit 0 (said on stderr, as who). */
#ifndef NJ_BENCH_SPAWN_H
#define NJ_BENCH_SPAWN_H
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>

static int bench_spawn(char **prog, const char *who)
{
  int st;
  pid_t p = fork();
  if (p < 0) { perror("fork"); return 111; }
  if (!p) {
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) { dup2(fd, 0); dup2(fd, 2); }
    execvp(prog[0], prog);
    _exit(127);
  }
  if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
    fprintf(stderr, "%s: %s failed\n", who, prog[0]);
    return 111;
  }
  return 0;
}

#endif
