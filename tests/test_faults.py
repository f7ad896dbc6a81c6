"""Faults: a full disk fails writes cleanly (no partial rows, not ready, resumes when space
returns); a long run on an injected clock keeps memory, file descriptors and tasks flat while
retention keeps the store bounded."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from monitor.clock import FixedClock
from monitor.service.retention import prune
from tests.conftest import FeedServer, Receiver, rss, serve
from tests.test_pipeline import GUARANTEE, T0, events, service_for


def big_items(prefix: str, n: int) -> list[dict[str, str]]:
    return [
        {"guid": f"{prefix}{i}", "title": f"Kyiv troops story {prefix}{i}",
         "description": "Ukraine peacekeepers. " + "Long text. " * 400}
        for i in range(n)
    ]  # fmt: skip


async def test_a_full_disk_fails_cleanly_and_resumes(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    tmp_path: Path,
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    clock = FixedClock(T0)
    config = config_factory([url], receiver.url, alert_on="stories")  # one alert a story
    async with service_for(config, clock) as (service, out):
        await service.poll_all()
        assert await service.ready()
        db = tmp_path / "var" / "monitor.db"
        await service.store.checkpoint("TRUNCATE")
        await service.store.set_max_size(db.stat().st_size + 8192)  # the disk is now full
        feed_server.set("a.xml", rss(big_items("x", 40)))
        [outcome] = await service.poll_all()
        assert outcome.error_kind == "store" and "full" in (outcome.error or ""), outcome
        assert not await service.ready(), "not ready while writes fail"
        status = await service.status()
        assert "full" in status["store_write_failure"]
        [failed] = events(out, "feed.poll_failed")
        assert failed["error_kind"] == "store"
        con = sqlite3.connect(db)
        try:  # nothing partial: the one story and its one alert, as before
            assert con.execute("SELECT COUNT(*) FROM stories").fetchone() == (1,)
            assert con.execute("SELECT COUNT(*) FROM alerts").fetchone() == (1,)
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            con.close()

        await service.store.set_max_size(None)  # space returns
        clock.advance(3600)
        [outcome] = await service.poll_all()
        assert outcome.result == "ok" and outcome.ingest.new == 40 and outcome.ingest.alerts == 40
        assert await service.ready()
        assert (await service.status())["store_write_failure"] is None


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def test_weeks_of_polling_stay_flat_and_bounded(
    receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    """Feeds with churn (each publishes daily; a few are down on any day) polled every 6
    hours of simulated time for weeks, with 7-day retention. MONITOR_SOAK_FEEDS and
    MONITOR_SOAK_WEEKS make it longer (defaults: 150 feeds, 3 weeks)."""
    clock = FixedClock(T0)
    feeds = int(os.environ.get("MONITOR_SOAK_FEEDS", "150"))
    weeks = int(os.environ.get("MONITOR_SOAK_WEEKS", "3"))

    async def handler(request: web.Request) -> web.Response:
        f = int(request.match_info["n"])
        day = int((clock.now() - T0).total_seconds() // 86400)
        if f % 50 == day % 50:  # churn: a few feeds are down on any day
            return web.Response(status=503, text="maintenance")
        n = day * 2 + f % 2
        items = [
            {"guid": f"{f}-{k}", "title": f"Feed {f} item {k} Kyiv troops"}
            for k in range(n, max(-1, n - 10), -1)
        ]
        return web.Response(body=rss(items), content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{n}.xml", handler)
    runner, port = await serve(app)
    try:
        path = config_factory(
            [f"http://127.0.0.1:{port}/{i}.xml" for i in range(feeds)], receiver.url
        )
        text = path.read_text().replace('interval = "1h"', 'interval = "6h"\nadaptive = false')
        text += '\n[retention]\nstories = "7d"\nattempts = "7d"\ntombstones = "14d"\n'
        path.write_text(text.replace("[polling]\n", "[polling]\nconcurrency = 50\n"))
        async with service_for(path, clock) as (service, _out):
            samples = []
            for step in range(weeks * 7 * 4):  # 6-hour steps
                while await service.tick():
                    await asyncio.gather(*list(service.in_flight.values()))
                await service.deliverer.deliver_due()
                if step % 4 == 3:
                    await prune(service.store, clock.now().timestamp(), service.config.retention)
                if step % 28 == 27:  # weekly sample
                    async with service.store.db.execute("SELECT COUNT(*) FROM stories") as c:
                        stories = (await c.fetchone())[0]  # type: ignore[index]
                    samples.append((_rss_kb(), _fds(), len(asyncio.all_tasks()), stories))
                clock.advance(6 * 3600)
        week1, *_, last = samples
        assert last[0] - week1[0] < 30_000, samples  # resident memory: < 30 MB growth
        assert abs(last[1] - week1[1]) <= 3, samples  # open file descriptors
        assert abs(last[2] - week1[2]) <= 2, samples  # asyncio tasks
        assert len(service.poller.hosts) == 0, "no politeness state kept for idle hosts"
        assert last[3] <= week1[3] * 1.25, samples  # retention bounds the store
        assert len(receiver.delivered()) > 0
    finally:
        await runner.cleanup()


async def test_a_read_only_store_fails_cleanly_and_resumes(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    """The store turned read-only under the daemon (as after a remount): polls fail with
    error kind "store", nothing partial is written, readiness drops, and it resumes."""
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    clock = FixedClock(T0)
    async with service_for(config_factory([url], receiver.url), clock) as (service, _out):
        await service.poll_all()
        async with service.store.db.execute("PRAGMA query_only = ON") as cur:
            await cur.fetchall()
        feed_server.set("a.xml", rss(big_items("r", 3)))
        [outcome] = await service.poll_all()
        assert outcome.error_kind == "store" and "readonly" in (outcome.error or "").replace(
            " ", ""
        ), outcome
        assert not await service.ready()
        async with service.store.db.execute("SELECT COUNT(*) FROM stories") as cur:
            assert (await cur.fetchone())[0] == 1  # type: ignore[index]
        async with service.store.db.execute("PRAGMA query_only = OFF") as cur:
            await cur.fetchall()
        assert await service.ready(), "a write probe finds the store writable again"
        clock.advance(3600)
        [outcome] = await service.poll_all()
        assert outcome.ingest.new == 3
