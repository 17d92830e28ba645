"""Chapter 05 live: the operator operations PEERS, STATS, SHUTDOWN ([ADMIN-1]..[ADMIN-6]).

The harness holds the admin's secret key and gives the peer its public key
({admin_key_file} / {admin_key}). SHUTDOWN from the admin runs on a second instance of
the peer started for that test, so the rest of the run keeps its peer (NOT-RUN in TARGET
mode).
"""

import socket

import pytest

from parley import codec
from parley.harness import net
from parley.harness.outcomes import Violation, check

ADMIN_OPS = {"PEERS": codec.OP_PEERS, "STATS": codec.OP_STATS, "SHUTDOWN": codec.OP_SHUTDOWN}


@pytest.mark.reqs("ADMIN-1", "ERR-2")
@pytest.mark.parametrize("name", list(ADMIN_OPS))
def test_admin_operation_from_a_non_admin_is_unauthorized_and_has_no_effect(live, name):
    """[ADMIN-1] PEERS, STATS, SHUTDOWN from anyone but the admin: NACK UNAUTHORIZED, no
    effect (the peer keeps serving a new session), the connection survives."""
    s = live.open()
    tag = s.request(ADMIN_OPS[name])
    s.expect_nack(tag, "UNAUTHORIZED", "ADMIN-1", req_opcode=ADMIN_OPS[name])
    s.roundtrip("ERR-2")
    live.open("after").roundtrip("ADMIN-1")


@pytest.mark.reqs("ADMIN-2", "MSG-2")
@pytest.mark.needs("admin")
@pytest.mark.parametrize("name", list(ADMIN_OPS))
def test_admin_request_with_a_payload_or_on_tag_0_is_malformed(live, name):
    """[ADMIN-2] from the admin: a payload makes the request MALFORMED; on tag 0 it is
    answered NACK MALFORMED on tag 0. Neither has any effect ([MSG-2]): a SHUTDOWN refused
    so leaves the peer running."""
    s = live.admin()
    opcode = ADMIN_OPS[name]
    tag = s.request(opcode, b"\x00")
    s.expect_nack(tag, "MALFORMED", "ADMIN-2", req_opcode=opcode)
    s.request(opcode, b"", tag=0)
    s.expect_nack(0, "MALFORMED", "ADMIN-2", req_opcode=opcode)
    s.roundtrip("MSG-2")
    live.open("after").roundtrip("MSG-2")


@pytest.mark.reqs("ADMIN-2", "FRAME-9")
def test_admin_request_with_a_payload_from_a_non_admin_is_malformed_first(live):
    """[FRAME-9] [ADMIN-2] is applied before [ADMIN-1]: a PEERS with a payload from a
    non-admin is MALFORMED, not UNAUTHORIZED."""
    s = live.open()
    tag = s.request(codec.OP_PEERS, b"\x01")
    s.expect_nack(tag, "MALFORMED", "FRAME-9", req_opcode=codec.OP_PEERS)


@pytest.mark.reqs("ADMIN-3", "ADMIN-1")
@pytest.mark.needs("admin")
def test_peers_lists_every_authenticated_connection(live):
    """[ADMIN-3] the ACK to PEERS lists every authenticated connection, the admin's own
    included: each of our sessions by its node id, family 4, address 127.0.0.1, the
    listen_port we advertised, reserved flag bits 0."""
    others = {}
    for i in range(3):
        s = live.open(f"other{i}", fields={"listen_port": 40000 + i})
        others[s.identity.public_key] = 40000 + i
    admin = live.admin(fields={"listen_port": 45000})
    tag = admin.request(codec.OP_PEERS)
    body = admin.expect_ack(tag, "ADMIN-1", codec.OP_PEERS)
    entries = {p["node_id"]: p for p in body["peers"]}
    admin.note(f"PEERS lists {len(entries)} connections")
    others[admin.identity.public_key] = 45000
    for node_id, port in others.items():
        entry = entries.get(node_id)
        check(entry is not None, "ADMIN-3", f"connection {node_id.hex()[:16]}... not listed")
        check(entry["family"] == 4 and entry["address"] == bytes([127, 0, 0, 1]), "ADMIN-3",
              f"entry {node_id.hex()[:16]}...: family {entry['family']}, address "
              f"{entry['address'].hex()}")
        check(entry["port"] == port, "ADMIN-3",
              f"entry port {entry['port']}, the remote advertised listen_port {port}")
        check(not entry["flags"] & codec.PEER_FLAG_OUTBOUND, "ADMIN-3",
              "an inbound connection is flagged OUTBOUND")


@pytest.mark.reqs("ADMIN-6", "ADMIN-1")
@pytest.mark.needs("admin")
def test_stats_lists_counters_1_to_10_once_each(live):
    """[ADMIN-6] the ACK to STATS lists counters 1..10, each at most once."""
    s = live.admin()
    tag = s.request(codec.OP_STATS)
    body = s.expect_ack(tag, "ADMIN-1", codec.OP_STATS)
    ids = [c["id"] for c in body["counters"]]
    s.note("counters: " + ", ".join(f"{codec.STATS_COUNTER_NAMES.get(c['id'], c['id'])}="
                                    f"{c['value']}" for c in body["counters"]))
    check(len(ids) == len(set(ids)), "ADMIN-6", f"a counter listed twice: {ids}")
    missing = sorted(set(range(1, 11)) - set(ids))
    check(not missing, "ADMIN-6", f"counters {missing} missing")
    values = {c["id"]: c["value"] for c in body["counters"]}
    check(values[2] >= 1 and values[4] >= 1, "ADMIN-6",
          f"connections open {values[2]}, handshakes completed {values[4]}: our own session "
          "is not counted")


@pytest.mark.reqs("ADMIN-4", "ADMIN-5", "BYE-3", "NACK-2")
@pytest.mark.needs("spawn", "admin")
def test_shutdown_from_the_admin_acks_byes_everyone_and_exits_0(live):
    """[ADMIN-4] on a peer of its own: SHUTDOWN from the admin is ACKed; [ADMIN-5] a
    request sent after that ACK is answered NACK SHUTTING_DOWN; every connection gets BYE
    (reason SHUTDOWN) and [BYE-3] no request after it, and is closed once its BYE is
    answered ([NACK-2] even by a NACK with a code the peer does not know); new connections
    are refused; the process exits with status 0."""
    process = live.spawn(name="shutdown-peer")
    other = live.connect("other", address=process.address)
    other.handshake_as_initiator()
    other.auto_answer = False
    admin = live.connect("admin", address=process.address, identity=live.put.admin)
    admin.handshake_as_initiator()
    admin.auto_answer = False

    tag = admin.request(codec.OP_SHUTDOWN)
    admin.expect_ack(tag, "ADMIN-4", codec.OP_SHUTDOWN)
    late = admin.ping(b"after shutdown")
    admin.expect_nack(late, "SHUTTING_DOWN", "ADMIN-5", req_opcode=codec.OP_PING)

    for s, answer in ((admin, "ack"), (other, "unknown-nack")):
        event = s.expect(lambda e: e["event"] == "request" and e["opcode"] == codec.OP_BYE,
                         "BYE from the peer", "ADMIN-4", timeout=5)
        check(event["body"]["reason"] == codec.BYE_SHUTDOWN, "ADMIN-4",
              f"BYE reason {event['body']['reason']}, not SHUTDOWN (1)")
        if event["tag"]:
            if answer == "ack":
                s.answer(event["tag"], codec.OP_ACK, {"req_opcode": codec.OP_BYE})
            else:
                s.answer(event["tag"], codec.OP_NACK, {"req_opcode": codec.OP_BYE,
                                                       "code": 4242, "text": "unknown code"})
        s.expect_close("BYE-3", timeout=codec.BYE_TIMEOUT + 2,
                       what="close once the BYE is answered")
    try:
        probe = socket.create_connection(process.address, timeout=1)
    except OSError:
        probe = None
    if probe is not None:
        conn = net.Connection(probe)
        conn.send(codec.encode_hello([1]))
        try:
            how, data = conn.wait_closed(2)
        except net.Timeout:
            raise Violation("ADMIN-4", "a new connection is served after SHUTDOWN") from None
        finally:
            conn.close()
        check(not data, "ADMIN-4", f"a connection after SHUTDOWN was answered {data.hex()}")
    code = process.wait_exit(10)
    check(code is not None, "ADMIN-4", "the peer still runs 10 s after SHUTDOWN")
    check(code == 0, "ADMIN-4", f"the peer exited with status {code}, not 0")
