#!/usr/bin/env python3
"""Measures an exported evaluation set through the command line, as an outside checker
would: every query of queries.jsonl goes through `puente records search ... --output
json` against a node whose data directory holds the exported persons.csv, and recall,
precision and queries with a wrong person are tallied per kind. Standard library only.

    puente bench identity --persons 20000 --eval-export /tmp/eval
    puente init --country MEX --dir /tmp/evalnode
    puente records import --config /tmp/evalnode/puente.toml /tmp/eval/persons.csv
    python3 examples/eval/check_external.py --config /tmp/evalnode/puente.toml \
        --queries /tmp/eval/queries.jsonl [--puente target/release/puente]

The figures should equal those `bench identity` printed for the same set (same
matcher, threshold and maximum of 5 matches), which is the point of the check.
"""

import argparse
import collections
import json
import subprocess
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="the node's puente.toml")
    ap.add_argument("--queries", required=True, help="queries.jsonl of --eval-export")
    ap.add_argument("--puente", default="puente", help="the puente binary")
    ap.add_argument("--max", default="5", help="most matches per query (bench: 5)")
    args = ap.parse_args()

    rows = collections.OrderedDict()
    with open(args.queries, encoding="utf-8") as f:
        for line in f:
            q = json.loads(line)
            cmd = [
                args.puente, "records", "search", "--config", args.config,
                "--given-names", q["given_names"], "--surnames", q["surnames"],
                "--birth-date", q["birth_date"], "--max", args.max, "--output", "json",
            ]
            if q.get("nationality"):
                cmd += ["--nationality", q["nationality"]]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            found = [m["record_id"] for m in json.loads(out)]
            truth = q.get("truth_record_id")
            # Combination rows are labelled by what was changed; group like the bench.
            t = rows.setdefault(q["kind"], collections.Counter())
            t["queries"] += 1
            t["held"] += truth is not None
            t["hits"] += truth in found
            t["right"] += found.count(truth) if truth else 0
            t["answers"] += len(found)
            t["with_wrong"] += any(r != truth for r in found)

    print("| kind | queries | recall | precision | queries with a wrong person |")
    print("|---|---|---|---|---|")
    for kind, t in rows.items():
        recall = f"{t['hits'] / t['held']:.3f}" if t["held"] else "–"
        precision = f"{t['right'] / t['answers']:.3f}" if t["answers"] else "–"
        print(f"| {kind} | {t['queries']} | {recall} | {precision} | {t['with_wrong']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
