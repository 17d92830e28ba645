"""Live tests added by the mutation self-test (conformance/selftest/): each closes a gap
where a reference peer broken on purpose failed the suite under another requirement than
the one it breaks, or did not fail it at all.

- [FRAME-8] / [TAG-2]: an answer sent without RESPONSE. The sender check of every
  session reads it as a *request* with opcode ACK or NACK and names the receiver's rule
  [FRAME-5]; here the rule the peer broke as a sender is named.
- [TAG-2] / [ACK-1] / [PING-1] on the simplest exchange. Every other test ends with a
  health check that is itself a PING on a fresh session; a peer that answers it wrongly
  is reported "hangs" under [CONV-4] after every test, which replaces the test's own
  verdict. The first test here runs without that check.
- [ADMIN-1] for SHUTDOWN, on a peer of its own: when the long-running peer obeys a
  non-admin's SHUTDOWN, its exit is charged as a crash ([CONV-4]) and replaces the
  [ADMIN-1] verdict.
- [REC-6]: a record that does not open under the next nonce is reported [REC-1]; here a
  record that opens under a nonce already used is reported as the nonce reuse it is.
- [OPT-1]: a setting the manifest does not claim may be answered ACK or UNSUPPORTED, and
  an ACK was taken on trust; here a setting the peer ACKs has to work.

Chapter `selftest` (`conformance/run.py --chapter selftest`).
"""

import struct

import pytest

from parley import codec, record
from parley.errors import NACK_NAMES, ParleyError
from parley.harness import net
from parley.harness.client import SETTING_BY_NAME
from parley.harness.live import Live
from parley.harness.oracle import check_option_answer
from parley.harness.outcomes import Violation, check, not_run


@pytest.mark.reqs("TAG-2", "ACK-1", "PING-1")
def test_pings_of_a_fresh_session_are_each_answered_on_their_tag(request, put):
    """[TAG-2] [ACK-1] [PING-1] three PINGs (0, 5 and 64 bytes) one by one on a fresh
    session: each gets one ACK on its tag, with req_opcode PING and its data echoed. It
    sends nothing but valid PINGs, so it runs without the after-test health check (itself
    a PING), which would report a wrong answer as a hang ([CONV-4]) instead of the rule."""
    if put.down:
        not_run(put.down)
    state = request.node.parley_state
    # The transcript and the peer's log go in the report; `uses_peer` stays unset, so the
    # report plugin runs no health check after this test.
    state.update(put=put, log_mark=put.log.mark())
    live = Live(put, state["transcript"], request.config.parley_settings)
    try:
        s = live.open()
        for data in (b"", b"first", bytes(range(64))):
            tag = s.ping(data)
            body = s.expect_ack(tag, "TAG-2", codec.OP_PING)
            check(body["data"] == data, "PING-1",
                  f"ACK on tag {tag} echoes {body['data'].hex()}, not {data.hex()}")
        s.sync("TAG-2")
    finally:
        live.close_all()


@pytest.mark.reqs("FRAME-8", "TAG-2")
def test_answers_carry_the_response_flag(live):
    """[FRAME-8] a NACK (to a PING of 65 bytes) and [TAG-2] an ACK (to a PING) come with
    RESPONSE set. An ACK or NACK frame without it is named as the sender's fault, not as
    the receiver's rule [FRAME-5] the sender check would cite."""
    s = live.open()
    try:
        tag = s.ping(bytes(65))
        s.expect_nack(tag, "MALFORMED", "PING-2", req_opcode=codec.OP_PING)
        s.roundtrip("TAG-2", data=b"answer me")
    except Violation as exc:
        bare = [h for h in s.headers_in
                if h["opcode"] in (codec.OP_ACK, codec.OP_NACK)
                and not h["flags"] & codec.FLAG_RESPONSE]
        if not bare:
            raise
        h = bare[0]
        name = codec.OPCODE_NAMES[h["opcode"]]
        raise Violation("FRAME-8" if h["opcode"] == codec.OP_NACK else "TAG-2",
                        f"the peer answered tag {h['tag']} with a {name} frame whose RESPONSE "
                        f"flag is clear (flags {h['flags']:#04x}); the sender check reported "
                        f"it as [{exc.req}]") from None
    for h in s.headers_in:
        if h["opcode"] in (codec.OP_ACK, codec.OP_NACK):
            check(h["flags"] & codec.FLAG_RESPONSE, "FRAME-8", f"answer header {h}")


@pytest.mark.reqs("ADMIN-1", "ERR-2")
@pytest.mark.needs("spawn")
def test_shutdown_from_a_non_admin_leaves_a_peer_of_its_own_running(live):
    """[ADMIN-1] on a second instance of the peer: SHUTDOWN from a non-admin key is
    answered NACK UNAUTHORIZED and has no effect (the session goes on, a new session is
    served, the process runs), so the long-running peer is never put at risk and a peer
    that obeys it is reported under [ADMIN-1], not as a crash."""
    process = live.spawn(name="shutdown-by-anyone")
    s = live.connect("other", address=process.address)
    s.handshake_as_initiator()
    tag = s.request(codec.OP_SHUTDOWN)
    s.expect_nack(tag, "UNAUTHORIZED", "ADMIN-1", req_opcode=codec.OP_SHUTDOWN)
    s.roundtrip("ERR-2")
    after = live.connect("after", address=process.address)
    after.handshake_as_initiator()
    after.roundtrip("ADMIN-1")
    check(process.running(), "ADMIN-1", "the peer exited after a non-admin's SHUTDOWN")


def _records(stream):
    """The whole records (length field included) at the front of `stream`."""
    out, pos = [], 0
    while len(stream) - pos >= record.LENGTH_LEN:
        (length,) = struct.unpack_from(">H", stream, pos)
        end = pos + record.LENGTH_LEN + length
        if end > len(stream):
            break
        out.append(bytes(stream[pos:end]))
        pos = end
    return out


def _nonce_of(key, sealed, highest):
    """The nonce in 0..highest under which `sealed` opens with `key`, or None."""
    for nonce in range(highest + 1):
        try:
            record.open_with_key(key, nonce, sealed)
            return nonce
        except ParleyError:
            continue
    return None


@pytest.mark.reqs("REC-6", "REC-1")
def test_no_two_records_from_the_peer_share_a_nonce(live):
    """[REC-6] 16 PINGs one by one, each sent once the peer's records for the one before
    have arrived; the peer's byte stream is read here, raw, and each record opened by
    trying every nonce up to the number of records received: no nonce may open two
    records. (The sender check of every test reports a record that does not open under
    the next nonce as [REC-1]; this one names a reused nonce for what it is.)"""
    s = live.open()
    key = s.hs.result().c2.k  # responder to initiator: what the peer seals with
    first_nonce = s.channel.reader.cipher.n
    stream = bytearray(s.channel.reader.pending)
    used = {}
    for i in range(16):
        s.send_frames([codec.encode_frame(codec.OP_PING, 0, i + 1, bytes([i]))])
        deadline = net.Deadline(net.scaled(net.DEFAULT_TIMEOUT))
        while len(_records(stream)) <= len(used):
            try:
                stream += s.conn.recv_some(deadline.left() or 0.001)
            except net.Timeout:
                raise Violation("REC-1", f"no record answers PING {i + 1} within "
                                         f"{net.scaled(net.DEFAULT_TIMEOUT):.1f} s") from None
            except net.Closed as exc:
                raise Violation("REC-1", f"the connection closed ({exc.how}) before PING "
                                         f"{i + 1} was answered") from None
        for index, sealed in enumerate(_records(stream)[len(used):], start=len(used)):
            s.transcript.add(s.label, "recv", "record", sealed, f"record {index}")
            nonce = _nonce_of(key, sealed, first_nonce + index + 1)
            if nonce is None:
                raise Violation("REC-1", f"record {index} from the peer opens under no nonce "
                                         f"in 0..{first_nonce + index + 1}")
            if nonce in used.values():
                earlier = next(k for k, v in used.items() if v == nonce)
                raise Violation("REC-6", f"record {index} from the peer opens under nonce "
                                         f"{nonce}, already used by record {earlier}: a nonce "
                                         "reused under the same key")
            check(nonce == first_nonce + index, "REC-1",
                  f"record {index} opens under nonce {nonce}, not {first_nonce + index}")
            used[index] = nonce
    s.note(f"{len(used)} records under nonces {min(used.values())}..{max(used.values())}")


@pytest.mark.reqs("OPT-1", "OPT-3")
@pytest.mark.parametrize("name", ["bz2", "gzip", "lzma"])
def test_a_compression_setting_the_peer_acks_really_works(live, name):
    """[OPT-1] an ACK says the setting is supported: when the peer ACKs COMPRESSION with
    `name` (claimed by the manifest or not), a PING compressed with it ([OPT-3]: in force
    after the ACK) is ACKed with its data; a peer that answers UNSUPPORTED passes."""
    s = live.open()
    setting = SETTING_BY_NAME[name]
    tag = s.request(codec.OP_SET_CONNECTION_OPT, bytes([codec.OPT_COMPRESSION, setting]))
    if not check_option_answer(s, tag, codec.OPT_COMPRESSION, setting,
                               live.manifest.compression_settings):
        s.note(f"COMPRESSION {name}: UNSUPPORTED")
        return
    data = b"compressed with " + name.encode()
    tag = s.request(codec.OP_PING, data, compress=name)
    event = s.expect_response(tag, "OPT-1")
    if event["opcode"] != codec.OP_ACK:
        code = NACK_NAMES.get(event["body"]["code"], event["body"]["code"])
        raise Violation("OPT-1", f"COMPRESSION {name} was ACKed, but a PING compressed with "
                                 f"{name} is answered NACK {code} "
                                 f"({event['body'].get('text', '')!r})")
    check(event["body"].get("data") == data, "OPT-1",
          f"COMPRESSION {name}: the PING's echo is {event['body'].get('data')!r}")
