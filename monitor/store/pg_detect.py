"""The detection stage's reads and writes in PostgreSQL, inside one transaction.

`PostgresStore.detection()` opens the transaction and takes the detection advisory lock (one
detecting instance at a time), then hands out a `PostgresDetection`; every decision of a
batch of stories (duplicate links, LSH bands, topic matches, developments, alert rows, the
stories' `detected_rev`) commits together, as in SQLite (monitor/store/sqlite_detect.py).

`pending` locks the stories it returns FOR KEY SHARE until the transaction ends: a prune
running meanwhile skips them (its FOR UPDATE SKIP LOCKED) instead of deleting a story whose
bands, matches, development rows and alerts are about to be written. An ingest updating one
of them is not held up (it locks FOR NO KEY UPDATE, which KEY SHARE does not block).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from monitor.models import (
    AlertDraft,
    DetectionStep,
    DevelopmentRow,
    DevelopmentStoryRow,
    Lookups,
    MatchRow,
    StoredStory,
)
from monitor.store.base import (
    DETECTION_LOG_INSERT,
    DEVELOPMENT_COLUMNS,
    DEVELOPMENT_STORY_COLUMNS,
    NEAR_COLUMNS,
    PENDING_TEMPLATE,
    TEXT_READ,
    detection_step_params,
    development_params,
    development_row,
    development_story_params,
    development_story_row,
    near_story,
    pending_story,
    story_alert_rows,
)
from monitor.store.sql import rows_affected

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Con = PoolConnectionProxy[asyncpg.Record]

PENDING_SQL = (
    PENDING_TEMPLATE.format(after="$1", hold="$2", limit="$3", order="s.id") + " FOR KEY SHARE OF s"
)
PENDING_BY_TIME_SQL = (
    PENDING_TEMPLATE.format(
        after="$1", hold="$2", limit="$3",
        order="LEAST(COALESCE(s.published_at, s.first_seen_at), s.first_seen_at), s.id",
    )
    + " FOR KEY SHARE OF s"
)  # fmt: skip


class PostgresDetection:
    """Reads and writes of one detection transaction (see module doc)."""

    def __init__(self, con: Con) -> None:
        self.con = con

    async def pending(
        self, limit: int, after: int = 0, hold_since: float = float("inf"), by_time: bool = False
    ) -> list[StoredStory]:
        sql = PENDING_BY_TIME_SQL if by_time else PENDING_SQL
        rows = await self.con.fetch(sql, after, min(hold_since, 1e300), limit)
        return [pending_story(r) for r in rows]

    async def development_log(
        self, after_seq: int, limit: int = 1000
    ) -> list[tuple[int, DevelopmentStoryRow]]:
        """Stories joined to developments after `after_seq` (by any instance), in order: what
        another instance decided since this one last looked."""
        rows = await self.con.fetch(
            f"""SELECT d.seq, {DEVELOPMENT_STORY_COLUMNS}
                  FROM development_stories d JOIN stories s ON s.id = d.story_id
                 WHERE d.seq > $1 ORDER BY d.seq LIMIT $2""",
            after_seq,
            limit,
        )
        return [(r[0], development_story_row(tuple(r)[1:])) for r in rows]

    async def last_seq(self) -> int:
        return int(await self.con.fetchval("SELECT COALESCE(MAX(seq), 0) FROM development_stories"))

    async def prefetch(self, lookups: Lookups) -> None:
        """Nothing read ahead: each story's writes go to the server at once, so its lookups
        are asked when they come (one statement each)."""
        return None

    async def url_original(self, canonical: str, before_id: int) -> int | None:
        """The earliest story with this canonical URL (its original, if it is a copy)."""
        row = await self.con.fetchrow(
            "SELECT id, duplicate_of FROM stories WHERE canonical_url = $1 AND id < $2 "
            "ORDER BY id LIMIT 1",
            canonical,
            before_id,
        )
        return None if row is None else int(row["duplicate_of"] or row["id"])

    async def near_candidates(
        self, bands: Sequence[int], since: float, before_id: int, limit: int = 200
    ) -> list[StoredStory]:
        """Earlier stories (first seen since `since`) sharing a band key, oldest first."""
        if not bands:
            return []
        rows = await self.con.fetch(
            f"""SELECT {NEAR_COLUMNS}
                 FROM stories
                WHERE id IN (SELECT story_id FROM story_bands WHERE band = ANY($1::bigint[]))
                  AND id < $2 AND first_seen_at >= $3
                ORDER BY id LIMIT $4""",
            list(bands),
            before_id,
            since,
            limit,
        )
        return [near_story(r) for r in rows]

    async def mark_detected(
        self,
        story: StoredStory,
        *,
        canonical_url: str | None,
        duplicate_of: int | None,
        duplicate_by: str | None,
        bands: Sequence[int],
    ) -> None:
        if story.detected_rev is not None:  # a revision, or a late text: a copy it reveals
            await self.con.execute(
                "UPDATE stories SET detected_rev = $1, duplicate_of = COALESCE(duplicate_of, $2), "
                f"duplicate_by = COALESCE(duplicate_by, $3), text_state = {TEXT_READ} "
                "WHERE id = $4",
                story.revision,
                duplicate_of,
                duplicate_by,
                story.id,
            )
        else:
            await self.con.execute(
                "UPDATE stories SET canonical_url = $1, duplicate_of = $2, duplicate_by = $3, "
                f"detected_rev = $4, text_state = {TEXT_READ} WHERE id = $5",
                canonical_url,
                duplicate_of,
                duplicate_by,
                story.revision,
                story.id,
            )
        if bands:
            await self.con.execute(
                "INSERT INTO story_bands (band, story_id) "
                "SELECT b, $2 FROM unnest($1::bigint[]) AS u (b) ON CONFLICT DO NOTHING",
                list(bands),
                story.id,
            )

    async def add_matches(self, story_id: int, matches: Sequence[MatchRow], now: float) -> None:
        if not matches:
            return
        await self.con.execute(
            """INSERT INTO story_topics (story_id, topic_id, terms, matched_at, basis, strength)
               SELECT $1, t, m, $4, b, g
                 FROM unnest($2::text[], $3::text[], $5::text[], $6::text[]) AS u (t, m, b, g)
               ON CONFLICT DO NOTHING""",
            story_id,
            [m.topic_id for m in matches],
            [json.dumps(list(m.terms)) for m in matches],
            now,
            [m.basis for m in matches],
            [m.strength for m in matches],
        )

    async def development(self, development_id: str) -> DevelopmentRow | None:
        row = await self.con.fetchrow(
            f"SELECT {DEVELOPMENT_COLUMNS} FROM developments WHERE id = $1", development_id
        )
        return None if row is None else development_row(row)

    async def story_developments(self, story_id: int) -> dict[str, str]:
        """topic id -> development id of the developments the story belongs to."""
        rows = await self.con.fetch(
            "SELECT topic_id, development_id FROM development_stories WHERE story_id = $1",
            story_id,
        )
        return {r[0]: r[1] for r in rows}

    async def save_development(self, d: DevelopmentRow) -> None:
        await self.con.execute(
            f"""INSERT INTO developments ({DEVELOPMENT_COLUMNS})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
                    last_published = excluded.last_published, stories = excluded.stories,
                    sources = excluded.sources,
                    last_update_alert_at = excluded.last_update_alert_at""",
            *development_params(d),
        )

    async def add_development_story(self, row: DevelopmentStoryRow, now: float) -> bool:
        """Record the story in its development; True if its source is new to it."""
        known = await self.con.fetchval(
            "SELECT EXISTS (SELECT 1 FROM development_stories "
            "WHERE development_id = $1 AND source = $2)",
            row.development_id,
            row.source,
        )
        await self.con.execute(
            """INSERT INTO development_stories (development_id, topic_id, story_id, source,
                   published, similarity, duplicate, what_is_new, vector, added_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (topic_id, story_id) DO NOTHING""",
            *development_story_params(row, now),
        )
        return not known

    async def add_alerts(self, story_id: int, drafts: Sequence[AlertDraft], now: float) -> int:
        """Write the story's alert rows (an alert it already has is kept); returns how many
        were inserted."""
        rows = story_alert_rows(story_id, drafts)
        if not rows:
            return 0
        status = await self.con.execute(
            """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data, created_at,
                                   next_attempt_at)
               SELECT i, s, t, k, e, d, $7, $7
               FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                           $6::text[]) AS u (i, s, t, k, e, d)
               ON CONFLICT (story_id, topic_id, sink_id, event) DO NOTHING""",
            *([r[n] for r in rows] for n in range(6)),
            now,
        )
        return rows_affected(status)

    async def log_detected(
        self, at: float, steps: Sequence[DetectionStep], rebuilt: str | None
    ) -> None:
        """One batch of the detection log, numbered after the last row (the advisory lock
        makes this transaction the only one writing it)."""
        if not steps:
            return
        batch = int(await self.con.fetchval("SELECT COALESCE(MAX(seq), 0) + 1 FROM detection_log"))
        await self.con.executemany(
            DETECTION_LOG_INSERT.format(marks=", ".join(f"${i}" for i in range(1, 9))),
            detection_step_params(at, batch, steps, rebuilt),
        )
