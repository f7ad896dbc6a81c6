"""Read queries of the dashboard and the JSON API (monitor/web), on SQLite and PostgreSQL.

Every query answers from an index or a counter, whatever the size of the store: lists are
keyset-paginated (`WHERE (key, id) < (?, ?) ORDER BY key DESC, id DESC LIMIT n`, never
OFFSET), counts of large tables come from the counters migration 6 keeps with triggers
(`story_hours`, `poll_hours`, `topic_stats`), text search goes through the FTS5 table
`stories_fts` (PostgreSQL: the GIN index `stories_fts` over the same text). The only scan
is the feeds table's state counts (one pass over the feeds, not the stories).

The functions take a Reader (monitor/store/readers.py: the dashboard's own read-only
SQLite connection, or read-only transactions on the PostgreSQL pool) and return plain dicts
shaped as the API returns them; both stores give the same answers and the same cursors.
Where the dialects differ (FTS5 MATCH and tsquery, IFNULL, INDEXED BY, SUM of a boolean,
IN lists, parameter types) the SQL asks `db.dialect`; SQLite's statements are as they
were, plans included. Writes (pause, resume, re-queue) are Store methods.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.clock import iso
from monitor.store.readers import Reader

FEED_STATES = ("ok", "new", "erroring", "failing", "paused", "disabled", "inactive")
ALERT_STATES = ("pending", "held", "delivered", "dead", "digested")

# Feed list orders: name -> (SQL key expression (an index serves each), descending?)
FEED_SORTS: dict[str, tuple[str, bool]] = {
    "errors": ("consecutive_errors", True),
    "-errors": ("consecutive_errors", False),
    "last_poll": ("IFNULL(last_poll_at, 0)", True),
    "-last_poll": ("IFNULL(last_poll_at, 0)", False),
    "next_poll": ("next_poll_at", False),
    "-next_poll": ("next_poll_at", True),
    "url": ("url", False),
    "-url": ("url", True),
}
DEFAULT_FEED_SORT = "errors"

# Ingest writes `first_seen_at` from the clock read during the poll, and the row id in
# commit order: two polls finishing together may commit out of clock order, by at most a
# poll's duration. Time windows are turned into id ranges widened by this much.
ARRIVAL_SKEW = 3600.0


class BadCursor(ValueError):
    """A pagination cursor that this list did not hand out."""


# Cursors are the last item's sort key and id, as text: `<key>~<id>`. Every string matching
# a list's pattern (published in the OpenAPI document) is a position in that list.
_NUM = r"-?[0-9]{1,15}(?:\.[0-9]{1,9})?"
CURSOR_PATTERNS = {
    "feeds": rf"^(?:{_NUM}|u.{{0,900}})~[0-9]{{1,18}}$",
    "stories": r"^[0-9]{1,18}$",
    "timeline": rf"^{_NUM}~[0-9]{{1,18}}$",
    "alerts": rf"^{_NUM}~.{{1,200}}$",
    "developments": rf"^{_NUM}~.{{1,300}}$",
}


def _num(value: float | int) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def encode_cursor(key: float | int | str | None, item_id: int | str | None = None) -> str:
    """`<key>~<id>` (a text key is marked with `u`), or the bare key when there is no id."""
    text = f"u{key}" if isinstance(key, str) else _num(key or 0)
    return text if item_id is None else f"{text}~{item_id}"


def decode_cursor(cursor: str, kind: str) -> tuple[Any, Any]:
    """(key, id) of a cursor of the list `kind`; the key is a float, or a str for a `u` key."""
    if re.fullmatch(CURSOR_PATTERNS[kind], cursor) is None:
        raise BadCursor("cursor: not a cursor of this list")
    if kind == "stories":
        return None, int(cursor)
    if kind in ("alerts", "developments"):
        key, _, item = cursor.partition("~")
        return float(key), item
    key, _, item = cursor.rpartition("~")
    return (key[1:] if key.startswith("u") else float(key)), int(item)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


# -- feeds ---------------------------------------------------------------------------------

_FEED_COLUMNS = """id, url, config_url, name, title, interval, explicit_interval, rate,
    server_interval, disabled_reason, active, paused, paused_at, last_poll_at,
    last_success_at, last_result, last_status, last_error_kind, last_error,
    consecutive_errors, next_poll_at, stories, polls"""


def _state_filter(state: str) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause of a feed state (the literal `consecutive_errors > 0` lets SQLite
    use the partial plan on consecutive_errors); `:failing_after` is a parameter."""
    live = "active = 1 AND disabled_reason IS NULL AND paused = 0"
    return {
        "inactive": "active = 0",
        "disabled": "active = 1 AND disabled_reason IS NOT NULL",
        "paused": "active = 1 AND disabled_reason IS NULL AND paused = 1",
        "new": f"{live} AND last_poll_at IS NULL",
        "failing": f"{live} AND last_poll_at IS NOT NULL AND consecutive_errors > 0 "
        "AND consecutive_errors >= :failing_after",
        "erroring": f"{live} AND last_poll_at IS NOT NULL AND consecutive_errors > 0 "
        "AND consecutive_errors < :failing_after",
        "ok": f"{live} AND last_poll_at IS NOT NULL AND consecutive_errors = 0",
    }[state], ()


def feed_state(f: Mapping[str, Any], failing_after: int) -> str:
    if not f["active"]:
        return "inactive"
    if f["disabled_reason"]:
        return "disabled"
    if f["paused"]:
        return "paused"
    if f["last_poll_at"] is None:
        return "new"
    if f["consecutive_errors"] >= failing_after:
        return "failing"
    if f["consecutive_errors"] > 0:
        return "erroring"
    return "ok"


def feed_dict(f: Mapping[str, Any], failing_after: int) -> dict[str, Any]:
    """A feed as the API shows it (the fields of /status, plus `paused`)."""
    return {
        "id": f["id"],
        "url": f["url"],
        "configured_url": f["config_url"],
        "name": f["name"] or f["title"],
        "state": feed_state(f, failing_after),
        "active": bool(f["active"]),
        "paused": bool(f["paused"]),
        "paused_at": iso(f["paused_at"]),
        "disabled": f["disabled_reason"],
        "interval_seconds": round(f["interval"], 1),
        "interval_mode": "explicit" if f["explicit_interval"] else "adaptive",
        "stories_per_week": round(f["rate"] * 7 * 86400, 1) if f["rate"] else None,
        "last_poll": iso(f["last_poll_at"]),
        "last_success": iso(f["last_success_at"]),
        "last_result": f["last_result"],
        "last_status": f["last_status"],
        "last_error": (
            {"kind": f["last_error_kind"], "message": f["last_error"]}
            if f["last_result"] == "error"
            else None
        ),
        "consecutive_errors": f["consecutive_errors"],
        "next_poll": iso(f["next_poll_at"]) if f["active"] and not f["paused"] else None,
        "stories": f["stories"],
        "polls": f["polls"],
    }


# PostgreSQL types a parameter by its column: a cursor's key (any its pattern allows) is
# turned into that type, with SQLite's answer (numbers sort before text; a number compared
# with a TEXT column is compared as text).
_INT32 = 2**31 - 1
_MAX_ID = 2**63 - 1


def _pg_after(sort: str, key: float | str, item_id: int, desc: bool) -> tuple[str | None, Any, int]:
    """(a condition replacing the keyset comparison, or None; the key; the id) for PostgreSQL."""
    name = sort.lstrip("-")
    if name == "url":
        return None, key if isinstance(key, str) else _num(key), item_id
    if isinstance(key, str):  # after every number (desc: from the start; asc: nothing left)
        return ("TRUE" if desc else "FALSE"), None, item_id
    if name != "errors":
        return None, key, item_id
    if not -_INT32 <= key <= _INT32:  # beyond every INTEGER
        return ("TRUE" if (key > 0) == desc else "FALSE"), None, item_id
    if key != math.floor(key):  # between two integers: after floor(key) and every id
        return None, math.floor(key), _MAX_ID
    return None, int(key), item_id


async def feeds_page(
    db: Reader,
    *,
    failing_after: int,
    state: str | None = None,
    sort: str = DEFAULT_FEED_SORT,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """One page of feeds, filtered by state, in `sort` order (an index walk, never a sort of
    all feeds), from after `cursor`."""
    key, desc = FEED_SORTS[sort]
    pg = db.dialect == "postgresql"
    if pg:  # the expression of the index feeds_last_poll, in PostgreSQL's words
        key = key.replace("IFNULL(", "COALESCE(")
    where: list[str] = []
    params: dict[str, Any] = {"failing_after": failing_after, "limit": limit + 1}
    if state is not None:
        where.append(_state_filter(state)[0])
    if cursor is not None:
        after, after_id = decode_cursor(cursor, "feeds")
        replaced = None
        if pg:
            replaced, after, after_id = _pg_after(sort, after, after_id, desc)
        if replaced is not None:
            where.append(replaced)
        else:
            where.append(f"({key}, id) {'<' if desc else '>'} (:after, :after_id)")
            params.update(after=after, after_id=after_id)
    direction = "DESC" if desc else "ASC"
    sql = (
        f"SELECT {_FEED_COLUMNS}, {key} AS sort_key FROM feeds "
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + f"ORDER BY {key} {direction}, id {direction} LIMIT :limit"
    )
    rows = await db.fetch(sql, params)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        at = last["sort_key"]
        if pg and last["last_poll_at"] is None and sort.endswith("last_poll"):
            at = 0  # SQLite's IFNULL(NULL, 0) is the integer 0: the same cursor text
        next_cursor = encode_cursor(at, last["id"])
    return Page([feed_dict(r, failing_after) for r in rows], next_cursor)


async def feed(db: Reader, feed_id: int, failing_after: int) -> dict[str, Any] | None:
    row = await db.fetchone(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE id = :id", {"id": feed_id})
    return None if row is None else feed_dict(row, failing_after)


_COUNT_NAMES = ("inactive", "disabled", "paused", "new", "failing", "erroring", "ok")
_COUNT_WHERE = (
    "active = 0",
    "active = 1 AND disabled_reason IS NOT NULL",
    "active = 1 AND disabled_reason IS NULL AND paused = 1",
    "live AND last_poll_at IS NULL",
    "live AND last_poll_at IS NOT NULL AND consecutive_errors >= :fa",
    "live AND last_poll_at IS NOT NULL AND consecutive_errors BETWEEN 1 AND :fa - 1",
    "live AND last_poll_at IS NOT NULL AND consecutive_errors = 0",
)


async def feed_counts(db: Reader, failing_after: int) -> dict[str, Any]:
    """Feeds per state and stories stored: one pass over the feeds table."""
    # SQLite sums its 0/1 comparisons; PostgreSQL counts with FILTER (no SUM of a boolean)
    each = "SUM({})" if db.dialect == "sqlite" else "COUNT(*) FILTER (WHERE {})"
    counts = ",\n             ".join(
        each.format(where) + f" AS {name}"
        for name, where in zip(_COUNT_NAMES, _COUNT_WHERE, strict=True)
    )
    row = await db.fetchone(
        f"""SELECT
             {counts},
             COUNT(*) AS total, COALESCE(SUM(stories), 0) AS stories
           FROM (SELECT *, active = 1 AND disabled_reason IS NULL AND paused = 0 AS live
                 FROM feeds) AS f""",
        {"fa": failing_after},
    )
    assert row is not None
    return {
        "feeds": {name: int(row[name] or 0) for name in _COUNT_NAMES},
        "feeds_total": int(row["total"]),
        "stories": int(row["stories"]),
    }


# -- activity ------------------------------------------------------------------------------


async def hourly(db: Reader, now: float, hours: int = 48) -> dict[str, Any]:
    """Stories first seen, polls and poll errors per hour over the last `hours` hours (the
    current hour last), from the counters the triggers keep."""
    last = int(now // 3600)
    first = last - hours + 1
    stories = [0] * hours
    polls = [0] * hours
    errors = [0] * hours
    span = {"first": first, "last": last}
    for r in await db.fetch(
        "SELECT hour, stories FROM story_hours WHERE hour BETWEEN :first AND :last", span
    ):
        stories[r["hour"] - first] = r["stories"]
    for r in await db.fetch(
        "SELECT hour, polls, errors FROM poll_hours WHERE hour BETWEEN :first AND :last", span
    ):
        polls[r["hour"] - first] = r["polls"]
        errors[r["hour"] - first] = r["errors"]
    return {
        "start": iso(first * 3600.0),
        "hours": hours,
        "stories": stories,
        "polls": polls,
        "poll_errors": errors,
    }


# -- topics --------------------------------------------------------------------------------


async def topic_stats(db: Reader) -> dict[str, dict[str, Any]]:
    return {
        r["topic_id"]: {"matches": r["matches"], "last_match": iso(r["last_match_at"])}
        for r in await db.fetch("SELECT topic_id, matches, last_match_at FROM topic_stats")
    }


async def timeline(
    db: Reader, topic_id: str, *, limit: int = 50, cursor: str | None = None
) -> Page:
    """A topic's matched stories, newest match first: headline, link, source, first seen,
    the terms that matched, and the development the story belongs to (id, headline, first
    seen, stories and sources so far, what this story added; None for a story matched before
    developments were stored)."""
    params: dict[str, Any] = {"topic": topic_id, "limit": limit + 1}
    after = ""
    if cursor is not None:
        at, story_id = decode_cursor(cursor, "timeline")
        after = "AND (st.matched_at, st.story_id) < (:at, :story_id)"
        params.update(at=at, story_id=story_id)
    sql = f"""SELECT st.story_id, st.matched_at, st.terms, s.title, s.link, s.summary,
                     s.published_at, s.first_seen_at, s.revision, s.feed_id, s.duplicate_of,
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
    joined, each with what it added (the first one: all of it)."""
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


def _terms(raw: str) -> list[str]:
    try:
        terms = json.loads(raw)
    except ValueError:
        return []
    return [str(t) for t in terms] if isinstance(terms, list) else []


# -- stories -------------------------------------------------------------------------------

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


# -- alerts --------------------------------------------------------------------------------

_ALERT_COLUMNS = """id, story_id, topic_id, sink_id, event, state, attempts, created_at,
    next_attempt_at, delivered_at, last_error, digest_id, queued_at, data"""


def _alert_dict(r: Mapping[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        data = json.loads(r["data"])
    except ValueError:
        data = {}
    story = data.get("story") if isinstance(data, dict) else None
    title = story.get("title") if isinstance(story, dict) else None
    return {
        "id": r["id"],
        "event": r["event"],
        "state": r["state"],
        "topic": r["topic_id"] or None,
        "sink": r["sink_id"],
        "story_id": r["story_id"],
        "title": title if isinstance(title, str) else None,
        "attempts": r["attempts"],
        "created": iso(r["created_at"]),
        "queued": iso(r["queued_at"]),
        "next_attempt": iso(r["next_attempt_at"]) if r["state"] == "pending" else None,
        "delivered": iso(r["delivered_at"]),
        "last_error": r["last_error"],
        "digest_id": r["digest_id"],
        "attempts_log": attempts,
    }


async def _attempts(db: Reader, ids: Sequence[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {i: [] for i in ids}
    if not ids:
        return out
    params: dict[str, Any]
    if db.dialect == "postgresql":  # one array parameter
        among, params = "= ANY(:ids)", {"ids": list(ids)}
    else:
        params = {f"a{n}": i for n, i in enumerate(ids)}
        among = f"IN ({', '.join(':' + name for name in params)})"
    for r in await db.fetch(
        f"SELECT alert_id, attempt, at, status, latency, error FROM alert_attempts "
        f"WHERE alert_id {among} ORDER BY alert_id, attempt",
        params,
    ):
        out[r["alert_id"]].append(
            {
                "attempt": r["attempt"],
                "at": iso(r["at"]),
                "status": r["status"],
                "latency_seconds": None if r["latency"] is None else round(r["latency"], 4),
                "error": r["error"],
            }
        )
    return out


async def alerts_page(
    db: Reader,
    *,
    state: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Alerts newest first, with their delivery attempts."""
    where = []
    params: dict[str, Any] = {"limit": limit + 1}
    if state is not None:
        where.append("state = :state")
        params["state"] = state
    if cursor is not None:
        created, alert_id = decode_cursor(cursor, "alerts")
        where.append("(created_at, id) < (:created, :alert_id)")
        params.update(created=created, alert_id=alert_id)
    sql = (
        f"SELECT {_ALERT_COLUMNS} FROM alerts "
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + "ORDER BY created_at DESC, id DESC LIMIT :limit"
    )
    rows = await db.fetch(sql, params)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
    attempts = await _attempts(db, [r["id"] for r in rows])
    return Page([_alert_dict(r, attempts[r["id"]]) for r in rows], next_cursor)


async def alert(db: Reader, alert_id: str) -> dict[str, Any] | None:
    row = await db.fetchone(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = :id", {"id": alert_id})
    if row is None:
        return None
    return _alert_dict(row, (await _attempts(db, [alert_id]))[alert_id])


async def alert_summary(db: Reader, now: float) -> dict[str, Any]:
    """Alerts per state that needs attention, deliveries in the last 24 hours, the oldest
    pending and the last delivery: index ranges, not a count of every alert. (SQLite is told
    to use the partial index alerts_done; PostgreSQL has no such hint and needs none.)"""
    done = "alerts INDEXED BY alerts_done" if db.dialect == "sqlite" else "alerts"
    out: dict[str, Any] = {}
    for state in ("pending", "held", "dead"):
        row = await db.fetchone(
            "SELECT COUNT(*) AS n FROM alerts WHERE state = :state", {"state": state}
        )
        out[state] = int(row["n"]) if row else 0
    row = await db.fetchone(
        f"SELECT COUNT(*) AS n FROM {done} WHERE state = 'delivered' AND delivered_at >= :since",
        {"since": now - 86400},
    )
    out["delivered_24h"] = int(row["n"]) if row else 0
    row = await db.fetchone("SELECT MIN(created_at) AS at FROM alerts WHERE state = 'pending'")
    out["oldest_pending"] = iso(row["at"]) if row else None
    row = await db.fetchone(f"SELECT MAX(delivered_at) AS at FROM {done} WHERE state = 'delivered'")
    out["last_delivered"] = iso(row["at"]) if row else None
    return out
