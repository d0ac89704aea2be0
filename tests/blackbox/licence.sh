#!/bin/bash
# SPDX-License-Identifier: ISC
# najimi is under the ISC licence (LICENSE), and every source file says so
# in one line near its top: SPDX-License-Identifier: ISC.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 111

check "LICENSE is the ISC licence" \
  grep -q '^Permission to use, copy, modify, and distribute this software for any' LICENSE
if git rev-parse --git-dir > /dev/null 2>&1; then
  files=$(git ls-files)
else
  files=$(find . -path ./tests/tmp -prune -o -path ./bench/tmp -prune -o -type f -print | sed 's|^\./||')
fi
n=0 missing=
for f in $files; do
  case "$f" in
    *.c|*.h|*.sh|*.py|*.7|*.8|Makefile|*/Makefile|scripts/*|tests/run|bench/run|bench/copies|.ci/run|debian/rules) ;;
    *) continue ;;
  esac
  [ -f "$f" ] || continue
  n=$((n+1))
  head -n 3 "$f" | grep -q 'SPDX-License-Identifier: ISC' || missing="$missing $f"
done
check "the source files are found ($n)" test "$n" -gt 50
check "every source file carries SPDX-License-Identifier: ISC${missing:+ (missing:$missing)}" test -z "$missing"
finish
