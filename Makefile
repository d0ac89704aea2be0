# najimi: build, test, install.
#   make            build the programs into src/
#   make check      every test (unit and black-box)
#   make bench      the benchmarks under bench/, printing ratios
#   make fuzz       libFuzzer over the parsers (FUZZTIME seconds)
#   make install    PREFIX (/usr/local) and DESTDIR are honoured
#   make clean

PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man

CC      ?= cc
CFLAGS  ?= -O2 -g
NJ_CFLAGS = -std=c99 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Werror \
	-Wstrict-prototypes -Wmissing-prototypes -Wshadow -Wformat=2 \
	-fstack-protector-strong -D_FORTIFY_SOURCE=2
# tinycdb before skalibs (skalibs has cdb_* symbols of its own); both
# linked statically so that each exec in the chain costs as little as it can.
LIBS     = -lcdb -lskarnet
LIBSTATIC = -Wl,-Bstatic $(LIBS) -Wl,-Bdynamic
# Programs that need no NSS (getpwnam) are linked fully static: an exec in
# the chain then skips the dynamic loader. Sanitizer builds set STATIC=.
STATIC  ?= -static
STATIC_PROGS = greetdelay ipgreylist

# A src/*.c with a main() is one program; every other is part of the
# internal library (src/libnajimi.a).
PROGSRC := $(shell grep -l '^int main' src/*.c)
LIBOBJ  := $(patsubst %.c,%.o,$(filter-out $(PROGSRC),$(wildcard src/*.c)))
PROGS   := $(notdir $(basename $(PROGSRC)))
BINS    = $(PROGS:%=src/%)
MAN8    = $(wildcard doc/*.8)
UNIT    = $(basename $(wildcard tests/unit/test_*.c))

all: $(BINS)

# -MMD: each object's true header dependencies, in src/*.d.
src/%.o: src/%.c
	$(CC) $(NJ_CFLAGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(wildcard src/*.d tests/unit/*.d)

src/libnajimi.a: $(LIBOBJ)
	rm -f $@
	$(AR) rc $@ $(LIBOBJ)

src/%: src/%.o src/libnajimi.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< src/libnajimi.a \
	  $(if $(filter $*,$(STATIC_PROGS)),$(STATIC) $(LIBS),$(LIBSTATIC))

tests/unit/%: tests/unit/%.c src/libnajimi.a
	$(CC) $(NJ_CFLAGS) -Isrc $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< src/libnajimi.a $(LIBSTATIC)

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
fuzz:
	mkdir -p tests/tmp/fuzz/corpus tests/tmp/fuzz/corpus-data
	$(FUZZCC) -o tests/tmp/fuzz/fuzz_parsers tests/fuzz/fuzz_parsers.c $(LIBOBJ:.o=.c) $(LIBSTATIC)
	$(FUZZCC) -o tests/tmp/fuzz/fuzz_data tests/fuzz/fuzz_data.c $(LIBOBJ:.o=.c) $(LIBSTATIC)
	tests/tmp/fuzz/fuzz_parsers -max_total_time=$(FUZZEACH) -max_len=512 \
	  -print_final_stats=1 tests/tmp/fuzz/corpus
	tests/tmp/fuzz/fuzz_data -max_total_time=$(FUZZEACH) -max_len=4096 \
	  -print_final_stats=1 tests/tmp/fuzz/corpus-data

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man7
	for p in $(PROGS); do install -m 755 src/$$p $(DESTDIR)$(BINDIR)/$$p; done
	for m in $(MAN8); do install -m 644 $$m $(DESTDIR)$(MANDIR)/man8/; done
	for m in doc/*.7; do [ -f "$$m" ] && install -m 644 $$m $(DESTDIR)$(MANDIR)/man7/ || :; done
	install -m 755 scripts/najimi-mkservice $(DESTDIR)$(BINDIR)/najimi-mkservice
	mkdir -p $(DESTDIR)$(PREFIX)/share/najimi/control
	for f in control/*; do case $$f in *.cdb|*.tmp|*.stamp|*/deny.smtp|*/paths.mk) ;; *) install -m 644 $$f $(DESTDIR)$(PREFIX)/share/najimi/control/ ;; esac; done

clean:
	rm -f src/*.o src/*.d tests/unit/*.d src/libnajimi.a $(BINS) $(UNIT)
	rm -rf tests/tmp

.PHONY: all check bench fuzz install clean
.SECONDARY:
