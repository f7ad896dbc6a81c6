"""Hostile input gets a clear per-feed error, bounded time and memory, and no effect on other
feeds: private addresses refused on request, slow and endless bodies, huge declared lengths,
redirect loops and non-HTTP redirects, entity expansion and external entities, deep nesting,
enormous documents, and links to javascript:/file: URLs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web

from monitor.clock import FixedClock
from monitor.reader.fetch import public_addresses
from tests.conftest import FeedServer, Receiver, rss, serve
from tests.test_pipeline import GRAIN, GUARANTEE, T0, service_for
from tests.test_polling import with_polling


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True), ("2001:4860:4860::8888", True),
        ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False),
        ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
        ("0.0.0.0", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
        ("::ffff:10.0.0.1", False), ("224.0.0.1", False), ("fe80::1%eth0", False),
    ],
)  # fmt: skip
def test_public_addresses(address: str, public: bool) -> None:
    assert public_addresses([address]) == ([address] if public else [])


async def test_private_addresses_can_be_refused(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    by_ip = feed_server.set("a.xml", rss([GRAIN]))
    by_name = feed_server.url("b.xml").replace("127.0.0.1", "localhost")
    feed_server.set("b.xml", rss([GRAIN]))
    path = with_polling(
        config_factory([by_ip, by_name], receiver.url), allow_private_addresses="false"
    )
    async with service_for(path, FixedClock(T0)) as (service, _out):
        outcomes = {o.url: o for o in await service.poll_all()}
    for url in (by_ip, by_name):
        assert outcomes[url].error_kind == "blocked", outcomes[url]
        assert "allow_private_addresses" in (outcomes[url].error or "")
    assert feed_server.requests == {}, "no request was sent"
    # the default allows them (most deployments poll an intranet too)
    async with service_for(config_factory([by_ip], receiver.url), FixedClock(T0)) as (
        service,
        _out,
    ):
        [ok] = await service.poll_all()
    assert ok.result == "ok"


async def _raw_server(response: bytes, trickle: float = 0.0) -> tuple[asyncio.Server, int]:
    """A TCP server that answers every request with `response` bytes (optionally a byte at a
    time), for what aiohttp's server would not send."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if trickle:
                for i in range(len(response)):
                    writer.write(response[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(trickle)
            else:
                writer.write(response)
                await writer.drain()
                await asyncio.sleep(5)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_hostile_servers_get_classified_errors_and_others_keep_working(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    good = feed_server.set("good.xml", rss([GUARANTEE]))
    loop_a = feed_server.set(
        "loop-a.xml", b"", status=302, headers={"Location": "/loop-b.xml"}, conditional=False
    )
    feed_server.set(
        "loop-b.xml", b"", status=302, headers={"Location": "/loop-a.xml"}, conditional=False
    )
    to_file = feed_server.set(
        "file.xml", b"", status=301, headers={"Location": "file:///etc/passwd"}, conditional=False
    )
    huge, huge_port = await _raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
        b"Content-Length: 5000000000\r\n\r\n<rss>"
    )
    slow, slow_port = await _raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 200\r\n\r\n"
        + b"<" * 200,
        trickle=0.05,
    )
    silent, silent_port = await _raw_server(b"")  # accepts, reads, never answers
    urls = [
        good,
        loop_a,
        to_file,
        f"http://127.0.0.1:{huge_port}/huge.xml",
        f"http://127.0.0.1:{slow_port}/slow.xml",
        f"http://127.0.0.1:{silent_port}/x.xml",
    ]
    try:
        path = config_factory(urls, receiver.url)
        path.write_text(path.read_text().replace('timeout = "5s"', 'timeout = "1500ms"', 1))
        async with service_for(path, FixedClock(T0)) as (service, _out):
            outcomes = {o.url: o for o in await service.poll_all()}
            assert await service.deliverer.deliver_due() == 1
    finally:
        for server in (huge, slow, silent):
            server.close()
    kinds = {url: (o.error_kind, o.error) for url, o in outcomes.items()}
    assert outcomes[good].ingest.alerts == 1
    assert kinds[loop_a][0] == "redirect" and "more than 5 redirects" in kinds[loop_a][1]
    assert kinds[to_file][0] == "redirect" and "non-HTTP" in kinds[to_file][1]
    assert kinds[urls[3]][0] == "too_large" and "5000000000" in kinds[urls[3]][1]
    assert kinds[urls[4]][0] == "timeout", kinds[urls[4]]
    assert kinds[urls[5]][0] == "timeout", kinds[urls[5]]


PROBE = textwrap.dedent("""
    import resource, sys, time
    from monitor.reader.parse import ParseError, parse_feed
    from monitor.reader.normalize import normalize_entries
    body = sys.stdin.buffer.read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    try:
        parsed = parse_feed(body, url="http://feeds.example/x.xml", max_entries=1000)
        entries = normalize_entries(parsed.entries, "http://feeds.example/x.xml")
        text = " ".join(e.title + " " + e.summary + " " + (e.link or "") for e in entries)
        outcome = f"ok {len(entries)}"
    except ParseError as exc:
        text, outcome = "", f"error {exc.kind}"
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(outcome, round(grown, 1), round(time.monotonic() - t0, 2),
          "LEAK" if "root:" in text else "clean")
""")


def probe(body: bytes) -> tuple[str, float, float, str]:
    """Parse `body` in a fresh process; returns (outcome, MB grown, seconds, leak flag)."""
    res = subprocess.run(
        [sys.executable, "-c", PROBE], input=body, capture_output=True, timeout=120, check=False
    )
    assert res.returncode == 0, res.stderr.decode()
    outcome, count_or_kind, grown, seconds, leak = res.stdout.decode().split()
    return f"{outcome} {count_or_kind}", float(grown), float(seconds), leak


def _items(n: int, title: str = "t") -> str:
    return "".join(f"<item><guid>g{i}</guid><title>{title}{i}</title></item>" for i in range(n))


HOSTILE = {
    "billion-laughs": (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        + ']><rss version="2.0"><channel><title>x</title>'
        "<item><title>&j;</title></item></channel></rss>"
    ).encode(),
    "xxe": (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><title>x</title>'
        b"<item><title>leak &xxe;</title><description>&xxe;</description></item>"
        b"</channel></rss>"
    ),
    "deep-nesting": (
        '<rss version="2.0"><channel><title>x</title><item><title>deep</title><description>'
        + "<div>" * 100_000
        + "x"
        + "</div>" * 100_000
        + "</description></item></channel></rss>"
    ).encode(),
    "100k-entries": (
        f'<rss version="2.0"><channel><title>x</title>{_items(100_000)}</channel></rss>'
    ).encode(),
    "huge-field": (
        '<rss version="2.0"><channel><title>x</title><item><title>'
        + "w " * 2_000_000
        + "</title></item></channel></rss>"
    ).encode(),
    "binary": bytes(range(256)) * 4000,
    "invalid-utf8": (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>'
        b"<item><title>caf\xe9 \xff\xfe ok</title></item></channel></rss>"
    ),
    "javascript-links": (
        b'<rss version="2.0"><channel><title>x</title>'
        b"<item><title>a</title><link>javascript:alert(1)</link></item>"
        b"<item><title>b</title><link>file:///etc/passwd</link></item></channel></rss>"
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_documents_are_bounded(name: str) -> None:
    outcome, grown_mb, seconds, leak = probe(HOSTILE[name])
    assert leak == "clean", "no local file is ever read"
    assert grown_mb < 64, f"{name}: grew {grown_mb} MB"
    assert seconds < 60, f"{name}: took {seconds} s"
    if name == "100k-entries":
        assert outcome == "ok 1000", outcome  # max_entries
    if name in ("binary",):
        assert outcome.startswith("error"), outcome


def test_dangerous_links_never_reach_an_entry() -> None:
    from monitor.reader.normalize import normalize_entries
    from monitor.reader.parse import parse_feed

    entries = normalize_entries(parse_feed(HOSTILE["javascript-links"]).entries, "http://x/")
    assert [e.link for e in entries] == [None, None]


async def test_a_hanging_receiver_does_not_delay_other_sinks(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3)  # the sink's timeout is 1 s
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hang)
    runner, port = await serve(app)
    try:
        url = feed_server.set("a.xml", rss([GUARANTEE]))
        path = config_factory([url], receiver.url)
        text = path.read_text().replace('sinks = ["ops"]', 'sinks = ["ops", "slow"]')
        text += f'\n[[sinks]]\nid = "slow"\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\ntimeout = "1s"\n'
        path.write_text(text)
        async with service_for(path, FixedClock(T0)) as (service, out):
            await service.poll_all()
            delivered = await service.deliverer.deliver_due()
        assert delivered == 1 and len(receiver.delivered()) == 1
        assert "timeout" in out.getvalue()
    finally:
        await runner.cleanup()


async def test_a_redirect_to_a_private_address_is_refused(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check runs on every hop. No public address exists here, so the test lets
    127.0.0.1 stand for the internet (the classification itself is tested above) and
    redirects to 127.0.0.2, which stands for the private network."""
    import monitor.reader.netguard

    monkeypatch.setattr(
        monitor.reader.netguard,
        "public_addresses",
        lambda addrs: [a for a in addrs if a == "127.0.0.1"],
    )
    ok = feed_server.set("ok.xml", rss([GRAIN]))
    hop = feed_server.set(
        "hop.xml", b"", status=302, conditional=False,
        headers={"Location": f"http://127.0.0.2:{feed_server.port}/ok.xml"},
    )  # fmt: skip
    path = with_polling(config_factory([ok, hop], receiver.url), allow_private_addresses="false")
    async with service_for(path, FixedClock(T0)) as (service, _out):
        outcomes = {o.url: o for o in await service.poll_all()}
    assert outcomes[ok].result == "ok", "the checked connection goes ahead"
    assert outcomes[hop].error_kind == "blocked" and "127.0.0.2" in (outcomes[hop].error or "")
    assert feed_server.requests["/hop.xml"] == 1 and feed_server.requests["/ok.xml"] == 1
