"""The README's install, as an operator follows it: a fresh venv, `pip install` of the package
(not editable, without the dev extras), the shipped configuration copied to another folder;
`check-config` accepts it, and the daemon (`monitor run`) polls a feed, fetches a story's
article page and extracts its text (trafilatura and what it imports must come with the
package), detects the story on the shipped topic and sends the alert.

Slow (it builds and installs the package: tens of seconds with a warm pip cache; the
registry must be reachable), so marked `slow`; it runs in `make test`. Feeds, pages and the
webhook receiver are local servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w
from aiohttp import ClientSession

from tests.conftest import DaemonProcess, FeedServer, Receiver, free_port, rss
from tests.test_fulltext import ARTICLE, page

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "monitor")  # what building the package reads
INSTALL_TIMEOUT = 600


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of an operator's shell: nothing pointing into this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MONITOR_CONFIG")}
    env.pop("VIRTUAL_ENV", None)
    env["HOME"] = env.get("HOME", str(tmp_path))  # pip's cache, if the machine has one
    env.pop("NOTIFY_SOCKET", None)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with the package installed from a copy of this checkout; its bin folder."""
    tmp = tmp_path_factory.mktemp("install")
    source = tmp / "source"
    source.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=skip)
        else:
            shutil.copy2(ROOT / name, source / name)
    venv = tmp / "venv"
    env = clean_env(tmp)
    deadline = time.monotonic() + INSTALL_TIMEOUT
    for command in (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)],
    ):
        res = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
            timeout=max(1.0, deadline - time.monotonic()),
            check=False,
        )
        assert res.returncode == 0, f"{' '.join(command)}:\n{res.stdout}\n{res.stderr}"
    return venv / "bin"


class InstalledDaemon(DaemonProcess):
    """`monitor run` of the installed package (its console script), from another folder."""

    def __init__(self, bin_dir: Path, config: Path, env: dict[str, str]) -> None:
        super().__init__(config, env)
        self.bin = bin_dir

    async def spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            str(self.bin / "monitor"),
            "run",
            "--config",
            str(self.config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**self.env, "PYTHONUNBUFFERED": "1"},
            cwd=self.config.parent,
        )

    async def start(self, timeout: float = 60.0) -> None:
        await super().start(timeout)


async def run(bin_dir: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(bin_dir / "monitor"),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_readme_install_runs_the_shipped_configuration(
    installed: Path, tmp_path: Path, feed_server: FeedServer, receiver: Receiver
) -> None:
    env = clean_env(tmp_path)
    # the package runs from the venv, not from this checkout
    proc = await asyncio.create_subprocess_exec(
        str(installed / "python"), "-c", "import monitor; print(monitor.__file__)",
        stdout=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    where = (await proc.communicate())[0].decode()
    assert str(ROOT) not in where and "site-packages" in where, where

    # cp config/monitor.toml /etc/monitor/ (here: another folder); check-config accepts it
    etc = tmp_path / "etc" / "monitor"
    etc.mkdir(parents=True)
    config = etc / "monitor.toml"
    shutil.copy(ROOT / "config" / "monitor.toml", config)
    code, out, err = await run(installed, env, "check-config", str(config))
    assert code == 0, err
    assert out.startswith(f"{config}: OK")
    assert "topic ukraine-security-guarantees: match either" in out and "2 seeds" in out

    # the copy pointed at local servers: one teaser feed whose article page is full text
    feed_server.set("robots.txt", b"User-agent: *\nAllow: /\n", content_type="text/plain")
    feed_server.set("world/drills.html", page("Pentagon plans drills", ARTICLE),
                    content_type="text/html")  # fmt: skip
    teaser = {"guid": "t1", "title": "Pentagon begins planning exercises with Ukraine",
              "link": feed_server.url("world/drills.html"),
              "description": "The US will hold drills with Ukraine."}  # fmt: skip
    feed_url = feed_server.set("teasers.xml", rss([teaser]))
    doc = tomllib.loads(config.read_text(encoding="utf-8"))
    port = free_port()
    doc["server"]["listen"] = f"127.0.0.1:{port}"
    doc["feeds"] = [{"url": feed_url, "name": "Local teasers", "full_text": True}]
    doc["sinks"][0]["url"] = receiver.url
    doc["delivery"]["backoff_base"] = "100ms"
    config.write_text(tomli_w.dumps(doc), encoding="utf-8")
    code, _, err = await run(installed, env, "check-config", "--config", str(config))
    assert code == 0, err

    daemon = InstalledDaemon(installed, config, env)
    try:
        await daemon.start()
        await daemon.wait_event("feed.polled", 60)
        fetched = await daemon.wait_event("fulltext.fetched", 60)
        assert fetched["url"] == feed_server.url("world/drills.html")
        [alert] = await receiver.wait_for(1, timeout=60)
        data = alert["json"]["data"]
        assert data["topic"]["id"] == "ukraine-security-guarantees"
        what = data["what_is_new"]
        assert any("Patriot batteries" in s for s in what), what  # read from the page
        async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}/status") as r:
            status = await r.json()
        [feed] = status["feeds"]
        assert feed["full_text"]["fetched"] == 1 and feed["full_text"]["failed"] == 0
        code, out, err = await run(installed, env, "healthcheck", "--config", str(config))
        assert code == 0, err
    finally:
        assert await daemon.stop() == 0
    assert not daemon.events("fulltext.retry"), daemon.events("fulltext.retry")

    # with the daemon stopped: poll-once, and MONITOR_CONFIG instead of --config
    code, out, err = await run(
        installed, {**env, "MONITOR_CONFIG": str(config)}, "poll-once", "--json"
    )
    assert code == 0, err
    [row] = json.loads(out)["feeds"]
    assert row["url"] == feed_url and row["error"] is None
