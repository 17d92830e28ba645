#!/usr/bin/python3
"""robust.py - `make robust`: the reference peer keeps serving a well-behaved client while
others attack it ("bad input gets a clear NACK or a clean close, and the peer keeps serving
everyone else"). Bounded: every phase has a count and a time limit, the whole run stays
under 90 s.

While a well-behaved client (build/loadgen --proto parley --conns 1 --depth 1 --latency,
its own process) sends PINGs and records every round trip, the phases run in turn, each
attacker in its own process (the 20,000-descriptor limit is per process):

  garbage    waves of 1,000 concurrent connections (two processes of 500) sending garbage
             before or inside the handshake
             (random bytes, HTTP, TLS, a bad preface kind, a bad handshake length, a random
             message 1 + 3); each must be closed by the peer ([PRE-2]: bytes without the
             magic get nothing back).
  halfopen   HELLO then silence; HELLO + message 1 then silence: closed at HANDSHAKE_TIMEOUT.
  slow       valid preface + handshake written one byte at a time: must complete and PING.
  frames     authenticated sessions (conformance/parley: handshake, records, codec) sending
             every invalid frame of vectors/messages.json, the frame sequences of
             vectors/session.json, random frames, random bytes inside records, flipped
             bits, short records; after each case a PING must be answered (or the
             connection closed by the peer), else the peer stalled.
  pressure   a session that sends PINGs and never reads ([LIMIT-4]: the peer must stop
             reading it, not grow), plus fragments that try to reserve past the budget.

A probe opens a fresh session and PINGs once a second (new handshakes still served?), and
the peer's VmRSS is sampled. Verdict (exit 1 when it fails): the good client's PING p99
under 50 ms, no PING waiting over 2 s, its connection never dropped, the peer alive at
the end. Writes reports/robust.json.
"""

import argparse
import json
import os
import random
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))

import benchlib  # noqa: E402
import pclient  # noqa: E402
from parley import codec, errors, noise  # noqa: E402

P99_LIMIT_US = 50_000
PING_TIMEOUT_MS = 2000
TOTAL_LIMIT_S = 90
VECTORS = os.path.join(benchlib.ROOT, "vectors")
HELLO = codec.encode_hello([codec.PROTOCOL_MAJOR])


# =========================================================================================
# Workers: each runs in its own process, prints one JSON object on stdout.
# =========================================================================================

def _connect_many(target, n, deadline):
    """n connected non-blocking sockets (fewer if connecting fails or time runs out)."""
    host, port = pclient.split_target(target)
    socks = []
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        try:
            s = socket.create_connection((host, port), timeout=2)
        except OSError:
            continue
        s.setblocking(False)
        socks.append(s)
    return socks


def _wait_closed(socks, deadline):
    """Waits until the peer closes each socket. Returns ({sock: (seconds, bytes)} for the
    closed ones, still open count)."""
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    got = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        got[s] = 0
    closed = {}
    while got and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=min(0.5, max(0.0, deadline - time.monotonic()))):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                got[s] += len(data)
                continue
            closed[s] = (time.monotonic() - t0, got.pop(s))
            sel.unregister(s)
    still_open = len(got)
    sel.close()
    for s in socks:
        s.close()
    return closed, still_open


def _random_msg1():
    return struct.pack(">H", 32) + noise.KeyPair.generate().public


GARBAGE_KINDS = ("random", "http", "tls", "bad_kind", "bad_count", "hs_length",
                 "hs_random", "hello_then_random")


def _garbage(kind, rng):
    if kind == "random":  # not starting with 'P': [PRE-2] nothing comes back
        return bytes([rng.randrange(0, 0x50)]) + rng.randbytes(rng.randrange(1, 512))
    if kind == "http":
        return b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    if kind == "tls":
        return bytes.fromhex("16030100a5010000a10303") + rng.randbytes(160)
    if kind == "bad_kind":  # [PRE-3] REFUSE then close
        return codec.MAGIC + bytes([9, 1, 1]) + rng.randbytes(32)
    if kind == "bad_count":
        return codec.MAGIC + bytes([1, 0]) + rng.randbytes(32)
    if kind == "hs_length":  # [HS-1] a message 1 of the wrong length
        return HELLO + struct.pack(">H", rng.choice([0, 31, 33, 65535])) + rng.randbytes(64)
    if kind == "hs_random":  # message 1 then a random message 3 ([HS-4])
        return HELLO + _random_msg1() + struct.pack(">H", 178) + rng.randbytes(178)
    return HELLO + rng.randbytes(rng.randrange(2, 4096))


def worker_garbage(args):
    """Waves of args.n concurrent connections sending garbage, for half of args.seconds
    (at most 20 waves); each connection must be closed by the peer."""
    rng = random.Random(args.seed)
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    totals = {"waves": 0, "connected": 0, "closed_by_peer": 0, "still_open": 0,
              "answered_non_parley": 0}
    by_kind = {}
    for _ in range(20):
        if time.monotonic() - t0 > args.seconds / 2:
            break
        socks = _connect_many(args.target, args.n, deadline)
        kinds = {}
        for i, s in enumerate(socks):
            kind = GARBAGE_KINDS[i % len(GARBAGE_KINDS)]
            kinds[s] = kind
            try:
                s.send(_garbage(kind, rng))
            except OSError:
                pass
        closed, still_open = _wait_closed(list(socks), deadline)
        totals["waves"] += 1
        totals["connected"] += len(socks)
        totals["closed_by_peer"] += len(closed)
        totals["still_open"] += still_open
        for s, (secs, nbytes) in closed.items():
            k = by_kind.setdefault(kinds[s], {"closed": 0, "max_close_s": 0.0})
            k["closed"] += 1
            k["max_close_s"] = round(max(k["max_close_s"], secs), 3)
            if kinds[s] in ("random", "http", "tls") and nbytes:
                totals["answered_non_parley"] += 1  # [PRE-2]: no reflection of non-Parley
    totals["by_kind"] = by_kind
    return totals


def worker_halfopen(args):
    deadline = time.monotonic() + args.seconds
    socks = _connect_many(args.target, args.n, deadline)
    kinds = {}
    for i, s in enumerate(socks):
        kind = ("hello", "hello_msg1", "partial_magic")[i % 3]
        kinds[s] = kind
        data = {"hello": HELLO, "hello_msg1": HELLO + _random_msg1(),
                "partial_magic": codec.MAGIC[:4]}[kind]
        try:
            s.send(data)
        except OSError:
            pass
    closed, still_open = _wait_closed(list(socks), deadline)
    times = sorted(secs for secs, _ in closed.values())
    by_kind = {}
    for s, (secs, _) in closed.items():
        k = by_kind.setdefault(kinds[s], {"closed": 0, "min_close_s": 99.0, "max_close_s": 0.0})
        k["closed"] += 1
        k["min_close_s"] = round(min(k["min_close_s"], secs), 3)
        k["max_close_s"] = round(max(k["max_close_s"], secs), 3)
    return {"connected": len(socks), "closed_by_peer": len(closed), "still_open": still_open,
            "median_close_s": round(times[len(times) // 2], 3) if times else None,
            "by_kind": by_kind}


def worker_slow(args):
    """args.n slow writers in threads: one byte per write, args.delay seconds apart."""
    results = []
    lock = threading.Lock()

    def one():
        t0 = time.monotonic()
        try:
            c = pclient.Client.connect(args.target, timeout=args.seconds,
                                       write_delay=args.delay)
            ok = c.ping(timeout=3)
            c.close()
            r = ("ok" if ok else "bad_ack", time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - every failure is a result here
            r = (type(e).__name__, time.monotonic() - t0)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(args.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.seconds + 5)
    outcomes = {}
    for name, _ in results:
        outcomes[name] = outcomes.get(name, 0) + 1
    ok_times = [t for name, t in results if name == "ok"]
    return {"writers": args.n, "outcomes": outcomes, "unfinished": args.n - len(results),
            "max_seconds_ok": round(max(ok_times), 2) if ok_times else None}


def _vector_cases():
    """(name, [frame bytes...]) for every invalid message vector and every session case."""
    cases = []
    with open(os.path.join(VECTORS, "messages.json"), encoding="utf-8") as f:
        for g in json.load(f)["testGroups"]:
            for t in g["tests"]:
                if t["result"] == "invalid":
                    cases.append((f"messages#{t['tcId']}", [bytes.fromhex(t["hex"])]))
    with open(os.path.join(VECTORS, "session.json"), encoding="utf-8") as f:
        for g in json.load(f)["testGroups"]:
            for t in g["tests"]:
                cases.append((f"session#{t['tcId']}", [bytes.fromhex(h) for h in t["frames"]]))
    return cases


def _random_frame(rng):
    payload = rng.randbytes(rng.choice([0, 1, 8, 64, 65, 300]))
    return codec.encode_frame(rng.randrange(256), rng.randrange(256), rng.randrange(65536),
                              payload)


def _mutations(rng):
    """(name, function(client) -> None) attacks on an open session."""
    def random_frames(c):
        c.send_frames([_random_frame(rng) for _ in range(rng.randrange(1, 20))])

    def random_plaintext(c):
        c.send_plaintext(rng.randbytes(rng.randrange(8, 2000)))

    def flipped_bit(c):
        rec = bytearray(c.channel.seal(codec.encode_frame(codec.OP_PING, 0, 7, b"flip")))
        i = rng.randrange(2, len(rec))
        rec[i] ^= 1 << rng.randrange(8)
        c.send_raw(bytes(rec))

    def short_record(c):
        c.send_raw(struct.pack(">H", rng.randrange(0, 24)) + rng.randbytes(23))

    def truncated_frame(c):
        frame = codec.encode_frame(codec.OP_PING, 0, 9, b"cut")
        c.send_plaintext(frame + frame[:rng.randrange(1, len(frame))])

    def lying_length(c):
        c.send_plaintext(codec.encode_frame_header(codec.OP_PING, 0, 5,
                                                   rng.choice([9, 16385, 2**32 - 1])) + b"x")

    return [("random_frames", random_frames), ("random_plaintext", random_plaintext),
            ("flipped_bit", flipped_bit), ("short_record", short_record),
            ("truncated_frame", truncated_frame), ("lying_length", lying_length)]


SENTINEL_TAG = 65000


def _check_alive(c, timeout=2.0):
    """After an attack: PING on the sentinel tag. Returns ("served"|"closed"|"stalled",
    frames seen before the answer)."""
    try:
        c.send_frames([codec.encode_frame(codec.OP_PING, 0, SENTINEL_TAG, b"alive?")])
    except OSError:
        return "closed", 0
    seen = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            frames = c.recv_frames(timeout=max(0.0, deadline - time.monotonic()))
        except pclient.Closed:
            return "closed", seen
        except Exception:  # noqa: BLE001 - a record that does not open: the peer broke it
            return "bad_record", seen
        for f in frames:
            if f["tag"] == SENTINEL_TAG and f["flags"] & codec.FLAG_RESPONSE:
                return "served", seen
            seen += 1
    return "stalled", seen


def worker_frames(args):
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.seconds
    cases = _vector_cases()
    rng.shuffle(cases)
    mutations = _mutations(rng)
    outcomes = {"served": 0, "closed": 0, "stalled": 0, "bad_record": 0}
    answered_frames = 0
    stalls = []
    handshakes = []
    sessions = 0
    c = None
    i = 0
    for step in range(args.max_cases):
        if time.monotonic() > deadline:
            break
        if c is None or step % 25 == 0:
            if c is not None:
                c.close()
            t0 = time.monotonic()
            try:
                c = pclient.Client.connect(args.target, timeout=min(10.0, max(
                    0.5, deadline - time.monotonic())))
            except Exception as e:  # noqa: BLE001
                outcomes[f"connect_{type(e).__name__}"] = outcomes.get(
                    f"connect_{type(e).__name__}", 0) + 1
                c = None
                time.sleep(0.05)
                continue
            handshakes.append(time.monotonic() - t0)
            sessions += 1
        if step % 3 == 2:  # one mutation for every two vector cases
            name, attack = mutations[rng.randrange(len(mutations))]
            try:
                attack(c)
            except OSError:
                pass
        else:
            name, frames = cases[i % len(cases)]
            i += 1
            try:
                chunk = []
                for fr in frames:  # records of at most 16 KiB of whole frames
                    if chunk and sum(map(len, chunk)) + len(fr) > 16392:
                        c.send_frames(chunk)
                        chunk = []
                    chunk.append(fr)
                if chunk:
                    c.send_frames(chunk)
            except OSError:
                pass
        result, seen = _check_alive(c)
        outcomes[result] = outcomes.get(result, 0) + 1
        answered_frames += seen
        if result == "stalled":
            stalls.append(name)
        if result != "served":
            c.close()
            c = None
    if c is not None:
        c.close()
    return {"steps": sum(outcomes.values()), "outcomes": outcomes, "sessions": sessions,
            "frames_answered": answered_frames, "stalled_cases": stalls[:20],
            "max_handshake_s": round(max(handshakes), 3) if handshakes else None}


def worker_pressure(args):
    """A session that writes PINGs and never reads; another reserving past the budget."""
    result = {}
    deadline = time.monotonic() + args.seconds
    # 1. never reads: the peer's answers pile up; it must stop reading us ([LIMIT-4]).
    c = pclient.Client.connect(args.target, timeout=10)
    c.sock.settimeout(0.5)
    sent = 0
    blocked = False
    tag = 1
    while time.monotonic() < deadline - args.seconds / 2:
        frames = []
        for _ in range(800):  # 800 x 72 bytes: one record under 65519 bytes of plaintext
            frames.append(codec.encode_frame(codec.OP_PING, 0, tag, b"x" * 64))
            tag = tag % 900 + 1
        try:
            c.send_frames(frames)
            sent += sum(map(len, frames))
        except socket.timeout:
            blocked = True  # the peer stopped reading: back pressure works
            break
        except OSError as e:
            result["nonreader_error"] = str(e)
            break
    result["nonreader_bytes_sent"] = sent
    result["nonreader_blocked"] = blocked
    c.close()
    # 2. first fragments announcing 1 MiB each on many tags: BUDGET_EXCEEDED / TOO_MANY_TAGS
    c = pclient.Client.connect(args.target, timeout=10)
    codes = {}
    for base in range(1, 1200, 100):
        frames = [codec.encode_frame(codec.OP_STORE, codec.FLAG_MORE, t,
                                     struct.pack(">I", codec.MIN_MAX_MESSAGE) + b"y" * 16)
                  for t in range(base, base + 100)]
        try:
            c.send_frames(frames)
        except OSError:
            break
    try:
        for f in c.recv_frames(timeout=2.0, want=1200):
            code = pclient.nack_code(f)
            name = codec_name(code) if code is not None else "ack"
            codes[name] = codes.get(name, 0) + 1
        result["budget_session"] = "served" if _check_alive(c)[0] == "served" else "closed"
    except pclient.Closed:
        result["budget_session"] = "closed"
    result["budget_answers"] = codes
    c.close()
    return result


def codec_name(code):
    return errors.NACK_NAMES.get(code, str(code))


WORKERS = {"garbage": worker_garbage, "halfopen": worker_halfopen, "slow": worker_slow,
           "frames": worker_frames, "pressure": worker_pressure}


# =========================================================================================
# The orchestrator
# =========================================================================================

class GoodClient:
    """build/loadgen as the well-behaved client; its per-interval lines are read as they
    come so each phase gets its own latency figures."""

    def __init__(self, build, target, seconds, workdir):
        argv = [os.path.join(build, "loadgen"), "--proto", "parley", "--target", target,
                "--conns", "1", "--depth", "1", "--latency", "--timeout-ms",
                str(PING_TIMEOUT_MS), "--interval-ms", "500", "--reconnect", "--warmup", "0",
                "--seconds", str(seconds), "--label", "good-client",
                "--client", "core"]  # the whole connection core, as a real client runs
        self.proc = benchlib.Proc("good-client", argv, os.path.join(workdir, "good.log"),
                                  stdout_pipe=True)
        self.intervals = []  # (monotonic time received, dict)
        self.final = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.popen.stdout:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("interval"):
                self.intervals.append((time.monotonic(), d))
            else:
                self.final = d

    def between(self, t0, t1):
        """The worst interval figures received between t0 and t1."""
        iv = [d for t, d in self.intervals if t0 <= t <= t1 + 0.6]
        if not iv:
            return {"intervals": 0}
        return {"intervals": len(iv), "pings": sum(d.get("n", 0) for d in iv),
                "worst_p50_us": max(d.get("p50_us", 0) for d in iv),
                "worst_p99_us": max(d.get("p99_us", 0) for d in iv),
                "max_us": max(d.get("max_us", 0) for d in iv),
                "timeouts": sum(d["timeouts"] for d in iv),
                "closed": sum(d["closed"] for d in iv)}

    def finish(self, timeout):
        """SIGTERM: loadgen prints its totals and exits."""
        if self.proc.alive():
            self.proc.popen.terminate()
        try:
            self.proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.thread.join(timeout=5)
        self.proc.stop(grace=1)
        return self.final


class Monitor:
    """Samples the peer's VmRSS and liveness (every 0.25 s), and a probe opens a fresh
    session and PINGs (every second, each bounded by 12 s) in another thread."""

    def __init__(self, peer, probe_every=1.0):
        self.peer = peer
        self.probe_every = probe_every
        self.stop_flag = threading.Event()
        self.rss = []  # (t, bytes)
        self.probes = []  # (t started, seconds or None, error)
        self.died_at = None
        self.threads = [threading.Thread(target=self._sample, daemon=True),
                        threading.Thread(target=self._probe, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=15)

    def _sample(self):
        while not self.stop_flag.is_set():
            t = time.monotonic()
            if not self.peer.alive():
                self.died_at = self.died_at or t
            else:
                try:
                    self.rss.append((t, benchlib.vmrss(self.peer.pid)))
                except (OSError, RuntimeError):
                    pass
            self.stop_flag.wait(0.25)

    def _probe(self):
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            if self.peer.alive():
                try:
                    c = pclient.Client.connect(self.peer.target, timeout=12)
                    ok = c.ping(timeout=3)
                    c.close()
                    self.probes.append((t0, time.monotonic() - t0, None if ok else "bad_ack"))
                except Exception as e:  # noqa: BLE001 - every failure is a result here
                    self.probes.append((t0, None, type(e).__name__))
            self.stop_flag.wait(max(0.0, self.probe_every - (time.monotonic() - t0)))

    def between(self, t0, t1):
        rss = [b for t, b in self.rss if t0 <= t <= t1]
        pr = [(s, e) for t, s, e in self.probes if t0 <= t <= t1]
        ok = [s for s, e in pr if e is None]
        return {"rss_max": max(rss) if rss else None,
                "probes": len(pr), "probe_failures": len(pr) - len(ok),
                "probe_errors": sorted({e for _, e in pr if e}),
                "probe_max_s": round(max(ok), 3) if ok else None}


def run_worker(name, target, workdir, seconds, extra=()):
    argv = [sys.executable, os.path.abspath(__file__), "--worker", name, "--target", target,
            "--seconds", str(seconds), *[str(x) for x in extra]]
    proc = benchlib.Proc(f"worker-{name}", argv, os.path.join(workdir, f"{name}.log"),
                         stdout_pipe=True)
    try:
        out, _ = proc.popen.communicate(timeout=seconds + 15)
    except subprocess.TimeoutExpired:
        proc.stop(grace=1)
        return {"error": "worker ran over its time"}
    proc.stop()
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = proc.log_text()[-800:].decode(errors="replace")
        return {"error": f"worker exit {proc.popen.returncode}", "log": tail}


def run_parallel(jobs):
    """[(key, name, target, workdir, seconds, extra)] at once; {key: result}."""
    results = {}
    threads = []
    for key, *job in jobs:
        def go(k=key, j=job):
            results[k] = run_worker(*j)
        t = threading.Thread(target=go, daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=120)
    return results


def orchestrate(args):
    build = os.path.abspath(args.build)
    work = benchlib.workdir("parley-robust-")
    t_start = time.monotonic()
    peer = benchlib.Peer(build, work, max_conns=4096)
    plan = [  # (phase, seconds, [(key, worker, seconds, extra)])
        ("garbage", 8, [(f"garbage{i}", "garbage", 8, ["--n", 500, "--seed", i])
                        for i in range(2)]),
        ("halfopen", 14, [("halfopen", "halfopen", 14, ["--n", 450])]),
        ("slow", 10, [("slow", "slow", 10, ["--n", 20, "--delay", 0.02])]),
        ("frames", 20, [(f"frames{i}", "frames", 20, ["--seed", 100 + i]) for i in range(3)]),
        ("pressure", 8, [("pressure", "pressure", 8, [])]),
    ]
    total = sum(p[1] for p in plan) + 6
    good = GoodClient(build, peer.target, total + 30, work)
    mon = Monitor(peer)
    baseline_t0 = time.monotonic()
    mon.start()
    time.sleep(1.5)  # the good client's baseline
    phases = {}
    phases["baseline"] = {"good_client": good.between(baseline_t0, time.monotonic()),
                          **mon.between(baseline_t0, time.monotonic())}
    try:
        for phase, secs, jobs in plan:
            if time.monotonic() - t_start + secs > TOTAL_LIMIT_S - 8:
                phases[phase] = {"skipped": "time budget"}
                continue
            if not peer.alive():
                phases[phase] = {"skipped": "peer dead"}
                continue
            t0 = time.monotonic()
            res = run_parallel([(k, w, peer.target, work, s, extra) for k, w, s, extra in jobs])
            t1 = time.monotonic()
            phases[phase] = {"seconds": round(t1 - t0, 1), "attackers": res,
                             "good_client": good.between(t0, t1), **mon.between(t0, t1)}
            print(f"  {phase:9} {summary_line(phases[phase])}", flush=True)
        time.sleep(0.6)
    finally:
        final = good.finish(timeout=5)
        mon.stop()
        alive = peer.alive()
        code = peer.stop()
    report = {"phases": phases, "good_client": final, "peer_alive_at_end": alive,
              "peer_died_at_s": round(mon.died_at - t_start, 1) if mon.died_at else None,
              "peer_exit": code, "wall_seconds": round(time.monotonic() - t_start, 1),
              "rss_start": mon.rss[0][1] if mon.rss else None,
              "rss_max": max(b for _, b in mon.rss) if mon.rss else None,
              "peer_log": peer.proc.log_path}
    lat = (final or {}).get("latency", {})
    fails = []
    if not final:
        fails.append("the good client printed no result")
    else:
        if lat.get("p99_us", P99_LIMIT_US) >= P99_LIMIT_US:
            fails.append(f"good client p99 {lat.get('p99_us')} µs >= 50 ms")
        if final.get("timeouts"):
            fails.append(f"{final['timeouts']} PINGs waited over 2 s")
        if final.get("closed") or final.get("reconnects"):
            fails.append(f"good client's connection dropped {final.get('closed')} times")
    if not alive or mon.died_at:
        fails.append("the peer died")
    report["verdict"] = "PASS" if not fails else "FAIL"
    report["failures"] = fails
    report["findings"] = findings(phases)
    print_report(report)
    if not fails:
        report["peer_log"] = None  # removed with the run's folder below
    path = benchlib.write_report("robust.json", report)
    print(f"wrote {os.path.relpath(path, benchlib.ROOT)}")
    benchlib.finish_workdir(work, not fails)
    return 0 if not fails else 1


def summary_line(ph):
    g = ph.get("good_client", {})
    return (f"good client p99 {g.get('worst_p99_us', '-')} µs (worst 0.5 s), max "
            f"{g.get('max_us', '-')} µs, timeouts {g.get('timeouts', '-')}; probe "
            f"{ph.get('probes', 0) - ph.get('probe_failures', 0)}/{ph.get('probes', 0)} ok, "
            f"slowest {ph.get('probe_max_s')} s")


def findings(phases):
    """Observations that do not fail the run but deserve a look."""
    out = []
    for phase, ph in phases.items():
        for key, r in (ph.get("attackers") or {}).items():
            if r.get("error"):
                out.append(f"{key}: worker error {r['error']}")
            if r.get("still_open"):
                out.append(f"{key}: {r['still_open']} connections still open at the end")
            if r.get("answered_non_parley"):
                out.append(f"{key}: {r['answered_non_parley']} non-Parley inputs got bytes "
                           f"back ([PRE-2])")
            stalled = (r.get("outcomes") or {}).get("stalled")
            if stalled:
                out.append(f"{key}: {stalled} sessions stalled (no answer to a PING within "
                           f"2 s): {r.get('stalled_cases')}")
            if phase == "slow" and r.get("outcomes", {}).get("ok", 0) < r.get("writers", 0):
                out.append(f"slow writers: {r.get('outcomes')}")
            if phase == "pressure" and r.get("nonreader_blocked") is False:
                out.append("pressure: a non-reading client was never blocked "
                           f"({r.get('nonreader_bytes_sent')} bytes taken)")
        if ph.get("probe_failures"):
            out.append(f"{phase}: {ph['probe_failures']} of {ph['probes']} fresh sessions "
                       f"failed (new handshakes not served)")
        elif ph.get("probe_max_s") and ph["probe_max_s"] > 2:
            out.append(f"{phase}: a fresh session took {ph['probe_max_s']} s")
    return out


def print_report(r):
    g = r["good_client"] or {}
    lat = g.get("latency", {})
    print()
    print(f"robust: {r['verdict']} in {r['wall_seconds']} s")
    print(f"  good client: {g.get('done')} PINGs, p50 {lat.get('p50_us')} µs, p99 "
          f"{lat.get('p99_us')} µs, max {lat.get('max_us')} µs; p99 / 50 ms limit = "
          f"{(lat.get('p99_us') or 0) / P99_LIMIT_US:.3f}; timeouts (> 2 s) "
          f"{g.get('timeouts')}, dropped {g.get('closed')}")
    base = r["phases"].get("baseline", {}).get("good_client", {})
    if base.get("worst_p99_us"):
        for name, ph in r["phases"].items():
            p99 = ph.get("good_client", {}).get("worst_p99_us")
            if p99:
                print(f"  {name:9} worst-interval p99 / baseline = "
                      f"{p99 / base['worst_p99_us']:.2f}")
    if r["rss_start"]:
        print(f"  peer RSS max / start = {r['rss_max'] / r['rss_start']:.2f}")
    print(f"  peer alive at the end: {r['peer_alive_at_end']}, exit status {r['peer_exit']}")
    for f in r["failures"]:
        print(f"  FAIL: {f}")
    for f in r["findings"]:
        print(f"  finding: {f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(benchlib.ROOT, "build"))
    ap.add_argument("--worker", choices=sorted(WORKERS))
    ap.add_argument("--target")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--delay", type=float, default=0.02)
    ap.add_argument("--max-cases", type=int, default=5000)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args)), flush=True)
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
