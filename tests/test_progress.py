"""Progress bars (monitor/cli/progress.py): drawn by tqdm on a terminal only, so that a command
run from cron or into a log writes no carriage-return lines."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

from monitor.cli.migrate import Progress
from monitor.cli.progress import bar
from monitor.store import SQLiteStore
from tests.test_postgres_migrate import fill


def test_bar_is_disabled_off_a_terminal() -> None:
    out = io.StringIO()  # not a terminal
    with bar(100, "stories", stream=out) as b:
        b.update(100)
    assert out.getvalue() == ""


def test_bar_draws_rate_and_count_when_shown() -> None:
    out = io.StringIO()
    with bar(100, "stories", unit="stories", show=True, stream=out) as b:
        b.update(40)
        b.update(60)
    text = out.getvalue()
    assert "100/100" in text and "stories/s" in text


def test_migrate_progress_off_a_terminal_is_one_plain_line_per_table() -> None:
    out = io.StringIO()
    progress = Progress(out)
    for done in (0, 5, 10):
        progress.show("stories", done, 10)
    progress.show("stories", 10, 10, end=True)
    assert "\r" not in out.getvalue()
    assert out.getvalue().splitlines() == [f"{'stories':<18} {10:>11,}/10 rows"]


async def test_migrate_with_stderr_not_a_terminal_writes_no_carriage_returns(
    tmp_path: Path,
) -> None:
    source = SQLiteStore(tmp_path / "from.db")
    await source.open()
    try:
        await fill(source)
    finally:
        await source.close()
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "monitor", "migrate", "--from", f"sqlite:///{tmp_path}/from.db",
         "--to", f"sqlite:///{tmp_path}/to.db", "--batch", "7"],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    assert "stories" in done.stderr and "rows" in done.stderr  # a line per table instead
    assert "copied" in done.stdout
