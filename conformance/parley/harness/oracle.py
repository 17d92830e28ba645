"""What a conforming peer answers to the frames we send it, and a replay that checks it.

The model is the package's receive state machine (session.Session, spec §4.5) set up with
the limits the peer advertised in its handshake, whether we are its admin, and the
compression in force, followed by chapter 5 for each complete request: PING is ACKed with
its data, SET_CONNECTION_OPT ACKed or NACKed UNSUPPORTED, BYE ACKed and the connection
closed, PEERS and STATS ACKed for the admin. A live peer answers a complete request at
once, so the model marks it answered as soon as it is complete.

A golden vector (a frame, a session's frames) gives the input; the expected answers come
from this model with the live peer's parameters, so a vector written for other limits
still gets the right live expectation. The vector's own `events` stay in the report.

replay() sends one record per input and waits for each predicted answer before sending
the next (lockstep), so the peer's answer never depends on timing; then a PING on a
fresh tag proves nothing else was answered.
"""

import copy
from dataclasses import dataclass, field
from typing import Optional

from .. import codec
from ..errors import NACK_NAMES, ParleyError
from .client import HarnessSession, describe_event
from .outcomes import Violation, not_run


@dataclass
class Expected:
    """One predicted outcome of one input frame."""
    kind: str  # nack, ack, opt, bye, close, nothing, skip
    tag: int = 0
    code: Optional[str] = None
    req_opcode: Optional[int] = None
    body: dict = field(default_factory=dict)
    reason: str = ""
    optional: list = field(default_factory=list)  # tags whose answer is allowed, not due

    def __str__(self):
        if self.kind == "nack":
            return f"NACK {self.code} on tag {self.tag} (req_opcode {self.req_opcode})"
        if self.kind == "ack":
            return f"ACK on tag {self.tag} (req_opcode {self.req_opcode})"
        if self.kind == "opt":
            return f"ACK or NACK UNSUPPORTED on tag {self.tag} (SET_CONNECTION_OPT {self.body})"
        if self.kind == "bye":
            return f"BYE answered (tag {self.tag}) and the connection closed"
        if self.kind == "close":
            extra = f"; answers on tags {self.optional} allowed" if self.optional else ""
            return f"the connection closes ({self.reason}){extra}"
        if self.kind == "skip":
            return f"not replayable: {self.reason}"
        return "nothing sent"


class PeerModel:
    """The peer's receive side as the spec defines it, for one connection.

    `remote`: the peer's IdentityPayload (its advertised limits). `admin`: our identity is
    the peer's admin. `draft_opcodes`: draft opcodes the peer claims to implement (their
    answers are not modelled). `claimed_settings`: compression settings the peer claims.
    """

    def __init__(self, remote, admin=False, draft_opcodes=(), claimed_settings=()):
        self.session = HarnessSession(max_tags=remote.max_tags, max_message=remote.max_message,
                                      reassembly_budget=remote.reassembly_budget, admin=admin)
        self.draft_opcodes = set(draft_opcodes)
        self.claimed_settings = set(claimed_settings)
        self.closed = False

    def copy(self):
        return copy.deepcopy(self)

    def set_compression(self, setting):
        self.session.set_compression(setting)

    def record(self, plaintext):
        """The expectations for the frames of one record plaintext, in order.

        A plaintext that does not split into whole frames closes the connection
        ([REC-5]). Whether the whole frames before the overrun are handled first is not
        fixed by the spec, so their answers are allowed but not required."""
        if self.closed:
            return []
        try:
            codec.split_record_plaintext(plaintext)
        except ParleyError:
            optional = []
            for frame in _whole_frames(plaintext):
                exp = self.frame(frame)
                if exp.kind in ("nack", "ack", "opt", "bye") and exp.tag:
                    optional.append(exp.tag)
            self.closed = True
            return [Expected("close", reason="FRAME_OVERRUN", optional=optional)]
        out = []
        for frame in codec.split_record_plaintext(plaintext):
            out.append(self.frame(codec.encode_record_plaintext([frame])))
            if self.closed:
                break
        return out

    def frame(self, frame):
        """The expectation for one whole frame."""
        header = codec.parse_frame_header(frame)
        if header["opcode"] in self.draft_opcodes and not header["flags"] & codec.FLAG_RESPONSE:
            return Expected("skip", reason=f"the peer implements draft opcode {header['opcode']}")
        event = self.session.receive_frame(frame)
        kind = event["event"]
        if kind == "nack":
            return Expected("nack", event["tag"], event["code"], event["req_opcode"])
        if kind == "close":
            self.closed = True
            return Expected("close", reason=event["reason"])
        if kind != "message":
            return Expected("nothing", event.get("tag", 0))
        return self._answer(event)

    def _answer(self, event):
        """Chapter 5: the answer to a complete, valid request."""
        tag, opcode, body = event["tag"], event["opcode"], event["body"]
        self.session.request_answered(tag)
        if opcode == codec.OP_BYE:  # [BYE-1]
            self.closed = True
            return Expected("bye", tag, req_opcode=opcode)
        if opcode == codec.OP_SHUTDOWN:
            return Expected("skip", tag, reason="SHUTDOWN from the admin stops the peer "
                                                 "(test_admin_shutdown covers it)")
        if tag == 0:  # [TAG-3]
            return Expected("nothing", 0)
        if opcode == codec.OP_PING:  # [PING-1]
            return Expected("ack", tag, req_opcode=opcode, body={"data": body["data"]})
        if opcode == codec.OP_SET_CONNECTION_OPT:  # [OPT-1]
            return Expected("opt", tag, req_opcode=opcode, body=dict(body))
        if opcode in (codec.OP_PEERS, codec.OP_STATS):  # [ADMIN-1]
            return Expected("ack", tag, req_opcode=opcode)
        return Expected("skip", tag, reason=f"no model for opcode {opcode}")


def _whole_frames(plaintext):
    """The whole frames at the start of a plaintext, up to the first that overruns."""
    frames = []
    pos = 0
    while len(plaintext) - pos >= codec.FRAME_HEADER_LEN:
        end = pos + codec.FRAME_HEADER_LEN + codec.parse_frame_header(plaintext[pos:])["length"]
        if end > len(plaintext):
            break
        frames.append(plaintext[pos:end])
        pos = end
    return frames


def predict(model, records):
    """The expectations for a list of record plaintexts, on a copy of the model (to find
    out before sending anything whether the input can be replayed)."""
    scratch = model.copy()
    return [scratch.record(plaintext) for plaintext in records]


def replay(session, model, records, req, settings_claimed=()):
    """Send `records` (plaintexts) one record each, checking every answer the model
    predicts, in lockstep; then prove with a round trip that nothing else was answered.
    Violations are charged to `req` (the vector's first requirement) unless a more
    specific rule applies."""
    for expectations in predict(model, records):
        for exp in expectations:
            if exp.kind == "skip":
                not_run(exp.reason)
    session.manual_tags = True
    for index, plaintext in enumerate(records):
        expectations = model.record(plaintext)
        for exp in expectations:
            if exp.kind in ("nack", "ack", "opt") or (exp.kind == "bye" and exp.tag):
                session.await_answer(exp.tag)
            for tag in exp.optional:
                session.await_answer(tag)
        session.note(f"input {index + 1}: expect " + "; ".join(map(str, expectations)))
        session.send_record(plaintext)
        for exp in expectations:
            _check_one(session, model, exp, req, settings_claimed)
        if model.closed:
            return
    events = session.sync(req)
    answers = [e for e in events if e["event"] == "response"]
    if answers:
        tags = {e["tag"] for e in answers}
        rule = "TAG-3" if tags == {0} else "TAG-2"
        raise Violation(rule, "answers the spec does not call for: "
                              + "; ".join(describe_event(e) for e in answers))


def _check_one(session, model, exp, req, settings_claimed):
    if exp.kind == "nack":
        session.expect_nack(exp.tag, exp.code, req, exp.req_opcode)
    elif exp.kind == "ack":
        body = session.expect_ack(exp.tag, req, exp.req_opcode)
        if "data" in exp.body and body.get("data") != exp.body["data"]:
            raise Violation("PING-1", f"ACK on tag {exp.tag} echoes "
                                      f"{body.get('data', b'').hex()}, not "
                                      f"{exp.body['data'].hex()}")
    elif exp.kind == "opt":
        check_option_answer(session, exp.tag, exp.body["option"], exp.body["setting"],
                            settings_claimed, model)
    elif exp.kind == "bye":
        if exp.tag:
            session.expect_ack(exp.tag, "BYE-1", codec.OP_BYE)
        session.expect_close("BYE-1", what="after BYE the peer closes the connection")
    elif exp.kind == "close":
        session.expect_close(req, what=f"close ({exp.reason})")


def check_option_answer(session, tag, option, setting, settings_claimed, model=None):
    """[OPT-1]: ACK repeating option and setting, or NACK UNSUPPORTED; a claimed setting
    must be ACKed. Returns True when ACKed. An ACK of option 0 puts the setting in force in
    the model too ([OPT-3])."""
    event = session.expect_response(tag, "OPT-1")
    name = codec.SETTING_NAMES.get(setting, setting)
    if event["opcode"] == codec.OP_ACK:
        body = event["body"]
        if (body.get("option"), body.get("setting")) != (option, setting):
            raise Violation("OPT-1", f"ACK repeats option {body.get('option')} setting "
                                     f"{body.get('setting')}, not {option}/{setting}")
        if option == codec.OPT_COMPRESSION and model is not None:
            model.set_compression(setting)
        return True
    code = NACK_NAMES.get(event["body"]["code"], event["body"]["code"])
    if code != "UNSUPPORTED":
        raise Violation("OPT-1", f"SET_CONNECTION_OPT {option}/{setting} answered NACK {code}, "
                                 "not ACK or NACK UNSUPPORTED")
    if name in settings_claimed:
        raise Violation("OPT-1", f"the manifest claims {name} but the peer answers UNSUPPORTED")
    return False
