"""benchlib.py - what the peer benchmarks and the robustness runs share: starting and
stopping the processes they measure (build/parley-peer, redis-server, tools/bench/echo),
running build/loadgen, and reading a process's memory.

Every process started here is registered and stopped by stop_all() (also at exit and on
SIGTERM/SIGINT), by its own pid, never by name. Every wait is bounded.
Runs under /usr/bin/python3.
"""

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "conformance"))

LISTEN_RE = re.compile(rb"event=listening\b.*?\bport=(\d+)")

_started = []  # every Proc started, in order


class Proc:
    """A started process whose stderr (and stdout unless piped) goes to a log file."""

    def __init__(self, name, argv, log_path, cpu=None, stdout_pipe=False, env=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self.log,
            stderr=self.log, env=env, start_new_session=True)
        self.pid = self.popen.pid
        if cpu is not None:
            pin(self.pid, cpu)
        _started.append(self)

    def alive(self):
        return self.popen.poll() is None

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read()

    def wait_log(self, regex, timeout):
        """The first match of regex (bytes) in the log within timeout seconds, or None."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = regex.search(self.log_text())
            if m:
                return m
            if not self.alive():
                return regex.search(self.log_text())
            time.sleep(0.02)
        return None

    def stop(self, grace=8.0):
        """SIGTERM, then SIGKILL after `grace` seconds. Returns the exit status."""
        if self.alive():
            try:
                self.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        if not self.log.closed:
            self.log.close()
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return self.popen.returncode


def stop_all():
    """Stops every process started here that still runs, newest first."""
    for p in reversed(_started):
        try:
            p.stop(grace=3.0)
        except Exception:  # noqa: BLE001 - keep stopping the others
            pass


def _on_signal(signum, frame):
    stop_all()
    sys.exit(128 + signum)


atexit.register(stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def pin(pid, cpu):
    """Pins pid to one CPU when the machine has it (the benchmarks keep servers on one core
    and load generators on the other, the same for every protocol)."""
    try:
        if cpu in os.sched_getaffinity(0):
            os.sched_setaffinity(pid, {cpu})
    except OSError:
        pass


def cpu_seconds(pid):
    """User + system CPU seconds of process pid so far (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vmrss(pid):
    """VmRSS of pid in bytes (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def write_key(path, identity=None):
    """A key file as parley-peer reads it (ref/cmd/common.h): the libsodium 64-byte secret
    (seed then public key) as 128 hex characters and a newline, mode 0600. Returns the
    parley.handshake.Identity."""
    from parley.handshake import Identity
    identity = identity or Identity.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write((identity.seed + identity.public_key).hex() + "\n")
    return identity


class Peer:
    """build/parley-peer on 127.0.0.1, an ephemeral port, a fresh identity and admin key."""

    def __init__(self, build, workdir, max_conns=1024, cpu=None, log_level="info",
                 wrapper=(), extra=(), start_timeout=10.0):
        self.workdir = workdir
        self.key_path = os.path.join(workdir, "peer.key")
        self.admin_key_path = os.path.join(workdir, "admin.key")
        self.identity = write_key(self.key_path)
        self.admin = write_key(self.admin_key_path)
        self.data_dir = os.path.join(workdir, "data")
        argv = list(wrapper) + [
            os.path.join(build, "parley-peer"), "--tcp", "127.0.0.1:0",
            "--key", self.key_path, "--admin-key", self.admin_key_path,
            "--data", self.data_dir, "--max-conns", str(max_conns),
            "--log-level", log_level, *extra]
        self.proc = Proc("parley-peer", argv, os.path.join(workdir, "peer.log"), cpu=cpu)
        m = self.proc.wait_log(LISTEN_RE, start_timeout)
        if m is None:
            tail = self.proc.log_text()[-2000:].decode(errors="replace")
            self.proc.stop()
            raise RuntimeError(f"parley-peer did not report event=listening:\n{tail}")
        self.port = int(m.group(1))
        self.target = f"127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.alive()

    def stop(self):
        return self.proc.stop()


def start_redis(workdir, cpu=None, start_timeout=10.0):
    """redis-server on 127.0.0.1 at a free port, no persistence. Returns (Proc, target)."""
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
            "--loglevel", "warning", "--dir", workdir, "--maxclients", "10000"]
    proc = Proc("redis-server", argv, os.path.join(workdir, "redis.log"), cpu=cpu)
    end = time.monotonic() + start_timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"127.0.0.1:{port}"
        except OSError:
            pass
        if not proc.alive():
            break
        time.sleep(0.05)
    proc.stop()
    raise RuntimeError("redis-server did not answer PING:\n"
                       + proc.log_text()[-2000:].decode(errors="replace"))


def start_echo(build, workdir, cpu=None, max_conns=1024):
    """tools/bench/echo on 127.0.0.1, an ephemeral port. Returns (Proc, target)."""
    argv = [os.path.join(build, "echo"), "--tcp", "127.0.0.1:0", "--max-conns", str(max_conns)]
    proc = Proc("echo", argv, os.path.join(workdir, "echo.log"), cpu=cpu)
    m = proc.wait_log(LISTEN_RE, 10.0)
    if m is None:
        proc.stop()
        raise RuntimeError("echo did not report event=listening")
    return proc, f"127.0.0.1:{int(m.group(1))}"


def loadgen(build, args, timeout, cpu=None):
    """Runs build/loadgen with args to completion (at most `timeout` seconds) and returns
    its JSON result (with "exit" added)."""
    argv = [os.path.join(build, "loadgen"), *[str(a) for a in args]]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    if cpu is not None:
        pin(p.pid, cpu)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=5)
        raise RuntimeError(f"loadgen {' '.join(argv[1:])} ran over {timeout} s")
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"loadgen {' '.join(argv[1:])} printed no result "
                           f"(exit {p.returncode}): {err.decode(errors='replace')[-1000:]}")
    result = json.loads(lines[-1])
    result["exit"] = p.returncode
    if err.strip():
        result["stderr"] = err.decode(errors="replace")[-1000:]
    return result


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def finish_workdir(path, ok):
    """Removes a run's folder (keys, logs) after a clean run; keeps it and says where
    when something failed."""
    if ok:
        shutil.rmtree(path, ignore_errors=True)
    else:
        print(f"logs kept in {path}")


def ratio(a, b):
    return a / b if b else float("nan")


def _no_nan(v):
    """NaN (a ratio over a zero anchor) becomes null: the report stays strict JSON."""
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: _no_nan(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_no_nan(x) for x in v]
    return v


def write_report(name, data):
    """reports/NAME (the top-level reports/ folder is not committed)."""
    d = os.path.join(ROOT, "reports")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_no_nan(data), f, indent=2, sort_keys=True, allow_nan=False)
        f.write("\n")
    return path
