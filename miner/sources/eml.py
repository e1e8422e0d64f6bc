"""Single-message files (.eml), including vger's multipart/digest files, which hold many."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path

from miner.model import Provenance, RawMail
from miner.sources.maildir import read_bounded

HEADER_LINE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:[ \t]")
DIGEST = re.compile(rb"^content-type:\s*multipart/digest", re.IGNORECASE | re.MULTILINE)


def looks_like_message(head: bytes) -> bool:
    """True if ``head`` starts with RFC 5322 header lines."""
    lines = head.split(b"\n", 3)
    return bool(lines) and all(HEADER_LINE.match(line) or line[:1] in (b" ", b"\t") for line in lines[:2])


def read_eml(path: Path) -> Iterator[RawMail]:
    """Yield the message in ``path``; a multipart/digest yields each enclosed message."""
    mail = read_bounded(path, Provenance("eml", str(path)))
    if mail.problem:
        yield mail
        return
    raw = mail.raw
    header_end = raw.find(b"\n\n")
    if DIGEST.search(raw[: header_end if header_end > 0 else len(raw)]):
        parts = list(digest_parts(raw))
        if parts:
            for index, part in enumerate(parts):
                yield RawMail(part, Provenance("eml-digest", str(path), f"part {index + 1}"))
            return
    yield mail


def digest_parts(raw: bytes) -> Iterator[bytes]:
    """The raw bytes of each message/rfc822 part of a digest."""
    message = BytesParser(policy=compat32).parsebytes(raw)
    for part in message.walk():
        if part.get_content_type() == "message/rfc822":
            for inner in part.get_payload():
                yield inner.as_bytes()
