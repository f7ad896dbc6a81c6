"""`monitor migrate`: a SQLite store copied into PostgreSQL (and back) keeps every row and
every id, and the copy goes on working as a store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from monitor.alerts.digests import sync_digest_schedules
from monitor.alerts.feed_health import check_feed_health
from monitor.config import RetentionConfig, StorageConfig
from monitor.models import AlertDraft, PollUpdate
from monitor.service.retention import prune
from monitor.store import SQLiteStore, Store, store_for
from tests.test_store_backends import FEEDS, KYIV, T0, dev_story, development, entry, ok


async def fill(store: Store) -> None:
    """A bit of everything: feeds, stories with revisions and tombstones, alerts in every
    state with attempts, a digest schedule, a feed-health episode, detection's rows."""
    await store.sync_feeds(FEEDS, 900.0, T0)
    f0, f1, f2 = await store.active_feeds()
    await store.ingest(f0.id, ok(T0 + 900), [entry(f"s{i}") for i in range(23)], [], 0, T0)
    await store.ingest(f1.id, ok(T0 + 900), [entry("old")], [], 0, T0 - 10_000)
    async with store.detection() as tx:  # detection: duplicates, bands, developments, alerts
        first, second, *rest = await tx.pending(100)
        await tx.mark_detected(
            first, canonical_url="u", duplicate_of=None, duplicate_by=None, bands=(2**62, 1)
        )
        await tx.mark_detected(
            second, canonical_url="u", duplicate_of=first.id, duplicate_by="url", bands=(1,)
        )
        for s in (first, second):
            await tx.save_development(development("t1:1", first.id, T0))
            await tx.add_development_story(dev_story("t1:1", s.id, "wire.example"), T0)
        for s in rest:
            await tx.mark_detected(
                s, canonical_url=None, duplicate_of=None, duplicate_by=None, bands=()
            )
        for s in (first, second, *rest):
            await tx.add_matches(s.id, [KYIV], s.first_seen_at)
            title = {"title": (s.link or "").rsplit("/", 1)[-1]}
            draft = AlertDraft("t1", "ops", "story.matched", {"story": title})
            await tx.add_alerts(s.id, [draft], s.first_seen_at)
    await prune(
        store, T0, RetentionConfig(stories=5000.0, revisions=None, attempts=None, tombstones=None)
    )
    await sync_digest_schedules(store, [("t1", "ops", "0 * * * *", "UTC", T0 + 3600)], T0)
    alerts = await store.claim_due_alerts(T0, 5, 30.0)
    for n, a in enumerate(alerts):
        state = ("delivered", "dead", "pending")[n % 3]
        await store.record_attempt(
            a.id, at=T0 + 1, status=204 if state == "delivered" else 500, latency=0.01,
            error=None if state == "delivered" else "HTTP 500", state=state,
            next_attempt_at=T0 + 60 if state == "pending" else None,
        )  # fmt: skip
    for n in range(3):
        await store.record_poll(
            f2.id,
            PollUpdate(result="error", http_status=500, next_poll_at=T0, error_kind="http",
                       error="HTTP 500"),
            T0 + n,
        )  # fmt: skip
    await check_feed_health(store, T0 + 5, 3, 60.0, ["ops"])


async def snapshot(store: Store) -> dict[str, Any]:
    feeds = await store.active_feeds()
    return {
        "feeds": await store.feed_report(),
        "alerts": await store.alert_log(limit=1000),
        "stories": await store.story_count(),
        "topics": await store.topic_report(),
        "counts": await store.alert_counts(),
        "known": [await store.known_hashes(f.id, ["s0", "s22", "old"]) for f in feeds],
        "digests": await store.due_digests(T0 + 3600),
        "detection": await store.detection_report(),
        "developments": await store.development_history(0.0),
    }


def migrate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "migrate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


async def test_migrate_sqlite_to_postgresql_and_back(tmp_path: Path, pg_url: str) -> None:
    source = SQLiteStore(tmp_path / "monitor.db")
    await source.open()
    try:
        await fill(source)
        before = await snapshot(source)
    finally:
        await source.close()

    done = await asyncio.to_thread(
        migrate, "--from", f"sqlite:///{tmp_path}/monitor.db", "--to", "env:PG_TARGET",
        "--batch", "7", env={"PG_TARGET": pg_url},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "stories" in done.stderr and "\r" not in done.stderr  # no bar off a terminal
    assert "copied" in done.stdout

    pg = store_for(StorageConfig(url=pg_url, path=None))
    await pg.open()
    try:
        after = await snapshot(pg)
        assert after == before
        # the copy is a working store: ids go on after the copied ones
        [feed, *_] = await pg.active_feeds()
        res = await pg.ingest(feed.id, ok(T0 + 2000), [entry("fresh")], [], 0, T0 + 1000)
        assert res.new == 1
        async with pg.detection() as tx:
            fresh = (await tx.pending(100))[-1]
            assert await tx.add_development_story(dev_story("t1:1", fresh.id, "new.example"), T0)
            draft = AlertDraft("t1", "ops", "story.matched", {"story": {"title": "fresh"}})
            assert await tx.add_alerts(fresh.id, [draft], T0 + 1000) == 1
        _, rows = await pg.development_history(0.0)
        assert [r.story.id for r in rows][-1] == fresh.id
    finally:
        await pg.close()

    # and back into a new SQLite file
    back = await asyncio.to_thread(
        migrate, "--from", pg_url, "--to", f"sqlite:///{tmp_path}/back.db"
    )
    assert back.returncode == 0, back.stderr
    copy = SQLiteStore(tmp_path / "back.db")
    await copy.open()
    try:
        again = await snapshot(copy)
        assert again["stories"] == before["stories"] + 1
        assert {a["id"] for a in before["alerts"]} < {a["id"] for a in again["alerts"]}
    finally:
        await copy.close()

    # a target that holds a store already is refused
    refused = await asyncio.to_thread(
        migrate, "--from", f"sqlite:///{tmp_path}/monitor.db", "--to", pg_url
    )
    assert refused.returncode == 1 and "not empty" in refused.stderr
