"""The embedded store: one SQLite file through aiosqlite, WAL mode.

One connection serves the daemon; an asyncio lock makes each write transaction whole
(`BEGIN IMMEDIATE … COMMIT`): a feed's new stories and its new validators commit together;
a batch of detection decisions (duplicate links, matches, developments, alert rows) commits
with the stories' mark "detected" (monitor/store/sqlite_detect.py).
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
from typing import Any

import aiosqlite

from monitor.config import FeedConfig, RetentionConfig
from monitor.models import (
    DetectionStep,
    DevelopmentRow,
    DevelopmentStoryRow,
    FeedRow,
    IngestResult,
    NewStory,
    PendingAlert,
    PendingStory,
    PollUpdate,
    Subscription,
)
from monitor.store.base import (
    DETECTION_STEPS_TEMPLATE,
    DEVELOPMENT_COLUMNS,
    DEVELOPMENT_STORY_COLUMNS,
    FEEDBACK_COLUMNS,
    FEEDBACK_STORY,
    HEALTH_SELECT,
    STORY_EVENTS_SQL,
    SUBSCRIPTION_SELECT,
    StoreError,
    checked_changes,
    detection_step,
    detection_summary,
    development_row,
    development_story_row,
    digest_data,
    feedback_of,
    health_step,
    new_alert_id,
    new_instance_id,
    pending_alert,
    pending_story,
    subscription_of,
)
from monitor.store.schema import MIGRATIONS
from monitor.store.sqlite_detect import REPLAY_SQL, SQLiteDetection
from monitor.topics.feedback import Feedback

STEPS_SQL = DETECTION_STEPS_TEMPLATE.format(since="?", after="?", limit="?")

__all__ = ["SQLiteStore", "StoreError", "new_alert_id"]


POLL_QUEUE_MAX = 2000  # poll records waiting for their commit before callers wait too
# Group commit of write-behind poll records: a batch is written once POLL_BATCH records wait,
# or POLL_WINDOW seconds after its first (at once for a caller that waits, and on flush).
# A batch of 74 304s cost the SQLite thread 9.2 us a record; of 500, 5.5 (fewer commits,
# and each page of the feeds table and its indexes written once for several records).
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
# out of both): 9.2 -> 6.6 us of the SQLite thread a record in batches of 74.
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


async def _key_rows(
    db: aiosqlite.Connection, sql: str, feed_id: int, keys: Sequence[str]
) -> list[aiosqlite.Row]:
    """Rows of `sql` for a feed's `keys`, 400 keys a statement (SQLite's variable limit);
    each `{marks}` in `sql` is one `feed_id = ? AND key IN (…)` pair's list."""
    out: list[aiosqlite.Row] = []
    for i in range(0, len(keys), 400):
        chunk = list(keys[i : i + 400])
        times = sql.count("{marks}")
        async with db.execute(
            sql.format(marks=",".join("?" * len(chunk))), (feed_id, *chunk) * times
        ) as cur:
            out.extend(await cur.fetchall())
    return out


def _is_write_failure(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("full", "readonly", "read-only", "disk i/o", "locked"))


class SQLiteStore:
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

    async def probe_write(self) -> bool:
        """After a failed write: can the store grow again? Writes and removes 64 KiB (new
        pages, as new stories need); clears `write_failure` when that succeeds."""
        try:
            async with self.transaction() as db:
                await db.execute("INSERT INTO write_probe (data) VALUES (zeroblob(65536))")
                await db.execute("DELETE FROM write_probe")
        except StoreError:
            return False
        self.write_failure = None
        return True

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

    async def sync_feeds(
        self, feeds: Sequence[FeedConfig], default_interval: float, now: float
    ) -> None:
        """Make the feeds table follow the configuration; keep state of known feeds.

        A new feed is due at once; a known feed keeps its next poll time (so a restart neither
        forgets nor stampedes) unless a new explicit interval brings it closer. A feed removed
        from the configuration is deactivated, its stories kept.
        """
        async with self.transaction() as db:
            await db.execute("UPDATE feeds SET active = 0")
            await db.executemany(  # one trip to the connection's thread, not one a feed
                """INSERT INTO feeds (url, config_url, name, interval, explicit_interval,
                                      next_poll_at, created_at, full_text)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (config_url) DO UPDATE SET
                     name = excluded.name, active = 1, full_text = excluded.full_text,
                     explicit_interval = excluded.explicit_interval,
                     interval = COALESCE(excluded.explicit_interval, feeds.interval),
                     next_poll_at = CASE WHEN excluded.explicit_interval IS NULL
                       THEN feeds.next_poll_at
                       ELSE MIN(feeds.next_poll_at, COALESCE(feeds.last_poll_at, 0)
                                + excluded.explicit_interval) END
                """,
                [
                    (
                        f.url,
                        f.url,
                        f.name,
                        f.interval or default_interval,
                        f.interval,
                        now,
                        now,
                        int(bool(f.full_text)),
                    )
                    for f in feeds
                ],
            )

    # FeedRow's fields, in order: a row is FeedRow(*row)
    _FEED_COLUMNS = ", ".join(FeedRow._fields)

    # INDEXED BY: SQLite refuses the query rather than fall back to a scan of all feeds.
    CLAIM_SQL = f"""SELECT {_FEED_COLUMNS} FROM feeds INDEXED BY feeds_due
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

    async def active_feeds(self) -> list[FeedRow]:
        rows = await self.db.execute_fetchall(
            f"SELECT {self._FEED_COLUMNS} FROM feeds "
            "WHERE active = 1 AND disabled_reason IS NULL AND paused = 0 ORDER BY id"
        )
        return [FeedRow(*r) for r in rows]

    async def set_paused(self, feed_id: int, paused: bool, now: float) -> bool:
        """Pause a feed (it is no longer claimed; a poll in flight finishes) or resume it (due
        now). False when there is no such feed."""
        async with self.transaction() as db:
            if paused:
                cur = await db.execute(
                    "UPDATE feeds SET paused = 1, paused_at = IFNULL(paused_at, ?) WHERE id = ?",
                    (now, feed_id),
                )
            else:
                cur = await db.execute(
                    "UPDATE feeds SET next_poll_at = CASE WHEN paused = 1 "
                    "THEN MIN(next_poll_at, ?) ELSE next_poll_at END, "
                    "paused = 0, paused_at = NULL WHERE id = ?",
                    (now, feed_id),
                )
            return cur.rowcount > 0

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

    @staticmethod
    async def _update_feed(
        db: aiosqlite.Connection, feed_id: int, u: PollUpdate, now: float
    ) -> None:
        await db.execute(*_update_feeds([(feed_id, u, now)], _quiet(u)))

    # -- stories ---------------------------------------------------------------------------

    async def known_hashes(self, feed_id: int, keys: Sequence[str]) -> dict[str, str]:
        """content_hash of each of `keys` already stored for the feed, including pruned
        stories' tombstones (a re-listed old item is not new)."""
        rows = await _key_rows(
            self.db,
            "SELECT key, content_hash FROM stories WHERE feed_id = ? AND key IN ({marks}) "
            "UNION ALL SELECT key, content_hash FROM story_tombstones "
            "WHERE feed_id = ? AND key IN ({marks})",
            feed_id,
            keys,
        )
        return {r[0]: r[1] for r in rows}

    @staticmethod
    async def _present_keys(
        db: aiosqlite.Connection, feed_id: int, keys: Sequence[str]
    ) -> set[str]:
        sql = "SELECT key FROM stories WHERE feed_id = ? AND key IN ({marks})"
        return {r[0] for r in await _key_rows(db, sql, feed_id, keys)}

    @staticmethod
    async def _story_ids(
        db: aiosqlite.Connection, feed_id: int, keys: Sequence[str]
    ) -> dict[str, int]:
        sql = "SELECT key, id FROM stories WHERE feed_id = ? AND key IN ({marks})"
        return {r[0]: r[1] for r in await _key_rows(db, sql, feed_id, keys)}

    async def ingest(
        self,
        feed_id: int,
        update: PollUpdate,
        new: Sequence[NewStory],
        updated: Sequence[NewStory],
        unchanged: int,
        now: float,
    ) -> IngestResult:
        """In one transaction: insert the new stories (waiting for detection; matches and
        alert rows given here are written too), record revisions of updated ones (or store a
        change that does not matter in place), and the poll's effect on the feed row.

        A story that another writer stored meanwhile is not inserted twice and gets no alert:
        only rows this transaction inserted produce alerts."""
        inserted_keys: list[str] = []
        n_alerts = n_updated = 0
        async with self.transaction() as db:
            # BEGIN IMMEDIATE holds the write lock: keys absent now stay absent until COMMIT,
            # so the rows inserted are exactly the stories not stored before (one alert each)
            present = await self._present_keys(db, feed_id, [s.entry.key for s in new])
            fresh: dict[str, NewStory] = {}
            for story in new:
                if story.entry.key not in present:
                    fresh.setdefault(story.entry.key, story)
            if fresh:
                await db.executemany(
                    """INSERT INTO stories (feed_id, key, link, title, summary, author,
                                            published_at, content_hash, first_seen_at,
                                            text_state, text_next_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    [
                        (feed_id, e.key, e.link, e.title, e.summary, e.author,
                         e.published.timestamp() if e.published else None, e.content_hash, now,
                         *(("pending", now) if s.wants_text and e.link else (None, None)))
                        for s, e in ((s, s.entry) for s in fresh.values())
                    ],
                )  # fmt: skip
                ids = await self._story_ids(db, feed_id, list(fresh))
                await db.executemany(
                    "INSERT INTO story_topics (story_id, topic_id, terms, matched_at) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (ids[key], m.topic_id, json.dumps(list(m.terms)), now)
                        for key, story in fresh.items()
                        for m in story.matches
                    ],
                )
                alert_rows = [
                    (new_alert_id(), ids[key], a.topic_id, a.sink_id, a.event,
                     json.dumps({**a.data, "story_id": ids[key]}), now, now)
                    for key, story in fresh.items()
                    for a in story.alerts
                ]  # fmt: skip
                await db.executemany(
                    """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data,
                                           created_at, next_attempt_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                    alert_rows,
                )
                n_alerts = len(alert_rows)
                inserted_keys = list(fresh)
            for story in updated:
                e = story.entry
                async with db.execute(
                    "SELECT id, revision, title, summary, content_hash FROM stories "
                    "WHERE feed_id = ? AND key = ?",
                    (feed_id, e.key),
                ) as cur:
                    old = await cur.fetchone()
                if old is None or old["content_hash"] == e.content_hash:
                    continue
                if not story.meaningful:  # e.g. only a date changed: stored in place
                    await db.execute(
                        "UPDATE stories SET title = ?, summary = ?, content_hash = ? WHERE id = ?",
                        (e.title, e.summary, e.content_hash, old["id"]),
                    )
                    continue
                await db.execute(
                    "INSERT OR IGNORE INTO story_revisions (story_id, revision, title, summary, "
                    "content_hash, seen_at, diff) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        old["id"],
                        old["revision"],
                        old["title"],
                        old["summary"],
                        old["content_hash"],
                        now,
                        None if story.diff is None else json.dumps(story.diff),
                    ),
                )
                await db.execute(
                    """UPDATE stories SET link = ?, title = ?, summary = ?, author = ?,
                         published_at = ?, content_hash = ?, updated_at = ?,
                         revision = revision + 1 WHERE id = ?""",
                    (
                        e.link,
                        e.title,
                        e.summary,
                        e.author,
                        e.published.timestamp() if e.published else None,
                        e.content_hash,
                        now,
                        old["id"],
                    ),
                )
                n_updated += 1
            if inserted_keys:
                await db.execute(
                    "UPDATE feeds SET stories = stories + ? WHERE id = ?",
                    (len(inserted_keys), feed_id),
                )
            await self._update_feed(db, feed_id, update, now)
        if inserted_keys:
            self.write_failure = None  # the store grew: there is room again
        return IngestResult(
            new=len(inserted_keys),
            updated=n_updated,
            unchanged=unchanged + len(new) - len(inserted_keys) + len(updated) - n_updated,
            alerts=n_alerts,
            new_keys=tuple(inserted_keys),
        )

    async def story_texts(self, feed_id: int, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(title, summary) stored for each of the feed's `keys` (to diff an update)."""
        sql = "SELECT key, title, summary FROM stories WHERE feed_id = ? AND key IN ({marks})"
        return {r[0]: (r[1], r[2]) for r in await _key_rows(self.db, sql, feed_id, keys)}

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

    async def next_text_due(self) -> float | None:
        return await self._time(
            "SELECT MIN(text_next_at) FROM stories WHERE text_state = 'pending'"
        )

    async def _time(self, sql: str) -> float | None:
        """The one value `sql` reads (a time), or None."""
        async with self.db.execute(sql) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def record_text(
        self,
        story_id: int,
        state: str,
        text: str | None,
        error: str | None,
        now: float,
        retry_at: float | None = None,
    ) -> None:
        """What fetching a story's page gave: `ok` with its text (`late` if the story was
        detected meanwhile: it is detected again), or why there is none; with `retry_at`
        the page is tried again then. Counted on the story's feed."""
        async with self.transaction() as db:
            if retry_at is not None:
                await db.execute(
                    "UPDATE stories SET text_next_at = ?, text_attempts = text_attempts + 1, "
                    "text_error = ? WHERE id = ? AND text_state = 'pending'",
                    (retry_at, error, story_id),
                )
                return
            cur = await db.execute(
                """UPDATE stories SET full_text = ?, text_error = ?, text_next_at = NULL,
                       text_attempts = text_attempts + 1,
                       text_state = CASE WHEN ? = 'ok' AND detected_rev IS NOT NULL
                                         THEN 'late' ELSE ? END
                   WHERE id = ? AND text_state = 'pending'""",
                (text, error, state, state, story_id),
            )
            if cur.rowcount:
                column = {"ok": "texts_ok", "not_article": "texts_not_article"}.get(
                    state, "texts_failed"
                )
                await db.execute(
                    f"UPDATE feeds SET {column} = {column} + 1, "
                    "last_text_error = COALESCE(?, last_text_error) "
                    "WHERE id = (SELECT feed_id FROM stories WHERE id = ?)",
                    (error if state != "ok" else None, story_id),
                )

    # -- detection -------------------------------------------------------------------------

    @asynccontextmanager
    async def detection(self) -> AsyncIterator[SQLiteDetection]:
        """One detection transaction (see monitor/store/sqlite_detect.py)."""
        async with self.transaction() as db:
            tx = SQLiteDetection(db)
            yield tx
            await tx.flush()  # the buffered writes, before the commit

    async def replay_page(self, since: float, after: int, limit: int) -> list[PendingStory]:
        """Stored stories first seen since `since`, ids above `after`, oldest first, as new
        stories (for `monitor backtest`)."""
        async with self.db.execute(REPLAY_SQL, (since, after, limit)) as cur:
            return [pending_story(r) for r in await cur.fetchall()]

    async def replay_count(self, since: float) -> int:
        async with self.db.execute(
            "SELECT COUNT(*) FROM stories WHERE first_seen_at >= ?", (since,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def detection_steps(
        self, since: float, after_seq: int, limit: int
    ) -> list[DetectionStep]:
        async with self.db.execute(STEPS_SQL, (since, after_seq, limit)) as cur:
            return [detection_step(r) for r in await cur.fetchall()]

    async def revision_texts(
        self, story_ids: Sequence[int]
    ) -> dict[tuple[int, int], tuple[str, str]]:
        out: dict[tuple[int, int], tuple[str, str]] = {}
        ids = sorted(set(story_ids))
        for i in range(0, len(ids), 5000):
            rows = await self.db.execute_fetchall(
                "SELECT story_id, revision, title, summary FROM story_revisions "
                "WHERE story_id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids[i : i + 5000]),),
            )
            out.update({(r[0], r[1]): (r[2], r[3]) for r in rows})
        return out

    async def pending_count(self) -> int:
        async with self.db.execute(
            "SELECT COUNT(*) FROM stories WHERE detected_rev IS NULL OR detected_rev < revision"
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def development_history(
        self, since: float
    ) -> tuple[list[DevelopmentRow], list[DevelopmentStoryRow]]:
        """Developments active since `since` and their stories in the order they joined:
        what rebuilds the detection stage's trackers at start."""
        async with self.db.execute(
            f"SELECT {DEVELOPMENT_COLUMNS} FROM developments WHERE last_seen_at >= ? "
            "ORDER BY first_seen_at",
            (since,),
        ) as cur:
            devs = [development_row(r) for r in await cur.fetchall()]
        async with self.db.execute(
            f"""SELECT {DEVELOPMENT_STORY_COLUMNS}
                  FROM development_stories d JOIN developments v ON v.id = d.development_id
                  JOIN stories s ON s.id = d.story_id
                 WHERE v.last_seen_at >= ? ORDER BY d.seq""",
            (since,),
        ) as cur:
            rows = [development_story_row(r) for r in await cur.fetchall()]
        return devs, rows

    async def detection_report(self) -> dict[str, Any]:
        """Counts for /status: stories waiting, duplicates, developments per topic."""
        async with self.db.execute(
            "SELECT topic_id, COUNT(*), MAX(last_seen_at) FROM developments GROUP BY topic_id"
        ) as cur:
            topics = list(await cur.fetchall())
        async with self.db.execute(
            "SELECT COUNT(*) FROM stories WHERE duplicate_of IS NOT NULL"
        ) as cur:
            row = await cur.fetchone()
        return detection_summary(await self.pending_count(), int(row[0]) if row else 0, topics)

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

    async def next_alert_due(self) -> float | None:
        return await self._time("SELECT MIN(next_attempt_at) FROM alerts WHERE state = 'pending'")

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

    async def admit_alerts(
        self,
        items: Sequence[tuple[str, str, str, Sequence[tuple[bool, int, float]]]],
        now: float,
    ) -> set[str]:
        """Rate limits: for each (alert id, topic, sink, limits) not yet let through, count the
        alerts let through within each limit's period (per topic and sink when the flag is set,
        else per sink) and either mark it let through or hold it for the next digest. Returns
        the ids held. An alert a digest already listed is marked digested instead."""
        held: set[str] = set()
        async with self.transaction() as db:
            for alert_id, topic_id, sink_id, limits in items:
                async with db.execute(
                    "SELECT released_at FROM alerts WHERE id = ?", (alert_id,)
                ) as cur:
                    row = await cur.fetchone()
                if row is None or row[0] is not None:
                    continue
                over = False
                for per_topic, count, period in limits:
                    sql = (
                        "SELECT COUNT(*) FROM alerts WHERE sink_id = ? AND released_at > ? "
                        f"AND event IN {STORY_EVENTS_SQL}"
                    )
                    args: tuple[Any, ...] = (sink_id, now - period)
                    if per_topic:
                        sql += " AND topic_id = ?"
                        args += (topic_id,)
                    async with db.execute(sql, args) as cur:
                        n = (await cur.fetchone() or (0,))[0]
                    if n >= count:
                        over = True
                        break
                if over:
                    held.add(alert_id)
                    await db.execute(
                        "UPDATE alerts SET state = CASE WHEN digest_id IS NULL THEN 'held' "
                        "ELSE 'digested' END, leased_until = NULL WHERE id = ?",
                        (alert_id,),
                    )
                else:
                    await db.execute(
                        "UPDATE alerts SET released_at = ? WHERE id = ?", (now, alert_id)
                    )
        return held

    async def alert_since(self, alert_id: str) -> float | None:
        """When the alert was written, or last re-queued: its age counts from there."""
        async with self.db.execute(
            "SELECT COALESCE(queued_at, created_at) FROM alerts WHERE id = ?", (alert_id,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else float(row[0])

    async def sync_digest_schedules(
        self, wanted: Sequence[tuple[str, str, str, str, float]], now: float
    ) -> int:
        """Make the digest schedules follow the configuration: (topic, sink, cron, timezone,
        next fire time). A schedule that did not change keeps its due time (a digest missed
        while stopped goes out at start). Alerts held for a (topic, sink) that no longer has a
        digest are released for delivery (never dropped); returns how many."""
        async with self.transaction() as db:
            async with db.execute(
                "SELECT topic_id, sink_id, cron, timezone FROM digest_schedules"
            ) as cur:
                have = {(r[0], r[1]): (r[2], r[3]) for r in await cur.fetchall()}
            keys = {(w[0], w[1]) for w in wanted}
            for topic_id, sink_id, cron, tz, next_at in wanted:
                old = have.get((topic_id, sink_id))
                if old is None:
                    await db.execute(
                        "INSERT INTO digest_schedules (topic_id, sink_id, cron, timezone, "
                        "next_at, last_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (topic_id, sink_id, cron, tz, next_at, now),
                    )
                elif old != (cron, tz):
                    await db.execute(
                        "UPDATE digest_schedules SET cron = ?, timezone = ?, next_at = ? "
                        "WHERE topic_id = ? AND sink_id = ?",
                        (cron, tz, next_at, topic_id, sink_id),
                    )
            for topic_id, sink_id in set(have) - keys:
                await db.execute(
                    "DELETE FROM digest_schedules WHERE topic_id = ? AND sink_id = ?",
                    (topic_id, sink_id),
                )
            released = 0
            async with db.execute(
                "SELECT DISTINCT topic_id, sink_id FROM alerts WHERE state = 'held'"
            ) as cur:
                stranded = [(r[0], r[1]) for r in await cur.fetchall() if (r[0], r[1]) not in keys]
            for topic_id, sink_id in stranded:
                cur2 = await db.execute(
                    "UPDATE alerts SET state = 'pending', next_attempt_at = ?, released_at = ? "
                    "WHERE state = 'held' AND topic_id = ? AND sink_id = ?",
                    (now, now, topic_id, sink_id),
                )
                released += cur2.rowcount
        return released

    async def due_digests(self, now: float) -> list[dict[str, Any]]:
        async with self.db.execute(
            "SELECT topic_id, sink_id, cron, timezone, next_at, last_at FROM digest_schedules "
            "WHERE next_at <= ? ORDER BY next_at",
            (now,),
        ) as cur:
            return [dict(r) for r in await cur.fetchall()]

    async def write_digest(
        self,
        topic_id: str,
        sink_id: str,
        topic: dict[str, Any],
        now: float,
        next_at: float,
        max_listed: int = 100,
    ) -> tuple[str | None, int]:
        """In one transaction: a `topic.digest` alert listing the topic's alerts to the sink
        since the last digest and every alert held by the rate limit (those become digested),
        and the schedule moved to `next_at`. No alert when there is nothing to list. Returns
        the digest's id (or None) and how many stories it covers."""
        async with self.transaction() as db:
            async with db.execute(
                "SELECT last_at FROM digest_schedules WHERE topic_id = ? AND sink_id = ?",
                (topic_id, sink_id),
            ) as cur:
                row = await cur.fetchone()
            since = float(row[0]) if row else now
            async with db.execute(
                f"""SELECT id, story_id, state, data, created_at FROM alerts
                   WHERE topic_id = ? AND sink_id = ? AND event IN {STORY_EVENTS_SQL}
                     AND digest_id IS NULL AND created_at <= ?
                     AND (state = 'held' OR created_at >= ?)
                   ORDER BY created_at, rowid""",
                (topic_id, sink_id, now, since),
            ) as cur:
                rows = list(await cur.fetchall())
            await db.execute(
                "UPDATE digest_schedules SET next_at = ?, last_at = ? "
                "WHERE topic_id = ? AND sink_id = ?",
                (next_at, now, topic_id, sink_id),
            )
            if not rows:
                return None, 0
            digest_id = new_alert_id()
            data = digest_data(topic, rows, since, now, max_listed)
            await db.execute(
                """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data,
                                       created_at, next_attempt_at, released_at)
                   VALUES (?, NULL, ?, ?, 'topic.digest', ?, ?, ?, ?)""",
                (digest_id, topic_id, sink_id, json.dumps(data), now, now, now),
            )
            await db.executemany(
                "UPDATE alerts SET digest_id = ?, "
                "state = CASE WHEN state = 'held' THEN 'digested' ELSE state END WHERE id = ?",
                [(digest_id, r["id"]) for r in rows],
            )
        return digest_id, len(rows)

    async def check_feed_health(
        self, now: float, failing_after: int, after: float, sinks: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        """Feed health episodes: a feed seen failing (at least `failing_after` consecutive
        errors) starts one; after `after` seconds still failing, a `feed.failing` alert is
        written per sink; when it polls fine again, `feed.recovered` (only if the failing one
        was sent). Returns (event, feed url, alert id) of the alerts written."""
        written: list[tuple[str, str, str]] = []
        async with self.transaction() as db:
            async with db.execute(HEALTH_SELECT.format(failing_after="?"), (failing_after,)) as cur:
                rows = list(await cur.fetchall())
            for r in rows:
                action, event, data = health_step(r, now, failing_after, after)
                if action == "open":
                    await db.execute(
                        "INSERT INTO feed_health (feed_id, failing_since) VALUES (?, ?)",
                        (r["id"], now),
                    )
                elif action == "alert":
                    await db.execute(
                        "UPDATE feed_health SET alerted_at = ? WHERE feed_id = ?", (now, r["id"])
                    )
                elif action == "close":
                    await db.execute("DELETE FROM feed_health WHERE feed_id = ?", (r["id"],))
                for sink_id in sinks if event else ():
                    alert_id = new_alert_id()
                    await db.execute(
                        """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data,
                                               created_at, next_attempt_at)
                           VALUES (?, NULL, '', ?, ?, ?, ?, ?)""",
                        (alert_id, sink_id, event, json.dumps(data), now, now),
                    )
                    written.append((str(event), r["url"], alert_id))
        return written

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

    async def alert_log(
        self, state: str | None = None, limit: int = 50, alert_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Alerts, newest first, with their payload data and their delivery attempts."""
        sql = (
            "SELECT id, story_id, topic_id, sink_id, event, data, state, attempts, created_at, "
            "next_attempt_at, delivered_at, last_error, digest_id, queued_at FROM alerts"
        )
        args: tuple[Any, ...] = ()
        if alert_id is not None:
            sql += " WHERE id = ?"
            args = (alert_id,)
        elif state:
            sql += " WHERE state = ?"
            args = (state,)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        async with self.db.execute(sql, (*args, limit)) as cur:
            rows = [dict(r) for r in await cur.fetchall()]
        for row in rows:
            row["data"] = json.loads(row["data"])
            async with self.db.execute(
                "SELECT attempt, at, status, latency, error FROM alert_attempts "
                "WHERE alert_id = ? ORDER BY attempt",
                (row["id"],),
            ) as cur:
                row["attempts_log"] = [dict(r) for r in await cur.fetchall()]
        return rows

    # -- relevance feedback ------------------------------------------------------------------

    async def add_feedback(
        self, topic_id: str, story_id: int, verdict: str, now: float, alert_id: str | None = None
    ) -> Feedback | None:
        async with self.transaction() as db:
            async with db.execute(FEEDBACK_STORY.format(id="?"), (story_id,)) as cur:
                story = await cur.fetchone()
            if story is None:
                return None
            await db.execute(
                "DELETE FROM topic_feedback WHERE topic_id = ? AND story_id = ?",
                (topic_id, story_id),
            )
            async with db.execute(
                "INSERT INTO topic_feedback (topic_id, story_id, alert_id, verdict, title, text, "
                f"created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {FEEDBACK_COLUMNS}",
                (topic_id, story_id, alert_id, verdict, story["title"], story["text"], now),
            ) as cur:
                row = await cur.fetchone()
        assert row is not None
        return feedback_of(row)

    async def feedback(self, topic_id: str | None = None) -> list[Feedback]:
        sql = f"SELECT {FEEDBACK_COLUMNS} FROM topic_feedback"
        args: tuple[Any, ...] = ()
        if topic_id is not None:
            sql, args = sql + " WHERE topic_id = ?", (topic_id,)
        async with self.db.execute(sql + " ORDER BY id", args) as cur:
            return [feedback_of(r) for r in await cur.fetchall()]

    async def delete_feedback(self, topic_id: str, feedback_id: int) -> Feedback | None:
        async with (
            self.transaction() as db,
            db.execute(
                f"DELETE FROM topic_feedback WHERE topic_id = ? AND id = ? "
                f"RETURNING {FEEDBACK_COLUMNS}",
                (topic_id, feedback_id),
            ) as cur,
        ):
            row = await cur.fetchone()
        return None if row is None else feedback_of(row)

    async def feedback_version(self) -> tuple[int, int]:
        async with self.db.execute(
            "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM topic_feedback"
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    # -- maintenance -----------------------------------------------------------------------

    async def prune(self, now: float, retention: RetentionConfig) -> dict[str, int]:
        """Delete rows older than the retention ages, a small batch per transaction so polls
        interleave. A pruned story leaves a tombstone. Returns the rows deleted per kind."""
        batch = retention.batch
        counts = {"stories": 0, "revisions": 0, "alerts": 0, "tombstones": 0, "developments": 0}
        if retention.stories is not None:
            cutoff = now - retention.stories
            while True:
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
                    await db.executemany(
                        "DELETE FROM stories WHERE id = ?", [(r["id"],) for r in rows]
                    )
                    per_feed: dict[int, int] = {}
                    for r in rows:
                        per_feed[r["feed_id"]] = per_feed.get(r["feed_id"], 0) + 1
                    await db.executemany(
                        "UPDATE feeds SET stories = MAX(0, stories - ?) WHERE id = ?",
                        [(n, fid) for fid, n in per_feed.items()],
                    )
                counts["stories"] += len(rows)
                if len(rows) < batch:
                    break
                await asyncio.sleep(0)
        plans = (
            (
                "revisions",
                retention.revisions,
                "DELETE FROM story_revisions WHERE rowid IN (SELECT rowid FROM story_revisions "
                "WHERE seen_at < ? LIMIT ?)",
            ),
            (
                "alerts",
                retention.attempts,
                "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE state = 'delivered' "
                "AND delivered_at < ? LIMIT ?)",
            ),
            (  # a development whose stories were all pruned (its links went with them)
                "developments",
                retention.stories,
                "DELETE FROM developments WHERE id IN (SELECT id FROM developments d "
                "WHERE last_seen_at < ? AND NOT EXISTS (SELECT 1 FROM development_stories s "
                "WHERE s.development_id = d.id) LIMIT ?)",
            ),
            (
                "tombstones",
                retention.tombstones,
                "DELETE FROM story_tombstones WHERE rowid IN (SELECT rowid FROM story_tombstones "
                "WHERE pruned_at < ? LIMIT ?)",
            ),
        )
        for kind, age, sql in plans:
            if age is None:
                continue
            while True:
                async with self.transaction() as db:
                    cur = await db.execute(sql, (now - age, batch))
                    deleted = cur.rowcount
                counts[kind] += deleted
                if deleted < batch:
                    break
                await asyncio.sleep(0)
        return counts

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

    async def feed_report(self) -> list[dict[str, Any]]:
        async with self.db.execute(
            """SELECT id, url, config_url, name, title, interval, explicit_interval, rate,
                      server_interval, disabled_reason, paused, paused_at, active, last_poll_at,
                      last_success_at, last_result, last_status, last_error_kind, last_error,
                      consecutive_errors, next_poll_at, stories, polls, full_text,
                      texts_ok, texts_failed, texts_not_article, last_text_error
               FROM feeds ORDER BY active DESC, id"""
        ) as cur:
            return [dict(r) for r in await cur.fetchall()]

    async def topic_report(self) -> dict[str, dict[str, Any]]:
        async with self.db.execute(
            "SELECT topic_id, COUNT(*) AS matches, MAX(matched_at) AS last_match_at "
            "FROM story_topics GROUP BY topic_id"
        ) as cur:
            return {r["topic_id"]: dict(r) for r in await cur.fetchall()}

    async def alert_counts(self) -> dict[str, Any]:
        async with self.db.execute(
            "SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM alerts GROUP BY state"
        ) as cur:
            rows = {r["state"]: dict(r) for r in await cur.fetchall()}
        return {
            "pending": rows.get("pending", {}).get("n", 0),
            "delivered": rows.get("delivered", {}).get("n", 0),
            "dead": rows.get("dead", {}).get("n", 0),
            "held": rows.get("held", {}).get("n", 0),  # over a rate limit, for the next digest
            "oldest_pending_at": rows.get("pending", {}).get("oldest"),
        }

    async def story_count(self) -> int:
        async with self.db.execute("SELECT COALESCE(SUM(stories), 0) FROM feeds") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def alerts(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, topic_id, sink_id, event, state, attempts, created_at, "
            "next_attempt_at, delivered_at, last_error FROM alerts"
        )
        args: tuple[Any, ...] = ()
        if state:
            sql += " WHERE state = ?"
            args = (state,)
        sql += " ORDER BY created_at DESC LIMIT ?"
        async with self.db.execute(sql, (*args, limit)) as cur:
            return [dict(r) for r in await cur.fetchall()]

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

    async def feed_row(self, feed_id: int) -> FeedRow | None:
        async with self.db.execute(
            f"SELECT {self._FEED_COLUMNS} FROM feeds WHERE id = ?", (feed_id,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else FeedRow(*row)

    async def subscriptions(self) -> list[Subscription]:
        async with self.db.execute(f"{SUBSCRIPTION_SELECT} ORDER BY w.feed_id") as cur:
            return [subscription_of(r) for r in await cur.fetchall()]

    async def subscription(self, feed_id: int) -> Subscription | None:
        async with self.db.execute(f"{SUBSCRIPTION_SELECT} WHERE w.feed_id = ?", (feed_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else subscription_of(row)

    async def subscribe(
        self, feed_id: int, hub: str, topic: str, callback: str, secret: str, now: float
    ) -> None:
        async with self.transaction() as db:
            await db.execute(
                """INSERT INTO websub_subscriptions (feed_id, hub, topic, callback, secret, state,
                                                     next_action_at, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)
                   ON CONFLICT (feed_id) DO UPDATE SET
                     hub = excluded.hub, topic = excluded.topic, callback = excluded.callback,
                     secret = excluded.secret, state = 'pending', requested_at = NULL,
                     lease_seconds = NULL, lease_until = NULL,
                     next_action_at = excluded.next_action_at, attempts = 0, last_error = NULL,
                     verified_at = NULL, updated_at = excluded.updated_at""",
                (feed_id, hub, topic, callback, secret, now, now, now),
            )
            await self._mark_pushed(db, feed_id)

    async def update_subscription(
        self, feed_id: int, changes: Mapping[str, Any], now: float
    ) -> bool:
        pairs = checked_changes(changes)
        sets = "".join(f"{column} = ?, " for column, _ in pairs)
        async with self.transaction() as db:
            cur = await db.execute(
                f"UPDATE websub_subscriptions SET {sets}updated_at = ? WHERE feed_id = ?",
                (*(value for _, value in pairs), now, feed_id),
            )
            if "state" in changes:
                await self._mark_pushed(db, feed_id)
            return cur.rowcount > 0

    async def delete_subscription(self, feed_id: int) -> bool:
        async with self.transaction() as db:
            cur = await db.execute("DELETE FROM websub_subscriptions WHERE feed_id = ?", (feed_id,))
            await self._mark_pushed(db, feed_id)
            return cur.rowcount > 0

    @staticmethod
    async def _mark_pushed(db: aiosqlite.Connection, feed_id: int) -> None:
        await db.execute(
            "UPDATE feeds SET pushed = EXISTS (SELECT 1 FROM websub_subscriptions "
            "WHERE feed_id = ? AND state = 'active') WHERE id = ?",
            (feed_id, feed_id),
        )

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

    async def count_push(self, feed_id: int, forged: bool, now: float) -> None:
        sql, args = (
            ("forged = forged + 1", (feed_id,))
            if forged
            else ("pushes = pushes + 1, last_push_at = ?", (now, feed_id))
        )
        async with self.transaction() as db:
            await db.execute(f"UPDATE websub_subscriptions SET {sql} WHERE feed_id = ?", args)
