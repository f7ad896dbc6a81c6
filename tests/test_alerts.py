"""Alerts (issue 7), in process: real feed server, real receivers on 127.0.0.1 port 0, a
real SQLite store and an injected clock. Delivery and Standard Webhooks verification, retries,
dead letters and re-queue, rate limits folding into digests, digests on a cron schedule,
feed health alerts, and the chat sinks' payload shapes."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import socket
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from monitor.alerts.outbox import retry_delay
from monitor.alerts.webhook import post
from monitor.cli import main as cli
from monitor.clock import FixedClock
from monitor.config import ConfigError, load
from monitor.cron import next_fire
from tests.conftest import TOPIC_QUERY, WEBHOOK_SECRET, FeedServer, Receiver, rss, serve
from tests.test_pipeline import GRAIN, GUARANTEE, RUSSIA, T0, events, service_for

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "webhook-payload.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())

# A Thursday, 06:30 UTC: digests at 08:00 are 90 minutes away.
MORNING = datetime(2026, 11, 26, 6, 30, tzinfo=UTC)


def story(n: int) -> dict[str, str]:
    return {
        "guid": f"g{n}",
        "title": f"Kyiv talks on security guarantees, round {n}",
        "link": f"http://news.example/g{n}",
        "description": f"Envoys discuss troops for Ukraine, meeting number {n}.",
    }


class Hub:
    """One aiohttp server taking POSTs on any path: records them, answers with the statuses
    queued per path (default 200), and can hang a path until released."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.responses: dict[str, list[int]] = {}
        self.hang: dict[str, asyncio.Event] = {}
        self.event = asyncio.Event()
        self.port = 0
        self.runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        queued = self.responses.get(request.path) or []
        status = queued.pop(0) if queued else 200
        self.received.append(
            {
                "path": request.path,
                "headers": dict(request.headers),
                "body": body,
                "json": doc,
                "status": status,
                "at": time.monotonic(),
            }
        )
        self.event.set()
        gate = self.hang.get(request.path)
        if gate is not None:
            await gate.wait()
        return web.Response(status=status, text="ok")

    def at(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["path"] == path and r["status"] < 300]

    async def wait_for(self, path: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.at(path)) < count and time.monotonic() < deadline:
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), timeout=0.5)
        return self.at(path)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self.handle)
        self.runner, self.port = await serve(app)


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    h = Hub()
    await h.start()
    yield h
    for gate in h.hang.values():
        gate.set()
    if h.runner:
        await h.runner.cleanup()


def write(
    folder: Path,
    feeds: list[str],
    sinks: str,
    topic_extra: str = "",
    extra: str = "",
    topic_sinks: str = '["ops"]',
) -> Path:
    text = (
        textwrap.dedent(f"""\
        [storage]
        url = "sqlite:///var/monitor.db"

        [server]
        enabled = false

        [polling]
        interval = "1h"
        timeout = "5s"
        host_gap = 0

        [delivery]
        backoff_base = "1s"
        backoff_max = "10s"
        timeout = "5s"

        [[topics]]
        id = "ukraine-security-guarantees"
        name = "Ukraine security guarantees"
        query = '{TOPIC_QUERY}'
        sinks = {topic_sinks}
        alert_on = "stories"  # delivery is tested here: one alert per story, whatever its news
        """)
        + textwrap.dedent(topic_extra)
        + "\n"
        + textwrap.dedent(sinks)
        + "\n"
    )
    text += "".join(f'[[feeds]]\nurl = "{u}"\nname = "Feed {i}"\n\n' for i, u in enumerate(feeds))
    text += textwrap.dedent(extra)
    path = folder / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


def webhook_sink(url: str, sink_id: str = "ops", extra: str = "") -> str:
    return f"""
[[sinks]]
id = "{sink_id}"
type = "webhook"
url = "{url}"
secret = "{WEBHOOK_SECRET}"
{extra}
"""


async def run_cli(*args: str) -> tuple[int, str]:
    """`monitor …` in a worker thread (it runs its own event loop), stdout captured."""
    out = io.StringIO()

    def go() -> int:
        with redirect_stdout(out):
            return cli.main(list(args))

    code = await asyncio.to_thread(go)
    return code, out.getvalue()


# -- delivery, signatures, schema -------------------------------------------------------------


async def test_a_webhook_verifies_with_standardwebhooks_and_follows_the_json_schema(
    feed_server: FeedServer, receiver: Receiver, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    cfg = write(tmp_path, [url], webhook_sink(receiver.url))
    async with service_for(cfg, FixedClock(T0)) as (service, _out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 1
    [got] = receiver.received
    payload = Webhook(WEBHOOK_SECRET).verify(got["body"], got["headers"])
    assert payload["data"]["alert_id"] == got["headers"]["webhook-id"]
    VALIDATOR.validate(got["json"])
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(WEBHOOK_SECRET).verify(got["body"].replace(b"UK", b"US"), got["headers"])


def test_the_examples_in_docs_follow_the_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    examples = sorted((ROOT / "docs").glob("webhook-payload*.example.json"))
    assert len(examples) >= 2
    for path in examples:
        VALIDATOR.validate(json.loads(path.read_text()))


async def test_a_refused_connection_is_retried_and_delivered_under_the_same_id(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on (yet)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    cfg = write(tmp_path, [url], webhook_sink(f"http://127.0.0.1:{port}/hook"))
    clock = FixedClock(T0)
    async with service_for(cfg, clock) as (service, out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 0
        [retry] = events(out, "alert.retry_scheduled")
        assert "cannot connect" in retry["error"]
        receiver = Receiver()
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            clock.advance(60)
            assert await service.deliverer.deliver_due() == 1
        finally:
            await runner.cleanup()
    [got] = receiver.received
    assert got["headers"]["webhook-id"] == retry["alert_id"]
    Webhook(WEBHOOK_SECRET).verify(got["body"], got["headers"])


def test_retry_delay_grows_with_equal_jitter_and_honours_retry_after() -> None:
    assert retry_delay(1, 5, 3600, None, rng=lambda: 0.0) == 2.5
    assert retry_delay(1, 5, 3600, None, rng=lambda: 1.0) == 5.0
    assert retry_delay(4, 5, 3600, None, rng=lambda: 1.0) == 40.0
    assert retry_delay(30, 5, 3600, None, rng=lambda: 1.0) == 3600.0
    assert retry_delay(1, 5, 3600, 120.0, rng=lambda: 1.0) == 120.0


async def test_a_sinks_retry_after_is_read_like_a_feeds(receiver: Receiver) -> None:
    """One reading of Retry-After (monitor.reader.httpdates): a receiver's date or seconds is
    honoured, and a value that is neither is ignored rather than failing the delivery."""
    past = "Sun, 06 Nov 1994 08:49:37 GMT"
    receiver.responses = [(429, {"Retry-After": "30"}), (503, {"Retry-After": past}),
                          (503, {"Retry-After": "\u00b2"}), (429, {"Retry-After": "-5"})]  # fmt: skip
    async with aiohttp.ClientSession() as session:
        got = [await post(session, receiver.url, b"{}", {}, 5.0) for _ in range(4)]
    assert [r.status for r in got] == [429, 503, 503, 429]
    assert got[0].retry_after == 30.0
    assert got[1].retry_after == 0.0, "a date in the past: no wait"
    assert got[2].retry_after is None and got[2].retryable, "a superscript digit is not a number"
    assert got[3].retry_after is None


# -- dead letters, re-queue, delivery log -----------------------------------------------------


async def test_a_dead_letter_is_requeued_by_the_cli_and_delivered_under_its_id(
    feed_server: FeedServer, receiver: Receiver, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    cfg = write(tmp_path, [url], webhook_sink(receiver.url))
    receiver.responses = [(410, {})]
    clock = FixedClock(T0)
    async with service_for(cfg, clock) as (service, out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 0
        [dead] = events(out, "alert.dead")
        alert_id = dead["alert_id"]
        status = await service.status()
        assert status["alerts"]["dead"] == 1
        assert status["alerts"]["dead_letters"][0]["id"] == alert_id

        code, text = await run_cli("alerts", "list", "--config", str(cfg), "--state", "dead")
        assert code == 0 and alert_id in text and "HTTP 410" in text
        code, _ = await run_cli("alerts", "retry", "--config", str(cfg), "msg_nope")
        assert code == 1
        code, text = await run_cli("alerts", "retry", "--config", str(cfg), alert_id)
        assert code == 0 and f"re-queued {alert_id}" in text

        clock.advance(600)  # the command stamps the wall clock; the service's clock is fixed
        assert await service.deliverer.deliver_due() == 1
        code, text = await run_cli("alerts", "show", "--config", str(cfg), "--json", alert_id)
        shown = json.loads(text)
        assert shown["state"] == "delivered" and shown["queued_at"]
        assert [a["status"] for a in shown["attempts_log"]] == [410, 204]
        assert all(a["latency_ms"] is not None for a in shown["attempts_log"])
        code, text = await run_cli("alerts", "show", "--config", str(cfg), alert_id)
        assert code == 0 and "#1" in text and "#2" in text and "HTTP 410" in text
    ids = {r["headers"]["webhook-id"] for r in receiver.received}
    assert ids == {alert_id} and len(receiver.received) == 2


async def test_retry_all_requeues_every_dead_letter_with_a_fresh_budget(
    feed_server: FeedServer, receiver: Receiver, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE, RUSSIA]))
    cfg = write(tmp_path, [url], webhook_sink(receiver.url), extra="")
    cfg.write_text(
        cfg.read_text().replace(
            'timeout = "5s"\n\n[[topics]]', 'timeout = "5s"\nmax_attempts = 2\n\n[[topics]]'
        )
    )
    receiver.responses = [(500, {})] * 4
    clock = FixedClock(T0)
    async with service_for(cfg, clock) as (service, out):
        await service.poll_all()
        await service.deliverer.deliver_due()
        clock.advance(30)
        await service.deliverer.deliver_due()
        assert (await service.store.alert_counts())["dead"] == 2
        assert "gave up after 2 attempts" in events(out, "alert.dead")[0]["error"]
        code, text = await run_cli("alerts", "retry", "--config", str(cfg), "--all")
        assert code == 0 and "2 dead letters re-queued" in text
        clock.advance(600)
        assert await service.deliverer.deliver_due() == 2
        code, text = await run_cli("alerts", "list", "--config", str(cfg), "--json")
        rows = json.loads(text)
        assert {r["state"] for r in rows} == {"delivered"}
        assert all(r["attempts"] == 3 for r in rows)


async def test_an_alert_failing_longer_than_max_age_is_dead_lettered(
    feed_server: FeedServer, receiver: Receiver, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    cfg = write(tmp_path, [url], webhook_sink(receiver.url))
    cfg.write_text(
        cfg.read_text().replace(
            'timeout = "5s"\n\n[[topics]]', 'timeout = "5s"\nmax_age = "1m"\n\n[[topics]]'
        )
    )
    receiver.responses = [(503, {})] * 10
    clock = FixedClock(T0)
    async with service_for(cfg, clock) as (service, out):
        await service.poll_all()
        await service.deliverer.deliver_due()
        clock.advance(61)
        await service.deliverer.deliver_due()
        [dead] = events(out, "alert.dead")
        assert "over 61s" in dead["error"]


# -- sinks that fail do not delay others --------------------------------------------------------


async def test_a_hanging_sink_does_not_delay_another_sink(
    feed_server: FeedServer, hub: Hub, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    sinks = webhook_sink(hub.url("/slow"), "slow") + webhook_sink(hub.url("/fast"), "fast")
    cfg = write(tmp_path, [url], sinks, topic_sinks='["slow", "fast"]')
    hub.hang["/slow"] = asyncio.Event()
    stop = asyncio.Event()
    async with service_for(cfg, FixedClock(T0)) as (service, _out):
        loop = asyncio.create_task(service.deliverer.run(stop))
        try:
            await service.poll_all()
            service.deliverer.kick()
            assert len(await hub.wait_for("/fast", 1)) == 1
            assert len([r for r in hub.received if r["path"] == "/slow"]) == 1, "still hanging"
            hub.hang["/slow"].set()
            assert len(await hub.wait_for("/slow", 1)) == 1
        finally:
            stop.set()
            await loop


# -- rate limits and digests ------------------------------------------------------------------


async def test_a_rate_limit_folds_the_rest_into_the_next_digest(
    feed_server: FeedServer, hub: Hub, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", rss([story(1), story(2), story(3)]))
    cfg = write(
        tmp_path,
        [url],
        webhook_sink(hub.url("/hook")),
        topic_extra='rate_limit = "1/1h"\ndigest = "0 8 * * *"\n',
    )
    clock = FixedClock(MORNING)
    async with service_for(cfg, clock) as (service, out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 1
        assert len(events(out, "alert.folded")) == 2
        assert len(hub.at("/hook")) == 1
        clock.advance(1800)  # 07:00: the limit's hour is not over, and no digest is due yet
        assert await service.deliverer.deliver_due() == 0
        rows = await service.store.alert_log()
        assert sorted(r["state"] for r in rows) == ["delivered", "held", "held"]
        assert (await service.status())["alerts"]["held"] == 2

        clock.set(MORNING.replace(hour=8, minute=0, second=5))
        assert await service.deliverer.deliver_due() == 1
    first, digest = hub.at("/hook")
    assert first["json"]["type"] == "story.matched"
    assert digest["json"]["type"] == "topic.digest"
    VALIDATOR.validate(digest["json"])
    Webhook(WEBHOOK_SECRET)  # signature checked elsewhere; timestamps here are 2026-11-26
    data = digest["json"]["data"]
    assert data["count"] == 3 and data["folded"] == 2
    assert sorted(s["folded"] for s in data["stories"]) == [False, True, True]
    assert [s["title"] for s in data["stories"]] == [story(n)["title"] for n in (1, 2, 3)]
    assert {s["title"] for s in data["stories"]} == {story(n)["title"] for n in (1, 2, 3)}
    assert data["period"]["to"] == "2026-11-26T08:00:05Z"
    assert digest["headers"]["webhook-id"] == data["alert_id"]


async def test_a_digest_goes_out_on_its_cron_schedule_and_only_then(
    feed_server: FeedServer, hub: Hub, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", rss([story(1)]))
    cfg = write(tmp_path, [url], webhook_sink(hub.url("/hook"), extra='digest = "0 8 * * *"'))
    clock = FixedClock(MORNING)
    async with service_for(cfg, clock) as (service, out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 1  # sent at once: no rate limit
        clock.set(MORNING.replace(hour=7, minute=59, second=59))
        assert await service.deliverer.deliver_due() == 0
        assert [r["json"]["type"] for r in hub.at("/hook")] == ["story.matched"]

        clock.set(MORNING.replace(hour=8, minute=0, second=0))
        assert await service.deliverer.deliver_due() == 1
        [written] = events(out, "alert.digest_written")
        assert written["stories"] == 1

        clock.set(MORNING.replace(hour=9))  # nothing new: no second digest, none empty
        assert await service.deliverer.deliver_due() == 0
        clock.set(MORNING + timedelta(days=1, hours=2))  # next morning, still nothing new
        assert await service.deliverer.deliver_due() == 0
    types = [r["json"]["type"] for r in hub.at("/hook")]
    assert types == ["story.matched", "topic.digest"]
    digest = hub.at("/hook")[1]["json"]["data"]
    assert digest["period"] == {"from": "2026-11-26T06:30:00Z", "to": "2026-11-26T08:00:00Z"}
    assert digest["stories"][0]["folded"] is False


async def test_a_digest_missed_while_stopped_goes_out_at_start(
    feed_server: FeedServer, hub: Hub, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", rss([story(1)]))
    cfg = write(
        tmp_path,
        [url],
        webhook_sink(hub.url("/hook"), extra='rate_limit = "0/1d"'),
        topic_extra='digest = "@daily"\n',
    )
    clock = FixedClock(MORNING)
    async with service_for(cfg, clock) as (service, out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 0
        assert len(events(out, "alert.folded")) == 1, '"0/1d": digests only'
    clock.set(MORNING + timedelta(days=2))
    async with service_for(cfg, clock) as (service, _out):
        assert await service.deliverer.deliver_due() == 1
    [digest] = hub.at("/hook")
    assert digest["json"]["data"]["folded"] == 1


def test_next_fire_follows_crontab_with_fixed_datetimes() -> None:
    thu = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)
    assert next_fire("0 8 * * *", "UTC", thu) == thu.replace(hour=8, minute=0)
    assert next_fire("0 8 * * *", "UTC", thu.replace(hour=8, minute=0)) == datetime(
        2026, 11, 27, 8, 0, tzinfo=UTC
    ), "strictly after"
    assert next_fire("0 8 * * 1-5", "UTC", datetime(2026, 11, 28, 9, tzinfo=UTC)) == datetime(
        2026, 11, 30, 8, 0, tzinfo=UTC
    ), "crontab weekdays: 1-5 is Monday to Friday"
    assert next_fire("0 7 * * 0", "UTC", thu).weekday() == 6, "0 is Sunday"
    paris = next_fire("0 7 * * *", "Europe/Paris", thu)
    assert paris.astimezone(UTC).hour == 6
    assert next_fire("@hourly", "UTC", thu) == thu.replace(hour=8, minute=0)


# -- feed health ------------------------------------------------------------------------------


async def test_a_feed_failing_longer_than_the_threshold_alerts_and_its_recovery_too(
    feed_server: FeedServer, hub: Hub, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", b"oops", status=500)
    cfg = write(
        tmp_path,
        [url],
        webhook_sink(hub.url("/hook")),
        extra='[health]\nsinks = ["ops"]\nafter = "10m"\n',
    )
    clock = FixedClock(T0)
    async with service_for(cfg, clock) as (service, _out):
        for _ in range(3):  # polling.failing_after = 3
            await service.poll_all()
            clock.advance(60)
        await service.deliverer.deliver_due()  # seen failing: the episode starts
        clock.advance(300)
        assert await service.deliverer.deliver_due() == 0, "not failing long enough yet"
        clock.advance(301)
        assert await service.deliverer.deliver_due() == 1
        clock.advance(60)
        assert await service.deliverer.deliver_due() == 0, "one alert per episode"

        feed_server.set("a.xml", rss([GRAIN]))
        await service.poll_all()
        clock.advance(11)
        assert await service.deliverer.deliver_due() == 1
    failing, recovered = (r["json"] for r in hub.at("/hook"))
    assert failing["type"] == "feed.failing" and recovered["type"] == "feed.recovered"
    assert failing["data"]["feed"]["url"] == url
    assert failing["data"]["last_error"]["kind"] == "http"
    assert failing["data"]["consecutive_errors"] >= 3
    for doc in (failing, recovered):
        VALIDATOR.validate(doc)


# -- chat sinks -------------------------------------------------------------------------------


def chat_sinks(hub: Hub) -> str:
    return f"""
[[sinks]]
id = "slack"
type = "slack"
url = "{hub.url("/services/T000/B000/XXXX")}"

[[sinks]]
id = "discord"
type = "discord"
url_env = "TEST_DISCORD_URL"

[[sinks]]
id = "ntfy"
type = "ntfy"
url = "{hub.url("/monitor-alerts")}"
token = "tk_abcdefghijklmnop"
priority = "high"
tags = ["ukraine"]
"""


def check_slack(doc: dict[str, Any]) -> None:
    """Slack incoming webhook: `text` (required fallback) and optional Block Kit `blocks`."""
    assert isinstance(doc["text"], str) and doc["text"].strip()
    assert set(doc) <= {"text", "blocks"}
    assert 1 <= len(doc["blocks"]) <= 50
    for block in doc["blocks"]:
        assert block["type"] in ("section", "context", "header")
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn" and len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(e["type"] in ("mrkdwn", "plain_text") for e in block["elements"])


def check_discord(doc: dict[str, Any]) -> None:
    """Discord execute-webhook: `content` (<= 2000) and/or `embeds` (<= 10, with title <= 256,
    url, description <= 4096, fields name <= 256 / value <= 1024, ISO 8601 timestamp)."""
    assert doc.get("content") or doc.get("embeds")
    assert len(doc.get("content", "")) <= 2000
    assert len(doc.get("embeds", [])) <= 10
    total = 0
    for e in doc.get("embeds", []):
        assert set(e) <= {"title", "url", "description", "fields", "timestamp", "color"}
        assert len(e.get("title", "")) <= 256 and len(e.get("description", "")) <= 4096
        total += len(e.get("title", "")) + len(e.get("description", ""))
        for f in e.get("fields", []):
            assert 0 < len(f["name"]) <= 256 and 0 < len(f["value"]) <= 1024
            assert isinstance(f.get("inline", False), bool)
        if "timestamp" in e:
            datetime.fromisoformat(e["timestamp"])
        if "url" in e:
            assert e["url"].startswith("http")
    assert total <= 6000


async def test_slack_discord_and_ntfy_get_their_documented_payloads(
    feed_server: FeedServer, hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_DISCORD_URL", hub.url("/api/webhooks/1/tok"))
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    cfg = write(tmp_path, [url], chat_sinks(hub), topic_sinks='["slack", "discord", "ntfy"]')
    async with service_for(cfg, FixedClock(T0)) as (service, _out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 3
    [slack] = hub.at("/services/T000/B000/XXXX")
    [discord] = hub.at("/api/webhooks/1/tok")
    [ntfy] = hub.at("/")

    s = slack["json"]
    check_slack(s)
    assert GUARANTEE["title"] in s["text"]
    section = s["blocks"][0]["text"]["text"]
    assert f"<{GUARANTEE['link']}|{GUARANTEE['title']}>" in section
    assert "security guarantees" in section  # what is new: the story's summary
    assert "Feed 0" in s["blocks"][1]["elements"][0]["text"]

    d = discord["json"]
    check_discord(d)
    [embed] = d["embeds"]
    assert embed["title"] == GUARANTEE["title"] and embed["url"] == GUARANTEE["link"]
    assert "security guarantees" in embed["description"]
    assert {"name": "Source", "value": "Feed 0", "inline": True} in embed["fields"]
    assert d["allowed_mentions"] == {"parse": []}

    n = ntfy["json"]
    assert n["topic"] == "monitor-alerts" and n["priority"] == 4 and n["tags"] == ["ukraine"]
    assert n["title"].endswith(GUARANTEE["title"]) and n["click"] == GUARANTEE["link"]
    assert "Source: Feed 0" in n["message"]
    assert ntfy["headers"]["Authorization"] == "Bearer tk_abcdefghijklmnop"
    for r in (slack, discord, ntfy):
        assert r["headers"]["webhook-id"].startswith("msg_")
        assert "webhook-signature" not in r["headers"]


async def test_digests_and_health_alerts_render_on_chat_sinks(
    feed_server: FeedServer, hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_DISCORD_URL", hub.url("/api/webhooks/1/tok"))
    url = feed_server.set("a.xml", rss([story(n) for n in range(1, 41)]))
    cfg = write(
        tmp_path,
        [url],
        chat_sinks(hub),
        topic_sinks='["slack", "discord", "ntfy"]',
        topic_extra='rate_limit = "0/1d"\ndigest = "0 8 * * *"\n',
    )
    clock = FixedClock(MORNING)
    async with service_for(cfg, clock) as (service, _out):
        await service.poll_all()
        for _ in range(3):  # 120 alerts, claimed 50 at a time
            assert await service.deliverer.deliver_due() == 0
        assert (await service.store.alert_counts())["pending"] == 0
        clock.set(MORNING.replace(hour=8, minute=1))
        assert await service.deliverer.deliver_due() == 3
    s = hub.at("/services/T000/B000/XXXX")[0]["json"]
    check_slack(s)
    assert s["blocks"][0]["type"] == "header" and "40 stories" in s["text"]
    assert "… and 15 more" in json.dumps(s, ensure_ascii=False)
    d = hub.at("/api/webhooks/1/tok")[0]["json"]
    check_discord(d)
    assert "40 stories" in d["content"]
    n = hub.at("/")[0]["json"]
    assert "and 15 more" in n["message"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # apprise imports imghdr
async def test_apprise_sink_reaches_an_apprise_json_url(
    feed_server: FeedServer, hub: Hub, tmp_path: Path
) -> None:
    pytest.importorskip("apprise")
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    sinks = f"""
[[sinks]]
id = "ops"
type = "apprise"
url = "json://127.0.0.1:{hub.port}/apprise"
"""
    cfg = write(tmp_path, [url], sinks)
    async with service_for(cfg, FixedClock(T0)) as (service, _out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 1
    [got] = hub.at("/apprise")
    assert GUARANTEE["title"] in got["json"]["title"]
    assert GUARANTEE["link"] in got["json"]["message"]


# -- configuration ----------------------------------------------------------------------------


def test_sink_rate_limit_digest_and_health_keys_are_validated(tmp_path: Path) -> None:
    sinks = """
[[sinks]]
id = "ops"
type = "slack"
url = "ftp://hooks.slack.example/x"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
rate_limit = "lots"
digest = "every morning"

[[sinks]]
id = "phone"
type = "ntfy"
url = "https://ntfy.example/"
priority = 9
"""
    cfg = write(
        tmp_path,
        ["http://127.0.0.1:9/a.xml"],
        sinks,
        topic_extra='digest = "0 25 * * *"\n',
        extra='[health]\nsinks = ["pager"]\nafter = "soon"\n[delivery.x]\n',
    )
    text = cfg.read_text().replace("[delivery.x]\n", "")
    text = text.replace(
        'timeout = "5s"\n\n[[topics]]', 'timeout = "5s"\ntimezone = "Mars/Base"\n\n[[topics]]'
    )
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(cfg)
    msg = str(err.value)
    for expected in (
        "sinks[0].secret: not a key of slack sinks",
        "sinks[0].url: is not an http(s) URL",
        "sinks[0].rate_limit: 'lots' is not a rate limit",
        "sinks[0].digest: 'every morning' is not a cron expression",
        "sinks[1].url: must name the ntfy topic",
        "sinks[1].priority: must be 1-5",
        "topics[0].digest: '0 25 * * *' is not a cron expression: hour 25 is out of range 0-23",
        "health.sinks: no sink with id 'pager'",
        "health.after: 'soon' is not a duration",
        "delivery.timezone: 'Mars/Base' is not a time zone",
    ):
        assert expected in msg, f"{expected!r} not in:\n{msg}"
    assert "ftp://hooks.slack.example/x" not in msg, "a sink URL may hold credentials"


def test_sink_urls_and_tokens_stay_out_of_reprs(tmp_path: Path) -> None:
    sinks = """
[[sinks]]
id = "ops"
type = "ntfy"
url = "https://ntfy.example/secret-topic"
token = "tk_very_secret_token"
"""
    cfg = load(write(tmp_path, ["http://127.0.0.1:9/a.xml"], sinks))
    assert "secret-topic" not in repr(cfg) and "tk_very_secret_token" not in repr(cfg)


async def test_alerts_held_by_a_removed_rate_limit_are_sent_not_dropped(
    feed_server: FeedServer, hub: Hub, tmp_path: Path
) -> None:
    url = feed_server.set("a.xml", rss([story(1), story(2)]))
    cfg = write(
        tmp_path,
        [url],
        webhook_sink(hub.url("/hook")),
        topic_extra='rate_limit = "0/1d"\ndigest = "0 8 * * *"\n',
    )
    clock = FixedClock(MORNING)
    async with service_for(cfg, clock) as (service, out):
        await service.poll_all()
        assert await service.deliverer.deliver_due() == 0
        assert (await service.store.alert_counts())["held"] == 2
        cfg.write_text(cfg.read_text().replace('rate_limit = "0/1d"\ndigest = "0 8 * * *"\n', ""))
        await service.apply(load(cfg))  # what SIGHUP does
        assert await service.deliverer.deliver_due() == 2
        assert events(out, "alert.held_released")[0]["count"] == 2
    assert [r["json"]["type"] for r in hub.at("/hook")] == ["story.matched"] * 2
