"""Crashes lose nothing and duplicate nothing: the daemon is killed with SIGKILL at random
moments while it polls real local feeds (which keep publishing) and delivers to a real local
receiver, restarted, and killed again. Afterwards every story the feeds served is stored
exactly once, every alert that should exist exists and was delivered, none under two ids,
and the store passes PRAGMA integrity_check.

MONITOR_CRASH_KILLS sets the number of kills (default 50, the CI-sized form).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import FeedServer, Receiver, rss

KILLS = int(os.environ.get("MONITOR_CRASH_KILLS", "50"))


def story(feed: int, n: int) -> dict[str, str]:
    topical = n % 3 == 0  # a third of the stories match the topic
    title = (
        f"Feed {feed} story {n}: Kyiv peacekeepers plan"
        if topical
        else f"Feed {feed} story {n}: grain prices"
    )
    return {"guid": f"f{feed}-s{n}", "title": title, "description": f"Body of {feed}/{n}."}


async def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    tmp_path: Path,
) -> None:
    rng = random.Random(20261127)
    feeds = 6
    published = dict.fromkeys(range(feeds), 0)

    def publish() -> None:
        """Each feed adds 0-2 stories; a feed shows its latest 20 (older ones scroll off)."""
        for f in range(feeds):
            published[f] += rng.randint(0, 2)
            items = [story(f, n) for n in range(published[f], max(0, published[f] - 20), -1)]
            feed_server.set(f"f{f}.xml", rss(items))

    publish()
    urls = [feed_server.url(f"f{f}.xml") for f in range(feeds)]
    # one alert per matching story (the outbox under SIGKILL is what is tested, not grouping)
    path = config_factory(urls, receiver.url, interval="200ms", alert_on="stories")
    text = path.read_text().replace('tick = "100ms"', 'tick = "50ms"\nmin_interval = "100ms"')
    path.write_text(text.replace("max_interval", "# max_interval"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    seen_by_feeds: set[str] = set()

    def served() -> None:
        for f in range(feeds):
            for n in range(max(1, published[f] - 19), published[f] + 1):
                seen_by_feeds.add(f"f{f}-s{n}")

    for _kill in range(KILLS):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env,
        )  # fmt: skip
        await asyncio.sleep(rng.uniform(0.4, 1.4))  # import, start, poll, deliver: somewhere
        publish()
        served()
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        # a receiver that sometimes fails makes retries part of the story too
        if rng.random() < 0.2:
            receiver.responses = [(503, {})]

    # the killed runs did real work (they were not all killed while starting)
    con = sqlite3.connect(tmp_path / "var" / "monitor.db")
    try:
        stored_while_crashing = con.execute("SELECT COUNT(*) FROM stories").fetchone()[0]
        polls_while_crashing = con.execute("SELECT SUM(polls) FROM feeds").fetchone()[0]
    finally:
        con.close()
    assert stored_while_crashing > 0 and polls_while_crashing >= KILLS // 2
    delivered_while_crashing = len(receiver.delivered())
    assert delivered_while_crashing > 0

    # a last clean run until every feed shows nothing new and the outbox is empty
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env,
    )  # fmt: skip
    served()
    db = tmp_path / "var" / "monitor.db"
    expected_alerts = {k for k in seen_by_feeds if int(k.split("-s")[1]) % 3 == 0}
    try:
        for _ in range(200):  # bounded: at most ~40 s
            await asyncio.sleep(0.2)
            delivered = {r["json"]["data"]["story"]["title"] for r in receiver.delivered()}
            if len(delivered) >= len(expected_alerts):
                await asyncio.sleep(0.5)  # let the store record the last deliveries
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0

    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # a guid without isPermaLink="false" is a permalink: feedparser resolves it
        keys = [k.rsplit("/", 1)[-1] for (k,) in con.execute("SELECT key FROM stories")]
        assert len(keys) == len(set(keys)), "no story stored twice"
        assert set(keys) == seen_by_feeds, "every story served is stored"
        rows = con.execute(
            "SELECT a.id, s.key, a.state FROM alerts a JOIN stories s ON s.id = a.story_id"
        ).fetchall()
        rows = [(a, key.rsplit("/", 1)[-1], state) for a, key, state in rows]
        alerted = [key for _, key, _ in rows]
        assert len(alerted) == len(set(alerted)), "one alert per story, never two"
        assert set(alerted) == expected_alerts, "every alert that should exist exists"
        assert {state for *_, state in rows} == {"delivered"}
        ids = {alert_id: key for alert_id, key, _ in rows}
    finally:
        con.close()

    # what the receiver got: every alert, each under its one id (retries repeat the id)
    got: dict[str, set[str]] = {}
    for r in receiver.delivered():
        got.setdefault(r["json"]["data"]["story"]["title"], set()).add(r["headers"]["webhook-id"])
    assert all(len(v) == 1 for v in got.values()), "no alert under two ids"
    assert {next(iter(v)) for v in got.values()} == set(ids)
