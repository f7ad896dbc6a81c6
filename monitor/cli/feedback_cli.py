"""`monitor topic feedback`: mark a story relevant or not relevant for a topic, list a
topic's feedback, take a verdict back.

Works on the store directly (SQLite in WAL mode, so alongside a running daemon; or the
shared PostgreSQL store): the daemon notices new feedback at its next detection pass and
applies it to the stories detected from then on (monitor/topics/feedback.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from monitor.cli.util import with_store
from monitor.config import Config
from monitor.topics import feedback_actions
from monitor.topics.feedback import Feedback, FeedbackError


def register(sub: Any, default_config: str) -> None:
    p = sub.add_parser("topic", help="teach a topic: relevance feedback on its stories")
    tsub = p.add_subparsers(dest="topic_command", required=True, metavar="ACTION")
    q = tsub.add_parser(
        "feedback",
        help="mark a story relevant or not relevant for a topic; list or take back feedback",
        description="Stories detected after a story is marked 'not relevant' that are like it "
        "(cosine >= 0.5 of their term vectors, closer than to any story marked relevant) are "
        "not matched by the topic; stories like a story marked 'relevant' are matched even "
        "when the query and seeds would not match them. Without a verdict: list the topic's "
        "feedback.",
    )
    q.add_argument("--config", default=default_config, help=f"(default {default_config})")
    q.add_argument("--topic", required=True, metavar="ID")
    target = q.add_mutually_exclusive_group()
    target.add_argument("--story", type=int, metavar="ID", help="the story (its id)")
    target.add_argument("--alert", metavar="ID", help="the story of this alert (msg_…)")
    target.add_argument("--delete", type=int, metavar="FEEDBACK_ID", help="take a verdict back")
    verdict = q.add_mutually_exclusive_group()
    verdict.add_argument("--relevant", dest="verdict", action="store_const", const="relevant")
    verdict.add_argument(
        "--not-relevant", dest="verdict", action="store_const", const="not_relevant"
    )
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_feedback)


def _line(f: Feedback) -> str:
    d = f.as_dict()
    story = f"story {f.story_id}" if f.story_id is not None else "story pruned"
    return f"{f.id:>5}  {d['created_at']}  {f.verdict:<12}  {story:<14}  {f.title}"


async def _run(args: argparse.Namespace, store: Any, cfg: Config) -> tuple[str, list[Feedback]]:
    if args.delete is not None:
        gone = await feedback_actions.take_back(store, cfg, args.topic, args.delete)
        return "taken back", [gone]
    if args.story is not None or args.alert is not None:
        if args.verdict is None:
            raise FeedbackError("say --relevant or --not-relevant")
        done = await feedback_actions.give(
            store, cfg, args.topic, args.verdict, time.time(),
            story_id=args.story, alert_id=args.alert,
        )  # fmt: skip
        return "recorded", [done]
    if args.verdict is not None:
        raise FeedbackError("name the story: --story ID or --alert ID")
    return "list", await feedback_actions.listing(store, cfg, args.topic)


def cmd_feedback(args: argparse.Namespace) -> int:
    try:
        done = with_store(args.config, lambda store, cfg: _run(args, store, cfg))
    except FeedbackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(done, int):
        return done
    what, rows = done
    if args.json:
        out: Any = [f.as_dict() for f in rows] if what == "list" else rows[0].as_dict()
        print(json.dumps(out, ensure_ascii=False, indent=2))
    elif what == "list":
        for f in rows:
            print(_line(f))
        print(f"{len(rows)} verdicts on topic {args.topic}")
    else:
        print(f"{what}: {_line(rows[0]).strip()}")
    return 0
