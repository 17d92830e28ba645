"""Parley's Python implementation: codec, crypto, scapy layers and the conformance harness.

Written from spec/ independently of the C reference peer; the two check each other on
every golden vector in vectors/.
"""

SPEC_VERSION = "1.0"
