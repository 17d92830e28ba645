"""Chapter 04 live: tags and pipelining (§4.2), [TAG-1]..[TAG-7], [LIMIT-1]..[LIMIT-3].

A request stays outstanding at the peer from its first frame until it is answered, so
the way to hold many tags outstanding at once is fragmented requests whose last fragment
has not been sent: the peer cannot answer them yet, whatever its speed.
"""

import struct

import pytest

from parley import codec
from parley.harness.outcomes import check


def first_fragment(tag, total=3, data=b"a"):
    """The first fragment of a PING whose `total` data bytes are not all sent."""
    return codec.encode_frame(codec.OP_PING, codec.FLAG_MORE, tag, struct.pack(">I", total) + data)


def last_fragment(tag, data=b"bc"):
    return codec.encode_frame(codec.OP_PING, 0, tag, data)


@pytest.mark.reqs("TAG-4", "TAG-2", "LIMIT-1")
def test_max_tags_pipelined_requests_are_each_answered_exactly_once(live):
    """[TAG-4] as many PINGs as the peer's advertised max_tags, sent at once: [TAG-2] each
    tag answered exactly once, in any order, echoing its own data; [LIMIT-1] at least 256
    outstanding tags are accepted."""
    s = live.open()
    count = live.info.remote.max_tags
    frames = [codec.encode_frame(codec.OP_PING, 0, tag, struct.pack(">H", tag))
              for tag in range(1, count + 1)]
    s.send_frames(frames)
    order = []
    for _ in range(count):
        event = s.expect(lambda e: e["event"] == "response", "the next answer", "TAG-4")
        check(event["opcode"] == codec.OP_ACK, "TAG-4", f"a NACK among pipelined PINGs: "
                                                        f"{event}")
        check(event["body"]["data"] == struct.pack(">H", event["tag"]), "PING-1",
              f"tag {event['tag']} echoes another request's data")
        order.append(event["tag"])
    check(sorted(order) == list(range(1, count + 1)), "TAG-2",
          "answers missing or repeated")
    s.note(f"{count} answers; in request order: {order == sorted(order)}")
    s.sync("TAG-2")


@pytest.mark.reqs("TAG-5", "TAG-1")
def test_tag_is_free_again_once_its_request_is_answered(live):
    """[TAG-5] [TAG-1] a tag reused after its answer arrived starts a new request."""
    s = live.open()
    for round_ in range(3):
        s.ping(bytes([round_]), tag=7)
        body = s.expect_ack(7, "TAG-5", codec.OP_PING)
        check(body["data"] == bytes([round_]), "PING-1", f"round {round_}: {body}")


@pytest.mark.reqs("TAG-5", "TAG-2")
def test_second_request_on_an_unanswered_tag_is_nacked_tag_in_use_or_served_after(live):
    """[TAG-5] two PINGs on tag 8 in one record. A peer that answered the first before
    reading the second serves both; one that had not answers the second NACK TAG_IN_USE
    and still answers the first ([TAG-2]): either way tag 8 gets exactly two answers and
    the first PING its ACK. (A request is outstanding only until it is answered, and a
    PING is answered at once, so a live peer need not ever be in the TAG_IN_USE case;
    the session vectors exercise it in both codecs.)"""
    s = live.open()
    s.manual_tags = True
    s.await_answer(8, 2)
    s.await_answer(9)
    s.send_record(codec.encode_frame(codec.OP_PING, 0, 8, b"one")
                  + codec.encode_frame(codec.OP_PING, 0, 8, b"two")
                  + codec.encode_frame(codec.OP_PING, 0, 9, b"three"))
    answers = [s.expect_response(8, "TAG-2") for _ in range(2)]
    s.expect_ack(9, "TAG-4", codec.OP_PING)
    acks = sorted(a["body"]["data"] for a in answers if a["opcode"] == codec.OP_ACK)
    nacks = [a["body"] for a in answers if a["opcode"] == codec.OP_NACK]
    if nacks:
        check(acks == [b"one"], "TAG-5", f"with a TAG_IN_USE the first PING must be ACKed: "
                                         f"ACKs {acks}")
        check(nacks[0]["code"] == 10, "TAG-5", f"the second PING got NACK {nacks[0]}, "
                                               "not TAG_IN_USE")
        s.note("the peer had not answered the first PING: TAG_IN_USE")
    else:
        check(acks == [b"one", b"two"], "TAG-2", f"ACKs {acks}")
        s.note("the peer answered the first PING before reading the second")
    s.sync("TAG-2")


@pytest.mark.reqs("TAG-7", "LIMIT-3", "LIMIT-1")
def test_request_beyond_max_tags_is_nacked_too_many_tags_and_the_others_served(live):
    """[TAG-7] with max_tags requests outstanding (unfinished fragmented PINGs), the next
    request gets NACK TOO_MANY_TAGS; [LIMIT-3] the connection survives and the
    outstanding requests are served when finished."""
    s = live.open()
    s.manual_tags = True
    count = live.info.remote.max_tags
    for tag in range(1, count + 1):
        s.await_answer(tag)
    s.send_frames([first_fragment(tag) for tag in range(1, count + 1)])
    extra = count + 1
    s.await_answer(extra)
    s.send_frames([codec.encode_frame(codec.OP_PING, 0, extra, b"one too many")])
    s.expect_nack(extra, "TOO_MANY_TAGS", "TAG-7", req_opcode=codec.OP_PING)
    s.send_frames([last_fragment(tag) for tag in range(1, count + 1)])
    for tag in range(1, count + 1):
        body = s.expect_ack(tag, "LIMIT-3", codec.OP_PING)
        check(body["data"] == b"abc", "PING-1", f"tag {tag} echoes {body['data']!r}")
    s.sync("LIMIT-3")


@pytest.mark.reqs("TAG-3")
def test_request_on_tag_0_is_never_answered(live):
    """[TAG-3] PING and SET_CONNECTION_OPT on tag 0 want no answer: nothing comes back."""
    s = live.open()
    s.send_frames([codec.encode_frame(codec.OP_PING, 0, 0, b"silent"),
                   codec.encode_frame(codec.OP_SET_CONNECTION_OPT, 0, 0, bytes([1, 3]))])
    events = s.sync("TAG-3")
    check(not [e for e in events if e["event"] == "response"], "TAG-3",
          f"a tag-0 request was answered: {events}")


@pytest.mark.reqs("TAG-3")
@pytest.mark.parametrize("case", ["ping-too-long", "more-on-tag-0"])
def test_error_in_a_tag_0_request_is_nacked_on_tag_0(live, case):
    """[TAG-3] errors in a tag-0 request are still reported, by a NACK on tag 0 (PING data
    over 64 bytes: MALFORMED; MORE on tag 0: BAD_FRAGMENT)."""
    s = live.open()
    if case == "ping-too-long":
        frame, code = codec.encode_frame(codec.OP_PING, 0, 0, bytes(65)), "MALFORMED"
    else:
        frame, code = codec.encode_frame(codec.OP_PING, codec.FLAG_MORE, 0,
                                         struct.pack(">I", 4) + b"ab"), "BAD_FRAGMENT"
    s.send_frames([frame])
    s.expect_nack(0, code, "TAG-3", req_opcode=codec.OP_PING)
    s.sync("ERR-2")


@pytest.mark.reqs("TAG-6", "TAG-3")
@pytest.mark.parametrize("frame", [
    "0101000000000007" "02000100026f6b",  # NACK on tag 0
    "000100630000000102",  # ACK to PING on tag 99, never requested
    "0101006400000007" "02000100026f6b",  # NACK on tag 100, never requested
    "00010065000000020000",  # invalid ACK (req_opcode ACK)
    "01010066000000050200000000",  # invalid NACK (code 0)
], ids=["nack-tag-0", "ack-unknown-tag", "nack-unknown-tag", "invalid-ack", "invalid-nack"])
def test_response_is_never_answered_and_an_unknown_tag_is_ignored(live, frame):
    """[TAG-6] a response is never answered; one on a tag with no request of the peer
    outstanding, or an invalid one, is ignored; the connection survives."""
    s = live.open()
    s.send_frames([bytes.fromhex(frame)])
    events = s.sync("TAG-6")
    answers = [e for e in events if e["event"] == "response"]
    check(not answers, "TAG-6", f"a response was answered: {answers}")


@pytest.mark.reqs("LIMIT-2", "TAG-1")
def test_peer_respects_the_floor_limits_we_advertise(live):
    """[LIMIT-2] we advertise the floors (256 tags, 1 MiB messages); everything the peer
    sends stays within them (checked by our receive model on every frame), while 256
    PINGs are answered."""
    from parley.harness.client import FLOOR_LIMITS
    s = live.connect(fields=FLOOR_LIMITS)
    s.handshake_as_initiator()
    s.send_frames([codec.encode_frame(codec.OP_PING, 0, tag, b"f") for tag in range(1, 257)])
    for tag in range(1, 257):
        s.expect_ack(tag, "LIMIT-2", codec.OP_PING)
    s.sync("LIMIT-2")

