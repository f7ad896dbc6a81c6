"""Run every benchmark under bench/ (or those named) and print one line per figure; write
the same as JSON to bench/results.json."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

from bench.figures import Figure

HERE = Path(__file__).parent


def discover() -> list[str]:
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest sizes, only to check every benchmark runs",
    )
    parser.add_argument("--out", default=str(HERE / "results.json"))
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    if args.smoke:
        import os

        os.environ["BENCH_SMOKE"] = "1"
        args.quick = True
    names = args.names or discover()
    results: list[dict[str, object]] = []
    failed = 0
    started = time.monotonic()
    for name in names:
        module = importlib.import_module(
            f"bench.{name if name.startswith('bench_') else 'bench_' + name}"
        )
        t0 = time.monotonic()
        try:
            figures: list[Figure] = module.run(quick=args.quick)
        except Exception as exc:  # one broken benchmark must not hide the others
            failed += 1
            print(f"{name} FAILED {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        for fig in figures:
            print(fig.line(), flush=True)
            results.append({"bench": name, **fig.as_dict()})
        print(f"# {name}: {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)
    doc = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "figures": results,
    }
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
