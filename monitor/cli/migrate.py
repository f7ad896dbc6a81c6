"""`monitor migrate --from URL --to URL`: copy a whole store into an empty one (SQLite to
PostgreSQL, or back), table by table, in batches, with a progress bar on stderr (on a
terminal; off one, a line per table).

Both stores are opened as the daemon opens them (so both are at this monitor's schema
version); the target must hold no feeds, stories or alerts. Rows keep their ids (the
PostgreSQL identity sequences are moved past them), so alert ids (webhook-ids), story ids
and feed ids survive. Counter tables (per hour, per topic) are copied last, replacing what
the target's triggers counted while the rows went in. Stop the daemons first: rows written
during the copy may be missed. A URL can be given as `env:NAME` (read from the environment),
so a password needs not appear in the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from monitor.cli.progress import bar, on_terminal
from monitor.config import POSTGRES_SCHEMES, StorageConfig, check_postgres_url, resolve_sqlite_url
from monitor.schema.postgres import SQLITE_ONLY_TABLES
from monitor.store import StoreError, store_for
from monitor.store.postgres import PostgresStore
from monitor.store.sqlite import SQLiteStore

# Copy order: a row's references are copied before it. Tables not listed (added by a later
# migration) follow in name order; counter tables kept by triggers come last.
ORDER = (
    "feeds", "stories", "story_revisions", "story_topics", "alerts", "alert_attempts",
    "story_tombstones", "digest_schedules", "feed_health", "story_bands", "developments",
    "development_stories",
)  # fmt: skip
COUNTERS = ("story_hours", "poll_hours", "topic_stats")
SKIP = frozenset({"write_probe", "monitor_schema", *SQLITE_ONLY_TABLES})
# PostgreSQL identity columns (table, column): their sequences go past the copied values
IDENTITIES = (
    ("feeds", "id"), ("stories", "id"), ("development_stories", "seq"), ("topic_feedback", "id"),
    ("detection_log", "seq"),
)  # fmt: skip


def storage_of(url: str, base: Path | None = None) -> StorageConfig:
    """A StorageConfig for a command-line URL; `env:NAME` reads it from the environment.
    Raises ValueError (never quoting the URL, which may hold a password)."""
    if url.startswith("env:"):
        value = os.environ.get(url[4:])
        if not value:
            raise ValueError(f"environment variable {url[4:]} is not set")
        url = value.strip()
    if url.startswith(POSTGRES_SCHEMES):
        check_postgres_url(url)
        return StorageConfig(url=url, path=None)
    return StorageConfig(url=url, path=resolve_sqlite_url(url, base or Path.cwd()))


class Progress:
    """A progress bar per table on a stream (stderr), drawn by tqdm on a terminal only; off
    a terminal (a log, a pipe) one plain line per table once it is copied."""

    def __init__(self, stream: TextIO, show: bool | None = None) -> None:
        self.stream = stream
        self.show_bar = on_terminal(stream) if show is None else show
        self._bar: Any = None
        self._table: str | None = None

    def show(self, table: str, done: int, total: int, end: bool = False) -> None:
        if self._table != table:
            self._close()
            self._table = table
            self._bar = bar(total, f"{table:<18}", unit="rows", show=self.show_bar,
                            stream=self.stream)  # fmt: skip
        assert self._bar is not None
        self._bar.update(done - self._bar.n)
        if end:
            self._close()
            if not self.show_bar:
                self.stream.write(f"{table:<18} {done:>11,}/{total:,} rows\n")
                self.stream.flush()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar = None
        self._table = None


# -- both ends, over either backend ------------------------------------------------------


async def tables_and_columns(store: Any) -> dict[str, list[str]]:
    if isinstance(store, SQLiteStore):
        out: dict[str, list[str]] = {}
        async with store.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ) as cur:
            names = [r[0] for r in await cur.fetchall()]
        for name in names:
            async with store.db.execute(f"PRAGMA table_info({name})") as cur:
                out[name] = [r[1] for r in await cur.fetchall()]
        return out
    assert isinstance(store, PostgresStore)
    async with store.connection() as con:
        rows = await con.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        )
    pg: dict[str, list[str]] = {}
    for r in rows:
        pg.setdefault(r["table_name"], []).append(r["column_name"])
    return pg


async def count(store: Any, table: str) -> int:
    if isinstance(store, SQLiteStore):
        async with store.db.execute(f"SELECT COUNT(*) FROM {table}") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0
    async with store.connection() as con:
        return int(await con.fetchval(f"SELECT COUNT(*) FROM {table}"))


def _quoted(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


async def _sqlite_order(store: SQLiteStore, table: str) -> list[str]:
    """What orders a SQLite table's rows for paging: its rowid, or the primary key of a
    WITHOUT ROWID table (story_bands)."""
    async with store.db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)) as cur:
        row = await cur.fetchone()
    if row is None or "WITHOUT ROWID" not in str(row[0]).upper():
        return ["rowid"]
    async with store.db.execute(f"PRAGMA table_info({table})") as cur:
        return [r[1] for r in sorted(await cur.fetchall(), key=lambda r: r[5]) if r[5]]


async def read_batches(
    store: Any, table: str, columns: Sequence[str], batch: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The table's rows, `batch` at a time, in a stable order (SQLite: rowid or primary
    key; PostgreSQL: a cursor in one snapshot)."""
    cols = _quoted(columns)
    if isinstance(store, SQLiteStore):
        order = await _sqlite_order(store, table)
        keys, n = ", ".join(order), len(order)
        after = f"WHERE ({keys}) > ({', '.join('?' * n)})"
        last: tuple[Any, ...] | None = None
        while True:
            async with store.db.execute(
                f"SELECT {keys}, {cols} FROM {table} {after if last is not None else ''} "
                f"ORDER BY {keys} LIMIT ?",
                (*(last or ()), batch),
            ) as cur:
                rows = list(await cur.fetchall())
            if not rows:
                return
            last = tuple(rows[-1])[:n]
            yield [tuple(r)[n:] for r in rows]
            if len(rows) < batch:
                return
    assert isinstance(store, PostgresStore)
    async with store.connection() as con, con.transaction(readonly=True):
        cursor = await con.cursor(f"SELECT {cols} FROM {table}")
        while records := await cursor.fetch(batch):
            yield [tuple(r) for r in records]


async def _pg_types(store: PostgresStore, table: str) -> dict[str, str]:
    async with store.connection() as con:
        rows = await con.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1",
            table,
        )
    return {r["column_name"]: r["data_type"] for r in rows}


_CASTS: dict[str, Any] = {"double precision": float, "integer": int, "bigint": int}


def _coerce(types: Sequence[Any], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """SQLite's column types are advice (900 in a REAL column comes back as an int); COPY
    wants the declared type."""
    if not any(types):
        return rows
    return [
        tuple(v if v is None or t is None else t(v) for t, v in zip(types, row, strict=True))
        for row in rows
    ]


async def write_batch(
    target: Any, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], types: Any
) -> None:
    if isinstance(target, PostgresStore):
        async with target.transaction() as con:
            await con.copy_records_to_table(
                table, records=_coerce(types, rows), columns=list(columns)
            )
        return
    assert isinstance(target, SQLiteStore)
    marks = ", ".join("?" * len(columns))
    async with target.transaction() as db:
        await db.executemany(
            f"INSERT INTO {table} ({_quoted(columns)}) VALUES ({marks})",
            rows,
        )


async def clear(target: Any, table: str) -> None:
    """Empty a counter table before its copy (the target's triggers counted meanwhile)."""
    if isinstance(target, PostgresStore):
        async with target.transaction() as con:
            await con.execute(f"DELETE FROM {table}")
    else:
        async with target.transaction() as db:
            await db.execute(f"DELETE FROM {table}")


async def finish(target: Any) -> None:
    """Move PostgreSQL's identity sequences past the copied ids."""
    if isinstance(target, PostgresStore):
        async with target.transaction() as con:
            for table, column in IDENTITIES:
                await con.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
                )


# -- the copy ------------------------------------------------------------------------------


async def copy_store(
    source: StorageConfig, target: StorageConfig, batch: int = 5000, stream: TextIO | None = None
) -> dict[str, int]:
    """Copy every table of `source` into the empty `target`; returns rows per table."""
    if source.url == target.url or (source.path is not None and source.path == target.path):
        raise StoreError("the source and the target are the same store")
    if source.path is not None and not source.path.exists():
        raise StoreError(f"no store at {source.path}")
    src, dst = store_for(source), store_for(target)
    await src.open()
    try:
        await dst.open()
        try:
            return await _copy(src, dst, batch, Progress(stream or sys.stderr))
        finally:
            await dst.close()
    finally:
        await src.close()


async def _copy(src: Any, dst: Any, batch: int, progress: Progress) -> dict[str, int]:
    for table in ("feeds", "stories", "alerts"):
        if await count(dst, table):
            raise StoreError(f"the target store is not empty ({table}): copy into a new one")
    src_tables, dst_tables = await tables_and_columns(src), await tables_and_columns(dst)
    common = [t for t in src_tables if t in dst_tables and t not in SKIP]
    ordered = (
        [t for t in ORDER if t in common]
        + sorted(t for t in common if t not in ORDER and t not in COUNTERS)
        + [t for t in COUNTERS if t in common]
    )
    copied: dict[str, int] = {}
    for table in ordered:
        columns = [c for c in src_tables[table] if c in dst_tables[table]]
        types: list[Any] = [None] * len(columns)
        if isinstance(dst, PostgresStore) and isinstance(src, SQLiteStore):
            declared = await _pg_types(dst, table)
            types = [_CASTS.get(declared.get(c, "")) for c in columns]
        if table in COUNTERS:
            await clear(dst, table)
        total = await count(src, table)
        done = 0
        progress.show(table, done, total)
        async for rows in read_batches(src, table, columns, batch):
            await write_batch(dst, table, columns, rows, types)
            done += len(rows)
            progress.show(table, done, total)
        progress.show(table, done, total, end=True)
        copied[table] = done
        if await count(dst, table) != done:
            raise StoreError(f"{table}: the target holds a different number of rows than copied")
    await finish(dst)
    return copied


# -- command line --------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> int:
    try:
        source, target = storage_of(args.source), storage_of(args.target)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"copying {source.display} -> {target.display}", file=sys.stderr)
    try:
        copied = asyncio.run(copy_store(source, target, args.batch))
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"copied {sum(copied.values()):,} rows in {len(copied)} tables to {target.display}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "migrate",
        help="copy a store into another, empty one (e.g. SQLite to PostgreSQL)",
        description=(
            "Copy every row of a store into an empty one, with a progress bar. "
            "Stop the daemons first. URLs: sqlite:///PATH (relative to the current folder), "
            "postgresql://USER:PASSWORD@HOST:PORT/DB, or env:NAME to read one from the "
            "environment."
        ),
    )
    p.add_argument("--from", dest="source", required=True, metavar="URL")
    p.add_argument("--to", dest="target", required=True, metavar="URL")
    p.add_argument("--batch", type=int, default=5000, help="rows per batch (default 5000)")
    p.set_defaults(func=cmd_migrate)
