#!/usr/bin/python3
"""Golden vectors for Parley 1.0: preface, frame headers, messages, sessions and record
plaintexts.

Every byte string below is written from the spec's field layouts (spec/01, 03, 04, 05)
with struct.pack, case by case, each case with a comment that says what it tests, in the
manner of Project Wycheproof. Nothing here imports either implementation: the vectors are
how the C reference peer (ref/) and the Python harness (conformance/) check each other.

Writes, next to this folder:
  preface.json, frame_header.json, messages.json, session.json, and
  records_plaintext.part.json (the "record_plaintext" group of records.json; merge.py
  joins it with the sealed-record part written by gen_crypto_vectors.py).

Deterministic: no randomness, no clock; zlib at a fixed level. Run it twice, get the
same bytes.
"""

import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)

SPEC_VERSION = "1.0"
SOURCE = ("vectors/gen/gen_vectors.py: written case by case from the field layouts, "
          "constants and error registry of spec/ (no implementation imported)")

# --- spec/07-constants.md ------------------------------------------------------------
MAGIC = b"PARLEY"
MAX_MAJORS = 16
FRAME_MAX_PAYLOAD = 16384
PING_MAX = 64
TEXT_MAX = 1024
MIN_MAX_TAGS = 256
MIN_MAX_MESSAGE = 1048576

# --- spec/01 preface kinds -------------------------------------------------------------
HELLO, ACCEPT, REFUSE = 1, 2, 3

# --- spec/05 §5.1 opcodes ---------------------------------------------------------------
ACK, NACK, PING, SET_CONNECTION_OPT = 0, 1, 2, 3
SHOUT, SPEAK, WHISPER, FIND_NODE, FIND_VALUE, STORE = 4, 5, 6, 7, 8, 9
BYE, PEERS, SHUTDOWN, STATS = 10, 11, 12, 13
LOCK, UNLOCK, PATCH, RELAY = 14, 15, 16, 17
OPCODE_NAMES = {
    0: "ACK", 1: "NACK", 2: "PING", 3: "SET_CONNECTION_OPT", 4: "SHOUT", 5: "SPEAK",
    6: "WHISPER", 7: "FIND_NODE", 8: "FIND_VALUE", 9: "STORE", 10: "BYE", 11: "PEERS",
    12: "SHUTDOWN", 13: "STATS", 14: "LOCK", 15: "UNLOCK", 16: "PATCH", 17: "RELAY",
}
DRAFT_OPCODES = [SHOUT, SPEAK, WHISPER, FIND_NODE, FIND_VALUE, STORE, LOCK, UNLOCK, PATCH,
                 RELAY]

# --- spec/04 §4.1 flags -----------------------------------------------------------------
RESPONSE, MORE, ABORT, COMPRESSED = 0x01, 0x02, 0x04, 0x08

# --- spec/06 §6.1 NACK codes ------------------------------------------------------------
NACK_CODES = {
    1: "MALFORMED", 2: "UNKNOWN_OPCODE", 3: "NOT_IMPLEMENTED", 4: "UNSUPPORTED",
    5: "BAD_FLAGS", 6: "FRAME_TOO_LARGE", 7: "MESSAGE_TOO_LARGE", 8: "BUDGET_EXCEEDED",
    9: "TOO_MANY_TAGS", 10: "TAG_IN_USE", 11: "BAD_FRAGMENT", 12: "LENGTH_MISMATCH",
    13: "BAD_UTF8", 14: "UNAUTHORIZED", 15: "DECOMPRESSION_FAILED", 16: "SHUTTING_DOWN",
    17: "BUSY", 18: "INTERNAL",
}
CODE = {name: code for code, name in NACK_CODES.items()}


# ======================================================================================
# Output model: a file holds groups, a group holds tests; tcIds are numbered per file.
# ======================================================================================

class Group:
    def __init__(self, gtype, comment, params):
        self.type = gtype
        self.comment = comment
        self.params = params
        self.tests = []

    def add(self, comment, reqs, result, error=None, inputs=None, outputs=None):
        assert result in ("valid", "invalid")
        assert (error is None) == (result == "valid"), comment
        assert reqs, comment
        t = {"tcId": 0, "comment": comment, "reqs": list(reqs)}
        t.update(inputs or {})
        t["result"] = result
        if error is not None:
            t["error"] = error
        t.update(outputs or {})
        self.tests.append(t)
        return t

    def to_json(self):
        return {"type": self.type, "comment": self.comment, "params": self.params,
                "tests": self.tests}


class VectorFile:
    def __init__(self, name, filename):
        self.name = name
        self.filename = filename
        self.groups = []

    def group(self, gtype, comment, params=None):
        g = Group(gtype, comment, params or {})
        self.groups.append(g)
        return g

    def write(self):
        n = 0
        for g in self.groups:
            for t in g.tests:
                n += 1
                t["tcId"] = n
        doc = {"name": self.name, "specVersion": SPEC_VERSION, "source": SOURCE,
               "numberOfTests": n, "testGroups": [g.to_json() for g in self.groups]}
        path = os.path.join(OUT, self.filename)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        return n


# ======================================================================================
# Byte builders, straight from the layouts
# ======================================================================================

def u8(v):
    return struct.pack(">B", v)


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def preface(kind, majors=None, major=None, magic=MAGIC, count=None):
    """§1.1: magic, kind, then count + majors (HELLO/REFUSE) or major (ACCEPT)."""
    b = magic + u8(kind)
    if major is not None:
        return b + u8(major)
    if count is None:
        count = len(majors)
    return b + u8(count) + bytes(majors)


def header(opcode, flags, tag, length):
    """§4.1: opcode u8, flags u8, tag u16, length u32."""
    return struct.pack(">BBHI", opcode, flags, tag, length)


def frame(opcode, flags, tag, payload=b""):
    return header(opcode, flags, tag, len(payload)) + payload


def first_fragment(opcode, flags, tag, total, data):
    """§4.3: a first fragment (MORE set) begins with u32 total."""
    return frame(opcode, flags | MORE, tag, u32(total) + data)


def text(b):
    """§0.2 text: u16 length then the bytes (given here as raw bytes)."""
    return u16(len(b)) + b


def nack_payload(req_opcode, code, txt):
    return u8(req_opcode) + u16(code) + text(txt)


def bye_payload(reason, txt):
    return u16(reason) + text(txt)


def peer_entry(node_id, family, address, port, flags):
    return node_id + u8(family) + address + u16(port) + u8(flags)


def peer_fields(node_id, family, address, port, flags):
    return {"node_id": node_id.hex(), "family": family, "address": address.hex(),
            "port": port, "flags": flags}


def stats_body(entries, count=None):
    if count is None:
        count = len(entries)
    return u16(count) + b"".join(u16(i) + u64(v) for i, v in entries)


def zc(data):
    """zlib (RFC 1950) at level 9, the setting 3 of SET_CONNECTION_OPT."""
    return zlib.compress(data, 9)


def H(b):
    return b.hex()


# Invalid UTF-8 of every kind that [CONV-1] names (RFC 3629), each inside ASCII.
BAD_UTF8 = [
    ("overlong 2-byte encoding of '/' (C0 AF)", b"bad \xc0\xaf path"),
    ("overlong 2-byte encoding of NUL (C0 80)", b"nul \xc0\x80 here"),
    ("overlong 3-byte encoding of '/' (E0 80 AF)", b"bad \xe0\x80\xaf path"),
    ("overlong 4-byte encoding of U+FFFF (F0 8F BF BF)", b"x\xf0\x8f\xbf\xbfy"),
    ("UTF-16 high surrogate U+D800 encoded (ED A0 80)", b"sur \xed\xa0\x80 rogate"),
    ("UTF-16 low surrogate U+DFFF encoded (ED BF BF)", b"sur \xed\xbf\xbf rogate"),
    ("surrogate pair encoded as two 3-byte sequences (CESU-8 of U+1F600)",
     b"cesu \xed\xa0\xbd\xed\xb8\x80"),
    ("code point U+110000, above U+10FFFF (F4 90 80 80)", b"big \xf4\x90\x80\x80"),
    ("lead byte F5 (would start a code point above U+10FFFF)", b"big \xf5\x80\x80\x80"),
    ("byte FF, never valid in UTF-8", b"ff \xff"),
    ("truncated 3-byte sequence at the end of the text (E2 82)", b"euro \xe2\x82"),
    ("truncated 2-byte sequence followed by ASCII (C3 41)", b"trunc \xc3A"),
    ("truncated 4-byte sequence followed by ASCII (F0 9F 98 41)", b"emoji \xf0\x9f\x98A"),
    ("lone continuation byte (80)", b"lone \x80 byte"),
    ("continuation byte after a complete character (C3 A9 A9)", b"caf\xc3\xa9\xa9"),
]



def self_check():
    """Guards on the hand-written inputs: each invalid-UTF-8 sample must fail a strict
    RFC 3629 decoder (Python's), and must fail only because of the named defect."""
    for what, raw in BAD_UTF8:
        try:
            raw.decode("utf-8", "strict")
        except UnicodeDecodeError:
            continue
        raise AssertionError("sample is valid UTF-8: " + what)


# ======================================================================================
# preface.json
# ======================================================================================

def gen_preface():
    f = VectorFile("preface", "preface.json")

    # --- HELLO decoded by the responder -----------------------------------------------
    g = f.group("preface", "HELLO as the responder decodes it (§1.1 field table, "
                "responder column)", {"expect": "hello"})

    def hello_ok(comment, majors, reqs=("PRE-1",)):
        g.add(comment, reqs, "valid", inputs={"hex": H(preface(HELLO, majors))},
              outputs={"fields": {"kind": "HELLO", "majors": list(majors)}})

    def hello_bad(comment, b, error, reqs):
        g.add(comment, reqs, "invalid", error, inputs={"hex": H(b)})

    hello_ok("HELLO offering major 1 only", [1])
    hello_ok("HELLO offering 3, 2, 1 (strictly descending)", [3, 2, 1])
    hello_ok("HELLO with the largest count, 16 majors 16..1", list(range(16, 0, -1)))
    hello_ok("HELLO offering major 255, the largest valid major", [255])
    hello_ok("HELLO with non-contiguous majors 255, 7, 1", [255, 7, 1])

    hello_bad("magic 'PARLEZ': last magic byte wrong", b"PARLEZ" + bytes([1, 1, 1]),
              "PREFACE_BAD_MAGIC", ["PRE-2"])
    hello_bad("magic in lower case 'parley'", b"parley" + bytes([1, 1, 1]),
              "PREFACE_BAD_MAGIC", ["PRE-2"])
    hello_bad("first magic byte wrong ('XARLEY')", b"XARLEY" + bytes([1, 1, 1]),
              "PREFACE_BAD_MAGIC", ["PRE-2"])
    hello_bad("an HTTP request instead of a preface", b"GET / HTTP/1.1\r\n",
              "PREFACE_BAD_MAGIC", ["PRE-2"])
    hello_bad("a TLS ClientHello record header instead of a preface",
              bytes.fromhex("160301020001"), "PREFACE_BAD_MAGIC", ["PRE-2"])
    hello_bad("bad magic with an otherwise valid kind and count: magic decides",
              b"PARLEX" + bytes([HELLO, 1, 1]), "PREFACE_BAD_MAGIC", ["PRE-2", "PRE-9"])
    hello_bad("kind 0", preface(0, [1]), "PREFACE_MALFORMED", ["PRE-3"])
    hello_bad("kind 2 (ACCEPT) sent to a responder", MAGIC + bytes([ACCEPT, 1]),
              "PREFACE_MALFORMED", ["PRE-3"])
    hello_bad("kind 3 (REFUSE) sent to a responder", preface(REFUSE, [1]),
              "PREFACE_MALFORMED", ["PRE-3"])
    hello_bad("kind 4, unassigned", preface(4, [1]), "PREFACE_MALFORMED", ["PRE-3"])
    hello_bad("kind 255", preface(255, [1]), "PREFACE_MALFORMED", ["PRE-3"])
    hello_bad("count 0: no majors", preface(HELLO, []), "PREFACE_MALFORMED",
              ["PRE-3", "PRE-1"])
    hello_bad("count 17, one above MAX_MAJORS, with 17 descending majors",
              preface(HELLO, list(range(17, 0, -1))), "PREFACE_MALFORMED", ["PRE-3"])
    hello_bad("major 0 as the only major", preface(HELLO, [0]), "PREFACE_MALFORMED",
              ["PRE-3"])
    hello_bad("major 0 last in an otherwise descending list", preface(HELLO, [2, 1, 0]),
              "PREFACE_MALFORMED", ["PRE-3"])
    hello_bad("majors ascending (1, 2)", preface(HELLO, [1, 2]), "PREFACE_MALFORMED",
              ["PRE-3", "PRE-1"])
    hello_bad("duplicate majors (2, 2)", preface(HELLO, [2, 2]), "PREFACE_MALFORMED",
              ["PRE-3", "PRE-1"])
    hello_bad("descending then rising (3, 1, 2)", preface(HELLO, [3, 1, 2]),
              "PREFACE_MALFORMED", ["PRE-3"])
    hello_bad("duplicate at the end (3, 1, 1)", preface(HELLO, [3, 1, 1]),
              "PREFACE_MALFORMED", ["PRE-3"])

    # --- answers decoded by the initiator -----------------------------------------------
    # params.offered: the majors this initiator sent in its HELLO (needed for [PRE-6]).
    g = f.group("preface", "ACCEPT and REFUSE as the initiator decodes them (§1.1 field "
                "table, initiator column); params.offered lists the majors its HELLO "
                "offered", {"expect": "answer", "offered": [2, 1]})

    def ans_ok(comment, b, fields, reqs):
        g.add(comment, reqs, "valid", inputs={"hex": H(b)}, outputs={"fields": fields})

    def ans_bad(comment, b, error, reqs):
        g.add(comment, reqs, "invalid", error, inputs={"hex": H(b)})

    ans_ok("ACCEPT of major 2, the highest offered", preface(ACCEPT, major=2),
           {"kind": "ACCEPT", "major": 2}, ["PRE-4", "PRE-6"])
    ans_ok("ACCEPT of major 1, offered but not the highest (the responder may not "
           "support 2)", preface(ACCEPT, major=1), {"kind": "ACCEPT", "major": 1},
           ["PRE-6"])
    ans_ok("REFUSE listing the responder's single major 3", preface(REFUSE, [3]),
           {"kind": "REFUSE", "majors": [3]}, ["PRE-5", "PRE-6"])
    ans_ok("REFUSE listing majors 5, 4, 3", preface(REFUSE, [5, 4, 3]),
           {"kind": "REFUSE", "majors": [5, 4, 3]}, ["PRE-5", "PRE-6"])
    ans_ok("REFUSE with 16 majors (the most allowed)", preface(REFUSE, list(range(19, 3, -1))),
           {"kind": "REFUSE", "majors": list(range(19, 3, -1))}, ["PRE-5", "PRE-6"])

    ans_bad("ACCEPT of major 3, which was not offered", preface(ACCEPT, major=3),
            "PREFACE_BAD_CHOICE", ["PRE-6"])
    ans_bad("ACCEPT of major 0, never a valid major", preface(ACCEPT, major=0),
            "PREFACE_BAD_CHOICE", ["PRE-6"])
    ans_bad("ACCEPT of major 255, not offered", preface(ACCEPT, major=255),
            "PREFACE_BAD_CHOICE", ["PRE-6"])
    ans_bad("answer with a bad magic", b"PARLEZ" + bytes([ACCEPT, 1]),
            "PREFACE_BAD_MAGIC", ["PRE-6", "ERR-1"])
    ans_bad("the initiator's own HELLO reflected back (kind 1)", preface(HELLO, [2, 1]),
            "PREFACE_MALFORMED", ["PRE-6", "ERR-1"])
    ans_bad("answer kind 0", MAGIC + bytes([0, 1]), "PREFACE_MALFORMED",
            ["PRE-6", "ERR-1"])
    ans_bad("answer kind 4, unassigned", MAGIC + bytes([4, 1]), "PREFACE_MALFORMED",
            ["PRE-6", "ERR-1"])
    ans_bad("REFUSE with count 0", preface(REFUSE, []), "PREFACE_MALFORMED",
            ["PRE-6", "PRE-5"])
    ans_bad("REFUSE with count 17", preface(REFUSE, list(range(20, 3, -1))),
            "PREFACE_MALFORMED", ["PRE-6", "PRE-5"])
    ans_bad("REFUSE with majors ascending (3, 4)", preface(REFUSE, [3, 4]),
            "PREFACE_MALFORMED", ["PRE-6", "PRE-5"])
    ans_bad("REFUSE with duplicate majors (4, 4)", preface(REFUSE, [4, 4]),
            "PREFACE_MALFORMED", ["PRE-6", "PRE-5"])
    ans_bad("REFUSE listing major 0", preface(REFUSE, [3, 0]), "PREFACE_MALFORMED",
            ["PRE-6", "PRE-5"])

    # --- negotiation: the responder's exact reply ---------------------------------------
    def negotiate_group(resp_majors):
        return f.group("negotiate", "responder supporting majors %s: its exact reply to "
                       "each HELLO" % resp_majors, {"responder_majors": resp_majors})

    def accept(m):
        return H(preface(ACCEPT, major=m))

    g = negotiate_group([1])
    refuse1 = H(preface(REFUSE, [1]))
    g.add("HELLO [1]: ACCEPT 1", ["PRE-4"], "valid",
          inputs={"hex": H(preface(HELLO, [1]))}, outputs={"answer": accept(1)})
    g.add("HELLO [3, 2, 1]: ACCEPT 1, the only common major", ["PRE-4"], "valid",
          inputs={"hex": H(preface(HELLO, [3, 2, 1]))}, outputs={"answer": accept(1)})
    g.add("HELLO with 16 majors 16..1: ACCEPT 1", ["PRE-4", "PRE-1"], "valid",
          inputs={"hex": H(preface(HELLO, list(range(16, 0, -1))))},
          outputs={"answer": accept(1)})
    g.add("HELLO [2]: no common major, REFUSE listing [1], close", ["PRE-5"], "invalid",
          "NO_COMMON_MAJOR", inputs={"hex": H(preface(HELLO, [2]))},
          outputs={"answer": refuse1})
    g.add("bad magic: close and send nothing", ["PRE-2"], "invalid", "PREFACE_BAD_MAGIC",
          inputs={"hex": H(b"PARLEZ" + bytes([HELLO, 1, 1]))}, outputs={"answer": ""})
    g.add("an HTTP request: close and send nothing (no reflection)", ["PRE-2"],
          "invalid", "PREFACE_BAD_MAGIC", inputs={"hex": H(b"GET / HTTP/1.1\r\n")},
          outputs={"answer": ""})
    g.add("kind 2 instead of HELLO: REFUSE [1], close", ["PRE-3"], "invalid",
          "PREFACE_MALFORMED", inputs={"hex": H(MAGIC + bytes([ACCEPT, 1]))},
          outputs={"answer": refuse1})
    g.add("count 0: REFUSE [1], close", ["PRE-3"], "invalid", "PREFACE_MALFORMED",
          inputs={"hex": H(preface(HELLO, []))}, outputs={"answer": refuse1})
    g.add("count 17: REFUSE [1], close", ["PRE-3"], "invalid", "PREFACE_MALFORMED",
          inputs={"hex": H(preface(HELLO, list(range(17, 0, -1))))},
          outputs={"answer": refuse1})
    g.add("major 0 in the list: REFUSE [1], close", ["PRE-3"], "invalid",
          "PREFACE_MALFORMED", inputs={"hex": H(preface(HELLO, [1, 0]))},
          outputs={"answer": refuse1})

    g = negotiate_group([5, 3, 1])
    refuse531 = H(preface(REFUSE, [5, 3, 1]))
    g.add("HELLO [5, 4, 1]: ACCEPT 5, the highest common major", ["PRE-4"], "valid",
          inputs={"hex": H(preface(HELLO, [5, 4, 1]))}, outputs={"answer": accept(5)})
    g.add("HELLO [4, 3, 2]: ACCEPT 3, the only common major", ["PRE-4"], "valid",
          inputs={"hex": H(preface(HELLO, [4, 3, 2]))}, outputs={"answer": accept(3)})
    g.add("HELLO [9, 3, 1]: ACCEPT 3, not 1", ["PRE-4"], "valid",
          inputs={"hex": H(preface(HELLO, [9, 3, 1]))}, outputs={"answer": accept(3)})
    g.add("HELLO [6, 4, 2]: no common major, REFUSE listing 5, 3, 1 descending",
          ["PRE-5"], "invalid", "NO_COMMON_MAJOR",
          inputs={"hex": H(preface(HELLO, [6, 4, 2]))}, outputs={"answer": refuse531})
    g.add("HELLO [255]: no common major, REFUSE [5, 3, 1]", ["PRE-5"], "invalid",
          "NO_COMMON_MAJOR", inputs={"hex": H(preface(HELLO, [255]))},
          outputs={"answer": refuse531})
    g.add("majors ascending [1, 3]: REFUSE, close, although 3 is common", ["PRE-3"],
          "invalid", "PREFACE_MALFORMED", inputs={"hex": H(preface(HELLO, [1, 3]))},
          outputs={"answer": refuse531})
    g.add("duplicate majors [3, 3, 1]: REFUSE, close, although 3 is common",
          ["PRE-3"], "invalid", "PREFACE_MALFORMED",
          inputs={"hex": H(preface(HELLO, [3, 3, 1]))}, outputs={"answer": refuse531})
    g.add("kind 3 (REFUSE) sent by the initiator: REFUSE, close", ["PRE-3"], "invalid",
          "PREFACE_MALFORMED", inputs={"hex": H(preface(REFUSE, [5]))},
          outputs={"answer": refuse531})
    g.add("bad magic 'PARLEY' misspelt 'PARLAY': nothing sent", ["PRE-2"], "invalid",
          "PREFACE_BAD_MAGIC", inputs={"hex": H(b"PARLAY" + bytes([HELLO, 1, 5]))},
          outputs={"answer": ""})

    g = negotiate_group([255, 2])
    g.add("HELLO [255, 1]: ACCEPT 255", ["PRE-4"], "valid",
          inputs={"hex": H(preface(HELLO, [255, 1]))}, outputs={"answer": accept(255)})
    g.add("HELLO [3, 2, 1]: ACCEPT 2", ["PRE-4"], "valid",
          inputs={"hex": H(preface(HELLO, [3, 2, 1]))}, outputs={"answer": accept(2)})
    g.add("HELLO [1]: REFUSE [255, 2]", ["PRE-5"], "invalid", "NO_COMMON_MAJOR",
          inputs={"hex": H(preface(HELLO, [1]))},
          outputs={"answer": H(preface(REFUSE, [255, 2]))})
    return f.write()


# ======================================================================================
# frame_header.json
# ======================================================================================

def gen_frame_header():
    f = VectorFile("frame_header", "frame_header.json")

    def hf(g, comment, reqs, opcode, flags, tag, length, error=None):
        b = header(opcode, flags, tag, length)
        if error is None:
            g.add(comment, reqs, "valid", inputs={"hex": H(b)},
                  outputs={"fields": {"opcode": opcode, "flags": flags, "tag": tag,
                                      "length": length}})
        else:
            g.add(comment, reqs, "invalid", error, inputs={"hex": H(b)})

    g = f.group("frame_header", "8-byte frame headers, no compression setting in force; "
                "checks in the order of §4.1 (the header alone: the record check does "
                "not apply)", {"compression": False})
    hf(g, "PING request, tag 1, 8 bytes of payload", ["FRAME-1"], PING, 0, 1, 8)
    hf(g, "PING on tag 0 (no response wanted)", ["TAG-3"], PING, 0, 0, 0)
    hf(g, "largest tag, 65535", ["TAG-1"], PING, 0, 65535, 4)
    hf(g, "length 0", ["FRAME-1"], BYE, 0, 7, 0)
    hf(g, "length 16384, exactly FRAME_MAX_PAYLOAD", ["FRAME-2"], SHOUT, 0, 1, 16384)
    hf(g, "ACK with RESPONSE", ["FRAME-5", "FRAME-8"], ACK, RESPONSE, 1, 1)
    hf(g, "NACK with RESPONSE", ["FRAME-5", "FRAME-8"], NACK, RESPONSE, 1, 5)
    hf(g, "NACK with RESPONSE on tag 0 (error report for a tag-0 request)", ["TAG-3"],
       NACK, RESPONSE, 0, 5)
    hf(g, "first fragment of a request: MORE on tag 1", ["FRAG-1"], PING, MORE, 1, 4)
    hf(g, "fragment of a response: RESPONSE|MORE with ACK", ["FRAG-1"], ACK,
       RESPONSE | MORE, 9, 100)
    hf(g, "ABORT alone, length 0", ["FRAME-4", "FRAG-7"], STATS, ABORT, 3, 0)
    hf(g, "ABORT with RESPONSE on ACK, length 0", ["FRAME-4", "FRAG-7"], ACK,
       ABORT | RESPONSE, 3, 0)
    hf(g, "ABORT with RESPONSE on NACK, length 0", ["FRAME-4", "FRAG-7"], NACK,
       ABORT | RESPONSE, 3, 0)
    hf(g, "opcode 17 (RELAY, draft) is assigned: the header is valid (the draft is "
       "answered at message decoding)", ["MSG-1"], RELAY, 0, 1, 0)
    hf(g, "opcode 4 (SHOUT, draft): header valid", ["MSG-1"], SHOUT, 0, 1, 10)

    hf(g, "length 16385, one above FRAME_MAX_PAYLOAD", ["FRAME-2"], PING, 0, 1, 16385,
       "FRAME_TOO_LARGE")
    hf(g, "length 0x80000000 (top bit set)", ["FRAME-2"], PING, 0, 1, 0x80000000,
       "FRAME_TOO_LARGE")
    hf(g, "length 0xFFFFFFFF", ["FRAME-2"], PING, 0, 1, 0xFFFFFFFF, "FRAME_TOO_LARGE")
    for bit in (0x10, 0x20, 0x40, 0x80):
        hf(g, "reserved flag bit 0x%02x set" % bit, ["FRAME-3"], PING, bit, 1, 0,
           "BAD_FLAGS")
    hf(g, "all reserved flag bits set (0xf0)", ["FRAME-3"], PING, 0xF0, 1, 0, "BAD_FLAGS")
    hf(g, "every flag bit set (0xff)", ["FRAME-3"], PING, 0xFF, 1, 0, "BAD_FLAGS")
    hf(g, "reserved bit 0x10 on an otherwise valid ACK response", ["FRAME-3", "TAG-6"],
       ACK, RESPONSE | 0x10, 1, 1, "BAD_FLAGS")
    hf(g, "ABORT with MORE", ["FRAME-4"], PING, ABORT | MORE, 1, 0, "BAD_FLAGS")
    hf(g, "ABORT with RESPONSE and MORE", ["FRAME-4"], ACK, ABORT | RESPONSE | MORE, 1, 0,
       "BAD_FLAGS")
    hf(g, "ABORT with length 1", ["FRAME-4"], PING, ABORT, 1, 1, "MALFORMED")
    hf(g, "ABORT|RESPONSE on ACK with length 4", ["FRAME-4"], ACK, ABORT | RESPONSE, 1,
       4, "MALFORMED")
    hf(g, "RESPONSE on opcode 2 (PING): RESPONSE only with ACK or NACK",
       ["FRAME-5", "TAG-6"], PING, RESPONSE, 1, 0, "BAD_FLAGS")
    hf(g, "RESPONSE on opcode 10 (BYE)", ["FRAME-5", "TAG-6"], BYE, RESPONSE, 1, 4,
       "BAD_FLAGS")
    hf(g, "ABORT|RESPONSE on opcode 2 (PING)", ["FRAME-5", "FRAME-4"], PING,
       ABORT | RESPONSE, 1, 0, "BAD_FLAGS")
    hf(g, "ACK without RESPONSE (a request with opcode ACK)", ["FRAME-5"], ACK, 0, 1, 1,
       "BAD_FLAGS")
    hf(g, "NACK without RESPONSE", ["FRAME-5"], NACK, 0, 1, 5, "BAD_FLAGS")
    hf(g, "ACK without RESPONSE on tag 0", ["FRAME-5"], ACK, 0, 0, 1, "BAD_FLAGS")
    hf(g, "ABORT alone on opcode ACK: opcode 0 only with RESPONSE", ["FRAME-5"], ACK,
       ABORT, 1, 0, "BAD_FLAGS")
    hf(g, "COMPRESSED with no compression setting in force", ["FRAME-6"], PING,
       COMPRESSED, 1, 10, "BAD_FLAGS")
    hf(g, "COMPRESSED|MORE with no compression setting in force", ["FRAME-6"], BYE,
       COMPRESSED | MORE, 1, 10, "BAD_FLAGS")
    hf(g, "RESPONSE|COMPRESSED on ACK with no compression setting in force",
       ["FRAME-6", "TAG-6"], ACK, RESPONSE | COMPRESSED, 1, 10, "BAD_FLAGS")
    hf(g, "ABORT|COMPRESSED (both rules fail: BAD_FLAGS)", ["FRAME-4", "FRAME-6"], PING,
       ABORT | COMPRESSED, 1, 0, "BAD_FLAGS")
    hf(g, "opcode 18, the first unassigned", ["FRAME-7", "MSG-1"], 18, 0, 1, 0,
       "UNKNOWN_OPCODE")
    hf(g, "opcode 128", ["FRAME-7", "MSG-1"], 128, 0, 1, 3, "UNKNOWN_OPCODE")
    hf(g, "opcode 255", ["FRAME-7", "MSG-1"], 255, 0, 1, 0, "UNKNOWN_OPCODE")
    hf(g, "opcode 200 on tag 0", ["FRAME-7", "TAG-3"], 200, 0, 0, 0, "UNKNOWN_OPCODE")
    hf(g, "MORE on tag 0", ["TAG-3"], PING, MORE, 0, 8, "BAD_FRAGMENT")
    hf(g, "RESPONSE|MORE on tag 0 (a fragmented NACK on tag 0)", ["TAG-3"], NACK,
       RESPONSE | MORE, 0, 8, "BAD_FRAGMENT")
    # Order of checks (§4.1): length, reserved bits, flag combinations, opcode; the
    # first failing check decides.
    hf(g, "order: length 16385 and reserved bit 0x80: length is checked first",
       ["FRAME-2", "FRAME-3", "FRAME-9"], PING, 0x80, 1, 16385, "FRAME_TOO_LARGE")
    hf(g, "order: length 16385 and unassigned opcode 200: length first",
       ["FRAME-2", "FRAME-7", "FRAME-9"], 200, 0, 1, 16385, "FRAME_TOO_LARGE")
    hf(g, "order: length 16385 and ACK without RESPONSE: length first",
       ["FRAME-2", "FRAME-5", "FRAME-9"], ACK, 0, 1, 16385, "FRAME_TOO_LARGE")
    hf(g, "order: reserved bit 0x20 and unassigned opcode 200: flags before opcode",
       ["FRAME-3", "FRAME-7", "FRAME-9"], 200, 0x20, 1, 0, "BAD_FLAGS")
    hf(g, "order: RESPONSE on unassigned opcode 200: flag combination before opcode",
       ["FRAME-5", "FRAME-7", "FRAME-9"], 200, RESPONSE, 1, 0, "BAD_FLAGS")
    hf(g, "order: COMPRESSED without compression on unassigned opcode 77: flags before "
       "opcode", ["FRAME-6", "FRAME-7", "FRAME-9"], 77, COMPRESSED, 1, 0, "BAD_FLAGS")
    hf(g, "order: ABORT|MORE on tag 0: the flag combination decides before [TAG-3]",
       ["FRAME-4", "TAG-3", "FRAME-9"], PING, ABORT | MORE, 0, 0, "BAD_FLAGS")
    hf(g, "order: reserved bit 0x40 with MORE on tag 0: reserved bits before [TAG-3]",
       ["FRAME-3", "TAG-3", "FRAME-9"], PING, 0x40 | MORE, 0, 4, "BAD_FLAGS")
    hf(g, "order: length 16385 with MORE on tag 0: length before [TAG-3]",
       ["FRAME-2", "TAG-3", "FRAME-9"], PING, MORE, 0, 16385, "FRAME_TOO_LARGE")
    # §4.5 rule 2 lists [TAG-3] after [FRAME-2]..[FRAME-7]: read literally, the opcode
    # check comes first.
    hf(g, "order: MORE on tag 0 with unassigned opcode 200: the opcode check "
       "([FRAME-7]) precedes [TAG-3], as §4.5 rule 2 lists them",
       ["FRAME-7", "TAG-3", "FRAME-9"], 200, MORE, 0, 4, "UNKNOWN_OPCODE")

    g = f.group("frame_header", "8-byte frame headers with a compression setting in "
                "force ([OPT-3])", {"compression": True})
    hf(g, "COMPRESSED request once compression is in force", ["FRAME-6", "OPT-4"], PING,
       COMPRESSED, 1, 12)
    hf(g, "COMPRESSED|MORE first fragment", ["FRAME-6", "OPT-4"], BYE, COMPRESSED | MORE,
       1, 40)
    hf(g, "RESPONSE|COMPRESSED ACK", ["FRAME-6", "OPT-4"], ACK, RESPONSE | COMPRESSED,
       1, 12)
    hf(g, "RESPONSE|MORE|COMPRESSED NACK fragment", ["FRAME-6", "OPT-4"], NACK,
       RESPONSE | MORE | COMPRESSED, 2, 40)
    hf(g, "uncompressed request while compression is in force (compression is "
       "optional per message)", ["OPT-5"], PING, 0, 1, 4)
    hf(g, "ABORT|COMPRESSED with compression in force", ["FRAME-4"], PING,
       ABORT | COMPRESSED, 1, 0, "BAD_FLAGS")
    hf(g, "ABORT|RESPONSE|COMPRESSED on ACK with compression in force", ["FRAME-4"], ACK,
       ABORT | RESPONSE | COMPRESSED, 1, 0, "BAD_FLAGS")
    hf(g, "COMPRESSED with reserved bit 0x10", ["FRAME-3"], PING, COMPRESSED | 0x10, 1,
       4, "BAD_FLAGS")
    hf(g, "COMPRESSED request with opcode ACK (no RESPONSE)", ["FRAME-5"], ACK,
       COMPRESSED, 1, 4, "BAD_FLAGS")
    hf(g, "COMPRESSED with unassigned opcode 99", ["FRAME-7"], 99, COMPRESSED, 1, 4,
       "UNKNOWN_OPCODE")
    hf(g, "COMPRESSED|MORE on tag 0", ["TAG-3"], PING, COMPRESSED | MORE, 0, 4,
       "BAD_FRAGMENT")
    return f.write()


# ======================================================================================
# messages.json
# ======================================================================================

def gen_messages():
    f = VectorFile("messages", "messages.json")

    def ok(g, comment, reqs, opcode, flags, tag, payload, body):
        b = frame(opcode, flags, tag, payload)
        if "text" in body:   # the decoded text is exactly the payload's last bytes
            assert payload.endswith(text(body["text"].encode("utf-8"))), comment
        g.add(comment, reqs, "valid", inputs={"hex": H(b)},
              outputs={"fields": {"opcode": opcode, "flags": flags, "tag": tag,
                                  "body": body}})

    def bad(g, comment, reqs, opcode, flags, tag, payload, error):
        g.add(comment, reqs, "invalid", error,
              inputs={"hex": H(frame(opcode, flags, tag, payload))})

    NOCOMP = {"compression": False}

    # --- PING ---------------------------------------------------------------------------
    g = f.group("message", "PING requests (§5.4)", NOCOMP)
    d8 = bytes(range(1, 9))
    ok(g, "PING with 8 bytes of data", ["PING-1"], PING, 0, 1, d8, {"data": H(d8)})
    ok(g, "PING with no data", ["PING-1"], PING, 0, 2, b"", {"data": ""})
    d64 = bytes(range(64))
    ok(g, "PING with 64 bytes of data, exactly PING_MAX", ["PING-1", "PING-2"], PING, 0,
       3, d64, {"data": H(d64)})
    ok(g, "PING on tag 0 (no ACK wanted)", ["TAG-3"], PING, 0, 0, b"keepaliv",
       {"data": H(b"keepaliv")})
    ok(g, "PING on tag 65535", ["PING-1"], PING, 0, 65535, b"\xff", {"data": "ff"})
    bad(g, "PING with 65 bytes of data, one above PING_MAX", ["PING-2", "MSG-3"], PING, 0,
        4, bytes(range(65)), "MALFORMED")
    bad(g, "PING on tag 0 with 65 bytes: still reported (NACK on tag 0)",
        ["PING-2", "TAG-3"], PING, 0, 0, bytes(65), "MALFORMED")
    bad(g, "PING with 1000 bytes of data", ["PING-2"], PING, 0, 5, b"p" * 1000,
        "MALFORMED")

    # --- SET_CONNECTION_OPT -------------------------------------------------------------
    g = f.group("message", "SET_CONNECTION_OPT requests (§5.9)", NOCOMP)
    names = ["bz2", "gzip", "lzma", "zlib", "snappy"]
    for s in range(5):
        ok(g, "option 0 (COMPRESSION), setting %d (%s)" % (s, names[s]), ["OPT-1"],
           SET_CONNECTION_OPT, 0, 10 + s, bytes([0, s]), {"option": 0, "setting": s})
    ok(g, "option 1 (PREFERRED_COMPRESSION), setting 3 (zlib)", ["OPT-1", "OPT-3"],
       SET_CONNECTION_OPT, 0, 20, bytes([1, 3]), {"option": 1, "setting": 3})
    ok(g, "option 1, setting 0 (bz2)", ["OPT-1"], SET_CONNECTION_OPT, 0, 21, bytes([1, 0]),
       {"option": 1, "setting": 0})
    ok(g, "option 0 setting 3 on tag 0", ["OPT-1", "TAG-3"], SET_CONNECTION_OPT, 0, 0,
       bytes([0, 3]), {"option": 0, "setting": 3})
    bad(g, "setting 5, the first invalid setting", ["OPT-1"], SET_CONNECTION_OPT, 0, 22,
        bytes([0, 5]), "MALFORMED")
    bad(g, "setting 255", ["OPT-1"], SET_CONNECTION_OPT, 0, 23, bytes([0, 255]),
        "MALFORMED")
    bad(g, "option 1 with setting 5", ["OPT-1"], SET_CONNECTION_OPT, 0, 24, bytes([1, 5]),
        "MALFORMED")
    bad(g, "option 2, the first reserved option", ["OPT-1"], SET_CONNECTION_OPT, 0, 25,
        bytes([2, 3]), "UNSUPPORTED")
    bad(g, "option 255, reserved", ["OPT-1"], SET_CONNECTION_OPT, 0, 26, bytes([255, 0]),
        "UNSUPPORTED")
    bad(g, "reserved option 2 with invalid setting 7: the option field (checked first, "
        "in the order of the §5.9 table) decides", ["OPT-1", "MSG-2"], SET_CONNECTION_OPT,
        0, 27, bytes([2, 7]), "UNSUPPORTED")
    bad(g, "payload of 1 byte (too short)", ["OPT-1", "MSG-3"], SET_CONNECTION_OPT, 0, 28,
        bytes([0]), "MALFORMED")
    bad(g, "payload of 3 bytes (one trailing byte)", ["OPT-1", "CONV-2"],
        SET_CONNECTION_OPT, 0, 29, bytes([0, 3, 0]), "MALFORMED")
    bad(g, "empty payload", ["OPT-1", "MSG-3"], SET_CONNECTION_OPT, 0, 30, b"",
        "MALFORMED")

    # --- BYE ----------------------------------------------------------------------------
    g = f.group("message", "BYE requests (§5.5)", NOCOMP)
    ok(g, "BYE reason 0 NORMAL, empty text", ["BYE-1"], BYE, 0, 1, bye_payload(0, b""),
       {"reason": 0, "text": ""})
    ok(g, "BYE reason 1 SHUTDOWN with text", ["BYE-1"], BYE, 0, 2,
       bye_payload(1, b"shutting down"), {"reason": 1, "text": "shutting down"})
    ok(g, "BYE reason 2 IDLE", ["BYE-1", "LIMIT-5"], BYE, 0, 3,
       bye_payload(2, b"idle for 120 s"), {"reason": 2, "text": "idle for 120 s"})
    ok(g, "BYE reason 3 OVERLOAD on tag 0", ["BYE-1", "ERR-3"], BYE, 0, 0,
       bye_payload(3, b"overloaded"), {"reason": 3, "text": "overloaded"})
    ok(g, "BYE reason 4, unassigned: valid, means 'other'", ["BYE-1"], BYE, 0, 4,
       bye_payload(4, b"other"), {"reason": 4, "text": "other"})
    ok(g, "BYE reason 65535", ["BYE-1"], BYE, 0, 5, bye_payload(65535, b""),
       {"reason": 65535, "text": ""})
    t = b"a" * TEXT_MAX
    ok(g, "BYE text of 1024 ASCII bytes, exactly TEXT_MAX", ["BYE-2"], BYE, 0, 6,
       bye_payload(0, t), {"reason": 0, "text": t.decode()})
    t = "\u00e9" * 512
    ok(g, "BYE text of 512 'é' (1024 bytes, 512 characters): the limit counts bytes",
       ["BYE-2", "CONV-1"], BYE, 0, 7, bye_payload(0, t.encode()),
       {"reason": 0, "text": t})
    t = "edge \ud7ff\ue000\uffff\U00010000\U0010ffff"
    ok(g, "BYE text with the UTF-8 boundary code points U+D7FF, U+E000, U+FFFF, "
       "U+10000, U+10FFFF", ["CONV-1"], BYE, 0, 8, bye_payload(0, t.encode()),
       {"reason": 0, "text": t})
    t = "Grüße, 世界 🌍"
    ok(g, "BYE text with 2-, 3- and 4-byte characters", ["CONV-1"], BYE, 0, 9,
       bye_payload(0, t.encode()), {"reason": 0, "text": t})
    bad(g, "BYE text of 1025 bytes, one above TEXT_MAX", ["BYE-2"], BYE, 0, 10,
        bye_payload(0, b"a" * 1025), "MALFORMED")
    bad(g, "BYE with one trailing byte after the text", ["BYE-2", "CONV-2"], BYE, 0, 11,
        bye_payload(0, b"bye") + b"\x00", "MALFORMED")
    bad(g, "BYE text_length 10 with 9 text bytes (runs past the payload)",
        ["BYE-2", "CONV-3"], BYE, 0, 12, u16(0) + u16(10) + b"x" * 9, "MALFORMED")
    bad(g, "BYE payload of 3 bytes (text_length cut)", ["BYE-2", "MSG-3"], BYE, 0, 13,
        u16(0) + b"\x00", "MALFORMED")
    bad(g, "BYE with an empty payload", ["BYE-2", "MSG-3"], BYE, 0, 14, b"", "MALFORMED")
    bad(g, "BYE text_length 1025 and the text also bad UTF-8: the length is checked "
        "first", ["BYE-2"], BYE, 0, 15, bye_payload(0, b"\xff" * 1025), "MALFORMED")
    for i, (what, raw) in enumerate(BAD_UTF8):
        bad(g, "BYE text with invalid UTF-8: " + what, ["BYE-2", "CONV-1"], BYE, 0, 16 + i,
            bye_payload(0, raw), "BAD_UTF8")
    bad(g, "BYE on tag 0 with invalid UTF-8: still reported (NACK on tag 0)",
        ["BYE-2", "TAG-3"], BYE, 0, 0, bye_payload(0, b"\xc0\xaf"), "BAD_UTF8")

    # --- NACK (responses) ---------------------------------------------------------------
    g = f.group("message", "NACK responses (§5.3); one per registry code, decoded as "
                "the requester does", NOCOMP)
    # The request each code plausibly answers, and a text for it.
    nack_cases = {
        1: (PING, "PING data over 64 bytes"),
        2: (200, "unknown opcode 200"),
        3: (SHOUT, "SHOUT not implemented"),
        4: (SET_CONNECTION_OPT, "setting 4 (snappy) not supported"),
        5: (PING, "reserved flag bits set"),
        6: (BYE, "frame payload 16385 > 16384"),
        7: (STORE, "total 16777217 > max_message"),
        8: (STORE, "reassembly budget exhausted"),
        9: (PING, "1024 requests outstanding"),
        10: (PING, "tag 7 in use"),
        11: (PING, "MORE on tag 0"),
        12: (BYE, "data 30 != total 34"),
        13: (BYE, "invalid UTF-8 at byte 4"),
        14: (STATS, "not the admin"),
        15: (PING, "zlib: invalid stored block lengths"),
        16: (PING, "shutting down"),
        17: (FIND_NODE, "busy, retry later"),
        18: (PEERS, "internal error"),
    }
    for code in range(1, 19):
        req, txt = nack_cases[code]
        ok(g, "NACK code %d %s (req_opcode %d)" % (code, NACK_CODES[code], req),
           ["NACK-1", "FRAME-8"], NACK, RESPONSE, code, nack_payload(req, code, txt.encode()),
           {"req_opcode": req, "code": code, "text": txt})
    ok(g, "NACK code 19, the first unassigned code: valid, means 'failed'", ["NACK-2"],
       NACK, RESPONSE, 19, nack_payload(PING, 19, b"future code"),
       {"req_opcode": PING, "code": 19, "text": "future code"})
    ok(g, "NACK code 65535, unassigned: valid", ["NACK-2"], NACK, RESPONSE, 20,
       nack_payload(BYE, 65535, b""), {"req_opcode": BYE, "code": 65535, "text": ""})
    ok(g, "NACK with empty text", ["NACK-1"], NACK, RESPONSE, 21,
       nack_payload(PING, 1, b""), {"req_opcode": PING, "code": 1, "text": ""})
    t = "x" * TEXT_MAX
    ok(g, "NACK with 1024 bytes of text, exactly TEXT_MAX", ["NACK-1"], NACK, RESPONSE,
       22, nack_payload(PING, 1, t.encode()), {"req_opcode": PING, "code": 1, "text": t})
    t = "\u20ac" * 341 + "a"
    ok(g, "NACK with 341 '€' and one 'a' (1024 bytes)", ["NACK-1", "CONV-1"], NACK,
       RESPONSE, 23, nack_payload(PING, 1, t.encode()),
       {"req_opcode": PING, "code": 1, "text": t})
    ok(g, "NACK on tag 0: the error report for a tag-0 request", ["TAG-3", "NACK-1"],
       NACK, RESPONSE, 0, nack_payload(PING, 1, b"PING data over 64 bytes"),
       {"req_opcode": PING, "code": 1, "text": "PING data over 64 bytes"})
    ok(g, "NACK with req_opcode 255, unassigned: valid (what UNKNOWN_OPCODE reports)",
       ["NACK-1", "FRAME-7"], NACK, RESPONSE, 24,
       nack_payload(255, 2, b"unknown opcode 255"),
       {"req_opcode": 255, "code": 2, "text": "unknown opcode 255"})
    ok(g, "NACK with 4-byte characters in the text", ["CONV-1"], NACK, RESPONSE, 25,
       nack_payload(PING, 17, "busy \U0001F6A7".encode()),
       {"req_opcode": PING, "code": 17, "text": "busy \U0001F6A7"})
    bad(g, "NACK code 0, reserved", ["NACK-1", "TAG-6"], NACK, RESPONSE, 26,
        nack_payload(PING, 0, b"zero"), "MALFORMED")
    ok(g, "NACK with req_opcode 0 (ACK): reports a request frame that carried ACK "
       "([FRAME-5])", ["NACK-1", "FRAME-5"], NACK, RESPONSE, 27,
       nack_payload(ACK, 5, b""), {"req_opcode": ACK, "code": 5, "text": ""})
    ok(g, "NACK with req_opcode 1 (NACK): reports a request frame that carried NACK "
       "([FRAME-5])", ["NACK-1", "FRAME-5"], NACK, RESPONSE, 28,
       nack_payload(NACK, 5, b""), {"req_opcode": NACK, "code": 5, "text": ""})
    bad(g, "NACK text of 1025 bytes, one above TEXT_MAX", ["NACK-1", "TAG-6"], NACK,
        RESPONSE, 29, nack_payload(PING, 1, b"x" * 1025), "MALFORMED")
    bad(g, "NACK text_length 10 with 6 bytes left (runs past the payload)",
        ["CONV-3", "TAG-6"], NACK, RESPONSE, 30,
        u8(PING) + u16(1) + u16(10) + b"abcdef", "MALFORMED")
    bad(g, "NACK text_length 3 with 6 bytes left (trailing bytes)", ["CONV-2", "TAG-6"],
        NACK, RESPONSE, 31, u8(PING) + u16(1) + u16(3) + b"abcdef", "MALFORMED")
    bad(g, "NACK payload of 4 bytes (text_length cut)", ["MSG-3", "TAG-6"], NACK,
        RESPONSE, 32, u8(PING) + u16(1) + b"\x00", "MALFORMED")
    bad(g, "NACK with an empty payload", ["MSG-3", "TAG-6"], NACK, RESPONSE, 33, b"",
        "MALFORMED")
    for i, (what, raw) in enumerate(BAD_UTF8):
        bad(g, "NACK text with invalid UTF-8: " + what, ["CONV-1", "TAG-6"], NACK,
            RESPONSE, 40 + i, nack_payload(PING, 1, raw), "BAD_UTF8")

    # --- ACK (responses) ----------------------------------------------------------------
    g = f.group("message", "ACK responses (§5.2), the body chosen by req_opcode", NOCOMP)
    ok(g, "ACK to PING echoing 8 bytes", ["ACK-1", "PING-1"], ACK, RESPONSE, 1,
       u8(PING) + d8, {"req_opcode": PING, "data": H(d8)})
    ok(g, "ACK to PING with no data", ["ACK-1", "PING-1"], ACK, RESPONSE, 2, u8(PING),
       {"req_opcode": PING, "data": ""})
    ok(g, "ACK to PING echoing 64 bytes", ["ACK-1", "PING-1"], ACK, RESPONSE, 3,
       u8(PING) + d64, {"req_opcode": PING, "data": H(d64)})
    bad(g, "ACK to PING with 65 bytes of data", ["ACK-2", "TAG-6"], ACK, RESPONSE, 4,
        u8(PING) + bytes(65), "MALFORMED")
    ok(g, "ACK to SET_CONNECTION_OPT 0/3 (zlib)", ["ACK-1", "OPT-1"], ACK, RESPONSE, 5,
       u8(SET_CONNECTION_OPT) + bytes([0, 3]),
       {"req_opcode": SET_CONNECTION_OPT, "option": 0, "setting": 3})
    ok(g, "ACK to SET_CONNECTION_OPT 1/0", ["ACK-1", "OPT-1"], ACK, RESPONSE, 6,
       u8(SET_CONNECTION_OPT) + bytes([1, 0]),
       {"req_opcode": SET_CONNECTION_OPT, "option": 1, "setting": 0})
    bad(g, "ACK to SET_CONNECTION_OPT with a 1-byte body", ["ACK-2"], ACK, RESPONSE, 7,
        u8(SET_CONNECTION_OPT) + bytes([0]), "MALFORMED")
    bad(g, "ACK to SET_CONNECTION_OPT with a 3-byte body", ["ACK-2", "CONV-2"], ACK,
        RESPONSE, 8, u8(SET_CONNECTION_OPT) + bytes([0, 3, 0]), "MALFORMED")
    ok(g, "ACK to BYE, empty body", ["ACK-1", "BYE-1"], ACK, RESPONSE, 9, u8(BYE),
       {"req_opcode": BYE})
    bad(g, "ACK to BYE with a 1-byte body", ["ACK-2", "CONV-2"], ACK, RESPONSE, 10,
        u8(BYE) + b"\x00", "MALFORMED")
    ok(g, "ACK to SHUTDOWN, empty body", ["ACK-1", "ADMIN-4"], ACK, RESPONSE, 11,
       u8(SHUTDOWN), {"req_opcode": SHUTDOWN})
    bad(g, "ACK to SHUTDOWN with a body", ["ACK-2", "CONV-2"], ACK, RESPONSE, 12,
        u8(SHUTDOWN) + b"\x01\x02", "MALFORMED")

    nid1 = bytes(range(0x10, 0x30))
    nid2 = bytes(range(0xa0, 0xc0))
    v4 = bytes([127, 0, 0, 1])
    v6 = bytes.fromhex("20010db8000000000000000000000001")
    e1 = peer_entry(nid1, 4, v4, 7000, 1)
    e2 = peer_entry(nid2, 6, v6, 0, 0)
    ok(g, "ACK to PEERS: one IPv4 entry, OUTBOUND", ["ACK-1", "ADMIN-3"], ACK, RESPONSE,
       13, u8(PEERS) + u16(1) + e1,
       {"req_opcode": PEERS, "peers": [peer_fields(nid1, 4, v4, 7000, 1)]})
    ok(g, "ACK to PEERS: one IPv6 entry, inbound, listen_port 0", ["ACK-1", "ADMIN-3"],
       ACK, RESPONSE, 14, u8(PEERS) + u16(1) + e2,
       {"req_opcode": PEERS, "peers": [peer_fields(nid2, 6, v6, 0, 0)]})
    ok(g, "ACK to PEERS: an IPv6 and an IPv4 entry", ["ACK-1", "ADMIN-3"], ACK, RESPONSE,
       15, u8(PEERS) + u16(2) + e2 + e1,
       {"req_opcode": PEERS, "peers": [peer_fields(nid2, 6, v6, 0, 0),
                                      peer_fields(nid1, 4, v4, 7000, 1)]})
    bad(g, "ACK to PEERS: family 5", ["ADMIN-3", "ACK-2"], ACK, RESPONSE, 16,
        u8(PEERS) + u16(1) + nid1 + u8(5) + v4 + u16(7000) + u8(0), "MALFORMED")
    bad(g, "ACK to PEERS: family 0", ["ADMIN-3", "ACK-2"], ACK, RESPONSE, 17,
        u8(PEERS) + u16(1) + nid1 + u8(0) + v4 + u16(7000) + u8(0), "MALFORMED")
    bad(g, "ACK to PEERS: family 6 with a 4-byte address (entry cut short)",
        ["ADMIN-3", "ACK-2"], ACK, RESPONSE, 18,
        u8(PEERS) + u16(1) + nid1 + u8(6) + v4 + u16(7000) + u8(0), "MALFORMED")
    bad(g, "ACK to PEERS: reserved flag bit 0x02", ["ADMIN-3", "ACK-2"], ACK, RESPONSE,
        19, u8(PEERS) + u16(1) + peer_entry(nid1, 4, v4, 7000, 0x02), "MALFORMED")
    bad(g, "ACK to PEERS: reserved flag bit 0x80 with OUTBOUND", ["ADMIN-3", "ACK-2"],
        ACK, RESPONSE, 20, u8(PEERS) + u16(1) + peer_entry(nid1, 4, v4, 7000, 0x81),
        "MALFORMED")
    bad(g, "ACK to PEERS: count 2 with one entry", ["ADMIN-3", "ACK-2", "MSG-3"], ACK,
        RESPONSE, 21, u8(PEERS) + u16(2) + e1, "MALFORMED")
    bad(g, "ACK to PEERS: count 1 with two entries (trailing bytes)",
        ["ACK-2", "CONV-2"], ACK, RESPONSE, 22, u8(PEERS) + u16(1) + e1 + e2, "MALFORMED")
    bad(g, "ACK to PEERS: entry cut inside the port", ["ACK-2", "MSG-3"], ACK, RESPONSE,
        23, u8(PEERS) + u16(1) + e1[:-2], "MALFORMED")
    bad(g, "ACK to PEERS: no count", ["ACK-2", "MSG-3"], ACK, RESPONSE, 24, u8(PEERS),
        "MALFORMED")

    counters = [(1, 3600), (2, 3), (3, 17), (4, 15), (5, 2), (6, 123456), (7, 123000),
                (8, 9007199254740991), (9, 4294967296), (10, 0)]
    cf = [{"id": i, "value": v} for i, v in counters]
    ok(g, "ACK to STATS: counters 1..10 (values kept below 2^53 for JSON readers)",
       ["ACK-1", "ADMIN-6"], ACK, RESPONSE, 25, u8(STATS) + stats_body(counters),
       {"req_opcode": STATS, "counters": cf})
    c11 = counters[:3] + [(11, 42)]
    ok(g, "ACK to STATS with an unknown id 11: valid (decoded as is; the receiver "
       "ignores the id)", ["ADMIN-6"], ACK, RESPONSE, 26, u8(STATS) + stats_body(c11),
       {"req_opcode": STATS, "counters": [{"id": i, "value": v} for i, v in c11]})
    bad(g, "ACK to STATS: count 11 with 10 entries", ["ADMIN-6", "ACK-2"], ACK, RESPONSE,
        27, u8(STATS) + stats_body(counters, count=11), "MALFORMED")
    bad(g, "ACK to STATS: count 9 with 10 entries", ["ADMIN-6", "ACK-2"], ACK, RESPONSE,
        28, u8(STATS) + stats_body(counters, count=9), "MALFORMED")
    bad(g, "ACK to STATS: last entry cut to 6 bytes", ["ADMIN-6", "ACK-2"], ACK,
        RESPONSE, 29, u8(STATS) + stats_body(counters)[:-4], "MALFORMED")
    bad(g, "ACK to STATS: no count", ["ACK-2", "MSG-3"], ACK, RESPONSE, 30, u8(STATS),
        "MALFORMED")

    ok(g, "ACK to SHOUT (draft opcode): body opaque", ["ACK-1"], ACK, RESPONSE, 31,
       u8(SHOUT) + b"\x00\x01opaque", {"req_opcode": SHOUT, "data": H(b"\x00\x01opaque")})
    ok(g, "ACK to RELAY (draft opcode) with an empty body", ["ACK-1"], ACK, RESPONSE, 32,
       u8(RELAY), {"req_opcode": RELAY, "data": ""})
    bad(g, "ACK whose req_opcode is ACK", ["ACK-2", "TAG-6"], ACK, RESPONSE, 33, u8(ACK),
        "MALFORMED")
    bad(g, "ACK whose req_opcode is NACK", ["ACK-2", "TAG-6"], ACK, RESPONSE, 34,
        u8(NACK), "MALFORMED")
    bad(g, "ACK whose req_opcode is 18, unassigned", ["ACK-2", "TAG-6"], ACK, RESPONSE,
        35, u8(18), "MALFORMED")
    bad(g, "ACK with an empty payload (no req_opcode)", ["ACK-2", "MSG-3"], ACK,
        RESPONSE, 36, b"", "MALFORMED")

    # --- admin requests -----------------------------------------------------------------
    g = f.group("message", "PEERS, STATS, SHUTDOWN requests (§5.6..§5.8), decoded "
                "before the admin check ([ADMIN-2]; authorization is in session.json)",
                NOCOMP)
    for op in (PEERS, STATS, SHUTDOWN):
        n = OPCODE_NAMES[op]
        ok(g, n + " request with an empty payload", ["ADMIN-2"], op, 0, 40 + op, b"", {})
        bad(g, n + " request with a 1-byte payload", ["ADMIN-2", "CONV-2"], op, 0, 60 + op,
            b"\x00", "MALFORMED")
        bad(g, n + " request on tag 0 (an admin operation needs an answer)", ["ADMIN-2"],
            op, 0, 0, b"", "MALFORMED")

    # --- opcodes ------------------------------------------------------------------------
    g = f.group("message", "draft and unassigned opcodes (§5.1, [MSG-4], [FRAME-7])",
                NOCOMP)
    for op in DRAFT_OPCODES:
        bad(g, "opcode %d (%s, draft) with a payload" % (op, OPCODE_NAMES[op]),
            ["MSG-4"], op, 0, 100 + op, b"draft body", "NOT_IMPLEMENTED")
    bad(g, "opcode 9 (STORE, draft) on tag 0", ["MSG-4", "TAG-3"], STORE, 0, 0, b"",
        "NOT_IMPLEMENTED")
    for op in (18, 100, 255):
        bad(g, "opcode %d, unassigned" % op, ["FRAME-7", "MSG-1"], op, 0, 200, b"??",
            "UNKNOWN_OPCODE")

    # --- header errors seen on whole frames ---------------------------------------------
    g = f.group("message", "whole frames whose header fails (§4.1): the payload is not "
                "decoded", NOCOMP)
    bad(g, "PING with reserved flag bit 0x10", ["FRAME-3"], PING, 0x10, 1, b"abc",
        "BAD_FLAGS")
    bad(g, "PING with COMPRESSED and no compression in force", ["FRAME-6"], PING,
        COMPRESSED, 1, zc(b"abc"), "BAD_FLAGS")
    bad(g, "a request with opcode NACK (RESPONSE clear)", ["FRAME-5"], NACK, 0, 1,
        nack_payload(PING, 1, b""), "BAD_FLAGS")
    bad(g, "BYE with RESPONSE set", ["FRAME-5", "TAG-6"], BYE, RESPONSE, 1,
        bye_payload(0, b""), "BAD_FLAGS")
    bad(g, "PING of 16385 bytes: FRAME_TOO_LARGE, the payload is skipped", ["FRAME-2"],
        PING, 0, 1, bytes(16385), "FRAME_TOO_LARGE")
    bad(g, "unassigned opcode 42 with a payload that would be invalid anyway",
        ["FRAME-7"], 42, 0, 1, b"\xff" * 3, "UNKNOWN_OPCODE")
    bad(g, "ABORT carrying a 2-byte payload", ["FRAME-4"], PING, ABORT, 1, b"\x00\x00",
        "MALFORMED")
    return f.write()


# ======================================================================================
# session.json
# ======================================================================================

class Session:
    """One session case: frames in, exactly one event per frame out."""

    def __init__(self):
        self.frames = []
        self.events = []

    def _add(self, b, ev):
        self.frames.append(H(b))
        self.events.append(ev)

    def message(self, b, tag, opcode, flags, body):
        self._add(b, {"event": "message", "tag": tag, "opcode": opcode, "flags": flags,
                      "body": body})

    def response(self, b, tag, opcode, body):
        self._add(b, {"event": "response", "tag": tag, "opcode": opcode, "body": body})

    def partial(self, b, tag):
        self._add(b, {"event": "partial", "tag": tag})

    def nack(self, b, tag, req_opcode, code):
        assert code in CODE, code
        self._add(b, {"event": "nack", "tag": tag, "req_opcode": req_opcode,
                      "code": code})

    def ignored(self, b, tag):
        self._add(b, {"event": "ignored", "tag": tag})

    def close(self, b, reason):
        self._add(b, {"event": "close", "reason": reason})

    def ping(self, tag, data=b"hi", flags=0):
        """A single-frame PING request, delivered as a message."""
        self.message(frame(PING, flags, tag, data), tag, PING, flags, {"data": H(data)})


def add_session(g, comment, reqs, s, error=None):
    g.add(comment, reqs, "invalid" if error else "valid", error,
          inputs={"frames": s.frames}, outputs={"events": s.events})


def sparams(**kw):
    p = {"max_tags": MIN_MAX_TAGS, "max_message": MIN_MAX_MESSAGE,
         "reassembly_budget": 2 * MIN_MAX_MESSAGE, "compression": None, "admin": False,
         "outstanding": []}
    p.update(kw)
    return p


def gen_session():
    f = VectorFile("session", "session.json")

    # ---------------------------------------------------------------- fragments ------
    g = f.group("session", "fragments, interleaving and ABORT (§4.3, §4.5)", sparams())

    s = Session()
    data = b"fragmented!!"
    s.partial(first_fragment(PING, 0, 1, 12, data[:5]), 1)
    s.message(frame(PING, 0, 1, data[5:]), 1, PING, MORE, {"data": H(data)})
    add_session(g, "PING in two fragments: partial, then the message with the data of "
                "both (flags of the first frame)", ["FRAG-2", "FRAG-8"], s)

    s = Session()
    bye = bye_payload(0, b"the interleaved goodbye text.!")   # 34 bytes
    assert len(bye) == 34
    pdata = bytes(range(100, 140))                             # 40 bytes
    s.partial(first_fragment(BYE, 0, 1, 34, bye[:10]), 1)
    s.partial(first_fragment(PING, 0, 2, 40, pdata[:20]), 2)
    s.ping(0, b"tag0")
    s.partial(frame(BYE, MORE, 1, bye[10:20]), 1)
    s.ping(9, b"between")
    s.message(frame(PING, 0, 2, pdata[20:]), 2, PING, MORE, {"data": H(pdata)})
    s.message(frame(BYE, 0, 1, bye[20:]), 1, BYE, MORE,
              {"reason": 0, "text": "the interleaved goodbye text.!"})
    add_session(g, "BYE on tag 1 in three fragments and PING on tag 2 in two, "
                "interleaved, with single-frame PINGs on tags 0 and 9 between them",
                ["FRAG-1", "FRAG-2", "FRAG-8", "TAG-4"], s)

    s = Session()
    s.partial(first_fragment(PING, 0, 3, 6, b"sixsix"), 3)
    s.message(frame(PING, 0, 3, b""), 3, PING, MORE, {"data": H(b"sixsix")})
    add_session(g, "first fragment carries all 6 bytes of its total; an empty last "
                "fragment completes it", ["FRAG-2", "FRAG-5"], s)

    s = Session()
    s.partial(first_fragment(PING, 0, 4, 3, b""), 4)
    s.partial(frame(PING, MORE, 4, b"ab"), 4)
    s.message(frame(PING, 0, 4, b"c"), 4, PING, MORE, {"data": H(b"abc")})
    add_session(g, "first fragment of exactly 4 bytes (the total, no data), then two "
                "fragments", ["FRAG-2"], s)

    s = Session()
    s.partial(first_fragment(PING, 0, 5, 16, b"12345678"), 5)
    s.ignored(frame(PING, ABORT, 5), 5)
    s.ping(5, b"reused")
    add_session(g, "ABORT mid-message frees it and sends nothing; the tag is then "
                "reused by a new PING", ["FRAG-7", "FRAG-11", "FRAG-8"], s)

    s = Session()
    s.partial(first_fragment(PING, 0, 5, 16, b"12345678"), 5)
    s.ignored(frame(PING, ABORT, 5), 5)
    s.partial(first_fragment(BYE, 0, 5, 6, bye_payload(1, b"")[:3]), 5)
    s.message(frame(BYE, 0, 5, bye_payload(1, b"xy")[3:]), 5, BYE, MORE,
              {"reason": 1, "text": "xy"})
    add_session(g, "ABORT mid-message, then a new fragmented message of another opcode "
                "on the same tag", ["FRAG-7", "FRAG-11"], s)

    s = Session()
    s.ignored(frame(PING, ABORT, 6), 6)
    s.ignored(frame(PING, ABORT, 0), 0)
    s.ping(6)
    add_session(g, "ABORT with no message in progress (tag 6, then tag 0) is ignored; "
                "a PING on tag 6 afterwards is served", ["FRAG-7"], s)

    s = Session()
    s.ping(7, b"first")
    s.ignored(frame(PING, ABORT, 7), 7)
    s.nack(frame(PING, 0, 7, b"second"), 7, PING, "TAG_IN_USE")
    add_session(g, "ABORT on the tag of a delivered, unanswered request: no message in "
                "progress, ignored; the tag stays outstanding", ["FRAG-7", "TAG-5"], s,
                "TAG_IN_USE")

    s = Session()
    s.partial(first_fragment(PING, 0, 8, 10, b"abcd"), 8)
    s.ignored(frame(BYE, ABORT, 8), 8)
    s.ping(8)
    add_session(g, "ABORT whose opcode differs from the message in progress still "
                "cancels it (§4.5 rule 3 keys on tag and RESPONSE only)", ["FRAG-7"], s)

    s = Session()
    s.partial(first_fragment(PING, 0, 1, 20, b"12345678"), 1)
    s.nack(frame(PING, 0, 1, b"abcdefgh"), 1, PING, "LENGTH_MISMATCH")
    s.ping(1)
    add_session(g, "total 20 but the last fragment ends at 16 bytes: LENGTH_MISMATCH; "
                "the tag is free again after the NACK", ["FRAG-5", "FRAG-8", "ERR-2"], s,
                "LENGTH_MISMATCH")

    s = Session()
    s.partial(first_fragment(PING, 0, 2, 10, b"123456"), 2)
    s.nack(frame(PING, MORE, 2, b"abcdefgh"), 2, PING, "LENGTH_MISMATCH")
    s.ignored(frame(PING, MORE, 2, b"zz"), 2)
    s.ignored(frame(PING, 0, 2, b"z"), 2)
    s.ping(2)
    add_session(g, "total 10 but the fragments carry 14: LENGTH_MISMATCH at the "
                "fragment that exceeds it; later fragments are discarded until MORE "
                "clear", ["FRAG-5", "FRAG-3"], s, "LENGTH_MISMATCH")

    s = Session()
    s.nack(first_fragment(PING, 0, 3, 4, b"123456"), 3, PING, "LENGTH_MISMATCH")
    s.ignored(frame(PING, 0, 3, b"78"), 3)
    s.ping(3)
    add_session(g, "first fragment carries 6 data bytes but states total 4: "
                "LENGTH_MISMATCH at once, the rest discarded", ["FRAG-2", "FRAG-5"], s,
                "LENGTH_MISMATCH")

    s = Session()
    s.nack(frame(PING, MORE, 4, b"\x00\x00\x08"), 4, PING, "MALFORMED")
    s.ignored(frame(PING, 0, 4, b"12345678"), 4)
    s.ping(4)
    add_session(g, "first fragment of 3 bytes, too short for the total: MALFORMED, the "
                "rest discarded", ["FRAG-2"], s, "MALFORMED")

    s = Session()
    s.nack(frame(PING, MORE, 0, u32(8) + b"1234"), 0, PING, "BAD_FRAGMENT")
    s.ping(0, b"1234")
    add_session(g, "MORE on tag 0: NACK BAD_FRAGMENT on tag 0; the next tag-0 frame is "
                "a fresh single-frame message", ["TAG-3"], s, "BAD_FRAGMENT")

    s = Session()
    s.partial(first_fragment(PING, 0, 4, 16, b"12345678"), 4)
    s.nack(frame(BYE, MORE, 4, b"abcd"), 4, PING, "BAD_FRAGMENT")
    s.ignored(frame(PING, 0, 4, b"efgh"), 4)
    s.ping(4)
    add_session(g, "a later fragment with another opcode (BYE after PING): "
                "BAD_FRAGMENT carrying the message's opcode, the rest discarded",
                ["FRAG-6", "FRAME-8"], s, "BAD_FRAGMENT")

    # §4.5 rule 2: header failures do not touch the message in progress.
    s = Session()
    full = b"0123456789ab"
    s.partial(first_fragment(PING, 0, 7, 12, full[:4]), 7)
    s.nack(frame(PING, MORE | 0x40, 7, b"xxxx"), 7, PING, "BAD_FLAGS")
    s.nack(frame(200, MORE, 7, b"xxxx"), 7, 200, "UNKNOWN_OPCODE")
    s.nack(frame(PING, ABORT, 7, b"xx"), 7, PING, "MALFORMED")
    s.nack(frame(PING, ABORT | MORE, 7), 7, PING, "BAD_FLAGS")
    s.nack(frame(PING, MORE | COMPRESSED, 7, b"xxxx"), 7, PING, "BAD_FLAGS")
    s.nack(frame(PING, MORE, 7, bytes(16385)), 7, PING, "FRAME_TOO_LARGE")
    s.partial(frame(PING, MORE, 7, full[4:8]), 7)
    s.message(frame(PING, 0, 7, full[8:]), 7, PING, MORE, {"data": H(full)})
    add_session(g, "header errors on the tag of a message in progress (reserved bit, "
                "unassigned opcode, ABORT with a payload, ABORT|MORE, COMPRESSED "
                "without compression, length 16385) are NACKed and do not "
                "touch it: the message completes",
                ["FRAME-9", "FRAME-2", "FRAME-3", "FRAME-4", "FRAME-5", "FRAME-6",
                 "FRAME-7", "FRAG-1", "ERR-2"], s, "BAD_FLAGS")

    s = Session()
    s.partial(first_fragment(BYE, 0, 9, 6, bye_payload(0, b"ab")[:2]), 9)
    s.nack(frame(PING, MORE, 0, u32(4) + b"abcd"), 0, PING, "BAD_FRAGMENT")
    s.message(frame(BYE, 0, 9, bye_payload(0, b"ab")[2:]), 9, BYE, MORE,
              {"reason": 0, "text": "ab"})
    add_session(g, "MORE on tag 0 between the fragments of a message on tag 9: the "
                "message completes", ["TAG-3", "FRAME-9"], s, "BAD_FRAGMENT")

    s = Session()
    s.nack(frame(222, MORE, 10, u32(8) + b"abcd"), 10, 222, "UNKNOWN_OPCODE")
    s.ignored(frame(222, 0, 10, b"efgh"), 10)
    s.ping(10)
    add_session(g, "an unassigned opcode sent in two fragments: the first frame fails the "
                "header checks and is NACKed; having MORE on a fresh tag, the rest of its "
                "message is discarded, so the request is answered once (rule 2)",
                ["FRAME-7", "FRAME-9", "TAG-2"], s, "UNKNOWN_OPCODE")

    s = Session()
    s.nack(frame(PING, MORE | 0x80, 16, u32(8) + b"abcd"), 16, PING, "BAD_FLAGS")
    s.ignored(frame(PING, MORE, 16, b"ef"), 16)
    s.ignored(frame(PING, 0, 16, b"gh"), 16)
    s.ping(16)
    add_session(g, "a reserved flag bit on the first of three fragments: NACK BAD_FLAGS "
                "once, the other two fragments discarded, the tag free again afterwards",
                ["FRAME-3", "FRAME-9", "TAG-2"], s, "BAD_FLAGS")

    s = Session()
    s.partial(first_fragment(SHOUT, 0, 11, 10, b"shout"), 11)
    s.nack(frame(SHOUT, 0, 11, b"ed!!!"), 11, SHOUT, "NOT_IMPLEMENTED")
    add_session(g, "a draft opcode (SHOUT) in two fragments: reassembled, then NACK "
                "NOT_IMPLEMENTED at decoding", ["MSG-4", "FRAG-8"], s, "NOT_IMPLEMENTED")

    s = Session()
    s.nack(frame(PING, 0, 12, bytes(65)), 12, PING, "MALFORMED")
    s.ping(12)
    s.nack(frame(PING, 0, 0, bytes(65)), 0, PING, "MALFORMED")
    add_session(g, "PING of 65 bytes: NACK MALFORMED, the tag is free again; on tag 0 "
                "the NACK goes on tag 0", ["PING-2", "TAG-3", "ERR-2"], s, "MALFORMED")

    s = Session()
    s.message(frame(BYE, 0, 13, bye_payload(0, b"bye")), 13, BYE, 0,
              {"reason": 0, "text": "bye"})
    s.nack(frame(BYE, 0, 14, bye_payload(0, b"\xed\xa0\x80")), 14, BYE, "BAD_UTF8")
    s.nack(frame(BYE, 0, 15, bye_payload(0, b"ok") + b"!"), 15, BYE, "MALFORMED")
    add_session(g, "a valid BYE, a BYE with a surrogate in its text, a BYE with a "
                "trailing byte", ["BYE-1", "BYE-2", "CONV-1", "CONV-2"], s, "BAD_UTF8")

    s = Session()
    s.nack(frame(SET_CONNECTION_OPT, 0, 16, bytes([7, 3])), 16, SET_CONNECTION_OPT,
           "UNSUPPORTED")
    s.nack(frame(SET_CONNECTION_OPT, 0, 17, bytes([0, 5])), 17, SET_CONNECTION_OPT,
           "MALFORMED")
    s.message(frame(SET_CONNECTION_OPT, 0, 18, bytes([0, 3])), 18, SET_CONNECTION_OPT,
              0, {"option": 0, "setting": 3})
    add_session(g, "SET_CONNECTION_OPT with reserved option 7, setting 5, then 0/3 "
                "delivered", ["OPT-1"], s, "UNSUPPORTED")

    s = Session()
    s.nack(frame(77, 0, 19, b""), 19, 77, "UNKNOWN_OPCODE")
    for op in (SPEAK, LOCK):
        s.nack(frame(op, 0, 20 + op, b"x"), 20 + op, op, "NOT_IMPLEMENTED")
    s.ping(19)
    add_session(g, "unassigned opcode 77, draft opcodes SPEAK and LOCK, then a PING: "
                "the connection survives", ["FRAME-7", "MSG-4", "ERR-2"], s,
                "UNKNOWN_OPCODE")

    # ---------------------------------------------------------------- tags -----------
    g = f.group("session", "tags: TAG_IN_USE and TOO_MANY_TAGS (§4.2), max_tags 256",
                sparams())

    s = Session()
    s.ping(8, b"one")
    s.nack(frame(PING, 0, 8, b"two"), 8, PING, "TAG_IN_USE")
    s.ping(9, b"three")
    add_session(g, "a second PING on the tag of an unanswered request: TAG_IN_USE; "
                "another tag is served", ["TAG-5", "TAG-4"], s, "TAG_IN_USE")

    s = Session()
    s.ping(8, b"one")
    s.nack(first_fragment(PING, 0, 8, 8, b"abcd"), 8, PING, "TAG_IN_USE")
    s.ignored(frame(PING, 0, 8, b"efgh"), 8)
    add_session(g, "a fragmented request on the tag of an unanswered request: "
                "TAG_IN_USE at the first fragment, its last fragment discarded",
                ["TAG-5", "FRAG-3"], s, "TAG_IN_USE")

    s = Session()
    s.ping(8, b"one")
    s.nack(frame(STATS, 0, 8), 8, STATS, "TAG_IN_USE")
    add_session(g, "STATS from a non-admin on a tag in use: TAG_IN_USE (step 5) "
                "before UNAUTHORIZED (step 6)", ["TAG-5", "FRAME-9"], s, "TAG_IN_USE")

    s = Session()
    s.partial(first_fragment(PING, 0, 30, 8, b"abcd"), 30)
    s.nack(frame(PING, 0x10, 30, b"x"), 30, PING, "BAD_FLAGS")
    s.message(frame(PING, 0, 30, b"efgh"), 30, PING, MORE, {"data": H(b"abcdefgh")})
    s.nack(frame(PING, 0, 30, b"x"), 30, PING, "TAG_IN_USE")
    add_session(g, "a completed fragmented request stays outstanding: a new PING on "
                "its tag is TAG_IN_USE", ["TAG-5", "FRAG-8"], s, "TAG_IN_USE")

    s = Session()
    for t in range(1, 257):
        s.ping(t, b"")
    s.nack(frame(PING, 0, 257, b""), 257, PING, "TOO_MANY_TAGS")
    s.ping(0, b"tag0")
    add_session(g, "257 PINGs on tags 1..257 with max_tags 256: the 257th gets "
                "TOO_MANY_TAGS; a tag-0 PING (never outstanding) is still served",
                ["TAG-7", "LIMIT-3", "LIMIT-1"], s, "TOO_MANY_TAGS")

    s = Session()
    for t in range(1, 257):
        s.ping(t, b"")
    s.nack(frame(PING, 0, 1, b""), 1, PING, "TAG_IN_USE")
    add_session(g, "256 outstanding, then a PING on tag 1 again: TAG_IN_USE is "
                "checked before TOO_MANY_TAGS", ["TAG-5", "TAG-7", "FRAME-9"], s,
                "TAG_IN_USE")

    s = Session()
    for t in range(1, 256):
        s.ping(t, b"")
    s.partial(first_fragment(PING, 0, 256, 8, b"abcd"), 256)
    s.nack(frame(PING, 0, 257, b""), 257, PING, "TOO_MANY_TAGS")
    s.nack(first_fragment(PING, 0, 258, 8, b"abcd"), 258, PING, "TOO_MANY_TAGS")
    s.ignored(frame(PING, 0, 258, b"efgh"), 258)
    s.message(frame(PING, 0, 256, b"efgh"), 256, PING, MORE, {"data": H(b"abcdefgh")})
    add_session(g, "a request in reassembly counts as outstanding from its first "
                "frame: 255 PINGs plus one fragment reach max_tags; a fragmented "
                "request then gets TOO_MANY_TAGS and its rest is discarded",
                ["TAG-7", "FRAG-3"], s, "TOO_MANY_TAGS")

    # ---------------------------------------------------------------- sizes ----------
    g = f.group("session", "message size and reassembly budget (§4.3, §4.4): "
                "max_message 1 MiB, reassembly_budget 1 MiB",
                sparams(reassembly_budget=MIN_MAX_MESSAGE))

    s = Session()
    s.nack(first_fragment(STORE, 0, 1, MIN_MAX_MESSAGE + 1, bytes(100)), 1, STORE,
           "MESSAGE_TOO_LARGE")
    s.ignored(frame(STORE, MORE, 1, bytes(100)), 1)
    s.ignored(frame(STORE, MORE, 1, bytes(100)), 1)
    s.ignored(frame(STORE, 0, 1, bytes(100)), 1)
    s.ping(1)
    add_session(g, "total max_message + 1: MESSAGE_TOO_LARGE at the first fragment; "
                "later fragments ignored through the one with MORE clear; the tag is "
                "then usable", ["FRAG-3", "LIMIT-3"], s, "MESSAGE_TOO_LARGE")

    s = Session()
    s.nack(first_fragment(PING, 0, 2, 0xFFFFFFFF, b"x"), 2, PING, "MESSAGE_TOO_LARGE")
    s.ignored(frame(PING, ABORT, 2), 2)
    s.ping(2)
    add_session(g, "total 0xFFFFFFFF: MESSAGE_TOO_LARGE; an ABORT ends the discarding",
                ["FRAG-3", "FRAG-7"], s, "MESSAGE_TOO_LARGE")

    s = Session()
    s.partial(first_fragment(STORE, 0, 3, MIN_MAX_MESSAGE, bytes(16)), 3)
    s.ignored(frame(STORE, ABORT, 3), 3)
    add_session(g, "total exactly max_message (and exactly the budget) is accepted; "
                "then aborted", ["FRAG-3", "FRAG-4", "LIMIT-1"], s)

    s = Session()
    s.partial(first_fragment(STORE, 0, 1, 600000, bytes(10)), 1)
    s.nack(first_fragment(STORE, 0, 2, 600000, bytes(10)), 2, STORE, "BUDGET_EXCEEDED")
    s.ignored(frame(STORE, MORE, 2, bytes(10)), 2)
    s.ignored(frame(STORE, 0, 2, bytes(10)), 2)
    s.partial(first_fragment(STORE, 0, 3, MIN_MAX_MESSAGE - 600000, bytes(10)), 3)
    s.nack(first_fragment(STORE, 0, 4, 1, b""), 4, STORE, "BUDGET_EXCEEDED")
    s.ignored(frame(STORE, ABORT, 1), 1)
    s.partial(first_fragment(STORE, 0, 5, 600000, bytes(10)), 5)
    add_session(g, "600000 reserved on tag 1; a second 600000 exceeds the 1 MiB "
                "budget (BUDGET_EXCEEDED, rest discarded); 448576 fits exactly; 1 more "
                "byte does not; ABORT of tag 1 releases its bytes and 600000 fits again",
                ["FRAG-4", "FRAG-8", "FRAG-7", "LIMIT-3"], s, "BUDGET_EXCEEDED")

    s = Session()
    s.partial(first_fragment(STORE, 0, 1, 600000, bytes(10)), 1)
    s.nack(frame(FIND_NODE, MORE, 1, bytes(10)), 1, STORE, "BAD_FRAGMENT")
    s.partial(first_fragment(STORE, 0, 2, 600000, bytes(10)), 2)
    add_session(g, "a message discarded on error releases its reserved bytes: after "
                "BAD_FRAGMENT on tag 1, 600000 fits on tag 2", ["FRAG-8", "FRAG-6"], s,
                "BAD_FRAGMENT")

    s = Session()
    s.partial(first_fragment(STORE, 0, 1, 600000, bytes(10)), 1)
    s.nack(first_fragment(STORE, 0, 2, MIN_MAX_MESSAGE + 1, bytes(10)), 2, STORE,
           "MESSAGE_TOO_LARGE")
    add_session(g, "a total above both max_message and the remaining budget: "
                "MESSAGE_TOO_LARGE ([FRAG-3] is checked before [FRAG-4])",
                ["FRAG-3", "FRAG-4", "FRAME-9"], s, "MESSAGE_TOO_LARGE")

    s = Session()
    s.nack(first_fragment(STORE, 0, 1, 2, b"\x00\x00\x00"), 1, STORE, "LENGTH_MISMATCH")
    s.nack(frame(STORE, MORE, 2, b"\x00\x00"), 2, STORE, "MALFORMED")
    s.nack(first_fragment(STORE, 0, 3, MIN_MAX_MESSAGE + 1, b""), 3, STORE,
           "MESSAGE_TOO_LARGE")
    add_session(g, "first-fragment checks one by one: total below its own data "
                "(LENGTH_MISMATCH), 2-byte payload (MALFORMED), total too large",
                ["FRAG-2", "FRAG-3", "FRAG-5"], s, "LENGTH_MISMATCH")

    # ---------------------------------------------------------------- responses ------
    g = f.group("session", "responses to our outstanding requests (tags 1..6) and "
                "unknown tags ([TAG-6], §4.5 rule 5)", sparams(outstanding=[1, 2, 3, 4, 5, 6]))

    s = Session()
    s.response(frame(ACK, RESPONSE, 1, u8(PING) + b"echo"), 1, ACK,
               {"req_opcode": PING, "data": H(b"echo")})
    s.ignored(frame(ACK, RESPONSE, 1, u8(PING) + b"echo"), 1)
    add_session(g, "ACK to our PING on tag 1: a response event, the tag is freed; the "
                "same ACK again matches nothing and is ignored", ["TAG-6", "TAG-1",
                                                                  "PING-1"], s)

    s = Session()
    s.response(frame(NACK, RESPONSE, 2, nack_payload(STATS, 14, b"not the admin")), 2,
               NACK, {"req_opcode": STATS, "code": 14, "text": "not the admin"})
    s.response(frame(NACK, RESPONSE, 3, nack_payload(PING, 4242, b"")), 3, NACK,
               {"req_opcode": PING, "code": 4242, "text": ""})
    add_session(g, "NACK UNAUTHORIZED on tag 2, then a NACK with unassigned code 4242 "
                "on tag 3: both are responses", ["NACK-1", "NACK-2", "TAG-6"], s)

    s = Session()
    s.response(frame(ACK, RESPONSE, 3, u8(PING)), 3, ACK, {"req_opcode": PING, "data": ""})
    s.response(frame(ACK, RESPONSE, 1, u8(BYE)), 1, ACK, {"req_opcode": BYE})
    s.response(frame(ACK, RESPONSE, 2, u8(SET_CONNECTION_OPT) + bytes([0, 3])), 2, ACK,
               {"req_opcode": SET_CONNECTION_OPT, "option": 0, "setting": 3})
    add_session(g, "responses in another order than the requests (3, 1, 2)",
                ["TAG-4", "TAG-6", "ACK-1"], s)

    s = Session()
    s.message(frame(PING, 0, 7, b"theirs"), 7, PING, 0, {"data": H(b"theirs")})
    s.ignored(frame(ACK, RESPONSE, 7, u8(PING) + b"theirs"), 7)
    add_session(g, "the remote's own request on tag 7, then an ACK on tag 7: tag 7 is "
                "not one of our outstanding requests, so the ACK is ignored (the two "
                "tag spaces never mix)", ["TAG-6", "TAG-1"], s)

    s = Session()
    s.ignored(frame(ACK, RESPONSE, 9, u8(PING)), 9)
    s.ignored(frame(NACK, RESPONSE, 0, nack_payload(PING, 1, b"bad")), 0)
    s.response(frame(ACK, RESPONSE, 4, u8(BYE)), 4, ACK, {"req_opcode": BYE})
    add_session(g, "an ACK on tag 9 and a NACK on tag 0 match no outstanding request: "
                "ignored; an ACK on tag 4 is a response", ["TAG-6", "TAG-3"], s)

    s = Session()
    s.ignored(frame(NACK, RESPONSE, 3, nack_payload(PING, 1, b"\xc0\xaf")), 3)
    s.ignored(frame(NACK, RESPONSE, 3, nack_payload(PING, 1, b"ok")), 3)
    add_session(g, "a NACK with invalid UTF-8 on tag 3 is discarded (the request "
                "completes as failed, nothing is sent); a valid NACK on tag 3 after it "
                "matches nothing", ["TAG-6", "CONV-1"], s, "BAD_UTF8")

    s = Session()
    s.ignored(frame(ACK, RESPONSE, 4, u8(PING) + bytes(65)), 4)
    s.ignored(frame(NACK, RESPONSE, 5, nack_payload(PING, 0, b"")), 5)
    s.ignored(frame(ACK, RESPONSE, 6, u8(77)), 6)
    add_session(g, "invalid responses are discarded and never answered: ACK to PING "
                "with 65 bytes, NACK code 0, ACK with unassigned req_opcode",
                ["TAG-6", "ACK-2", "NACK-1"], s, "MALFORMED")

    s = Session()
    s.ignored(frame(ACK, RESPONSE | 0x20, 1, u8(PING)), 1)
    s.ignored(frame(PING, RESPONSE, 2, b""), 2)
    s.ignored(frame(ACK, RESPONSE | COMPRESSED, 3, u8(PING)), 3)
    s.ignored(frame(ACK, RESPONSE | MORE, 0, u32(1) + u8(PING)), 0)
    add_session(g, "responses failing the header checks (reserved bit, RESPONSE on "
                "PING, COMPRESSED without compression, MORE on tag 0) are dropped "
                "without a NACK", ["TAG-6", "FRAME-3", "FRAME-6", "TAG-3"], s,
                "BAD_FLAGS")

    s = Session()
    body = u8(SHOUT) + bytes(range(30))
    s.partial(frame(ACK, RESPONSE | MORE, 5, u32(len(body)) + body[:10]), 5)
    s.message(frame(PING, 0, 5, b"req"), 5, PING, 0, {"data": H(b"req")})
    s.partial(frame(ACK, RESPONSE | MORE, 5, body[10:20]), 5)
    s.response(frame(ACK, RESPONSE, 5, body[20:]), 5, ACK,
               {"req_opcode": SHOUT, "data": H(bytes(range(30)))})
    add_session(g, "an ACK in three fragments on tag 5 with a request PING on tag 5 "
                "between: (tag, RESPONSE) keeps them apart", ["FRAG-1", "TAG-4",
                                                               "TAG-6"], s)

    s = Session()
    s.ignored(frame(ACK, RESPONSE | MORE, 9, u32(6) + u8(PING) + b"ab"), 9)
    s.ignored(frame(ACK, RESPONSE | MORE, 9, b"cd"), 9)
    s.ignored(frame(ACK, RESPONSE, 9, b"e"), 9)
    s.response(frame(ACK, RESPONSE, 6, u8(PING)), 6, ACK,
               {"req_opcode": PING, "data": ""})
    add_session(g, "a fragmented ACK on unknown tag 9: it and its later fragments are "
                "dropped", ["TAG-6"], s)

    s = Session()
    s.partial(frame(ACK, RESPONSE | MORE, 1, u32(6) + u8(PING) + b"ab"), 1)
    s.ignored(frame(ACK, RESPONSE | ABORT, 1), 1)
    s.response(frame(ACK, RESPONSE, 1, u8(PING) + b"abcde"), 1, ACK,
               {"req_opcode": PING, "data": H(b"abcde")})
    add_session(g, "ABORT|RESPONSE cancels a half-received ACK; the request is still "
                "outstanding and a whole ACK afterwards is its response",
                ["FRAG-7", "TAG-6"], s)

    s = Session()
    s.partial(frame(NACK, RESPONSE | MORE, 2, u32(10) + nack_payload(PING, 1, b"")[:3]),
              2)
    s.ignored(frame(NACK, RESPONSE, 2, b"\x00\x03ab"), 2)
    add_session(g, "a fragmented NACK whose total (10) exceeds its data (7): "
                "LENGTH_MISMATCH is not answered for a response; it is dropped",
                ["FRAG-5", "TAG-6"], s, "LENGTH_MISMATCH")

    # ---------------------------------------------------------------- admin ----------
    g = f.group("session", "admin operations from a remote that is not the admin "
                "([ADMIN-1], [ADMIN-2])", sparams(admin=False))
    for op in (PEERS, STATS, SHUTDOWN):
        n = OPCODE_NAMES[op]
        s = Session()
        s.nack(frame(op, 0, 1), 1, op, "UNAUTHORIZED")
        s.ping(1)
        add_session(g, n + " from a non-admin: UNAUTHORIZED, no effect, the tag and "
                    "the connection stay usable", ["ADMIN-1", "ERR-2"], s, "UNAUTHORIZED")
        s = Session()
        s.nack(frame(op, 0, 0), 0, op, "MALFORMED")
        add_session(g, n + " on tag 0 from a non-admin: MALFORMED on tag 0 "
                    "([ADMIN-2] before [ADMIN-1])", ["ADMIN-2", "FRAME-9"], s, "MALFORMED")
    s = Session()
    s.nack(frame(PEERS, 0, 2, b"\x00"), 2, PEERS, "MALFORMED")
    add_session(g, "PEERS with a 1-byte payload from a non-admin: MALFORMED "
                "(decoding before the admin check)", ["ADMIN-2", "FRAME-9"], s,
                "MALFORMED")

    g = f.group("session", "admin operations from the admin ([ADMIN-1], [ADMIN-2])",
                sparams(admin=True))
    for op in (PEERS, STATS, SHUTDOWN):
        n = OPCODE_NAMES[op]
        s = Session()
        s.message(frame(op, 0, 3), 3, op, 0, {})
        add_session(g, n + " from the admin is delivered", ["ADMIN-1"], s)
        s = Session()
        s.nack(frame(op, 0, 0), 0, op, "MALFORMED")
        add_session(g, n + " on tag 0 from the admin: MALFORMED on tag 0", ["ADMIN-2"],
                    s, "MALFORMED")
    s = Session()
    s.nack(frame(STATS, 0, 4, b"\x00\x0a"), 4, STATS, "MALFORMED")
    s.message(frame(STATS, 0, 4), 4, STATS, 0, {})
    add_session(g, "STATS with a payload from the admin: MALFORMED; then a valid STATS "
                "on the same tag", ["ADMIN-2", "MSG-2"], s, "MALFORMED")

    # ---------------------------------------------------------------- shutting down --
    g = f.group("session", "a peer shutting down ([ADMIN-5], §4.5 rule 6)",
                sparams(admin=True, shutting_down=True, outstanding=[1]))

    s = Session()
    s.nack(frame(PING, 0, 2, b"late"), 2, PING, "SHUTTING_DOWN")
    s.nack(frame(STATS, 0, 3), 3, STATS, "SHUTTING_DOWN")
    s.nack(frame(PING, 0, 4, bytes(65)), 4, PING, "MALFORMED")
    s.response(frame(ACK, RESPONSE, 1, u8(PING) + b"ok"), 1, ACK,
               {"req_opcode": PING, "data": H(b"ok")})
    add_session(g, "while shutting down, valid requests (PING, STATS from the admin) are "
                "answered SHUTTING_DOWN, an invalid one still gets its own code, and a "
                "response to our request is still accepted",
                ["ADMIN-5", "FRAME-9"], s, "SHUTTING_DOWN")

    # ---------------------------------------------------------------- compression ----
    g = f.group("session", "zlib compression in force ([OPT-3]..[OPT-6])",
                sparams(compression="zlib", outstanding=[1]))

    s = Session()
    pd = b"compressed ping!" * 4                            # 64 bytes
    s.message(frame(PING, COMPRESSED, 2, zc(pd)), 2, PING, COMPRESSED, {"data": H(pd)})
    add_session(g, "PING of 64 bytes compressed with zlib: the body is the "
                "decompressed data", ["OPT-4", "OPT-6", "FRAME-6"], s)

    s = Session()
    txt = ("All work and no play makes Jack a dull boy. " * 20)[:900]
    cb = zc(bye_payload(0, txt.encode()))
    s.partial(frame(BYE, COMPRESSED | MORE, 3, u32(len(cb)) + cb[:20]), 3)
    s.ping(4, b"between")
    s.message(frame(BYE, COMPRESSED, 3, cb[20:]), 3, BYE, COMPRESSED | MORE,
              {"reason": 0, "text": txt})
    add_session(g, "a compressed BYE in two fragments; the total counts compressed "
                "bytes; a plain PING between", ["OPT-4", "FRAG-1", "OPT-6"], s)

    s = Session()
    s.ping(5, b"plain")
    add_session(g, "an uncompressed PING while compression is in force",
                ["OPT-3", "OPT-5"], s)

    s = Session()
    s.response(frame(ACK, RESPONSE | COMPRESSED, 1, zc(u8(PING) + b"echo" * 8)), 1, ACK,
               {"req_opcode": PING, "data": H(b"echo" * 8)})
    add_session(g, "a compressed ACK to our PING on tag 1", ["OPT-4", "TAG-6"], s)

    s = Session()
    s.nack(frame(PING, COMPRESSED, 6, b"this is not zlib data"), 6, PING,
           "DECOMPRESSION_FAILED")
    s.ping(6)
    add_session(g, "COMPRESSED with bytes that are not a zlib stream: "
                "DECOMPRESSION_FAILED, the connection survives", ["OPT-6", "ERR-2"], s,
                "DECOMPRESSION_FAILED")

    s = Session()
    s.nack(frame(PING, COMPRESSED, 7, zc(b"truncated stream")[:-4]), 7, PING,
           "DECOMPRESSION_FAILED")
    add_session(g, "a zlib stream cut before its Adler-32 trailer: "
                "DECOMPRESSION_FAILED", ["OPT-6"], s, "DECOMPRESSION_FAILED")

    s = Session()
    z = bytearray(zc(b"checksum please"))
    z[-1] ^= 0x01
    s.nack(frame(PING, COMPRESSED, 8, bytes(z)), 8, PING, "DECOMPRESSION_FAILED")
    add_session(g, "a zlib stream with a wrong Adler-32: DECOMPRESSION_FAILED",
                ["OPT-6"], s, "DECOMPRESSION_FAILED")

    s = Session()
    s.nack(frame(PING, COMPRESSED, 9, b""), 9, PING, "DECOMPRESSION_FAILED")
    add_session(g, "COMPRESSED with an empty payload (not a zlib stream): "
                "DECOMPRESSION_FAILED", ["OPT-6"], s, "DECOMPRESSION_FAILED")

    s = Session()
    bomb = zc(bytes(2 * MIN_MAX_MESSAGE))
    assert len(bomb) <= FRAME_MAX_PAYLOAD
    s.nack(frame(PING, COMPRESSED, 10, bomb), 10, PING, "MESSAGE_TOO_LARGE")
    s.ping(10)
    add_session(g, "a zlib bomb: %d bytes that decompress to 2 MiB, past max_message: "
                "MESSAGE_TOO_LARGE" % len(bomb), ["OPT-6", "LIMIT-3"], s,
                "MESSAGE_TOO_LARGE")

    s = Session()
    s.nack(frame(SHOUT, COMPRESSED, 11, zc(bytes(MIN_MAX_MESSAGE + 1))), 11, SHOUT,
           "MESSAGE_TOO_LARGE")
    add_session(g, "decompresses to max_message + 1 bytes: MESSAGE_TOO_LARGE",
                ["OPT-6"], s, "MESSAGE_TOO_LARGE")

    s = Session()
    s.nack(frame(SHOUT, COMPRESSED, 12, zc(bytes(MIN_MAX_MESSAGE))), 12, SHOUT,
           "NOT_IMPLEMENTED")
    add_session(g, "decompresses to exactly max_message bytes: not too large; the "
                "draft opcode SHOUT then gets NOT_IMPLEMENTED", ["OPT-6", "MSG-4"], s,
                "NOT_IMPLEMENTED")

    s = Session()
    s.nack(frame(PING, COMPRESSED, 13, zc(bytes(65))), 13, PING, "MALFORMED")
    s.nack(frame(BYE, COMPRESSED, 14, zc(bye_payload(0, b"\xf4\x90\x80\x80"))), 14, BYE,
           "BAD_UTF8")
    add_session(g, "the payload is decoded after decompression: a PING of 65 bytes "
                "(MALFORMED), a BYE with a code point above U+10FFFF (BAD_UTF8)",
                ["OPT-6", "PING-2", "CONV-1"], s, "MALFORMED")

    s = Session()
    cb = zc(b"z" * 40)
    s.partial(frame(PING, COMPRESSED | MORE, 15, u32(len(cb)) + cb[:4]), 15)
    s.nack(frame(PING, MORE, 15, cb[4:8]), 15, PING, "BAD_FRAGMENT")
    s.ignored(frame(PING, COMPRESSED, 15, cb[8:]), 15)
    s.ping(15)
    add_session(g, "COMPRESSED on the first fragment, clear on the second: "
                "BAD_FRAGMENT, the rest discarded", ["FRAG-6", "OPT-4"], s,
                "BAD_FRAGMENT")

    s = Session()
    s.partial(first_fragment(PING, 0, 16, 8, b"abcd"), 16)
    s.nack(frame(PING, COMPRESSED, 16, b"efgh"), 16, PING, "BAD_FRAGMENT")
    add_session(g, "clear first fragment, COMPRESSED last fragment: BAD_FRAGMENT",
                ["FRAG-6", "OPT-4"], s, "BAD_FRAGMENT")

    s = Session()
    s.nack(frame(PING, ABORT | COMPRESSED, 17), 17, PING, "BAD_FLAGS")
    add_session(g, "ABORT|COMPRESSED while compression is in force: BAD_FLAGS",
                ["FRAME-4"], s, "BAD_FLAGS")

    g = f.group("session", "no compression in force ([FRAME-6])",
                sparams(compression=None))
    s = Session()
    s.nack(frame(PING, COMPRESSED, 1, zc(b"hello")), 1, PING, "BAD_FLAGS")
    s.ping(1, b"hello")
    add_session(g, "a valid zlib PING with COMPRESSED but no compression agreed: "
                "BAD_FLAGS; the tag is free again", ["FRAME-6", "ERR-2"], s, "BAD_FLAGS")

    s = Session()
    s.partial(first_fragment(PING, 0, 2, 8, b"abcd"), 2)
    s.nack(frame(PING, COMPRESSED, 2, b"efgh"), 2, PING, "BAD_FLAGS")
    s.message(frame(PING, 0, 2, b"efgh"), 2, PING, MORE, {"data": H(b"abcdefgh")})
    add_session(g, "a COMPRESSED fragment without compression fails the header checks "
                "(BAD_FLAGS, not BAD_FRAGMENT) and does not touch the message in "
                "progress", ["FRAME-6", "FRAME-9", "FRAG-6"], s, "BAD_FLAGS")
    return f.write()


# ======================================================================================
# records_plaintext.part.json: the "record_plaintext" group of records.json
# ======================================================================================

def gen_record_plaintext():
    f = VectorFile("records", "records_plaintext.part.json")
    g = f.group("record_plaintext", "record plaintexts split into frames (§3.1, "
                "[REC-5], [FRAME-1]); only the fit of each frame in the record is "
                "checked here", {})

    def fr(opcode, flags, tag, payload):
        return {"opcode": opcode, "flags": flags, "tag": tag, "length": len(payload),
                "payload": H(payload)}

    def ok(comment, reqs, frames):
        b = b"".join(frame(o, fl, t, p) for o, fl, t, p in frames)
        g.add(comment, reqs, "valid", inputs={"hex": H(b)},
              outputs={"fields": {"frames": [fr(*x) for x in frames]}})

    def bad(comment, reqs, b):
        g.add(comment, reqs, "invalid", "FRAME_OVERRUN", inputs={"hex": H(b)})

    ok("one PING frame", ["FRAME-1", "REC-5"], [(PING, 0, 1, b"hello")])
    ok("a bare ABORT frame: 8 bytes, the smallest plaintext", ["FRAME-1", "REC-5"],
       [(PING, ABORT, 1, b"")])
    ok("three frames: PING, ACK, empty BYE notice", ["FRAME-1", "REC-7"],
       [(PING, 0, 1, b"abc"), (ACK, RESPONSE, 7, u8(PING) + b"xyz"),
        (BYE, 0, 0, bye_payload(0, b""))])
    ok("a frame of exactly 16384 bytes followed by a PING", ["FRAME-1", "REC-7"],
       [(SHOUT, MORE, 3, bytes(16384)), (PING, 0, 4, b"")])
    ok("a 16385-byte frame that fits in the record: the record is sound (the frame "
       "itself is answered FRAME_TOO_LARGE afterwards)", ["FRAME-2", "FRAME-9"],
       [(PING, 0, 1, bytes(16385)), (PING, 0, 2, b"ok")])
    ok("frames whose headers fail other checks still split: reserved flag bit, "
       "unassigned opcode", ["FRAME-9", "REC-5"],
       [(PING, 0x80, 1, b"a"), (250, 0, 2, b"b")])

    bad("7 bytes: shorter than a frame header", ["REC-5", "FRAME-1"],
        header(PING, 0, 1, 0)[:7])
    bad("length 9 with 8 payload bytes", ["REC-5", "FRAME-1"],
        header(PING, 0, 1, 9) + b"12345678")
    bad("length 0xFFFFFFFF: FRAME_OVERRUN, not FRAME_TOO_LARGE (the record check "
        "comes first)", ["REC-5", "FRAME-9"], header(PING, 0, 1, 0xFFFFFFFF) + b"abc")
    bad("length 16385 with 100 payload bytes: past the record, so FRAME_OVERRUN",
        ["REC-5", "FRAME-2", "FRAME-9"], header(PING, 0, 1, 16385) + bytes(100))
    bad("a valid frame then 3 stray bytes (a partial header)", ["REC-5"],
        frame(PING, 0, 1, b"ok") + b"\x02\x00\x00")
    bad("a valid frame then one zero byte", ["REC-5"], frame(PING, 0, 1, b"ok") + b"\x00")
    bad("the second frame's payload is one byte short", ["REC-5", "FRAME-1"],
        frame(PING, 0, 1, b"ok") + header(PING, 0, 2, 4) + b"abc")
    bad("a reserved-flag frame whose length runs past the record: the record check "
        "precedes the flag check", ["REC-5", "FRAME-9"],
        header(PING, 0xF0, 1, 20) + b"abc")
    return f.write()


def main():
    self_check()
    counts = {
        "preface.json": gen_preface(),
        "frame_header.json": gen_frame_header(),
        "messages.json": gen_messages(),
        "session.json": gen_session(),
        "records_plaintext.part.json": gen_record_plaintext(),
    }
    for name, n in counts.items():
        print("gen_vectors: %-28s %4d cases" % (name, n))
    print("gen_vectors: %d cases in all" % sum(counts.values()))


if __name__ == "__main__":
    main()
