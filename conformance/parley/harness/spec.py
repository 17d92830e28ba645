"""The requirements of spec/*.md, as tools/reqtrace reads them, with their whole text.

A requirement is one list item `- **[CHAP-N]** (wire|impl, MUST|SHOULD|MAY) text`; its text
continues on the following indented lines. A chapter whose file says `Status: draft` is
not normative yet.
"""

import glob
import os
import re
from dataclasses import dataclass

SPEC_DIR = os.environ.get(
    "PARLEY_SPEC",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "spec"),
)
REQ_LINE = re.compile(r"^- \*\*\[([A-Z]+-\d+)\]\*\* \((wire|impl), (MUST|SHOULD|MAY)\) (.*)")
TITLE_LINE = re.compile(r"^# (.*)")


@dataclass(frozen=True)
class Requirement:
    id: str
    kind: str  # "wire" or "impl"
    level: str  # "MUST", "SHOULD" or "MAY"
    draft: bool
    chapter: str  # the spec file, e.g. "04-frames.md"
    chapter_title: str
    text: str

    @property
    def normative_wire(self):
        return not self.draft and self.kind == "wire"


def _chapter_requirements(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    draft = any(line.strip() == "Status: draft." or line.startswith("Status: draft")
                for line in lines)
    title = next((m.group(1) for m in map(TITLE_LINE.match, lines) if m), os.path.basename(path))
    found = []
    current = None
    for line in lines:
        m = REQ_LINE.match(line)
        if m:
            current = list(m.groups())
            found.append(current)
        elif current is not None and line.startswith("  ") and line.strip():
            current[3] += " " + line.strip()
        else:
            current = None
    return [Requirement(rid, kind, level, draft, os.path.basename(path), title, text.strip())
            for rid, kind, level, text in found]


def load(spec_dir=SPEC_DIR):
    """{ID: Requirement} for every requirement of every chapter, in spec order."""
    reqs = {}
    for path in sorted(glob.glob(os.path.join(spec_dir, "*.md"))):
        for req in _chapter_requirements(path):
            reqs[req.id] = req
    return reqs


def chapters(spec_dir=SPEC_DIR):
    """[(file name, title)] of the chapters that hold requirements, in order."""
    out = []
    for path in sorted(glob.glob(os.path.join(spec_dir, "*.md"))):
        reqs = _chapter_requirements(path)
        if reqs:
            out.append((os.path.basename(path), reqs[0].chapter_title))
    return out
