"""The receive side of a Parley connection: spec §4.5, the order a receiver applies the
rules of chapters 4 and 5 to each frame.

A Session holds what a receiver must remember between frames: the tags of our requests
awaiting a response, the tags of the remote's requests we have not answered yet, the
messages being reassembled and those being discarded. Feed it one frame at a time
(`receive_frame`); each frame gives exactly one event, as in vectors/README.md:

    {"event": "message",  "tag", "opcode", "flags", "body"}   a valid request, complete
    {"event": "response", "tag", "opcode", "body"}            a valid response, complete
    {"event": "partial",  "tag"}                              a fragment kept
    {"event": "nack",     "tag", "req_opcode", "code"}        the NACK to send (code name)
    {"event": "ignored",  "tag"}                              nothing is sent
    {"event": "close",    "reason"}                           the connection closes

The Session sends nothing and reads no clock: the caller sends the NACKs, answers the
messages and tells the Session when it did (`request_answered`), and tells it about the
requests it sends (`request_sent`).
"""

from dataclasses import dataclass, field

from . import codec
from .codec import (FLAG_ABORT, FLAG_COMPRESSED, FLAG_MORE, FLAG_RESPONSE,
                    FRAGMENT_TOTAL_LEN, FRAME_HEADER_LEN)
from .errors import ParleyError


@dataclass
class Reassembly:
    """A fragmented message in progress on (tag, RESPONSE bit) ([FRAG-2])."""
    opcode: int
    flags: int  # of the first fragment
    total: int  # the data bytes announced, reserved against the budget ([FRAG-4])
    data: bytearray = field(default_factory=bytearray)


class Session:
    """The receive state machine of one connection (spec §4.5).

    Our limits are those we advertised ([HS-8]): `max_tags`, `max_message`,
    `reassembly_budget`. `compression` is the setting in force (None, or "zlib");
    `admin` says whether the remote's identity key is the configured admin key
    ([ADMIN-1]); `outstanding` are the tags of our requests awaiting a response.
    """

    def __init__(self, max_tags=codec.DEFAULT_MAX_TAGS,
                 max_message=codec.DEFAULT_MAX_MESSAGE,
                 reassembly_budget=codec.DEFAULT_REASSEMBLY_BUDGET,
                 compression=None, admin=False, outstanding=(), shutting_down=False):
        if compression not in (None, "zlib"):
            raise ValueError(f"compression {compression!r} is not implemented (zlib is)")
        self.max_tags = max_tags
        self.max_message = max_message
        self.reassembly_budget = reassembly_budget
        self.compression = compression
        self.admin = admin
        self.our_requests = set(outstanding)  # our tags awaiting a response
        self.failed_requests = []  # our tags whose response was invalid ([TAG-6])
        self.remote_requests = set()  # remote request tags we have not answered
        self.in_progress = {}  # (tag, response bit) -> Reassembly
        self.discarding = set()  # (tag, response bit) whose frames are dropped
        self.reserved = 0  # bytes reserved by all messages in progress ([FRAG-4])
        self.closed = None  # the close reason, once closed
        # What we may send: the remote's advertised limits, the floors until then.
        self.remote_max_tags = codec.MIN_MAX_TAGS
        self.remote_max_message = codec.MIN_MAX_MESSAGE
        self.bye_sent = False  # [BYE-3] no request after our BYE
        self.shutting_down = shutting_down  # [ADMIN-5]

    @classmethod
    def from_params(cls, params):
        """A Session set up from a session vector's `params`."""
        return cls(max_tags=params["max_tags"], max_message=params["max_message"],
                   reassembly_budget=params["reassembly_budget"],
                   compression=params.get("compression"), admin=params.get("admin", False),
                   outstanding=params.get("outstanding", ()),
                   shutting_down=params.get("shutting_down", False))

    # --- what the caller tells the session ----------------------------------------

    def request_sent(self, tag):
        """We sent a request on `tag` and await its response ([TAG-1]).

        Raises ValueError for tag 0, a tag already outstanding, or after our BYE
        ([BYE-3]); ParleyError TOO_MANY_TAGS when the remote's max_tags of our requests
        are outstanding ([LIMIT-2]: wait for an answer first)."""
        if tag == 0 or tag in self.our_requests or self.bye_sent:
            raise ValueError(f"cannot start a request on tag {tag}")
        if len(self.our_requests) >= self.remote_max_tags:
            raise ParleyError("TOO_MANY_TAGS", f"{self.remote_max_tags} requests outstanding")
        self.our_requests.add(tag)

    def set_remote_limits(self, max_tags, max_message):
        """The limits the remote advertised in its identity payload ([LIMIT-2])."""
        self.remote_max_tags = max_tags
        self.remote_max_message = max_message

    def check_send(self, length):
        """[LIMIT-2] a message of `length` payload bytes may be sent to the remote, or
        ParleyError MESSAGE_TOO_LARGE."""
        if length > self.remote_max_message:
            raise ParleyError("MESSAGE_TOO_LARGE",
                              f"{length} bytes above the remote's {self.remote_max_message}")

    def sent_bye(self):
        """We sent BYE: no new request from now on ([BYE-3])."""
        self.bye_sent = True

    def request_answered(self, tag):
        """We answered the remote's request on `tag`; the tag is free again ([TAG-2])."""
        self.remote_requests.discard(tag)

    def set_compression(self, setting):
        """An acknowledged option 0 put `setting` ("zlib") in force ([OPT-3])."""
        if setting not in ("zlib", codec.SETTING_ZLIB):
            raise ValueError(f"compression {setting!r} is not implemented (zlib is)")
        setting = "zlib"
        self.compression = setting

    # --- input ------------------------------------------------------------------------

    def receive_plaintext(self, plaintext):
        """The events of the frames of one authenticated record plaintext ([REC-4]).

        The framing of the whole plaintext is checked first: a frame that runs past its
        end closes the connection and none of the record's frames is processed
        ([REC-5]). Otherwise the frames are handled in order (§4.5).
        """
        try:
            frames = codec.split_record_plaintext(plaintext)
        except ParleyError as e:
            return [self._close(e.name)]
        events = []
        for f in frames:
            if self.closed:
                break
            whole = codec.encode_frame_header(f["opcode"], f["flags"], f["tag"], f["length"])
            events.append(self.receive_frame(whole + bytes(f["payload"])))
        return events

    def receive_frame(self, frame):
        """The one event for one whole frame (header and payload), spec §4.5 steps 1-6.

        `frame` is a frame as cut from its record, so a length that disagrees with its
        bytes closes the connection (FRAME_OVERRUN, [FRAME-1], [REC-5]).
        """
        if self.closed:
            return self._close(self.closed)
        frame = bytes(frame)
        if len(frame) < FRAME_HEADER_LEN:
            return self._close("FRAME_OVERRUN")
        header = codec.parse_frame_header(frame)
        if header["length"] != len(frame) - FRAME_HEADER_LEN:
            return self._close("FRAME_OVERRUN")
        opcode, flags, tag = header["opcode"], header["flags"], header["tag"]
        payload = frame[FRAME_HEADER_LEN:]
        key = (tag, bool(flags & FLAG_RESPONSE))

        if key in self.discarding:  # step 1, [FRAG-3]
            if not flags & FLAG_MORE or flags & FLAG_ABORT:
                self.discarding.discard(key)
            return ignored(tag)
        try:
            codec.check_frame_header(header, bool(self.compression))  # step 2
        except ParleyError as e:
            return self._refuse_frame(header, e.name)
        if flags & FLAG_ABORT:  # step 3, [FRAG-7]
            return self._abort(key)
        if key in self.in_progress:  # step 4
            return self._next_fragment(key, opcode, flags, payload)
        return self._start(key, opcode, flags, payload)  # step 5

    # --- the steps --------------------------------------------------------------------

    def _refuse_frame(self, header, name):
        """Step 2: a frame failing the header rules is answered, unless it is a
        response ([TAG-6]), and touches no message in progress. With MORE on a fresh
        non-zero tag, the rest of its message is discarded so that it is answered once
        ([TAG-2])."""
        tag, flags = header["tag"], header["flags"]
        key = (tag, bool(flags & FLAG_RESPONSE))
        if flags & FLAG_MORE and tag != 0 and key not in self.in_progress:
            self.discarding.add(key)
        if flags & FLAG_RESPONSE:
            return ignored(tag)
        return nack(tag, header["opcode"], name)

    def _abort(self, key):
        """Step 3: ABORT frees the message in progress, if any, and sends nothing."""
        tag, is_response = key
        message = self.in_progress.pop(key, None)
        if message is not None:
            self.reserved -= message.total
            if not is_response:  # [FRAG-11]: the requester may reuse the tag
                self.remote_requests.discard(tag)
        return ignored(tag)

    def _next_fragment(self, key, opcode, flags, payload):
        """Step 4: a later fragment of the message in progress on `key`."""
        message = self.in_progress[key]
        tag = key[0]
        if opcode != message.opcode or \
                (flags ^ message.flags) & FLAG_COMPRESSED:  # [FRAG-6]
            return self._fail_in_progress(key, flags, "BAD_FRAGMENT")
        message.data += payload
        if len(message.data) > message.total:  # [FRAG-5]
            return self._fail_in_progress(key, flags, "LENGTH_MISMATCH")
        if flags & FLAG_MORE:
            return partial(tag)
        if len(message.data) != message.total:  # [FRAG-5]
            return self._fail_in_progress(key, flags, "LENGTH_MISMATCH")
        del self.in_progress[key]  # [FRAG-8]
        self.reserved -= message.total
        return self._complete(key, message.opcode, message.flags, bytes(message.data))

    def _start(self, key, opcode, flags, payload):
        """Step 5: the frame starts a message."""
        tag, is_response = key
        if is_response:
            if tag not in self.our_requests:  # [TAG-6]
                if flags & FLAG_MORE:
                    self.discarding.add(key)
                return ignored(tag)
        elif tag != 0:
            if tag in self.remote_requests:  # [TAG-5]: the earlier one stays outstanding
                return self._fail_start(key, opcode, flags, "TAG_IN_USE", answers=False)
            if len(self.remote_requests) >= self.max_tags:  # [TAG-7]
                return self._fail_start(key, opcode, flags, "TOO_MANY_TAGS", answers=False)
            self.remote_requests.add(tag)  # outstanding from its first frame
        if not flags & FLAG_MORE:
            return self._complete(key, opcode, flags, payload)
        error = self._check_first_fragment(payload)
        if error:
            return self._fail_start(key, opcode, flags, error, answers=True)
        total = int.from_bytes(payload[:FRAGMENT_TOTAL_LEN], "big")
        self.in_progress[key] = Reassembly(opcode, flags, total,
                                           bytearray(payload[FRAGMENT_TOTAL_LEN:]))
        self.reserved += total
        return partial(tag)

    def _check_first_fragment(self, payload):
        """[FRAG-2], [FRAG-3], [FRAG-4] in that order: the error name, or None."""
        if len(payload) < FRAGMENT_TOTAL_LEN:  # [FRAG-2]
            return "MALFORMED"
        total = int.from_bytes(payload[:FRAGMENT_TOTAL_LEN], "big")
        if total < len(payload) - FRAGMENT_TOTAL_LEN:  # [FRAG-2], [FRAG-5]
            return "LENGTH_MISMATCH"
        if total > self.max_message:  # [FRAG-3]
            return "MESSAGE_TOO_LARGE"
        if self.reserved + total > self.reassembly_budget:  # [FRAG-4]
            return "BUDGET_EXCEEDED"
        return None

    def _complete(self, key, opcode, flags, payload):
        """Step 6: decompress, decode, apply the admin rules; the message or response."""
        tag, is_response = key
        try:
            if flags & FLAG_COMPRESSED:  # [OPT-6]
                payload = codec.decompress(payload, self.max_message, self.compression)
            body = codec.decode_body(opcode, flags, tag, payload)
            if opcode in codec.ADMIN_OPCODES and not is_response and \
                    not self.admin:  # [ADMIN-1], after [ADMIN-2] in decode_body
                raise ParleyError("UNAUTHORIZED", "admin request from a non-admin")
            if not is_response and self.shutting_down:  # [ADMIN-5], last in step 6
                raise ParleyError("SHUTTING_DOWN", "the peer is shutting down")
        except ParleyError as e:
            if is_response:
                return self._response_failed(tag)
            self.remote_requests.discard(tag)  # the NACK answers it
            return nack(tag, opcode, e.name)
        if is_response:  # [TAG-4]: the tag is ours to reuse
            self.our_requests.discard(tag)
            if opcode == codec.OP_ACK and body["req_opcode"] == codec.OP_SET_CONNECTION_OPT \
                    and body["option"] == codec.OPT_COMPRESSION:  # [OPT-3] in force now
                self.set_compression(body["setting"])
            return {"event": "response", "tag": tag, "opcode": opcode, "body": body}
        return {"event": "message", "tag": tag, "opcode": opcode, "flags": flags,
                "body": body}

    # --- failures ---------------------------------------------------------------------

    def _fail_start(self, key, opcode, flags, name, answers):
        """A first frame fails step 5: NACK it (a request) and drop its later fragments.

        `answers`: whether the NACK answers this request (it does not for TAG_IN_USE or
        TOO_MANY_TAGS, whose tag was never taken).
        """
        tag, is_response = key
        if flags & FLAG_MORE:
            self.discarding.add(key)
        if is_response:
            return self._response_failed(tag)
        if answers:
            self.remote_requests.discard(tag)
        return nack(tag, opcode, name)

    def _fail_in_progress(self, key, flags, name):
        """A later fragment fails step 4: free the message, NACK it (a request) with the
        request's opcode, and drop what remains of it."""
        tag, is_response = key
        message = self.in_progress.pop(key)
        self.reserved -= message.total
        if flags & FLAG_MORE:
            self.discarding.add(key)
        if is_response:
            return self._response_failed(tag)
        self.remote_requests.discard(tag)
        return nack(tag, message.opcode, name)

    def _response_failed(self, tag):
        """An invalid response is discarded; our request completes as failed ([TAG-6])."""
        self.our_requests.discard(tag)
        self.failed_requests.append(tag)
        return ignored(tag)

    def _close(self, reason):
        self.closed = reason
        self.in_progress.clear()
        self.reserved = 0
        return {"event": "close", "reason": reason}


def nack(tag, req_opcode, code):
    return {"event": "nack", "tag": tag, "req_opcode": req_opcode, "code": code}


def partial(tag):
    return {"event": "partial", "tag": tag}


def ignored(tag):
    return {"event": "ignored", "tag": tag}
