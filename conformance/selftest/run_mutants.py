#!/usr/bin/python3
"""The conformance suite's self-test: does it catch a peer that breaks a MUST?

Each file of conformance/selftest/mutants/ is a unified diff against ref/ that breaks one
wire MUST of spec/ in the reference peer, and says which in its header:

    # breaks: TAG-2
    # chapters: frames
    # keyword: not slow_case          (optional: a pytest -k expression for this mutant)
    # what the bug is, in a sentence or two
    --- a/ref/src/conn.c
    +++ b/ref/src/conn.c
    ...

For every mutant this script copies what the build needs (ref/, Makefile, tools/deps.sh)
into a temporary folder, applies the patch there (`patch -p1`; the repository is never
touched), builds the peer (`make BUILD=... programs`), runs the live suite against it
(conformance/run.py --quick, limited to the chapters the header names, and to its -k
expression if it has one) and reads the
suite's verdict in summary.json. A mutant is CAUGHT when the run failed (non-zero exit)
and the requirement it breaks is among the requirements the suite reports FAIL.

First the unpatched copy is built and run through the same chapters: it must pass, so
that every failure afterwards is the patch's doing.

    /usr/bin/python3 conformance/selftest/run_mutants.py            # everything
    /usr/bin/python3 conformance/selftest/run_mutants.py 05 nonce   # mutants whose name
                                                                     # contains 05 or nonce
    options: --jobs N (1 or 2), --suite-timeout S, --keep, --json FILE, --list,
             --refresh (rewrite the patches against the current ref/ when it moved on:
             they are applied with patch(1)'s usual fuzz; check the result, then commit)

Exit status: 0 when the baseline passes and every mutant is caught; 1 when a mutant is
not caught, no longer applies or builds, or the baseline fails; 2 for a usage error.
"""

import argparse
import concurrent.futures
import difflib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MUTANTS = os.path.join(HERE, "mutants")
RUN_PY = os.path.join(ROOT, "conformance", "run.py")
# What `make programs` needs from the repository; nothing else is copied.
BUILD_INPUTS = ["Makefile", "ref", os.path.join("tools", "deps.sh")]
PEER_TEMPLATE = ("{build}/parley-peer --tcp 127.0.0.1:{{tcp_port}} --key {{key_file}} "
                 "--admin-key {{admin_key_file}} --keylog {{keylog_file}} --data {{data_dir}} "
                 "--bootstrap {{bootstrap}}")
MAX_JOBS = 2           # the machine has 2 cores: never more suites or builds at once
BUILD_TIMEOUT = 300    # seconds for one `make programs`
SUITE_TIMEOUT = 120    # seconds for one suite run (the slowest mutant takes ~30 s)
EXIT_PEER_UNREACHABLE = 3  # run.py: the peer could not be started or reached

REQ_LINE = re.compile(r"^- \*\*\[([A-Z]+-\d+)\]\*\* \((wire|impl), (MUST|SHOULD|MAY)\)")


class Mutant:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)[:-len(".patch")]
        self.breaks = []
        self.chapters = []
        self.keyword = None
        self.what = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("--- ") or line.startswith("diff "):
                    break
                if not line.startswith("#"):
                    continue
                text = line[1:].strip()
                key, _, value = text.partition(":")
                if key == "breaks":
                    self.breaks = value.replace(",", " ").split()
                elif key == "chapters":
                    self.chapters = value.replace(",", " ").split()
                elif key == "keyword":
                    self.keyword = value.strip() or None
                elif text:
                    self.what.append(text)
        self.req = self.breaks[0] if len(self.breaks) == 1 else None


class Result:
    def __init__(self, name, req):
        self.name = name
        self.req = req
        self.status = "NOT-RUN"  # CAUGHT, MISSED, PATCH-FAILED, BUILD-FAILED, TIMEOUT, ERROR
        self.exit_code = None
        self.failed = []        # requirement IDs the suite reports FAIL
        self.violations = []    # "nodeid: message" of the tests that failed req
        self.seconds = 0.0
        self.detail = ""
        self.harness_errors = []

    @property
    def caught(self):
        return self.status == "CAUGHT"

    def as_dict(self):
        return {"mutant": self.name, "breaks": self.req, "status": self.status,
                "caught": self.caught, "exit_code": self.exit_code, "failed": self.failed,
                "violations": self.violations, "seconds": round(self.seconds, 1),
                "detail": self.detail, "harness_errors": self.harness_errors}


def spec_requirements():
    """{id: (kind, level)} of every requirement in spec/*.md."""
    reqs = {}
    spec = os.path.join(ROOT, "spec")
    for name in sorted(os.listdir(spec)):
        if name.endswith(".md"):
            with open(os.path.join(spec, name), encoding="utf-8") as f:
                for line in f:
                    m = REQ_LINE.match(line)
                    if m:
                        reqs[m.group(1)] = (m.group(2), m.group(3))
    return reqs


def load_mutants(folder, selectors):
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".patch"))
    mutants = [Mutant(p) for p in paths]
    if selectors:
        mutants = [m for m in mutants if any(s in m.name for s in selectors)]
    return mutants


def check_headers(mutants, reqs):
    """Problems with the mutants' headers (each must break exactly one wire MUST)."""
    problems = []
    seen = {}
    for m in mutants:
        if m.req is None:
            problems.append(f"{m.name}: the header must name exactly one requirement "
                            f"(# breaks: ID), not {m.breaks}")
            continue
        if m.req not in reqs:
            problems.append(f"{m.name}: # breaks: {m.req} is not a requirement of spec/")
        elif reqs[m.req] != ("wire", "MUST"):
            problems.append(f"{m.name}: {m.req} is a {reqs[m.req][0]} {reqs[m.req][1]}, "
                            "not a wire MUST the suite can observe")
        if m.req in seen:
            problems.append(f"{m.name}: breaks {m.req} like {seen[m.req]}: each mutant "
                            "breaks a different MUST")
        seen.setdefault(m.req, m.name)
        if not m.chapters:
            problems.append(f"{m.name}: no '# chapters:' line")
    return problems


# --- processes ---------------------------------------------------------------------------

_children = set()
_children_lock = threading.Lock()


def run(cmd, cwd, log, timeout):
    """Run cmd (its own process group), output to the open file `log`. Returns the exit
    code, or None on timeout (the whole group is then killed)."""
    log.write(f"$ {' '.join(shlex.quote(c) for c in cmd)}\n")
    log.flush()
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    with _children_lock:
        _children.add(proc)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        log.write(f"\n*** killed after {timeout} s\n")
        return None
    finally:
        with _children_lock:
            _children.discard(proc)


def kill_group(proc):
    """SIGTERM, then SIGKILL, to the process group this script created for proc."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def kill_all_children():
    with _children_lock:
        procs = list(_children)
    for proc in procs:
        kill_group(proc)


# --- one peer: copy, patch, build, run the suite --------------------------------------------


fuzz_warnings = []  # patches that applied only with fuzz (list.append is thread-safe)


def prepare(workdir, patch, log):
    """Copy the build inputs to workdir/src, apply `patch`; returns an error or None."""
    src = os.path.join(workdir, "src")
    for rel in BUILD_INPUTS:
        source, dest = os.path.join(ROOT, rel), os.path.join(src, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("*.o", "*.a"))
        else:
            shutil.copy2(source, dest)
    if patch is None:
        return None
    with open(patch, "rb") as f:
        command = ["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch"]
        log.write(f"$ {' '.join(command)} < {patch}\n")
        log.flush()
        proc = subprocess.run(command,
                              cwd=src, stdin=f, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=60)
    out = proc.stdout.decode(errors="replace")
    log.write(out)
    if proc.returncode != 0:
        return f"patch -p1 failed: {' '.join(out.split())[:200]}"
    if "with fuzz" in out:
        fuzz_warnings.append(f"{os.path.basename(patch)} applied with fuzz (ref/ moved on): "
                        "check it still breaks what it says, then --refresh it")
    return None


def build(workdir, log):
    start = log.tell()
    code = run(["make", "--no-print-directory", f"BUILD={os.path.join(workdir, 'build')}",
                "programs"], os.path.join(workdir, "src"), log, BUILD_TIMEOUT)
    if code is None:
        return f"make programs: no result within {BUILD_TIMEOUT} s"
    if code != 0:
        log.flush()
        with open(log.name, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            errors = [line.strip() for line in f if "error:" in line]
        return f"make programs failed (exit {code})" + (f": {errors[0][:160]}" if errors else "")
    return None


def suite(workdir, chapters, keyword, log, timeout):
    """Run the live suite against workdir's peer (`chapters`, and a pytest -k expression
    when `keyword`). Returns (exit code or None, summary)."""
    reports = os.path.join(workdir, "reports")
    peer = PEER_TEMPLATE.format(build=os.path.join(workdir, "build"))
    cmd = [PYTHON, RUN_PY, "--peer", peer, "--report-dir", reports, "--quick"]
    for chapter in chapters:
        cmd += ["--chapter", chapter]
    if keyword:
        cmd += ["-k", keyword]
    for attempt in (1, 2):
        summary_path = os.path.join(reports, "summary.json")
        if os.path.exists(summary_path):
            os.remove(summary_path)
        code = run(cmd, workdir, log, timeout)
        if code != EXIT_PEER_UNREACHABLE or attempt == 2:
            break
        log.write("\n*** the peer could not be started or reached: once more\n")
    summary = None
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            summary = json.load(f)
    return code, summary


def failed_requirements(summary):
    return sorted((r["id"] for r in summary.get("requirements", []) if r["outcome"] == "FAIL"),
                  key=req_sort_key)


def req_sort_key(rid):
    prefix, _, number = rid.rpartition("-")
    return (prefix, int(number) if number.isdigit() else 0)


def evaluate(tmp, name, req, patch, chapters, keyword, timeout):
    """Copy, patch, build and test one peer (patch None: the unpatched baseline)."""
    result = Result(name, req)
    workdir = os.path.join(tmp, name)
    os.makedirs(workdir)
    start = time.monotonic()
    with open(os.path.join(workdir, "selftest.log"), "w", encoding="utf-8") as log:
        try:
            error = prepare(workdir, patch, log)
            if error:
                result.status, result.detail = "PATCH-FAILED", error
                return result
            error = build(workdir, log)
            if error:
                result.status, result.detail = "BUILD-FAILED", error
                return result
            code, summary = suite(workdir, chapters, keyword, log, timeout)
            result.exit_code = code
            if code is None:
                result.status = "TIMEOUT"
                result.detail = f"the suite did not finish within {timeout} s"
                return result
            if summary is None:
                result.status = "ERROR"
                result.detail = f"run.py exited {code} without a summary.json"
                return result
            result.failed = failed_requirements(summary)
            result.harness_errors = summary.get("harness_errors", [])
            result.violations = [f"{t['nodeid']}: {t['message'].splitlines()[0][:160]}"
                                 for t in summary.get("tests", [])
                                 if t["outcome"] == "FAIL" and t.get("violated") == req]
            if patch is None:
                result.status = "PASS" if code == 0 and not result.failed else "FAIL"
            elif code != 0 and req in result.failed:
                result.status = "CAUGHT"
            else:
                result.status = "MISSED"
                result.detail = (f"exit {code}; the suite failed "
                                 f"{', '.join(result.failed) or 'no requirement'}, "
                                 f"not {req}")
            return result
        except Exception as exc:  # noqa: BLE001 - reported in the table, never hidden
            result.status, result.detail = "ERROR", f"{type(exc).__name__}: {exc}"
            return result
        finally:
            result.seconds = time.monotonic() - start
            log.write(f"\n=== {name}: {result.status} {result.detail}\n")


# --- refresh: rewrite the patches against the current ref/ --------------------------------


def refresh(mutants):
    """Apply each patch (patch(1) with its usual fuzz) to a copy of the current ref/ and
    rewrite it as the exact diff from the current sources, header kept. Returns 0 when
    every patch applied."""
    failed = 0
    tmp = tempfile.mkdtemp(prefix="parley-selftest-refresh-")
    try:
        for m in mutants:
            workdir = os.path.join(tmp, m.name)
            os.makedirs(workdir)
            with open(os.path.join(workdir, "refresh.log"), "w", encoding="utf-8") as log:
                error = prepare(workdir, m.path, log)
            if error:
                print(f"{m.name}: {error}: edit it by hand")
                failed += 1
                continue
            header = _header_lines(m.path)
            body = []
            src = os.path.join(workdir, "src")
            for folder, _, files in sorted(os.walk(os.path.join(src, "ref"))):
                for name in sorted(files):
                    path = os.path.join(folder, name)
                    rel = os.path.relpath(path, src)
                    orig = os.path.join(ROOT, rel)
                    with open(path, encoding="utf-8") as f:
                        new_text = f.read().splitlines(keepends=True)
                    old_text = []
                    if os.path.exists(orig):
                        with open(orig, encoding="utf-8") as f:
                            old_text = f.read().splitlines(keepends=True)
                    body += difflib.unified_diff(old_text, new_text, "a/" + rel, "b/" + rel, n=3)
            if not body:
                print(f"{m.name}: the patch changes nothing any more: edit it by hand")
                failed += 1
                continue
            with open(m.path, "w", encoding="utf-8") as f:
                f.writelines(header + body)
            print(f"{m.name}: refreshed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def _header_lines(path):
    """The comment lines before the diff of a patch file."""
    lines = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(("--- ", "diff ")):
                break
            lines.append(line)
    return lines


# --- output ------------------------------------------------------------------------------


def wrap(words, width):
    lines, line = [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + [line] if line or not lines else lines


def print_table(results):
    name_w = max([len("mutant")] + [len(r.name) for r in results])
    req_w = max([len("breaks")] + [len(r.req or "-") for r in results])
    caught_w = len("NO:patch")
    failed_w = 52
    head = (f"{'mutant':<{name_w}}  {'breaks':<{req_w}}  {'caught?':<{caught_w}}  "
            f"{'requirements the suite failed':<{failed_w}}  {'seconds':>7}")
    print(head)
    print("-" * len(head))
    for r in results:
        if r.status in ("PATCH-FAILED", "BUILD-FAILED", "TIMEOUT", "ERROR"):
            failed = [r.status + ":"] + r.detail.split()
        else:
            failed = [f"*{x}*" if x == r.req else x for x in r.failed] or ["-"]
        caught = {"CAUGHT": "yes", "MISSED": "NO", "PASS": "(pass)", "FAIL": "(FAIL)",
                  "PATCH-FAILED": "NO:patch", "BUILD-FAILED": "NO:build", "TIMEOUT": "timeout",
                  "ERROR": "error"}.get(r.status, "NO")
        lines = wrap(failed, failed_w)
        for i, text in enumerate(lines):
            if i == 0:
                print(f"{r.name:<{name_w}}  {r.req or '-':<{req_w}}  {caught:<{caught_w}}  "
                      f"{text:<{failed_w}}  {r.seconds:7.1f}")
            else:
                print(f"{'':<{name_w}}  {'':<{req_w}}  {'':<{caught_w}}  {text}")
    print("(*ID*: the requirement the mutant breaks)")


# --- main --------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description="mutation self-test of the conformance suite")
    ap.add_argument("select", nargs="*", help="only mutants whose name contains one of these")
    ap.add_argument("--jobs", "-j", type=int, default=MAX_JOBS,
                    help=f"mutants built and tested at once (1..{MAX_JOBS})")
    ap.add_argument("--suite-timeout", type=float, default=SUITE_TIMEOUT,
                    help="seconds allowed for one suite run")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    ap.add_argument("--refresh", action="store_true",
                    help="rewrite the selected patches against the current ref/ (after ref/ "
                         "changed around them), run nothing")
    ap.add_argument("--mutants-dir", default=MUTANTS, help="where the *.patch files are "
                    "(default: conformance/selftest/mutants)")
    args = ap.parse_args(argv)
    if not 1 <= args.jobs <= MAX_JOBS:
        ap.error(f"--jobs must be 1..{MAX_JOBS}")

    mutants = load_mutants(args.mutants_dir, args.select)
    if not mutants:
        print("run_mutants: no mutant selected", file=sys.stderr)
        return 2
    problems = check_headers(load_mutants(args.mutants_dir, []), spec_requirements())
    if problems:
        print("run_mutants: bad mutant headers:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.list:
        for m in mutants:
            where = " ".join(m.chapters) + (f" -k '{m.keyword}'" if m.keyword else "")
            print(f"{m.name:<38} {m.req:<8} {where:<44} {' '.join(m.what)[:70]}")
        return 0
    if args.refresh:
        return refresh(mutants)
    for tool in ("patch", "make"):
        if shutil.which(tool) is None:
            print(f"run_mutants: `{tool}` is not installed", file=sys.stderr)
            return 2

    chapters = sorted({c for m in mutants for c in m.chapters})
    tmp = tempfile.mkdtemp(prefix="parley-selftest-")
    started = time.monotonic()
    print(f"selftest: {len(mutants)} mutants, suite chapters per mutant from their headers, "
          f"{args.jobs} at a time; work in {tmp}", flush=True)
    results = []
    try:
        base = evaluate(tmp, "00-unpatched", None, None, chapters, None, args.suite_timeout)
        print(f"baseline (unpatched, chapters {' '.join(chapters)}): {base.status} "
              f"in {base.seconds:.1f} s {base.detail}", flush=True)
        if base.status != "PASS":
            print_table([base])
            print(f"selftest: the unpatched reference peer does not pass the suite "
                  f"(exit {base.exit_code}; failed {', '.join(base.failed) or '-'}): "
                  f"fix that first. Log: {os.path.join(tmp, base.name, 'selftest.log')}")
            args.keep = True
            return 1
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(evaluate, tmp, m.name, m.req, m.path, m.chapters, m.keyword,
                                   args.suite_timeout): m for m in mutants}
            for future in concurrent.futures.as_completed(futures):
                r = future.result()
                results.append(r)
                print(f"  {r.name}: {r.status} ({r.req}) in {r.seconds:.1f} s", flush=True)
        order = {m.name: i for i, m in enumerate(mutants)}
        results.sort(key=lambda r: order[r.name])
        results.insert(0, base)
    except KeyboardInterrupt:
        kill_all_children()
        print("selftest: interrupted", file=sys.stderr)
        return 1
    finally:
        elapsed = time.monotonic() - started

    print()
    print_table(results)
    mutant_results = results[1:]
    missed = [r for r in mutant_results if not r.caught]
    print()
    for r in missed:
        print(f"NOT CAUGHT: {r.name} breaks [{r.req}]: {r.status}: {r.detail}")
        where = f"    log: {os.path.join(tmp, r.name, 'selftest.log')}"
        report = os.path.join(tmp, r.name, "reports", "report.html")
        print(where + (f"; report: {report}" if os.path.exists(report) else ""))
        args.keep = True
    for w in fuzz_warnings:
        print(f"warning: {w}")
    errors = [e for r in results for e in r.harness_errors]
    if errors:
        print(f"harness errors reported by the suite ({len(errors)}):")
        for e in errors[:10]:
            print(f"    {e}")
    caught = len(mutant_results) - len(missed)
    print(f"selftest: {caught}/{len(mutant_results)} mutants caught by the requirement "
          f"they break; baseline {base.status}; {elapsed:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"seconds": round(elapsed, 1), "chapters": chapters,
                       "results": [r.as_dict() for r in results]}, f, indent=1)
    if args.keep:
        print(f"selftest: kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
