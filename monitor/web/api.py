"""The JSON API under /api/ (the document at /api/openapi.json describes every answer)."""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from monitor import __version__
from monitor import reads as queries
from monitor.clock import iso
from monitor.reads.readers import Reader
from monitor.topics import feedback_actions
from monitor.topics.feedback import FeedbackError
from monitor.web.context import READER, WEB, WebSource, store_of
from monitor.web.openapi import document
from monitor.web.params import ParamError, Params

MAX_LIMIT = 200
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data,
        status=status,
        dumps=lambda o: json.dumps(o, ensure_ascii=False, separators=(",", ":")),
        headers={"Cache-Control": "no-store"},
    )


def error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def handles_errors(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (ParamError, queries.BadCursor) as exc:
            return error(400, str(exc))

    return wrapped


def _ctx(request: web.Request) -> tuple[WebSource, Reader, Params]:
    return request.app[WEB], request.app[READER], Params(request)


def _limit(p: Params) -> int:
    return p.integer("limit", 50, 1, MAX_LIMIT)


def _cursor(p: Params) -> str | None:
    return p.text("cursor", 1000)


# Feed counts per state are one pass over the feeds table, which grows with the feeds: a
# dashboard refreshed by several people reuses them for this many seconds.
COUNTS_TTL = 5.0
_counts_cache: weakref.WeakKeyDictionary[Reader, tuple[float, int, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


async def feed_counts(source: WebSource, db: Reader) -> dict[str, Any]:
    failing_after = source.config.polling.failing_after
    hit = _counts_cache.get(db)
    if hit is not None and time.monotonic() < hit[0] and hit[1] == failing_after:
        return hit[2]
    counts = await queries.feed_counts(db, failing_after)
    _counts_cache[db] = (time.monotonic() + COUNTS_TTL, failing_after, counts)
    return counts


async def overview_data(source: WebSource, db: Reader) -> dict[str, Any]:
    now = source.clock.now().timestamp()
    counts = await feed_counts(source, db)
    return {
        "version": __version__,
        "now": iso(now),
        **counts,
        "topics": len(source.config.topics),
        "alerts": await queries.alert_summary(db, now),
        "hourly": await queries.hourly(db, now),
    }


@handles_errors
async def overview(request: web.Request) -> web.StreamResponse:
    source, db, _ = _ctx(request)
    return _json(await overview_data(source, db))


@handles_errors
async def feeds(request: web.Request) -> web.StreamResponse:
    source, db, p = _ctx(request)
    page = await queries.feeds_page(
        db,
        failing_after=source.config.polling.failing_after,
        state=p.choice("state", queries.FEED_STATES),
        sort=p.choice("sort", tuple(queries.FEED_SORTS), queries.DEFAULT_FEED_SORT)
        or queries.DEFAULT_FEED_SORT,
        limit=_limit(p),
        cursor=_cursor(p),
    )
    return _json(page.as_dict())


@handles_errors
async def feed(request: web.Request) -> web.StreamResponse:
    source, db, p = _ctx(request)
    found = await queries.feed(db, p.path_id("feed_id"), source.config.polling.failing_after)
    return error(404, "no such feed") if found is None else _json(found)


def _writable(source: WebSource) -> web.Response | None:
    if source.token() is None:
        return error(
            403,
            "read-only: changes need a [server] token in the configuration "
            "(then send it as Authorization: Bearer <token>)",
        )
    return None


def _same_origin(request: web.Request) -> web.Response | None:
    """A browser behind a proxy that adds the token must not be made to POST by another
    site (the proxy would lend it the token): refuse cross-site requests."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return error(403, "cross-site requests are refused")
    return None


def _pause(paused: bool) -> Handler:
    @handles_errors
    async def handler(request: web.Request) -> web.StreamResponse:
        source, db, p = _ctx(request)
        refused = _writable(source) or _same_origin(request)
        if refused is not None:
            return refused
        feed_id = p.path_id("feed_id")
        now = source.clock.now().timestamp()
        if not await store_of(request.app).set_paused(feed_id, paused, now):
            return error(404, "no such feed")
        _counts_cache.pop(db, None)
        found = await queries.feed(db, feed_id, source.config.polling.failing_after)
        assert found is not None
        return _json(found)

    return handler


@handles_errors
async def topics(request: web.Request) -> web.StreamResponse:
    source, db, _ = _ctx(request)
    return _json({"items": await topic_list(source, db)})


async def topic_list(source: WebSource, db: Reader) -> list[dict[str, Any]]:
    stats = await queries.topic_stats(db)
    return [
        {
            "id": t.id,
            "name": t.name,
            "query": t.query,
            "match": t.match,
            "sinks": list(t.sinks),
            "matches": stats.get(t.id, {}).get("matches", 0),
            "last_match": stats.get(t.id, {}).get("last_match"),
        }
        for t in source.config.topics
    ]


def _topic_page(list_page: Any) -> Any:
    """A handler for one topic's keyset list (`list_page(db, topic_id, limit=, cursor=)`):
    404 for an unknown topic, else the topic and the page."""

    @handles_errors
    async def handler(request: web.Request) -> web.StreamResponse:
        source, db, p = _ctx(request)
        topic_id = p.path_text("topic_id")
        topic = next((t for t in await topic_list(source, db) if t["id"] == topic_id), None)
        if topic is None:
            return error(404, "no such topic")
        page = await list_page(db, topic_id, limit=_limit(p), cursor=_cursor(p))
        return _json({"topic": topic, **page.as_dict()})

    return handler


timeline = _topic_page(queries.timeline)
developments = _topic_page(queries.developments_page)


@handles_errors
async def stories(request: web.Request) -> web.StreamResponse:
    _, db, p = _ctx(request)
    feed_id = p.integer("feed", 0, 1, 2**63 - 1) if "feed" in request.query else None
    page = await queries.stories_page(
        db,
        q=p.text("q", 500),
        since=p.time("since"),
        until=p.time("until"),
        feed_id=feed_id,
        limit=_limit(p),
        cursor=_cursor(p),
    )
    return _json(page.as_dict())


@handles_errors
async def alerts(request: web.Request) -> web.StreamResponse:
    _, db, p = _ctx(request)
    page = await queries.alerts_page(
        db, state=p.choice("state", queries.ALERT_STATES), limit=_limit(p), cursor=_cursor(p)
    )
    return _json(page.as_dict())


@handles_errors
async def alert(request: web.Request) -> web.StreamResponse:
    _, db, p = _ctx(request)
    found = await queries.alert(db, p.path_text("alert_id"))
    return error(404, "no such alert") if found is None else _json(found)


@handles_errors
async def requeue(request: web.Request) -> web.StreamResponse:
    source, db, p = _ctx(request)
    refused = _writable(source) or _same_origin(request)
    if refused is not None:
        return refused
    alert_id = p.path_text("alert_id")
    found = await queries.alert(db, alert_id)
    if found is None:
        return error(404, "no such alert")
    now = source.clock.now().timestamp()
    if not await store_of(request.app).requeue_dead([alert_id], now):
        return error(
            409, f"the alert is {found['state']}, not dead: only dead letters are re-queued"
        )
    source.deliverer.kick()
    again = await queries.alert(db, alert_id)
    assert again is not None
    return _json(again)


MAX_BODY = 10_000  # bytes of a feedback request


async def _body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or FeedbackError saying what is wrong with it."""
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise FeedbackError(f"the body is over {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise FeedbackError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise FeedbackError("the body must be a JSON object")
    unknown = sorted(set(body) - {"story_id", "alert_id", "verdict"})
    if unknown:
        raise FeedbackError(f"unknown field {unknown[0]!r} (story_id, alert_id, verdict)")
    return body


def _feedback_target(body: dict[str, Any]) -> tuple[int | None, str | None]:
    """(story_id, alert_id) of a feedback request; each, when given, must be one."""
    story_id, alert_id = body.get("story_id"), body.get("alert_id")
    if "story_id" in body and (
        isinstance(story_id, bool) or not isinstance(story_id, int) or not 1 <= story_id < 2**63
    ):
        raise FeedbackError(f"story_id must be a story's id (a positive integer), not {story_id!r}")
    if "alert_id" in body and (not isinstance(alert_id, str) or not 0 < len(alert_id) <= 200):
        raise FeedbackError(f"alert_id must be an alert's id (msg_…), not {alert_id!r}")
    return story_id, alert_id


def _feedback_error(exc: FeedbackError) -> web.Response:
    return error(404 if isinstance(exc, feedback_actions.NotFound) else 400, str(exc))


@handles_errors
async def feedback_list(request: web.Request) -> web.StreamResponse:
    source, _, p = _ctx(request)
    try:
        rows = await feedback_actions.listing(
            store_of(request.app), source.config, p.path_text("topic_id")
        )
    except FeedbackError as exc:
        return _feedback_error(exc)
    return _json({"items": [f.as_dict() for f in rows]})


@handles_errors
async def feedback_add(request: web.Request) -> web.StreamResponse:
    """Mark a story (or an alert's story) relevant or not relevant for the topic: stories
    detected from now on that are like it are matched, or not (monitor/topics/feedback.py)."""
    source, _, p = _ctx(request)
    refused = _writable(source) or _same_origin(request)
    if refused is not None:
        return refused
    topic_id = p.path_text("topic_id")
    try:
        feedback_actions.check_topic(source.config, topic_id)
        body = await _body(request)
        story_id, alert_id = _feedback_target(body)
        done = await feedback_actions.give(
            store_of(request.app), source.config, topic_id, body.get("verdict"),
            source.clock.now().timestamp(), story_id=story_id, alert_id=alert_id,
        )  # fmt: skip
    except FeedbackError as exc:
        return _feedback_error(exc)
    return _json(done.as_dict(), status=201)


@handles_errors
async def feedback_delete(request: web.Request) -> web.StreamResponse:
    source, _, p = _ctx(request)
    refused = _writable(source) or _same_origin(request)
    if refused is not None:
        return refused
    try:
        gone = await feedback_actions.take_back(
            store_of(request.app), source.config, p.path_text("topic_id"),
            p.path_id("feedback_id"),
        )  # fmt: skip
    except FeedbackError as exc:
        return _feedback_error(exc)
    return _json(gone.as_dict())


async def openapi(request: web.Request) -> web.StreamResponse:
    return _json(document(__version__))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/openapi.json", openapi, allow_head=False)
    r.add_get("/api/overview", overview, allow_head=False)
    r.add_get("/api/feeds", feeds, allow_head=False)
    r.add_get("/api/feeds/{feed_id}", feed, allow_head=False)
    r.add_post("/api/feeds/{feed_id}/pause", _pause(True))
    r.add_post("/api/feeds/{feed_id}/resume", _pause(False))
    r.add_get("/api/topics", topics, allow_head=False)
    r.add_get("/api/topics/{topic_id}/timeline", timeline, allow_head=False)
    r.add_get("/api/topics/{topic_id}/developments", developments, allow_head=False)
    r.add_get("/api/topics/{topic_id}/feedback", feedback_list, allow_head=False)
    r.add_post("/api/topics/{topic_id}/feedback", feedback_add)
    r.add_delete("/api/topics/{topic_id}/feedback/{feedback_id}", feedback_delete)
    r.add_get("/api/stories", stories, allow_head=False)
    r.add_get("/api/alerts", alerts, allow_head=False)
    r.add_get("/api/alerts/{alert_id}", alert, allow_head=False)
    r.add_post("/api/alerts/{alert_id}/requeue", requeue)
