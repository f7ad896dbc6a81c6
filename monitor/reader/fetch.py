"""Fetch one feed: conditional GET with limits. Returns a FetchResult; never raises for HTTP.

Redirects are followed here (not by aiohttp) so that each hop is checked (http/https only,
a bounded count) and a permanent redirect (301/308) is reported to be stored.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

import aiohttp

from monitor.reader.httpdates import freshness, retry_after
from monitor.reader.netguard import REFUSED, check_literal, guarding, resolver_of
from monitor.reader.netguard import Blocked as Blocked  # raised by check_target
from monitor.reader.netguard import public_addresses as public_addresses  # the policy's ranges

PERMANENT = (301, 308)
FEED_TYPES = (
    "application/atom+xml, application/rss+xml, application/rdf+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
REDIRECTS = (301, 302, 303, 307, 308)


class FetchResult(NamedTuple):
    url: str  # the URL finally answered
    status: int | None  # HTTP status, None when no response came
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    permanent_url: str | None = None  # where a permanent redirect chain ended
    error_kind: str | None = None  # dns | connect | tls | timeout | http | too_large | redirect
    error: str | None = None
    elapsed: float = 0.0
    retry_after: float | None = None  # seconds the server asked us to wait (429/503)
    fresh_for: float | None = None  # seconds the server says the response stays fresh

    @property
    def ok(self) -> bool:
        return self.error_kind is None and self.status == 200

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True)
class FetchLimits:
    timeout: float = 30.0
    connect_timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "monitor"
    allow_private: bool = True  # False: refuse hosts resolving to non-public addresses


async def check_target(session: aiohttp.ClientSession, url: str, proxy: str | None) -> bool:
    """The private-address check of one request under `allow_private = false`; raises
    `Blocked`. An IP literal is checked here (no resolver sees it). A name is resolved and
    checked here through the connector's resolver and its cache: the request may reuse a
    pooled connection, which resolves nothing (one an alert sink opened to the same host),
    and through a proxy the proxy resolves it. Returns True when the request itself must
    run inside `guarding()`: a direct request to a name, whose every address the resolver
    checks again on the answer the connector connects to (no rebinding in between)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    resolver = resolver_of(session)
    if resolver is None:
        raise Blocked(f"{host}: the HTTP session has no resolver to check addresses, {REFUSED}")
    if check_literal(host):
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await resolver.resolve_checked(host, port)
    except OSError as exc:
        raise socket.gaierror(exc.errno, exc.strerror or str(exc)) from exc
    return proxy is None


@functools.lru_cache(maxsize=8)
def _client_timeout(total: float, connect: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total, sock_connect=connect)


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    limits: FetchLimits,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    proxy: str | None = None,
    accept: str = FEED_TYPES,
) -> FetchResult:
    started = time.monotonic()
    headers = {"User-Agent": limits.user_agent, "Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeout = _client_timeout(limits.timeout, limits.connect_timeout)

    def failed(kind: str, message: str, status: int | None = None) -> FetchResult:
        return FetchResult(
            url=current,
            status=status,
            error_kind=kind,
            error=message,
            elapsed=time.monotonic() - started,
        )

    current = url
    permanent: str | None = None
    all_permanent = True
    # one deadline for the whole fetch, redirects and DNS included; aiohttp's own total
    # timeout covers each request with its body (cheaper than a second timer per poll)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.timeout
    try:
        for hop in range(limits.max_redirects + 1):
            if hop:  # a redirect: the next request gets what is left of the total
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError
                timeout = aiohttp.ClientTimeout(
                    total=remaining, sock_connect=limits.connect_timeout
                )
            guard = False
            if not limits.allow_private:  # checked on every hop, on the addresses used
                guard = await asyncio.wait_for(
                    check_target(session, current, proxy), max(0.001, deadline - loop.time())
                )
            with guarding(guard):
                resp = await session.get(
                    current, headers=headers, allow_redirects=False, timeout=timeout, proxy=proxy
                )
            async with resp:
                fresh = freshness(
                    resp.headers.get("Cache-Control"), resp.headers.get("Expires"), time.time()
                )
                if resp.status in REDIRECTS:
                    location = resp.headers.get("Location")
                    if not location:
                        return failed(
                            "redirect", f"HTTP {resp.status} without a Location", resp.status
                        )
                    target = urljoin(current, location)
                    if urlsplit(target).scheme not in ("http", "https"):
                        return failed(
                            "redirect", f"redirect to a non-HTTP URL: {target}", resp.status
                        )
                    all_permanent = all_permanent and resp.status in PERMANENT
                    if all_permanent:
                        permanent = target
                    current = target
                    continue
                if resp.status == 304:
                    return FetchResult(
                        url=current,
                        status=304,
                        etag=resp.headers.get("ETag") or etag,
                        last_modified=resp.headers.get("Last-Modified") or last_modified,
                        permanent_url=permanent,
                        elapsed=time.monotonic() - started,
                        fresh_for=fresh,
                    )
                if resp.status != 200:
                    return FetchResult(
                        url=current,
                        status=resp.status,
                        error_kind="http",
                        error=f"HTTP {resp.status} {resp.reason or ''}".strip(),
                        permanent_url=permanent,
                        elapsed=time.monotonic() - started,
                        retry_after=retry_after(resp.headers.get("Retry-After"), time.time())
                        if resp.status in (429, 503)
                        else None,
                    )
                declared = resp.content_length
                # a compressed length over the limit means a larger body still
                if declared is not None and declared > limits.max_bytes:
                    return failed(
                        "too_large",
                        f"Content-Length {declared} exceeds the limit of {limits.max_bytes} bytes",
                        resp.status,
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > limits.max_bytes:
                        return failed(
                            "too_large",
                            f"body exceeds the limit of {limits.max_bytes} bytes",
                            resp.status,
                        )
                    chunks.append(chunk)
                return FetchResult(
                    url=current,
                    status=200,
                    body=b"".join(chunks),
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                    content_type=resp.headers.get("Content-Type"),
                    permanent_url=permanent,
                    elapsed=time.monotonic() - started,
                    fresh_for=fresh,
                )
        return failed("redirect", f"more than {limits.max_redirects} redirects")
    except Blocked as exc:
        return failed("blocked", str(exc))
    except socket.gaierror as exc:
        return failed("dns", f"cannot resolve {urlsplit(current).hostname}: {exc}")
    except TimeoutError:
        return failed("timeout", f"no complete answer within {limits.timeout:g}s")
    except aiohttp.ClientConnectorCertificateError as exc:
        return failed("tls", f"certificate error: {exc.certificate_error}")
    except aiohttp.ClientConnectorDNSError as exc:
        return failed("dns", f"cannot resolve {urlsplit(current).hostname}: {exc.os_error}")
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, socket.gaierror):
            return failed("dns", f"cannot resolve {urlsplit(current).hostname}: {exc.os_error}")
        return failed(
            "connect",
            f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}",
        )
    except ssl.SSLError as exc:
        return failed("tls", f"TLS error: {exc}")
    except aiohttp.ClientPayloadError as exc:
        return failed("http", f"broken response body: {exc}")
    except aiohttp.InvalidURL as exc:
        return failed("connect", f"invalid URL: {exc}")
    except aiohttp.ClientError as exc:
        return failed("http", f"{type(exc).__name__}: {exc}")
