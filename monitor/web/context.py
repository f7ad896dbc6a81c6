"""What the web layer's handlers share: the service as they see it, and the app keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from monitor.clock import Clock
from monitor.config import Config
from monitor.reads.readers import Reader
from monitor.topics.feedback import Feedback


class Kicker(Protocol):
    def kick(self) -> None: ...


@runtime_checkable
class WebSource(Protocol):
    """The running service, as the dashboard and the API see it."""

    @property
    def store(self) -> object: ...

    @property
    def config(self) -> Config: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def deliverer(self) -> Kicker: ...

    def token(self) -> str | None: ...


@runtime_checkable
class WebStore(Protocol):
    """The store's writes the API makes (both stores have them)."""

    async def set_paused(self, feed_id: int, paused: bool, now: float) -> bool: ...

    async def requeue_dead(self, ids: Sequence[str] | None, now: float) -> list[str]: ...

    async def add_feedback(
        self, topic_id: str, story_id: int, verdict: str, now: float, alert_id: str | None = None
    ) -> Feedback | None: ...

    async def feedback(self, topic_id: str | None = None) -> list[Feedback]: ...

    async def delete_feedback(self, topic_id: str, feedback_id: int) -> Feedback | None: ...

    async def alert_log(
        self, state: str | None = None, limit: int = 50, alert_id: str | None = None
    ) -> list[dict[str, Any]]: ...


WEB = web.AppKey("web", WebSource)
READER: web.AppKey[Reader] = web.AppKey("reader")


def store_of(app: web.Application) -> WebStore:
    store = app[WEB].store
    assert isinstance(store, WebStore)
    return store
