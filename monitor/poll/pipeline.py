"""The one place where the order of the stages of a feed refresh lives.

fetch (conditional GET) -> modified? -> parse (in a worker thread) -> normalize
-> which entries are new / updated (and whether the change matters) / unchanged -> store
(stories, revisions with their diff, the feed's validators in one transaction) -> the
detection stage (duplicates, topics, developments and alert rows for the stories waiting,
in one transaction: monitor/detect/detection.py) -> wake the delivery loop.

No exception escapes: every failure becomes an error recorded on the feed (kind and
message), logged, and the feed's next poll backs off.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import aiohttp

from monitor.clock import Clock
from monitor.config import Config, PollingConfig
from monitor.detect.detection import Detection
from monitor.models import Entry, FeedRow, IngestResult, PollUpdate
from monitor.poll.enrich import Enricher
from monitor.poll.intervals import (
    choose_interval,
    initial_rate,
    jittered,
    server_interval,
    update_rate,
)
from monitor.reader.fetch import FetchLimits, FetchResult, fetch
from monitor.reader.parse import ParsedFeed, ParseError
from monitor.reader.parsestage import ParseStage
from monitor.reader.politeness import HostLimiter
from monitor.store import Store, StoreError
from monitor.stories.diff import RevisionDiff, diff_revisions

NOTHING_STORED = IngestResult()  # immutable: one for every poll that stored nothing


class PollOutcome(NamedTuple):
    feed_id: int
    url: str
    result: str  # ok | not_modified | error
    status: int | None = None
    error_kind: str | None = None
    error: str | None = None
    ingest: IngestResult = NOTHING_STORED
    elapsed: float = 0.0
    parsed: ParsedFeed | None = None  # the document's head (title, hints, hub links) if read


def error_backoff(interval: float, errors: int, cap: float, rng: Any = random.random) -> float:
    """Seconds to the next try after `errors` consecutive errors: grows exponentially from
    min(interval, 5 min), capped, with ±10% jitter. A failing feed is never dropped."""
    base = min(interval, 300.0)
    delay = min(cap, base * 2 ** max(0, errors - 1))
    return float(delay * (0.9 + 0.2 * rng()))


def limits_of(p: PollingConfig, user_agent: str) -> FetchLimits:
    return FetchLimits(
        timeout=p.timeout,
        connect_timeout=p.connect_timeout,
        max_bytes=p.max_bytes,
        max_redirects=p.max_redirects,
        user_agent=user_agent,
        allow_private=p.allow_private_addresses,
    )


class FetchLimitsOf:
    """The fetch limits of the polling configuration in force, the last ones kept by
    identity (a cache keyed by the PollingConfig would hash every field on every poll)."""

    __slots__ = ("_last", "user_agent")

    def __init__(self, user_agent: str) -> None:
        self.user_agent = user_agent
        self._last: tuple[PollingConfig, FetchLimits] | None = None

    def __call__(self, cfg: Config) -> FetchLimits:
        last = self._last
        if last is None or last[0] is not cfg.polling:
            last = self._last = (cfg.polling, limits_of(cfg.polling, self.user_agent))
        return last[1]


def _schedule(
    cfg: Config, feed: FeedRow, now: float, *, rate: float | None, server: float | None
) -> tuple[float, float]:
    """The feed's new interval and its next poll time (with jitter). A feed a WebSub hub
    pushes is polled as a safety net: `websub.poll_interval` is one more floor."""
    p = cfg.polling
    if feed.pushed:
        server = server_interval(server, cfg.websub.poll_interval)
    interval = choose_interval(
        explicit=feed.explicit_interval,
        default=p.interval,
        rate=rate,
        adaptive=p.adaptive,
        min_interval=p.min_interval,
        max_interval=p.max_interval,
        server_interval=server,
    )
    return interval, now + jittered(interval, p.jitter)


def _oldest_first(entry: Entry) -> tuple[bool, float]:
    published = entry.published
    return (published is None, published.timestamp() if published else 0.0)


@dataclass(frozen=True, slots=True)
class Poller:
    """The poll of one feed, and the ingest of one document (polled or pushed), with what they
    need: the store, the HTTP session and its per-host politeness, the parse stage, the
    detection stage and the full-text loop they hand new stories to."""

    store: Store
    session: aiohttp.ClientSession
    clock: Clock
    log: Any
    hosts: HostLimiter
    parser: ParseStage
    detection: Detection
    enricher: Enricher
    limits: FetchLimitsOf  # of the user agent, for the configuration in force

    def via(self, log: Any) -> Poller:
        """The same, logging through `log` (a pushed document's lines say via=push)."""
        return replace(self, log=log)

    async def refresh(self, cfg: Config, feed: FeedRow, proxy: str | None = None) -> PollOutcome:
        """Refresh one feed (through `proxy` when given); never raises but for cancellation."""
        try:
            return await self._refresh(cfg, feed, proxy)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a store failure or a bug: record it, never kill the daemon
            kind = "store" if isinstance(exc, StoreError) else "internal"
            error = str(exc) if kind == "store" else f"{type(exc).__name__}: {exc}"
            self.log.error(
                "feed.poll_failed",
                feed_url=feed.url,
                feed_id=feed.id,
                error_kind=kind,
                error=error,
                exc_info=kind == "internal",
            )
            now = self.clock.now().timestamp()
            next_at = now + error_backoff(
                feed.interval, feed.consecutive_errors + 1, cfg.polling.error_backoff_max
            )
            try:
                await self.store.record_poll(
                    feed.id,
                    PollUpdate(
                        result="error",
                        http_status=None,
                        next_poll_at=next_at,
                        error_kind=kind,
                        error=error,
                    ),
                    now,
                )
            except Exception as exc2:
                self.log.error(
                    "feed.record_failed",
                    feed_url=feed.url,
                    feed_id=feed.id,
                    error=f"{type(exc2).__name__}: {exc2}",
                )
            return PollOutcome(feed.id, feed.url, "error", error_kind=kind, error=error)

    async def _refresh(self, cfg: Config, feed: FeedRow, proxy: str | None) -> PollOutcome:
        async with self.hosts.slot(feed.url):
            res = await fetch(
                self.session,
                feed.url,
                self.limits(cfg),
                etag=feed.etag,
                last_modified=feed.last_modified,
                proxy=proxy,
            )
        now = self.clock.now().timestamp()
        moved = res.permanent_url if res.permanent_url and res.permanent_url != feed.url else None
        if moved:
            self.log.warning(
                "feed.moved_permanently", feed_url=feed.url, feed_id=feed.id, new_url=moved
            )

        if res.status == 410:
            return await self._record_gone(feed, res, now)
        if res.error_kind is not None or res.status not in (200, 304):
            if res.retry_after is not None:
                self.hosts.defer(feed.url, res.retry_after)
            return await self._record_error(cfg, feed, res, now, res.error_kind or "http",
                res.error or f"HTTP {res.status}", moved,
            )  # fmt: skip
        if feed.consecutive_errors:
            self.log.info(
                "feed.recovered", feed_url=feed.url, feed_id=feed.id,
                after_errors=feed.consecutive_errors,
            )  # fmt: skip

        elapsed = now - (feed.last_success_at or now)
        if res.not_modified:
            return await self._record_unchanged(cfg, feed, res, now, moved, elapsed)
        return await self.ingest(cfg, feed, res, now, moved, elapsed)

    async def ingest(
        self,
        cfg: Config,
        feed: FeedRow,
        res: FetchResult,
        now: float,
        moved: str | None = None,
        elapsed: float = 0.0,
    ) -> PollOutcome:
        """The "200 body" half of a refresh: same bytes as last time? -> parse -> which entries
        are new / updated (does the change matter?) / unchanged -> store -> the detection stage
        (duplicates, topics, developments, alerts). `res` is a fetched document, or one a
        WebSub hub pushed (monitor/poll/subscriber.py), read exactly alike. Raises what
        `refresh` catches (a store failure, a bug)."""
        body_hash = hashlib.sha256(res.body).hexdigest()[:32]
        if body_hash == feed.body_hash:  # same bytes as last time: nothing to parse
            return await self._record_unchanged(cfg, feed, res, now, moved, elapsed, result="ok")
        try:  # parse + normalize off the loop (a thread, or a process for large documents)
            stage = await self.parser.run(
                res.body,
                url=res.url,
                content_type=res.content_type,
                max_entries=cfg.polling.max_entries,
            )
        except ParseError as exc:
            return await self._record_error(cfg, feed, res, now, exc.kind, str(exc), moved)

        parsed, entries = stage.feed, stage.entries
        known = await self.store.known_hashes(feed.id, [e.key for e in entries])
        new, changed, unchanged = [], [], 0
        for e in entries:
            old = known.get(e.key)
            if old is None:
                new.append(e)
            elif old != e.content_hash:
                changed.append(e)
            else:
                unchanged += 1
        new.sort(key=_oldest_first)  # stored (and detected) in the order they were published
        updated = await self._revisions(feed, changed)
        if feed.rate is None and feed.last_success_at is None:
            rate = initial_rate([e.published for e in entries])
        else:
            rate = update_rate(feed.rate, len(new), elapsed)
        server = server_interval(res.fresh_for, parsed.min_interval)
        interval, next_at = _schedule(cfg, feed, now, rate=rate, server=server)
        update = PollUpdate(
            result="ok",
            http_status=200,
            next_poll_at=next_at,
            etag=res.etag,
            last_modified=res.last_modified,
            url=moved,
            title=parsed.title,
            body_hash=body_hash,
            interval=interval,
            rate=rate,
            server_interval=server,
        )
        ingest = await self.store.ingest(
            feed.id, update, new, updated, unchanged, now, full_text=feed.full_text
        )
        if ingest.new and feed.full_text:  # their pages: fetched beside, detection waits for them
            self.enricher.kick()
        if ingest.new or ingest.updated:  # duplicates, topics, developments, alerts
            found = await self.detection.process(wait=False)
            ingest = replace(ingest, alerts=found.alerts)
        self.log.info(
            "feed.polled",
            feed_url=feed.url,
            feed_id=feed.id,
            result="ok",
            status=200,
            entries=len(entries),
            new=ingest.new,
            updated=ingest.updated,
            alerts=ingest.alerts,
            elapsed_ms=round(res.elapsed * 1000, 1),
            next_poll_in_s=round(next_at - now, 1),
            **({"parse_warning": parsed.warning} if parsed.warning else {}),
        )
        return PollOutcome(
            feed.id, feed.url, "ok", status=200, ingest=ingest, elapsed=res.elapsed, parsed=parsed
        )

    async def _revisions(
        self, feed: FeedRow, changed: list[Entry]
    ) -> list[tuple[Entry, RevisionDiff]]:
        """Stories whose stored text changed, with what changed (a change that does not matter,
        such as a date or whitespace, is stored in place: no revision, no detection)."""
        if not changed:
            return []
        stored = await self.store.story_texts(feed.id, [e.key for e in changed])
        out = []
        for e in changed:
            old_title, old_text = stored.get(e.key, ("", ""))
            out.append((e, diff_revisions(old_title, old_text, e.title, e.summary)))
        return out

    async def _record_unchanged(
        self,
        cfg: Config,
        feed: FeedRow,
        res: FetchResult,
        now: float,
        moved: str | None,
        elapsed: float,
        result: str = "not_modified",
    ) -> PollOutcome:
        rate = None if feed.rate is None else update_rate(feed.rate, 0, elapsed)
        # the document's own hint (ttl, sy:*) was read with its last 200: keep it until the next
        server = server_interval(res.fresh_for, feed.server_interval)
        interval, next_at = _schedule(cfg, feed, now, rate=rate, server=server)
        await self.store.record_poll(
            feed.id,
            PollUpdate(
                result=result,
                http_status=res.status,
                next_poll_at=next_at,
                etag=res.etag,
                last_modified=res.last_modified,
                url=moved,
                interval=interval,
                rate=rate,
                server_interval=server,
            ),
            now,
            wait=False,  # write-behind: nothing but the feed's bookkeeping rides on it
        )
        if self.log.is_enabled_for(logging.INFO):  # most polls: not built unless written
            self.log.info(
                "feed.polled",
                feed_url=feed.url,
                feed_id=feed.id,
                result=result,
                status=res.status,
                new=0,
                elapsed_ms=round(res.elapsed * 1000, 1),
                next_poll_in_s=round(next_at - now, 1),
            )
        return PollOutcome(feed.id, feed.url, result, status=res.status, elapsed=res.elapsed)

    async def _record_gone(self, feed: FeedRow, res: FetchResult, now: float) -> PollOutcome:
        reason = (
            "HTTP 410 Gone: the publisher removed this feed; it is no longer polled "
            "(remove it from the configuration, or configure its new URL)"
        )
        await self.store.record_poll(
            feed.id,
            PollUpdate(
                result="error", http_status=410, next_poll_at=now, error_kind="gone",
                error=reason, disabled_reason=reason,
            ),
            now,
        )  # fmt: skip
        self.log.error("feed.disabled", feed_url=feed.url, feed_id=feed.id, error=reason)
        return PollOutcome(feed.id, feed.url, "error", status=410, error_kind="gone", error=reason)

    async def _record_error(
        self,
        cfg: Config,
        feed: FeedRow,
        res: FetchResult,
        now: float,
        kind: str,
        message: str,
        moved: str | None,
    ) -> PollOutcome:
        errors = feed.consecutive_errors + 1
        delay = error_backoff(feed.interval, errors, cfg.polling.error_backoff_max)
        if res.retry_after is not None:  # the server said when: never sooner (capped at a day)
            delay = max(delay, min(res.retry_after, 86400.0))
            message = f"{message} (Retry-After: {res.retry_after:g}s)"
        await self.store.record_poll(
            feed.id,
            PollUpdate(
                result="error",
                http_status=res.status,
                next_poll_at=now + delay,
                error_kind=kind,
                error=message,
                url=moved,
            ),
            now,
        )
        level = "error" if errors >= cfg.polling.failing_after else "warning"
        getattr(self.log, level)(
            "feed.poll_failed",
            feed_url=feed.url,
            feed_id=feed.id,
            error_kind=kind,
            error=message,
            status=res.status,
            consecutive_errors=errors,
            retry_in_s=round(delay, 1),
        )
        return PollOutcome(
            feed.id,
            feed.url,
            "error",
            status=res.status,
            error_kind=kind,
            error=message,
            elapsed=res.elapsed,
        )
