#!/bin/sh
# SPDX-License-Identifier: ISC
# greetdelay pass-through cost (GREETDELAY=0), side by side with rblsmtpd
# (RBLSMTPD unset, no -r), both exec'ing /bin/true.
#   added cost = time(PROG /bin/true) - time(/bin/true)
# Wall time: interleaved rounds of fork+exec, best round of each kept.
# Instructions: callgrind, counted up to the execve of /bin/true.
# Goal: greetdelay's added cost <= 0.8 x rblsmtpd's.
cd "$(dirname "$0")/.." || exit 111
[ -x bench/tmp/spawn ] || { mkdir -p bench/tmp; cc -O2 -o bench/tmp/spawn bench/spawn.c; } || exit 111
N=${N:-1000}
ROUNDS=${ROUNDS:-7}
# The programs timed, as installed (bench/copies says why).
B=bench/tmp/bin
sh bench/copies "$B" /bin/true rblsmtpd src/greetdelay || exit 111
export TCPREMOTEIP=127.0.0.1 PROTO=TCP
unset RBLSMTPD RELAYCLIENT
best() { # name value: keep the minimum in $best_NAME
  eval "cur=\${best_$1:-}"
  if [ -z "$cur" ] || [ "$2" -lt "$cur" ]; then eval "best_$1=$2"; fi
}
i=0
while [ $i -lt "$ROUNDS" ]; do
  best true "$(bench/tmp/spawn "$N" "$B/true")"
  best rbl  "$(bench/tmp/spawn "$N" "$B/rblsmtpd" "$B/true")"
  best gd   "$(GREETDELAY=0 bench/tmp/spawn "$N" "$B/greetdelay" "$B/true")"
  i=$((i+1))
done
echo "wall ns per session: /bin/true $best_true, rblsmtpd $best_rbl, greetdelay $best_gd"
awk -v t="$best_true" -v r="$best_rbl" -v g="$best_gd" 'BEGIN {
  printf "greetdelay added cost / rblsmtpd added cost (wall): %.2f (goal <= 0.8)\n", (g - t) / (r - t) }'

if command -v valgrind > /dev/null; then
  d=bench/tmp/cg; rm -rf "$d"; mkdir -p "$d"
  count() { # out prog...: instructions up to the exec of /bin/true
    out=$1; shift
    valgrind --tool=callgrind --dump-before=execve --callgrind-out-file="$d/$out" "$@" /bin/true > /dev/null 2>&1
    sed -n 's/^summary: //p' "$d/$out".1 2>/dev/null | head -n1
  }
  ir=$(count rbl rblsmtpd)
  ig=$(GREETDELAY=0 count gd src/greetdelay)
  echo "instructions before exec: rblsmtpd $ir, greetdelay $ig"
  awk -v r="$ir" -v g="$ig" 'BEGIN { printf "greetdelay / rblsmtpd instructions: %.2f (goal <= 0.8)\n", g / r }'
fi
