"""Captures offline: pcap writing and reading (parley/pcap.py), the dissector behind
tools/pcap-show (parley/dissect.py), and the golden captures of vectors/pcaps/.

A capture is rebuilt here from the fixed-key handshake vector (vectors/handshake.json):
its records must come back out of the pcap byte for byte, opened with the vector's key
log ([REC-1]) or with the harness secrets alone, and both identity payloads decoded. A
damaged capture (cut short anywhere, a segment missing, no key log, not a pcap at all)
must never make the dissector or tools/pcap-show fail. Every golden capture must decrypt
with its own key log and agree with its manifest entry.
"""

import json
import os
import subprocess
import sys

import pytest

from parley import codec, dissect, record, vectors
from parley.harness import capture as harness_capture
from parley.harness import replay
from parley.pcap import (FIN_LOCAL, FIN_REMOTE, RECEIVED, SENT, Conversation, read_pcap,
                         write_pcap)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PCAP_SHOW = os.path.join(ROOT, "tools", "pcap-show")
CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 7400)


def _vector():
    _, test = next(iter(vectors.cases("handshake", "handshake")))
    return test


def _params():
    group = vectors.load("handshake")["testGroups"][0]
    return group["params"]


def _conversation(cut=None):
    """The handshake vector's session as the initiator's socket saw it; `cut` keeps only
    the first `cut` bytes the peer sent."""
    f, p = _vector()["fields"], _params()
    hello, accept = bytes.fromhex(p["hello"]), bytes.fromhex(p["accept"])
    out = [hello, bytes.fromhex(f["msg1"]), bytes.fromhex(f["msg3"]),
           bytes.fromhex(f["i2r_record_0"]), bytes.fromhex(f["i2r_record_1"])]
    back = accept + bytes.fromhex(f["msg2"]) + bytes.fromhex(f["r2i_record_0"]) + \
        bytes.fromhex(f["r2i_record_1"])
    if cut is not None:
        back = back[:cut]
    t = 1000.0
    events = [(t + 0.001, SENT, out[0]), (t + 0.002, RECEIVED, back[:8]),
              (t + 0.003, SENT, out[1]), (t + 0.004, RECEIVED, back[8:8 + 2 + 210 + 64]),
              (t + 0.005, SENT, out[2] + out[3]), (t + 0.006, SENT, out[4]),
              (t + 0.007, RECEIVED, back[8 + 2 + 210 + 64:]),
              (t + 0.008, FIN_LOCAL, b""), (t + 0.009, FIN_REMOTE, b"")]
    events = [e for e in events if e[1] not in (SENT, RECEIVED) or e[2]]
    return Conversation(CLIENT, SERVER, True, t, events)


def _keylog_text():
    return "\n".join(_vector()["fields"]["keylog"]) + "\n"


def _secrets_text():
    p = _params()
    f = _vector()["fields"]
    return (f"# {dissect.HARNESS_SECRETS} I {f['initiator_ephemeral_public']} "
            f"{p['initiator_ephemeral_private']} {p['initiator_static_private']}\n")


def _dissect(path, text):
    keylog = dissect.KeyLog()
    keylog.add_text(text)
    return dissect.dissect_file(str(path), keylog)


def _records(conn, direction):
    return [i for i in conn["timeline"] if i["kind"] == "record" and i["dir"] == direction]


def test_written_capture_reassembles_to_the_bytes_sent(tmp_path):
    """The pcap's TCP streams are exactly the bytes each side sent, SYN to FIN."""
    conv = _conversation()
    path = tmp_path / "s.pcap"
    write_pcap(str(path), [conv])
    cap = read_pcap(str(path))
    assert cap.warnings == []
    (stream,) = cap.streams
    assert (stream.client, stream.server) == (CLIENT, SERVER)
    sent = b"".join(d for _, k, d in conv.events if k == SENT)
    received = b"".join(d for _, k, d in conv.events if k == RECEIVED)
    assert stream.c2s.data == sent and stream.s2c.data == received
    assert stream.c2s.from_start and stream.c2s.fin and stream.s2c.fin


def test_large_writes_are_split_into_segments_and_reassembled(tmp_path):
    data = bytes(range(256)) * 1000  # 256000 bytes: several MSS-sized segments
    conv = Conversation(CLIENT, SERVER, True, 5.0, [(5.1, SENT, data), (5.2, RECEIVED, b"ok")])
    path = tmp_path / "big.pcap"
    packets = write_pcap(str(path), [conv])
    assert packets >= 3 + 4 + 1
    (stream,) = read_pcap(str(path)).streams
    assert stream.c2s.data == data and stream.s2c.data == b"ok"


def test_records_open_with_the_key_log(tmp_path):
    """[REC-1] the vector's records come out of the capture, opened under the key-log
    keys, nonces from 0 in each direction."""
    path = tmp_path / "s.pcap"
    write_pcap(str(path), [_conversation()])
    result = _dissect(path, _keylog_text())
    (conn,) = result["connections"]
    assert conn["notes"] == [] or all("harness secrets" in n for n in conn["notes"])
    f = _vector()["fields"]
    assert [r["plaintext"] for r in _records(conn, "i2r")] == \
        [f["i2r_plaintext_0"], f["i2r_plaintext_1"]]
    assert [r["plaintext"] for r in _records(conn, "r2i")] == \
        [f["r2i_plaintext_0"], f["r2i_plaintext_1"]]
    assert conn["initiator_ephemeral"] == f["initiator_ephemeral_public"]
    assert conn["keys"] == {"i2r": "key log", "r2i": "key log"}


def test_harness_secrets_decode_both_identity_payloads_and_derive_the_keys(tmp_path):
    """With only the harness's secrets line, the identity payloads decode (signatures
    valid) and the records still open with the keys the handshake derives."""
    path = tmp_path / "s.pcap"
    write_pcap(str(path), [_conversation()])
    (conn,) = _dissect(path, _secrets_text())["connections"]
    hs = {i["message"]: i for i in conn["timeline"] if i["kind"] == "handshake"}
    f = _vector()["fields"]
    assert hs[2]["payload"]["identity_key"] == f["responder_identity"]
    assert hs[3]["payload"]["identity_key"] == f["initiator_identity"]
    assert hs[2]["payload"]["signature_valid"] and hs[3]["payload"]["signature_valid"]
    assert conn["keys"]["i2r"].startswith("derived")
    assert [r["plaintext"] for r in _records(conn, "i2r")] == \
        [f["i2r_plaintext_0"], f["i2r_plaintext_1"]]


def test_responder_side_secrets_decode_the_handshake_too(tmp_path):
    """The harness as responder (the peer dialled it) logs role R secrets."""
    p, f = _params(), _vector()["fields"]
    conv = _conversation()
    swapped = Conversation(SERVER, CLIENT, False, conv.opened,
                           [(t, {SENT: RECEIVED, RECEIVED: SENT}.get(k, k), d)
                            for t, k, d in conv.events])
    path = tmp_path / "r.pcap"
    write_pcap(str(path), [swapped])
    text = (f"# {dissect.HARNESS_SECRETS} R {f['responder_ephemeral_public']} "
            f"{p['responder_ephemeral_private']} {p['responder_static_private']}\n")
    (conn,) = _dissect(path, text)["connections"]
    hs = {i["message"]: i for i in conn["timeline"] if i["kind"] == "handshake"}
    assert hs[2]["sender"] == "harness" and hs[3]["sender"] == "peer"
    assert hs[3]["payload"]["identity_key"] == f["initiator_identity"]
    assert len(_records(conn, "r2i")) == 2 and "plaintext" in _records(conn, "r2i")[1]


def test_without_keys_prefaces_handshake_and_record_lengths_are_shown(tmp_path):
    path = tmp_path / "s.pcap"
    write_pcap(str(path), [_conversation()])
    result = _dissect(path, "")
    (conn,) = result["connections"]
    kinds = [i["kind"] for i in conn["timeline"]]
    assert kinds.count("preface") == 2 and kinds.count("handshake") == 3
    assert kinds.count("record") == 4
    assert all("plaintext" not in r for r in _records(conn, "i2r"))
    assert any("no keys" in n for n in conn["notes"])
    assert "not decrypted" in dissect.render_text(result)


@pytest.mark.parametrize("cut", [0, 5, 8, 100, 220, 290, 300, 330])
def test_a_stream_cut_short_is_decoded_up_to_the_cut(tmp_path, cut):
    path = tmp_path / "cut.pcap"
    write_pcap(str(path), [_conversation(cut)])
    result = _dissect(path, _keylog_text())
    (conn,) = result["connections"]
    assert not any("dissector error" in n for n in conn["notes"])
    dissect.render_text(result)


def test_a_capture_file_cut_anywhere_never_fails(tmp_path):
    """A pcap file truncated at any byte: what was read is decoded, the rest reported."""
    whole = tmp_path / "whole.pcap"
    write_pcap(str(whole), [_conversation()])
    data = whole.read_bytes()
    for size in list(range(0, 120, 7)) + list(range(120, len(data), 53)):
        part = tmp_path / "part.pcap"
        part.write_bytes(data[:size])
        result = _dissect(part, _keylog_text())
        for conn in result["connections"]:
            assert not any("dissector error" in n for n in conn["notes"]), size
        dissect.render_text(result)
        json.dumps(result)
    part.write_bytes(data[:-5])
    assert any("cut short" in w for w in _dissect(part, "")["warnings"])


def test_a_missing_segment_is_reported_and_the_rest_still_decoded(tmp_path):
    from scapy.utils import rdpcap, wrpcap
    whole = tmp_path / "whole.pcap"
    write_pcap(str(whole), [_conversation()])
    packets = rdpcap(str(whole))
    sizes = [len(bytes(p["TCP"].payload)) for p in packets]
    drop = [i for i, s in enumerate(sizes) if s][3]  # the peer's message 2
    wrpcap(str(tmp_path / "gap.pcap"), [p for i, p in enumerate(packets) if i != drop])
    result = _dissect(tmp_path / "gap.pcap", _keylog_text())
    assert any("bytes missing" in w for w in result["warnings"])
    (conn,) = result["connections"]
    assert [i["kind"] for i in conn["timeline"]].count("preface") == 2


def test_pcap_show_survives_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a pcap file at all")
    run = subprocess.run([PCAP_SHOW, str(junk)], capture_output=True, text=True)
    assert run.returncode == 0 and "warning" in run.stdout
    run = subprocess.run([PCAP_SHOW, str(tmp_path / "absent.pcap")], capture_output=True,
                         text=True)
    assert run.returncode == 2


def test_pcap_show_json_and_text(tmp_path):
    path = tmp_path / "s.pcap"
    write_pcap(str(path), [_conversation()])
    (tmp_path / "s.keylog").write_text(_keylog_text() + _secrets_text())
    run = subprocess.run([PCAP_SHOW, str(path), "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["keylog"]["sessions"] == 1 and result["keylog"]["harness_secrets"] == 1
    text = subprocess.run([PCAP_SHOW, str(path)], capture_output=True, text=True).stdout
    assert "signature valid" in text and "record #1" in text


def test_frame_decoder_names_fragments_aborts_nacks_and_compression():
    decoder = dissect.FrameDecoder()
    where = {"record": 0, "packet": 1}
    first, last = codec.encode_fragments(codec.OP_PING, 0, 7, b"abcdefgh", chunk=8)
    assert "first fragment" in decoder.frame("i2r", first, where)["fragment"]
    done = decoder.frame("i2r", last, where)
    assert done["message"]["body"] == {"data": b"abcdefgh".hex()}
    nack = codec.encode_frame(codec.OP_NACK, codec.FLAG_RESPONSE, 7, codec.encode_nack(
        {"req_opcode": 200, "code": 2, "text": "unknown"}))
    body = decoder.frame("r2i", nack, where)["message"]["body"]
    assert body == {"req_opcode": 200, "code": "UNKNOWN_OPCODE", "text": "unknown"}
    bad = decoder.frame("i2r", codec.encode_frame(codec.OP_PING, 0x80, 3, b""), where)
    assert bad["receiver"] == "NACK BAD_FLAGS"
    start = codec.encode_fragments(codec.OP_PING, 0, 9, b"x" * 20, chunk=8)[0]
    decoder.frame("i2r", start, where)
    abort = decoder.frame("i2r", codec.encode_frame(codec.OP_PING, codec.FLAG_ABORT, 9), where)
    assert abort["abort"].startswith("cancels")
    ack = codec.encode_frame(codec.OP_ACK, codec.FLAG_RESPONSE, 5, bytes(
        [codec.OP_SET_CONNECTION_OPT, codec.OPT_COMPRESSION, codec.SETTING_ZLIB]))
    decoder.frame("r2i", ack, where)
    zipped = codec.encode_frame(codec.OP_PING, codec.FLAG_COMPRESSED, 6, codec.compress(b"z"))
    assert decoder.frame("i2r", zipped, where)["message"]["body"] == {"data": "7a"}


def test_harness_file_names_are_safe():
    stem = harness_capture.file_stem("tests/test_live_frames.py::test_x[a/b-1]")
    assert stem == "test_live_frames.test_x-a-b-1"
    assert len(harness_capture.file_stem("tests/test_live_a.py::t[" + "x" * 400 + "]")) <= 150


# --- the golden captures ------------------------------------------------------------------


def _golden():
    try:
        manifest = replay.load_manifest()
    except replay.GoldenError:
        return []
    return [pytest.param(manifest, c, id=c["name"]) for c in manifest["captures"]]


@pytest.mark.parametrize("manifest,entry", _golden())
def test_golden_capture_decrypts_and_matches_its_manifest(manifest, entry):
    """Every record of every session opens with the capture's key log, the §3.3 lines
    parse strictly, the file stays under 100 KB, and each answer the manifest names is
    in the capture with the opcode and code it states."""
    pcap = os.path.join(replay.GOLDEN_DIR, entry["pcap"])
    keylog = os.path.join(replay.GOLDEN_DIR, entry["keylog"])
    assert os.path.getsize(pcap) < 100 * 1024
    with open(keylog, encoding="ascii") as f:
        assert len(record.parse_keylog(f.read())) == len(entry["sessions"])
    for index, session in enumerate(entry["sessions"]):
        golden = replay.Golden(manifest, entry, index)
        steps = session["steps"]
        assert steps[0]["records"][0] == 0
        assert steps[-1]["records"][1] == len(golden.records) - 1
        by_tag = {}
        for answer in golden.answers:
            by_tag.setdefault(answer.tag, []).append(answer.message)
        for step in steps:
            for expected in step["answers"]:
                (message,) = by_tag.pop(expected["tag"])
                words = expected["expect"].split()
                assert message["opcode"] == words[0], (expected, message)
                if words[0] == "NACK":
                    assert message["body"]["code"] == words[1]
                else:
                    assert message["body"]["req_opcode"] == words[1]
                assert set(expected["reqs"]) <= set(session["reqs"])
        assert by_tag == {}, f"answers the manifest does not list: {by_tag}"


def test_volatile_fields_and_normalization_are_applied():
    volatile = [{"message": "NACK", "field": "body.text", "why": "-"},
                {"message": "ACK(STATS)", "field": "body.counters[*].value", "why": "-"}]
    normalize = [{"message": "ACK(STATS)", "field": "body.counters", "sort_by": "id"}]
    exp = {"opcode": "NACK", "tag": 3, "flags": ["RESPONSE"],
           "body": {"req_opcode": "PING", "code": "MALFORMED", "text": "a"}}
    got = dict(exp, body=dict(exp["body"], text="b"))
    assert replay.differences(exp, got, volatile, normalize)[0] == []
    got["body"]["code"] = "BAD_FLAGS"
    diffs, _ = replay.differences(exp, got, volatile, normalize)
    assert diffs == [("body.code", "MALFORMED", "BAD_FLAGS")]
    stats = {"opcode": "ACK", "tag": 4, "flags": ["RESPONSE"],
             "body": {"req_opcode": "STATS", "counters": [{"id": 1, "value": 5},
                                                          {"id": 2, "value": 1}]}}
    shuffled = json.loads(json.dumps(stats))
    shuffled["body"]["counters"] = [{"id": 2, "value": 9}, {"id": 1, "value": 7}]
    assert replay.differences(stats, shuffled, volatile, normalize)[0] == []
    shuffled["body"]["counters"] = [{"id": 3, "value": 9}, {"id": 1, "value": 7}]
    diffs, _ = replay.differences(stats, shuffled, volatile, normalize)
    assert diffs == [("body.counters[1].id", 2, 3)]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
