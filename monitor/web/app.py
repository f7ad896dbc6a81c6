"""Wiring: the web layer's read connection and its routes on the status app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiosqlite
from aiohttp import web

from monitor.store.sqlite import SQLiteStore
from monitor.web.api import add_routes as add_api
from monitor.web.context import READER, WEB, WebSource, store_of
from monitor.web.dashboard import add_routes as add_dashboard


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
    app[WEB] = source
    app.cleanup_ctx.append(_reader)
    add_dashboard(app)
    add_api(app)
    return True
