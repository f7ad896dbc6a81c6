"""Politeness toward hosts: per host name, a limit of concurrent requests and a minimum gap
between the starts of two requests, and a pause when the host asks for one (Retry-After).

Limits apply to the exact host name (news.example.org), never to a registrable domain: two
publishers on one shared platform do not slow each other down, and one host's Retry-After
does not block its neighbours. Waiting uses the event loop's monotonic time.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from urllib.parse import urlsplit


class Slots:
    """A counting semaphore for the poll path: a free slot is taken at once when no one
    waits (asyncio.Semaphore, on Python 3.11, scans its waiters with a generator on every
    acquire); waiters are served first come, first served, and one cancelled once handed a
    slot passes it on. `async with slots:`, or take() and give()."""

    __slots__ = ("free", "limit", "waiting")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.free = limit  # a slot handed to a waiter that has not run yet is not free
        self.waiting: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        """Take a free slot at once if one is free and no one waits (no coroutine)."""
        if self.free > 0 and not self.waiting:
            self.free -= 1
            return True
        return False

    async def take(self) -> None:
        if self.try_take():
            return
        turn = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        try:
            await turn  # give() hands a slot over
        except BaseException:
            if turn.done() and not turn.cancelled():  # handed over, then cancelled
                self.give()
            else:
                self.waiting.remove(turn)
            raise

    def give(self) -> None:
        """A slot is given up: to the first request still waiting, else freed."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1

    @property
    def unused(self) -> bool:
        return self.free == self.limit and not self.waiting

    async def __aenter__(self) -> None:
        if not self.try_take():
            await self.take()

    async def __aexit__(self, *exc: object) -> None:
        self.give()


class _Host:
    """One host's state: its slots (the concurrency when it was first seen), when the next
    request may start."""

    __slots__ = ("lock", "next_start", "slots")

    def __init__(self, limit: int) -> None:
        self.slots = Slots(limit)
        self.next_start = 0.0  # loop time before which no request may start
        self.lock: asyncio.Lock | None = None  # spaces starts one at a time (gap, pause)


class HostLimiter:
    def __init__(self, concurrency: int, gap: float) -> None:
        self.concurrency = concurrency
        self.gap = gap
        self._hosts: dict[str, _Host] = {}

    def configure(self, concurrency: int, gap: float) -> None:
        """New limits (on reload) apply to hosts first seen from now on."""
        self.concurrency, self.gap = concurrency, gap

    @staticmethod
    @functools.lru_cache(maxsize=65536)
    def host_of(url: str) -> str:
        return (urlsplit(url).hostname or "").lower()

    def defer(self, url: str, seconds: float) -> None:
        """The host asked us to wait (429/503 Retry-After): no request starts before then."""
        host = self._get(self.host_of(url))
        host.next_start = max(host.next_start, asyncio.get_running_loop().time() + seconds)
        self._forget_if_idle(self.host_of(url), host)

    def deferred_for(self, url: str) -> float:
        """Seconds until a request to this URL's host may start (0 when it may now)."""
        host = self._hosts.get(self.host_of(url))
        if host is None:
            return 0.0
        return max(0.0, host.next_start - asyncio.get_running_loop().time())

    def slot(self, url: str) -> _Slot:
        """`async with limiter.slot(url):` waits for the host's turn, then holds one of its
        slots for the request."""
        return _Slot(self, self.host_of(url))

    async def _acquire(self, name: str) -> _Host:
        host = self._get(name)
        if not host.slots.try_take():
            try:
                await host.slots.take()
            except BaseException:
                self._forget_if_idle(name, host)
                raise
        loop = asyncio.get_running_loop()
        if self.gap > 0 or host.next_start > loop.time():
            try:
                if host.lock is None:
                    host.lock = asyncio.Lock()
                async with host.lock:  # starts are spaced one at a time
                    wait = host.next_start - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    host.next_start = max(host.next_start, loop.time() + self.gap)
            except BaseException:
                self._release(name, host)
                raise
        return host

    def _release(self, name: str, host: _Host) -> None:
        host.slots.give()
        self._forget_if_idle(name, host)

    def _get(self, name: str) -> _Host:
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = _Host(self.concurrency)
        return host

    def _forget_if_idle(self, name: str, host: _Host) -> None:
        """Keep memory flat with 100,000 hosts: drop a host nobody holds or waits for once
        its gap and any pause are over."""
        if host.slots.unused and host.next_start <= asyncio.get_running_loop().time():
            self._hosts.pop(name, None)

    def __len__(self) -> int:
        return len(self._hosts)


class _Slot:
    """A class, not @asynccontextmanager: this runs once per poll, and the generator
    machinery costs more than the rest of the limiter."""

    __slots__ = ("_host", "_limiter", "_name")

    def __init__(self, limiter: HostLimiter, name: str) -> None:
        self._limiter, self._name = limiter, name
        self._host: _Host | None = None

    async def __aenter__(self) -> None:
        self._host = await self._limiter._acquire(self._name)

    async def __aexit__(self, *exc: object) -> None:
        if self._host is not None:
            self._limiter._release(self._name, self._host)
