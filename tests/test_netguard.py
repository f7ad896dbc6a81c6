"""The private-address guard in the HTTP connector's resolver: every address a name resolves
to is checked, through the connector's resolver and its DNS cache, and every address is
there for the connector to try.

DNS is the internet, which these tests cannot reach: `StubDNS` is the resolver the guard
wraps (aiohttp's default one in the daemon), answering from a table and recording lookups.
Connections go to the test's own servers on 127.0.0.1. Where a test needs a name that
resolves to a *public* address and still connects here, it lets 127.0.0.1 stand for the
internet (as tests/test_hostile.py does); the classification itself is tested on real
public and private addresses, without connecting."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

import monitor.reader.netguard
from monitor.clock import FixedClock
from monitor.reader.fetch import FetchLimits, fetch
from monitor.reader.netguard import (
    Blocked,
    GuardedResolver,
    check,
    guarded_connector,
    guarding,
    resolver_of,
)
from tests.conftest import FeedServer, Receiver, rss
from tests.test_pipeline import GRAIN, T0, service_for
from tests.test_polling import with_polling

GUARDED = FetchLimits(timeout=10, connect_timeout=5, allow_private=False)
OPEN = FetchLimits(timeout=10, connect_timeout=5)


class StubDNS(AbstractResolver):
    """A DNS table; records every lookup (host, port)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls.append((host, port))
        await asyncio.sleep(0)  # a lookup takes a turn of the loop
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for address in self.table[host]
        ]

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 stands for the internet; every other address keeps its real class."""
    real = monitor.reader.netguard.public_addresses
    monkeypatch.setattr(
        monitor.reader.netguard,
        "public_addresses",
        lambda addresses: [a for a in addresses if a == "127.0.0.1" or real([a])],
    )


@pytest.fixture
async def session_with() -> AsyncIterator[Callable[[StubDNS], aiohttp.ClientSession]]:
    sessions: list[aiohttp.ClientSession] = []

    def make(dns: StubDNS) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(connector=guarded_connector(GuardedResolver(dns)))
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        await session.close()


@pytest.mark.parametrize(
    ("addresses", "named"),
    [
        (["8.8.8.8", "169.254.169.254"], ["169.254.169.254 (link-local)"]),
        (["2001:4860:4860::8888", "::1"], ["::1 (loopback)"]),
        (["8.8.8.8", "10.0.0.7", "192.168.1.1"], ["10.0.0.7 (private)", "192.168.1.1 (private)"]),
        (["::ffff:10.0.0.1", "1.1.1.1"], ["::ffff:10.0.0.1 (private)"]),
        (["100.64.0.1"], ["100.64.0.1 (shared)"]),
    ],
)
def test_one_forbidden_address_among_public_ones_is_refused_by_name(
    addresses: list[str], named: list[str]
) -> None:
    with pytest.raises(Blocked) as refused:
        check("feed.example", addresses)
    message = str(refused.value)
    assert message.startswith(f"feed.example resolves to {', '.join(named)}: not a public")
    assert "polling.allow_private_addresses = false" in message
    check("feed.example", ["8.8.8.8", "2001:4860:4860::8888"])  # all public: no error


async def test_a_name_with_a_forbidden_address_among_several_is_refused_before_connecting(
    feed_server: FeedServer,
    session_with: Callable[[StubDNS], aiohttp.ClientSession],
    loopback_is_public: None,
) -> None:
    """The old guard tried only the first public address; now one forbidden address of a
    name is enough to refuse it, and no connection is made (the public address here is the
    test's server, which sees no request)."""
    feed_server.set("a.xml", rss([GRAIN]))
    dns = StubDNS({"feed.test": ["127.0.0.1", "10.0.0.7"]})
    session = session_with(dns)
    res = await fetch(session, f"http://feed.test:{feed_server.port}/a.xml", GUARDED)
    assert res.error_kind == "blocked", res
    assert res.error is not None and "feed.test resolves to 10.0.0.7 (private)" in res.error
    assert "127.0.0.1" not in res.error
    assert dns.calls == [("feed.test", feed_server.port)]
    assert feed_server.requests == {}


async def test_the_guard_uses_the_connectors_resolver_and_its_cache(
    feed_server: FeedServer,
    session_with: Callable[[StubDNS], aiohttp.ClientSession],
    loopback_is_public: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feed_server.set("a.xml", rss([GRAIN]))
    dns = StubDNS({"feed.test": ["127.0.0.1"]})
    session = session_with(dns)
    url = f"http://feed.test:{feed_server.port}/a.xml"
    for _ in range(2):
        res = await fetch(session, url, GUARDED)
        assert res.ok, res
    assert dns.calls == [("feed.test", feed_server.port)], "one lookup, then the cache"
    sent = feed_server.request_headers["/a.xml"][0]
    assert sent["Host"] == f"feed.test:{feed_server.port}"
    # the cached answer is checked again on every connection: the same name is refused
    # as soon as the policy refuses its address (here: loopback is no longer "public")
    resolver = resolver_of(session)
    assert resolver is not None
    monkeypatch.setattr(monitor.reader.netguard, "public_addresses", lambda addresses: [])
    with guarding(), pytest.raises(Blocked, match=r"127\.0\.0\.1 \(loopback\)"):
        await resolver.resolve("feed.test", feed_server.port, socket.AF_UNSPEC)
    assert len(dns.calls) == 1


async def test_every_address_of_a_name_is_there_for_the_connector(
    feed_server: FeedServer,
    session_with: Callable[[StubDNS], aiohttp.ClientSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """127.0.0.2 refuses connections (the server listens on 127.0.0.1 only); the connector
    goes on to the next address of the name, where the old guard connected to the first."""
    monkeypatch.setattr(monitor.reader.netguard, "public_addresses", lambda addresses: addresses)
    feed_server.set("a.xml", rss([GRAIN]))
    session = session_with(StubDNS({"feed.test": ["127.0.0.2", "127.0.0.1"]}))
    res = await fetch(session, f"http://feed.test:{feed_server.port}/a.xml", GUARDED)
    assert res.ok, res
    assert feed_server.requests == {"/a.xml": 1}


async def test_private_addresses_are_fetched_when_allowed(
    feed_server: FeedServer, session_with: Callable[[StubDNS], aiohttp.ClientSession]
) -> None:
    """The default (allow_private_addresses = true): the same resolver, no check."""
    feed_server.set("a.xml", rss([GRAIN]))
    dns = StubDNS({"intranet.test": ["127.0.0.1"]})
    res = await fetch(session_with(dns), f"http://intranet.test:{feed_server.port}/a.xml", OPEN)
    assert res.ok, res
    assert dns.calls == [("intranet.test", feed_server.port)]


async def test_a_redirect_to_a_name_with_a_forbidden_address_is_refused(
    feed_server: FeedServer,
    session_with: Callable[[StubDNS], aiohttp.ClientSession],
    loopback_is_public: None,
) -> None:
    port = feed_server.port
    feed_server.set(
        "hop", status=302, conditional=False,
        headers={"Location": f"http://metadata.test:{port}/latest/meta-data"},
    )  # fmt: skip
    dns = StubDNS({"feed.test": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]})
    res = await fetch(session_with(dns), f"http://feed.test:{port}/hop", GUARDED)
    assert res.error_kind == "blocked", res
    assert "metadata.test resolves to 169.254.169.254 (link-local)" in (res.error or "")
    assert feed_server.requests == {"/hop": 1}


async def test_through_a_proxy_the_target_name_is_checked_and_the_proxy_is_not(
    feed_server: FeedServer,
    session_with: Callable[[StubDNS], aiohttp.ClientSession],
) -> None:
    """The proxy (the test's server, on a loopback name the operator configured) resolves
    the target; the guard checks what the target resolves to through the same resolver."""
    feed_server.set("a.xml", rss([GRAIN]))
    dns = StubDNS({"proxy.test": ["127.0.0.1"], "news.test": ["8.8.8.8"], "db.test": ["10.9.8.7"]})
    session = session_with(dns)
    proxy = f"http://proxy.test:{feed_server.port}"
    res = await fetch(session, "http://news.test/a.xml", GUARDED, proxy=proxy)
    assert res.ok, res
    assert feed_server.requests == {"/a.xml": 1}, "sent to the proxy"
    res = await fetch(session, "http://db.test/a.xml", GUARDED, proxy=proxy)
    assert res.error_kind == "blocked" and "db.test resolves to 10.9.8.7" in (res.error or "")
    assert feed_server.requests == {"/a.xml": 1}
    assert ("db.test", 80) in dns.calls and ("news.test", 80) in dns.calls


async def test_a_session_without_the_guarded_resolver_is_refused_not_trusted(
    feed_server: FeedServer,
) -> None:
    url = feed_server.set("a.xml", rss([GRAIN])).replace("127.0.0.1", "localhost")
    async with aiohttp.ClientSession() as session:
        res = await fetch(session, url, GUARDED)
    assert res.error_kind == "blocked"
    assert "no resolver to check addresses" in (res.error or "")
    assert feed_server.requests == {}


async def test_the_cache_shares_one_lookup_and_expires() -> None:
    clock = [0.0]
    dns = StubDNS({"feed.test": ["127.0.0.1", "::1"]})
    resolver = GuardedResolver(dns, ttl=300, now=lambda: clock[0])
    first, second = await asyncio.gather(
        resolver.resolve("feed.test", 80, socket.AF_UNSPEC),
        resolver.resolve("feed.test", 80, socket.AF_UNSPEC),
    )
    assert dns.calls == [("feed.test", 80)] and first == second
    again = await resolver.resolve("feed.test", 80, socket.AF_UNSPEC)
    assert [r["host"] for r in again] == ["::1", "127.0.0.1"], "rotated between connections"
    clock[0] = 301
    await resolver.resolve("feed.test", 80, socket.AF_UNSPEC)
    assert len(dns.calls) == 2
    with pytest.raises(socket.gaierror):
        await resolver.resolve("gone.test", 80, socket.AF_UNSPEC)
    with pytest.raises(socket.gaierror):
        await resolver.resolve("gone.test", 80, socket.AF_UNSPEC)
    assert dns.calls.count(("gone.test", 80)) == 2, "failures are not cached"
    await resolver.close()
    assert dns.closed


async def test_the_daemon_connector_refuses_a_name_with_a_private_address(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    loopback_is_public: None,
) -> None:
    """The daemon's one session resolves through the guarded resolver, which wraps aiohttp's
    default resolver (replaced here by the DNS table)."""
    dns = StubDNS({"ok.test": ["127.0.0.1"], "mixed.test": ["127.0.0.1", "192.168.4.4"]})
    monkeypatch.setattr(aiohttp, "DefaultResolver", lambda: dns)
    feed_server.set("a.xml", rss([GRAIN]))
    ok = f"http://ok.test:{feed_server.port}/a.xml"
    mixed = f"http://mixed.test:{feed_server.port}/a.xml"
    path = with_polling(config_factory([ok, mixed], receiver.url), allow_private_addresses="false")
    async with service_for(path, FixedClock(T0)) as (service, _out):
        outcomes = {o.url: o for o in await service.poll_all()}
    assert outcomes[ok].result == "ok", outcomes[ok]
    assert outcomes[mixed].error_kind == "blocked"
    assert "mixed.test resolves to 192.168.4.4 (private)" in (outcomes[mixed].error or "")
    assert feed_server.requests == {"/a.xml": 1}
    assert dns.closed, "closed with the daemon's session"


async def test_a_pooled_connection_to_a_forbidden_address_is_not_reused_under_the_guard(
    feed_server: FeedServer, session_with: Callable[[StubDNS], aiohttp.ClientSession]
) -> None:
    """An unchecked request (an alert sink, say) leaves a keep-alive connection to a
    private address in the shared pool; a guarded request to the same host name is still
    refused, though reusing that connection would resolve nothing."""
    feed_server.set("hook", b"ok", conditional=False)
    feed_server.set("a.xml", rss([GRAIN]))
    session = session_with(StubDNS({"sink.test": ["127.0.0.1"]}))
    async with session.get(f"http://sink.test:{feed_server.port}/hook") as resp:
        assert await resp.read() == b"ok"
    res = await fetch(session, f"http://sink.test:{feed_server.port}/a.xml", GUARDED)
    assert res.error_kind == "blocked", res
    assert "sink.test resolves to 127.0.0.1 (loopback)" in (res.error or "")
    assert feed_server.requests == {"/hook": 1}


@pytest.mark.parametrize(
    "host", ["2130706433", "127.1", "0x7f.1", "[::ffff:127.0.0.1]", "[::1]", "169.254.169.254"]
)
async def test_loopback_spelt_otherwise_is_refused(host: str) -> None:
    """Legacy numeric IPv4 forms (read by getaddrinfo itself, no DNS query) and IP literals,
    through aiohttp's own default resolver."""
    async with aiohttp.ClientSession(connector=guarded_connector()) as session:
        res = await fetch(session, f"http://{host}:9/feed.xml", GUARDED)
    assert res.error_kind == "blocked", res
    assert "not a public address" in (res.error or "")
