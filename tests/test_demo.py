"""`monitor demo` shows the whole path offline: the bundled sample feeds are served locally,
the real daemon polls them, and the alerts a local receiver gets are printed. The expected
matches come from the table in monitor/demo/feeds/README.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import monitor

TABLE = Path(monitor.__file__).parent / "demo" / "feeds" / "README.md"


def expected() -> tuple[list[str], list[str], dict[str, str]]:
    """(matching titles, other titles, copy title -> its development letter)."""
    match, other, copies = [], [], {}
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].endswith(".xml"):
            (match if cells[2] == "yes" else other).append(cells[1])
            if cells[2] == "yes" and cells[3].startswith("syndicated copy of "):
                copies[cells[1]] = cells[3].split()[3]
    return match, other, copies


def test_demo_prints_one_alert_per_development_and_none_for_copies_or_other_news() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "monitor", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    match, other, copies = expected()
    assert len(match) == 13 and len(other) == 13 and len(copies) == 3
    alerts = [
        line.split("] ", 1)[1].split(": ", 1)
        for line in res.stdout.splitlines()
        if line.startswith("[Ukraine security guarantees] ")
    ]
    headlines = [h for _, h in alerts]
    assert set(headlines) <= set(match), "only stories of the topic alert"
    assert not any(title in res.stdout for title in other)
    # a reprinted wire story is one story: copies of one original never alert twice
    by_original: dict[str, int] = {}
    for title, letter in copies.items():
        by_original[letter] = by_original.get(letter, 0) + (title in headlines)
    assert all(n <= 1 for n in by_original.values())
    kinds = [k for k, _ in alerts]
    assert kinds.count("new development") >= 5 and kinds.count("update") >= 1
    assert len(alerts) < len(match), "more of the same does not alert"
    assert f"{len(alerts)} alerts received for 26 stories stored from 4 feeds." in res.stdout
    assert "matched: " in res.stdout and "https://" in res.stdout
