"""systemd integration: the notify protocol on a real unix datagram socket, the watchdog
that stops when the loop is wedged, the unit file's verification and security rating."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor import logs
from monitor.clock import SystemClock
from monitor.config import load
from monitor.service.daemon import heartbeat, open_service, run
from monitor.service.systemd import Notifier
from monitor.store.sqlite import SQLiteStore
from tests.conftest import DaemonProcess, FeedServer, Receiver, rss
from tests.test_pipeline import GUARANTEE

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "monitor.service"


class NotifySocket:
    """A real AF_UNIX datagram socket playing systemd's part; records (time, message)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[tuple[float, str]] = []

    def drain(self) -> list[str]:
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                break
            self.messages.append((time.monotonic(), data.decode()))
        return [m for _, m in self.messages]

    async def wait_for(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in self.drain():
                if needle in msg.splitlines():
                    return msg
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {needle!r} datagram; got {self.drain()}")


@pytest.fixture
async def notify_socket(tmp_path: Path) -> AsyncIterator[NotifySocket]:
    s = NotifySocket(tmp_path / "notify.sock")
    yield s
    s.sock.close()


async def test_ready_watchdog_status_reload_and_stopping_datagrams(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    daemon_factory: Callable[..., DaemonProcess],
    notify_socket: NotifySocket,
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    cfg = config_factory([url], receiver.url)
    d = daemon_factory(cfg, {"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "400000"})
    await d.start()
    ready = await notify_socket.wait_for("READY=1")
    assert re.search(r"^STATUS=\d+ feeds, \d+ failing, \d+ alerts pending$", ready, re.M)
    await receiver.wait_for(1)
    watchdog = await notify_socket.wait_for("WATCHDOG=1")
    assert "STATUS=1 feeds, 0 failing, 0 alerts pending" in watchdog.splitlines()
    d.signal(signal.SIGHUP)
    await notify_socket.wait_for("RELOADING=1")
    await d.wait_event("config.reloaded")
    assert await d.stop() == 0
    messages = notify_socket.drain()
    assert "STOPPING=1" in messages
    kinds = [m.splitlines()[0] for m in messages]
    assert kinds.index("RELOADING=1") < len(kinds) - 1 - kinds[::-1].index("READY=1")


async def test_abstract_socket_names_are_supported(tmp_path: Path) -> None:
    name = f"@monitor-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])
    try:
        assert Notifier(name).notify("READY=1")
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()
    assert not Notifier("").notify("READY=1"), "without NOTIFY_SOCKET nothing is sent"


async def test_the_watchdog_stops_while_the_loop_is_wedged_and_resumes_after(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    notify_socket: NotifySocket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scheduler's tick is wedged (the store's write lock is held, as by a hung write):
    the loop still runs, but after `stall_after` /healthz fails and no WATCHDOG=1 is sent."""
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    path = config_factory([url], receiver.url)
    path.write_text(
        path.read_text().replace('tick = "100ms"', 'tick = "100ms"\nstall_after = "1s"')
    )
    cfg = load(path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # heartbeat every 0.1 s
    logs.configure("warning", stream=io.StringIO(), json=True)
    stop = asyncio.Event()
    holder: dict[str, object] = {}
    task = asyncio.create_task(
        run(
            cfg,
            logs.get("monitor"),
            notifier=Notifier(str(notify_socket.path)),
            stop=stop,
            on_ready=lambda s: holder.setdefault("service", s),
        )
    )
    try:
        await notify_socket.wait_for("WATCHDOG=1")
        service = holder["service"]
        lock = service.store._lock  # type: ignore[attr-defined]
        async with lock:  # wedge: every tick now waits for the store
            await asyncio.sleep(1.5)  # past stall_after
            notify_socket.drain()
            wedged_since = time.monotonic()
            await asyncio.sleep(1.0)
            during = [m for t, m in notify_socket.messages if t > wedged_since]
            assert not any("WATCHDOG=1" in m for m in during), during
            assert not service.alive()  # type: ignore[attr-defined]
        await notify_socket.wait_for("WATCHDOG=1")  # unwedged: pings resume
    finally:
        stop.set()
        assert await task == 0


async def test_heartbeat_is_silent_when_the_store_does_not_answer(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    notify_socket: NotifySocket,
) -> None:
    cfg = load(config_factory([feed_server.set("a.xml", rss([]))], receiver.url))
    logs.configure("warning", stream=io.StringIO(), json=True)
    notifier = Notifier(str(notify_socket.path))
    async with open_service(cfg, SystemClock(), logs.get("monitor")) as service:
        assert await heartbeat(service, notifier)
        await service.store.close()
        assert not await heartbeat(service, notifier)
    assert [m for m in notify_socket.drain() if "WATCHDOG=1" in m] == [
        "WATCHDOG=1\nSTATUS=1 feeds, 0 failing, 0 alerts pending"
    ]


def _unit_with_real_program(tmp_path: Path) -> Path:
    """The shipped unit, with ExecStart pointing at the monitor installed in this venv (the
    unit's own path, /opt/monitor/venv, does not exist on a test machine)."""
    program = Path(sys.executable).parent / "monitor"
    assert program.exists(), "the package's console script is installed"
    text = UNIT.read_text().replace("/opt/monitor/venv/bin/monitor", str(program))
    unit = tmp_path / "monitor.service"
    unit.write_text(text)
    return unit


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: .ci/run installs systemd")
        pytest.skip("systemd-analyze is not installed")
    return tool


def test_unit_file_verifies_cleanly(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    res = subprocess.run(
        [tool, "verify", str(_unit_with_real_program(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "" and res.stderr.strip() == ""


def test_unit_file_security_rating_is_ok(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    res = subprocess.run(
        [tool, "security", "--offline=true", str(_unit_with_real_program(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for monitor\.service: ([\d.]+) (\w+)", res.stdout)
    assert found, res.stdout + res.stderr
    assert float(found.group(1)) <= 1.5 and found.group(2) == "OK", found.group(0)


def _exec_reload(config: Path, mainpid: int) -> list[list[str]]:
    """The unit's ExecReload= command lines, in order, as systemd would run them: the
    unit's monitor (/opt/monitor/venv/bin/monitor) is this checkout's (`python -m monitor`),
    its configuration `config`; `$MAINPID` and `${MAINPID}` words are the daemon's pid
    (systemd expands them itself, without a shell)."""
    commands = []
    for line in UNIT.read_text().splitlines():
        if not line.startswith("ExecReload="):
            continue
        value = line.removeprefix("ExecReload=")
        # no "-" (failure ignored) or other prefix: a failing check must fail the reload
        assert value.startswith("/"), value
        words: list[str] = []
        for word in shlex.split(value):
            if word == "/opt/monitor/venv/bin/monitor":
                words += [sys.executable, "-m", "monitor"]
            elif word == "/etc/monitor/monitor.toml":
                words.append(str(config))
            elif word in ("$MAINPID", "${MAINPID}"):
                words.append(str(mainpid))
            else:
                words.append(word)
        commands.append(words)
    return commands


async def _systemctl_reload(commands: list[list[str]]) -> tuple[int, str]:
    """Run the commands in order, stopping at the first that fails, as systemd does; its
    exit status (0 when all succeeded) and what they wrote."""
    output = ""
    for argv in commands:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        output += out.decode(errors="replace")
        if proc.returncode != 0:
            return int(proc.returncode or 1), output
    return 0, output


async def _status(port: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{port}/status") as r,
    ):
        assert r.status == 200
        report: dict[str, Any] = await r.json()
        return report


async def test_reload_checks_the_configuration_before_signalling_the_daemon(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    daemon_factory: Callable[..., DaemonProcess],
) -> None:
    """`systemctl reload monitor` fails on a configuration that does not validate, and the
    daemon keeps running on the old one; a good one reloads. A SIGHUP that skips the check
    is still rejected by the daemon, logged and shown in /status."""
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    cfg = config_factory([url], receiver.url, query="Ukraine AND troops")
    d = daemon_factory(cfg)
    await d.start()
    assert d.port and d.proc is not None
    commands = _exec_reload(cfg, d.proc.pid)
    assert [argv[-3:] for argv in commands] == [
        ["monitor", "check-config", str(cfg)],
        ["/bin/kill", "-HUP", str(d.proc.pid)],
    ]
    good = cfg.read_text()

    cfg.write_text(good.replace("Ukraine AND troops", "Ukraine AND (troops"))
    code, output = await _systemctl_reload(commands)
    assert code != 0, output
    assert "topics[0].query" in output  # the problem, for the journal
    report = await _status(d.port)
    assert report["topics"][0]["query"] == "Ukraine AND troops"
    assert report["last_reload_error"] is None  # the daemon was never signalled
    assert d.proc.returncode is None

    # a SIGHUP sent otherwise (the last line alone): the daemon rejects it, logs and reports
    code, output = await _systemctl_reload(commands[-1:])
    assert code == 0, output
    rejected = await d.wait_event("config.reload_rejected")
    assert rejected["level"] == "error"
    assert any("topics[0].query" in p for p in rejected["problems"])
    report = await _status(d.port)
    assert report["topics"][0]["query"] == "Ukraine AND troops"
    assert "topics[0].query" in report["last_reload_error"]

    cfg.write_text(good.replace("Ukraine AND troops", "Ukraine AND grain"))
    code, output = await _systemctl_reload(commands)
    assert code == 0, output
    await d.wait_event("config.reloaded")
    report = await _status(d.port)
    assert report["topics"][0]["query"] == "Ukraine AND grain"
    assert report["last_reload_error"] is None
    assert await d.stop() == 0


def test_check_config_marks_its_problems_as_errors_in_the_journal(tmp_path: Path) -> None:
    """As ExecReload= runs it: stderr is the journal's stream, each problem is a <3> line."""
    cfg = tmp_path / "monitor.toml"
    cfg.write_text('[polling]\ninterval = "soon"\n')
    with open(tmp_path / "journal", "w+", encoding="utf-8") as journal:
        st = os.fstat(journal.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        res = subprocess.run(
            [sys.executable, "-m", "monitor", "check-config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=journal,
            env=env,
            check=False,
            timeout=60,
        )
        journal.seek(0)
        lines = journal.read().splitlines()
    assert res.returncode == 2
    assert lines and all(line.startswith("<3>") for line in lines), lines
    assert any("interval" in line for line in lines), lines


async def test_a_failure_during_the_start_stops_every_loop_before_the_store_closes(
    config_factory: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever fails once the loops run (here: the embedding caller's on_ready), the exit
    stack stops them all (deliveries, WebSub, full text, the lag probe, the scheduler) and
    only then closes the store: no loop is left running against a closed store."""
    cfg = load(config_factory([], "http://127.0.0.1:9/hook"))
    logs.configure("warning", stream=io.StringIO(), json=True)
    closed: list[set[str]] = []
    real_close = SQLiteStore.close

    async def close(self: SQLiteStore) -> None:
        # the background loops still alive when the store closes
        closed.append({t.get_name() for t in asyncio.all_tasks() if not t.done()})
        await real_close(self)

    monkeypatch.setattr(SQLiteStore, "close", close)

    def fail(_service: object) -> None:
        raise RuntimeError("the start failed")

    with pytest.raises(RuntimeError, match="the start failed"):
        await run(cfg, logs.get("monitor"), notifier=Notifier(""), on_ready=fail)
    loops = {"delivery", "websub", "lag", "fulltext", "detection-backlog"}
    assert closed and not closed[0] & loops, closed
    left = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
    assert not left & loops
