"""The HTML report: one self-contained page (inline CSS, no script, no external asset).

For each failure it shows the requirement's text as spec/ states it, what the harness sent
and what came back (hex and decoded with the package's codec), and the peer's log lines
written during the test.
"""

import jinja2

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Parley conformance: {{ peer.name }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-bottom: 0.3em; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
code, pre, .mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
pre { background: #f8f8f8; border: 1px solid #e4e4e4; padding: 0.6em; overflow-x: auto;
      white-space: pre-wrap; word-break: break-all; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 3px; font-weight: 600;
         font-size: 12px; color: #fff; white-space: nowrap; }
.PASS { background: #2e7d32; } .FAIL { background: #c62828; }
.NON-STRICT { background: #ef6c00; } .EXPECTED-FAIL { background: #6a1b9a; }
.UNIMPLEMENTED { background: #546e7a; } .NOT-RUN { background: #90a4ae; }
.NO-LIVE-TEST { background: #bcaaa4; } .NOT-SELECTED { background: #d7ccc8; color: #333; }
.IMPL { background: #cfd8dc; color: #333; } .DRAFT { background: #eee; color: #555; }
.totals span { margin-right: 1em; }
.meta td:first-child { width: 12em; font-weight: 600; }
.failure { border: 1px solid #e0b4b4; border-left: 6px solid #c62828; border-radius: 3px;
           padding: 0.3em 1em 0.8em; margin: 1.2em 0; }
.failure.NON-STRICT { border-left-color: #ef6c00; border-color: #f0d0b0; }
.failure.EXPECTED-FAIL { border-left-color: #6a1b9a; border-color: #d8c4e4; }
.req-text { background: #fffde7; border: 1px solid #eee3a0; padding: 0.5em; }
tr.sent td { background: #f1f8ff; } tr.recv td { background: #f3fbf1; }
tr.note td { color: #666; font-style: italic; }
td.hex { max-width: 420px; word-break: break-all; }
details summary { cursor: pointer; }
.small { color: #666; font-size: 12px; }
</style>
</head>
<body>
<h1>Parley conformance report</h1>
<p class="small">suite {{ suite_version }} · spec {{ spec_version }} · generated
{{ generated }} · {{ "%.1f"|format(duration) }} s</p>

<table class="meta">
<tr><td>peer</td><td>{{ peer.name }}</td></tr>
<tr><td>mode</td>
<td>{{ peer.mode }}{% if peer.address %} · {{ peer.address }}{% endif %}</td></tr>
{% if peer.command %}<tr><td>command</td><td class="mono">{{ peer.command }}</td></tr>{% endif %}
{% if peer.node_id %}<tr><td>node id</td><td class="mono">{{ peer.node_id }}</td></tr>{% endif %}
{% if peer.limits %}<tr><td>advertised limits</td>
<td class="mono">{{ peer.limits }}</td></tr>{% endif %}
<tr><td>features claimed</td><td>{{ peer.features|join(", ") or "none" }}</td></tr>
</table>

<h2>Totals</h2>
<p class="totals"><b>Requirements:</b>
{% for k, v in totals.requirements|dictsort %}
<span><span class="badge {{ k }}">{{ k }}</span> {{ v }}</span>
{% endfor %}</p>
<p class="totals"><b>Tests:</b>
{% for k, v in totals.tests|dictsort %}
<span><span class="badge {{ k }}">{{ k }}</span> {{ v }}</span>
{% endfor %}</p>
{% if harness_errors %}<p><b>Harness errors</b> (tests that could not run as written):</p>
<pre>{% for e in harness_errors %}{{ e }}
{% endfor %}</pre>{% endif %}

<h2>Failures</h2>
{% set shown = namespace(n=0) %}
{% for t in tests if t.outcome in ("FAIL", "NON-STRICT", "EXPECTED-FAIL") %}
{% set shown.n = shown.n + 1 %}
{% set r = reqs_by_id.get(t.violated) %}
<div class="failure {{ t.outcome }}" id="t{{ loop.index }}">
<h3><span class="badge {{ t.outcome }}">{{ t.outcome }}</span>
{% if t.violated %}[{{ t.violated }}]{% endif %} <code>{{ t.nodeid }}</code></h3>
{% if r %}<div class="req-text"><b>[{{ r.id }}]</b> ({{ r.kind }}, {{ r.level }})
{{ r.text }} <span class="small">— spec/{{ r.chapter }}</span></div>{% endif %}
{% if t.doc %}<p><b>The test:</b> {{ t.doc }}</p>{% endif %}
{% if t.expected_reason %}<p><b>Expected failure:</b> {{ t.expected_reason }}</p>{% endif %}
<p><b>What went wrong</b></p>
<pre>{{ t.message }}</pre>
{% if t.pcap %}<p><b>Capture</b>: <a href="{{ t.pcap.pcap }}">{{ t.pcap.pcap }}</a>
with its key log <a href="{{ t.pcap.keylog }}">{{ t.pcap.keylog }}</a>{% if t.pcap.text %},
decrypted: <a href="{{ t.pcap.text }}">{{ t.pcap.text }}</a>{% endif %}
<span class="small">(decrypt it again with <code>tools/pcap-show {{ t.pcap.file }}</code>;
Wireshark opens the pcap)</span></p>{% endif %}
{% if t.exchange %}
<p><b>Exchange</b> (sent by the harness, received from the peer; frames decoded with the
harness codec)</p>
<table>
<tr><th>t (s)</th><th>conn</th><th>dir</th><th>layer</th><th>decoded</th><th>hex</th></tr>
{% for e in t.exchange %}
<tr class="{{ e.dir }}"><td>{{ e.t if e.t is not none else "" }}</td><td>{{ e.conn }}</td>
<td>{{ e.dir }}</td><td>{{ e.layer }}</td><td class="mono">{{ e.text }}</td>
<td class="hex mono">{% if e.hex|length > 96 %}<details><summary>{{ e.hex[:96] }}…</summary>
{{ e.hex }}</details>{% else %}{{ e.hex }}{% endif %}</td></tr>
{% endfor %}
</table>
{% endif %}
<p><b>Peer log during the test</b></p>
<pre>{% for line in t.peer_log[-60:] %}{{ line }}
{% else %}(nothing){% endfor %}</pre>
</div>
{% endfor %}
{% if shown.n == 0 %}<p>None.</p>{% endif %}

<h2>Requirements</h2>
{% for chapter, reqs in chapters %}
<h3>{{ reqs[0].chapter_title }} <span class="small">spec/{{ chapter }}</span></h3>
<table>
<tr><th>ID</th><th>kind</th><th>outcome</th><th>requirement</th><th>tests</th></tr>
{% for r in reqs %}
<tr><td class="mono">{{ r.id }}</td><td>{{ r.kind }}, {{ r.level }}</td>
<td><span class="badge {{ r.outcome }}">{{ r.outcome }}</span></td><td>{{ r.text }}</td>
<td class="small">{% for t in r.tests[:6] %}<span class="badge {{ t.outcome }}">
{{- t.outcome[0] }}</span> {{ t.nodeid.split("::")[-1] }}<br>{% endfor %}
{% if r.tests|length > 6 %}+{{ r.tests|length - 6 }} more{% endif %}</td></tr>
{% endfor %}
</table>
{% endfor %}

{% if repeats %}
<h2>Repeats</h2>
<table><tr><th>test</th><th>runs</th><th>passed</th><th>pass rate</th><th></th></tr>
{% for r in repeats|sort(attribute="pass_rate") %}
<tr><td class="mono">{{ r.test }}</td><td>{{ r.runs }}</td><td>{{ r.passed }}</td>
<td>{{ r.pass_rate }}</td>
<td>{% if r.flaky %}<span class="badge NON-STRICT">FLAKY</span>{% endif %}</td></tr>
{% endfor %}</table>
{% endif %}

<h2>All tests</h2>
<table>
<tr><th>outcome</th><th>test</th><th>requirements</th><th>note</th></tr>
{% for t in tests %}
<tr><td><span class="badge {{ t.outcome }}">{{ t.outcome }}</span></td>
<td class="mono">{{ t.nodeid }}</td><td class="mono">{{ t.reqs|join(" ") }}</td>
<td class="small">{{ t.message.splitlines()[0] if t.message else "" }}
{%- if t.pcap %} <a href="{{ t.pcap.pcap }}">pcap</a>{% endif %}</td></tr>
{% endfor %}
</table>
</body>
</html>
"""


def render(data):
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(TEMPLATE)
    chapters = {}
    for r in data["requirements"]:
        if not r["draft"]:
            chapters.setdefault(r["chapter"], []).append(r)
    context = dict(data)
    context["chapters"] = list(chapters.items())
    context["reqs_by_id"] = {r["id"]: r for r in data["requirements"]}
    peer = {"name": "", "mode": "", "address": "", "command": "", "node_id": "",
            "limits": "", "features": []}
    peer.update(data.get("peer") or {})
    context["peer"] = peer
    for t in context["tests"]:
        t.setdefault("exchange", [])
        t.setdefault("peer_log", [])
        t.setdefault("expected_reason", None)
        t.setdefault("doc", "")
        t.setdefault("pcap", None)
    return template.render(**context)
