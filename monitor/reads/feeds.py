"""The feeds list (state filters, sorts, keyset pages), one feed, the state counts, and the
hourly activity counters."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from monitor.clock import iso
from monitor.reads.paging import Page, cursor_number, decode_cursor, encode_cursor
from monitor.reads.readers import Reader

FEED_STATES = ("ok", "new", "erroring", "failing", "paused", "disabled", "inactive")


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
        return None, key if isinstance(key, str) else cursor_number(key), item_id
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
