"""`monitor alerts list | show ID | retry ID…|--all`: the outbox and its delivery log.

Works on the store directly (SQLite in WAL mode, so alongside a running daemon): a re-queued
dead letter is due at once and the daemon's delivery loop sends it within a second, under
its original id.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any, TypeVar

from monitor.cli.util import with_store
from monitor.clock import iso
from monitor.models import STORY_EVENTS

T = TypeVar("T")
STATES = ("pending", "delivered", "dead", "held", "digested")


def register(sub: Any, default_config: str) -> None:
    """Add `alerts` and its subcommands to the top-level subparsers."""
    p = sub.add_parser("alerts", help="list, show and re-queue alerts (the delivery log)")
    asub = p.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", default=default_config, help=f"(default {default_config})")
        q.add_argument("--json", action="store_true", help="print JSON")

    q = asub.add_parser("list", help="recent alerts, newest first")
    common(q)
    q.add_argument("--state", choices=STATES, help="only alerts in this state")
    q.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    q.set_defaults(func=cmd_list)

    q = asub.add_parser("show", help="one alert: its payload and every delivery attempt")
    common(q)
    q.add_argument("id", help="the alert id (msg_…, the webhook-id)")
    q.set_defaults(func=cmd_show)

    q = asub.add_parser("retry", help="re-queue dead letters (same id, fresh attempts)")
    q.add_argument("--config", default=default_config, help=f"(default {default_config})")
    q.add_argument("ids", nargs="*", metavar="ID", help="dead alerts to re-queue")
    q.add_argument("--all", action="store_true", help="re-queue every dead letter")
    q.set_defaults(func=cmd_retry)


def _title(a: dict[str, Any]) -> str:
    d = a["data"]
    if a["event"] in STORY_EVENTS:
        return str(d.get("story", {}).get("title") or "")
    if a["event"] == "topic.digest":
        return f"digest of {d.get('count', 0)} stories ({d.get('folded', 0)} folded)"
    feed = d.get("feed", {})
    return str(feed.get("name") or feed.get("url") or "")


def _ts(ts: float | None) -> str:
    return iso(ts) or "-"


def _public(a: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in a.items() if k not in ("attempts_log",)}
    for k in ("created_at", "next_attempt_at", "delivered_at", "queued_at"):
        out[k] = iso(out.get(k))
    out["attempts_log"] = [
        {**x, "at": iso(x["at"]), "latency_ms": _ms(x["latency"])} for x in a["attempts_log"]
    ]
    for x in out["attempts_log"]:
        x.pop("latency", None)
    return out


def _ms(latency: float | None) -> float | None:
    return None if latency is None else round(latency * 1000, 1)


def cmd_list(args: argparse.Namespace) -> int:
    async def job(store: Any, _cfg: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await store.alert_log(args.state, args.limit)
        return rows

    rows = with_store(args.config, job)
    if isinstance(rows, int):
        return rows
    if args.json:
        print(json.dumps([_public(a) for a in rows], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no alerts" + (f" in state {args.state}" if args.state else ""))
        return 0
    print(
        f"{'ID':<33} {'STATE':<9} {'EVENT':<14} {'TOPIC':<20} {'SINK':<10} {'TRIES':>5}  "
        f"{'CREATED':<20}  TITLE / LAST ERROR"
    )
    for a in rows:
        detail = _title(a)
        if a["state"] in ("pending", "dead") and a["last_error"]:
            detail = f"{detail}  [{a['last_error']}]"
        print(
            f"{a['id']:<33} {a['state']:<9} {a['event']:<14} {(a['topic_id'] or '-')[:20]:<20} "
            f"{a['sink_id'][:10]:<10} {a['attempts']:>5}  {_ts(a['created_at']):<20}  {detail}"
        )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    async def job(store: Any, _cfg: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await store.alert_log(alert_id=args.id, limit=1)
        return rows

    rows = with_store(args.config, job)
    if isinstance(rows, int):
        return rows
    if not rows:
        print(f"error: no alert {args.id!r}", file=sys.stderr)
        return 1
    a = rows[0]
    if args.json:
        print(json.dumps(_public(a), indent=2, ensure_ascii=False))
        return 0
    print(f"alert      {a['id']}")
    print(f"event      {a['event']}")
    print(f"state      {a['state']}" + (f" (in digest {a['digest_id']})" if a["digest_id"] else ""))
    print(f"topic      {a['topic_id'] or '-'}")
    print(f"sink       {a['sink_id']}")
    print(f"created    {_ts(a['created_at'])}")
    if a["queued_at"]:
        print(f"re-queued  {_ts(a['queued_at'])}")
    if a["state"] == "pending":
        print(f"next try   {_ts(a['next_attempt_at'])}")
    if a["delivered_at"]:
        print(f"delivered  {_ts(a['delivered_at'])}")
    if a["last_error"]:
        print(f"last error {a['last_error']}")
    print(f"title      {_title(a)}")
    print(f"attempts   {a['attempts']}")
    for x in a["attempts_log"]:
        status = x["status"] if x["status"] is not None else "-"
        latency = f"{_ms(x['latency'])} ms" if x["latency"] is not None else "-"
        print(
            f"  #{x['attempt']:<3} {_ts(x['at'])}  status {status:<4} {latency:>10}  "
            f"{x['error'] or 'ok'}"
        )
    print("data")
    print(json.dumps(a["data"], indent=2, ensure_ascii=False))
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    if args.all == bool(args.ids):
        print("error: give alert ids or --all (not both)", file=sys.stderr)
        return 2

    async def job(store: Any, _cfg: Any) -> list[str]:
        now = datetime.now(UTC).timestamp()
        done: list[str] = await store.requeue_dead(None if args.all else args.ids, now)
        return done

    done = with_store(args.config, job)
    if isinstance(done, int):
        return done
    for alert_id in done:
        print(f"re-queued {alert_id}")
    missing = [] if args.all else [i for i in args.ids if i not in done]
    for alert_id in missing:
        print(f"error: {alert_id} is not a dead letter (see monitor alerts show)", file=sys.stderr)
    if args.all:
        print(f"{len(done)} dead letters re-queued")
    return 1 if missing else 0
