"""Run the detectors over a labelled news stream and write one decision per story.

Input: JSON lines ``{"id", "published" (ISO date or datetime), "source", "url", "title",
"summary", ...}`` in publication order; only those fields are read (labels such as
``cluster_id`` are never looked at). Every story is treated as matching one topic.

Each story goes through :mod:`stories.dedup` (on its full text), then its body is stripped of the
prefix and suffix it shares with its source's recent bodies, and its headline of the segments
(the site's name) it shares with its source's recent headlines (:mod:`monitor.stories.boilerplate`),
before :mod:`monitor.detect.developments` assigns it to a development.

Output: JSON lines ``{"id", "new", "development", "duplicate_of"}`` for a scorer.

usage: python -m monitor.cli.evaluate STORIES.jsonl OUT.jsonl
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.detect.developments import Assignment, DevelopmentTracker
from monitor.stories.boilerplate import SiteTemplates
from monitor.stories.dedup import MemoryNearDupIndex, StoryText, check, fingerprint

ALLOWED_FIELDS = ("id", "published", "source", "url", "title", "summary")


def _published(value: str) -> datetime:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def read_stories(path: str | Path) -> Iterator[StoryText]:
    """Stories of a JSON-lines file, reading only :data:`ALLOWED_FIELDS`."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            raw: dict[str, Any] = json.loads(line)
            row = {k: raw.get(k) for k in ALLOWED_FIELDS}
            yield StoryText(
                id=str(row["id"]),
                published=_published(str(row["published"])),
                title=str(row["title"] or ""),
                text=str(row["summary"] or ""),
                source=str(row["source"] or ""),
                url=str(row["url"] or ""),
            )


def decide(
    stories: Iterable[StoryText], tracker: DevelopmentTracker
) -> Iterator[tuple[StoryText, Assignment, str | None, bool]]:
    """Each story (a repeated id is skipped) with its assignment, the earlier story it
    duplicates and whether its body is a site template, as the detection stage decides."""
    index = MemoryNearDupIndex()
    seen: dict[str, StoryText] = {}
    templates = SiteTemplates()
    for story in stories:
        if story.id in seen:
            continue
        fp = fingerprint(story)
        result = check(story, index, seen.get, fp=fp)
        dup = result.match.story_id if result.match else None
        title, body = templates.clean(story.source, story.title, story.text)
        assignment = tracker.assign(
            replace(story, title=title, text=body), duplicate_of=dup, template=result.template
        )
        index.add(story.id, fp.bands, fp.signature)
        seen[story.id] = story
        yield story, assignment, dup, result.template


def run(
    stories_path: str | Path,
    out_path: str | Path,
    *,
    progress: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """Stream the stories through dedup and development tracking; return summary counts."""
    started = time.perf_counter()
    counts = {"stories": 0, "new": 0, "duplicates": 0, "templates": 0}
    with open(out_path, "w", encoding="utf-8") as out:
        for story, assignment, dup, template in decide(
            read_stories(stories_path), DevelopmentTracker()
        ):
            decision = {
                "id": story.id,
                "new": assignment.is_new,
                "development": assignment.development_id,
                "duplicate_of": dup,
            }
            out.write(json.dumps(decision) + "\n")
            counts["stories"] += 1
            counts["new"] += assignment.is_new
            counts["duplicates"] += dup is not None
            counts["templates"] += template
            if progress is not None:
                progress(counts["stories"])
    return {**counts, "seconds": round(time.perf_counter() - started, 2)}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    print(json.dumps(run(argv[1], argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
