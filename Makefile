# kinerja — plain Makefile. Overridable: CC, CFLAGS, LDFLAGS, PREFIX, DESTDIR, BUILD.
# `make help` lists the targets.

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
VERSION := 0.1.0
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
DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
CLIENT_SRC := $(filter-out client/main.c client/cmd_%.c,$(wildcard client/*.c))
CLI_SRC    := $(wildcard client/main.c client/cmd_*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
BENCH_SRC  := $(wildcard tests/bench/*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
PROTO_OBJ  := $(call obj,$(PROTO_SRC))
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
CLIENT_OBJ := $(call obj,$(CLIENT_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BIN  := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all deps run run-cluster check check-unit check-integration check-san check-browser bench fuzz \
        install uninstall clean help web format
.DEFAULT_GOAL := all

all: $(BUILD)/kinerjad $(BUILD)/kinerja $(BUILD)/libkinerja.a

help:
	@echo "kinerja $(VERSION) — targets:"
	@echo "  make run         install missing packages, build, start kinerjad with the demo config and simulated counters"
	@echo "  make run-cluster the same over NATS JetStream: nats-server, two kinerjad nodes, two dashboards"
	@echo "  make check       build and run every test suite (unit, integration, sanitizers, browser)"
	@echo "  make             build build/kinerjad, build/kinerja, build/libkinerja.a"
	@echo "  make deps        install missing Debian packages (apt-get; prints the command when not root)"
	@echo "  make check-unit  unit tests (check)       make check-integration  integration tests (pytest)"
	@echo "  make check-san   unit + integration under ASan/UBSan"
	@echo "  make check-browser  dashboard tests in headless chromium (playwright-core)"
	@echo "  make bench       benchmarks; they print figures, they assert nothing"
	@echo "  make fuzz        build the fuzz targets (clang, libFuzzer) and run each briefly"
	@echo "  make install     install under PREFIX=$(PREFIX) (DESTDIR honoured)"
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

$(BUILD)/kinerjad: $(BUILD)/obj/daemon/main.o $(BUILD)/libkjdaemon.a $(BUILD)/libkjproto.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/kinerja: $(CLI_OBJ) $(BUILD)/libkinerja.a $(BUILD)/libkjdaemon.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkjdaemon.a $(BUILD)/libkinerja.a | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libkjdaemon.a $(BUILD)/libkinerja.a | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LIBS)

# make bench's baseline: kinerjad with its metrics engine left out (events are
# stored and acknowledged alike), so that the bench can show what the engine
# costs. Its engine.o comes first: the library's is then not linked.
$(BUILD)/bench/engine-no-metrics.o: daemon/engine.c | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DKJ_BENCH_NO_METRICS -c $< -o $@

$(BUILD)/bench/kinerjad-no-metrics: $(BUILD)/obj/daemon/main.o $(BUILD)/bench/engine-no-metrics.o \
                                    $(BUILD)/libkjdaemon.a $(BUILD)/libkjproto.a
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

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

check-integration: all $(BENCH_BIN)
	KJ_BUILD=$(BUILD) $(PYTHON) -m pytest -q tests/integration

check-san:
	$(MAKE) SAN=1 all $(patsubst build/%,build/san/%,$(UNIT_BIN)) $(patsubst build/%,build/san/%,$(BENCH_BIN))
	$(MAKE) SAN=1 check-unit check-integration

check-browser: all web tests/browser/node_modules/.ok
	cd tests/browser && KJ_BUILD=../../$(BUILD) node --test

tests/browser/node_modules/.ok: tests/browser/package.json tests/browser/package-lock.json
	cd tests/browser && npm ci --no-audit --no-fund
	@touch $@

web: web/node_modules/.ok
web/node_modules/.ok: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

bench: all $(BENCH_BIN) $(BUILD)/bench/kinerjad-no-metrics
	@scripts/bench.sh $(BUILD)

fuzz:
	@scripts/fuzz.sh

install: all web
	@scripts/install.sh "$(DESTDIR)" "$(PREFIX)" "$(BUILD)" "$(VERSION)"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
