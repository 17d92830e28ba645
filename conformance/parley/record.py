"""Record protection and the key log, spec/03-records.md.

After the handshake every byte travels in records ([REC-1]):

    0        2
    +--------+------------------------------------------------+
    | length | ciphertext                                     |
    | u16    | bytes[length]: ChaCha20-Poly1305(plaintext)+tag |
    +--------+------------------------------------------------+

The ciphertext is Noise EncryptWithAd(ad = empty) of the sending direction's cipher
state (noise.CipherState: nonce = 4 zero bytes + the 64-bit counter little-endian,
counting from 0 per direction). The key log (§3.3) has two lines per session:

    PARLEY_I2R <initiator ephemeral public key, 64 hex> <c1 key, 64 hex>
    PARLEY_R2I <initiator ephemeral public key, 64 hex> <c2 key, 64 hex>

Receiving errors raise ParleyError: RECORD_LENGTH, RECORD_AUTH. A sender whose counter
reached 2^64 - 1 gets noise.NonceExhausted: it must close ([REC-6]).

decrypt_session() uses the key log the way a dissector does: given the bytes each side
of a captured TCP session sent, it finds the session by the initiator's ephemeral key
(message 1 travels in clear) and opens every record of both directions.
"""

import struct

from . import codec, noise
from .errors import ParleyError

LENGTH_LEN = 2
TAG_LEN = noise.TAGLEN
RECORD_MIN = 24  # the tag and one 8-byte frame header
RECORD_MAX = 65535
PLAINTEXT_MIN = RECORD_MIN - TAG_LEN  # 8
PLAINTEXT_MAX = RECORD_MAX - TAG_LEN  # 65519

KEYLOG_I2R = "PARLEY_I2R"
KEYLOG_R2I = "PARLEY_R2I"


# --- records ----------------------------------------------------------------------------


def seal(cipher, plaintext):
    """The whole record (length + ciphertext) for `plaintext` under the sending cipher
    state `cipher`, which advances by one nonce ([REC-1]). Raises ValueError for a
    plaintext outside 8..65519 bytes and noise.NonceExhausted once the counter reached
    2^64 - 1 ([REC-6])."""
    if not PLAINTEXT_MIN <= len(plaintext) <= PLAINTEXT_MAX:
        raise ValueError(f"record plaintext of {len(plaintext)} bytes, not 8..65519")
    ciphertext = cipher.encrypt_with_ad(b"", plaintext)
    return struct.pack(">H", len(ciphertext)) + ciphertext


def check_length(length):
    """[REC-2] a length field below 24 is RECORD_LENGTH, before any ciphertext is read."""
    if length < RECORD_MIN:
        raise ParleyError("RECORD_LENGTH", f"record length {length} under 24")


def _decrypt(cipher, ciphertext):
    try:
        return cipher.decrypt_with_ad(b"", ciphertext)
    except noise.DecryptError as exc:
        # [REC-3] a flipped bit, a replayed or reordered record (wrong nonce), or the
        # other direction's key all land here.
        raise ParleyError("RECORD_AUTH", "record does not authenticate") from exc
    except noise.NonceExhausted as exc:
        # The sender must have closed before this nonce ([REC-6]).
        raise ParleyError("RECORD_AUTH", "nonce 2^64-1 is never used") from exc


def open_record(cipher, record):
    """The plaintext of one whole record (length field and exactly its ciphertext) under
    the receiving cipher state, which advances only when the record authenticates.

    RECORD_LENGTH: the length is below 24 ([REC-2]) or does not match the bytes given
    ([CONV-3]); RECORD_AUTH: the record fails authentication ([REC-3])."""
    record = bytes(record)
    if len(record) < LENGTH_LEN:
        raise ParleyError("RECORD_LENGTH", "no room for the length")
    (length,) = struct.unpack_from(">H", record)
    check_length(length)
    if len(record) - LENGTH_LEN != length:
        raise ParleyError("RECORD_LENGTH", "length does not match the record")
    return _decrypt(cipher, record[LENGTH_LEN:])


def open_with_key(key, nonce, record):
    """open_record() with a cipher state made of `key` at counter `nonce` (vectors)."""
    return open_record(noise.CipherState(bytes(key), nonce), record)


class RecordReader:
    """Splits one direction's byte stream into records and opens them in order.

    feed(data) buffers received bytes and returns the plaintexts of the records they
    complete; next_record() opens one record at a time (None until one is complete).
    A length below 24 is reported as soon as its two bytes arrive ([REC-2]). Bytes of a
    record not yet complete stay in `pending`."""

    def __init__(self, cipher):
        self.cipher = cipher
        self.pending = bytearray()

    def next_record(self):
        if len(self.pending) < LENGTH_LEN:
            return None
        (length,) = struct.unpack_from(">H", self.pending)
        check_length(length)
        if len(self.pending) - LENGTH_LEN < length:
            return None
        ciphertext = bytes(self.pending[LENGTH_LEN:LENGTH_LEN + length])
        del self.pending[:LENGTH_LEN + length]
        # [REC-4] a plaintext leaves here only once the whole record authenticated.
        return _decrypt(self.cipher, ciphertext)

    def feed(self, data):
        self.pending += data
        plaintexts = []
        while (plaintext := self.next_record()) is not None:
            plaintexts.append(plaintext)
        return plaintexts


class RecordChannel:
    """Both directions of one connection: seal() what this side sends, feed() what it
    receives. Built from a handshake.HandshakeResult with from_handshake()."""

    def __init__(self, send, recv):
        self.send = send
        self.reader = RecordReader(recv)

    @classmethod
    def from_handshake(cls, result):
        return cls(result.send, result.recv)

    def seal(self, plaintext):
        return seal(self.send, plaintext)

    def feed(self, data):
        return self.reader.feed(data)


# --- the key log (§3.3) ------------------------------------------------------------------


def keylog_lines(initiator_ephemeral, c1_key, c2_key):
    """The two key-log lines of one session, each ending in a newline."""
    eph = bytes(initiator_ephemeral).hex()
    return (f"{KEYLOG_I2R} {eph} {bytes(c1_key).hex()}\n"
            f"{KEYLOG_R2I} {eph} {bytes(c2_key).hex()}\n")


def append_keylog(path, result):
    """Append the lines of a completed handshake (handshake.HandshakeResult) to the
    key-log file `path` ([KEYLOG-1]: append, both lines before the first record)."""
    with open(path, "a", encoding="ascii") as f:
        f.write(keylog_lines(result.initiator_ephemeral, result.c1.k, result.c2.k))
        f.flush()


def _hex32(text, lineno):
    if len(text) != 64:
        raise ValueError(f"key log line {lineno}: expected 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"key log line {lineno}: not hex") from None


def parse_keylog(text):
    """{initiator ephemeral (bytes): {"i2r": c1 key, "r2i": c2 key}} from key-log text.

    Blank lines and lines starting with '#' are skipped; any other line that is not a
    well-formed PARLEY_I2R or PARLEY_R2I line raises ValueError (the harness checks a
    peer's key log with this, so it is strict). A session may lack one direction."""
    sessions = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or parts[0] not in (KEYLOG_I2R, KEYLOG_R2I):
            raise ValueError(f"key log line {lineno}: not a PARLEY_I2R/R2I line")
        eph, key = _hex32(parts[1], lineno), _hex32(parts[2], lineno)
        direction = "i2r" if parts[0] == KEYLOG_I2R else "r2i"
        sessions.setdefault(eph, {})[direction] = key
    return sessions


# --- decrypting a captured session ------------------------------------------------------

def _skip_preface(stream, decode):
    """Bytes taken by the preface message at the start of `stream`, checked with the
    codec's `decode` (codec.decode_hello or codec.decode_answer)."""
    size = codec.preface_length(stream)
    if size is None:
        raise ValueError("preface cut short")
    try:
        fields = decode(stream[:size])
    except ParleyError as exc:
        raise ValueError(f"stream does not start with a valid preface: {exc}") from exc
    if fields["kind"] not in ("HELLO", "ACCEPT"):
        raise ValueError(f"the responder refused the session: {fields}")
    return size


def _take_frame(stream, pos):
    if len(stream) - pos < LENGTH_LEN:
        raise ValueError("handshake message cut short")
    (length,) = struct.unpack_from(">H", stream, pos)
    if len(stream) - pos - LENGTH_LEN < length:
        raise ValueError("handshake message cut short")
    start = pos + LENGTH_LEN
    return stream[start:start + length], start + length


class DecryptedSession:
    """A captured session: `initiator_ephemeral`; per direction (`i2r`, `r2i`) the
    record plaintexts in order, the bytes of a last record the capture cut short
    (`i2r_pending`, `r2i_pending`) and the ParleyError that stopped decryption, if any
    (`i2r_error`, `r2i_error`; the records before it are kept)."""

    def __init__(self, initiator_ephemeral):
        self.initiator_ephemeral = initiator_ephemeral
        self.i2r, self.i2r_pending, self.i2r_error = [], b"", None
        self.r2i, self.r2i_pending, self.r2i_error = [], b"", None


def _open_stream(key, stream):
    """(plaintexts, bytes left pending, error or None) of one direction's records."""
    reader = RecordReader(noise.CipherState(key))
    reader.pending += stream
    plaintexts = []
    try:
        while (plaintext := reader.next_record()) is not None:
            plaintexts.append(plaintext)
    except ParleyError as err:
        return plaintexts, bytes(reader.pending), err
    return plaintexts, bytes(reader.pending), None


def decrypt_session(keylog, initiator_stream, responder_stream):
    """Decrypt every record of one captured TCP session.

    `keylog`: key-log text or parse_keylog()'s result; `initiator_stream`: every byte the
    initiator sent (HELLO, message 1, message 3, records), `responder_stream`: every
    byte the responder sent (ACCEPT, message 2, records). The session is named by the
    initiator's ephemeral key, the 32 bytes of message 1; nonces count from 0 in each
    direction. Raises ValueError when the streams do not hold a whole Parley handshake
    and KeyError when the key log lacks the session; a record that does not open stops
    that direction and is reported in the result."""
    sessions = parse_keylog(keylog) if isinstance(keylog, str) else keylog
    initiator_stream, responder_stream = bytes(initiator_stream), bytes(responder_stream)

    pos = _skip_preface(initiator_stream, codec.decode_hello)
    message1, pos = _take_frame(initiator_stream, pos)
    if len(message1) != noise.DHLEN:
        raise ValueError("message 1 is not 32 bytes")
    _, i2r_start = _take_frame(initiator_stream, pos)  # message 3

    pos = _skip_preface(responder_stream, codec.decode_answer)
    _, r2i_start = _take_frame(responder_stream, pos)  # message 2

    keys = sessions[message1]
    session = DecryptedSession(message1)
    session.i2r, session.i2r_pending, session.i2r_error = _open_stream(
        keys["i2r"], initiator_stream[i2r_start:])
    session.r2i, session.r2i_pending, session.r2i_error = _open_stream(
        keys["r2i"], responder_stream[r2i_start:])
    return session
