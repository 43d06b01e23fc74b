# tenantguard - plain Makefile (GNU make).
#
#   make            lib/libtenantguard.a and lib/libtenantguard.so.*
#   make demo       build and run the demo (examples/demo.c, linked statically)
#   make check      every test that needs no extra service
#   make bench      benchmarks, one JSON line each
#   make install / uninstall   honour DESTDIR, PREFIX, libdir, includedir
#   make deps       install the Debian packages the build needs
#   make fuzz       libFuzzer targets (clang), FUZZ_TIME seconds each
#   SANITIZE=address,undefined (or thread) builds everything instrumented,
#   in its own build folder: `make check-unit SANITIZE=address,undefined`.

VERSION_MAJOR := $(shell sed -n 's/^\#define TG_VERSION_MAJOR \([0-9]*\)/\1/p' include/tenantguard/common.h)
VERSION_MINOR := $(shell sed -n 's/^\#define TG_VERSION_MINOR \([0-9]*\)/\1/p' include/tenantguard/common.h)
VERSION_PATCH := $(shell sed -n 's/^\#define TG_VERSION_PATCH \([0-9]*\)/\1/p' include/tenantguard/common.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
# The ABI major: 0 for the whole 0.x series (see docs/ABI.md).
SONAME := libtenantguard.so.$(VERSION_MAJOR)

PREFIX ?= /usr/local
exec_prefix ?= $(PREFIX)
libdir ?= $(exec_prefix)/lib
includedir ?= $(PREFIX)/include
pkgconfigdir ?= $(libdir)/pkgconfig
bindir ?= $(exec_prefix)/bin

CC ?= cc
CXX ?= c++
PKG_CONFIG ?= pkg-config
PYTHON ?= /usr/bin/python3
CFLAGS ?= -O2 -g
FUZZ_TIME ?= 30

DEPS_PC := libsodium sqlite3 libpcre2-8 libcjson
DEPS_TEST_PC := cmocka
DEBIAN_PACKAGES := build-essential pkg-config libsodium-dev libsqlite3-dev libpcre2-dev libcjson-dev \
    libcmocka-dev python3-cffi python3-pytest

comma := ,
ifneq ($(SANITIZE),)
  BUILD := lib/.build-$(subst $(comma),-,$(SANITIZE))
  SAN_FLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
  BUILD := lib/.build
  SAN_FLAGS :=
endif

DEP_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(DEPS_PC) 2>/dev/null)
DEP_LIBS = $(shell $(PKG_CONFIG) --libs $(DEPS_PC) 2>/dev/null) -lpthread -lm
TEST_LIBS = $(shell $(PKG_CONFIG) --libs $(DEPS_TEST_PC) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
TG_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude $(DEP_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SAN_FLAGS)
LIB_CFLAGS = $(TG_CFLAGS) -fPIC -fvisibility=hidden -DTG_BUILDING_LIBRARY
TEST_CFLAGS = $(TG_CFLAGS) -Isrc -Wno-missing-prototypes

# src/cli is the `tenantguard` command, not part of the library.
LIB_SRC := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
STATIC_LIB := $(BUILD)/libtenantguard.a
SHARED_LIB := lib/libtenantguard.so.$(VERSION)

TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/%.o)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
BENCH_SRC := $(sort $(wildcard tests/bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)
CLI_SRC := $(sort $(wildcard src/cli/*.c))
CLI_BIN := $(BUILD)/cli/tenantguard
HEADERS := include/tenantguard.h $(sort $(wildcard include/tenantguard/*.h))

.PHONY: all lib cli check-cli demo check check-unit check-threads check-fuzz-replay check-headers check-symbols \
        check-install check-examples check-python bench install uninstall deps fuzz clean

all: lib cli

# Keep intermediate files (test support objects, fuzz builds): make would
# otherwise delete them after each link and rebuild them every time.
.SECONDARY:
lib: lib/libtenantguard.a $(SHARED_LIB) lib/$(SONAME) lib/libtenantguard.so

# ---- the library -----------------------------------------------------------

$(BUILD)/%.o: %.c $(HEADERS) $(wildcard src/*/*.h) | deps-checked
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

$(STATIC_LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

lib/libtenantguard.a: $(STATIC_LIB)
	cp $< $@

$(SHARED_LIB): $(LIB_OBJ) src/tenantguard.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/tenantguard.map \
	    -Wl,--no-undefined $(SAN_FLAGS) $(LDFLAGS) -o $@ $(LIB_OBJ) $(DEP_LIBS)

lib/$(SONAME): $(SHARED_LIB)
	ln -sf $(notdir $<) $@
lib/libtenantguard.so: lib/$(SONAME)
	ln -sf $(SONAME) $@

# ---- the command-line tool ---------------------------------------------------

cli: bin/tenantguard

$(CLI_BIN): $(CLI_SRC) src/cli/cli.h $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TG_CFLAGS) $(CLI_SRC) $(STATIC_LIB) $(LDFLAGS) $(DEP_LIBS) -o $@

bin/tenantguard: $(CLI_BIN)
	@mkdir -p bin
	cp $< $@

# ---- dependencies ------------------------------------------------------------

# deps-checked is an order-only prerequisite: it runs `make deps` logic once
# per invocation, cheaply, without forcing rebuilds.
.PHONY: deps-checked
deps-checked:
	@$(MAKE) --no-print-directory -s deps

deps:
	@missing=""; \
	command -v $(PKG_CONFIG) >/dev/null 2>&1 || missing="pkg-config"; \
	for pc in $(DEPS_PC) $(DEPS_TEST_PC); do \
	    $(PKG_CONFIG) --exists $$pc 2>/dev/null || missing="$$missing $$pc"; \
	done; \
	$(PYTHON) -c 'import cffi, pytest' 2>/dev/null || missing="$$missing python3-cffi/pytest"; \
	if [ -n "$$missing" ]; then \
	    echo "deps: missing:$$missing"; \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEBIAN_PACKAGES) || exit 1; \
	    else \
	        echo "deps: run as root:  apt-get update && apt-get install -y $(DEBIAN_PACKAGES)"; \
	        exit 1; \
	    fi; \
	fi

# ---- tests -----------------------------------------------------------------

$(BUILD)/tests/%: tests/unit/%.c $(STATIC_LIB) $(SUPPORT_OBJ) $(wildcard tests/support/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -Itests/support $< $(SUPPORT_OBJ) $(STATIC_LIB) $(LDFLAGS) \
	    $(TEST_LIBS) $(DEP_LIBS) -o $@

$(BUILD)/tests/support/%.o: tests/support/%.c $(HEADERS) | deps-checked
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -c $< -o $@

check-unit: $(TEST_BIN)
	@set -e; for t in $(TEST_BIN); do echo "== $$t"; TG_TEST_TMP=$(CURDIR)/$(BUILD)/tmp $$t; done

# The tests that run several threads, for ThreadSanitizer (SANITIZE=thread).
THREAD_BIN := $(filter $(BUILD)/tests/test_store $(BUILD)/tests/%_threads,$(TEST_BIN))
check-threads: $(THREAD_BIN)
	@set -e; for t in $(THREAD_BIN); do echo "== $$t"; TG_TEST_TMP=$(CURDIR)/$(BUILD)/tmp $$t; done

# Each fuzz target also builds with a plain driver that replays its corpus.
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) $< tests/fuzz/replay.c $(STATIC_LIB) $(LDFLAGS) $(DEP_LIBS) -o $@

check-fuzz-replay: $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
	@set -e; for n in $(FUZZ_NAMES); do $(BUILD)/fuzz/replay_$$n tests/fuzz/corpus/$$n; done

FUZZ_BUILD := lib/.build-fuzzer-no-link-address-undefined
fuzz: | deps-checked
	@set -e; $(MAKE) --no-print-directory CC=clang SANITIZE=fuzzer-no-link,address,undefined \
	    $(FUZZ_BUILD)/libtenantguard.a; \
	for n in $(FUZZ_NAMES); do \
	    mkdir -p lib/.fuzz/$$n; \
	    clang $(filter-out $(SAN_FLAGS),$(TEST_CFLAGS)) -fsanitize=fuzzer,address,undefined \
	        tests/fuzz/fuzz_$$n.c $(FUZZ_BUILD)/libtenantguard.a $(DEP_LIBS) -o lib/.fuzz/fuzz_$$n; \
	    lib/.fuzz/fuzz_$$n -max_total_time=$(FUZZ_TIME) lib/.fuzz/$$n tests/fuzz/corpus/$$n; \
	done

# Each public header compiles alone, pedantic, as C and as C++.
check-headers: | deps-checked
	@set -e; mkdir -p $(BUILD)/hdr; for h in $(HEADERS); do \
	    inc=$${h#include/}; \
	    printf '#include <%s>\nint main(void) { return 0; }\n' "$$inc" > $(BUILD)/hdr/t.c; \
	    $(CC) -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -c $(BUILD)/hdr/t.c -o $(BUILD)/hdr/t.o; \
	    printf '#include <%s>\nint main() { return 0; }\n' "$$inc" > $(BUILD)/hdr/t.cpp; \
	    $(CXX) -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -c $(BUILD)/hdr/t.cpp -o $(BUILD)/hdr/t.o; \
	done; echo "headers: $(words $(HEADERS)) compile alone as C99 and C++11"

# The shared library exports tg_* and nothing else.
check-symbols: $(SHARED_LIB)
	@bad=$$(nm -D --defined-only $(SHARED_LIB) | awk '$$2 != "A" {print $$3}' | grep -v '^tg_' || true); \
	if [ -n "$$bad" ]; then echo "symbols: exported but not tg_*:"; echo "$$bad"; exit 1; fi; \
	echo "symbols: $$(nm -D --defined-only $(SHARED_LIB) | grep -c ' T tg_') exported, all tg_*"

# Install into a temporary DESTDIR and build a consumer with pkg-config,
# shared and static, then run both.
check-install: lib cli
	@set -e; d=$(CURDIR)/$(BUILD)/destdir; rm -rf $$d; \
	$(MAKE) --no-print-directory -s install DESTDIR=$$d PREFIX=/usr/local; \
	export PKG_CONFIG_SYSROOT_DIR=$$d PKG_CONFIG_PATH=$$d/usr/local/lib/pkgconfig PKG_CONFIG_LIBDIR=$$d/usr/local/lib/pkgconfig:$$($(PKG_CONFIG) --variable pc_path pkg-config); \
	$(CC) tests/install/consumer.c $$($(PKG_CONFIG) --cflags tenantguard) \
	    $$($(PKG_CONFIG) --libs tenantguard) -o $$d/consumer-shared; \
	LD_LIBRARY_PATH=$$d/usr/local/lib $$d/consumer-shared; \
	$(CC) tests/install/consumer.c $$($(PKG_CONFIG) --cflags tenantguard) \
	    -Wl,-Bstatic $$($(PKG_CONFIG) --static --libs-only-l tenantguard | sed 's/-ltenantguard//') -ltenantguard -Wl,-Bdynamic \
	    $$($(PKG_CONFIG) --static --libs-only-L tenantguard) -o $$d/consumer-static 2>/dev/null || \
	$(CC) tests/install/consumer.c $$($(PKG_CONFIG) --cflags tenantguard) \
	    $$d/usr/local/lib/libtenantguard.a $$($(PKG_CONFIG) --static --libs tenantguard | sed 's/-ltenantguard//') \
	    -o $$d/consumer-static; \
	if ldd $$d/consumer-static | grep -q libtenantguard; then echo "install: static consumer links the .so"; exit 1; fi; \
	$$d/consumer-static; \
	$(MAKE) --no-print-directory -s uninstall DESTDIR=$$d PREFIX=/usr/local; \
	left=$$(find $$d/usr/local -type f | wc -l); [ "$$left" = 0 ] || { echo "uninstall left $$left files"; exit 1; }; \
	echo "install: pkg-config consumer ran shared and static; uninstall removed everything"

$(BUILD)/examples/%: examples/%.c $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(TG_CFLAGS) $< $(STATIC_LIB) $(LDFLAGS) $(DEP_LIBS) -o $@

check-examples: $(EXAMPLE_BIN)
	@set -e; for e in $(EXAMPLE_BIN); do echo "== $$e"; $$e > $(BUILD)/examples/out.txt || { cat $(BUILD)/examples/out.txt; exit 1; }; done

check-python: lib
	TENANTGUARD_LIB=$(CURDIR)/lib/$(SONAME) $(PYTHON) -m pytest -q -p no:cacheprovider bindings/python/tests

check-cli: $(CLI_BIN) $(STATIC_LIB)
	tests/cli/test_cli.sh $(CLI_BIN)
	tests/cli/test_cli_audit.sh $(CLI_BIN)

check: lib check-headers check-symbols check-unit check-fuzz-replay check-examples check-cli \
       check-install check-python
	@echo "make check: all passed"

demo: $(BUILD)/examples/demo
	$(BUILD)/examples/demo

# ---- benchmarks ----------------------------------------------------------

$(BUILD)/bench/%: tests/bench/%.c tests/bench/bench.c tests/bench/bench.h $(STATIC_LIB) $(SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -O2 -Itests/support $< tests/bench/bench.c $(SUPPORT_OBJ) $(STATIC_LIB) \
	    $(LDFLAGS) $(DEP_LIBS) -o $@

bench: $(BENCH_BIN)
	@set -e; for b in $(BENCH_BIN); do TG_TEST_TMP=$(CURDIR)/$(BUILD)/tmp $$b; done

# ---- install ---------------------------------------------------------------

install: lib cli
	install -d $(DESTDIR)$(libdir) $(DESTDIR)$(includedir)/tenantguard $(DESTDIR)$(pkgconfigdir)
	install -m 644 lib/libtenantguard.a $(DESTDIR)$(libdir)/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(libdir)/
	ln -sf $(notdir $(SHARED_LIB)) $(DESTDIR)$(libdir)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(libdir)/libtenantguard.so
	install -m 644 include/tenantguard.h $(DESTDIR)$(includedir)/
	install -m 644 $(wildcard include/tenantguard/*.h) $(DESTDIR)$(includedir)/tenantguard/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(libdir)|' \
	    -e 's|@INCLUDEDIR@|$(includedir)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES@|$(DEPS_PC)|' pkgconfig/tenantguard.pc.in > $(DESTDIR)$(pkgconfigdir)/tenantguard.pc

uninstall:
	rm -f $(DESTDIR)$(bindir)/tenantguard
	rm -f $(DESTDIR)$(libdir)/libtenantguard.a $(DESTDIR)$(libdir)/libtenantguard.so* \
	    $(DESTDIR)$(includedir)/tenantguard.h $(DESTDIR)$(pkgconfigdir)/tenantguard.pc
	rm -f $(addprefix $(DESTDIR)$(includedir)/tenantguard/,$(notdir $(wildcard include/tenantguard/*.h)))
	-rmdir $(DESTDIR)$(includedir)/tenantguard 2>/dev/null

clean:
	rm -rf lib/.build* lib/.fuzz lib/libtenantguard.* bin
