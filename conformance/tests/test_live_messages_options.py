"""Chapter 05 live: SET_CONNECTION_OPT and compression ([OPT-1]..[OPT-6]).

Every option/setting pair is asked; what the manifest claims must be ACKed, zlib always
([OPT-2]). Once zlib is acknowledged it must really be used: a PEERS answer made larger
than COMPRESS_THRESHOLD by opening many connections has to come COMPRESSED on the wire
([OPT-5], a SHOULD), and must decompress to a valid peer list ([OPT-4]).
"""

import pytest

from parley import codec
from parley.harness.client import SETTING_BY_NAME
from parley.harness.oracle import check_option_answer
from parley.harness.outcomes import Violation, check, not_run, unimplemented

SETTINGS = sorted(codec.SETTING_NAMES.items())


def set_option(s, option, setting, settings_claimed=()):
    tag = s.request(codec.OP_SET_CONNECTION_OPT, bytes([option, setting]))
    return check_option_answer(s, tag, option, setting, settings_claimed)


def enable(s, setting, req="OPT-1"):
    if not set_option(s, codec.OPT_COMPRESSION, setting):
        raise Violation(req, f"COMPRESSION {codec.SETTING_NAMES[setting]} answered UNSUPPORTED")


@pytest.mark.reqs("OPT-1", "OPT-2")
@pytest.mark.parametrize("option", [codec.OPT_COMPRESSION, codec.OPT_PREFERRED_COMPRESSION],
                         ids=["COMPRESSION", "PREFERRED_COMPRESSION"])
@pytest.mark.parametrize("setting,name", SETTINGS, ids=[n for _, n in SETTINGS])
def test_set_connection_opt_is_acked_or_unsupported(live, option, setting, name):
    """[OPT-1] each option 0..1 with each setting 0..4: an ACK repeating option and
    setting, or NACK UNSUPPORTED; a setting the manifest claims, and zlib for COMPRESSION
    ([OPT-2]), must be ACKed."""
    s = live.open()
    claimed = live.manifest.compression_settings
    acked = set_option(s, option, setting, claimed)
    s.note(f"{codec.OPTION_NAMES[option]} {name}: {'ACK' if acked else 'UNSUPPORTED'}")
    if option == codec.OPT_COMPRESSION and name == "zlib":
        check(acked, "OPT-2", "COMPRESSION zlib is not supported")
    s.roundtrip("ERR-2")


@pytest.mark.reqs("OPT-1")
@pytest.mark.parametrize("option,setting,code", [(2, 3, "UNSUPPORTED"), (255, 0, "UNSUPPORTED"),
                                                 (2, 9, "UNSUPPORTED"), (0, 5, "MALFORMED"),
                                                 (1, 255, "MALFORMED")],
                         ids=["option-2", "option-255", "option-checked-before-setting",
                              "setting-5", "setting-255"])
def test_reserved_option_is_unsupported_and_setting_above_4_malformed(live, option, setting, code):
    """[OPT-1] a reserved option: NACK UNSUPPORTED (checked before the setting); a setting
    above 4: NACK MALFORMED."""
    s = live.open()
    tag = s.request(codec.OP_SET_CONNECTION_OPT, bytes([option, setting]))
    s.expect_nack(tag, code, "OPT-1", req_opcode=codec.OP_SET_CONNECTION_OPT)
    s.roundtrip("ERR-2")


@pytest.mark.reqs("OPT-3", "OPT-4")
def test_compressed_requests_are_accepted_after_the_ack(live):
    """[OPT-3] after the ACK of COMPRESSION zlib the requester may compress: a compressed
    PING, and a compressed PING in two fragments whose total counts compressed bytes
    ([OPT-4]), are ACKed with the original data."""
    s = live.open()
    enable(s, codec.SETTING_ZLIB, "OPT-2")
    tag = s.request(codec.OP_PING, b"compressed ping", compress="zlib")
    body = s.expect_ack(tag, "OPT-3", codec.OP_PING)
    check(body["data"] == b"compressed ping", "OPT-3", f"echo {body['data']!r}")
    packed = codec.compress(b"fragmented and compressed")
    frames = codec.encode_fragments(codec.OP_PING, codec.FLAG_COMPRESSED, 77, packed, chunk=12)
    s.send_frames(frames, pack=False)
    body = s.expect_ack(77, "OPT-4", codec.OP_PING)
    check(body["data"] == b"fragmented and compressed", "OPT-4", f"echo {body['data']!r}")


@pytest.mark.reqs("OPT-3", "FRAME-6")
def test_preferred_compression_changes_nothing_on_the_wire(live):
    """[OPT-3] option 1 records a preference only: after its ACK no compression is in
    force, so a COMPRESSED frame still gets BAD_FLAGS ([FRAME-6])."""
    s = live.open()
    if not set_option(s, codec.OPT_PREFERRED_COMPRESSION, codec.SETTING_ZLIB):
        not_run("the peer does not support PREFERRED_COMPRESSION zlib")
    tag = s.request(codec.OP_PING, b"zip", compress="zlib")
    s.expect_nack(tag, "BAD_FLAGS", "OPT-3", req_opcode=codec.OP_PING)


@pytest.mark.reqs("OPT-6", "ERR-2")
def test_decompression_beyond_max_message_is_nacked_message_too_large(live):
    """[OPT-6] a compressed PING that would inflate beyond the peer's max_message (a zlib
    bomb): NACK MESSAGE_TOO_LARGE; the connection survives."""
    s = live.open()
    enable(s, codec.SETTING_ZLIB, "OPT-2")
    bomb = codec.compress(bytes(live.info.remote.max_message + 1))
    s.note(f"{len(bomb)} compressed bytes inflating to {live.info.remote.max_message + 1}")
    tag = s.request(codec.OP_PING, bomb, flags=codec.FLAG_COMPRESSED)
    s.expect_nack(tag, "MESSAGE_TOO_LARGE", "OPT-6", req_opcode=codec.OP_PING, timeout=10)
    s.roundtrip("ERR-2")


@pytest.mark.reqs("OPT-6", "ERR-2")
@pytest.mark.parametrize("payload", [b"not zlib at all", codec.compress(b"cut")[:-3],
                                     codec.compress(b"a") + b"trailing"],
                         ids=["garbage", "truncated", "trailing-bytes"])
def test_payload_that_does_not_decompress_is_nacked_decompression_failed(live, payload):
    """[OPT-6] a COMPRESSED message that is not one complete zlib stream: NACK
    DECOMPRESSION_FAILED; the connection survives."""
    s = live.open()
    enable(s, codec.SETTING_ZLIB, "OPT-2")
    tag = s.request(codec.OP_PING, payload, flags=codec.FLAG_COMPRESSED)
    s.expect_nack(tag, "DECOMPRESSION_FAILED", "OPT-6", req_opcode=codec.OP_PING)
    s.roundtrip("ERR-2")


def _large_peers_answer(live, setting):
    """Open enough connections that the PEERS answer exceeds COMPRESS_THRESHOLD, put
    `setting` in force on an admin session and ask PEERS: (session, answer body, the
    headers of the answer's frames)."""
    entry = codec.NODE_ID_LEN + 1 + 4 + 2 + 1
    needed = codec.COMPRESS_THRESHOLD // entry + 2
    for i in range(needed):
        live.open(f"filler{i}")
    s = live.admin()
    enable(s, setting, "OPT-2" if setting == codec.SETTING_ZLIB else "OPT-1")
    tag = s.request(codec.OP_PEERS)
    body = s.expect_ack(tag, "ADMIN-1", codec.OP_PEERS)
    headers = [h for h in s.headers_in if h["tag"] == tag]
    check(len(body["peers"]) >= needed + 1, "ADMIN-3",
          f"PEERS lists {len(body['peers'])} connections, at least {needed + 1} are open")
    return s, body, headers


@pytest.mark.reqs("OPT-5", "OPT-3", "OPT-4")
@pytest.mark.needs("admin")
def test_acknowledged_zlib_is_used_for_a_large_answer(live):
    """[OPT-5] (SHOULD) with zlib in force, a PEERS answer of at least COMPRESS_THRESHOLD
    bytes comes with COMPRESSED on every frame; [OPT-4] it decompresses to a valid peer
    list (checked by our receive model)."""
    s, body, headers = _large_peers_answer(live, codec.SETTING_ZLIB)
    flags = [h["flags"] for h in headers]
    s.note(f"PEERS answer: {len(body['peers'])} entries in {len(headers)} frame(s), flags "
           f"{[hex(f) for f in flags]}")
    check(all(f & codec.FLAG_COMPRESSED for f in flags), "OPT-5",
          "a PEERS answer over COMPRESS_THRESHOLD with zlib in force is not compressed")


@pytest.mark.reqs("OPT-1", "OPT-3", "OPT-4")
@pytest.mark.needs("admin")
@pytest.mark.parametrize("name", ["bz2", "gzip", "lzma", "snappy"])
def test_claimed_optional_compression_setting_works_both_ways(live, name):
    """[OPT-1] [OPT-3] [OPT-4] a compression setting the manifest claims: ACKed, a PING
    compressed with it is ACKed, and a large PEERS answer decompresses with it."""
    if not live.manifest.claims(f"compression:{name}"):
        unimplemented(f"compression:{name}")
    if name == "snappy":
        not_run("the harness has no snappy codec")
    setting = SETTING_BY_NAME[name]
    s, _, headers = _large_peers_answer(live, setting)
    s.note(f"PEERS answer frames: {[hex(h['flags']) for h in headers]}")
    tag = s.request(codec.OP_PING, b"optional", compress=name)
    body = s.expect_ack(tag, "OPT-3", codec.OP_PING)
    check(body["data"] == b"optional", "OPT-4", f"echo {body['data']!r}")
