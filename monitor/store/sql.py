"""One statement text for both databases: a thin adapter per connection.

Statements take named parameters (`:name`, as the read queries of monitor/reads
do); `SQLiteDb` hands them to SQLite, `PostgresDb` numbers them (`$1, $2, …`). Rows come
back as the driver's rows (by index and by column name). Where the dialects differ, a
statement asks its `Db`: `least` (MIN or LEAST), `among` (a list parameter), `lock` (an
advisory lock; SQLite's write transaction already excludes every other writer).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import aiosqlite

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Con = PoolConnectionProxy[asyncpg.Record]

Dialect = Literal["sqlite", "postgresql"]
Params = Mapping[str, Any]

# `:name`, not the second colon of a `::type` cast (SQL literals must not hold `:word`)
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=512)
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with `:name` turned into `$n` (one number per name), and the names in order."""
    names: list[str] = []

    def number(m: re.Match[str]) -> str:
        if m.group(1) not in names:
            names.append(m.group(1))
        return f"${names.index(m.group(1)) + 1}"

    return _NAMED.sub(number, sql), tuple(names)


def rows_affected(status: str) -> int:
    """Rows affected, from a PostgreSQL command status such as 'INSERT 0 3' or 'UPDATE 2'."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class Db(Protocol):
    """One connection, in a transaction or not."""

    dialect: Dialect
    least: str  # the smaller of two values: MIN(a, b) or LEAST(a, b)
    greatest: str  # the larger of two values: MAX(a, b) or GREATEST(a, b)
    for_update: str  # locks the rows a SELECT reads until the transaction ends ('' in SQLite)
    lease_cleared: str  # the columns an alert's lease is held in, set NULL
    row_order: str  # the order rows of a table were inserted in (ties of a time): rowid, id

    async def fetch(self, sql: str, params: Params | None = None) -> list[Any]: ...

    async def fetchrow(self, sql: str, params: Params | None = None) -> Any | None: ...

    async def fetchval(self, sql: str, params: Params | None = None) -> Any: ...

    async def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; the rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None: ...

    def among(self, values: Sequence[Any]) -> tuple[str, Any]:
        """(`IN (…)` / `= ANY(…)` over the parameter `:among`, its value) for a list."""
        ...

    async def lock(self, space: str, name: str) -> None:
        """Hold the lock (space, name) until the transaction ends."""
        ...


class SQLiteDb:
    """Over an aiosqlite connection."""

    dialect: Dialect = "sqlite"
    least = "MIN"
    greatest = "MAX"
    for_update = ""
    lease_cleared = "leased_until = NULL"
    row_order = "rowid"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def fetch(self, sql: str, params: Params | None = None) -> list[Any]:
        return list(await self.db.execute_fetchall(sql, params or {}))

    async def fetchrow(self, sql: str, params: Params | None = None) -> Any | None:
        async with self.db.execute(sql, params or {}) as cur:
            return await cur.fetchone()

    async def fetchval(self, sql: str, params: Params | None = None) -> Any:
        row = await self.fetchrow(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Params | None = None) -> int:
        async with self.db.execute(sql, params or {}) as cur:
            return int(cur.rowcount)

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        await self.db.executemany(sql, rows)

    def among(self, values: Sequence[Any]) -> tuple[str, Any]:
        return "IN (SELECT value FROM json_each(:among))", json.dumps(list(values))

    async def lock(self, space: str, name: str) -> None:
        return None


class PostgresDb:
    """Over an asyncpg connection."""

    dialect: Dialect = "postgresql"
    least = "LEAST"
    greatest = "GREATEST"
    for_update = " FOR UPDATE"
    lease_cleared = "leased_until = NULL, leased_by = NULL"
    row_order = "id"

    def __init__(self, con: Con) -> None:
        self.con = con

    @staticmethod
    def _args(sql: str, params: Params | None) -> tuple[str, list[Any]]:
        text, names = positional(sql)
        return text, [(params or {})[n] for n in names]

    async def fetch(self, sql: str, params: Params | None = None) -> list[Any]:
        text, args = self._args(sql, params)
        return list(await self.con.fetch(text, *args))

    async def fetchrow(self, sql: str, params: Params | None = None) -> Any | None:
        text, args = self._args(sql, params)
        return await self.con.fetchrow(text, *args)

    async def fetchval(self, sql: str, params: Params | None = None) -> Any:
        text, args = self._args(sql, params)
        return await self.con.fetchval(text, *args)

    async def execute(self, sql: str, params: Params | None = None) -> int:
        text, args = self._args(sql, params)
        return rows_affected(await self.con.execute(text, *args))

    async def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if not rows:
            return
        text, names = positional(sql)
        await self.con.executemany(text, [[r[n] for n in names] for r in rows])

    def among(self, values: Sequence[Any]) -> tuple[str, Any]:
        return "= ANY(:among)", list(values)

    async def lock(self, space: str, name: str) -> None:
        await self.con.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", space, name
        )
