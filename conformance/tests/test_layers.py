"""parley/layers.py: the scapy layers build and dissect exactly the bytes codec.py does,
for every valid frame, message, preface and record-plaintext vector and for random valid
messages.
"""

import os

import pytest
from hypothesis import given

from parley import codec, vectors
from parley.codec import from_vector, to_vector
from parley.layers import (ParleyAccept, ParleyAck, ParleyBye, ParleyFirstFragment,
                           ParleyFrame, ParleyHello, ParleyNack, ParleyPeerEntry,
                           ParleyPeerList, ParleyPeersRequest, ParleyPing, ParleyPreface,
                           ParleyRecordPlaintext, ParleyRefuse, ParleySetConnectionOpt,
                           ParleyShutdown, ParleyStatsCounter, ParleyStatsList,
                           ParleyStatsRequest, message_fields, message_packet,
                           preface_packet)
from test_vectors_codec import valid_messages  # tests/ is on sys.path under pytest


def valid_params(name, group_type):
    """The valid cases of a vector file as pytest params ([] when the file is missing:
    test_vectors_codec.py::test_vector_file_has_cases fails then)."""
    if not os.path.exists(os.path.join(vectors.VECTORS_DIR, name + ".json")):
        return []
    return [pytest.param(case, id=vectors.case_id(case))
            for case in vectors.cases(name, group_type)
            if case[1]["result"] == "valid"]


@pytest.mark.parametrize("name, group_type", [
    ("preface", "preface"), ("frame_header", "frame_header"), ("messages", "message"),
    ("records", "record_plaintext")])
def test_vector_file_has_valid_cases(name, group_type):
    """The layers are checked on at least one valid case of every file they cover."""
    assert valid_params(name, group_type), f"no valid {group_type} cases in {name}.json"


@pytest.mark.parametrize("case", valid_params("preface", "preface"))
def test_preface_layers_match_vector(case):
    """[PRE-1] the preface layers dissect and build the vector's exact bytes."""
    _, test = case
    data = bytes.fromhex(test["hex"])
    packet = ParleyPreface(data)
    assert bytes(packet) == data
    assert bytes(preface_packet(test["fields"])) == data
    if test["fields"]["kind"] == "ACCEPT":
        assert packet.major == test["fields"]["major"]
    else:
        assert packet.majors == test["fields"]["majors"]


@pytest.mark.parametrize("case", valid_params("frame_header", "frame_header"))
def test_frame_header_layer_matches_vector(case):
    """[FRAME-1] ParleyFrame's header fields are the spec's, at the spec's offsets."""
    _, test = case
    data = bytes.fromhex(test["hex"])
    fields = test["fields"]
    frame = ParleyFrame(data)
    assert (frame.opcode, int(frame.flags), frame.tag, frame.length) == \
        (fields["opcode"], fields["flags"], fields["tag"], fields["length"])
    assert bytes(frame) == data
    assert bytes(ParleyFrame(**fields)) == data


@pytest.mark.parametrize("case", valid_params("messages", "message"))
def test_message_layers_match_vector(case):
    """[MSG-1], [ACK-1], [NACK-1]: dissecting the vector's frame gives its fields and
    its bytes back; building from its fields gives the bytes codec.encode_message does."""
    _, test = case
    data = bytes.fromhex(test["hex"])
    fields = from_vector(test["fields"])
    frame = ParleyFrame(data)
    assert bytes(frame) == data
    assert bytes(message_packet(fields)) == codec.encode_message(fields) == data
    if not fields["flags"] & codec.FLAG_COMPRESSED:
        assert to_vector(message_fields(frame)) == test["fields"]


@pytest.mark.parametrize("case", valid_params("records", "record_plaintext"))
def test_record_plaintext_layer_matches_vector(case):
    """[FRAME-1] ParleyRecordPlaintext cuts a plaintext into the vector's frames."""
    _, test = case
    data = bytes.fromhex(test["hex"])
    plaintext = ParleyRecordPlaintext(data)
    assert bytes(plaintext) == data
    got = [{"opcode": f.opcode, "flags": int(f.flags), "tag": f.tag, "length": f.length,
            "payload": bytes(f.payload)} for f in plaintext.frames]
    assert to_vector({"frames": got}) == test["fields"]


@given(valid_messages)
def test_layers_and_codec_build_the_same_bytes(message):
    """Layers and codec agree on every valid message, and dissecting gives it back."""
    data = codec.encode_message(message)
    assert bytes(message_packet(message)) == data
    frame = ParleyFrame(data)
    assert bytes(frame) == data
    assert message_fields(frame) == message


def test_building_sets_opcode_flags_and_length():
    """The frame's opcode, RESPONSE flag and length follow from the payload layer."""
    assert bytes(ParleyFrame(tag=1) / ParleyPing(data=b"x")).hex() == "020000010000000178"
    assert bytes(ParleyFrame(opcode=2, tag=1) / ParleyPing(data=b"x")) == \
        codec.encode_frame(codec.OP_PING, 0, 1, b"x")
    nack = ParleyFrame(tag=7) / ParleyNack(req_opcode=200, code=2, text=b"opcode 200")
    assert bytes(nack) == codec.encode_message({
        "opcode": codec.OP_NACK, "flags": codec.FLAG_RESPONSE, "tag": 7,
        "body": {"req_opcode": 200, "code": 2, "text": "opcode 200"}})
    stats = ParleyFrame(tag=3) / ParleyAck() / ParleyStatsList(
        counters=[ParleyStatsCounter(id=1, value=60)])
    stats_body = bytes.fromhex("0d" "0001" "0001" "000000000000003c")
    assert bytes(stats) == codec.encode_frame(codec.OP_ACK, codec.FLAG_RESPONSE, 3,
                                              stats_body)
    peers = ParleyFrame(tag=3) / ParleyAck() / ParleyPeerList(peers=[
        ParleyPeerEntry(family=6, address="::1", port=9, flags="OUTBOUND")])
    assert codec.decode_message(bytes(peers))["body"]["peers"][0]["address"] == \
        bytes(15) + b"\x01"
    for layer, opcode in ((ParleyPeersRequest, 11), (ParleyShutdown, 12),
                          (ParleyStatsRequest, 13)):
        assert bytes(ParleyFrame(tag=1) / layer()) == codec.encode_frame(opcode, 0, 1)
    bye = ParleyFrame(tag=0) / ParleyBye(reason=2, text=b"idle")
    assert codec.decode_message(bytes(bye))["body"] == {"reason": 2, "text": "idle"}
    opt = ParleyFrame(tag=4) / ParleySetConnectionOpt(option=0, setting=3)
    assert bytes(opt) == codec.encode_frame(codec.OP_SET_CONNECTION_OPT, 0, 4, b"\x00\x03")


def test_dissection_picks_the_layer_by_opcode_and_flags():
    """A request by its opcode, a response as ACK/NACK, an ACK body by req_opcode;
    fragments and compressed payloads stay Raw."""
    assert ParleyFrame(codec.encode_frame(2, 0, 1, b"x")).haslayer(ParleyPing)
    ack = ParleyFrame(codec.encode_frame(0, 1, 1, b"\x03\x00\x03"))
    assert ack[ParleyAck].req_opcode == 3 and ack.haslayer(ParleySetConnectionOpt)
    fragment = ParleyFrame(codec.encode_frame(2, codec.FLAG_MORE, 1, b"\x00\x00\x00\x01x"))
    assert not fragment.haslayer(ParleyPing)
    first = ParleyFrame(opcode=2, flags="MORE", tag=1) / ParleyFirstFragment(data=b"x")
    assert bytes(first) == codec.encode_fragments(2, 0, 1, b"x")[0]


def test_preface_layers_build_codec_bytes():
    """[PRE-1] HELLO, ACCEPT and REFUSE layers give codec's bytes."""
    assert bytes(ParleyHello(majors=[3, 1])) == codec.encode_hello([3, 1])
    assert bytes(ParleyAccept(major=1)) == codec.encode_accept(1)
    assert bytes(ParleyRefuse(majors=[2])) == codec.encode_refuse([2])
    assert isinstance(ParleyPreface(codec.encode_refuse([2])), ParleyRefuse)
    assert isinstance(ParleyPreface(codec.encode_accept(1)), ParleyAccept)
