"""Rate limits: how many story alerts a sink (or a topic at a sink) lets through a period.

An alert over a limit is not dropped: it is held for the topic's next digest
(monitor/alerts/digests.py). The counts and the decisions of one call are one store
transaction, holding a lock per sink, so two instances never let through more than the limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.config import Config
from monitor.store import OutboxStore

# a limit: (per topic, else per sink; at most this many alerts; within this many seconds)
Limit = tuple[bool, int, float]


def limits_for(cfg: Config, topic_id: str, sink_id: str) -> list[Limit]:
    """Rate limits on alerts of `topic_id` to `sink_id`: (per topic?, count, period)."""
    out: list[Limit] = []
    sink = next((s for s in cfg.sinks if s.id == sink_id), None)
    topic = cfg.topic(topic_id)
    if sink is not None and sink.rate_limit is not None:
        out.append((False, sink.rate_limit.count, sink.rate_limit.period))
    if topic is not None and topic.rate_limit is not None:
        out.append((True, topic.rate_limit.count, topic.rate_limit.period))
    return out


async def admit_alerts(
    store: OutboxStore,
    items: Sequence[tuple[str, str, str, Sequence[Limit]]],
    now: float,
) -> set[str]:
    """For each (alert id, topic, sink, limits) not yet let through, count the alerts let
    through within each limit's period (per topic and sink when the flag is set, else per
    sink) and either let it through or hold it for the next digest. Returns the ids held.
    An alert a digest already listed is marked digested instead."""
    held: set[str] = set()
    if not items:
        return held
    sinks = sorted({sink_id for _, _, sink_id, _ in items})
    async with store.alert_writes(*(("monitor.sink", s) for s in sinks)) as tx:
        for alert_id, topic_id, sink_id, limits in items:
            if not await tx.unreleased(alert_id):
                continue
            for per_topic, count, period in limits:
                since = now - period
                if (
                    await tx.released_since(sink_id, since, topic_id if per_topic else None)
                    >= count
                ):
                    held.add(alert_id)
                    await tx.hold(alert_id)
                    break
            else:
                await tx.release(alert_id, now)
    return held
