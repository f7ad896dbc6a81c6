"""What the package declares: every module monitor/ imports comes from the standard library,
the package itself, or a distribution named in pyproject's dependencies (an optional one
only for the sink that needs it), so `pip install monitor` without extras runs it all."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = {"apprise"}  # the `apprise` sink type: `pip install monitor[apprise]`


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (PEP 503)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def imported_modules() -> dict[str, set[str]]:
    """Top-level modules imported anywhere under monitor/, with the files importing them."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "monitor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_import_of_the_package_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(r) for r in project["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, files in imported_modules().items():
        if module in sys.stdlib_module_names or module in {"monitor", "__future__"}:
            continue
        names = {_name(d) for d in distributions.get(module, [module])}
        if not names & (declared | OPTIONAL):
            undeclared[module] = sorted(files)
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"


def test_the_full_text_extractor_s_own_imports_are_declared() -> None:
    """trafilatura imports lxml.html.clean, which lxml no longer contains (lxml_html_clean)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "lxml-html-clean" in {_name(r) for r in project["dependencies"]}


def test_the_shipped_seeds_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["monitor"]
    seeds = list((ROOT / "monitor" / "seeds").rglob("*.*"))
    assert seeds
    for seed in seeds:
        relative = seed.relative_to(ROOT / "monitor")
        assert any(relative.match(p) for p in patterns), f"{relative} is not shipped"
