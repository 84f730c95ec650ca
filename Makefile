# kinerja — plain Makefile. Overridable: CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR, BUILD.
# `make help` lists the targets.

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
VERSION := 0.1.0
# libkinerja's ABI: bump SOVERSION (and the Debian package libkinerjaN) on an
# incompatible change of client/kinerja.h.
SOVERSION := 0
PKGS    := libwebsockets msgpack lmdb libcyaml jansson libsystemd libnats
PYTHON  ?= /usr/bin/python3

# SAN=1 builds into build/san with AddressSanitizer and UBSan.
ifeq ($(SAN),1)
BUILD    := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

OPT      ?= -O2 -g
WARN     := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
ALL_CFLAGS = $(WARN) $(OPT) $(SANFLAGS) -DKJ_VERSION='"$(VERSION)"' -Iproto -Idaemon -Iclient $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS     = $(PKG_LIBS) -lev -lpthread -lm

PROTO_SRC  := $(wildcard proto/*.c)
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c daemon/*/*.c))
CLIENT_SRC := $(filter-out client/main.c client/cmd_%.c,$(wildcard client/*.c))
CLI_SRC    := $(wildcard client/main.c client/cmd_*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
BENCH_SRC  := $(filter-out tests/bench/no_metrics.c,$(wildcard tests/bench/*.c))
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
PROTO_OBJ  := $(call obj,$(PROTO_SRC))
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
CLIENT_OBJ := $(call obj,$(CLIENT_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))
# The shared library's objects are compiled again with -fPIC (Debian's gcc
# makes PIE objects, which a shared library cannot always take).
PIC_OBJ    := $(patsubst %.c,$(BUILD)/pic/%.o,$(CLIENT_SRC) $(PROTO_SRC))
SONAME     := libkinerja.so.$(SOVERSION)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BIN  := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all deps run run-cluster check check-unit check-integration check-san check-browser bench bench-openloop bench-ab fuzz \
        fuzz-build fuzz-long check-long check-durability install uninstall clean help web format \
        deb check-packages build-tests
.DEFAULT_GOAL := all

all: $(BUILD)/kinerjad $(BUILD)/kinerja $(BUILD)/libkinerja.a $(BUILD)/libkinerja.so

help:
	@echo "kinerja $(VERSION) — targets:"
	@echo "  make run         install missing packages, build, start kinerjad with the demo config and simulated counters"
	@echo "  make run-cluster the same over NATS JetStream: nats-server, two kinerjad nodes, two dashboards"
	@echo "  make check       build and run every test suite (unit, integration, sanitizers, durability, fuzz, browser, packages)"
	@echo "  make             build build/kinerjad, build/kinerja, build/libkinerja.a"
	@echo "  make deps        install missing Debian packages (apt-get; prints the command when not root)"
	@echo "  make check-unit  unit tests (check)       make check-integration  integration tests (pytest)"
	@echo "  make check-san   unit + integration under ASan/UBSan"
	@echo "  make check-browser  dashboard tests in headless chromium (playwright-core)"
	@echo "  make bench       benchmarks; they print figures, they assert nothing"
	@echo "  make bench-openloop  latency at fixed offered rates, kinerjad and (if installed) Redis"
	@echo "  make bench-ab A=DIR [CASE='1 32']  this build's daemon against the one in DIR, in turn, fresh daemons (pair ratios)"
	@echo "  make fuzz        build the fuzz targets (clang, libFuzzer) and run each briefly (KJ_FUZZ_SECONDS, 10)"
	@echo "  make fuzz-long   run each fuzz target for at least 10^7 executions (hours; not in CI)"
	@echo "  make check-durability  acks after fsync (LD_PRELOAD interposer), power loss (unsynced writes dropped)"
	@echo "  make check-long  100 rounds of kill -9 under HTTP + WebSocket + spool load (not in CI)"
	@echo "  make install     install under PREFIX=$(PREFIX) (DESTDIR honoured)"
	@echo "  make deb         Debian packages (dpkg-buildpackage -us -uc -b) into build/deb/"
	@echo "  make check-packages  make deb, then install, start, remove and purge the packages (root; changes this machine)"
	@echo "  make web         install the dashboard's npm packages into web/node_modules"
	@echo "  make format      clang-format every C file"
	@echo "  make clean       remove build/"

deps:
	@scripts/deps.sh

# Every build target depends on the packages being there (order-only, checked once).
$(BUILD)/.deps-ok: scripts/deps.sh
	@scripts/deps.sh build
	@mkdir -p $(@D) && touch $@

$(BUILD)/obj/%.o: %.c | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libkjproto.a: $(PROTO_OBJ)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/libkjdaemon.a: $(DAEMON_OBJ)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/libkinerja.a: $(CLIENT_OBJ) $(PROTO_OBJ)
	@rm -f $@; ar rcs $@ $^

$(BUILD)/pic/%.o: %.c | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -MMD -MP -c $< -o $@

# libkinerja.so.$(VERSION), with its soname and the development link beside it
$(BUILD)/libkinerja.so: $(PIC_OBJ)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -Wl,-z,defs \
	    -o $(BUILD)/libkinerja.so.$(VERSION) $^ $(PKG_LIBS) -lpthread -lm
	ln -sf libkinerja.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(BUILD)/kinerjad: $(BUILD)/obj/daemon/main.o $(BUILD)/libkjdaemon.a $(BUILD)/libkjproto.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/kinerja: $(CLI_OBJ) $(BUILD)/libkinerja.a $(BUILD)/libkjdaemon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkjdaemon.a $(BUILD)/libkinerja.a | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

# test_office feeds the demo's day (client/cmd_simulate_day.c, a part of the
# kinerja command) to the daemon's metrics engine.
$(BUILD)/tests/test_office: tests/unit/test_office.c $(BUILD)/obj/client/cmd_simulate_day.o \
                            $(BUILD)/libkjdaemon.a $(BUILD)/libkinerja.a | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libkjdaemon.a $(BUILD)/libkinerja.a | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)

# make bench's baseline: kinerjad with its metrics engine left out (events are
# stored and acknowledged alike), so that the bench can show what the engine
# costs. tests/bench/no_metrics.c defines kj_engine_apply and comes before the
# library, so the library's engine_apply.o (the real one) is not linked.
$(BUILD)/bench/kinerjad-no-metrics: $(BUILD)/obj/daemon/main.o $(BUILD)/obj/tests/bench/no_metrics.o \
                                    $(BUILD)/libkjdaemon.a $(BUILD)/libkjproto.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

-include $(shell find $(BUILD)/obj $(BUILD)/pic build/fuzz/obj -name '*.d' 2>/dev/null)

# --- fuzzing: libFuzzer targets built by clang with ASan + UBSan, from objects
# of their own (the daemon's and client's code instrumented for coverage).
FUZZ_CC     ?= clang
FUZZ_CFLAGS  = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-missing-field-initializers \
               -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined -DKJ_VERSION='"$(VERSION)"' -Iproto -Idaemon \
               -Iclient $(PKG_CFLAGS)
FUZZ_BIN    := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_OBJ    := $(patsubst %.c,build/fuzz/obj/%.o,$(PROTO_SRC) $(DAEMON_SRC) $(CLIENT_SRC))

build/fuzz/obj/%.o: %.c | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build/fuzz/libkjfuzz.a: $(FUZZ_OBJ)
	@rm -f $@; ar rcs $@ $^

# The WebSocket target has no connection: the lws calls on its path are wrapped.
build/fuzz/fuzz_ws: FUZZ_LDEXTRA := -Wl,--wrap=lws_callback_on_writable \
    -Wl,--wrap=lws_get_network_wsi -Wl,--wrap=lws_get_opaque_user_data \
    -Wl,--wrap=lws_partial_buffered
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h build/fuzz/libkjfuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/fuzz/libkjfuzz.a $(FUZZ_LDEXTRA) $(LIBS)

fuzz-build: $(FUZZ_BIN)

# --- durability: LD_PRELOAD shims (kjsync: ack order against the syncs;
# kjpower: a copy of the store that receives only synced writes).
DURABILITY_SO := $(BUILD)/durability/kjsync.so $(BUILD)/durability/kjpower.so
$(BUILD)/durability/%.so: tests/durability/%.c | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) -fPIC -shared -o $@ $< -ldl -lpthread

# kjfailmalloc: large allocations fail on demand (tests/integration/test_hostile.py).
SHIM_SO := $(BUILD)/shims/kjfailmalloc.so
$(BUILD)/shims/%.so: tests/shims/%.c | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) -fPIC -shared -o $@ $<

run:
	@scripts/deps.sh run
	@$(MAKE) -s all web
	@scripts/run-demo.sh $(BUILD)

run-cluster:
	@scripts/deps.sh run
	@$(MAKE) -s all web
	@scripts/run-cluster.sh $(BUILD)

check: all
	@scripts/check.sh

check-unit: $(UNIT_BIN)
	@scripts/run-unit.sh $(BUILD)

# The unit test programs and the bench tools (the integration tests run some).
build-tests: $(UNIT_BIN) $(BENCH_BIN) $(SHIM_SO) $(BUILD)/durability/kjsync.so

check-integration: all $(BENCH_BIN) $(SHIM_SO) $(BUILD)/durability/kjsync.so tests/docs/node_modules/.ok
	KJ_BUILD=$(BUILD) $(PYTHON) -m pytest -q tests/integration

check-san:
	$(MAKE) SAN=1 all $(patsubst build/%,build/san/%,$(UNIT_BIN)) $(patsubst build/%,build/san/%,$(BENCH_BIN))
	$(MAKE) SAN=1 check-unit check-integration

check-browser: all web tests/browser/node_modules/.ok
	cd tests/browser && KJ_BUILD=../../$(BUILD) node --test

tests/browser/node_modules/.ok: tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

# the OpenAPI validator that tests/integration/test_openapi.py runs
tests/docs/node_modules/.ok: tests/docs/package.json tests/docs/package-lock.json
	cd tests/docs && npm ci --no-audit --no-fund
	@touch $@

web: web/node_modules/.ok
web/node_modules/.ok: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

bench: all $(BENCH_BIN) $(BUILD)/bench/kinerjad-no-metrics
	@scripts/bench.sh $(BUILD)

# Latency at fixed offered rates (open loop), kinerjad against Redis when it
# is installed (README, "Batched p99 at the same offered rate").
bench-openloop: all $(BUILD)/bench/bench_openloop
	@scripts/bench-openloop.sh $(BUILD)

# A change's effect on ingest, against a baseline built elsewhere (README,
# "Is a change faster?").
bench-ab: all $(BENCH_BIN)
	@test -n "$(A)" || { echo "usage: make bench-ab A=BASELINE_BUILD [CASE='BATCH CONNS']" >&2; exit 2; }
	@scripts/bench-ab.sh $(A) $(BUILD) $(CASE)

fuzz: fuzz-build
	@scripts/fuzz.sh $${KJ_FUZZ_SECONDS:-10}

fuzz-long: fuzz-build
	@scripts/fuzz.sh long

check-durability: all $(DURABILITY_SO)
	KJ_BUILD=$(BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider tests/durability/test_ack_order.py tests/durability/test_power_loss.py

check-long: all $(DURABILITY_SO)
	KJ_BUILD=$(BUILD) KJ_CRASH_ROUNDS=$${KJ_CRASH_ROUNDS:-100} $(PYTHON) -m pytest -q -s -p no:cacheprovider \
	    tests/durability/test_crash_long.py

install: all web
	@scripts/install.sh "$(DESTDIR)" "$(PREFIX)" "$(BUILD)" "$(VERSION)"

# Built from a copy of the tree's files, not of build/ (scripts/deb.sh).
deb:
	@scripts/deb.sh build/deb

# Installs the packages on this machine for real (CI runs as root on a box of
# its own); tests/package/test_deb.py says what it checks.
check-packages: deb
	KJ_DEB_DIR=build/deb $(PYTHON) -m pytest -q -p no:cacheprovider tests/package

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
