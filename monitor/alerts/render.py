"""What an alert says on each kind of sink: pure functions from an outbox row to a payload.

Events: `development.new` (the first story of a new development of a topic, with what is
new), `development.update` (a story that adds substantial news to one), `story.matched` (one
story of a topic whose alerts are per story), `topic.digest` (a topic's stories over a
period, including those folded by a rate limit), `feed.failing` and `feed.recovered` (feed
health). The generic webhook sends the row's frozen JSON (webhook.render_body); chat sinks get
their own formats, built here:

- Slack incoming webhook: `text` (the notification fallback) and `blocks` (mrkdwn sections).
- Discord webhook: `content` and `embeds` (title, url, description, fields, timestamp).
- ntfy JSON publishing: topic, title, message, click, tags, priority.
- Apprise: a title and a plain-text body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.models import STORY_EVENTS, PendingAlert

SLACK_TEXT_MAX = 3000
DISCORD_CONTENT_MAX = 2000
DISCORD_DESCRIPTION_MAX = 4096
DISCORD_TITLE_MAX = 256
DISCORD_FIELD_MAX = 1024
LIST_MAX = 25  # stories listed by name in a digest on a chat sink


@dataclass(frozen=True, slots=True)
class Item:
    """One story as shown in a message."""

    title: str
    link: str | None
    source: str | None
    new: str  # what is new: the development's new points, else the summary
    terms: tuple[str, ...]
    published: str | None
    weak: bool = False  # the match alone could not have opened a development
    by_profile: bool = False  # no query term matched: the seed profile found it


def matched(it: Item) -> str:
    """What the story matched on, as a message shows it; "" when nothing is known."""
    what = ", ".join(it.terms) if it.terms else ("the topic's seeds" if it.by_profile else "")
    if what and it.weak:
        what += " (weak match: it joined a development, alone it would not open one)"
    return what


@dataclass(frozen=True, slots=True)
class Message:
    """An alert reduced to what every chat sink shows."""

    event: str
    title: str  # one line: what happened
    topic: str | None
    items: tuple[Item, ...] = ()
    more: int = 0  # stories not listed
    text: str = ""  # plain text for events without stories (feed health)
    link: str | None = None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _item(story: dict[str, Any], data: dict[str, Any]) -> Item:
    development = data.get("development")
    points: Any = None
    if isinstance(development, dict):
        points = development.get("what_is_new")
    points = points or data.get("what_is_new")
    if isinstance(points, list) and points:
        new = "; ".join(str(p) for p in points)
    else:
        new = str(story.get("summary") or "")
    terms = story.get("matched_terms", data.get("matched_terms", []))
    match = data.get("match")
    match = match if isinstance(match, dict) else {}
    return Item(
        title=str(story.get("title") or "(untitled)"),
        link=story.get("link"),
        source=story.get("source"),
        new=_clip(new, 500),
        terms=tuple(str(t) for t in terms or ()),
        published=story.get("published"),
        weak=match.get("strength") == "weak",
        by_profile=match.get("basis") == "profile",
    )


_LEADS = {"development.new": "New development on", "development.update": "Update on"}


def message(alert: PendingAlert) -> Message:
    d = alert.data
    topic = (d.get("topic") or {}).get("name") or alert.topic_id or None
    if alert.event in STORY_EVENTS:
        item = _item(d.get("story", {}), d)
        lead = _LEADS.get(alert.event, "New on")
        return Message(
            event=alert.event,
            title=f"{lead} {topic}: {item.title}",
            topic=topic,
            items=(item,),
            link=item.link,
        )
    if alert.event == "topic.digest":
        stories = d.get("stories", [])
        folded = d.get("folded", 0)
        extra = f", {folded} held back by the rate limit" if folded else ""
        return Message(
            event=alert.event,
            title=f"Digest of {topic}: {d.get('count', len(stories))} stories{extra}",
            topic=topic,
            items=tuple(_item(s, s) for s in stories),
            more=int(d.get("more", 0)),
        )
    feed = d.get("feed", {})
    name = feed.get("name") or feed.get("url") or "a feed"
    if alert.event == "feed.failing":
        err = d.get("last_error") or {}
        return Message(
            event=alert.event,
            title=f"Feed failing: {name}",
            topic=None,
            text=(
                f"{feed.get('url')} has been failing since {d.get('failing_since')} "
                f"({d.get('consecutive_errors')} consecutive errors; last: "
                f"{err.get('kind')}: {err.get('message')})."
            ),
            link=feed.get("url"),
        )
    if alert.event == "feed.recovered":
        return Message(
            event=alert.event,
            title=f"Feed recovered: {name}",
            topic=None,
            text=(
                f"{feed.get('url')} polls fine again since {d.get('recovered_at')} "
                f"(failing since {d.get('failing_since')})."
            ),
            link=feed.get("url"),
        )
    return Message(event=alert.event, title=f"{alert.event} ({alert.id})", topic=topic)


def plain_text(m: Message) -> str:
    """The body of a message as plain text (ntfy, Apprise)."""
    if not m.items:
        return m.text or m.title
    lines = []
    for it in m.items[:LIST_MAX]:
        if len(m.items) == 1 and m.event in STORY_EVENTS:
            lines.append(it.new)
            if it.source:
                lines.append(f"Source: {it.source}")
            if it.link:
                lines.append(it.link)
            if matched(it):
                lines.append("Matched: " + matched(it))
        else:
            src = f" ({it.source})" if it.source else ""
            lines.append(f"- {it.title}{src}" + (f" {it.link}" if it.link else ""))
    hidden = m.more + max(0, len(m.items) - LIST_MAX)
    if hidden:
        lines.append(f"… and {hidden} more")
    return "\n".join(lines)


# -- Slack ------------------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(it: Item) -> str:
    title = _slack_escape(_clip(it.title, 200))
    return f"<{it.link}|{title}>" if it.link else title


def slack_payload(alert: PendingAlert) -> dict[str, Any]:
    m = message(alert)
    blocks: list[dict[str, Any]] = []
    if m.event in STORY_EVENTS and m.items:
        it = m.items[0]
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _clip(f"*{_slack_link(it)}*\n{_slack_escape(it.new)}", SLACK_TEXT_MAX),
                },
            }
        )
        context = [f"*Source:* {_slack_escape(it.source or '?')}"]
        if m.topic:
            context.append(f"*Topic:* {_slack_escape(m.topic)}")
        if matched(it):
            context.append("*Matched:* " + _slack_escape(matched(it)))
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
        )
        text = f"{m.title} {it.link or ''}".strip()
    elif m.items:
        blocks.append(
            {"type": "header", "text": {"type": "plain_text", "text": _clip(m.title, 150)}}
        )
        lines: list[str] = []
        for it in m.items[:LIST_MAX]:
            src = f" — {_slack_escape(it.source)}" if it.source else ""
            line = f"• {_slack_link(it)}{src}"
            if sum(len(x) + 1 for x in lines) + len(line) > SLACK_TEXT_MAX - 40:
                break
            lines.append(line)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
        hidden = len(m.items) + m.more - len(lines)
        if hidden:
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": f"… and {hidden} more"}],
                }
            )
        text = m.title
    else:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _clip(f"*{_slack_escape(m.title)}*\n{_slack_escape(m.text)}", 3000),
                },
            }
        )
        text = f"{m.title}: {m.text}" if m.text else m.title
    return {"text": _clip(text, SLACK_TEXT_MAX), "blocks": blocks}


# -- Discord ----------------------------------------------------------------------------------


def _md_link(it: Item) -> str:
    title = _clip(it.title, 200).replace("[", "(").replace("]", ")")
    return f"[{title}]({it.link})" if it.link else title


def discord_payload(alert: PendingAlert) -> dict[str, Any]:
    m = message(alert)
    payload: dict[str, Any] = {"allowed_mentions": {"parse": []}}
    if m.event in STORY_EVENTS and m.items:
        it = m.items[0]
        embed: dict[str, Any] = {
            "title": _clip(it.title, DISCORD_TITLE_MAX),
            "description": _clip(it.new, DISCORD_DESCRIPTION_MAX),
            "fields": [
                {
                    "name": "Source",
                    "value": _clip(it.source or "?", DISCORD_FIELD_MAX),
                    "inline": True,
                },
            ],
        }
        if it.link:
            embed["url"] = it.link
        if matched(it):
            embed["fields"].append(
                {
                    "name": "Matched",
                    "value": _clip(matched(it), DISCORD_FIELD_MAX),
                    "inline": True,
                }
            )
        if it.published:
            embed["timestamp"] = it.published
        lead = _LEADS.get(m.event, "New on")
        payload["content"] = _clip(f"{lead} **{m.topic}**", DISCORD_CONTENT_MAX)
        payload["embeds"] = [embed]
    elif m.items:
        lines: list[str] = []
        for it in m.items[:LIST_MAX]:
            src = f" — {it.source}" if it.source else ""
            line = f"• {_md_link(it)}{src}"
            if sum(len(x) + 1 for x in lines) + len(line) > DISCORD_DESCRIPTION_MAX - 40:
                break
            lines.append(line)
        hidden = len(m.items) + m.more - len(lines)
        if hidden:
            lines.append(f"… and {hidden} more")
        payload["content"] = _clip(m.title, DISCORD_CONTENT_MAX)
        payload["embeds"] = [
            {"title": _clip(m.title, DISCORD_TITLE_MAX), "description": "\n".join(lines)}
        ]
    else:
        payload["content"] = _clip(f"**{m.title}**\n{m.text}", DISCORD_CONTENT_MAX)
    return payload


# -- ntfy -------------------------------------------------------------------------------------

_NTFY_TAGS = {
    "story.matched": ["newspaper"],
    "development.new": ["newspaper"],
    "development.update": ["memo"],
    "topic.digest": ["newspaper", "books"],
    "feed.failing": ["warning"],
    "feed.recovered": ["white_check_mark"],
}


def ntfy_payload(
    alert: PendingAlert, topic: str, priority: int | None, tags: tuple[str, ...]
) -> dict[str, Any]:
    m = message(alert)
    payload: dict[str, Any] = {
        "topic": topic,
        "title": _clip(m.title, 250),
        "message": plain_text(m)[:4000],
        "tags": list(tags) or _NTFY_TAGS.get(m.event, []),
    }
    if m.link:
        payload["click"] = m.link
    if priority is not None:
        payload["priority"] = priority
    elif m.event == "feed.failing":
        payload["priority"] = 4
    return payload
