"""Storage: the schema and its migrations, and the stores behind one interface.

SQLite is the embedded default. The PostgreSQL store for several instances is planned
behind the same methods (see the README's design section).
"""

from monitor.store.sqlite import SQLiteStore, StoreError

Store = SQLiteStore

__all__ = ["SQLiteStore", "Store", "StoreError"]
