#!/bin/sh
# SPDX-License-Identifier: ISC
# ipgreylist's regular pass-through with its records in Redis over a
# unix socket (GREYLIST_REDIS=unix:...: a connect and one GET per
# session), side by side with the file store and with rblsmtpd (RBLSMTPD
# set and empty, so rblsmtpd execs at once), all exec'ing /bin/true:
#   added cost = time(PROG /bin/true) - time(/bin/true)
# goal: Redis' added cost <= 1.5 x the file store's.
# The key is a regular (a whole address, GREYLIST_V4PREFIX=32) in both
# stores, not due for its refresh: nothing is written during the runs.
# Redis is Debian's redis-server, started here on a private socket, no
# persistence, stopped by PID. Wall time: interleaved rounds of
# fork+exec, best round of each kept.
cd "$(dirname "$0")/.." || exit 111
[ -x src/ipgreylist ] || { echo "bench/ipgreylist-redis.sh: run make first"; exit 111; }
command -v redis-server > /dev/null || { echo "bench/ipgreylist-redis.sh: redis-server is not installed (scripts/install-deps)"; exit 111; }
[ -x bench/tmp/spawn ] || { mkdir -p bench/tmp; cc -O2 -o bench/tmp/spawn bench/spawn.c; } || exit 111
N=${N:-1000}
ROUNDS=${ROUNDS:-9}
W=$(mktemp -d "${TMPDIR:-/tmp}/ipgreylist-redis-bench.XXXXXX") || exit 111
RPID=
trap '[ -z "$RPID" ] || { kill "$RPID" 2> /dev/null; wait "$RPID"; }; rm -rf "$W"' EXIT INT TERM

. bench/redis.lib
redis_start bench/ipgreylist-redis.sh "$W"

export PROTO=TCP TCPREMOTEIP=10.0.0.1 GREYLIST_V4PREFIX=32
unset RELAYCLIENT GREYLIST GREYLIST_WHITELIST GREYLIST_ONLY GREYLISTDIR TCPREMOTEHOST GREYLIST_KEY \
  GREYLIST_PATTERNS GREYLIST_REDIS GREYLIST_REDIS_PREFIX GREYLIST_REDIS_DB GREYLIST_REDIS_TIMEOUT \
  GREYLIST_REDIS_PASSFILE GREYLIST_OBSERVE
mkdir -p "$W/state"
# the key made a regular in each store: new, then promoted at once
for run in 1 2; do
  GREYLIST_MIN=0 src/ipgreylist -t 1 -d "$W/state" /bin/true < /dev/null > /dev/null 2>&1
  GREYLIST_MIN=0 GREYLIST_REDIS=$RS src/ipgreylist -t 1 /bin/true < /dev/null > /dev/null 2>&1
done
src/ipgreylist -d "$W/state" /bin/true < /dev/null 2>&1 | grep -q '^ipgreylist: regular ' ||
  { echo "bench/ipgreylist-redis.sh: the key is no regular in the files"; exit 111; }
GREYLIST_REDIS=$RS src/ipgreylist /bin/true < /dev/null 2>&1 | grep -q '^ipgreylist: regular ' ||
  { echo "bench/ipgreylist-redis.sh: the key is no regular in Redis"; exit 111; }

best() { # name value: keep the minimum in $best_NAME
  eval "cur=\${best_$1:-}"
  if [ -z "$cur" ] || [ "$2" -lt "$cur" ]; then eval "best_$1=$2"; fi
}
i=0
while [ $i -lt "$ROUNDS" ]; do
  best true  "$(bench/tmp/spawn "$N" /bin/true)"
  best rbl   "$(RBLSMTPD= bench/tmp/spawn "$N" rblsmtpd /bin/true)"
  best files "$(bench/tmp/spawn "$N" src/ipgreylist -d "$W/state" /bin/true)"
  best redis "$(GREYLIST_REDIS=$RS bench/tmp/spawn "$N" src/ipgreylist /bin/true)"
  i=$((i+1))
done
# still a regular in Redis after the runs: the runs measured Redis, not a failure
GREYLIST_REDIS=$RS src/ipgreylist /bin/true < /dev/null 2>&1 | grep -q '^ipgreylist: regular ' ||
  { echo "bench/ipgreylist-redis.sh: Redis failed during the runs"; exit 111; }
echo "wall ns per session: /bin/true $best_true, rblsmtpd $best_rbl, ipgreylist files $best_files, ipgreylist redis (unix socket) $best_redis"
awk -v t="$best_true" -v r="$best_rbl" -v f="$best_files" -v d="$best_redis" 'BEGIN {
  printf "added cost: rblsmtpd %.1f us, ipgreylist files %.1f us, ipgreylist redis %.1f us\n", (r - t) / 1000, (f - t) / 1000, (d - t) / 1000
  printf "ipgreylist regular pass-through cost, redis / files: %.2f (goal <= 1.5)\n", (d - t) / (f - t)
  printf "ipgreylist regular pass-through cost, redis / rblsmtpd: %.2f\n", (d - t) / (r - t) }'
