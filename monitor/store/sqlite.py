"""The embedded store: one SQLite file through aiosqlite, WAL mode.

One connection serves the daemon; an asyncio lock makes each write transaction whole
(`BEGIN IMMEDIATE … COMMIT`), so stories, their topic matches, their alert rows and the
feed's new validators are committed together or not at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

from monitor.config import FeedConfig, RetentionConfig
from monitor.models import FeedRow, IngestResult, NewStory, PendingAlert, PollUpdate
from monitor.store.schema import MIGRATIONS


class StoreError(Exception):
    """The store cannot be opened or written; the message says which file and why."""


def new_alert_id() -> str:
    """A Standard Webhooks message id: time-ordered prefix, random suffix."""
    return f"msg_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock: Any = None

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
        async with self._lock:
            db = self.db
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            else:
                await db.execute("COMMIT")

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
        forgets nor stampedes) unless its new interval brings it closer. A feed removed from the
        configuration is deactivated, its stories kept.
        """
        async with self.transaction() as db:
            await db.execute("UPDATE feeds SET active = 0")
            for f in feeds:
                interval = f.interval or default_interval
                await db.execute(
                    """INSERT INTO feeds (url, config_url, name, interval, next_poll_at, created_at)
                       VALUES (?, ?, ?, ?, ?, ?)
                       ON CONFLICT (config_url) DO UPDATE SET
                         name = excluded.name, interval = excluded.interval, active = 1,
                         next_poll_at = MIN(feeds.next_poll_at,
                                            COALESCE(feeds.last_poll_at, 0) + excluded.interval)
                    """,
                    (f.url, f.url, f.name, interval, now, now),
                )

    async def claim_due_feeds(
        self, now: float, limit: int, exclude: Iterable[int] = ()
    ) -> list[FeedRow]:
        """The due feeds, earliest first; each is pushed one interval ahead as it is claimed,
        so a crash mid-poll retries it after one interval instead of at once."""
        skip = set(exclude)
        async with self.transaction() as db:
            async with db.execute(
                """SELECT id, url, name, interval, etag, last_modified, next_poll_at,
                          consecutive_errors, body_hash
                   FROM feeds WHERE active = 1 AND next_poll_at <= ?
                   ORDER BY next_poll_at LIMIT ?""",
                (now, limit + len(skip)),
            ) as cur:
                rows = [r for r in await cur.fetchall() if r["id"] not in skip][:limit]
            await db.executemany(
                "UPDATE feeds SET next_poll_at = ? WHERE id = ?",
                [(now + r["interval"], r["id"]) for r in rows],
            )
        return [
            FeedRow(
                id=r["id"],
                url=r["url"],
                name=r["name"],
                interval=r["interval"],
                etag=r["etag"],
                last_modified=r["last_modified"],
                next_poll_at=r["next_poll_at"],
                consecutive_errors=r["consecutive_errors"],
                body_hash=r["body_hash"],
            )
            for r in rows
        ]

    async def active_feeds(self) -> list[FeedRow]:
        async with self.db.execute(
            """SELECT id, url, name, interval, etag, last_modified, next_poll_at,
                      consecutive_errors, body_hash FROM feeds WHERE active = 1 ORDER BY id"""
        ) as cur:
            return [FeedRow(**dict(r)) for r in await cur.fetchall()]

    async def record_poll(self, feed_id: int, update: PollUpdate, now: float) -> None:
        async with self.transaction() as db:
            await self._update_feed(db, feed_id, update, now)

    async def _update_feed(
        self, db: aiosqlite.Connection, feed_id: int, u: PollUpdate, now: float
    ) -> None:
        failed = u.result == "error"
        await db.execute(
            """UPDATE feeds SET
                 last_poll_at = ?, last_result = ?, last_status = ?, next_poll_at = ?,
                 polls = polls + 1,
                 consecutive_errors = CASE WHEN ? THEN consecutive_errors + 1 ELSE 0 END,
                 last_error_kind = CASE WHEN ? THEN ? ELSE last_error_kind END,
                 last_error = CASE WHEN ? THEN ? ELSE last_error END,
                 last_success_at = CASE WHEN ? THEN last_success_at ELSE ? END,
                 etag = CASE WHEN ? THEN etag ELSE ? END,
                 last_modified = CASE WHEN ? THEN last_modified ELSE ? END,
                 body_hash = COALESCE(?, body_hash),
                 title = COALESCE(?, title),
                 url = COALESCE(?, url)
               WHERE id = ?""",
            (
                now,
                u.result,
                u.http_status,
                u.next_poll_at,
                failed,
                failed,
                u.error_kind,
                failed,
                u.error,
                failed,
                now,
                failed,
                u.etag,
                failed,
                u.last_modified,
                u.body_hash,
                u.title,
                u.url,
                feed_id,
            ),
        )

    # -- stories ---------------------------------------------------------------------------

    async def known_hashes(self, feed_id: int, keys: Sequence[str]) -> dict[str, str]:
        """content_hash of each of `keys` already stored for the feed, including pruned
        stories' tombstones (a re-listed old item is not new)."""
        out: dict[str, str] = {}
        for i in range(0, len(keys), 400):
            chunk = list(keys[i : i + 400])
            marks = ",".join("?" * len(chunk))
            async with self.db.execute(
                f"SELECT key, content_hash FROM stories WHERE feed_id = ? AND key IN ({marks}) "
                f"UNION ALL SELECT key, content_hash FROM story_tombstones "
                f"WHERE feed_id = ? AND key IN ({marks})",
                (feed_id, *chunk, feed_id, *chunk),
            ) as cur:
                out.update({r[0]: r[1] for r in await cur.fetchall()})
        return out

    async def ingest(
        self,
        feed_id: int,
        update: PollUpdate,
        new: Sequence[NewStory],
        updated: Sequence[NewStory],
        unchanged: int,
        now: float,
    ) -> IngestResult:
        """In one transaction: insert the new stories with their topic matches and alert rows,
        record revisions of updated ones, and the poll's effect on the feed row.

        A story that another writer stored meanwhile is not inserted twice and gets no alert:
        only rows this transaction inserted produce alerts."""
        inserted_keys: list[str] = []
        n_alerts = n_updated = 0
        async with self.transaction() as db:
            for story in new:
                e = story.entry
                cur = await db.execute(
                    """INSERT INTO stories (feed_id, key, link, title, summary, author,
                                            published_at, content_hash, first_seen_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (feed_id, key) DO NOTHING""",
                    (
                        feed_id,
                        e.key,
                        e.link,
                        e.title,
                        e.summary,
                        e.author,
                        e.published.timestamp() if e.published else None,
                        e.content_hash,
                        now,
                    ),
                )
                if cur.rowcount != 1 or cur.lastrowid is None:
                    continue
                story_id = cur.lastrowid
                inserted_keys.append(e.key)
                await db.executemany(
                    "INSERT INTO story_topics (story_id, topic_id, terms, matched_at) "
                    "VALUES (?, ?, ?, ?)",
                    [(story_id, m.topic_id, json.dumps(list(m.terms)), now) for m in story.matches],
                )
                for a in story.alerts:
                    await db.execute(
                        """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data,
                                               created_at, next_attempt_at)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                        (
                            new_alert_id(),
                            story_id,
                            a.topic_id,
                            a.sink_id,
                            a.event,
                            json.dumps({**a.data, "story_id": story_id}),
                            now,
                            now,
                        ),
                    )
                    n_alerts += 1
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
                await db.execute(
                    "INSERT OR IGNORE INTO story_revisions (story_id, revision, title, summary, "
                    "content_hash, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        old["id"],
                        old["revision"],
                        old["title"],
                        old["summary"],
                        old["content_hash"],
                        now,
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
        return IngestResult(
            new=len(inserted_keys),
            updated=n_updated,
            unchanged=unchanged + len(new) - len(inserted_keys) + len(updated) - n_updated,
            alerts=n_alerts,
            new_keys=tuple(inserted_keys),
        )

    # -- alerts ----------------------------------------------------------------------------

    async def claim_due_alerts(self, now: float, limit: int, lease: float) -> list[PendingAlert]:
        """Pending alerts whose time has come, oldest first; each is leased for `lease`
        seconds so a crash mid-send retries it later under the same id."""
        async with self.transaction() as db:
            async with db.execute(
                """SELECT id, topic_id, sink_id, event, data, created_at, attempts FROM alerts
                   WHERE state = 'pending' AND next_attempt_at <= ?
                   ORDER BY next_attempt_at LIMIT ?""",
                (now, limit),
            ) as cur:
                rows = await cur.fetchall()
            await db.executemany(
                "UPDATE alerts SET next_attempt_at = ? WHERE id = ?",
                [(now + lease, r["id"]) for r in rows],
            )
        return [
            PendingAlert(
                id=r["id"],
                topic_id=r["topic_id"],
                sink_id=r["sink_id"],
                event=r["event"],
                data=json.loads(r["data"]),
                created_at=r["created_at"],
                attempts=r["attempts"],
            )
            for r in rows
        ]

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
                     next_attempt_at = COALESCE(?, next_attempt_at),
                     delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END
                   WHERE id = ?""",
                (state, error, next_attempt_at, state, at, alert_id),
            )

    async def next_alert_due(self) -> float | None:
        async with self.db.execute(
            "SELECT MIN(next_attempt_at) FROM alerts WHERE state = 'pending'"
        ) as cur:
            row = await cur.fetchone()
        return None if row is None or row[0] is None else float(row[0])

    # -- maintenance -----------------------------------------------------------------------

    async def prune(self, now: float, retention: RetentionConfig) -> dict[str, int]:
        """Delete rows older than the retention ages, a small batch per transaction so polls
        interleave. A pruned story leaves a tombstone. Returns the rows deleted per kind."""
        batch = retention.batch
        counts = {"stories": 0, "revisions": 0, "alerts": 0, "tombstones": 0}
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
            """SELECT id, url, config_url, name, title, interval, active, last_poll_at,
                      last_success_at, last_result, last_status, last_error_kind, last_error,
                      consecutive_errors, next_poll_at, stories, polls
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
