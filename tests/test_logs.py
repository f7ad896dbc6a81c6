"""Loggers follow the configuration: one made before `configure` or `set_level` (a reload)
writes where and at the level the configuration says now, with what it was bound to."""

from __future__ import annotations

import io
import json
import logging

from monitor import logs


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
