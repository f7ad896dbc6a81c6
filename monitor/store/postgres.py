"""The shared store: PostgreSQL through an asyncpg connection pool, for several instances.

Work is shared without a coordinator: a due feed or alert is claimed in one statement
(`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …`) that also moves it
into the future by its lease (a feed: one interval; an alert: `delivery.lease`), so no
other instance claims it before the lease expires, and a crashed instance's claims come
due again by themselves. Each lease records the instance that holds it (`leased_by`).
A story is inserted with ON CONFLICT DO NOTHING, and only the rows an insert returns get
topic matches and alert rows, in the same transaction: the same story fetched by two
instances at once is stored once and alerted once. Rate limits, digests and feed-health
episodes take transaction-scoped advisory locks, so two instances never decide the same
thing twice. Migrations run at open under a session advisory lock.

Detection (duplicates, topic matches, developments: monitor/detection.py) is serial by
design: every instance may run it, but each detection transaction first takes one fixed
transaction-scoped advisory lock (`DETECT_LOCK`), so one instance detects at a time and the
next one, once the lock is free, finds the queue (`detected_rev`) as the first left it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg

from monitor.config import FeedConfig, RetentionConfig, redact_url
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
    REPLAY_TEMPLATE,
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
from monitor.store.pg_detect import PostgresDetection, rows_affected
from monitor.store.pg_schema import PG_MIGRATIONS, VERSION_TABLE
from monitor.topics.feedback import Feedback

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Con = PoolConnectionProxy[asyncpg.Record]

TIMEOUT = 60.0  # seconds a statement may take
MIGRATE_LOCK = 0x6D6F6E69746F72  # "monitor": the session advisory lock held while migrating
# "mondetec": the transaction advisory lock of a detection transaction (one instance detects
# at a time). A single 64-bit key: apart from the (int, int) keys of _lock_sql.
DETECT_LOCK = 0x6D6F6E6465746563
REPLAY_SQL = REPLAY_TEMPLATE.format(since="$1", after="$2", limit="$3")
STEPS_SQL = DETECTION_STEPS_TEMPLATE.format(since="$1", after="$2", limit="$3")

# Errors that mean "the server refuses writes now" (full disk, out of resources, a read-only
# standby after a failover): remembered in write_failure, the daemon reports not-ready.
_WRITE_FAILURES: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
    asyncpg.exceptions.DiskFullError,
)
# Errors that mean "no server to talk to".
_CONNECTION_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
)

_OPEN_FAILURES: tuple[type[BaseException], ...] = (
    *_CONNECTION_FAILURES,
    asyncpg.PostgresError,
    ValueError,
)

_FEED_COLUMNS = (
    "id", "url", "name", "interval", "etag", "last_modified", "next_poll_at",
    "consecutive_errors", "body_hash", "explicit_interval", "rate", "server_interval",
    "last_success_at", "config_url", "pushed", "full_text",
)  # fmt: skip


def _cols(prefix: str = "", skip: Iterable[str] = ()) -> str:
    return ", ".join(f'{prefix}"{c}"' for c in _FEED_COLUMNS if c not in skip)


def _lock_sql(name: str) -> str:
    return f"SELECT pg_advisory_xact_lock(hashtext('monitor'), hashtext('{name}'))"


class PostgresStore:
    # several instances share it: the detection stage catches up with what others decided
    shared = True

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._url = url
        self.display = redact_url(url)
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._instance = new_instance_id()
        self._size = 0
        self.write_failure: str | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self.display!r})"

    @property
    def instance_id(self) -> str:
        return self._instance

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._url,
                min_size=self._min_size,
                max_size=self._max_size,
                command_timeout=TIMEOUT,
                server_settings={"application_name": f"monitor {self._instance}"[:63]},
            )
        except _OPEN_FAILURES as exc:
            raise StoreError(f"cannot open PostgreSQL store {self.display}: {exc}") from exc
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _migrate(self) -> None:
        """Apply the pending migrations, one transaction each, while holding a session
        advisory lock: an instance starting at the same time waits, then finds nothing to do."""
        async with self.pool.acquire() as con:
            await con.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK)
            try:
                if await con.fetchval("SELECT to_regclass('monitor_schema')") is None:
                    await con.execute(VERSION_TABLE)
                version = int(await con.fetchval("SELECT version FROM monitor_schema"))
                if version > len(PG_MIGRATIONS):
                    raise StoreError(
                        f"{self.display} has schema version {version}, newer than this "
                        f"monitor knows ({len(PG_MIGRATIONS)}): upgrade the monitor"
                    )
                for number, script in enumerate(PG_MIGRATIONS[version:], start=version + 1):
                    async with con.transaction():
                        await con.execute(script)
                        await con.execute("UPDATE monitor_schema SET version = $1", number)
            except asyncpg.PostgresError as exc:
                raise StoreError(f"cannot migrate {self.display}: {exc}") from exc
            finally:
                await con.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Con]:
        """One transaction on a pooled connection, whole or not at all. A write the server
        refuses (disk full, read-only) is remembered in `write_failure` and raises
        StoreError, as does a lost connection."""
        try:
            async with self.pool.acquire() as con, con.transaction():
                yield con
        except _WRITE_FAILURES as exc:
            self.write_failure = f"cannot write to {self.display}: {exc}"
            raise StoreError(self.write_failure) from exc
        except TimeoutError as exc:
            raise StoreError(f"{self.display}: a statement took over {TIMEOUT:g}s") from exc
        except _CONNECTION_FAILURES as exc:
            raise StoreError(f"lost the connection to {self.display}: {exc}") from exc

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Con]:
        """A pooled connection for reads (autocommit)."""
        try:
            async with self.pool.acquire() as con:
                yield con
        except TimeoutError as exc:
            raise StoreError(f"{self.display}: a statement took over {TIMEOUT:g}s") from exc
        except _CONNECTION_FAILURES as exc:
            raise StoreError(f"lost the connection to {self.display}: {exc}") from exc

    async def probe_write(self) -> bool:
        try:
            async with self.transaction() as con:
                await con.execute("INSERT INTO write_probe (data) VALUES ($1)", bytes(65536))
                await con.execute("DELETE FROM write_probe")
        except StoreError:
            return False
        self.write_failure = None
        return True

    async def set_max_size(self, max_bytes: int | None) -> None:
        if max_bytes is not None:
            raise StoreError("storage.max_size applies to a SQLite store only")

    async def ping(self) -> bool:
        try:
            async with self.connection() as con:
                size = await con.fetchval("SELECT pg_database_size(current_database())")
        except Exception:
            return False
        self._size = int(size or 0)
        return True

    # -- feeds -----------------------------------------------------------------------------

    async def sync_feeds(
        self, feeds: Sequence[FeedConfig], default_interval: float, now: float
    ) -> None:
        """As SQLiteStore.sync_feeds; instances starting together take turns (a lock)."""
        async with self.transaction() as con:
            await con.execute(_lock_sql("feeds"))
            await con.execute(
                "UPDATE feeds SET active = 0 WHERE active = 1 AND NOT (config_url = ANY($1))",
                [f.url for f in feeds],
            )
            await con.executemany(
                """INSERT INTO feeds (url, config_url, name, "interval", explicit_interval,
                                      next_poll_at, created_at, full_text)
                   VALUES ($1, $1, $2, $3, $4, $5, $5, $6)
                   ON CONFLICT (config_url) DO UPDATE SET
                     name = excluded.name, active = 1, full_text = excluded.full_text,
                     explicit_interval = excluded.explicit_interval,
                     "interval" = COALESCE(excluded.explicit_interval, feeds."interval"),
                     next_poll_at = CASE WHEN excluded.explicit_interval IS NULL
                       THEN feeds.next_poll_at
                       ELSE LEAST(feeds.next_poll_at, COALESCE(feeds.last_poll_at, 0)
                                  + excluded.explicit_interval) END""",
                [
                    (
                        f.url,
                        f.name,
                        f.interval or default_interval,
                        f.interval,
                        now,
                        int(bool(f.full_text)),
                    )
                    for f in feeds
                ],
            )

    CLAIM_SQL = f"""
        WITH due AS (
            SELECT id, next_poll_at AS due_at FROM feeds
            WHERE active = 1 AND disabled_reason IS NULL AND paused = 0 AND next_poll_at <= $1
              AND NOT (id = ANY($3::bigint[]))
            ORDER BY next_poll_at LIMIT $2
            FOR UPDATE SKIP LOCKED)
        UPDATE feeds f SET next_poll_at = $1 + f."interval", leased_by = $4, leased_at = $1
        FROM due WHERE f.id = due.id
        RETURNING {_cols("f.", skip=("next_poll_at",))}, due.due_at AS next_poll_at"""

    async def claim_due_feeds(
        self, now: float, limit: int, exclude: Iterable[int] = ()
    ) -> list[FeedRow]:
        """The due feeds, earliest first, none another instance holds; each is pushed one
        interval ahead (its lease) and marked with this instance, in one statement."""
        async with self.transaction() as con:
            rows = await con.fetch(self.CLAIM_SQL, now, limit, list(exclude), self._instance)
        rows.sort(key=lambda r: (r["next_poll_at"], r["id"]))
        return [FeedRow(**dict(r)) for r in rows]

    async def active_feeds(self) -> list[FeedRow]:
        async with self.connection() as con:
            rows = await con.fetch(
                f"SELECT {_cols()} FROM feeds "
                "WHERE active = 1 AND disabled_reason IS NULL AND paused = 0 ORDER BY id"
            )
        return [FeedRow(**dict(r)) for r in rows]

    async def set_paused(self, feed_id: int, paused: bool, now: float) -> bool:
        """As SQLiteStore.set_paused."""
        async with self.transaction() as con:
            if paused:
                status = await con.execute(
                    "UPDATE feeds SET paused = 1, paused_at = COALESCE(paused_at, $1) "
                    "WHERE id = $2",
                    now,
                    feed_id,
                )
            else:
                status = await con.execute(
                    "UPDATE feeds SET next_poll_at = CASE WHEN paused = 1 "
                    "THEN LEAST(next_poll_at, $1) ELSE next_poll_at END, "
                    "paused = 0, paused_at = NULL WHERE id = $2",
                    now,
                    feed_id,
                )
        return rows_affected(status) > 0

    async def record_poll(
        self, feed_id: int, update: PollUpdate, now: float, *, wait: bool = True
    ) -> None:
        """Record a poll that stored no stories (304, unchanged body, error); ends the lease.
        Always committed before it returns (`wait` is for stores that group these writes)."""
        async with self.transaction() as con:
            await con.execute(_UPDATE_FEED_SQL, *_feed_params(feed_id, update, now))

    # -- stories ---------------------------------------------------------------------------

    async def flush(self) -> None:
        """Nothing waits: every poll record is committed when record_poll returns."""

    # -- full text (see SQLiteStore) -------------------------------------------------------

    async def claim_texts(
        self, now: float, limit: int, lease: float
    ) -> list[tuple[int, int, str, int]]:
        async with self.transaction() as con:
            rows = await con.fetch(
                """UPDATE stories SET text_next_at = $2 WHERE id IN (
                       SELECT id FROM stories WHERE text_state = 'pending' AND text_next_at <= $1
                       ORDER BY text_next_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                   RETURNING id, feed_id, link, text_attempts""",
                now,
                now + lease,
                limit,
            )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def next_text_due(self) -> float | None:
        async with self.connection() as con:
            value = await con.fetchval(
                "SELECT MIN(text_next_at) FROM stories WHERE text_state = 'pending'"
            )
        return None if value is None else float(value)

    async def record_text(
        self,
        story_id: int,
        state: str,
        text: str | None,
        error: str | None,
        now: float,
        retry_at: float | None = None,
    ) -> None:
        async with self.transaction() as con:
            if retry_at is not None:
                await con.execute(
                    "UPDATE stories SET text_next_at = $1, text_attempts = text_attempts + 1, "
                    "text_error = $2 WHERE id = $3 AND text_state = 'pending'",
                    retry_at,
                    error,
                    story_id,
                )
                return
            feed_id = await con.fetchval(
                """UPDATE stories SET full_text = $1, text_error = $2, text_next_at = NULL,
                       text_attempts = text_attempts + 1,
                       text_state = CASE WHEN $3 = 'ok' AND detected_rev IS NOT NULL
                                         THEN 'late' ELSE $3 END
                   WHERE id = $4 AND text_state = 'pending' RETURNING feed_id""",
                text,
                error,
                state,
                story_id,
            )
            if feed_id is not None:
                column = {"ok": "texts_ok", "not_article": "texts_not_article"}.get(
                    state, "texts_failed"
                )
                await con.execute(
                    f"UPDATE feeds SET {column} = {column} + 1, "
                    "last_text_error = COALESCE($1, last_text_error) WHERE id = $2",
                    error if state != "ok" else None,
                    feed_id,
                )

    async def known_hashes(self, feed_id: int, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        async with self.connection() as con:
            rows = await con.fetch(
                "SELECT key, content_hash FROM stories WHERE feed_id = $1 AND key = ANY($2) "
                "UNION ALL SELECT key, content_hash FROM story_tombstones "
                "WHERE feed_id = $1 AND key = ANY($2)",
                feed_id,
                list(keys),
            )
        return {r[0]: r[1] for r in rows}

    async def ingest(
        self,
        feed_id: int,
        update: PollUpdate,
        new: Sequence[NewStory],
        updated: Sequence[NewStory],
        unchanged: int,
        now: float,
    ) -> IngestResult:
        """As SQLiteStore.ingest. The insert's RETURNING lists exactly the rows this
        transaction created (a concurrent insert of the same key waits for the other
        transaction, then does nothing), and only those get matches and alert rows."""
        fresh: dict[str, NewStory] = {}
        for story in new:
            fresh.setdefault(story.entry.key, story)
        inserted_keys: list[str] = []
        n_alerts = n_updated = 0
        async with self.transaction() as con:
            if fresh:
                es = [s.entry for s in fresh.values()]
                rows = await con.fetch(
                    """INSERT INTO stories (feed_id, key, link, title, summary, author,
                                            published_at, content_hash, first_seen_at,
                                            text_state, text_next_at)
                       SELECT $1, k, l, t, s, a, p, h, $2, ts,
                              CASE WHEN ts IS NULL THEN NULL ELSE $2::float8 END
                       FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                   $8::float8[], $9::text[], $10::text[])
                            AS u (k, l, t, s, a, p, h, ts)
                       ON CONFLICT (feed_id, key) DO NOTHING
                       RETURNING id, key""",
                    feed_id,
                    now,
                    [e.key for e in es],
                    [e.link for e in es],
                    [e.title for e in es],
                    [e.summary for e in es],
                    [e.author for e in es],
                    [e.published.timestamp() if e.published else None for e in es],
                    [e.content_hash for e in es],
                    ["pending" if s.wants_text and s.entry.link else None for s in fresh.values()],
                )
                ids = {r["key"]: r["id"] for r in rows}
                inserted_keys = [k for k in fresh if k in ids]
                matches = [
                    (ids[k], m.topic_id, json.dumps(list(m.terms)))
                    for k in inserted_keys
                    for m in fresh[k].matches
                ]
                if matches:
                    await con.execute(
                        """INSERT INTO story_topics (story_id, topic_id, terms, matched_at)
                           SELECT s, t, m, $4 FROM unnest($1::bigint[], $2::text[], $3::text[])
                           AS u (s, t, m)""",
                        [m[0] for m in matches],
                        [m[1] for m in matches],
                        [m[2] for m in matches],
                        now,
                    )
                alerts = [
                    (new_alert_id(), ids[k], a.topic_id, a.sink_id, a.event,
                     json.dumps({**a.data, "story_id": ids[k]}))
                    for k in inserted_keys
                    for a in fresh[k].alerts
                ]  # fmt: skip
                if alerts:
                    await con.execute(
                        """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data,
                                               created_at, next_attempt_at)
                           SELECT i, s, t, k, e, d, $7, $7
                           FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[],
                                       $5::text[], $6::text[]) AS u (i, s, t, k, e, d)""",
                        *([a[n] for a in alerts] for n in range(6)),
                        now,
                    )
                n_alerts = len(alerts)
            if updated:  # locked in id order, as detection marks them: no deadlock
                await con.execute(
                    "SELECT id FROM stories WHERE feed_id = $1 AND key = ANY($2::text[]) "
                    "ORDER BY id FOR NO KEY UPDATE",
                    feed_id,
                    [s.entry.key for s in updated],
                )
            for story in updated:
                e = story.entry
                old = await con.fetchrow(
                    "SELECT id, revision, title, summary, content_hash FROM stories "
                    "WHERE feed_id = $1 AND key = $2",
                    feed_id,
                    e.key,
                )
                if old is None or old["content_hash"] == e.content_hash:
                    continue
                if not story.meaningful:  # e.g. only a date changed: stored in place
                    await con.execute(
                        "UPDATE stories SET title = $1, summary = $2, content_hash = $3 "
                        "WHERE id = $4",
                        e.title, e.summary, e.content_hash, old["id"],
                    )  # fmt: skip
                    continue
                await con.execute(
                    "INSERT INTO story_revisions (story_id, revision, title, summary, "
                    "content_hash, seen_at, diff) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                    "ON CONFLICT DO NOTHING",
                    old["id"], old["revision"], old["title"], old["summary"],
                    old["content_hash"], now,
                    None if story.diff is None else json.dumps(story.diff),
                )  # fmt: skip
                await con.execute(
                    """UPDATE stories SET link = $1, title = $2, summary = $3, author = $4,
                         published_at = $5, content_hash = $6, updated_at = $7,
                         revision = revision + 1 WHERE id = $8""",
                    e.link, e.title, e.summary, e.author,
                    e.published.timestamp() if e.published else None, e.content_hash, now,
                    old["id"],
                )  # fmt: skip
                n_updated += 1
            if inserted_keys:
                await con.execute(
                    "UPDATE feeds SET stories = stories + $1 WHERE id = $2",
                    len(inserted_keys),
                    feed_id,
                )
            await con.execute(_UPDATE_FEED_SQL, *_feed_params(feed_id, update, now))
        if inserted_keys:
            self.write_failure = None
        return IngestResult(
            new=len(inserted_keys),
            updated=n_updated,
            unchanged=unchanged + len(new) - len(inserted_keys) + len(updated) - n_updated,
            alerts=n_alerts,
            new_keys=tuple(inserted_keys),
        )

    async def story_texts(self, feed_id: int, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(title, summary) stored for each of the feed's `keys` (to diff an update)."""
        if not keys:
            return {}
        async with self.connection() as con:
            rows = await con.fetch(
                "SELECT key, title, summary FROM stories WHERE feed_id = $1 AND key = ANY($2)",
                feed_id,
                list(keys),
            )
        return {r[0]: (r[1], r[2]) for r in rows}

    # -- detection -------------------------------------------------------------------------

    @asynccontextmanager
    async def detection(self) -> AsyncIterator[PostgresDetection]:
        """One detection transaction (see monitor/store/pg_detect.py), the only one at a time
        across instances: it waits for the detection advisory lock (DETECT_LOCK), released
        when the transaction ends, committed or not (a crashed instance's with its session).
        A wait longer than the statement timeout is a StoreError: the stories stay queued."""
        async with self.transaction() as con:
            await con.execute("SELECT pg_advisory_xact_lock($1)", DETECT_LOCK)
            yield PostgresDetection(con)

    async def pending_count(self) -> int:
        async with self.connection() as con:
            value = await con.fetchval(
                "SELECT COUNT(*) FROM stories WHERE detected_rev IS NULL OR detected_rev < revision"
            )
        return int(value)

    async def replay_page(self, since: float, after: int, limit: int) -> list[PendingStory]:
        """Stored stories first seen since `since`, ids above `after`, oldest first, as new
        stories (for `monitor backtest`)."""
        async with self.connection() as con:
            rows = await con.fetch(REPLAY_SQL, since, after, limit)
        return [pending_story(r) for r in rows]

    async def replay_count(self, since: float) -> int:
        async with self.connection() as con:
            value = await con.fetchval(
                "SELECT COUNT(*) FROM stories WHERE first_seen_at >= $1", since
            )
        return int(value)

    async def detection_steps(
        self, since: float, after_seq: int, limit: int
    ) -> list[DetectionStep]:
        async with self.connection() as con:
            rows = await con.fetch(STEPS_SQL, since, after_seq, limit)
        return [detection_step(r) for r in rows]

    async def revision_texts(
        self, story_ids: Sequence[int]
    ) -> dict[tuple[int, int], tuple[str, str]]:
        async with self.connection() as con:
            rows = await con.fetch(
                "SELECT story_id, revision, title, summary FROM story_revisions "
                "WHERE story_id = ANY($1::bigint[])",
                sorted(set(story_ids)),
            )
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    async def development_history(
        self, since: float
    ) -> tuple[list[DevelopmentRow], list[DevelopmentStoryRow]]:
        """Developments active since `since` and their stories in the order they joined:
        what rebuilds the detection stage's trackers at start. One snapshot for both."""
        async with self.transaction() as con:
            await con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            devs = await con.fetch(
                f"SELECT {DEVELOPMENT_COLUMNS} FROM developments WHERE last_seen_at >= $1 "
                "ORDER BY first_seen_at",
                since,
            )
            rows = await con.fetch(
                f"""SELECT {DEVELOPMENT_STORY_COLUMNS}
                      FROM development_stories d JOIN developments v ON v.id = d.development_id
                      JOIN stories s ON s.id = d.story_id
                     WHERE v.last_seen_at >= $1 ORDER BY d.seq""",
                since,
            )
        return [development_row(r) for r in devs], [development_story_row(r) for r in rows]

    async def detection_report(self) -> dict[str, Any]:
        """Counts for /status: stories waiting, duplicates, developments per topic."""
        async with self.connection() as con:
            topics = await con.fetch(
                "SELECT topic_id, COUNT(*), MAX(last_seen_at) FROM developments GROUP BY topic_id"
            )
            duplicates = await con.fetchval(
                "SELECT COUNT(*) FROM stories WHERE duplicate_of IS NOT NULL"
            )
        return detection_summary(await self.pending_count(), int(duplicates), topics)

    # -- alerts ----------------------------------------------------------------------------

    async def claim_due_alerts(
        self, now: float, limit: int, lease: float, exclude_sinks: Iterable[str] = ()
    ) -> list[PendingAlert]:
        """Pending alerts whose time has come, oldest first, none another instance holds;
        each is leased to this instance for `lease` seconds in the same statement."""
        async with self.transaction() as con:
            rows = await con.fetch(
                """WITH due AS (
                       SELECT id, next_attempt_at AS due_at FROM alerts
                       WHERE state = 'pending' AND next_attempt_at <= $1
                         AND NOT (sink_id = ANY($3::text[]))
                       ORDER BY next_attempt_at LIMIT $2
                       FOR UPDATE SKIP LOCKED)
                   UPDATE alerts a SET next_attempt_at = $1 + $4::float8,
                       leased_until = $1 + $4::float8, leased_by = $5
                   FROM due WHERE a.id = due.id
                   RETURNING a.id, a.topic_id, a.sink_id, a.event, a.data, a.created_at,
                             a.attempts - a.attempts_base AS attempts, due.due_at""",
                now,
                limit,
                sorted(set(exclude_sinks)),
                lease,
                self._instance,
            )
        rows.sort(key=lambda r: (r["due_at"], r["id"]))
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
        """Log one delivery attempt and end the lease. The row lock taken by the UPDATE
        numbers attempts without gaps or clashes; a delivered alert stays delivered."""
        async with self.transaction() as con:
            attempt = await con.fetchval(
                """UPDATE alerts SET attempts = attempts + 1,
                     state = CASE WHEN state = 'delivered' THEN state ELSE $1 END,
                     last_error = $2,
                     next_attempt_at = COALESCE($3, next_attempt_at),
                     leased_until = NULL, leased_by = NULL,
                     delivered_at = CASE WHEN $1 = 'delivered' THEN $4 ELSE delivered_at END
                   WHERE id = $5 RETURNING attempts""",
                state,
                error,
                next_attempt_at,
                at,
                alert_id,
            )
            if attempt is None:
                return
            await con.execute(
                "INSERT INTO alert_attempts (alert_id, attempt, at, status, latency, error) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                alert_id, attempt, at, status, latency, error,
            )  # fmt: skip

    async def next_alert_due(self) -> float | None:
        async with self.connection() as con:
            value = await con.fetchval(
                "SELECT MIN(next_attempt_at) FROM alerts WHERE state = 'pending'"
            )
        return None if value is None else float(value)

    async def release_leases(self, now: float) -> int:
        """Clear the leases that expired (their holder is gone: the alerts are due again
        already). Unlike SQLite's, a live instance's unexpired leases are kept: another
        instance may be sending them right now."""
        async with self.transaction() as con:
            status = await con.execute(
                "UPDATE alerts SET leased_until = NULL, leased_by = NULL, "
                "next_attempt_at = LEAST(next_attempt_at, $1) "
                "WHERE state = 'pending' AND leased_until IS NOT NULL AND leased_until <= $1",
                now,
            )
        return rows_affected(status)

    async def admit_alerts(
        self,
        items: Sequence[tuple[str, str, str, Sequence[tuple[bool, int, float]]]],
        now: float,
    ) -> set[str]:
        """As SQLiteStore.admit_alerts; the count and the decision hold a lock per sink, so
        two instances never let through more than the limit."""
        held: set[str] = set()
        if not items:
            return held
        async with self.transaction() as con:
            for sink_id in sorted({i[2] for i in items}):
                await con.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('monitor.sink'), hashtext($1))",
                    sink_id,
                )
            for alert_id, topic_id, sink_id, limits in items:
                row = await con.fetchrow("SELECT released_at FROM alerts WHERE id = $1", alert_id)
                if row is None or row[0] is not None:
                    continue
                over = False
                for per_topic, count, period in limits:
                    n = await con.fetchval(
                        "SELECT COUNT(*) FROM alerts WHERE sink_id = $1 AND released_at > $2 "
                        f"AND event IN {STORY_EVENTS_SQL} AND ($3::text IS NULL OR topic_id = $3)",
                        sink_id,
                        now - period,
                        topic_id if per_topic else None,
                    )
                    if n >= count:
                        over = True
                        break
                if over:
                    held.add(alert_id)
                    await con.execute(
                        "UPDATE alerts SET state = CASE WHEN digest_id IS NULL THEN 'held' "
                        "ELSE 'digested' END, leased_until = NULL, leased_by = NULL "
                        "WHERE id = $1",
                        alert_id,
                    )
                else:
                    await con.execute(
                        "UPDATE alerts SET released_at = $1 WHERE id = $2", now, alert_id
                    )
        return held

    async def alert_since(self, alert_id: str) -> float | None:
        async with self.connection() as con:
            value = await con.fetchval(
                "SELECT COALESCE(queued_at, created_at) FROM alerts WHERE id = $1", alert_id
            )
        return None if value is None else float(value)

    async def sync_digest_schedules(
        self, wanted: Sequence[tuple[str, str, str, str, float]], now: float
    ) -> int:
        async with self.transaction() as con:
            await con.execute(_lock_sql("digests"))
            have = {
                (r[0], r[1]): (r[2], r[3])
                for r in await con.fetch(
                    "SELECT topic_id, sink_id, cron, timezone FROM digest_schedules"
                )
            }
            keys = {(w[0], w[1]) for w in wanted}
            for topic_id, sink_id, cron, tz, next_at in wanted:
                old = have.get((topic_id, sink_id))
                if old is None:
                    await con.execute(
                        "INSERT INTO digest_schedules (topic_id, sink_id, cron, timezone, "
                        "next_at, last_at) VALUES ($1, $2, $3, $4, $5, $6) "
                        "ON CONFLICT DO NOTHING",
                        topic_id, sink_id, cron, tz, next_at, now,
                    )  # fmt: skip
                elif old != (cron, tz):
                    await con.execute(
                        "UPDATE digest_schedules SET cron = $1, timezone = $2, next_at = $3 "
                        "WHERE topic_id = $4 AND sink_id = $5",
                        cron, tz, next_at, topic_id, sink_id,
                    )  # fmt: skip
            for topic_id, sink_id in set(have) - keys:
                await con.execute(
                    "DELETE FROM digest_schedules WHERE topic_id = $1 AND sink_id = $2",
                    topic_id,
                    sink_id,
                )
            released = 0
            stranded = [
                (r[0], r[1])
                for r in await con.fetch(
                    "SELECT DISTINCT topic_id, sink_id FROM alerts WHERE state = 'held'"
                )
                if (r[0], r[1]) not in keys
            ]
            for topic_id, sink_id in stranded:
                status = await con.execute(
                    "UPDATE alerts SET state = 'pending', next_attempt_at = $1, "
                    "released_at = $1 WHERE state = 'held' AND topic_id = $2 AND sink_id = $3",
                    now,
                    topic_id,
                    sink_id,
                )
                released += rows_affected(status)
        return released

    async def due_digests(self, now: float) -> list[dict[str, Any]]:
        async with self.connection() as con:
            rows = await con.fetch(
                "SELECT topic_id, sink_id, cron, timezone, next_at, last_at "
                "FROM digest_schedules WHERE next_at <= $1 ORDER BY next_at",
                now,
            )
        return [dict(r) for r in rows]

    async def write_digest(
        self,
        topic_id: str,
        sink_id: str,
        topic: dict[str, Any],
        now: float,
        next_at: float,
        max_listed: int = 100,
    ) -> tuple[str | None, int]:
        """As SQLiteStore.write_digest. The schedule row is locked first: when another
        instance wrote this digest meanwhile (the schedule is no longer due), nothing is
        written."""
        async with self.transaction() as con:
            await con.execute(
                "SELECT pg_advisory_xact_lock(hashtext('monitor.sink'), hashtext($1))", sink_id
            )
            row = await con.fetchrow(
                "SELECT last_at, next_at FROM digest_schedules "
                "WHERE topic_id = $1 AND sink_id = $2 FOR UPDATE",
                topic_id,
                sink_id,
            )
            if row is not None and row["next_at"] > now:
                return None, 0
            since = float(row["last_at"]) if row else now
            rows = await con.fetch(
                f"""SELECT id, story_id, state, data, created_at FROM alerts
                   WHERE topic_id = $1 AND sink_id = $2 AND event IN {STORY_EVENTS_SQL}
                     AND digest_id IS NULL AND created_at <= $3
                     AND (state = 'held' OR created_at >= $4)
                   ORDER BY created_at, id""",
                topic_id,
                sink_id,
                now,
                since,
            )
            await con.execute(
                "UPDATE digest_schedules SET next_at = $1, last_at = $2 "
                "WHERE topic_id = $3 AND sink_id = $4",
                next_at,
                now,
                topic_id,
                sink_id,
            )
            if not rows:
                return None, 0
            digest_id = new_alert_id()
            data = digest_data(topic, rows, since, now, max_listed)
            await con.execute(
                """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data,
                                       created_at, next_attempt_at, released_at)
                   VALUES ($1, NULL, $2, $3, 'topic.digest', $4, $5, $5, $5)""",
                digest_id,
                topic_id,
                sink_id,
                json.dumps(data),
                now,
            )
            await con.execute(
                "UPDATE alerts SET digest_id = $1, "
                "state = CASE WHEN state = 'held' THEN 'digested' ELSE state END "
                "WHERE id = ANY($2::text[])",
                digest_id,
                [r["id"] for r in rows],
            )
        return digest_id, len(rows)

    async def check_feed_health(
        self, now: float, failing_after: int, after: float, sinks: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        """As SQLiteStore.check_feed_health; one instance at a time (a lock), so an episode
        opens once and alerts once."""
        written: list[tuple[str, str, str]] = []
        async with self.transaction() as con:
            await con.execute(_lock_sql("health"))
            rows = await con.fetch(HEALTH_SELECT.format(failing_after="$1"), failing_after)
            for r in rows:
                action, event, data = health_step(r, now, failing_after, after)
                if action == "open":
                    await con.execute(
                        "INSERT INTO feed_health (feed_id, failing_since) VALUES ($1, $2)",
                        r["id"],
                        now,
                    )
                elif action == "alert":
                    await con.execute(
                        "UPDATE feed_health SET alerted_at = $1 WHERE feed_id = $2", now, r["id"]
                    )
                elif action == "close":
                    await con.execute("DELETE FROM feed_health WHERE feed_id = $1", r["id"])
                for sink_id in sinks if event else ():
                    alert_id = new_alert_id()
                    await con.execute(
                        """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data,
                                               created_at, next_attempt_at)
                           VALUES ($1, NULL, '', $2, $3, $4, $5, $5)""",
                        alert_id,
                        sink_id,
                        event,
                        json.dumps(data),
                        now,
                    )
                    written.append((str(event), r["url"], alert_id))
        return written

    async def requeue_dead(self, ids: Sequence[str] | None, now: float) -> list[str]:
        async with self.transaction() as con:
            rows = await con.fetch(
                "UPDATE alerts SET state = 'pending', next_attempt_at = $1, queued_at = $1, "
                "attempts_base = attempts, leased_until = NULL, leased_by = NULL "
                "WHERE state = 'dead' AND ($2::text[] IS NULL OR id = ANY($2::text[])) "
                "RETURNING id",
                now,
                None if ids is None else list(ids),
            )
        found = {r["id"] for r in rows}
        if ids is None:
            return sorted(found)
        return [i for i in dict.fromkeys(ids) if i in found]

    # -- relevance feedback ------------------------------------------------------------------

    async def add_feedback(
        self, topic_id: str, story_id: int, verdict: str, now: float, alert_id: str | None = None
    ) -> Feedback | None:
        """As SQLiteStore.add_feedback."""
        async with self.transaction() as con:
            story = await con.fetchrow(FEEDBACK_STORY.format(id="$1"), story_id)
            if story is None:
                return None
            await con.execute(
                "DELETE FROM topic_feedback WHERE topic_id = $1 AND story_id = $2",
                topic_id,
                story_id,
            )
            row = await con.fetchrow(
                "INSERT INTO topic_feedback (topic_id, story_id, alert_id, verdict, title, text, "
                f"created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {FEEDBACK_COLUMNS}",
                topic_id, story_id, alert_id, verdict, story["title"], story["text"], now,
            )  # fmt: skip
        return feedback_of(row)

    async def feedback(self, topic_id: str | None = None) -> list[Feedback]:
        async with self.connection() as con:
            rows = await con.fetch(
                f"SELECT {FEEDBACK_COLUMNS} FROM topic_feedback "
                "WHERE $1::text IS NULL OR topic_id = $1 ORDER BY id",
                topic_id,
            )
        return [feedback_of(r) for r in rows]

    async def delete_feedback(self, topic_id: str, feedback_id: int) -> Feedback | None:
        async with self.transaction() as con:
            row = await con.fetchrow(
                f"DELETE FROM topic_feedback WHERE topic_id = $1 AND id = $2 "
                f"RETURNING {FEEDBACK_COLUMNS}",
                topic_id,
                feedback_id,
            )
        return None if row is None else feedback_of(row)

    async def feedback_version(self) -> tuple[int, int]:
        async with self.connection() as con:
            row = await con.fetchrow("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM topic_feedback")
        assert row is not None
        return int(row[0]), int(row[1])

    async def alert_log(
        self, state: str | None = None, limit: int = 50, alert_id: str | None = None
    ) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, story_id, topic_id, sink_id, event, data, state, attempts, created_at, "
            "next_attempt_at, delivered_at, last_error, digest_id, queued_at FROM alerts"
        )
        args: tuple[Any, ...] = ()
        if alert_id is not None:
            sql += " WHERE id = $1"
            args = (alert_id,)
        elif state:
            sql += " WHERE state = $1"
            args = (state,)
        sql += f" ORDER BY created_at DESC, id DESC LIMIT ${len(args) + 1}"
        async with self.connection() as con:
            rows = [dict(r) for r in await con.fetch(sql, *args, limit)]
            attempts: dict[str, list[dict[str, Any]]] = {}
            for a in await con.fetch(
                "SELECT alert_id, attempt, at, status, latency, error FROM alert_attempts "
                "WHERE alert_id = ANY($1::text[]) ORDER BY alert_id, attempt",
                [r["id"] for r in rows],
            ):
                d = dict(a)
                attempts.setdefault(d.pop("alert_id"), []).append(d)
        for row in rows:
            row["data"] = json.loads(row["data"])
            row["attempts_log"] = attempts.get(row["id"], [])
        return rows

    # -- maintenance -----------------------------------------------------------------------

    async def prune(self, now: float, retention: RetentionConfig) -> dict[str, int]:
        """As SQLiteStore.prune, a batch per transaction; rows another instance is pruning
        (locked) are skipped."""
        batch = retention.batch
        counts = {"stories": 0, "revisions": 0, "alerts": 0, "tombstones": 0, "developments": 0}
        if retention.stories is not None:
            cutoff = now - retention.stories
            while True:
                async with self.transaction() as con:
                    rows = await con.fetch(
                        """DELETE FROM stories WHERE id IN (
                               SELECT id FROM stories WHERE first_seen_at < $1
                               ORDER BY first_seen_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                           RETURNING feed_id, key, content_hash""",
                        cutoff,
                        batch,
                    )
                    if rows:
                        await con.execute(
                            """INSERT INTO story_tombstones (feed_id, key, content_hash,
                                                             pruned_at)
                               SELECT f, k, h, $4 FROM unnest($1::bigint[], $2::text[],
                                                              $3::text[]) AS u (f, k, h)
                               ON CONFLICT (feed_id, key) DO UPDATE SET
                                 content_hash = excluded.content_hash,
                                 pruned_at = excluded.pruned_at""",
                            [r["feed_id"] for r in rows],
                            [r["key"] for r in rows],
                            [r["content_hash"] for r in rows],
                            now,
                        )
                        per_feed: dict[int, int] = {}
                        for r in rows:
                            per_feed[r["feed_id"]] = per_feed.get(r["feed_id"], 0) + 1
                        await con.executemany(  # in id order: no deadlock with another prune
                            "UPDATE feeds SET stories = GREATEST(0, stories - $1) WHERE id = $2",
                            [(n, fid) for fid, n in sorted(per_feed.items())],
                        )
                counts["stories"] += len(rows)
                if len(rows) < batch:
                    break
        plans = (
            (
                "revisions",
                retention.revisions,
                "DELETE FROM story_revisions WHERE (story_id, revision) IN (SELECT story_id, "
                "revision FROM story_revisions WHERE seen_at < $1 LIMIT $2 "
                "FOR UPDATE SKIP LOCKED)",
            ),
            (
                "alerts",
                retention.attempts,
                "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE state = "
                "'delivered' AND delivered_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            ),
            (  # a development whose stories were all pruned (its links went with them)
                "developments",
                retention.stories,
                "DELETE FROM developments WHERE id IN (SELECT id FROM developments d "
                "WHERE last_seen_at < $1 AND NOT EXISTS (SELECT 1 FROM development_stories s "
                "WHERE s.development_id = d.id) LIMIT $2 FOR UPDATE SKIP LOCKED)",
            ),
            (
                "tombstones",
                retention.tombstones,
                "DELETE FROM story_tombstones WHERE (feed_id, key) IN (SELECT feed_id, key "
                "FROM story_tombstones WHERE pruned_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            ),
        )
        for kind, age, sql in plans:
            if age is None:
                continue
            while True:
                async with self.transaction() as con:
                    deleted = rows_affected(await con.execute(sql, now - age, batch))
                counts[kind] += deleted
                if deleted < batch:
                    break
        return counts

    async def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Nothing to do: the server checkpoints its own write-ahead log."""
        assert mode in ("PASSIVE", "TRUNCATE")

    async def vacuum(self) -> tuple[int, int]:
        """VACUUM (ANALYZE) the database; returns its size in bytes before and after (plain
        VACUUM makes room for reuse rather than shrinking files)."""
        async with self.connection() as con:
            before = int(await con.fetchval("SELECT pg_database_size(current_database())"))
            try:
                await con.execute("VACUUM (ANALYZE)")
            except asyncpg.PostgresError as exc:
                raise StoreError(f"cannot vacuum {self.display}: {exc}") from exc
            after = int(await con.fetchval("SELECT pg_database_size(current_database())"))
        self._size = after
        return before, after

    def size_bytes(self) -> int:
        """The database's size as of the last ping (pg_database_size)."""
        return self._size

    # -- reports ---------------------------------------------------------------------------

    async def feed_report(self) -> list[dict[str, Any]]:
        async with self.connection() as con:
            rows = await con.fetch(
                """SELECT id, url, config_url, name, title, "interval", explicit_interval, rate,
                          server_interval, disabled_reason, paused, paused_at, active, last_poll_at,
                          last_success_at, last_result, last_status, last_error_kind, last_error,
                          consecutive_errors, next_poll_at, stories, polls, full_text,
                      texts_ok, texts_failed, texts_not_article, last_text_error
                   FROM feeds ORDER BY active DESC, id"""
            )
        return [dict(r) for r in rows]

    async def topic_report(self) -> dict[str, dict[str, Any]]:
        async with self.connection() as con:
            rows = await con.fetch(
                "SELECT topic_id, COUNT(*) AS matches, MAX(matched_at) AS last_match_at "
                "FROM story_topics GROUP BY topic_id"
            )
        return {r["topic_id"]: dict(r) for r in rows}

    async def alert_counts(self) -> dict[str, Any]:
        async with self.connection() as con:
            rows = {
                r["state"]: dict(r)
                for r in await con.fetch(
                    "SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM alerts "
                    "GROUP BY state"
                )
            }
        return {
            "pending": rows.get("pending", {}).get("n", 0),
            "delivered": rows.get("delivered", {}).get("n", 0),
            "dead": rows.get("dead", {}).get("n", 0),
            "held": rows.get("held", {}).get("n", 0),
            "oldest_pending_at": rows.get("pending", {}).get("oldest"),
        }

    async def story_count(self) -> int:
        async with self.connection() as con:
            value = await con.fetchval("SELECT COALESCE(SUM(stories), 0) FROM feeds")
        return int(value)

    async def alerts(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, topic_id, sink_id, event, state, attempts, created_at, "
            "next_attempt_at, delivered_at, last_error FROM alerts"
        )
        args: tuple[Any, ...] = ()
        if state:
            sql += " WHERE state = $1"
            args = (state,)
        sql += f" ORDER BY created_at DESC LIMIT ${len(args) + 1}"
        async with self.connection() as con:
            return [dict(r) for r in await con.fetch(sql, *args, limit)]

    async def leases(self, now: float) -> list[dict[str, Any]]:
        """Unexpired leases per instance: feeds claimed and not yet recorded (until their
        next_poll_at), alerts being sent (until leased_until)."""
        out: dict[str, dict[str, Any]] = {}
        async with self.connection() as con:
            for kind, sql in (
                (
                    "feeds",
                    "SELECT leased_by, COUNT(*), MAX(next_poll_at) FROM feeds "
                    "WHERE leased_by IS NOT NULL AND next_poll_at > $1 GROUP BY leased_by",
                ),
                (
                    "alerts",
                    "SELECT leased_by, COUNT(*), MAX(leased_until) FROM alerts "
                    "WHERE state = 'pending' AND leased_until > $1 AND leased_by IS NOT NULL "
                    "GROUP BY leased_by",
                ),
            ):
                for holder, n, until in await con.fetch(sql, now):
                    entry = out.setdefault(
                        holder, {"instance": holder, "feeds": 0, "alerts": 0, "until": None}
                    )
                    entry[kind] = n
                    entry["until"] = max(until, entry["until"] or until)
        return sorted(out.values(), key=lambda e: str(e["instance"]))

    # -- WebSub subscriptions (as SQLiteStore's) -----------------------------------------

    async def feed_row(self, feed_id: int) -> FeedRow | None:
        async with self.connection() as con:
            row = await con.fetchrow(f"SELECT {_cols()} FROM feeds WHERE id = $1", feed_id)
        return None if row is None else FeedRow(**dict(row))

    async def subscriptions(self) -> list[Subscription]:
        async with self.connection() as con:
            rows = await con.fetch(f"{SUBSCRIPTION_SELECT} ORDER BY w.feed_id")
        return [subscription_of(r) for r in rows]

    async def subscription(self, feed_id: int) -> Subscription | None:
        async with self.connection() as con:
            row = await con.fetchrow(f"{SUBSCRIPTION_SELECT} WHERE w.feed_id = $1", feed_id)
        return None if row is None else subscription_of(row)

    async def subscribe(
        self, feed_id: int, hub: str, topic: str, callback: str, secret: str, now: float
    ) -> None:
        async with self.transaction() as con:
            await con.execute(
                """INSERT INTO websub_subscriptions (feed_id, hub, topic, callback, secret, state,
                                                     next_action_at, created_at, updated_at)
                   VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6)
                   ON CONFLICT (feed_id) DO UPDATE SET
                     hub = excluded.hub, topic = excluded.topic, callback = excluded.callback,
                     secret = excluded.secret, state = 'pending', requested_at = NULL,
                     lease_seconds = NULL, lease_until = NULL,
                     next_action_at = excluded.next_action_at, attempts = 0, last_error = NULL,
                     verified_at = NULL, updated_at = excluded.updated_at""",
                feed_id, hub, topic, callback, secret, now,
            )  # fmt: skip
            await con.execute(_MARK_PUSHED_SQL, feed_id)

    async def update_subscription(
        self, feed_id: int, changes: Mapping[str, Any], now: float
    ) -> bool:
        pairs = checked_changes(changes)
        sets = "".join(f"{column} = ${i}, " for i, (column, _) in enumerate(pairs, start=3))
        async with self.transaction() as con:
            status = await con.execute(
                f"UPDATE websub_subscriptions SET {sets}updated_at = $2 WHERE feed_id = $1",
                feed_id, now, *(value for _, value in pairs),
            )  # fmt: skip
            if "state" in changes:
                await con.execute(_MARK_PUSHED_SQL, feed_id)
        return rows_affected(status) > 0

    async def delete_subscription(self, feed_id: int) -> bool:
        async with self.transaction() as con:
            status = await con.execute(
                "DELETE FROM websub_subscriptions WHERE feed_id = $1", feed_id
            )
            await con.execute(_MARK_PUSHED_SQL, feed_id)
        return rows_affected(status) > 0

    async def claim_due_subscriptions(
        self, now: float, limit: int, lease: float
    ) -> list[Subscription]:
        async with self.transaction() as con:
            ids = await con.fetch(
                """WITH due AS (
                       SELECT feed_id FROM websub_subscriptions WHERE next_action_at <= $1
                       ORDER BY next_action_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                   UPDATE websub_subscriptions w SET next_action_at = $1 + $3
                   FROM due WHERE w.feed_id = due.feed_id RETURNING w.feed_id""",
                now, limit, lease,
            )  # fmt: skip
            rows = await con.fetch(
                f"{SUBSCRIPTION_SELECT} WHERE w.feed_id = ANY($1::bigint[]) ORDER BY w.feed_id",
                [r["feed_id"] for r in ids],
            )
        return [subscription_of(r) for r in rows]

    async def count_push(self, feed_id: int, forged: bool, now: float) -> None:
        async with self.transaction() as con:
            if forged:
                await con.execute(
                    "UPDATE websub_subscriptions SET forged = forged + 1 WHERE feed_id = $1",
                    feed_id,
                )
            else:
                await con.execute(
                    "UPDATE websub_subscriptions SET pushes = pushes + 1, last_push_at = $2 "
                    "WHERE feed_id = $1",
                    feed_id,
                    now,
                )


_MARK_PUSHED_SQL = """UPDATE feeds SET pushed = (SELECT COUNT(*) FROM websub_subscriptions
                          WHERE feed_id = $1 AND state = 'active') WHERE id = $1"""


_UPDATE_FEED_SQL = """UPDATE feeds SET
    last_poll_at = $2, last_result = $3, last_status = $4, next_poll_at = $5,
    polls = polls + 1,
    consecutive_errors = CASE WHEN $6 THEN consecutive_errors + 1 ELSE 0 END,
    last_error_kind = CASE WHEN $6 THEN $7 ELSE last_error_kind END,
    last_error = CASE WHEN $6 THEN $8 ELSE last_error END,
    last_success_at = CASE WHEN $6 THEN last_success_at ELSE $2 END,
    etag = CASE WHEN $6 THEN etag ELSE $9 END,
    last_modified = CASE WHEN $6 THEN last_modified ELSE $10 END,
    body_hash = COALESCE($11, body_hash),
    title = COALESCE($12, title),
    "interval" = COALESCE($13, "interval"),
    rate = COALESCE($14, rate),
    server_interval = CASE WHEN $6 THEN server_interval ELSE $15 END,
    disabled_reason = COALESCE($16, disabled_reason),
    url = CASE WHEN $17::text IS NOT NULL AND NOT EXISTS
            (SELECT 1 FROM feeds AS o WHERE o.url = $17::text AND o.id <> feeds.id)
          THEN $17::text ELSE url END,
    leased_by = NULL
  WHERE id = $1"""


def _feed_params(feed_id: int, u: PollUpdate, now: float) -> tuple[Any, ...]:
    return (
        feed_id, now, u.result, u.http_status, u.next_poll_at,
        u.result == "error", u.error_kind, u.error, u.etag, u.last_modified,
        u.body_hash, u.title, u.interval, u.rate, u.server_interval, u.disabled_reason,
        u.url,
    )  # fmt: skip
