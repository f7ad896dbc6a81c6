"""The status server: an aiohttp application over the running service.

GET /healthz  200 while the main loop runs and the scheduler ticks, else 503
GET /readyz   200 when also the store answers, else 503
GET /status   JSON: version, uptime, per feed its state, per topic its matches, alerts
GET /metrics  Prometheus exposition (text format, or OpenMetrics when the Accept header asks)
GET /          the dashboard; /api/… the JSON API (monitor/web)
GET|POST /websub/<feed id>  a WebSub hub's verification of intent and content deliveries

When a token is configured, everything but /healthz, /readyz and /websub/… requires
`Authorization: Bearer <token>` (compared in constant time); a hub cannot send one, and
the subscriber checks each delivery's signature instead.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from monitor import web as web_ui

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
OPEN_PREFIX = "/websub/"  # hubs call it and cannot send a token: deliveries are signed


class PushTarget(Protocol):
    """The WebSub subscriber, as the callback route sees it (monitor/poll/subscriber.py)."""

    async def callback(
        self,
        feed_id: int,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        read_body: Callable[[int], Awaitable[bytes | None]],
    ) -> tuple[int, str]: ...


class StatusSource(Protocol):
    @property
    def websub(self) -> PushTarget: ...

    def alive(self) -> bool: ...

    async def ready(self) -> bool: ...

    async def status(self) -> dict[str, Any]: ...

    async def metrics_exposition(self, accept: str = "") -> tuple[bytes, str]: ...

    def token(self) -> str | None: ...


SOURCE = web.AppKey("source", StatusSource)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[SOURCE].token()
    if token is None or request.path in OPEN_PATHS or request.path.startswith(OPEN_PREFIX):
        return await handler(request)
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.encode()
    ):
        return web.json_response(
            {"error": "a valid bearer token is required"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="monitor"'},
        )
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    ok = request.app[SOURCE].alive()
    return web.json_response({"status": "ok" if ok else "stalled"}, status=200 if ok else 503)


async def readyz(request: web.Request) -> web.Response:
    ok = await request.app[SOURCE].ready()
    return web.json_response({"status": "ready" if ok else "not ready"}, status=200 if ok else 503)


async def status(request: web.Request) -> web.Response:
    report = await request.app[SOURCE].status()
    return web.json_response(report, dumps=lambda o: json.dumps(o, indent=2, ensure_ascii=False))


async def metrics(request: web.Request) -> web.Response:
    """The exposition in the format the scraper's Accept header asks for (Prometheus
    text, or OpenMetrics), with the library's Content-Type for it."""
    body, content_type = await request.app[SOURCE].metrics_exposition(
        request.headers.get("Accept", "")
    )
    return web.Response(body=body, headers={"Content-Type": content_type})


async def websub_callback(request: web.Request) -> web.Response:
    """A WebSub hub's verification (GET) or content delivery (POST) for one feed."""

    async def read_body(limit: int) -> bytes | None:
        if (request.content_length or 0) > limit:
            return None
        body = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    status, text = await request.app[SOURCE].websub.callback(
        int(request.match_info["feed_id"]),
        request.method,
        request.query,
        request.headers,
        read_body,
    )
    return web.Response(status=status, text=text)


def make_app(source: StatusSource) -> web.Application:
    app = web.Application(client_max_size=64 * 1024, middlewares=[require_token])
    app[SOURCE] = source
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", metrics)
    callback = r"/websub/{feed_id:\d{1,18}}"  # WebSub hubs (a body up to polling.max_bytes)
    app.router.add_get(callback, websub_callback, allow_head=False)
    app.router.add_post(callback, websub_callback)
    # the dashboard (GET /) and the JSON API (/api/…), over the running service (monitor/web)
    if isinstance(source, web_ui.WebSource):
        web_ui.setup(app, source)
    return app


async def start(source: StatusSource, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start listening; returns the runner (to clean up) and the port actually bound."""
    runner = web.AppRunner(make_app(source), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses
    return runner, int(addresses[0][1]) if addresses else port
