"""Where the 304 poll path's time goes: `python -m bench.polling_parts [--feeds N]`.

Not part of `make bench` (it takes the daemon apart): the polls_304 run of bench_polling,
repeated with one part of the poll path at a time replaced by nothing, then all of them,
each beside the bare aiohttp GET loop in the same run. What each line removes is what the
poll path needs (the issue asks for every one of them), so the last line, everything
removed, is the most the path can reach against that loop on this machine. Medians of interleaved
rounds; beside the rates, the event loop thread's CPU time a poll (the loop is the limit:
it runs near 100% in both; CPU time is less disturbed by the machine's other load).

- no_store: the poll's record in the store (due time, validators, interval, counters)
- no_metrics: the Prometheus counters and histogram of the poll
- no_host_limits: the per-host concurrency and gap (politeness)
- no_global_limit: the global concurrency limit
- bare_fetch: fetch reduced to one GET with the entity tag (no redirects hop by hop, no
  User-Agent/Accept/If-Modified-Since, no freshness headers read)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_polling import _bare_loop, polling_setup
from bench.figures import Figure
from monitor.poll import pipeline
from monitor.reader.fetch import FetchResult


class _Nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def _bare_fetch(session: Any, url: str, limits: Any, **kw: Any) -> FetchResult:
    async with session.get(url, headers={"If-None-Match": kw.get("etag") or ""}) as r:
        await r.read()
        return FetchResult(
            url, r.status, etag=kw.get("etag"), last_modified=kw.get("last_modified")
        )


async def _nothing(*args: Any, **kw: Any) -> None:
    return None


def _variants(service: Any) -> dict[str, Callable[[], None]]:
    """Each variant as a function that sets it up on `service` (after a reset)."""
    store, metrics, hosts = service.store, service.metrics, service.poller.hosts

    def no_store() -> None:
        store.record_poll = _nothing

    def no_metrics() -> None:
        metrics.observe_poll = lambda outcome: None

    def no_host_limits() -> None:
        hosts.slot = lambda url: _Nothing()

    def no_global_limit() -> None:
        service._slots = _Nothing()

    def bare_fetch() -> None:
        pipeline.fetch = _bare_fetch  # type: ignore[assignment]

    parts = [no_store, no_metrics, no_host_limits, no_global_limit, bare_fetch]
    out: dict[str, Callable[[], None]] = {"ours": lambda: None}
    out.update((f.__name__, f) for f in parts)
    out["all_removed"] = lambda: [f() for f in parts] and None
    return out


async def _run(n: int, rounds: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-parts-") as tmp:
        async with polling_setup(Path(tmp), n) as (service, session, _, urls, etags):
            saved = (service.store.record_poll, service.metrics.observe_poll,
                     service.poller.hosts.slot, service._slots, pipeline.fetch)  # fmt: skip

            def reset() -> None:
                (service.store.record_poll, service.metrics.observe_poll,
                 service.poller.hosts.slot, service._slots, pipeline.fetch) = saved  # fmt: skip

            variants = _variants(service)
            wall: dict[str, list[float]] = {name: [] for name in [*variants, "bare"]}  # s a poll
            cpu: dict[str, list[float]] = {name: [] for name in wall}  # the loop thread's CPU
            for _ in range(rounds):  # interleaved
                for name, setup in variants.items():
                    reset()
                    setup()
                    t0, c0 = time.perf_counter(), time.thread_time()
                    await service.poll_all()
                    wall[name].append((time.perf_counter() - t0) / n)
                    cpu[name].append((time.thread_time() - c0) / n)
                reset()
                t0, c0 = time.perf_counter(), time.thread_time()
                await _bare_loop(urls, etags, session)
                wall["bare"].append((time.perf_counter() - t0) / n)
                cpu["bare"].append((time.thread_time() - c0) / n)
    med = {name: sorted(v)[len(v) // 2] for name, v in wall.items()}
    med_cpu = {name: sorted(v)[len(v) // 2] for name, v in cpu.items()}
    bare, bare_cpu = 1 / med.pop("bare"), med_cpu.pop("bare") * 1e6
    return [
        Figure(
            name,
            1 / t,
            "polls/s",
            bare,
            "bare aiohttp GET",
            note=f"loop thread CPU {med_cpu[name] * 1e6:.1f} us a poll, bare {bare_cpu:.1f}",
        )
        for name, t in med.items()
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.polling_parts")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)
    for figure in asyncio.run(_run(args.feeds, args.rounds)):
        print(figure.line())


if __name__ == "__main__":
    main()
