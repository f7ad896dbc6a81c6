"""The dashboard (`GET /`) and the JSON API (`/api/…`, described at `/api/openapi.json`),
served by the status server over the running service.

Read-only, except three POST endpoints (re-queue a dead alert, pause and resume a feed) that
exist only when a token is configured. Reads go through a read-only connection of their own,
so a page never waits for, nor sees the inside of, a write transaction.
"""

from monitor.web.app import setup
from monitor.web.context import WebSource

__all__ = ["WebSource", "setup"]
