"""Message-IDs as a user gives them and as URLs carry them (public-inbox ``MID.pm``, b4's msgid argument).

One place decides what a pasted reference means: ``<id@host>``, ``id@host``, a thread number
printed by ``miner threads``, or a lore / lkml.kernel.org / patch.msgid.link URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

# public-inbox MID_ESC leaves these unescaped in URLs; everything else (``/``, ``%``, ``#``...) is %-escaped
MID_SAFE = "-._~!$&'()*+,;=:@"
LORE_REDIRECT = "https://lore.kernel.org/r/{}"
# path segments of a public-inbox URL after the Message-ID, never a Message-ID themselves
_URL_TAILS = {"t", "T", "raw", "t.mbox.gz", "t.atom", "#u", ""}


def clean_message_id(text: str) -> str:
    """A Message-ID without surrounding space and angle brackets (``<a@b>`` -> ``a@b``)."""
    return text.strip().strip("<>").strip()


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
