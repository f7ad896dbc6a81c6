"""Loggers follow the configuration: one made before `configure` or `set_level` (a reload)
writes where and at the level the configuration says now, with what it was bound to. The
libraries' stdlib loggers come out as the same JSON lines, and lines written to systemd's
journal stream carry their priority."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor import logs
from tests.conftest import FeedServer, Receiver, rss


def events(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_logger_follows_configure_and_set_level() -> None:
    log = logs.get("monitor")
    first, second = io.StringIO(), io.StringIO()
    logs.configure("error", stream=first, json=True)
    assert not log.is_enabled_for(logging.INFO) and log.is_enabled_for(logging.ERROR)
    log.info("feed.polled", feed_id=1)  # below the level: dropped
    logs.set_level("info")
    assert log.is_enabled_for(logging.INFO) and not log.is_enabled_for(logging.DEBUG)
    bound = log.bind(feed_id=7)
    log.info("feed.polled", feed_id=2)
    bound.warning("feed.moved_permanently")
    logs.configure("warning", stream=second, json=True)
    log.info("feed.polled", feed_id=3)
    bound.error("feed.poll_failed")
    assert [(e["event"], e["feed_id"], e["level"]) for e in events(first)] == [
        ("feed.polled", 2, "info"),
        ("feed.moved_permanently", 7, "warning"),
    ]
    assert [(e["event"], e["feed_id"]) for e in events(second)] == [("feed.poll_failed", 7)]


def test_a_library_warning_is_one_json_line_and_library_info_is_dropped() -> None:
    out = io.StringIO()
    logs.configure("info", stream=out, json=True)
    logging.getLogger("aiohttp.client").warning("connection to %s lost", "example.org")
    logging.getLogger("apscheduler.executors.default").info("Running job 'tick'")  # dropped
    try:
        raise ConnectionResetError("peer went away")
    except ConnectionResetError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
    logs.get("monitor").info("feed.polled", feed_id=1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    warning, error, info = (json.loads(line) for line in lines)
    assert warning["event"] == "connection to example.org lost"
    assert (warning["level"], warning["logger"]) == ("warning", "aiohttp.client")
    assert warning["timestamp"].endswith("Z")
    assert (error["level"], error["logger"]) == ("error", "asyncio")
    assert "ConnectionResetError: peer went away" in error["exception"]  # the traceback, inline
    assert (info["event"], info["level"], info["logger"]) == ("feed.polled", "info", "monitor")
    # the level applies to the libraries too: at "error", their warnings go
    logs.set_level("error")
    logging.getLogger("aiohttp.client").warning("dropped")
    logging.getLogger("asyncpg.pool").error("kept")
    assert [json.loads(ln)["event"] for ln in out.getvalue().splitlines()[3:]] == ["kept"]


def test_a_console_shows_library_records_as_structlog_events() -> None:
    out = io.StringIO()
    logs.configure("info", stream=out, json=False)
    logging.getLogger("trafilatura.core").warning("discarding data")
    line = out.getvalue()
    assert line.count("\n") == 1 and "discarding data" in line and "trafilatura.core" in line
    assert "warning" in line and not line.startswith("{")


def test_lines_to_the_journal_stream_carry_their_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """systemd names the journal's stream in JOURNAL_STREAM (device:inode); lines written to
    it start with sd-daemon(3)'s <N> priority, which SyslogLevelPrefix= reads."""
    with open(tmp_path / "journal", "w+", encoding="utf-8") as journal:
        st = os.fstat(journal.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        logs.configure("debug", stream=journal)
        logging.getLogger("aiohttp.client").warning("connection lost")
        log = logs.get("monitor")
        log.debug("feed.skipped")
        log.info("feed.polled")
        log.warning("feed.moved_permanently")
        log.error("feed.poll_failed")
        logging.getLogger("asyncio").critical("loop broken")
        journal.seek(0)
        lines = journal.read().splitlines()
    assert lines[0].startswith('<4>{"event": "connection lost"')
    assert [(ln[:3], json.loads(ln[3:])["level"]) for ln in lines] == [
        ("<4>", "warning"),
        ("<7>", "debug"),
        ("<6>", "info"),
        ("<4>", "warning"),
        ("<3>", "error"),
        ("<2>", "critical"),
    ]


def test_no_prefix_when_the_output_is_not_the_journal_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output redirected (`monitor run > file`, a pipe) under systemd: another device:inode."""
    other = tmp_path / "other"
    other.write_text("")
    st = os.stat(other)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    with open(tmp_path / "log", "w+", encoding="utf-8") as f:
        logs.configure("info", stream=f)
        logging.getLogger("aiohttp.client").warning("connection lost")
        f.seek(0)
        assert json.loads(f.read())["level"] == "warning"
    for value in ("", "garbage", "1:", ":2"):
        monkeypatch.setenv("JOURNAL_STREAM", value)
        assert not logs.writes_to_journal(io.StringIO())
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert not logs.writes_to_journal(io.StringIO())  # no file descriptor at all


async def test_the_daemon_under_a_journal_stream_prefixes_its_lines(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
) -> None:
    """`monitor run` as systemd starts it: stdout is a stream named by JOURNAL_STREAM."""
    url = feed_server.set("a.xml", rss([]))
    cfg = config_factory([url], receiver.url)
    read_fd, write_fd = os.pipe()
    st = os.fstat(write_fd)
    env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}", "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(cfg),
        stdout=write_fd, stderr=write_fd, env=env,
    )  # fmt: skip
    os.close(write_fd)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb")
    )
    lines: list[bytes] = []
    try:
        while not any(b'"daemon.started"' in ln for ln in lines):
            line = await asyncio.wait_for(reader.readline(), 30)
            assert line, b"".join(lines).decode()
            lines.append(line)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        lines += (await asyncio.wait_for(reader.read(), 30)).splitlines(keepends=True)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        transport.close()
    for line in lines:
        text = line.decode().rstrip("\n")
        assert text[:3] in ("<6>", "<4>", "<3>", "<7>"), text
        event = json.loads(text[3:])
        assert text[:3] == logs.PRIORITIES[event["level"]]
    events = [json.loads(ln[3:])["event"] for ln in lines]
    assert "daemon.started" in events and "daemon.stopped" in events
