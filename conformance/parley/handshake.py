"""Handshake and identity, spec/02-handshake.md.

After the preface the two sides run Noise XX ([HS-1]) with the HELLO and ACCEPT bytes as
prologue ([HS-2]). Each handshake message travels framed (§2.1):

    0        2
    +--------+-----------------------------+
    | length | Noise handshake message     |
    +--------+-----------------------------+

Messages 2 and 3 carry the identity payload (§2.2), encrypted by Noise:

    0                 32                                96      98
    +-----------------+---------------------------------+-------+
    | identity_key    | signature                       | minor |
    | bytes[32]       | bytes[64]                       | u16   |
    +-----------------+---------------------------------+-------+
    98             102        104           108                 112           114
    +--------------+----------+-------------+-------------------+-------------+------------+
    | capabilities | max_tags | max_message | reassembly_budget | listen_port | extensions |
    | u32          | u16      | u32         | u32               | u16         | TLV ...    |
    +--------------+----------+-------------+-------------------+-------------+------------+

    extension TLV: type u16, length u16, value bytes[length]

The signature is Ed25519 by identity_key over IDENTITY_CONTEXT || the sender's Noise
static public key ([HS-6]), verified under the strict rules of §2.4 (ed25519.py).

Nothing here does I/O: Handshake takes the bytes received and returns the bytes to send.
Every failure raises ParleyError with the close reason the spec names.
"""

import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import ed25519, noise
from .errors import ParleyError

IDENTITY_CONTEXT = b"parley-noise-static-key:"
IDENTITY_FIXED_LEN = 114
TLV_HEADER_LEN = 4

MIN_MAX_TAGS = 256
MIN_MAX_MESSAGE = 1048576
DEFAULT_MAX_TAGS = 1024
DEFAULT_MAX_MESSAGE = 16777216
DEFAULT_REASSEMBLY_BUDGET = 33554432
PROTOCOL_MINOR = 0

LENGTH_LEN = 2  # the u16 length before each handshake message
U16_MAX = 65535

# §2.1: the Noise message lengths. Message 2 is e (32), encrypted s (48), the encrypted
# payload (payload + 16); message 3 is encrypted s (48) and the encrypted payload.
MSG1_LEN = noise.DHLEN
MSG2_OVERHEAD = noise.DHLEN + noise.DHLEN + noise.TAGLEN + noise.TAGLEN
MSG3_OVERHEAD = noise.DHLEN + noise.TAGLEN + noise.TAGLEN
MSG2_MIN = MSG2_OVERHEAD + IDENTITY_FIXED_LEN  # 210
MSG3_MIN = MSG3_OVERHEAD + IDENTITY_FIXED_LEN  # 178

_FIXED = struct.Struct(">32s64sHIHIIH")
assert _FIXED.size == IDENTITY_FIXED_LEN


HANDSHAKE_TIMEOUT_S = 10.0  # spec/07-constants.md HANDSHAKE_TIMEOUT

class Identity:
    """A node's Ed25519 identity, from its 32-byte seed. `public_key` is its node id."""

    def __init__(self, seed):
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self.seed = bytes(seed)
        self._key = Ed25519PrivateKey.from_private_bytes(self.seed)
        self.public_key = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls):
        raw = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return cls(raw)

    def sign(self, message):
        return self._key.sign(bytes(message))

    def sign_static_key(self, static_public):
        """The identity payload signature binding this identity to a Noise static key."""
        return self.sign(IDENTITY_CONTEXT + bytes(static_public))


class IdentityPayload:
    """The identity payload of §2.2. `extensions` is a list of (type, value) pairs."""

    FIELDS = (
        "identity_key", "signature", "minor", "capabilities", "max_tags",
        "max_message", "reassembly_budget", "listen_port", "extensions",
    )

    def __init__(self, identity_key, signature, minor=PROTOCOL_MINOR, capabilities=0,
                 max_tags=DEFAULT_MAX_TAGS, max_message=DEFAULT_MAX_MESSAGE,
                 reassembly_budget=DEFAULT_REASSEMBLY_BUDGET, listen_port=0,
                 extensions=()):
        self.identity_key = bytes(identity_key)
        self.signature = bytes(signature)
        self.minor = minor
        self.capabilities = capabilities
        self.max_tags = max_tags
        self.max_message = max_message
        self.reassembly_budget = reassembly_budget
        self.listen_port = listen_port
        self.extensions = [(t, bytes(v)) for t, v in extensions]

    @classmethod
    def signed(cls, identity, static_public, **fields):
        """The payload `identity` sends in a handshake whose Noise static key is
        `static_public`; `fields` are the other fields of §2.2."""
        return cls(identity.public_key, identity.sign_static_key(static_public), **fields)

    def encode(self):
        out = bytearray(_FIXED.pack(
            self.identity_key, self.signature, self.minor, self.capabilities,
            self.max_tags, self.max_message, self.reassembly_budget, self.listen_port,
        ))
        for ext_type, value in self.extensions:
            if len(value) > U16_MAX:
                raise ValueError("an extension value is at most 65535 bytes")
            out += struct.pack(">HH", ext_type, len(value)) + value
        return bytes(out)

    @classmethod
    def decode(cls, data):
        """The layout only: PAYLOAD_MALFORMED for a short payload or a TLV overrun [HS-5].

        Unknown extension types are kept, not rejected ([HS-9]): the caller ignores them.
        """
        data = bytes(data)
        if len(data) < IDENTITY_FIXED_LEN:
            raise ParleyError("PAYLOAD_MALFORMED", "identity payload under 114 bytes")
        fields = _FIXED.unpack_from(data)
        extensions = []
        pos = IDENTITY_FIXED_LEN
        while pos < len(data):
            if TLV_HEADER_LEN > len(data) - pos:
                raise ParleyError("PAYLOAD_MALFORMED", "TLV header runs past the end")
            ext_type, length = struct.unpack_from(">HH", data, pos)
            pos += TLV_HEADER_LEN
            if length > len(data) - pos:
                raise ParleyError("PAYLOAD_MALFORMED", "TLV value runs past the end")
            extensions.append((ext_type, data[pos:pos + length]))
            pos += length
        return cls(*fields, extensions=extensions)

    def to_fields(self):
        """The fields as the golden vectors write them (bytes as lowercase hex)."""
        return {
            "identity_key": self.identity_key.hex(),
            "signature": self.signature.hex(),
            "minor": self.minor,
            "capabilities": self.capabilities,
            "max_tags": self.max_tags,
            "max_message": self.max_message,
            "reassembly_budget": self.reassembly_budget,
            "listen_port": self.listen_port,
            "extensions": [{"type": t, "value": v.hex()} for t, v in self.extensions],
        }

    def check_limits(self):
        """[HS-8] the floors of §2.2, else LIMITS_BELOW_FLOOR."""
        if self.max_tags < MIN_MAX_TAGS:
            raise ParleyError("LIMITS_BELOW_FLOOR", "max_tags under 256")
        if self.max_message < MIN_MAX_MESSAGE:
            raise ParleyError("LIMITS_BELOW_FLOOR", "max_message under 1048576")
        if self.reassembly_budget < self.max_message:
            raise ParleyError("LIMITS_BELOW_FLOOR", "reassembly_budget under max_message")

    def verify_signature(self, remote_static):
        """[HS-6] the signature over the context and the sender's Noise static key, under
        §2.4; raises ed25519.SignatureError (BAD_SIGNATURE, with the rule)."""
        ed25519.verify(self.identity_key, IDENTITY_CONTEXT + bytes(remote_static),
                       self.signature)

    def __eq__(self, other):
        return isinstance(other, IdentityPayload) and all(
            getattr(self, f) == getattr(other, f) for f in self.FIELDS)

    def __repr__(self):
        return f"IdentityPayload({self.to_fields()!r})"


def read_identity_payload(data, remote_static, own_identity_key):
    """Decode and check a received identity payload in the order of §2.2: layout
    (PAYLOAD_MALFORMED), limits (LIMITS_BELOW_FLOOR), reflection (REFLECTION), key and
    signature (BAD_SIGNATURE). `remote_static` is the sender's Noise static public key
    as this handshake delivered it; `own_identity_key` is the receiver's node id."""
    payload = IdentityPayload.decode(data)
    payload.check_limits()
    # [HS-7] our own identity coming back is a reflection, whatever the signature says.
    if own_identity_key is not None and payload.identity_key == bytes(own_identity_key):
        raise ParleyError("REFLECTION", "remote identity is our own")
    payload.verify_signature(remote_static)
    return payload


def check_deadline(started, now):
    """[PRE-7], [HS-11]: raise TIMEOUT once HANDSHAKE_TIMEOUT (10 s) has passed since the
    connection started. Times are seconds on one monotonic clock, passed in by the caller
    (the codec reads no clock); a clock that went backwards counts as no time elapsed."""
    if now - started >= HANDSHAKE_TIMEOUT_S:
        raise ParleyError("TIMEOUT", f"handshake not complete after {now - started:.3f} s")


class HandshakeResult:
    """What a completed handshake gives a connection.

    remote: the peer's verified IdentityPayload; c1, c2: the Split() cipher states (c1
    protects initiator to responder, c2 the other way); send, recv: the two as this side
    uses them; handshake_hash: Noise h; initiator_ephemeral: the initiator's ephemeral
    public key (names the session in the key log); remote_static: the peer's Noise
    static public key."""

    def __init__(self, initiator, remote, c1, c2, handshake_hash, initiator_ephemeral,
                 remote_static):
        self.initiator = initiator
        self.remote = remote
        self.c1 = c1
        self.c2 = c2
        self.send, self.recv = (c1, c2) if initiator else (c2, c1)
        self.handshake_hash = handshake_hash
        self.initiator_ephemeral = initiator_ephemeral
        self.remote_static = remote_static


class Handshake:
    """One side of the Parley handshake over the framing of §2.1, without I/O.

    `initiator`: True for the side that dialled. `identity`: this node's Identity.
    `prologue`: the HELLO bytes followed by the ACCEPT bytes ([HS-2], [PRE-8]).
    `payload_fields`: the §2.2 fields this side advertises besides its key and signature
    (defaults: the reference peer's). `static`: the Noise static private key (fresh when
    None). `ephemeral`: a fixed ephemeral private key, for test vectors only ([HS-12]).

    Two ways to drive it:
      - message by message: write_message() gives the next framed message this side
        sends, read_message(frame) takes one whole framed message;
      - as a stream: start() gives the first bytes to send (the initiator's message 1),
        feed(data) takes received bytes in any chunking and gives the bytes to send.
    Once `complete`, result() gives the HandshakeResult; bytes received after the last
    handshake message (records) are in `leftover`.
    """

    def __init__(self, initiator, identity, prologue, payload_fields=None, static=None,
                 ephemeral=None):
        if static is None:
            static = noise.KeyPair.generate().private
        self.initiator = initiator
        self.identity = identity
        self.noise = noise.HandshakeState(initiator, bytes(prologue), static, ephemeral)
        self.payload = IdentityPayload.signed(
            identity, self.noise.s.public, **(payload_fields or {}))
        self.remote = None
        self.leftover = b""
        self._buffer = bytearray()
        self._result = None

    @property
    def complete(self):
        return self.noise.complete and self.remote is not None

    @property
    def static_public(self):
        return self.noise.s.public

    @property
    def ephemeral_public(self):
        """This side's ephemeral public key, once it wrote its first message."""
        return None if self.noise.e is None else self.noise.e.public

    def _expected_length(self):
        """(min, max) of the next Noise message this side reads ([HS-1], [HS-3])."""
        index = self.noise.message_index
        if index == 0:
            return MSG1_LEN, MSG1_LEN
        if index == 1:
            return MSG2_MIN, U16_MAX
        return MSG3_MIN, U16_MAX

    def _check_length(self, length):
        low, high = self._expected_length()
        if not low <= length <= high:
            # [HS-1] wrong length; for message 1 also [HS-3], a non-empty payload.
            raise ParleyError(
                "HANDSHAKE_FAILED",
                f"message {self.noise.message_index + 1} length {length} "
                f"outside {low}..{high}")

    def write_message(self):
        """The next framed handshake message this side sends. HANDSHAKE_FAILED when the
        remote ephemeral key of message 1 is of low order (X25519 gives zero)."""
        if self.noise.complete or not self.noise.is_my_turn():
            raise noise.NoiseError("not this side's turn to write")
        payload = b""
        if self.noise.message_index > 0:
            payload = self.payload.encode()
            # §2.1: the whole Noise message must fit the u16 length.
            overhead = MSG2_OVERHEAD if self.noise.message_index == 1 else MSG3_OVERHEAD
            if len(payload) > U16_MAX - overhead:
                raise ValueError("identity payload too large for one handshake message")
        try:
            message = self.noise.write_message(payload)
        except noise.BadPublicKey as exc:
            # The responder's "ee" with a low-order ephemeral from message 1.
            raise ParleyError("HANDSHAKE_FAILED", str(exc)) from exc
        return struct.pack(">H", len(message)) + message

    def read_message(self, frame):
        """Take one whole framed handshake message: the u16 length and exactly that many
        bytes. Raises HANDSHAKE_FAILED for a wrong length or a message that does not
        decrypt ([HS-1], [HS-3], [HS-4]), or the §2.2 close reason for its payload."""
        frame = bytes(frame)
        if self.noise.complete or self.noise.is_my_turn():
            raise noise.NoiseError("not this side's turn to read")
        if len(frame) < LENGTH_LEN:
            raise ParleyError("HANDSHAKE_FAILED", "no room for the length")
        (length,) = struct.unpack_from(">H", frame)
        self._check_length(length)
        if len(frame) - LENGTH_LEN != length:
            raise ParleyError("HANDSHAKE_FAILED", "length does not match the message")
        self._read_noise(frame[LENGTH_LEN:])

    def _read_noise(self, message):
        index = self.noise.message_index
        try:
            payload = self.noise.read_message(message)
        except noise.NoiseError as exc:
            # [HS-2] a tampered prologue surfaces here; [HS-4] any decryption failure.
            raise ParleyError("HANDSHAKE_FAILED", str(exc)) from exc
        if index == 0:
            return  # [HS-3] message 1 was exactly 32 bytes, so its payload is empty
        # [HS-5] .. [HS-8], in the order of §2.2.
        self.remote = read_identity_payload(
            payload, self.noise.rs, self.identity.public_key)

    def start(self):
        """The bytes to send first: message 1 for the initiator, nothing for the
        responder (which waits for message 1)."""
        return self.write_message() if self.initiator else b""

    def feed(self, data):
        """Take received bytes (any chunking) and return the bytes to send.

        A wrong length is reported as soon as the two length bytes arrive, without
        waiting for the message ([HS-1])."""
        self._buffer += data
        out = bytearray()
        while not self.noise.complete and len(self._buffer) >= LENGTH_LEN:
            (length,) = struct.unpack_from(">H", self._buffer)
            self._check_length(length)
            if len(self._buffer) - LENGTH_LEN < length:
                break
            end = LENGTH_LEN + length
            frame = bytes(self._buffer[:end])
            del self._buffer[:end]
            self.read_message(frame)
            if not self.noise.complete:
                out += self.write_message()
        if self.noise.complete:
            self.leftover += bytes(self._buffer)
            self._buffer.clear()
        return bytes(out)

    def result(self):
        """The HandshakeResult; the same object (and cipher states) on every call."""
        if not self.complete:
            raise noise.NoiseError("handshake not complete")
        if self._result is None:
            c1, c2 = self.noise.split()
            initiator_ephemeral = self.noise.e.public if self.initiator else self.noise.re
            self._result = HandshakeResult(
                self.initiator, self.remote, c1, c2, self.noise.handshake_hash,
                initiator_ephemeral, self.noise.rs)
        return self._result
