"""Digests: one `topic.digest` alert listing a topic's story alerts to a sink since the last.

A digest fires on its cron schedule (the topic's, else the sink's, else hourly where a rate
limit can hold alerts back: those are never dropped). It lists the story alerts since the
last digest and every alert held by a rate limit (those become digested). The schedules
follow the configuration; alerts held for a digest that is gone are sent after all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from monitor.clock import iso
from monitor.config import Config
from monitor.store import OutboxStore, new_alert_id

HOURLY = "0 * * * *"  # digest of alerts held by a rate limit, when no schedule is configured


def digest_plan(cfg: Config) -> list[tuple[str, str, str]]:
    """(topic, sink, cron) of every digest: the topic's schedule, else the sink's, else
    hourly when a rate limit can hold alerts back (they are never dropped)."""
    out = []
    for topic in cfg.topics:
        for sink_id in topic.sinks:
            sink = next((s for s in cfg.sinks if s.id == sink_id), None)
            if sink is None:
                continue
            cron = topic.digest or sink.digest
            if cron is None and (topic.rate_limit or sink.rate_limit):
                cron = HOURLY
            if cron is not None:
                out.append((topic.id, sink_id, cron))
    return out


def digest_data(
    topic: Any, rows: Sequence[Any], since: float, now: float, max_listed: int
) -> dict[str, Any]:
    """The data of a `topic.digest` alert listing the story alerts `rows` (mappings with
    id, story_id, state, data)."""
    stories = []
    for r in rows[:max_listed]:
        d = json.loads(r["data"])
        stories.append(
            {
                "alert_id": r["id"],
                "story_id": r["story_id"],
                **d.get("story", {}),
                "matched_terms": d.get("matched_terms", []),
                "folded": r["state"] == "held",
            }
        )
        if "match" in d:  # how it matched (a weak match says so)
            stories[-1]["match"] = d["match"]
    return {
        "topic": topic,
        "period": {"from": iso(since), "to": iso(now)},
        "count": len(rows),
        "folded": sum(1 for r in rows if r["state"] == "held"),
        "more": max(0, len(rows) - max_listed),
        "stories": stories,
    }


async def sync_digest_schedules(
    store: OutboxStore, wanted: Sequence[tuple[str, str, str, str, float]], now: float
) -> int:
    """Make the digest schedules follow the configuration: (topic, sink, cron, timezone,
    next fire time). A schedule that did not change keeps its due time (a digest missed
    while stopped goes out at start). Alerts held for a (topic, sink) that no longer has a
    digest are released for delivery (never dropped); returns how many."""
    async with store.alert_writes(("monitor", "digests")) as tx:
        have = await tx.schedules()
        keys = {(w[0], w[1]) for w in wanted}
        for topic_id, sink_id, cron, tz, next_at in wanted:
            old = have.get((topic_id, sink_id))
            if old is None:
                await tx.add_schedule(topic_id, sink_id, cron, tz, next_at, now)
            elif old != (cron, tz):
                await tx.change_schedule(topic_id, sink_id, cron, tz, next_at)
        for topic_id, sink_id in set(have) - keys:
            await tx.drop_schedule(topic_id, sink_id)
        released = 0
        for topic_id, sink_id in await tx.held_pairs():
            if (topic_id, sink_id) not in keys:
                released += await tx.release_held(topic_id, sink_id, now)
    return released


async def write_digest(
    store: OutboxStore,
    topic_id: str,
    sink_id: str,
    topic: dict[str, Any],
    now: float,
    next_at: float,
    max_listed: int = 100,
) -> tuple[str | None, int]:
    """In one transaction: a `topic.digest` alert listing the topic's alerts to the sink
    since the last digest and every alert held by the rate limit (those become digested),
    and the schedule moved to `next_at`. No alert when there is nothing to list, nor when
    the schedule is not due (another instance wrote this digest meanwhile). Returns the
    digest's id (or None) and how many stories it covers."""
    async with store.alert_writes(("monitor.sink", sink_id)) as tx:
        row = await tx.schedule(topic_id, sink_id)
        if row is not None and row["next_at"] > now:
            return None, 0
        since = float(row["last_at"]) if row else now
        rows = await tx.undigested(topic_id, sink_id, since, now)
        await tx.advance_schedule(topic_id, sink_id, next_at, now)
        if not rows:
            return None, 0
        digest_id = new_alert_id()
        data = digest_data(topic, rows, since, now, max_listed)
        await tx.add_alert(digest_id, topic_id, sink_id, "topic.digest", data, now, released=True)
        await tx.mark_digested(digest_id, [r["id"] for r in rows])
    return digest_id, len(rows)
