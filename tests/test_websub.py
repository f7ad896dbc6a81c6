"""WebSub (W3C Recommendation, https://www.w3.org/TR/websub/): the daemon as a subscriber,
against a local hub (a small aiohttp server playing the hub's part) and local feeds."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.clock import FixedClock
from monitor.poll.websub import STATES, VERIFY_WAIT, sign, signature_problem
from monitor.reader.fastparse import fast_parse
from monitor.reader.parse import parse_feed, parse_with_feedparser
from monitor.service.core import Service
from monitor.web import status
from tests.conftest import DaemonProcess, FeedServer, Receiver, free_port, rss, serve
from tests.test_pipeline import GRAIN, GUARANTEE, RUSSIA, T0, events, service_for

RSS_WITH_HUB = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>x</title>
<atom:link rel="hub" href="https://hub.example/"/>
<atom:link rel="self" href="https://news.example/feed.xml" type="application/rss+xml"/>
<item><title>a</title></item></channel></rss>"""
ATOM_WITH_HUB = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title><link rel="alternate" href="/"/>
<link rel="hub" href="/hub"/><link rel="hub" href="https://second.example/"/>
<link rel="self" href="feed.atom"/><entry><title>a</title></entry></feed>"""


@pytest.mark.parametrize(
    ("doc", "hub", "self_url"),
    [
        (RSS_WITH_HUB, "https://hub.example/", "https://news.example/feed.xml"),
        (ATOM_WITH_HUB, "https://news.example/hub", "https://news.example/a/feed.atom"),
    ],
)
def test_both_parsers_read_the_hub_and_self_links(doc: bytes, hub: str, self_url: str) -> None:
    url = "https://news.example/a/b.xml"
    for parsed in (fast_parse(doc, url=url), parse_with_feedparser(doc, url=url)):
        assert (parsed.hub, parsed.self_url) == (hub, self_url), parsed.parser


def test_a_json_feed_names_its_websub_hub_and_its_own_url() -> None:
    doc = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "t", '
        b'"feed_url": "https://news.example/feed.json", "items": [], '
        b'"hubs": [{"type": "rssCloud", "url": "https://cloud.example/"}, '
        b'{"type": "WebSub", "url": "https://hub.example/"}]}'
    )
    parsed = parse_feed(doc, url="https://news.example/feed.json")
    assert (parsed.hub, parsed.self_url) == (
        "https://hub.example/",
        "https://news.example/feed.json",
    )


def test_a_feed_without_links_has_no_hub() -> None:
    parsed = parse_feed(b'<rss version="2.0"><channel><title>t</title></channel></rss>')
    assert (parsed.hub, parsed.self_url) == (None, None)


# -- a local hub ---------------------------------------------------------------------------


class Hub:
    """The hub's part of WebSub on 127.0.0.1, port 0: takes (un)subscription requests
    (answering `answer`, 202 by default), then verifies each against its callback (a GET
    with a random challenge, granting `lease` seconds) unless `verify` is off; publishes
    content to the verified subscribers, signed with their secret."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.verifications: list[dict[str, Any]] = []
        self.subscribers: dict[tuple[str, str], str] = {}  # (topic, callback) -> secret
        self.answer = 202
        self.lease = 3600
        self.verify = True
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.event = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub"

    async def handle(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        self.event.set()
        if self.answer != 202:
            return web.Response(status=self.answer, text="hub says no")
        if self.verify:
            task = asyncio.create_task(self.verify_intent(form))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.Response(status=202)

    async def verify_intent(self, form: dict[str, str], **override: str) -> tuple[int, str]:
        """The verification of intent (5.3); `override` replaces query parameters."""
        challenge = secrets.token_hex(8)
        query = {
            "hub.mode": form["hub.mode"],
            "hub.topic": form["hub.topic"],
            "hub.challenge": challenge,
            "hub.lease_seconds": str(self.lease),
            **override,
        }
        async with aiohttp.ClientSession() as s, s.get(form["hub.callback"], params=query) as r:
            status, text = r.status, await r.text()
        confirmed = status == 200 and text == query.get("hub.challenge")
        self.verifications.append({**query, "status": status, "confirmed": confirmed})
        key = (form["hub.topic"], form["hub.callback"])
        if confirmed and query["hub.mode"] == "subscribe":
            self.subscribers[key] = form["hub.secret"]
        elif confirmed and query["hub.mode"] == "unsubscribe":
            self.subscribers.pop(key, None)
        self.event.set()
        return status, text

    async def publish(
        self, topic: str, body: bytes, *, secret: str | None = None, method: str = "sha256"
    ) -> list[int]:
        """Content distribution (7) to every subscriber of `topic`; `secret` forges."""
        statuses = []
        for (t, callback), real in self.subscribers.items():
            if t != topic:
                continue
            headers = {
                "Content-Type": "application/rss+xml",
                "X-Hub-Signature": sign(secret or real, body, method),
                "Link": f'<{self.url}>; rel="hub", <{topic}>; rel="self"',
            }
            async with (
                aiohttp.ClientSession() as s,
                s.post(callback, data=body, headers=headers) as r,
            ):
                statuses.append(r.status)
        return statuses

    def confirmed(self, mode: str = "subscribe") -> list[dict[str, Any]]:
        return [v for v in self.verifications if v["hub.mode"] == mode and v["confirmed"]]

    async def wait_for(self, done: Callable[[], object], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"hub: {self.requests=} {self.verifications=}")
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), timeout=0.5)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hub", self.handle)
        self._runner, self.port = await serve(app)


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    h = Hub()
    await h.start()
    yield h
    for task in list(h._tasks):
        task.cancel()
    if h._runner:
        await h._runner.cleanup()


def with_hub(items: list[dict[str, str]], hub: str | None, self_url: str) -> bytes:
    """An RSS document advertising `hub` (when given) and its own URL."""
    doc = rss(items).replace(b"<rss ", b'<rss xmlns:atom="http://www.w3.org/2005/Atom" ')
    links = f'<atom:link rel="self" href="{self_url}"/>'
    if hub:
        links += f'<atom:link rel="hub" href="{hub}"/>'
    return doc.replace(b"<channel>", b"<channel>" + links.encode())


def websub_config(port: int, **settings: str) -> str:
    extra = "".join(f'{k} = "{v}"\n' for k, v in settings.items())
    return f'\n[websub]\ncallback_url = "http://127.0.0.1:{port}"\n{extra}'


async def call(method: str, url: str, *, token: str | None = None, **kw: Any) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.request(method, url, headers=headers, **kw) as r:
        return r.status, await r.text()


@dataclass
class Pushed:
    """A feed advertising the hub, and a configuration following it with WebSub on."""

    port: int  # of the status server, where the callback URL points
    topic: str  # the feed's URL, its self link
    config: Path
    write: Callable[[list[str]], Path]  # the configuration again, with other feeds


@pytest.fixture
def pushed(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path], hub: Hub
) -> Callable[..., Pushed]:
    def make(**websub: str) -> Pushed:
        port = free_port()
        topic = feed_server.url("news.xml")
        feed_server.set("news.xml", with_hub([GRAIN], hub.url, topic))
        extra = websub_config(port, **websub)

        def write(feeds: list[str]) -> Path:
            return config_factory(feeds, receiver.url, listen=f"127.0.0.1:{port}", extra=extra)

        return Pushed(port, topic, write([topic]), write)

    return make


# -- the daemon against the hub ------------------------------------------------------------

TOKEN = "status-token-0123456789"


async def test_subscribe_verify_a_signed_push_is_a_story_at_once_a_forged_one_is_not(
    feed_server: FeedServer,
    receiver: Receiver,
    daemon_factory: Callable[[Path], DaemonProcess],
    hub: Hub,
    pushed: Callable[..., Pushed],
) -> None:
    p = pushed()
    port, topic, cfg = p.port, p.topic, p.config
    cfg.write_text(cfg.read_text().replace("[server]\n", f'[server]\ntoken = "{TOKEN}"\n'))
    d = daemon_factory(cfg)
    await d.start()
    base = f"http://127.0.0.1:{port}"

    # the first poll reads the hub link: subscribe, and the hub's verification is answered
    await hub.wait_for(lambda: hub.confirmed())
    [request] = hub.requests
    assert request["hub.mode"] == "subscribe" and request["hub.topic"] == topic
    assert request["hub.callback"] == f"{base}/websub/1"
    assert request["hub.lease_seconds"] == str(10 * 86400)
    secret = request["hub.secret"]
    assert len(secret) >= 32 and secret not in str(d.lines)
    await d.wait_event("websub.verified", where=lambda e: e["lease_seconds"] == 3600)
    _, text = await call("GET", f"{base}/status", token=TOKEN)
    report = json.loads(text)
    [feed] = report["feeds"]
    push = feed["push"]
    assert push["pushed"] and push["state"] == "active" and push["hub"] == hub.url
    assert push["lease_until"] and (push["pushes"], push["forged"]) == (0, 0)
    assert report["websub"]["subscriptions"]["active"] == 1 and secret not in text

    # a signed update is a story, and its alert is sent, at once: no poll happens
    assert await hub.publish(topic, with_hub([GUARANTEE, GRAIN], hub.url, topic)) == [204]
    [hook] = await receiver.wait_for(1)
    assert hook["json"]["data"]["story"]["title"] == GUARANTEE["title"]
    assert feed_server.requests["/news.xml"] == 1
    pushed = await d.wait_event("feed.polled", where=lambda e: e.get("via") == "push")
    assert (pushed["new"], pushed["alerts"]) == (1, 1)

    # a forged update (signed with another secret) is answered alike, and ignored
    forged = with_hub([RUSSIA, GUARANTEE, GRAIN], hub.url, topic)
    assert await hub.publish(topic, forged, secret="not-the-secret") == [204]
    event = await d.wait_event("websub.push_forged")
    assert event["error"] == "the sha256 signature does not match the body"
    _, text = await call("GET", f"{base}/status", token=TOKEN)
    report = json.loads(text)
    assert report["stories"] == 2 and report["websub"]["forged"] == 1
    assert (report["feeds"][0]["push"]["pushes"], report["feeds"][0]["push"]["forged"]) == (1, 1)
    assert report["feeds"][0]["push"]["last_push"]
    unsigned = await call("POST", f"{base}/websub/1", data=forged)
    assert unsigned[0] == 204
    await d.wait_event("websub.push_forged", where=lambda e: "no X-Hub-Signature" in e["error"])

    # verifications the subscriber did not ask for, and unknown callbacks: 404
    assert (await hub.verify_intent(request, **{"hub.topic": "http://elsewhere/feed"}))[0] == 404
    assert (await hub.verify_intent(request, **{"hub.mode": "unsubscribe"}))[0] == 404
    assert (await call("POST", f"{base}/websub/2", data=b"x"))[0] == 404
    assert (await call("GET", f"{base}/websub/2?hub.mode=subscribe&hub.challenge=x"))[0] == 404
    assert (await call("GET", f"{base}/status"))[0] == 401  # the token still guards the rest

    _, metrics = await call("GET", f"{base}/metrics", token=TOKEN)
    assert 'monitor_websub_deliveries_total{outcome="ok"} 1.0' in metrics
    assert 'monitor_websub_deliveries_total{outcome="forged"} 2.0' in metrics
    assert 'monitor_websub_subscriptions{state="active"} 1.0' in metrics
    assert 'monitor_websub_requests_total{mode="subscribe",outcome="accepted"} 1.0' in metrics
    assert await d.stop() == 0
    assert len(receiver.received) == 1


async def test_a_feed_removed_on_reload_is_unsubscribed(
    daemon_factory: Callable[[Path], DaemonProcess], hub: Hub, pushed: Callable[..., Pushed]
) -> None:
    p = pushed()
    d = daemon_factory(p.config)
    await d.start()
    await hub.wait_for(lambda: hub.confirmed())
    p.write([])
    d.signal(signal.SIGHUP)
    await hub.wait_for(lambda: hub.confirmed("unsubscribe"))
    assert [r["hub.mode"] for r in hub.requests] == ["subscribe", "unsubscribe"]
    assert hub.requests[1]["hub.callback"] == hub.requests[0]["hub.callback"]
    assert "hub.secret" not in hub.requests[1]
    await d.wait_event("websub.unsubscribed")
    _, text = await call("GET", f"http://127.0.0.1:{p.port}/status")
    report = json.loads(text)
    assert report["websub"]["subscriptions"] == dict.fromkeys(STATES, 0)
    assert report["feeds"][0]["state"] == "inactive" and report["feeds"][0]["push"] is None
    assert not hub.subscribers
    assert await d.stop() == 0


async def test_without_a_callback_url_nothing_is_subscribed(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    daemon_factory: Callable[[Path], DaemonProcess],
    hub: Hub,
) -> None:
    topic = feed_server.url("news.xml")
    feed_server.set("news.xml", with_hub([GRAIN], hub.url, topic))
    d = daemon_factory(config_factory([topic], receiver.url))
    await d.start()
    assert d.port
    polled = await d.wait_event("feed.polled", where=lambda e: e["new"] == 1)
    _, text = await call("GET", f"http://127.0.0.1:{d.port}/status")
    report = json.loads(text)
    assert report["websub"]["enabled"] is False and report["feeds"][0]["push"] is None
    base = f"http://127.0.0.1:{d.port}/websub/{polled['feed_id']}"
    assert (await call("POST", base, data=b"<rss/>"))[0] == 404
    assert (await call("GET", f"{base}?hub.mode=subscribe&hub.challenge=x"))[0] == 404
    assert await d.stop() == 0
    assert hub.requests == [] and not d.events("websub.discovered")


# -- in process, on an injected clock --------------------------------------------------------


@contextlib.asynccontextmanager
async def pushed_service(
    p: Pushed, clock: FixedClock
) -> AsyncIterator[tuple[Service, io.StringIO]]:
    """The service and its status server (on the port the callback URL names)."""
    async with service_for(p.config, clock) as (service, out):
        runner, _ = await status.start(service, "127.0.0.1", p.port)
        try:
            yield service, out
        finally:
            await runner.cleanup()


async def test_a_lease_is_renewed_before_it_ends_and_a_pushed_feed_is_polled_less(
    feed_server: FeedServer, hub: Hub, pushed: Callable[..., Pushed]
) -> None:
    p = pushed(poll_interval="3h")
    topic = p.topic
    clock, t0 = FixedClock(T0), T0.timestamp()
    hub.lease = 1000
    async with pushed_service(p, clock) as (service, out):
        [first] = await service.poll_all()
        assert events(out, "feed.polled")[-1]["next_poll_in_s"] == 3600  # polling.interval
        assert await service.websub.run_due() == 1
        await hub.wait_for(lambda: len(hub.confirmed()) == 1)
        sub = await service.store.subscription(first.feed_id)
        assert sub is not None and sub.state == "active" and sub.requested_at is None
        assert (sub.lease_until, sub.next_action_at) == (t0 + 1000, t0 + 800)  # renew at 80%

        # pushed: polled as a safety net only, at least every websub.poll_interval
        feed_server.set("news.xml", with_hub([GUARANTEE, GRAIN], hub.url, topic))
        await service.poll_all()
        assert events(out, "feed.polled")[-1]["next_poll_in_s"] == 3 * 3600

        clock.advance(700)
        assert await service.websub.run_due() == 0  # not yet
        clock.advance(110)
        assert await service.websub.run_due() == 1  # 810 s into a 1000 s lease: renew
        await hub.wait_for(lambda: len(hub.confirmed()) == 2)
        renewed = await service.store.subscription(first.feed_id)
        assert renewed is not None and renewed.state == "active"
        assert renewed.lease_until == t0 + 810 + 1000
        assert [r["hub.mode"] for r in hub.requests] == ["subscribe", "subscribe"]
        assert hub.requests[0]["hub.secret"] == hub.requests[1]["hub.secret"]

        # the document stops advertising the hub: unsubscribe
        feed_server.set("news.xml", with_hub([RUSSIA, GUARANTEE, GRAIN], None, topic))
        await service.poll_all()
        gone = await service.store.subscription(first.feed_id)
        assert gone is not None and gone.state == "unsubscribing"
        assert await service.websub.run_due() == 1
        await hub.wait_for(lambda: hub.confirmed("unsubscribe"))
        assert await service.store.subscription(first.feed_id) is None
        await service.poll_all()  # no longer pushed: the adaptive interval again
        assert events(out, "feed.polled")[-1]["next_poll_in_s"] < 3 * 3600


async def test_refusals_denials_and_silent_hubs_are_retried_and_visible(
    hub: Hub, pushed: Callable[..., Pushed]
) -> None:
    clock, t0 = FixedClock(T0), T0.timestamp()
    async with pushed_service(pushed(), clock) as (service, out):
        [first] = await service.poll_all()
        fid = first.feed_id

        hub.answer = 500  # the hub refuses: failed, retried after a backoff
        assert await service.websub.run_due() == 1
        sub = await service.store.subscription(fid)
        assert sub is not None and (sub.state, sub.attempts) == ("failed", 1)
        assert sub.last_error == "HTTP 500: hub says no"
        assert t0 + 54 <= sub.next_action_at <= t0 + 66  # a minute, +-10%
        [failed] = events(out, "websub.request_failed")
        assert failed["status"] == 500 and failed["feed_id"] == fid
        report = await service.status()
        assert report["feeds"][0]["push"]["state"] == "failed"
        assert report["feeds"][0]["push"]["last_error"] == "HTTP 500: hub says no"

        hub.answer, hub.verify = 202, False  # taken, but never verified
        clock.advance(70)
        assert await service.websub.run_due() == 1
        assert await service.websub.run_due() == 0  # waiting for the verification
        clock.advance(VERIFY_WAIT)
        hub.verify = True
        assert await service.websub.run_due() == 1  # sent again
        await hub.wait_for(lambda: hub.confirmed())
        sub = await service.store.subscription(fid)
        assert sub is not None and (sub.state, sub.attempts, sub.last_error) == ("active", 0, None)
        assert len(hub.requests) == 3

        # the hub later denies the subscription (5.2)
        denied = await hub.verify_intent(
            hub.requests[-1], **{"hub.mode": "denied", "hub.reason": "publisher said no"}
        )
        assert denied[0] == 200
        sub = await service.store.subscription(fid)
        assert sub is not None and sub.state == "failed"
        assert sub.last_error == "the hub denied the subscription: publisher said no"
        assert events(out, "websub.denied")
        row = await service.store.feed_row(fid)
        assert row is not None and not row.pushed


async def test_deliveries_are_bounded_and_checked_before_they_are_read(
    hub: Hub, pushed: Callable[..., Pushed]
) -> None:
    p = pushed()
    text = p.config.read_text()
    p.config.write_text(text.replace("[polling]\n", '[polling]\nmax_bytes = "4KiB"\n'))
    async with pushed_service(p, FixedClock(T0)) as (service, _out):
        await service.poll_all()
        await service.websub.run_due()
        await hub.wait_for(lambda: hub.confirmed())
        [(_topic, callback)] = hub.subscribers
        big = b"<rss>" + b"x" * 5000 + b"</rss>"
        assert (await call("POST", callback, data=big))[0] == 413

        async def trickle() -> AsyncIterator[bytes]:  # chunked: no Content-Length
            for _ in range(10):
                yield b"x" * 1000

        assert (await call("POST", callback, data=trickle()))[0] == 413
        # a signed body that is no feed: read as a poll would, the error is the feed's
        assert await hub.publish(p.topic, b"<html><body>maintenance</body></html>") == [204]
        [feed] = (await service.status())["feeds"]
        assert feed["last_error"]["kind"] == "not_a_feed" and feed["push"]["pushes"] == 1
        assert 'monitor_websub_deliveries_total{outcome="unreadable"} 1.0' in (
            (await service.metrics_text()).decode()
        )


def test_signatures_of_every_method_and_what_is_refused() -> None:
    body, secret = b"<rss/>", "s3cret"
    for method in ("sha1", "sha256", "sha384", "sha512"):
        assert signature_problem(secret, sign(secret, body, method), body) is None
        assert signature_problem(secret, sign(secret, body, method).upper(), body) is None
    assert signature_problem(secret, None, body) == "no X-Hub-Signature header"
    assert signature_problem(secret, "md5=abc", body) == (
        "unknown signature method 'md5' (sha1, sha256, sha384, sha512)"
    )
    assert signature_problem(secret, "sha256", body) is not None
    assert signature_problem(secret, "sha256=é", body) is not None
    assert signature_problem("other", sign(secret, body), body) is not None
    assert signature_problem(secret, sign(secret, body), body + b" ") is not None


async def test_a_hub_on_a_name_with_a_private_address_is_refused(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    hub: Hub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With allow_private_addresses = false the hub's name goes through the connector's
    guarded resolver like a feed's: one private address among its addresses refuses it.
    127.0.0.1 stands for the internet (tests/test_netguard.py); DNS is a table."""
    import monitor.reader.netguard
    from tests.test_netguard import StubDNS
    from tests.test_polling import with_polling

    real = monitor.reader.netguard.public_addresses
    monkeypatch.setattr(
        monitor.reader.netguard,
        "public_addresses",
        lambda addresses: [a for a in addresses if a == "127.0.0.1" or real([a])],
    )
    dns = StubDNS({"hub.test": ["127.0.0.1", "10.0.0.3"]})
    monkeypatch.setattr(aiohttp, "DefaultResolver", lambda: dns)
    port = free_port()
    topic = feed_server.url("news.xml")
    feed_server.set("news.xml", with_hub([GRAIN], f"http://hub.test:{hub.port}/hub", topic))
    cfg = config_factory(
        [topic], receiver.url, listen=f"127.0.0.1:{port}", extra=websub_config(port)
    )
    cfg = with_polling(cfg, allow_private_addresses="false")
    async with pushed_service(Pushed(port, topic, cfg, lambda _: cfg), FixedClock(T0)) as (
        service,
        _out,
    ):
        [first] = await service.poll_all()
        assert first.result == "ok", first
        assert await service.websub.run_due() == 1
        sub = await service.store.subscription(first.feed_id)
        assert sub is not None and sub.state == "failed"
        assert "hub.test resolves to 10.0.0.3 (private)" in (sub.last_error or "")
    assert hub.requests == []
    assert ("hub.test", hub.port) in dns.calls
