"""Feed-health alerts: a feed that keeps failing is reported once, and once when it recovers.

An episode opens when a feed is seen failing (`failing_after` consecutive errors); after
`after` seconds still failing, a `feed.failing` alert goes to each health sink; when the
feed polls fine again (or is no longer configured), the episode ends, with a
`feed.recovered` alert if the failing one was sent. One check is one store transaction,
one instance at a time (a lock), so an episode opens once and alerts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.clock import iso
from monitor.store import OutboxStore, new_alert_id


def health_step(
    r: Any, now: float, failing_after: int, after: float
) -> tuple[str | None, str | None, dict[str, Any]]:
    """What one feed's row (its health columns, its episode's) calls for: (action, event,
    alert data). action: "open" (insert its episode), "alert" (a `feed.failing` alert, the
    episode marked alerted), "close" (the episode ends, with a `feed.recovered` alert if the
    failing one was sent), or None."""
    feed = {"id": r["id"], "url": r["url"], "name": r["name"] or r["title"]}
    failing = bool(r["active"]) and r["consecutive_errors"] >= failing_after
    if r["failing_since"] is None:
        return ("open" if failing else None), None, {}
    if failing and r["alerted_at"] is None and now - r["failing_since"] >= after:
        return (
            "alert",
            "feed.failing",
            {
                "feed": feed,
                "failing_since": iso(r["failing_since"]),
                "consecutive_errors": r["consecutive_errors"],
                "last_error": {"kind": r["last_error_kind"], "message": r["last_error"]},
                "last_success": iso(r["last_success_at"]),
            },
        )
    if r["consecutive_errors"] == 0 or not r["active"]:
        if r["alerted_at"] is not None and r["active"]:
            back = r["last_success_at"] or now
            return (
                "close",
                "feed.recovered",
                {
                    "feed": feed,
                    "failing_since": iso(r["failing_since"]),
                    "recovered_at": iso(back),
                    "down_seconds": round(back - r["failing_since"]),
                },
            )
        return "close", None, {}
    return None, None, {}


async def check_feed_health(
    store: OutboxStore, now: float, failing_after: int, after: float, sinks: Sequence[str]
) -> list[tuple[str, str, str]]:
    """Move every feed's health episode on (see module doc); returns (event, feed url,
    alert id) of the alerts written."""
    written: list[tuple[str, str, str]] = []
    async with store.alert_writes(("monitor", "health")) as tx:
        for r in await tx.health_rows(failing_after):
            action, event, data = health_step(r, now, failing_after, after)
            if action == "open":
                await tx.open_episode(r["id"], now)
            elif action == "alert":
                await tx.mark_alerted(r["id"], now)
            elif action == "close":
                await tx.close_episode(r["id"])
            for sink_id in sinks if event else ():
                alert_id = new_alert_id()
                await tx.add_alert(alert_id, "", sink_id, str(event), data, now)
                written.append((str(event), r["url"], alert_id))
    return written
