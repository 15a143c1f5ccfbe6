# Thin wrapper over Meson; the README's commands are `make run` and
# `make check`.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
STATE      ?= $(CURDIR)/var

.PHONY: all deps run check unit integration fuzz bench lint clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dbuildtype=debug

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dtests=false \
	    -Db_lundef=false -Dbuildtype=debug

deps:
	./scripts/install-deps

run: deps all
	./scripts/run "$(STATE)"

check: deps
	./scripts/check

fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	./scripts/fuzz 60

bench: deps
	./bench/install-deps
	test -f build-bench/build.ninja || meson setup build-bench -Dbuildtype=release
	ninja -C build-bench mailpull
	./bench/run --binary build-bench/mailpull $(BENCH_ARGS)

lint:
	./scripts/lint

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
