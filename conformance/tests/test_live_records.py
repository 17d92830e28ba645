"""Chapter 03 live: record protection ([REC-1]..[REC-7]) and the key log.

Every record the peer sends in any test is opened with the direction's key and the next
nonce; one that does not open fails that test ([REC-1], [REC-6]). Here: records we break
on purpose (a flipped bit, a replay, a reordering, the other direction's key, a length
below 24, a plaintext that ends inside a frame) must close the connection without an
answer to anything in them ([REC-3], [REC-4]).
"""

import os
import struct

import pytest

from parley import codec, noise, record, vectors
from parley.harness.oracle import replay
from parley.harness.outcomes import Violation, check, not_run


def ping_frame(tag, data=b"x"):
    return codec.encode_frame(codec.OP_PING, 0, tag, data)


def flip(byte_index):
    def tamper(sealed):
        data = bytearray(sealed)
        data[byte_index % len(data)] ^= 0x01
        return bytes(data)
    return tamper


@pytest.mark.reqs("REC-1", "REC-6")
def test_peer_records_open_in_order_with_counting_nonces(live):
    """[REC-1] [REC-6] 64 requests one by one: every answer arrives in a record that opens
    with the next nonce of the peer's direction, none reused."""
    s = live.open()
    for i in range(64):
        s.roundtrip("REC-1", data=i.to_bytes(2, "big"))
    check(len(s.records_in) >= 64, "REC-1", f"{len(s.records_in)} records for 64 answers")
    check(s.channel.reader.cipher.n == len(s.records_in), "REC-6",
          "the peer's nonce counter does not match its record count")


@pytest.mark.reqs("REC-3", "REC-4")
@pytest.mark.parametrize("where", ["ciphertext", "tag", "first-byte"])
def test_record_with_a_flipped_bit_closes_and_its_frames_are_not_processed(live, where):
    """[REC-3] a record that fails authentication: RECORD_AUTH, close, nothing sent;
    [REC-4] the PING inside it is never answered."""
    s = live.open()
    index = {"ciphertext": 2 + 3, "tag": -1, "first-byte": 2}[where]
    s.send_record(ping_frame(1, b"must not be answered"), tamper=flip(index))
    s.expect_closed_silently("REC-3", what=f"record with a bit flipped ({where})")


@pytest.mark.reqs("REC-3")
def test_replayed_record_closes(live):
    """[REC-3] a record sent again is tried with the next nonce and fails: close, and the
    copy is not answered."""
    s = live.open()
    sealed = s.send_record(ping_frame(1, b"once"))
    s.expect_ack(1, "REC-1", codec.OP_PING)
    s.transcript.add(s.label, "sent", "record", sealed, "the same record again")
    s.conn.send(sealed)
    s.expect_closed_silently("REC-3", what="replayed record")


@pytest.mark.reqs("REC-3", "REC-4")
def test_reordered_records_close(live):
    """[REC-3] records 0 and 1 sent as 1, 0: record 1 fails under nonce 0; close, and
    neither PING is answered."""
    s = live.open()
    first = s.seal(ping_frame(1, b"first"))
    second = s.seal(ping_frame(2, b"second"))
    s.transcript.add(s.label, "sent", "record", second, "record 1 (PING tag 2) first")
    s.transcript.add(s.label, "sent", "record", first, "then record 0 (PING tag 1)")
    s.conn.send(second + first)
    s.expect_closed_silently("REC-3", what="reordered records")


@pytest.mark.reqs("REC-3")
def test_record_sealed_with_the_other_direction_key_closes(live):
    """[REC-3] a record sealed with the responder-to-initiator key: close."""
    s = live.open()
    wrong = noise.CipherState(s.hs.result().c2.k)
    sealed = record.seal(wrong, ping_frame(1, b"wrong key"))
    s.transcript.add(s.label, "sent", "record", sealed, "PING sealed with the peer's own key")
    s.conn.send(sealed)
    s.expect_closed_silently("REC-3", what="record under the other direction's key")


@pytest.mark.reqs("REC-2")
@pytest.mark.parametrize("length", [0, 1, 16, 23])
def test_record_length_below_24_closes(live, length):
    """[REC-2] a record length below 24: RECORD_LENGTH, close before reading further."""
    s = live.open()
    data = struct.pack(">H", length) + os.urandom(length)
    s.send_raw(data, f"record length {length}")
    s.expect_closed_silently("REC-2", what=f"record length {length}")


@pytest.mark.reqs("REC-5", "FRAME-1")
@pytest.mark.parametrize("tail", [b"\x00", b"\x02\x00\x00",
                                  b"\x02\x00\x00\x05\x00\x00\x00\x09abc"],
                         ids=["one-byte", "partial-header", "payload-short"])
def test_record_ending_inside_a_frame_closes(live, tail):
    """[REC-5] [FRAME-1] a plaintext whose last frame does not end at its end:
    FRAME_OVERRUN, close. The whole frames before it may be answered first."""
    s = live.open()
    s.manual_tags = True
    s.await_answer(3)
    s.send_record(ping_frame(3, b"before") + tail)
    how = s.expect_close("REC-5", what="plaintext ending inside a frame")
    answered = [e for e in s.inbox if e["event"] == "response"]
    s.note(f"closed ({how}); the whole frame before was answered: {bool(answered)}")


@pytest.mark.reqs("REC-1")
def test_a_record_of_the_largest_size_is_read_whole(live):
    """[REC-1] a record with the largest length field (65535: 65519 plaintext bytes):
    8181 PINGs on tag 0 (never answered, [TAG-3]) and a last PING on tag 1, answered."""
    s = live.open()
    data = bytes(range(63))
    frames = [ping_frame(0, b"")] * 8181 + [ping_frame(1, data)]
    plaintext = b"".join(frames)
    check(len(plaintext) == record.PLAINTEXT_MAX, "REC-1", "harness: plaintext size")
    s.send_record(plaintext)
    body = s.expect_ack(1, "REC-1", codec.OP_PING)
    check(body["data"] == data, "PING-1", "echo differs")


@pytest.mark.reqs("REC-7")
def test_small_answers_ready_together_share_a_record(live):
    """[REC-7] (SHOULD) 32 PINGs in one record: their ACKs, ready at the same time, come
    packed in fewer records than answers."""
    s = live.open()
    before = len(s.records_in)
    s.send_frames([ping_frame(tag, b"p") for tag in range(1, 33)])
    for tag in range(1, 33):
        s.expect_ack(tag, "REC-7", codec.OP_PING)
    used = len(s.records_in) - before
    check(used < 32, "REC-7", f"32 small answers ready together came in {used} records")
    too_big = [len(p) for p in s.records_in if len(p) > 16392]
    check(not too_big, "REC-7", f"records of {too_big} plaintext bytes (over 16392)")


def _record_plaintext_cases():
    return [pytest.param(t, id=f"records-{t['tcId']}", marks=pytest.mark.reqs(*t["reqs"]))
            for g, t in vectors.cases("records", "record_plaintext")]


@pytest.mark.reqs("REC-5", "FRAME-1", "FRAME-9")
@pytest.mark.parametrize("case", _record_plaintext_cases())
def test_record_plaintext_vector_is_handled_as_spec_orders(live, case):
    """[REC-5] [FRAME-1] [FRAME-9] each record plaintext of vectors/records.json sealed
    into one record: its frames are handled in order and a frame running past the end
    closes the connection."""
    s = live.open()
    model = live.model(s)
    s.note(f"vector records#{case['tcId']}: {case['comment']}")
    replay(s, model, [bytes.fromhex(case["hex"])], case["reqs"][0])


@pytest.mark.reqs("KEYLOG-1")
def test_key_log_names_the_session_and_its_keys(live):
    """[KEYLOG-1] (a property of the implementation, checked when the peer was started
    with {keylog_file}): both lines of our session, with our ephemeral key and the two
    transport keys, are in the key log once the first record is answered."""
    process = live.put.process
    if process is None or "{keylog_file}" not in live.settings.command:
        not_run("the peer was not started with a {keylog_file}")
    s = live.open()
    s.roundtrip("KEYLOG-1")
    result = s.hs.result()
    try:
        with open(process.keylog_file, encoding="ascii") as f:
            sessions = record.parse_keylog(f.read())
    except (OSError, ValueError) as exc:
        raise Violation("KEYLOG-1", f"the key log is not readable: {exc}") from None
    keys = sessions.get(result.initiator_ephemeral)
    check(keys is not None, "KEYLOG-1", "no key-log lines for our session's ephemeral key "
                                        f"{result.initiator_ephemeral.hex()}")
    check(keys.get("i2r") == result.c1.k and keys.get("r2i") == result.c2.k, "KEYLOG-1",
          "the key log's keys are not the session's")

