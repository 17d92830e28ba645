"""Golden captures replayed against the peer under test (tests/test_live_replay.py).

vectors/pcaps/manifest.json lists the captures tools/capture-golden recorded with the
reference peer. For one session of one capture:

  1. the capture is decrypted with its key log (parley/dissect.py): the client's records
     after the handshake (plaintexts, in order) and the peer's answers (complete ACK and
     NACK messages, reassembled and decompressed), each with the client record it
     answers and the number of client records sent before it arrived;
  2. a fresh session is opened with the peer under test (our own handshake: nothing needs
     fixed keys or nonces), as a fresh identity or as the admin, as the manifest says;
  3. the client's records are sent again, the same frames in the same record grouping
     and order; before each record, the answers that had arrived before it in the
     capture are awaited (so a conforming peer is never raced), matched by tag
     ([TAG-4]: any order);
  4. every answer is compared with the capture's, field by field (opcode, tag, every body
     field) after the manifest's normalisations, ignoring only its volatile fields;
  5. the end: the peer closes when it closed in the capture (after BYE); otherwise a PING
     round trip proves no other answer comes.

A difference fails with a Violation naming the requirement IDs the manifest gives for
that answer (or its step), with what the capture has and what came back.
"""

import json
import os
import re

from .. import codec, dissect
from .outcomes import Violation

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
GOLDEN_DIR = os.path.join(ROOT, "vectors", "pcaps")
MANIFEST = os.path.join(GOLDEN_DIR, "manifest.json")


class GoldenError(Exception):
    """The manifest or a capture cannot be used (missing, or does not decrypt)."""


def load_manifest(path=MANIFEST):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise GoldenError(f"{os.path.relpath(path, ROOT)}: {exc} (tools/capture-golden "
                          "writes it)") from None


def sessions(manifest):
    """(capture entry, session index, session entry) of every session of the manifest."""
    for capture in manifest.get("captures", []):
        for index, session in enumerate(capture.get("sessions", [])):
            yield capture, index, session


class Answer:
    """One answer of the capture: `message` (dissect's message dict), `tag`, `arrived`
    (client records sent before it arrived), `cause` (index of the client record with
    the request it answers, None when unknown), `reqs`, `expect` (the manifest's words)."""

    def __init__(self, index, message, arrived, cause):
        self.index = index
        self.message = message
        self.tag = message["tag"]
        self.arrived = arrived
        self.cause = cause
        self.reqs = []
        self.expect = ""
        self.step = None


class Golden:
    """One session of one golden capture, decrypted (see the module doc)."""

    def __init__(self, manifest, capture, index, directory=GOLDEN_DIR):
        self.capture = capture
        self.index = index
        self.session = capture["sessions"][index]
        self.name = capture["name"]
        self.where = f"golden capture {self.name}" + (
            f", session {index + 1} ({self.session.get('label', '')})"
            if len(capture["sessions"]) > 1 else "")
        self.volatile = [v for v in manifest.get("volatile", []) + capture.get("volatile", [])
                         if "message" in v]
        self.normalize = capture.get("normalize", [])
        pcap = os.path.join(directory, capture["pcap"])
        keylog = dissect.load_keylog([os.path.join(directory, capture["keylog"])])
        result = dissect.dissect_file(pcap, keylog)
        problems = result["warnings"] + result["keylog"]["warnings"]
        if len(result["connections"]) <= index:
            raise GoldenError(f"{self.where}: the capture has "
                              f"{len(result['connections'])} connections; "
                              + "; ".join(problems))
        conn = result["connections"][index]
        problems += conn["notes"]
        records = [i for i in conn["timeline"] if i["kind"] == "record"]
        if any("plaintext" not in r for r in records) or problems:
            raise GoldenError(f"{self.where} does not decrypt with its key log: "
                              + ("; ".join(problems) or "records that do not open"))
        client = [r for r in records if r["dir"] == dissect.I2R]
        self.records = [bytes.fromhex(r["plaintext"]) for r in client]
        self.answers = []
        for message in conn["messages"]:
            if message["dir"] != dissect.R2I or "RESPONSE" not in message["flags"]:
                continue  # the peer's own requests are allowed interleavings, not answers
            arrived = sum(1 for r in client if r["packet"] < message["packet"])
            cause = None
            for i in range(arrived - 1, -1, -1):
                if any(f["tag"] == message["tag"] and "RESPONSE" not in f["flags"]
                       for f in client[i].get("frames", [])):
                    cause = i
                    break
            self.answers.append(Answer(len(self.answers), message, arrived, cause))
        self._attach_steps()

    def _attach_steps(self):
        steps = self.session.get("steps", [])
        for answer in self.answers:
            record = answer.cause if answer.cause is not None else max(answer.arrived - 1, 0)
            step = next((s for s in steps if s["records"][0] <= record <= s["records"][1]),
                        None)
            answer.step = step
            entry = None
            if step is not None:
                entry = next((a for a in step.get("answers", []) if a["tag"] == answer.tag),
                             None)
            answer.reqs = (entry or {}).get("reqs") or (step or {}).get("reqs") or \
                self.session.get("reqs") or self.capture.get("reqs") or ["ERR-1"]
            answer.expect = (entry or {}).get("expect", "")

    def step_of(self, record):
        return next((s for s in self.session.get("steps", [])
                     if s["records"][0] <= record <= s["records"][1]), None)


# --- comparing one answer -------------------------------------------------------------


def flatten(value, prefix=""):
    """{path: leaf} of a decoded message: "body.counters[3].value" -> 7."""
    out = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else key))
    elif isinstance(value, list):
        if not value:
            out[prefix] = []
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def _selects(selector, message):
    """Whether a volatile entry's `message` ("NACK", "ACK(STATS)", "*") names `message`."""
    if selector == "*":
        return True
    m = re.fullmatch(r"([A-Z_]+)(?:\(([A-Z_]+)\))?", selector)
    if not m or message.get("opcode") != m.group(1):
        return False
    return m.group(2) is None or (message.get("body") or {}).get("req_opcode") == m.group(2)


def _field_pattern(field):
    """A volatile `field` as a regex over flattened paths: [*] is any index, and the
    field covers every path under it."""
    text = re.escape(field).replace(r"\[\*\]", r"\[\d+\]")
    return re.compile(rf"^{text}(?:$|\.|\[)")


def volatile_paths(entries, message):
    return [(_field_pattern(v["field"]), v) for v in entries if _selects(v["message"], message)]


def normalized(message, entries):
    """The message with the lists the spec leaves unordered sorted ("normalize")."""
    message = json.loads(json.dumps(message))
    for entry in entries:
        if not _selects(entry["message"], message):
            continue
        parent, *path = entry["field"].split(".")
        node = message.get(parent)
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        key = path[-1] if path else None
        if isinstance(node, dict) and isinstance(node.get(key), list):
            node[key] = sorted(node[key], key=lambda x, k=entry["sort_by"]: _sort_key(
                x.get(k) if isinstance(x, dict) else x))
    return message


def _sort_key(value):
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))


def comparable(message):
    """The fields of an answer that are compared: opcode, tag, flags, body (or the decode
    error of an answer that does not decode)."""
    out = {"opcode": message["opcode"], "tag": message["tag"], "flags": message["flags"]}
    if "body" in message:
        out["body"] = message["body"]
    else:
        out["error"] = message.get("error", "")
    return out


def differences(expected, got, volatile, normalize):
    """[(path, expected value, got value)] outside the volatile fields, and the volatile
    entries that hid a difference."""
    exp = flatten(normalized(comparable(expected), normalize))
    act = flatten(normalized(comparable(got), normalize))
    patterns = volatile_paths(volatile, expected)
    diffs, ignored = [], []
    missing = object()
    for path in sorted(set(exp) | set(act), key=_path_order):
        a, b = exp.get(path, missing), act.get(path, missing)
        if a == b:
            continue
        hit = next((v for p, v in patterns if p.match(path)), None)
        if hit is not None:
            if hit not in ignored:
                ignored.append(hit)
            continue
        diffs.append((path, "(absent)" if a is missing else a, "(absent)" if b is missing else b))
    return diffs, ignored


def _path_order(path):
    parts = [p for p in re.split(r"[.\[\]]+", path) if p]
    head = ["opcode", "tag", "flags", "error", "body"]
    return [head.index(parts[0]) if parts and parts[0] in head else len(head)] + \
        [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts]


# --- the replay -----------------------------------------------------------------------


def live_message(event, flags):
    """A response the live client received, in the dissector's form."""
    return {"opcode": codec.OPCODE_NAMES.get(event["opcode"], event["opcode"]),
            "tag": event["tag"], "flags": flags, "body": dissect.body_json(event["body"])}


def _response_flags(session, tag, nth):
    """The flags (first frame, MORE cleared) of the `nth` complete response message the
    peer sent on `tag`, from the frame headers the client received."""
    count, first = 0, None
    for header in session.headers_in:
        if header["tag"] != tag or not header["flags"] & codec.FLAG_RESPONSE:
            continue
        if header["flags"] & codec.FLAG_ABORT:
            first = None
            continue
        if first is None:
            first = header["flags"]
        if not header["flags"] & codec.FLAG_MORE:
            if count == nth:
                return dissect.flag_names(first & ~codec.FLAG_MORE)
            count += 1
            first = None
    return ["RESPONSE"]


def _describe(message):
    return dissect.describe_message(dict(message, fragments=message.get("fragments", 1),
                                         length=message.get("length", 0)))


class _Mismatch(Violation):
    """A difference found by the replay itself (not wrapped again)."""


def replay(live, golden):
    """Replay `golden` (a Golden) against the peer of `live` (see the module doc)."""
    session = golden.session
    if session.get("identity") == "admin":
        s = live.admin(session.get("label"))
    else:
        s = live.open(session.get("label"))
    s.manual_tags = True
    s.note(f"replaying {golden.where}: {session.get('description', '')}; "
           f"{len(golden.records)} records, {len(golden.answers)} answers expected")
    seen = {}
    collected = set()
    current = {"record": 0}

    def collect(answer):
        what = f"answer on tag {answer.tag}" + (f" ({answer.expect})" if answer.expect else "")
        try:
            event = s.expect_response(answer.tag, answer.reqs[0], what=what)
        except Violation as exc:
            raise _Mismatch(answer.reqs[0], _text(golden, answer, [
                f"expected (capture): {_describe(answer.message)}",
                f"got: nothing ({exc.detail})"])) from None
        nth = seen.get(answer.tag, 0)
        seen[answer.tag] = nth + 1
        got = live_message(event, _response_flags(s, answer.tag, nth))
        diffs, ignored = differences(answer.message, got, golden.volatile, golden.normalize)
        collected.add(answer.index)
        if diffs:
            lines = [f"{path}: expected {exp!r}, got {act!r}" for path, exp, act in diffs]
            lines += [f"expected (capture): {_describe(answer.message)}",
                      f"got:                {_describe(got)}"]
            lines += [f"ignored as volatile: {v['message']} {v['field']} ({v['why']})"
                      for v in ignored]
            raise _Mismatch(answer.reqs[0], _text(golden, answer, lines))
        if ignored:
            s.note(f"tag {answer.tag}: volatile fields differ (ignored): "
                   + ", ".join(f"{v['message']} {v['field']}" for v in ignored))

    try:
        for index, plaintext in enumerate(golden.records):
            current["record"] = index
            for answer in golden.answers:
                if answer.arrived <= index and answer.index not in collected:
                    collect(answer)
            for answer in golden.answers:
                if answer.cause == index or (answer.cause is None and index == 0):
                    s.await_answer(answer.tag)
            step = golden.step_of(index)
            s.note(f"client record {index}" + (f" ({step['what']})" if step else ""))
            s.send_record(plaintext)
        current["record"] = len(golden.records) - 1
        for answer in golden.answers:
            if answer.index not in collected:
                collect(answer)
        if session.get("ends") == "peer":
            s.expect_close(_step_reqs(golden, current["record"])[0],
                           what="the peer to close the connection, as it did in the capture")
        else:
            extra = [e for e in s.sync(_step_reqs(golden, current["record"])[0])
                     if e["event"] == "response"]
            if extra:
                raise _Mismatch(_step_reqs(golden, current["record"])[0], _text(
                    golden, None, ["answers the capture does not have: " + "; ".join(
                        _describe(live_message(e, ["RESPONSE"])) for e in extra)],
                    _step_reqs(golden, current["record"])))
    except _Mismatch:
        raise
    except Violation as exc:
        reqs = _step_reqs(golden, current["record"])
        raise Violation(reqs[0], _text(golden, None, [
            f"the peer's traffic differs from the capture: {exc}"], reqs,
            golden.step_of(current["record"]))) from None


def _step_reqs(golden, record):
    step = golden.step_of(record)
    return (step or {}).get("reqs") or golden.session.get("reqs") or ["ERR-1"]


def _text(golden, answer, lines, reqs=None, step=None):
    if answer is not None:
        reqs, step = answer.reqs, answer.step
    head = f"{golden.where}"
    if step is not None:
        head += f", step \"{step['what']}\""
    head += f" (requirements {', '.join(reqs or [])})"
    if answer is not None:
        head += f": the answer on tag {answer.tag} differs from the capture"
    return head + "\n    " + "\n    ".join(lines)
