"""pclient.py - a small blocking Parley client on the harness's own implementation
(conformance/parley: codec, handshake, record), for the robustness runs and the RSS check:
connect, preface, Noise XX handshake, then records of whole frames, each wait bounded.

    c = Client.connect("127.0.0.1:7400", identity, timeout=5)
    c.send_frames([codec.encode_frame(codec.OP_PING, 0, 1, b"hi")])
    frames = c.recv_frames(timeout=2)        # [{"opcode", "flags", "tag", "length", "payload"}]
    counters = c.stats()                     # admin only: {id: value}

Runs under /usr/bin/python3.
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "conformance"))

from parley import codec, record  # noqa: E402
from parley.errors import ParleyError  # noqa: E402
from parley.handshake import Handshake, Identity  # noqa: E402


class Closed(Exception):
    """The peer closed the connection (or it failed)."""


def split_target(target):
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


def _recv_exact(sock, n, deadline):
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"waited for {n} bytes, got {len(buf)}")
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise Closed(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_answer(sock, deadline):
    """The responder's ACCEPT (8 bytes) or REFUSE (8 + count bytes)."""
    head = _recv_exact(sock, len(codec.MAGIC) + 2, deadline)
    if head[len(codec.MAGIC)] == codec.KIND_REFUSE:
        head += _recv_exact(sock, head[-1], deadline)
    return head


class Client:
    def __init__(self, sock, channel, result, leftover=b""):
        self.sock = sock
        self.channel = channel
        self.result = result
        self.next_tag = 1
        self.pending_frames = []
        if leftover:
            self._take(leftover)

    @classmethod
    def connect(cls, target, identity=None, timeout=5.0, write_delay=0.0):
        """Connects and runs the preface and handshake. write_delay > 0 sends every byte
        of the client's side in its own write, that many seconds apart (a slow writer)."""
        identity = identity or Identity.generate()
        deadline = time.monotonic() + timeout
        sock = socket.create_connection(split_target(target), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def send(data):
                if write_delay <= 0:
                    sock.sendall(data)
                    return
                for i in range(len(data)):
                    sock.sendall(data[i:i + 1])
                    time.sleep(write_delay)

            hello = codec.encode_hello([codec.PROTOCOL_MAJOR])
            send(hello)
            answer = read_answer(sock, deadline)
            codec.decode_answer(answer, offered=[codec.PROTOCOL_MAJOR])
            hs = Handshake(True, identity, hello + answer)
            send(hs.start())
            for _ in range(64):
                if hs.complete:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("handshake not complete")
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    raise Closed("closed during the handshake")
                out = hs.feed(data)
                if out:
                    send(out)
            if not hs.complete:
                raise TimeoutError("handshake not complete")
            result = hs.result()
            return cls(sock, record.RecordChannel.from_handshake(result), result, hs.leftover)
        except BaseException:
            sock.close()
            raise

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def tag(self):
        t = self.next_tag
        self.next_tag = self.next_tag % 65535 + 1
        return t

    # --- sending ---

    def send_plaintext(self, plaintext):
        """One record holding `plaintext` (whatever it is: whole frames or not)."""
        self.sock.sendall(self.channel.seal(plaintext))

    def send_frames(self, frames):
        self.send_plaintext(b"".join(frames))

    def send_raw(self, data):
        self.sock.sendall(data)

    # --- receiving ---

    def _take(self, data):
        for pt in self.channel.feed(data):
            self.pending_frames.extend(codec.split_record_plaintext(pt))

    def recv_frames(self, timeout=2.0, want=1):
        """Frames received until at least `want` are there or `timeout` passes. Raises
        Closed when the peer closes first (with the frames so far in .frames)."""
        deadline = time.monotonic() + timeout
        while len(self.pending_frames) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError as e:
                raise Closed(str(e)) from e
            if not data:
                err = Closed("closed by the peer")
                err.frames = self.pending_frames
                self.pending_frames = []
                raise err
            self._take(data)
        frames, self.pending_frames = self.pending_frames, []
        return frames

    def request(self, opcode, payload=b"", timeout=5.0):
        """Sends one request on a fresh tag and returns the response frame on that tag."""
        tag = self.tag()
        self.send_frames([codec.encode_frame(opcode, 0, tag, payload)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for f in self.recv_frames(timeout=max(0.0, deadline - time.monotonic())):
                if f["tag"] == tag and f["flags"] & codec.FLAG_RESPONSE:
                    return f
        raise TimeoutError(f"no response to opcode {opcode} on tag {tag}")

    def ping(self, data=b"ping", timeout=5.0):
        f = self.request(codec.OP_PING, data, timeout)
        return f["opcode"] == codec.OP_ACK and f["payload"] == bytes([codec.OP_PING]) + data

    def stats(self, timeout=5.0):
        """STATS (admin): {counter id: value}. Raises ParleyError on a NACK."""
        f = self.request(codec.OP_STATS, b"", timeout)
        if f["opcode"] != codec.OP_ACK:
            nack = codec.decode_nack(f["payload"])
            raise ParleyError("UNAUTHORIZED" if nack["code"] == 14 else "MALFORMED",
                              f"STATS answered NACK {nack}")
        body = codec.decode_ack(f["payload"])
        return {c["id"]: c["value"] for c in body["counters"]}


def nack_code(frame):
    """The code of a NACK frame, or None."""
    if frame["opcode"] != codec.OP_NACK:
        return None
    return struct.unpack_from("!H", frame["payload"], 1)[0]
