"""A captured Parley session, decrypted and decoded: what tools/pcap-show prints.

Input: a pcap (pcap.read_pcap reassembles each TCP connection) and key-log text
(spec §3.3). For each connection:

  1. the preface: HELLO, then ACCEPT or REFUSE (chapter 1);
  2. the three Noise XX handshake messages, framed by their u16 length (§2.1): their
     lengths and the ephemeral keys that travel in clear. The identity payloads of
     messages 2 and 3 are encrypted under handshake keys that the §3.3 key log does not
     hold; the harness also logs, as a comment line that §3.3 readers skip,

        # PARLEY_HARNESS_SECRETS <I|R> <eph public> <eph private> <static private>

     for every handshake it ran (its own keys of that one session, never the peer's),
     and with those the handshake is replayed from the harness's side and both identity
     payloads are decoded, their signatures checked;
  3. the records of each direction, opened with the PARLEY_I2R / PARLEY_R2I keys of the
     session (named by the initiator's ephemeral key, the 32 bytes of message 1), nonces
     counting from 0 ([REC-1]); without the key log's lines, with the keys the replayed
     handshake derives;
  4. every frame of every record: header (opcode and flag names, tag, length), the
     fragment it is, what a receiver does with an invalid header (§4.5 step 2), and for
     each complete message (fragments reassembled, decompressed once a COMPRESSION option
     was acknowledged) its decoded body, with NACK codes, opcodes, options and STATS
     counters by name.

Records, prefaces and handshake messages of both directions are put back in the order
they travelled (the packet that carried their last byte). Nothing here raises on a bad
capture or a missing key: each problem becomes a note and the rest is still decoded.

`dissect_file(pcap_path, keylog)` gives a JSON-able dict; `render_text(result)` the text
pcap-show prints.
"""

import bz2
import lzma
import socket
import struct
import zlib

from . import codec, handshake, noise, record
from .errors import NACK_NAMES, ParleyError
from .pcap import read_pcap

HARNESS_SECRETS = "PARLEY_HARNESS_SECRETS"
MAX_MESSAGE = codec.DEFAULT_MAX_MESSAGE  # decompression stops here ([OPT-6])
TEXT_HEX_MAX = 48  # bytes of a long byte field the text output shows

I2R, R2I = "i2r", "r2i"
ARROW = {I2R: "I->R", R2I: "R->I"}


# --- the key log ------------------------------------------------------------------------


class KeyLog:
    """Key-log lines from any number of files, read leniently (a bad line is a warning):
    `sessions` {initiator ephemeral: {"i2r": key, "r2i": key}} and the harness's
    `secrets` {its ephemeral public key: {"role": "I"|"R", "e": private, "s": private}}."""

    def __init__(self):
        self.sessions = {}
        self.secrets = {}
        self.labels = {}  # (client, server) -> the harness's name for the connection
        self.warnings = []
        self.sources = []

    def add_file(self, path):
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                text = f.read()
        except OSError as exc:
            self.warnings.append(f"key log {path}: {exc.strerror or exc}")
            return
        self.sources.append(path)
        self.add_text(text, path)

    def add_text(self, text, source="key log"):
        for lineno, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            where = f"{source}:{lineno}"
            if not parts:
                continue
            if parts[0] == "#" and len(parts) > 1 and parts[1] == HARNESS_SECRETS:
                self._secrets(parts[2:], where)
                continue
            if parts[0] == "#" and len(parts) >= 6 and parts[1] == "connection" and \
                    parts[4] == "->":  # "# connection c1: 127.0.0.1:4000 -> 127.0.0.1:7400"
                self.labels[(parts[3], parts[5])] = parts[2].rstrip(":")
                continue
            if parts[0].startswith("#"):
                continue
            if len(parts) != 3 or parts[0] not in (record.KEYLOG_I2R, record.KEYLOG_R2I):
                self.warnings.append(f"{where}: not a PARLEY_I2R/PARLEY_R2I line, skipped")
                continue
            eph, key = _hex32(parts[1]), _hex32(parts[2])
            if eph is None or key is None:
                self.warnings.append(f"{where}: a key is not 64 hex digits, skipped")
                continue
            direction = I2R if parts[0] == record.KEYLOG_I2R else R2I
            self.sessions.setdefault(eph, {})[direction] = key

    def _secrets(self, fields, where):
        if len(fields) != 4 or fields[0] not in ("I", "R"):
            self.warnings.append(f"{where}: malformed {HARNESS_SECRETS} line, skipped")
            return
        public, e, s = (_hex32(x) for x in fields[1:])
        if None in (public, e, s):
            self.warnings.append(f"{where}: a {HARNESS_SECRETS} key is not 64 hex digits")
            return
        self.secrets[public] = {"role": fields[0], "e": e, "s": s}


def _hex32(text):
    if len(text) != 64:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


# --- message bodies as JSON ---------------------------------------------------------------


def _address_text(family, address):
    try:
        return socket.inet_ntop(socket.AF_INET6 if family == codec.FAMILY_IPV6
                                else socket.AF_INET, bytes(address))
    except (OSError, ValueError):
        return bytes(address).hex()


def body_json(body):
    """A decoded message body (codec's dict) with bytes as hex and registry values by
    name: opcodes, NACK codes, options, settings, BYE reasons, STATS counters."""
    out = {}
    for key, value in body.items():
        if key == "req_opcode":
            value = codec.OPCODE_NAMES.get(value, value)
        elif key == "code":
            value = NACK_NAMES.get(value, value)
        elif key == "option":
            value = codec.OPTION_NAMES.get(value, value)
        elif key == "setting":
            value = codec.SETTING_NAMES.get(value, value)
        elif key == "reason":
            value = codec.BYE_REASON_NAMES.get(value, value)
        elif key == "counters":
            value = [{"id": c["id"], "name": codec.STATS_COUNTER_NAMES.get(c["id"], "unknown"),
                      "value": c["value"]} for c in value]
        elif key == "peers":
            value = [{"node_id": bytes(p["node_id"]).hex(), "family": p["family"],
                      "address": _address_text(p["family"], p["address"]), "port": p["port"],
                      "flags": _peer_flags(p["flags"])} for p in value]
        elif isinstance(value, (bytes, bytearray)):
            value = bytes(value).hex()
        out[key] = value
    return out


def _peer_flags(flags):
    return ["OUTBOUND"] if flags & codec.PEER_FLAG_OUTBOUND else []


def flag_names(flags):
    return [codec.FLAG_NAMES[bit] for bit in range(8) if flags & (1 << bit)]


def _opcode_name(opcode):
    return codec.OPCODE_NAMES.get(opcode, f"opcode {opcode}")


def _decompress(setting, data):
    """A compressed payload in `setting` (a name), at most MAX_MESSAGE bytes."""
    if setting == "zlib":
        return codec.decompress(data, MAX_MESSAGE)
    makers = {"bz2": bz2.BZ2Decompressor, "lzma": lzma.LZMADecompressor,
              "gzip": lambda: zlib.decompressobj(wbits=31)}
    if setting not in makers:
        raise ParleyError("DECOMPRESSION_FAILED", f"the dissector cannot read {setting}")
    d = makers[setting]()
    try:
        out = d.decompress(bytes(data), MAX_MESSAGE + 1)
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
        raise ParleyError("DECOMPRESSION_FAILED", str(exc)) from None
    if len(out) > MAX_MESSAGE or not d.eof:
        raise ParleyError("DECOMPRESSION_FAILED", "not one complete stream within max_message")
    return out


# --- frames and messages --------------------------------------------------------------------


class _Reassembly:
    def __init__(self, opcode, flags, total, data):
        self.opcode, self.flags, self.total = opcode, flags, total
        self.data = bytearray(data)
        self.frames = 1


class FrameDecoder:
    """Frames of both directions of one connection, in the order they travelled:
    fragments reassembled per (direction, tag, RESPONSE bit), compression followed from
    the acknowledged COMPRESSION option ([OPT-3])."""

    def __init__(self):
        self.in_progress = {}
        self.compression = None
        self.messages = []

    def frame(self, direction, frame, where):
        header = codec.parse_frame_header(frame)
        opcode, flags, tag = header["opcode"], header["flags"], header["tag"]
        out = {"opcode": opcode, "opcode_name": _opcode_name(opcode), "flags": flag_names(flags),
               "tag": tag, "length": header["length"]}
        payload = bytes(frame[codec.FRAME_HEADER_LEN:])
        is_response = bool(flags & codec.FLAG_RESPONSE)
        key = (direction, tag, is_response)
        try:
            codec.check_frame_header(header, bool(self.compression))
        except ParleyError as err:
            out["invalid"] = str(err)
            out["receiver"] = "dropped (a response is never answered)" if is_response \
                else f"NACK {err.name}"
            out["payload"] = payload.hex()
            return out
        if flags & codec.FLAG_ABORT:
            message = self.in_progress.pop(key, None)
            out["abort"] = (f"cancels the message in progress ({len(message.data)} of "
                            f"{message.total} bytes)") if message else \
                "nothing in progress on this tag: ignored"
            return out
        message = self.in_progress.get(key)
        if message is not None:
            if opcode != message.opcode or (flags ^ message.flags) & codec.FLAG_COMPRESSED:
                del self.in_progress[key]
                out["invalid"] = "BAD_FRAGMENT: opcode or COMPRESSED differs from the first"
                out["receiver"] = "dropped" if is_response else "NACK BAD_FRAGMENT"
                return out
            message.data += payload
            message.frames += 1
            if flags & codec.FLAG_MORE:
                out["fragment"] = f"next fragment ({len(message.data)} of {message.total} bytes)"
                return out
            del self.in_progress[key]
            out["fragment"] = f"last fragment ({len(message.data)} of {message.total} bytes)"
            out["message"] = self._complete(direction, tag, message, where)
            return out
        if flags & codec.FLAG_MORE:
            if len(payload) < codec.FRAGMENT_TOTAL_LEN:
                out["invalid"] = "MALFORMED: a first fragment under 4 bytes"
                out["receiver"] = "dropped" if is_response else "NACK MALFORMED"
                return out
            total = struct.unpack_from("!I", payload)[0]
            self.in_progress[key] = _Reassembly(opcode, flags, total,
                                                payload[codec.FRAGMENT_TOTAL_LEN:])
            out["fragment"] = f"first fragment of a {total}-byte message"
            return out
        out["message"] = self._complete(direction, tag, _Reassembly(opcode, flags, len(payload),
                                                                     payload), where)
        return out

    def _complete(self, direction, tag, message, where):
        flags = message.flags & ~codec.FLAG_MORE
        out = {"dir": direction, "opcode": _opcode_name(message.opcode),
               "flags": flag_names(flags), "tag": tag, "fragments": message.frames,
               "length": len(message.data)}
        out.update(where)
        data = bytes(message.data)
        try:
            if len(data) != message.total:
                raise ParleyError("LENGTH_MISMATCH", f"{len(data)} bytes, total {message.total}")
            if flags & codec.FLAG_COMPRESSED:
                data = _decompress(self.compression or "zlib", data)
                out["decompressed_length"] = len(data)
            body = codec.decode_body(message.opcode, flags, tag, data)
        except ParleyError as err:
            out["error"] = str(err)
            out["payload"] = data[:256].hex()
            self.messages.append(out)
            return out
        out["body"] = body_json(body)
        if message.opcode == codec.OP_ACK and body.get("req_opcode") == \
                codec.OP_SET_CONNECTION_OPT and body.get("option") == codec.OPT_COMPRESSION:
            self.compression = codec.SETTING_NAMES.get(body["setting"])  # [OPT-3]
        self.messages.append(out)
        return out


def split_frames(plaintext):
    """(frames, problem): the whole frames of a record plaintext and, when the last one
    runs past the end, why (the receiver closes: FRAME_OVERRUN, [REC-5])."""
    frames, pos = [], 0
    while pos < len(plaintext):
        rest = plaintext[pos:]
        if len(rest) < codec.FRAME_HEADER_LEN:
            return frames, f"FRAME_OVERRUN: {len(rest)} bytes left, not a frame header"
        end = codec.FRAME_HEADER_LEN + codec.parse_frame_header(rest)["length"]
        if end > len(rest):
            return frames, f"FRAME_OVERRUN: a frame of {end} bytes, {len(rest)} left"
        frames.append(rest[:end])
        pos += end
    if not plaintext:
        return frames, "FRAME_OVERRUN: an empty record plaintext"
    return frames, None


# --- one connection ------------------------------------------------------------------------


def endpoint(addr):
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Side:
    """One direction's bytes, the Direction that tells when each byte travelled."""

    def __init__(self, name, direction):
        self.name = name
        self.d = direction
        self.data = direction.data
        self.pos = 0

    def left(self):
        return len(self.data) - self.pos

    def when(self, end):
        packet, t = self.d.when(max(end - 1, 0))
        return {"packet": packet, "t": t}

    def item(self, kind, start, end, **fields):
        out = {"kind": kind, "dir": self.name, "offset": start, "bytes": end - start}
        out.update(self.when(end))
        out.update(fields)
        return out


def _take_framed(side):
    """A u16-length-framed handshake message at the side's position: (body, start, end),
    or None when the capture holds only part of it."""
    if side.left() < 2:
        return None
    (length,) = struct.unpack_from(">H", side.data, side.pos)
    if side.left() < 2 + length:
        return None
    start = side.pos
    side.pos += 2 + length
    return side.data[start + 2:side.pos], start, side.pos


def dissect_stream(stream, keylog):
    """One TcpStream as a dict: endpoints, the timeline (prefaces, handshake messages,
    records with their frames, ends) in travel order, the complete messages, notes."""
    conn = {"index": stream.index, "client": endpoint(stream.client),
            "server": endpoint(stream.server), "start": stream.first[1],
            "label": keylog.labels.get((endpoint(stream.client), endpoint(stream.server))),
            "bytes": {"client": len(stream.c2s.data), "server": len(stream.s2c.data)},
            "timeline": [], "messages": [], "notes": []}
    try:
        _dissect(stream, keylog, conn)
    except Exception as exc:  # a dissector bug must not hide the rest of the capture
        conn["notes"].append(f"dissector error: {type(exc).__name__}: {exc}")
    conn["timeline"].sort(key=lambda i: (i.get("packet") or 0, i.get("offset", 0)))
    return conn


def _looks_like_hello(data):
    return data[:len(codec.MAGIC)] == codec.MAGIC[:len(data[:len(codec.MAGIC)])] and \
        (len(data) <= len(codec.MAGIC) or data[len(codec.MAGIC)] == codec.KIND_HELLO)


def _dissect(stream, keylog, conn):
    notes, timeline = conn["notes"], conn["timeline"]
    c2s, s2c = stream.c2s, stream.s2c
    if c2s.data and _looks_like_hello(c2s.data):
        ini, res = _Side(I2R, c2s), _Side(R2I, s2c)
        conn["initiator"] = conn["client"]
    elif s2c.data and _looks_like_hello(s2c.data):
        ini, res = _Side(I2R, s2c), _Side(R2I, c2s)
        conn["initiator"] = conn["server"]
    else:
        ini, res = _Side(I2R, c2s), _Side(R2I, s2c)
        conn["initiator"] = conn["client"]
        if c2s.data or s2c.data:
            notes.append("neither direction starts with a HELLO: not a Parley connection "
                         "seen from its start")
            _rest(ini, timeline, "bytes, not decoded")
            _rest(res, timeline, "bytes, not decoded")
        _ends(stream, conn, ini, res)
        return
    _ends(stream, conn, ini, res)

    # 1. preface
    hello = _preface(ini, timeline, codec.decode_hello, "HELLO")
    offered = hello[1].get("majors") if hello else None
    answer = _preface(res, timeline, lambda data: codec.decode_answer(data, offered), "answer")
    if hello is None or answer is None:
        notes.append(_cut_note(ini if hello is None else res, "preface"))
        _rest(ini, timeline)
        _rest(res, timeline)
        return
    if answer[1].get("kind") == "REFUSE" or "error" in answer[1] or "error" in hello[1]:
        _rest(ini, timeline, "bytes after the preface")
        _rest(res, timeline, "bytes after the preface")
        return
    prologue = hello[0] + answer[0]

    # 2. handshake
    msgs = []
    for number, side in ((1, ini), (2, res), (3, ini)):
        taken = _take_framed(side)
        if taken is None:
            notes.append(_cut_note(side, f"handshake message {number}"))
            break
        msgs.append((number, side, taken))
    items = []
    for number, side, (body, start, end) in msgs:
        item = side.item("handshake", start, end, message=number, length=len(body))
        if number in (1, 2) and len(body) >= noise.DHLEN:
            item["ephemeral"] = body[:noise.DHLEN].hex()
        items.append(item)
        timeline.append(item)
    if not msgs or len(msgs[0][2][0]) != noise.DHLEN:
        if msgs:
            notes.append("handshake message 1 is not 32 bytes: no session to look up")
        _rest(ini, timeline)
        _rest(res, timeline)
        return
    eph = msgs[0][2][0]
    conn["initiator_ephemeral"] = eph.hex()
    derived = _open_handshake(keylog, prologue, [m[2][0] for m in msgs], items, notes)

    # 3. keys
    logged = keylog.sessions.get(eph, {})
    keys = dict(logged)
    conn["keys"] = {d: "key log" if d in logged else "missing" for d in (I2R, R2I)}
    if derived is not None:
        for name, key in zip((I2R, R2I), derived):
            if name in logged and logged[name] != key:
                notes.append(f"the key log's {name} key differs from the one the handshake "
                             "derives")
            if name not in keys:
                keys[name] = key
                conn["keys"][name] = "derived from the harness's handshake secrets"
    if len(msgs) < 3:
        _rest(ini, timeline)
        _rest(res, timeline)
        return
    # 4. records of both directions, then their frames in travel order
    records = _records(ini, keys.get(I2R)) + _records(res, keys.get(R2I))
    if records and not keys:
        notes.append(f"no keys for session {eph.hex()}: records are shown by length only "
                     "(give the key log with --keylog)")
    records.sort(key=lambda r: (r.get("packet") or 0, r["offset"]))
    decoder = FrameDecoder()
    for rec in records:
        timeline.append(rec)
        plaintext = rec.pop("_plaintext", None)
        if plaintext is None:
            continue
        frames, problem = split_frames(plaintext)
        where = {"record": rec["seq"], "packet": rec.get("packet")}
        rec["frames"] = [decoder.frame(rec["dir"], f, where) for f in frames]
        if problem:
            rec["frames_error"] = problem + " (the receiver closes the connection)"
    conn["messages"] = decoder.messages
    for name, message in ((I2R, "initiator"), (R2I, "responder")):
        side = ini if name == I2R else res
        if side.left():
            notes.append(f"the {message}'s last {side.left()} bytes are not a whole record "
                         "(the capture ends inside it)")


def _cut_note(side, what):
    """Why `what` is missing from a side: it closed the connection first, or the capture
    ends there."""
    who = "initiator" if side.name == I2R else "responder"
    if side.left() == 0 and (side.d.fin or side.d.rst):
        return f"the {who} closed the connection without sending {what}"
    if side.left() == 0:
        return f"the capture holds nothing of the {who}'s {what}"
    return f"the capture ends inside the {who}'s {what}"


def _ends(stream, conn, ini, res):
    for side in (ini, res):
        for how, seen in (("FIN", side.d.fin), ("RST", side.d.rst)):
            if seen is not None:
                conn["timeline"].append({"kind": "end", "dir": side.name, "how": how,
                                         "packet": seen[0], "t": seen[1],
                                         "offset": len(side.data)})


def _rest(side, timeline, what="bytes the capture cuts short"):
    if side.left():
        timeline.append(side.item("bytes", side.pos, len(side.data), note=what,
                                  hex=side.data[side.pos:side.pos + 64].hex()))
        side.pos = len(side.data)


def _preface(side, timeline, decode, what):
    """(bytes, fields) of the preface message at the start of a side, or None."""
    size = codec.preface_length(side.data)
    if size is None:
        return None
    data = side.data[:size]
    try:
        fields = decode(data)
    except ParleyError as err:
        fields = {"error": str(err)}
    side.pos = size
    timeline.append(side.item("preface", 0, size, fields=fields, hex=data.hex()))
    return data, fields


def _records(side, key):
    """The records of one direction (after its handshake messages), opened with `key`
    when there is one; each a timeline item with `_plaintext` for the frame decoder."""
    out = []
    cipher = noise.CipherState(key) if key else None
    seq = 0
    while side.left() >= record.LENGTH_LEN:
        (length,) = struct.unpack_from(">H", side.data, side.pos)
        start = side.pos
        if length < record.RECORD_MIN:
            out.append(side.item("record", start, start + 2, seq=seq, length=length,
                                 error="RECORD_LENGTH: below 24; the receiver closes"))
            side.pos = start + 2
            break
        if side.left() < 2 + length:
            break
        side.pos = start + 2 + length
        ciphertext = side.data[start + 2:side.pos]
        item = side.item("record", start, side.pos, seq=seq, length=length,
                         ciphertext=ciphertext[:32].hex())
        if cipher is not None:
            try:
                item["_plaintext"] = cipher.decrypt_with_ad(b"", ciphertext)
                item["plaintext"] = item["_plaintext"].hex()
            except noise.NoiseError:
                item["error"] = ("RECORD_AUTH: does not open under the key log's key at "
                                 f"nonce {seq}; later records of this direction not opened")
                cipher = None
        out.append(item)
        seq += 1
    return out


# --- the handshake, replayed from the harness's side -----------------------------------------


def _open_own(state, message):
    """A handshake message this side wrote, read back with its own keys: the tokens are
    processed as write_message does, but each encryption is a decryption of the captured
    bytes under the same key, nonce and hash."""
    pos = 0
    for token in noise.XX_PATTERN[state.message_index]:
        if token == "e":
            if message[pos:pos + noise.DHLEN] != state.e.public:
                raise noise.NoiseError("the message's ephemeral key is not the logged one")
            state.symmetric.mix_hash(state.e.public)
            pos += noise.DHLEN
        elif token == "s":
            size = noise.DHLEN + (noise.TAGLEN if state.symmetric.cipher.has_key() else 0)
            state.symmetric.decrypt_and_hash(message[pos:pos + size])
            pos += size
        else:
            state.symmetric.mix_key(state._dh_token(token))
    payload = state.symmetric.decrypt_and_hash(message[pos:])
    state.message_index += 1
    return payload


def _open_handshake(keylog, prologue, messages, items, notes):
    """Decode the identity payloads when the key log has the harness's secrets for this
    handshake (found by its ephemeral key: message 1's for the initiator, message 2's
    first 32 bytes for the responder). Returns the (c1, c2) keys once all three messages
    opened, else None."""
    secrets, role = None, None
    for number, message in ((1, messages[0]), (2, messages[1] if len(messages) > 1 else b"")):
        found = keylog.secrets.get(bytes(message[:noise.DHLEN]))
        if found and found["role"] == ("I" if number == 1 else "R"):
            secrets, role = found, found["role"]
            break
    if secrets is None:
        if len(messages) > 1:
            notes.append("identity payloads not decoded: the key log has no harness secrets "
                         "for this handshake (only the harness logs them)")
        return None
    try:
        state = noise.HandshakeState(role == "I", prologue, secrets["s"], secrets["e"])
    except ValueError as exc:
        notes.append(f"harness secrets unusable: {exc}")
        return None
    for index, message in enumerate(messages):
        ours = (index % 2 == 0) == (role == "I")
        try:
            payload = _open_own(state, message) if ours else state.read_message(message)
        except noise.NoiseError as exc:
            items[index]["error"] = f"does not open with the harness's secrets: {exc}"
            return None
        if index == 0:
            continue
        sender_static = state.s.public if ours else state.rs
        items[index]["payload"] = _identity(payload, sender_static)
        items[index]["sender"] = "harness" if ours else "peer"
    if not state.complete:
        return None
    c1, c2 = state.split()
    return c1.k, c2.k


def _identity(payload, sender_static):
    try:
        decoded = handshake.IdentityPayload.decode(payload)
    except ParleyError as err:
        return {"error": str(err), "hex": bytes(payload).hex()}
    fields = decoded.to_fields()
    try:
        decoded.verify_signature(sender_static)
        fields["signature_valid"] = True
    except Exception as exc:  # ed25519.SignatureError names the §2.4 rule
        fields["signature_valid"] = False
        fields["signature_error"] = str(exc)
    return fields


# --- a whole capture --------------------------------------------------------------------------


def load_keylog(paths=(), texts=()):
    keylog = KeyLog()
    for path in paths:
        keylog.add_file(path)
    for text in texts:
        keylog.add_text(text)
    return keylog


def dissect_file(pcap_path, keylog):
    """The whole capture as a dict (see the module doc); `keylog` is a KeyLog."""
    result = {"capture": pcap_path, "packets": 0, "warnings": [],
              "keylog": {"files": list(keylog.sources), "sessions": len(keylog.sessions),
                         "harness_secrets": len(keylog.secrets),
                         "warnings": list(keylog.warnings)},
              "connections": []}
    try:
        capture = read_pcap(pcap_path)
    except OSError as exc:
        result["warnings"].append(f"cannot read {pcap_path}: {exc.strerror or exc}")
        return result
    result["packets"] = capture.packets
    result["warnings"].extend(capture.warnings)
    for stream in capture.streams:
        result["connections"].append(dissect_stream(stream, keylog))
    return result


# --- text ----------------------------------------------------------------------------------


def _short_hex(hex_text):
    if len(hex_text) <= 2 * TEXT_HEX_MAX:
        return hex_text
    return f"{hex_text[:2 * TEXT_HEX_MAX]}... ({len(hex_text) // 2} bytes)"


def _printable(hex_text):
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        return ""
    if raw and all(32 <= b < 127 for b in raw) and len(raw) <= 64:
        return f' "{raw.decode()}"'
    return ""


def describe_body(body):
    parts = []
    for key, value in body.items():
        if key == "counters":
            value = " ".join(f"{c['name']}={c['value']}" for c in value)
            parts.append(f"counters[{value}]")
            continue
        if key == "peers":
            listed = ", ".join(f"{p['node_id'][:16]}.. {p['address']}:{p['port']}"
                               + (" OUTBOUND" if p["flags"] else "") for p in value)
            parts.append(f"peers({len(value)})[{listed}]")
            continue
        if key == "text":
            parts.append(f"text={value!r}")
            continue
        if key in ("data", "payload") and isinstance(value, str):
            parts.append(f"{key}={_short_hex(value)}{_printable(value)}")
            continue
        parts.append(f"{key}={value}")
    return " ".join(parts)


def describe_message(message):
    head = f"{message['opcode']} {'|'.join(message['flags']) or '-'} tag={message['tag']}"
    if message["fragments"] > 1:
        head += f" ({message['fragments']} fragments, {message['length']} bytes)"
    if "decompressed_length" in message:
        head += f" (decompressed {message['length']} -> {message['decompressed_length']} bytes)"
    if "error" in message:
        return f"{head} [{message['error']}] payload={_short_hex(message.get('payload', ''))}"
    return f"{head} {describe_body(message['body'])}"


def describe_frame(frame):
    head = (f"{frame['opcode_name']} {'|'.join(frame['flags']) or '-'} tag={frame['tag']} "
            f"len={frame['length']}")
    if "invalid" in frame:
        return f"{head} [invalid: {frame['invalid']}; receiver: {frame['receiver']}]"
    if "abort" in frame:
        return f"{head} ABORT: {frame['abort']}"
    if "message" in frame:
        if "fragment" in frame:
            return f"{head} {frame['fragment']} => {describe_message(frame['message'])}"
        message = frame["message"]
        if "decompressed_length" in message:
            head += f" (decompressed {message['length']} -> {message['decompressed_length']} bytes)"
        if "error" in message:
            return f"{head} [{message['error']}] payload={_short_hex(message.get('payload', ''))}"
        return f"{head} {describe_body(message['body'])}".rstrip()
    return f"{head} {frame.get('fragment', '')}".rstrip()


def _identity_text(payload):
    if "error" in payload:
        return f"identity payload [{payload['error']}]"
    sig = "signature valid" if payload.get("signature_valid") else \
        f"SIGNATURE INVALID ({payload.get('signature_error', '')})"
    ext = payload.get("extensions") or []
    return (f"identity node_id={payload['identity_key']} minor={payload['minor']} "
            f"capabilities={payload['capabilities']:#x} max_tags={payload['max_tags']} "
            f"max_message={payload['max_message']} "
            f"reassembly_budget={payload['reassembly_budget']} "
            f"listen_port={payload['listen_port']} extensions={len(ext)} ({sig})")


def render_text(result, hex_records=False):
    lines = []
    conns = result["connections"]
    lines.append(f"capture {result['capture']}: {result['packets']} packets, "
                 f"{len(conns)} TCP connection{'s' if len(conns) != 1 else ''}")
    kl = result["keylog"]
    files = ", ".join(kl["files"]) or "none"
    lines.append(f"key log: {files} ({kl['sessions']} sessions, harness secrets for "
                 f"{kl['harness_secrets']})")
    for w in result["warnings"] + kl["warnings"]:
        lines.append(f"warning: {w}")
    t0 = min((c["start"] for c in conns), default=0.0)
    for conn in conns:
        lines.append("")
        label = f" [{conn['label']}]" if conn.get("label") else ""
        lines.append(f"== connection {conn['index']}{label}: {conn['client']} -> {conn['server']} "
                     f"(Parley initiator {conn.get('initiator', '?')}; "
                     f"{conn['bytes']['client']} + {conn['bytes']['server']} bytes)")
        if "initiator_ephemeral" in conn:
            keys = conn.get("keys", {})
            lines.append(f"   session {conn['initiator_ephemeral']} keys: "
                         f"I->R {keys.get(I2R, 'missing')}, R->I {keys.get(R2I, 'missing')}")
        for item in conn["timeline"]:
            lines.extend(_item_lines(item, t0, hex_records))
        for note in conn["notes"]:
            lines.append(f"   note: {note}")
    return "\n".join(lines) + "\n"


def _item_lines(item, t0, hex_records):
    t = item.get("t")
    stamp = f"{item.get('packet') or '-':>5} {t - t0:9.6f}" if t is not None else f"{'-':>5} {'':9}"
    prefix = f"{stamp} {ARROW[item['dir']]} "
    pad = " " * (len(prefix) + 2)
    kind = item["kind"]
    if kind == "preface":
        fields = item["fields"]
        text = f"[{fields['error']}]" if "error" in fields else \
            " ".join(f"{k}={v}" for k, v in fields.items())
        return [f"{prefix}preface {text} ({item['bytes']} bytes: {item['hex']})"]
    if kind == "handshake":
        text = f"handshake message {item['message']} ({item['length']} bytes)"
        if "ephemeral" in item:
            who = "initiator" if item["message"] == 1 else "responder"
            text += f" {who} ephemeral {item['ephemeral']}"
        out = [prefix + text]
        if "payload" in item:
            out.append(pad + f"{item.get('sender', '')} " + _identity_text(item["payload"]))
        if "error" in item:
            out.append(pad + f"[{item['error']}]")
        return out
    if kind == "record":
        text = f"record #{item['seq']} ({item['length']} bytes"
        if "plaintext" in item:
            text += f", {len(item['plaintext']) // 2} plaintext"
        text += ")"
        out = [prefix + text]
        if "error" in item:
            out.append(pad + f"[{item['error']}]")
        elif "plaintext" not in item:
            out.append(pad + "(not decrypted: no key)")
        if hex_records and "plaintext" in item:
            out.append(pad + f"plaintext {item['plaintext']}")
        for frame in item.get("frames", []):
            out.append(pad + describe_frame(frame))
        if "frames_error" in item:
            out.append(pad + f"[{item['frames_error']}]")
        return out
    if kind == "end":
        return [f"{prefix}{item['how']}"]
    text = _short_hex(item.get("hex", ""))
    return [f"{prefix}{item['bytes']} {item.get('note', 'bytes')}: {text}"]
