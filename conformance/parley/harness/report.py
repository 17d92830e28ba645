"""The pytest plugin that turns test results into per-requirement outcomes and reports.

For each live test it keeps: the requirements it names, the one a failure broke (a
Violation names it; otherwise the test's first requirement), the exchange the test's
sessions recorded, and the peer's log lines written while it ran. After the test it asks
the peer's health: a crash or a hang fails the test that caused it ([CONV-4]) and the
peer is restarted for the next one.

Failures of a SHOULD (NON-STRICT) and failures the expectations file lists
(EXPECTED-FAIL) are turned into pytest xfails, so they never fail the run; the exit
status is non-zero exactly when a MUST failed (or the harness itself could not run).

At the end: a terminal summary grouped by spec chapter, and in the report folder
junit.xml, summary.json, report.html (one self-contained page) and peer.log (everything
the peer processes wrote).
"""

import collections
import datetime
import json
import os
import re
import time
import xml.etree.ElementTree as ET

import pytest

from .. import SPEC_VERSION
from . import SUITE_VERSION, html, outcomes, spec
from .config import expected
from .outcomes import (EXPECTED_FAIL, FAIL, NON_STRICT, NOT_RUN, NOT_RUN_PREFIX, PASS,
                       UNIMPLEMENTED, UNIMPLEMENTED_PREFIX, Violation)

REPEAT_ID = re.compile(r"^run\d+$")
MAX_LISTED = 40  # failures listed in the terminal; all are in the reports


def base_nodeid(nodeid):
    """The node id without the --repeat parameter ("run2" among its parameter ids)."""
    if not nodeid.endswith("]") or "[" not in nodeid:
        return nodeid
    head, params = nodeid[:-1].split("[", 1)
    kept = [p for p in params.split("-") if not REPEAT_ID.match(p)]
    return f"{head}[{'-'.join(kept)}]" if kept else head


def reqs_of(item):
    marker = item.get_closest_marker("reqs")
    return list(marker.args) if marker else []


def short_nodeid(nodeid):
    """The node id from tests/ on, whatever pytest chose as its root directory."""
    return re.sub(r"^.*?(tests/test_live_)", r"\1", nodeid)


def chapter_of_module(path):
    name = os.path.basename(str(path))
    m = re.match(r"test_live_([a-z]+)", name)
    return m.group(1) if m else name


class CaseResult:
    """One executed (or skipped) test item."""

    def __init__(self, item):
        self.nodeid = short_nodeid(item.nodeid)
        self.base = base_nodeid(self.nodeid)
        self.name = item.name
        self.module = chapter_of_module(item.fspath)
        function = getattr(item, "function", None)
        self.doc = " ".join((function.__doc__ or "").split()) if function else ""
        self.reqs = reqs_of(item)
        self.outcome = None
        self.violated = None
        self.message = ""
        self.duration = 0.0
        self.transcript = []
        self.log = []
        self.expected_reason = None
        self.pcap = None  # --pcap: {"pcap", "keylog", "text"} relative to the report dir, "file"

    def as_dict(self, with_exchange=False):
        out = {"nodeid": self.nodeid, "outcome": self.outcome, "reqs": self.reqs,
               "violated": self.violated, "message": self.message,
               "duration": round(self.duration, 4), "module": self.module}
        if self.expected_reason:
            out["expected_reason"] = self.expected_reason
        if self.pcap:
            out["pcap"] = self.pcap
        if with_exchange:
            out["doc"] = self.doc
            out["exchange"] = self.transcript
            out["peer_log"] = self.log
        return out


class ParleyReport:
    """The plugin (registered by conftest.py when a peer or target is given)."""

    def __init__(self, config, settings):
        self.config = config
        self.settings = settings
        self.requirements = spec.load()
        self.results = []
        self.by_nodeid = {}
        self.started = time.time()
        self.harness_errors = []
        self.report_dir = settings.report_dir or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "..", "..", "reports")
        self.peer_summary = {}
        self.deselected = 0
        self.used_expectations = []

    def pytest_deselected(self, items):
        self.deselected += len(items)

    # --- per test -------------------------------------------------------------------

    def _result(self, item):
        result = self.by_nodeid.get(item.nodeid)
        if result is None:
            result = CaseResult(item)
            self.by_nodeid[item.nodeid] = result
            self.results.append(result)
        return result

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        result = self._result(item)
        state = getattr(item, "parley_state", None)
        if call.when == "call" and state is not None and state.get("uses_peer"):
            self._check_health(item, rep, state)
        if rep.when == "call" or (rep.when == "setup" and rep.outcome != "passed"):
            self._classify(item, rep, call, result)
        elif rep.when == "teardown" and rep.outcome == "failed" and result.outcome in (PASS, None):
            self._classify(item, rep, call, result)
        if state is not None and rep.when in ("call", "teardown"):
            result.transcript = state["transcript"].as_list()
            put = state.get("put")
            if put is not None:
                result.log = put.log.since(state["log_mark"])[-200:]

    def _check_health(self, item, rep, state):
        """After the test: the peer must neither have crashed nor hang ([CONV-4])."""
        put = state.get("put")
        if put is None or put.down:
            return
        problem = put.health(state["log_mark"])
        if problem is None:
            return
        detail = f"{problem} (found right after this test)"
        tail = "\n".join(put.log.tail(30))
        state["violation"] = Violation("CONV-4", detail)
        rep.outcome = "failed"
        rep.longrepr = f"[CONV-4] {detail}\n--- peer log ---\n{tail}"
        if put.settings.can_spawn:
            try:
                put.restart()
            except Exception as exc:  # the next tests report the peer down
                put.down = f"could not restart the peer: {exc}"
        else:
            put.down = f"the peer is down ({problem}) and TARGET mode cannot restart it"

    def _classify(self, item, rep, call, result):
        result.duration += rep.duration
        if rep.outcome == "passed":
            result.outcome = PASS
            return
        if rep.outcome == "skipped":
            reason = _skip_reason(rep)
            if reason.startswith(UNIMPLEMENTED_PREFIX):
                result.outcome = UNIMPLEMENTED
                result.message = reason.removeprefix(UNIMPLEMENTED_PREFIX)
            else:
                result.outcome = NOT_RUN
                result.message = reason.removeprefix(NOT_RUN_PREFIX)
            return
        # failed
        state = getattr(item, "parley_state", None) or {}
        violation = state.get("violation")
        if violation is None and call.excinfo is not None and \
                isinstance(call.excinfo.value, Violation):
            violation = call.excinfo.value
        if violation is not None:
            req, message = violation.req, str(violation)
        else:
            req = result.reqs[0] if result.reqs else None
            message = _failure_text(rep)
            error = call.excinfo.value if call.excinfo is not None else None
            if error is not None and not isinstance(error, AssertionError):
                self.harness_errors.append(
                    f"{item.nodeid}: {type(error).__name__}: {error} (charged to [{req}])")
        result.violated = req
        result.message = message
        level = self.requirements[req].level if req in self.requirements else "MUST"
        entry = expected(self.settings.expectations, short_nodeid(item.nodeid), req)
        reason = entry.reason if entry else None
        if entry:
            self.used_expectations.append(entry)
        result.expected_reason = reason
        result.outcome = outcomes.for_failure(level, reason is not None)
        if rep.when != "call":
            result.outcome = FAIL if reason is None else EXPECTED_FAIL
            if violation is None:
                last = message.splitlines()[-1] if message else ""
                self.harness_errors.append(f"{item.nodeid} ({rep.when}): {last}")
        if result.outcome in (NON_STRICT, EXPECTED_FAIL):
            rep.outcome = "skipped"
            rep.wasxfail = f"{result.outcome}: {reason or message}"

    # --- the end --------------------------------------------------------------------

    def pytest_sessionfinish(self, session, exitstatus):
        if not self.results:
            return
        data = self.summary()
        os.makedirs(self.report_dir, exist_ok=True)
        with open(os.path.join(self.report_dir, "summary.json"), "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        self.write_junit(data, os.path.join(self.report_dir, "junit.xml"))
        with open(os.path.join(self.report_dir, "report.html"), "w", encoding="utf-8") as f:
            f.write(html.render(data))
        put = getattr(self.config, "parley_put", None)
        if put is not None:
            with open(os.path.join(self.report_dir, "peer.log"), "w", encoding="utf-8") as f:
                f.writelines(line + "\n" for line in put.log.since(0))
        self.summary_data = data
        failed = data["totals"]["tests"].get(FAIL, 0)
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK

    def requirement_outcomes(self):
        """{req id: [(nodeid, outcome)]} over every test that ran or was skipped."""
        per_req = collections.defaultdict(list)
        for r in self.results:
            if r.outcome is None:
                continue
            if r.outcome in (FAIL, NON_STRICT, EXPECTED_FAIL):
                if r.violated:
                    per_req[r.violated].append((r.nodeid, r.outcome))
                continue
            for req in r.reqs:
                per_req[req].append((r.nodeid, r.outcome))
        return per_req

    def summary(self):
        per_req = self.requirement_outcomes()
        reqs = []
        for rid, req in self.requirements.items():
            tests = per_req.get(rid, [])
            if tests:
                outcome = outcomes.strongest(o for _, o in tests)
            elif req.draft:
                outcome = "DRAFT"
            elif req.kind == "impl":
                outcome = "IMPL"
            elif self.deselected:
                outcome = "NOT-SELECTED"
            else:
                outcome = "NO-LIVE-TEST"
            reqs.append({"id": rid, "kind": req.kind, "level": req.level, "draft": req.draft,
                         "chapter": req.chapter, "chapter_title": req.chapter_title,
                         "text": req.text, "outcome": outcome,
                         "tests": [{"nodeid": n, "outcome": o} for n, o in tests]})
        repeats = self._repeats()
        tests = [r.as_dict(with_exchange=r.outcome in (FAIL, NON_STRICT, EXPECTED_FAIL))
                 for r in self.results if r.outcome is not None]
        totals_tests = collections.Counter(t["outcome"] for t in tests)
        totals_reqs = collections.Counter(r["outcome"] for r in reqs)
        return {
            "suite_version": SUITE_VERSION,
            "spec_version": SPEC_VERSION,
            "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
            "duration": round(time.time() - self.started, 2),
            "peer": self.peer_summary,
            "totals": {"tests": dict(totals_tests), "requirements": dict(totals_reqs)},
            "requirements": reqs,
            "tests": tests,
            "repeats": repeats,
            "harness_errors": self.harness_errors,
        }

    def _repeats(self):
        if self.settings.repeat <= 1:
            return []
        groups = collections.defaultdict(list)
        for r in self.results:
            if r.outcome in (PASS, FAIL, NON_STRICT, EXPECTED_FAIL):
                groups[r.base].append(r.outcome == PASS)
        out = []
        for base, runs in groups.items():
            passed = sum(runs)
            out.append({"test": base, "runs": len(runs), "passed": passed,
                        "pass_rate": round(passed / len(runs), 3),
                        "flaky": 0 < passed < len(runs)})
        return out

    def write_junit(self, data, path):
        root = ET.Element("testsuites", name="parley-conformance")
        suite = ET.SubElement(root, "testsuite", name="parley-conformance.tests")
        props = ET.SubElement(suite, "properties")
        for key, value in (("suite_version", data["suite_version"]),
                           ("spec_version", data["spec_version"]),
                           ("peer", data["peer"].get("name", "")),
                           ("mode", data["peer"].get("mode", ""))):
            ET.SubElement(props, "property", name=key, value=str(value))
        counts = collections.Counter()
        for t in data["tests"]:
            module, _, name = t["nodeid"].partition("::")
            case = ET.SubElement(suite, "testcase", classname=module.replace("/", ".")[:-3],
                                 name=name, time=str(t["duration"]))
            counts["tests"] += 1
            if t["outcome"] == FAIL:
                counts["failures"] += 1
                el = ET.SubElement(case, "failure", type=t["violated"] or "FAIL",
                                   message=_first_line(t["message"]))
                el.text = t["message"]
            elif t["outcome"] != PASS:
                counts["skipped"] += 1
                why = _first_line(t.get("expected_reason") or t["message"])
                ET.SubElement(case, "skipped", type=t["outcome"], message=f"{t['outcome']}: {why}")
            ET.SubElement(ET.SubElement(case, "properties"), "property", name="requirements",
                          value=" ".join(t["reqs"]))
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("skipped", str(counts["skipped"]))
        suite.set("errors", "0")
        rsuite = ET.SubElement(root, "testsuite", name="parley-conformance.requirements")
        rcounts = collections.Counter()
        for r in data["requirements"]:
            if r["draft"] or r["outcome"] in ("IMPL",):
                continue
            case = ET.SubElement(rsuite, "testcase", classname=r["chapter"][:-3], name=r["id"])
            rcounts["tests"] += 1
            if r["outcome"] == FAIL:
                rcounts["failures"] += 1
                failing = [t["nodeid"] for t in r["tests"] if t["outcome"] == FAIL]
                el = ET.SubElement(case, "failure", type="FAIL",
                                   message=f"({r['kind']}, {r['level']}) {r['text'][:200]}")
                el.text = "failed by:\n" + "\n".join(failing)
            elif r["outcome"] != PASS:
                rcounts["skipped"] += 1
                ET.SubElement(case, "skipped", type=r["outcome"], message=r["outcome"])
        rsuite.set("tests", str(rcounts["tests"]))
        rsuite.set("failures", str(rcounts["failures"]))
        rsuite.set("skipped", str(rcounts["skipped"]))
        rsuite.set("errors", "0")
        ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)

    def pytest_terminal_summary(self, terminalreporter):
        data = getattr(self, "summary_data", None)
        if not data:
            return
        tr = terminalreporter
        failures = [t for t in data["tests"] if t["outcome"] in (FAIL, NON_STRICT, EXPECTED_FAIL)]
        if failures:
            tr.section("Parley conformance: failures")
            for t in failures[:MAX_LISTED]:
                tr.write_line(f"{t['outcome']:<13} {t['nodeid'].split('::', 1)[-1]}")
                tr.write_line(f"{'':14}{_first_line(t['message'])[:200]}")
            if len(failures) > MAX_LISTED:
                tr.write_line(f"... and {len(failures) - MAX_LISTED} more: see report.html")
        tr.section("Parley conformance: requirements by chapter")
        by_chapter = collections.OrderedDict()
        for r in data["requirements"]:
            if r["draft"]:
                continue
            by_chapter.setdefault((r["chapter"], r["chapter_title"]), []).append(r)
        for (chapter, title), reqs in by_chapter.items():
            counts = collections.Counter(r["outcome"] for r in reqs)
            tr.write_line(f"{title} ({chapter}): "
                          + ", ".join(f"{counts[o]} {o}" for o in
                                      [FAIL, NON_STRICT, EXPECTED_FAIL, PASS, UNIMPLEMENTED,
                                       NOT_RUN, "NO-LIVE-TEST", "NOT-SELECTED", "IMPL"]
                                      if counts[o]))
            for r in reqs:
                if r["outcome"] in (FAIL, NON_STRICT, EXPECTED_FAIL, UNIMPLEMENTED, NOT_RUN):
                    first = next((t["nodeid"] for t in r["tests"]
                                  if t["outcome"] == r["outcome"]), "")
                    tr.write_line(f"    {r['outcome']:<13} [{r['id']}] ({r['level']}) "
                                  f"{r['text'][:70]}{'...' if len(r['text']) > 70 else ''}"
                                  + (f"\n{'':18}{first.split('::', 1)[-1]}" if first else ""))
        unused = [e for e in self.settings.expectations
                  if not any(e is used for used in self.used_expectations)]
        for e in unused:
            tr.write_line(f"expectation matched no failure (fixed? remove it): "
                          f"{e.test or ''} {e.requirement or ''} ({e.reason})")
        flaky = [r for r in data["repeats"] if r["flaky"]]
        if data["repeats"]:
            tr.write_line(f"--repeat {self.settings.repeat}: {len(flaky)} flaky test(s)")
            for r in flaky:
                tr.write_line(f"    FLAKY {r['passed']}/{r['runs']} {r['test']}")
        t = data["totals"]
        tr.write_line("tests: " + ", ".join(f"{v} {k}" for k, v in sorted(t["tests"].items())))
        tr.write_line("requirements: " + ", ".join(f"{v} {k}" for k, v in
                                                  sorted(t["requirements"].items())))
        tr.write_line(f"suite {data['suite_version']}, spec {data['spec_version']}, "
                      f"peer {data['peer'].get('name', '?')} ({data['peer'].get('mode', '?')}); "
                      f"{data['duration']:.1f} s")
        tr.write_line(f"reports: {os.path.normpath(self.report_dir)}/"
                      "{report.html,summary.json,junit.xml,peer.log}")


def _skip_reason(rep):
    if isinstance(rep.longrepr, tuple) and len(rep.longrepr) == 3:
        return str(rep.longrepr[2]).removeprefix("Skipped: ")
    return str(getattr(rep, "wasxfail", "") or rep.longrepr or "")


def _failure_text(rep):
    text = getattr(rep, "longreprtext", "") or str(rep.longrepr or "")
    lines = [line for line in text.splitlines() if line.startswith("E ")]
    return "\n".join(line[2:].strip() for line in lines) or text[-2000:]


def _first_line(text):
    return (text or "").strip().splitlines()[0][:300] if (text or "").strip() else ""
