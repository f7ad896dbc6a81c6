"""The delivery loop: claim due rows of the alert outbox and send them to their sinks.

An alert row was written in the same transaction as its story, so it exists exactly once
and keeps its id across retries (the webhook-id). Failures are retried with exponential
backoff and jitter, honouring Retry-After; a 4xx other than 408/429 is permanent and the
alert goes to the dead letters, as does one that used up its attempts.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import aiohttp

from monitor.alerts.webhook import SendResult, send_webhook
from monitor.clock import Clock
from monitor.config import Config
from monitor.models import PendingAlert
from monitor.store import Store


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


class Deliverer:
    def __init__(
        self,
        store: Store,
        session: aiohttp.ClientSession,
        clock: Clock,
        config: Callable[[], Config],
        log: Any,
        user_agent: str,
    ) -> None:
        self.store = store
        self.session = session
        self.clock = clock
        self.config = config
        self.log = log
        self.user_agent = user_agent
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.delivered = 0
        self.failed = 0

    def kick(self) -> None:
        """New alerts were committed: deliver now rather than at the next beat."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, beat: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.deliver_due()
            except Exception as exc:  # the loop must outlive any one failure
                self.log.error("alert.delivery_loop_failed", error=f"{type(exc).__name__}: {exc}")
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait(
                    {waiter, stopper}, timeout=beat, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                waiter.cancel()
                stopper.cancel()

    async def deliver_due(self) -> int:
        """Send every due alert once; returns how many were delivered. Each sink's alerts go
        in order, sinks in parallel, so a slow or failing sink delays only itself."""
        async with self._lock:
            cfg = self.config()
            lease = cfg.delivery.timeout * 3 + 30
            now = self.clock.now().timestamp()
            alerts = await self.store.claim_due_alerts(now, cfg.delivery.batch, lease)
            if not alerts:
                return 0
            by_sink: dict[str, list[PendingAlert]] = defaultdict(list)
            for a in alerts:
                by_sink[a.sink_id].append(a)
            results = await asyncio.gather(
                *(self._send_all(cfg, sink, batch) for sink, batch in by_sink.items())
            )
            return sum(results)

    async def _send_all(self, cfg: Config, sink_id: str, alerts: list[PendingAlert]) -> int:
        sink = next((s for s in cfg.sinks if s.id == sink_id), None)
        done = 0
        for alert in alerts:
            if sink is None:
                result = SendResult(
                    ok=False,
                    status=None,
                    latency=0.0,
                    retryable=False,
                    error=f"sink {sink_id!r} is no longer configured",
                )
            else:
                result = await send_webhook(
                    self.session,
                    sink.url,
                    alert,
                    secret=sink.secret,
                    timeout=sink.timeout or cfg.delivery.timeout,
                    user_agent=self.user_agent,
                    now=self.clock.now().timestamp(),
                )
            done += await self._record(cfg, alert, result)
        return done

    async def _record(self, cfg: Config, alert: PendingAlert, r: SendResult) -> int:
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
            return 1
        self.failed += 1
        if not r.retryable or attempt >= cfg.delivery.max_attempts:
            why = r.error if not r.retryable else f"{r.error} (gave up after {attempt} attempts)"
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
            return 0
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
        return 0
