"""Read access for the dashboard and the API (monitor/store/queries.py): one interface over
SQLite's read-only connection and PostgreSQL's pool.

Queries are written once with named parameters (`:name`); the PostgreSQL reader turns them
into `$1, $2, …`. Where the dialects differ, queries.py asks `reader.dialect`. Rows come
back as dicts, whatever the driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import aiosqlite

from monitor.store.sql import Dialect, positional

if TYPE_CHECKING:
    from monitor.store.postgres import PostgresStore

Params = Mapping[str, Any]


class Reader(Protocol):
    """Read-only queries with named parameters (`:name`)."""

    @property
    def dialect(self) -> Dialect: ...

    async def fetch(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]: ...

    async def fetchone(self, sql: str, params: Params | None = None) -> dict[str, Any] | None: ...


class SQLiteReader:
    """Over an aiosqlite connection (the web layer's own, opened with `query_only`)."""

    dialect: Dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def fetch(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        async with self.db.execute(sql, params or {}) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]

    async def fetchone(self, sql: str, params: Params | None = None) -> dict[str, Any] | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None


def _pg_value(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL. U+0001 in its place (no stored key holds either)
    # finds no row by equality and keeps a cursor's position in byte order.
    return value.replace("\x00", "\x01") if isinstance(value, str) else value


class PostgresReader:
    """Over the PostgresStore's pool: each query in a read-only transaction."""

    dialect: Dialect = "postgresql"

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    async def fetch(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        text, names = positional(sql)
        args = [_pg_value((params or {})[n]) for n in names]
        async with self.store.connection() as con, con.transaction(readonly=True):
            return [dict(r) for r in await con.fetch(text, *args)]

    async def fetchone(self, sql: str, params: Params | None = None) -> dict[str, Any] | None:
        rows = await self.fetch(sql, params)
        return rows[0] if rows else None
