"""The detection stage's reads and writes in SQLite, inside one write transaction.

`SQLiteStore.detection()` opens the transaction (BEGIN IMMEDIATE: the only writer) and hands
out a `SQLiteDetection`; every decision of a batch of stories (duplicate links, LSH bands,
topic matches, developments, alert rows, the stories' `detected_rev`) commits together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import aiosqlite

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

PENDING_SQL = PENDING_TEMPLATE.format(after="?", hold="?", limit="?", order="s.id")
PENDING_BY_TIME_SQL = PENDING_TEMPLATE.format(
    after="?", hold="?", limit="?",
    order="MIN(COALESCE(s.published_at, s.first_seen_at), s.first_seen_at), s.id",
)  # fmt: skip


class SQLiteDetection:
    """Reads and writes of one detection transaction (see module doc).

    Writes are kept in memory and written together by :meth:`flush` (executemany per table),
    which `SQLiteStore.detection()` calls before it commits: a batch of stories costs a few
    statements rather than some thirty thread hops per story. Reads see the writes of the
    transaction as if they had been executed: the stories marked so far (canonical URL,
    duplicate link, bands) are an overlay on `url_original` and `near_candidates`; the
    developments, their sources and the alert keys met are cached (nothing else writes while
    the transaction holds the write lock). Every method keeps the semantics of executing its
    statement at once, return values included.
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        # buffered writes, in call order per table
        self._story_updates: list[tuple[Any, ...]] = []
        self._rev_updates: list[tuple[Any, ...]] = []
        self._bands: list[tuple[int, int]] = []
        self._matches: list[tuple[int, str, str, float, str, str]] = []
        self._dev_saves: list[tuple[Any, ...]] = []
        self._dev_stories: list[tuple[Any, ...]] = []
        self._alerts: list[tuple[Any, ...]] = []
        self._steps: list[tuple[float, Sequence[DetectionStep], str | None]] = []
        # overlays of what the buffered writes change
        self._fresh: set[int] = set()  # new stories marked (no decisions stored before)
        self._by_canonical: dict[str, list[tuple[int, int | None]]] = {}
        self._by_band: dict[int, list[StoredStory]] = {}
        self._first_seen: dict[int, float] = {}
        self._devs: dict[str, DevelopmentRow | None] = {}  # current rows, when known
        self._dev_saved: dict[str, DevelopmentRow] = {}  # saved, what was stored before unknown
        self._sources: dict[str, set[str]] = {}  # development id -> its stories' sources
        self._joined: dict[int, set[str]] = {}  # story id -> topics it has a row for
        self._alert_keys: dict[int, set[tuple[str, str, str]]] = {}  # pending stories' alerts
        # what `prefetch` read for the batch: url -> (earliest id, its duplicate_of) or None;
        # (bands, before_id, since, limit) -> the stored candidates
        self._urls: dict[str, tuple[int, int | None] | None] = {}
        self._near: dict[tuple[tuple[int, ...], int, float, int], list[StoredStory]] = {}

    async def pending(
        self, limit: int, after: int = 0, hold_since: float = float("inf"), by_time: bool = False
    ) -> list[StoredStory]:
        sql = PENDING_BY_TIME_SQL if by_time else PENDING_SQL
        async with self.db.execute(sql, (after, hold_since, limit)) as cur:
            stories = [pending_story(r) for r in await cur.fetchall()]
        ids = [s.id for s in stories if s.id not in self._alert_keys]
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for sid in chunk:
                self._alert_keys[sid] = set()
            async with self.db.execute(
                "SELECT story_id, topic_id, sink_id, event FROM alerts "
                f"WHERE story_id IN ({','.join('?' * len(chunk))})",
                chunk,
            ) as cur:
                for r in await cur.fetchall():
                    self._alert_keys[r[0]].add((r[1], r[2], r[3]))
        return stories

    async def development_log(
        self, after_seq: int, limit: int = 1000
    ) -> list[tuple[int, DevelopmentStoryRow]]:
        """Stories joined to developments after `after_seq`, in order (SQLite has one writing
        process: the detection stage never needs this; here for the protocol's sake)."""
        await self.flush()
        async with self.db.execute(
            f"""SELECT d.seq, {DEVELOPMENT_STORY_COLUMNS}
                  FROM development_stories d JOIN stories s ON s.id = d.story_id
                 WHERE d.seq > ? ORDER BY d.seq LIMIT ?""",
            (after_seq, limit),
        ) as cur:
            return [(r[0], development_story_row(tuple(r)[1:])) for r in await cur.fetchall()]

    async def last_seq(self) -> int:
        await self.flush()
        async with self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM development_stories") as c:
            row = await c.fetchone()
        return int(row[0]) if row else 0

    async def prefetch(self, lookups: Lookups) -> None:
        """Read at once what `url_original` and `near_candidates` will be asked for a batch
        of stories: three statements rather than two or more per story. Their answers stay
        those of their own statements: the stories and their bands in the store do not
        change until `flush` (the transaction's own decisions are the overlay)."""
        since, limit = lookups.since, lookups.limit
        urls = [u for u in dict.fromkeys(lookups.urls) if u not in self._urls]
        for i in range(0, len(urls), 5000):
            chunk = urls[i : i + 5000]
            self._urls.update(dict.fromkeys(chunk))
            # the earliest story of each URL (SQLite takes the bare column from the MIN row):
            # a story's own query, `id < before ORDER BY id LIMIT 1`, finds it when it is older
            rows = await self.db.execute_fetchall(
                "SELECT canonical_url, MIN(id), duplicate_of FROM stories "
                "WHERE canonical_url IN (SELECT value FROM json_each(?)) GROUP BY canonical_url",
                (json.dumps(chunk),),
            )
            for url, sid, dup in rows:
                self._urls[url] = (int(sid), dup)
        wanted = [(tuple(b), before) for b, before in lookups.near if b]
        if not wanted:
            return
        keys = sorted({b for bands, _ in wanted for b in bands})
        postings: dict[int, list[int]] = {}
        for i in range(0, len(keys), 5000):
            rows = await self.db.execute_fetchall(
                "SELECT b.band, b.story_id FROM story_bands b JOIN stories s ON s.id = b.story_id "
                "WHERE b.band IN (SELECT value FROM json_each(?)) AND s.first_seen_at >= ?",
                (json.dumps(keys[i : i + 5000]), since),
            )
            for band, sid in rows:
                postings.setdefault(band, []).append(sid)
        chosen: dict[tuple[tuple[int, ...], int], list[int]] = {}
        for bands, before in wanted:  # each story's statement: id IN (...) AND id < ?
            found = {sid for b in bands for sid in postings.get(b, ()) if sid < before}
            chosen[(bands, before)] = sorted(found)[:limit]
        texts: dict[int, StoredStory] = {}
        needed = sorted({sid for ids in chosen.values() for sid in ids})
        for i in range(0, len(needed), 5000):
            rows = await self.db.execute_fetchall(
                f"""SELECT {NEAR_COLUMNS} FROM stories
                     WHERE id IN (SELECT value FROM json_each(?))""",
                (json.dumps(needed[i : i + 5000]),),
            )
            for r in rows:
                texts[r[0]] = near_story(r)
        for (bands, before), ids in chosen.items():
            self._near[(bands, before, since, limit)] = [texts[sid] for sid in ids]

    async def url_original(self, canonical: str, before_id: int) -> int | None:
        """The earliest story with this canonical URL (its original, if it is a copy)."""
        found: tuple[int, int | None] | None
        if canonical in self._urls:
            found = self._urls[canonical]
            if found is not None and found[0] >= before_id:
                found = None
        else:
            async with self.db.execute(
                "SELECT id, duplicate_of FROM stories WHERE canonical_url = ? AND id < ? "
                "ORDER BY id LIMIT 1",
                (canonical, before_id),
            ) as cur:
                row = await cur.fetchone()
            found = None if row is None else (int(row["id"]), row["duplicate_of"])
        for sid, dup in self._by_canonical.get(canonical, ()):
            if sid < before_id and (found is None or sid < found[0]):
                found = (sid, dup)
        return None if found is None else int(found[1] or found[0])

    async def near_candidates(
        self, bands: Sequence[int], since: float, before_id: int, limit: int = 200
    ) -> list[StoredStory]:
        """Earlier stories (first seen since `since`) sharing a band key, oldest first."""
        if not bands:
            return []
        prefetched = self._near.get((tuple(bands), before_id, since, limit))
        if prefetched is not None:
            found = list(prefetched)
        else:
            marks = ",".join("?" * len(bands))
            async with self.db.execute(
                f"""SELECT {NEAR_COLUMNS} FROM stories
                     WHERE id IN (SELECT story_id FROM story_bands WHERE band IN ({marks}))
                       AND id < ? AND first_seen_at >= ?
                     ORDER BY id LIMIT ?""",
                (*bands, before_id, since, limit),
            ) as cur:
                found = [near_story(r) for r in await cur.fetchall()]
        if self._by_band:
            seen = {s.id for s in found}
            for band in bands:
                for s in self._by_band.get(band, ()):
                    if s.id < before_id and s.id not in seen and self._first_seen[s.id] >= since:
                        seen.add(s.id)
                        found.append(s)
            found.sort(key=lambda s: s.id)
            del found[limit:]
        return found

    async def mark_detected(
        self,
        story: StoredStory,
        *,
        canonical_url: str | None,
        duplicate_of: int | None,
        duplicate_by: str | None,
        bands: Sequence[int],
    ) -> None:
        if story.detected_rev is None:
            self._story_updates.append(
                (canonical_url, duplicate_of, duplicate_by, story.revision, story.id)
            )
            self._bands.extend((b, story.id) for b in bands)
            if story.id in self._fresh:  # marked twice in one transaction: as stored
                return
            self._fresh.add(story.id)
            if canonical_url is not None:
                self._by_canonical.setdefault(canonical_url, []).append((story.id, duplicate_of))
            self._overlay(story, duplicate_of, bands)
        else:  # a revision, or a text that came after detection: a copy it reveals is linked
            self._rev_updates.append((story.revision, duplicate_of, duplicate_by, story.id))
            self._bands.extend((b, story.id) for b in bands)
            if bands:
                self._overlay(story, duplicate_of, bands)

    def _overlay(self, story: StoredStory, duplicate_of: int | None, bands: Sequence[int]) -> None:
        """Later stories of the transaction find this one by its band keys."""
        text = replace(story, duplicate_of=duplicate_of)
        self._first_seen[story.id] = story.first_seen_at
        for b in set(bands):
            self._by_band.setdefault(b, []).append(text)

    async def add_matches(self, story_id: int, matches: Sequence[MatchRow], now: float) -> None:
        self._matches.extend(
            (story_id, m.topic_id, json.dumps(list(m.terms)), now, m.basis, m.strength)
            for m in matches
        )

    async def development(self, development_id: str) -> DevelopmentRow | None:
        if development_id in self._devs:
            return self._devs[development_id]
        async with self.db.execute(
            f"SELECT {DEVELOPMENT_COLUMNS} FROM developments WHERE id = ?", (development_id,)
        ) as cur:
            row = await cur.fetchone()
        found = None if row is None else development_row(row)
        saved = self._dev_saved.pop(development_id, None)
        if saved is not None:
            found = _upsert(found, saved)
        self._devs[development_id] = found
        return found

    async def story_developments(self, story_id: int) -> dict[str, str]:
        """topic id -> development id of the developments the story belongs to."""
        async with self.db.execute(
            "SELECT topic_id, development_id FROM development_stories WHERE story_id = ?",
            (story_id,),
        ) as cur:
            found = {r[0]: r[1] for r in await cur.fetchall()}
        # rows of this transaction (a story is detected once per transaction, in practice)
        for row in self._dev_stories:
            if row[2] == story_id and row[1] not in found:
                found[row[1]] = row[0]
        self._joined[story_id] = set(found)
        return found

    async def save_development(self, d: DevelopmentRow) -> None:
        self._dev_saves.append(development_params(d))
        if d.id in self._devs:
            self._devs[d.id] = _upsert(self._devs[d.id], d)
        elif d.story_id in self._fresh:
            # opened by a story new to this transaction: no row (nor stories) before it
            self._devs[d.id] = _upsert(self._dev_saved.pop(d.id, None), d)
            self._sources.setdefault(d.id, set())
        else:
            self._dev_saved[d.id] = _upsert(self._dev_saved.get(d.id), d)

    async def add_development_story(self, row: DevelopmentStoryRow, now: float) -> bool:
        """Record the story in its development; True if its source is new to it."""
        sources = self._sources.get(row.development_id)
        if sources is None:
            async with self.db.execute(
                "SELECT DISTINCT source FROM development_stories WHERE development_id = ?",
                (row.development_id,),
            ) as cur:
                sources = self._sources[row.development_id] = {r[0] for r in await cur.fetchall()}
        known = row.source in sources
        story_id = row.story.id
        joined = self._joined.get(story_id)
        if joined is None:
            if story_id in self._fresh:
                joined = self._joined[story_id] = set()
            else:
                async with self.db.execute(
                    "SELECT topic_id FROM development_stories WHERE story_id = ?", (story_id,)
                ) as cur:
                    joined = self._joined[story_id] = {r[0] for r in await cur.fetchall()}
        if row.topic_id not in joined:  # else INSERT OR IGNORE would leave the row out
            joined.add(row.topic_id)
            sources.add(row.source)
            self._dev_stories.append(development_story_params(row, now))
        return not known

    async def add_alerts(self, story_id: int, drafts: Sequence[AlertDraft], now: float) -> int:
        rows = [(*r, now, now) for r in story_alert_rows(story_id, drafts)]
        keys = self._alert_keys.get(story_id)
        if keys is None:  # not a story of pending(): as stored, at once
            before = self.db.total_changes
            await self.db.executemany(ALERT_SQL, rows)
            return int(self.db.total_changes - before)
        added = 0
        for r in rows:
            key = (r[2], r[3], r[4])
            if key not in keys:  # else INSERT OR IGNORE would leave it out
                keys.add(key)
                self._alerts.append(r)
                added += 1
        return added

    async def log_detected(
        self, at: float, steps: Sequence[DetectionStep], rebuilt: str | None
    ) -> None:
        if steps:
            self._steps.append((at, list(steps), rebuilt))

    async def flush(self) -> None:
        """Write what the transaction decided (before it commits)."""
        db = self.db
        for at, steps, rebuilt in self._steps:  # a batch: numbered after the last row
            async with db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM detection_log") as cur:
                row = await cur.fetchone()
            batch = int(row[0]) if row else 1
            await db.executemany(
                DETECTION_LOG_INSERT.format(marks=", ".join("?" * 8)),
                detection_step_params(at, batch, steps, rebuilt),
            )
        self._steps.clear()
        if self._story_updates:
            await db.executemany(
                "UPDATE stories SET canonical_url = ?, duplicate_of = ?, duplicate_by = ?, "
                f"detected_rev = ?, text_state = {TEXT_READ} WHERE id = ?",
                self._story_updates,
            )
        if self._rev_updates:
            await db.executemany(
                "UPDATE stories SET detected_rev = ?, duplicate_of = COALESCE(duplicate_of, ?), "
                f"duplicate_by = COALESCE(duplicate_by, ?), text_state = {TEXT_READ} WHERE id = ?",
                self._rev_updates,
            )
        if self._bands:
            await db.executemany(
                "INSERT OR IGNORE INTO story_bands (band, story_id) VALUES (?, ?)", self._bands
            )
        if self._matches:
            await db.executemany(
                "INSERT OR IGNORE INTO story_topics (story_id, topic_id, terms, matched_at, "
                "basis, strength) VALUES (?, ?, ?, ?, ?, ?)",
                self._matches,
            )
        if self._dev_saves:
            await db.executemany(
                f"""INSERT INTO developments ({DEVELOPMENT_COLUMNS})
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
                        last_published = excluded.last_published, stories = excluded.stories,
                        sources = excluded.sources,
                        last_update_alert_at = excluded.last_update_alert_at""",
                self._dev_saves,
            )
        if self._dev_stories:
            await db.executemany(
                """INSERT OR IGNORE INTO development_stories (development_id, topic_id,
                       story_id, source, published, similarity, duplicate, what_is_new, vector,
                       added_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                self._dev_stories,
            )
        if self._alerts:
            await db.executemany(ALERT_SQL, self._alerts)
        for buffered in (
            self._story_updates, self._rev_updates, self._bands, self._matches,
            self._dev_saves, self._dev_stories, self._alerts,
        ):  # fmt: skip
            buffered.clear()


ALERT_SQL = """INSERT OR IGNORE INTO alerts (id, story_id, topic_id, sink_id, event, data,
                                         created_at, next_attempt_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""


def _upsert(stored: DevelopmentRow | None, saved: DevelopmentRow) -> DevelopmentRow:
    """The row `save_development(saved)` leaves when `stored` was there (its upsert)."""
    if stored is None:
        return saved
    return replace(
        stored, last_seen_at=saved.last_seen_at, last_published=saved.last_published,
        stories=saved.stories, sources=saved.sources,
        last_update_alert_at=saved.last_update_alert_at,
    )  # fmt: skip
