"""Golden captures replayed live: the peer under test must answer the client frames of
every session in vectors/pcaps/ as the reference peer did, field by field.

tools/capture-golden recorded the captures with the reference peer (each answer checked
against the spec as it was recorded); vectors/pcaps/manifest.json lists their sessions,
the requirement IDs each step exercises and the volatile fields (keys, counters, NACK
texts, ...) a comparison ignores. parley/harness/replay.py decrypts a capture with its key
log, runs a fresh handshake with the peer (no fixed keys or nonces), sends the same
frames in the same records, awaits each answer the capture has before the record it
preceded, and compares. Together the captures exercise [PING-1] [PING-2] [ACK-1] [REC-1]
[FRAME-1] [FRAME-3] [FRAME-5] [FRAME-7] [FRAME-8] [MSG-1] [TAG-4] [FRAG-1] [FRAG-2]
[FRAG-7] [FRAG-8] [FRAG-11] [ERR-1] [ERR-2] [CONV-1] [BYE-1] [BYE-2] [OPT-1] [OPT-2]
[OPT-3] [OPT-4] [OPT-6] [ADMIN-1] [ADMIN-3] [ADMIN-6].
"""

import pytest

from parley.harness import replay
from parley.harness.outcomes import Violation


def _cases():
    try:
        manifest = replay.load_manifest()
    except replay.GoldenError as exc:
        return [pytest.param(None, 0, str(exc), id="no-manifest",
                             marks=[pytest.mark.reqs("ERR-1")])]
    out = []
    for capture, index, session in replay.sessions(manifest):
        marks = [pytest.mark.reqs(*(session.get("reqs") or capture.get("reqs") or ["ERR-1"]))]
        if session.get("identity") == "admin":
            marks.append(pytest.mark.needs("admin"))
        name = capture["name"]
        if len(capture["sessions"]) > 1:
            name += f"-{session.get('label') or index + 1}"
        out.append(pytest.param(capture["name"], index, None, id=name, marks=marks))
    return out


@pytest.mark.parametrize("capture,index,problem", _cases())
def test_golden_capture_is_answered_as_recorded(live, capture, index, problem):
    """[PING-1] [PING-2] [ACK-1] [REC-1] [FRAME-1] [FRAME-3] [FRAME-5] [FRAME-7] [FRAME-8]
    [MSG-1] [TAG-4] [FRAG-1] [FRAG-2] [FRAG-7] [FRAG-8] [FRAG-11] [ERR-1] [ERR-2] [CONV-1]
    [BYE-1] [BYE-2] [OPT-1] [OPT-2] [OPT-3] [OPT-4] [OPT-6] [ADMIN-1] [ADMIN-3] [ADMIN-6]
    the client records of one session of a golden capture, sent again in a fresh session,
    get the same answers (opcode, tag, every body field but the manifest's volatile ones)
    and the same end; a difference names the requirements of its step."""
    if problem is not None:
        raise Violation("ERR-1", f"the golden captures cannot be replayed: {problem}")
    manifest = replay.load_manifest()
    entry = next(c for c in manifest["captures"] if c["name"] == capture)
    try:
        golden = replay.Golden(manifest, entry, index)
    except replay.GoldenError as exc:
        raise Violation("ERR-1", f"the golden capture cannot be replayed: {exc}") from None
    replay.replay(live, golden)
