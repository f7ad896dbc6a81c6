"""OPML import and export of the configured feeds.

`read_opml` turns a feed reader's subscription list into `FeedConfig`s (parsed with
listparser, after a well-formedness check), `write_opml` writes feeds out as OPML 2.0, and
`append_feeds` adds `[[feeds]]` tables to a TOML feeds file that the configuration includes
with `feeds_files` (written atomically). The commands are in `monitor/cli/opml_cli.py`.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import tempfile
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import listparser
import tomli_w

from monitor.config import Config, FeedConfig


class OpmlError(Exception):
    """The OPML document (or the feeds file to append to) cannot be used."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """An outline of the OPML file that was not imported, and why."""

    url: str
    title: str
    reason: str

    def __str__(self) -> str:
        named = f" ({self.title})" if self.title and self.title != self.url else ""
        return f"{self.url or '(no URL)'}{named}: {self.reason}"


@dataclass(slots=True)
class AppendResult:
    added: list[FeedConfig] = field(default_factory=list)
    already: list[FeedConfig] = field(default_factory=list)  # URL configured before


# --- reading -------------------------------------------------------------------------------


def read_opml(
    source: bytes | str | os.PathLike[str], skipped: list[Skipped] | None = None
) -> list[FeedConfig]:
    """The feeds of an OPML document (bytes) or file (a path), in document order.

    The outline's text (else its title) becomes the feed's name. Outlines that are not
    imported (non-http(s) URLs, links to other lists, web pages without a feed, repeats of a
    URL) are appended to `skipped`. Categories (nested outlines) are ignored. Raises
    `OpmlError` for a document that is not well-formed XML or not OPML, `OSError` when the
    file cannot be read.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise OpmlError(f"not well-formed XML ({exc})") from None
    root_name = _local(root.tag)
    if root_name.lower() != "opml":
        raise OpmlError(f"not an OPML document (the root element is <{root_name}>, not <opml>)")
    if not any(_local(el.tag).lower() == "body" for el in root):
        raise OpmlError("not an OPML document (it has no <body>)")

    listed: Counter[str] = Counter()  # xmlUrl -> outlines naming it
    pages: list[Skipped] = []  # outlines with a web page and no feed
    for el in root.iter():
        if _local(el.tag).lower() != "outline":
            continue
        attrs = {k.lower(): v.strip() for k, v in el.attrib.items()}
        if attrs.get("xmlurl"):
            listed[attrs["xmlurl"]] += 1
        elif attrs.get("htmlurl") and len(el) == 0 and attrs.get("type", "").lower() != "link":
            title = attrs.get("text") or attrs.get("title", "")
            pages.append(Skipped(attrs["htmlurl"], title, "a web page without a feed (no xmlUrl)"))
    # listparser takes a str starting with http:// for a URL to fetch, so it gets bytes;
    # without a declaration its XML parser (lxml when installed) may read them as Latin-1:
    # hand it UTF-8 bytes that say so, re-encoded by ElementTree when the file is not UTF-8.
    try:
        data.decode("utf-8")
        payload = data
    except UnicodeDecodeError:
        payload = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")
    result: Any = listparser.parse(payload)

    out: list[FeedConfig] = []
    notes: list[Skipped] = []
    for entry in result["feeds"]:
        url, title = str(entry["url"]), str(entry["title"])
        if not _is_http_url(url):
            notes.append(Skipped(url, title, "not an http(s) URL"))
            continue
        out.append(FeedConfig(url=url, name=title if title and title != url else None))
        if listed[url] > 1:
            notes.append(Skipped(url, title, f"listed {listed[url]} times; imported once"))
    for entry in result["lists"]:
        notes.append(
            Skipped(str(entry["url"]), str(entry["title"]), "a link to another list, not followed")
        )
    notes.extend(pages)
    if skipped is not None:
        skipped.extend(notes)
    return out


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url
    except ValueError:
        return False


# --- writing -------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def write_opml(
    feeds: Iterable[FeedConfig], title: str = "monitor feeds", now: datetime | None = None
) -> bytes:
    """The feeds as an OPML 2.0 document (UTF-8): one `type="rss"` outline per feed, its
    name as `text` and `title` (the URL when it has no name)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(title)
    created = now or datetime.now(UTC)
    ET.SubElement(head, "dateCreated").text = format_datetime(created, usegmt=True)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        text = _xml_text(feed.name or feed.url)
        ET.SubElement(
            body, "outline", type="rss", text=text, title=text, xmlUrl=_xml_text(feed.url)
        )
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


# --- the feeds file ------------------------------------------------------------------------


def append_feeds(
    file: str | os.PathLike[str],
    feeds: Iterable[FeedConfig],
    existing: Collection[str] = (),
    comment: str | None = None,
) -> AppendResult:
    """Append `[[feeds]]` tables for `feeds` to the TOML feeds file `file`, creating it (and
    its folder) when needed. URLs in `existing` (the configured ones), already in the file,
    or repeated in `feeds` are not written again. The file is replaced atomically; nothing is
    written when nothing is new. Raises `OpmlError` when the file is not valid TOML."""
    path = Path(file)
    previous = path.read_bytes() if path.exists() else b""
    try:
        current = tomllib.loads(previous.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise OpmlError(f"{path}: not valid TOML: {exc}") from None
    known = set(existing)
    in_file = current.get("feeds", [])
    if isinstance(in_file, list):
        known.update(str(f["url"]) for f in in_file if isinstance(f, dict) and "url" in f)

    result = AppendResult()
    for feed in feeds:
        if feed.url in known:
            result.already.append(feed)
        else:
            known.add(feed.url)
            result.added.append(feed)
    if not result.added:
        return result

    text = previous.decode("utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    if text:
        text += "\n"
    if comment:
        text += "".join(f"# {line}\n" for line in comment.splitlines())
    # tomli_w writes a list of tables inline (`feeds = [...]`), which could not be appended
    # to: write each table under its own [[feeds]] header.
    text += "\n".join("[[feeds]]\n" + tomli_w.dumps(_feed_table(f)) for f in result.added)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # e.g. the file has `feeds = [...]` inline
        raise OpmlError(f"{path}: cannot append [[feeds]] tables: {exc}") from None
    write_atomic(path, text.encode("utf-8"))
    return result


def _feed_table(feed: FeedConfig) -> dict[str, Any]:
    table: dict[str, Any] = {"url": feed.url}
    if feed.name:
        table["name"] = feed.name
    if feed.interval is not None:
        table["interval"] = _duration_text(feed.interval)
    if feed.proxy:
        table["proxy"] = feed.proxy
    return table


def _duration_text(seconds: float) -> str | float:
    """900 -> "15m", 5400 -> "1h30m"; a fraction of a second stays a number of seconds."""
    if not float(seconds).is_integer():
        return float(seconds)
    rest, out = int(seconds), ""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one rename (a reader sees the old or the new file),
    creating its folder; an existing file keeps its permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def restore(path: Path, previous: bytes | None) -> None:
    """Put back what `path` held before (None: it did not exist)."""
    if previous is None:
        path.unlink(missing_ok=True)
    else:
        write_atomic(path, previous)


# --- which files the configuration includes ------------------------------------------------


def included_by(cfg: Config, target: Path) -> bool:
    """Whether one of the configuration's `feeds_files` globs matches `target` (which may
    not exist yet)."""
    target = target.resolve()
    if target == cfg.source.resolve():
        return False
    base = cfg.source.parent
    for pattern in cfg.feeds_files:
        full = pattern if os.path.isabs(pattern) else str(base / pattern)
        if _glob_match(Path(os.path.normpath(full)).parts, target.parts):
            return True
        if target.exists() and any(
            Path(p).resolve() == target for p in glob.glob(full, recursive=True)
        ):
            return True
    return False


def _glob_match(pattern: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    """glob.glob's rules for one path: `*`, `?`, `[…]` within a name, `**` for any number
    of folders, no match of hidden names by wildcards."""
    if not pattern:
        return not parts
    head = pattern[0]
    if head == "**":
        return any(
            _glob_match(pattern[1:], parts[i:])
            for i in range(len(parts) + 1)
            if not any(p.startswith(".") for p in parts[:i])
        )
    if not parts:
        return False
    if parts[0].startswith(".") and not head.startswith(".") and head != parts[0]:
        return False
    return fnmatch.fnmatchcase(parts[0], head) and _glob_match(pattern[1:], parts[1:])


def include_hint(cfg: Config, target: Path) -> str:
    """The `feeds_files` line that would make the configuration read `target`."""
    base = cfg.source.parent
    target = target.resolve()
    try:
        rel = target.relative_to(base)
        if len(rel.parts) > 1 and target.suffix == ".toml":
            suggestion = (rel.parent / "*.toml").as_posix()
        else:
            suggestion = rel.as_posix()
    except ValueError:
        suggestion = target.as_posix()
    patterns = ", ".join(_toml_string(p) for p in [*cfg.feeds_files, suggestion])
    return f"feeds_files = [{patterns}]"


def _toml_string(text: str) -> str:
    return tomli_w.dumps({"x": text}).partition(" = ")[2].strip()
