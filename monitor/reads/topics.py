"""Per topic: match counters, the timeline of matched stories and the developments page."""

from __future__ import annotations

import json
from typing import Any

from monitor.clock import iso
from monitor.reads.paging import Page, decode_cursor, encode_cursor
from monitor.reads.readers import Reader


async def topic_stats(db: Reader) -> dict[str, dict[str, Any]]:
    return {
        r["topic_id"]: {"matches": r["matches"], "last_match": iso(r["last_match_at"])}
        for r in await db.fetch("SELECT topic_id, matches, last_match_at FROM topic_stats")
    }


async def timeline(
    db: Reader, topic_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page:
    """A topic's matched stories, newest match first: headline, link, source, first seen,
    the terms that matched and what the match rests on (:func:`match_of`), and the
    development the story belongs to (id, headline, first seen, stories and sources so far,
    what this story added; None for a story matched before developments were stored)."""
    params: dict[str, Any] = {"topic": topic_id, "limit": limit + 1}
    after = ""
    if cursor is not None:
        at, story_id = decode_cursor(cursor, "timeline")
        after = "AND (st.matched_at, st.story_id) < (:at, :story_id)"
        params.update(at=at, story_id=story_id)
    sql = f"""SELECT st.story_id, st.matched_at, st.terms, st.basis, st.strength, s.title,
                     s.link, s.summary, s.published_at, s.first_seen_at, s.revision, s.feed_id,
                     s.duplicate_of,
                     COALESCE(f.name, f.title, f.url) AS source,
                     d.id AS dev_id, d.headline, d.first_seen_at AS dev_first_seen,
                     d.stories AS dev_stories, d.sources AS dev_sources, ds.what_is_new
              FROM story_topics st
              JOIN stories s ON s.id = st.story_id
              JOIN feeds f ON f.id = s.feed_id
              LEFT JOIN development_stories ds
                     ON ds.story_id = st.story_id AND ds.topic_id = st.topic_id
              LEFT JOIN developments d ON d.id = ds.development_id
              WHERE st.topic_id = :topic {after}
              ORDER BY st.matched_at DESC, st.story_id DESC LIMIT :limit"""
    rows = await db.fetch(sql, params)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["matched_at"], rows[-1]["story_id"])
    items = [
        {
            "story_id": r["story_id"],
            "title": r["title"],
            "link": r["link"],
            "summary": r["summary"],
            "source": r["source"],
            "feed_id": r["feed_id"],
            "published": iso(r["published_at"]),
            "first_seen": iso(r["first_seen_at"]),
            "matched": iso(r["matched_at"]),
            "matched_terms": _terms(r["terms"]),
            "match": match_of(r),
            "revision": r["revision"],
            "duplicate_of": r["duplicate_of"],
            "development": None
            if r["dev_id"] is None
            else {
                "id": r["dev_id"],
                "headline": r["headline"],
                "first_seen": iso(r["dev_first_seen"]),
                "stories": r["dev_stories"],
                "sources": r["dev_sources"],
                "what_is_new": _terms(r["what_is_new"]),
            },
        }
        for r in rows
    ]
    return Page(items, next_cursor)


async def developments_page(
    db: Reader,
    topic_id: str,
    *,
    limit: int = 20,
    cursor: str | None = None,
    stories_each: int = 10,
) -> Page:
    """A topic's developments, the most recently active first: headline, first and last
    seen, stories and sources so far, and its first `stories_each` stories in the order they
    joined, each with what it added (the first one: all of it) and what its match of the
    topic rests on (:func:`match_of`)."""
    params: dict[str, Any] = {"topic": topic_id, "limit": limit + 1}
    after = ""
    if cursor is not None:
        at, dev_id = decode_cursor(cursor, "developments")
        after = "AND (last_seen_at, id) < (:at, :dev)"
        params.update(at=at, dev=dev_id)
    rows = await db.fetch(
        f"""SELECT id, headline, first_seen_at, last_seen_at, stories, sources
              FROM developments WHERE topic_id = :topic {after}
             ORDER BY last_seen_at DESC, id DESC LIMIT :limit""",
        params,
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["last_seen_at"], rows[-1]["id"])
    items = []
    for r in rows:
        found = await db.fetch(
            """SELECT ds.story_id, ds.what_is_new, ds.duplicate, ds.similarity, s.title,
                      s.link, s.summary, s.published_at, s.first_seen_at, st.terms,
                      st.basis, st.strength,
                      COALESCE(f.name, f.title, f.url) AS source
                 FROM development_stories ds
                 JOIN stories s ON s.id = ds.story_id
                 JOIN feeds f ON f.id = s.feed_id
                 LEFT JOIN story_topics st
                        ON st.story_id = ds.story_id AND st.topic_id = ds.topic_id
                WHERE ds.development_id = :dev ORDER BY ds.seq LIMIT :each""",
            {"dev": r["id"], "each": stories_each},
        )
        stories = [
            {
                "story_id": x["story_id"],
                "title": x["title"],
                "link": x["link"],
                "summary": x["summary"],
                "source": x["source"],
                "published": iso(x["published_at"]),
                "first_seen": iso(x["first_seen_at"]),
                "matched_terms": _terms(x["terms"] or "[]"),
                "match": match_of(x),
                "duplicate": bool(x["duplicate"]),
                "similarity": x["similarity"],
                "what_is_new": _terms(x["what_is_new"]),
            }
            for x in found
        ]
        items.append(
            {
                "id": r["id"],
                "headline": r["headline"],
                "first_seen": iso(r["first_seen_at"]),
                "last_seen": iso(r["last_seen_at"]),
                "stories": r["stories"],
                "sources": r["sources"],
                "items": stories,
            }
        )
    return Page(items, next_cursor)


def match_of(row: dict[str, Any]) -> dict[str, str | None]:
    """What a stored match rests on (`basis`: "query and profile", "query" or "profile") and
    its `strength` ("strong": it could open a development on its own; "weak": it may only
    join one), as detection decided (monitor/detect/detection.py `match_row`); both None for
    a match stored before they were (unknown), or a story without a match row."""
    return {"basis": row["basis"], "strength": row["strength"]}


def _terms(raw: str) -> list[str]:
    try:
        terms = json.loads(raw)
    except ValueError:
        return []
    return [str(t) for t in terms] if isinstance(terms, list) else []
