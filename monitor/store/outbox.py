"""The outbox's rows under the alert rules of monitor/alerts (rate limits, digests, feed
health): read and written inside one transaction, one statement text for both stores."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.store.base import HEALTH_SELECT, STORY_EVENTS_SQL
from monitor.store.sql import Db

ALERT_INSERT = """INSERT INTO alerts (id, story_id, topic_id, sink_id, event, data, created_at,
                                      next_attempt_at{released})
                  VALUES (:id, NULL, :topic_id, :sink_id, :event, :data, :now, :now{now})"""


class OutboxWrites:
    """Rows of the outbox, its digest schedules and the feed-health episodes, read and
    written inside one transaction (the rules that decide are in monitor/alerts)."""

    def __init__(self, db: Db) -> None:
        self.db = db

    # -- rate limits -----------------------------------------------------------------------

    async def unreleased(self, alert_id: str) -> bool:
        """The alert is there and not yet let through."""
        row = await self.db.fetchrow(
            "SELECT released_at FROM alerts WHERE id = :id", {"id": alert_id}
        )
        return row is not None and row[0] is None

    async def released_since(self, sink_id: str, since: float, topic_id: str | None) -> int:
        """Story alerts let through to the sink after `since` (of the topic, if given)."""
        sql = (
            "SELECT COUNT(*) FROM alerts WHERE sink_id = :sink_id AND released_at > :since "
            f"AND event IN {STORY_EVENTS_SQL}"
        )
        params: dict[str, Any] = {"sink_id": sink_id, "since": since}
        if topic_id is not None:
            sql += " AND topic_id = :topic_id"
            params["topic_id"] = topic_id
        return int(await self.db.fetchval(sql, params) or 0)

    async def hold(self, alert_id: str) -> None:
        """Hold the alert for the next digest (digested, if a digest listed it already)."""
        await self.db.execute(
            "UPDATE alerts SET state = CASE WHEN digest_id IS NULL THEN 'held' "
            f"ELSE 'digested' END, {self.db.lease_cleared} WHERE id = :id",
            {"id": alert_id},
        )

    async def release(self, alert_id: str, now: float) -> None:
        await self.db.execute(
            "UPDATE alerts SET released_at = :now WHERE id = :id", {"now": now, "id": alert_id}
        )

    # -- digests ---------------------------------------------------------------------------

    async def schedules(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(topic, sink) -> (cron, timezone) of every digest schedule."""
        rows = await self.db.fetch("SELECT topic_id, sink_id, cron, timezone FROM digest_schedules")
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    async def add_schedule(
        self, topic_id: str, sink_id: str, cron: str, tz: str, next_at: float, now: float
    ) -> None:
        await self.db.execute(
            "INSERT INTO digest_schedules (topic_id, sink_id, cron, timezone, next_at, last_at) "
            "VALUES (:topic_id, :sink_id, :cron, :tz, :next_at, :now) ON CONFLICT DO NOTHING",
            {"topic_id": topic_id, "sink_id": sink_id, "cron": cron, "tz": tz,
             "next_at": next_at, "now": now},
        )  # fmt: skip

    async def change_schedule(
        self, topic_id: str, sink_id: str, cron: str, tz: str, next_at: float
    ) -> None:
        await self.db.execute(
            "UPDATE digest_schedules SET cron = :cron, timezone = :tz, next_at = :next_at "
            "WHERE topic_id = :topic_id AND sink_id = :sink_id",
            {"cron": cron, "tz": tz, "next_at": next_at, "topic_id": topic_id, "sink_id": sink_id},
        )

    async def drop_schedule(self, topic_id: str, sink_id: str) -> None:
        await self.db.execute(
            "DELETE FROM digest_schedules WHERE topic_id = :topic_id AND sink_id = :sink_id",
            {"topic_id": topic_id, "sink_id": sink_id},
        )

    async def held_pairs(self) -> list[tuple[str, str]]:
        """(topic, sink) of the alerts held for a digest."""
        rows = await self.db.fetch(
            "SELECT DISTINCT topic_id, sink_id FROM alerts WHERE state = 'held'"
        )
        return [(r[0], r[1]) for r in rows]

    async def release_held(self, topic_id: str, sink_id: str, now: float) -> int:
        """Send the alerts held for (topic, sink) now; how many."""
        return await self.db.execute(
            "UPDATE alerts SET state = 'pending', next_attempt_at = :now, released_at = :now "
            "WHERE state = 'held' AND topic_id = :topic_id AND sink_id = :sink_id",
            {"now": now, "topic_id": topic_id, "sink_id": sink_id},
        )

    async def schedule(self, topic_id: str, sink_id: str) -> Any | None:
        """The digest schedule's row (last_at, next_at), locked until the transaction ends."""
        return await self.db.fetchrow(
            "SELECT last_at, next_at FROM digest_schedules "
            f"WHERE topic_id = :topic_id AND sink_id = :sink_id{self.db.for_update}",
            {"topic_id": topic_id, "sink_id": sink_id},
        )

    async def undigested(self, topic_id: str, sink_id: str, since: float, now: float) -> list[Any]:
        """Story alerts of (topic, sink) no digest listed yet, written up to `now`: those
        since `since`, and every one held; oldest first (id, story_id, state, data)."""
        return await self.db.fetch(
            f"""SELECT id, story_id, state, data, created_at FROM alerts
               WHERE topic_id = :topic_id AND sink_id = :sink_id AND event IN {STORY_EVENTS_SQL}
                 AND digest_id IS NULL AND created_at <= :now
                 AND (state = 'held' OR created_at >= :since)
               ORDER BY created_at, {self.db.row_order}""",
            {"topic_id": topic_id, "sink_id": sink_id, "now": now, "since": since},
        )

    async def advance_schedule(
        self, topic_id: str, sink_id: str, next_at: float, now: float
    ) -> None:
        await self.db.execute(
            "UPDATE digest_schedules SET next_at = :next_at, last_at = :now "
            "WHERE topic_id = :topic_id AND sink_id = :sink_id",
            {"next_at": next_at, "now": now, "topic_id": topic_id, "sink_id": sink_id},
        )

    async def add_alert(
        self,
        alert_id: str,
        topic_id: str,
        sink_id: str,
        event: str,
        data: Mapping[str, Any],
        now: float,
        *,
        released: bool = False,
    ) -> None:
        """An alert of no story (a digest, a feed's health), due now; `released`: past the
        rate limits already."""
        sql = ALERT_INSERT.format(
            released=", released_at" if released else "", now=", :now" if released else ""
        )
        await self.db.execute(
            sql,
            {"id": alert_id, "topic_id": topic_id, "sink_id": sink_id, "event": event,
             "data": json.dumps(data), "now": now},
        )  # fmt: skip

    async def mark_digested(self, digest_id: str, alert_ids: Sequence[str]) -> None:
        """The alerts a digest lists: held ones are digested (not sent alone)."""
        among, ids = self.db.among(alert_ids)
        await self.db.execute(
            "UPDATE alerts SET digest_id = :digest_id, "
            f"state = CASE WHEN state = 'held' THEN 'digested' ELSE state END WHERE id {among}",
            {"digest_id": digest_id, "among": ids},
        )

    # -- feed health -----------------------------------------------------------------------

    async def health_rows(self, failing_after: int) -> list[Any]:
        """Feeds failing (`failing_after` errors in a row) or in a health episode, with it."""
        return await self.db.fetch(
            HEALTH_SELECT.format(failing_after=":failing_after"), {"failing_after": failing_after}
        )

    async def open_episode(self, feed_id: int, now: float) -> None:
        await self.db.execute(
            "INSERT INTO feed_health (feed_id, failing_since) VALUES (:feed_id, :now)",
            {"feed_id": feed_id, "now": now},
        )

    async def mark_alerted(self, feed_id: int, now: float) -> None:
        await self.db.execute(
            "UPDATE feed_health SET alerted_at = :now WHERE feed_id = :feed_id",
            {"now": now, "feed_id": feed_id},
        )

    async def close_episode(self, feed_id: int) -> None:
        await self.db.execute(
            "DELETE FROM feed_health WHERE feed_id = :feed_id", {"feed_id": feed_id}
        )
