"""Loading the golden vectors in vectors/."""

import json
import os

VECTORS_DIR = os.environ.get(
    "PARLEY_VECTORS",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "vectors"),
)


def load(name):
    """The parsed vectors/<name>.json."""
    with open(os.path.join(VECTORS_DIR, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def cases(name, group_type=None):
    """(group, test) pairs of a vector file, optionally of one group type only."""
    out = []
    for group in load(name)["testGroups"]:
        if group_type is None or group["type"] == group_type:
            out.extend((group, test) for test in group["tests"])
    return out


def case_id(pair):
    """A readable pytest id for a (group, test) pair."""
    group, test = pair
    return f"{group['type']}-{test['tcId']}"
