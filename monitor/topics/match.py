"""Topics: match a normalized story against every configured topic.

Queries and seed profiles are compiled once when the configuration loads (compiled.py); a story
is analyzed once (tokenized for the queries, and turned into one term vector for all the
profiles) and then matched against each topic by its match mode: its query, its profile
(cosine similarity at or above the topic's threshold), both, or either. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from monitor.models import TopicMatch
from monitor.topics.compiled import Topic, Topics
from monitor.topics.profile import ProfileIndex, StoryVector, is_match, story_vector
from monitor.topics.query import Fields, QueryIndex, analyze


def source_label(feed_name: str | None, feed_url: str, link: str | None) -> str:
    """What `source:` queries see and alerts show: the feed's name and the story's host."""
    host = urlsplit(link or feed_url).hostname or ""
    return " ".join(p for p in (feed_name, host) if p)


def match_topics(
    topics: Sequence[Topic],
    title: str,
    text: str,
    source: str,
    vector: StoryVector | None = None,
) -> list[TopicMatch]:
    """The topics a story (its title and text, from `source`) matches. Pass the compiled
    `Topics`: its profile and query indexes were built at load; for any other sequence they
    are built on each call. `vector`: the story's profile vector, if the caller has it."""
    if not topics:
        return []
    doc = analyze(Fields(title=title, body=text, source=source))
    if isinstance(topics, Topics):
        index, queries = topics.profiles, topics.queries
    else:
        index = ProfileIndex.build((t.id, t.profile) for t in topics if t.profile)
        queries = QueryIndex.build([t.query for t in topics])
    if index.keys:
        scores = index.scores(vector if vector is not None else story_vector(title, text))
    else:
        scores = {}
    possible = queries.candidates(doc)  # the queries whose anchors the story mentions
    out = []
    for number, topic in enumerate(topics):
        terms = None
        if topic.query is not None and number in possible:
            terms = topic.query.match(doc, anchored=True)
        similarity = scores.get(topic.id)
        if is_match(topic.match, terms is not None, similarity, topic.profile_threshold):
            out.append(TopicMatch(topic_id=topic.id, terms=terms or (), similarity=similarity))
    return out
