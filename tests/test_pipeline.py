"""The path of a story, in process: real feed server, real webhook receiver, real SQLite
store, an injected clock. Each test drives the service the way the scheduler does."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from monitor import logs
from monitor.clock import FixedClock
from monitor.config import load
from monitor.service.core import Service
from monitor.service.daemon import open_service
from tests.conftest import WEBHOOK_SECRET, FeedServer, Receiver, rss

T0 = datetime.now(UTC).replace(microsecond=0)  # webhook timestamps are checked against real time
GUARANTEE = {
    "guid": "s1",
    "title": "UK offers troops to guard Kyiv skies",
    "link": "http://news.example/s1",
    "description": "Britain says troops would protect Ukraine's ports under security guarantees.",
    "pubDate": "Thu, 26 Nov 2026 09:00:00 GMT",
}
GRAIN = {
    "guid": "s2",
    "title": "Ukraine grain exports rise",
    "link": "http://news.example/s2",
    "description": "Shipments from Odesa grew in November.",
}
RUSSIA = {
    "guid": "s3",
    "title": "Russia rejects foreign troops in Ukraine",
    "link": "http://news.example/s3",
    "description": "Moscow says any peacekeepers from NATO countries are unacceptable.",
}


@asynccontextmanager
async def service_for(
    config: Path, clock: FixedClock
) -> AsyncIterator[tuple[Service, io.StringIO]]:
    out = io.StringIO()
    logs.configure("debug", stream=out, json=True)
    async with open_service(load(config), clock, logs.get("monitor")) as service:
        yield service, out


def events(out: io.StringIO, name: str) -> list[dict[str, Any]]:
    return [e for e in map(json.loads, out.getvalue().splitlines()) if e["event"] == name]


async def test_a_new_matching_story_gives_exactly_one_alert_and_a_second_poll_none(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE, GRAIN]))
    clock = FixedClock(T0)
    async with service_for(config_factory([url], receiver.url), clock) as (service, out):
        [outcome] = await service.poll_all()
        assert (outcome.result, outcome.ingest.new, outcome.ingest.alerts) == ("ok", 2, 1)
        assert await service.deliverer.deliver_due() == 1
        [hook] = receiver.delivered()
        payload = hook["json"]
        assert payload["type"] == "development.new"
        data = payload["data"]
        assert data["development"]["stories"] == 1
        assert data["what_is_new"][0] == GUARANTEE["title"]
        assert data["topic"] == {
            "id": "ukraine-security-guarantees",
            "name": "Ukraine security guarantees",
        }
        assert data["story"]["title"] == GUARANTEE["title"]
        assert data["story"]["link"] == GUARANTEE["link"]
        assert data["story"]["source"] == "Feed 0"
        assert data["story"]["published"] == "2026-11-26T09:00:00Z"
        assert "security guarantees" in data["story"]["summary"]
        assert set(data["matched_terms"]) >= {"Kyiv"}
        # signed per Standard Webhooks: a receiver using the library verifies it
        verified = Webhook(WEBHOOK_SECRET).verify(hook["body"], hook["headers"])
        assert verified["data"]["alert_id"] == hook["headers"]["webhook-id"]

        clock.advance(3600)
        [again] = await service.poll_all()
        assert again.ingest.new == 0 and again.ingest.alerts == 0
        assert await service.deliverer.deliver_due() == 0
        assert len(receiver.received) == 1
        assert len(events(out, "feed.polled")) == 2
        assert len(events(out, "alert.delivered")) == 1


async def test_a_304_is_honoured_and_keeps_validators(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("a.xml", rss([GRAIN]))
    clock = FixedClock(T0)
    async with service_for(config_factory([url], receiver.url), clock) as (service, _out):
        await service.poll_all()
        [second] = await service.poll_all()
        assert second.result == "not_modified" and second.status == 304
        assert feed_server.not_modified == {"/a.xml": 1}
        sent = feed_server.request_headers["/a.xml"][1]
        assert sent["If-None-Match"] and sent["If-Modified-Since"]
        assert "monitor/" in sent["User-Agent"]
        [third] = await service.poll_all()
        assert third.result == "not_modified"
        status = await service.status()
        assert status["feeds"][0]["last_result"] == "not_modified"
        assert status["feeds"][0]["state"] == "ok"


async def test_garbage_and_500_are_recorded_as_failing_while_others_keep_working(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    good = feed_server.set("good.xml", rss([GUARANTEE]))
    garbage = feed_server.set(
        "garbage.xml", b"<html><body>Oops, not a feed</body></html>", content_type="text/html"
    )
    broken = feed_server.set("broken.xml", b"internal error", status=500)
    clock = FixedClock(T0)
    cfg = config_factory([garbage, broken, good], receiver.url)
    async with service_for(cfg, clock) as (service, out):
        for _ in range(3):
            outcomes = {o.url: o for o in await service.poll_all()}
            clock.advance(7200)
        assert outcomes[good].result in ("ok", "not_modified")
        assert (outcomes[garbage].result, outcomes[garbage].error_kind) == ("error", "not_a_feed")
        assert (outcomes[broken].error_kind, outcomes[broken].status) == ("http", 500)
        assert await service.deliverer.deliver_due() == 1
        status = {f["url"]: f for f in (await service.status())["feeds"]}
        assert status[good]["state"] == "ok" and status[good]["stories"] == 1
        for bad, words in ((garbage, "not an RSS or Atom feed"), (broken, "HTTP 500")):
            assert status[bad]["state"] == "failing"
            assert status[bad]["consecutive_errors"] == 3
            assert words in status[bad]["last_error"]["message"]
        failures = events(out, "feed.poll_failed")
        assert {f["feed_url"] for f in failures} == {garbage, broken}
        assert all(f["error"] and f["error_kind"] for f in failures)
        # errors back off exponentially from min(interval, 5 min): 300 s * 2^2 after 3 errors
        rows = {f["url"]: f for f in await service.store.feed_report()}
        waited = rows[broken]["next_poll_at"] - rows[broken]["last_poll_at"]
        assert 1200 * 0.9 <= waited <= 1200 * 1.1


async def test_an_atom_feed_wrapped_in_an_xhtml_page_is_polled_and_stored(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    """The fast reader gives up on the (X)HTML page; the daemon's parse stage lets feedparser
    read the Atom feed inside rather than refuse the document as "not a feed"."""
    body = (Path(__file__).parent / "feeds" / "parse" / "xhtml-wrapped-atom.xml").read_bytes()
    url = feed_server.set("wrapped", body, content_type="application/xhtml+xml")
    async with service_for(config_factory([url], receiver.url), FixedClock(T0)) as (service, _):
        [outcome] = await service.poll_all()
        assert (outcome.result, outcome.error_kind) == ("ok", None), outcome.error
        assert outcome.ingest.new == 2
        [feed] = (await service.status())["feeds"]
        assert feed["state"] == "ok" and feed["stories"] == 2


async def test_a_restart_keeps_stories_and_does_not_alert_them_again(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]), conditional=False)
    cfg = config_factory([url], receiver.url)
    clock = FixedClock(T0)
    async with service_for(cfg, clock) as (service, _out):
        await service.poll_all()
        await service.deliverer.deliver_due()
    feed_server.set("a.xml", rss([RUSSIA, GUARANTEE]), conditional=False)
    clock.advance(3600)
    async with service_for(cfg, clock) as (service, _out):
        assert (await service.status())["stories"] == 1
        [outcome] = await service.poll_all()
        assert (outcome.ingest.new, outcome.ingest.alerts) == (1, 1)
        await service.deliverer.deliver_due()
    titles = [r["json"]["data"]["story"]["title"] for r in receiver.delivered()]
    assert titles == [GUARANTEE["title"], RUSSIA["title"]]
    ids = [r["headers"]["webhook-id"] for r in receiver.delivered()]
    assert len(set(ids)) == 2


async def test_an_updated_story_is_recorded_as_updated_and_not_alerted(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    clock = FixedClock(T0)
    async with service_for(config_factory([url], receiver.url), clock) as (service, _out):
        await service.poll_all()
        changed = {**GUARANTEE, "description": GUARANTEE["description"] + " Talks go on."}
        feed_server.set("a.xml", rss([changed]))
        [outcome] = await service.poll_all()
        assert (outcome.ingest.new, outcome.ingest.updated, outcome.ingest.alerts) == (0, 1, 0)
        async with service.store.db.execute("SELECT revision, summary FROM stories") as cur:
            rev, summary = await cur.fetchone()  # type: ignore[misc]
        assert rev == 2 and summary.endswith("Talks go on.")
        async with service.store.db.execute("SELECT COUNT(*) FROM story_revisions") as cur:
            assert (await cur.fetchone())[0] == 1  # type: ignore[index]


async def test_a_failed_delivery_stays_pending_and_is_retried_under_the_same_id(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    receiver.responses = [(500, {}), (503, {"Retry-After": "30"})]
    clock = FixedClock(T0)
    async with service_for(config_factory([url], receiver.url), clock) as (service, out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 0
        status = await service.status()
        assert status["alerts"]["pending"] == 1
        assert await service.deliverer.deliver_due() == 0, "not due yet: backoff"
        clock.advance(2)
        assert await service.deliverer.deliver_due() == 0  # 503 with Retry-After: 30
        clock.advance(10)
        assert await service.deliverer.deliver_due() == 0, "Retry-After is honoured"
        clock.advance(25)
        assert await service.deliverer.deliver_due() == 1
        ids = {r["headers"]["webhook-id"] for r in receiver.received}
        assert len(receiver.received) == 3 and len(ids) == 1
        bodies = {r["body"] for r in receiver.received}
        assert len(bodies) == 1, "the payload is identical on every retry"
        assert [e["status"] for e in events(out, "alert.retry_scheduled")] == [500, 503]
        assert (await service.status())["alerts"]["delivered"] == 1


async def test_a_permanent_rejection_is_dead_lettered_and_shown(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    receiver.responses = [(410, {})]
    clock = FixedClock(T0)
    async with service_for(config_factory([url], receiver.url), clock) as (service, _out):
        await service.poll_all()
        await service.deliverer.deliver_due()
        alerts = (await service.status())["alerts"]
        assert alerts["dead"] == 1 and alerts["pending"] == 0
        assert "HTTP 410" in alerts["dead_letters"][0]["error"]


async def test_an_unreachable_sink_keeps_the_alert_pending(
    feed_server: FeedServer, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    clock = FixedClock(T0)
    async with service_for(config_factory([url], "http://127.0.0.1:9/hook"), clock) as (
        service,
        out,
    ):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 0
        assert (await service.status())["alerts"]["pending"] == 1
        [retry] = events(out, "alert.retry_scheduled")
        assert "cannot connect" in retry["error"]
