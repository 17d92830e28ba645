#!/usr/bin/python3
"""rss.py - `make bench-rss`: the reference peer's resident memory per idle authenticated
connection, against the 8 KiB per connection the design aims for ([LIMIT-4]).

Starts build/parley-peer, reads its VmRSS, then has a separate process (build/loadgen
--hold, so the 20,000-descriptor limit applies to each side on its own) open 5,000 and
then another 5,000 authenticated connections that stay idle, reading VmRSS after each.
Reports:
  per connection = (RSS with 10,000 - RSS at start) / 10,000   (the figure asked for)
  marginal       = (RSS with 10,000 - RSS with 5,000) / 5,000  (fixed costs cancel out)
each also as a ratio to 8 KiB. STATS (as the admin) confirms the peer counts them open.
Stops everything it started. Exit status 1 if the connections could not all be held.
"""

import argparse
import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import pclient  # noqa: E402

TARGET_BYTES = 8 * 1024
STAT_CONNS_OPEN = 2


def hold(build, target, n, timeout):
    """Starts a loadgen that opens n connections and keeps them idle; returns the Proc
    once it says "held n" (or raises)."""
    argv = [os.path.join(build, "loadgen"), "--proto", "parley", "--target", target,
            "--hold", str(n), "--seconds", "600"]
    proc = benchlib.Proc(f"loadgen-hold-{n}", argv, os.devnull, stdout_pipe=True)
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline and b"\n" not in line:
        r, _, _ = select.select([proc.popen.stdout], [], [], 0.5)
        if r:
            chunk = os.read(proc.popen.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    text = line.decode(errors="replace").strip()
    if not text.startswith("held "):
        proc.stop()
        raise RuntimeError(f"loadgen --hold {n}: no 'held' line within {timeout} s ({text!r})")
    held = int(text.split()[1])
    if held != n:
        proc.stop()
        raise RuntimeError(f"loadgen --hold {n}: only {held} connections opened")
    return proc


def settle_rss(pid, seconds=1.0):
    """VmRSS after the peer has been idle for a moment (the largest of three reads)."""
    time.sleep(seconds)
    return max(benchlib.vmrss(pid) for _ in range(3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(benchlib.ROOT, "build"))
    ap.add_argument("--conns", type=int, default=10000)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    n = args.conns
    half = n // 2

    work = benchlib.workdir("parley-rss-")
    peer = benchlib.Peer(build, work, max_conns=n + 100)
    holders = []
    report = {"conns": n, "target_bytes_per_conn": TARGET_BYTES}
    try:
        admin = pclient.Client.connect(peer.target, peer.admin, timeout=10)
        rss0 = settle_rss(peer.pid)
        t0 = time.monotonic()
        holders.append(hold(build, peer.target, half, timeout=120))
        rss_half = settle_rss(peer.pid)
        holders.append(hold(build, peer.target, n - half, timeout=120))
        setup_s = time.monotonic() - t0
        rss_full = settle_rss(peer.pid)
        counters = admin.stats()
        admin.close()
        open_now = counters.get(STAT_CONNS_OPEN)
        per_conn = (rss_full - rss0) / n
        marginal = (rss_full - rss_half) / (n - half)
        report.update({
            "rss_start": rss0, "rss_half": rss_half, "rss_full": rss_full,
            "bytes_per_conn": round(per_conn), "marginal_bytes_per_conn": round(marginal),
            "per_conn_over_target": per_conn / TARGET_BYTES,
            "marginal_over_target": marginal / TARGET_BYTES,
            "stats_conns_open": open_now, "setup_seconds": round(setup_s, 2),
            "peer_alive": peer.alive()})
    finally:
        for h in holders:
            h.stop()
        code = peer.stop()
        report["peer_exit"] = code

    print(f"parley-peer RSS per idle authenticated connection ({n} held by another process)")
    print(f"  per connection  (full - start) / {n}: {report['bytes_per_conn']} bytes = "
          f"{report['per_conn_over_target']:.2f} x the 8 KiB target")
    print(f"  marginal (full - half) / {n - half}: {report['marginal_bytes_per_conn']} bytes = "
          f"{report['marginal_over_target']:.2f} x the 8 KiB target")
    print(f"  STATS connections open (admin's included): {report['stats_conns_open']}; "
          f"set up in {report['setup_seconds']} s; peer exit status {code}")
    path = benchlib.write_report("bench-rss.json", report)
    print(f"wrote {os.path.relpath(path, benchlib.ROOT)}")
    ok = report.get("stats_conns_open") is not None and report["stats_conns_open"] >= n
    benchlib.finish_workdir(work, ok and code == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
