#!/usr/bin/python3
"""peer_bench.py - `make bench-peer`: the reference peer against two anchors measured in
the same run, on loopback, driven by the same load generator (build/loadgen):

  redis-server  a mature single-threaded event-loop server: RESP PING -> +PONG;
  echo          tools/bench/echo.c, a plain poll(2) echo server of the peer's shape that
                sends back the bytes of a sealed Parley PING record: the raw ceiling.

Cells: 1 and 64 connections x pipeline depth 1, 16, 64 (requests/s; the three servers
take turns in a rotating order, and every cell is measured --rounds times interleaved
with the others; a ratio is taken between the runs of one round, measured back to back, and
the median over the rounds is reported with its range: the host's speed drifts by tens of
percent over seconds, so only runs close in time are compared); latency p50/p99 at depth 1
on one connection (--rounds runs, median); connection setups/s (connect, setup, one request, close: for parley the
setup is the full handshake) with the core's in-memory handshake (both sides, one core,
no sockets) as the crypto anchor. Servers run on CPU 0 and the load generator on CPU 1;
each run also reads the server's CPU time over the measured window (loadgen
--server-pid), which gives a second figure that does not depend on which side is the
bottleneck: the server's CPU per request, parley over redis and over echo (a server busy
under 100 % is waiting on the client, the network or a rate limit; the load generator's
own CPU share is printed next to it).

The parley series uses loadgen's lean client (--client lean: the codec alone after the
handshake, every answer checked as the redis side checks "+PONG"); a fourth series,
parley-core, drives the same peer with the whole connection core as the client.

Prints the ratios parley/redis and parley/echo per cell and writes reports/bench-peer.json.
Every process started is stopped at the end.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import ratio  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
PROTOS = ("parley", "redis", "echo")
# Throughput also runs the peer with the connection core as the client ("parley-core"):
# the "parley" series uses loadgen's lean client (codec only after the handshake, every
# answer checked), which keeps the client's cost out of the server's figure as the redis
# and echo sides do; parley-core shows what a client built on the whole core gets.
SERIES = PROTOS + ("parley-core",)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(benchlib.ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=0.6, help="measured seconds per run")
    ap.add_argument("--rounds", type=int, default=7, help="runs per cell (median kept)")
    ap.add_argument("--warmup", type=float, default=0.2)
    ap.add_argument("--conns", default="1,64")
    ap.add_argument("--depths", default="1,16,64")
    ap.add_argument("--hs-conns", type=int, default=16,
                    help="connections setting up at once in the handshake runs")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    conns_list = [int(x) for x in args.conns.split(",")]
    depths = [int(x) for x in args.depths.split(",")]

    work = benchlib.workdir("parley-bench-")
    started = time.monotonic()
    peer = benchlib.Peer(build, work, max_conns=4096, cpu=SERVER_CPU)
    redis, redis_target = benchlib.start_redis(work, cpu=SERVER_CPU)
    echo, echo_target = benchlib.start_echo(build, work, cpu=SERVER_CPU)
    targets = {"parley": peer.target, "redis": redis_target, "echo": echo_target}
    servers = {"parley": peer.proc, "redis": redis, "echo": echo}
    run_timeout = args.seconds + args.warmup + 40

    def run(series, extra, label, seconds=None):
        proto = series.split("-")[0]
        if series == "parley-core":
            extra = ["--client", "core", *extra]
        server = servers[proto]
        if not server.alive():
            raise RuntimeError(f"{proto} server exited (log: {server.log_path})")
        r = benchlib.loadgen(build, ["--proto", proto, "--target", targets[proto],
                                     "--seconds", seconds or args.seconds,
                                     "--warmup", args.warmup, "--label", label,
                                     "--server-pid", server.pid, *extra],
                             timeout=run_timeout, cpu=CLIENT_CPU)
        cpu = r.get("server_cpu_s", 0.0)
        r["server_cpu_share"] = round(cpu / r["seconds"], 3) if r["seconds"] else None
        r["server_cpu_us_per_req"] = cpu / r["done"] * 1e6 if r["done"] else None
        r["client_cpu_share"] = (round(r.get("client_cpu_s", 0.0) / r["seconds"], 3)
                                 if r["seconds"] else None)
        r["client_cpu_us_per_req"] = r.get("client_cpu_s", 0.0) / r["done"] * 1e6 if r["done"] else None
        bad = {k: r[k] for k in ("nacks", "errors", "closed", "setup_failed") if r.get(k)}
        if r["exit"] != 0 or bad:
            print(f"  warning: {proto} {label}: exit {r['exit']} {bad} "
                  f"{r.get('stderr', '').strip()}", file=sys.stderr)
        return r

    report = {"rounds": args.rounds, "anchors": {"redis": "redis-server " + redis_version(),
                          "echo": "tools/bench/echo.c",
                          "mem": "the connection core, both sides in one process"},
              "seconds_per_run": args.seconds, "throughput": [], "latency": {},
              "handshakes": {}}
    try:
        # --- throughput: every cell --rounds times, the servers in a rotating order ---
        cells = [(c, d) for c in conns_list for d in depths]
        runs = {cell: {p: [] for p in SERIES} for cell in cells}
        turn = 0
        for rnd in range(args.rounds):
            for cell in cells:
                k = turn % len(SERIES)
                order = SERIES[k:] + SERIES[:k]
                turn += 1
                for proto in order:
                    r = run(proto, ["--conns", cell[0], "--depth", cell[1]],
                            f"{cell[0]}x{cell[1]}")
                    runs[cell][proto].append(r)
            print(f"  round {rnd + 1}/{args.rounds} done", flush=True)
        for (conns, depth) in cells:
            rates = {p: median([r["per_s"] for r in runs[(conns, depth)][p]]) for p in SERIES}
            cpu = {p: median([r["server_cpu_share"] for r in runs[(conns, depth)][p]])
                   for p in SERIES}
            cpu_req = {p: median([r["server_cpu_us_per_req"] for r in runs[(conns, depth)][p]])
                       for p in SERIES}
            client = {p: median([r["client_cpu_share"] for r in runs[(conns, depth)][p]])
                      for p in SERIES}
            client_req = {p: median([r["client_cpu_us_per_req"] for r in runs[(conns, depth)][p]])
                          for p in SERIES}
            per_s = {p: [r["per_s"] for r in runs[(conns, depth)][p]] for p in SERIES}
            cell = {
                "conns": conns, "depth": depth, "per_s": rates, "server_cpu_share": cpu,
                "server_cpu_us_per_req": cpu_req, "client_cpu_share": client,
                "cpu_per_req_parley_over_redis": ratio(cpu_req["parley"], cpu_req["redis"]),
                "cpu_per_req_parley_over_echo": ratio(cpu_req["parley"], cpu_req["echo"]),
                # the load generator's CPU per request: when it is the busy side, the
                # throughput ratio cannot exceed redis's client cost over parley's
                "client_cpu_us_per_req": client_req,
                "client_cpu_per_req_parley_over_redis": ratio(client_req["parley"],
                                                              client_req["redis"]),
                "runs_per_s": per_s}
            # Each ratio pairs the runs of one round (measured back to back, so they share
            # the machine's state); the median over the rounds is the figure, the range
            # shows the noise.
            for a, b in (("parley", "redis"), ("parley", "echo"), ("redis", "echo"),
                         ("parley-core", "redis"), ("parley-core", "echo")):
                key = f"{a.replace('-', '_')}_over_{b}"
                cell[key], cell[key + "_range"] = paired(per_s[a], per_s[b])
            report["throughput"].append(cell)

        # --- latency: depth 1, one connection ---
        lat_runs = {p: [] for p in PROTOS}
        for rnd in range(args.rounds):
            for proto in PROTOS[rnd % 3:] + PROTOS[:rnd % 3]:
                r = run(proto, ["--conns", 1, "--depth", 1, "--latency"], "latency")
                lat_runs[proto].append(r["latency"])
        for proto in PROTOS:
            report["latency"][proto] = {
                q: median([x[q] for x in lat_runs[proto]]) for q in ("p50_us", "p99_us")}
            report["latency"][proto]["max_us"] = max(x["max_us"] for x in lat_runs[proto])
            report["latency"][proto]["runs"] = lat_runs[proto]
        lat = report["latency"]
        for q in ("p50_us", "p99_us"):
            report["latency"][f"{q}_parley_over_redis"] = ratio(lat["parley"][q], lat["redis"][q])
            report["latency"][f"{q}_parley_over_echo"] = ratio(lat["parley"][q], lat["echo"][q])

        # --- connection setups per second ---
        hs = report["handshakes"]
        for proto in PROTOS:
            r = run(proto, ["--handshakes", "--conns", args.hs_conns], "handshakes",
                    seconds=2 * args.seconds)
            hs[proto] = {"per_s": r["per_s"], "setup_failed": r["setup_failed"],
                         "connect_failed": r["connect_failed"],
                         "server_cpu_share": r["server_cpu_share"],
                         "server_cpu_us_per_setup": r["server_cpu_us_per_req"]}
        r = benchlib.loadgen(build, ["--proto", "mem", "--handshakes", "--seconds",
                                     2 * args.seconds, "--warmup", args.warmup],
                             timeout=run_timeout, cpu=CLIENT_CPU)
        hs["mem"] = {"per_s": r["per_s"], "errors": r["errors"]}
        hs["parley_over_redis"] = ratio(hs["parley"]["per_s"], hs["redis"]["per_s"])
        hs["parley_over_echo"] = ratio(hs["parley"]["per_s"], hs["echo"]["per_s"])
        hs["parley_over_mem"] = ratio(hs["parley"]["per_s"], hs["mem"]["per_s"])
        limit = hs_rate_limit()
        if limit:  # the peer's [HS-13] cap on handshakes started per second
            hs["peer_hs_rate_limit"] = limit
            hs["parley_over_hs_rate_limit"] = ratio(hs["parley"]["per_s"], limit)
        # the peer's CPU per handshake against one side's share of the in-memory pair
        hs["peer_cpu_per_setup_over_half_mem"] = ratio(
            hs["parley"]["server_cpu_us_per_setup"] or 0.0, 0.5e6 / hs["mem"]["per_s"]
            if hs["mem"]["per_s"] else 0.0)
        report["peer_alive_at_end"] = peer.alive()
    finally:
        codes = {name: p.stop() for name, p in servers.items()}
        report["exit_codes"] = codes
        report["wall_seconds"] = round(time.monotonic() - started, 1)

    print_table(report)
    path = benchlib.write_report("bench-peer.json", report)
    print(f"wrote {os.path.relpath(path, benchlib.ROOT)} ({report['wall_seconds']} s)")
    ok = report.get("peer_alive_at_end") and codes["parley"] == 0
    if not ok:
        print(f"parley-peer exit status {codes['parley']} (log {peer.proc.log_path})")
    benchlib.finish_workdir(work, ok)
    return 0 if ok else 1


def hs_rate_limit():
    """HS_RATE of ref/cmd/parley-peer.c (handshakes started per second, [HS-13]), or None."""
    import re
    try:
        with open(os.path.join(benchlib.ROOT, "ref", "cmd", "parley-peer.c"),
                  encoding="utf-8") as f:
            m = re.search(r"^#define HS_RATE (\d+)", f.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def paired(a, b):
    """The median and the range of a[i] / b[i] over the rounds."""
    rs = [ratio(x, y) for x, y in zip(a, b) if y]
    return (median(rs), [min(rs), max(rs)]) if rs else (None, None)


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def redis_version():
    import subprocess
    out = subprocess.run(["redis-server", "--version"], capture_output=True, text=True,
                         timeout=10).stdout
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return "?"


def print_table(report):
    print()
    print(f"requests/s, ratios of the same run (median of {report['rounds']} runs; servers on "
          "CPU 0, loadgen on CPU 1)")
    print("requests/s: the median over the rounds of each round's ratio (its range); the core "
          "client drives the peer with the whole connection core")
    print("                 requests/s (lean client)                            core client"
          "    server CPU per request   client CPU/req   busy: server / loadgen")
    print("  conns x depth   parley/redis         parley/echo          redis/echo   "
          "parley/redis   parley/redis parley/echo   parley/redis     parley    redis     echo")

    def rng(c, key):
        lo, hi = c[key + "_range"]
        return f"{c[key]:6.3f} ({lo:.2f}-{hi:.2f})"
    for c in report["throughput"]:
        cpu, cl = c["server_cpu_share"], c["client_cpu_share"]
        busy = "  ".join(f"{cpu[p]:.2f}/{cl[p]:.2f}" for p in PROTOS)
        print(f"  {c['conns']:>5} x {c['depth']:<5}   {rng(c, 'parley_over_redis')}  "
              f"{rng(c, 'parley_over_echo')}  {c['redis_over_echo']:10.3f}   "
              f"{c['parley_core_over_redis']:12.3f}   "
              f"{c['cpu_per_req_parley_over_redis']:12.3f} "
              f"{c['cpu_per_req_parley_over_echo']:11.3f}   "
              f"{c['client_cpu_per_req_parley_over_redis']:12.3f}     {busy}")
    lat = report["latency"]
    print(f"latency at depth 1, one connection (parley / anchor; median of {report['rounds']} "
          "runs)")
    for q in ("p50_us", "p99_us"):
        print(f"  {q[:3]}: parley/redis {lat[q + '_parley_over_redis']:.3f}  "
              f"parley/echo {lat[q + '_parley_over_echo']:.3f}  "
              f"(µs: parley {lat['parley'][q]}, redis {lat['redis'][q]}, echo {lat['echo'][q]})")
    hs = report["handshakes"]
    print("connection setups/s (connect, setup, one request, close)")
    print(f"  parley/redis {hs['parley_over_redis']:.3f}  parley/echo {hs['parley_over_echo']:.3f}"
          f"  parley/in-memory handshake {hs['parley_over_mem']:.3f}  (peer busy "
          f"{hs['parley']['server_cpu_share']:.2f}; peer CPU per handshake / half the "
          f"in-memory pair's {hs['peer_cpu_per_setup_over_half_mem']:.2f})")
    if hs.get("peer_hs_rate_limit"):
        print(f"  parley / the peer's own handshake rate limit (HS_RATE "
              f"{hs['peer_hs_rate_limit']}/s, [HS-13]) {hs['parley_over_hs_rate_limit']:.3f}")
    print("same-run rates for context (per second):")
    for c in report["throughput"]:
        r = c["per_s"]
        print(f"  {c['conns']:>3}x{c['depth']:<3} parley {r['parley']:>10.0f}  "
              f"redis {r['redis']:>10.0f}  echo {r['echo']:>10.0f}  "
              f"parley-core {r['parley-core']:>10.0f}")
    print(f"  setups   parley {hs['parley']['per_s']:>10.0f}  redis {hs['redis']['per_s']:>10.0f}"
          f"  echo {hs['echo']['per_s']:>10.0f}  mem {hs['mem']['per_s']:>10.0f}")


if __name__ == "__main__":
    sys.exit(main())
