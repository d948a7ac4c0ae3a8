# The README's two commands. Everything else is CMake and ctest.
#   make demo    build, then run every seed program end to end on loopback
#   make check   build and run every test: a normal build, then ASan+UBSan;
#                then the poll(2) backend's unit tests, ThreadSanitizer on the
#                threaded code, valgrind, the fuzz harnesses, and last the
#                Debian packages (check-deb) where dpkg-buildpackage exists
#   make deb     the Debian packages, into build/deb/

PACKAGES := cmake make gcc clang libclang-rt-14-dev libcmocka-dev libssl-dev zlib1g-dev libc-ares-dev \
            bash-completion groff-base dpkg-dev debhelper lintian \
            pkg-config python3 curl openssl valgrind chromium chromium-driver
JOBS     := $(shell nproc 2>/dev/null || echo 2)
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CTEST    := ctest --output-on-failure -j$(JOBS)
# The integration tests mostly wait on their peers and their deadlines:
# twice as many at once as there are cores keeps `make check` short.
CTEST_ALL := ctest --output-on-failure -j$(shell expr $(JOBS) \* 2)

.PHONY: all deps build demo deb check check-normal check-sanitize check-poll check-tsan \
        check-valgrind check-notls check-fuzz check-deb clean

all: build

# Installs the Debian packages that are missing; apt-get update only when
# the first try fails (a fresh machine's lists may be stale).
deps:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -q $$missing || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $$missing; }; \
	fi

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUSOCK_WERROR=ON
	cmake --build build -j$(JOBS)

demo: build
	scripts/demo.sh build

# The Debian packages libusock0, libusock-dev and usock, built from a copy
# of the tree in build/deb/ (scripts/deb.sh prints the .deb files' paths).
deb: deps
	scripts/deb.sh

check: check-normal check-sanitize check-poll check-tsan check-valgrind check-notls check-fuzz
	@if command -v dpkg-buildpackage >/dev/null 2>&1; then $(MAKE) --no-print-directory check-deb; \
	 else echo "check-deb skipped: no dpkg-buildpackage"; fi

check-normal: build
	cd build && $(CTEST_ALL)

check-sanitize: deps
	cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DUSOCK_WERROR=ON -DUSOCK_SANITIZE=ON
	cmake --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(CTEST_ALL) -LE packaging

# The poll(2) fallback backend, under the unit tests.
check-poll: deps
	cmake -S . -B build-poll -DUSOCK_POLL_BACKEND=poll -DUSOCK_WERROR=ON
	cmake --build build-poll -j$(JOBS) --target unit_tests
	cd build-poll && $(CTEST) -L unit

# ThreadSanitizer (clang) on the tests of threaded code: the servers'
# threading and pool modes, and the socket tests whose peers are threads.
# Any report fails the step. Without address randomization (setarch -R):
# clang 14's TSan cannot map its shadow on kernels with more ASLR bits.
check-tsan: deps
	cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DUSOCK_WERROR=ON \
	  -DCMAKE_C_FLAGS=-fsanitize=thread -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
	  -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread
	cmake --build build-tsan -j$(JOBS) --target unit_tests
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/tsan.supp \
	  setarch $$(uname -m) -R $(CTEST) -L unit

# The unit tests once more under valgrind: leaks and descriptors left open.
check-valgrind: build
	scripts/valgrind-unit.sh build

# Built without OpenSSL: the library and the tool still build, every tls
# call says USOCK_ETLS_UNAVAILABLE (test_tls's one test then), and https
# fails with one clear line.
check-notls: deps
	cmake -S . -B build-notls -DUSOCK_TLS=OFF -DUSOCK_WERROR=ON
	cmake --build build-notls -j$(JOBS) --target usock test_tls
	cd build-notls && $(CTEST) -R unit.test_tls
	! build-notls/tools/usock get https://127.0.0.1:9/ 2>build-notls/https.err
	grep -q 'TLS support not built in' build-notls/https.err

# A short libFuzzer run of each harness (inet_pton/ntop against glibc; the
# HTTP parser one-shot against byte by byte; URLs parsed, printed and parsed
# again), 20 s each, as many at once as there are cores, so that they keep
# building and finding nothing (fuzz/run.sh 600 is the long one).
check-fuzz: deps
	USOCK_FUZZ_PARALLEL=$(JOBS) fuzz/run.sh 20

# The packages of `make deb`, then lintian (an error fails) and
# tests/deb/test_deb.py on what they hold (dpkg -x into a scratch root).
check-deb: deps
	scripts/check-deb.sh

clean:
	rm -rf build build-asan build-poll build-tsan build-notls build-fuzz
