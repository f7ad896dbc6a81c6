"""Alert latency: from a story stored (its transaction committed) to its webhook received,
on loopback, through the daemon's own path (commit -> kick -> claim -> sign -> POST).

Figures (milliseconds, over one new matching story per round):
- alert_latency_median, alert_latency_p99: ours, beside a bare aiohttp POST of the same
  signed body to the same receiver (the floor: what the network path alone costs); the
  ratio to the floor is printed with each.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.figures import Figure, size
from monitor import logs
from monitor.clock import SystemClock
from monitor.config import load
from monitor.service.daemon import open_service

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _feed(n: int) -> bytes:
    item = (
        f"<item><guid>s{n}</guid><title>Kyiv talks on troops, round {n}</title>"
        f"<link>http://news.example/s{n}</link>"
        f"<description>Envoys discuss security guarantees for Ukraine ({n}).</description></item>"
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>b</title>'
        f"<link>http://news.example/</link><description>b</description>{item}</channel></rss>"
    ).encode()


class Edge:
    """The feed (one new story per round) and the webhook receiver, on one aiohttp server."""

    def __init__(self) -> None:
        self.round = 0
        self.arrived: asyncio.Queue[float] = asyncio.Queue()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def feed(self, _request: web.Request) -> web.Response:
        return web.Response(body=_feed(self.round), content_type="application/rss+xml")

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrived.put_nowait(time.perf_counter())
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/feed.xml", self.feed)
        app.router.add_post("/hook", self.hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]


def _config(folder: Path, port: int) -> Path:
    path = folder / "bench.toml"
    path.write_text(
        '[storage]\nurl = "sqlite:///bench.db"\n[server]\nenabled = false\n'
        '[polling]\ninterval = "1h"\nhost_gap = 0\n'
        '[[topics]]\nid = "t"\nquery = \'(Ukraine OR Kyiv) AND troops\'\nsinks = ["ops"]\n'
        'alert_on = "stories"\n'  # one alert per round's story (they are look-alikes)
        f'[[sinks]]\nid = "ops"\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\n'
        f'secret = "{SECRET}"\n'
        f'[[feeds]]\nurl = "http://127.0.0.1:{port}/feed.xml"\n'
    )
    return path


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(folder: Path, rounds: int) -> tuple[list[float], list[float]]:
    edge = Edge()
    await edge.start()
    logs.configure("warning", stream=io.StringIO(), json=True)
    ours: list[float] = []
    floor: list[float] = []
    try:
        cfg = load(_config(folder, edge.port))
        async with open_service(cfg, SystemClock(), logs.get("bench")) as service:
            stored: list[float] = []
            ingest = service.store.ingest

            async def timed_ingest(*args: Any, **kw: Any) -> Any:
                result = await ingest(*args, **kw)
                stored.append(time.perf_counter())  # the story's transaction has committed
                return result

            service.store.ingest = timed_ingest  # type: ignore[method-assign]
            stop = asyncio.Event()
            loop = asyncio.create_task(service.deliverer.run(stop))
            try:
                for n in range(rounds + 5):
                    edge.round = n
                    [outcome] = await service.poll_all()
                    assert outcome.ingest.alerts == 1, outcome
                    arrived = await asyncio.wait_for(edge.arrived.get(), timeout=10)
                    if n >= 5:  # warm-up rounds are not counted
                        ours.append((arrived - stored[-1]) * 1000)
            finally:
                stop.set()
                await loop
            # the floor: the same receiver, the same signed body, a bare POST
            body = b'{"type":"story.matched","data":{}}' * 20
            async with aiohttp.ClientSession() as session:
                for n in range(rounds + 5):
                    t0 = time.perf_counter()
                    async with session.post(
                        f"http://127.0.0.1:{edge.port}/hook",
                        data=body,
                        headers={"webhook-id": f"msg_{n}", "Content-Type": "application/json"},
                    ) as r:
                        await r.read()
                    arrived = await edge.arrived.get()
                    if n >= 5:
                        floor.append((arrived - t0) * 1000)
    finally:
        if edge.runner:
            await edge.runner.cleanup()
    return ours, floor


def run(quick: bool = False) -> list[Figure]:
    rounds = size(300, 50, quick, 5)
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        ours, floor = asyncio.run(_measure(Path(tmp), rounds))
    note = f"{rounds} alerts, story stored -> webhook received, loopback"
    return [
        Figure(
            "alert_latency_median",
            statistics.median(ours),
            "ms",
            baseline=statistics.median(floor),
            baseline_name="bare POST",
            note=note,
        ),
        Figure(
            "alert_latency_p99",
            _p(ours, 0.99),
            "ms",
            baseline=_p(floor, 0.99),
            baseline_name="bare POST",
            note=note,
        ),
    ]
