"""Chapter 03: records, nonces and the key log (parley/record.py)."""

import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from parley import noise, record
from parley.errors import ParleyError
from parley.handshake import Handshake, Identity

KEY_I2R = bytes(range(32))
KEY_R2I = bytes(range(32, 64))
FRAME = bytes.fromhex("0200000100000000")  # 8 bytes: one frame header's worth


def _pair():
    """A sender and a receiver for one direction."""
    return noise.CipherState(KEY_I2R), noise.CipherState(KEY_I2R)


def _expect(name, fn, *args):
    with pytest.raises(ParleyError) as err:
        fn(*args)
    assert err.value.name == name, err.value
    return err.value


def test_record_is_length_and_chacha20poly1305_with_counter_nonce():
    """[REC-1] length u16 big-endian, then ChaCha20-Poly1305 with ad empty and nonce
    4 zero bytes + the counter (from 0) little-endian."""
    tx, _ = _pair()
    aead = ChaCha20Poly1305(KEY_I2R)
    for counter in range(3):
        sealed = record.seal(tx, FRAME * (counter + 1))
        nonce = bytes(4) + struct.pack("<Q", counter)
        expected = aead.encrypt(nonce, FRAME * (counter + 1), b"")
        assert sealed == struct.pack(">H", len(expected)) + expected


def test_records_open_in_order():
    """[REC-1] [REC-4]"""
    tx, rx = _pair()
    sealed = [record.seal(tx, FRAME + bytes([i])) for i in range(5)]
    for i, one in enumerate(sealed):
        assert record.open_record(rx, one) == FRAME + bytes([i])


def test_smallest_record_is_24_bytes():
    """[REC-2] a length of 24 (tag + one frame header) is valid."""
    tx, rx = _pair()
    sealed = record.seal(tx, FRAME)
    assert struct.unpack(">H", sealed[:2])[0] == 24
    assert record.open_record(rx, sealed) == FRAME


@pytest.mark.parametrize("length", [0, 1, 16, 23])
def test_length_below_24_is_refused_before_reading_the_ciphertext(length):
    """[REC-2] the two length bytes alone are enough to close with RECORD_LENGTH."""
    _, rx = _pair()
    reader = record.RecordReader(rx)
    _expect("RECORD_LENGTH", reader.feed, struct.pack(">H", length))


def test_length_disagreeing_with_the_record_bytes():
    """[CONV-3] a whole record whose length runs past (or short of) its bytes."""
    tx, rx = _pair()
    sealed = record.seal(tx, FRAME)
    _expect("RECORD_LENGTH", record.open_record, rx, sealed[:-1])
    _expect("RECORD_LENGTH", record.open_record, rx, sealed + b"\x00")
    _expect("RECORD_LENGTH", record.open_record, rx, b"\x00")


@pytest.mark.parametrize("position", [2, 10, -1])
def test_flipped_bit_fails_authentication(position):
    """[REC-3]"""
    tx, rx = _pair()
    sealed = bytearray(record.seal(tx, FRAME * 2))
    sealed[position] ^= 0x04
    _expect("RECORD_AUTH", record.open_record, rx, bytes(sealed))


def test_replayed_record_fails_authentication():
    """[REC-3] the same record twice: the second try uses the next nonce."""
    tx, rx = _pair()
    sealed = record.seal(tx, FRAME)
    record.open_record(rx, sealed)
    _expect("RECORD_AUTH", record.open_record, rx, sealed)


def test_reordered_records_fail_authentication():
    """[REC-3] record 1 arriving before record 0."""
    tx, rx = _pair()
    first, second = record.seal(tx, FRAME), record.seal(tx, FRAME)
    reader = record.RecordReader(rx)
    _expect("RECORD_AUTH", reader.feed, second + first)


def test_record_sealed_with_the_other_directions_key_fails():
    """[REC-3] a reflected record (sealed with the receiver's own sending key)."""
    mine = noise.CipherState(KEY_R2I)
    rx = noise.CipherState(KEY_I2R)
    _expect("RECORD_AUTH", record.open_record, rx, record.seal(mine, FRAME))


def test_failed_record_does_not_advance_the_receiving_counter():
    """[REC-3] [REC-4] nothing of a failed record is delivered or counted."""
    tx, rx = _pair()
    good = record.seal(tx, FRAME)
    bad = good[:-1] + bytes([good[-1] ^ 1])
    _expect("RECORD_AUTH", record.open_record, rx, bad)
    assert rx.n == 0
    assert record.open_record(rx, good) == FRAME


def test_reader_handles_any_chunking():
    """[REC-1] records split across reads and several records in one read."""
    tx, rx = _pair()
    stream = b"".join(record.seal(tx, FRAME * (i + 1)) for i in range(4))
    reader = record.RecordReader(rx)
    out = []
    for i in range(0, len(stream), 5):
        out += reader.feed(stream[i:i + 5])
    assert out == [FRAME * (i + 1) for i in range(4)]
    assert reader.pending == b""


def test_sender_stops_before_the_reserved_nonce():
    """[REC-6] the last usable counter is 2^64 - 2; the sender then must close."""
    tx = noise.CipherState(KEY_I2R, nonce=2**64 - 2)
    rx = noise.CipherState(KEY_I2R, nonce=2**64 - 2)
    assert record.open_record(rx, record.seal(tx, FRAME)) == FRAME
    with pytest.raises(noise.NonceExhausted):
        record.seal(tx, FRAME)


@pytest.mark.parametrize("size", [0, 7, 65520])
def test_seal_refuses_plaintexts_that_cannot_make_a_valid_record(size):
    """[REC-2] a sender never produces a length outside 24..65535."""
    tx, _ = _pair()
    with pytest.raises(ValueError):
        record.seal(tx, bytes(size))


def test_largest_record():
    """65519 bytes of plaintext make the largest length, 65535."""
    tx, rx = _pair()
    sealed = record.seal(tx, bytes(65519))
    assert struct.unpack(">H", sealed[:2])[0] == 65535
    assert record.open_with_key(KEY_I2R, 0, sealed) == bytes(65519)


# --- key log -----------------------------------------------------------------------------


def test_keylog_lines_format():
    """[KEYLOG-1] two lines, I2R with c1 and R2I with c2, named by the initiator's
    ephemeral key, lowercase hex."""
    eph = bytes([0xAB]) * 32
    text = record.keylog_lines(eph, KEY_I2R, KEY_R2I)
    assert text == (f"PARLEY_I2R {'ab' * 32} {KEY_I2R.hex()}\n"
                    f"PARLEY_R2I {'ab' * 32} {KEY_R2I.hex()}\n")
    assert record.parse_keylog(text) == {eph: {"i2r": KEY_I2R, "r2i": KEY_R2I}}


def test_keylog_parse_skips_comments_and_blank_lines():
    text = "# a comment\n\n" + record.keylog_lines(bytes(32), KEY_I2R, KEY_R2I)
    assert record.parse_keylog(text) == {bytes(32): {"i2r": KEY_I2R, "r2i": KEY_R2I}}


@pytest.mark.parametrize("line", [
    "PARLEY_I2R 00",
    "PARLEY_X " + "00" * 32 + " " + "00" * 32,
    "PARLEY_I2R " + "zz" * 32 + " " + "00" * 32,
    "PARLEY_I2R " + "00" * 32 + " " + "00" * 31,
    "PARLEY_I2R " + "00" * 32 + " " + "00" * 32 + " extra",
])
def test_keylog_parse_rejects_malformed_lines(line):
    with pytest.raises(ValueError):
        record.parse_keylog(line + "\n")


def test_append_keylog_appends(tmp_path):
    """[KEYLOG-1] the key log is appended to, never rewritten."""
    path = tmp_path / "keys.log"
    path.write_text("# earlier\n")
    init, resp = _handshake()
    resp.feed(init.feed(resp.feed(init.start())))
    record.append_keylog(path, init.result())
    record.append_keylog(path, resp.result())
    lines = path.read_text().splitlines()
    assert lines[0] == "# earlier" and len(lines) == 5
    assert lines[1:3] == lines[3:5]  # both sides log the same session identically


def _handshake():
    hello, accept = b"PARLEY\x01\x01\x01", b"PARLEY\x02\x01"
    init = Handshake(True, Identity(bytes([1]) * 32), hello + accept)
    resp = Handshake(False, Identity(bytes([2]) * 32), hello + accept)
    return init, resp


def test_decrypt_a_captured_session_with_the_key_log():
    """[KEYLOG-1] [REC-1] a dissector finds the session by the ephemeral key in message
    1 and decrypts both directions counting nonces from 0."""
    hello, accept = b"PARLEY\x01\x01\x01", b"PARLEY\x02\x01"
    init, resp = _handshake()
    from_init = hello + init.start()
    from_resp = accept + resp.feed(from_init[len(hello):])
    from_init += init.feed(from_resp[len(accept):])
    resp.feed(from_init[len(hello) + 34:])
    a = record.RecordChannel.from_handshake(init.result())
    b = record.RecordChannel.from_handshake(resp.result())
    sent_i2r = [FRAME + b"one", FRAME + b"two"]
    sent_r2i = [FRAME + b"three"]
    from_init += b"".join(a.seal(p) for p in sent_i2r)
    from_resp += b"".join(b.seal(p) for p in sent_r2i)
    from_resp += b.seal(FRAME)[:10]  # the capture ends mid-record

    keylog = "# test\n" + record.keylog_lines(
        init.result().initiator_ephemeral, init.result().c1.k, init.result().c2.k)
    session = record.decrypt_session(keylog, from_init, from_resp)
    assert session.initiator_ephemeral == init.result().initiator_ephemeral
    assert session.i2r == sent_i2r and session.r2i == sent_r2i
    assert session.i2r_pending == b"" and len(session.r2i_pending) == 10
    assert session.i2r_error is None and session.r2i_error is None

    tampered = from_init[:-1] + bytes([from_init[-1] ^ 1])
    session = record.decrypt_session(keylog, tampered, from_resp)
    assert session.i2r == sent_i2r[:1]
    assert session.i2r_error.name == "RECORD_AUTH"

    with pytest.raises(KeyError):
        record.decrypt_session("", from_init, from_resp)
    with pytest.raises(ValueError):
        record.decrypt_session(keylog, b"NOTPARLEY", from_resp)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.integers(1, 50))
def test_random_bytes_give_record_errors_only(data, chunk):
    """[CONV-4] [REC-2] [REC-3] arbitrary bytes in any chunking: RECORD_LENGTH or
    RECORD_AUTH, never another exception, and nothing delivered."""
    reader = record.RecordReader(noise.CipherState(KEY_I2R))
    try:
        for i in range(0, len(data), chunk):
            assert reader.feed(data[i:i + chunk]) == []
    except ParleyError as err:
        assert err.name in ("RECORD_LENGTH", "RECORD_AUTH")
