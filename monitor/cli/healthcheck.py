"""`monitor healthcheck`: is the running daemon healthy? GET its /healthz (200 while the main
loop runs and the scheduler ticks) with a short timeout, as a container's HEALTHCHECK or a
systemd/monitoring probe does; the address comes from [server] listen, or --url."""

from __future__ import annotations

import aiohttp

from monitor.config import Config

WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def url_from_config(cfg: Config) -> tuple[str | None, str]:
    """The /healthz URL of the daemon that runs `cfg`, or None and why there is none."""
    server = cfg.server
    if not server.enabled:
        return None, f"{cfg.source}: [server] enabled = false: the daemon serves no /healthz"
    if server.port == 0:
        return None, (
            f"{cfg.source}: [server] listen has port 0 (a free port picked at start): "
            "give the daemon's address with --url"
        )
    host = WILDCARDS.get(server.host, server.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server.port}/healthz", ""


def healthz_url(url: str) -> str:
    """`url` as given to --url: a base URL gets /healthz appended."""
    if "://" not in url:
        url = "http://" + url
    return url if url.rstrip("/").endswith("/healthz") else url.rstrip("/") + "/healthz"


async def check(url: str, timeout: float) -> tuple[bool, str]:
    """(healthy, a line saying so or why not)."""
    url = healthz_url(url)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            body = (await response.text(errors="replace")).strip()
            if response.status == 200:
                return True, f"healthy: {url} answered 200 {body[:200]}"
            return False, f"unhealthy: {url} answered {response.status} {body[:200]}".rstrip()
    except TimeoutError:
        return False, f"unhealthy: {url} did not answer within {timeout:g} s"
    except aiohttp.ClientConnectorError as exc:
        return False, f"unhealthy: cannot connect to {url}: {exc.os_error or exc}"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return False, f"unhealthy: {url}: {type(exc).__name__}: {exc}"
