"""The alerts of the detection stage: what a `development.new`, `development.update` or
`story.matched` alert carries, and when a story's news is substantial enough for an update.

Pure functions. The data (the webhook payload's `data`) of every event has `topic`, `story`
and `matched_terms` (so renderers and digests read them alike); development events add the
`development` (id, headline, first seen, stories and sources so far), `match` (why it matched:
terms, similarity to the topic's seed profile, similarity to the development, what the match
rests on and whether it is strong enough to open a development on its own) and
`what_is_new` (the sentences of the story that earlier stories of the development did not
cover; all of them for a new development).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from monitor.clock import iso
from monitor.config import TopicConfig
from monitor.models import AlertDraft, DevelopmentRow, StoredStory, TopicMatch
from monitor.stories.textfeatures import names

# A sentence with a figure or a name in it reports a fact; two new sentences are news anyway.
MIN_NEW_SENTENCES = 2
_DIGIT = re.compile(r"\d")


def substantial(what_is_new: Sequence[str]) -> bool:
    """Whether the sentences a story adds to its development make news of their own: at least
    two, or one that carries a figure or a name (not just the headline reworded)."""
    body = list(what_is_new[1:]) if len(what_is_new) > 1 else list(what_is_new)
    if len(body) >= MIN_NEW_SENTENCES:
        return True
    return any(_DIGIT.search(s) or names(s) for s in body)


def story_data(story: StoredStory) -> dict[str, Any]:
    return {
        "id": story.id,
        "title": story.title,
        "link": story.link,
        "source": story.feed_name or urlsplit(story.feed_url).hostname,
        "feed_url": story.feed_url,
        "published": iso(story.published) if story.published is not None else None,
        "summary": story.summary[:2000],
        "author": story.author,
    }


def development_data(row: DevelopmentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "headline": row.headline,
        "first_seen": iso(row.first_seen_at),
        "stories": row.stories,
        "sources": row.sources,
    }


MATCH_BASES = ("query and profile", "query", "profile")  # what a match rests on
MATCH_STRENGTHS = ("strong", "weak")  # whether it could open a development on its own


def match_basis(match: TopicMatch, threshold: float) -> str:
    """What a match rests on: "query and profile", "query" (the story is farther from the seed
    profile than the topic's threshold, or the topic has no seeds) or "profile" (no query term
    matched)."""
    close = match.similarity is not None and match.similarity >= threshold
    if match.terms:
        return "query and profile" if close else "query"
    return "profile"


def alert_drafts_for(
    topic: TopicConfig,
    event: str,
    row: DevelopmentRow,
    story: StoredStory,
    match: TopicMatch,
    similarity: float,
    what_is_new: Sequence[str],
    *,
    revised: bool = False,
    strong: bool = True,
    semantic: float | None = None,
) -> list[AlertDraft]:
    """One alert of `event` per sink of the topic. `strong`: the match could open a
    development on its own (monitor.detect.detection.opens); a weak one says so in `match`."""
    data: dict[str, Any] = {
        "topic": {"id": topic.id, "name": topic.name},
        "story": story_data(story),
        "matched_terms": list(match.terms),
    }
    if match.similarity is not None:
        data["similarity"] = round(match.similarity, 3)
    if event != "story.matched":
        profile = match.similarity
        data["development"] = development_data(row)
        data["match"] = {
            "terms": list(match.terms),
            "profile_similarity": None if profile is None else round(profile, 3),
            "development_similarity": round(similarity, 3),
            "basis": match_basis(match, topic.profile_threshold),
            "strength": "strong" if strong else "weak",
        }
        if semantic is not None:  # the semantic gate weighed it (monitor/topics/semantic.py)
            data["match"]["semantic_similarity"] = round(semantic, 3)
        data["what_is_new"] = list(what_is_new)
        if revised:
            data["revision"] = story.revision
    return [AlertDraft(topic.id, s, event, data) for s in topic.sinks]
