"""Giving and taking back relevance feedback (monitor/topics/feedback.py): the checks the API, the
dashboard and `monitor topic feedback` share, over a store."""

from __future__ import annotations

from typing import Any, Protocol

from monitor.config import Config
from monitor.topics.feedback import Feedback, FeedbackError, check_verdict


class NotFound(FeedbackError):
    """The topic, story, alert or feedback named does not exist (404 in the API)."""


class FeedbackStore(Protocol):
    async def add_feedback(
        self, topic_id: str, story_id: int, verdict: str, now: float, alert_id: str | None = None
    ) -> Feedback | None: ...

    async def feedback(self, topic_id: str | None = None) -> list[Feedback]: ...

    async def delete_feedback(self, topic_id: str, feedback_id: int) -> Feedback | None: ...

    async def alert_log(
        self, state: str | None = None, limit: int = 50, alert_id: str | None = None
    ) -> list[dict[str, Any]]: ...


def check_topic(config: Config, topic_id: str) -> None:
    if config.topic(topic_id) is None:
        known = ", ".join(t.id for t in config.topics) or "none are configured"
        raise NotFound(f"no topic {topic_id!r} (known: {known})")


async def give(
    store: FeedbackStore,
    config: Config,
    topic_id: str,
    verdict: Any,
    now: float,
    *,
    story_id: int | None = None,
    alert_id: str | None = None,
) -> Feedback:
    """Record `verdict` on a story (or on the story of an alert of the topic) for a
    configured topic; a verdict given again on the same story replaces the first. Raises
    NotFound (no such topic, story or alert) or FeedbackError (anything else wrong)."""
    check_topic(config, topic_id)
    verdict = check_verdict(verdict)
    if (story_id is None) == (alert_id is None):
        raise FeedbackError("name the story (story_id) or the alert (alert_id), one of the two")
    if alert_id is not None:
        found = await store.alert_log(alert_id=alert_id, limit=1)
        if not found:
            raise NotFound(f"no alert {alert_id!r}")
        alert = found[0]
        if alert["topic_id"] != topic_id:
            raise FeedbackError(
                f"alert {alert_id!r} is of topic {alert['topic_id']!r}, not {topic_id!r}"
            )
        if alert["story_id"] is None:
            raise FeedbackError(f"alert {alert_id!r} is about no stored story")
        story_id = int(alert["story_id"])
    assert story_id is not None
    done = await store.add_feedback(topic_id, story_id, verdict, now, alert_id)
    if done is None:
        raise NotFound(f"no story {story_id}")
    return done


async def listing(store: FeedbackStore, config: Config, topic_id: str) -> list[Feedback]:
    check_topic(config, topic_id)
    return await store.feedback(topic_id)


async def take_back(
    store: FeedbackStore, config: Config, topic_id: str, feedback_id: int
) -> Feedback:
    check_topic(config, topic_id)
    gone = await store.delete_feedback(topic_id, feedback_id)
    if gone is None:
        raise NotFound(f"no feedback {feedback_id} on topic {topic_id!r}")
    return gone
