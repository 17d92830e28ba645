"""What a live test gets from its `live` fixture: sessions to the peer under test, with
their exchange recorded in the test's transcript and closed when the test ends."""

from .client import LiveSession
from .listener import Listener
from .oracle import PeerModel
from .outcomes import not_run
from .probes import TimeoutProbes


class Live:
    """The sessions, listeners and extra peers of one test (closed when it ends)."""

    def __init__(self, put, transcript, settings):
        self.put = put
        self.transcript = transcript
        self.settings = settings
        self.sessions = []
        self.listeners = []
        self.processes = []
        self.borrowed = []
        self._count = 0

    # --- the peer ---------------------------------------------------------------------

    @property
    def address(self):
        return self.put.address

    @property
    def info(self):
        """PeerInfo: node_id, remote (its identity payload and limits), majors."""
        return self.put.info

    @property
    def manifest(self):
        return self.settings.manifest

    def _label(self, label):
        self._count += 1
        return label or f"c{self._count}"

    # --- sessions ---------------------------------------------------------------------

    def connect(self, label=None, address=None, **kwargs):
        """A TCP connection to the peer (or to `address`, another instance), nothing sent
        yet."""
        session = LiveSession.connect(address or self.address, self.transcript,
                                      self._label(label), **kwargs)
        self.sessions.append(session)
        return session

    def open(self, label=None, **kwargs):
        """A session with the handshake done (fresh identity unless `identity`)."""
        session = self.connect(label, **kwargs)
        session.handshake_as_initiator()
        return session

    def admin(self, label=None, **kwargs):
        """A session whose identity is the peer's admin key (NOT-RUN when unknown)."""
        if not self.settings.has_admin:
            not_run("the admin's secret key is unknown in TARGET mode (give --admin-secret)")
        return self.open(label or "admin", identity=self.put.admin, **kwargs)

    def model(self, session, admin=False):
        """The PeerModel of a session (the peer's receive side, [FRAME-9])."""
        return PeerModel(session.remote, admin=admin,
                         draft_opcodes=self.manifest.draft_opcodes,
                         claimed_settings=self.manifest.compression_settings)

    # --- initiator side ---------------------------------------------------------------

    def peek_dial(self, timeout=5.0):
        """The long-running peer's latest dial to the harness ({bootstrap}). The session
        stays open for the next test; its exchange is recorded in this test's
        transcript while the test runs."""
        if self.put.bootstrap is None:
            not_run("the peer dials the harness only when the harness starts it ({bootstrap})")
        dial = self.put.bootstrap.peek_dial(timeout)
        for entry in dial.transcript.entries:
            self.transcript.entries.append(dict(entry))
        if dial.session is not None:
            dial.session.transcript = self.transcript
            self.borrowed.append(dial)
        return dial

    def listener(self):
        listener = Listener()
        self.listeners.append(listener)
        return listener

    def spawn(self, bootstrap=None, name="peer2"):
        """Another instance of the peer (PEER mode only), dialling `bootstrap` (a listener
        of the test; without one, a listener that never answers, so that a {bootstrap}
        placeholder always has an address)."""
        if not self.settings.can_spawn:
            not_run("TARGET mode cannot start another peer")
        if bootstrap is None:
            bootstrap = self.listener().spec
        process = self.put.spawn(bootstrap, name)
        self.processes.append(process)
        return process

    def accept_dial(self, listener, label="dial", timeout=5.0, **kwargs):
        """The next connection to `listener`, as a responder-side session."""
        conn = listener.accept(timeout)
        session = LiveSession(conn, self.transcript, label, initiator=False, **kwargs)
        self.sessions.append(session)
        return session

    def timeout_probe(self, kind):
        """The stalled connection of `kind` opened when the peer started (or a fresh one
        after a restart): see probes.py."""
        if self.put.probes is None:
            self.put.probes = TimeoutProbes(self.address, self.put.generation)
        probe = self.put.probes.take(kind, self.address, self.put.generation)
        for entry in probe.transcript.entries:
            self.transcript.entries.append(dict(entry))
        probe.session.transcript = self.transcript
        self.sessions.append(probe.session)
        return probe

    def close_all(self):
        for dial in self.borrowed:
            dial.session.transcript = dial.transcript
        for session in self.sessions:
            session.close()
        for listener in self.listeners:
            listener.close()
        for process in self.processes:
            self.put.release(process)
        self.sessions, self.listeners, self.processes, self.borrowed = [], [], [], []
