"""The harness listener a peer dials ({bootstrap}), so its initiator side is tested.

Listener is a plain loopback TCP listener: a test that starts its own peer accepts the
dial and plays the responder by hand (answers with REFUSE, a bad signature, ...).

BootstrapService serves the long-running peer: a background thread accepts every dial at
once (the peer's handshake clock runs from its connect), reads the HELLO, answers ACCEPT
and completes the handshake as responder, recording the exchange. Tests then use the
latest dial with peek_dial(); from then on only the tests' thread touches that session.
"""

import socket
import threading

from . import net
from .client import LiveSession
from .outcomes import Violation
from .transcript import Transcript


class Listener:
    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)

    @property
    def address(self):
        return self.sock.getsockname()[:2]

    @property
    def spec(self):
        host, port = self.address
        return f"{host}:{port}"

    def accept(self, timeout=None):
        """The next dial as a net.Connection; raises net.Timeout."""
        self.sock.settimeout(net.scaled(timeout or net.DEFAULT_TIMEOUT))
        try:
            sock, _ = self.sock.accept()
        except socket.timeout:
            raise net.Timeout("no connection from the peer") from None
        return net.Connection(sock, accepted=True)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Dial:
    """One connection the peer made to us: its session (None when the handshake failed),
    the error, and the transcript of the exchange so far."""

    def __init__(self, session, error, transcript):
        self.session = session
        self.error = error
        self.transcript = transcript


class BootstrapService:
    """Accepts the long-running peer's dials in the background (see the module doc)."""

    def __init__(self, identity=None):
        self.listener = Listener()
        self.identity = identity
        self.dials = []
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="bootstrap", daemon=True)
        self.thread.start()

    @property
    def spec(self):
        return self.listener.spec

    def _run(self):
        while not self.stopping:
            try:
                conn = self.listener.accept(timeout=0.2 / net.TIMEOUT_SCALE[0])
            except net.Timeout:
                continue
            except OSError:
                return
            transcript = Transcript()
            session = LiveSession(conn, transcript, label="dial", initiator=False,
                                  identity=self.identity)
            try:
                session.handshake_as_responder()
                dial = Dial(session, None, transcript)
            except (Violation, net.Timeout, net.Closed, Exception) as exc:  # recorded
                session.close()
                dial = Dial(None, exc, transcript)
            with self.cond:
                self.dials.append(dial)
                self.cond.notify_all()

    def peek_dial(self, timeout=None):
        """The most recent dial whose connection is still open (older ones are closed),
        waiting for one until the deadline. It stays here for later tests."""
        deadline = net.Deadline(net.scaled(timeout or net.DEFAULT_TIMEOUT))
        with self.cond:
            while True:
                live = [d for d in self.dials if d.session is None or
                        d.session.conn.closed_how is None]
                if live:
                    break
                left = deadline.left()
                if left <= 0:
                    raise net.Timeout("the peer did not dial the bootstrap address")
                self.cond.wait(left)
            dial = live[-1]
            stale = [d for d in self.dials if d is not dial]
            self.dials = [dial]
        for old in stale:
            if old.session:
                old.session.close()
        return dial

    def stop(self):
        self.stopping = True
        self.listener.close()
        self.thread.join(timeout=2)
        with self.cond:
            for dial in self.dials:
                if dial.session:
                    dial.session.close()
            self.dials = []
