"""pytest configuration for conformance/: the `parley` package on the path, and the live
harness (tests/test_live_*.py) with its options, fixtures and report plugin.

    /usr/bin/python3 -m pytest tests/test_live_*.py --peer 'CMD {tcp_port} ...'
    /usr/bin/python3 -m pytest tests/test_live_*.py --target 127.0.0.1:7400

Without --peer, --target or a manifest with a command, the live tests are NOT-RUN and the
codec tests run as before. See README.md.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from parley.harness import config as harness_config  # noqa: E402
from parley.harness import net, report, spec  # noqa: E402
from parley.harness.live import Live  # noqa: E402
from parley.harness.outcomes import not_run, unimplemented  # noqa: E402
from parley.harness.peer import PeerError, PeerUnderTest  # noqa: E402
from parley.harness.probes import TimeoutProbes  # noqa: E402
from parley.harness.transcript import Transcript  # noqa: E402

CHAPTER_ALIASES = {
    "01": "preface", "pre": "preface", "02": "handshake", "hs": "handshake", "id": "handshake",
    "03": "records", "rec": "records", "keylog": "records", "04": "frames", "frame": "frames",
    "tag": "frames", "frag": "frames", "limit": "frames", "05": "messages", "msg": "messages",
    "ack": "messages", "nack": "messages", "ping": "messages", "bye": "messages",
    "admin": "messages", "opt": "messages", "06": "errors", "err": "errors", "conv": "errors",
}


def pytest_addoption(parser):
    g = parser.getgroup("parley", "Parley live conformance harness")
    g.addoption("--peer", dest="parley_peer", default=None, metavar="CMD",
                help="command template of the peer to start ({tcp_port}, {key_file}, "
                     "{admin_key_file}, {admin_key}, {keylog_file}, {data_dir}, {bootstrap}, "
                     "{udp_port}, {host})")
    g.addoption("--target", dest="parley_target", default=None, metavar="HOST:PORT",
                help="a peer that is already running (restart, admin and bootstrap tests "
                     "are NOT-RUN)")
    g.addoption("--manifest", "--peer-manifest", dest="parley_manifest", default=None,
                metavar="FILE", help="peer manifest (JSON: name, command, features)")
    g.addoption("--expectations", dest="parley_expectations", default=None, metavar="FILE",
                help="known failures (JSON) reported EXPECTED-FAIL")
    g.addoption("--repeat", dest="parley_repeat", type=int, default=1, metavar="N",
                help="run each case N times, report pass rates and flaky cases")
    g.addoption("--list", dest="parley_list", action="store_true",
                help="list every case with its requirement IDs, run nothing")
    g.addoption("--chapter", dest="parley_chapter", action="append", default=[],
                metavar="NAME", help="only this chapter's tests (preface, handshake, records, "
                                     "frames, messages, errors, initiator, timeouts); repeatable")
    g.addoption("--quick", dest="parley_quick", action="store_true",
                help="skip the 10 s handshake-timeout tests (NOT-RUN)")
    g.addoption("--slow", dest="parley_slow", action="store_true",
                help="also run the 120 s idle-timeout test")
    g.addoption("--report-dir", dest="parley_report_dir", default=None, metavar="DIR",
                help="where report.html, summary.json and junit.xml go "
                     "(default conformance/reports)")
    g.addoption("--admin-secret", dest="parley_admin_secret", default=None, metavar="FILE",
                help="TARGET mode: the admin's Ed25519 seed, so admin tests can run")
    g.addoption("--timeout-scale", dest="parley_timeout_scale", type=float, default=1.0,
                help="multiply every wait for the peer (slow machines, sanitizers)")
    g.addoption("--keep-tmp", dest="parley_keep_tmp", action="store_true",
                help="keep the peers' temporary folders (keys, key log, data)")
    g.addoption("--pcap", dest="parley_pcap", default="failures", metavar="MODE",
                choices=("failures", "all", "off"),
                help="write each test's traffic as <report dir>/pcaps/<test>.pcap with its "
                     "key log (.keylog) and decryption (.txt): failures (default), all, off")
    g.addoption("--peer-cwd", dest="parley_peer_cwd", default=None, metavar="DIR",
                help="the folder --peer runs in (default: the current one; run.py passes "
                     "its caller's)")


def pytest_configure(config):
    for line in (
        "reqs(*ids): the spec requirement IDs a live test checks (the first is its main one)",
        "needs(*what): admin, spawn (starts its own peer), bootstrap",
        "feature(name): an optional feature the manifest must claim",
        "handshake_timeout: waits for HANDSHAKE_TIMEOUT (NOT-RUN with --quick); runs last",
        "idle_timeout: waits for IDLE_TIMEOUT (runs only with --slow)",
    ):
        config.addinivalue_line("markers", line)
    try:
        settings = harness_config.from_options(config.option)
    except harness_config.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.parley_settings = settings
    net.TIMEOUT_SCALE[0] = config.getoption("parley_timeout_scale")
    if settings.mode != "none":
        plugin = report.ParleyReport(config, settings)
        config.parley_report = plugin
        config.pluginmanager.register(plugin, "parley-report")
        if config.getoption("parley_pcap") != "off":
            from parley.harness.capture import CapturePlugin
            config.pluginmanager.register(
                CapturePlugin(config, config.getoption("parley_pcap"), plugin.report_dir),
                "parley-capture")


# --- selection ---------------------------------------------------------------------------


def pytest_generate_tests(metafunc):
    repeat = metafunc.config.getoption("parley_repeat")
    if repeat > 1 and "parley_repeat" in metafunc.fixturenames and \
            os.path.basename(str(metafunc.definition.fspath)).startswith("test_live_"):
        metafunc.parametrize("parley_repeat", range(1, repeat + 1),
                             ids=[f"run{i}" for i in range(1, repeat + 1)])


@pytest.fixture(autouse=True)
def parley_repeat(request):
    """Which of the --repeat runs this is (1 without --repeat)."""
    return getattr(request, "param", 1)


def _chapter(item):
    return report.chapter_of_module(item.fspath)


def pytest_collection_modifyitems(config, items):
    wanted = [CHAPTER_ALIASES.get(c.lower(), c.lower())
              for c in config.getoption("parley_chapter")]
    if wanted:
        keep = [i for i in items if any(_chapter(i).startswith(w) for w in wanted)]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
    # The handshake-timeout judges run last: their probes started with the peer.
    items.sort(key=lambda i: i.get_closest_marker("handshake_timeout") is not None)


def pytest_collection_finish(session):
    if not session.config.getoption("parley_list"):
        return
    known = spec.load()
    tw = session.config.get_terminal_writer()
    tw.line(f"{'case':<100} requirements")
    for item in session.items:
        reqs = report.reqs_of(item)
        unknown = [r for r in reqs if r not in known]
        needs = item.get_closest_marker("needs")
        extra = f"  (needs {', '.join(needs.args)})" if needs else ""
        tw.line(f"{item.nodeid:<100} {' '.join(reqs)}{extra}"
                + (f"  UNKNOWN IDS {unknown}" if unknown else ""))
    tw.line(f"{len(session.items)} cases")


def pytest_runtestloop(session):
    if session.config.getoption("parley_list"):
        return True
    return None


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def put(request):
    """The peer under test, started once for the whole run (restarted after a crash)."""
    cfg = request.config
    settings = cfg.parley_settings
    if settings.mode == "none":
        not_run("no peer: give --peer CMD, --target HOST:PORT or --manifest FILE")
    peer = PeerUnderTest(settings)
    cfg.parley_put = peer
    try:
        peer.start()
    except PeerError as exc:
        peer.stop()
        pytest.exit(f"parley harness: the peer could not be started or reached:\n{exc}",
                    returncode=3)
    if not settings.quick and any(i.get_closest_marker("handshake_timeout")
                                  for i in request.session.items):
        peer.probes = TimeoutProbes(peer.address, peer.generation)
    summary = cfg.parley_report.peer_summary
    remote = peer.info.remote
    summary.update({
        "name": settings.manifest.name if settings.manifest.path else "peer under test",
        "mode": settings.mode.upper(),
        "address": f"{peer.address[0]}:{peer.address[1]}",
        "command": peer.process.command if peer.process else "",
        "node_id": peer.info.node_id.hex(),
        "majors": peer.info.majors,
        "limits": f"max_tags {remote.max_tags}, max_message {remote.max_message}, "
                  f"reassembly_budget {remote.reassembly_budget}, capabilities "
                  f"{remote.capabilities:#x}, listen_port {remote.listen_port}",
        "features": settings.manifest.features,
    })
    yield peer
    if peer.probes:
        peer.probes.close()
    code = peer.stop()
    summary["exit_code_after_sigterm"] = code


@pytest.fixture
def live(request, put):
    """Sessions to the peer under test, recorded in this test's transcript."""
    if put.down:
        not_run(put.down)
    state = request.node.parley_state
    state.update(put=put, uses_peer=True, log_mark=put.log.mark())
    helper = Live(put, state["transcript"], request.config.parley_settings)
    yield helper
    helper.close_all()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.parley_state = {"transcript": Transcript(), "violation": None, "uses_peer": False,
                         "log_mark": 0}
    if not os.path.basename(str(item.fspath)).startswith("test_live_"):
        return
    settings = item.config.parley_settings
    if settings.mode == "none":
        not_run("no peer: give --peer CMD, --target HOST:PORT or --manifest FILE")
    needs = item.get_closest_marker("needs")
    for what in (needs.args if needs else ()):
        if what == "admin" and not settings.has_admin:
            not_run("needs the admin's secret key (PEER mode, or --admin-secret)")
        if what in ("spawn", "bootstrap", "restart") and not settings.can_spawn:
            not_run(f"needs {what}: only PEER mode starts peers")
    feature = item.get_closest_marker("feature")
    if feature and not settings.manifest.claims(feature.args[0]):
        unimplemented(feature.args[0])
    if item.get_closest_marker("handshake_timeout") and settings.quick:
        not_run("--quick skips the HANDSHAKE_TIMEOUT tests (10 s)")
    if item.get_closest_marker("idle_timeout") and not settings.slow:
        not_run("IDLE_TIMEOUT is 120 s: run with --slow")
