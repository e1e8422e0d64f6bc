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
from zoneinfo import ZoneInfo

from miner.errors import MinerError
from miner.model import Provenance, RawMail

IU_FROM = re.compile(r"^From: (.+)$")
IU_DATE = re.compile(r"^Date: \w{3} (\w{3}) (\d{1,2}) (\d{4}) - (\d\d:\d\d:\d\d) (\w+)$")
MAIL_ARCHIVE_DATE = re.compile(r"^(\d{4}-\d\d-\d\d) Thread (.+)$")
TZ_OFFSETS = {"EST": "-0500", "EDT": "-0400", "PST": "-0800", "PDT": "-0700", "UTC": "+0000", "GMT": "+0000"}
ID_DOMAIN = "archive-page.lkml-miner.invalid"
EASTERN_LOCAL_FROM = 2006  # lkml.iu.edu's "EST" is New York local time from this year on (see iu_page_date)


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
        date = iu_page_date(datetime.strptime(f"{day} {month} {year} {clock}", "%d %b %Y %H:%M:%S"), zone)
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


def iu_page_date(shown: datetime, zone: str) -> str:
    """RFC 2822 date of an lkml.iu.edu page's "Date: ... EST" line.

    The site prints "EST" all year, but from 2006 on the clock it shows is US Eastern local time,
    daylight saving included: its pages' own MHonArc ``X-Date`` comments say ``-0400 (EDT)`` in
    summer for the time shown as "EST" (2007, 2011, 2015, 2016 pages), while up to 2005 the time
    shown is true EST, -0500, all year (a 2003 page shows 00:44 "EST" for 01:44 -0400).
    """
    if zone in ("EST", "EDT") and shown.year >= EASTERN_LOCAL_FROM:
        local = shown.replace(tzinfo=ZoneInfo("America/New_York"))
        return format_datetime(local)
    return shown.strftime("%a, %d %b %Y %H:%M:%S ") + TZ_OFFSETS.get(zone, "+0000")


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
    lines = text.split("\n")
    day_only = not (len(lines) >= 4 and IU_FROM.match(lines[2]) and IU_DATE.match(lines[3]))  # thread page
    parents = attribution_parents(messages) if day_only else [None] * len(messages)
    order = sorted(range(len(messages)), key=lambda i: (_sort_key(messages[i].date), -i))
    root = order[0]
    for index, message in enumerate(messages):
        parent = parents[index] if parents[index] is not None else (root if index != root else None)
        raw = to_rfc822(message, ids[index], ids[parent] if parent is not None else None, path.name)
        yield RawMail(raw, Provenance("archive-page", str(path), str(index + 1)),
                      notes=("date: the page shows the day only; stored as 00:00 UTC",) if day_only else (),
                      date_precision="day" if day_only else None)


ATTRIBUTION = re.compile(r"^\s*(?:On\s.*\swrote|.*\swrites):\s*$")  # "On <date>, <name> wrote:", "<name> writes:"
ATTRIBUTION_LOOKAHEAD = 6  # non-blank lines at the top of a body where an attribution line stands
ATTRIBUTION_DATES = (
    (re.compile(r"\b([A-Z][a-z]{2}) (\d{1,2}),? (\d{4})\b"), "{1} {0} {2}", "%d %b %Y"),  # Apr 4, 2021 / Mar 17 2021
    (re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{2})\b"), "{0}/{1}/{2}", "%m/%d/%y"),  # 03/27/21
)


def attribution_parents(messages: list[PageMessage]) -> list[int | None]:
    """For each message of a thread page, the index of the message its attribution line answers.

    A thread page lists its messages flat, but each reply says whom it answers ("On Sat, Mar 27,
    2021 at 9:01 PM Thomas Gleixner wrote:", "Alexey Klimov writes:"): the parent is that
    author's earlier message on the page nearest to the date the line gives (the latest earlier
    one if it gives none). None where no such line or author is found.
    """
    order = sorted(range(len(messages)), key=lambda i: (_sort_key(messages[i].date), -i))
    rank = {index: position for position, index in enumerate(order)}
    authors = sorted({m.author for m in messages if m.author}, key=len, reverse=True)
    parents: list[int | None] = []
    for index, message in enumerate(messages):
        line = _attribution_line(message.body)
        author = next((name for name in authors if line and name in line), None)
        earlier = [i for i in range(len(messages)) if messages[i].author == author and rank[i] < rank[index]]
        if not earlier:
            parents.append(None)
            continue
        said = _attribution_date(line)
        if said is None:
            parents.append(max(earlier, key=lambda i: rank[i]))
        else:
            parents.append(min(earlier, key=lambda i: (abs((_sort_key(messages[i].date).replace(tzinfo=None)
                                                             - said).days), -rank[i])))
    return parents


def _attribution_line(body: str) -> str | None:
    seen = 0
    for line in body.split("\n"):
        if not line.strip():
            continue
        if line.lstrip().startswith(">"):
            return None
        if ATTRIBUTION.match(line):
            return line
        seen += 1
        if seen >= ATTRIBUTION_LOOKAHEAD:
            return None
    return None


def _attribution_date(line: str) -> datetime | None:
    for pattern, layout, form in ATTRIBUTION_DATES:
        match = pattern.search(line)
        if match:
            try:
                return datetime.strptime(layout.format(*match.groups()), form)
            except ValueError:
                continue
    return None


def _sort_key(date: str) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(date)
