#!/bin/bash
# SPDX-License-Identifier: ISC
# ipgreylist-expire removes a record only when ipgreylist would reset it.
# 1. Beside a live session, deterministically: a regular that a session
#    refreshes after the walk began is kept, not taken for a future-dated
#    (corrupt) file. A preloaded shim holds ipgreylist-expire at its lstat
#    of that record until the clock has moved past the second the walk
#    began in, and runs a real ipgreylist session for the key right then.
# 2. GREYLIST_MIN above GREYLIST_WINDOW: both programs use the defaults.
. "$(dirname "$0")/../lib.sh"
export GREYLIST_V4PREFIX=32   # one key per address, as the names below say
GL=$SRC/ipgreylist
EXPIRE=$SRC/ipgreylist-expire
E=$T/state
mkdir -p "$E"

cat > "$T/hold.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
/* At the first fstatat of the name $HOLD_NAME: wait until two seconds
 * after the process started (so past any second main() can have read),
 * then run $HOLD_CMD once, then stat. */
static time_t started;
__attribute__((constructor)) static void init(void) { started = time(0); }
static void hold(const char *name)
{
  static int done;
  const char *want = getenv("HOLD_NAME"), *cmd = getenv("HOLD_CMD");
  int i;
  if (done || !want || !cmd || strcmp(name, want)) return;
  done = 1;
  for (i = 0; i < 60 && time(0) < started + 2; i++) {
    struct timespec ts = { 0, 50000000 };
    nanosleep(&ts, 0);
  }
  if (system(cmd) != 0) _exit(99);
}
typedef int statat_fn(int, const char *, struct stat *, int);
typedef int statat64_fn(int, const char *, struct stat64 *, int);
int fstatat(int fd, const char *name, struct stat *s, int flags)
{
  statat_fn *real = (statat_fn *)dlsym(RTLD_NEXT, "fstatat");
  hold(name);
  return real(fd, name, s, flags);
}
int fstatat64(int fd, const char *name, struct stat64 *s, int flags)
{
  statat64_fn *real = (statat64_fn *)dlsym(RTLD_NEXT, "fstatat64");
  hold(name);
  return real(fd, name, s, flags);
}
C
check "the hold shim builds" cc -shared -fPIC -o "$T/hold.so" "$T/hold.c" -ldl

# mk IP STATE AGE: a record made by ipgreylist itself, then aged.
mk() {
  PROTO=TCP TCPREMOTEIP=$1 "$GL" -d "$E" true < /dev/null > /dev/null 2>&1
  local f; f=$(find "$E" -name "$1")
  [ "$2" = regular ] && python3 -c "import os, sys; os.setxattr(sys.argv[1], 'user.najimi', b'regular 1\n')" "$f"
  touch -d "$3" "$f"
}
mk 10.3.0.1 regular '-2 days'      # refreshed by a session during the walk
mk 10.3.0.2 pending '-3 days'      # stale: goes, so the walk did its work

check "expire held at the regular while a session refreshes it: kept, the stale one goes" sh -c "
  [ -s '$T/hold.so' ] && HOLD_NAME=10.3.0.1 HOLD_CMD='env -u LD_PRELOAD PROTO=TCP TCPREMOTEIP=10.3.0.1 $GL -d $E true < /dev/null 2>> $T/session.log' \
  LD_PRELOAD='$T/hold.so' '$EXPIRE' -j 1 -v '$E' > '$T/expire.out' &&
  grep -qx 'ipgreylist-expire: done files=2 kept=1 stale=1 lapsed=0 corrupt=0 tmp=0 skipped=0 errors=0' '$T/expire.out' &&
  [ -n \"\$(find '$E' -name 10.3.0.1)\" ] && [ -z \"\$(find '$E' -name 10.3.0.2)\" ] &&
  grep -q '^ipgreylist: regular ip=10\.3\.0\.1 ' '$T/session.log'"
check "the session was a regular's pass (the record it refreshed is the one kept)" \
  grep -Eq '^ipgreylist: regular ip=10\.3\.0\.1 pid=[0-9]+ key=10\.3\.0\.1 keyby=ip age=17280[0-9]$' "$T/session.log"

# 2. MIN above WINDOW: ipgreylist uses the default window (86400), so a
#    pending record 60000 s old must be kept, and then let through.
E2=$T/state2
mkdir -p "$E2"
E=$E2 mk 10.3.0.3 pending '-60000 seconds'
check "GREYLIST_MIN above GREYLIST_WINDOW: expire keeps what ipgreylist still lets through, and says why" sh -c "
  GREYLIST_MIN=100000 GREYLIST_WINDOW=50000 '$EXPIRE' -v '$E2' > '$T/expire2.out' 2> '$T/expire2.err' &&
  grep -q ' files=1 kept=1 stale=0 ' '$T/expire2.out' && [ -n \"\$(find '$E2' -name 10.3.0.3)\" ] &&
  grep -qF 'ipgreylist-expire: warning: GREYLIST_MIN=100000 above GREYLIST_WINDOW=50000, using both defaults' '$T/expire2.err'"
check "GREYLIST_MIN above GREYLIST_WINDOW: ipgreylist lets that record through" sh -c "
  GREYLIST_MIN=100000 GREYLIST_WINDOW=50000 PROTO=TCP TCPREMOTEIP=10.3.0.3 '$GL' -d '$E2' true < /dev/null 2> '$T/gl2.err' &&
  grep -Eq '^ipgreylist: pass ip=10\.3\.0\.3 pid=[0-9]+ key=10\.3\.0\.3 keyby=ip age=600[0-9][0-9] count=0$' '$T/gl2.err'"

finish
