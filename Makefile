# sotto — one binary, built from a fresh clone with `make`.
#
#   make                      build ./sotto
#   make SANITIZE=address,undefined   build build/san/sotto with ASan+UBSan
#   make check                every test (unit, unit under sanitizers, end to end);
#                             under it (SOTTO_TEST_STRICT=1) a test whose tool
#                             is missing (Redis, Chromium, systemd) fails, never skips
#   make docs/configuration.md   regenerate the settings reference from the binary
#   make run | up | down      the development stack (scripts/stack.sh)
#   make bench                the benchmarks (tests/bench/run.sh)
#   make bench-data N=100000 [ACCOUNTS=100]
#                             add synthetic posts to the development stack
#   make bench-scale          the feed at 10k and at 1M posts (tests/bench/scale.sh)
#   make soak [SOAK_MINUTES=30]   the pool's memory under mixed traffic (tests/bench/soak.sh)
#   make install [DESTDIR=] [PREFIX=/usr]
#                             install the binary, migrations, rules, units (docs/deployment.md)
#   make deb                  build the Debian package into build/deb/ (debian/)
#   make check-install        build, install and remove the package (tests/install/test_deb.sh)
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
ifneq ($(filter run up bench bench-data bench-scale soak,$(MAKECMDGOALS)),)
$(info $(shell bash scripts/stack.sh deps >&2))
ifneq ($(.SHELLSTATUS),0)
$(error missing packages: run the apt-get command above, then make $(MAKECMDGOALS) again)
endif
endif

# configure runs by itself the first time, and again when its inputs change;
# not for `make clean` / `make distclean` alone, which need no configuration.
config.mk: configure.ac config.mk.in
	autoreconf -fi
	./configure $(CONFIGURE_FLAGS)

ifneq ($(or $(filter-out clean distclean,$(MAKECMDGOALS)),$(if $(MAKECMDGOALS),,all)),)
include config.mk
endif

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

.PHONY: all unit fuzz check-fuzz check check-unit check-unit-san check-e2e check-static check-install \
        run up down bench bench-data bench-scale soak install deb clean distclean docs/configuration.md \
        cluster-up cluster-down check-cluster bench-cluster

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
	SOTTO_TEST_STRICT=1 $(MAKE) unit
check-unit-san:
	SOTTO_TEST_STRICT=1 $(MAKE) unit SANITIZE=address,undefined

# The settings reference, generated from the table in app/config.c
# (tests/static checks that the committed file matches the binary).
docs/configuration.md: $(BIN)
	./$(BIN) check-config --list --markdown > $@

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
	SOTTO_TEST_STRICT=1 SOTTO_BIN=$(CURDIR)/build/san/sotto \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

check: all
	$(MAKE) check-unit
	$(MAKE) check-unit-san
	$(MAKE) check-static
	$(MAKE) check-fuzz
	$(MAKE) check-e2e
	$(MAKE) check-install

# The package built from this tree, installed with dpkg, checked and removed
# (as root; without root it is skipped, except in CI where it fails).
check-install:
	bash tests/install/test_deb.sh

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

soak: all
	bash tests/bench/soak.sh

# Installation in the Debian layout (the package's own, through debian/rules):
# binary in $(PREFIX)/bin, migrations and examples in $(PREFIX)/share/sotto,
# settings in /etc/sotto (moderation.rules, which sotto-moderate's own user
# reads; sotto.env 0640, which systemd reads as root; credentials/ 0700),
# systemd units in /lib/systemd/system. Paths
# inside the installed units, env file and nginx site follow PREFIX and
# SYSCONFDIR. The admin page goes to $(PREFIX)/share/sotto/admin and the OAuth
# consent page to $(PREFIX)/share/sotto/oauth, where the nginx site's `root`
# expects them.
PREFIX ?= /usr
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
SHAREDIR := $(PREFIX)/share/sotto
ETCDIR := $(SYSCONFDIR)/sotto
INSTALL_PATHS := sed -e 's|/usr/bin/sotto|$(PREFIX)/bin/sotto|g' \
	-e 's|/usr/share/sotto|$(SHAREDIR)|g' -e 's|/etc/sotto|$(ETCDIR)|g'
UNITS := sotto.socket sotto.service sotto-moderate.service sotto-cleanup.service sotto-cleanup.timer
NGINX_EXAMPLES := sotto.conf sotto-http.conf sotto-locations.conf nchan.conf

install: sotto
	install -D -m 755 sotto $(DESTDIR)$(PREFIX)/bin/sotto
	install -d $(DESTDIR)$(SHAREDIR)/sql $(DESTDIR)$(SHAREDIR)/admin $(DESTDIR)$(SHAREDIR)/oauth \
		$(DESTDIR)$(SHAREDIR)/nginx
	install -m 644 sql/*.sql $(DESTDIR)$(SHAREDIR)/sql/
	install -m 644 nginx/admin/* $(DESTDIR)$(SHAREDIR)/admin/
	install -m 644 nginx/oauth/* $(DESTDIR)$(SHAREDIR)/oauth/
	set -e; for f in $(NGINX_EXAMPLES); do \
		$(INSTALL_PATHS) nginx/$$f >$(DESTDIR)$(SHAREDIR)/nginx/$$f; \
		chmod 644 $(DESTDIR)$(SHAREDIR)/nginx/$$f; done
	install -d -m 755 $(DESTDIR)$(ETCDIR)
	install -d -m 700 $(DESTDIR)$(ETCDIR)/credentials
	install -m 644 data/moderation.rules $(DESTDIR)$(ETCDIR)/moderation.rules
	$(INSTALL_PATHS) data/sotto.env >$(DESTDIR)$(ETCDIR)/sotto.env
	chmod 640 $(DESTDIR)$(ETCDIR)/sotto.env
	install -d $(DESTDIR)$(UNITDIR)
	set -e; for f in $(UNITS); do \
		$(INSTALL_PATHS) systemd/$$f >$(DESTDIR)$(UNITDIR)/$$f; \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$f; done
	# The group and the 0750 directory that guard nginx's nchan publisher socket.
	install -D -m 644 systemd/sotto.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/sotto.conf
	install -D -m 644 systemd/sotto.tmpfiles $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/sotto.conf

# The package is built from a copy of this tree under build/deb/ (so the
# package build's clean step leaves this tree's build alone); the .deb lands
# in build/deb/.
DEB_SRC := build/deb/sotto
deb:
	rm -rf build/deb
	mkdir -p $(DEB_SRC)
	tar -c --anchored --exclude=./build --exclude=./var --exclude=./.git --exclude=./sotto \
		--exclude=./config.mk --exclude=./config.log --exclude=./config.status \
		--exclude=./configure --exclude=./autom4te.cache --exclude=./aclocal.m4 . | \
		tar -x -C $(DEB_SRC)
	cd $(DEB_SRC) && dpkg-buildpackage -b -us -uc
	@ls build/deb/*.deb

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
