"""Wiring: the web layer's reader (for the configured store) and its routes on the status
app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiosqlite
from aiohttp import web

from monitor.reads.readers import PostgresReader, SQLiteReader
from monitor.store.sqlite import SQLiteStore
from monitor.web.api import add_routes as add_api
from monitor.web.context import READER, WEB, WebSource
from monitor.web.dashboard import add_routes as add_dashboard

Setup = Callable[[web.Application], AsyncIterator[None]]


def _sqlite_reader(store: SQLiteStore) -> Setup:
    async def reader(app: web.Application) -> AsyncIterator[None]:
        """A read-only connection of the web layer's own (WAL: reads never block writes)."""
        db = await aiosqlite.connect(store.path, isolation_level=None)
        for pragma in ("query_only = ON", "busy_timeout = 2000"):
            await db.execute(f"PRAGMA {pragma}")
        app[READER] = SQLiteReader(db)
        yield
        await db.close()

    return reader


def _postgres_reader(store: object) -> Setup | None:
    from monitor.store.postgres import PostgresStore  # asyncpg only when it is used

    if not isinstance(store, PostgresStore):
        return None

    async def reader(app: web.Application) -> AsyncIterator[None]:
        """Read-only transactions on the store's pool (each sees committed data only)."""
        app[READER] = PostgresReader(store)
        yield

    return reader


def setup(app: web.Application, source: WebSource) -> bool:
    """Add the dashboard and the API to the status app, reading from the service's store
    (SQLite or PostgreSQL); False (nothing added) for a store of another kind."""
    store = source.store
    reader = _sqlite_reader(store) if isinstance(store, SQLiteStore) else _postgres_reader(store)
    if reader is None:
        return False
    app[WEB] = source
    app.cleanup_ctx.append(reader)
    add_dashboard(app)
    add_api(app)
    return True
