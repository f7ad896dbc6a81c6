"""`make bench` cannot rot: every benchmark runs at its smallest sizes and reports figures.
(Figures at these sizes mean nothing; nothing here asserts on time.)"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_benchmark_runs_and_reports(tmp_path: Path) -> None:
    from tests.nginx import nginx_binary

    if nginx_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx-light")
        pytest.skip("nginx is not installed")
    out = tmp_path / "results.json"
    res = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(out.read_text())
    benches = {f["bench"] for f in doc["figures"]}
    modules = {p.stem for p in (ROOT / "bench").glob("bench_*.py")}
    assert benches == modules, (benches, res.stderr)
    for fig in doc["figures"]:
        assert math.isfinite(fig["value"]), fig
        assert fig["name"] and " " not in fig["name"], fig["name"]
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert len(lines) == len(doc["figures"])
    assert all(len(ln.split()) >= 3 for ln in lines)
