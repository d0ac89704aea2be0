# SPDX-License-Identifier: ISC
# najimi: build, test, install.
#   make            build the programs into src/
#   make check      every test (unit and black-box)
#   make bench      the benchmarks under bench/, printing ratios
#   make fuzz       libFuzzer over the parsers (FUZZTIME seconds)
#   make install    PREFIX (/usr/local) and DESTDIR are honoured
#   make uninstall  removes what make install put (same PREFIX, DESTDIR)
#   make clean

PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
DATADIR  = $(PREFIX)/share/najimi

# One version in one place: the file VERSION. Every program's -V prints
# it (src/version.c) and every man page's footer carries it.
VERSION := $(shell cat VERSION 2>/dev/null)
ifeq ($(shell echo '$(VERSION)' | grep -x '[0-9][0-9A-Za-z.+~]*'),)
$(error the file VERSION must hold one version number, e.g. 0.2.0)
endif

CC      ?= cc
CFLAGS  ?= -O2 -g
NJ_CFLAGS = -std=c99 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Werror \
	-Wstrict-prototypes -Wmissing-prototypes -Wshadow -Wformat=2 \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2 -DNJ_VERSION='"$(VERSION)"'
# -fno-merge-constants keeps each object's strings in its own .rodata. A
# merged string can otherwise end up in another library's, as the log key
# "age" did, inside libunistring's "Osage" at the far end of a static
# ipgreylist's .rodata: one more page fault, about 3 us, in every session.
# gcc has it; clang (the sanitizer and fuzz builds) rejects it, so it is
# added only where $(CC) takes it, and never to the fuzz build.
NJ_LAYOUT := $(shell $(CC) -Werror -fno-merge-constants -E -x c /dev/null \
	>/dev/null 2>&1 && echo -fno-merge-constants)
# tinycdb before skalibs (skalibs has cdb_* symbols of its own); both
# linked statically so that each exec in the chain costs as little as it can.
LIBS     = -lcdb -lskarnet
LIBSTATIC = -Wl,-Bstatic $(LIBS) -Wl,-Bdynamic
# Programs that need no NSS (getpwnam) are linked fully static: an exec in
# the chain then skips the dynamic loader. Sanitizer builds set STATIC=.
STATIC  ?= -static
STATIC_PROGS = greetdelay ipgreylist starttlsd
# Programs that key clients by name (src/glname.c) need libpsl, which
# needs libidn2 and libunistring in a static link (Debian: libpsl-dev,
# libidn2-dev, libunistring-dev). Only these are linked with it.
PSL_PROGS = ipgreylist rcptcheck ipgreylist-admin najimi-explain
PSLLIBS  = -lpsl -lidn2 -lunistring
# In a dynamically linked program (rcptcheck, the tools) they are linked
# statically too when their .a files are there: three shared libraries
# loaded at every exec cost rcptcheck about 0.2 of a minimal relay's
# added cost per session (bench/rcptcheck.sh).
PSL_A := $(shell $(CC) -print-file-name=libpsl.a 2>/dev/null)
PSLLIBS_A = -Wl,-Bstatic $(PSLLIBS) -Wl,-Bdynamic
PSLLIBS_DYN = $(if $(filter /%,$(PSL_A)),$(PSLLIBS_A),$(PSLLIBS))
# Programs that keep greylist records (src/glstore.c chooses files or
# Redis) link hiredis (Debian: libhiredis-dev 0.14), statically when its
# .a is there, as skalibs and tinycdb are. Only these are linked with it.
REDIS_PROGS = ipgreylist ipgreylist-expire najimi-check rcptcheck ipgreylist-admin najimi-explain
HIREDIS_A := $(shell $(CC) -print-file-name=libhiredis.a 2>/dev/null)
REDISLIBS_A = -Wl,-Bstatic -lhiredis -Wl,-Bdynamic
REDISLIBS = $(if $(filter /%,$(HIREDIS_A)),$(REDISLIBS_A),-lhiredis)
# libtls (libretls on OpenSSL) is linked into starttlsd-io alone, the TLS
# part that starttlsd execs only when a client asks for TLS.
TLS_CFLAGS := $(shell pkg-config --cflags libtls 2>/dev/null)
TLS_LIBS   := $(shell pkg-config --libs libtls 2>/dev/null || echo -ltls)
src/starttlsd-io.o: CPPFLAGS += $(TLS_CFLAGS)
src/starttlsd-io: EXTRA_LIBS = $(TLS_LIBS)

# A src/*.c with a main() is one program; every other is part of the
# internal library (src/libnajimi.a).
PROGSRC := $(shell grep -l '^int main' src/*.c)
LIBOBJ  := $(patsubst %.c,%.o,$(filter-out $(PROGSRC),$(wildcard src/*.c)))
PROGS   := $(notdir $(basename $(PROGSRC)))
BINS    = $(PROGS:%=src/%)
UNIT    = $(basename $(wildcard tests/unit/test_*.c))
# Man pages: doc/NAME.N, built into man/manN/NAME.N with the version in
# the footer (.TH's fourth field). A shell script scripts/NAME with a page
# doc/NAME.N is a program too: built into src/NAME with its NJ_VERSION=
# line set to the version.
MANSRC  = $(wildcard doc/*.[1-9])
MANOUT  = $(foreach m,$(MANSRC),man/man$(subst .,,$(suffix $m))/$(notdir $m))
SCRIPTS = $(filter $(addprefix scripts/,$(basename $(notdir $(MANSRC)))),$(wildcard scripts/*))
SCRIPTBINS = $(SCRIPTS:scripts/%=src/%)
# The control/ templates: the sources, not what make there writes.
CONTROL = $(filter-out %.cdb %.tmp %.stamp %.all %/deny.smtp %/paths.mk %/config.mk,$(wildcard control/*))

all: $(BINS) $(SCRIPTBINS) $(MANOUT)

# -MMD: each object's true header dependencies, in src/*.d.
src/%.o: src/%.c
	$(CC) $(NJ_CFLAGS) $(NJ_LAYOUT) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(wildcard src/*.d tests/unit/*.d)

# ipgreylist's built-in dynamic-name patterns are control/dynamic-patterns
# itself, as a C string read by the same reader as the file (\ " and ?
# escaped, the last against trigraphs). Its comment and blank lines (what
# the reader skips: "#" or nothing after leading blanks) are left out, so
# that a session parses a few lines, not the whole commented file.
src/patterns.h: control/dynamic-patterns
	{ echo '/* Generated by make from control/dynamic-patterns: do not edit. */'; \
	  echo 'static const char builtin_patterns[] ='; \
	  sed -e '/^[ 	\r]*#/d' -e '/^[ 	\r]*$$/d' \
	    -e 's/[\\"?]/\\&/g' -e 's/^/  "/' -e 's/$$/\\n"/' control/dynamic-patterns; \
	  echo '  "";'; } > $@.tmp && mv $@.tmp $@
src/glname.o: src/patterns.h

src/libnajimi.a: $(LIBOBJ)
	rm -f $@
	$(AR) rc $@ $(LIBOBJ)

src/%: src/%.o src/libnajimi.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< src/libnajimi.a \
	  $(if $(filter $*,$(STATIC_PROGS)),$(STATIC) $(LIBS),$(LIBSTATIC)) \
	  $(if $(filter $*,$(PSL_PROGS)),$(if $(filter $*,$(STATIC_PROGS)),$(PSLLIBS),$(PSLLIBS_DYN))) \
	  $(if $(filter $*,$(REDIS_PROGS)),$(if $(filter $*,$(STATIC_PROGS)),-lhiredis,$(REDISLIBS))) \
	  $(EXTRA_LIBS)

src/version.o: VERSION

$(SCRIPTBINS): src/%: scripts/% VERSION
	sed 's/^NJ_VERSION=.*/NJ_VERSION=$(VERSION)/' $< > $@.tmp && chmod 755 $@.tmp && mv $@.tmp $@

.SECONDEXPANSION:
$(MANOUT): man/%: doc/$$(notdir $$*) VERSION
	@mkdir -p $(@D)
	sed '/^\.TH /s/^\(\.TH  *[^ ]*  *[^ ]*  *"[^"]*"\)  *"[^"]*"/\1 "najimi $(VERSION)"/' $< > $@.tmp && mv $@.tmp $@

tests/unit/%: tests/unit/%.c src/libnajimi.a
	$(CC) $(NJ_CFLAGS) $(NJ_LAYOUT) -Isrc $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< src/libnajimi.a $(LIBSTATIC) $(PSLLIBS) $(REDISLIBS)

check: all $(UNIT)
	tests/run

bench: all
	bench/run

# libFuzzer over the library's parsers of untrusted text (needs clang and
# libclang-rt), from empty corpora: tests/fuzz/fuzz_parsers.c (addresses,
# log values, greylist state, stamps, MAIL/RCPT arguments) and
# tests/fuzz/fuzz_data.c (the DATA scanner against a reference model, the
# command splitter, replies). FUZZTIME is the whole run in seconds: each
# of the two targets gets half of it (at least 1 s).
FUZZTIME ?= 30
FUZZEACH = $(shell t=$$(( $(FUZZTIME) / 2 )); [ $$t -ge 1 ] || t=1; echo $$t)
FUZZCC = clang $(NJ_CFLAGS) -Isrc -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined
fuzz: src/patterns.h
	mkdir -p tests/tmp/fuzz/corpus tests/tmp/fuzz/corpus-data
	$(FUZZCC) -o tests/tmp/fuzz/fuzz_parsers tests/fuzz/fuzz_parsers.c $(LIBOBJ:.o=.c) $(LIBSTATIC) $(PSLLIBS) $(REDISLIBS)
	$(FUZZCC) -o tests/tmp/fuzz/fuzz_data tests/fuzz/fuzz_data.c $(LIBOBJ:.o=.c) $(LIBSTATIC) $(PSLLIBS) $(REDISLIBS)
	tests/tmp/fuzz/fuzz_parsers -max_total_time=$(FUZZEACH) -max_len=512 \
	  -print_final_stats=1 tests/tmp/fuzz/corpus
	tests/tmp/fuzz/fuzz_data -max_total_time=$(FUZZEACH) -max_len=4096 \
	  -print_final_stats=1 tests/tmp/fuzz/corpus-data

# What "make install" puts where, as MODE:FILE:DIR; "make uninstall"
# removes the same files, so the two cannot drift apart. The directories
# install creates are recorded in INSTALLED_DIRS (here, in the source
# tree); uninstall removes those that are empty again, and no other.
INSTALL_LIST = $(foreach f,$(BINS) $(SCRIPTBINS),755:$f:$(BINDIR)) \
  $(foreach f,$(MANOUT),644:$f:$(MANDIR)/$(notdir $(patsubst %/,%,$(dir $f)))) \
  $(foreach f,$(CONTROL),644:$f:$(DATADIR)/control)
INSTALLED_DIRS = .installed-dirs

install: all
	@scripts/install-files install $(INSTALLED_DIRS) '$(DESTDIR)' $(INSTALL_LIST)

uninstall:
	@scripts/install-files uninstall $(INSTALLED_DIRS) '$(DESTDIR)' $(INSTALL_LIST)

clean:
	rm -f src/*.o src/*.d tests/unit/*.d src/libnajimi.a src/patterns.h $(BINS) $(SCRIPTBINS) $(UNIT)
	rm -rf tests/tmp man

.PHONY: all check bench fuzz install uninstall clean
.SECONDARY:
