"""The README's first screen is the operator's: install, an eight-line configuration that
loads, check-config / poll-once / the unit, the dashboard's picture; then the two make
commands; design, detection and benchmarks are in docs/, linked from it."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.config import load

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def test_the_first_sections_are_for_operators_then_the_two_commands() -> None:
    headings = re.findall(r"^## (.+)$", README, flags=re.MULTILINE)
    assert headings[:4] == [
        "Install",
        "Configure",
        "Check, poll once, run as a service",
        "Development: the two commands",
    ]
    for kept in ("Commands", "Configuration", "Operations", "Full text", "Alerts"):
        assert kept in headings
    first_screen = README[: README.index("\n## Development")]
    for words in (
        "pip install .",
        "check-config",
        "poll-once",
        "monitor.service",
        "healthcheck",
    ):
        assert words in first_screen, words


def test_the_dashboard_picture_is_shown_and_small() -> None:
    [image] = re.findall(r"!\[[^]]+\]\(([^)]+)\)", README[: README.index("\n## Install")])
    path = ROOT / image
    assert path.suffix == ".png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size < 300 * 1024


def test_the_eight_line_configuration_loads(tmp_path: Path) -> None:
    [block] = re.findall(r"```toml\n(.*?)```", section("Configure"), flags=re.DOTALL)
    assert len(block.strip().splitlines()) == 8
    path = tmp_path / "monitor.toml"
    # the store where the test may write; everything else as printed
    path.write_text(block.replace("sqlite:////var/lib/monitor/", "sqlite:///"), encoding="utf-8")
    cfg = load(path)
    assert [f.url for f in cfg.feeds] == ["https://feeds.bbci.co.uk/news/world/europe/rss.xml"]
    assert cfg.topics[0].sinks == ("phone",) and cfg.sinks[0].type == "ntfy"


def test_moved_documentation_is_linked_and_there() -> None:
    for name in ("design.md", "detection.md", "benchmarks.md"):
        assert f"(docs/{name})" in README
        text = (ROOT / "docs" / name).read_text(encoding="utf-8")
        assert text.startswith("# ") and "(../README.md" in text
    assert "## Modules" in (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    for link in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / link).exists(), link
