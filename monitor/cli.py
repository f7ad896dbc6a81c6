"""Command line: `monitor run | check-config | poll-once | backtest | evaluate | demo | …`.

Exit codes: 0 success, 1 runtime failure (store cannot be opened, …), 2 bad configuration
or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from monitor import __version__, logs
from monitor.cliutil import load_or_report
from monitor.config import Config

DEFAULT_CONFIG = "config/monitor.toml"


def cmd_run(args: argparse.Namespace) -> int:
    cfg = load_or_report(args.config)
    if cfg is None:
        return 2
    logs.configure(cfg.log_level)
    from monitor.daemon import run

    return asyncio.run(run(cfg, logs.get("monitor")))


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load_or_report(args.path)
    if cfg is None:
        return 2
    print(
        f"{cfg.source}: OK ({len(cfg.feeds)} feeds, {len(cfg.topics)} topics, "
        f"{len(cfg.sinks)} sinks; store {cfg.storage.display})"
    )
    for t in cfg.topics:
        if t.profile is not None:
            top = ", ".join(term for term, _ in t.profile.top(8))
            print(
                f"  topic {t.id}: match {t.match}, threshold {t.profile_threshold:g}; profile of "
                f"{t.profile.seeds} seeds, {len(t.profile.weights)} terms, led by: {top}"
            )
    return 0


def cmd_poll_once(args: argparse.Namespace) -> int:
    cfg = load_or_report(args.config)
    if cfg is None:
        return 2
    logs.configure(cfg.log_level, stream=sys.stderr)
    return asyncio.run(_poll_once(cfg, args.json))


async def _poll_once(cfg: Config, as_json: bool) -> int:
    from monitor.clock import SystemClock
    from monitor.daemon import open_service
    from monitor.store import StoreError

    log = logs.get("monitor")
    try:
        async with open_service(cfg, SystemClock(), log) as service:
            outcomes = await service.poll_all()
            delivered = await service.deliverer.deliver_due()
            counts = await service.store.alert_counts()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = [
        {
            "url": o.url,
            "result": o.result,
            "status": o.status,
            "new": o.ingest.new,
            "updated": o.ingest.updated,
            "alerts": o.ingest.alerts,
            "error": f"{o.error_kind}: {o.error}" if o.error else None,
        }
        for o in outcomes
    ]
    if as_json:
        print(
            json.dumps(
                {"feeds": rows, "alerts_delivered": delivered, "alerts_pending": counts["pending"]},
                indent=2,
            )
        )
    else:
        for r in rows:
            detail = r["error"] or (f"{r['new']} new, {r['updated']} updated, {r['alerts']} alerts")
            print(f"{r['result']:<13} {r['url']}  {detail}")
        errors = sum(1 for r in rows if r["result"] == "error")
        print(
            f"{len(rows)} feeds polled, {errors} failed; "
            f"{sum(r['new'] for r in rows)} new stories; {delivered} alerts delivered, "
            f"{counts['pending']} pending"
        )
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    cfg = load_or_report(args.config)
    if cfg is None:
        return 2
    from monitor.store import StoreError, open_store

    async def go() -> tuple[int, int]:
        store = await open_store(cfg.storage)
        try:
            return await store.vacuum()
        finally:
            await store.close()

    try:
        before, after = asyncio.run(go())
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{cfg.storage.display}: {before:,} -> {after:,} bytes")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Write one decision per story of a labelled stream: `--stories` (a story stream, every
    story of one topic: dedup and development tracking) or `--stream` (a topic stream's
    folder, replayed through the daemon with a configured topic)."""
    if (args.stories is None) == (args.stream is None):
        print("error: give --stories FILE.jsonl or --stream DIR", file=sys.stderr)
        return 2
    if args.stream is not None:
        return _evaluate_stream(args)
    from monitor.evaluate import run as evaluate

    def progress(n: int) -> None:
        if n % 250 == 0:
            print(f"\r{n} stories", end="", file=sys.stderr, flush=True)

    try:
        summary = evaluate(args.stories, args.out, progress=None if args.quiet else progress)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {args.stories}: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(file=sys.stderr)
    print(json.dumps(summary))
    return 0


def _evaluate_stream(args: argparse.Namespace) -> int:
    from monitor.config import ConfigError
    from monitor.evaluate_stream import run as replay

    if args.topic is None:
        print("error: --stream needs --topic ID (a topic of --config)", file=sys.stderr)
        return 2
    try:
        summary = replay(args.stream, args.config, args.topic, args.out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {args.stream}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import main as demo_main

    return demo_main(keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="monitor",
        description=(
            "Watch news feeds; be told once, promptly, when something new happens on the topics "
            "you track."
        ),
    )
    parser.add_argument("--version", action="version", version=f"monitor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the daemon until SIGTERM/SIGINT")
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"(default {DEFAULT_CONFIG})")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate a configuration file")
    p.add_argument("path", nargs="?", default=DEFAULT_CONFIG)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser(
        "poll-once", help="poll every feed once, run the pipeline, print a summary and exit"
    )
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"(default {DEFAULT_CONFIG})")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_poll_once)

    p = sub.add_parser("vacuum", help="compact the store (best with the daemon stopped)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"(default {DEFAULT_CONFIG})")
    p.set_defaults(func=cmd_vacuum)

    p = sub.add_parser(
        "evaluate", help="write dedup/development decisions for a labelled story stream"
    )
    p.add_argument(
        "--stories",
        metavar="FILE.jsonl",
        help="a story stream, one story a line: id, published, source, url, title, summary",
    )
    p.add_argument(
        "--stream",
        metavar="DIR",
        help="a topic stream's folder (DIR/items.jsonl), replayed through the daemon",
    )
    p.add_argument("--config", default=DEFAULT_CONFIG, help="with --stream: the topic's file")
    p.add_argument("--topic", metavar="ID", help="with --stream: the topic to evaluate")
    p.add_argument("--out", required=True, metavar="DECISIONS.jsonl")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="show the whole path on bundled sample feeds, offline")
    p.add_argument("--keep", action="store_true", help="keep the demo's folder and print it")
    p.set_defaults(func=cmd_demo)

    from monitor.alerts.cli import register as register_alerts  # monitor alerts list|show|retry

    register_alerts(sub, DEFAULT_CONFIG)

    from monitor.opml_cli import register as register_opml  # monitor import-opml|export-opml

    register_opml(sub, DEFAULT_CONFIG)

    from monitor.parse_cli import register as register_parse  # monitor parse FILE|URL

    register_parse(sub)

    from monitor.migrate import register as register_migrate  # monitor migrate --from --to

    register_migrate(sub)

    from monitor.backtest import register as register_backtest  # monitor backtest --topic

    register_backtest(sub, DEFAULT_CONFIG)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
