"""`monitor import-opml` and `monitor export-opml` (registered by `monitor.cli.main`).

Exit codes as everywhere: 0 success, 1 runtime failure (a file cannot be written), 2 bad
configuration, input or usage.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from monitor.cli.util import load_or_report
from monitor.config import ConfigError, load

DEFAULT_INTO = "feeds.d/imported.toml"  # relative to the configuration's folder


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], default_config: str) -> None:
    """Add the two commands to `monitor`'s subparsers."""
    p = sub.add_parser(
        "import-opml",
        help="add the feeds of an OPML file to a feeds file the configuration includes",
    )
    p.add_argument("file", metavar="FILE", help="the OPML file (e.g. a feed reader's export)")
    p.add_argument("--config", default=default_config, help=f"(default {default_config})")
    p.add_argument(
        "--into",
        metavar="FEEDS_FILE",
        help=f"the TOML feeds file to append to (default {DEFAULT_INTO} next to the "
        "configuration); a feeds_files glob of the configuration must match it",
    )
    p.set_defaults(func=cmd_import_opml)

    p = sub.add_parser("export-opml", help="write the configured feeds as OPML 2.0")
    p.add_argument("--config", default=default_config, help=f"(default {default_config})")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    p.set_defaults(func=cmd_export_opml)


def cmd_import_opml(args: argparse.Namespace) -> int:
    from monitor.cli import opml

    cfg = load_or_report(args.config)
    if cfg is None:
        return 2
    target = Path(args.into).resolve() if args.into else cfg.source.parent / DEFAULT_INTO
    if not opml.included_by(cfg, target):
        print(
            f"error: {cfg.source} does not read {target}: add this line to its top level "
            f"(above the first [table]), then run the command again:\n"
            f"    {opml.include_hint(cfg, target)}",
            file=sys.stderr,
        )
        return 2

    skipped: list[opml.Skipped] = []
    try:
        feeds = opml.read_opml(Path(args.file), skipped)
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except opml.OpmlError as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2

    previous = target.read_bytes() if target.exists() else None
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        result = opml.append_feeds(
            target,
            feeds,
            existing={f.url for f in cfg.feeds},
            comment=f"imported from {Path(args.file).name} on {stamp}",
        )
    except opml.OpmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if result.added:
        try:
            load(cfg.source)
        except ConfigError as exc:
            opml.restore(target, previous)
            print(
                f"error: with the imported feeds the configuration does not validate; "
                f"{target} is left as it was:",
                file=sys.stderr,
            )
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return 2

    print(
        f"{len(result.added)} feeds added to {target}; {len(result.already)} already "
        f"configured; {len(skipped)} skipped"
    )
    for feed in result.already:
        print(f"  already configured: {feed.url}")
    for note in skipped:
        print(f"  skipped: {note}")
    if result.added:
        print("a running daemon polls them after a reload (systemctl reload monitor, or SIGHUP)")
    return 0


def cmd_export_opml(args: argparse.Namespace) -> int:
    from monitor.cli import opml

    cfg = load_or_report(args.config)
    if cfg is None:
        return 2
    document = opml.write_opml(cfg.feeds, title=f"monitor feeds ({cfg.source.name})")
    if args.output in (None, "-"):
        sys.stdout.buffer.write(document)
        sys.stdout.flush()
        return 0
    try:
        opml.write_atomic(Path(args.output), document)
    except OSError as exc:
        print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{len(cfg.feeds)} feeds written to {args.output}", file=sys.stderr)
    return 0
