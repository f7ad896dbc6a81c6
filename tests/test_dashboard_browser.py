"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright with
`executable_path`; no browser download): the page loads with stored data, filtering feeds by
state works, a topic's timeline shows; a screenshot is kept in tests/artifacts/.

Skips without Chromium or Playwright on a developer's machine; fails under CI, where
`make system-deps` installs Chromium and `make test` the dev dependencies."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor import __version__
from tests.conftest import API_TOKEN, WebServer

ARTIFACTS = Path(__file__).parent / "artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed")
    return path


@pytest.fixture
async def browser_page(tmp_path: Path) -> Any:
    executable = chromium()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is missing: it is a dev dependency")
        pytest.skip("playwright is not installed")
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=FLAGS,
            viewport={"width": 1360, "height": 900},
            extra_http_headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda msg: errors.append(msg.text) if msg.type == "error" else None,
            )
            yield page, errors
        finally:
            await context.close()


async def test_dashboard_in_chromium_filters_feeds_and_shows_a_timeline(
    web_factory: Callable[..., Any], browser_page: Any
) -> None:
    page, errors = browser_page
    server: WebServer = await web_factory(token=API_TOKEN)
    response = await page.goto(server.url("/"))
    assert response.status == 200
    assert await page.title() == f"monitor {__version__}"
    # stored data: both feeds, the failing one first (worst first), and the alert counts
    states = await page.locator("table.feeds tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.state)"
    )
    assert states == ["failing", "ok"]
    assert await page.locator("#dead tbody tr").count() == 1
    assert "1 failing feed, 1 dead alert" in await page.locator(".verdict").inner_text()
    assert await page.locator("figure.spark svg rect").count() == 3 * 48
    # the automatic refresh offered by the script (the CSP allows exactly that script)
    assert await page.locator("#auto").is_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # filter by state: a link, so it works without JavaScript too
    await page.locator("nav.filters a.s-ok").click()
    await page.wait_for_load_state()
    assert "state=ok" in page.url
    states = await page.locator("table.feeds tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.state)"
    )
    assert states == ["ok"]
    await page.locator("nav.filters a.s-failing").click()
    await page.wait_for_load_state()
    assert await page.locator("table.feeds tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.state)"
    ) == ["failing"]
    # sorting is a link as well and keeps the filter
    await page.locator("table.feeds thead a", has_text="Last poll").click()
    await page.wait_for_load_state()
    assert "state=failing" in page.url and "sort=" in page.url

    # the topic's timeline: its matched stories, newest first, with the matched terms
    await page.locator("nav.tabs a", has_text="Ukraine security guarantees").click()
    await page.wait_for_load_state()
    headlines = await page.locator("ol.timeline .headline").all_inner_texts()
    assert set(headlines) == {
        "UK offers troops to guard Kyiv skies",
        "Russia rejects foreign troops in Ukraine",
    }
    assert await page.locator("ol.timeline .term").count() >= 2
    await page.locator("#topics").screenshot(path=str(ARTIFACTS / "dashboard-topic.png"))
    assert errors == []
