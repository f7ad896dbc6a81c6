"""Benchmarks: `make bench` (or `python -m bench [--quick] [NAME ...]`).

Each module `bench/bench_*.py` defines `run(quick: bool) -> list[Figure]`, builds its own data,
serves it from local servers on 127.0.0.1 when it needs HTTP, and measures our figure beside a
baseline measured in the same run on the same machine (these machines are shared and noisy:
ratios travel, absolute figures do not).
"""
