"""The text of an HTML page from its bytes, in the encoding a browser would read it in.

The order is the WHATWG encoding-sniffing algorithm's, simplified:

The design in full: docs/modules.md, `monitor/reader/htmlencoding.py`.
"""

from __future__ import annotations

import codecs
import functools
import re

from monitor.reader.fastparse import http_charset

PRESCAN_BYTES = 16 * 1024  # of the page searched for its declaration
DETECT_BYTES = 64 * 1024  # of the page given to detection

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))  # fmt: skip
_COMMENT = re.compile(rb"<!--.*?(?:-->|$)", re.S)
_META = re.compile(rb"<meta\s[^>]*>", re.I)
_META_CHARSET = re.compile(rb"""\bcharset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_XML_DECLARATION = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)""")
# labels Python does not know, as the Encoding Standard names them
_ALIASES = {
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "x-gbk": "gb18030",
    "unicode-1-1-utf-8": "utf-8",
    "unicode11utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "x-mac-roman": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
    "windows-874": "cp874",
    "x-euc-jp": "euc_jp",
}
# Python codecs (canonical names) and the superset browsers decode those labels with
_WHATWG = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "shift_jis": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
}


def _c1(exc: UnicodeError) -> tuple[str, int]:
    """Bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are the C1
    controls of the same number, as browsers read them."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("latin-1"), exc.end


codecs.register_error("monitor-c1", _c1)


def codec(label: str | None) -> str | None:
    """The Python codec a browser reads this charset label with; None if unknown or not a
    text encoding."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name == "utf-7":
        return None  # base64, zlib, rot13 (bytes.decode refuses them), UTF-7 (browsers do)
    return _WHATWG.get(info.name, info.name)


@functools.lru_cache(maxsize=64)
def _single_byte(name: str) -> bool:
    if name.startswith(("utf", "cp932", "cp949", "gb", "big5", "euc", "iso2022", "shift")):
        return False
    try:
        return len(bytes(range(256)).decode(name, "replace")) == 256
    except (LookupError, UnicodeError):
        return False


def declared(head: bytes) -> list[str]:
    """The charset labels a page declares in its first bytes (meta, then XML declaration),
    as codecs; UTF-16 in a meta means UTF-8."""
    head = _COMMENT.sub(b"", head[:PRESCAN_BYTES])
    out = []
    for tag in _META.findall(head):
        m = _META_CHARSET.search(tag)
        if m:
            name = codec(m.group(1).decode("ascii"))
            if name is not None:
                out.append("utf-8" if name.startswith(("utf-16", "utf-32")) else name)
    m = _XML_DECLARATION.match(head)
    if m:
        name = codec(m.group(1).decode("ascii"))
        if name is not None and not name.startswith(("utf-16", "utf-32")):
            out.append(name)
    return out


def _decode(body: bytes, name: str, errors: str = "strict") -> str:
    if name == "cp1252" and errors == "strict":
        errors = "monitor-c1"  # every byte has a meaning in a browser's Windows-1252
    return body.decode(name, errors)


def _detect(body: bytes) -> str | None:
    from charset_normalizer import from_bytes  # imported on first use, as in fastparse

    best = from_bytes(body[:DETECT_BYTES]).best()
    return None if best is None else codec(str(best.encoding))


def decode_page(body: bytes, content_type: str | None) -> tuple[str, str]:
    """The page as text, and the codec it was read with (see module doc)."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            try:
                return body[len(bom) :].decode(name), name
            except UnicodeDecodeError:
                break  # a lying mark: sniff like any other page
    labels: list[str] = []
    for label in [codec(http_charset(content_type)), *declared(body)]:
        if label is not None and label not in labels:
            labels.append(label)
    try:
        as_utf8: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        as_utf8 = None
    for name in labels:
        if as_utf8 is not None and not body.isascii() and _single_byte(name):
            return as_utf8, "utf-8"  # valid non-ASCII UTF-8 under a single-byte label
        try:
            return _decode(body, name), name
        except (UnicodeDecodeError, LookupError):
            continue  # the bytes do not fit this label: the next one
    if as_utf8 is not None:
        return as_utf8, "utf-8"
    guess = _detect(body)
    if guess is not None:
        try:
            return _decode(body, guess), guess
        except (UnicodeDecodeError, LookupError):
            pass
    if labels:
        return _decode(body, labels[0], "replace"), labels[0]
    return body.decode("utf-8", "monitor-cp1252"), "utf-8"
