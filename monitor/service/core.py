"""The running service: current configuration, in-flight polls, and the report of its state.

The daemon (scheduled ticks) and `poll-once` both drive this object; it owns no resources of
its own: the store, the HTTP session and the clock are handed in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Callable, Iterable
from typing import Any

from monitor import __version__
from monitor.alerts.outbox import Deliverer
from monitor.clock import Clock, iso
from monitor.config import Config
from monitor.metrics import Metrics
from monitor.models import FeedRow
from monitor.poll import websub
from monitor.poll.pipeline import Poller, PollOutcome
from monitor.poll.subscriber import Subscriber
from monitor.reader.politeness import Slots
from monitor.reads import feed_dict, feed_state
from monitor.store import Store
from monitor.topics.compiled import Settings


class Service:
    def __init__(self, settings: Settings, poller: Poller) -> None:
        self.settings = settings  # the configuration in force; apply() swaps it
        config = settings.config
        self.poller = poller
        self.store: Store = poller.store
        self.clock: Clock = poller.clock
        self.log = poller.log
        self.metrics = Metrics()
        self.deliverer = Deliverer(
            poller.store,
            poller.session,
            poller.clock,
            settings,
            poller.log,
            poller.limits.user_agent,
            observe=self.metrics.observe_delivery,
        )
        self.websub = Subscriber(poller, settings, self.metrics, self.deliverer.kick)
        self.in_flight: dict[int, asyncio.Task[PollOutcome]] = {}
        self._slots = Slots(config.polling.concurrency)
        self.started = time.monotonic()
        self.last_tick: float | None = None  # monotonic time of the last scheduler tick
        self.ticks = 0
        self.listen: tuple[str, int] | None = None
        self.last_reload_error: str | None = None
        self._proxies = _proxies(config)
        # feed id -> alerts for its stories, of the pass that ended the first polls (poll_all
        # reports them with each feed's poll)
        self.round_alerts: dict[int, int] = {}

    async def sync_feeds(self) -> None:
        p = self.config.polling
        now = self.clock.now().timestamp()
        await self.store.sync_feeds(self.config.feeds, p.interval, now)
        await self.websub.sync()  # unsubscribe what is no longer followed
        wait = self.config.detection.first_poll_wait
        if wait > 0 and not self.store.shared:  # (instances sharing a store poll each other's)
            fresh = [
                f.id
                for f in await self.store.active_feeds()
                if f.last_success_at is None and not f.consecutive_errors
            ]
            self.poller.detection.await_first_polls(fresh, now + wait)

    # -- polling ---------------------------------------------------------------------------

    async def tick(self) -> int:
        """Claim the due feeds (earliest first, a bounded batch, none already in flight) and
        start their polls; returns how many were started."""
        self.last_tick = time.monotonic()
        self.ticks += 1
        free = self.config.polling.concurrency - len(self.in_flight)
        if free <= 0:
            return 0
        now = self.clock.now().timestamp()
        feeds = await self.store.claim_due_feeds(
            now, min(free, self.config.polling.batch), exclude=self.in_flight.keys()
        )
        for feed in feeds:
            self._start(feed)
        return len(feeds)

    def _start(self, feed: FeedRow) -> asyncio.Task[PollOutcome]:
        task = asyncio.create_task(self._poll(feed), name=f"poll:{feed.url}")
        self.in_flight[feed.id] = task
        task.add_done_callback(functools.partial(self._finished, feed.id))
        return task

    def _finished(self, feed_id: int, _task: asyncio.Task[PollOutcome]) -> None:
        self.in_flight.pop(feed_id, None)

    async def _poll(self, feed: FeedRow) -> PollOutcome:
        async with self._slots:
            outcome = await self.poller.refresh(
                self.config, feed, self._proxies.get(feed.config_url or "")
            )
        detection = self.poller.detection
        if detection.polled(feed.id):  # the last first poll detection waited for: the
            # round's backlogs are detected now
            found = await detection.process()
            self.log.info("detection.first_polls_done", stories=found.stories, alerts=found.alerts)
            self.round_alerts = found.alerts_by_feed
            if found.alerts:
                self.deliverer.kick()
        self.metrics.observe_poll(outcome)
        if outcome.ingest.alerts:
            self.deliverer.kick()
        if outcome.parsed is not None:  # the document was read: does it advertise a hub?
            await self.websub.discovered(feed, outcome.parsed)
        return outcome

    async def poll_all(
        self, progress: Callable[[PollOutcome], object] | None = None
    ) -> list[PollOutcome]:
        """Poll every active feed once now, whatever its due time (poll-once), with
        `polling.concurrency` workers: as many tasks as slots, not one per feed;
        `progress` is told of each poll as it ends."""
        feeds = await self.store.active_feeds()
        outcomes: list[PollOutcome | None] = [None] * len(feeds)
        queue = iter(enumerate(feeds))

        async def worker() -> None:
            for i, feed in queue:
                outcomes[i] = outcome = await self._poll(feed)
                if progress is not None:
                    progress(outcome)

        self.round_alerts = {}
        workers = min(len(feeds), self.config.polling.concurrency)
        await asyncio.gather(*(worker() for _ in range(workers)))
        await self.store.flush()  # every poll's record committed before the summary
        if (await self.poller.detection.process()).alerts:  # all of it detected
            self.deliverer.kick()
        late, self.round_alerts = self.round_alerts, {}  # the first polls' alerts, per feed
        return [_with_alerts(o, late.get(o.feed_id, 0)) for o in outcomes if o is not None]

    async def drain(self, timeout: float) -> list[str]:
        """Let in-flight polls finish for up to `timeout` seconds, then cancel the rest;
        returns the URLs of the polls cancelled."""
        tasks = list(self.in_flight.values())
        if not tasks:
            return []
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        cancelled = []
        for task in pending:
            task.cancel()
            cancelled.append(task.get_name().removeprefix("poll:"))
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return cancelled

    # -- configuration ---------------------------------------------------------------------

    @property
    def config(self) -> Config:
        return self.settings.config

    @config.setter
    def config(self, config: Config) -> None:
        """A new configuration in force at once, its topics compiled (no feed sync: `apply`
        does that)."""
        self.settings.swap(Settings.of(config))

    async def apply(self, new: Config | Settings) -> None:
        """Switch to a new, already validated configuration (SIGHUP)."""
        if not isinstance(new, Settings):
            new = Settings.of(new)
        config = new.config
        if config.storage.max_size != self.config.storage.max_size:
            await self.store.set_max_size(config.storage.max_size)
        self.settings.swap(new)
        self._proxies = _proxies(config)
        self._slots = Slots(config.polling.concurrency)
        self.poller.hosts.configure(config.polling.host_concurrency, config.polling.host_gap)
        await self.sync_feeds()

    # -- health and report -----------------------------------------------------------------

    def alive(self) -> bool:
        """The scheduler ticked within `polling.stall_after` (or the daemon just started)."""
        ref = self.last_tick if self.last_tick is not None else self.started
        return time.monotonic() - ref < self.config.polling.stall_after

    async def ready(self) -> bool:
        """Alive, the store answers within two seconds, and it can write (after a failed
        write, a probe must succeed: the disk has room again)."""
        if not self.alive():
            return False
        if self.store.write_failure is not None and not await self.store.probe_write():
            return False
        try:
            return await asyncio.wait_for(self.store.ping(), timeout=2.0)
        except TimeoutError:
            return False

    async def status(self) -> dict[str, Any]:
        failing_after = self.config.polling.failing_after
        subs = {s.feed_id: s for s in await self.store.subscriptions()}
        feeds = [
            {
                **feed_dict(f, failing_after),
                "server_interval_seconds": f["server_interval"],
                "push": websub.push_dict(subs.get(f["id"])),
                "full_text": {  # article pages of its new stories
                    "enabled": bool(f["full_text"]),
                    "fetched": f["texts_ok"],
                    "not_article": f["texts_not_article"],
                    "failed": f["texts_failed"],
                    "last_error": f["last_text_error"],
                },
            }
            for f in await self.store.feed_report()
        ]
        matches = await self.store.topic_report()
        detection = await self.store.detection_report()
        per_topic = detection.pop("topics")
        det = self.poller.detection
        topics = [
            {
                "id": t.id,
                "name": t.name,
                "query": t.query,
                "match": t.match,
                "sinks": list(t.sinks),
                "seeds": len(t.seeds),
                "matches": matches.get(t.id, {}).get("matches", 0),
                "last_match": iso(matches.get(t.id, {}).get("last_match_at")),
                "alert_on": t.alert_on,
                "developments": per_topic.get(t.id, {}).get("developments", 0),
                "last_development": per_topic.get(t.id, {}).get("last_development_at"),
                "open_developments": len(det.trackers[t.id].store.developments())
                if t.id in det.trackers
                else 0,
            }
            for t in self.config.topics
        ]
        alerts = await self.store.alert_counts()
        alerts["oldest_pending"] = iso(alerts.pop("oldest_pending_at"))
        alerts["dead_letters"] = [
            {
                "id": a["id"],
                "topic": a["topic_id"],
                "sink": a["sink_id"],
                "attempts": a["attempts"],
                "error": a["last_error"],
            }
            for a in await self.store.alerts(state="dead", limit=20)
        ]
        return {
            "version": __version__,
            "now": iso(self.clock.now().timestamp()),
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "config": str(self.config.source),
            "last_reload_error": self.last_reload_error,
            "store_write_failure": self.store.write_failure,
            "store": {  # the backend, the URL without its password, who holds which leases
                "backend": self.config.storage.backend,
                "location": self.config.storage.display,
                "instance": self.store.instance_id,
                "leases": [
                    {**lease, "until": iso(lease["until"])}
                    for lease in await self.store.leases(self.clock.now().timestamp())
                ],
            },
            "stories": await self.store.story_count(),
            "polls_in_flight": len(self.in_flight),
            "feeds_summary": _summary(feeds),
            "feeds": feeds,
            "topics": topics,
            "full_text": self.poller.enricher.counts,  # pages since start, by outcome
            "detection": {  # stories waiting for it, duplicates linked, what it last failed on
                **detection,
                "awaiting_first_polls": det.awaiting(),  # feeds: their backlogs go in together
                # the optional semantic model: configured, loaded, or why not
                "semantic": det.semantic_status(),
                "last_error": det.last_error,
                "since_start": {
                    "stories": det.totals.stories,
                    "duplicates": det.totals.duplicates,
                    "developments": det.totals.developments,
                    "alerts": det.totals.alerts,
                    # matches feedback and exclude_seeds changed: not_relevant,
                    # exclude_seeds (dropped), relevant (added)
                    "feedback": dict(det.totals.feedback),
                },
            },
            "alerts": alerts,
            "websub": websub.summary(self.config.websub, subs.values()),
        }

    def token(self) -> str | None:
        return self.config.server.token

    async def metrics_text(self) -> bytes:
        """The exposition in the Prometheus text format."""
        return (await self.metrics_exposition())[0]

    async def metrics_exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition and its Content-Type, in the format the Accept header asks for."""
        failing_after = self.config.polling.failing_after
        by_state: dict[str, int] = {}
        for f in await self.store.feed_report():
            state = feed_state(f, failing_after)
            by_state[state] = by_state.get(state, 0) + 1
        counts = await self.store.alert_counts()
        oldest = counts["oldest_pending_at"]
        now = self.clock.now().timestamp()
        return self.metrics.render(
            {
                "feeds_by_state": by_state,
                "alerts_by_state": counts,
                "oldest_pending_age": max(0.0, now - oldest) if oldest else 0.0,
                "stories": await self.store.story_count(),
                "store_size": self.store.size_bytes(),
                "alerts_written": self.poller.detection.totals.alerts,
                "websub_by_state": websub.summary(
                    self.config.websub, await self.store.subscriptions()
                )["subscriptions"],
            },
            accept,
        )

    async def one_line(self) -> str:
        """A short summary for systemd's STATUS= and logs."""
        report = await self.store.feed_report()
        failing = sum(
            1
            for f in report
            if f["active"] and feed_state(f, self.config.polling.failing_after) == "failing"
        )
        pending = (await self.store.alert_counts())["pending"]
        active = sum(1 for f in report if f["active"])
        return f"{active} feeds, {failing} failing, {pending} alerts pending"


def _proxies(config: Config) -> dict[str, str | None]:
    """The proxy of each configured feed URL (its own, else the global one)."""
    return {f.url: f.proxy or config.polling.proxy for f in config.feeds}


def _summary(feeds: Iterable[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in feeds:
        out[f["state"]] = out.get(f["state"], 0) + 1
    return out


def _with_alerts(outcome: PollOutcome, alerts: int) -> PollOutcome:
    """``outcome`` with ``alerts`` more (written for its stories by a later pass)."""
    if not alerts:
        return outcome
    ingest = dataclasses.replace(outcome.ingest, alerts=outcome.ingest.alerts + alerts)
    return outcome._replace(ingest=ingest)
