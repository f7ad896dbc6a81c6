"""The dashboard and the API at scale: a store with 10,000 feeds and 1,000,000 stories
(100,000 with --quick), written by direct SQL inserts (the triggers of migration 6 keep the
search index and the counters, as in production), served by the real status server.

Figures: the median milliseconds of each page and API call over HTTP on loopback, beside
a trivial `/healthz` call in the same run (the floor: HTTP and aiohttp alone).
"""

from __future__ import annotations

import asyncio
import io
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.figures import Figure, size
from monitor import logs
from monitor.clock import SystemClock
from monitor.config import load
from monitor.service.daemon import open_service
from monitor.web import status

FEEDS = 10_000
TOPICS = ("ukraine", "energy", "elections", "climate", "markets")
COMMON = [
    "report",
    "says",
    "government",
    "minister",
    "week",
    "talks",
    "new",
    "plan",
    "city",
    "officials",
]
RARE = [f"zx{n:04d}" for n in range(5000)]  # rare words: a few hundred stories each
ROUNDS = 25

CONFIG = """
[storage]
url = "sqlite:///monitor.db"

[server]
listen = "127.0.0.1:0"

[polling]
stall_after = "1d"                    # no scheduler ticks here: /healthz stays 200

{topics}

[[sinks]]
id = "ops"
type = "webhook"
url = "http://127.0.0.1:9/hook"
"""


def _config(folder: Path) -> Path:
    topics = "\n".join(
        f'[[topics]]\nid = "{t}"\nname = "{t.title()}"\nquery = "{t}"\nsinks = ["ops"]\n'
        for t in TOPICS
    )
    path = folder / "monitor.toml"
    path.write_text(CONFIG.format(topics=topics), encoding="utf-8")
    return path


def populate(db_path: Path, stories: int, feeds: int, now: float) -> dict[str, Any]:
    """Feeds in every state, stories over 90 days (first seen in id order), 2% of them
    matched to a topic with an alert each (mostly delivered, some pending and dead) and
    its delivery attempt, and 48 hours of poll counters."""
    rng = random.Random(10)
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    feed_rows = []
    for i in range(1, feeds + 1):
        r = rng.random()
        errors = 5 if r < 0.03 else (1 if r < 0.06 else 0)
        last_poll = None if 0.06 <= r < 0.07 else now - rng.uniform(0, 3600)
        feed_rows.append(
            (
                i, f"https://news{i % 900}.example/feed/{i}.xml", f"https://cfg{i}.example/rss",
                f"Feed {i}", 900.0, int(not 0.09 <= r < 0.10), now + rng.uniform(0, 900),
                last_poll, last_poll if errors == 0 else now - 86400,
                "error" if errors else "ok", 503 if errors else 200,
                "http" if errors else None, "HTTP 503" if errors else None, errors,
                stories // feeds, 100, now - 90 * 86400, 1e-4,
                "gone" if 0.07 <= r < 0.08 else None, int(0.08 <= r < 0.09),
            )
        )  # fmt: skip
    db.executemany(
        """INSERT INTO feeds (id, url, config_url, name, interval, active, next_poll_at,
             last_poll_at, last_success_at, last_result, last_status, last_error_kind,
             last_error, consecutive_errors, stories, polls, created_at, rate,
             disabled_reason, paused)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        feed_rows,
    )
    start = now - 90 * 86400
    step = 90 * 86400 / stories
    matches: list[tuple[int, str, str, float]] = []
    batch: list[tuple[Any, ...]] = []
    for sid in range(1, stories + 1):
        words = [*rng.sample(COMMON, 4), rng.choice(RARE)]
        topic = TOPICS[sid % len(TOPICS)] if rng.random() < 0.02 else None
        if topic:
            words.append(topic)
        title = " ".join(words)
        seen = start + sid * step
        batch.append(
            (sid, rng.randint(1, feeds), f"k{sid}", f"https://news.example/{sid}", title,
             f"{title}. More on this story as it develops.", seen, "h", seen)
        )  # fmt: skip
        if topic:
            matches.append((sid, topic, f'["{topic}"]', seen))
        if len(batch) == 10_000:
            _insert_stories(db, batch)
            batch = []
    _insert_stories(db, batch)
    db.executemany(
        "INSERT INTO story_topics (story_id, topic_id, terms, matched_at) VALUES (?, ?, ?, ?)",
        matches,
    )
    alerts = []
    attempts = []
    for n, (sid, topic, _terms, seen) in enumerate(matches):
        state = "dead" if n % 500 == 0 else ("pending" if n % 333 == 0 else "delivered")
        aid = f"msg_{int(seen * 1000):012x}{n:016x}"
        alerts.append(
            (aid, sid, topic, "ops", "story.matched", '{"story": {"title": "t"}}', state, 1,
             seen, seen + 60, seen + 1 if state == "delivered" else None,
             "HTTP 400" if state == "dead" else None)
        )  # fmt: skip
        attempts.append((aid, 1, seen + 1, 400 if state == "dead" else 204, 0.05, None))
    db.executemany(
        """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data, state, attempts,
             created_at, next_attempt_at, delivered_at, last_error)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        alerts,
    )
    db.executemany(
        "INSERT INTO alert_attempts (alert_id, attempt, at, status, latency, error) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        attempts,
    )
    hour = int(now // 3600)
    db.executemany(
        "INSERT INTO poll_hours (hour, polls, errors) VALUES (?, ?, ?)",
        [(hour - h, 40_000, rng.randint(0, 2000)) for h in range(48)],
    )
    db.execute("COMMIT")
    db.close()
    dead = next(a[0] for a in alerts if a[6] == "dead") if alerts else "msg_none"
    return {"dead": dead, "rare": RARE[7], "start": start}


def _insert_stories(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    db.executemany(
        """INSERT INTO stories (id, feed_id, key, link, title, summary, first_seen_at,
             content_hash, published_at, detected_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)""",
        rows,
    )


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def _median_ms(session: aiohttp.ClientSession, url: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        async with session.get(url) as r:
            await r.read()
            assert r.status == 200, (url, r.status, await r.text())
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def _run(quick: bool) -> list[Figure]:
    stories = size(1_000_000, 100_000, quick, smoke_size=2_000)
    feeds = size(FEEDS, FEEDS, quick, smoke_size=200)
    rounds = size(ROUNDS, ROUNDS, quick, smoke_size=3)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = load(_config(folder))
        logs.configure("warning", stream=io.StringIO(), json=True)
        clock = SystemClock()
        async with open_service(config, clock, logs.get("bench")) as service:
            now = clock.now().timestamp()
            t0 = time.perf_counter()
            info = populate(folder / "monitor.db", stories, feeds, now)
            build = time.perf_counter() - t0
            runner, port = await status.start(service, "127.0.0.1", 0)
            base = f"http://127.0.0.1:{port}"
            day = info["start"] + 60 * 86400
            calls: dict[str, str] = {
                "dashboard": "/",
                "dashboard_failing_by_last_poll": "/?state=failing&sort=last_poll",
                "api_overview": "/api/overview",
                "api_feeds": "/api/feeds",
                "api_feeds_failing": "/api/feeds?state=failing&sort=-last_poll",
                "api_feeds_ok_by_url": "/api/feeds?state=ok&sort=url",
                "api_topics": "/api/topics",
                "api_timeline": "/api/topics/ukraine/timeline",
                "api_stories": "/api/stories",
                "api_stories_common_word": "/api/stories?q=minister",
                "api_stories_rare_word": f"/api/stories?q={info['rare']}",
                "api_stories_word_in_a_past_day": (
                    f"/api/stories?q=minister&since={_iso(day)}&until={_iso(day + 86400)}"
                ),
                "api_stories_past_day": f"/api/stories?since={_iso(day)}&until={_iso(day + 86400)}",
                "api_alerts": "/api/alerts",
                "api_alerts_dead": "/api/alerts?state=dead",
                "api_alert": f"/api/alerts/{info['dead']}",
            }
            figures = []
            try:
                async with aiohttp.ClientSession() as session:
                    # second pages, through the cursors the first pages hand out
                    for name, path in (
                        ("api_feeds_page2", "/api/feeds?sort=last_poll"),
                        ("api_timeline_page2", "/api/topics/ukraine/timeline"),
                        ("api_stories_page2", "/api/stories?q=minister"),
                    ):
                        async with session.get(base + path) as r:
                            cursor = (await r.json())["next_cursor"]
                        if cursor:
                            calls[name] = f"{path}&cursor={cursor}".replace(
                                "timeline&", "timeline?"
                            )
                    healthz = await _median_ms(session, base + "/healthz", rounds * 2)
                    for name, path in calls.items():
                        ms = await _median_ms(session, base + path, rounds)
                        figures.append(
                            Figure(
                                f"{name}_ms", ms, "ms", healthz, "healthz",
                                note=f"{stories:,} stories, {feeds:,} feeds",
                            )
                        )  # fmt: skip
            finally:
                await runner.cleanup()
        figures.append(
            Figure("dashboard_store_build_s", build, "s", note=f"{stories:,} stories by SQL")
        )
        return figures


def run(quick: bool = False) -> list[Figure]:
    return asyncio.run(_run(quick))
