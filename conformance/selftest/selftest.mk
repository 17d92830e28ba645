# conformance/selftest/selftest.mk - included by the top-level Makefile.
#
#   make selftest     the conformance suite's mutation self-test: every patch in
#                     conformance/selftest/mutants/ breaks one MUST of spec/ in a temporary
#                     copy of ref/; the live suite must fail each mutant on that MUST (and
#                     pass the unpatched copy). About 2.5 minutes on 2 cores.
#
#   make selftest SELFTEST_ARGS='05 nonce'         only mutants whose name has 05 or nonce
#   make selftest SELFTEST_ARGS='--keep --json selftest.json'
#
# The mutants are built from copies in a temporary folder (make BUILD=... programs there),
# so this target needs neither `programs` nor a clean tree; `deps` provides the compilers,
# libraries and Python packages (patch(1) comes with build-essential).

SELFTEST_ARGS ?=

.PHONY: selftest

selftest: deps
	/usr/bin/python3 conformance/selftest/run_mutants.py $(SELFTEST_ARGS)
