"""When to poll a feed next: adaptive interval, server hints, jitter. Pure functions.

- An explicit `interval` on the feed wins.
- Otherwise the interval follows how often the feed publishes: the publication rate is an
  exponentially weighted mean of new entries per second (time constant one week, so the
  recent window counts most), and the feed is polled twice per average gap between entries,
  clamped to [min_interval, max_interval]. A feed with no measured rate yet keeps the
  default interval.
- Never below what the server asks for (RSS <ttl>, <sy:updatePeriod>/<sy:updateFrequency>,
  Cache-Control max-age, Expires), capped at a day so a stale hint never stops polling.
- Every next poll gets +-jitter so feeds do not synchronise.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from datetime import datetime

from monitor.config import SERVER_HINT_CAP

WEEK = 7 * 86400.0


def initial_rate(published: Sequence[datetime | None]) -> float | None:
    """Entries per second, estimated from the dates in a feed's first document: (n - 1)
    entries over the span from the oldest to the newest (None with fewer than two dates)."""
    stamps = sorted(p.timestamp() for p in published if p is not None)
    if len(stamps) < 2:
        return None
    span = stamps[-1] - stamps[0]
    return (len(stamps) - 1) / max(span, 3600.0)


def update_rate(rate: float | None, new_entries: int, elapsed: float, tau: float = WEEK) -> float:
    """Fold one poll (new entries over `elapsed` seconds) into the weighted rate."""
    elapsed = max(elapsed, 1.0)
    observed = new_entries / elapsed
    if rate is None:
        return observed
    alpha = 1.0 - math.exp(-elapsed / tau)
    return rate + alpha * (observed - rate)


def choose_interval(
    *,
    explicit: float | None,
    default: float,
    rate: float | None,
    adaptive: bool,
    min_interval: float,
    max_interval: float,
    server_interval: float | None,
) -> float:
    if explicit is not None:
        return explicit
    if not adaptive or rate is None:
        interval = default
    elif rate <= 0:
        interval = max_interval
    else:
        interval = min(max_interval, max(min_interval, 1.0 / (2.0 * rate)))
    if server_interval:
        interval = max(interval, min(server_interval, SERVER_HINT_CAP))
    return interval


def jittered(interval: float, jitter: float, rng: Callable[[], float] = random.random) -> float:
    return interval * (1.0 + jitter * (2.0 * rng() - 1.0))


def server_interval(*hints: float | None) -> float | None:
    """The longest of the intervals the server asked for (each hint is a floor)."""
    given = [h for h in hints if h is not None and h > 0]
    return max(given) if given else None
