"""Polling: the poll of one feed (pipeline), intervals, WebSub, full-text enrichment."""
