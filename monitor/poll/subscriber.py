"""The WebSub subscriber: the lifecycle of each feed's subscription, and pushed content.

The design in full: docs/modules.md, `monitor/poll/subscriber.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from monitor.clock import nap
from monitor.metrics import Metrics
from monitor.models import FeedRow, Subscription
from monitor.poll.pipeline import Poller, PollOutcome, error_backoff
from monitor.poll.websub import (
    UNSUBSCRIBE_ATTEMPTS,
    VERIFY_WAIT,
    answer_verification,
    new_secret,
    request_form,
    signature_problem,
    web_url,
)
from monitor.reader.fetch import Blocked, FetchResult, check_target
from monitor.reader.netguard import guarding
from monitor.reader.rawfeed import ParsedFeed
from monitor.topics.compiled import Settings

BATCH = 50  # subscriptions acted on per turn of the loop at most
ACK = 204  # the answer to every delivery taken, forged ones included (spec 8.1: MAY 2xx)

BodyReader = Callable[[int], Awaitable[bytes | None]]  # at most n bytes, None when longer


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Subscriber:
    def __init__(
        self,
        poller: Poller,
        settings: Settings,
        metrics: Metrics,
        on_alerts: Callable[[], None],
    ) -> None:
        self.poller = poller
        self.store = poller.store
        self.clock = poller.clock
        self.log = poller.log
        self.settings = settings  # the configuration in force
        self.metrics = metrics
        self.on_alerts = on_alerts  # new alert rows were written: deliver them now
        self._wake = asyncio.Event()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    @staticmethod
    def _keys(sub: Subscription) -> dict[str, Any]:
        """The stable keys of a subscription's log lines."""
        return {
            "feed_id": sub.feed_id,
            "feed_url": sub.feed_url,
            "hub": sub.hub,
            "topic": sub.topic,
        }

    # -- what polls find, what the configuration says ------------------------------------

    async def discovered(self, feed: FeedRow, parsed: ParsedFeed) -> None:
        """A poll read the feed's document: subscribe when it advertises a hub (and a self
        URL, the topic), unsubscribe when it no longer does."""
        cfg = self.settings.config
        if not cfg.websub.enabled:
            return
        hub, topic = web_url(parsed.hub), web_url(parsed.self_url)
        try:
            sub = await self.store.subscription(feed.id)
            now = self._now()
            if hub and topic:
                wanted = (hub, topic, True)
                if sub is not None and (sub.hub, sub.topic, sub.state != "unsubscribing") == wanted:
                    return  # subscribed already (renewals are the loop's)
                secret = sub.secret if sub is not None else new_secret()
                callback = cfg.websub.callback(feed.id)
                await self.store.subscribe(feed.id, hub, topic, callback, secret, now)
                self.log.info(
                    "websub.discovered", feed_id=feed.id, feed_url=feed.url, hub=hub, topic=topic
                )
                self.kick()
            elif sub is not None and sub.state != "unsubscribing":
                await self._unsubscribe(sub, "the feed no longer advertises a hub", now)
        except Exception as exc:  # a subscription never fails a poll
            self.log.error(
                "websub.discovery_failed", feed_id=feed.id, feed_url=feed.url, error=_error(exc)
            )

    async def sync(self) -> None:
        """After the feeds follow the configuration (start, reload): unsubscribe those no
        longer followed (or every one, when WebSub is turned off); a changed callback URL
        makes the others subscribe again with it."""
        cfg = self.settings.config
        try:
            now = self._now()
            for sub in await self.store.subscriptions():
                if sub.state == "unsubscribing":
                    continue
                if not cfg.websub.enabled:
                    await self._unsubscribe(sub, "websub.callback_url is not set", now)
                elif not sub.feed_live:
                    await self._unsubscribe(sub, "the feed is not followed any more", now)
                elif sub.callback != cfg.websub.callback(sub.feed_id):
                    changes = {"callback": cfg.websub.callback(sub.feed_id), "next_action_at": now}
                    await self.store.update_subscription(sub.feed_id, changes, now)
                    self.kick()
        except Exception as exc:
            self.log.error("websub.sync_failed", error=_error(exc))

    async def _unsubscribe(self, sub: Subscription, reason: str, now: float) -> None:
        if sub.verified_at is None and sub.requested_at is None:  # no hub ever confirmed it
            await self.store.delete_subscription(sub.feed_id)
            self.log.info("websub.unsubscribed", **self._keys(sub), reason=reason)
            return
        changes = {
            "state": "unsubscribing",
            "requested_at": None,
            "attempts": 0,
            "last_error": None,
            "next_action_at": now,
        }
        await self.store.update_subscription(sub.feed_id, changes, now)
        self.log.info("websub.unsubscribing", **self._keys(sub), reason=reason)
        self.kick()

    # -- requests to the hubs ------------------------------------------------------------

    def kick(self) -> None:
        """Something is due now: act at once rather than at the next beat."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, beat: float = 1.0) -> None:
        while not stop.is_set():
            self._wake.clear()  # before the claim: a kick during it is not lost
            try:
                await self.run_due()
            except Exception as exc:  # the loop outlives any one failure
                self.log.error("websub.loop_failed", error=_error(exc))
            await nap(self._wake, stop, beat)

    async def run_due(self) -> int:
        """Send every due (un)subscription request once; returns how many were due."""
        now = self._now()
        due = await self.store.claim_due_subscriptions(now, BATCH, VERIFY_WAIT)
        await asyncio.gather(*(self._act(sub, now) for sub in due))
        return len(due)

    async def _act(self, sub: Subscription, now: float) -> None:
        mode = "unsubscribe" if sub.state == "unsubscribing" else "subscribe"
        attempts, error = sub.attempts, sub.last_error
        try:
            if sub.requested_at is not None:  # the hub took the request and never verified it
                attempts += 1
                error = (
                    f"the hub did not verify the {mode} request within {VERIFY_WAIT:g}s "
                    "(can it reach websub.callback_url?)"
                )
            if mode == "unsubscribe" and attempts >= UNSUBSCRIBE_ATTEMPTS:
                await self.store.delete_subscription(sub.feed_id)
                self.log.warning("websub.unsubscribe_abandoned", **self._keys(sub), error=error)
                return
            # how long the verification may take; longer after failures (a day at most)
            wait = max(VERIFY_WAIT, error_backoff(60.0, attempts, 86400.0) if attempts else 0)
            changes = {
                "requested_at": now,
                "next_action_at": now + wait,
                "attempts": attempts,
                "last_error": error,
            }
            await self.store.update_subscription(sub.feed_id, changes, now)
            status, problem = await self._post(sub, mode)
            self.metrics.websub_requests.labels(mode, "failed" if problem else "accepted").inc()
            if problem is None:
                self.log.info("websub.requested", **self._keys(sub), mode=mode, status=status)
                return
            attempts += 1
            delay = error_backoff(60.0, attempts, 86400.0)
            keep = sub.state == "unsubscribing" or (
                sub.state == "active" and (sub.lease_until or 0) > now
            )
            failed = {
                "requested_at": None,
                "attempts": attempts,
                "last_error": problem,
                "next_action_at": now + delay,
                "state": sub.state if keep else "failed",
            }
            await self.store.update_subscription(sub.feed_id, failed, now)
            self.log.warning(
                "websub.request_failed", **self._keys(sub), mode=mode, status=status,
                error=problem, attempts=attempts, retry_in_s=round(delay, 1),
            )  # fmt: skip
        except Exception as exc:  # a store failure: the claim's lease brings it back
            self.log.error("websub.request_failed", **self._keys(sub), mode=mode, error=_error(exc))

    async def _post(self, sub: Subscription, mode: str) -> tuple[int | None, str | None]:
        """POST the request to the hub; (status, None) when it took it, else what went
        wrong. With `polling.allow_private_addresses = false` a hub on a non-public address
        is refused, as a feed would be."""
        cfg = self.settings.config
        limits = self.poller.limits(cfg)
        form = request_form(mode, sub.topic, sub.callback, cfg.websub.lease, sub.secret)
        headers = {"User-Agent": limits.user_agent}
        try:
            guard = False
            if not limits.allow_private:
                guard = await asyncio.wait_for(
                    check_target(self.poller.session, sub.hub, cfg.polling.proxy), limits.timeout
                )
            with guarding(guard):  # the connector's resolver checks every address of the hub
                resp = await self.poller.session.post(
                    sub.hub,
                    data=form,
                    headers=headers,
                    allow_redirects=False,
                    proxy=cfg.polling.proxy,
                    timeout=aiohttp.ClientTimeout(
                        total=limits.timeout, sock_connect=limits.connect_timeout
                    ),
                )
            async with resp:
                if 200 <= resp.status < 300:
                    return resp.status, None
                detail = (await resp.content.read(300)).decode("utf-8", "replace").strip()
                return resp.status, f"HTTP {resp.status}" + (f": {detail}" if detail else "")
        except Blocked as exc:
            return None, str(exc)
        except TimeoutError:
            return None, f"no answer from the hub within {limits.timeout:g}s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return None, _error(exc)

    # -- the callback: the hub's requests ------------------------------------------------

    async def callback(
        self,
        feed_id: int,
        method: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        read_body: BodyReader,
    ) -> tuple[int, str]:
        """Answer a hub's request to the callback of the feed's subscription: GET, a
        verification of intent; POST, a content delivery. Returns (HTTP status, body)."""
        try:
            sub = await self.store.subscription(feed_id)
            if method == "GET":
                return await self._verify(feed_id, sub, query)
            if sub is None:
                return 404, "no subscription here"
            body = await read_body(self.settings.config.polling.max_bytes)
            if body is None:
                return 413, "the body exceeds polling.max_bytes"
            return await self._deliver(sub, body, headers), ""
        except Exception as exc:  # the store failed: the hub will try again
            if method == "POST":
                self.metrics.websub_deliveries.labels("failed").inc()
            self.log.error(
                "websub.callback_failed", feed_id=feed_id, method=method, error=_error(exc)
            )
            return 503, "try again later"

    async def _verify(
        self, feed_id: int, sub: Subscription | None, query: Mapping[str, str]
    ) -> tuple[int, str]:
        now = self._now()
        answer = answer_verification(sub, query, now, self.settings.config.websub.lease)
        if sub is None or answer.event == "websub.verification_refused":
            self.log.warning(
                answer.event, feed_id=feed_id, mode=query.get("hub.mode"),
                topic=query.get("hub.topic"), error=answer.text,
            )  # fmt: skip
            return answer.status, answer.text
        if answer.delete:
            await self.store.delete_subscription(feed_id)
        elif answer.changes:
            await self.store.update_subscription(feed_id, answer.changes, now)
        changes = answer.changes or {}
        level = "warning" if answer.event == "websub.denied" else "info"
        getattr(self.log, level)(
            answer.event, **self._keys(sub),
            **{k: changes[k] for k in ("lease_seconds", "last_error") if changes.get(k)},
        )  # fmt: skip
        return answer.status, answer.text

    async def _deliver(self, sub: Subscription, body: bytes, headers: Mapping[str, str]) -> int:
        now = self._now()
        problem = signature_problem(sub.secret, headers.get("X-Hub-Signature"), body)
        if problem is not None:  # MUST be ignored; answered alike so a forger learns nothing
            await self.store.count_push(sub.feed_id, True, now)
            self.metrics.websub_deliveries.labels("forged").inc()
            self.log.warning(
                "websub.push_forged", **self._keys(sub), error=problem, bytes=len(body)
            )
            return ACK
        feed = await self.store.feed_row(sub.feed_id)
        if feed is None or not sub.feed_live or sub.state == "unsubscribing":
            self.metrics.websub_deliveries.labels("ignored").inc()
            self.log.info(
                "websub.push_ignored", **self._keys(sub), reason="the feed is not followed"
            )
            return ACK
        outcome = await self._ingest(feed, body, headers.get("Content-Type"), now)
        await self.store.count_push(sub.feed_id, False, now)
        self.metrics.observe_push(outcome)
        if outcome.ingest.alerts:
            self.on_alerts()
        return ACK

    async def _ingest(
        self, feed: FeedRow, body: bytes, content_type: str | None, now: float
    ) -> PollOutcome:
        """The pushed body, read as a polled one: the feed's validators are kept (they
        describe the document polled, not this one); its log lines say via=push."""
        res = FetchResult(
            url=feed.url, status=200, body=body, content_type=content_type,
            etag=feed.etag, last_modified=feed.last_modified,
        )  # fmt: skip
        poller = self.poller.via(self.poller.log.bind(via="push"))
        elapsed = now - (feed.last_success_at or now)
        return await poller.ingest(self.settings.config, feed, res, now, elapsed=elapsed)
