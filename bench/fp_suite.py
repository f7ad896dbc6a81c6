"""Run feedparser's own test documents (its sdist's tests/wellformed and tests/illformed)
through our parse stage and through feedparser's default parse; report how often the two
agree on entry count, titles and links (after the same normalization).

    .venv/bin/pip download --no-deps --no-binary :all: feedparser==6.0.11 -d /tmp/fp
    tar xzf /tmp/fp/feedparser-6.0.11.tar.gz -C /tmp/fp
    .venv/bin/python -m bench.fp_suite /tmp/fp/feedparser-6.0.11/tests [--show N]

feedparser's test files are BSD-2-Clause licensed (c) Kurt McKee and Mark Pilgrim; none is
copied into this repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import feedparser

from monitor.reader.normalize import absolute_link, html_to_text, normalize_entries
from monitor.reader.parse import ParseError, parse_feed

BASE = "http://127.0.0.1:8097/"


def theirs(body: bytes, url: str) -> list[tuple[str, str | None]]:
    d = feedparser.parse(body, response_headers={"content-location": url})
    return [
        (html_to_text(e.get("title", "") or ""), absolute_link(e.get("link"), url))
        for e in d.entries
    ]


def ours(body: bytes, url: str) -> list[tuple[str, str | None]]:
    try:
        parsed = parse_feed(body, url=url, max_entries=10_000)
    except ParseError:
        return []
    out = []
    for raw in parsed.entries:  # normalize each (no de-duplication by key, as feedparser)
        [e] = normalize_entries((raw,), url)
        out.append((e.title if html_to_text(raw.title) else "", e.link))
    return out


def compare(root: Path, show: int) -> dict[str, tuple[int, int, int, int]]:
    results = {}
    for kind in ("wellformed", "illformed"):
        files = sorted((root / kind).rglob("*.xml"))
        count = titles = links = 0
        shown = 0
        for path in files:
            body = path.read_bytes()
            url = BASE + str(path.relative_to(root))
            a, b = theirs(body, url), ours(body, url)
            same_count = len(a) == len(b)
            same_titles = same_count and [t for t, _ in a] == [t for t, _ in b]
            same_links = same_count and [x for _, x in a] == [x for _, x in b]
            count += same_count
            titles += same_titles
            links += same_links
            if not (same_count and same_titles and same_links) and shown < show:
                shown += 1
                print(f"--- {path.relative_to(root)}\n  feedparser {a}\n  ours       {b}")
        results[kind] = (len(files), count, titles, links)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.fp_suite")
    parser.add_argument("tests", type=Path, help="feedparser's tests/ folder")
    parser.add_argument("--show", type=int, default=0, help="print N disagreements")
    args = parser.parse_args(argv)
    for kind, (n, count, titles, links) in compare(args.tests, args.show).items():
        print(
            f"{kind}: {n} documents; agree on entry count {count} ({count / n:.1%}), "
            f"titles {titles} ({titles / n:.1%}), links {links} ({links / n:.1%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
