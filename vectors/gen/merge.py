#!/usr/bin/python3
"""Merge the two parts of vectors/records.json.

records_plaintext.part.json  ("record_plaintext" group, written by gen_vectors.py)
records_sealed.part.json     ("record" groups, written by gen_crypto_vectors.py)

records.json gets the plaintext groups first, then the sealed ones, tcIds renumbered
1..N in that order (so the plaintext part keeps its own ids), numberOfTests recomputed,
and both sources named. The part files are left in place; nothing else is touched. When
the sealed part is missing, records.json is written from the plaintext part alone and
the script says so. Deterministic: the same parts give the same bytes.
"""

import json
import os
import sys

VEC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAIN = os.path.join(VEC, "records_plaintext.part.json")
SEALED = os.path.join(VEC, "records_sealed.part.json")
OUT = os.path.join(VEC, "records.json")


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    if not os.path.exists(PLAIN):
        print("merge: %s is missing; run vectors/gen/gen_vectors.py first" %
              os.path.relpath(PLAIN), file=sys.stderr)
        return 1
    parts = [load(PLAIN)]
    if os.path.exists(SEALED):
        parts.append(load(SEALED))
    else:
        print("merge: %s is missing: records.json is written from the plaintext part "
              "alone" % os.path.relpath(SEALED))

    for p in parts:
        if p.get("specVersion") != "1.0":
            print("merge: unexpected specVersion %r" % p.get("specVersion"),
                  file=sys.stderr)
            return 1

    groups = []
    n = 0
    for p in parts:
        for g in p["testGroups"]:
            g = dict(g)
            tests = []
            for t in g["tests"]:
                n += 1
                t = dict(t)
                t["tcId"] = n
                tests.append(t)
            g["tests"] = tests
            groups.append(g)

    doc = {
        "name": "records",
        "specVersion": "1.0",
        "source": "merged by vectors/gen/merge.py from: " +
                  " | ".join(p["source"] for p in parts),
        "numberOfTests": n,
        "testGroups": groups,
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("merge: records.json: %d cases from %d part(s)" % (n, len(parts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
