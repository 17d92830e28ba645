"""Chapters 01 and 02 live, the peer as initiator: it dials the harness ({bootstrap}).

The long-running peer dials the harness's bootstrap listener when it starts; the harness
answers at once as a correct responder and records the exchange. The tests then check
that dial ([PRE-1], [HS-1], [HS-5], [HS-6], [HS-10]) and use the session.

To see the peer refuse a bad responder ([PRE-6], [HS-1], [HS-4], [HS-6], [HS-7], [HS-8]),
a test starts a peer of its own that dials a listener of the test, and answers its HELLO
or its message 1 wrongly on purpose (PEER mode only).
"""

import pytest

from parley import codec, vectors
from parley.errors import ParleyError
from parley.handshake import IdentityPayload
from parley.harness import net
from parley.harness.client import RawPayload
from parley.harness.outcomes import Violation, check, not_run


def the_dial(live):
    dial = live.peek_dial()
    if dial.error is not None:
        if isinstance(dial.error, Violation):
            raise dial.error
        raise Violation("HS-1", f"the peer's dial did not complete the handshake: {dial.error}")
    return dial


@pytest.mark.reqs("PRE-1")
@pytest.mark.needs("bootstrap")
def test_peer_dials_with_a_valid_hello_first(live):
    """[PRE-1] the first bytes of the peer's connection are a HELLO listing its majors,
    strictly descending, 1 to 16 of them, major 1 among them."""
    dial = the_dial(live)
    hello = codec.decode_hello(dial.session.hello_bytes)
    check(1 in hello["majors"], "PRE-1", f"HELLO {hello['majors']} does not offer major 1")
    check(hello["majors"] == live.info.majors, "PRE-1",
          f"HELLO offers {hello['majors']}, the peer's REFUSE lists {live.info.majors}")


@pytest.mark.reqs("HS-1", "HS-5", "HS-6", "HS-10", "LIMIT-1")
@pytest.mark.needs("bootstrap")
def test_peer_completes_the_handshake_as_initiator(live):
    """[HS-1] the peer as Noise initiator completes XX; [HS-5] [HS-6] its message 3 carries
    its identity, strictly verified against its static key; [LIMIT-1] its limits are at
    least the floors; [HS-10] it sends records only after message 3."""
    dial = the_dial(live)
    remote = dial.session.remote
    check(remote.identity_key == live.info.node_id, "HS-6",
          "the identity in the peer's message 3 is not the one it shows as responder")
    check(remote.max_tags >= codec.MIN_MAX_TAGS and remote.max_message >= codec.MIN_MAX_MESSAGE,
          "LIMIT-1", f"limits {remote.to_fields()}")


@pytest.mark.reqs("PING-1", "TAG-2")
@pytest.mark.needs("bootstrap")
def test_peer_answers_ping_on_the_connection_it_dialled(live):
    """[PING-1] requests flow both ways on one connection: the peer answers our PINGs on
    the connection it opened."""
    s = the_dial(live).session
    for i in range(3):
        s.roundtrip("PING-1", data=b"dialled" + bytes([i]))


@pytest.mark.reqs("ADMIN-3")
@pytest.mark.needs("bootstrap", "admin")
def test_dialled_connection_is_listed_outbound_in_peers(live):
    """[ADMIN-3] the connection the peer dialled appears in PEERS with the OUTBOUND flag."""
    dial = the_dial(live)
    me = dial.session.identity.public_key
    admin = live.admin()
    tag = admin.request(codec.OP_PEERS)
    body = admin.expect_ack(tag, "ADMIN-3", codec.OP_PEERS)
    entry = next((p for p in body["peers"] if p["node_id"] == me), None)
    check(entry is not None, "ADMIN-3", "the connection the peer dialled is not listed")
    check(entry["flags"] & codec.PEER_FLAG_OUTBOUND, "ADMIN-3",
          f"the dialled connection has flags {entry['flags']:#x}, OUTBOUND clear")


# --- a peer of the test's own, answered wrongly ------------------------------------------


def dialled(live):
    """Start a peer that dials a listener of this test; its connection, HELLO read."""
    listener = live.listener()
    process = live.spawn(bootstrap=listener.spec, name="dialler")
    s = live.accept_dial(listener, timeout=5)
    data, hello = s.read_hello()
    if isinstance(hello, ParleyError):
        raise Violation("PRE-1", f"the peer's HELLO {data.hex()} is invalid: {hello}")
    return process, s


def _answer_cases():
    return [pytest.param(t, id=f"preface-{t['tcId']}", marks=pytest.mark.reqs(*t["reqs"]))
            for g, t in vectors.cases("preface", "preface")
            if g["params"].get("expect") == "answer"]


@pytest.mark.reqs("PRE-6", "PRE-5")
@pytest.mark.needs("spawn")
@pytest.mark.parametrize("case", _answer_cases())
def test_initiator_judges_each_answer_vector(live, case):
    """[PRE-6] each ACCEPT or REFUSE of vectors/preface.json sent to the dialling peer: an
    ACCEPT of a major it offered is followed by its message 1; REFUSE, an ACCEPT of a
    major it did not offer, or a malformed answer closes the connection, message 1
    unsent."""
    _, s = dialled(live)
    answer = bytes.fromhex(case["answer"] if "answer" in case else case["hex"])
    try:
        verdict = codec.decode_answer(answer, s.offered)
        proceed = verdict["kind"] == "ACCEPT"
    except ParleyError as err:
        verdict, proceed = err, False
    s.note(f"vector preface#{case['tcId']}: {case['comment']}; the peer offered {s.offered}, "
           f"so: {'message 1 due' if proceed else 'close due'} ({verdict})")
    s.send_answer(answer)
    if proceed:
        frame = s.read_handshake_frame()
        check(len(frame) == 2 + 32, "HS-1", f"message 1 of {len(frame) - 2} bytes")
    else:
        s.expect_closed_silently("PRE-6", what="close without message 1")


@pytest.mark.reqs("PRE-6")
@pytest.mark.needs("spawn")
@pytest.mark.parametrize("answer", ["refuse", "accept-200"])
def test_initiator_closes_after_refuse_or_an_unoffered_major(live, answer):
    """[PRE-6] REFUSE: NO_COMMON_MAJOR, close; ACCEPT of a major the HELLO did not offer:
    PREFACE_BAD_CHOICE, close. Message 1 is never sent."""
    _, s = dialled(live)
    if 200 in s.offered:
        not_run("the peer offers major 200")
    s.send_answer(codec.encode_refuse([200]) if answer == "refuse" else codec.encode_accept(200))
    s.expect_closed_silently("PRE-6", what=f"{answer}: close without message 1")


def message_2_variant(s, variant, live):
    """Our message 2 with one thing wrong (message 1 has been read)."""
    if variant == "reflection":
        own = None
        for process in live.processes:
            own = process.read_identity() or own
        if own is None:
            not_run("the dialling peer's key file is not readable")
        s.hs.payload = IdentityPayload.signed(own, s.hs.static_public, **s.fields)
        s.note("message 2 claims the dialling peer's own identity, signed by its key")
    if variant == "bad-signature":
        other = IdentityPayload.signed(s.identity, bytes(32), **s.fields)
        s.hs.payload = RawPayload(other.encode())
    if variant == "short-payload":
        good = IdentityPayload.signed(s.identity, s.hs.static_public, **s.fields).encode()
        s.hs.payload = RawPayload(good[:113])
    message = bytearray(s.hs.write_message())
    if variant == "flipped-bit":
        message[-1] ^= 0x01
    return bytes(message)


@pytest.mark.reqs("HS-4", "HS-6", "HS-7", "HS-8", "HS-1")
@pytest.mark.needs("spawn")
@pytest.mark.parametrize("variant,req", [("flipped-bit", "HS-4"), ("bad-signature", "HS-6"),
                                         ("reflection", "HS-7"), ("limits-below-floor", "HS-8"),
                                         ("short-payload", "HS-1")],
                         ids=["flipped-bit", "bad-signature", "reflection", "limits-below-floor",
                              "short-payload"])
def test_initiator_refuses_a_bad_message_2(live, variant, req):
    """The dialling peer reads our message 2 and closes without sending message 3 when
    [HS-4] it does not decrypt, [HS-6] its identity signature is over another static key,
    [HS-7] it claims the peer's own identity, [HS-8] its limits are below the floors,
    [HS-1] its payload is 113 bytes (message 2 of 209 bytes)."""
    _, s = dialled(live)
    s.send_answer(codec.encode_accept(1))
    s.begin_handshake(fields={"max_tags": 255} if variant == "limits-below-floor" else None)
    s.read_handshake_message()
    message = message_2_variant(s, variant, live)
    s.send_handshake_message(message, f"message 2 ({variant})")
    s.expect_closed_silently(req, what=f"{variant}: close without message 3")


@pytest.mark.reqs("HS-1", "HS-10", "PING-1")
@pytest.mark.needs("spawn")
def test_initiator_with_a_correct_responder_sends_records_only_after_message_3(live):
    """[HS-1] [HS-10] with a correct message 2 the dialling peer sends message 3 and only
    then records; the session answers PING."""
    _, s = dialled(live)
    s.send_answer(codec.encode_accept(1))
    s.begin_handshake()
    s.read_handshake_message()
    s.send_handshake_message()
    try:
        s.read_handshake_message()
    except ParleyError as err:
        raise Violation("HS-6", f"the peer's message 3 is invalid: {err}") from None
    except (net.Timeout, net.Closed) as exc:
        raise Violation("HS-1", f"no message 3: {exc}") from None
    s.finish_handshake()
    s.roundtrip("PING-1")

