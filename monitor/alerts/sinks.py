"""Sending one alert to one sink, whatever its kind; never raises.

- `webhook`: the documented JSON payload, signed per Standard Webhooks (webhook.py).
- `slack`, `discord`: their incoming-webhook JSON formats (render.py).
- `ntfy`: JSON publishing to the server the topic URL names.
- `apprise`: any Apprise URL, through the optional `apprise` package (run in a thread: its
  notify is blocking).

Every HTTP sink goes through the daemon's one aiohttp session and the same status rules:
2xx delivered; 5xx, 408, 429 and network failures retried (Retry-After honoured); other
4xx permanent. Chat sinks also get `webhook-id` (the stable alert id), so a proxy or receiver
can still deduplicate.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from monitor.alerts import render
from monitor.alerts.webhook import SendResult, post, send_webhook
from monitor.config import SinkConfig
from monitor.models import PendingAlert


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def ntfy_endpoint(url: str) -> tuple[str, str]:
    """`https://ntfy.sh/alerts` -> (`https://ntfy.sh/`, `alerts`): JSON messages are
    published to the server's root, naming the topic in the body."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    base, _, topic = path.rpartition("/")
    return urlunsplit((parts.scheme, parts.netloc, base + "/", "", "")), topic


async def send(
    session: aiohttp.ClientSession,
    sink: SinkConfig,
    alert: PendingAlert,
    *,
    timeout: float,
    user_agent: str,
    now: float,
) -> SendResult:
    if sink.type == "webhook":
        return await send_webhook(
            session,
            sink.url,
            alert,
            secret=sink.secret,
            timeout=timeout,
            user_agent=user_agent,
            now=now,
        )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "webhook-id": alert.id,
    }
    label = f"{sink.type} sink {sink.id!r}"
    if sink.type == "slack":
        body = _json(render.slack_payload(alert))
        return await post(session, sink.url, body, headers, timeout, label=label)
    if sink.type == "discord":
        body = _json(render.discord_payload(alert))
        return await post(session, sink.url, body, headers, timeout, label=label)
    if sink.type == "ntfy":
        base, topic = ntfy_endpoint(sink.url)
        if sink.token:
            headers["Authorization"] = f"Bearer {sink.token}"
        body = _json(render.ntfy_payload(alert, topic, sink.priority, sink.tags))
        return await post(session, base, body, headers, timeout, label=label)
    if sink.type == "apprise":
        return await send_apprise(sink, alert, timeout)
    return SendResult(
        ok=False,
        status=None,
        latency=0.0,
        retryable=False,
        error=f"unknown sink type {sink.type!r}",
    )


async def send_apprise(sink: SinkConfig, alert: PendingAlert, timeout: float) -> SendResult:
    """Through Apprise (optional extra). Apprise reports only success or failure, so a
    failure is retried; a missing package is permanent for this attempt's alert."""
    started = time.monotonic()
    try:
        import apprise  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return SendResult(
            ok=False,
            status=None,
            latency=0.0,
            retryable=False,
            error="apprise is not installed (pip install 'monitor[apprise]')",
        )
    m = render.message(alert)

    def notify() -> bool:
        ap = apprise.Apprise()
        ap.add(sink.url)
        return bool(ap.notify(body=render.plain_text(m), title=m.title))

    try:
        ok = await asyncio.wait_for(asyncio.to_thread(notify), timeout=timeout + 5)
    except TimeoutError:
        ok, error = False, f"timeout after {timeout:g}s"
    except Exception as exc:  # a plugin's bug must not stop the delivery loop
        ok, error = False, f"apprise: {type(exc).__name__}"
    else:
        error = "apprise could not deliver the notification"
    latency = time.monotonic() - started
    if ok:
        return SendResult(ok=True, status=None, latency=latency)
    return SendResult(ok=False, status=None, latency=latency, error=error)
