"""Every method of the Store protocol against both backends: SQLite always, PostgreSQL on a
throw-away cluster (tests/pg.py; skipped without server binaries, a failure under CI).

The same assertions hold for both, except where the README says the backends differ
(release_leases: SQLite releases every lease at start, PostgreSQL only expired ones)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts.digests import sync_digest_schedules, write_digest
from monitor.alerts.feed_health import check_feed_health
from monitor.alerts.limits import admit_alerts
from monitor.clock import iso
from monitor.config import FeedConfig, RetentionConfig, StorageConfig
from monitor.models import (
    AlertDraft,
    DevelopmentRow,
    DevelopmentStoryRow,
    Entry,
    MatchRow,
    PollUpdate,
    StoredStory,
)
from monitor.schema.postgres import PG_MIGRATIONS, PG_ONLY_COLUMNS, SQLITE_ONLY_TABLES
from monitor.schema.sqlite import MIGRATIONS
from monitor.service.retention import prune
from monitor.store import SQLiteStore, Store, store_for
from monitor.stories.diff import RevisionDiff
from monitor.topics.feedback import FeedbackSet

T0 = 1_700_000_000.0
KYIV = MatchRow("t1", ("kyiv",), "query", "strong")  # a topic's match, as detection stores it


def storage(url_or_path: str) -> StorageConfig:
    if url_or_path.startswith("postgresql://"):
        return StorageConfig(url=url_or_path, path=None)
    return StorageConfig(url=f"sqlite:///{url_or_path}", path=Path(url_or_path))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> StorageConfig:
    if request.param == "sqlite":
        return storage(str(tmp_path / "monitor.db"))
    return storage(request.getfixturevalue("pg_url"))


@pytest.fixture
async def make_store(backend: StorageConfig) -> AsyncIterator[Callable[[], Any]]:
    """Opens stores on the test's database (several: as several processes would)."""
    opened: list[Store] = []

    async def make() -> Store:
        s = store_for(backend)
        await s.open()
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.close()


@pytest.fixture
async def store(make_store: Callable[[], Any]) -> Store:
    s: Store = await make_store()
    return s


def entry(key: str, title: str = "Kyiv troops", summary: str = "text", h: str = "h1") -> Entry:
    return Entry(
        key=key,
        link=f"https://example.org/{key}",
        title=title,
        summary=summary,
        published=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        author=None,
        content_hash=h,
    )


async def detect(store: Store, now: float, sinks: dict[str, tuple[str, ...]] | None = None) -> int:
    """Detect the waiting stories as the detection stage writes its decisions, in its
    transaction: each matches topic t1 and gets a story.matched alert per sink (`sinks` by the
    story's key, else "ops"). Returns the alerts written."""
    written = 0
    async with store.detection() as tx:
        for s in await tx.pending(1000):
            key = (s.link or "").rsplit("/", 1)[-1]
            await tx.mark_detected(
                s, canonical_url=None, duplicate_of=None, duplicate_by=None, bands=()
            )
            await tx.add_matches(s.id, [KYIV], now)
            drafts = [
                AlertDraft("t1", sink, "story.matched", {"story": {"title": key}})
                for sink in (sinks or {}).get(key, ("ops",))
            ]
            written += await tx.add_alerts(s.id, drafts, now)
    return written


async def alerted(
    store: Store, feed_id: int, keys: list[str], now: float, sinks: tuple[str, ...] = ("ops",)
) -> int:
    """Stories of `keys` stored by a poll at `now`, then detected (:func:`detect`), each
    alerted to `sinks`; returns the alerts written."""
    await store.ingest(feed_id, ok(now + 100), [entry(k) for k in keys], [], 0, now)
    return await detect(store, now, dict.fromkeys(keys, sinks))


def ok(next_at: float, **kw: Any) -> PollUpdate:
    return PollUpdate(result="ok", http_status=200, next_poll_at=next_at, **kw)


FEEDS = [FeedConfig(url=f"http://127.0.0.1:1/f{i}", name=f"F{i}") for i in range(3)]


async def test_open_is_idempotent_and_the_store_answers(make_store: Callable[[], Any]) -> None:
    first: Store = await make_store()
    second: Store = await make_store()  # migrations already applied: nothing to do
    assert await first.ping() and await second.ping()
    assert first.write_failure is None
    assert await first.probe_write()
    assert first.size_bytes() > 0
    assert isinstance(first.instance_id, str) and first.instance_id.count(":") == 2
    await first.set_max_size(None)
    await first.checkpoint()
    before, after = await first.vacuum()
    assert before > 0 and after > 0


async def test_sync_feeds_follows_the_configuration(store: Store) -> None:
    await store.sync_feeds(FEEDS, 900.0, T0)
    feeds = await store.active_feeds()
    assert [f.url for f in feeds] == [f.url for f in FEEDS]
    assert all(f.next_poll_at == T0 and f.interval == 900.0 for f in feeds)
    # one removed, one given an explicit interval
    await store.sync_feeds(
        [FEEDS[0], FeedConfig(url=FEEDS[1].url, name="renamed", interval=60.0)], 900.0, T0 + 5
    )
    report = {r["url"]: r for r in await store.feed_report()}
    assert report[FEEDS[2].url]["active"] == 0
    assert report[FEEDS[1].url]["name"] == "renamed"
    assert report[FEEDS[1].url]["interval"] == 60.0
    assert report[FEEDS[1].url]["explicit_interval"] == 60.0
    assert len(await store.active_feeds()) == 2


async def test_a_claim_leases_due_feeds_for_one_interval(store: Store) -> None:
    await store.sync_feeds(FEEDS, 100.0, T0)
    claimed = await store.claim_due_feeds(T0, 10)
    assert [f.url for f in claimed] == [f.url for f in FEEDS]
    assert all(f.next_poll_at == T0 for f in claimed)  # as it was when claimed
    assert await store.claim_due_feeds(T0 + 50, 10) == []  # leased
    again = await store.claim_due_feeds(T0 + 100, 2, exclude=[claimed[0].id])
    assert [f.id for f in again] == [claimed[1].id, claimed[2].id]


async def test_a_second_sync_leaves_a_claimed_feed_to_its_claim(store: Store) -> None:
    """Two instances starting together: the second one's sync must not make a feed the first
    has just claimed (and not yet polled) due again, whatever its explicit interval."""
    feeds = [FeedConfig(url=FEEDS[0].url, name="F0", interval=4.0)]
    await store.sync_feeds(feeds, 100.0, T0)
    [claimed] = await store.claim_due_feeds(T0, 10)
    await store.sync_feeds(feeds, 100.0, T0 + 0.08)
    assert await store.claim_due_feeds(T0 + 0.1, 10) == []
    # a shorter explicit interval still brings it closer, counted from the claim
    await store.sync_feeds([FeedConfig(url=FEEDS[0].url, name="F0", interval=1.0)], 100.0, T0)
    assert [f.id for f in await store.claim_due_feeds(T0 + 1.0, 10)] == [claimed.id]


async def test_record_poll_updates_the_feed_row(store: Store) -> None:
    await store.sync_feeds(FEEDS, 100.0, T0)
    f0, f1, _ = await store.active_feeds()
    await store.record_poll(
        f0.id,
        PollUpdate(
            result="not_modified",
            http_status=304,
            next_poll_at=T0 + 300,
            etag='"e"',
            last_modified="lm",
            interval=300.0,
            rate=0.5,
            url="http://127.0.0.1:1/moved",
        ),
        T0,
    )
    for n in range(2):
        await store.record_poll(
            f1.id,
            PollUpdate(
                result="error", http_status=503, next_poll_at=T0 + 60, error_kind="http",
                error="HTTP 503",
            ),
            T0 + n,
        )  # fmt: skip
    rows = {r["id"]: r for r in await store.feed_report()}
    r0, r1 = rows[f0.id], rows[f1.id]
    assert r0["url"] == "http://127.0.0.1:1/moved" and r0["config_url"] == FEEDS[0].url
    assert (r0["last_result"], r0["last_status"], r0["polls"]) == ("not_modified", 304, 1)
    assert (r0["interval"], r0["rate"], r0["next_poll_at"]) == (300.0, 0.5, T0 + 300)
    assert r0["last_success_at"] == T0
    assert (r1["consecutive_errors"], r1["last_error_kind"], r1["polls"]) == (2, "http", 2)
    assert r1["last_success_at"] is None
    [feed] = [f for f in await store.active_feeds() if f.id == f0.id]
    assert (feed.etag, feed.last_modified) == ('"e"', "lm")
    # 410 Gone disables the feed: no longer claimed
    await store.record_poll(
        f1.id,
        PollUpdate(result="error", http_status=410, next_poll_at=T0, disabled_reason="gone"),
        T0 + 5,
    )
    assert f1.id not in {f.id for f in await store.claim_due_feeds(T0 + 10_000, 10)}


def not_modified(next_at: float, **kw: Any) -> PollUpdate:
    return PollUpdate(result="not_modified", http_status=304, next_poll_at=next_at, **kw)


async def test_write_behind_poll_records_land_as_if_one_after_another(
    make_store: Callable[[], Any],
) -> None:
    """Poll records nobody waits for (SQLite writes those queued together in one statement):
    a feed recorded twice counts both polls and keeps the later state; of two feeds moved to
    one URL only the first moves; an error beside successes; all of it committed by flush,
    and by close."""
    store: Store = await make_store()
    await store.sync_feeds(FEEDS, 100.0, T0)
    f0, f1, f2 = await store.active_feeds()
    moved = "http://127.0.0.1:1/moved"
    error = PollUpdate(
        result="error", http_status=503, next_poll_at=T0 + 60, error_kind="http", error="503"
    )
    for feed_id, update, now in [
        (f0.id, not_modified(T0 + 100, etag='"a"', interval=100.0), T0),
        (f1.id, not_modified(T0 + 100, url=moved), T0),
        (f2.id, not_modified(T0 + 100, url=moved), T0),
        (f0.id, not_modified(T0 + 200, etag='"b"', last_modified="lm", interval=200.0), T0 + 1),
        (f1.id, error, T0 + 2),
    ]:
        await store.record_poll(feed_id, update, now, wait=False)
    await store.flush()
    rows = {r["id"]: r for r in await store.feed_report()}
    r0, r1, r2 = rows[f0.id], rows[f1.id], rows[f2.id]
    assert (r0["polls"], r0["last_poll_at"], r0["next_poll_at"], r0["interval"]) == (
        2, T0 + 1, T0 + 200, 200.0
    )  # fmt: skip
    assert (r1["url"], r2["url"]) == (moved, FEEDS[2].url)
    assert (r1["polls"], r1["consecutive_errors"], r1["last_success_at"]) == (2, 1, T0)
    assert (r2["polls"], r2["last_result"], r2["consecutive_errors"]) == (1, "not_modified", 0)
    feeds = {f.id: f for f in await store.active_feeds()}
    assert (feeds[f0.id].etag, feeds[f0.id].last_modified) == ('"b"', "lm")

    # a 304 after the error (the statement of quiet records): errors reset, the last error kept
    await store.record_poll(f1.id, not_modified(T0 + 400, etag='"c"'), T0 + 4, wait=False)
    await store.flush()
    r1 = {r["id"]: r for r in await store.feed_report()}[f1.id]
    assert (r1["polls"], r1["consecutive_errors"], r1["last_success_at"]) == (3, 0, T0 + 4)
    assert (r1["last_result"], r1["last_error_kind"], r1["next_poll_at"]) == (
        "not_modified", "http", T0 + 400
    )  # fmt: skip

    await store.record_poll(f2.id, not_modified(T0 + 300), T0 + 3, wait=False)
    await store.close()  # commits what is queued
    again: Store = await make_store()
    rows = {r["id"]: r for r in await again.feed_report()}
    assert (rows[f2.id]["polls"], rows[f2.id]["next_poll_at"]) == (2, T0 + 300)


async def test_write_behind_record_lands_without_a_flush(store: Store) -> None:
    """Group commit gathers records for a moment (SQLite: POLL_WINDOW), then writes them on
    its own: nobody has to call flush for a poll's bookkeeping to reach the store."""
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    await store.record_poll(feed.id, not_modified(T0 + 100), T0, wait=False)
    for _ in range(100):  # bounded: 5 s
        if (await store.feed_report())[0]["polls"] == 1:
            break
        await asyncio.sleep(0.05)
    assert (await store.feed_report())[0]["polls"] == 1


async def test_ingest_stores_new_stories_once_and_detection_alerts_each_once(
    store: Store,
) -> None:
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    stories = [entry("a"), entry("b"), entry("a")]  # "a" twice
    res = await store.ingest(feed.id, ok(T0 + 100, etag='"x"'), stories, [], 1, T0)
    assert (res.new, res.new_keys, res.unchanged) == (2, ("a", "b"), 2)
    assert await store.known_hashes(feed.id, ["a", "b", "c"]) == {"a": "h1", "b": "h1"}
    assert await store.story_count() == 2
    assert await detect(store, T0, {"a": ("ops", "chat")}) == 3
    assert (await store.topic_report())["t1"]["matches"] == 2
    assert (await store.alert_counts())["pending"] == 3
    # the same stories again: nothing new, nothing to detect, no alert
    again = await store.ingest(feed.id, ok(T0 + 200), [entry("a"), entry("b")], [], 0, T0 + 1)
    assert (again.new, again.unchanged) == (0, 2)
    assert await detect(store, T0 + 1) == 0
    # an update becomes a revision
    changed = (entry("a", title="Kyiv troops (updated)", h="h2"), None)
    upd = await store.ingest(feed.id, ok(T0 + 300), [], [changed], 0, T0 + 2)
    assert upd.updated == 1
    assert await store.known_hashes(feed.id, ["a"]) == {"a": "h2"}
    [row] = [r for r in await store.feed_report() if r["id"] == feed.id]
    assert (row["stories"], row["polls"], row["last_result"]) == (2, 3, "ok")
    [feed] = await store.active_feeds()
    assert feed.etag is None  # the last update carried no validator


async def test_alerts_are_claimed_leased_and_recorded(store: Store) -> None:
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    await alerted(store, feed.id, ["a"], T0, sinks=("ops", "chat"))
    assert await store.next_alert_due() == T0
    claimed = await store.claim_due_alerts(T0, 10, lease=30.0, exclude_sinks=["chat"])
    assert [a.sink_id for a in claimed] == ["ops"]
    a = claimed[0]
    assert (a.topic_id, a.event, a.attempts, a.created_at) == ("t1", "story.matched", 0, T0)
    assert a.data["story_id"] and a.data["story"] == {"title": "a"}
    assert await store.claim_due_alerts(T0 + 10, 10, 30.0, exclude_sinks=["chat"]) == []
    [lease] = await store.leases(T0 + 10)
    assert lease["instance"] == store.instance_id and lease["alerts"] == 1
    assert lease["until"] == T0 + 30
    # the lease ran out: claimable again under the same id
    [same] = await store.claim_due_alerts(T0 + 31, 10, 30.0, exclude_sinks=["chat"])
    assert same.id == a.id
    await store.record_attempt(
        a.id, at=T0 + 32, status=503, latency=0.1, error="HTTP 503", state="pending",
        next_attempt_at=T0 + 40,
    )  # fmt: skip
    await store.record_attempt(
        a.id, at=T0 + 41, status=204, latency=0.05, error=None, state="delivered",
        next_attempt_at=None,
    )  # fmt: skip
    [log] = await store.alert_log(alert_id=a.id)
    assert log["state"] == "delivered" and log["attempts"] == 2 and log["delivered_at"] == T0 + 41
    assert [x["status"] for x in log["attempts_log"]] == [503, 204]
    assert [x["attempt"] for x in log["attempts_log"]] == [1, 2]
    assert log["data"]["story"] == {"title": "a"}
    assert await store.alert_since(a.id) == T0
    assert await store.leases(T0 + 41) == []
    counts = await store.alert_counts()
    assert (counts["delivered"], counts["pending"], counts["oldest_pending_at"]) == (1, 1, T0)
    assert [r["id"] for r in await store.alerts(state="delivered")] == [a.id]
    assert len(await store.alert_log(state="pending")) == 1


async def test_dead_letters_are_requeued_with_a_fresh_budget(store: Store) -> None:
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    await alerted(store, feed.id, ["a", "b"], T0)
    first, second = await store.claim_due_alerts(T0, 10, 30.0)
    for a in (first, second):
        await store.record_attempt(
            a.id, at=T0 + 1, status=400, latency=0.1, error="HTTP 400", state="dead",
            next_attempt_at=None,
        )  # fmt: skip
    assert {r["id"] for r in await store.alerts(state="dead")} == {first.id, second.id}
    assert await store.requeue_dead([first.id, "msg_unknown"], T0 + 5) == [first.id]
    assert await store.requeue_dead(None, T0 + 6) == [second.id]
    again = await store.claim_due_alerts(T0 + 6, 10, 30.0)
    assert {a.id for a in again} == {first.id, second.id}
    assert all(a.attempts == 0 for a in again)
    assert await store.alert_since(first.id) == T0 + 5


async def test_release_leases_at_start(store: Store, backend: StorageConfig) -> None:
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    await alerted(store, feed.id, ["a"], T0)
    [a] = await store.claim_due_alerts(T0, 10, 30.0)
    released = await store.release_leases(T0 + 1)
    if backend.backend == "sqlite":  # one process: any lease left is a dead process's
        assert released == 1
    else:  # other instances may be sending: only expired leases are cleared
        assert released == 0
        assert await store.release_leases(T0 + 31) == 1
    [again] = await store.claim_due_alerts(T0 + 31, 10, 30.0)
    assert again.id == a.id


async def test_rate_limits_hold_alerts_for_the_digest(store: Store) -> None:
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    await alerted(store, feed.id, ["a", "b"], T0)
    assert await sync_digest_schedules(store, [("t1", "ops", "0 * * * *", "UTC", T0 + 50)], T0) == 0
    alerts = await store.claim_due_alerts(T0, 10, 30.0)
    limits = [(False, 1, 3600.0)]  # one an hour per sink
    held = await admit_alerts(store, [(a.id, "t1", "ops", limits) for a in alerts], T0)
    assert held == {alerts[1].id}
    assert (await store.alert_counts())["held"] == 1
    assert await store.due_digests(T0 + 10) == []
    [due] = await store.due_digests(T0 + 50)
    assert (due["topic_id"], due["sink_id"], due["cron"]) == ("t1", "ops", "0 * * * *")
    digest_id, count = await write_digest(
        store, "t1", "ops", {"id": "t1", "name": "T"}, T0 + 50, T0 + 3650
    )
    assert digest_id is not None and count == 2
    assert await store.due_digests(T0 + 60) == []
    [log] = await store.alert_log(alert_id=digest_id)
    assert log["event"] == "topic.digest" and log["data"]["folded"] == 1
    assert (await store.alert_counts())["held"] == 0
    # a schedule removed from the configuration releases what it held
    await alerted(store, feed.id, ["c"], T0 + 60)
    claimed = await store.claim_due_alerts(T0 + 60, 10, 30.0)
    [c] = [a for a in claimed if a.data.get("story") == {"title": "c"}]
    assert await admit_alerts(store, [(c.id, "t1", "ops", limits)], T0 + 60) == {c.id}
    assert await sync_digest_schedules(store, [], T0 + 70) == 1


async def test_a_digest_not_due_is_not_written(store: Store) -> None:
    """Another instance wrote this digest meanwhile: its schedule moved past now."""
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    await alerted(store, feed.id, ["a"], T0)
    await sync_digest_schedules(store, [("t1", "ops", "0 * * * *", "UTC", T0 + 50)], T0)
    topic = {"id": "t1", "name": "T"}
    assert await write_digest(store, "t1", "ops", topic, T0 + 10, T0 + 3650) == (None, 0)
    assert [d["next_at"] for d in await store.due_digests(T0 + 50)] == [T0 + 50]
    digest_id, count = await write_digest(store, "t1", "ops", topic, T0 + 50, T0 + 3650)
    assert digest_id is not None and count == 1


async def test_feed_health_episodes(store: Store) -> None:
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    for n in range(3):
        await store.record_poll(
            feed.id,
            PollUpdate(result="error", http_status=500, next_poll_at=T0, error_kind="http",
                       error="HTTP 500"),
            T0 + n,
        )  # fmt: skip
    assert await check_feed_health(store, T0 + 3, 3, 60.0, ["ops"]) == []  # episode opened
    [(event, url, alert_id)] = await check_feed_health(store, T0 + 100, 3, 60.0, ["ops"])
    assert (event, url) == ("feed.failing", FEEDS[0].url)
    assert await check_feed_health(store, T0 + 200, 3, 60.0, ["ops"]) == []  # once
    await store.record_poll(feed.id, ok(T0 + 400), T0 + 300)
    [(event, _, _)] = await check_feed_health(store, T0 + 301, 3, 60.0, ["ops"])
    assert event == "feed.recovered"
    [log] = await store.alert_log(alert_id=alert_id)
    assert log["data"]["consecutive_errors"] == 3


async def test_prune_leaves_tombstones(store: Store) -> None:
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    await alerted(store, feed.id, ["old"], T0)
    await alerted(store, feed.id, ["new"], T0 + 5000)
    [a, _] = await store.claim_due_alerts(T0 + 5000, 10, 30.0)
    await store.record_attempt(
        a.id, at=T0, status=204, latency=0.1, error=None, state="delivered", next_attempt_at=None
    )
    retention = RetentionConfig(
        stories=1000.0, revisions=1000.0, attempts=1000.0, tombstones=2000.0, batch=1
    )
    counts = await prune(store, T0 + 5100, retention)
    assert counts["stories"] == 1 and counts["alerts"] == 1
    assert await store.story_count() == 1
    assert await store.known_hashes(feed.id, ["old", "new"]) == {"old": "h1", "new": "h1"}
    counts = await prune(store, T0 + 9000, retention)
    assert counts["tombstones"] == 1 and counts["stories"] == 1


async def test_two_writers_store_one_story_once(make_store: Callable[[], Any]) -> None:
    """The same story ingested by two stores (two instances) at once: one row, detected once
    (one alert), whichever instance detects it."""
    one: Store = await make_store()
    two: Store = await make_store()
    await one.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await one.active_feeds()
    results = await asyncio.gather(
        *(
            s.ingest(feed.id, ok(T0 + 100), [entry(f"k{i}") for i in range(50)], [], 0, T0)
            for s in (one, two, one, two)
        )
    )
    assert sum(r.new for r in results) == 50
    assert sum(await asyncio.gather(detect(one, T0), detect(two, T0), detect(one, T0))) == 50
    assert await one.story_count() == 50
    assert (await two.alert_counts())["pending"] == 50


async def test_two_claimers_share_the_due_work(make_store: Callable[[], Any]) -> None:
    one: Store = await make_store()
    two: Store = await make_store()
    feeds = [FeedConfig(url=f"http://127.0.0.1:1/g{i}") for i in range(60)]
    await one.sync_feeds(feeds, 100.0, T0)
    got: list[int] = []
    alerts: list[str] = []
    [feed, *_] = await one.active_feeds()
    await one.ingest(feed.id, ok(T0), [entry(f"s{i}") for i in range(60)], [], 0, T0)
    await detect(one, T0)

    async def claim(s: Store) -> None:
        for _ in range(10):
            got.extend(f.id for f in await s.claim_due_feeds(T0, 7))
            alerts.extend(a.id for a in await s.claim_due_alerts(T0, 7, 30.0))
            await asyncio.sleep(0)

    await asyncio.gather(claim(one), claim(two))
    assert sorted(got) == sorted(f.id for f in await one.active_feeds())
    assert len(alerts) == len(set(alerts)) == 60


async def test_leases_name_their_instance(
    make_store: Callable[[], Any], backend: StorageConfig
) -> None:
    one: Store = await make_store()
    two: Store = await make_store()
    await one.sync_feeds(FEEDS, 100.0, T0)
    await one.claim_due_feeds(T0, 2)
    await two.claim_due_feeds(T0, 2)
    leases = await one.leases(T0 + 1)
    if backend.backend == "sqlite":
        assert leases == []  # feed claims are not recorded in SQLite
        return
    by = {lease["instance"]: lease for lease in leases}
    assert by[one.instance_id]["feeds"] == 2 and by[two.instance_id]["feeds"] == 1
    assert by[one.instance_id]["until"] == T0 + 100
    [f] = [f for f in await one.active_feeds() if f.url == FEEDS[2].url]
    await two.record_poll(f.id, ok(T0 + 100), T0 + 2)  # the poll ends the lease
    assert two.instance_id not in {lease["instance"] for lease in await one.leases(T0 + 3)}


async def test_websub_subscriptions_and_the_pushed_flag(store: Store) -> None:
    await store.sync_feeds(FEEDS, 100.0, T0)
    f0, f1, f2 = await store.active_feeds()
    assert await store.subscription(f0.id) is None and await store.subscriptions() == []
    await store.subscribe(f0.id, "https://hub/", "https://t/0", "https://cb/0", "s3cret", T0)
    await store.subscribe(f1.id, "https://hub/", "https://t/1", "https://cb/1", "other", T0 + 1)
    sub = await store.subscription(f0.id)
    assert sub is not None
    assert (sub.feed_url, sub.feed_live, sub.hub, sub.topic, sub.callback, sub.secret) == (
        f0.url, True, "https://hub/", "https://t/0", "https://cb/0", "s3cret",
    )  # fmt: skip
    assert (sub.state, sub.next_action_at, sub.pushes, sub.forged) == ("pending", T0, 0, 0)
    assert "s3cret" not in repr(sub)
    # due work is claimed once until its lease passes
    assert [s.feed_id for s in await store.claim_due_subscriptions(T0 + 1, 10, 60)] == [
        f0.id,
        f1.id,
    ]
    assert await store.claim_due_subscriptions(T0 + 2, 10, 60) == []
    # verified: active, and the feed's row says it is pushed (the safety-net interval)
    changes = {"state": "active", "lease_until": T0 + 1000, "next_action_at": T0 + 800}
    assert await store.update_subscription(f0.id, changes, T0 + 2)
    assert not await store.update_subscription(99999, changes, T0 + 2)
    with pytest.raises(ValueError, match="not a subscription column"):
        await store.update_subscription(f0.id, {"pushes": 5}, T0)
    pushed = {f.id: f.pushed for f in await store.claim_due_feeds(T0 + 5, 10)}
    assert pushed == {f0.id: True, f1.id: False, f2.id: False}
    row = await store.feed_row(f0.id)
    assert row is not None and row.pushed and row.url == f0.url
    assert await store.feed_row(99999) is None
    await store.count_push(f0.id, False, T0 + 3)
    await store.count_push(f0.id, True, T0 + 4)
    await store.count_push(f0.id, False, T0 + 5)
    [s0, s1] = await store.subscriptions()
    assert (s0.state, s0.lease_until, s0.pushes, s0.forged, s0.last_push_at) == (
        "active", T0 + 1000, 2, 1, T0 + 5,
    )  # fmt: skip
    assert (s1.state, s1.pushes, s1.last_push_at) == ("pending", 0, None)
    # a new hub: a new subscription replaces it (pending again), its counts are kept
    await store.subscribe(f0.id, "https://hub2/", "https://t/0", "https://cb/0", "new", T0 + 6)
    s0b = await store.subscription(f0.id)
    assert s0b is not None and (s0b.hub, s0b.state, s0b.pushes, s0b.secret) == (
        "https://hub2/", "pending", 2, "new",
    )  # fmt: skip
    row = await store.feed_row(f0.id)
    assert row is not None and not row.pushed
    # a feed removed from the configuration: its subscription says so
    await store.sync_feeds(FEEDS[1:], 100.0, T0 + 7)
    s0c = await store.subscription(f0.id)
    assert s0c is not None and not s0c.feed_live
    assert await store.delete_subscription(f1.id)
    assert not await store.delete_subscription(f1.id)
    assert [s.feed_id for s in await store.subscriptions()] == [f0.id]


# -- detection ---------------------------------------------------------------------------


async def raw(backend: StorageConfig, query: str) -> list[tuple[Any, ...]]:
    """Rows of a query without parameters, straight from the backend's database."""
    if backend.path is not None:
        with sqlite3.connect(backend.path) as con:
            return list(con.execute(query))
    import asyncpg

    pcon = await asyncpg.connect(backend.url)
    try:
        return [tuple(r) for r in await pcon.fetch(query)]
    finally:
        await pcon.close()


async def stored(store: Store, keys: list[str], now: float = T0) -> int:
    """A feed with stories of `keys` (no matches, no alerts: detection decides those);
    returns the feed's id."""
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    new = [entry(k, title=f"Title {k}", summary=f"Text of {k}.") for k in keys]
    await store.ingest(feed.id, ok(now + 100), new, [], 0, now)
    return feed.id


async def mark(store: Store, **decisions: Any) -> list[StoredStory]:
    """Detect the waiting stories with no decisions but `decisions[key]` (keyword arguments
    of mark_detected) for each story whose link ends in that key; returns them."""
    async with store.detection() as tx:
        stories = await tx.pending(100)
        for s in stories:
            key = (s.link or "").rsplit("/", 1)[-1]
            kw = {"canonical_url": None, "duplicate_of": None, "duplicate_by": None, "bands": ()}
            await tx.mark_detected(s, **{**kw, **decisions.get(key, {})})
    return stories


async def test_the_queue_read_by_time_puts_the_earliest_story_first(store: Store) -> None:
    """After the first polls the queue is read by story time: published, never after first
    seen (T0); no date is first seen; ties by id."""
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    when = {
        "a": datetime(2023, 11, 10, tzinfo=UTC),
        "b": datetime(2023, 11, 5, tzinfo=UTC),
        "c": None,
        "d": datetime(2030, 1, 1, tzinfo=UTC),
    }
    new = [replace(entry(k), published=w) for k, w in when.items()]
    await store.ingest(feed.id, ok(T0 + 100), new, [], 0, T0)
    async with store.detection() as tx:
        by_id = [(s.link or "")[-1] for s in await tx.pending(10)]
        by_time = [(s.link or "")[-1] for s in await tx.pending(10, by_time=True)]
        first = [(s.link or "")[-1] for s in await tx.pending(1, by_time=True)]
    assert by_id == ["a", "b", "c", "d"]
    assert by_time == ["b", "a", "c", "d"] and first == ["b"]


async def test_the_detection_queue_is_in_storage_order(store: Store) -> None:
    feed_id = await stored(store, ["a", "b", "c"])
    assert await store.pending_count() == 3
    async with store.detection() as tx:
        a, b, c = await tx.pending(10)
        assert [s.id for s in (a, b, c)] == sorted(s.id for s in (a, b, c))
        assert (a.feed_id, a.feed_name, a.feed_url) == (feed_id, "F0", FEEDS[0].url)
        assert (a.title, a.summary, a.link) == ("Title a", "Text of a.", "https://example.org/a")
        assert a.published == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
        assert (a.first_seen_at, a.revision, a.detected_rev, a.old_title) == (T0, 1, None, None)
        assert [s.id for s in await tx.pending(10, after=a.id)] == [b.id, c.id]
        assert [s.id for s in await tx.pending(1)] == [a.id]
        await tx.mark_detected(
            a, canonical_url="https://example.org/a", duplicate_of=None, duplicate_by=None,
            bands=(1, 2),
        )  # fmt: skip
    assert await store.pending_count() == 2
    await mark(store)
    assert await store.pending_count() == 0
    # a meaningful change: the story waits again, with the text detection saw last
    changed = (
        entry("a", title="Title a (updated)", summary="More text.", h="h2"),
        RevisionDiff(None, ("More text.",), ("Text of a.",), True),
    )
    await store.ingest(feed_id, ok(T0 + 200), [], [changed], 0, T0 + 100)
    async with store.detection() as tx:
        [again] = await tx.pending(10)
        assert (again.id, again.revision, again.detected_rev) == (a.id, 2, 1)
        assert (again.old_title, again.old_summary) == ("Title a", "Text of a.")
        assert again.title == "Title a (updated)"
        await tx.mark_detected(
            again, canonical_url=None, duplicate_of=None, duplicate_by=None, bands=()
        )
        # a revision keeps the story's first decisions (canonical URL, bands)
        assert await tx.url_original("https://example.org/a", a.id + 1) == a.id
        assert [s.id for s in await tx.near_candidates([1, 2], T0, a.id + 1)] == [a.id]
    assert await store.pending_count() == 0


async def test_a_failed_detection_transaction_leaves_the_stories_waiting(store: Store) -> None:
    await stored(store, ["a"])
    with pytest.raises(RuntimeError):
        async with store.detection() as tx:
            [a] = await tx.pending(10)
            await tx.mark_detected(
                a, canonical_url="u", duplicate_of=None, duplicate_by=None, bands=(1,)
            )
            await tx.add_matches(a.id, [KYIV], T0)
            raise RuntimeError("a bug")
    assert await store.pending_count() == 1
    assert await store.topic_report() == {}


async def test_url_original_is_the_root_of_the_earliest_story_with_the_url(store: Store) -> None:
    await stored(store, ["a", "b", "c", "d"])
    async with store.detection() as tx:
        a, b, c, d = await tx.pending(10)
        assert await tx.url_original("https://x.example/u", d.id) is None
        await tx.mark_detected(
            a, canonical_url="https://x.example/a", duplicate_of=None, duplicate_by=None, bands=()
        )
        # b repeats a's text under its own URL; c carries b's URL
        await tx.mark_detected(
            b, canonical_url="https://x.example/u", duplicate_of=a.id, duplicate_by="text",
            bands=(),
        )  # fmt: skip
        assert await tx.url_original("https://x.example/u", b.id) is None  # none before b
        assert await tx.url_original("https://x.example/u", d.id) == a.id  # b's root
        assert await tx.url_original("https://x.example/a", d.id) == a.id
        await tx.mark_detected(
            c, canonical_url="https://x.example/u", duplicate_of=a.id, duplicate_by="url",
            bands=(),
        )  # fmt: skip
    assert (await store.detection_report())["duplicates"] == 2


async def test_near_candidates_share_a_band_within_the_window(store: Store) -> None:
    big = 2**62 + 12345  # band keys are signed 63-bit integers
    feed_id = await stored(store, ["a"], now=T0)
    async with store.detection() as tx:
        [a] = await tx.pending(10)
        await tx.mark_detected(
            a, canonical_url=None, duplicate_of=None, duplicate_by=None, bands=(1, big, big)
        )
    await store.ingest(
        feed_id, ok(T0 + 200),
        [entry(k, title=f"Title {k}", summary=f"Text of {k}.")
         for k in ("b", "c", "d")],
        [], 0, T0 + 100,
    )  # fmt: skip
    async with store.detection() as tx:
        b, c, d = await tx.pending(10)
        await tx.mark_detected(b, canonical_url=None, duplicate_of=a.id, duplicate_by="text",
                               bands=(big, 7))  # fmt: skip
        await tx.mark_detected(c, canonical_url=None, duplicate_of=None, duplicate_by=None,
                               bands=(8,))  # fmt: skip
        found = await tx.near_candidates([big, 8, 999], T0, d.id)
        assert [s.id for s in found] == [a.id, b.id, c.id]  # oldest first, each once
        first = found[0]
        published = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
        assert (first.title, first.summary, first.published) == ("Title a", "Text of a.", published)
        assert (found[0].duplicate_of, found[1].duplicate_of) == (None, a.id)
        assert [s.id for s in await tx.near_candidates([big, 8], T0, c.id)] == [a.id, b.id]
        assert [s.id for s in await tx.near_candidates([big, 8], T0 + 50, d.id)] == [b.id, c.id]
        assert [s.id for s in await tx.near_candidates([big, 8], T0, d.id, limit=1)] == [a.id]
        assert await tx.near_candidates([], T0, d.id) == []
        assert await tx.near_candidates([999], T0, d.id) == []


def development(dev_id: str, story_id: int, now: float, **kw: Any) -> DevelopmentRow:
    return DevelopmentRow(dev_id, "t1", story_id, f"Headline {dev_id}", now, now, now, now, **kw)


def dev_story(
    dev_id: str, story_id: int, source: str, title: str = "", summary: str = "", **kw: Any
) -> DevelopmentStoryRow:
    fields: dict[str, Any] = {
        "published": T0, "similarity": 0.5, "duplicate": False,
        "what_is_new": ("A new sentence.",), "vector": {"kyiv": 0.7}, **kw,
    }  # fmt: skip
    story = StoredStory(story_id, title=title, summary=summary)
    return DevelopmentStoryRow(dev_id, "t1", story, source, **fields)


async def test_developments_are_saved_upserted_and_replayed(store: Store) -> None:
    await stored(store, ["a", "b", "c"])
    async with store.detection() as tx:
        a, b, c = await tx.pending(10)
        assert await tx.development("t1:1") is None
        first = development("t1:1", a.id, T0)
        await tx.save_development(first)
        assert await tx.development("t1:1") == first
        assert await tx.add_development_story(dev_story("t1:1", a.id, "wire.example"), T0)
        # a second story from the same source is no new source; a third from another is
        assert not await tx.add_development_story(dev_story("t1:1", b.id, "wire.example"), T0)
        assert await tx.add_development_story(
            dev_story("t1:1", c.id, "daily.example", duplicate=True), T0
        )
        # the same story again: kept once (the answer is about the source only)
        assert not await tx.add_development_story(dev_story("t1:1", c.id, "daily.example"), T0)
        # upsert: the counters and times move, the headline and the first times stay
        later = DevelopmentRow(
            "t1:1", "t1", a.id, "Another headline", T0 + 9, T0 + 5, T0 + 9, T0 + 6,
            stories=3, sources=2, last_update_alert_at=T0 + 5,
        )  # fmt: skip
        await tx.save_development(later)
        assert await tx.development("t1:1") == DevelopmentRow(
            "t1:1", "t1", a.id, "Headline t1:1", T0, T0 + 5, T0, T0 + 6,
            stories=3, sources=2, last_update_alert_at=T0 + 5,
        )  # fmt: skip
        assert await tx.story_developments(c.id) == {"t1": "t1:1"}
        assert await tx.story_developments(999_999) == {}
        await tx.save_development(development("t1:old", a.id, T0 - 1000))
        # a story is in one development of a topic: kept once
        await tx.add_development_story(dev_story("t1:old", a.id, "wire.example"), T0)
    devs, rows = await store.development_history(T0 - 10)
    assert [d.id for d in devs] == ["t1:1"]
    assert [(r.story.id, r.source, r.duplicate) for r in rows] == [
        (a.id, "wire.example", False),
        (b.id, "wire.example", False),
        (c.id, "daily.example", True),
    ]
    assert rows[0] == dev_story("t1:1", a.id, "wire.example", title="Title a", summary="Text of a.")
    devs, rows = await store.development_history(T0 - 2000)
    assert [d.id for d in devs] == ["t1:old", "t1:1"]  # by first seen
    assert [r.development_id for r in rows] == ["t1:1"] * 3
    report = await store.detection_report()
    assert report["topics"] == {"t1": {"developments": 2, "last_development_at": iso(T0 + 5)}}


async def test_add_alerts_counts_the_rows_really_inserted(store: Store) -> None:
    await stored(store, ["a"])
    drafts = [
        AlertDraft("t1", sink, "development.new", {"story": {"title": "a"}})
        for sink in ("ops", "chat")
    ]
    async with store.detection() as tx:
        [a] = await tx.pending(10)
        assert await tx.add_alerts(a.id, drafts, T0) == 2
        assert await tx.add_alerts(a.id, drafts, T0 + 1) == 0  # the same alerts: kept once
        assert await tx.add_alerts(a.id, [*drafts, drafts[0]], T0 + 1) == 0
        update = AlertDraft("t1", "ops", "development.update", {})
        assert await tx.add_alerts(a.id, [update, update], T0 + 2) == 1
        assert await tx.add_alerts(a.id, [], T0 + 2) == 0
        await tx.add_matches(a.id, [KYIV], T0)
        await tx.add_matches(a.id, [KYIV], T0)  # kept once
        await tx.add_matches(a.id, [], T0)
    claimed = await store.claim_due_alerts(T0 + 5, 10, 30.0)
    assert sorted((x.sink_id, x.event) for x in claimed) == [
        ("chat", "development.new"), ("ops", "development.new"), ("ops", "development.update")
    ]  # fmt: skip
    assert all(x.data["story_id"] == a.id for x in claimed)
    assert (await store.topic_report())["t1"]["matches"] == 1


async def test_detection_report_counts(store: Store) -> None:
    assert await store.detection_report() == {"pending": 0, "duplicates": 0, "topics": {}}
    await stored(store, ["a", "b", "c"])
    await mark(store, b={"duplicate_of": 1, "duplicate_by": "url"})
    async with store.detection() as tx:
        await tx.save_development(development("t1:1", 1, T0 + 7))
        await tx.save_development(replace(development("t2:5", 1, T0), topic_id="t2"))
        await tx.save_development(development("t1:9", 1, T0 + 3))
    await stored(store, ["d"], now=T0 + 10)
    assert await store.detection_report() == {
        "pending": 1,
        "duplicates": 1,
        "topics": {
            "t1": {"developments": 2, "last_development_at": iso(T0 + 7)},
            "t2": {"developments": 1, "last_development_at": iso(T0)},
        },
    }


async def test_story_texts_and_replay_pages(store: Store) -> None:
    feed_id = await stored(store, ["a", "b"], now=T0)
    await stored(store, ["c", "d", "e"], now=T0 + 100)
    assert await store.story_texts(feed_id, ["b", "zz", "a"]) == {
        "a": ("Title a", "Text of a."),
        "b": ("Title b", "Text of b."),
    }
    assert await store.story_texts(feed_id, []) == {}
    await mark(store)  # replay ignores what detection decided
    assert await store.replay_count(T0) == 5
    assert await store.replay_count(T0 + 50) == 3
    first = await store.replay_page(T0 + 50, 0, 2)
    assert [s.title for s in first] == ["Title c", "Title d"]
    assert all(s.detected_rev is None and s.old_title is None for s in first)
    assert first[0].first_seen_at == T0 + 100 and first[0].feed_name == "F0"
    rest = await store.replay_page(T0 + 50, first[-1].id, 2)
    assert [s.title for s in rest] == ["Title e"]
    assert await store.replay_page(T0 + 50, rest[-1].id, 2) == []


async def test_the_detection_log_keeps_batches_in_order_and_goes_with_its_stories(
    store: Store,
) -> None:
    from monitor.models import DetectionStep

    feed_id = await stored(store, ["a", "b"], now=T0)
    await stored(store, ["c"], now=T0 + 100)
    async with store.detection() as tx:
        a, b, c = await tx.pending(10)
        await tx.log_detected(
            T0 + 1, [DetectionStep(b.id, 1, "new", False, 5.0), DetectionStep(a.id, 1, "new", True, None)],
            "start",
        )  # fmt: skip
    async with store.detection() as tx:
        await tx.log_detected(T0 + 101, [DetectionStep(c.id, 1, "new", False, None)], None)
        await tx.log_detected(T0 + 102, [DetectionStep(a.id, 2, "revision", False, 6.0)], None)
    steps = await store.detection_steps(0.0, 0, 100)
    assert [(s.story_id, s.revision, s.kind, s.full_text, s.published, s.at) for s in steps] == [
        (b.id, 1, "new", False, 5.0, T0 + 1), (a.id, 1, "new", True, None, T0 + 1),
        (c.id, 1, "new", False, None, T0 + 101), (a.id, 2, "revision", False, 6.0, T0 + 102),
    ]  # fmt: skip
    assert [s.seq for s in steps] == sorted({s.seq for s in steps})
    batches = [s.batch for s in steps]
    assert batches[0] == batches[1] < batches[2] < batches[3]  # one number per transaction
    assert [s.rebuilt for s in steps] == ["start", None, None, None]
    # paged by seq, and only the stories first seen since
    assert await store.detection_steps(0.0, steps[1].seq, 1) == [steps[2]]
    assert [s.story_id for s in await store.detection_steps(T0 + 50, 0, 100)] == [c.id]
    # a failed transaction logs nothing
    with pytest.raises(RuntimeError):
        async with store.detection() as tx:
            await tx.log_detected(T0 + 200, [DetectionStep(c.id, 1, "skipped", False, None)], None)
            raise RuntimeError("boom")
    assert len(await store.detection_steps(0.0, 0, 100)) == 4
    # the earlier revisions' texts
    changed = (entry("a", title="Title a (updated)", summary="More.", h="h2"), None)
    await store.ingest(feed_id, ok(T0 + 300), [], [changed], 0, T0 + 200)
    assert await store.revision_texts([a.id, b.id]) == {(a.id, 1): ("Title a", "Text of a.")}
    # a pruned story takes its log with it
    await prune(
        store,
        T0 + 50,
        RetentionConfig(stories=10.0, revisions=None, attempts=None, tombstones=None),
    )
    assert [s.story_id for s in await store.detection_steps(0.0, 0, 100)] == [c.id]


async def test_a_change_that_does_not_matter_is_stored_in_place(
    store: Store, backend: StorageConfig
) -> None:
    feed_id = await stored(store, ["a"])
    await mark(store)
    restamped = (
        entry("a", title="Title a", summary="Text of a. Updated 14:30.", h="h2"),
        RevisionDiff(None, (), (), False),
    )
    res = await store.ingest(feed_id, ok(T0 + 200), [], [restamped], 0, T0 + 100)
    assert (res.updated, res.unchanged) == (0, 1)
    assert await store.known_hashes(feed_id, ["a"]) == {"a": "h2"}
    assert await store.story_texts(feed_id, ["a"]) == {
        "a": ("Title a", "Text of a. Updated 14:30.")
    }
    assert await store.pending_count() == 0  # no revision: nothing for detection
    assert await raw(backend, "SELECT COUNT(*) FROM story_revisions") == [(0,)]
    assert await raw(backend, "SELECT revision, updated_at FROM stories") == [(1, None)]
    diff = RevisionDiff(None, ("Peskov added more.",), (), True)
    appended = (entry("a", title="Title a", summary="Text of a. Peskov added more.", h="h3"), diff)
    res = await store.ingest(feed_id, ok(T0 + 300), [], [appended], 0, T0 + 200)
    assert (res.updated, res.unchanged) == (1, 0)
    assert await raw(backend, "SELECT revision, updated_at FROM stories") == [(2, T0 + 200)]
    [(rev, title, summary, content_hash, seen_at, stored_diff)] = await raw(
        backend, "SELECT revision, title, summary, content_hash, seen_at, diff FROM story_revisions"
    )
    assert (rev, title, summary, content_hash, seen_at) == (
        1, "Title a", "Text of a. Updated 14:30.", "h2", T0 + 200,
    )  # fmt: skip
    assert json.loads(stored_diff) == diff.to_dict()
    assert await store.pending_count() == 1
    # an unchanged hash is no update at all; a revision without a diff stores none
    same = (entry("a", title="Title a", summary="Text of a. Peskov added more.", h="h3"), diff)
    assert (await store.ingest(feed_id, ok(T0 + 400), [], [same], 0, T0 + 300)).updated == 0
    plain = (entry("a", title="Title a, again", h="h4"), None)
    assert (await store.ingest(feed_id, ok(T0 + 500), [], [plain], 0, T0 + 400)).updated == 1
    assert await raw(backend, "SELECT revision, diff FROM story_revisions ORDER BY revision") == [
        (1, stored_diff), (2, None)
    ]  # fmt: skip


async def test_prune_takes_a_storys_bands_and_development_rows_along(
    store: Store, backend: StorageConfig
) -> None:
    feed_id = await stored(store, ["old"], now=T0)
    await store.ingest(feed_id, ok(T0 + 5100), [entry("new", title="Title new")], [], 0, T0 + 5000)
    async with store.detection() as tx:
        old, new = await tx.pending(10)
        await tx.mark_detected(old, canonical_url="u", duplicate_of=None, duplicate_by=None,
                               bands=(1, 2))  # fmt: skip
        await tx.mark_detected(new, canonical_url="u", duplicate_of=old.id, duplicate_by="url",
                               bands=(2,))  # fmt: skip
        await tx.save_development(development("t1:1", old.id, T0))
        await tx.add_development_story(dev_story("t1:1", old.id, "wire.example"), T0)
        await tx.add_development_story(dev_story("t1:1", new.id, "daily.example"), T0 + 5000)
        await tx.add_matches(old.id, [KYIV], T0)
        await tx.add_alerts(old.id, [AlertDraft("t1", "ops", "development.new", {})], T0)
    retention = RetentionConfig(
        stories=1000.0, revisions=None, attempts=None, tombstones=None, batch=10
    )
    counts = await prune(store, T0 + 5100, retention)
    assert counts["stories"] == 1
    assert await raw(backend, "SELECT story_id FROM story_bands") == [(new.id,)]
    assert await raw(backend, "SELECT story_id FROM development_stories") == [(new.id,)]
    assert await raw(backend, "SELECT id FROM developments") == [("t1:1",)]
    assert await raw(backend, "SELECT story_id FROM alerts") == [(None,)]  # the alert stays
    assert await raw(backend, "SELECT COUNT(*) FROM story_topics") == [(0,)]
    async with store.detection() as tx:
        assert [s.id for s in await tx.near_candidates([1, 2], 0.0, new.id + 1)] == [new.id]
    _, rows = await store.development_history(0.0)
    assert [r.story.id for r in rows] == [new.id]


async def test_one_detection_at_a_time(make_store: Callable[[], Any]) -> None:
    """Two stores (two instances): the second detection transaction waits for the first and
    then sees what it decided."""
    one: Store = await make_store()
    two: Store = await make_store()
    await stored(one, ["a"])
    entered = asyncio.Event()
    seen: list[int] = []

    async def second() -> None:
        async with two.detection() as tx:
            entered.set()
            seen.extend(s.id for s in await tx.pending(10))

    async with one.detection() as tx:
        [a] = await tx.pending(10)
        task = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not entered.is_set()
        await tx.mark_detected(a, canonical_url=None, duplicate_of=None, duplicate_by=None,
                               bands=())  # fmt: skip
    await asyncio.wait_for(task, 10)
    assert entered.is_set() and seen == []


async def test_postgres_prune_skips_stories_being_detected(pg_url: str) -> None:
    """PostgreSQL: a prune running while a detection transaction holds stories leaves them
    (they are pruned by a later run), rather than deleting what is being decided."""
    backend = storage(pg_url)
    one, two = store_for(backend), store_for(backend)
    await one.open()
    await two.open()
    try:
        await stored(one, ["a", "b"])
        retention = RetentionConfig(
            stories=10.0, revisions=None, attempts=None, tombstones=None, batch=10
        )
        async with one.detection() as tx:
            [a] = await tx.pending(1)  # locks a only
            counts = await asyncio.wait_for(prune(two, T0 + 100, retention), 10)
            assert counts["stories"] == 1
            await tx.mark_detected(a, canonical_url="u", duplicate_of=None, duplicate_by=None,
                                   bands=(5,))  # fmt: skip
            await tx.add_alerts(a.id, [AlertDraft("t1", "ops", "development.new", {})], T0)
        assert await raw(backend, "SELECT COUNT(*) FROM story_bands") == [(1,)]
        assert (await prune(two, T0 + 100, retention))["stories"] == 1
        assert await raw(backend, "SELECT COUNT(*) FROM story_bands") == [(0,)]
    finally:
        await one.close()
        await two.close()


# -- the two schemas -----------------------------------------------------------------------


def test_the_migration_lists_are_aligned() -> None:
    """A migration added to one backend is added to the other under the same number."""
    assert len(PG_MIGRATIONS) == len(MIGRATIONS)


async def test_the_schemas_have_the_same_tables_and_columns(pg_url: str, tmp_path: Path) -> None:
    import asyncpg

    lite = SQLiteStore(tmp_path / "s.db")
    await lite.open()
    await lite.close()
    con = sqlite3.connect(tmp_path / "s.db")
    tables = [
        r[0]
        for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if r[0] not in SQLITE_ONLY_TABLES and not r[0].startswith("sqlite_")
    ]
    sqlite_cols = {t: {r[1] for r in con.execute(f"PRAGMA table_info({t})")} for t in tables}
    con.close()
    pg = store_for(storage(pg_url))
    await pg.open()
    await pg.close()
    pcon = await asyncpg.connect(pg_url)
    try:
        rows = await pcon.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name <> 'monitor_schema'"
        )
    finally:
        await pcon.close()
    pg_cols: dict[str, set[str]] = {}
    for r in rows:
        pg_cols.setdefault(r["table_name"], set()).add(r["column_name"])
    for table, only in PG_ONLY_COLUMNS.items():
        pg_cols[table] -= set(only)
    assert pg_cols == sqlite_cols


async def test_a_store_at_schema_12_upgrades_and_its_earlier_matches_read_as_unknown(
    backend: StorageConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 13 gives a topic's match its basis and strength: a store made at schema 12
    (with a match in it) upgrades on open; the match it had reads as unknown (null), the
    matches stored from then on as detection decided them (and a match stored before stays
    as it was)."""
    import aiosqlite

    import monitor.store.postgres as pg_store
    import monitor.store.sqlite as sqlite_store
    from monitor.reads.readers import PostgresReader, SQLiteReader
    from monitor.reads.topics import timeline

    with monkeypatch.context() as at_12:
        at_12.setattr(sqlite_store, "MIGRATIONS", MIGRATIONS[:12])
        at_12.setattr(pg_store, "PG_MIGRATIONS", PG_MIGRATIONS[:12])
        old = store_for(backend)
        await old.open()
        await stored(old, ["a", "b"])
        await old.close()
    version = "PRAGMA user_version" if backend.path else "SELECT version FROM monitor_schema"
    assert await raw(backend, version) == [(12,)]
    await raw(
        backend,
        "INSERT INTO story_topics (story_id, topic_id, terms, matched_at) "
        f"SELECT id, 't1', '[\"kyiv\"]', {T0} FROM stories WHERE link LIKE '%/a'",
    )
    store = store_for(backend)
    await store.open()
    try:
        assert await raw(backend, version) == [(len(MIGRATIONS),)] == [(13,)]
        async with store.detection() as tx:
            a, b = sorted(await tx.pending(10), key=lambda s: s.link or "")
            weak = MatchRow("t1", ("kyiv",), "query", "weak")
            await tx.add_matches(a.id, [weak], T0 + 5)  # matched before: kept as it was
            await tx.add_matches(b.id, [weak], T0 + 5)
        if backend.path is not None:
            db = await aiosqlite.connect(backend.path)
            page = await timeline(SQLiteReader(db), "t1")
            await db.close()
        else:
            assert isinstance(store, pg_store.PostgresStore)
            page = await timeline(PostgresReader(store), "t1")
        matches = {it["title"]: (it["matched_terms"], it["match"]) for it in page.items}
        assert matches == {
            "Title a": (["kyiv"], {"basis": None, "strength": None}),
            "Title b": (["kyiv"], {"basis": "query", "strength": "weak"}),
        }
    finally:
        await store.close()


async def test_two_instances_migrating_at_once(pg_url: str) -> None:
    stores = [store_for(storage(pg_url)) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))  # the advisory lock: one migrates
    try:
        assert all([await s.ping() for s in stores])
    finally:
        for s in stores:
            await s.close()


def test_the_url_password_is_never_shown(tmp_path: Path) -> None:
    from monitor.config import load

    (tmp_path / "db.url").write_text("postgresql://mon:s3cret@db.internal:5432/monitor\n")
    path = tmp_path / "monitor.toml"
    path.write_text('[storage]\nurl_file = "db.url"\n', encoding="utf-8")
    cfg = load(path)
    assert cfg.storage.backend == "postgresql" and cfg.storage.path is None
    assert cfg.storage.url.endswith("@db.internal:5432/monitor")
    assert cfg.storage.display == "postgresql://mon:***@db.internal:5432/monitor"
    assert "s3cret" not in repr(cfg) and "s3cret" not in repr(store_for(cfg.storage))


async def test_an_unreachable_server_is_a_store_error(pg_cluster: Any) -> None:
    from monitor.store import StoreError

    url = f"postgresql://u:pw@127.0.0.1:{pg_cluster.port + 1}/x"
    s = store_for(storage(url))
    with pytest.raises(StoreError) as err:
        await s.open()
    assert "u:pw@" not in str(err.value) and "u:***@" in str(err.value)


async def test_full_text_queue_texts_and_late_ones(store: Store, backend: StorageConfig) -> None:
    await store.sync_feeds([replace(FEEDS[0], full_text=True)], 100.0, T0)
    [feed] = await store.active_feeds()
    assert feed.full_text
    new = [entry(k) for k in ("a", "b", "c")]
    await store.ingest(feed.id, ok(T0 + 100), new, [], 0, T0, full_text=True)
    async with store.detection() as tx:  # held while their pages are awaited
        assert await tx.pending(10, hold_since=T0 - 1) == []
        assert len(await tx.pending(10, hold_since=T0)) == 3  # waited long enough
    assert await store.next_text_due() == T0
    claimed = await store.claim_texts(T0, 2, 60.0)
    assert [(link, attempts) for _, _, link, attempts in claimed] == [
        ("https://example.org/a", 0), ("https://example.org/b", 0)
    ]  # fmt: skip
    assert len(await store.claim_texts(T0 + 1, 10, 60.0)) == 1  # a and b are leased
    (a, _, _, _), (b, _, _, _) = claimed
    await store.record_text(a, "ok", "The whole article.", None, T0 + 2)
    await store.record_text(b, "pending", None, "HTTP 503", T0 + 2, retry_at=T0 + 500)
    async with store.detection() as tx:
        [story] = await tx.pending(10, hold_since=T0 - 1)
        assert (story.id, story.text, story.text_state) == (a, "The whole article.", "ok")
        await tx.mark_detected(
            story, canonical_url=None, duplicate_of=None, duplicate_by=None, bands=()
        )
    async with store.detection() as tx:  # b and c waited past their hold: read as they are
        [story_b, story_c] = await tx.pending(10, hold_since=T0 + 1)
        for s in (story_b, story_c):
            await tx.mark_detected(
                s, canonical_url=None, duplicate_of=None, duplicate_by=None, bands=()
            )
    await store.record_text(b, "ok", "B's article, after it was detected.", None, T0 + 600)
    await store.record_text(b, "ok", "twice", None, T0 + 601)  # only a pending one is recorded
    async with store.detection() as tx:  # a text after detection: the story is read again
        [late] = await tx.pending(10)
        assert (late.id, late.text_state, late.detected_rev) == (b, "late", 1)
        assert late.text == "B's article, after it was detected."
        await tx.mark_detected(late, canonical_url=None, duplicate_of=None, duplicate_by=None,
                               bands=())  # fmt: skip
    await store.record_text(story_c.id, "not_article", None, "paywall", T0 + 700)
    rows = dict(await raw(backend, "SELECT key, text_state FROM stories"))
    assert rows == {"a": "ok", "b": "ok", "c": "not_article"}
    [report] = await store.feed_report()
    assert (report["texts_ok"], report["texts_not_article"], report["texts_failed"]) == (2, 1, 0)
    assert report["last_text_error"] == "paywall"


async def test_instances_on_one_postgresql_share_their_developments(
    pg_url: str, tmp_path: Path
) -> None:
    """Two instances, each with its own trackers in memory: a follow-up detected by the second
    joins the development the first opened (it catches up under the detection lock)."""
    from monitor.clock import FixedClock
    from monitor.config import load
    from monitor.detect.detection import Detection
    from monitor.logs import get
    from monitor.topics.compiled import Settings

    path = tmp_path / "m.toml"
    path.write_text(
        f'[storage]\nurl = "{pg_url}"\n[[topics]]\nid = "t1"\nquery = \'Pentagon OR Hegseth\'\n'
    )
    cfg = load(path)
    one, two = store_for(cfg.storage), store_for(cfg.storage)
    await one.open()
    await two.open()
    try:
        clock = FixedClock(datetime.fromtimestamp(T0, UTC))
        settings = Settings.of(cfg)
        first = Detection(one, clock, get("t"), settings)
        second = Detection(two, clock, get("t"), settings)
        await first.load()
        await second.load()  # before the first decided anything
        await one.sync_feeds(FEEDS[:2], 100.0, T0)
        f0, f1 = await one.active_feeds()
        body = ("Pentagon planners met Hegseth in Brussels on Tuesday to prepare joint drills "
                "with Poland and Romania involving 4,000 troops from nine countries.")  # fmt: skip
        opening = entry("a", title="Pentagon plans drills with Poland", summary=body)
        await one.ingest(f0.id, ok(T0 + 100), [opening], [], 0, T0)
        assert (await first.process()).developments == 1
        follow = entry(
            "b",
            title="Hegseth: Poland drills to start in March",
            summary=body + " Germany sends two Patriot batteries.",
        )
        await two.ingest(f1.id, ok(T0 + 100), [follow], [], 0, T0 + 10)
        outcome = await second.process()
        assert (outcome.stories, outcome.developments) == (1, 0)
        [(n,)] = await raw(storage(pg_url), "SELECT stories FROM developments")
        assert n == 2
    finally:
        await one.close()
        await two.close()


async def test_the_store_keeps_feedback_past_its_story_and_counts_changes(
    store: Store,
) -> None:
    await store.sync_feeds(FEEDS[:1], 100.0, T0)
    [feed] = await store.active_feeds()
    await alerted(store, feed.id, ["old"], T0)
    await alerted(store, feed.id, ["new"], T0 + 5000)
    old, new = sorted(r["story_id"] for r in await store.alert_log(limit=10))
    assert await store.feedback_version() == (0, 0)
    first = await store.add_feedback("t1", old, "not_relevant", T0 + 10)
    assert first is not None and (first.title, first.text) == ("Kyiv troops", "text")
    assert await store.add_feedback("t1", 999_999, "relevant", T0) is None
    second = await store.add_feedback("t2", new, "relevant", T0 + 20, alert_id="msg_x")
    assert second is not None and second.alert_id == "msg_x"
    assert await store.feedback_version() == (2, second.id)
    again = await store.add_feedback("t1", old, "relevant", T0 + 30)  # replaces the first
    assert again is not None and again.id > second.id
    assert [(f.topic_id, f.verdict) for f in await store.feedback()] == [
        ("t2", "relevant"),
        ("t1", "relevant"),
    ]
    assert [f.id for f in await store.feedback("t1")] == [again.id]
    assert await store.delete_feedback("t2", again.id) is None  # another topic's
    assert await store.delete_feedback("t2", second.id) == second
    assert await store.feedback_version() == (1, again.id)
    # the story pruned: the verdict stays, with its text, and still applies
    retention = RetentionConfig(stories=1000.0, revisions=1000.0, attempts=1000.0, batch=10)
    assert (await prune(store, T0 + 5100, retention))["stories"] == 1
    [kept] = await store.feedback("t1")
    assert kept.story_id is None and (kept.title, kept.text) == ("Kyiv troops", "text")
    assert len(FeedbackSet.build([kept])) == 1
