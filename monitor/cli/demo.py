"""`monitor demo`: the whole path on bundled sample feeds, with no internet.

A local aiohttp server serves the sample feeds in `monitor/demo/feeds/` (with ETag and
Last-Modified, answering conditional requests with 304), a local receiver takes the webhooks,
and the real daemon runs against both with a throw-away store. When every feed has been polled
and every alert delivered, the demo prints what the receiver got and stops the daemon.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import shutil
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor import logs
from monitor.config import load

if TYPE_CHECKING:
    from monitor.service.core import Service

DEMO_QUERY = (
    '(Ukraine OR Ukrainian OR Kyiv) AND ("security guarantee*" OR peacekeep* OR '
    '"coalition of the willing" OR "no-fly zone" OR "air defence" OR "air defense" '
    "OR troops)"
)


def sample_feeds() -> dict[str, bytes]:
    folder = resources.files("monitor") / "demo" / "feeds"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.endswith(".xml")}


def feed_app(files: dict[str, bytes]) -> web.Application:
    """Serve `files` at /NAME with validators, answering conditional GETs with 304."""
    stamp = email.utils.formatdate(time.time() - 3600, usegmt=True)

    async def handler(request: web.Request) -> web.StreamResponse:
        body = files.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, "Last-Modified": stamp}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers, content_type="application/rss+xml")

    app = web.Application()
    app.router.add_get("/{name}", handler)
    return app


def receiver_app(received: list[dict[str, Any]]) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        received.append({"id": request.headers.get("webhook-id"), **await request.json()})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    return app


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


_KIND = {"development.new": "new development", "development.update": "update"}


def render(alert: dict[str, Any]) -> str:
    d = alert["data"]
    story = d["story"]
    kind = _KIND.get(alert.get("type", ""), alert.get("type", ""))
    lines = [
        f"[{d['topic']['name']}] {kind}: {story['title']}",
        f"    {story['source']} · {story['published'] or 'no date'} · {story['link']}",
        f"    matched: {', '.join(d['matched_terms'])}",
    ]
    dev = d.get("development")
    if dev and alert.get("type") == "development.update":
        lines.append(
            f"    development: {dev['headline']} ({dev['stories']} stories, "
            f"{dev['sources']} sources)"
        )
        lines.extend(
            "    + " + textwrap.shorten(x, width=150, placeholder=" …")
            for x in d.get("what_is_new", [])
        )
    else:
        summary = textwrap.shorten(story["summary"] or "", width=160, placeholder=" …")
        if summary:
            lines.append(f"    {summary}")
    return "\n".join(lines)


def write_config(folder: Path, files: dict[str, bytes], feeds_port: int, hook_port: int) -> Path:
    """The demo's configuration in `folder`: the sample feeds served on `feeds_port`, the
    webhook receiver on `hook_port`, a store in the same folder, the status server on a
    free port."""
    feeds_toml = "\n".join(
        f'[[feeds]]\nurl = "http://127.0.0.1:{feeds_port}/{name}"\n'
        f'name = "{name.removesuffix(".xml").replace("-", " ").title()}"\n'
        for name in sorted(files)
    )
    (folder / "demo.toml").write_text(
        textwrap.dedent(f"""\
        [storage]
        url = "sqlite:///demo.db"
        [server]
        listen = "127.0.0.1:0"
        [polling]
        tick = "200ms"
        [log]
        level = "warning"
        [[topics]]
        id = "ukraine-security-guarantees"
        name = "Ukraine security guarantees"
        query = '{DEMO_QUERY}'
        sinks = ["demo"]
        [[sinks]]
        id = "demo"
        type = "webhook"
        url = "http://127.0.0.1:{hook_port}/hook"
        """)
        + feeds_toml,
        encoding="utf-8",
    )
    return folder / "demo.toml"


async def run_demo(
    folder: Path, out: Any, before_stop: Callable[[Service], Awaitable[None]] | None = None
) -> int:
    """Run the demo in `folder`, printing to `out`; `before_stop` (docs/screenshot.py) gets
    the running service once every feed is polled and every alert delivered."""
    from monitor.service.daemon import run

    files = sample_feeds()
    received: list[dict[str, Any]] = []
    feeds_runner, feeds_port = await _serve(feed_app(files))
    hook_runner, hook_port = await _serve(receiver_app(received))
    try:
        cfg = load(write_config(folder, files, feeds_port, hook_port))
        print(
            f"Serving {len(files)} sample feeds on http://127.0.0.1:{feeds_port}/, "
            f"webhooks to http://127.0.0.1:{hook_port}/hook\n",
            file=out,
        )
        stop = asyncio.Event()
        holder: dict[str, Any] = {}
        daemon = asyncio.create_task(
            run(
                cfg,
                logs.get("monitor"),
                stop=stop,
                on_ready=lambda s: holder.setdefault("service", s),
            )
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not daemon.done():
            await asyncio.sleep(0.2)
            service = holder.get("service")
            if service is None:
                continue
            report = await service.status()
            polled = all(f["last_poll"] for f in report["feeds"])
            if polled and report["alerts"]["pending"] == 0 and not service.in_flight:
                break
        report = await holder["service"].status() if "service" in holder else None
        if before_stop is not None and "service" in holder and not daemon.done():
            await before_stop(holder["service"])
        stop.set()
        await daemon
        for alert in received:
            print(render(alert) + "\n", file=out)
        if report:
            print(
                f"{len(received)} alerts received for {report['stories']} stories stored "
                f"from {len(report['feeds'])} feeds.",
                file=out,
            )
        return 0 if received else 1
    finally:
        await feeds_runner.cleanup()
        await hook_runner.cleanup()


def main(keep: bool = False, out: Any = None) -> int:
    logs.configure("warning")
    folder = Path(tempfile.mkdtemp(prefix="monitor-demo-"))
    try:
        return asyncio.run(run_demo(folder, out or sys.stdout))
    finally:
        if keep:
            print(f"demo store and configuration kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
