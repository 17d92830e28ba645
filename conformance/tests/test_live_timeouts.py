"""Timeouts live: HANDSHAKE_TIMEOUT ([PRE-7], [HS-11]) and IDLE_TIMEOUT ([LIMIT-5]).

The three stalled connections were opened when the peer started (parley/harness/
probes.py) and these tests run last, so the 10 s of HANDSHAKE_TIMEOUT overlap the rest of
the run. `--quick` skips them (NOT-RUN). The 120 s IDLE_TIMEOUT test runs only with
`--slow`.
"""

import pytest

from parley import codec
from parley.harness.outcomes import check


@pytest.mark.handshake_timeout
@pytest.mark.reqs("PRE-7")
def test_silent_connection_is_closed_at_handshake_timeout(live):
    """[PRE-7] a connection that never sends its HELLO is closed (TIMEOUT) about
    HANDSHAKE_TIMEOUT after it started, and is sent nothing."""
    probe = live.timeout_probe("silent")
    elapsed = probe.judge("PRE-7")
    probe.session.note(f"closed after {elapsed:.2f} s")


@pytest.mark.handshake_timeout
@pytest.mark.reqs("PRE-7")
def test_partial_hello_gets_nothing_and_is_closed_at_handshake_timeout(live):
    """[PRE-7] four bytes of a HELLO: the responder sends nothing and closes (TIMEOUT)
    about HANDSHAKE_TIMEOUT after the connection started."""
    probe = live.timeout_probe("partial_hello")
    elapsed = probe.judge("PRE-7")
    probe.session.note(f"closed after {elapsed:.2f} s")


@pytest.mark.handshake_timeout
@pytest.mark.reqs("HS-11")
def test_stalled_handshake_is_closed_at_handshake_timeout(live):
    """[HS-11] HELLO and message 1 sent, message 2 received, message 3 never sent: the
    peer closes (TIMEOUT) about HANDSHAKE_TIMEOUT after the connection started."""
    probe = live.timeout_probe("after_message_2")
    elapsed = probe.judge("HS-11")
    probe.session.note(f"closed after {elapsed:.2f} s")


@pytest.mark.idle_timeout
@pytest.mark.reqs("LIMIT-5")
def test_idle_connection_gets_bye_idle_then_is_closed(live):
    """[LIMIT-5] (SHOULD) nothing received for IDLE_TIMEOUT (120 s): the peer sends BYE
    with reason IDLE and closes the connection."""
    s = live.open()
    event = s.expect(lambda e: e["event"] == "request" and e["opcode"] == codec.OP_BYE,
                     "BYE after IDLE_TIMEOUT", "LIMIT-5", timeout=codec.IDLE_TIMEOUT + 10)
    check(event["body"]["reason"] == codec.BYE_IDLE, "LIMIT-5",
          f"BYE reason {event['body']['reason']}, not IDLE (2)")
    s.expect_close("LIMIT-5", timeout=codec.BYE_TIMEOUT + 5)
