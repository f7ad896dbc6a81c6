"""Alerts: the outbox delivery loop and the sinks it sends to."""
