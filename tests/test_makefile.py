"""The Makefile's set-up: `make bench` installs the distribution tools the benchmarks use
(nginx, PostgreSQL) through system-deps before it runs them, as CI does before `make test`.
Read with `make -n` (nothing is run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def dry_run(target: str, tmp_path: Path) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    res = subprocess.run(
        ["make", "-n", "-C", str(ROOT), target, f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return res.stdout.splitlines()


def test_make_bench_installs_nginx_and_postgresql_before_the_benchmarks(tmp_path: Path) -> None:
    lines = dry_run("bench", tmp_path)
    tools = next(i for i, ln in enumerate(lines) if "for pair in" in ln)
    assert "nginx:nginx-light" in lines[tools]
    assert "chromium" not in lines[tools], "only what the benchmarks use"
    install = next(i for i, ln in enumerate(lines) if "apt-get install" in ln)
    assert any("postgresql" in ln for ln in lines[tools:install])
    bench = next(i for i, ln in enumerate(lines) if ln.endswith("-m bench"))
    assert tools < install < bench


def test_system_deps_alone_still_installs_every_tool_the_tests_use(tmp_path: Path) -> None:
    [tools] = [ln for ln in dry_run("system-deps", tmp_path) if "for pair in" in ln]
    for tool in ("promtool:prometheus", "systemd-analyze:systemd", "nginx:nginx-light"):
        assert tool in tools
    assert "chromium:chromium" in tools
