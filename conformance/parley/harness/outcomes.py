"""Per-requirement outcomes, and how a test reports one.

A test names the requirements it checks (`@pytest.mark.reqs("FRAME-3", "ERR-2")`, the
first is its main one). It passes, or it fails with a Violation that names the one
requirement the peer broke; a failure that names none is charged to the test's main
requirement. A test that cannot run says why with not_run() or unimplemented().

Outcomes, strongest first (a requirement takes the strongest of its tests):

    FAIL            a MUST broken
    NON-STRICT      a SHOULD broken
    EXPECTED-FAIL   a failure the expectations file lists, with its reason
    PASS            every test that ran passed
    UNIMPLEMENTED   the test needs an optional feature the manifest does not claim
    NOT-RUN         the mode cannot run it (a restart, the admin key in TARGET mode, ...)
"""

import pytest

FAIL = "FAIL"
NON_STRICT = "NON-STRICT"
EXPECTED_FAIL = "EXPECTED-FAIL"
PASS = "PASS"
UNIMPLEMENTED = "UNIMPLEMENTED"
NOT_RUN = "NOT-RUN"

ORDER = [FAIL, NON_STRICT, EXPECTED_FAIL, PASS, UNIMPLEMENTED, NOT_RUN]
FAILING = frozenset({FAIL})

NOT_RUN_PREFIX = "NOT-RUN: "
UNIMPLEMENTED_PREFIX = "UNIMPLEMENTED: "


class Violation(AssertionError):
    """The peer broke requirement `req`; `detail` says how."""

    def __init__(self, req, detail):
        super().__init__(f"[{req}] {detail}")
        self.req = req
        self.detail = detail


def check(condition, req, detail):
    """Raise Violation(req, detail) unless `condition` holds."""
    if not condition:
        raise Violation(req, detail)


def not_run(reason):
    """End the test as NOT-RUN: this mode cannot run it."""
    pytest.skip(NOT_RUN_PREFIX + reason)


def unimplemented(feature):
    """End the test as UNIMPLEMENTED: the manifest does not claim `feature`."""
    pytest.skip(UNIMPLEMENTED_PREFIX + f"the manifest does not claim {feature!r}")


def strongest(outcomes):
    """The outcome that decides a requirement, from those of its tests."""
    present = set(outcomes)
    for outcome in ORDER:
        if outcome in present:
            return outcome
    return NOT_RUN


def for_failure(level, expected):
    """The outcome of a broken requirement of `level` ("MUST", "SHOULD", "MAY")."""
    if expected:
        return EXPECTED_FAIL
    return FAIL if level == "MUST" else NON_STRICT
