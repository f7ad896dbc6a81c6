"""The detection stage's reads and writes in SQLite, inside one write transaction.

`SQLiteStore.detection()` opens the transaction (BEGIN IMMEDIATE: the only writer) and hands
out a `SQLiteDetection`; every decision of a batch of stories (duplicate links, LSH bands,
topic matches, developments, alert rows, the stories' `detected_rev`) commits together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import aiosqlite

from monitor.models import (
    AlertDraft,
    DevelopmentRow,
    DevelopmentStoryRow,
    PendingStory,
    StoredText,
    TopicMatch,
)
from monitor.store.base import (
    DEVELOPMENT_COLUMNS,
    PENDING_TEMPLATE,
    REPLAY_TEMPLATE,
    development_params,
    development_row,
    development_story_params,
    pending_story,
    story_alert_rows,
)

PENDING_SQL = PENDING_TEMPLATE.format(after="?", limit="?")
REPLAY_SQL = REPLAY_TEMPLATE.format(since="?", after="?", limit="?")


class SQLiteDetection:
    """Reads and writes of one detection transaction (see module doc)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def pending(self, limit: int, after: int = 0) -> list[PendingStory]:
        async with self.db.execute(PENDING_SQL, (after, limit)) as cur:
            return [pending_story(r) for r in await cur.fetchall()]

    async def url_original(self, canonical: str, before_id: int) -> int | None:
        """The earliest story with this canonical URL (its original, if it is a copy)."""
        async with self.db.execute(
            "SELECT id, duplicate_of FROM stories WHERE canonical_url = ? AND id < ? "
            "ORDER BY id LIMIT 1",
            (canonical, before_id),
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else int(row["duplicate_of"] or row["id"])

    async def near_candidates(
        self, bands: Sequence[int], since: float, before_id: int, limit: int = 200
    ) -> list[StoredText]:
        """Earlier stories (first seen since `since`) sharing a band key, oldest first."""
        if not bands:
            return []
        marks = ",".join("?" * len(bands))
        async with self.db.execute(
            f"""SELECT id, title, summary, COALESCE(published_at, first_seen_at) AS published,
                       duplicate_of
                  FROM stories
                 WHERE id IN (SELECT story_id FROM story_bands WHERE band IN ({marks}))
                   AND id < ? AND first_seen_at >= ?
                 ORDER BY id LIMIT ?""",
            (*bands, before_id, since, limit),
        ) as cur:
            return [
                StoredText(r["id"], r["title"], r["summary"], r["published"], r["duplicate_of"])
                for r in await cur.fetchall()
            ]

    async def mark_detected(
        self,
        story: PendingStory,
        *,
        canonical_url: str | None,
        duplicate_of: int | None,
        duplicate_by: str | None,
        bands: Sequence[int],
    ) -> None:
        if story.detected_rev is None:
            await self.db.execute(
                "UPDATE stories SET canonical_url = ?, duplicate_of = ?, duplicate_by = ?, "
                "detected_rev = ? WHERE id = ?",
                (canonical_url, duplicate_of, duplicate_by, story.revision, story.id),
            )
            await self.db.executemany(
                "INSERT OR IGNORE INTO story_bands (band, story_id) VALUES (?, ?)",
                [(b, story.id) for b in bands],
            )
        else:
            await self.db.execute(
                "UPDATE stories SET detected_rev = ? WHERE id = ?", (story.revision, story.id)
            )

    async def add_matches(self, story_id: int, matches: Sequence[TopicMatch], now: float) -> None:
        await self.db.executemany(
            "INSERT OR IGNORE INTO story_topics (story_id, topic_id, terms, matched_at) "
            "VALUES (?, ?, ?, ?)",
            [(story_id, m.topic_id, json.dumps(list(m.terms)), now) for m in matches],
        )

    async def development(self, development_id: str) -> DevelopmentRow | None:
        async with self.db.execute(
            f"SELECT {DEVELOPMENT_COLUMNS} FROM developments WHERE id = ?", (development_id,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else development_row(row)

    async def story_developments(self, story_id: int) -> dict[str, str]:
        """topic id -> development id of the developments the story belongs to."""
        async with self.db.execute(
            "SELECT topic_id, development_id FROM development_stories WHERE story_id = ?",
            (story_id,),
        ) as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}

    async def save_development(self, d: DevelopmentRow) -> None:
        await self.db.execute(
            f"""INSERT INTO developments ({DEVELOPMENT_COLUMNS})
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
                    last_published = excluded.last_published, stories = excluded.stories,
                    sources = excluded.sources,
                    last_update_alert_at = excluded.last_update_alert_at""",
            development_params(d),
        )

    async def add_development_story(self, row: DevelopmentStoryRow, now: float) -> bool:
        """Record the story in its development; True if its source is new to it."""
        async with self.db.execute(
            "SELECT 1 FROM development_stories WHERE development_id = ? AND source = ? LIMIT 1",
            (row.development_id, row.source),
        ) as cur:
            known = await cur.fetchone() is not None
        await self.db.execute(
            """INSERT OR IGNORE INTO development_stories (development_id, topic_id, story_id,
                   source, published, similarity, duplicate, what_is_new, vector, added_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            development_story_params(row, now),
        )
        return not known

    async def add_alerts(self, story_id: int, drafts: Sequence[AlertDraft], now: float) -> int:
        rows = [(*r, now, now) for r in story_alert_rows(story_id, drafts)]
        before = self.db.total_changes
        await self.db.executemany(
            """INSERT OR IGNORE INTO alerts (id, story_id, topic_id, sink_id, event, data,
                                             created_at, next_attempt_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            rows,
        )
        return int(self.db.total_changes - before)
