# lastcall - graceful shutdown for Kubernetes pods.
#
#   make            build build/lastcall
#   make test       unit tests (ASan+UBSan) and integration tests
#   make demo       a real graceful shutdown of the bundled sample app
#   make bench      rollout and connection-counting benchmarks (figures)
#   make static     build/static/lastcall: static (musl), stripped, from
#                   Debian's source packages of its libraries
#   make install    PREFIX=/usr/local DESTDIR=
#   make format     clang-format every C file (make test checks the layout)
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (60) each, or
#                   FUZZ_RUNS inputs each, with its seed corpus; executions
#                   and coverage at the end
#   make soak       SOAK_SECONDS (3600) of probes, signals and drains; RSS
#                   and fds over time, failing if they grow
#   make test-san   the integration suites again on an ASan+UBSan build
#                   ($(BUILD)/san-bin/lastcall)
#
# Missing Debian packages are installed by `make deps` (as root), which
# test and demo run first.

VERSION ?= 0.1.0
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config

# Libraries of the product, and the unit test framework.
LIBS_PC := libcurl libcjson libmicrohttpd yaml-0.1

LIBS_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(LIBS_PC) 2>/dev/null)
LIBS_LDLIBS := $(shell $(PKG_CONFIG) --libs $(LIBS_PC) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wno-format-nonliteral -Wvla
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -MMD -MP \
	-DLASTCALL_VERSION='"$(VERSION)"'
BASE_LDFLAGS := -pie -Wl,-z,relro,-z,now

# SANITIZE=1 builds with ASan+UBSan (the unit tests always do).
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ifeq ($(SANITIZE),1)
BASE_CFLAGS += $(SAN_FLAGS)
BASE_LDFLAGS += $(SAN_FLAGS)
endif

# The user's CFLAGS/LDFLAGS come last so they win.
ALL_CFLAGS = $(BASE_CFLAGS) $(HARDEN) $(LIBS_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(BASE_LDFLAGS) $(LDFLAGS)

SRCS := $(wildcard helper/*.c)
OBJS := $(patsubst helper/%.c,$(BUILD)/obj/%.o,$(SRCS))
LIB_OBJS := $(filter-out $(BUILD)/obj/main.o,$(OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
PROBE_SRCS := $(wildcard tests/probe/*.c)
PROBE_BINS := $(patsubst tests/probe/%.c,$(BUILD)/probe/%,$(PROBE_SRCS))
BENCH_SRCS := $(wildcard tests/bench/*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))

.SECONDARY:

.PHONY: all deps test test-san soak unit-bins unit-arm64 probes bench bench-bins demo static static-libs \
	static-dir install clean format \
	fuzz fuzz-bins

all: $(BUILD)/lastcall

$(BUILD)/obj/%.o: helper/%.c | $(BUILD)/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/lastcall: $(OBJS)
	$(CC) $(ALL_CFLAGS) $^ -o $@ $(ALL_LDFLAGS) $(LIBS_LDLIBS)

# Unit tests include the module's .c (to reach its statics) and link the
# other modules' sanitized objects.
UNIT_CFLAGS = -std=c11 -D_GNU_SOURCE -DUNIT_TESTING -O1 -g $(WARN) -Wno-missing-prototypes \
	-MMD -MP $(SAN_FLAGS) -iquote helper $(LIBS_CFLAGS) $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)
$(BUILD)/san/%.o: helper/%.c | $(BUILD)/san
	$(CC) $(UNIT_CFLAGS) -c $< -o $@
SAN_OBJS := $(patsubst helper/%.c,$(BUILD)/san/%.o,$(filter-out helper/main.c,$(SRCS)))

# The unit tests that fail the Nth allocation (they include
# tests/unit/failalloc.h, which says why) have their calls to the
# allocator wrapped.
FAILALLOC_TESTS := $(basename $(notdir $(shell grep -l '"failalloc.h"' $(UNIT_SRCS))))
FAILALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup

$(BUILD)/unit/test_%: tests/unit/test_%.c $(SAN_OBJS) | $(BUILD)/unit
	$(CC) $(UNIT_CFLAGS) $< $(filter-out $(BUILD)/san/$*.o,$(SAN_OBJS)) -o $@ \
		$(SAN_FLAGS) $(if $(filter test_$*,$(FAILALLOC_TESTS)),$(FAILALLOC_WRAP)) \
		$(LIBS_LDLIBS) $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null)

$(BUILD)/probe/%: tests/probe/%.c | $(BUILD)/probe
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) $< -o $@

# Benchmarks link the product's own (optimized) objects.
$(BUILD)/bench/%: tests/bench/%.c $(LIB_OBJS) | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -iquote helper $< $(LIB_OBJS) -o $@ $(ALL_LDFLAGS) $(LIBS_LDLIBS)

# Except pid1probe, which runs under other inits: none of the product in it.
$(BUILD)/bench/pid1probe: tests/bench/pid1probe.c | $(BUILD)/bench
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) $< -o $@

$(BUILD)/obj $(BUILD)/san $(BUILD)/unit $(BUILD)/probe $(BUILD)/bench:
	mkdir -p $@

# Fuzz targets (tests/fuzz/, STYLE 23): libFuzzer, so clang. Each links
# the product's objects, but main.c, built with clang and the sanitizers
# in a directory of their own; a target that includes a module's .c to
# reach its statics (FUZZ_INCLUDES_name) goes without that object.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# clang warns about things gcc does not: a product file must not stop the
# fuzz build for it, so -Werror only for the targets themselves.
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -DFUZZING -O1 -g $(filter-out -Werror,$(WARN)) -MMD -MP \
	-iquote helper $(LIBS_CFLAGS)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))
FUZZ_OBJS := $(patsubst helper/%.c,$(BUILD)/fuzz/obj/%.o,$(filter-out helper/main.c,$(SRCS)))
FUZZ_INCLUDES_fuzz_proc := proc
FUZZ_INCLUDES_fuzz_httpd := loop
# cJSON's source, once make static has fetched it, is built into the
# targets with the same instrumentation (ahead of -lcjson): libFuzzer then
# sees inside the JSON parser and can build the objects the product reads,
# where Debian's library would be a black box to it.
FUZZ_CJSON_SRC := $(firstword $(wildcard $(BUILD)/static/src/cjson-*/cJSON.c \
	$(BUILD)/static*/src/cjson-*/cJSON.c))
FUZZ_CJSON_OBJ := $(if $(FUZZ_CJSON_SRC),$(BUILD)/fuzz/obj/cjson/cJSON.o)

$(BUILD)/fuzz/obj/%.o: helper/%.c | $(BUILD)/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/obj/cjson/cJSON.o: $(FUZZ_CJSON_SRC)
	mkdir -p $(@D)
	$(FUZZ_CC) -std=c89 -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJS) $(FUZZ_CJSON_OBJ) \
		| $(BUILD)/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Werror -Wno-missing-prototypes $(FUZZ_SAN) -fsanitize=fuzzer \
		$< $(filter-out $(patsubst %,$(BUILD)/fuzz/obj/%.o,$(FUZZ_INCLUDES_fuzz_$*)),$(FUZZ_OBJS)) \
		$(FUZZ_CJSON_OBJ) -o $@ $(LIBS_LDLIBS)

$(BUILD)/fuzz/obj:
	mkdir -p $@

fuzz-bins: $(FUZZ_BINS)

# Figures, not pass/fail (make test replays the corpus and runs each target
# a few seconds: tests/integration/test_fuzz.sh). New inputs go to
# $(BUILD)/fuzz/corpus, crashes to $(BUILD)/fuzz/crashes; see
# tests/fuzz/README.md.
fuzz:
	@tests/deps.sh build fuzz
	@$(MAKE) --no-print-directory fuzz-bins
	@FUZZ_RUNS=$(FUZZ_RUNS) tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS)

deps:
	@tests/deps.sh build test

# Figures and a verdict, not in make test (an hour by default): see
# tests/soak/soak.sh.
SOAK_SECONDS ?= 3600
soak: deps
	@$(MAKE) --no-print-directory all probes
	@tests/soak/soak.sh $(BUILD) $(SOAK_SECONDS)

# The static build is tested too: the integration suites run again on it,
# and the container suite builds the image that ships it.
test: deps
	@$(MAKE) --no-print-directory all unit-bins probes static
	@tests/run.sh $(BUILD)

# The integration suites on an ASan+UBSan build of lastcall, in a build
# directory of its own (the unit tests always are): the I/O shell is
# checked too. Not in make test (its time); .ci/run runs it after.
SAN_BUILD := $(BUILD)/san-bin
test-san: deps
	@$(MAKE) --no-print-directory BUILD=$(SAN_BUILD) SANITIZE=1 all probes
	@LASTCALL_SANITIZED=1 tests/run.sh $(SAN_BUILD)

unit-bins: $(UNIT_BINS)
bench-bins: $(BENCH_BINS)

# Figures, not pass/fail: see tests/bench/README.md.
bench: deps
	@tests/deps.sh bench
	@$(MAKE) --no-print-directory all bench-bins $(BUILD)/probe/kaclient
	@tests/bench/run.sh $(BUILD)
probes: $(PROBE_BINS)

demo: deps
	@$(MAKE) --no-print-directory all
	@tests/deps.sh demo
	@tests/demo.sh $(BUILD)/lastcall

# Installs what it needs as root (musl-tools, deb-src entries); see
# helper/static.sh. ARCH=arm64 cross-compiles for aarch64 into
# $(BUILD)/static-arm64 (amd64's stays in $(BUILD)/static).
ARCH ?= amd64
STATIC_DIR := $(BUILD)/static$(if $(filter arm64 aarch64,$(ARCH)),-arm64)
static:
	@ARCH=$(ARCH) VERSION=$(VERSION) helper/static.sh $(STATIC_DIR)
# Only the libraries (the Dockerfile caches them in a layer of their own).
static-libs:
	@ARCH=$(ARCH) helper/static.sh $(STATIC_DIR) --libs
# Where make static leaves lastcall for ARCH (the Dockerfile asks).
static-dir:
	@echo $(STATIC_DIR)

# The unit tests cross-built for aarch64 (test_arm64 runs them under
# qemu-user) into $(BUILD)/unit-arm64/unit: the rules above, with make
# static ARCH=arm64's musl toolchain, kernel headers and libraries, and
# cmocka built the same way from Debian's source (static.sh --cmocka).
# No sanitizers: musl has none. -D_UINTPTR_T_DEFINED: see static.sh.
ARM64_DIR := $(abspath $(BUILD)/static-arm64)
ARM64_CFLAGS := -isystem $(ARM64_DIR)/kernel-headers -I$(ARM64_DIR)/prefix/include \
	-I$(ARM64_DIR)/prefix/include/cjson -DLASTCALL_MBEDTLS -D_UINTPTR_T_DEFINED
ARM64_LDLIBS := -static -L$(ARM64_DIR)/prefix/lib -lcmocka -lcurl -lmbedtls -lmbedx509 \
	-lmbedcrypto -lmicrohttpd -lcjson -lyaml
unit-arm64:
	@ARCH=arm64 helper/static.sh $(ARM64_DIR) --cmocka
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/unit-arm64 CC=aarch64-linux-musl-gcc \
		PKG_CONFIG=false SAN_FLAGS= LIBS_CFLAGS='$(ARM64_CFLAGS)' LIBS_LDLIBS='$(ARM64_LDLIBS)' \
		unit-bins

install: $(BUILD)/lastcall
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/lastcall $(DESTDIR)$(PREFIX)/bin/lastcall

# Lays every C file out as .clang-format says (make test checks it).
format:
	clang-format -i helper/*.c helper/*.h tests/unit/*.c tests/unit/*.h tests/probe/*.c tests/bench/*.c \
		tests/fuzz/*.c tests/fuzz/*.h

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/san/*.d $(BUILD)/unit/*.d)
-include $(wildcard $(BUILD)/fuzz/obj/*.d $(BUILD)/fuzz/*.d)
