"""Real edges for tests: an aiohttp server serving feed files (ETag, Last-Modified, 304), an
aiohttp server receiving webhooks, configuration files in tmp_path, and the daemon as a
real subprocess. Everything listens on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import hashlib
import io
import json
import os
import signal
import socket
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

FEEDS = Path(__file__).parent / "feeds"
WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def rss(items: list[dict[str, str]], title: str = "Test feed") -> bytes:
    """A small RSS 2.0 document; each item dict may have guid, title, link, description,
    pubDate."""
    parts = []
    for it in items:
        inner = "".join(f"<{k}>{v}</{k}>" for k, v in it.items())
        parts.append(f"<item>{inner}</item>")
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.org/</link>"
        f"<description>t</description>{''.join(parts)}</channel></rss>"
    ).encode()


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    conditional: bool = True  # answer If-None-Match / If-Modified-Since with 304
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FeedServer:
    """Serves routes set by the test; counts requests and 304s per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: dict[str, int] = {}
        self.not_modified: dict[str, int] = {}
        self.request_headers: dict[str, list[dict[str, str]]] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._modified = email.utils.formatdate(time.time() - 86400, usegmt=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def set(self, path: str, body: bytes = b"", **kw: Any) -> str:
        self.routes["/" + path.lstrip("/")] = Route(body=body, **kw)
        return self.url(path)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests[path] = self.requests.get(path, 0) + 1
        self.request_headers.setdefault(path, []).append(dict(request.headers))
        route = self.routes.get(path)
        if route is None:
            return web.Response(status=404, text="not found")
        if route.delay:
            await asyncio.sleep(route.delay)
        headers = dict(route.headers)
        if route.status == 200 and route.conditional:
            etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
            headers.update({"ETag": etag, "Last-Modified": self._modified})
            if request.headers.get("If-None-Match") == etag:
                self.not_modified[path] = self.not_modified.get(path, 0) + 1
                return web.Response(status=304, headers=headers)
        return web.Response(
            status=route.status, body=route.body, headers=headers, content_type=route.content_type
        )

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner, self.port = await serve(app)


class Receiver:
    """Receives webhooks; answers with the statuses queued in `responses` (default 204)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.responses: list[tuple[int, dict[str, str]]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self.event = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status, headers = self.responses.pop(0) if self.responses else (204, {})
        self.received.append(
            {
                "headers": dict(request.headers),
                "body": body,
                "json": json.loads(body),
                "answered": status,
            }
        )
        self.event.set()
        return web.Response(status=status, headers=headers)

    def delivered(self) -> list[dict[str, Any]]:
        return [r for r in self.received if 200 <= r["answered"] < 300]

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.delivered()) < count and time.monotonic() < deadline:
            self.event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), timeout=0.5)
        return self.delivered()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner, self.port = await serve(app)


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve `app` on 127.0.0.1 and a free port; returns the runner and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    await server.start()
    yield server
    if server._runner:
        await server._runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    if r._runner:
        await r._runner.cleanup()


@pytest.fixture(autouse=True)
def _no_default_semantic_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide on lexical evidence whether or not the optional model is installed in
    this environment (tests/test_semantic.py opts in); the daemons they spawn inherit it."""
    monkeypatch.setenv("MONITOR_SEMANTIC_MODEL", "off")


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TOPIC_QUERY = '(Ukraine OR Kyiv) AND ("security guarantee*" OR peacekeep* OR troops)'


def write_config(
    folder: Path,
    feeds: list[str],
    sink_url: str,
    *,
    extra: str = "",
    query: str = TOPIC_QUERY,
    secret: str | None = WEBHOOK_SECRET,
    listen: str = "127.0.0.1:0",
    interval: str = "1h",
    alert_on: str = "developments",
    evidence: str | None = None,
) -> Path:
    feeds_toml = "".join(
        f'[[feeds]]\nurl = "{u}"\nname = "Feed {i}"\n\n' for i, u in enumerate(feeds)
    )
    secret_line = f'secret = "{secret}"' if secret else ""
    evidence_line = f'evidence = "{evidence}"' if evidence else ""
    text = (
        textwrap.dedent(f"""\
        [storage]
        url = "sqlite:///var/monitor.db"

        [server]
        listen = "{listen}"

        [polling]
        interval = "{interval}"
        tick = "100ms"
        timeout = "5s"
        host_gap = 0         # every test feed is on 127.0.0.1: politeness is tested on its own
        host_concurrency = 20
        jitter = 0

        [delivery]
        backoff_base = "100ms"
        backoff_max = "1s"
        timeout = "5s"

        [[topics]]
        id = "ukraine-security-guarantees"
        name = "Ukraine security guarantees"
        query = '{query}'
        sinks = ["ops"]
        alert_on = "{alert_on}"
        {evidence_line}

        [[sinks]]
        id = "ops"
        type = "webhook"
        url = "{sink_url}"
        {secret_line}

        """)
        + feeds_toml
        + extra
    )
    path = folder / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def config_factory(tmp_path: Path) -> Callable[..., Path]:
    def make(*args: Any, **kw: Any) -> Path:
        return write_config(tmp_path, *args, **kw)

    return make


class DaemonProcess:
    """`python -m monitor run` as a real subprocess (asyncio, so the test's servers keep
    serving while we wait); its JSON log lines are collected by a reader task that drains
    the pipe all the time: a daemon whose stdout pipe fills (a busy daemon logs a line per
    poll) would block on its next log line, and with it its whole event loop."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[dict[str, Any]] = []
        self.port: int | None = None
        self._reader: asyncio.Task[None] | None = None
        self._more = asyncio.Event()  # set when a line came (or the pipe closed)

    async def spawn(self) -> asyncio.subprocess.Process:
        """The process: `python -m monitor run` of this checkout."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("NOTIFY_SOCKET", None)
        env.update(self.env)
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "run",
            "--config",
            str(self.config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )

    async def start(self, timeout: float = 30.0) -> None:
        self.proc = await self.spawn()
        self._reader = asyncio.create_task(self._drain())
        await self.wait_event("daemon.started", timeout)
        listening = [ln for ln in self.lines if ln.get("event") == "status.listening"]
        self.port = listening[0]["port"] if listening else None

    async def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                try:
                    self.lines.append(json.loads(line))
                except json.JSONDecodeError:
                    text = line.decode(errors="replace").rstrip()
                    self.lines.append({"event": "(raw)", "text": text})
                self._more.set()
        finally:
            self._more.set()

    def _done(self) -> bool:
        return self._reader is None or self._reader.done()

    def events(self, event: str) -> list[dict[str, Any]]:
        return [ln for ln in self.lines if ln.get("event") == event]

    async def wait_event(
        self,
        event: str,
        timeout: float = 20.0,
        where: Callable[[dict[str, Any]], bool] = lambda _l: True,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first `event` log line (from line index `after` on) satisfying `where`."""
        deadline = time.monotonic() + timeout
        seen = after
        while True:
            for line in self.lines[seen:]:
                if line.get("event") == event and where(line):
                    return line
            seen = max(seen, len(self.lines))
            left = deadline - time.monotonic()
            if left <= 0 or (self._done() and seen >= len(self.lines)):
                raise AssertionError(
                    f"no {event!r} event; log so far:\n"
                    + "\n".join(json.dumps(x) for x in self.lines)
                )
            self._more.clear()
            if len(self.lines) > seen:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._more.wait(), left)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def stop(self, timeout: float = 30.0) -> int:
        assert self.proc is not None and self.proc.stdout is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:  # the rest of its output, to the end of the pipe
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        assert self.proc.returncode is not None
        return self.proc.returncode


@pytest.fixture
async def daemon_factory() -> AsyncIterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def make(config: Path, env: dict[str, str] | None = None) -> DaemonProcess:
        d = DaemonProcess(config, env)
        started.append(d)
        return d

    yield make
    for d in started:
        if d.proc is not None and d.proc.returncode is None:
            d.proc.kill()
            await d.proc.wait()


# PostgreSQL: a throw-away cluster for the session and a database per test (tests/pg.py)
from tests.pg import pg_cluster, pg_url  # noqa: E402, F401

# The dashboard and the API (monitor/web): a service with stored data (an ok and a failing
# feed, matched stories, a delivered and a dead alert) and its status server on port 0.
API_TOKEN = "api-token-for-tests-0123456789"


@dataclass
class WebServer:
    service: Any
    port: int
    clock: Any
    token: str | None
    twin: WebServer | None = None  # on PostgreSQL: the SQLite server its data was copied from

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def execute(self, sql: str) -> None:
        """A statement on the store behind the server, SQLite or PostgreSQL."""
        async with self.service.store.transaction() as db:
            await db.execute(sql)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@pytest.fixture
def web_backend() -> str:
    """The store behind web_factory's server: "sqlite", or "postgresql" where a test module
    overrides this fixture (tests/test_api.py runs on both)."""
    return "sqlite"


@pytest.fixture
async def web_factory(
    request: pytest.FixtureRequest,
    web_backend: str,
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
) -> AsyncIterator[Callable[..., Any]]:
    """make(token=None, extra_items=None, extra="") -> WebServer (`extra`: configuration
    appended, e.g. another topic). A SQLite store filled by real polls
    and deliveries; on PostgreSQL, that store copied into a fresh database (`monitor
    migrate`'s copy) and a second service over it, which the server serves (the same data
    on both, so every answer can be compared); its `twin` serves the SQLite original, with
    the same clock."""
    from monitor.cli.migrate import copy_store, storage_of
    from monitor.clock import FixedClock
    from monitor.web import status
    from tests.test_pipeline import GRAIN, GUARANTEE, RUSSIA, T0, service_for

    pg = request.getfixturevalue("pg_url") if web_backend == "postgresql" else None
    stack = contextlib.AsyncExitStack()

    async def serve_web(service: Any, clock: Any, token: str | None) -> WebServer:
        runner, port = await status.start(service, "127.0.0.1", 0)
        stack.push_async_callback(runner.cleanup)
        return WebServer(service, port, clock, token)

    async def make(  # type: ignore[no-untyped-def]
        token: str | None = None, extra_items: list[dict[str, str]] | None = None, extra: str = ""
    ):
        good = feed_server.set("a.xml", rss([GUARANTEE, GRAIN, RUSSIA, *(extra_items or [])]))
        bad = feed_server.set("b.xml", b"nope", status=503)
        cfg = config_factory([good, bad], receiver.url, extra=extra)
        if token:
            cfg.write_text(cfg.read_text().replace("[server]\n", f'[server]\ntoken = "{token}"\n'))
        clock = FixedClock(T0)
        service, _out = await stack.enter_async_context(service_for(cfg, clock))
        receiver.responses = [(204, {}), (400, {})]  # one alert delivered, one dead (4xx)
        for _ in range(3):  # the 503 feed is failing after 3 consecutive errors
            await service.poll_all()
            await service.deliverer.deliver_due()
            clock.advance(600)
        server = await serve_web(service, clock, token)
        if pg is None:
            return server
        await service.store.flush()
        await copy_store(service.config.storage, storage_of(pg), stream=io.StringIO())
        sqlite_url = 'url = "sqlite:///var/monitor.db"'
        pg_cfg = cfg.with_name("monitor-pg.toml")
        pg_cfg.write_text(cfg.read_text().replace(sqlite_url, f'url = "{pg}"'))
        pg_service, _out = await stack.enter_async_context(service_for(pg_cfg, clock))
        pg_server = await serve_web(pg_service, clock, token)
        pg_server.twin = server
        return pg_server

    yield make
    await stack.aclose()
