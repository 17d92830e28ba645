# Parley: spec, reference peer, golden vectors, conformance harness, fuzz targets.
# `make test` runs everything; `make conformance` runs the conformance suite.

PY        := /usr/bin/python3
CC        ?= cc
BUILD     ?= build
SAN       ?=
CFLAGS    ?= -O2 -g
WARN      := -std=c11 -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes
CPPFLAGS  := -D_POSIX_C_SOURCE=200809L -Iref/src
LDLIBS    := -lsodium -lz
TLDLIBS   := -lcmocka -lcjson

SRC       := $(wildcard ref/src/*.c)
OBJ       := $(SRC:ref/src/%.c=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/libparley.a
TESTSRC   := $(wildcard ref/test/test_*.c)
TESTS     := $(TESTSRC:ref/test/%.c=$(BUILD)/test/%)
TESTLIB   := $(BUILD)/obj/test_vec.o

.PHONY: all deps lib unit pytest vectors-check vectors-fresh test conformance conformance-asan \
        reqtrace bench size \
        clean asan clang-build

all: lib $(TESTS)

deps:
	@tools/deps.sh

lib: $(LIB)

$(BUILD)/obj/%.o: ref/src/%.c $(wildcard ref/src/*.h) | $(BUILD)/obj
	$(CC) $(WARN) $(CFLAGS) $(SAN) $(CPPFLAGS) -c $< -o $@

$(BUILD)/obj/test_vec.o: ref/test/vec.c ref/test/vec.h | $(BUILD)/obj
	$(CC) $(WARN) $(CFLAGS) $(SAN) $(CPPFLAGS) -c $< -o $@

$(LIB): $(OBJ)
	ar rcs $@ $^

$(BUILD)/test/%: ref/test/%.c $(LIB) $(TESTLIB) $(wildcard ref/test/*.h) | $(BUILD)/test
	$(CC) $(WARN) $(CFLAGS) $(SAN) $(CPPFLAGS) -Iref/test $< $(TESTLIB) $(LIB) $(LDLIBS) $(TLDLIBS) -o $@

$(BUILD)/obj $(BUILD)/test:
	mkdir -p $@

# cmocka unit tests, every vector in the C codec.
unit: deps $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; $$t; done

# pytest: every vector in the Python codec.
pytest: deps
	cd conformance && $(PY) -m pytest -q -p no:cacheprovider tests --ignore-glob='tests/test_live_*' 

clean:
	rm -rf $(BUILD)

# Regenerate the golden vectors from the spec's definitions; the result must equal what is
# committed (CI checks this with `git diff --exit-code vectors/`).
vectors: deps
	$(PY) vectors/gen/gen_vectors.py
	$(PY) vectors/gen/gen_crypto_vectors.py
	$(PY) vectors/gen/merge.py
	tools/vectors-check

vectors-check: deps
	tools/vectors-check

# The committed vectors are exactly what the generators write (CI runs on a clean clone).
vectors-fresh: deps
	@$(PY) vectors/gen/gen_vectors.py >/dev/null
	@$(PY) vectors/gen/gen_crypto_vectors.py >/dev/null
	@$(PY) vectors/gen/merge.py >/dev/null
	@git diff --quiet --exit-code -- vectors/ || \
	  { echo "vectors/ differs from its generators: run make vectors and commit"; exit 1; }
	@echo "vectors: generators reproduce every committed file"

reqtrace:
	tools/reqtrace --live

# The C unit tests again, built with AddressSanitizer and UndefinedBehaviorSanitizer.
asan: deps
	$(MAKE) --no-print-directory BUILD=build-asan CFLAGS='-O1 -g' \
	  SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' unit

# The same code must be warning-free under clang too.
clang-build: deps
	$(MAKE) --no-print-directory CC=clang BUILD=build-clang all

# Everything: vectors valid and reproducible, both codecs on every vector, unit tests under
# sanitizers and both compilers, the programs end to end, the live conformance suite
# against the peer (plain and ASan+UBSan), valgrind, the robustness run, static analysis,
# the fuzz targets (regressions + a bounded run each), the mutant self-test of the suite,
# and the requirement trace.
test: deps
	@$(MAKE) --no-print-directory vectors-check
	@$(MAKE) --no-print-directory vectors-fresh
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory clang-build
	@$(MAKE) --no-print-directory asan
	@$(MAKE) --no-print-directory smoke
	@$(MAKE) --no-print-directory pytest
	@$(MAKE) --no-print-directory conformance
	@$(MAKE) --no-print-directory conformance-asan
	@$(MAKE) --no-print-directory valgrind
	@$(MAKE) --no-print-directory robust
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory selftest
	@$(MAKE) --no-print-directory reqtrace

# The receive path (records -> frames -> messages) in C and in Python, each against the raw
# ChaCha20-Poly1305 of its crypto library on the same records, in the same run.
$(BUILD)/bench_rx: tools/bench/bench_rx.c $(LIB)
	$(CC) $(WARN) -O2 -g $(CPPFLAGS) $< $(LIB) $(LDLIBS) -o $@

bench: deps $(BUILD)/bench_rx
	@echo "== receive path: C (libsodium ceiling) =="
	@$(BUILD)/bench_rx
	@echo "== receive path: Python (python3-cryptography ceiling) =="
	@$(PY) tools/bench/bench_rx.py

# The conformance suite: the live harness drives a peer over loopback, chapter by chapter,
# and writes conformance/reports/ (HTML, JSON, JUnit). By default the reference peer;
# PEER='command with {tcp_port} ...' or TARGET=host:port test another one.
conformance: deps programs
	$(PY) conformance/run.py --peer-manifest conformance/peers/reference.json $(CONFORMANCE_ARGS)

# The same suite against the peer built with AddressSanitizer + UndefinedBehaviorSanitizer.
ASAN_PEER := build-asan/parley-peer --tcp 127.0.0.1:{tcp_port} --key {key_file} \
  --admin-key {admin_key_file} --keylog {keylog_file} --data {data_dir} --bootstrap {bootstrap}
conformance-asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan CFLAGS='-O1 -g' \
	  SAN='-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' programs
	PEER='$(ASAN_PEER)' $(PY) conformance/run.py --timeout-scale 3 \
	  --report-dir conformance/reports/asan $(CONFORMANCE_ARGS)

# Programs (parley-peer, parley) and benchmarks have their own fragments.
-include ref/cmd/cmd.mk
-include tools/bench/bench.mk
-include fuzz/fuzz.mk

# The peer's own code against the founding notes' 100 KB budget (crypto and zlib are
# shared libraries and not counted), and the lines a reader must read.
size: programs
	@size $(BUILD)/parley-peer | awk 'NR==2 {printf "parley-peer: own code %d bytes of text (budget 102400: %.0f%%), %d data, %d bss\n", $$1, 100*$$1/102400, $$2, $$3}'
	@printf 'ref/src: %d lines of C; ref/cmd: %d lines\n' "$$(cat ref/src/*.[ch] | wc -l)" "$$(cat ref/cmd/*.[ch] | wc -l)"
-include tools/analysis.mk
-include conformance/selftest/selftest.mk
