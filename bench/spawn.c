/* SPDX-License-Identifier: ISC */
/* spawn: bench helper. "spawn N prog args..." fork+execs prog N times,
 * waiting for each, and prints the mean wall time per run in
 * nanoseconds. Standard input is /dev/null. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "spawn.h"

int main(int argc, char **argv)
{
  struct timespec a, b;
  long i, n;
  char *end;
  if (argc < 3) { fprintf(stderr, "usage: spawn N prog args...\n"); return 100; }
  n = strtol(argv[1], &end, 10);
  if (*end || n < 1 || n > 10000000) { fprintf(stderr, "spawn: bad N\n"); return 100; }
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (i = 0; i < n; i++)
    if (bench_spawn(argv + 2, "spawn")) return 111;
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.0f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
  return 0;
}
