"""A TCP connection on loopback where every wait has a deadline.

No sleep is ever used to synchronise with the peer: a read waits until bytes arrive, the
connection closes or its deadline passes, whichever comes first. A close by the peer is
either a FIN (read returns nothing) or a reset; spec/06-errors.md allows both.
"""

import socket
import time

DEFAULT_TIMEOUT = 2.0  # seconds; scaled by --timeout-scale
TIMEOUT_SCALE = [1.0]  # set once from the command line
TAP = [None]  # capture.Recorder while the harness records its traffic (--pcap)


def scaled(seconds):
    return seconds * TIMEOUT_SCALE[0]


class Timeout(Exception):
    """A deadline passed before the bytes or the close that was awaited."""


class Closed(Exception):
    """The peer closed the connection (`how`: "FIN" or "RST") before what was awaited."""

    def __init__(self, how, received=b""):
        super().__init__(f"connection closed by the peer ({how})")
        self.how = how
        self.received = received


class Deadline:
    """A point in time on the monotonic clock."""

    def __init__(self, seconds):
        self.at = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.at - time.monotonic())

    def passed(self):
        return time.monotonic() >= self.at


class Connection:
    """One TCP connection: what was received and not consumed yet is in `buffer`."""

    def __init__(self, sock, accepted=False):
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.closed_how = None  # "FIN" or "RST" once the peer closed
        self.local_closed = False
        # --pcap: what this socket carries, for the test's capture (capture.py).
        self.tap = TAP[0].attach(sock, dialled=not accepted) if TAP[0] is not None else None

    @classmethod
    def connect(cls, address, timeout=None):
        sock = socket.create_connection(address, timeout=scaled(timeout or DEFAULT_TIMEOUT))
        return cls(sock)

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    # --- sending --------------------------------------------------------------------

    def send(self, data):
        """Send all of `data`. Raises Closed when the peer reset the connection."""
        data = bytes(data)
        try:
            self.sock.settimeout(scaled(DEFAULT_TIMEOUT) * 5)
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            self.closed_how = self.closed_how or "RST"
            if self.tap:
                self.tap.remote_end(self.closed_how)
            raise Closed(self.closed_how) from exc
        if self.tap:
            self.tap.sent(data)

    def shutdown_write(self):
        """Send our FIN; the peer sees the end of the stream."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if self.tap:
            self.tap.local_end("FIN")

    def close(self):
        self.local_closed = True
        if self.tap:
            self.tap.local_end("FIN")
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Close with a reset (SO_LINGER 0) instead of a FIN."""
        if self.tap:
            self.tap.local_end("RST")
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        self.close()

    # --- receiving ------------------------------------------------------------------

    def fill(self, deadline):
        """Read what is available into the buffer, waiting at most until `deadline`.
        Returns the number of bytes read; raises Timeout or Closed."""
        if self.closed_how:
            raise Closed(self.closed_how)
        left = deadline.left()
        if left <= 0:
            raise Timeout("deadline passed")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout("deadline passed") from None
        except ConnectionResetError:
            self.closed_how = "RST"
            if self.tap:
                self.tap.remote_end("RST")
            raise Closed("RST") from None
        except OSError as exc:
            self.closed_how = "RST"
            if self.tap:
                self.tap.remote_end("RST")
            raise Closed(f"RST ({exc})") from None
        if not data:
            self.closed_how = "FIN"
            if self.tap:
                self.tap.remote_end("FIN")
            raise Closed("FIN")
        if self.tap:
            self.tap.received(data)
        self.buffer += data
        return len(data)

    def recv_exact(self, n, timeout=None):
        """Exactly n bytes, or Timeout / Closed (with the bytes received so far)."""
        deadline = Deadline(scaled(timeout or DEFAULT_TIMEOUT))
        while len(self.buffer) < n:
            try:
                self.fill(deadline)
            except Closed as exc:
                raise Closed(exc.how, bytes(self.buffer)) from None
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def recv_some(self, timeout=None):
        """Whatever is buffered, or the next bytes to arrive (Timeout / Closed)."""
        if not self.buffer:
            self.fill(Deadline(scaled(timeout or DEFAULT_TIMEOUT)))
        out = bytes(self.buffer)
        self.buffer.clear()
        return out

    def wait_closed(self, timeout=None):
        """Wait for the peer to close; returns (how, bytes received meanwhile).
        Raises Timeout (with the bytes in `.received`) when it stays open."""
        deadline = Deadline(scaled(timeout or DEFAULT_TIMEOUT))
        while True:
            try:
                self.fill(deadline)
            except Closed as exc:
                received = bytes(self.buffer)
                self.buffer.clear()
                return exc.how, received
            except Timeout:
                err = Timeout("connection still open")
                err.received = bytes(self.buffer)
                raise err from None
