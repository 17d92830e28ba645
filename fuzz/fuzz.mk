# fuzz/fuzz.mk - the fuzz targets (fuzz/README.md), included by the top-level Makefile.
#
#   make fuzz-smoke              build every target (libFuzzer + ASan + UBSan), replay the
#                                regressions, then run each FUZZ_SMOKE_SECS seconds from its
#                                seed corpus; fails on any crash or broken invariant
#   make fuzz T=name SECS=n      one long run of fuzz_<name> (or name) on one core, corpus in
#                                fuzz/corpus-work/<name> seeded from fuzz/corpus/<name>
#   make fuzz-regress            replay every file of fuzz/regressions/<target>/ (also part
#                                of `make test`, and of fuzz-smoke)
#   make fuzz-seeds              regenerate fuzz/corpus/ from vectors/ (fuzz/seeds.py)
#   make fuzz-afl                the same targets built with afl-clang-fast (if installed)
#                                into build-fuzz-afl/, each with fuzz/driver_afl.c as main
#   make fuzz-stats              30 s of each target alone, printing execs/s and coverage
#
# Only this file defines FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION: it makes the AEAD accept
# any ciphertext and skips the identity signature check (ref/src/noise.c, handshake.c), so
# the objects live in their own build directory and never in $(BUILD).

FUZZ_BUILD   ?= build-fuzz
FUZZ_AFL_BUILD ?= build-fuzz-afl
FUZZ_CC      ?= clang
FUZZ_SMOKE_SECS ?= 15
FUZZ_STATS_SECS ?= 30
FUZZ_MODE    := -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g $(FUZZ_MODE)
FUZZ_NAMES   := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OBJ     := $(SRC:ref/src/%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_HDR     := $(wildcard ref/src/*.h) $(wildcard fuzz/*.h)
FUZZ_DICT    := fuzz/dict/parley.dict
# -timeout: a hang is a finding; -rss_limit_mb: the session's memory is bounded by limits
# the targets keep at a few MiB, so 1 GiB is already a leak.
FUZZ_RUNFLAGS := -dict=$(FUZZ_DICT) -timeout=10 -rss_limit_mb=1024 -print_final_stats=1

T    ?=
SECS ?= 300
FUZZ_T = $(patsubst fuzz_%,%,$(T))

.PHONY: fuzz-build fuzz-smoke fuzz fuzz-regress fuzz-seeds fuzz-afl fuzz-stats fuzz-clean

# `make test` replays the kept crash inputs forever after (fuzz/README.md).
test: fuzz-regress

$(FUZZ_BUILD)/obj/%.o: ref/src/%.c $(wildcard ref/src/*.h) | $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(WARN) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(CPPFLAGS) -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJ) $(FUZZ_HDR)
	$(FUZZ_CC) $(WARN) $(FUZZ_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer $(CPPFLAGS) -Ifuzz \
	  $< $(FUZZ_OBJ) $(LDLIBS) -o $@

.PRECIOUS: $(FUZZ_BUILD)/obj/%.o $(FUZZ_AFL_BUILD)/obj/%.o

$(FUZZ_BUILD)/obj:
	mkdir -p $@

fuzz-build: deps $(FUZZ_BINS)

fuzz-seeds:
	$(PY) fuzz/seeds.py

# Each file of fuzz/regressions/<name>/ through fuzz_<name>: it must run clean.
fuzz-regress: deps
	@set -e; names=""; \
	for d in fuzz/regressions/*/; do \
	  [ -d "$$d" ] || continue; n=$$(basename "$$d"); \
	  [ -n "$$(find "$$d" -type f ! -name 'README*' ! -name '.gitkeep')" ] || continue; \
	  names="$$names $$n"; \
	done; \
	if [ -z "$$names" ]; then echo "fuzz-regress: no kept crash inputs"; exit 0; fi; \
	$(MAKE) --no-print-directory $$(for n in $$names; do echo $(FUZZ_BUILD)/fuzz_$$n; done); \
	for n in $$names; do \
	  files=$$(find fuzz/regressions/$$n -type f ! -name 'README*' ! -name '.gitkeep' | sort); \
	  echo "== fuzz-regress $$n: $$(echo "$$files" | wc -l) input(s)"; \
	  $(FUZZ_BUILD)/fuzz_$$n -runs=1 $$files >$(FUZZ_BUILD)/regress-$$n.log 2>&1 || \
	    { tail -40 $(FUZZ_BUILD)/regress-$$n.log; echo "fuzz-regress: $$n FAILED"; exit 1; }; \
	done; echo "fuzz-regress: every kept crash input runs clean"

# Regressions, then FUZZ_SMOKE_SECS s per target from its seeds; new inputs go to a scratch
# corpus under $(FUZZ_BUILD), crashes to $(FUZZ_BUILD)/artifacts/.
fuzz-smoke: fuzz-build fuzz-seeds fuzz-regress
	@set -e; mkdir -p $(FUZZ_BUILD)/artifacts; pass=0; fail=0; \
	for n in $(FUZZ_NAMES); do \
	  rm -rf $(FUZZ_BUILD)/smoke/$$n; mkdir -p $(FUZZ_BUILD)/smoke/$$n; \
	  reg=$$(if [ -d fuzz/regressions/$$n ]; then echo fuzz/regressions/$$n; fi); \
	  printf '== fuzz-smoke %-14s %ss ' $$n $(FUZZ_SMOKE_SECS); \
	  if $(FUZZ_BUILD)/fuzz_$$n $(FUZZ_RUNFLAGS) -max_total_time=$(FUZZ_SMOKE_SECS) \
	       -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n- \
	       $(FUZZ_BUILD)/smoke/$$n fuzz/corpus/$$n $$reg \
	       >$(FUZZ_BUILD)/smoke-$$n.log 2>&1; then \
	    pass=$$((pass+1)); \
	    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' $(FUZZ_BUILD)/smoke-$$n.log | \
	      tr '\n' ' ' | sed 's/stat::number_of_executed_units: */runs=/'; echo; \
	  else \
	    fail=$$((fail+1)); echo "CRASH"; tail -60 $(FUZZ_BUILD)/smoke-$$n.log; \
	  fi; \
	done; \
	echo "fuzz-smoke: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

# One long run on one core: make fuzz T=session SECS=600
fuzz: fuzz-build
	@[ -n "$(FUZZ_T)" ] || { echo "usage: make fuzz T=<$(FUZZ_NAMES)> [SECS=300]"; exit 2; }
	@[ -f fuzz/fuzz_$(FUZZ_T).c ] || { echo "no target fuzz_$(FUZZ_T)"; exit 2; }
	mkdir -p fuzz/corpus-work/$(FUZZ_T) $(FUZZ_BUILD)/artifacts
	$(FUZZ_BUILD)/fuzz_$(FUZZ_T) $(FUZZ_RUNFLAGS) -max_total_time=$(SECS) \
	  -artifact_prefix=$(FUZZ_BUILD)/artifacts/$(FUZZ_T)- \
	  fuzz/corpus-work/$(FUZZ_T) fuzz/corpus/$(FUZZ_T) \
	  $(wildcard fuzz/regressions/$(FUZZ_T))

# Executions per second and coverage of each target alone, FUZZ_STATS_SECS s each.
fuzz-stats: fuzz-build fuzz-seeds
	@for n in $(FUZZ_NAMES); do \
	  rm -rf $(FUZZ_BUILD)/stats/$$n; mkdir -p $(FUZZ_BUILD)/stats/$$n $(FUZZ_BUILD)/artifacts; \
	  $(FUZZ_BUILD)/fuzz_$$n $(FUZZ_RUNFLAGS) -max_total_time=$(FUZZ_STATS_SECS) \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n- $(FUZZ_BUILD)/stats/$$n fuzz/corpus/$$n \
	    >$(FUZZ_BUILD)/stats-$$n.log 2>&1; \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/stats-$$n.log); \
	  last=$$(grep -E '^#[0-9]+' $(FUZZ_BUILD)/stats-$$n.log | tail -1); \
	  printf '%-14s runs=%-9s execs/s=%-7s %s\n' $$n "$$runs" \
	    "$$(sed -n 's/^stat::average_exec_per_sec: *//p' $(FUZZ_BUILD)/stats-$$n.log)" \
	    "$$(echo "$$last" | grep -oE 'cov: [0-9]+ ft: [0-9]+')"; \
	done

# AFL++: the same targets, each linked with fuzz/driver_afl.c (persistent mode under
# afl-clang-fast). Run: afl-fuzz -i fuzz/corpus/<name> -o <dir> -x fuzz/dict/parley.dict \
#   -- build-fuzz-afl/fuzz_<name>
FUZZ_AFL_CC  ?= afl-clang-fast
FUZZ_AFL_OBJ := $(SRC:ref/src/%.c=$(FUZZ_AFL_BUILD)/obj/%.o)

$(FUZZ_AFL_BUILD)/obj/%.o: ref/src/%.c $(wildcard ref/src/*.h) | $(FUZZ_AFL_BUILD)/obj
	$(FUZZ_AFL_CC) $(WARN) $(FUZZ_CFLAGS) $(CPPFLAGS) -c $< -o $@

$(FUZZ_AFL_BUILD)/driver_afl.o: fuzz/driver_afl.c | $(FUZZ_AFL_BUILD)/obj
	$(FUZZ_AFL_CC) -std=c11 -O1 -g $(CPPFLAGS) -c $< -o $@

$(FUZZ_AFL_BUILD)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_AFL_OBJ) $(FUZZ_AFL_BUILD)/driver_afl.o $(FUZZ_HDR)
	$(FUZZ_AFL_CC) $(WARN) $(FUZZ_CFLAGS) $(CPPFLAGS) -Ifuzz $< $(FUZZ_AFL_BUILD)/driver_afl.o \
	  $(FUZZ_AFL_OBJ) $(LDLIBS) -o $@

$(FUZZ_AFL_BUILD)/obj:
	mkdir -p $@

fuzz-afl:
	@if command -v $(FUZZ_AFL_CC) >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(FUZZ_NAMES:%=$(FUZZ_AFL_BUILD)/fuzz_%) && \
	  echo "fuzz-afl: built $(FUZZ_AFL_BUILD)/fuzz_{$$(echo $(FUZZ_NAMES) | tr ' ' ,)}"; \
	else \
	  echo "fuzz-afl: $(FUZZ_AFL_CC) not found (apt-get install afl++); skipped"; \
	fi

fuzz-clean:
	rm -rf $(FUZZ_BUILD) $(FUZZ_AFL_BUILD)
