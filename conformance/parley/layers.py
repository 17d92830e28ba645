"""Scapy layers for Parley: the preface messages, the frame header and every normative
message of spec chapter 5, so that frames can be built and dissected in scapy:

    >>> bytes(ParleyFrame(tag=1) / ParleyPing(data=b"x"))      # opcode and length filled
    b'\\x02\\x00\\x00\\x01\\x00\\x00\\x00\\x01x'
    >>> ParleyFrame(bytes.fromhex("0200000100000001" "78")).show()

Field layouts follow codec.py, the one codec of this package; the constants (opcodes,
flags, lengths, names) are codec's. tests/test_layers.py checks that these layers and
codec produce identical bytes for every valid vector.

A frame's payload layer is chosen from opcode and flags alone: a request frame by its
opcode, a response frame as ACK or NACK, an ACK body by its req_opcode. A fragment (MORE),
an ABORT and a compressed payload are dissected as Raw: their meaning needs the state that
session.Session keeps (a last fragment, which has MORE clear, looks like a whole message;
use `decode_payload_as` when you know better).
"""

import socket

from scapy.fields import (ByteEnumField, ByteField, FieldLenField, FieldListField,
                          FlagsField, IntField, IP6Field, IPField, LongField,
                          MultipleTypeField, PacketListField, ShortEnumField,
                          ShortField, StrField, StrFixedLenField, StrLenField)
from scapy.packet import Packet, Raw, bind_layers

from . import codec
from .errors import NACK_NAMES

FAMILY_NAMES = {codec.FAMILY_IPV4: "IPv4", codec.FAMILY_IPV6: "IPv6"}
PEER_FLAG_NAMES = ["OUTBOUND", "RESERVED1", "RESERVED2", "RESERVED3",
                   "RESERVED4", "RESERVED5", "RESERVED6", "RESERVED7"]


def _text_field(name):
    """A spec `text`: u16 length, then the bytes (§0.2)."""
    return [
        FieldLenField(name + "_length", None, length_of=name, fmt="!H"),
        StrLenField(name, b"", length_from=lambda p: getattr(p, name + "_length")),
    ]


# ---------------------------------------------------------------------------
# Preface (spec chapter 1)

class ParleyHello(Packet):
    name = "Parley HELLO"
    fields_desc = [
        StrFixedLenField("magic", codec.MAGIC, len(codec.MAGIC)),
        ByteEnumField("kind", codec.KIND_HELLO, codec.KIND_NAMES),
        FieldLenField("count", None, count_of="majors", fmt="B"),
        FieldListField("majors", [codec.PROTOCOL_MAJOR], ByteField("major", 0),
                       count_from=lambda p: p.count),
    ]


class ParleyAccept(Packet):
    name = "Parley ACCEPT"
    fields_desc = [
        StrFixedLenField("magic", codec.MAGIC, len(codec.MAGIC)),
        ByteEnumField("kind", codec.KIND_ACCEPT, codec.KIND_NAMES),
        ByteField("major", codec.PROTOCOL_MAJOR),
    ]


class ParleyRefuse(Packet):
    name = "Parley REFUSE"
    fields_desc = [
        StrFixedLenField("magic", codec.MAGIC, len(codec.MAGIC)),
        ByteEnumField("kind", codec.KIND_REFUSE, codec.KIND_NAMES),
        FieldLenField("count", None, count_of="majors", fmt="B"),
        FieldListField("majors", [codec.PROTOCOL_MAJOR], ByteField("major", 0),
                       count_from=lambda p: p.count),
    ]


PREFACE_LAYERS = {codec.KIND_HELLO: ParleyHello, codec.KIND_ACCEPT: ParleyAccept,
                  codec.KIND_REFUSE: ParleyRefuse}


class ParleyPreface(Packet):
    """Dissects any preface message: ParleyPreface(data) is a HELLO, ACCEPT or REFUSE
    layer chosen by the kind byte (a bare ParleyPreface for an unknown kind)."""
    name = "Parley preface"
    fields_desc = [
        StrFixedLenField("magic", codec.MAGIC, len(codec.MAGIC)),
        ByteEnumField("kind", codec.KIND_HELLO, codec.KIND_NAMES),
    ]

    @classmethod
    def dispatch_hook(cls, _pkt=None, *args, **kargs):
        kind_offset = len(codec.MAGIC)
        if _pkt and len(_pkt) > kind_offset:
            return PREFACE_LAYERS.get(_pkt[kind_offset], cls)
        return cls


# ---------------------------------------------------------------------------
# Frame header (spec §4.1)

class ParleyFrame(Packet):
    """The 8-byte frame header; `length` is filled from the payload when left unset."""
    name = "Parley frame"
    fields_desc = [
        ByteEnumField("opcode", codec.OP_PING, codec.OPCODE_NAMES),
        FlagsField("flags", 0, 8, codec.FLAG_NAMES),
        ShortField("tag", 0),
        IntField("length", None),
    ]

    def post_build(self, pkt, pay):
        if self.length is None:
            pkt = pkt[:4] + len(pay).to_bytes(4, "big") + pkt[8:]
        return pkt + pay

    def extract_padding(self, s):
        # The payload is `length` bytes; what follows is the next frame of the record.
        return s[:self.length], s[self.length:]

    def guess_payload_class(self, payload):
        flags = int(self.flags)
        if flags & (codec.FLAG_MORE | codec.FLAG_ABORT | codec.FLAG_COMPRESSED):
            return Raw
        if flags & codec.FLAG_RESPONSE:
            return RESPONSE_LAYERS.get(self.opcode, Raw)
        return REQUEST_LAYERS.get(self.opcode, Raw)


class ParleyFirstFragment(Packet):
    """The payload of a first fragment (§4.3): total, then data. Not bound by opcode; use
    ParleyFrame(opcode=..., flags="MORE", tag=...) / ParleyFirstFragment(...)."""
    name = "Parley first fragment"
    fields_desc = [
        IntField("total", None),
        StrField("data", b""),
    ]

    def post_build(self, pkt, pay):
        if self.total is None:  # a message in one fragment
            pkt = len(self.data).to_bytes(4, "big") + pkt[4:]
        return pkt + pay


class ParleyRecordPlaintext(Packet):
    """A record plaintext: whole frames one after another (§3.1)."""
    name = "Parley record plaintext"
    fields_desc = [PacketListField("frames", [], ParleyFrame)]


# ---------------------------------------------------------------------------
# Messages (spec chapter 5)

class ParleyPing(Packet):
    """PING data (§5.4); also the body of an ACK to a PING."""
    name = "Parley PING"
    fields_desc = [StrField("data", b"")]


class ParleySetConnectionOpt(Packet):
    """SET_CONNECTION_OPT (§5.9); also the body of its ACK."""
    name = "Parley SET_CONNECTION_OPT"
    fields_desc = [
        ByteEnumField("option", codec.OPT_COMPRESSION, codec.OPTION_NAMES),
        ByteEnumField("setting", codec.SETTING_ZLIB, codec.SETTING_NAMES),
    ]


class ParleyBye(Packet):
    """BYE (§5.5)."""
    name = "Parley BYE"
    fields_desc = [ShortEnumField("reason", codec.BYE_NORMAL, codec.BYE_REASON_NAMES)]
    fields_desc += _text_field("text")


class ParleyPeersRequest(Packet):
    """PEERS request: empty (§5.6)."""
    name = "Parley PEERS"
    fields_desc = []


class ParleyShutdown(Packet):
    """SHUTDOWN request: empty (§5.7)."""
    name = "Parley SHUTDOWN"
    fields_desc = []


class ParleyStatsRequest(Packet):
    """STATS request: empty (§5.8)."""
    name = "Parley STATS"
    fields_desc = []


class ParleyNack(Packet):
    """NACK (§5.3)."""
    name = "Parley NACK"
    fields_desc = [
        ByteEnumField("req_opcode", codec.OP_PING, codec.OPCODE_NAMES),
        ShortEnumField("code", 1, NACK_NAMES),
    ]
    fields_desc += _text_field("text")


class ParleyPeerEntry(Packet):
    """One entry of the PEERS ACK body (§5.6)."""
    name = "Parley peer"
    fields_desc = [
        StrFixedLenField("node_id", bytes(codec.NODE_ID_LEN), codec.NODE_ID_LEN),
        ByteEnumField("family", codec.FAMILY_IPV4, FAMILY_NAMES),
        MultipleTypeField(
            [(IP6Field("address", "::"), lambda p: p.family == codec.FAMILY_IPV6)],
            IPField("address", "0.0.0.0")),
        ShortField("port", 0),
        FlagsField("flags", 0, 8, PEER_FLAG_NAMES),
    ]

    def extract_padding(self, s):
        return b"", s


class ParleyPeerList(Packet):
    """The body of an ACK to PEERS (§5.6)."""
    name = "Parley peer list"
    fields_desc = [
        FieldLenField("count", None, count_of="peers", fmt="!H"),
        PacketListField("peers", [], ParleyPeerEntry, count_from=lambda p: p.count),
    ]


class ParleyStatsCounter(Packet):
    """One (id, value) of the STATS ACK body (§5.8)."""
    name = "Parley counter"
    fields_desc = [
        ShortEnumField("id", 1, codec.STATS_COUNTER_NAMES),
        LongField("value", 0),
    ]

    def extract_padding(self, s):
        return b"", s


class ParleyStatsList(Packet):
    """The body of an ACK to STATS (§5.8)."""
    name = "Parley counter list"
    fields_desc = [
        FieldLenField("count", None, count_of="counters", fmt="!H"),
        PacketListField("counters", [], ParleyStatsCounter, count_from=lambda p: p.count),
    ]


class ParleyAck(Packet):
    """ACK (§5.2): req_opcode, then the body layer for that opcode."""
    name = "Parley ACK"
    fields_desc = [ByteEnumField("req_opcode", codec.OP_PING, codec.OPCODE_NAMES)]

    def guess_payload_class(self, payload):
        return ACK_BODY_LAYERS.get(self.req_opcode, Raw)


REQUEST_LAYERS = {
    codec.OP_PING: ParleyPing,
    codec.OP_SET_CONNECTION_OPT: ParleySetConnectionOpt,
    codec.OP_BYE: ParleyBye,
    codec.OP_PEERS: ParleyPeersRequest,
    codec.OP_SHUTDOWN: ParleyShutdown,
    codec.OP_STATS: ParleyStatsRequest,
}
RESPONSE_LAYERS = {codec.OP_ACK: ParleyAck, codec.OP_NACK: ParleyNack}
ACK_BODY_LAYERS = {
    codec.OP_PING: ParleyPing,
    codec.OP_SET_CONNECTION_OPT: ParleySetConnectionOpt,
    codec.OP_PEERS: ParleyPeerList,
    codec.OP_STATS: ParleyStatsList,
}

# Building: `ParleyFrame() / ParleyPing()` sets the opcode (and RESPONSE for ACK and
# NACK); `ParleyAck() / ParleyPeerList()` sets req_opcode. Dissection goes through the
# guess_payload_class methods above.
for _opcode, _layer in REQUEST_LAYERS.items():
    bind_layers(ParleyFrame, _layer, opcode=_opcode)
for _opcode, _layer in RESPONSE_LAYERS.items():
    bind_layers(ParleyFrame, _layer, opcode=_opcode, flags=codec.FLAG_RESPONSE)
for _opcode, _layer in ACK_BODY_LAYERS.items():
    bind_layers(ParleyAck, _layer, req_opcode=_opcode)


# ---------------------------------------------------------------------------
# From codec's dicts to layers

def _address_text(family, address):
    """A PEERS address as the IP field wants it."""
    if family == codec.FAMILY_IPV6:
        return socket.inet_ntop(socket.AF_INET6, bytes(address))
    return socket.inet_ntop(socket.AF_INET, bytes(address))


def _text_bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def body_packet(opcode, flags, body):
    """The payload layer(s) for a codec message body (codec.decode_body's output)."""
    if flags & codec.FLAG_RESPONSE and opcode == codec.OP_NACK:
        return ParleyNack(req_opcode=body["req_opcode"], code=body["code"],
                          text=_text_bytes(body["text"]))
    if flags & codec.FLAG_RESPONSE and opcode == codec.OP_ACK:
        req_opcode = body["req_opcode"]
        ack = ParleyAck(req_opcode=req_opcode)
        if req_opcode == codec.OP_PEERS:
            entries = [ParleyPeerEntry(node_id=p["node_id"], family=p["family"],
                                       address=_address_text(p["family"], p["address"]),
                                       port=p["port"], flags=p["flags"])
                       for p in body["peers"]]
            return ack / ParleyPeerList(peers=entries)
        if req_opcode == codec.OP_STATS:
            counters = [ParleyStatsCounter(id=c["id"], value=c["value"])
                        for c in body["counters"]]
            return ack / ParleyStatsList(counters=counters)
        if req_opcode == codec.OP_SET_CONNECTION_OPT:
            return ack / ParleySetConnectionOpt(option=body["option"],
                                                setting=body["setting"])
        if req_opcode == codec.OP_PING:
            return ack / ParleyPing(data=body["data"])
        if "data" in body:  # a draft opcode's opaque body
            return ack / Raw(load=body["data"])
        return ack
    if opcode == codec.OP_PING:
        return ParleyPing(data=body["data"])
    if opcode == codec.OP_SET_CONNECTION_OPT:
        return ParleySetConnectionOpt(option=body["option"], setting=body["setting"])
    if opcode == codec.OP_BYE:
        return ParleyBye(reason=body["reason"], text=_text_bytes(body["text"]))
    if opcode in REQUEST_LAYERS:
        return REQUEST_LAYERS[opcode]()
    return Raw(load=body.get("data", b""))


def message_packet(message):
    """The scapy frame of a codec message dict ({"opcode", "flags", "tag", "body"}).

    A COMPRESSED message's payload is codec.compress of the body's bytes, as Raw.
    """
    opcode, flags = message["opcode"], message["flags"]
    frame = ParleyFrame(opcode=opcode, flags=flags, tag=message["tag"])
    body = body_packet(opcode, flags, message["body"])
    if flags & codec.FLAG_COMPRESSED:
        return frame / Raw(load=codec.compress(bytes(body)))
    return frame / body


def preface_packet(fields):
    """The scapy layer of a codec preface dict (decode_hello/decode_answer output)."""
    if fields["kind"] == "ACCEPT":
        return ParleyAccept(major=fields["major"])
    layer = ParleyHello if fields["kind"] == "HELLO" else ParleyRefuse
    return layer(majors=list(fields["majors"]))


# ---------------------------------------------------------------------------
# From layers back to codec's dicts

def _address_bytes(entry):
    if entry.family == codec.FAMILY_IPV6:
        return socket.inet_pton(socket.AF_INET6, entry.address)
    return socket.inet_pton(socket.AF_INET, entry.address)


def message_fields(frame):
    """The codec message dict read off a dissected single-frame, uncompressed ParleyFrame.

    Only the layers are read (no codec decoder runs), so comparing the result with
    codec.decode_message checks the layers' dissection. Texts are decoded as UTF-8 with
    replacement; a Raw payload becomes {"data": ...}.
    """
    opcode, flags = frame.opcode, int(frame.flags)
    body_layer = frame.payload
    if isinstance(body_layer, ParleyAck):
        body = {"req_opcode": body_layer.req_opcode}
        inner = body_layer.payload
        if isinstance(inner, ParleyPeerList):
            body["peers"] = [{"node_id": bytes(p.node_id), "family": p.family,
                              "address": _address_bytes(p), "port": p.port,
                              "flags": int(p.flags)} for p in inner.peers]
        elif isinstance(inner, ParleyStatsList):
            body["counters"] = [{"id": c.id, "value": c.value} for c in inner.counters]
        elif isinstance(inner, ParleySetConnectionOpt):
            body.update({"option": inner.option, "setting": inner.setting})
        elif body["req_opcode"] not in (codec.OP_BYE, codec.OP_SHUTDOWN):
            body["data"] = bytes(inner)  # PING data or a draft's opaque body
        return {"opcode": opcode, "flags": flags, "tag": frame.tag, "body": body}
    if isinstance(body_layer, ParleyNack):
        body = {"req_opcode": body_layer.req_opcode, "code": body_layer.code,
                "text": body_layer.text.decode("utf-8", "replace")}
    elif isinstance(body_layer, ParleyBye):
        body = {"reason": body_layer.reason,
                "text": body_layer.text.decode("utf-8", "replace")}
    elif isinstance(body_layer, ParleySetConnectionOpt):
        body = {"option": body_layer.option, "setting": body_layer.setting}
    elif opcode in codec.ADMIN_OPCODES:
        body = {}
    else:  # PING data (no layer when empty), or an opaque payload
        body = {"data": bytes(body_layer)}
    return {"opcode": opcode, "flags": flags, "tag": frame.tag, "body": body}
