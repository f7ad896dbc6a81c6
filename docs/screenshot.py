"""Take docs/dashboard.png: the dashboard of `monitor demo` (the bundled sample feeds, polled
by the real daemon) in a headless Chromium, through Playwright (a dev dependency).

    python docs/screenshot.py [OUT.png]

Needs a Chromium on PATH (Debian: apt-get install chromium; Playwright downloads none)."""

from __future__ import annotations

import asyncio
import io
import shutil
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from monitor import logs
from monitor.cli.demo import run_demo
from monitor.service.core import Service

FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"]


async def shoot(service: Service, out: Path) -> None:
    assert service.listen is not None
    host, port = service.listen
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        sys.exit("chromium is not installed")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 860})
        await page.goto(f"http://{host}:{port}/", wait_until="networkidle")
        # the summary, the feeds and the first stories of the topic timeline
        clip = {"x": 0, "y": 0, "width": 1280, "height": 1440}
        await page.screenshot(path=str(out), full_page=True, clip=clip)
        await browser.close()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "dashboard.png")
    logs.configure("warning")
    with tempfile.TemporaryDirectory(prefix="monitor-screenshot-") as folder:
        code = asyncio.run(run_demo(Path(folder), io.StringIO(), lambda s: shoot(s, out)))
    print(f"{out}: {out.stat().st_size:,} bytes" if out.exists() else "no screenshot taken")
    return code


if __name__ == "__main__":
    sys.exit(main())
