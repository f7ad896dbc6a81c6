"""Which encoding an article page is read in (monitor.reader.htmlencoding): the order of the
evidence, the labels as browsers mean them, and pages whose labels lie or are missing."""

from __future__ import annotations

import codecs

import pytest

from monitor.reader.htmlencoding import codec, declared, decode_page

NAMES = "The chancellor met Thomas Müller at the café in Zürich on Tuesday, officials said."
JAPANESE = "東京都は二十六日、首都直下地震に備えた新しい防災計画を発表した。" * 3


def page(text: str, head: str = "") -> str:
    return f"<!doctype html><html><head>{head}</head><body><p>{text}</p></body></html>"


def test_the_http_charset_comes_before_detection() -> None:
    # a mostly-English page with two accented names: detection alone reads "M³ller"
    body = page(NAMES * 3).encode("latin-1")
    text, name = decode_page(body, "text/html; charset=ISO-8859-1")
    assert NAMES in text and name == "cp1252"
    text, name = decode_page(page("Başbakan İstanbul'da").encode("iso-8859-9"),
                             'text/html;charset="iso-8859-9"')  # fmt: skip
    assert "Başbakan İstanbul'da" in text and name == "cp1254"


def test_the_page_declares_its_own_encoding() -> None:
    for head in ('<meta charset="ISO-8859-1">', "<meta charset=latin1>",
                 '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">',
                 '<META HTTP-EQUIV="content-type" CONTENT="text/html;charset=windows-1252">'):  # fmt: skip
        text, name = decode_page(page(NAMES, head).encode("latin-1"), "text/html")
        assert NAMES in text and name == "cp1252", head
    xhtml = '<?xml version="1.0" encoding="iso-8859-15"?>' + page("Prix : 20 €")
    assert "20 €" in decode_page(xhtml.encode("iso-8859-15"), "application/xhtml+xml")[0]


def test_the_header_wins_over_the_meta_and_a_byte_order_mark_over_both() -> None:
    body = page(NAMES, '<meta charset="koi8-r">').encode("latin-1")
    assert NAMES in decode_page(body, "text/html; charset=latin1")[0]
    body = codecs.BOM_UTF8 + page(NAMES, '<meta charset="koi8-r">').encode("utf-8")
    assert decode_page(body, "text/html; charset=latin1") == (
        page(NAMES, '<meta charset="koi8-r">'),
        "utf-8",
    )
    body = codecs.BOM_UTF16_LE + page(NAMES).encode("utf-16-le")
    assert decode_page(body, None) == (page(NAMES), "utf-16-le")


def test_shift_jis_means_what_browsers_mean() -> None:
    text = JAPANESE + "①②③"  # NEC row 13: Windows-31J, beyond strict Shift_JIS
    for label in ("Shift_JIS", "shift-jis", "sjis", "x-sjis", "windows-31j", "ms_kanji"):
        got, name = decode_page(page(text).encode("cp932"), f"text/html; charset={label}")
        assert text in got and name == "cp932", label
    assert text in decode_page(page(text, "<meta charset=shift_jis>").encode("cp932"), None)[0]


def test_labels_the_bytes_do_not_fit_are_passed_over() -> None:
    # valid non-ASCII UTF-8 under a single-byte label is UTF-8 (a CMS default header)
    body = page(NAMES).encode("utf-8")
    assert decode_page(body, "text/html; charset=iso-8859-1") == (page(NAMES), "utf-8")
    # a header the bytes do not fit (they are not UTF-8), then a meta they do fit
    body = page(NAMES, '<meta charset="windows-1252">').encode("cp1252")
    assert NAMES in decode_page(body, "text/html; charset=utf-8")[0]
    # an unknown label and a non-text codec are no labels: the next one is read
    head = '<meta charset="base64"><meta charset="windows-1252">'
    body = page(NAMES, head).encode("latin-1")
    assert NAMES in decode_page(body, "text/html; charset=x-unknown")[0]


def test_without_any_label_the_bytes_are_recognised() -> None:
    text, name = decode_page(page(JAPANESE * 2).encode("euc-jp"), "text/html")
    assert JAPANESE in text and name.startswith("euc_j"), name
    assert decode_page(page(NAMES).encode("utf-8"), None)[0] == page(NAMES)


def test_every_byte_reads_as_something() -> None:
    # Windows-1252 leaves five bytes undefined: browsers read them as C1 controls
    assert decode_page(b"<p>\x81\x8d ok \x93q\x94</p>", "text/html; charset=latin1") == (
        "<p>\x81\x8d ok \u201cq\u201d</p>", "cp1252",
    )  # fmt: skip
    # a Shift_JIS page with one broken byte keeps the rest of its text
    broken = page(JAPANESE).encode("cp932").replace("防".encode("cp932"), b"\x81\xff", 1)
    text, _ = decode_page(broken, "text/html; charset=shift_jis")
    assert "首都直下地震" in text


def test_declarations_in_comments_and_utf16_metas() -> None:
    head = b'<!-- <meta charset="koi8-r"> --><meta charset="utf-16">'
    assert declared(head + b"<p>x</p>") == ["utf-8"], "the bytes were read as ASCII to find it"
    assert declared(b"<p>no declaration</p>") == []


@pytest.mark.parametrize(
    ("label", "name"),
    [("ISO-8859-1", "cp1252"), ("us-ascii", "cp1252"), ("GB2312", "gb18030"),
     ("gbk", "gb18030"), ("EUC-KR", "cp949"), ("big5", "big5hkscs"), ('"utf-8"', "utf-8"),
     ("UTF8", "utf-8"), ("koi8-r", "koi8-r"), ("rot13", None), ("zlib", None),
     ("utf-7", None), ("nonsense", None), ("", None)],
)  # fmt: skip
def test_charset_labels(label: str, name: str | None) -> None:
    assert codec(label) == name
