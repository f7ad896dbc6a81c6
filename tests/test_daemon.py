"""The real daemon as a subprocess (`python -m monitor run`) against real local servers."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from monitor.service.daemon import read_config
from tests.conftest import DaemonProcess, FeedServer, Receiver, rss
from tests.test_pipeline import GRAIN, GUARANTEE, RUSSIA


async def get_json(port: int, path: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.json()


async def test_daemon_polls_alerts_reports_and_stops_cleanly(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    daemon_factory: Callable[[Path], DaemonProcess],
) -> None:
    good = feed_server.set("good.xml", rss([GUARANTEE, GRAIN]))
    bad = feed_server.set("bad.xml", b"oops", status=500)
    cfg = config_factory([good, bad], receiver.url, interval="1s")
    d = daemon_factory(cfg)
    await d.start()
    assert d.port
    [hook] = await receiver.wait_for(1)
    assert hook["json"]["data"]["story"]["title"] == GUARANTEE["title"]

    status, health = await get_json(d.port, "/healthz")
    assert status == 200 and health["status"] == "ok"
    status, _ready = await get_json(d.port, "/readyz")
    assert status == 200
    await d.wait_event("feed.poll_failed", where=lambda e: e["feed_url"] == bad)
    status, report = await get_json(d.port, "/status")
    assert status == 200
    assert report["version"] and report["uptime_seconds"] >= 0
    feeds = {f["url"]: f for f in report["feeds"]}
    assert feeds[good]["stories"] == 2 and feeds[good]["last_result"] == "ok"
    assert feeds[good]["next_poll"] and feeds[good]["last_poll"]
    assert feeds[bad]["last_result"] == "error" and feeds[bad]["consecutive_errors"] >= 1
    assert feeds[bad]["last_error"]["kind"] == "http"
    [topic] = report["topics"]
    assert topic["id"] == "ukraine-security-guarantees" and topic["matches"] == 1
    assert report["alerts"]["pending"] == 0 and report["alerts"]["delivered"] == 1
    assert "whsec_" not in str(report)

    # later polls of the same feed (304s) alert nothing more
    await d.wait_event(
        "feed.polled", where=lambda e: e["feed_url"] == good and e["result"] == "not_modified"
    )
    assert await d.stop() == 0
    assert d.events("daemon.stopped")
    assert len(receiver.received) == 1
    # a restart keeps what was stored and does not alert it again; a new story alerts once
    feed_server.set("good.xml", rss([RUSSIA, GUARANTEE, GRAIN]), conditional=False)
    d2 = daemon_factory(cfg)
    await d2.start()
    hooks = await receiver.wait_for(2)
    assert [h["json"]["data"]["story"]["title"] for h in hooks] == [
        GUARANTEE["title"],
        RUSSIA["title"],
    ]
    assert await d2.stop() == 0
    assert len(receiver.received) == 2


async def test_daemon_keeps_running_when_feeds_cannot_be_reached(
    receiver: Receiver,
    config_factory: Callable[..., Path],
    daemon_factory: Callable[[Path], DaemonProcess],
) -> None:
    cfg = config_factory(
        ["http://127.0.0.1:9/feed.xml", "http://no-such-host.invalid/x"], receiver.url
    )
    d = daemon_factory(cfg)
    await d.start()
    first = await d.wait_event("feed.poll_failed")
    assert first["error_kind"] in ("connect", "dns")
    await d.wait_event("feed.poll_failed", after=d.lines.index(first) + 1)
    assert d.port
    _status, report = await get_json(d.port, "/status")
    kinds = {f["url"]: f["last_error"]["kind"] for f in report["feeds"] if f["last_error"]}
    assert kinds == {
        "http://127.0.0.1:9/feed.xml": "connect",
        "http://no-such-host.invalid/x": "dns",
    }
    assert (await get_json(d.port, "/healthz"))[0] == 200
    assert await d.stop() == 0


async def test_sighup_reloads_a_changed_topic_and_rejects_a_bad_configuration(
    feed_server: FeedServer,
    receiver: Receiver,
    config_factory: Callable[..., Path],
    daemon_factory: Callable[[Path], DaemonProcess],
) -> None:
    url = feed_server.set("a.xml", rss([GRAIN]))
    cfg = config_factory([url], receiver.url, query="Ukraine AND troops")
    d = daemon_factory(cfg)
    await d.start()
    assert d.port
    text = cfg.read_text()
    cfg.write_text(text.replace("Ukraine AND troops", "Ukraine AND (troops"))
    d.signal(signal.SIGHUP)
    rejected = await d.wait_event("config.reload_rejected")
    assert any("topics[0].query" in p for p in rejected["problems"])
    _, report = await get_json(d.port, "/status")
    assert report["topics"][0]["query"] == "Ukraine AND troops"
    assert report["last_reload_error"]

    cfg.write_text(text.replace("Ukraine AND troops", "Ukraine AND grain"))
    d.signal(signal.SIGHUP)
    await d.wait_event("config.reloaded")
    _, report = await get_json(d.port, "/status")
    assert report["topics"][0]["query"] == "Ukraine AND grain"
    assert report["last_reload_error"] is None

    # the log level is reloadable too: at "warning", info events stop
    cfg.write_text(
        text.replace("Ukraine AND troops", "Ukraine AND grain") + '[log]\nlevel = "warning"\n'
    )
    d.signal(signal.SIGHUP)
    reloaded = await d.wait_event("config.reloaded", after=len(d.lines))
    mark = d.lines.index(reloaded) + 1
    assert await d.stop() == 0
    after = [ln for ln in d.lines[mark:] if ln.get("event") != "(raw)"]
    assert not [ln for ln in after if ln.get("level") == "info"], after
    assert not d.events("daemon.stopped"), "info events are filtered after the reload"
    assert reloaded["level"] == "info"  # logged before the new level applies


async def test_run_with_a_bad_configuration_exits_2_naming_the_key(tmp_path: Path) -> None:
    import asyncio

    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[feeds]]\nurl = "https://example.org/rss"\ninterval = "often"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "run",
        "--config",
        str(cfg),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await proc.communicate()
    assert proc.returncode == 2
    assert f"{cfg}: feeds[0].interval: 'often' is not a duration" in err.decode()


async def test_poll_once_polls_every_feed_delivers_and_prints_a_summary(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    import asyncio
    import json

    good = feed_server.set("good.xml", rss([GUARANTEE, GRAIN]))
    bad = feed_server.set("bad.xml", b"<html>nope</html>", content_type="text/html")
    cfg = config_factory([good, bad], receiver.url)
    for flag, check in (([], "text"), (["--json"], "json")):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "poll-once", "--config", str(cfg), *flag,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _err = await proc.communicate()
        assert proc.returncode == 0
        text = out.decode()
        if check == "text":
            assert f"ok            {good}  2 new, 0 updated, 1 alerts" in text
            assert f"error         {bad}  not_a_feed:" in text
            assert (
                "2 feeds polled, 1 failed; 2 new stories; 1 alerts delivered, 0 failed, 0 held for a digest, 0 pending"
                in text
            )
        else:  # the second run: nothing new, the bad feed still failing
            summary = json.loads(text)
            rows = {r["url"]: r for r in summary["feeds"]}
            assert rows[good]["result"] == "not_modified" and rows[good]["new"] == 0
            assert rows[bad]["result"] == "error"
            assert summary["alerts_delivered"] == 0
    assert len(receiver.delivered()) == 1


CITIES = ("Kyiv", "Lviv", "Odesa", "Kharkiv", "Dnipro", "Poltava", "Sumy", "Chernihiv", "Mykolaiv")
WORK = (
    "school",
    "bridge",
    "hospital",
    "library",
    "power station",
    "tram line",
    "market",
    "stadium",
    "museum",
)


def city_stories() -> list[dict[str, str]]:
    """Nine distinct stories of the topic (not duplicates of each other)."""
    return [
        {
            "guid": f"city-{i}",
            "title": f"{city} reopens its {work} in Ukraine",
            "link": f"https://news.example/{i}",
            "description": f"Workers in {city} finished repairing the {work} after {i + 2} months; "
            f"{(i + 3) * 40} residents came to the ceremony, the mayor of {city} said.",
            "pubDate": f"Thu, 26 Nov 2026 {8 + i:02d}:00:00 GMT",
        }
        for i, (city, work) in enumerate(zip(CITIES, WORK, strict=True))
    ]


async def poll_once_json(cfg: Path) -> dict[str, Any]:
    import json

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "poll-once", "--config", str(cfg), "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "\r" not in err.decode()  # stderr is not a terminal: no progress bar
    result: dict[str, Any] = json.loads(out)
    return result


async def test_poll_once_delivers_every_due_alert_batch_after_batch(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    """A first poll writes more alerts than one delivery batch: the run delivers them all."""
    feed = feed_server.set("city.xml", rss(city_stories()))
    cfg = config_factory([feed], receiver.url, query="Ukraine", alert_on="stories")
    cfg.write_text(cfg.read_text().replace("[delivery]\n", "[delivery]\nbatch = 2\n"))
    summary = await poll_once_json(cfg)
    assert summary["feeds"][0]["alerts"] == 9
    assert (summary["alerts_delivered"], summary["alerts_failed"], summary["alerts_held"]) == (
        9, 0, 0,
    )  # fmt: skip
    assert summary["alerts_pending"] == 0
    assert len(receiver.delivered()) == 9
    assert len({r["headers"]["webhook-id"] for r in receiver.delivered()}) == 9
    again = await poll_once_json(cfg)  # nothing new, nothing due
    assert again["alerts_delivered"] == 0 and len(receiver.delivered()) == 9


async def test_poll_once_leaves_failures_to_their_backoff_and_holds_over_the_rate_limit(
    feed_server: FeedServer, receiver: Receiver, config_factory: Callable[..., Path]
) -> None:
    feed = feed_server.set("city.xml", rss(city_stories()))
    cfg = config_factory([feed], receiver.url, query="Ukraine", alert_on="stories")
    text = cfg.read_text().replace("[delivery]\n", "[delivery]\nbatch = 2\n")
    text = text.replace(
        'type = "webhook"\n', 'type = "webhook"\nrate_limit = "6/1d"\ndigest = "0 0 1 1 *"\n'
    )
    cfg.write_text(text)
    receiver.responses = [(503, {"Retry-After": "3600"})]  # the first send fails: back off 1h
    summary = await poll_once_json(cfg)
    # six let through by the rate limit (one of which failed), three held for the digest
    assert (summary["alerts_delivered"], summary["alerts_failed"], summary["alerts_held"]) == (
        5, 1, 3,
    )  # fmt: skip
    assert summary["alerts_pending"] == 1  # the failed one, for a later run
    assert len(receiver.received) == 6 and len(receiver.delivered()) == 5
    again = await poll_once_json(cfg)  # the failure is backing off: not sent again yet
    assert again["alerts_delivered"] == 0 and again["alerts_failed"] == 0
    assert len(receiver.received) == 6


async def test_a_reload_reads_the_configuration_off_the_event_loop(
    config_factory: Callable[..., Path],
) -> None:
    """Compiling topics (a second per thousand seeded ones) must not stall the loop's polls,
    deliveries and /status: the loop keeps running while the file is read and checked."""
    path = config_factory([], "http://127.0.0.1:9/hook")
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # the ticker is running
    before = turns
    config = await read_config(path)
    during = turns - before
    task.cancel()
    assert config.topics[0].id == "ukraine-security-guarantees"
    assert during > 0, "the event loop was blocked while the configuration was loaded"
