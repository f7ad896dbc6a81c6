"""Storage: the schema and its migrations, and the stores behind one interface (`Store`,
made of one protocol per capability: monitor/store/protocols.py).

SQLite is the embedded default; PostgreSQL is the shared store of several instances. The
`[storage] url` chooses: `sqlite:///…` or `postgresql://…`.
"""

from __future__ import annotations

from monitor.config import StorageConfig
from monitor.store.base import StoreError, new_alert_id
from monitor.store.protocols import (
    DetectionStore,
    FeedbackStore,
    FeedStore,
    MaintenanceStore,
    OutboxStore,
    Store,
    StoryStore,
    SubscriptionStore,
)
from monitor.store.sqlite import SQLiteStore


def store_for(storage: StorageConfig) -> Store:
    """The store the configuration names, not yet opened."""
    if storage.path is not None:
        return SQLiteStore(storage.path)
    from monitor.store.postgres import PostgresStore  # asyncpg only when it is used

    return PostgresStore(storage.url)


async def open_store(storage: StorageConfig) -> Store:
    """The store the configuration names, opened (migrated) and capped to `max_size`."""
    store = store_for(storage)
    await store.open()
    try:
        if storage.max_size is not None:
            await store.set_max_size(storage.max_size)
    except BaseException:
        await store.close()
        raise
    return store


__all__ = [
    "DetectionStore",
    "FeedStore",
    "FeedbackStore",
    "MaintenanceStore",
    "OutboxStore",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoryStore",
    "SubscriptionStore",
    "new_alert_id",
    "open_store",
    "store_for",
]
