"""The shared store: PostgreSQL through an asyncpg connection pool, for several instances.

Work is shared without a coordinator: a due feed or alert is claimed in one statement
(`UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …`) that also moves it
ahead by its lease, recorded with its holder (`leased_by`); a crashed instance's claims
come due again by themselves. A story is inserted with ON CONFLICT DO NOTHING, and only the
rows an insert returns get matches and alerts: stored once and alerted once. The alert rules
and detection take transaction-scoped advisory locks (detection one fixed lock,
`DETECT_LOCK`: one instance detects at a time); migrations run under a session lock.
What both stores do alike is monitor/store/common.py; here is PostgreSQL's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar, cast

import asyncpg

from monitor.config import redact_url
from monitor.models import Entry, FeedRow, PendingAlert, PollUpdate, Subscription
from monitor.schema.postgres import PG_MIGRATIONS, VERSION_TABLE
from monitor.store.base import (
    SUBSCRIPTION_SELECT,
    StoreError,
    new_instance_id,
    pending_alert,
    subscription_of,
)
from monitor.store.common import SQLStore
from monitor.store.pg_detect import PostgresDetection
from monitor.store.sql import Db, PostgresDb, rows_affected

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Con = PoolConnectionProxy[asyncpg.Record]

TIMEOUT = 60.0  # seconds a statement may take
MIGRATE_LOCK = 0x6D6F6E69746F72  # "monitor": the session advisory lock held while migrating
# "mondetec": the transaction advisory lock of a detection transaction (one instance detects
# at a time). A single 64-bit key: apart from the (int, int) keys of _lock_sql.
DETECT_LOCK = 0x6D6F6E6465746563

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


class PostgresStore(SQLStore):
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
    async def _tx(self) -> AsyncIterator[Db]:
        async with self.transaction() as con:
            yield PostgresDb(con)

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[Db]:
        async with self.connection() as con:
            yield PostgresDb(con)

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[Db]:
        async with self.transaction() as con:
            await con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield PostgresDb(con)

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

    async def _insert_stories(
        self, db: Db, feed_id: int, fresh: Mapping[str, Entry], now: float, full_text: bool
    ) -> dict[str, int]:
        """The insert's RETURNING lists exactly the rows this transaction created (a
        concurrent insert of the same key waits for the other transaction, then does
        nothing)."""
        es = list(fresh.values())
        rows = await cast(PostgresDb, db).con.fetch(
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
            ["pending" if full_text and e.link else None for e in es],
        )
        return {r["key"]: r["id"] for r in rows}

    async def _lock_revised(self, db: Db, feed_id: int, keys: Sequence[str]) -> None:
        """Locked in id order, as detection marks them: no deadlock."""
        if keys:
            await db.execute(
                "SELECT id FROM stories WHERE feed_id = :feed_id AND key = ANY(:keys) "
                "ORDER BY id FOR NO KEY UPDATE",
                {"feed_id": feed_id, "keys": list(keys)},
            )

    async def _record_poll_in(self, db: Db, feed_id: int, update: PollUpdate, now: float) -> None:
        await cast(PostgresDb, db).con.execute(
            _UPDATE_FEED_SQL, *_feed_params(feed_id, update, now)
        )

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

    # -- maintenance -----------------------------------------------------------------------

    PRUNE_SQL: ClassVar[Mapping[str, str]] = {
        "revisions": "DELETE FROM story_revisions WHERE (story_id, revision) IN (SELECT "
        "story_id, revision FROM story_revisions WHERE seen_at < :cutoff LIMIT :batch "
        "FOR UPDATE SKIP LOCKED)",
        "alerts": "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE state = "
        "'delivered' AND delivered_at < :cutoff LIMIT :batch FOR UPDATE SKIP LOCKED)",
        "developments": "DELETE FROM developments WHERE id IN (SELECT id FROM developments d "
        "WHERE last_seen_at < :cutoff AND NOT EXISTS (SELECT 1 FROM development_stories s "
        "WHERE s.development_id = d.id) LIMIT :batch FOR UPDATE SKIP LOCKED)",
        "tombstones": "DELETE FROM story_tombstones WHERE (feed_id, key) IN (SELECT feed_id, "
        "key FROM story_tombstones WHERE pruned_at < :cutoff LIMIT :batch "
        "FOR UPDATE SKIP LOCKED)",
    }

    async def prune_stories(self, cutoff: float, batch: int, now: float) -> int:
        """As SQLiteStore.prune_stories; stories another instance is pruning or detecting
        (locked) are skipped."""
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
        return len(rows)

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
