# runbook — hand-written Makefile.  `make` builds build/runbook.
# Libraries come from pkg-config; a missing one is installed by
# tests/deps.sh (apt-get when root or with sudo) or named exactly.

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR   = $(PREFIX)/bin
DATADIR  = $(PREFIX)/share/runbook
MANDIR   = $(PREFIX)/share/man/man1

CC      ?= cc
PKGS     = yaml-0.1 libpcre2-8 libssh2 libarchive libcrypto
DEPS_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CWARNS  = -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
          -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wundef \
          -Wwrite-strings -Wvla -Wno-unused-parameter
CSTD    = -std=c11 -D_GNU_SOURCE
CFLAGS ?= -O2 -g
ALL_CFLAGS = $(CSTD) $(CWARNS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP \
             -DRUNBOOK_DATADIR='"$(DATADIR)"' -DRUNBOOK_VERSION='"$(VERSION)"'
VERSION = 0.1.0

SRCS    = $(wildcard interp/*.c)
LIBSRCS = $(filter-out interp/main.c interp/cmd_%.c,$(SRCS))
OBJS    = $(SRCS:interp/%.c=build/obj/%.o)
UNIT    = $(wildcard tests/unit/*.c)

ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=all

.PHONY: all test unit e2e asan asan-e2e valgrind bench demo install clean fuzz fuzz-build coverage FORCE

ifneq ($(DEPS_OK),yes)
# Build dependencies missing: install them (or name them), then re-enter.
all test unit e2e asan asan-e2e valgrind bench demo install fuzz fuzz-build coverage build/runbook:
	@sh tests/deps.sh build
	@$(MAKE) --no-print-directory $@
else

all: build/runbook

build/runbook: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $(OBJS) $(PKG_LIBS) $(LDFLAGS)

# The install prefix is compiled in (where the stdlib is found): a change
# of PREFIX must rebuild, so it is recorded in a stamp that objects use.
build/prefix.stamp: FORCE | build/obj
	@echo '$(DATADIR)' | cmp -s - $@ || echo '$(DATADIR)' > $@

build/obj/%.o: interp/%.c build/prefix.stamp | build/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@

build/obj build/asan:
	@mkdir -p $@

# The sanitizer build: the binary and the unit tests.  The binary has the
# fault hooks (inert unless RUNBOOK_FAULT is set), so that `make asan-e2e`
# checks t0960's error paths too.
build/asan/runbook: $(SRCS) $(wildcard interp/*.h) build/prefix.stamp | build/asan
	$(CC) $(CSTD) $(CWARNS) $(ASAN_FLAGS) -DRUNBOOK_FAULTS $(PKG_CFLAGS) -DRUNBOOK_DATADIR='"$(DATADIR)"' \
	  -DRUNBOOK_VERSION='"$(VERSION)"' -o $@ $(SRCS) $(PKG_LIBS)
	@# runbooks and modules beside the binary's folder, as for build/runbook
	@ln -sfn ../runbooks build/runbooks && ln -sfn ../stdlib build/stdlib

build/asan/unit: $(UNIT) $(LIBSRCS) $(wildcard interp/*.h) build/prefix.stamp | build/asan
	$(CC) $(CSTD) $(CWARNS) $(ASAN_FLAGS) $(PKG_CFLAGS) -Iinterp -DRUNBOOK_DATADIR='"$(DATADIR)"' \
	  -DRUNBOOK_VERSION='"$(VERSION)"' -o $@ $(UNIT) $(LIBSRCS) $(PKG_LIBS)

asan: build/asan/runbook build/asan/unit

# The fault-injection build (interp/fault.h): tests/e2e/t0960-faults.sh
# makes its journal, log, file, rename and spawn calls fail on demand.
build/fault/runbook: $(SRCS) $(wildcard interp/*.h) build/prefix.stamp
	@mkdir -p build/fault
	$(CC) $(CSTD) $(CWARNS) -O1 -g -DRUNBOOK_FAULTS $(PKG_CFLAGS) -DRUNBOOK_DATADIR='"$(DATADIR)"' \
	  -DRUNBOOK_VERSION='"$(VERSION)"' -o $@ $(SRCS) $(PKG_LIBS)
	@ln -sfn ../runbooks build/runbooks && ln -sfn ../stdlib build/stdlib

# Line coverage of interp/ from the whole suite (gcov): objects built
# with --coverage into build/cov/, the unit tests and every end-to-end
# test run against them, then tests/coverage.sh sums gcov's counts.  The
# fault hooks are compiled in (inert unless RUNBOOK_FAULT is set), so the
# same binary serves t0960 and the error paths it reaches count.
COV_OBJS     = $(SRCS:interp/%.c=build/cov/obj/%.o)
COV_LIBOBJS  = $(LIBSRCS:interp/%.c=build/cov/obj/%.o)

build/cov/obj/%.o: interp/%.c $(wildcard interp/*.h) build/prefix.stamp
	@mkdir -p build/cov/obj
	$(CC) $(CSTD) $(CWARNS) -O0 -g --coverage -DRUNBOOK_FAULTS $(PKG_CFLAGS) -DRUNBOOK_DATADIR='"$(DATADIR)"' \
	  -DRUNBOOK_VERSION='"$(VERSION)"' -c $< -o $@

build/cov/runbook: $(COV_OBJS)
	$(CC) --coverage -o $@ $(COV_OBJS) $(PKG_LIBS)
	@ln -sfn ../runbooks build/runbooks && ln -sfn ../stdlib build/stdlib

build/cov/unit: $(UNIT) $(COV_LIBOBJS)
	$(CC) $(CSTD) $(CWARNS) -O0 -g --coverage $(PKG_CFLAGS) -Iinterp -o $@ $(UNIT) $(COV_LIBOBJS) $(PKG_LIBS)

coverage: build/cov/runbook build/cov/unit
	@sh tests/coverage.sh

# libFuzzer targets (clang): tests/fuzz/fuzz_NAME.c -> build/fuzz/NAME.
# `make fuzz` runs each for FUZZ_TIME seconds, FUZZ_JOBS at a time
# (tests/fuzz/run.sh).
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 60
FUZZ_TARGETS  = $(patsubst tests/fuzz/fuzz_%.c,%,$(filter-out tests/fuzz/fuzz_util.c,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_FLAGS    = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_OBJS     = $(LIBSRCS:interp/%.c=build/fuzz/obj/%.o) build/fuzz/obj/fuzz_util.o

# the interpreter's objects are compiled once for every target (and kept)
.SECONDARY: $(FUZZ_OBJS)
build/fuzz/obj/%.o: interp/%.c $(wildcard interp/*.h) build/prefix.stamp
	@mkdir -p build/fuzz/obj
	$(FUZZ_CC) $(CSTD) $(CWARNS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) \
	  -DRUNBOOK_DATADIR='"$(DATADIR)"' -DRUNBOOK_VERSION='"$(VERSION)"' -c $< -o $@

build/fuzz/obj/fuzz_util.o: tests/fuzz/fuzz_util.c tests/fuzz/fuzz.h $(wildcard interp/*.h)
	@mkdir -p build/fuzz/obj
	$(FUZZ_CC) $(CSTD) $(CWARNS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -Iinterp -Itests/fuzz \
	  -c $< -o $@

build/fuzz/%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(CSTD) $(CWARNS) $(FUZZ_FLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -Iinterp -Itests/fuzz \
	  -o $@ $< $(FUZZ_OBJS) $(PKG_LIBS)

fuzz-build:
	@sh tests/deps.sh fuzz
	@$(MAKE) --no-print-directory $(if $(findstring -j,$(MAKEFLAGS)),,-j$$(nproc)) $(FUZZ_TARGETS:%=build/fuzz/%)

fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

# `make test`: unit tests under ASan+UBSan, then the end-to-end tests
# against the normal build; the last line is `N passed, N failed`.
test: build/runbook build/asan/unit build/fault/runbook
	@sh tests/deps.sh test
	@sh tests/run.sh

unit: build/asan/unit
	@build/asan/unit

e2e: build/runbook
	@sh tests/run.sh --e2e-only

# The end-to-end suite against the ASan+UBSan build; any sanitizer report
# fails it (tests/asan-e2e.sh).
asan-e2e: build/asan/runbook build/runbook build/fault/runbook
	@sh tests/deps.sh test
	@sh tests/asan-e2e.sh

# The end-to-end suite with every runbook process under valgrind memcheck;
# any report fails it (tests/valgrind-e2e.sh).
valgrind: build/runbook build/fault/runbook
	@sh tests/valgrind-e2e.sh

bench: build/runbook
	@sh tests/bench/run.sh

demo: build/runbook
	@sh tests/demo/run.sh

install: build/runbook
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/stdlib $(DESTDIR)$(DATADIR)/runbooks $(DESTDIR)$(MANDIR)
	install -m 0755 build/runbook $(DESTDIR)$(BINDIR)/runbook
	for f in stdlib/*.yml; do [ -e "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(DATADIR)/stdlib/; done; true
	for f in runbooks/*.yml; do [ -e "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(DATADIR)/runbooks/; done; true
	install -m 0644 schema/runbook.schema.json schema/module.schema.json $(DESTDIR)$(DATADIR)/
	install -m 0644 man/runbook.1 $(DESTDIR)$(MANDIR)/runbook.1

endif

clean:
	rm -rf build

-include $(OBJS:.o=.d)
