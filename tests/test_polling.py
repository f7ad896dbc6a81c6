"""Polling that treats every host well: backoff and recovery, Retry-After, per-host limits,
permanent redirects, 410 Gone, size limits (also after decompression), proxies, adaptive
intervals, compressed responses, and a claim query that uses its index."""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import brotli
import pytest
from aiohttp import ClientSession, web

from monitor.clock import FixedClock
from monitor.poll.intervals import choose_interval, initial_rate, update_rate
from monitor.reader.politeness import HostLimiter
from tests.conftest import FeedServer, Receiver, rss, serve
from tests.test_pipeline import GRAIN, GUARANTEE, T0, events, service_for


def with_polling(path: Path, **settings: str) -> Path:
    text = path.read_text()
    for key, value in settings.items():
        text = text.replace("[polling]\n", f"[polling]\n{key} = {value}\n", 1)
    path.write_text(text)
    return path


async def feed_row(service: Any, url: str) -> dict[str, Any]:
    return next(f for f in await service.store.feed_report() if f["config_url"] == url)


async def test_errors_back_off_exponentially_and_recovery_is_logged(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("a.xml", b"down", status=500)
    clock = FixedClock(T0)
    path = with_polling(config_factory([url], receiver.url), error_backoff_max='"1h"')
    async with service_for(path, clock) as (service, out):
        waits = []
        for _ in range(6):
            await service.poll_all()
            row = await feed_row(service, url)
            waits.append(row["next_poll_at"] - row["last_poll_at"])
            clock.advance(7200)
        # min(interval, 5 min) doubling per error, +-10%, capped at error_backoff_max
        for wait, expected in zip(waits, (300, 600, 1200, 2400, 3600, 3600), strict=True):
            assert expected * 0.9 <= wait <= expected * 1.1, waits
        assert (await service.status())["feeds"][0]["state"] == "failing"
        feed_server.set("a.xml", rss([GRAIN]))
        [outcome] = await service.poll_all()
        assert outcome.result == "ok"
        [recovered] = events(out, "feed.recovered")
        assert recovered["after_errors"] == 6 and recovered["feed_url"] == url
        row = await feed_row(service, url)
        assert row["consecutive_errors"] == 0
        assert (await service.status())["feeds"][0]["state"] == "ok"


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
async def test_retry_after_pushes_the_feed_and_its_host(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    status: int,
    form: str,
) -> None:
    wait = 5400
    value = (
        str(wait) if form == "seconds" else email.utils.formatdate(time.time() + wait, usegmt=True)
    )
    url = feed_server.set("a.xml", b"slow down", status=status, headers={"Retry-After": value})
    clock = FixedClock(T0)
    async with service_for(config_factory([url], receiver.url), clock) as (service, out):
        await service.poll_all()
        row = await feed_row(service, url)
        assert row["next_poll_at"] - row["last_poll_at"] >= wait - 5
        assert "Retry-After" in row["last_error"]
        assert service.poller.hosts.deferred_for(url) >= wait - 5
        # another feed on the same host name waits too; the feed on another host does not
        assert service.poller.hosts.deferred_for(feed_server.url("other.xml")) >= wait - 5
        other_host = feed_server.url("b.xml").replace("127.0.0.1", "localhost")
        assert service.poller.hosts.deferred_for(other_host) == 0
        [failed] = events(out, "feed.poll_failed")
        assert failed["status"] == status and failed["retry_in_s"] >= wait - 5


async def test_per_host_gap_and_concurrency(
    receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    """Four feeds on 127.0.0.1 start 0.3 s apart, one at a time; a feed on the host name
    `localhost` (the same server) is not held back by them."""
    starts: dict[str, list[float]] = {"127.0.0.1": [], "localhost": []}
    active = {"now": 0, "max": 0}

    async def handler(request: web.Request) -> web.Response:
        starts[request.host.split(":")[0]].append(time.monotonic())
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0.05)
        active["now"] -= 1
        return web.Response(body=rss([GRAIN]), content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{name}", handler)
    runner, port = await serve(app)
    try:
        urls = [f"http://127.0.0.1:{port}/{i}.xml" for i in range(4)]
        urls.append(f"http://localhost:{port}/x.xml")
        path = with_polling(
            config_factory(urls, receiver.url), host_gap='"300ms"', host_concurrency="1"
        )
        # the test config sets host_gap = 0 first; the settings added above come first and
        # TOML forbids duplicates, so drop the defaults
        text = path.read_text().replace("host_gap = 0 ", "# ").replace("host_concurrency = 20", "")
        path.write_text(text)
        async with service_for(path, FixedClock(T0)) as (service, _out):
            await service.poll_all()
        ip = sorted(starts["127.0.0.1"])
        assert len(ip) == 4
        gaps = [b - a for a, b in itertools.pairwise(ip)]
        assert min(gaps) >= 0.29, gaps
        assert starts["localhost"] and starts["localhost"][0] - ip[0] < 0.29
    finally:
        await runner.cleanup()


async def test_host_slots_are_taken_in_turn_and_a_cancelled_wait_gives_its_turn_on() -> None:
    """One slot per host: requests wait in the order they came; one cancelled while waiting,
    or cancelled once handed the slot but before it ran, passes the turn on; another host is
    not held back; nothing is kept once every request is done."""
    limiter = HostLimiter(1, 0.0)
    order: list[str] = []
    release = asyncio.Event()
    waiting: list[asyncio.Task[None]] = []

    async def request(name: str, url: str = "http://a.example/feed") -> None:
        async with limiter.slot(url):
            order.append(name)
            if name == "first":
                await release.wait()
        if name == "first":  # the slot is handed to "third": cancelled before it runs
            waiting[1].cancel()

    first = asyncio.create_task(request("first"))
    await asyncio.sleep(0)
    waiting += [asyncio.create_task(request(n)) for n in ("second", "third", "fourth", "fifth")]
    other = asyncio.create_task(request("other host", "http://b.example/feed"))
    await asyncio.sleep(0)
    assert order == ["first", "other host"]
    waiting[0].cancel()  # cancelled while waiting
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *waiting, other, return_exceptions=True), 5)
    assert order == ["first", "other host", "fourth", "fifth"]
    assert [t.cancelled() for t in waiting] == [True, True, False, False]
    assert len(limiter) == 0


async def test_a_permanent_redirect_updates_the_stored_url(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    new = feed_server.set("new.xml", rss([GRAIN]))
    old = feed_server.set(
        "old.xml", b"", status=301, headers={"Location": "/new.xml"}, conditional=False
    )
    temp = feed_server.set(
        "temp.xml", b"", status=302, headers={"Location": "/new.xml"}, conditional=False
    )
    clock = FixedClock(T0)
    async with service_for(config_factory([old, temp], receiver.url), clock) as (service, out):
        await service.poll_all()
        rows = {f["config_url"]: f for f in await service.store.feed_report()}
        assert rows[old]["url"] == new, "a 301 moves the feed"
        assert rows[temp]["url"] == temp, "a 302 does not"
        [moved] = events(out, "feed.moved_permanently")
        assert moved["new_url"] == new
        await service.poll_all()
        assert feed_server.requests["/old.xml"] == 1, "the next poll goes to the new URL"


async def test_410_gone_disables_the_feed_visibly(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    url = feed_server.set("gone.xml", b"gone", status=410)
    clock = FixedClock(T0)
    async with service_for(config_factory([url], receiver.url), clock) as (service, out):
        await service.tick()
        await asyncio.gather(*service.in_flight.values())
        clock.advance(30 * 86400)
        assert await service.tick() == 0, "a gone feed is never claimed again"
        [feed] = (await service.status())["feeds"]
        assert feed["state"] == "disabled" and "410" in feed["disabled"]
        assert feed["last_error"]["kind"] == "gone"
        assert events(out, "feed.disabled")
        assert feed_server.requests["/gone.xml"] == 1


async def test_size_limit_mid_stream_and_after_decompression(
    receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)  # chunked: no Content-Length to refuse up front
        for _ in range(100):
            await resp.write(b"<!-- padding -->" * 1024)
        return resp

    bomb = gzip.compress(b"<rss>" + b" " * (5 * 1024 * 1024) + b"</rss>")

    async def gzipped(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}
        )

    app = web.Application()
    app.router.add_get("/endless.xml", endless)
    app.router.add_get("/bomb.xml", gzipped)
    runner, port = await serve(app)
    try:
        urls = [f"http://127.0.0.1:{port}/endless.xml", f"http://127.0.0.1:{port}/bomb.xml"]
        assert len(bomb) < 64 * 1024
        path = with_polling(config_factory(urls, receiver.url), max_bytes='"256KiB"')
        async with service_for(path, FixedClock(T0)) as (service, _out):
            outcomes = await service.poll_all()
        for o in outcomes:
            assert o.error_kind == "too_large", o
            assert "262144 bytes" in (o.error or "")
    finally:
        await runner.cleanup()


async def test_brotli_and_gzip_bodies_are_read(
    receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    body = rss([GUARANTEE, GRAIN])
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Accept-Encoding", ""))
        enc = request.match_info["enc"]
        data = brotli.compress(body) if enc == "br" else gzip.compress(body)
        return web.Response(
            body=data, headers={"Content-Encoding": enc, "Content-Type": "application/rss+xml"}
        )

    app = web.Application()
    app.router.add_get("/{enc}.xml", handler)
    runner, port = await serve(app)
    try:
        urls = [f"http://127.0.0.1:{port}/br.xml", f"http://127.0.0.1:{port}/gzip.xml"]
        async with service_for(config_factory(urls, receiver.url), FixedClock(T0)) as (
            service,
            _out,
        ):
            outcomes = await service.poll_all()
        assert [o.ingest.new for o in outcomes] == [2, 2]
        assert all("br" in s and "gzip" in s and "deflate" in s for s in seen)
    finally:
        await runner.cleanup()


async def test_feeds_go_through_a_configured_proxy(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    proxied: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        proxied.append(str(request.url))
        async with ClientSession() as s, s.get(str(request.url)) as r:
            return web.Response(
                status=r.status, body=await r.read(), content_type="application/rss+xml"
            )

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", forward)
    runner, port = await serve(app)
    try:
        direct = feed_server.set("direct.xml", rss([GRAIN]))
        via = feed_server.set("via.xml", rss([GUARANTEE]))
        path = config_factory([direct], receiver.url)
        path.write_text(
            path.read_text() + f'[[feeds]]\nurl = "{via}"\nproxy = "http://127.0.0.1:{port}"\n'
        )
        async with service_for(path, FixedClock(T0)) as (service, _out):
            outcomes = {o.url: o for o in await service.poll_all()}
        assert outcomes[via].ingest.new == 1 and outcomes[direct].ingest.new == 1
        assert proxied == [via]
        # and globally
        path.write_text(
            path.read_text().replace(
                "[polling]\n", f'[polling]\nproxy = "http://127.0.0.1:{port}"\n'
            )
        )
        proxied.clear()
        async with service_for(path, FixedClock(T0)) as (service, _out):
            await service.poll_all()
        assert sorted(proxied) == sorted([direct, via])
    finally:
        await runner.cleanup()


def test_adaptive_interval_rules() -> None:
    common = {
        "default": 900.0,
        "adaptive": True,
        "min_interval": 300.0,
        "max_interval": 21600.0,
        "server_interval": None,
    }
    hourly = 1 / 3600
    assert choose_interval(explicit=None, rate=hourly, **common) == 1800  # twice per gap
    assert choose_interval(explicit=None, rate=1.0, **common) == 300  # clamped low
    assert choose_interval(explicit=None, rate=1e-9, **common) == 21600  # clamped high
    assert choose_interval(explicit=None, rate=0.0, **common) == 21600
    assert choose_interval(explicit=None, rate=None, **common) == 900  # unknown: default
    assert choose_interval(explicit=60.0, rate=hourly, **common) == 60  # explicit wins
    hinted = {**common, "server_interval": 7200.0}
    assert choose_interval(explicit=None, rate=hourly, **hinted) == 7200  # never below it
    crazy = {**common, "server_interval": 30 * 86400.0}
    assert choose_interval(explicit=None, rate=hourly, **crazy) == 86400  # hint capped
    start = datetime(2026, 11, 1, tzinfo=UTC)
    dates = [start + timedelta(hours=h) for h in range(25)]
    assert initial_rate(dates) == pytest.approx(hourly)
    assert initial_rate([start, None]) is None
    # the weighted rate moves toward what is observed, more for longer spans
    quiet = update_rate(hourly, 0, 86400)
    assert 0 < quiet < hourly
    assert update_rate(hourly, 0, 7 * 86400) < quiet


async def test_adaptive_interval_follows_the_feed_and_server_hints(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    stamp = datetime(2026, 11, 20, tzinfo=UTC)
    items = [
        {
            "guid": f"h{h}",
            "title": f"Hour {h}",
            "pubDate": email.utils.format_datetime(stamp + timedelta(hours=h)),
        }
        for h in range(12)
    ]
    busy = feed_server.set("busy.xml", rss(items))
    hinted = feed_server.set("hinted.xml", rss(items), headers={"Cache-Control": "max-age=7200"})
    path = with_polling(config_factory([busy, hinted], receiver.url))
    path.write_text(path.read_text().replace('interval = "1h"', 'interval = "15m"'))
    async with service_for(path, FixedClock(T0)) as (service, _out):
        await service.poll_all()
        feeds = {f["url"]: f for f in (await service.status())["feeds"]}
    assert feeds[busy]["interval_mode"] == "adaptive"
    assert feeds[busy]["interval_seconds"] == 1800  # hourly publishing -> every 30 min
    assert feeds[busy]["stories_per_week"] == pytest.approx(168, rel=0.01)
    assert feeds[hinted]["interval_seconds"] == 7200  # not below the server's max-age
    assert feeds[hinted]["server_interval_seconds"] == 7200


async def test_the_claim_query_uses_its_index(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    from monitor.store.sqlite import SQLiteStore

    async with service_for(
        config_factory([feed_server.url("a.xml")], receiver.url), FixedClock(T0)
    ) as (service, _out):
        async with service.store.transaction() as db:
            await db.executemany(
                "INSERT INTO feeds (url, config_url, interval, next_poll_at, created_at) "
                "VALUES (?, ?, 900, ?, 0)",
                [(f"http://f{i}.example/", f"http://f{i}.example/", i) for i in range(5000)],
            )
            await db.execute("ANALYZE")
        async with service.store.db.execute(
            "EXPLAIN QUERY PLAN " + SQLiteStore.CLAIM_SQL, (0, 100)
        ) as cur:
            plan = [r["detail"] for r in await cur.fetchall()]
        assert plan == ["SEARCH feeds USING INDEX feeds_due (next_poll_at<?)"], plan
        assert len(await service.store.claim_due_feeds(1e12, 100)) == 100


async def test_conditional_get_against_nginx(
    tmp_path: Path, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    """nginx computes ETag and Last-Modified from the file and answers 304 itself."""
    import os

    from tests.nginx import nginx, nginx_binary

    if nginx_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx-light")
        pytest.skip("nginx is not installed")
    root = tmp_path / "www"
    root.mkdir()
    (root / "a.xml").write_bytes(rss([GRAIN]))
    with nginx(root, tmp_path / "nginx") as port:
        url = f"http://127.0.0.1:{port}/a.xml"
        async with service_for(config_factory([url], receiver.url), FixedClock(T0)) as (
            service,
            _out,
        ):
            first, second = [(await service.poll_all())[0] for _ in range(2)]
            assert (first.result, first.ingest.new) == ("ok", 1)
            assert (second.result, second.status) == ("not_modified", 304)
            (root / "a.xml").write_bytes(rss([GUARANTEE, GRAIN]))
            os.utime(root / "a.xml", (time.time() + 5, time.time() + 5))
            [third] = await service.poll_all()
            assert (third.result, third.ingest.new, third.ingest.alerts) == ("ok", 1, 1)


def test_feed_documents_ask_for_intervals() -> None:
    from monitor.reader.parse import parse_feed

    def doc(channel: str) -> bytes:
        return (
            '<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">'
            f"<channel><title>t</title>{channel}<item><title>x</title></item></channel></rss>"
        ).encode()

    assert parse_feed(doc("<ttl>60</ttl>")).min_interval == 3600
    hourly_twice = (
        "<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>"
    )
    assert parse_feed(doc(hourly_twice)).min_interval == 1800
    assert (
        parse_feed(doc("<ttl>5</ttl><sy:updatePeriod>daily</sy:updatePeriod>")).min_interval
        == 86400
    )
    assert parse_feed(doc("<ttl>soon</ttl>")).min_interval is None
    assert parse_feed(doc("")).min_interval is None


async def test_a_ttl_in_the_document_is_a_floor_of_the_interval(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    body = rss([GRAIN]).replace(b"<description>t</description>", b"<ttl>180</ttl>")
    url = feed_server.set("ttl.xml", body)
    async with service_for(config_factory([url], receiver.url), FixedClock(T0)) as (
        service,
        _out,
    ):
        await service.poll_all()
        await service.poll_all()  # a 304 keeps the document's hint
        [feed] = (await service.status())["feeds"]
    assert feed["server_interval_seconds"] == 10800 and feed["interval_seconds"] == 10800


async def test_a_json_feed_is_polled_like_any_other(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    import json as json_mod

    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JSON desk",
        "items": [
            {"id": "j1", "url": "https://json.example/1", "title": "Kyiv troops plan",
             "content_text": "Ukraine and peacekeepers.", "date_published": "2026-11-26T08:00:00Z"},
            {"id": "j2", "url": "https://json.example/2", "title": "Grain prices",
             "content_html": "<p>Nothing to see.</p>"},
        ],
    }  # fmt: skip
    url = feed_server.set("feed.json", json_mod.dumps(doc).encode(),
                          content_type="application/feed+json")  # fmt: skip
    async with service_for(config_factory([url], receiver.url), FixedClock(T0)) as (
        service,
        _out,
    ):
        [outcome] = await service.poll_all()
        assert (outcome.result, outcome.ingest.new, outcome.ingest.alerts) == ("ok", 2, 1)
        await service.deliverer.deliver_due()
    [hook] = receiver.delivered()
    assert hook["json"]["data"]["story"]["link"] == "https://json.example/1"
    assert hook["json"]["data"]["story"]["published"] == "2026-11-26T08:00:00Z"
