"""The stories list: full-text search (FTS5 or tsquery), time windows as id ranges, pages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from monitor.clock import iso
from monitor.reads.paging import Page, decode_cursor
from monitor.reads.readers import Reader

# Ingest writes `first_seen_at` from the clock read during the poll, and the row id in
# commit order: two polls finishing together may commit out of clock order, by at most a
# poll's duration. Time windows are turned into id ranges widened by this much.
ARRIVAL_SKEW = 3600.0


_WORD = re.compile(r"\w+\*?", re.UNICODE)


def _words(text: str) -> list[tuple[str, bool]]:
    """The words of a search (at most 32), each with whether it ends in `*` (a prefix)."""
    words = [(w.rstrip("*"), w.endswith("*")) for w in _WORD.findall(text)]
    return [(w, prefix) for w, prefix in words if w][:32]


def fts_query(text: str) -> str | None:
    """The user's words as an FTS5 query: every word must appear (title or summary, case-
    and accent-insensitive); a word ending in `*` is a prefix. FTS5 operators and quotes in
    the text are not interpreted. None when the text has no word."""
    terms = [f'"{w}"' + ("*" if prefix else "") for w, prefix in _words(text)]
    return " ".join(terms) if terms else None


def ts_query(text: str) -> str | None:
    """The same words as a PostgreSQL tsquery (for `to_tsquery('simple', …)`): every word
    (`&`), a prefix `:*`; quoted, so no tsquery operator in the text is interpreted (a word
    is letters, digits and `_` only). Case-insensitive like FTS5, but not accent-insensitive
    (the `simple` configuration keeps accents)."""
    terms = [f"'{w}'" + (":*" if prefix else "") for w, prefix in _words(text)]
    return " & ".join(terms) if terms else None


async def _id_bound(db: Reader, sql: str, at: float) -> int | None:
    row = await db.fetchone(sql, {"at": at})
    return None if row is None else int(row["id"])


async def stories_page(
    db: Reader,
    *,
    q: str | None = None,
    since: float | None = None,
    until: float | None = None,
    feed_id: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Stories newest first (by arrival), optionally matching the words of `q` (FTS5) and
    first seen in [since, until). The time window is also turned into a range of ids
    (through the first_seen_at index, widened by ARRIVAL_SKEW) so the newest-first walk
    starts and stops near the window instead of walking every story. (SQLite: the unary `+`
    keeps the planner off the first_seen_at and feed indexes; PostgreSQL's planner weighs
    them by cost.) Words on PostgreSQL: the GIN index stories_fts, the same newest-first
    order."""
    pg = db.dialect == "postgresql"
    plus = "" if pg else "+"
    where = []
    params: dict[str, Any] = {"limit": limit + 1}
    if since is not None:
        where.append(f"{plus}s.first_seen_at >= :since")
        params["since"] = since
        low = await _id_bound(
            db,
            "SELECT id FROM stories WHERE first_seen_at < :at ORDER BY first_seen_at DESC LIMIT 1",
            since - ARRIVAL_SKEW,
        )
        if low is not None:
            where.append("s.id > :low")
            params["low"] = low
    if until is not None:
        where.append(f"{plus}s.first_seen_at < :until")
        params["until"] = until
        high = await _id_bound(
            db,
            "SELECT id FROM stories WHERE first_seen_at >= :at ORDER BY first_seen_at LIMIT 1",
            until + ARRIVAL_SKEW,
        )
        if high is not None:
            where.append("s.id < :high")
            params["high"] = high
    if feed_id is not None:
        where.append(f"{plus}s.feed_id = :feed_id")
        params["feed_id"] = feed_id
    if cursor is not None:
        _, before = decode_cursor(cursor, "stories")
        where.append("s.id < :before")
        params["before"] = before
    source = "stories s"
    order = "s.id DESC"
    if q is not None and pg:
        tsquery = ts_query(q)
        if tsquery is None:
            return Page([], None)
        # the expression of the GIN index stories_fts (migration 6), so the index serves it
        where.insert(
            0, "to_tsvector('simple', s.title || ' ' || s.summary) @@ to_tsquery('simple', :match)"
        )
        params["match"] = tsquery
    elif q is not None:
        match = fts_query(q)
        if match is None:
            return Page([], None)
        source = "stories_fts JOIN stories s ON s.id = stories_fts.rowid"
        where.insert(0, "stories_fts MATCH :match")
        params["match"] = match
        where = [w.replace("s.id ", "stories_fts.rowid ") for w in where]
        order = "stories_fts.rowid DESC"
    sql = f"""SELECT s.id, s.feed_id, s.link, s.title, s.summary, s.author, s.published_at,
                     s.first_seen_at, s.updated_at, s.revision,
                     (SELECT COALESCE(f.name, f.title, f.url) FROM feeds f
                      WHERE f.id = s.feed_id) AS source
              FROM {source}
              {"WHERE " + " AND ".join(where) if where else ""}
              ORDER BY {order} LIMIT :limit"""
    rows = await db.fetch(sql, params)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = str(rows[-1]["id"])
    return Page([story_dict(r) for r in rows], next_cursor)


def story_dict(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "feed_id": r["feed_id"],
        "source": r["source"],
        "title": r["title"],
        "link": r["link"],
        "summary": r["summary"],
        "author": r["author"],
        "published": iso(r["published_at"]),
        "first_seen": iso(r["first_seen_at"]),
        "updated": iso(r["updated_at"]),
        "revision": r["revision"],
    }
