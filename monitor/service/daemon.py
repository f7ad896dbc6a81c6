"""Lifecycle: every resource and every loop owned by one AsyncExitStack; signals, systemd.

start: store (migrated, feeds synced) -> HTTP session -> service -> status server ->
delivery, WebSub, full-text loops -> scheduler; READY=1 once the store is open and the server
listens. SIGTERM/SIGINT set a flag; shutdown stops the scheduler, lets in-flight polls finish
for `polling.shutdown_timeout` seconds, cancels the rest (logged), then closes everything in
reverse order. SIGHUP reloads the configuration atomically: a configuration that does not
validate is logged and the running one stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp

from monitor import USER_AGENT, logs
from monitor.clock import Clock, SystemClock
from monitor.config import Config, ConfigError
from monitor.detect.detection import Detection
from monitor.metrics import probe_loop_lag
from monitor.poll.enrich import Enricher
from monitor.poll.pipeline import FetchLimitsOf, Poller
from monitor.reader.netguard import GuardedResolver, guarded_connector, resolver_of
from monitor.reader.parsestage import ParseStage
from monitor.reader.politeness import HostLimiter
from monitor.service import scheduler as scheduler_mod
from monitor.service.core import Service
from monitor.service.retention import prune as prune_store
from monitor.service.systemd import Notifier
from monitor.store import StoreError, open_store
from monitor.topics.compiled import Settings
from monitor.topics.compiled import load as load_settings
from monitor.web import status


def http_session(config: Config) -> aiohttp.ClientSession:
    """The one HTTP session of the daemon (feeds and sinks share its connection pool)."""
    # Per-host politeness is the HostLimiter's job (per host name, with gaps); the pool only
    # bounds the total, with room for alert deliveries beside the polls.
    # Its resolver holds the DNS cache (300 s) and, for requests under
    # polling.allow_private_addresses = false, checks every address a name resolves to.
    connector = guarded_connector(
        GuardedResolver(ttl=300), limit=config.polling.concurrency + 20, limit_per_host=0
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=True,
        timeout=aiohttp.ClientTimeout(total=config.polling.timeout),
    )


@contextlib.asynccontextmanager
async def open_service(config: Config | Settings, clock: Clock, log: Any):  # type: ignore[no-untyped-def]
    """Store and HTTP session opened, feeds synced; yields the Service. Shared by `run` and
    `poll-once`. A bare Config has its topics compiled first."""
    settings = config if isinstance(config, Settings) else await compile_settings(config)
    config = settings.config
    async with AsyncExitStack() as stack:
        store = await open_store(config.storage)  # sqlite:/// or postgresql://, migrated
        stack.push_async_callback(store.close)
        session = http_session(config)
        resolver = resolver_of(session)
        if resolver is not None:  # the connector does not own it: closed after the session
            stack.push_async_callback(resolver.close)
        stack.push_async_callback(session.close)
        hosts = HostLimiter(config.polling.host_concurrency, config.polling.host_gap)
        parser = ParseStage()
        stack.callback(parser.close)
        poller = Poller(
            store=store,
            session=session,
            clock=clock,
            log=log,
            hosts=hosts,
            parser=parser,
            detection=Detection(store, clock, log, settings),
            enricher=Enricher(store, session, clock, log, hosts, USER_AGENT),
            limits=FetchLimitsOf(USER_AGENT),
        )
        service = Service(settings, poller)
        stack.push_async_callback(service.drain, 0.0)  # polls a failure left in flight
        await service.sync_feeds()
        yield service


async def run(
    config: Config | Settings,
    log: Any,
    clock: Clock | None = None,
    notifier: Notifier | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Any = None,
) -> int:
    """Run until SIGTERM/SIGINT (or until `stop` is set by an embedding caller)."""
    settings = config if isinstance(config, Settings) else await compile_settings(config)
    daemon = Daemon(settings, log, clock or SystemClock(), notifier or Notifier(), stop)
    return await daemon.serve(on_ready)


class Daemon:
    """The daemon's lifecycle, as uvicorn's `Server`: `serve` builds everything in one
    place (`open_service`), starts the status server and the background loops, waits for a
    signal, then shuts down. Every loop is owned by the exit stack, so a failure at any
    point, the start included, stops them in order before the store and the HTTP session
    close."""

    def __init__(
        self,
        settings: Settings,
        log: Any,
        clock: Clock,
        notifier: Notifier,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.config  # as started: the shutdown's timeouts
        self.log = log
        self.clock = clock
        self.notifier = notifier
        self.stop = stop or asyncio.Event()
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self.scheduler: Any = None
        self.reloads: set[asyncio.Task[None]] = set()

    async def serve(self, on_ready: Any = None) -> int:
        log = self.log
        try:
            async with AsyncExitStack() as stack:
                service = await stack.enter_async_context(
                    open_service(self.settings, self.clock, log)
                )
                await self._listen(stack, service)
                loop = asyncio.get_running_loop()
                stack.callback(_remove_handlers, loop)
                stack.push_async_callback(self.shutdown, service)
                self.startup(service)
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.add_signal_handler(sig, self.stop.set)
                loop.add_signal_handler(signal.SIGHUP, self._on_hup, service)
                await self.main_loop(service, on_ready)
        except StoreError as exc:
            log.error("daemon.store_failed", error=str(exc))
            return 1
        log.info("daemon.stopped")
        return 0

    async def _listen(self, stack: AsyncExitStack, service: Service) -> None:
        """The status server (/status, /metrics, the dashboard), when configured."""
        server = self.config.server
        if not server.enabled:
            return
        runner, port = await status.start(service, server.host, server.port)
        stack.push_async_callback(runner.cleanup)
        service.listen = (server.host, port)
        url = f"http://{server.host}:{port}/status"
        self.log.info("status.listening", host=server.host, port=port, url=url)

    def _spawn(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        self.tasks[name] = asyncio.create_task(work, name=name)

    def startup(self, service: Service) -> None:
        """The background loops: deliveries, WebSub, the loop-lag probe, full text, and the
        scheduler's jobs; then the detection of what a stop left waiting."""
        config, log, stop = self.config, self.log, self.stop
        self._spawn("delivery", service.deliverer.run(stop))
        self._spawn("websub", service.websub.run(stop))
        self._spawn("lag", probe_loop_lag(service.metrics, stop))

        async def tick() -> None:
            try:
                await service.tick()
            except Exception as exc:
                log.error("scheduler.tick_failed", error=f"{type(exc).__name__}: {exc}")

        async def beat() -> None:
            await heartbeat(service, self.notifier)

        async def prune() -> None:
            await retention(service, log)

        async def detect() -> None:  # stories a failed detection left waiting
            if (await service.poller.detection.process()).alerts:
                service.deliverer.kick()

        async def checkpoint() -> None:
            try:
                await service.store.checkpoint()
            except Exception as exc:
                log.warning("store.checkpoint_failed", error=f"{type(exc).__name__}: {exc}")

        # pages of new stories of full_text feeds; the stories whose text came are detected
        # at once
        self._spawn("fulltext", service.poller.enricher.run(stop, service.settings, detect))
        self.scheduler = scheduler_mod.build(
            tick,
            config.polling.tick,
            [
                ("heartbeat", beat, _heartbeat_seconds()),
                ("retention", prune, config.retention.every),
                ("checkpoint", checkpoint, 300.0),
                ("detection", detect, 30.0),
            ],
        )
        self.scheduler.start()
        # what a stop left waiting for detection (and the trackers' state): after READY,
        # beside the polls, so a backlog never delays the start
        self._spawn("detection-backlog", detect())

    def _on_hup(self, service: Service) -> None:
        task = asyncio.create_task(_reload(service, self.log, self.notifier))
        self.reloads.add(task)
        task.add_done_callback(self.reloads.discard)

    async def main_loop(self, service: Service, on_ready: Any) -> None:
        config = self.config
        self.log.info(
            "daemon.started",
            feeds=len(config.feeds),
            topics=len(config.topics),
            sinks=len(config.sinks),
            store=config.storage.display,
            instance=service.store.instance_id,
        )
        self.notifier.notify("READY=1", f"STATUS={await service.one_line()}")
        if on_ready is not None:
            on_ready(service)
        await self.stop.wait()
        self.log.info("daemon.stopping", polls_in_flight=len(service.in_flight))
        self.notifier.notify("STOPPING=1")

    async def shutdown(self, service: Service) -> None:
        """Stop in order whatever started: the scheduler, the polls in flight (given
        `polling.shutdown_timeout`), deliveries and WebSub (each given its timeout), then
        the rest."""
        config, tasks = self.config, self.tasks
        self.stop.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        cancelled = await service.drain(config.polling.shutdown_timeout)
        if cancelled:
            self.log.warning("daemon.polls_cancelled", feed_urls=cancelled)
        if (delivery := tasks.get("delivery")) is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(delivery, timeout=config.delivery.timeout + 1)
            if not delivery.done():
                delivery.cancel()
        if (websub := tasks.get("websub")) is not None:
            with contextlib.suppress(asyncio.TimeoutError):  # cancelled after the timeout
                await asyncio.wait_for(websub, timeout=config.polling.timeout + 1)
        if (lag := tasks.get("lag")) is not None:
            await lag
        rest = [t for name, t in tasks.items() if name not in ("delivery", "websub", "lag")]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        for task in list(self.reloads):
            task.cancel()


async def heartbeat(service: Service, notifier: Notifier) -> bool:
    """WATCHDOG=1 (with a STATUS= summary) only while healthy: the scheduler ticks and the
    store answers. A wedged loop sends nothing, so systemd's watchdog fires."""
    if not await service.ready():
        return False
    return notifier.notify("WATCHDOG=1", f"STATUS={await service.one_line()}")


async def retention(service: Service, log: Any) -> dict[str, int] | None:
    """Prune what is older than the retention ages (in small batches), then checkpoint."""
    try:
        counts = await prune_store(
            service.store, service.clock.now().timestamp(), service.config.retention
        )
        if any(counts.values()):
            await service.store.checkpoint("TRUNCATE")
            log.info("store.pruned", **counts)
        return counts
    except Exception as exc:
        log.error("store.prune_failed", error=f"{type(exc).__name__}: {exc}")
        return None


def _remove_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.remove_signal_handler(sig)


def _heartbeat_seconds() -> float:
    """Half the systemd watchdog period when one is set, else every 10 seconds."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    return max(0.1, int(usec) / 2e6) if usec.isdigit() and int(usec) > 0 else 10.0


async def read_config(path: Path) -> Settings:
    """The configuration loaded and its topics compiled in a worker thread: compiling many
    topics' queries and seed profiles must not stall polls, deliveries and /status (SIGHUP
    while running)."""
    return await asyncio.to_thread(load_settings, path)


async def compile_settings(config: Config) -> Settings:
    """`config`'s topics compiled in a worker thread (see read_config)."""
    return await asyncio.to_thread(Settings.of, config)


async def _reload(service: Service, log: Any, notifier: Notifier) -> None:
    notifier.notify("RELOADING=1")
    try:
        new = await read_config(service.config.source)
    except ConfigError as exc:
        service.last_reload_error = str(exc)
        log.error(
            "config.reload_rejected",
            config=str(service.config.source),
            problems=[str(p) for p in exc.problems],
        )
    else:
        fresh = new.config
        if fresh.storage.url != service.config.storage.url or fresh.server != service.config.server:
            log.warning(
                "config.reload_partial",
                error="storage and server changes take effect at the next restart",
            )
        await service.apply(new)
        service.last_reload_error = None
        log.info(
            "config.reloaded", feeds=len(fresh.feeds), topics=len(fresh.topics),
            sinks=len(fresh.sinks), log_level=fresh.log_level,
        )  # fmt: skip
        logs.set_level(fresh.log_level)
    notifier.notify("READY=1", f"STATUS={await service.one_line()}")
