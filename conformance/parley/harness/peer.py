"""The peer under test: its process, its readiness, its log, its health.

PeerProcess runs one peer from the command template (PEER): it fills the placeholders
(a free loopback port, fresh files in a temporary folder, the harness's admin public key,
the bootstrap address), starts it, waits until a TCP connect succeeds, reads its stdout
and stderr into a log, and stops it with SIGTERM, then SIGKILL.

PeerUnderTest is what the tests talk to: the long-running peer (or the TARGET address),
the harness's admin identity, the bootstrap service, and what a first session learned
about the peer (its id, limits and majors). After every test, health() tells whether the
peer crashed (it exited) or hangs (a fresh session gets no PING answer within 2 s); the
report charges that to the test, and restart() brings a fresh peer for the next one.
"""

import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from .. import codec
from ..handshake import Identity
from . import net
from .client import LiveSession
from .listener import BootstrapService

HEALTH_TIMEOUT = 2.0  # seconds for the PING answer that proves the peer is alive
# A sanitizer's report in the peer's log is a crash too, even when the build recovers.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "ERROR: MemorySanitizer")


class PeerError(Exception):
    """The peer could not be started or reached; the message includes its log."""


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port that is free now (the peer binds it right after)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def describe_exit(code):
    if code is None:
        return "running"
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class PeerLog:
    """Every line the peer processes wrote, across restarts, with the time they came."""

    def __init__(self):
        self.lines = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def add(self, source, line):
        with self.changed:
            self.lines.append((time.time(), source, line.rstrip("\n")))
            self.changed.notify_all()

    def mark(self):
        with self.lock:
            return len(self.lines)

    def since(self, mark):
        with self.lock:
            return [f"{source}: {line}" for _, source, line in self.lines[mark:]]

    def tail(self, count=40):
        with self.lock:
            return [f"{source}: {line}" for _, source, line in self.lines[-count:]]

    def wait_change(self, mark, timeout):
        """Wait until a line after `mark` arrives or `timeout` passes."""
        with self.changed:
            if len(self.lines) <= mark:
                self.changed.wait(timeout)


class PeerProcess:
    """One peer process started from the command template."""

    def __init__(self, template, cwd=None, admin_public=None, bootstrap=None, log=None,
                 name="peer", startup_timeout=10.0, keep_tmp=False):
        self.template = template
        self.cwd = cwd
        self.admin_public = admin_public
        self.bootstrap = bootstrap
        self.log = log or PeerLog()
        self.name = name
        self.startup_timeout = startup_timeout
        self.keep_tmp = keep_tmp
        self.tmp = tempfile.mkdtemp(prefix=f"parley-{name}-")
        self.key_file = os.path.join(self.tmp, "peer.key")
        self.admin_key_file = os.path.join(self.tmp, "admin.pub")
        self.keylog_file = os.path.join(self.tmp, "keys.log")
        self.data_dir = os.path.join(self.tmp, "data")
        self.proc = None
        self.port = None
        self.command = None
        self.readers = []

    @property
    def address(self):
        return ("127.0.0.1", self.port)

    def fill(self, port):
        """The command line with every placeholder filled."""
        values = {
            "tcp_port": port, "udp_port": free_port(socket.SOCK_DGRAM), "host": "127.0.0.1",
            "key_file": self.key_file, "admin_key_file": self.admin_key_file,
            "admin_key": self.admin_public.hex() if self.admin_public else "",
            "keylog_file": self.keylog_file, "data_dir": self.data_dir,
            "bootstrap": self.bootstrap or "",
        }
        try:
            return self.template.format_map(values)
        except KeyError as exc:
            raise PeerError(f"unknown placeholder {exc} in the peer command; known: "
                            + " ".join("{" + k + "}" for k in values)) from None

    def start(self):
        if self.admin_public is not None:
            with open(self.admin_key_file, "w", encoding="ascii") as f:
                f.write(self.admin_public.hex() + "\n")
        self.port = free_port()
        self.command = self.fill(self.port)
        args = shlex.split(self.command)
        try:
            self.proc = subprocess.Popen(args, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, errors="replace")
        except OSError as exc:
            raise PeerError(f"cannot run {args[0]!r} (cwd {self.cwd or os.getcwd()}): {exc}") \
                from None
        self.readers = []
        for stream, source in ((self.proc.stdout, f"{self.name}.out"),
                               (self.proc.stderr, self.name)):
            reader = threading.Thread(target=self._read, args=(stream, source), daemon=True)
            reader.start()
            self.readers.append(reader)
        self.wait_ready()
        return self

    def _read(self, stream, source):
        for line in stream:
            self.log.add(source, line)

    def wait_ready(self):
        """Until a TCP connect to the peer succeeds; PeerError (with its log) when it exits
        or the startup timeout passes."""
        deadline = net.Deadline(self.startup_timeout)
        mark = self.log.mark()
        while True:
            if self.proc.poll() is not None:
                self._drain()
                raise PeerError(f"the peer {describe_exit(self.proc.returncode)} before it "
                                f"listened on port {self.port}\ncommand: {self.command}\n"
                                + "\n".join(self.log.since(mark)[-30:]))
            try:
                with socket.create_connection(self.address, timeout=deadline.left() or 0.01):
                    return
            except OSError:
                pass
            if deadline.passed():
                raise PeerError(f"the peer did not accept a TCP connection on port {self.port} "
                                f"within {self.startup_timeout:.0f} s\ncommand: {self.command}\n"
                                + "\n".join(self.log.since(mark)[-30:]))
            # Wake on the peer's next log line, or retry the connect shortly.
            self.log.wait_change(self.log.mark(), min(0.05, deadline.left()))

    def _drain(self):
        """Let the reader threads collect the last lines of a process that exited (its
        pipes reach their end)."""
        for reader in self.readers:
            reader.join(timeout=1.0)

    @property
    def exit_code(self):
        return None if self.proc is None else self.proc.poll()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        """The exit code, or None when still running after `timeout`."""
        try:
            return self.proc.wait(timeout=net.scaled(timeout))
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.log.add(self.name, f"harness: no exit {timeout:.0f} s after SIGTERM; SIGKILL")
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        if not self.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def read_identity(self, node_id=None):
        """The peer's own Identity when its key file holds a seed we can read (hex or raw,
        32 or 64 bytes, libsodium layout: seed then public key) and it matches `node_id`
        (or, without one, the public half the file holds); else None."""
        try:
            with open(self.key_file, "rb") as f:
                data = f.read()
        except OSError:
            return None
        candidates = [data]
        try:
            candidates.append(bytes.fromhex(data.strip().decode("ascii")))
        except (UnicodeDecodeError, ValueError):
            pass
        for raw in candidates:
            if len(raw) in (32, 64):
                identity = Identity(raw[:32])
                expected = node_id if node_id is not None else raw[32:] or None
                if identity.public_key == expected:
                    return identity
        return None


class PeerInfo:
    """What a first session learned about the peer."""

    def __init__(self, remote, majors, identity=None):
        self.remote = remote  # its IdentityPayload: id and limits
        self.node_id = remote.identity_key
        self.majors = majors  # every major it supports, from a REFUSE
        self.identity = identity  # its own Identity, when its key file was readable


class PeerUnderTest:
    """The peer a run tests (see the module doc). `settings` is config.Settings."""

    def __init__(self, settings):
        self.settings = settings
        seed = settings.admin_seed
        self.admin = Identity(seed) if seed else Identity.generate()
        self.log = PeerLog()
        self.process = None
        self.bootstrap = None
        self.info = None
        self.generation = 0
        self.spawned = []
        self.down = None  # why the peer cannot be tested any more, once it cannot
        self.probes = None  # probes.TimeoutProbes, opened at the start when wanted

    # --- lifecycle ------------------------------------------------------------------

    @property
    def address(self):
        if self.settings.mode == "target":
            return self.settings.target
        return self.process.address

    def start(self):
        if self.settings.mode == "peer":
            self.bootstrap = BootstrapService()
            manifest = self.settings.manifest
            self.process = PeerProcess(self.settings.command, manifest.cwd, self.admin.public_key,
                                       self.bootstrap.spec, self.log, "peer",
                                       manifest.startup_timeout, self.settings.keep_tmp)
            self.process.start()
        self.generation += 1
        self.learn()

    def learn(self):
        """Open a first session: the peer's id and limits, and its majors (a HELLO with
        no majors is answered REFUSE listing them all, [PRE-3])."""
        try:
            session = LiveSession.open(self.address, label="learn")
        except Exception as exc:
            raise PeerError(f"cannot complete a handshake with the peer at "
                            f"{self.address[0]}:{self.address[1]}: {exc}\n"
                            + "\n".join(self.log.tail(30))) from None
        remote = session.remote
        session.close()
        majors = [codec.PROTOCOL_MAJOR]
        try:
            probe = LiveSession.connect(self.address)
            probe.send_hello(raw=codec.MAGIC + bytes([codec.KIND_HELLO, 0]))
            _, answer = probe.read_answer()
            if isinstance(answer, dict) and answer["kind"] == "REFUSE":
                majors = answer["majors"]
            probe.close()
        except (net.Timeout, net.Closed, OSError):
            pass
        identity = self.process.read_identity(remote.identity_key) if self.process else None
        self.info = PeerInfo(remote, majors, identity)

    def stop(self):
        for process in self.spawned:
            process.kill()
            process.cleanup()
        self.spawned = []
        code = None
        if self.bootstrap:
            self.bootstrap.stop()
        if self.process:
            code = self.process.stop()
            self.process.cleanup()
        return code

    def restart(self):
        """A fresh peer process (a new port, a new temporary folder)."""
        if self.settings.mode != "peer":
            raise PeerError("the peer is down and TARGET mode cannot restart it")
        if self.process:
            self.process.kill()
            self.process.cleanup()
        if self.bootstrap:
            self.bootstrap.stop()
        self.log.add("harness", "restarting the peer")
        self.start()

    # --- health -----------------------------------------------------------------------

    def crashed(self):
        """A description when the peer process is gone, else None."""
        if self.process and not self.process.running():
            return f"its process {describe_exit(self.process.exit_code)}"
        return None

    def health(self, log_mark=0):
        """None when the peer is alive, wrote no sanitizer report after `log_mark`, and
        answers a PING on a fresh session within 2 s; otherwise what is wrong ("the peer
        crashed: ..." or "the peer hangs: ...")."""
        report = next((line for line in self.log.since(log_mark)
                       if any(mark in line for mark in SANITIZER_MARKS)), None)
        if report:
            return f"the peer crashed: a sanitizer reported {report.strip()[:300]}"
        crash = self.crashed()
        if crash:
            return "the peer crashed: " + crash
        deadline = net.Deadline(net.scaled(HEALTH_TIMEOUT))
        session = None
        try:
            session = LiveSession.open(self.address, label="health")
            session.roundtrip("CONV-4", timeout=max(deadline.left(), 0.05) / net.TIMEOUT_SCALE[0])
        except Exception as exc:
            crash = self.crashed()
            if crash:
                return "the peer crashed: " + crash
            return (f"the peer hangs: a fresh session got no PING answer within "
                    f"{HEALTH_TIMEOUT:.0f} s ({exc})")
        finally:
            if session:
                session.close()
        return None

    # --- extra instances --------------------------------------------------------------

    def spawn(self, bootstrap=None, name="peer2"):
        """Another peer from the same command (PEER mode only), e.g. one that dials a
        listener of the test; stopped at the end of the run at the latest."""
        manifest = self.settings.manifest
        process = PeerProcess(self.settings.command, manifest.cwd, self.admin.public_key,
                              bootstrap, self.log, name, manifest.startup_timeout,
                              self.settings.keep_tmp)
        self.spawned.append(process)
        process.start()
        return process

    def release(self, process):
        """Stop an extra instance now."""
        process.kill()
        process.cleanup()
        if process in self.spawned:
            self.spawned.remove(process)
