#!/bin/bash
# Every program has its man page, every page renders cleanly, every
# environment variable a program reads is documented, and "make install"
# puts programs and pages where PREFIX and DESTDIR say.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 111

PROGS=$(make -s -f - print-progs <<'MK'
include Makefile
print-progs: ; @echo $(PROGS)
MK
)
check "the Makefile lists the programs" test -n "$PROGS"
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

# Variables read in the source: getenv("X") and nj_env_ulong("X", ...).
for p in $PROGS; do
  for v in $(grep -o 'getenv("[A-Z0-9_]*")\|nj_env_ulong("[A-Z0-9_]*"' "src/$p.c" | sed 's/.*("//; s/")*//' | sort -u); do
    check "$p reads \$$v: documented in doc/$p.8" grep -q "$v" "doc/$p.8"
    check "$p reads \$$v: documented in doc/najimi.7" grep -q "$v" doc/najimi.7
  done
done

# Variables the greylist library reads for its programs (ipgreylist,
# ipgreylist-expire): documented in ipgreylist(8) and najimi(7).
for f in src/greylist.c src/glname.c; do
  for v in $(grep -o 'getenv("[A-Z0-9_]*")\|nj_env_ulong("[A-Z0-9_]*"' "$f" | sed 's/.*("//; s/")*//' | sort -u); do
    check "$f reads \$$v: documented in doc/ipgreylist.8" grep -q "$v" doc/ipgreylist.8
    check "$f reads \$$v: documented in doc/najimi.7" grep -q "$v" doc/najimi.7
  done
done

# make install into a scratch root.
D=$T/root
check "make install DESTDIR=... PREFIX=/usr" make -s install DESTDIR="$D" PREFIX=/usr
for p in $PROGS najimi-mkservice; do
  check "installed: /usr/bin/$p" test -x "$D/usr/bin/$p"
done
for m in doc/*.8; do
  check "installed: man8/$(basename "$m")" cmp "$m" "$D/usr/share/man/man8/$(basename "$m")"
done
check "installed: man7/najimi.7" cmp doc/najimi.7 "$D/usr/share/man/man7/najimi.7"
check "installed: control templates" test -s "$D/usr/share/najimi/control/tcp.smtp"
check "nothing installed outside PREFIX" \
  sh -c "[ -z \"\$(find '$D' -mindepth 1 -maxdepth 1 ! -name usr)\" ] && [ -z \"\$(find '$D/usr' -mindepth 1 -maxdepth 1 ! -name bin ! -name share)\" ]"

finish
