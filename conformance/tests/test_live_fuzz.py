"""The live fuzzer in the suite (parley/harness/fuzz.py, conformance/fuzz_live.py):
a short seeded run inside authenticated sessions, and every reproducer in
conformance/reproducers/*.json replayed as a regression test.

Requirements: [CONV-4] bad input never crashes or hangs the peer (after every case it
answers a PING on the same session, unless the case closed it, and on a fresh one within
2 s); [ERR-1] each error gets the code or close reason the spec names, no other;
[ERR-2] after a NACK the connection stays usable; [FRAME-9] the answer is the one the
receive order of §4.5 gives (computed by session.Session with the peer's advertised
limits). A finding names the requirement it breaks more precisely when there is one
(TAG-2, REC-3, HS-6, ...).

The run writes conformance/reports/fuzz.json (coverage: the NACK codes and close reasons
reached) and, for a finding, a reproducer under conformance/reports/fuzz-reproducers/:
copy it to conformance/reproducers/ to keep it as a regression test.
"""

import glob
import json
import os

import pytest

from parley.harness import fuzz
from parley.harness.outcomes import Violation, not_run

CONFORMANCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPRODUCERS = sorted(glob.glob(os.path.join(CONFORMANCE, "reproducers", "*.json")))
SEED = 1
CASES = 300
SECONDS = 10.0


def _report_dir(config):
    return config.parley_settings.report_dir or os.path.join(CONFORMANCE, "reports")


@pytest.mark.reqs("CONV-4", "ERR-1", "ERR-2", "FRAME-9")
def test_seeded_fuzz_run_gets_only_answers_the_spec_allows(live, request):
    """[CONV-4] [ERR-1] [ERR-2] [FRAME-9] 300 fuzz cases of seed 1 (at most 10 s): mutated
    messages, fragment games, limits, compression, spliced and bit-flipped records,
    tampered ciphertext, preface and handshake mutations. Every answer (NACK code and
    tag, ACK, silence, close) is the one session.Session gives for the peer's limits; the
    peer never crashes or hangs."""
    report_dir = _report_dir(request.config)
    notes = []
    fuzzer = fuzz.Fuzzer(live.put, seed=SEED, cases=CASES, seconds=SECONDS,
                         out_dir=os.path.join(report_dir, "fuzz-reproducers"),
                         max_findings=5, log=notes.append)
    result = fuzzer.run()
    summary = fuzz.format_summary(result)
    for line in notes + summary.splitlines():
        live.transcript.note("fuzz", line)
    os.makedirs(report_dir, exist_ok=True)
    with open(os.path.join(report_dir, "fuzz.json"), "w", encoding="utf-8") as f:
        json.dump(result.as_dict(), f, indent=2)
        f.write("\n")
    if result.findings:
        first = result.findings[0]
        more = len(result.findings) - 1
        raise Violation(first["finding"]["rule"],
                        fuzz.format_finding(first)
                        + (f"\n(+{more} more findings: see the transcript)" if more else ""))


@pytest.mark.reqs("CONV-4", "ERR-1", "ERR-2", "FRAME-9")
@pytest.mark.parametrize("path", REPRODUCERS, ids=[os.path.basename(p)[:-5] for p in REPRODUCERS])
def test_fuzz_reproducer_is_answered_as_the_spec_requires(live, path):
    """[CONV-4] [ERR-1] [ERR-2] [FRAME-9] a reproducer of conformance/reproducers/ (a case
    the fuzzer once reported) replayed after a fresh handshake: the peer now gives the
    answers the spec calls for, computed again for its limits, and stays alive."""
    doc = fuzz.load_reproducer(path)
    blocked = fuzz.cannot_replay(live.put, doc)
    if blocked:
        not_run(blocked)
    case = fuzz.Case.from_json(doc)
    for line in case.describe_sends():
        live.transcript.note("replay", line)
    finding = fuzz.replay(live.put, doc)
    if finding is not None:
        doc = dict(doc, finding=finding.to_json(), expected=finding.expected, path=path)
        raise Violation(finding.rule, fuzz.format_finding(doc))
