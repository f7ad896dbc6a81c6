"""Keyset pages: the opaque cursors the API hands out and reads back, and `Page`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class BadCursor(ValueError):
    """A pagination cursor that this list did not hand out."""


# Cursors are the last item's sort key and id, as text: `<key>~<id>`. Every string matching
# a list's pattern (published in the OpenAPI document) is a position in that list.
_NUM = r"-?[0-9]{1,15}(?:\.[0-9]{1,9})?"
CURSOR_PATTERNS = {
    "feeds": rf"^(?:{_NUM}|u.{{0,900}})~[0-9]{{1,18}}$",
    "stories": r"^[0-9]{1,18}$",
    "timeline": rf"^{_NUM}~[0-9]{{1,18}}$",
    "alerts": rf"^{_NUM}~.{{1,200}}$",
    "developments": rf"^{_NUM}~.{{1,300}}$",
}


def cursor_number(value: float | int) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def encode_cursor(key: float | int | str | None, item_id: int | str | None = None) -> str:
    """`<key>~<id>` (a text key is marked with `u`), or the bare key when there is no id."""
    text = f"u{key}" if isinstance(key, str) else cursor_number(key or 0)
    return text if item_id is None else f"{text}~{item_id}"


def decode_cursor(cursor: str, kind: str) -> tuple[Any, Any]:
    """(key, id) of a cursor of the list `kind`; the key is a float, or a str for a `u` key."""
    if re.fullmatch(CURSOR_PATTERNS[kind], cursor) is None:
        raise BadCursor("cursor: not a cursor of this list")
    if kind == "stories":
        return None, int(cursor)
    if kind in ("alerts", "developments"):
        key, _, item = cursor.partition("~")
        return float(key), item
    key, _, item = cursor.rpartition("~")
    return (key[1:] if key.startswith("u") else float(key)), int(item)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}
