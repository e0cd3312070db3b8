# sotto — one binary, built from a fresh clone with `make`.
#
#   make                      build ./sotto
#   make SANITIZE=address,undefined   build build/san/sotto with ASan+UBSan
#   make check                every test (unit, unit under sanitizers, end to end)
#   make run | up | down      the development stack (scripts/stack.sh)
#   make bench                the benchmarks (tests/bench/run.sh)
#   make bench-data N=100000 [ACCOUNTS=100]
#                             add synthetic posts to the development stack
#   make bench-scale          the feed at 10k and at 1M posts (tests/bench/scale.sh)
#   make cluster-up | cluster-down
#                             several hosts in network namespaces (tests/cluster/cluster.py;
#                             root; docs/scaling.md)
#   make check-cluster        the failover scenarios against that cluster
#   make bench-cluster        its cost against one host, and the failover figures

.DEFAULT_GOAL := all
SHELL := /bin/bash
PYTHON ?= /usr/bin/python3

# On a fresh machine `make run` / `make up` / `make bench` first install the
# Debian packages (as root; otherwise stack.sh prints the apt-get command),
# before configure needs them. This runs while make reads this file.
ifneq ($(filter run up bench bench-data bench-scale,$(MAKECMDGOALS)),)
$(info $(shell bash scripts/stack.sh deps >&2))
ifneq ($(.SHELLSTATUS),0)
$(error missing packages: run the apt-get command above, then make $(MAKECMDGOALS) again)
endif
endif

# configure runs by itself the first time, and again when its inputs change.
config.mk: configure.ac config.mk.in
	autoreconf -fi
	./configure $(CONFIGURE_FLAGS)

include config.mk

ifneq ($(SANITIZE),)
BUILD := build/san
SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT := -O1 -g
BIN := $(BUILD)/sotto
else
BUILD := build/default
SAN_FLAGS :=
OPT := -O2 -g -D_FORTIFY_SOURCE=2
BIN := sotto
endif

CFLAGS_ALL := -std=c11 -D_GNU_SOURCE -Iinclude $(OPT) $(WARN_CFLAGS) $(SAN_FLAGS) \
              -fPIE $(DEP_CFLAGS) $(CONF_CFLAGS) $(CFLAGS)
LDFLAGS_ALL := $(HARDEN_LDFLAGS) $(SAN_FLAGS) $(CONF_LDFLAGS) $(LDFLAGS)
LIBS_ALL := $(DEP_LIBS) -lm

SRCS := $(sort $(wildcard app/*.c))
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(filter-out $(BUILD)/app/main.o,$(OBJS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
FUZZ_APP := $(filter-out app/main.c,$(SRCS))
FUZZ_SECONDS ?= 10

.PHONY: all unit fuzz check-fuzz check check-unit check-unit-san check-e2e check-static run up down bench bench-data bench-scale clean distclean cluster-up cluster-down check-cluster bench-cluster

all: $(BIN)

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/app/%.o: app/%.c config.mk
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(@D)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS_ALL) $(CMOCKA_CFLAGS) -MMD -MP -o $@ $< $(LIB_OBJS) $(LDFLAGS_ALL) $(LIBS_ALL) $(CMOCKA_LIBS)

-include $(OBJS:.o=.d) $(UNIT_BINS:=.d)

# Unit tests: each binary runs from the top of the tree (golden files are relative).
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; ./$$t; done

check-unit:
	$(MAKE) unit
check-unit-san:
	$(MAKE) unit SANITIZE=address,undefined

check-static: $(BIN)
	bash nginx/check.sh
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/static

# Fuzz targets (libFuzzer + ASan/UBSan, clang). `make fuzz FUZZ_SECONDS=600` for a long run.
build/fuzz/%: tests/fuzz/%.c $(FUZZ_APP) config.mk
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	@clang -std=c11 -D_GNU_SOURCE -Iinclude -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all $(DEP_CFLAGS) -o $@ $< $(FUZZ_APP) $(LIBS_ALL)

fuzz: $(FUZZ_BINS)
	@set -eo pipefail; for f in $(FUZZ_BINS); do \
		mkdir -p build/fuzz/corpus/$$(basename $$f); \
		echo "== $$f ($(FUZZ_SECONDS) s)"; \
		./$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			build/fuzz/corpus/$$(basename $$f) tests/fuzz/seeds/$$(basename $$f) 2>&1 | tail -2; \
	done
check-fuzz:
	$(MAKE) fuzz FUZZ_SECONDS=5

check-e2e: all
	$(MAKE) SANITIZE=address,undefined all
	SOTTO_BIN=$(CURDIR)/build/san/sotto $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

check: all
	$(MAKE) check-unit
	$(MAKE) check-unit-san
	$(MAKE) check-static
	$(MAKE) check-fuzz
	$(MAKE) check-e2e

run: all
	bash scripts/stack.sh run
up: all
	bash scripts/stack.sh up
down:
	bash scripts/stack.sh down

bench: all
	bash tests/bench/run.sh

# `sotto bench-data` against the development stack (started if need be), in
# the server's settings: its env file, and its database whatever the caller's
# DATABASE_URL says.
N ?= 10000
ACCOUNTS ?= 100
bench-data: all
	bash scripts/stack.sh up
	@env_file=$$(bash scripts/stack.sh env) && \
	SOTTO_ENV_FILE="$$env_file" \
	DATABASE_URL="$$(sed -n 's/^DATABASE_URL=//p' "$$env_file" | tail -n 1)" \
	./$(BIN) bench-data $(N) $(ACCOUNTS)

bench-scale: all
	bash tests/bench/scale.sh

# Several hosts on one machine (network namespaces; root, and the Debian
# packages of scripts/packages-cluster.txt).
cluster-up: all
	$(PYTHON) tests/cluster/cluster.py up
cluster-down:
	$(PYTHON) tests/cluster/cluster.py down
check-cluster: all
	$(PYTHON) tests/cluster/cluster.py check
bench-cluster: all
	$(PYTHON) tests/cluster/cluster.py bench

clean:
	rm -rf build sotto
distclean: clean
	rm -rf config.mk config.log config.status configure autom4te.cache aclocal.m4
