"""Canonical URLs: one string for the same story under different URLs.

:func:`canonical_url` maps a link to a form in which copies of one story meet (``None`` for
anything that is not an absolute http(s) URL with a valid host). It is an identity key, not a
link to follow: the result is not meant to be fetched (an AMP-only or a www-only site may not
answer at it). Pure functions, no I/O.

The design in full: docs/modules.md, `monitor/stories/canonical.py`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

import idna


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Tracking parameters: who clicked, from which campaign or share button. None of them selects
# the content of the page. Compared with the parameter name casefolded.
TRACKING_PARAMS = _wordset(
    # ad click ids: Facebook, Google (Ads, Display, iOS/web app), Microsoft, Yandex, TikTok,
    # Twitter/X, LinkedIn
    """fbclid gclid gclsrc dclid gbraid wbraid msclkid yclid ttclid twclid li_fat_id
    """
    # Google Analytics cross-domain linker, Mailchimp, Instagram share, Adobe Analytics
    """_ga _gl mc_cid mc_eid igshid igsh s_cid s_kwcid
    """
    # referral markers: Twitter/X embeds, Substack and most "?ref=" sharers
    """ref ref_src ref_url __twitter_impression
    """
    # publishers' campaign ids: Guardian (CMP), NYT (smid, smtyp), CNN/Telegraph (cmpid),
    # Microsoft Start/MSN (ocid), Yahoo/HuffPost (ncid), Washington Post (sr_share), Taboola
    # (taid), internal-campaign ids (icid), Economist (itm_*, below)
    """cmp cmpid smid smtyp ocid ncid sr_share taid icid
    """
    # AT Internet / Piano Analytics, Webtrends (WT.mc_id and friends, also written wt_mc)
    """xtor at_medium at_campaign at_platform at_format at_creation at_variant at_send_date
    at_link at_custom1 at_custom2 at_custom3 at_custom4 wt_mc wt.mc_id wt.mc_ev wt.tsrc
    """
    # HubSpot e-mail, Omeda, Vero, Marketo
    """_hsenc _hsmi __hssc __hstc __hsfp oly_anon_id oly_enc_id vero_conv vero_id mkt_tok
    """
    # Google's AMP cache (usqp; amp_* below)
    """usqp
    """
)
# Families of tracking parameters: Urchin/Google (utm_source, utm_medium, ...), Matomo/Piwik
# (pk_campaign, mtm_source, ...), HubSpot ads (hsa_cam, ...), Economist/others (itm_source, ...),
# what Google's AMP cache and viewer append (amp_js_v, amp_gsa, ...).
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "itm_", "amp_")
_AMP_SWITCHES = {"amp": {"", "1", "true"}, "outputtype": {"amp"}}

_MOBILE_LABELS = frozenset({"www", "m", "mobile", "amp"})
# Second-level labels under which a two-label name is a public suffix, not a site (co.uk).
_PUBLIC_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "go", "gov", "ne", "net", "or", "org"})

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PATH_SAFE = _UNRESERVED | frozenset("!$&'()*+,;=:@/")  # sub-delims, ":", "@" and "/"
_QUERY_SAFE = _PATH_SAFE | frozenset("?")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
# /c/ (cache) or /v/ (viewer), then s/ for an https page, then its host and path
_AMP_CACHE_PATH = re.compile(r"/[cv]/(s/)?([^/]+(?:/.*)?)")
_AMP_VIEWER_PATH = re.compile(r"/amp/(s/)?([^/]+(?:/.*)?)")


def canonical_url(url: str) -> str | None:
    """The canonical form of ``url`` (see the module doc), or None unless it is http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # ValueError when not a number or out of range
        host = _canonical_host(parts.hostname or "")
        if parts.scheme not in ("http", "https") or host is None:
            return None
        inner = _unwrap_amp_cache(host, parts.path)
        if inner is not None:
            return canonical_url(inner + (f"?{parts.query}" if parts.query else ""))
        path = _canonical_path(parts.path)
        query = _canonical_query(parts.query)
    except (ValueError, UnicodeError):
        return None
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return "https://" + netloc + path + (f"?{query}" if query else "") + _fragment(parts.fragment)


def _canonical_host(hostname: str) -> str | None:
    """Lower-case ASCII host without www/mobile/AMP label, or None if it is not a valid name."""
    host = hostname.rstrip(".")
    if ":" in host:  # IPv6 (urlsplit has checked the brackets)
        return f"[{host}]"
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:  # symbols IDNA 2008 forbids but browsers accept (☃.net)
            host = host.encode("idna").decode("ascii")  # IDNA 2003; UnicodeError if invalid
    host = host.lower()
    if not _HOST.fullmatch(host):
        return None
    labels = host.split(".")
    while len(labels) > 2 and labels[0] in _MOBILE_LABELS and _registrable(labels[1:]):
        labels = labels[1:]
    return ".".join(labels)


def _registrable(labels: list[str]) -> bool:
    """Whether a name may be a site's own domain (not a bare public suffix such as co.uk)."""
    if len(labels) < 2:
        return False
    if len(labels) == 2:
        return not (labels[0] in _PUBLIC_SECOND_LEVEL and len(labels[1]) == 2)
    return True


def _unwrap_amp_cache(host: str, path: str) -> str | None:
    """The URL wrapped by Google's AMP cache or AMP viewer, or None for any other URL."""
    if host.endswith(".cdn.ampproject.org"):
        m = _AMP_CACHE_PATH.fullmatch(path)
    elif host == "google.com":
        m = _AMP_VIEWER_PATH.fullmatch(path)
    else:
        return None
    if m is None:
        return None
    return ("https://" if m.group(1) else "http://") + m.group(2)


def _normalise_escapes(text: str, safe: frozenset[str]) -> str:
    """Decode escapes of unreserved characters, upper-case the others, escape what must be."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        m = _ESCAPE.match(text, i) if c == "%" else None
        if m is not None:
            decoded = chr(int(m.group(1), 16))
            out.append(decoded if decoded in _UNRESERVED else m.group(0).upper())
            i += 3
            continue
        if c in safe:
            out.append(c)
        else:  # a stray "%", a space, a non-ASCII character...
            out.extend(f"%{b:02X}" for b in c.encode("utf-8"))
        i += 1
    return "".join(out)


def _remove_dot_segments(segments: list[str]) -> list[str]:
    out: list[str] = []
    for seg in segments:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    return out


def _strip_amp(segments: list[str]) -> list[str]:
    """One round of the AMP path rules (see the module doc)."""
    out = segments[:-1] if len(segments) > 1 and segments[-1] == "amp" else segments[:]
    if len(out) > 1 and out[0] == "amp":
        out.pop(0)
    if out:
        for suffix, keep in ((".amp.html", ".html"), (".amp", "")):
            stem = out[-1].removesuffix(suffix)
            if stem != out[-1] and stem.strip("."):  # not ".amp", nor "..amp" into ".."
                out[-1] = stem + keep
                break
    return out


def _canonical_path(path: str) -> str:
    # after the escapes, so that "%2E%2E" is ".." (RFC 3986, 6.2.2)
    segments = [s for s in _normalise_escapes(path, _PATH_SAFE).split("/") if s]
    segments = _remove_dot_segments(segments)
    while (stripped := _strip_amp(segments)) != segments:  # "/a/amp.amp", "/a/amp/amp"
        segments = stripped
    return "/" + "/".join(segments)


def _is_tracking(pair: str) -> bool:
    name, _, value = pair.partition("=")
    name = unquote(name).casefold()
    if name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES):
        return True
    return unquote(value).casefold() in _AMP_SWITCHES.get(name, ())


def _canonical_query(query: str) -> str:
    pairs = [_normalise_escapes(p, _QUERY_SAFE) for p in query.split("&") if p]
    kept = [p for p in pairs if not _is_tracking(p)]
    kept.sort(key=lambda p: p.partition("=")[0])
    return "&".join(kept)


def _fragment(fragment: str) -> str:
    """A hash-bang fragment (``#!/story/12``), which addresses a story, else nothing."""
    return "#" + _normalise_escapes(fragment, _QUERY_SAFE) if fragment.startswith("!") else ""
