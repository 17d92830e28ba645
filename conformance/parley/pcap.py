"""TCP conversations to and from pcap files, with scapy.

Writing: the harness never captures with root privileges. It knows every byte it sent and
received on its own sockets, and when each connection opened and closed, so it rebuilds
the packets a capture on the loopback interface would have shown: Ether / IP (or IPv6) /
TCP with the real addresses and ports, a three-way handshake, sequence and
acknowledgement numbers that follow the bytes of each direction, data segments of at most
MSS bytes, FIN or RST as the connection ended. A `Conversation` holds that history;
`write_pcap` turns conversations into one pcap file, packets in time order.

Reading: `read_pcap` takes any pcap of TCP traffic (ours, or tcpdump's on `lo`) and
reassembles each connection into its two byte streams by sequence number, keeping for
every stretch of bytes the packet that carried it (so records of both directions can be
put back in the order they travelled). It never raises on a damaged capture: a file cut
short, a missing segment or a connection seen from its middle is reported in `warnings`
and the bytes before the damage are kept.
"""

import bisect
import struct
import zlib

from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import PcapReader, wrpcap

MSS = 65000  # every frame stays within the 65535-byte snap length of a pcap file
MAC = "00:00:00:00:00:00"
SEQ_MOD = 1 << 32

# Conversation events: (time, kind, data)
SENT, RECEIVED = "sent", "recv"
FIN_LOCAL, FIN_REMOTE, RST_LOCAL, RST_REMOTE = "fin_local", "fin_remote", "rst_local", "rst_remote"


class Conversation:
    """One TCP connection as one endpoint (`local`) lived it.

    `local`, `remote`: (host, port); `dialled`: True when `local` opened the connection
    (it sent the SYN); `opened`: when (time.time()); `events`: (time, kind, data) in order,
    kind one of SENT, RECEIVED (data: the bytes), FIN_LOCAL, FIN_REMOTE, RST_LOCAL,
    RST_REMOTE."""

    def __init__(self, local, remote, dialled, opened, events=()):
        self.local = tuple(local)
        self.remote = tuple(remote)
        self.dialled = dialled
        self.opened = opened
        self.events = list(events)

    @property
    def client(self):
        return self.local if self.dialled else self.remote

    @property
    def server(self):
        return self.remote if self.dialled else self.local


def _isn(src, dst):
    """An initial sequence number: fixed per address pair, so a capture reads the same
    however often the same traffic is written."""
    return zlib.crc32(f"{src[0]}:{src[1]}>{dst[0]}:{dst[1]}".encode()) & 0xFFFFFFFF


def _packet(when, src, dst, flags, seq, ack, payload=b""):
    ip = IPv6(src=src[0], dst=dst[0]) if ":" in src[0] else IP(src=src[0], dst=dst[0])
    pkt = Ether(src=MAC, dst=MAC, type=0x86DD if ":" in src[0] else 0x0800) / ip / TCP(
        sport=src[1], dport=dst[1], flags=flags, seq=seq % SEQ_MOD, ack=ack % SEQ_MOD,
        window=65535)
    if payload:
        pkt = pkt / Raw(bytes(payload))
    pkt.time = when
    return pkt


def conversation_packets(conv):
    """The packets of one conversation, in its own order."""
    local, remote = conv.local, conv.remote
    nxt = {local: _isn(local, remote), remote: _isn(remote, local)}
    client, server = conv.client, conv.server
    t0 = conv.opened
    out = [_packet(t0, client, server, "S", nxt[client], 0),
           _packet(t0 + 1e-6, server, client, "SA", nxt[server], nxt[client] + 1),
           _packet(t0 + 2e-6, client, server, "A", nxt[client] + 1, nxt[server] + 1)]
    nxt[client] += 1
    nxt[server] += 1
    ended = set()
    for when, kind, data in conv.events:
        src, dst = (local, remote) if kind in (SENT, FIN_LOCAL, RST_LOCAL) else (remote, local)
        if src in ended:
            continue
        if kind in (SENT, RECEIVED):
            for start in range(0, len(data), MSS):
                chunk = data[start:start + MSS]
                out.append(_packet(when, src, dst, "PA", nxt[src], nxt[dst], chunk))
                nxt[src] += len(chunk)
        elif kind in (FIN_LOCAL, FIN_REMOTE):
            out.append(_packet(when, src, dst, "FA", nxt[src], nxt[dst]))
            nxt[src] += 1
            ended.add(src)
            if dst not in ended:  # the other side's kernel acknowledges the FIN
                out.append(_packet(when, dst, src, "A", nxt[dst], nxt[src]))
        else:
            out.append(_packet(when, src, dst, "R", nxt[src], 0))
            ended.update((src, dst))
    return out


def write_pcap(path, conversations):
    """Write the conversations' packets to `path`, merged in time order; returns the
    number of packets."""
    packets = []
    for conv in conversations:
        packets.extend(conversation_packets(conv))
    packets.sort(key=lambda p: float(p.time))
    wrpcap(path, packets)
    return len(packets)


# --- reading --------------------------------------------------------------------------


class Direction:
    """One direction of a TCP connection as reassembled from a capture.

    `data`: the contiguous bytes from the start of the stream (up to the first gap);
    `chunks`: (offset, length, packet index, time) of the segments that carried them, in
    stream order; `fin`, `rst`: (packet index, time) when seen; `gap`: where bytes went
    missing (the stream offset), else None; `from_start`: the SYN was in the capture."""

    def __init__(self):
        self.base = None  # the sequence number of stream offset 0
        self.segments = {}  # relative offset -> (bytes, packet index, time), first seen
        self.data = b""
        self.chunks = []
        self.fin = None
        self.rst = None
        self.gap = None
        self.from_start = False
        self.packets = 0

    def when(self, offset):
        """(packet index, time) of the segment holding stream byte `offset` (the last
        byte of something: it has arrived once that packet did)."""
        starts = [c[0] for c in self.chunks]
        i = bisect.bisect_right(starts, offset) - 1
        if i < 0:
            return (None, None)
        return self.chunks[i][2], self.chunks[i][3]

    def _assemble(self):
        out = bytearray()
        for rel in sorted(self.segments):
            payload, index, when = self.segments[rel]
            end = rel + len(payload)
            if end <= len(out):
                continue  # a retransmission of bytes we have
            if rel > len(out):
                self.gap = len(out)
                break
            fresh = payload[len(out) - rel:]
            self.chunks.append((len(out), len(fresh), index, when))
            out += fresh
        self.data = bytes(out)
        del self.segments


class TcpStream:
    """A TCP connection found in a capture: `client` and `server` (host, port; the
    client sent the SYN, or without one the first packet), the two Directions
    (`c2s`, `s2c`), `first` (packet index, time) of its first packet."""

    def __init__(self, index, client, server, first):
        self.index = index
        self.client = client
        self.server = server
        self.first = first
        self.c2s = Direction()
        self.s2c = Direction()
        self.ended = False

    def direction(self, src):
        return self.c2s if src == self.client else self.s2c


def _endpoints(pkt):
    for layer in (IP, IPv6):
        if layer in pkt:
            ip = pkt[layer]
            tcp = pkt[TCP]
            return (str(ip.src), int(tcp.sport)), (str(ip.dst), int(tcp.dport))
    return None


class Capture:
    """What read_pcap found: `streams` (TcpStream, in the order they started),
    `packets` (count), `warnings` (texts)."""

    def __init__(self, path):
        self.path = path
        self.streams = []
        self.packets = 0
        self.warnings = []


def read_pcap(path):
    """Every TCP connection of the pcap at `path`, reassembled; never raises for a
    damaged file (see Capture.warnings). Raises OSError when it cannot be opened."""
    capture = Capture(path)
    by_pair = {}
    try:
        reader = PcapReader(path)
    except OSError:
        raise
    except Exception as exc:  # scapy: not a pcap file at all
        capture.warnings.append(f"not a readable pcap file: {exc}")
        return capture
    index = 0
    try:
        for pkt in reader:
            index += 1
            _take_packet(capture, by_pair, pkt, index)
    except Exception as exc:  # a file cut inside a packet record, or garbage
        capture.warnings.append(f"the capture file is cut short or damaged after "
                                f"packet {index}: {type(exc).__name__}: {exc}")
    finally:
        try:
            reader.close()
        except Exception:
            pass
    capture.packets = index
    problem = _check_records(path)
    if problem:
        capture.warnings.append(problem)
    for stream in capture.streams:
        for name, d in (("client to server", stream.c2s), ("server to client", stream.s2c)):
            d._assemble()
            if d.gap is not None:
                capture.warnings.append(
                    f"connection {stream.index}: bytes missing {name} after stream "
                    f"offset {d.gap}; what follows the gap is not shown")
            if not d.from_start and d.packets:
                capture.warnings.append(
                    f"connection {stream.index}: no SYN {name}; the stream may have "
                    "started before the capture")
    return capture


PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
               b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}


def _check_records(path):
    """Walk the record headers of a classic pcap file: the file must end exactly after a
    whole packet record, and no packet may be shorter than it was on the wire (a snap
    length). Returns a warning, or None (pcapng files are not walked)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    order = PCAP_MAGICS.get(data[:4])
    if order is None:
        return None if data[:4] == b"\x0a\x0d\x0d\x0a" else "not a pcap file"
    if len(data) < 24:
        return "the capture file is cut short inside its header"
    pos, count, snapped = 24, 0, 0
    while pos < len(data):
        if len(data) - pos < 16:
            return f"the capture file is cut short after packet {count} (a record header)"
        incl, orig = struct.unpack_from(order + "II", data, pos + 8)
        if len(data) - pos - 16 < incl:
            return (f"the capture file is cut short inside packet {count + 1}: "
                    f"{len(data) - pos - 16} of its {incl} bytes")
        snapped += incl < orig
        pos += 16 + incl
        count += 1
    if snapped:
        return f"{snapped} packets were captured shorter than they were (snap length)"
    return None


def _take_packet(capture, by_pair, pkt, index):
    if TCP not in pkt:
        return
    ends = _endpoints(pkt)
    if ends is None:
        return
    src, dst = ends
    tcp = pkt[TCP]
    flags = int(tcp.flags)
    syn, ack, fin, rst = flags & 0x02, flags & 0x10, flags & 0x01, flags & 0x04
    when = float(pkt.time)
    key = frozenset((src, dst))
    stream = by_pair.get(key)
    if stream is not None and syn and not ack and stream.c2s.packets + stream.s2c.packets > 2:
        stream = None  # the address pair is used again: a new connection
    if stream is None:
        client, server = (dst, src) if syn and ack else (src, dst)
        stream = TcpStream(len(capture.streams) + 1, client, server, (index, when))
        capture.streams.append(stream)
        by_pair[key] = stream
    d = stream.direction(src)
    d.packets += 1
    seq = int(tcp.seq)
    if syn:
        d.base = (seq + 1) % SEQ_MOD
        d.from_start = True
    payload = _tcp_payload(pkt, tcp)
    if d.base is None and (payload or fin):
        d.base = seq
    if payload:
        rel = (seq - d.base) % SEQ_MOD
        if rel < (1 << 31) and rel not in d.segments:
            d.segments[rel] = (payload, index, when)
    if fin and d.fin is None:
        d.fin = (index, when)
    if rst and d.rst is None:
        d.rst = (index, when)


def _tcp_payload(pkt, tcp):
    """The TCP payload, without the link layer's padding (the IP length says where the
    segment ends); shorter when the capture's snap length cut it."""
    raw = bytes(tcp.payload)
    try:
        if IP in pkt:
            ip = pkt[IP]
            size = int(ip.len) - int(ip.ihl) * 4 - int(tcp.dataofs) * 4
        else:
            size = int(pkt[IPv6].plen) - int(tcp.dataofs) * 4
    except (TypeError, ValueError):
        return raw
    return raw[:max(size, 0)]
