"""What SQLite and PostgreSQL do alike, written once over a `Db` (monitor/store/sql.py).

`SQLStore` is the base of both stores: each gives it a read connection (`_read`), a write
transaction (`_tx`) and a consistent snapshot (`_snapshot`); the statements below are one
text for both. What a database does its own way (claims and leases, the ingest's inserts,
the detection transaction, group commit, migrations) stays in sqlite.py and postgres.py.
`alert_writes` hands the alert rules of monitor/alerts a transaction over the outbox
(monitor/store/outbox.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar

from monitor.config import FeedConfig
from monitor.models import (
    DetectionStep,
    DevelopmentRow,
    DevelopmentStoryRow,
    Entry,
    FeedRow,
    IngestResult,
    PollUpdate,
    StoredStory,
    Subscription,
)
from monitor.store.base import (
    DETECTION_STEPS_TEMPLATE,
    DEVELOPMENT_COLUMNS,
    DEVELOPMENT_STORY_COLUMNS,
    FEEDBACK_COLUMNS,
    FEEDBACK_STORY,
    REPLAY_TEMPLATE,
    SUBSCRIPTION_SELECT,
    StoreError,
    checked_changes,
    detection_step,
    detection_summary,
    development_row,
    development_story_row,
    feedback_of,
    pending_story,
    subscription_of,
)
from monitor.store.outbox import OutboxWrites
from monitor.store.sql import Db
from monitor.stories.diff import RevisionDiff
from monitor.topics.feedback import Feedback

# FeedRow's fields, in order: a row is FeedRow(*row)
FEED_COLUMNS = ", ".join(f'"{c}"' for c in FeedRow._fields)

REPLAY_SQL = REPLAY_TEMPLATE.format(since=":since", after=":after", limit=":limit")
STEPS_SQL = DETECTION_STEPS_TEMPLATE.format(since=":since", after=":after", limit=":limit")


def ingest_result(
    new: Sequence[Entry],
    updated: Sequence[tuple[Entry, RevisionDiff | None]],
    unchanged: int,
    inserted_keys: Sequence[str],
    n_updated: int,
) -> IngestResult:
    """What an ingest did: the stories it inserted, revised, and left as they were."""
    return IngestResult(
        new=len(inserted_keys),
        updated=n_updated,
        unchanged=unchanged + len(new) - len(inserted_keys) + len(updated) - n_updated,
        new_keys=tuple(inserted_keys),
    )


async def revise_stories(
    db: Db, feed_id: int, updated: Sequence[tuple[Entry, RevisionDiff | None]], now: float
) -> int:
    """Within an ingest: record a revision of each updated story whose content changed (its
    previous text kept in story_revisions, with the diff when there is one), or store a change
    that does not matter in place. Returns how many stories got a revision."""
    n_updated = 0
    for e, diff in updated:
        old = await db.fetchrow(
            "SELECT id, revision, title, summary, content_hash FROM stories "
            "WHERE feed_id = :feed_id AND key = :key",
            {"feed_id": feed_id, "key": e.key},
        )
        if old is None or old["content_hash"] == e.content_hash:
            continue
        if diff is not None and not diff.meaningful:  # e.g. only a date changed: in place
            await db.execute(
                "UPDATE stories SET title = :title, summary = :summary, content_hash = :hash "
                "WHERE id = :id",
                {"title": e.title, "summary": e.summary, "hash": e.content_hash, "id": old["id"]},
            )
            continue
        await db.execute(
            "INSERT INTO story_revisions (story_id, revision, title, summary, content_hash, "
            "seen_at, diff) VALUES (:id, :revision, :title, :summary, :hash, :now, :diff) "
            "ON CONFLICT DO NOTHING",
            {
                "id": old["id"], "revision": old["revision"], "title": old["title"],
                "summary": old["summary"], "hash": old["content_hash"], "now": now,
                "diff": None if diff is None else json.dumps(diff.to_dict()),
            },
        )  # fmt: skip
        await db.execute(
            """UPDATE stories SET link = :link, title = :title, summary = :summary,
                 author = :author, published_at = :published, content_hash = :hash,
                 updated_at = :now, revision = revision + 1 WHERE id = :id""",
            {
                "link": e.link, "title": e.title, "summary": e.summary, "author": e.author,
                "published": e.published.timestamp() if e.published else None,
                "hash": e.content_hash, "now": now, "id": old["id"],
            },
        )  # fmt: skip
        n_updated += 1
    return n_updated


class SQLStore:
    """The methods both stores share; a subclass gives the connections."""

    write_failure: str | None

    def _read(self) -> AbstractAsyncContextManager[Db]:
        """A connection for reads."""
        raise NotImplementedError

    def _tx(self) -> AbstractAsyncContextManager[Db]:
        """One write transaction, whole or not at all."""
        raise NotImplementedError

    def _snapshot(self) -> AbstractAsyncContextManager[Db]:
        """Reads that see one state of the store."""
        return self._read()

    async def probe_write(self) -> bool:
        """After a failed write: can the store grow again? Writes and removes 64 KiB (new
        pages, as new stories need); clears `write_failure` when that succeeds."""
        try:
            async with self._tx() as db:
                await db.execute(
                    "INSERT INTO write_probe (data) VALUES (:data)", {"data": bytes(65536)}
                )
                await db.execute("DELETE FROM write_probe")
        except StoreError:
            return False
        self.write_failure = None
        return True

    async def _value(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        async with self._read() as db:
            return await db.fetchval(sql, params)

    async def _time(self, sql: str) -> float | None:
        """The one value `sql` reads (a time), or None."""
        value = await self._value(sql)
        return None if value is None else float(value)

    async def _dicts(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        async with self._read() as db:
            return [dict(r) for r in await db.fetch(sql, params)]

    # -- feeds -----------------------------------------------------------------------------

    async def sync_feeds(
        self, feeds: Sequence[FeedConfig], default_interval: float, now: float
    ) -> None:
        """Make the feeds table follow the configuration; keep state of known feeds.

        A new feed is due at once; a known feed keeps its next poll time (so a restart neither
        forgets nor stampedes) unless a new explicit interval brings it closer, counted from
        its last poll or its last claim, whichever is later (`next_poll_at - interval`: a
        claim pushes the feed one interval ahead): counted from the last poll alone, a feed
        another instance has just claimed and not yet polled would come due again at once,
        and be polled twice. A feed removed from the configuration is deactivated, its
        stories kept. Instances starting together take turns (a lock)."""
        async with self._tx() as db:
            await db.lock("monitor", "feeds")
            among, urls = db.among([f.url for f in feeds])
            await db.execute(
                f"UPDATE feeds SET active = 0 WHERE active = 1 AND NOT (config_url {among})",
                {"among": urls},
            )
            await db.executemany(
                f"""INSERT INTO feeds (url, config_url, name, "interval", explicit_interval,
                                      next_poll_at, created_at, full_text)
                   VALUES (:url, :url, :name, :interval, :explicit, :now, :now, :full_text)
                   ON CONFLICT (config_url) DO UPDATE SET
                     name = excluded.name, active = 1, full_text = excluded.full_text,
                     explicit_interval = excluded.explicit_interval,
                     "interval" = COALESCE(excluded.explicit_interval, feeds."interval"),
                     next_poll_at = CASE WHEN excluded.explicit_interval IS NULL
                       THEN feeds.next_poll_at
                       ELSE {db.least}(feeds.next_poll_at, {db.greatest}(
                         COALESCE(feeds.last_poll_at, 0), feeds.next_poll_at - feeds."interval")
                         + excluded.explicit_interval) END""",
                [
                    {"url": f.url, "name": f.name, "interval": f.interval or default_interval,
                     "explicit": f.interval, "now": now, "full_text": int(bool(f.full_text))}
                    for f in feeds
                ],
            )  # fmt: skip

    async def active_feeds(self) -> list[FeedRow]:
        async with self._read() as db:
            rows = await db.fetch(
                f"SELECT {FEED_COLUMNS} FROM feeds "
                "WHERE active = 1 AND disabled_reason IS NULL AND paused = 0 ORDER BY id"
            )
        return [FeedRow(*r) for r in rows]

    async def feed_row(self, feed_id: int) -> FeedRow | None:
        async with self._read() as db:
            row = await db.fetchrow(
                f"SELECT {FEED_COLUMNS} FROM feeds WHERE id = :id", {"id": feed_id}
            )
        return None if row is None else FeedRow(*row)

    async def set_paused(self, feed_id: int, paused: bool, now: float) -> bool:
        """Pause a feed (it is no longer claimed; a poll in flight finishes) or resume it (due
        now). False when there is no such feed."""
        async with self._tx() as db:
            if paused:
                sql = "UPDATE feeds SET paused = 1, paused_at = COALESCE(paused_at, :now) "
            else:
                sql = (
                    "UPDATE feeds SET next_poll_at = CASE WHEN paused = 1 "
                    f"THEN {db.least}(next_poll_at, :now) ELSE next_poll_at END, "
                    "paused = 0, paused_at = NULL "
                )
            return await db.execute(sql + "WHERE id = :id", {"now": now, "id": feed_id}) > 0

    # -- stories ---------------------------------------------------------------------------

    async def known_hashes(self, feed_id: int, keys: Sequence[str]) -> dict[str, str]:
        """content_hash of each of `keys` already stored for the feed, including pruned
        stories' tombstones (a re-listed old item is not new)."""
        if not keys:
            return {}
        async with self._read() as db:
            among, values = db.among(keys)
            rows = await db.fetch(
                f"SELECT key, content_hash FROM stories WHERE feed_id = :feed_id AND key {among} "
                "UNION ALL SELECT key, content_hash FROM story_tombstones "
                f"WHERE feed_id = :feed_id AND key {among}",
                {"feed_id": feed_id, "among": values},
            )
        return {r[0]: r[1] for r in rows}

    async def story_texts(self, feed_id: int, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(title, summary) stored for each of the feed's `keys` (to diff an update)."""
        if not keys:
            return {}
        async with self._read() as db:
            among, values = db.among(keys)
            rows = await db.fetch(
                f"SELECT key, title, summary FROM stories WHERE feed_id = :feed_id AND key {among}",
                {"feed_id": feed_id, "among": values},
            )
        return {r[0]: (r[1], r[2]) for r in rows}

    async def ingest(
        self,
        feed_id: int,
        update: PollUpdate,
        new: Sequence[Entry],
        updated: Sequence[tuple[Entry, RevisionDiff | None]],
        unchanged: int,
        now: float,
        *,
        full_text: bool = False,
    ) -> IngestResult:
        """In one transaction: insert the new stories (waiting for detection, and with
        `full_text` for their pages' text), record revisions of updated ones (or store a
        change that does not matter in place), and the poll's effect on the feed row.

        A story that another writer stored meanwhile is not inserted twice: only rows this
        transaction inserted are new (and so detected once)."""
        fresh: dict[str, Entry] = {}
        for e in new:
            fresh.setdefault(e.key, e)
        async with self._tx() as db:
            ids = await self._insert_stories(db, feed_id, fresh, now, full_text) if fresh else {}
            inserted = [k for k in fresh if k in ids]
            await self._lock_revised(db, feed_id, [e.key for e, _ in updated])
            n_updated = await revise_stories(db, feed_id, updated, now)
            if inserted:
                await db.execute(
                    "UPDATE feeds SET stories = stories + :n WHERE id = :id",
                    {"n": len(inserted), "id": feed_id},
                )
            await self._record_poll_in(db, feed_id, update, now)
        if inserted:
            self.write_failure = None  # the store grew: there is room again
        return ingest_result(new, updated, unchanged, inserted, n_updated)

    async def _insert_stories(
        self, db: Db, feed_id: int, fresh: Mapping[str, Entry], now: float, full_text: bool
    ) -> dict[str, int]:
        """Insert the stories of `fresh` (key -> entry) not stored yet (with a link and
        `full_text`: waiting for their page's text); key -> id of the rows this call
        inserted."""
        raise NotImplementedError

    async def _lock_revised(self, db: Db, feed_id: int, keys: Sequence[str]) -> None:
        """Before the revisions of an ingest: lock the stories revised (where others write)."""
        return None

    async def _record_poll_in(self, db: Db, feed_id: int, update: PollUpdate, now: float) -> None:
        """The poll's effect on the feed row, within the transaction of `db`."""
        raise NotImplementedError

    # -- full text -------------------------------------------------------------------------

    async def next_text_due(self) -> float | None:
        return await self._time(
            "SELECT MIN(text_next_at) FROM stories WHERE text_state = 'pending'"
        )

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
        async with self._tx() as db:
            if retry_at is not None:
                await db.execute(
                    "UPDATE stories SET text_next_at = :retry_at, "
                    "text_attempts = text_attempts + 1, text_error = :error "
                    "WHERE id = :id AND text_state = 'pending'",
                    {"retry_at": retry_at, "error": error, "id": story_id},
                )
                return
            feed_id = await db.fetchval(
                """UPDATE stories SET full_text = :text, text_error = :error,
                       text_next_at = NULL, text_attempts = text_attempts + 1,
                       text_state = CASE WHEN :state = 'ok' AND detected_rev IS NOT NULL
                                         THEN 'late' ELSE :state END
                   WHERE id = :id AND text_state = 'pending' RETURNING feed_id""",
                {"text": text, "error": error, "state": state, "id": story_id},
            )
            if feed_id is not None:
                column = {"ok": "texts_ok", "not_article": "texts_not_article"}.get(
                    state, "texts_failed"
                )
                await db.execute(
                    f"UPDATE feeds SET {column} = {column} + 1, "
                    "last_text_error = COALESCE(:error, last_text_error) WHERE id = :id",
                    {"error": error if state != "ok" else None, "id": feed_id},
                )

    # -- detection -------------------------------------------------------------------------

    async def pending_count(self) -> int:
        return int(
            await self._value(
                "SELECT COUNT(*) FROM stories WHERE detected_rev IS NULL OR detected_rev < revision"
            )
        )

    async def replay_page(self, since: float, after: int, limit: int) -> list[StoredStory]:
        """Stored stories first seen since `since`, ids above `after`, oldest first, as new
        stories (for `monitor backtest`)."""
        async with self._read() as db:
            rows = await db.fetch(REPLAY_SQL, {"since": since, "after": after, "limit": limit})
        return [pending_story(r) for r in rows]

    async def replay_count(self, since: float) -> int:
        return int(
            await self._value(
                "SELECT COUNT(*) FROM stories WHERE first_seen_at >= :since", {"since": since}
            )
        )

    async def detection_steps(
        self, since: float, after_seq: int, limit: int
    ) -> list[DetectionStep]:
        async with self._read() as db:
            rows = await db.fetch(STEPS_SQL, {"since": since, "after": after_seq, "limit": limit})
        return [detection_step(r) for r in rows]

    async def revision_texts(
        self, story_ids: Sequence[int]
    ) -> dict[tuple[int, int], tuple[str, str]]:
        async with self._read() as db:
            among, ids = db.among(sorted(set(story_ids)))
            rows = await db.fetch(
                "SELECT story_id, revision, title, summary FROM story_revisions "
                f"WHERE story_id {among}",
                {"among": ids},
            )
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    async def development_history(
        self, since: float
    ) -> tuple[list[DevelopmentRow], list[DevelopmentStoryRow]]:
        """Developments active since `since` and their stories in the order they joined:
        what rebuilds the detection stage's trackers at start. One snapshot for both."""
        async with self._snapshot() as db:
            devs = await db.fetch(
                f"SELECT {DEVELOPMENT_COLUMNS} FROM developments WHERE last_seen_at >= :since "
                "ORDER BY first_seen_at",
                {"since": since},
            )
            rows = await db.fetch(
                f"""SELECT {DEVELOPMENT_STORY_COLUMNS}
                      FROM development_stories d JOIN developments v ON v.id = d.development_id
                      JOIN stories s ON s.id = d.story_id
                     WHERE v.last_seen_at >= :since ORDER BY d.seq""",
                {"since": since},
            )
        return [development_row(r) for r in devs], [development_story_row(r) for r in rows]

    async def detection_report(self) -> dict[str, Any]:
        """Counts for /status: stories waiting, duplicates, developments per topic."""
        async with self._read() as db:
            topics = await db.fetch(
                "SELECT topic_id, COUNT(*), MAX(last_seen_at) FROM developments GROUP BY topic_id"
            )
            duplicates = await db.fetchval(
                "SELECT COUNT(*) FROM stories WHERE duplicate_of IS NOT NULL"
            )
        return detection_summary(await self.pending_count(), int(duplicates or 0), topics)

    # -- alerts ----------------------------------------------------------------------------

    @asynccontextmanager
    async def alert_writes(self, *locks: tuple[str, str]) -> AsyncIterator[OutboxWrites]:
        """One transaction over the outbox, holding `locks` ((space, name), taken in order:
        two instances never decide the same thing at once)."""
        async with self._tx() as db:
            for space, name in locks:
                await db.lock(space, name)
            yield OutboxWrites(db)

    async def next_alert_due(self) -> float | None:
        return await self._time("SELECT MIN(next_attempt_at) FROM alerts WHERE state = 'pending'")

    async def alert_since(self, alert_id: str) -> float | None:
        """When the alert was written, or last re-queued: its age counts from there."""
        value = await self._value(
            "SELECT COALESCE(queued_at, created_at) FROM alerts WHERE id = :id", {"id": alert_id}
        )
        return None if value is None else float(value)

    async def due_digests(self, now: float) -> list[dict[str, Any]]:
        return await self._dicts(
            "SELECT topic_id, sink_id, cron, timezone, next_at, last_at FROM digest_schedules "
            "WHERE next_at <= :now ORDER BY next_at",
            {"now": now},
        )

    async def alert_log(
        self, state: str | None = None, limit: int = 50, alert_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Alerts, newest first, with their payload data and their delivery attempts."""
        sql = (
            "SELECT id, story_id, topic_id, sink_id, event, data, state, attempts, created_at, "
            "next_attempt_at, delivered_at, last_error, digest_id, queued_at FROM alerts"
        )
        params: dict[str, Any] = {"limit": limit}
        if alert_id is not None:
            sql += " WHERE id = :id"
            params["id"] = alert_id
        elif state:
            sql += " WHERE state = :state"
            params["state"] = state
        sql += " ORDER BY created_at DESC, id DESC LIMIT :limit"
        async with self._read() as db:
            rows = [dict(r) for r in await db.fetch(sql, params)]
            among, ids = db.among([r["id"] for r in rows])
            attempts: dict[str, list[dict[str, Any]]] = {}
            for a in await db.fetch(
                "SELECT alert_id, attempt, at, status, latency, error FROM alert_attempts "
                f"WHERE alert_id {among} ORDER BY alert_id, attempt",
                {"among": ids},
            ):
                d = dict(a)
                attempts.setdefault(d.pop("alert_id"), []).append(d)
        for row in rows:
            row["data"] = json.loads(row["data"])
            row["attempts_log"] = attempts.get(row["id"], [])
        return rows

    # -- relevance feedback ----------------------------------------------------------------

    async def add_feedback(
        self, topic_id: str, story_id: int, verdict: str, now: float, alert_id: str | None = None
    ) -> Feedback | None:
        """Record a verdict on a stored story for a topic (replacing an earlier verdict on
        the same story), with the story's title and text. None when there is no such story."""
        async with self._tx() as db:
            story = await db.fetchrow(FEEDBACK_STORY.format(id=":story_id"), {"story_id": story_id})
            if story is None:
                return None
            await db.execute(
                "DELETE FROM topic_feedback WHERE topic_id = :topic_id AND story_id = :story_id",
                {"topic_id": topic_id, "story_id": story_id},
            )
            row = await db.fetchrow(
                "INSERT INTO topic_feedback (topic_id, story_id, alert_id, verdict, title, text, "
                "created_at) VALUES (:topic_id, :story_id, :alert_id, :verdict, :title, :text, "
                f":now) RETURNING {FEEDBACK_COLUMNS}",
                {"topic_id": topic_id, "story_id": story_id, "alert_id": alert_id,
                 "verdict": verdict, "title": story["title"], "text": story["text"], "now": now},
            )  # fmt: skip
        assert row is not None
        return feedback_of(row)

    async def feedback(self, topic_id: str | None = None) -> list[Feedback]:
        """The feedback of one topic (None: of every topic), oldest first."""
        sql = f"SELECT {FEEDBACK_COLUMNS} FROM topic_feedback"
        if topic_id is not None:
            sql += " WHERE topic_id = :topic_id"
        async with self._read() as db:
            rows = await db.fetch(sql + " ORDER BY id", {"topic_id": topic_id})
        return [feedback_of(r) for r in rows]

    async def delete_feedback(self, topic_id: str, feedback_id: int) -> Feedback | None:
        """Take a verdict back; the deleted row, or None when the topic has no such one."""
        async with self._tx() as db:
            row = await db.fetchrow(
                "DELETE FROM topic_feedback WHERE topic_id = :topic_id AND id = :id "
                f"RETURNING {FEEDBACK_COLUMNS}",
                {"topic_id": topic_id, "id": feedback_id},
            )
        return None if row is None else feedback_of(row)

    async def feedback_version(self) -> tuple[int, int]:
        """(rows, highest id) of the feedback: changes with every verdict added or taken
        back (ids are never reused), so a reader knows when to read it again."""
        async with self._read() as db:
            row = await db.fetchrow("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM topic_feedback")
        assert row is not None
        return int(row[0]), int(row[1])

    # -- reports ---------------------------------------------------------------------------

    async def feed_report(self) -> list[dict[str, Any]]:
        return await self._dicts(
            """SELECT id, url, config_url, name, title, "interval", explicit_interval, rate,
                      server_interval, disabled_reason, paused, paused_at, active, last_poll_at,
                      last_success_at, last_result, last_status, last_error_kind, last_error,
                      consecutive_errors, next_poll_at, stories, polls, full_text,
                      texts_ok, texts_failed, texts_not_article, last_text_error
               FROM feeds ORDER BY active DESC, id"""
        )

    async def topic_report(self) -> dict[str, dict[str, Any]]:
        rows = await self._dicts(
            "SELECT topic_id, COUNT(*) AS matches, MAX(matched_at) AS last_match_at "
            "FROM story_topics GROUP BY topic_id"
        )
        return {r["topic_id"]: r for r in rows}

    async def alert_counts(self) -> dict[str, Any]:
        rows = {
            r["state"]: r
            for r in await self._dicts(
                "SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM alerts GROUP BY state"
            )
        }
        return {
            "pending": rows.get("pending", {}).get("n", 0),
            "delivered": rows.get("delivered", {}).get("n", 0),
            "dead": rows.get("dead", {}).get("n", 0),
            "held": rows.get("held", {}).get("n", 0),  # over a rate limit, for the next digest
            "oldest_pending_at": rows.get("pending", {}).get("oldest"),
        }

    async def story_count(self) -> int:
        return int(await self._value("SELECT COALESCE(SUM(stories), 0) FROM feeds") or 0)

    async def alerts(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = (
            "SELECT id, topic_id, sink_id, event, state, attempts, created_at, "
            "next_attempt_at, delivered_at, last_error FROM alerts"
        )
        if state:
            sql += " WHERE state = :state"
        sql += " ORDER BY created_at DESC LIMIT :limit"
        return await self._dicts(sql, {"state": state, "limit": limit})

    # -- WebSub subscriptions (monitor/subscriber.py) --------------------------------------

    async def subscriptions(self) -> list[Subscription]:
        async with self._read() as db:
            rows = await db.fetch(f"{SUBSCRIPTION_SELECT} ORDER BY w.feed_id")
        return [subscription_of(r) for r in rows]

    async def subscription(self, feed_id: int) -> Subscription | None:
        async with self._read() as db:
            row = await db.fetchrow(f"{SUBSCRIPTION_SELECT} WHERE w.feed_id = :id", {"id": feed_id})
        return None if row is None else subscription_of(row)

    async def subscribe(
        self, feed_id: int, hub: str, topic: str, callback: str, secret: str, now: float
    ) -> None:
        """A new subscription of the feed (replacing any other), pending, due now; its
        counters of pushes are kept."""
        async with self._tx() as db:
            await db.execute(
                """INSERT INTO websub_subscriptions (feed_id, hub, topic, callback, secret, state,
                                                     next_action_at, created_at, updated_at)
                   VALUES (:feed_id, :hub, :topic, :callback, :secret, 'pending', :now, :now,
                           :now)
                   ON CONFLICT (feed_id) DO UPDATE SET
                     hub = excluded.hub, topic = excluded.topic, callback = excluded.callback,
                     secret = excluded.secret, state = 'pending', requested_at = NULL,
                     lease_seconds = NULL, lease_until = NULL,
                     next_action_at = excluded.next_action_at, attempts = 0, last_error = NULL,
                     verified_at = NULL, updated_at = excluded.updated_at""",
                {"feed_id": feed_id, "hub": hub, "topic": topic, "callback": callback,
                 "secret": secret, "now": now},
            )  # fmt: skip
            await self._mark_pushed(db, feed_id)

    async def update_subscription(
        self, feed_id: int, changes: Mapping[str, Any], now: float
    ) -> bool:
        """Set the columns `changes` names (of SUBSCRIPTION_COLUMNS); keeps feeds.pushed in
        step with the state. False when the feed has no subscription."""
        pairs = checked_changes(changes)
        sets = "".join(f"{column} = :set_{column}, " for column, _ in pairs)
        params = {f"set_{column}": value for column, value in pairs}
        async with self._tx() as db:
            n = await db.execute(
                f"UPDATE websub_subscriptions SET {sets}updated_at = :now WHERE feed_id = :id",
                {**params, "now": now, "id": feed_id},
            )
            if "state" in changes:
                await self._mark_pushed(db, feed_id)
        return n > 0

    async def delete_subscription(self, feed_id: int) -> bool:
        async with self._tx() as db:
            n = await db.execute(
                "DELETE FROM websub_subscriptions WHERE feed_id = :id", {"id": feed_id}
            )
            await self._mark_pushed(db, feed_id)
        return n > 0

    @staticmethod
    async def _mark_pushed(db: Db, feed_id: int) -> None:
        """feeds.pushed: whether the feed has an active subscription."""
        await db.execute(
            "UPDATE feeds SET pushed = (SELECT COUNT(*) FROM websub_subscriptions "
            "WHERE feed_id = :id AND state = 'active') WHERE id = :id",
            {"id": feed_id},
        )

    async def count_push(self, feed_id: int, forged: bool, now: float) -> None:
        """One delivery received: a push (last_push_at) or a forged one."""
        sets = "forged = forged + 1" if forged else "pushes = pushes + 1, last_push_at = :now"
        async with self._tx() as db:
            await db.execute(
                f"UPDATE websub_subscriptions SET {sets} WHERE feed_id = :id",
                {"now": now, "id": feed_id},
            )

    # -- maintenance: the retention's deletes (monitor/retention.py decides) -----------------

    # kind -> a DELETE of at most :batch rows older than :cutoff (each dialect its own)
    PRUNE_SQL: ClassVar[Mapping[str, str]] = {}

    async def prune_rows(self, kind: str, cutoff: float, batch: int) -> int:
        """Delete up to `batch` rows of `kind` (revisions, alerts, developments, tombstones)
        older than `cutoff`, one transaction; how many."""
        async with self._tx() as db:
            return await db.execute(self.PRUNE_SQL[kind], {"cutoff": cutoff, "batch": batch})
