# tools/analysis.mk - static analysis and coverage, included by the top-level Makefile.
#
#   make lint      cppcheck and clang-tidy over ref/src and ref/cmd: zero findings or it
#                  fails. Checks switched off say why in .clang-tidy; a finding silenced at
#                  one line says why there (NOLINT(check): ..., cppcheck-suppress id ; ...).
#   make coverage  library, tests and programs built with --coverage -O0 into build-cov;
#                  the cmocka tests, the live conformance suite against build-cov/parley-peer
#                  and the fuzz corpora (when fuzz/ has targets) run on it; gcovr then prints
#                  line and branch coverage of ref/src and writes build-cov/coverage/index.html.
#                  tools/coverage.sh does the work.

CPPCHECK      ?= cppcheck
CLANG_TIDY    ?= clang-tidy
LINT_SRC      := $(wildcard ref/src/*.c) $(wildcard ref/cmd/*.c)
LINT_JOBS     ?= $(shell nproc 2>/dev/null || echo 2)

# cppcheck 2.10 does not read C11 `_Noreturn` as "does not return" (it does read the GNU
# attribute), so without this it follows usage_error() back into main() and reports
# uninitialised reads on paths that cannot run.
CPPCHECK_FLAGS := --enable=warning,style,performance,portability --error-exitcode=1 \
  --inline-suppr --suppress=missingIncludeSystem --std=c11 --quiet \
  --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
  -D_POSIX_C_SOURCE=200809L '-D_Noreturn=__attribute__((noreturn))' -Iref/src -Iref/cmd

# The flags the files are compiled with, so clang-tidy sees what the compiler sees.
TIDY_CFLAGS   := $(WARN) $(CPPFLAGS) -Iref/cmd

.PHONY: lint lint-cppcheck lint-tidy coverage

lint: deps
	@$(MAKE) --no-print-directory lint-cppcheck
	@$(MAKE) --no-print-directory lint-tidy
	@echo "lint: cppcheck and clang-tidy found nothing"

lint-cppcheck:
	$(CPPCHECK) $(CPPCHECK_FLAGS) -j $(LINT_JOBS) ref/src ref/cmd

# One clang-tidy per file, in parallel; any finding is an error (.clang-tidy). A file's
# report is printed whole (no interleaving), without clang's "N warnings generated" count
# of what the header filter already left out.
lint-tidy:
	@echo "$(CLANG_TIDY) (.clang-tidy) on $(words $(LINT_SRC)) files, $(LINT_JOBS) at a time"
	@printf '%s\n' $(LINT_SRC) | xargs -P $(LINT_JOBS) -n 1 sh -c \
	  'out=$$($(CLANG_TIDY) --quiet "$$0" -- $(TIDY_CFLAGS) 2>&1); rc=$$?; \
	   printf "%s\n" "$$out" | grep -v -e "^[0-9]* warnings* generated\.$$" -e "^$$"; exit $$rc'

coverage: deps
	@tools/coverage.sh
