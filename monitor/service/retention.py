"""Retention: what is old enough to go, given the configured ages and the time now.

Each kind of row has its age (`[retention]`; None keeps it for ever): stories (a pruned story
leaves a tombstone, so a re-listed old item is not new again), their earlier revisions,
delivered alerts with their delivery log, tombstones, and developments whose stories are all
gone (by the stories' age). The store only deletes; the deletes go in small batches, one
transaction each, so polls interleave.
"""

from __future__ import annotations

import asyncio

from monitor.config import RetentionConfig
from monitor.store import MaintenanceStore

# the kinds pruned after the stories, each with the age (a RetentionConfig field) it keeps
AGES = (
    ("revisions", "revisions"),
    ("alerts", "attempts"),
    ("developments", "stories"),  # a development whose stories were all pruned
    ("tombstones", "tombstones"),
)


def cutoffs(now: float, retention: RetentionConfig) -> list[tuple[str, float]]:
    """(kind, the time before which its rows go), stories first; kinds kept for ever left
    out."""
    out = [] if retention.stories is None else [("stories", now - retention.stories)]
    for kind, field in AGES:
        age = getattr(retention, field)
        if age is not None:
            out.append((kind, now - age))
    return out


async def prune(store: MaintenanceStore, now: float, retention: RetentionConfig) -> dict[str, int]:
    """Delete the rows older than the retention ages, a batch per transaction. Returns the
    rows deleted per kind."""
    batch = retention.batch
    counts = {"stories": 0, "revisions": 0, "alerts": 0, "tombstones": 0, "developments": 0}
    for kind, cutoff in cutoffs(now, retention):
        while True:
            if kind == "stories":
                deleted = await store.prune_stories(cutoff, batch, now)
            else:
                deleted = await store.prune_rows(kind, cutoff, batch)
            counts[kind] += deleted
            if deleted < batch:
                break
            await asyncio.sleep(0)
    return counts
