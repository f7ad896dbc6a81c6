"""WebSub (W3C Recommendation, https://www.w3.org/TR/websub/), the subscriber's side, as
pure functions over the protocol's messages; monitor/poll/subscriber.py does the I/O.

The design in full: docs/modules.md, `monitor/poll/websub.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from monitor.clock import iso
from monitor.config import WebSubConfig
from monitor.models import WEBSUB_STATES, Subscription

SIGNATURE_METHODS = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
STATES = WEBSUB_STATES
VERIFY_WAIT = 3600.0  # a request the hub accepted and never verified is sent again after this
RENEW_AT = 0.8  # a subscription is renewed once this part of its lease has passed
MIN_RENEW = 60.0  # ... but never sooner than this after a verification
DENIED_RETRY = 86400.0  # a subscription the hub denied is asked for again after this
UNSUBSCRIBE_ATTEMPTS = 3  # then an unsubscription is given up (the lease ends it anyway)


def new_secret() -> str:
    """A subscription's secret: 256 random bits, 43 characters (the spec's limit is 200)."""
    return secrets.token_urlsafe(32)


def web_url(value: str | None) -> str | None:
    """`value` when it is an absolute http(s) URL (a hub or a topic), else None."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.hostname else None


def request_form(mode: str, topic: str, callback: str, lease: float, secret: str) -> dict[str, str]:
    """The form of a (un)subscription request to the hub."""
    form = {"hub.mode": mode, "hub.topic": topic, "hub.callback": callback}
    if mode == "subscribe":
        form["hub.lease_seconds"] = str(int(lease))
        form["hub.secret"] = secret
    return form


def sign(secret: str, body: bytes, method: str = "sha256") -> str:
    """The X-Hub-Signature a hub sends with `body` (what the subscriber checks)."""
    digest = hmac.new(secret.encode(), body, SIGNATURE_METHODS[method]).hexdigest()
    return f"{method}={digest}"


def signature_problem(secret: str, header: str | None, body: bytes) -> str | None:
    """None when `header` (X-Hub-Signature) signs `body` with `secret`, else what is wrong
    (compared in constant time)."""
    if not header or not header.strip():
        return "no X-Hub-Signature header"
    method, sep, given = header.strip().partition("=")
    method = method.strip().lower()
    if not sep or method not in SIGNATURE_METHODS:
        return f"unknown signature method {method[:16]!r} (sha1, sha256, sha384, sha512)"
    expected = sign(secret, body, method).partition("=")[2]
    given_bytes = given.strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode(), given_bytes):
        return f"the {method} signature does not match the body"
    return None


def renew_time(now: float, lease: float) -> float:
    """When to renew a subscription verified at `now` with a lease of `lease` seconds."""
    return now + max(MIN_RENEW, RENEW_AT * lease)


def _lease(value: str | None, default: float) -> float:
    try:
        lease = float(value) if value else default
    except ValueError:
        return default
    return lease if 0 < lease < 10 * 365 * 86400 else default


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to a hub's verification request, and what it does to the subscription."""

    status: int
    text: str
    event: str  # for the log: websub.verified, websub.unsubscribed, websub.denied, …
    changes: Mapping[str, Any] | None = None  # columns of the subscription to set
    delete: bool = False  # the subscription is over


def answer_verification(
    sub: Subscription | None, query: Mapping[str, str], now: float, requested_lease: float
) -> Answer:
    """How to answer the hub's GET (5.2, 5.3) for the feed whose subscription is `sub`."""
    mode, topic = query.get("hub.mode", ""), query.get("hub.topic", "")
    refused = "websub.verification_refused"
    if sub is None:
        return Answer(404, "no subscription here", refused)
    if topic != sub.topic:
        return Answer(404, "not the topic of this subscription", refused)
    if mode == "denied":
        if sub.state == "unsubscribing":  # gone at the hub: what we wanted
            return Answer(200, "", "websub.unsubscribed", delete=True)
        reason = query.get("hub.reason", "").strip()[:500] or "no reason given"
        return Answer(
            200,
            "",
            "websub.denied",
            changes={
                "state": "failed",
                "requested_at": None,
                "attempts": sub.attempts + 1,
                "last_error": f"the hub denied the subscription: {reason}",
                "next_action_at": now + DENIED_RETRY,
            },
        )
    wanted = "unsubscribe" if sub.state == "unsubscribing" else "subscribe"
    if mode != wanted or sub.requested_at is None:
        return Answer(404, f"no {mode or 'such'} request of this subscriber is pending", refused)
    challenge = query.get("hub.challenge", "")
    if not challenge:
        return Answer(400, "hub.challenge is missing", refused)
    if mode == "unsubscribe":
        return Answer(200, challenge, "websub.unsubscribed", delete=True)
    lease = _lease(query.get("hub.lease_seconds"), requested_lease)
    return Answer(
        200,
        challenge,
        "websub.verified",
        changes={
            "state": "active",
            "requested_at": None,
            "lease_seconds": lease,
            "lease_until": now + lease,
            "next_action_at": renew_time(now, lease),
            "attempts": 0,
            "last_error": None,
            "verified_at": now,
        },
    )


# -- /status ---------------------------------------------------------------------------------


def push_dict(sub: Subscription | None) -> dict[str, Any] | None:
    """A feed's subscription in /status (never its secret)."""
    if sub is None:
        return None
    return {
        "pushed": sub.state == "active",
        "state": sub.state,
        "hub": sub.hub,
        "topic": sub.topic,
        "lease_until": iso(sub.lease_until),
        "next_action": iso(sub.next_action_at),
        "last_push": iso(sub.last_push_at),
        "pushes": sub.pushes,
        "forged": sub.forged,
        "last_error": sub.last_error,
    }


def summary(config: WebSubConfig, subs: Iterable[Subscription]) -> dict[str, Any]:
    """The daemon's WebSub part in /status."""
    by_state = dict.fromkeys(STATES, 0)
    pushes = forged = 0
    for s in subs:
        by_state[s.state] = by_state.get(s.state, 0) + 1
        pushes += s.pushes
        forged += s.forged
    return {
        "enabled": config.enabled,
        "callback_url": config.callback_url,
        "subscriptions": by_state,
        "pushes": pushes,
        "forged": forged,
    }
