"""The embedded store: one SQLite file through aiosqlite, WAL mode.

One connection serves the daemon; an asyncio lock makes each write transaction whole
(`BEGIN IMMEDIATE … COMMIT`): a feed's new stories and its new validators commit together;
a batch of detection decisions (duplicate links, matches, developments, alert rows) commits
with the stories' mark "detected" (monitor/store/sqlite_detect.py). What both stores do
alike is monitor/store/common.py; here is SQLite's own: claims, group commit of poll
records, the ingest's inserts, migrations, checkpoints and vacuum.
"""

from __future__ import annotations

import asyncio
import functools
import json
import operator
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, ClassVar, cast

import aiosqlite

from monitor.models import Entry, FeedRow, PendingAlert, PollUpdate, Subscription
from monitor.schema.sqlite import MIGRATIONS
from monitor.store.base import (
    SUBSCRIPTION_SELECT,
    StoreError,
    new_alert_id,
    new_instance_id,
    pending_alert,
    subscription_of,
)
from monitor.store.common import FEED_COLUMNS, SQLStore
from monitor.store.sql import Db, SQLiteDb
from monitor.store.sqlite_detect import SQLiteDetection

__all__ = ["SQLiteStore", "StoreError", "new_alert_id"]


POLL_QUEUE_MAX = 2000  # poll records waiting for their commit before callers wait too
# Group commit of write-behind poll records: a batch is written once POLL_BATCH records wait,
# or POLL_WINDOW seconds after its first (at once for a caller that waits, and on flush).
# A larger batch costs the SQLite thread less a record: fewer commits, and each page of the
# feeds table and its indexes written once for several records (docs/benchmarks.md).
POLL_BATCH, POLL_WINDOW = 500, 0.05


# A poll record (the feed, the poll's time, its PollUpdate) as one row `u` of a VALUES
# list, and how each lands on the feed row. The records of a batch are one statement
# (UPDATE ... FROM, SQLite 3.33): one trip to the connection's thread and one step, not one
# per record (executemany binds and steps each row, giving up and taking back the GIL every
# time, against the loop).
_POLL_COLUMNS = ("id", "now", "failed", *PollUpdate._fields)
_SET_FROM_POLL = """last_poll_at = u.now, last_result = u.result, last_status = u.http_status,
    next_poll_at = u.next_poll_at, polls = feeds.polls + 1,
    consecutive_errors = CASE WHEN u.failed THEN feeds.consecutive_errors + 1 ELSE 0 END,
    last_error_kind = CASE WHEN u.failed THEN u.error_kind ELSE feeds.last_error_kind END,
    last_error = CASE WHEN u.failed THEN u.error ELSE feeds.last_error END,
    last_success_at = CASE WHEN u.failed THEN feeds.last_success_at ELSE u.now END,
    etag = CASE WHEN u.failed THEN feeds.etag ELSE u.etag END,
    last_modified = CASE WHEN u.failed THEN feeds.last_modified ELSE u.last_modified END,
    body_hash = COALESCE(u.body_hash, feeds.body_hash),
    title = COALESCE(u.title, feeds.title),
    interval = COALESCE(u.interval, feeds.interval),
    rate = COALESCE(u.rate, feeds.rate),
    server_interval = CASE WHEN u.failed THEN feeds.server_interval ELSE u.server_interval END,
    disabled_reason = COALESCE(u.disabled_reason, feeds.disabled_reason)"""
# a permanent redirect moves the feed's URL, unless another feed has that URL (a record
# that moves is written alone: assigning url rewrites the unique index's entry of each row)
_SET_URL = """url = CASE WHEN u.url IS NOT NULL AND NOT EXISTS
            (SELECT 1 FROM feeds AS o WHERE o.url = u.url AND o.id != feeds.id)
          THEN u.url ELSE feeds.url END"""
# A quiet record (a success that sets times, validators and intervals: a 304, an unchanged
# body; most polls) has a statement of its own: only the columns it sets, in VALUES and in
# SET (no CASE on the error columns, and the title, body hash, URL and disabled reason left
# out of both): less of the SQLite thread a record (docs/benchmarks.md).
_QUIET = ("failed", "error_kind", "error", "url", "title", "body_hash", "disabled_reason")
_QUIET_COLUMNS = tuple(c for c in _POLL_COLUMNS if c not in _QUIET)
_SET_QUIET = """last_poll_at = u.now, last_result = u.result, last_status = u.http_status,
    next_poll_at = u.next_poll_at, polls = feeds.polls + 1, consecutive_errors = 0,
    last_success_at = u.now, etag = u.etag, last_modified = u.last_modified,
    interval = COALESCE(u.interval, feeds.interval), rate = COALESCE(u.rate, feeds.rate),
    server_interval = u.server_interval"""
_SET_FIELDS = operator.itemgetter(*(i for i, f in enumerate(PollUpdate._fields) if f not in _QUIET))
_QUIET_FIELDS = operator.itemgetter(*(i for i, f in enumerate(PollUpdate._fields) if f in _QUIET))
_UNSET = (None,) * (len(_QUIET) - 1)
_PollRecord = tuple[int, PollUpdate, float]


@functools.cache
def _update_feeds_sql(rows: int, kind: str) -> str:
    """kind: "quiet" (records that are), "all", or "move" (all, and the URL)."""
    columns = _QUIET_COLUMNS if kind == "quiet" else _POLL_COLUMNS
    row = "(" + ",".join("?" * len(columns)) + ")"
    assign = {"quiet": _SET_QUIET, "all": _SET_FROM_POLL}.get(kind, f"{_SET_FROM_POLL}, {_SET_URL}")
    return (
        f"WITH u ({', '.join(columns)}) AS (VALUES {','.join([row] * rows)}) "
        f"UPDATE feeds SET {assign} FROM u WHERE feeds.id = u.id"
    )


def _update_feeds(records: Sequence[_PollRecord], quiet: bool) -> tuple[str, list[Any]]:
    """One statement writing `records` (distinct feeds; `quiet`: all of them are). Its row
    count is rounded up (to a power of two, past 64 to a multiple of 64) with rows of NULLs
    that match no feed, so a few prepared statements serve every batch size."""
    n = len(records)
    rows = 1 << (n - 1).bit_length() if n <= 64 else -(-n // 64) * 64
    params: list[Any] = []
    if quiet:
        kind, width = "quiet", len(_QUIET_COLUMNS)
        for feed_id, u, now in records:
            params += (feed_id, now, *_SET_FIELDS(u))
    else:
        kind, width = "all", len(_POLL_COLUMNS)
        for feed_id, u, now in records:
            params += (feed_id, now, u.result == "error", *u)
            if u.url is not None:
                kind = "move"
    params += [None] * (width * (rows - n))
    return _update_feeds_sql(rows, kind), params


def _quiet(u: PollUpdate) -> bool:
    return u.result != "error" and _QUIET_FIELDS(u) == _UNSET


def _by_kind(group: list[_PollRecord]) -> list[tuple[list[_PollRecord], bool]]:
    """A group's quiet records and the others, each a statement (distinct feeds: in any
    order), with whether they are quiet."""
    quiet: list[_PollRecord] = []
    loud: list[_PollRecord] = []
    for record in group:
        (quiet if _quiet(record[1]) else loud).append(record)
    return [(part, part is quiet) for part in (quiet, loud) if part]


def _statements(records: Sequence[_PollRecord]) -> list[list[_PollRecord]]:
    """`records` in order, cut into groups one statement can write as if one after the
    other: a feed at most once in a group (one statement updates a row once), and a record
    that moves its feed's URL alone (the check that no other feed has that URL must see the
    moves before it)."""
    groups: list[list[_PollRecord]] = []
    ids: set[int] = set()
    moved = False  # the last group is a record that moves
    for record in records:
        moves = record[1].url is not None
        if not groups or moves or moved or record[0] in ids:
            groups.append([])
            ids = set()
        groups[-1].append(record)
        ids.add(record[0])
        moved = moves
    return groups


def _is_write_failure(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("full", "readonly", "read-only", "disk i/o", "locked"))


class SQLiteStore(SQLStore):
    shared = False  # one process: every decision in the store was made by this one

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock: Any = None
        self.write_failure: str | None = None  # why the last write failed, until one succeeds
        # poll records waiting for their commit, each with the future of a caller waiting
        self._poll_queue: list[tuple[_PollRecord, asyncio.Future[None] | None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._commit_now = asyncio.Event()  # write the waiting records without gathering more
        self._flushing = 0  # callers of flush() waiting

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(self.path, isolation_level=None)
        except (OSError, aiosqlite.Error) as exc:
            raise StoreError(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._db = db
        self._lock = asyncio.Lock()
        db.row_factory = aiosqlite.Row
        for pragma in (
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "foreign_keys = ON",
            "busy_timeout = 5000",
        ):
            await db.execute(f"PRAGMA {pragma}")
        await self._migrate()

    async def close(self) -> None:
        with suppress(Exception):
            await self.flush()
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _migrate(self) -> None:
        db = self.db
        async with db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this "
                f"monitor knows ({len(MIGRATIONS)}): upgrade the monitor"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await db.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;"
            )

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction, whole or not at all. A write the disk refuses (full,
        read-only, I/O error) rolls back, is remembered in `write_failure` (the daemon reports
        not-ready) and raises StoreError naming the file; a successful ingest or
        `probe_write` clears it (small in-place updates may succeed on a full disk)."""
        async with self._lock:
            db = self.db
            try:
                await db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    if db.in_transaction:
                        await db.execute("ROLLBACK")
                    raise
                await db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if db.in_transaction:
                    with suppress(sqlite3.Error):
                        await db.execute("ROLLBACK")
                if not _is_write_failure(exc):
                    raise
                raise self._refused(exc) from exc

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[Db]:
        async with self.transaction() as db:
            yield SQLiteDb(db)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Db]:
        yield SQLiteDb(self.db)

    async def _write(self, sql: str, params: Sequence[Any]) -> None:
        """One write statement alone, its own transaction (SQLite makes a statement atomic):
        one trip to the connection's thread where `transaction` takes three. Failures as in
        `transaction`."""
        async with self._lock:
            try:
                await self.db.execute(sql, params)
            except sqlite3.OperationalError as exc:
                if not _is_write_failure(exc):
                    raise
                raise self._refused(exc) from exc

    def _refused(self, exc: sqlite3.OperationalError) -> StoreError:
        self.write_failure = f"cannot write to {self.path}: {exc}"
        return StoreError(self.write_failure)

    async def set_max_size(self, max_bytes: int | None) -> None:
        """Cap the database file (PRAGMA max_page_count); None lifts the cap. Writes beyond it
        fail as on a full disk."""
        async with self.db.execute("PRAGMA page_size") as cur:
            row = await cur.fetchone()
        page = int(row[0]) if row else 4096
        pages = 4294967294 if max_bytes is None else max(1, max_bytes // page)
        await self._pragma(f"max_page_count = {pages}")

    async def ping(self) -> bool:
        try:
            async with self.db.execute("SELECT 1") as cur:
                return (await cur.fetchone()) is not None
        except Exception:
            return False

    # -- feeds -----------------------------------------------------------------------------

    # INDEXED BY: SQLite refuses the query rather than fall back to a scan of all feeds.
    CLAIM_SQL = f"""SELECT {FEED_COLUMNS} FROM feeds INDEXED BY feeds_due
                    WHERE active = 1 AND disabled_reason IS NULL AND paused = 0
                      AND next_poll_at <= ?
                    ORDER BY next_poll_at LIMIT ?"""

    async def claim_due_feeds(
        self, now: float, limit: int, exclude: Iterable[int] = ()
    ) -> list[FeedRow]:
        """The due feeds, earliest first; each is pushed one interval ahead as it is claimed,
        so a crash mid-poll retries it after one interval instead of at once."""
        skip = set(exclude)
        async with self.transaction() as db:
            found = await db.execute_fetchall(self.CLAIM_SQL, (now, limit + len(skip)))
            feeds = [FeedRow(*r) for r in found if r[0] not in skip][:limit]
            await db.execute(  # one statement, not one a feed
                "UPDATE feeds SET next_poll_at = ? + interval "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (now, json.dumps([f.id for f in feeds])),
            )
        return feeds

    async def record_poll(
        self, feed_id: int, update: PollUpdate, now: float, *, wait: bool = True
    ) -> None:
        """Record a poll that stored no stories (304, unchanged body, error).

        Group commit: the updates of polls finishing together are written in one
        statement (POLL_BATCH, POLL_WINDOW). One transaction per 304 would make the SQLite
        thread, not the network, the limit. With `wait` the caller returns once its own
        update is committed; without, at once (write-behind: the poll's slot is free for
        the next feed; what a crash could lose is a poll's bookkeeping, never a story, and
        the claim has already moved the feed's due time; `flush` and `close` wait for it),
        unless POLL_QUEUE_MAX updates are waiting (then it waits too)."""
        done: asyncio.Future[None] | None = None
        if wait or len(self._poll_queue) >= POLL_QUEUE_MAX:
            done = asyncio.get_running_loop().create_future()
        self._poll_queue.append(((feed_id, update, now), done))
        if done is not None or len(self._poll_queue) >= POLL_BATCH:
            self._commit_now.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_polls())
        if done is not None:
            await done

    async def flush(self) -> None:
        """Wait until every poll recorded without waiting is committed (or failed)."""
        self._flushing += 1
        try:
            while self._flusher is not None and not self._flusher.done():
                self._commit_now.set()
                await asyncio.shield(self._flusher)
        finally:
            self._flushing -= 1

    async def _flush_polls(self) -> None:
        while self._poll_queue:
            if not (self._flushing or self._commit_now.is_set()):
                with suppress(TimeoutError):  # the batch gathers: POLL_BATCH or POLL_WINDOW
                    await asyncio.wait_for(self._commit_now.wait(), POLL_WINDOW)
            self._commit_now.clear()
            batch, self._poll_queue = self._poll_queue[:1000], self._poll_queue[1000:]
            try:
                statements = [
                    _update_feeds(part, quiet)
                    for group in _statements([record for record, _ in batch])
                    for part, quiet in _by_kind(group)
                ]
                if len(statements) == 1:
                    await self._write(*statements[0])
                else:  # a feed twice, a move, or errors beside 304s: one transaction
                    async with self.transaction() as db:
                        for statement in statements:
                            await db.execute(*statement)
            except BaseException as exc:
                # a write-behind record has no one waiting: a write the disk refused is in
                # `write_failure`; what it loses is the poll's bookkeeping
                for _, done in batch:
                    if done is not None and not done.done():
                        done.set_exception(
                            exc
                            if isinstance(exc, Exception)
                            else StoreError(f"write cancelled: {exc!r}")
                        )
                if not isinstance(exc, Exception):
                    raise
            else:
                for _, done in batch:
                    if done is not None and not done.done():
                        done.set_result(None)

    async def _record_poll_in(self, db: Db, feed_id: int, update: PollUpdate, now: float) -> None:
        await cast(SQLiteDb, db).db.execute(
            *_update_feeds([(feed_id, update, now)], _quiet(update))
        )

    # -- stories ---------------------------------------------------------------------------

    async def _insert_stories(
        self, db: Db, feed_id: int, fresh: Mapping[str, Entry], now: float, full_text: bool
    ) -> dict[str, int]:
        """The write transaction (BEGIN IMMEDIATE) holds the write lock: keys absent now stay
        absent until COMMIT, so the rows inserted are exactly the stories not stored before."""
        among, keys = db.among(list(fresh))
        params = {"feed_id": feed_id, "among": keys}
        sql = f"SELECT key, id FROM stories WHERE feed_id = :feed_id AND key {among}"
        present = {r[0] for r in await db.fetch(sql, params)}
        await db.executemany(
            """INSERT INTO stories (feed_id, key, link, title, summary, author, published_at,
                                    content_hash, first_seen_at, text_state, text_next_at)
               VALUES (:feed_id, :key, :link, :title, :summary, :author, :published, :hash,
                       :now, :text_state, :text_next_at)""",
            [
                {"feed_id": feed_id, "key": e.key, "link": e.link, "title": e.title,
                 "summary": e.summary, "author": e.author,
                 "published": e.published.timestamp() if e.published else None,
                 "hash": e.content_hash, "now": now,
                 **({"text_state": "pending", "text_next_at": now} if full_text and e.link
                    else {"text_state": None, "text_next_at": None})}
                for k, e in fresh.items() if k not in present
            ],
        )  # fmt: skip
        return {r[0]: r[1] for r in await db.fetch(sql, params) if r[0] not in present}

    # -- full text -------------------------------------------------------------------------

    async def claim_texts(
        self, now: float, limit: int, lease: float
    ) -> list[tuple[int, int, str, int]]:
        """Stories whose page is due to be fetched, oldest due first: (id, feed id, link,
        attempts so far); each pushed `lease` seconds ahead as it is claimed."""
        async with self.transaction() as db:
            async with db.execute(
                "SELECT id, feed_id, link, text_attempts FROM stories "
                "WHERE text_state = 'pending' AND text_next_at <= ? "
                "ORDER BY text_next_at LIMIT ?",
                (now, limit),
            ) as cur:
                rows = [(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]
            await db.executemany(
                "UPDATE stories SET text_next_at = ? WHERE id = ?",
                [(now + lease, r[0]) for r in rows],
            )
        return rows

    # -- detection -------------------------------------------------------------------------

    @asynccontextmanager
    async def detection(self) -> AsyncIterator[SQLiteDetection]:
        """One detection transaction (see monitor/store/sqlite_detect.py)."""
        async with self.transaction() as db:
            tx = SQLiteDetection(db)
            yield tx
            await tx.flush()  # the buffered writes, before the commit

    # -- alerts ----------------------------------------------------------------------------

    async def claim_due_alerts(
        self, now: float, limit: int, lease: float, exclude_sinks: Iterable[str] = ()
    ) -> list[PendingAlert]:
        """Pending alerts whose time has come, oldest first (none of `exclude_sinks`, still
        busy); each is leased for `lease` seconds so a crash mid-send retries it later under
        the same id. `attempts` counts since the last re-queue."""
        skip = sorted(set(exclude_sinks))
        not_in = f"AND sink_id NOT IN ({','.join('?' * len(skip))})" if skip else ""
        async with self.transaction() as db:
            async with db.execute(
                f"""SELECT id, topic_id, sink_id, event, data, created_at,
                          attempts - attempts_base AS attempts FROM alerts
                   WHERE state = 'pending' AND next_attempt_at <= ? {not_in}
                   ORDER BY next_attempt_at LIMIT ?""",
                (now, *skip, limit),
            ) as cur:
                rows = await cur.fetchall()
            await db.executemany(
                "UPDATE alerts SET next_attempt_at = ?, leased_until = ? WHERE id = ?",
                [(now + lease, now + lease, r["id"]) for r in rows],
            )
        return [pending_alert(r) for r in rows]

    async def record_attempt(
        self,
        alert_id: str,
        *,
        at: float,
        status: int | None,
        latency: float | None,
        error: str | None,
        state: str,
        next_attempt_at: float | None,
    ) -> None:
        """Log one delivery attempt; `state` is delivered, pending (retry at
        `next_attempt_at`) or dead."""
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO alert_attempts (alert_id, attempt, at, status, latency, error)
                   VALUES (?, (SELECT attempts + 1 FROM alerts WHERE id = ?), ?, ?, ?, ?)""",
                (alert_id, alert_id, at, status, latency, error),
            )
            await db.execute(
                """UPDATE alerts SET attempts = attempts + 1, state = ?, last_error = ?,
                     next_attempt_at = COALESCE(?, next_attempt_at), leased_until = NULL,
                     delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END
                   WHERE id = ?""",
                (state, error, next_attempt_at, state, at, alert_id),
            )

    # -- alerts: leases, rate limits, digests, feed health, dead letters (issue 7) ---------

    async def release_leases(self, now: float) -> int:
        """Make alerts leased by a process that is gone (killed mid-send) due now; called once
        when a daemon's delivery loop starts. They go out again under the same id."""
        async with self.transaction() as db:
            cur = await db.execute(
                "UPDATE alerts SET next_attempt_at = MIN(next_attempt_at, ?), leased_until = NULL "
                "WHERE state = 'pending' AND leased_until IS NOT NULL",
                (now,),
            )
            return cur.rowcount

    async def requeue_dead(self, ids: Sequence[str] | None, now: float) -> list[str]:
        """Put dead letters back in the outbox (all of them when `ids` is None), due now, with
        a fresh attempt budget and age. Returns the ids re-queued (others were not dead)."""
        async with self.transaction() as db:
            if ids is None:
                async with db.execute("SELECT id FROM alerts WHERE state = 'dead'") as cur:
                    found = [r[0] for r in await cur.fetchall()]
            else:
                found = []
                for alert_id in ids:
                    async with db.execute(
                        "SELECT id FROM alerts WHERE id = ? AND state = 'dead'", (alert_id,)
                    ) as cur:
                        if await cur.fetchone():
                            found.append(alert_id)
            await db.executemany(
                "UPDATE alerts SET state = 'pending', next_attempt_at = ?, queued_at = ?, "
                "attempts_base = attempts, leased_until = NULL WHERE id = ?",
                [(now, now, i) for i in found],
            )
        return found

    # -- maintenance -----------------------------------------------------------------------

    PRUNE_SQL: ClassVar[Mapping[str, str]] = {
        "revisions": "DELETE FROM story_revisions WHERE rowid IN (SELECT rowid "
        "FROM story_revisions WHERE seen_at < :cutoff LIMIT :batch)",
        "alerts": "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts "
        "WHERE state = 'delivered' AND delivered_at < :cutoff LIMIT :batch)",
        "developments": "DELETE FROM developments WHERE id IN (SELECT id FROM developments d "
        "WHERE last_seen_at < :cutoff AND NOT EXISTS (SELECT 1 FROM development_stories s "
        "WHERE s.development_id = d.id) LIMIT :batch)",
        "tombstones": "DELETE FROM story_tombstones WHERE rowid IN (SELECT rowid "
        "FROM story_tombstones WHERE pruned_at < :cutoff LIMIT :batch)",
    }

    async def prune_stories(self, cutoff: float, batch: int, now: float) -> int:
        """Delete up to `batch` stories first seen before `cutoff`, oldest first, each leaving
        a tombstone (a re-listed old item is not new again), one transaction; how many."""
        async with self.transaction() as db:
            async with db.execute(
                "SELECT id, feed_id, key, content_hash FROM stories "
                "WHERE first_seen_at < ? ORDER BY first_seen_at LIMIT ?",
                (cutoff, batch),
            ) as cur:
                rows = list(await cur.fetchall())
            await db.executemany(
                "INSERT OR REPLACE INTO story_tombstones (feed_id, key, content_hash, "
                "pruned_at) VALUES (?, ?, ?, ?)",
                [(r["feed_id"], r["key"], r["content_hash"], now) for r in rows],
            )
            await db.executemany("DELETE FROM stories WHERE id = ?", [(r["id"],) for r in rows])
            per_feed: dict[int, int] = {}
            for r in rows:
                per_feed[r["feed_id"]] = per_feed.get(r["feed_id"], 0) + 1
            await db.executemany(
                "UPDATE feeds SET stories = MAX(0, stories - ?) WHERE id = ?",
                [(n, fid) for fid, n in per_feed.items()],
            )
        return len(rows)

    async def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copy the write-ahead log back into the database file (keeps the WAL small)."""
        assert mode in ("PASSIVE", "TRUNCATE")
        async with self._lock:
            await self._pragma(f"wal_checkpoint({mode})")

    async def vacuum(self) -> tuple[int, int]:
        """Compact the database file; returns its size in bytes before and after."""
        before = self.size_bytes()
        async with self._lock:
            try:
                await self._pragma("wal_checkpoint(TRUNCATE)")
                await self.db.execute("VACUUM")
                await self._pragma("wal_checkpoint(TRUNCATE)")
            except aiosqlite.Error as exc:
                raise StoreError(f"cannot vacuum {self.path}: {exc}") from exc
        return before, self.size_bytes()

    async def _pragma(self, pragma: str) -> None:
        async with self.db.execute(f"PRAGMA {pragma}") as cur:
            await cur.fetchall()

    def size_bytes(self) -> int:
        """Bytes on disk: the database file and its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            with suppress(OSError):
                total += os.path.getsize(f"{self.path}{suffix}")
        return total

    # -- reports ---------------------------------------------------------------------------

    # -- leases (the Store protocol; one process holds every lease of a SQLite store) ------

    _instance_id: str | None = None

    @property
    def instance_id(self) -> str:
        if self._instance_id is None:
            SQLiteStore._instance_id = new_instance_id()
        assert self._instance_id is not None
        return self._instance_id

    async def leases(self, now: float) -> list[dict[str, Any]]:
        """The alerts this process holds leased (feed claims are not recorded: see the
        daemon's polls in flight)."""
        async with self.db.execute(
            "SELECT COUNT(*), MAX(leased_until) FROM alerts "
            "WHERE state = 'pending' AND leased_until > ?",
            (now,),
        ) as cur:
            row = await cur.fetchone()
        if row is None or not row[0]:
            return []
        return [{"instance": self.instance_id, "feeds": None, "alerts": row[0], "until": row[1]}]

    # -- WebSub subscriptions (the Store protocol; monitor/subscriber.py) --------------------

    async def claim_due_subscriptions(
        self, now: float, limit: int, lease: float
    ) -> list[Subscription]:
        async with self.transaction() as db:
            async with db.execute(
                f"{SUBSCRIPTION_SELECT} WHERE w.next_action_at <= ? "
                "ORDER BY w.next_action_at LIMIT ?",
                (now, limit),
            ) as cur:
                rows = [subscription_of(r) for r in await cur.fetchall()]
            await db.executemany(
                "UPDATE websub_subscriptions SET next_action_at = ? WHERE feed_id = ?",
                [(now + lease, r.feed_id) for r in rows],
            )
        return rows
