"""Probes for HANDSHAKE_TIMEOUT ([PRE-7], [HS-11]) that overlap the rest of the run.

Waiting 10 s for each timeout in turn would take most of the suite's time budget, so the
stalled connections are opened as soon as the peer is up and judged by tests that run
last: by then the time has passed, or little of it is left. A probe opened on a peer that
has been restarted since is void; the test then opens a fresh one and waits it out.
"""

import time

from .. import codec
from . import net
from .client import LiveSession
from .outcomes import Violation
from .transcript import Transcript

HANDSHAKE_TIMEOUT = float(codec.HANDSHAKE_TIMEOUT)
GRACE = 3.0  # seconds allowed after HANDSHAKE_TIMEOUT for the close
EARLY = 1.0  # a close this much before HANDSHAKE_TIMEOUT is not a timeout


class Probe:
    """One stalled connection: `kind` is "silent" (nothing sent), "partial_hello" (four
    bytes of the magic) or "after_message_2" (HELLO, message 1, then nothing)."""

    def __init__(self, address, kind, generation):
        self.kind = kind
        self.generation = generation
        self.transcript = Transcript()
        self.session = LiveSession.connect(address, self.transcript, label=kind)
        self.started = time.monotonic()
        self.error = None
        try:
            if kind == "partial_hello":
                self.session.send_raw(codec.MAGIC[:4], "the first 4 bytes of HELLO")
            elif kind == "after_message_2":
                self.session.send_hello()
                self.session.read_answer()
                self.session.begin_handshake()
                self.session.send_handshake_message()
                self.session.read_handshake_message()
                self.session.note("handshake stalled after message 2")
        except Exception as exc:  # judged later, in the test
            self.error = exc

    def judge(self, req):
        """Wait for the close; Violation(req) unless it comes between HANDSHAKE_TIMEOUT - 1 s
        and HANDSHAKE_TIMEOUT + 3 s after the connection started, with nothing sent
        meanwhile (for the preface probes, [PRE-7])."""
        if self.error is not None:
            raise Violation(req, f"the probe could not stall the handshake: {self.error}")
        limit = HANDSHAKE_TIMEOUT + net.scaled(GRACE)
        left = self.started + limit - time.monotonic()
        try:
            how, received = self.session.conn.wait_closed(max(left, 0.01) / net.TIMEOUT_SCALE[0])
        except net.Timeout as exc:
            raise Violation(req, f"still open {limit:.1f} s after the connection started "
                                 f"(HANDSHAKE_TIMEOUT is {HANDSHAKE_TIMEOUT:.0f} s); "
                                 f"received {getattr(exc, 'received', b'').hex() or 'nothing'}") \
                from None
        elapsed = time.monotonic() - self.started
        self.session.note(f"closed by the peer ({how}) {elapsed:.2f} s after the connection "
                          "started")
        if received and self.kind != "after_message_2":
            raise Violation("PRE-7", f"the peer sent {received.hex()} before a complete HELLO")
        if elapsed < HANDSHAKE_TIMEOUT - EARLY:
            raise Violation("ERR-3", f"closed after {elapsed:.2f} s, before HANDSHAKE_TIMEOUT "
                                     f"({HANDSHAKE_TIMEOUT:.0f} s)")
        return elapsed

    def close(self):
        self.session.close()


class TimeoutProbes:
    """The three probes, opened together."""

    KINDS = ("silent", "partial_hello", "after_message_2")

    def __init__(self, address, generation):
        self.address = address
        self.probes = {kind: Probe(address, kind, generation) for kind in self.KINDS}

    def take(self, kind, address, generation):
        """The probe of `kind`, or a fresh one when the peer was restarted since."""
        probe = self.probes.get(kind)
        if probe is None or probe.generation != generation:
            probe = Probe(address, kind, generation)
        self.probes[kind] = None
        return probe

    def close(self):
        for probe in self.probes.values():
            if probe:
                probe.close()
