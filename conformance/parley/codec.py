"""Parley's wire codec: spec chapters 01 (preface), 04 (frames), 05 (messages), 06 and 07.

Written from spec/ only. Every decoder reads through one bounds-checked cursor (Reader)
and raises ParleyError with the registry name the spec gives for the first rule the input
breaks; nothing else escapes a decoder, whatever the bytes. Encoders write exactly what
they are given (no semantic checks), so the harness can also build invalid messages.

Decoded values are plain dicts whose keys are those of the golden vectors' `fields`
(vectors/README.md). Byte strings are `bytes` and texts are `str`; `to_vector` and
`from_vector` convert to and from the vectors' hex form.

Frame header (spec §4.1):

    0        1        2                 4                                   8
    +--------+--------+-----------------+-----------------------------------+---------+
    | opcode | flags  | tag             | length                            | payload |
    | u8     | u8     | u16             | u32                               | ...     |
    +--------+--------+-----------------+-----------------------------------+---------+
"""

import struct
import zlib
from dataclasses import dataclass
from typing import Optional

from .errors import ParleyError

# ---------------------------------------------------------------------------
# Constants (spec chapter 7)

MAGIC = b"PARLEY"
PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 0
MAX_MAJORS = 16
RECORD_MIN = 24
RECORD_MAX = 65535
FRAME_HEADER_LEN = 8
FRAME_MAX_PAYLOAD = 16384
FRAGMENT_TOTAL_LEN = 4
PING_MAX = 64
TEXT_MAX = 1024
MIN_MAX_TAGS = 256
MIN_MAX_MESSAGE = 1048576
DEFAULT_MAX_TAGS = 1024
DEFAULT_MAX_MESSAGE = 16777216
DEFAULT_REASSEMBLY_BUDGET = 33554432
COMPRESS_THRESHOLD = 1024
HANDSHAKE_TIMEOUT = 10
IDLE_TIMEOUT = 120
BYE_TIMEOUT = 5

# Preface kinds (§1.1).
KIND_HELLO = 1
KIND_ACCEPT = 2
KIND_REFUSE = 3
KIND_NAMES = {KIND_HELLO: "HELLO", KIND_ACCEPT: "ACCEPT", KIND_REFUSE: "REFUSE"}

# Opcodes (§5.1).
OP_ACK = 0
OP_NACK = 1
OP_PING = 2
OP_SET_CONNECTION_OPT = 3
OP_SHOUT = 4
OP_SPEAK = 5
OP_WHISPER = 6
OP_FIND_NODE = 7
OP_FIND_VALUE = 8
OP_STORE = 9
OP_BYE = 10
OP_PEERS = 11
OP_SHUTDOWN = 12
OP_STATS = 13
OP_LOCK = 14
OP_UNLOCK = 15
OP_PATCH = 16
OP_RELAY = 17
OPCODE_NAMES = {
    OP_ACK: "ACK",
    OP_NACK: "NACK",
    OP_PING: "PING",
    OP_SET_CONNECTION_OPT: "SET_CONNECTION_OPT",
    OP_SHOUT: "SHOUT",
    OP_SPEAK: "SPEAK",
    OP_WHISPER: "WHISPER",
    OP_FIND_NODE: "FIND_NODE",
    OP_FIND_VALUE: "FIND_VALUE",
    OP_STORE: "STORE",
    OP_BYE: "BYE",
    OP_PEERS: "PEERS",
    OP_SHUTDOWN: "SHUTDOWN",
    OP_STATS: "STATS",
    OP_LOCK: "LOCK",
    OP_UNLOCK: "UNLOCK",
    OP_PATCH: "PATCH",
    OP_RELAY: "RELAY",
}
OPCODE_MAX_ASSIGNED = 17
DRAFT_OPCODES = frozenset({OP_SHOUT, OP_SPEAK, OP_WHISPER, OP_FIND_NODE, OP_FIND_VALUE,
                           OP_STORE, OP_LOCK, OP_UNLOCK, OP_PATCH, OP_RELAY})
ADMIN_OPCODES = frozenset({OP_PEERS, OP_SHUTDOWN, OP_STATS})
RESPONSE_OPCODES = frozenset({OP_ACK, OP_NACK})

# Frame flags (§4.1), bit 0 first.
FLAG_RESPONSE = 0x01
FLAG_MORE = 0x02
FLAG_ABORT = 0x04
FLAG_COMPRESSED = 0x08
FLAGS_RESERVED = 0xF0
FLAG_NAMES = ["RESPONSE", "MORE", "ABORT", "COMPRESSED",
              "RESERVED4", "RESERVED5", "RESERVED6", "RESERVED7"]

# SET_CONNECTION_OPT (§5.9).
OPT_COMPRESSION = 0
OPT_PREFERRED_COMPRESSION = 1
OPTION_NAMES = {OPT_COMPRESSION: "COMPRESSION",
                OPT_PREFERRED_COMPRESSION: "PREFERRED_COMPRESSION"}
SETTING_BZ2 = 0
SETTING_GZIP = 1
SETTING_LZMA = 2
SETTING_ZLIB = 3
SETTING_SNAPPY = 4
SETTING_NAMES = {SETTING_BZ2: "bz2", SETTING_GZIP: "gzip", SETTING_LZMA: "lzma",
                 SETTING_ZLIB: "zlib", SETTING_SNAPPY: "snappy"}
SETTING_MAX = SETTING_SNAPPY

# BYE reasons (§5.5); other values are valid and mean "other".
BYE_NORMAL = 0
BYE_SHUTDOWN = 1
BYE_IDLE = 2
BYE_OVERLOAD = 3
BYE_REASON_NAMES = {BYE_NORMAL: "NORMAL", BYE_SHUTDOWN: "SHUTDOWN", BYE_IDLE: "IDLE",
                    BYE_OVERLOAD: "OVERLOAD"}

# PEERS entries (§5.6).
NODE_ID_LEN = 32
FAMILY_IPV4 = 4
FAMILY_IPV6 = 6
ADDRESS_LEN = {FAMILY_IPV4: 4, FAMILY_IPV6: 16}
PEER_FLAG_OUTBOUND = 0x01
PEER_FLAGS_RESERVED = 0xFE

# STATS counter ids (§5.8); a receiver ignores ids it does not know.
STATS_COUNTER_NAMES = {
    1: "uptime",
    2: "connections_open",
    3: "connections_total",
    4: "handshakes_completed",
    5: "handshakes_failed",
    6: "frames_received",
    7: "frames_sent",
    8: "bytes_received",
    9: "bytes_sent",
    10: "nacks_sent",
}


# ---------------------------------------------------------------------------
# The cursor

class Reader:
    """A bounds-checked read cursor over received bytes.

    Every read that would run past the end raises ParleyError(error): the name the
    chapter gives for a length that runs past its bytes ([CONV-3]).
    """

    def __init__(self, data, error="MALFORMED"):
        self.data = bytes(data)
        self.pos = 0
        self.error = error

    def remaining(self):
        return len(self.data) - self.pos

    def get_bytes(self, n, what="field"):
        if n > self.remaining():  # [CONV-3]
            raise ParleyError(self.error,
                              f"{what} needs {n} bytes, {self.remaining()} left")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def get_u8(self, what="u8"):
        return self.get_bytes(1, what)[0]

    def get_u16(self, what="u16"):
        return struct.unpack("!H", self.get_bytes(2, what))[0]

    def get_u32(self, what="u32"):
        return struct.unpack("!I", self.get_bytes(4, what))[0]

    def get_u64(self, what="u64"):
        return struct.unpack("!Q", self.get_bytes(8, what))[0]

    def get_rest(self):
        return self.get_bytes(self.remaining())

    def expect_end(self, what="message"):
        if self.remaining():  # [CONV-2]
            raise ParleyError(self.error,
                              f"{self.remaining()} bytes left over after the {what}")


def decode_text(raw):
    """A text field's bytes as str; BAD_UTF8 unless strict UTF-8 ([CONV-1]).

    Python's strict UTF-8 decoder rejects overlong forms, surrogates, code points above
    U+10FFFF and truncated sequences, as RFC 3629 does (tests/test_vectors_codec.py checks
    each).
    """
    try:
        return bytes(raw).decode("utf-8", "strict")
    except UnicodeDecodeError as e:
        raise ParleyError("BAD_UTF8", str(e)) from None


def encode_text(text):
    """A text field (u16 length, bytes). `text` is str, or bytes to send as they are."""
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return struct.pack("!H", len(raw)) + raw


def _read_text(r, what):
    """A `text` field with at most TEXT_MAX bytes, length-checked before UTF-8."""
    length = r.get_u16(what + " length")
    if length > TEXT_MAX:
        raise ParleyError("MALFORMED", f"{what} of {length} bytes is over {TEXT_MAX}")
    return r.get_bytes(length, what)


# ---------------------------------------------------------------------------
# Preface (spec chapter 1)
#
#   0                 6        7        8
#   +-----------------+--------+--------+---------------------+
#   | magic "PARLEY"  | kind   | count  | majors[count] (u8)  |   HELLO (1), REFUSE (3)
#   +-----------------+--------+--------+---------------------+
#   | magic "PARLEY"  | kind=2 | major  |                         ACCEPT (2)
#   +-----------------+--------+--------+

def _read_magic(r):
    """The magic, read byte by byte ([PRE-9]): a wrong byte is PREFACE_BAD_MAGIC ([PRE-2]).

    Input that agrees with the magic but ends early is a truncated preface
    (PREFACE_MALFORMED).
    """
    got = r.data[r.pos:r.pos + len(MAGIC)]
    if got != MAGIC[:len(got)]:  # [PRE-2]
        raise ParleyError("PREFACE_BAD_MAGIC", f"first bytes {got.hex()}")
    r.get_bytes(len(MAGIC), "magic")


def _read_majors(r):
    """count, then majors: 1..16 of them, each 1..255, strictly descending ([PRE-3])."""
    count = r.get_u8("count")
    if not 1 <= count <= MAX_MAJORS:
        raise ParleyError("PREFACE_MALFORMED", f"count {count} is outside 1..{MAX_MAJORS}")
    majors = []
    for _ in range(count):
        major = r.get_u8("major")
        if major == 0:
            raise ParleyError("PREFACE_MALFORMED", "major 0")
        if majors and major >= majors[-1]:
            raise ParleyError("PREFACE_MALFORMED", "majors are not strictly descending")
        majors.append(major)
    return majors


def decode_hello(data):
    """A HELLO as the responder reads it: {"kind": "HELLO", "majors": [...]}.

    Errors: PREFACE_BAD_MAGIC ([PRE-2]); PREFACE_MALFORMED for a bad kind, count or major
    list ([PRE-3]), a truncated message or trailing bytes.
    """
    r = Reader(data, "PREFACE_MALFORMED")
    _read_magic(r)
    kind = r.get_u8("kind")
    if kind != KIND_HELLO:  # [PRE-3]
        raise ParleyError("PREFACE_MALFORMED", f"kind {kind} where HELLO (1) is due")
    majors = _read_majors(r)
    r.expect_end("HELLO")
    return {"kind": "HELLO", "majors": majors}


def preface_length(stream):
    """The length of the preface message at the start of a byte stream, from its kind and
    count alone, or None while the bytes that tell it have not all arrived. Used to cut a
    stream; the message itself is judged by decode_hello / decode_answer."""
    if len(stream) < len(MAGIC) + 2:
        return None
    kind = stream[len(MAGIC)]
    size = len(MAGIC) + 2 if kind == KIND_ACCEPT else len(MAGIC) + 2 + stream[len(MAGIC) + 1]
    return size if len(stream) >= size else None


def decode_answer(data, offered=None):
    """An ACCEPT or REFUSE as the initiator reads it.

    Returns {"kind": "ACCEPT", "major": n} or {"kind": "REFUSE", "majors": [...]} (a valid
    REFUSE still closes the connection, NO_COMMON_MAJOR). `offered` is the HELLO's major
    list; without it any major 1..255 is a possible choice.
    Errors: PREFACE_BAD_MAGIC; PREFACE_MALFORMED (kind, count, majors, truncation,
    trailing bytes); PREFACE_BAD_CHOICE for an ACCEPT of a major not offered ([PRE-6]).
    """
    r = Reader(data, "PREFACE_MALFORMED")
    _read_magic(r)
    kind = r.get_u8("kind")
    if kind == KIND_ACCEPT:
        major = r.get_u8("major")
        # A major of 0 is never offered ([PRE-1]), so it is a bad choice too.
        if major == 0 or (offered is not None and major not in offered):  # [PRE-6]
            raise ParleyError("PREFACE_BAD_CHOICE", f"ACCEPT of major {major}")
        r.expect_end("ACCEPT")
        return {"kind": "ACCEPT", "major": major}
    if kind == KIND_REFUSE:
        majors = _read_majors(r)
        r.expect_end("REFUSE")
        return {"kind": "REFUSE", "majors": majors}
    raise ParleyError("PREFACE_MALFORMED", f"kind {kind} where ACCEPT or REFUSE is due")


def encode_hello(majors):
    return MAGIC + bytes([KIND_HELLO, len(majors)]) + bytes(majors)


def encode_accept(major):
    return MAGIC + bytes([KIND_ACCEPT, major])


def encode_refuse(majors):
    return MAGIC + bytes([KIND_REFUSE, len(majors)]) + bytes(majors)


def encode_preface(fields):
    """The bytes of a decoded preface message (decode_hello/decode_answer inverted)."""
    if fields["kind"] == "HELLO":
        return encode_hello(fields["majors"])
    if fields["kind"] == "ACCEPT":
        return encode_accept(fields["major"])
    if fields["kind"] == "REFUSE":
        return encode_refuse(fields["majors"])
    raise ValueError(f"unknown preface kind {fields['kind']!r}")


@dataclass
class Negotiation:
    """What a responder does with a HELLO: the exact bytes it sends, then the outcome."""
    answer: bytes
    major: Optional[int]  # the agreed major when accepted
    error: Optional[str]  # the close reason when the connection closes


def negotiate(hello, responder_majors):
    """The responder's side of the preface ([PRE-2]..[PRE-5]).

    `responder_majors` are the majors the responder supports (any order); a REFUSE lists
    them strictly descending.
    """
    ours = sorted(set(responder_majors), reverse=True)
    try:
        offered = decode_hello(hello)["majors"]
    except ParleyError as e:
        if e.name == "PREFACE_BAD_MAGIC":  # [PRE-2]: not a peer, send nothing
            return Negotiation(b"", None, e.name)
        return Negotiation(encode_refuse(ours), None, e.name)  # [PRE-3]
    common = [m for m in offered if m in ours]
    if not common:  # [PRE-5]
        return Negotiation(encode_refuse(ours), None, "NO_COMMON_MAJOR")
    return Negotiation(encode_accept(max(common)), max(common), None)  # [PRE-4]


# ---------------------------------------------------------------------------
# Frame header (spec §4.1)

def parse_frame_header(data):
    """The four header fields of the first 8 bytes, with no rule checked.

    Fewer than 8 bytes is a frame running past its record: FRAME_OVERRUN.
    """
    r = Reader(data[:FRAME_HEADER_LEN], "FRAME_OVERRUN")
    return {
        "opcode": r.get_u8("opcode"),
        "flags": r.get_u8("flags"),
        "tag": r.get_u16("tag"),
        "length": r.get_u32("length"),
    }


def check_frame_header(header, compression, room=None):
    """Applies the header rules of §4.1 in the spec's order; the first failing one decides.

    `compression`: whether a compression setting is in force ([OPT-3]). `room`: the bytes
    of the record left after this header, or None when the record is not known.
    Errors: FRAME_OVERRUN (close), FRAME_TOO_LARGE, BAD_FLAGS, MALFORMED (an ABORT with
    a payload), UNKNOWN_OPCODE, BAD_FRAGMENT (MORE on tag 0).
    """
    opcode, flags = header["opcode"], header["flags"]
    tag, length = header["tag"], header["length"]
    if room is not None and length > room:  # [FRAME-1], [REC-5]
        raise ParleyError("FRAME_OVERRUN", f"length {length}, {room} bytes left in record")
    if length > FRAME_MAX_PAYLOAD:  # [FRAME-2]
        raise ParleyError("FRAME_TOO_LARGE", f"length {length}")
    if flags & FLAGS_RESERVED:  # [FRAME-3]
        raise ParleyError("BAD_FLAGS", f"reserved flag bits in {flags:#04x}")
    if flags & FLAG_ABORT and flags & (FLAG_MORE | FLAG_COMPRESSED):  # [FRAME-4]
        raise ParleyError("BAD_FLAGS", "ABORT with MORE or COMPRESSED")
    is_response = bool(flags & FLAG_RESPONSE)
    if is_response != (opcode in RESPONSE_OPCODES):  # [FRAME-5]
        raise ParleyError("BAD_FLAGS", "RESPONSE goes with opcode ACK or NACK, and only")
    if flags & FLAG_COMPRESSED and not compression:  # [FRAME-6]
        raise ParleyError("BAD_FLAGS", "COMPRESSED while no compression is in force")
    if flags & FLAG_ABORT and length != 0:  # [FRAME-4]
        raise ParleyError("MALFORMED", f"ABORT frame with length {length}")
    if opcode > OPCODE_MAX_ASSIGNED:  # [FRAME-7], [MSG-1]
        raise ParleyError("UNKNOWN_OPCODE", f"opcode {opcode}")
    if flags & FLAG_MORE and tag == 0:  # [TAG-3]
        raise ParleyError("BAD_FRAGMENT", "MORE on tag 0")


def decode_frame_header(data, compression=False):
    """parse_frame_header, then check_frame_header: the header fields, or ParleyError."""
    header = parse_frame_header(data)
    check_frame_header(header, compression)
    return header


def encode_frame_header(opcode, flags, tag, length):
    return struct.pack("!BBHI", opcode, flags, tag, length)


def encode_frame(opcode, flags, tag, payload=b""):
    """A whole frame: the header with `length` set to the payload's, then the payload."""
    return encode_frame_header(opcode, flags, tag, len(payload)) + bytes(payload)


# ---------------------------------------------------------------------------
# Record plaintext (spec §3.1, [FRAME-1], [REC-5])

def split_record_plaintext(plaintext):
    """The frames of a record plaintext: a list of {"opcode", "flags", "tag", "length",
    "payload"}.

    Only framing is checked: a header or payload running past the end, or an empty
    plaintext (a record holds at least one frame), closes with FRAME_OVERRUN ([REC-5]).
    Per-frame rules (check_frame_header) are the receiver's next step.
    """
    r = Reader(plaintext, "FRAME_OVERRUN")
    if not r.remaining():
        raise ParleyError("FRAME_OVERRUN", "empty record plaintext")
    frames = []
    while r.remaining():
        frame = parse_frame_header(r.get_bytes(FRAME_HEADER_LEN, "frame header"))
        frame["payload"] = r.get_bytes(frame["length"], "frame payload")
        frames.append(frame)
    return frames


def cut_frames(plaintext):
    """The frames of a plaintext cut by their length fields alone, as raw bytes; unlike
    split_record_plaintext it never fails: a frame that runs past the end is kept as it
    is (for showing what was sent, including invalid plaintexts)."""
    frames, pos = [], 0
    while pos < len(plaintext):
        rest = plaintext[pos:]
        if len(rest) < FRAME_HEADER_LEN:
            frames.append(rest)
            break
        end = min(len(rest), FRAME_HEADER_LEN + parse_frame_header(rest)["length"])
        frames.append(rest[:end])
        pos += end
    return frames


def encode_record_plaintext(frames):
    """The inverse of split_record_plaintext (each frame's `length` is written as given)."""
    out = b""
    for f in frames:
        out += encode_frame_header(f["opcode"], f["flags"], f["tag"], f["length"])
        out += bytes(f["payload"])
    return out


# ---------------------------------------------------------------------------
# Fragments (spec §4.3)
#
#   first fragment payload: total u32, data ...     later fragment payload: data ...

def encode_fragments(opcode, flags, tag, payload, chunk=FRAME_MAX_PAYLOAD):
    """A message payload as fragment frames ([FRAG-2]): MORE on all but the last, the first
    beginning with the total. `flags` are the message's (RESPONSE, COMPRESSED); each frame
    carries at most `chunk` payload bytes. There are always at least two frames (the last
    may be empty): a single frame without MORE carries no total ([FRAG-9]).
    """
    payload = bytes(payload)
    first_data = chunk - FRAGMENT_TOTAL_LEN
    pieces = [struct.pack("!I", len(payload)) + payload[:first_data]]
    rest = payload[first_data:]
    while rest:
        pieces.append(rest[:chunk])
        rest = rest[chunk:]
    if len(pieces) == 1:
        pieces.append(b"")
    frames = []
    for i, piece in enumerate(pieces):
        more = FLAG_MORE if i < len(pieces) - 1 else 0
        frames.append(encode_frame(opcode, flags | more, tag, piece))
    return frames


# ---------------------------------------------------------------------------
# Compression ([OPT-4], [OPT-6])

def compress(data, setting=SETTING_ZLIB):
    """The compressed form of a message payload. Only zlib ([OPT-2]) is implemented."""
    if setting not in (SETTING_ZLIB, "zlib"):
        raise ValueError(f"compression setting {setting!r} is not implemented")
    return zlib.compress(bytes(data))


def decompress(data, max_message, setting=SETTING_ZLIB):
    """A compressed message payload, decompressed; stops at max_message ([OPT-6]).

    Errors: MESSAGE_TOO_LARGE when the output would exceed max_message;
    DECOMPRESSION_FAILED when the bytes are not exactly one zlib stream.
    """
    if setting not in (SETTING_ZLIB, "zlib"):
        raise ValueError(f"compression setting {setting!r} is not implemented")
    d = zlib.decompressobj()
    try:
        out = d.decompress(bytes(data), max_message + 1)
    except zlib.error as e:
        raise ParleyError("DECOMPRESSION_FAILED", str(e)) from None
    if len(out) > max_message:
        raise ParleyError("MESSAGE_TOO_LARGE", f"decompresses beyond {max_message} bytes")
    if not d.eof or d.unused_data:
        raise ParleyError("DECOMPRESSION_FAILED", "not exactly one complete zlib stream")
    return out


# ---------------------------------------------------------------------------
# Message payloads (spec chapter 5)
#
# Each decoder takes a message payload (after reassembly and decompression) and returns
# its body dict; each encoder takes the body dict and returns the payload.

def decode_ping(payload):
    """PING: data, 0..64 bytes ([PING-2])."""
    if len(payload) > PING_MAX:  # [PING-2]
        raise ParleyError("MALFORMED", f"PING data of {len(payload)} bytes")
    return {"data": bytes(payload)}


def encode_ping(body):
    return bytes(body["data"])


def decode_set_connection_opt(payload):
    """SET_CONNECTION_OPT: option u8, setting u8 ([OPT-1]).

    Errors, in the table's order: MALFORMED (not 2 bytes), UNSUPPORTED (reserved option),
    MALFORMED (setting above 4). Whether the peer implements a valid setting is the
    peer's decision, not the codec's.
    """
    r = Reader(payload)
    option = r.get_u8("option")
    setting = r.get_u8("setting")
    r.expect_end("SET_CONNECTION_OPT")
    if option not in OPTION_NAMES:  # [OPT-1]
        raise ParleyError("UNSUPPORTED", f"option {option} is reserved")
    if setting > SETTING_MAX:  # [OPT-1]
        raise ParleyError("MALFORMED", f"setting {setting}")
    return {"option": option, "setting": setting}


def encode_set_connection_opt(body):
    return bytes([body["option"], body["setting"]])


def decode_bye(payload):
    """BYE: reason u16, text ([BYE-2]). Any reason is valid."""
    r = Reader(payload)
    reason = r.get_u16("reason")
    raw = _read_text(r, "BYE text")
    r.expect_end("BYE")
    return {"reason": reason, "text": decode_text(raw)}


def encode_bye(body):
    return struct.pack("!H", body["reason"]) + encode_text(body["text"])


def decode_admin_request(payload):
    """PEERS, STATS or SHUTDOWN request: an empty payload ([ADMIN-2])."""
    if payload:  # [ADMIN-2]
        raise ParleyError("MALFORMED", f"admin request with {len(payload)} payload bytes")
    return {}


def encode_empty(body):
    return b""


def decode_nack(payload):
    """NACK: req_opcode u8, code u16, text ([NACK-1], §5.3 table).

    Errors: MALFORMED (code 0, text over 1024 bytes or not exactly the rest),
    BAD_UTF8. Unknown codes and any req_opcode are valid: 0 and 1 report a request
    frame that carried ACK or NACK ([FRAME-5]), an unassigned one UNKNOWN_OPCODE.
    """
    r = Reader(payload)
    req_opcode = r.get_u8("req_opcode")
    code = r.get_u16("code")
    if code == 0:  # [NACK-1]: code 0 is reserved
        raise ParleyError("MALFORMED", "NACK code 0")
    raw = _read_text(r, "NACK text")
    r.expect_end("NACK")
    return {"req_opcode": req_opcode, "code": code, "text": decode_text(raw)}


def encode_nack(body):
    return struct.pack("!BH", body["req_opcode"], body["code"]) + encode_text(body["text"])


def decode_peer_list(r):
    """The ACK body for PEERS (§5.6): count u16, then count entries ([ADMIN-3])."""
    count = r.get_u16("peer count")
    peers = []
    for _ in range(count):
        node_id = r.get_bytes(NODE_ID_LEN, "node_id")
        family = r.get_u8("family")
        if family not in ADDRESS_LEN:  # [ADMIN-3]
            raise ParleyError("MALFORMED", f"address family {family}")
        address = r.get_bytes(ADDRESS_LEN[family], "address")
        port = r.get_u16("port")
        flags = r.get_u8("peer flags")
        if flags & PEER_FLAGS_RESERVED:  # [ADMIN-3]
            raise ParleyError("MALFORMED", f"reserved peer flag bits in {flags:#04x}")
        peers.append({"node_id": node_id, "family": family, "address": address,
                      "port": port, "flags": flags})
    r.expect_end("peer list")
    return peers


def encode_peer_list(peers):
    out = struct.pack("!H", len(peers))
    for p in peers:
        out += bytes(p["node_id"]) + bytes([p["family"]]) + bytes(p["address"])
        out += struct.pack("!HB", p["port"], p["flags"])
    return out


def decode_counter_list(r):
    """The ACK body for STATS (§5.8): count u16, then (id u16, value u64) each.

    A count that disagrees with the bytes is MALFORMED ([ADMIN-6]); ids the receiver does
    not know are kept here (ignoring them is the application's business).
    """
    count = r.get_u16("counter count")
    counters = []
    for _ in range(count):
        counter_id = r.get_u16("counter id")
        value = r.get_u64("counter value")
        counters.append({"id": counter_id, "value": value})
    r.expect_end("counter list")  # [ADMIN-6]
    return counters


def encode_counter_list(counters):
    out = struct.pack("!H", len(counters))
    for c in counters:
        out += struct.pack("!HQ", c["id"], c["value"])
    return out


def decode_ack(payload):
    """ACK: req_opcode u8, then the body for that opcode ([ACK-1], [ACK-2]).

    Errors: MALFORMED for a req_opcode ACK, NACK or unassigned, or a body that does not
    match its layout.
    """
    r = Reader(payload)
    req_opcode = r.get_u8("req_opcode")
    body = {"req_opcode": req_opcode}
    if req_opcode in RESPONSE_OPCODES or req_opcode > OPCODE_MAX_ASSIGNED:  # [ACK-2]
        raise ParleyError("MALFORMED", f"ACK of opcode {req_opcode}")
    if req_opcode == OP_PING:
        body.update(decode_ping(r.get_rest()))
    elif req_opcode == OP_SET_CONNECTION_OPT:
        option = r.get_u8("option")
        setting = r.get_u8("setting")
        r.expect_end("ACK body")
        # An ACK repeats a valid request ([OPT-1]); values no request can carry are
        # outside the layout ([ACK-2]).
        if option not in OPTION_NAMES or setting > SETTING_MAX:
            raise ParleyError("MALFORMED", f"ACK of option {option} setting {setting}")
        body.update({"option": option, "setting": setting})
    elif req_opcode in (OP_BYE, OP_SHUTDOWN):
        r.expect_end("ACK body")
    elif req_opcode == OP_PEERS:
        body["peers"] = decode_peer_list(r)
    elif req_opcode == OP_STATS:
        body["counters"] = decode_counter_list(r)
    else:  # a draft opcode: its chapter defines the body, opaque here
        body["data"] = r.get_rest()
    return body


def encode_ack(body):
    req_opcode = body["req_opcode"]
    out = bytes([req_opcode])
    if req_opcode == OP_PING:
        return out + encode_ping(body)
    if req_opcode == OP_SET_CONNECTION_OPT:
        return out + encode_set_connection_opt(body)
    if req_opcode == OP_PEERS:
        return out + encode_peer_list(body["peers"])
    if req_opcode == OP_STATS:
        return out + encode_counter_list(body["counters"])
    return out + bytes(body.get("data", b""))


REQUEST_DECODERS = {
    OP_PING: decode_ping,
    OP_SET_CONNECTION_OPT: decode_set_connection_opt,
    OP_BYE: decode_bye,
    OP_PEERS: decode_admin_request,
    OP_SHUTDOWN: decode_admin_request,
    OP_STATS: decode_admin_request,
}
REQUEST_ENCODERS = {
    OP_PING: encode_ping,
    OP_SET_CONNECTION_OPT: encode_set_connection_opt,
    OP_BYE: encode_bye,
    OP_PEERS: encode_empty,
    OP_SHUTDOWN: encode_empty,
    OP_STATS: encode_empty,
}


def decode_body(opcode, flags, tag, payload):
    """The body of a complete message payload (decompressed), as the receiver reads it.

    Requests: MALFORMED, BAD_UTF8, UNSUPPORTED as each layout says; NOT_IMPLEMENTED for a
    draft opcode ([MSG-4]); an admin request on tag 0 is MALFORMED ([ADMIN-2]).
    Responses (RESPONSE set): decode_ack or decode_nack.
    """
    if flags & FLAG_RESPONSE:
        if opcode == OP_ACK:
            return decode_ack(payload)
        if opcode == OP_NACK:
            return decode_nack(payload)
        raise ParleyError("BAD_FLAGS", f"response with opcode {opcode}")
    if opcode in DRAFT_OPCODES:  # [MSG-4]
        raise ParleyError("NOT_IMPLEMENTED", f"{OPCODE_NAMES[opcode]} is a draft opcode")
    if opcode in RESPONSE_OPCODES:  # [FRAME-5]
        raise ParleyError("BAD_FLAGS", f"request with opcode {opcode}")
    if opcode not in REQUEST_DECODERS:  # [FRAME-7]
        raise ParleyError("UNKNOWN_OPCODE", f"opcode {opcode}")
    body = REQUEST_DECODERS[opcode](payload)
    if opcode in ADMIN_OPCODES and tag == 0:  # [ADMIN-2]
        raise ParleyError("MALFORMED", f"{OPCODE_NAMES[opcode]} on tag 0 gets no answer")
    return body


def encode_body(opcode, flags, body):
    """The payload of a message body (the inverse of decode_body)."""
    if flags & FLAG_RESPONSE and opcode == OP_ACK:
        return encode_ack(body)
    if flags & FLAG_RESPONSE and opcode == OP_NACK:
        return encode_nack(body)
    if opcode in REQUEST_ENCODERS:
        return REQUEST_ENCODERS[opcode](body)
    return bytes(body.get("data", b""))


# ---------------------------------------------------------------------------
# Whole single-frame messages

def decode_message(frame, compression=False, max_message=DEFAULT_MAX_MESSAGE):
    """One whole frame holding one whole message: {"opcode", "flags", "tag", "body"}.

    The header rules come first (check_frame_header, with the frame's own bytes as its
    record), then decompression when COMPRESSED is set, then decode_body. A fragment
    (MORE) or an ABORT that passes the header rules is not a whole message: its "body" is
    None (session.Session handles those). Raises ParleyError with the name a receiver
    reports.
    """
    frame = bytes(frame)
    header = parse_frame_header(frame)
    check_frame_header(header, compression, room=len(frame) - FRAME_HEADER_LEN)
    if len(frame) != FRAME_HEADER_LEN + header["length"]:  # [REC-5]
        raise ParleyError("FRAME_OVERRUN", "bytes left over after the frame")
    fields = {"opcode": header["opcode"], "flags": header["flags"], "tag": header["tag"],
              "body": None}
    if header["flags"] & (FLAG_MORE | FLAG_ABORT):
        return fields
    payload = frame[FRAME_HEADER_LEN:]
    if header["flags"] & FLAG_COMPRESSED:
        payload = decompress(payload, max_message)
    fields["body"] = decode_body(header["opcode"], header["flags"], header["tag"], payload)
    return fields


def encode_message(message):
    """The frame of a decoded message; a COMPRESSED message's payload is zlib-compressed."""
    payload = encode_body(message["opcode"], message["flags"], message["body"])
    if message["flags"] & FLAG_COMPRESSED:
        payload = compress(payload)
    return encode_frame(message["opcode"], message["flags"], message["tag"], payload)


# ---------------------------------------------------------------------------
# Vector form: bytes as lowercase hex

BYTES_KEYS = frozenset({"data", "node_id", "address", "payload", "answer", "plaintext"})


def to_vector(value):
    """A decoded value in the vectors' JSON form: bytes under BYTES_KEYS become hex."""
    if isinstance(value, dict):
        return {k: (v.hex() if k in BYTES_KEYS and isinstance(v, (bytes, bytearray))
                    else to_vector(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [to_vector(v) for v in value]
    return value


def from_vector(value):
    """The inverse of to_vector: hex strings under BYTES_KEYS become bytes."""
    if isinstance(value, dict):
        return {k: (bytes.fromhex(v) if k in BYTES_KEYS and isinstance(v, str)
                    else from_vector(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [from_vector(v) for v in value]
    return value
