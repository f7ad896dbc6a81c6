"""The status server: token auth, /metrics in Prometheus format (checked by promtool), no
secret in any response."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE

from monitor.metrics import BootTimeProcessCollector
from tests.conftest import WEBHOOK_SECRET, DaemonProcess, FeedServer, Receiver, rss
from tests.test_pipeline import GRAIN, GUARANTEE

TOKEN = "s3cret-token-for-tests-0123456789"


async def fetch(port: int, path: str, token: str | None = None) -> tuple[int, bytes, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{port}{path}", headers=headers) as r,
    ):
        return r.status, await r.read(), r.headers.get("Content-Type", "")


@pytest.fixture
async def running(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    daemon_factory: Callable[..., DaemonProcess],
) -> DaemonProcess:
    good = feed_server.set("a.xml", rss([GUARANTEE, GRAIN]))
    bad = feed_server.set("b.xml", b"nope", status=503)
    cfg = config_factory([good, bad], receiver.url, extra="", listen="127.0.0.1:0")
    cfg.write_text(
        cfg.read_text().replace("[server]\n", '[server]\ntoken_env = "MONITOR_TEST_TOKEN"\n')
    )
    d = daemon_factory(cfg, {"MONITOR_TEST_TOKEN": TOKEN})
    await d.start()
    await receiver.wait_for(1)
    await d.wait_event("feed.poll_failed")
    return d


async def test_token_protects_everything_but_health(running: DaemonProcess) -> None:
    port = running.port
    assert port
    for path in ("/healthz", "/readyz"):
        assert (await fetch(port, path))[0] == 200
    for path in ("/status", "/metrics"):
        status, _, _ = await fetch(port, path)
        assert status == 401
        assert (await fetch(port, path, "wrong-token-wrong-token"))[0] == 401
        status, body, _ = await fetch(port, path, TOKEN)
        assert status == 200
        for secret in (TOKEN, WEBHOOK_SECRET):
            assert secret.encode() not in body
    assert not any(TOKEN in str(line) or WEBHOOK_SECRET in str(line) for line in running.lines)
    assert await running.stop() == 0


async def test_metrics_cover_polls_entries_feeds_alerts_and_pass_promtool(
    running: DaemonProcess, tmp_path: Path
) -> None:
    assert running.port
    await running.wait_event("alert.delivered")
    status, body, ctype = await fetch(running.port, "/metrics", TOKEN)
    assert status == 200 and ctype.startswith("text/plain")
    text = body.decode()
    for needle in (
        'monitor_polls_total{error_kind="",result="ok"} 1.0',
        'monitor_polls_total{error_kind="http",result="error"}',
        "monitor_poll_duration_seconds_bucket",
        'monitor_entries_total{kind="new"} 2.0',
        'monitor_feeds{state="ok"} 1.0',
        'monitor_alerts{state="delivered"} 1.0',
        "monitor_alerts_written_total 1.0",  # found by the pass that ended the first polls
        "monitor_alert_queue_depth 0.0",
        'monitor_alert_attempts_total{outcome="delivered"} 1.0',
        "monitor_alert_delivery_latency_seconds_count 1.0",
        "monitor_alert_oldest_pending_age_seconds 0.0",
        "monitor_event_loop_lag_seconds",
        "monitor_store_size_bytes",
        "monitor_stories 2.0",
        'monitor_build_info{version="',
    ):
        assert needle in text, needle
    await promtool_check(body)
    assert await running.stop() == 0


async def test_request_size_and_paths_are_bounded(running: DaemonProcess) -> None:
    import socket as socket_mod

    port = running.port
    assert port
    async with aiohttp.ClientSession() as s:
        big = b"x" * (1024 * 1024)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with s.post(f"http://127.0.0.1:{port}/status", data=big, headers=headers) as r:
            assert r.status in (405, 413)
    # a raw request line with dot segments never reaches a file
    for target in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/../../x"):
        with socket_mod.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(
                f"GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            answer = b""
            while chunk := c.recv(65536):
                answer += chunk
        assert b"root:" not in answer
        assert answer.split(b" ", 2)[1] in (b"400", b"401", b"404"), answer[:200]
    assert await running.stop() == 0


async def promtool_check(body: bytes) -> None:
    """`promtool check metrics` accepts `body` (skips without promtool; fails under CI)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool is not installed")
    proc = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate(body)
    assert proc.returncode == 0, output.decode()


async def test_metrics_serve_the_process_and_python_collectors_in_the_format_asked_for(
    running: DaemonProcess,
) -> None:
    """What every prometheus-client exporter serves (process memory, CPU and open files,
    the garbage collector, the Python version), with the Content-Type the library gives the
    format chosen from the Accept header."""
    assert running.port
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"http://127.0.0.1:{running.port}/metrics"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, headers=headers) as r:  # aiohttp sends Accept: */*
            assert r.status == 200
            assert r.headers["Content-Type"] == CONTENT_TYPE_PLAIN_0_0_4
            text_body = await r.read()
        # Prometheus's own scrape header: OpenMetrics first
        accept = (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
            "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        )
        async with s.get(url, headers={**headers, "Accept": accept}) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith(OPENMETRICS_CONTENT_TYPE)
            open_body = await r.read()
    text = text_body.decode()
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    for name in (
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "python_gc_objects_collected_total",
        "python_gc_collections_total",
        "python_info",
        "monitor_polls_total",
    ):
        assert name in samples, name
    rss = next(ln for ln in text.splitlines() if ln.startswith("process_resident_memory_bytes "))
    assert float(rss.split()[1]) > 1e6  # a Python process with aiohttp loaded
    await promtool_check(text_body)
    assert open_body.endswith(b"# EOF\n")
    assert b"process_resident_memory_bytes " in open_body and b"python_info{" in open_body
    assert await running.stop() == 0


def test_the_process_collector_serves_without_proc_stat(tmp_path: Path) -> None:
    """Under the unit's ProcSubset=pid only /proc/self is visible: prometheus-client's
    ProcessCollector, which needs /proc/stat's boot time, would serve nothing. Here a /proc
    with only `self` in it (a link to the real one)."""
    (tmp_path / "self").symlink_to("/proc/self")
    assert list(ProcessCollector(proc=str(tmp_path), registry=None).collect()) == []
    collector = BootTimeProcessCollector(proc=str(tmp_path), registry=None)
    families = {s.name: s.value for m in collector.collect() for s in m.samples}
    assert families["process_resident_memory_bytes"] > 1e6
    assert families["process_cpu_seconds_total"] > 0
    assert families["process_open_fds"] > 0
    with open("/proc/stat") as stat:  # the boot time the library would have read
        btime = next(float(ln.split()[1]) for ln in stat if ln.startswith("btime "))
    real = {s.name: s.value for m in ProcessCollector(registry=None).collect() for s in m.samples}
    assert abs(families["process_start_time_seconds"] - real["process_start_time_seconds"]) < 2
    assert real["process_start_time_seconds"] > btime
