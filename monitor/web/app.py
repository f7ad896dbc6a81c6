"""Wiring: what the web layer needs from the service, its read connection, its routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

import aiosqlite
from aiohttp import web

from monitor.clock import Clock
from monitor.config import Config
from monitor.store.sqlite import SQLiteStore


class Kicker(Protocol):
    def kick(self) -> None: ...


@runtime_checkable
class WebSource(Protocol):
    """The running service, as the dashboard and the API see it."""

    @property
    def store(self) -> object: ...

    @property
    def config(self) -> Config: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def deliverer(self) -> Kicker: ...

    def token(self) -> str | None: ...


WEB = web.AppKey("web", WebSource)
READER = web.AppKey("reader", aiosqlite.Connection)


def store_of(app: web.Application) -> SQLiteStore:
    store = app[WEB].store
    assert isinstance(store, SQLiteStore)
    return store


async def _reader(app: web.Application) -> AsyncIterator[None]:
    """A read-only connection of the web layer's own (WAL: reads never block writes)."""
    db = await aiosqlite.connect(store_of(app).path, isolation_level=None)
    db.row_factory = aiosqlite.Row
    for pragma in ("query_only = ON", "busy_timeout = 2000"):
        await db.execute(f"PRAGMA {pragma}")
    app[READER] = db
    yield
    await db.close()


def setup(app: web.Application, source: WebSource) -> bool:
    """Add the dashboard and the API to the status app; False (nothing added) when the store
    is not SQLite (the PostgreSQL store has no queries of its own yet)."""
    if not isinstance(source.store, SQLiteStore):
        return False
    from monitor.web.api import add_routes as add_api
    from monitor.web.dashboard import add_routes as add_dashboard

    app[WEB] = source
    app.cleanup_ctx.append(_reader)
    add_dashboard(app)
    add_api(app)
    return True
