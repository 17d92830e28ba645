"""The live network fuzzer: hostile input inside an authenticated session, judged by the
spec's receive order.

Each case is generated from (seed, case number) and the peer's advertised limits only,
so `--seed S` reproduces a run and a case can be regenerated alone. Most cases run
inside an authenticated session (a fresh handshake per case, so a case never depends on
the one before); a few mutate the preface or the handshake itself.

Generators (structure-aware, from the codec and the scapy layers of parley/layers.py):

    message      one message, 1-3 fields set to boundary values (0, 1, max, max+1 of the
                 field's type and of its spec range), lengths that lie, truncation
    sequence     several messages, some mutated, packed several per record or one each
    text         UTF-8 edge cases (RFC 3629: overlong, surrogates, > U+10FFFF, truncated,
                 the 1024-byte boundary) in BYE and NACK texts
    fragments    fragment games: interleaving, ABORT mid-way, totals that lie, opcode or
                 COMPRESSED changing mid-message, reserved bits, tag reuse, MORE on tag 0
    limits       max_tags outstanding, the reassembly budget, max_message, FRAME_TOO_LARGE,
                 records full of frames
    compression  SET_CONNECTION_OPT, then compressed messages: valid, corrupt, truncated,
                 trailing bytes, a bomb above max_message, fragmented
    splice       the head of one valid message on the tail of another
    bytes        bit flips, insertions, deletions, overwrites in the plaintext before
                 sealing
    responses    unsolicited ACK and NACK frames (mutated), fragmented responses
    admin        PEERS, STATS, SHUTDOWN (mutated) as the admin (never a valid SHUTDOWN)
    ciphertext   a record tampered after sealing: bit flip, length, replay, skipped
                 nonce, the other direction's key (RECORD_AUTH); a length below 24
                 (RECORD_LENGTH)
    preface      HELLO mutations (magic, kind, count, majors)
    handshake    message 1 and 3 mutations, identity payload fields and TLVs

Frames go one per record or several per record; sometimes several records go in one
write, or one record in pieces. Generators take turns in a seeded weighted round-robin
(and the games of the rarer ones take turns too), so a short run reaches every
generator and every NACK code and close reason within reach.

The oracle is session.Session through oracle.PeerModel, set up with the limits the peer
advertised in this case's handshake and the compression answers it gave a probe at the
start: for every record it says which answers (NACK code and tag, ACK) are due, which
frames get nothing, and when the connection must close and why. Records are sent one at
a time and each record's answers awaited before the next (lockstep), so the verdict does
not depend on timing. After every case the peer must answer a PING on the same session
(unless the case closed it) and on a fresh session within 2 s; a crash (the process
exited or a sanitizer reported), a hang or any answer the spec does not allow is a
finding, written as a reproducer JSON (`reproducer()`) that `replay()` runs again.

The model assumes a peer answers each complete request when it processes it, as
oracle.py does (TAG_IN_USE is then unreachable from the wire).
"""

import collections
import dataclasses
import json
import os
import random
import struct
import time
from dataclasses import dataclass, field
from typing import Optional

from scapy.fields import (FieldLenField, FlagsField, IP6Field, IPField, MultipleTypeField,
                          PacketListField, StrField, StrFixedLenField)
from scapy.packet import NoPayload, Raw

from .. import codec, handshake, noise, record
from ..errors import CLOSE_REASONS, NACK_CODES, NACK_NAMES, ParleyError
from ..layers import (ParleyAck, ParleyBye, ParleyFirstFragment, ParleyFrame, ParleyNack,
                      ParleyPeerEntry, ParleyPeerList, ParleyPeersRequest, ParleyPing,
                      ParleySetConnectionOpt, ParleyShutdown, ParleyStatsCounter,
                      ParleyStatsList, ParleyStatsRequest)
from . import net
from .client import LiveSession, RawPayload, compress_any, describe_event
from .oracle import Expected, PeerModel
from .outcomes import Violation
from .peer import HEALTH_TIMEOUT, SANITIZER_MARKS
from .transcript import describe_frame

FORMAT = "parley-live-fuzz-reproducer/1"
ANSWER_TIMEOUT = HEALTH_TIMEOUT  # seconds a due answer or close may take (scaled)
MORE, ABORT, RESPONSE, COMPRESSED = (codec.FLAG_MORE, codec.FLAG_ABORT, codec.FLAG_RESPONSE,
                                     codec.FLAG_COMPRESSED)
PT_MAX = record.PLAINTEXT_MAX
HARNESS_SETTINGS = ("zlib", "gzip", "bz2", "lzma")  # the harness compresses and reads these
SETTING_BY_NAME = {name: number for number, name in codec.SETTING_NAMES.items()}

# Which requirement a finding breaks, by what the spec wanted.
CLOSE_RULES = {
    "RECORD_AUTH": "REC-3", "RECORD_LENGTH": "REC-2", "FRAME_OVERRUN": "REC-5",
    "HANDSHAKE_FAILED": "HS-1", "PAYLOAD_MALFORMED": "HS-5", "BAD_SIGNATURE": "HS-6",
    "REFLECTION": "HS-7", "LIMITS_BELOW_FLOOR": "HS-8", "PREFACE_BAD_MAGIC": "PRE-2",
    "PREFACE_MALFORMED": "PRE-3", "NO_COMMON_MAJOR": "PRE-5",
}

# Session-mode generators and their weights; preface and handshake modes last.
GENERATORS = [
    ("message", 22), ("sequence", 10), ("text", 6), ("fragments", 16), ("limits", 4),
    ("compression", 6), ("splice", 5), ("bytes", 10), ("responses", 4), ("admin", 4),
    ("ciphertext", 3), ("preface", 3), ("handshake", 5),
]

# --- values ---------------------------------------------------------------------------------

TYPE_BOUNDARIES = {
    1: [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff],
    2: [0, 1, 2, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff],
    4: [0, 1, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff],
    8: [0, 1, 0xffffffff, 1 << 32, (1 << 63) - 1, 1 << 63, (1 << 64) - 1],
}
FLAG_VALUES = list(range(16)) + [0x10, 0x20, 0x40, 0x80, 0xf0, 0xff, 0x12, 0x81, 0x1c]
OPCODE_VALUES = [0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 0x7f, 0x80, 0xfe, 0xff]

UTF8_VALID = [
    b"", b"a", b"\x00", b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xed\x9f\xbf",
    b"\xee\x80\x80", b"\xef\xbb\xbf", b"\xef\xbf\xbd", b"\xef\xbf\xbf", b"\xf0\x90\x80\x80",
    b"\xf4\x8f\xbf\xbf", "aé€😀".encode(),
]
UTF8_INVALID = [
    b"\x80", b"\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xc2", b"\xc2\x41", b"\xe0\x80\x80",
    b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xa0\xbd\xed\xb8\x80",
    b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
    b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\xfe", b"\xff", b"\xe2\x82",
    b"\xf0\x9f\x98", b"ok\xff",
]


def _hex(data):
    return bytes(data).hex()


# --- the peer's parameters ------------------------------------------------------------------

@dataclass
class FuzzParams:
    """What cases are generated for: the peer's advertised limits and majors, whether an
    admin session is possible, which option/setting pairs it ACKs (probed at the start),
    and the draft opcodes its manifest claims (their answers are not modelled)."""
    max_tags: int = codec.DEFAULT_MAX_TAGS
    max_message: int = codec.DEFAULT_MAX_MESSAGE
    budget: int = codec.DEFAULT_REASSEMBLY_BUDGET
    majors: list = field(default_factory=lambda: [codec.PROTOCOL_MAJOR])
    admin: bool = False
    opt_support: dict = field(default_factory=dict)  # (option, setting) -> bool
    draft_opcodes: frozenset = frozenset()

    @classmethod
    def of(cls, put, opt_support):
        remote = put.info.remote
        return cls(max_tags=remote.max_tags, max_message=remote.max_message,
                   budget=remote.reassembly_budget, majors=list(put.info.majors),
                   admin=put.settings.has_admin, opt_support=dict(opt_support),
                   draft_opcodes=frozenset(put.settings.manifest.draft_opcodes))

    def compression_settings(self):
        """Option-0 settings the peer ACKs that the harness can write and read."""
        return [name for name in HARNESS_SETTINGS
                if self.opt_support.get((codec.OPT_COMPRESSION, SETTING_BY_NAME[name]))]


class _Limits:
    """An IdentityPayload stand-in for PeerModel (only the limits are read)."""

    def __init__(self, params):
        self.max_tags = params.max_tags
        self.max_message = params.max_message
        self.reassembly_budget = params.budget


# --- the oracle -----------------------------------------------------------------------------

class FuzzModel(PeerModel):
    """oracle.PeerModel with the SET_CONNECTION_OPT answers the peer gave the probe: an
    option/setting it ACKed is ACKed (an ACKed option 0 puts the setting in force at
    once, [OPT-3]), the others are NACKed UNSUPPORTED, on tag 0 too ([TAG-3]: errors in
    a tag-0 request are still reported; a supported one on tag 0 gets nothing and is not
    in force, as it is never ACKed). A setting in force that the harness cannot read
    makes the rest of the case unmodelled ("skip")."""

    def __init__(self, params, admin=False):
        super().__init__(_Limits(params), admin=admin, draft_opcodes=params.draft_opcodes)
        self.opt_support = params.opt_support

    def _answer(self, event):
        tag, opcode, body = event["tag"], event["opcode"], event["body"]
        if opcode != codec.OP_SET_CONNECTION_OPT:
            return super()._answer(event)
        self.session.request_answered(tag)
        option, setting = body["option"], body["setting"]
        if not self.opt_support.get((option, setting)):
            # [OPT-1]; on tag 0 too: errors in a tag-0 request are reported ([TAG-3])
            return Expected("nack", tag, "UNSUPPORTED", opcode)
        if tag == 0:  # never ACKed, so never in force ([TAG-3], [OPT-3])
            return Expected("nothing", 0)
        if option == codec.OPT_COMPRESSION:
            name = codec.SETTING_NAMES[setting]
            if name not in HARNESS_SETTINGS:
                return Expected("skip", tag, reason=f"{name} in force: not modelled")
            self.set_compression(setting)
        return Expected("ack", tag, req_opcode=opcode,
                        body={"option": option, "setting": setting})


class FuzzOracle:
    """The answers due to each send of a session case (see Case.sends)."""

    def __init__(self, params, admin=False):
        self.model = FuzzModel(params, admin)

    @property
    def closed(self):
        return self.model.closed

    def send(self, item):
        """The expectations for one send, in order (one per frame the peer handles)."""
        if self.model.closed:
            return []
        if "raw" in item:  # only record length fields below 24 are sent raw
            return self._close("RECORD_LENGTH")
        if "batch" in item:  # several records in one write
            exps = []
            for plaintext in item["batch"]:
                exps += self.send({"record": plaintext})
                if self.model.closed:
                    break
            if any(e.kind in ("skip", "bye") for e in exps):
                return exps  # predict_and_cut drops such a batch whole
            if self.model.closed:
                # A close may drop answers still queued for the earlier records of the
                # same write ([REC-3]: nothing more is sent): they are allowed, not due.
                close = exps[-1]
                close.optional = sorted({e.tag for e in exps[:-1] if e.tag and e.kind in
                                         ("nack", "ack")} | set(close.optional))
                return [close]
            return exps
        tamper = item.get("tamper")
        if tamper:
            if tamper["op"] == "length" and tamper["value"] < record.RECORD_MIN:
                return self._close("RECORD_LENGTH")
            if tamper["op"] == "replay":  # the record is answered, then its copy closes
                exps = self.model.record(item["record"])
                return exps if self.model.closed else exps + self._close("RECORD_AUTH")
            return self._close("RECORD_AUTH")
        plaintext = item["record"]
        if len(plaintext) < record.PLAINTEXT_MIN:  # the record is shorter than 24 ([REC-2])
            return self._close("RECORD_LENGTH")
        return self.model.record(plaintext)

    def _close(self, reason):
        self.model.closed = True
        self.model.session.closed = reason
        return [Expected("close", reason=reason)]

    def free_tag(self):
        """A tag on which the model holds nothing: the closing PING goes there."""
        s = self.model.session
        busy = {k[0] for k in s.in_progress} | {k[0] for k in s.discarding} | s.remote_requests
        for tag in range(65000, 1, -1):
            if tag not in busy:
                return tag
        raise RuntimeError("no free tag")


def predict_and_cut(case, params):
    """Run the oracle over a session case and cut it where the spec leaves the answer
    open: after a close or a valid BYE (frames after a BYE are not modelled: [BYE-1]),
    and before a frame the model cannot judge (a valid SHUTDOWN from the admin, a draft
    opcode the peer implements, a compression setting the harness cannot read). Returns
    the case, or None when nothing is left."""
    oracle = FuzzOracle(params, case.admin)
    kept = []
    for item in case.sends:
        exps = oracle.send(item)
        cut = next((i for i, e in enumerate(exps) if e.kind in ("skip", "bye")), None)
        if cut is None:
            kept.append(item)
            if oracle.closed:
                break
            continue
        if "record" not in item or item.get("tamper"):
            break  # a batch or a tampered record is not cut: it goes whole
        frames = codec.split_record_plaintext(item["record"])
        keep = cut + 1 if exps[cut].kind == "bye" else cut
        if keep:
            kept.append({"record": codec.encode_record_plaintext(frames[:keep])})
        break
    if not kept:
        return None
    case.sends = kept
    return case


# --- cases ----------------------------------------------------------------------------------

@dataclass
class Case:
    """One fuzz input.

    mode "session": `sends` after a handshake and a PING, each one of
        {"record": plaintext}                 sealed under the next nonce and sent
        {"record": plaintext, "tamper": op}   sealed, then changed ({"op": "flip", "pos",
                                              "bit"}, {"op": "length", "value"}, {"op":
                                              "replay"}, {"op": "skip_nonce"}, {"op":
                                              "wrong_key"})
        {"record": plaintext, "chunks": [n..]} sealed, then written in pieces of n bytes
        {"batch": [plaintext, ...]}           several records sealed, written at once
        {"raw": bytes}                        sent as they are (a record length below 24)
    mode "preface": `hello` is sent instead of HELLO.
    mode "handshake": `handshake` holds the mutations of message 1 ("msg1"), of our
        identity payload ("payload") or of message 3 ("msg3").
    """
    seed: int
    number: int
    generator: str
    mode: str = "session"
    admin: bool = False
    sends: list = field(default_factory=list)
    hello: Optional[bytes] = None
    handshake: Optional[dict] = None
    notes: list = field(default_factory=list)

    def to_json(self):
        out = {"seed": self.seed, "case": self.number, "generator": self.generator,
               "mode": self.mode, "admin": self.admin, "notes": self.notes}
        if self.mode == "session":
            sends = []
            for item in self.sends:
                if "raw" in item:
                    sends.append({"raw": _hex(item["raw"])})
                    continue
                if "batch" in item:
                    sends.append({"batch": [_hex(p) for p in item["batch"]],
                                  "frames": [[_hex(f) for f in codec.cut_frames(p)]
                                             for p in item["batch"]]})
                    continue
                entry = {"record": _hex(item["record"]),
                         "frames": [_hex(f) for f in codec.cut_frames(item["record"])]}
                if item.get("tamper"):
                    entry["tamper"] = item["tamper"]
                if item.get("chunks"):
                    entry["chunks"] = item["chunks"]
                sends.append(entry)
            out["sends"] = sends
        elif self.mode == "preface":
            out["hello"] = _hex(self.hello)
        else:
            out["handshake"] = self.handshake
        return out

    @classmethod
    def from_json(cls, doc):
        case = cls(seed=doc.get("seed", 0), number=doc.get("case", 0),
                   generator=doc.get("generator", "?"), mode=doc.get("mode", "session"),
                   admin=bool(doc.get("admin", False)), notes=list(doc.get("notes", [])))
        if case.mode == "session":
            for entry in doc["sends"]:
                if "raw" in entry:
                    case.sends.append({"raw": bytes.fromhex(entry["raw"])})
                    continue
                if "batch" in entry:
                    case.sends.append({"batch": [bytes.fromhex(p) for p in entry["batch"]]})
                    continue
                if "record" in entry:
                    plaintext = bytes.fromhex(entry["record"])
                else:  # hand-written reproducers may list frames only
                    plaintext = b"".join(bytes.fromhex(f) for f in entry["frames"])
                item = {"record": plaintext}
                if entry.get("tamper"):
                    item["tamper"] = dict(entry["tamper"])
                if entry.get("chunks"):
                    item["chunks"] = list(entry["chunks"])
                case.sends.append(item)
        elif case.mode == "preface":
            case.hello = bytes.fromhex(doc["hello"])
        else:
            case.handshake = dict(doc["handshake"])
        return case

    def describe_sends(self):
        """Every record as hex and its frames decoded, for a failure message."""
        lines = []
        if self.mode == "preface":
            return [f"HELLO bytes {_hex(self.hello)}"]
        if self.mode == "handshake":
            return [f"handshake mutation {json.dumps(self.handshake, sort_keys=True)}"]
        for i, item in enumerate(self.sends):
            if "raw" in item:
                lines.append(f"send {i + 1}: raw bytes {_hex(item['raw'])}")
                continue
            if "batch" in item:
                lines.append(f"send {i + 1}: {len(item['batch'])} records in one write")
                for j, plaintext in enumerate(item["batch"]):
                    lines.append(f"  record {j + 1}: {len(plaintext)} plaintext bytes")
                    for frame in codec.cut_frames(plaintext)[:20]:
                        lines.append(f"    {_short_hex(frame)}  {describe_frame(frame)}")
                continue
            tamper = f" then tampered {item['tamper']}" if item.get("tamper") else ""
            if item.get("chunks"):
                tamper += f", written in pieces of {item['chunks']} bytes"
            lines.append(f"send {i + 1}: record of {len(item['record'])} plaintext bytes"
                         f"{tamper}")
            for frame in codec.cut_frames(item["record"])[:40]:
                lines.append(f"    {_short_hex(frame)}  {describe_frame(frame)}")
        return lines


def _short_hex(data, limit=512):
    data = bytes(data)
    if len(data) <= limit:
        return data.hex()
    return f"{data[:limit].hex()}...({len(data)} bytes)"


class CaseGenerator:
    """Case `number` of a run with `seed`, for a peer with `params` (deterministic)."""

    def __init__(self, seed, params, generators=None):
        self.seed = seed
        self.params = params
        names = dict(GENERATORS)
        if not params.admin:
            names.pop("admin", None)
        if generators:
            names = {n: w for n, w in names.items() if n in generators}
        self.weights = list(names.items())
        self.unencodable = []
        # A weighted round-robin in a seeded order: even a short run draws every
        # generator in proportion to its weight.
        self.schedule = [n for n, w in self.weights for _ in range(w)]
        random.Random(f"parley-fuzz/{seed}/schedule").shuffle(self.schedule)
        self.weight = dict(self.weights)
        self.earlier = [self.schedule[:i].count(n) for i, n in enumerate(self.schedule)]

    def case(self, number):
        rng = random.Random(f"parley-fuzz/{self.seed}/{number}")
        for attempt in range(50):
            slot, lap = (number + attempt) % len(self.schedule), \
                (number + attempt) // len(self.schedule)
            name = self.schedule[slot]
            case = Case(self.seed, number, name)
            # the how-manieth case of this generator: its games take turns
            turn = lap * self.weight[name] + self.earlier[slot]
            gen = _Gen(rng, self.params, case, turn)
            try:
                getattr(gen, "gen_" + name)()
            except (struct.error, OSError, OverflowError) as exc:
                # a mutation scapy cannot encode: draw again (still deterministic)
                self.unencodable.append(f"case {number} {name}: {exc}")
                continue
            if case.mode != "session":
                return case
            if predict_and_cut(case, self.params) is not None:
                return case
        raise RuntimeError(f"case {number}: no usable case generated")


class _Gen:
    """The generators (one method per name in GENERATORS); they fill `case`."""

    def __init__(self, rng, params, case, turn=0):
        self.rng = rng
        self.p = params
        self.case = case
        self.turn = turn

    # --- small choices ----------------------------------------------------------------

    def chance(self, p):
        return self.rng.random() < p

    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def blob(self, n):
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def note(self, text):
        self.case.notes.append(text)

    def tag(self):
        r = self.rng.random()
        if r < 0.08:
            return 0
        if r < 0.55:
            return self.rng.randint(1, 8)
        if r < 0.75:
            return self.pick([1, 2, self.p.max_tags - 1, self.p.max_tags,
                              min(self.p.max_tags + 1, 0xffff), 0x7fff, 0x8000, 0xfffe, 0xffff])
        return self.rng.randint(1, 0xffff)

    def text(self, boundary=False):
        """Bytes of a text field: valid or invalid UTF-8, sometimes at the 1024 boundary."""
        edge = self.pick(UTF8_INVALID if self.chance(0.5) else UTF8_VALID)
        head = self.pick([b"", b"x", "é".encode()])
        body = head + edge + self.pick([b"", b"z"])
        if boundary or self.chance(0.15):
            size = self.pick([1023, 1024, 1025])
            if self.chance(0.5):  # the edge sequence straddles or ends at the boundary
                body = b"a" * max(0, size - len(edge) + self.rng.randint(-2, 2)) + edge
            else:
                body = b"a" * (size - len(edge)) + edge
        return body

    # --- messages as scapy frames ------------------------------------------------------

    MESSAGE_KINDS = [("ping", 30), ("opt", 12), ("bye", 7), ("admin", 8), ("draft", 8),
                     ("unassigned", 6), ("ack", 5), ("nack", 5), ("ping0", 4)]

    def message(self, kind=None, tag=None):
        """A scapy ParleyFrame with its body layer: a valid message of `kind`."""
        if kind is None:
            kinds = self.MESSAGE_KINDS
            kind = self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        tag = self.tag() if tag is None else tag
        rng = self.rng
        if kind == "ping":
            size = self.pick([0, 1, 4, 8, 16, 63, 64, 64, 65])
            return ParleyFrame(tag=tag) / ParleyPing(data=self.blob(size))
        if kind == "ping0":
            return ParleyFrame(tag=0) / ParleyPing(data=self.blob(rng.randint(0, 8)))
        if kind == "opt":
            option = self.pick([0, 0, 0, 1, 1, 2, 255])
            setting = self.pick([0, 1, 2, 3, 3, 3, 4, 5, 255])
            return ParleyFrame(tag=tag) / ParleySetConnectionOpt(option=option, setting=setting)
        if kind == "bye":
            return ParleyFrame(tag=tag) / ParleyBye(reason=self.pick([0, 1, 2, 3, 4, 0xffff]),
                                                   text=self.text())
        if kind == "admin":
            layer = self.pick([ParleyPeersRequest, ParleyStatsRequest, ParleyShutdown])
            return ParleyFrame(tag=tag) / layer()
        if kind == "draft":
            opcode = self.pick(sorted(codec.DRAFT_OPCODES))
            return ParleyFrame(opcode=opcode, tag=tag) / Raw(load=self.blob(rng.randint(0, 40)))
        if kind == "unassigned":
            opcode = self.pick([18, 19, rng.randint(18, 255), 255])
            return ParleyFrame(opcode=opcode, tag=tag) / Raw(load=self.blob(rng.randint(0, 16)))
        if kind == "ack":
            return ParleyFrame(tag=tag) / self.ack_body()
        if kind == "nack":
            return ParleyFrame(tag=tag) / ParleyNack(
                req_opcode=self.pick(OPCODE_VALUES), code=self.pick([0, 1, 5, 18, 19, 0xffff]),
                text=self.text())
        raise ValueError(kind)

    def ack_body(self):
        req = self.pick([codec.OP_PING, codec.OP_SET_CONNECTION_OPT, codec.OP_BYE,
                         codec.OP_PEERS, codec.OP_STATS, codec.OP_SHUTDOWN, 4, 0, 18])
        ack = ParleyAck(req_opcode=req)
        if req == codec.OP_PING:
            return ack / ParleyPing(data=self.blob(self.rng.randint(0, 65)))
        if req == codec.OP_SET_CONNECTION_OPT:
            return ack / ParleySetConnectionOpt(option=self.pick([0, 1, 2]),
                                                setting=self.pick([3, 5]))
        if req == codec.OP_PEERS:
            entries = []
            for _ in range(self.rng.randint(0, 3)):
                family = self.pick([4, 6])
                entries.append(ParleyPeerEntry(node_id=self.blob(32), family=family,
                                               address="127.0.0.1" if family == 4 else "::1",
                                               port=self.rng.randint(0, 0xffff), flags=1))
            return ack / ParleyPeerList(peers=entries)
        if req == codec.OP_STATS:
            return ack / ParleyStatsList(counters=[
                ParleyStatsCounter(id=i, value=self.rng.getrandbits(64))
                for i in range(1, self.rng.randint(1, 11))])
        return ack / Raw(load=self.blob(self.rng.randint(0, 8)))

    # --- structure-aware field mutations ----------------------------------------------

    def _targets(self, pkt):
        """(layer, field) pairs of a scapy frame and its body layers."""
        out = []
        layer = pkt
        while layer is not None and not isinstance(layer, NoPayload):
            for fld in layer.fields_desc:
                if isinstance(fld, (IPField, IP6Field, MultipleTypeField)):
                    continue
                if isinstance(fld, PacketListField):
                    for sub in getattr(layer, fld.name) or []:
                        out += [(sub, f) for f in sub.fields_desc
                                if not isinstance(f, (IPField, IP6Field, MultipleTypeField))]
                    continue
                out.append((layer, fld))
            layer = layer.payload
        return out

    def _int_size(self, fld):
        if isinstance(fld, FlagsField):
            return 1
        return {"B": 1, "H": 2, "I": 4, "Q": 8}.get(fld.fmt[-1], 4)

    def _spec_values(self, layer, name):
        """Boundary values of the field's spec range (0, 1, max, max+1), or None."""
        cls, p = type(layer).__name__, self.p
        if cls == "ParleyFrame":
            if name == "opcode":
                return OPCODE_VALUES
            if name == "flags":
                return FLAG_VALUES
            if name == "tag":
                return [0, 1, 2, p.max_tags - 1, p.max_tags, min(p.max_tags + 1, 0xffff),
                        0x7fff, 0x8000, 0xfffe, 0xffff]
            if name == "length":
                actual = len(bytes(layer.payload))
                return [0, 1, max(0, actual - 1), actual + 1, actual + 4, 16383, 16384, 16385,
                        PT_MAX - 8, 0xffff, 0x7fffffff, 0xffffffff]
        table = {
            ("ParleySetConnectionOpt", "option"): [0, 1, 2, 3, 0xfe, 0xff],
            ("ParleySetConnectionOpt", "setting"): [0, 1, 2, 3, 4, 5, 6, 0xff],
            ("ParleyBye", "reason"): [0, 1, 2, 3, 4, 0x7fff, 0xffff],
            ("ParleyNack", "code"): [0, 1, 2, 5, 16, 18, 19, 0x7fff, 0xffff],
            ("ParleyNack", "req_opcode"): OPCODE_VALUES,
            ("ParleyAck", "req_opcode"): OPCODE_VALUES,
            ("ParleyPeerEntry", "family"): [0, 4, 5, 6, 0xff],
            ("ParleyPeerEntry", "flags"): [0, 1, 2, 0x80, 0xff],
            ("ParleyPeerEntry", "port"): [0, 1, 0xffff],
            ("ParleyStatsCounter", "id"): [0, 1, 10, 11, 0xffff],
        }
        if (cls, name) in table:
            return table[(cls, name)]
        if cls == "ParleyFirstFragment" and name == "total":
            data = len(layer.data)
            return [0, 1, max(0, data - 1), data, data + 1, p.max_message, p.max_message + 1,
                    p.budget, p.budget + 1, 0xffffffff]
        return None

    def mutate_field(self, pkt):
        """Set one field of the frame `pkt` to a boundary value; a description."""
        targets = self._targets(pkt)
        layer, fld = self.pick(targets)
        if fld.name == "length" and isinstance(layer, ParleyFrame) and self.chance(0.5):
            layer, fld = self.pick(targets)  # a lying frame length mostly closes: rarer
        name, cls = fld.name, type(layer).__name__
        if isinstance(fld, FieldLenField):  # a length or count that lies
            of = fld.length_of or fld.count_of
            value = getattr(layer, of)
            actual = len(value) if value is not None else 0
            limit = 0xff if fld.fmt[-1] == "B" else 0xffff
            choice = self.pick([0, 1, max(0, actual - 1), actual + 1, actual + 2, 1023, 1024,
                                1025, limit])
            layer.setfieldval(name, min(choice, limit))
            return f"{cls}.{name}={min(choice, limit)} (holds {actual})"
        if isinstance(fld, StrFixedLenField):
            raw = bytearray(getattr(layer, name) or b"")
            if raw:
                raw[self.rng.randrange(len(raw))] ^= 1 << self.rng.randrange(8)
            layer.setfieldval(name, bytes(raw))
            return f"{cls}.{name} bit flipped"
        if isinstance(fld, StrField):  # StrField, StrLenField, Raw load
            if name == "text":
                value = self.text()
            else:
                size = self.pick([0, 1, 63, 64, 65, 255, 1024, 16384])
                if name == "load" and isinstance(layer, Raw) and self.chance(0.5):
                    old = bytes(layer.load)
                    size = len(old) + self.pick([-1, 1, 2])
                    value = (old + self.blob(4))[:max(0, size)]
                else:
                    value = self.blob(size)
            layer.setfieldval(name, value)
            return f"{cls}.{name}=<{len(value)} bytes>"
        size = self._int_size(fld)
        values = self._spec_values(layer, name)
        if values is None or self.chance(0.3):
            values = TYPE_BOUNDARIES[size]
        value = self.pick(values)
        if self.chance(0.1):
            value = self.rng.getrandbits(8 * size)
        value = min(max(0, value), (1 << (8 * size)) - 1)
        layer.setfieldval(name, value)
        if cls == "ParleyPeerEntry" and name == "family":  # the address field follows it
            layer.setfieldval("address", "::1" if value == codec.FAMILY_IPV6 else "127.0.0.1")
        return f"{cls}.{name}={value:#x}"

    def mutated_frame(self, pkt=None, count=None):
        """The bytes of a message with 1-3 field mutations, sometimes truncated."""
        pkt = pkt if pkt is not None else self.message()
        for _ in range(count if count is not None else self.rng.choice([1, 1, 1, 2, 3])):
            self.note(self.mutate_field(pkt))
        frame = bytes(pkt)
        if self.chance(0.08):  # the body cut short, the header length following it
            header = codec.parse_frame_header(frame)
            body = frame[8:]
            cut = self.rng.randint(0, max(0, len(body) - 1)) if body else 0
            frame = codec.encode_frame(header["opcode"], header["flags"], header["tag"],
                                       body[:cut])
            self.note(f"body truncated to {cut} bytes")
        return frame

    # --- packing --------------------------------------------------------------------

    def records(self, frames, how=None):
        """Plaintexts holding `frames`: all in one record (as far as they fit), one per
        record, or random groups."""
        how = how or self.pick(["one", "one", "each", "groups"])
        out, batch = [], b""
        for frame in frames:
            frame = bytes(frame)
            split = how == "each" or (how == "groups" and batch and self.chance(0.4))
            if batch and (split or len(batch) + len(frame) > PT_MAX):
                out.append(batch)
                batch = b""
            batch += frame[:PT_MAX]
        if batch:
            out.append(batch)
        return out

    def add_records(self, frames, how=None):
        """Append `frames` as records; sometimes several records go in one write (a
        batch), or one record is written in pieces."""
        plaintexts = self.records(frames, how)
        if len(plaintexts) > 1 and self.chance(0.15) and \
                sum(map(len, plaintexts[:4])) <= 100000:
            self.note(f"{min(4, len(plaintexts))} records in one write")
            self.case.sends.append({"batch": plaintexts[:4]})
            plaintexts = plaintexts[4:]
        for plaintext in plaintexts:
            item = {"record": plaintext}
            if self.chance(0.08):
                size = len(plaintext) + 2 + 16
                cuts = sorted(self.rng.sample(range(1, size), min(size - 1,
                                                                  self.rng.randint(1, 4))))
                item["chunks"] = [b - a for a, b in zip([0] + cuts, cuts + [size])]
                self.note(f"a record written in pieces {item['chunks']}")
            self.case.sends.append(item)

    def single(self, tag=None):
        """A valid PING, answered: the filler between hostile frames."""
        tag = self.rng.randint(1, 12) if tag is None else tag
        return codec.encode_frame(codec.OP_PING, 0, tag, self.blob(self.rng.randint(0, 8)))

    # --- generators -----------------------------------------------------------------

    def gen_message(self):
        frames = [self.mutated_frame()]
        if self.chance(0.3):
            frames.insert(0, self.single())
        if self.chance(0.4):
            frames.append(self.single())
        self.add_records(frames)

    def gen_sequence(self):
        frames = []
        for _ in range(self.rng.randint(2, 8)):
            if self.chance(0.5):
                frames.append(self.mutated_frame())
            else:
                frames.append(bytes(self.message()))
        self.note(f"{len(frames)} messages")
        self.add_records(frames)

    def gen_text(self):
        tag = self.tag()
        text = self.text(boundary=self.chance(0.3))
        self.note(f"text {_short_hex(text, 24)} ({len(text)} bytes)")
        if self.chance(0.75):
            pkt = ParleyFrame(tag=tag) / ParleyBye(reason=self.rng.randint(0, 4), text=text)
        else:
            pkt = ParleyFrame(tag=tag) / ParleyNack(req_opcode=codec.OP_PING, code=1, text=text)
        if self.chance(0.2):
            self.note(self.mutate_field(pkt))
        frames = [self.single(), bytes(pkt)] if self.chance(0.3) else [bytes(pkt)]
        self.add_records(frames)

    # fragments ---------------------------------------------------------------------

    def fragment_payload(self):
        """(opcode, flags, payload) of a message to fragment."""
        kind = self.pick(["ping", "ping", "ping", "bigping", "opt", "bye", "admin", "draft",
                          "unassigned", "response"])
        if kind == "ping":
            return codec.OP_PING, 0, self.blob(self.rng.randint(0, 64))
        if kind == "bigping":
            return codec.OP_PING, 0, self.blob(self.rng.randint(65, 300))
        if kind == "opt":
            return codec.OP_SET_CONNECTION_OPT, 0, bytes([self.pick([0, 1, 2]),
                                                          self.pick([3, 0, 5])])
        if kind == "bye":
            return codec.OP_BYE, 0, codec.encode_bye({"reason": 0, "text": self.text()})
        if kind == "admin":
            return self.pick([codec.OP_PEERS, codec.OP_STATS]), 0, b""
        if kind == "draft":
            return self.pick(sorted(codec.DRAFT_OPCODES)), 0, self.blob(self.rng.randint(0, 50))
        if kind == "unassigned":
            return self.rng.randint(18, 255), 0, self.blob(self.rng.randint(0, 20))
        return codec.OP_ACK, RESPONSE, bytes([codec.OP_PING]) + self.blob(4)

    def fragmented(self, tag):
        """The fragment frames of one message on `tag`, with 0-2 games played on it."""
        opcode, flags, payload = self.fragment_payload()
        pieces, rest = [], payload
        for _ in range(self.rng.randint(1, 4)):
            cut = self.rng.randint(0, len(rest))
            pieces.append(rest[:cut])
            rest = rest[cut:]
        pieces.append(rest)
        total = len(payload)
        if self.chance(0.35):
            # below: the first fragment's data alone, or one byte short of the data (a
            # later fragment runs over); above: the last fragment ends early; the limits
            total = self.pick([0, len(pieces[0]), len(pieces[0]), max(0, total - 1),
                               max(0, total - 1), total + 1, total + 100, self.p.max_message,
                               self.p.max_message + 1, self.p.budget + 1, 0xffffffff])
            self.note(f"tag {tag}: total {total} for {len(payload)} data bytes")
        frames = [[opcode, flags | MORE, tag, struct.pack(">I", total) + pieces[0]]]
        for piece in pieces[1:-1]:
            frames.append([opcode, flags | MORE, tag, piece])
        frames.append([opcode, flags, tag, pieces[-1]])
        for _ in range(self.rng.choice([0, 1, 1, 2])):
            game = self.pick(["abort", "opcode", "compressed", "reserved", "no-last", "extra",
                              "short-first", "more-last", "response-bit", "abort-length"])
            i = self.rng.randrange(1, len(frames)) if len(frames) > 1 else 0
            self.note(f"tag {tag}: {game} at fragment {i}")
            if game == "abort":
                abort_opcode = opcode if self.chance(0.5) else self.pick(OPCODE_VALUES)
                frames[i:] = [[abort_opcode, ABORT | (flags & RESPONSE), tag, b""]]
                if self.chance(0.4):  # the tag serves a new message after the ABORT
                    frames.append([codec.OP_PING, 0, tag, b"again"])
            elif game == "abort-length":
                frames[i:] = [[opcode, ABORT, tag, b"x"]]
            elif game == "opcode":
                frames[i][0] = self.pick([o for o in OPCODE_VALUES if o != opcode])
            elif game == "compressed":
                frames[i][1] |= COMPRESSED
            elif game == "reserved":
                frames[i][1] |= self.pick([0x10, 0x80])
            elif game == "no-last":
                if len(frames) > 1:
                    frames.pop()
            elif game == "extra":
                frames.append([opcode, flags, tag, self.blob(self.rng.randint(0, 6))])
            elif game == "short-first":
                frames[0][3] = frames[0][3][:self.rng.randint(0, 3)]
            elif game == "more-last":
                frames[-1][1] |= MORE
            elif game == "response-bit":
                for f in frames:
                    f[1] |= RESPONSE
        out = [codec.encode_frame(o, f, t, p) for o, f, t, p in frames]
        if frames[0][1] & MORE and self.chance(0.15):
            # the first fragment as scapy layers, one field at a boundary value
            o, f, t, p = frames[0]
            pkt = ParleyFrame(opcode=o, flags=f, tag=t) / ParleyFirstFragment(
                total=struct.unpack(">I", p[:4])[0] if len(p) >= 4 else 0, data=p[4:])
            self.note(f"tag {tag}: first fragment {self.mutate_field(pkt)}")
            out[0] = bytes(pkt)
        return out

    def interleave(self, lists):
        """Merge frame lists at random, keeping each list's order."""
        lists = [list(x) for x in lists if x]
        out = []
        while lists:
            i = self.rng.randrange(len(lists))
            out.append(lists[i].pop(0))
            if not lists[i]:
                lists.pop(i)
        return out

    def gen_fragments(self):
        count = self.rng.choice([1, 1, 2, 2, 3])
        tags = []
        for _ in range(count):
            tag = self.rng.randint(1, 6) if self.chance(0.85) else self.tag()
            if tags and self.chance(0.15):
                tag = self.pick(tags)  # tag reuse: two messages on one tag
                self.note(f"tag {tag} reused")
            tags.append(tag)
        lists = [self.fragmented(t) for t in tags]
        if self.chance(0.3):
            lists.append([self.single() for _ in range(self.rng.randint(1, 3))])
        if self.chance(0.1):
            lists.append([codec.encode_frame(codec.OP_PING, MORE, 0, b"\x00\x00\x00\x01")])
            self.note("MORE on tag 0")
        if self.chance(0.1):
            lists.append([codec.encode_frame(codec.OP_PING, ABORT, self.rng.randint(1, 9), b"")])
            self.note("ABORT on a tag with nothing in progress")
        frames = self.interleave(lists)
        if self.chance(0.15):
            i = self.rng.randrange(len(frames))
            pkt = ParleyFrame(bytes(frames[i]))
            self.note(self.mutate_field(pkt))
            frames[i] = bytes(pkt)
        self.add_records(frames, self.pick(["one", "each", "each", "groups"]))

    def gen_limits(self):
        p = self.p
        game = ["too-many-tags", "budget", "frame-too-large", "max-frame", "max-message",
                "many-frames"][self.turn % 6]
        self.note(game)
        if game == "too-many-tags" and p.max_tags <= 4096 and p.max_tags + 2 <= 0xffff:
            frames = [codec.encode_frame(codec.OP_PING, MORE, t, struct.pack(">I", 1))
                      for t in range(1, p.max_tags + 1)]
            frames.append(self.single(p.max_tags + 1))
            if self.chance(0.5):
                frames.append(codec.encode_frame(codec.OP_PING, ABORT, 1, b""))
                frames.append(self.single(p.max_tags + 2))
            self.add_records(frames, "one")
        elif game == "budget" and p.budget // max(1, p.max_message) < min(p.max_tags, 64):
            totals, left = [], p.budget
            while left:
                totals.append(min(p.max_message, left))
                left -= totals[-1]
            if self.chance(0.3):
                totals[-1] -= 1  # one byte short of the budget: the next total of 1 fits
            frames = [codec.encode_frame(codec.OP_PING, MORE, i + 1, struct.pack(">I", t))
                      for i, t in enumerate(totals)]
            extra = len(totals) + 1
            frames.append(codec.encode_frame(codec.OP_PING, MORE, extra,
                                             struct.pack(">I", self.pick([1, 2])) + b"x"))
            if self.chance(0.5):
                frames.append(codec.encode_frame(codec.OP_PING, ABORT, 1, b""))
                frames.append(codec.encode_frame(codec.OP_PING, MORE, extra + 1,
                                                 struct.pack(">I", 1)))
                frames.append(codec.encode_frame(codec.OP_PING, 0, extra + 1, b"k"))
            self.add_records(frames, self.pick(["one", "each"]))
        elif game == "frame-too-large":
            size = self.pick([16385, 16386, 20000, PT_MAX - 8])
            flags = self.pick([0, 0, MORE])
            frames = [codec.encode_frame(self.pick([codec.OP_PING, codec.OP_BYE, 99]), flags,
                                         self.tag() or 1, self.blob(size))]
            if flags & MORE and self.chance(0.7):
                frames.append(codec.encode_frame(codec.OP_PING, 0,
                                                 codec.parse_frame_header(frames[0])["tag"],
                                                 b"end"))
            self.add_records(frames, "each")
        elif game == "max-frame":
            tag = self.rng.randint(1, 9)
            if self.chance(0.5):
                frames = [codec.encode_frame(codec.OP_PING, 0, tag, self.blob(16384))]
            else:
                frames = codec.encode_fragments(codec.OP_PING, 0, tag, self.blob(16384 * 2 + 7))
            self.add_records(frames, self.pick(["one", "each"]))
        elif game == "max-message":
            tag = self.rng.randint(1, 9)
            total = p.max_message + self.pick([0, 1])
            frames = [codec.encode_frame(codec.OP_PING, MORE, tag,
                                         struct.pack(">I", total) + self.blob(100)),
                      codec.encode_frame(codec.OP_PING, MORE, tag, self.blob(1000)),
                      codec.encode_frame(codec.OP_PING, self.pick([ABORT, 0]), tag, b"")]
            frames.append(self.single(tag))
            self.add_records(frames, self.pick(["one", "each"]))
        else:  # a record as full as it gets of small frames
            answered = self.chance(0.3)
            frames, size = [], 0
            while size + 10 <= PT_MAX:
                tag = (len(frames) % 200) + 1 if answered and len(frames) < 400 else 0
                frame = codec.encode_frame(codec.OP_PING, 0, tag, b"" if tag == 0 else b"xy")
                frames.append(frame)
                size += len(frame)
            self.add_records(frames, "one")

    def gen_compression(self):
        settings = self.p.compression_settings()
        if not settings or self.chance(0.05):
            self.note("COMPRESSED while no setting is in force")
            frames = [codec.encode_frame(codec.OP_PING, COMPRESSED, self.rng.randint(1, 9),
                                         codec.compress(b"hi"))]
            self.add_records(frames)
            return
        setting = self.pick(settings)
        opt_tag = 0 if self.chance(0.08) else self.rng.randint(1, 9)
        self.note(f"compression {setting} (SET_CONNECTION_OPT on tag {opt_tag})")
        self.case.sends.append({"record": codec.encode_frame(
            codec.OP_SET_CONNECTION_OPT, 0, opt_tag,
            bytes([codec.OPT_COMPRESSION, SETTING_BY_NAME[setting]]))})
        frames = []
        for _ in range(self.rng.randint(1, 4)):
            tag = self.rng.randint(1, 12) if self.chance(0.9) else 0
            opcode = self.pick([codec.OP_PING, codec.OP_PING, codec.OP_BYE,
                                codec.OP_SET_CONNECTION_OPT, codec.OP_STATS, 77])
            plain = {codec.OP_PING: self.blob(self.pick([0, 5, 64, 65, 2000])),
                     codec.OP_BYE: codec.encode_bye({"reason": 0, "text": self.text()}),
                     codec.OP_SET_CONNECTION_OPT: bytes([self.pick([0, 1]),
                                                         self.pick([0, 3, 4, 9])]),
                     }.get(opcode, b"")
            packed = compress_any(setting, plain)
            game = self.pick(["ok", "ok", "ok", "corrupt", "truncated", "trailing", "empty",
                              "plain", "fragmented", "fragment-flag", "abort", "bomb",
                              "uncompressed", "switch"])
            self.note(f"tag {tag}: {game}")
            if game == "corrupt" and packed:
                b = bytearray(packed)
                for _ in range(self.rng.randint(1, 3)):
                    b[self.rng.randrange(len(b))] ^= 1 << self.rng.randrange(8)
                packed = bytes(b)
            elif game == "truncated":
                packed = packed[:self.rng.randint(0, max(0, len(packed) - 1))]
            elif game == "trailing":
                packed += self.blob(self.rng.randint(1, 4))
            elif game == "empty":
                packed = b""
            elif game == "plain":
                packed = plain
            elif game == "bomb" and setting == "zlib" and self.chance(0.3):
                packed = _bomb(self.p.max_message + self.pick([0, 1]))
            if game == "uncompressed":
                frames.append(codec.encode_frame(opcode, 0, tag, plain[:16384]))
            elif game == "switch":
                body = bytes([self.pick([0, 1]), self.rng.randint(0, 5)])
                frames.append(codec.encode_frame(codec.OP_SET_CONNECTION_OPT, 0, tag or 1, body))
            elif game == "abort":
                frames.append(codec.encode_frame(opcode, ABORT | COMPRESSED, tag or 1, b""))
            elif game in ("fragmented", "fragment-flag") or len(packed) > 16384:
                parts = codec.encode_fragments(opcode, COMPRESSED, tag or 1, packed,
                                               chunk=self.pick([8, 100, 16384]))
                if game == "fragment-flag":
                    i = self.rng.randrange(len(parts))
                    h = codec.parse_frame_header(parts[i])
                    parts[i] = codec.encode_frame(h["opcode"], h["flags"] & ~COMPRESSED,
                                                  h["tag"], parts[i][8:])
                frames += parts
            else:
                frames.append(codec.encode_frame(opcode, COMPRESSED, tag, packed))
        self.add_records(frames, self.pick(["one", "each", "groups"]))

    def gen_splice(self):
        a = bytes(self.message()) if self.chance(0.5) else self.mutated_frame()
        b = bytes(self.message())
        i = self.rng.randint(0, len(a))
        j = self.rng.randint(0, len(b))
        self.note(f"spliced {i} bytes of one frame onto the last {len(b) - j} of another")
        frames = [a[:i] + b[j:]]
        if self.chance(0.4):
            frames.append(self.single())
        plaintext = b"".join(frames)
        if self.chance(0.5) and len(plaintext) >= 8:
            self.case.sends.append({"record": plaintext})
        else:  # the splice inside a record of whole frames
            self.add_records([self.single(), plaintext], "one")

    def gen_bytes(self):
        frames = [bytes(self.message()) for _ in range(self.rng.randint(1, 4))]
        plaintext = bytearray(b"".join(frames))
        starts = []
        pos = 0
        for f in frames:
            starts.append(pos)
            pos += len(f)
        for _ in range(self.rng.randint(1, 4)):
            if self.chance(0.5):  # aim at a frame header
                at = self.pick(starts) + self.rng.randrange(8)
            else:
                at = self.rng.randrange(max(1, len(plaintext)))
            at = min(at, max(0, len(plaintext) - 1))
            op = self.pick(["flip", "flip", "set", "insert", "delete", "duplicate", "truncate",
                            "append"])
            if op == "flip" and plaintext:
                plaintext[at] ^= 1 << self.rng.randrange(8)
            elif op == "set" and plaintext:
                plaintext[at] = self.pick([0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff])
            elif op == "insert":
                plaintext[at:at] = self.blob(self.rng.randint(1, 8))
            elif op == "delete":
                del plaintext[at:at + self.rng.randint(1, 8)]
            elif op == "duplicate":
                plaintext[at:at] = plaintext[at:at + self.rng.randint(1, 16)]
            elif op == "truncate":
                del plaintext[at:]
            else:
                plaintext += self.blob(self.rng.randint(1, 8))
            self.note(f"{op} at byte {at}")
        self.case.sends.append({"record": bytes(plaintext[:PT_MAX])})

    def gen_responses(self):
        frames = []
        for _ in range(self.rng.randint(1, 4)):
            pkt = self.message(self.pick(["ack", "nack"]))
            if self.chance(0.6):
                frames.append(self.mutated_frame(pkt))
            else:
                frames.append(bytes(pkt))
        if self.chance(0.3):
            tag = self.rng.randint(1, 9)
            frames += codec.encode_fragments(codec.OP_ACK, RESPONSE, tag,
                                             bytes([codec.OP_PING]) + self.blob(30), chunk=10)
            if self.chance(0.5):
                frames.insert(-1, codec.encode_frame(codec.OP_ACK, RESPONSE | ABORT, tag, b""))
            self.note(f"a fragmented response on tag {tag}")
        frames.append(self.single())
        self.add_records(frames)

    def gen_admin(self):
        self.case.admin = True
        frames = []
        for _ in range(self.rng.randint(1, 4)):
            pkt = self.message(self.pick(["admin", "admin", "ping"]))
            if self.chance(0.5):
                frames.append(self.mutated_frame(pkt))
            elif self.chance(0.3):
                header = codec.parse_frame_header(bytes(pkt))
                frames += codec.encode_fragments(header["opcode"], 0, header["tag"] or 1,
                                                 bytes(pkt)[8:], chunk=self.pick([4, 16]))
            else:
                frames.append(bytes(pkt))
        self.add_records(frames)

    def gen_ciphertext(self):
        if self.chance(0.6):
            self.case.sends.append({"record": self.single()})
        op = ["flip", "length-short", "replay", "length", "skip_nonce", "wrong_key",
              "flip"][self.turn % 7]
        plaintext = self.single()
        if op == "flip":
            tamper = {"op": "flip", "pos": self.rng.randrange(2, 2 + len(plaintext) + 16),
                      "bit": self.rng.randrange(8)}
        elif op == "length":
            tamper = {"op": "length", "value": self.pick([0, 1, 8, 16, 23, 24, 25,
                                                          len(plaintext) + 15,
                                                          len(plaintext) + 17, 4096, 0xffff])}
        elif op == "length-short":
            tamper = {"op": "length", "value": self.rng.randint(0, 23)}
        else:
            tamper = {"op": op}
        if tamper.get("value") == len(plaintext) + 16:
            tamper["value"] += 1
        self.note(f"ciphertext {tamper}")
        self.case.sends.append({"record": plaintext, "tamper": tamper})

    # --- preface and handshake ------------------------------------------------------

    def gen_preface(self):
        self.case.mode = "preface"
        game = ["magic", "no-common", "count", "kind", "majors", "accept"][self.turn % 6]
        majors = [1]
        kind = codec.KIND_HELLO
        magic = bytearray(codec.MAGIC)
        if game == "magic":
            magic[self.rng.randrange(6)] ^= 1 << self.rng.randrange(8)
        elif game == "kind":
            kind = self.pick([0, 2, 3, 4, 0xff])
        elif game == "count":
            count = self.pick([0, 17, 18, 0xff])
            majors = sorted(self.rng.sample(range(1, 256), count), reverse=True)
        elif game == "no-common":
            majors = self.pick([[2], [255], [3, 2], list(range(17, 1, -1))[:16]])
        elif game == "majors":
            majors = self.pick([[0], [1, 1], [1, 2], [2, 1, 0], list(range(1, 17)), [1, 0],
                                [255, 254, 1, 1]])
        else:
            majors = self.pick([[1], [255, 1], [9, 7, 1], list(range(16, 0, -1)), [2, 1]])
        hello = bytes(magic) + bytes([kind, len(majors)]) + bytes(majors)
        self.note(f"{game}: HELLO {hello.hex()}")
        self.case.hello = hello

    HANDSHAKE_GAMES = ["limits-low", "key-peer", "tlv-overrun", "sig-flip", "msg1-small-order",
                       "fields", "msg3-flip", "tlv-ok", "key-small-order", "sig-s-high",
                       "msg1-length", "msg3-length", "limits-ok", "tlv-short", "tlv-big",
                       "key-flip", "sig-zero", "cut"]

    def gen_handshake(self):
        """One mutation of message 1, message 3 or our identity payload; the games take
        turns (`turn`), the values are drawn."""
        self.case.mode = "handshake"
        game = self.HANDSHAKE_GAMES[self.turn % len(self.HANDSHAKE_GAMES)]
        ops, payload = {}, {}
        if game == "msg1-length":
            ops["msg1"] = {"op": "length", "value": self.pick([0, 1, 31, 33, 64, 200])}
        elif game == "msg1-small-order":
            ops["msg1"] = {"op": "key", "key": self.pick(SMALL_ORDER_X25519).hex()}
        elif game == "msg3-flip":
            ops["msg3"] = {"op": "flip", "pos": self.rng.randrange(2, 2 + 48 + 114 + 16),
                           "bit": self.rng.randrange(8)}
        elif game == "msg3-length":
            ops["msg3"] = {"op": "length", "delta": self.pick([-200, -1, 1, 16])}
        elif game.startswith("limits"):
            name = self.pick(["max_tags", "max_message", "reassembly_budget"])
            floor = {"max_tags": codec.MIN_MAX_TAGS, "max_message": codec.MIN_MAX_MESSAGE,
                     "reassembly_budget": codec.DEFAULT_MAX_MESSAGE}[name]
            top = 0xffff if name == "max_tags" else 0xffffffff
            values = [0, 1, floor - 1] if game == "limits-low" else [floor, floor + 1, top]
            payload["fields"] = {name: self.pick(values)}
        elif game.startswith("tlv"):
            tlvs = b""
            for _ in range(self.rng.randint(0 if game != "tlv-ok" else 1, 3)):
                value = self.blob(self.pick([0, 1, 7, 300]))
                tlvs += struct.pack(">HH", self.rng.getrandbits(16), len(value)) + value
            if game == "tlv-overrun":
                tlvs += struct.pack(">HH", 7, self.pick([4, 10, 0xffff])) + b"abc"
            elif game == "tlv-short":
                tlvs += self.blob(self.rng.randint(1, 3))
            elif game == "tlv-big":
                tlvs += struct.pack(">HH", 9, 60000) + bytes(60000)
            payload["tail"] = tlvs.hex()
        elif game.startswith("key"):
            payload["key"] = game[4:]
        elif game.startswith("sig"):
            payload["signature"] = game[4:]
        elif game == "fields":
            payload["fields"] = {"minor": self.pick([0, 1, 0xffff]),
                                 "capabilities": self.pick([0, 0xf, 0xffffffff]),
                                 "listen_port": self.pick([0, 1, 0xffff])}
        else:
            payload["cut"] = self.pick([0, 32, 96, 113])
        if payload:
            ops["payload"] = payload
        self.note(f"{game}: {ops if game != 'tlv-big' else 'a 60000-byte extension'}")
        self.case.handshake = ops


# X25519 public keys of small order (their shared secret is all zeros, [HS-4]).
SMALL_ORDER_X25519 = [
    bytes(32),
    bytes([1]) + bytes(31),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
]
# An Ed25519 point of small order (order 1: the identity), for a bad identity key.
SMALL_ORDER_ED25519 = bytes([1]) + bytes(31)
_BOMBS = {}


def _bomb(size):
    """zlib of `size` zero bytes (cached: a few KB that decompress to MiBs)."""
    if size not in _BOMBS:
        import zlib
        _BOMBS[size] = zlib.compress(bytes(size), 9)
    return _BOMBS[size]


# --- running a case -------------------------------------------------------------------------

@dataclass
class Finding:
    kind: str  # crash, hang, wrong-answer, missing-answer, unexpected-answer, no-close,
    #            unexpected-close, violation
    rule: str
    detail: str
    expected: list = field(default_factory=list)

    def to_json(self):
        return {"kind": self.kind, "rule": self.rule, "detail": self.detail,
                "expected": self.expected}


class CaseFailed(Exception):
    def __init__(self, finding):
        super().__init__(finding.detail)
        self.finding = finding


class PeerOverloaded(Exception):
    """The peer sent BYE OVERLOAD and closed: allowed for its own resource limits
    ([ERR-3]); the case ends without a verdict."""


# What the fuzzer never asks for, and why (listed apart, so "not reached" means a gap).
OUT_OF_REACH = {
    "TAG_IN_USE": "a peer that answers each request at once never has an unanswered, "
                  "complete request when the next frame arrives",
    "SHUTTING_DOWN": "needs a SHUTDOWN from the admin, which stops the peer",
    "BUSY": "the peer's own overload", "INTERNAL": "the peer's own failure",
    "PREFACE_BAD_CHOICE": "a close reason of the initiator side (the peer dials nobody here)",
    "TIMEOUT": "HANDSHAKE_TIMEOUT is 10 s (tests/test_live_timeouts.py)",
}


class Coverage:
    """What a run reached: the NACK codes and close reasons the peer gave as the spec
    wanted, every NACK code it sent, the outcome of each frame and the generators."""

    def __init__(self):
        self.nack = collections.Counter()
        self.close = collections.Counter()
        self.nack_sent = collections.Counter()
        self.outcomes = collections.Counter()
        self.generators = collections.Counter()

    def as_dict(self):
        return {
            "nack_codes": dict(sorted(self.nack.items())),
            "nack_codes_not_reached": [n for n in NACK_CODES if n not in self.nack
                                       and n not in OUT_OF_REACH],
            "close_reasons": dict(sorted(self.close.items())),
            "close_reasons_not_reached": [r for r in CLOSE_REASONS if r not in self.close
                                          and r not in OUT_OF_REACH],
            "out_of_reach": OUT_OF_REACH,
            "nack_codes_sent": dict(sorted(self.nack_sent.items())),
            "outcomes": dict(sorted(self.outcomes.items())),
            "generators": dict(sorted(self.generators.items())),
        }


class Runner:
    """Runs cases against the peer under test (`put`: peer.PeerUnderTest)."""

    def __init__(self, put, params, coverage=None, transcript=None):
        self.put = put
        self.params = params
        self.coverage = coverage or Coverage()
        self.transcript = transcript
        self.identity = handshake.Identity.generate()
        self.spare = None  # a fresh session that answered a PING, for the next case
        self.last_sealed = b""  # the last record sent whole (a replay sends it again)

    # --- sessions ---------------------------------------------------------------------

    def open(self, admin=False):
        identity = self.put.admin if admin else self.identity
        return LiveSession.open(self.put.address, self.transcript, "fuzz", identity=identity)

    def fresh_session(self, admin=False):
        """A session that answered a PING on a fresh tag: the case starts from there."""
        if not admin and self.spare is not None:
            s, self.spare = self.spare, None
            return s
        s = self.open(admin)
        s.roundtrip("CONV-4", timeout=HEALTH_TIMEOUT)
        return s

    def drop_spare(self):
        if self.spare is not None:
            self.spare.close()
            self.spare = None

    def health(self, mark):
        """None when the peer is alive, wrote no sanitizer report since `mark`, and
        answers a PING on a fresh session within 2 s (kept as the next case's session);
        else a Finding (crash or hang)."""
        self.drop_spare()
        report = next((line for line in self.put.log.since(mark)
                       if any(m in line for m in SANITIZER_MARKS)), None)
        if report:
            return Finding("crash", "CONV-4", f"a sanitizer reported: {report.strip()[:300]}")
        crash = self.put.crashed()
        if crash:
            return Finding("crash", "CONV-4", f"the peer crashed: {crash}")
        deadline = net.Deadline(net.scaled(HEALTH_TIMEOUT))
        s = None
        try:
            s = self.open()
            s.roundtrip("CONV-4", timeout=max(deadline.left(), 0.05) / net.TIMEOUT_SCALE[0])
        except Exception as exc:  # noqa: BLE001 - any failure here is the finding
            if s is not None:
                s.close()
            if self.put.process is not None:  # a dying process (abort, core dump)
                self.put.process.wait_exit(0.5)
            crash = self.put.crashed()
            if crash:
                return Finding("crash", "CONV-4", f"the peer crashed: {crash}")
            return Finding("hang", "CONV-4", "a fresh session got no PING answer within "
                                             f"{HEALTH_TIMEOUT:.0f} s ({exc})")
        self.spare = s
        return None

    # --- one case ---------------------------------------------------------------------

    def run(self, case):
        """Run `case`; a Finding when the peer's answer is not one the spec allows."""
        self.coverage.generators[case.generator] += 1
        try:
            if case.mode == "session":
                self._session_case(case)
            elif case.mode == "preface":
                self.drop_spare()
                self._preface_case(case)
            else:
                self.drop_spare()
                self._handshake_case(case)
        except CaseFailed as exc:
            return exc.finding
        except PeerOverloaded:
            self.coverage.outcomes["peer-overloaded"] += 1
            return None
        except Violation as exc:
            return Finding("violation", exc.req, str(exc))
        except (net.Timeout, net.Closed, OSError) as exc:
            # a close or a silence the case did not expect (the health check that follows
            # tells a crash or a hang apart)
            return Finding("unexpected-close" if isinstance(exc, net.Closed) else
                           "missing-answer", "ERR-2" if case.mode == "session" else "HS-1",
                           f"{type(exc).__name__}: {exc}")
        return None

    # session mode ------------------------------------------------------------------

    def _session_case(self, case):
        try:
            s = self.fresh_session(case.admin)
        except (Violation, net.Timeout, net.Closed, OSError) as exc:
            raise CaseFailed(Finding("hang", "CONV-4", f"no session before the case: {exc}"))
        try:
            remote = s.remote  # the limits this session's identity payload advertised
            params = dataclasses.replace(self.params, max_tags=remote.max_tags,
                                         max_message=remote.max_message,
                                         budget=remote.reassembly_budget)
            oracle = FuzzOracle(params, case.admin)
            s.manual_tags = True
            for index, item in enumerate(case.sends):
                exps = oracle.send(item)
                steps = [(item, exps)]
                if (item.get("tamper") or {}).get("op") == "replay":
                    # lockstep: the copy goes only once the record is answered
                    steps = [({"record": item["record"]}, exps[:-1]),
                             ({"copy": True}, exps[-1:])]
                for step, step_exps in steps:
                    self._register(s, step_exps)
                    try:
                        self._send(s, step)
                    except net.Closed as exc:
                        raise CaseFailed(Finding(
                            "unexpected-close", "ERR-2",
                            f"send {index + 1}: the peer had closed the connection "
                            f"({exc.how})", [str(e) for e in exps])) from None
                    except TimeoutError:
                        raise CaseFailed(Finding(
                            "hang", "CONV-4", f"send {index + 1}: the peer stopped reading",
                            [str(e) for e in exps])) from None
                    self._check(s, step_exps, f"send {index + 1}")
                if oracle.closed:
                    return
            # The same session still answers a PING ([ERR-2]).
            tag = oracle.free_tag()
            ping = codec.encode_frame(codec.OP_PING, 0, tag, b"fuzz")
            exps = oracle.send({"record": ping})
            self._register(s, exps)
            s.send_record(ping)
            self._check(s, exps, "closing PING on the same session", rule="ERR-2")
            extra = [e for e in s.inbox if e["event"] == "response"]
            if extra:
                raise CaseFailed(Finding(
                    "unexpected-answer", "TAG-3" if {e["tag"] for e in extra} == {0} else "TAG-2",
                    "answers the spec does not call for: "
                    + "; ".join(describe_event(e) for e in extra)))
        finally:
            s.close()

    @staticmethod
    def _register(s, exps):
        for e in exps:
            if e.kind in ("nack", "ack") and e.tag:
                s.await_answer(e.tag)
            elif e.kind == "bye" and e.tag:
                s.await_answer(e.tag)
            for tag in e.optional:
                s.await_answer(tag)

    def _send(self, s, item):
        if "raw" in item:
            s.send_raw(item["raw"], "record bytes")
            return
        if "copy" in item:  # the last record again: its nonce is used up ([REC-3])
            s.send_raw(self.last_sealed, "the previous record again (replayed)")
            return
        if "batch" in item:
            sealed = b""
            for plaintext in item["batch"]:
                for frame in codec.cut_frames(plaintext):
                    s._note_sent_frame(frame)
                sealed += s.seal(plaintext)
            s.send_raw(sealed, f"{len(item['batch'])} records in one write")
            return
        if item.get("chunks"):
            for frame in codec.cut_frames(item["record"]):
                s._note_sent_frame(frame)
            sealed = s.seal(item["record"])
            pos = 0
            for n in item["chunks"]:
                s.send_raw(sealed[pos:pos + n], f"{n} bytes of a record")
                pos += n
            if pos < len(sealed):
                s.send_raw(sealed[pos:], "the rest of the record")
            return
        tamper = item.get("tamper")
        if not tamper:
            self.last_sealed = s.send_record(item["record"])
            return
        op = tamper["op"]
        plaintext = item["record"]
        if op == "skip_nonce":
            s.seal(plaintext)  # sealed under the next nonce and never sent
            sealed = s.seal(plaintext)
        elif op == "wrong_key":
            other = noise.CipherState(s.channel.reader.cipher.k, s.channel.send.n)
            sealed = record.seal(other, plaintext)
            s.seal(plaintext)
        else:
            sealed = bytearray(s.seal(plaintext))
            if op == "flip":
                pos = min(max(2, tamper["pos"]), len(sealed) - 1)
                sealed[pos] ^= 1 << tamper["bit"]
            elif op == "length":
                value = tamper["value"]
                body = bytes(sealed[2:])
                if value < record.RECORD_MIN:
                    body = body[:value]
                elif value > len(body):
                    body += bytes(value - len(body))
                sealed = struct.pack(">H", value) + body
            sealed = bytes(sealed)
        s.send_raw(sealed, f"record tampered: {tamper}")

    def _check(self, s, exps, where, rule=None):
        """Await the answers `exps` calls for, compare them, then the close if due."""
        want = [e for e in exps if e.kind in ("nack", "ack") or (e.kind == "bye" and e.tag)]
        optional = {t for e in exps for t in e.optional}
        closing = next((e for e in exps if e.kind in ("close", "bye")), None)
        for e in exps:
            self.coverage.outcomes[{"nothing": "silence"}.get(e.kind, e.kind)] += 1
        expected_text = [str(e) for e in exps]
        deadline = net.Deadline(net.scaled(ANSWER_TIMEOUT))
        while want:
            for event in list(s.inbox):
                if event["event"] != "response":
                    continue
                index = next((i for i, e in enumerate(want) if e.tag == event["tag"]), None)
                if index is None:
                    if event["tag"] in optional:
                        optional.discard(event["tag"])
                        s.inbox.remove(event)
                        continue
                    raise CaseFailed(Finding(
                        "unexpected-answer", "TAG-3" if event["tag"] == 0 else "TAG-2",
                        f"{where}: {describe_event(event)} where the spec calls for "
                        f"{'; '.join(expected_text) or 'nothing'}", expected_text))
                self._compare(want.pop(index), event, where, expected_text, rule)
                s.inbox.remove(event)
            if not want:
                break
            try:
                self._pump(s, deadline, where, expected_text)
            except net.Timeout:
                raise CaseFailed(Finding(
                    "missing-answer", rule or "TAG-2",
                    f"{where}: no {'; '.join(map(str, want))} within "
                    f"{ANSWER_TIMEOUT:.0f} s; received meanwhile: {s.describe_inbox()}",
                    expected_text)) from None
            except net.Closed as exc:
                self._overloaded(s)
                raise CaseFailed(Finding(
                    "unexpected-close", rule or "ERR-2",
                    f"{where}: the connection closed ({exc.how}) where the spec calls for "
                    f"{'; '.join(map(str, want))}", expected_text)) from None
        if closing is None:
            return
        reason = "BYE" if closing.kind == "bye" else closing.reason
        if reason in ("RECORD_AUTH", "RECORD_LENGTH"):
            try:
                _, received = s.conn.wait_closed(ANSWER_TIMEOUT)
            except net.Timeout:
                raise CaseFailed(Finding(
                    "no-close", CLOSE_RULES[reason],
                    f"{where}: still open {ANSWER_TIMEOUT:.0f} s after a record the spec "
                    f"closes with {reason}", expected_text)) from None
            if received:
                raise CaseFailed(Finding(
                    "violation", CLOSE_RULES[reason],
                    f"{where}: the peer sent {len(received)} bytes before closing "
                    f"({reason}: nothing more may be sent)", expected_text))
        else:
            while True:
                try:
                    self._pump(s, deadline, where, expected_text)
                except net.Closed:
                    break
                except net.Timeout:
                    raise CaseFailed(Finding(
                        "no-close", CLOSE_RULES.get(reason, "BYE-1"),
                        f"{where}: still open {ANSWER_TIMEOUT:.0f} s after input the spec "
                        f"closes ({reason}); received: {s.describe_inbox()}",
                        expected_text)) from None
            extra = [e for e in s.inbox if e["event"] == "response"
                     and e["tag"] not in optional]
            if extra:
                raise CaseFailed(Finding(
                    "unexpected-answer", "TAG-2",
                    f"{where}: before closing ({reason}) the peer sent "
                    + "; ".join(describe_event(e) for e in extra), expected_text))
        if reason == "BYE":
            self.coverage.outcomes["bye-closed"] += 1
        else:
            self.coverage.close[reason] += 1

    @staticmethod
    def _pump(s, deadline, where, expected_text):
        """s.pump(), with what the peer broke as a sender (an answer on a tag where none
        is due, an invalid frame) told next to the answers the spec calls for."""
        try:
            s.pump(deadline)
        except Violation as exc:
            kind = "unexpected-answer" if exc.req in ("TAG-2", "TAG-3") else "violation"
            raise CaseFailed(Finding(kind, exc.req, f"{where}: {exc.detail}",
                                     expected_text)) from None

    @staticmethod
    def _overloaded(s):
        bye = s.peer_bye
        if bye is not None and bye["body"].get("reason") == codec.BYE_OVERLOAD:
            raise PeerOverloaded()

    def _compare(self, exp, event, where, expected_text, rule):
        body = event["body"]
        got = describe_event(event)
        if event["opcode"] == codec.OP_NACK:
            name = NACK_NAMES.get(body["code"], body["code"])
            self.coverage.nack_sent[str(name)] += 1
        if exp.kind == "nack":
            if event["opcode"] != codec.OP_NACK or name != exp.code:
                raise CaseFailed(Finding("wrong-answer", rule or "ERR-1",
                                         f"{where}: {got} where the spec calls for {exp}",
                                         expected_text))
            if body["req_opcode"] != exp.req_opcode:
                raise CaseFailed(Finding("wrong-answer", "FRAME-8",
                                         f"{where}: {got} carries req_opcode "
                                         f"{body['req_opcode']}, not {exp.req_opcode}",
                                         expected_text))
            self.coverage.nack[exp.code] += 1
            return
        # ACK (also of a BYE)
        req_opcode = exp.req_opcode
        if event["opcode"] != codec.OP_ACK:
            raise CaseFailed(Finding("wrong-answer", rule or "ERR-1",
                                     f"{where}: {got} where the spec calls for "
                                     f"{exp if exp.kind != 'bye' else 'ACK of the BYE'}",
                                     expected_text))
        if body["req_opcode"] != req_opcode:
            raise CaseFailed(Finding("wrong-answer", "ACK-1",
                                     f"{where}: {got} carries req_opcode {body['req_opcode']}, "
                                     f"not {req_opcode}", expected_text))
        for key, value in exp.body.items():
            if body.get(key) != value:
                rule = "PING-1" if key == "data" else "OPT-1"
                raise CaseFailed(Finding("wrong-answer", rule,
                                         f"{where}: {got}: {key} is {body.get(key)!r}, not "
                                         f"{value!r}", expected_text))
        self.coverage.outcomes["ack-confirmed"] += 1

    # preface mode ------------------------------------------------------------------

    def _preface_case(self, case):
        hello = case.hello
        expected = codec.negotiate(hello, self.put.info.majors)
        rule = {"PREFACE_BAD_MAGIC": "PRE-2", "PREFACE_MALFORMED": "PRE-3",
                "NO_COMMON_MAJOR": "PRE-5", None: "PRE-4"}[expected.error]
        want = f"{expected.answer.hex() or 'nothing'}" + (f", then close ({expected.error})"
                                                         if expected.error else "")
        s = LiveSession.connect(self.put.address, self.transcript, "fuzz")
        try:
            s.send_hello(raw=hello)
            if not expected.answer:
                self._silent_close(s, rule, expected.error, [want])
                return
            try:
                got = s.read_preface()
            except (net.Timeout, net.Closed) as exc:
                raise CaseFailed(Finding("missing-answer", rule,
                                         f"HELLO {hello.hex()}: no answer ({exc}); due: {want}",
                                         [want])) from None
            if got != expected.answer:
                raise CaseFailed(Finding("wrong-answer", rule,
                                         f"HELLO {hello.hex()} answered {got.hex()}; due: "
                                         f"{want}", [want]))
            if expected.error:
                self._silent_close(s, rule, expected.error, [want])
                return
            self.coverage.outcomes["accept"] += 1
            if expected.major != codec.PROTOCOL_MAJOR:
                return
            s.answer_bytes = got
            s.begin_handshake()
            s.send_handshake_message()
            s.read_handshake_message()
            s.send_handshake_message()
            s.finish_handshake()
            s.roundtrip("PRE-8")
        except ParleyError as err:
            raise CaseFailed(Finding("violation", "HS-2", f"after HELLO {hello.hex()}: {err}"))
        finally:
            s.close()

    def _silent_close(self, s, rule, reason, expected_text, fin_after=1.0):
        """Close without a byte sent. A peer that reads a whole unit before judging it
        may wait for more bytes; our FIN then ends the wait."""
        try:
            how, received = s.conn.wait_closed(fin_after)
        except net.Timeout as exc:
            if exc.received:
                raise CaseFailed(Finding("violation", rule, f"sent {exc.received.hex()} "
                                         f"where it must close silently ({reason})",
                                         expected_text)) from None
            s.conn.shutdown_write()
            try:
                how, received = s.conn.wait_closed(ANSWER_TIMEOUT)
            except net.Timeout:
                raise CaseFailed(Finding("no-close", rule, f"still open where the spec "
                                         f"closes ({reason})", expected_text)) from None
        if received:
            raise CaseFailed(Finding("violation", rule, f"sent {received.hex()} before "
                                     f"closing ({reason}): nothing may be sent",
                                     expected_text))
        self.coverage.close[reason] += 1

    # handshake mode ----------------------------------------------------------------

    def _handshake_case(self, case):
        ops = case.handshake or {}
        s = LiveSession.connect(self.put.address, self.transcript, "fuzz",
                                identity=handshake.Identity.generate())
        try:
            s.send_hello()
            _, answer = s.read_answer()
            if not isinstance(answer, dict) or answer.get("kind") != "ACCEPT":
                raise CaseFailed(Finding("wrong-answer", "PRE-4", f"HELLO [1] answered {answer}"))
            s.begin_handshake()
            msg1 = ops.get("msg1")
            if msg1:
                if msg1["op"] == "length":
                    data = struct.pack(">H", msg1["value"]) + bytes(msg1["value"])
                else:
                    data = struct.pack(">H", 32) + bytes.fromhex(msg1["key"])
                s.send_handshake_message(data, f"message 1 mutated: {msg1}")
                self._silent_close(s, "HS-4" if msg1["op"] == "key" else "HS-1",
                                   "HANDSHAKE_FAILED", ["close (HANDSHAKE_FAILED)"])
                return
            s.send_handshake_message()
            try:
                s.read_handshake_message()
            except ParleyError as err:
                raise CaseFailed(Finding("violation", "HS-1", f"message 2 is invalid: {err}"))
            payload_ops = ops.get("payload")
            error = None
            if payload_ops is not None:
                data = self._payload(s, payload_ops)
                s.hs.payload = RawPayload(data)
                try:
                    handshake.read_identity_payload(data, s.hs.static_public,
                                                    self.put.info.node_id)
                    if len(data) < handshake.IDENTITY_FIXED_LEN:
                        error = "HANDSHAKE_FAILED"
                except ParleyError as err:
                    error = err.name
                    if len(data) < handshake.IDENTITY_FIXED_LEN:
                        error = "HANDSHAKE_FAILED"  # message 3 is too short ([HS-1])
            msg3 = s.hs.write_message()
            mutation = ops.get("msg3")
            if mutation:
                msg3 = bytearray(msg3)
                if mutation["op"] == "flip":
                    pos = min(max(2, mutation["pos"]), len(msg3) - 1)
                    msg3[pos] ^= 1 << mutation["bit"]
                else:
                    length = max(0, len(msg3) - 2 + mutation["delta"])
                    body = bytes(msg3[2:])
                    body = body[:length] if length < len(body) else body + bytes(length - len(body))
                    msg3 = bytearray(struct.pack(">H", length) + body)
                msg3 = bytes(msg3)
                error = "HANDSHAKE_FAILED"
            s.send_handshake_message(msg3, "message 3" + (f" mutated: {mutation}"
                                                          if mutation else ""))
            if error:
                self._silent_close(s, CLOSE_RULES.get(error, "HS-1"), error,
                                   [f"close ({error})"])
                return
            s.finish_handshake()
            try:
                s.roundtrip("HS-9" if payload_ops else "HS-1")
            except Violation as exc:
                raise CaseFailed(Finding("violation", exc.req,
                                         f"a valid identity payload ({payload_ops}) was not "
                                         f"accepted: {exc}", ["handshake completes"])) from None
            self.coverage.outcomes["handshake-accepted"] += 1
        finally:
            s.close()

    def _payload(self, s, ops):
        """Our identity payload with the mutations of `ops`, signed for this handshake."""
        fields = dict(s.fields)
        fields.update(ops.get("fields", {}))
        payload = handshake.IdentityPayload.signed(s.identity, s.hs.static_public, **fields)
        key = ops.get("key")
        if key == "peer":
            payload.identity_key = self.put.info.node_id
        elif key == "flip":
            raw = bytearray(payload.identity_key)
            raw[5] ^= 0x10
            payload.identity_key = bytes(raw)
        elif key == "small-order":
            payload.identity_key = SMALL_ORDER_ED25519
        sig = ops.get("signature")
        if sig == "flip":
            raw = bytearray(payload.signature)
            raw[40] ^= 0x01
            payload.signature = bytes(raw)
        elif sig == "zero":
            payload.signature = bytes(64)
        elif sig == "s-high":  # S >= L: non-canonical ([ID-1])
            payload.signature = payload.signature[:32] + b"\xff" * 31 + b"\x1f"
        data = payload.encode() + bytes.fromhex(ops.get("tail", ""))
        if "cut" in ops:
            data = data[:ops["cut"]]
        return data


# --- the fuzzer -----------------------------------------------------------------------------

def probe_options(put):
    """Which SET_CONNECTION_OPT option/setting pairs the peer ACKs: {(option, setting):
    bool}. Any answer but ACK (repeating them) or NACK UNSUPPORTED raises Violation."""
    support = {}
    s = LiveSession.open(put.address)
    try:
        for option in (codec.OPT_COMPRESSION, codec.OPT_PREFERRED_COMPRESSION):
            for setting in range(codec.SETTING_MAX + 1):
                tag = s.request(codec.OP_SET_CONNECTION_OPT, bytes([option, setting]))
                event = s.expect_response(tag, "OPT-1")
                if event["opcode"] == codec.OP_ACK:
                    body = event["body"]
                    if (body.get("option"), body.get("setting")) != (option, setting):
                        raise Violation("OPT-1", f"ACK of {option}/{setting} repeats "
                                                 f"{body.get('option')}/{body.get('setting')}")
                    support[(option, setting)] = True
                else:
                    code = NACK_NAMES.get(event["body"]["code"], event["body"]["code"])
                    if code != "UNSUPPORTED":
                        raise Violation("OPT-1", f"SET_CONNECTION_OPT {option}/{setting} "
                                                 f"answered NACK {code}")
                    support[(option, setting)] = False
    finally:
        s.close()
    return support


@dataclass
class RunResult:
    seed: int
    cases: int = 0
    seconds: float = 0.0
    findings: list = field(default_factory=list)  # dicts: the reproducer documents
    coverage: Coverage = field(default_factory=Coverage)
    restarts: int = 0
    stopped: str = ""
    params: dict = field(default_factory=dict)

    def as_dict(self):
        return {"seed": self.seed, "cases": self.cases, "seconds": round(self.seconds, 2),
                "cases_per_second": round(self.cases / self.seconds, 1) if self.seconds else 0,
                "findings": self.findings, "restarts": self.restarts,
                "stopped": self.stopped, "params": self.params,
                "coverage": self.coverage.as_dict()}


class Fuzzer:
    """A bounded, seeded run against `put` (a started peer.PeerUnderTest)."""

    def __init__(self, put, seed=1, cases=1000, seconds=60.0, out_dir=None, max_findings=20,
                 generators=None, log=None, first_case=0, transcript=None, progress=0):
        self.put = put
        self.seed = seed
        self.cases = cases
        self.seconds = seconds
        self.out_dir = out_dir
        self.max_findings = max_findings
        self.generators = generators
        self.log = log or (lambda text: None)
        self.first_case = first_case
        self.transcript = transcript
        self.progress = progress

    def params(self):
        return FuzzParams.of(self.put, probe_options(self.put))

    def run(self):
        started = time.monotonic()
        params = self.params()
        result = RunResult(self.seed, params={
            "max_tags": params.max_tags, "max_message": params.max_message,
            "reassembly_budget": params.budget, "majors": params.majors,
            "admin": params.admin,
            "options_acked": sorted(f"{o}/{codec.SETTING_NAMES[s]}"
                                    for (o, s), ok in params.opt_support.items() if ok)})
        generator = CaseGenerator(self.seed, params, self.generators)
        runner = Runner(self.put, params, result.coverage, self.transcript)
        try:
            for number in range(self.first_case, self.first_case + self.cases):
                if time.monotonic() - started > self.seconds:
                    result.stopped = f"time limit ({self.seconds:g} s)"
                    break
                case = generator.case(number)
                if self.progress and result.cases and result.cases % self.progress == 0:
                    self.log(f"... {result.cases} cases, {time.monotonic() - started:.0f} s, "
                             f"{len(result.findings)} findings")
                mark = self.put.log.mark()
                finding = runner.run(case)
                health = runner.health(mark)
                result.cases += 1
                if health is not None:
                    if finding is not None:
                        health.detail += f" (the case itself: {finding.detail})"
                        health.expected = finding.expected
                    finding = health
                if finding is None:
                    continue
                doc = reproducer(case, finding, self.put)
                doc["path"] = self.write(doc)
                result.findings.append(doc)
                self.log(format_finding(doc))
                if finding.kind in ("crash", "hang"):
                    runner.drop_spare()
                    if not self.put.settings.can_spawn:
                        result.stopped = "the peer is down and TARGET mode cannot restart it"
                        break
                    self.put.restart()
                    result.restarts += 1
                if len(result.findings) >= self.max_findings:
                    result.stopped = f"{self.max_findings} findings"
                    break
        finally:
            runner.drop_spare()
            result.seconds = time.monotonic() - started
        if not result.stopped:
            result.stopped = f"{result.cases} cases"
        return result

    def write(self, doc):
        if not self.out_dir:
            return None
        os.makedirs(self.out_dir, exist_ok=True)
        path = os.path.join(self.out_dir, f"fuzz-seed{doc['seed']}-case{doc['case']}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        return path


def reproducer(case, finding, put=None):
    """The reproducer document of a finding: the case (what to send after a handshake and
    a PING), the answers the spec calls for, and what happened."""
    doc = {"format": FORMAT}
    doc.update(case.to_json())
    doc["expected"] = finding.expected
    doc["finding"] = finding.to_json()
    if put is not None:
        doc["peer"] = {"command": put.process.command if put.process else None,
                       "address": f"{put.address[0]}:{put.address[1]}"}
    doc["replay"] = "/usr/bin/python3 conformance/fuzz_live.py --replay FILE --peer '...'"
    return doc


def format_finding(doc):
    """A finding as text: seed, case, rule, what went wrong, and the exact input."""
    f = doc["finding"]
    lines = [f"FINDING seed {doc['seed']} case {doc['case']} ({doc['generator']}, "
             f"{doc['mode']}{', admin' if doc.get('admin') else ''}): [{f['rule']}] "
             f"{f['kind']}: {f['detail']}"]
    if doc.get("notes"):
        lines.append("  mutations: " + "; ".join(doc["notes"]))
    case = Case.from_json(doc)
    lines += ["  " + line for line in case.describe_sends()]
    if f.get("expected"):
        lines.append("  the spec calls for: " + "; ".join(f["expected"]))
    if doc.get("path"):
        lines.append(f"  reproducer: {doc['path']}")
    return "\n".join(lines)


def load_reproducer(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} document")
    return doc


def cannot_replay(put, doc):
    """Why this peer cannot replay the reproducer (an admin case without the admin's
    key), or None."""
    if doc.get("admin") and not put.settings.has_admin:
        return "an admin case needs the admin's secret key (PEER mode, or --admin-secret)"
    return None


def replay(put, doc, transcript=None, params=None):
    """Run a reproducer against `put` again; the Finding, or None when the peer now
    answers as the spec requires. The expected answers are computed again from the
    peer's limits (the document's own are for the reader)."""
    case = Case.from_json(doc)
    if params is None:
        params = FuzzParams.of(put, probe_options(put))
    runner = Runner(put, params, transcript=transcript)
    mark = put.log.mark()
    try:
        finding = runner.run(case)
        health = runner.health(mark)
    finally:
        runner.drop_spare()
    if health is not None:
        if finding is not None:
            health.detail += f" (the case itself: {finding.detail})"
        return health
    return finding


def format_summary(result):
    """The end of a run: counts, time, coverage (NACK codes and close reasons reached)."""
    cov = result.coverage
    lines = [f"parley live fuzzer: seed {result.seed}, {result.cases} cases in "
             f"{result.seconds:.1f} s ({result.cases / max(result.seconds, 1e-9):.0f}/s), "
             f"{len(result.findings)} findings, {result.restarts} restarts; stopped: "
             f"{result.stopped}"]
    lines.append("NACK codes reached (as the spec wanted): " + (", ".join(
        f"{name} {cov.nack[name]}" for name in NACK_CODES if cov.nack[name]) or "none"))
    missing = [n for n in NACK_CODES if not cov.nack[n] and n not in OUT_OF_REACH]
    lines.append("NACK codes not reached: " + (", ".join(missing) or "none")
                 + " (out of reach: " + ", ".join(n for n in NACK_CODES if n in OUT_OF_REACH)
                 + ")")
    lines.append("close reasons reached: " + (", ".join(
        f"{name} {count}" for name, count in sorted(cov.close.items())) or "none"))
    missing = [r for r in CLOSE_REASONS if not cov.close[r] and r not in OUT_OF_REACH]
    lines.append("close reasons not reached: " + (", ".join(missing) or "none"))
    lines.append("frame outcomes: " + ", ".join(f"{k} {v}" for k, v in
                                                sorted(cov.outcomes.items())))
    lines.append("generators: " + ", ".join(f"{k} {v}" for k, v in
                                            sorted(cov.generators.items())))
    for doc in result.findings:
        f = doc["finding"]
        lines.append(f"  finding: case {doc['case']} [{f['rule']}] {f['kind']}: "
                     f"{f['detail'][:200]}" + (f" -> {doc['path']}" if doc.get("path") else ""))
    return "\n".join(lines)
