"""Text of saved web-archive pages, as in the project's seed documents.

Two layouts: an lkml.iu.edu message page (subject line, blank, ``From: Name``, ``Date: Fri Jul 28
2017 - 04:49:21 EST``, body) and a mail-archive.com thread page (several messages, each a subject
line, a blank line and a ``YYYY-MM-DD Thread Author`` line, then the body). Pages carry no
Message-IDs, so stable ones are derived from the content; the messages of one thread page are
threaded under its earliest message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

from miner.errors import MinerError
from miner.model import Provenance, RawMail

IU_FROM = re.compile(r"^From: (.+)$")
IU_DATE = re.compile(r"^Date: \w{3} (\w{3}) (\d{1,2}) (\d{4}) - (\d\d:\d\d:\d\d) (\w+)$")
MAIL_ARCHIVE_DATE = re.compile(r"^(\d{4}-\d\d-\d\d) Thread (.+)$")
TZ_OFFSETS = {"EST": "-0500", "EDT": "-0400", "PST": "-0800", "PDT": "-0700", "UTC": "+0000", "GMT": "+0000"}
ID_DOMAIN = "archive-page.lkml-miner.invalid"


@dataclass
class PageMessage:
    """One message recovered from page text."""

    subject: str
    author: str
    date: str  # RFC 2822
    body: str


def looks_like_archive_page(head: bytes) -> bool:
    """True if ``head`` is the text of an lkml.iu.edu or mail-archive.com page."""
    text = head.decode("utf-8", errors="replace").split("\n")
    if len(text) >= 4 and not text[0].startswith(("From ", "Received:", "Return-Path:")):
        if text[1] == "" and IU_FROM.match(text[2]) and IU_DATE.match(text[3]):
            return True
        if text[1] == "" and MAIL_ARCHIVE_DATE.match(text[2]):
            return True
    return False


def parse_page_text(text: str) -> list[PageMessage]:
    """The messages on a page, in page order."""
    lines = text.split("\n")
    if len(lines) >= 4 and IU_FROM.match(lines[2]) and IU_DATE.match(lines[3]):
        month, day, year, clock, zone = IU_DATE.match(lines[3]).groups()
        when = datetime.strptime(f"{day} {month} {year} {clock}", "%d %b %Y %H:%M:%S")
        date = when.strftime("%a, %d %b %Y %H:%M:%S ") + TZ_OFFSETS.get(zone, "+0000")
        body = "\n".join(lines[4:]).strip("\n") + "\n"
        return [PageMessage(lines[0].strip(), IU_FROM.match(lines[2]).group(1).strip(), date, body)]
    starts = [i for i, line in enumerate(lines) if MAIL_ARCHIVE_DATE.match(line) and i >= 2 and lines[i - 1] == ""]
    if not starts:
        raise MinerError("not an archive page: no 'From:/Date:' header block or 'YYYY-MM-DD Thread Author' line")
    messages = []
    for index, start in enumerate(starts):
        end = starts[index + 1] - 2 if index + 1 < len(starts) else len(lines)
        day, author = MAIL_ARCHIVE_DATE.match(lines[start]).groups()
        date = format_datetime(datetime.strptime(day, "%Y-%m-%d")).replace("-0000", "+0000")
        body = "\n".join(lines[start + 1:end]).strip("\n") + "\n"
        messages.append(PageMessage(lines[start - 2].strip(), author.strip(), date, body))
    return messages


def derived_message_id(message: PageMessage) -> str:
    """A stable Message-ID for a page message (pages do not show the real one)."""
    digest = hashlib.sha256("\n".join([message.subject, message.author, message.date, message.body]).encode())
    return f"{digest.hexdigest()[:24]}@{ID_DOMAIN}"


def to_rfc822(message: PageMessage, message_id: str, parent_id: str | None, page: str) -> bytes:
    """Build RFC 5322 bytes for a page message, so it is stored and exported like any mail."""
    headers = [
        f"From: {message.author}",
        f"Date: {message.date}",
        f"Subject: {message.subject}",
        f"Message-ID: <{message_id}>",
    ]
    if parent_id:
        headers += [f"In-Reply-To: <{parent_id}>", f"References: <{parent_id}>"]
    headers += [
        f"X-Lkml-Miner-Archive-Page: {page}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\n".join(headers) + "\n\n" + message.body).encode("utf-8")


def read_archive_page(path: Path) -> Iterator[RawMail]:
    """Yield the messages of a saved archive page as RFC 5322 bytes."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    try:
        messages = parse_page_text(text)
    except MinerError as error:
        raise MinerError(f"{path}: {error}") from error
    ids = [derived_message_id(m) for m in messages]
    order = sorted(range(len(messages)), key=lambda i: (_sort_key(messages[i].date), i))
    root = ids[order[0]]
    for index, message in enumerate(messages):
        parent = root if ids[index] != root else None
        raw = to_rfc822(message, ids[index], parent, path.name)
        yield RawMail(raw, Provenance("archive-page", str(path), str(index + 1)))


def _sort_key(date: str) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(date)
