# closurelog: thin wrapper over CMake.  The two commands a new user needs:
#   make run    install missing packages, build, start closurelogd on its defaults
#   make test   install missing packages, build, run every test
#   make install [PREFIX=/usr/local] [DESTDIR=]   build and install (see README, Deploy)
# Other targets: build, asan, tsan, fuzz, fuzz-long, powerloss, bench, bench-quick, format, clean.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
CMAKE_FLAGS ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 20
FUZZ_RUNS  ?= 10000000
POWERLOSS_CYCLES ?= 1000
PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all build install run test asan tsan fuzz fuzz-long powerloss bench bench-quick format clean deps deps-test

all: build

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The prefix is a configure-time setting (the pkg-config file and the
# service units name installed paths), so install reconfigures with it.
install: deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD)

run: build
	@scripts/run.sh $(BUILD)

# Configures again: a build first made by `make run` has no tests (cmocka
# was not installed then).
test: deps-test
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)
	ctest --test-dir $(BUILD) --output-on-failure --no-tests=error -j $(JOBS)

# The tests again, built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps-test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCL_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --test-dir $(ASAN_BUILD) --output-on-failure --no-tests=error -j $(JOBS)

# closurelogd and the tests that drive it, built with ThreadSanitizer; fails
# on any race report, from the tests or from the servers they start.
tsan: deps-test
	@CMAKE_FLAGS='$(CMAKE_FLAGS)' scripts/tsan.sh $(TSAN_BUILD) $(JOBS)

# Build the libFuzzer targets with clang and run each for FUZZ_SECONDS.
fuzz:
	@scripts/deps.sh ci
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCL_FUZZ=ON -DBUILD_TESTING=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The long power-loss run: POWERLOSS_CYCLES cuts with unsynced writes
# dropped, as many with them torn (make test runs 100 of each).
powerloss: deps-test $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)
	$(BUILD)/bin/powerloss_test drop $(POWERLOSS_CYCLES)
	$(BUILD)/bin/powerloss_test torn $(POWERLOSS_CYCLES)
	$(BUILD)/bin/powerloss_test synccut $(POWERLOSS_CYCLES)

# Every libFuzzer target for FUZZ_RUNS executions each (default 10^7).
fuzz-long:
	@scripts/deps.sh ci
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCL_FUZZ=ON -DBUILD_TESTING=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@scripts/fuzz.sh $(FUZZ_BUILD) --runs $(FUZZ_RUNS)

bench: build
	@scripts/deps.sh bench
	@scripts/bench.sh $(BUILD)

bench-quick: build
	@scripts/bench.sh $(BUILD) --quick

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
