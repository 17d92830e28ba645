"""A live Parley session driven by the harness, as initiator or as responder.

The layers are the package's own: codec (preface, frames, messages), handshake (Noise XX
and the identity payload), record (sealing), session.Session (what we receive, spec §4.5).
Nothing here restates a layout.

The normal path is one call (`LiveSession.open`: preface, handshake, records). Attacks use
the steps one by one (send_hello, read_answer, begin_handshake, send_handshake_message,
read_handshake_message, finish_handshake) or raw bytes (send_raw, send_record with a
tamper function), and may replace the identity payload, the prologue or any handshake
message. The responder side (a peer that dialled us) has read_hello and send_answer.

What the peer sends goes through our receive model, so the harness also checks the peer
as a sender: records that do not open, frames that break §4.1, answers on a tag that has
no request waiting, invalid responses, requests after its BYE. Each raises a Violation
naming the rule. The peer's own requests are answered as the spec says (PING: ACK; BYE:
ACK, then the connection ends), so an allowed interleaving never fails a test.
"""

import bz2
import collections
import gzip
import itertools
import lzma
import struct
import zlib

from .. import codec, handshake, record
from ..errors import NACK_CODES, NACK_NAMES, ParleyError
from ..session import Session
from . import net
from .outcomes import Violation
from .transcript import NullTranscript, describe_body, describe_frame, describe_preface

SETTING_BY_NAME = {name: number for number, name in codec.SETTING_NAMES.items()}

# NACK codes our receive model gives to a frame the peer sent, and the rule the peer
# broke by sending it. Codes missing here (NOT_IMPLEMENTED, UNAUTHORIZED, ...) answer
# legitimate requests we do not serve.
SENDER_RULES = {
    "BAD_FLAGS": "FRAME-5",
    "FRAME_TOO_LARGE": "FRAME-2",
    "BAD_FRAGMENT": "FRAG-6",
    "LENGTH_MISMATCH": "FRAG-2",
    "MALFORMED": "MSG-3",
    "BAD_UTF8": "CONV-1",
    "TAG_IN_USE": "TAG-1",
    "TOO_MANY_TAGS": "LIMIT-2",
    "MESSAGE_TOO_LARGE": "LIMIT-2",
    "BUDGET_EXCEEDED": "LIMIT-2",
    "DECOMPRESSION_FAILED": "OPT-4",
}

# Why the peer's own identity payload fails our checks, and the rule it broke by sending
# it (a wrong length or a message that does not decrypt: [HS-1]).
PEER_PAYLOAD_RULES = {
    "BAD_SIGNATURE": "HS-6",
    "PAYLOAD_MALFORMED": "HS-5",
    "LIMITS_BELOW_FLOOR": "LIMIT-1",
    "REFLECTION": "HS-7",
}


def decompress_any(setting, data, max_message):
    """A compressed message payload in any setting the harness can read ([OPT-4],
    [OPT-6]); raises ParleyError as codec.decompress does, ValueError for snappy."""
    if setting in ("zlib", codec.SETTING_ZLIB):
        return codec.decompress(data, max_message)
    makers = {
        "bz2": bz2.BZ2Decompressor,
        "gzip": lambda: zlib.decompressobj(wbits=31),
        "lzma": lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ),
    }
    if setting not in makers:
        raise ValueError(f"the harness cannot decompress {setting!r}")
    d = makers[setting]()
    try:
        out = d.decompress(bytes(data), max_message + 1)
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
        raise ParleyError("DECOMPRESSION_FAILED", str(exc)) from None
    if len(out) > max_message:
        raise ParleyError("MESSAGE_TOO_LARGE", f"decompresses beyond {max_message} bytes")
    if not d.eof:
        raise ParleyError("DECOMPRESSION_FAILED", "stream not complete")
    return out


def compress_any(setting, data):
    """`data` compressed in a setting the harness can write."""
    setting = codec.SETTING_NAMES.get(setting, setting)
    if setting == "zlib":
        return codec.compress(data)
    if setting == "bz2":
        return bz2.compress(bytes(data))
    if setting == "gzip":
        return gzip.compress(bytes(data))
    if setting == "lzma":
        return lzma.compress(bytes(data), format=lzma.FORMAT_XZ)
    raise ValueError(f"the harness cannot compress {setting!r}")


class HarnessSession(Session):
    """session.Session that also reads the compression settings other than zlib (its
    step 6 decompresses zlib only): a message compressed otherwise is decompressed here,
    then handed on uncompressed."""

    def set_compression(self, setting):
        self.compression = codec.SETTING_NAMES.get(setting, setting)

    def _complete(self, key, opcode, flags, payload):
        if flags & codec.FLAG_COMPRESSED and self.compression not in (None, "zlib"):
            tag, is_response = key
            try:
                payload = decompress_any(self.compression, payload, self.max_message)
            except (ParleyError, ValueError) as err:
                if is_response:
                    return self._response_failed(tag)
                self.remote_requests.discard(tag)
                name = err.name if isinstance(err, ParleyError) else "DECOMPRESSION_FAILED"
                return {"event": "nack", "tag": tag, "req_opcode": opcode, "code": name}
            flags &= ~codec.FLAG_COMPRESSED
        return super()._complete(key, opcode, flags, payload)


class RawPayload:
    """An identity payload given as bytes (anything, valid or not)."""

    def __init__(self, data):
        self.data = bytes(data)

    def encode(self):
        return self.data


DEFAULT_LIMITS = {
    "max_tags": codec.DEFAULT_MAX_TAGS,
    "max_message": codec.DEFAULT_MAX_MESSAGE,
    "reassembly_budget": codec.DEFAULT_REASSEMBLY_BUDGET,
}
FLOOR_LIMITS = {
    "max_tags": codec.MIN_MAX_TAGS,
    "max_message": codec.MIN_MAX_MESSAGE,
    "reassembly_budget": codec.MIN_MAX_MESSAGE,
}


class LiveSession:
    """One connection to (or from) the peer under test.

    `transcript` records the exchange; `label` names the connection in it. `identity` is
    our handshake.Identity; `fields` the other identity payload fields we advertise.
    """

    def __init__(self, conn, transcript=None, label="c1", initiator=True, identity=None,
                 fields=None):
        self.transcript = transcript or NullTranscript()
        self.label = label
        self.conn = conn
        self.initiator = initiator
        self.identity = identity or handshake.Identity.generate()
        self.fields = dict(DEFAULT_LIMITS)
        self.fields.update(fields or {})
        self.offered = [codec.PROTOCOL_MAJOR]
        self.hello_bytes = None
        self.answer_bytes = None
        self.hs = None
        self.remote = None  # the peer's IdentityPayload
        self.channel = None
        self.rx = None
        self.inbox = []
        self.pending = collections.Counter()  # our request tags awaiting an answer
        self.sending = set()  # tags of our fragmented requests not finished
        self.used_tags = set()
        self.auto_answer = True
        self.manual_tags = False  # True: the caller says which answers to await
        self.peer_requests = []  # (tag, opcode, body) of every request the peer sent us
        self.peer_bye = None  # the peer's BYE message event, once received
        self._auto_tags = itertools.cycle(range(60000, 65536))
        self.records_in = []  # plaintexts of the records received
        self.headers_in = []  # (opcode, flags, tag, length) of every frame received
        if getattr(conn, "tap", None) is not None and conn.tap.label is None:
            conn.tap.label = label  # names the connection in a --pcap key log

    # --- construction -----------------------------------------------------------------

    @classmethod
    def connect(cls, address, transcript=None, label="c1", **kwargs):
        conn = net.Connection.connect(address)
        return cls(conn, transcript, label, initiator=True, **kwargs)

    @classmethod
    def open(cls, address, transcript=None, label="c1", **kwargs):
        """Connect, negotiate major 1 and complete the handshake as initiator."""
        session = cls.connect(address, transcript, label, **kwargs)
        try:
            session.handshake_as_initiator()
        except BaseException:
            session.close()
            raise
        return session

    def note(self, text):
        self.transcript.note(self.label, text)

    def close(self):
        self.conn.close()

    # --- the preface (chapter 1) ------------------------------------------------------

    def send_raw(self, data, what="raw bytes"):
        self.transcript.add(self.label, "sent", "raw", data, what)
        self.conn.send(data)

    def send_hello(self, majors=(codec.PROTOCOL_MAJOR,), raw=None):
        """HELLO with `majors` (or exactly `raw`), remembered for the prologue."""
        self.offered = list(majors)
        data = codec.encode_hello(list(majors)) if raw is None else bytes(raw)
        self.hello_bytes = data
        self.transcript.add(self.label, "sent", "preface", data, describe_preface(data))
        self.conn.send(data)

    def read_preface(self, timeout=None):
        """The next whole preface message (HELLO, ACCEPT or REFUSE) as bytes, cut by its
        kind and count only (it is judged by the caller)."""
        deadline = net.Deadline(net.scaled(timeout or net.DEFAULT_TIMEOUT))
        while True:
            buffered = bytes(self.conn.buffer)
            if len(buffered) >= 8 and buffered[:6] != codec.MAGIC:
                size = len(buffered)
            else:
                size = codec.preface_length(buffered)
            if size is not None:
                return self.conn.recv_exact(size)
            try:
                self.conn.fill(deadline)
            except net.Closed as exc:
                raise net.Closed(exc.how, bytes(self.conn.buffer)) from None

    def read_answer(self, timeout=None):
        """The ACCEPT or REFUSE: (bytes, decoded fields or the ParleyError)."""
        data = self.read_preface(timeout)
        self.answer_bytes = data
        self.transcript.add(self.label, "recv", "preface", data, describe_preface(data))
        try:
            return data, codec.decode_answer(data, self.offered)
        except ParleyError as err:
            return data, err

    def read_hello(self, timeout=None):
        """The HELLO the peer sent us (responder side): (bytes, fields or ParleyError)."""
        data = self.read_preface(timeout)
        self.hello_bytes = data
        self.transcript.add(self.label, "recv", "preface", data, describe_preface(data))
        try:
            fields = codec.decode_hello(data)
            self.offered = fields["majors"]
            return data, fields
        except ParleyError as err:
            return data, err

    def send_answer(self, data):
        self.answer_bytes = bytes(data)
        self.transcript.add(self.label, "sent", "preface", data, describe_preface(data))
        self.conn.send(data)

    # --- the handshake (chapter 2) ----------------------------------------------------

    def begin_handshake(self, prologue=None, static=None, payload=None, fields=None,
                        identity=None):
        """Set up our side of Noise XX. `prologue` defaults to HELLO || ACCEPT ([HS-2]);
        `payload` (bytes) replaces our identity payload; `fields` override advertised
        fields for this handshake."""
        if identity is not None:
            self.identity = identity
        if fields:
            self.fields.update(fields)
        if prologue is None:
            prologue = self.hello_bytes + self.answer_bytes
        self.hs = handshake.Handshake(self.initiator, self.identity, prologue,
                                      payload_fields=dict(self.fields), static=static)
        if payload is not None:
            self.hs.payload = RawPayload(payload)
        return self.hs

    def send_handshake_message(self, data=None, what=None):
        """Our next handshake message (or `data` in its place, framed by the caller)."""
        if data is None:
            index = self.hs.noise.message_index + 1
            data = self.hs.write_message()
            what = what or f"handshake message {index} ({len(data) - 2} bytes)"
        self.transcript.add(self.label, "sent", "handshake", data, what or "handshake bytes")
        self._tap_keys()
        self.conn.send(data)
        return data

    def read_handshake_frame(self, timeout=None):
        """The next framed handshake message (u16 length and body) as bytes."""
        head = self.conn.recv_exact(2, timeout)
        (length,) = struct.unpack(">H", head)
        body = self.conn.recv_exact(length, timeout)
        frame = head + body
        self.transcript.add(self.label, "recv", "handshake", frame,
                            f"handshake message ({length} bytes)")
        return frame

    def read_handshake_message(self, timeout=None):
        """Read and process the peer's next handshake message. Raises ParleyError with
        the close reason when it is invalid (the peer broke chapter 2)."""
        frame = self.read_handshake_frame(timeout)
        self.hs.read_message(frame)
        if self.hs.remote is not None and self.remote is None:
            self.remote = self.hs.remote
            fields = self.remote.to_fields()
            fields["signature"] = fields["signature"][:16] + "..."
            self.note(f"the peer's identity payload: {fields}")
        return frame

    def finish_handshake(self):
        """Switch to records once the handshake is complete."""
        result = self.hs.result()
        self.remote = result.remote
        self.channel = record.RecordChannel.from_handshake(result)
        self.rx = HarnessSession(max_tags=self.fields["max_tags"],
                                 max_message=self.fields["max_message"],
                                 reassembly_budget=self.fields["reassembly_budget"])
        self.rx.set_remote_limits(self.remote.max_tags, self.remote.max_message)
        self._tap_keys()
        self.note("handshake complete; records from now on")
        leftover = self.hs.leftover + bytes(self.conn.buffer)
        self.conn.buffer.clear()
        if leftover:
            self._take_bytes(leftover)
        return result

    def _tap_keys(self):
        """--pcap: give the connection's capture tap this handshake's keys (the harness's
        own ephemeral and static keys; the §3.3 lines once the handshake is complete)."""
        tap = getattr(self.conn, "tap", None)
        if tap is None or self.hs is None:
            return
        try:
            state = self.hs.noise
            if state.e is not None:
                tap.log_secrets("I" if self.initiator else "R", state.e, state.s)
            if self.channel is not None:
                result = self.hs.result()
                tap.log_keys(result.initiator_ephemeral, result.c1.k, result.c2.k)
        except Exception:  # a capture must never change what a test sees
            pass

    def handshake_as_initiator(self, majors=(codec.PROTOCOL_MAJOR,), **kwargs):
        """HELLO, ACCEPT, then the three Noise messages; raises Violation when the peer
        does not follow chapters 1 and 2."""
        self.send_hello(majors)
        try:
            _, answer = self.read_answer()
        except (net.Timeout, net.Closed) as exc:
            raise Violation("PRE-4", f"no ACCEPT for HELLO {list(majors)}: {exc}") from None
        if isinstance(answer, ParleyError) or answer["kind"] != "ACCEPT":
            raise Violation("PRE-4", f"HELLO {list(majors)} answered {answer}")
        self.begin_handshake(**kwargs)
        self.send_handshake_message()
        try:
            self.read_handshake_message()
        except ParleyError as err:
            raise Violation(PEER_PAYLOAD_RULES.get(err.name, "HS-1"),
                            f"the peer's message 2 is invalid: {err}") from None
        except (net.Timeout, net.Closed) as exc:
            raise Violation("HS-1", f"no handshake message 2: {exc}") from None
        self.send_handshake_message()
        self.finish_handshake()

    def handshake_as_responder(self, answer=None, **kwargs):
        """Read HELLO, answer ACCEPT 1 (or `answer`), then Noise XX as responder."""
        data, hello = self.read_hello()
        if isinstance(hello, ParleyError):
            raise Violation("PRE-1", f"the peer's HELLO {data.hex()} is invalid: {hello}")
        self.send_answer(answer if answer is not None else codec.encode_accept(1))
        self.begin_handshake(**kwargs)
        try:
            self.read_handshake_message()
        except ParleyError as err:
            raise Violation("HS-1", f"the peer's message 1 is invalid: {err}") from None
        self.send_handshake_message()
        try:
            self.read_handshake_message()
        except ParleyError as err:
            raise Violation(PEER_PAYLOAD_RULES.get(err.name, "HS-1"),
                            f"the peer's message 3 is invalid: {err}") from None
        self.finish_handshake()

    # --- records and frames (chapters 3 and 4) ----------------------------------------

    def seal(self, plaintext):
        """A record of `plaintext` under our sending key (advances our nonce); not sent.
        Any length, so that records below RECORD_MIN can be made too."""
        if record.PLAINTEXT_MIN <= len(plaintext) <= record.PLAINTEXT_MAX:
            return self.channel.seal(plaintext)
        ciphertext = self.channel.send.encrypt_with_ad(b"", bytes(plaintext))
        return struct.pack(">H", len(ciphertext) & 0xFFFF) + ciphertext

    def send_record(self, plaintext, tamper=None):
        """Seal `plaintext` into one record and send it; `tamper(record) -> bytes` may
        change the sealed bytes first."""
        for frame in codec.cut_frames(plaintext):
            self._note_sent_frame(frame)
        sealed = self.seal(plaintext)
        if tamper is not None:
            sealed = tamper(sealed)
        self.transcript.add(self.label, "sent", "record", sealed,
                            f"record of {len(plaintext)} plaintext bytes")
        self.conn.send(sealed)
        return sealed

    def send_frames(self, frames, pack=True):
        """Send whole frames: packed into as few records as fit, or one per record."""
        batch = b""
        for frame in frames:
            frame = bytes(frame)
            if not pack or len(batch) + len(frame) > record.PLAINTEXT_MAX:
                if batch:
                    self.send_record(batch)
                batch = b""
            batch += frame
        if batch:
            self.send_record(batch)

    def _note_sent_frame(self, frame):
        """Record a frame we send and expect an answer to each request we start."""
        compression = bool(self.rx and self.rx.compression)
        self.transcript.frame(self.label, "sent", frame, compression)
        if len(frame) < codec.FRAME_HEADER_LEN:
            return
        header = codec.parse_frame_header(frame)
        flags, tag = header["flags"], header["tag"]
        if flags & codec.FLAG_RESPONSE or tag == 0:
            return
        self.used_tags.add(tag)
        if self.manual_tags:
            return
        if flags & codec.FLAG_ABORT:
            if tag in self.sending:
                self.sending.discard(tag)
                self.pending[tag] -= 1
            return
        if tag not in self.sending:
            self.pending[tag] += 1
        if flags & codec.FLAG_MORE:
            self.sending.add(tag)
        else:
            self.sending.discard(tag)

    def await_answer(self, tag, count=1):
        """Expect `count` more answers on `tag` (with manual_tags, for odd frames)."""
        self.pending[tag] += count

    def new_tag(self):
        """A tag unused on this connection."""
        for tag in self._auto_tags:
            if tag not in self.used_tags and not self.pending[tag]:
                self.used_tags.add(tag)
                return tag
        raise RuntimeError("no free tag")

    def request(self, opcode, payload=b"", tag=None, flags=0, compress=None):
        """Send one request message (fragmented when over FRAME_MAX_PAYLOAD); returns its
        tag. `compress`: a setting name to compress the payload with."""
        tag = self.new_tag() if tag is None else tag
        if self.manual_tags and tag:
            self.await_answer(tag)
        payload = bytes(payload)
        if compress:
            payload = compress_any(compress, payload)
            flags |= codec.FLAG_COMPRESSED
        if len(payload) > codec.FRAME_MAX_PAYLOAD:
            self.send_frames(codec.encode_fragments(opcode, flags, tag, payload))
        else:
            self.send_frames([codec.encode_frame(opcode, flags, tag, payload)])
        return tag

    def ping(self, data=b"", tag=None):
        return self.request(codec.OP_PING, data, tag)

    # --- receiving --------------------------------------------------------------------

    def _take_bytes(self, data):
        """Open every whole record in the bytes received so far ([REC-1], [REC-4])."""
        reader = self.channel.reader
        reader.pending += data
        while len(reader.pending) >= record.LENGTH_LEN:
            (length,) = struct.unpack_from(">H", reader.pending)
            if len(reader.pending) - record.LENGTH_LEN < length:
                break
            sealed = bytes(reader.pending[:record.LENGTH_LEN + length])
            try:
                plaintext = reader.next_record()
            except ParleyError as err:
                self.transcript.add(self.label, "recv", "record", sealed, f"[{err.name}]")
                raise Violation("REC-1", f"a record from the peer does not open: {err}") \
                    from None
            self.transcript.add(self.label, "recv", "record", sealed,
                                f"record of {len(plaintext)} plaintext bytes")
            self.records_in.append(plaintext)
            self._take_plaintext(plaintext)

    def _take_plaintext(self, plaintext):
        pos = 0
        while pos < len(plaintext):
            rest = plaintext[pos:]
            if len(rest) < codec.FRAME_HEADER_LEN:
                raise Violation("REC-5", f"a record from the peer ends in {len(rest)} bytes "
                                         "that are not a whole frame header")
            end = codec.FRAME_HEADER_LEN + codec.parse_frame_header(rest)["length"]
            if end > len(rest):
                raise Violation("REC-5", "a frame from the peer runs past its record's end")
            self._take_frame(rest[:end])
            pos += end
        if not plaintext:
            raise Violation("REC-5", "an empty record plaintext from the peer")

    def _take_frame(self, frame):
        self.transcript.frame(self.label, "recv", frame, bool(self.rx.compression))
        header = codec.parse_frame_header(frame)
        self.headers_in.append(header)
        flags, tag = header["flags"], header["tag"]
        is_response = bool(flags & codec.FLAG_RESPONSE)
        if is_response and tag == 0:
            self._take_tag0_response(frame)
            return
        self.rx.our_requests = {t for t, n in self.pending.items() if n > 0}
        failed_before = len(self.rx.failed_requests)
        in_discard = (tag, is_response) in self.rx.discarding
        event = self.rx.receive_frame(frame)
        kind = event["event"]
        if kind == "response":
            self.pending[tag] -= 1
            self.inbox.append(event)
        elif kind == "ignored" and is_response and not in_discard:
            if len(self.rx.failed_requests) > failed_before:
                self.pending[tag] -= 1
                rule = "ACK-1" if header["opcode"] == codec.OP_ACK else "NACK-1"
                raise Violation(rule, f"invalid response on tag {tag}: "
                                      f"{describe_frame(frame, bool(self.rx.compression))}")
            if not flags & codec.FLAG_ABORT:
                raise Violation("TAG-2", f"a response on tag {tag}, where no request of ours "
                                         "awaits an answer (a second answer?)")
        elif kind == "message":
            self._take_peer_request(event)
        elif kind == "nack":
            self._take_invalid_frame(event, frame)
        elif kind == "close":
            raise Violation("REC-5", f"a frame from the peer closes the connection: "
                                     f"{event['reason']}")

    def _take_tag0_response(self, frame):
        """A NACK on tag 0 reports an error in a tag-0 request ([TAG-3])."""
        try:
            message = codec.decode_message(frame, bool(self.rx.compression))
        except (ParleyError, ValueError) as err:
            raise Violation("NACK-1", f"invalid response on tag 0: {err}") from None
        if message["opcode"] != codec.OP_NACK:
            raise Violation("TAG-3", "an ACK on tag 0: a tag-0 request is never ACKed")
        self.inbox.append({"event": "response", "tag": 0, "opcode": message["opcode"],
                           "body": message["body"]})

    def _take_peer_request(self, event):
        tag, opcode = event["tag"], event["opcode"]
        if self.peer_bye is not None:
            raise Violation("BYE-3", f"the peer sent {codec.OPCODE_NAMES.get(opcode, opcode)} "
                                     "after its BYE")
        self.peer_requests.append((tag, opcode, event["body"]))
        self.inbox.append(dict(event, event="request"))
        if opcode == codec.OP_BYE:
            self.peer_bye = event
        if not self.auto_answer or tag == 0:
            return
        if opcode == codec.OP_PING:
            self.answer(tag, codec.OP_ACK, {"req_opcode": opcode, "data": event["body"]["data"]})
        elif opcode == codec.OP_BYE:
            self.answer(tag, codec.OP_ACK, {"req_opcode": opcode})
        else:
            self.answer(tag, codec.OP_NACK, {"req_opcode": opcode,
                                             "code": NACK_CODES["UNSUPPORTED"],
                                             "text": "the harness serves PING and BYE only"})

    def answer(self, tag, opcode, body):
        """Send our response to the peer's request on `tag`."""
        payload = codec.encode_body(opcode, codec.FLAG_RESPONSE, body)
        self.rx.request_answered(tag)
        self.send_frames([codec.encode_frame(opcode, codec.FLAG_RESPONSE, tag, payload)])

    def _take_invalid_frame(self, event, frame):
        code = event["code"]
        text = describe_frame(frame, bool(self.rx.compression))
        if code in SENDER_RULES:
            raise Violation(SENDER_RULES[code], f"the peer sent an invalid frame ({code}): {text}")
        self.inbox.append(dict(event, event="refused"))
        self.answer(event["tag"], codec.OP_NACK,
                    {"req_opcode": event["req_opcode"], "code": NACK_CODES[code],
                     "text": f"harness: {code}"})

    def pump(self, deadline):
        """Read and process what arrives before `deadline` (at least one read).
        Raises net.Timeout or net.Closed."""
        data = self.conn.recv_some(deadline.left() or 0.001)
        self._take_bytes(data)

    # --- expectations -----------------------------------------------------------------

    def expect(self, match, what, req, timeout=None, consume=True):
        """The first event in the inbox that `match` accepts, reading more until the
        deadline. Other events stay in the inbox (allowed interleavings). Raises
        Violation(req) when the deadline passes or the connection closes first."""
        deadline = net.Deadline(net.scaled(timeout or net.DEFAULT_TIMEOUT))
        while True:
            for i, event in enumerate(self.inbox):
                if match(event):
                    if consume:
                        del self.inbox[i]
                    return event
            try:
                self.pump(deadline)
            except net.Timeout:
                waited = net.scaled(timeout or net.DEFAULT_TIMEOUT)
                raise Violation(req, f"no {what} within {waited:.1f} s; received meanwhile: "
                                     f"{self.describe_inbox()}") from None
            except net.Closed as exc:
                raise Violation(req, f"the connection closed ({exc.how}) before {what}; "
                                     f"received: {self.describe_inbox()}") from None

    def describe_inbox(self):
        if not self.inbox:
            return "nothing"
        return "; ".join(describe_event(e) for e in self.inbox[:8]) + \
            (f" (+{len(self.inbox) - 8} more)" if len(self.inbox) > 8 else "")

    def expect_response(self, tag, req, timeout=None, what=None):
        """The response (ACK or NACK) on `tag`."""
        return self.expect(lambda e: e["event"] == "response" and e["tag"] == tag,
                           what or f"response on tag {tag}", req, timeout)

    def expect_ack(self, tag, req, req_opcode=None, timeout=None):
        """The ACK on `tag` (its body); a NACK there is a Violation(req)."""
        event = self.expect_response(tag, req, timeout, f"ACK on tag {tag}")
        if event["opcode"] != codec.OP_ACK:
            raise Violation(req, f"NACK where an ACK was due on tag {tag}: "
                                 f"{describe_event(event)}")
        body = event["body"]
        if req_opcode is not None and body["req_opcode"] != req_opcode:
            raise Violation("ACK-1", f"ACK on tag {tag} carries req_opcode {body['req_opcode']}, "
                                     f"not {req_opcode}")
        return body

    def expect_nack(self, tag, code, req, req_opcode=None, timeout=None):
        """The NACK with `code` (a registry name) on `tag`; anything else is Violation(req)."""
        event = self.expect_response(tag, req, timeout, f"NACK {code} on tag {tag}")
        body = event["body"]
        if event["opcode"] != codec.OP_NACK:
            raise Violation(req, f"ACK where NACK {code} was due on tag {tag}: "
                                 f"{describe_event(event)}")
        got = NACK_NAMES.get(body["code"], body["code"])
        if got != code:
            raise Violation(req, f"NACK {got} where NACK {code} was due on tag {tag} "
                                 f"(text {body['text']!r})")
        if req_opcode is not None and body["req_opcode"] != req_opcode:
            raise Violation("FRAME-8", f"NACK on tag {tag} carries req_opcode "
                                       f"{body['req_opcode']}, not {req_opcode}")
        return body

    def roundtrip(self, req, data=b"sync", timeout=None):
        """A PING on a fresh tag and its ACK echo: the connection is alive and has
        answered everything sent before (for a peer that answers in order)."""
        tag = self.ping(data)
        body = self.expect_ack(tag, req, codec.OP_PING, timeout)
        if body.get("data") != data:
            raise Violation("PING-1", f"ACK to PING echoes {body.get('data')!r}, not {data!r}")
        return tag

    def sync(self, req="ERR-2", timeout=None):
        """roundtrip(), then every event that arrived before its ACK (removed from the
        inbox)."""
        self.roundtrip(req, timeout=timeout)
        events, self.inbox = self.inbox, []
        return events

    def expect_close(self, req, timeout=None, what="the connection to close"):
        """Wait until the peer closes (FIN or reset: both pass); frames it sends before are
        processed. Returns how it closed."""
        deadline = net.Deadline(net.scaled(timeout or net.DEFAULT_TIMEOUT))
        while True:
            try:
                if self.channel is None:
                    data = self.conn.recv_some(deadline.left() or 0.001)
                    self.transcript.add(self.label, "recv", "raw", data, f"{len(data)} bytes")
                    self.inbox.append({"event": "bytes", "data": data})
                else:
                    self.pump(deadline)
            except net.Closed as exc:
                self.note(f"the peer closed the connection ({exc.how})")
                return exc.how
            except net.Timeout:
                raise Violation(req, f"{what}: still open after "
                                     f"{net.scaled(timeout or net.DEFAULT_TIMEOUT):.1f} s; "
                                     f"received: {self.describe_inbox()}") from None

    def expect_closed_silently(self, req, timeout=None, what="close without sending"):
        """The peer closes without sending one more byte."""
        deadline = net.Deadline(net.scaled(timeout or net.DEFAULT_TIMEOUT))
        try:
            how, received = self.conn.wait_closed(deadline.left())
        except net.Timeout as exc:
            raise Violation(req, f"{what}: still open after "
                                 f"{net.scaled(timeout or net.DEFAULT_TIMEOUT):.1f} s "
                                 f"(received {exc.received.hex() or 'nothing'})") from None
        if received:
            self.transcript.add(self.label, "recv", "raw", received, f"{len(received)} bytes")
            raise Violation(req, f"{what}: the peer sent {len(received)} bytes "
                                 f"({received[:64].hex()}) before closing")
        self.note(f"the peer closed the connection ({how}) without sending anything")
        return how


def describe_event(event):
    kind = event["event"]
    if kind == "response":
        name = codec.OPCODE_NAMES.get(event["opcode"], event["opcode"])
        body = describe_body(event["opcode"], codec.FLAG_RESPONSE, event["body"])
        return f"{name} tag={event['tag']} {body}"
    if kind == "request":
        name = codec.OPCODE_NAMES.get(event["opcode"], event["opcode"])
        return f"request {name} tag={event['tag']}"
    if kind == "bytes":
        return f"{len(event['data'])} raw bytes"
    return str(event)
