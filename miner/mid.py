"""Message-IDs as a user gives them and as URLs carry them (public-inbox ``MID.pm``, b4's msgid argument).

Extraction from ID headers (what stands between ``<`` and ``>``), cleaning, URL escaping, and
what a pasted reference means: ``<id@host>``, ``id@host``, a thread number
printed by ``miner threads``, or a lore / lkml.kernel.org / patch.msgid.link URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

# public-inbox's rule (MID.pm): an ID is what stands between "<" and the next ">", so "<" may be
# part of it; white space (folding) is no part of an ID, and IDs are cut at 244 characters.
MSGID = re.compile(r"<([^>]+)>")
MAX_MSGID = 244
WHITESPACE = re.compile(r"\s+")
# public-inbox MID_ESC leaves these unescaped in URLs; everything else (``/``, ``%``, ``#``...) is %-escaped
MID_SAFE = "-._~!$&'()*+,;=:@"
LORE_REDIRECT = "https://lore.kernel.org/r/{}"
# path segments of a public-inbox URL after the Message-ID, never a Message-ID themselves
_URL_TAILS = {"t", "T", "raw", "t.mbox.gz", "t.atom", "#u", ""}


def clean_message_id(text: str) -> str:
    """A Message-ID without surrounding space and angle brackets (``<a@b>`` -> ``a@b``)."""
    return text.strip().strip("<>").strip()


def _clean_msgid(text: str) -> str | None:
    if len(text) > MAX_MSGID or not text.isprintable() or " " in text:  # white space is rare: test first
        text = WHITESPACE.sub("", text)[:MAX_MSGID]
    return text or None


def first_msgid(value: str | None) -> str | None:
    """The first ``<id>`` in a header value, without angle brackets."""
    if not value:
        return None
    match = MSGID.search(str(value))
    if match:
        return _clean_msgid(match.group(1))
    bare = str(value).strip().split()
    if len(bare) == 1 and "@" in bare[0]:
        return _clean_msgid(clean_message_id(bare[0]))
    return None


def all_msgids(values: list[str], bare: bool = False) -> list[str]:
    """Every ``<id>`` in ID headers, in order, without duplicates.

    ``bare``: a value without any ``<id>`` counts as one ID if it has an ``@`` (public-inbox takes
    a Message-ID header that way, but never an In-Reply-To or References without brackets).
    """
    seen: dict[str, None] = {}
    for value in values:
        value = str(value)
        inner_ids = MSGID.findall(value)  # no match objects: a References header holds dozens
        for inner in inner_ids:
            cleaned = _clean_msgid(inner)
            if cleaned:
                seen.setdefault(cleaned, None)
        if bare and not inner_ids:
            words = value.strip().split()
            if len(words) == 1 and "@" in words[0]:
                cleaned = _clean_msgid(clean_message_id(words[0]))
                if cleaned:
                    seen.setdefault(cleaned, None)
    return list(seen)


def escape_message_id(message_id: str) -> str:
    """A Message-ID %-escaped for a URL path segment, as public-inbox escapes it."""
    return quote(message_id, safe=MID_SAFE)


def lore_url(message_id: str) -> str:
    """The lore.kernel.org redirect (``/r/<id>``) of a Message-ID."""
    return LORE_REDIRECT.format(escape_message_id(message_id))


@dataclass(frozen=True)
class MessageRef:
    """What a pasted reference names: a Message-ID, or a thread number (``thread_id``)."""

    message_id: str | None = None
    thread_id: int | None = None


def parse_reference(text: str) -> MessageRef:
    """A Message-ID (with or without ``<>``), a thread number, or an archive URL holding a Message-ID.

    URLs: ``https://lore.kernel.org/r/<id>``, ``https://lore.kernel.org/<list>/<id>/T/#u``,
    ``https://lkml.kernel.org/r/<id>``, ``https://patch.msgid.link/<id>``: as b4 does, the
    Message-ID is the first path segment holding an ``@`` once unescaped.
    """
    value = text.strip()
    if value.isdigit():
        return MessageRef(thread_id=int(value))
    if value.lower().startswith(("http://", "https://")):
        parts = urlsplit(value)
        segments = [unquote(segment) for segment in parts.path.split("/")]
        for segment in segments:
            if "@" in segment:
                return MessageRef(message_id=clean_message_id(segment))
        candidates = [segment for segment in segments if segment not in _URL_TAILS]
        if len(candidates) >= 2 and candidates[0] == "r":  # /r/<id> of an id without '@'
            return MessageRef(message_id=clean_message_id(candidates[1]))
        return MessageRef(message_id=clean_message_id(candidates[-1] if candidates else value))
    return MessageRef(message_id=clean_message_id(value))
