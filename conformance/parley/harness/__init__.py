"""The live conformance harness: drives a running Parley peer over loopback.

One module per concern:

    spec.py          the requirements of spec/*.md (IDs, level, text)
    outcomes.py      per-requirement outcomes and the exceptions tests raise
    config.py        command-line options, the peer manifest and the expectations file
    peer.py          the peer's process: start, readiness, stderr, crash and hang detection
    net.py           a TCP connection with a deadline on every wait
    transcript.py    what was sent and what came back, decoded, for the reports
    client.py        a live session: preface, Noise XX, records, frames (both roles)
    listener.py      the harness listener a peer dials ({bootstrap})
    oracle.py        what a conforming peer answers to given frames (spec §4.5 + ch. 5)
    forge.py         crafted identity payloads and Ed25519 edge-case signatures
    probes.py        slow probes (handshake timeout) started early, judged late
    report.py        the pytest plugin: outcomes, terminal summary, JUnit, JSON, HTML
    html.py          the self-contained HTML page
    capture.py       per-test pcaps and key logs of the harness's own traffic (--pcap)
    replay.py        golden captures (vectors/pcaps/) replayed against the peer
"""

SUITE_VERSION = "1.0.0"
