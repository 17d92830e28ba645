#!/usr/bin/python3
"""Run the Parley live conformance suite against a peer.

    conformance/run.py --peer 'my-peer --listen 127.0.0.1:{tcp_port} --key {key_file} ...'
    conformance/run.py --target 127.0.0.1:7400
    conformance/run.py --peer-manifest conformance/peers/reference.json
    PEER='my-peer ...' conformance/run.py          (also TARGET=, MANIFEST=, EXPECTATIONS=)

Everything after the options this script knows (or after `--`) goes to pytest as it is
(-x, -v, --maxfail=3, ...). The exit status is pytest's: 0 when no MUST failed, 1 when
one did, 2-4 for a usage error or a peer that could not be started.

`make conformance` runs: /usr/bin/python3 conformance/run.py --peer-manifest
conformance/peers/reference.json. `make conformance PEER='...'` (or TARGET=...) replaces
the reference peer: the environment wins over the manifest given on the command line.
"""

import argparse
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"


def parse(argv):
    ap = argparse.ArgumentParser(
        description="Parley live conformance suite (see conformance/README.md)",
        epilog="Other arguments are passed to pytest.")
    ap.add_argument("--peer", help="command template of the peer to start")
    ap.add_argument("--target", help="HOST:PORT of a peer already running")
    ap.add_argument("--manifest", "--peer-manifest", dest="manifest",
                    help="peer manifest (JSON: name, command, features)")
    ap.add_argument("--expectations", help="known failures (JSON), reported EXPECTED-FAIL")
    ap.add_argument("--repeat", type=int, help="run each case N times")
    ap.add_argument("--list", action="store_true", help="list the cases, run nothing")
    ap.add_argument("--chapter", action="append", default=[],
                    help="only this chapter (preface, handshake, records, frames, messages, "
                         "errors, initiator, timeouts); repeatable")
    ap.add_argument("-k", dest="keyword", help="pytest -k expression")
    ap.add_argument("--quick", action="store_true", help="skip the 10 s timeout tests")
    ap.add_argument("--slow", action="store_true", help="also the 120 s idle-timeout test")
    ap.add_argument("--report-dir", help="default: conformance/reports")
    ap.add_argument("--admin-secret", help="TARGET mode: the admin's Ed25519 seed file")
    ap.add_argument("--timeout-scale", type=float, help="multiply every wait")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the peers' temporary folders")
    ap.add_argument("--pcap", choices=("failures", "all", "off"),
                    help="captures in <report dir>/pcaps/: of failing tests (default), all "
                         "tests, or none")
    return ap.parse_known_args(argv)


def absolute(path):
    return os.path.abspath(path) if path else path


def pytest_args(args, rest, env):
    """The pytest command line (run from conformance/)."""
    peer, target, manifest = args.peer, args.target, args.manifest
    if not (peer or target):
        if env.get("PEER") or env.get("TARGET"):
            peer, target = env.get("PEER"), env.get("TARGET")
            manifest = env.get("MANIFEST")  # the command line's manifest is the default peer's
        else:
            manifest = manifest or env.get("MANIFEST")
    out = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN", "--tb=no",
           "--rootdir", HERE]
    out += sorted(os.path.relpath(p, HERE)
                  for p in glob.glob(os.path.join(HERE, "tests", "test_live_*.py")))
    if peer:
        out += ["--peer", peer, "--peer-cwd", os.getcwd()]
    if target:
        out += ["--target", target]
    if manifest:
        out += ["--manifest", absolute(manifest)]
    expectations = args.expectations or env.get("EXPECTATIONS")
    if expectations:
        out += ["--expectations", absolute(expectations)]
    if args.repeat:
        out += ["--repeat", str(args.repeat)]
    if args.list:
        out += ["--list"]
    for chapter in args.chapter:
        out += ["--chapter", chapter]
    if args.keyword:
        out += ["-k", args.keyword]
    if args.quick:
        out += ["--quick"]
    if args.slow:
        out += ["--slow"]
    out += ["--report-dir", absolute(args.report_dir) if args.report_dir
            else os.path.join(HERE, "reports")]
    if args.admin_secret:
        out += ["--admin-secret", absolute(args.admin_secret)]
    if args.timeout_scale:
        out += ["--timeout-scale", str(args.timeout_scale)]
    if args.keep_tmp:
        out += ["--keep-tmp"]
    if args.pcap:
        out += ["--pcap", args.pcap]
    return out + [a for a in rest if a != "--"]


def main(argv=None):
    args, rest = parse(sys.argv[1:] if argv is None else argv)
    env = os.environ
    command = pytest_args(args, rest, env)
    if not any(flag in command for flag in ("--peer", "--target", "--manifest", "--list")):
        print("run.py: no peer given: use --peer CMD, --target HOST:PORT or --peer-manifest "
              "FILE (or PEER=, TARGET=)", file=sys.stderr)
        return 2
    code = subprocess.call(command, cwd=HERE)
    if args.list and code == 5:  # pytest: no tests ran, which is what --list asks
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
