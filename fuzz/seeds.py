#!/usr/bin/python3
"""Seed corpora for the fuzz targets, from the golden vectors (vectors/*.json).

Writes fuzz/corpus/<target>/<vector file>-<tcId>[-variant], one file per seed, in the
input format that fuzz/fuzz_<target>.c documents in its opening comment, and removes what
an earlier run wrote there. Deterministic: running it twice gives the same files.

The fuzzing build (fuzz/fuzz.mk) accepts any AEAD tag and any identity signature and reads
the first len-16 bytes of a ciphertext as its plaintext. So besides the vectors' real
handshake messages and records (which reach the checks after decryption only as noise),
the handshake, stream and conn seeds also carry "fuzzing form" messages: the keys and the
identity payload in clear followed by 16 tag bytes, which a fuzzing build takes as valid.

Usage: /usr/bin/python3 fuzz/seeds.py [--out fuzz/corpus]
"""
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "vectors")
TARGETS = ["frame_header", "message", "plaintext", "stream", "preface", "identity",
           "handshake", "session", "conn"]
TAG16 = bytes(16)


def load(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def tests(doc):
    for g in doc["testGroups"]:
        for t in g["tests"]:
            yield g, t


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


class Corpus:
    def __init__(self, root):
        self.root = root
        self.count = {t: 0 for t in TARGETS}
        self.seen = {t: set() for t in TARGETS}
        for t in TARGETS:
            d = os.path.join(root, t)
            if os.path.isdir(d):
                shutil.rmtree(d)
            os.makedirs(d)

    def add(self, target, name, data):
        if data in self.seen[target]:  # the same bytes under another name: one is enough
            return
        self.seen[target].add(data)
        path = os.path.join(self.root, target, name)
        assert not os.path.exists(path), path
        with open(path, "wb") as f:
            f.write(data)
        self.count[target] += 1


def frames_of(plaintext):
    """Splits a record plaintext into whole frames (bytes each)."""
    out, i = [], 0
    while i + 8 <= len(plaintext):
        n = struct.unpack(">I", plaintext[i + 4:i + 8])[0]
        if i + 8 + n > len(plaintext):
            break
        out.append(plaintext[i:i + 8 + n])
        i += 8 + n
    return out


def fuzz_record(plaintext):
    """A record of the fuzzing build: length, plaintext, 16 ignored tag bytes."""
    return u16(len(plaintext) + 16) + plaintext + TAG16


# ---- Per-target seeds -----------------------------------------------------------------

def frame_header_seeds(c, fh, msgs):
    for g, t in tests(fh):
        c.add("frame_header", "frame_header-%d" % t["tcId"],
              bytes([1 if g["params"].get("compression") else 0]) + bytes.fromhex(t["hex"]))
    for g, t in tests(msgs):
        c.add("frame_header", "messages-%d" % t["tcId"],
              bytes([1 if g["params"].get("compression") else 0]) + bytes.fromhex(t["hex"]))


def message_seeds(c, msgs, session):
    for _, t in tests(msgs):
        frame = bytes.fromhex(t["hex"])
        c.add("message", "messages-%d" % t["tcId"], frame[:1] + frame[8:])
    for _, t in tests(session):
        for i, h in enumerate(t["frames"]):
            frame = bytes.fromhex(h)
            flags = frame[1]
            if not flags & 0x02 and not flags & 0x08 and len(frame) <= 2048:  # whole, plain
                c.add("message", "session-%d-%d" % (t["tcId"], i), frame[:1] + frame[8:])


def plaintext_seeds(c, records, session, hs):
    for g, t in tests(records):
        if g["type"] == "record_plaintext":
            c.add("plaintext", "records-%d" % t["tcId"], bytes.fromhex(t["hex"]))
        else:  # real sealed records: the record framing, and their plaintexts
            c.add("plaintext", "records-%d" % t["tcId"], bytes.fromhex(t["hex"]))
            if "fields" in t:
                c.add("plaintext", "records-%d-pt" % t["tcId"],
                      bytes.fromhex(t["fields"]["plaintext"]))
    for _, t in tests(session):
        pt = b"".join(bytes.fromhex(h) for h in t["frames"])
        if len(pt) <= 65519:
            c.add("plaintext", "session-%d" % t["tcId"], pt)
    for _, t in tests(hs):
        for k in ("i2r_plaintext_1", "r2i_plaintext_1"):
            if "fields" in t:
                c.add("plaintext", "handshake-%d-%s" % (t["tcId"], k),
                      bytes.fromhex(t["fields"][k]))


def preface_seeds(c, pre):
    for g, t in tests(pre):
        b = bytes.fromhex(t["hex"])
        if g["type"] == "negotiate":
            ours = g["params"]["responder_majors"]
        elif g["params"].get("expect") == "answer":
            ours = g["params"]["offered"]
        else:
            ours = [1]
        ours = ours[:16]
        head = bytes([0x10 | (len(ours) - 1)]) + bytes(ours)  # our majors, taken raw
        c.add("preface", "preface-%d" % t["tcId"], head + b)
    c.add("preface", "derived-seeded", b"\x02\x05\x04" + bytes.fromhex("5041524c45590103050401"))


def identity_seeds(c, ident, ed):
    for g, t in tests(ident):
        params = g["params"]
        head = bytes.fromhex(params["remote_static"]) + bytes.fromhex(params["own_identity"])
        p = bytes.fromhex(t["hex"])
        c.add("identity", "identity-%d" % t["tcId"], b"\x00\x00" + head + p)
        if t["tcId"] <= 3:  # signed here, then one byte flipped: key, signature, message
            c.add("identity", "identity-%d-signed" % t["tcId"], b"\x01\x00" + head + p)
            for where in (5, 40, 70, 100):
                c.add("identity", "identity-%d-flip%d" % (t["tcId"], where),
                      bytes([1 | where << 1, 0x01]) + head + p)
    # The Ed25519 rule cases: key and signature where the payload carries them.
    rest = u16(0) + u32(0) + u16(1024) + u32(1 << 24) + u32(1 << 25) + u16(7400)
    for _, t in tests(ed):
        p = bytes.fromhex(t["pk"]) + bytes.fromhex(t["sig"]) + rest
        c.add("identity", "ed25519-%d" % t["tcId"], b"\x00\x00" + bytes(64) + p)


def fuzz_msg2(f):
    """Message 2 in fuzzing form: e, s + tag, the responder's payload + tag."""
    body = (bytes.fromhex(f["responder_ephemeral_public"])
            + bytes.fromhex(f["responder_static_public"]) + TAG16
            + bytes.fromhex(f["responder_payload"]) + TAG16)
    return u16(len(body)) + body


def fuzz_msg3(f):
    payload = bytes.fromhex(f["initiator_payload"])
    body = bytes.fromhex(f["initiator_static_public"]) + TAG16 + payload + TAG16
    return u16(len(body)) + body


def handshake_seeds(c, hs):
    for g, t in tests(hs):
        p = g["params"]
        prologue = bytes.fromhex(p["hello"]) + bytes.fromhex(p["accept"])
        if g["type"] == "handshake":
            f = t["fields"]
            msg1, msg2, msg3 = (bytes.fromhex(f[k]) for k in ("msg1", "msg2", "msg3"))
            pro = bytes([len(prologue)]) + prologue
            c.add("handshake", "handshake-%d-resp-real" % t["tcId"], b"\x02" + pro + msg1 + msg3)
            c.add("handshake", "handshake-%d-init-real" % t["tcId"], b"\x03" + pro + msg2)
            c.add("handshake", "handshake-%d-resp" % t["tcId"], b"\x00" + msg1 + fuzz_msg3(f))
            c.add("handshake", "handshake-%d-init" % t["tcId"], b"\x01" + fuzz_msg2(f))
        else:
            prologue = bytes.fromhex(t["prologue"])
            role = 0x03 if t["receiver"] == "initiator" else 0x02
            msgs = b"".join(bytes.fromhex(m) for m in t["messages"])
            head = bytes([role, len(prologue)]) + prologue
            c.add("handshake", "handshake-%d" % t["tcId"], head + msgs)


def session_header(p, answer=False):
    flags = {None: 0, "zlib": 1}.get(p["compression"], 2)
    flags |= 4 if p["admin"] else 0
    flags |= 8 if p.get("shutting_down") else 0
    flags |= 16 if answer else 0
    lim = (p["max_tags"], p["max_message"], p["reassembly_budget"])
    if lim == (256, 1048576, 2097152):
        head = bytes([flags])
    elif lim == (256, 1048576, 1048576):
        head = bytes([flags | 0x40])
    else:
        head = bytes([flags | 0x80]) + u16(lim[0]) + u32(lim[1]) + u32(lim[2])
    out = p["outstanding"][:15]
    return head + bytes([len(out)]) + b"".join(u16(x) for x in out)


def session_seeds(c, session):
    for g, t in tests(session):
        frames = b"".join(bytes.fromhex(h) for h in t["frames"])
        c.add("session", "session-%d" % t["tcId"], session_header(g["params"]) + frames)
        if t["tcId"] % 4 == 0:
            c.add("session", "session-%d-answered" % t["tcId"],
                  session_header(g["params"], answer=True) + frames)


def stream_seeds(c, hs, session):
    base = [t for g, t in tests(hs) if g["type"] == "handshake" and t["tcId"] != 4]
    for t in base:
        f = t["fields"]
        p = next(g["params"] for g, x in tests(hs) if x is t)
        hello, accept = bytes.fromhex(p["hello"]), bytes.fromhex(p["accept"])
        recs = b"".join(fuzz_record(bytes.fromhex(f[k]))
                        for k in ("i2r_plaintext_0", "i2r_plaintext_1"))
        resp = hello + bytes.fromhex(f["msg1"]) + fuzz_msg3(f) + recs
        init = accept + fuzz_msg2(f) + b"".join(
            fuzz_record(bytes.fromhex(f[k])) for k in ("r2i_plaintext_0", "r2i_plaintext_1"))
        for mode in (0, 3, 6, 7):
            c.add("stream", "handshake-%d-resp-chunk%d" % (t["tcId"], mode),
                  bytes([0, mode, 0, 1]) + resp)
        c.add("stream", "handshake-%d-init" % t["tcId"], bytes([1, 2, 0, 2]) + init)
    # Every session case after a handshake, each frame in a record of its own.
    f = base[0]["fields"]
    p = hs["testGroups"][0]["params"]
    for g, t in tests(session):
        recs = b"".join(fuzz_record(bytes.fromhex(h)) for h in t["frames"])
        msg3 = fuzz_msg3(f)
        data = bytes.fromhex(p["hello"]) + bytes.fromhex(f["msg1"]) + msg3 + recs
        head = bytes([0, t["tcId"] % 8, 0, t["tcId"] & 0xFF])
        c.add("stream", "session-%d" % t["tcId"], head + data)


# fuzz_conn operations (fuzz_conn.c `step`).
(OP_FRAME, OP_FLUSH, OP_RECORD, OP_RAW, OP_DRAIN, OP_TICK, OP_REQUEST, OP_BYE, OP_SEND, OP_EOF,
 OP_SHUT) = range(11)
DRAIN_ALL = bytes([OP_DRAIN, 0xFF])


def op_frame(frame):
    opcode, flags, tag = frame[0], frame[1], struct.unpack(">H", frame[2:4])[0]
    payload = frame[8:]
    sel = bytes([tag]) if tag < 8 else b"\x80" + u16(tag)
    return bytes([OP_FRAME, opcode, flags]) + sel + u16(len(payload)) + payload


def conn_seeds(c, session, hs):
    # SET_CONNECTION_OPT COMPRESSION zlib on tag 7, sent and answered: zlib in force
    zlib_on = op_frame(bytes.fromhex("03000007000000020003")) + bytes([OP_FLUSH, 0]) + DRAIN_ALL
    for g, t in tests(session):
        p = g["params"]
        flags = 2 if p["admin"] else 0
        ops = b""
        for _ in p["outstanding"][:8]:  # our requests: tags 1, 2, ... as the conn takes them
            ops += bytes([OP_REQUEST, 0, 1]) + u16(4) + b"\x00\x04" + b"ping"
        ops += bytes([OP_DRAIN, 0xFF])
        if p["compression"] == "zlib":
            ops += zlib_on
        if p.get("shutting_down"):
            ops += bytes([OP_SHUT])
        for h in t["frames"]:
            ops += op_frame(bytes.fromhex(h)) + bytes([OP_FLUSH, 3])
        ops += bytes([OP_DRAIN, 0xFF])
        role = t["tcId"] & 1  # both roles
        c.add("conn", "session-%d" % t["tcId"], bytes([flags | role, 0, 0]) + ops)
    # Large requests (fragmented, compressed once zlib is on), BYE, timers, partial writes.
    big = bytes([OP_REQUEST, 0, 1]) + u16(40000) + b"\x01\x08" + b"abcdefgh"
    c.add("conn", "big-request", bytes([0, 1, 0]) + big + bytes([OP_DRAIN, 0x80, OP_DRAIN, 0xFF]))
    c.add("conn", "big-request-zlib", bytes([1, 1, 0]) + zlib_on + big + DRAIN_ALL * 2)
    noise = bytes([OP_REQUEST, 0, 1]) + u16(30000) + b"\x00\x80"  # incompressible
    c.add("conn", "big-request-noise-zlib", bytes([1, 1, 0]) + zlib_on + noise + DRAIN_ALL * 3)
    peers = op_frame(bytes.fromhex("0b00000500000000")) + bytes([OP_FLUSH, 0]) + DRAIN_ALL * 3
    c.add("conn", "peers-big", bytes([0x12, 0, 0]) + zlib_on + peers)
    c.add("conn", "peers-big-plain", bytes([0x12, 0, 0]) + peers)
    idle = bytes([OP_TICK, 0x20, 0x00]) + DRAIN_ALL + bytes([OP_TICK, 0x02, 0x00])
    c.add("conn", "idle-bye", bytes([0, 0, 0]) + idle)
    c.add("conn", "bye", bytes([1, 2, 0, OP_BYE, 0, 0, OP_DRAIN, 0xFF])
          + op_frame(bytes.fromhex("00010001000000010a")) + bytes([OP_FLUSH, 0, OP_DRAIN, 0xFF]))
    c.add("conn", "shutdown", bytes([2, 0, 0]) + op_frame(bytes.fromhex("0c00000100000000"))
          + bytes([OP_FLUSH, 0, OP_DRAIN, 0xFF]) + op_frame(bytes.fromhex("0200000200000000"))
          + bytes([OP_FLUSH, 0, OP_DRAIN, 0xFF]))
    c.add("conn", "send-raw",
          bytes([0, 0, 0, OP_SEND]) + u16(8) + bytes.fromhex("0200000900000000") + DRAIN_ALL)
    # Raw mode: the handshake in the fuzzing form, from the input.
    f = hs["testGroups"][0]["tests"][0]["fields"]
    p = hs["testGroups"][0]["params"]
    hello, accept = bytes.fromhex(p["hello"]), bytes.fromhex(p["accept"])
    m1, m3, m2 = bytes.fromhex(f["msg1"]), fuzz_msg3(f), fuzz_msg2(f)

    def raw(b):
        return bytes([OP_RAW]) + u16(len(b)) + b

    def record(hexpt):
        pt = bytes.fromhex(hexpt)
        return bytes([OP_RECORD]) + u16(len(pt)) + pt + b"\x00" + DRAIN_ALL

    c.add("conn", "raw-responder", bytes([8, 0, 0]) + raw(hello) + raw(m1) + DRAIN_ALL + raw(m3)
          + record(f["i2r_plaintext_0"]))
    c.add("conn", "raw-initiator", bytes([9, 0, 0]) + raw(accept) + DRAIN_ALL + raw(m2) + DRAIN_ALL
          + record(f["r2i_plaintext_0"]))


def main(argv):
    out = os.path.join(HERE, "corpus")
    if len(argv) == 3 and argv[1] == "--out":
        out = argv[2]
    elif len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    c = Corpus(out)
    fh, msgs, session = load("frame_header.json"), load("messages.json"), load("session.json")
    records, pre, ident = load("records.json"), load("preface.json"), load("identity.json")
    hs, ed = load("handshake.json"), load("ed25519.json")
    frame_header_seeds(c, fh, msgs)
    message_seeds(c, msgs, session)
    plaintext_seeds(c, records, session, hs)
    preface_seeds(c, pre)
    identity_seeds(c, ident, ed)
    handshake_seeds(c, hs)
    session_seeds(c, session)
    stream_seeds(c, hs, session)
    conn_seeds(c, session, hs)
    print("fuzz/seeds.py: " + ", ".join("%s %d" % (t, c.count[t]) for t in TARGETS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
