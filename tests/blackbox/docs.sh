#!/bin/bash
# SPDX-License-Identifier: ISC
# Every program has its man page, every page renders cleanly and carries
# the version in its footer, every program documents -V, every
# environment variable a program reads is documented, and "make install"
# puts programs and pages where PREFIX and DESTDIR say.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 111

PROGS=$(make_var '$(PROGS)')
check "the Makefile lists the programs" test -n "$PROGS"
VERSION=$(cat VERSION)
SCRIPTS=$(make_var '$(notdir $(SCRIPTS))')
for p in $PROGS najimi-mkservice; do
  check "man page for $p" test -s "doc/$p.8"
done

for m in doc/*.8 doc/*.7; do
  if head -n1 "$m" | grep -q '^\.so '; then
    target=doc/$(basename "$(sed -n 's/^\.so //p' "$m")")
    check "$m points to an existing page" test -s "$target"
  else
    check "$m renders without warnings" \
      sh -c "[ -z \"\$(groff -man -ww -Wbreak -z '$m' 2>&1)\" ]"
  fi
done

# The pages as built (man/manN/): the version in every footer.
for m in man/man*/*; do
  head -n1 "$m" | grep -q '^\.so ' && continue
  check "$m: .TH says najimi $VERSION" grep -q "^\.TH [^ ]* [^ ]* \"[^\"]*\" \"najimi $VERSION\"" "$m"
  check "$m: the footer says najimi $VERSION" \
    sh -c "cd man && groff -man -Tutf8 -P-c '${m#man/}' 2>/dev/null | tail -n1 | grep -q 'najimi $VERSION'"
done
check "every page is built" test "$(ls doc/*.[1-9] | wc -l)" -eq "$(ls man/man*/* | wc -l)"

# -V: documented on the program's page, or as "PROG -V" on the page its
# .so names.
for p in $PROGS $SCRIPTS; do
  m=doc/$p.8 want='^\.B \\-V$'
  if head -n1 "$m" | grep -q '^\.so '; then
    m=doc/$(basename "$(sed -n 's/^\.so //p' "$m")") want="^\\.B $p \\\\-V"
  fi
  check "$p: -V documented in $m" grep -q "$want" "$m"
done

# Variables read in the source: getenv("X") and nj_env_ulong("X", ...).
for p in $PROGS; do
  for v in $(grep -o 'getenv("[A-Z0-9_]*")\|nj_env_ulong("[A-Z0-9_]*"' "src/$p.c" | sed 's/.*("//; s/")*//' | sort -u); do
    check "$p reads \$$v: documented in doc/$p.8" grep -q "$v" "doc/$p.8"
    check "$p reads \$$v: documented in doc/najimi.7" grep -q "$v" doc/najimi.7
  done
done

# Variables the greylist library reads for its programs (ipgreylist,
# ipgreylist-expire): documented in ipgreylist(8) and najimi(7).
for f in src/greylist.c src/glname.c src/greylist-redis.c src/glstore.c; do
  for v in $(grep -o 'getenv("[A-Z0-9_]*")\|nj_env_ulong("[A-Z0-9_]*"' "$f" | sed 's/.*("//; s/")*//' | sort -u); do
    check "$f reads \$$v: documented in doc/ipgreylist.8" grep -q "$v" doc/ipgreylist.8
    check "$f reads \$$v: documented in doc/najimi.7" grep -q "$v" doc/najimi.7
  done
done

# A program that opens the greylist store (nj_gl_store, or nj_gladmin_open
# for the operator tools) may find it in Redis: the variables the store
# reads are documented in its own page.
RVARS=$(grep -oh 'getenv("[A-Z0-9_]*")\|nj_env_ulong("[A-Z0-9_]*"' src/greylist-redis.c src/glstore.c | sed 's/.*("//; s/")*//' | sort -u)
check "the Redis store reads its variables (GREYLIST_REDIS, _PREFIX, _DB, _TIMEOUT, _PASSFILE)" \
  test "$(echo $RVARS)" = "GREYLIST_REDIS GREYLIST_REDIS_DB GREYLIST_REDIS_PASSFILE GREYLIST_REDIS_PREFIX GREYLIST_REDIS_TIMEOUT"
for p in $PROGS; do
  grep -q 'nj_gl_store(\|nj_gladmin_open(' "src/$p.c" || continue
  for v in $RVARS; do
    check "$p opens the greylist store: \$$v documented in doc/$p.8" grep -qw "$v" "doc/$p.8"
  done
done

# make install into a scratch root.
D=$T/root
check "make install DESTDIR=... PREFIX=/usr" make -s INSTALLED_DIRS="$T/dirs" install DESTDIR="$D" PREFIX=/usr
for p in $PROGS $SCRIPTS; do
  check "installed: /usr/bin/$p" test -x "$D/usr/bin/$p"
done
for m in man/man*/*; do
  check "installed: ${m#man/}" cmp "$m" "$D/usr/share/man/${m#man/}"
done
check "installed: control templates" test -s "$D/usr/share/najimi/control/tcp.smtp"
check "nothing installed outside PREFIX" \
  sh -c "[ -z \"\$(find '$D' -mindepth 1 -maxdepth 1 ! -name usr)\" ] && [ -z \"\$(find '$D/usr' -mindepth 1 -maxdepth 1 ! -name bin ! -name share)\" ]"

finish
