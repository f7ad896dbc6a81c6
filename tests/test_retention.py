"""Retention: old rows are pruned in small batches, a pruned story leaves a tombstone so a
re-listed item is not new again, pending alerts are kept; `monitor vacuum` compacts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from monitor.clock import FixedClock
from monitor.config import RetentionConfig, load
from monitor.service.daemon import retention
from monitor.service.retention import cutoffs
from tests.conftest import FeedServer, Receiver, rss
from tests.test_pipeline import GRAIN, GUARANTEE, RUSSIA, T0, service_for

DAY = 86400.0


async def test_old_stories_are_pruned_to_tombstones_and_not_new_again(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    items = [GUARANTEE, GRAIN] + [
        {"guid": f"x{i}", "title": f"Filler {i}", "description": "Nothing here."} for i in range(7)
    ]
    url = feed_server.set("a.xml", rss(items), conditional=False)
    path = config_factory([url], receiver.url)
    path.write_text(path.read_text() + '\n[retention]\nstories = "30d"\nbatch = 2\n')
    clock = FixedClock(T0)
    async with service_for(path, clock) as (service, out):
        await service.poll_all()
        await service.deliverer.deliver_due()
        changed = {**GRAIN, "description": "Revised text."}
        feed_server.set("a.xml", rss([GUARANTEE, changed, *items[2:]]), conditional=False)
        await service.poll_all()  # a revision of GRAIN
        clock.advance(20 * DAY)
        feed_server.set("a.xml", rss([RUSSIA]), conditional=False)
        await service.poll_all()
        await service.deliverer.deliver_due()
        assert (await service.status())["stories"] == 10

        clock.advance(15 * DAY)  # the first 9 stories are 35 days old, RUSSIA 15
        counts = await retention(service, service.log)
        # the first alert was delivered 35 days ago: past the 30-day default for attempts
        # GUARANTEE's development lost its only story: it goes too (RUSSIA's stays)
        assert counts == {
            "stories": 9, "revisions": 0, "alerts": 1, "tombstones": 0, "developments": 1,
        }  # fmt: skip
        assert (await service.status())["stories"] == 1
        assert (await service.status())["feeds"][0]["stories"] == 1
        assert '"event": "store.pruned"' in out.getvalue()

        # the feed re-lists the pruned items: none is new, none alerts again
        feed_server.set("a.xml", rss(items), conditional=False)
        [outcome] = await service.poll_all()
        assert (outcome.ingest.new, outcome.ingest.alerts) == (0, 0)

        clock.advance(400 * DAY)
        counts = await retention(service, service.log)
        assert counts["stories"] == 1 and counts["tombstones"] == 9
        assert counts["alerts"] == 1 and counts["developments"] == 1
        async with service.store.db.execute("SELECT COUNT(*) FROM story_revisions") as cur:
            assert (await cur.fetchone())[0] == 0  # type: ignore[index]  # went with their story
    assert len(receiver.delivered()) == 2


async def test_pending_and_dead_alerts_are_kept(
    feed_server: FeedServer, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    clock = FixedClock(T0)
    async with service_for(config_factory([url], "http://127.0.0.1:9/hook"), clock) as (
        service,
        _out,
    ):
        await service.poll_all()
        await service.deliverer.deliver_due()
        clock.advance(1000 * DAY)
        service.config = replace(
            service.config, retention=replace(service.config.retention, tombstones=None)
        )
        counts = await retention(service, service.log)
        assert counts is not None and counts["alerts"] == 0 and counts["stories"] == 1
        assert (await service.status())["alerts"]["pending"] == 1


def test_retention_settings_are_validated(tmp_path: Path) -> None:
    from monitor.config import ConfigError

    cfg = tmp_path / "m.toml"
    cfg.write_text('[retention]\nstories = "90d"\ntombstones = "10d"\nrevisions = "never"\n')
    try:
        load(cfg)
    except ConfigError as exc:
        assert [p.key for p in exc.problems] == ["retention.tombstones"]
    else:
        raise AssertionError("a tombstone age shorter than the story age is rejected")
    cfg.write_text('[retention]\nstories = "never"\nrevisions = "never"\n')
    loaded = load(cfg).retention
    assert loaded.stories is None and loaded.revisions is None


def test_vacuum_command(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text('[storage]\nurl = "sqlite:///v.db"\n')
    res = subprocess.run(
        [sys.executable, "-m", "monitor", "vacuum", "--config", str(cfg)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "v.db:" in res.stdout and "bytes" in res.stdout


def test_cutoffs_are_the_ages_before_now_stories_first_and_none_kept_for_ever() -> None:
    ages = RetentionConfig(stories=10.0, revisions=20.0, attempts=None, tombstones=40.0)
    assert cutoffs(1000.0, ages) == [
        ("stories", 990.0),
        ("revisions", 980.0),
        ("developments", 990.0),  # a development goes with its stories, by their age
        ("tombstones", 960.0),
    ]
    assert cutoffs(1000.0, RetentionConfig(None, None, None, None)) == []
