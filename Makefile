# A thin front for CMake, the scripts in ci/ and the benchmark in bench/. Every target
# installs what it lacks (as root, from Debian's packages) through ci/deps.sh.
BUILD      ?= build
ASAN_BUILD ?= build-asan
VG_BUILD   ?= build-valgrind
JOBS       ?= $(shell nproc)
FUZZ_TIME  ?= 180
LB         ?=
export FUZZ_TIME JOBS LB

.PHONY: all build asan valgrind-build test unit pytest test-cluster fuzz fuzz-replay bench memcheck soak demo clean

all: build

build:
	@ci/deps.sh build
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan:
	@ci/deps.sh build
	@cmake -S . -B $(ASAN_BUILD) -DLB_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

valgrind-build:
	@ci/deps.sh build memcheck
	@cmake -S . -B $(VG_BUILD) -DLB_VALGRIND=ON >/dev/null
	@cmake --build $(VG_BUILD) -j $(JOBS)

# Everything: unit tests and fuzz-corpus replay under ASan+UBSan, then the pytest suites
# (cluster scenarios, the demo, lbtest and a short fuzz campaign included) against the
# sanitized binaries; the few tests ASan cannot host (marker plain_build) against the plain build.
test: asan build
	@ci/deps.sh test browser fuzz lbtest
	@ci/test.sh $(ASAN_BUILD) $(BUILD)

# Without LB: the failover scenarios of tests/cluster. With LB=path/to/loadbalancer (or
# LB="ours haproxy nginx ./theirs"): lbtest's catalogue against those balancers.
test-cluster: asan
	@ci/deps.sh test $(if $(filter haproxy nginx,$(LB)),lbtest)
	@ci/test-cluster.sh $(ASAN_BUILD)

fuzz:
	@ci/deps.sh build fuzz
	@ci/fuzz.sh

bench: build
	@ci/deps.sh bench
	@bench/bench.sh $(BUILD)

memcheck: valgrind-build
	@ci/deps.sh test memcheck
	@ci/memcheck.sh $(VG_BUILD)

soak: build
	@ci/deps.sh test
	@ci/soak.sh $(BUILD)

demo: build
	@ci/deps.sh test
	@ci/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(VG_BUILD) build-fuzz-*
