"""The webhook sink: a JSON POST signed per the Standard Webhooks specification.

Headers: `webhook-id` (the alert id, the same on every retry), `webhook-timestamp` (Unix
seconds of this attempt), `webhook-signature` (`v1,` + base64 of HMAC-SHA256 over
"id.timestamp.body" with the secret's bytes after `whsec_`). Any Standard Webhooks library
verifies it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from monitor.models import PendingAlert
from monitor.reader.httpdates import retry_after


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    status: int | None
    latency: float
    error: str | None = None
    retryable: bool = True
    retry_after: float | None = None  # seconds the receiver asked us to wait


def render_body(alert: PendingAlert) -> bytes:
    """The payload: {"type", "timestamp", "data"}; identical on every retry."""
    created = datetime.fromtimestamp(alert.created_at, UTC)
    doc = {
        "type": alert.event,
        "timestamp": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": {"alert_id": alert.id, **alert.data},
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


async def send_webhook(
    session: aiohttp.ClientSession,
    url: str,
    alert: PendingAlert,
    *,
    secret: str | None,
    timeout: float,
    user_agent: str,
    now: float | None = None,
) -> SendResult:
    body = render_body(alert)
    ts = int(now if now is not None else time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "webhook-id": alert.id,
        "webhook-timestamp": str(ts),
    }
    if secret:
        headers["webhook-signature"] = sign(secret, alert.id, ts, body)
    return await post(session, url, body, headers, timeout)


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
    *,
    label: str | None = None,
) -> SendResult:
    """POST `body`; a 2xx is delivered, 5xx/408/429 and network failures are retryable,
    other statuses permanent. `label` replaces the URL in error messages (a chat sink's URL
    carries its credentials and must not reach logs)."""
    started = time.monotonic()
    try:
        async with session.post(
            url,
            data=body,
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            await resp.read()
            latency = time.monotonic() - started
            if 200 <= resp.status < 300:
                return SendResult(ok=True, status=resp.status, latency=latency)
            retryable = resp.status >= 500 or resp.status in (408, 429)
            return SendResult(
                ok=False,
                status=resp.status,
                latency=latency,
                error=f"HTTP {resp.status} {resp.reason or ''}".strip(),
                retryable=retryable,
                retry_after=retry_after(resp.headers.get("Retry-After"), time.time()),
            )
    except TimeoutError:
        return SendResult(
            ok=False,
            status=None,
            latency=time.monotonic() - started,
            error=f"timeout after {timeout:g}s",
        )
    except aiohttp.ClientConnectorError as exc:
        return SendResult(
            ok=False,
            status=None,
            latency=time.monotonic() - started,
            error=f"cannot connect to {label or f'{exc.host}:{exc.port}'}: "
            f"{exc.os_error.strerror or exc.os_error}",
        )
    except aiohttp.ClientError as exc:
        return SendResult(
            ok=False,
            status=None,
            latency=time.monotonic() - started,
            error=f"{type(exc).__name__}: {label}" if label else f"{type(exc).__name__}: {exc}",
        )
