"""marc.info message pages (``?l=<list>&m=<id>``), preferring the raw message (``&q=raw``).

A page shows the headers in a ``<pre>`` block with addresses obfuscated as ``user () host ! tld``
(undone here) and links to the previous and next message in the thread. "Download message RAW"
(``&q=raw``) is often the body alone, without headers (it starts with an in-body ``From:``): the
scraper uses it only when it has real ``Message-ID:`` and ``Date:`` headers, else the page text.
A page names its parent only as the "prev in thread" page (as the mailingListScraper
expectations shipped with the real pages say, ``replyto``): the scraper gives the message the
Message-ID it finds on that page.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime, formataddr, parseaddr
from urllib.parse import parse_qs, urlsplit

from miner.errors import MinerError
from miner.fetch.archives.base import PageFields, PageResult, WebArchive, page_mail, resolve_links, soup_of

HEADER = re.compile(r"^(List|Subject|From|Date|Message-ID):\s+(.*)$")
THREAD_LINKS = ("prev in thread", "next in thread")


def deobfuscate(value: str) -> str:
    """Undo marc's address masking: ``merlyn () stonehenge ! com`` -> ``merlyn@stonehenge.com``."""
    return value.replace(" () ", "@").replace(" ! ", ".")


def parse_page(html: bytes, url: str) -> PageResult:
    """The message on a marc.info page, the URL of its raw form and its thread neighbours."""
    soup = soup_of(html)
    block = soup.find("pre")
    if block is None or "Message-ID:" not in block.get_text():
        raise MinerError(f"{url}: not a marc.info message page (no header block with a Message-ID)")
    lines = block.get_text().split("\n")
    headers: dict[str, str] = {}
    body_start = 0
    for index, line in enumerate(lines):
        match = HEADER.match(line)
        if match:
            headers[match.group(1)] = match.group(2).strip()
        if "Download message RAW" in line:
            body_start = index + 1
            break
    body_lines = lines[body_start:]
    while body_lines and ("prev in list" in body_lines[-1] or not body_lines[-1].strip()):
        body_lines.pop()
    name, address = parseaddr(deobfuscate(headers.get("From", "")))
    fields = PageFields(
        subject=headers.get("Subject", ""),
        author=formataddr((name, address)) if address else deobfuscate(headers.get("From", "")),
        date=_rfc2822(headers.get("Date", "")),
        body="\n".join(body_lines).strip("\n") + "\n",
        message_id=deobfuscate(headers.get("Message-ID", "")) or None,
    )
    anchors = [(a.get_text().strip().lower(), a["href"]) for a in soup.find_all("a", href=True)]
    links = resolve_links([href for label, href in anchors if label in THREAD_LINKS], url)
    raw_urls = resolve_links([href for label, href in anchors if "download message raw" in label], url)
    previous = resolve_links([href for label, href in anchors if label == "prev in thread"], url)
    return PageResult([page_mail(fields, url)], links, raw_urls, [previous[0] if previous else None])


def message_number(url: str) -> str | None:
    """The ``m=`` number of a marc.info message URL."""
    values = parse_qs(urlsplit(url).query).get("m")
    return values[0] if values else None


def _rfc2822(shown: str) -> str:
    # marc shows "YYYY-MM-DD H:MM:SS" without a zone; taken as UTC
    try:
        when = datetime.strptime(shown, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return shown
    return format_datetime(when).replace("-0000", "+0000")


ARCHIVE = WebArchive("marc", ("marc.info", "marc.theaimsgroup.com"), parse_page, verified=True)  # tests/fixtures/html
