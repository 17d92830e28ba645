#!/usr/bin/python3
"""The Parley live network fuzzer: attacks a peer over loopback, mostly inside an
authenticated session, and judges every answer by the spec's receive order.

    conformance/fuzz_live.py --peer 'CMD --tcp 127.0.0.1:{tcp_port} ...' --seed 1 \\
        --cases 5000 --seconds 120 [--json out.json]
    conformance/fuzz_live.py --target 127.0.0.1:7400 --seed 7 --cases 2000
    conformance/fuzz_live.py --peer-manifest conformance/peers/reference.json
    conformance/fuzz_live.py --replay conformance/reproducers/fuzz-seed1-case42.json
    conformance/fuzz_live.py --seed 1 --case 42        (case 42 of seed 1 alone)

Without --peer, --target or a manifest it runs the reference peer's manifest
(conformance/peers/reference.json; `make programs` builds it). A finding prints the seed,
the case number, the exact records and frames (hex) and the answer the spec calls for,
and writes a reproducer JSON under --out (default conformance/reproducers/), which
--replay runs again and the live suite replays as a regression test
(tests/test_live_fuzz.py). Exit status: 0 no finding, 1 findings, 2 usage, 3 the peer
could not be started or reached. See conformance/README.md, "Live fuzzer".
"""

import argparse
import glob
import json
import os
import sys
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from parley.harness import config as harness_config  # noqa: E402
from parley.harness import fuzz, net  # noqa: E402
from parley.harness.peer import PeerError, PeerUnderTest  # noqa: E402

REFERENCE_MANIFEST = os.path.join(HERE, "peers", "reference.json")
DEFAULT_OUT = os.path.join(HERE, "reproducers")


def parse(argv):
    ap = argparse.ArgumentParser(description="Parley live network fuzzer "
                                             "(see conformance/README.md, 'Live fuzzer')")
    who = ap.add_argument_group("the peer")
    who.add_argument("--peer", help="command template of the peer to start ({tcp_port}, "
                                    "{key_file}, {admin_key_file}, {keylog_file}, ...)")
    who.add_argument("--target", help="HOST:PORT of a peer already running (no restart "
                                      "after a crash; no admin cases without --admin-secret)")
    who.add_argument("--manifest", "--peer-manifest", dest="manifest",
                     help="peer manifest (default without --peer/--target: the reference "
                          "peer's)")
    who.add_argument("--admin-secret", help="TARGET mode: the admin's Ed25519 seed file")
    who.add_argument("--keep-tmp", action="store_true", help="keep the peers' temporary folders")
    run = ap.add_argument_group("the run")
    run.add_argument("--seed", type=int, default=1, help="the run's seed (default 1)")
    run.add_argument("--cases", type=int, default=1000, help="at most this many cases")
    run.add_argument("--seconds", type=float, default=60.0, help="at most this long")
    run.add_argument("--case", type=int, default=None,
                     help="start at this case number (with --cases 1: this case alone)")
    run.add_argument("--generators", default=None,
                     help="comma-separated generators only (" +
                          ",".join(name for name, _ in fuzz.GENERATORS) + ")")
    run.add_argument("--max-findings", type=int, default=20, help="stop after this many")
    run.add_argument("--timeout-scale", type=float, default=1.0,
                     help="multiply every wait (sanitizer builds, slow machines)")
    out = ap.add_argument_group("output")
    out.add_argument("--json", help="write the run's summary (findings, coverage) here")
    out.add_argument("--out", default=DEFAULT_OUT,
                     help="folder for reproducer JSON files (default conformance/reproducers)")
    out.add_argument("--replay", nargs="+", metavar="FILE",
                     help="replay reproducer files (or folders of them) instead of fuzzing")
    out.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    args = ap.parse_args(argv)
    if args.case is not None and args.cases == 1000:
        args.cases = 1
    return args


def settings_of(args):
    manifest = args.manifest
    if not (args.peer or args.target or manifest):
        manifest = REFERENCE_MANIFEST
        print(f"fuzz_live: no --peer or --target: using {os.path.relpath(manifest)}",
              file=sys.stderr)
    opt = SimpleNamespace(
        parley_manifest=manifest, parley_peer=args.peer, parley_peer_cwd=os.getcwd(),
        parley_target=args.target, parley_expectations=None, parley_quick=True,
        parley_slow=False, parley_repeat=1, parley_report_dir=None,
        parley_admin_secret=args.admin_secret, parley_keep_tmp=args.keep_tmp)
    return harness_config.from_options(opt)


def replay_files(put, paths):
    files = []
    for path in paths:
        files += sorted(glob.glob(os.path.join(path, "*.json"))) if os.path.isdir(path) \
            else [path]
    failed = 0
    for path in files:
        doc = fuzz.load_reproducer(path)
        blocked = fuzz.cannot_replay(put, doc)
        if blocked:
            print(f"SKIP  {path}: {blocked}")
            continue
        finding = fuzz.replay(put, doc)
        if finding is None:
            print(f"PASS  {path}: the peer answers as the spec requires")
            continue
        failed += 1
        doc = dict(doc, finding=finding.to_json(), expected=finding.expected or
                   doc.get("expected", []), path=path)
        print("FAIL  " + fuzz.format_finding(doc))
        if finding.kind in ("crash", "hang") and put.settings.can_spawn:
            put.restart()
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    net.TIMEOUT_SCALE[0] = args.timeout_scale
    try:
        settings = settings_of(args)
    except harness_config.ConfigError as exc:
        print(f"fuzz_live: {exc}", file=sys.stderr)
        return 2
    put = PeerUnderTest(settings)
    try:
        put.start()
    except PeerError as exc:
        put.stop()
        print(f"fuzz_live: the peer could not be started or reached:\n{exc}", file=sys.stderr)
        return 3
    try:
        if args.replay:
            return replay_files(put, args.replay)
        generators = args.generators.split(",") if args.generators else None
        fuzzer = fuzz.Fuzzer(put, seed=args.seed, cases=args.cases, seconds=args.seconds,
                             out_dir=args.out, max_findings=args.max_findings,
                             generators=generators, first_case=args.case or 0,
                             log=None if args.quiet else lambda text: print(text, flush=True),
                             progress=0 if args.quiet else 1000)
        result = fuzzer.run()
        print(fuzz.format_summary(result))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(result.as_dict(), f, indent=2)
                f.write("\n")
        return 1 if result.findings else 0
    finally:
        put.stop()


if __name__ == "__main__":
    sys.exit(main())
