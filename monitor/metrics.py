"""Prometheus metrics (prometheus-client), one registry per running service.

Counters and histograms are observed as work happens; gauges that describe the store (feeds
by state, alerts by state, queue depth, store size) are read from it at scrape time.
Names are prefixed `monitor_` and carry their unit. The registry also serves what every
prometheus-client exporter does: `process_*` (memory, CPU, open files), `python_gc_*` and
`python_info`. The format follows the scraper's Accept header (the library's
`choose_encoder`: the Prometheus text format by default, OpenMetrics when asked for).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

from monitor import __version__
from monitor.models import WEBSUB_STATES, IngestResult


class PollOutcome(Protocol):
    """What the metrics read of a poll's outcome (monitor.poll.pipeline.PollOutcome)."""

    @property
    def result(self) -> str: ...
    @property
    def error_kind(self) -> str | None: ...
    @property
    def elapsed(self) -> float: ...
    @property
    def ingest(self) -> IngestResult: ...


FEED_STATES = ("new", "ok", "erroring", "failing", "paused", "disabled", "inactive")
ALERT_STATES = ("pending", "delivered", "dead")
ENTRY_KINDS = ("new", "updated", "duplicate", "unchanged")
WEBSUB_OUTCOMES = ("ok", "unreadable", "forged", "ignored", "failed")


class BootTimeProcessCollector(ProcessCollector):
    """prometheus-client's ProcessCollector, which reads the boot time from /proc/stat and
    serves nothing without it. The unit's ProcSubset=pid hides /proc/stat (only the
    process's own /proc/self stays): then the boot time is the wall clock less the time
    since boot (CLOCK_BOOTTIME), as the kernel computes /proc/stat's btime."""

    def _boot_time(self) -> float:
        try:
            btime = super()._boot_time()  # type: ignore[no-untyped-call]
        except OSError:
            btime = None
        if btime:
            return float(btime)
        return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        # what every exporter serves: process_* (memory, CPU, open files, start time),
        # python_gc_* and python_info
        BootTimeProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        Info("monitor_build", "Version of the running monitor.", registry=r).info(
            {"version": __version__}
        )
        self.polls = Counter(
            "monitor_polls", "Feed polls by result.", ["result", "error_kind"], registry=r
        )
        self.poll_duration = Histogram(
            "monitor_poll_duration_seconds",
            "Time from request to stored result of one feed poll.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.entries = Counter(
            "monitor_entries", "Feed entries seen, by kind.", ["kind"], registry=r
        )
        # read from the detection stage at scrape time: alerts come from passes a poll starts,
        # and from the periodic pass, a page's text arriving, the end of the first-poll wait
        self.alerts_written = Counter(
            "monitor_alerts_written", "Alert rows written to the outbox.", registry=r
        )
        self._written = 0
        self.deliveries = Counter(
            "monitor_alert_attempts",
            "Alert delivery attempts by outcome.",
            ["outcome"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "monitor_alert_delivery_latency_seconds",
            "Round trip of one alert delivery attempt to its sink.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.feeds = Gauge("monitor_feeds", "Configured feeds by state.", ["state"], registry=r)
        self.alerts = Gauge(
            "monitor_alerts", "Alerts in the store by state.", ["state"], registry=r
        )
        self.queue_depth = Gauge(
            "monitor_alert_queue_depth", "Alerts waiting to be delivered.", registry=r
        )
        self.oldest_pending = Gauge(
            "monitor_alert_oldest_pending_age_seconds",
            "Age of the oldest alert waiting to be delivered (0 when none).",
            registry=r,
        )
        self.stories = Gauge("monitor_stories", "Stories stored.", registry=r)
        self.store_size = Gauge(
            "monitor_store_size_bytes",
            "Size of the store on disk (database and WAL).",
            registry=r,
        )
        self.loop_lag = Gauge(
            "monitor_event_loop_lag_seconds",
            "How late the event loop ran a timer at the last probe.",
            registry=r,
        )
        self.loop_lag_max = Gauge(
            "monitor_event_loop_lag_max_seconds",
            "Largest event-loop lag seen since the last scrape.",
            registry=r,
        )
        self.websub_deliveries = Counter(
            "monitor_websub_deliveries",
            "Content pushed by WebSub hubs, by outcome (ok, unreadable: not a feed, forged: "
            "no or a wrong signature, ignored: the feed is not followed, failed: the store).",
            ["outcome"],
            registry=r,
        )
        self.websub_requests = Counter(
            "monitor_websub_requests",
            "Subscription requests sent to WebSub hubs, by mode and outcome.",
            ["mode", "outcome"],
            registry=r,
        )
        self.websub_subscriptions = Gauge(
            "monitor_websub_subscriptions", "WebSub subscriptions by state.", ["state"], registry=r
        )
        self._lag_max = 0.0
        # the children of monitor_polls by (result, error_kind), looked up once each
        self._polls_by: dict[tuple[str, str], Any] = {}
        for outcome in WEBSUB_OUTCOMES:
            self.websub_deliveries.labels(outcome)
        for state in WEBSUB_STATES:
            self.websub_subscriptions.labels(state)
        for state in FEED_STATES:
            self.feeds.labels(state)
        for state in ALERT_STATES:
            self.alerts.labels(state)
        self._entries_by = {kind: self.entries.labels(kind) for kind in ENTRY_KINDS}

    def observe_poll(self, outcome: PollOutcome) -> None:
        key = (outcome.result, outcome.error_kind or "")
        child = self._polls_by.get(key)
        if child is None:
            child = self._polls_by[key] = self.polls.labels(*key)
        child.inc()
        self.poll_duration.observe(outcome.elapsed)
        self._observe_ingest(outcome)

    def observe_push(self, outcome: PollOutcome) -> None:
        """A document a WebSub hub pushed, read as a polled one."""
        self.websub_deliveries.labels("unreadable" if outcome.result == "error" else "ok").inc()
        self._observe_ingest(outcome)

    def _observe_ingest(self, outcome: PollOutcome) -> None:
        ing = outcome.ingest
        if ing.new:
            self._entries_by["new"].inc(ing.new)
        if ing.updated:
            self._entries_by["updated"].inc(ing.updated)
        if ing.unchanged:
            self._entries_by["unchanged"].inc(ing.unchanged)

    def observe_delivery(self, outcome: str, latency: float | None) -> None:
        self.deliveries.labels(outcome).inc()
        if latency is not None:
            self.delivery_latency.observe(latency)

    def observe_lag(self, lag: float) -> None:
        self.loop_lag.set(lag)
        self._lag_max = max(self._lag_max, lag)

    def render(self, snapshot: dict[str, Any], accept: str = "") -> tuple[bytes, str]:
        """The exposition (body and its Content-Type) in the format the `accept` header
        asks for, with the scrape-time gauges set from `snapshot` (a dict with
        feeds_by_state, alerts_by_state, oldest_pending_age, stories, store_size,
        websub_by_state, and alerts_written: the alert rows detection wrote since start)."""
        written = snapshot.get("alerts_written", self._written)  # the detection stage's count
        if written > self._written:
            self.alerts_written.inc(written - self._written)
            self._written = written
        for state in FEED_STATES:
            self.feeds.labels(state).set(snapshot["feeds_by_state"].get(state, 0))
        for state in ALERT_STATES:
            self.alerts.labels(state).set(snapshot["alerts_by_state"].get(state, 0))
        self.queue_depth.set(snapshot["alerts_by_state"].get("pending", 0))
        self.oldest_pending.set(snapshot["oldest_pending_age"])
        self.stories.set(snapshot["stories"])
        self.store_size.set(snapshot["store_size"])
        for state in WEBSUB_STATES:
            self.websub_subscriptions.labels(state).set(
                snapshot.get("websub_by_state", {}).get(state, 0)
            )
        self.loop_lag_max.set(self._lag_max)
        self._lag_max = 0.0
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type


async def probe_loop_lag(metrics: Metrics, stop: asyncio.Event, every: float = 0.5) -> None:
    """Sleep `every` seconds, again and again, and record how late the loop woke us."""
    while not stop.is_set():
        start = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        metrics.observe_lag(max(0.0, time.monotonic() - start - every))
