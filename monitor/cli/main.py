"""Command line: `monitor run | check-config | poll-once | healthcheck | backtest | …`.

Every command that reads a configuration takes `--config PATH`; without it, the path in the
environment variable MONITOR_CONFIG; without that, config/monitor.toml. (`check-config`
also takes the path as its argument.)

Exit codes: 0 success, 1 runtime failure (store cannot be opened, daemon unhealthy, …),
2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from monitor import __version__, logs
from monitor.cli.util import load_or_report, settings_or_report
from monitor.topics.compiled import Settings

DEFAULT_CONFIG = "config/monitor.toml"
CONFIG_ENV = "MONITOR_CONFIG"
HEALTH_TIMEOUT = 5.0  # seconds for the whole healthcheck request


def default_config() -> str:
    """The configuration path of a command given no --config: $MONITOR_CONFIG, else
    config/monitor.toml."""
    return os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_or_report(args.config)
    if settings is None:
        return 2
    logs.configure(settings.config.log_level)
    from monitor.service.daemon import run

    return asyncio.run(run(settings, logs.get("monitor")))


def cmd_check_config(args: argparse.Namespace) -> int:
    if args.path and args.config and args.path != args.config:
        print(
            f"error: two configurations given ({args.path} and --config {args.config}): give one",
            file=sys.stderr,
        )
        return 2
    settings = settings_or_report(args.path or args.config or default_config())
    if settings is None:
        return 2
    cfg = settings.config
    print(
        f"{cfg.source}: OK ({len(cfg.feeds)} feeds, {len(cfg.topics)} topics, "
        f"{len(cfg.sinks)} sinks; store {cfg.storage.display})"
    )
    for t in settings.topics:
        if t.profile is not None:
            top = ", ".join(term for term, _ in t.profile.top(8))
            print(
                f"  topic {t.id}: match {t.match}, threshold {t.profile_threshold:g}; profile of "
                f"{t.profile.seeds} seeds, {len(t.profile.weights)} terms, led by: {top}"
            )
        if t.exclude_profile is not None:
            top = ", ".join(term for term, _ in t.exclude_profile.top(8))
            print(
                f"  topic {t.id}: excludes stories closer to {t.exclude_profile.seeds} "
                f"exclude_seeds ({len(t.exclude_profile.weights)} terms, led by: {top}) than "
                f"to its seeds, at {t.profile_threshold:g} or more"
            )
    from monitor.topics.semantic import model_folder

    gated = [f"{t.id} at {t.semantic_at:g}" for t in cfg.topics if t.semantic_at is not None]
    folder, _ = model_folder(cfg.detection)
    if gated and folder is not None:
        # whether it would load is said, not judged: the model is optional (the daemon runs
        # on the lexical rule alone without it); `monitor semantic check` loads it
        state = "installed" if folder.is_dir() else "not installed: monitor semantic install"
        print(f"  semantic model {folder} ({state}) gates {', '.join(gated)}")
    return 0


def cmd_poll_once(args: argparse.Namespace) -> int:
    settings = settings_or_report(args.config)
    if settings is None:
        return 2
    logs.configure(settings.config.log_level, stream=sys.stderr)
    return asyncio.run(_poll_once(settings, args.json))


async def _poll_once(settings: Settings, as_json: bool) -> int:
    from monitor.cli.progress import bar
    from monitor.clock import SystemClock
    from monitor.service.daemon import open_service
    from monitor.store import StoreError

    log = logs.get("monitor")
    try:
        async with open_service(settings, SystemClock(), log) as service:
            feeds = len(await service.store.active_feeds())
            with bar(feeds, "polling", unit="feeds") as polls:
                outcomes = await service.poll_all(progress=lambda _o: polls.update(1))
            due = (await service.store.alert_counts())["pending"]
            with bar(due, "delivering", unit="alerts") as sends:
                sent = await service.deliverer.deliver_all(progress=sends.update)
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
                {
                    "feeds": rows,
                    "alerts_delivered": sent.delivered,
                    "alerts_failed": sent.failed,
                    "alerts_held": sent.held,
                    "alerts_pending": counts["pending"],
                },
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
            f"{sum(r['new'] for r in rows)} new stories; {sent.delivered} alerts delivered, "
            f"{sent.failed} failed, {sent.held} held for a digest, {counts['pending']} pending"
        )
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """GET the running daemon's /healthz: exit 0 when it answers 200, else 1 with the reason
    on stderr (for Docker's HEALTHCHECK, systemd or a monitoring probe). A configuration
    that does not load or an unusable URL is "unhealthy" too: 1, not 2 (Docker reserves 2;
    only a malformed command line exits 2, as for every command)."""
    from monitor.cli.healthcheck import check, url_from_config

    url = args.url
    if url is None:
        cfg = load_or_report(args.config)
        if cfg is None:  # exit 1, not 2: Docker reserves 2 in a HEALTHCHECK
            print(f"unhealthy: {args.config} does not load (above); or give --url", file=sys.stderr)
            return 1
        url, why = url_from_config(cfg)
        if url is None:
            print(f"unhealthy: {why}", file=sys.stderr)
            return 1
    ok, message = asyncio.run(check(url, args.timeout))
    print(message, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds between 0 and 300, e.g. 5")
    return value


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
    from monitor.cli.evaluate import run as evaluate
    from monitor.cli.progress import bar

    try:
        with bar(None, "evaluate", unit="stories", show=False if args.quiet else None) as shown:
            summary = evaluate(args.stories, args.out, progress=lambda _n: shown.update(1))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {args.stories}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


def _evaluate_stream(args: argparse.Namespace) -> int:
    from monitor.cli.evaluate_stream import run as replay
    from monitor.config import ConfigError

    if args.topic is None:
        print("error: --stream needs --topic ID (a topic of --config)", file=sys.stderr)
        return 2
    from monitor.cli.progress import bar

    try:
        with bar(None, "evaluate", unit="items", show=False if args.quiet else None) as shown:
            summary = replay(
                args.stream, args.config, args.topic, args.out,
                progress=lambda n, _total: shown.update(n),
            )  # fmt: skip
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"error: {args.stream}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.cli.demo import main as demo_main

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
    p.add_argument("path", nargs="?", default=None, help="the configuration (or --config)")
    p.add_argument("--config", default=None)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser(
        "healthcheck",
        help="exit 0 if the running daemon's /healthz answers 200, else 1 (containers, systemd)",
    )
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument(
        "--url",
        help="the daemon's base URL or /healthz URL (default: [server] listen of the config)",
    )
    p.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=HEALTH_TIMEOUT,
        help=f"seconds to wait for the answer (default {HEALTH_TIMEOUT:g})",
    )
    p.set_defaults(func=cmd_healthcheck)

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
    p.add_argument("--quiet", action="store_true", help="no progress bar on a terminal")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="show the whole path on bundled sample feeds, offline")
    p.add_argument("--keep", action="store_true", help="keep the demo's folder and print it")
    p.set_defaults(func=cmd_demo)

    from monitor.cli.alerts import register as register_alerts  # monitor alerts list|show|retry

    register_alerts(sub, DEFAULT_CONFIG)

    from monitor.cli.opml_cli import register as register_opml  # monitor import-opml|export-opml

    register_opml(sub, DEFAULT_CONFIG)

    from monitor.cli.parse_cli import register as register_parse  # monitor parse FILE|URL

    register_parse(sub)

    from monitor.cli.migrate import register as register_migrate  # monitor migrate --from --to

    register_migrate(sub)

    from monitor.cli.backtest import register as register_backtest  # monitor backtest --topic

    register_backtest(sub, DEFAULT_CONFIG)

    from monitor.cli.feedback_cli import register as register_feedback  # monitor topic feedback

    register_feedback(sub, DEFAULT_CONFIG)

    from monitor.cli.semantic_cli import register as register_semantic  # monitor semantic

    register_semantic(sub)
    _config_defaults(sub, default_config())
    return parser


def _config_defaults(sub: argparse._SubParsersAction[argparse.ArgumentParser], path: str) -> None:
    """Every command's --config (those registered from other modules and nested ones, as
    `alerts list`, too) defaults to `path` ($MONITOR_CONFIG, else config/monitor.toml)."""
    source = f"${CONFIG_ENV}: {path}" if os.environ.get(CONFIG_ENV) else path
    for command in sub.choices.values():
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                _config_defaults(action, path)
            elif "--config" in action.option_strings:
                if action.default is not None:  # check-config: None, its argument comes first
                    action.default = path
                action.help = f"the configuration file (default {source}; {CONFIG_ENV} sets it)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
