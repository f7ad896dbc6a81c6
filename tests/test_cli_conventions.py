"""Command-line conventions: every command takes --config (check-config its argument too),
MONITOR_CONFIG is the default configuration path, and `monitor healthcheck` exits 0/1 on
the running daemon's /healthz."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from tests.conftest import DaemonProcess, FeedServer, free_port, rss, serve

HERE = Path(__file__).resolve().parent.parent


async def monitor(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    """`python -m monitor ARGS` (asynchronously: the test's servers keep serving)."""
    full_env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    full_env.update({"COLUMNS": "500", **(env or {})})  # help text on one line
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=full_env,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def pythonpath_env(**extra: str) -> dict[str, str]:
    """The environment of a command run from another folder: the checkout stays importable."""
    path = os.pathsep.join(p for p in [str(HERE), os.environ.get("PYTHONPATH", "")] if p)
    return {"PYTHONPATH": path, **extra}


async def test_check_config_takes_its_path_as_argument_or_as_config(
    config_factory: Callable[..., Path],
) -> None:
    config = config_factory([], "http://127.0.0.1:9/hook")
    for args in (["check-config", str(config)], ["check-config", "--config", str(config)]):
        code, out, err = await monitor(*args)
        assert code == 0, err
        assert out.startswith(f"{config}: OK")
    code, _, err = await monitor("check-config", str(config), "--config", "other.toml")
    assert code == 2 and "two configurations given" in err


async def test_monitor_config_is_the_default_path_and_config_overrides_it(
    tmp_path: Path, config_factory: Callable[..., Path]
) -> None:
    config = config_factory([], "http://127.0.0.1:9/hook")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = pythonpath_env(MONITOR_CONFIG=str(config))
    code, out, err = await monitor("check-config", env=env, cwd=elsewhere)
    assert code == 0, err
    assert out.startswith(f"{config}: OK")
    # a command registered from its own module (monitor/cli/opml_cli.py) reads it too
    code, out, err = await monitor("export-opml", env=env, cwd=elsewhere)
    assert code == 0, err
    assert "<opml" in out
    # --config comes first
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage\n")
    code, _, err = await monitor("check-config", "--config", str(bad), env=env, cwd=elsewhere)
    assert code == 2 and str(bad) in err and "not valid TOML" in err
    code, _, err = await monitor("export-opml", "--config", str(bad), env=env, cwd=elsewhere)
    assert code == 2 and str(bad) in err
    # without either: config/monitor.toml of the working folder
    code, _, err = await monitor("check-config", env=pythonpath_env(), cwd=elsewhere)
    assert code == 2 and "config/monitor.toml" in err and "no such file" in err
    code, out, _ = await monitor("poll-once", "--help", env=env, cwd=elsewhere)
    assert code == 0 and "MONITOR_CONFIG" in out and str(config) in out


async def test_healthcheck_is_0_against_a_running_daemon_and_1_against_none(
    feed_server: FeedServer,
    config_factory: Callable[..., Path],
    daemon_factory: Callable[[Path], DaemonProcess],
) -> None:
    url = feed_server.set("feed.xml", rss([{"guid": "1", "title": "Hello"}]))
    port = free_port()
    config = config_factory([url], "http://127.0.0.1:9/hook", listen=f"127.0.0.1:{port}")
    daemon = daemon_factory(config)
    await daemon.start()
    try:
        code, out, err = await monitor("healthcheck", "--config", str(config))
        assert code == 0, err
        assert out.startswith(f"healthy: http://127.0.0.1:{port}/healthz answered 200")
        code, _, err = await monitor("healthcheck", "--url", f"http://127.0.0.1:{port}")
        assert code == 0, err
        code, _, err = await monitor("healthcheck", env=pythonpath_env(MONITOR_CONFIG=str(config)))
        assert code == 0, err
    finally:
        assert await daemon.stop() == 0
    code, out, err = await monitor("healthcheck", "--config", str(config))
    assert code == 1 and out == ""
    assert f"unhealthy: cannot connect to http://127.0.0.1:{port}/healthz" in err


async def test_healthcheck_says_why_it_fails(
    tmp_path: Path, config_factory: Callable[..., Path]
) -> None:
    async def stalled(_request: web.Request) -> web.Response:
        return web.json_response({"status": "stalled"}, status=503)

    release = asyncio.Event()

    async def slow(_request: web.Request) -> web.Response:
        await release.wait()  # answers only after the healthcheck gave up
        return web.Response()

    app = web.Application()
    app.router.add_get("/healthz", stalled)
    app.router.add_get("/slow/healthz", slow)
    runner, port = await serve(app)
    try:
        code, _, err = await monitor("healthcheck", "--url", f"http://127.0.0.1:{port}/")
        assert code == 1 and f"http://127.0.0.1:{port}/healthz answered 503" in err
        assert "stalled" in err
        code, _, err = await monitor(
            "healthcheck", "--url", f"127.0.0.1:{port}/slow", "--timeout", "0.5"
        )
        assert code == 1 and "did not answer within 0.5 s" in err
    finally:
        release.set()
        await runner.cleanup()
    picked = config_factory([], "http://127.0.0.1:9/hook")  # listen = "127.0.0.1:0"
    code, _, err = await monitor("healthcheck", "--config", str(picked))
    assert code == 1 and "port 0" in err and "--url" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage\n")
    code, _, err = await monitor("healthcheck", "--config", str(bad))
    assert code == 1 and "not valid TOML" in err and "unhealthy" in err


def test_healthcheck_finds_the_daemon_from_the_listen_address(
    config_factory: Callable[..., Path],
) -> None:
    from monitor.cli.healthcheck import healthz_url, url_from_config
    from monitor.config import load

    for listen, url in [
        ("127.0.0.1:8080", "http://127.0.0.1:8080/healthz"),
        ("0.0.0.0:9100", "http://127.0.0.1:9100/healthz"),  # every address: ask loopback
        ("[::]:9100", "http://[::1]:9100/healthz"),
        ("[::1]:9100", "http://[::1]:9100/healthz"),
        ("monitor.internal:80", "http://monitor.internal:80/healthz"),
    ]:
        cfg = load(config_factory([], "http://127.0.0.1:9/hook", listen=listen))
        assert url_from_config(cfg) == (url, ""), listen
    off = config_factory([], "http://127.0.0.1:9/hook", extra="")
    off.write_text(off.read_text().replace("[server]\n", "[server]\nenabled = false\n"))
    found, why = url_from_config(load(off))
    assert found is None and "enabled = false" in why
    assert healthz_url("127.0.0.1:8080") == "http://127.0.0.1:8080/healthz"
    assert healthz_url("http://h:1/healthz") == "http://h:1/healthz"
    assert healthz_url("https://h/monitor/") == "https://h/monitor/healthz"


async def test_healthcheck_refuses_a_timeout_that_is_not_a_few_seconds() -> None:
    for bad in ("0", "-1", "soon", "3600"):
        code, _, err = await monitor("healthcheck", "--url", "127.0.0.1:9", "--timeout", bad)
        assert code == 2 and "--timeout" in err and repr(bad) in err, err
