"""Duplicates, revisions and developments through the real service: feed documents served on
127.0.0.1, a real SQLite store, a webhook receiver, an injected clock."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor import logs
from monitor.clock import FixedClock
from monitor.config import load
from monitor.service.core import Service
from monitor.service.daemon import open_service
from tests.conftest import FeedServer, Receiver, rss

T0 = datetime.now(UTC).replace(microsecond=0)
QUERY = "Ukraine OR Kyiv"

WIRE = (
    "The Pentagon has begun planning joint air-defence exercises with Ukraine for the spring "
    "of 2027, defence secretary Pete Hegseth said on Tuesday. The drills would take place in "
    "Poland and Romania and involve about 4,000 troops from nine countries, he told reporters "
    "in Brussels after a meeting of the Ukraine Defense Contact Group. Kyiv welcomed the plan "
    "as a first step towards the security guarantees promised by its allies."
)
PENTAGON = {
    "guid": "a1",
    "title": "Pentagon begins planning exercises with Ukraine",
    "link": "https://wire.example/world/pentagon-exercises-ukraine?utm_source=rss",
    "description": "WASHINGTON (Wire) - " + WIRE,
    "pubDate": "Thu, 26 Nov 2026 09:00:00 GMT",
}
PENTAGON_COPY = {  # the wire story reprinted: another URL, dateline and credit line
    "guid": "b7",
    "title": "US plans air-defence drills with Ukraine, Hegseth says",
    "link": "https://daily.example/news/2026/11/26/us-drills-ukraine",
    "description": WIRE + " (Reporting by Wire staff; editing by Jane Doe)",
    "pubDate": "Thu, 26 Nov 2026 10:30:00 GMT",
}
PENTAGON_SAME_URL = {  # the wire's own URL carried by a third feed with other tracking tags
    "guid": "c3",
    "title": "Pentagon plans exercises with Ukraine",
    "link": "https://WIRE.example/world/pentagon-exercises-ukraine?utm_medium=social#top",
    "description": "Hegseth announces joint drills with Ukraine.",
    "pubDate": "Thu, 26 Nov 2026 11:00:00 GMT",
}
PENTAGON_FOLLOWUP = {  # the same event, a day on, with news of its own
    "guid": "b9",
    "title": "Hegseth: Ukraine exercises in Poland to start in March 2027",
    "link": "https://daily.example/news/2026/11/27/hegseth-ukraine-exercises-march",
    "description": (
        "The joint air-defence exercises with Ukraine that Pete Hegseth announced in Brussels "
        "will start in March 2027 in Poland, the Pentagon said. Germany has offered two Patriot "
        "batteries for the drills. Romania will host a second phase in May with 1,200 troops."
    ),
    "pubDate": "Fri, 27 Nov 2026 08:00:00 GMT",
}
RUSSIA = {  # another event of the topic
    "guid": "a2",
    "title": "Russia rules out NATO troops in Ukraine",
    "link": "https://wire.example/world/russia-rules-out-nato-troops",
    "description": (
        "Moscow will never accept troops from NATO countries on Ukrainian soil as part of any "
        "settlement, Kremlin spokesman Dmitry Peskov said on Wednesday, rejecting a British "
        "proposal for a reassurance force of up to 10,000 soldiers."
    ),
    "pubDate": "Thu, 26 Nov 2026 12:00:00 GMT",
}
WEATHER = {
    "guid": "a3",
    "title": "Storm brings snow to the Alps",
    "link": "https://wire.example/weather/alps-snow",
    "description": "Heavy snow closed passes in Switzerland and Austria on Thursday.",
}


@asynccontextmanager
async def service_for(config: Path, clock: FixedClock) -> AsyncIterator[Service]:
    logs.configure("debug", stream=io.StringIO(), json=True)
    async with open_service(load(config), clock, logs.get("monitor")) as service:
        yield service


def rows(config: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(config.parent / "var" / "monitor.db") as db:
        return list(db.execute(sql, args))


def alerts(config: Path) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (event, title, json.loads(data))
        for event, title, data in rows(
            config,
            "SELECT event, json_extract(data, '$.story.title'), data FROM alerts ORDER BY rowid",
        )
    ]


async def test_a_wire_story_in_two_feeds_is_one_story_with_one_duplicate_link(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    wire = feed_server.set("wire.xml", rss([PENTAGON, WEATHER]))
    daily = feed_server.set("daily.xml", rss([]))
    third = feed_server.set("third.xml", rss([]))
    config = config_factory([wire, daily, third], receiver.url, query=QUERY)
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        feed_server.set("daily.xml", rss([PENTAGON_COPY]))
        feed_server.set("third.xml", rss([PENTAGON_SAME_URL]))
        clock.advance(3600)
        await service.poll_all()
        status = await service.status()
    stories = dict(rows(config, "SELECT title, duplicate_of FROM stories"))
    original = rows(config, "SELECT id FROM stories WHERE title = ?", PENTAGON["title"])[0][0]
    by = dict(rows(config, "SELECT title, duplicate_by FROM stories"))
    assert stories[PENTAGON_COPY["title"]] == original and by[PENTAGON_COPY["title"]] == "text"
    assert stories[PENTAGON_SAME_URL["title"]] == original
    assert by[PENTAGON_SAME_URL["title"]] == "url"
    assert stories[PENTAGON["title"]] is None and stories[WEATHER["title"]] is None
    canonical = rows(config, "SELECT canonical_url FROM stories WHERE id = ?", original)[0][0]
    assert canonical == "https://wire.example/world/pentagon-exercises-ukraine"
    # every copy is stored, only the first alerts; the copies joined its development
    assert [(e, t) for e, t, _ in alerts(config)] == [("development.new", PENTAGON["title"])]
    [(n,)] = rows(config, "SELECT stories FROM developments")
    assert n == 3
    assert status["detection"]["duplicates"] == 2 and status["detection"]["pending"] == 0
    [topic] = status["topics"]
    assert topic["developments"] == 1


async def test_a_second_report_joins_the_development_and_another_event_opens_one(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    wire = feed_server.set("wire.xml", rss([PENTAGON, RUSSIA]))
    config = config_factory([wire], receiver.url, query=QUERY, evidence="incident")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        feed_server.set("wire.xml", rss([PENTAGON, RUSSIA, PENTAGON_FOLLOWUP]))
        clock.advance(86400)
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 3
    got = alerts(config)
    assert [(e, t) for e, t, _ in got] == [
        ("development.new", PENTAGON["title"]),
        ("development.new", RUSSIA["title"]),
        ("development.update", PENTAGON_FOLLOWUP["title"]),
    ]
    new, _, update = (d for _, _, d in got)
    assert new["development"]["id"] == update["development"]["id"]
    assert update["development"]["stories"] == 2
    assert update["development"]["headline"] == PENTAGON["title"]
    # what is new: exactly the follow-up's sentences the first report did not cover (its
    # headline and first sentence mostly repeat it)
    assert update["what_is_new"] == [
        "Germany has offered two Patriot batteries for the drills.",
        "Romania will host a second phase in May with 1,200 troops.",
    ]
    assert new["what_is_new"][0] == PENTAGON["title"]
    assert set(new["match"]["terms"]) == {"Ukraine"} or "Kyiv" in new["match"]["terms"]
    delivered = [r["json"]["type"] for r in receiver.delivered()]
    assert sorted(delivered) == ["development.new", "development.new", "development.update"]


async def test_the_site_name_a_feed_adds_to_every_headline_is_not_news(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    site = " - Wire Online Kyiv, Ukraine News, Weather & Sports"
    first, second = (
        dict(PENTAGON, title=PENTAGON["title"] + site),
        dict(RUSSIA, title=RUSSIA["title"] + site),
    )
    wire = feed_server.set("wire.xml", rss([first, second]))
    config = config_factory([wire], receiver.url, query=QUERY, evidence="incident")
    async with service_for(config, FixedClock(T0)) as service:
        await service.poll_all()
    got = alerts(config)
    assert [(e, t) for e, t, _ in got] == [
        ("development.new", first["title"]),  # the story as published
        ("development.new", second["title"]),
    ]
    # the feed's first headline cannot tell its site name from news; the second one can
    assert got[0][2]["what_is_new"][0] == first["title"]
    assert got[1][2]["what_is_new"][0] == RUSSIA["title"]


@pytest.mark.parametrize(
    ("wait", "batch", "opened_by"),
    [('"2m"', 200, PENTAGON), ('"2m"', 1, PENTAGON), ("0", 200, PENTAGON_FOLLOWUP)],
    ids=["wait", "wait-batch-of-one", "no-wait"],
)
async def test_first_polls_are_detected_together_in_the_order_stories_happened(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    wait: str,
    batch: int,
    opened_by: dict[str, str],
) -> None:
    """A fresh start: the feed with the older report answers last. Detection waits for every
    first poll, so the development opens with the report, and the follow-up is its update;
    without the wait, whichever feed answered first would open it. The backlogs go in as
    one transaction, sorted by time, even where `batch` is smaller."""
    slow = feed_server.set("wire.xml", rss([PENTAGON]), delay=0.5)
    fast = feed_server.set("daily.xml", rss([PENTAGON_FOLLOWUP]))
    extra = f"[detection]\nfirst_poll_wait = {wait}\nbatch = {batch}\n"
    config = config_factory(
        [slow, fast], receiver.url, query=QUERY, evidence="incident", extra=extra
    )
    async with service_for(config, FixedClock(T0)) as service:
        outcomes = await service.poll_all()
    assert sum(o.ingest.alerts for o in outcomes) == 2
    got = alerts(config)
    assert got[0][:2] == ("development.new", opened_by["title"])
    if opened_by is PENTAGON:
        assert [e for e, _, _ in got] == ["development.new", "development.update"]
        assert got[1][2]["development"]["headline"] == PENTAGON["title"]


async def test_a_reprint_stored_before_its_wire_story_is_still_its_copy(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    """In the first round the reprint's feed answers first (its story gets the lower id), but
    detection takes the wire story first, as it happened: the reprint is its copy, one alert."""
    slow = feed_server.set("wire.xml", rss([PENTAGON]), delay=0.5)
    fast = feed_server.set("daily.xml", rss([PENTAGON_COPY]))
    config = config_factory([slow, fast], receiver.url, query=QUERY, evidence="incident")
    async with service_for(config, FixedClock(T0)) as service:
        await service.poll_all()
    stored = {
        title: (sid, dup)
        for sid, title, dup in rows(config, "SELECT id, title, duplicate_of FROM stories")
    }
    (copy_id, copy_of), (wire_id, wire_of) = (
        stored[PENTAGON_COPY["title"]],
        stored[PENTAGON["title"]],
    )
    assert copy_id < wire_id and copy_of == wire_id and wire_of is None
    assert [(e, t) for e, t, _ in alerts(config)] == [("development.new", PENTAGON["title"])]


async def test_a_feed_that_keeps_the_first_round_waiting_is_not_waited_for_long(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    slow = feed_server.set("wire.xml", rss([RUSSIA]), delay=1.5)
    fast = feed_server.set("daily.xml", rss([PENTAGON]))
    extra = '[detection]\nfirst_poll_wait = "2m"\n'
    config = config_factory(
        [slow, fast], receiver.url, query=QUERY, evidence="incident", extra=extra
    )
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        polls = asyncio.create_task(service.poll_all())
        for _ in range(100):  # until the fast feed's story is stored (bounded: 5 s)
            if (await service.status())["stories"]:
                break
            await asyncio.sleep(0.05)
        status = await service.status()
        assert status["stories"] == 1 and status["detection"]["awaiting_first_polls"] == 1
        assert status["detection"]["pending"] == 1 and alerts(config) == []
        clock.advance(121)  # the wait is over: what is stored is detected
        assert (await service.poller.detection.process()).alerts == 1
        assert (await service.status())["detection"]["awaiting_first_polls"] == 0
        await polls  # the slow feed's story, detected as it comes
    assert [t for _, t, _ in alerts(config)] == [PENTAGON["title"], RUSSIA["title"]]


async def test_update_alerts_keep_to_their_rate_limit(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    second = {
        **PENTAGON_FOLLOWUP,
        "guid": "b10",
        "title": "Hegseth says 800 US soldiers will join Ukraine drills in Poland",
        "link": "https://daily.example/news/2026/11/27/us-soldiers-ukraine-drills",
        "description": (
            "Pete Hegseth said 800 US soldiers would join the air-defence exercises with Ukraine "
            "in Poland. Lithuania and Latvia will send observers to the Pentagon-led drills."
        ),
    }
    wire = feed_server.set("wire.xml", rss([PENTAGON]))
    config = config_factory([wire], receiver.url, query=QUERY, evidence="incident")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        feed_server.set("wire.xml", rss([PENTAGON, PENTAGON_FOLLOWUP]))
        clock.advance(600)
        await service.poll_all()
        feed_server.set("wire.xml", rss([PENTAGON, PENTAGON_FOLLOWUP, second]))
        clock.advance(600)  # within the default update_gap (1 h) of the first update
        await service.poll_all()
    events = [e for e, _, _ in alerts(config)]
    assert events == ["development.new", "development.update"]
    assert rows(config, "SELECT stories FROM developments") == [(3,)]


async def test_an_appended_paragraph_is_a_revision_with_its_diff_and_a_date_change_is_not(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    story = {**RUSSIA, "description": RUSSIA["description"] + " Updated 09:00 GMT, 26 November."}
    wire = feed_server.set("wire.xml", rss([story]))
    config = config_factory([wire], receiver.url, query=QUERY, evidence="incident")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        # only the time stamp changes: stored in place, no revision
        restamped = {
            **RUSSIA,
            "description": RUSSIA["description"] + " Updated 14:30 GMT, 26 November.",
        }
        feed_server.set("wire.xml", rss([restamped]))
        clock.advance(600)
        [o] = await service.poll_all()
        assert o.ingest.updated == 0
        assert rows(config, "SELECT revision FROM stories") == [(1,)]
        appended = {
            **restamped,
            "description": restamped["description"]
            + " Peskov added that Moscow would discuss guarantees only with Washington.",
        }
        feed_server.set("wire.xml", rss([appended]))
        clock.advance(600)
        [o] = await service.poll_all()
        assert o.ingest.updated == 1
    assert rows(config, "SELECT revision FROM stories") == [(2,)]
    [(diff,)] = rows(config, "SELECT diff FROM story_revisions")
    assert json.loads(diff)["added"] == [
        "Peskov added that Moscow would discuss guarantees only with Washington."
    ]
    assert json.loads(diff)["removed"] == []


async def test_developments_survive_a_restart_and_stories_left_waiting_are_detected(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    wire = feed_server.set("wire.xml", rss([PENTAGON]))
    config = config_factory([wire], receiver.url, query=QUERY, evidence="incident")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
    # a stop after the story was stored, before detection: it waits in the store
    rows(config, "UPDATE stories SET detected_rev = NULL")
    rows(config, "DELETE FROM alerts")
    rows(config, "DELETE FROM development_stories")
    rows(config, "DELETE FROM developments")
    rows(config, "DELETE FROM story_bands")
    async with service_for(config, clock) as service:  # detected by the daemon's first beat
        assert rows(config, "SELECT COUNT(*) FROM stories WHERE detected_rev IS NULL") == [(1,)]
        await service.poller.detection.process()
        assert rows(config, "SELECT COUNT(*) FROM stories WHERE detected_rev IS NULL") == [(0,)]
    assert [e for e, _, _ in alerts(config)] == ["development.new"]
    async with service_for(config, clock) as service:  # a restart rebuilds the tracker
        feed_server.set("wire.xml", rss([PENTAGON, PENTAGON_FOLLOWUP]))
        clock.advance(86400)
        await service.poll_all()
    assert [e for e, _, _ in alerts(config)] == ["development.new", "development.update"]
    assert rows(config, "SELECT COUNT(*) FROM developments") == [(1,)]


async def test_a_topic_may_alert_on_every_story_instead(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    wire = feed_server.set("wire.xml", rss([PENTAGON, PENTAGON_FOLLOWUP]))
    daily = feed_server.set("daily.xml", rss([]))
    config = config_factory([wire, daily], receiver.url, query=QUERY, alert_on="stories")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        feed_server.set("daily.xml", rss([PENTAGON_COPY]))
        clock.advance(3600)
        await service.poll_all()
    # one per story, none for the duplicate
    assert sorted(t for _, t, _ in alerts(config)) == sorted(
        [PENTAGON["title"], PENTAGON_FOLLOWUP["title"]]
    )
    assert {e for e, _, _ in alerts(config)} == {"story.matched"}


async def test_backtest_replays_the_store_through_a_topic_without_writing(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    wire = feed_server.set("wire.xml", rss([PENTAGON, RUSSIA, WEATHER]))
    daily = feed_server.set("daily.xml", rss([]))
    config = config_factory([wire, daily], receiver.url, query=QUERY, evidence="incident")
    clock = FixedClock(T0)
    async with service_for(config, clock) as service:
        await service.poll_all()
        feed_server.set("daily.xml", rss([PENTAGON_COPY, PENTAGON_FOLLOWUP]))
        clock.advance(86400)
        await service.poll_all()
    before = rows(config, "SELECT COUNT(*) FROM alerts")
    # a narrower query than the one that ran: only stories naming the Pentagon or Hegseth
    text = config.read_text().replace(f"query = '{QUERY}'", "query = 'Pentagon OR Hegseth'")
    config.write_text(text)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "backtest", "--topic", "ukraine-security-guarantees",
        "--config", str(config), "--progress",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    alert_lines = [ln for ln in lines if "development." in ln]
    assert len(alert_lines) == 2
    assert "development.new" in alert_lines[0] and PENTAGON["title"] in alert_lines[0]
    assert "development.update" in alert_lines[1]
    assert PENTAGON_FOLLOWUP["title"] in alert_lines[1]
    assert not any(RUSSIA["title"] in ln for ln in lines)
    assert "5 stories replayed, 3 matched, 1 developments, 2 alerts" in out.decode()
    assert "5/5" in err.decode() and "stories/s" in err.decode()  # the progress bar (tqdm)
    assert rows(config, "SELECT COUNT(*) FROM alerts") == before  # nothing written

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "backtest", "--topic", "nope", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and "no topic 'nope'" in err.decode()


async def test_a_story_that_breaks_detection_is_skipped_and_the_others_are_detected(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    monkeypatch: Any,
) -> None:
    import monitor.detect.detection as detection

    real = detection.match_topics

    def buggy(topics: Any, title: str, text: str, source: str, vector: Any = None) -> Any:
        if "poison" in title:  # a bug one story triggers
            raise ValueError("a bug on this story")
        return real(topics, title, text, source, vector)

    monkeypatch.setattr(detection, "match_topics", buggy)
    poison = {**WEATHER, "guid": "p1", "title": "The poison story from Kyiv",
              "link": "https://wire.example/p"}  # fmt: skip
    wire = feed_server.set("wire.xml", rss([PENTAGON, poison, RUSSIA]))
    config = config_factory([wire], receiver.url, query=QUERY, evidence="incident")
    async with service_for(config, FixedClock(T0)) as service:
        await service.poll_all()
        status = await service.status()
    assert sorted(t for _, t, _ in alerts(config)) == sorted([PENTAGON["title"], RUSSIA["title"]])
    assert rows(config, "SELECT COUNT(*) FROM stories WHERE detected_rev IS NULL") == [(0,)]
    assert "a bug on this story" in status["detection"]["last_error"]
