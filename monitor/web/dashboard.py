"""GET / : the dashboard, one server-rendered page (no build step, no external asset).

Overview counts, activity per hour (inline SVG), the feeds table (filter by state, sort,
keyset pages: all through query parameters, so it works without JavaScript), per topic the
timeline of its developments (each with its stories and what each added), the alert queue
and the dead letters. A few lines of JavaScript only offer an automatic refresh.

With a [server] token (changes allowed), the topic's stories and the alerts carry "relevant" /
"not relevant" buttons: plain forms posting to /topics/{id}/feedback (and a "take back" to
/topics/{id}/feedback/{n}/delete), under the API's guards, answered by a redirect back to
the topic (monitor/topics/feedback.py says what a verdict does).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from html import escape
from typing import Any, NoReturn
from urllib.parse import quote, urlencode

from aiohttp import web

from monitor import reads as queries
from monitor.topics import feedback_actions
from monitor.topics.feedback import Feedback, FeedbackError
from monitor.web import api
from monitor.web.context import READER, WEB, store_of
from monitor.web.params import ParamError, Params
from monitor.web.style import CSS

PAGE_SIZE = 50
SCRIPT = """\
const box = document.getElementById("auto");
box.parentElement.hidden = false;
box.checked = localStorage.getItem("monitor.autorefresh") === "1";
box.addEventListener("change", () =>
  localStorage.setItem("monitor.autorefresh", box.checked ? "1" : "0"));
setInterval(() => { if (box.checked) location.reload(); }, 30000);
"""
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
STATE_LABELS = {
    "failing": "failing",
    "erroring": "erroring",
    "new": "new",
    "ok": "ok",
    "paused": "paused",
    "disabled": "disabled",
    "inactive": "inactive",
}
SORT_COLUMNS = {
    "errors": "Errors",
    "last_poll": "Last poll",
    "next_poll": "Next poll",
    "url": "Feed",
}


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _href(query: Mapping[str, str | None], **changes: str | None) -> str:
    merged = {k: v for k, v in {**query, **changes}.items() if v}
    return "?" + urlencode(merged) if merged else "?"


def _ago(iso_time: str | None, now: float) -> str:
    """'3 min ago' / 'in 5 min', with the exact time as a tooltip; '—' for none."""
    if iso_time is None:
        return '<span class="muted">—</span>'
    at = datetime.fromisoformat(iso_time).timestamp()
    delta = now - at
    future = delta < 0
    delta = abs(delta)
    if delta < 60:
        text = f"{int(delta)} s"
    elif delta < 3600:
        text = f"{int(delta // 60)} min"
    elif delta < 86400 * 2:
        text = f"{delta / 3600:.1f} h".replace(".0 h", " h")
    else:
        text = f"{int(delta // 86400)} d"
    text = f"in {text}" if future else f"{text} ago"
    return f'<time datetime="{e(iso_time)}" title="{e(iso_time)}">{text}</time>'


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds / 86400:.1f} d".replace(".0 d", " d")


def sparkline(values: list[int], label: str, color: str, start_hour: str) -> str:
    """Bars per hour as inline SVG, scaled to the largest; each bar has a tooltip."""
    width, height, gap = 480, 56, 1
    top = max(values) if values and max(values) > 0 else 1
    bar = width / max(1, len(values))
    hour0 = datetime.fromisoformat(start_hour).timestamp()
    rects = []
    for i, v in enumerate(values):
        h = 0 if v == 0 else max(2.0, v / top * (height - 4))
        at = datetime.fromtimestamp(hour0 + i * 3600).strftime("%a %H:00")
        rects.append(
            f'<rect x="{i * bar:.1f}" y="{height - h:.1f}" width="{max(1.0, bar - gap):.1f}" '
            f'height="{h:.1f}"><title>{e(at)}: {v} {e(label)}</title></rect>'
        )
    total = sum(values)
    return (
        f'<figure class="spark"><figcaption><b>{total:,}</b> {e(label)} in {len(values)} h'
        f'<span class="muted"> · peak {max(values, default=0):,}/h</span></figcaption>'
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
        f'aria-label="{e(label)} per hour" fill="{color}">'
        f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" class="axis"/>'
        f"{''.join(rects)}</svg>"
        f'<div class="axis-labels"><span>{len(values)} h ago</span><span>now</span></div>'
        "</figure>"
    )


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _badge(state: str) -> str:
    return f'<span class="badge s-{e(state)}">{e(STATE_LABELS.get(state, state))}</span>'


def _overview(ov: dict[str, Any], query: Mapping[str, str | None]) -> str:
    feeds = ov["feeds"]
    alerts = ov["alerts"]
    chips = "".join(
        f'<a class="chip s-{state}" href="{e(_href(query, state=state, cursor=None))}#feeds">'
        f"{feeds[state]:,} {STATE_LABELS[state]}</a>"
        for state in STATE_LABELS
        if feeds[state] or state in ("ok", "failing")
    )
    trouble = feeds["failing"] + alerts["dead"]
    health = (
        '<p class="verdict bad">Needs attention: '
        f"{_n(feeds['failing'], 'failing feed')}, {_n(alerts['dead'], 'dead alert')}</p>"
        if trouble
        else '<p class="verdict good">All feeds polling, no dead alerts</p>'
    )
    return f"""
<section class="cards">
  <div class="card wide"><h2>Feeds</h2><p class="big">{ov["feeds_total"]:,}</p>
    <div class="chips">{chips}</div></div>
  <div class="card"><h2>Stories stored</h2><p class="big">{ov["stories"]:,}</p>
    <p class="muted">{_n(ov["topics"], "topic")} tracked</p></div>
  <div class="card"><h2>Alerts</h2>
    <p class="big">{alerts["delivered_24h"]:,}<small> delivered in 24 h</small></p>
    <p><a href="#queue">{alerts["pending"]:,} pending</a> · {alerts["held"]:,} held ·
      <a href="#dead" class="{"bad" if alerts["dead"] else ""}">{alerts["dead"]:,} dead</a></p>
  </div>
</section>
{health}"""


def _activity(ov: dict[str, Any]) -> str:
    hourly = ov["hourly"]
    alerts = ov["alerts"]
    return f"""
<section class="panel activity"><h2>Activity, last {hourly["hours"]} hours</h2>
  <div class="sparks">
    {sparkline(hourly["stories"], "stories", "var(--accent)", hourly["start"])}
    {sparkline(hourly["polls"], "polls", "var(--muted-bar)", hourly["start"])}
    {sparkline(hourly["poll_errors"], "poll errors", "var(--bad)", hourly["start"])}
  </div>
  <p class="muted">Last alert delivered: {_ago(alerts["last_delivered"], _now(ov))}
   · oldest pending: {_ago(alerts["oldest_pending"], _now(ov))}</p>
</section>"""


def _now(ov: dict[str, Any]) -> float:
    return datetime.fromisoformat(ov["now"]).timestamp()


def _feeds(
    page: queries.Page, ov: dict[str, Any], query: Mapping[str, str | None], now: float
) -> str:
    state = query.get("state")
    sort = query.get("sort") or queries.DEFAULT_FEED_SORT
    filters = [
        f'<a class="chip{" on" if not state else ""}" '
        f'href="{e(_href(query, state=None, cursor=None))}#feeds">all {ov["feeds_total"]:,}</a>'
    ]
    for s in STATE_LABELS:
        on = " on" if state == s else ""
        filters.append(
            f'<a class="chip s-{s}{on}" href="{e(_href(query, state=s, cursor=None))}#feeds">'
            f"{s} {ov['feeds'][s]:,}</a>"
        )
    heads = []
    for key, title in SORT_COLUMNS.items():
        if sort == key:
            target, mark = "-" + key, " ▼" if queries.FEED_SORTS[key][1] else " ▲"
        elif sort == "-" + key:
            target, mark = key, " ▲" if queries.FEED_SORTS[key][1] else " ▼"
        else:
            target, mark = key, ""
        heads.append(
            f'<a href="{e(_href(query, sort=target, cursor=None))}#feeds">{title}{mark}</a>'
        )
    rows = []
    for f in page.items:
        err = f["last_error"]
        error = (
            f'<span class="kind">{e(err["kind"])}</span> {e(err["message"])}'
            if err
            else (f"disabled: {e(f['disabled'])}" if f["disabled"] else "")
        )
        per_week = "—" if f["stories_per_week"] is None else f"{f['stories_per_week']:g}"
        rows.append(
            f'<tr data-state="{e(f["state"])}"><td>{_badge(f["state"])}</td>'
            f'<td class="feed"><b>{e(f["name"] or f["url"])}</b>'
            f'<a class="url" href="{e(f["url"])}" rel="noreferrer">{e(f["url"])}</a></td>'
            f"<td>{_ago(f['last_poll'], now)}</td>"
            f'<td class="err">{error}</td>'
            f"<td>{_ago(f['next_poll'], now)}</td>"
            f"<td>{_duration(f['interval_seconds'])}<small> {e(f['interval_mode'])}</small></td>"
            f'<td class="num">{per_week}</td>'
            f'<td class="num">{f["consecutive_errors"] or ""}</td></tr>'
        )
    if not rows:
        rows.append('<tr><td colspan="8" class="empty">No feeds in this state.</td></tr>')
    more = (
        f'<a class="next" href="{e(_href(query, cursor=page.next_cursor))}#feeds">Next page →</a>'
        if page.next_cursor
        else ""
    )
    first = (
        f'<a href="{e(_href(query, cursor=None))}#feeds">← First page</a>'
        if query.get("cursor")
        else ""
    )
    return f"""
<section class="panel" id="feeds"><h2>Feeds</h2>
  <nav class="chips filters" aria-label="Filter by state">{"".join(filters)}</nav>
  <div class="scroll"><table class="feeds">
    <thead><tr><th>State</th><th>{heads[3]}</th><th>{heads[1]}</th><th>Last error</th>
      <th>{heads[2]}</th><th>Interval</th><th class="num">Stories/wk</th>
      <th class="num">{heads[0]}</th></tr></thead>
    <tbody>{"".join(rows)}</tbody></table></div>
  <p class="pager">{first} {more}</p>
</section>"""


Actions = Callable[..., str]  # a story's feedback buttons (HTML): story id[, alert id]


def _feedback_form(topic_id: str, verdicts: Mapping[int, Feedback], field: str) -> Actions:
    """The buttons marking a story (field "story_id") or an alert's story ("alert_id") for
    the topic, with the verdict it has."""

    def buttons(story_id: int | None, value: object = None) -> str:
        if story_id is None:
            return ""
        given = verdicts.get(story_id)
        mark = (
            f'<span class="term">marked {e(given.verdict.replace("_", " "))}</span>'
            if given
            else ""
        )
        return (
            f'<form class="fb" method="post" action="/topics/{e(quote(topic_id, safe=""))}'
            f'/feedback">{mark}<input type="hidden" name="{field}" '
            f'value="{e(value if value is not None else story_id)}">'
            '<button name="verdict" value="relevant">relevant</button>'
            '<button name="verdict" value="not_relevant">not relevant</button></form>'
        )

    return buttons


def _development_items(
    devs: Iterable[dict[str, Any]], now: float, actions: Actions | None = None
) -> str:
    """Each development: its headline, when, how many stories and sources; under it its
    stories in the order they joined, each with what it added (the first: its summary), and
    the feedback buttons when changes are allowed."""
    out = []
    for dev in devs:
        out.append(
            f'<li class="dev"><div class="when">{_ago(dev["last_seen"], now)}</div>'
            f'<div class="what"><h4>{e(dev["headline"])}</h4>'
            f'<p class="meta">{dev["stories"]:,} stories · {dev["sources"]:,} sources · '
            f"first seen {_ago(dev['first_seen'], now)}</p></div></li>"
        )
        for i, it in enumerate(dev["items"]):
            terms = "".join(f'<span class="term">{e(t)}</span>' for t in it["matched_terms"])
            terms += _match_note(it["match"])
            link = (
                f'<a href="{e(it["link"])}" rel="noreferrer">{e(it["title"])}</a>'
                if it["link"]
                else e(it["title"])
            )
            if i == 0 or it["duplicate"]:
                note = "copy of an earlier story" if it["duplicate"] else ""
                body = f'<p class="summary">{e(note or it["summary"][:280])}</p>'
            else:
                new = [x for x in it["what_is_new"] if x != it["title"]]
                body = (
                    '<ul class="new">' + "".join(f"<li>{e(x)}</li>" for x in new[:5]) + "</ul>"
                    if new
                    else '<p class="summary muted">nothing new</p>'
                )
            out.append(
                f'<li><div class="when">{_ago(it["first_seen"], now)}</div>'
                f'<div class="what"><p class="headline">{link}</p>'
                f'<p class="meta"><span class="source">{e(it["source"])}</span> {terms}</p>'
                f"{body}{actions(it['story_id']) if actions else ''}</div></li>"
            )
        hidden = dev["stories"] - len(dev["items"])
        if hidden > 0:
            out.append(f'<li class="more muted">… and {hidden:,} more stories</li>')
    return "".join(out)


SEEDS_LABEL = "the topic's seeds"
SEEDS_NOTE = "no query term matched: the story is close to the topic's seed documents"
WEAK_NOTE = (
    "a weak match (the query alone far from the seeds, the seeds alone below the open "
    "threshold, or turned away by the semantic gate): it could not have opened a development "
    "on its own, only join one"
)


def _match_note(match: Mapping[str, str | None]) -> str:
    """Beside a story's matched terms: "the topic's seeds" when the seed profile alone found
    it, "weak match" when it could not have opened a development on its own (nothing when
    unknown: matched before the store kept it)."""
    out = ""
    if match["basis"] == "profile":
        out += f'<span class="term" title="{e(SEEDS_NOTE)}">{e(SEEDS_LABEL)}</span>'
    if match["strength"] == "weak":
        out += f'<span class="term weak" title="{e(WEAK_NOTE)}">weak match</span>'
    return out


def _verdicts(topic_id: str, given: list[Feedback], writable: bool, now: float) -> str:
    """The topic's relevance feedback, newest first, each with a "take back" button."""
    if not given:
        return ""
    items = []
    for f in reversed(given):
        undo = (
            f'<form class="fb" method="post" action="/topics/{e(quote(topic_id, safe=""))}'
            f'/feedback/{f.id}/delete"><button>take back</button></form>'
            if writable
            else ""
        )
        items.append(
            f'<li><span class="term">{e(f.verdict.replace("_", " "))}</span> {e(f.title)} '
            f'<span class="muted">{_ago(f.as_dict()["created_at"], now)}</span>{undo}</li>'
        )
    return (
        f'<details class="feedback"><summary>Feedback: {len(given):,} verdicts (stories like '
        f"these are matched, or not)</summary><ul>{''.join(items)}</ul></details>"
    )


def _topics(
    topics: list[dict[str, Any]],
    selected: dict[str, Any] | None,
    page: queries.Page | None,
    query: Mapping[str, str | None],
    now: float,
    given: list[Feedback] | None = None,
    writable: bool = False,
) -> str:
    tabs = "".join(
        f'<a class="tab{" on" if selected and t["id"] == selected["id"] else ""}" '
        f'href="{e(_href(query, topic=t["id"], tcursor=None))}#topics">{e(t["name"])}'
        f" <small>{t['matches']:,}</small></a>"
        for t in topics
    )
    if selected is None or page is None:
        body = '<p class="empty">No topics configured.</p>'
    else:
        given = given or []
        actions = (
            _feedback_form(selected["id"], {f.story_id: f for f in given if f.story_id}, "story_id")
            if writable
            else None
        )
        items = (
            _development_items(page.items, now, actions)
            or '<li class="empty">No developments yet.</li>'
        )
        more = (
            f'<a class="next" href="{e(_href(query, tcursor=page.next_cursor))}#topics">Older →</a>'
            if page.next_cursor
            else ""
        )
        body = f"""<div class="topic-head"><h3>{e(selected["name"])}</h3>
  <code>{e(selected["query"] or "(no query: seed profile only)")}</code>
  <p class="muted">{selected["matches"]:,} matches · last {_ago(selected["last_match"], now)}
   · match: {e(selected["match"])} · sinks: {e(", ".join(selected["sinks"]))}</p>
  {_verdicts(selected["id"], given, writable, now)}</div>
<ol class="timeline">{items}</ol><p class="pager">{more}</p>"""
    return f"""
<section class="panel" id="topics"><h2>Topics</h2>
  <nav class="tabs">{tabs}</nav>{body}
</section>"""


def _alerts(
    title: str,
    anchor: str,
    page: queries.Page,
    now: float,
    empty: str,
    topics: Iterable[str] = (),
) -> str:
    """A list of alerts; those about a story of a configured topic (`topics`: given when
    changes are allowed) with its feedback buttons."""
    rows = []
    known = set(topics)
    for a in page.items:
        buttons = (
            _feedback_form(a["topic"], {}, "alert_id")(a["story_id"], a["id"])
            if a["topic"] in known
            else ""
        )
        rows.append(
            f'<tr><td><code title="{e(a["id"])}">{e(a["id"][-12:])}</code></td>'
            f"<td>{e(a['event'])}</td><td>{e(a['title'] or '')}{buttons}</td>"
            f"<td>{e(a['topic'] or '')}"
            f'</td><td>{e(a["sink"])}</td><td class="num">{a["attempts"]}</td>'
            f"<td>{_ago(a['created'], now)}</td>"
            f"<td>{_ago(a['next_attempt'], now) if a['next_attempt'] else ''}</td>"
            f'<td class="err">{e(a["last_error"] or "")}</td></tr>'
        )
    body = (
        f"""<div class="scroll"><table><thead><tr><th>Alert</th><th>Event</th><th>Story</th>
      <th>Topic</th><th>Sink</th><th class="num">Attempts</th><th>Written</th>
      <th>Next attempt</th><th>Last error</th></tr></thead>
      <tbody>{"".join(rows)}</tbody></table></div>"""
        if rows
        else f'<p class="empty">{empty}</p>'
    )
    return f'<section class="panel" id="{anchor}"><h2>{title}</h2>{body}</section>'


async def dashboard(request: web.Request) -> web.StreamResponse:
    source, db = request.app[WEB], request.app[READER]
    p = Params(request)
    try:
        state = p.text("state", 20) or None
        if state is not None and state not in queries.FEED_STATES:
            raise ParamError(f"state: {state!r} is not one of {', '.join(queries.FEED_STATES)}")
        sort = p.choice("sort", tuple(queries.FEED_SORTS), queries.DEFAULT_FEED_SORT)
        cursor = p.text("cursor", 1000) or None
        topic_id = p.text("topic", 200) or None
        tcursor = p.text("tcursor", 1000) or None
        query = {"state": state, "sort": sort, "cursor": cursor, "topic": topic_id}
        if sort == queries.DEFAULT_FEED_SORT:
            query["sort"] = None
        failing_after = source.config.polling.failing_after
        ov = await api.overview_data(source, db)
        now = _now(ov)
        feeds = await queries.feeds_page(
            db,
            failing_after=failing_after,
            state=state,
            sort=sort or queries.DEFAULT_FEED_SORT,
            limit=PAGE_SIZE,
            cursor=cursor,
        )
        topics = await api.topic_list(source, db)
        selected = next((t for t in topics if t["id"] == topic_id), topics[0] if topics else None)
        timeline = (
            await queries.developments_page(db, selected["id"], limit=10, cursor=tcursor)
            if selected
            else None
        )
        pending = await queries.alerts_page(db, state="pending", limit=20)
        dead = await queries.alerts_page(db, state="dead", limit=20)
        given = await store_of(request.app).feedback(selected["id"]) if selected else []
    except (ParamError, queries.BadCursor) as exc:
        return _html(_page("Bad request", f'<p class="verdict bad">{e(exc)}</p>'), 400)
    writable = source.token() is not None
    ids = [t["id"] for t in topics] if writable else []
    body = (
        _overview(ov, query)
        + _activity(ov)
        + _feeds(feeds, ov, query, now)
        + _topics(topics, selected, timeline, query, now, given, writable)
        + _alerts(
            "Alert queue", "queue", pending, now, "Nothing waiting: every alert went out.", ids
        )
        + _alerts("Dead letters", "dead", dead, now, "No dead letters.", ids)
    )
    return _html(_page(f"monitor {ov['version']}", body, ov["now"]))


def _page(title: str, body: str, now: str | None = None) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title><style>{CSS}</style></head>
<body><header><h1><a href="/">monitor</a></h1>
<span class="muted">{e(title.removeprefix("monitor "))}{" · " + e(now) if now else ""}</span>
<nav><label hidden><input type="checkbox" id="auto"> refresh every 30 s</label>
<a href="/status">/status</a><a href="/metrics">/metrics</a>
<a href="/api/openapi.json">API</a></nav></header>
<main>{body}</main><script>{SCRIPT}</script></body></html>"""


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        headers={
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def _back(topic_id: str) -> NoReturn:
    """After a form's change: back to the topic (303: the browser GETs it)."""
    raise web.HTTPSeeOther("/" + _href({"topic": topic_id}) + "#topics")


def _refused(status: int, message: str) -> web.Response:
    return _html(_page("Not done", f'<p class="verdict bad">{e(message)}</p>'), status)


def _form_id(form: Mapping[str, Any], name: str) -> int | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.isdigit() or not 0 < int(value) < 2**63:
        raise FeedbackError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


async def _feedback_change(
    request: web.Request, change: Callable[[Any, str], Awaitable[str]]
) -> web.StreamResponse:
    """A form's change of a topic's feedback: refused without the token or from another
    site; `change(source, topic_id)` makes it and returns the topic to go back to."""
    source = request.app[WEB]
    refused = api._writable(source) or api._same_origin(request)
    if refused is not None:
        return _refused(refused.status, "changes need a [server] token, from this site")
    try:
        topic_id = await change(source, request.match_info["topic_id"])
    except FeedbackError as exc:
        return _refused(404 if isinstance(exc, feedback_actions.NotFound) else 400, str(exc))
    return _back(topic_id)


async def feedback_form(request: web.Request) -> web.StreamResponse:
    """A story or an alert's story marked relevant or not for the topic (a form's POST)."""

    async def give(source: Any, topic_id: str) -> str:
        form = await request.post()
        alert = form.get("alert_id")
        done = await feedback_actions.give(
            store_of(request.app), source.config, topic_id, form.get("verdict"),
            source.clock.now().timestamp(), story_id=_form_id(form, "story_id"),
            alert_id=alert if isinstance(alert, str) and alert else None,
        )  # fmt: skip
        return done.topic_id

    return await _feedback_change(request, give)


async def feedback_delete_form(request: web.Request) -> web.StreamResponse:
    """A verdict taken back (a form's POST)."""

    async def take_back(source: Any, topic_id: str) -> str:
        feedback_id = _form_id(request.match_info, "feedback_id")
        assert feedback_id is not None
        await feedback_actions.take_back(
            store_of(request.app), source.config, topic_id, feedback_id
        )
        return topic_id

    return await _feedback_change(request, take_back)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", dashboard)
    app.router.add_post("/topics/{topic_id}/feedback", feedback_form)
    app.router.add_post("/topics/{topic_id}/feedback/{feedback_id}/delete", feedback_delete_form)
