"""Packet captures of the harness's own traffic (--pcap), with the key log to read them.

No root capture: every net.Connection the harness opens or accepts gets a ConnectionTap
(net.TAP names the Recorder), which keeps the bytes sent and received on the socket,
when, and how the connection ended. LiveSession gives the tap its session keys: the two
§3.3 key-log lines once the handshake completes, and a `# PARLEY_HARNESS_SECRETS` comment
with the harness's own ephemeral and static private keys of that handshake, so that the
identity payloads can be decoded too (parley/dissect.py; §3.3 readers skip comments).

After a test, CapturePlugin writes, for every connection active during it,
`<report dir>/pcaps/<test>.pcap` (pcap.write_pcap: Ether/IP/TCP packets with real
addresses, ports, sequence and acknowledgement numbers), `<test>.keylog` (the harness's
lines, plus the lines the peer's own key log ({keylog_file}) has for these sessions and
the harness lacks) and `<test>.txt` (what tools/pcap-show prints for it). By default only
for a failing test (FAIL, NON-STRICT, EXPECTED-FAIL); `--pcap=all` for every test,
`--pcap=off` records nothing. The HTML report and summary.json link the files.
"""

import hashlib
import os
import re
import threading
import time

import pytest

from .. import codec, dissect, record
from ..pcap import (FIN_LOCAL, FIN_REMOTE, RECEIVED, RST_LOCAL, RST_REMOTE, SENT,
                    Conversation, write_pcap)
from .outcomes import EXPECTED_FAIL, FAIL, NON_STRICT

MODES = ("failures", "all", "off")
MAX_KEPT = 8 << 20  # bytes kept per connection and direction; later traffic is not recorded
PCAP_DIR = "pcaps"
WRITTEN_EXTENSIONS = (".pcap", ".keylog", ".txt")


class ConnectionTap:
    """What one connection carried, as its socket saw it (see pcap.Conversation)."""

    def __init__(self, sock, dialled=True):
        self.local = _address(sock.getsockname)
        self.remote = _address(sock.getpeername)
        self.dialled = dialled
        self.opened = time.time()
        self.last = self.opened
        self.events = []
        self.kept = {SENT: 0, RECEIVED: 0}
        self.truncated = False
        self.ended_local = self.ended_remote = False
        self.label = None
        self.keylog = []  # key-log lines (with their newline), harness secrets first

    # --- what net.Connection reports ------------------------------------------------

    def sent(self, data):
        self._data(SENT, data)

    def received(self, data):
        self._data(RECEIVED, data)

    def _data(self, kind, data):
        self.last = time.time()
        if self.truncated or not data:
            return
        if self.kept[kind] + len(data) > MAX_KEPT:
            self.truncated = True  # the capture of this connection ends here
            return
        self.kept[kind] += len(data)
        self.events.append((self.last, kind, bytes(data)))

    def local_end(self, how):
        if not self.ended_local:
            self.ended_local = True
            self._end(RST_LOCAL if how == "RST" else FIN_LOCAL)

    def remote_end(self, how):
        if not self.ended_remote:
            self.ended_remote = True
            self._end(RST_REMOTE if how.startswith("RST") else FIN_REMOTE)

    def _end(self, kind):
        self.last = time.time()
        if not self.truncated:
            self.events.append((self.last, kind, b""))

    # --- what LiveSession reports ----------------------------------------------------

    def log_secrets(self, role, ephemeral, static):
        """The harness's own keys of this handshake (role "I" or "R"): noise.KeyPairs."""
        line = (f"# {dissect.HARNESS_SECRETS} {role} {ephemeral.public.hex()} "
                f"{ephemeral.private.hex()} {static.private.hex()}\n")
        if line not in self.keylog:
            self.keylog.append(line)

    def log_keys(self, initiator_ephemeral, c1_key, c2_key):
        lines = record.keylog_lines(initiator_ephemeral, c1_key, c2_key)
        if lines not in self.keylog:
            self.keylog.append(lines)

    # --- reading it back ---------------------------------------------------------------

    def conversation(self):
        return Conversation(self.local, self.remote, self.dialled, self.opened,
                            list(self.events))

    def initiator_ephemeral(self):
        """The 32 bytes of handshake message 1, from the initiator's stream (the side
        that sent HELLO), or None."""
        for kind in (SENT, RECEIVED):
            stream = b"".join(d for _, k, d in list(self.events) if k == kind)
            if stream[:len(codec.MAGIC)] != codec.MAGIC or len(stream) < 7 or \
                    stream[len(codec.MAGIC)] != codec.KIND_HELLO:
                continue
            size = codec.preface_length(stream)
            if size is None or len(stream) < size + 2 + 32:
                return None
            return stream[size + 2:size + 34]
        return None


def _address(getter):
    try:
        return tuple(getter()[:2])
    except OSError:
        return ("127.0.0.1", 0)


class Recorder:
    """Every tapped connection still of interest (net.TAP[0] while recording)."""

    def __init__(self):
        self.taps = []
        self.lock = threading.Lock()

    def attach(self, sock, dialled=True):
        tap = ConnectionTap(sock, dialled)
        with self.lock:
            self.taps.append(tap)
        return tap

    def active_since(self, since):
        """The connections opened or used since `since` (time.time()), oldest first."""
        with self.lock:
            return [t for t in self.taps if t.last >= since or t.opened >= since]

    def forget_ended(self, before):
        """Drop connections that ended before `before`: no later test can touch them."""
        with self.lock:
            self.taps = [t for t in self.taps
                         if not ((t.ended_local or t.ended_remote) and t.last < before)]


def keylog_text(taps, title, peer_keylogs=()):
    """The key log of `taps`: the harness's lines per connection, then the lines the
    peer's key-log files have for these sessions and the harness does not."""
    out = [f"# Parley key log (spec/03-records.md, section 3.3) of {title}, written by the "
           "conformance harness.\n",
           f"# '# {dissect.HARNESS_SECRETS} <I|R> <eph public> <eph private> <static "
           "private>' lines are the harness's own keys of one handshake (tools/pcap-show "
           "decodes the identity payloads with them).\n"]
    have = set()
    for tap in taps:
        client, server = tap.conversation().client, tap.conversation().server
        out.append(f"# connection {tap.label or '-'}: {dissect.endpoint(client)} -> "
                   f"{dissect.endpoint(server)}"
                   + (" (recording stopped after 8 MiB)" if tap.truncated else "") + "\n")
        for lines in tap.keylog:
            out.append(lines)
            for line in lines.splitlines():
                parts = line.split()
                if len(parts) == 3 and not line.startswith("#"):
                    have.add((parts[0], parts[1]))
    wanted = {e.hex() for e in (t.initiator_ephemeral() for t in taps) if e}
    extra = []
    for path in peer_keylogs:
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) == 3 and parts[1] in wanted and (parts[0], parts[1]) not in have:
                have.add((parts[0], parts[1]))
                extra.append(line + "\n")
    if extra:
        out.append("# from the peer's own key log ({keylog_file}): sessions the harness "
                   "holds no keys for\n")
        out.extend(extra)
    return "".join(out)


def write_capture(base, taps, title, peer_keylogs=(), text=True):
    """`base`.pcap and `base`.keylog for the connections `taps`, and `base`.txt (the
    decrypted dissection, as tools/pcap-show prints it) when `text`. Returns the paths."""
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    paths = {"pcap": base + ".pcap", "keylog": base + ".keylog"}
    write_pcap(paths["pcap"], [t.conversation() for t in taps])
    keys = keylog_text(taps, title, peer_keylogs)
    with open(paths["keylog"], "w", encoding="ascii") as f:
        f.write(keys)
    if text:
        paths["text"] = base + ".txt"
        keylog = dissect.KeyLog()
        keylog.sources.append(paths["keylog"])
        keylog.add_text(keys, paths["keylog"])
        result = dissect.dissect_file(paths["pcap"], keylog)
        with open(paths["text"], "w", encoding="utf-8") as f:
            f.write(dissect.render_text(result))
    return paths


def file_stem(nodeid):
    """A file name for a test id: tests/test_live_x.py::test_y[p] -> test_live_x.test_y-p."""
    name = re.sub(r"^.*?(test_live_)", r"\1", nodeid).replace(".py::", ".")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    if len(name) > 150:
        name = name[:140] + "-" + hashlib.sha1(nodeid.encode()).hexdigest()[:8]
    return name


class CapturePlugin:
    """The pytest side of --pcap (registered by conftest.py with the report plugin)."""

    def __init__(self, config, mode, report_dir):
        from . import net
        self.config = config
        self.mode = mode
        self.dir = os.path.join(report_dir, PCAP_DIR)
        self.recorder = Recorder()
        self.started = {}
        net.TAP[0] = self.recorder

    def pytest_sessionstart(self, session):
        """Captures of an earlier run would pass for this one's: remove them."""
        if not os.path.isdir(self.dir):
            return
        for name in os.listdir(self.dir):
            if name.endswith(WRITTEN_EXTENSIONS):
                try:
                    os.remove(os.path.join(self.dir, name))
                except OSError:
                    pass

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        now = time.time()
        self.recorder.forget_ended(now)
        self.started[item.nodeid] = now

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        rep = outcome.get_result()
        if rep.when != "teardown":
            return
        since = self.started.pop(item.nodeid, None)
        report = getattr(self.config, "parley_report", None)
        result = report.by_nodeid.get(item.nodeid) if report else None
        if since is None or result is None:
            return
        failed = result.outcome in (FAIL, NON_STRICT, EXPECTED_FAIL) or rep.failed
        if not (failed or self.mode == "all"):
            return
        taps = self.recorder.active_since(since)
        if not taps:
            return
        try:
            paths = write_capture(os.path.join(self.dir, file_stem(result.nodeid)), taps,
                                  f"test {result.nodeid}", self._peer_keylogs(item),
                                  text=failed)
        except Exception as exc:  # a capture must never change a test's outcome
            report.harness_errors.append(f"{result.nodeid}: could not write its capture: "
                                         f"{type(exc).__name__}: {exc}")
            return
        result.pcap = {k: os.path.join(PCAP_DIR, os.path.basename(v)) for k, v in paths.items()}
        result.pcap["file"] = os.path.abspath(paths["pcap"])

    def _peer_keylogs(self, item):
        put = getattr(self.config, "parley_put", None)
        process = getattr(put, "process", None)
        paths = [process.keylog_file] if process is not None else []
        for spawned in getattr(put, "spawned", []) or []:
            paths.append(spawned.keylog_file)
        return paths

    def pytest_unconfigure(self, config):
        from . import net
        if net.TAP[0] is self.recorder:
            net.TAP[0] = None
