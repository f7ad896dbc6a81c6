"""`monitor demo` shows the whole path offline: the bundled sample feeds are served locally,
the real daemon polls them, and the alerts a local receiver gets are printed. The expected
matches come from the table in monitor/demo/feeds/README.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import monitor

TABLE = Path(monitor.__file__).parent / "demo" / "feeds" / "README.md"


def expected() -> tuple[list[str], list[str]]:
    match, other = [], []
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].endswith(".xml"):
            (match if cells[2] == "yes" else other).append(cells[1])
    return match, other


def test_demo_prints_the_alerts_of_the_matching_stories_only() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "monitor", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    match, other = expected()
    assert len(match) == 13 and len(other) == 13
    headlines = [
        line.split("] ", 1)[1]
        for line in res.stdout.splitlines()
        if line.startswith("[Ukraine security guarantees] ")
    ]
    assert sorted(headlines) == sorted(match)
    assert not any(title in res.stdout for title in other)
    assert "13 alerts received for 26 stories stored from 4 feeds." in res.stdout
    assert "matched: " in res.stdout and "https://" in res.stdout
