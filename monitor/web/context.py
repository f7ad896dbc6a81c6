"""What the web layer's handlers share: the service as they see it, and the app keys."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import aiosqlite
from aiohttp import web

from monitor.clock import Clock
from monitor.config import Config
from monitor.store.sqlite import SQLiteStore


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


WEB = web.AppKey("web", WebSource)
READER = web.AppKey("reader", aiosqlite.Connection)


def store_of(app: web.Application) -> SQLiteStore:
    store = app[WEB].store
    assert isinstance(store, SQLiteStore)
    return store
