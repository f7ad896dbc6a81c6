"""The OpenAPI 3.1 document of the API, served at /api/openapi.json (schemathesis checks the
live answers against it in tests/test_api_schema.py)."""

from __future__ import annotations

from typing import Any

from monitor.config import MATCH_MODES
from monitor.detect.development_alerts import MATCH_BASES, MATCH_STRENGTHS
from monitor.reads import ALERT_STATES, CURSOR_PATTERNS, FEED_SORTS, FEED_STATES
from monitor.topics.feedback import VERDICTS

MAX_ID = 2**63 - 1


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema["type"]
    return {**schema, "type": [kind, "null"]}


STR = {"type": "string"}
INT = {"type": "integer"}
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = _nullable(TIME)
STR_OR_NULL = {"type": ["string", "null"]}
INT_OR_NULL = {"type": ["integer", "null"]}
NUM_OR_NULL = {"type": ["number", "null"]}
REF = "#/components/schemas/"


def _obj(props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(props),
        "properties": props,
        "additionalProperties": False,
    }


def _page(item: str) -> dict[str, Any]:
    return _obj(
        {
            "items": {"type": "array", "items": {"$ref": REF + item}},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        }
    )


SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": STR}),
    "FeedError": _nullable(_obj({"kind": STR_OR_NULL, "message": STR_OR_NULL})),
    "Feed": _obj(
        {
            "id": INT,
            "url": STR,
            "configured_url": STR,
            "name": STR_OR_NULL,
            "state": {"type": "string", "enum": list(FEED_STATES)},
            "active": {"type": "boolean"},
            "paused": {"type": "boolean"},
            "paused_at": TIME_OR_NULL,
            "disabled": {**STR_OR_NULL, "description": "Why the feed is disabled (HTTP 410)."},
            "interval_seconds": {"type": "number"},
            "interval_mode": {"type": "string", "enum": ["explicit", "adaptive"]},
            "stories_per_week": NUM_OR_NULL,
            "last_poll": TIME_OR_NULL,
            "last_success": TIME_OR_NULL,
            "last_result": STR_OR_NULL,
            "last_status": INT_OR_NULL,
            "last_error": {"$ref": REF + "FeedError"},
            "consecutive_errors": INT,
            "next_poll": TIME_OR_NULL,
            "stories": INT,
            "polls": INT,
        }
    ),
    "FeedPage": _page("Feed"),
    "Hourly": _obj(
        {
            "start": TIME,
            "hours": INT,
            "stories": {"type": "array", "items": INT},
            "polls": {"type": "array", "items": INT},
            "poll_errors": {"type": "array", "items": INT},
        }
    ),
    "AlertSummary": _obj(
        {
            "pending": INT,
            "held": INT,
            "dead": INT,
            "delivered_24h": INT,
            "oldest_pending": TIME_OR_NULL,
            "last_delivered": TIME_OR_NULL,
        }
    ),
    "Overview": _obj(
        {
            "version": STR,
            "now": TIME,
            "feeds": _obj({state: INT for state in FEED_STATES}),
            "feeds_total": INT,
            "stories": INT,
            "topics": INT,
            "alerts": {"$ref": REF + "AlertSummary"},
            "hourly": {"$ref": REF + "Hourly"},
        }
    ),
    "Topic": _obj(
        {
            "id": STR,
            "name": STR,
            "query": STR_OR_NULL,
            "match": {"type": "string", "enum": list(MATCH_MODES)},
            "sinks": {"type": "array", "items": STR},
            "matches": INT,
            "last_match": TIME_OR_NULL,
        }
    ),
    "TopicList": _obj({"items": {"type": "array", "items": {"$ref": REF + "Topic"}}}),
    "StoryMatch": {
        **_obj(
            {
                "basis": {
                    "type": ["string", "null"],
                    "enum": [*MATCH_BASES, None],
                    "description": "What the match rests on: the query and the seed profile, "
                    "the query alone (far from the seeds, or a topic without seeds) or the "
                    "profile alone (the topic's seeds).",
                },
                "strength": {
                    "type": ["string", "null"],
                    "enum": [*MATCH_STRENGTHS, None],
                    "description": "weak: it could not have opened a development on its own "
                    "(it may only join one); strong: it could.",
                },
            }
        ),
        "description": "The topic's match of the story, as detection decided; both null for "
        "a story matched before they were stored (unknown).",
    },
    "TimelineEntry": _obj(
        {
            "story_id": INT,
            "title": STR,
            "link": STR_OR_NULL,
            "summary": STR,
            "source": STR,
            "feed_id": INT,
            "published": TIME_OR_NULL,
            "first_seen": TIME,
            "matched": TIME,
            "matched_terms": {"type": "array", "items": STR},
            "match": {"$ref": REF + "StoryMatch"},
            "revision": INT,
            "duplicate_of": INT_OR_NULL,
            "development": {
                "oneOf": [{"$ref": REF + "StoryDevelopment"}, {"type": "null"}],
                "description": "The development the story belongs to (null for a story "
                "matched before developments were stored).",
            },
        }
    ),
    "StoryDevelopment": _obj(
        {
            "id": STR,
            "headline": STR,
            "first_seen": TIME,
            "stories": INT,
            "sources": INT,
            "what_is_new": {"type": "array", "items": STR},
        }
    ),
    "Timeline": _obj(
        {
            "topic": {"$ref": REF + "Topic"},
            "items": {"type": "array", "items": {"$ref": REF + "TimelineEntry"}},
            "next_cursor": STR_OR_NULL,
        }
    ),
    "DevelopmentStory": _obj(
        {
            "story_id": INT,
            "title": STR,
            "link": STR_OR_NULL,
            "summary": STR,
            "source": STR,
            "published": TIME_OR_NULL,
            "first_seen": TIME,
            "matched_terms": {"type": "array", "items": STR},
            "match": {"$ref": REF + "StoryMatch"},
            "duplicate": {"type": "boolean"},
            "similarity": {"type": "number"},
            "what_is_new": {"type": "array", "items": STR},
        }
    ),
    "Development": _obj(
        {
            "id": STR,
            "headline": STR,
            "first_seen": TIME,
            "last_seen": TIME,
            "stories": INT,
            "sources": INT,
            "items": {"type": "array", "items": {"$ref": REF + "DevelopmentStory"}},
        }
    ),
    "DevelopmentPage": _obj(
        {
            "topic": {"$ref": REF + "Topic"},
            "items": {"type": "array", "items": {"$ref": REF + "Development"}},
            "next_cursor": STR_OR_NULL,
        }
    ),
    "Story": _obj(
        {
            "id": INT,
            "feed_id": INT,
            "source": STR_OR_NULL,
            "title": STR,
            "link": STR_OR_NULL,
            "summary": STR,
            "author": STR_OR_NULL,
            "published": TIME_OR_NULL,
            "first_seen": TIME,
            "updated": TIME_OR_NULL,
            "revision": INT,
        }
    ),
    "StoryPage": _page("Story"),
    "Attempt": _obj(
        {
            "attempt": INT,
            "at": TIME,
            "status": {**INT_OR_NULL, "description": "HTTP status; null when none came back."},
            "latency_seconds": NUM_OR_NULL,
            "error": STR_OR_NULL,
        }
    ),
    "Alert": _obj(
        {
            "id": STR,
            "event": STR,
            "state": {"type": "string", "enum": list(ALERT_STATES)},
            "topic": STR_OR_NULL,
            "sink": STR,
            "story_id": INT_OR_NULL,
            "title": STR_OR_NULL,
            "attempts": INT,
            "created": TIME,
            "queued": TIME_OR_NULL,
            "next_attempt": TIME_OR_NULL,
            "delivered": TIME_OR_NULL,
            "last_error": STR_OR_NULL,
            "digest_id": STR_OR_NULL,
            "attempts_log": {"type": "array", "items": {"$ref": REF + "Attempt"}},
        }
    ),
    "AlertPage": _page("Alert"),
    "Feedback": _obj(
        {
            "id": INT,
            "topic_id": STR,
            "story_id": {**INT_OR_NULL, "description": "null once the story is pruned."},
            "alert_id": {**STR_OR_NULL, "description": "The alert it was given on, if any."},
            "verdict": {"type": "string", "enum": list(VERDICTS)},
            "title": STR,
            "created_at": TIME,
        }
    ),
    "FeedbackList": _obj({"items": {"type": "array", "items": {"$ref": REF + "Feedback"}}}),
    "FeedbackRequest": {
        "type": "object",
        "required": ["verdict"],
        "properties": {
            "story_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            "alert_id": {"type": "string", "minLength": 1, "maxLength": 200},
            "verdict": {"type": "string", "enum": list(VERDICTS)},
        },
        "additionalProperties": False,
        "oneOf": [{"required": ["story_id"]}, {"required": ["alert_id"]}],
        "description": "The story to judge, by its id or by an alert of the topic about it "
        "(one of story_id and alert_id).",
    },
}


def _param(
    name: str, where: str, schema: dict[str, Any], doc: str, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": doc,
    }


LIMIT = _param(
    "limit", "query", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    "Items per page.",
)  # fmt: skip


def cursor(kind: str) -> dict[str, Any]:
    return _param(
        "cursor",
        "query",
        {"type": "string", "maxLength": 1000, "pattern": CURSOR_PATTERNS[kind]},
        "The `next_cursor` of the previous page (keyset pagination).",
    )


FEED_ID = _param(
    "feed_id", "path", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "Feed id."
)
ALERT_ID = _param(
    "alert_id", "path", {"type": "string", "minLength": 1, "maxLength": 200}, "Alert id (msg_…)."
)
TOPIC_ID = _param(
    "topic_id", "path", {"type": "string", "minLength": 1, "maxLength": 200}, "Topic id."
)


def _json_response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF + schema}}},
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": "#/components/responses/" + name}


def _get(summary: str, schema: str, params: list[Any], *, found: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _json_response(summary, schema)}
    responses["400"] = _ref("BadRequest")
    responses["401"] = _ref("Unauthorized")
    if found:
        responses["404"] = _ref("NotFound")
    return {"get": {"summary": summary, "parameters": params, "responses": responses}}


def _post(
    summary: str, schema: str, params: list[Any], *, conflict: bool = False
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": _json_response(summary, schema),
        "400": _ref("BadRequest"),
        "401": _ref("Unauthorized"),
        "403": _ref("Forbidden"),
        "404": _ref("NotFound"),
    }
    if conflict:
        responses["409"] = _json_response("The alert is not dead.", "Error")
    return {"post": {"summary": summary, "parameters": params, "responses": responses}}


FEEDBACK_ID = _param(
    "feedback_id", "path", {"type": "integer", "minimum": 1, "maximum": MAX_ID}, "Feedback id."
)
_WRITE_ERRORS = {
    "400": {"$ref": "#/components/responses/BadRequest"},
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "404": {"$ref": "#/components/responses/NotFound"},
}


def _feedback_paths() -> dict[str, Any]:
    return {
        "/api/topics/{topic_id}/feedback": {
            **_get(
                "A topic's relevance feedback, oldest first.",
                "FeedbackList",
                [TOPIC_ID],
                found=True,
            ),
            "post": {
                "summary": "Mark a story (or the story of an alert of the topic) relevant or "
                "not relevant for the topic. Stories detected from then on that are like a "
                "story marked not relevant are not matched by the topic; those like a story "
                "marked relevant are. Marking a story again replaces its verdict.",
                "parameters": [TOPIC_ID],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": REF + "FeedbackRequest"}}},
                },
                "responses": {
                    "201": _json_response("The feedback recorded.", "Feedback"),
                    **_WRITE_ERRORS,
                },
            },
        },
        "/api/topics/{topic_id}/feedback/{feedback_id}": {
            "delete": {
                "summary": "Take a verdict back.",
                "parameters": [TOPIC_ID, FEEDBACK_ID],
                "responses": {
                    "200": _json_response("The feedback taken back.", "Feedback"),
                    **_WRITE_ERRORS,
                },
            }
        },
    }


def document(version: str) -> dict[str, Any]:
    error = "Error"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "monitor API",
            "version": version,
            "description": "Feeds, topics, stories and alerts of a running monitor. Lists are "
            "paginated with `limit` and `cursor` (keyset). With `[server] token` configured, "
            "every call needs `Authorization: Bearer <token>`; the POST calls exist only then.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {}],
        "paths": {
            "/api/overview": _get("Counts, alert flow and activity per hour.", "Overview", []),
            "/api/feeds": _get(
                "Feeds, filtered by state, in the chosen order.",
                "FeedPage",
                [
                    _param(
                        "state",
                        "query",
                        {"type": "string", "enum": list(FEED_STATES)},
                        "Only feeds in this state.",
                    ),
                    _param(
                        "sort",
                        "query",
                        {"type": "string", "enum": list(FEED_SORTS), "default": "errors"},
                        "Order: errors (most first), last_poll (latest first), next_poll "
                        "(soonest first), url; a leading '-' reverses it.",
                    ),
                    LIMIT,
                    cursor("feeds"),
                ],
            ),
            "/api/feeds/{feed_id}": _get("One feed.", "Feed", [FEED_ID], found=True),
            "/api/feeds/{feed_id}/pause": _post(
                "Pause a feed: it is not polled until resumed.", "Feed", [FEED_ID]
            ),
            "/api/feeds/{feed_id}/resume": _post(
                "Resume a paused feed (due now).", "Feed", [FEED_ID]
            ),
            "/api/topics": _get("The configured topics with their matches.", "TopicList", []),
            "/api/topics/{topic_id}/timeline": _get(
                "A topic's matched stories, newest first, each with its development.",
                "Timeline",
                [TOPIC_ID, LIMIT, cursor("timeline")],
                found=True,
            ),
            "/api/topics/{topic_id}/developments": _get(
                "A topic's developments, most recently active first, with their first "
                "stories and what each added.",
                "DevelopmentPage",
                [TOPIC_ID, LIMIT, cursor("developments")],
                found=True,
            ),
            **_feedback_paths(),
            "/api/stories": _get(
                "Stories, newest first: words searched in title and summary, first seen "
                "in [since, until).",
                "StoryPage",
                [
                    _param(
                        "q",
                        "query",
                        {"type": "string", "maxLength": 500},
                        "Words that must all appear (case and accents ignored); "
                        "`word*` is a prefix.",
                    ),
                    _param("since", "query", TIME, "First seen at or after (RFC 3339)."),
                    _param("until", "query", TIME, "First seen before (RFC 3339)."),
                    _param(
                        "feed",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        "Only this feed's stories.",
                    ),
                    LIMIT,
                    cursor("stories"),
                ],
            ),
            "/api/alerts": _get(
                "Alerts, newest first, with their delivery attempts.",
                "AlertPage",
                [
                    _param(
                        "state",
                        "query",
                        {"type": "string", "enum": list(ALERT_STATES)},
                        "Only alerts in this state.",
                    ),
                    LIMIT,
                    cursor("alerts"),
                ],
            ),
            "/api/alerts/{alert_id}": _get(
                "One alert with its delivery attempts.", "Alert", [ALERT_ID], found=True
            ),
            "/api/alerts/{alert_id}/requeue": _post(
                "Re-queue a dead alert (same id, a fresh attempt budget).",
                "Alert",
                [ALERT_ID],
                conflict=True,
            ),
            "/api/openapi.json": {
                "get": {
                    "summary": "This document.",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "401": _ref("Unauthorized"),
                    },
                }
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "responses": {
                "BadRequest": {
                    "description": "A parameter is wrong; `error` says which. (A request the "
                    "HTTP layer refuses, e.g. a request line over 8 KiB, gets plain text.)",
                    "content": {
                        "application/json": {"schema": {"$ref": REF + error}},
                        "text/plain": {"schema": {"type": "string"}},
                    },
                },
                "Unauthorized": {
                    **_json_response("A valid bearer token is required.", error),
                    "headers": {
                        "WWW-Authenticate": {"schema": {"type": "string"}},
                    },
                },
                "Forbidden": _json_response(
                    "Read-only (no token configured) or a cross-site request.", error
                ),
                "NotFound": _json_response("No such item.", error),
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
