"""Chapter 04 live: every case of vectors/session.json replayed against the peer (§4.5,
[FRAME-9]).

A session vector lists frames a receiver gets in order and the event each one causes.
Live, the frames are sent one record each; the answers due are those of the receiver
model (parley.session.Session, the code that reproduces every session vector) set up with
the peer's advertised limits, our admin status and the compression in force, and with
each complete request answered at once, as a live peer does. Where the vector's
parameters differ from the peer's (a 1 MiB max_message, requests held unanswered,
outstanding requests of the receiver's own), the live expectation differs from the
vector's events, and the transcript says so.

Cases need: the admin key (the admin group), zlib in force (the compression group); a
receiver that is shutting down cannot be replayed (test_live_messages_admin.py tests
[ADMIN-5] on a peer it shuts down).
"""

import pytest

from parley import codec, vectors
from parley.harness.oracle import check_option_answer, replay
from parley.harness.outcomes import Violation, not_run


def _cases():
    out = []
    for group, test in vectors.cases("session"):
        params = group["params"]
        kind = ("shutting-down" if params.get("shutting_down") else
                "admin" if params.get("admin") else
                "zlib" if params.get("compression") else "plain")
        marks = [pytest.mark.reqs(*test["reqs"])]
        if kind == "admin":
            marks.append(pytest.mark.needs("admin"))
        out.append(pytest.param(kind, test, id=f"session-{test['tcId']}-{kind}", marks=marks))
    return out


@pytest.mark.reqs("FRAME-9", "FRAG-1", "FRAG-2", "FRAG-3", "FRAG-4", "FRAG-5", "FRAG-6",
                  "FRAG-7", "FRAG-8", "TAG-3", "TAG-5", "TAG-6", "TAG-7", "ADMIN-1",
                  "ADMIN-2", "OPT-3", "OPT-4", "OPT-6", "ERR-1", "ERR-2")
@pytest.mark.parametrize("kind,case", _cases())
def test_session_vector_is_answered_as_the_receiver_rules_order(live, kind, case):
    """[FRAME-9] the frames of a session vector, in order, one record each: each gets the
    NACK, the answer or nothing that §4.5 gives with the peer's own parameters ([ERR-1]),
    and the connection stays usable after every NACK ([ERR-2])."""
    if kind == "shutting-down":
        not_run("the receiver of this vector is shutting down; [ADMIN-5] is tested on a "
                "peer the harness shuts down")
    s = live.admin() if kind == "admin" else live.open()
    model = live.model(s, admin=kind == "admin")
    if kind == "zlib":
        tag = s.request(codec.OP_SET_CONNECTION_OPT, bytes([codec.OPT_COMPRESSION,
                                                            codec.SETTING_ZLIB]))
        if not check_option_answer(s, tag, 0, codec.SETTING_ZLIB, (), model):
            raise Violation("OPT-2", "the peer does not support zlib compression")
    s.note(f"vector session#{case['tcId']}: {case['comment']}")
    s.note("vector's events (its own parameters): "
           + "; ".join(_event_text(e) for e in case["events"]))
    frames = [bytes.fromhex(f) for f in case["frames"]]
    replay(s, model, frames, case["reqs"][0], live.manifest.compression_settings)


def _event_text(event):
    kind = event["event"]
    if kind == "nack":
        return f"NACK {event['code']} tag {event['tag']}"
    if kind in ("message", "response"):
        name = codec.OPCODE_NAMES.get(event["opcode"], event["opcode"])
        return f"{kind} {name} tag {event['tag']}"
    if kind == "close":
        return f"close {event['reason']}"
    return f"{kind} tag {event.get('tag')}"
