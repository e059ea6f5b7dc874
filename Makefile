# sllmp: one plain GNU Makefile.
#
#   make                  build/sllmp.fcgi and build/sllmp
#   make run              lighttpd + a spawn-fcgi pool on 127.0.0.1:$(PORT) (default 8080);
#                         SERVER=lighttpd-binpath|apache|apache-fcgid|apache-cgi for the others
#   make test             unit tests (also under ASan+UBSan), integration, conformance
#   make bench            throughput and latency against nginx
#   make fuzz             libFuzzer on every parser, FUZZ_SECONDS (60) each (clang, ASan+UBSan)
#   make bundle           build/bundle/sllmp/: both binaries + lib/ for shared hosting (BUNDLE_DIR=)
#   make deps             install the Debian packages (as root; else prints the apt-get line)
#   make install          PREFIX=/usr/local DESTDIR=
#   make SANITIZER=address,undefined   DEBUG=1   NOOPT=1

PREFIX    ?= /usr/local
DESTDIR   ?=
PORT      ?= 8080
SERVER    ?= lighttpd
BUILD     ?= build
CC        ?= cc
PKGS      := fcgi libcurl libcjson hiredis yaml-0.1 openssl

DEB_BUILD := build-essential pkg-config libfcgi-dev libcurl4-openssl-dev libcjson-dev \
             libhiredis-dev libyaml-dev libssl-dev libcmocka-dev
DEB_RUN   := lighttpd spawn-fcgi libfcgi-bin redis-server
DEB_TEST  := nginx wrk curl apache2 libapache2-mod-fcgid prometheus clang libclang-rt-dev
# Tools checked by command, since they may come from elsewhere (nodesource's nodejs ships npm
# and conflicts with Debian's npm package): command -> the Debian packages that provide it.
DEB_CMDS  := node:nodejs npm:npm python3:python3

WERROR    ?= -Werror
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wvla \
             -Wimplicit-fallthrough -Wundef -fno-common -fstack-protector-strong \
             -Iinclude -I$(BUILD)/gen -MMD -MP
LDLIBS    += -lpthread -lm

ifneq ($(DEBUG),)
CFLAGS    += -DSLLMP_DEBUG=1
endif
ifneq ($(NOOPT),)
CFLAGS    += -O0
endif
ifneq ($(SANITIZER),)
CFLAGS    += -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=$(SANITIZER)
endif
ifneq ($(FUZZ),)
CFLAGS    += -fsanitize=fuzzer-no-link -DSLLMP_FUZZ=1
endif

# Evaluated on first use (after check-deps may have installed the packages), then memoised.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)
CFLAGS    += $(PKG_CFLAGS)
LDLIBS    += $(PKG_LIBS)

CORE_SRC  := $(wildcard src/*.c src/middleware/*.c src/providers/*.c src/store/*.c)
CORE_SRC  := $(filter-out src/cli.c,$(CORE_SRC))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/default_conf.o $(BUILD)/gen/pricing.o
FCGI_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard fcgi/*.c))
CLI_OBJ   := $(BUILD)/src/cli.o
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 60

.PHONY: all run test unit unit-san integration conformance bench bundle deps check-deps \
        install clean lint format fuzz fuzz-replay fuzz-bins
all: $(BUILD)/sllmp.fcgi $(BUILD)/sllmp

# Installs what is missing (as root) before anything is compiled or started.
check-deps:
	@pkg-config --exists $(PKGS) cmocka 2>/dev/null && \
	  for c in lighttpd spawn-fcgi redis-server cgi-fcgi python3 node npm; do \
	    command -v $$c >/dev/null || exit 1; done || $(MAKE) --no-print-directory deps

$(CORE_OBJ) $(FCGI_OBJ) $(CLI_OBJ) $(BUILD)/gen/default_conf.c $(BUILD)/gen/pricing.c: | check-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# conf/sllmp.yaml (the default configuration) and conf/pricing.yaml (the price table) are
# compiled in: embed FILE SYMBOL writes a C array SYMBOL_text and its length SYMBOL_len.
embed = { echo '\#include <stddef.h>'; \
	  echo 'extern const char $(2)_text[];'; \
	  echo 'extern const size_t $(2)_len;'; \
	  echo 'const char $(2)_text[] = {'; \
	  od -An -v -tx1 $(1) | sed -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; \
	  echo 'const size_t $(2)_len = sizeof($(2)_text) - 1;'; }

$(BUILD)/gen/default_conf.c: conf/sllmp.yaml
	@mkdir -p $(dir $@)
	@$(call embed,$<,sllmp_default_conf) >$@

$(BUILD)/gen/pricing.c: conf/pricing.yaml
	@mkdir -p $(dir $@)
	@$(call embed,$<,sllmp_pricing) >$@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(BUILD)/libsllmp.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sllmp.fcgi: $(FCGI_OBJ) $(BUILD)/libsllmp.a
	$(CC) $(LDFLAGS) -o $@ $(FCGI_OBJ) $(BUILD)/libsllmp.a $(LDLIBS)

$(BUILD)/sllmp: $(CLI_OBJ) $(BUILD)/libsllmp.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libsllmp.a $(LDLIBS)

# Unit tests include the .c under test, so they reach static functions.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libsllmp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -o $@ $< $(BUILD)/libsllmp.a \
	  $(LDLIBS) -lcmocka

# Fuzz targets include the .c under test as the unit tests do; libFuzzer brings main().
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(BUILD)/libsllmp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -fsanitize=fuzzer -o $@ $< $(BUILD)/libsllmp.a \
	  $(LDLIBS)

fuzz-bins: $(FUZZ_BIN)

# Every fuzz target, built apart by clang with libFuzzer, ASan and UBSan (build/fuzz).
FUZZ_MAKE = $(MAKE) --no-print-directory BUILD=build/fuzz CC=clang FUZZ=1 \
	    SANITIZER=address,undefined

# make test: each target runs once over its committed corpus (seeds and every input that
# once crashed it), so a parser that breaks on one of them fails the build.
fuzz-replay:
	@+$(FUZZ_MAKE) fuzz-bins
	@fail=0; for t in $(FUZZ_SRC:tests/fuzz/%.c=%); do \
	  echo "== fuzz-replay $$t"; \
	  build/fuzz/fuzz/$$t -runs=0 -artifact_prefix=build/fuzz/replay-$$t- \
	    tests/fuzz/corpus/$$t 2>build/fuzz/$$t.log || \
	    { tail -40 build/fuzz/$$t.log; fail=1; }; done; exit $$fail

# make fuzz: FUZZ_SECONDS of libFuzzer per target; new inputs go to build/fuzz/corpus/,
# a crash to build/fuzz/crash-<target>-*. Copy a crash into tests/fuzz/corpus/<target>/ once fixed.
fuzz:
	@+$(FUZZ_MAKE) fuzz-bins
	@fail=0; for t in $(FUZZ_SRC:tests/fuzz/%.c=%); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; mkdir -p build/fuzz/corpus/$$t; \
	  build/fuzz/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=1024 \
	    -artifact_prefix=build/fuzz/crash-$$t- build/fuzz/corpus/$$t tests/fuzz/corpus/$$t \
	    2>build/fuzz/$$t.log || { tail -60 build/fuzz/$$t.log; fail=1; }; \
	  grep -E '^(Done|#[0-9]+ +DONE)' build/fuzz/$$t.log | tail -1; done; exit $$fail

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

# The unit tests again, built apart under AddressSanitizer and UBSan.
unit-san:
	$(MAKE) --no-print-directory BUILD=build/san SANITIZER=address,undefined unit

integration: all
	python3 tests/integration/run.py

# Against the built-in mock, then against the mock OpenAI upstream (faults, splits, heartbeats).
conformance: all
	bash tests/conformance/run.sh
	CONFORMANCE_UPSTREAM=mock bash tests/conformance/run.sh

test: all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-san
	@$(MAKE) --no-print-directory fuzz-replay
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory conformance

run: all
	exec env PORT=$(PORT) SERVER=$(SERVER) ./deploy/local/run.sh

# The spool's write path alone, linked against the core (make bench runs it).
$(BUILD)/spoolbench: tests/bench/spoolbench.c $(BUILD)/libsllmp.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsllmp.a $(LDLIBS)

bench: all $(BUILD)/spoolbench
	SPOOLBENCH=$(BUILD)/spoolbench bash tests/bench/bench.sh

# A folder for shared hosting: sllmp.fcgi and sllmp linked with DT_RPATH $ORIGIN/lib, and lib/
# with every shared library they load but glibc's (objects in build/bundle/obj).
bundle:
	+MAKE="$(MAKE)" deploy/shared-hosting/bundle.sh $(BUNDLE_DIR)

deps:
	@missing=""; for p in $(DEB_BUILD) $(DEB_RUN) $(DEB_TEST); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	for cp in $(DEB_CMDS); do \
	  command -v $${cp%%:*} >/dev/null 2>&1 || missing="$$missing $${cp#*:}"; done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else echo "deps: missing packages; run as root:"; \
	  echo "  apt-get install -y$$missing"; exit 1; fi

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/sllmp \
	  $(DESTDIR)$(PREFIX)/share/sllmp/conf $(DESTDIR)$(PREFIX)/share/sllmp/deploy/lighttpd \
	  $(DESTDIR)$(PREFIX)/share/sllmp/deploy/cron $(DESTDIR)$(PREFIX)/share/sllmp/deploy/grafana
	install -m 0755 $(BUILD)/sllmp $(DESTDIR)$(PREFIX)/bin/sllmp
	install -m 0755 $(BUILD)/sllmp.fcgi $(DESTDIR)$(PREFIX)/lib/sllmp/sllmp.fcgi
	install -m 0644 conf/*.yaml $(DESTDIR)$(PREFIX)/share/sllmp/conf/
	install -m 0644 deploy/lighttpd/*.conf $(DESTDIR)$(PREFIX)/share/sllmp/deploy/lighttpd/
	install -m 0644 deploy/cron/* $(DESTDIR)$(PREFIX)/share/sllmp/deploy/cron/
	install -m 0644 deploy/grafana/* $(DESTDIR)$(PREFIX)/share/sllmp/deploy/grafana/

lint:
	clang-format --dry-run -Werror $(wildcard src/*.c src/*/*.c fcgi/*.c include/sllmp/*.h)
	@! grep -nP '\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets)\(|(?<![:/])//' \
	  $(wildcard src/*.c src/*/*.c fcgi/*.c include/sllmp/*.h)

format:
	clang-format -i $(wildcard src/*.c src/*/*.c fcgi/*.c include/sllmp/*.h)

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
