"""The status server: an aiohttp application over the running service.

GET /healthz  200 while the main loop runs and the scheduler ticks, else 503
GET /readyz   200 when also the store answers, else 503
GET /status   JSON: version, uptime, per feed its state, per topic its matches, alerts
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web


class StatusSource(Protocol):
    def alive(self) -> bool: ...

    async def ready(self) -> bool: ...

    async def status(self) -> dict[str, Any]: ...


SOURCE = web.AppKey("source", StatusSource)


async def healthz(request: web.Request) -> web.Response:
    ok = request.app[SOURCE].alive()
    return web.json_response({"status": "ok" if ok else "stalled"}, status=200 if ok else 503)


async def readyz(request: web.Request) -> web.Response:
    ok = await request.app[SOURCE].ready()
    return web.json_response({"status": "ready" if ok else "not ready"}, status=200 if ok else 503)


async def status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SOURCE].status(), dumps=_dumps)


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, ensure_ascii=False)


def make_app(source: StatusSource) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[SOURCE] = source
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/status", status)
    return app


async def start(source: StatusSource, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start listening; returns the runner (to clean up) and the port actually bound."""
    runner = web.AppRunner(make_app(source), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = getattr(site, "_server", None)
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)
