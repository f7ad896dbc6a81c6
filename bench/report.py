"""Print bench/results.json (or another results file) as a markdown table for the README."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.figures import _fmt


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).parent / "results.json"
    doc = json.loads(path.read_text())
    m = doc["machine"]
    print(
        f"Measured on {m['processor']}, Python {m['python']}, {m['platform']}; "
        f"{'quick' if doc['quick'] else 'full'} run, {doc['seconds']:.0f} s.\n"
    )
    print("| figure | value | baseline (same run) | ratio |")
    print("|---|---|---|---|")
    for f in doc["figures"]:
        base = f"{_fmt(f['baseline'])} ({f['baseline_name']})" if f["baseline"] is not None else ""
        ratio = f"{f['ratio']:.2f}" if f["ratio"] is not None else ""
        note = f" — {f['note']}" if f.get("note") else ""
        print(f"| `{f['name']}`{note} | {_fmt(f['value'])} {f['unit']} | {base} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
