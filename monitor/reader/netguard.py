"""The private-address guard (`polling.allow_private_addresses = false`), in the DNS resolver
of the daemon's one HTTP connector.

`GuardedResolver` wraps aiohttp's default resolver and is the resolver of the single
`TCPConnector` (`guarded_connector`). It keeps the DNS cache (answers for `ttl` seconds,
one lookup in flight per name, addresses rotated between connections as aiohttp's own cache
does) and hands every address of a name to the connector, which tries them in turn (happy
eyeballs). The cache lives here rather than in the connector because the connector answers
cache hits without asking its resolver: here every connection's answer passes the guard.

The design in full: docs/modules.md, `monitor/reader/netguard.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import socket
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

REFUSED = "refused (polling.allow_private_addresses = false)"

_guarding: contextvars.ContextVar[bool] = contextvars.ContextVar("monitor_guarding", default=False)


class Blocked(Exception):
    """The host resolves to an address the configuration refuses."""


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def public_addresses(addresses: list[str]) -> list[str]:
    """The globally routable addresses among `addresses` (no loopback, private, link-local,
    shared, reserved or multicast ranges; IPv4-mapped IPv6 judged by the IPv4 address)."""
    out = []
    for a in addresses:
        ip = _ip(a)
        if ip.is_global and not ip.is_multicast:
            out.append(a)
    return out


def _kind(address: str) -> str:
    ip = _ip(address)
    for kind in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if ip in ipaddress.ip_network("100.64.0.0/10"):
        return "shared"
    return "not public"


def check(host: str, addresses: list[str]) -> None:
    """Raise `Blocked` naming every address of `host` that is not public."""
    public = set(public_addresses(addresses))
    bad = list(dict.fromkeys(a for a in addresses if a not in public))
    if bad:
        which = ", ".join(f"{a} ({_kind(a)})" for a in bad)
        raise Blocked(f"{host} resolves to {which}: not a public address, {REFUSED}")


def check_literal(host: str) -> bool:
    """Check `host` when it is an IP literal (which no resolver sees); False for a name."""
    try:
        _ip(host)
    except ValueError:
        return False
    check(host, [host])
    return True


@contextlib.contextmanager
def guarding(active: bool = True) -> Iterator[None]:
    """Requests made inside (in this task) connect only to public addresses."""
    token = _guarding.set(active)
    try:
        yield
    finally:
        _guarding.reset(token)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver interface around another resolver (aiohttp's default): a DNS
    cache, and the private-address check of every address under `guarding()`."""

    def __init__(
        self,
        inner: AbstractResolver | None = None,
        *,
        ttl: float = 300.0,
        now: Callable[[], float] = time.monotonic,
        max_names: int = 10_000,
    ) -> None:
        self.inner = inner if inner is not None else aiohttp.DefaultResolver()
        self.ttl = ttl
        self.now = now
        self.max_names = max_names
        self._cache: dict[tuple[str, int, int], tuple[float, list[ResolveResult], int]] = {}
        self._pending: dict[tuple[str, int, int], asyncio.Task[list[ResolveResult]]] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        key = (host, port, int(family))
        hit = self._cache.get(key)
        if hit is not None and hit[0] > self.now():
            expires, results, turn = hit
            self._cache[key] = (expires, results, turn + 1)
            results = results[turn % len(results) :] + results[: turn % len(results)]
        else:
            results = list(await self._lookup(key, host, port, family))
        if _guarding.get():
            check(host, [r["host"] for r in results])
        return results

    async def resolve_checked(self, host: str, port: int) -> list[str]:
        """The addresses of `host`, checked (a request through a proxy: the proxy resolves
        the name, the guard checks what it resolves to here)."""
        with guarding():
            family = socket.AF_UNSPEC
            return [r["host"] for r in await self.resolve(host, port, family)]

    async def _lookup(
        self, key: tuple[str, int, int], host: str, port: int, family: socket.AddressFamily
    ) -> list[ResolveResult]:
        task = self._pending.get(key)
        if task is None:  # one lookup per name in flight, shared by its callers
            task = asyncio.ensure_future(self.inner.resolve(host, port, family))
            self._pending[key] = task
            task.add_done_callback(lambda done: self._resolved(key, done))
        return await asyncio.shield(task)

    def _resolved(self, key: tuple[str, int, int], task: asyncio.Task[list[ResolveResult]]) -> None:
        self._pending.pop(key, None)
        if task.cancelled() or task.exception() is not None:
            return  # failures are not cached (as in aiohttp); the callers see the exception
        results = task.result()
        if not results:
            return
        if len(self._cache) >= self.max_names:
            now = self.now()
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self.max_names:
                self._cache.pop(next(iter(self._cache)))
        self._cache[key] = (self.now() + self.ttl, results, 1)

    def clear(self) -> None:
        self._cache.clear()

    async def close(self) -> None:
        await self.inner.close()


_resolvers: weakref.WeakKeyDictionary[aiohttp.BaseConnector, GuardedResolver] = (
    weakref.WeakKeyDictionary()
)


def guarded_connector(
    resolver: GuardedResolver | None = None, **kwargs: Any
) -> aiohttp.TCPConnector:
    """The daemon's TCP connector, resolving through a `GuardedResolver` (its DNS cache
    replaces the connector's own, see the module's docstring)."""
    resolver = resolver if resolver is not None else GuardedResolver()
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, **kwargs)
    _resolvers[connector] = resolver
    return connector


def resolver_of(session: aiohttp.ClientSession) -> GuardedResolver | None:
    """The guarded resolver of the session's connector, None when it has none."""
    connector = session.connector
    return _resolvers.get(connector) if connector is not None else None
