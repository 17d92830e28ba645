#!/usr/bin/python3
"""bench_rx.py - the receive path in the Python codec, against the raw AEAD ceiling.

The same four workloads as bench_rx.c (ping-1, ping-64, msg-1k, msg-64k), through the
harness's own code: records opened (parley.record), frames cut and fed to the receive state
machine (parley.session), messages decoded. The ceiling is python3-cryptography's
ChaCha20Poly1305.decrypt on the same records, in the same run. Prints JSON with --json.
"""

import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "conformance"))

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402

from parley import codec, noise, record, session  # noqa: E402

MIN_SECONDS = 0.5
BATCH_BYTES = 1 << 20


def peers_ack(n):
    peers = [{"node_id": b"\xab" * 32, "family": 4, "address": b"\x7f\x00\x00\x01",
              "port": 4000 + i, "flags": 0} for i in range(n)]
    return bytes([codec.OP_PEERS]) + codec.encode_peer_list(peers)


def build(key, name):
    """(records, frames, messages, payload bytes) for one pass of a workload."""
    tx = noise.CipherState(key, 0)
    records, frames, messages, payload = [], 0, 0, 0
    size = 0
    tag = 1
    while size < BATCH_BYTES:
        if name.startswith("ping"):
            per = 1 if name == "ping-1" else 64
            pt = b""
            for _ in range(per):
                pt += codec.encode_frame(codec.OP_PING, 0, tag, bytes(range(1, 9)))
                tag = tag % 512 + 1
            recs = [pt]
            frames, messages, payload = frames + per, messages + per, payload + 8 * per
        else:
            body = peers_ack((1024 if name == "msg-1k" else 65536) // 55)
            tag = messages % 512 + 1
            if len(body) <= codec.FRAME_MAX_PAYLOAD:
                recs = [codec.encode_frame(codec.OP_ACK, codec.FLAG_RESPONSE, tag, body)]
            else:
                recs = codec.encode_fragments(codec.OP_ACK, codec.FLAG_RESPONSE, tag, body)
            frames, messages, payload = frames + len(recs), messages + 1, payload + len(body)
        for pt in recs:
            r = record.seal(tx, pt)
            records.append(r)
            size += len(r)
    return records, frames, messages, payload


def rx_pass(key, records, sess):
    rx = noise.CipherState(key, 0)
    delivered = 0
    for rec in records:
        for ev in sess.receive_plaintext(record.open_record(rx, rec)):
            kind = ev["event"]
            if kind == "message":
                sess.request_answered(ev["tag"])
                delivered += 1
            elif kind == "response":
                sess.request_sent(ev["tag"])
                delivered += 1
            elif kind != "partial":
                raise SystemExit(f"bench_rx.py: unexpected event {ev}")
    return delivered


def raw_pass(key, records):
    aead = ChaCha20Poly1305(key)
    for n, rec in enumerate(records):
        aead.decrypt(b"\0\0\0\0" + struct.pack("<Q", n), rec[2:], b"")


def timed(fn):
    best = float("inf")
    for _ in range(3):
        passes, t0 = 0, time.perf_counter()
        while True:
            fn()
            passes += 1
            t = time.perf_counter() - t0
            if t >= MIN_SECONDS / 3:
                break
        best = min(best, t / passes)
    return best


def main():
    key = os.urandom(32)
    results = []
    for name in ("ping-1", "ping-64", "msg-1k", "msg-64k"):
        records, frames, messages, payload = build(key, name)
        sess = session.Session()
        sess.set_remote_limits(codec.DEFAULT_MAX_TAGS, codec.DEFAULT_MAX_MESSAGE)
        for tag in range(1, 513) if name.startswith("msg") else ():
            sess.request_sent(tag)
        nbytes = sum(len(r) for r in records)

        def rx():
            if rx_pass(key, records, sess) != messages:
                raise SystemExit("bench_rx.py: messages lost")

        rx_s = timed(rx)
        raw_s = timed(lambda: raw_pass(key, records))
        results.append({"impl": "Python", "workload": name, "frames_per_s": frames / rx_s,
                        "payload_MB_per_s": payload / rx_s / 1e6,
                        "record_MB_per_s": nbytes / rx_s / 1e6,
                        "raw_aead_MB_per_s": nbytes / raw_s / 1e6,
                        "ratio_to_raw": raw_s / rx_s})
    if "--json" in sys.argv:
        json.dump(results, sys.stdout, indent=1)
        print()
    else:
        for r in results:
            print(f"Py {r['workload']:8} {r['frames_per_s']:12.0f} frames/s "
                  f"{r['payload_MB_per_s']:9.2f} MB/s payload | records "
                  f"{r['record_MB_per_s']:9.2f} MB/s, raw AEAD {r['raw_aead_MB_per_s']:9.2f} "
                  f"MB/s, ratio {r['ratio_to_raw']:.3f}")


if __name__ == "__main__":
    main()
