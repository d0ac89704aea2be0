#!/bin/bash
# SPDX-License-Identifier: ISC
# make install and make uninstall as an administrator or a packager runs
# them: every installed program answers -V with its name and the version
# of the file VERSION; uninstall removes exactly what install put, and
# the directories install created, never one that was there before.
. "$(dirname "$0")/../lib.sh"
cd "$TOP" || exit 111
VERSION=$(cat VERSION)

# The Makefile's list of what install puts (MODE:FILE:DIR) for PREFIX=/usr.
LIST=$(make_var '$(INSTALL_LIST)' PREFIX=/usr | tr ' ' '\n')
check "the Makefile lists what it installs" test -n "$LIST"
# want: the installed paths, one a line, sorted.
while IFS=: read -r mode file dir; do echo "$dir/${file##*/}"; done <<< "$LIST" | sort > "$T/want"
PROGS=$(make_var '$(PROGS) $(notdir $(SCRIPTS))')
BINS=$(while IFS=: read -r mode file dir; do [ "$dir" = /usr/bin ] && echo "${file##*/}"; done <<< "$LIST")

# files ROOT: every file under ROOT, as paths inside it, sorted.
files() { (cd "$1" && find . ! -type d | sed 's/^\.//' | sort); }
# dirs ROOT: every directory under ROOT (ROOT itself too), sorted.
dirs() { (cd "$1" && find . -type d | sort); }

# Into a DESTDIR that does not exist yet.
D=$T/d
check "install DESTDIR=\$T/d PREFIX=/usr" make -s INSTALLED_DIRS="$T/dirs" install DESTDIR="$D" PREFIX=/usr
check "installed: exactly the Makefile's list" diff "$T/want" <(files "$D")
for p in $BINS; do
  check "$p -V: '$p najimi $VERSION', exit 0" \
    sh -c "[ \"\$('$D/usr/bin/$p' -V)\" = '$p najimi $VERSION' ]"
done
for p in $PROGS; do
  check "installed: $p (a program of the Makefile)" test -x "$D/usr/bin/$p"
done
check "installed: programs 755, pages and templates 644" \
  sh -c "[ -z \"\$(find '$D/usr/bin' -type f ! -perm 755)\" ] && [ -z \"\$(find '$D/usr/share' -type f ! -perm 644)\" ]"
check "installed: the templates in /usr/share/najimi/control" test -s "$D/usr/share/najimi/control/tcp.smtp"
check "installed najimi-mkservice has the version written in" \
  grep -qx "NJ_VERSION=$VERSION" "$D/usr/bin/najimi-mkservice"
check "uninstall DESTDIR=\$T/d PREFIX=/usr" make -s INSTALLED_DIRS="$T/dirs" uninstall DESTDIR="$D" PREFIX=/usr
check "uninstall: nothing left, not even the directories install made" test ! -e "$D"
check "uninstall again: nothing to do, exit 0" make -s INSTALLED_DIRS="$T/dirs" uninstall DESTDIR="$D" PREFIX=/usr

# Into a tree that has directories of its own (one empty, one with a
# file of another package): they stay.
E=$T/e
mkdir -p "$E/usr/bin" "$E/usr/share/man/man8"
echo other > "$E/usr/share/man/man8/other.8"
dirs "$E" > "$T/before"
check "install into a tree with directories of its own" make -s INSTALLED_DIRS="$T/dirs" install DESTDIR="$E" PREFIX=/usr
check "uninstall from that tree" make -s INSTALLED_DIRS="$T/dirs" uninstall DESTDIR="$E" PREFIX=/usr
check "uninstall: the tree's own directories stay, the ones install made go" diff "$T/before" <(dirs "$E")
check "uninstall: another package's file stays" grep -qx other "$E/usr/share/man/man8/other.8"
check "uninstall: no other file left" diff <(echo /usr/share/man/man8/other.8) <(files "$E")

# PREFIX: everything below it.
F=$T/f
check "install PREFIX=/opt/najimi" make -s INSTALLED_DIRS="$T/dirs" install DESTDIR="$F" PREFIX=/opt/najimi
check "PREFIX: nothing outside /opt/najimi" test "$(ls "$F")" = opt -a "$(ls "$F/opt")" = najimi
check "PREFIX: the programs in /opt/najimi/bin" test -x "$F/opt/najimi/bin/greetdelay"
check "PREFIX: the pages in /opt/najimi/share/man" test -s "$F/opt/najimi/share/man/man8/greetdelay.8"
check "uninstall PREFIX=/opt/najimi" make -s INSTALLED_DIRS="$T/dirs" uninstall DESTDIR="$F" PREFIX=/opt/najimi
check "uninstall PREFIX=/opt/najimi: nothing left" test ! -e "$F"

# The Debian package (debian/, a native package) has the same version.
check "debian/changelog's version is VERSION's" \
  test "$(sed -n '1s/^najimi (\([^)]*\)).*/\1/p' debian/changelog)" = "$VERSION"

finish
