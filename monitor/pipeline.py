"""The one place where the order of the stages of a feed refresh lives.

fetch (conditional GET) -> modified? -> parse (in a worker thread) -> normalize
-> which entries are new / updated / unchanged -> topics -> store (stories, matches, alert
rows and the feed's validators in one transaction) -> wake the delivery loop.

No exception escapes: every failure becomes an error recorded on the feed (kind and
message), logged, and the feed's next poll backs off.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from monitor.clock import Clock
from monitor.config import Config
from monitor.fetch import FetchLimits, FetchResult, fetch
from monitor.models import FeedRow, IngestResult, NewStory, PollUpdate
from monitor.normalize import normalize_entries
from monitor.parse import ParseError, parse_feed
from monitor.store import Store
from monitor.topics import alert_drafts, match_topics, source_label


@dataclass(frozen=True, slots=True)
class Deps:
    store: Store
    session: aiohttp.ClientSession
    clock: Clock
    log: Any
    user_agent: str


@dataclass(frozen=True, slots=True)
class PollOutcome:
    feed_id: int
    url: str
    result: str  # ok | not_modified | error
    status: int | None = None
    error_kind: str | None = None
    error: str | None = None
    ingest: IngestResult = field(default_factory=IngestResult)
    elapsed: float = 0.0


def error_backoff(interval: float, errors: int, cap: float, rng: Any = random.random) -> float:
    """Seconds to the next try after `errors` consecutive errors: grows exponentially from
    min(interval, 5 min), capped, with ±10% jitter. A failing feed is never dropped."""
    base = min(interval, 300.0)
    delay = min(cap, base * 2 ** max(0, errors - 1))
    return float(delay * (0.9 + 0.2 * rng()))


def limits_of(cfg: Config, user_agent: str) -> FetchLimits:
    p = cfg.polling
    return FetchLimits(
        timeout=p.timeout,
        connect_timeout=p.connect_timeout,
        max_bytes=p.max_bytes,
        max_redirects=p.max_redirects,
        user_agent=user_agent,
    )


async def refresh_feed(deps: Deps, cfg: Config, feed: FeedRow) -> PollOutcome:
    try:
        return await _refresh(deps, cfg, feed)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug or a store failure: record it, never kill the daemon
        error = f"{type(exc).__name__}: {exc}"
        deps.log.error(
            "feed.poll_failed",
            feed_url=feed.url,
            feed_id=feed.id,
            error_kind="internal",
            error=error,
            exc_info=True,
        )
        now = deps.clock.now().timestamp()
        next_at = now + error_backoff(
            feed.interval, feed.consecutive_errors + 1, cfg.polling.error_backoff_max
        )
        try:
            await deps.store.record_poll(
                feed.id,
                PollUpdate(
                    result="error",
                    http_status=None,
                    next_poll_at=next_at,
                    error_kind="internal",
                    error=error,
                ),
                now,
            )
        except Exception as exc2:
            deps.log.error(
                "feed.record_failed",
                feed_url=feed.url,
                feed_id=feed.id,
                error=f"{type(exc2).__name__}: {exc2}",
            )
        return PollOutcome(feed.id, feed.url, "error", error_kind="internal", error=error)


async def _refresh(deps: Deps, cfg: Config, feed: FeedRow) -> PollOutcome:
    res = await fetch(
        deps.session,
        feed.url,
        limits_of(cfg, deps.user_agent),
        etag=feed.etag,
        last_modified=feed.last_modified,
    )
    now = deps.clock.now().timestamp()
    moved = res.permanent_url if res.permanent_url and res.permanent_url != feed.url else None
    if moved:
        deps.log.warning(
            "feed.moved_permanently", feed_url=feed.url, feed_id=feed.id, new_url=moved
        )

    if res.error_kind is not None or res.status not in (200, 304):
        return await _record_error(
            deps,
            cfg,
            feed,
            res,
            now,
            res.error_kind or "http",
            res.error or f"HTTP {res.status}",
            moved,
        )

    if res.not_modified:
        return await _record_unchanged(deps, feed, res, now, moved, res.etag, res.last_modified)

    body_hash = hashlib.sha256(res.body).hexdigest()[:32]
    if body_hash == feed.body_hash:  # same bytes as last time: nothing to parse
        return await _record_unchanged(
            deps, feed, res, now, moved, res.etag, res.last_modified, result="ok"
        )
    try:
        parsed = await asyncio.to_thread(
            parse_feed,
            res.body,
            url=res.url,
            content_type=res.content_type,
            max_entries=cfg.polling.max_entries,
        )
    except ParseError as exc:
        return await _record_error(deps, cfg, feed, res, now, exc.kind, str(exc), moved)

    entries = normalize_entries(parsed.entries, res.url)
    known = await deps.store.known_hashes(feed.id, [e.key for e in entries])
    topics, name = cfg.topics, feed.name
    new, updated, unchanged = [], [], 0
    for e in entries:
        old = known.get(e.key)
        if old is None:
            matches = match_topics(topics, e, source_label(name, feed.url, e.link))
            drafts = alert_drafts(
                topics, matches, e, feed_name=name or parsed.title, feed_url=feed.url
            )
            new.append(NewStory(entry=e, matches=tuple(matches), alerts=tuple(drafts)))
        elif old != e.content_hash:
            updated.append(NewStory(entry=e))
        else:
            unchanged += 1
    update = PollUpdate(
        result="ok",
        http_status=200,
        next_poll_at=now + feed.interval,
        etag=res.etag,
        last_modified=res.last_modified,
        url=moved,
        title=parsed.title,
        body_hash=body_hash,
    )
    ingest = await deps.store.ingest(feed.id, update, new, updated, unchanged, now)
    deps.log.info(
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
        **({"parse_warning": parsed.warning} if parsed.warning else {}),
    )
    return PollOutcome(feed.id, feed.url, "ok", status=200, ingest=ingest, elapsed=res.elapsed)


async def _record_unchanged(
    deps: Deps,
    feed: FeedRow,
    res: FetchResult,
    now: float,
    moved: str | None,
    etag: str | None,
    last_modified: str | None,
    result: str = "not_modified",
) -> PollOutcome:
    await deps.store.record_poll(
        feed.id,
        PollUpdate(
            result=result,
            http_status=res.status,
            next_poll_at=now + feed.interval,
            etag=etag,
            last_modified=last_modified,
            url=moved,
        ),
        now,
    )
    deps.log.info(
        "feed.polled",
        feed_url=feed.url,
        feed_id=feed.id,
        result=result,
        status=res.status,
        new=0,
        elapsed_ms=round(res.elapsed * 1000, 1),
    )
    return PollOutcome(feed.id, feed.url, result, status=res.status, elapsed=res.elapsed)


async def _record_error(
    deps: Deps,
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
    await deps.store.record_poll(
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
    getattr(deps.log, level)(
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
