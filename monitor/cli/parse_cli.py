"""`monitor parse FILE|URL [--json]`: what the monitor makes of one feed document."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from monitor.reader.parse import ParseError
from monitor.reader.parsestage import parse_and_normalize


async def _download(url: str) -> tuple[bytes, str, str | None]:
    import aiohttp

    from monitor import __version__

    timeout = aiohttp.ClientTimeout(total=30)
    headers = {"User-Agent": f"monitor/{__version__}"}
    async with (
        aiohttp.ClientSession(timeout=timeout, headers=headers) as session,
        session.get(url) as resp,
    ):
        body = await resp.content.read(50 * 1024 * 1024)
        return body, str(resp.url), resp.headers.get("Content-Type")


def cmd_parse(args: argparse.Namespace) -> int:
    source: str = args.source
    try:
        if source.startswith(("http://", "https://")):
            body, url, content_type = asyncio.run(_download(source))
        else:
            body, url, content_type = Path(source).read_bytes(), "", None
    except (OSError, Exception) as exc:
        print(f"error: cannot read {source}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    content_type = args.content_type or content_type
    try:
        result = parse_and_normalize(body, args.base or url, content_type, args.max_entries)
    except ParseError as exc:
        print(f"error: {exc.kind}: {exc}", file=sys.stderr)
        return 1
    feed = result.feed
    rows: list[dict[str, Any]] = [
        {
            "key": e.key,
            "link": e.link,
            "title": e.title,
            "summary": e.summary,
            "published": e.published.isoformat() if e.published else None,
            "author": e.author,
        }
        for e in result.entries
    ]
    if args.json:
        doc = {
            "title": feed.title,
            "version": feed.version,
            "parser": feed.parser,
            "warning": feed.warning,
            "entries": rows,
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return 0
    print(f"{feed.title or '(untitled)'}  [{feed.version}, read by {feed.parser}]")
    if feed.warning:
        print(f"warning: {feed.warning}")
    for r in rows:
        print(f"\n{r['title']}\n  key:       {r['key']}\n  link:      {r['link']}")
        print(f"  published: {r['published']}\n  author:    {r['author']}")
        summary = r["summary"]
        print(f"  summary:   {summary[:300]}{'…' if len(summary) > 300 else ''}")
    print(f"\n{len(rows)} entries")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("parse", help="print the normalized entries of one feed document")
    p.add_argument("source", metavar="FILE|URL")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--content-type", help="as if served with this Content-Type")
    p.add_argument("--base", default="", help="resolve relative links against this URL")
    p.add_argument("--max-entries", type=int, default=1000)
    p.set_defaults(func=cmd_parse)
