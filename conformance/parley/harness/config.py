"""The harness's settings: command-line options, the peer manifest, the expectations file.

Peer manifest (JSON), e.g. conformance/peers/reference.json:

    {
      "name": "parley reference peer",
      "command": "build/parley-peer --tcp 127.0.0.1:{tcp_port} --key {key_file} ...",
      "cwd": "../..",                      // optional, relative to the manifest's folder
      "features": ["compression:zlib"],    // optional features the peer claims
      "startup_timeout": 10                // optional, seconds
    }

Features a manifest may claim: "compression:bz2", "compression:gzip", "compression:lzma",
"compression:zlib", "compression:snappy" (zlib is required of every peer by [OPT-2]), and
the draft chapters "mesh", "dht", "udp" (their opcodes are then not expected to get
NOT_IMPLEMENTED; the suite has no tests for draft chapters yet).

Expectations file (JSON): known failures, reported EXPECTED-FAIL instead of FAIL:

    {"expected_failures": [
       {"test": "test_live_frames*::test_reserved_flag*", "reason": "issue #12"},
       {"requirement": "LIMIT-5", "reason": "no idle timeout yet"}
    ]}

`test` is matched (fnmatch) against the test's node id, with and without its parameters;
`requirement` against the requirement the failure names.

Command placeholders: {tcp_port} {udp_port} {host} {key_file} {admin_key_file}
{admin_key} (hex) {keylog_file} {data_dir} {bootstrap} (HOST:PORT of a harness
listener the peer dials).
"""

import fnmatch
import json
import os
from dataclasses import dataclass, field
from typing import Optional

COMPRESSION_SETTINGS = ("bz2", "gzip", "lzma", "zlib", "snappy")
DRAFT_FEATURES = {"mesh": (4, 5, 6, 17), "dht": (7, 8, 9, 14, 15, 16), "udp": ()}
KNOWN_FEATURES = {f"compression:{s}" for s in COMPRESSION_SETTINGS} | set(DRAFT_FEATURES)


class ConfigError(Exception):
    """A bad option, manifest or expectations file."""


@dataclass
class Manifest:
    name: str = "peer under test"
    command: Optional[str] = None
    cwd: Optional[str] = None
    features: list = field(default_factory=list)
    startup_timeout: float = 10.0
    path: Optional[str] = None

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"manifest {path}: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"manifest {path}: not a JSON object")
        unknown = [f for f in doc.get("features", []) if f not in KNOWN_FEATURES]
        if unknown:
            raise ConfigError(f"manifest {path}: unknown features {unknown}; "
                              f"known: {sorted(KNOWN_FEATURES)}")
        cwd = doc.get("cwd")
        if cwd is not None:
            cwd = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), cwd))
        return cls(name=doc.get("name", os.path.basename(path)), command=doc.get("command"),
                   cwd=cwd, features=list(doc.get("features", [])),
                   startup_timeout=float(doc.get("startup_timeout", 10.0)),
                   path=os.path.abspath(path))

    def claims(self, feature):
        return feature in self.features

    @property
    def compression_settings(self):
        """The settings claimed, plus zlib that every peer supports ([OPT-2])."""
        claimed = {f.split(":", 1)[1] for f in self.features if f.startswith("compression:")}
        return claimed | {"zlib"}

    @property
    def draft_opcodes(self):
        return {op for f in self.features if f in DRAFT_FEATURES for op in DRAFT_FEATURES[f]}


@dataclass
class Expectation:
    reason: str
    test: Optional[str] = None
    requirement: Optional[str] = None

    def matches(self, nodeid, requirement):
        if self.requirement and self.requirement != requirement:
            return False
        if self.test:
            base = nodeid.split("[", 1)[0]
            short = nodeid.split("::", 1)[-1]
            names = (nodeid, base, short, short.split("[", 1)[0])
            if not any(fnmatch.fnmatchcase(n, self.test) or fnmatch.fnmatchcase(n, "*" + self.test)
                       for n in names):
                return False
        return bool(self.test or self.requirement)


def load_expectations(path):
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"expectations {path}: {exc}") from None
    out = []
    for entry in doc.get("expected_failures", []):
        if not entry.get("reason"):
            raise ConfigError(f"expectations {path}: every entry needs a reason: {entry}")
        out.append(Expectation(entry["reason"], entry.get("test"), entry.get("requirement")))
    return out


def expected(expectations, nodeid, requirement):
    """The first expectation that lists this failure, or None."""
    for e in expectations:
        if e.matches(nodeid, requirement):
            return e
    return None


@dataclass
class Settings:
    """Everything the run was asked to do."""
    mode: str  # "peer", "target" or "none"
    command: Optional[str] = None
    target: Optional[tuple] = None
    manifest: Manifest = field(default_factory=Manifest)
    expectations: list = field(default_factory=list)
    quick: bool = False
    slow: bool = False
    repeat: int = 1
    report_dir: Optional[str] = None
    admin_seed: Optional[bytes] = None  # TARGET mode: the admin's secret, when known
    keep_tmp: bool = False

    @property
    def can_spawn(self):
        """Whether the harness starts peers itself (restarts, extra instances)."""
        return self.mode == "peer"

    @property
    def has_admin(self):
        return self.mode == "peer" or self.admin_seed is not None


def parse_target(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--target {text!r}: expected HOST:PORT")
    return (host.strip("[]") or "127.0.0.1", int(port))


def read_admin_seed(path):
    """An Ed25519 seed from a file: 64 hex chars, 128 hex chars (libsodium secret key), or
    32/64 raw bytes."""
    with open(path, "rb") as f:
        data = f.read()
    text = data.strip()
    try:
        raw = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raw = data
    if len(raw) not in (32, 64):
        raise ConfigError(f"--admin-secret {path}: not a 32-byte seed or 64-byte secret key")
    return raw[:32]


def from_options(opt):
    """Settings from pytest's parsed options (conftest.py adds them)."""
    manifest = Manifest.load(opt.parley_manifest) if opt.parley_manifest else Manifest()
    command = opt.parley_peer or manifest.command
    if opt.parley_peer:  # an explicit command runs where it was given
        manifest.cwd = opt.parley_peer_cwd
    target = parse_target(opt.parley_target) if opt.parley_target else None
    if command and target:
        raise ConfigError("give --peer (or a manifest command) or --target, not both")
    mode = "target" if target else "peer" if command else "none"
    return Settings(
        mode=mode, command=command, target=target, manifest=manifest,
        expectations=load_expectations(opt.parley_expectations),
        quick=opt.parley_quick, slow=opt.parley_slow, repeat=max(1, opt.parley_repeat),
        report_dir=opt.parley_report_dir,
        admin_seed=read_admin_seed(opt.parley_admin_secret) if opt.parley_admin_secret else None,
        keep_tmp=opt.parley_keep_tmp,
    )
