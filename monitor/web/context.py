"""What the web layer's handlers share: the service as they see it, and the app keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aiohttp import web

from monitor.clock import Clock
from monitor.config import Config
from monitor.reads.readers import Reader
from monitor.topics.feedback_actions import FeedbackStore


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
class WebStore(FeedbackStore, Protocol):
    """The store's writes the API makes (both stores have them): pause, requeue, and those
    of feedback (monitor/topics/feedback_actions.py)."""

    async def set_paused(self, feed_id: int, paused: bool, now: float) -> bool: ...

    async def requeue_dead(self, ids: Sequence[str] | None, now: float) -> list[str]: ...


WEB = web.AppKey("web", WebSource)
READER: web.AppKey[Reader] = web.AppKey("reader")


def store_of(app: web.Application) -> WebStore:
    store = app[WEB].store
    assert isinstance(store, WebStore)
    return store
