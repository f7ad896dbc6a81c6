"""schemathesis against /api/openapi.json on a live server with data (a token configured,
so the POST calls are live too): every answer must match the document, no 5xx, invalid
input refused with a 4xx. Bounded in examples and time."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_TOKEN, WebServer


def st_command() -> list[str]:
    exe = Path(sys.executable).with_name("st")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("st")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("schemathesis is missing: it is a dev dependency")
        pytest.skip("schemathesis is not installed")
    return [found]


@pytest.mark.timeout(240)
async def test_schemathesis_finds_no_failure(
    web_factory: Callable[..., Any], tmp_path: Path
) -> None:
    command = st_command()
    server: WebServer = await web_factory(token=API_TOKEN)
    proc = await asyncio.create_subprocess_exec(
        *command,
        "run",
        server.url("/api/openapi.json"),
        "--header",
        f"Authorization: Bearer {API_TOKEN}",
        "--max-examples",
        "20",
        "--max-time",
        "30",
        "--seed",
        "1",
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--no-shrink",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 200)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-8000:]
