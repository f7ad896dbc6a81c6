"""The delivery loop: claim due rows of the alert outbox and send them to their sinks.

An alert row was written in the same transaction as its story, so it exists exactly once
and keeps its id across retries (the webhook-id). Failures are retried with exponential
backoff and jitter, honouring Retry-After; a 4xx other than 408/429 is permanent and the
alert goes to the dead letters, as does one that used up its attempts or its age
(`delivery.max_age`); `monitor alerts retry` re-queues dead letters.

Rate limits (per sink, per topic) are applied when an alert is first claimed: an alert over
the limit is held, and the next digest of its topic and sink lists it (never dropped).
Digest due times live in the store, computed from cron expressions as crontab reads them
(cron.py, with cronsim), and are written as `topic.digest` alerts in one transaction with the
alerts they list. Feed health alerts (`feed.failing`, `feed.recovered`) are written here too.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from monitor.alerts.digests import digest_plan, sync_digest_schedules, write_digest
from monitor.alerts.feed_health import check_feed_health
from monitor.alerts.limits import admit_alerts, limits_for
from monitor.alerts.sinks import send
from monitor.alerts.webhook import SendResult
from monitor.clock import Clock, nap
from monitor.config import Config
from monitor.cron import next_fire
from monitor.models import STORY_EVENTS, PendingAlert
from monitor.store import OutboxStore
from monitor.topics.compiled import Settings


def retry_delay(
    attempt: int,
    base: float,
    cap: float,
    retry_after: float | None,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds until attempt `attempt + 1`: base * 2^(attempt-1), capped, with "equal
    jitter" (half fixed, half random), and never sooner than the receiver asked."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    delay = delay / 2 + rng() * delay / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, 86400.0))
    return float(delay)


HEALTH_EVERY = 10.0  # seconds of the clock between feed-health checks


@dataclass(slots=True)
class DeliveryRun:
    """What delivery rounds did: alerts claimed, delivered, failed (retried later or dead)
    and held by a rate limit for the next digest."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    held: int = 0

    def add(self, other: DeliveryRun) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.failed += other.failed
        self.held += other.held


class Deliverer:
    """The delivery loop. Each beat (or kick): digests that are due are written, feed health
    is checked, due alerts are claimed and rate-limited, and each sink's alerts are sent in
    order by a task of that sink, sinks in parallel; a sink still busy (slow, timing out) is
    skipped by the next claims, so it delays only itself."""

    def __init__(
        self,
        store: OutboxStore,
        session: aiohttp.ClientSession,
        clock: Clock,
        settings: Settings,
        log: Any,
        user_agent: str,
        observe: Callable[[str, float | None], None] | None = None,
    ) -> None:
        """`observe(outcome, latency)` is told of every attempt: delivered, retry, dead."""
        self.store = store
        self.observe = observe or (lambda _outcome, _latency: None)
        self.session = session
        self.clock = clock
        self.settings = settings  # the configuration in force
        self.log = log
        self.user_agent = user_agent
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._busy: dict[str, asyncio.Task[tuple[int, int]]] = {}
        self._synced: Config | None = None  # the configuration the digest schedules follow
        self._next_health: float | None = None
        self.delivered = 0
        self.failed = 0

    def kick(self) -> None:
        """New alerts were committed: deliver now rather than at the next beat."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, beat: float = 1.0) -> None:
        try:  # this process holds no lease yet: leases still set are a dead process's
            released = await self.store.release_leases(self.clock.now().timestamp())
            if released:
                self.log.info("alert.leases_released", count=released)
        except Exception as exc:
            self.log.error("alert.delivery_loop_failed", error=f"{type(exc).__name__}: {exc}")
        while not stop.is_set():
            self._wake.clear()  # before the claim: a kick during it is not lost
            try:
                await self.deliver_due(wait=False)
            except Exception as exc:  # the loop must outlive any one failure
                self.log.error("alert.delivery_loop_failed", error=f"{type(exc).__name__}: {exc}")
            await nap(self._wake, stop, beat)
        busy = [t for t in self._busy.values() if not t.done()]
        if busy:
            await asyncio.gather(*busy, return_exceptions=True)

    async def deliver_due(self, wait: bool = True) -> int:
        """Write due digests, check feed health, then send every due alert once. With `wait`
        (tests, poll-once) returns how many were delivered once the sends are done; without
        (the loop), returns 0 at once and the sinks' tasks run on."""
        return (await self._round(wait)).delivered

    async def deliver_all(self, progress: Callable[[int], object] | None = None) -> DeliveryRun:
        """Deliver every alert that is due, batch after batch (`delivery.batch` each), as the
        loop would over its beats, then return (poll-once): digests and rate limits apply
        as in the loop; an alert that fails gets its backoff and waits for a later run. It
        stops when a round claims nothing, i.e. whatever is left is held for a digest,
        backing off, leased, or not due: bounded, since a failure is never due again at
        once (its backoff is exponential). `progress(n)` is told of the alerts each round
        handled."""
        run = DeliveryRun()
        while True:
            r = await self._round(wait=True)
            if not r.claimed:
                return run
            run.add(r)
            if progress is not None:
                progress(r.claimed)

    async def _round(self, wait: bool) -> DeliveryRun:
        async with self._lock:
            cfg = self.settings.config
            now = self.clock.now().timestamp()
            try:
                await self._housekeeping(cfg, now)
            except Exception as exc:  # never let digests or health checks stop deliveries
                self.log.error("alert.housekeeping_failed", error=f"{type(exc).__name__}: {exc}")
            lease = cfg.delivery.lease_seconds
            busy = {s for s, t in self._busy.items() if not t.done()}
            alerts = await self.store.claim_due_alerts(
                now, cfg.delivery.batch, lease, exclude_sinks=busy
            )
            if not alerts:
                return DeliveryRun()
            held = await self._admit(cfg, alerts, now)
            by_sink: dict[str, list[PendingAlert]] = defaultdict(list)
            for a in alerts:
                if a.id not in held:
                    by_sink[a.sink_id].append(a)
            tasks = []
            for sink, batch in by_sink.items():
                task = asyncio.create_task(self._send_all(cfg, sink, batch), name=f"sink:{sink}")
                self._busy[sink] = task
                task.add_done_callback(lambda _t: self._wake.set())  # more may be due
                tasks.append(task)
        out = DeliveryRun(claimed=len(alerts), held=len(held))
        if not wait:
            return out
        for delivered, failed in await asyncio.gather(*tasks):
            out.delivered += delivered
            out.failed += failed
        return out

    async def _housekeeping(self, cfg: Config, now: float) -> None:
        when = self.clock.now()
        if cfg is not self._synced:
            wanted = [
                (
                    t,
                    s,
                    cron,
                    cfg.delivery.timezone,
                    next_fire(cron, cfg.delivery.timezone, when).timestamp(),
                )
                for t, s, cron in digest_plan(cfg)
            ]
            released = await sync_digest_schedules(self.store, wanted, now)
            if released:
                self.log.info("alert.held_released", count=released)
            self._synced = cfg
        for d in await self.store.due_digests(now):
            topic = cfg.topic(d["topic_id"])
            info = {"id": d["topic_id"], "name": topic.name if topic else d["topic_id"]}
            next_at = next_fire(d["cron"], d["timezone"], when).timestamp()
            alert_id, count = await write_digest(
                self.store, d["topic_id"], d["sink_id"], info, now, next_at
            )
            if alert_id is not None:
                self.log.info(
                    "alert.digest_written",
                    alert_id=alert_id,
                    topic=d["topic_id"],
                    sink=d["sink_id"],
                    stories=count,
                )
        health = cfg.health
        if health.sinks and (self._next_health is None or now >= self._next_health):
            self._next_health = now + HEALTH_EVERY
            written = await check_feed_health(
                self.store, now, cfg.polling.failing_after, health.after, health.sinks
            )
            for kind, feed_url, alert_id in written:
                self.log.warning(
                    "feed.health_alert", kind=kind, feed_url=feed_url, alert_id=alert_id
                )

    async def _admit(self, cfg: Config, alerts: list[PendingAlert], now: float) -> set[str]:
        """Apply rate limits to first attempts of story alerts; returns the ids held for the
        next digest."""
        items = [
            (a.id, a.topic_id, a.sink_id, limits)
            for a in alerts
            if a.event in STORY_EVENTS
            and a.attempts == 0
            and (limits := limits_for(cfg, a.topic_id, a.sink_id))
        ]
        if not items:
            return set()
        held = await admit_alerts(self.store, items, now)
        for a in alerts:
            if a.id in held:
                self.log.info("alert.folded", alert_id=a.id, topic=a.topic_id, sink=a.sink_id)
        return held

    async def _send_all(
        self, cfg: Config, sink_id: str, alerts: list[PendingAlert]
    ) -> tuple[int, int]:
        """Send a sink's alerts in order; returns (delivered, failed: retried later or dead)."""
        sink = next((s for s in cfg.sinks if s.id == sink_id), None)
        done = failed = 0
        for alert in alerts:
            try:
                if sink is None:
                    result = SendResult(
                        ok=False,
                        status=None,
                        latency=0.0,
                        retryable=False,
                        error=f"sink {sink_id!r} is no longer configured",
                    )
                else:
                    result = await send(
                        self.session,
                        sink,
                        alert,
                        timeout=sink.timeout or cfg.delivery.timeout,
                        user_agent=self.user_agent,
                        now=self.clock.now().timestamp(),
                    )
                ok = await self._record(cfg, alert, result)
                done += ok
                failed += 1 - ok
            except Exception as exc:  # the lease retries it; log and go on with the others
                self.log.error(
                    "alert.delivery_loop_failed",
                    alert_id=alert.id,
                    sink=sink_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                failed += 1
        return done, failed

    async def _record(self, cfg: Config, alert: PendingAlert, r: SendResult) -> int:
        outcome = await self._outcome(cfg, alert, r)
        self.observe(outcome, r.latency if r.status is not None else None)
        return 1 if outcome == "delivered" else 0

    async def _outcome(self, cfg: Config, alert: PendingAlert, r: SendResult) -> str:
        now = self.clock.now().timestamp()
        attempt = alert.attempts + 1
        fields = {
            "alert_id": alert.id,
            "topic": alert.topic_id,
            "sink": alert.sink_id,
            "attempt": attempt,
            "status": r.status,
            "latency_ms": round(r.latency * 1000, 1),
        }
        if r.ok:
            await self.store.record_attempt(
                alert.id,
                at=now,
                status=r.status,
                latency=r.latency,
                error=None,
                state="delivered",
                next_attempt_at=None,
            )
            self.delivered += 1
            self.log.info("alert.delivered", **fields)
            return "delivered"
        self.failed += 1
        why = r.error
        dead = not r.retryable
        if r.retryable and attempt >= cfg.delivery.max_attempts:
            dead, why = True, f"{r.error} (gave up after {attempt} attempts)"
        elif r.retryable and cfg.delivery.max_age is not None:
            since = await self.store.alert_since(alert.id)
            if since is not None and now - since >= cfg.delivery.max_age:
                dead = True
                why = f"{r.error} (gave up after {attempt} attempts over {now - since:.0f}s)"
        if dead:
            await self.store.record_attempt(
                alert.id,
                at=now,
                status=r.status,
                latency=r.latency,
                error=why,
                state="dead",
                next_attempt_at=None,
            )
            self.log.error("alert.dead", error=why, **fields)
            return "dead"
        delay = retry_delay(
            attempt, cfg.delivery.backoff_base, cfg.delivery.backoff_max, r.retry_after
        )
        await self.store.record_attempt(
            alert.id,
            at=now,
            status=r.status,
            latency=r.latency,
            error=r.error,
            state="pending",
            next_attempt_at=now + delay,
        )
        self.log.warning(
            "alert.retry_scheduled", error=r.error, retry_in_s=round(delay, 1), **fields
        )
        return "retry"
