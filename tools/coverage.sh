#!/bin/sh
# tools/coverage.sh - line and branch coverage of ref/src (`make coverage` runs it).
#
# 1. builds the library, the cmocka tests and the programs with gcc --coverage -O0 into
#    build-cov (the same Makefile rules as every other build, BUILD=build-cov);
# 2. runs the cmocka unit tests;
# 3. runs the live conformance suite (--quick) against build-cov/parley-peer; the harness
#    stops the peer with SIGTERM, the peer exits 0 and only then are its .gcda files
#    written, so a missing or stale build-cov/cmd/parley-peer.gcda fails the run;
# 4. replays fuzz/corpus/<name>/* and fuzz/regressions/<name>/* through each libFuzzer
#    target fuzz/fuzz_<name>.c, built with gcc --coverage and a standalone driver
#    (tools/fuzz_replay_main.c unless fuzz/ has its own *replay*.c); it says it skipped
#    when fuzz/ has no target or no inputs yet;
# 5. gcovr over ref/src only: a table per file, the two totals, and the HTML report
#    build-cov/coverage/index.html (also summary.json).
#
# Every stage runs even when an earlier one failed, so the report always exists; the exit
# status is 1 when any stage failed. Goal for ref/src (not enforced here): line >= 90%,
# branch >= 80%. Environment: COV_CC (default gcc: gcov must match the compiler),
# CONFORMANCE_ARGS (more arguments for conformance/run.py), FUZZ_CORPUS (default
# fuzz/corpus).
set -u
cd "$(dirname "$0")/.." || exit 2

B=build-cov
PY=/usr/bin/python3
COV_CC=${COV_CC:-gcc}
COVFLAGS="-O0 -g --coverage"
FUZZ_DEFINE=-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FAILED=""
START=$(date +%s)

stage() { printf '\n== coverage: %s\n' "$*"; }
failed() {
    echo "coverage: FAILED: $*" >&2
    FAILED="$FAILED
  $*"
}

# ---- 1. build -----------------------------------------------------------------------
stage "build ($COV_CC $COVFLAGS) into $B"
if ! make --no-print-directory -s BUILD=$B CC="$COV_CC" CFLAGS="$COVFLAGS" all programs; then
    echo "coverage: the coverage build failed" >&2
    exit 1
fi
# Counters from an earlier run would be added to this one's.
find $B -name '*.gcda' -delete
rm -rf $B/coverage $B/conformance $B/fuzz-logs $B/fuzz
mkdir -p $B/coverage $B/fuzz-logs

# ---- 2. unit tests --------------------------------------------------------------------
stage "cmocka unit tests"
for t in "$B"/test/test_*; do
    [ -x "$t" ] || continue
    log=$B/test/$(basename "$t").log
    if "$t" >"$log" 2>&1; then
        printf '%-40s passed: %s\n' "$t" "$(grep -m1 'PASSED' "$log" | sed 's/.*PASSED *\] *//')"
    else
        cat "$log"
        failed "unit test $t"
    fi
done

# ---- 3. live conformance suite ----------------------------------------------------------
stage "live conformance suite (--quick) against $B/parley-peer"
marker=$B/.conformance-start
touch "$marker"
sleep 1 # a .gcda written by this run is then strictly newer than the marker
PEER="$B/parley-peer --tcp 127.0.0.1:{tcp_port} --key {key_file} --admin-key {admin_key_file} --keylog {keylog_file} --data {data_dir} --bootstrap {bootstrap}"
export PEER
# shellcheck disable=SC2086 # CONFORMANCE_ARGS is a list of arguments
$PY conformance/run.py --quick --report-dir $B/conformance ${CONFORMANCE_ARGS:-}
rc=$?
[ $rc -eq 0 ] || failed "conformance suite (exit $rc; reports in $B/conformance)"
# The harness records the exit status of the peer it stopped with SIGTERM; the .gcda files
# are written by that exit.
code=$($PY -c 'import json, sys
print(json.load(open(sys.argv[1]))["peer"]["exit_code_after_sigterm"])' \
    $B/conformance/summary.json 2>/dev/null || echo unknown)
gcda=$(find $B/cmd -name 'parley-peer.gcda' -newer "$marker")
if [ "$code" = 0 ] && [ -n "$gcda" ]; then
    echo "coverage: parley-peer exited 0 on SIGTERM and wrote $gcda"
else
    failed "parley-peer after SIGTERM: exit status $code, ${gcda:-no .gcda written}"
fi

# ---- 4. fuzz corpora ------------------------------------------------------------------
# Targets are fuzz/fuzz_<name>.c (each defines LLVMFuzzerTestOneInput), their inputs
# fuzz/corpus/<name>/ and the kept crash inputs fuzz/regressions/<name>/ (fuzz/fuzz.mk's
# layout). The driver is tools/fuzz_replay_main.c unless fuzz/ has its own *replay*.c.
stage "fuzz corpora"
FUZZ_CORPUS=${FUZZ_CORPUS:-fuzz/corpus}
defines_target() { grep -zqP 'LLVMFuzzerTestOneInput\s*\([^;{}]*\)\s*\{' "$1"; }
driver=tools/fuzz_replay_main.c
for f in fuzz/*replay*.c; do
    [ -f "$f" ] && driver=$f
done
targets=""
for f in fuzz/fuzz_*.c; do
    [ -f "$f" ] && defines_target "$f" && targets="$targets $f"
done
with_inputs=""
for src in $targets; do
    name=$(basename "$src" .c)
    name=${name#fuzz_}
    if [ -n "$(find "$FUZZ_CORPUS/$name" fuzz/regressions/"$name" -type f ! -name 'README*' \
        2>/dev/null | head -1)" ]; then
        with_inputs="$with_inputs $src"
    else
        printf '%-16s no inputs in %s/%s or fuzz/regressions/%s: skipped\n' "$name" \
            "$FUZZ_CORPUS" "$name" "$name"
    fi
done
if [ -z "$targets" ]; then
    echo "coverage: fuzz/ has no libFuzzer target yet: skipped"
elif [ -z "$with_inputs" ]; then
    echo "coverage: no fuzz target has inputs yet (make fuzz-seeds): skipped"
# The library again with the fuzzing hooks (#ifdef FUZZING_BUILD_MODE_... in ref/src), as
# fuzz/fuzz.mk builds it; gcovr adds its counters to the ones above. Built only when there
# are inputs: an object that never runs would count the hooks' lines as missed.
elif ! make --no-print-directory -s BUILD=$B/fuzz CC="$COV_CC" \
    CFLAGS="$COVFLAGS $FUZZ_DEFINE" lib; then
    failed "the library with $FUZZ_DEFINE"
else
    mkdir -p $B/fuzz/bin
    echo "driver: $driver"
    for src in $with_inputs; do
        name=$(basename "$src" .c)
        name=${name#fuzz_}
        exe=$B/fuzz/bin/fuzz_$name
        # shellcheck disable=SC2086 # flags are lists of words
        if ! $COV_CC -std=c11 $COVFLAGS $FUZZ_DEFINE -D_POSIX_C_SOURCE=200809L -Iref/src \
            -Ifuzz "$src" "$driver" $B/fuzz/libparley.a -lsodium -lz -o "$exe" \
            >$B/fuzz-logs/"$name".build 2>&1; then
            cat $B/fuzz-logs/"$name".build
            failed "fuzz target $src does not build with $COV_CC"
            continue
        fi
        n=$(find "$FUZZ_CORPUS/$name" fuzz/regressions/"$name" -type f ! -name 'README*' \
            2>/dev/null | wc -l)
        if find "$FUZZ_CORPUS/$name" fuzz/regressions/"$name" -type f ! -name 'README*' \
            -print0 2>/dev/null | sort -z |
            xargs -0 -r timeout 600 "$exe" >$B/fuzz-logs/"$name".log 2>&1; then
            printf '%-16s %6d inputs replayed\n' "$name" "$n"
        else
            tail -20 $B/fuzz-logs/"$name".log
            failed "fuzz replay of $name (log: $B/fuzz-logs/$name.log)"
        fi
    done
fi

# ---- 5. report --------------------------------------------------------------------------
stage "gcovr: ref/src (ref/test, ref/cmd, fuzz and tools left out)"
GCOVR="gcovr --root . --filter ref/src/"
# shellcheck disable=SC2086
if ! $GCOVR --txt --sort-percentage $B; then
    failed "gcovr"
fi
# shellcheck disable=SC2086
$GCOVR --html-details $B/coverage/index.html --html-title "Parley ref/src coverage" \
    --json-summary-pretty --json-summary $B/coverage/summary.json $B >/dev/null ||
    failed "gcovr html report"
if [ -f $B/coverage/summary.json ]; then
    $PY - "$B/coverage/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
def show(kind, pct, covered, total, goal):
    mark = "goal met" if pct >= goal else f"below the {goal}% goal"
    print(f"coverage: ref/src {kind:<8} {pct:5.1f}%  ({covered} of {total})  {mark}")
print()
show("lines", s["line_percent"], s["line_covered"], s["line_total"], 90)
show("branches", s["branch_percent"], s["branch_covered"], s["branch_total"], 80)
EOF
fi
echo "coverage: HTML report: $B/coverage/index.html"
echo "coverage: took $(($(date +%s) - START)) s"

if [ -n "$FAILED" ]; then
    echo "coverage: stages that failed:$FAILED" >&2
    exit 1
fi
exit 0
