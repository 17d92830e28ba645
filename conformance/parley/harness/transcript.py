"""What a test sent and what came back, decoded with the package's codec, for the reports.

Every connection a test opens writes into the test's Transcript: raw bytes in each
direction, preface and handshake messages, and every frame inside a record (sent in clear
by us, or decrypted from the peer's records), each with its hex and a one-line decoding.
"""

import time

from .. import codec
from ..errors import NACK_NAMES, ParleyError

MAX_ENTRIES = 600
MAX_HEX_BYTES = 512


def flag_names(flags):
    names = [codec.FLAG_NAMES[bit] for bit in range(8) if flags & (1 << bit)]
    return "|".join(names) or "-"


def describe_body(opcode, flags, body):
    """A short text for a decoded message body."""
    if body is None:
        return ""
    if flags & codec.FLAG_RESPONSE and opcode == codec.OP_NACK:
        code = body.get("code")
        return (f"req={codec.OPCODE_NAMES.get(body.get('req_opcode'), body.get('req_opcode'))} "
                f"code={NACK_NAMES.get(code, code)} text={body.get('text', '')!r}")
    parts = []
    for key, value in body.items():
        if key == "req_opcode":
            value = codec.OPCODE_NAMES.get(value, value)
        elif isinstance(value, (bytes, bytearray)):
            value = bytes(value)
            value = value.hex() if len(value) <= 32 else f"{value[:32].hex()}... ({len(value)} B)"
        elif isinstance(value, list) and len(value) > 4:
            value = f"[{len(value)} entries]"
        parts.append(f"{key}={value}")
    return " ".join(parts)


def describe_frame(frame, compression=False):
    """One line for one whole frame: header fields, then the body when it decodes alone."""
    frame = bytes(frame)
    if len(frame) < codec.FRAME_HEADER_LEN:
        return f"truncated frame header ({len(frame)} bytes)"
    header = codec.parse_frame_header(frame)
    opcode, flags = header["opcode"], header["flags"]
    name = codec.OPCODE_NAMES.get(opcode, f"opcode {opcode}")
    text = f"{name} flags={flag_names(flags)} tag={header['tag']} len={header['length']}"
    if header["length"] != len(frame) - codec.FRAME_HEADER_LEN:
        return text + f" (frame holds {len(frame) - codec.FRAME_HEADER_LEN} payload bytes)"
    try:
        message = codec.decode_message(frame, compression=compression)
    except ParleyError as err:
        return text + f" [{err.name}]"
    except ValueError as err:
        return text + f" [{err}]"
    if message["body"] is None:
        if flags & codec.FLAG_MORE and len(frame) >= codec.FRAME_HEADER_LEN + 4:
            return text + " (fragment)"
        return text
    return text + " " + describe_body(opcode, flags, message["body"])


def describe_preface(data):
    try:
        if data[6:7] == bytes([codec.KIND_HELLO]):
            fields = codec.decode_hello(data)
        else:
            fields = codec.decode_answer(data)
    except ParleyError as err:
        return f"preface [{err.name}]"
    return " ".join(f"{k}={v}" for k, v in fields.items())


class Transcript:
    """The exchange of one test, across all its connections."""

    def __init__(self):
        self.entries = []
        self.truncated = 0
        self.started = time.monotonic()

    def add(self, conn, direction, layer, data=b"", text=""):
        if len(self.entries) >= MAX_ENTRIES:
            self.truncated += 1
            return
        data = bytes(data)
        shown = data[:MAX_HEX_BYTES].hex()
        if len(data) > MAX_HEX_BYTES:
            shown += f"... ({len(data)} bytes)"
        self.entries.append({
            "t": round(time.monotonic() - self.started, 4),
            "conn": conn, "dir": direction, "layer": layer, "hex": shown, "text": text,
        })

    def note(self, conn, text):
        self.add(conn, "note", "note", b"", text)

    def frame(self, conn, direction, frame, compression=False):
        self.add(conn, direction, "frame", frame, describe_frame(frame, compression))

    def as_list(self):
        out = list(self.entries)
        if self.truncated:
            out.append({"t": None, "conn": "-", "dir": "note", "layer": "note", "hex": "",
                        "text": f"{self.truncated} more entries not kept"})
        return out


class NullTranscript(Transcript):
    """Used outside a test (the health check): keeps nothing."""

    def add(self, *args, **kwargs):
        pass
