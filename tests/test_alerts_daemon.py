"""Alerts across a crash: the daemon as a real subprocess, SIGKILLed after the alert row was
committed and while its webhook is in flight, unacknowledged; after a restart the alert is
delivered under the same webhook-id, once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from standardwebhooks import Webhook

from monitor.store import SQLiteStore
from tests.conftest import WEBHOOK_SECRET, DaemonProcess, FeedServer, rss
from tests.test_alerts import Hub, hub  # noqa: F401  (the fixture)
from tests.test_pipeline import GUARANTEE


async def test_a_daemon_killed_between_commit_and_send_delivers_after_restart_same_id(
    feed_server: FeedServer,
    hub: Hub,  # noqa: F811
    config_factory: Callable[..., Path],
    daemon_factory: Callable[..., DaemonProcess],
) -> None:
    url = feed_server.set("a.xml", rss([GUARANTEE]))
    gate = asyncio.Event()
    hub.hang["/hook"] = gate  # the receiver takes the request and never answers
    cfg = config_factory([url], hub.url("/hook"))
    first = daemon_factory(cfg)
    await first.start()
    # a fresh start: the first polls' stories are detected together once every feed answered
    done = await first.wait_event("detection.first_polls_done")
    assert done["alerts"] == 1  # committed with the story
    deadline = time.monotonic() + 20
    while not hub.received and time.monotonic() < deadline:
        hub.event.clear()
        await asyncio.wait_for(hub.event.wait(), timeout=20)
    [in_flight] = hub.received
    assert first.proc is not None
    first.proc.kill()  # SIGKILL: no shutdown, no acknowledgement recorded
    await first.proc.wait()
    assert not first.events("alert.delivered")
    del hub.hang["/hook"]
    gate.set()

    store = SQLiteStore(cfg.parent / "var" / "monitor.db")
    await store.open()
    try:
        [row] = await store.alert_log()
    finally:
        await store.close()
    assert row["state"] == "pending" and row["attempts"] == 0
    assert row["id"] == in_flight["headers"]["webhook-id"]

    second = daemon_factory(cfg)
    await second.start()
    delivered = await second.wait_event("alert.delivered")
    released = second.events("alert.leases_released")
    assert released and released[0]["count"] == 1
    assert await second.stop() == 0

    assert len(hub.received) == 2
    again = hub.received[1]
    assert again["headers"]["webhook-id"] == in_flight["headers"]["webhook-id"] == row["id"]
    assert delivered["alert_id"] == row["id"]
    assert again["body"] == in_flight["body"], "the frozen payload, byte for byte"
    Webhook(WEBHOOK_SECRET).verify(again["body"], again["headers"])
    assert not second.events("feed.polled") or all(
        e["new"] == 0 for e in second.events("feed.polled")
    )
