"""The alerts list and one alert with its delivery attempts; the alert summary."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.clock import iso
from monitor.reads.paging import Page, decode_cursor, encode_cursor
from monitor.reads.readers import Reader

ALERT_STATES = ("pending", "held", "delivered", "dead", "digested")


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
