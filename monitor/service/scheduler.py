"""APScheduler wiring only: the jobs that drive the service. Work and due times live in the
store; the scheduler just ticks. (The delivery and WebSub loops beat on their own, woken
early when work is added: `clock.nap`.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler


def build(
    tick: Callable[[], Awaitable[Any]],
    tick_seconds: float,
    beats: list[tuple[str, Callable[[], Awaitable[Any]], float]],
) -> AsyncIOScheduler:
    """A scheduler with the polling tick and any periodic beats (name, job, seconds).

    Jobs never overlap themselves (max_instances=1) and missed runs are coalesced, so a slow
    tick delays the next one instead of stacking up."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    scheduler.add_job(
        tick,
        "interval",
        seconds=tick_seconds,
        id="poll-tick",
        next_run_time=datetime.now(UTC),
        **common,
    )
    for name, job, seconds in beats:
        scheduler.add_job(job, "interval", seconds=seconds, id=name, **common)
    return scheduler
