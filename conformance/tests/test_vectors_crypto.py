"""Every crypto golden vector: the cacophony Noise vector, handshake.json, identity.json,
ed25519.json and the "record" groups of records.json, reproduced byte for byte."""

import json
import os
import re

import pytest

from parley import ed25519, noise, record, vectors
from parley.errors import ParleyError
from parley.handshake import (
    Handshake,
    HandshakeResult,
    Identity,
    IdentityPayload,
    read_identity_payload,
)

SHARED_CACOPHONY = os.path.join(
    vectors.VECTORS_DIR, "..", "..", "shared", "vectors", "noise-xx-cacophony.json")

# file name -> the group types of it that this module runs
CRYPTO_FILES = {
    "handshake": ("handshake", "handshake_invalid"),
    "identity": ("identity_payload",),
    "ed25519": ("ed25519",),
    "records": ("record",),
}


def _cases(name, group_type):
    """(group, test) pairs, or none when the file is missing (reported by
    test_vector_file_has_cases, not as a collection error)."""
    try:
        return vectors.cases(name, group_type)
    except FileNotFoundError:
        return []


def _params(name, group_type):
    pairs = _cases(name, group_type)
    return pytest.mark.parametrize(
        "group, test", pairs, ids=[vectors.case_id(pair) for pair in pairs])


def _h(text):
    return bytes.fromhex(text)


@pytest.mark.parametrize("name", sorted(CRYPTO_FILES))
def test_vector_file_has_cases(name):
    """Every crypto vector file exists and has cases of the groups run here."""
    count = sum(len(_cases(name, t)) for t in CRYPTO_FILES[name])
    assert count > 0, f"vectors/{name}.json has no cases of {CRYPTO_FILES[name]}"


# --- cacophony --------------------------------------------------------------------------


def _cacophony():
    path = os.path.join(vectors.VECTORS_DIR, "noise-xx-cacophony.json")
    if not os.path.exists(path):
        path = SHARED_CACOPHONY
    with open(path, encoding="utf-8") as f:
        return json.load(f)["vectors"]


@pytest.mark.parametrize("vector", _cacophony(), ids=lambda v: v["protocol_name"])
def test_cacophony_noise_xx_vector(vector):
    """[HS-1] Noise_XX_25519_ChaChaPoly_SHA256 reproduces the public cacophony vector:
    every handshake message both ways, the handshake hash, and the transport messages
    (which alternate directions after the split, c1 from the initiator)."""
    assert vector["protocol_name"] == noise.PROTOCOL_NAME.decode()
    init = noise.HandshakeState(True, _h(vector["init_prologue"]),
                                _h(vector["init_static"]), _h(vector["init_ephemeral"]))
    resp = noise.HandshakeState(False, _h(vector["resp_prologue"]),
                                _h(vector["resp_static"]), _h(vector["resp_ephemeral"]))
    messages = vector["messages"]
    assert len(messages) > 3
    for i, message in enumerate(messages[:3]):
        writer, reader = (init, resp) if i % 2 == 0 else (resp, init)
        ciphertext = writer.write_message(_h(message["payload"]))
        assert ciphertext.hex() == message["ciphertext"]
        assert reader.read_message(ciphertext) == _h(message["payload"])
    assert init.handshake_hash.hex() == vector["handshake_hash"]
    assert resp.handshake_hash.hex() == vector["handshake_hash"]
    i_c1, i_c2 = init.split()
    r_c1, r_c2 = resp.split()
    for i, message in enumerate(messages[3:], 3):
        sender, receiver = (i_c1, r_c1) if i % 2 == 0 else (r_c2, i_c2)
        ciphertext = sender.encrypt_with_ad(b"", _h(message["payload"]))
        assert ciphertext.hex() == message["ciphertext"]
        assert receiver.decrypt_with_ad(b"", ciphertext) == _h(message["payload"])


# --- handshake.json ---------------------------------------------------------------------


def _payload_fields(params):
    """The vector's advertised payload fields as Handshake's payload_fields."""
    fields = dict(params)
    fields["extensions"] = [(e["type"], _h(e["value"])) for e in params["extensions"]]
    return fields


def _side(params, role, prologue):
    return Handshake(
        role == "initiator",
        Identity(_h(params[f"{role}_identity_seed"])),
        prologue,
        _payload_fields(params[f"{role}_payload"]),
        static=_h(params[f"{role}_static_private"]),
        ephemeral=_h(params[f"{role}_ephemeral_private"]),
    )


@_params("handshake", "handshake")
def test_handshake_vector(group, test):
    """[HS-1] [HS-2] [HS-5] [HS-6] [REC-1] [KEYLOG-1]: with the fixed keys of the case,
    both sides produce exactly the messages, payloads, hash, keys, key log and records."""
    params = group["params"]
    expected = test["fields"]
    prologue = _h(params["hello"]) + _h(params["accept"])
    init = _side(params, "initiator", prologue)
    resp = _side(params, "responder", prologue)

    msg1 = init.write_message()
    resp.read_message(msg1)
    msg2 = resp.write_message()
    init.read_message(msg2)
    msg3 = init.write_message()
    resp.read_message(msg3)
    a, b = init.result(), resp.result()
    assert isinstance(a, HandshakeResult)

    # Each side decoded exactly the payload the other encoded.
    assert a.remote == resp.payload and b.remote == init.payload
    assert a.handshake_hash == b.handshake_hash
    assert (a.c1.k, a.c2.k, a.initiator_ephemeral) == (b.c1.k, b.c2.k, b.initiator_ephemeral)

    got = {
        "prologue": prologue.hex(),
        "initiator_identity": init.identity.public_key.hex(),
        "responder_identity": resp.identity.public_key.hex(),
        "initiator_static_public": init.static_public.hex(),
        "responder_static_public": resp.static_public.hex(),
        "initiator_ephemeral_public": a.initiator_ephemeral.hex(),
        "responder_ephemeral_public": resp.ephemeral_public.hex(),
        "msg1": msg1.hex(),
        "msg2": msg2.hex(),
        "msg3": msg3.hex(),
        "initiator_payload": init.payload.encode().hex(),
        "responder_payload": resp.payload.encode().hex(),
        "handshake_hash": a.handshake_hash.hex(),
        "i2r_key": a.c1.k.hex(),
        "r2i_key": a.c2.k.hex(),
        "keylog": record.keylog_lines(a.initiator_ephemeral, a.c1.k, a.c2.k).splitlines(),
    }

    # The records: sealed in order per direction from nonce 0, opened by the other side.
    init_channel = record.RecordChannel.from_handshake(a)
    resp_channel = record.RecordChannel.from_handshake(b)
    numbers = sorted({int(m.group(2)) for k in expected
                      if (m := re.fullmatch(r"(i2r|r2i)_record_(\d+)", k))})
    assert numbers == list(range(len(numbers))) and numbers
    for n in numbers:
        for direction, sender, receiver in (("i2r", init_channel, resp_channel),
                                            ("r2i", resp_channel, init_channel)):
            plaintext = _h(expected[f"{direction}_plaintext_{n}"])
            sealed = sender.seal(plaintext)
            assert receiver.feed(sealed) == [plaintext]
            got[f"{direction}_plaintext_{n}"] = plaintext.hex()
            got[f"{direction}_record_{n}"] = sealed.hex()

    assert got == expected


def _drive_invalid(params, test, use_feed):
    """Run the side under test on the received messages; returns the message number
    (1..3) whose processing raised, and the error."""
    receiver = test["receiver"]
    side = _side(params, receiver, _h(test["prologue"]))
    if receiver == "initiator":
        side.start()
    number = 1 if receiver == "responder" else 2
    try:
        for framed in test["messages"]:
            if use_feed:
                side.feed(_h(framed))
            else:
                side.read_message(_h(framed))
                if not side.noise.complete:
                    side.write_message()
            number += 2
    except ParleyError as err:
        return number, err
    return None, None


@_params("handshake", "handshake_invalid")
@pytest.mark.parametrize("use_feed", [False, True], ids=["whole", "stream"])
def test_handshake_invalid_vector(group, test, use_feed):
    """[HS-1] .. [HS-8]: the side under test, with its fixed keys, fails on exactly the
    listed message with exactly the listed close reason (message by message and as a
    byte stream)."""
    assert test["result"] == "invalid"
    number, err = _drive_invalid(group["params"], test, use_feed)
    assert err is not None, "the handshake did not fail"
    assert (number, err.name) == (test["failing_message"], test["error"]), str(err)


# --- identity.json ----------------------------------------------------------------------


@_params("identity", "identity_payload")
def test_identity_payload_vector(group, test):
    """[HS-5] .. [HS-9]: valid payloads decode to exactly the fields and re-encode to
    the bytes; invalid ones fail with exactly the close reason, checks in §2.2 order."""
    params = group["params"]
    data = _h(test["hex"])
    own = _h(params["own_identity"]) if params.get("own_identity") else None
    remote_static = _h(params["remote_static"])
    if test["result"] == "valid":
        payload = read_identity_payload(data, remote_static, own)
        assert payload.to_fields() == test["fields"]
        assert payload.encode() == data
    else:
        with pytest.raises(ParleyError) as err:
            read_identity_payload(data, remote_static, own)
        assert err.value.name == test["error"], str(err.value)


def test_identity_payload_vector_fields_encode():
    """[HS-5] encoding the fields of each valid vector gives its bytes."""
    cases = [c for c in _cases("identity", "identity_payload") if c[1]["result"] == "valid"]
    assert cases
    for _, test in cases:
        f = test["fields"]
        payload = IdentityPayload(
            _h(f["identity_key"]), _h(f["signature"]), f["minor"], f["capabilities"],
            f["max_tags"], f["max_message"], f["reassembly_budget"], f["listen_port"],
            [(e["type"], _h(e["value"])) for e in f["extensions"]])
        assert payload.encode().hex() == test["hex"], test["tcId"]


# --- ed25519.json -----------------------------------------------------------------------


@_params("ed25519", "ed25519")
def test_ed25519_vector(group, test):
    """[ID-1] .. [ID-5]: the verdict, and for a rejection exactly the rule."""
    pk, msg, sig = _h(test["pk"]), _h(test["msg"]), _h(test["sig"])
    rule = ed25519.check(pk, msg, sig)
    if test["result"] == "valid":
        assert rule is None
        ed25519.verify(pk, msg, sig)
    else:
        assert test["error"] == "BAD_SIGNATURE"
        with pytest.raises(ed25519.SignatureError) as err:
            ed25519.verify(pk, msg, sig)
        assert err.value.name == "BAD_SIGNATURE"
        assert err.value.rule == test["rule"]
    if rule in (None, "ID-5"):
        # [ID-5] OpenSSL's verdict is the cofactorless equation's, computed here in pure
        # Python from the definition.
        assert ed25519.cofactorless_equation_holds(pk, msg, sig) == (rule is None)


# --- records.json, "record" groups ------------------------------------------------------


@_params("records", "record")
def test_record_vector(group, test):
    """[REC-1] [REC-2] [REC-3] [REC-6]: a valid record opens to exactly the plaintext and
    the plaintext seals to exactly the record; an invalid one fails with exactly the
    close reason, whole and as a stream."""
    key, nonce = _h(group["params"]["key"]), group["params"]["nonce"]
    data = _h(test["hex"])
    if test["result"] == "valid":
        plaintext = record.open_with_key(key, nonce, data)
        assert {"plaintext": plaintext.hex()} == test["fields"]
        assert record.seal(noise.CipherState(key, nonce), plaintext) == data
        reader = record.RecordReader(noise.CipherState(key, nonce))
        assert reader.feed(data) == [plaintext]
    else:
        with pytest.raises(ParleyError) as err:
            record.open_with_key(key, nonce, data)
        assert err.value.name == test["error"], str(err.value)
        reader = record.RecordReader(noise.CipherState(key, nonce))
        with pytest.raises(ParleyError) as err:
            reader.feed(data)
        assert err.value.name == test["error"], str(err.value)
