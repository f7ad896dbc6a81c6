"""The full-text loop: new stories of `full_text` feeds get their article page's text.

A story is stored at once with `text_state = 'pending'`; this loop (woken by the pipeline
after an ingest, and on a beat) claims the due ones, fetches each page with
:func:`stories.fulltext.fetch_article` (robots.txt, per-host politeness, limits), and records
the text or why there is none. A failed page is tried again with backoff up to
`full_text.attempts` times, then the story keeps its summary. Each recorded outcome wakes the
detection stage: a story waiting for its text is detected with it; one already detected
(it waited longer than `full_text.wait`) is detected again once with it (`late`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from monitor.clock import Clock, nap
from monitor.config import Config
from monitor.reader.fetch import FetchLimits
from monitor.reader.politeness import HostLimiter
from monitor.store import StoryStore
from monitor.stories.fulltext import Article, Robots, fetch_article
from monitor.topics.compiled import Settings

LEASE = 300.0  # a claimed page is not claimed again for this long (a crash mid-fetch)
RETRY_BASE = 60.0  # first retry of a failed page; doubles per attempt, at most a day
BEAT = 5.0


class Enricher:
    def __init__(
        self,
        store: StoryStore,
        session: aiohttp.ClientSession,
        clock: Clock,
        log: Any,
        hosts: HostLimiter,
        user_agent: str,
    ) -> None:
        self.store = store
        self.session = session
        self.clock = clock
        self.log = log
        self.hosts = hosts
        self.user_agent = user_agent
        self.robots = Robots(session, hosts)
        self.counts = {"ok": 0, "not_article": 0, "blocked": 0, "failed": 0, "retried": 0}
        self._wake = asyncio.Event()

    def kick(self) -> None:
        self._wake.set()

    def limits(self, cfg: Config) -> FetchLimits:
        return FetchLimits(
            timeout=cfg.full_text.timeout,
            connect_timeout=cfg.polling.connect_timeout,
            max_bytes=cfg.full_text.max_bytes,
            max_redirects=cfg.polling.max_redirects,
            user_agent=self.user_agent,
            allow_private=cfg.polling.allow_private_addresses,
        )

    async def run(
        self, stop: asyncio.Event, settings: Settings, detected: Callable[[], Any]
    ) -> None:
        """Until `stop`: claim due pages, fetch them, record; `detected()` is called (and
        awaited) after each round that recorded something."""
        while not stop.is_set():
            self._wake.clear()
            try:
                done = await self.round(settings.config)
            except Exception as exc:  # the store failed: log, pause, go on
                self.log.error("fulltext.round_failed", error=f"{type(exc).__name__}: {exc}")
                done = 0
            if done:
                await detected()
                continue
            await nap(self._wake, stop, await self._until_due())

    async def _until_due(self) -> float:
        """Seconds to sleep: until the next page is due, at most a beat (a kick wakes it)."""
        try:
            due = await self.store.next_text_due()
        except Exception:
            return BEAT
        if due is None:
            return BEAT
        return min(BEAT, max(0.05, due - self.clock.now().timestamp()))

    async def round(self, cfg: Config) -> int:
        """Fetch the pages due now (at most a batch); returns how many were recorded. A read
        first: no write transaction while nothing is due (most feeds fetch no pages)."""
        now = self.clock.now().timestamp()
        next_due = await self.store.next_text_due()
        if next_due is None or next_due > now:
            return 0
        due = await self.store.claim_texts(now, cfg.full_text.concurrency * 4, LEASE)
        if not due:
            return 0
        limits = self.limits(cfg)
        slots = asyncio.Semaphore(cfg.full_text.concurrency)

        async def one(story_id: int, feed_id: int, link: str, attempts: int) -> None:
            async with slots:
                article = await fetch_article(self.session, link, limits, self.hosts, self.robots)
            await self._record(cfg, story_id, feed_id, link, attempts, article)

        await asyncio.gather(*(one(*row) for row in due))
        return len(due)

    async def _record(
        self, cfg: Config, story_id: int, feed_id: int, link: str, attempts: int, a: Article
    ) -> None:
        now = self.clock.now().timestamp()
        if a.state == "failed" and attempts + 1 < cfg.full_text.attempts:
            delay = min(86400.0, max(a.retry_after or 0.0, RETRY_BASE * 2**attempts))
            await self.store.record_text(story_id, "pending", None, a.error, now, now + delay)
            self.counts["retried"] += 1
            self.log.warning(
                "fulltext.retry", story_id=story_id, feed_id=feed_id, url=link,
                error=a.error, retry_in_s=round(delay, 1),
            )  # fmt: skip
            return
        await self.store.record_text(story_id, a.state, a.text, a.error, now)
        self.counts[a.state] += 1
        if a.state == "ok":
            self.log.info(
                "fulltext.fetched", story_id=story_id, feed_id=feed_id, url=link,
                words=len((a.text or "").split()),
            )  # fmt: skip
        else:
            self.log.warning(
                "fulltext.none", story_id=story_id, feed_id=feed_id, url=link,
                state=a.state, error=a.error,
            )  # fmt: skip
