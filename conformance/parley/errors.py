"""The error registry, spec/06-errors.md.

NACK codes travel in NACK frames; close reasons never travel (they name why a connection
was closed). Every decoder in this package raises ParleyError with a registry name.
"""

NACK_CODES = {
    "MALFORMED": 1,
    "UNKNOWN_OPCODE": 2,
    "NOT_IMPLEMENTED": 3,
    "UNSUPPORTED": 4,
    "BAD_FLAGS": 5,
    "FRAME_TOO_LARGE": 6,
    "MESSAGE_TOO_LARGE": 7,
    "BUDGET_EXCEEDED": 8,
    "TOO_MANY_TAGS": 9,
    "TAG_IN_USE": 10,
    "BAD_FRAGMENT": 11,
    "LENGTH_MISMATCH": 12,
    "BAD_UTF8": 13,
    "UNAUTHORIZED": 14,
    "DECOMPRESSION_FAILED": 15,
    "SHUTTING_DOWN": 16,
    "BUSY": 17,
    "INTERNAL": 18,
}
NACK_NAMES = {code: name for name, code in NACK_CODES.items()}

CLOSE_REASONS = (
    "PREFACE_BAD_MAGIC",
    "PREFACE_MALFORMED",
    "PREFACE_BAD_CHOICE",
    "NO_COMMON_MAJOR",
    "HANDSHAKE_FAILED",
    "PAYLOAD_MALFORMED",
    "BAD_SIGNATURE",
    "REFLECTION",
    "LIMITS_BELOW_FLOOR",
    "RECORD_LENGTH",
    "RECORD_AUTH",
    "FRAME_OVERRUN",
    "TIMEOUT",
)


class ParleyError(Exception):
    """A spec error: `name` is a NACK code name or a close reason."""

    def __init__(self, name, detail=""):
        if name not in NACK_CODES and name not in CLOSE_REASONS:
            raise ValueError(f"not a registry name: {name}")
        super().__init__(f"{name}: {detail}" if detail else name)
        self.name = name
        self.detail = detail

    @property
    def is_close(self):
        return self.name in CLOSE_REASONS

    @property
    def code(self):
        """The u16 NACK code, or None for a close reason."""
        return NACK_CODES.get(self.name)
